//! MUL, IMUL (one, two and three operands), DIV, IDIV.

use super::{mask, sext};
use crate::decode::Op;
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
fn mul_flags<B: Bus>(cpu: &mut Cpu<B>, size: u8, lo: u32, overflow: bool) {
    cpu.flags.set_result(size, lo, overflow, overflow, false);
}

pub fn mul<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let s = cpu.read_a(op)? as u64;
    let a = cpu.get_reg(op.size, 0) as u64;
    let p = a * s;
    let bits = op.size as u32 * 8;
    let lo = (p as u32) & mask(op.size);
    let hi = (p >> bits) as u32 & mask(op.size);
    acc_set(cpu, op.size, lo, hi);
    mul_flags(cpu, op.size, lo, hi != 0);
    Ok(())
}

pub fn imul1<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let s = sext(op.size, cpu.read_a(op)?) as i64;
    let a = sext(op.size, cpu.get_reg(op.size, 0)) as i64;
    let p = a * s;
    let bits = op.size as u32 * 8;
    let lo = (p as u32) & mask(op.size);
    let hi = (p >> bits) as u32 & mask(op.size);
    acc_set(cpu, op.size, lo, hi);
    mul_flags(cpu, op.size, lo, p != sext(op.size, lo) as i64);
    Ok(())
}

fn imul_into<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, x: u32, y: u32) {
    let p = sext(op.size, x) as i64 * sext(op.size, y) as i64;
    let lo = (p as u32) & mask(op.size);
    cpu.set_reg(op.size, op.ra, lo);
    mul_flags(cpu, op.size, lo, p != sext(op.size, lo) as i64);
}

/// IMUL r, r/m
pub fn imul_n<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let y = cpu.read_b(op)?;
    let x = cpu.get_reg(op.size, op.ra);
    imul_into(cpu, op, x, y);
    Ok(())
}

/// IMUL r, r/m, imm
pub fn imul3<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let x = cpu.read_b(op)?;
    imul_into(cpu, op, x, op.imm2);
    Ok(())
}

pub fn div<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let d = cpu.read_a(op)? as u64;
    if d == 0 {
        return Err(Exc::de());
    }
    let n = acc_get(cpu, op.size);
    let q = n / d;
    if q > mask(op.size) as u64 {
        return Err(Exc::de());
    }
    acc_set(cpu, op.size, q as u32, (n % d) as u32);
    Ok(())
}

pub fn idiv<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let d = sext(op.size, cpu.read_a(op)?) as i64;
    if d == 0 {
        return Err(Exc::de());
    }
    let n = acc_get(cpu, op.size);
    let bits = op.size as u32 * 16;
    // Sign-extend the double-width dividend.
    let n = ((n << (64 - bits)) as i64) >> (64 - bits);
    let q = n.wrapping_div(d);
    let r = n.wrapping_rem(d);
    let half = 1i64 << (op.size as u32 * 8 - 1);
    if q >= half || q < -half {
        return Err(Exc::de());
    }
    acc_set(cpu, op.size, q as u32, r as u32);
    Ok(())
}
