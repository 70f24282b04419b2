//! Soft-float core: exact arithmetic on 64-bit significands with one rounding step that follows
//! the x87 rules (precision control, rounding control, tininess after rounding, masked and
//! unmasked overflow/underflow responses, C1 = "rounded up").

use super::f80::{Class, BIAS, F80, WRAP};

pub const IE: u16 = 0x01;
pub const DE: u16 = 0x02;
pub const ZE: u16 = 0x04;
pub const OE: u16 = 0x08;
pub const UE: u16 = 0x10;
pub const PE: u16 = 0x20;
pub const SF: u16 = 0x40;

/// Rounding control (control word bits 11:10).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rc {
    Nearest,
    Down,
    Up,
    Chop,
}

impl Rc {
    #[inline]
    pub fn from_cw(cw: u16) -> Rc {
        [Rc::Nearest, Rc::Down, Rc::Up, Rc::Chop][((cw >> 10) & 3) as usize]
    }
}

/// A destination format: biased exponent limits, significand precision and the bias
/// adjustment used by the unmasked overflow/underflow response.
#[derive(Clone, Copy, Debug)]
pub struct Fmt {
    pub bias: i32,
    pub emax: i32,
    pub p: u32,
    pub wrap: i32,
}

impl Fmt {
    pub const fn ext(p: u32) -> Fmt {
        Fmt {
            bias: BIAS,
            emax: 0x7FFE,
            p,
            wrap: WRAP,
        }
    }
    pub const F64: Fmt = Fmt {
        bias: 1023,
        emax: 0x7FE,
        p: 53,
        wrap: 1536,
    };
    pub const F32: Fmt = Fmt {
        bias: 127,
        emax: 0xFE,
        p: 24,
        wrap: 192,
    };
}

/// Precision in bits selected by the PC field (bits 9:8). The reserved value 01 behaves like
/// 64-bit precision.
#[inline]
pub fn prec_from_cw(cw: u16) -> u32 {
    [24, 64, 53, 64][((cw >> 8) & 3) as usize]
}

/// The rounding environment of one operation and the exceptions it raised.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    pub rc: Rc,
    /// Precision for results of the precision-controlled instructions.
    pub p: u32,
    /// Exception masks (control word bits 5:0).
    pub masks: u16,
    /// Exceptions raised so far (status word bit layout).
    pub flags: u16,
    /// The last rounding increased the magnitude (becomes C1).
    pub up: bool,
}

impl Env {
    pub fn new(cw: u16) -> Env {
        Env {
            rc: Rc::from_cw(cw),
            p: prec_from_cw(cw),
            masks: cw & 0x3F,
            flags: 0,
            up: false,
        }
    }
    /// Raise `f`; true when every exception in `f` is masked (execution continues).
    #[inline]
    pub fn raise(&mut self, f: u16) -> bool {
        self.flags |= f;
        self.masks & f == f
    }
    #[inline]
    pub fn masked(&self, f: u16) -> bool {
        self.masks & f == f
    }
}

/// A finite non-zero value, normalized: `sig` has bit 63 set, value = sig * 2^(exp-BIAS-63).
/// `exp` may lie outside the encodable range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unp {
    pub sign: bool,
    pub exp: i32,
    pub sig: u64,
}

/// Normalize a finite non-zero F80 (normal, denormal or pseudo-denormal).
#[inline]
pub fn unpack(x: F80) -> Unp {
    let e = x.exp() as i32;
    if x.sig >> 63 != 0 {
        Unp {
            sign: x.sign(),
            exp: e.max(1),
            sig: x.sig,
        }
    } else {
        let lz = x.sig.leading_zeros() as i32;
        Unp {
            sign: x.sign(),
            exp: 1 - lz,
            sig: x.sig << lz,
        }
    }
}

#[inline]
fn shr_sticky128(x: u128, d: u32) -> u128 {
    if d == 0 {
        x
    } else if d >= 128 {
        (x != 0) as u128
    } else {
        (x >> d) | ((x << (128 - d) != 0) as u128)
    }
}

/// The rounding decision: `lost` holds the discarded bits left-aligned in a u128 whose bit 127
/// is the round bit; returns true when the kept part must be incremented.
#[inline]
fn increment(rc: Rc, sign: bool, lsb_odd: bool, lost: u128) -> bool {
    match rc {
        Rc::Nearest => lost > 1 << 127 || (lost == 1 << 127 && lsb_odd),
        Rc::Down => sign && lost != 0,
        Rc::Up => !sign && lost != 0,
        Rc::Chop => false,
    }
}

/// Round `sig.extra` to the top `64 - drop` bits. Returns (kept bits, carried out, incremented,
/// inexact). On carry out the kept value is 2^63 and the exponent must be bumped.
#[inline]
fn round_bits(rc: Rc, sign: bool, sig: u64, extra: u64, drop: u32) -> (u64, bool, bool, bool) {
    let mask = if drop == 0 { 0 } else { (1u64 << drop) - 1 };
    let kept = sig & !mask;
    let low = ((sig & mask) as u128) << 64 | extra as u128;
    if low == 0 {
        return (kept, false, false, false);
    }
    let lost = low << (64 - drop);
    let lsb_odd = drop < 64 && (sig >> drop) & 1 != 0;
    if increment(rc, sign, lsb_odd, lost) {
        match kept.overflowing_add(1u64 << drop) {
            (v, false) => (v, false, true, true),
            (_, true) => (1 << 63, true, true, true),
        }
    } else {
        (kept, false, false, true)
    }
}

impl Env {
    /// Round and pack a normalized value `sig.extra * 2^(exp - fmt.bias - 63)` (sig bit 63 set)
    /// into `fmt`. Returns the biased exponent field and the significand with the integer bit at
    /// bit 63 (denormal results: exponent 0, integer bit clear). Sets PE/UE/OE and `up`.
    #[inline(always)]
    pub fn round_pack(
        &mut self,
        sign: bool,
        exp: i32,
        sig: u64,
        extra: u64,
        fmt: Fmt,
    ) -> (i32, u64) {
        debug_assert!(sig >> 63 == 1);
        if exp > 0 && exp < fmt.emax {
            // Fast path: no overflow or underflow is possible. `lost` holds the discarded
            // bits left-aligned (bit 63 = one half), the rest jammed into bit 0.
            let drop = 64 - fmt.p;
            let (kept, lost, lsb) = if drop == 0 {
                (sig, extra, sig & 1)
            } else {
                (
                    sig & (u64::MAX << drop),
                    sig << (64 - drop) | (extra != 0) as u64,
                    (sig >> drop) & 1,
                )
            };
            if lost == 0 {
                self.up = false;
                return (exp, sig);
            }
            self.flags |= PE;
            let inc = match self.rc {
                Rc::Nearest => lost > 1 << 63 || (lost == 1 << 63 && lsb != 0),
                Rc::Down => sign,
                Rc::Up => !sign,
                Rc::Chop => false,
            };
            self.up = inc;
            if !inc {
                return (exp, kept);
            }
            return match kept.checked_add(1 << drop) {
                Some(s) => (exp, s),
                None => (exp + 1, 1 << 63),
            };
        }
        self.round_pack_slow(sign, exp, sig, extra, fmt)
    }

    /// [`Env::round_pack`] for results that may overflow or underflow.
    #[inline(never)]
    fn round_pack_slow(
        &mut self,
        sign: bool,
        mut exp: i32,
        sig: u64,
        extra: u64,
        fmt: Fmt,
    ) -> (i32, u64) {
        let drop = 64 - fmt.p;
        if exp <= 0 {
            // Tininess is detected after rounding (as if the exponent range were unbounded).
            let carries = round_bits(self.rc, sign, sig, extra, drop).1;
            let tiny = exp < 0 || !carries;
            if tiny {
                // The unmasked response scales the result into range; when even that cannot
                // bring it into range, the masked response is delivered (with UE pending).
                if !self.masked(UE) && exp + fmt.wrap > 0 {
                    self.flags |= UE;
                    exp += fmt.wrap;
                } else if !self.masked(UE) {
                    // Even the scaled result is too small: a signed zero.
                    self.flags |= UE | PE;
                    self.up = false;
                    return (0, 0);
                } else {
                    let sh = (1 - exp) as u32;
                    let x = shr_sticky128((sig as u128) << 64 | extra as u128, sh);
                    let (s, _, inc, inexact) =
                        round_bits(self.rc, sign, (x >> 64) as u64, x as u64, drop);
                    if inexact {
                        self.flags |= UE | PE;
                    }
                    self.up = inc;
                    return ((s >> 63) as i32, s);
                }
            }
        }
        let (s, carry, inc, inexact) = round_bits(self.rc, sign, sig, extra, drop);
        exp += carry as i32;
        self.up = inc;
        if inexact {
            self.flags |= PE;
        }
        if exp > fmt.emax {
            if self.masked(OE) {
                self.flags |= OE | PE;
                let to_inf = match self.rc {
                    Rc::Nearest => true,
                    Rc::Chop => false,
                    Rc::Down => sign,
                    Rc::Up => !sign,
                };
                self.up = to_inf;
                if to_inf {
                    return (fmt.emax + 1, 1 << 63);
                }
                return (fmt.emax, u64::MAX << drop);
            }
            self.flags |= OE;
            exp -= fmt.wrap;
            if exp > fmt.emax {
                // Even the scaled result is out of range: infinity, whatever the rounding.
                self.flags |= PE;
                self.up = true;
                return (fmt.emax + 1, 1 << 63);
            }
        }
        (exp, s)
    }

    /// [`Env::round_pack`] into the register format at precision `p`.
    #[inline(always)]
    pub fn pack80(&mut self, sign: bool, exp: i32, sig: u64, extra: u64, p: u32) -> F80 {
        let (e, s) = self.round_pack(sign, exp, sig, extra, Fmt::ext(p));
        F80::new(sign, (e & 0x7FFF) as u16, s)
    }
}

/// The x87 rule for two NaN operands (at least one is a NaN): a QNaN beats an SNaN, otherwise
/// the larger significand wins, ties go to the positive one. The result is quiet.
pub fn propagate_nan(a: F80, b: F80) -> F80 {
    let (an, bn) = (a.is_nan(), b.is_nan());
    let (aq, bq) = (a.quieten(), b.quieten());
    if an && bn {
        let (asn, bsn) = (a.is_snan(), b.is_snan());
        if asn != bsn {
            return if asn { bq } else { aq };
        }
        if aq.sig != bq.sig {
            return if aq.sig > bq.sig { aq } else { bq };
        }
        return if aq.se < bq.se { aq } else { bq };
    }
    if an {
        aq
    } else {
        bq
    }
}

/// Common operand screening for two-operand arithmetic: unsupported formats and NaNs.
/// Returns Some(result) when the operation is decided (result delivered only if masked).
#[inline]
fn screen2(env: &mut Env, a: F80, b: F80) -> Option<Option<F80>> {
    let ca = a.class();
    let cb = b.class();
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return Some(env.raise(IE).then_some(F80::INDEFINITE));
    }
    if a.is_nan() || b.is_nan() {
        if (a.is_snan() || b.is_snan()) && !env.raise(IE) {
            return Some(None);
        }
        return Some(Some(propagate_nan(a, b)));
    }
    None
}

/// Arithmetic operation selector.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// `a op b` at precision `env.p`. `a_den`/`b_den` say the operand raises #D (a denormal in
/// its source format). None: an unmasked exception suppressed the result.
#[inline(always)]
pub fn arith(env: &mut Env, op: ArithOp, a: F80, b: F80, a_den: bool, b_den: bool) -> Option<F80> {
    if is_normal(a) && is_normal(b) && !(a_den || b_den) {
        return Some(arith_normal(env, op, a, b));
    }
    arith_special(env, op, a, b, a_den, b_den)
}

/// [`arith`] for two normal operands (no special cases, no #D).
#[inline(always)]
pub fn arith_normal(env: &mut Env, op: ArithOp, a: F80, b: F80) -> F80 {
    let ua = Unp {
        sign: a.sign(),
        exp: a.exp() as i32,
        sig: a.sig,
    };
    let ub = Unp {
        sign: b.sign(),
        exp: b.exp() as i32,
        sig: b.sig,
    };
    match op {
        ArithOp::Add => add_finite(env, ua, ub),
        ArithOp::Sub => add_finite(
            env,
            ua,
            Unp {
                sign: !ub.sign,
                ..ub
            },
        ),
        ArithOp::Mul => mul_finite(env, ua, ub),
        ArithOp::Div => div_finite(env, ua, ub),
    }
}

/// The common case of FADD/FSUB/FMUL/FDIV on two normal operands under round-to-nearest at
/// 64-bit precision (control word precision/rounding bits 0300h: the default of FNINIT, Linux
/// and C runtimes) with a normal, in-range result. It skips the general rounding environment;
/// the result is identical because no other rounding mode, precision or exception response
/// can apply. Returns the result, whether it is inexact (PE) and whether it was rounded up
/// (C1); None sends the caller to the general path (wide exponent gaps, cancellation to zero,
/// overflow or underflow).
#[inline(always)]
pub fn arith_fast(op: ArithOp, a: F80, b: F80) -> Option<(F80, bool, bool)> {
    let (sa, ea) = (a.sign(), a.exp() as i32);
    let (sb, eb) = (b.sign() ^ matches!(op, ArithOp::Sub), b.exp() as i32);
    // The exact result is (sign, exp, hi.lo): hi has bit 63 set, lo holds the bits below
    // it, or, where bits were shifted out past lo, is non-zero (only "exact or not" and the
    // position against one half matter for rounding to nearest at 64 bits). Each case
    // gives hi, whether to round it up and whether the result is inexact.
    let (sign, exp, hi, up, inexact) = match op {
        ArithOp::Mul => {
            let p = a.sig as u128 * b.sig as u128;
            // The product of two significands in [1, 2) lies in [1, 4).
            let top = (p >> 127) as u32;
            let p = p << (top ^ 1);
            let (hi, lo) = ((p >> 64) as u64, p as u64);
            (
                sa ^ sb,
                ea + eb - BIAS + top as i32,
                hi,
                round_up(hi, lo),
                lo != 0,
            )
        }
        ArithOp::Div => {
            // Quotient in (1/2, 2): scale the dividend so it has exactly 64 bits.
            let ge = (a.sig >= b.sig) as i32;
            // a.sig << (64 - ge), without a general 128-bit shift.
            let n = ((a.sig >> ge) as u128) << 64 | ((a.sig & ge as u64) << 63) as u128;
            let (q, r) = div128_64(n, b.sig);
            // The lost part is r / b.sig: above one half when 2r > b.sig; at one half, round
            // to even. 2r + (q & 1) > b.sig, written without overflow (b.sig - r >= 1).
            let up = r > b.sig - r - (q & 1);
            (sa ^ sb, ea - eb + BIAS - 1 + ge, q, up, r != 0)
        }
        ArithOp::Add | ArithOp::Sub => {
            let a_big =
                ((ea as u128) << 64 | a.sig as u128) >= ((eb as u128) << 64 | b.sig as u128);
            let (bs, be, bsig, ssig, se) = if a_big {
                (sa, ea, a.sig, b.sig, eb)
            } else {
                (sb, eb, b.sig, a.sig, ea)
            };
            let d = (be - se) as u32;
            if d >= 64 {
                return None;
            }
            let s_hi = ssig >> d;
            let s_lo = if d == 0 { 0 } else { ssig << (64 - d) };
            if sa == sb {
                let (hi, carry) = bsig.overflowing_add(s_hi);
                if carry {
                    let lo = (s_lo >> 1) | (hi << 63) | (s_lo & 1);
                    let hi = (hi >> 1) | 1 << 63;
                    (bs, be + 1, hi, round_up(hi, lo), lo != 0)
                } else {
                    (bs, be, hi, round_up(hi, s_lo), s_lo != 0)
                }
            } else {
                let (lo, borrow) = 0u64.overflowing_sub(s_lo);
                let hi = bsig - s_hi - borrow as u64;
                if hi == 0 {
                    return None;
                }
                let lz = hi.leading_zeros();
                let (hi, lo, exp) = if lz == 0 {
                    (hi, lo, be)
                } else {
                    (hi << lz | lo >> (64 - lz), lo << lz, be - lz as i32)
                };
                (bs, exp, hi, round_up(hi, lo), lo != 0)
            }
        }
    };
    let (sig, carry) = hi.overflowing_add(up as u64);
    let (exp, sig) = (exp + carry as i32, sig | (carry as u64) << 63);
    if (exp - 1) as u32 >= 0x7FFE {
        return None;
    }
    Some((F80::new(sign, exp as u16, sig), inexact, up))
}

/// Round to nearest even, for kept bits `hi` and lost bits `lo` (left-aligned, with any
/// bits below them jammed into its lowest bit): up when the lost part is above one half, or
/// exactly one half with `hi` odd; (lo | (hi & 1)) > 1/2 says exactly that.
#[inline(always)]
fn round_up(hi: u64, lo: u64) -> bool {
    (lo | (hi & 1)) > 1 << 63
}

/// Rounding bits for a quotient whose division left remainder `r` (< `d`): zero when exact,
/// else one half, more or less than one half of a unit, compared as 2r against d.
#[inline(always)]
fn half_code(r: u64, d: u64) -> u64 {
    let t = d - r;
    ((r >= t) as u64) << 63 | (((r != 0) & (r != t)) as u64) << 62
}

/// [`arith`] when an operand is not a normal number.
#[inline(never)]
fn arith_special(
    env: &mut Env,
    op: ArithOp,
    a: F80,
    b: F80,
    a_den: bool,
    b_den: bool,
) -> Option<F80> {
    if let Some(r) = screen2(env, a, b) {
        return r;
    }
    let (sa, sb) = (a.sign(), b.sign());
    let (ia, ib) = (a.is_inf(), b.is_inf());
    let (za, zb) = (a.is_zero(), b.is_zero());
    // Invalid operations and divide by zero take precedence over #D.
    match op {
        ArithOp::Add | ArithOp::Sub => {
            let sb2 = sb ^ (op == ArithOp::Sub);
            if ia && ib && sa != sb2 {
                return env.raise(IE).then_some(F80::INDEFINITE);
            }
        }
        ArithOp::Mul => {
            if (ia && zb) || (za && ib) {
                return env.raise(IE).then_some(F80::INDEFINITE);
            }
        }
        ArithOp::Div => {
            if (za && zb) || (ia && ib) {
                return env.raise(IE).then_some(F80::INDEFINITE);
            }
            if zb && !ia {
                return env.raise(ZE).then_some(F80::inf(sa ^ sb));
            }
        }
    }
    if (a_den || b_den) && !env.raise(DE) {
        return None;
    }
    match op {
        ArithOp::Add | ArithOp::Sub => {
            let sb = sb ^ (op == ArithOp::Sub);
            if ia {
                return Some(a);
            }
            if ib {
                return Some(F80::inf(sb));
            }
            if za && zb {
                let s = if sa == sb { sa } else { env.rc == Rc::Down };
                return Some(F80::zero(s));
            }
            if zb {
                let u = unpack(a);
                return Some(env.pack80(u.sign, u.exp, u.sig, 0, env.p));
            }
            let mut vb = unpack(b);
            vb.sign = sb;
            if za {
                return Some(env.pack80(vb.sign, vb.exp, vb.sig, 0, env.p));
            }
            Some(add_finite(env, unpack(a), vb))
        }
        ArithOp::Mul => {
            let s = sa ^ sb;
            if ia || ib {
                return Some(F80::inf(s));
            }
            if za || zb {
                return Some(F80::zero(s));
            }
            Some(mul_finite(env, unpack(a), unpack(b)))
        }
        ArithOp::Div => {
            let s = sa ^ sb;
            if ia {
                return Some(F80::inf(s));
            }
            if ib || za {
                return Some(F80::zero(s));
            }
            Some(div_finite(env, unpack(a), unpack(b)))
        }
    }
}

/// Sum of two finite non-zero values.
#[inline(always)]
fn add_finite(env: &mut Env, a: Unp, b: Unp) -> F80 {
    let (big, small) = if a.exp > b.exp || (a.exp == b.exp && a.sig >= b.sig) {
        (a, b)
    } else {
        (b, a)
    };
    // Align the smaller significand: (hi, lo) with the bits shifted out in lo, jammed into
    // its lowest bit once they fall off the end.
    let d = (big.exp - small.exp) as u32;
    let (s_hi, s_lo) = match d {
        0 => (small.sig, 0),
        1..=63 => (small.sig >> d, small.sig << (64 - d)),
        64 => (0, small.sig),
        65..=127 => (
            0,
            (small.sig >> (d - 64)) | (small.sig << (128 - d) != 0) as u64,
        ),
        _ => (0, 1),
    };
    if a.sign == b.sign {
        let (hi, carry) = big.sig.overflowing_add(s_hi);
        if carry {
            let extra = (s_lo >> 1) | (hi << 63) | (s_lo & 1);
            env.pack80(big.sign, big.exp + 1, (hi >> 1) | 1 << 63, extra, env.p)
        } else {
            env.pack80(big.sign, big.exp, hi, s_lo, env.p)
        }
    } else {
        let (mut lo, borrow) = 0u64.overflowing_sub(s_lo);
        let mut hi = big.sig - s_hi - borrow as u64;
        let mut exp = big.exp;
        if hi == 0 {
            if lo == 0 {
                return F80::zero(env.rc == Rc::Down);
            }
            hi = lo;
            lo = 0;
            exp -= 64;
        }
        let lz = hi.leading_zeros();
        if lz != 0 {
            hi = hi << lz | lo >> (64 - lz);
            lo <<= lz;
            exp -= lz as i32;
        }
        env.pack80(big.sign, exp, hi, lo, env.p)
    }
}

/// Both are normal numbers ([`is_normal`]), tested with one branch.
#[inline(always)]
pub fn both_normal(a: F80, b: F80) -> bool {
    // (se + 1) & 7FFFh maps exponents 0 and 7FFFh to 1 and 0, and 1..=7FFEh above 1.
    let e_ok = |se: u16| (se.wrapping_add(1) & 0x7FFF) > 1;
    ((a.sig & b.sig) >> 63 != 0) & e_ok(a.se) & e_ok(b.se)
}

/// A normal number (exponent 1..=7FFEh, integer bit set).
#[inline]
pub fn is_normal(x: F80) -> bool {
    x.exp().wrapping_sub(1) < 0x7FFE && x.sig >> 63 != 0
}

/// Product of two finite non-zero values.
#[inline(always)]
fn mul_finite(env: &mut Env, a: Unp, b: Unp) -> F80 {
    let prod = a.sig as u128 * b.sig as u128;
    let exp = a.exp + b.exp - BIAS;
    let sign = a.sign ^ b.sign;
    if prod >> 127 != 0 {
        env.pack80(sign, exp + 1, (prod >> 64) as u64, prod as u64, env.p)
    } else {
        let p = prod << 1;
        env.pack80(sign, exp, (p >> 64) as u64, p as u64, env.p)
    }
}

/// Quotient of two finite non-zero values: 64 quotient bits, and rounding bits that say
/// where the remainder lies against half a unit (below, exactly, above). At 64-bit precision
/// rounding compares the lost bits with one half; at 24 or 53 bits the lost quotient bits
/// decide and the remainder only counts as sticky. So one 128/64 division is exact.
#[inline(always)]
fn div_finite(env: &mut Env, a: Unp, b: Unp) -> F80 {
    let (n, exp) = if a.sig >= b.sig {
        ((a.sig as u128) << 63, a.exp - b.exp + BIAS)
    } else {
        ((a.sig as u128) << 64, a.exp - b.exp + BIAS - 1)
    };
    let d = b.sig;
    let (q, r) = div128_64(n, d);
    env.pack80(a.sign ^ b.sign, exp, q, half_code(r, d), env.p)
}

/// `n / d` and `n % d` for a normalized divisor (bit 63 set) and a quotient that fits in 64
/// bits (`n < d << 64`). The 128-bit division routine does this with one 128/64 hardware
/// division; the remainder is exact in 64 bits because it is below `d`.
#[inline(always)]
fn div128_64(n: u128, d: u64) -> (u64, u64) {
    debug_assert!(d >> 63 == 1 && (n >> 64) < d as u128);
    let q = (n / d as u128) as u64;
    (q, (n as u64).wrapping_sub(q.wrapping_mul(d)))
}

/// Integer square root of a u128 of 127 or 128 bits: (floor(sqrt(m)), m - s^2).
///
/// FSQRT's result waits on this, and the x87 loops of real programs wait on FSQRT, so it is
/// written for latency. The f64 square root of m's top 54 bits is the root to ~52 bits; its
/// significand bits are read straight off as the estimate s0 (no float-to-integer
/// conversion). One Newton step on the exact residual m - s0^2 follows as an integer
/// multiply by a 16-bit reciprocal of s0, itself computed from a division that runs beside
/// the square root; it lands within two of the root, and exact 128-bit squares settle the
/// rest.
pub(super) fn isqrt(m: u128) -> (u64, u128) {
    debug_assert!(
        m >> 126 != 0,
        "isqrt is sized for 127- and 128-bit arguments"
    );
    // t in [2^52, 2^54): sqrt(m) is about sqrt(t) * 2^37, with sqrt(t) in [2^26, 2^27].
    let t = (m >> 74) as i64 as f64;
    let y = t.sqrt();
    // 2^42 / sqrt(t) = 2^79 / s0, in (2^15, 2^16]: the division by t starts with the square
    // root rather than after it.
    let inv = (y * (4_398_046_511_104.0 / t)) as i64;
    // For y in [2^26, 2^27), y * 2^37 is 2^63 plus the 52 fraction bits shifted up by 11 (the
    // exponent's low bit lands on bit 63, which is set anyway). y = 2^27 means a root of at
    // least 2^64 - 2^12: the top of the range.
    let bits = y.to_bits();
    let s0 = if bits >> 52 == 1023 + 27 {
        u64::MAX
    } else {
        bits << 11 | 1 << 63
    };
    // s0 is within 2^13 of the root, so |m - s0^2| < 2^78: exact as an i128 after wrapping.
    // The step r0 / (2 s0) is (r0 / 2^16) * inv / 2^64: |step| < 2^13 and inv is good to
    // 2^-15, so this is within two of it.
    let r0 = (m.wrapping_sub(s0 as u128 * s0 as u128) as i128 >> 16) as i64;
    let step = ((r0 as i128 * inv as i128) >> 64) as i64;
    let mut s = s0.saturating_add_signed(step);
    // Fix it up on the residual m - s^2 (small, so exact as an i128), one addition per step:
    // squaring in each test of the loop let the compiler unroll it into a dozen
    // speculative 128-bit products.
    let mut r = m.wrapping_sub(s as u128 * s as u128) as i128;
    while r < 0 {
        s -= 1;
        r += 2 * s as i128 + 1;
    }
    // (s + 1)^2 <= m exactly when r >= 2s + 1; never true for s = 2^64 - 1 (m < 2^128).
    while r > 2 * s as i128 {
        r -= 2 * s as i128 + 1;
        s += 1;
    }
    (s, r as u128)
}

/// FSQRT of a positive normal number at 64-bit precision, rounding to nearest: (result,
/// inexact, rounded up), or None in the one case the rounding would carry out of the
/// significand (left to [`sqrt`]).
#[inline]
pub fn sqrt_fast(a: F80) -> Option<(F80, bool, bool)> {
    let e = a.exp() as i32 - BIAS;
    // An even exponent: sig * 2^63 (root in [2^63, 2^63.5)); odd: sig * 2^64 (the root in
    // [2^63.5, 2^64)), so the root has its top bit set either way.
    let m = (a.sig as u128) << (63 + (e & 1) as u32);
    let (s, r) = isqrt(m);
    // The root lies above s + 1/2 exactly when m > s^2 + s + 1/4, i.e. r > s (never a tie).
    let up = r > s as u128;
    if up && s == u64::MAX {
        return None;
    }
    Some((
        F80::new(false, (e.div_euclid(2) + BIAS) as u16, s + up as u64),
        r != 0,
        up,
    ))
}

/// Correctly rounded square root at precision `env.p`.
pub fn sqrt(env: &mut Env, a: F80, a_den: bool) -> Option<F80> {
    match a.class() {
        Class::Unsupported => return env.raise(IE).then_some(F80::INDEFINITE),
        Class::SNaN => return env.raise(IE).then_some(a.quieten()),
        Class::QNaN => return Some(a),
        Class::Zero => return Some(a),
        _ => {}
    }
    if a.sign() {
        return env.raise(IE).then_some(F80::INDEFINITE);
    }
    if a.is_inf() {
        return Some(a);
    }
    if a_den && !env.raise(DE) {
        return None;
    }
    let u = unpack(a);
    let e = u.exp - BIAS;
    let m = if e & 1 == 0 {
        (u.sig as u128) << 63
    } else {
        (u.sig as u128) << 64
    };
    let (s, r) = isqrt(m);
    let extra = if r == 0 {
        0
    } else if r > s as u128 {
        0xC000_0000_0000_0000
    } else {
        0x4000_0000_0000_0000
    };
    Some(env.pack80(false, e.div_euclid(2) + BIAS, s, extra, env.p))
}

/// Round a finite non-zero value to an integer magnitude per `env.rc`. Returns None when the
/// magnitude is 2^64 or more (the caller decides), else (magnitude, incremented, inexact).
pub fn round_to_int(rc: Rc, u: Unp) -> Option<(u64, bool, bool)> {
    let k = BIAS + 63 - u.exp; // number of fraction bits in sig
    if k <= 0 {
        return if k == 0 {
            Some((u.sig, false, false))
        } else {
            None
        };
    }
    let (int, lost) = if k < 64 {
        (u.sig >> k, ((u.sig << (64 - k)) as u128) << 64)
    } else {
        (0, shr_sticky128((u.sig as u128) << 64, (k - 64) as u32))
    };
    if lost == 0 {
        return Some((int, false, false));
    }
    let inc = increment(rc, u.sign, int & 1 != 0, lost);
    Some((int + inc as u64, inc, true))
}

/// Three-way comparison result of the x87 compares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cmp {
    Greater,
    Less,
    Equal,
    Unordered,
}

/// Compare two values. `quiet`: only SNaNs (and unsupported formats) raise IE (FUCOM);
/// otherwise any NaN does (FCOM). Returns the relation and whether every raised exception was
/// masked (the instruction completes).
pub fn compare(
    env: &mut Env,
    a: F80,
    b: F80,
    a_den: bool,
    b_den: bool,
    quiet: bool,
) -> (Cmp, bool) {
    let (ca, cb) = (a.class(), b.class());
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return (Cmp::Unordered, env.raise(IE));
    }
    if a.is_nan() || b.is_nan() {
        let signal = !quiet || a.is_snan() || b.is_snan();
        return (Cmp::Unordered, !signal || env.raise(IE));
    }
    let ok = !(a_den || b_den) || env.raise(DE);
    (compare_ordered(a, b), ok)
}

/// Order of two non-NaN supported values.
pub fn compare_ordered(a: F80, b: F80) -> Cmp {
    use core::cmp::Ordering;
    let key = |x: F80| -> (i32, u64) {
        if x.is_zero() {
            (i32::MIN, 0)
        } else if x.is_inf() {
            (i32::MAX, 0)
        } else {
            let u = unpack(x);
            (u.exp, u.sig)
        }
    };
    if a.is_zero() && b.is_zero() {
        return Cmp::Equal;
    }
    let (sa, sb) = (a.sign(), b.sign());
    if sa != sb {
        return if sa { Cmp::Less } else { Cmp::Greater };
    }
    let o = key(a).cmp(&key(b));
    let o = if sa { o.reverse() } else { o };
    match o {
        Ordering::Less => Cmp::Less,
        Ordering::Greater => Cmp::Greater,
        Ordering::Equal => Cmp::Equal,
    }
}
