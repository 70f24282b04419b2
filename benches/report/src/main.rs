//! `bench-report`: reads criterion's results (and the boot, guest benchmark, idle-cost and
//! Bochs JSON when present) and writes `benches/REPORT.md` and the ratio chart `benches/ratios.svg`.
//! `scripts/bench-report.sh` runs the benches and then this.

mod chart;
mod criterion;
mod extra;
mod host;
mod markdown;
mod model;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Write benches/REPORT.md and benches/ratios.svg from benchmark results")]
struct Args {
    /// criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// Boot times from scripts/bench-boot.sh (left out when absent).
    #[arg(long, default_value = "target/bench/boot.json")]
    boot: PathBuf,
    /// The guest benchmark's results (left out when absent).
    #[arg(long, default_value = "target/bench/guest.json")]
    guest: PathBuf,
    /// Bochs's boot time and guest benchmark from scripts/bochs-bench.sh (left out when
    /// absent).
    #[arg(long, default_value = "target/bench/bochs.json")]
    bochs: PathBuf,
    /// Idle cost and peak memory from scripts/idle-cost.sh (left out when absent).
    #[arg(long, default_value = "target/bench/idle.json")]
    idle: PathBuf,
    /// The report to write.
    #[arg(long, default_value = "benches/REPORT.md")]
    out: PathBuf,
    /// The chart to write, next to the report.
    #[arg(long, default_value = "benches/ratios.svg")]
    chart: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let benches = criterion::load(&args.criterion)?;
    let throughput = model::throughput_rows(&benches);
    let events = model::event_rows(&benches);
    let boot: Option<extra::Boot> = extra::load(&args.boot)?;
    let bochs: Option<extra::Bochs> = extra::load(&args.bochs)?;
    let guest = extra::Guest::with_bochs(extra::load(&args.guest)?, bochs.as_ref());
    let idle: Option<extra::Idle> = extra::load(&args.idle)?;

    let mut ratios: Vec<(String, f64)> = events
        .iter()
        .filter_map(|e| Some((e.event.clone(), e.ratio()?)))
        .collect();
    if let Some(g) = &guest {
        ratios.extend(
            g.rows
                .iter()
                .filter_map(|r| Some((format!("guest: {}", r.name), r.slowdown(r.emu, r.native)?))),
        );
    }
    let chart = if ratios.is_empty() {
        None
    } else {
        chart::draw(&args.chart, &ratios)?;
        args.chart.file_name().and_then(|n| n.to_str())
    };

    let date = host::now_utc();
    let machine = host::machine();
    let text = markdown::render(&markdown::Report {
        date: &date,
        machine: &machine,
        throughput: &throughput,
        events: &events,
        boot: boot.as_ref(),
        guest: guest.as_ref(),
        bochs: bochs.as_ref(),
        idle: idle.as_ref(),
        chart,
    });
    std::fs::write(&args.out, text).with_context(|| args.out.display().to_string())?;
    eprintln!(
        "bench-report: {} throughput rows, {} events{}{}{}{} -> {}",
        throughput.len(),
        events.len(),
        if boot.is_some() { ", boot times" } else { "" },
        if guest.is_some() {
            ", guest benchmark"
        } else {
            ""
        },
        if idle.is_some() { ", idle cost" } else { "" },
        if bochs.is_some() { ", Bochs" } else { "" },
        args.out.display()
    );
    Ok(())
}
