//! A paged protected-mode machine for benchmarks and tests: flat 32-bit segments for rings 0
//! and 3, a TSS for the ring-3 -> 0 stack switch, 4 KiB pages identity-mapping all of RAM,
//! and an IDT whose every vector ends in its own ring-0 `HLT` stub, so whatever the guest
//! raises stops the run at a place that says which vector it was ([`halted_vector`]).
//!
//! Memory layout (physical = linear):
//!
//! | range                 | use                                                      |
//! |-----------------------|----------------------------------------------------------|
//! | `0x1000`              | GDT: null, [`KCODE`], [`KDATA`], [`UCODE`], [`UDATA`], [`TSS_SEL`] |
//! | `0x2000`              | IDT, 256 gates                                           |
//! | `0x3000`              | 32-bit TSS (ESP0 = [`KSTACK_TOP`], SS0 = [`KDATA`])      |
//! | `0x4000`              | page directory ([`PD`])                                  |
//! | `0x5000..`            | page tables, one per 4 MiB of RAM ([`PT`])               |
//! | `0x8000..0x8100`      | 256 `HLT` stubs, vector `v` at [`STUB_BASE`] + v         |
//! | `..0x10000`           | kernel stack ([`KSTACK_TOP`])                            |
//! | `0x10000..0x20000`    | kernel code ([`KERNEL`]), supervisor pages               |
//! | `0x20000..0x40000`    | user code ([`USER`]); everything from here on is user-accessible |
//! | `..0x80000`           | user stack ([`USTACK_TOP`])                              |
//! | `0x100000..`          | user data ([`DATA`])                                     |
//!
//! The GDT follows the layout SYSENTER/SYSEXIT expect (kernel CS, kernel SS, user CS, user SS
//! at consecutive selectors), so the MSRs need only [`KCODE`].

use emu_cpu::segment::Desc;
use emu_cpu::{Bus, Cpu, Seg, SegReg, TableReg};
use emu_mmu::Memory;

pub const GDT: u32 = 0x1000;
pub const IDT: u32 = 0x2000;
pub const TSS: u32 = 0x3000;
pub const PD: u32 = 0x4000;
pub const PT: u32 = 0x5000;
pub const STUB_BASE: u32 = 0x8000;
pub const KSTACK_TOP: u32 = 0x1_0000;
pub const KERNEL: u32 = 0x1_0000;
pub const USER: u32 = 0x2_0000;
pub const USTACK_TOP: u32 = 0x8_0000;
pub const DATA: u32 = 0x10_0000;

pub const KCODE: u16 = 0x08;
pub const KDATA: u16 = 0x10;
pub const UCODE: u16 = 0x18 | 3;
pub const UDATA: u16 = 0x20 | 3;
pub const TSS_SEL: u16 = 0x28;

/// Vector a program raises (`INT EXIT_VECTOR`) to say it is done.
pub const EXIT_VECTOR: u8 = 0xF0;

/// Page-table entry bits.
pub const PTE_P: u32 = 1;
pub const PTE_W: u32 = 2;
pub const PTE_U: u32 = 4;

const HLT: u8 = 0xF4;

/// A flat 4 GiB, 32-bit code or read/write data descriptor at privilege `dpl`.
pub fn flat_desc(code: bool, dpl: u8) -> u64 {
    let typ: u64 = if code { 0xA } else { 0x2 };
    0x00CF_0000_0000_FFFF | ((0x90 | typ | ((dpl as u64) << 5)) << 40)
}

/// A 32-bit interrupt gate (IF cleared on entry) or trap gate to `KCODE:off`.
pub fn gate(off: u32, trap: bool, dpl: u8) -> u64 {
    let typ: u64 = if trap { 0x8F } else { 0x8E };
    (off as u64 & 0xFFFF)
        | ((KCODE as u64) << 16)
        | ((typ | ((dpl as u64) << 5)) << 40)
        | ((off as u64 >> 16) << 48)
}

/// Writes IDT entry `vector`.
pub fn set_gate<B: Bus>(cpu: &mut Cpu<B>, vector: u8, off: u32, trap: bool, dpl: u8) {
    let g = gate(off, trap, dpl);
    cpu.mem.write_u32(IDT + 8 * vector as u32, g as u32);
    cpu.mem
        .write_u32(IDT + 8 * vector as u32 + 4, (g >> 32) as u32);
}

/// Address of page-table entry for linear address `lin` (identity-mapped page tables).
pub fn pte_addr(lin: u32) -> u32 {
    PT + 4 * (lin >> 12)
}

/// Sets the page-table entry of `lin` and drops the CPU's TLB.
pub fn set_pte<B: Bus>(cpu: &mut Cpu<B>, lin: u32, pte: u32) {
    cpu.mem.write_u32(pte_addr(lin), pte);
    cpu.flush_tlb(false);
}

/// A CPU over `ram` bytes (a multiple of 4 MiB) of zeroed RAM and `bus`, in paged protected
/// mode at ring 0 with the tables above built. Use [`enter`] to start a program.
pub fn paged_cpu<B: Bus>(ram: usize, bus: B) -> Cpu<B> {
    assert!(
        ram.is_multiple_of(4 << 20) && ram > 0,
        "RAM must be whole 4 MiB"
    );
    let mem = Memory::new(ram).expect("guest RAM");
    let mut cpu = Cpu::new(mem, bus);
    let tss_desc = 0x67 | ((TSS as u64) << 16) | (0x89 << 40);
    let gdt = [
        0,
        flat_desc(true, 0),
        flat_desc(false, 0),
        flat_desc(true, 3),
        flat_desc(false, 3),
        tss_desc,
    ];
    for (i, d) in gdt.iter().enumerate() {
        cpu.mem.write_u32(GDT + 8 * i as u32, *d as u32);
        cpu.mem.write_u32(GDT + 8 * i as u32 + 4, (*d >> 32) as u32);
    }
    cpu.mem.write_u32(TSS + 4, KSTACK_TOP);
    cpu.mem.write_u32(TSS + 8, KDATA as u32);
    for v in 0..=255u8 {
        // DPL 3 so that `INT v` from ring 3 reaches the stub too.
        set_gate(&mut cpu, v, STUB_BASE + v as u32, false, 3);
        cpu.mem.write_u8(STUB_BASE + v as u32, HLT);
    }
    let tables = (ram >> 22) as u32;
    for t in 0..tables {
        cpu.mem
            .write_u32(PD + 4 * t, (PT + 0x1000 * t) | PTE_P | PTE_W | PTE_U);
    }
    for page in 0..(ram >> 12) as u32 {
        let lin = page << 12;
        let user = if lin >= USER { PTE_U } else { 0 };
        cpu.mem.write_u32(pte_addr(lin), lin | PTE_P | PTE_W | user);
    }
    cpu.gdtr = TableReg {
        base: GDT,
        limit: 8 * gdt.len() as u32 - 1,
    };
    cpu.idtr = TableReg {
        base: IDT,
        limit: 0x7FF,
    };
    cpu.set_cr0(0x11).unwrap();
    cpu.tr = Desc(tss_desc | (2 << 40)).to_seg(TSS_SEL); // busy TSS
    cpu.set_cr3(PD);
    cpu.set_cr0(0x8000_0011).unwrap();
    enter(&mut cpu, 0, KERNEL, KSTACK_TOP, 0x0002);
    cpu
}

/// Starts the CPU at `eip` in ring `ring` (0 or 3) with flat segments, ESP = `esp`, the other
/// general registers 0 and EFLAGS = `eflags`. Memory, TLB and block cache are kept.
pub fn enter<B: Bus>(cpu: &mut Cpu<B>, ring: u8, eip: u32, esp: u32, eflags: u32) {
    let (cs, ds) = if ring == 0 {
        (KCODE, KDATA)
    } else {
        (UCODE, UDATA)
    };
    cpu.r = [0; 16];
    cpu.r[emu_cpu::Reg::Esp as usize] = esp;
    cpu.flags.set(eflags);
    cpu.set_cs_pm(cs).expect("flat code selector");
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
        cpu.load_seg(s, ds).expect("flat data selector");
    }
    cpu.eip = eip;
    cpu.halted = false;
    cpu.shutdown = false;
}

/// If the CPU is halted in one of the ring-0 `HLT` stubs, the vector that brought it there.
pub fn halted_vector<B: Bus>(cpu: &Cpu<B>) -> Option<u8> {
    let cs: Seg = cpu.seg[SegReg::Cs as usize];
    // HLT has executed, so EIP is one past the stub byte.
    let at = cpu.eip.wrapping_sub(1).wrapping_sub(STUB_BASE);
    (cpu.halted && cs.sel == KCODE && at < 256).then_some(at as u8)
}
