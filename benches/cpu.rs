//! Interpreter throughput: guest instructions per second on the same loops in real mode
//! (group `real_mode`) and as 32-bit ring-3 code with paging on (group `paged_ring3`, programs
//! in `paged.rs`), each with the block cache on and off.
//!
//! Every benchmark runs a hand-assembled program from its entry point to its final `HLT`.
//! The instruction count of one run is measured (from `cpu.icount`) before timing starts, and
//! is the benchmark's throughput in elements, so criterion's `elem/s` is guest instructions
//! per second (`Melem/s` = guest MIPS). `rep_movsw_32k` is reported in bytes copied instead:
//! a REP string instruction counts as one instruction per 4096-element chunk, so its
//! instruction rate says nothing.
//!
//! `cargo bench --bench cpu` (add `-- --quick` for a fast rough run).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use emu_cpu::{Cpu, Exit, NullBus};
use emu_suite::{
    halted_vector, load_code, phys, real_mode_cpu, reset_real_mode, run_until_stop, Code, CODE_SEG,
};

mod paged;

const RAM: usize = 2 << 20;

/// A guest program: code loaded at `CODE_SEG:0000`, entered at `CODE_SEG:entry`.
struct Program {
    name: &'static str,
    code: Vec<u8>,
    entry: u16,
    /// Report bytes copied (this many per run) instead of instructions.
    bytes: Option<u64>,
}

/// `MOV ECX, n` in 16-bit code.
fn mov_ecx(c: &mut Code, n: u32) {
    c.emit(&[0x66, 0xB9]).emit(&n.to_le_bytes());
}

/// DS = 0x2000, ES = 0x3000, SI = DI = 0: a source and a destination 64 KiB apart.
fn copy_setup(c: &mut Code) {
    c.emit(&[0xB8, 0x00, 0x20, 0x8E, 0xD8]) // mov ax, 0x2000; mov ds, ax
        .emit(&[0xB8, 0x00, 0x30, 0x8E, 0xC0]) // mov ax, 0x3000; mov es, ax
        .emit(&[0x31, 0xF6, 0x31, 0xFF]); // xor si, si; xor di, di
}

/// Register arithmetic: 8 instructions per iteration, ~1M instructions.
fn alu_loop() -> Program {
    let mut c = Code::new();
    mov_ecx(&mut c, 125_000);
    let top = c.here();
    c.emit(&[0x01, 0xD8]) // add ax, bx
        .emit(&[0x31, 0xC2]) // xor dx, ax
        .emit(&[0x46]) // inc si
        .emit(&[0x4F]) // dec di
        .emit(&[0x39, 0xFE]) // cmp si, di
        .emit(&[0x11, 0xCB]) // adc bx, cx
        .emit(&[0x66, 0x49]) // dec ecx
        .short_to(0x75, top) // jnz top
        .emit(&[0xF4]);
    Program {
        name: "alu_loop",
        code: c.bytes,
        entry: 0,
        bytes: None,
    }
}

/// x87 arithmetic on the register stack: a polynomial step and a division per iteration,
/// 8 instructions per iteration (6 x87), ~1M instructions.
fn x87_loop() -> Program {
    let mut c = Code::new();
    c.emit(&[0xDB, 0xE3]) // fninit
        .emit(&[0xD9, 0xE8]) // fld1            st0 = 1 (the increment)
        .emit(&[0xD9, 0xEE]) // fldz            st0 = 0 (the accumulator)
        .emit(&[0xD9, 0xEB]); // fldpi          st0 = pi, st1 = acc, st2 = 1
    mov_ecx(&mut c, 125_000);
    let top = c.here();
    c.emit(&[0xDC, 0xC9]) // fmul st1, st0     acc *= pi
        .emit(&[0xD8, 0xC2]) // fadd st0, st2  pi += 1
        .emit(&[0xDC, 0xF9]) // fdiv st1, st0  acc /= pi
        .emit(&[0xD9, 0xC9]) // fxch st1
        .emit(&[0xD8, 0xC2]) // fadd st0, st2  acc += 1
        .emit(&[0xD9, 0xC9]) // fxch st1
        .emit(&[0x66, 0x49]) // dec ecx
        .short_to(0x75, top) // jnz top
        .emit(&[0xF4]);
    Program {
        name: "x87_loop",
        code: c.bytes,
        entry: 0,
        bytes: None,
    }
}

/// The guest x87 benchmark loop of `testdata/guests/emubench.c` (`x87_loop`): memory
/// operands (m64 loads, arithmetic and a store), FLD ST(0), a square and FSQRT; 12
/// instructions per iteration (10 x87), ~1M instructions. x starts at 0.1 and converges to 2/3.
fn x87_mem_loop() -> Program {
    let mut c = Code::new();
    c.emit(&[0xB8, 0x00, 0x20, 0x8E, 0xD8]) // mov ax, 0x2000; mov ds, ax
        .emit(&[0x31, 0xDB]); // xor bx, bx
                              // x = 0.1, a = 1.25, b = 0.5, c = 2.0, h = 0.5 at [bx+0], [bx+8], ... [bx+32].
    for (i, v) in [0.1f64, 1.25, 0.5, 2.0, 0.5].iter().enumerate() {
        let bits = v.to_bits();
        for half in 0..2 {
            let disp = (i * 8 + half * 4) as u8;
            c.emit(&[0x66, 0xC7, 0x47, disp]) // mov dword [bx+disp], imm32
                .emit(&((bits >> (32 * half)) as u32).to_le_bytes());
        }
    }
    c.emit(&[0xDB, 0xE3]); // fninit
    mov_ecx(&mut c, 83_334);
    let top = c.here();
    c.emit(&[0xDD, 0x47, 0x00]) // fld qword [bx]        x
        .emit(&[0xDC, 0x4F, 0x08]) // fmul qword [bx+8]   a
        .emit(&[0xDC, 0x47, 0x10]) // fadd qword [bx+16]  b
        .emit(&[0xDC, 0x77, 0x18]) // fdiv qword [bx+24]  c
        .emit(&[0xD9, 0xC0]) // fld st0
        .emit(&[0xD8, 0xC8]) // fmul st0, st0
        .emit(&[0xD9, 0xFA]) // fsqrt
        .emit(&[0xDE, 0xC1]) // faddp st1, st0
        .emit(&[0xDC, 0x4F, 0x20]) // fmul qword [bx+32]  h
        .emit(&[0xDD, 0x5F, 0x00]) // fstp qword [bx]     x
        .emit(&[0x66, 0x49]) // dec ecx
        .short_to(0x75, top) // jnz top
        .emit(&[0xF4]);
    Program {
        name: "x87_mem_loop",
        code: c.bytes,
        entry: 0,
        bytes: None,
    }
}

/// Word copy through AX: 5 instructions per iteration, ~1M instructions.
fn copy_loop() -> Program {
    let mut c = Code::new();
    copy_setup(&mut c);
    mov_ecx(&mut c, 200_000);
    let top = c.here();
    c.emit(&[0x8B, 0x04]) // mov ax, [si]
        .emit(&[0x26, 0x89, 0x05]) // mov es:[di], ax
        .emit(&[0x83, 0xC6, 0x02]) // add si, 2
        .emit(&[0x83, 0xC7, 0x02]) // add di, 2
        .emit(&[0x67]) // address size 32: LOOP counts in ECX
        .short_to(0xE2, top)
        .emit(&[0xF4]);
    Program {
        name: "copy_loop",
        code: c.bytes,
        entry: 0,
        bytes: None,
    }
}

/// One REP MOVSW of 32 KiB.
fn rep_movsw() -> Program {
    let mut c = Code::new();
    copy_setup(&mut c);
    c.emit(&[0xB9, 0x00, 0x40]) // mov cx, 0x4000
        .emit(&[0xF3, 0xA5]) // rep movsw
        .emit(&[0xF4]);
    Program {
        name: "rep_movsw_32k",
        code: c.bytes,
        entry: 0,
        bytes: Some(32 * 1024),
    }
}

/// CALL to a bare RET: 4 instructions per iteration, ~1M instructions.
fn call_ret_loop() -> Program {
    let mut c = Code::new();
    let func = c.here();
    c.emit(&[0xC3]); // func: ret
    let entry = c.here() as u16;
    mov_ecx(&mut c, 250_000);
    let top = c.here();
    c.call_to(func)
        .emit(&[0x66, 0x49]) // dec ecx
        .short_to(0x75, top) // jnz top
        .emit(&[0xF4]);
    Program {
        name: "call_ret_loop",
        code: c.bytes,
        entry,
        bytes: None,
    }
}

fn machine(p: &Program, cache: bool) -> Cpu<NullBus> {
    let mut cpu = real_mode_cpu(RAM);
    cpu.block_cache_enabled = cache;
    load_code(&mut cpu, phys(CODE_SEG, 0), &p.code);
    cpu
}

/// Runs the program once from its entry to its HLT; returns the instructions retired.
fn run_once(cpu: &mut Cpu<NullBus>, p: &Program) -> u64 {
    reset_real_mode(cpu, CODE_SEG, p.entry);
    let start = cpu.icount;
    let exit = run_until_stop(cpu, 100_000_000);
    if exit != Exit::Halted || halted_vector(cpu).is_some() {
        panic!(
            "{}: did not reach its HLT ({exit:?}, vector {:?}, at {:04X}:{:04X})",
            p.name,
            halted_vector(cpu),
            cpu.seg[1].sel,
            cpu.eip
        );
    }
    cpu.icount - start
}

/// Benchmarks one program with the block cache on and off, after checking that both modes
/// retire the same number of instructions (`make` builds a machine, `run` runs the program
/// once and returns the instructions retired).
fn bench_program<M>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    bytes: Option<u64>,
    make: impl Fn(bool) -> M,
    run: impl Fn(&mut M) -> u64,
) {
    let counts: Vec<u64> = [true, false].iter().map(|&c| run(&mut make(c))).collect();
    assert_eq!(counts[0], counts[1], "{name}: cache on/off counts differ");
    let instructions = counts[0];
    group.throughput(match bytes {
        Some(b) => Throughput::Bytes(b),
        None => Throughput::Elements(instructions),
    });
    for cache in [true, false] {
        let mut m = make(cache);
        let id = BenchmarkId::new(name, if cache { "cache_on" } else { "cache_off" });
        group.bench_function(id, |b| {
            b.iter(|| {
                let n = run(&mut m);
                assert_eq!(n, instructions);
                black_box(n)
            })
        });
    }
}

fn bench_cpu(c: &mut Criterion) {
    let mut group = c.benchmark_group("real_mode");
    // Uncached runs take a quarter of a second each: flat sampling keeps them to
    // sample_size runs instead of criterion's default 1 + 2 + ... + sample_size.
    group.sampling_mode(SamplingMode::Flat);
    for p in [
        alu_loop(),
        copy_loop(),
        rep_movsw(),
        call_ret_loop(),
        x87_loop(),
        x87_mem_loop(),
    ] {
        let make = |cache| machine(&p, cache);
        bench_program(&mut group, p.name, p.bytes, make, |cpu| run_once(cpu, &p));
    }
    group.finish();

    // The same work as 32-bit code at ring 3 with 4 KiB paging on.
    let mut group = c.benchmark_group("paged_ring3");
    group.sampling_mode(SamplingMode::Flat);
    for p in paged::programs() {
        let make = |cache| paged::machine(&p, cache);
        bench_program(&mut group, p.name, p.bytes, make, |cpu| {
            paged::run_once(cpu, &p)
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_cpu
}
criterion_main!(benches);
