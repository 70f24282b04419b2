//! Virtualization events: what one trip through the emulated machine costs (a system call, a
//! port I/O exit, a page fault, a CR3 reload, a timer interrupt, a write to cached code),
//! each next to the closest host operation measured natively in the same run.
//!
//! One criterion group per event, holding two benchmarks: `emu` (the guest event, one per
//! iteration, guest in paged protected mode; programs in `guest_events.rs`) and `native: ...`
//! (the host analogue, `native.rs`; a batch of `Throughput::Elements` operations per iteration
//! where one alone is too short to time). Time per event = criterion's time per iteration /
//! elements; `scripts/bench-report.sh` turns that into `benches/REPORT.md`.
//!
//! A port I/O exit has no native counterpart (the host cannot trap an `IN`), so its analogue
//! is the host's own exit to the kernel, a system call.
//!
//! `cargo bench --bench events` (append `-- 'int 0x80'` to run only the groups that match).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use emu_cpu::Bus;

mod board_bus;
mod guest_events;
mod native;

use guest_events::EventMachine;

/// The host operation an event is compared with.
#[derive(Clone, Copy)]
enum Native {
    Syscall,
    PageFault,
    ThreadPipe,
    ProcessPipe,
    CodeWrite,
}

impl Native {
    fn name(self) -> &'static str {
        match self {
            Native::Syscall => "native: getppid syscall",
            Native::PageFault => "native: anonymous page fault (mmap, touch, munmap; per page)",
            Native::ThreadPipe => "native: pipe round trip between two threads",
            Native::ProcessPipe => "native: pipe round trip to a child process",
            Native::CodeWrite => "native: store into code then call it (RWX page)",
        }
    }
}

/// Times `iters` calls of `f`.
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// One event: the guest machine's loop, then the native analogue.
fn event<B: Bus>(c: &mut Criterion, name: &str, mut m: EventMachine<B>, native: Native) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    m.time(2); // decode the code and fill the TLB before timing
    group.bench_function("emu", |b| b.iter_custom(|n| m.time(n)));
    let id = native.name();
    match native {
        Native::Syscall => group.bench_function(id, |b| b.iter(native::syscall)),
        Native::PageFault => {
            group.throughput(Throughput::Elements(native::FAULT_PAGES as u64));
            group.bench_function(id, |b| b.iter(native::page_faults))
        }
        Native::ThreadPipe => {
            let mut p = native::ThreadPingPong::new().expect("pipe and thread");
            group.bench_function(id, |b| b.iter_custom(|n| timed(n, || p.round_trip())))
        }
        Native::ProcessPipe => {
            let mut p = native::ProcessPingPong::new().expect("spawn cat");
            group.bench_function(id, |b| b.iter_custom(|n| timed(n, || p.round_trip())))
        }
        Native::CodeWrite => native_code_write(&mut group, id),
    };
    group.finish();
}

#[cfg(target_arch = "x86_64")]
fn native_code_write<'a, 'b>(
    group: &'b mut criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>,
    id: &str,
) -> &'b mut criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    match native::HostCode::new() {
        Ok(mut code) => {
            let mut v = 0u32;
            group.bench_function(id, |b| {
                b.iter(|| {
                    v = v.wrapping_add(1);
                    black_box(code.patch_and_call(v))
                })
            })
        }
        Err(e) => {
            eprintln!("{id}: skipped, no writable and executable mapping: {e}");
            group
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn native_code_write<'a, 'b>(
    group: &'b mut criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>,
    id: &str,
) -> &'b mut criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    eprintln!("{id}: skipped, written for x86-64 hosts only");
    group
}

fn bench_events(c: &mut Criterion) {
    use guest_events as g;
    event(c, "INT 0x80 round trip", g::int80(), Native::Syscall);
    event(
        c,
        "SYSENTER-SYSEXIT round trip",
        g::sysenter(),
        Native::Syscall,
    );
    event(
        c,
        "port IN, bench device",
        g::port_in_device(),
        Native::Syscall,
    );
    event(c, "port IN, PIT counter", g::port_in_pit(), Native::Syscall);
    event(
        c,
        "CMOS read, OUT 70h + IN 71h",
        g::cmos_read(),
        Native::Syscall,
    );
    event(
        c,
        "page fault, map + INVLPG + IRET",
        g::page_fault(),
        Native::PageFault,
    );
    event(
        c,
        &format!("CR3 reload + {}-page TLB refill", g::CR3_PAGES),
        g::cr3_reload(),
        Native::ProcessPipe,
    );
    event(
        c,
        "PIT IRQ, guest in HLT",
        g::pit_irq_hlt(),
        Native::ThreadPipe,
    );
    event(
        c,
        "PIT IRQ, guest busy at ring 3",
        g::pit_irq_busy(),
        Native::ThreadPipe,
    );
    event(
        c,
        "code write + re-execute (SMC)",
        g::smc(),
        Native::CodeWrite,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_events
}
criterion_main!(benches);
