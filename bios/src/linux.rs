//! Direct Linux boot with the 32-bit boot protocol (Documentation/x86/boot.rst): the
//! protected-mode kernel at 1 MiB, a zero page (boot_params) with the setup header, the E820
//! map and the command line, the initrd high in RAM, and the CPU in flat 32-bit protected mode
//! at `code32_start` with ESI pointing at the zero page.

use emu_cpu::{Cpu, Reg, SegReg};

use crate::{Bios, Platform};

/// A kernel to start instead of booting from disk.
#[derive(Clone)]
pub struct LinuxBoot {
    pub kernel: Vec<u8>,
    pub initrd: Option<Vec<u8>>,
    pub cmdline: String,
}

const ZERO_PAGE: u32 = 0x7000;
const CMDLINE: u32 = 0x2_0000;
const GDT: u32 = 0x6000;
const KERNEL: u32 = 0x10_0000;

/// Checks that `kernel` is a bzImage this loader can start (boot protocol 2.04 or later,
/// loaded high); returns a one-line reason otherwise.
pub fn check(kernel: &[u8]) -> Result<(), String> {
    if kernel.len() < 0x400 {
        return Err(format!(
            "kernel is {} bytes, too small for a bzImage",
            kernel.len()
        ));
    }
    if kernel[0x1FE] != 0x55 || kernel[0x1FF] != 0xAA || &kernel[0x202..0x206] != b"HdrS" {
        return Err("kernel is not a bzImage (no Linux boot header)".into());
    }
    let version = u16::from_le_bytes([kernel[0x206], kernel[0x207]]);
    if version < 0x0204 {
        return Err(format!(
            "kernel boot protocol {version:#06x} is older than 2.04"
        ));
    }
    if kernel[0x211] & 1 == 0 {
        return Err("kernel is a zImage (not loaded high); only bzImage is supported".into());
    }
    let setup = setup_bytes(kernel);
    if setup >= kernel.len() {
        return Err("kernel image is truncated".into());
    }
    Ok(())
}

fn setup_bytes(kernel: &[u8]) -> usize {
    let sects = match kernel[0x1F1] {
        0 => 4,
        n => n as usize,
    };
    (sects + 1) * 512
}

pub(crate) fn boot<B: Platform>(
    bios: &mut Bios,
    cpu: &mut Cpu<B>,
    k: &LinuxBoot,
) -> Result<(), String> {
    check(&k.kernel)?;
    let kernel = &k.kernel;
    let setup = setup_bytes(kernel);
    let pm = &kernel[setup..];
    let ram = bios.ram;
    let top = ram - crate::acpi::TABLES_SIZE;
    if KERNEL as usize + pm.len() > top as usize {
        return Err(format!(
            "kernel ({} bytes) does not fit in {} MiB of RAM",
            pm.len(),
            ram >> 20
        ));
    }
    cpu.mem.write_bytes(KERNEL, pm);
    cpu.mem.note_write(KERNEL, pm.len());

    // The zero page: setup header copied from the image, then the loader's fields.
    for a in ZERO_PAGE..ZERO_PAGE + 0x1000 {
        cpu.mem.write_u8(a, 0);
    }
    let hdr_end = 0x202 + kernel[0x201] as usize;
    let hdr_end = hdr_end.clamp(0x202, 0x290).min(kernel.len());
    cpu.mem
        .write_bytes(ZERO_PAGE + 0x1F1, &kernel[0x1F1..hdr_end]);
    let zp = |off: u32| ZERO_PAGE + off;
    // screen_info: 80x25 colour text, cursor below what the BIOS printed.
    let cursor = cpu.mem.read_u16(0x450);
    cpu.mem.write_u8(zp(0x00), cursor as u8);
    cpu.mem.write_u8(zp(0x01), (cursor >> 8) as u8);
    cpu.mem.write_u8(zp(0x06), 3);
    cpu.mem.write_u8(zp(0x07), 80);
    cpu.mem.write_u8(zp(0x0E), 25);
    cpu.mem.write_u8(zp(0x0F), 1);
    cpu.mem.write_u16(zp(0x10), 16);
    cpu.mem
        .write_u32(zp(0x1E0), (ram >> 10).saturating_sub(1024));
    let map = bios.e820();
    cpu.mem.write_u8(zp(0x1E8), map.len() as u8);
    for (i, &(base, len, typ)) in map.iter().enumerate() {
        let e = zp(0x2D0) + 20 * i as u32;
        cpu.mem.write_u32(e, base as u32);
        cpu.mem.write_u32(e + 4, (base >> 32) as u32);
        cpu.mem.write_u32(e + 8, len as u32);
        cpu.mem.write_u32(e + 12, (len >> 32) as u32);
        cpu.mem.write_u32(e + 16, typ);
    }
    cpu.mem.write_u8(zp(0x210), 0xFF); // type_of_loader: undefined
    let lf = cpu.mem.read_u8(zp(0x211));
    cpu.mem.write_u8(zp(0x211), lf | 0x80); // CAN_USE_HEAP
    cpu.mem.write_u16(zp(0x224), 0xFE00);
    let cmdline_max = if kernel.len() > 0x23B {
        u32::from_le_bytes(kernel[0x238..0x23C].try_into().unwrap_or([0; 4]))
    } else {
        255
    };
    let mut cmd = k.cmdline.as_bytes().to_vec();
    cmd.truncate(cmdline_max.clamp(255, 0xFFFF) as usize);
    cmd.push(0);
    cpu.mem.write_bytes(CMDLINE, &cmd);
    cpu.mem.write_u32(zp(0x228), CMDLINE);
    if let Some(initrd) = &k.initrd {
        let max = u32::from_le_bytes(kernel[0x22C..0x230].try_into().unwrap_or([0; 4]));
        let limit = top.min(max.saturating_add(1)).min(top);
        let at = limit.saturating_sub(initrd.len() as u32) & !0xFFF;
        if at < KERNEL + pm.len() as u32 {
            return Err(format!(
                "initrd ({} bytes) does not fit in RAM",
                initrd.len()
            ));
        }
        cpu.mem.write_bytes(at, initrd);
        cpu.mem.write_u32(zp(0x218), at);
        cpu.mem.write_u32(zp(0x21C), initrd.len() as u32);
    }
    let code32 = cpu.mem.read_u32(zp(0x214));

    // Flat segments: 0x10 code, 0x18 data (the selectors the protocol names).
    cpu.mem.write_u32(GDT, 0);
    cpu.mem.write_u32(GDT + 4, 0);
    cpu.mem.write_u32(GDT + 8, 0);
    cpu.mem.write_u32(GDT + 12, 0);
    cpu.mem.write_u32(GDT + 16, 0x0000_FFFF);
    cpu.mem.write_u32(GDT + 20, 0x00CF_9B00);
    cpu.mem.write_u32(GDT + 24, 0x0000_FFFF);
    cpu.mem.write_u32(GDT + 28, 0x00CF_9300);
    cpu.gdtr = emu_cpu::TableReg {
        base: GDT,
        limit: 31,
    };
    cpu.idtr = emu_cpu::TableReg { base: 0, limit: 0 };
    cpu.flags.set(0x2);
    cpu.set_cr0(cpu.cr0 | 1)
        .map_err(|e| format!("entering protected mode: {e}"))?;
    cpu.set_cs_pm(0x10)
        .map_err(|e| format!("loading CS: {e}"))?;
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        cpu.load_seg(s, 0x18)
            .map_err(|e| format!("loading segments: {e}"))?;
    }
    cpu.r = [0; 16];
    cpu.r[Reg::Esi as usize] = ZERO_PAGE;
    cpu.r[Reg::Esp as usize] = ZERO_PAGE;
    cpu.eip = code32;
    Ok(())
}

impl Bios {
    /// Starts `k` instead of booting from disk (after POST).
    pub fn set_linux(&mut self, k: LinuxBoot) {
        self.linux = Some(k);
    }
}
