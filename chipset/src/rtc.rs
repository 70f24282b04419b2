//! Motorola MC146818A real-time clock and CMOS RAM (ports 70h/71h, IRQ 8).
//!
//! Port 70h selects one of 128 bytes (bit 7 of the written value is the PC's NMI mask, kept
//! separately); port 71h reads or writes it. Bytes 00h-09h are the clock, 0Ah-0Dh the status
//! registers, the rest battery-backed RAM whose layout (memory sizes, equipment, century, ...)
//! is an IBM convention that [`Rtc::set_memory_size`] and friends fill in for the BIOS.
//!
//! Facts from the datasheet that this model follows:
//! - The divider chain runs from the 32.768 kHz time base only when register A's DV bits are
//!   010; 11x holds it in reset, and the first update comes half a second after it is released.
//! - Once a second the update cycle advances the clock. UIP (register A bit 7) reads 1 during
//!   the 244 us before it. SET (register B bit 7) inhibits updates, and setting it clears UIE.
//! - The time and date bytes are BCD or binary (register B DM) and hours 12h (bit 7 = PM) or
//!   24h; the chip counts in whatever format is selected. Leap years are years divisible by four.
//! - The periodic flag PF is set at the rate chosen by RS3-0, the update-ended flag UF after each
//!   update and the alarm flag AF when hours, minutes and seconds match their alarm bytes (a byte
//!   with both top bits set matches anything). The flags are set whatever the enable bits say;
//!   IRQF (register C bit 7) and the IRQ output are set when a flag meets its enable bit, and
//!   reading register C clears it all. Register D bit 7 (VRT) always reads 1.
//!
//! Time is kept as decoded fields plus the divider phase, derived from the virtual clock when
//! a register is read, so an idle clock costs nothing. Values written out of range are clamped
//! (the real chip would store and mis-count them). The square-wave output is not modelled.

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the clock starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcStart {
    /// The host's current time (UTC), read once at construction.
    Host,
    /// A fixed Unix time in seconds (UTC), for reproducible runs and tests.
    Unix(i64),
}

/// Register A bit 7.
const UIP: u8 = 0x80;
// Register B bits.
const SET: u8 = 0x80;
const PIE: u8 = 0x40;
const AIE: u8 = 0x20;
const UIE: u8 = 0x10;
const DM_BINARY: u8 = 0x04;
const HOUR24: u8 = 0x02;
// Register C bits.
const IRQF: u8 = 0x80;
const PF: u8 = 0x40;
const AF: u8 = 0x20;
const UF: u8 = 0x10;

/// Divider ticks (32.768 kHz) per second, and where in the second the update falls.
const DIV_HZ: i64 = 32_768;
const UPDATE_PHASE: i64 = DIV_HZ / 2;
/// 244 us expressed in divider ticks.
const UIP_TICKS: i64 = 8;

const SECS_PER_DAY: i64 = 86_400;
/// Days in the chip's 100-year cycle (years 00-99, every fourth a leap year).
const CYCLE_DAYS: i64 = 36_525;

/// Clock fields, binary, hours 0-23.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fields {
    sec: u8,
    min: u8,
    hour: u8,
    /// Day of week, 1-7, Sunday = 1.
    dow: u8,
    day: u8,
    month: u8,
    year: u8,
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0
}

fn month_days(month: i64, leap: bool) -> i64 {
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Fields {
    /// Seconds since 00-01-01 00:00:00 within the 100-year cycle.
    fn cycle_secs(&self) -> i64 {
        let y = self.year as i64;
        let mut days = y * 365 + (y + 3) / 4;
        for m in 1..self.month as i64 {
            days += month_days(m, is_leap(y));
        }
        days += self.day as i64 - 1;
        days * SECS_PER_DAY + self.hour as i64 * 3600 + self.min as i64 * 60 + self.sec as i64
    }

    fn from_cycle_secs(secs: i64, dow: u8) -> Fields {
        let secs = secs.rem_euclid(CYCLE_DAYS * SECS_PER_DAY);
        let mut days = secs / SECS_PER_DAY;
        let sod = secs % SECS_PER_DAY;
        let mut year = 0;
        loop {
            let len = if is_leap(year) { 366 } else { 365 };
            if days < len || year == 99 {
                break;
            }
            days -= len;
            year += 1;
        }
        let mut month = 1;
        while month < 12 && days >= month_days(month, is_leap(year)) {
            days -= month_days(month, is_leap(year));
            month += 1;
        }
        Fields {
            sec: (sod % 60) as u8,
            min: (sod / 60 % 60) as u8,
            hour: (sod / 3600) as u8,
            dow,
            day: (days + 1) as u8,
            month: month as u8,
            year: year as u8,
        }
    }

    /// Advances by `n` seconds; the weekday follows the number of midnights crossed.
    fn advance(&mut self, n: i64) {
        let old = self.cycle_secs();
        let midnights = (old % SECS_PER_DAY + n) / SECS_PER_DAY;
        let dow = ((self.dow as i64 - 1 + midnights) % 7 + 1) as u8;
        *self = Fields::from_cycle_secs(old + n, dow);
    }

    fn from_unix(t: i64) -> (Fields, u8) {
        let days = t.div_euclid(SECS_PER_DAY);
        let sod = t.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        // 1970-01-01 was a Thursday (5 with Sunday = 1).
        let dow = ((days + 4).rem_euclid(7) + 1) as u8;
        let f = Fields {
            sec: (sod % 60) as u8,
            min: (sod / 60 % 60) as u8,
            hour: (sod / 3600) as u8,
            dow,
            day: d as u8,
            month: m as u8,
            year: y.rem_euclid(100) as u8,
        };
        (f, y.div_euclid(100).clamp(0, 99) as u8)
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (era arithmetic on 400-year
/// cycles, which start on March 1st so the leap day falls at the end of the year).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    (y, m, d)
}

fn to_bcd(v: u8) -> u8 {
    ((v / 10 % 10) << 4) | (v % 10)
}

fn from_bcd(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0xF)
}

/// The RTC and its CMOS RAM.
#[derive(Clone, Debug)]
pub struct Rtc {
    /// Raw bytes: alarms (01h, 03h, 05h), A (without UIP), B, and RAM 0Eh-7Fh.
    ram: [u8; 128],
    time: Fields,
    /// PF, AF and UF.
    flags: u8,
    index: u8,
    nmi_masked: bool,
    /// Guest time at which divider tick 0 began (may be negative for a mid-second start).
    origin_ns: i64,
    /// Divider tick up to which flags and time have been brought.
    last_tick: i64,
    running: bool,
}

impl Rtc {
    /// A clock reading `start`, registers as a PC BIOS leaves them: A = 26h (32.768 kHz,
    /// 1024 Hz periodic rate), B = 02h (24-hour BCD, interrupts off), century byte 32h filled.
    pub fn new(start: RtcStart) -> Self {
        let (secs, nanos) = match start {
            RtcStart::Unix(t) => (t, 0i64),
            RtcStart::Host => match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => (d.as_secs() as i64, d.subsec_nanos() as i64),
                Err(_) => (0, 0),
            },
        };
        let (time, century) = Fields::from_unix(secs);
        let mut ram = [0u8; 128];
        ram[0x0A] = 0x26;
        ram[0x0B] = HOUR24;
        ram[0x32] = to_bcd(century);
        // The next update falls when the host's next second begins.
        let origin_ns = -(UPDATE_PHASE * 1_000_000_000 / DIV_HZ) - nanos;
        let mut rtc = Rtc {
            ram,
            time,
            flags: 0,
            index: 0,
            nmi_masked: false,
            origin_ns,
            last_tick: 0,
            running: true,
        };
        rtc.last_tick = rtc.div_tick(0);
        rtc
    }

    fn div_tick(&self, now_ns: u64) -> i64 {
        let d = (now_ns as i128 - self.origin_ns as i128) * DIV_HZ as i128;
        d.div_euclid(1_000_000_000) as i64
    }

    fn tick_ns(&self, tick: i64) -> u64 {
        let ns = (tick as i128 * 1_000_000_000 + DIV_HZ as i128 - 1).div_euclid(DIV_HZ as i128)
            + self.origin_ns as i128;
        ns.clamp(0, u64::MAX as i128) as u64
    }

    /// Periodic interrupt period in divider ticks (RS 1 and 2 repeat rates 8 and 9).
    fn period_ticks(&self) -> Option<i64> {
        match self.ram[0x0A] & 0x0F {
            0 => None,
            1 => Some(1 << 7),
            2 => Some(1 << 8),
            rs => Some(1 << (rs - 1)),
        }
    }

    fn reg_b(&self) -> u8 {
        self.ram[0x0B]
    }

    /// Brings time and flags up to `now_ns`.
    fn sync(&mut self, now_ns: u64) {
        if !self.running {
            return;
        }
        let d = self.div_tick(now_ns);
        let last = self.last_tick;
        if d <= last {
            return;
        }
        self.last_tick = d;
        if let Some(p) = self.period_ticks() {
            if d.div_euclid(p) != last.div_euclid(p) {
                self.flags |= PF;
            }
        }
        let updates =
            (d - UPDATE_PHASE).div_euclid(DIV_HZ) - (last - UPDATE_PHASE).div_euclid(DIV_HZ);
        if updates > 0 && self.reg_b() & SET == 0 {
            self.advance_time(updates);
            self.flags |= UF;
        }
    }

    /// Runs `n` update cycles at once, setting AF if any of them matched the alarm.
    fn advance_time(&mut self, n: i64) {
        self.time.advance(n);
        if self.flags & AF != 0 {
            return;
        }
        let end = self.time.cycle_secs().rem_euclid(SECS_PER_DAY);
        let alarm = [self.ram[0x05], self.ram[0x03], self.ram[0x01]];
        let b = self.reg_b();
        for i in 0..n.min(SECS_PER_DAY) {
            let sod = (end - i).rem_euclid(SECS_PER_DAY);
            let now = [
                encode_hour((sod / 3600) as u8, b),
                encode((sod / 60 % 60) as u8, b),
                encode((sod % 60) as u8, b),
            ];
            if alarm
                .iter()
                .zip(now)
                .all(|(&a, v)| a & 0xC0 == 0xC0 || a == v)
            {
                self.flags |= AF;
                break;
            }
        }
    }

    fn uip(&self, now_ns: u64) -> bool {
        if !self.running || self.reg_b() & SET != 0 {
            return false;
        }
        (self.div_tick(now_ns) - (UPDATE_PHASE - UIP_TICKS)).rem_euclid(DIV_HZ) < UIP_TICKS
    }

    fn reg_c(&self) -> u8 {
        let f = self.flags;
        if f & self.reg_b() & (PF | AF | UF) != 0 {
            f | IRQF
        } else {
            f
        }
    }

    /// Level of the IRQ 8 output (IRQF).
    pub fn irq_line(&self) -> bool {
        self.reg_c() & IRQF != 0
    }

    /// Guest time at which a flag with its interrupt enabled will next be set, if one can.
    /// Nothing is scheduled while IRQF is already set: the line cannot rise again until
    /// register C is read.
    pub fn next_event_ns(&self) -> Option<u64> {
        if !self.running || self.irq_line() {
            return None;
        }
        let b = self.reg_b();
        let last = self.last_tick;
        let mut next: Option<i64> = None;
        if b & PIE != 0 {
            if let Some(p) = self.period_ticks() {
                next = Some((last.div_euclid(p) + 1) * p);
            }
        }
        if b & (UIE | AIE) != 0 && b & SET == 0 {
            let u = ((last - UPDATE_PHASE).div_euclid(DIV_HZ) + 1) * DIV_HZ + UPDATE_PHASE;
            next = Some(next.map_or(u, |n| n.min(u)));
        }
        next.map(|t| self.tick_ns(t))
    }

    /// Services an event at `now_ns` (brings the flags up to date).
    pub fn on_event(&mut self, now_ns: u64) {
        self.sync(now_ns);
    }

    /// NMI mask bit last written to port 70h.
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    /// Port read (71h; 70h is write-only and reads FFh).
    pub fn read_port(&mut self, port: u16, now_ns: u64) -> u8 {
        match port {
            0x71 => self.read_reg(self.index, now_ns),
            _ => 0xFF,
        }
    }

    /// Port write (70h selects, 71h writes).
    pub fn write_port(&mut self, port: u16, v: u8, now_ns: u64) {
        match port {
            0x70 => {
                self.index = v & 0x7F;
                self.nmi_masked = v & 0x80 != 0;
            }
            0x71 => self.write_reg(self.index, v, now_ns),
            _ => {}
        }
    }

    /// Reads register `index` (0-127) as the guest would.
    pub fn read_reg(&mut self, index: u8, now_ns: u64) -> u8 {
        self.sync(now_ns);
        let b = self.reg_b();
        let t = self.time;
        match index & 0x7F {
            0x00 => encode(t.sec, b),
            0x02 => encode(t.min, b),
            0x04 => encode_hour(t.hour, b),
            0x06 => encode(t.dow, b),
            0x07 => encode(t.day, b),
            0x08 => encode(t.month, b),
            0x09 => encode(t.year, b),
            0x0A => self.ram[0x0A] | if self.uip(now_ns) { UIP } else { 0 },
            0x0C => {
                let c = self.reg_c();
                self.flags = 0;
                c
            }
            0x0D => 0x80,
            i => self.ram[i as usize],
        }
    }

    /// Writes register `index` (0-127) as the guest would.
    pub fn write_reg(&mut self, index: u8, v: u8, now_ns: u64) {
        self.sync(now_ns);
        let b = self.reg_b();
        let t = &mut self.time;
        match index & 0x7F {
            0x00 => t.sec = decode(v, b).min(59),
            0x02 => t.min = decode(v, b).min(59),
            0x04 => t.hour = decode_hour(v, b),
            0x06 => t.dow = decode(v, b).clamp(1, 7),
            0x07 => t.day = decode(v, b).clamp(1, 31),
            0x08 => t.month = decode(v, b).clamp(1, 12),
            0x09 => t.year = decode(v, b).min(99),
            0x0A => {
                let run = (v >> 4) & 7 == 0b010;
                if run && !self.running {
                    // Leaving reset: the divider starts now, first update 500 ms later.
                    self.origin_ns = now_ns.min(i64::MAX as u64) as i64;
                    self.last_tick = 0;
                }
                self.running = run;
                self.ram[0x0A] = v & 0x7F;
            }
            0x0B => {
                let mut v = v;
                if v & SET != 0 && b & SET == 0 {
                    v &= !UIE;
                }
                if (v ^ b) & (DM_BINARY | HOUR24) != 0 {
                    // The chip keeps the bytes; only their interpretation changes.
                    let old = *t;
                    t.sec = decode(encode(old.sec, b), v).min(59);
                    t.min = decode(encode(old.min, b), v).min(59);
                    t.hour = decode_hour(encode_hour(old.hour, b), v);
                    t.dow = decode(encode(old.dow, b), v).clamp(1, 7);
                    t.day = decode(encode(old.day, b), v).clamp(1, 31);
                    t.month = decode(encode(old.month, b), v).clamp(1, 12);
                    t.year = decode(encode(old.year, b), v).min(99);
                }
                self.ram[0x0B] = v;
            }
            0x0C | 0x0D => {}
            i => self.ram[i as usize] = v,
        }
    }

    /// A RAM byte (0Eh-7Fh) without side effects; clock registers read as stored bytes.
    pub fn nvram(&self, index: u8) -> u8 {
        self.ram[(index & 0x7F) as usize]
    }

    /// Sets a RAM byte (0Eh-7Fh) directly; indices below 0Eh are ignored.
    pub fn set_nvram(&mut self, index: u8, v: u8) {
        let i = (index & 0x7F) as usize;
        if i >= 0x0E {
            self.ram[i] = v;
        }
    }

    /// Fills the IBM memory-size bytes for `ram_bytes` of RAM: 15h/16h base memory (640 KiB),
    /// 17h/18h and 30h/31h KiB above 1 MiB (at most FFFFh), 34h/35h 64 KiB blocks above 16 MiB.
    pub fn set_memory_size(&mut self, ram_bytes: u64) {
        let base: u16 = 640;
        let ext = (ram_bytes.saturating_sub(1 << 20) / 1024).min(0xFFFF) as u16;
        let high = (ram_bytes.saturating_sub(16 << 20) / 65_536).min(0xFFFF) as u16;
        for (i, v) in [(0x15, base), (0x17, ext), (0x30, ext), (0x34, high)] {
            let [lo, hi] = v.to_le_bytes();
            self.ram[i] = lo;
            self.ram[i + 1] = hi;
        }
    }

    /// Equipment byte 14h (bits 7-6 floppies - 1, bit 0 floppy present, bits 5-4 video).
    pub fn set_equipment(&mut self, v: u8) {
        self.ram[0x14] = v;
    }

    /// Century byte 32h, stored in BCD (`century` is binary, e.g. 20).
    pub fn set_century(&mut self, century: u8) {
        self.ram[0x32] = to_bcd(century);
    }

    /// Recomputes the checksum of bytes 10h-2Dh into 2Eh (high) and 2Fh (low).
    pub fn update_checksum(&mut self) {
        let sum: u16 = self.ram[0x10..=0x2D].iter().map(|&b| b as u16).sum();
        let [lo, hi] = sum.to_le_bytes();
        self.ram[0x2E] = hi;
        self.ram[0x2F] = lo;
    }
}

fn encode(v: u8, b: u8) -> u8 {
    if b & DM_BINARY != 0 {
        v
    } else {
        to_bcd(v)
    }
}

fn decode(v: u8, b: u8) -> u8 {
    if b & DM_BINARY != 0 {
        v
    } else {
        from_bcd(v)
    }
}

fn encode_hour(h: u8, b: u8) -> u8 {
    if b & HOUR24 != 0 {
        return encode(h, b);
    }
    let h12 = if h.is_multiple_of(12) { 12 } else { h % 12 };
    encode(h12, b) | if h >= 12 { 0x80 } else { 0 }
}

fn decode_hour(v: u8, b: u8) -> u8 {
    if b & HOUR24 != 0 {
        return decode(v, b).min(23);
    }
    let h12 = decode(v & 0x7F, b).clamp(1, 12);
    h12 % 12 + if v & 0x80 != 0 { 12 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;
    /// 2024-02-28 23:59:58 UTC, a Wednesday.
    const T0: i64 = 1_709_164_798;

    fn rtc() -> Rtc {
        Rtc::new(RtcStart::Unix(T0))
    }

    fn rd(r: &mut Rtc, i: u8, t: u64) -> u8 {
        r.write_port(0x70, i, t);
        r.read_port(0x71, t)
    }

    fn wr(r: &mut Rtc, i: u8, v: u8, t: u64) {
        r.write_port(0x70, i, t);
        r.write_port(0x71, v, t);
    }

    #[test]
    fn start_time_in_bcd() {
        let mut r = rtc();
        let regs: Vec<u8> = [0, 2, 4, 6, 7, 8, 9, 0x32]
            .iter()
            .map(|&i| rd(&mut r, i, 0))
            .collect();
        assert_eq!(regs, [0x58, 0x59, 0x23, 0x04, 0x28, 0x02, 0x24, 0x20]);
        assert_eq!(rd(&mut r, 0x0A, 0), 0x26);
        assert_eq!(rd(&mut r, 0x0B, 0), 0x02);
        assert_eq!(rd(&mut r, 0x0D, 0), 0x80);
    }

    #[test]
    fn leap_day_and_weekday_rollover() {
        let mut r = rtc();
        assert_eq!(rd(&mut r, 0, 2 * SEC), 0x00);
        assert_eq!(rd(&mut r, 7, 2 * SEC), 0x29, "2024 is a leap year");
        assert_eq!(rd(&mut r, 8, 2 * SEC), 0x02);
        assert_eq!(rd(&mut r, 6, 2 * SEC), 0x05, "Thursday");
        // One more day.
        assert_eq!(rd(&mut r, 7, 2 * SEC + 86_400 * SEC), 0x01);
        assert_eq!(rd(&mut r, 8, 2 * SEC + 86_400 * SEC), 0x03);
        assert_eq!(rd(&mut r, 6, 2 * SEC + 86_400 * SEC), 0x06);
    }

    #[test]
    fn year_rolls_over_without_century() {
        let mut r = Rtc::new(RtcStart::Unix(4_102_444_799)); // 2099-12-31 23:59:59
        assert_eq!(rd(&mut r, 9, 0), 0x99);
        assert_eq!(rd(&mut r, 9, SEC), 0x00);
        assert_eq!(rd(&mut r, 8, SEC), 0x01);
        assert_eq!(
            rd(&mut r, 0x32, SEC),
            0x20,
            "the chip does not own the century byte"
        );
    }

    #[test]
    fn unix_epoch_and_host_start() {
        let mut r = Rtc::new(RtcStart::Unix(0));
        assert_eq!(rd(&mut r, 9, 0), 0x70);
        assert_eq!(rd(&mut r, 0x32, 0), 0x19);
        assert_eq!(rd(&mut r, 6, 0), 5);
        let mut h = Rtc::new(RtcStart::Host);
        assert!(rd(&mut h, 0x32, 0) >= 0x20);
    }

    #[test]
    fn binary_and_12_hour_modes() {
        let mut r = rtc();
        wr(&mut r, 0x0B, 0x84, 0); // SET, binary, 12h
        wr(&mut r, 0x00, 59, 0);
        wr(&mut r, 0x02, 59, 0);
        wr(&mut r, 0x04, 11, 0); // 11 AM
        wr(&mut r, 0x0B, 0x04, 0);
        assert_eq!(rd(&mut r, 0, 0), 59);
        assert_eq!(rd(&mut r, 4, 0), 11);
        assert_eq!(rd(&mut r, 4, SEC), 0x80 | 12, "noon is 12 PM");
        assert_eq!(rd(&mut r, 0, SEC), 0);
        wr(&mut r, 0x04, 0x80 | 11, SEC); // 11 PM
        wr(&mut r, 0x02, 59, SEC);
        wr(&mut r, 0x00, 59, SEC);
        assert_eq!(rd(&mut r, 4, 2 * SEC), 12, "midnight is 12 AM");
        // BCD 12-hour.
        wr(&mut r, 0x0B, 0x80, 2 * SEC);
        wr(&mut r, 0x04, 0x91, 2 * SEC); // 11 PM
        wr(&mut r, 0x0B, 0x00, 2 * SEC);
        assert_eq!(rd(&mut r, 4, 2 * SEC), 0x91);
    }

    #[test]
    fn uip_only_in_the_244us_before_update() {
        let mut r = rtc();
        // Updates fall on whole seconds for a fixed start.
        assert_eq!(rd(&mut r, 0x0A, SEC - 300_000) & 0x80, 0);
        assert_eq!(rd(&mut r, 0x0A, SEC - 200_000) & 0x80, 0x80);
        assert_eq!(rd(&mut r, 0x0A, SEC - 1) & 0x80, 0x80);
        assert_eq!(rd(&mut r, 0x0A, SEC) & 0x80, 0);
        assert_eq!(rd(&mut r, 0, SEC), 0x59);
        assert_eq!(rd(&mut r, 0, SEC - 1), 0x59);
    }

    #[test]
    fn update_ended_interrupt_and_register_c() {
        let mut r = rtc();
        wr(&mut r, 0x0B, 0x12, 0); // UIE
        assert!(!r.irq_line());
        assert_eq!(r.next_event_ns(), Some(SEC));
        r.on_event(SEC);
        assert!(r.irq_line());
        assert_eq!(r.next_event_ns(), None, "nothing to do while IRQF is set");
        // PF is set too: the default rate (26h) runs whether or not PIE is on.
        assert_eq!(rd(&mut r, 0x0C, SEC), 0xD0);
        assert!(!r.irq_line());
        assert_eq!(rd(&mut r, 0x0C, SEC), 0x00, "cleared on read");
        assert_eq!(r.next_event_ns(), Some(2 * SEC));
    }

    #[test]
    fn periodic_interrupt_at_1024hz() {
        let mut r = rtc();
        wr(&mut r, 0x0B, 0x42, 0);
        let first = r.next_event_ns().unwrap();
        assert!(first > 0 && first <= 976_563);
        r.on_event(first);
        assert_eq!(rd(&mut r, 0x0C, first), 0xC0);
        let second = r.next_event_ns().unwrap();
        assert_eq!(second - first, 976_562);
        // Flags are set even when disabled.
        wr(&mut r, 0x0B, 0x02, second);
        assert_eq!(rd(&mut r, 0x0C, second + 2_000_000) & 0xC0, 0x40);
    }

    #[test]
    fn rate_select_table() {
        let mut r = rtc();
        for (rs, ns) in [
            (3u8, 122_070u64),
            (6, 976_562),
            (15, 500_000_000),
            (1, 3_906_250),
            (2, 7_812_500),
        ] {
            wr(&mut r, 0x0A, 0x20 | rs, 0);
            assert_eq!(
                r.period_ticks().map(|p| p as u64 * SEC / 32_768),
                Some(ns),
                "rs {rs}"
            );
        }
    }

    #[test]
    fn alarm_interrupt() {
        let mut r = rtc();
        wr(&mut r, 0x05, 0x00, 0);
        wr(&mut r, 0x03, 0x00, 0);
        wr(&mut r, 0x01, 0x01, 0); // 00:00:01
        wr(&mut r, 0x0B, 0x22, 0);
        r.on_event(SEC);
        assert!(!r.irq_line());
        r.on_event(2 * SEC);
        assert!(!r.irq_line());
        r.on_event(3 * SEC);
        assert!(r.irq_line());
        assert_eq!(rd(&mut r, 0x0C, 3 * SEC), 0xF0);
    }

    #[test]
    fn alarm_dont_care_and_bulk_catch_up() {
        let mut r = rtc();
        wr(&mut r, 0x05, 0xC0, 0);
        wr(&mut r, 0x03, 0x30, 0);
        wr(&mut r, 0x01, 0xFF, 0); // every second of minute 30 of every hour
                                   // Nobody looks for two hours; the flag must still be set.
        assert_eq!(rd(&mut r, 0x0C, 7200 * SEC) & 0x20, 0x20);
    }

    #[test]
    fn set_bit_inhibits_updates_and_clears_uie() {
        let mut r = rtc();
        wr(&mut r, 0x0B, 0x12, 0);
        wr(&mut r, 0x0B, 0x92, 0);
        assert_eq!(rd(&mut r, 0x0B, 0), 0x82, "UIE cleared by SET");
        wr(&mut r, 0x00, 0x30, 0);
        wr(&mut r, 0x02, 0x15, 0);
        wr(&mut r, 0x04, 0x10, 0);
        assert_eq!(rd(&mut r, 0, 5 * SEC), 0x30);
        assert_eq!(
            rd(&mut r, 0x0A, 5 * SEC - 100_000) & 0x80,
            0,
            "no UIP while SET"
        );
        wr(&mut r, 0x0B, 0x02, 5 * SEC);
        assert_eq!(rd(&mut r, 0, 6 * SEC), 0x31);
        assert_eq!(rd(&mut r, 2, 6 * SEC), 0x15);
    }

    #[test]
    fn divider_reset_holds_and_restarts_half_a_second_later() {
        let mut r = rtc();
        wr(&mut r, 0x0A, 0x70, 0);
        assert_eq!(rd(&mut r, 0, 10 * SEC), 0x58);
        wr(&mut r, 0x0A, 0x26, 10 * SEC);
        assert_eq!(rd(&mut r, 0, 10 * SEC + SEC / 2 - 1), 0x58);
        assert_eq!(rd(&mut r, 0, 10 * SEC + SEC / 2), 0x59);
    }

    #[test]
    fn nvram_and_bios_helpers() {
        let mut r = rtc();
        wr(&mut r, 0x40, 0xA5, 0);
        assert_eq!(rd(&mut r, 0x40, 0), 0xA5);
        wr(&mut r, 0x7F, 0x5A, 0);
        assert_eq!(r.nvram(0x7F), 0x5A);
        let word = |r: &Rtc, i: u8| r.nvram(i) as u16 | (r.nvram(i + 1) as u16) << 8;
        r.set_memory_size(32 << 20);
        assert_eq!(word(&r, 0x15), 640);
        assert_eq!(word(&r, 0x17), 31 * 1024);
        assert_eq!(word(&r, 0x30), 31 * 1024);
        assert_eq!(word(&r, 0x34), 256);
        r.set_memory_size(128 << 20);
        assert_eq!(word(&r, 0x17), 0xFFFF, "17h/18h saturate near 64 MiB");
        assert_eq!(word(&r, 0x34), 112 * 16);
        r.set_equipment(0x41);
        r.set_century(21);
        assert_eq!(r.nvram(0x32), 0x21);
        r.update_checksum();
        let sum: u16 = (0x10..=0x2D).map(|i| r.nvram(i) as u16).sum();
        assert_eq!((r.nvram(0x2E) as u16) << 8 | r.nvram(0x2F) as u16, sum);
        r.set_nvram(0x00, 0x12);
        assert_eq!(rd(&mut r, 0, 0), 0x58, "clock bytes are not NVRAM");
    }

    #[test]
    fn nmi_mask_bit_and_index_wrap() {
        let mut r = rtc();
        r.write_port(0x70, 0x80 | 0x09, 0);
        assert!(r.nmi_masked());
        assert_eq!(r.read_port(0x71, 0), 0x24);
        assert_eq!(r.read_port(0x70, 0), 0xFF);
    }

    #[test]
    fn calendar_round_trip() {
        for s in (0..CYCLE_DAYS * SECS_PER_DAY).step_by(7_777_777) {
            assert_eq!(Fields::from_cycle_secs(s, 1).cycle_secs(), s);
        }
        for days in [-800_000i64, -1, 0, 59, 11_016, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert!(
                (1..=12).contains(&m) && (1..=31).contains(&d),
                "{y}-{m}-{d}"
            );
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn every_register_value_is_safe() {
        let mut r = rtc();
        let mut t = 0;
        for i in 0..=255u8 {
            for v in (0..=255u8).step_by(3) {
                t += 1_000_003;
                wr(&mut r, i, v, t);
                rd(&mut r, i, t);
                r.next_event_ns();
            }
        }
        // Nonsense hours in every format.
        for b in [0x00, 0x02, 0x04, 0x06] {
            wr(&mut r, 0x0B, b, t);
            for v in 0..=255u8 {
                wr(&mut r, 4, v, t);
                rd(&mut r, 4, t + 86_400 * SEC);
            }
        }
    }
}
