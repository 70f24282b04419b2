//! x87 instructions as methods on [`Fpu`]: they take and return plain values (memory operands
//! already read, results to be written) and update the FPU state.

use super::f80::{Class, BIAS, F80};
use super::soft::{self, unpack, ArithOp, Cmp, Env, Fmt, DE, IE, OE, PE, SF, UE, ZE};
use super::state::{sw, Fpu};

/// A source operand of a load, an arithmetic instruction or a compare, as read from memory
/// (or a register value for `F80`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Src {
    F32(u32),
    F64(u64),
    F80(F80),
    I16(i16),
    I32(i32),
    I64(i64),
}

impl Src {
    /// The value, when it converts to a normal 80-bit number without any exception.
    #[inline]
    fn normal(self) -> Option<F80> {
        match self {
            Src::F64(b) => {
                let e = ((b >> 52) & 0x7FF) as u16;
                (e.wrapping_sub(1) < 0x7FE)
                    .then(|| F80::new(b >> 63 != 0, e + (16383 - 1023), 1 << 63 | b << 11))
            }
            Src::F32(b) => {
                let e = ((b >> 23) & 0xFF) as u16;
                (e.wrapping_sub(1) < 0xFE)
                    .then(|| F80::new(b >> 31 != 0, e + (16383 - 127), 1 << 63 | (b as u64) << 40))
            }
            Src::F80(v) => soft::is_normal(v).then_some(v),
            Src::I16(_) | Src::I32(_) | Src::I64(_) => Some(self.convert().0),
        }
    }

    /// The exact extended value, and whether the operand counts as a denormal (#D).
    fn convert(self) -> (F80, bool) {
        match self {
            Src::F32(b) => F80::from_f32_bits(b),
            Src::F64(b) => F80::from_f64_bits(b),
            Src::F80(v) => (v, v.is_denormal()),
            Src::I16(v) => (F80::from_i64(v as i64), false),
            Src::I32(v) => (F80::from_i64(v as i64), false),
            Src::I64(v) => (F80::from_i64(v), false),
        }
    }
}

/// The six arithmetic operations; the `R` forms swap the operands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FOp {
    Add,
    Mul,
    Sub,
    SubR,
    Div,
    DivR,
}

impl FOp {
    /// From the reg field of the D8/DC/DA/DE opcodes (0 add, 1 mul, 4 sub, 5 subr, 6 div,
    /// 7 divr; 2 and 3 are compares).
    pub fn from_reg(reg: u8) -> Option<FOp> {
        Some(match reg & 7 {
            0 => FOp::Add,
            1 => FOp::Mul,
            4 => FOp::Sub,
            5 => FOp::SubR,
            6 => FOp::Div,
            7 => FOp::DivR,
            _ => return None,
        })
    }

    /// The operation of the DC/DE register forms (destination ST(i)) whose reg field decodes
    /// to `self` under [`FOp::from_reg`]: those encodings swap Sub/SubR and Div/DivR (DC E8+i
    /// is FSUB ST(i),ST(0), reg 5).
    #[inline]
    pub const fn for_sti_dest(self) -> FOp {
        match self {
            FOp::Sub => FOp::SubR,
            FOp::SubR => FOp::Sub,
            FOp::Div => FOp::DivR,
            FOp::DivR => FOp::Div,
            op => op,
        }
    }
}

/// The load-constant instructions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Const {
    One,
    L2T,
    L2E,
    Pi,
    Lg2,
    Ln2,
    Zero,
}

/// Integer store sizes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IntSize {
    I16,
    I32,
    I64,
}

/// EFLAGS result of FCOMI/FUCOMI.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CmpFlags {
    pub zf: bool,
    pub pf: bool,
    pub cf: bool,
}

/// 128-bit significands (bit 127 set) and unbiased exponents of the constants.
pub(crate) const PI128: u128 = 0xc90fdaa22168c234c4c6628b80dc1cd1;
pub(crate) const LN2_128: u128 = 0xb17217f7d1cf79abc9e3b39803f2f6af;
pub(crate) const LOG2E_128: u128 = 0xb8aa3b295c17f0bbbe87fed0691d3e88;
const LOG2_10_128: u128 = 0xd49a784bcd1b8afe492bf6ff4dafdb4c;
const LOG10_2_128: u128 = 0x9a209a84fbcff7988f8959ac0b7c9178;

fn binop(op: FOp) -> (ArithOp, bool) {
    match op {
        FOp::Add => (ArithOp::Add, false),
        FOp::Mul => (ArithOp::Mul, false),
        FOp::Sub => (ArithOp::Sub, false),
        FOp::SubR => (ArithOp::Sub, true),
        FOp::Div => (ArithOp::Div, false),
        FOp::DivR => (ArithOp::Div, true),
    }
}

impl Fpu {
    /// Stack overflow (`overflow`) or underflow: IE|SF, C1 = overflow. True if IE is masked
    /// (the caller then delivers the default indefinite).
    pub(crate) fn stack_fault(&mut self, overflow: bool) -> bool {
        self.sw |= u32::from(IE | SF);
        self.set_c1(overflow);
        self.cw & IE != 0
    }

    /// Commit `env` and store `r` (if delivered) to ST(`i`), setting C1 from the rounding.
    fn deliver(&mut self, env: &Env, i: u8, r: Option<F80>, pop: bool) {
        self.commit(env);
        match r {
            Some(v) => {
                self.set_st(i, v);
                self.set_c1(env.up);
                if pop {
                    self.pop();
                }
            }
            None => self.set_c1(false),
        }
    }

    fn compute(
        &self,
        env: &mut Env,
        op: FOp,
        d: F80,
        d_den: bool,
        s: F80,
        s_den: bool,
    ) -> Option<F80> {
        let (aop, rev) = binop(op);
        if rev {
            soft::arith(env, aop, s, d, s_den, d_den)
        } else {
            soft::arith(env, aop, d, s, d_den, s_den)
        }
    }

    // ----- loads -----

    /// FLD m32/m64/m80, FILD m16/m32/m64 (pass the value read from memory).
    #[inline]
    pub fn fld(&mut self, src: Src) {
        if let Some(v) = src.normal() {
            if self.is_empty(7) {
                self.set_c1(false);
                self.push_value(v);
                return;
            }
        }
        self.fld_slow(src);
    }

    #[inline(never)]
    fn fld_slow(&mut self, src: Src) {
        if !self.is_empty(7) {
            if self.stack_fault(true) {
                self.push_value(F80::INDEFINITE);
            }
            return;
        }
        let (mut v, den) = src.convert();
        let mut env = self.env();
        if matches!(src, Src::F32(_) | Src::F64(_)) {
            if v.is_snan() {
                if !env.raise(IE) {
                    self.commit(&env);
                    self.set_c1(false);
                    return;
                }
                v = v.quieten();
            } else if den {
                // Even with #D unmasked the value is loaded.
                env.raise(DE);
            }
        }
        self.commit(&env);
        self.set_c1(false);
        self.push_value(v);
    }

    /// FLD ST(i).
    pub fn fld_st(&mut self, i: u8) {
        if self.fld_st_fast(i) {
            return;
        }
        if self.is_empty(i) {
            if self.stack_fault(false) {
                self.push_value(F80::INDEFINITE);
            }
            return;
        }
        if !self.is_empty(7) {
            if self.stack_fault(true) {
                self.push_value(F80::INDEFINITE);
            }
            return;
        }
        let v = self.st(i);
        self.set_c1(false);
        self.push_value(v);
    }

    /// [`Fpu::fld_st`] when ST(`i`) is full and ST(7) empty (true); otherwise nothing
    /// changes (false).
    #[inline(always)]
    pub fn fld_st_fast(&mut self, i: u8) -> bool {
        let (pi, p7) = (self.phys(i), self.phys(7));
        if (self.valid >> pi) & 1 == 0 || (self.valid >> p7) & 1 != 0 {
            return false;
        }
        let v = self.reg(pi);
        self.sw &= u32::from(!sw::C1);
        self.set_reg(p7, v);
        self.valid |= 1 << p7;
        self.top = p7 as u8;
        true
    }

    /// FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ: rounded per RC to 64 bits.
    pub fn fld_const(&mut self, c: Const) {
        let (m, e) = match c {
            Const::One => (1u128 << 127, 0),
            Const::Zero => (0, 0),
            Const::L2T => (LOG2_10_128, 1),
            Const::L2E => (LOG2E_128, 0),
            Const::Pi => (PI128, 1),
            Const::Lg2 => (LOG10_2_128, -2),
            Const::Ln2 => (LN2_128, -1),
        };
        let v = if m == 0 {
            F80::ZERO
        } else {
            let mut env = self.env();
            env.pack80(false, e + BIAS, (m >> 64) as u64, m as u64, 64)
        };
        if !self.is_empty(7) {
            if self.stack_fault(true) {
                self.push_value(F80::INDEFINITE);
            }
            return;
        }
        self.set_c1(false);
        self.push_value(v);
    }

    /// FBLD: 18-digit packed BCD (bytes 0..9, sign in bit 7 of byte 9). Non-decimal digits are
    /// weighted by their nibble value.
    pub fn fbld(&mut self, bcd: &[u8; 10]) {
        let mut v: i64 = 0;
        for i in (0..9).rev() {
            v = v * 100 + (bcd[i] >> 4) as i64 * 10 + (bcd[i] & 15) as i64;
        }
        let mut x = F80::from_i64(v);
        if bcd[9] & 0x80 != 0 {
            x = x.neg();
        }
        self.fld(Src::F80(x));
    }

    // ----- stores -----

    fn st0_or_underflow(&mut self) -> Option<F80> {
        if self.is_empty(0) {
            None
        } else {
            Some(self.st(0))
        }
    }

    /// FST/FSTP m32. None: nothing is written (unmasked exception); the stack is then
    /// unchanged.
    pub fn fst_f32(&mut self, pop: bool) -> Option<u32> {
        self.store_real(pop, Fmt::F32).map(|b| b as u32)
    }
    /// FST/FSTP m64.
    pub fn fst_f64(&mut self, pop: bool) -> Option<u64> {
        self.store_real(pop, Fmt::F64)
    }

    /// [`Fpu::fst_f64`] under a control word that rounds to nearest with every exception
    /// masked ([`Fpu::fast_ready`]), when ST(0) is full, normal and a normal double after
    /// rounding; None, with nothing changed, otherwise. The 64-bit significand is rounded
    /// to 53 bits half-to-even in place of the general `round_pack`.
    #[inline(always)]
    pub fn fst_f64_fast_default(&mut self, pop: bool) -> Option<u64> {
        let p0 = self.phys(0);
        if (self.valid >> p0) & 1 == 0 {
            return None;
        }
        let x = self.reg(p0);
        let e = x.exp() as i32 - BIAS + 1023;
        if !soft::is_normal(x) || e <= 0 || e >= 0x7FF {
            return None;
        }
        let low = x.sig & 0x7FF;
        let m = x.sig >> 11;
        let up = low > 0x400 || (low == 0x400 && m & 1 != 0);
        let m = m + up as u64;
        // Rounding up 53 one bits carries into bit 53: the significand halves, e grows.
        let (m, e) = (m >> (m >> 53), e as u64 + (m >> 53));
        if e >= 0x7FF {
            return None;
        }
        let pe = (low != 0) as u16 * PE;
        self.sw = u32::from((self.sw() & !sw::C1) | pe | (up as u16) << 9);
        self.pop_if(pop);
        Some((x.sign() as u64) << 63 | e << 52 | (m & ((1 << 52) - 1)))
    }

    #[inline]
    fn store_real(&mut self, pop: bool, fmt: Fmt) -> Option<u64> {
        let p0 = self.phys(0);
        let x = self.reg(p0);
        if (self.valid >> p0) & 1 != 0 && soft::is_normal(x) {
            let e = x.exp() as i32 - BIAS + fmt.bias;
            if e > 0 && e < fmt.emax {
                // In range for the destination: only rounding can happen.
                let fbits = fmt.p - 1;
                let mut env = self.env();
                let (e, s) = env.round_pack(x.sign(), e, x.sig, 0, fmt);
                self.sw = u32::from((self.sw() & !sw::C1) | env.flags | (env.up as u16) << 9);
                self.pop_if(pop);
                let sign = (x.sign() as u64) << (fbits + if fmt.p == 24 { 8 } else { 11 });
                return Some(sign | (e as u64) << fbits | ((s << 1) >> (65 - fmt.p)));
            }
        }
        self.store_real_slow(pop, fmt)
    }

    #[inline(never)]
    fn store_real_slow(&mut self, pop: bool, fmt: Fmt) -> Option<u64> {
        let (fbits, nan_ind, shift) = if fmt.p == 24 {
            (23u32, 0xFFC0_0000u64, 40u32)
        } else {
            (52, 0xFFF8_0000_0000_0000, 11)
        };
        let Some(x) = self.st0_or_underflow() else {
            if self.stack_fault(false) {
                self.pop_if(pop);
                return Some(nan_ind);
            }
            return None;
        };
        let mut env = self.env();
        let sign = (x.sign() as u64) << (fbits + (if fmt.p == 24 { 8 } else { 11 }));
        let expmax = (fmt.emax as u64 + 1) << fbits;
        let r = match x.class() {
            Class::Unsupported => env.raise(IE).then_some(nan_ind),
            Class::SNaN | Class::QNaN => {
                if x.is_snan() && !env.raise(IE) {
                    None
                } else {
                    let q = 1u64 << (fbits - 1);
                    Some(sign | expmax | q | ((x.sig << 1) >> (shift + 1)))
                }
            }
            Class::Infinity => Some(sign | expmax),
            Class::Zero => Some(sign),
            _ => {
                let u = unpack(x);
                let (e, s) = env.round_pack(u.sign, u.exp - BIAS + fmt.bias, u.sig, 0, fmt);
                if env.flags & !env.masks & (OE | UE) != 0 {
                    // Nothing is stored, so nothing is inexact either.
                    env.flags &= !PE;
                    None
                } else {
                    Some(sign | (e as u64) << fbits | ((s << 1) >> (shift + 1)))
                }
            }
        };
        self.commit(&env);
        if r.is_some() {
            self.set_c1(env.up);
            self.pop_if(pop);
        } else {
            self.set_c1(false);
        }
        r
    }

    fn pop_if(&mut self, pop: bool) {
        if pop {
            self.pop();
        }
    }

    /// FSTP m80 (FST m80 does not exist; `pop` = false is accepted for symmetry).
    pub fn fst_f80(&mut self, pop: bool) -> Option<F80> {
        let Some(x) = self.st0_or_underflow() else {
            if self.stack_fault(false) {
                self.pop_if(pop);
                return Some(F80::INDEFINITE);
            }
            return None;
        };
        self.set_c1(false);
        self.pop_if(pop);
        Some(x)
    }

    /// FST/FSTP ST(i).
    pub fn fst_st(&mut self, i: u8, pop: bool) {
        let Some(x) = self.st0_or_underflow() else {
            if self.stack_fault(false) {
                self.set_st(i, F80::INDEFINITE);
                self.pop_if(pop);
            }
            return;
        };
        self.set_c1(false);
        self.set_st(i, x);
        self.pop_if(pop);
    }

    /// FIST/FISTP: the integer (sign-extended to i64) to write, or None.
    pub fn fist(&mut self, size: IntSize, pop: bool) -> Option<i64> {
        let (lo, hi) = match size {
            IntSize::I16 => (i16::MIN as i64, i16::MAX as i64),
            IntSize::I32 => (i32::MIN as i64, i32::MAX as i64),
            IntSize::I64 => (i64::MIN, i64::MAX),
        };
        let Some(x) = self.st0_or_underflow() else {
            if self.stack_fault(false) {
                self.pop_if(pop);
                return Some(lo);
            }
            return None;
        };
        let mut env = self.env();
        let r = self
            .to_int(&mut env, x, lo as i128, hi as i128)
            .map(|v| v.unwrap_or(lo as i128) as i64);
        self.commit(&env);
        if r.is_some() {
            self.set_c1(env.up);
            self.pop_if(pop);
        } else {
            self.set_c1(false);
        }
        r
    }

    /// Round per RC to an integer in lo..=hi. Outer None: no store (unmasked); inner None:
    /// the masked invalid response (integer indefinite).
    fn to_int(&self, env: &mut Env, x: F80, lo: i128, hi: i128) -> Option<Option<i128>> {
        match x.class() {
            Class::Zero => return Some(Some(0)),
            Class::Unsupported | Class::SNaN | Class::QNaN | Class::Infinity => {
                return env.raise(IE).then_some(None);
            }
            _ => {}
        }
        let u = unpack(x);
        let fits = match soft::round_to_int(env.rc, u) {
            Some((m, inc, inexact)) => {
                let v = if u.sign { -(m as i128) } else { m as i128 };
                if (lo..=hi).contains(&v) {
                    if inexact {
                        env.flags |= PE;
                    }
                    env.up = inc;
                    return Some(Some(v));
                }
                false
            }
            None => false,
        };
        debug_assert!(!fits);
        env.raise(IE).then_some(None)
    }

    /// FBSTP: packed BCD, or None.
    pub fn fbstp(&mut self) -> Option<[u8; 10]> {
        const IND: [u8; 10] = [0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF];
        let Some(x) = self.st0_or_underflow() else {
            if self.stack_fault(false) {
                self.pop();
                return Some(IND);
            }
            return None;
        };
        let mut env = self.env();
        const MAX: i128 = 999_999_999_999_999_999;
        let r = self.to_int(&mut env, x, -MAX, MAX).map(|v| match v {
            None => IND,
            Some(v) => {
                let mut m = v.unsigned_abs() as u64;
                let mut b = [0u8; 10];
                for byte in b.iter_mut().take(9) {
                    let lo = (m % 10) as u8;
                    m /= 10;
                    let hi = (m % 10) as u8;
                    m /= 10;
                    *byte = hi << 4 | lo;
                }
                b[9] = if x.sign() { 0x80 } else { 0 };
                b
            }
        });
        self.commit(&env);
        if r.is_some() {
            self.set_c1(env.up);
            self.pop();
        } else {
            self.set_c1(false);
        }
        r
    }

    // ----- arithmetic -----

    /// Register forms: ST(dst) = ST(dst) op ST(src), then pop if `pop`. FADD ST(0),ST(i) is
    /// `farith(Add, 0, i, false)`; FSUBP ST(i),ST(0) is `farith(Sub, i, 0, true)`.
    #[inline]
    pub fn farith(&mut self, op: FOp, dst: u8, src: u8, pop: bool) {
        if !self.farith_fast(op, dst, src, pop) {
            self.farith_slow(op, dst, src, pop);
        }
    }

    /// [`Fpu::farith`] when both operands are normal, the control word selects 64-bit
    /// precision and rounding to nearest, and the result is normal: then it does the whole
    /// instruction and returns true. Otherwise it changes nothing and returns false.
    ///
    /// Always inlined: the CPU's decode-time specialised handlers call it with a constant
    /// `op`, so only that operation's code is compiled into each of them.
    #[inline(always)]
    pub fn farith_fast(&mut self, op: FOp, dst: u8, src: u8, pop: bool) -> bool {
        self.cw & 0x0F00 == 0x0300 && self.farith_fast_default(op, dst, src, pop)
    }

    /// The control word masks every exception and selects 64-bit precision and rounding to
    /// nearest (the FNINIT default): then no exception can be pending, and the fast paths
    /// (which raise none but the masked PE) apply. One compare, where testing for a pending
    /// exception and the precision and rounding separately takes several.
    #[inline(always)]
    pub fn fast_ready(&self) -> bool {
        self.cw & 0x0F3F == 0x033F
    }

    /// [`Fpu::farith_fast`] for a control word already known to select 64-bit precision and
    /// rounding to nearest (any other control word gives wrong results).
    #[inline(always)]
    pub fn farith_fast_default(&mut self, op: FOp, dst: u8, src: u8, pop: bool) -> bool {
        let (pd, ps) = (self.phys(dst), self.phys(src));
        if !self.both_full(dst, src) {
            return false;
        }
        let (d, s) = (self.reg(pd), self.reg(ps));
        if !soft::both_normal(d, s) || !self.arith_fast_into(pd, op, d, s) {
            return false;
        }
        if pop {
            self.pop();
        }
        true
    }

    /// Physical register `p` = `d` op `s` (both normal) at 64-bit precision rounding to
    /// nearest, with C1, PE and the precision flag set as that rounding went; false (nothing
    /// changed) when the result is not a plain normal number.
    #[inline(always)]
    fn arith_fast_into(&mut self, p: usize, op: FOp, d: F80, s: F80) -> bool {
        let (aop, rev) = binop(op);
        let (a, b) = if rev { (s, d) } else { (d, s) };
        let Some((r, pe, up)) = soft::arith_fast(aop, a, b) else {
            return false;
        };
        self.set_reg(p, r);
        self.sw = u32::from((self.sw() & !sw::C1) | (pe as u16 * PE) | (up as u16) << 9);
        true
    }

    /// [`Fpu::farith_mem`] under the default control word when ST(0) is full and both
    /// operands normal; false (nothing changed) otherwise.
    #[inline(always)]
    pub fn farith_mem_fast_default(&mut self, op: FOp, src: Src) -> bool {
        let p0 = self.phys(0);
        if (self.valid >> p0) & 1 == 0 {
            return false;
        }
        let d = self.reg(p0);
        let Some(s) = src.normal() else {
            return false;
        };
        soft::is_normal(d) && self.arith_fast_into(p0, op, d, s)
    }

    /// ST(i) and ST(j) are both non-empty.
    #[inline(always)]
    fn both_full(&self, i: u8, j: u8) -> bool {
        let v = self.valid.rotate_right(self.top as u32);
        (v >> i) & (v >> j) & 1 != 0
    }

    #[inline(never)]
    fn farith_slow(&mut self, op: FOp, dst: u8, src: u8, pop: bool) {
        if self.is_empty(dst) || self.is_empty(src) {
            if self.stack_fault(false) {
                self.set_st(dst, F80::INDEFINITE);
                self.pop_if(pop);
            }
            return;
        }
        let (d, s) = (self.st(dst), self.st(src));
        let mut env = self.env();
        if soft::is_normal(d) && soft::is_normal(s) {
            let (aop, rev) = binop(op);
            let (a, b) = if rev { (s, d) } else { (d, s) };
            self.set_st(dst, soft::arith_normal(&mut env, aop, a, b));
            self.sw = u32::from((self.sw() & !sw::C1) | env.flags | (env.up as u16) << 9);
            self.pop_if(pop);
            return;
        }
        let r = self.compute(&mut env, op, d, d.is_denormal(), s, s.is_denormal());
        self.deliver(&env, dst, r, pop);
    }

    /// Memory forms (FADD m32/m64, FIADD m16/m32, ...): ST(0) = ST(0) op src.
    #[inline]
    pub fn farith_mem(&mut self, op: FOp, src: Src) {
        let p0 = self.phys(0);
        let d = self.reg(p0);
        if let Some(s) = src.normal() {
            if (self.valid >> p0) & 1 != 0 && soft::is_normal(d) && !s.is_zero() {
                if self.cw & 0x0F00 == 0x0300 && self.arith_fast_into(p0, op, d, s) {
                    return;
                }
                let (aop, rev) = binop(op);
                let (a, b) = if rev { (s, d) } else { (d, s) };
                let mut env = self.env();
                self.set_reg(p0, soft::arith_normal(&mut env, aop, a, b));
                self.sw = u32::from((self.sw() & !sw::C1) | env.flags | (env.up as u16) << 9);
                return;
            }
        }
        self.farith_mem_slow(op, src);
    }

    #[inline(never)]
    fn farith_mem_slow(&mut self, op: FOp, src: Src) {
        if self.is_empty(0) {
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
            }
            return;
        }
        let d = self.st(0);
        let (s, s_den) = src.convert();
        let mut env = self.env();
        let r = self.compute(&mut env, op, d, d.is_denormal(), s, s_den);
        self.deliver(&env, 0, r, false);
    }

    /// Apply a one-operand function to ST(0) (with stack-underflow handling).
    pub(super) fn unary(&mut self, f: impl FnOnce(&mut Env, F80) -> Option<F80>) {
        if self.is_empty(0) {
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
            }
            return;
        }
        let mut env = self.env();
        let r = f(&mut env, self.st(0));
        self.deliver(&env, 0, r, false);
    }

    /// FSQRT.
    pub fn fsqrt(&mut self) {
        if self.fast_ready() && self.fsqrt_fast_default() {
            return;
        }
        self.unary(|env, x| soft::sqrt(env, x, x.is_denormal()));
    }

    /// [`Fpu::fsqrt`] for the default control word (see [`Fpu::fast_ready`]) and a positive
    /// normal ST(0): does the whole instruction and returns true. Otherwise it changes
    /// nothing and returns false.
    #[inline(always)]
    pub fn fsqrt_fast_default(&mut self) -> bool {
        let p0 = self.phys(0);
        let x = self.reg(p0);
        if (self.valid >> p0) & 1 == 0 || !soft::is_normal(x) || x.sign() {
            return false;
        }
        let Some((r, pe, up)) = soft::sqrt_fast(x) else {
            return false;
        };
        self.set_reg(p0, r);
        self.sw = u32::from((self.sw() & !sw::C1) | (pe as u16 * PE) | (up as u16) << 9);
        true
    }

    /// FCHS.
    pub fn fchs(&mut self) {
        self.unary(|_, x| Some(x.neg()));
    }
    /// FABS.
    pub fn fabs(&mut self) {
        self.unary(|_, x| Some(x.abs()));
    }

    /// FRNDINT.
    pub fn frndint(&mut self) {
        self.unary(|env, x| {
            match x.class() {
                Class::Unsupported => return env.raise(IE).then_some(F80::INDEFINITE),
                Class::SNaN => return env.raise(IE).then_some(x.quieten()),
                Class::QNaN | Class::Infinity | Class::Zero => return Some(x),
                Class::Denormal | Class::PseudoDenormal => {
                    if !env.raise(DE) {
                        return None;
                    }
                }
                Class::Normal => {}
            }
            let u = unpack(x);
            match soft::round_to_int(env.rc, u) {
                None => Some(x),
                Some((m, inc, inexact)) => {
                    if inexact {
                        env.flags |= PE;
                    }
                    env.up = inc;
                    Some(if m == 0 {
                        F80::zero(u.sign)
                    } else {
                        F80::from_u64(m).with_sign(u.sign)
                    })
                }
            }
        });
    }

    /// FSCALE: ST(0) = ST(0) * 2^trunc(ST(1)).
    pub fn fscale(&mut self) {
        if self.is_empty(0) || self.is_empty(1) {
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
            }
            return;
        }
        let (a, b) = (self.st(0), self.st(1));
        let mut env = self.env();
        let r = fscale(&mut env, a, b);
        self.deliver(&env, 0, r, false);
    }

    /// FXTRACT: ST(0) = exponent, then push the significand.
    pub fn fxtract(&mut self) {
        if self.is_empty(0) {
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
                self.push_value(F80::INDEFINITE);
            }
            return;
        }
        if !self.is_empty(7) {
            if self.stack_fault(true) {
                self.set_st(0, F80::INDEFINITE);
                self.push_value(F80::INDEFINITE);
            }
            return;
        }
        let x = self.st(0);
        let mut env = self.env();
        let r: Option<(F80, F80)> = match x.class() {
            Class::Unsupported => env.raise(IE).then_some((F80::INDEFINITE, F80::INDEFINITE)),
            Class::SNaN => env.raise(IE).then_some((x.quieten(), x.quieten())),
            Class::QNaN => Some((x, x)),
            Class::Zero => env.raise(ZE).then_some((F80::inf(true), x)),
            Class::Infinity => Some((F80::inf(false), x)),
            Class::Denormal | Class::PseudoDenormal if !env.raise(DE) => None,
            _ => {
                let u = unpack(x);
                Some((
                    F80::from_i64((u.exp - BIAS) as i64),
                    F80::new(u.sign, BIAS as u16, u.sig),
                ))
            }
        };
        self.commit(&env);
        self.set_c1(false);
        if let Some((e, s)) = r {
            self.set_st(0, e);
            self.push_value(s);
        }
    }

    /// FPREM (`ieee` = false) and FPREM1 (`ieee` = true).
    pub fn fprem(&mut self, ieee: bool) {
        if self.is_empty(0) || self.is_empty(1) {
            self.sw &= u32::from(!sw::C2);
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
            }
            return;
        }
        let (a, b) = (self.st(0), self.st(1));
        let mut env = self.env();
        let r = fprem(&mut env, a, b, ieee);
        self.commit(&env);
        if let Some((v, q)) = r {
            self.set_st(0, v);
            match q {
                Quot::Done(q) => self.set_cc(q & 2 != 0, false, q & 1 != 0, q & 4 != 0),
                Quot::Partial => self.set_cc(false, true, false, false),
                Quot::None => {
                    self.set_c1(false);
                    self.sw &= u32::from(!sw::C2);
                }
            }
        } else {
            self.set_c1(false);
            self.sw &= u32::from(!sw::C2);
        }
    }

    // ----- compares -----

    fn set_cmp(&mut self, c: Cmp) {
        let (c3, c2, c0) = match c {
            Cmp::Greater => (false, false, false),
            Cmp::Less => (false, false, true),
            Cmp::Equal => (true, false, false),
            Cmp::Unordered => (true, true, true),
        };
        self.set_cc(c3, c2, false, c0);
    }

    fn compare_with(&mut self, src: Option<Src>, i: u8, unordered: bool, pops: u8) {
        if self.is_empty(0) || (src.is_none() && self.is_empty(i)) {
            let masked = self.stack_fault(false);
            self.set_cmp(Cmp::Unordered);
            if masked {
                for _ in 0..pops {
                    self.pop();
                }
            }
            return;
        }
        let a = self.st(0);
        let (b, b_den) = match src {
            Some(s) => s.convert(),
            None => {
                let b = self.st(i);
                (b, b.is_denormal())
            }
        };
        let mut env = self.env();
        let r = soft::compare(&mut env, a, b, a.is_denormal(), b_den, unordered);
        self.commit(&env);
        let (c, ok) = r;
        self.set_cmp(c);
        if ok {
            for _ in 0..pops {
                self.pop();
            }
        }
    }

    /// FCOM/FCOMP/FCOMPP (`unordered` = false) and FUCOM/FUCOMP/FUCOMPP with ST(i); `pops`
    /// is 0, 1 or 2.
    pub fn fcom_st(&mut self, i: u8, unordered: bool, pops: u8) {
        self.compare_with(None, i, unordered, pops);
    }
    /// FCOM/FCOMP m32/m64 and FICOM/FICOMP m16/m32.
    pub fn fcom_mem(&mut self, src: Src, pop: bool) {
        self.compare_with(Some(src), 0, false, pop as u8);
    }
    /// FTST: compare ST(0) with +0.0.
    pub fn ftst(&mut self) {
        self.compare_with(Some(Src::F80(F80::ZERO)), 0, false, 0);
    }

    /// FCOMI/FCOMIP (`unordered` = false) and FUCOMI/FUCOMIP: ST(0) against ST(i). Returns
    /// ZF/PF/CF to store in EFLAGS (OF, SF and AF are cleared). Hardware writes them even when
    /// an unmasked exception is raised (the pop is then skipped); C1 is left alone.
    pub fn fcomi(&mut self, i: u8, unordered: bool, pop: bool) -> CmpFlags {
        const UN: CmpFlags = CmpFlags {
            zf: true,
            pf: true,
            cf: true,
        };
        if self.is_empty(0) || self.is_empty(i) {
            if self.stack_fault(false) {
                self.pop_if(pop);
            }
            return UN;
        }
        let (a, b) = (self.st(0), self.st(i));
        let mut env = self.env();
        let r = soft::compare(&mut env, a, b, a.is_denormal(), b.is_denormal(), unordered);
        self.commit(&env);
        let (c, ok) = r;
        if ok {
            self.pop_if(pop);
        }
        match c {
            Cmp::Greater => CmpFlags {
                zf: false,
                pf: false,
                cf: false,
            },
            Cmp::Less => CmpFlags {
                zf: false,
                pf: false,
                cf: true,
            },
            Cmp::Equal => CmpFlags {
                zf: true,
                pf: false,
                cf: false,
            },
            Cmp::Unordered => UN,
        }
    }

    /// FXAM.
    pub fn fxam(&mut self) {
        let x = self.st(0);
        let (c3, c2, c0) = if self.is_empty(0) {
            (true, false, true)
        } else {
            match x.class() {
                Class::Unsupported => (false, false, false),
                Class::QNaN | Class::SNaN => (false, false, true),
                Class::Normal => (false, true, false),
                Class::Infinity => (false, true, true),
                Class::Zero => (true, false, false),
                Class::Denormal | Class::PseudoDenormal => (true, true, false),
            }
        };
        self.set_cc(c3, c2, x.sign(), c0);
    }

    // ----- stack and control -----

    /// FXCH ST(i).
    #[inline]
    pub fn fxch(&mut self, i: u8) {
        if !self.fxch_fast(i) {
            self.fxch_slow(i);
        }
    }

    /// [`Fpu::fxch`] when both registers are full (true); otherwise nothing changes (false).
    #[inline(always)]
    pub fn fxch_fast(&mut self, i: u8) -> bool {
        let (p0, pi) = (self.phys(0), self.phys(i));
        if !self.both_full(0, i) {
            return false;
        }
        // Swap, C1 cleared.
        self.sig.swap(p0, pi);
        self.se.swap(p0, pi);
        self.sw &= u32::from(!sw::C1);
        true
    }

    #[inline(never)]
    fn fxch_slow(&mut self, i: u8) {
        if self.is_empty(0) || self.is_empty(i) {
            if !self.stack_fault(false) {
                return;
            }
            for j in [0, i] {
                if self.is_empty(j) {
                    self.set_st(j, F80::INDEFINITE);
                }
            }
        } else {
            self.set_c1(false);
        }
        let (a, b) = (self.st(0), self.st(i));
        self.set_st(0, b);
        self.set_st(i, a);
    }

    /// FCMOVcc ST(0), ST(i): `cond` is the EFLAGS condition evaluated by the CPU.
    pub fn fcmov(&mut self, cond: bool, i: u8) {
        if self.is_empty(0) || self.is_empty(i) {
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
            }
            return;
        }
        if cond {
            let v = self.st(i);
            self.set_st(0, v);
        }
    }

    /// FFREE ST(i).
    pub fn ffree(&mut self, i: u8) {
        let p = self.phys(i);
        self.valid &= !(1 << p);
        self.set_c1(false);
    }
    /// FFREEP ST(i) (DF C0+i): free, then pop.
    pub fn ffreep(&mut self, i: u8) {
        self.ffree(i);
        self.pop();
    }
    /// FINCSTP.
    pub fn fincstp(&mut self) {
        self.top = (self.top + 1) & 7;
        self.set_c1(false);
    }
    /// FDECSTP.
    pub fn fdecstp(&mut self) {
        self.top = (self.top + 7) & 7;
        self.set_c1(false);
    }
}

/// A pseudo-denormal re-encoded with exponent 1 (same value); anything else unchanged.
fn canonical(a: F80) -> F80 {
    if a.exp() == 0 && a.sig >> 63 != 0 {
        F80::new(a.sign(), 1, a.sig)
    } else {
        a
    }
}

/// FSCALE on values.
fn fscale(env: &mut Env, a: F80, b: F80) -> Option<F80> {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return env.raise(IE).then_some(F80::INDEFINITE);
    }
    if a.is_nan() || b.is_nan() {
        if (a.is_snan() || b.is_snan()) && !env.raise(IE) {
            return None;
        }
        return Some(soft::propagate_nan(a, b));
    }
    if b.is_inf() {
        if (a.is_zero() && !b.sign()) || (a.is_inf() && b.sign()) {
            return env.raise(IE).then_some(F80::INDEFINITE);
        }
        if (a.is_denormal() || b.is_denormal()) && !env.raise(DE) {
            return None;
        }
        if a.is_zero() || a.is_inf() {
            return Some(a);
        }
        return Some(if b.sign() {
            F80::zero(a.sign())
        } else {
            F80::inf(a.sign())
        });
    }
    if (a.is_denormal() || b.is_denormal()) && !env.raise(DE) {
        return None;
    }
    if a.is_zero() || a.is_inf() {
        return Some(a);
    }
    let n: i32 = if b.is_zero() {
        0
    } else {
        let u = unpack(b);
        let k = BIAS + 63 - u.exp;
        let m = if k <= 0 {
            i32::MAX as u64
        } else if k >= 64 {
            0
        } else {
            u.sig >> k
        };
        let m = m.min(1 << 20) as i32;
        if u.sign {
            -m
        } else {
            m
        }
    };
    if b.is_zero() {
        // Unchanged (a pseudo-denormal gets its canonical encoding), without #U.
        return Some(canonical(a));
    }
    let u = unpack(a);
    Some(env.pack80(u.sign, u.exp + n, u.sig, 0, 64))
}

/// FPREM/FPREM1 on values: (result, quotient low bits (None if not computed), incomplete).
/// How far FPREM/FPREM1 got.
enum Quot {
    /// Complete: the low three quotient bits.
    Done(u64),
    /// Incomplete (C2 = 1; C0, C1 and C3 are cleared).
    Partial,
    /// No quotient (invalid or NaN operands).
    None,
}

fn fprem(env: &mut Env, a: F80, b: F80, ieee: bool) -> Option<(F80, Quot)> {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return env.raise(IE).then_some((F80::INDEFINITE, Quot::None));
    }
    if a.is_nan() || b.is_nan() {
        if (a.is_snan() || b.is_snan()) && !env.raise(IE) {
            return None;
        }
        return Some((soft::propagate_nan(a, b), Quot::None));
    }
    if a.is_inf() || b.is_zero() {
        return env.raise(IE).then_some((F80::INDEFINITE, Quot::None));
    }
    if (a.is_denormal() || b.is_denormal()) && !env.raise(DE) {
        return None;
    }
    if a.is_zero() {
        return Some((a, Quot::Done(0)));
    }
    let (ua, ub) = (unpack(a), unpack(b));
    let d = ua.exp - ub.exp;
    if b.is_inf() {
        return Some((canonical(a), Quot::Done(0)));
    }
    if d < 0 && !(ieee && d == -1) {
        // |a| < |b|: the remainder is a itself (normalized/denormalized like any result).
        return Some((env.pack80(ua.sign, ua.exp, ua.sig, 0, 64), Quot::Done(0)));
    }
    let partial = d >= 64;
    let (num, den, scale) = if d == -1 {
        (ua.sig as u128, (ub.sig as u128) << 1, ua.exp)
    } else {
        let k = if partial { 32 + (d & 31) } else { d };
        ((ua.sig as u128) << k, ub.sig as u128, ub.exp + (d - k))
    };
    let mut q = num / den;
    let mut r = num % den;
    let mut sign = ua.sign;
    if ieee && !partial && (2 * r > den || (2 * r == den && q & 1 != 0)) {
        r = den - r;
        q += 1;
        sign = !sign;
    }
    let v = if r == 0 {
        F80::zero(ua.sign)
    } else {
        let lz = r.leading_zeros() as i32 - 64;
        env.pack80(sign, scale - lz, (r as u64) << lz, 0, 64)
    };
    Some((
        v,
        if partial {
            Quot::Partial
        } else {
            Quot::Done(q as u64 & 7)
        },
    ))
}
