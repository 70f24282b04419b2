//! `emu`: the command-line front end.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Cmd {
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
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("emu: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
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
