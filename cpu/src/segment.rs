//! Protected-mode segmentation: descriptors, the descriptor tables, and loading segment
//! registers with every check the SDM lists (and the fault each check raises).

use crate::exception::{Exc, GP, NP, SS};
use crate::regs::{Seg, SegReg, SEG_READ, SEG_WRITE};
use crate::{Bus, Cpu};

/// A raw 8-byte descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc(pub u64);

impl Desc {
    pub fn base(&self) -> u32 {
        (((self.0 >> 16) & 0xFF_FFFF) | ((self.0 >> 32) & 0xFF00_0000)) as u32
    }
    /// Limit scaled by the granularity bit.
    pub fn limit(&self) -> u32 {
        let raw = ((self.0 & 0xFFFF) | ((self.0 >> 32) & 0xF_0000)) as u32;
        if self.g() {
            (raw << 12) | 0xFFF
        } else {
            raw
        }
    }
    /// Type field (bits 40-43).
    pub fn typ(&self) -> u8 {
        ((self.0 >> 40) & 0xF) as u8
    }
    /// S: code/data (true) or system (false).
    pub fn s(&self) -> bool {
        self.0 & (1 << 44) != 0
    }
    pub fn dpl(&self) -> u8 {
        ((self.0 >> 45) & 3) as u8
    }
    pub fn present(&self) -> bool {
        self.0 & (1 << 47) != 0
    }
    pub fn db(&self) -> bool {
        self.0 & (1 << 54) != 0
    }
    pub fn g(&self) -> bool {
        self.0 & (1 << 55) != 0
    }
    pub fn is_code(&self) -> bool {
        self.s() && self.typ() & 8 != 0
    }
    pub fn is_data(&self) -> bool {
        self.s() && self.typ() & 8 == 0
    }
    pub fn conforming(&self) -> bool {
        self.is_code() && self.typ() & 4 != 0
    }
    pub fn readable(&self) -> bool {
        self.is_data() || self.typ() & 2 != 0
    }
    pub fn writable(&self) -> bool {
        self.is_data() && self.typ() & 2 != 0
    }
    /// Access byte and flags nibble as kept in [`Seg::attr`].
    pub fn attr(&self) -> u16 {
        (((self.0 >> 40) & 0xFF) | ((self.0 >> 40) & 0xF000)) as u16
    }
    /// Gate fields.
    pub fn gate_selector(&self) -> u16 {
        (self.0 >> 16) as u16
    }
    pub fn gate_offset(&self) -> u32 {
        ((self.0 & 0xFFFF) | ((self.0 >> 32) & 0xFFFF_0000)) as u32
    }
    pub fn gate_params(&self) -> u32 {
        ((self.0 >> 32) & 0x1F) as u32
    }

    /// The hidden part of a segment register loaded from this descriptor.
    pub fn to_seg(&self, sel: u16) -> Seg {
        let limit = self.limit();
        let (lo, hi) = if self.is_data() && self.typ() & 4 != 0 {
            (
                limit.wrapping_add(1),
                if self.db() { u32::MAX } else { 0xFFFF },
            )
        } else {
            (0, limit)
        };
        let mut rw = 0;
        if self.readable() {
            rw |= SEG_READ;
        }
        if self.writable() {
            rw |= SEG_WRITE;
        }
        Seg {
            sel,
            base: self.base(),
            limit,
            attr: self.attr(),
            big: self.db(),
            lo,
            hi,
            rw,
        }
    }
}

/// System descriptor types.
pub const TSS16_AVAIL: u8 = 1;
pub const LDT: u8 = 2;
pub const TSS16_BUSY: u8 = 3;
pub const CALL_GATE16: u8 = 4;
pub const TASK_GATE: u8 = 5;
pub const INT_GATE16: u8 = 6;
pub const TRAP_GATE16: u8 = 7;
pub const TSS32_AVAIL: u8 = 9;
pub const TSS32_BUSY: u8 = 11;
pub const CALL_GATE32: u8 = 12;
pub const INT_GATE32: u8 = 14;
pub const TRAP_GATE32: u8 = 15;

/// A selector-related fault: the error code is the selector with its RPL cleared.
pub fn sel_fault(vector: u8, sel: u16) -> Exc {
    Exc::with_code(vector, sel as u32 & 0xFFFC)
}

impl<B: Bus> Cpu<B> {
    /// Linear address of the descriptor `sel` names, checked against its table's limit.
    pub fn desc_addr(&self, sel: u16, fault: u8) -> Result<u32, Exc> {
        let idx = (sel & !7) as u32;
        let (base, limit) = if sel & 4 != 0 {
            if self.ldtr.rw == 0 && self.ldtr.sel & !3 == 0 {
                return Err(sel_fault(fault, sel));
            }
            (self.ldtr.base, self.ldtr.limit)
        } else {
            (self.gdtr.base, self.gdtr.limit)
        };
        if idx + 7 > limit {
            return Err(sel_fault(fault, sel));
        }
        Ok(base.wrapping_add(idx))
    }

    /// Reads the descriptor for `sel`; a selector outside its table raises `fault`(sel).
    pub fn read_desc(&mut self, sel: u16, fault: u8) -> Result<Desc, Exc> {
        let a = self.desc_addr(sel, fault)?;
        let lo = self.sys_read(a, 4)? as u64;
        let hi = self.sys_read(a.wrapping_add(4), 4)? as u64;
        Ok(Desc(lo | hi << 32))
    }

    /// Sets the accessed bit of a code or data descriptor, as a load does.
    pub fn set_accessed(&mut self, sel: u16, d: &Desc) -> Result<(), Exc> {
        if d.s() && d.typ() & 1 == 0 {
            let a = self.desc_addr(sel, GP)?.wrapping_add(5);
            let b = self.sys_read(a, 1)?;
            self.sys_write(a, 1, b | 1)?;
        }
        Ok(())
    }

    /// Loads a data or stack segment register from a selector.
    pub fn load_seg(&mut self, s: SegReg, sel: u16) -> Result<(), Exc> {
        if !self.pe() || self.flags.vm() {
            let vm = self.flags.vm();
            let seg = &mut self.seg[s as usize];
            if vm {
                *seg = Seg::real(sel);
                seg.attr = 0xF3;
            } else {
                seg.sel = sel;
                seg.base = (sel as u32) << 4;
                seg.real_mode_rights();
            }
            self.refresh_flat();
            if s == SegReg::Ss {
                self.stop = true;
            }
            return Ok(());
        }
        let cpl = self.cpl();
        let rpl = (sel & 3) as u8;
        if s == SegReg::Ss {
            if sel & !3 == 0 || rpl != cpl {
                return Err(sel_fault(GP, sel));
            }
            let d = self.read_desc(sel, GP)?;
            if !d.writable() || d.dpl() != cpl {
                return Err(sel_fault(GP, sel));
            }
            if !d.present() {
                return Err(sel_fault(SS, sel));
            }
            self.set_accessed(sel, &d)?;
            self.put_seg(s as usize, d.to_seg(sel));
            self.stop = true;
            return Ok(());
        }
        if sel & !3 == 0 {
            self.put_seg(s as usize, Seg::null(sel));
            return Ok(());
        }
        let d = self.read_desc(sel, GP)?;
        if !d.readable() || !d.s() {
            return Err(sel_fault(GP, sel));
        }
        if (d.is_data() || !d.conforming()) && (rpl > d.dpl() || cpl > d.dpl()) {
            return Err(sel_fault(GP, sel));
        }
        if !d.present() {
            return Err(sel_fault(NP, sel));
        }
        self.set_accessed(sel, &d)?;
        self.put_seg(s as usize, d.to_seg(sel));
        Ok(())
    }

    /// Loads CS in protected mode from the current GDT/LDT with CPL = the selector's RPL, for
    /// loaders that start an OS in protected mode (no transfer-time checks beyond the type).
    pub fn set_cs_pm(&mut self, sel: u16) -> Result<(), Exc> {
        let d = self.read_desc(sel, GP)?;
        if !d.is_code() || !d.present() {
            return Err(sel_fault(GP, sel));
        }
        self.set_cs(sel, &d, (sel & 3) as u8)
    }

    /// Loads CS from a checked code descriptor and makes `cpl` current.
    pub(crate) fn set_cs(&mut self, sel: u16, d: &Desc, cpl: u8) -> Result<(), Exc> {
        self.set_accessed(sel, d)?;
        let sel = (sel & !3) | cpl as u16;
        self.put_seg(SegReg::Cs as usize, d.to_seg(sel));
        self.cpl = cpl;
        self.stop = true;
        Ok(())
    }

    /// Checks a stack selector for use at privilege `dpl` (inter-privilege transfers);
    /// failures are #TS, a non-present stack #SS.
    pub(crate) fn check_stack_sel(&mut self, sel: u16, dpl: u8, fault: u8) -> Result<Desc, Exc> {
        if sel & !3 == 0 {
            return Err(Exc::with_code(fault, 0));
        }
        let d = self.read_desc(sel, fault)?;
        if (sel & 3) as u8 != dpl || d.dpl() != dpl || !d.writable() {
            return Err(sel_fault(fault, sel));
        }
        if !d.present() {
            return Err(sel_fault(SS, sel));
        }
        Ok(d)
    }

    /// After a return to an outer level: data registers the new CPL may not use become null.
    pub(crate) fn scrub_data_segs(&mut self) {
        let cpl = self.cpl;
        for s in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            let seg = &self.seg[s as usize];
            let is_data_or_nc =
                seg.attr & 0x10 != 0 && (seg.attr & 0x8 == 0 || seg.attr & 0x4 == 0);
            if seg.rw != 0 && is_data_or_nc && seg.dpl() < cpl {
                self.put_seg(s as usize, Seg::null(0));
            }
        }
    }
}
