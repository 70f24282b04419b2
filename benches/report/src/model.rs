//! The report's rows, from criterion's benchmarks by the naming the benches use:
//!
//! - throughput (`benches/cpu.rs`): group = mode, function = workload, value = `cache_on` or
//!   `cache_off`;
//! - events (`benches/events.rs`): group = event, function `emu` for the guest event and one
//!   function named `native...` for the host analogue.

use crate::criterion::Bench;

/// One workload in one mode.
#[derive(Clone, Debug, PartialEq)]
pub struct ThroughputRow {
    pub mode: String,
    pub workload: String,
    /// "MIPS" or "MiB/s".
    pub unit: &'static str,
    pub cache_on: Option<f64>,
    pub cache_off: Option<f64>,
}

/// One event with its native analogue.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub event: String,
    pub emu_ns: f64,
    /// The analogue's name without the `native: ` prefix, and its time.
    pub native: Option<(String, f64)>,
}

impl EventRow {
    /// Emulated / native time.
    pub fn ratio(&self) -> Option<f64> {
        self.native.as_ref().map(|(_, ns)| self.emu_ns / ns)
    }
}

/// Throughput rows in the order the benchmarks ran.
pub fn throughput_rows(benches: &[Bench]) -> Vec<ThroughputRow> {
    let mut rows: Vec<ThroughputRow> = Vec::new();
    for b in benches {
        let cache = match b.value.as_deref() {
            Some("cache_on") => true,
            Some("cache_off") => false,
            _ => continue,
        };
        let Some((rate, unit)) = b.rate() else {
            continue;
        };
        let i = match rows
            .iter()
            .position(|r| r.mode == b.group && r.workload == b.function)
        {
            Some(i) => i,
            None => {
                rows.push(ThroughputRow {
                    mode: b.group.clone(),
                    workload: b.function.clone(),
                    unit,
                    cache_on: None,
                    cache_off: None,
                });
                rows.len() - 1
            }
        };
        if cache {
            rows[i].cache_on = Some(rate);
        } else {
            rows[i].cache_off = Some(rate);
        }
    }
    rows
}

/// Event rows in the order the events ran.
pub fn event_rows(benches: &[Bench]) -> Vec<EventRow> {
    benches
        .iter()
        .filter(|b| b.function == "emu")
        .map(|emu| {
            let native = benches
                .iter()
                .find(|b| b.group == emu.group && b.function.starts_with("native"))
                .map(|b| {
                    let name = b
                        .function
                        .trim_start_matches("native")
                        .trim_start_matches(':');
                    (name.trim().to_string(), b.ns_per_element())
                });
            EventRow {
                event: emu.group.clone(),
                emu_ns: emu.ns_per_element(),
                native,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::criterion::Throughput;

    fn bench(
        group: &str,
        function: &str,
        value: Option<&str>,
        t: Option<Throughput>,
        ns: f64,
    ) -> Bench {
        Bench {
            group: group.into(),
            function: function.into(),
            value: value.map(Into::into),
            throughput: t,
            median_ns: ns,
        }
    }

    #[test]
    fn pairs_cache_on_and_off() {
        let e = Some(Throughput::Elements(1000));
        let rows = throughput_rows(&[
            bench("real_mode", "alu", Some("cache_on"), e, 10_000.0),
            bench("real_mode", "alu", Some("cache_off"), e, 100_000.0),
            bench(
                "real_mode",
                "rep",
                Some("cache_on"),
                Some(Throughput::Bytes(1 << 20)),
                1e9,
            ),
            bench("INT", "emu", None, e, 1.0),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].cache_on, rows[0].cache_off),
            (Some(100.0), Some(10.0))
        );
        assert_eq!(
            (rows[1].unit, rows[1].cache_on, rows[1].cache_off),
            ("MiB/s", Some(1.0), None)
        );
    }

    #[test]
    fn pairs_emu_with_native_per_group() {
        let one = Some(Throughput::Elements(1));
        let rows = event_rows(&[
            bench("pf", "emu", None, one, 800.0),
            bench(
                "pf",
                "native: page fault",
                None,
                Some(Throughput::Elements(4)),
                1600.0,
            ),
            bench("alone", "emu", None, None, 50.0),
        ]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].native, Some(("page fault".to_string(), 400.0)));
        assert_eq!(rows[0].ratio(), Some(2.0));
        assert_eq!((rows[1].emu_ns, rows[1].ratio()), (50.0, None));
    }
}
