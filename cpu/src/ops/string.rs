//! String instructions with REP/REPE/REPNE. Registers are updated after every element, so a
//! fault part-way leaves a state from which the instruction restarts correctly. Long repeats
//! run in chunks and then restart themselves, so interrupts and events are not held off.

use crate::decode::Op;
use crate::exception::Exc;
use crate::flags::LazyOp;
use crate::regs::{Reg, SegReg};
use crate::{Bus, Cpu};

/// Elements one call handles before yielding to the run loop.
const CHUNK: u32 = 4096;

const ES: u8 = SegReg::Es as u8;

#[inline]
fn idx<B: Bus>(cpu: &Cpu<B>, r: Reg, amask: u32) -> u32 {
    cpu.r[r as usize] & amask
}

#[inline]
fn advance<B: Bus>(cpu: &mut Cpu<B>, r: Reg, amask: u32, size: u8) {
    let step = if cpu.flags.df() {
        (size as u32).wrapping_neg()
    } else {
        size as u32
    };
    let v = cpu.r[r as usize];
    cpu.r[r as usize] = (v & !amask) | (v.wrapping_add(step) & amask);
}

#[inline]
fn set_count<B: Bus>(cpu: &mut Cpu<B>, amask: u32, c: u32) {
    let v = cpu.r[Reg::Ecx as usize];
    cpu.r[Reg::Ecx as usize] = (v & !amask) | (c & amask);
}

/// Runs `one` for each element: once without a REP prefix, else while the count is non-zero
/// (and, for CMPS/SCAS, while the REPE/REPNE condition holds).
#[inline(always)]
fn repeat<B: Bus>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
    compares: bool,
    mut one: impl FnMut(&mut Cpu<B>) -> Result<(), Exc>,
) -> Result<(), Exc> {
    if op.aux == 0 {
        return one(cpu);
    }
    let am = op.amask;
    let mut n = 0;
    loop {
        let c = cpu.r[Reg::Ecx as usize] & am;
        if c == 0 {
            return Ok(());
        }
        if n == CHUNK {
            cpu.restart(op);
            return Ok(());
        }
        one(cpu)?;
        set_count(cpu, am, c.wrapping_sub(1));
        n += 1;
        if compares {
            let zf = cpu.flags.zf();
            if (op.aux == 1 && !zf) || (op.aux == 2 && zf) {
                return Ok(());
            }
        }
    }
}

pub fn movs<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask);
    repeat(cpu, op, false, |cpu| {
        let v = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        cpu.write_mem(ES, idx(cpu, Reg::Edi, am), size, v)?;
        advance(cpu, Reg::Esi, am, size);
        advance(cpu, Reg::Edi, am, size);
        Ok(())
    })
}

pub fn cmps<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask);
    repeat(cpu, op, true, |cpu| {
        let a = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        let b = cpu.read_mem(ES, idx(cpu, Reg::Edi, am), size)?;
        let r = a.wrapping_sub(b) & super::mask(size);
        cpu.flags.set_lazy(LazyOp::Sub, size, a, b, r);
        advance(cpu, Reg::Esi, am, size);
        advance(cpu, Reg::Edi, am, size);
        Ok(())
    })
}

pub fn stos<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask);
    let v = cpu.get_reg(size, 0);
    repeat(cpu, op, false, |cpu| {
        cpu.write_mem(ES, idx(cpu, Reg::Edi, am), size, v)?;
        advance(cpu, Reg::Edi, am, size);
        Ok(())
    })
}

pub fn lods<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask);
    repeat(cpu, op, false, |cpu| {
        let v = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        cpu.set_reg(size, 0, v);
        advance(cpu, Reg::Esi, am, size);
        Ok(())
    })
}

pub fn scas<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask);
    let a = cpu.get_reg(size, 0);
    repeat(cpu, op, true, |cpu| {
        let b = cpu.read_mem(ES, idx(cpu, Reg::Edi, am), size)?;
        let r = a.wrapping_sub(b) & super::mask(size);
        cpu.flags.set_lazy(LazyOp::Sub, size, a, b, r);
        advance(cpu, Reg::Edi, am, size);
        Ok(())
    })
}

pub fn ins<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask);
    let port = cpu.r[Reg::Edx as usize] as u16;
    cpu.check_io(port, size)?;
    cpu.stop = true;
    repeat(cpu, op, false, |cpu| {
        let di = idx(cpu, Reg::Edi, am);
        // Check the destination before the port read, which may have side effects.
        cpu.lin_w(ES, di, size as u32)?;
        let v = {
            cpu.bus.sync(cpu.clock.now_ns(cpu.icount));
            cpu.bus.io_read(port, size)
        };
        cpu.stats.io_exits += 1;
        cpu.write_mem(ES, di, size, v)?;
        advance(cpu, Reg::Edi, am, size);
        Ok(())
    })
}

pub fn outs<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size2, op.amask);
    let port = cpu.r[Reg::Edx as usize] as u16;
    cpu.check_io(port, size)?;
    cpu.stop = true;
    repeat(cpu, op, false, |cpu| {
        let v = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        cpu.bus.sync(cpu.clock.now_ns(cpu.icount));
        cpu.bus.io_write(port, size, v);
        cpu.stats.io_exits += 1;
        advance(cpu, Reg::Esi, am, size);
        Ok(())
    })
}
