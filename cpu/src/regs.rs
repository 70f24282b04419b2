//! Register names and segment-register state.

/// General registers in x86 encoding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reg {
    Eax = 0,
    Ecx = 1,
    Edx = 2,
    Ebx = 3,
    Esp = 4,
    Ebp = 5,
    Esi = 6,
    Edi = 7,
}

/// Index used for "no register" in addresses: slot 8 of the register file, always zero.
pub const NO_REG: u8 = 8;

/// Segment registers in x86 encoding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SegReg {
    Es = 0,
    Cs = 1,
    Ss = 2,
    Ds = 3,
    Fs = 4,
    Gs = 5,
}

impl SegReg {
    pub const ALL: [SegReg; 6] = [
        SegReg::Es,
        SegReg::Cs,
        SegReg::Ss,
        SegReg::Ds,
        SegReg::Fs,
        SegReg::Gs,
    ];

    pub fn from_index(i: u8) -> SegReg {
        SegReg::ALL[(i % 6) as usize]
    }
}

/// A segment register with its hidden descriptor cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub sel: u16,
    pub base: u32,
    /// Highest valid offset (already scaled by the granularity bit).
    pub limit: u32,
    /// Descriptor access byte (type, S, DPL, P) in bits 0-7, AVL/L/D/G in bits 12-15.
    pub attr: u16,
    /// The D/B bit: 32-bit code segment or 32-bit stack.
    pub big: bool,
}

impl Default for Seg {
    fn default() -> Self {
        Seg::real(0)
    }
}

impl Seg {
    /// A segment as real mode loads it: base = selector * 16, 64 KiB limit, read/write data.
    pub fn real(sel: u16) -> Seg {
        Seg {
            sel,
            base: (sel as u32) << 4,
            limit: 0xFFFF,
            attr: 0x93,
            big: false,
        }
    }
}
