//! Intel 8259A programmable interrupt controllers, cascaded as on the PC/AT.
//!
//! The master sits at 20h/21h and receives IRQ 0-7; the slave at A0h/A1h receives IRQ 8-15 and
//! drives the master's IR2. The PIIX edge/level control registers (ELCR) at 4D0h/4D1h choose the
//! trigger mode per line.
//!
//! Facts from the 8259A datasheet that this model follows:
//! - The request latch of an edge-triggered input is set by a low-to-high transition, but the
//!   request only counts while the input is still high; in level mode the request is the input
//!   level. If no request is left when the CPU acknowledges, the chip answers with the vector of
//!   its IR7 and sets no in-service bit (the "spurious IRQ 7 / 15" that operating systems check).
//! - ICW1 resets the edge-sense latches (a line already high must fall and rise again), clears the
//!   mask, gives IR7 the lowest priority, selects IRR for reads and leaves special mask mode; if
//!   ICW4 is not requested its functions are zero.
//! - An in-service level blocks itself and all lower levels, except in special mask mode, where
//!   in-service bits of masked levels are ignored, and in special fully nested mode, where the
//!   master lets a cascade input interrupt again while it is in service.
//! - OCW3's poll command turns the next read into an acknowledge that returns `80h | level`.
//!
//! On the AT the ISA IRQ2 pin is wired to the slave's IR1 (IRQ 9), so `set_irq(2, ..)` is
//! delivered there. The slave's cascade ID from ICW3 is not checked: the one slave always answers
//! the master's IR2 acknowledge when the master declares IR2 a cascade input.

/// One 8259A.
#[derive(Clone, Debug)]
pub struct Chip {
    /// Current input levels.
    lines: u8,
    /// Edge-sense latches: set on a rising edge, cleared by acknowledge and by ICW1.
    edge: u8,
    isr: u8,
    imr: u8,
    /// PIIX ELCR: 1 = level triggered.
    elcr: u8,
    /// Bits of the ELCR that may be set (IRQ 0, 1, 2, 8 and 13 are always edge on the PIIX).
    elcr_mask: u8,
    /// ICW1 LTIM: every input level triggered.
    ltim: bool,
    vector_base: u8,
    /// ICW3: on the master, the inputs that have a slave; on a slave, its cascade ID.
    icw3: u8,
    single: bool,
    icw4_needed: bool,
    auto_eoi: bool,
    special_fully_nested: bool,
    rotate_on_auto_eoi: bool,
    /// The level with the lowest priority; the one after it (mod 8) has the highest.
    lowest: u8,
    special_mask: bool,
    read_isr: bool,
    poll: bool,
    /// Next initialization word expected: 0 = none (operational), else 2, 3 or 4.
    init_step: u8,
    is_master: bool,
}

impl Chip {
    fn new(is_master: bool, vector_base: u8) -> Self {
        Chip {
            lines: 0,
            edge: 0,
            isr: 0,
            imr: 0xFF,
            elcr: 0,
            elcr_mask: if is_master { 0xF8 } else { 0xDE },
            ltim: false,
            vector_base,
            icw3: if is_master { 0x04 } else { 0x02 },
            single: false,
            icw4_needed: true,
            auto_eoi: false,
            special_fully_nested: false,
            rotate_on_auto_eoi: false,
            lowest: 7,
            special_mask: false,
            read_isr: false,
            poll: false,
            init_step: 0,
            is_master,
        }
    }

    /// The interrupt request register as software reads it.
    pub fn irr(&self) -> u8 {
        let level = self.level_mask();
        (self.lines & level) | (self.edge & self.lines & !level)
    }

    pub fn isr(&self) -> u8 {
        self.isr
    }

    pub fn imr(&self) -> u8 {
        self.imr
    }

    pub fn vector_base(&self) -> u8 {
        self.vector_base
    }

    fn level_mask(&self) -> u8 {
        if self.ltim {
            0xFF
        } else {
            self.elcr
        }
    }

    fn set_line(&mut self, irq: u8, level: bool) {
        let bit = 1u8 << (irq & 7);
        if level {
            if self.lines & bit == 0 {
                self.edge |= bit;
            }
            self.lines |= bit;
        } else {
            self.lines &= !bit;
        }
    }

    /// Priority rank of `irq`: 0 is the highest.
    fn rank(&self, irq: u8) -> u8 {
        irq.wrapping_sub(self.lowest.wrapping_add(1)) & 7
    }

    /// The highest-priority level set in `bits`.
    fn highest(&self, bits: u8) -> Option<u8> {
        (0..8u8)
            .map(|r| (self.lowest.wrapping_add(1).wrapping_add(r)) & 7)
            .find(|&i| bits & (1 << i) != 0)
    }

    fn is_cascade(&self, irq: u8) -> bool {
        self.is_master && !self.single && self.icw3 & (1 << irq) != 0
    }

    /// The level this chip would present to the CPU now (its INT output), if any.
    fn request(&self) -> Option<u8> {
        let req = self.irr() & !self.imr;
        let irq = self.highest(req)?;
        let mut in_service = self.isr;
        if self.special_mask {
            in_service &= !self.imr;
        }
        match self.highest(in_service) {
            None => Some(irq),
            Some(s) => {
                let (r, rs) = (self.rank(irq), self.rank(s));
                let nested = self.special_fully_nested && s == irq && self.is_cascade(irq);
                (r < rs || nested).then_some(irq)
            }
        }
    }

    /// Interrupt acknowledge on this chip: the level served, or `None` for a spurious IR7.
    fn acknowledge(&mut self) -> Option<u8> {
        let irq = self.request()?;
        let bit = 1u8 << irq;
        self.edge &= !bit;
        if self.auto_eoi {
            if self.rotate_on_auto_eoi {
                self.lowest = irq;
            }
        } else {
            self.isr |= bit;
        }
        Some(irq)
    }

    fn non_specific_eoi(&mut self) -> Option<u8> {
        let irq = self.highest(self.isr)?;
        self.isr &= !(1 << irq);
        Some(irq)
    }

    fn write_command(&mut self, v: u8) {
        if v & 0x10 != 0 {
            // ICW1
            self.icw4_needed = v & 0x01 != 0;
            self.single = v & 0x02 != 0;
            self.ltim = v & 0x08 != 0;
            self.edge = 0;
            self.imr = 0;
            self.isr = 0;
            self.lowest = 7;
            self.special_mask = false;
            self.read_isr = false;
            self.poll = false;
            self.rotate_on_auto_eoi = false;
            if !self.icw4_needed {
                self.auto_eoi = false;
                self.special_fully_nested = false;
            }
            self.init_step = 2;
        } else if v & 0x08 == 0 {
            // OCW2
            let level = v & 7;
            match v >> 5 {
                0b001 => {
                    self.non_specific_eoi();
                }
                0b011 => self.isr &= !(1 << level),
                0b101 => {
                    if let Some(irq) = self.non_specific_eoi() {
                        self.lowest = irq;
                    }
                }
                0b100 => self.rotate_on_auto_eoi = true,
                0b000 => self.rotate_on_auto_eoi = false,
                0b111 => {
                    self.isr &= !(1 << level);
                    self.lowest = level;
                }
                0b110 => self.lowest = level,
                _ => {} // 010: no operation
            }
        } else {
            // OCW3
            if v & 0x40 != 0 {
                self.special_mask = v & 0x20 != 0;
            }
            if v & 0x04 != 0 {
                self.poll = true;
            }
            if v & 0x02 != 0 {
                self.read_isr = v & 0x01 != 0;
            }
        }
    }

    fn write_data(&mut self, v: u8) {
        match self.init_step {
            2 => {
                self.vector_base = v & 0xF8;
                self.init_step = if !self.single {
                    3
                } else if self.icw4_needed {
                    4
                } else {
                    0
                };
            }
            3 => {
                self.icw3 = v;
                self.init_step = if self.icw4_needed { 4 } else { 0 };
            }
            4 => {
                // Bit 0 (8086 mode) is assumed; buffered mode changes nothing visible.
                self.auto_eoi = v & 0x02 != 0;
                self.special_fully_nested = v & 0x10 != 0;
                self.init_step = 0;
            }
            _ => self.imr = v,
        }
    }

    /// Read of the even port: the poll word after a poll command, else IRR or ISR.
    fn read_command(&mut self) -> u8 {
        if self.poll {
            self.poll = false;
            return match self.acknowledge() {
                Some(irq) => 0x80 | irq,
                None => 0,
            };
        }
        if self.read_isr {
            self.isr
        } else {
            self.irr()
        }
    }
}

/// The master/slave pair.
#[derive(Clone, Debug)]
pub struct Pic {
    pub master: Chip,
    pub slave: Chip,
    /// Cached INT output of the master (the CPU's INTR line).
    intr: bool,
}

impl Default for Pic {
    fn default() -> Self {
        Self::new()
    }
}

impl Pic {
    /// Power-on state as the BIOS would leave it before its own setup: vectors 08h and 70h,
    /// cascade on IR2, all inputs masked. Firmware reprograms it anyway.
    pub fn new() -> Self {
        Pic {
            master: Chip::new(true, 0x08),
            slave: Chip::new(false, 0x70),
            intr: false,
        }
    }

    /// Drives IRQ `line` (0-15) to `level`. Line 2 is the ISA IRQ2 pin, which reaches IRQ 9.
    pub fn set_irq(&mut self, line: u8, level: bool) {
        match line & 15 {
            2 => self.slave.set_line(1, level),
            l @ 0..=7 => self.master.set_line(l, level),
            l => self.slave.set_line(l - 8, level),
        }
        self.update();
    }

    /// The CPU's INTR line.
    #[inline]
    pub fn pending(&self) -> bool {
        self.intr
    }

    /// Interrupt acknowledge cycle: returns the vector and updates ISR/IRR.
    pub fn ack(&mut self) -> u8 {
        let vector = match self.master.acknowledge() {
            Some(irq) if self.master.is_cascade(irq) => match self.slave.acknowledge() {
                Some(s) => self.slave.vector_base.wrapping_add(s),
                None => self.slave.vector_base.wrapping_add(7),
            },
            Some(irq) => self.master.vector_base.wrapping_add(irq),
            None => self.master.vector_base.wrapping_add(7),
        };
        self.update();
        vector
    }

    /// Port read (20h, 21h, A0h, A1h, 4D0h, 4D1h); other ports read as FFh.
    pub fn read(&mut self, port: u16) -> u8 {
        let v = match port {
            0x20 => self.master.read_command(),
            0x21 => self.master.imr,
            0xA0 => self.slave.read_command(),
            0xA1 => self.slave.imr,
            0x4D0 => self.master.elcr,
            0x4D1 => self.slave.elcr,
            _ => 0xFF,
        };
        self.update();
        v
    }

    /// Port write (20h, 21h, A0h, A1h, 4D0h, 4D1h); other ports are ignored.
    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            0x20 => self.master.write_command(v),
            0x21 => self.master.write_data(v),
            0xA0 => self.slave.write_command(v),
            0xA1 => self.slave.write_data(v),
            0x4D0 => self.master.elcr = v & self.master.elcr_mask,
            0x4D1 => self.slave.elcr = v & self.slave.elcr_mask,
            _ => {}
        }
        self.update();
    }

    /// Propagates the slave's INT output to master IR2 and recomputes INTR.
    fn update(&mut self) {
        let slave_int = self.slave.request().is_some();
        self.master.set_line(2, slave_int);
        self.intr = self.master.request().is_some();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Programs the pair the way Linux and PC BIOSes do.
    fn init(pic: &mut Pic, master_base: u8, slave_base: u8, icw4: u8) {
        pic.write(0x20, 0x11);
        pic.write(0x21, master_base);
        pic.write(0x21, 0x04);
        pic.write(0x21, icw4);
        pic.write(0xA0, 0x11);
        pic.write(0xA1, slave_base);
        pic.write(0xA1, 0x02);
        pic.write(0xA1, icw4);
        pic.write(0x21, 0x00);
        pic.write(0xA1, 0x00);
    }

    fn pulse(pic: &mut Pic, line: u8) {
        pic.set_irq(line, true);
        pic.set_irq(line, false);
        pic.set_irq(line, true);
    }

    #[test]
    fn init_sequence_sets_vectors_and_clears_mask() {
        let mut p = Pic::new();
        init(&mut p, 0x20, 0x28, 0x01);
        assert_eq!(p.master.vector_base(), 0x20);
        assert_eq!(p.slave.vector_base(), 0x28);
        assert_eq!(p.read(0x21), 0);
        p.write(0x21, 0xB5);
        assert_eq!(p.read(0x21), 0xB5);
    }

    #[test]
    fn edge_irq_delivers_vector_and_sets_isr() {
        let mut p = Pic::new();
        init(&mut p, 0x20, 0x28, 0x01);
        p.set_irq(0, true);
        assert!(p.pending());
        assert_eq!(p.ack(), 0x20);
        assert!(!p.pending());
        p.write(0x20, 0x0B); // OCW3: read ISR
        assert_eq!(p.read(0x20), 0x01);
        p.write(0x20, 0x20); // non-specific EOI
        assert_eq!(p.read(0x20), 0x00);
        // Line still high: no new edge, no new interrupt.
        assert!(!p.pending());
        pulse(&mut p, 0);
        assert!(p.pending());
    }

    #[test]
    fn irr_read_and_mask() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.write(0x21, 0xFF);
        p.set_irq(3, true);
        p.write(0x20, 0x0A); // OCW3: read IRR
        assert_eq!(p.read(0x20), 0x08);
        assert!(!p.pending(), "masked");
        p.write(0x21, 0x00);
        assert!(p.pending());
        assert_eq!(p.ack(), 0x0B);
    }

    #[test]
    fn cascade_through_slave() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(14, true);
        assert!(p.pending());
        assert_eq!(p.ack(), 0x76);
        p.write(0xA0, 0x0B);
        assert_eq!(p.read(0xA0), 0x40);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0x04);
        p.write(0xA0, 0x20);
        p.write(0x20, 0x20);
        assert_eq!(p.read(0x20), 0);
        assert_eq!(p.read(0xA0), 0);
    }

    #[test]
    fn isa_irq2_goes_to_irq9() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(2, true);
        assert_eq!(p.ack(), 0x71);
    }

    #[test]
    fn priority_and_nesting() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(4, true);
        p.set_irq(1, true);
        assert_eq!(p.ack(), 0x09, "IRQ1 beats IRQ4");
        assert!(!p.pending(), "IRQ4 blocked by IRQ1 in service");
        p.set_irq(0, true);
        assert_eq!(p.ack(), 0x08, "higher priority nests");
        p.write(0x20, 0x20); // EOI IRQ0
        assert!(!p.pending());
        p.write(0x20, 0x20); // EOI IRQ1
        assert_eq!(p.ack(), 0x0C);
    }

    #[test]
    fn specific_eoi_clears_only_that_level() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(3, true);
        assert_eq!(p.ack(), 0x0B);
        p.set_irq(1, true);
        assert_eq!(p.ack(), 0x09);
        p.write(0x20, 0x63); // specific EOI level 3
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0x02);
    }

    #[test]
    fn spurious_when_request_vanishes() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(5, true);
        assert!(p.pending());
        p.set_irq(5, false);
        assert_eq!(p.ack(), 0x0F, "spurious IRQ7");
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0, "no ISR bit for a spurious interrupt");
    }

    #[test]
    fn spurious_on_slave_sets_master_cascade_isr_only() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(10, true);
        assert!(p.pending());
        // The slave's request disappears, but the master already latched IR2 and acknowledges
        // it while the slave's INT is still seen high at that instant in this sequence:
        p.slave.lines = 0; // request gone inside the slave only
        assert_eq!(p.ack(), 0x77, "spurious IRQ15");
        p.write(0xA0, 0x0B);
        assert_eq!(p.read(0xA0), 0);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0x04, "master must still get its EOI");
    }

    #[test]
    fn level_triggered_via_elcr() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.write(0x4D1, 0xFF);
        assert_eq!(p.read(0x4D1), 0xDE, "IRQ8 and IRQ13 stay edge");
        p.write(0x4D0, 0xFF);
        assert_eq!(p.read(0x4D0), 0xF8);
        p.set_irq(11, true);
        assert_eq!(p.ack(), 0x73);
        p.write(0xA0, 0x20);
        p.write(0x20, 0x20);
        // Still asserted: level mode interrupts again without a new edge.
        assert!(p.pending());
        assert_eq!(p.ack(), 0x73);
        p.write(0xA0, 0x20);
        p.write(0x20, 0x20);
        p.set_irq(11, false);
        assert!(!p.pending());
    }

    #[test]
    fn auto_eoi_leaves_isr_clear() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x03);
        p.set_irq(1, true);
        assert_eq!(p.ack(), 0x09);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0);
        pulse(&mut p, 1);
        assert!(p.pending());
    }

    #[test]
    fn icw1_resets_edge_sense() {
        let mut p = Pic::new();
        p.set_irq(4, true);
        init(&mut p, 0x08, 0x70, 0x01);
        assert!(
            !p.pending(),
            "a line already high needs a new edge after ICW1"
        );
        pulse(&mut p, 4);
        assert!(p.pending());
    }

    #[test]
    fn rotation_changes_priority() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.write(0x20, 0xC4); // set priority: IRQ4 lowest, IRQ5 highest
        p.set_irq(3, true);
        p.set_irq(6, true);
        assert_eq!(p.ack(), 0x0E);
        p.write(0x20, 0xA0); // rotate on non-specific EOI: IRQ6 becomes lowest
        assert_eq!(p.ack(), 0x0B);
    }

    #[test]
    fn poll_command_acknowledges() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(6, true);
        p.write(0x20, 0x0C);
        assert_eq!(p.read(0x20), 0x86);
        p.write(0x20, 0x0B);
        assert_eq!(p.read(0x20), 0x40);
        p.write(0x20, 0x0C);
        assert_eq!(p.read(0x20), 0x00);
    }

    #[test]
    fn special_mask_mode_lets_lower_levels_in() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x01);
        p.set_irq(1, true);
        assert_eq!(p.ack(), 0x09);
        p.set_irq(5, true);
        assert!(!p.pending());
        p.write(0x21, 0x02); // mask IRQ1
        p.write(0x20, 0x68); // OCW3: set special mask mode
        assert!(p.pending());
        assert_eq!(p.ack(), 0x0D);
        p.write(0x20, 0x48); // reset special mask mode
    }

    #[test]
    fn special_fully_nested_allows_second_slave_irq() {
        let mut p = Pic::new();
        init(&mut p, 0x08, 0x70, 0x11);
        p.set_irq(12, true);
        assert_eq!(p.ack(), 0x74);
        p.set_irq(9, true); // higher priority on the slave
        assert!(p.pending(), "SFNM: master lets IR2 in again");
        assert_eq!(p.ack(), 0x71);
    }

    #[test]
    fn every_port_and_value_is_safe() {
        let mut p = Pic::new();
        for port in [0x20u16, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x22] {
            for v in 0..=255u8 {
                p.write(port, v);
                p.read(port);
                p.set_irq(v & 15, v & 16 != 0);
                if p.pending() {
                    p.ack();
                }
            }
        }
    }
}
