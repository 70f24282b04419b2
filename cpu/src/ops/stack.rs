//! PUSH/POP and friends, ENTER/LEAVE.

use crate::decode::Op;
use crate::exception::Exc;
use crate::flags;
use crate::regs::{Reg, SegReg};
use crate::{Bus, Cpu};

/// PUSH r16/r32 (PUSH ESP pushes the value from before the push).
pub fn push_reg<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.get_reg(S, op.ra);
    cpu.push(S, v)
}

/// PUSH r16/r32 with its fast path (see `decode::threaded_fast!`).
pub(crate) fn push_reg_for<B: Bus, const S: u8>() -> crate::decode::Exec<B> {
    crate::decode::threaded_fast!(push_reg_fast::<B, S>, push_reg::<B, S>)
}

fn push_reg_fast<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let v = cpu.get_reg(S, op.ra);
    cpu.push_fast(S, v)
}

/// POP r16/r32 with its fast path.
pub(crate) fn pop_reg_for<B: Bus, const S: u8>() -> crate::decode::Exec<B> {
    crate::decode::threaded_fast!(pop_reg_fast::<B, S>, pop_reg::<B, S>)
}

fn pop_reg_fast<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let Some(v) = cpu.pop_fast(S) else {
        return false;
    };
    cpu.set_reg(S, op.ra, v);
    true
}

/// POP r16/r32 (POP ESP leaves ESP holding the popped value).
pub fn pop_reg<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.pop(S)?;
    cpu.set_reg(S, op.ra, v);
    Ok(())
}

/// A run of one-byte PUSH r32 (ESP excluded) fused at decode into one op: `aux` pushes of
/// the registers in `imm`'s nibbles, first in the lowest. Each push is the plain one, with
/// every check; the run saves only the dispatches between them (function prologues push
/// three or four registers in a row). It stays exact: a fault in the first push is the op's
/// fault; a fault in a later one, a write to code, or single-stepping ends the run after the
/// pushes done (see [`Cpu::end_run`]), and the run loop goes on at the next push.
pub(crate) fn push_run_for<B: Bus>() -> crate::decode::Exec<B> {
    crate::decode::threaded_fast!(push_run_fast::<B>, push_run::<B>)
}

/// The fast path of [`push_run`]: the whole run's bytes inside SS and in one page the host
/// TLB maps for writing, so every push goes through (checked once, before the first).
fn push_run_fast<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let n = op.aux as u32;
    if cpu.single_insn || !cpu.stack32() {
        return false;
    }
    let low = cpu.r[Reg::Esp as usize].wrapping_sub(4 * n);
    match cpu.seg_ok(SegReg::Ss as u8, low, 4 * n, crate::regs::SEG_WRITE) {
        Some(lin) if cpu.mem.host_writable(lin, cpu.cpl, 4 * n) => {}
        _ => return false,
    }
    for j in 0..n {
        let v = cpu.r[(op.imm >> (4 * j)) as usize & 7];
        let pushed = cpu.push_fast(4, v);
        debug_assert!(pushed, "the run's range was checked");
    }
    cpu.end_run(op, n);
    true
}

pub(crate) fn pop_run_for<B: Bus>() -> crate::decode::Exec<B> {
    crate::decode::threaded_fast!(pop_run_fast::<B>, pop_run::<B>)
}

/// The fast path of [`pop_run`], as [`push_run_fast`].
fn pop_run_fast<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> bool {
    let n = op.aux as u32;
    if cpu.single_insn || !cpu.stack32() {
        return false;
    }
    let esp = cpu.r[Reg::Esp as usize];
    match cpu.seg_ok(SegReg::Ss as u8, esp, 4 * n, crate::regs::SEG_READ) {
        Some(lin) if cpu.mem.host_read_ok(lin, cpu.cpl, 4 * n) => {}
        _ => return false,
    }
    for j in 0..n {
        let v = cpu.pop_fast(4);
        debug_assert!(v.is_some(), "the run's range was checked");
        cpu.r[(op.imm >> (4 * j)) as usize & 7] = v.unwrap_or(0);
    }
    cpu.end_run(op, n);
    true
}

pub fn push_run<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let n = if cpu.single_insn { 1 } else { op.aux as u32 };
    for j in 0..n {
        let v = cpu.r[(op.imm >> (4 * j)) as usize & 7];
        if let Err(e) = cpu.push(4, v) {
            if j == 0 {
                return Err(e);
            }
            cpu.end_run(op, j);
            return Ok(());
        }
        // A store into a page holding code may have rewritten the pushes still to come.
        if cpu.mem.code_written {
            cpu.end_run(op, j + 1);
            return Ok(());
        }
    }
    cpu.end_run(op, n);
    Ok(())
}

/// A run of one-byte POP r32 (ESP excluded), as [`push_run`].
pub fn pop_run<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let n = if cpu.single_insn { 1 } else { op.aux as u32 };
    for j in 0..n {
        match cpu.pop(4) {
            Ok(v) => cpu.r[(op.imm >> (4 * j)) as usize & 7] = v,
            Err(e) if j == 0 => return Err(e),
            Err(_) => {
                cpu.end_run(op, j);
                return Ok(());
            }
        }
    }
    cpu.end_run(op, n);
    Ok(())
}

pub fn push<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.read_a(op)?;
    cpu.push(op.size, v)
}

/// POP r/m. An ESP-based destination address is computed after the increment (SDM).
pub fn pop<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.peek(0, op.size)?;
    let old_sp = cpu.r[Reg::Esp as usize];
    cpu.add_sp(op.size as u32);
    if let Err(e) = cpu.write_a(op, v) {
        cpu.r[Reg::Esp as usize] = old_sp;
        return Err(e);
    }
    Ok(())
}

/// PUSH Sreg with a 32-bit operand size writes the selector zero-extended.
pub fn push_seg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.seg[op.ra as usize % 6].sel as u32;
    cpu.push(op.osize, v)
}

pub fn pop_seg<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let v = cpu.peek(0, op.osize)? as u16;
    // ESP moves by the size of the stack the value came from, before SS (maybe) changes.
    let old = cpu.r[Reg::Esp as usize];
    cpu.add_sp(op.osize as u32);
    if let Err(e) = cpu.load_seg(SegReg::from_index(op.ra), v) {
        cpu.r[Reg::Esp as usize] = old;
        return Err(e);
    }
    if op.ra == SegReg::Ss as u8 {
        // The run loop applies the interrupt shadow at the block boundary.
        cpu.int_shadow = true;
        cpu.stop = true;
    }
    Ok(())
}

/// PUSHA/PUSHAD: all eight registers, the stack pointer as it was before the first push.
/// The frame is checked as a whole before anything is written.
pub fn pusha<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.osize;
    let vals: [u32; 8] = std::array::from_fn(|i| cpu.r[i]);
    let saved = cpu.r[Reg::Esp as usize];
    for v in vals {
        if let Err(e) = cpu.push(size, v) {
            cpu.r[Reg::Esp as usize] = saved;
            return Err(e);
        }
    }
    Ok(())
}

pub fn popa<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.osize;
    let mut vals = [0u32; 8];
    for (i, v) in vals.iter_mut().enumerate() {
        *v = cpu.peek((7 - i as u32) * size as u32, size)?;
    }
    for (i, &v) in vals.iter().enumerate() {
        if i != Reg::Esp as usize {
            cpu.set_reg(size, i as u8, v);
        }
    }
    cpu.add_sp(8 * size as u32);
    Ok(())
}

/// PUSHF: VM and RF read as zero in the pushed image.
pub fn pushf<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    if cpu.flags.vm() && cpu.flags.iopl() < 3 {
        return Err(Exc::gp(0));
    }
    let f = cpu.flags.get() & !(flags::VM | flags::RF);
    cpu.push(op.osize, f)
}

pub fn popf<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    if cpu.flags.vm() && cpu.flags.iopl() < 3 {
        return Err(Exc::gp(0));
    }
    let v = cpu.pop(op.osize)?;
    cpu.write_flags(v, op.osize);
    cpu.stop = true;
    Ok(())
}

/// ENTER imm16, imm8: builds a stack frame with `level` nested frame pointers.
pub fn enter<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.osize;
    let alloc = op.imm & 0xFFFF;
    let level = op.disp & 0x1F;
    let saved_sp = cpu.r[Reg::Esp as usize];
    let res = (|| {
        let bp = cpu.get_reg(size, Reg::Ebp as u8);
        cpu.push(size, bp)?;
        // The frame pointer is ESP as a whole (only BP is written for a 16-bit operand), as
        // 386-class hardware does even on a 16-bit stack (test386 checks this).
        let frame = cpu.r[Reg::Esp as usize];
        if level > 0 {
            let bp_mask = if cpu.stack32() { u32::MAX } else { 0xFFFF };
            let mut b = cpu.r[Reg::Ebp as usize] & bp_mask;
            for _ in 1..level {
                b = b.wrapping_sub(size as u32) & bp_mask;
                let v = cpu.read_mem(SegReg::Ss as u8, b, size)?;
                cpu.push(size, v)?;
            }
            cpu.push(size, frame)?;
        }
        let new_sp = cpu.sp().wrapping_sub(alloc);
        // The final stack pointer must address valid stack (checked by a probe write).
        if alloc > 0 {
            let mask = if cpu.stack32() { u32::MAX } else { 0xFFFF };
            let lin = cpu.lin_w(SegReg::Ss as u8, new_sp & mask, 1)?;
            // The new stack top must also be writable through paging (#PF otherwise).
            cpu.translate(lin, true)?;
        }
        cpu.set_reg(size, Reg::Ebp as u8, frame);
        cpu.set_sp(new_sp);
        Ok(())
    })();
    if res.is_err() {
        cpu.r[Reg::Esp as usize] = saved_sp;
    }
    res
}

pub fn leave<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.osize;
    let bp = if cpu.stack32() {
        cpu.r[Reg::Ebp as usize]
    } else {
        cpu.r[Reg::Ebp as usize] & 0xFFFF
    };
    // Real mode reports a frame pointer past the stack limit as #GP, not #SS (SDM LEAVE).
    let v = match cpu.read_mem(SegReg::Ss as u8, bp, size) {
        Err(e) if !cpu.pe() && e.vector() == crate::exception::SS => return Err(Exc::gp(0)),
        r => r?,
    };
    cpu.set_sp(bp.wrapping_add(size as u32));
    cpu.set_reg(size, Reg::Ebp as u8, v);
    Ok(())
}
