//! An ATA (IDE) channel with one hard disk, driven by PIO: the primary channel of the PIIX IDE
//! function at 1F0h-1F7h and 3F6h, IRQ 14.
//!
//! Facts from the ATA/ATAPI-6 standard that this model follows:
//! - The command block registers are shared by both devices on a cable; a device that is absent
//!   has its registers answered by device 0, except Status and Alternate Status, which read 00h
//!   for an absent device 1. Linux's probe writes 55h/AAh to the sector count and LBA low
//!   registers, classifies the signature and then treats an ATA signature with status 00h as "no
//!   device". A channel with no device at all floats; it reads 7Fh (DD7 pulled down).
//! - Writing a command block register clears the HOB bit of the device control register. Each
//!   LBA/count/features register is a two-deep FIFO: the previous value is read back when HOB is
//!   set, and supplies bits 8-15 of the count and bits 24-47 of the LBA for the 48-bit commands.
//! - SRST (device control bit 2) holds the device in reset with BSY set; when it is cleared the
//!   device posts the diagnostic code 01h in Error and the ATA signature (count 01h, LBA low 01h,
//!   LBA mid 00h, LBA high 00h, device 00h) and becomes ready. A reset raises no interrupt.
//! - INTRQ is asserted when a command completes and, for PIO data-in, when each DRQ block is ready
//!   (for PIO data-out: when each block after the first is wanted and at the end). It is cleared
//!   by reading Status (not Alternate Status), by writing a command and by reset; nIEN masks it.
//! - Sector count 0 means 256 sectors (65536 for the EXT commands). With the LBA bit of the device
//!   register clear, the 28-bit commands use CHS addresses in the current translation (set by
//!   INITIALIZE DEVICE PARAMETERS, default 16 heads x 63 sectors).
//! - NOP (00h) always completes with ERR and ABRT, as the standard requires for subcommand 00h.
//!
//! What it leaves out: no DMA (IDENTIFY advertises none, so drivers use PIO), no command timing
//! (data is ready the moment the command is written), no slave device, no ATAPI, no security,
//! SMART or host protected area.

use crate::disk::{ata_geometry, Chs, Disk, DiskError, SECTOR_SIZE};

/// Command block registers 1F0h-1F7h.
pub const CMD_BASE: u16 = 0x1F0;
/// Device control (write) and Alternate Status (read).
pub const CTRL_PORT: u16 = 0x3F6;
/// The ISA interrupt line of the primary channel.
pub const IRQ: u8 = 14;
/// Largest READ/WRITE MULTIPLE block, reported in IDENTIFY word 47.
pub const MAX_MULTIPLE: u8 = 16;

/// Status register bits.
pub mod status {
    pub const BSY: u8 = 0x80;
    pub const DRDY: u8 = 0x40;
    pub const DF: u8 = 0x20;
    pub const DSC: u8 = 0x10;
    pub const DRQ: u8 = 0x08;
    pub const ERR: u8 = 0x01;
}

/// Error register bits.
pub mod error {
    pub const UNC: u8 = 0x40;
    pub const IDNF: u8 = 0x10;
    pub const ABRT: u8 = 0x04;
}

/// Device control register bits.
pub mod control {
    pub const HOB: u8 = 0x80;
    pub const SRST: u8 = 0x04;
    pub const NIEN: u8 = 0x02;
}

use status::{BSY, DRDY, DRQ, DSC, ERR};

/// Status of a ready device with nothing to do.
const READY: u8 = DRDY | DSC;
/// What a channel with no device reads.
const FLOATING: u8 = 0x7F;

/// A command block register with its "previous content" (HOB) copy.
#[derive(Clone, Copy, Debug, Default)]
struct Reg {
    cur: u8,
    hob: u8,
}

impl Reg {
    fn write(&mut self, v: u8) {
        self.hob = self.cur;
        self.cur = v;
    }
    fn set(&mut self, v: u8) {
        self.cur = v;
    }
    fn read(&self, hob: bool) -> u8 {
        if hob {
            self.hob
        } else {
            self.cur
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    /// The host reads `buf[pos..len]`.
    PioIn,
    /// The host writes `buf[pos..len]`.
    PioOut,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addressing {
    Chs,
    Lba28,
    Lba48,
}

/// The primary ATA channel with an optional master disk.
pub struct AtaChannel {
    disk: Option<Disk>,
    features: Reg,
    count: Reg,
    lba_lo: Reg,
    lba_mid: Reg,
    lba_hi: Reg,
    device: u8,
    error: u8,
    status: u8,
    control: u8,
    irq_pending: bool,
    phase: Phase,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Next sector of the running transfer and sectors left after the current block.
    next_lba: u64,
    remaining: u64,
    /// Sectors per DRQ block of the running transfer.
    block: u64,
    addressing: Addressing,
    /// READ/WRITE MULTIPLE block size; 0 = multiple mode disabled.
    multiple: u8,
    /// Current CHS translation.
    chs: Chs,
    write_cache: bool,
    /// SET FEATURES 66h: keep settings over a software reset.
    keep_settings: bool,
    pio_mode: u8,
}

impl std::fmt::Debug for AtaChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtaChannel")
            .field("disk", &self.disk)
            .field("status", &self.status)
            .field("error", &self.error)
            .field("phase", &self.phase)
            .field("irq_pending", &self.irq_pending)
            .finish_non_exhaustive()
    }
}

impl AtaChannel {
    /// A channel with `master` attached as device 0 (or nothing) and no device 1.
    pub fn new(master: Option<Disk>) -> Self {
        let chs = ata_geometry(master.as_ref().map_or(0, Disk::sectors));
        let mut ch = AtaChannel {
            disk: master,
            features: Reg::default(),
            count: Reg::default(),
            lba_lo: Reg::default(),
            lba_mid: Reg::default(),
            lba_hi: Reg::default(),
            device: 0,
            error: 0,
            status: 0,
            control: 0,
            irq_pending: false,
            phase: Phase::Idle,
            buf: vec![0; usize::from(MAX_MULTIPLE) * SECTOR_SIZE],
            pos: 0,
            len: 0,
            next_lba: 0,
            remaining: 0,
            block: 1,
            addressing: Addressing::Lba28,
            multiple: 0,
            chs,
            write_cache: true,
            keep_settings: false,
            pio_mode: 0,
        };
        ch.reset();
        ch
    }

    /// Hardware reset (power-on or machine reset): every setting to its power-on default.
    pub fn reset(&mut self) {
        self.keep_settings = false;
        self.control = 0;
        self.software_reset();
    }

    /// The attached disk, for the BIOS's int 13h and the status bar.
    pub fn disk(&self) -> Option<&Disk> {
        self.disk.as_ref()
    }

    pub fn disk_mut(&mut self) -> Option<&mut Disk> {
        self.disk.as_mut()
    }

    /// Makes the disk's written data durable (front end: on exit, reset, power-off, Ctrl-C).
    pub fn flush(&mut self) -> Result<(), DiskError> {
        match self.disk.as_mut() {
            Some(d) => d.flush(),
            None => Ok(()),
        }
    }

    /// The level of INTRQ (IRQ 14).
    pub fn irq_level(&self) -> bool {
        self.disk.is_some() && self.irq_pending && self.control & control::NIEN == 0
    }

    /// Whether these ports belong to the channel.
    pub fn handles(port: u16) -> bool {
        (CMD_BASE..=CMD_BASE + 7).contains(&port) || port == CTRL_PORT
    }

    fn slave_selected(&self) -> bool {
        self.device & 0x10 != 0
    }

    fn hob(&self) -> bool {
        self.control & control::HOB != 0
    }

    /// Status as seen on the bus (without side effects).
    fn visible_status(&self) -> u8 {
        if self.disk.is_none() {
            FLOATING
        } else if self.slave_selected() && self.control & control::SRST == 0 {
            0
        } else {
            self.status
        }
    }

    /// Port read of `size` bytes (1, 2 or 4). Wide accesses to byte registers read consecutive
    /// ports, as the ISA bus splits them.
    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        let size = size.clamp(1, 4);
        if port == CMD_BASE {
            return self.data_read(size);
        }
        let mut v = 0u32;
        for i in 0..size {
            v |= u32::from(self.read8(port.wrapping_add(u16::from(i)))) << (8 * i);
        }
        v
    }

    /// Port write of `size` bytes (1, 2 or 4).
    pub fn write(&mut self, port: u16, size: u8, value: u32) {
        let size = size.clamp(1, 4);
        if port == CMD_BASE {
            self.data_write(size, value);
            return;
        }
        for i in 0..size {
            self.write8(port.wrapping_add(u16::from(i)), (value >> (8 * i)) as u8);
        }
    }

    fn read8(&mut self, port: u16) -> u8 {
        if !Self::handles(port) {
            return 0xFF;
        }
        if port == CMD_BASE {
            return self.data_read(1) as u8;
        }
        if self.disk.is_none() {
            return FLOATING;
        }
        let hob = self.hob();
        match port {
            0x1F1 => self.error,
            0x1F2 => self.count.read(hob),
            0x1F3 => self.lba_lo.read(hob),
            0x1F4 => self.lba_mid.read(hob),
            0x1F5 => self.lba_hi.read(hob),
            0x1F6 => self.device,
            0x1F7 => {
                let s = self.visible_status();
                if !self.slave_selected() {
                    self.irq_pending = false;
                }
                s
            }
            _ => self.visible_status(), // 3F6h: Alternate Status
        }
    }

    fn write8(&mut self, port: u16, v: u8) {
        if port == CTRL_PORT {
            self.write_control(v);
            return;
        }
        if !Self::handles(port) || port == CMD_BASE {
            return;
        }
        // The device ignores the command block while it is held in reset.
        if self.control & control::SRST != 0 {
            return;
        }
        self.control &= !control::HOB;
        match port {
            0x1F1 => self.features.write(v),
            0x1F2 => self.count.write(v),
            0x1F3 => self.lba_lo.write(v),
            0x1F4 => self.lba_mid.write(v),
            0x1F5 => self.lba_hi.write(v),
            0x1F6 => self.device = v,
            _ => self.command(v),
        }
    }

    fn write_control(&mut self, v: u8) {
        let old = self.control;
        self.control = v;
        if v & control::SRST != 0 && old & control::SRST == 0 {
            self.phase = Phase::Idle;
            self.status = BSY;
            self.irq_pending = false;
        } else if v & control::SRST == 0 && old & control::SRST != 0 {
            self.software_reset();
        }
    }

    /// The end of a software reset: diagnostic code and signature, ready, no interrupt.
    fn software_reset(&mut self) {
        self.phase = Phase::Idle;
        self.pos = 0;
        self.len = 0;
        self.irq_pending = false;
        self.signature();
        self.status = READY;
        if !self.keep_settings {
            self.multiple = 0;
            self.write_cache = true;
            self.chs = ata_geometry(self.sectors());
        }
    }

    fn signature(&mut self) {
        self.error = 0x01;
        self.count = Reg { cur: 1, hob: 0 };
        self.lba_lo = Reg { cur: 1, hob: 0 };
        self.lba_mid = Reg::default();
        self.lba_hi = Reg::default();
        self.features = Reg::default();
        self.device = 0;
    }

    fn sectors(&self) -> u64 {
        self.disk.as_ref().map_or(0, Disk::sectors)
    }

    fn data_read(&mut self, size: u8) -> u32 {
        if self.phase != Phase::PioIn {
            return if self.disk.is_none() {
                0x7F7F_7F7F
            } else {
                0xFFFF_FFFF
            } >> (32 - 8 * u32::from(size));
        }
        let mut v = 0u32;
        for i in 0..u32::from(size) {
            if self.pos < self.len {
                v |= u32::from(self.buf[self.pos]) << (8 * i);
                self.pos += 1;
            }
        }
        if self.pos >= self.len {
            self.read_block_done();
        }
        v
    }

    fn data_write(&mut self, size: u8, value: u32) {
        if self.phase != Phase::PioOut {
            return;
        }
        for i in 0..u32::from(size) {
            if self.pos < self.len {
                self.buf[self.pos] = (value >> (8 * i)) as u8;
                self.pos += 1;
            }
        }
        if self.pos >= self.len {
            self.write_block_done();
        }
    }

    fn finish_ok(&mut self) {
        self.phase = Phase::Idle;
        self.status = READY;
        self.irq_pending = true;
    }

    fn abort(&mut self, err: u8) {
        self.phase = Phase::Idle;
        self.error = err;
        self.status = READY | ERR;
        self.irq_pending = true;
    }

    fn command(&mut self, cmd: u8) {
        if self.disk.is_none() {
            return;
        }
        // Commands to the absent device 1 are ignored, except EXECUTE DEVICE DIAGNOSTIC, which
        // both devices (here: device 0 alone) execute whatever DEV says.
        if self.slave_selected() && cmd != 0x90 {
            return;
        }
        self.irq_pending = false;
        self.phase = Phase::Idle;
        self.error = 0;
        match cmd {
            0xEC => self.identify(),
            0x20 | 0x21 => self.start_read28(1),
            0xC4 => self.start_multiple(false, false),
            0x24 => self.start_read48(1),
            0x29 => self.start_multiple(false, true),
            0x30 | 0x31 => self.start_write28(1),
            0xC5 => self.start_multiple(true, false),
            0x34 => self.start_write48(1),
            0x39 => self.start_multiple(true, true),
            0x40 | 0x41 => self.verify(false),
            0x42 => self.verify(true),
            0xC6 => self.set_multiple(),
            0xE7 | 0xEA => self.flush_cache(),
            0xEF => self.set_features(),
            0x91 => self.initialize_device_parameters(),
            // STANDBY IMMEDIATE, IDLE IMMEDIATE, STANDBY, IDLE: no power states to model.
            0xE0..=0xE3 => self.finish_ok(),
            // CHECK POWER MODE: FFh = active or idle.
            0xE5 => {
                self.count.set(0xFF);
                self.finish_ok();
            }
            0x90 => {
                self.signature();
                self.finish_ok();
            }
            // RECALIBRATE and SEEK: nothing moves.
            0x10..=0x1F | 0x70..=0x7F => self.finish_ok(),
            _ => self.abort(error::ABRT),
        }
    }

    /// LBA and count of a 28-bit command (None: a CHS address outside the translation).
    fn lba28(&self) -> (Option<u64>, u64, Addressing) {
        let count = match self.count.cur {
            0 => 256,
            n => u64::from(n),
        };
        if self.device & 0x40 != 0 {
            let lba = u64::from(self.device & 0x0F) << 24
                | u64::from(self.lba_hi.cur) << 16
                | u64::from(self.lba_mid.cur) << 8
                | u64::from(self.lba_lo.cur);
            (Some(lba), count, Addressing::Lba28)
        } else {
            let cyl = u32::from(self.lba_hi.cur) << 8 | u32::from(self.lba_mid.cur);
            let head = u32::from(self.device & 0x0F);
            let lba = self.chs.to_lba(cyl, head, u32::from(self.lba_lo.cur));
            (lba, count, Addressing::Chs)
        }
    }

    fn lba48(&self) -> (u64, u64) {
        let lba = u64::from(self.lba_hi.hob) << 40
            | u64::from(self.lba_mid.hob) << 32
            | u64::from(self.lba_lo.hob) << 24
            | u64::from(self.lba_hi.cur) << 16
            | u64::from(self.lba_mid.cur) << 8
            | u64::from(self.lba_lo.cur);
        let count = match u64::from(self.count.hob) << 8 | u64::from(self.count.cur) {
            0 => 65536,
            n => n,
        };
        (lba, count)
    }

    /// Puts an LBA into the address registers in the current command's addressing.
    fn set_position(&mut self, lba: u64) {
        match self.addressing {
            Addressing::Lba48 => {
                self.lba_lo = Reg {
                    cur: lba as u8,
                    hob: (lba >> 24) as u8,
                };
                self.lba_mid = Reg {
                    cur: (lba >> 8) as u8,
                    hob: (lba >> 32) as u8,
                };
                self.lba_hi = Reg {
                    cur: (lba >> 16) as u8,
                    hob: (lba >> 40) as u8,
                };
            }
            Addressing::Lba28 => {
                self.lba_lo.set(lba as u8);
                self.lba_mid.set((lba >> 8) as u8);
                self.lba_hi.set((lba >> 16) as u8);
                self.device = (self.device & 0xF0) | ((lba >> 24) as u8 & 0x0F);
            }
            Addressing::Chs => {
                if let Some((c, h, s)) = self.chs.from_lba(lba) {
                    self.lba_lo.set(s as u8);
                    self.lba_mid.set(c as u8);
                    self.lba_hi.set((c >> 8) as u8);
                    self.device = (self.device & 0xF0) | (h as u8 & 0x0F);
                }
            }
        }
    }

    fn set_count(&mut self, n: u64) {
        self.count.cur = n as u8;
        if self.addressing == Addressing::Lba48 {
            self.count.hob = (n >> 8) as u8;
        }
    }

    /// Checks a transfer's range and records it; false (after aborting with IDNF) if it does
    /// not fit on the disk.
    fn begin(&mut self, lba: Option<u64>, count: u64, block: u64, mode: Addressing) -> bool {
        self.addressing = mode;
        match lba {
            Some(lba) if lba.checked_add(count).is_some_and(|e| e <= self.sectors()) => {
                self.next_lba = lba;
                self.remaining = count;
                self.block = block.max(1);
                true
            }
            _ => {
                self.abort(error::IDNF);
                false
            }
        }
    }

    fn start_read28(&mut self, block: u64) {
        let (lba, count, mode) = self.lba28();
        if self.begin(lba, count, block, mode) {
            self.load_read_block();
        }
    }

    fn start_read48(&mut self, block: u64) {
        let (lba, count) = self.lba48();
        if self.begin(Some(lba), count, block, Addressing::Lba48) {
            self.load_read_block();
        }
    }

    fn start_write28(&mut self, block: u64) {
        let (lba, count, mode) = self.lba28();
        if self.begin(lba, count, block, mode) {
            self.want_write_block();
        }
    }

    fn start_write48(&mut self, block: u64) {
        let (lba, count) = self.lba48();
        if self.begin(Some(lba), count, block, Addressing::Lba48) {
            self.want_write_block();
        }
    }

    fn start_multiple(&mut self, write: bool, ext: bool) {
        if self.multiple == 0 {
            self.abort(error::ABRT);
            return;
        }
        let block = u64::from(self.multiple);
        match (write, ext) {
            (false, false) => self.start_read28(block),
            (false, true) => self.start_read48(block),
            (true, false) => self.start_write28(block),
            (true, true) => self.start_write48(block),
        }
    }

    fn verify(&mut self, ext: bool) {
        let (lba, count, mode) = if ext {
            let (lba, count) = self.lba48();
            (Some(lba), count, Addressing::Lba48)
        } else {
            self.lba28()
        };
        if self.begin(lba, count, 1, mode) {
            self.set_position(self.next_lba + count - 1);
            self.set_count(0);
            self.finish_ok();
        }
    }

    /// Reads the next block from the disk into the buffer and asks the host to take it.
    fn load_read_block(&mut self) {
        let n = self.block.min(self.remaining);
        let bytes = n as usize * SECTOR_SIZE;
        let lba = self.next_lba;
        let result = match self.disk.as_mut() {
            Some(d) => d.read_sectors(lba, &mut self.buf[..bytes]),
            None => return,
        };
        match result {
            Ok(()) => {
                self.next_lba += n;
                self.remaining -= n;
                self.set_position(lba + n - 1);
                self.set_count(self.remaining);
                self.pos = 0;
                self.len = bytes;
                self.phase = Phase::PioIn;
                self.status = READY | DRQ;
                self.irq_pending = true;
            }
            Err(e) => {
                self.set_position(lba);
                let err = if matches!(e, DiskError::OutOfRange { .. }) {
                    error::IDNF
                } else {
                    error::UNC
                };
                self.abort(err);
            }
        }
    }

    fn read_block_done(&mut self) {
        if self.remaining > 0 {
            self.load_read_block();
        } else {
            self.phase = Phase::Idle;
            self.status = READY;
        }
    }

    /// Opens the buffer for the next block of a write.
    fn want_write_block(&mut self) {
        let n = self.block.min(self.remaining);
        self.pos = 0;
        self.len = n as usize * SECTOR_SIZE;
        self.phase = Phase::PioOut;
        self.status = READY | DRQ;
    }

    fn write_block_done(&mut self) {
        let lba = self.next_lba;
        let n = (self.len / SECTOR_SIZE) as u64;
        let result = match self.disk.as_mut() {
            Some(d) => d.write_sectors(lba, &self.buf[..self.len]),
            None => return,
        };
        match result {
            Ok(()) => {
                self.next_lba += n;
                self.remaining -= n;
                self.set_position(lba + n - 1);
                self.set_count(self.remaining);
                if self.remaining > 0 {
                    self.want_write_block();
                    self.irq_pending = true;
                } else {
                    self.finish_ok();
                }
            }
            Err(e) => {
                self.set_position(lba);
                let err = if matches!(e, DiskError::OutOfRange { .. }) {
                    error::IDNF
                } else {
                    error::ABRT
                };
                self.abort(err);
            }
        }
    }

    fn identify(&mut self) {
        let words = self.identify_data();
        for (i, w) in words.iter().enumerate() {
            self.buf[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
        }
        self.remaining = 0;
        self.pos = 0;
        self.len = SECTOR_SIZE;
        self.phase = Phase::PioIn;
        self.status = READY | DRQ;
        self.irq_pending = true;
    }

    /// The 256-word IDENTIFY DEVICE data for the current settings.
    pub fn identify_data(&self) -> [u16; 256] {
        let mut id = [0u16; 256];
        let total = self.sectors();
        let default = ata_geometry(total);
        let put_str = |id: &mut [u16; 256], first: usize, words: usize, s: &str| {
            let mut bytes = s.bytes().chain(std::iter::repeat(b' '));
            for w in &mut id[first..first + words] {
                let hi = bytes.next().unwrap_or(b' ');
                let lo = bytes.next().unwrap_or(b' ');
                *w = u16::from(hi) << 8 | u16::from(lo);
            }
        };
        id[0] = 0x0040; // ATA device, fixed
        id[1] = default.cylinders as u16;
        id[3] = default.heads as u16;
        id[6] = default.sectors as u16;
        put_str(&mut id, 10, 10, "EMU00000000000000001");
        put_str(&mut id, 23, 4, env!("CARGO_PKG_VERSION"));
        put_str(&mut id, 27, 20, "EMU HARDDISK");
        id[47] = 0x8000 | u16::from(MAX_MULTIPLE);
        id[49] = 0x0A00; // LBA supported, IORDY supported; no DMA
        id[50] = 0x4000;
        id[51] = 0x0200; // PIO mode 2 timing (obsolete word)
        id[53] = 0x0003; // words 54-58 and 64-70 valid
        let cur = self.chs;
        let cur_cap = cur.capacity().min(u64::from(u32::MAX)) as u32;
        id[54] = cur.cylinders as u16;
        id[55] = cur.heads as u16;
        id[56] = cur.sectors as u16;
        id[57] = cur_cap as u16;
        id[58] = (cur_cap >> 16) as u16;
        if self.multiple != 0 {
            id[59] = 0x0100 | u16::from(self.multiple);
        }
        let lba28 = total.min(0x0FFF_FFFF) as u32;
        id[60] = lba28 as u16;
        id[61] = (lba28 >> 16) as u16;
        id[64] = 0x0003; // PIO modes 3 and 4
        id[65] = 120;
        id[66] = 120;
        id[67] = 120;
        id[68] = 120;
        id[80] = 0x007E; // ATA-1 .. ATA-6
        let cache = if self.write_cache { 0x0020 } else { 0 };
        id[82] = 0x4000 | 0x0020 | 0x0008; // NOP, write cache, power management
        id[83] = 0x4000 | 0x2000 | 0x1000 | 0x0400; // FLUSH CACHE EXT, FLUSH CACHE, LBA48
        id[84] = 0x4000;
        id[85] = 0x4000 | cache | 0x0008;
        id[86] = 0x2000 | 0x1000 | 0x0400;
        id[87] = 0x4000;
        id[93] = 0x4000 | 0x0008 | 0x0002 | 0x0001; // device 0, jumper, diagnostics passed
        for (i, w) in id[100..104].iter_mut().enumerate() {
            *w = (total >> (16 * i)) as u16;
        }
        // Integrity word: signature A5h, checksum making the byte sum zero.
        id[255] = 0x00A5;
        let sum = id
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .fold(0u8, u8::wrapping_add);
        id[255] |= u16::from(sum.wrapping_neg()) << 8;
        id
    }

    fn set_multiple(&mut self) {
        let n = self.count.cur;
        if n == 0 || (n.is_power_of_two() && n <= MAX_MULTIPLE) {
            self.multiple = n;
            self.finish_ok();
        } else {
            self.abort(error::ABRT);
        }
    }

    fn flush_cache(&mut self) {
        match self.flush() {
            Ok(()) => self.finish_ok(),
            Err(_) => self.abort(error::ABRT),
        }
    }

    fn set_features(&mut self) {
        let ok = match self.features.cur {
            // Set transfer mode: PIO default (00h/01h) or PIO flow-control mode 0-4.
            0x03 => match self.count.cur {
                0x00 | 0x01 => {
                    self.pio_mode = 0;
                    true
                }
                m @ 0x08..=0x0C => {
                    self.pio_mode = m & 7;
                    true
                }
                _ => false,
            },
            0x02 => {
                self.write_cache = true;
                true
            }
            0x82 => {
                self.write_cache = false;
                true
            }
            0x66 => {
                self.keep_settings = true;
                true
            }
            0xCC => {
                self.keep_settings = false;
                true
            }
            // Read look-ahead off/on.
            0x55 | 0xAA => true,
            _ => false,
        };
        if ok {
            self.finish_ok();
        } else {
            self.abort(error::ABRT);
        }
    }

    fn initialize_device_parameters(&mut self) {
        let spt = u32::from(self.count.cur);
        let heads = u32::from(self.device & 0x0F) + 1;
        if spt == 0 {
            self.abort(error::ABRT);
            return;
        }
        let cylinders = (self.sectors() / u64::from(heads * spt)).min(65535) as u32;
        self.chs = Chs {
            cylinders,
            heads,
            sectors: spt,
        };
        self.finish_ok();
    }

    /// The PIO mode last set with SET FEATURES (for diagnostics).
    pub fn pio_mode(&self) -> u8 {
        self.pio_mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTORS: usize = 4096;

    /// A disk whose sector n is filled with the bytes of n (little-endian, repeated).
    fn disk(sectors: usize) -> Disk {
        let mut data = vec![0u8; sectors * SECTOR_SIZE];
        for (n, s) in data.chunks_exact_mut(SECTOR_SIZE).enumerate() {
            for (i, b) in s.iter_mut().enumerate() {
                *b = (n as u32).to_le_bytes()[i % 4];
            }
        }
        Disk::from_bytes(data).unwrap()
    }

    fn ch() -> AtaChannel {
        AtaChannel::new(Some(disk(SECTORS)))
    }

    fn outb(c: &mut AtaChannel, port: u16, v: u8) {
        c.write(port, 1, u32::from(v));
    }

    fn inb(c: &mut AtaChannel, port: u16) -> u8 {
        c.read(port, 1) as u8
    }

    fn read_words(c: &mut AtaChannel, n: usize) -> Vec<u16> {
        (0..n).map(|_| c.read(0x1F0, 2) as u16).collect()
    }

    fn sector_bytes(words: &[u16]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn expected_sector(n: u32) -> Vec<u8> {
        (0..SECTOR_SIZE).map(|i| n.to_le_bytes()[i % 4]).collect()
    }

    fn lba28_cmd(c: &mut AtaChannel, lba: u32, count: u8, cmd: u8) {
        outb(c, 0x1F6, 0xE0 | ((lba >> 24) as u8 & 0x0F));
        outb(c, 0x1F2, count);
        outb(c, 0x1F3, lba as u8);
        outb(c, 0x1F4, (lba >> 8) as u8);
        outb(c, 0x1F5, (lba >> 16) as u8);
        outb(c, 0x1F7, cmd);
    }

    fn lba48_cmd(c: &mut AtaChannel, lba: u64, count: u16, cmd: u8) {
        outb(c, 0x1F6, 0x40);
        outb(c, 0x1F2, (count >> 8) as u8);
        outb(c, 0x1F3, (lba >> 24) as u8);
        outb(c, 0x1F4, (lba >> 32) as u8);
        outb(c, 0x1F5, (lba >> 40) as u8);
        outb(c, 0x1F2, count as u8);
        outb(c, 0x1F3, lba as u8);
        outb(c, 0x1F4, (lba >> 8) as u8);
        outb(c, 0x1F5, (lba >> 16) as u8);
        outb(c, 0x1F7, cmd);
    }

    fn ata_string(words: &[u16]) -> String {
        sector_bytes(&words.iter().map(|w| w.swap_bytes()).collect::<Vec<_>>())
            .into_iter()
            .map(char::from)
            .collect::<String>()
            .trim_end()
            .to_string()
    }

    /// What Linux's libata does on a PATA port: device check, soft reset, classify, IDENTIFY,
    /// SET FEATURES (PIO 4), SET MULTIPLE, then I/O.
    #[test]
    fn linux_like_probe() {
        let mut c = ch();
        // ata_devchk on both devices: register read-back.
        for dev in [0xA0u8, 0xB0] {
            outb(&mut c, 0x1F6, dev);
            outb(&mut c, 0x1F2, 0x55);
            outb(&mut c, 0x1F3, 0xAA);
            outb(&mut c, 0x1F2, 0xAA);
            outb(&mut c, 0x1F3, 0x55);
            outb(&mut c, 0x1F2, 0x55);
            outb(&mut c, 0x1F3, 0xAA);
            assert_eq!((inb(&mut c, 0x1F2), inb(&mut c, 0x1F3)), (0x55, 0xAA));
        }
        // ata_bus_softreset.
        outb(&mut c, 0x3F6, 0x02);
        outb(&mut c, 0x3F6, 0x06);
        assert_eq!(inb(&mut c, 0x3F6) & BSY, BSY);
        outb(&mut c, 0x3F6, 0x02);
        assert!(!c.irq_level());
        // Device 0: signature, diagnostic code, ready.
        outb(&mut c, 0x1F6, 0xA0);
        assert_eq!(inb(&mut c, 0x1F1), 0x01);
        let sig: Vec<u8> = (0x1F2..=0x1F5).map(|p| inb(&mut c, p)).collect();
        assert_eq!(sig, [1, 1, 0, 0]);
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        // Device 1 is absent: ATA signature but status 0, which Linux takes as no device.
        outb(&mut c, 0x1F6, 0xB0);
        assert_eq!(inb(&mut c, 0x1F7), 0);
        assert_eq!(inb(&mut c, 0x3F6), 0);
        outb(&mut c, 0x1F7, 0xEC);
        assert_eq!(
            inb(&mut c, 0x1F7),
            0,
            "commands to the absent device are ignored"
        );
        outb(&mut c, 0x1F6, 0xA0);

        // IDENTIFY with interrupts enabled.
        outb(&mut c, 0x3F6, 0x00);
        outb(&mut c, 0x1F7, 0xEC);
        assert!(c.irq_level());
        assert_eq!(inb(&mut c, 0x3F6), 0x58, "alternate status");
        assert!(
            c.irq_level(),
            "alternate status does not clear the interrupt"
        );
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        assert!(!c.irq_level(), "status clears it");
        let id = read_words(&mut c, 256);
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        assert_eq!(ata_string(&id[27..47]), "EMU HARDDISK");
        assert_eq!(ata_string(&id[10..20]), "EMU00000000000000001");
        assert_eq!(id[49] & 0x0200, 0x0200);
        assert_eq!(u32::from(id[60]) | u32::from(id[61]) << 16, SECTORS as u32);
        assert_eq!(id[100] as usize, SECTORS);
        assert_eq!(id[83] & 0xC400, 0x4400);
        assert_eq!(id[47] & 0xFF, 16);
        assert_eq!(id[59], 0);
        assert_eq!((id[1], id[3], id[6]), (4, 16, 63));
        let sum = sector_bytes(&id)
            .iter()
            .fold(0u8, |a, &b| a.wrapping_add(b));
        assert_eq!((sum, id[255] & 0xFF), (0, 0xA5));

        // SET FEATURES: PIO mode 4; DMA modes are refused.
        outb(&mut c, 0x1F1, 0x03);
        outb(&mut c, 0x1F2, 0x0C);
        outb(&mut c, 0x1F7, 0xEF);
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        assert_eq!(c.pio_mode(), 4);
        outb(&mut c, 0x1F1, 0x03);
        outb(&mut c, 0x1F2, 0x42);
        outb(&mut c, 0x1F7, 0xEF);
        assert_eq!(inb(&mut c, 0x1F7), 0x51);
        assert_eq!(inb(&mut c, 0x1F1), error::ABRT);

        // READ MULTIPLE before SET MULTIPLE aborts; then 8 sectors in one block.
        lba28_cmd(&mut c, 100, 8, 0xC4);
        assert_eq!(inb(&mut c, 0x1F7), 0x51);
        outb(&mut c, 0x1F2, 8);
        outb(&mut c, 0x1F7, 0xC6);
        assert!(c.irq_level());
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        outb(&mut c, 0x1F7, 0xEC);
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        assert_eq!(read_words(&mut c, 256)[59], 0x0108);
        lba28_cmd(&mut c, 100, 8, 0xC4);
        assert!(c.irq_level());
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        // 32-bit PIO (insl), as ata_piix may use.
        let data: Vec<u8> = (0..8 * 128)
            .flat_map(|_| c.read(0x1F0, 4).to_le_bytes())
            .collect();
        for s in 0..8 {
            assert_eq!(
                data[s * 512..(s + 1) * 512],
                expected_sector(100 + s as u32)[..]
            );
        }
        assert!(!c.irq_level(), "no interrupt after the last data-in block");
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        assert_eq!(inb(&mut c, 0x1F3), 107, "address of the last sector");

        // WRITE SECTORS of 2, then read them back with READ SECTORS.
        lba28_cmd(&mut c, 2000, 2, 0x30);
        assert_eq!(inb(&mut c, 0x3F6), 0x58);
        assert!(
            !c.irq_level(),
            "no interrupt before the first data-out block"
        );
        for i in 0..256u32 {
            c.write(0x1F0, 2, 0xAA00 | (i & 0xFF));
        }
        assert!(c.irq_level(), "interrupt asking for the second block");
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        for _ in 0..128 {
            c.write(0x1F0, 4, 0xDEAD_BEEF);
        }
        assert!(c.irq_level(), "completion interrupt");
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        lba28_cmd(&mut c, 2000, 2, 0x20);
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        let first = read_words(&mut c, 256);
        assert!(first
            .iter()
            .enumerate()
            .all(|(i, &w)| w == 0xAA00 | (i as u16 & 0xFF)));
        assert!(c.irq_level(), "interrupt for the second sector");
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        let second = sector_bytes(&read_words(&mut c, 256));
        assert!(second.chunks(4).all(|d| d == [0xEF, 0xBE, 0xAD, 0xDE]));
        assert_eq!(inb(&mut c, 0x1F7), 0x50);

        // FLUSH CACHE EXT.
        outb(&mut c, 0x1F7, 0xEA);
        assert!(c.irq_level());
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
    }

    #[test]
    fn lba48_high_lba() {
        // Register plumbing on a small disk; `big_disk_identify_caps_lba28` reads past 2^28.
        let mut c = ch();
        lba48_cmd(&mut c, 4000, 3, 0x24);
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        for s in 0..3 {
            let got = sector_bytes(&read_words(&mut c, 256));
            assert_eq!(got, expected_sector(4000 + s));
            if s < 2 {
                assert_eq!(inb(&mut c, 0x1F7), 0x58);
            }
        }
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        // Last sector address, readable through HOB.
        assert_eq!(inb(&mut c, 0x1F3), (4002 & 0xFF) as u8);
        assert_eq!(inb(&mut c, 0x1F4), (4002 >> 8) as u8);
        outb(&mut c, 0x3F6, control::HOB);
        assert_eq!(inb(&mut c, 0x1F3), 0);
        outb(&mut c, 0x3F6, 0);

        // LBA 2^32 + 5: bits above 28 must reach the range check.
        lba48_cmd(&mut c, (1 << 32) + 5, 1, 0x24);
        assert_eq!(inb(&mut c, 0x1F7), 0x51);
        assert_eq!(inb(&mut c, 0x1F1), error::IDNF);

        // READ MULTIPLE EXT across blocks: 10 sectors, multiple 4 -> blocks of 4, 4, 2.
        outb(&mut c, 0x1F2, 4);
        outb(&mut c, 0x1F7, 0xC6);
        inb(&mut c, 0x1F7);
        lba48_cmd(&mut c, 3000, 10, 0x29);
        let mut got = Vec::new();
        for block in [4usize, 4, 2] {
            assert!(c.irq_level());
            assert_eq!(inb(&mut c, 0x1F7), 0x58);
            got.extend(sector_bytes(&read_words(&mut c, block * 256)));
        }
        assert!(!c.irq_level());
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        for s in 0..10 {
            assert_eq!(
                got[s * 512..(s + 1) * 512],
                expected_sector(3000 + s as u32)[..]
            );
        }
        // WRITE SECTORS EXT / WRITE MULTIPLE EXT then read back.
        lba48_cmd(&mut c, 4090, 6, 0x39);
        for _ in 0..6 * 256 {
            c.write(0x1F0, 2, 0x1234);
        }
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        lba48_cmd(&mut c, 4095, 1, 0x24);
        assert_eq!(read_words(&mut c, 256), vec![0x1234; 256]);
        // One past the end.
        lba48_cmd(&mut c, 4095, 2, 0x34);
        assert_eq!(inb(&mut c, 0x1F7), 0x51);
        assert_eq!(inb(&mut c, 0x1F1), error::IDNF);
    }

    #[test]
    fn big_disk_identify_caps_lba28() {
        // 2^28 + 8 sectors, held sparse: only the identify data is looked at.
        let total: u64 = (1 << 28) + 8;
        let mut c = ch();
        let path = std::env::temp_dir().join(format!("emu-ata-big-{}.img", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(total * 512).unwrap();
        drop(f);
        c.disk = Some(Disk::open(&path, crate::disk::DiskMode::Snapshot).unwrap());
        let id = c.identify_data();
        assert_eq!(u32::from(id[60]) | u32::from(id[61]) << 16, 0x0FFF_FFFF);
        let lba48 = (0..4).fold(0u64, |a, i| a | u64::from(id[100 + i]) << (16 * i));
        assert_eq!(lba48, total);
        assert_eq!((id[1], id[3], id[6]), (16383, 16, 63));
        // A read at a high LBA through LBA48.
        lba48_cmd(&mut c, total - 1, 1, 0x24);
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        assert_eq!(read_words(&mut c, 256), vec![0; 256]);
        outb(&mut c, 0x3F6, control::HOB);
        assert_eq!(inb(&mut c, 0x1F3), ((total - 1) >> 24) as u8);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn chs_and_init_params() {
        let mut c = ch();
        // CHS (LBA bit clear): cylinder 1, head 2, sector 3 of 16 x 63.
        outb(&mut c, 0x1F6, 0xA2);
        outb(&mut c, 0x1F2, 1);
        outb(&mut c, 0x1F3, 3);
        outb(&mut c, 0x1F4, 1);
        outb(&mut c, 0x1F5, 0);
        outb(&mut c, 0x1F7, 0x20);
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        let lba = (16 + 2) * 63 + 2;
        assert_eq!(sector_bytes(&read_words(&mut c, 256)), expected_sector(lba));
        // Sector 0 does not exist.
        outb(&mut c, 0x1F3, 0);
        outb(&mut c, 0x1F7, 0x20);
        assert_eq!(
            (inb(&mut c, 0x1F7), inb(&mut c, 0x1F1)),
            (0x51, error::IDNF)
        );
        // INITIALIZE DEVICE PARAMETERS: 4 heads, 32 sectors.
        outb(&mut c, 0x1F6, 0xA3);
        outb(&mut c, 0x1F2, 32);
        outb(&mut c, 0x1F7, 0x91);
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        let id = c.identify_data();
        assert_eq!((id[54], id[55], id[56]), (32, 4, 32));
        outb(&mut c, 0x1F6, 0xA1);
        outb(&mut c, 0x1F2, 1);
        outb(&mut c, 0x1F3, 5);
        outb(&mut c, 0x1F4, 2);
        outb(&mut c, 0x1F5, 0);
        outb(&mut c, 0x1F7, 0x20);
        assert_eq!(inb(&mut c, 0x1F7), 0x58);
        assert_eq!(
            sector_bytes(&read_words(&mut c, 256)),
            expected_sector((2 * 4 + 1) * 32 + 4)
        );
    }

    #[test]
    fn nien_and_misc_commands() {
        let mut c = ch();
        outb(&mut c, 0x3F6, control::NIEN);
        outb(&mut c, 0x1F6, 0xA0);
        outb(&mut c, 0x1F7, 0xE5);
        assert!(!c.irq_level(), "nIEN masks INTRQ");
        outb(&mut c, 0x3F6, 0);
        assert!(
            c.irq_level(),
            "the pending interrupt shows once nIEN is cleared"
        );
        assert_eq!(inb(&mut c, 0x1F2), 0xFF);
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        for cmd in [0xE0, 0xE1, 0xE2, 0xE3, 0x10, 0x70, 0xE7] {
            outb(&mut c, 0x1F7, cmd);
            assert_eq!(inb(&mut c, 0x1F7), 0x50, "{cmd:#x}");
        }
        for cmd in [0x00, 0x08, 0xA1, 0xC8, 0x25, 0xF8, 0xFF] {
            outb(&mut c, 0x1F7, cmd);
            assert!(c.irq_level());
            assert_eq!(inb(&mut c, 0x1F7), 0x51, "{cmd:#x}");
            assert_eq!(inb(&mut c, 0x1F1), error::ABRT);
        }
        // SET MULTIPLE with an invalid count.
        outb(&mut c, 0x1F2, 3);
        outb(&mut c, 0x1F7, 0xC6);
        assert_eq!(inb(&mut c, 0x1F7), 0x51);
        // EXECUTE DEVICE DIAGNOSTIC with device 1 selected.
        outb(&mut c, 0x1F6, 0xB0);
        outb(&mut c, 0x1F7, 0x90);
        assert_eq!(inb(&mut c, 0x1F6), 0);
        assert_eq!((inb(&mut c, 0x1F7), inb(&mut c, 0x1F1)), (0x50, 0x01));
        // VERIFY.
        lba28_cmd(&mut c, 10, 5, 0x40);
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        lba28_cmd(&mut c, 4095, 2, 0x40);
        assert_eq!(inb(&mut c, 0x1F7), 0x51);
        // Write cache off/on.
        outb(&mut c, 0x1F1, 0x82);
        outb(&mut c, 0x1F7, 0xEF);
        assert_eq!(c.identify_data()[85] & 0x20, 0);
        // SRST mid-transfer abandons it.
        lba28_cmd(&mut c, 0, 4, 0x20);
        outb(&mut c, 0x3F6, control::SRST);
        outb(&mut c, 0x3F6, 0);
        assert_eq!(inb(&mut c, 0x1F7), 0x50);
        assert_eq!(c.read(0x1F0, 2), 0xFFFF);
        assert_eq!(
            c.identify_data()[85] & 0x20,
            0x20,
            "reset restores defaults"
        );
    }

    #[test]
    fn no_disk_floats() {
        let mut c = AtaChannel::new(None);
        for p in 0x1F1..=0x1F7 {
            assert_eq!(inb(&mut c, p), 0x7F);
        }
        assert_eq!(inb(&mut c, 0x3F6), 0x7F);
        outb(&mut c, 0x1F7, 0xEC);
        assert!(!c.irq_level());
        assert_eq!(inb(&mut c, 0x1F7), 0x7F);
        assert!(c.flush().is_ok());
    }

    #[test]
    fn never_panics_on_random_io() {
        // A fixed-seed xorshift drives random ports, sizes, values and orders.
        let mut c = AtaChannel::new(Some(disk(64)));
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ports = [
            0x1F0, 0x1F1, 0x1F2, 0x1F3, 0x1F4, 0x1F5, 0x1F6, 0x1F7, 0x3F6, 0x3F7,
        ];
        for _ in 0..200_000 {
            let r = next();
            let port = ports[(r % ports.len() as u64) as usize];
            let size = [1u8, 2, 4, 0, 9][((r >> 8) % 5) as usize];
            let v = (r >> 16) as u32;
            if r & (1 << 40) != 0 {
                // Bias command writes towards real commands.
                let cmds = [
                    0x20, 0x24, 0x29, 0x30, 0x34, 0x39, 0xC4, 0xC5, 0xC6, 0xEC, 0x91,
                ];
                if port == 0x1F7 {
                    c.write(port, 1, cmds[(v % cmds.len() as u32) as usize]);
                } else {
                    c.write(port, size, v);
                }
            } else {
                c.read(port, size);
            }
            let _ = c.irq_level();
        }
    }
}
