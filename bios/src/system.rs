//! int 15h: memory maps (E820h, E801h, 88h), the A20 gate, the configuration table, block
//! moves, and polite refusals for what a PC of this kind does not have (APM, IST).

use emu_cpu::{Cpu, Reg, SegReg};

use crate::{acpi, phys, ret_status, set_frame_flag, Bios, Platform, Regs, CF};

/// Address-range types of the E820 map.
pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI: u32 = 3;

/// Start of the extended BIOS data area (1 KiB below 640 KiB).
pub const EBDA: u32 = 0x9_FC00;

impl Bios {
    /// The E820 memory map: base, length, type.
    pub fn e820(&self) -> Vec<(u64, u64, u32)> {
        let ram = self.ram as u64;
        let acpi = acpi::TABLES_SIZE as u64;
        vec![
            (0, EBDA as u64, E820_RAM),
            (EBDA as u64, 0xA_0000 - EBDA as u64, E820_RESERVED),
            (0xF_0000, 0x1_0000, E820_RESERVED),
            (0x10_0000, ram - 0x10_0000 - acpi, E820_RAM),
            (ram - acpi, acpi, E820_ACPI),
            (0xFFFF_0000, 0x1_0000, E820_RESERVED),
        ]
    }
}

pub(crate) fn int15<B: Platform>(bios: &mut Bios, cpu: &mut Cpu<B>) {
    let ah = cpu.ah();
    let ax = cpu.ax();
    let eax = cpu.r[Reg::Eax as usize];
    let ext_kb = (bios.ram / 1024).saturating_sub(1024);
    match ah {
        0x24 => match ax {
            0x2400 | 0x2401 => {
                cpu.mem.set_a20(ax == 0x2401);
                ret_status(cpu, 0);
            }
            0x2402 => {
                let on = cpu.mem.a20_enabled() as u8;
                cpu.set_al(on);
                ret_status(cpu, 0);
            }
            0x2403 => {
                cpu.set16(Reg::Ebx, 0x0003);
                ret_status(cpu, 0);
            }
            _ => ret_status(cpu, 0x86),
        },
        0x4F => set_frame_flag(cpu, CF, true),
        0x86 => ret_status(cpu, 0),
        0x87 => block_move(cpu),
        0x88 => {
            cpu.set16(Reg::Eax, ext_kb.min(0xFFFF) as u16);
            set_frame_flag(cpu, CF, false);
        }
        0x90 | 0x91 => ret_status(cpu, 0),
        0xC0 => {
            cpu.load_seg_real(SegReg::Es, 0xF000);
            cpu.set16(Reg::Ebx, crate::rom::CONFIG_TABLE);
            ret_status(cpu, 0);
        }
        0xE8 if ax == 0xE801 => {
            let low = ext_kb.min(15 * 1024) as u16;
            let high = (bios.ram.saturating_sub(16 << 20) / 65536) as u16;
            cpu.set16(Reg::Eax, low);
            cpu.set16(Reg::Ecx, low);
            cpu.set16(Reg::Ebx, high);
            cpu.set16(Reg::Edx, high);
            set_frame_flag(cpu, CF, false);
        }
        0xE8 if eax == 0xE820 && cpu.r[Reg::Edx as usize] == 0x534D_4150 => {
            let map = bios.e820();
            let i = cpu.r[Reg::Ebx as usize] as usize;
            let Some(&(base, len, typ)) = map.get(i) else {
                return ret_status(cpu, 0x86);
            };
            let a = phys(cpu.seg_sel(SegReg::Es), cpu.r[Reg::Edi as usize] as u16);
            cpu.mem.write_u32(a, base as u32);
            cpu.mem.write_u32(a + 4, (base >> 32) as u32);
            cpu.mem.write_u32(a + 8, len as u32);
            cpu.mem.write_u32(a + 12, (len >> 32) as u32);
            cpu.mem.write_u32(a + 16, typ);
            let n = cpu.r[Reg::Ecx as usize].clamp(20, 24);
            if n >= 24 {
                cpu.mem.write_u32(a + 20, 1); // extended attributes: enabled
            }
            cpu.r[Reg::Eax as usize] = 0x534D_4150;
            cpu.r[Reg::Ecx as usize] = n;
            cpu.r[Reg::Ebx as usize] = if i + 1 < map.len() { i as u32 + 1 } else { 0 };
            set_frame_flag(cpu, CF, false);
        }
        _ => ret_status(cpu, 0x86),
    }
}

/// AH=87h: copies CX words between 24-bit addresses given by a descriptor table at ES:SI
/// (source descriptor at +10h, destination at +18h).
fn block_move<B: Platform>(cpu: &mut Cpu<B>) {
    let gdt = phys(cpu.seg_sel(SegReg::Es), cpu.r[Reg::Esi as usize] as u16);
    let base = |cpu: &Cpu<B>, d: u32| {
        cpu.mem.read_u16(d + 2) as u32
            | (cpu.mem.read_u8(d + 4) as u32) << 16
            | (cpu.mem.read_u8(d + 7) as u32) << 24
    };
    let src = base(cpu, gdt + 0x10);
    let dst = base(cpu, gdt + 0x18);
    let bytes = cpu.cx() as usize * 2;
    let mut buf = vec![0u8; bytes];
    cpu.mem.read_bytes(src, &mut buf);
    cpu.mem.write_bytes(dst, &buf);
    ret_status(cpu, 0);
}
