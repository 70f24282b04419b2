//! System control registers that reset the machine or gate A20 without the 8042.
//!
//! - Port 92h, "system control port A" (PS/2, kept by every later chipset): bit 1 opens the
//!   A20 gate (ORed with the 8042's output port bit on the PIIX), and a 0-to-1 transition of
//!   bit 0 resets the CPU ("fast reset"). Bit 3 (CMOS lock) is stored and read back.
//! - Port CF9h, the PIIX reset control register: writing bit 2 (RST_CPU) set resets the
//!   machine, hard or soft by bit 1 (SYS_RST); Linux's `reboot=pci` uses it. Only byte
//!   accesses reach it (a dword at CF8h is the PCI configuration address).

/// Port 92h.
#[derive(Clone, Debug, Default)]
pub struct Port92 {
    value: u8,
    reset_request: bool,
}

impl Port92 {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn read(&self) -> u8 {
        self.value
    }

    pub fn write(&mut self, v: u8) {
        let v = v & 0x0B;
        if v & 0x01 != 0 && self.value & 0x01 == 0 {
            self.reset_request = true;
        }
        self.value = v;
    }

    /// Bit 1: the fast A20 gate.
    pub fn a20(&self) -> bool {
        self.value & 0x02 != 0
    }

    /// Takes a pending reset request (bit 0 went from 0 to 1).
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }
}

/// The PIIX reset control register at CF9h.
#[derive(Clone, Debug, Default)]
pub struct ResetControl {
    value: u8,
    reset_request: bool,
}

impl ResetControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bit 2 is self-clearing; bits 1 and 3 read back.
    pub fn read(&self) -> u8 {
        self.value & 0x0A
    }

    pub fn write(&mut self, v: u8) {
        if v & 0x04 != 0 {
            self.reset_request = true;
        }
        self.value = v & 0x0E;
    }

    /// Whether the last reset asked for a hard (full system) reset.
    pub fn hard_reset(&self) -> bool {
        self.value & 0x02 != 0
    }

    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_a20_and_fast_reset() {
        let mut p = Port92::new();
        assert!(!p.a20());
        p.write(0x02);
        assert!(p.a20());
        assert_eq!(p.read(), 0x02);
        assert!(!p.take_reset_request());
        p.write(0x03);
        assert!(p.take_reset_request());
        p.write(0x03);
        assert!(!p.take_reset_request(), "only a 0-to-1 transition resets");
        p.write(0xFF);
        assert_eq!(p.read(), 0x0B);
    }

    #[test]
    fn cf9_reset() {
        let mut r = ResetControl::new();
        r.write(0x02);
        assert!(!r.take_reset_request());
        r.write(0x06);
        assert!(r.take_reset_request());
        assert!(r.hard_reset());
        assert_eq!(r.read(), 0x02);
    }
}
