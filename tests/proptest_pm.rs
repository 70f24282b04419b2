//! Random code in protected mode with paging on, over random descriptor tables and page
//! tables: the host never panics, guest RAM keeps its size, and the block cache on and off
//! end in the same state (a strong check that decoding, invalidation and faults agree).

use emu_cpu::{Cpu, Exit, NullBus, SegReg};
use emu_mmu::Memory;
use emu_suite::pm::{flat_desc as flat, gate};
use proptest::prelude::*;

const RAM: usize = (4 << 20) + 0x3000;
const GDT: u32 = 0x1000;
const IDT: u32 = 0x2000;
const PD: u32 = 0x3000;
const PT: u32 = 0x4000;
const CODE: u32 = 0x1_0000;
const HANDLER: u32 = 0x8000;

#[derive(Clone, Debug)]
struct Setup {
    code: Vec<u8>,
    /// Extra GDT entries 3..11 (1 = flat code, 2 = flat data are always valid).
    gdt: Vec<u64>,
    /// Gates for vectors 0..32 (others point at a HLT handler).
    idt: Vec<u64>,
    /// Page-table entries to corrupt: (index, xor mask).
    pte_noise: Vec<(u16, u32)>,
    cr4: u32,
    regs: [u32; 8],
    user: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop::collection::vec(any::<u8>(), 1..96),
        prop::collection::vec(any::<u64>(), 9),
        prop::collection::vec(any::<u64>(), 32),
        prop::collection::vec((0u16..1024, any::<u32>()), 0..6),
        prop_oneof![Just(0u32), Just(0x10), Just(0x80), Just(0x90), Just(0x20)],
        prop::array::uniform8(any::<u32>()),
        any::<bool>(),
    )
        .prop_map(|(code, gdt, idt, pte_noise, cr4, regs, user)| Setup {
            code,
            gdt,
            idt,
            pte_noise,
            cr4,
            regs,
            user,
        })
}

fn build(s: &Setup, cache: bool) -> Cpu<NullBus> {
    let mut mem = Memory::new(RAM).unwrap();
    mem.write_u32(0, 0);
    let mut cpu = Cpu::new(mem, NullBus);
    cpu.block_cache_enabled = cache;
    // GDT: null, ring-0 code/data, random entries, ring-3 code/data, a TSS.
    let mut gdt = vec![0u64, flat(true, 0), flat(false, 0)];
    gdt.extend(&s.gdt);
    gdt.push(flat(true, 3)); // 0x60
    gdt.push(flat(false, 3)); // 0x68
    let tss = 0x5000u64;
    gdt.push(0x67 | ((tss & 0xFFFFFF) << 16) | (0x89 << 40)); // 0x70: 32-bit TSS
    for (i, d) in gdt.iter().enumerate() {
        cpu.mem.write_u32(GDT + 8 * i as u32, *d as u32);
        cpu.mem.write_u32(GDT + 8 * i as u32 + 4, (*d >> 32) as u32);
    }
    cpu.mem.write_u32(tss as u32 + 4, 0x9000); // ESP0
    cpu.mem.write_u32(tss as u32 + 8, 0x10); // SS0
                                             // IDT: random gates for the exceptions, HLT handlers for the rest.
    for v in 0..256u32 {
        let g = if (v as usize) < s.idt.len() && v % 3 == 0 {
            s.idt[v as usize]
        } else {
            gate(HANDLER, false, 3)
        };
        cpu.mem.write_u32(IDT + 8 * v, g as u32);
        cpu.mem.write_u32(IDT + 8 * v + 4, (g >> 32) as u32);
    }
    cpu.mem.write_u8(HANDLER, 0xF4);
    // Identity-mapped first 4 MiB, user-writable, with some entries corrupted.
    cpu.mem.write_u32(PD, PT | 0x7);
    for i in 0..1024u32 {
        cpu.mem.write_u32(PT + 4 * i, (i << 12) | 0x7);
    }
    for &(i, x) in &s.pte_noise {
        let a = PT + 4 * (i as u32);
        // Keep the tables, handler and code pages themselves mapped.
        if !(0..0x20).contains(&(i as u32)) {
            let v = cpu.mem.read_u32(a);
            cpu.mem.write_u32(a, v ^ x);
        }
    }
    cpu.mem.write_bytes(CODE, &s.code);
    cpu.mem.write_u8(CODE + s.code.len() as u32, 0xF4);
    cpu.gdtr = emu_cpu::TableReg {
        base: GDT,
        limit: 8 * gdt.len() as u32 - 1,
    };
    cpu.idtr = emu_cpu::TableReg {
        base: IDT,
        limit: 0x7FF,
    };
    cpu.set_cr0(0x11).unwrap();
    cpu.set_cs_pm(0x08).unwrap();
    for sr in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        cpu.load_seg(sr, 0x10).unwrap();
    }
    cpu.tr = emu_cpu::segment::Desc(gdt[gdt.len() - 1] | (2 << 40)).to_seg(0x70);
    if s.user {
        // Ring 3 code and data (loaded before paging, whose random tables could fault).
        cpu.set_cs_pm(0x60 | 3).unwrap();
        cpu.load_seg(SegReg::Ss, 0x68 | 3).unwrap();
        for sr in [SegReg::Ds, SegReg::Es] {
            cpu.load_seg(sr, 0x68 | 3).unwrap();
        }
    }
    cpu.set_cr3(PD);
    cpu.set_cr4(s.cr4).unwrap();
    cpu.set_cr0(0x8000_0011).unwrap();
    cpu.r[..8].copy_from_slice(&s.regs);
    cpu.r[4] = 0x8000;
    cpu.eip = CODE;
    cpu
}

/// The state compared between the two runs.
fn state(cpu: &Cpu<NullBus>) -> (Vec<u32>, u32, u32, Vec<u16>, u32, bool, bool, u64) {
    (
        cpu.r[..8].to_vec(),
        cpu.eip,
        cpu.flags.get(),
        cpu.seg.iter().map(|s| s.sel).collect(),
        cpu.cr2,
        cpu.halted,
        cpu.shutdown,
        cpu.icount,
    )
}

fn run(cpu: &mut Cpu<NullBus>, budget: u64) {
    let start = cpu.icount;
    while cpu.icount - start < budget {
        match cpu.run(budget - (cpu.icount - start)) {
            Exit::Budget => {}
            _ => break,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES overrides the count for long soak runs.
        cases: emu_suite::proptest_cases(4000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_code_in_paged_protected_mode(s in setup()) {
        let mut a = build(&s, true);
        run(&mut a, 3000);
        let mut b = build(&s, false);
        // The uncached CPU runs exactly as many instructions as the cached one did.
        let n = a.icount - build(&s, true).icount;
        run(&mut b, n);
        if (a.shutdown || a.halted) && !(b.shutdown || b.halted) {
            // The cached run ended on a fault while fetching the next block (no instruction
            // retired): let the uncached one meet the same fetch.
            b.run(1);
        }
        prop_assert_eq!(a.mem.size(), RAM);
        prop_assert_eq!(state(&a), state(&b));
        prop_assert!(a.mem.ram() == b.mem.ram(), "guest RAM differs between cache on and off");
    }
}
