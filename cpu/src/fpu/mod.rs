//! The x87 FPU: a self-contained, bit-exact software model of the 387-and-later floating-point
//! unit, with no dependency on the rest of the CPU.
//!
//! # Design
//! - [`F80`] is the 80-bit register format, stored as raw bits (sign/exponent word and 64-bit
//!   significand with its explicit integer bit), so every encoding round-trips: unnormals,
//!   pseudo-NaNs/infinities (invalid operands since the 387), pseudo-denormals.
//! - `soft` is the soft-float core. Operations are computed exactly on 64-bit significands in
//!   128-bit integers (products, two-step quotients, integer square roots with remainder) and
//!   rounded once by `Env::round_pack`, which applies the control word's precision (24/53/64
//!   bits, keeping the full 15-bit exponent range) and rounding mode, detects tininess after
//!   rounding, and produces the masked responses (denormal/zero, infinity or the largest finite
//!   value) or the unmasked ones (exponent wrapped by 24576 for register results; nothing stored
//!   for memory results). It reports PE/UE/OE and whether it rounded up (C1).
//! - [`Fpu`] holds the architectural state (8 physical registers, TOP, control word, status
//!   word, the empty/non-empty tags from which full and abridged tags are derived, last
//!   instruction/operand pointers and opcode). Instructions are methods taking and returning
//!   plain values: the CPU reads memory operands and passes them as [`Src`], and writes back
//!   what a store returns (`None` = an unmasked exception suppressed the store). Environment and
//!   save images are byte slices in the 16/32-bit real/protected layouts ([`EnvMode`]) and the
//!   x87 part of the 512-byte FXSAVE area.
//! - Exceptions follow the x87 precedence (stack fault, unsupported/SNaN, QNaN propagation,
//!   other invalid and divide-by-zero, denormal, overflow/underflow, precision). An unmasked
//!   IE/DE/ZE leaves the destination and stack untouched; ES and B are a live summary of
//!   unmasked flags, so [`Fpu::exception_pending`] tells the CPU to raise #MF (CR0.NE=1) or
//!   FERR#/IRQ 13 at the next waiting x87 instruction. The CPU handles CR0.EM/TS/MP, #NM and
//!   WAIT, and records pointers with [`Fpu::record`] (or [`Fpu::set_last_instruction`]).
//!
//! # What is exact
//! Everything except the transcendentals is bit-exact with the (Intel) host x87, including
//! the status word (C0-C3, flags, ES/B), tags and memory results, under all precision and
//! rounding controls and exception masks: `cpu/tests/x87_host.rs` checks this against the
//! host CPU over millions of random cases, and the rules below came from there where the SDM
//! is silent or says "undefined":
//! - FLD m32/m64 of a denormal loads the value even when #D is unmasked.
//! - Unmasked OE/UE on a memory store raise only OE/UE (no PE); when the wrapped result of a
//!   register destination is still out of range, it becomes infinity (or zero) with PE set.
//! - FSCALE by zero and FPREM with an infinite divisor return the operand unchanged (no #U).
//! - FPREM/FPREM1 with an exponent difference of 64 or more reduce by 2^(32 + d mod 32)
//!   steps and clear C0, C1, C3; FCOMI and FCMOV leave C1 alone; FFREE clears it.
//! - Compares write C0/C2/C3 (and FCOMI EFLAGS) even when an unmasked exception is raised.
//! - FBLD weights non-decimal nibbles by their value.
//!
//! # Transcendentals
//! FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X and FYL2XP1 are evaluated with 128-bit
//! significands and rounded once, so they are correctly rounded except in vanishingly rare
//! near-ties. Argument reduction uses the 66-bit pi of Intel hardware, exactly, so large or
//! near-multiple-of-pi arguments give hardware's answers rather than the true sine. Real
//! hardware is only accurate to about 1 ulp (it is not correctly rounded even for small
//! arguments), so results differ from the Intel test host by one ulp, never more, in about 1%
//! (FPATAN) to 6% (FSIN, FPTAN, FSINCOS) of computed results, and C1 (which reports hardware's
//! own internal rounding) can differ. F2XM1 and FYL2XP1 outside their
//! documented domains (|x| > 1, |x| >= 1 - sqrt(2)/2) return the mathematical value, where
//! hardware returns undefined results. Exceptions and special cases are exact.
//!
//! # Wiring (for the CPU)
//! Memory operands are read by the CPU and passed as [`Src`]; stores return the value to
//! write (`None`: write nothing). Register forms name ST(i) by index.
//! - D8 /r, DC /r (reg 0,1,4-7): `farith_mem(FOp::from_reg(reg), Src::F32/F64)`; DA, DE memory:
//!   `Src::I32/I16`. D8 C0+i: `farith(op, 0, i, false)`. DC C0+i: `farith(op', i, 0, false)` and
//!   DE C0+i: `farith(op', i, 0, true)` with `op' = op.for_sti_dest()` (DC E8+i is FSUB
//!   ST(i),ST(0): ST(i) = ST(i) - ST(0)).
//! - D8/DC reg 2,3 and DA/DE memory: `fcom_mem(src, pop)`; D8 D0+i/D8+i: `fcom_st(i, false,
//!   0|1)`; DE D9: `fcom_st(1, false, 2)`; DD E0+i/E8+i: `fcom_st(i, true, 0|1)`; DA E9:
//!   `fcom_st(1, true, 2)`; DB F0+i/E8+i, DF F0+i/E8+i: `fcomi(i, unordered, pop)`.
//! - Loads: `fld(Src::..)`, `fld_st(i)`, `fbld(&[u8; 10])`, `fld_const(..)`. Stores:
//!   `fst_f32/fst_f64/fst_f80(pop)`, `fist(IntSize, pop)`, `fbstp()`, `fst_st(i, pop)`.
//! - D9 E0..FF: `fchs fabs ftst fxam`, constants, `f2xm1 fyl2x fptan fpatan fxtract fprem1
//!   fdecstp fincstp fprem fyl2xp1 fsqrt fsincos frndint fscale fsin fcos`; D9 C8+i `fxch`;
//!   DA/DB C0..DF: `fcmov(cond, i)`; DD C0+i `ffree`, DF C0+i `ffreep`; DB E2/E3 `fclex`/`finit`;
//!   D9 /5 `fldcw`, D9 /7 `fstcw`, DD /7 and DF E0 `fstsw`; D9 /4 /6, DD /4 /6:
//!   `fldenv/fstenv/frstor/fsave(EnvMode, bytes)`; 0F AE /0 /1: `fxsave/fxrstor`. FNOP, and the
//!   287 no-ops FENI/FDISI/FSETPM (DB E0, E1, E4), change nothing.
//! - Non-control instructions record `record(cs, eip_after, op_word(..))` (resolved into
//!   FIP/FOP only when an image is written) and `set_last_data(ds, offset)` for a memory
//!   operand, or `set_last_instruction(cs, ip, fop, data)`; before any waiting instruction the
//!   CPU checks [`Fpu::exception_pending`].
//!
//! # Speed
//! The hot register forms have fast paths the CPU calls from per-operation handlers
//! ([`Fpu::farith_fast_default`], [`Fpu::fxch_fast`], under [`Fpu::fast_ready`]: the default
//! control word). `soft::arith_fast` computes FADD/FSUB/FMUL/FDIV of normal operands with a
//! normal result without data-dependent branches (those mispredict at random), and the state
//! is laid out so that every load of a field has the width and address of the stores that
//! write it (see [`Fpu`]).
//!
//! # Notes
//! FISTTP (SSE3) is not implemented. FXSAVE's REX.W form stores FIP/FDP as 64-bit values as
//! given. The reserved precision control 01b rounds to 64 bits, like the hardware tested.

mod f80;
mod ops;
mod soft;
mod state;
#[cfg(test)]
mod tests;
mod trans;

pub use f80::{Class, F80};
pub use ops::{CmpFlags, Const, FOp, IntSize, Src};
pub use state::{op_word, sw, EnvMode, Fpu, Tag};
