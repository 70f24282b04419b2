//! Host key events (crossterm) to AT keyboard scan codes of set 1, for a US layout guest.
//!
//! A terminal reports a key as one event (a press; it says nothing about releases unless the
//! kitty keyboard protocol is on), so every event becomes a whole keystroke: the make codes of
//! the modifiers it needs, the key's make and break, then the modifiers' breaks. Shifted
//! characters (`A`, `!`, `{`) bring their own Shift; Ctrl, Alt and Shift on other keys come from
//! the event's modifier flags. Keys of the extended set (arrows, the Home/End block, keypad
//! Enter) carry the E0 prefix in both make and break, as a real MF II keyboard sends them.
//!
//! The result is a list of scan codes, each one make or break with its prefix, so the run loop
//! can hand them to the keyboard a few at a time and never overrun its 16-byte buffer.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// One scan code: a make or a break, with its E0 prefix if it has one.
pub type Code = Vec<u8>;

pub const LSHIFT: u8 = 0x2A;
pub const LCTRL: u8 = 0x1D;
pub const LALT: u8 = 0x38;
const EXTENDED: u8 = 0xE0;
const BREAK: u8 = 0x80;

/// A key position: its set-1 make code and whether it is in the E0 (extended) group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub make: u8,
    pub extended: bool,
}

impl Key {
    const fn plain(make: u8) -> Key {
        Key {
            make,
            extended: false,
        }
    }

    const fn ext(make: u8) -> Key {
        Key {
            make,
            extended: true,
        }
    }

    /// The make code, with its prefix.
    pub fn down(self) -> Code {
        self.code(self.make)
    }

    /// The break code (make with bit 7 set), with its prefix.
    pub fn up(self) -> Code {
        self.code(self.make | BREAK)
    }

    fn code(self, b: u8) -> Code {
        if self.extended {
            vec![EXTENDED, b]
        } else {
            vec![b]
        }
    }
}

/// The key that types an ASCII character on a US keyboard, and whether it needs Shift.
pub fn char_key(c: char) -> Option<(Key, bool)> {
    const ROW_Q: &[u8] = b"qwertyuiop";
    const ROW_A: &[u8] = b"asdfghjkl";
    const ROW_Z: &[u8] = b"zxcvbnm";
    const DIGITS: &[u8] = b"1234567890";
    const SHIFTED_DIGITS: &[u8] = b"!@#$%^&*()";
    // (plain, shifted, make)
    const PUNCT: &[(u8, u8, u8)] = &[
        (b'-', b'_', 0x0C),
        (b'=', b'+', 0x0D),
        (b'[', b'{', 0x1A),
        (b']', b'}', 0x1B),
        (b';', b':', 0x27),
        (b'\'', b'"', 0x28),
        (b'`', b'~', 0x29),
        (b'\\', b'|', 0x2B),
        (b',', b'<', 0x33),
        (b'.', b'>', 0x34),
        (b'/', b'?', 0x35),
    ];
    if !c.is_ascii() {
        return None;
    }
    let b = c as u8;
    let lower = b.to_ascii_lowercase();
    let shift = b.is_ascii_uppercase();
    let at = |row: &[u8], first: u8| {
        row.iter()
            .position(|&x| x == lower)
            .map(|i| (Key::plain(first + i as u8), shift))
    };
    if lower.is_ascii_lowercase() {
        return at(ROW_Q, 0x10)
            .or_else(|| at(ROW_A, 0x1E))
            .or_else(|| at(ROW_Z, 0x2C));
    }
    if let Some(i) = DIGITS.iter().position(|&x| x == b) {
        return Some((Key::plain(0x02 + i as u8), false));
    }
    if let Some(i) = SHIFTED_DIGITS.iter().position(|&x| x == b) {
        return Some((Key::plain(0x02 + i as u8), true));
    }
    for &(plain, shifted, make) in PUNCT {
        if b == plain {
            return Some((Key::plain(make), false));
        }
        if b == shifted {
            return Some((Key::plain(make), true));
        }
    }
    match b {
        b' ' => Some((Key::plain(0x39), false)),
        b'\t' => Some((Key::plain(0x0F), false)),
        b'\r' | b'\n' => Some((Key::plain(0x1C), false)),
        _ => None,
    }
}

/// The key for a non-character key code.
fn special_key(code: KeyCode) -> Option<Key> {
    Some(match code {
        KeyCode::Enter => Key::plain(0x1C),
        KeyCode::Backspace => Key::plain(0x0E),
        KeyCode::Tab | KeyCode::BackTab => Key::plain(0x0F),
        KeyCode::Esc => Key::plain(0x01),
        KeyCode::F(n @ 1..=10) => Key::plain(0x3A + n),
        KeyCode::F(11) => Key::plain(0x57),
        KeyCode::F(12) => Key::plain(0x58),
        KeyCode::Home => Key::ext(0x47),
        KeyCode::Up => Key::ext(0x48),
        KeyCode::PageUp => Key::ext(0x49),
        KeyCode::Left => Key::ext(0x4B),
        KeyCode::Right => Key::ext(0x4D),
        KeyCode::End => Key::ext(0x4F),
        KeyCode::Down => Key::ext(0x50),
        KeyCode::PageDown => Key::ext(0x51),
        KeyCode::Insert => Key::ext(0x52),
        KeyCode::Delete => Key::ext(0x53),
        KeyCode::CapsLock => Key::plain(0x3A),
        KeyCode::NumLock => Key::plain(0x45),
        KeyCode::ScrollLock => Key::plain(0x46),
        _ => return None,
    })
}

/// A keystroke with held modifiers: modifier makes, the key's make and break, modifier
/// breaks (in reverse order).
pub fn stroke(key: Key, shift: bool, ctrl: bool, alt: bool) -> Vec<Code> {
    let mods: Vec<Key> = [(ctrl, LCTRL), (alt, LALT), (shift, LSHIFT)]
        .into_iter()
        .filter(|&(on, _)| on)
        .map(|(_, make)| Key::plain(make))
        .collect();
    let mut out: Vec<Code> = mods.iter().map(|m| m.down()).collect();
    out.push(key.down());
    out.push(key.up());
    out.extend(mods.iter().rev().map(|m| m.up()));
    out
}

/// The scan codes for a terminal key event, or `None` for keys a PC keyboard cannot type
/// (non-ASCII characters, media keys) and for release events.
pub fn key_codes(ev: &KeyEvent) -> Option<Vec<Code>> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    let m = ev.modifiers;
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let alt = m.contains(KeyModifiers::ALT);
    match ev.code {
        KeyCode::Char(c) => {
            let (key, shifted) = char_key(c)?;
            // The character says whether Shift was down ('A', '!'); the flag adds nothing,
            // except for letters typed with Ctrl (terminals report Ctrl-Shift-a as Ctrl-a).
            Some(stroke(key, shifted, ctrl, alt))
        }
        KeyCode::BackTab => Some(stroke(special_key(ev.code)?, true, ctrl, alt)),
        code => {
            let shift = m.contains(KeyModifiers::SHIFT);
            Some(stroke(special_key(code)?, shift, ctrl, alt))
        }
    }
}

/// Ctrl-Alt-Del: held together, then released.
pub fn ctrl_alt_del() -> Vec<Code> {
    stroke(Key::ext(0x53), false, true, true)
}

/// Ctrl plus a letter key (the escape key's literal Ctrl-A, for instance).
pub fn ctrl_letter(c: char) -> Vec<Code> {
    match char_key(c) {
        Some((key, _)) => stroke(key, false, true, false),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, m: KeyModifiers) -> Vec<u8> {
        key_codes(&KeyEvent::new(code, m)).unwrap().concat()
    }

    fn ch(c: char) -> Vec<u8> {
        press(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn letters_digits_and_space() {
        assert_eq!(ch('a'), [0x1E, 0x9E]);
        assert_eq!(ch('q'), [0x10, 0x90]);
        assert_eq!(ch('p'), [0x19, 0x99]);
        assert_eq!(ch('l'), [0x26, 0xA6]);
        assert_eq!(ch('z'), [0x2C, 0xAC]);
        assert_eq!(ch('m'), [0x32, 0xB2]);
        assert_eq!(ch('1'), [0x02, 0x82]);
        assert_eq!(ch('0'), [0x0B, 0x8B]);
        assert_eq!(ch(' '), [0x39, 0xB9]);
    }

    #[test]
    fn shifted_characters_bring_their_shift() {
        assert_eq!(ch('A'), [0x2A, 0x1E, 0x9E, 0xAA]);
        // crossterm marks upper case with SHIFT too: still one Shift.
        assert_eq!(
            press(KeyCode::Char('A'), KeyModifiers::SHIFT),
            [0x2A, 0x1E, 0x9E, 0xAA]
        );
        assert_eq!(ch('$'), [0x2A, 0x05, 0x85, 0xAA]);
        assert_eq!(ch('('), [0x2A, 0x0A, 0x8A, 0xAA]);
        assert_eq!(ch(')'), [0x2A, 0x0B, 0x8B, 0xAA]);
        assert_eq!(ch('*'), [0x2A, 0x09, 0x89, 0xAA]);
        assert_eq!(ch('_'), [0x2A, 0x0C, 0x8C, 0xAA]);
        assert_eq!(ch('|'), [0x2A, 0x2B, 0xAB, 0xAA]);
        assert_eq!(ch('"'), [0x2A, 0x28, 0xA8, 0xAA]);
        assert_eq!(ch('~'), [0x2A, 0x29, 0xA9, 0xAA]);
        assert_eq!(ch('?'), [0x2A, 0x35, 0xB5, 0xAA]);
        assert_eq!(ch('-'), [0x0C, 0x8C]);
        assert_eq!(ch('/'), [0x35, 0xB5]);
        assert_eq!(ch('\\'), [0x2B, 0xAB]);
    }

    #[test]
    fn every_printable_ascii_character_has_a_key() {
        for b in 0x20u8..0x7F {
            let codes = ch(b as char);
            assert!(codes.len() == 2 || codes.len() == 4, "{:?}", b as char);
            // Every make has its break.
            let makes: Vec<u8> = codes.iter().copied().filter(|c| c & 0x80 == 0).collect();
            let breaks: Vec<u8> = codes.iter().map(|c| c & 0x7F).skip(makes.len()).collect();
            let mut rev = makes.clone();
            rev.reverse();
            assert_eq!(breaks, rev, "{:?}", b as char);
        }
        assert!(key_codes(&KeyEvent::new(KeyCode::Char('é'), KeyModifiers::NONE)).is_none());
    }

    #[test]
    fn control_keys() {
        let none = KeyModifiers::NONE;
        assert_eq!(press(KeyCode::Enter, none), [0x1C, 0x9C]);
        assert_eq!(press(KeyCode::Backspace, none), [0x0E, 0x8E]);
        assert_eq!(press(KeyCode::Tab, none), [0x0F, 0x8F]);
        assert_eq!(press(KeyCode::BackTab, none), [0x2A, 0x0F, 0x8F, 0xAA]);
        assert_eq!(press(KeyCode::Esc, none), [0x01, 0x81]);
        assert_eq!(press(KeyCode::F(1), none), [0x3B, 0xBB]);
        assert_eq!(press(KeyCode::F(10), none), [0x44, 0xC4]);
        assert_eq!(press(KeyCode::F(11), none), [0x57, 0xD7]);
        assert_eq!(press(KeyCode::F(12), none), [0x58, 0xD8]);
        assert!(key_codes(&KeyEvent::new(KeyCode::F(13), none)).is_none());
    }

    #[test]
    fn extended_keys_carry_e0() {
        let none = KeyModifiers::NONE;
        for (code, make) in [
            (KeyCode::Up, 0x48),
            (KeyCode::Down, 0x50),
            (KeyCode::Left, 0x4B),
            (KeyCode::Right, 0x4D),
            (KeyCode::Home, 0x47),
            (KeyCode::End, 0x4F),
            (KeyCode::PageUp, 0x49),
            (KeyCode::PageDown, 0x51),
            (KeyCode::Insert, 0x52),
            (KeyCode::Delete, 0x53),
        ] {
            assert_eq!(
                key_codes(&KeyEvent::new(code, none)).unwrap(),
                [vec![0xE0, make], vec![0xE0, make | 0x80]],
                "{code:?}"
            );
        }
        // Shift-PgUp (console scroll-back).
        assert_eq!(
            press(KeyCode::PageUp, KeyModifiers::SHIFT),
            [0x2A, 0xE0, 0x49, 0xE0, 0xC9, 0xAA]
        );
    }

    #[test]
    fn ctrl_and_alt_combinations() {
        // Ctrl-C: what raw mode gives instead of SIGINT.
        assert_eq!(
            press(KeyCode::Char('c'), KeyModifiers::CONTROL),
            [0x1D, 0x2E, 0xAE, 0x9D]
        );
        assert_eq!(
            press(KeyCode::Char('x'), KeyModifiers::ALT),
            [0x38, 0x2D, 0xAD, 0xB8]
        );
        assert_eq!(
            press(KeyCode::Left, KeyModifiers::CONTROL | KeyModifiers::ALT),
            [0x1D, 0x38, 0xE0, 0x4B, 0xE0, 0xCB, 0xB8, 0x9D]
        );
        assert_eq!(
            press(KeyCode::F(2), KeyModifiers::ALT),
            [0x38, 0x3C, 0xBC, 0xB8]
        );
        assert_eq!(ctrl_letter('a').concat(), [0x1D, 0x1E, 0x9E, 0x9D]);
        assert_eq!(
            ctrl_alt_del(),
            [
                vec![0x1D],
                vec![0x38],
                vec![0xE0, 0x53],
                vec![0xE0, 0xD3],
                vec![0xB8],
                vec![0x9D]
            ]
        );
    }

    #[test]
    fn releases_are_ignored() {
        let mut ev = KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE);
        ev.kind = KeyEventKind::Release;
        assert!(key_codes(&ev).is_none());
    }
}
