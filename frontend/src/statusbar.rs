//! The one-line status bar under the guest screen: what the guest is doing and how fast.
//!
//! Figures are sampled about once a second by the terminal front end ([`Sampler`]) so the line
//! (and the terminal) changes at most that often while the guest is quiet.

use std::time::{Duration, Instant};

/// What the guest CPU has been doing over the last sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestState {
    /// Executing most of the time.
    Running,
    /// Waiting in HLT for interrupts most of the time.
    Idle,
    /// Stopped in HLT with interrupts disabled: only a reset wakes it.
    Halted,
}

impl GuestState {
    pub fn name(self) -> &'static str {
        match self {
            GuestState::Running => "running",
            GuestState::Idle => "idle",
            GuestState::Halted => "halted",
        }
    }
}

/// The numbers the status bar shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Status {
    pub state: GuestState,
    /// Guest instructions per wall-clock second, in millions.
    pub mips: f64,
    /// Guest time since power-on or the last reset.
    pub uptime: Duration,
    pub sectors_read: u64,
    pub sectors_written: u64,
}

/// The status line text.
pub fn line(s: &Status) -> String {
    let t = s.uptime.as_secs();
    format!(
        " {} | {:.1} MIPS | up {}:{:02}:{:02} | disk r {} w {} | C-a h: help",
        s.state.name(),
        s.mips,
        t / 3600,
        t / 60 % 60,
        t % 60,
        bytes(s.sectors_read * 512),
        bytes(s.sectors_written * 512),
    )
}

/// The help line shown for a few seconds after C-a h.
pub const HELP: &str =
    " C-a then x: quit | r: reset | d: Ctrl-Alt-Del | s: status bar | a: send C-a";

fn bytes(n: u64) -> String {
    const K: u64 = 1024;
    if n < K * K {
        format!("{} KiB", n.div_ceil(K))
    } else if n < K * K * K {
        format!("{:.1} MiB", n as f64 / (K * K) as f64)
    } else {
        format!("{:.2} GiB", n as f64 / (K * K * K) as f64)
    }
}

/// Turns counters read at two moments into rates and a state.
pub struct Sampler {
    wall: Instant,
    icount: u64,
    guest_ns: u64,
    halted_ns: u64,
}

/// Counters read from the machine at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Counters {
    pub icount: u64,
    /// Guest time now.
    pub guest_ns: u64,
    /// Guest time spent in HLT so far.
    pub halted_ns: u64,
    /// The CPU is in HLT with interrupts disabled now.
    pub stopped: bool,
}

impl Sampler {
    pub fn new(now: Instant, c: Counters) -> Sampler {
        Sampler {
            wall: now,
            icount: c.icount,
            guest_ns: c.guest_ns,
            halted_ns: c.halted_ns,
        }
    }

    /// Rates since the previous sample; starts the next one.
    pub fn sample(&mut self, now: Instant, c: Counters) -> (f64, GuestState) {
        let wall = now.duration_since(self.wall).as_secs_f64().max(1e-6);
        // Counters go back to zero on a reset; the first sample after it reads as idle.
        let insns = c.icount.saturating_sub(self.icount);
        let guest = c.guest_ns.saturating_sub(self.guest_ns);
        let halted = c.halted_ns.saturating_sub(self.halted_ns);
        *self = Sampler::new(now, c);
        let state = if c.stopped {
            GuestState::Halted
        } else if guest == 0 || 2 * halted >= guest {
            GuestState::Idle
        } else {
            GuestState::Running
        };
        (insns as f64 / wall / 1e6, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fits_and_reads_well() {
        let s = Status {
            state: GuestState::Running,
            mips: 123.45,
            uptime: Duration::from_secs(3 * 3600 + 62),
            sectors_read: 2 * 2048 + 205,
            sectors_written: 1,
        };
        let l = line(&s);
        assert_eq!(
            l,
            " running | 123.5 MIPS | up 3:01:02 | disk r 2.1 MiB w 1 KiB | C-a h: help"
        );
        // Fits 80 columns with room for larger numbers.
        assert!(l.chars().count() <= 80, "{}", l.chars().count());
        assert!(HELP.chars().count() <= 80);
    }

    #[test]
    fn states_from_halt_time() {
        let t0 = Instant::now();
        let c = |icount, guest_ns, halted_ns, stopped| Counters {
            icount,
            guest_ns,
            halted_ns,
            stopped,
        };
        let mut s = Sampler::new(t0, c(0, 0, 0, false));
        let (mips, st) = s.sample(
            t0 + Duration::from_secs(1),
            c(50_000_000, 1_000_000_000, 0, false),
        );
        assert_eq!((mips.round(), st), (50.0, GuestState::Running));
        let (_, st) = s.sample(
            t0 + Duration::from_secs(2),
            c(50_100_000, 2_000_000_000, 990_000_000, false),
        );
        assert_eq!(st, GuestState::Idle);
        let (_, st) = s.sample(
            t0 + Duration::from_secs(3),
            c(50_100_000, 3_000_000_000, 1_990_000_000, true),
        );
        assert_eq!(st, GuestState::Halted);
        // After a reset the counters start again from zero: no panic, no nonsense.
        let (mips, _) = s.sample(t0 + Duration::from_secs(4), c(10, 10, 0, false));
        assert_eq!(mips, 0.0);
    }
}
