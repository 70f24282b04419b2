//! Reading criterion's saved results: every `<dir>/**/new/benchmark.json` (ids and throughput)
//! with the `estimates.json` beside it (the median is the statistic reported).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::Deserialize;

/// What one iteration of a benchmark does, as configured with `Throughput`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
pub enum Throughput {
    Elements(u64),
    Bytes(u64),
}

/// One benchmark's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    pub group: String,
    pub function: String,
    pub value: Option<String>,
    pub throughput: Option<Throughput>,
    /// Median time of one iteration, ns.
    pub median_ns: f64,
}

impl Bench {
    /// Time per element (per event, per instruction), ns; an iteration without a throughput
    /// counts as one element.
    pub fn ns_per_element(&self) -> f64 {
        match self.throughput {
            Some(Throughput::Elements(n)) if n > 0 => self.median_ns / n as f64,
            _ => self.median_ns,
        }
    }

    /// The rate and its unit: millions of elements per second (guest MIPS), or MiB/s.
    pub fn rate(&self) -> Option<(f64, &'static str)> {
        match self.throughput? {
            Throughput::Elements(n) => Some((n as f64 / self.median_ns * 1e3, "MIPS")),
            Throughput::Bytes(n) => Some((n as f64 / self.median_ns * 1e9 / 1048576.0, "MiB/s")),
        }
    }
}

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct EstimatesJson {
    median: Estimate,
}

/// Parses one benchmark from the text of its `benchmark.json` and `estimates.json`.
pub fn parse(benchmark: &str, estimates: &str) -> Result<Bench> {
    let b: BenchmarkJson = serde_json::from_str(benchmark).context("benchmark.json")?;
    let e: EstimatesJson = serde_json::from_str(estimates).context("estimates.json")?;
    Ok(Bench {
        group: b.group_id,
        function: b.function_id.unwrap_or_default(),
        value: b.value_str,
        throughput: b.throughput,
        median_ns: e.median.point_estimate,
    })
}

/// Every benchmark under `dir`, in the order they were run (criterion writes a benchmark's
/// files when it finishes it). A missing directory gives none.
pub fn load(dir: &Path) -> Result<Vec<Bench>> {
    let mut found = Vec::new();
    collect(dir, &mut found)?;
    found.sort();
    let mut out = Vec::new();
    for (_, new) in found {
        let read = |name: &str| {
            let p = new.join(name);
            std::fs::read_to_string(&p).with_context(|| p.display().to_string())
        };
        let bench = parse(&read("benchmark.json")?, &read("estimates.json")?)
            .with_context(|| new.display().to_string())?;
        out.push(bench);
    }
    Ok(out)
}

/// Finds the `new/` result directories below `dir`, with the time of their benchmark.json.
fn collect(dir: &Path, out: &mut Vec<(SystemTime, PathBuf)>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| dir.display().to_string()),
    };
    for entry in entries {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        let json = path.join("benchmark.json");
        if path.file_name() == Some("new".as_ref()) && json.is_file() {
            out.push((std::fs::metadata(&json)?.modified()?, path));
        } else if path.file_name() != Some("report".as_ref()) {
            collect(&path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EST: &str = r#"{"mean":{"point_estimate":5.0},"median":{"point_estimate":2000000.0}}"#;

    #[test]
    fn parses_ids_throughput_and_median() {
        let b = parse(
            r#"{"group_id":"real_mode","function_id":"alu_loop","value_str":"cache_on",
                "throughput":{"Elements":1000000},"full_id":"x","directory_name":"x"}"#,
            EST,
        )
        .unwrap();
        assert_eq!(b.group, "real_mode");
        assert_eq!(b.function, "alu_loop");
        assert_eq!(b.value.as_deref(), Some("cache_on"));
        assert_eq!(b.throughput, Some(Throughput::Elements(1_000_000)));
        assert_eq!(b.median_ns, 2e6);
        // 1M instructions in 2 ms: 500 MIPS, 2 ns each.
        assert_eq!(b.rate(), Some((500.0, "MIPS")));
        assert_eq!(b.ns_per_element(), 2.0);
    }

    #[test]
    fn bytes_rate_and_missing_fields() {
        let b = parse(
            r#"{"group_id":"g","function_id":null,"value_str":null,"throughput":{"Bytes":1048576}}"#,
            EST,
        )
        .unwrap();
        assert_eq!(b.function, "");
        assert_eq!(b.rate(), Some((500.0, "MiB/s")));
        let none = parse(r#"{"group_id":"g","throughput":null}"#, EST).unwrap();
        assert_eq!(none.rate(), None);
        assert_eq!(none.ns_per_element(), 2e6);
    }

    #[test]
    fn bad_json_is_an_error() {
        assert!(parse("{", EST).is_err());
        assert!(parse(r#"{"group_id":"g"}"#, "{}").is_err());
    }
}
