//! National Semiconductor 16550A UART, as COM1 (3F8h-3FFh, IRQ 4).
//!
//! Register map (offset from the base): 0 RBR/THR (DLL when LCR.DLAB), 1 IER (DLM when DLAB),
//! 2 IIR/FCR, 3 LCR, 4 MCR, 5 LSR, 6 MSR, 7 SCR.
//!
//! Facts from the 16550A datasheet that this model follows:
//! - IIR reports the highest-priority pending source: receiver line status (0110), received
//!   data at the trigger level (0100), character timeout (1100), THR empty (0010), modem status
//!   (0000); bit 0 is 1 when nothing is pending and bits 7-6 are 11 while the FIFOs are on.
//! - The THRE interrupt is cleared by reading IIR when THRE is the reported source, or by
//!   writing THR; it is raised when THR empties and when ETBEI is turned on while THR is empty.
//! - With FIFOs on, the data interrupt fires at the FCR trigger level (1, 4, 8, 14) and a
//!   character timeout fires when data sits below it for four character times without a read
//!   or a new character; FCR bits 1/2 clear the FIFOs, and toggling bit 0 clears both.
//! - Loopback (MCR bit 4): THR feeds RBR, the serial line is idle, and the modem inputs read
//!   the outputs: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2. Linux's probe writes MCR = 1Ah
//!   and expects MSR bits 7-4 = 9h. The outputs are forced inactive on the pins, so OUT2, which
//!   gates the IRQ line on the PC, keeps the interrupt off the bus while looping back.
//! - Reading LSR clears the error bits; reading MSR clears the delta bits; IER bits 7-4 read 0.
//!
//! Transmission is instantaneous: a byte written to THR is appended to the host output at once,
//! so THR and the shift register are always empty (LSR THRE and TEMT set). Received bytes come
//! from a host-side queue that tops up the receive FIFO as it drains (an infinitely fast line
//! with flow control), so host input is never lost to overrun. Parity, framing and break are
//! never generated.

use std::collections::VecDeque;

// IER bits.
const ERBFI: u8 = 0x01;
const ETBEI: u8 = 0x02;
const ELSI: u8 = 0x04;
const EDSSI: u8 = 0x08;
// LSR bits.
const DR: u8 = 0x01;
const OE: u8 = 0x02;
const THRE: u8 = 0x20;
const TEMT: u8 = 0x40;
const LSR_ERRORS: u8 = 0x1E;
// MCR bits.
const DTR: u8 = 0x01;
const RTS: u8 = 0x02;
const OUT1: u8 = 0x04;
const OUT2: u8 = 0x08;
const LOOP: u8 = 0x10;
// MSR bits.
const CTS: u8 = 0x10;
const DSR: u8 = 0x20;
const RI: u8 = 0x40;
const DCD: u8 = 0x80;

const FIFO_SIZE: usize = 16;
/// Transmitted bytes kept for a host that has not drained them (beyond this they are lost).
const OUTPUT_LIMIT: usize = 1 << 20;
/// Clock into the baud generator divided by 16: divisor 1 is 115200 baud.
const BAUD_BASE: u64 = 115_200;

/// IIR interrupt identification codes.
const IIR_NONE: u8 = 0x01;
const IIR_LINE: u8 = 0x06;
const IIR_DATA: u8 = 0x04;
const IIR_TIMEOUT: u8 = 0x0C;
const IIR_THRE: u8 = 0x02;
const IIR_MODEM: u8 = 0x00;

/// A 16550A with a host on the other end of the line.
#[derive(Clone, Debug)]
pub struct Uart {
    ier: u8,
    lcr: u8,
    mcr: u8,
    /// Error bits of LSR (OE, PE, FE, BI); DR, THRE and TEMT are derived.
    lsr_errors: u8,
    /// Delta bits of MSR (DCTS, DDSR, TERI, DDCD).
    msr_delta: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    fifo_enabled: bool,
    /// FCR bits 7-6.
    trigger_bits: u8,
    rx: VecDeque<u8>,
    /// Last byte read from RBR (what an empty RBR still holds).
    rbr: u8,
    thre_pending: bool,
    timeout_pending: bool,
    /// Guest time at which the character timeout fires, if armed.
    timeout_at: Option<u64>,
    /// Bytes from the host not yet in the receive FIFO.
    input: VecDeque<u8>,
    /// Bytes sent by the guest, waiting for the host.
    output: Vec<u8>,
    /// Modem inputs from the host side: a terminal that is present and ready.
    host_msr: u8,
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart {
    /// Reset state (divisor 12, 9600 baud, until firmware sets its own).
    pub fn new() -> Self {
        Uart {
            ier: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr_delta: 0,
            scr: 0,
            dll: 12,
            dlm: 0,
            fifo_enabled: false,
            trigger_bits: 0,
            rx: VecDeque::with_capacity(FIFO_SIZE),
            rbr: 0,
            thre_pending: false,
            timeout_pending: false,
            timeout_at: None,
            input: VecDeque::new(),
            output: Vec::new(),
            host_msr: CTS | DSR | DCD,
        }
    }

    /// Resets the registers (a bus reset); host queues are kept.
    pub fn reset(&mut self) {
        let input = std::mem::take(&mut self.input);
        let output = std::mem::take(&mut self.output);
        *self = Uart {
            input,
            output,
            ..Uart::new()
        };
    }

    // ----- host side -----

    /// Queues bytes arriving from the host terminal.
    pub fn push_input(&mut self, bytes: &[u8], now_ns: u64) {
        self.input.extend(bytes);
        self.refill(now_ns);
    }

    /// Takes everything the guest has transmitted since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Bytes queued by the host that the guest has not received yet.
    pub fn pending_input(&self) -> usize {
        self.input.len() + self.rx.len()
    }

    // ----- derived state -----

    fn capacity(&self) -> usize {
        if self.fifo_enabled {
            FIFO_SIZE
        } else {
            1
        }
    }

    fn trigger_level(&self) -> usize {
        match self.trigger_bits {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        }
    }

    fn loopback(&self) -> bool {
        self.mcr & LOOP != 0
    }

    fn msr_inputs(&self) -> u8 {
        if self.loopback() {
            let m = self.mcr;
            (if m & RTS != 0 { CTS } else { 0 })
                | (if m & DTR != 0 { DSR } else { 0 })
                | (if m & OUT1 != 0 { RI } else { 0 })
                | (if m & OUT2 != 0 { DCD } else { 0 })
        } else {
            self.host_msr
        }
    }

    fn lsr(&self) -> u8 {
        let dr = if self.rx.is_empty() { 0 } else { DR };
        dr | self.lsr_errors | THRE | TEMT
    }

    /// Ten bits per character at 8N1; the exact frame from LCR.
    fn char_time_ns(&self) -> u64 {
        let data = 5 + (self.lcr & 3) as u64;
        let parity = (self.lcr >> 3 & 1) as u64;
        let stop = if self.lcr & 4 != 0 { 2 } else { 1 };
        let divisor = match (self.dlm as u64) << 8 | self.dll as u64 {
            0 => 0x10000,
            d => d,
        };
        (1 + data + parity + stop) * divisor * 1_000_000_000 / BAUD_BASE
    }

    /// The interrupt source IIR would report now.
    fn source(&self) -> u8 {
        let ier = self.ier;
        if ier & ELSI != 0 && self.lsr_errors & LSR_ERRORS != 0 {
            IIR_LINE
        } else if ier & ERBFI != 0 && self.data_ready_irq() {
            IIR_DATA
        } else if ier & ERBFI != 0 && self.timeout_pending {
            IIR_TIMEOUT
        } else if ier & ETBEI != 0 && self.thre_pending {
            IIR_THRE
        } else if ier & EDSSI != 0 && self.msr_delta != 0 {
            IIR_MODEM
        } else {
            IIR_NONE
        }
    }

    fn data_ready_irq(&self) -> bool {
        if self.fifo_enabled {
            self.rx.len() >= self.trigger_level()
        } else {
            !self.rx.is_empty()
        }
    }

    /// Level of the IRQ line on the ISA bus: an interrupt is pending and OUT2 enables the
    /// driver (forced off in loopback).
    pub fn irq_line(&self) -> bool {
        self.mcr & OUT2 != 0 && !self.loopback() && self.source() != IIR_NONE
    }

    /// Guest time of the next character timeout, if one is armed.
    pub fn next_event_ns(&self) -> Option<u64> {
        if self.timeout_pending {
            None
        } else {
            self.timeout_at
        }
    }

    /// Services the character timeout at `now_ns`.
    pub fn on_event(&mut self, now_ns: u64) {
        if let Some(at) = self.timeout_at {
            if now_ns >= at {
                self.timeout_at = None;
                if self.fifo_enabled && !self.rx.is_empty() {
                    self.timeout_pending = true;
                }
            }
        }
    }

    /// Restarts the four-character timeout after FIFO activity.
    fn rearm_timeout(&mut self, now_ns: u64) {
        self.timeout_pending = false;
        self.timeout_at = if self.fifo_enabled && !self.rx.is_empty() {
            Some(now_ns.saturating_add(4 * self.char_time_ns()))
        } else {
            None
        };
    }

    /// Moves host bytes into the receive FIFO while there is room (not while looping back).
    fn refill(&mut self, now_ns: u64) {
        if self.loopback() {
            return;
        }
        let mut moved = false;
        while self.rx.len() < self.capacity() {
            match self.input.pop_front() {
                Some(b) => {
                    self.rx.push_back(b);
                    moved = true;
                }
                None => break,
            }
        }
        if moved {
            self.rearm_timeout(now_ns);
        }
    }

    fn receive(&mut self, b: u8, now_ns: u64) {
        if self.rx.len() >= self.capacity() {
            self.lsr_errors |= OE;
        } else {
            self.rx.push_back(b);
        }
        self.rearm_timeout(now_ns);
    }

    // ----- guest side -----

    /// Register read; `offset` is 0-7 from the base port.
    pub fn read(&mut self, offset: u16, now_ns: u64) -> u8 {
        let dlab = self.lcr & 0x80 != 0;
        match offset & 7 {
            0 if dlab => self.dll,
            0 => {
                if let Some(b) = self.rx.pop_front() {
                    self.rbr = b;
                }
                self.refill(now_ns);
                self.rearm_timeout(now_ns);
                self.rbr
            }
            1 if dlab => self.dlm,
            1 => self.ier,
            2 => {
                let src = self.source();
                if src == IIR_THRE {
                    self.thre_pending = false;
                }
                src | if self.fifo_enabled { 0xC0 } else { 0 }
            }
            3 => self.lcr,
            4 => self.mcr,
            5 => {
                let v = self.lsr();
                self.lsr_errors = 0;
                v
            }
            6 => {
                let v = self.msr_inputs() | self.msr_delta;
                self.msr_delta = 0;
                v
            }
            _ => self.scr,
        }
    }

    /// Register write; `offset` is 0-7 from the base port.
    pub fn write(&mut self, offset: u16, v: u8, now_ns: u64) {
        let dlab = self.lcr & 0x80 != 0;
        match offset & 7 {
            0 if dlab => self.dll = v,
            0 => {
                if self.loopback() {
                    self.receive(v, now_ns);
                } else {
                    if self.output.len() < OUTPUT_LIMIT {
                        self.output.push(v);
                    }
                }
                // Sent at once: THR is empty again, which raises THRE anew.
                self.thre_pending = true;
            }
            1 if dlab => self.dlm = v,
            1 => {
                let v = v & 0x0F;
                if v & ETBEI != 0 && self.ier & ETBEI == 0 {
                    self.thre_pending = true;
                }
                self.ier = v;
            }
            2 => self.write_fcr(v, now_ns),
            3 => self.lcr = v,
            4 => {
                let before = self.msr_inputs();
                let was_loop = self.loopback();
                self.mcr = v & 0x1F;
                let after = self.msr_inputs();
                let changed = before ^ after;
                if changed & CTS != 0 {
                    self.msr_delta |= 0x01;
                }
                if changed & DSR != 0 {
                    self.msr_delta |= 0x02;
                }
                if before & RI != 0 && after & RI == 0 {
                    self.msr_delta |= 0x04;
                }
                if changed & DCD != 0 {
                    self.msr_delta |= 0x08;
                }
                if was_loop && !self.loopback() {
                    self.refill(now_ns);
                }
            }
            5 | 6 => {} // LSR and MSR are read-only here (factory test writes are ignored)
            _ => self.scr = v,
        }
    }

    fn write_fcr(&mut self, v: u8, now_ns: u64) {
        let enable = v & 0x01 != 0;
        if enable != self.fifo_enabled {
            self.rx.clear();
        }
        self.fifo_enabled = enable;
        if enable {
            if v & 0x02 != 0 {
                self.rx.clear();
            }
            // Bit 2 clears the transmit FIFO, which is always empty here.
            self.trigger_bits = v >> 6;
        } else {
            self.trigger_bits = 0;
        }
        self.rearm_timeout(now_ns);
        self.refill(now_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uart() -> Uart {
        Uart::new()
    }

    #[test]
    fn linux_probe_scratch_ier_and_loopback() {
        let mut u = uart();
        u.write(7, 0xA5, 0);
        assert_eq!(u.read(7, 0), 0xA5);
        u.write(1, 0, 0);
        assert_eq!(u.read(1, 0) & 0x0F, 0);
        u.write(1, 0xFF, 0);
        assert_eq!(u.read(1, 0), 0x0F, "IER bits 7-4 read 0");
        u.write(1, 0, 0);
        // Loopback test from the 8250 driver.
        u.write(4, 0x10 | 0x0A, 0);
        assert_eq!(u.read(6, 0) & 0xF0, 0x90);
        u.write(4, 0x10 | 0x05, 0);
        assert_eq!(u.read(6, 0) & 0xF0, 0x60);
        u.write(4, 0, 0);
    }

    #[test]
    fn fifo_detected_as_16550a() {
        let mut u = uart();
        u.write(2, 0x01, 0);
        assert_eq!(u.read(2, 0) >> 6, 3);
        u.write(2, 0x00, 0);
        assert_eq!(u.read(2, 0) >> 6, 0);
    }

    #[test]
    fn divisor_latch() {
        let mut u = uart();
        u.write(3, 0x80, 0);
        u.write(0, 0x01, 0);
        u.write(1, 0x00, 0);
        assert_eq!((u.read(0, 0), u.read(1, 0)), (1, 0));
        u.write(3, 0x03, 0);
        assert_eq!(u.read(1, 0), 0, "IER untouched by DLM writes");
        assert_eq!(u.char_time_ns(), 10 * 1_000_000_000 / 115_200);
    }

    #[test]
    fn transmit_goes_to_host_and_thre_follows_iir_rules() {
        let mut u = uart();
        u.write(4, OUT2, 0);
        assert_eq!(u.read(5, 0) & 0x60, 0x60);
        u.write(1, ETBEI, 0);
        assert!(u.irq_line(), "enabling ETBEI with THR empty interrupts");
        assert_eq!(u.read(2, 0), 0x02);
        assert!(!u.irq_line(), "reading IIR with THRE as source clears it");
        assert_eq!(u.read(2, 0), 0x01);
        u.write(0, b'h', 0);
        u.write(0, b'i', 0);
        assert!(u.irq_line(), "THR empties again after each byte");
        assert_eq!(u.take_output(), b"hi");
        assert!(u.take_output().is_empty());
        // The 8250 driver's THRE test: IER 0 -> THRI twice must interrupt twice.
        u.write(1, 0, 0);
        u.write(1, ETBEI, 0);
        assert_eq!(u.read(2, 0) & 0x0F, 0x02);
        u.write(1, 0, 0);
        u.write(1, ETBEI, 0);
        assert_eq!(u.read(2, 0) & 0x0F, 0x02);
    }

    #[test]
    fn irq_needs_out2() {
        let mut u = uart();
        u.write(1, ETBEI, 0);
        assert!(!u.irq_line());
        u.write(4, OUT2, 0);
        assert!(u.irq_line());
        u.write(4, OUT2 | LOOP, 0);
        assert!(!u.irq_line(), "loopback disconnects OUT2 from the bus");
    }

    #[test]
    fn receive_without_fifo() {
        let mut u = uart();
        u.write(4, OUT2, 0);
        u.write(1, ERBFI, 0);
        u.push_input(b"ab", 0);
        assert_eq!(u.read(5, 0) & DR, DR);
        assert!(u.irq_line());
        assert_eq!(u.read(2, 0), 0x04);
        assert_eq!(u.read(0, 0), b'a');
        assert_eq!(u.read(0, 0), b'b');
        assert_eq!(u.read(5, 0) & DR, 0);
        assert!(!u.irq_line());
        assert_eq!(u.read(0, 0), b'b', "empty RBR keeps its last byte");
    }

    #[test]
    fn fifo_trigger_level_and_timeout() {
        let mut u = uart();
        u.write(3, 0x03, 0);
        u.write(4, OUT2, 0);
        u.write(2, 0x81, 0); // FIFO on, trigger 8
        u.write(1, ERBFI, 0);
        u.push_input(b"1234", 0);
        assert!(!u.irq_line(), "below the trigger level");
        let at = u.next_event_ns().expect("timeout armed");
        assert_eq!(at, 4 * u.char_time_ns());
        u.on_event(at);
        assert!(u.irq_line());
        assert_eq!(u.read(2, at), 0xCC);
        assert_eq!(u.read(0, at), b'1');
        assert!(!u.irq_line(), "a read clears the timeout and restarts it");
        u.push_input(b"56789", at);
        assert!(u.irq_line(), "8 bytes reach the trigger");
        assert_eq!(u.read(2, at), 0xC4);
        let mut got = Vec::new();
        while u.read(5, at) & DR != 0 {
            got.push(u.read(0, at));
        }
        assert_eq!(got, b"23456789");
        assert_eq!(u.next_event_ns(), None);
    }

    #[test]
    fn fifo_holds_sixteen_and_host_queue_waits() {
        let mut u = uart();
        u.write(2, 0x07, 0);
        let data: Vec<u8> = (0..40).collect();
        u.push_input(&data, 0);
        assert_eq!(u.rx.len(), 16);
        let got: Vec<u8> = (0..40).map(|_| u.read(0, 0)).collect();
        assert_eq!(got, data);
        assert_eq!(u.read(5, 0) & (DR | OE), 0);
    }

    #[test]
    fn fcr_clears_fifo() {
        let mut u = uart();
        u.write(2, 0x01, 0);
        u.push_input(b"xyz", 0);
        u.write(2, 0x03, 0);
        // The host queue was already in the FIFO; clearing drops it like a real FIFO reset.
        assert_eq!(u.read(5, 0) & DR, 0);
    }

    #[test]
    fn loopback_data_and_overrun() {
        let mut u = uart();
        u.write(4, LOOP, 0);
        u.write(0, 0x55, 0);
        assert!(
            u.take_output().is_empty(),
            "nothing leaves the chip in loopback"
        );
        assert_eq!(u.read(0, 0), 0x55);
        u.write(0, 1, 0);
        u.write(0, 2, 0);
        assert_eq!(u.read(5, 0) & OE, OE, "no FIFO: second byte overruns");
        assert_eq!(u.read(5, 0) & OE, 0, "reading LSR clears errors");
        u.push_input(b"q", 0);
        assert_eq!(u.read(0, 0), 1, "host input waits while looping back");
        u.write(4, 0, 0);
        assert_eq!(u.read(0, 0), b'q');
    }

    #[test]
    fn line_status_interrupt_has_top_priority() {
        let mut u = uart();
        u.write(4, LOOP, 0);
        u.write(1, ERBFI | ETBEI | ELSI, 0);
        u.write(0, 1, 0);
        u.write(0, 2, 0);
        assert_eq!(u.read(2, 0), 0x06);
        u.read(5, 0);
        assert_eq!(u.read(2, 0), 0x04);
    }

    #[test]
    fn modem_status_deltas_in_loopback() {
        let mut u = uart();
        u.write(1, EDSSI, 0);
        u.write(4, LOOP, 0);
        let v = u.read(6, 0);
        assert_eq!(
            v & 0x0F,
            0x0B,
            "CTS, DSR, DCD dropped from the host's levels"
        );
        u.write(4, LOOP | OUT1, 0);
        u.write(4, LOOP, 0);
        assert_eq!(u.read(2, 0), 0x00, "modem status interrupt");
        assert_eq!(u.read(6, 0) & 0x0F, 0x04, "trailing edge of RI");
        assert_eq!(u.read(2, 0), 0x01);
    }

    #[test]
    fn default_msr_is_a_ready_terminal() {
        let mut u = uart();
        assert_eq!(u.read(6, 0), 0xB0);
    }

    #[test]
    fn every_register_value_is_safe() {
        let mut u = uart();
        let mut t = 0;
        for off in 0..8u16 {
            for v in 0..=255u8 {
                t += 10_000;
                u.write(off, v, t);
                u.push_input(&[v], t);
                u.read(off, t);
                u.read(2, t);
                if let Some(at) = u.next_event_ns() {
                    u.on_event(at);
                }
                u.irq_line();
            }
        }
        u.write(3, 0x80, t);
        u.write(0, 0, t);
        u.write(1, 0, t);
        u.write(3, 0x3F, t);
        assert!(u.char_time_ns() > 0);
    }
}
