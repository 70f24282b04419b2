//! The screen renderer: draws the VGA text screen ([`TextScreen`]) on a terminal with ANSI
//! sequences, sending only what changed since the previous frame.
//!
//! The renderer keeps the frame the terminal shows now. Each new frame is compared cell by
//! cell; runs of changed cells are drawn after one cursor move, and colour sequences are sent
//! only when the colour changes. Anything that changes the whole picture (terminal size, text
//! mode, palette, the blink/bright-background mode, the status bar's place) repaints it all.
//!
//! Colours: the 16 text colours through the guest's palette as 24-bit RGB when the terminal
//! says it can (`COLORTERM=truecolor`), else the terminal's own 16 ANSI colours in VGA order.
//! Attribute bit 7 blinks (the terminal's blink attribute, so blinking costs no redraws) or,
//! with blinking off in the attribute controller, selects a bright background. The hardware
//! cursor becomes the terminal cursor: a block when it covers more than half the cell, else an
//! underline, always blinking as VGA's does; hidden when the CRTC hides it.
//!
//! Nothing here trusts the guest: sizes come from the snapshot, which the VGA model bounds, and
//! every index is checked.

use std::io::{self, Write};

use crossterm::cursor::{Hide, MoveTo, SetCursorStyle, Show};
use crossterm::queue;
use crossterm::style::{
    Attribute, Color, Print, ResetColor, SetAttribute, SetBackgroundColor, SetForegroundColor,
};
use crossterm::terminal::{Clear, ClearType};
use emu_chipset::vga::{cp437, Cell, TextScreen, VgaMode};

/// What one frame shows besides the guest's cells.
pub struct Frame<'a> {
    pub screen: &'a TextScreen,
    /// The status line, if shown.
    pub status: Option<&'a str>,
    /// Terminal size (columns, rows).
    pub term: (u16, u16),
}

/// What the terminal shows, to diff the next frame against.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Shown {
    Nothing,
    /// A one-line notice on a cleared screen (graphics mode, terminal too small).
    Notice(String),
    Text(TextLayout),
}

/// Everything that, when it changes, needs a full repaint.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TextLayout {
    term: (u16, u16),
    cols: usize,
    rows: usize,
    palette: [[u8; 3]; 16],
    blink: bool,
    enabled: bool,
    /// Row of the status line (None: not shown).
    status_row: Option<u16>,
}

/// Colour and blink of a cell as drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pen {
    fg: u8,
    bg: u8,
    blink: bool,
}

/// VGA colour index (blue, green, red order) to the ANSI index (red, green, blue order).
const VGA_TO_ANSI: [u8; 16] = [0, 4, 2, 6, 1, 5, 3, 7, 8, 12, 10, 14, 9, 13, 11, 15];

/// Draws frames on a terminal, remembering the last one.
pub struct Renderer {
    shown: Shown,
    cells: Vec<Cell>,
    status: Option<String>,
    cursor: Option<(u16, u16, bool)>,
    truecolor: bool,
    /// Pen of the terminal right now (None: unknown, e.g. after a reset).
    pen: Option<Pen>,
}

impl Renderer {
    /// A renderer for a terminal that can (`truecolor`) or cannot show 24-bit colour.
    pub fn new(truecolor: bool) -> Renderer {
        Renderer {
            shown: Shown::Nothing,
            cells: Vec::new(),
            status: None,
            cursor: None,
            truecolor,
            pen: None,
        }
    }

    /// Whether the environment says the terminal takes 24-bit colour.
    pub fn terminal_has_truecolor() -> bool {
        std::env::var("COLORTERM").is_ok_and(|v| v == "truecolor" || v == "24bit")
    }

    /// Forgets what the terminal shows, so the next frame repaints everything (after a
    /// resize, or when something else may have written to the terminal).
    pub fn invalidate(&mut self) {
        self.shown = Shown::Nothing;
        self.pen = None;
        self.cursor = None;
        self.status = None;
    }

    /// Writes what it takes to turn the previous frame into `f`; nothing if they are equal.
    /// Returns whether the guest's screen as shown changed (cells, cursor, mode or notice;
    /// not the status line), which tells the front end the guest is doing something.
    pub fn render(&mut self, f: &Frame, out: &mut impl Write) -> io::Result<bool> {
        let s = f.screen;
        let (tw, th) = f.term;
        let need_rows = s.rows + usize::from(f.status.is_some());
        let notice = match &s.mode {
            VgaMode::Unsupported(what) => Some(format!(
                "emu: the guest switched to {what}, which this display does not show (C-a h: keys)"
            )),
            _ if usize::from(tw) < s.cols || usize::from(th) < s.rows => Some(format!(
                "emu: this terminal is {tw}x{th}; the guest's {}x{} text screen needs at least that many columns and rows (C-a x quits)",
                s.cols, s.rows
            )),
            _ => None,
        };
        if let Some(text) = notice {
            return self.notice(text, f.term, out);
        }
        let status_row = f.status.map(|_| {
            if usize::from(th) >= need_rows {
                s.rows as u16
            } else {
                th.saturating_sub(1)
            }
        });
        let layout = TextLayout {
            term: f.term,
            cols: s.cols,
            rows: s.rows,
            palette: s.palette,
            blink: s.blink,
            enabled: s.enabled,
            status_row,
        };
        let full = self.shown != Shown::Text(layout.clone()) || self.cells.len() != s.cells.len();
        if full {
            self.pen = None;
            queue!(
                out,
                ResetColor,
                SetAttribute(Attribute::Reset),
                Clear(ClearType::All)
            )?;
            self.cells.clear();
            self.status = None;
            self.cursor = None;
        }
        let mut cells_drawn = false;
        for row in 0..s.rows {
            // The status line may sit over the last row of a terminal with no room below.
            if status_row == Some(row as u16) {
                continue;
            }
            let mut col = 0;
            while col < s.cols {
                let i = row * s.cols + col;
                let new = cell_shown(s, i);
                if !full && self.cells.get(i) == Some(&new) {
                    col += 1;
                    continue;
                }
                queue!(out, MoveTo(col as u16, row as u16))?;
                // A run of changed cells in this row.
                while col < s.cols {
                    let i = row * s.cols + col;
                    let new = cell_shown(s, i);
                    if !full && self.cells.get(i) == Some(&new) {
                        break;
                    }
                    self.draw_cell(new, s, out)?;
                    col += 1;
                }
                cells_drawn = true;
            }
        }
        let mut drew = cells_drawn;
        self.cells.clear();
        self.cells
            .extend((0..s.cells.len()).map(|i| cell_shown(s, i)));
        if let (Some(text), Some(row)) = (f.status, status_row) {
            if self.status.as_deref() != Some(text) {
                self.pen = None;
                let width = usize::from(tw);
                let line: String = text
                    .chars()
                    .chain(std::iter::repeat(' '))
                    .take(width)
                    .collect();
                queue!(
                    out,
                    MoveTo(0, row),
                    SetAttribute(Attribute::Reset),
                    SetAttribute(Attribute::Reverse),
                    Print(line),
                    SetAttribute(Attribute::Reset)
                )?;
                self.status = Some(text.to_string());
                drew = true;
            }
        }
        let cursor = s
            .cursor
            .visible
            .then(|| {
                let c = s.cursor;
                let height = u32::from(c.end.saturating_sub(c.start)) + 1;
                let block = 2 * height > u32::from(c.cell_height);
                (c.col as u16, c.row as u16, block)
            })
            .filter(|&(_, row, _)| status_row != Some(row));
        let changed = full || cells_drawn || cursor != self.cursor;
        if drew || cursor != self.cursor || full {
            match cursor {
                Some((col, row, block)) => {
                    let style = if block {
                        SetCursorStyle::BlinkingBlock
                    } else {
                        SetCursorStyle::BlinkingUnderScore
                    };
                    queue!(out, MoveTo(col, row), style, Show)?;
                }
                None => queue!(out, Hide)?,
            }
            self.cursor = cursor;
        }
        self.shown = Shown::Text(layout);
        Ok(changed)
    }

    fn pen_for(attr: u8, blink_mode: bool) -> Pen {
        if blink_mode {
            Pen {
                fg: attr & 0x0F,
                bg: (attr >> 4) & 0x07,
                blink: attr & 0x80 != 0,
            }
        } else {
            Pen {
                fg: attr & 0x0F,
                bg: attr >> 4,
                blink: false,
            }
        }
    }

    fn colour(&self, index: u8, palette: &[[u8; 3]; 16]) -> Color {
        let i = usize::from(index & 0x0F);
        if self.truecolor {
            let [r, g, b] = palette[i];
            Color::Rgb { r, g, b }
        } else {
            Color::AnsiValue(VGA_TO_ANSI[i])
        }
    }

    fn draw_cell(&mut self, c: Cell, s: &TextScreen, out: &mut impl Write) -> io::Result<()> {
        let pen = Self::pen_for(c.attr, s.blink);
        let old = self.pen;
        if old.map(|p| p.fg) != Some(pen.fg) {
            queue!(out, SetForegroundColor(self.colour(pen.fg, &s.palette)))?;
        }
        if old.map(|p| p.bg) != Some(pen.bg) {
            queue!(out, SetBackgroundColor(self.colour(pen.bg, &s.palette)))?;
        }
        if old.map(|p| p.blink) != Some(pen.blink) {
            let a = if pen.blink {
                Attribute::SlowBlink
            } else {
                Attribute::NoBlink
            };
            queue!(out, SetAttribute(a))?;
        }
        self.pen = Some(pen);
        queue!(out, Print(cp437(c.ch)))
    }

    /// A cleared screen with one line of text.
    fn notice(&mut self, text: String, term: (u16, u16), out: &mut impl Write) -> io::Result<bool> {
        let shown = Shown::Notice(format!("{text}@{term:?}"));
        if self.shown == shown {
            return Ok(false);
        }
        // Wrap at the terminal width so all of it is seen even on a narrow terminal.
        let width = usize::from(term.0.max(1));
        let chars: Vec<char> = text.chars().collect();
        queue!(
            out,
            ResetColor,
            SetAttribute(Attribute::Reset),
            Clear(ClearType::All),
            Hide
        )?;
        for (i, line) in chars.chunks(width).enumerate().take(usize::from(term.1)) {
            let line: String = line.iter().collect();
            queue!(out, MoveTo(0, i as u16), Print(line))?;
        }
        self.shown = shown;
        self.pen = None;
        self.cells.clear();
        self.status = None;
        self.cursor = None;
        Ok(true)
    }
}

/// The cell as drawn: a disabled screen (blanked by the guest) shows black spaces.
fn cell_shown(s: &TextScreen, i: usize) -> Cell {
    match s.cells.get(i) {
        Some(&c) if s.enabled => c,
        _ => Cell { ch: b' ', attr: 0 },
    }
}

/// Puts the terminal back the way a shell expects it: default colours and cursor.
pub fn reset_sequence(out: &mut impl Write) -> io::Result<()> {
    queue!(
        out,
        ResetColor,
        SetAttribute(Attribute::Reset),
        SetCursorStyle::DefaultUserShape,
        Show
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use emu_chipset::vga::Cursor;

    fn screen() -> TextScreen {
        TextScreen {
            mode: VgaMode::Text80x25,
            cols: 80,
            rows: 25,
            cells: vec![
                Cell {
                    ch: b' ',
                    attr: 0x07
                };
                2000
            ],
            cursor: Cursor {
                row: 0,
                col: 0,
                visible: true,
                start: 13,
                end: 14,
                cell_height: 16,
            },
            blink: true,
            enabled: true,
            palette: [[0; 3]; 16],
        }
    }

    fn put(s: &mut TextScreen, row: usize, col: usize, text: &str, attr: u8) {
        for (i, b) in text.bytes().enumerate() {
            s.cells[row * 80 + col + i] = Cell { ch: b, attr };
        }
    }

    fn draw(r: &mut Renderer, s: &TextScreen, status: Option<&str>, term: (u16, u16)) -> String {
        let mut out = Vec::new();
        r.render(
            &Frame {
                screen: s,
                status,
                term,
            },
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    const CLEAR: &str = "\x1b[2J";

    #[test]
    fn first_frame_paints_everything_then_only_changes() {
        let mut r = Renderer::new(false);
        let mut s = screen();
        put(&mut s, 0, 0, "Hello", 0x07);
        put(&mut s, 24, 75, "world", 0x1F);
        let first = draw(&mut r, &s, None, (80, 25));
        assert!(first.contains(CLEAR));
        assert!(first.contains("Hello") && first.contains("world"));
        // Light grey on black, in ANSI order; white on blue for "world".
        assert!(first.contains("\x1b[38;5;7m") && first.contains("\x1b[48;5;0m"));
        assert!(first.contains("\x1b[38;5;15m\x1b[48;5;4mworld"));

        // The same frame again: nothing at all.
        assert_eq!(draw(&mut r, &s, None, (80, 25)), "");

        // One changed cell and a two-cell run elsewhere: two moves, three characters.
        put(&mut s, 3, 10, "X", 0x07);
        put(&mut s, 10, 40, "yz", 0x07);
        let diff = draw(&mut r, &s, None, (80, 25));
        assert!(!diff.contains(CLEAR), "{diff:?}");
        assert!(
            diff.contains("\x1b[4;11H") && diff.contains("\x1b[11;41H"),
            "{diff:?}"
        );
        assert!(diff.contains('X') && diff.contains("yz"));
        assert!(!diff.contains("Hello") && !diff.contains("world"));
        // Moves for the two runs plus the cursor, and nothing else printed.
        assert_eq!(diff.matches('H').count(), 3, "{diff:?}");
        let printed: String = strip_escapes(&diff);
        assert_eq!(printed, "Xyz");
    }

    /// The text a terminal would show from `s`, without the escape sequences.
    fn strip_escapes(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\x1b' {
                if it.peek() == Some(&'[') {
                    it.next();
                    // Parameters, then one final byte in @..~.
                    for d in it.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn colours_blink_and_cp437() {
        let mut r = Renderer::new(false);
        let mut s = screen();
        s.cells[0] = Cell {
            ch: 0xC9,
            attr: 0x9E,
        }; // ╔ blinking yellow on blue
        s.cells[1] = Cell {
            ch: 0xDB,
            attr: 0x4A,
        }; // █ light green on red
        let out = draw(&mut r, &s, None, (80, 25));
        assert!(out.contains("\x1b[38;5;11m\x1b[48;5;4m\x1b[5m╔"), "{out:?}");
        assert!(
            out.contains("\x1b[38;5;10m\x1b[48;5;1m\x1b[25m█"),
            "{out:?}"
        );
        // Blinking off in the attribute controller: bit 7 is a bright background.
        s.blink = false;
        let out = draw(&mut r, &s, None, (80, 25));
        assert!(out.contains(CLEAR), "a mode change repaints everything");
        assert!(
            out.contains("\x1b[38;5;11m\x1b[48;5;12m\x1b[25m╔"),
            "{out:?}"
        );
        assert!(!out.contains("\x1b[5m"));
        // 24-bit colour from the palette.
        let mut t = Renderer::new(true);
        s.palette[14] = [0xFF, 0xFF, 0x55];
        let out = draw(&mut t, &s, None, (80, 25));
        assert!(out.contains("\x1b[38;2;255;255;85m"), "{out:?}");
    }

    #[test]
    fn cursor_shape_position_and_hiding() {
        let mut r = Renderer::new(false);
        let mut s = screen();
        s.cursor.row = 5;
        s.cursor.col = 7;
        let out = draw(&mut r, &s, None, (80, 25));
        assert!(
            out.ends_with("\x1b[6;8H\x1b[3 q\x1b[?25h"),
            "underline: {out:?}"
        );
        s.cursor.start = 0;
        s.cursor.end = 15;
        assert_eq!(
            draw(&mut r, &s, None, (80, 25)),
            "\x1b[6;8H\x1b[1 q\x1b[?25h"
        );
        s.cursor.visible = false;
        assert_eq!(draw(&mut r, &s, None, (80, 25)), "\x1b[?25l");
        assert_eq!(draw(&mut r, &s, None, (80, 25)), "");
    }

    #[test]
    fn status_line_below_or_over_the_screen() {
        let mut r = Renderer::new(false);
        let s = screen();
        let out = draw(&mut r, &s, Some("emu | running"), (100, 30));
        assert!(out.contains("\x1b[26;1H"), "row below the screen: {out:?}");
        assert!(out.contains("emu | running"));
        // Only the changed status is redrawn.
        let out = draw(&mut r, &s, Some("emu | idle"), (100, 30));
        assert!(!out.contains(CLEAR));
        assert_eq!(strip_escapes(&out).trim_end(), "emu | idle");
        // No room below: it covers the last row.
        let out = draw(&mut r, &s, Some("emu | idle"), (80, 25));
        assert!(out.contains(CLEAR) && out.contains("\x1b[25;1H"), "{out:?}");
        // Hidden again: everything repainted.
        assert!(draw(&mut r, &s, None, (80, 25)).contains(CLEAR));
    }

    #[test]
    fn small_terminal_and_graphics_get_a_notice() {
        let mut r = Renderer::new(false);
        let mut s = screen();
        let out = draw(&mut r, &s, None, (70, 20));
        assert!(
            strip_escapes(&out).contains("this terminal is 70x20"),
            "{out:?}"
        );
        assert_eq!(
            draw(&mut r, &s, None, (70, 20)),
            "",
            "the notice is drawn once"
        );
        // Resized to fit: the screen comes back whole.
        put(&mut s, 0, 0, "back", 0x07);
        let out = draw(&mut r, &s, None, (80, 25));
        assert!(out.contains(CLEAR) && out.contains("back"));
        // 80x50 needs 50 rows.
        s.mode = VgaMode::Text80x50;
        s.rows = 50;
        s.cells = vec![Cell::default(); 4000];
        assert!(strip_escapes(&draw(&mut r, &s, None, (80, 25))).contains("needs at least"));
        assert!(!draw(&mut r, &s, None, (80, 51)).contains("needs"));
        let g = TextScreen {
            mode: VgaMode::Unsupported("graphics mode 320x200, 256 colours".into()),
            cols: 0,
            rows: 0,
            cells: Vec::new(),
            ..screen()
        };
        let out = strip_escapes(&draw(&mut r, &g, Some("status"), (80, 25)));
        assert!(out.contains("graphics mode 320x200, 256 colours"), "{out}");
    }

    #[test]
    fn blanked_screen_and_odd_sizes_do_not_panic() {
        let mut r = Renderer::new(false);
        let mut s = screen();
        put(&mut s, 0, 0, "secret", 0x07);
        s.enabled = false;
        assert!(!draw(&mut r, &s, None, (80, 25)).contains("secret"));
        // Fewer cells than rows x cols (never produced by the model, but harmless).
        s.enabled = true;
        s.cells.truncate(100);
        draw(&mut r, &s, Some(""), (80, 25));
        draw(&mut r, &s, Some("x"), (1, 1));
        draw(&mut r, &s, Some("x"), (0, 0));
    }
}
