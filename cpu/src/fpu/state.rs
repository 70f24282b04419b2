//! FPU registers, control/status/tag words and the FSTENV/FSAVE/FXSAVE memory images.

use super::f80::{Class, F80};
use super::soft::Env;

/// Status word bits.
pub mod sw {
    pub const IE: u16 = 0x0001;
    pub const DE: u16 = 0x0002;
    pub const ZE: u16 = 0x0004;
    pub const OE: u16 = 0x0008;
    pub const UE: u16 = 0x0010;
    pub const PE: u16 = 0x0020;
    pub const SF: u16 = 0x0040;
    pub const ES: u16 = 0x0080;
    pub const C0: u16 = 0x0100;
    pub const C1: u16 = 0x0200;
    pub const C2: u16 = 0x0400;
    pub const TOP: u16 = 0x3800;
    pub const C3: u16 = 0x4000;
    pub const B: u16 = 0x8000;
    /// The six exception flags.
    pub const EXC: u16 = 0x003F;
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// Full (FSTENV/FSAVE) tag values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tag {
    Valid = 0,
    Zero = 1,
    Special = 2,
    Empty = 3,
}

/// The operating mode that selects the FSTENV/FSAVE image layout.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EnvMode {
    /// 16-bit operand size, real or virtual-8086 mode (14-byte environment).
    Real16,
    /// 16-bit operand size, protected mode (14-byte environment).
    Prot16,
    /// 32-bit operand size, real or virtual-8086 mode (28-byte environment).
    Real32,
    /// 32-bit operand size, protected mode (28-byte environment).
    Prot32,
}

impl EnvMode {
    /// Size of the FSTENV/FLDENV image.
    pub const fn env_len(self) -> usize {
        match self {
            EnvMode::Real16 | EnvMode::Prot16 => 14,
            _ => 28,
        }
    }
    /// Size of the FSAVE/FRSTOR image (environment + 8 x 10-byte registers).
    pub const fn save_len(self) -> usize {
        self.env_len() + 80
    }
}

/// The x87 state. Registers are physical (`regs[i]` is R`i`); ST(i) is R`(top + i) & 7`.
///
/// The layout is fixed (`repr(C)`) so that the control and status words, read by every
/// instruction, each sit beside a field that no instruction writes: the compiler may read a
/// 16-bit field with a 32-bit load, and a load that also covers part of a field that was
/// just written cannot take its data from the pending store (it waits for the store to
/// complete, which costs more than the rest of an FADD).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct Fpu {
    /// The physical registers R0-R7 ([`Fpu::reg`], [`Fpu::set_reg`]): significands, and
    /// sign/exponent words widened to 64 bits. Two arrays of whole 64-bit words, so that
    /// every store and load of a register field has the same width and address: a load that
    /// covers only part of a pending store, or more than one store (a 16-byte copy of a
    /// register written as two fields, a 32-bit read of a 16-bit field and the padding after
    /// it), cannot take its data from the stores and waits for them to complete, which costs
    /// more than an FADD.
    pub(crate) sig: [u64; 8],
    pub(crate) se: [u64; 8],
    /// Last instruction pointer (see [`Fpu::fip`]) when no recording is pending.
    fip: u64,
    /// Last data (operand) pointer, like `fip`/`fcs`.
    pub fdp: u64,
    /// Control word (bits 6, 7, 13-15 are reserved; 0x40 reads as 1 like real hardware).
    pub cw: u16,
    /// Always zero (see above).
    pad_cw: u16,
    /// Status word without TOP, ES and B, which are derived (bits 16-31 always zero). Kept in
    /// 32 bits so that every store and load of it has the same width, and a load finds its
    /// data in the pending store of the previous instruction.
    pub(crate) sw: u32,
    pub fcs: u16,
    pub fds: u16,
    /// Last opcode (see [`Fpu::fop`]) when no recording is pending.
    fop: u16,
    pub top: u8,
    /// Bit i set: physical register i is not empty.
    pub valid: u8,
    /// The last instruction as [`Fpu::record`] took it, resolved into `fip`/`fop` only when
    /// they are read: the EIP after the instruction and the [`op_word`] (0: nothing pending).
    last_eip: u32,
    last_op: u32,
}

/// The word the CPU passes to [`Fpu::record`] for an x87 instruction: FOP (11 bits: first
/// opcode byte & 7, ModR/M), its length and whether it runs as 32-bit code. Computed once at
/// decode time, so recording the last instruction costs a few stores.
pub const fn op_word(esc: u8, modrm: u8, len: u8, code32: bool) -> u32 {
    ((esc as u32 & 7) << 8) | modrm as u32 | (len as u32) << 16 | (code32 as u32) << 24
}

impl Default for Fpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Fpu {
    /// The state after FNINIT (also the power-on state a BIOS sees after its FNINIT).
    pub const fn new() -> Fpu {
        Fpu {
            sig: [0; 8],
            se: [0; 8],
            cw: 0x037F,
            pad_cw: 0,
            sw: 0,
            top: 0,
            valid: 0,
            last_eip: 0,
            last_op: 0,
            fip: 0,
            fcs: 0,
            fdp: 0,
            fds: 0,
            fop: 0,
        }
    }

    /// FNINIT: control word 037Fh, status 0, all registers empty, pointers cleared.
    pub fn finit(&mut self) {
        let (sig, se) = (self.sig, self.se);
        *self = Fpu::new();
        (self.sig, self.se) = (sig, se); // contents are kept, only tagged empty
    }

    /// FNCLEX: clear exception flags, SF, ES and B.
    pub fn fclex(&mut self) {
        self.sw &= u32::from(!(sw::EXC | sw::SF));
    }

    /// FLDCW. Unmasking a raised exception makes it pending (ES) at once.
    pub fn fldcw(&mut self, cw: u16) {
        self.cw = (cw & !0xE0C0) | 0x40;
    }
    /// FNSTCW.
    pub fn fstcw(&self) -> u16 {
        self.cw
    }

    /// The status word without TOP, ES and B.
    #[inline]
    pub(crate) fn sw(&self) -> u16 {
        self.sw as u16
    }

    /// The status word as FNSTSW stores it.
    pub fn status(&self) -> u16 {
        let mut s = (self.sw() & !(sw::TOP | sw::ES | sw::B)) | ((self.top as u16 & 7) << 11);
        if self.sw() & !self.cw & sw::EXC != 0 {
            s |= sw::ES | sw::B;
        }
        s
    }
    /// FNSTSW.
    pub fn fstsw(&self) -> u16 {
        self.status()
    }
    /// Load a status word (FLDENV/FRSTOR/FXRSTOR): TOP is taken from it, ES/B recomputed.
    pub fn set_status(&mut self, s: u16) {
        self.top = ((s >> 11) & 7) as u8;
        self.sw = u32::from(s & !(sw::TOP | sw::ES | sw::B));
    }

    /// An unmasked exception is pending: the next waiting x87 instruction (or WAIT) must raise
    /// #MF (CR0.NE=1) or assert FERR#/IRQ13 (CR0.NE=0).
    pub fn exception_pending(&self) -> bool {
        self.sw() & !self.cw & sw::EXC != 0
    }

    #[inline]
    pub fn phys(&self, i: u8) -> usize {
        ((self.top + i) & 7) as usize
    }
    /// ST(i) (whatever the register holds, even when empty).
    #[inline]
    pub fn st(&self, i: u8) -> F80 {
        self.reg(self.phys(i))
    }
    /// Physical register R`p` (whatever it holds, even when empty).
    #[inline]
    pub fn reg(&self, p: usize) -> F80 {
        F80 {
            se: self.se[p] as u16,
            sig: self.sig[p],
        }
    }
    /// Write physical register R`p` (its tag is unchanged).
    #[inline]
    pub fn set_reg(&mut self, p: usize, v: F80) {
        self.sig[p] = v.sig;
        self.se[p] = v.se as u64;
    }
    #[inline]
    pub fn is_empty(&self, i: u8) -> bool {
        self.valid & (1 << self.phys(i)) == 0
    }
    #[inline]
    pub(crate) fn set_st(&mut self, i: u8, v: F80) {
        let p = self.phys(i);
        self.set_reg(p, v);
        self.valid |= 1 << p;
    }
    #[inline]
    pub(crate) fn push_value(&mut self, v: F80) {
        self.top = (self.top.wrapping_sub(1)) & 7;
        self.set_st(0, v);
    }
    #[inline]
    pub(crate) fn pop(&mut self) {
        self.valid &= !(1 << self.phys(0));
        self.top = (self.top + 1) & 7;
    }

    #[inline]
    pub(crate) fn env(&self) -> Env {
        Env::new(self.cw)
    }
    #[inline]
    pub(crate) fn set_c1(&mut self, c1: bool) {
        self.sw = u32::from((self.sw() & !sw::C1) | if c1 { sw::C1 } else { 0 });
    }
    #[inline]
    pub(crate) fn set_cc(&mut self, c3: bool, c2: bool, c1: bool, c0: bool) {
        self.sw = u32::from(
            (self.sw() & !sw::CC)
                | if c3 { sw::C3 } else { 0 }
                | if c2 { sw::C2 } else { 0 }
                | if c1 { sw::C1 } else { 0 }
                | if c0 { sw::C0 } else { 0 },
        );
    }
    /// Record the exceptions of `env`.
    #[inline]
    pub(crate) fn commit(&mut self, env: &Env) {
        self.sw |= u32::from(env.flags);
    }

    /// The full tag of physical register `p`, derived from its contents.
    pub fn tag(&self, p: usize) -> Tag {
        if self.valid & (1 << p) == 0 {
            return Tag::Empty;
        }
        match self.reg(p).class() {
            Class::Zero => Tag::Zero,
            Class::Normal => Tag::Valid,
            _ => Tag::Special,
        }
    }
    /// The full tag word (two bits per physical register).
    pub fn tag_word(&self) -> u16 {
        (0..8).fold(0, |w, p| w | (self.tag(p) as u16) << (2 * p))
    }
    /// Load a full tag word: only "empty" (11b) versus "not empty" matters.
    pub fn set_tag_word(&mut self, tw: u16) {
        self.valid = (0..8).fold(0, |v, p| v | (((tw >> (2 * p)) & 3 != 3) as u8) << p);
    }
    /// The abridged FXSAVE tag byte: bit i set when physical register i is not empty.
    pub fn abridged_tag(&self) -> u8 {
        self.valid
    }

    fn write_env(&self, mode: EnvMode, out: &mut [u8]) {
        let put16 =
            |o: &mut [u8], at: usize, v: u16| o[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |o: &mut [u8], at: usize, v: u32| o[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let (cw, st, tw) = (self.cw, self.status(), self.tag_word());
        let fip = self.fip();
        let lip = ((self.fcs as u32) << 4).wrapping_add(fip as u32);
        let ldp = ((self.fds as u32) << 4).wrapping_add(self.fdp as u32);
        let fop = self.fop() as u32;
        match mode {
            EnvMode::Prot32 => {
                put32(out, 0, 0xFFFF_0000 | cw as u32);
                put32(out, 4, 0xFFFF_0000 | st as u32);
                put32(out, 8, 0xFFFF_0000 | tw as u32);
                put32(out, 12, fip as u32);
                put32(out, 16, self.fcs as u32 | fop << 16);
                put32(out, 20, self.fdp as u32);
                put32(out, 24, 0xFFFF_0000 | self.fds as u32);
            }
            EnvMode::Real32 => {
                put32(out, 0, 0xFFFF_0000 | cw as u32);
                put32(out, 4, 0xFFFF_0000 | st as u32);
                put32(out, 8, 0xFFFF_0000 | tw as u32);
                put32(out, 12, 0xFFFF_0000 | (lip & 0xFFFF));
                put32(out, 16, fop | (lip >> 16) << 12);
                put32(out, 20, 0xFFFF_0000 | (ldp & 0xFFFF));
                put32(out, 24, (ldp >> 16) << 12);
            }
            EnvMode::Prot16 => {
                put16(out, 0, cw);
                put16(out, 2, st);
                put16(out, 4, tw);
                put16(out, 6, fip as u16);
                put16(out, 8, self.fcs);
                put16(out, 10, self.fdp as u16);
                put16(out, 12, self.fds);
            }
            EnvMode::Real16 => {
                put16(out, 0, cw);
                put16(out, 2, st);
                put16(out, 4, tw);
                put16(out, 6, lip as u16);
                put16(out, 8, (fop | ((lip >> 16) & 0xF) << 12) as u16);
                put16(out, 10, ldp as u16);
                put16(out, 12, (((ldp >> 16) & 0xF) << 12) as u16);
            }
        }
    }

    fn read_env(&mut self, mode: EnvMode, img: &[u8]) {
        let get16 = |at: usize| u16::from_le_bytes([img[at], img[at + 1]]);
        let get32 =
            |at: usize| u32::from_le_bytes([img[at], img[at + 1], img[at + 2], img[at + 3]]);
        let (cw, st, tw);
        self.settle();
        match mode {
            EnvMode::Prot32 | EnvMode::Real32 => {
                cw = get16(0);
                st = get16(4);
                tw = get16(8);
                if mode == EnvMode::Prot32 {
                    self.fip = get32(12) as u64;
                    self.fcs = get16(16);
                    self.fop = get16(18) & 0x7FF;
                    self.fdp = get32(20) as u64;
                    self.fds = get16(24);
                } else {
                    self.fip = (get16(12) as u32 | (get32(16) >> 12 & 0xFFFF) << 16) as u64;
                    self.fop = get16(16) & 0x7FF;
                    self.fcs = 0;
                    self.fdp = (get16(20) as u32 | (get32(24) >> 12 & 0xFFFF) << 16) as u64;
                    self.fds = 0;
                }
            }
            EnvMode::Prot16 | EnvMode::Real16 => {
                cw = get16(0);
                st = get16(2);
                tw = get16(4);
                if mode == EnvMode::Prot16 {
                    self.fip = get16(6) as u64;
                    self.fcs = get16(8);
                    self.fdp = get16(10) as u64;
                    self.fds = get16(12);
                } else {
                    self.fip = (get16(6) as u32 | ((get16(8) as u32 >> 12) << 16)) as u64;
                    self.fop = get16(8) & 0x7FF;
                    self.fcs = 0;
                    self.fdp = (get16(10) as u32 | ((get16(12) as u32 >> 12) << 16)) as u64;
                    self.fds = 0;
                }
            }
        }
        self.fldcw(cw);
        self.set_status(st);
        self.set_tag_word(tw);
    }

    /// FNSTENV: write the environment image (`mode.env_len()` bytes) and mask all exceptions.
    pub fn fstenv(&mut self, mode: EnvMode, out: &mut [u8]) {
        self.write_env(mode, out);
        self.cw |= 0x3F;
    }
    /// FLDENV from an image of `mode.env_len()` bytes.
    pub fn fldenv(&mut self, mode: EnvMode, img: &[u8]) {
        self.read_env(mode, img);
    }
    /// FNSAVE: environment + ST(0)..ST(7) (`mode.save_len()` bytes), then FNINIT.
    pub fn fsave(&mut self, mode: EnvMode, out: &mut [u8]) {
        self.write_env(mode, out);
        let base = mode.env_len();
        for i in 0..8u8 {
            let at = base + 10 * i as usize;
            out[at..at + 10].copy_from_slice(&self.st(i).to_bytes());
        }
        self.finit();
    }
    /// FRSTOR from an image of `mode.save_len()` bytes.
    pub fn frstor(&mut self, mode: EnvMode, img: &[u8]) {
        self.read_env(mode, img);
        let base = mode.env_len();
        for i in 0..8u8 {
            let at = base + 10 * i as usize;
            let p = self.phys(i);
            self.set_reg(p, F80::from_bytes(&img[at..at + 10]));
        }
    }

    /// FXSAVE of the x87 part of the 512-byte image: bytes 0..24 (FCW, FSW, abridged FTW, FOP,
    /// FIP, FCS, FDP, FDS; with `wide` the REX.W form with 64-bit FIP/FDP) and the registers at
    /// 32..160 (16-byte slots, ST order). MXCSR (24..32) and the XMM area are left to the caller.
    pub fn fxsave(&self, out: &mut [u8], wide: bool) {
        out[0..2].copy_from_slice(&self.cw.to_le_bytes());
        out[2..4].copy_from_slice(&self.status().to_le_bytes());
        out[4] = self.abridged_tag();
        out[5] = 0;
        out[6..8].copy_from_slice(&self.fop().to_le_bytes());
        if wide {
            out[8..16].copy_from_slice(&self.fip().to_le_bytes());
            out[16..24].copy_from_slice(&self.fdp.to_le_bytes());
        } else {
            out[8..12].copy_from_slice(&(self.fip() as u32).to_le_bytes());
            out[12..14].copy_from_slice(&self.fcs.to_le_bytes());
            out[14..16].fill(0);
            out[16..20].copy_from_slice(&(self.fdp as u32).to_le_bytes());
            out[20..22].copy_from_slice(&self.fds.to_le_bytes());
            out[22..24].fill(0);
        }
        for i in 0..8u8 {
            let at = 32 + 16 * i as usize;
            out[at..at + 10].copy_from_slice(&self.st(i).to_bytes());
            out[at + 10..at + 16].fill(0);
        }
    }
    /// FXRSTOR of the x87 part; see [`Fpu::fxsave`].
    pub fn fxrstor(&mut self, img: &[u8], wide: bool) {
        let get16 = |at: usize| u16::from_le_bytes([img[at], img[at + 1]]);
        let mut q = [0u8; 8];
        self.settle();
        self.fldcw(get16(0));
        self.set_status(get16(2));
        self.valid = img[4];
        self.fop = get16(6) & 0x7FF;
        if wide {
            q.copy_from_slice(&img[8..16]);
            self.fip = u64::from_le_bytes(q);
            q.copy_from_slice(&img[16..24]);
            self.fdp = u64::from_le_bytes(q);
        } else {
            self.fip = u32::from_le_bytes([img[8], img[9], img[10], img[11]]) as u64;
            self.fcs = get16(12);
            self.fdp = u32::from_le_bytes([img[16], img[17], img[18], img[19]]) as u64;
            self.fds = get16(20);
        }
        for i in 0..8u8 {
            let at = 32 + 16 * i as usize;
            let p = self.phys(i);
            self.set_reg(p, F80::from_bytes(&img[at..at + 10]));
        }
    }

    /// Record the last non-control instruction for the environment images. `data` is the
    /// memory operand's selector and offset, if it had one.
    pub fn set_last_instruction(&mut self, cs: u16, ip: u64, fop: u16, data: Option<(u16, u64)>) {
        self.last_op = 0;
        self.fcs = cs;
        self.fip = ip;
        self.fop = fop & 0x7FF;
        if let Some((ds, dp)) = data {
            self.fds = ds;
            self.fdp = dp;
        }
    }

    /// [`Fpu::set_last_instruction`] as the CPU does it on every x87 instruction, without
    /// the data pointer: `eip_after` is EIP after the instruction, `word` its [`op_word`].
    /// The instruction pointer and opcode are worked out when they are read.
    #[inline(always)]
    pub fn record(&mut self, cs: u16, eip_after: u32, word: u32) {
        self.fcs = cs;
        self.last_eip = eip_after;
        self.last_op = word;
    }

    /// The data pointer of the last instruction with a memory operand (selector, offset).
    #[inline(always)]
    pub fn set_last_data(&mut self, ds: u16, dp: u64) {
        self.fds = ds;
        self.fdp = dp;
    }

    /// Last instruction pointer: in protected mode the offset, with `fcs` the selector; the
    /// real-mode images store `(fcs << 4) + fip`.
    pub fn fip(&self) -> u64 {
        if self.last_op == 0 {
            return self.fip;
        }
        let len = (self.last_op >> 16) & 0xFF;
        let mask = if self.last_op >> 24 != 0 {
            u32::MAX
        } else {
            0xFFFF
        };
        (self.last_eip.wrapping_sub(len) & mask) as u64
    }

    /// Last opcode: 11 bits, (first opcode byte & 7) << 8 | ModR/M.
    pub fn fop(&self) -> u16 {
        if self.last_op == 0 {
            self.fop
        } else {
            self.last_op as u16 & 0x7FF
        }
    }

    /// Resolve a pending [`Fpu::record`] into `fip`/`fop`.
    fn settle(&mut self) {
        self.fip = self.fip();
        self.fop = self.fop();
        self.last_op = 0;
    }
}

impl PartialEq for Fpu {
    /// Equal architectural state (a pending record and the same values resolved are equal).
    fn eq(&self, o: &Fpu) -> bool {
        self.sig == o.sig
            && self.se == o.se
            && self.cw == o.cw
            && self.sw == o.sw
            && self.top == o.top
            && self.valid == o.valid
            && self.fcs == o.fcs
            && self.fds == o.fds
            && self.fdp == o.fdp
            && self.fip() == o.fip()
            && self.fop() == o.fop()
    }
}
impl Eq for Fpu {}
