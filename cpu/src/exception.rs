//! Guest faults as values. A handler returns `Err(Exc)`; the run loop rolls EIP back to the
//! faulting instruction and delivers the exception through the IVT/IDT.

use std::num::NonZeroU32;

pub const DE: u8 = 0;
pub const DB: u8 = 1;
pub const BP: u8 = 3;
pub const OF: u8 = 4;
pub const BR: u8 = 5;
pub const UD: u8 = 6;
pub const NM: u8 = 7;
pub const DF: u8 = 8;
pub const TS: u8 = 10;
pub const NP: u8 = 11;
pub const SS: u8 = 12;
pub const GP: u8 = 13;
pub const PF: u8 = 14;
pub const MF: u8 = 16;

/// An exception: vector and optional error code, packed into one non-zero word so that
/// `Result<(), Exc>`, what every instruction handler returns, fits in a register.
/// Error codes are at most 16 bits wide on this CPU (selectors, IDT indices, #PF bits).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Exc(NonZeroU32);

const PRESENT: u32 = 0x200;
const HAS_CODE: u32 = 0x100;

impl Exc {
    pub const fn new(vector: u8) -> Exc {
        match NonZeroU32::new(vector as u32 | PRESENT) {
            Some(n) => Exc(n),
            None => unreachable!(),
        }
    }
    pub const fn with_code(vector: u8, code: u32) -> Exc {
        match NonZeroU32::new(vector as u32 | PRESENT | HAS_CODE | (code & 0xFFFF) << 16) {
            Some(n) => Exc(n),
            None => unreachable!(),
        }
    }
    #[inline]
    pub const fn vector(self) -> u8 {
        self.0.get() as u8
    }
    /// The error code pushed with the exception (protected mode only), if it has one.
    #[inline]
    pub const fn code(self) -> Option<u32> {
        if self.0.get() & HAS_CODE != 0 {
            Some(self.0.get() >> 16)
        } else {
            None
        }
    }
    pub const fn de() -> Exc {
        Exc::new(DE)
    }
    pub const fn ud() -> Exc {
        Exc::new(UD)
    }
    pub const fn br() -> Exc {
        Exc::new(BR)
    }
    pub const fn nm() -> Exc {
        Exc::new(NM)
    }
    pub const fn gp(code: u32) -> Exc {
        Exc::with_code(GP, code)
    }
    pub const fn ss(code: u32) -> Exc {
        Exc::with_code(SS, code)
    }

    /// Contributory exceptions combine into a double fault (SDM Vol. 3, table 6-5).
    pub fn contributory(&self) -> bool {
        matches!(self.vector(), DE | TS | NP | SS | GP)
    }
}

impl std::fmt::Debug for Exc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exc")
            .field("vector", &self.vector())
            .field("code", &self.code())
            .finish()
    }
}

impl std::fmt::Display for Exc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const NAMES: [&str; 21] = [
            "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
            "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM", "#VE",
        ];
        match NAMES.get(self.vector() as usize) {
            Some(n) => write!(f, "{n}")?,
            None => write!(f, "vector {}", self.vector())?,
        }
        if let Some(c) = self.code() {
            write!(f, "({c:#x})")?;
        }
        Ok(())
    }
}
