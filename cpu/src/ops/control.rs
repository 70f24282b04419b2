//! Jumps, calls, returns, loops, software interrupts, HLT.

use super::mask;
use crate::decode::Op;
use crate::decode::{threaded, threaded_branch, threaded_fast};
use crate::exception::{self, Exc};
use crate::knownflags::Setter;
use crate::regs::{Reg, SegReg};
use crate::{Bus, Cpu};

/// Sets EIP to a near target truncated to the operand size, checking the CS limit.
#[inline(always)]
fn near_to<B: Bus>(cpu: &mut Cpu<B>, target: u32, osize: u8) -> Result<(), Exc> {
    let t = target & mask(osize);
    if t > cpu.seg[SegReg::Cs as usize].limit {
        return Err(Exc::gp(0));
    }
    cpu.eip = t;
    Ok(())
}

pub fn jmp_near_rm<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let t = cpu.read_a(op)?;
    near_to(cpu, t, op.size)
}

/// Jcc with the condition fixed at decode time, so the flag test folds to the one or two
/// lazy-flag computations it needs; 32-bit operand size, the common case, also fixed (no
/// truncation of the target).
pub fn select_jcc<B: Bus>(cc: u8, osize: u8) -> crate::decode::Exec<B> {
    macro_rules! pick {
        ($($n:literal)*) => {
            match (cc, osize) {
                $(($n, 4) => threaded_branch!(|c: &Cpu<B>| c.cond($n), jcc_to::<B, 4>),)*
                $(($n, _) => threaded_branch!(|c: &Cpu<B>| c.cond($n), jcc_to::<B, 2>),)*
                _ => threaded!(jcc::<B>),
            }
        };
    }
    pick!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
}

/// Jcc after a known flag setter (`crate::knownflags`): the condition read from the
/// setter's operands or result, where the setter determines it (32-bit operand size).
pub fn select_jcc_after<B: Bus>(
    cc: u8,
    osize: u8,
    setter: Setter,
) -> Option<crate::decode::Exec<B>> {
    if osize != 4 {
        return None;
    }
    // The condition read through `Flags::cond_by`, as SETcc and CMOVcc do.
    macro_rules! conds {
        ($src:literal, $($n:literal)*) => {
            match cc {
                $($n => threaded_branch!(|c: &Cpu<B>| c.flags.cond_by::<$src>($n), jcc_to::<B, 4>),)*
                _ => return None,
            }
        };
    }
    Some(match setter {
        Setter::Sub32 => conds!(1, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
        Setter::Logic32 => conds!(2, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
        // JE/JNE, JS/JNS, JP/JNP.
        Setter::Result32 => conds!(3, 4 5 8 9 10 11),
    })
}

/// JMP rel by operand size.
pub fn select_jmp_rel<B: Bus>(osize: u8) -> crate::decode::Exec<B> {
    match osize {
        4 => threaded!(jmp_rel_o::<B, 4>),
        _ => threaded!(jmp_rel_o::<B, 2>),
    }
}

fn jmp_rel_o<B: Bus, const O: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    near_to(cpu, cpu.eip.wrapping_add(op.imm), O)
}

/// A taken conditional branch, with the operand size fixed: Jcc does not end its block (the
/// not-taken path runs on in it), so a taken one stops the block here (see
/// `decode::threaded_branch!`).
fn jcc_to<B: Bus, const O: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    near_to(cpu, cpu.eip.wrapping_add(op.imm), O)?;
    cpu.stop = true;
    cpu.taken = true;
    Ok(())
}

pub fn jcc<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    match (cpu.cond(op.aux), op.osize) {
        (false, _) => Ok(()),
        (true, 4) => jcc_to::<B, 4>(cpu, op),
        (true, _) => jcc_to::<B, 2>(cpu, op),
    }
}

/// The count register of LOOP/JCXZ: CX or ECX by address size.
#[inline]
fn counter<B: Bus>(cpu: &Cpu<B>, amask: u32) -> u32 {
    cpu.r[Reg::Ecx as usize] & amask
}

pub fn jcxz<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    // JECXZ is JCXZ with a 32-bit address size: the address size picks the register.
    if counter(cpu, op.amask()) == 0 {
        near_to(cpu, cpu.eip.wrapping_add(op.imm), op.osize)?;
    }
    Ok(())
}

#[inline]
fn loop_common<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, extra: bool) -> Result<(), Exc> {
    let c = counter(cpu, op.amask()).wrapping_sub(1) & op.amask();
    let old = cpu.r[Reg::Ecx as usize];
    cpu.r[Reg::Ecx as usize] = (old & !op.amask()) | c;
    if c != 0 && extra {
        if let Err(e) = near_to(cpu, cpu.eip.wrapping_add(op.imm), op.osize) {
            cpu.r[Reg::Ecx as usize] = old;
            return Err(e);
        }
    }
    Ok(())
}

pub fn loop_<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    loop_common(cpu, op, true)
}
pub fn loope<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let z = cpu.flags.zf();
    loop_common(cpu, op, z)
}
pub fn loopne<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let z = cpu.flags.zf();
    loop_common(cpu, op, !z)
}

/// CALL rel by operand size.
pub fn select_call_rel<B: Bus>(osize: u8) -> crate::decode::Exec<B> {
    match osize {
        4 => threaded_fast!(call_rel_fast::<B>, call_rel::<B, 4>),
        _ => threaded!(call_rel::<B, 2>),
    }
}

/// The fast path of a 32-bit CALL rel (see `decode::threaded_fast!`): the target within the
/// CS limit and the push through the host TLB; otherwise [`call_rel`] with nothing changed.
fn call_rel_fast<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let ret = cpu.eip;
    let t = cpu.eip.wrapping_add(op.imm);
    if t > cpu.seg[SegReg::Cs as usize].limit || !cpu.push_fast(4, ret) {
        return false;
    }
    cpu.eip = t;
    true
}

fn call_rel<B: Bus, const O: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let ret = cpu.eip;
    let t = cpu.eip.wrapping_add(op.imm) & mask(O);
    if t > cpu.seg[SegReg::Cs as usize].limit {
        return Err(Exc::gp(0));
    }
    cpu.push(O, ret)?;
    cpu.eip = t;
    Ok(())
}

pub fn call_near_rm<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let t = cpu.read_a(op)? & mask(op.size);
    if t > cpu.seg[SegReg::Cs as usize].limit {
        return Err(Exc::gp(0));
    }
    cpu.push(op.size, cpu.eip)?;
    cpu.eip = t;
    Ok(())
}

/// RET [imm16]
/// RET (near), by operand size and whether it releases stack bytes (RET imm16).
pub fn select_ret<B: Bus>(op: &Op<B>) -> crate::decode::Exec<B> {
    match (op.osize, op.a == crate::decode::Kind::Imm) {
        (4, false) => threaded_fast!(ret_fast::<B>, ret::<B, 4, false>),
        (4, true) => threaded!(ret::<B, 4, true>),
        (_, false) => threaded!(ret::<B, 2, false>),
        (_, true) => threaded!(ret::<B, 2, true>),
    }
}

/// The fast path of a 32-bit RET: the pop through the host TLB and the target within the
/// CS limit; otherwise [`ret`] with nothing changed.
fn ret_fast<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> bool {
    if !cpu.stack32() {
        return false;
    }
    let sp = cpu.r[Reg::Esp as usize];
    match cpu.read_fast(SegReg::Ss as u8, sp, 4) {
        Some(t) if t <= cpu.seg[SegReg::Cs as usize].limit => {
            cpu.eip = t;
            cpu.r[Reg::Esp as usize] = sp.wrapping_add(4);
            true
        }
        _ => false,
    }
}

fn ret<B: Bus, const O: u8, const IMM: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let t = cpu.peek(0, O)?;
    near_to(cpu, t, O)?;
    let n = O as u32 + if IMM { op.imm & 0xFFFF } else { 0 };
    cpu.add_sp(n);
    Ok(())
}

pub fn jmp_far<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    cpu.far_jump(op.disp as u16, op.imm, op.osize)
}

pub fn call_far<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    cpu.far_call(op.disp as u16, op.imm, op.osize)
}

/// The offset and selector of an m16:16 / m16:32 operand.
fn far_ptr<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(u16, u32), Exc> {
    let ea = cpu.ea(op);
    let off_size = op.size - 2;
    let off = cpu.read_mem(op.seg, ea, off_size)?;
    let sel = cpu.read16(op.seg, ea.wrapping_add(off_size as u32) & op.amask())?;
    Ok((sel, off))
}

pub fn jmp_far_mem<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (sel, off) = far_ptr(cpu, op)?;
    cpu.far_jump(sel, off, op.size - 2)
}

pub fn call_far_mem<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (sel, off) = far_ptr(cpu, op)?;
    cpu.far_call(sel, off, op.size - 2)
}

pub fn retf<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let n = if op.a == crate::decode::Kind::Imm {
        op.imm & 0xFFFF
    } else {
        0
    };
    cpu.far_return(op.osize, n)
}

pub fn int<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    cpu.software_interrupt(op.imm as u8, true)
}

pub fn int3<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.software_interrupt(exception::BP, false)
}

/// INT1 (ICEBP, F1) behaves like a debug exception trap.
pub fn int1<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    cpu.deliver(Exc::new(exception::DB), false)
}

pub fn into<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    if cpu.flags.of() {
        cpu.software_interrupt(exception::OF, false)?;
    }
    Ok(())
}

pub fn iret<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    cpu.iret(op.osize)
}

pub fn hlt<B: Bus>(cpu: &mut Cpu<B>, _op: &Op<B>) -> Result<(), Exc> {
    if cpu.cpl() != 0 {
        return Err(Exc::gp(0));
    }
    cpu.halted = true;
    cpu.stop = true;
    cpu.stats.halts += 1;
    Ok(())
}
