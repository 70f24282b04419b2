//! Built-in firmware for `emu`: a small generated ROM ([`rom`]) whose interrupt stubs trap to
//! services written in Rust. Enough of a PC BIOS for boot loaders (syslinux, GRUB-style) and
//! for Linux's real-mode setup code: video teletype, disks with EDD, memory maps, keyboard,
//! time, and an MBR boot. Also direct Linux boot ([`linux`]) and ACPI tables for power-off.

pub mod acpi;
mod disk;
mod keyboard;
pub mod linux;
mod post;
pub mod rom;
mod system;
mod time;
mod video;

use emu_cpu::{Bus, Cpu, Reg, SegReg};

pub use rom::TRAP_PORT;

/// A disk the BIOS can read and write by LBA (512-byte sectors).
pub trait Drive {
    fn sectors(&self) -> u64;
    /// Reads whole sectors into `buf` (a multiple of 512 bytes); false on error.
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> bool;
    fn write(&mut self, lba: u64, buf: &[u8]) -> bool;
}

impl Drive for emu_chipset::disk::Disk {
    fn sectors(&self) -> u64 {
        emu_chipset::disk::Disk::sectors(self)
    }
    fn read(&mut self, lba: u64, buf: &mut [u8]) -> bool {
        self.read_sectors(lba, buf).is_ok()
    }
    fn write(&mut self, lba: u64, buf: &[u8]) -> bool {
        self.write_sectors(lba, buf).is_ok()
    }
}

/// What the firmware needs from the machine besides the CPU and memory.
pub trait Platform: Bus {
    /// The drive with BIOS number `dl` (00h floppy A:, 80h first hard disk).
    fn drive(&mut self, dl: u8) -> Option<&mut dyn Drive>;
}

/// Firmware state that lives outside guest memory.
pub struct Bios {
    /// Guest RAM in bytes.
    ram: u32,
    hard_disks: u8,
    floppies: u8,
    /// Text printed through int 10h teletype, kept for the front end's log (bounded).
    pub console: Vec<u8>,
    /// Set when the boot failed; the front end reports it.
    pub boot_error: Option<String>,
    /// A kernel to start directly instead of booting from disk.
    pub(crate) linux: Option<linux::LinuxBoot>,
}

/// Physical address of a real-mode segment:offset.
fn phys(seg: u16, off: u16) -> u32 {
    ((seg as u32) << 4) + off as u32
}

/// Register access helpers for services (real mode, 16-bit views).
pub(crate) trait Regs {
    fn ax(&self) -> u16;
    fn ah(&self) -> u8;
    fn al(&self) -> u8;
    fn bx(&self) -> u16;
    fn cx(&self) -> u16;
    fn dx(&self) -> u16;
    fn set16(&mut self, r: Reg, v: u16);
    fn set_ah(&mut self, v: u8);
    fn set_al(&mut self, v: u8);
    fn seg_sel(&self, s: SegReg) -> u16;
}

impl<B: Bus> Regs for Cpu<B> {
    fn ax(&self) -> u16 {
        self.r[0] as u16
    }
    fn ah(&self) -> u8 {
        (self.r[0] >> 8) as u8
    }
    fn al(&self) -> u8 {
        self.r[0] as u8
    }
    fn bx(&self) -> u16 {
        self.r[3] as u16
    }
    fn cx(&self) -> u16 {
        self.r[1] as u16
    }
    fn dx(&self) -> u16 {
        self.r[2] as u16
    }
    fn set16(&mut self, r: Reg, v: u16) {
        self.set_reg16(r, v);
    }
    fn set_ah(&mut self, v: u8) {
        self.set_reg(1, 4, v as u32);
    }
    fn set_al(&mut self, v: u8) {
        self.set_reg(1, 0, v as u32);
    }
    fn seg_sel(&self, s: SegReg) -> u16 {
        self.seg[s as usize].sel
    }
}

/// The interrupt frame a stub runs under: IP, CS, FLAGS at SS:SP.
fn frame_flags_addr<B: Bus>(cpu: &Cpu<B>) -> u32 {
    let ss = cpu.seg[SegReg::Ss as usize].base;
    ss.wrapping_add((cpu.r[Reg::Esp as usize].wrapping_add(4)) & 0xFFFF)
}

/// Sets or clears flag bits in the FLAGS image the stub's IRET will restore.
pub(crate) fn set_frame_flag<B: Bus>(cpu: &mut Cpu<B>, bit: u16, on: bool) {
    let a = frame_flags_addr(cpu);
    let f = cpu.mem.read_u16(a);
    cpu.mem.write_u16(a, if on { f | bit } else { f & !bit });
}

pub(crate) const CF: u16 = 1;
pub(crate) const ZF: u16 = 1 << 6;

/// Service result for the caller: CF in its FLAGS image, AH the status.
pub(crate) fn ret_status<B: Bus>(cpu: &mut Cpu<B>, status: u8) {
    cpu.set_ah(status);
    set_frame_flag(cpu, CF, status != 0);
}

/// Ask the stub to wait for an interrupt and call again (live CF set).
pub(crate) fn wait_and_retry<B: Bus>(cpu: &mut Cpu<B>) {
    cpu.flags.assign(emu_cpu::flags::CF, true);
}

impl Bios {
    pub fn new(ram_bytes: u32) -> Bios {
        Bios {
            ram: ram_bytes,
            hard_disks: 0,
            floppies: 0,
            console: Vec::new(),
            boot_error: None,
            linux: None,
        }
    }

    /// The ROM image to map with `Memory::load_rom`.
    pub fn rom() -> Vec<u8> {
        rom::build()
    }

    /// Prepares a CPU to run this firmware: the trap port, the reset vector.
    pub fn attach<B: Platform>(&mut self, cpu: &mut Cpu<B>) {
        cpu.trap_port = Some(TRAP_PORT);
    }

    /// Handles an `Exit::Trap` from the ROM stub at linear address `lin`.
    pub fn trap<B: Platform>(&mut self, cpu: &mut Cpu<B>, lin: u32) {
        // Live CF clear means "done"; services that must wait set it.
        cpu.flags.assign(emu_cpu::flags::CF, false);
        match rom::stub_at(lin) {
            Some(rom::Stub::Post) => post::post(self, cpu),
            Some(rom::Stub::Vector(v)) => match v {
                0x08 => time::int08(self, cpu),
                0x09 => keyboard::int09(self, cpu),
                0x0A..=0x0F => eoi(cpu, false),
                0x10 => video::int10(self, cpu),
                0x11 => {
                    let eq = cpu.mem.read_u16(0x410);
                    cpu.set16(Reg::Eax, eq);
                }
                0x12 => {
                    let kb = cpu.mem.read_u16(0x413);
                    cpu.set16(Reg::Eax, kb);
                }
                0x13 => disk::int13(self, cpu),
                // Serial and printer services: report "timeout / not present".
                0x14 => ret_status(cpu, 0x80),
                0x17 => cpu.set_ah(0x30),
                0x15 => system::int15(self, cpu),
                0x16 => keyboard::int16(self, cpu),
                0x18 => post::no_boot(self, cpu),
                0x19 => post::boot(self, cpu),
                0x1A => time::int1a(self, cpu),
                0x70 => time::int70(self, cpu),
                0x71..=0x77 => eoi(cpu, true),
                _ => {}
            },
            None => {}
        }
    }
}

/// End of interrupt for an IRQ the BIOS does not otherwise serve.
pub(crate) fn eoi<B: Bus>(cpu: &mut Cpu<B>, slave: bool) {
    if slave {
        cpu.bus.io_write(0xA0, 1, 0x20);
    }
    cpu.bus.io_write(0x20, 1, 0x20);
}
