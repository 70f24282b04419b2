//! Decimal adjust and ASCII adjust (DAA, DAS, AAA, AAS, AAM, AAD), following the SDM's
//! pseudocode; flags it leaves undefined come out as the arithmetic suggests.

use crate::decode::Op;
use crate::exception::Exc;
use crate::flags::{LazyOp, AF, CF};
use crate::{Bus, Cpu};

fn al<B: Bus>(cpu: &Cpu<B>) -> u8 {
    cpu.r[0] as u8
}

fn set_al<B: Bus>(cpu: &mut Cpu<B>, v: u8) {
    cpu.set_reg(1, 0, v as u32);
}

pub fn daa<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let old = al(cpu);
    let old_cf = cpu.flags.cf();
    let mut a = old;
    let mut cf = false;
    let af = if a & 0xF > 9 || cpu.flags.af() {
        cf = old_cf || a > 0xF9;
        a = a.wrapping_add(6);
        true
    } else {
        false
    };
    if old > 0x99 || old_cf {
        a = a.wrapping_add(0x60);
        cf = true;
    }
    set_al(cpu, a);
    // OF is undefined; P6 parts report signed overflow of the whole adjustment.
    let of = (old & 0x80 == 0) && (a & 0x80 != 0);
    cpu.flags.set_result(1, a as u32, cf, of, af);
    Ok(())
}

pub fn das<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let old = al(cpu);
    let old_cf = cpu.flags.cf();
    let mut a = old;
    let mut cf = false;
    let af = if a & 0xF > 9 || cpu.flags.af() {
        cf = old_cf || a < 6;
        a = a.wrapping_sub(6);
        true
    } else {
        false
    };
    if old > 0x99 || old_cf {
        a = a.wrapping_sub(0x60);
        cf = true;
    }
    set_al(cpu, a);
    let of = (old & 0x80 != 0) && (a & 0x80 == 0);
    cpu.flags.set_result(1, a as u32, cf, of, af);
    Ok(())
}

pub fn aaa<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let ax = cpu.r[0] as u16;
    let adjust = ax as u8 & 0xF > 9 || cpu.flags.af();
    let ax = if adjust { ax.wrapping_add(0x106) } else { ax };
    cpu.set_reg(2, 0, (ax & 0xFF0F) as u32);
    cpu.flags.set_lazy(LazyOp::Logic, 1, 0, 0, ax as u32 & 0xFF);
    cpu.flags.assign(AF, adjust);
    cpu.flags.assign(CF, adjust);
    Ok(())
}

pub fn aas<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    let ax = cpu.r[0] as u16;
    let adjust = ax as u8 & 0xF > 9 || cpu.flags.af();
    let ax = if adjust {
        ax.wrapping_sub(6).wrapping_sub(0x100)
    } else {
        ax
    };
    cpu.set_reg(2, 0, (ax & 0xFF0F) as u32);
    cpu.flags.set_lazy(LazyOp::Logic, 1, 0, 0, ax as u32 & 0xFF);
    cpu.flags.assign(AF, adjust);
    cpu.flags.assign(CF, adjust);
    Ok(())
}

pub fn aam<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let base = op.imm as u8;
    if base == 0 {
        return Err(Exc::de());
    }
    let a = al(cpu);
    let r = a % base;
    cpu.set_reg(2, 0, ((a / base) as u32) << 8 | r as u32);
    cpu.flags.set_lazy(LazyOp::Logic, 1, 0, 0, r as u32);
    Ok(())
}

pub fn aad<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let base = op.imm as u8;
    let a = al(cpu);
    let prod = ((cpu.r[0] >> 8) as u8).wrapping_mul(base);
    let r = a.wrapping_add(prod);
    cpu.set_reg(2, 0, r as u32);
    // Undefined CF/OF/AF come out of the final byte addition on P6 parts.
    cpu.flags
        .set_lazy(LazyOp::Add, 1, a as u32, prod as u32, r as u32);
    Ok(())
}
