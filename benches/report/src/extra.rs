//! The optional inputs besides criterion: boot times (`scripts/bench-boot.sh` writes
//! `target/bench/boot.json`), the guest benchmark (`target/bench/guest.json`), the idle
//! cost and memory (`scripts/idle-cost.sh` writes `target/bench/idle.json`) and Bochs on the
//! same guest and benchmark (`scripts/bochs-bench.sh` writes `target/bench/bochs.json`).

use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// Boot times of one emulator.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BootSide {
    pub cmd: String,
    /// Seconds to the marker, one per run (runs that never showed it are left out).
    pub runs_s: Vec<f64>,
    pub median_s: Option<f64>,
    /// Median seconds to each boot stage seen in every run (kernel banner, `/init`, ...), in
    /// boot order.
    #[serde(default)]
    pub stages_s: Vec<(String, f64)>,
}

/// Seconds from start to the boot marker, emu and QEMU.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Boot {
    pub marker: String,
    pub emu: BootSide,
    pub qemu: Option<BootSide>,
    /// Why something is missing (for example QEMU not installed).
    #[serde(default)]
    pub note: Option<String>,
    /// Where one boot of each spends its time, from the kernel's log.
    #[serde(default)]
    pub breakdown: Option<Breakdown>,
}

/// One boot each with the kernel's messages on the console (`scripts/bench-boot.sh`): rows of
/// (the console line a stage ends at, emu seconds, QEMU seconds). The first row is host
/// seconds from start to the kernel's banner, the last host seconds to the boot marker; the
/// rows between are kernel-timestamp seconds from the previous row's line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Breakdown {
    pub append: String,
    pub emu_cmd: String,
    pub qemu_cmd: Option<String>,
    pub rows: Vec<(String, Option<f64>, Option<f64>)>,
}

/// One row of the guest benchmark; any of the values may be missing.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct GuestRow {
    pub name: String,
    /// "ns", "us" (times: lower is better) or "MIPS" (a rate: higher is better).
    pub unit: String,
    pub native: Option<f64>,
    pub emu: Option<f64>,
    pub qemu: Option<f64>,
    /// From `bochs.json` (not in `guest.json`): see [`Guest::with_bochs`].
    #[serde(default)]
    pub bochs: Option<f64>,
}

/// Every stage any of `sides` saw, in boot order (by the earliest time a side reached it),
/// with each side's median time, in the order of `sides`.
pub fn stages(sides: &[Option<&BootSide>]) -> Vec<(String, Vec<Option<f64>>)> {
    let find = |v: &[(String, f64)], n: &str| v.iter().find(|(m, _)| m == n).map(|s| s.1);
    let mut names: Vec<(&str, f64)> = Vec::new();
    for (n, t) in sides.iter().flatten().flat_map(|s| &s.stages_s) {
        match names.iter_mut().find(|(m, _)| m == n) {
            Some(m) => m.1 = m.1.min(*t),
            None => names.push((n, *t)),
        }
    }
    names.sort_by(|a, b| a.1.total_cmp(&b.1));
    names
        .into_iter()
        .map(|(n, _)| {
            let times = sides.iter().map(|s| s.and_then(|s| find(&s.stages_s, n)));
            (n.to_string(), times.collect())
        })
        .collect()
}

impl GuestRow {
    /// How many times slower `slow` is than `fast`, whatever the unit's direction.
    pub fn slowdown(&self, slow: Option<f64>, fast: Option<f64>) -> Option<f64> {
        let (s, f) = (slow?, fast?);
        if self.unit.eq_ignore_ascii_case("mips") {
            Some(f / s)
        } else {
            Some(s / f)
        }
    }

    /// How many times faster emu is than Bochs on this row.
    pub fn emu_vs_bochs(&self) -> Option<f64> {
        self.slowdown(self.bochs, self.emu)
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Guest {
    /// Runs per emulator whose median each figure is (absent in files from before medians).
    #[serde(default)]
    pub runs: Option<u32>,
    pub rows: Vec<GuestRow>,
}

impl Guest {
    /// The guest benchmark with Bochs's figures in it, matched by row name (both scripts
    /// name the rows alike); a row only Bochs has is added. None when neither has rows.
    pub fn with_bochs(guest: Option<Guest>, bochs: Option<&Bochs>) -> Option<Guest> {
        let brows = bochs
            .and_then(|b| b.bench.as_ref())
            .map_or(&[][..], |b| &b.rows[..]);
        let mut g = guest.unwrap_or(Guest {
            runs: None,
            rows: Vec::new(),
        });
        for b in brows {
            match g.rows.iter_mut().find(|r| r.name == b.name) {
                Some(r) => r.bochs = b.bochs,
                None => g.rows.push(GuestRow {
                    name: b.name.clone(),
                    unit: b.unit.clone(),
                    native: None,
                    emu: None,
                    qemu: None,
                    bochs: b.bochs,
                }),
            }
        }
        (!g.rows.is_empty()).then_some(g)
    }

    pub fn has_bochs(&self) -> bool {
        self.rows.iter().any(|r| r.bochs.is_some())
    }
}

/// Bochs on the same guest and benchmark (`scripts/bochs-bench.sh`); either part may be
/// missing.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Bochs {
    #[serde(default)]
    pub boot: Option<BootSide>,
    #[serde(default)]
    pub bench: Option<BochsBench>,
    /// The Bochs settings behind the figures (clock sync, ips, CPU model, ...).
    #[serde(default)]
    pub config: Option<String>,
}

impl Bochs {
    /// The goal: emu at least this many times faster than Bochs on every row.
    pub const GOAL: f64 = 3.0;
}

/// The guest benchmark in Bochs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BochsBench {
    pub cmd: String,
    /// The iteration-count multiplier it ran with.
    pub scale: f64,
    /// Runs whose median each row is (absent in files from before medians).
    #[serde(default)]
    pub runs: Option<u32>,
    pub rows: Vec<BochsRow>,
}

/// One row of the guest benchmark in Bochs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct BochsRow {
    /// As in [`GuestRow`], so the two can be matched.
    pub name: String,
    pub unit: String,
    /// Timed on the host from the row's console lines: Bochs's guest clock counts
    /// instructions, not time (see `scripts/bochs-bench.sh`).
    pub bochs: Option<f64>,
}

/// What one emulator costs while the guest idles at its shell prompt.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct IdleSide {
    pub cmd: String,
    /// CPU time (user + system, all threads) over the window, as a share of one host core.
    pub cpu_percent: f64,
    /// Peak resident memory since the process started (`VmHWM`), KiB.
    pub vmhwm_kib: u64,
}

/// Idle cost and peak memory, emu and QEMU measured at the same time.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Idle {
    /// Length of the measurement window.
    pub seconds: f64,
    pub emu: IdleSide,
    pub qemu: Option<IdleSide>,
    pub guest_ram_mib: u64,
    /// Why something is missing or different (for example QEMU not installed).
    #[serde(default)]
    pub note: Option<String>,
}

impl Idle {
    /// emu's budget for resident memory: guest RAM plus 64 MiB of its own.
    pub const OVERHEAD_MIB: u64 = 64;

    pub fn limit_mib(&self) -> u64 {
        self.guest_ram_mib + Self::OVERHEAD_MIB
    }
}

impl IdleSide {
    pub fn vmhwm_mib(&self) -> f64 {
        self.vmhwm_kib as f64 / 1024.0
    }
}

/// Reads `path` if it exists.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            serde_json::from_str(&text).with_context(|| path.display().to_string())?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| path.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_rows_with_missing_values() {
        let g: Guest = serde_json::from_str(
            r#"{"rows":[{"name":"getppid via int 0x80","unit":"ns","native":494.0,"emu":1234.0,"qemu":1477.0},
                        {"name":"loop","unit":"MIPS","emu":50.0,"native":5000.0}]}"#,
        )
        .unwrap();
        assert_eq!(
            g.rows[0].slowdown(g.rows[0].emu, g.rows[0].native),
            Some(1234.0 / 494.0)
        );
        assert_eq!(g.rows[1].qemu, None);
        // A rate: 100 times fewer instructions per second is 100 times slower.
        assert_eq!(
            g.rows[1].slowdown(g.rows[1].emu, g.rows[1].native),
            Some(100.0)
        );
        assert_eq!(g.rows[1].slowdown(g.rows[1].emu, g.rows[1].qemu), None);
    }

    #[test]
    fn boot_without_qemu() {
        let b: Boot = serde_json::from_str(
            r#"{"marker":"EMU-BOOT-OK","emu":{"cmd":"emu run","runs_s":[9.5,9.0,9.9],"median_s":9.5},
                "qemu":null,"note":"qemu-system-i386 not found"}"#,
        )
        .unwrap();
        assert_eq!(b.emu.median_s, Some(9.5));
        assert!(b.qemu.is_none());
        assert!(stages(&[Some(&b.emu), None]).is_empty());
    }

    #[test]
    fn boot_breakdown_as_bench_boot_writes_it() {
        let b: Boot = serde_json::from_str(
            r#"{"marker":"OK","emu":{"cmd":"e","runs_s":[9.0],"median_s":9.0},"qemu":null,
                "breakdown":{"append":"console=ttyS0,115200","emu_cmd":"e --kernel k",
                  "qemu_cmd":null,"rows":[["`Linux version`",6.3,null],
                  ["`evm: HMAC attrs`",2.8,null],["EMU-BOOT-OK",16.1,null]]}}"#,
        )
        .unwrap();
        let d = b.breakdown.unwrap();
        assert_eq!(d.rows.len(), 3);
        assert_eq!(
            d.rows[1],
            ("`evm: HMAC attrs`".to_string(), Some(2.8), None)
        );
        assert!(d.qemu_cmd.is_none());
    }

    #[test]
    fn boot_stages_in_order_from_both_sides() {
        let b: Boot = serde_json::from_str(
            r#"{"marker":"OK","emu":{"cmd":"e","runs_s":[9.0],"median_s":9.0,
                  "stages_s":[["Linux version",4.0],["OK",9.0]]},
                "qemu":{"cmd":"q","runs_s":[2.0],"median_s":2.0,
                  "stages_s":[["SeaBIOS",0.1],["Linux version",1.0],["OK",2.0]]}}"#,
        )
        .unwrap();
        let st = stages(&[Some(&b.emu), b.qemu.as_ref()]);
        let names: Vec<_> = st.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(names, ["SeaBIOS", "Linux version", "OK"]);
        assert_eq!(st[0], ("SeaBIOS".to_string(), vec![None, Some(0.1)]));
    }

    #[test]
    fn idle_as_idle_cost_writes_it() {
        let i: Idle = serde_json::from_str(
            r#"{"seconds":60,"emu":{"cmd":"emu run","cpu_percent":1.7,"vmhwm_kib":65536,"vmrss_kib":60000},
                "qemu":null,"guest_ram_mib":128,"note":"qemu-system-i386 not found"}"#,
        )
        .unwrap();
        assert_eq!(i.emu.vmhwm_mib(), 64.0);
        assert_eq!(i.limit_mib(), 192);
        assert!(i.qemu.is_none());
    }

    #[test]
    fn bochs_as_bochs_bench_writes_it_merges_into_the_guest_rows() {
        let b: Bochs = serde_json::from_str(
            r#"{"bench":{"cmd":"bochs -q -f bench.bxrc","scale":1.0,"clocksource":"hpet","rows":[
                  {"key":"getppid_int80","name":"getppid via int 0x80","unit":"ns","bochs":5618.2,
                   "bochs_guest_clock":3580.8,"host_s":0.562,"guest_s":0.358081},
                  {"key":"int_loop","name":"integer loop, guest MIPS","unit":"MIPS","bochs":125.7,
                   "bochs_guest_clock":98.8,"host_s":0.509,"guest_s":0.647488},
                  {"key":"new_row","name":"a row guest.json lacks","unit":"us","bochs":7.0}]},
                "boot":{"cmd":"bochs -q -f boot.bxrc","runs_s":[66.0],"median_s":66.0,
                  "stages_s":[["Linux version",23.1],["EMU-BOOT-OK",66.0]]},
                "config":"clock: sync=realtime; cpu: model=p2_klamath, ips=100000000"}"#,
        )
        .unwrap();
        assert_eq!(b.boot.as_ref().unwrap().median_s, Some(66.0));
        let guest: Guest = serde_json::from_str(
            r#"{"rows":[{"name":"getppid via int 0x80","unit":"ns","native":494.0,"emu":2468.0,"qemu":956.0},
                        {"name":"integer loop, guest MIPS","unit":"MIPS","native":4875.0,"emu":415.0}]}"#,
        )
        .unwrap();
        assert!(!guest.has_bochs());
        let g = Guest::with_bochs(Some(guest.clone()), Some(&b)).unwrap();
        assert!(g.has_bochs());
        assert_eq!(g.rows.len(), 3);
        assert_eq!(g.rows[0].bochs, Some(5618.2));
        assert_eq!(g.rows[0].qemu, Some(956.0));
        // Times: Bochs's over emu's; rates: emu's over Bochs's.
        assert_eq!(g.rows[0].emu_vs_bochs(), Some(5618.2 / 2468.0));
        assert_eq!(g.rows[1].emu_vs_bochs(), Some(415.0 / 125.7));
        assert_eq!(g.rows[2].name, "a row guest.json lacks");
        assert_eq!(
            (g.rows[2].bochs, g.rows[2].emu_vs_bochs()),
            (Some(7.0), None)
        );
        // Without Bochs the guest rows are as they were; with neither there is nothing.
        assert_eq!(Guest::with_bochs(Some(guest.clone()), None), Some(guest));
        assert_eq!(Guest::with_bochs(None, None), None);
        // Bochs alone still makes a table.
        assert_eq!(Guest::with_bochs(None, Some(&b)).unwrap().rows.len(), 3);
        // A part bochs-bench.sh has not run is missing.
        let boot_only: Bochs =
            serde_json::from_str(r#"{"boot":{"cmd":"b","runs_s":[],"median_s":null}}"#).unwrap();
        assert!(boot_only.bench.is_none() && boot_only.config.is_none());
        assert_eq!(Guest::with_bochs(None, Some(&boot_only)), None);
    }

    #[test]
    fn missing_file_is_none() {
        let r: Option<Guest> = load(Path::new("/nonexistent/guest.json")).unwrap();
        assert!(r.is_none());
    }
}
