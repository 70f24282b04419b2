//! EFLAGS with lazily computed arithmetic flags.
//!
//! An ALU instruction records its operation, size, operands and result; CF, PF, AF, ZF, SF
//! and OF are derived only when something reads them. `lazy` says which of the six still
//! have to be derived; the others live in `bits` like every non-arithmetic flag.

pub const CF: u32 = 1 << 0;
pub const PF: u32 = 1 << 2;
pub const AF: u32 = 1 << 4;
pub const ZF: u32 = 1 << 6;
pub const SF: u32 = 1 << 7;
pub const TF: u32 = 1 << 8;
pub const IF: u32 = 1 << 9;
pub const DF: u32 = 1 << 10;
pub const OF: u32 = 1 << 11;
pub const IOPL: u32 = 3 << 12;
pub const NT: u32 = 1 << 14;
pub const RF: u32 = 1 << 16;
pub const VM: u32 = 1 << 17;
pub const AC: u32 = 1 << 18;
pub const VIF: u32 = 1 << 19;
pub const VIP: u32 = 1 << 20;
pub const ID: u32 = 1 << 21;

/// The six arithmetic status flags.
pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
/// Bit 1 reads as one.
const FIXED_ONE: u32 = 1 << 1;
/// Flags that exist on a 686 (everything else reads as zero).
pub const VALID: u32 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

/// The operation whose flags are pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LazyOp {
    /// dst + src (+ carry); also INC.
    Add,
    /// dst - src (- borrow); also DEC, NEG, CMP.
    Sub,
    /// AND/OR/XOR/TEST and anything else that only defines ZF/SF/PF from the result.
    Logic,
}

#[derive(Clone, Copy, Debug)]
pub struct Flags {
    bits: u32,
    lazy: u32,
    op: LazyOp,
    /// Operand size in bits: 8, 16 or 32.
    bits_sz: u32,
    dst: u32,
    src: u32,
    res: u32,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            bits: FIXED_ONE,
            lazy: 0,
            op: LazyOp::Logic,
            bits_sz: 32,
            dst: 0,
            src: 0,
            res: 0,
        }
    }
}

#[inline]
fn mask(bits: u32) -> u32 {
    u32::MAX >> (32 - bits)
}

#[inline]
fn parity(v: u32) -> bool {
    (v as u8).count_ones() & 1 == 0
}

impl Flags {
    /// The full EFLAGS value.
    #[inline]
    pub fn get(&self) -> u32 {
        if self.lazy == 0 {
            self.bits
        } else {
            (self.bits & !self.lazy) | self.compute(self.lazy)
        }
    }

    /// Replaces EFLAGS (POPF, IRET, task switch). Reserved bits are forced.
    #[inline]
    pub fn set(&mut self, v: u32) {
        self.bits = (v & VALID) | FIXED_ONE;
        self.lazy = 0;
    }

    /// Replaces only the flags in `which` with the corresponding bits of `v`.
    #[inline]
    pub fn set_masked(&mut self, v: u32, which: u32) {
        let cur = self.get();
        self.set((cur & !which) | (v & which));
    }

    /// One flag (`f` is a constant at every call site, so this folds to that flag's rule).
    #[inline(always)]
    pub fn test(&self, f: u32) -> bool {
        if self.lazy & f != 0 {
            self.compute_one(f)
        } else {
            self.bits & f != 0
        }
    }

    /// [`Flags::compute`] for a single flag, inlined.
    #[inline(always)]
    fn compute_one(&self, f: u32) -> bool {
        let m = mask(self.bits_sz);
        let r = self.res & m;
        match f {
            ZF => r == 0,
            SF => r >> (self.bits_sz - 1) & 1 != 0,
            CF => match self.op {
                LazyOp::Add => r < self.dst & m,
                LazyOp::Sub => self.dst & m < self.src & m,
                LazyOp::Logic => false,
            },
            _ => self.compute(f) != 0,
        }
    }

    #[inline]
    pub fn assign(&mut self, f: u32, on: bool) {
        if self.lazy & f != 0 {
            self.materialize();
        }
        if on {
            self.bits |= f;
        } else {
            self.bits &= !f;
        }
    }

    #[inline(always)]
    pub fn cf(&self) -> bool {
        self.test(CF)
    }
    #[inline(always)]
    pub fn zf(&self) -> bool {
        self.test(ZF)
    }
    #[inline(always)]
    pub fn sf(&self) -> bool {
        self.test(SF)
    }
    #[inline(always)]
    pub fn of(&self) -> bool {
        self.test(OF)
    }
    #[inline(always)]
    pub fn pf(&self) -> bool {
        self.test(PF)
    }
    #[inline(always)]
    pub fn af(&self) -> bool {
        self.test(AF)
    }
    #[inline]
    pub fn df(&self) -> bool {
        self.bits & DF != 0
    }
    #[inline]
    pub fn iff(&self) -> bool {
        self.bits & IF != 0
    }
    #[inline]
    pub fn tf(&self) -> bool {
        self.bits & TF != 0
    }
    #[inline]
    pub fn iopl(&self) -> u8 {
        ((self.bits >> 12) & 3) as u8
    }
    #[inline]
    pub fn vm(&self) -> bool {
        self.bits & VM != 0
    }

    /// Stores every pending flag in `bits`.
    #[inline]
    pub fn materialize(&mut self) {
        if self.lazy != 0 {
            self.bits = self.get();
            self.lazy = 0;
        }
    }

    /// Records an ALU result; all six arithmetic flags become lazy.
    #[inline]
    pub fn set_lazy(&mut self, op: LazyOp, size: u8, dst: u32, src: u32, res: u32) {
        self.op = op;
        self.bits_sz = size as u32 * 8;
        self.dst = dst;
        self.src = src;
        self.res = res;
        self.lazy = ARITH;
    }

    /// Like [`Flags::set_lazy`] but CF is given now (ADC/SBB, INC/DEC which keep CF).
    #[inline]
    pub fn set_lazy_cf(&mut self, op: LazyOp, size: u8, dst: u32, src: u32, res: u32, cf: bool) {
        self.set_lazy(op, size, dst, src, res);
        self.bits = (self.bits & !CF) | cf as u32;
        self.lazy = ARITH & !CF;
    }

    /// Result-only flags (ZF, SF, PF) lazy; CF, OF and AF given explicitly.
    #[inline]
    pub fn set_result(&mut self, size: u8, res: u32, cf: bool, of: bool, af: bool) {
        self.set_lazy(LazyOp::Logic, size, 0, 0, res);
        self.bits =
            (self.bits & !(CF | OF | AF)) | (cf as u32) | ((of as u32) << 11) | ((af as u32) << 4);
        self.lazy = ZF | SF | PF;
    }

    /// INC keeps CF: capture it before the new lazy state replaces the old one.
    #[inline]
    pub fn set_inc(&mut self, size: u8, dst: u32, res: u32) {
        let cf = self.cf();
        self.set_lazy_cf(LazyOp::Add, size, dst, 1, res, cf);
    }

    #[inline]
    pub fn set_dec(&mut self, size: u8, dst: u32, res: u32) {
        let cf = self.cf();
        self.set_lazy_cf(LazyOp::Sub, size, dst, 1, res, cf);
    }

    /// Condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc opcodes) from the flags.
    #[inline(always)]
    pub fn cond(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r ^ (cc & 1 != 0)
    }

    /// Condition `cc` (as [`Flags::cond`] numbers them) straight from the operands of a
    /// 32-bit CMP or SUB that is known to be the last flag setter (`crate::knownflags`):
    /// no lazy-state dispatch, no flag derived that the condition does not need.
    #[inline(always)]
    pub fn cond_after_sub32(&self, cc: u8) -> bool {
        let (d, s) = (self.dst, self.src);
        let r = match cc >> 1 {
            0 => (d ^ s) & (d ^ d.wrapping_sub(s)) & 0x8000_0000 != 0,
            1 => d < s,
            2 => d == s,
            3 => d <= s,
            4 => (d.wrapping_sub(s) as i32) < 0,
            5 => parity(d.wrapping_sub(s)),
            6 => (d as i32) < (s as i32),
            _ => (d as i32) <= (s as i32),
        };
        r ^ (cc & 1 != 0)
    }

    /// Like [`Flags::cond_after_sub32`] after a 32-bit AND, OR, XOR or TEST: CF = OF = 0,
    /// and the rest follow the result.
    #[inline(always)]
    pub fn cond_after_logic32(&self, cc: u8) -> bool {
        let r = self.res;
        let v = match cc >> 1 {
            0 | 1 => false,
            2 | 3 => r == 0,
            4 | 6 => (r as i32) < 0,
            5 => parity(r),
            _ => (r as i32) <= 0,
        };
        v ^ (cc & 1 != 0)
    }

    /// Condition `cc` read as `SRC` says (`crate::knownflags::Setter` as a number): 0, the
    /// flags; 1, 2 and 3, [`Flags::cond_after_sub32`], [`Flags::cond_after_logic32`] and
    /// [`Flags::cond_after_result32`].
    #[inline(always)]
    pub fn cond_by<const SRC: u8>(&self, cc: u8) -> bool {
        match SRC {
            1 => self.cond_after_sub32(cc),
            2 => self.cond_after_logic32(cc),
            3 => self.cond_after_result32(cc),
            _ => self.cond(cc),
        }
    }

    /// ZF, SF or PF conditions (`cc >> 1` of 2, 4 or 5) after a known 32-bit ADD, ADC,
    /// SBB, INC or DEC: they follow the result alone.
    #[inline(always)]
    pub fn cond_after_result32(&self, cc: u8) -> bool {
        let r = self.res;
        let v = match cc >> 1 {
            2 => r == 0,
            4 => (r as i32) < 0,
            _ => parity(r),
        };
        v ^ (cc & 1 != 0)
    }

    /// Derives the flags in `which` from the recorded operation.
    fn compute(&self, which: u32) -> u32 {
        let m = mask(self.bits_sz);
        let sign = 1u32 << (self.bits_sz - 1);
        let (d, s, r) = (self.dst & m, self.src & m, self.res & m);
        let mut f = 0;
        if which & CF != 0 {
            let cf = match self.op {
                LazyOp::Add => r < d,
                LazyOp::Sub => d < s,
                LazyOp::Logic => false,
            };
            f |= cf as u32;
        }
        if which & PF != 0 && parity(r) {
            f |= PF;
        }
        if which & AF != 0 && self.op != LazyOp::Logic && (d ^ s ^ r) & 0x10 != 0 {
            f |= AF;
        }
        if which & ZF != 0 && r == 0 {
            f |= ZF;
        }
        if which & SF != 0 && r & sign != 0 {
            f |= SF;
        }
        if which & OF != 0 {
            let of = match self.op {
                LazyOp::Add => (d ^ r) & (s ^ r) & sign != 0,
                LazyOp::Sub => (d ^ s) & (d ^ r) & sign != 0,
                LazyOp::Logic => false,
            };
            if of {
                f |= OF;
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_after_a_known_setter_match_the_flags() {
        let mut rng = crate::test_rng::Rng(0x9E37_79B9_7F4A_7C15);
        let edge = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x80, 0x100];
        for i in 0..20_000 {
            let pick = |rng: &mut crate::test_rng::Rng| {
                if i % 3 == 0 {
                    edge[rng.next() as usize % edge.len()]
                } else {
                    rng.next() as u32
                }
            };
            let (d, s) = (pick(&mut rng), pick(&mut rng));
            let mut f = Flags::default();
            f.set_lazy(LazyOp::Sub, 4, d, s, d.wrapping_sub(s));
            for cc in 0..16 {
                assert_eq!(
                    f.cond_after_sub32(cc),
                    f.cond(cc),
                    "cmp {d:#x},{s:#x} cc {cc}"
                );
            }
            let r = d & s;
            f.set_lazy(LazyOp::Logic, 4, d, s, r);
            for cc in 0..16 {
                assert_eq!(f.cond_after_logic32(cc), f.cond(cc), "logic {r:#x} cc {cc}");
            }
            let r = d.wrapping_add(s);
            f.set_lazy_cf(LazyOp::Add, 4, d, s, r, i % 2 == 0);
            for cc in [4, 5, 8, 9, 10, 11] {
                assert_eq!(f.cond_after_result32(cc), f.cond(cc), "add {r:#x} cc {cc}");
            }
        }
    }

    #[test]
    fn add_flags() {
        let mut f = Flags::default();
        f.set_lazy(LazyOp::Add, 1, 0x7F, 1, 0x80);
        assert!(f.of() && f.sf() && !f.zf() && !f.cf() && f.af());
        f.set_lazy(LazyOp::Add, 1, 0xFF, 1, 0x100);
        assert!(f.cf() && f.zf() && !f.of());
    }

    #[test]
    fn sub_flags() {
        let mut f = Flags::default();
        f.set_lazy(LazyOp::Sub, 2, 0, 1, 0xFFFF_FFFF);
        assert!(f.cf() && f.sf() && !f.of() && !f.zf());
        assert_eq!(f.get() & ARITH, CF | SF | AF | PF);
    }

    #[test]
    fn inc_keeps_carry() {
        let mut f = Flags::default();
        f.set_lazy(LazyOp::Sub, 4, 0, 1, u32::MAX);
        f.set_inc(4, 5, 6);
        assert!(f.cf());
    }
}
