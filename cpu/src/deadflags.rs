//! Dead status flags. Compiled code sets flags far more often than it reads them: in a run
//! like `shr edx,16; imul eax,ecx; imul ebx,edx`, each op's flags are overwritten by the
//! next before anything looks. When a block is decoded, a backward pass finds such ops and
//! gives them a handler that skips the flag work (the lazy-flag stores, and IMUL's CF/OF).
//!
//! Flags stay exact wherever they can be seen. An op's flags are dead only when, before the
//! block ends, ops that set all of them follow it with nothing in between that reads
//! flags, touches memory, can fault, or can stop the block (CF and the other five are
//! tracked apart, for INC and DEC, which keep CF): so no exception handler,
//! interrupt, single-step trap or re-decoded block can observe the skipped values. Blocks
//! run whole or stop at such an op. The one exception is a block's first op, which runs
//! alone when single-stepping or in an interrupt shadow (an interrupt may follow it): it
//! always keeps its flags.

use iced_x86::{Instruction, Mnemonic as M};

use crate::decode::{Exec, Kind, Op};
use crate::ops::{alu, muldiv, shift};
use crate::Bus;

/// What an op does to the status flags, as the pass sees it.
pub(crate) enum FlagUse<B: Bus> {
    /// Neither reads nor writes flags, works on registers only and cannot fault or stop.
    Keeps,
    /// Sets all six status flags without reading any, on registers only, and cannot fault
    /// or stop; the handler that skips the flags, where there is one.
    Sets(Option<Exec<B>>),
    /// Like `Sets` for all but CF, which passes through (INC, DEC): skipping the flag work
    /// leaves the lazy state before it, whose CF is the one after it.
    SetsButCf(Option<Exec<B>>),
    /// Sets all six or none (a shift by CL: a zero count changes nothing), on registers
    /// only, and cannot fault or stop: its own flag work may be skipped when dead, but the
    /// flags before it stay as live as those after it.
    MaySet(Option<Exec<B>>),
    /// Anything else: the flags before it may be seen.
    Other,
}

/// How `op` (decoded from `ins`) uses the flags.
pub(crate) fn classify<B: Bus>(ins: &Instruction, op: &Op<B>) -> FlagUse<B> {
    // A LOCK prefix on a register form raises #UD.
    if ins.has_lock_prefix() || ins.is_invalid() {
        return FlagUse::Other;
    }
    let reg_a = op.a == Kind::Reg;
    let reg_or_imm_b = matches!(op.b, Kind::Reg | Kind::Imm);
    match ins.mnemonic() {
        M::Mov if reg_a && reg_or_imm_b => FlagUse::Keeps,
        M::Movzx | M::Movsx if reg_a && op.b == Kind::Reg => FlagUse::Keeps,
        // LEA computes an address and touches no memory.
        M::Lea if reg_a && op.b == Kind::Mem => FlagUse::Keeps,
        M::Xchg if reg_a && op.b == Kind::Reg => FlagUse::Keeps,
        M::Not | M::Bswap if reg_a => FlagUse::Keeps,
        M::Cwde | M::Cdq | M::Cbw | M::Cwd => FlagUse::Keeps,
        M::Add | M::Sub | M::And | M::Or | M::Xor | M::Cmp | M::Test if reg_a && reg_or_imm_b => {
            FlagUse::Sets(alu::flagless(ins.mnemonic(), op))
        }
        M::Neg if reg_a => FlagUse::Sets(alu::flagless_neg(op)),
        M::Inc | M::Dec if reg_a => FlagUse::SetsButCf(alu::flagless_incdec(ins.mnemonic(), op)),
        // A non-zero count sets every status flag (AF cleared, OF as the one-bit rule);
        // a zero count changes nothing, so it is no setter.
        M::Shl | M::Sal | M::Shr | M::Sar if reg_a && op.b == Kind::Imm => {
            if op.imm & 0x1F != 0 {
                FlagUse::Sets(shift::flagless(ins.mnemonic(), op))
            } else {
                FlagUse::Keeps
            }
        }
        // D1 /4-7: by one.
        M::Shl | M::Sal | M::Shr | M::Sar if reg_a && op.b == Kind::None => {
            FlagUse::Sets(shift::flagless(ins.mnemonic(), op))
        }
        M::Shl | M::Sal | M::Shr | M::Sar if reg_a && op.b == Kind::Reg => {
            FlagUse::MaySet(shift::flagless(ins.mnemonic(), op))
        }
        // The two- and three-operand IMUL set CF/OF from the product and SF/ZF/PF from the
        // low half, AF cleared (P6 behaviour).
        M::Imul if ins.op_count() >= 2 && reg_a && op.b == Kind::Reg => {
            FlagUse::Sets(muldiv::flagless(ins.op_count(), op))
        }
        _ => FlagUse::Other,
    }
}

/// Gives every op of a freshly decoded block whose flags are dead its flagless handler,
/// and returns how many it changed. `uses[i]` describes `ops[i]`; the flags are live after
/// the block's last op.
pub(crate) fn elide<B: Bus>(ops: &mut [Op<B>], uses: &[FlagUse<B>]) -> u64 {
    // Whether CF, and whether the other five, may be read after the op at hand.
    let (mut cf, mut rest) = (true, true);
    let mut changed = 0;
    let mut skip = |op: &mut Op<B>, flagless: &Option<Exec<B>>| {
        if let Some(exec) = flagless {
            op.exec = *exec;
            changed += 1;
        }
    };
    // The first op (see the module comment) is left out.
    for (op, u) in ops.iter_mut().zip(uses).skip(1).rev() {
        match u {
            FlagUse::Keeps => {}
            FlagUse::Sets(flagless) => {
                if !cf && !rest {
                    skip(op, flagless);
                }
                (cf, rest) = (false, false);
            }
            FlagUse::SetsButCf(flagless) => {
                if !rest {
                    skip(op, flagless);
                }
                rest = false;
            }
            FlagUse::MaySet(flagless) => {
                if !cf && !rest {
                    skip(op, flagless);
                }
            }
            FlagUse::Other => (cf, rest) = (true, true),
        }
    }
    changed
}
