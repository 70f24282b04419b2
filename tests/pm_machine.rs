//! The paged protected-mode machine the event benchmarks run on (`emu_suite::pm`): ring 3
//! really is ring 3 behind paging, and whatever the guest raises stops in its vector's stub.

use emu_cpu::{Cpu, Exit, NullBus};
use emu_suite::{load_code, pm, run_until_stop};
use iced_x86::code_asm::*;
use proptest::prelude::*;

/// `body` assembled as 32-bit code at `at`.
fn assemble(at: u32, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    body(&mut a).unwrap();
    a.assemble(at as u64).unwrap()
}

/// Runs `body` at ring 3 on a fresh machine that `prepare` has changed.
fn run_user(
    prepare: impl FnOnce(&mut Cpu<NullBus>),
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Cpu<NullBus> {
    let code = assemble(pm::USER, body);
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

#[test]
fn a_data_segment_loaded_mid_block_is_checked_at_once() {
    // Slot 5 (the TSS's, whose descriptor ring 3's interrupts never read) becomes a DPL 3
    // data segment of 1 MiB, so `pm::DATA` lies past its limit.
    let small = 0x004F_0000_0000_FFFF | (0xF2u64 << 40);
    let narrow = |cpu: &mut Cpu<NullBus>| {
        cpu.mem.write_u32(pm::GDT + 0x28, small as u32);
        cpu.mem.write_u32(pm::GDT + 0x2C, (small >> 32) as u32);
    };
    // The block starts with DS flat; the load in its middle must end the no-check path for
    // the read right after it (a null selector, then a limit).
    for sel in [0u16, 0x2B] {
        let cpu = run_user(narrow, |a| {
            a.mov(eax, dword_ptr(pm::DATA))?;
            a.mov(bx, sel as u32)?;
            a.mov(ds, bx)?;
            a.mov(eax, dword_ptr(pm::DATA))?;
            a.int(pm::EXIT_VECTOR as u32)
        });
        assert_eq!(pm::halted_vector(&cpu), Some(13), "selector {sel:#x}");
    }
}

/// Runs `body` at ring `ring` from `at` on `cpu` until it stops in a vector's stub.
fn run_on(
    cpu: &mut Cpu<NullBus>,
    ring: u8,
    at: u32,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) {
    run_long_on(cpu, ring, at, 1000, body)
}

/// [`run_on`] with room for `max` instructions.
fn run_long_on(
    cpu: &mut Cpu<NullBus>,
    ring: u8,
    at: u32,
    max: u64,
    body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) {
    load_code(cpu, at, &assemble(at, body));
    let stack = if ring == 0 {
        pm::KSTACK_TOP - 0x100
    } else {
        pm::USTACK_TOP
    };
    pm::enter(cpu, ring, at, stack, 0x0002);
    assert_eq!(run_until_stop(cpu, max), Exit::Halted);
}

/// A page written through the host TLB, then run as code, then patched through another
/// linear alias: the patch must reach the code (the page's write permissions in the host
/// TLB go when it becomes code, whichever alias filled them).
#[test]
fn stores_to_code_through_any_alias_are_seen() {
    const CODE: u32 = 0x3_0000;
    const ALIAS: u32 = 0x3_1000;
    let cpu = run_user(
        |cpu| pm::set_pte(cpu, ALIAS, CODE | pm::PTE_P | pm::PTE_W | pm::PTE_U),
        |a| {
            // MOV EAX, 1; RET, written through the alias (filling its write slot).
            a.mov(byte_ptr(ALIAS), 0xB8u32)?;
            a.mov(dword_ptr(ALIAS + 1), 1u32)?;
            a.mov(byte_ptr(ALIAS + 5), 0xC3u32)?;
            a.call(CODE as u64)?;
            a.mov(ebx, eax)?;
            a.mov(dword_ptr(ALIAS + 1), 2u32)?;
            a.call(CODE as u64)?;
            a.mov(ecx, eax)?;
            a.mov(dword_ptr(CODE + 1), 3u32)?;
            a.call(CODE as u64)?;
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    assert_eq!((cpu.r[3], cpu.r[1], cpu.r[0]), (1, 2, 3));
}

/// The host TLB forgets a page on INVLPG and everything on a CR3 load, like the TLB.
#[test]
fn remapped_pages_are_seen_after_invlpg_and_cr3_loads() {
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    let (d, old, new) = (pm::DATA, pm::DATA + 0x1000, pm::DATA + 0x2000);
    cpu.mem.write_u32(old, 0x1111);
    cpu.mem.write_u32(new, 0x2222);
    cpu.mem.write_u32(new + 0x1000, 0x3333);
    let pte = pm::PT + 4 * (d >> 12);
    let map = |p: u32| p | pm::PTE_P | pm::PTE_W | pm::PTE_U;
    pm::set_pte(&mut cpu, d, map(old));
    run_on(&mut cpu, 0, pm::KERNEL, |a| {
        a.mov(eax, dword_ptr(d))?;
        a.mov(dword_ptr(d + 4), eax)?;
        a.mov(dword_ptr(pte), map(new))?;
        a.invlpg(dword_ptr(d))?;
        a.mov(ebx, dword_ptr(d))?;
        a.mov(dword_ptr(pte), map(new + 0x1000))?;
        a.mov(edx, cr3)?;
        a.mov(cr3, edx)?;
        a.mov(ecx, dword_ptr(d))?;
        a.int(pm::EXIT_VECTOR as u32)
    });
    assert_eq!((cpu.r[0], cpu.r[3], cpu.r[1]), (0x1111, 0x2222, 0x3333));
    assert_eq!(
        cpu.mem.read_u32(old + 4),
        0x1111,
        "the store went to the old page"
    );
}

/// A supervisor page the kernel has just read and written stays out of ring 3's reach.
#[test]
fn ring3_cannot_use_what_ring0_filled() {
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    let k = pm::KERNEL + 0x8000;
    run_on(&mut cpu, 0, pm::KERNEL, |a| {
        a.mov(eax, dword_ptr(k))?;
        a.mov(dword_ptr(k), eax)?;
        a.int(pm::EXIT_VECTOR as u32)
    });
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    run_on(&mut cpu, 3, pm::USER, |a| {
        a.mov(eax, dword_ptr(k))?;
        a.int(pm::EXIT_VECTOR as u32)
    });
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), k));
    run_on(&mut cpu, 3, pm::USER, |a| {
        a.mov(dword_ptr(k), eax)?;
        a.int(pm::EXIT_VECTOR as u32)
    });
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), k));
}

/// Blocks chain across pages through the TLB (a call to another page, a block cut at its
/// page's end running on into the next): after the callee's page is remapped and INVLPG'd,
/// or unmapped, the chain must not reach the old code.
#[test]
fn blocks_chained_across_pages_follow_remaps() {
    const CALLEE: u32 = pm::KERNEL + 0x1000;
    const ALT: u32 = pm::KERNEL + 0x3000;
    // At the end of the callee's page, NOPs that run on into the next page.
    const EDGE: u32 = CALLEE + 0x1000 - 16;
    const NEXT: u32 = CALLEE + 0x1000;
    const ALT_NEXT: u32 = pm::KERNEL + 0x4000;
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    let ret_with = |v: u32| {
        let mut c = vec![0xB8];
        c.extend_from_slice(&v.to_le_bytes());
        c.push(0xC3); // mov eax, v; ret
        c
    };
    load_code(&mut cpu, CALLEE, &ret_with(1));
    load_code(&mut cpu, ALT, &ret_with(2));
    load_code(&mut cpu, EDGE, &[0x90; 16]);
    load_code(&mut cpu, NEXT, &ret_with(10));
    load_code(&mut cpu, ALT_NEXT, &ret_with(20));
    let map = |p: u32| p | pm::PTE_P | pm::PTE_W;
    let rounds = |a: &mut CodeAssembler, target: u32| -> Result<(), IcedError> {
        let mut top = a.create_label();
        a.mov(ecx, 100u32)?;
        a.set_label(&mut top)?;
        a.call(target as u64)?;
        a.add(ebx, eax)?;
        a.dec(ecx)?;
        a.jnz(top)
    };
    run_long_on(&mut cpu, 0, pm::KERNEL, 10_000, |a| {
        a.xor(ebx, ebx)?;
        rounds(a, CALLEE)?;
        rounds(a, EDGE)?;
        a.mov(dword_ptr(pm::pte_addr(CALLEE)), map(ALT))?;
        a.invlpg(dword_ptr(CALLEE))?;
        a.mov(dword_ptr(pm::pte_addr(NEXT)), map(ALT_NEXT))?;
        a.invlpg(dword_ptr(NEXT))?;
        rounds(a, CALLEE)?;
        rounds(a, EDGE)?;
        a.mov(dword_ptr(pm::pte_addr(CALLEE)), 0u32)?;
        a.invlpg(dword_ptr(CALLEE))?;
        a.call(CALLEE as u64)
    });
    assert_eq!(cpu.r[3], 100 * (1 + 10 + 2 + 20));
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), CALLEE));
}

/// Ring 3 calling into a supervisor page the kernel has just run: neither the TLB entry nor
/// the decoded block the kernel left lets the chain take ring 3 there; it faults.
#[test]
fn ring3_cannot_chain_into_kernel_code() {
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    let k = pm::KERNEL + 0x8000;
    // The NOP ends the block that entering ring 3 stops after; the CALL's block then chains.
    let call_k = |a: &mut CodeAssembler| {
        a.nop()?;
        a.call(k as u64)?;
        a.int(pm::EXIT_VECTOR as u32)
    };
    // All code in place first: loading code drops decoded blocks.
    load_code(&mut cpu, k, &[0xC3]); // ret
    load_code(&mut cpu, pm::KERNEL, &assemble(pm::KERNEL, call_k));
    load_code(&mut cpu, pm::USER, &assemble(pm::USER, call_k));
    pm::enter(&mut cpu, 0, pm::KERNEL, pm::KSTACK_TOP - 0x100, 0x0002);
    assert_eq!(run_until_stop(&mut cpu, 1000), Exit::Halted);
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    pm::enter(&mut cpu, 3, pm::USER, pm::USTACK_TOP, 0x0002);
    assert_eq!(run_until_stop(&mut cpu, 1000), Exit::Halted);
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), k));
}

/// `--hot-blocks`: every instruction the CPU retires is counted against the block it ran in,
/// loop passes and chained calls included.
#[test]
fn hot_blocks_count_every_instruction_by_block() {
    const F: u32 = pm::KERNEL + 0x1000;
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    cpu.hot_blocks = Some(Default::default());
    let f = assemble(F, |a| {
        a.mov(eax, 1u32)?;
        a.add(ebx, eax)?;
        a.ret()
    });
    load_code(&mut cpu, F, &f);
    let start = cpu.icount;
    run_long_on(&mut cpu, 0, pm::KERNEL, 10_000, |a| {
        let mut top = a.create_label();
        a.xor(ebx, ebx)?;
        a.mov(ecx, 100u32)?;
        a.set_label(&mut top)?;
        a.call(F as u64)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.int(pm::EXIT_VECTOR as u32)
    });
    // XOR (2 bytes) and MOV ECX (5) come before the loop's CALL, whose first pass runs in
    // the entry block.
    let top_at = pm::KERNEL + 7;
    assert_eq!(cpu.r[3], 100);
    let h = cpu.hot_blocks.as_deref().unwrap();
    assert_eq!(h.total_insns(), cpu.icount - start);
    let top = h.top(h.len());
    let of = |lin: u32| {
        top.iter()
            .find(|(a, _)| *a == lin)
            .map(|(_, c)| (c.runs, c.insns))
    };
    assert_eq!(of(F), Some((100, 300)));
    assert_eq!(of(top_at), Some((99, 99)));
    assert_eq!(top[0].0, F, "the callee retired the most instructions");
}

/// A block of long instructions reaches the decoder's byte limit before its op limit: every
/// one of them still runs (none is cut short by the end of the fetched bytes and taken for
/// an invalid one).
#[test]
fn long_instructions_fill_a_block_without_running_off_its_bytes() {
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    // 60 x `mov dword [disp32], imm32` (10 bytes each): 600 bytes of straight-line code.
    run_long_on(&mut cpu, 0, pm::KERNEL, 1000, |a| {
        for i in 0..60u32 {
            a.mov(dword_ptr(pm::DATA + 4 * i), 0x1000 + i)?;
        }
        a.int(pm::EXIT_VECTOR as u32)
    });
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    for i in 0..60u32 {
        assert_eq!(cpu.mem.read_u32(pm::DATA + 4 * i), 0x1000 + i, "store {i}");
    }
}

/// Runs `body` at ring 3 twice, block cache on (PUSH/POP runs fused into one op) and off (one
/// instruction per op), after `prepare`; the two must end in the same state, instruction count
/// included. Returns the cached run.
fn run_user_both(
    eflags: u32,
    prepare: impl Fn(&mut Cpu<NullBus>),
    body: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Cpu<NullBus> {
    let mut out = Vec::new();
    for cache in [true, false] {
        let mut cpu = pm::paged_cpu(4 << 20, NullBus);
        cpu.block_cache_enabled = cache;
        load_code(&mut cpu, pm::USER, &assemble(pm::USER, &body));
        prepare(&mut cpu);
        // Loading the code from outside the CPU leaves its code-write flag set, which would
        // end the first block at its first store: the runs under test would be cut there.
        cpu.mem.code_written = false;
        pm::enter(&mut cpu, 3, pm::USER, pm::USTACK_TOP, eflags);
        assert_eq!(run_until_stop(&mut cpu, 1000), Exit::Halted);
        out.push(cpu);
    }
    let (on, off) = (&out[0], &out[1]);
    assert_eq!(on.r, off.r);
    assert_eq!((on.eip, on.icount, on.cr2), (off.eip, off.icount, off.cr2));
    let frame = |c: &Cpu<NullBus>| -> Vec<u32> {
        (1..=6)
            .map(|i| c.mem.read_u32(pm::KSTACK_TOP - 4 * i))
            .collect()
    };
    assert_eq!(frame(on), frame(off));
    for a in (pm::USER..pm::USER + 0x40).step_by(4) {
        assert_eq!(on.mem.read_u32(a), off.mem.read_u32(a), "code at {a:#x}");
    }
    for a in (pm::DATA + 0xFE0..pm::DATA + 0x1020).step_by(4) {
        assert_eq!(on.mem.read_u32(a), off.mem.read_u32(a), "stack at {a:#x}");
    }
    out.swap_remove(0)
}

/// The ring-3 EIP and ESP the exception or interrupt that stopped the program saved.
fn user_eip_esp(cpu: &Cpu<NullBus>) -> (u32, u32) {
    let at = |off| cpu.mem.read_u32(pm::KSTACK_TOP - off);
    (at(20), at(8))
}

fn regs_1_to_7(a: &mut CodeAssembler) -> Result<(), IcedError> {
    for (r, v) in [(eax, 0xA), (ecx, 0xC), (edx, 0xD), (ebx, 0xB), (ebp, 0xBB)] {
        a.mov(r, v as u32)?;
    }
    a.mov(esi, 0x51u32)?;
    a.mov(edi, 0xD1u32)
}

/// Runs of one-byte PUSH/POP r32 are fused into one op at decode; they must stay exact:
/// across a page boundary, with a fault in the middle of a run (EIP, ESP and CR2 of the
/// faulting push), under single-stepping (one push per #DB) and when a push rewrites the
/// run's own later instructions.
#[test]
fn push_and_pop_runs_stay_exact() {
    // Seven pushes across a page boundary, then seven pops in another order.
    let cpu = run_user_both(
        0x0002,
        |_| {},
        |a| {
            regs_1_to_7(a)?;
            a.mov(esp, pm::DATA + 0x1008)?;
            for r in [eax, ecx, edx, ebx, ebp, esi, edi] {
                a.push(r)?;
            }
            for r in [ebx, ecx, edx, eax, ebp, edi, esi] {
                a.pop(r)?;
            }
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    // EBX got EDI's D1h, ECX ESI's 51h, ... (ESP is the kernel's now: see the frame).
    assert_eq!(&cpu.r[..4], &[0xB, 0x51, 0xBB, 0xD1]);
    assert_eq!(&cpu.r[5..8], &[0xD, 0xA, 0xC]);
    assert_eq!(user_eip_esp(&cpu).1, pm::DATA + 0x1008);

    // The page below the stack's is unmapped: the third push faults, after two.
    let cpu = run_user_both(
        0x0002,
        |c| pm::set_pte(c, pm::DATA, 0),
        |a| {
            regs_1_to_7(a)?;
            a.mov(esp, pm::DATA + 0x1008)?;
            for r in [eax, ecx, edx, ebx] {
                a.push(r)?;
            }
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!(
        (pm::halted_vector(&cpu), cpu.cr2),
        (Some(14), pm::DATA + 0xFFC)
    );
    // Seven 5-byte MOV r32, imm32, MOV ESP, imm32, then the pushes (one byte each).
    let third_push = pm::USER + 8 * 5 + 2;
    assert_eq!(user_eip_esp(&cpu), (third_push, pm::DATA + 0x1000));

    // A fault after a whole run, in the same block: the count includes the run's pushes.
    let cpu = run_user_both(
        0x0002,
        |c| pm::set_pte(c, pm::DATA, 0),
        |a| {
            a.mov(esp, pm::DATA + 0x1008)?;
            a.push(eax)?;
            a.push(ecx)?;
            a.mov(eax, dword_ptr(pm::DATA))?;
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), pm::DATA));

    // Single-stepping: the trap comes after the first push of the run.
    let cpu = run_user_both(
        0x0102,
        |_| {},
        |a| {
            a.push(eax)?;
            a.push(ecx)?;
            a.push(edx)?;
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!(pm::halted_vector(&cpu), Some(1));
    assert_eq!(user_eip_esp(&cpu), (pm::USER + 1, pm::USTACK_TOP - 4));

    // The stack over the code: the second push turns the last two pushes of the run into
    // NOPs (ECX = F0CD9090h: two NOPs, and the INT F0h that follows them as it was), which
    // must then run as NOPs.
    let writable = pm::USER | pm::PTE_P | pm::PTE_W | pm::PTE_U;
    let cpu = run_user_both(
        0x0002,
        |c| pm::set_pte(c, pm::USER, writable),
        |a| {
            a.mov(eax, 0x9090_9090u32)?;
            a.mov(ecx, 0xF0CD_9090u32)?;
            // The run starts at USER + 15: ESP = USER + 25 puts the second push's dword at
            // USER + 17..21, over the run's third and fourth pushes.
            a.mov(esp, pm::USER + 25)?;
            a.push(eax)?;
            a.push(ecx)?;
            a.push(edx)?;
            a.push(ebx)?;
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    assert_eq!(
        user_eip_esp(&cpu).1,
        pm::USER + 17,
        "two pushes, then two NOPs"
    );
}

/// One instruction of [`random_push_pop_runs_match_unfused`]'s programs.
#[derive(Clone, Copy, Debug)]
enum StackOp {
    Push(u8),
    Pop(u8),
    /// Breaks a run.
    Nop,
}

/// Register numbers a one-byte PUSH/POP run may name.
const NOT_ESP: &[u8] = &[0, 1, 2, 3, 5, 6, 7];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: emu_suite::proptest_cases(300),
        failure_persistence: None,
        ..Default::default()
    })]

    /// Random runs of PUSH/POP r32 around a page boundary, a page possibly unmapped, sometimes
    /// single-stepped: fused (cache on) and unfused (cache off) end alike. (Pushes over code
    /// are `push_and_pop_runs_stay_exact`'s.)
    #[test]
    fn random_push_pop_runs_match_unfused(
        ops in prop::collection::vec(
            prop_oneof![
                4 => prop::sample::select(NOT_ESP).prop_map(StackOp::Push),
                4 => prop::sample::select(NOT_ESP).prop_map(StackOp::Pop),
                1 => Just(StackOp::Nop),
            ],
            1..24,
        ),
        slot in -8i32..8,
        unmapped in 0u32..3,
        tf in any::<bool>(),
    ) {
        let regs = [eax, ecx, edx, ebx, esp, ebp, esi, edi];
        // Single-stepped, the run must come first (the trap stops the program after one
        // instruction), on the stack `enter` gives; otherwise registers and ESP are set first.
        let top = if tf { pm::USTACK_TOP } else { pm::DATA + 0x1000 };
        let esp_at = (top as i32 + 4 * slot) as u32;
        let unmap = move |c: &mut Cpu<NullBus>| {
            if unmapped > 0 {
                pm::set_pte(c, top - 0x1000 + 0x1000 * (unmapped - 1), 0);
            }
        };
        let cpu = run_user_both(if tf { 0x0102 } else { 0x0002 }, unmap, |a| {
            if !tf {
                regs_1_to_7(a)?;
                a.mov(esp, esp_at)?;
            }
            for op in &ops {
                match *op {
                    StackOp::Push(r) => a.push(regs[r as usize])?,
                    StackOp::Pop(r) => a.pop(regs[r as usize])?,
                    StackOp::Nop => a.nop()?,
                }
            }
            a.int(pm::EXIT_VECTOR as u32)
        });
        prop_assert!(pm::halted_vector(&cpu).is_some());
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: emu_suite::proptest_cases(400),
        failure_persistence: None,
        ..Default::default()
    })]

    /// Random runs of flag-setting register arithmetic among flag readers (ADC, SETcc,
    /// CMOVcc, Jcc, PUSHFD), memory accesses and faults, sometimes single-stepped: the block
    /// cache, which skips flags it finds dead (`deadflags`) and lets a Jcc read a known
    /// setter's operands (`knownflags`), ends exactly as one instruction at a time does, the
    /// EFLAGS in every exception frame included.
    // Each step: a kind (see the match), two register numbers (not ESP), an immediate.
    #[test]
    fn random_flag_runs_match_uncached(
        steps in prop::collection::vec((0u8..23, 0usize..7, 0usize..7, any::<u32>()), 1..40),
        tf in any::<bool>(),
    ) {
        let cpu = run_user_both(if tf { 0x0102 } else { 0x0002 }, |_| {}, |a| {
            let r = [eax, ecx, edx, ebx, ebp, esi, edi];
            let low = [al, cl, dl, bl];
            if !tf {
                regs_1_to_7(a)?;
            }
            for &(k, x, y, imm) in &steps {
                let (d, s) = (r[x], r[y]);
                match k {
                    0 => a.add(d, s)?,
                    1 => a.sub(d, imm as i32)?,
                    2 => a.and(d, s)?,
                    3 => a.or(d, imm as i32)?,
                    4 => a.xor(d, s)?,
                    5 => a.cmp(d, s)?,
                    6 => a.test(d, imm)?,
                    7 => a.shl(d, imm % 33)?,
                    8 => a.shr(d, imm % 33)?,
                    9 => a.sar(d, imm % 33)?,
                    10 => a.imul_2(d, s)?,
                    11 => a.imul_3(d, s, imm as i32)?,
                    12 => a.mov(d, s)?,
                    13 => a.lea(d, s + s * 2 + 8)?,
                    14 => a.inc(d)?,
                    15 => a.adc(d, s)?,
                    16 => match imm % 3 {
                        0 => a.setb(low[x % 4])?,
                        1 => a.cmovo(d, s)?,
                        _ => {
                            // A branch over a NOT: the register shows which way it went.
                            let mut over = a.create_label();
                            match (imm >> 8) % 8 {
                                0 => a.jo(over)?,
                                1 => a.jb(over)?,
                                2 => a.jz(over)?,
                                3 => a.jbe(over)?,
                                4 => a.js(over)?,
                                5 => a.jp(over)?,
                                6 => a.jl(over)?,
                                _ => a.jle(over)?,
                            }
                            a.not(s)?;
                            a.set_label(&mut over)?;
                            a.nop()?
                        }
                    },
                    17 => {
                        a.pushfd()?;
                        a.pop(d)?
                    }
                    18 => a.add(d, dword_ptr(pm::DATA + (imm & 0xFC)))?,
                    19 => a.shr(d, cl)?,
                    20 => a.neg(d)?,
                    21 => a.dec(d)?,
                    // Ring 3 touching a kernel page: #PF, with EFLAGS in its frame.
                    _ => a.mov(d, dword_ptr(pm::KERNEL))?,
                }
            }
            a.int(pm::EXIT_VECTOR as u32)
        });
        prop_assert!(pm::halted_vector(&cpu).is_some());
    }
}

#[test]
fn dead_flags_are_skipped_only_where_nothing_can_see_them() {
    // SHR, the first three IMULs and the ADD before the CMP have dead flags; the last IMUL's
    // are read by ADC, the CMP's by the exit's EFLAGS image.
    let cpu = run_user_both(
        0x0002,
        |_| {},
        |a| {
            regs_1_to_7(a)?;
            a.shr(edx, 16)?;
            a.imul_2(eax, ecx)?;
            a.imul_2(ebx, edx)?;
            a.imul_2(ecx, edi)?;
            a.imul_2(edx, edi)?;
            a.adc(esi, 0)?;
            a.add(eax, 0x10000)?;
            a.mov(edi, eax)?;
            a.cmp(edx, ebx)?;
            a.int(pm::EXIT_VECTOR as u32)
        },
    );
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    // The ops before the first block's end: the register loads and the nine listed.
    assert_eq!(cpu.stats.dead_flag_ops, 5);
}

/// FNSAVE and FRSTOR move their 108-byte image a dword at a time where it fits in a page:
/// an image straddling a page end at an offset that is not a multiple of four reads and
/// writes the same bytes as an aligned one, and a restore from an image whose second page is
/// unmapped faults at that page's first byte with the FPU state unchanged.
#[test]
fn fpu_images_across_a_page_end() {
    const A: u32 = pm::DATA + 0x200;
    const S: u32 = pm::DATA + 0x1000 - 50;
    const B: u32 = pm::DATA + 0x400;
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    run_on(&mut cpu, 0, pm::KERNEL, |a| {
        a.fninit()?;
        a.fld1()?;
        a.fldpi()?;
        a.fldl2e()?;
        a.fnsave(ptr(A))?;
        a.frstor(ptr(A))?;
        a.fnsave(ptr(S))?;
        a.frstor(ptr(S))?;
        a.fnsave(ptr(B))?;
        a.int(pm::EXIT_VECTOR as u32)
    });
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    let image = |cpu: &Cpu<NullBus>, at: u32| {
        let mut b = [0u8; 108];
        cpu.mem.read_bytes(at, &mut b);
        b
    };
    let want = image(&cpu, A);
    // Physical registers 5-7 valid (tag 00), 0-4 empty (11): the image holds the stack.
    assert_eq!(u16::from_le_bytes([want[8], want[9]]), 0x03FF);
    assert_eq!(image(&cpu, S), want, "image written across the page end");
    assert_eq!(image(&cpu, B), want, "image read back across the page end");

    pm::set_pte(&mut cpu, S + 50, 0);
    run_on(&mut cpu, 0, pm::KERNEL, |a| {
        a.fninit()?;
        a.fldz()?;
        a.frstor(ptr(S))?;
        a.int(pm::EXIT_VECTOR as u32)
    });
    assert_eq!((pm::halted_vector(&cpu), cpu.cr2), (Some(14), S + 50));
    assert!(
        cpu.fpu.st(0).is_zero(),
        "FRSTOR changed ST(0) before it faulted"
    );
    assert_eq!(
        cpu.fpu.fstsw() >> 11 & 7,
        7,
        "FRSTOR changed TOP before it faulted"
    );
}
