//! Reference traces: the project's own test programs (testdata/traces/src/*.asm, one 64 KiB ROM
//! image each), recorded under QEMU one instruction at a time, replayed in emu and compared
//! after every instruction. See testdata/traces/README.md for the programs, the trace format,
//! how to regenerate and the known QEMU divergences.
//!
//! Each program starts at the reset vector F000:FFF0 on a 16 MiB machine with the image mapped
//! as the BIOS ROM, and ends with `out 0xF4, al` at linear 0xFFF00. Record 0 of a trace is the
//! reset state, record k the state after the k-th instruction (including the delivery of any
//! exception it raised). Compared after every step: EAX..EDI, EIP, EFLAGS (flags the SDM leaves
//! undefined for the instruction masked), the six selectors with their cached base and limit
//! (and attributes in protected mode), CPL, CR0, CR2, CR3, CR4, GDTR and IDTR.
//!
//! Not compared (noted in the README): the registers CPUID/RDTSC write (the CPU models differ,
//! so they are copied from the trace), LDTR/TR/DRn (emu has no public fields for them yet),
//! the hidden parts of null selectors in protected mode. Memory is not compared directly: the
//! programs load what they check into registers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;

use emu_cpu::{Bus, Cpu, SegReg};
use emu_mmu::Memory;
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, RflagsBits};

// ---- the test bus --------------------------------------------------------------------------

/// Port 0xF4: exit (like QEMU's isa-debug-exit); port 0xE9: debug console bytes. Reads of
/// other ports float high, as the unassigned ports QEMU's PC has in the range the programs use.
#[derive(Default)]
struct TraceBus {
    exit: Option<u32>,
    debugcon: Vec<u8>,
}

impl Bus for TraceBus {
    fn io_read(&mut self, port: u16, size: u8) -> u32 {
        match port {
            // QEMU: isa-debug-exit reads 0; 0xE9 reads 0 on its PC.
            0xF4 | 0xE9 => 0,
            _ => match size {
                1 => 0xFF,
                2 => 0xFFFF,
                _ => 0xFFFF_FFFF,
            },
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        match port {
            0xF4 => {
                self.exit.get_or_insert(value & 0xFF);
            }
            0xE9 => self.debugcon.push(value as u8),
            _ => {}
        }
    }
}

// ---- the trace file ------------------------------------------------------------------------

struct Trace {
    header: String,
    names: Vec<String>,
    records: Vec<Vec<u32>>,
}

impl Trace {
    fn load(path: &PathBuf) -> Trace {
        let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut data)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut pos = 0usize;
        let mut take = |n: usize| {
            let s = &data[pos..pos + n];
            pos += n;
            s.to_vec()
        };
        assert_eq!(take(8), b"EMUTRACE", "{}: not an emu trace", path.display());
        let u32_of = |b: Vec<u8>| u32::from_le_bytes(b.try_into().unwrap());
        let version = u32_of(take(4));
        assert_eq!(
            version,
            1,
            "{}: trace format version {version}",
            path.display()
        );
        let hl = u32_of(take(4)) as usize;
        let header = String::from_utf8(take(hl)).unwrap();
        let nf = u16::from_le_bytes(take(2).try_into().unwrap()) as usize;
        let mut names = Vec::with_capacity(nf);
        for _ in 0..nf {
            let l = take(1)[0] as usize;
            names.push(String::from_utf8(take(l)).unwrap());
        }
        let nr = u32_of(take(4)) as usize;
        let mut cur = vec![0u32; nf];
        let mut records = Vec::with_capacity(nr);
        for _ in 0..nr {
            let mut mask = 0u64;
            let mut shift = 0;
            loop {
                let b = take(1)[0];
                mask |= ((b & 0x7F) as u64) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            for (i, v) in cur.iter_mut().enumerate() {
                if mask >> i & 1 != 0 {
                    *v = u32_of(take(4));
                }
            }
            records.push(cur.clone());
        }
        Trace {
            header,
            names,
            records,
        }
    }

    fn field(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("trace has no field {name}"))
    }
}

/// The compact listing regen.sh writes ("OFFSET source" per emitted line): ROM offset ->
/// source text, for failure messages.
fn load_listing(path: &PathBuf) -> BTreeMap<u32, String> {
    let mut map = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(path) else {
        return map;
    };
    for line in text.lines() {
        let Some((off, src)) = line.split_once(' ') else {
            continue;
        };
        if let Ok(off) = u32::from_str_radix(off, 16) {
            map.entry(off).or_insert_with(|| src.to_string());
        }
    }
    map
}

// ---- reading guest code for the flag masks -------------------------------------------------

/// Linear -> physical through the guest's page tables as they are in memory (no TLB, no
/// accessed/dirty updates): enough to find the bytes of the instruction about to run.
fn translate<B: Bus>(cpu: &Cpu<B>, lin: u32) -> Option<u32> {
    if cpu.cr0 & 0x8000_0001 != 0x8000_0001 {
        return Some(lin);
    }
    let m = &cpu.mem;
    if cpu.cr4 & 0x20 != 0 {
        // PAE: PDPTE -> PDE (2 MiB pages) -> PTE, 64-bit entries (the low 32 bits suffice here).
        let pdpte = m.read_u32((cpu.cr3 & !0x1F) + (lin >> 30) * 8);
        if pdpte & 1 == 0 {
            return None;
        }
        let pde = m.read_u32((pdpte & !0xFFF) + ((lin >> 21) & 0x1FF) * 8);
        if pde & 1 == 0 {
            return None;
        }
        if pde & 0x80 != 0 {
            return Some((pde & 0xFFE0_0000) | (lin & 0x1F_FFFF));
        }
        let pte = m.read_u32((pde & !0xFFF) + ((lin >> 12) & 0x1FF) * 8);
        if pte & 1 == 0 {
            return None;
        }
        return Some((pte & !0xFFF) | (lin & 0xFFF));
    }
    let pde = m.read_u32((cpu.cr3 & !0xFFF) + (lin >> 22) * 4);
    if pde & 1 == 0 {
        return None;
    }
    if pde & 0x80 != 0 && cpu.cr4 & 0x10 != 0 {
        return Some((pde & 0xFFC0_0000) | (lin & 0x3F_FFFF));
    }
    let pte = m.read_u32((pde & !0xFFF) + ((lin >> 12) & 0x3FF) * 4);
    if pte & 1 == 0 {
        return None;
    }
    Some((pte & !0xFFF) | (lin & 0xFFF))
}

fn code_bytes<B: Bus>(cpu: &Cpu<B>, lin: u32) -> [u8; 15] {
    let mut b = [0u8; 15];
    for (i, x) in b.iter_mut().enumerate() {
        let a = lin.wrapping_add(i as u32);
        *x = translate(cpu, a).map_or(0, |p| cpu.mem.read_u8(p));
    }
    b
}

/// EFLAGS bits from iced's RflagsBits.
fn eflags_of(r: u32) -> u32 {
    let mut f = 0;
    for (bit, ef) in [
        (RflagsBits::OF, 1 << 11),
        (RflagsBits::SF, 1 << 7),
        (RflagsBits::ZF, 1 << 6),
        (RflagsBits::AF, 1 << 4),
        (RflagsBits::CF, 1 << 0),
        (RflagsBits::PF, 1 << 2),
        (RflagsBits::DF, 1 << 10),
        (RflagsBits::IF, 1 << 9),
        (RflagsBits::AC, 1 << 18),
    ] {
        if r & bit != 0 {
            f |= ef;
        }
    }
    f
}

// ---- the comparison ------------------------------------------------------------------------

const SEGS: [&str; 6] = ["es", "cs", "ss", "ds", "fs", "gs"];
const REGS: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const EFLAGS_VM: u32 = 1 << 17;

/// emu's value of a trace field; None where emu has no public counterpart yet.
fn emu_field<B: Bus>(cpu: &Cpu<B>, name: &str) -> Option<u32> {
    if let Some(i) = REGS.iter().position(|r| *r == name) {
        return Some(cpu.r[i]);
    }
    if let Some((seg, part)) = name.split_once('.') {
        if let Some(i) = SEGS.iter().position(|s| *s == seg) {
            let s = &cpu.seg[i];
            return Some(match part {
                "base" => s.base,
                "limit" => s.limit,
                "attr" => s.attr as u32 & 0xF0FF,
                _ => return None,
            });
        }
        return match name {
            "gdtr.base" => Some(cpu.gdtr.base),
            "gdtr.limit" => Some(cpu.gdtr.limit),
            "idtr.base" => Some(cpu.idtr.base),
            "idtr.limit" => Some(cpu.idtr.limit),
            _ => None,
        };
    }
    if let Some(i) = SEGS.iter().position(|s| *s == name) {
        return Some(cpu.seg[i].sel as u32);
    }
    Some(match name {
        "eip" => cpu.eip,
        "eflags" => cpu.flags.get(),
        "cr0" => cpu.cr0,
        "cr2" => cpu.cr2,
        "cr3" => cpu.cr3,
        "cr4" => cpu.cr4,
        "cpl" => cpu.cpl() as u32,
        // ldtr, tr, dr0-3, dr6, dr7: no public state in emu yet; "event" is not CPU state.
        _ => return None,
    })
}

/// Registers whose value after this instruction is model-specific (copied from the trace).
fn model_specific(ins: &Instruction, ecx_before: u32) -> &'static [&'static str] {
    match ins.mnemonic() {
        Mnemonic::Cpuid => &["eax", "ebx", "ecx", "edx"],
        Mnemonic::Rdtsc => &["eax", "edx"],
        Mnemonic::Rdmsr if ecx_before == 0x10 => &["eax", "edx"],
        _ => &[],
    }
}

/// Register results the SDM leaves partly undefined: (register index, defined bits).
/// LAR with a 32-bit destination: bits 19:16 are undefined (SDM Vol. 2A, LAR: "00FxFF00H";
/// QEMU writes them as zero).
fn partly_defined(ins: &Instruction) -> Vec<(usize, u32)> {
    let r = ins.op0_register();
    match ins.mnemonic() {
        Mnemonic::Lar if r.is_gpr32() => vec![(r.number(), !0x000F_0000)],
        _ => Vec::new(),
    }
}

struct Program {
    dir: PathBuf,
    trace: Trace,
    listing: BTreeMap<u32, String>,
}

impl Program {
    fn load(name: &'static str) -> Program {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/traces");
        let trace = Trace::load(&dir.join(format!("{name}.trace.gz")));
        let listing = load_listing(&dir.join(format!("{name}.lst")));
        Program {
            dir,
            trace,
            listing,
        }
    }

    /// "F000:1234 (lin 000F1234, rom +1234) mov ax, bx   [bytes]"
    fn describe(&self, cs: u16, eip: u32, lin: u32, ins: &Instruction, bytes: &[u8]) -> String {
        let rom_off = if (0xF_0000..0x10_0000).contains(&lin) || lin >= 0xFFFF_0000 {
            Some(lin & 0xFFFF)
        } else {
            None
        };
        let src = rom_off
            .and_then(|o| self.listing.get(&o).cloned())
            .unwrap_or_else(|| format!("{:?}", ins.mnemonic()));
        let hex: Vec<String> = bytes[..ins.len().clamp(1, 15)]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!(
            "{cs:04x}:{eip:08x} (linear {lin:08x}{}) `{src}` [{}]",
            rom_off.map_or(String::new(), |o| format!(", ROM +{o:04x}")),
            hex.join(" ")
        )
    }
}

fn event_text(ev: u32) -> String {
    if ev == 0 {
        return "nothing (QEMU logs deliveries only in protected mode)".into();
    }
    format!(
        "vector {:#04x}{} error code {:#06x}",
        (ev >> 16) & 0xFF,
        if ev & (1 << 30) != 0 {
            " (software INT)"
        } else {
            ""
        },
        ev & 0xFFFF
    )
}

/// Differences between emu's state and trace record `exp`, ignoring the EFLAGS bits in
/// `undefined`. Also returns QEMU's EFLAGS when only undefined bits differ (else 0).
fn compare<B: Bus>(
    cpu: &Cpu<B>,
    t: &Trace,
    exp: &[u32],
    undefined: u32,
    partial: &[(usize, u32)],
    pm_loaded: &[bool; 6],
) -> (Vec<String>, u32) {
    let f = |n: &str| t.field(n);
    let (f_eflags, f_cr0) = (f("eflags"), f("cr0"));
    let pm = exp[f_cr0] & 1 != 0 && exp[f_eflags] & EFLAGS_VM == 0;
    let mut diffs = Vec::new();
    let mut masked_flags = 0;
    for (i, n) in t.names.iter().enumerate() {
        let Some(got) = emu_field(cpu, n) else {
            continue;
        };
        let want = exp[i];
        if let Some((seg, part)) = n.split_once('.') {
            if let Some(si) = SEGS.iter().position(|s| *s == seg) {
                let sel = exp[f(SEGS[si])];
                // Hidden parts of a null selector in protected mode are not architectural.
                if pm && sel & !3 == 0 {
                    continue;
                }
                // Attributes only of segments loaded in protected mode: what real-mode and
                // V86 loads leave there (kept until the first protected-mode load) is not
                // observable.
                if part == "attr" && !(pm && pm_loaded[si]) {
                    continue;
                }
                // The accessed bit of the cached type is not observable (LAR reads the
                // descriptor in memory, which the programs check); the rest is.
                let amask = if want & 0x10 != 0 { !1 } else { !0 };
                if part == "attr" && (got ^ want) & amask != 0 {
                    diffs.push(format!("{n}: expected {want:#06x}, got {got:#06x}"));
                }
                if part == "attr" {
                    continue;
                }
            }
        }
        if let Some(&(_, defined)) = REGS
            .iter()
            .position(|r| r == n)
            .and_then(|ri| partial.iter().find(|(i, _)| *i == ri))
        {
            if (got ^ want) & defined != 0 {
                diffs.push(format!(
                    "{n}: expected {want:#010x}, got {got:#010x} (bits {:#x} undefined here)",
                    !defined
                ));
            }
            continue;
        }
        if n == "eflags" {
            if (got ^ want) & !undefined != 0 {
                diffs.push(format!(
                        "eflags: expected {want:#010x}, got {got:#010x} (differing bits {:#x}, undefined for this instruction {undefined:#x})",
                        got ^ want
                    ));
            } else if got != want {
                masked_flags = want;
            }
            continue;
        }
        if got != want {
            diffs.push(format!("{n}: expected {want:#010x}, got {got:#010x}"));
        }
    }
    // The D/B bit of CS and SS decides how emu decodes and uses the stack.
    if pm {
        for s in [SegReg::Cs, SegReg::Ss] {
            let n = SEGS[s as usize];
            let want = exp[f(&format!("{n}.attr"))] & 0x4000 != 0;
            if pm_loaded[s as usize] && exp[f(n)] & !3 != 0 && cpu.seg[s as usize].big != want {
                diffs.push(format!(
                    "{n}.big: expected {want}, got {}",
                    cpu.seg[s as usize].big
                ));
            }
        }
    }
    (diffs, masked_flags)
}

/// Copies the trace's state into emu after a divergence (EMU_TRACE_KEEP_GOING only): the
/// registers, EFLAGS, segment registers with their caches, control and table registers.
/// CPL and state emu keeps privately (TLB, LDTR, TR) are not touched.
fn resync<B: Bus>(cpu: &mut Cpu<B>, t: &Trace, exp: &[u32]) {
    let f = |n: &str| exp[t.field(n)];
    for (i, r) in REGS.iter().enumerate() {
        cpu.r[i] = f(r);
    }
    cpu.eip = f("eip");
    cpu.flags.set(f("eflags"));
    for (i, s) in SEGS.iter().enumerate() {
        let seg = &mut cpu.seg[i];
        seg.sel = f(s) as u16;
        seg.base = f(&format!("{s}.base"));
        seg.limit = f(&format!("{s}.limit"));
        let attr = f(&format!("{s}.attr"));
        seg.attr = (attr & 0xF0FF) as u16;
        seg.big = attr & 0x4000 != 0;
    }
    cpu.cr0 = f("cr0");
    cpu.cr2 = f("cr2");
    cpu.cr3 = f("cr3");
    cpu.cr4 = f("cr4");
    cpu.gdtr.base = f("gdtr.base");
    cpu.gdtr.limit = f("gdtr.limit");
    cpu.idtr.base = f("idtr.base");
    cpu.idtr.limit = f("idtr.limit");
    cpu.flush_code_cache();
}

/// Runs program `name` in emu against its reference trace.
fn run_trace(name: &'static str) {
    let p = Program::load(name);
    let t = &p.trace;
    let rom = std::fs::read(p.dir.join(format!("{name}.bin"))).expect("ROM image");
    let mut mem = Memory::new(16 << 20).expect("16 MiB of guest RAM");
    mem.load_rom(&rom).expect("ROM image of 64 KiB");
    let mut cpu = Cpu::new(mem, TraceBus::default());

    let idx: BTreeMap<&str, usize> = t
        .names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let f = |n: &str| idx[n];
    let (f_eip, f_cs, f_event) = (f("eip"), f("cs"), f("event"));

    // The reset state must agree, except EDX (the CPU signature: QEMU's pentium3 is family 6
    // model 7, emu's model differs), which is taken from the trace.
    let r0 = &t.records[0];
    cpu.r[2] = r0[f("edx")];
    let (diffs, _) = compare(&cpu, t, r0, 0, &[], &[false; 6]);
    assert!(
        diffs.is_empty(),
        "{name}: the reset state differs: {diffs:#?}"
    );

    let mut recent: Vec<String> = Vec::new();
    let mut pm_loaded = [false; 6];
    // EMU_TRACE_KEEP_GOING=N: report up to N divergences, copying the trace's state into emu
    // after each one (a debugging aid; the test still fails).
    let keep_going: usize = std::env::var("EMU_TRACE_KEEP_GOING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut divergences: Vec<String> = Vec::new();
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut k = 0usize; // index of the record matching the current state
    let mut steps = 0u64;
    while k + 1 < t.records.len() {
        let cur = &t.records[k];
        let cs_sel = cpu.seg[SegReg::Cs as usize].sel;
        let cs_base = cpu.seg[SegReg::Cs as usize].base;
        let eip = cpu.eip;
        let lin = cs_base.wrapping_add(eip);
        let bytes = code_bytes(&cpu, lin);
        let v86 = cpu.flags.get() & EFLAGS_VM != 0;
        let bitness = if cpu.seg[SegReg::Cs as usize].big && !v86 {
            32
        } else {
            16
        };
        let mut dec = Decoder::with_ip(bitness, &bytes, eip as u64, DecoderOptions::NONE);
        let ins = dec.decode();
        let what = p.describe(cs_sel, eip, lin, &ins, &bytes);
        let undefined = eflags_of(ins.rflags_undefined());
        let ecx_before = cpu.r[1];

        cpu.last_exception = None;
        cpu.step();
        steps += 1;
        let mut next = k + 1;
        // A REP string instruction may be split differently (QEMU and emu both run long
        // repeats in chunks): run emu and skip trace records until both have left it.
        let is_rep =
            ins.is_string_instruction() && (ins.has_rep_prefix() || ins.has_repne_prefix());
        if is_rep {
            let mut guard = 0;
            while cpu.eip == eip && cpu.seg[SegReg::Cs as usize].sel == cs_sel && guard < 1 << 20 {
                cpu.step();
                steps += 1;
                guard += 1;
            }
            while next + 1 < t.records.len()
                && t.records[next][f_eip] == eip
                && t.records[next][f_cs] == cs_sel as u32
            {
                next += 1;
            }
        }
        let exp = &t.records[next];

        // Registers whose values are model-specific come from the trace.
        for r in model_specific(&ins, ecx_before) {
            cpu.r[REGS.iter().position(|x| x == r).unwrap()] = exp[f(r)];
        }

        // QEMU divergence: IRET to virtual-8086 mode does not load RF in QEMU, while the SDM's
        // pseudocode loads all of the popped EFLAGS (RETURN-TO-VIRTUAL-8086-MODE: "EFLAGS <-
        // tempEFLAGS"). emu follows the SDM; the comparison goes on from QEMU's value.
        if matches!(
            ins.mnemonic(),
            iced_x86::Mnemonic::Iret | iced_x86::Mnemonic::Iretd
        ) && cpu.flags.get() & EFLAGS_VM != 0
            && cpu.flags.get() ^ exp[f("eflags")] == 1 << 16
        {
            cpu.flags.set(exp[f("eflags")]);
        }

        let partial = partly_defined(&ins);
        // Which segment registers hold a descriptor loaded in protected mode (per the trace).
        let exp_pm = exp[f("cr0")] & 1 != 0 && exp[f("eflags")] & EFLAGS_VM == 0;
        for (si, seg) in SEGS.iter().enumerate() {
            if !exp_pm {
                pm_loaded[si] = false;
            } else {
                let parts = ["", ".base", ".limit", ".attr"].map(|p| f(&format!("{seg}{p}")));
                if parts.iter().any(|&i| exp[i] != cur[i]) {
                    pm_loaded[si] = true;
                }
            }
        }
        let (diffs, masked_flags) = compare(&cpu, t, exp, undefined, &partial, &pm_loaded);
        if !diffs.is_empty() {
            let mut msg = String::new();
            let _ = writeln!(
                msg,
                "{name}: state differs after step {steps} (trace record {next} of {}):",
                t.records.len() - 1
            );
            let _ = writeln!(msg, "  instruction: {what}");
            let _ = writeln!(msg, "  QEMU delivered: {}", event_text(exp[f_event]));
            let _ = writeln!(msg, "  emu raised: {:?}", cpu.last_exception);
            for d in &diffs {
                let _ = writeln!(msg, "  {d}");
            }
            let _ = writeln!(msg, "  state before the instruction (trace record {k}):");
            let mut line = String::from("   ");
            for (i, n) in t.names.iter().enumerate() {
                if n.contains('.') || n == "event" {
                    continue;
                }
                let _ = write!(line, " {n}={:x}", cur[i]);
            }
            let _ = writeln!(msg, "{line}");
            let _ = writeln!(msg, "  previous instructions:");
            for r in recent.iter().rev().take(8).rev() {
                let _ = writeln!(msg, "    {r}");
            }
            if divergences.len() >= keep_going {
                if !divergences.is_empty() {
                    panic!("{}\n{msg}", divergences.join("\n"));
                }
                panic!("{msg}");
            }
            // One entry per kind: the same instruction with the same differing fields.
            let fields: Vec<&str> = diffs
                .iter()
                .map(|d| d.split(':').next().unwrap_or(""))
                .collect();
            // A difference only in EFLAGS.RF is one kind wherever it happens.
            let rf_only = diffs.len() == 1 && (cpu.flags.get() ^ exp[f("eflags")]) == 1 << 16;
            let kind = if rf_only {
                "eflags.RF".to_string()
            } else {
                format!("{lin:08x} {}", fields.join(","))
            };
            if let Some(c) = kinds.get_mut(&kind) {
                *c += 1;
            } else {
                kinds.insert(kind, 1);
                divergences.push(format!(
                    "#{} after step {steps}: {what}\n    {}",
                    divergences.len() + 1,
                    diffs.join("\n    ")
                ));
            }
            resync(&mut cpu, t, exp);
        }
        for &(i, _) in &partial {
            cpu.r[i] = exp[f(REGS[i])];
        }
        if masked_flags != 0 {
            // Keep running on QEMU's values of the undefined flags, so they cannot leak into
            // a later comparison (PUSHF, a conditional jump).
            cpu.flags.set(masked_flags);
        }
        recent.push(what);
        if recent.len() > 64 {
            recent.drain(..32);
        }
        k = next;
    }
    assert!(
        divergences.is_empty(),
        "{name}: {} kinds of divergence, {} in all (EMU_TRACE_KEEP_GOING; each kind is shown once):\n{}",
        divergences.len(),
        kinds.values().sum::<usize>(),
        divergences.join("\n")
    );
    assert!(
        cpu.bus.exit.is_some(),
        "{name}: the trace ended but emu never wrote the exit port 0xF4"
    );
    eprintln!(
        "{name}: {} trace records, {steps} emu steps match ({})",
        t.records.len(),
        t.header
            .lines()
            .find(|l| l.starts_with("qemu"))
            .unwrap_or("")
    );
}

#[test]
fn a_real32() {
    run_trace("a_real32");
}

#[test]
fn b_pmode() {
    run_trace("b_pmode");
}

#[test]
fn c_paging() {
    run_trace("c_paging");
}

#[test]
fn d_priv() {
    run_trace("d_priv");
}

#[test]
fn e_tasks() {
    run_trace("e_tasks");
}

#[test]
fn f_v86() {
    run_trace("f_v86");
}

#[test]
fn g_system() {
    run_trace("g_system");
}

#[test]
fn h_except() {
    run_trace("h_except");
}

/// The harness's own assumptions about iced-x86's undefined-flag information.
#[test]
fn harness_flag_masks() {
    let undefined = |bytes: &[u8]| {
        let ins = Decoder::new(32, bytes, DecoderOptions::NONE).decode();
        eflags_of(ins.rflags_undefined())
    };
    const OF: u32 = 1 << 11;
    const AF: u32 = 1 << 4;
    assert_eq!(
        undefined(&[0xD3, 0xD0]) & OF,
        OF,
        "rcl eax, cl: OF undefined"
    );
    assert_eq!(
        undefined(&[0xC1, 0xD0, 0x0D]) & OF,
        OF,
        "rcl eax, 13: OF undefined"
    );
    assert_eq!(undefined(&[0xD1, 0xD0]) & OF, 0, "rcl eax, 1: OF defined");
    assert_eq!(
        undefined(&[0xF7, 0xE1]),
        0xD4,
        "mul ecx: SF ZF AF PF undefined"
    );
    assert_eq!(undefined(&[0x21, 0xC8]), AF, "and eax, ecx: AF undefined");
    assert_eq!(undefined(&[0x01, 0xC8]), 0, "add eax, ecx: all defined");
}
