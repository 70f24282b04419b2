//! The ROM image: entry points and interrupt stubs that trap to Rust.
//!
//! Every stub begins with `OUT TRAP_PORT, AL`; the CPU stops with the OUT's address and the
//! Rust half picks the service from it. A stub then either returns (`IRET`) or, when the
//! service set CF in the live FLAGS, waits for an interrupt and asks again (keyboard input).

/// The port stubs OUT to. Unused on PCs; only honoured for code running in F0000-FFFFF.
pub const TRAP_PORT: u16 = 0xE5;

/// ROM size and where it sits below 1 MiB.
pub const ROM_SIZE: usize = 0x1_0000;
pub const ROM_BASE: u32 = 0xF_0000;

/// Offset of the stub for interrupt vector `v` (16 bytes each).
pub const fn stub_offset(v: u8) -> u16 {
    0x1000 + 16 * v as u16
}

/// POST entry (the traditional F000:E05B).
pub const POST: u16 = 0xE05B;
/// A `cli; hlt` loop for when there is nothing left to do.
pub const HALT: u16 = 0xE0F0;
/// A plain `iret` for vectors nobody serves.
pub const IRET: u16 = 0x0F00;
/// The system configuration table returned by int 15h AH=C0h (traditional location).
pub const CONFIG_TABLE: u16 = 0xE6F5;
/// The 8x8 font's upper half pointer target for int 1Fh (kept empty).
pub const FONT_8X8_HI: u16 = 0xFA6E;

/// Vectors served by Rust, each with a stub.
pub const SERVED: &[u8] = &[
    0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1A, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
];

/// Which service an OUT at linear address `lin` belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stub {
    Post,
    Vector(u8),
}

pub fn stub_at(lin: u32) -> Option<Stub> {
    let off = lin.checked_sub(ROM_BASE)?;
    if off == POST as u32 {
        return Some(Stub::Post);
    }
    let first = stub_offset(0) as u32;
    if off >= first && (off - first).is_multiple_of(16) && off < stub_offset(0xFF) as u32 + 16 {
        return Some(Stub::Vector(((off - first) / 16) as u8));
    }
    None
}

/// Builds the 64 KiB image.
pub fn build() -> Vec<u8> {
    let mut rom = vec![0xFFu8; ROM_SIZE];
    let put = |rom: &mut Vec<u8>, at: u16, bytes: &[u8]| {
        rom[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    };
    let trap = TRAP_PORT as u8;
    // Reset vector: JMP F000:E05B, then the BIOS date and the model byte (AT).
    put(&mut rom, 0xFFF0, &[0xEA, 0x5B, 0xE0, 0x00, 0xF0]);
    put(&mut rom, 0xFFF5, b"11/27/26");
    put(&mut rom, 0xFFFE, &[0xFC, 0x00]);
    // POST: trap; Rust sets up the machine and the boot CS:IP. Falls into HALT if it returns.
    put(&mut rom, POST, &[0xE6, trap, 0xEB, 0xFE]);
    put(&mut rom, HALT, &[0xFA, 0xF4, 0xEB, 0xFC]);
    put(&mut rom, IRET, &[0xCF]);
    // int 15h C0h: 8 bytes follow the length word: model FC, submodel 01, revision 00,
    // feature 1: 0x70 (second PIC, RTC, int 15h/4Fh keyboard intercept), rest zero.
    put(
        &mut rom,
        CONFIG_TABLE,
        &[0x08, 0x00, 0xFC, 0x01, 0x00, 0x70, 0x00, 0x00, 0x00, 0x00],
    );
    for &v in SERVED {
        let at = stub_offset(v);
        let body: Vec<u8> = match v {
            // Timer: the Rust half counts the tick and sends EOI; then the user hook 1Ch.
            0x08 => vec![0xE6, trap, 0xCD, 0x1C, 0xCF],
            // Everything else: trap; if CF is set, wait for an interrupt and ask again.
            _ => vec![
                0xE6, trap, // out TRAP, al
                0x73, 0x05, // jnc +5 -> iret
                0xFB, // sti
                0xF4, // hlt
                0xFA, // cli
                0xEB, 0xF7, // jmp -9 -> out
                0xCF, // iret
            ],
        };
        put(&mut rom, at, &body);
    }
    // Make the ROM's own bytes look like an option-ROM-free system BIOS: checksum not needed.
    rom
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_are_found_by_address() {
        let rom = build();
        assert_eq!(rom.len(), ROM_SIZE);
        assert_eq!(&rom[0xFFF0..0xFFF5], &[0xEA, 0x5B, 0xE0, 0x00, 0xF0]);
        assert_eq!(stub_at(ROM_BASE + POST as u32), Some(Stub::Post));
        assert_eq!(
            stub_at(ROM_BASE + stub_offset(0x13) as u32),
            Some(Stub::Vector(0x13))
        );
        assert_eq!(stub_at(0x7C00), None);
    }
}
