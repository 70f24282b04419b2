//! VGA registers and text mode, as the BIOS, boot loaders and Linux's `vgacon` use them.
//!
//! The text buffer itself is ordinary guest RAM at B8000h (the CPU writes it directly); this
//! device holds the registers and reads that RAM when the front end asks for a
//! [`TextScreen`]. It starts in the state a VGA BIOS leaves after setting mode 3 (80x25 colour
//! text, 9x16 characters, cursor on lines 13-14).
//!
//! Facts from the IBM VGA technical reference that this model follows:
//! - Misc output bit 0 selects the CRTC and Input Status 1 at 3Dxh (colour) or 3Bxh (mono); the
//!   other block does not respond.
//! - CRTC register 11h bit 7 write-protects registers 0-7, except bit 4 (line compare bit 8) of
//!   register 07h.
//! - Reading Input Status 1 resets the attribute controller's flip-flop to "index". Writes to
//!   3C0h alternate between index and data; bit 5 of the index (palette address source) must be
//!   set for the screen to show. 3C1h reads the selected register.
//! - The DAC has separate read (3C7h) and write (3C8h) indices; each 3C9h access moves through
//!   red, green and blue, then to the next entry. Values are 6 bits.
//! - The displayed height is the vertical display end (CRTC 12h, with bits 8-9 in 07h) plus
//!   one, in scan lines; the character height is max scan line (09h) bits 0-4 plus one, doubled
//!   by its bit 7. 400 lines / 16 = 25 rows, 400 / 8 = 50 rows. The width is horizontal display
//!   end (01h) plus one characters; a row is Offset (13h) x 2 characters apart in word mode.
//! - The start address (0Ch/0Dh) and cursor location (0Eh/0Fh) count characters from the start
//!   of the memory window; the cursor is hidden by bit 5 of 0Ah, and a start line greater than
//!   the end line shows no cursor.
//!
//! Retrace is not timed: each read of Input Status 1 advances a counter, so the display-enable
//! and vertical retrace bits toggle and every "wait for retrace" loop ends.
//!
//! Graphics modes are not rendered: [`Vga::mode`] describes them so the front end can say so.

use emu_mmu::Memory;

/// A character cell: the code page 437 byte and its attribute.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Cell {
    pub ch: u8,
    pub attr: u8,
}

/// The hardware text cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub row: usize,
    pub col: usize,
    /// Enabled, inside the screen, and with start line <= end line.
    pub visible: bool,
    /// First and last scan line of the cursor inside the character cell.
    pub start: u8,
    pub end: u8,
    /// Character cell height in scan lines, to scale start/end.
    pub cell_height: u8,
}

/// What the display shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VgaMode {
    Text80x25,
    Text80x50,
    /// A text layout or graphics mode the front end does not render, described for a notice
    /// ("graphics mode 320x200, 256 colours").
    Unsupported(String),
}

/// A snapshot of the text screen for the front end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextScreen {
    pub mode: VgaMode,
    pub cols: usize,
    pub rows: usize,
    /// `rows * cols` cells, row-major. Empty in graphics modes.
    pub cells: Vec<Cell>,
    pub cursor: Cursor,
    /// Attribute bit 7 blinks the character (true) or selects a bright background (false).
    pub blink: bool,
    /// Screen output enabled (sequencer screen-off clear and attribute palette source set).
    pub enabled: bool,
    /// RGB (8 bits each) of the 16 text colours through the attribute palette and the DAC.
    pub palette: [[u8; 3]; 16],
}

impl TextScreen {
    /// The cell at (row, col), if inside the screen.
    pub fn cell(&self, row: usize, col: usize) -> Option<Cell> {
        if col >= self.cols {
            return None;
        }
        self.cells.get(row * self.cols + col).copied()
    }

    /// One row as text (CP437 mapped to Unicode), for tests and logs.
    pub fn row_text(&self, row: usize) -> String {
        (0..self.cols)
            .filter_map(|c| self.cell(row, c))
            .map(|c| cp437(c.ch))
            .collect()
    }
}

/// CRTC registers of mode 3.
const MODE3_CRTC: [u8; 25] = [
    0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00, 0x00,
    0x9C, 0x8E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF,
];
const MODE3_SEQ: [u8; 5] = [0x03, 0x00, 0x03, 0x00, 0x02];
const MODE3_GC: [u8; 9] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF];
const MODE3_AC: [u8; 21] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
    0x0C, 0x00, 0x0F, 0x08, 0x00,
];
const MODE3_MISC: u8 = 0x67;

/// VGA register state.
#[derive(Clone, Debug)]
pub struct Vga {
    misc: u8,
    seq_index: u8,
    seq: [u8; 5],
    crtc_index: u8,
    crtc: [u8; 25],
    gc_index: u8,
    gc: [u8; 9],
    /// Attribute index register (bits 0-4 index, bit 5 palette address source).
    ac_index: u8,
    ac: [u8; 21],
    /// Next 3C0h write is data (true) or index (false).
    ac_flip: bool,
    feature: u8,
    subsystem_enable: u8,
    pel_mask: u8,
    dac: [[u8; 3]; 256],
    dac_read_index: u8,
    dac_write_index: u8,
    dac_component: u8,
    /// Last DAC index written was the read index (3C7h) rather than the write index (3C8h).
    dac_reading: bool,
    retrace_counter: u8,
}

impl Default for Vga {
    fn default() -> Self {
        Self::new()
    }
}

impl Vga {
    /// A VGA in mode 3.
    pub fn new() -> Self {
        let mut v = Vga {
            misc: 0,
            seq_index: 0,
            seq: [0; 5],
            crtc_index: 0,
            crtc: [0; 25],
            gc_index: 0,
            gc: [0; 9],
            ac_index: 0,
            ac: [0; 21],
            ac_flip: false,
            feature: 0,
            subsystem_enable: 1,
            pel_mask: 0xFF,
            dac: [[0; 3]; 256],
            dac_read_index: 0,
            dac_write_index: 0,
            dac_component: 0,
            dac_reading: false,
            retrace_counter: 0,
        };
        v.set_mode3();
        v
    }

    /// Machine reset: back to mode 3.
    pub fn reset(&mut self) {
        *self = Vga::new();
    }

    /// Loads the registers of BIOS mode 3 (80x25 colour text, 9x16 font) and the standard
    /// 64-colour EGA palette into the DAC. For the built-in BIOS's int 10h AH=00h.
    pub fn set_mode3(&mut self) {
        self.misc = MODE3_MISC;
        self.seq = MODE3_SEQ;
        self.crtc = MODE3_CRTC;
        self.gc = MODE3_GC;
        self.ac = MODE3_AC;
        self.ac_index = 0x20;
        self.ac_flip = false;
        self.pel_mask = 0xFF;
        self.dac = [[0; 3]; 256];
        for (i, e) in self.dac.iter_mut().take(64).enumerate() {
            // EGA colour bits: 0-2 = blue, green, red at 2/3 intensity; 3-5 at 1/3.
            let level = |hi: usize, lo: usize| (((i >> hi) & 1) * 42 + ((i >> lo) & 1) * 21) as u8;
            *e = [level(2, 5), level(1, 4), level(0, 3)];
        }
    }

    /// Switches mode 3 to 50 rows with the 8-line font (int 10h AX=1112h), cursor on lines 6-7.
    pub fn set_text_8x8(&mut self) {
        self.crtc[0x09] = (self.crtc[0x09] & 0xE0) | 0x07;
        self.crtc[0x0A] = (self.crtc[0x0A] & 0xE0) | 0x06;
        self.crtc[0x0B] = (self.crtc[0x0B] & 0xE0) | 0x07;
        self.crtc[0x14] = 0x07;
    }

    /// The ports the VGA answers: 3B0h-3DFh; the board may route the whole range.
    pub fn handles(port: u16) -> bool {
        (0x3B0..=0x3DF).contains(&port)
    }

    fn color(&self) -> bool {
        self.misc & 1 != 0
    }

    /// Port read of `size` bytes (wide reads take consecutive ports).
    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        let size = size.clamp(1, 4);
        (0..u16::from(size)).fold(0u32, |v, i| {
            v | u32::from(self.read8(port.wrapping_add(i))) << (8 * i)
        })
    }

    /// Port write of `size` bytes (`outw 3D4h, ax` writes the index and then the data).
    pub fn write(&mut self, port: u16, size: u8, value: u32) {
        let size = size.clamp(1, 4);
        for i in 0..u16::from(size) {
            self.write8(port.wrapping_add(i), (value >> (8 * i)) as u8);
        }
    }

    /// Maps a mono (3Bxh) or colour (3Dxh) port to its colour alias, or None when that block is
    /// not the one the misc register selects.
    fn crt_port(&self, port: u16) -> Option<u16> {
        match port {
            0x3B0..=0x3BF if !self.color() => Some(port + 0x20),
            0x3D0..=0x3DF if self.color() => Some(port),
            _ => None,
        }
    }

    fn read8(&mut self, port: u16) -> u8 {
        match port {
            0x3C0 => self.ac_index,
            0x3C1 => self
                .ac
                .get(usize::from(self.ac_index & 0x1F))
                .copied()
                .unwrap_or(0),
            0x3C2 => 0x10, // input status 0: switch sense
            0x3C3 => self.subsystem_enable,
            0x3C4 => self.seq_index,
            0x3C5 => self
                .seq
                .get(usize::from(self.seq_index))
                .copied()
                .unwrap_or(0xFF),
            0x3C6 => self.pel_mask,
            0x3C7 => {
                if self.dac_reading {
                    0x03
                } else {
                    0x00
                }
            }
            0x3C8 => self.dac_write_index,
            0x3C9 => self.dac_data_read(),
            0x3CA => self.feature,
            0x3CC => self.misc,
            0x3CE => self.gc_index,
            0x3CF => self
                .gc
                .get(usize::from(self.gc_index))
                .copied()
                .unwrap_or(0xFF),
            _ => match self.crt_port(port) {
                // Index registers at 3D0h/2h/4h/6h and data at 3D1h/3h/5h/7h (incomplete decode).
                Some(0x3D0 | 0x3D2 | 0x3D4 | 0x3D6) => self.crtc_index,
                Some(0x3D1 | 0x3D3 | 0x3D5 | 0x3D7) => self
                    .crtc
                    .get(usize::from(self.crtc_index))
                    .copied()
                    .unwrap_or(0xFF),
                Some(0x3DA) => self.input_status1(),
                _ => 0xFF,
            },
        }
    }

    fn write8(&mut self, port: u16, v: u8) {
        match port {
            0x3C0 => {
                if self.ac_flip {
                    let i = usize::from(self.ac_index & 0x1F);
                    if let Some(r) = self.ac.get_mut(i) {
                        // Palette entries are 6 bits.
                        *r = if i < 16 { v & 0x3F } else { v };
                    }
                } else {
                    self.ac_index = v & 0x3F;
                }
                self.ac_flip = !self.ac_flip;
            }
            0x3C2 => self.misc = v,
            0x3C3 => self.subsystem_enable = v & 1,
            0x3C4 => self.seq_index = v & 0x07,
            0x3C5 => {
                if let Some(r) = self.seq.get_mut(usize::from(self.seq_index)) {
                    *r = v;
                }
            }
            0x3C6 => self.pel_mask = v,
            0x3C7 => {
                self.dac_read_index = v;
                self.dac_component = 0;
                self.dac_reading = true;
            }
            0x3C8 => {
                self.dac_write_index = v;
                self.dac_component = 0;
                self.dac_reading = false;
            }
            0x3C9 => self.dac_data_write(v),
            0x3CE => self.gc_index = v & 0x0F,
            0x3CF => {
                if let Some(r) = self.gc.get_mut(usize::from(self.gc_index)) {
                    *r = v;
                }
            }
            _ => match self.crt_port(port) {
                Some(0x3D0 | 0x3D2 | 0x3D4 | 0x3D6) => self.crtc_index = v & 0x3F,
                Some(0x3D1 | 0x3D3 | 0x3D5 | 0x3D7) => self.crtc_write(v),
                Some(0x3DA) => self.feature = v,
                _ => {}
            },
        }
    }

    fn crtc_write(&mut self, v: u8) {
        let i = usize::from(self.crtc_index);
        if i >= self.crtc.len() {
            return;
        }
        let protected = self.crtc[0x11] & 0x80 != 0;
        if protected && i <= 7 {
            if i == 7 {
                self.crtc[7] = (self.crtc[7] & !0x10) | (v & 0x10);
            }
            return;
        }
        self.crtc[i] = v;
    }

    fn input_status1(&mut self) -> u8 {
        self.ac_flip = false;
        self.retrace_counter = self.retrace_counter.wrapping_add(1);
        let c = self.retrace_counter;
        // Bit 0: display disabled (in a blanking interval); bit 3: vertical retrace.
        let display_disabled = c & 1;
        let retrace = (c >> 1) & 1;
        display_disabled | retrace << 3
    }

    fn dac_data_read(&mut self) -> u8 {
        let v = self.dac[usize::from(self.dac_read_index)][usize::from(self.dac_component)];
        self.dac_component += 1;
        if self.dac_component == 3 {
            self.dac_component = 0;
            self.dac_read_index = self.dac_read_index.wrapping_add(1);
        }
        v
    }

    fn dac_data_write(&mut self, v: u8) {
        self.dac[usize::from(self.dac_write_index)][usize::from(self.dac_component)] = v & 0x3F;
        self.dac_component += 1;
        if self.dac_component == 3 {
            self.dac_component = 0;
            self.dac_write_index = self.dac_write_index.wrapping_add(1);
        }
    }

    /// Graphics-mode bit in the graphics controller (06h bit 0) or attribute mode control.
    fn graphics(&self) -> bool {
        self.gc[6] & 1 != 0 || self.ac[0x10] & 1 != 0
    }

    /// Whether the guest selected a graphics mode (graphics controller 06h bit 0 or attribute
    /// mode control bit 0).
    pub fn graphics_mode(&self) -> bool {
        self.graphics()
    }

    /// Chain odd/even (graphics controller 06h bit 1): set in the text modes.
    pub fn odd_even(&self) -> bool {
        self.gc[6] & 2 != 0
    }

    /// Where the text planes live in guest RAM: B8000h with colour addressing, B0000h with
    /// mono, 32 KiB. The display scans the planes whatever CPU window graphics controller 06h
    /// selects (`vgacon` briefly maps A0000h to load a font), so this does not follow it.
    fn text_base(&self) -> u32 {
        if self.color() {
            0xB_8000
        } else {
            0xB_0000
        }
    }

    /// The CPU memory window selected by graphics controller register 06h: (base, size).
    pub fn memory_window(&self) -> (u32, u32) {
        match (self.gc[6] >> 2) & 3 {
            0 => (0xA_0000, 0x2_0000),
            1 => (0xA_0000, 0x1_0000),
            2 => (0xB_0000, 0x8000),
            _ => (0xB_8000, 0x8000),
        }
    }

    /// Visible scan lines (vertical display end + 1).
    fn scan_lines(&self) -> u32 {
        let ovf = u32::from(self.crtc[7]);
        let vde = u32::from(self.crtc[0x12]) | (ovf & 0x02) << 7 | (ovf & 0x40) << 3;
        vde + 1
    }

    /// Character cell height in scan lines (max scan line + 1, doubled by double scanning).
    fn cell_height(&self) -> u32 {
        let h = u32::from(self.crtc[9] & 0x1F) + 1;
        if self.crtc[9] & 0x80 != 0 {
            h * 2
        } else {
            h
        }
    }

    fn text_cols(&self) -> usize {
        usize::from(self.crtc[1]) + 1
    }

    fn text_rows(&self) -> usize {
        (self.scan_lines() / self.cell_height()).max(1) as usize
    }

    /// What the display shows now.
    pub fn mode(&self) -> VgaMode {
        if self.graphics() {
            return VgaMode::Unsupported(self.describe_graphics());
        }
        match (self.text_cols(), self.text_rows()) {
            (80, 25) => VgaMode::Text80x25,
            (80, 50) => VgaMode::Text80x50,
            (c, r) => VgaMode::Unsupported(format!("{c}x{r} text mode")),
        }
    }

    fn describe_graphics(&self) -> String {
        let dot = if self.seq[1] & 1 != 0 { 8 } else { 9 };
        let mut width = (u32::from(self.crtc[1]) + 1) * dot;
        let mut height = self.scan_lines();
        let lines_per_row = u32::from(self.crtc[9] & 0x1F) + 1;
        height /= lines_per_row * if self.crtc[9] & 0x80 != 0 { 2 } else { 1 };
        let colours = if self.gc[5] & 0x40 != 0 {
            width /= 2;
            256
        } else if self.gc[5] & 0x20 != 0 {
            4
        } else if self.ac[0x12] & 0x0F == 0x01 {
            2
        } else {
            16
        };
        format!("graphics mode {width}x{height}, {colours} colours")
    }

    /// Rendering of the text screen from guest memory. In graphics modes the cells are empty
    /// and `mode` says what the guest selected.
    pub fn snapshot(&self, mem: &Memory) -> TextScreen {
        let mode = self.mode();
        let base = self.text_base();
        let window = 0x8000;
        let graphics = self.graphics();
        let cols = if graphics { 0 } else { self.text_cols() };
        let rows = if graphics { 0 } else { self.text_rows() };
        let start = usize::from(self.crtc[0x0C]) << 8 | usize::from(self.crtc[0x0D]);
        let stride = match usize::from(self.crtc[0x13]) * 2 {
            0 => cols,
            s => s,
        };
        let mut cells = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let off = (2 * (start + r * stride + c)) % window;
                let addr = base + off as u32;
                cells.push(Cell {
                    ch: mem.read_u8(addr),
                    attr: mem.read_u8(addr + 1),
                });
            }
        }
        let cell_height = self.cell_height().min(32) as u8;
        let location = usize::from(self.crtc[0x0E]) << 8 | usize::from(self.crtc[0x0F]);
        let cstart = self.crtc[0x0A] & 0x1F;
        let cend = self.crtc[0x0B] & 0x1F;
        let mut cursor = Cursor {
            row: 0,
            col: 0,
            visible: false,
            start: cstart,
            end: cend,
            cell_height,
        };
        let pos = location.checked_sub(start);
        if let Some((row, col)) = pos.and_then(|p| Some((p.checked_div(stride)?, p % stride))) {
            cursor.row = row;
            cursor.col = col;
            cursor.visible = self.crtc[0x0A] & 0x20 == 0
                && cstart <= cend
                && cstart < cell_height
                && row < rows
                && col < cols;
        }
        TextScreen {
            mode,
            cols,
            rows,
            cells,
            cursor,
            blink: self.ac[0x10] & 0x08 != 0,
            enabled: self.seq[1] & 0x20 == 0 && self.ac_index & 0x20 != 0,
            palette: self.text_palette(),
        }
    }

    /// The 16 text colours: attribute palette -> colour select -> PEL mask -> DAC.
    fn text_palette(&self) -> [[u8; 3]; 16] {
        let mut out = [[0u8; 3]; 16];
        let select = self.ac[0x14];
        for (i, rgb) in out.iter_mut().enumerate() {
            let p = self.ac[i];
            let index = if self.ac[0x10] & 0x80 != 0 {
                (p & 0x0F) | (select & 0x03) << 4
            } else {
                p & 0x3F
            } | (select & 0x0C) << 4;
            let e = self.dac[usize::from(index & self.pel_mask)];
            // 6-bit DAC values to 8 bits.
            *rgb = e.map(|c| (c << 2) | (c >> 4));
        }
        out
    }
}

/// Code page 437 bytes 00h-1Fh as their glyphs (00h shows as a space).
const CP437_LOW: [char; 32] = [
    ' ', '☺', '☻', '♥', '♦', '♣', '♠', '•', '◘', '○', '◙', '♂', '♀', '♪', '♫', '☼', //
    '►', '◄', '↕', '‼', '¶', '§', '▬', '↨', '↑', '↓', '→', '←', '∟', '↔', '▲', '▼',
];

/// Code page 437 bytes 80h-FFh.
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{A0}',
];

/// The Unicode character for a code page 437 byte, as the VGA's default font draws it.
pub fn cp437(b: u8) -> char {
    match b {
        0x00..=0x1F => CP437_LOW[usize::from(b)],
        0x7F => '⌂',
        0x20..=0x7E => char::from(b),
        _ => CP437_HIGH[usize::from(b - 0x80)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Memory {
        Memory::new(1 << 20).unwrap()
    }

    fn put(m: &mut Memory, cell: usize, s: &str, attr: u8) {
        for (i, b) in s.bytes().enumerate() {
            m.write_u8(0xB8000 + 2 * (cell + i) as u32, b);
            m.write_u8(0xB8001 + 2 * (cell + i) as u32, attr);
        }
    }

    fn crtc(v: &mut Vga, index: u8, value: u8) {
        v.write(0x3D4, 2, u32::from(index) | u32::from(value) << 8);
    }

    #[test]
    fn mode3_defaults_and_text() {
        let mut m = mem();
        let v = Vga::new();
        put(&mut m, 0, "Hello", 0x07);
        put(&mut m, 80 * 24 + 75, "world", 0x1F);
        let s = v.snapshot(&m);
        assert_eq!(s.mode, VgaMode::Text80x25);
        assert_eq!((s.cols, s.rows, s.cells.len()), (80, 25, 2000));
        assert!(s.row_text(0).starts_with("Hello"));
        assert!(s.row_text(24).ends_with("world"));
        assert_eq!(
            s.cell(24, 79),
            Some(Cell {
                ch: b'd',
                attr: 0x1F
            })
        );
        assert_eq!(s.cell(25, 0), None);
        assert!(s.blink && s.enabled);
        let c = s.cursor;
        assert_eq!(
            (c.row, c.col, c.visible, c.start, c.end, c.cell_height),
            (0, 0, true, 13, 14, 16)
        );
        // Standard colours: 7 = light grey (AAAAAA), 6 = brown (AA5500), 14 = yellow.
        assert_eq!(s.palette[7], [0xAA, 0xAA, 0xAA]);
        assert_eq!(s.palette[6], [0xAA, 0x55, 0x00]);
        assert_eq!(s.palette[14], [0xFF, 0xFF, 0x55]);
        assert_eq!(s.palette[1], [0x00, 0x00, 0xAA]);
    }

    #[test]
    fn cursor_and_start_address() {
        let mut m = mem();
        let mut v = Vga::new();
        // vgacon-style: cursor at row 3, column 10.
        let pos = 3 * 80 + 10;
        crtc(&mut v, 0x0E, (pos >> 8) as u8);
        crtc(&mut v, 0x0F, pos as u8);
        assert_eq!(
            (v.snapshot(&m).cursor.row, v.snapshot(&m).cursor.col),
            (3, 10)
        );
        // Hardware scroll: start address one row down.
        put(&mut m, 80, "second", 0x07);
        crtc(&mut v, 0x0C, 0);
        crtc(&mut v, 0x0D, 80);
        let s = v.snapshot(&m);
        assert!(s.row_text(0).starts_with("second"));
        assert_eq!((s.cursor.row, s.cursor.col), (2, 10));
        // Wrap around the 32K window.
        crtc(&mut v, 0x0C, 0x3F);
        crtc(&mut v, 0x0D, 0xF0); // 0x3FF0 = 16368 cells: 16 cells before the end
        put(&mut m, 0, "wrap", 0x07);
        let s = v.snapshot(&m);
        assert_eq!(&s.row_text(0)[16..20], "wrap");
        assert!(!s.cursor.visible, "cursor before the start address");
        // Font loading maps plane 2 at A0000h for a moment: the screen still shows the text.
        v.write(0x3CE, 2, 0x0406);
        assert_eq!(v.memory_window(), (0xA0000, 0x10000));
        assert!(!v.odd_even() && !v.graphics_mode());
        assert!(v.snapshot(&m).row_text(0)[16..].starts_with("wrap"));
        v.write(0x3CE, 2, 0x0E06);
        assert!(v.odd_even());
        // Cursor disable bit and an inverted shape.
        crtc(&mut v, 0x0C, 0);
        crtc(&mut v, 0x0D, 0);
        crtc(&mut v, 0x0A, 0x20);
        assert!(!v.snapshot(&m).cursor.visible);
        crtc(&mut v, 0x0A, 0x0F);
        crtc(&mut v, 0x0B, 0x00);
        assert!(!v.snapshot(&m).cursor.visible);
        crtc(&mut v, 0x0A, 0x00);
        crtc(&mut v, 0x0B, 0x0F);
        let c = v.snapshot(&m).cursor;
        assert!(c.visible && c.start == 0 && c.end == 15);
        // Reads back through 3D5h.
        v.write(0x3D4, 1, 0x0B);
        assert_eq!(v.read(0x3D5, 1), 0x0F);
    }

    #[test]
    fn rows_from_max_scan_line() {
        let m = mem();
        let mut v = Vga::new();
        crtc(&mut v, 0x09, 0x47); // 8-line font
        assert_eq!(v.mode(), VgaMode::Text80x50);
        assert_eq!(v.snapshot(&m).rows, 50);
        crtc(&mut v, 0x09, 0x4D); // 14-line font on 400 lines: 28 rows
        assert_eq!(v.mode(), VgaMode::Unsupported("80x28 text mode".into()));
        let mut w = Vga::new();
        w.set_text_8x8();
        let s = w.snapshot(&m);
        assert_eq!(
            (s.mode, s.rows, s.cursor.start, s.cursor.end),
            (VgaMode::Text80x50, 50, 6, 7)
        );
    }

    #[test]
    fn crtc_write_protect() {
        let mut v = Vga::new();
        crtc(&mut v, 0x01, 0x27);
        assert_eq!(v.crtc[1], 0x4F, "protected by 11h bit 7 in mode 3");
        crtc(&mut v, 0x07, 0x00);
        assert_eq!(v.crtc[7], 0x0F, "only bit 4 of 07h is writable");
        crtc(&mut v, 0x11, 0x0E);
        crtc(&mut v, 0x01, 0x27);
        assert_eq!(v.crtc[1], 0x27);
        // Out-of-range index.
        crtc(&mut v, 0x30, 0x12);
        v.write(0x3D4, 1, 0x30);
        assert_eq!(v.read(0x3D5, 1), 0xFF);
    }

    #[test]
    fn attribute_flip_flop_and_blink() {
        let m = mem();
        let mut v = Vga::new();
        v.read(0x3DA, 1);
        v.write(0x3C0, 1, 0x10); // index 10h, palette source off: screen blanks
        assert!(!v.snapshot(&m).enabled);
        v.write(0x3C0, 1, 0x04); // mode control: blink off
        assert_eq!(v.read(0x3C1, 1), 0x04);
        v.write(0x3C0, 1, 0x20); // back to index with palette source on
        let s = v.snapshot(&m);
        assert!(s.enabled && !s.blink);
        // Reading 3DAh between index and data resets the flip-flop: the next write is an index.
        v.read(0x3DA, 1);
        v.write(0x3C0, 1, 0x11);
        v.read(0x3DA, 1);
        v.write(0x3C0, 1, 0x30);
        assert_eq!(v.read(0x3C0, 1), 0x30);
        assert_eq!(
            v.ac[0x11], 0x00,
            "the would-be data write became an index write"
        );
        // Palette entry 1 -> DAC 63 (white).
        v.read(0x3DA, 1);
        v.write(0x3C0, 1, 0x01);
        v.write(0x3C0, 1, 0x3F);
        v.write(0x3C0, 1, 0x20);
        assert_eq!(v.snapshot(&m).palette[1], [0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn retrace_toggles() {
        let mut v = Vga::new();
        let reads: Vec<u32> = (0..8).map(|_| v.read(0x3DA, 1)).collect();
        assert!(reads.iter().any(|r| r & 8 != 0) && reads.iter().any(|r| r & 8 == 0));
        assert!(reads.iter().any(|r| r & 1 != 0) && reads.iter().any(|r| r & 1 == 0));
        // Mono ports are dead while the misc register selects colour, and vice versa.
        assert_eq!(v.read(0x3BA, 1), 0xFF);
        v.write(0x3C2, 1, 0x66);
        assert_eq!(v.read(0x3CC, 1), 0x66);
        assert_eq!(v.read(0x3DA, 1), 0xFF);
        v.write(0x3B4, 1, 0x0F);
        assert_eq!(v.read(0x3B5, 1), 0x00);
        // Mono addressing shows the text at B0000h.
        let mut m = mem();
        m.write_u8(0xB0000, b'M');
        assert!(v.snapshot(&m).row_text(0).starts_with('M'));
    }

    #[test]
    fn dac_cycles() {
        let mut v = Vga::new();
        v.write(0x3C8, 1, 0xFE);
        for c in [1u8, 2, 3, 4, 5, 0xFF] {
            v.write(0x3C9, 1, u32::from(c));
        }
        v.write(0x3C7, 1, 0xFE);
        assert_eq!(v.read(0x3C7, 1), 0x03);
        let got: Vec<u32> = (0..6).map(|_| v.read(0x3C9, 1)).collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 0x3F]);
        assert_eq!(v.read(0x3C8, 1), 0x00, "write index wrapped to 0");
        // Read index wraps too.
        assert_eq!(v.read(0x3C9, 1), 0);
        v.write(0x3C8, 1, 0);
        assert_eq!(v.read(0x3C7, 1), 0x00);
    }

    #[test]
    fn graphics_modes_are_described() {
        let m = mem();
        let mut v = Vga::new();
        // Mode 13h essentials.
        v.write(0x3CE, 2, 0x4005); // GC 5: 256-colour shift
        v.write(0x3CE, 2, 0x0506); // GC 6: graphics, A0000 64K
        v.write(0x3C4, 2, 0x0101); // 8-dot clock
        crtc(&mut v, 0x11, 0x0E);
        crtc(&mut v, 0x09, 0x41); // two scan lines per row
        let s = v.snapshot(&m);
        assert_eq!(
            s.mode,
            VgaMode::Unsupported("graphics mode 320x200, 256 colours".into())
        );
        assert!(s.cells.is_empty());
        assert_eq!(v.memory_window(), (0xA0000, 0x10000));
        // Mode 12h-like: planar 640x480.
        let mut w = Vga::new();
        w.write(0x3CE, 2, 0x0005);
        w.write(0x3CE, 2, 0x0506);
        w.write(0x3C4, 2, 0x0101);
        crtc(&mut w, 0x11, 0x0E);
        crtc(&mut w, 0x09, 0x40);
        crtc(&mut w, 0x12, 0xDF);
        crtc(&mut w, 0x07, 0x3E);
        assert_eq!(
            w.mode(),
            VgaMode::Unsupported("graphics mode 640x480, 16 colours".into())
        );
        w.set_mode3();
        assert_eq!(w.mode(), VgaMode::Text80x25);
    }

    #[test]
    fn cp437_table() {
        assert_eq!(cp437(0x00), ' ');
        assert_eq!(cp437(b'A'), 'A');
        assert_eq!(cp437(0x01), '\u{263A}');
        assert_eq!(cp437(0x7F), '\u{2302}');
        assert_eq!(cp437(0xB0), '\u{2591}');
        assert_eq!(cp437(0xB3), '\u{2502}');
        assert_eq!(cp437(0xC4), '\u{2500}');
        assert_eq!(cp437(0xC9), '\u{2554}');
        assert_eq!(cp437(0xCD), '\u{2550}');
        assert_eq!(cp437(0xDA), '\u{250C}');
        assert_eq!(cp437(0xD9), '\u{2518}');
        assert_eq!(cp437(0xDB), '\u{2588}');
        assert_eq!(cp437(0xDC), '\u{2584}');
        assert_eq!(cp437(0xDF), '\u{2580}');
        assert_eq!(cp437(0xE1), '\u{00DF}');
        assert_eq!(cp437(0xE6), '\u{00B5}');
        assert_eq!(cp437(0xF9), '\u{2219}');
        assert_eq!(cp437(0xFA), '\u{00B7}');
        assert_eq!(cp437(0xFE), '\u{25A0}');
        assert_eq!(cp437(0xFF), '\u{00A0}');
        // Every byte but 00h (an alias of the space) maps to a distinct character.
        let mut all: Vec<char> = (1..=255u8).map(cp437).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 255);
        // Box drawing (B3h-DAh) all sit in U+2500-U+257F, blocks (B0h-B2h, DBh-DFh) in U+2580-U+259F.
        for b in 0xB3..=0xDA {
            assert!(('\u{2500}'..='\u{257F}').contains(&cp437(b)), "{b:#x}");
        }
        for b in [0xB0, 0xB1, 0xB2, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF] {
            assert!(('\u{2580}'..='\u{259F}').contains(&cp437(b)), "{b:#x}");
        }
    }

    #[test]
    fn never_panics() {
        let m = mem();
        let mut v = Vga::new();
        let mut x: u32 = 0xDEAD_BEEF;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = 0x3B0 + (x % 0x30) as u16;
            let size = [1u8, 2, 4, 0][(x >> 6) as usize % 4];
            if x & 0x400 != 0 {
                v.write(port, size, x.rotate_right(11));
            } else {
                v.read(port, size);
            }
            if x & 0xFFF == 0 {
                let s = v.snapshot(&m);
                assert_eq!(s.cells.len(), s.rows * s.cols);
            }
        }
        // Extreme CRTC values.
        let mut w = Vga::new();
        crtc(&mut w, 0x11, 0);
        for (i, val) in [
            (0x01, 0xFF),
            (0x09, 0x9F),
            (0x12, 0xFF),
            (0x07, 0xFF),
            (0x13, 0xFF),
        ] {
            crtc(&mut w, i, val);
        }
        crtc(&mut w, 0x0C, 0xFF);
        crtc(&mut w, 0x0D, 0xFF);
        crtc(&mut w, 0x0E, 0xFF);
        crtc(&mut w, 0x0F, 0xFF);
        let s = w.snapshot(&m);
        assert_eq!(s.cells.len(), s.rows * s.cols);
    }
}
