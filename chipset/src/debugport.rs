//! Debug output ports: the POST code latch at 80h and the Bochs/QEMU debug console at E9h.
//!
//! Firmware writes progress codes to port 80h (a POST card shows the last one); Linux also
//! writes it as an I/O delay, thousands of times, so only the latest code and a short history
//! of changes are kept. Reads of 80h float (FFh).
//!
//! Port E9h is the debug console of Bochs and QEMU: every byte written is collected for the
//! host, and reading returns E9h so software can detect it.

use std::collections::VecDeque;

/// How many distinct POST codes are remembered.
const POST_HISTORY: usize = 64;
/// Console bytes kept for a host that has not drained them (beyond this they are lost).
const CONSOLE_LIMIT: usize = 1 << 20;

#[derive(Clone, Debug, Default)]
pub struct DebugPorts {
    post: Option<u8>,
    post_history: VecDeque<u8>,
    console: Vec<u8>,
}

impl DebugPorts {
    pub fn new() -> Self {
        Self::default()
    }

    /// A write to port 80h.
    pub fn write_post(&mut self, v: u8) {
        if self.post != Some(v) {
            if self.post_history.len() == POST_HISTORY {
                self.post_history.pop_front();
            }
            self.post_history.push_back(v);
        }
        self.post = Some(v);
    }

    /// The last POST code written.
    pub fn post_code(&self) -> Option<u8> {
        self.post
    }

    /// Recent POST codes, oldest first, with repeats collapsed.
    pub fn post_history(&self) -> impl Iterator<Item = u8> + '_ {
        self.post_history.iter().copied()
    }

    /// A write to port E9h.
    pub fn write_console(&mut self, v: u8) {
        if self.console.len() < CONSOLE_LIMIT {
            self.console.push(v);
        }
    }

    /// Takes the bytes written to port E9h since the last call.
    pub fn take_console(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.console)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_codes_collapse_repeats() {
        let mut d = DebugPorts::new();
        assert_eq!(d.post_code(), None);
        for v in [1, 1, 1, 2, 0, 0, 2] {
            d.write_post(v);
        }
        assert_eq!(d.post_code(), Some(2));
        assert_eq!(d.post_history().collect::<Vec<_>>(), [1, 2, 0, 2]);
        for v in 0..200u8 {
            d.write_post(v);
        }
        assert_eq!(d.post_history().count(), POST_HISTORY);
    }

    #[test]
    fn console_collects_bytes() {
        let mut d = DebugPorts::new();
        d.write_console(b'o');
        d.write_console(b'k');
        assert_eq!(d.take_console(), b"ok");
        assert!(d.take_console().is_empty());
    }
}
