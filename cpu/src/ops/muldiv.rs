//! MUL, IMUL (one, two and three operands), DIV, IDIV.

use super::{mask, sext};
use crate::decode::{threaded, threaded_pure};
use crate::decode::{Kind, Op};
use crate::exception::Exc;
use crate::regs::Reg;
use crate::{Bus, Cpu};

/// The accumulator pair for a size: AL/AX/EAX and AH/DX/EDX.
fn acc_get<B: Bus>(cpu: &Cpu<B>, size: u8) -> u64 {
    match size {
        1 => (cpu.r[0] & 0xFFFF) as u64,
        2 => ((cpu.r[2] & 0xFFFF) << 16 | (cpu.r[0] & 0xFFFF)) as u64,
        _ => (cpu.r[2] as u64) << 32 | cpu.r[0] as u64,
    }
}

fn acc_set<B: Bus>(cpu: &mut Cpu<B>, size: u8, lo: u32, hi: u32) {
    match size {
        1 => cpu.set_reg(2, Reg::Eax as u8, (lo & 0xFF) | (hi & 0xFF) << 8),
        2 => {
            cpu.set_reg(2, Reg::Eax as u8, lo);
            cpu.set_reg(2, Reg::Edx as u8, hi);
        }
        _ => {
            cpu.r[Reg::Eax as usize] = lo;
            cpu.r[Reg::Edx as usize] = hi;
        }
    }
}

/// Flags after a multiply: CF = OF = the upper half is significant; SF/ZF/PF follow the
/// low half as P6-family parts do (they are architecturally undefined), AF is cleared.
#[inline(always)]
fn mul_flags<B: Bus>(cpu: &mut Cpu<B>, size: u8, lo: u32, overflow: bool) {
    cpu.flags.set_result(size, lo, overflow, overflow, false);
}

/// The r/m operand, a register (`r`) or memory: a const parameter, so each handler is
/// compiled for one form and one size (multiplies are hot in the kernel's big-number code).
#[inline(always)]
fn rm<B: Bus, const S: u8, const MEM: bool>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
    r: u8,
) -> Result<u32, Exc> {
    if MEM {
        cpu.read_mem(op.seg, cpu.ea(op), S)
    } else {
        Ok(cpu.get_reg(S, r))
    }
}

fn mul<B: Bus, const S: u8, const MEM: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let s = rm::<B, S, MEM>(cpu, op, op.ra)? as u64;
    let a = cpu.get_reg(S, 0) as u64;
    let p = a * s;
    let bits = S as u32 * 8;
    let lo = (p as u32) & mask(S);
    let hi = (p >> bits) as u32 & mask(S);
    acc_set(cpu, S, lo, hi);
    mul_flags(cpu, S, lo, hi != 0);
    Ok(())
}

fn imul1<B: Bus, const S: u8, const MEM: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let s = sext(S, rm::<B, S, MEM>(cpu, op, op.ra)?) as i64;
    let a = sext(S, cpu.get_reg(S, 0)) as i64;
    let p = a * s;
    let bits = S as u32 * 8;
    let lo = (p as u32) & mask(S);
    let hi = (p >> bits) as u32 & mask(S);
    acc_set(cpu, S, lo, hi);
    mul_flags(cpu, S, lo, p != sext(S, lo) as i64);
    Ok(())
}

#[inline(always)]
fn imul_into<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>, x: u32, y: u32) {
    let p = sext(S, x) as i64 * sext(S, y) as i64;
    let lo = (p as u32) & mask(S);
    cpu.set_reg(S, op.ra, lo);
    mul_flags(cpu, S, lo, p != sext(S, lo) as i64);
}

/// IMUL r, r/m
fn imul_n<B: Bus, const S: u8, const MEM: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let y = rm::<B, S, MEM>(cpu, op, op.rb)?;
    let x = cpu.get_reg(S, op.ra);
    imul_into::<B, S>(cpu, op, x, y);
    Ok(())
}

/// IMUL r, r/m, imm
fn imul3<B: Bus, const S: u8, const MEM: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let x = rm::<B, S, MEM>(cpu, op, op.rb)?;
    imul_into::<B, S>(cpu, op, x, op.imm);
    Ok(())
}

fn div<B: Bus, const S: u8, const MEM: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let d = rm::<B, S, MEM>(cpu, op, op.ra)? as u64;
    if d == 0 {
        return Err(Exc::de());
    }
    let n = acc_get(cpu, S);
    let q = n / d;
    if q > mask(S) as u64 {
        return Err(Exc::de());
    }
    acc_set(cpu, S, q as u32, (n % d) as u32);
    Ok(())
}

fn idiv<B: Bus, const S: u8, const MEM: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let d = sext(S, rm::<B, S, MEM>(cpu, op, op.ra)?) as i64;
    if d == 0 {
        return Err(Exc::de());
    }
    let n = acc_get(cpu, S);
    let bits = S as u32 * 16;
    // Sign-extend the double-width dividend.
    let n = ((n << (64 - bits)) as i64) >> (64 - bits);
    let q = n.wrapping_div(d);
    let r = n.wrapping_rem(d);
    let half = 1i64 << (S as u32 * 8 - 1);
    if q >= half || q < -half {
        return Err(Exc::de());
    }
    acc_set(cpu, S, q as u32, r as u32);
    Ok(())
}

/// The handler of a 32-bit two- or three-operand IMUL with a register source whose flags
/// are dead (`crate::deadflags`): the low half of the product is the same signed or not.
pub(crate) fn flagless<B: Bus>(op_count: u32, op: &Op<B>) -> Option<crate::decode::Exec<B>> {
    if op.a != Kind::Reg || op.b != Kind::Reg || op.size != 4 {
        return None;
    }
    Some(if op_count == 2 {
        threaded_pure!(imul_result::<B, false>)
    } else {
        threaded_pure!(imul_result::<B, true>)
    })
}

/// IMUL r32, r32 (or, `THREE`, r32, r32, imm) without the flags.
fn imul_result<B: Bus, const THREE: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let x = cpu.get_reg(4, op.rb);
    let y = if THREE { op.imm } else { cpu.get_reg(4, op.ra) };
    cpu.set_reg(4, op.ra, x.wrapping_mul(y));
    Ok(())
}

/// Which multiply or divide: the one-operand forms, and IMUL's two- and three-operand forms.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Form {
    Mul,
    Imul1,
    Imul2,
    Imul3,
    Div,
    Idiv,
}

/// The handler for `form` at the op's operand size, with its r/m operand (A for the
/// one-operand forms, B for IMUL's others) in a register or in memory.
pub fn select<B: Bus>(form: Form, op: &Op<B>) -> crate::decode::Exec<B> {
    let mem = match form {
        Form::Imul2 | Form::Imul3 => op.b == Kind::Mem,
        _ => op.a == Kind::Mem,
    };
    macro_rules! pick {
        ($f:ident) => {
            // A register operand leaves the op register-only (a divide error is a fault,
            // which the block loop places from the op).
            match (op.size, mem) {
                (1, false) => threaded_pure!($f::<B, 1, false>),
                (1, true) => threaded!($f::<B, 1, true>),
                (2, false) => threaded_pure!($f::<B, 2, false>),
                (2, true) => threaded!($f::<B, 2, true>),
                (_, false) => threaded_pure!($f::<B, 4, false>),
                (_, true) => threaded!($f::<B, 4, true>),
            }
        };
    }
    match form {
        Form::Mul => pick!(mul),
        Form::Imul1 => pick!(imul1),
        Form::Imul2 => pick!(imul_n),
        Form::Imul3 => pick!(imul3),
        Form::Div => pick!(div),
        Form::Idiv => pick!(idiv),
    }
}
