//! Intel 8042 keyboard controller with an AT (MF II) keyboard behind it (ports 60h/64h, IRQ 1).
//!
//! The controller holds one output byte (port 60h, status bit 0 OBF) fed by its own command
//! responses, the keyboard and, on PS/2 controllers, the auxiliary (mouse) port; a command byte
//! (read with 20h, written with 60h) enables the IRQ 1/IRQ 12 outputs, disables the interfaces
//! and turns on translation. Its output port carries the A20 gate (bit 1) and the CPU reset
//! line (bit 0, active low), which is why boot loaders talk to it.
//!
//! Scan codes. A real keyboard sends set 2 and the controller, with command byte bit 6 set (the
//! default), translates it to the XT codes of set 1 that BIOSes and most drivers expect. Here
//! the host API ([`I8042::key_input`]) takes set-1 bytes, including E0/E1 prefixes and breaks
//! with bit 7 set. The keyboard converts them to set 2 (a break becomes F0 + make), and the
//! controller's translation turns them back into the host's bytes, so with translation on the
//! guest sees exactly what the host sent; with translation off it sees genuine set-2 codes; if
//! the guest selects set 1 on the keyboard the bytes go out untranslated by the keyboard.
//! Translation also applies to keyboard replies, so a translated identify reads AB 41 as on
//! real hardware. Set 3 is acknowledged but the keyboard keeps its current set.
//!
//! Auxiliary port: no mouse is attached. Commands to the port itself work (enable, disable,
//! interface test, D3h loop-back); a byte sent to the device with D4h comes back as FEh with the
//! timeout bit, at once, so drivers conclude "no mouse" without waiting.
//!
//! The keyboard buffers at most 16 bytes like real ones; further keys are dropped and the last
//! byte becomes the overrun code. Command responses go ahead of buffered key codes.

use std::collections::VecDeque;

// Status register bits.
const ST_OBF: u8 = 0x01;
const ST_SYS: u8 = 0x04;
const ST_CMD: u8 = 0x08;
const ST_UNLOCKED: u8 = 0x10;
const ST_AUX: u8 = 0x20;
const ST_TIMEOUT: u8 = 0x40;
// Command byte bits.
const CB_KBD_INT: u8 = 0x01;
const CB_AUX_INT: u8 = 0x02;
const CB_SYS: u8 = 0x04;
const CB_KBD_OFF: u8 = 0x10;
const CB_AUX_OFF: u8 = 0x20;
const CB_XLATE: u8 = 0x40;
// Output port bits.
const OP_RESET: u8 = 0x01;
const OP_A20: u8 = 0x02;

const KBD_BUFFER: usize = 16;

/// Set-2 make code to set-1 make code, for the keys of the 101/102/104-key and Japanese
/// layouts (key positions from the IBM scan code tables). 02h and 7Fh are the 8042's aliases
/// of F7 and SysRq, whose set-2 codes 83h and 84h do not fit in seven bits.
const KEYS: &[(u8, u8)] = &[
    (0x76, 0x01),
    (0x16, 0x02),
    (0x1E, 0x03),
    (0x26, 0x04),
    (0x25, 0x05),
    (0x2E, 0x06),
    (0x36, 0x07),
    (0x3D, 0x08),
    (0x3E, 0x09),
    (0x46, 0x0A),
    (0x45, 0x0B),
    (0x4E, 0x0C),
    (0x55, 0x0D),
    (0x66, 0x0E),
    (0x0D, 0x0F),
    (0x15, 0x10),
    (0x1D, 0x11),
    (0x24, 0x12),
    (0x2D, 0x13),
    (0x2C, 0x14),
    (0x35, 0x15),
    (0x3C, 0x16),
    (0x43, 0x17),
    (0x44, 0x18),
    (0x4D, 0x19),
    (0x54, 0x1A),
    (0x5B, 0x1B),
    (0x5A, 0x1C),
    (0x14, 0x1D),
    (0x1C, 0x1E),
    (0x1B, 0x1F),
    (0x23, 0x20),
    (0x2B, 0x21),
    (0x34, 0x22),
    (0x33, 0x23),
    (0x3B, 0x24),
    (0x42, 0x25),
    (0x4B, 0x26),
    (0x4C, 0x27),
    (0x52, 0x28),
    (0x0E, 0x29),
    (0x12, 0x2A),
    (0x5D, 0x2B),
    (0x1A, 0x2C),
    (0x22, 0x2D),
    (0x21, 0x2E),
    (0x2A, 0x2F),
    (0x32, 0x30),
    (0x31, 0x31),
    (0x3A, 0x32),
    (0x41, 0x33),
    (0x49, 0x34),
    (0x4A, 0x35),
    (0x59, 0x36),
    (0x7C, 0x37),
    (0x11, 0x38),
    (0x29, 0x39),
    (0x58, 0x3A),
    (0x05, 0x3B),
    (0x06, 0x3C),
    (0x04, 0x3D),
    (0x0C, 0x3E),
    (0x03, 0x3F),
    (0x0B, 0x40),
    (0x02, 0x41),
    (0x0A, 0x42),
    (0x01, 0x43),
    (0x09, 0x44),
    (0x77, 0x45),
    (0x7E, 0x46),
    (0x6C, 0x47),
    (0x75, 0x48),
    (0x7D, 0x49),
    (0x7B, 0x4A),
    (0x6B, 0x4B),
    (0x73, 0x4C),
    (0x74, 0x4D),
    (0x79, 0x4E),
    (0x69, 0x4F),
    (0x72, 0x50),
    (0x7A, 0x51),
    (0x70, 0x52),
    (0x71, 0x53),
    (0x7F, 0x54),
    (0x61, 0x56),
    (0x78, 0x57),
    (0x07, 0x58),
    // Windows and ACPI keys (sent with E0).
    (0x1F, 0x5B),
    (0x27, 0x5C),
    (0x2F, 0x5D),
    (0x37, 0x5E),
    (0x3F, 0x5F),
    (0x5E, 0x63),
    // F13-F24.
    (0x08, 0x64),
    (0x10, 0x65),
    (0x18, 0x66),
    (0x20, 0x67),
    (0x28, 0x68),
    (0x30, 0x69),
    (0x38, 0x6A),
    (0x40, 0x6B),
    (0x48, 0x6C),
    (0x50, 0x6D),
    (0x57, 0x6E),
    (0x5F, 0x76),
    // Japanese keys: Katakana/Hiragana, Ro, Henkan, Muhenkan, Yen.
    (0x13, 0x70),
    (0x51, 0x73),
    (0x64, 0x79),
    (0x67, 0x7B),
    (0x6A, 0x7D),
];

/// The controller's set-2 to set-1 translation. Codes 00h-7Fh are a one-to-one map (00h, the
/// keyboard's error code, becomes FFh, set 1's); codes without a key are paired off in order
/// so the map stays invertible. 83h (F7) and 84h (SysRq) map to their set-1 codes; every other
/// byte from 80h up passes unchanged, which keeps FAh, AAh, EEh, FEh and the F0 prefix intact.
const fn build_translate() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut used_s1 = [false; 128];
    let mut done_s2 = [false; 128];
    let mut i = 0x80;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t[0x83] = 0x41;
    t[0x84] = 0x54;
    t[0] = 0xFF;
    done_s2[0] = true;
    used_s1[0] = true;
    let mut k = 0;
    while k < KEYS.len() {
        let (s2, s1) = KEYS[k];
        t[s2 as usize] = s1;
        done_s2[s2 as usize] = true;
        used_s1[s1 as usize] = true;
        k += 1;
    }
    let mut s1 = 1;
    let mut s2 = 1;
    while s2 < 128 {
        if !done_s2[s2] {
            while s1 < 127 && used_s1[s1] {
                s1 += 1;
            }
            t[s2] = s1 as u8;
            used_s1[s1] = true;
        }
        s2 += 1;
    }
    t
}

/// Set-1 make code to set-2, the inverse of the translation (F7 and SysRq get their real codes).
const fn build_untranslate(t: &[u8; 256]) -> [u8; 128] {
    let mut u = [0u8; 128];
    let mut s2 = 1;
    while s2 < 128 {
        u[t[s2] as usize & 0x7F] = s2 as u8;
        s2 += 1;
    }
    u[0x41] = 0x83;
    u[0x54] = 0x84;
    u
}

const TRANSLATE_TABLE: [u8; 256] = build_translate();
static TRANSLATE: [u8; 256] = TRANSLATE_TABLE;
static UNTRANSLATE: [u8; 128] = build_untranslate(&TRANSLATE_TABLE);

/// Converts a stream of set-1 bytes to set 2.
pub fn set1_to_set2(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        match b {
            0xE0 | 0xE1 => out.push(b),
            b if b & 0x80 != 0 => {
                out.push(0xF0);
                out.push(UNTRANSLATE[(b & 0x7F) as usize]);
            }
            b => out.push(UNTRANSLATE[b as usize]),
        }
    }
    out
}

/// The AT keyboard.
#[derive(Clone, Debug)]
pub struct Keyboard {
    /// Replies to commands, sent before any key codes.
    replies: VecDeque<u8>,
    /// Key codes in the current set.
    keys: VecDeque<u8>,
    scanning: bool,
    set: u8,
    leds: u8,
    typematic: u8,
    /// A command waiting for its parameter byte.
    expect: Option<u8>,
    last_sent: u8,
}

impl Default for Keyboard {
    fn default() -> Self {
        Self::new()
    }
}

impl Keyboard {
    pub fn new() -> Self {
        Keyboard {
            replies: VecDeque::new(),
            keys: VecDeque::new(),
            scanning: true,
            set: 2,
            leds: 0,
            typematic: 0x2B,
            expect: None,
            last_sent: 0,
        }
    }

    /// LED state last set with EDh (bit 0 scroll, 1 num, 2 caps lock).
    pub fn leds(&self) -> u8 {
        self.leds
    }

    /// Scan code set in use (1 or 2).
    pub fn scan_set(&self) -> u8 {
        self.set
    }

    /// Free bytes in the key buffer, so a host can pace its typing instead of overrunning it.
    pub fn key_room(&self) -> usize {
        KBD_BUFFER.saturating_sub(self.keys.len())
    }

    fn set_defaults(&mut self) {
        self.typematic = 0x2B;
        self.set = 2;
    }

    fn reply(&mut self, bytes: &[u8]) {
        // A guest that never reads cannot grow the queue without bound.
        if self.replies.len() < KBD_BUFFER {
            self.replies.extend(bytes);
        }
    }

    /// A byte from the controller (port 60h written by the guest).
    fn receive(&mut self, b: u8) {
        if let Some(cmd) = self.expect.take() {
            if b < 0xED {
                match cmd {
                    0xED => self.leds = b & 7,
                    0xF3 => self.typematic = b & 0x7F,
                    _ => match b {
                        0 => {
                            self.reply(&[0xFA, self.set]);
                            return;
                        }
                        1 | 2 => self.set = b,
                        _ => {}
                    },
                }
                self.reply(&[0xFA]);
                return;
            }
            // Not a parameter: a new command.
        }
        match b {
            0xED | 0xF0 | 0xF3 => {
                self.expect = Some(b);
                self.reply(&[0xFA]);
            }
            0xEE => self.reply(&[0xEE]),
            0xF2 => self.reply(&[0xFA, 0xAB, 0x83]),
            0xF4 => {
                self.keys.clear();
                self.scanning = true;
                self.reply(&[0xFA]);
            }
            0xF5 => {
                self.set_defaults();
                self.keys.clear();
                self.scanning = false;
                self.reply(&[0xFA]);
            }
            0xF6 => {
                self.set_defaults();
                self.keys.clear();
                self.reply(&[0xFA]);
            }
            0xF7..=0xFD => self.reply(&[0xFA]),
            0xFE => {
                let last = self.last_sent;
                self.reply(&[last]);
            }
            0xFF => {
                self.set_defaults();
                self.keys.clear();
                self.replies.clear();
                self.leds = 0;
                self.scanning = true;
                self.reply(&[0xFA, 0xAA]);
            }
            _ => self.reply(&[0xFE]),
        }
    }

    /// Queues a key event given in set 1.
    fn key_input(&mut self, set1: &[u8]) {
        if !self.scanning {
            return;
        }
        let codes = if self.set == 1 {
            set1.to_vec()
        } else {
            set1_to_set2(set1)
        };
        let overrun = if self.set == 1 { 0xFF } else { 0x00 };
        for b in codes {
            if self.keys.len() < KBD_BUFFER {
                self.keys.push_back(b);
            } else {
                if let Some(last) = self.keys.back_mut() {
                    *last = overrun;
                }
                break;
            }
        }
    }

    fn pop(&mut self) -> Option<u8> {
        let b = self.replies.pop_front().or_else(|| self.keys.pop_front())?;
        self.last_sent = b;
        Some(b)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Kbd,
    Aux,
}

/// The 8042 and its keyboard.
#[derive(Clone, Debug)]
pub struct I8042 {
    cmd_byte: u8,
    out: Option<(u8, Source)>,
    last_out: u8,
    /// Controller-generated bytes waiting for the output buffer.
    pending: VecDeque<(u8, Source)>,
    /// A controller command waiting for its data byte.
    data_cmd: Option<u8>,
    last_was_cmd: bool,
    timeout: bool,
    output_port: u8,
    ram: [u8; 32],
    /// Set-2 break prefix seen while translating.
    xlate_break: bool,
    reset_request: bool,
    pub keyboard: Keyboard,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// Power-on: keyboard interrupt and translation on, SYS flag set (POST passed), A20 gate
    /// open, reset line high.
    pub fn new() -> Self {
        I8042 {
            cmd_byte: CB_XLATE | CB_SYS | CB_KBD_INT,
            out: None,
            last_out: 0,
            pending: VecDeque::new(),
            data_cmd: None,
            last_was_cmd: false,
            timeout: false,
            output_port: 0xC0 | OP_A20 | OP_RESET,
            ram: [0; 32],
            xlate_break: false,
            reset_request: false,
            keyboard: Keyboard::new(),
        }
    }

    /// The command byte (controller RAM byte 0).
    pub fn command_byte(&self) -> u8 {
        self.cmd_byte
    }

    /// State of the A20 gate on the output port.
    pub fn a20(&self) -> bool {
        self.output_port & OP_A20 != 0
    }

    /// Takes a pending CPU reset request (output port bit 0 pulsed or written low).
    pub fn take_reset_request(&mut self) -> bool {
        std::mem::take(&mut self.reset_request)
    }

    /// IRQ 1 level: keyboard data waiting and its interrupt enabled.
    pub fn kbd_irq(&self) -> bool {
        matches!(self.out, Some((_, Source::Kbd))) && self.cmd_byte & CB_KBD_INT != 0
    }

    /// IRQ 12 level: auxiliary data waiting and its interrupt enabled.
    pub fn aux_irq(&self) -> bool {
        matches!(self.out, Some((_, Source::Aux))) && self.cmd_byte & CB_AUX_INT != 0
    }

    /// A key event from the host, as set-1 bytes (see the module notes).
    pub fn key_input(&mut self, set1: &[u8]) {
        self.keyboard.key_input(set1);
        self.fill();
    }

    /// Moves the next byte into the output buffer if it is free.
    fn fill(&mut self) {
        if self.out.is_some() {
            return;
        }
        if let Some(p) = self.pending.pop_front() {
            self.out = Some(p);
            return;
        }
        if self.cmd_byte & CB_KBD_OFF != 0 {
            return;
        }
        while let Some(b) = self.keyboard.pop() {
            if self.cmd_byte & CB_XLATE == 0 {
                self.out = Some((b, Source::Kbd));
                return;
            }
            if b == 0xF0 {
                self.xlate_break = true;
                continue;
            }
            let mut t = TRANSLATE[b as usize];
            if std::mem::take(&mut self.xlate_break) {
                t |= 0x80;
            }
            self.out = Some((t, Source::Kbd));
            return;
        }
    }

    fn respond(&mut self, b: u8) {
        self.queue(b, Source::Kbd);
    }

    /// Queues a controller-generated byte; while the guest does not read, at most a few wait
    /// (the real controller stalls with its output buffer full).
    fn queue(&mut self, b: u8, src: Source) {
        if self.pending.len() < KBD_BUFFER {
            self.pending.push_back((b, src));
        }
    }

    /// Status register (port 64h).
    pub fn status(&self) -> u8 {
        let mut s = ST_UNLOCKED;
        if self.cmd_byte & CB_SYS != 0 {
            s |= ST_SYS;
        }
        match self.out {
            Some((_, Source::Kbd)) => s |= ST_OBF,
            Some((_, Source::Aux)) => s |= ST_OBF | ST_AUX,
            None => {}
        }
        if self.last_was_cmd {
            s |= ST_CMD;
        }
        if self.timeout {
            s |= ST_TIMEOUT;
        }
        s
    }

    /// Port read (60h data, 64h status; others FFh).
    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            0x60 => {
                if let Some((b, _)) = self.out.take() {
                    self.last_out = b;
                    self.timeout = false;
                }
                self.fill();
                self.last_out
            }
            0x64 => self.status(),
            _ => 0xFF,
        }
    }

    /// Port write (60h data, 64h command; others ignored).
    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            0x60 => {
                self.last_was_cmd = false;
                match self.data_cmd.take() {
                    Some(cmd) => self.command_data(cmd, v),
                    None => {
                        // Writing to the keyboard re-enables its interface.
                        self.cmd_byte &= !CB_KBD_OFF;
                        self.keyboard.receive(v);
                    }
                }
            }
            0x64 => {
                self.last_was_cmd = true;
                self.command(v);
            }
            _ => {}
        }
        self.fill();
    }

    fn command(&mut self, c: u8) {
        self.data_cmd = None;
        match c {
            0x20..=0x3F => {
                let v = if c == 0x20 {
                    self.cmd_byte
                } else {
                    self.ram[(c & 0x1F) as usize]
                };
                self.respond(v);
            }
            0x60..=0x7F | 0xD1..=0xD4 => self.data_cmd = Some(c),
            0xA7 => self.cmd_byte |= CB_AUX_OFF,
            0xA8 => self.cmd_byte &= !CB_AUX_OFF,
            0xA9 => self.respond(0x00),
            0xAA => {
                self.respond(0x55);
                self.cmd_byte |= CB_SYS;
            }
            0xAB => self.respond(0x00),
            0xAD => self.cmd_byte |= CB_KBD_OFF,
            0xAE => self.cmd_byte &= !CB_KBD_OFF,
            0xC0 => self.respond(0x80),
            0xD0 => {
                let mut p = self.output_port & !0x30;
                match self.out {
                    Some((_, Source::Kbd)) => p |= 0x10,
                    Some((_, Source::Aux)) => p |= 0x20,
                    None => {}
                }
                self.respond(p);
            }
            0xDD => self.output_port &= !OP_A20,
            0xDF => self.output_port |= OP_A20,
            0xE0 => self.respond(0x00),
            // Pulse the output-port bits whose mask bit is 0; bit 0 is the reset line.
            0xF0..=0xFF if c & 0x01 == 0 => self.reset_request = true,
            _ => {}
        }
    }

    fn command_data(&mut self, cmd: u8, v: u8) {
        match cmd {
            0x60 => self.cmd_byte = v & 0x7F,
            0x61..=0x7F => self.ram[(cmd & 0x1F) as usize] = v,
            0xD1 => {
                if v & OP_RESET == 0 {
                    self.reset_request = true;
                }
                self.output_port = v | OP_RESET;
            }
            0xD2 => self.queue(v, Source::Kbd),
            0xD3 => self.queue(v, Source::Aux),
            0xD4 => {
                // No device on the auxiliary port: the transmission times out.
                self.cmd_byte &= !CB_AUX_OFF;
                self.queue(0xFE, Source::Aux);
                self.timeout = true;
            }
            _ => {}
        }
    }

    /// Back to power-on state (keeps nothing the guest set).
    pub fn reset(&mut self) {
        *self = I8042::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(k: &mut I8042, c: u8) {
        k.write(0x64, c);
    }

    fn drain(k: &mut I8042) -> Vec<u8> {
        let mut v = Vec::new();
        while k.read(0x64) & ST_OBF != 0 && v.len() < 64 {
            v.push(k.read(0x60));
        }
        v
    }

    #[test]
    fn translation_table_is_a_bijection_on_seven_bits() {
        let mut seen = [false; 256];
        for (s2, &s1) in TRANSLATE.iter().enumerate().take(128).skip(1) {
            assert!(s1 < 0x80 && s1 != 0, "{s2:#x}");
            assert!(!seen[s1 as usize], "{s2:#x} -> {s1:#x} twice");
            seen[s1 as usize] = true;
        }
        assert_eq!(TRANSLATE[0x00], 0xFF);
        assert_eq!(TRANSLATE[0x1C], 0x1E, "A");
        assert_eq!(TRANSLATE[0x5A], 0x1C, "Enter");
        assert_eq!(TRANSLATE[0x83], 0x41, "F7");
        for b in [0xFA, 0xAA, 0xEE, 0xFE, 0xE0, 0xE1, 0xF0] {
            assert_eq!(TRANSLATE[b] as usize, b);
        }
    }

    #[test]
    fn set1_to_set2_examples() {
        assert_eq!(set1_to_set2(&[0x1E, 0x9E]), [0x1C, 0xF0, 0x1C]);
        assert_eq!(
            set1_to_set2(&[0xE0, 0x48, 0xE0, 0xC8]),
            [0xE0, 0x75, 0xE0, 0xF0, 0x75]
        );
        assert_eq!(set1_to_set2(&[0x41, 0xC1]), [0x83, 0xF0, 0x83]);
        assert_eq!(
            set1_to_set2(&[0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5]),
            [0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77]
        );
    }

    #[test]
    fn every_set1_key_round_trips_through_translation() {
        for code in 1..0x80u8 {
            let mut k = I8042::new();
            k.key_input(&[code, code | 0x80]);
            assert_eq!(drain(&mut k), [code, code | 0x80], "code {code:#x}");
        }
        let mut k = I8042::new();
        k.key_input(&[0xE0, 0x1D, 0xE0, 0x9D]);
        assert_eq!(drain(&mut k), [0xE0, 0x1D, 0xE0, 0x9D]);
    }

    #[test]
    fn untranslated_gives_set2_and_irq1() {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        k.write(0x60, 0x05); // translation off, SYS, IRQ1
        k.key_input(&[0x10, 0x90]); // Q
        assert!(k.kbd_irq());
        assert_eq!(drain(&mut k), [0x15, 0xF0, 0x15]);
        assert!(!k.kbd_irq());
    }

    #[test]
    fn command_byte_and_self_tests() {
        let mut k = I8042::new();
        cmd(&mut k, 0x20);
        assert_eq!(drain(&mut k), [0x45]);
        cmd(&mut k, 0xAA);
        assert_eq!(drain(&mut k), [0x55]);
        cmd(&mut k, 0xAB);
        assert_eq!(drain(&mut k), [0x00]);
        cmd(&mut k, 0xA9);
        assert_eq!(drain(&mut k), [0x00]);
        cmd(&mut k, 0x60);
        k.write(0x60, 0x74);
        cmd(&mut k, 0x20);
        assert_eq!(drain(&mut k), [0x74]);
        assert_eq!(k.status() & ST_SYS, ST_SYS);
        assert_eq!(k.status() & ST_CMD, ST_CMD);
        k.write(0x60, 0xEE);
        assert_eq!(k.status() & ST_CMD, 0);
        // RAM bytes.
        cmd(&mut k, 0x65);
        k.write(0x60, 0x99);
        cmd(&mut k, 0x25);
        assert_eq!(drain(&mut k), [0xEE, 0x99]);
    }

    #[test]
    fn disable_keyboard_holds_keys() {
        let mut k = I8042::new();
        cmd(&mut k, 0xAD);
        k.key_input(&[0x1E]);
        assert_eq!(k.read(0x64) & ST_OBF, 0);
        cmd(&mut k, 0xAE);
        assert_eq!(drain(&mut k), [0x1E]);
    }

    #[test]
    fn keyboard_commands() {
        let mut k = I8042::new();
        k.write(0x60, 0xFF);
        assert_eq!(drain(&mut k), [0xFA, 0xAA]);
        k.write(0x60, 0xEE);
        assert_eq!(drain(&mut k), [0xEE]);
        k.write(0x60, 0xED);
        k.write(0x60, 0x07);
        assert_eq!(drain(&mut k), [0xFA, 0xFA]);
        assert_eq!(k.keyboard.leds(), 7);
        k.write(0x60, 0xF3);
        k.write(0x60, 0x20);
        assert_eq!(drain(&mut k), [0xFA, 0xFA]);
        k.write(0x60, 0xF5);
        k.key_input(&[0x1E]);
        assert_eq!(drain(&mut k), [0xFA], "disabled keyboard does not scan");
        k.write(0x60, 0xF4);
        k.key_input(&[0x1E]);
        assert_eq!(drain(&mut k), [0xFA, 0x1E]);
        k.write(0x60, 0x42);
        assert_eq!(drain(&mut k), [0xFE], "unknown command");
    }

    #[test]
    fn identify_is_translated_like_hardware() {
        let mut k = I8042::new();
        k.write(0x60, 0xF2);
        assert_eq!(drain(&mut k), [0xFA, 0xAB, 0x41]);
        cmd(&mut k, 0x60);
        k.write(0x60, 0x05);
        k.write(0x60, 0xF2);
        assert_eq!(drain(&mut k), [0xFA, 0xAB, 0x83]);
    }

    #[test]
    fn scan_code_set_selection() {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        k.write(0x60, 0x05); // no translation
        k.write(0x60, 0xF0);
        k.write(0x60, 0x00);
        assert_eq!(drain(&mut k), [0xFA, 0xFA, 0x02]);
        k.write(0x60, 0xF0);
        k.write(0x60, 0x01);
        assert_eq!(drain(&mut k), [0xFA, 0xFA]);
        k.key_input(&[0x1E, 0x9E]);
        assert_eq!(drain(&mut k), [0x1E, 0x9E], "set 1 passes through");
    }

    #[test]
    fn keyboard_buffer_overrun() {
        let mut k = I8042::new();
        cmd(&mut k, 0xAD);
        assert_eq!(k.keyboard.key_room(), 16);
        for _ in 0..20 {
            k.key_input(&[0x1E]);
        }
        assert_eq!(k.keyboard.key_room(), 0, "full: further keys would be lost");
        cmd(&mut k, 0xAE);
        let got = drain(&mut k);
        assert_eq!(
            got.len(),
            16,
            "the output buffer byte plus 15 in the keyboard"
        );
        assert_eq!(*got.last().unwrap(), 0xFF, "overrun code, translated");
    }

    #[test]
    fn output_port_a20_and_reset() {
        let mut k = I8042::new();
        assert!(k.a20());
        cmd(&mut k, 0xD1);
        k.write(0x60, 0xDD);
        assert!(!k.a20());
        assert!(!k.take_reset_request());
        cmd(&mut k, 0xD0);
        assert_eq!(drain(&mut k)[0] & 0x03, 0x01);
        cmd(&mut k, 0xD1);
        k.write(0x60, 0xDF);
        assert!(k.a20());
        cmd(&mut k, 0xFE);
        assert!(k.take_reset_request());
        assert!(!k.take_reset_request());
        cmd(&mut k, 0xFF);
        assert!(!k.take_reset_request(), "FFh pulses nothing");
        cmd(&mut k, 0xD1);
        k.write(0x60, 0x00);
        assert!(k.take_reset_request());
        cmd(&mut k, 0xDD);
        assert!(!k.a20());
    }

    #[test]
    fn aux_port_reports_no_mouse() {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        k.write(0x60, 0x47);
        cmd(&mut k, 0xD3);
        k.write(0x60, 0x5A);
        assert_eq!(k.status() & (ST_OBF | ST_AUX), ST_OBF | ST_AUX);
        assert!(k.aux_irq() && !k.kbd_irq());
        assert_eq!(k.read(0x60), 0x5A);
        cmd(&mut k, 0xD4);
        k.write(0x60, 0xFF);
        assert_eq!(k.status() & (ST_AUX | ST_TIMEOUT), ST_AUX | ST_TIMEOUT);
        assert_eq!(k.read(0x60), 0xFE);
        assert_eq!(k.status() & ST_TIMEOUT, 0);
        cmd(&mut k, 0xA7);
        cmd(&mut k, 0x20);
        assert_eq!(drain(&mut k), [0x67]);
    }

    #[test]
    fn queues_stay_bounded_when_the_guest_never_reads() {
        let mut k = I8042::new();
        for _ in 0..100_000 {
            cmd(&mut k, 0x20);
            k.write(0x60, 0xEE);
        }
        assert!(k.pending.len() <= KBD_BUFFER);
        assert!(k.keyboard.replies.len() <= KBD_BUFFER + 2);
    }

    #[test]
    fn every_port_and_value_is_safe() {
        let mut k = I8042::new();
        for c in 0..=255u8 {
            for v in [0u8, 0x01, 0x5A, 0xF0, 0xFF, c] {
                k.write(0x64, c);
                k.write(0x60, v);
                k.key_input(&[v, c]);
                k.read(0x60);
                k.read(0x64);
                k.take_reset_request();
            }
        }
    }
}
