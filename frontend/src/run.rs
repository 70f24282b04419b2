//! The run loop: CPU slices between board events on one virtual clock, firmware traps,
//! halts that skip to the next event, pacing against wall time, host console I/O, and every
//! way out (power-off, reset, quit key, signals) flushing the disk first.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use emu_cpu::{Exit, GuestClock};

use crate::keymap;
use crate::machine::Machine;
use crate::terminal::{escape_command, EscapeCommand};

/// Guest nanoseconds per retired instruction when unpaced: a deterministic 1 GHz CPU (plus
/// skipped idle time). Paced runs measure the host's speed instead, so guest time follows
/// wall time and a guest timing itself measures real time. The TSC is guest time in
/// nanoseconds either way (see `emu_cpu::GuestClock`).
pub const NS_PER_INSN: u64 = 1;
/// Longest slice of guest time the CPU runs before the board and the host are looked at.
const MAX_SLICE_NS: u64 = 1_000_000;
/// Bounds of the paced clock rate (16.16 ns per instruction): 4 GHz to 20 MHz.
const MIN_RATE_Q16: i128 = 1 << 14;
const MAX_RATE_Q16: i128 = 50 << 16;
/// Slices shorter than this (in instructions) say too little about the host's speed.
const MIN_RATE_SAMPLE: u64 = 10_000;

/// While the guest idles, wall time may get this far ahead of guest time before emu wakes
/// up: a guest with a periodic tick (Debian's kernel: 250 Hz, no tickless idle) is then
/// served a few ticks per wake-up instead of one, and each wake-up runs the guest on cold
/// host caches. Guest time still never runs ahead of wall time; timer interrupts come up to
/// this late, while typed input wakes the loop at once (see [`stdin_reader`]).
const IDLE_LAG_NS: u64 = 16_000_000;
/// Longest idle sleep, so signals are looked at regularly.
const MAX_NAP_NS: u64 = 30_000_000;
/// After this long with no input, no console output and no change on the screen, the
/// guest is idle in earnest (a shell prompt nobody types at) and its timer interrupts
/// are served in bigger batches: nothing shows the extra lateness, and a key press ends
/// it. Measured headless at the shell prompt (utime+stime over 30 s, one run): 2.4% of a
/// core with no lag, 2.1% at 16 ms, 1.8% at 50 ms, 1.65% at 100 ms.
const QUIET: Duration = Duration::from_secs(2);
const QUIET_LAG_NS: u64 = 100_000_000;
const QUIET_MAX_NAP_NS: u64 = 100_000_000;

/// How the host console is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// COM1 on stdin/stdout (QEMU's -nographic).
    Serial,
    /// COM1 output on stdout, no input (headless runs, tests).
    Headless,
    /// The full-screen VGA display and keyboard ([`crate::terminal`]); COM1 is not shown.
    Display,
}

#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Keep guest time at or behind wall time and sleep while idle.
    pub paced: bool,
    pub console: Console,
    /// A guest reset ends emu instead of rebooting.
    pub no_reboot: bool,
    /// Stop after this much guest time (tests); None runs until the guest ends.
    pub time_limit_ns: Option<u64>,
}

/// Why the machine stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    PowerOff,
    /// Reset with --no-reboot.
    Reset,
    /// The user quit from the console escape (Ctrl-A x).
    Quit,
    /// SIGINT/SIGTERM/SIGHUP.
    Signal(i32),
    TimeLimit,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Signal(s) => 128u8.wrapping_add(*s as u8),
            _ => 0,
        }
    }
}

/// How the guest has spent its time, kept by the run loop for the status bar.
#[derive(Clone, Copy, Debug, Default)]
pub struct Activity {
    /// Guest time spent in HLT waiting for an interrupt, in total.
    pub halted_ns: u64,
    /// Guest time of the last power-on or reset.
    pub boot_ns: u64,
}

/// What a front end asks the run loop to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Quit,
    Reset,
    /// The terminal went away (end of input): ends the run like SIGHUP.
    Hangup,
}

/// A front end the run loop services between CPU slices (the terminal display).
pub trait Frontend {
    /// Called after every CPU slice; cheap when nothing is due.
    fn service(&mut self, m: &mut Machine, activity: &Activity) -> Result<Option<Request>>;
    /// Called before the run loop sleeps while the guest idles: the screen cannot change
    /// during the nap, so a front end shows what is pending now rather than waking for it.
    /// Returns the longest nap it can wait (None: no limit of its own).
    fn idle(&mut self, m: &mut Machine) -> Result<Option<Duration>>;
    /// When the user last typed or the screen last changed.
    fn last_activity(&self) -> Instant;
}

/// Where the serial console comes from and goes to, and the flag that ends a run (a signal
/// number; 0 = keep going). The CLI wires stdin/stdout and signals; tests wire channels.
pub struct Io {
    pub input: Option<Receiver<Vec<u8>>>,
    pub output: Box<dyn Write + Send>,
    pub stop: Arc<AtomicUsize>,
}

impl Io {
    /// The terminal: stdin on a reader thread (when `input`), stdout, and SIGINT/SIGTERM/SIGHUP.
    pub fn terminal(input: bool) -> Io {
        Io {
            input: input.then(stdin_reader),
            output: Box::new(std::io::stdout()),
            stop: install_signals(),
        }
    }
}

/// Signals that end the run; the loop polls the flag and shuts down cleanly.
pub fn install_signals() -> Arc<AtomicUsize> {
    let flag = Arc::new(AtomicUsize::new(0));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        let _ = signal_hook::flag::register_usize(sig, flag.clone(), sig as usize);
    }
    flag
}

/// Reads stdin on a thread so the emulator never blocks on it; the channel closes at end of
/// input (the terminal hung up). Each read unparks the calling thread, which runs the loop
/// and parks while the guest idles, so a key press is served at once, not after the nap.
pub(crate) fn stdin_reader() -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    let run_loop = std::thread::current();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                    run_loop.unpark();
                }
            }
        }
        run_loop.unpark();
    });
    rx
}

/// The console escape state machine (Ctrl-A then a command key, as in QEMU); the commands
/// are the full-screen display's ([`crate::terminal::escape_command`]).
#[derive(Default)]
struct Escape {
    armed: bool,
}

enum ConsoleAction {
    Send(Vec<u8>),
    Quit,
    Reset,
    Help,
    CtrlAltDel,
}

impl Escape {
    fn feed(&mut self, bytes: &[u8], raw: bool) -> Vec<ConsoleAction> {
        let mut out = Vec::new();
        let mut send = Vec::new();
        for &b in bytes {
            if self.armed {
                self.armed = false;
                let action = match escape_command(char::from(b)) {
                    Some(EscapeCommand::Quit) => ConsoleAction::Quit,
                    Some(EscapeCommand::Reset) => ConsoleAction::Reset,
                    Some(EscapeCommand::Help) => ConsoleAction::Help,
                    Some(EscapeCommand::CtrlAltDel) => ConsoleAction::CtrlAltDel,
                    Some(EscapeCommand::Literal) => {
                        send.push(0x01);
                        continue;
                    }
                    Some(EscapeCommand::ToggleStatus) | None => continue,
                };
                out.push(ConsoleAction::Send(std::mem::take(&mut send)));
                out.push(action);
            } else if b == 0x01 && raw {
                self.armed = true;
            } else {
                send.push(b);
            }
        }
        if !send.is_empty() {
            out.push(ConsoleAction::Send(send));
        }
        out
    }
}

const HELP: &str = "\r\nC-a h    this help\r\nC-a x    quit emu\r\nC-a r    reset the machine\r\nC-a d    Ctrl-Alt-Del on the keyboard\r\nC-a a    send C-a (C-a C-a too)\r\n";

/// Runs the machine until it powers off or something ends the run.
pub fn run(m: &mut Machine, opts: RunOptions, raw_console: bool, io: Io) -> Result<Outcome> {
    run_with(m, opts, raw_console, io, None)
}

/// [`run`] with a front end (the terminal display) serviced between CPU slices.
pub fn run_with(
    m: &mut Machine,
    opts: RunOptions,
    raw_console: bool,
    io: Io,
    mut frontend: Option<&mut dyn Frontend>,
) -> Result<Outcome> {
    let Io {
        input,
        output: mut stdout,
        stop: signals,
    } = io;
    let input = match opts.console {
        Console::Serial => input,
        Console::Headless | Console::Display => None,
    };
    let mut activity = Activity {
        halted_ns: 0,
        boot_ns: m.cpu.bus.board.now_ns(),
    };
    let mut escape = Escape::default();
    let wall0 = Instant::now();
    let guest0 = m.cpu.bus.board.now_ns();
    let mut rate_q16 = NS_PER_INSN << 16;
    let mut input_open = true;
    // Last console input or output (see QUIET).
    let mut active = Instant::now();
    let outcome = loop {
        let sig = signals.load(Ordering::Relaxed);
        if sig != 0 {
            break Outcome::Signal(sig as i32);
        }
        if let (Some(rx), true) = (&input, input_open) {
            loop {
                match rx.try_recv() {
                    Ok(bytes) => {
                        active = Instant::now();
                        for act in escape.feed(&bytes, raw_console) {
                            match act {
                                ConsoleAction::Send(b) => m.cpu.bus.board.serial_input(&b),
                                ConsoleAction::Quit => {
                                    m.flush()?;
                                    return Ok(Outcome::Quit);
                                }
                                ConsoleAction::Reset => {
                                    m.flush()?;
                                    m.reset();
                                    activity.boot_ns = m.cpu.bus.board.now_ns();
                                }
                                ConsoleAction::Help => {
                                    stdout.write_all(HELP.as_bytes()).ok();
                                }
                                ConsoleAction::CtrlAltDel => {
                                    let codes = keymap::ctrl_alt_del().concat();
                                    m.cpu.bus.board.key_input(&codes);
                                }
                            }
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        input_open = false;
                        break;
                    }
                }
            }
        }

        let now = m.cpu.bus.board.now_ns();
        if let Some(limit) = opts.time_limit_ns {
            if now.saturating_sub(guest0) >= limit {
                break Outcome::TimeLimit;
            }
        }
        let next = m.cpu.bus.board.next_event_ns().unwrap_or(u64::MAX);
        let slice = next.saturating_sub(now).clamp(1, MAX_SLICE_NS);
        let start = m.cpu.icount;
        m.cpu.clock = GuestClock {
            base_ns: now,
            base_icount: start,
            ns_per_insn_q16: rate_q16,
        };
        let slice_wall = Instant::now();
        // At least one instruction, so time always moves on.
        let exit = m.cpu.run(m.cpu.clock.insns_for(slice));
        let mut t = m.cpu.clock.now_ns(m.cpu.icount).max(now + 1);
        match exit {
            Exit::Budget => {}
            Exit::Trap(at) => {
                if let Some(b) = m.bios.as_mut() {
                    b.trap(&mut m.cpu, at);
                }
            }
            Exit::Halted => {
                // Idle: jump to the next event (pacing sleeps until wall time gets there).
                let target = m
                    .cpu
                    .bus
                    .board
                    .next_event_ns()
                    .unwrap_or(t + MAX_SLICE_NS)
                    .min(t + MAX_SLICE_NS * 5);
                let before = t;
                if opts.paced {
                    let wall = wall0.elapsed().as_nanos() as u64;
                    let guest = target.saturating_sub(guest0);
                    if guest > wall {
                        let seen = frontend
                            .as_deref()
                            .map_or(active, |f| f.last_activity().max(active));
                        let (lag, most) = if seen.elapsed() >= QUIET {
                            (QUIET_LAG_NS, QUIET_MAX_NAP_NS)
                        } else {
                            (IDLE_LAG_NS, MAX_NAP_NS)
                        };
                        let mut nap = Duration::from_nanos((guest - wall + lag).min(most));
                        if let Some(f) = frontend.as_deref_mut() {
                            if let Some(most) = f.idle(m)? {
                                nap = nap.min(most);
                            }
                        }
                        // Input from the terminal unparks this thread (`stdin_reader`).
                        std::thread::park_timeout(nap);
                    }
                    // Never run ahead of wall time while idle.
                    let wall = wall0.elapsed().as_nanos() as u64;
                    t = t.max(target.min(guest0 + wall));
                } else {
                    t = t.max(target);
                }
                // The TSC keeps counting through HLT: it is guest time.
                activity.halted_ns += t - before;
            }
            Exit::Shutdown => {
                m.flush()?;
                if opts.no_reboot {
                    break Outcome::Reset;
                }
                m.reset();
                activity.boot_ns = t;
            }
        }
        let executed = m.cpu.icount - start;
        if opts.paced && matches!(exit, Exit::Budget) && executed >= MIN_RATE_SAMPLE {
            // Busy: the guest clock follows the host's. The next slice's rate is what this one
            // really took per instruction, corrected by a quarter of the gap between guest and
            // wall time, so guest time tracks wall time without jumps (a TSC that jumped would
            // fail Linux's PIT calibration and clocksource watchdog).
            let took = slice_wall.elapsed().as_nanos() as i128;
            let gap = (guest0 + wall0.elapsed().as_nanos() as u64) as i128 - t as i128;
            let ns = (took + gap / 4).max(0);
            rate_q16 = ((ns << 16) / executed as i128).clamp(MIN_RATE_Q16, MAX_RATE_Q16) as u64;
        }
        let board = &mut m.cpu.bus.board;
        board.advance_to(t);
        board.apply_a20(&mut m.cpu.mem);
        let out = board.take_serial_output();
        if !out.is_empty() {
            active = Instant::now();
            stdout.write_all(&out)?;
            stdout.flush()?;
        }
        if m.cpu.bus.power_off || m.cpu.bus.board.take_power_off_request() {
            m.flush()?;
            break Outcome::PowerOff;
        }
        if m.cpu.bus.board.take_reset_request() {
            m.flush()?;
            if opts.no_reboot {
                break Outcome::Reset;
            }
            m.reset();
            activity.boot_ns = m.cpu.bus.board.now_ns();
        }
        if let Some(f) = frontend.as_deref_mut() {
            match f.service(m, &activity)? {
                Some(Request::Quit) => {
                    m.flush()?;
                    return Ok(Outcome::Quit);
                }
                Some(Request::Reset) => {
                    m.flush()?;
                    m.reset();
                    activity.boot_ns = m.cpu.bus.board.now_ns();
                }
                Some(Request::Hangup) => break Outcome::Signal(signal_hook::consts::SIGHUP),
                None => {}
            }
        }
        if let Some(e) = m.cpu.bus.io_error.take() {
            anyhow::bail!(e);
        }
        if opts.paced {
            // Busy guest running ahead of the wall clock (only possible after idle skips).
            let wall = wall0.elapsed().as_nanos() as u64;
            let guest = m.cpu.bus.board.now_ns().saturating_sub(guest0);
            if guest > wall + 5_000_000 {
                std::thread::sleep(Duration::from_nanos(guest - wall));
            }
        }
    };
    m.flush()?;
    let out = m.cpu.bus.board.take_serial_output();
    stdout.write_all(&out).ok();
    stdout.flush().ok();
    Ok(outcome)
}
