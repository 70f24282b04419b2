//! Bit tests and scans, SETcc, CMOVcc, BSWAP.

use super::{mask, sext};
use crate::decode::{threaded, threaded_pure};
use crate::decode::{Kind, Op};
use crate::exception::Exc;
use crate::flags::{CF, ZF};
use crate::knownflags::Setter;
use crate::{Bus, Cpu};

/// BT family. A register bit offset reaches memory outside the addressed operand.
#[inline(always)]
fn bit_op<B: Bus, const K: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.size;
    let bits = size as u32 * 8;
    let off = cpu.read_b(op)?;
    let (loc, bit) = if op.a == Kind::Mem && op.b == Kind::Reg {
        let s = sext(size, off);
        let step = s.div_euclid(bits as i32);
        let ea = cpu.ea(op).wrapping_add((step * size as i32) as u32) & op.amask();
        let lin = if K == 0 {
            cpu.lin_r(op.seg, ea, size as u32)?
        } else {
            cpu.lin_w(op.seg, ea, size as u32)?
        };
        (
            crate::access::Loc::Mem(lin),
            s.rem_euclid(bits as i32) as u32,
        )
    } else if K == 0 && op.a == Kind::Mem {
        let lin = cpu.lin_r(op.seg, cpu.ea(op), size as u32)?;
        (crate::access::Loc::Mem(lin), off & (bits - 1))
    } else {
        (cpu.loc_a(op, size)?, off & (bits - 1))
    };
    let v = cpu.read_loc(loc, size)?;
    let old = (v >> bit) & 1 != 0;
    let nv = match K {
        1 => v | (1 << bit),
        2 => v & !(1 << bit),
        3 => v ^ (1 << bit),
        _ => v,
    };
    if K != 0 {
        cpu.write_loc(loc, size, nv & mask(size))?;
    }
    cpu.flags.assign(CF, old);
    Ok(())
}

pub fn bt<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    bit_op::<B, 0>(cpu, op)
}
pub fn bts<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    bit_op::<B, 1>(cpu, op)
}
pub fn btr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    bit_op::<B, 2>(cpu, op)
}
pub fn btc<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    bit_op::<B, 3>(cpu, op)
}

/// BSF/BSR: a zero source sets ZF and leaves the destination unchanged (as P6 does).
fn scan<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, reverse: bool) -> Result<(), Exc> {
    let v = cpu.read_b(op)? & mask(op.size);
    if v == 0 {
        cpu.flags.assign(ZF, true);
        return Ok(());
    }
    let idx = if reverse {
        31 - v.leading_zeros()
    } else {
        v.trailing_zeros()
    };
    cpu.set_reg(op.size, op.ra, idx);
    cpu.flags.set_result(op.size, idx, false, false, false);
    cpu.flags.assign(ZF, false);
    Ok(())
}

pub fn bsf<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    scan(cpu, op, false)
}
pub fn bsr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    scan(cpu, op, true)
}

pub fn bswap<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    if op.size == 4 {
        let v = cpu.get_reg(4, op.ra).swap_bytes();
        cpu.set_reg(4, op.ra, v);
    } else {
        // 16-bit BSWAP is undefined; P6 parts clear the register's low word.
        cpu.set_reg(2, op.ra, 0);
    }
    Ok(())
}

/// SETcc r8 and 32-bit CMOVcc after a known flag setter (`crate::knownflags`): the
/// condition read from the setter's operands or result; None where that setter does not
/// determine it.
pub fn select_cc_after<B: Bus>(
    cmov: bool,
    op: &Op<B>,
    setter: Setter,
) -> Option<crate::decode::Exec<B>> {
    macro_rules! forms {
        ($src:literal, $($cc:literal)*) => {
            match (cmov, op.aux & 15, op.size, op.b == Kind::Mem, op.a == Kind::Mem) {
                $(
                    (false, $cc, _, _, false) => threaded_pure!(setcc_reg_by::<B, $cc, $src>),
                    (true, $cc, 4, false, _) => threaded_pure!(cmovcc_by::<B, $cc, 4, false, $src>),
                    (true, $cc, 4, true, _) => threaded!(cmovcc_by::<B, $cc, 4, true, $src>),
                )*
                _ => return None,
            }
        };
    }
    Some(match setter {
        Setter::Sub32 => forms!(1, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
        Setter::Logic32 => forms!(2, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
        Setter::Result32 => forms!(3, 4 5 8 9 10 11),
    })
}

fn setcc_reg<B: Bus, const CC: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    setcc_reg_by::<B, CC, 0>(cpu, op)
}

/// SETcc r8 with the condition read as `SRC` says ([`crate::flags::Flags::cond_by`]).
fn setcc_reg_by<B: Bus, const CC: u8, const SRC: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let v = cpu.flags.cond_by::<SRC>(CC) as u32;
    cpu.set_reg(1, op.ra, v);
    Ok(())
}

fn setcc_mem<B: Bus, const CC: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.cond(CC) as u32;
    cpu.write_mem(op.seg, cpu.ea(op), 1, v)
}

fn cmovcc<B: Bus, const CC: u8, const S: u8, const MEM: bool>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    cmovcc_by::<B, CC, S, MEM, 0>(cpu, op)
}

/// CMOVcc reads its source whether or not it moves (a bad address faults either way); the
/// condition is read as `SRC` says ([`crate::flags::Flags::cond_by`]).
fn cmovcc_by<B: Bus, const CC: u8, const S: u8, const MEM: bool, const SRC: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let v = if MEM {
        cpu.read_mem(op.seg, cpu.ea(op), S)?
    } else {
        cpu.get_reg(S, op.rb)
    };
    if cpu.flags.cond_by::<SRC>(CC) {
        cpu.set_reg(S, op.ra, v);
    }
    Ok(())
}

/// SETcc and CMOVcc specialised by condition (`op.aux`), and CMOVcc by size and source
/// form: compiled code uses them for branch-free carries and minimums in hot loops.
pub fn select_cc<B: Bus>(cmov: bool, op: &Op<B>) -> crate::decode::Exec<B> {
    macro_rules! pick {
        ($($cc:literal)*) => {
            match (cmov, op.aux & 15, op.size, op.b == Kind::Mem, op.a == Kind::Mem) {
                $(
                    (false, $cc, _, _, false) => threaded_pure!(setcc_reg::<B, $cc>),
                    (false, $cc, _, _, true) => threaded!(setcc_mem::<B, $cc>),
                    (true, $cc, 2, false, _) => threaded_pure!(cmovcc::<B, $cc, 2, false>),
                    (true, $cc, 2, true, _) => threaded!(cmovcc::<B, $cc, 2, true>),
                    (true, $cc, _, false, _) => threaded_pure!(cmovcc::<B, $cc, 4, false>),
                    (true, $cc, _, true, _) => threaded!(cmovcc::<B, $cc, 4, true>),
                )*
                // Condition 15 (G), the only one left.
                (false, _, _, _, false) => threaded_pure!(setcc_reg::<B, 15>),
                (false, _, _, _, true) => threaded!(setcc_mem::<B, 15>),
                (true, _, 2, false, _) => threaded_pure!(cmovcc::<B, 15, 2, false>),
                (true, _, 2, true, _) => threaded!(cmovcc::<B, 15, 2, true>),
                (true, _, _, false, _) => threaded_pure!(cmovcc::<B, 15, 4, false>),
                (true, _, _, true, _) => threaded!(cmovcc::<B, 15, 4, true>),
            }
        };
    }
    pick!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14)
}
