//! The paged protected-mode machine the event benchmarks run on (`emu_suite::pm`): ring 3
//! really is ring 3 behind paging, and whatever the guest raises stops in its vector's stub.

use emu_cpu::{Cpu, Exit, NullBus};
use emu_suite::{load_code, pm, run_until_stop};
use iced_x86::code_asm::*;

/// Runs `body` at ring 3 on a fresh machine that `prepare` has changed.
fn run_user(
    prepare: impl FnOnce(&mut Cpu<NullBus>),
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Cpu<NullBus> {
    let mut a = CodeAssembler::new(32).unwrap();
    body(&mut a).unwrap();
    let code = a.assemble(pm::USER as u64).unwrap();
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    load_code(&mut cpu, pm::USER, &code);
    prepare(&mut cpu);
    pm::enter(&mut cpu, 3, pm::USER, pm::USTACK_TOP, 0x0002);
    assert_eq!(run_until_stop(&mut cpu, 1000), Exit::Halted);
    cpu
}

#[test]
fn ring3_exit_reaches_its_stub_on_the_kernel_stack() {
    let cpu = run_user(
        |_| {},
        |a| {
            a.mov(eax, dword_ptr(pm::DATA))?;
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    // The interrupt switched to the TSS stack: SS, ESP, EFLAGS, CS, EIP pushed below it.
    assert_eq!(cpu.r[4], pm::KSTACK_TOP - 20);
    assert_eq!(cpu.mem.read_u32(pm::KSTACK_TOP - 16), pm::UCODE as u32);
}

#[test]
fn ring3_cannot_touch_kernel_pages_or_unmapped_ones() {
    let cpu = run_user(|_| {}, |a| a.mov(eax, dword_ptr(pm::KERNEL)));
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), pm::KERNEL));
    let unmap = |cpu: &mut Cpu<NullBus>| pm::set_pte(cpu, pm::DATA, 0);
    let cpu = run_user(unmap, |a| a.mov(eax, dword_ptr(pm::DATA)));
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), pm::DATA));
}
