//! The full-screen terminal front end (`--display curses`): the VGA text screen, the PC
//! keyboard, the status bar and the `C-a` escape keys, on the host terminal.
//!
//! The run loop calls [`TermDisplay::service`] after every CPU slice. It does work only when
//! something is due: typed bytes (from a thread blocked reading stdin, decoded by
//! [`crate::terminput`]) are looked at every 10 ms, the screen is drawn at 30 Hz (and then only
//! the cells that changed), the status figures are sampled once a second; SIGWINCH marks a
//! resize. An idle guest leaves emu asleep in the run loop's pacing. End of input means the
//! terminal hung up, and the run ends as on SIGHUP.
//!
//! Keys reach the guest through the i8042 as set-1 make and break codes ([`crate::keymap`]),
//! queued here and handed over only while the keyboard's 16-byte buffer has room, so a pasted
//! line arrives whole instead of overrunning it.
//!
//! [`Session`] owns the terminal modes (raw input, alternate screen) and restores them when
//! dropped and from the panic hook, so every way out leaves the terminal as it was.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};

use crate::display::{self, Frame, Renderer};
use crate::keymap::{self, Code};
use crate::machine::Machine;
use crate::run::{stdin_reader, Activity, Frontend, Request};
use crate::statusbar::{self, Counters, Sampler, Status};
use crate::terminput::InputParser;

/// Screen refresh period (30 Hz).
const FRAME: Duration = Duration::from_millis(33);
/// Longest idle nap while typed keys wait for the guest to take them.
const KEY_NAP: Duration = Duration::from_millis(2);
/// How often terminal input is looked at.
const INPUT_POLL: Duration = Duration::from_millis(10);
/// How often the status figures are sampled.
const STATUS_PERIOD: Duration = Duration::from_secs(1);
/// How long the help line stays after C-a h.
const HELP_TIME: Duration = Duration::from_secs(6);
/// Scan codes waiting for the guest beyond this are dropped (a guest that stopped reading).
const MAX_QUEUED: usize = 4096;

/// Terminal state emu changed: 0 nothing, 1 raw mode, 2 raw mode and the alternate screen.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Puts the terminal back as it was; safe to call more than once and from the panic hook.
pub fn restore_terminal() {
    match MODE.swap(0, Ordering::SeqCst) {
        0 => {}
        m => {
            let mut out = io::stdout();
            if m == 2 {
                let _ = display::reset_sequence(&mut out);
                let _ = execute!(out, LeaveAlternateScreen);
            }
            let _ = out.flush();
            let _ = terminal::disable_raw_mode();
        }
    }
}

/// Raw mode (and for the display, the alternate screen) for as long as it lives.
pub struct Session(());

impl Session {
    /// Raw input only: the serial console.
    pub fn raw() -> Result<Session> {
        Session::enter(false)
    }

    /// Raw input on the alternate screen: the full-screen display.
    pub fn fullscreen() -> Result<Session> {
        Session::enter(true)
    }

    fn enter(fullscreen: bool) -> Result<Session> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                // The message must land on the normal screen, in cooked mode, to be read.
                restore_terminal();
                previous(info);
            }));
        });
        terminal::enable_raw_mode().context("cannot put the terminal in raw mode")?;
        MODE.store(1, Ordering::SeqCst);
        let session = Session(());
        if fullscreen {
            execute!(
                io::stdout(),
                EnterAlternateScreen,
                cursor::Hide,
                terminal::Clear(terminal::ClearType::All)
            )
            .context("cannot switch the terminal to the alternate screen")?;
            MODE.store(2, Ordering::SeqCst);
        }
        Ok(session)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The escape key's commands (after C-a), shared with the serial console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapeCommand {
    Quit,
    Reset,
    Help,
    CtrlAltDel,
    ToggleStatus,
    /// Send C-a itself to the guest.
    Literal,
}

/// The command for the key typed after C-a (as a character; C-a itself is 01h).
pub fn escape_command(c: char) -> Option<EscapeCommand> {
    Some(match c.to_ascii_lowercase() {
        'x' => EscapeCommand::Quit,
        'r' => EscapeCommand::Reset,
        'h' | '?' => EscapeCommand::Help,
        'd' => EscapeCommand::CtrlAltDel,
        's' => EscapeCommand::ToggleStatus,
        'a' | '\x01' => EscapeCommand::Literal,
        _ => return None,
    })
}

fn is_ctrl_a(k: &KeyEvent) -> bool {
    k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char('a' | 'A'))
}

/// The full-screen display and keyboard on this terminal.
pub struct TermDisplay {
    renderer: Renderer,
    /// Bytes typed, from a thread blocked reading stdin; closed when the terminal hangs up.
    input: Receiver<Vec<u8>>,
    parser: InputParser,
    /// Set by SIGWINCH.
    resized: Arc<AtomicBool>,
    out: io::Stdout,
    /// Terminal size (columns, rows).
    size: (u16, u16),
    escape: bool,
    status_on: bool,
    help_until: Option<Instant>,
    keys: VecDeque<Code>,
    next_frame: Instant,
    next_poll: Instant,
    next_status: Instant,
    sampler: Option<Sampler>,
    status: String,
    /// When the user last typed or the guest's screen last changed.
    active: Instant,
    /// Keeps the terminal modes while the display runs.
    _session: Session,
}

impl TermDisplay {
    /// Takes over the terminal (raw mode, alternate screen).
    pub fn new() -> Result<TermDisplay> {
        let session = Session::fullscreen()?;
        let size = terminal::size().unwrap_or((80, 25));
        let resized = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGWINCH, resized.clone())
            .context("cannot watch for terminal resizes")?;
        let now = Instant::now();
        Ok(TermDisplay {
            renderer: Renderer::new(Renderer::terminal_has_truecolor()),
            input: stdin_reader(),
            parser: InputParser::default(),
            resized,
            out: io::stdout(),
            size,
            escape: false,
            status_on: true,
            help_until: None,
            keys: VecDeque::new(),
            next_frame: now,
            next_poll: now,
            next_status: now,
            sampler: None,
            status: String::new(),
            active: now,
            _session: session,
        })
    }

    /// Takes what was typed and notices resizes; returns a request for the run loop.
    fn poll_input(&mut self) -> Result<Option<Request>> {
        if self.resized.swap(false, Ordering::Relaxed) {
            if let Ok(size) = terminal::size() {
                self.size = size;
            }
            self.renderer.invalidate();
            self.next_frame = Instant::now();
        }
        loop {
            match self.input.try_recv() {
                Ok(bytes) => {
                    self.active = Instant::now();
                    for k in self.parser.feed(&bytes) {
                        if let Some(r) = self.key(&k) {
                            return Ok(Some(r));
                        }
                    }
                }
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) => return Ok(Some(Request::Hangup)),
            }
        }
    }

    fn key(&mut self, k: &KeyEvent) -> Option<Request> {
        if std::mem::take(&mut self.escape) {
            let c = match k.code {
                KeyCode::Char(_) if is_ctrl_a(k) => '\x01',
                KeyCode::Char(c) => c,
                _ => return None,
            };
            match escape_command(c)? {
                EscapeCommand::Quit => return Some(Request::Quit),
                EscapeCommand::Reset => {
                    self.keys.clear();
                    return Some(Request::Reset);
                }
                EscapeCommand::Help => {
                    self.help_until = Some(Instant::now() + HELP_TIME);
                    self.next_frame = Instant::now();
                }
                EscapeCommand::CtrlAltDel => self.queue(keymap::ctrl_alt_del()),
                EscapeCommand::ToggleStatus => {
                    self.status_on = !self.status_on;
                    self.help_until = None;
                    self.next_frame = Instant::now();
                }
                EscapeCommand::Literal => self.queue(keymap::ctrl_letter('a')),
            }
            return None;
        }
        if is_ctrl_a(k) {
            self.escape = true;
            return None;
        }
        if let Some(codes) = keymap::key_codes(k) {
            self.queue(codes);
        }
        None
    }

    fn queue(&mut self, codes: Vec<Code>) {
        if self.keys.len() + codes.len() <= MAX_QUEUED {
            self.keys.extend(codes);
        }
    }

    /// Hands queued scan codes to the keyboard while its buffer has room (a set-1 code takes
    /// at most one byte more in set 2: the F0 of a break).
    fn feed_keys(&mut self, m: &mut Machine) {
        let board = &mut m.cpu.bus.board;
        while let Some(code) = self.keys.front() {
            if board.key_room() < code.len() + 1 {
                break;
            }
            board.key_input(code);
            self.keys.pop_front();
        }
    }

    fn counters(m: &Machine, activity: &Activity) -> Counters {
        Counters {
            icount: m.cpu.icount,
            guest_ns: m.cpu.bus.board.now_ns(),
            halted_ns: activity.halted_ns,
            stopped: m.cpu.halted && m.cpu.flags.get() & 0x200 == 0,
        }
    }

    fn update_status(&mut self, m: &Machine, activity: &Activity, now: Instant) {
        let c = Self::counters(m, activity);
        let Some(sampler) = self.sampler.as_mut() else {
            self.sampler = Some(Sampler::new(now, c));
            self.status = " starting | C-a h: help".into();
            return;
        };
        let (mips, state) = sampler.sample(now, c);
        let disk = m
            .cpu
            .bus
            .board
            .ata
            .disk()
            .map(|d| d.stats())
            .unwrap_or_default();
        self.status = statusbar::line(&Status {
            state,
            mips,
            uptime: Duration::from_nanos(c.guest_ns.saturating_sub(activity.boot_ns)),
            sectors_read: disk.sectors_read,
            sectors_written: disk.sectors_written,
        });
    }

    fn draw(&mut self, m: &Machine) -> Result<()> {
        let screen = m.cpu.bus.board.vga.snapshot(&m.cpu.mem);
        let help = self.help_until.is_some_and(|t| Instant::now() < t);
        let status = if help {
            Some(statusbar::HELP)
        } else if self.status_on {
            Some(self.status.as_str())
        } else {
            None
        };
        let mut buf = Vec::with_capacity(4096);
        let changed = self.renderer.render(
            &Frame {
                screen: &screen,
                status,
                term: self.size,
            },
            &mut buf,
        )?;
        if changed {
            self.active = Instant::now();
        }
        if !buf.is_empty() {
            self.out
                .write_all(&buf)
                .context("writing to the terminal")?;
            self.out.flush().context("writing to the terminal")?;
        }
        Ok(())
    }
}

impl Frontend for TermDisplay {
    fn service(&mut self, m: &mut Machine, activity: &Activity) -> Result<Option<Request>> {
        let now = Instant::now();
        if now >= self.next_poll {
            self.next_poll = now + INPUT_POLL;
            if let Some(r) = self.poll_input()? {
                return Ok(Some(r));
            }
        }
        if !self.keys.is_empty() {
            self.feed_keys(m);
        }
        if now >= self.next_status {
            self.next_status = now + STATUS_PERIOD;
            self.update_status(m, activity, now);
        }
        if now >= self.next_frame {
            self.next_frame = now + FRAME;
            self.draw(m)?;
        }
        Ok(None)
    }

    fn last_activity(&self) -> Instant {
        self.active
    }

    fn idle(&mut self, m: &mut Machine) -> Result<Option<Duration>> {
        // Draw now what the guest wrote since the last frame: nothing changes while it naps.
        let now = Instant::now();
        self.next_frame = now + FRAME;
        self.draw(m)?;
        // Typed keys still queued go in one at a time as the guest reads them: wake soon.
        Ok((!self.keys.is_empty()).then_some(KEY_NAP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_commands() {
        assert_eq!(escape_command('x'), Some(EscapeCommand::Quit));
        assert_eq!(escape_command('X'), Some(EscapeCommand::Quit));
        assert_eq!(escape_command('r'), Some(EscapeCommand::Reset));
        assert_eq!(escape_command('h'), Some(EscapeCommand::Help));
        assert_eq!(escape_command('d'), Some(EscapeCommand::CtrlAltDel));
        assert_eq!(escape_command('s'), Some(EscapeCommand::ToggleStatus));
        assert_eq!(escape_command('a'), Some(EscapeCommand::Literal));
        assert_eq!(escape_command('\x01'), Some(EscapeCommand::Literal));
        assert_eq!(escape_command('q'), None);
        assert!(is_ctrl_a(&KeyEvent::new(
            KeyCode::Char('a'),
            KeyModifiers::CONTROL
        )));
        assert!(!is_ctrl_a(&KeyEvent::new(
            KeyCode::Char('a'),
            KeyModifiers::NONE
        )));
    }
}
