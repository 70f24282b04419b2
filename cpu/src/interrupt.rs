//! Interrupt and exception delivery, far transfers and IRET.

use crate::exception::{self, Exc};
use crate::flags;
use crate::regs::{Seg, SegReg};
use crate::{Bus, Cpu};

impl<B: Bus> Cpu<B> {
    /// INT n / INT3 / INTO: EIP already points past the instruction.
    pub fn software_interrupt(&mut self, vector: u8) -> Result<(), Exc> {
        if self.flags.vm() && self.flags.iopl() < 3 {
            return Err(Exc::gp(0));
        }
        self.stats.interrupts += 1;
        self.deliver(Exc::new(vector), true)
    }

    /// Delivers an interrupt or exception through the IVT (real mode) or IDT.
    pub fn deliver(&mut self, e: Exc, _software: bool) -> Result<(), Exc> {
        if !self.pe() {
            return self.real_mode_interrupt(e.vector);
        }
        // Protected-mode gates arrive with the protected-mode work; until then an interrupt
        // there cannot be delivered and escalates like any failed delivery.
        Err(Exc::gp(e.vector as u32 * 8 + 2))
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
        let saved_sp = self.r[crate::Reg::Esp as usize];
        let frame = (|| {
            self.push(2, fl)?;
            self.push(2, old_cs)?;
            self.push(2, self.eip)
        })();
        if let Err(e) = frame {
            self.r[crate::Reg::Esp as usize] = saved_sp;
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

    fn load_cs_real(&mut self, sel: u16) {
        let cs = &mut self.seg[SegReg::Cs as usize];
        cs.sel = sel;
        cs.base = (sel as u32) << 4;
        if self.flags.vm() {
            *cs = Seg::real(sel);
        }
    }

    /// Delivers a fault raised by an instruction, escalating to a double fault and to
    /// shutdown (triple fault) when delivery itself faults.
    pub(crate) fn exception(&mut self, e: Exc) {
        self.stats.exceptions += 1;
        self.last_exception = Some(e);
        let Err(e2) = self.deliver(e, false) else {
            return;
        };
        if e.vector == exception::DF {
            self.shutdown = true;
            return;
        }
        let pf = |x: &Exc| x.vector == exception::PF;
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

    pub fn far_jump(&mut self, sel: u16, off: u32, osize: u8) -> Result<(), Exc> {
        if self.pe() && !self.flags.vm() {
            return Err(Exc::gp(sel as u32 & 0xFFFC));
        }
        let off = if osize == 2 { off & 0xFFFF } else { off };
        if off > self.cs().limit {
            return Err(Exc::gp(0));
        }
        self.load_cs_real(sel);
        self.eip = off;
        Ok(())
    }

    pub fn far_call(&mut self, sel: u16, off: u32, osize: u8) -> Result<(), Exc> {
        if self.pe() && !self.flags.vm() {
            return Err(Exc::gp(sel as u32 & 0xFFFC));
        }
        let off = if osize == 2 { off & 0xFFFF } else { off };
        if off > self.cs().limit {
            return Err(Exc::gp(0));
        }
        let saved_sp = self.r[crate::Reg::Esp as usize];
        let cs = self.cs().sel as u32;
        let frame = self
            .push(osize, cs)
            .and_then(|_| self.push(osize, self.eip));
        if let Err(e) = frame {
            self.r[crate::Reg::Esp as usize] = saved_sp;
            return Err(e);
        }
        self.load_cs_real(sel);
        self.eip = off;
        Ok(())
    }

    pub fn far_return(&mut self, osize: u8, extra: u32) -> Result<(), Exc> {
        if self.pe() && !self.flags.vm() {
            return Err(Exc::gp(0));
        }
        let ip = self.peek(0, osize)?;
        let cs = self.peek(osize as u32, osize)? as u16;
        let ip = if osize == 2 { ip & 0xFFFF } else { ip };
        if ip > self.cs().limit {
            return Err(Exc::gp(0));
        }
        self.add_sp(2 * osize as u32 + extra);
        self.load_cs_real(cs);
        self.eip = ip;
        Ok(())
    }

    pub fn iret(&mut self, osize: u8) -> Result<(), Exc> {
        if self.pe() && !self.flags.vm() {
            return Err(Exc::gp(0));
        }
        if self.flags.vm() && self.flags.iopl() < 3 {
            return Err(Exc::gp(0));
        }
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
        if osize == 2 {
            let v = (self.flags.get() & 0xFFFF_0000) | (fl & 0xFFFF);
            self.write_flags(v, 2);
        } else {
            self.write_flags(fl, 4);
        }
        self.stop = true;
        Ok(())
    }
}
