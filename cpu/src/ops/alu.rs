//! Two- and one-operand integer arithmetic and logic.

use super::mask;
use crate::access::{ea_form, EA_ANY, EA_BASE};
use crate::decode::Op;
use crate::decode::{threaded, threaded_fast, threaded_pure};
use crate::exception::Exc;
use crate::flags::LazyOp;
use crate::{Bus, Cpu};

pub(super) const ADD: u8 = 0;
pub(super) const OR: u8 = 1;
pub(super) const ADC: u8 = 2;
pub(super) const SBB: u8 = 3;
pub(super) const AND: u8 = 4;
pub(super) const SUB: u8 = 5;
pub(super) const XOR: u8 = 6;
pub(super) const CMP: u8 = 7;
pub(super) const TEST: u8 = 8;

/// Any operand forms (memory destinations, mixed sizes): the general path.
pub(super) fn binary<B: Bus, const K: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let size = op.size;
    let src = cpu.read_b(op)? & mask(size);
    let loc = if K == CMP || K == TEST {
        cpu.loc_a_read(op, size)?
    } else {
        cpu.loc_a(op, size)?
    };
    let dst = cpu.read_loc(loc, size)?;
    let res = compute::<B, K>(cpu, dst, src) & mask(size);
    if K != CMP && K != TEST {
        cpu.write_loc(loc, size, res)?;
    }
    flags_of::<B, K>(cpu, size, dst, src, res);
    Ok(())
}

/// The result of operation `K` (before masking).
#[inline(always)]
fn compute<B: Bus, const K: u8>(cpu: &Cpu<B>, dst: u32, src: u32) -> u32 {
    match K {
        ADD => dst.wrapping_add(src),
        OR => dst | src,
        ADC => dst.wrapping_add(src).wrapping_add(cpu.flags.cf() as u32),
        SBB => dst.wrapping_sub(src).wrapping_sub(cpu.flags.cf() as u32),
        AND | TEST => dst & src,
        SUB | CMP => dst.wrapping_sub(src),
        _ => dst ^ src,
    }
}

#[inline(always)]
fn flags_of<B: Bus, const K: u8>(cpu: &mut Cpu<B>, size: u8, dst: u32, src: u32, res: u32) {
    let m = mask(size);
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
}

/// Operand B of a specialised form: register `rb` or (`IMM`) the immediate, size `S`.
#[inline(always)]
fn reg_or_imm<B: Bus, const S: u8, const IMM: bool>(cpu: &Cpu<B>, op: &Op<B>) -> u32 {
    if IMM {
        op.imm & mask(S)
    } else {
        cpu.get_reg(S, op.rb)
    }
}

/// Register destination with a register (`IMM` false) or immediate source, size `S`: the
/// commonest ALU forms, without operand-kind dispatch.
fn binary_reg<B: Bus, const K: u8, const S: u8, const IMM: bool>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let src = reg_or_imm::<B, S, IMM>(cpu, op);
    into_reg::<B, K, S>(cpu, op, src);
    Ok(())
}

fn binary_reg_mem_for<B: Bus, const K: u8, const S: u8, const F: u8>() -> crate::decode::Exec<B> {
    threaded_fast!(
        binary_reg_mem_fast::<B, K, S, F>,
        binary_reg_mem::<B, K, S, F>
    )
}

/// The fast path of [`binary_reg_mem`] (see `decode::threaded_fast!`).
fn binary_reg_mem_fast<B: Bus, const K: u8, const S: u8, const F: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> bool {
    let Some(src) = cpu.read_fast(op.seg, cpu.ea_as::<F>(op), S) else {
        return false;
    };
    into_reg::<B, K, S>(cpu, op, src);
    true
}

/// Register destination, memory source.
fn binary_reg_mem<B: Bus, const K: u8, const S: u8, const F: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let src = cpu.read_mem(op.seg, cpu.ea_as::<F>(op), S)?;
    into_reg::<B, K, S>(cpu, op, src);
    Ok(())
}

/// Memory destination with a register (`IMM` false) or immediate source, size `S`, address
/// form `F`: what [`binary`] does for these forms, in the same order of checks and faults,
/// without its operand-kind dispatch (kernel code is full of `cmp $0, 8(%ebx)` and
/// `orl %eax, (%edx)`; in diverse code a shared handler's kind branches mispredict).
fn binary_mem_for<B: Bus, const K: u8, const S: u8, const IMM: bool, const F: u8>(
) -> crate::decode::Exec<B> {
    threaded_fast!(
        binary_mem_fast::<B, K, S, IMM, F>,
        binary_mem::<B, K, S, IMM, F>
    )
}

/// The fast path of [`binary_mem`] (see `decode::threaded_fast!`): the operand read, and
/// for the writing operations written, through the host TLB.
fn binary_mem_fast<B: Bus, const K: u8, const S: u8, const IMM: bool, const F: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> bool {
    let src = reg_or_imm::<B, S, IMM>(cpu, op);
    let ea = cpu.ea_as::<F>(op);
    let (dst, res) = if K == CMP || K == TEST {
        let Some(dst) = cpu.read_fast(op.seg, ea, S) else {
            return false;
        };
        (dst, compute::<B, K>(cpu, dst, src) & mask(S))
    } else {
        let Some(lin) = cpu.seg_ok(op.seg, ea, S as u32, crate::regs::SEG_WRITE) else {
            return false;
        };
        if !cpu.mem.host_writable(lin, cpu.cpl, S as u32) {
            return false;
        }
        let Some(dst) = cpu.host_read_hit(lin, S) else {
            return false;
        };
        let res = compute::<B, K>(cpu, dst, src) & mask(S);
        let written = cpu.host_write_hit(lin, S, res);
        debug_assert!(written, "host_writable said the store would hit");
        (dst, res)
    };
    flags_of::<B, K>(cpu, S, dst, src, res);
    true
}

fn binary_mem<B: Bus, const K: u8, const S: u8, const IMM: bool, const F: u8>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let src = reg_or_imm::<B, S, IMM>(cpu, op);
    let ea = cpu.ea_as::<F>(op);
    let (dst, res) = if K == CMP || K == TEST {
        let dst = cpu.read_mem(op.seg, ea, S)?;
        (dst, compute::<B, K>(cpu, dst, src) & mask(S))
    } else {
        let lin = cpu.lin_w(op.seg, ea, S as u32)?;
        let dst = cpu.lin_read(lin, S)?;
        let res = compute::<B, K>(cpu, dst, src) & mask(S);
        cpu.lin_write(lin, S, res)?;
        (dst, res)
    };
    flags_of::<B, K>(cpu, S, dst, src, res);
    Ok(())
}

/// `reg K= src` for the register-destination forms (CMP and TEST only set flags).
#[inline(always)]
fn into_reg<B: Bus, const K: u8, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>, src: u32) {
    let dst = cpu.get_reg(S, op.ra);
    let res = compute::<B, K>(cpu, dst, src) & mask(S);
    if K != CMP && K != TEST {
        cpu.set_reg(S, op.ra, res);
    }
    flags_of::<B, K>(cpu, S, dst, src, res);
}

/// The handler of a register-destination ALU op whose flags are dead (`crate::deadflags`):
/// 32-bit forms only, the result alone; CMP and TEST, having no result, do nothing.
pub(crate) fn flagless<B: Bus>(
    mnemonic: iced_x86::Mnemonic,
    op: &Op<B>,
) -> Option<crate::decode::Exec<B>> {
    use crate::decode::Kind;
    use iced_x86::Mnemonic as M;
    let imm = match (op.a, op.b, op.size, op.size2) {
        (Kind::Reg, Kind::Reg, 4, 4) => false,
        (Kind::Reg, Kind::Imm, 4, _) => true,
        _ => return None,
    };
    macro_rules! pick {
        ($k:expr) => {
            if imm {
                threaded_pure!(result_reg::<B, $k, true>)
            } else {
                threaded_pure!(result_reg::<B, $k, false>)
            }
        };
    }
    Some(match mnemonic {
        M::Add => pick!(ADD),
        M::Sub => pick!(SUB),
        M::And => pick!(AND),
        M::Or => pick!(OR),
        M::Xor => pick!(XOR),
        M::Cmp | M::Test => threaded_pure!(super::data::nop),
        _ => return None,
    })
}

/// The handler of INC or DEC r32 whose flags (all but CF, which it keeps) are dead
/// (`crate::deadflags`).
pub(crate) fn flagless_incdec<B: Bus>(
    mnemonic: iced_x86::Mnemonic,
    op: &Op<B>,
) -> Option<crate::decode::Exec<B>> {
    use crate::decode::Kind;
    if op.a != Kind::Reg || op.size != 4 {
        return None;
    }
    Some(match mnemonic {
        iced_x86::Mnemonic::Inc => threaded_pure!(incdec_result::<B, true>),
        iced_x86::Mnemonic::Dec => threaded_pure!(incdec_result::<B, false>),
        _ => return None,
    })
}

/// The handler of NEG r32 whose flags are dead (`crate::deadflags`).
pub(crate) fn flagless_neg<B: Bus>(op: &Op<B>) -> Option<crate::decode::Exec<B>> {
    (op.a == crate::decode::Kind::Reg && op.size == 4).then_some(threaded_pure!(neg_result::<B>))
}

/// [`neg_reg`] at 32 bits without the flags.
fn neg_result<B: Bus>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let r = 0u32.wrapping_sub(cpu.get_reg(4, op.ra));
    cpu.set_reg(4, op.ra, r);
    Ok(())
}

/// [`incdec_reg`] at 32 bits without the flags.
fn incdec_result<B: Bus, const INC: bool>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let d = cpu.get_reg(4, op.ra);
    let r = if INC {
        d.wrapping_add(1)
    } else {
        d.wrapping_sub(1)
    };
    cpu.set_reg(4, op.ra, r);
    Ok(())
}

/// [`binary_reg`] at 32 bits without the flags.
fn result_reg<B: Bus, const K: u8, const IMM: bool>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let src = reg_or_imm::<B, 4, IMM>(cpu, op);
    let dst = cpu.get_reg(4, op.ra);
    let res = compute::<B, K>(cpu, dst, src);
    cpu.set_reg(4, op.ra, res);
    Ok(())
}

/// The handler for a binary ALU op given its operand forms, specialised where it pays.
pub fn select<B: Bus>(mnemonic: iced_x86::Mnemonic, op: &Op<B>) -> crate::decode::Exec<B> {
    use crate::decode::Kind;
    use iced_x86::Mnemonic as M;
    // Memory destination, by source kind, size and address form, for the operation `K` of
    // the enclosing `pick!`.
    macro_rules! mem_dest {
        () => {{
            let base = ea_form(op) == EA_BASE;
            match (op.b == Kind::Imm, op.size, base) {
                (false, 1, _) => binary_mem_for::<B, K, 1, false, EA_ANY>(),
                (false, 2, _) => binary_mem_for::<B, K, 2, false, EA_ANY>(),
                (false, 4, true) => binary_mem_for::<B, K, 4, false, EA_BASE>(),
                (false, 4, false) => binary_mem_for::<B, K, 4, false, EA_ANY>(),
                (true, 1, _) => binary_mem_for::<B, K, 1, true, EA_ANY>(),
                (true, 2, _) => binary_mem_for::<B, K, 2, true, EA_ANY>(),
                (true, 4, true) => binary_mem_for::<B, K, 4, true, EA_BASE>(),
                (true, 4, false) => binary_mem_for::<B, K, 4, true, EA_ANY>(),
                _ => threaded!(binary::<B, K>),
            }
        }};
    }
    macro_rules! pick {
        ($k:expr) => {{
            const K: u8 = $k;
            match (op.a, op.b, op.size) {
                (Kind::Reg, Kind::Reg, 1) if op.size2 == 1 => {
                    threaded_pure!(binary_reg::<B, K, 1, false>)
                }
                (Kind::Reg, Kind::Reg, 2) if op.size2 == 2 => {
                    threaded_pure!(binary_reg::<B, K, 2, false>)
                }
                (Kind::Reg, Kind::Reg, 4) if op.size2 == 4 => {
                    threaded_pure!(binary_reg::<B, K, 4, false>)
                }
                (Kind::Reg, Kind::Imm, 1) => threaded_pure!(binary_reg::<B, K, 1, true>),
                (Kind::Reg, Kind::Imm, 2) => threaded_pure!(binary_reg::<B, K, 2, true>),
                (Kind::Reg, Kind::Imm, 4) => threaded_pure!(binary_reg::<B, K, 4, true>),
                (Kind::Reg, Kind::Mem, 1) if op.size2 == 1 => {
                    binary_reg_mem_for::<B, K, 1, EA_ANY>()
                }
                (Kind::Reg, Kind::Mem, 2) if op.size2 == 2 => {
                    binary_reg_mem_for::<B, K, 2, EA_ANY>()
                }
                (Kind::Reg, Kind::Mem, 4) if op.size2 == 4 && ea_form(op) == EA_BASE => {
                    binary_reg_mem_for::<B, K, 4, EA_BASE>()
                }
                (Kind::Reg, Kind::Mem, 4) if op.size2 == 4 => {
                    binary_reg_mem_for::<B, K, 4, EA_ANY>()
                }
                (Kind::Mem, Kind::Imm, _) => mem_dest!(),
                (Kind::Mem, Kind::Reg, _) if op.size2 == op.size => mem_dest!(),
                _ => threaded!(binary::<B, K>),
            }
        }};
    }
    match mnemonic {
        M::Add => pick!(ADD),
        M::Or => pick!(OR),
        M::Adc => pick!(ADC),
        M::Sbb => pick!(SBB),
        M::And => pick!(AND),
        M::Sub => pick!(SUB),
        M::Xor => pick!(XOR),
        M::Cmp => pick!(CMP),
        _ => pick!(TEST),
    }
}

/// INC/DEC: register forms specialised by size (they are loop counters), the rest general.
pub fn select_incdec<B: Bus>(is_inc: bool, op: &Op<B>) -> crate::decode::Exec<B> {
    use crate::decode::Kind;
    match (op.a, op.size, is_inc) {
        (Kind::Reg, 1, true) => threaded_pure!(incdec_reg::<B, 1, true>),
        (Kind::Reg, 2, true) => threaded_pure!(incdec_reg::<B, 2, true>),
        (Kind::Reg, 4, true) => threaded_pure!(incdec_reg::<B, 4, true>),
        (Kind::Reg, 1, false) => threaded_pure!(incdec_reg::<B, 1, false>),
        (Kind::Reg, 2, false) => threaded_pure!(incdec_reg::<B, 2, false>),
        (Kind::Reg, 4, false) => threaded_pure!(incdec_reg::<B, 4, false>),
        (_, _, true) => threaded!(inc::<B>),
        (_, _, false) => threaded!(dec::<B>),
    }
}

fn incdec_reg<B: Bus, const S: u8, const INC: bool>(
    cpu: &mut Cpu<B>,
    op: &Op<B>,
) -> Result<(), Exc> {
    let d = cpu.get_reg(S, op.ra);
    if INC {
        let r = d.wrapping_add(1) & mask(S);
        cpu.set_reg(S, op.ra, r);
        cpu.flags.set_inc(S, d, r);
    } else {
        let r = d.wrapping_sub(1) & mask(S);
        cpu.set_reg(S, op.ra, r);
        cpu.flags.set_dec(S, d, r);
    }
    Ok(())
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

/// NEG and NOT with a register operand, by size; memory forms take the general handlers.
pub fn select_neg_not<B: Bus>(is_neg: bool, op: &Op<B>) -> crate::decode::Exec<B> {
    use crate::decode::Kind;
    match (is_neg, op.a, op.size) {
        (true, Kind::Reg, 1) => threaded_pure!(neg_reg::<B, 1>),
        (true, Kind::Reg, 2) => threaded_pure!(neg_reg::<B, 2>),
        (true, Kind::Reg, 4) => threaded_pure!(neg_reg::<B, 4>),
        (false, Kind::Reg, 1) => threaded_pure!(not_reg::<B, 1>),
        (false, Kind::Reg, 2) => threaded_pure!(not_reg::<B, 2>),
        (false, Kind::Reg, 4) => threaded_pure!(not_reg::<B, 4>),
        (true, ..) => threaded!(neg::<B>),
        (false, ..) => threaded!(not::<B>),
    }
}

fn neg_reg<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let s = cpu.get_reg(S, op.ra);
    let r = 0u32.wrapping_sub(s) & mask(S);
    cpu.set_reg(S, op.ra, r);
    cpu.flags.set_lazy(LazyOp::Sub, S, 0, s, r);
    Ok(())
}

fn not_reg<B: Bus, const S: u8>(cpu: &mut Cpu<B>, op: &Op<B>) -> Result<(), Exc> {
    let d = cpu.get_reg(S, op.ra);
    cpu.set_reg(S, op.ra, !d & mask(S));
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
