//! The virtual clock and the event queue.
//!
//! Guest time is a count of nanoseconds since power-on. It only moves when the front end calls
//! [`crate::Board::advance_to`] with a time derived from retired instructions, so a run is
//! reproducible and the board never looks at the host clock (the RTC's start time aside).
//!
//! Devices do not hold timers themselves. Each timed source has one slot ([`EventKind`]) holding
//! the absolute guest time of its next event; the board asks the device for that time after
//! every access and every event, and stores it here. One slot per source is all the PC needs
//! (a device never has two different things due at once that it could not fold into one), it
//! makes rescheduling and cancelling a store, and the earliest deadline is cached so the CPU's
//! "is an event due" question is a single load and compare.

/// A timed event source. Adding a device with its own timing (ATA, VGA retrace, ...) means a new
/// variant here and a new arm in the board's dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// A rising edge of PIT channel 0's output, which drives IRQ 0.
    Pit0 = 0,
    /// The RTC sets a flag whose interrupt is enabled (periodic, alarm or update-ended).
    Rtc = 1,
    /// The UART's receive FIFO character timeout.
    UartTimeout = 2,
}

impl EventKind {
    /// Number of event sources.
    pub const COUNT: usize = 3;
    /// All sources, in slot order.
    pub const ALL: [EventKind; EventKind::COUNT] =
        [EventKind::Pit0, EventKind::Rtc, EventKind::UartTimeout];
}

/// Sentinel deadline for an empty slot.
const NEVER: u64 = u64::MAX;

/// Guest time plus one pending deadline per [`EventKind`].
#[derive(Clone, Debug)]
pub struct Clock {
    now: u64,
    deadlines: [u64; EventKind::COUNT],
    /// Earliest entry of `deadlines` (NEVER when all are empty).
    next: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// Time zero, nothing scheduled.
    pub fn new() -> Self {
        Clock {
            now: 0,
            deadlines: [NEVER; EventKind::COUNT],
            next: NEVER,
        }
    }

    /// Current guest time in nanoseconds.
    #[inline]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves guest time forward (never backward: an earlier time is ignored).
    pub fn set_now(&mut self, now: u64) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Sets (or replaces) the deadline of `kind`; `None` cancels it.
    pub fn schedule(&mut self, kind: EventKind, at: Option<u64>) {
        self.deadlines[kind as usize] = at.unwrap_or(NEVER);
        self.next = self.deadlines.iter().copied().min().unwrap_or(NEVER);
    }

    /// Cancels the deadline of `kind`.
    pub fn cancel(&mut self, kind: EventKind) {
        self.schedule(kind, None);
    }

    /// The deadline of `kind`, if any.
    pub fn deadline(&self, kind: EventKind) -> Option<u64> {
        let d = self.deadlines[kind as usize];
        (d != NEVER).then_some(d)
    }

    /// The earliest pending deadline.
    #[inline]
    pub fn next_event_ns(&self) -> Option<u64> {
        (self.next != NEVER).then_some(self.next)
    }

    /// The earliest deadline of any source other than `kind` (used to coalesce periodic events).
    pub fn next_excluding(&self, kind: EventKind) -> Option<u64> {
        let d = self
            .deadlines
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != kind as usize)
            .map(|(_, &d)| d)
            .min()
            .unwrap_or(NEVER);
        (d != NEVER).then_some(d)
    }

    /// Removes and returns the earliest event due at or before `limit`, with its deadline.
    /// Ties go to the lower slot, so the order is deterministic.
    pub fn pop_due(&mut self, limit: u64) -> Option<(EventKind, u64)> {
        if self.next > limit {
            return None;
        }
        let (slot, &at) = self
            .deadlines
            .iter()
            .enumerate()
            .min_by_key(|&(i, &d)| (d, i))?;
        if at > limit {
            return None;
        }
        let kind = EventKind::ALL[slot];
        self.cancel(kind);
        Some((kind, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_queue_has_no_deadline() {
        let mut c = Clock::new();
        assert_eq!(c.next_event_ns(), None);
        assert_eq!(c.pop_due(u64::MAX - 1), None);
    }

    #[test]
    fn events_come_out_in_time_order() {
        let mut c = Clock::new();
        c.schedule(EventKind::Rtc, Some(300));
        c.schedule(EventKind::Pit0, Some(200));
        c.schedule(EventKind::UartTimeout, Some(100));
        assert_eq!(c.next_event_ns(), Some(100));
        assert_eq!(c.pop_due(250), Some((EventKind::UartTimeout, 100)));
        assert_eq!(c.pop_due(250), Some((EventKind::Pit0, 200)));
        assert_eq!(c.pop_due(250), None);
        assert_eq!(c.next_event_ns(), Some(300));
        assert_eq!(c.next_excluding(EventKind::Rtc), None);
    }

    #[test]
    fn rescheduling_replaces_and_cancel_removes() {
        let mut c = Clock::new();
        c.schedule(EventKind::Pit0, Some(50));
        c.schedule(EventKind::Pit0, Some(500));
        assert_eq!(c.next_event_ns(), Some(500));
        c.cancel(EventKind::Pit0);
        assert_eq!(c.next_event_ns(), None);
    }

    #[test]
    fn ties_are_deterministic_and_time_is_monotonic() {
        let mut c = Clock::new();
        c.schedule(EventKind::UartTimeout, Some(10));
        c.schedule(EventKind::Pit0, Some(10));
        assert_eq!(c.pop_due(10).map(|e| e.0), Some(EventKind::Pit0));
        c.set_now(100);
        c.set_now(50);
        assert_eq!(c.now(), 100);
    }
}
