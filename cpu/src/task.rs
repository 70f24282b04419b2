//! Hardware task switching (16- and 32-bit TSS), the TSS stack pointers used by privilege
//! changes, and the I/O permission bitmap.

use crate::exception::{Exc, GP, NP, TS};
use crate::flags;
use crate::regs::{Seg, SegReg};
use crate::segment::{self, sel_fault, Desc};
use crate::{Bus, Cpu};

/// What started a task switch; it decides busy bits, NT and the back link (SDM Vol. 3, 7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchReason {
    Jump,
    Call,
    Interrupt,
    Iret,
}

/// The dynamic state a TSS holds.
struct TaskState {
    eip: u32,
    eflags: u32,
    regs: [u32; 8],
    segs: [u16; 6],
    ldt: u16,
    cr3: u32,
}

const BUSY_BIT: u64 = 2 << 40;

impl<B: Bus> Cpu<B> {
    fn tss32(&self) -> bool {
        self.tr.attr & 0x8 != 0
    }

    /// SS:ESP for privilege level `dpl` from the current TSS.
    pub(crate) fn tss_stack(&mut self, dpl: u8) -> Result<(u16, u32), Exc> {
        let tr = self.tr;
        if self.tss32() {
            let off = 4 + dpl as u32 * 8;
            if off + 5 > tr.limit {
                return Err(sel_fault(TS, tr.sel));
            }
            let esp = self.sys_read(tr.base.wrapping_add(off), 4)?;
            let ss = self.sys_read(tr.base.wrapping_add(off + 4), 2)? as u16;
            Ok((ss, esp))
        } else {
            let off = 2 + dpl as u32 * 4;
            if off + 3 > tr.limit {
                return Err(sel_fault(TS, tr.sel));
            }
            let sp = self.sys_read(tr.base.wrapping_add(off), 2)?;
            let ss = self.sys_read(tr.base.wrapping_add(off + 2), 2)? as u16;
            Ok((ss, sp))
        }
    }

    /// IN/OUT/INS/OUTS permission: allowed when CPL <= IOPL outside V86; otherwise every bit
    /// for the accessed ports must be clear in the TSS I/O bitmap.
    pub fn check_io(&mut self, port: u16, size: u8) -> Result<(), Exc> {
        if !self.pe() || (!self.flags.vm() && self.cpl() <= self.flags.iopl()) {
            return Ok(());
        }
        let tr = self.tr;
        if !self.tss32() || tr.limit < 0x67 {
            return Err(Exc::gp(0));
        }
        let base = self.sys_read(tr.base.wrapping_add(0x66), 2)?;
        let off = base + port as u32 / 8;
        if off + 1 > tr.limit {
            return Err(Exc::gp(0));
        }
        let bits = self.sys_read(tr.base.wrapping_add(off), 2)?;
        let mask = ((1u32 << size) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(Exc::gp(0));
        }
        Ok(())
    }

    /// A switch through a task gate (JMP/CALL/INT): the gate names a TSS in the GDT.
    pub(crate) fn task_gate_switch(
        &mut self,
        tss: u16,
        why: SwitchReason,
        ext: u32,
    ) -> Result<(), Exc> {
        if tss & 4 != 0 {
            return Err(Exc::gp((tss as u32 & 0xFFFC) | ext));
        }
        let d = self.read_desc(tss, GP)?;
        if d.s() || !matches!(d.typ(), segment::TSS16_AVAIL | segment::TSS32_AVAIL) {
            return Err(Exc::gp((tss as u32 & 0xFFFC) | ext));
        }
        if !d.present() {
            return Err(Exc::with_code(NP, (tss as u32 & 0xFFFC) | ext));
        }
        self.task_switch(tss, d, why)
    }

    /// IRET with NT set: back to the task named by the current TSS's back link.
    pub(crate) fn task_return(&mut self) -> Result<(), Exc> {
        let link = self.sys_read(self.tr.base, 2)? as u16;
        if link & 4 != 0 {
            return Err(sel_fault(TS, link));
        }
        let d = self.read_desc(link, TS)?;
        if d.s() || !matches!(d.typ(), segment::TSS16_BUSY | segment::TSS32_BUSY) {
            return Err(sel_fault(TS, link));
        }
        if !d.present() {
            return Err(sel_fault(NP, link));
        }
        self.task_switch(link, d, SwitchReason::Iret)
    }

    fn read_task(&mut self, base: u32, is32: bool) -> Result<TaskState, Exc> {
        let mut t = TaskState {
            eip: 0,
            eflags: 0,
            regs: [0; 8],
            segs: [0; 6],
            ldt: 0,
            cr3: self.cr3,
        };
        if is32 {
            t.cr3 = self.sys_read(base + 0x1C, 4)?;
            t.eip = self.sys_read(base + 0x20, 4)?;
            t.eflags = self.sys_read(base + 0x24, 4)?;
            for i in 0..8 {
                t.regs[i] = self.sys_read(base + 0x28 + 4 * i as u32, 4)?;
            }
            for i in 0..6 {
                t.segs[i] = self.sys_read(base + 0x48 + 4 * i as u32, 2)? as u16;
            }
            t.ldt = self.sys_read(base + 0x60, 2)? as u16;
        } else {
            t.eip = self.sys_read(base + 0x0E, 2)?;
            t.eflags = self.sys_read(base + 0x10, 2)?;
            for i in 0..8 {
                t.regs[i] = self.sys_read(base + 0x12 + 2 * i as u32, 2)? | 0xFFFF_0000;
            }
            for i in 0..4 {
                t.segs[i] = self.sys_read(base + 0x22 + 2 * i as u32, 2)? as u16;
            }
            t.ldt = self.sys_read(base + 0x2A, 2)? as u16;
        }
        Ok(t)
    }

    fn save_task(&mut self, eflags: u32) -> Result<(), Exc> {
        let base = self.tr.base;
        if self.tss32() {
            self.sys_write(base + 0x20, 4, self.eip)?;
            self.sys_write(base + 0x24, 4, eflags)?;
            for i in 0..8 {
                self.sys_write(base + 0x28 + 4 * i as u32, 4, self.r[i])?;
            }
            for i in 0..6 {
                self.sys_write(base + 0x48 + 4 * i as u32, 2, self.seg[i].sel as u32)?;
            }
        } else {
            self.sys_write(base + 0x0E, 2, self.eip)?;
            self.sys_write(base + 0x10, 2, eflags)?;
            for i in 0..8 {
                self.sys_write(base + 0x12 + 2 * i as u32, 2, self.r[i])?;
            }
            for i in 0..4 {
                self.sys_write(base + 0x22 + 2 * i as u32, 2, self.seg[i].sel as u32)?;
            }
        }
        Ok(())
    }

    fn set_busy(&mut self, sel: u16, busy: bool) -> Result<(), Exc> {
        let a = self.desc_addr(sel, GP)?.wrapping_add(5);
        let b = self.sys_read(a, 1)?;
        let nb = if busy { b | 2 } else { b & !2 };
        self.sys_write(a, 1, nb)
    }

    /// Switches to the task whose TSS descriptor is `d` (SDM Vol. 3, 7.3 steps 1-14).
    pub(crate) fn task_switch(&mut self, sel: u16, d: Desc, why: SwitchReason) -> Result<(), Exc> {
        let is32 = d.typ() & 8 != 0;
        let min = if is32 { 0x67 } else { 0x2B };
        if d.limit() < min {
            return Err(sel_fault(TS, sel));
        }
        if !d.present() {
            return Err(sel_fault(NP, sel));
        }
        let new_base = d.base();
        // Everything of the new task is read before the old one is touched.
        let t = self.read_task(new_base, is32)?;
        let old_sel = self.tr.sel;
        let mut old_flags = self.flags.get();
        if matches!(why, SwitchReason::Jump | SwitchReason::Iret) {
            self.set_busy(old_sel, false)?;
        }
        if why == SwitchReason::Iret {
            old_flags &= !flags::NT;
        }
        self.save_task(old_flags)?;
        let mut eflags = if is32 {
            t.eflags
        } else {
            (t.eflags & 0xFFFF) | (old_flags & 0xFFFF_0000 & !flags::VM)
        };
        if matches!(why, SwitchReason::Call | SwitchReason::Interrupt) {
            self.sys_write(new_base, 2, old_sel as u32)?;
            eflags |= flags::NT;
        }
        if why != SwitchReason::Iret {
            self.set_busy(sel, true)?;
        }
        // Commit: TR, CR3, registers, then the segment loads (faults now belong to the new task).
        let busy = Desc(d.0 | BUSY_BIT);
        self.tr = busy.to_seg(sel);
        self.tr.attr = busy.attr();
        if is32 && self.paging && t.cr3 != self.cr3 {
            self.set_cr3(t.cr3);
        }
        self.flags.set(eflags);
        self.flags_loaded = true;
        self.eip = if is32 { t.eip } else { t.eip & 0xFFFF };
        for i in 0..8 {
            if is32 {
                self.r[i] = t.regs[i];
            } else {
                self.set_reg(2, i as u8, t.regs[i]);
            }
        }
        self.cr0 |= 8; // TS
        self.stop = true;
        let segs = t.segs;
        // Selectors are loaded first without checks so a fault reports the new task's state.
        for (i, &s) in segs.iter().enumerate() {
            self.seg[i].sel = s;
        }
        self.ldtr = Seg::null(t.ldt);
        if self.flags.vm() {
            for (i, &s) in segs.iter().enumerate() {
                let mut seg = Seg::real(s);
                seg.attr = if i == SegReg::Cs as usize { 0xFB } else { 0xF3 };
                self.put_seg(i, seg);
            }
            self.cpl = 3;
            return self.load_task_ldt(t.ldt);
        }
        self.load_task_ldt(t.ldt)?;
        self.load_task_segs(&segs)?;
        if self.eip > self.cs().limit {
            return Err(Exc::gp(0));
        }
        Ok(())
    }

    fn load_task_ldt(&mut self, ldt: u16) -> Result<(), Exc> {
        if ldt & !3 == 0 {
            self.ldtr = Seg::null(ldt);
            return Ok(());
        }
        if ldt & 4 != 0 {
            return Err(sel_fault(TS, ldt));
        }
        let d = self.read_desc(ldt, TS)?;
        if d.s() || d.typ() != segment::LDT {
            return Err(sel_fault(TS, ldt));
        }
        if !d.present() {
            return Err(sel_fault(TS, ldt));
        }
        self.ldtr = d.to_seg(ldt);
        Ok(())
    }

    fn load_task_segs(&mut self, segs: &[u16; 6]) -> Result<(), Exc> {
        let cs = segs[SegReg::Cs as usize];
        if cs & !3 == 0 {
            return Err(sel_fault(TS, cs));
        }
        let d = self.read_desc(cs, TS)?;
        let rpl = (cs & 3) as u8;
        if !d.is_code() || (d.conforming() && d.dpl() > rpl) || (!d.conforming() && d.dpl() != rpl)
        {
            return Err(sel_fault(TS, cs));
        }
        if !d.present() {
            return Err(sel_fault(NP, cs));
        }
        self.set_cs(cs, &d, rpl)?;
        let ss = segs[SegReg::Ss as usize];
        let ssd = self.check_stack_sel(ss, rpl, TS)?;
        self.set_accessed(ss, &ssd)?;
        self.put_seg(SegReg::Ss as usize, ssd.to_seg(ss));
        for s in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            let sel = segs[s as usize];
            if sel & !3 == 0 {
                self.put_seg(s as usize, Seg::null(sel));
                continue;
            }
            let d = self.read_desc(sel, TS)?;
            let r = (sel & 3) as u8;
            if !d.readable()
                || !d.s()
                || ((d.is_data() || !d.conforming()) && (r > d.dpl() || rpl > d.dpl()))
            {
                return Err(sel_fault(TS, sel));
            }
            if !d.present() {
                return Err(sel_fault(NP, sel));
            }
            self.set_accessed(sel, &d)?;
            self.put_seg(s as usize, d.to_seg(sel));
        }
        Ok(())
    }
}
