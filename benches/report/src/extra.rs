//! The optional inputs besides criterion: boot times (`scripts/bench-boot.sh` writes
//! `target/bench/boot.json`), the guest benchmark (`target/bench/guest.json`) and the idle
//! cost and memory (`scripts/idle-cost.sh` writes `target/bench/idle.json`).

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
}

/// One row of the guest benchmark; any of the three values may be missing.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct GuestRow {
    pub name: String,
    /// "ns", "us" (times: lower is better) or "MIPS" (a rate: higher is better).
    pub unit: String,
    pub native: Option<f64>,
    pub emu: Option<f64>,
    pub qemu: Option<f64>,
}

impl Boot {
    /// Every stage either side saw, in boot order, with each side's median time.
    pub fn stages(&self) -> Vec<(String, Option<f64>, Option<f64>)> {
        let empty = Vec::new();
        let qemu = self.qemu.as_ref().map_or(&empty, |q| &q.stages_s);
        let find = |v: &[(String, f64)], n: &str| v.iter().find(|(m, _)| m == n).map(|s| s.1);
        let mut names: Vec<(&str, f64)> = Vec::new();
        for (n, t) in self.emu.stages_s.iter().chain(qemu) {
            if !names.iter().any(|(m, _)| m == n) {
                names.push((n, *t));
            }
        }
        // Boot order: by the earlier of the two times a stage was reached.
        names.sort_by(|a, b| a.1.total_cmp(&b.1));
        names
            .into_iter()
            .map(|(n, _)| (n.to_string(), find(&self.emu.stages_s, n), find(qemu, n)))
            .collect()
    }
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
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Guest {
    pub rows: Vec<GuestRow>,
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
        assert!(b.stages().is_empty());
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
        let names: Vec<_> = b.stages().into_iter().map(|s| s.0).collect();
        assert_eq!(names, ["SeaBIOS", "Linux version", "OK"]);
        assert_eq!(b.stages()[0], ("SeaBIOS".to_string(), None, Some(0.1)));
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
    fn missing_file_is_none() {
        let r: Option<Guest> = load(Path::new("/nonexistent/guest.json")).unwrap();
        assert!(r.is_none());
    }
}
