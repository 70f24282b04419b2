//! Far control transfers: JMP/CALL far (direct, through call gates, to TSSs and task gates),
//! RETF and IRET, in real, protected and virtual-8086 mode, with the privilege rules of the
//! SDM (Vol. 3, chapter 5) and the stack switch of inter-level calls.

use crate::exception::{Exc, GP, NP, TS};
use crate::flags;
use crate::interrupt::NewStack;
use crate::regs::{Reg, SegReg};
use crate::segment::{self, sel_fault, Desc};
use crate::task::SwitchReason;
use crate::{Bus, Cpu};

impl<B: Bus> Cpu<B> {
    fn real_like(&self) -> bool {
        !self.pe() || self.flags.vm()
    }

    /// The part far JMP and far CALL share: real/V86 mode, and a direct transfer to a code
    /// segment (CALL pushes CS:EIP first when `push`). Returns the descriptor when it is a
    /// gate or TSS, which the caller handles.
    fn far_direct(
        &mut self,
        sel: u16,
        off: u32,
        osize: u8,
        push: bool,
    ) -> Result<Option<Desc>, Exc> {
        if self.real_like() {
            if off > self.cs().limit {
                return Err(Exc::gp(0));
            }
            if push {
                self.push_return(osize)?;
            }
            self.load_cs_real(sel);
            self.eip = off;
            return Ok(None);
        }
        if sel & !3 == 0 {
            return Err(Exc::gp(0));
        }
        let d = self.read_desc(sel, GP)?;
        if !d.is_code() {
            return Ok(Some(d));
        }
        let cpl = self.cpl();
        self.check_code_target(sel, &d, cpl)?;
        if off > d.limit() {
            return Err(Exc::gp(0));
        }
        if push {
            self.push_return(osize)?;
        }
        self.set_cs(sel, &d, cpl)?;
        self.eip = off;
        Ok(None)
    }

    pub fn far_jump(&mut self, sel: u16, off: u32, osize: u8) -> Result<(), Exc> {
        let off = if osize == 2 { off & 0xFFFF } else { off };
        let Some(d) = self.far_direct(sel, off, osize, false)? else {
            return Ok(());
        };
        let cpl = self.cpl();
        match d.typ() {
            segment::CALL_GATE16 | segment::CALL_GATE32 if !d.s() => {
                let rpl = (sel & 3) as u8;
                if d.dpl() < cpl || d.dpl() < rpl {
                    return Err(sel_fault(GP, sel));
                }
                if !d.present() {
                    return Err(sel_fault(NP, sel));
                }
                let tsel = d.gate_selector();
                let toff = if d.typ() == segment::CALL_GATE32 {
                    d.gate_offset()
                } else {
                    d.gate_offset() & 0xFFFF
                };
                if tsel & !3 == 0 {
                    return Err(Exc::gp(0));
                }
                let td = self.read_desc(tsel, GP)?;
                if !td.is_code()
                    || (td.conforming() && td.dpl() > cpl)
                    || (!td.conforming() && td.dpl() != cpl)
                {
                    return Err(sel_fault(GP, tsel));
                }
                if !td.present() {
                    return Err(sel_fault(NP, tsel));
                }
                if toff > td.limit() {
                    return Err(Exc::gp(0));
                }
                self.set_cs(tsel, &td, cpl)?;
                self.eip = toff;
                Ok(())
            }
            segment::TASK_GATE | segment::TSS16_AVAIL | segment::TSS32_AVAIL if !d.s() => {
                self.task_transfer(sel, &d, SwitchReason::Jump)
            }
            _ => Err(sel_fault(GP, sel)),
        }
    }

    /// Checks a code descriptor as the direct target of a far JMP/CALL.
    fn check_code_target(&self, sel: u16, d: &Desc, cpl: u8) -> Result<(), Exc> {
        let rpl = (sel & 3) as u8;
        if d.conforming() {
            if d.dpl() > cpl {
                return Err(sel_fault(GP, sel));
            }
        } else if rpl > cpl || d.dpl() != cpl {
            return Err(sel_fault(GP, sel));
        }
        if !d.present() {
            return Err(sel_fault(NP, sel));
        }
        Ok(())
    }

    /// A JMP/CALL naming a task gate or a TSS directly.
    fn task_transfer(&mut self, sel: u16, d: &Desc, why: SwitchReason) -> Result<(), Exc> {
        let rpl = (sel & 3) as u8;
        if d.dpl() < self.cpl() || d.dpl() < rpl {
            return Err(sel_fault(GP, sel));
        }
        if !d.present() {
            return Err(sel_fault(NP, sel));
        }
        if d.typ() == segment::TASK_GATE {
            self.task_gate_switch(d.gate_selector(), why, 0)
        } else {
            self.task_switch(sel, *d, why)
        }
    }

    pub fn far_call(&mut self, sel: u16, off: u32, osize: u8) -> Result<(), Exc> {
        let off = if osize == 2 { off & 0xFFFF } else { off };
        let Some(d) = self.far_direct(sel, off, osize, true)? else {
            return Ok(());
        };
        match d.typ() {
            segment::CALL_GATE16 | segment::CALL_GATE32 if !d.s() => self.call_gate(sel, &d),
            segment::TASK_GATE | segment::TSS16_AVAIL | segment::TSS32_AVAIL if !d.s() => {
                self.task_transfer(sel, &d, SwitchReason::Call)
            }
            _ => Err(sel_fault(GP, sel)),
        }
    }

    /// Pushes CS:EIP for a same-level far call; ESP is unchanged if either push faults.
    fn push_return(&mut self, size: u8) -> Result<(), Exc> {
        let saved = self.r[Reg::Esp as usize];
        let cs = self.cs().sel as u32;
        let r = self.push(size, cs).and_then(|_| self.push(size, self.eip));
        if r.is_err() {
            self.r[Reg::Esp as usize] = saved;
        }
        r
    }

    fn call_gate(&mut self, sel: u16, gate: &Desc) -> Result<(), Exc> {
        let cpl = self.cpl();
        let rpl = (sel & 3) as u8;
        if gate.dpl() < cpl || gate.dpl() < rpl {
            return Err(sel_fault(GP, sel));
        }
        if !gate.present() {
            return Err(sel_fault(NP, sel));
        }
        let size: u8 = if gate.typ() == segment::CALL_GATE32 {
            4
        } else {
            2
        };
        let tsel = gate.gate_selector();
        let toff = if size == 4 {
            gate.gate_offset()
        } else {
            gate.gate_offset() & 0xFFFF
        };
        if tsel & !3 == 0 {
            return Err(Exc::gp(0));
        }
        let td = self.read_desc(tsel, GP)?;
        if !td.is_code() || td.dpl() > cpl {
            return Err(sel_fault(GP, tsel));
        }
        if !td.present() {
            return Err(sel_fault(NP, tsel));
        }
        if !td.conforming() && td.dpl() < cpl {
            // More privileged: new stack from the TSS, parameters copied across.
            let new_cpl = td.dpl();
            let (ss, esp) = self.tss_stack(new_cpl)?;
            let ssd = self.check_stack_sel(ss, new_cpl, TS)?;
            let mut st = NewStack {
                seg: ssd.to_seg(ss),
                sp: if ssd.db() { esp } else { esp & 0xFFFF },
            };
            if toff > td.limit() {
                return Err(Exc::gp(0));
            }
            let old_ss = self.seg[SegReg::Ss as usize].sel as u32;
            let old_esp = self.r[Reg::Esp as usize];
            let old_cs = self.cs().sel as u32;
            let nparams = gate.gate_params();
            let mut params = Vec::with_capacity(nparams as usize);
            for i in (0..nparams).rev() {
                params.push(self.peek(i * size as u32, size)?);
            }
            self.push_to(&mut st, size, old_ss, ss)?;
            self.push_to(&mut st, size, old_esp, ss)?;
            for p in params {
                self.push_to(&mut st, size, p, ss)?;
            }
            self.push_to(&mut st, size, old_cs, ss)?;
            self.push_to(&mut st, size, self.eip, ss)?;
            self.set_accessed(ss, &ssd)?;
            self.put_seg(SegReg::Ss as usize, st.seg);
            self.set_esp_for(st.sp);
            self.set_cs(tsel, &td, new_cpl)?;
        } else {
            if toff > td.limit() {
                return Err(Exc::gp(0));
            }
            self.push_return(size)?;
            self.set_cs(tsel, &td, cpl)?;
        }
        self.eip = toff;
        Ok(())
    }

    /// Checks the CS popped by RETF/IRET; returns its descriptor.
    fn check_return_cs(&mut self, sel: u16) -> Result<Desc, Exc> {
        if sel & !3 == 0 {
            return Err(Exc::gp(0));
        }
        let d = self.read_desc(sel, GP)?;
        let rpl = (sel & 3) as u8;
        if !d.is_code() || rpl < self.cpl() {
            return Err(sel_fault(GP, sel));
        }
        if (d.conforming() && d.dpl() > rpl) || (!d.conforming() && d.dpl() != rpl) {
            return Err(sel_fault(GP, sel));
        }
        if !d.present() {
            return Err(sel_fault(NP, sel));
        }
        Ok(d)
    }

    pub fn far_return(&mut self, osize: u8, extra: u32) -> Result<(), Exc> {
        let ip = self.peek(0, osize)?;
        let cs = self.peek(osize as u32, osize)? as u16;
        let ip = if osize == 2 { ip & 0xFFFF } else { ip };
        if self.real_like() {
            if ip > self.cs().limit {
                return Err(Exc::gp(0));
            }
            self.add_sp(2 * osize as u32 + extra);
            self.load_cs_real(cs);
            self.eip = ip;
            return Ok(());
        }
        let d = self.check_return_cs(cs)?;
        let rpl = (cs & 3) as u8;
        if rpl == self.cpl() {
            if ip > d.limit() {
                return Err(Exc::gp(0));
            }
            self.set_cs(cs, &d, rpl)?;
            self.add_sp(2 * osize as u32 + extra);
            self.eip = ip;
            return Ok(());
        }
        // Return to an outer level: the caller's SS:ESP follows the parameters.
        let base = 2 * osize as u32 + extra;
        let esp = self.peek(base, osize)?;
        let ss = self.peek(base + osize as u32, osize)? as u16;
        let ssd = self.check_stack_sel(ss, rpl, GP)?;
        if ip > d.limit() {
            return Err(Exc::gp(0));
        }
        self.set_cs(cs, &d, rpl)?;
        self.set_accessed(ss, &ssd)?;
        self.put_seg(SegReg::Ss as usize, ssd.to_seg(ss));
        let esp = if osize == 2 { esp & 0xFFFF } else { esp };
        self.set_esp_for(esp.wrapping_add(extra));
        self.eip = ip;
        self.scrub_data_segs();
        Ok(())
    }

    pub fn iret(&mut self, osize: u8) -> Result<(), Exc> {
        if self.flags.vm() {
            if self.flags.iopl() < 3 {
                return Err(Exc::gp(0));
            }
            return self.iret_real(osize);
        }
        if !self.pe() {
            return self.iret_real(osize);
        }
        if self.flags.test(flags::NT) {
            return self.task_return();
        }
        let ip = self.peek(0, osize)?;
        let cs = self.peek(osize as u32, osize)? as u16;
        let fl = self.peek(2 * osize as u32, osize)?;
        if osize == 4 && fl & flags::VM != 0 && self.cpl() == 0 {
            return self.iret_to_v86(ip, cs, fl);
        }
        let ip = if osize == 2 { ip & 0xFFFF } else { ip };
        let d = self.check_return_cs(cs)?;
        let rpl = (cs & 3) as u8;
        let old_cpl = self.cpl();
        let new_flags = if osize == 2 {
            (self.flags.get() & 0xFFFF_0000) | (fl & 0xFFFF)
        } else {
            fl
        };
        if rpl == old_cpl {
            if ip > d.limit() {
                return Err(Exc::gp(0));
            }
            self.set_cs(cs, &d, rpl)?;
            self.add_sp(3 * osize as u32);
            self.eip = ip;
            self.iret_flags(new_flags, osize, old_cpl);
            return Ok(());
        }
        let esp = self.peek(3 * osize as u32, osize)?;
        let ss = self.peek(4 * osize as u32, osize)? as u16;
        let ssd = self.check_stack_sel(ss, rpl, GP)?;
        if ip > d.limit() {
            return Err(Exc::gp(0));
        }
        self.set_cs(cs, &d, rpl)?;
        self.set_accessed(ss, &ssd)?;
        self.put_seg(SegReg::Ss as usize, ssd.to_seg(ss));
        let esp = if osize == 2 { esp & 0xFFFF } else { esp };
        self.set_esp_for(esp);
        self.eip = ip;
        self.iret_flags(new_flags, osize, old_cpl);
        self.scrub_data_segs();
        Ok(())
    }

    /// EFLAGS from IRET: IOPL changes only at CPL 0, IF only when CPL <= IOPL (both judged at
    /// the privilege the IRET ran at); VM/VIF/VIP are not loaded here.
    fn iret_flags(&mut self, v: u32, osize: u8, cpl: u8) {
        let mut which = flags::ARITH | flags::TF | flags::DF | flags::NT | flags::IF | flags::IOPL;
        if osize == 4 {
            which |= flags::RF | flags::AC | flags::ID;
        }
        if cpl > 0 {
            which &= !flags::IOPL;
        }
        if cpl > self.flags.iopl() {
            which &= !flags::IF;
        }
        self.flags.set_masked(v, which);
        self.flags_loaded = true;
        self.stop = true;
    }

    fn iret_real(&mut self, osize: u8) -> Result<(), Exc> {
        let ip = self.peek(0, osize)?;
        let cs = self.peek(osize as u32, osize)? as u16;
        let fl = self.peek(2 * osize as u32, osize)?;
        let ip = if osize == 2 { ip & 0xFFFF } else { ip };
        if ip > self.cs().limit {
            return Err(Exc::gp(0));
        }
        self.add_sp(3 * osize as u32);
        self.load_cs_real(cs);
        self.eip = ip;
        let v = if osize == 2 {
            (self.flags.get() & 0xFFFF_0000) | (fl & 0xFFFF)
        } else {
            fl
        };
        if self.flags.vm() {
            // IOPL stays as it is in V86 mode (the IRET ran at CPL 3 with IOPL 3).
            let which = flags::ARITH
                | flags::TF
                | flags::DF
                | flags::NT
                | flags::IF
                | if osize == 4 {
                    flags::RF | flags::AC | flags::ID
                } else {
                    0
                };
            self.flags.set_masked(v, which);
            self.flags_loaded = true;
        } else {
            self.write_flags(v, osize);
        }
        self.stop = true;
        Ok(())
    }

    /// IRETD at CPL 0 with VM set in the popped EFLAGS: back to a virtual-8086 task.
    fn iret_to_v86(&mut self, ip: u32, cs: u16, fl: u32) -> Result<(), Exc> {
        let esp = self.peek(12, 4)?;
        let ss = self.peek(16, 4)? as u16;
        let es = self.peek(20, 4)? as u16;
        let ds = self.peek(24, 4)? as u16;
        let fs = self.peek(28, 4)? as u16;
        let gs = self.peek(32, 4)? as u16;
        self.flags.set(fl | flags::VM);
        self.flags_loaded = true;
        self.load_cs_real(cs);
        for (s, v) in [
            (SegReg::Ss, ss),
            (SegReg::Es, es),
            (SegReg::Ds, ds),
            (SegReg::Fs, fs),
            (SegReg::Gs, gs),
        ] {
            self.load_seg(s, v)?;
        }
        self.r[Reg::Esp as usize] = esp;
        self.eip = ip & 0xFFFF;
        self.stop = true;
        Ok(())
    }
}
