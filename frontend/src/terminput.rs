//! Bytes typed on a terminal in raw mode to key events: control characters, UTF-8, and the
//! escape sequences xterm, tmux and the Linux console send for arrows, the editing keys and
//! F1-F12, with xterm's modifier parameter (`CSI 1;5A` is Ctrl-Up) and ESC as the Alt prefix.
//!
//! emu reads the terminal itself (a thread blocked in `read` on stdin) rather than through
//! crossterm's event reader, which spins forever once the terminal hangs up (`read` returning
//! 0). Here end of input is a value the run loop acts on: the terminal is gone, emu ends.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

const ESC: u8 = 0x1B;

/// Decodes a stream of terminal input; keeps an incomplete sequence for the next read.
#[derive(Default)]
pub struct InputParser {
    pending: Vec<u8>,
}

/// How decoding at one position went.
enum Step {
    Key(KeyEvent, usize),
    /// Bytes that mean nothing to a keyboard (paste markers, unknown sequences): skip them.
    Skip(usize),
    /// The sequence continues in the next read.
    Incomplete,
}

fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, m)
}

/// xterm's modifier parameter: 1 + (shift 1, alt 2, ctrl 4).
fn modifiers(param: Option<u32>) -> KeyModifiers {
    let bits = param.unwrap_or(1).saturating_sub(1);
    let mut m = KeyModifiers::NONE;
    if bits & 1 != 0 {
        m |= KeyModifiers::SHIFT;
    }
    if bits & 2 != 0 {
        m |= KeyModifiers::ALT;
    }
    if bits & 4 != 0 {
        m |= KeyModifiers::CONTROL;
    }
    m
}

impl InputParser {
    /// Key events in the bytes of one read. An ESC that ends a read is the Esc key (a
    /// terminal sends a sequence in one write, so its rest would be in the same read).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<KeyEvent> {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut i = 0;
        while i < buf.len() {
            match decode(&buf[i..]) {
                Step::Key(k, n) => {
                    out.push(k);
                    i += n;
                }
                Step::Skip(n) => i += n.max(1),
                Step::Incomplete => {
                    // Keep at most a sequence's worth; garbage cannot grow it without bound.
                    if buf.len() - i <= 32 {
                        self.pending = buf[i..].to_vec();
                    }
                    break;
                }
            }
        }
        out
    }
}

/// Decodes the key at the start of `b` (not empty).
fn decode(b: &[u8]) -> Step {
    let none = KeyModifiers::NONE;
    let ctrl = KeyModifiers::CONTROL;
    match b[0] {
        ESC => match b.get(1) {
            None => Step::Key(key(KeyCode::Esc, none), 1),
            Some(b'[') => csi(b),
            Some(b'O') => ss3(b),
            Some(&ESC) => Step::Key(key(KeyCode::Esc, none), 1),
            Some(_) => match decode(&b[1..]) {
                Step::Key(mut k, n) => {
                    k.modifiers |= KeyModifiers::ALT;
                    Step::Key(k, n + 1)
                }
                Step::Skip(n) => Step::Skip(n + 1),
                Step::Incomplete => Step::Incomplete,
            },
        },
        b'\r' => Step::Key(key(KeyCode::Enter, none), 1),
        b'\t' => Step::Key(key(KeyCode::Tab, none), 1),
        0x7F => Step::Key(key(KeyCode::Backspace, none), 1),
        0x00 => Step::Key(key(KeyCode::Char(' '), ctrl), 1),
        c @ 0x01..=0x1A => Step::Key(key(KeyCode::Char(char::from(b'a' + c - 1)), ctrl), 1),
        // Ctrl-\ Ctrl-] Ctrl-^ Ctrl-_ (the keys that make these on a PC keyboard).
        0x1C => Step::Key(key(KeyCode::Char('\\'), ctrl), 1),
        0x1D => Step::Key(key(KeyCode::Char(']'), ctrl), 1),
        0x1E => Step::Key(key(KeyCode::Char('6'), ctrl), 1),
        0x1F => Step::Key(key(KeyCode::Char('-'), ctrl), 1),
        c if c < 0x80 => {
            let ch = char::from(c);
            let m = if ch.is_ascii_uppercase() {
                KeyModifiers::SHIFT
            } else {
                none
            };
            Step::Key(key(KeyCode::Char(ch), m), 1)
        }
        c => {
            let len = match c {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => return Step::Skip(1),
            };
            if b.len() < len {
                return Step::Incomplete;
            }
            match std::str::from_utf8(&b[..len])
                .ok()
                .and_then(|s| s.chars().next())
            {
                Some(ch) => Step::Key(key(KeyCode::Char(ch), none), len),
                None => Step::Skip(1),
            }
        }
    }
}

/// `ESC [ params final`, and the Linux console's `ESC [ [ A`..`E` for F1-F5.
fn csi(b: &[u8]) -> Step {
    let none = KeyModifiers::NONE;
    if b.get(2) == Some(&b'[') {
        return match b.get(3) {
            None => Step::Incomplete,
            Some(&c @ b'A'..=b'E') => Step::Key(key(KeyCode::F(c - b'A' + 1), none), 4),
            Some(_) => Step::Skip(4),
        };
    }
    let mut end = 2;
    while let Some(&c) = b.get(end) {
        if (0x40..=0x7E).contains(&c) {
            break;
        }
        if !(0x20..=0x3F).contains(&c) {
            // Not a CSI sequence after all.
            return Step::Skip(end);
        }
        end += 1;
    }
    let Some(&fin) = b.get(end) else {
        return Step::Incomplete;
    };
    let n = end + 1;
    let params: Vec<Option<u32>> = std::str::from_utf8(&b[2..end])
        .unwrap_or("")
        .split(';')
        .map(|p| p.parse().ok())
        .collect();
    let first = params.first().copied().flatten();
    let m = modifiers(params.get(1).copied().flatten());
    let code = match fin {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'Z' => KeyCode::BackTab,
        b'P'..=b'S' => KeyCode::F(fin - b'P' + 1),
        b'~' => match first {
            Some(1 | 7) => KeyCode::Home,
            Some(2) => KeyCode::Insert,
            Some(3) => KeyCode::Delete,
            Some(4 | 8) => KeyCode::End,
            Some(5) => KeyCode::PageUp,
            Some(6) => KeyCode::PageDown,
            Some(k @ 11..=15) => KeyCode::F((k - 10) as u8),
            Some(k @ 17..=21) => KeyCode::F((k - 11) as u8),
            Some(k @ 23..=24) => KeyCode::F((k - 12) as u8),
            _ => return Step::Skip(n),
        },
        _ => return Step::Skip(n),
    };
    Step::Key(key(code, m), n)
}

/// `ESC O x`: arrows and Home/End in application cursor mode, F1-F4, keypad Enter.
fn ss3(b: &[u8]) -> Step {
    let Some(&c) = b.get(2) else {
        return Step::Incomplete;
    };
    let code = match c {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'M' => KeyCode::Enter,
        b'P'..=b'S' => KeyCode::F(c - b'P' + 1),
        _ => return Step::Skip(3),
    };
    Step::Key(key(code, KeyModifiers::NONE), 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(bytes: &[u8]) -> Vec<(KeyCode, KeyModifiers)> {
        InputParser::default()
            .feed(bytes)
            .into_iter()
            .map(|k| (k.code, k.modifiers))
            .collect()
    }

    const N: KeyModifiers = KeyModifiers::NONE;
    const C: KeyModifiers = KeyModifiers::CONTROL;
    const A: KeyModifiers = KeyModifiers::ALT;
    const S: KeyModifiers = KeyModifiers::SHIFT;

    #[test]
    fn text_and_control_characters() {
        assert_eq!(
            keys(b"e$(A\r"),
            [
                (KeyCode::Char('e'), N),
                (KeyCode::Char('$'), N),
                (KeyCode::Char('('), N),
                (KeyCode::Char('A'), S),
                (KeyCode::Enter, N)
            ]
        );
        assert_eq!(
            keys(b"\x01\x03\t\x7f\x1c"),
            [
                (KeyCode::Char('a'), C),
                (KeyCode::Char('c'), C),
                (KeyCode::Tab, N),
                (KeyCode::Backspace, N),
                (KeyCode::Char('\\'), C)
            ]
        );
        assert_eq!(keys("é".as_bytes()), [(KeyCode::Char('é'), N)]);
    }

    #[test]
    fn escape_sequences() {
        assert_eq!(
            keys(b"\x1b[A\x1b[D\x1bOB\x1b[H\x1b[4~\x1b[5~\x1b[6~\x1b[2~\x1b[3~"),
            [
                (KeyCode::Up, N),
                (KeyCode::Left, N),
                (KeyCode::Down, N),
                (KeyCode::Home, N),
                (KeyCode::End, N),
                (KeyCode::PageUp, N),
                (KeyCode::PageDown, N),
                (KeyCode::Insert, N),
                (KeyCode::Delete, N)
            ]
        );
        assert_eq!(
            keys(b"\x1bOP\x1b[15~\x1b[21~\x1b[24~\x1b[[C\x1b[Z"),
            [
                (KeyCode::F(1), N),
                (KeyCode::F(5), N),
                (KeyCode::F(10), N),
                (KeyCode::F(12), N),
                (KeyCode::F(3), N),
                (KeyCode::BackTab, N)
            ]
        );
        // Modifiers: Ctrl-Up, Shift-PgUp, Alt-x, lone Esc.
        assert_eq!(
            keys(b"\x1b[1;5A\x1b[5;2~\x1bx\x1b"),
            [
                (KeyCode::Up, C),
                (KeyCode::PageUp, S),
                (KeyCode::Char('x'), A),
                (KeyCode::Esc, N)
            ]
        );
        // Bracketed-paste markers and unknown sequences are dropped, text around them kept.
        assert_eq!(
            keys(b"\x1b[200~hi\x1b[201~\x1b[99z!"),
            [
                (KeyCode::Char('h'), N),
                (KeyCode::Char('i'), N),
                (KeyCode::Char('!'), N)
            ]
        );
    }

    #[test]
    fn sequences_split_across_reads() {
        let mut p = InputParser::default();
        assert!(p.feed(b"\x1b[1;").is_empty());
        let k = p.feed(b"5C");
        assert_eq!((k[0].code, k[0].modifiers), (KeyCode::Right, C));
        assert!(p.feed(&"é".as_bytes()[..1]).is_empty());
        assert_eq!(p.feed(&"é".as_bytes()[1..])[0].code, KeyCode::Char('é'));
    }

    #[test]
    fn garbage_never_panics_or_grows() {
        let mut p = InputParser::default();
        let mut x: u32 = 12345;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let bytes = x.to_le_bytes();
            p.feed(&bytes[..(x % 5) as usize]);
            assert!(p.pending.len() <= 32);
        }
        // A long unterminated CSI is dropped rather than kept forever.
        let mut long = b"\x1b[".to_vec();
        long.extend(std::iter::repeat_n(b'1', 100));
        p.feed(&long);
        assert!(p.pending.len() <= 32);
    }
}
