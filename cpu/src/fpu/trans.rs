//! Transcendental instructions: FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1.
//!
//! Values are computed in a 128-bit-significand software float ([`Big`]) with series whose
//! truncation error is far below 2^-120, then rounded once to the 64-bit register format
//! under the current rounding control. The result is therefore the correctly rounded value of
//! the mathematical function in all but astronomically rare near-tie cases, which is at least
//! as accurate as real hardware (Intel documents < 1 ulp).
//!
//! Like Intel hardware, FSIN/FCOS/FSINCOS/FPTAN reduce their argument modulo pi/2 using a
//! 66-bit approximation of pi. The reduction itself is exact, so for arguments near multiples
//! of pi the results reproduce hardware's (famously inaccurate) answers rather than the true
//! sine.

use super::f80::{Class, BIAS, F80};
use super::ops::{LN2_128, LOG2E_128, PI128};
use super::soft::{self, unpack, Env, DE, IE, PE, ZE};
use super::state::{sw, Fpu};

/// A software float with a 128-bit significand: value = m * 2^(exp - 127), m normalized
/// (bit 127 set) or zero. Operations truncate; errors stay within a few units of 2^-127.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Big {
    neg: bool,
    exp: i32,
    m: u128,
}

const ONE: Big = Big {
    neg: false,
    exp: 0,
    m: 1 << 127,
};
const PI: Big = Big {
    neg: false,
    exp: 1,
    m: PI128,
};
const PI_2: Big = Big {
    neg: false,
    exp: 0,
    m: PI128,
};
const PI_4: Big = Big {
    neg: false,
    exp: -1,
    m: PI128,
};
const LN2: Big = Big {
    neg: false,
    exp: -1,
    m: LN2_128,
};
const LOG2E: Big = Big {
    neg: false,
    exp: 0,
    m: LOG2E_128,
};

fn mul_128(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

impl Big {
    const ZERO: Big = Big {
        neg: false,
        exp: 0,
        m: 0,
    };

    fn norm(neg: bool, exp: i32, m: u128) -> Big {
        if m == 0 {
            return Big { neg, exp: 0, m: 0 };
        }
        let lz = m.leading_zeros();
        Big {
            neg,
            exp: exp - lz as i32,
            m: m << lz,
        }
    }
    /// Exact value of a finite F80.
    fn from_f80(x: F80) -> Big {
        if x.is_zero() {
            return Big {
                neg: x.sign(),
                ..Big::ZERO
            };
        }
        let u = unpack(x);
        Big {
            neg: u.sign,
            exp: u.exp - BIAS,
            m: (u.sig as u128) << 64,
        }
    }
    fn from_i64(v: i64) -> Big {
        Big::norm(v < 0, 127, v.unsigned_abs() as u128)
    }
    fn is_zero(self) -> bool {
        self.m == 0
    }
    fn neg(self) -> Big {
        Big {
            neg: !self.neg,
            ..self
        }
    }
    fn abs(self) -> Big {
        Big { neg: false, ..self }
    }
    fn mul(self, o: Big) -> Big {
        if self.is_zero() || o.is_zero() {
            return Big {
                neg: self.neg ^ o.neg,
                ..Big::ZERO
            };
        }
        let (hi, lo) = mul_128(self.m, o.m);
        let neg = self.neg ^ o.neg;
        if hi >> 127 != 0 {
            Big {
                neg,
                exp: self.exp + o.exp + 1,
                m: hi,
            }
        } else {
            Big {
                neg,
                exp: self.exp + o.exp,
                m: hi << 1 | lo >> 127,
            }
        }
    }
    fn add(self, o: Big) -> Big {
        if o.is_zero() {
            return self;
        }
        if self.is_zero() {
            return o;
        }
        let (a, b) = if (self.exp, self.m) >= (o.exp, o.m) {
            (self, o)
        } else {
            (o, self)
        };
        let d = (a.exp - b.exp) as u32;
        let bm = if d >= 128 { 0 } else { b.m >> d };
        if a.neg == b.neg {
            let (s, carry) = a.m.overflowing_add(bm);
            if carry {
                Big {
                    neg: a.neg,
                    exp: a.exp + 1,
                    m: s >> 1 | 1 << 127,
                }
            } else {
                Big {
                    neg: a.neg,
                    exp: a.exp,
                    m: s,
                }
            }
        } else {
            Big::norm(a.neg, a.exp, a.m - bm)
        }
    }
    fn sub(self, o: Big) -> Big {
        self.add(o.neg())
    }
    fn div(self, o: Big) -> Big {
        debug_assert!(!o.is_zero());
        if self.is_zero() {
            return Big {
                neg: self.neg ^ o.neg,
                ..Big::ZERO
            };
        }
        let (mut r, exp, mut q, bits) = if self.m >= o.m {
            (self.m - o.m, self.exp - o.exp, 1u128, 127)
        } else {
            (self.m, self.exp - o.exp - 1, 0, 128)
        };
        for _ in 0..bits {
            let carry = r >> 127;
            r <<= 1;
            q <<= 1;
            if carry != 0 || r >= o.m {
                r = r.wrapping_sub(o.m);
                q |= 1;
            }
        }
        Big::norm(self.neg ^ o.neg, exp, q)
    }
    fn div_u64(self, d: u64) -> Big {
        let d128 = d as u128;
        let (hi, lo) = (self.m >> 64, self.m & u64::MAX as u128);
        let q2 = hi / d128;
        let r = hi % d128;
        let n1 = r << 64 | lo;
        let q1 = n1 / d128;
        let r = n1 % d128;
        let q0 = (r << 64) / d128;
        // quotient = q2:q1:q0 (192 bits), value scaled by 2^-64
        let top = q2 << 64 | q1;
        let lz = top.leading_zeros();
        let m = if lz == 0 {
            top
        } else {
            top << lz | q0 >> (128 - lz)
        };
        Big {
            neg: self.neg,
            exp: self.exp - lz as i32,
            m,
        }
    }
    /// Round to the register format (64-bit precision, current RC).
    fn to_f80(self, env: &mut Env) -> F80 {
        if self.is_zero() {
            return F80::zero(self.neg);
        }
        env.pack80(
            self.neg,
            self.exp + BIAS,
            (self.m >> 64) as u64,
            self.m as u64 | 1,
            64,
        )
    }
    fn tiny_vs(self, s: Big) -> bool {
        self.is_zero() || self.exp < s.exp - 132
    }
}

/// sin(r) for |r| <= ~pi/4 (Taylor series).
fn sin_big(r: Big) -> Big {
    if r.is_zero() {
        return r;
    }
    let r2 = r.mul(r);
    let (mut s, mut t) = (r, r);
    let mut n = 1u64;
    loop {
        n += 2;
        t = t.mul(r2).div_u64((n - 1) * n).neg();
        if t.tiny_vs(s) {
            return s;
        }
        s = s.add(t);
    }
}

/// cos(r) for |r| <= ~pi/4.
fn cos_big(r: Big) -> Big {
    let r2 = r.mul(r);
    let (mut s, mut t) = (ONE, ONE);
    let mut n = 0u64;
    loop {
        n += 2;
        t = t.mul(r2).div_u64((n - 1) * n).neg();
        if t.tiny_vs(s) {
            return s;
        }
        s = s.add(t);
    }
}

/// atan(z) for 0 <= z <= 1.
fn atan_big(z: Big) -> Big {
    if z.is_zero() {
        return z;
    }
    // Beyond tan(pi/8): atan(z) = pi/4 + atan((z-1)/(z+1)).
    const TAN_PI_8: Big = Big {
        neg: false,
        exp: -2,
        m: 0xd413cccfe779921165f626cdd52afa7c,
    };
    if z.abs() > TAN_PI_8 && !z.neg {
        let w = z.sub(ONE).div(z.add(ONE));
        return PI_4.add(atan_big(w.abs()).neg());
    }
    // Euler: atan(z) = z/(1+z^2) * sum_n (2n)!!/(2n+1)!! * (z^2/(1+z^2))^n.
    let z2 = z.mul(z);
    let den = ONE.add(z2);
    let w = z2.div(den);
    let mut t = z.div(den);
    let mut s = t;
    let mut n = 0u64;
    loop {
        n += 1;
        t = t.mul(w).mul_frac(2 * n, 2 * n + 1);
        if t.tiny_vs(s) {
            return s;
        }
        s = s.add(t);
    }
}

impl Big {
    fn mul_frac(self, num: u64, den: u64) -> Big {
        Big::norm(false, 127, num as u128).mul(self).div_u64(den)
    }
}

impl PartialOrd for Big {
    /// Magnitude order of non-negative normalized values (used for thresholds only).
    fn partial_cmp(&self, o: &Big) -> Option<core::cmp::Ordering> {
        Some((self.m != 0, self.exp, self.m).cmp(&(o.m != 0, o.exp, o.m)))
    }
}

/// ln(x) for x > 0 (Big), by x = m * 2^e with m in [sqrt(1/2), sqrt(2)) and
/// ln(m) = 2 atanh((m-1)/(m+1)).
fn ln_big(x: Big) -> Big {
    const SQRT2: u128 = 0xb504f333f9de6484597d89b3754abe9f;
    let mut e = x.exp;
    let mut m = Big {
        neg: false,
        exp: 0,
        m: x.m,
    };
    if x.m > SQRT2 {
        m.exp = -1;
        e += 1;
    }
    let s = m.sub(ONE).div(m.add(ONE));
    let lnm = atanh2(s);
    Big::from_i64(e as i64).mul(LN2).add(lnm)
}

/// 2 atanh(s) = ln((1+s)/(1-s)) for small |s|.
fn atanh2(s: Big) -> Big {
    if s.is_zero() {
        return s;
    }
    let s2 = s.mul(s);
    let mut p = s;
    let mut sum = s;
    let mut k = 1u64;
    loop {
        p = p.mul(s2);
        k += 2;
        let t = p.div_u64(k);
        if t.tiny_vs(sum) || k > 4000 {
            break;
        }
        sum = sum.add(t);
    }
    Big {
        exp: sum.exp + 1,
        ..sum
    }
}

/// e^y - 1 for |y| <= ~0.7 (Taylor series).
fn expm1_big(y: Big) -> Big {
    let (mut s, mut t) = (y, y);
    let mut n = 1u64;
    loop {
        n += 1;
        t = t.mul(y).div_u64(n);
        if t.tiny_vs(s) || n > 4000 {
            return s;
        }
        s = s.add(t);
    }
}

/// Reduce |x| (finite, < 2^63) modulo pi/2 with Intel's 66-bit pi. Returns (r, quadrant) with
/// |x| = r + quadrant * pi66/2 exactly and |r| <= pi66/4.
fn reduce(x: F80) -> (Big, u64) {
    // pi66 = P * 2^-66, so pi66/2 = P * 2^-67.
    const P: u128 = 0xC90FDAA22168C234C;
    let ax = Big::from_f80(x).abs();
    if ax <= PI_4 {
        return (ax, 0);
    }
    let u = unpack(x);
    let ex = u.exp - BIAS - 63; // |x| = sig * 2^ex
    let s = ex + 67; // |x| / (pi/2) = sig * 2^s / P; s >= 0 here
    debug_assert!((0..=66).contains(&s));
    let mut r: u128 = u.sig as u128 % P;
    let mut q: u128 = u.sig as u128 / P;
    let mut left = s;
    while left > 0 {
        let sh = left.min(56);
        let n = r << sh;
        q = (q << sh) | (n / P);
        r = n % P;
        left -= sh;
    }
    let (r, q) = if 2 * r > P {
        (-((P - r) as i128), q + 1)
    } else {
        (r as i128, q)
    };
    // r * 2^-67
    (Big::norm(r < 0, 127 - 67, r.unsigned_abs()), q as u64)
}

/// How a transcendental instruction completed.
enum Done {
    /// ST(0) out of range (|x| >= 2^63): C2 = 1, nothing changed.
    OutOfRange,
    Values(F80, Option<F80>),
    /// An unmasked exception suppressed the result.
    Suppressed,
}

fn one_nan_or_invalid(env: &mut Env, x: F80) -> Option<Option<F80>> {
    match x.class() {
        Class::Unsupported | Class::Infinity => Some(env.raise(IE).then_some(F80::INDEFINITE)),
        Class::SNaN => Some(env.raise(IE).then_some(x.quieten())),
        Class::QNaN => Some(Some(x)),
        _ => None,
    }
}

/// sin/cos/tan of x with the given selector; both = FSINCOS.
fn trig(env: &mut Env, x: F80, kind: Trig) -> Done {
    if let Some(r) = one_nan_or_invalid(env, x) {
        return match r {
            Some(v) => Done::Values(v, (kind != Trig::Sin && kind != Trig::Cos).then_some(v)),
            None => Done::Suppressed,
        };
    }
    if x.is_denormal() && !env.raise(DE) {
        return Done::Suppressed;
    }
    if !x.is_zero() && unpack(x).exp - BIAS >= 63 {
        return Done::OutOfRange;
    }
    if x.is_zero() {
        return match kind {
            Trig::Sin => Done::Values(x, None),
            Trig::Cos => Done::Values(F80::ONE, None),
            Trig::Tan => Done::Values(x, Some(F80::ONE)),
            Trig::SinCos => Done::Values(x, Some(F80::ONE)),
        };
    }
    let (r, q) = reduce(x);
    let neg = x.sign();
    let sin_x = || {
        let v = match q & 3 {
            0 => sin_big(r),
            1 => cos_big(r),
            2 => sin_big(r).neg(),
            _ => cos_big(r).neg(),
        };
        if neg {
            v.neg()
        } else {
            v
        }
    };
    let cos_x = || match q & 3 {
        0 => cos_big(r),
        1 => sin_big(r).neg(),
        2 => cos_big(r).neg(),
        _ => sin_big(r),
    };
    match kind {
        Trig::Sin => Done::Values(sin_x().to_f80(env), None),
        Trig::Cos => Done::Values(cos_x().to_f80(env), None),
        Trig::Tan => Done::Values(sin_x().div(cos_x()).to_f80(env), Some(F80::ONE)),
        Trig::SinCos => {
            // C1 reports the rounding of the value left in ST(0), the cosine.
            let s = sin_x().to_f80(env);
            let c = cos_x().to_f80(env);
            Done::Values(s, Some(c))
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Trig {
    Sin,
    Cos,
    Tan,
    SinCos,
}

/// atan2(y, x) as FPATAN computes ST(1) = atan(ST(1)/ST(0)).
fn patan(env: &mut Env, y: F80, x: F80) -> Option<F80> {
    if let Some(r) = screen(env, y, x) {
        return r;
    }
    let (sy, sx) = (y.sign(), x.sign());
    let pi_frac = |env: &mut Env, num: u64, neg: bool| {
        // num * pi / 4
        let v = PI_4.mul(Big::from_i64(num as i64));
        let v = if neg { v.neg() } else { v };
        let r = v.to_f80(env);
        env.flags |= PE;
        r
    };
    if y.is_inf() || x.is_inf() {
        if (y.is_denormal() || x.is_denormal()) && !env.raise(DE) {
            return None;
        }
        return Some(match (y.is_inf(), x.is_inf()) {
            (true, true) => pi_frac(env, if sx { 3 } else { 1 }, sy),
            (true, false) => pi_frac(env, 2, sy),
            _ => {
                if sx {
                    pi_frac(env, 4, sy)
                } else {
                    F80::zero(sy)
                }
            }
        });
    }
    if (y.is_denormal() || x.is_denormal()) && !env.raise(DE) {
        return None;
    }
    if y.is_zero() {
        return Some(if sx {
            pi_frac(env, 4, sy)
        } else {
            F80::zero(sy)
        });
    }
    if x.is_zero() {
        return Some(pi_frac(env, 2, sy));
    }
    let (by, bx) = (Big::from_f80(y).abs(), Big::from_f80(x).abs());
    let mut a = if by <= bx {
        atan_big(by.div(bx))
    } else {
        PI_2.sub(atan_big(bx.div(by)))
    };
    if sx {
        a = PI.sub(a);
    }
    if sy {
        a = a.neg();
    }
    Some(a.to_f80(env))
}

/// Unsupported and NaN screening for the two-operand transcendentals.
fn screen(env: &mut Env, a: F80, b: F80) -> Option<Option<F80>> {
    if a.is_unsupported() || b.is_unsupported() {
        return Some(env.raise(IE).then_some(F80::INDEFINITE));
    }
    if a.is_nan() || b.is_nan() {
        if (a.is_snan() || b.is_snan()) && !env.raise(IE) {
            return Some(None);
        }
        return Some(Some(soft::propagate_nan(a, b)));
    }
    None
}

/// ST(1) * log2(ST(0)) (FYL2X) or ST(1) * log2(ST(0) + 1) (FYL2XP1, `p1`).
fn yl2x(env: &mut Env, y: F80, x: F80, p1: bool) -> Option<F80> {
    if let Some(r) = screen(env, y, x) {
        return r;
    }
    let inv = |env: &mut Env| env.raise(IE).then_some(F80::INDEFINITE);
    let (sy, sx) = (y.sign(), x.sign());
    if p1 {
        // Defined for |x| < 1 - sqrt(2)/2; outside that the hardware result is undefined.
        if x.is_inf() {
            if sx || y.is_zero() {
                return inv(env);
            }
            if y.is_denormal() && !env.raise(DE) {
                return None;
            }
            return Some(F80::inf(sy));
        }
        if x.is_zero() {
            if y.is_inf() {
                return inv(env);
            }
            if (y.is_denormal()) && !env.raise(DE) {
                return None;
            }
            return Some(F80::zero(sy ^ sx));
        }
        let bx = Big::from_f80(x);
        if bx.neg && bx.abs() >= ONE {
            return inv(env);
        }
        if (y.is_denormal() || x.is_denormal()) && !env.raise(DE) {
            return None;
        }
        if y.is_inf() {
            return Some(F80::inf(sy ^ sx));
        }
        if y.is_zero() {
            return Some(F80::zero(sy ^ sx));
        }
        // ln(1+x) = 2 atanh(x / (2 + x)); outside the documented domain through ln(1 + x).
        const HALF: Big = Big {
            neg: false,
            exp: -1,
            m: 1 << 127,
        };
        let ln1p = if bx.abs() < HALF {
            atanh2(bx.div(ONE.add(ONE).add(bx)))
        } else {
            ln_big(ONE.add(bx))
        };
        return Some(Big::from_f80(y).mul(ln1p.mul(LOG2E)).to_f80(env));
    }
    // FYL2X
    if sx && !x.is_zero() {
        return inv(env);
    }
    if x.is_zero() {
        if y.is_zero() {
            return inv(env);
        }
        if y.is_inf() {
            return Some(F80::inf(!sy));
        }
        // Divide-by-zero takes precedence over #D.
        return env.raise(ZE).then_some(F80::inf(!sy));
    }
    if x.is_inf() {
        if y.is_zero() {
            return inv(env);
        }
        if y.is_denormal() && !env.raise(DE) {
            return None;
        }
        return Some(F80::inf(sy));
    }
    let is_one = x == F80::ONE;
    if is_one && y.is_inf() {
        return inv(env);
    }
    if (y.is_denormal() || x.is_denormal()) && !env.raise(DE) {
        return None;
    }
    if is_one {
        return Some(F80::zero(sy));
    }
    let bx = Big::from_f80(x);
    let below_one = bx < ONE;
    if y.is_inf() {
        return Some(F80::inf(sy ^ below_one));
    }
    if y.is_zero() {
        return Some(F80::zero(sy ^ below_one));
    }
    let by = Big::from_f80(y);
    let l = ln_big(bx).mul(LOG2E);
    Some(by.mul(l).to_f80(env))
}

/// 2^x - 1 (F2XM1), defined for -1 <= x <= 1.
fn f2xm1(env: &mut Env, x: F80) -> Option<F80> {
    match x.class() {
        Class::Unsupported => return env.raise(IE).then_some(F80::INDEFINITE),
        Class::SNaN => return env.raise(IE).then_some(x.quieten()),
        Class::QNaN | Class::Zero => return Some(x),
        Class::Infinity => return Some(if x.sign() { F80::ONE.neg() } else { x }),
        _ => {}
    }
    if x.is_denormal() && !env.raise(DE) {
        return None;
    }
    let bx = Big::from_f80(x);
    if bx.abs() <= ONE {
        return Some(expm1_big(bx.mul(LN2)).to_f80(env));
    }
    // Outside the documented domain: 2^n * 2^f - 1 with n = trunc(x), |f| < 1.
    let u = unpack(x);
    let int_bits = (u.exp - BIAS + 1).min(64) as u32; // >= 1 here
    if int_bits > 15 {
        // |x| >= 2^15: far beyond the exponent range.
        return Some(if x.sign() {
            F80::ONE.neg()
        } else {
            env.pack80(false, 0x8000, 1 << 63, 1, 64)
        });
    }
    let n = (u.sig >> (64 - int_bits)) as i32;
    let n = if u.sign { -n } else { n };
    let f = bx.sub(Big::from_i64(n as i64));
    let p = ONE.add(expm1_big(f.mul(LN2)));
    Some(
        Big {
            exp: p.exp + n,
            ..p
        }
        .sub(ONE)
        .to_f80(env),
    )
}

impl Fpu {
    fn trig_op(&mut self, kind: Trig) {
        let pushes = matches!(kind, Trig::Tan | Trig::SinCos);
        if self.is_empty(0) {
            self.sw &= u32::from(!sw::C2);
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
                if pushes {
                    self.push_value(F80::INDEFINITE);
                }
            }
            return;
        }
        if pushes && !self.is_empty(7) {
            self.sw &= u32::from(!sw::C2);
            if self.stack_fault(true) {
                self.set_st(0, F80::INDEFINITE);
                self.push_value(F80::INDEFINITE);
            }
            return;
        }
        let mut env = self.env();
        let out = trig(&mut env, self.st(0), kind);
        self.commit(&env);
        match out {
            Done::OutOfRange => {
                self.sw |= u32::from(sw::C2);
            }
            Done::Suppressed => {
                self.sw &= u32::from(!sw::C2);
                self.set_c1(false);
            }
            Done::Values(a, b) => {
                self.sw &= u32::from(!sw::C2);
                self.set_c1(env.up);
                self.set_st(0, a);
                if let Some(b) = b {
                    self.push_value(b);
                }
            }
        }
    }

    /// FSIN.
    pub fn fsin(&mut self) {
        self.trig_op(Trig::Sin);
    }
    /// FCOS.
    pub fn fcos(&mut self) {
        self.trig_op(Trig::Cos);
    }
    /// FSINCOS: ST(0) = sin, then push cos.
    pub fn fsincos(&mut self) {
        self.trig_op(Trig::SinCos);
    }
    /// FPTAN: ST(0) = tan, then push 1.0.
    pub fn fptan(&mut self) {
        self.trig_op(Trig::Tan);
    }

    /// ST(1) = f(ST(1), ST(0)), then pop.
    fn binary_pop(&mut self, f: impl FnOnce(&mut Env, F80, F80) -> Option<F80>) {
        if self.is_empty(0) || self.is_empty(1) {
            if self.stack_fault(false) {
                self.set_st(1, F80::INDEFINITE);
                self.pop();
            }
            return;
        }
        let mut env = self.env();
        let r = f(&mut env, self.st(1), self.st(0));
        self.commit(&env);
        match r {
            Some(v) => {
                self.set_c1(env.up);
                self.set_st(1, v);
                self.pop();
            }
            None => self.set_c1(false),
        }
    }

    /// FPATAN: ST(1) = atan(ST(1) / ST(0)) with the quadrant of (ST(0), ST(1)), pop.
    pub fn fpatan(&mut self) {
        self.binary_pop(patan);
    }
    /// FYL2X: ST(1) = ST(1) * log2(ST(0)), pop.
    pub fn fyl2x(&mut self) {
        self.binary_pop(|env, y, x| yl2x(env, y, x, false));
    }
    /// FYL2XP1: ST(1) = ST(1) * log2(ST(0) + 1), pop.
    pub fn fyl2xp1(&mut self) {
        self.binary_pop(|env, y, x| yl2x(env, y, x, true));
    }
    /// F2XM1: ST(0) = 2^ST(0) - 1.
    pub fn f2xm1(&mut self) {
        if self.is_empty(0) {
            if self.stack_fault(false) {
                self.set_st(0, F80::INDEFINITE);
            }
            return;
        }
        let mut env = self.env();
        let r = f2xm1(&mut env, self.st(0));
        self.commit(&env);
        match r {
            Some(v) => {
                self.set_c1(env.up);
                self.set_st(0, v);
            }
            None => self.set_c1(false),
        }
    }
}
