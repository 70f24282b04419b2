//! Host instructions per guest instruction for the `paged_ring3` programs of `benches/cpu.rs`,
//! counted by callgrind (`scripts/host-icount.sh`). Wall-clock benchmarks on a shared host
//! swing by 20-50% from run to run; this count is exact and repeatable, so it tells whether
//! a change to the interpreter's hot path removed work even when criterion cannot.
//!
//! Usage: `host_icount [PROGRAM]`: each program (or the one named) runs once to decode and
//! warm its blocks, then once inside [`measure`], the function callgrind is told to count;
//! prints the program's name and the guest instructions of the measured run.

#[path = "../benches/paged.rs"]
#[allow(dead_code)]
mod paged;

use emu_cpu::{Cpu, NullBus};

/// The measured run (callgrind: `--toggle-collect='*host_icount*measure*'`).
#[inline(never)]
fn measure(cpu: &mut Cpu<NullBus>, p: &paged::Program32) -> u64 {
    paged::run_once(cpu, p)
}

fn main() {
    let only = std::env::args().nth(1);
    let programs = paged::programs();
    if let Some(o) = &only {
        if !programs.iter().any(|p| p.name == o) {
            let names: Vec<_> = programs.iter().map(|p| p.name).collect();
            eprintln!("host_icount: no program {o} (have: {})", names.join(", "));
            std::process::exit(2);
        }
    }
    for p in programs {
        if only.as_deref().is_some_and(|o| o != p.name) {
            continue;
        }
        let mut cpu = paged::machine(&p, true);
        paged::run_once(&mut cpu, &p);
        let n = measure(&mut cpu, &p);
        println!("{} {}", p.name, n);
    }
}
