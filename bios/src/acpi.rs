//! Minimal ACPI tables (RSDP, RSDT, FADT, FACS, DSDT with an \_S5 object) so an OS can power
//! the machine off: it writes SLP_TYP=5 with SLP_EN to the PM1a control port.

use emu_cpu::Cpu;

use crate::system::EBDA;
use crate::{Bios, Platform};

/// Bytes reserved at the top of RAM for the tables (reported as ACPI in E820).
pub const TABLES_SIZE: u32 = 0x1_0000;
/// PM1a event block (status + enable, 4 bytes) and control block (2 bytes).
pub const PM1A_EVT: u16 = 0x600;
pub const PM1A_CNT: u16 = 0x604;
/// The sleep type \_S5 names (written to PM1a_CNT bits 10-12 with SLP_EN, bit 13).
pub const SLP_TYP_S5: u16 = 5;
/// SCI interrupt line.
pub const SCI_IRQ: u8 = 9;

fn checksum(b: &[u8]) -> u8 {
    0u8.wrapping_sub(b.iter().fold(0u8, |a, &x| a.wrapping_add(x)))
}

/// A table header (36 bytes) followed by `body`, with its checksum set.
fn table(sig: &[u8; 4], rev: u8, body: &[u8]) -> Vec<u8> {
    let len = 36 + body.len();
    let mut t = Vec::with_capacity(len);
    t.extend_from_slice(sig);
    t.extend_from_slice(&(len as u32).to_le_bytes());
    t.push(rev);
    t.push(0);
    t.extend_from_slice(b"EMU   ");
    t.extend_from_slice(b"EMUPC   ");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"EMU ");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(body);
    t[9] = checksum(&t);
    t
}

/// An AML PkgLength (which counts its own bytes) for `body` bytes that follow it.
fn pkg_length(body: usize) -> Vec<u8> {
    if body + 1 < 0x40 {
        return vec![(body + 1) as u8];
    }
    let n = body + 2;
    assert!(n < 0x1000, "AML package too large");
    vec![0x40 | (n & 0xF) as u8, (n >> 4) as u8]
}

/// `Op PkgLength body` (Scope, Device, Buffer, Package...).
fn aml_pkg(op: &[u8], body: &[u8]) -> Vec<u8> {
    let mut v = op.to_vec();
    v.extend(pkg_length(body.len()));
    v.extend_from_slice(body);
    v
}

/// Word address-space descriptor (bus numbers or I/O), producer, fixed min and max.
fn word_space(kind: u8, flags: u8, min: u16, max: u16) -> Vec<u8> {
    let mut v = vec![0x88, 0x0D, 0x00, kind, 0x0C, flags];
    for x in [0, min, max, 0, max.wrapping_sub(min).wrapping_add(1)] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

/// DWord memory range descriptor, read-write, producer, fixed min and max.
fn dword_memory(min: u32, max: u32) -> Vec<u8> {
    let mut v = vec![0x87, 0x17, 0x00, 0x00, 0x0C, 0x01];
    for x in [0, min, max, 0, max - min + 1] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

/// The DSDT body: the \_S5 sleep object, and the PCI root bridge with the windows it decodes.
/// With ACPI present Linux finds PCI root bridges only through the namespace, and claims
/// device BARs only inside the bridge's _CRS windows.
fn dsdt_aml(ram: u32) -> Vec<u8> {
    let mut aml = vec![
        0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00,
    ];
    let mut crs = Vec::new();
    crs.extend(word_space(2, 0, 0, 0xFF));
    crs.extend(word_space(1, 3, 0x0000, 0x0CF7));
    crs.extend(word_space(1, 3, 0x0D00, 0xFFFF));
    crs.extend(dword_memory(0xA_0000, 0xB_FFFF));
    crs.extend(dword_memory(ram.max(0x10_0000), 0xFEBF_FFFF));
    crs.extend([0x79, 0x00]);
    let mut buf_body = vec![0x0B];
    buf_body.extend_from_slice(&(crs.len() as u16).to_le_bytes());
    buf_body.extend(crs);
    let mut dev = b"PCI0".to_vec();
    dev.extend([0x08, b'_', b'H', b'I', b'D', 0x0C, 0x41, 0xD0, 0x0A, 0x03]);
    dev.extend([0x08, b'_', b'A', b'D', b'R', 0x00]);
    dev.extend([0x08, b'_', b'C', b'R', b'S']);
    dev.extend(aml_pkg(&[0x11], &buf_body));
    let mut scope = b"\\_SB_".to_vec();
    scope.extend(aml_pkg(&[0x5B, 0x82], &dev));
    aml.extend(aml_pkg(&[0x10], &scope));
    aml
}

/// Builds the tables for a table area at `base` (the top of `ram` bytes of RAM); returns
/// (RSDP, table area bytes).
pub fn build(base: u32, ram: u32) -> (Vec<u8>, Vec<u8>) {
    let facs_at = base;
    let dsdt_at = base + 0x40;
    let dsdt = table(b"DSDT", 1, &dsdt_aml(ram));
    let fadt_at = dsdt_at + ((dsdt.len() as u32 + 15) & !15);
    let mut f = vec![0u8; 116 - 36];
    let put32 = |f: &mut Vec<u8>, off: usize, v: u32| {
        f[off - 36..off - 32].copy_from_slice(&v.to_le_bytes())
    };
    put32(&mut f, 36, facs_at);
    put32(&mut f, 40, dsdt_at);
    f[46 - 36..48 - 36].copy_from_slice(&(SCI_IRQ as u16).to_le_bytes());
    put32(&mut f, 56, PM1A_EVT as u32);
    put32(&mut f, 64, PM1A_CNT as u32);
    f[88 - 36] = 4; // PM1_EVT_LEN
    f[89 - 36] = 2; // PM1_CNT_LEN
    put32(&mut f, 112, 1 | (1 << 4) | (1 << 5)); // WBINVD, PWR_BUTTON, SLP_BUTTON (control methods absent)
    let fadt = table(b"FACP", 1, &f);
    let rsdt_at = fadt_at + ((fadt.len() as u32 + 15) & !15);
    let rsdt = table(b"RSDT", 1, &fadt_at.to_le_bytes());

    let mut area = vec![0u8; (rsdt_at - base) as usize + rsdt.len()];
    let mut facs = vec![0u8; 64];
    facs[0..4].copy_from_slice(b"FACS");
    facs[4..8].copy_from_slice(&64u32.to_le_bytes());
    area[0..64].copy_from_slice(&facs);
    let at = |a: u32| (a - base) as usize;
    area[at(dsdt_at)..at(dsdt_at) + dsdt.len()].copy_from_slice(&dsdt);
    area[at(fadt_at)..at(fadt_at) + fadt.len()].copy_from_slice(&fadt);
    area[at(rsdt_at)..at(rsdt_at) + rsdt.len()].copy_from_slice(&rsdt);

    let mut rsdp = Vec::with_capacity(20);
    rsdp.extend_from_slice(b"RSD PTR ");
    rsdp.push(0);
    rsdp.extend_from_slice(b"EMU   ");
    rsdp.push(0); // ACPI 1.0
    rsdp.extend_from_slice(&rsdt_at.to_le_bytes());
    rsdp[8] = checksum(&rsdp);
    (rsdp, area)
}

/// Writes the tables: the RSDP in the EBDA (where OSes search), the rest at the top of RAM.
pub(crate) fn install<B: Platform>(bios: &Bios, cpu: &mut Cpu<B>) {
    let base = bios.ram - TABLES_SIZE;
    let (rsdp, area) = build(base, bios.ram);
    cpu.mem.write_bytes(EBDA + 0x40, &rsdp);
    cpu.mem.write_bytes(base, &area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_checksum_to_zero() {
        let (rsdp, area) = build(0x7FF_0000, 0x800_0000);
        assert_eq!(rsdp.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        let rsdt_at = u32::from_le_bytes(rsdp[16..20].try_into().unwrap());
        let off = (rsdt_at - 0x7FF_0000) as usize;
        let len = u32::from_le_bytes(area[off + 4..off + 8].try_into().unwrap()) as usize;
        let sum = area[off..off + len]
            .iter()
            .fold(0u8, |a, &b| a.wrapping_add(b));
        assert_eq!(sum, 0);
        assert_eq!(&area[off..off + 4], b"RSDT");
    }
}
