//! System state the instructions consult: privilege, segment loads, I/O permission,
//! CPUID, the time-stamp counter, EFLAGS writes.

use crate::exception::Exc;
use crate::flags;
use crate::regs::{Seg, SegReg};
use crate::{Bus, Cpu};

/// CPUID leaf 1 EDX bits this CPU implements.
const FEAT_TSC: u32 = 1 << 4;
const FEAT_CX8: u32 = 1 << 8;
const FEAT_CMOV: u32 = 1 << 15;

impl<B: Bus> Cpu<B> {
    /// Current privilege level: 0 in real mode, 3 in virtual-8086 mode.
    #[inline]
    pub fn cpl(&self) -> u8 {
        if !self.pe() {
            0
        } else if self.flags.vm() {
            3
        } else {
            self.cpl
        }
    }

    /// Loads a data or stack segment register from a selector.
    pub fn load_seg(&mut self, s: SegReg, sel: u16) -> Result<(), Exc> {
        if !self.pe() || self.flags.vm() {
            let seg = &mut self.seg[s as usize];
            seg.sel = sel;
            seg.base = (sel as u32) << 4;
            if self.flags.vm() {
                *seg = Seg::real(sel);
            }
            return Ok(());
        }
        // Protected-mode descriptor loads arrive with the protected-mode work.
        Err(Exc::gp(sel as u32 & 0xFFFC))
    }

    /// CLI/STI and friends: allowed when CPL <= IOPL.
    pub fn check_iopl(&self) -> Result<(), Exc> {
        if self.pe() && self.cpl() > self.flags.iopl() {
            return Err(Exc::gp(0));
        }
        Ok(())
    }

    /// IN/OUT/INS/OUTS permission: CPL <= IOPL outside V86, else the TSS I/O bitmap.
    pub fn check_io(&mut self, _port: u16, _size: u8) -> Result<(), Exc> {
        if self.pe() && (self.flags.vm() || self.cpl() > self.flags.iopl()) {
            return Err(Exc::gp(0));
        }
        Ok(())
    }

    /// Writes EFLAGS from POPF/IRET. Which bits change depends on mode and privilege.
    pub fn write_flags(&mut self, v: u32, osize: u8) {
        let mut which = flags::CF
            | flags::PF
            | flags::AF
            | flags::ZF
            | flags::SF
            | flags::TF
            | flags::IF
            | flags::DF
            | flags::OF
            | flags::IOPL
            | flags::NT;
        if osize == 4 {
            which |= flags::RF | flags::AC | flags::ID;
        }
        if self.pe() {
            if self.cpl() > 0 {
                which &= !flags::IOPL;
            }
            if self.cpl() > self.flags.iopl() {
                which &= !flags::IF;
            }
        }
        self.flags.set_masked(v, which);
    }

    /// CPUID: a 686 ("GenuineIntel", family 6) advertising only what is implemented.
    pub fn cpuid_leaf(&self, leaf: u32) -> (u32, u32, u32, u32) {
        match leaf {
            0 => (1, 0x756E_6547, 0x6C65_746E, 0x4965_6E69),
            1 => (0x0000_0633, 0, 0, FEAT_TSC | FEAT_CX8 | FEAT_CMOV),
            _ => (0, 0, 0, 0),
        }
    }

    /// The time-stamp counter: one tick per retired instruction plus the WRMSR offset.
    pub fn tsc(&self) -> u64 {
        self.icount.wrapping_add(self.tsc_offset)
    }

    /// Makes the current instruction run again (a REP instruction yielding mid-way).
    #[inline]
    pub(crate) fn restart(&mut self, op: &crate::Op<B>) {
        let m = if self.code32() { u32::MAX } else { 0xFFFF };
        self.eip = self.eip.wrapping_sub(op.len as u32) & m;
        self.stop = true;
    }

    #[inline]
    pub(crate) fn cs(&self) -> &Seg {
        &self.seg[SegReg::Cs as usize]
    }
}
