//! Helpers shared by the integration tests (`tests/`) and the benchmarks (`benches/`).
//!
//! The central piece is a real-mode machine with nothing but RAM and a CPU
//! ([`real_mode_cpu`]) whose interrupt vector table sends every vector to its own `HLT` stub,
//! so any exception or software interrupt the guest raises stops the run at a place that says
//! which vector it was ([`halted_vector`]).
//!
//! Memory layout of such a machine (physical addresses):
//!
//! | range              | use                                                        |
//! |--------------------|------------------------------------------------------------|
//! | `0x0000..0x0400`   | IVT: vector `v` -> [`STUB_SEG`]`:v`                        |
//! | `0x0500..0x0600`   | 256 `HLT` bytes, one per vector ([`STUB_BASE`])            |
//! | `0x0600..0x7000`   | free; the stack grows down from `0000:7000` ([`STACK_TOP`]) |
//! | `0x10000..`        | code is conventionally loaded at [`CODE_SEG`]`:0000`       |
//!
//! [`pm`] builds the protected-mode counterpart: flat segments, a TSS, paging on.

use emu_cpu::segment::Desc;
use emu_cpu::{Bus, Cpu, Exit, NullBus, Reg, Seg, SegReg};
use emu_mmu::Memory;

pub mod pm;

/// Segment of the `HLT` stubs: vector `v` enters at `STUB_SEG:v`.
pub const STUB_SEG: u16 = 0x0050;
/// Physical address of the first `HLT` stub (`STUB_SEG << 4`).
pub const STUB_BASE: u32 = (STUB_SEG as u32) << 4;
/// Initial SP (with SS = 0) of a fresh [`real_mode_cpu`].
pub const STACK_TOP: u16 = 0x7000;
/// Code segment a fresh [`real_mode_cpu`] starts in (at offset 0).
pub const CODE_SEG: u16 = 0x1000;

const HLT: u8 = 0xF4;

/// A real-mode CPU over `ram` bytes of zeroed RAM (a multiple of 4 KiB) and a [`NullBus`].
///
/// The IVT points every vector at its own `HLT` stub (see [`install_hlt_ivt`]); CS:IP is
/// [`CODE_SEG`]`:0000`, every other segment register is 0, SS:SP is `0000:`[`STACK_TOP`],
/// the general registers are 0 and EFLAGS is `0x0002`.
pub fn real_mode_cpu(ram: usize) -> Cpu<NullBus> {
    let mem = Memory::new(ram).expect("guest RAM size must be a non-zero multiple of 4 KiB");
    let mut cpu = Cpu::new(mem, NullBus);
    install_hlt_ivt(&mut cpu);
    reset_real_mode(&mut cpu, CODE_SEG, 0);
    cpu
}

/// Writes the IVT (vector `v` -> [`STUB_SEG`]`:v`) and the 256 `HLT` stubs behind it.
pub fn install_hlt_ivt(cpu: &mut Cpu<NullBus>) {
    for v in 0..256u32 {
        cpu.mem.write_u16(v * 4, v as u16);
        cpu.mem.write_u16(v * 4 + 2, STUB_SEG);
        cpu.mem.write_u8(STUB_BASE + v, HLT);
    }
    cpu.flush_code_cache();
}

/// Puts the CPU back in a known real-mode state at `cs:ip` without touching memory:
/// general registers 0, SS:SP = `0000:`[`STACK_TOP`], other segments 0 with 64 KiB limits,
/// EFLAGS `0x0002`, not halted. The block cache is kept (it stays valid: memory writes
/// invalidate what they touch).
pub fn reset_real_mode(cpu: &mut Cpu<NullBus>, cs: u16, ip: u16) {
    cpu.r = [0; 16];
    cpu.r[Reg::Esp as usize] = STACK_TOP as u32;
    for s in cpu.seg.iter_mut() {
        *s = Seg::real(0);
    }
    cpu.set_real_mode(cs, ip);
    cpu.flags.set(0x0002);
    cpu.halted = false;
    cpu.shutdown = false;
}

/// The hidden state a real-mode segment register keeps after a protected-mode round trip
/// through a flat 4 GiB read/write data descriptor ("unreal" / "big real" mode): selector
/// `sel`, base `sel << 4`, limit 4 GiB - 1, and the D/B bit `big` (a 32-bit stack for SS).
/// Built through [`Desc::to_seg`] so it stays consistent with how the CPU loads segments.
pub fn unreal_seg(sel: u16, big: bool) -> Seg {
    let base = (sel as u64) << 4;
    let desc = 0xFFFF // limit 15:0
        | (base & 0xFF_FFFF) << 16
        | 0x93 << 40 // present, DPL 0, read/write data, accessed
        | 0xF << 48 // limit 19:16
        | 1 << 55 // G: 4 KiB granularity
        | (big as u64) << 54
        | (base >> 24) << 56;
    Desc(desc).to_seg(sel)
}

/// Copies `code` to physical address `addr` and drops any decoded blocks.
pub fn load_code<B: Bus>(cpu: &mut Cpu<B>, addr: u32, code: &[u8]) {
    cpu.mem.write_bytes(addr, code);
    cpu.mem.note_write(addr, code.len());
    cpu.flush_code_cache();
}

/// Physical address of a real-mode `seg:off`.
pub fn phys(seg: u16, off: u16) -> u32 {
    ((seg as u32) << 4) + off as u32
}

/// If the CPU is halted in one of the IVT stubs, the vector that brought it there.
pub fn halted_vector(cpu: &Cpu<NullBus>) -> Option<u8> {
    let cs = cpu.seg[SegReg::Cs as usize];
    // HLT has executed, so IP is one past the stub byte.
    if cpu.halted && cs.sel == STUB_SEG && cs.base == STUB_BASE && (1..=256).contains(&cpu.eip) {
        Some((cpu.eip - 1) as u8)
    } else {
        None
    }
}

/// The interrupt frame a real-mode interrupt pushed (IP, CS, FLAGS), read at SS:SP.
pub fn real_mode_frame(cpu: &Cpu<NullBus>) -> (u16, u16, u16) {
    let ss = cpu.seg[SegReg::Ss as usize].base;
    let sp = cpu.r[Reg::Esp as usize] & 0xFFFF;
    let at = |i: u32| cpu.mem.read_u16(ss.wrapping_add((sp + 2 * i) & 0xFFFF));
    (at(0), at(1), at(2))
}

/// Fills `len` bytes of guest RAM from `start` with a reproducible xorshift64* byte stream
/// from `seed`, leaving the first 0x600 bytes alone (the real-mode IVT and `HLT` stubs).
pub fn fill_random<B: Bus>(cpu: &mut Cpu<B>, start: u32, len: u32, seed: u64) {
    let mut x = seed | 1;
    for i in 0..len {
        let a = start.wrapping_add(i);
        if a & cpu.mem.a20_mask() < 0x600 {
            continue;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        cpu.mem
            .write_u8(a, (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8);
    }
}

/// A property test's case count: `default`, unless `PROPTEST_CASES` is set (for long soak
/// runs).
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs until the CPU halts or shuts down, or `max` instructions have retired.
pub fn run_until_stop<B: Bus>(cpu: &mut Cpu<B>, max: u64) -> Exit {
    let end = cpu.icount.saturating_add(max);
    loop {
        let left = end.saturating_sub(cpu.icount);
        if left == 0 {
            return Exit::Budget;
        }
        match cpu.run(left) {
            Exit::Budget => continue,
            e => return e,
        }
    }
}

/// Everything architecturally visible about a CPU except memory, for comparing two runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuState {
    pub r: [u32; 8],
    pub eip: u32,
    pub seg: [Seg; 6],
    pub eflags: u32,
    pub icount: u64,
    pub halted: bool,
    pub shutdown: bool,
}

/// Snapshot of the register state (lazy flags are evaluated).
pub fn cpu_state(cpu: &Cpu<NullBus>) -> CpuState {
    let mut r = [0; 8];
    r.copy_from_slice(&cpu.r[..8]);
    CpuState {
        r,
        eip: cpu.eip,
        seg: cpu.seg,
        eflags: cpu.flags.get(),
        icount: cpu.icount,
        halted: cpu.halted,
        shutdown: cpu.shutdown,
    }
}

/// The first physical address where two CPUs' RAM differs (`None` if equal).
pub fn first_ram_difference(a: &Cpu<NullBus>, b: &Cpu<NullBus>) -> Option<usize> {
    let (x, y) = (a.mem.ram(), b.mem.ram());
    if x.len() != y.len() {
        return Some(x.len().min(y.len()));
    }
    // Compare in large chunks first; only a differing chunk is scanned byte by byte.
    let mut off = 0;
    for (cx, cy) in x.chunks(4096).zip(y.chunks(4096)) {
        if cx != cy {
            return cx.iter().zip(cy).position(|(p, q)| p != q).map(|i| off + i);
        }
        off += cx.len();
    }
    None
}

/// A tiny assembler for hand-written guest code: raw bytes plus short backward jumps.
#[derive(Default)]
pub struct Code {
    pub bytes: Vec<u8>,
}

impl Code {
    pub fn new() -> Code {
        Code::default()
    }

    /// Offset of the next byte (a label for a backward jump).
    pub fn here(&self) -> usize {
        self.bytes.len()
    }

    /// Appends raw instruction bytes.
    pub fn emit(&mut self, b: &[u8]) -> &mut Code {
        self.bytes.extend_from_slice(b);
        self
    }

    /// Appends a two-byte short branch (`opcode rel8`: JMP EB, Jcc 7x, LOOP E2) to `target`.
    pub fn short_to(&mut self, opcode: u8, target: usize) -> &mut Code {
        let next = self.here() as isize + 2;
        let rel = target as isize - next;
        let rel = i8::try_from(rel).expect("short branch out of range");
        self.emit(&[opcode, rel as u8])
    }

    /// Appends `CALL rel16` to `target` (16-bit code).
    pub fn call_to(&mut self, target: usize) -> &mut Code {
        let next = self.here() as isize + 3;
        let rel = target as isize - next;
        let rel = i16::try_from(rel).expect("near call out of range");
        self.emit(&[0xE8]).emit(&rel.to_le_bytes())
    }
}

/// Console output shared between a run thread and the test reading it.
#[derive(Clone, Default)]
pub struct SharedOutput(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedOutput {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedOutput {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Directory of the Debian guest images (`scripts/guest-image.sh` builds them): `$EMU_GUEST_DIR`,
/// else `target/guest`.
pub fn guest_dir() -> std::path::PathBuf {
    std::env::var_os("EMU_GUEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/guest")
        })
}

/// The `emu` binary of the profile this test was built with, built first if needed.
///
/// Integration tests of this package cannot use `CARGO_BIN_EXE_emu` (the binary lives in the
/// `emu-frontend` package), so this asks Cargo to build it into the same target directory
/// (`target/<profile>/emu`, next to the test's own `deps/`). Cargo no longer holds the build
/// lock while tests run, so the nested build does not wait on the outer one.
pub fn emu_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("test executable under target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(p) => p.to_string(),
        None => "dev".to_string(),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "emu-frontend",
            "--bin",
            "emu",
            "--profile",
        ])
        .arg(&profile)
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo build for the emu binary");
    assert!(status.success(), "cargo build of the emu binary failed");
    let bin = profile_dir.join("emu");
    assert!(bin.is_file(), "{} missing after cargo build", bin.display());
    bin
}
