//! The x86 CPU of `emu`.
//!
//! Guest code is decoded once with iced-x86 into compact [`Op`]s, each carrying the handler
//! chosen at decode time; straight-line runs of ops form blocks kept in a [`block`] cache keyed
//! by physical address and mode. Arithmetic flags are computed lazily ([`flags`]). Guest faults
//! are values ([`Exc`]) delivered through the IVT/IDT by [`interrupt`]. The CPU reaches the
//! rest of the machine only through the [`Bus`] trait, used generically.

pub mod access;
pub mod block;
mod deadflags;
pub mod decode;
pub mod exception;
pub mod exec;
pub mod flags;
pub mod fpu;
pub mod hotblocks;
pub mod interrupt;
mod knownflags;
mod ops;
pub mod regs;
pub mod segment;
mod system;
mod task;
#[cfg(test)]
mod test_rng;
mod transfer;

pub use block::BlockCache;
pub use decode::Op;
pub use exception::Exc;
pub use exec::Exit;
pub use flags::Flags;
pub use regs::{Reg, Seg, SegReg};
use regs::{SEG_READ, SEG_WRITE};

use emu_mmu::Memory;

/// What the CPU needs from the board. Used generically so port I/O is a direct call.
pub trait Bus {
    fn io_read(&mut self, port: u16, size: u8) -> u32;
    fn io_write(&mut self, port: u16, size: u8, value: u32);
    /// Called before every port access with the guest time of this very instruction (see
    /// [`GuestClock`]), so devices that derive state from time (timers, the RTC) are current.
    fn sync(&mut self, _now_ns: u64) {}
    /// FERR#: the x87 reports an unmasked exception with CR0.NE clear (IRQ 13 on a PC).
    fn ferr(&mut self) {}
    /// The INTR line: a maskable interrupt is waiting to be acknowledged.
    fn irq_pending(&self) -> bool {
        false
    }
    /// Interrupt acknowledge: returns the vector of the highest-priority pending interrupt.
    fn irq_ack(&mut self) -> u8 {
        0x08
    }
}

/// Guest time within a run slice: `base_ns` at instruction count `base_icount`, then
/// `ns_per_insn_q16 / 65536` nanoseconds per instruction. The run loop sets it for each slice
/// (a fixed 1 ns per instruction when unpaced; the measured host speed when paced, so guest
/// time follows wall time smoothly). The TSC is guest time in nanoseconds (a 1 GHz TSC), so
/// it keeps a constant rate against the guest's timers whatever the host speed.
#[derive(Clone, Copy, Debug)]
pub struct GuestClock {
    pub base_ns: u64,
    pub base_icount: u64,
    pub ns_per_insn_q16: u64,
}

impl Default for GuestClock {
    fn default() -> Self {
        GuestClock {
            base_ns: 0,
            base_icount: 0,
            ns_per_insn_q16: 1 << 16,
        }
    }
}

impl GuestClock {
    /// Guest nanoseconds at instruction count `icount` (of this slice or later).
    #[inline]
    pub fn now_ns(&self, icount: u64) -> u64 {
        let d = icount.saturating_sub(self.base_icount) as u128 * self.ns_per_insn_q16 as u128;
        self.base_ns.wrapping_add((d >> 16) as u64)
    }

    /// Instructions that take `ns` nanoseconds at this clock's rate (at least one).
    #[inline]
    pub fn insns_for(&self, ns: u64) -> u64 {
        (((ns as u128) << 16).div_ceil(self.ns_per_insn_q16.max(1) as u128) as u64).max(1)
    }
}

/// A bus with nothing on it: reads float high, writes vanish. For tests and benchmarks.
#[derive(Default)]
pub struct NullBus;

impl Bus for NullBus {
    fn io_read(&mut self, _port: u16, size: u8) -> u32 {
        match size {
            1 => 0xFF,
            2 => 0xFFFF,
            _ => 0xFFFF_FFFF,
        }
    }
    fn io_write(&mut self, _port: u16, _size: u8, _value: u32) {}
}

/// Descriptor-table register (GDTR/IDTR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableReg {
    pub base: u32,
    pub limit: u32,
}

/// Counters for `--stats` and the benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub blocks_decoded: u64,
    pub block_hits: u64,
    pub exceptions: u64,
    pub interrupts: u64,
    pub io_exits: u64,
    pub halts: u64,
    pub page_walks: u64,
    /// Data accesses the host TLB did not map (they took the full path).
    pub host_misses: u64,
    /// Ops decoded with a handler that skips their flags, found dead (`deadflags`).
    pub dead_flag_ops: u64,
    /// Jcc, SETcc and CMOVcc ops decoded to read a known setter's operands (`knownflags`).
    pub folded_jccs: u64,
}

pub struct Cpu<B: Bus> {
    /// General registers in encoding order (EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI); slots
    /// 8-15 are always zero, so an absent base or index register (8) costs no branch and an
    /// address register index masked to 4 bits needs no bounds check.
    pub r: [u32; 16],
    pub eip: u32,
    pub seg: [Seg; 6],
    /// Bit `s` set when segment register `s` is flat for data: base 0, every offset valid,
    /// readable and writable. The memory fast path then takes the offset as the linear
    /// address with no limit test; an access that wraps past 4 GiB misses the host TLB and
    /// the full path faults it. Kept by [`Cpu::put_seg`] and [`Cpu::refresh_flat`], and
    /// recomputed before every block (for tests and tools that write `seg` directly).
    pub(crate) flat: u8,
    pub flags: Flags,
    /// The x87 FPU.
    pub fpu: fpu::Fpu,
    pub idtr: TableReg,
    pub gdtr: TableReg,
    pub ldtr: Seg,
    pub tr: Seg,
    pub cr0: u32,
    pub cr2: u32,
    pub cr3: u32,
    pub cr4: u32,
    pub dr: [u32; 8],
    /// CR0.PG, cached for the memory fast path.
    pub(crate) paging: bool,
    pub(crate) pmode: emu_mmu::PagingMode,
    pub tlb: emu_mmu::Tlb,
    /// SYSENTER_CS/ESP/EIP MSRs.
    pub sysenter: [u32; 3],
    /// IA32_SPEC_CTRL (IBRS): kept only to read back.
    pub spec_ctrl: u8,
    /// Privilege level of the code segment (protected mode).
    pub(crate) cpl: u8,
    /// Added to guest time to form the TSC (WRMSR to the TSC sets it).
    pub tsc_offset: u64,
    /// Guest time as a function of the instruction count, set by the run loop per slice.
    pub clock: GuestClock,
    pub mem: Memory,
    pub bus: B,
    /// Instructions retired since reset.
    pub icount: u64,
    pub halted: bool,
    /// Triple fault: the CPU stopped and waits for the board to reset it.
    pub shutdown: bool,
    /// Set by a handler when the current block must end after this instruction
    /// (interrupt shadow, mode change, I/O that may raise an interrupt).
    pub(crate) stop: bool,
    /// The block loop runs one instruction at a time (TF, RF): a fused run of pushes or pops
    /// runs only its first.
    pub(crate) single_insn: bool,
    /// With `stop`: a conditional branch inside a block was taken. The block ends there, as
    /// blocks end at their last branch: chaining to the target goes on.
    pub(crate) taken: bool,
    /// EIP at the entry of the block running: each op's EIP is this plus its end offset.
    pub(crate) block_entry: u32,
    /// How many of the running ops are left, counting the one that faulted or stopped the
    /// block (1 for the last op).
    pub(crate) op_left: usize,
    /// Interrupts are inhibited for one instruction (after STI, MOV SS, POP SS).
    pub(crate) int_shadow: bool,
    /// Decoded blocks; taken out of `self` while a block runs.
    pub(crate) cache: BlockCache<B>,
    /// When false every instruction is decoded again before it runs (to measure the cache).
    pub block_cache_enabled: bool,
    /// When false, REP MOVS and REP STOS move one element at a time through the full access
    /// path instead of a page at a time through the host TLB (the reference for tests).
    pub bulk_strings: bool,
    pub stats: Stats,
    /// Per-block guest profile (`--hot-blocks`); `None` costs one test per block run.
    pub hot_blocks: Option<Box<hotblocks::HotBlocks>>,
    /// Port whose OUT from the firmware ROM area (real mode, F0000-FFFFF) stops the CPU with
    /// [`Exit::Trap`] carrying the OUT's linear address: how the built-in BIOS hands a service
    /// call to Rust.
    pub trap_port: Option<u16>,
    pub(crate) trap: Option<u32>,
    /// Exceptions still to report on stderr (`emu run -d exc`), like QEMU's `-d int`.
    pub log_exceptions: u32,
    /// Set when an instruction loads EFLAGS wholesale (IRET, POPF, task switch), which keeps
    /// the RF it loads instead of clearing it at completion.
    pub(crate) flags_loaded: bool,
    /// An exception of the fault class is being delivered (its EFLAGS image gets RF).
    pub(crate) delivering_fault: bool,
    /// The most recent exception an instruction raised (diagnostics and conformance tests).
    pub last_exception: Option<Exc>,
    /// Mnemonics already reported as unimplemented (#UD logged once each).
    pub(crate) ud_logged: std::collections::HashSet<u32>,
}

impl<B: Bus> Cpu<B> {
    pub fn new(mem: Memory, bus: B) -> Self {
        let mut cpu = Cpu {
            r: [0; 16],
            eip: 0,
            seg: [Seg::default(); 6],
            flags: Flags::default(),
            fpu: fpu::Fpu::new(),
            idtr: TableReg::default(),
            gdtr: TableReg::default(),
            ldtr: Seg::null(0),
            tr: Seg::null(0),
            cr0: 0,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            dr: [0, 0, 0, 0, 0, 0, 0xFFFF_0FF0, 0x400],
            paging: false,
            flat: 0,
            pmode: Default::default(),
            tlb: Default::default(),
            sysenter: [0; 3],
            spec_ctrl: 0,
            cpl: 0,
            tsc_offset: 0,
            clock: GuestClock::default(),
            mem,
            bus,
            icount: 0,
            halted: false,
            shutdown: false,
            stop: false,
            single_insn: false,
            taken: false,
            block_entry: 0,
            op_left: 0,
            int_shadow: false,
            cache: BlockCache::new(),
            block_cache_enabled: true,
            bulk_strings: true,
            stats: Stats::default(),
            hot_blocks: None,
            last_exception: None,
            delivering_fault: false,
            flags_loaded: false,
            log_exceptions: 0,
            trap_port: None,
            trap: None,
            ud_logged: Default::default(),
        };
        cpu.reset();
        cpu
    }

    /// Power-on / RESET state of a 686: F000:FFF0 with CS base FFFF0000.
    pub fn reset(&mut self) {
        self.r = [0; 16];
        self.r[Reg::Edx as usize] = 0x0000_0633; // family 6, model 3, stepping 3
        self.eip = 0xFFF0;
        for s in self.seg.iter_mut() {
            *s = Seg::real(0);
        }
        self.put_seg(
            SegReg::Cs as usize,
            Seg {
                sel: 0xF000,
                base: 0xFFFF_0000,
                ..Seg::real(0xF000)
            },
        );
        self.flags = Flags::default();
        self.fpu = fpu::Fpu::new();
        self.idtr = TableReg {
            base: 0,
            limit: 0xFFFF,
        };
        self.gdtr = TableReg {
            base: 0,
            limit: 0xFFFF,
        };
        self.cr0 = 0x6000_0010;
        self.cr2 = 0;
        self.cr3 = 0;
        self.cr4 = 0;
        self.cpl = 0;
        self.dr = [0, 0, 0, 0, 0, 0, 0xFFFF_0FF0, 0x400];
        self.paging = false;
        self.pmode = Default::default();
        self.flush_tlb(false);
        self.sysenter = [0; 3];
        self.spec_ctrl = 0;
        self.ldtr = Seg::null(0);
        self.ldtr.limit = 0xFFFF;
        self.tr = Seg::null(0);
        self.tr.limit = 0xFFFF;
        self.halted = false;
        self.shutdown = false;
        self.int_shadow = false;
        self.last_exception = None;
        self.refresh_flat();
    }

    /// Puts the CPU in real mode at `cs:ip` with every other segment register at `seg`.
    pub fn set_real_mode(&mut self, cs: u16, ip: u16) {
        self.put_seg(SegReg::Cs as usize, Seg::real(cs));
        self.eip = ip as u32;
    }

    pub fn load_seg_real(&mut self, s: SegReg, sel: u16) {
        let seg = &mut self.seg[s as usize];
        seg.sel = sel;
        seg.base = (sel as u32) << 4;
        self.refresh_flat();
    }

    /// Loads segment register `s` (an index, 0-5) and keeps [`Cpu::flat`] in step.
    #[inline]
    pub(crate) fn put_seg(&mut self, s: usize, seg: Seg) {
        if let Some(d) = self.seg.get_mut(s) {
            *d = seg;
        }
        self.refresh_flat();
    }

    /// Recomputes [`Cpu::flat`] from the segment caches.
    #[inline]
    pub(crate) fn refresh_flat(&mut self) {
        self.flat = self.flat_now();
    }

    /// Which segment registers are flat for data (see [`Cpu::flat`]).
    pub(crate) fn flat_now(&self) -> u8 {
        let mut m = 0;
        for (i, s) in self.seg.iter().enumerate() {
            if s.base == 0 && s.lo == 0 && s.hi == u32::MAX && s.rw == SEG_READ | SEG_WRITE {
                m |= 1 << i;
            }
        }
        m
    }

    #[inline]
    pub fn reg16(&self, r: Reg) -> u16 {
        self.r[r as usize] as u16
    }

    #[inline]
    pub fn set_reg16(&mut self, r: Reg, v: u16) {
        let x = &mut self.r[r as usize];
        *x = (*x & 0xFFFF_0000) | v as u32;
    }

    /// Physical address of CS:IP (real mode), for tests and diagnostics.
    pub fn pc_linear(&self) -> u32 {
        self.seg[SegReg::Cs as usize].base.wrapping_add(self.eip)
    }

    /// Protected mode enabled (CR0.PE).
    #[inline]
    pub fn pe(&self) -> bool {
        self.cr0 & 1 != 0
    }

    /// The mode bits that change how code decodes or which handlers apply; part of every
    /// block-cache key.
    #[inline]
    pub(crate) fn mode_key(&self) -> u32 {
        let cs = &self.seg[SegReg::Cs as usize];
        let ss = &self.seg[SegReg::Ss as usize];
        (cs.big as u32) | ((ss.big as u32) << 1) | ((self.pe() as u32) << 2)
    }

    #[inline]
    pub(crate) fn code32(&self) -> bool {
        self.seg[SegReg::Cs as usize].big
    }

    /// Instructions the guest executed that decode but are not implemented (each raised #UD),
    /// by name, for the front end to report once.
    pub fn unimplemented(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .ud_logged
            .iter()
            .filter_map(|&m| iced_x86::Mnemonic::values().nth(m as usize))
            .map(|m| format!("{m:?}").to_lowercase())
            .collect();
        v.sort();
        v
    }

    /// Block-cache lookups that found their block stale after a write to its code, and
    /// whole-cache flushes, since power-on.
    pub fn block_cache_counts(&self) -> (u64, u64) {
        (self.cache.invalidations, self.cache.flushes)
    }

    /// Drops every decoded block (used after loading new code from outside the CPU).
    pub fn flush_code_cache(&mut self) {
        self.cache.flush();
    }
}
