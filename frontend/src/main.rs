//! `emu`: the command-line front end.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use emu_frontend::machine::{Machine, MachineConfig};
use emu_frontend::run::{self, Console, RunOptions};
use emu_frontend::terminal::{Session, TermDisplay};

#[derive(Parser)]
#[command(
    name = "emu",
    version,
    about = "A full-system x86 PC emulator, done in software"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Display {
    /// No display: COM1 output on stdout, nothing read from the terminal.
    None,
    /// The serial console on stdin/stdout (same as --nographic).
    Serial,
    /// The full-screen VGA text display and PC keyboard on this terminal (the default).
    #[value(alias = "term")]
    Curses,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Raw disk image to boot from (the first hard disk).
    disk: Option<PathBuf>,
    /// Floppy image for drive A: (the BIOS boots it first).
    #[arg(long = "fda", value_name = "FILE")]
    fda: Option<PathBuf>,
    /// Guest RAM in MiB.
    #[arg(short = 'm', long = "memory", default_value_t = 128)]
    memory: u32,
    /// No display: COM1 on stdin/stdout (C-a x quits, C-a h for help).
    #[arg(long)]
    nographic: bool,
    /// Display backend.
    #[arg(long, value_enum)]
    display: Option<Display>,
    /// Guest writes go to memory; the disk image is never written.
    #[arg(long)]
    snapshot: bool,
    /// A guest reset ends emu instead of rebooting.
    #[arg(long)]
    no_reboot: bool,
    /// Linux kernel (bzImage) to boot directly, skipping the boot loader.
    #[arg(long)]
    kernel: Option<PathBuf>,
    /// Initial ramdisk for --kernel.
    #[arg(long)]
    initrd: Option<PathBuf>,
    /// Kernel command line for --kernel.
    #[arg(long, default_value = "")]
    append: String,
    /// Raw firmware image (64 or 128 KiB) instead of the built-in BIOS.
    #[arg(long)]
    bios: Option<PathBuf>,
    /// PORT=FILE: write every byte the guest OUTs to PORT into FILE (repeatable).
    #[arg(long, value_name = "PORT=FILE")]
    debugcon: Vec<String>,
    /// Run as fast as possible instead of keeping guest time behind wall time.
    #[arg(long)]
    unpaced: bool,
    /// Start the RTC at this Unix time (reproducible runs) instead of the host clock.
    #[arg(long, value_name = "SECONDS")]
    rtc_epoch: Option<i64>,
    /// Stop after this many seconds of guest time.
    #[arg(long, value_name = "SECONDS")]
    time_limit: Option<f64>,
    /// Decode every instruction again instead of using the block cache (for measurements).
    #[arg(long)]
    no_block_cache: bool,
    /// Print execution statistics on exit.
    #[arg(long)]
    stats: bool,
    /// Print the N blocks of guest code that retired the most instructions on exit (their
    /// linear start addresses, runs and instruction counts), like QEMU's hotblocks plugin.
    #[arg(long, value_name = "N", default_value_t = 0)]
    hot_blocks: usize,
    /// Report the first N exceptions on stderr (like QEMU's -d int).
    #[arg(long, value_name = "N", default_value_t = 0)]
    log_exceptions: u32,
}

#[derive(Subcommand)]
enum Cmd {
    /// Boot a machine.
    Run(Box<RunArgs>),
    /// Run single-step conformance tests (SingleStepTests format: gzipped JSON).
    Sst {
        /// Test files or directories of `*.json.gz` files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print at most this many failing tests (all are counted).
        #[arg(long, default_value_t = 200)]
        max_failures: usize,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprintln!(
                "emu: error: missing command: `emu run DISK` or `emu sst PATH` (see emu --help)"
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            // One line, like every other error: clap's first line without its prefix.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("emu: error: {first} (see emu --help)");
            return ExitCode::from(2);
        }
    };
    match run_cli(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("emu: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_port(s: &str) -> anyhow::Result<u16> {
    let t = s.trim();
    let v = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u16::from_str_radix(h, 16)
    } else {
        t.parse::<u16>()
    };
    v.with_context(|| format!("bad port number {s:?}"))
}

fn run_machine(a: RunArgs) -> anyhow::Result<ExitCode> {
    let mut debugcon = Vec::new();
    for d in &a.debugcon {
        let Some((p, f)) = d.split_once('=') else {
            bail!("--debugcon {d:?}: expected PORT=FILE");
        };
        debugcon.push((parse_port(p)?, PathBuf::from(f)));
    }
    let config = MachineConfig {
        memory_mb: a.memory,
        disk: a.disk.clone(),
        floppy: a.fda.clone(),
        snapshot: a.snapshot,
        bios: a.bios.clone(),
        kernel: a.kernel.clone(),
        initrd: a.initrd.clone(),
        append: a.append.clone(),
        debugcon,
        rtc_epoch: a.rtc_epoch,
    };
    let mut m = Machine::new(config)?;
    m.cpu.block_cache_enabled = !a.no_block_cache;
    m.cpu.log_exceptions = a.log_exceptions;
    m.cpu.tlb.count_hits = a.stats;
    if a.hot_blocks > 0 {
        m.cpu.hot_blocks = Some(Default::default());
    }
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let console = match (a.nographic, a.display) {
        (true, _) | (_, Some(Display::Serial)) => Console::Serial,
        (_, Some(Display::None)) => Console::Headless,
        (false, None | Some(Display::Curses)) if tty => Console::Display,
        (false, None | Some(Display::Curses)) => {
            eprintln!("emu: stdin or stdout is not a terminal: using the serial console (COM1) instead of the display");
            Console::Serial
        }
    };
    let opts = RunOptions {
        paced: !a.unpaced,
        console,
        no_reboot: a.no_reboot,
        time_limit_ns: a.time_limit.map(|s| (s.max(0.0) * 1e9) as u64),
    };
    let started = std::time::Instant::now();
    let outcome = if console == Console::Display {
        // Dropped (terminal restored) before anything below prints, on errors too.
        let mut display = TermDisplay::new()?;
        let io = run::Io {
            input: None,
            output: Box::new(std::io::sink()),
            stop: run::install_signals(),
        };
        run::run_with(&mut m, opts, false, io, Some(&mut display))?
    } else {
        let raw = console == Console::Serial && std::io::stdin().is_terminal();
        let _guard = if raw { Some(Session::raw()?) } else { None };
        let io = run::Io::terminal(console == Console::Serial);
        run::run(&mut m, opts, raw, io)?
    };
    if a.stats {
        print_stats(&m, started.elapsed());
    }
    if let Some(h) = m.cpu.hot_blocks.as_deref() {
        print_hot_blocks(h, a.hot_blocks);
    }
    let missing = m.cpu.unimplemented();
    if !missing.is_empty() {
        eprintln!(
            "emu: the guest used instructions emu does not implement (each raised #UD): {}",
            missing.join(", ")
        );
    }
    if let Some(e) = m.bios.as_ref().and_then(|b| b.boot_error.clone()) {
        eprintln!("emu: boot failed: {e}");
    }
    Ok(ExitCode::from(outcome.exit_code()))
}

fn print_hot_blocks(h: &emu_cpu::hotblocks::HotBlocks, n: usize) {
    let total = h.total_insns().max(1);
    eprintln!(
        "emu: hot blocks: top {} of {} block starts by guest instructions ({} in all)",
        n.min(h.len()),
        h.len(),
        h.total_insns()
    );
    eprintln!("emu:   linear     share        instructions          runs");
    for (lin, c) in h.top(n) {
        eprintln!(
            "emu:   {lin:08x} {:6.2}% {:>19} {:>13}",
            100.0 * c.insns as f64 / total as f64,
            c.insns,
            c.runs
        );
    }
    let other = h.other();
    if other.runs > 0 {
        eprintln!(
            "emu:   (more than {} block starts: {} instructions in {} runs from the rest were not told apart)",
            emu_cpu::hotblocks::MAX_STARTS,
            other.insns,
            other.runs
        );
    }
}

fn print_stats(m: &Machine, wall: std::time::Duration) {
    let s = &m.cpu.stats;
    let secs = wall.as_secs_f64().max(1e-9);
    let n = m.cpu.icount;
    let lookups = s.block_hits + s.blocks_decoded;
    let (invalidations, flushes) = m.cpu.block_cache_counts();
    eprintln!(
        "emu: {n} instructions in {secs:.3} s ({:.1} MIPS)",
        n as f64 / secs / 1e6
    );
    eprintln!(
        "emu: blocks decoded {} ({} ops skip dead flags, {} Jcc/SETcc/CMOVcc read their setter), cache hit rate {:.2}%, invalidated by code writes {}, flushes {}",
        s.blocks_decoded,
        s.dead_flag_ops,
        s.folded_jccs,
        100.0 * s.block_hits as f64 / lookups.max(1) as f64,
        invalidations,
        flushes
    );
    eprintln!(
        "emu: TLB hits {}, misses {}, page walks {}; host TLB misses {} (data accesses it did not map)",
        m.cpu.tlb.hits, m.cpu.tlb.misses, s.page_walks, s.host_misses
    );
    eprintln!(
        "emu: exits: port I/O {}, MMIO 0 (no memory-mapped devices: VGA text memory is RAM), interrupts {}, exceptions {}, HLT {}",
        s.io_exits, s.interrupts, s.exceptions, s.halts
    );
    let cs = &m.cpu.seg[emu_cpu::SegReg::Cs as usize];
    let mut code = [0u8; 16];
    m.cpu
        .mem
        .read_bytes(cs.base.wrapping_add(m.cpu.eip), &mut code);
    eprintln!("emu: code at CS:EIP: {code:02x?}");
    eprintln!("emu: regs {:08x?}", &m.cpu.r[..8]);
    eprintln!(
        "emu: stopped at {:04x}:{:08x} (CS base {:08x}), CR0 {:08x}, last exception {}",
        cs.sel,
        m.cpu.eip,
        cs.base,
        m.cpu.cr0,
        m.cpu
            .last_exception
            .map_or("none".to_string(), |e| e.to_string())
    );
}

fn run_cli(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Run(a) => run_machine(*a),
        Cmd::Sst {
            paths,
            max_failures,
        } => {
            let s = emu_frontend::sst::run_paths(&paths)?;
            for f in s.failures.iter().take(max_failures) {
                println!("{f}");
            }
            if s.failures.len() > max_failures {
                println!("... {} more failures", s.failures.len() - max_failures);
            }
            for (rule, n) in &s.skips {
                println!("skipped {n} under rule {rule} (testdata/sst-286-vs-686.txt)");
            }
            println!("{}", s.line());
            Ok(if s.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
