//! PCI configuration mechanism #1 and the functions of an Intel 440FX/PIIX3 board.
//!
//! | device  | function                        | IDs       | class    |
//! |---------|---------------------------------|-----------|----------|
//! | 00:00.0 | 440FX host bridge (PMC)         | 8086:1237 | 06 00 00 |
//! | 00:01.0 | PIIX3 PCI-to-ISA bridge         | 8086:7000 | 06 01 00 |
//! | 00:01.1 | PIIX3 IDE controller            | 8086:7010 | 01 01 80 |
//!
//! Facts this model follows (PCI 2.1, the 82441FX and 82371SB datasheets):
//! - CF8h is the address register only for a 32-bit access; it keeps bit 31 (enable), bus,
//!   device, function and the dword register number, and reads back what was written with bits
//!   30-24 and 1-0 as zero. Byte and word accesses to CF8h-CFBh go to the ISA bus (CF9h is the
//!   PIIX reset control register, which the board handles).
//! - CFCh-CFFh access the addressed dword; a byte or word at CFCh+n accesses register
//!   offset + n. With the enable bit clear, or for a function that is not there (or any bus
//!   other than 0), reads return all ones and writes are dropped.
//! - Only the writable bits of each register change; status bits are cleared by writing 1.
//!   A base address register keeps its type bits and answers an all-ones write with the size
//!   mask (the PIIX3 bus master BAR decodes 16 I/O ports below 64K: FFFFh -> 0000FFF1h).
//! - The ISA bridge sets bit 7 of its header type, so software scans functions 1-7 of device 1.
//! - The IDE function's programming interface 80h means both channels are in compatibility
//!   mode (1F0h/3F6h IRQ 14, 170h/376h IRQ 15) and not switchable, so its BARs 0-3 are hardwired
//!   to zero. Bit 15 of IDETIM (40h primary, 42h secondary) enables decoding of a channel; the
//!   primary is enabled at power-on here (a PC BIOS does it in POST) and the secondary, which
//!   this board does not have, is off, so Linux's `ata_piix` skips it.
//!
//! The bus master (DMA) registers behind BAR4 are kept as plain registers for drivers that
//! touch them ([`PciBus::bmdma_read`]); no DMA is ever performed, and the disk's IDENTIFY data
//! advertises no DMA modes, so drivers use PIO.

/// Configuration address port (32-bit accesses only).
pub const CONFIG_ADDRESS: u16 = 0xCF8;
/// Configuration data ports CFCh-CFFh.
pub const CONFIG_DATA: u16 = 0xCFC;

/// Device/function numbers on bus 0.
pub const HOST_BRIDGE: u8 = 0x00;
pub const ISA_BRIDGE: u8 = 0x08;
pub const IDE: u8 = 0x09;

/// Size of the PIIX3 bus master I/O block (BAR4).
const BMDMA_SIZE: u16 = 16;

struct Function {
    devfn: u8,
    cfg: [u8; 256],
    /// Bits software may change.
    wmask: [u8; 256],
    /// Bits cleared by writing 1.
    w1c: [u8; 256],
}

impl Function {
    fn new(devfn: u8, vendor: u16, device: u16, class: [u8; 3], header: u8) -> Function {
        let mut f = Function {
            devfn,
            cfg: [0; 256],
            wmask: [0; 256],
            w1c: [0; 256],
        };
        f.set16(0x00, vendor);
        f.set16(0x02, device);
        // Class code bytes: programming interface, subclass, base class.
        f.cfg[0x09..0x0C].copy_from_slice(&class);
        f.cfg[0x0E] = header;
        // Command: I/O, memory, bus master, special cycles, parity and SERR# enables.
        f.wmask[0x04] = 0x47;
        f.wmask[0x05] = 0x01;
        // Status: error bits are write-one-to-clear.
        f.w1c[0x06] = 0x00;
        f.w1c[0x07] = 0xF9;
        // Latency timer; interrupt line is a plain scratch byte for software.
        f.wmask[0x0D] = 0xF8;
        f.wmask[0x3C] = 0xFF;
        f
    }

    fn set16(&mut self, off: usize, v: u16) {
        self.cfg[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn writable(&mut self, range: std::ops::Range<usize>, mask: u8) {
        for o in range {
            self.wmask[o] = mask;
        }
    }

    fn read8(&self, off: u8) -> u8 {
        self.cfg[usize::from(off)]
    }

    fn write8(&mut self, off: u8, v: u8) {
        let o = usize::from(off);
        let keep = self.cfg[o] & !self.wmask[o];
        let cleared = v & self.w1c[o];
        self.cfg[o] = (keep | (v & self.wmask[o])) & !cleared;
    }

    fn read16(&self, off: usize) -> u16 {
        u16::from_le_bytes([self.cfg[off], self.cfg[off + 1]])
    }
}

/// The PIIX3 bus master IDE registers of one channel (inert: no DMA is done).
#[derive(Clone, Copy, Debug, Default)]
struct BmChannel {
    command: u8,
    status: u8,
    prd: u32,
}

/// Configuration space of bus 0 and the PIIX3 bus master register block.
pub struct PciBus {
    address: u32,
    functions: Vec<Function>,
    bm: [BmChannel; 2],
}

impl Default for PciBus {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PciBus")
            .field("address", &format_args!("{:#010x}", self.address))
            .field("bmdma_base", &self.bmdma_base())
            .finish_non_exhaustive()
    }
}

impl PciBus {
    pub fn new() -> Self {
        let mut host = Function::new(HOST_BRIDGE, 0x8086, 0x1237, [0x00, 0x00, 0x06], 0x00);
        host.cfg[0x04] = 0x06; // memory and bus master always on
        host.set16(0x06, 0x0280); // fast back-to-back, medium DEVSEL
        host.cfg[0x08] = 0x02;
        // Chipset registers (PMCCFG, DRAM control, PAM 59h-5Fh, DRB, SMRAM, ...): stored.
        host.writable(0x50..0x100, 0xFF);
        host.cfg[0x51] = 0x01;
        host.cfg[0x58] = 0x10;
        host.cfg[0x72] = 0x02;

        let mut isa = Function::new(ISA_BRIDGE, 0x8086, 0x7000, [0x00, 0x01, 0x06], 0x80);
        isa.cfg[0x04] = 0x07;
        isa.set16(0x06, 0x0200);
        // ISA I/O recovery, X-bus chip select, PIRQ routing, top of memory, APIC base, SMI...
        isa.writable(0x40..0x100, 0xFF);
        isa.cfg[0x4C] = 0x4D;
        isa.cfg[0x4E] = 0x03;
        isa.cfg[0x60..0x64].copy_from_slice(&[0x80; 4]); // PIRQA-D routing disabled
        isa.cfg[0x69] = 0x02;
        isa.cfg[0x70] = 0x80;
        isa.cfg[0x76] = 0x0C;
        isa.cfg[0x77] = 0x0C;
        isa.cfg[0x78] = 0x02;
        isa.cfg[0xA0] = 0x08;
        isa.cfg[0xA8] = 0x0F;

        let mut ide = Function::new(IDE, 0x8086, 0x7010, [0x80, 0x01, 0x01], 0x00);
        ide.set16(0x06, 0x0280);
        ide.wmask[0x04] = 0x05; // I/O space and bus master enables only
        ide.wmask[0x05] = 0x00;
        ide.wmask[0x0D] = 0xF0;
        ide.wmask[0x3C] = 0xFF;
        // BAR4: I/O, 16 ports, bits 15-4 writable.
        ide.cfg[0x20] = 0x01;
        ide.wmask[0x20] = 0xF0;
        ide.wmask[0x21] = 0xFF;
        // IDETIM primary/secondary, SIDETIM.
        ide.writable(0x40..0x45, 0xFF);
        ide.set16(0x40, 0x8000);

        PciBus {
            address: 0,
            functions: vec![host, isa, ide],
            bm: [BmChannel::default(); 2],
        }
    }

    /// Back to power-on state (machine reset).
    pub fn reset(&mut self) {
        *self = PciBus::new();
    }

    /// Whether a port belongs to the configuration mechanism. CF9h is not one: route it to
    /// the reset control register.
    pub fn handles(port: u16, size: u8) -> bool {
        (port == CONFIG_ADDRESS && size == 4) || (CONFIG_DATA..=CONFIG_DATA + 3).contains(&port)
    }

    fn function(&self, devfn: u8) -> Option<&Function> {
        self.functions.iter().find(|f| f.devfn == devfn)
    }

    fn function_mut(&mut self, devfn: u8) -> Option<&mut Function> {
        self.functions.iter_mut().find(|f| f.devfn == devfn)
    }

    /// The function and register offset selected by CF8h, if enabled and present.
    fn selected(&self) -> Option<(u8, u8)> {
        let a = self.address;
        if a & 0x8000_0000 == 0 || (a >> 16) & 0xFF != 0 {
            return None;
        }
        let devfn = (a >> 8) as u8;
        self.function(devfn).map(|_| (devfn, (a & 0xFC) as u8))
    }

    /// Port read (port CF8h-CFFh, size 1, 2 or 4).
    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        let size = size.clamp(1, 4);
        let ones = u32::MAX >> (32 - 8 * u32::from(size));
        if port == CONFIG_ADDRESS && size == 4 {
            return self.address;
        }
        if !(CONFIG_DATA..=CONFIG_DATA + 3).contains(&port) {
            return ones;
        }
        match self.selected() {
            Some((devfn, reg)) => {
                let off = reg + (port - CONFIG_DATA) as u8;
                self.config_read(0, devfn, off, size)
            }
            None => ones,
        }
    }

    /// Port write (port CF8h-CFFh, size 1, 2 or 4).
    pub fn write(&mut self, port: u16, size: u8, value: u32) {
        let size = size.clamp(1, 4);
        if port == CONFIG_ADDRESS && size == 4 {
            self.address = value & 0x80FF_FFFC;
            return;
        }
        if !(CONFIG_DATA..=CONFIG_DATA + 3).contains(&port) {
            return;
        }
        if let Some((devfn, reg)) = self.selected() {
            let off = reg + (port - CONFIG_DATA) as u8;
            self.config_write(0, devfn, off, size, value);
        }
    }

    /// Direct configuration read (for firmware): `size` bytes at `offset`, wrapping inside the
    /// 256-byte space; all ones for an absent function.
    pub fn config_read(&self, bus: u8, devfn: u8, offset: u8, size: u8) -> u32 {
        let size = size.clamp(1, 4);
        match self.function(devfn).filter(|_| bus == 0) {
            Some(f) => (0..size).fold(0u32, |v, i| {
                v | u32::from(f.read8(offset.wrapping_add(i))) << (8 * i)
            }),
            None => u32::MAX >> (32 - 8 * u32::from(size)),
        }
    }

    /// Direct configuration write (for firmware).
    pub fn config_write(&mut self, bus: u8, devfn: u8, offset: u8, size: u8, value: u32) {
        if bus != 0 {
            return;
        }
        let size = size.clamp(1, 4);
        if let Some(f) = self.function_mut(devfn) {
            for i in 0..size {
                f.write8(offset.wrapping_add(i), (value >> (8 * i)) as u8);
            }
        }
    }

    /// The I/O base of the IDE bus master block, when software has placed BAR4 and enabled I/O
    /// decoding. The board should route `base..base+16` to [`PciBus::bmdma_read`]/`write`.
    pub fn bmdma_base(&self) -> Option<u16> {
        let ide = self.function(IDE)?;
        let base = ide.read16(0x20) & 0xFFF0;
        (ide.cfg[0x04] & 0x01 != 0 && base != 0).then_some(base)
    }

    /// Whether the primary IDE channel is decoded (IDETIM bit 15). The board may ignore it:
    /// nothing else sits at 1F0h.
    pub fn primary_ide_enabled(&self) -> bool {
        self.function(IDE)
            .is_some_and(|f| f.read16(0x40) & 0x8000 != 0)
    }

    /// Read of the bus master block at `offset` (0-15) from its base.
    pub fn bmdma_read(&self, offset: u16, size: u8) -> u32 {
        let size = size.clamp(1, 4);
        (0..u16::from(size)).fold(0u32, |v, i| {
            v | u32::from(self.bm_read8(offset.wrapping_add(i))) << (8 * i)
        })
    }

    /// Write of the bus master block at `offset` (0-15) from its base.
    pub fn bmdma_write(&mut self, offset: u16, size: u8, value: u32) {
        let size = size.clamp(1, 4);
        for i in 0..u16::from(size) {
            self.bm_write8(offset.wrapping_add(i), (value >> (8 * i)) as u8);
        }
    }

    fn bm_read8(&self, offset: u16) -> u8 {
        if offset >= BMDMA_SIZE {
            return 0xFF;
        }
        let ch = &self.bm[usize::from(offset / 8)];
        match offset % 8 {
            0 => ch.command,
            2 => ch.status,
            r @ 4..=7 => (ch.prd >> (8 * (r - 4))) as u8,
            _ => 0,
        }
    }

    fn bm_write8(&mut self, offset: u16, v: u8) {
        if offset >= BMDMA_SIZE {
            return;
        }
        let ch = &mut self.bm[usize::from(offset / 8)];
        match offset % 8 {
            // Start/stop and direction; starting does nothing, the active bit stays clear.
            0 => ch.command = v & 0x09,
            // Drive 0/1 DMA capable are read/write; error and interrupt are write-one-to-clear.
            2 => ch.status = (ch.status & 0x06 & !v) | (v & 0x60),
            r @ 4..=7 => {
                let shift = 8 * u32::from(r - 4);
                ch.prd = (ch.prd & !(0xFF << shift)) | (u32::from(v) << shift);
                ch.prd &= !3;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg_read(bus: &mut PciBus, b: u8, dev: u8, func: u8, off: u8, size: u8) -> u32 {
        let addr = 0x8000_0000
            | u32::from(b) << 16
            | u32::from(dev) << 11
            | u32::from(func) << 8
            | u32::from(off & 0xFC);
        bus.write(0xCF8, 4, addr);
        bus.read(0xCFC + u16::from(off & 3), size)
    }

    fn cfg_write(bus: &mut PciBus, dev: u8, func: u8, off: u8, size: u8, v: u32) {
        let addr =
            0x8000_0000 | u32::from(dev) << 11 | u32::from(func) << 8 | u32::from(off & 0xFC);
        bus.write(0xCF8, 4, addr);
        bus.write(0xCFC + u16::from(off & 3), size, v);
    }

    /// Linux's scan of bus 0: vendor of every device, functions 1-7 of multi-function ones.
    #[test]
    fn enumerate_bus0() {
        let mut bus = PciBus::new();
        let mut found = Vec::new();
        for dev in 0..32u8 {
            let id = cfg_read(&mut bus, 0, dev, 0, 0, 4);
            if id as u16 == 0xFFFF {
                assert_eq!(id, 0xFFFF_FFFF);
                continue;
            }
            let header = cfg_read(&mut bus, 0, dev, 0, 0x0E, 1);
            let nfunc = if header & 0x80 != 0 { 8 } else { 1 };
            for func in 0..nfunc {
                let id = cfg_read(&mut bus, 0, dev, func, 0, 4);
                if id == 0xFFFF_FFFF {
                    continue;
                }
                let class = cfg_read(&mut bus, 0, dev, func, 0x08, 4) >> 8;
                found.push((dev, func, id, class));
            }
        }
        assert_eq!(
            found,
            vec![
                (0, 0, 0x1237_8086, 0x06_0000),
                (1, 0, 0x7000_8086, 0x06_0100),
                (1, 1, 0x7010_8086, 0x01_0180),
            ]
        );
        // Other buses are empty.
        assert_eq!(cfg_read(&mut bus, 1, 0, 0, 0, 4), 0xFFFF_FFFF);
        // Word and byte reads at any offset of the data window.
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x02, 2), 0x7010);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x0B, 1), 0x01);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x0A, 2), 0x0101);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x09, 1), 0x80);
    }

    #[test]
    fn address_register() {
        let mut bus = PciBus::new();
        // Linux's pci_check_type1.
        bus.write(0xCFB, 1, 0x01);
        bus.write(0xCF8, 4, 0x8000_0000);
        assert_eq!(bus.read(0xCF8, 4), 0x8000_0000);
        bus.write(0xCF8, 4, 0xFFFF_FFFF);
        assert_eq!(bus.read(0xCF8, 4), 0x80FF_FFFC);
        // Byte/word accesses to CF8h-CFBh are not the address register.
        assert_eq!(bus.read(0xCF8, 1), 0xFF);
        assert_eq!(bus.read(0xCFA, 2), 0xFFFF);
        assert!(!PciBus::handles(0xCF9, 1));
        assert!(PciBus::handles(0xCF8, 4) && PciBus::handles(0xCFE, 2));
        // Enable bit clear: data reads float.
        bus.write(0xCF8, 4, 0x0000_0000);
        assert_eq!(bus.read(0xCFC, 4), 0xFFFF_FFFF);
    }

    #[test]
    fn write_masks_and_bar_sizing() {
        let mut bus = PciBus::new();
        // Vendor/device/class are read-only.
        cfg_write(&mut bus, 1, 1, 0x00, 4, 0);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0, 4), 0x7010_8086);
        cfg_write(&mut bus, 1, 1, 0x08, 4, 0);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x08, 4), 0x0101_8000);
        // BARs 0-3 are hardwired to zero (compatibility mode).
        for bar in [0x10u8, 0x14, 0x18, 0x1C, 0x24, 0x30] {
            cfg_write(&mut bus, 1, 1, bar, 4, 0xFFFF_FFFF);
            assert_eq!(cfg_read(&mut bus, 0, 1, 1, bar, 4), 0, "{bar:#x}");
        }
        // BAR4 sizing: 16 I/O ports.
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x20, 4), 0x0000_0001);
        cfg_write(&mut bus, 1, 1, 0x20, 4, 0xFFFF_FFFF);
        let mask = cfg_read(&mut bus, 0, 1, 1, 0x20, 4);
        assert_eq!(mask, 0x0000_FFF1);
        assert_eq!((!(mask & !3) & 0xFFFF) + 1, 16);
        cfg_write(&mut bus, 1, 1, 0x20, 4, 0xC001);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x20, 4), 0xC001);
        assert_eq!(bus.bmdma_base(), None, "I/O decoding still off");
        // Command register: only I/O and bus master enables stick.
        cfg_write(&mut bus, 1, 1, 0x04, 2, 0xFFFF);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x04, 2), 0x0005);
        assert_eq!(bus.bmdma_base(), Some(0xC000));
        // Status error bits are write-one-to-clear; the rest read-only.
        cfg_write(&mut bus, 1, 1, 0x06, 2, 0xFFFF);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x06, 2), 0x0280);
        // Interrupt line is writable, pin read-only.
        cfg_write(&mut bus, 1, 1, 0x3C, 2, 0xFF0E);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x3C, 2), 0x000E);
        // IDETIM as ata_piix programs it.
        assert!(bus.primary_ide_enabled());
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x42, 2), 0);
        cfg_write(&mut bus, 1, 1, 0x40, 2, 0xA307);
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x40, 2), 0xA307);
        // Host bridge PAM registers are stored.
        cfg_write(&mut bus, 0, 0, 0x59, 1, 0x30);
        assert_eq!(cfg_read(&mut bus, 0, 0, 0, 0x59, 1), 0x30);
        // Writes to absent functions vanish.
        cfg_write(&mut bus, 5, 0, 0x3C, 1, 0x0A);
        assert_eq!(cfg_read(&mut bus, 0, 5, 0, 0x3C, 1), 0xFF);
        bus.reset();
        assert_eq!(cfg_read(&mut bus, 0, 1, 1, 0x20, 4), 0x0000_0001);
    }

    #[test]
    fn bus_master_registers() {
        let mut bus = PciBus::new();
        bus.bmdma_write(2, 1, 0x66);
        assert_eq!(bus.bmdma_read(2, 1), 0x60);
        bus.bmdma_write(0, 1, 0xFF);
        assert_eq!(bus.bmdma_read(0, 1), 0x09);
        bus.bmdma_write(4, 4, 0x1234_5677);
        assert_eq!(bus.bmdma_read(4, 4), 0x1234_5674);
        assert_eq!(bus.bmdma_read(8, 4), 0);
        assert_eq!(bus.bmdma_read(16, 1), 0xFF);
    }

    #[test]
    fn never_panics() {
        let mut bus = PciBus::new();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = 0xCF8 + (x % 8) as u16;
            let size = [1u8, 2, 4, 3, 0][(x >> 4) as usize % 5];
            if x & 0x100 != 0 {
                bus.write(port, size, x.rotate_left(7));
            } else {
                bus.read(port, size);
            }
            bus.bmdma_write((x >> 20) as u16 % 20, size, x);
            bus.bmdma_read((x >> 12) as u16 % 20, size);
        }
    }
}
