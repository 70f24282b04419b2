//! Two- and one-operand integer arithmetic and logic.

use super::mask;
use crate::decode::Op;
use crate::exception::Exc;
use crate::flags::LazyOp;
use crate::{Bus, Cpu};

const ADD: u8 = 0;
const OR: u8 = 1;
const ADC: u8 = 2;
const SBB: u8 = 3;
const AND: u8 = 4;
const SUB: u8 = 5;
const XOR: u8 = 6;
const CMP: u8 = 7;
const TEST: u8 = 8;

#[inline(always)]
fn binary<B: Bus, const K: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.size;
    let m = mask(size);
    let src = cpu.read_b(op)? & m;
    let loc = if K == CMP || K == TEST {
        cpu.loc_a_read(op, size)?
    } else {
        cpu.loc_a(op, size)?
    };
    let dst = cpu.read_loc(loc, size)?;
    let res = match K {
        ADD => dst.wrapping_add(src),
        OR => dst | src,
        ADC => dst.wrapping_add(src).wrapping_add(cpu.flags.cf() as u32),
        SBB => dst.wrapping_sub(src).wrapping_sub(cpu.flags.cf() as u32),
        AND | TEST => dst & src,
        SUB | CMP => dst.wrapping_sub(src),
        _ => dst ^ src,
    } & m;
    if K != CMP && K != TEST {
        cpu.write_loc(loc, size, res)?;
    }
    match K {
        ADD => cpu.flags.set_lazy(LazyOp::Add, size, dst, src, res),
        SUB | CMP => cpu.flags.set_lazy(LazyOp::Sub, size, dst, src, res),
        ADC => {
            let c = cpu.flags.cf() as u64;
            let cf = dst as u64 + src as u64 + c > m as u64;
            cpu.flags.set_lazy_cf(LazyOp::Add, size, dst, src, res, cf);
        }
        SBB => {
            let c = cpu.flags.cf() as u64;
            let cf = (dst as u64) < src as u64 + c;
            cpu.flags.set_lazy_cf(LazyOp::Sub, size, dst, src, res, cf);
        }
        _ => cpu.flags.set_lazy(LazyOp::Logic, size, dst, src, res),
    }
    Ok(())
}

pub fn add<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, ADD>(cpu, op)
}
pub fn or<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, OR>(cpu, op)
}
pub fn adc<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, ADC>(cpu, op)
}
pub fn sbb<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, SBB>(cpu, op)
}
pub fn and<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, AND>(cpu, op)
}
pub fn sub<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, SUB>(cpu, op)
}
pub fn xor<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, XOR>(cpu, op)
}
pub fn cmp<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, CMP>(cpu, op)
}
pub fn test<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    binary::<B, TEST>(cpu, op)
}

pub fn inc<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let loc = cpu.loc_a(op, op.size)?;
    let d = cpu.read_loc(loc, op.size)?;
    let r = d.wrapping_add(1) & mask(op.size);
    cpu.write_loc(loc, op.size, r)?;
    cpu.flags.set_inc(op.size, d, r);
    Ok(())
}

pub fn dec<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let loc = cpu.loc_a(op, op.size)?;
    let d = cpu.read_loc(loc, op.size)?;
    let r = d.wrapping_sub(1) & mask(op.size);
    cpu.write_loc(loc, op.size, r)?;
    cpu.flags.set_dec(op.size, d, r);
    Ok(())
}

pub fn neg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let loc = cpu.loc_a(op, op.size)?;
    let s = cpu.read_loc(loc, op.size)?;
    let r = 0u32.wrapping_sub(s) & mask(op.size);
    cpu.write_loc(loc, op.size, r)?;
    cpu.flags.set_lazy(LazyOp::Sub, op.size, 0, s, r);
    Ok(())
}

pub fn not<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let loc = cpu.loc_a(op, op.size)?;
    let d = cpu.read_loc(loc, op.size)?;
    cpu.write_loc(loc, op.size, !d & mask(op.size))
}
