//! The timer tick (int 08h), time-of-day services (int 1Ah, the tick count and the RTC), and
//! the RTC interrupt (int 70h).

use emu_cpu::{Cpu, Reg};

use crate::{eoi, ret_status, set_frame_flag, Bios, Platform, Regs, CF};

const BDA_TICKS: u32 = 0x46C;
const BDA_MIDNIGHT: u32 = 0x470;
/// Ticks in a day at 1193182 / 65536 Hz.
const TICKS_PER_DAY: u32 = 0x1800B0;

pub(crate) fn int08<B: Platform>(_bios: &mut Bios, cpu: &mut Cpu<B>) {
    let mut t = cpu.mem.read_u32(BDA_TICKS).wrapping_add(1);
    if t >= TICKS_PER_DAY {
        t = 0;
        cpu.mem.write_u8(BDA_MIDNIGHT, 1);
    }
    cpu.mem.write_u32(BDA_TICKS, t);
    eoi(cpu, false);
}

fn cmos<B: Platform>(cpu: &mut Cpu<B>, reg: u8) -> u8 {
    cpu.bus.io_write(0x70, 1, reg as u32);
    cpu.bus.io_read(0x71, 1) as u8
}

fn cmos_write<B: Platform>(cpu: &mut Cpu<B>, reg: u8, v: u8) {
    cpu.bus.io_write(0x70, 1, reg as u32);
    cpu.bus.io_write(0x71, 1, v as u32);
}

pub(crate) fn int1a<B: Platform>(_bios: &mut Bios, cpu: &mut Cpu<B>) {
    match cpu.ah() {
        0x00 => {
            let t = cpu.mem.read_u32(BDA_TICKS);
            cpu.set16(Reg::Ecx, (t >> 16) as u16);
            cpu.set16(Reg::Edx, t as u16);
            let m = cpu.mem.read_u8(BDA_MIDNIGHT);
            cpu.set_al(m);
            cpu.mem.write_u8(BDA_MIDNIGHT, 0);
            set_frame_flag(cpu, CF, false);
        }
        0x01 => {
            let t = (cpu.cx() as u32) << 16 | cpu.dx() as u32;
            cpu.mem.write_u32(BDA_TICKS, t);
            cpu.mem.write_u8(BDA_MIDNIGHT, 0);
            ret_status(cpu, 0);
        }
        0x02 => {
            let (h, m, s) = (cmos(cpu, 4), cmos(cpu, 2), cmos(cpu, 0));
            let dst = cmos(cpu, 0x0B) & 1;
            cpu.set16(Reg::Ecx, (h as u16) << 8 | m as u16);
            cpu.set16(Reg::Edx, (s as u16) << 8 | dst as u16);
            ret_status(cpu, 0);
        }
        0x03 => {
            let (cx, dx) = (cpu.cx(), cpu.dx());
            cmos_write(cpu, 4, (cx >> 8) as u8);
            cmos_write(cpu, 2, cx as u8);
            cmos_write(cpu, 0, (dx >> 8) as u8);
            ret_status(cpu, 0);
        }
        0x04 => {
            let (c, y, mo, d) = (cmos(cpu, 0x32), cmos(cpu, 9), cmos(cpu, 8), cmos(cpu, 7));
            cpu.set16(Reg::Ecx, (c as u16) << 8 | y as u16);
            cpu.set16(Reg::Edx, (mo as u16) << 8 | d as u16);
            ret_status(cpu, 0);
        }
        0x05 => {
            let (cx, dx) = (cpu.cx(), cpu.dx());
            cmos_write(cpu, 0x32, (cx >> 8) as u8);
            cmos_write(cpu, 9, cx as u8);
            cmos_write(cpu, 8, (dx >> 8) as u8);
            cmos_write(cpu, 7, dx as u8);
            ret_status(cpu, 0);
        }
        // PCI BIOS (B1xxh) and everything else: not present.
        _ => ret_status(cpu, 0x86),
    }
}

pub(crate) fn int70<B: Platform>(_bios: &mut Bios, cpu: &mut Cpu<B>) {
    // Reading register C acknowledges the RTC's interrupt.
    let _ = cmos(cpu, 0x0C);
    eoi(cpu, true);
}
