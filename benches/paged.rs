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

/// The programs of the `paged_ring3` group.
pub fn programs() -> Vec<Program32> {
    vec![alu_loop(), copy_loop(), rep_movsw(), call_ret_loop()]
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
