//! Interrupt and exception delivery: the real-mode IVT, protected-mode IDT gates (interrupt,
//! trap and task gates) with privilege changes and the stack switch from the TSS, exits from
//! virtual-8086 mode, and the double/triple-fault rules.

use crate::exception::{self, Exc, GP, NP, SS, TS};
use crate::flags;
use crate::regs::{Reg, Seg, SegReg, SEG_WRITE};
use crate::segment::{self, sel_fault, Desc};
use crate::task::SwitchReason;
use crate::{Bus, Cpu};

/// Vectors whose exceptions push an error code in protected mode.
fn has_error_code(v: u8) -> bool {
    matches!(v, 8 | 10..=14 | 17)
}

/// Where a stack being built for a privilege change lives, before it is committed.
pub(crate) struct NewStack {
    pub seg: Seg,
    pub sp: u32,
}

impl<B: Bus> Cpu<B> {
    /// INT n / INT3 / INTO: EIP already points past the instruction. Only INT n is
    /// IOPL-sensitive in virtual-8086 mode; INT3 and INTO meet the gate's DPL check instead.
    pub fn software_interrupt(&mut self, vector: u8, int_n: bool) -> Result<(), Exc> {
        if int_n && self.flags.vm() && self.flags.iopl() < 3 {
            return Err(Exc::gp(0));
        }
        self.stats.interrupts += 1;
        self.deliver(Exc::new(vector), true)
    }

    /// Delivers an interrupt or exception through the IVT (real mode) or IDT. `software`
    /// marks INT n/INT3/INTO, which check the gate's DPL and carry no EXT bit.
    pub fn deliver(&mut self, e: Exc, software: bool) -> Result<(), Exc> {
        if !self.pe() {
            return self.real_mode_interrupt(e.vector());
        }
        self.pm_interrupt(e, software)
    }

    fn real_mode_interrupt(&mut self, vector: u8) -> Result<(), Exc> {
        let off = vector as u32 * 4;
        if off + 3 > self.idtr.limit {
            return Err(Exc::gp(off + 2));
        }
        let a = self.idtr.base.wrapping_add(off);
        let ip = self.lin_read(a, 2)?;
        let cs = self.lin_read(a.wrapping_add(2), 2)? as u16;
        let fl = self.flags.get();
        let old_cs = self.seg[SegReg::Cs as usize].sel as u32;
        let saved_sp = self.r[Reg::Esp as usize];
        let frame = (|| {
            self.push(2, fl)?;
            self.push(2, old_cs)?;
            self.push(2, self.eip)
        })();
        if let Err(e) = frame {
            self.r[Reg::Esp as usize] = saved_sp;
            return Err(e);
        }
        self.flags.assign(flags::IF, false);
        self.flags.assign(flags::TF, false);
        self.flags.assign(flags::AC, false);
        self.flags.assign(flags::RF, false);
        self.load_cs_real(cs);
        self.eip = ip;
        Ok(())
    }

    /// Loads CS the real-mode (or V86) way.
    pub(crate) fn load_cs_real(&mut self, sel: u16) {
        if self.flags.vm() {
            let mut s = Seg::real(sel);
            s.attr = 0xFB;
            self.put_seg(SegReg::Cs as usize, s);
            self.cpl = 3;
        } else {
            let cs = &mut self.seg[SegReg::Cs as usize];
            cs.sel = sel;
            cs.base = (sel as u32) << 4;
            cs.real_mode_rights();
            self.refresh_flat();
        }
        self.stop = true;
    }

    /// Protected-mode delivery through the IDT.
    fn pm_interrupt(&mut self, e: Exc, software: bool) -> Result<(), Exc> {
        let v = e.vector();
        let ext = !software as u32;
        let idt_code = v as u32 * 8 + 2 + ext;
        if v as u32 * 8 + 7 > self.idtr.limit {
            return Err(Exc::gp(idt_code));
        }
        let a = self.idtr.base.wrapping_add(v as u32 * 8);
        let lo = self.sys_read(a, 4)? as u64;
        let hi = self.sys_read(a.wrapping_add(4), 4)? as u64;
        let gate = Desc(lo | hi << 32);
        let typ = gate.typ();
        if gate.s()
            || !matches!(
                typ,
                segment::TASK_GATE
                    | segment::INT_GATE16
                    | segment::TRAP_GATE16
                    | segment::INT_GATE32
                    | segment::TRAP_GATE32
            )
        {
            return Err(Exc::gp(idt_code));
        }
        if software && gate.dpl() < self.cpl() {
            return Err(Exc::gp(idt_code));
        }
        if !gate.present() {
            return Err(Exc::with_code(NP, idt_code));
        }
        // Only exceptions push an error code: an external interrupt or INT n on the same vector
        // (the PIC's default 08h-0Fh overlaps #DF..#PF) pushes none.
        let code = if software { None } else { e.code() };
        debug_assert!(e.code().is_none() || has_error_code(v) || software);
        if typ == segment::TASK_GATE {
            let tss = gate.gate_selector();
            self.task_gate_switch(tss, SwitchReason::Interrupt, ext)?;
            if let Some(c) = code {
                let size = if self.tr.attr & 0x8 != 0 { 4 } else { 2 };
                self.push(size, c)?;
            }
            return Ok(());
        }
        let gate32 = typ & 8 != 0;
        let trap = typ & 1 != 0;
        let sel = gate.gate_selector();
        let off = if gate32 {
            gate.gate_offset()
        } else {
            gate.gate_offset() & 0xFFFF
        };
        if sel & !3 == 0 {
            return Err(Exc::gp(ext));
        }
        let d = self.read_desc(sel, GP).map_err(|x| add_ext(x, ext))?;
        if !d.is_code() || d.dpl() > self.cpl() {
            return Err(Exc::gp((sel as u32 & 0xFFFC) + ext));
        }
        if !d.present() {
            return Err(Exc::with_code(NP, (sel as u32 & 0xFFFC) + ext));
        }
        let size: u8 = if gate32 { 4 } else { 2 };
        // Faults push EFLAGS with RF set, so IRET back to the faulting instruction does not
        // re-trigger an instruction breakpoint (SDM Vol. 3, 17.3.1.1).
        let old_flags = self.flags.get() | if self.delivering_fault { flags::RF } else { 0 };
        let vm = self.flags.vm();
        let cpl = self.cpl();
        if !d.conforming() && d.dpl() < cpl {
            // Inner privilege: switch to the stack the TSS gives for the new level.
            let new_cpl = d.dpl();
            if vm && new_cpl != 0 {
                return Err(Exc::gp((sel as u32 & 0xFFFC) + ext));
            }
            let (ss, esp) = self.tss_stack(new_cpl).map_err(|x| add_ext(x, ext))?;
            let ssd = self
                .check_stack_sel(ss, new_cpl, TS)
                .map_err(|x| add_ext(x, ext))?;
            let mut st = NewStack {
                seg: ssd.to_seg(ss),
                sp: if ssd.db() { esp } else { esp & 0xFFFF },
            };
            let old_ss = self.seg[SegReg::Ss as usize].sel as u32;
            let old_esp = self.r[Reg::Esp as usize];
            let old_cs = self.seg[SegReg::Cs as usize].sel as u32;
            if off > d.limit() {
                return Err(Exc::gp(ext));
            }
            if vm {
                for s in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                    let v = self.seg[s as usize].sel as u32;
                    self.push_to(&mut st, size, v, ss)?;
                }
            }
            self.push_to(&mut st, size, old_ss, ss)?;
            self.push_to(&mut st, size, old_esp, ss)?;
            self.push_to(&mut st, size, old_flags, ss)?;
            self.push_to(&mut st, size, old_cs, ss)?;
            self.push_to(&mut st, size, self.eip, ss)?;
            if let Some(c) = code {
                self.push_to(&mut st, size, c, ss)?;
            }
            // Committed: nothing below can fault.
            if vm {
                for s in [SegReg::Gs, SegReg::Fs, SegReg::Ds, SegReg::Es] {
                    self.put_seg(s as usize, Seg::null(0));
                }
                self.flags.set(old_flags & !flags::VM);
            }
            self.put_seg(SegReg::Ss as usize, st.seg);
            self.set_esp_for(st.sp);
            self.set_cs(sel, &d, new_cpl)?;
        } else {
            if vm {
                return Err(Exc::gp((sel as u32 & 0xFFFC) + ext));
            }
            if off > d.limit() {
                return Err(Exc::gp(ext));
            }
            let saved = self.r[Reg::Esp as usize];
            let old_cs = self.seg[SegReg::Cs as usize].sel as u32;
            let r = (|| {
                self.push(size, old_flags)?;
                self.push(size, old_cs)?;
                self.push(size, self.eip)?;
                if let Some(c) = code {
                    self.push(size, c)?;
                }
                Ok(())
            })();
            if let Err(x) = r {
                self.r[Reg::Esp as usize] = saved;
                return Err(x);
            }
            self.set_cs(sel, &d, cpl)?;
        }
        self.eip = off;
        let mut clear = flags::TF | flags::NT | flags::RF | flags::VM;
        if !trap {
            clear |= flags::IF;
        }
        let f = self.flags.get() & !clear;
        self.flags.set(f);
        self.stop = true;
        Ok(())
    }

    /// Sets ESP after a stack switch, honouring the new SS's B bit.
    pub(crate) fn set_esp_for(&mut self, sp: u32) {
        if self.seg[SegReg::Ss as usize].big {
            self.r[Reg::Esp as usize] = sp;
        } else {
            self.set_reg16(Reg::Esp, sp as u16);
        }
    }

    /// Pushes onto a stack that is not yet SS (inner-level stack of a gate). Faults name the
    /// new stack's selector.
    pub(crate) fn push_to(
        &mut self,
        st: &mut NewStack,
        size: u8,
        v: u32,
        ss_sel: u16,
    ) -> Result<(), Exc> {
        let mask = if st.seg.big { u32::MAX } else { 0xFFFF };
        let sp = st.sp.wrapping_sub(size as u32) & mask;
        if st.seg.rw & SEG_WRITE == 0
            || sp < st.seg.lo
            || sp as u64 + size as u64 - 1 > st.seg.hi as u64
        {
            return Err(sel_fault(SS, ss_sel));
        }
        let lin = st.seg.base.wrapping_add(sp);
        // The inner stack belongs to a more privileged level: a supervisor access.
        self.sys_write(lin, size, v)?;
        st.sp = sp;
        Ok(())
    }

    /// Delivers a fault raised by an instruction, escalating to a double fault and to
    /// shutdown (triple fault) when delivery itself faults.
    pub(crate) fn exception(&mut self, e: Exc) {
        self.stats.exceptions += 1;
        self.last_exception = Some(e);
        self.delivering_fault = !matches!(e.vector(), exception::DB | exception::DF);
        if self.log_exceptions > 0 {
            self.log_exceptions -= 1;
            let cs = self.seg[crate::SegReg::Cs as usize];
            let lin = cs.base.wrapping_add(self.eip);
            let mut code = [0u8; 12];
            for (i, b) in code.iter_mut().enumerate() {
                *b = self
                    .translate(lin.wrapping_add(i as u32), false)
                    .map_or(0xFF, |p| self.mem.read_u8(p));
            }
            let ss = self.seg[crate::SegReg::Ss as usize];
            let mut stack = [0u32; 6];
            for (i, w) in stack.iter_mut().enumerate() {
                let a = ss.base.wrapping_add(self.sp().wrapping_add(4 * i as u32));
                *w = self.translate(a, false).map_or(0, |p| self.mem.read_u32(p));
            }
            eprintln!("emu:   stack {stack:08x?} ss {:04x}", ss.sel);
            eprintln!(
                "emu: {e} at {:04x}:{:08x} (linear {lin:08x}) cpl {} cr0 {:08x} cr2 {:08x} code {code:02x?} regs {:08x?} cs {cs:x?}",
                cs.sel,
                self.eip,
                self.cpl(),
                self.cr0,
                self.cr2,
                &self.r[..8]
            );
        }
        let r = self.deliver(e, false);
        self.delivering_fault = false;
        let Err(e2) = r else {
            return;
        };
        if e.vector() == exception::DF {
            self.shutdown = true;
            return;
        }
        let pf = |x: &Exc| x.vector() == exception::PF;
        let double =
            (e.contributory() && e2.contributory()) || (pf(&e) && (e2.contributory() || pf(&e2)));
        if !double {
            // Benign combination: the second exception is handled serially.
            self.exception(e2);
        } else if self
            .deliver(Exc::with_code(exception::DF, 0), false)
            .is_err()
        {
            self.shutdown = true;
        }
    }

    /// A hardware interrupt acknowledged from the bus.
    pub(crate) fn external_interrupt(&mut self, vector: u8) {
        self.stats.interrupts += 1;
        self.halted = false;
        if let Err(e) = self.deliver(Exc::new(vector), false) {
            self.exception(e);
        }
    }
}

/// Adds the EXT bit to a selector error code raised while delivering an external event.
fn add_ext(e: Exc, ext: u32) -> Exc {
    match e.code() {
        Some(c) if e.vector() != exception::PF => Exc::with_code(e.vector(), c | ext),
        _ => e,
    }
}
