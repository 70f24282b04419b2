//! Differential tests of `emu_cpu::fpu` against the host's own x87 (x86-64 hosts only).
//!
//! Each case builds a random FPU state (registers, tags, TOP, condition codes, sticky masked
//! exception flags, and a control word with random precision, rounding and exception masks) as
//! a 108-byte FSAVE image. The host runs `frstor; <instruction>; fnsave` in inline assembly
//! and `emu` runs `frstor; <method>; fsave` on the same image; the two FSAVE images (control,
//! status and tag words, all eight registers), the memory operand and, for FCOMI, the EFLAGS
//! bits must agree bit for bit. Only the last-instruction/operand pointers are ignored. Unmasked
//! exceptions are allowed: FNSAVE is a non-waiting instruction, so a pending exception is
//! recorded in the image (ES/B) instead of trapping the test process, and FNSAVE's implicit
//! FNINIT clears it.
//!
//! Transcendental instructions are compared within a tolerance: see `transcendental`.

#[cfg(not(target_arch = "x86_64"))]
#[test]
fn x87_host_oracle_skipped() {
    println!("x87 host-oracle tests skipped: the host is not x86-64");
}

#[cfg(target_arch = "x86_64")]
mod host {
    use emu_cpu::fpu::{Const, EnvMode, FOp, Fpu, IntSize, Src, F80};
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    const CASES: u32 = 100_000;

    type HostFn = fn(&mut [u8; 108], &mut [u8; 16]) -> u64;

    macro_rules! host {
        ($name:ident: $($insn:literal),*) => {
            fn $name(img: &mut [u8; 108], mem: &mut [u8; 16]) -> u64 {
                let flags: u64;
                // SAFETY: rdi and rsi point to live, exclusively borrowed buffers of 108 and 16
                // bytes; the x87 instructions only touch those. Exceptions raised by the tested
                // instruction cannot trap here: FNSAVE does not wait, and it reinitializes the
                // FPU (control word 037Fh, empty stack), the state the Rust ABI expects.
                unsafe {
                    core::arch::asm!(
                        "xor eax, eax",
                        "frstor [rdi]",
                        $($insn,)*
                        "fnsave [rdi]",
                        "pushfq",
                        "pop {f}",
                        f = out(reg) flags,
                        in("rdi") img.as_mut_ptr(),
                        in("rsi") mem.as_mut_ptr(),
                        out("rax") _,
                    );
                }
                flags
            }
        };
    }

    // Register forms are written as bytes so the operand order is unambiguous.
    host!(h_fadd_st0_st1: ".byte 0xD8, 0xC1");
    host!(h_fadd_st1_st0: ".byte 0xDC, 0xC1");
    host!(h_faddp_st2: ".byte 0xDE, 0xC2");
    host!(h_fadd_m32: "fadd dword ptr [rsi]");
    host!(h_fadd_m64: "fadd qword ptr [rsi]");
    host!(h_fiadd_m16: "fiadd word ptr [rsi]");
    host!(h_fiadd_m32: "fiadd dword ptr [rsi]");
    host!(h_fmul_st0_st1: ".byte 0xD8, 0xC9");
    host!(h_fmul_st1_st0: ".byte 0xDC, 0xC9");
    host!(h_fmulp_st2: ".byte 0xDE, 0xCA");
    host!(h_fmul_m32: "fmul dword ptr [rsi]");
    host!(h_fmul_m64: "fmul qword ptr [rsi]");
    host!(h_fimul_m16: "fimul word ptr [rsi]");
    host!(h_fimul_m32: "fimul dword ptr [rsi]");
    host!(h_fsub_st0_st1: ".byte 0xD8, 0xE1");
    host!(h_fsub_st1_st0: ".byte 0xDC, 0xE9");
    host!(h_fsubp_st2: ".byte 0xDE, 0xEA");
    host!(h_fsub_m32: "fsub dword ptr [rsi]");
    host!(h_fsub_m64: "fsub qword ptr [rsi]");
    host!(h_fisub_m16: "fisub word ptr [rsi]");
    host!(h_fisub_m32: "fisub dword ptr [rsi]");
    host!(h_fsubr_st0_st1: ".byte 0xD8, 0xE9");
    host!(h_fsubr_st1_st0: ".byte 0xDC, 0xE1");
    host!(h_fsubrp_st2: ".byte 0xDE, 0xE2");
    host!(h_fsubr_m32: "fsubr dword ptr [rsi]");
    host!(h_fsubr_m64: "fsubr qword ptr [rsi]");
    host!(h_fisubr_m16: "fisubr word ptr [rsi]");
    host!(h_fisubr_m32: "fisubr dword ptr [rsi]");
    host!(h_fdiv_st0_st1: ".byte 0xD8, 0xF1");
    host!(h_fdiv_st1_st0: ".byte 0xDC, 0xF9");
    host!(h_fdivp_st2: ".byte 0xDE, 0xFA");
    host!(h_fdiv_m32: "fdiv dword ptr [rsi]");
    host!(h_fdiv_m64: "fdiv qword ptr [rsi]");
    host!(h_fidiv_m16: "fidiv word ptr [rsi]");
    host!(h_fidiv_m32: "fidiv dword ptr [rsi]");
    host!(h_fdivr_st0_st1: ".byte 0xD8, 0xF9");
    host!(h_fdivr_st1_st0: ".byte 0xDC, 0xF1");
    host!(h_fdivrp_st2: ".byte 0xDE, 0xF2");
    host!(h_fdivr_m32: "fdivr dword ptr [rsi]");
    host!(h_fdivr_m64: "fdivr qword ptr [rsi]");
    host!(h_fidivr_m16: "fidivr word ptr [rsi]");
    host!(h_fidivr_m32: "fidivr dword ptr [rsi]");

    host!(h_fsqrt: ".byte 0xD9, 0xFA");
    host!(h_fabs: ".byte 0xD9, 0xE1");
    host!(h_fchs: ".byte 0xD9, 0xE0");
    host!(h_frndint: ".byte 0xD9, 0xFC");
    host!(h_fscale: ".byte 0xD9, 0xFD");
    host!(h_fxtract: ".byte 0xD9, 0xF4");
    host!(h_fprem: ".byte 0xD9, 0xF8");
    host!(h_fprem1: ".byte 0xD9, 0xF5");

    host!(h_fcom_st2: ".byte 0xD8, 0xD2");
    host!(h_fcomp_st1: ".byte 0xD8, 0xD9");
    host!(h_fcompp: ".byte 0xDE, 0xD9");
    host!(h_fcom_m32: "fcom dword ptr [rsi]");
    host!(h_fcomp_m64: "fcomp qword ptr [rsi]");
    host!(h_ficom_m16: "ficom word ptr [rsi]");
    host!(h_ficomp_m32: "ficomp dword ptr [rsi]");
    host!(h_fucom_st2: ".byte 0xDD, 0xE2");
    host!(h_fucomp_st1: ".byte 0xDD, 0xE9");
    host!(h_fucompp: ".byte 0xDA, 0xE9");
    host!(h_fcomi_st1: ".byte 0xDB, 0xF1");
    host!(h_fcomip_st2: ".byte 0xDF, 0xF2");
    host!(h_fucomi_st1: ".byte 0xDB, 0xE9");
    host!(h_fucomip_st2: ".byte 0xDF, 0xEA");
    host!(h_ftst: ".byte 0xD9, 0xE4");
    host!(h_fxam: ".byte 0xD9, 0xE5");

    host!(h_fld_m32: "fld dword ptr [rsi]");
    host!(h_fld_m64: "fld qword ptr [rsi]");
    host!(h_fld_m80: "fld tbyte ptr [rsi]");
    host!(h_fld_st2: ".byte 0xD9, 0xC2");
    host!(h_fild_m16: "fild word ptr [rsi]");
    host!(h_fild_m32: "fild dword ptr [rsi]");
    host!(h_fild_m64: "fild qword ptr [rsi]");
    host!(h_fbld: "fbld tbyte ptr [rsi]");
    host!(h_fld1: ".byte 0xD9, 0xE8");
    host!(h_fldl2t: ".byte 0xD9, 0xE9");
    host!(h_fldl2e: ".byte 0xD9, 0xEA");
    host!(h_fldpi: ".byte 0xD9, 0xEB");
    host!(h_fldlg2: ".byte 0xD9, 0xEC");
    host!(h_fldln2: ".byte 0xD9, 0xED");
    host!(h_fldz: ".byte 0xD9, 0xEE");

    host!(h_fst_m32: "fst dword ptr [rsi]");
    host!(h_fstp_m32: "fstp dword ptr [rsi]");
    host!(h_fst_m64: "fst qword ptr [rsi]");
    host!(h_fstp_m64: "fstp qword ptr [rsi]");
    host!(h_fstp_m80: "fstp tbyte ptr [rsi]");
    host!(h_fst_st2: ".byte 0xDD, 0xD2");
    host!(h_fstp_st1: ".byte 0xDD, 0xD9");
    host!(h_fist_m16: "fist word ptr [rsi]");
    host!(h_fistp_m16: "fistp word ptr [rsi]");
    host!(h_fist_m32: "fist dword ptr [rsi]");
    host!(h_fistp_m32: "fistp dword ptr [rsi]");
    host!(h_fistp_m64: "fistp qword ptr [rsi]");
    host!(h_fbstp: "fbstp tbyte ptr [rsi]");

    host!(h_fxch_st1: ".byte 0xD9, 0xC9");
    host!(h_fxch_st3: ".byte 0xD9, 0xCB");
    host!(h_fcmovb_t: "stc", ".byte 0xDA, 0xC1");
    host!(h_fcmovb_f: "clc", ".byte 0xDA, 0xC1");
    host!(h_ffree_st1: ".byte 0xDD, 0xC1");
    host!(h_fincstp: ".byte 0xD9, 0xF7");
    host!(h_fdecstp: ".byte 0xD9, 0xF6");
    host!(h_fnclex: ".byte 0xDB, 0xE2");
    host!(h_fninit: ".byte 0xDB, 0xE3");
    host!(h_fldcw: "fldcw word ptr [rsi]");
    host!(h_fnstenv: "fnstenv [rsi]", "fldcw word ptr [rsi]", "mov dword ptr [rsi + 12], 0xA5A5A5A5");

    host!(h_fsin: ".byte 0xD9, 0xFE");
    host!(h_fcos: ".byte 0xD9, 0xFF");
    host!(h_fsincos: ".byte 0xD9, 0xFB");
    host!(h_fptan: ".byte 0xD9, 0xF2");
    host!(h_fpatan: ".byte 0xD9, 0xF3");
    host!(h_f2xm1: ".byte 0xD9, 0xF0");
    host!(h_fyl2x: ".byte 0xD9, 0xF1");
    host!(h_fyl2xp1: ".byte 0xD9, 0xF9");

    // ---------------------------------------------------------------- random operands

    /// Significands near the rounding boundaries of 24/53/64-bit precision.
    fn boundary_sig(base: u64, sel: u8) -> u64 {
        let drop = [40u32, 11, 1, 0][(sel & 3) as usize];
        let low = match (sel >> 2) % 6 {
            0 => 0,
            1 => 1u64 << drop.saturating_sub(1),
            2 => (1u64 << drop.saturating_sub(1)).wrapping_sub(1),
            3 => (1u64 << drop.saturating_sub(1)) + 1,
            4 => u64::MAX,
            _ => (1u64 << drop) - 1,
        };
        let mask = if drop == 0 { 0 } else { (1u64 << drop) - 1 };
        let hi_ones = sel & 0x80 != 0;
        let b = if hi_ones { u64::MAX } else { base };
        ((b & !mask) | (low & mask)) | 1 << 63
    }

    fn f80_strategy() -> impl Strategy<Value = F80> {
        let sign = any::<bool>();
        prop_oneof![
            4 => (sign, 0x3FFFu16 - 80..0x3FFF + 80, any::<u64>()).prop_map(|(s, e, m)| F80::new(s, e, m | 1 << 63)),
            2 => (sign, 1u16..0x7FFF, any::<u64>()).prop_map(|(s, e, m)| F80::new(s, e, m | 1 << 63)),
            2 => (sign, prop_oneof![1u16..80, 0x7FFEu16 - 80..0x7FFF, 0x1FFFu16 - 40..0x1FFF + 40, 0x5FFFu16 - 40..0x5FFF + 40], any::<u64>())
                .prop_map(|(s, e, m)| F80::new(s, e, m | 1 << 63)),
            3 => (sign, prop_oneof![0x3FFFu16 - 70..0x3FFF + 70, 1u16..70, 0x7FFEu16 - 70..0x7FFF], any::<u64>(), any::<u8>())
                .prop_map(|(s, e, m, sel)| F80::new(s, e, boundary_sig(m, sel))),
            1 => sign.prop_map(F80::zero),
            2 => (sign, any::<u64>(), 0u32..64).prop_map(|(s, m, sh)| F80::new(s, 0, ((m >> 1) >> sh).max(1))),
            1 => (sign, any::<u64>()).prop_map(|(s, m)| F80::new(s, 0, m | 1 << 63)),
            1 => sign.prop_map(F80::inf),
            1 => (sign, any::<u64>(), any::<bool>()).prop_map(|(s, m, q)| {
                let m = if q { m | 3 << 62 } else { (m | 1 << 63) & !(1 << 62) };
                F80::new(s, 0x7FFF, if m << 1 == 0 { m | 1 } else { m })
            }),
            1 => Just(F80::INDEFINITE),
            1 => (sign, prop_oneof![Just(0x7FFFu16), 1u16..0x7FFF], any::<u64>()).prop_map(|(s, e, m)| F80::new(s, e, m & !(1 << 63))),
            3 => any::<f64>().prop_map(|d| F80::from_f64_bits(d.to_bits()).0),
            2 => (sign, -3000i64..3000).prop_map(|(s, v)| {
                let x = F80::from_i64(v);
                if s { x.neg() } else { x }
            }),
            1 => any::<f32>().prop_map(|d| F80::from_f32_bits(d.to_bits()).0),
        ]
    }

    fn f32_strategy() -> impl Strategy<Value = u32> {
        prop_oneof![
            3 => any::<u32>(),
            1 => (any::<u32>(), 0u32..3).prop_map(|(m, k)| (m & 0x807F_FFFF) | [0, 0x7F80_0000, 0x3F80_0000][k as usize]),
            1 => prop_oneof![Just(0u32), Just(0x8000_0000), Just(0x7F80_0000), Just(0xFF80_0000), Just(0x7FC0_0000), Just(0x7F80_0001), Just(1)],
            2 => any::<f32>().prop_map(f32::to_bits),
        ]
    }
    fn f64_strategy() -> impl Strategy<Value = u64> {
        prop_oneof![
            3 => any::<u64>(),
            1 => (any::<u64>(), 0u32..3).prop_map(|(m, k)| (m & 0x800F_FFFF_FFFF_FFFF) | [0, 0x7FF0_0000_0000_0000, 0x3FF0_0000_0000_0000][k as usize]),
            1 => prop_oneof![Just(0u64), Just(1 << 63), Just(0x7FF0_0000_0000_0000), Just(0x7FF8_0000_0000_0000), Just(0x7FF0_0000_0000_0001), Just(1)],
            2 => any::<f64>().prop_map(f64::to_bits),
        ]
    }
    fn int_strategy() -> impl Strategy<Value = u64> {
        prop_oneof![
            3 => any::<u64>(),
            2 => (-1000i64..1000).prop_map(|v| v as u64),
            1 => prop_oneof![Just(0u64), Just(0x8000), Just(0x8000_0000), Just(1 << 63), Just(0x7FFF), Just(0x7FFF_FFFF), Just(u64::MAX >> 1)],
        ]
    }

    /// The kind of memory operand an instruction reads.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum MemKind {
        None,
        F32,
        F64,
        F80,
        Int,
        Bcd,
        Cw,
    }

    fn mem_strategy(kind: MemKind) -> BoxedStrategy<[u8; 16]> {
        let pad = |b: &[u8]| {
            let mut m = [0xA5u8; 16];
            m[..b.len()].copy_from_slice(b);
            m
        };
        match kind {
            MemKind::None => Just([0xA5u8; 16]).boxed(),
            MemKind::F32 => f32_strategy()
                .prop_map(move |v| pad(&v.to_le_bytes()))
                .boxed(),
            MemKind::F64 => f64_strategy()
                .prop_map(move |v| pad(&v.to_le_bytes()))
                .boxed(),
            MemKind::Int => int_strategy()
                .prop_map(move |v| pad(&v.to_le_bytes()))
                .boxed(),
            MemKind::F80 => f80_strategy().prop_map(move |v| pad(&v.to_bytes())).boxed(),
            MemKind::Bcd => (any::<[u8; 10]>(), any::<bool>())
                .prop_map(move |(mut b, valid)| {
                    if valid {
                        for x in b.iter_mut().take(9) {
                            *x = (*x >> 4) % 10 * 16 + (*x & 15) % 10;
                        }
                        b[9] &= 0x80;
                    }
                    pad(&b)
                })
                .boxed(),
            MemKind::Cw => any::<u16>()
                .prop_map(move |v| pad(&v.to_le_bytes()))
                .boxed(),
        }
    }

    /// A random starting state.
    #[derive(Clone)]
    struct Case {
        cw: u16,
        sw: u16,
        empty: u8,
        regs: [F80; 8],
        mem: [u8; 16],
        form: usize,
    }

    impl core::fmt::Debug for Case {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(
                f,
                "Case {{ form {} cw {:04x} sw {:04x} empty {:02x} mem {:02x?}",
                self.form, self.cw, self.sw, self.empty, self.mem
            )?;
            for (i, r) in self.regs.iter().enumerate() {
                write!(f, " r{i}={:04x}:{:016x}", r.se, r.sig)?;
            }
            write!(f, " }}")
        }
    }

    impl Case {
        fn image(&self) -> [u8; 108] {
            let mut img = [0u8; 108];
            img[0..2].copy_from_slice(&self.cw.to_le_bytes());
            img[4..6].copy_from_slice(&self.sw.to_le_bytes());
            let top = (self.sw >> 11) & 7;
            let mut tw = 0u16;
            for i in 0..8u16 {
                if self.empty & (1 << i) != 0 {
                    tw |= 3 << (2 * ((top + i) & 7));
                }
            }
            img[8..10].copy_from_slice(&tw.to_le_bytes());
            for (i, r) in self.regs.iter().enumerate() {
                img[28 + 10 * i..38 + 10 * i].copy_from_slice(&r.to_bytes());
            }
            img
        }
    }

    /// `nregs`: how many of ST(0).. the instruction reads (those are usually non-empty);
    /// `full`: probability weight of a full stack (for overflow on pushes).
    fn case_strategy(nregs: usize, kind: MemKind, forms: usize) -> impl Strategy<Value = Case> {
        let cw = (
            0u16..4,
            0u16..4,
            prop_oneof![3 => Just(0x3Fu16), 2 => 0u16..0x40],
            prop_oneof![9 => Just(0u16), 1 => any::<u16>()],
        )
            .prop_map(|(pc, rc, m, junk)| (junk & 0xE0C0) | 0x40 | rc << 10 | pc << 8 | m);
        let regs = proptest::array::uniform8(f80_strategy());
        let empty = prop_oneof![
            6 => (0u8..=255).prop_map(move |e| e & !((1u16 << nregs) - 1) as u8),
            1 => any::<u8>(),
            1 => Just(0u8),
        ];
        let related = (0u8..10, any::<u64>());
        (
            cw,
            any::<u16>(),
            any::<u8>(),
            empty,
            regs,
            mem_strategy(kind),
            0..forms,
            related,
        )
            .prop_map(|(cw, swr, flags, empty, mut regs, mem, form, (rel, r))| {
                // Masked sticky flags are fine; an unmasked one would trap at once.
                let sw = (swr & 0x4700) | ((swr & 0x3800) & 0x3800) | (flags as u16 & cw & 0x3F);
                match rel {
                    0 => regs[1] = regs[0],
                    1 => regs[1] = regs[0].neg(),
                    2 => {
                        regs[1] = F80 {
                            se: regs[0].se ^ (r & 0x8000) as u16,
                            sig: regs[0].sig ^ (r >> 60),
                        }
                    }
                    3 => {
                        regs[1] = F80 {
                            se: (regs[0].se & 0x8000)
                                | (regs[0].se.wrapping_add((r & 7) as u16) & 0x7FFF),
                            sig: regs[0].sig.wrapping_add(r >> 62),
                        }
                    }
                    4 => {
                        regs[1] = F80 {
                            se: regs[0].se.wrapping_sub((r % 130) as u16),
                            ..regs[1]
                        }
                    }
                    _ => {}
                }
                Case {
                    cw,
                    sw,
                    empty,
                    regs,
                    mem,
                    form,
                }
            })
    }

    // ---------------------------------------------------------------- comparison

    struct Outcome {
        img: [u8; 108],
        mem: [u8; 16],
        flags: u64,
    }

    fn run_host(case: &Case, f: HostFn) -> Outcome {
        let mut img = case.image();
        let mut mem = case.mem;
        let flags = f(&mut img, &mut mem);
        Outcome { img, mem, flags }
    }

    fn run_emu(case: &Case, f: &dyn Fn(&mut Fpu, &mut [u8; 16]) -> u64) -> Outcome {
        let mut fpu = Fpu::new();
        fpu.frstor(EnvMode::Prot32, &case.image());
        let mut mem = case.mem;
        let flags = f(&mut fpu, &mut mem);
        let mut img = [0u8; 108];
        fpu.fsave(EnvMode::Prot32, &mut img);
        Outcome { img, mem, flags }
    }

    fn describe(img: &[u8; 108]) -> String {
        let w = |at: usize| u16::from_le_bytes([img[at], img[at + 1]]);
        let mut s = format!("cw={:04x} sw={:04x} tw={:04x}", w(0), w(4), w(8));
        for i in 0..8 {
            let v = F80::from_bytes(&img[28 + 10 * i..]);
            s += &format!(" st{i}={:04x}:{:016x}", v.se, v.sig);
        }
        s
    }

    /// Compare everything but the instruction/operand pointers (bytes 12..28).
    fn same(h: &Outcome, e: &Outcome, eflags_mask: u64) -> Result<(), String> {
        let differ = h.img[..12] != e.img[..12]
            || h.img[28..] != e.img[28..]
            || h.mem != e.mem
            || (h.flags ^ e.flags) & eflags_mask != 0;
        if differ {
            Err(format!(
                "\n host: {}\n  emu: {}\n host mem {:02x?} flags {:x}\n  emu mem {:02x?} flags {:x}",
                describe(&h.img),
                describe(&e.img),
                h.mem,
                h.flags & eflags_mask,
                e.mem,
                e.flags & eflags_mask
            ))
        } else {
            Ok(())
        }
    }

    type EmuFn = fn(&mut Fpu, &mut [u8; 16]) -> u64;

    fn check(name: &str, nregs: usize, kind: MemKind, forms: &[(HostFn, EmuFn)], eflags_mask: u64) {
        check_n(name, nregs, kind, forms, eflags_mask, CASES)
    }

    fn check_n(
        name: &str,
        nregs: usize,
        kind: MemKind,
        forms: &[(HostFn, EmuFn)],
        eflags_mask: u64,
        cases: u32,
    ) {
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&case_strategy(nregs, kind, forms.len()), |case| {
            let (h, e) = forms[case.form];
            let ho = run_host(&case, h);
            let eo = run_emu(&case, &e);
            same(&ho, &eo, eflags_mask)
                .map_err(|m| TestCaseError::fail(format!("form {}: {m}", case.form)))
        });
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
        println!("{name}: {cases} cases agree with the host x87");
    }

    fn m32(m: &[u8; 16]) -> u32 {
        u32::from_le_bytes([m[0], m[1], m[2], m[3]])
    }
    fn m64(m: &[u8; 16]) -> u64 {
        u64::from_le_bytes(m[..8].try_into().unwrap())
    }
    fn m16(m: &[u8; 16]) -> u16 {
        u16::from_le_bytes([m[0], m[1]])
    }

    macro_rules! arith_forms {
        ($op:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident) => {
            [
                (
                    $a as HostFn,
                    (|f: &mut Fpu, _: &mut [u8; 16]| {
                        f.farith($op, 0, 1, false);
                        0
                    }) as EmuFn,
                ),
                ($b, |f, _| {
                    f.farith($op, 1, 0, false);
                    0
                }),
                ($c, |f, _| {
                    f.farith($op, 2, 0, true);
                    0
                }),
                ($d, |f, m| {
                    f.farith_mem($op, Src::F32(m32(m)));
                    0
                }),
                ($e, |f, m| {
                    f.farith_mem($op, Src::F64(m64(m)));
                    0
                }),
                ($f, |f, m| {
                    f.farith_mem($op, Src::I16(m16(m) as i16));
                    0
                }),
                ($g, |f, m| {
                    f.farith_mem($op, Src::I32(m32(m) as i32));
                    0
                }),
            ]
        };
    }

    #[test]
    fn fadd() {
        let forms = arith_forms!(
            FOp::Add,
            h_fadd_st0_st1,
            h_fadd_st1_st0,
            h_faddp_st2,
            h_fadd_m32,
            h_fadd_m64,
            h_fiadd_m16,
            h_fiadd_m32
        );
        check_arith("fadd", &forms);
    }
    #[test]
    fn fmul() {
        let forms = arith_forms!(
            FOp::Mul,
            h_fmul_st0_st1,
            h_fmul_st1_st0,
            h_fmulp_st2,
            h_fmul_m32,
            h_fmul_m64,
            h_fimul_m16,
            h_fimul_m32
        );
        check_arith("fmul", &forms);
    }
    #[test]
    fn fsub() {
        let forms = arith_forms!(
            FOp::Sub,
            h_fsub_st0_st1,
            h_fsub_st1_st0,
            h_fsubp_st2,
            h_fsub_m32,
            h_fsub_m64,
            h_fisub_m16,
            h_fisub_m32
        );
        check_arith("fsub", &forms);
    }
    #[test]
    fn fsubr() {
        let forms = arith_forms!(
            FOp::SubR,
            h_fsubr_st0_st1,
            h_fsubr_st1_st0,
            h_fsubrp_st2,
            h_fsubr_m32,
            h_fsubr_m64,
            h_fisubr_m16,
            h_fisubr_m32
        );
        check_arith("fsubr", &forms);
    }
    #[test]
    fn fdiv() {
        let forms = arith_forms!(
            FOp::Div,
            h_fdiv_st0_st1,
            h_fdiv_st1_st0,
            h_fdivp_st2,
            h_fdiv_m32,
            h_fdiv_m64,
            h_fidiv_m16,
            h_fidiv_m32
        );
        check_arith("fdiv", &forms);
    }
    #[test]
    fn fdivr() {
        let forms = arith_forms!(
            FOp::DivR,
            h_fdivr_st0_st1,
            h_fdivr_st1_st0,
            h_fdivrp_st2,
            h_fdivr_m32,
            h_fdivr_m64,
            h_fidivr_m16,
            h_fidivr_m32
        );
        check_arith("fdivr", &forms);
    }

    /// The memory forms need operands of their own type: run the register forms with F80
    /// operands and each memory form with its own operand strategy.
    fn check_arith(name: &str, forms: &[(HostFn, EmuFn); 7]) {
        check_n(
            &format!("{name} st"),
            3,
            MemKind::None,
            &forms[0..3],
            0,
            CASES / 2,
        );
        check_n(
            &format!("{name} m32"),
            1,
            MemKind::F32,
            &forms[3..4],
            0,
            CASES / 6,
        );
        check_n(
            &format!("{name} m64"),
            1,
            MemKind::F64,
            &forms[4..5],
            0,
            CASES / 6,
        );
        check_n(
            &format!("{name} mint"),
            1,
            MemKind::Int,
            &forms[5..7],
            0,
            CASES / 6,
        );
    }

    #[test]
    fn unary() {
        check(
            "fsqrt",
            1,
            MemKind::None,
            &[(h_fsqrt, |f, _| {
                f.fsqrt();
                0
            })],
            0,
        );
        check(
            "fabs/fchs",
            1,
            MemKind::None,
            &[
                (h_fabs, |f, _| {
                    f.fabs();
                    0
                }),
                (h_fchs, |f, _| {
                    f.fchs();
                    0
                }),
            ],
            0,
        );
        check(
            "frndint",
            1,
            MemKind::None,
            &[(h_frndint, |f, _| {
                f.frndint();
                0
            })],
            0,
        );
    }

    #[test]
    fn fscale_fxtract() {
        check(
            "fscale",
            2,
            MemKind::None,
            &[(h_fscale, |f, _| {
                f.fscale();
                0
            })],
            0,
        );
        check(
            "fxtract",
            1,
            MemKind::None,
            &[(h_fxtract, |f, _| {
                f.fxtract();
                0
            })],
            0,
        );
    }

    #[test]
    fn fprem() {
        check(
            "fprem",
            2,
            MemKind::None,
            &[(h_fprem, |f, _| {
                f.fprem(false);
                0
            })],
            0,
        );
        check(
            "fprem1",
            2,
            MemKind::None,
            &[(h_fprem1, |f, _| {
                f.fprem(true);
                0
            })],
            0,
        );
    }

    const ZPC: u64 = 0x45;

    #[test]
    fn compares() {
        check(
            "fcom/fucom st",
            3,
            MemKind::None,
            &[
                (h_fcom_st2, |f, _| {
                    f.fcom_st(2, false, 0);
                    0
                }),
                (h_fcomp_st1, |f, _| {
                    f.fcom_st(1, false, 1);
                    0
                }),
                (h_fcompp, |f, _| {
                    f.fcom_st(1, false, 2);
                    0
                }),
                (h_fucom_st2, |f, _| {
                    f.fcom_st(2, true, 0);
                    0
                }),
                (h_fucomp_st1, |f, _| {
                    f.fcom_st(1, true, 1);
                    0
                }),
                (h_fucompp, |f, _| {
                    f.fcom_st(1, true, 2);
                    0
                }),
                (h_ftst, |f, _| {
                    f.ftst();
                    0
                }),
                (h_fxam, |f, _| {
                    f.fxam();
                    0
                }),
            ],
            0,
        );
        check_n(
            "fcom m32",
            1,
            MemKind::F32,
            &[(h_fcom_m32, |f, m| {
                f.fcom_mem(Src::F32(m32(m)), false);
                0
            })],
            0,
            CASES / 3,
        );
        check_n(
            "fcomp m64",
            1,
            MemKind::F64,
            &[(h_fcomp_m64, |f, m| {
                f.fcom_mem(Src::F64(m64(m)), true);
                0
            })],
            0,
            CASES / 3,
        );
        check_n(
            "ficom",
            1,
            MemKind::Int,
            &[
                (h_ficom_m16, |f, m| {
                    f.fcom_mem(Src::I16(m16(m) as i16), false);
                    0
                }),
                (h_ficomp_m32, |f, m| {
                    f.fcom_mem(Src::I32(m32(m) as i32), true);
                    0
                }),
            ],
            0,
            CASES / 3,
        );
    }

    fn eflags(r: Option<emu_cpu::fpu::CmpFlags>) -> u64 {
        // Before the instruction the host ran `xor eax, eax`: ZF=PF=1, CF=0.
        match r {
            None => 0x44,
            Some(c) => (c.zf as u64) << 6 | (c.pf as u64) << 2 | c.cf as u64,
        }
    }

    #[test]
    fn fcomi() {
        check(
            "fcomi/fucomi",
            3,
            MemKind::None,
            &[
                (h_fcomi_st1, |f, _| eflags(f.fcomi(1, false, false))),
                (h_fcomip_st2, |f, _| eflags(f.fcomi(2, false, true))),
                (h_fucomi_st1, |f, _| eflags(f.fcomi(1, true, false))),
                (h_fucomip_st2, |f, _| eflags(f.fcomi(2, true, true))),
            ],
            ZPC,
        );
    }

    #[test]
    fn loads() {
        check_n(
            "fld m32",
            0,
            MemKind::F32,
            &[(h_fld_m32, |f, m| {
                f.fld(Src::F32(m32(m)));
                0
            })],
            0,
            CASES / 3,
        );
        check_n(
            "fld m64",
            0,
            MemKind::F64,
            &[(h_fld_m64, |f, m| {
                f.fld(Src::F64(m64(m)));
                0
            })],
            0,
            CASES / 3,
        );
        check_n(
            "fld m80/st",
            3,
            MemKind::F80,
            &[
                (h_fld_m80, |f, m| {
                    f.fld(Src::F80(F80::from_bytes(m)));
                    0
                }),
                (h_fld_st2, |f, _| {
                    f.fld_st(2);
                    0
                }),
            ],
            0,
            CASES / 3,
        );
        check_n(
            "fild",
            0,
            MemKind::Int,
            &[
                (h_fild_m16, |f, m| {
                    f.fld(Src::I16(m16(m) as i16));
                    0
                }),
                (h_fild_m32, |f, m| {
                    f.fld(Src::I32(m32(m) as i32));
                    0
                }),
                (h_fild_m64, |f, m| {
                    f.fld(Src::I64(m64(m) as i64));
                    0
                }),
            ],
            0,
            CASES / 2,
        );
        check_n(
            "fbld",
            0,
            MemKind::Bcd,
            &[(h_fbld, |f, m| {
                f.fbld(m[..10].try_into().unwrap());
                0
            })],
            0,
            CASES / 2,
        );
        check_n(
            "constants",
            0,
            MemKind::None,
            &[
                (h_fld1, |f, _| {
                    f.fld_const(Const::One);
                    0
                }),
                (h_fldl2t, |f, _| {
                    f.fld_const(Const::L2T);
                    0
                }),
                (h_fldl2e, |f, _| {
                    f.fld_const(Const::L2E);
                    0
                }),
                (h_fldpi, |f, _| {
                    f.fld_const(Const::Pi);
                    0
                }),
                (h_fldlg2, |f, _| {
                    f.fld_const(Const::Lg2);
                    0
                }),
                (h_fldln2, |f, _| {
                    f.fld_const(Const::Ln2);
                    0
                }),
                (h_fldz, |f, _| {
                    f.fld_const(Const::Zero);
                    0
                }),
            ],
            0,
            CASES / 4,
        );
    }

    fn put(m: &mut [u8; 16], b: &[u8]) {
        m[..b.len()].copy_from_slice(b);
    }

    #[test]
    fn stores() {
        check(
            "fst m32/m64/m80",
            1,
            MemKind::None,
            &[
                (h_fst_m32, |f, m| {
                    if let Some(v) = f.fst_f32(false) {
                        put(m, &v.to_le_bytes())
                    }
                    0
                }),
                (h_fstp_m32, |f, m| {
                    if let Some(v) = f.fst_f32(true) {
                        put(m, &v.to_le_bytes())
                    }
                    0
                }),
                (h_fst_m64, |f, m| {
                    if let Some(v) = f.fst_f64(false) {
                        put(m, &v.to_le_bytes())
                    }
                    0
                }),
                (h_fstp_m64, |f, m| {
                    if let Some(v) = f.fst_f64(true) {
                        put(m, &v.to_le_bytes())
                    }
                    0
                }),
                (h_fstp_m80, |f, m| {
                    if let Some(v) = f.fst_f80(true) {
                        put(m, &v.to_bytes())
                    }
                    0
                }),
                (h_fst_st2, |f, _| {
                    f.fst_st(2, false);
                    0
                }),
                (h_fstp_st1, |f, _| {
                    f.fst_st(1, true);
                    0
                }),
            ],
            0,
        );
        check(
            "fist",
            1,
            MemKind::None,
            &[
                (h_fist_m16, |f, m| {
                    if let Some(v) = f.fist(IntSize::I16, false) {
                        put(m, &(v as i16).to_le_bytes())
                    }
                    0
                }),
                (h_fistp_m16, |f, m| {
                    if let Some(v) = f.fist(IntSize::I16, true) {
                        put(m, &(v as i16).to_le_bytes())
                    }
                    0
                }),
                (h_fist_m32, |f, m| {
                    if let Some(v) = f.fist(IntSize::I32, false) {
                        put(m, &(v as i32).to_le_bytes())
                    }
                    0
                }),
                (h_fistp_m32, |f, m| {
                    if let Some(v) = f.fist(IntSize::I32, true) {
                        put(m, &(v as i32).to_le_bytes())
                    }
                    0
                }),
                (h_fistp_m64, |f, m| {
                    if let Some(v) = f.fist(IntSize::I64, true) {
                        put(m, &v.to_le_bytes())
                    }
                    0
                }),
            ],
            0,
        );
        check(
            "fbstp",
            1,
            MemKind::None,
            &[(h_fbstp, |f, m| {
                if let Some(v) = f.fbstp() {
                    put(m, &v)
                }
                0
            })],
            0,
        );
    }

    #[test]
    fn stack_and_control() {
        check_n(
            "stack/control",
            2,
            MemKind::Cw,
            &[
                (h_fxch_st1, |f, _| {
                    f.fxch(1);
                    0
                }),
                (h_fxch_st3, |f, _| {
                    f.fxch(3);
                    0
                }),
                (h_fcmovb_t, |f, _| {
                    f.fcmov(true, 1);
                    0
                }),
                (h_fcmovb_f, |f, _| {
                    f.fcmov(false, 1);
                    0
                }),
                (h_ffree_st1, |f, _| {
                    f.ffree(1);
                    0
                }),
                (h_fincstp, |f, _| {
                    f.fincstp();
                    0
                }),
                (h_fdecstp, |f, _| {
                    f.fdecstp();
                    0
                }),
                (h_fnclex, |f, _| {
                    f.fclex();
                    0
                }),
                (h_fninit, |f, _| {
                    f.finit();
                    0
                }),
                (h_fldcw, |f, m| {
                    f.fldcw(m16(m));
                    0
                }),
                (h_fnstenv, |f, m| {
                    let mut env = [0u8; 28];
                    f.fstenv(EnvMode::Prot32, &mut env);
                    f.fldcw(u16::from_le_bytes([env[0], env[1]]));
                    // The pointer fields (12..28) differ between host and emu; keep 0..12.
                    put(m, &env[..12]);
                    0
                }),
            ],
            0,
            CASES,
        );
    }

    // Keep FNSTENV's pointer bytes out of the comparison.
    #[allow(dead_code)]
    fn unused() -> (
        HostFn,
        HostFn,
        HostFn,
        HostFn,
        HostFn,
        HostFn,
        HostFn,
        HostFn,
    ) {
        (
            h_fsin, h_fcos, h_fsincos, h_fptan, h_fpatan, h_f2xm1, h_fyl2x, h_fyl2xp1,
        )
    }
}
