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

/// Access bits of a loaded segment ([`Seg::rw`]).
pub const SEG_READ: u8 = 1;
pub const SEG_WRITE: u8 = 2;

/// A segment register with its hidden descriptor cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    pub sel: u16,
    pub base: u32,
    /// The descriptor's limit, already scaled by the granularity bit.
    pub limit: u32,
    /// Descriptor access byte (type, S, DPL, P) in bits 0-7, AVL/L/D/G in bits 12-15.
    pub attr: u16,
    /// The D/B bit: 32-bit code segment or 32-bit stack.
    pub big: bool,
    /// Lowest and highest valid offsets (expand-down segments start above `limit`).
    pub lo: u32,
    pub hi: u32,
    /// [`SEG_READ`] / [`SEG_WRITE`]: what data accesses through this register may do. A null
    /// selector in protected mode has neither, so any access faults.
    pub rw: u8,
}

impl Default for Seg {
    fn default() -> Self {
        Seg::real(0)
    }
}

impl Seg {
    /// A segment as real mode loads it at reset: base = selector * 16, 64 KiB, read/write.
    pub fn real(sel: u16) -> Seg {
        Seg {
            sel,
            base: (sel as u32) << 4,
            limit: 0xFFFF,
            attr: 0x93,
            big: false,
            lo: 0,
            hi: 0xFFFF,
            rw: SEG_READ | SEG_WRITE,
        }
    }

    /// A null selector loaded in protected mode: unusable until reloaded.
    pub fn null(sel: u16) -> Seg {
        Seg {
            sel,
            base: 0,
            limit: 0,
            attr: 0,
            big: false,
            lo: 1,
            hi: 0,
            rw: 0,
        }
    }

    /// Access as real mode has it: read and write through any register, offsets from 0 up to
    /// the cached limit.
    pub fn real_mode_rights(&mut self) {
        self.rw = SEG_READ | SEG_WRITE;
        self.lo = 0;
        self.hi = self.limit;
    }

    /// Descriptor privilege level.
    pub fn dpl(&self) -> u8 {
        ((self.attr >> 5) & 3) as u8
    }
}
