//! int 09h (keyboard IRQ) and int 16h: scan codes (set 1, as the 8042 translates them) become
//! (scan, ASCII) words in the BIOS data area's 16-entry ring buffer.

use emu_cpu::{Cpu, Reg};

use crate::{eoi, set_frame_flag, wait_and_retry, Bios, Platform, Regs, ZF};

const BDA_FLAGS: u32 = 0x417;
const BDA_FLAGS2: u32 = 0x418;
const BDA_HEAD: u32 = 0x41A;
const BDA_TAIL: u32 = 0x41C;
const BDA_BUF_START: u32 = 0x480;
const BDA_BUF_END: u32 = 0x482;
const BDA_KBD_STATUS3: u32 = 0x496;

const RSHIFT: u8 = 1;
const LSHIFT: u8 = 2;
const CTRL: u8 = 4;
const ALT: u8 = 8;
const CAPS: u8 = 0x40;

/// Set-1 make codes 00h-39h: (normal, shifted) ASCII.
const KEYS: [(u8, u8); 0x3A] = [
    (0, 0),
    (0x1B, 0x1B),
    (b'1', b'!'),
    (b'2', b'@'),
    (b'3', b'#'),
    (b'4', b'$'),
    (b'5', b'%'),
    (b'6', b'^'),
    (b'7', b'&'),
    (b'8', b'*'),
    (b'9', b'('),
    (b'0', b')'),
    (b'-', b'_'),
    (b'=', b'+'),
    (8, 8),
    (9, 0),
    (b'q', b'Q'),
    (b'w', b'W'),
    (b'e', b'E'),
    (b'r', b'R'),
    (b't', b'T'),
    (b'y', b'Y'),
    (b'u', b'U'),
    (b'i', b'I'),
    (b'o', b'O'),
    (b'p', b'P'),
    (b'[', b'{'),
    (b']', b'}'),
    (b'\r', b'\r'),
    (0, 0), // ctrl
    (b'a', b'A'),
    (b's', b'S'),
    (b'd', b'D'),
    (b'f', b'F'),
    (b'g', b'G'),
    (b'h', b'H'),
    (b'j', b'J'),
    (b'k', b'K'),
    (b'l', b'L'),
    (b';', b':'),
    (b'\'', b'"'),
    (b'`', b'~'),
    (0, 0), // left shift
    (b'\\', b'|'),
    (b'z', b'Z'),
    (b'x', b'X'),
    (b'c', b'C'),
    (b'v', b'V'),
    (b'b', b'B'),
    (b'n', b'N'),
    (b'm', b'M'),
    (b',', b'<'),
    (b'.', b'>'),
    (b'/', b'?'),
    (0, 0), // right shift
    (b'*', b'*'),
    (0, 0), // alt
    (b' ', b' '),
];

/// Translates a make code to the (scan, ASCII) word int 16h returns, given shift states.
fn key_word(scan: u8, flags: u8, extended: bool) -> Option<u16> {
    let shift = flags & (LSHIFT | RSHIFT) != 0;
    let ctrl = flags & CTRL != 0;
    let alt = flags & ALT != 0;
    let word = |s: u8, a: u8| Some(((s as u16) << 8) | a as u16);
    match scan {
        // F1-F10
        0x3B..=0x44 => {
            let base = if alt {
                0x68
            } else if ctrl {
                0x5E
            } else if shift {
                0x54
            } else {
                scan
            };
            word(base + if base == scan { 0 } else { scan - 0x3B }, 0)
        }
        0x57 | 0x58 => word(scan + 0x2E, 0), // F11/F12 -> 85h/86h
        // Cursor block and keypad: extended keys report E0 as ASCII.
        0x47..=0x53 => {
            let a = if extended { 0xE0 } else { 0 };
            if !extended {
                let keypad = b"789-456+1230.";
                let c = keypad[(scan - 0x47) as usize];
                if shift ^ (flags & 0x20 != 0) {
                    return word(scan, c);
                }
            }
            word(scan, a)
        }
        0x35 if extended => word(0xE0, b'/'),
        0x1C if extended => word(0xE0, b'\r'),
        s if (s as usize) < KEYS.len() => {
            let (n, sh) = KEYS[s as usize];
            if n == 0 {
                return None;
            }
            if alt {
                return word(s, 0);
            }
            let letter = n.is_ascii_lowercase();
            let upper = shift ^ (letter && flags & CAPS != 0);
            let mut c = if upper { sh } else { n };
            if ctrl {
                c = match n {
                    b'a'..=b'z' => n - b'a' + 1,
                    b'[' => 0x1B,
                    b'\\' => 0x1C,
                    b']' => 0x1D,
                    b'-' => 0x1F,
                    b'\r' => 0x0A,
                    8 => 0x7F,
                    _ => return None,
                };
            }
            word(s, c)
        }
        _ => None,
    }
}

fn buf_bounds<B: Platform>(cpu: &Cpu<B>) -> (u16, u16) {
    let start = cpu.mem.read_u16(BDA_BUF_START);
    let end = cpu.mem.read_u16(BDA_BUF_END);
    if start < 0x1E || end <= start + 2 || end > 0x200 {
        (0x1E, 0x3E)
    } else {
        (start, end)
    }
}

/// Appends a key to the ring buffer (dropped when full, as a real BIOS beeps).
pub(crate) fn push_key<B: Platform>(cpu: &mut Cpu<B>, word: u16) {
    let (start, end) = buf_bounds(cpu);
    let tail = cpu.mem.read_u16(BDA_TAIL);
    let mut next = tail + 2;
    if next >= end {
        next = start;
    }
    if next == cpu.mem.read_u16(BDA_HEAD) {
        return;
    }
    cpu.mem.write_u16(0x400 + tail as u32, word);
    cpu.mem.write_u16(BDA_TAIL, next);
}

pub(crate) fn int09<B: Platform>(_bios: &mut Bios, cpu: &mut Cpu<B>) {
    let code = cpu.bus.io_read(0x60, 1) as u8;
    let status3 = cpu.mem.read_u8(BDA_KBD_STATUS3);
    let extended = status3 & 2 != 0;
    cpu.mem.write_u8(BDA_KBD_STATUS3, status3 & !2);
    let mut flags = cpu.mem.read_u8(BDA_FLAGS);
    match code {
        0xE0 => cpu.mem.write_u8(BDA_KBD_STATUS3, status3 | 2),
        0x2A => flags |= LSHIFT,
        0xAA => flags &= !LSHIFT,
        0x36 => flags |= RSHIFT,
        0xB6 => flags &= !RSHIFT,
        0x1D => flags |= CTRL,
        0x9D => flags &= !CTRL,
        0x38 => flags |= ALT,
        0xB8 => flags &= !ALT,
        0x3A => flags ^= CAPS,
        0x45 if !extended => flags ^= 0x20,
        c if c & 0x80 == 0 => {
            if let Some(w) = key_word(c, flags, extended) {
                push_key(cpu, w);
            }
        }
        _ => {}
    }
    cpu.mem.write_u8(BDA_FLAGS, flags);
    let f2 = cpu.mem.read_u8(BDA_FLAGS2);
    cpu.mem.write_u8(BDA_FLAGS2, f2);
    eoi(cpu, false);
}

pub(crate) fn int16<B: Platform>(_bios: &mut Bios, cpu: &mut Cpu<B>) {
    let ah = cpu.ah();
    let head = cpu.mem.read_u16(BDA_HEAD);
    let tail = cpu.mem.read_u16(BDA_TAIL);
    let empty = head == tail;
    match ah {
        0x00 | 0x10 => {
            if empty {
                return wait_and_retry(cpu);
            }
            let w = cpu.mem.read_u16(0x400 + head as u32);
            let (start, end) = buf_bounds(cpu);
            let mut next = head + 2;
            if next >= end {
                next = start;
            }
            cpu.mem.write_u16(BDA_HEAD, next);
            cpu.set16(Reg::Eax, w);
        }
        0x01 | 0x11 => {
            if !empty {
                let w = cpu.mem.read_u16(0x400 + head as u32);
                cpu.set16(Reg::Eax, w);
            }
            set_frame_flag(cpu, ZF, empty);
        }
        0x02 | 0x12 => {
            let f = cpu.mem.read_u8(BDA_FLAGS);
            cpu.set_al(f);
            if ah == 0x12 {
                let f2 = cpu.mem.read_u8(BDA_FLAGS2);
                cpu.set_ah(f2);
            }
        }
        0x05 => {
            let cx = cpu.cx();
            push_key(cpu, cx);
            cpu.set_al(0);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_words() {
        assert_eq!(key_word(0x1E, 0, false), Some(0x1E61));
        assert_eq!(key_word(0x1E, LSHIFT, false), Some(0x1E41));
        assert_eq!(key_word(0x1E, CTRL, false), Some(0x1E01));
        assert_eq!(key_word(0x1C, 0, false), Some(0x1C0D));
        assert_eq!(key_word(0x48, 0, true), Some(0x48E0));
        assert_eq!(key_word(0x3B, 0, false), Some(0x3B00));
    }
}
