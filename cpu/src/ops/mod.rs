//! Instruction handlers, grouped by what they model. Each has the signature
//! [`crate::decode::Handler`] and is chosen by `decode::select`.

pub mod alu;
pub mod bcd;
pub mod bits;
pub mod control;
pub mod data;
pub mod muldiv;
pub mod shift;
pub mod stack;
pub mod string;
pub mod system;
pub mod x87;

use crate::{Bus, Cpu};

/// All-ones mask for an operand size in bytes.
#[inline(always)]
pub fn mask(size: u8) -> u32 {
    match size {
        1 => 0xFF,
        2 => 0xFFFF,
        _ => 0xFFFF_FFFF,
    }
}

/// Sign bit for an operand size in bytes.
#[inline(always)]
pub fn sign(size: u8) -> u32 {
    1 << (size as u32 * 8 - 1)
}

/// Sign-extends the low `size` bytes of `v`.
#[inline(always)]
pub fn sext(size: u8, v: u32) -> i32 {
    match size {
        1 => v as u8 as i8 as i32,
        2 => v as u16 as i16 as i32,
        _ => v as i32,
    }
}

impl<B: Bus> Cpu<B> {
    /// Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc opcodes).
    #[inline(always)]
    pub fn cond(&self, cc: u8) -> bool {
        self.flags.cond(cc)
    }
}

#[cfg(test)]
mod specialised_tests;
