//! The board: owns every device and the virtual clock, routes port I/O, wires IRQ lines.
//!
//! # What the front end calls
//! - [`Board::io_read`] / [`Board::io_write`] (port, size 1/2/4): the CPU's IN and OUT.
//! - [`Board::irq_pending`] / [`Board::irq_ack`]: the INTR line and the acknowledge cycle.
//! - [`Board::advance_to`] with the guest time in ns (derived from retired instructions) before
//!   forwarding an I/O access and whenever [`Board::next_event_ns`] is reached; after any I/O
//!   write the next event may have moved earlier, so ask for it again.
//! - [`Board::take_a20_change`]: the board does not own guest memory, so A20 changes requested
//!   through the 8042 or port 92h are handed to the front end, which applies them with
//!   `emu_mmu::Memory::set_a20` before the CPU's next memory access. The board starts with A20
//!   open, matching `Memory::new`.
//! - [`Board::take_reset_request`] / [`Board::take_power_off_request`], then [`Board::reset`]
//!   after resetting the CPU.
//! - Host side: [`Board::serial_input`], [`Board::take_serial_output`], [`Board::key_input`],
//!   [`Board::take_debugcon`].
//!
//! # Ports
//! | ports            | device                                    |
//! |------------------|-------------------------------------------|
//! | 20h-21h, A0h-A1h | 8259A pair ([`Pic`])                      |
//! | 4D0h-4D1h        | PIIX ELCR (in [`Pic`])                    |
//! | 40h-43h          | 8254 ([`Pit`])                            |
//! | 61h              | port B: PIT gate 2, speaker, OUT2, refresh |
//! | 60h, 64h         | 8042 and keyboard ([`I8042`])             |
//! | 70h-71h          | RTC/CMOS ([`Rtc`])                        |
//! | 80h              | POST code ([`DebugPorts`])                |
//! | 92h              | system control port A ([`Port92`])        |
//! | E9h              | debug console ([`DebugPorts`])            |
//! | 3F8h-3FFh        | COM1 16550A ([`Uart`]), IRQ 4             |
//! | CF8h (dword)     | PCI configuration address latch (stub)    |
//! | CF9h (byte)      | PIIX reset control ([`ResetControl`])     |
//! | CFCh-CFFh        | PCI configuration data (stub: no devices) |
//!
//! Everything else reads as all ones and ignores writes. A 16- or 32-bit access to byte-wide
//! devices is split into byte accesses at consecutive ports, as the ISA bus does.
//!
//! # Adding a device
//! Add it as a field, give it arms in [`Board::read8`] / [`Board::write8`] (and in `read16`/
//! `read32`/`write16`/`write32` if it has wide registers, such as the ATA data port or PCI
//! configuration data), an IRQ wiring in a `sync_*` helper, and if it keeps time an
//! [`EventKind`] with an arm in [`Board::advance_to`].

use crate::clock::{Clock, EventKind};
use crate::debugport::DebugPorts;
use crate::i8042::I8042;
use crate::pic::Pic;
use crate::pit::{ns_to_ticks, Pit};
use crate::port92::{Port92, ResetControl};
use crate::rtc::{Rtc, RtcStart};
use crate::uart::Uart;
use crate::{ata::AtaChannel, pci::PciBus, vga::Vga};

/// Base port of COM1.
pub const COM1: u16 = 0x3F8;
/// IRQ lines of the board's devices.
pub const IRQ_PIT: u8 = 0;
pub const IRQ_KBD: u8 = 1;
pub const IRQ_COM1: u8 = 4;
pub const IRQ_RTC: u8 = 8;
pub const IRQ_AUX: u8 = 12;
pub const IRQ_FPU: u8 = 13;
pub const IRQ_ATA: u8 = 14;

/// PIT ticks per DRAM refresh request (channel 1's classic count of 18, about 15 us); port 61h
/// bit 4 toggles at each one.
const REFRESH_TICKS: u64 = 18;

/// How the board is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardConfig {
    pub rtc_start: RtcStart,
}

impl Default for BoardConfig {
    fn default() -> Self {
        BoardConfig {
            rtc_start: RtcStart::Host,
        }
    }
}

/// The PC board.
pub struct Board {
    clock: Clock,
    pub pic: Pic,
    pub pit: Pit,
    pub rtc: Rtc,
    pub uart: Uart,
    pub kbc: I8042,
    pub port92: Port92,
    pub reset_control: ResetControl,
    pub debug: DebugPorts,
    /// Primary IDE channel (1F0h-1F7h, 3F6h, IRQ 14) with the first hard disk.
    pub ata: AtaChannel,
    /// PCI configuration space (CF8h/CFCh): 440FX host bridge, PIIX3 ISA and IDE functions.
    pub pci: PciBus,
    /// VGA registers (3B0h-3DFh); the text buffer itself is guest RAM at B8000h.
    pub vga: Vga,
    /// Port 61h bits 3-0 as written (PIT gate 2, speaker data, parity/IOCHK check disables).
    port61: u8,
    a20: bool,
    a20_change: Option<bool>,
    reset_request: bool,
    power_off_request: bool,
}

impl Board {
    pub fn new(config: BoardConfig) -> Self {
        let mut b = Board {
            clock: Clock::new(),
            pic: Pic::new(),
            pit: Pit::new(),
            rtc: Rtc::new(config.rtc_start),
            uart: Uart::new(),
            kbc: I8042::new(),
            port92: Port92::new(),
            reset_control: ResetControl::new(),
            debug: DebugPorts::new(),
            port61: 0,
            ata: AtaChannel::new(None),
            pci: PciBus::new(),
            vga: Vga::new(),
            a20: true,
            a20_change: None,
            reset_request: false,
            power_off_request: false,
        };
        b.a20 = b.kbc.a20() || b.port92.a20();
        b.sync_irqs();
        b
    }

    /// Devices back to their power-on state, as after a reset of the whole system. The RTC
    /// and its RAM are battery-backed and keep running; guest time and the host queues are
    /// kept. An A20 change may follow (the 8042 opens the gate again).
    pub fn reset(&mut self) {
        self.pic = Pic::new();
        self.pit = Pit::new();
        self.uart.reset();
        self.kbc.reset();
        self.port92 = Port92::new();
        self.port61 = 0;
        self.ata.reset();
        self.pci.reset();
        self.vga.reset();
        self.pic.set_irq(IRQ_FPU, false);
        self.reset_request = false;
        self.power_off_request = false;
        self.update_a20();
        self.sync_irqs();
    }

    // ----- time -----

    /// Guest time in ns.
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.clock.now()
    }

    /// Deadline of the earliest pending device event.
    #[inline]
    pub fn next_event_ns(&self) -> Option<u64> {
        self.clock.next_event_ns()
    }

    /// Moves guest time to `now_ns`, servicing every event due by then in time order (an
    /// earlier time than the current one is ignored). Periodic PIT edges that fall between two
    /// other events are folded into one: the PIC latches one edge either way.
    pub fn advance_to(&mut self, now_ns: u64) {
        while let Some((kind, at)) = self.clock.pop_due(now_ns) {
            self.clock.set_now(at);
            match kind {
                EventKind::Pit0 => {
                    let limit = self
                        .clock
                        .next_excluding(EventKind::Pit0)
                        .map_or(now_ns, |d| d.min(now_ns));
                    let last = self.pit.last_irq0_edge_before(at, limit).unwrap_or(at);
                    self.clock.set_now(last);
                    self.pic.set_irq(IRQ_PIT, false);
                    self.pic.set_irq(IRQ_PIT, true);
                    self.sync_pit();
                }
                EventKind::Rtc => {
                    self.rtc.on_event(at);
                    self.sync_rtc();
                }
                EventKind::UartTimeout => {
                    self.uart.on_event(at);
                    self.sync_uart();
                }
            }
        }
        self.clock.set_now(now_ns);
    }

    // ----- CPU side -----

    /// The INTR line.
    #[inline]
    pub fn irq_pending(&self) -> bool {
        self.pic.pending()
    }

    /// Interrupt acknowledge: the vector to deliver.
    pub fn irq_ack(&mut self) -> u8 {
        self.pic.ack()
    }

    /// Port read of `size` bytes (1, 2 or 4; anything else is treated as 4).
    pub fn io_read(&mut self, port: u16, size: u8) -> u32 {
        if let Some(v) = self.wide_read(port, size) {
            return v;
        }
        match size {
            1 => self.read8(port) as u32,
            2 => self.read16(port) as u32,
            _ => self.read32(port),
        }
    }

    /// Port write of `size` bytes (1, 2 or 4; anything else is treated as 4).
    pub fn io_write(&mut self, port: u16, size: u8, value: u32) {
        if self.wide_write(port, size, value) {
            return;
        }
        match size {
            1 => self.write8(port, value as u8),
            2 => self.write16(port, value as u16),
            _ => self.write32(port, value),
        }
    }

    /// Devices that take a whole 16/32-bit access: the ATA data port, PCI configuration, the
    /// bus-master block, VGA index/data pairs.
    fn wide_read(&mut self, port: u16, size: u8) -> Option<u32> {
        if AtaChannel::handles(port) {
            let v = self.ata.read(port, size);
            self.sync_ata();
            return Some(v);
        }
        if PciBus::handles(port, size) {
            return Some(self.pci.read(port, size));
        }
        if let Some(base) = self.pci.bmdma_base() {
            if (base..base.wrapping_add(16)).contains(&port) {
                return Some(self.pci.bmdma_read(port - base, size));
            }
        }
        if Vga::handles(port) {
            return Some(self.vga.read(port, size));
        }
        None
    }

    fn wide_write(&mut self, port: u16, size: u8, v: u32) -> bool {
        if AtaChannel::handles(port) {
            self.ata.write(port, size, v);
            self.sync_ata();
            return true;
        }
        if PciBus::handles(port, size) {
            self.pci.write(port, size, v);
            return true;
        }
        if let Some(base) = self.pci.bmdma_base() {
            if (base..base.wrapping_add(16)).contains(&port) {
                self.pci.bmdma_write(port - base, size, v);
                return true;
            }
        }
        if Vga::handles(port) {
            self.vga.write(port, size, v);
            return true;
        }
        false
    }

    fn sync_ata(&mut self) {
        self.pic.set_irq(IRQ_ATA, self.ata.irq_level());
    }

    /// FERR# from the x87 (CR0.NE clear): IRQ 13, cleared by a write to port F0h.
    pub fn ferr(&mut self) {
        self.pic.set_irq(IRQ_FPU, true);
    }

    fn read16(&mut self, port: u16) -> u16 {
        match port {
            0xCF8..=0xCFF => self.pci_read(port, 2) as u16,
            _ => u16::from_le_bytes([self.read8(port), self.read8(port.wrapping_add(1))]),
        }
    }

    fn read32(&mut self, port: u16) -> u32 {
        match port {
            0xCF8..=0xCFF => self.pci_read(port, 4),
            _ => u32::from_le_bytes([
                self.read8(port),
                self.read8(port.wrapping_add(1)),
                self.read8(port.wrapping_add(2)),
                self.read8(port.wrapping_add(3)),
            ]),
        }
    }

    fn write16(&mut self, port: u16, v: u16) {
        match port {
            0xCF8..=0xCFF => self.pci_write(port, 2, v as u32),
            _ => {
                let [a, b] = v.to_le_bytes();
                self.write8(port, a);
                self.write8(port.wrapping_add(1), b);
            }
        }
    }

    fn write32(&mut self, port: u16, v: u32) {
        match port {
            0xCF8..=0xCFF => self.pci_write(port, 4, v),
            _ => {
                for (i, b) in v.to_le_bytes().into_iter().enumerate() {
                    self.write8(port.wrapping_add(i as u16), b);
                }
            }
        }
    }

    /// Byte read from the device decoding `port`.
    pub fn read8(&mut self, port: u16) -> u8 {
        let now = self.clock.now();
        match port {
            0x20 | 0x21 | 0xA0 | 0xA1 | 0x4D0 | 0x4D1 => self.pic.read(port),
            0x40..=0x43 => {
                let v = self.pit.read(port, now);
                self.sync_pit();
                v
            }
            0x61 => {
                let refresh = (ns_to_ticks(now) / REFRESH_TICKS) & 1 != 0;
                let out2 = self.pit.out(2, now);
                self.port61 | (refresh as u8) << 4 | (out2 as u8) << 5
            }
            0x60 | 0x64 => {
                let v = self.kbc.read(port);
                if port == 0x60 {
                    // Reading the output buffer drops IRQ 1/12 until the 8042 has loaded the
                    // next byte, so a byte already waiting raises a fresh edge at the
                    // edge-triggered PIC (as QEMU pulses it). Without the pulse the line stays
                    // high across a multi-byte reply (ACK, then the keyboard ID) or a burst of
                    // keys, and the guest never hears of the later bytes.
                    self.pic.set_irq(IRQ_KBD, false);
                    self.pic.set_irq(IRQ_AUX, false);
                }
                self.sync_kbc();
                v
            }
            0x70 | 0x71 => {
                let v = self.rtc.read_port(port, now);
                self.sync_rtc();
                v
            }
            0x92 => self.port92.read(),
            0xE9 => 0xE9,
            0x3F8..=0x3FF => {
                let v = self.uart.read(port - COM1, now);
                self.sync_uart();
                v
            }
            0xCF8..=0xCFF => self.pci_read(port, 1) as u8,
            _ => 0xFF,
        }
    }

    /// Byte write to the device decoding `port`.
    pub fn write8(&mut self, port: u16, v: u8) {
        let now = self.clock.now();
        match port {
            0x20 | 0x21 | 0xA0 | 0xA1 | 0x4D0 | 0x4D1 => self.pic.write(port, v),
            0x40..=0x43 => {
                self.pit.write(port, v, now);
                self.sync_pit();
            }
            0x61 => {
                self.port61 = v & 0x0F;
                self.pit.set_gate(2, v & 0x01 != 0, now);
            }
            0x60 | 0x64 => {
                self.kbc.write(port, v);
                self.sync_kbc();
            }
            0x70 | 0x71 => {
                self.rtc.write_port(port, v, now);
                self.sync_rtc();
            }
            0x80 => self.debug.write_post(v),
            0x92 => {
                self.port92.write(v);
                if self.port92.take_reset_request() {
                    self.reset_request = true;
                }
                self.update_a20();
            }
            0xE9 => self.debug.write_console(v),
            // Clears FERR#'s IRQ 13 (IGNNE# on a PC).
            0xF0 => self.pic.set_irq(IRQ_FPU, false),
            0x3F8..=0x3FF => {
                self.uart.write(port - COM1, v, now);
                self.sync_uart();
            }
            0xCF8..=0xCFF => self.pci_write(port, 1, v as u32),
            _ => {}
        }
    }

    // ----- CF8h-CFFh accesses the PCI bus does not take: the CF9h reset register -----

    fn pci_read(&mut self, port: u16, size: u8) -> u32 {
        match (port, size) {
            (0xCF9, 1) => self.reset_control.read() as u32,
            // Byte/word accesses to the configuration address float.
            _ => u32::MAX >> (32 - 8 * size.clamp(1, 4) as u32),
        }
    }

    fn pci_write(&mut self, port: u16, size: u8, v: u32) {
        if (port, size) == (0xCF9, 1) {
            self.reset_control.write(v as u8);
            if self.reset_control.take_reset_request() {
                self.reset_request = true;
            }
        }
    }

    // ----- IRQ wiring -----

    /// Re-derives every device's IRQ line and event after device state was changed directly
    /// through the public fields.
    pub fn sync_irqs(&mut self) {
        self.sync_pit();
        self.sync_rtc();
        self.sync_uart();
        self.sync_kbc();
    }

    fn sync_pit(&mut self) {
        let now = self.clock.now();
        self.pic.set_irq(IRQ_PIT, self.pit.irq0_line(now));
        self.clock
            .schedule(EventKind::Pit0, self.pit.next_irq0_edge(now));
    }

    fn sync_rtc(&mut self) {
        self.pic.set_irq(IRQ_RTC, self.rtc.irq_line());
        self.clock
            .schedule(EventKind::Rtc, self.rtc.next_event_ns());
    }

    fn sync_uart(&mut self) {
        self.pic.set_irq(IRQ_COM1, self.uart.irq_line());
        self.clock
            .schedule(EventKind::UartTimeout, self.uart.next_event_ns());
    }

    fn sync_kbc(&mut self) {
        self.pic.set_irq(IRQ_KBD, self.kbc.kbd_irq());
        self.pic.set_irq(IRQ_AUX, self.kbc.aux_irq());
        if self.kbc.take_reset_request() {
            self.reset_request = true;
        }
        self.update_a20();
    }

    /// On the PIIX the A20 gate is open when either the 8042 or port 92h opens it.
    fn update_a20(&mut self) {
        let a20 = self.kbc.a20() || self.port92.a20();
        if a20 != self.a20 {
            self.a20 = a20;
            self.a20_change = Some(a20);
        }
    }

    // ----- requests for the front end -----

    /// Current A20 gate state.
    pub fn a20_enabled(&self) -> bool {
        self.a20
    }

    /// The A20 state to apply to guest memory, if it changed since the last call.
    pub fn take_a20_change(&mut self) -> Option<bool> {
        self.a20_change.take()
    }

    /// Applies a pending A20 change to guest memory; for a front end holding both.
    pub fn apply_a20(&mut self, mem: &mut emu_mmu::Memory) {
        if let Some(on) = self.take_a20_change() {
            mem.set_a20(on);
        }
    }

    /// Whether the guest asked for a system reset (8042 output port, port 92h, CF9h).
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    /// Whether the guest asked to power off (set by power-management devices).
    pub fn take_power_off_request(&mut self) -> bool {
        std::mem::take(&mut self.power_off_request)
    }

    /// For devices (and the front end, e.g. on a triple fault) to request a reset.
    pub fn request_reset(&mut self) {
        self.reset_request = true;
    }

    /// For power-management devices to request power-off.
    pub fn request_power_off(&mut self) {
        self.power_off_request = true;
    }

    // ----- host side -----

    /// Bytes typed on the host's serial console, for COM1.
    pub fn serial_input(&mut self, bytes: &[u8]) {
        let now = self.clock.now();
        self.uart.push_input(bytes, now);
        self.sync_uart();
    }

    /// Bytes the guest sent on COM1 since the last call.
    pub fn take_serial_output(&mut self) -> Vec<u8> {
        self.uart.take_output()
    }

    /// A key event as set-1 scan code bytes (make, or break with bit 7; E0/E1 prefixes).
    pub fn key_input(&mut self, set1: &[u8]) {
        self.kbc.key_input(set1);
        self.sync_kbc();
    }

    /// Free bytes in the keyboard's buffer (in the keyboard's own scan code set: a set-2 break
    /// takes two or three bytes), so the host can pace typing without overrunning it.
    pub fn key_room(&self) -> usize {
        self.kbc.keyboard.key_room()
    }

    /// Bytes written to the debug console port E9h since the last call.
    pub fn take_debugcon(&mut self) -> Vec<u8> {
        self.debug.take_console()
    }

    /// The last POST code written to port 80h.
    pub fn post_code(&self) -> Option<u8> {
        self.debug.post_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn board() -> Board {
        let mut b = Board::new(BoardConfig {
            rtc_start: RtcStart::Unix(1_700_000_000),
        });
        // Program the PICs as Linux does: vectors 30h/38h, cascade, 8086 mode.
        for (p, v) in [
            (0x20, 0x11),
            (0x21, 0x30),
            (0x21, 0x04),
            (0x21, 0x01),
            (0xA0, 0x11),
            (0xA1, 0x38),
            (0xA1, 0x02),
            (0xA1, 0x01),
        ] {
            b.io_write(p, 1, v);
        }
        b.io_write(0x21, 1, 0x00);
        b.io_write(0xA1, 1, 0x00);
        b
    }

    fn eoi(b: &mut Board, vector: u8) {
        if vector >= 0x38 {
            b.io_write(0xA0, 1, 0x20);
        }
        b.io_write(0x20, 1, 0x20);
    }

    #[test]
    fn unknown_ports_float_high() {
        let mut b = board();
        assert_eq!(b.io_read(0x1234, 1), 0xFF);
        assert_eq!(b.io_read(0x1234, 2), 0xFFFF);
        assert_eq!(b.io_read(0x1234, 4), 0xFFFF_FFFF);
        b.io_write(0x1234, 4, 0);
        assert_eq!(
            b.io_read(0xFFFF, 4),
            0xFFFF_FFFF,
            "wraps at the top of I/O space"
        );
        assert_eq!(b.io_read(0x80, 1), 0xFF);
    }

    #[test]
    fn pit_periodic_irq0_through_the_event_queue() {
        let mut b = board();
        // Linux's periodic setup: mode 2, LATCH for HZ = 250.
        let latch: u32 = (1_193_182 + 125) / 250;
        b.io_write(0x43, 1, 0x34);
        b.io_write(0x40, 1, latch & 0xFF);
        b.io_write(0x40, 1, latch >> 8);
        // Setting mode 2 raised OUT 0, which was low in the power-on mode 0 state: a real edge.
        assert_eq!(b.irq_ack(), 0x30);
        eoi(&mut b, 0x30);
        assert!(!b.irq_pending());
        let first = b.next_event_ns().unwrap();
        assert!((3_990_000..4_010_000).contains(&first), "{first}");
        b.advance_to(first - 1);
        assert!(!b.irq_pending());
        b.advance_to(first);
        assert!(b.irq_pending());
        assert_eq!(b.irq_ack(), 0x30);
        eoi(&mut b, 0x30);
        assert!(!b.irq_pending());
        let second = b.next_event_ns().unwrap();
        assert!((second - first).abs_diff(4 * MS) < 2000);
        b.advance_to(second);
        assert_eq!(b.irq_ack(), 0x30);
    }

    #[test]
    fn long_jumps_fold_periodic_edges() {
        let mut b = board();
        b.io_write(0x43, 1, 0x34);
        b.io_write(0x40, 1, 0xA9);
        b.io_write(0x40, 1, 0x04); // 1193: about 1 ms
        b.advance_to(3_600_000 * MS);
        assert!(b.irq_pending());
        assert_eq!(b.irq_ack(), 0x30);
        eoi(&mut b, 0x30);
        assert!(!b.irq_pending(), "one interrupt, not 3.6 million");
        let next = b.next_event_ns().unwrap();
        assert!(next > b.now_ns() && next - b.now_ns() <= MS + 1000);
    }

    #[test]
    fn oneshot_mode0_fires_once() {
        let mut b = board();
        b.io_write(0x43, 1, 0x30);
        b.io_write(0x40, 1, 100);
        b.io_write(0x40, 1, 0);
        let t = b.next_event_ns().unwrap();
        b.advance_to(t + 10 * MS);
        assert_eq!(b.irq_ack(), 0x30);
        eoi(&mut b, 0x30);
        assert_eq!(b.next_event_ns(), None);
        assert!(!b.irq_pending());
        // Reprogramming drops OUT 0 and arms a new shot.
        b.io_write(0x43, 1, 0x30);
        b.io_write(0x40, 1, 100);
        b.io_write(0x40, 1, 0);
        assert!(b.next_event_ns().unwrap() > b.now_ns());
    }

    #[test]
    fn port61_gate_out2_and_refresh() {
        let mut b = board();
        // pit_calibrate_tsc: gate on, speaker off, ch2 mode 0, 50 ms.
        let v = b.io_read(0x61, 1);
        b.io_write(0x61, 1, (v & !0x02) | 0x01);
        b.io_write(0x43, 1, 0xB0);
        let latch = 1_193_182u32 / 20;
        b.io_write(0x42, 1, latch & 0xFF);
        b.io_write(0x42, 1, latch >> 8);
        assert_eq!(b.io_read(0x61, 1) & 0x20, 0);
        b.advance_to(49 * MS);
        assert_eq!(b.io_read(0x61, 1) & 0x20, 0);
        b.advance_to(51 * MS);
        assert_eq!(b.io_read(0x61, 1) & 0x20, 0x20);
        assert_eq!(b.io_read(0x61, 1) & 0x0F, 0x01);
        // Refresh toggles every ~15 us.
        let r0 = b.io_read(0x61, 1) & 0x10;
        b.advance_to(51 * MS + 15_100);
        assert_ne!(b.io_read(0x61, 1) & 0x10, r0);
        // Gate off stops channel 2 in mode 0.
        b.io_write(0x43, 1, 0xB0);
        b.io_write(0x42, 1, 0xFF);
        b.io_write(0x42, 1, 0xFF);
        b.io_write(0x61, 1, 0x00);
        b.advance_to(52 * MS); // the count loads on the next PIT clock even with the gate low
        let c1 = b.io_read(0x42, 1) as u16 | (b.io_read(0x42, 1) as u16) << 8;
        b.advance_to(60 * MS);
        let c2 = b.io_read(0x42, 1) as u16 | (b.io_read(0x42, 1) as u16) << 8;
        assert_eq!(c1, c2);
    }

    #[test]
    fn rtc_update_interrupt_on_irq8() {
        let mut b = board();
        b.io_write(0x70, 1, 0x0B);
        b.io_write(0x71, 1, 0x12);
        let t = b.next_event_ns().unwrap();
        assert!(t <= 1_000 * MS);
        b.advance_to(t);
        assert!(b.irq_pending());
        assert_eq!(b.irq_ack(), 0x38);
        b.io_write(0x70, 1, 0x0C);
        assert_eq!(
            b.io_read(0x71, 1),
            0xD0,
            "IRQF, PF (rate 26h runs anyway), UF"
        );
        eoi(&mut b, 0x38);
        assert!(!b.irq_pending());
        b.advance_to(t + 1_000 * MS);
        assert!(b.irq_pending(), "next second");
    }

    #[test]
    fn rtc_time_reads() {
        let mut b = board();
        // 2023-11-14 22:13:20 UTC.
        let read = |b: &mut Board, i: u32| {
            b.io_write(0x70, 1, i);
            b.io_read(0x71, 1)
        };
        assert_eq!(read(&mut b, 0x00), 0x20);
        assert_eq!(read(&mut b, 0x04), 0x22);
        assert_eq!(read(&mut b, 0x09), 0x23);
        b.advance_to(5_000 * MS);
        assert_eq!(read(&mut b, 0x00), 0x25);
    }

    #[test]
    fn serial_console_round_trip_with_irq4() {
        let mut b = board();
        b.io_write(COM1 + 3, 1, 0x80);
        b.io_write(COM1, 1, 0x01);
        b.io_write(COM1 + 1, 1, 0x00);
        b.io_write(COM1 + 3, 1, 0x03);
        b.io_write(COM1 + 2, 1, 0xC7);
        b.io_write(COM1 + 4, 1, 0x0B);
        b.io_write(COM1 + 1, 1, 0x01);
        for &c in b"EMU-BOOT-OK\n" {
            b.io_write(COM1, 1, c as u32);
        }
        assert_eq!(b.take_serial_output(), b"EMU-BOOT-OK\n");
        b.serial_input(b"ls\n");
        assert!(
            !b.irq_pending(),
            "3 bytes are below the trigger level of 14"
        );
        let t = b.next_event_ns().unwrap();
        assert!(t - b.now_ns() < 400_000, "4 characters at 115200 baud");
        b.advance_to(t);
        assert!(b.irq_pending());
        assert_eq!(b.irq_ack(), 0x34);
        assert_eq!(b.io_read(COM1 + 2, 1), 0xCC);
        let mut got = Vec::new();
        while b.io_read(COM1 + 5, 1) & 1 != 0 {
            got.push(b.io_read(COM1, 1) as u8);
        }
        assert_eq!(got, b"ls\n");
        assert!(!b.irq_pending());
    }

    #[test]
    fn keyboard_irq1() {
        let mut b = board();
        b.key_input(&[0x1E]);
        assert!(b.irq_pending());
        assert_eq!(b.irq_ack(), 0x31);
        assert_eq!(b.io_read(0x64, 1) & 1, 1);
        assert_eq!(b.io_read(0x60, 1), 0x1E);
        eoi(&mut b, 0x31);
        b.key_input(&[0x9E]);
        assert_eq!(b.irq_ack(), 0x31);
        assert_eq!(b.io_read(0x60, 1), 0x9E);
        eoi(&mut b, 0x31);
        // Two bytes waiting (a typed burst, or ACK then ID): each read gives the next one
        // its own interrupt, one byte per handler run.
        b.key_input(&[0x2A, 0x1E, 0x9E, 0xAA]);
        let mut got = Vec::new();
        while b.irq_pending() {
            assert_eq!(b.irq_ack(), 0x31);
            got.push(b.io_read(0x60, 1) as u8);
            eoi(&mut b, 0x31);
        }
        assert_eq!(got, [0x2A, 0x1E, 0x9E, 0xAA]);
    }

    #[test]
    fn a20_from_8042_and_port92_is_ored() {
        let mut b = board();
        assert!(b.a20_enabled());
        assert_eq!(b.take_a20_change(), None);
        b.io_write(0x64, 1, 0xD1);
        b.io_write(0x60, 1, 0xDD);
        assert_eq!(b.take_a20_change(), Some(false));
        assert_eq!(b.take_a20_change(), None);
        b.io_write(0x92, 1, 0x02);
        assert_eq!(b.take_a20_change(), Some(true));
        b.io_write(0x64, 1, 0xD1);
        b.io_write(0x60, 1, 0xDF);
        b.io_write(0x92, 1, 0x00);
        assert_eq!(b.take_a20_change(), None, "the 8042 still holds it open");
        assert_eq!(b.io_read(0x92, 1), 0x00);
    }

    #[test]
    fn reset_sources() {
        let mut b = board();
        assert!(!b.take_reset_request());
        b.io_write(0x64, 1, 0xFE);
        assert!(b.take_reset_request());
        b.io_write(0x92, 1, 0x01);
        assert!(b.take_reset_request());
        b.io_write(0xCF9, 1, 0x06);
        assert!(b.take_reset_request());
        assert!(!b.take_reset_request());
        // A PCI configuration address with bit 10 set must not reach CF9h.
        b.io_write(0xCF8, 4, 0x8000_0400);
        assert!(!b.take_reset_request());
        assert_eq!(b.io_read(0xCF8, 4), 0x8000_0400);
        assert_eq!(b.io_read(0xCFC, 4), 0xFFFF_FFFF);
        assert_eq!(b.io_read(0xCFE, 2), 0xFFFF);
        assert!(!b.take_power_off_request());
    }

    #[test]
    fn reset_restores_power_on_state() {
        let mut b = board();
        b.io_write(0x64, 1, 0xD1);
        b.io_write(0x60, 1, 0xDD);
        b.take_a20_change();
        b.io_write(0x43, 1, 0x34);
        b.io_write(0x40, 1, 0);
        b.io_write(0x40, 1, 0);
        b.reset();
        assert_eq!(b.take_a20_change(), Some(true));
        assert_eq!(b.next_event_ns(), None, "PIT idle again");
        assert_eq!(b.io_read(0x21, 1), 0xFF, "PIC masked at power-on");
    }

    #[test]
    fn debug_ports() {
        let mut b = board();
        assert_eq!(b.io_read(0xE9, 1), 0xE9);
        for &c in b"hi" {
            b.io_write(0xE9, 1, c as u32);
        }
        assert_eq!(b.take_debugcon(), b"hi");
        b.io_write(0x80, 1, 0x55);
        assert_eq!(b.post_code(), Some(0x55));
    }

    #[test]
    fn word_access_splits_into_bytes() {
        let mut b = board();
        b.io_write(0x70, 2, 0x340E); // index 0Eh, then 34h written to NVRAM 0Eh
        b.io_write(0x70, 1, 0x0E);
        assert_eq!(b.io_read(0x71, 1), 0x34);
        // 0x70 reads FFh, 0x71 the selected byte.
        assert_eq!(b.io_read(0x70, 2), 0x34FF);
    }

    #[test]
    fn time_never_runs_backwards() {
        let mut b = board();
        b.advance_to(10 * MS);
        b.advance_to(5 * MS);
        assert_eq!(b.now_ns(), 10 * MS);
    }

    /// Random port traffic (all ports, sizes and values) interleaved with time jumps and
    /// acknowledges never panics and never leaves an event in the past.
    #[test]
    fn random_io_never_panics() {
        let mut b = board();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let hot: [u16; 24] = [
            0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x60, 0x64, 0x70,
            0x71, 0x92, 0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0xCF8, 0xCF9,
        ];
        for i in 0..200_000u32 {
            let r = rnd();
            let port = if r & 1 == 0 {
                hot[(r >> 8) as usize % hot.len()]
            } else {
                (r >> 16) as u16
            };
            let size = [1u8, 2, 4][(r >> 40) as usize % 3];
            let value = (r >> 32) as u32;
            if r & 2 == 0 {
                b.io_write(port, size, value);
            } else {
                b.io_read(port, size);
            }
            if i % 7 == 0 {
                b.advance_to(b.now_ns() + (rnd() % 3_000_000));
            }
            if b.irq_pending() {
                b.irq_ack();
            }
            if i % 1000 == 0 {
                b.serial_input(&[r as u8]);
                b.key_input(&[r as u8]);
                b.take_serial_output();
                b.take_reset_request();
                b.take_a20_change();
            }
            if let Some(t) = b.next_event_ns() {
                assert!(t > b.now_ns(), "event in the past");
            }
        }
    }
}
