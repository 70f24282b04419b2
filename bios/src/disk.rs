//! int 13h: disk services by CHS and by LBA (the EDD 3.0 extensions 41h-48h), for hard disks
//! (DL >= 80h) and floppy images (DL < 80h).

use emu_cpu::{Cpu, Reg, SegReg};

use crate::{phys, ret_status, set_frame_flag, Bios, Platform, Regs, CF};

/// CHS geometry the BIOS reports for a drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub cylinders: u32,
    pub heads: u32,
    pub sectors: u32,
}

/// Floppy geometry by image size, or a translated hard-disk geometry.
pub fn geometry(dl: u8, sectors: u64) -> Geometry {
    if dl < 0x80 {
        let (c, h, s) = match sectors {
            0..=720 => (40, 2, 9),
            721..=1440 => (80, 2, 9),
            1441..=2400 => (80, 2, 15),
            2401..=2880 => (80, 2, 18),
            _ => (80, 2, 36),
        };
        return Geometry {
            cylinders: c,
            heads: h,
            sectors: s,
        };
    }
    let heads = if sectors <= 1024 * 16 * 63 { 16 } else { 255 };
    let cylinders = (sectors / (heads * 63)).clamp(1, 1024) as u32;
    Geometry {
        cylinders,
        heads: heads as u32,
        sectors: 63,
    }
}

const BDA_DISK_STATUS: u32 = 0x474;

fn finish<B: Platform>(cpu: &mut Cpu<B>, status: u8) {
    cpu.mem.write_u8(BDA_DISK_STATUS, status);
    ret_status(cpu, status);
}

/// Moves `count` sectors between the drive and guest memory at `addr`.
fn transfer<B: Platform>(
    cpu: &mut Cpu<B>,
    dl: u8,
    lba: u64,
    count: u32,
    addr: u32,
    write: bool,
) -> u8 {
    let mut buf = vec![0u8; 512];
    for i in 0..count as u64 {
        let a = addr.wrapping_add(i as u32 * 512);
        let ok = if write {
            cpu.mem.read_bytes(a, &mut buf);
            match cpu.bus.drive(dl) {
                Some(d) => d.write(lba + i, &buf),
                None => return 0x01,
            }
        } else {
            let ok = match cpu.bus.drive(dl) {
                Some(d) => d.read(lba + i, &mut buf),
                None => return 0x01,
            };
            if ok {
                cpu.mem.write_bytes(a, &buf);
            }
            ok
        };
        if !ok {
            return if write { 0xCC } else { 0x04 };
        }
    }
    if !write {
        cpu.mem.note_write(addr, count as usize * 512);
    }
    0
}

pub(crate) fn int13<B: Platform>(bios: &mut Bios, cpu: &mut Cpu<B>) {
    let ah = cpu.ah();
    let dl = cpu.dx() as u8;
    let sectors = match cpu.bus.drive(dl) {
        Some(d) => d.sectors(),
        None => {
            // Unknown drive: AH=15h answers "no such drive", everything else fails.
            if ah == 0x15 {
                cpu.set_ah(0);
                set_frame_flag(cpu, CF, false);
            } else {
                finish(cpu, 0x01);
            }
            return;
        }
    };
    let g = geometry(dl, sectors);
    match ah {
        0x00 => finish(cpu, 0),
        0x01 => {
            let st = cpu.mem.read_u8(BDA_DISK_STATUS);
            cpu.set_al(st);
            ret_status(cpu, 0);
        }
        0x02..=0x04 => {
            let count = cpu.al() as u32;
            let (cx, dx) = (cpu.cx(), cpu.dx());
            let cyl = ((cx >> 8) | ((cx & 0xC0) << 2)) as u32;
            let sec = (cx & 0x3F) as u32;
            let head = (dx >> 8) as u32;
            if sec == 0 || sec > g.sectors || head >= g.heads || cyl >= g.cylinders || count == 0 {
                return finish(cpu, 0x04);
            }
            let lba = ((cyl * g.heads + head) * g.sectors + sec - 1) as u64;
            if lba + count as u64 > sectors {
                return finish(cpu, 0x04);
            }
            let addr = phys(cpu.seg_sel(SegReg::Es), cpu.bx());
            let st = if ah == 0x04 {
                0
            } else {
                transfer(cpu, dl, lba, count, addr, ah == 0x03)
            };
            if st == 0 {
                cpu.set_al(count as u8);
            }
            finish(cpu, st);
        }
        0x08 => {
            let maxc = g.cylinders - 1;
            let cx = (((maxc & 0xFF) << 8) | ((maxc >> 2) & 0xC0) | g.sectors) as u16;
            cpu.set16(Reg::Ecx, cx);
            let count = if dl >= 0x80 {
                bios.hard_disks
            } else {
                bios.floppies
            };
            cpu.set16(Reg::Edx, (((g.heads - 1) as u16) << 8) | count as u16);
            if dl < 0x80 {
                cpu.set16(Reg::Ebx, 0x04); // 1.44 MB drive type
            }
            finish(cpu, 0);
        }
        0x10 | 0x11 | 0x0C | 0x0D | 0x14 | 0x16 => finish(cpu, 0),
        0x15 => {
            if dl >= 0x80 {
                cpu.set_ah(3);
                cpu.set16(Reg::Ecx, (sectors >> 16) as u16);
                cpu.set16(Reg::Edx, sectors as u16);
            } else {
                cpu.set_ah(1);
            }
            set_frame_flag(cpu, CF, false);
        }
        0x41 => {
            if cpu.bx() != 0x55AA {
                return finish(cpu, 0x01);
            }
            cpu.set16(Reg::Ebx, 0xAA55);
            cpu.set16(Reg::Ecx, 0x0007); // fixed-disk access, locking/ejecting, EDD
            cpu.set_ah(0x30);
            set_frame_flag(cpu, CF, false);
        }
        0x42 | 0x43 | 0x44 | 0x47 => {
            let dap = phys(cpu.seg_sel(SegReg::Ds), cpu.r[Reg::Esi as usize] as u16);
            let size = cpu.mem.read_u8(dap);
            if size < 0x10 {
                return finish(cpu, 0x01);
            }
            let count = cpu.mem.read_u16(dap + 2) as u32;
            let off = cpu.mem.read_u16(dap + 4);
            let seg = cpu.mem.read_u16(dap + 6);
            let mut addr = phys(seg, off);
            if off == 0xFFFF && seg == 0xFFFF && size >= 0x18 {
                addr = cpu.mem.read_u32(dap + 0x10);
            }
            let lba = cpu.mem.read_u32(dap + 8) as u64 | (cpu.mem.read_u32(dap + 12) as u64) << 32;
            if lba.saturating_add(count as u64) > sectors {
                cpu.mem.write_u16(dap + 2, 0);
                return finish(cpu, 0x04);
            }
            let st = match ah {
                0x42 => transfer(cpu, dl, lba, count, addr, false),
                0x43 => transfer(cpu, dl, lba, count, addr, true),
                _ => 0,
            };
            if st != 0 {
                cpu.mem.write_u16(dap + 2, 0);
            }
            finish(cpu, st);
        }
        0x48 => {
            let buf = phys(cpu.seg_sel(SegReg::Ds), cpu.r[Reg::Esi as usize] as u16);
            let size = cpu.mem.read_u16(buf);
            if size < 0x1A {
                return finish(cpu, 0x01);
            }
            let n = size.min(0x1E);
            cpu.mem.write_u16(buf, n);
            cpu.mem.write_u16(buf + 2, 0x0002); // CHS information valid
            cpu.mem.write_u32(buf + 4, g.cylinders);
            cpu.mem.write_u32(buf + 8, g.heads);
            cpu.mem.write_u32(buf + 12, g.sectors);
            cpu.mem.write_u32(buf + 16, sectors as u32);
            cpu.mem.write_u32(buf + 20, (sectors >> 32) as u32);
            cpu.mem.write_u16(buf + 24, 512);
            if n >= 0x1E {
                cpu.mem.write_u32(buf + 26, 0xFFFF_FFFF); // no DPTE
            }
            finish(cpu, 0);
        }
        _ => finish(cpu, 0x01),
    }
}

impl Bios {
    /// Tells the BIOS how many drives of each kind exist (for AH=08h and the BDA).
    pub fn set_drives(&mut self, floppies: u8, hard_disks: u8) {
        self.floppies = floppies;
        self.hard_disks = hard_disks;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometries() {
        assert_eq!(geometry(0, 2880).sectors, 18);
        let g = geometry(0x80, 32 * 2048);
        assert_eq!((g.heads, g.sectors), (16, 63));
        assert_eq!(g.cylinders, 65);
    }
}
