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

/// Moves ESI or EDI over `len` bytes (one element, or a run) in the string direction.
#[inline]
fn advance<B: Bus>(cpu: &mut Cpu<B>, r: Reg, amask: u32, len: u32) {
    let step = if cpu.flags.df() {
        len.wrapping_neg()
    } else {
        len
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
/// (and, for CMPS/SCAS, while the REPE/REPNE condition holds). Before each element, `bulk`
/// may do a run of up to its argument's elements at once and return how many it did (0:
/// none, so `one` does the next).
#[inline(always)]
fn repeat<B: Bus>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
    compares: bool,
    mut bulk: impl FnMut(&mut Cpu<B>, u32) -> u32,
    mut one: impl FnMut(&mut Cpu<B>) -> Result<(), Exc>,
) -> Result<(), Exc> {
    if op.aux == 0 {
        return one(cpu);
    }
    let am = op.amask();
    let mut n = 0;
    loop {
        let c = cpu.r[Reg::Ecx as usize] & am;
        if c == 0 {
            return Ok(());
        }
        if n >= CHUNK {
            cpu.restart(op);
            return Ok(());
        }
        let k = bulk(cpu, c.min(CHUNK - n));
        if k != 0 {
            set_count(cpu, am, c - k);
            n += k;
            continue;
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

/// No bulk runs: every element through `one`.
fn no_bulk<B: Bus>(_: &mut Cpu<B>, _: u32) -> u32 {
    0
}

/// A run of REP elements done at once: `k` elements of `size` bytes starting at offset
/// `off` and going down when DF is set, so they cover `len` bytes from offset `low` up.
struct Run {
    k: u32,
    low: u32,
    len: u32,
}

/// The longest run from offset `off` in segment `seg` the string direction allows, at most
/// `max` elements: all inside the page of the first element, none across the address-size
/// wrap. None when bulk runs are off, or the first element crosses its page or the wrap.
#[inline(always)]
fn run_from<B: Bus>(cpu: &Cpu<B>, seg: u8, off: u32, am: u32, size: u8, max: u32) -> Option<Run> {
    if !cpu.bulk_strings {
        return None;
    }
    let s = cpu.seg.get(seg as usize)?;
    let in_page = s.base.wrapping_add(off) & 0xFFF;
    let size = size as u32;
    if in_page + size > 0x1000 {
        return None;
    }
    let k = if cpu.flags.df() {
        // Down to the page start, and to offset 0.
        max.min(in_page / size + 1)
            .min((off / size).saturating_add(1))
    } else {
        // Up to the page end, and to the top of the address size.
        let below_wrap = ((am as u64 - off as u64 + 1) / size as u64) as u32;
        max.min((0x1000 - in_page) / size).min(below_wrap)
    };
    if k == 0 {
        return None;
    }
    let len = k * size;
    let low = if cpu.flags.df() {
        off - (len - size)
    } else {
        off
    };
    Some(Run { k, low, len })
}

/// REP MOVS a run at a time: the run's segment checks pass and the host TLB maps both
/// sides (no fault, no device, no code, no ROM), so the run is one copy. Anything else, and
/// a run whose destination overlaps its source in the way that replicates a pattern, is
/// left to the element path.
fn movs_bulk<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, max: u32) -> u32 {
    let (size, am) = (op.size, op.amask());
    let (si, di) = (idx(cpu, Reg::Esi, am), idx(cpu, Reg::Edi, am));
    let Some(s) = run_from(cpu, op.seg, si, am, size, max) else {
        return 0;
    };
    let Some(d) = run_from(cpu, ES, di, am, size, s.k) else {
        return 0;
    };
    // The shorter run decides; a cut run keeps the elements next to the start.
    let len = d.k * size as u32;
    let (s_low, d_low) = if cpu.flags.df() {
        (s.low + (s.len - len), d.low)
    } else {
        (s.low, d.low)
    };
    let (Ok(src), Ok(dst)) = (cpu.lin_r(op.seg, s_low, len), cpu.lin_w(ES, d_low, len)) else {
        return 0;
    };
    if !cpu.mem.host_copy(dst, src, len, cpu.flags.df(), cpu.cpl) {
        return 0;
    }
    cpu.count_host_hit();
    advance(cpu, Reg::Esi, am, len);
    advance(cpu, Reg::Edi, am, len);
    d.k
}

/// REP STOS a run at a time, as [`movs_bulk`].
fn stos_bulk<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>, v: u32, max: u32) -> u32 {
    let (size, am) = (op.size, op.amask());
    let di = idx(cpu, Reg::Edi, am);
    let Some(d) = run_from(cpu, ES, di, am, size, max) else {
        return 0;
    };
    let Ok(dst) = cpu.lin_w(ES, d.low, d.len) else {
        return 0;
    };
    if !cpu.mem.host_fill_elems(dst, d.len, size, v, cpu.cpl) {
        return 0;
    }
    cpu.count_host_hit();
    advance(cpu, Reg::Edi, am, d.len);
    d.k
}

pub fn movs<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask());
    let bulk = |cpu: &mut Cpu<B>, max| movs_bulk(cpu, op, max);
    repeat(cpu, op, false, bulk, |cpu| {
        let v = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        cpu.write_mem(ES, idx(cpu, Reg::Edi, am), size, v)?;
        advance(cpu, Reg::Esi, am, size.into());
        advance(cpu, Reg::Edi, am, size.into());
        Ok(())
    })
}

pub fn cmps<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask());
    repeat(cpu, op, true, no_bulk, |cpu| {
        let a = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        let b = cpu.read_mem(ES, idx(cpu, Reg::Edi, am), size)?;
        let r = a.wrapping_sub(b) & super::mask(size);
        cpu.flags.set_lazy(LazyOp::Sub, size, a, b, r);
        advance(cpu, Reg::Esi, am, size.into());
        advance(cpu, Reg::Edi, am, size.into());
        Ok(())
    })
}

pub fn stos<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask());
    let v = cpu.get_reg(size, 0);
    let bulk = |cpu: &mut Cpu<B>, max| stos_bulk(cpu, op, v, max);
    repeat(cpu, op, false, bulk, |cpu| {
        cpu.write_mem(ES, idx(cpu, Reg::Edi, am), size, v)?;
        advance(cpu, Reg::Edi, am, size.into());
        Ok(())
    })
}

pub fn lods<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask());
    repeat(cpu, op, false, no_bulk, |cpu| {
        let v = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        cpu.set_reg(size, 0, v);
        advance(cpu, Reg::Esi, am, size.into());
        Ok(())
    })
}

pub fn scas<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask());
    let a = cpu.get_reg(size, 0);
    repeat(cpu, op, true, no_bulk, |cpu| {
        let b = cpu.read_mem(ES, idx(cpu, Reg::Edi, am), size)?;
        let r = a.wrapping_sub(b) & super::mask(size);
        cpu.flags.set_lazy(LazyOp::Sub, size, a, b, r);
        advance(cpu, Reg::Edi, am, size.into());
        Ok(())
    })
}

pub fn ins<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size, op.amask());
    let port = cpu.r[Reg::Edx as usize] as u16;
    cpu.check_io(port, size)?;
    cpu.stop = true;
    repeat(cpu, op, false, no_bulk, |cpu| {
        let di = idx(cpu, Reg::Edi, am);
        // Check the destination before the port read, which may have side effects.
        cpu.lin_w(ES, di, size as u32)?;
        let v = {
            cpu.bus.sync(cpu.clock.now_ns(cpu.icount));
            cpu.bus.io_read(port, size)
        };
        cpu.stats.io_exits += 1;
        cpu.write_mem(ES, di, size, v)?;
        advance(cpu, Reg::Edi, am, size.into());
        Ok(())
    })
}

pub fn outs<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let (size, am) = (op.size2, op.amask());
    let port = cpu.r[Reg::Edx as usize] as u16;
    cpu.check_io(port, size)?;
    cpu.stop = true;
    repeat(cpu, op, false, no_bulk, |cpu| {
        let v = cpu.read_mem(op.seg, idx(cpu, Reg::Esi, am), size)?;
        cpu.bus.sync(cpu.clock.now_ns(cpu.icount));
        cpu.bus.io_write(port, size, v);
        cpu.stats.io_exits += 1;
        advance(cpu, Reg::Esi, am, size.into());
        Ok(())
    })
}
