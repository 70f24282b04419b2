//! Unit tests of the x87 engine with known values. The exhaustive check is the host-oracle
//! differential test in `cpu/tests/x87_host.rs`.

use super::*;

const CW_NEAREST_64: u16 = 0x037F;

fn f(se: u16, sig: u64) -> F80 {
    F80 { se, sig }
}

fn fpu_with(cw: u16, vals: &[F80]) -> Fpu {
    let mut fpu = Fpu::new();
    fpu.fldcw(cw);
    for v in vals.iter().rev() {
        fpu.fld(Src::F80(*v));
    }
    fpu
}

fn rc(mode: u16) -> u16 {
    (CW_NEAREST_64 & !0x0C00) | mode << 10
}

#[test]
fn classification() {
    assert_eq!(F80::ZERO.class(), Class::Zero);
    assert_eq!(f(0, 1).class(), Class::Denormal);
    assert_eq!(f(0, 1 << 63).class(), Class::PseudoDenormal);
    assert_eq!(F80::ONE.class(), Class::Normal);
    assert_eq!(f(0x3FFF, 1).class(), Class::Unsupported); // unnormal
    assert_eq!(F80::INFINITY.class(), Class::Infinity);
    assert_eq!(f(0x7FFF, 0).class(), Class::Unsupported); // pseudo-infinity
    assert_eq!(f(0x7FFF, 0x4000_0000_0000_0000).class(), Class::Unsupported); // pseudo-NaN
    assert_eq!(F80::INDEFINITE.class(), Class::QNaN);
    assert_eq!(f(0x7FFF, 0x8000_0000_0000_0001).class(), Class::SNaN);
}

#[test]
fn conversions_are_exact() {
    assert_eq!(
        F80::from_f64_bits(1.5f64.to_bits()).0,
        f(0x3FFF, 0xC000_0000_0000_0000)
    );
    let (d, den) = F80::from_f64_bits(1); // smallest double denormal = 2^-1074
    assert!(den);
    assert_eq!(d, f(0x3FFF - 1074, 1 << 63));
    let (s, den) = F80::from_f32_bits(1);
    assert!(den);
    assert_eq!(s, f(0x3FFF - 149, 1 << 63));
    assert_eq!(F80::from_i64(i64::MIN), f(0xC03E, 1 << 63));
    assert_eq!(
        F80::from_bytes(&F80::INDEFINITE.to_bytes()),
        F80::INDEFINITE
    );
}

#[test]
fn one_third_under_every_precision_and_rounding() {
    // 1/3 = 0.010101...b
    let cases = [
        (0x037F, f(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB)), // 64-bit, nearest
        (0x077F, f(0x3FFD, 0xAAAA_AAAA_AAAA_AAAA)), // down
        (0x0B7F, f(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB)), // up
        (0x0F7F, f(0x3FFD, 0xAAAA_AAAA_AAAA_AAAA)), // chop
        (0x027F, f(0x3FFD, 0xAAAA_AAAA_AAAA_A800)), // 53-bit, nearest
        (0x007F, f(0x3FFD, 0xAAAA_AB00_0000_0000)), // 24-bit, nearest
        (0x047F, f(0x3FFD, 0xAAAA_AA00_0000_0000)), // 24-bit, down
    ];
    for (cw, want) in cases {
        let mut fpu = fpu_with(cw, &[F80::ONE, F80::from_i64(3)]);
        fpu.farith(FOp::Div, 0, 1, false);
        assert_eq!(fpu.st(0), want, "cw {cw:04x}");
        assert_eq!(fpu.fstsw() & sw::PE, sw::PE);
    }
    // C1 reports the round-up.
    let mut fpu = fpu_with(0x0B7F, &[F80::ONE, F80::from_i64(3)]);
    fpu.farith(FOp::Div, 0, 1, false);
    assert_ne!(fpu.fstsw() & sw::C1, 0);
    let mut fpu = fpu_with(0x077F, &[F80::ONE, F80::from_i64(3)]);
    fpu.farith(FOp::Div, 0, 1, false);
    assert_eq!(fpu.fstsw() & sw::C1, 0);
}

#[test]
fn sqrt_two_and_invalid_sqrt() {
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(2)]);
    fpu.fsqrt();
    assert_eq!(fpu.st(0), f(0x3FFF, 0xB504_F333_F9DE_6484));
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(-2)]);
    fpu.fsqrt();
    assert_eq!(fpu.st(0), F80::INDEFINITE);
    assert_eq!(fpu.fstsw() & 0x3F, sw::IE);
    assert!(!fpu.exception_pending());
}

#[test]
fn constants_follow_rounding_control() {
    let pi = |mode| {
        let mut fpu = fpu_with(rc(mode), &[]);
        fpu.fld_const(Const::Pi);
        assert_eq!(fpu.fstsw() & 0x3F, 0, "constants raise nothing");
        fpu.st(0)
    };
    assert_eq!(pi(0), f(0x4000, 0xC90F_DAA2_2168_C235));
    assert_eq!(pi(1), f(0x4000, 0xC90F_DAA2_2168_C234));
    assert_eq!(pi(2), f(0x4000, 0xC90F_DAA2_2168_C235));
    assert_eq!(pi(3), f(0x4000, 0xC90F_DAA2_2168_C234));
    let mut fpu = fpu_with(CW_NEAREST_64, &[]);
    fpu.fld_const(Const::L2E);
    assert_eq!(fpu.st(0), f(0x3FFF, 0xB8AA_3B29_5C17_F0BC));
}

#[test]
fn stack_faults() {
    let mut fpu = Fpu::new();
    fpu.farith(FOp::Add, 0, 1, false); // both empty: underflow, masked
    assert_eq!(fpu.fstsw() & (sw::IE | sw::SF | sw::C1), sw::IE | sw::SF);
    for _ in 0..8 {
        fpu.fld_const(Const::One);
    }
    fpu.fclex();
    fpu.fld_const(Const::Zero); // overflow: C1 = 1, indefinite pushed
    assert_eq!(
        fpu.fstsw() & (sw::IE | sw::SF | sw::C1),
        sw::IE | sw::SF | sw::C1
    );
    assert_eq!(fpu.st(0), F80::INDEFINITE);
    // Unmasked: nothing changes but the flags, and the exception is pending.
    let mut fpu = Fpu::new();
    fpu.fldcw(0x037E);
    fpu.fst_st(1, true);
    assert_eq!(fpu.top, 0);
    assert!(fpu.exception_pending());
    assert_ne!(fpu.fstsw() & (sw::ES | sw::B), 0);
}

#[test]
fn unmasked_exceptions_become_pending() {
    let mut fpu = fpu_with(0x037B, &[F80::ONE, F80::ZERO]); // ZE unmasked
    fpu.farith(FOp::Div, 0, 1, false);
    assert_eq!(fpu.st(0), F80::ONE, "no result on unmasked #Z");
    assert!(fpu.exception_pending());
    fpu.fclex();
    assert!(!fpu.exception_pending());
    // Masked flag, then unmasked by FLDCW: pending at once (ES is a live summary).
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::ONE, F80::ZERO]);
    fpu.farith(FOp::Div, 0, 1, false);
    assert!(!fpu.exception_pending());
    fpu.fldcw(0x037B);
    assert!(fpu.exception_pending());
}

#[test]
fn masked_overflow_and_underflow() {
    let big = f(0x7FFE, 1 << 63);
    let mut fpu = fpu_with(CW_NEAREST_64, &[big, big]);
    fpu.farith(FOp::Mul, 0, 1, false);
    assert_eq!(fpu.st(0), F80::INFINITY);
    assert_eq!(fpu.fstsw() & 0x3F, sw::OE | sw::PE);
    // Chop: largest finite.
    let mut fpu = fpu_with(rc(3), &[big, big]);
    fpu.farith(FOp::Mul, 0, 1, false);
    assert_eq!(fpu.st(0), f(0x7FFE, u64::MAX));
    // Unmasked overflow: exponent wrapped by 24576.
    let mut fpu = fpu_with(0x0377, &[big, big]);
    fpu.farith(FOp::Mul, 0, 1, false);
    assert_eq!(fpu.st(0), f(0x7FFE + 0x7FFE - 0x3FFF - 0x6000, 1 << 63));
    // Masked underflow to a denormal: UE and PE.
    let tiny = f(0x0001, 0xC000_0000_0000_0001);
    let mut fpu = fpu_with(CW_NEAREST_64, &[tiny, F80::from_i64(4)]);
    fpu.farith(FOp::Div, 0, 1, false);
    assert_eq!(fpu.st(0).exp(), 0);
    assert_eq!(fpu.fstsw() & 0x3F, sw::UE | sw::PE);
}

#[test]
fn nan_rules() {
    let qa = f(0x7FFF, 0xC000_0000_0000_0005);
    let sb = f(0xFFFF, 0x8000_0000_0000_0009);
    let mut fpu = fpu_with(CW_NEAREST_64, &[qa, sb]);
    fpu.farith(FOp::Add, 0, 1, false);
    assert_eq!(fpu.st(0), qa, "a QNaN beats an SNaN");
    assert_eq!(fpu.fstsw() & 0x3F, sw::IE);
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::ONE, sb]);
    fpu.farith(FOp::Mul, 0, 1, false);
    assert_eq!(fpu.st(0), sb.quieten());
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::INFINITY, F80::INFINITY]);
    fpu.farith(FOp::Sub, 0, 1, false);
    assert_eq!(fpu.st(0), F80::INDEFINITE);
}

#[test]
fn integer_and_bcd_stores() {
    let two_and_half = f(0x4000, 0xA000_0000_0000_0000);
    for (mode, want) in [(0, 2), (1, 2), (2, 3), (3, 2)] {
        let mut fpu = fpu_with(rc(mode), &[two_and_half]);
        assert_eq!(fpu.fist(IntSize::I16, false), Some(want));
        assert_eq!(fpu.fstsw() & sw::PE, sw::PE);
    }
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(40000)]);
    assert_eq!(
        fpu.fist(IntSize::I16, true),
        Some(i16::MIN as i64),
        "integer indefinite"
    );
    assert_eq!(fpu.fstsw() & 0x3F, sw::IE);
    let v = -123_456_789_012_345_678i64;
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(v)]);
    let bcd = fpu.fbstp().unwrap();
    assert_eq!(
        bcd,
        [0x78, 0x56, 0x34, 0x12, 0x90, 0x78, 0x56, 0x34, 0x12, 0x80]
    );
    fpu.fbld(&bcd);
    assert_eq!(fpu.st(0), F80::from_i64(v));
}

#[test]
fn real_stores() {
    let third = f(0x3FFD, 0xAAAA_AAAA_AAAA_AAAB);
    let mut fpu = fpu_with(CW_NEAREST_64, &[third]);
    assert_eq!(fpu.fst_f32(false), Some((1.0f32 / 3.0).to_bits()));
    assert_eq!(fpu.fst_f64(true), Some((1.0f64 / 3.0).to_bits()));
    let mut fpu = fpu_with(CW_NEAREST_64, &[f(0x7FFF, 0x8000_0000_0000_0001)]);
    assert_eq!(
        fpu.fst_f64(false),
        Some(0x7FF8_0000_0000_0000),
        "SNaN quieted, payload cut"
    );
    assert_eq!(fpu.fstsw() & 0x3F, sw::IE);
}

#[test]
fn compares_and_fxam() {
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::ONE, F80::from_i64(2)]);
    fpu.fcom_st(1, false, 0);
    assert_eq!(fpu.fstsw() & (sw::C3 | sw::C2 | sw::C0), sw::C0);
    let r = fpu.fcomi(1, false, false);
    assert_eq!((r.zf, r.pf, r.cf), (false, false, true));
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::INDEFINITE, F80::ONE]);
    fpu.fcom_st(1, true, 0);
    assert_eq!(fpu.fstsw() & 0x3F, 0, "FUCOM: QNaN is quiet");
    fpu.fcom_st(1, false, 2);
    assert_eq!(fpu.fstsw() & 0x3F, sw::IE);
    assert!(fpu.is_empty(0) && fpu.is_empty(1));
    let mut fpu = fpu_with(CW_NEAREST_64, &[f(0x8000, 5)]);
    fpu.fxam();
    assert_eq!(
        fpu.fstsw() & sw::CC,
        sw::C3 | sw::C2 | sw::C1,
        "negative denormal"
    );
    fpu.ffree(0);
    fpu.fxam();
    assert_eq!(
        fpu.fstsw() & (sw::C3 | sw::C2 | sw::C0),
        sw::C3 | sw::C0,
        "empty"
    );
}

#[test]
fn fprem_quotient_bits() {
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(11), F80::from_i64(3)]);
    fpu.fprem(false);
    assert_eq!(fpu.st(0), F80::from_i64(2));
    // quotient 3 = 011b: C0 = Q2 = 0, C3 = Q1 = 1, C1 = Q0 = 1, C2 = 0 (complete)
    assert_eq!(fpu.fstsw() & sw::CC, sw::C3 | sw::C1);
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(11), F80::from_i64(3)]);
    fpu.fprem(true);
    assert_eq!(fpu.st(0), F80::from_i64(-1)); // 11 - 4*3
    assert_eq!(fpu.fstsw() & sw::CC, sw::C0);
    // Huge exponent difference: partial remainder, C2 = 1.
    let mut fpu = fpu_with(
        CW_NEAREST_64,
        &[f(0x4100, 0xDEAD_BEEF_0000_0001), F80::from_i64(3)],
    );
    fpu.fprem(false);
    assert_eq!(fpu.fstsw() & sw::CC, sw::C2);
}

#[test]
fn fxtract_and_fscale() {
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(-40)]);
    fpu.fxtract();
    assert_eq!(fpu.st(0), f(0xBFFF, 0xA000_0000_0000_0000)); // -1.25
    assert_eq!(fpu.st(1), F80::from_i64(5));
    fpu.fscale(); // -1.25 * 2^5
    assert_eq!(fpu.st(0), F80::from_i64(-40));
}

#[test]
fn environment_images_round_trip() {
    for mode in [
        EnvMode::Real16,
        EnvMode::Prot16,
        EnvMode::Real32,
        EnvMode::Prot32,
    ] {
        let mut fpu = fpu_with(0x0B72, &[F80::ONE, F80::ZERO, f(0, 3), F80::INDEFINITE]);
        fpu.farith(FOp::Div, 0, 1, false); // ZE unmasked -> pending
        fpu.set_last_instruction(0x1234, 0x5678, 0x7F9, Some((0x9ABC, 0xDEF0)));
        if matches!(mode, EnvMode::Real16 | EnvMode::Real32) {
            // Real mode images hold linear addresses; reload yields selector 0.
            fpu.fcs = 0;
            fpu.fds = 0;
        }
        let before = fpu.clone();
        let mut img = [0u8; 108];
        fpu.fstenv(mode, &mut img[..mode.env_len()]);
        assert_eq!(fpu.cw & 0x3F, 0x3F, "FSTENV masks all exceptions");
        let mut back = Fpu::new();
        (back.sig, back.se) = (before.sig, before.se);
        back.fldenv(mode, &img[..mode.env_len()]);
        let fop_kept = !matches!(mode, EnvMode::Prot16);
        assert_eq!(back.cw, before.cw);
        assert_eq!(back.fstsw(), before.fstsw());
        assert_eq!(back.tag_word(), before.tag_word());
        assert_eq!(back.fip(), before.fip());
        assert_eq!(back.fdp, before.fdp);
        if fop_kept {
            assert_eq!(back.fop(), before.fop(), "{mode:?}");
        }
        let mut fpu = before.clone();
        fpu.fsave(mode, &mut img[..mode.save_len()]);
        assert_eq!(fpu.fstcw(), 0x037F, "FSAVE reinitializes");
        assert_eq!(fpu.tag_word(), 0xFFFF);
        let mut back = Fpu::new();
        back.frstor(mode, &img[..mode.save_len()]);
        for i in 0..8 {
            assert_eq!(back.st(i), before.st(i));
        }
        assert_eq!(back.tag_word(), before.tag_word());
        assert!(back.exception_pending());
    }
}

#[test]
fn fxsave_round_trip() {
    for wide in [false, true] {
        let mut fpu = fpu_with(0x0F7F, &[F80::ONE, f(0x7FFF, 0xC000_0000_0000_0001)]);
        fpu.set_last_instruction(0x10, 0x1_2345_6789, 0x123, Some((0x18, 0x9_8765_4321)));
        let mut img = [0u8; 512];
        fpu.fxsave(&mut img, wide);
        assert_eq!(img[4], fpu.abridged_tag());
        assert_eq!(img[4].count_ones(), 2);
        let mut back = Fpu::new();
        back.fxrstor(&img, wide);
        let want_ip = if wide { 0x1_2345_6789 } else { 0x2345_6789 };
        assert_eq!(back.fip(), want_ip);
        assert_eq!(
            (back.cw, back.fstsw(), back.tag_word()),
            (fpu.cw, fpu.fstsw(), fpu.tag_word())
        );
        assert_eq!(back.st(1), fpu.st(1));
    }
}

#[test]
fn tags() {
    let fpu = fpu_with(CW_NEAREST_64, &[F80::ONE, F80::ZERO, F80::INFINITY]);
    // TOP = 5: R5 valid (00), R6 zero (01), R7 special (10), the rest empty.
    assert_eq!(fpu.tag_word(), 0b10_01_00_11_11_11_11_11);
    assert_eq!(fpu.abridged_tag(), 0b1110_0000);
}

fn ulps(a: F80, b: F80) -> u64 {
    assert_eq!(a.se >> 15, b.se >> 15);
    let key = |x: F80| (x.exp() as u64) << 63 | (x.sig & !(1 << 63));
    key(a).abs_diff(key(b))
}

#[test]
fn transcendentals() {
    // sin(pi/6) = 1/2 (pi/6 rounded, so within an ulp of 0.5).
    let mut fpu = fpu_with(CW_NEAREST_64, &[]);
    fpu.fld_const(Const::Pi);
    fpu.fld(Src::I16(6));
    fpu.farith(FOp::Div, 1, 0, true);
    fpu.fsin();
    assert!(ulps(fpu.st(0), f(0x3FFE, 1 << 63)) <= 1);
    // atan2(1, 1) = pi/4, correctly rounded.
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::ONE, F80::ONE]);
    fpu.fpatan();
    assert_eq!(fpu.st(0), f(0x3FFE, 0xC90F_DAA2_2168_C235));
    // 3 * log2(8) = 9
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::from_i64(8), F80::from_i64(3)]);
    fpu.fyl2x();
    assert_eq!(fpu.st(0), F80::from_i64(9));
    // 2^0.5 - 1
    let mut fpu = fpu_with(CW_NEAREST_64, &[f(0x3FFE, 1 << 63)]);
    fpu.f2xm1();
    assert_eq!(fpu.st(0), f(0x3FFD, 0xD413_CCCF_E779_9211));
    // Out of range: C2 = 1, operand unchanged.
    let big = f(0x403E, 1 << 63);
    let mut fpu = fpu_with(CW_NEAREST_64, &[big]);
    fpu.fptan();
    assert_eq!(fpu.st(0), big);
    assert_eq!(fpu.fstsw() & sw::C2, sw::C2);
    // fsincos pushes cos over sin.
    let mut fpu = fpu_with(CW_NEAREST_64, &[F80::ZERO]);
    fpu.fsincos();
    assert_eq!((fpu.st(0), fpu.st(1)), (F80::ONE, F80::ZERO));
}

/// The integer square root FSQRT rests on is floor(sqrt(m)) with the exact remainder, for
/// random 127- and 128-bit arguments and the edges where an estimate is most likely off by
/// one: perfect squares, one either side of them, and both ends of the range.
#[test]
fn isqrt_is_floor_root_with_remainder() {
    let mut rng = crate::test_rng::Rng(0x2545_F491_4F6C_DD1D);
    let check = |m: u128| {
        let (s, r) = soft::isqrt(m);
        let sq = s as u128 * s as u128;
        assert!(sq <= m, "{m:#x}: {s:#x} squared is above it");
        assert_eq!(r, m - sq, "{m:#x}: wrong remainder");
        assert!(
            r <= 2 * s as u128,
            "{m:#x}: {s:#x} + 1 squared is not above it"
        );
    };
    for m in [
        1u128 << 126,
        (1 << 126) + 1,
        (1 << 127) - 1,
        1 << 127,
        u128::MAX,
    ] {
        check(m);
    }
    for k in 0..300_000u32 {
        let hi = rng.next();
        let lo = rng.next();
        let m = (hi as u128) << 64 | lo as u128;
        match k % 4 {
            0 => check(m | 1 << 126),
            1 => check(m | 1 << 127),
            _ => {
                // A perfect square (s from the root's whole range) and its neighbours.
                let s = hi | 1 << 63;
                let sq = s as u128 * s as u128;
                check(sq);
                check(sq + 2 * s as u128);
                if sq > 1 << 126 {
                    check(sq - 1);
                }
            }
        }
    }
}

/// The FSQRT fast path gives the general square root's result, PE and C1 for positive
/// normals (random significands, and the all-ones and power-of-two edges, even and odd
/// exponents); the integer square root is floor(sqrt) with its remainder.
#[test]
fn sqrt_fast_matches_general() {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for k in 0..200_000u32 {
        let r = next();
        let sig = match k % 8 {
            0 => u64::MAX,
            1 => 1 << 63,
            2 => u64::MAX - (r & 0xFFFF),
            3 => 1 << 63 | (r & 0xFFFF),
            _ => r | 1 << 63,
        };
        let exp = 1 + (next() % 0x7FFE) as u16;
        let a = f(exp, sig);
        let mut env = soft::Env::new(CW_NEAREST_64);
        let want = soft::sqrt(&mut env, a, false).unwrap();
        if let Some((got, pe, up)) = soft::sqrt_fast(a) {
            assert_eq!(got, want, "{a:?}");
            assert_eq!(pe, env.flags & soft::PE != 0, "{a:?}");
            assert_eq!(up, env.up, "{a:?}");
        }
        let mut fpu = fpu_with(CW_NEAREST_64, &[a]);
        let mut gen = fpu.clone();
        assert!(fpu.fsqrt_fast_default() || soft::sqrt_fast(a).is_none());
        gen.unary(|env, x| soft::sqrt(env, x, false));
        if soft::sqrt_fast(a).is_some() {
            assert_eq!(fpu, gen, "{a:?}");
        }
    }
}

/// The FST m64 fast path stores what the general one does, with the same status word and
/// stack, wherever it applies: random values across and beyond the double range, and
/// significands at every rounding boundary.
#[test]
fn fst_f64_fast_matches_general() {
    use super::f80::BIAS;
    let mut rng = crate::test_rng::Rng(0x9E37_79B9_7F4A_7C15);
    let mut taken = 0;
    for i in 0..200_000u32 {
        let r = rng.next();
        let exp = match i % 4 {
            0 => (BIAS - 1023) as u16 + (r as u16 % 2048),
            1 => (BIAS + 1023 - 2) as u16 + (r as u16 % 5),
            2 => (BIAS - 1022 - 2) as u16 + (r as u16 % 5),
            _ => r as u16 & 0x7FFF,
        };
        let tail = [0, 0x3FF, 0x400, 0x401, 0x7FF, rng.next() & 0x7FF][i as usize % 6];
        let sig = (rng.next() | 1 << 63) & !0x7FF | tail;
        let sig = if i % 7 == 0 { !0x7FF | tail } else { sig };
        let x = f(exp | (r as u16 & 0x8000), sig);
        let pop = i % 2 == 0;
        let (mut a, mut b) = (
            fpu_with(CW_NEAREST_64, &[x, F80::ONE]),
            fpu_with(CW_NEAREST_64, &[x, F80::ONE]),
        );
        a.sw |= (r >> 32) as u32 & 0x0200;
        b.sw = a.sw;
        let Some(v) = a.fst_f64_fast_default(pop) else {
            assert_eq!(
                (a.sw, a.top, a.valid),
                (b.sw, b.top, b.valid),
                "declined but changed"
            );
            continue;
        };
        taken += 1;
        assert_eq!(Some(v), b.fst_f64(pop), "value of {x:?}");
        assert_eq!(
            (a.sw, a.top, a.valid),
            (b.sw, b.top, b.valid),
            "state after {x:?}"
        );
    }
    assert!(taken > 100_000, "fast path taken {taken} times");
}
