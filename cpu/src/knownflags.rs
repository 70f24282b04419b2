//! Jcc, SETcc and CMOVcc after a known flag setter. In compiled code most conditional
//! branches (and conditional moves and sets) follow a CMP or TEST in the same block, often
//! with loads or moves in between. The generic Jcc derives
//! the flags its condition needs from whatever lazy state is pending (a dispatch on the
//! operation, and for the signed conditions an out-of-line computation of OF); when the
//! decoder can see which op set the flags last, the branch reads that op's operands
//! instead (`Flags::cond_after_sub32`: `jl` is one signed compare).
//!
//! A block runs from its first op, so the ops before a Jcc in its block have all run when
//! it does; a forward pass at decode keeps the last setter, forgets it at any op that may
//! change the flags, and keeps it across ops that never do (moves, loads and stores, LEA,
//! PUSH/POP, flag readers).

use iced_x86::{Instruction, Mnemonic as M};

use crate::decode::{setcc_or_cmovcc, Kind, Op};
use crate::ops::{bits, control};
use crate::Bus;

/// A flag setter whose lazy state a Jcc can read directly: all six flags pending, from a
/// 32-bit CMP/SUB (operands) or AND/OR/XOR/TEST (result); or ZF, SF and PF pending from
/// a 32-bit result (ADD, ADC, SBB, INC, DEC), for the conditions on those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setter {
    Sub32,
    Logic32,
    Result32,
}

/// What an op does to the flags a later Jcc reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Sets(Setter),
    /// Never writes a flag.
    Neutral,
    /// A Jcc: reads them (and writes none).
    Jcc,
    /// A SETcc (false) or CMOVcc (true): reads them.
    Cond(bool),
    /// May write flags.
    Clobbers,
}

/// The effect of `op` (decoded from `ins`).
pub fn effect<B: Bus>(ins: &Instruction, op: &Op<B>) -> Effect {
    if ins.is_invalid() || ins.has_lock_prefix() {
        return Effect::Clobbers;
    }
    if ins.is_jcc_short_or_near() {
        return Effect::Jcc;
    }
    let data = |k: Kind| matches!(k, Kind::Reg | Kind::Mem | Kind::Imm);
    let size32 = op.size == 4 && (op.b == Kind::Imm || op.size2 == 4);
    match ins.mnemonic() {
        M::Cmp | M::Sub if size32 && data(op.a) && data(op.b) => Effect::Sets(Setter::Sub32),
        M::And | M::Or | M::Xor | M::Test if size32 && data(op.a) && data(op.b) => {
            Effect::Sets(Setter::Logic32)
        }
        M::Add | M::Adc | M::Sbb if size32 && data(op.a) && data(op.b) => {
            Effect::Sets(Setter::Result32)
        }
        M::Inc | M::Dec if op.size == 4 && data(op.a) => Effect::Sets(Setter::Result32),
        M::Mov if data(op.a) && data(op.b) => Effect::Neutral,
        M::Movzx | M::Movsx | M::Lea | M::Push | M::Pop | M::Nop | M::Xchg | M::Not => {
            Effect::Neutral
        }
        M::Bswap | M::Cwde | M::Cdq | M::Cbw | M::Cwd => Effect::Neutral,
        m if setcc_or_cmovcc(m).is_some() => Effect::Cond(setcc_or_cmovcc(m) == Some(true)),
        // LOOPcc, FCMOVcc read the flags and write none.
        _ if ins.condition_code() != iced_x86::ConditionCode::None => Effect::Neutral,
        _ => Effect::Clobbers,
    }
}

/// Gives each Jcc, SETcc and CMOVcc of a freshly decoded block whose last setter is known
/// the handler that reads it; returns how many. `effects[i]` describes `ops[i]`.
pub fn fold<B: Bus>(ops: &mut [Op<B>], effects: &[Effect]) -> u64 {
    let mut last = None;
    let mut folded = 0;
    for (op, e) in ops.iter_mut().zip(effects) {
        match *e {
            Effect::Sets(s) => last = Some(s),
            Effect::Neutral => {}
            Effect::Jcc => {
                if let Some(exec) =
                    last.and_then(|s| control::select_jcc_after(op.aux, op.osize, s))
                {
                    op.exec = exec;
                    folded += 1;
                }
            }
            Effect::Cond(cmov) => {
                if let Some(exec) = last.and_then(|s| bits::select_cc_after(cmov, op, s)) {
                    op.exec = exec;
                    folded += 1;
                }
            }
            Effect::Clobbers => last = None,
        }
    }
    folded
}
