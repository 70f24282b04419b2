//! Intel 8254 programmable interval timer (ports 40h-43h).
//!
//! The PC clocks all three counters from 14.31818 MHz / 12 = 1.193181666 MHz. Channel 0's
//! output drives IRQ 0; channel 1 once paced DRAM refresh; channel 2's gate and output are
//! wired to port 61h (bit 0 in, bit 5 out) and its output to the speaker. Linux calibrates the
//! TSC by gating channel 2 in mode 0 and polling port 61h bit 5 or the count's high byte.
//!
//! Nothing here is stepped. Each counter remembers the PIT tick at which its counting element
//! was loaded and derives count and output from the virtual clock when asked, so reading the
//! count costs the same whether the guest polls it every microsecond or once an hour. The board
//! asks [`Pit::next_irq0_edge`] for the next rising edge of channel 0's output and puts it on
//! the event queue.
//!
//! Modelled from the 8254 datasheet: modes 0-5 (6 and 7 alias 2 and 3), binary and BCD
//! counting, LSB/MSB/both access, the one-CLK delay between writing a count and loading it, the
//! null-count flag, the counter latch command and the read-back command with status bytes, gate
//! behaviour per mode (0/4 pause, 1/5 trigger, 2/3 stop and reload), mode 2/3 taking a new count
//! at the end of the current period, mode 0 dropping OUT when the first byte of a two-byte count
//! is written. Simplifications: in mode 3 a new count waits for the end of the full period (the
//! chip takes it at the end of the current half period), and the count read in mode 3 follows
//! the decrement-by-two pattern but not the exact odd-count sequence.

/// PIT clock: 3 579 545 ticks every 3 000 000 000 ns (14.31818 MHz / 12).
const TICKS_PER: u128 = 3_579_545;
const NS_PER: u128 = 3_000_000_000;

/// PIT input clock in Hz (rounded), for documentation and callers that want a rate.
pub const PIT_HZ: u32 = 1_193_182;

/// Whole PIT ticks elapsed at guest time `ns`.
pub fn ns_to_ticks(ns: u64) -> u64 {
    (ns as u128 * TICKS_PER / NS_PER) as u64
}

/// The first guest nanosecond at which tick `t` has begun.
pub fn ticks_to_ns(t: u64) -> u64 {
    let ns = (t as u128 * NS_PER).div_ceil(TICKS_PER);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Lsb,
    Msb,
    Both,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Control word written, no count yet (or mode 0 waiting for the second count byte).
    Idle,
    /// Modes 1 and 5: count written, waiting for a gate rising edge.
    Armed,
    /// The counting element was (or will be, at `load_tick`) loaded with `n`.
    Counting,
}

#[derive(Clone, Debug)]
struct Channel {
    mode: u8,
    bcd: bool,
    access: Access,
    /// Count register as written (0 means the maximum count).
    cr: u16,
    /// Count loaded into the counting element, decoded (1..=65536, or 1..=10000 in BCD).
    n: u64,
    state: State,
    load_tick: u64,
    /// Modes 0, 2, 3, 4 with the gate low: ticks elapsed when counting stopped.
    paused: Option<u64>,
    /// Modes 2/3: a count written while counting, taking effect at this tick.
    next: Option<(u64, u64)>,
    gate: bool,
    /// Null count is set until this tick (u64::MAX: until something else happens).
    null_until: u64,
    /// LSB/MSB flip-flops for two-byte access.
    write_msb: bool,
    write_lsb: u8,
    read_msb: bool,
    /// Latched count, and whether its MSB is next in two-byte access.
    latch: Option<u16>,
    latch_msb: bool,
    status: Option<u8>,
    /// For a lone read when nothing was written: the value the counter held.
    last_value: u16,
}

impl Channel {
    fn new() -> Self {
        Channel {
            mode: 0,
            bcd: false,
            access: Access::Lsb,
            cr: 0,
            n: 0x10000,
            state: State::Idle,
            load_tick: 0,
            paused: None,
            next: None,
            gate: true,
            null_until: u64::MAX,
            write_msb: false,
            write_lsb: 0,
            read_msb: false,
            latch: None,
            latch_msb: false,
            status: None,
            last_value: 0,
        }
    }

    /// Decoded value of the count register.
    fn decoded_cr(&self) -> u64 {
        let v = if self.bcd {
            from_bcd(self.cr)
        } else {
            self.cr as u64
        };
        if v == 0 {
            self.modulus()
        } else {
            v
        }
    }

    fn modulus(&self) -> u64 {
        if self.bcd {
            10_000
        } else {
            0x10000
        }
    }

    /// Applies a mode 2/3 count change whose period boundary has passed.
    fn sync(&mut self, t: u64) {
        if let Some((at, n)) = self.next {
            if t >= at {
                self.n = n;
                self.load_tick = at;
                self.next = None;
            }
        }
    }

    /// Ticks counted since the counting element was loaded.
    fn elapsed(&self, t: u64) -> u64 {
        match self.paused {
            Some(e) => e,
            None => t.saturating_sub(self.load_tick),
        }
    }

    fn loaded(&self, t: u64) -> bool {
        self.state == State::Counting && t >= self.load_tick
    }

    /// Output level at tick `t`.
    fn out(&self, t: u64) -> bool {
        if !self.loaded(t) {
            // Mode 0 starts low; every other mode starts high.
            return self.mode != 0;
        }
        let e = self.elapsed(t);
        let n = self.n;
        match self.mode {
            0 => e >= n,
            1 => e >= n,
            2 => self.paused.is_some() || n < 2 || e % n != n - 1,
            3 => self.paused.is_some() || n < 2 || e % n < n.div_ceil(2),
            _ => e != n, // 4 and 5: one tick low when the count reaches zero
        }
    }

    /// Counting element value at tick `t`, in the counter's own encoding.
    fn count(&self, t: u64) -> u16 {
        if !self.loaded(t) {
            return self.last_value;
        }
        let e = self.elapsed(t);
        let n = self.n;
        let m = self.modulus();
        let v = match self.mode {
            2 => n - e % n,
            3 => {
                let x = e % n;
                let high = n.div_ceil(2);
                let even = n & !1;
                if x < high {
                    even.saturating_sub(2 * x)
                } else {
                    even.saturating_sub(2 * (x - high))
                }
            }
            _ => (n % m + m - e % m) % m,
        } % m;
        if self.bcd {
            to_bcd(v)
        } else {
            v as u16
        }
    }

    fn null_count(&self, t: u64) -> bool {
        t < self.null_until
    }

    /// The next rising edge of OUT strictly after tick `after`.
    fn next_rise(&self, after: u64) -> Option<u64> {
        if self.state != State::Counting || self.paused.is_some() {
            return None;
        }
        if let Some((at, _)) = self.next {
            if at > after {
                return Some(at);
            }
        }
        let (l, n) = (self.load_tick, self.n);
        let t = match self.mode {
            0 | 1 => l + n,
            2 | 3 => {
                if n < 2 {
                    return None;
                }
                let k = if after < l { 1 } else { (after - l) / n + 1 };
                l + k * n
            }
            _ => l + n + 1,
        };
        (t > after).then_some(t)
    }

    fn write_control(&mut self, v: u8) {
        let mode = (v >> 1) & 7;
        self.mode = if mode > 5 { mode - 4 } else { mode };
        self.bcd = v & 1 != 0;
        self.access = match (v >> 4) & 3 {
            1 => Access::Lsb,
            2 => Access::Msb,
            _ => Access::Both,
        };
        self.state = State::Idle;
        self.paused = None;
        self.next = None;
        self.null_until = u64::MAX;
        self.write_msb = false;
        self.read_msb = false;
        self.latch = None;
        self.latch_msb = false;
        self.status = None;
    }

    fn control_bits(&self) -> u8 {
        let rw = match self.access {
            Access::Lsb => 1,
            Access::Msb => 2,
            Access::Both => 3,
        };
        (rw << 4) | (self.mode << 1) | self.bcd as u8
    }

    fn write_count(&mut self, v: u8, t: u64) {
        match self.access {
            Access::Lsb => self.cr = v as u16,
            Access::Msb => self.cr = (v as u16) << 8,
            Access::Both => {
                if !self.write_msb {
                    self.write_lsb = v;
                    self.write_msb = true;
                    if self.mode == 0 {
                        // Writing the first byte stops the count and drops OUT.
                        self.last_value = self.count(t);
                        self.state = State::Idle;
                        self.paused = None;
                    }
                    return;
                }
                self.write_msb = false;
                self.cr = self.write_lsb as u16 | (v as u16) << 8;
            }
        }
        self.count_written(t);
    }

    /// A complete count has been written at tick `t`.
    fn count_written(&mut self, t: u64) {
        let n = self.decoded_cr();
        match self.mode {
            1 | 5 => {
                // Takes effect at the next gate trigger; the running one-shot continues.
                if self.state == State::Idle {
                    self.state = State::Armed;
                }
                self.null_until = u64::MAX;
            }
            2 | 3 if self.state == State::Counting && self.paused.is_none() => {
                // The new count is loaded at the end of the current period.
                let l = self.load_tick;
                let at = if t < l {
                    l
                } else {
                    l + ((t - l) / self.n + 1) * self.n
                };
                self.next = Some((at, n));
                self.null_until = at;
            }
            _ => {
                if self.loaded(t) {
                    self.last_value = self.count(t);
                }
                self.n = n;
                self.load_tick = t + 1;
                self.state = State::Counting;
                self.next = None;
                self.null_until = t + 1;
                self.paused = match self.mode {
                    2 | 3 | 0 | 4 if !self.gate => Some(0),
                    _ => None,
                };
            }
        }
    }

    fn set_gate(&mut self, level: bool, t: u64) {
        if level == self.gate {
            return;
        }
        self.gate = level;
        match (self.mode, level) {
            (1 | 5, true) if self.state != State::Idle => {
                // Trigger: load the count register on the next clock.
                if self.loaded(t) {
                    self.last_value = self.count(t);
                }
                self.n = self.decoded_cr();
                self.load_tick = t + 1;
                self.state = State::Counting;
                self.null_until = t + 1;
            }
            (0 | 4, true) => {
                if let Some(e) = self.paused.take() {
                    self.load_tick = t.saturating_sub(e);
                }
            }
            (2 | 3, true) if self.state == State::Counting => {
                // The gate's rising edge reloads the counter from the count register.
                self.paused = None;
                self.next = None;
                self.n = self.decoded_cr();
                self.load_tick = t + 1;
                self.null_until = t + 1;
            }
            (0 | 2 | 3 | 4, false) if self.state == State::Counting && self.paused.is_none() => {
                self.paused = Some(self.elapsed(t));
            }
            _ => {}
        }
    }

    fn latch_count(&mut self, t: u64) {
        if self.latch.is_none() {
            self.latch = Some(self.count(t));
            self.latch_msb = false;
        }
    }

    fn latch_status(&mut self, t: u64) {
        if self.status.is_none() {
            let s =
                (self.out(t) as u8) << 7 | (self.null_count(t) as u8) << 6 | self.control_bits();
            self.status = Some(s);
        }
    }

    fn read(&mut self, t: u64) -> u8 {
        if let Some(s) = self.status.take() {
            return s;
        }
        if let Some(l) = self.latch {
            let [lo, hi] = l.to_le_bytes();
            return match self.access {
                Access::Lsb => {
                    self.latch = None;
                    lo
                }
                Access::Msb => {
                    self.latch = None;
                    hi
                }
                Access::Both => {
                    if self.latch_msb {
                        self.latch = None;
                        self.latch_msb = false;
                        hi
                    } else {
                        self.latch_msb = true;
                        lo
                    }
                }
            };
        }
        let [lo, hi] = self.count(t).to_le_bytes();
        match self.access {
            Access::Lsb => lo,
            Access::Msb => hi,
            Access::Both => {
                self.read_msb = !self.read_msb;
                if self.read_msb {
                    lo
                } else {
                    hi
                }
            }
        }
    }
}

fn from_bcd(v: u16) -> u64 {
    let d = |s: u16| ((v >> s) & 0xF) as u64;
    d(12) * 1000 + d(8) * 100 + d(4) * 10 + d(0)
}

fn to_bcd(v: u64) -> u16 {
    let v = v % 10_000;
    (((v / 1000) << 12) | ((v / 100 % 10) << 8) | ((v / 10 % 10) << 4) | (v % 10)) as u16
}

/// The three counters.
#[derive(Clone, Debug)]
pub struct Pit {
    ch: [Channel; 3],
}

impl Default for Pit {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit {
    /// Power-on: all counters idle, gates of channels 0 and 1 tied high, channel 2's gate low
    /// (port 61h bit 0 is clear at reset).
    pub fn new() -> Self {
        let mut pit = Pit {
            ch: [Channel::new(), Channel::new(), Channel::new()],
        };
        pit.ch[2].gate = false;
        pit
    }

    fn sync(&mut self, t: u64) {
        for c in &mut self.ch {
            c.sync(t);
        }
    }

    /// Port read at guest time `now_ns` (40h-42h; 43h and others read FFh).
    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        let t = ns_to_ticks(now_ns);
        self.sync(t);
        match port {
            0x40..=0x42 => self.ch[(port - 0x40) as usize].read(t),
            _ => 0xFF,
        }
    }

    /// Port write at guest time `now_ns` (40h-43h; others ignored).
    pub fn write(&mut self, port: u16, v: u8, now_ns: u64) {
        let t = ns_to_ticks(now_ns);
        self.sync(t);
        match port {
            0x40..=0x42 => self.ch[(port - 0x40) as usize].write_count(v, t),
            0x43 => {
                let sc = (v >> 6) as usize;
                if sc == 3 {
                    // Read-back: bit 5 clear latches counts, bit 4 clear latches status.
                    for (i, c) in self.ch.iter_mut().enumerate() {
                        if v & (2 << i) != 0 {
                            if v & 0x20 == 0 {
                                c.latch_count(t);
                            }
                            if v & 0x10 == 0 {
                                c.latch_status(t);
                            }
                        }
                    }
                } else if (v >> 4) & 3 == 0 {
                    self.ch[sc].latch_count(t);
                } else {
                    self.ch[sc].write_control(v);
                }
            }
            _ => {}
        }
    }

    /// Drives the gate of `channel` (only channel 2's is wired to anything on the PC).
    pub fn set_gate(&mut self, channel: usize, level: bool, now_ns: u64) {
        let t = ns_to_ticks(now_ns);
        self.sync(t);
        if let Some(c) = self.ch.get_mut(channel) {
            c.set_gate(level, t);
        }
    }

    pub fn gate(&self, channel: usize) -> bool {
        self.ch.get(channel).is_some_and(|c| c.gate)
    }

    /// Output level of `channel` at `now_ns` (port 61h bit 5 reads channel 2's).
    pub fn out(&self, channel: usize, now_ns: u64) -> bool {
        let t = ns_to_ticks(now_ns);
        let mut c = match self.ch.get(channel) {
            Some(c) => c.clone(),
            None => return false,
        };
        c.sync(t);
        c.out(t)
    }

    /// Level the board holds IRQ 0 at. Modes 0 and 1 follow OUT 0 exactly (it stays low for
    /// the whole count). In modes 2-5 OUT is low for only one tick (or half a square wave); the
    /// line is held high and every rising edge is delivered as a low-high pulse, so a pending
    /// IRQ 0 is not withdrawn half-way through a square wave.
    pub fn irq0_line(&self, now_ns: u64) -> bool {
        match self.ch[0].mode {
            0 | 1 => self.out(0, now_ns),
            _ => true,
        }
    }

    /// Guest time of the next rising edge of OUT 0 strictly after `now_ns`.
    pub fn next_irq0_edge(&self, now_ns: u64) -> Option<u64> {
        let t = ns_to_ticks(now_ns);
        let mut c = self.ch[0].clone();
        c.sync(t);
        c.next_rise(t).map(ticks_to_ns)
    }

    /// The last rising edge of OUT 0 at or before `limit_ns` (at or after `from_ns`), used to
    /// fold many periods into one event when time jumps.
    pub fn last_irq0_edge_before(&self, from_ns: u64, limit_ns: u64) -> Option<u64> {
        let mut c = self.ch[0].clone();
        let from = ns_to_ticks(from_ns);
        let limit = ns_to_ticks(limit_ns);
        // A count switch exactly at `from` is itself a rising edge, so stop syncing just short.
        c.sync(from.saturating_sub(1));
        let first = c.next_rise(from.saturating_sub(1))?;
        if first > limit {
            return None;
        }
        let mut last = first;
        loop {
            c.sync(last);
            if matches!(c.mode, 2 | 3) && c.next.is_none() && c.n >= 2 && last >= c.load_tick {
                // Periodic: jump straight to the last period boundary before the limit.
                let k = (limit - c.load_tick) / c.n;
                last = c.load_tick + k * c.n;
                break;
            }
            match c.next_rise(last) {
                Some(t) if t <= limit => last = t,
                _ => break,
            }
        }
        Some(ticks_to_ns(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: u64 = 838; // ns, rounded down

    fn ns(t: u64) -> u64 {
        ticks_to_ns(t)
    }

    #[test]
    fn tick_conversion_round_trips() {
        for t in [0u64, 1, 2, 1000, 1_193_182, 1 << 40] {
            assert_eq!(ns_to_ticks(ticks_to_ns(t)), t);
            assert_eq!(
                ns_to_ticks(ticks_to_ns(t).saturating_sub(1)),
                t.saturating_sub(1).min(t)
            );
        }
        assert_eq!(ns_to_ticks(1_000_000_000), 1_193_181);
        assert_eq!(ticks_to_ns(u64::MAX), u64::MAX);
    }

    #[test]
    fn mode0_counts_down_and_raises_out() {
        let mut p = Pit::new();
        p.write(0x43, 0x30, 0); // ch0, lsb/msb, mode 0
        assert!(!p.out(0, 0));
        p.write(0x40, 100, 0);
        p.write(0x40, 0, 0);
        // Loaded one tick after the write.
        p.write(0x43, 0x00, ns(11));
        assert_eq!(p.read(0x40, ns(11)), 90);
        assert_eq!(p.read(0x40, ns(11)), 0);
        assert!(!p.out(0, ns(100)));
        assert!(p.out(0, ns(101)));
        assert_eq!(p.next_irq0_edge(0), Some(ns(101)));
        assert_eq!(p.next_irq0_edge(ns(101)), None, "one-shot");
        // Keeps counting past zero (wraps to FFFF).
        p.write(0x43, 0x00, ns(102));
        assert_eq!(p.read(0x40, 0), 0xFF);
        assert_eq!(p.read(0x40, 0), 0xFF);
    }

    #[test]
    fn mode0_first_byte_stops_counting() {
        let mut p = Pit::new();
        p.write(0x43, 0x30, 0);
        p.write(0x40, 10, 0);
        p.write(0x40, 0, 0);
        assert!(p.out(0, ns(20)));
        p.write(0x40, 50, ns(20));
        assert!(!p.out(0, ns(25)), "OUT low after first byte");
        assert_eq!(p.next_irq0_edge(ns(25)), None);
        p.write(0x40, 0, ns(30));
        assert_eq!(p.next_irq0_edge(ns(30)), Some(ns(81)));
    }

    #[test]
    fn mode2_rate_generator_edges_and_count() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 0x10, 0);
        p.write(0x40, 0x00, 0); // N = 16
        assert_eq!(p.next_irq0_edge(0), Some(ns(17)));
        assert_eq!(p.next_irq0_edge(ns(17)), Some(ns(33)));
        assert_eq!(p.read(0x40, ns(1)), 16);
        assert_eq!(p.read(0x40, ns(1)), 0);
        assert_eq!(p.read(0x40, ns(16)), 1);
        p.read(0x40, 0);
        assert!(!p.out(0, ns(16)), "low for the tick before reload");
        assert!(p.out(0, ns(17)));
        assert!(p.irq0_line(ns(16)));
    }

    #[test]
    fn mode2_new_count_waits_for_period_end() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 100, 0);
        p.write(0x40, 0, 0); // loads at tick 1, reloads at 101, 201, ...
        p.write(0x40, 10, ns(50));
        p.write(0x40, 0, ns(50));
        p.write(0x43, 0xE2, ns(50)); // read-back status ch0
        assert_eq!(p.read(0x40, ns(50)) & 0x40, 0x40, "null count until reload");
        assert_eq!(p.next_irq0_edge(ns(50)), Some(ns(101)));
        assert_eq!(p.next_irq0_edge(ns(101)), Some(ns(111)));
        assert_eq!(p.read(0x40, ns(105)), 6);
    }

    #[test]
    fn mode3_square_wave() {
        let mut p = Pit::new();
        p.write(0x43, 0x36, 0);
        p.write(0x40, 10, 0);
        p.write(0x40, 0, 0);
        let l = 1;
        for e in 0..5 {
            assert!(p.out(0, ns(l + e)), "high half {e}");
        }
        for e in 5..10 {
            assert!(!p.out(0, ns(l + e)), "low half {e}");
        }
        assert!(p.out(0, ns(l + 10)));
        assert_eq!(p.next_irq0_edge(ns(l + 3)), Some(ns(l + 10)));
        // Count decrements by two.
        assert_eq!(p.read(0x40, ns(l + 1)), 8);
    }

    #[test]
    fn mode3_odd_count_high_longer() {
        let mut p = Pit::new();
        p.write(0x43, 0x16, 0); // lsb only, mode 3
        p.write(0x40, 5, 0);
        let l = 1;
        let highs = (0..5).filter(|&e| p.out(0, ns(l + e))).count();
        assert_eq!(highs, 3);
    }

    #[test]
    fn mode4_strobe_once() {
        let mut p = Pit::new();
        p.write(0x43, 0x18, 0); // ch0 lsb, mode 4
        p.write(0x40, 5, 0);
        assert!(p.out(0, ns(5)));
        assert!(!p.out(0, ns(6)));
        assert!(p.out(0, ns(7)));
        assert_eq!(p.next_irq0_edge(0), Some(ns(7)));
        assert_eq!(p.next_irq0_edge(ns(7)), None);
    }

    #[test]
    fn mode1_waits_for_gate_trigger() {
        let mut p = Pit::new();
        p.write(0x43, 0xB2, 0); // ch2, both, mode 1
        p.write(0x42, 20, 0);
        p.write(0x42, 0, 0);
        assert!(p.out(2, ns(50)), "high until triggered");
        p.write(0x43, 0xE8, ns(50)); // read-back status ch2
        assert_eq!(
            p.read(0x42, ns(50)) & 0x40,
            0x40,
            "null count until trigger"
        );
        p.set_gate(2, true, ns(100));
        assert!(!p.out(2, ns(110)));
        assert!(p.out(2, ns(121)));
        // Retrigger restarts the one-shot.
        p.set_gate(2, false, ns(115));
        p.set_gate(2, true, ns(118));
        assert!(!p.out(2, ns(130)));
        assert!(p.out(2, ns(139)));
    }

    #[test]
    fn mode5_strobe_after_trigger() {
        let mut p = Pit::new();
        p.write(0x43, 0x9A, 0); // ch2 lsb mode 5
        p.write(0x42, 4, 0);
        p.set_gate(2, true, ns(10));
        assert!(p.out(2, ns(14)));
        assert!(!p.out(2, ns(15)));
        assert!(p.out(2, ns(16)));
    }

    #[test]
    fn gate_low_pauses_mode0() {
        let mut p = Pit::new();
        p.set_gate(2, true, 0);
        p.write(0x43, 0xB0, 0);
        p.write(0x42, 100, 0);
        p.write(0x42, 0, 0);
        p.set_gate(2, false, ns(41)); // 40 counted
        assert_eq!(p.read(0x42, ns(500)), 60);
        assert_eq!(p.read(0x42, ns(500)), 0);
        p.set_gate(2, true, ns(1000));
        assert!(!p.out(2, ns(1059)));
        assert!(p.out(2, ns(1060)));
    }

    #[test]
    fn gate_low_stops_mode2_and_forces_out_high() {
        let mut p = Pit::new();
        p.set_gate(2, true, 0);
        p.write(0x43, 0xB4, 0);
        p.write(0x42, 10, 0);
        p.write(0x42, 0, 0);
        p.set_gate(2, false, ns(10));
        assert!(p.out(2, ns(10)));
        p.set_gate(2, true, ns(50));
        assert_eq!(p.read(0x42, ns(51)), 10, "reloaded on gate rise");
    }

    #[test]
    fn linux_tsc_calibration_sequence() {
        // pit_calibrate_tsc: gate high, speaker off, ch2 mode 0 count 0xFFFF... here a 10 ms
        // latch, then poll OUT2 until it rises.
        let latch = 1_193_182u64 / 100;
        let mut p = Pit::new();
        p.set_gate(2, true, 0);
        p.write(0x43, 0xB0, 0);
        p.write(0x42, (latch & 0xFF) as u8, 0);
        p.write(0x42, (latch >> 8) as u8, 0);
        assert!(!p.out(2, 9_999_000));
        assert!(p.out(2, 10_002_000));
    }

    #[test]
    fn quick_calibrate_msb_decrements_smoothly() {
        // quick_pit_calibrate: mode 0, count 0xFFFF, unlatched lsb+msb reads.
        let mut p = Pit::new();
        p.set_gate(2, true, 0);
        p.write(0x43, 0xB0, 0);
        p.write(0x42, 0xFF, 0);
        p.write(0x42, 0xFF, 0);
        let mut last = 0x100;
        for i in 1..200u64 {
            let t = i * 256 * TICK;
            p.read(0x42, t);
            let msb = p.read(0x42, t) as u32;
            assert!(msb <= last);
            last = msb;
        }
        assert!(last < 0x40);
    }

    #[test]
    fn latch_freezes_value() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 0, 0);
        p.write(0x40, 0, 0); // 65536
        p.write(0x43, 0x00, ns(1001));
        let lo = p.read(0x40, ns(5000)) as u16;
        let hi = p.read(0x40, ns(9000)) as u16;
        assert_eq!(lo | hi << 8, (65536 - 1000) as u16);
        // A second latch command while latched is ignored.
        p.write(0x43, 0x00, ns(2001));
        p.write(0x43, 0x00, ns(3001));
        let v = p.read(0x40, 0) as u16 | (p.read(0x40, 0) as u16) << 8;
        assert_eq!(v, (65536 - 2000) as u16);
    }

    #[test]
    fn readback_status_then_count() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 0x00, 0);
        p.write(0x40, 0x01, 0); // 256
        p.write(0x43, 0xC2, ns(11)); // latch count and status of ch0
        let status = p.read(0x40, ns(11));
        assert_eq!(status, 0x80 | 0x34);
        assert_eq!(p.read(0x40, ns(50)), 246);
        assert_eq!(p.read(0x40, ns(50)), 0);
    }

    #[test]
    fn control_word_sets_null_count_and_initial_out() {
        let mut p = Pit::new();
        p.write(0x43, 0x30, 0);
        p.write(0x43, 0xE2, 0);
        assert_eq!(p.read(0x40, 0), 0x40 | 0x30, "mode 0: OUT low, null count");
        p.write(0x43, 0x14, 0);
        p.write(0x43, 0xE2, 0);
        assert_eq!(p.read(0x40, 0), 0x80 | 0x40 | 0x14, "mode 2: OUT high");
    }

    #[test]
    fn bcd_counting() {
        let mut p = Pit::new();
        p.write(0x43, 0x31, 0); // mode 0 BCD
        p.write(0x40, 0x00, 0);
        p.write(0x40, 0x10, 0); // 1000 decimal
        assert_eq!(p.read(0x40, ns(2)), 0x99);
        assert_eq!(p.read(0x40, ns(2)), 0x09); // 0999
        assert!(p.out(0, ns(1001)));
        // Count 0 in BCD means 10000.
        p.write(0x43, 0x31, 0);
        p.write(0x40, 0, 0);
        p.write(0x40, 0, 0);
        assert_eq!(p.next_irq0_edge(0), Some(ns(10_001)));
    }

    #[test]
    fn coalescing_finds_last_periodic_edge() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 100, 0);
        p.write(0x40, 0, 0);
        assert_eq!(p.last_irq0_edge_before(ns(101), ns(1050)), Some(ns(1001)));
        assert_eq!(p.last_irq0_edge_before(ns(101), ns(101)), Some(ns(101)));
        assert_eq!(p.last_irq0_edge_before(ns(102), ns(150)), None);
        // A new count pending at the period end: fold across the switch too.
        p.write(0x40, 10, ns(150));
        p.write(0x40, 0, ns(150));
        assert_eq!(p.last_irq0_edge_before(ns(201), ns(201)), Some(ns(201)));
        assert_eq!(
            p.last_irq0_edge_before(ns(201), ns(1_000_000)),
            Some(ns(999_991))
        );
    }

    #[test]
    fn all_writes_are_safe() {
        let mut p = Pit::new();
        let mut t = 0u64;
        for v in 0..=255u8 {
            for port in 0x40..=0x44u16 {
                t += 977;
                p.write(0x43, v, t);
                p.write(port, v, t);
                p.write(port, v.wrapping_mul(7), t);
                p.read(port, t);
                p.set_gate(2, v & 1 != 0, t);
                p.out(2, t);
                p.next_irq0_edge(t);
                p.last_irq0_edge_before(t, t + 10_000_000);
            }
        }
    }
}
