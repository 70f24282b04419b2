//! Power-on self test: the interrupt vector table, BIOS data area, PIC and PIT setup, the
//! text screen, ACPI tables; then the boot (MBR, or a Linux kernel given directly).

use emu_cpu::{Cpu, Reg, SegReg};

use crate::rom::{self, stub_offset};
use crate::system::EBDA;
use crate::{acpi, linux, video, Bios, Platform};

fn set_vector<B: Platform>(cpu: &mut Cpu<B>, v: u8, seg: u16, off: u16) {
    cpu.mem.write_u16(v as u32 * 4, off);
    cpu.mem.write_u16(v as u32 * 4 + 2, seg);
}

pub(crate) fn post<B: Platform>(bios: &mut Bios, cpu: &mut Cpu<B>) {
    cpu.mem.set_a20(true);
    // Interrupt vectors: everything to an IRET, then the served ones to their stubs.
    for v in 0..=255u8 {
        set_vector(cpu, v, 0xF000, rom::IRET);
    }
    for &v in rom::SERVED {
        set_vector(cpu, v, 0xF000, stub_offset(v));
    }
    set_vector(cpu, 0x1F, 0xF000, rom::FONT_8X8_HI);
    for v in [0x1D, 0x1E, 0x41, 0x46] {
        set_vector(cpu, v, 0, 0);
    }
    // BIOS data area.
    for a in 0x400..0x500 {
        cpu.mem.write_u8(a, 0);
    }
    cpu.mem.write_u16(0x400, 0x3F8); // COM1
    let floppy = bios.floppies > 0;
    // Equipment: x87 present, 80x25 colour, one serial port, floppy drives if any.
    let mut equip: u16 = 0x0002 | 0x0020 | 0x0200;
    if floppy {
        equip |= 1 | (((bios.floppies as u16 - 1) & 3) << 6);
    }
    cpu.mem.write_u16(0x410, equip);
    cpu.mem.write_u16(0x413, (EBDA / 1024) as u16);
    cpu.mem.write_u16(0x40E, (EBDA >> 4) as u16);
    cpu.mem.write_u16(0x41A, 0x1E);
    cpu.mem.write_u16(0x41C, 0x1E);
    cpu.mem.write_u16(0x480, 0x1E);
    cpu.mem.write_u16(0x482, 0x3E);
    cpu.mem.write_u8(0x496, 0x10);
    cpu.mem.write_u8(0x475, bios.hard_disks);
    for a in EBDA..0xA_0000 {
        cpu.mem.write_u8(a, 0);
    }
    cpu.mem.write_u8(EBDA, 1);

    // 8259A pair: vectors 08h and 70h, cascade on IRQ 2; timer, keyboard, cascade unmasked.
    let out = |cpu: &mut Cpu<B>, p: u16, v: u8| cpu.bus.io_write(p, 1, v as u32);
    for (p, v) in [
        (0x20, 0x11),
        (0x21, 0x08),
        (0x21, 0x04),
        (0x21, 0x01),
        (0xA0, 0x11),
        (0xA1, 0x70),
        (0xA1, 0x02),
        (0xA1, 0x01),
        (0x21, 0xF8),
        (0xA1, 0xFF),
    ] {
        out(cpu, p, v);
    }
    // PIT channel 0: mode 3, count 65536 (18.2 Hz).
    out(cpu, 0x43, 0x36);
    out(cpu, 0x40, 0);
    out(cpu, 0x40, 0);

    video::set_text_mode(cpu, 3, 25, true);
    let banner = format!(
        "emu BIOS  {} MiB RAM, {} hard disk(s)\r\n",
        bios.ram >> 20,
        bios.hard_disks
    );
    for b in banner.bytes() {
        video::teletype(bios, cpu, b, Some(0x07));
    }
    acpi::install(bios, cpu);
    boot(bios, cpu);
}

/// int 19h: load the boot sector and jump to it (or start the kernel given directly).
pub(crate) fn boot<B: Platform>(bios: &mut Bios, cpu: &mut Cpu<B>) {
    if let Some(k) = bios.linux.take() {
        match linux::boot(bios, cpu, &k) {
            Ok(()) => return,
            Err(e) => {
                bios.boot_error = Some(e);
                return no_boot(bios, cpu);
            }
        }
    }
    // Drive A: first when there is one, as a PC BIOS does by default.
    let order: [u8; 2] = if bios.floppies > 0 {
        [0x00, 0x80]
    } else {
        [0x80, 0x00]
    };
    for dl in order {
        let mut sector = vec![0u8; 512];
        let ok = match cpu.bus.drive(dl) {
            Some(d) => d.read(0, &mut sector),
            None => continue,
        };
        if !ok || sector[510] != 0x55 || sector[511] != 0xAA {
            continue;
        }
        cpu.mem.write_bytes(0x7C00, &sector);
        cpu.mem.note_write(0x7C00, 512);
        for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
            cpu.load_seg_real(s, 0);
        }
        cpu.r = [0; 16];
        cpu.r[Reg::Edx as usize] = dl as u32;
        cpu.r[Reg::Esp as usize] = 0x7C00;
        cpu.set_real_mode(0, 0x7C00);
        cpu.flags.set(0x202);
        return;
    }
    bios.boot_error = Some("no bootable disk (no boot signature in sector 0)".into());
    no_boot(bios, cpu);
}

/// int 18h: nothing to boot. Says so on the screen and halts.
pub(crate) fn no_boot<B: Platform>(bios: &mut Bios, cpu: &mut Cpu<B>) {
    for b in b"No bootable device.\r\n" {
        video::teletype(bios, cpu, *b, Some(0x07));
    }
    cpu.set_real_mode(0xF000, rom::HALT);
    cpu.flags.set(0x002);
}
