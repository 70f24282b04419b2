//! The 80-bit double extended-precision format and its classification.

/// An x87 80-bit real: sign, 15-bit biased exponent, 64-bit significand with an explicit
/// integer bit (bit 63). Stored exactly as in memory, so any bit pattern round-trips.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct F80 {
    /// Bit 15: sign; bits 14..0: biased exponent (bias 16383).
    pub se: u16,
    /// Significand; bit 63 is the explicit integer bit.
    pub sig: u64,
}

impl core::fmt::Debug for F80 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "F80({:04x}:{:016x} {:?})",
            self.se,
            self.sig,
            self.class()
        )
    }
}

/// What an 80-bit pattern means to a 387-or-later FPU.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    Zero,
    /// Exponent 0, integer bit 0, fraction non-zero.
    Denormal,
    /// Exponent 0, integer bit 1: read like exponent 1, but raises #D like a denormal.
    PseudoDenormal,
    Normal,
    Infinity,
    QNaN,
    SNaN,
    /// Unnormals, pseudo-infinities and pseudo-NaNs: invalid operands since the 387.
    Unsupported,
}

/// The bias of the 15-bit exponent.
pub const BIAS: i32 = 16383;
/// Bias adjustment applied to results on unmasked overflow/underflow (register destinations).
pub const WRAP: i32 = 24576;

const INT_BIT: u64 = 1 << 63;
const QUIET_BIT: u64 = 1 << 62;

impl F80 {
    pub const ZERO: F80 = F80 { se: 0, sig: 0 };
    pub const ONE: F80 = F80 {
        se: 0x3FFF,
        sig: INT_BIT,
    };
    pub const INFINITY: F80 = F80 {
        se: 0x7FFF,
        sig: INT_BIT,
    };
    /// The default indefinite: the QNaN produced by masked invalid operations.
    pub const INDEFINITE: F80 = F80 {
        se: 0xFFFF,
        sig: 0xC000_0000_0000_0000,
    };

    pub const fn new(sign: bool, exp: u16, sig: u64) -> F80 {
        F80 {
            se: ((sign as u16) << 15) | (exp & 0x7FFF),
            sig,
        }
    }
    #[inline]
    pub const fn sign(self) -> bool {
        self.se & 0x8000 != 0
    }
    #[inline]
    pub const fn exp(self) -> u16 {
        self.se & 0x7FFF
    }
    #[inline]
    pub const fn with_sign(self, sign: bool) -> F80 {
        F80 {
            se: (self.se & 0x7FFF) | ((sign as u16) << 15),
            sig: self.sig,
        }
    }
    #[inline]
    pub const fn abs(self) -> F80 {
        self.with_sign(false)
    }
    #[inline]
    pub const fn neg(self) -> F80 {
        F80 {
            se: self.se ^ 0x8000,
            sig: self.sig,
        }
    }
    pub const fn zero(sign: bool) -> F80 {
        F80::new(sign, 0, 0)
    }
    pub const fn inf(sign: bool) -> F80 {
        F80::new(sign, 0x7FFF, INT_BIT)
    }

    pub fn class(self) -> Class {
        let e = self.exp();
        let int = self.sig & INT_BIT != 0;
        match e {
            0 => {
                if self.sig == 0 {
                    Class::Zero
                } else if int {
                    Class::PseudoDenormal
                } else {
                    Class::Denormal
                }
            }
            0x7FFF => {
                if !int {
                    Class::Unsupported
                } else if self.sig << 1 == 0 {
                    Class::Infinity
                } else if self.sig & QUIET_BIT != 0 {
                    Class::QNaN
                } else {
                    Class::SNaN
                }
            }
            _ => {
                if int {
                    Class::Normal
                } else {
                    Class::Unsupported
                }
            }
        }
    }
    #[inline]
    pub fn is_nan(self) -> bool {
        self.exp() == 0x7FFF && self.sig & INT_BIT != 0 && self.sig << 1 != 0
    }
    #[inline]
    pub fn is_snan(self) -> bool {
        self.class() == Class::SNaN
    }
    #[inline]
    pub fn is_zero(self) -> bool {
        self.exp() == 0 && self.sig == 0
    }
    /// Denormal or pseudo-denormal: an operand that raises #D.
    #[inline]
    pub fn is_denormal(self) -> bool {
        self.exp() == 0 && self.sig != 0
    }
    #[inline]
    pub fn is_unsupported(self) -> bool {
        self.class() == Class::Unsupported
    }
    #[inline]
    pub fn is_inf(self) -> bool {
        self.exp() == 0x7FFF && self.sig == INT_BIT
    }
    /// The NaN with its quiet bit set.
    #[inline]
    pub const fn quieten(self) -> F80 {
        F80 {
            se: self.se,
            sig: self.sig | QUIET_BIT,
        }
    }

    /// Little-endian memory image (significand first, then sign/exponent).
    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.sig.to_le_bytes());
        b[8..].copy_from_slice(&self.se.to_le_bytes());
        b
    }
    pub fn from_bytes(b: &[u8]) -> F80 {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        F80 {
            sig: u64::from_le_bytes(s),
            se: u16::from_le_bytes([b[8], b[9]]),
        }
    }

    /// Exact conversion of a signed integer (FILD).
    pub fn from_i64(v: i64) -> F80 {
        F80::from_u64(v.unsigned_abs()).with_sign(v < 0)
    }
    /// Exact conversion of an unsigned integer.
    pub fn from_u64(m: u64) -> F80 {
        if m == 0 {
            return F80::ZERO;
        }
        let lz = m.leading_zeros();
        F80::new(false, (BIAS + 63 - lz as i32) as u16, m << lz)
    }

    /// Exact conversion from single precision. Returns the value and whether the source was a
    /// denormal (the caller raises #D). SNaNs stay signaling: the caller decides on #IA.
    pub fn from_f32_bits(b: u32) -> (F80, bool) {
        let sign = b >> 31 != 0;
        let e = ((b >> 23) & 0xFF) as i32;
        let f = (b & 0x7F_FFFF) as u64;
        match e {
            0 if f == 0 => (F80::zero(sign), false),
            0 => {
                let lz = f.leading_zeros(); // f < 2^23, value = f * 2^-149
                let exp = BIAS - 149 + 63 - lz as i32;
                (F80::new(sign, exp as u16, f << lz), true)
            }
            0xFF => (F80::new(sign, 0x7FFF, INT_BIT | (f << 40)), false),
            _ => (
                F80::new(sign, (e - 127 + BIAS) as u16, INT_BIT | (f << 40)),
                false,
            ),
        }
    }

    /// Exact conversion from double precision; see [`F80::from_f32_bits`].
    pub fn from_f64_bits(b: u64) -> (F80, bool) {
        let sign = b >> 63 != 0;
        let e = ((b >> 52) & 0x7FF) as i32;
        let f = b & 0xF_FFFF_FFFF_FFFF;
        match e {
            0 if f == 0 => (F80::zero(sign), false),
            0 => {
                let lz = f.leading_zeros();
                let exp = BIAS - 1074 + 63 - lz as i32;
                (F80::new(sign, exp as u16, f << lz), true)
            }
            0x7FF => (F80::new(sign, 0x7FFF, INT_BIT | (f << 11)), false),
            _ => (
                F80::new(sign, (e - 1023 + BIAS) as u16, INT_BIT | (f << 11)),
                false,
            ),
        }
    }
}
