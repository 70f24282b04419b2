//! REP MOVS and REP STOS run a page at a time through the host TLB (`Cpu::bulk_strings`);
//! these properties hold that path to the element-by-element one, which the hardware
//! single-step suite checks: the same registers, flags, faults, CR2, instruction count and
//! RAM for random sizes, directions, counts, overlaps, page crossings, missing and read-only
//! pages (paged, rings 0 and 3), and 16-bit address wrap with real-mode and 4 GiB segment
//! limits (real mode).
//!
//! Run with `cargo test --profile ci --test proptest_strings`.

use emu_cpu::{Cpu, NullBus, Reg, SegReg};
use emu_suite::{
    cpu_state, fill_random, first_ram_difference, load_code, phys, pm, real_mode_cpu,
    reset_real_mode, run_until_stop, unreal_seg, CODE_SEG, STACK_TOP,
};
use proptest::prelude::*;

/// The data pages the paged cases copy within: eight pages from `pm::DATA`.
const AREA: u32 = 0x8000;

#[derive(Clone, Debug)]
struct Case {
    /// 0xA4/0xA5 (MOVS) or 0xAA/0xAB (STOS), with 0x66 for word elements.
    stos: bool,
    size: u8,
    down: bool,
    count: u32,
    src: u32,
    dst: u32,
    /// Paged cases: a page of the area made not present (`Some((page, false))`) or read-only.
    hole: Option<(u32, bool)>,
    /// Paged cases: run at ring 3; real mode: with 4 GiB ("unreal") DS and ES limits.
    ring3: bool,
    seed: u64,
}

/// The string instruction's bytes, REP-prefixed, at the default address size of 16-bit
/// code (`code16`) or 32-bit code.
fn rep_bytes(c: &Case, code16: bool) -> Vec<u8> {
    let mut b = vec![0xF3];
    // In 16-bit code 0x66 selects dword elements; in 32-bit code, word ones.
    match (c.size, code16) {
        (2, false) | (4, true) => b.push(0x66),
        _ => {}
    }
    let base = if c.stos { 0xAA } else { 0xA4 };
    b.push(base + (c.size != 1) as u8);
    b
}

fn paged_run(c: &Case, bulk: bool) -> Cpu<NullBus> {
    let mut cpu = pm::paged_cpu(4 << 20, NullBus);
    cpu.bulk_strings = bulk;
    fill_random(&mut cpu, pm::DATA, AREA, c.seed);
    if let Some((page, writable)) = c.hole {
        let lin = pm::DATA + page * 0x1000;
        let pte = if writable {
            lin | pm::PTE_P | pm::PTE_U
        } else {
            0
        };
        pm::set_pte(&mut cpu, lin, pte);
    }
    let mut code = rep_bytes(c, false);
    code.extend_from_slice(&[0xCD, pm::EXIT_VECTOR]);
    let (ring, at, stack) = if c.ring3 {
        (3, pm::USER, pm::USTACK_TOP)
    } else {
        (0, pm::KERNEL, pm::KSTACK_TOP - 0x100)
    };
    load_code(&mut cpu, at, &code);
    pm::enter(&mut cpu, ring, at, stack, 0x0002 | (c.down as u32) << 10);
    cpu.r[Reg::Esi as usize] = c.src;
    cpu.r[Reg::Edi as usize] = c.dst;
    cpu.r[Reg::Ecx as usize] = c.count;
    cpu.r[Reg::Eax as usize] = 0x8C5A_3E71;
    run_until_stop(&mut cpu, 100);
    cpu
}

fn real_run(c: &Case, bulk: bool) -> Cpu<NullBus> {
    let mut cpu = real_mode_cpu(0x11_0000);
    cpu.bulk_strings = bulk;
    // Source and destination segments whose 64 KiB windows overlap by part.
    let (ds, es) = (0x2000 + (c.seed as u16 & 0x0FFF), 0x2800);
    fill_random(&mut cpu, 0x2_0000, 0x2_0000, c.seed);
    let mut code = rep_bytes(c, true);
    code.push(0xF4);
    load_code(&mut cpu, phys(CODE_SEG, 0), &code);
    reset_real_mode(&mut cpu, CODE_SEG, 0);
    cpu.load_seg(SegReg::Ds, ds).unwrap();
    cpu.load_seg(SegReg::Es, es).unwrap();
    if c.ring3 {
        // 4 GiB limits: only the 16-bit address wrap stops a run at offset 0xFFFF.
        cpu.seg[SegReg::Ds as usize] = unreal_seg(ds, false);
        cpu.seg[SegReg::Es as usize] = unreal_seg(es, false);
    }
    cpu.r[Reg::Esp as usize] = STACK_TOP as u32;
    if c.down {
        cpu.flags.set(cpu.flags.get() | 1 << 10);
    }
    // High halves that 16-bit addressing must ignore and keep.
    cpu.r[Reg::Esi as usize] = 0x5A5A_0000 | (c.src & 0xFFFF);
    cpu.r[Reg::Edi as usize] = 0xA5A5_0000 | (c.dst & 0xFFFF);
    cpu.r[Reg::Ecx as usize] = 0x3C3C_0000 | (c.count & 0xFFFF);
    cpu.r[Reg::Eax as usize] = 0x8C5A_3E71;
    run_until_stop(&mut cpu, 100);
    cpu
}

fn same(a: &Cpu<NullBus>, b: &Cpu<NullBus>) -> Result<(), TestCaseError> {
    prop_assert_eq!(cpu_state(a), cpu_state(b));
    prop_assert_eq!(a.cr2, b.cr2);
    prop_assert_eq!(first_ram_difference(a, b), None);
    Ok(())
}

/// A count that is often small, sometimes a page or more, sometimes enough to restart.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..40, 0u32..2100, 4000u32..9000]
}

/// An address in the data area, or at either end of the 4 GiB space (not mapped).
fn address() -> impl Strategy<Value = u32> {
    prop_oneof![
        12 => (0..AREA).prop_map(|a| pm::DATA + a),
        1 => 0xFFFF_FFF0u32..=u32::MAX,
        1 => 0u32..0x10,
    ]
}

fn paged_case() -> impl Strategy<Value = Case> {
    (
        (
            any::<bool>(),
            prop_oneof![Just(1u8), Just(2), Just(4)],
            any::<bool>(),
        ),
        count(),
        address(),
        // Anywhere in the area, or near the source (overlapping it).
        prop_oneof![
            address().prop_map(|d| (false, d as i32)),
            (-9i32..10).prop_map(|d| (true, d))
        ],
        prop_oneof![3 => Just(None), 1 => (0u32..8, any::<bool>()).prop_map(Some)],
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|((stos, size, down), count, src, dst, hole, ring3, seed)| {
            let dst = match dst {
                (true, delta) => src.wrapping_add_signed(delta),
                (false, d) => d as u32,
            };
            Case {
                stos,
                size,
                down,
                count,
                src,
                dst,
                hole,
                ring3,
                seed,
            }
        })
}

fn real_case() -> impl Strategy<Value = Case> {
    (
        (
            any::<bool>(),
            prop_oneof![Just(1u8), Just(2), Just(4)],
            any::<bool>(),
        ),
        count(),
        prop_oneof![any::<u16>(), 0xFFC0u16..=0xFFFF, 0u16..0x40],
        prop_oneof![any::<u16>(), 0xFFC0u16..=0xFFFF, 0u16..0x40],
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|((stos, size, down), count, src, dst, unreal, seed)| Case {
            stos,
            size,
            down,
            count,
            src: src as u32,
            dst: dst as u32,
            hole: None,
            ring3: unreal,
            seed,
        })
}

/// `cases` unless `PROPTEST_CASES` is set (for long soak runs).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: emu_suite::proptest_cases(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(600))]

    #[test]
    fn paged_runs_equal_elements(c in paged_case()) {
        same(&paged_run(&c, true), &paged_run(&c, false))?;
    }

    #[test]
    fn real_mode_runs_equal_elements(c in real_case()) {
        same(&real_run(&c, true), &real_run(&c, false))?;
    }
}

/// The bulk path does take over: a page-sized REP MOVSD copies what it should, and a copy
/// onto itself shifted by one byte (a pattern, which a memmove would not give) replicates.
#[test]
fn bulk_copies_and_replicates_like_the_hardware() {
    let c = Case {
        stos: false,
        size: 4,
        down: false,
        count: 1024,
        src: pm::DATA,
        dst: pm::DATA + 0x2000,
        hole: None,
        ring3: true,
        seed: 7,
    };
    let cpu = paged_run(&c, true);
    assert_eq!(pm::halted_vector(&cpu), Some(pm::EXIT_VECTOR));
    let ram = cpu.mem.ram();
    let (s, d) = (pm::DATA as usize, pm::DATA as usize + 0x2000);
    assert_eq!(ram[s..s + 0x1000], ram[d..d + 0x1000]);
    assert_eq!(cpu.r[Reg::Ecx as usize], 0);
    assert_eq!(cpu.r[Reg::Edi as usize], pm::DATA + 0x3000);
    let c = Case {
        size: 1,
        count: 100,
        dst: pm::DATA + 1,
        ..c
    };
    let cpu = paged_run(&c, true);
    let first = cpu.mem.ram()[s];
    assert!(cpu.mem.ram()[s..s + 101].iter().all(|&b| b == first));
}
