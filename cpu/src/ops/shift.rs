//! Shifts and rotates, including SHLD/SHRD. Counts are masked to five bits as on every
//! CPU since the 286. For multi-bit counts, where the SDM leaves OF undefined, OF is what the
//! one-bit rule gives for the final step, as the hardware single-step tests record; AF is
//! cleared.

use super::{mask, sext, sign};
use crate::decode::{threaded, threaded_pure};
use crate::decode::{Kind, Op};
use crate::exception::Exc;
use crate::regs::Reg;
use crate::{Bus, Cpu};

/// The shift count: an immediate, CL, or the implicit 1 of the D0/D1 forms.
#[inline]
fn count<B: Bus>(cpu: &Cpu<B>, op: &Op<B>) -> u32 {
    let c = match op.b {
        Kind::Imm => op.imm,
        Kind::Reg => cpu.r[Reg::Ecx as usize],
        _ => 1,
    };
    c & 0x1F
}

#[inline(always)]
fn shift<B: Bus, const K: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.size;
    let c = count(cpu, op);
    let loc = cpu.loc_a(op, size)?;
    let d = cpu.read_loc(loc, size)?;
    if c == 0 {
        return Ok(());
    }
    let (res, cf, of, logic) = compute::<B, K>(cpu, size, d, c);
    cpu.write_loc(loc, size, res)?;
    set_flags(cpu, size, res, cf, of, logic);
    Ok(())
}

/// Register destination of a known size: the common form in compiled code.
fn shift_reg<B: Bus, const K: u8, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let c = count(cpu, op);
    if c == 0 {
        return Ok(());
    }
    let d = cpu.get_reg(S, op.ra);
    let (res, cf, of, logic) = compute::<B, K>(cpu, S, d, c);
    cpu.set_reg(S, op.ra, res);
    set_flags(cpu, S, res, cf, of, logic);
    Ok(())
}

/// The handler for a shift or rotate: register destinations specialised by operation and
/// size, the rest general.
pub fn select<B: Bus>(k: u8, op: &Op<B>) -> crate::decode::Exec<B> {
    macro_rules! pick {
        ($($k:literal)*) => {
            match (k, op.a, op.size) {
                $(
                    ($k, Kind::Reg, 1) => threaded_pure!(shift_reg::<B, $k, 1>),
                    ($k, Kind::Reg, 2) => threaded_pure!(shift_reg::<B, $k, 2>),
                    ($k, Kind::Reg, 4) => threaded_pure!(shift_reg::<B, $k, 4>),
                )*
                (0, ..) => threaded!(rol::<B>),
                (1, ..) => threaded!(ror::<B>),
                (2, ..) => threaded!(rcl::<B>),
                (3, ..) => threaded!(rcr::<B>),
                (4, ..) => threaded!(shl::<B>),
                (5, ..) => threaded!(shr::<B>),
                _ => threaded!(sar::<B>),
            }
        };
    }
    pick!(0 1 2 3 4 5 6)
}

/// The handler of a 32-bit register shift whose flags are dead (`crate::deadflags`): by an
/// immediate, by 1 (D1 /4-7) or by CL.
pub(crate) fn flagless<B: Bus>(
    mnemonic: iced_x86::Mnemonic,
    op: &Op<B>,
) -> Option<crate::decode::Exec<B>> {
    use iced_x86::Mnemonic as M;
    if op.a != Kind::Reg || op.size != 4 {
        return None;
    }
    macro_rules! by {
        ($k:literal) => {
            match op.b {
                Kind::Imm => threaded_pure!(shift_result::<B, $k, COUNT_IMM>),
                Kind::Reg => threaded_pure!(shift_result::<B, $k, COUNT_CL>),
                _ => threaded_pure!(shift_result::<B, $k, COUNT_ONE>),
            }
        };
    }
    Some(match mnemonic {
        M::Shl | M::Sal => by!(4),
        M::Shr => by!(5),
        M::Sar => by!(6),
        _ => return None,
    })
}

/// Where [`shift_result`] takes its count from.
const COUNT_IMM: u8 = 0;
const COUNT_CL: u8 = 1;
const COUNT_ONE: u8 = 2;

/// [`shift_reg`] for SHL (4), SHR (5) or SAR (6) at 32 bits without the flags.
fn shift_result<B: Bus, const K: u8, const COUNT: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let c = match COUNT {
        COUNT_IMM => op.imm,
        COUNT_CL => cpu.r[Reg::Ecx as usize],
        _ => 1,
    } & 0x1F;
    let d = cpu.get_reg(4, op.ra);
    let res = match K {
        4 => d << c,
        5 => d >> c,
        _ => ((d as i32) >> c) as u32,
    };
    cpu.set_reg(4, op.ra, res);
    Ok(())
}

#[inline(always)]
fn set_flags<B: Bus>(cpu: &mut Cpu<B>, size: u8, res: u32, cf: bool, of: bool, logic: bool) {
    if logic {
        cpu.flags.set_result(size, res, cf, of, false);
    } else {
        // Rotates leave SF, ZF, AF and PF alone.
        cpu.flags.assign(crate::flags::CF, cf);
        cpu.flags.assign(crate::flags::OF, of);
    }
}

/// Result, CF, OF, and whether ZF/SF/PF follow the result, for a non-zero count.
#[inline(always)]
fn compute<B: Bus, const K: u8>(cpu: &Cpu<B>, size: u8, d: u32, c: u32) -> (u32, bool, bool, bool) {
    let bits = size as u32 * 8;
    let m = mask(size);
    let sb = sign(size);
    let msb = |v: u32| v & sb != 0;
    match K {
        // ROL
        0 => {
            let r = c % bits;
            let res = if r == 0 {
                d
            } else {
                ((d << r) | (d >> (bits - r))) & m
            };
            let cf = res & 1 != 0;
            (res, cf, msb(res) ^ cf, false)
        }
        // ROR
        1 => {
            let r = c % bits;
            let res = if r == 0 {
                d
            } else {
                ((d >> r) | (d << (bits - r))) & m
            };
            let cf = msb(res);
            (res, cf, msb(res) ^ (res & (sb >> 1) != 0), false)
        }
        // RCL
        2 => {
            let r = c % (bits + 1);
            let cin = cpu.flags.cf() as u64;
            let wide = (cin << bits) | d as u64;
            let w = bits as u64 + 1;
            let rot = if r == 0 {
                wide
            } else {
                ((wide << r) | (wide >> (w as u32 - r))) & ((1u64 << w) - 1)
            };
            let res = rot as u32 & m;
            let cf = (rot >> bits) & 1 != 0;
            (res, cf, msb(res) ^ cf, false)
        }
        // RCR
        3 => {
            let r = c % (bits + 1);
            let cin = cpu.flags.cf() as u64;
            let wide = (cin << bits) | d as u64;
            let w = bits as u64 + 1;
            let rot = if r == 0 {
                wide
            } else {
                ((wide >> r) | (wide << (w as u32 - r))) & ((1u64 << w) - 1)
            };
            let res = rot as u32 & m;
            let cf = (rot >> bits) & 1 != 0;
            (res, cf, msb(res) ^ (res & (sb >> 1) != 0), false)
        }
        // SHL
        4 => {
            let wide = (d as u64) << c;
            let res = wide as u32 & m;
            let cf = (wide >> bits) & 1 != 0;
            (res, cf, msb(res) ^ cf, true)
        }
        // SHR
        5 => {
            let res = ((d as u64) >> c) as u32 & m;
            let before_last = ((d as u64) >> (c - 1)) as u32;
            let cf = before_last & 1 != 0;
            (res, cf, msb(before_last & m), true)
        }
        // SAR
        _ => {
            let s = sext(size, d) as i64;
            let res = (s >> c) as u32 & m;
            let cf = (s >> (c - 1)) & 1 != 0;
            (res, cf, false, true)
        }
    }
}

pub fn rol<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    shift::<B, 0>(cpu, op)
}
pub fn ror<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    shift::<B, 1>(cpu, op)
}
pub fn rcl<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    shift::<B, 2>(cpu, op)
}
pub fn rcr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    shift::<B, 3>(cpu, op)
}
pub fn shl<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    shift::<B, 4>(cpu, op)
}
pub fn shr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    shift::<B, 5>(cpu, op)
}
pub fn sar<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    shift::<B, 6>(cpu, op)
}

/// SHLD/SHRD r/m, r, imm8|CL. The count comes from imm, or CL when `aux` is 1.
#[inline(always)]
fn double<B: Bus, const LEFT: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.size;
    let c = if op.aux == 1 {
        cpu.r[Reg::Ecx as usize] & 0x1F
    } else {
        op.imm & 0x1F
    };
    let loc = cpu.loc_a(op, size)?;
    let d = cpu.read_loc(loc, size)? as u64;
    if c == 0 {
        return Ok(());
    }
    let s = cpu.get_reg(size, op.rb) as u64;
    let bits = size as u32 * 8;
    let m = mask(size);
    // The pattern d:s:d covers 16-bit counts above 16, where the source wraps back in.
    let wide = ((d as u128) << (2 * bits)) | ((s as u128) << bits) | d as u128;
    let (res, cf) = if LEFT {
        let r = wide << c;
        (((r >> (2 * bits)) as u32) & m, (r >> (3 * bits)) & 1 != 0)
    } else {
        ((wide >> c) as u32 & m, (wide >> (c - 1)) & 1 != 0)
    };
    let sb = sign(size);
    let of = (res ^ d as u32) & sb != 0;
    cpu.write_loc(loc, size, res)?;
    cpu.flags.set_result(size, res, cf, of, false);
    Ok(())
}

pub fn shld<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    double::<B, true>(cpu, op)
}
pub fn shrd<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    double::<B, false>(cpu, op)
}
