//! The throughput programs of `cpu.rs` again as 32-bit code run at ring 3 with paging on, so
//! every memory access and fetch goes through segmentation checks for CPL 3 and the TLB.
//!
//! Each program starts at [`pm::USER`] on the user stack and ends with `INT EXIT_VECTOR`,
//! which lands in that vector's ring-0 `HLT` stub (see `emu_suite::pm`).

use emu_cpu::{Cpu, Exit, NullBus};
use emu_suite::{load_code, pm, run_until_stop};
use iced_x86::code_asm::*;

/// Guest RAM of the paged machine.
pub const RAM: usize = 4 << 20;
/// Source and destination of the copies: 1 MiB apart.
const SRC: u32 = pm::DATA;
const DST: u32 = pm::DATA + 0x10_0000;

/// A 32-bit ring-3 guest program.
pub struct Program32 {
    pub name: &'static str,
    pub code: Vec<u8>,
    /// Report bytes copied (this many per run) instead of instructions.
    pub bytes: Option<u64>,
}

/// Assembles what `body` emits, followed by the exit, for loading at [`pm::USER`].
fn program(
    name: &'static str,
    bytes: Option<u64>,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Program32 {
    let mut a = CodeAssembler::new(32).unwrap();
    body(&mut a).unwrap();
    a.int(pm::EXIT_VECTOR as u32).unwrap();
    Program32 {
        name,
        code: a.assemble(pm::USER as u64).unwrap(),
        bytes,
    }
}

/// Register arithmetic: 8 instructions per iteration, ~1M instructions.
fn alu_loop() -> Program32 {
    program("alu_loop", None, |a| {
        a.mov(ecx, 125_000)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.add(eax, ebx)?;
        a.xor(edx, eax)?;
        a.inc(esi)?;
        a.dec(edi)?;
        a.cmp(esi, edi)?;
        a.adc(ebx, ecx)?;
        a.dec(ecx)?;
        a.jnz(top)
    })
}

/// The interpreter's floor: 56 NOPs and the loop's DEC/JNZ per iteration, ~1M instructions.
/// A NOP's handler does nothing, so this is the cost of dispatching one decoded instruction
/// (fetching its op, the indirect call, the checks after it) and of a block's end, amortised
/// over 58 instructions: no instruction mix runs faster than this.
fn nop_loop() -> Program32 {
    program("nop_loop", None, |a| {
        a.mov(ecx, 17_241)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        for _ in 0..56 {
            a.nop()?;
        }
        a.dec(ecx)?;
        a.jnz(top)
    })
}

/// Word copy through AX: 5 instructions per iteration, ~1M instructions, 400 KB each way.
fn copy_loop() -> Program32 {
    program("copy_loop", None, |a| {
        a.mov(esi, SRC)?;
        a.mov(edi, DST)?;
        a.mov(ecx, 200_000)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.mov(ax, word_ptr(esi))?;
        a.mov(word_ptr(edi), ax)?;
        a.add(esi, 2)?;
        a.add(edi, 2)?;
        a.loop_(top)
    })
}

/// One REP MOVSW of 32 KiB.
fn rep_movsw() -> Program32 {
    program("rep_movsw_32k", Some(32 * 1024), |a| {
        a.mov(esi, SRC)?;
        a.mov(edi, DST)?;
        a.mov(ecx, 0x4000)?;
        a.rep().movsw()
    })
}

/// CALL to a bare RET: 4 instructions per iteration, ~1M instructions.
fn call_ret_loop() -> Program32 {
    program("call_ret_loop", None, |a| {
        let mut func = a.create_label();
        let mut top = a.create_label();
        let mut done = a.create_label();
        a.mov(ecx, 250_000)?;
        a.set_label(&mut top)?;
        a.call(func)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.jmp(done)?;
        a.set_label(&mut func)?;
        a.ret()?;
        a.set_label(&mut done)?;
        Ok(())
    })
}

/// Limbs per run of [`mpi_loop`].
const MPI_LIMBS: i32 = 22_000;

/// Multiply-and-subtract over big-integer limbs, shaped as GCC 12 compiles the generic C of
/// Linux's `mpihelp_submul_1` for i386 (the 32x32 product from four 16-bit IMULs, locals in
/// the frame, CMOV and SETB for the carries): 45 instructions per limb, ~1M instructions.
/// RSA checks of the kernel's built-in keys spend half of a Debian boot in this loop.
fn mpi_loop() -> Program32 {
    program("mpi_loop", None, |a| {
        let n = MPI_LIMBS;
        a.mov(ebp, esp)?;
        a.sub(esp, 0x40)?;
        a.mov(dword_ptr(ebp - 0x10), -n)?; // limb index, counts up to zero
        a.mov(dword_ptr(ebp - 0x28), SRC + 4 * n as u32)?; // end of the multiplicand
        a.mov(dword_ptr(ebp - 0x20), 0x1234)?; // multiplier, low half
        a.mov(dword_ptr(ebp - 0x18), 0x9ABC)?; // multiplier, high half
        a.mov(dword_ptr(ebp - 0x24), DST)?; // result, as base plus offset
        a.mov(dword_ptr(ebp - 0x1C), 4 * n as u32)?;
        a.xor(esi, esi)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.mov(ecx, dword_ptr(ebp - 0x10))?;
        a.mov(eax, dword_ptr(ebp - 0x28))?;
        a.mov(ebx, dword_ptr(ebp - 0x20))?;
        a.mov(edi, dword_ptr(ebp - 0x18))?;
        a.mov(edx, dword_ptr(eax + ecx * 4))?;
        a.mov(eax, ebx)?;
        a.movzx(ecx, dx)?;
        a.shr(edx, 16)?;
        a.imul_2(eax, ecx)?;
        a.imul_2(ebx, edx)?;
        a.imul_2(ecx, edi)?;
        a.imul_2(edx, edi)?;
        a.mov(edi, eax)?;
        a.movzx(eax, ax)?;
        a.shr(edi, 16)?;
        a.add(ecx, ebx)?;
        a.mov(dword_ptr(ebp - 0x14), edx)?;
        a.mov(edx, edi)?;
        a.add(edx, ecx)?;
        a.mov(ecx, dword_ptr(ebp - 0x14))?;
        a.add(ecx, 0x10000)?;
        a.cmp(edx, ebx)?;
        a.mov(edi, ecx)?;
        a.mov(ecx, edx)?;
        a.cmovae(edi, dword_ptr(ebp - 0x14))?;
        a.add(eax, esi)?;
        a.shl(ecx, 16)?;
        a.xor(ebx, ebx)?;
        a.add(eax, ecx)?;
        a.mov(ecx, dword_ptr(ebp - 0x1C))?;
        a.cmp(eax, esi)?;
        a.mov(esi, edx)?;
        a.mov(edx, dword_ptr(ebp - 0x24))?;
        a.setb(bl)?;
        a.shr(esi, 16)?;
        a.add(edx, ecx)?;
        a.mov(ecx, dword_ptr(ebp - 0x10))?;
        a.mov(ecx, dword_ptr(edx + ecx * 4))?;
        a.sub(ecx, eax)?;
        a.mov(eax, dword_ptr(ebp - 0x10))?;
        a.adc(ebx, esi)?;
        a.mov(dword_ptr(edx + eax * 4), ecx)?;
        a.mov(ecx, eax)?;
        a.lea(esi, dword_ptr(ebx + edi))?;
        a.add(ecx, 1)?;
        a.mov(dword_ptr(ebp - 0x10), ecx)?;
        a.jne(top)?;
        a.mov(esp, ebp)
    })
}

/// The guest x87 benchmark loop of `testdata/guests/emubench.c` at ring 3: m64 loads,
/// arithmetic and a store, FLD ST(0), a square and FSQRT; 12 instructions per iteration
/// (10 x87), ~1M instructions.
fn x87_mem_loop() -> Program32 {
    program("x87_mem_loop", None, |a| {
        // x = 0.1, a = 1.25, b = 0.5, c = 2.0, h = 0.5 at SRC, SRC+8, ... SRC+32.
        for (i, v) in [0.1f64, 1.25, 0.5, 2.0, 0.5].iter().enumerate() {
            let bits = v.to_bits();
            let at = SRC + 8 * i as u32;
            a.mov(dword_ptr(at), bits as u32)?;
            a.mov(dword_ptr(at + 4), (bits >> 32) as u32)?;
        }
        a.mov(ebx, SRC)?;
        a.fninit()?;
        a.mov(ecx, 83_334)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.fld(qword_ptr(ebx))?;
        a.fmul(qword_ptr(ebx + 8))?;
        a.fadd(qword_ptr(ebx + 16))?;
        a.fdiv(qword_ptr(ebx + 24))?;
        a.fld(st0)?;
        a.fmul_2(st0, st0)?;
        a.fsqrt()?;
        a.faddp(st1, st0)?;
        a.fmul(qword_ptr(ebx + 32))?;
        a.fstp(qword_ptr(ebx))?;
        a.dec(ecx)?;
        a.jnz(top)
    })
}

/// Kernel-like code: a loop over `body` pseudo-random instructions (register ALU, LEA, loads
/// and stores at EBP, compare-and-branch, and a CALL to a two-instruction function every
/// seventh), from a fixed seed, ~1M instructions per run. The loop benches above repeat a
/// handful of instructions, so the host predicts every handler call; here the predictor has
/// to remember `body` of them, which is what kernel paths (system calls, scheduling, page
/// faults) ask of it. Bodies of 1,000 and 20,000 instructions show the two regimes.
fn mixed(name: &'static str, body: usize) -> Program32 {
    program(name, None, |a| {
        let regs = [eax, ebx, edx, esi, edi];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        // Registers and the 256 bytes at EBP start the same on every run, so each run takes
        // the same branches and retires the same count.
        a.mov(ebp, DST)?;
        for (i, r) in regs.iter().enumerate() {
            a.mov(*r, 0x1234_5679 * (i as u32 + 1))?;
        }
        for i in 0..64 {
            a.mov(dword_ptr(ebp + 4 * i), 0x0101_0101 * i as u32)?;
        }
        a.mov(ecx, (1_000_000 / body) as u32)?;
        let mut top = a.create_label();
        let mut funcs = Vec::new();
        a.set_label(&mut top)?;
        for i in 0..body {
            let d = regs[rnd(5) as usize];
            let s = regs[rnd(5) as usize];
            let disp = (rnd(64) * 4) as i32;
            match rnd(12) {
                0 => a.add(d, s)?,
                1 => a.sub(d, s)?,
                2 => a.xor(d, s)?,
                3 => a.mov(d, s)?,
                4 => a.lea(d, dword_ptr(s + disp))?,
                5 | 6 => a.mov(d, dword_ptr(ebp + disp))?,
                7 => a.mov(dword_ptr(ebp + disp), s)?,
                8 => a.and(d, s)?,
                9 => a.shl(d, 3)?,
                10 => a.add(d, dword_ptr(ebp + disp))?,
                _ => {
                    let mut skip = a.create_label();
                    a.cmp(d, s)?;
                    a.jae(skip)?;
                    a.inc(d)?;
                    a.set_label(&mut skip)?;
                }
            }
            if i % 7 == 6 {
                let f = a.create_label();
                a.call(f)?;
                funcs.push(f);
            }
        }
        a.dec(ecx)?;
        a.jnz(top)?;
        let mut done = a.create_label();
        a.jmp(done)?;
        for mut f in funcs {
            a.set_label(&mut f)?;
            a.add(regs[rnd(5) as usize], 1)?;
            a.ret()?;
        }
        a.set_label(&mut done)
    })
}

/// The programs of the `paged_ring3` group.
pub fn programs() -> Vec<Program32> {
    vec![
        nop_loop(),
        alu_loop(),
        copy_loop(),
        rep_movsw(),
        call_ret_loop(),
        mpi_loop(),
        x87_mem_loop(),
        mixed("mixed_1k", 1_000),
        mixed("mixed_20k", 20_000),
    ]
}

/// The paged machine with `p` loaded at [`pm::USER`].
pub fn machine(p: &Program32, cache: bool) -> Cpu<NullBus> {
    let mut cpu = pm::paged_cpu(RAM, NullBus);
    cpu.block_cache_enabled = cache;
    load_code(&mut cpu, pm::USER, &p.code);
    cpu
}

/// Runs the program once at ring 3 from its start to its exit; returns the instructions
/// retired (the exit's `INT` and `HLT` included).
pub fn run_once(cpu: &mut Cpu<NullBus>, p: &Program32) -> u64 {
    pm::enter(cpu, 3, pm::USER, pm::USTACK_TOP, 0x0002);
    let start = cpu.icount;
    let exit = run_until_stop(cpu, 100_000_000);
    let v = pm::halted_vector(cpu);
    if exit != Exit::Halted || v != Some(pm::EXIT_VECTOR) {
        panic!(
            "{}: did not reach its exit ({exit:?}, vector {v:?}, eip {:08X}, cr2 {:08X})",
            p.name, cpu.eip, cpu.cr2
        );
    }
    cpu.icount - start
}
