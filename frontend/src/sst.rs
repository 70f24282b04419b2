//! The single-step conformance runner behind `emu sst`.
//!
//! Reads test files in the SingleStepTests format (gzipped JSON arrays: initial state, one
//! instruction followed by HLT, final state), runs each test on a real-mode CPU and compares
//! registers and memory, masking flags the suite's `metadata.json` calls undefined. Tests of a
//! form that behaves differently on a 686 than on the recording 286 are skipped only under a
//! rule named in `testdata/sst-286-vs-686.txt`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use emu_cpu::{Cpu, Exit, NullBus, SegReg};
use emu_mmu::Memory;
use serde::Deserialize;

/// RAM the suite assumes (24-bit 286 address space).
const RAM: usize = 16 << 20;
/// Instructions one test may run before it counts as hung (REP with CX = 65535, plus HLT).
const BUDGET: u64 = 1 << 20;
/// FLAGS bits a real-mode 286 cannot hold (IOPL, NT, bit 15).
const FLAGS_286: u32 = 0x0FFF;

#[derive(Deserialize)]
struct Test {
    #[serde(default)]
    idx: Option<u64>,
    name: String,
    bytes: Vec<u8>,
    initial: State,
    #[serde(rename = "final")]
    fin: State,
    #[serde(default)]
    exception: Option<Exception>,
    #[serde(default)]
    hash: String,
}

#[derive(Deserialize)]
struct State {
    regs: BTreeMap<String, u32>,
    #[serde(default)]
    ram: Vec<(u32, u8)>,
}

#[derive(Deserialize)]
struct Exception {
    number: u8,
}

/// Register names of the suite, in the order failures are reported.
const REGS: [&str; 14] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];

/// The outcome of a run over many files.
#[derive(Default, Debug, Clone)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// One line per failing test.
    pub failures: Vec<String>,
    /// Skips by rule.
    pub skips: BTreeMap<String, u64>,
}

impl Summary {
    fn merge(&mut self, o: Summary) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.failures.extend(o.failures);
        for (k, v) in o.skips {
            *self.skips.entry(k).or_default() += v;
        }
    }

    /// The closing line: `N passed, M failed, K skipped`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// Flag masks and revoked hashes for one suite directory.
#[derive(Default)]
struct Meta {
    /// File stem ("F6.4", "27") -> flags mask.
    masks: HashMap<String, u32>,
    revoked: HashSet<String>,
}

fn load_meta(dir: &Path) -> Result<Meta> {
    let mut meta = Meta::default();
    let mpath = [
        dir.join("metadata.json"),
        default_suite().join("metadata.json"),
    ]
    .into_iter()
    .find(|p| p.is_file());
    if let Some(mpath) = mpath {
        let text = std::fs::read_to_string(&mpath)
            .with_context(|| format!("{}: cannot read", mpath.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow!("{}: not valid JSON: {e}", mpath.display()))?;
        let ops = v
            .get("opcodes")
            .and_then(|o| o.as_object())
            .ok_or_else(|| anyhow!("{}: no \"opcodes\" object", mpath.display()))?;
        for (op, entry) in ops {
            if let Some(m) = entry.get("flags-mask").and_then(|m| m.as_u64()) {
                meta.masks.insert(op.to_uppercase(), m as u32);
            }
            if let Some(regs) = entry.get("reg").and_then(|r| r.as_object()) {
                for (r, e) in regs {
                    if let Some(m) = e.get("flags-mask").and_then(|m| m.as_u64()) {
                        meta.masks
                            .insert(format!("{}.{}", op.to_uppercase(), r), m as u32);
                    }
                }
            }
        }
    }
    let rpath = dir.join("revocation_list.txt");
    if let Ok(text) = std::fs::read_to_string(&rpath) {
        for line in text.lines() {
            let l = line.trim();
            if !l.is_empty() && !l.starts_with('#') {
                meta.revoked.insert(l.to_lowercase());
            }
        }
    }
    Ok(meta)
}

/// The vendored suite of this source tree (for metadata when a held-out set lacks it).
pub fn default_suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sst-80286")
}

/// The accepted 286-versus-686 rules, from `testdata/sst-286-vs-686.txt`.
fn load_rules() -> HashSet<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/sst-286-vs-686.txt");
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Expands directories into their `*.json.gz` files (sorted) and checks files exist.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let md = std::fs::metadata(p).with_context(|| format!("{}", p.display()))?;
        if md.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("{}: cannot list", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.to_string_lossy().ends_with(".json.gz"))
                .collect();
            v.sort();
            if v.is_empty() {
                bail!("{}: no .json.gz test files in this directory", p.display());
            }
            out.extend(v);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn read_tests(path: &Path) -> Result<Vec<Test>> {
    let f = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(BufReader::new(f))
        .read_to_string(&mut text)
        .map_err(|e| anyhow!("{}: not a gzip file of UTF-8 JSON ({e})", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{}: not a JSON array of single-step tests ({e})",
            path.display()
        )
    })
}

/// The file stem used as the metadata key: "F6.4.json.gz" -> "F6.4".
fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    name.trim_end_matches(".json.gz").to_uppercase()
}

/// Runs every test in `paths` (files or directories) and returns the summary. Files are
/// spread over the host's cores.
pub fn run_paths(paths: &[PathBuf]) -> Result<Summary> {
    let files = collect(paths)?;
    // Parse everything up front so bad input fails fast with its file name.
    let rules = load_rules();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<Vec<(usize, Summary)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<Vec<(usize, Summary)>> {
                    let mut runner = Runner::new()?;
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(f) = files.get(i) else { break };
                        out.push((i, runner.run_file(f, &rules)?));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a test worker panicked")))
            })
            .collect()
    });
    let mut per_file = Vec::new();
    for r in results {
        per_file.extend(r?);
    }
    per_file.sort_by_key(|(i, _)| *i);
    let mut total = Summary::default();
    for (_, s) in per_file {
        total.merge(s);
    }
    Ok(total)
}

struct Runner {
    cpu: Cpu<NullBus>,
    /// The vector of the exception the instruction under test raised, if any.
    first_exception: Option<u8>,
    metas: HashMap<PathBuf, Meta>,
}

impl Runner {
    fn new() -> Result<Runner> {
        let mem = Memory::new(RAM)?;
        Ok(Runner {
            cpu: Cpu::new(mem, NullBus),
            first_exception: None,
            metas: HashMap::new(),
        })
    }

    fn run_file(&mut self, path: &Path, rules: &HashSet<String>) -> Result<Summary> {
        let tests = read_tests(path)?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if !self.metas.contains_key(&dir) {
            let m = load_meta(&dir)?;
            self.metas.insert(dir.clone(), m);
        }
        let key = stem(path);
        let (mask, revoked) = {
            let m = &self.metas[&dir];
            let base = key.split('.').next().unwrap_or("").to_string();
            let mask = m.masks.get(&key).or_else(|| m.masks.get(&base)).copied();
            (mask.unwrap_or(0xFFFF), m.revoked.clone())
        };
        let fname = path.display().to_string();
        let mut s = Summary::default();
        for t in &tests {
            if revoked.contains(&t.hash.to_lowercase()) {
                continue;
            }
            if let Some(rule) = skip_rule(t, rules) {
                s.skipped += 1;
                *s.skips.entry(rule.to_string()).or_default() += 1;
                continue;
            }
            let result = self.run_test(t, mask);
            let ours = self.first_exception;
            let theirs = t.exception.as_ref().map(|e| e.number);
            if let Some(rule) = result
                .is_err()
                .then(|| skip_after_run(t, ours, theirs, rules))
                .flatten()
            {
                s.skipped += 1;
                *s.skips.entry(rule.to_string()).or_default() += 1;
                continue;
            }
            match result {
                Ok(()) => s.passed += 1,
                Err(why) => {
                    s.failed += 1;
                    s.failures.push(format!(
                        "FAIL {fname} #{} \"{}\" [{}]: {why}",
                        t.idx.unwrap_or(0),
                        t.name,
                        hex(&t.bytes)
                    ));
                }
            }
        }
        Ok(s)
    }

    fn run_test(&mut self, t: &Test, flags_mask: u32) -> std::result::Result<(), String> {
        let cpu = &mut self.cpu;
        let reg = |st: &State, n: &str| st.regs.get(n).copied();
        let init = |n: &str| reg(&t.initial, n).ok_or_else(|| format!("initial state lacks {n}"));
        cpu.reset();
        cpu.idtr.limit = 0x3FF;
        for (i, n) in ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]
            .iter()
            .enumerate()
        {
            cpu.r[i] = init(n)? & 0xFFFF;
        }
        cpu.flags.set(init("flags")? & FLAGS_286);
        for (s, n) in [
            (SegReg::Es, "es"),
            (SegReg::Ss, "ss"),
            (SegReg::Ds, "ds"),
            (SegReg::Fs, "fs"),
            (SegReg::Gs, "gs"),
        ] {
            cpu.load_seg_real(s, reg(&t.initial, n).unwrap_or(0) as u16);
        }
        cpu.set_real_mode(init("cs")? as u16, init("ip")? as u16);
        for &(a, v) in &t.initial.ram {
            cpu.mem.write_u8(a, v);
        }
        cpu.mem.watch_all_pages();

        let mut why = Vec::new();
        // The instruction under test alone first, so its own exception is known.
        let start = cpu.icount;
        cpu.step();
        self.first_exception = cpu.last_exception.map(|e| e.vector());
        while !cpu.halted && !cpu.shutdown && cpu.icount - start < BUDGET {
            if cpu.run(BUDGET) == Exit::Shutdown {
                break;
            }
        }
        if cpu.shutdown {
            why.push("CPU shut down (triple fault)".to_string());
        } else if !cpu.halted {
            why.push("did not reach HLT".to_string());
        }

        let got = |n: &str, cpu: &Cpu<NullBus>| -> u32 {
            match n {
                "ax" => cpu.r[0] & 0xFFFF,
                "cx" => cpu.r[1] & 0xFFFF,
                "dx" => cpu.r[2] & 0xFFFF,
                "bx" => cpu.r[3] & 0xFFFF,
                "sp" => cpu.r[4] & 0xFFFF,
                "bp" => cpu.r[5] & 0xFFFF,
                "si" => cpu.r[6] & 0xFFFF,
                "di" => cpu.r[7] & 0xFFFF,
                "cs" => cpu.seg[SegReg::Cs as usize].sel as u32,
                "ss" => cpu.seg[SegReg::Ss as usize].sel as u32,
                "ds" => cpu.seg[SegReg::Ds as usize].sel as u32,
                "es" => cpu.seg[SegReg::Es as usize].sel as u32,
                "ip" => cpu.eip & 0xFFFF,
                _ => cpu.flags.get() & 0xFFFF,
            }
        };
        for n in REGS {
            let Some(exp) = reg(&t.fin, n).or_else(|| reg(&t.initial, n)) else {
                continue;
            };
            let (mut e, mut g) = (exp & 0xFFFF, got(n, cpu));
            if n == "flags" {
                let m = flags_mask & FLAGS_286;
                e &= m;
                g &= m;
            }
            if e != g {
                why.push(format!("{n} expected {e:#06x} got {g:#06x}"));
            }
        }
        let mut listed = HashSet::new();
        // The FLAGS image an exception pushed lies at SS:SP+4 of the final state (the suite's
        // `flag_address` is rounded down to even for an odd SP, so it is derived here).
        let fa = t.exception.as_ref().map(|_| {
            let fin = |n: &str| reg(&t.fin, n).or_else(|| reg(&t.initial, n)).unwrap_or(0);
            (fin("ss") << 4).wrapping_add((fin("sp") + 4) & 0xFFFF)
        });
        for &(a, v) in &t.fin.ram {
            listed.insert(a);
            let mut g = cpu.mem.read_u8(a);
            let mut v = v;
            if let Some(fa) = fa {
                if a == fa || a == fa.wrapping_add(1) {
                    // Bytes at SS:FFFF+1 wrap within the segment; close enough for masking.
                    let m = ((flags_mask & FLAGS_286) >> (8 * (a - fa))) as u8;
                    g &= m;
                    v &= m;
                }
            }
            if g != v {
                why.push(format!("mem[{a:#07x}] expected {v:#04x} got {g:#04x}"));
            }
        }
        // Writes the reference did not make: any non-zero byte in a written page that the
        // test does not list. Then clear what this test touched for the next one.
        for page in cpu.mem.written_pages() {
            let base = (page << 12) as u32;
            for a in base..base + 4096 {
                if cpu.mem.read_u8(a) != 0 {
                    if !listed.contains(&a) && !t.initial.ram.iter().any(|&(x, _)| x == a) {
                        why.push(format!("stray write mem[{a:#07x}]"));
                    }
                    cpu.mem.write_u8(a, 0);
                }
            }
        }
        for &(a, _) in t.initial.ram.iter().chain(t.fin.ram.iter()) {
            cpu.mem.write_u8(a, 0);
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join(", "))
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Which documented 286-versus-686 rule, if any, excludes this test.
fn skip_rule(t: &Test, rules: &HashSet<String>) -> Option<&'static str> {
    if rules.contains("lock-ud") && lock_ud_on_686(t) {
        return Some("lock-ud");
    }
    if rules.contains("string-wrap-fault") && string_wrap_fault(t) {
        return Some("string-wrap-fault");
    }
    let mut d = iced_x86::Decoder::new(16, &t.bytes, iced_x86::DecoderOptions::NO_INVALID_CHECK);
    let ins = d.decode();
    if rules.contains("insn-length") && length_286(&code_bytes(t)) > 10 && t.exception.is_some() {
        return Some("insn-length");
    }
    if rules.contains("fs-gs") && names_fs_gs(&ins) {
        return Some("fs-gs");
    }
    if rules.contains("pop-mem-fault")
        && ins.mnemonic() == iced_x86::Mnemonic::Pop
        && ins.op_kind(0) == iced_x86::OpKind::Memory
        && t.exception.is_some()
    {
        return Some("pop-mem-fault");
    }
    None
}

/// Rules that need emu's own outcome: `ours` and `theirs` are the exception vectors raised by
/// the instruction under test in emu and on the 286.
fn skip_after_run(
    t: &Test,
    ours: Option<u8>,
    theirs: Option<u8>,
    rules: &HashSet<String>,
) -> Option<&'static str> {
    let mut d = iced_x86::Decoder::new(16, &t.bytes, iced_x86::DecoderOptions::NO_INVALID_CHECK);
    let ins = d.decode();
    if rules.contains("ss-limit-gp") && theirs == Some(13) && ours == Some(12) {
        return Some("ss-limit-gp");
    }
    if rules.contains("idiv-overflow")
        && ins.mnemonic() == iced_x86::Mnemonic::Idiv
        && ours == Some(0)
        && theirs.is_none()
    {
        return Some("idiv-overflow");
    }
    if rules.contains("aam-zero-flags")
        && ins.mnemonic() == iced_x86::Mnemonic::Aam
        && ins.immediate8() == 0
        && ours == Some(0)
        && theirs == Some(0)
    {
        return Some("aam-zero-flags");
    }
    None
}

/// Up to 15 bytes at the initial CS:IP, from the test's initial RAM (the `bytes` field stops
/// where the reference's disassembler did).
fn code_bytes(t: &Test) -> Vec<u8> {
    let r = |n: &str| t.initial.regs.get(n).copied().unwrap_or(0);
    let ram: HashMap<u32, u8> = t.initial.ram.iter().copied().collect();
    let mut out = Vec::new();
    for i in 0..15 {
        let a = (r("cs") << 4).wrapping_add((r("ip") + i) & 0xFFFF);
        match ram.get(&a) {
            Some(&b) => out.push(b),
            None => break,
        }
    }
    if out.len() < t.bytes.len() {
        t.bytes.clone()
    } else {
        out
    }
}

/// Instruction length as the 286 counts it: the undefined C6/C7/8F forms decode like /0.
fn length_286(bytes: &[u8]) -> usize {
    let dec = |b: &[u8]| {
        iced_x86::Decoder::new(16, b, iced_x86::DecoderOptions::NO_INVALID_CHECK)
            .decode()
            .len()
    };
    let prefixes = bytes
        .iter()
        .take_while(|b| matches!(b, 0x26 | 0x2E | 0x36 | 0x3E | 0xF0 | 0xF2 | 0xF3))
        .count();
    match bytes.get(prefixes) {
        Some(0xC6 | 0xC7 | 0x8F) if prefixes + 1 < bytes.len() => {
            let mut b = bytes.to_vec();
            b[prefixes + 1] &= !0x38;
            dec(&b)
        }
        _ => dec(bytes),
    }
}

/// MOV to or from FS/GS (8C/8E with reg 4 or 5).
fn names_fs_gs(ins: &iced_x86::Instruction) -> bool {
    use iced_x86::{OpKind, Register};
    (0..ins.op_count()).any(|i| {
        ins.op_kind(i) == OpKind::Register
            && matches!(ins.op_register(i), Register::FS | Register::GS)
    })
}

/// A word string instruction that faults with #GP, which for these forms is the segment wrap
/// of SI or DI at FFFFh (reached at the start or part-way through a repeat):
/// the 286 has already stepped SI/DI (and CX) when it raises #GP; a 686 faults with every
/// register unchanged, so the instruction can restart.
fn string_wrap_fault(t: &Test) -> bool {
    use iced_x86::Mnemonic as M;
    let mut d = iced_x86::Decoder::new(16, &t.bytes, iced_x86::DecoderOptions::NO_INVALID_CHECK);
    let ins = d.decode();
    let word_string = matches!(
        ins.mnemonic(),
        M::Movsw | M::Cmpsw | M::Lodsw | M::Outsw | M::Stosw | M::Scasw | M::Insw
    );
    word_string && t.exception.as_ref().map(|e| e.number) == Some(13)
}

/// LOCK on a non-lockable form: #UD on a 686, executed (prefix ignored) by the 286.
fn lock_ud_on_686(t: &Test) -> bool {
    let mut d = iced_x86::Decoder::new(16, &t.bytes, iced_x86::DecoderOptions::NO_INVALID_CHECK);
    let ins = d.decode();
    if !ins.has_lock_prefix() || ins.is_invalid() {
        return false;
    }
    let ud_recorded = t.exception.as_ref().map(|e| e.number) == Some(6);
    !emu_cpu::decode::lock_allowed(&ins) && !ud_recorded
}
