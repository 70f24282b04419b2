//! int 10h: text-mode video services over the VGA text buffer at B8000 and the CRTC, with
//! the state kept in the BIOS data area where programs expect it.

use emu_cpu::{Cpu, Reg, SegReg};

use crate::{phys, Bios, Platform, Regs};

const BDA_MODE: u32 = 0x449;
const BDA_COLS: u32 = 0x44A;
const BDA_PAGE_SIZE: u32 = 0x44C;
const BDA_PAGE_START: u32 = 0x44E;
const BDA_CURSOR: u32 = 0x450;
const BDA_CURSOR_SHAPE: u32 = 0x460;
const BDA_PAGE: u32 = 0x462;
const BDA_CRTC: u32 = 0x463;
const BDA_ROWS: u32 = 0x484;
const BDA_CHAR_HEIGHT: u32 = 0x485;
const TEXT: u32 = 0xB_8000;

struct Screen {
    cols: u32,
    rows: u32,
    page: u32,
}

fn screen<B: Platform>(cpu: &Cpu<B>) -> Screen {
    let cols = (cpu.mem.read_u16(BDA_COLS) as u32).clamp(1, 132);
    let rows = (cpu.mem.read_u8(BDA_ROWS) as u32 + 1).clamp(1, 60);
    let page = cpu.mem.read_u8(BDA_PAGE) as u32 & 7;
    Screen { cols, rows, page }
}

fn page_base(s: &Screen, page: u32) -> u32 {
    TEXT + page * ((s.cols * s.rows * 2 + 0xFF) & !0xFF)
}

fn crtc<B: Platform>(cpu: &mut Cpu<B>, reg: u8, v: u8) {
    cpu.bus.io_write(0x3D4, 1, reg as u32);
    cpu.bus.io_write(0x3D5, 1, v as u32);
}

fn get_cursor<B: Platform>(cpu: &Cpu<B>, page: u32) -> (u32, u32) {
    let v = cpu.mem.read_u16(BDA_CURSOR + 2 * (page & 7));
    ((v >> 8) as u32, (v & 0xFF) as u32)
}

fn set_cursor<B: Platform>(cpu: &mut Cpu<B>, page: u32, row: u32, col: u32) {
    cpu.mem.write_u16(
        BDA_CURSOR + 2 * (page & 7),
        ((row as u16) << 8) | col as u16,
    );
    let s = screen(cpu);
    if page == s.page {
        let pos = (page_base(&s, page) - TEXT) / 2 + row * s.cols + col;
        crtc(cpu, 0x0E, (pos >> 8) as u8);
        crtc(cpu, 0x0F, pos as u8);
    }
}

/// Sets up a text mode: 80 columns, `rows` rows, cleared, cursor home.
pub(crate) fn set_text_mode<B: Platform>(cpu: &mut Cpu<B>, mode: u8, rows: u32, clear: bool) {
    cpu.mem.write_u8(BDA_MODE, mode);
    cpu.mem.write_u16(BDA_COLS, 80);
    cpu.mem.write_u16(BDA_PAGE_SIZE, (80 * rows * 2) as u16);
    cpu.mem.write_u16(BDA_PAGE_START, 0);
    cpu.mem.write_u8(BDA_PAGE, 0);
    cpu.mem.write_u16(BDA_CRTC, 0x3D4);
    cpu.mem.write_u8(BDA_ROWS, (rows - 1) as u8);
    let height = if rows == 50 { 8 } else { 16 };
    cpu.mem.write_u16(BDA_CHAR_HEIGHT, height);
    cpu.mem.write_u16(BDA_CURSOR_SHAPE, 0x0607);
    crtc(cpu, 0x09, (height - 1) as u8 | 0x40);
    crtc(cpu, 0x0A, if rows == 50 { 6 } else { 0x0D });
    crtc(cpu, 0x0B, if rows == 50 { 7 } else { 0x0E });
    crtc(cpu, 0x0C, 0);
    crtc(cpu, 0x0D, 0);
    // Back to alphanumeric mode in the graphics controller (misc register, index 6).
    cpu.bus.io_write(0x3CE, 1, 6);
    cpu.bus.io_write(0x3CF, 1, 0x0E);
    if clear {
        for i in 0..(80 * rows * 8) {
            cpu.mem.write_u16(TEXT + 2 * i, 0x0720);
        }
    }
    for p in 0..8 {
        cpu.mem.write_u16(BDA_CURSOR + 2 * p, 0);
    }
    set_cursor(cpu, 0, 0, 0);
}

/// Scrolls a window up (`up`) or down by `n` lines (0 clears it), filling with `attr`.
fn scroll<B: Platform>(
    cpu: &mut Cpu<B>,
    up: bool,
    n: u32,
    attr: u8,
    top: (u32, u32),
    bot: (u32, u32),
) {
    let s = screen(cpu);
    let base = page_base(&s, s.page);
    let (r0, c0) = (top.0.min(s.rows - 1), top.1.min(s.cols - 1));
    let (r1, c1) = (bot.0.min(s.rows - 1), bot.1.min(s.cols - 1));
    if r0 > r1 || c0 > c1 {
        return;
    }
    let height = r1 - r0 + 1;
    let n = if n == 0 || n > height { height } else { n };
    let cell = |r: u32, c: u32| base + 2 * (r * s.cols + c);
    let blank = 0x20 | (attr as u16) << 8;
    if up {
        for r in r0..=r1 {
            for c in c0..=c1 {
                let v = if r + n <= r1 {
                    cpu.mem.read_u16(cell(r + n, c))
                } else {
                    blank
                };
                cpu.mem.write_u16(cell(r, c), v);
            }
        }
    } else {
        for r in (r0..=r1).rev() {
            for c in c0..=c1 {
                let v = if r >= r0 + n {
                    cpu.mem.read_u16(cell(r - n, c))
                } else {
                    blank
                };
                cpu.mem.write_u16(cell(r, c), v);
            }
        }
    }
}

/// Teletype output of one character on the active page, as int 10h AH=0Eh does.
pub(crate) fn teletype<B: Platform>(bios: &mut Bios, cpu: &mut Cpu<B>, ch: u8, attr: Option<u8>) {
    if bios.console.len() < (1 << 20) {
        bios.console.push(ch);
    }
    let s = screen(cpu);
    let (mut row, mut col) = get_cursor(cpu, s.page);
    let base = page_base(&s, s.page);
    match ch {
        7 => {}
        8 => col = col.saturating_sub(1),
        b'\r' => col = 0,
        b'\n' => row += 1,
        _ => {
            let a = base + 2 * (row.min(s.rows - 1) * s.cols + col.min(s.cols - 1));
            cpu.mem.write_u8(a, ch);
            if let Some(at) = attr {
                cpu.mem.write_u8(a + 1, at);
            }
            col += 1;
        }
    }
    if col >= s.cols {
        col = 0;
        row += 1;
    }
    if row >= s.rows {
        let bottom_attr = cpu.mem.read_u8(base + 2 * ((s.rows - 1) * s.cols) + 1);
        scroll(cpu, true, 1, bottom_attr, (0, 0), (s.rows - 1, s.cols - 1));
        row = s.rows - 1;
    }
    set_cursor(cpu, s.page, row, col);
}

pub(crate) fn int10<B: Platform>(bios: &mut Bios, cpu: &mut Cpu<B>) {
    let (ah, al) = (cpu.ah(), cpu.al());
    let bh = (cpu.bx() >> 8) as u32;
    let bl = cpu.bx() as u8;
    match ah {
        0x00 => {
            let mode = al & 0x7F;
            match mode {
                0..=3 | 7 => set_text_mode(cpu, mode, 25, al & 0x80 == 0),
                _ => {
                    // Graphics modes are not modelled: record the mode so the display can say
                    // so, and switch the graphics controller to graphics.
                    cpu.mem.write_u8(BDA_MODE, mode);
                    cpu.bus.io_write(0x3CE, 1, 6);
                    cpu.bus.io_write(0x3CF, 1, 0x05);
                }
            }
            cpu.set_al(0x30);
        }
        0x01 => {
            let cx = cpu.cx();
            cpu.mem.write_u16(BDA_CURSOR_SHAPE, cx);
            crtc(cpu, 0x0A, (cx >> 8) as u8);
            crtc(cpu, 0x0B, cx as u8);
        }
        0x02 => {
            let dx = cpu.dx();
            set_cursor(cpu, bh, (dx >> 8) as u32, (dx & 0xFF) as u32);
        }
        0x03 => {
            let (r, c) = get_cursor(cpu, bh);
            cpu.set16(Reg::Edx, ((r as u16) << 8) | c as u16);
            let shape = cpu.mem.read_u16(BDA_CURSOR_SHAPE);
            cpu.set16(Reg::Ecx, shape);
        }
        0x05 => {
            cpu.mem.write_u8(BDA_PAGE, al & 7);
            let s = screen(cpu);
            let start = (page_base(&s, s.page) - TEXT) / 2;
            crtc(cpu, 0x0C, (start >> 8) as u8);
            crtc(cpu, 0x0D, start as u8);
            let (r, c) = get_cursor(cpu, s.page);
            set_cursor(cpu, s.page, r, c);
        }
        0x06 | 0x07 => {
            let (cx, dx) = (cpu.cx(), cpu.dx());
            scroll(
                cpu,
                ah == 0x06,
                al as u32,
                bh as u8,
                ((cx >> 8) as u32, (cx & 0xFF) as u32),
                ((dx >> 8) as u32, (dx & 0xFF) as u32),
            );
        }
        0x08 => {
            let s = screen(cpu);
            let (r, c) = get_cursor(cpu, bh);
            let v = cpu
                .mem
                .read_u16(page_base(&s, bh & 7) + 2 * (r * s.cols + c));
            cpu.set16(Reg::Eax, v);
        }
        0x09 | 0x0A => {
            let s = screen(cpu);
            let (r, c) = get_cursor(cpu, bh);
            let start = r * s.cols + c;
            let n = (cpu.cx() as u32).min(s.cols * s.rows - start.min(s.cols * s.rows));
            for i in 0..n {
                let a = page_base(&s, bh & 7) + 2 * (start + i);
                cpu.mem.write_u8(a, al);
                if ah == 0x09 {
                    cpu.mem.write_u8(a + 1, bl);
                }
            }
        }
        0x0E => teletype(bios, cpu, al, None),
        0x0F => {
            let s = screen(cpu);
            let mode = cpu.mem.read_u8(BDA_MODE);
            cpu.set16(Reg::Eax, ((s.cols as u16) << 8) | mode as u16);
            cpu.set_reg(1, 7, s.page);
        }
        0x10 => {}
        0x11 => match al {
            0x02 | 0x12 => set_text_mode(cpu, 3, 50, false),
            0x01 | 0x04 | 0x11 | 0x14 => set_text_mode(cpu, 3, 25, false),
            0x30 => {
                let s = screen(cpu);
                let h = cpu.mem.read_u16(BDA_CHAR_HEIGHT);
                cpu.set16(Reg::Ecx, h);
                cpu.set_reg(1, 2, s.rows - 1);
                cpu.load_seg_real(SegReg::Es, 0xF000);
                cpu.set16(Reg::Ebp, crate::rom::FONT_8X8_HI);
            }
            _ => {}
        },
        0x12 if bl == 0x10 => {
            cpu.set16(Reg::Ebx, 0x0003);
            cpu.set16(Reg::Ecx, 0x0009);
        }
        0x13 => {
            let (dx, cx) = (cpu.dx(), cpu.cx());
            let es = cpu.seg_sel(SegReg::Es);
            let bp = cpu.r[Reg::Ebp as usize] as u16;
            let (r0, c0) = get_cursor(cpu, bh);
            set_cursor(cpu, bh, (dx >> 8) as u32, (dx & 0xFF) as u32);
            let with_attr = al & 2 != 0;
            let mut off = bp;
            for _ in 0..cx {
                let ch = cpu.mem.read_u8(phys(es, off));
                off = off.wrapping_add(1);
                let attr = if with_attr {
                    let a = cpu.mem.read_u8(phys(es, off));
                    off = off.wrapping_add(1);
                    a
                } else {
                    bl
                };
                teletype(bios, cpu, ch, Some(attr));
            }
            if al & 1 == 0 {
                set_cursor(cpu, bh, r0, c0);
            }
        }
        0x1A if al == 0 => {
            cpu.set_al(0x1A);
            cpu.set16(Reg::Ebx, 0x0008);
        }
        // VESA BIOS extensions are not provided.
        0x4F => cpu.set16(Reg::Eax, 0x014F),
        _ => {}
    }
}
