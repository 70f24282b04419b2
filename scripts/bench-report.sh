#!/usr/bin/env bash
# Runs the benchmarks and writes benches/REPORT.md and benches/ratios.svg.
#
#   scripts/bench-report.sh [--only criterion|boot|guest|bochs|idle|report] [--measurement-time S]
#
# Parts, all by default, in this order:
#   criterion  cargo bench --bench cpu and --bench events (about 5 minutes on 2 cores), into
#              target/bench/criterion (a fresh directory each time, so the report holds this
#              run only; target/criterion and its baselines are left alone)
#   boot       scripts/bench-boot.sh: boot time, emu against QEMU, 3 runs each (about 5 min)
#   guest      scripts/guest-bench.sh when the tree has it: target/bench/guest.json
#   bochs      scripts/bochs-bench.sh: Bochs 2.7 on the same guest, one boot and three runs
#              of the guest benchmark (about 4 min; installs Bochs with apt the first time):
#              target/bench/bochs.json, for the report's "emu vs 3x Bochs" columns
#   idle       scripts/idle-cost.sh: CPU share of an idle guest at its prompt and peak
#              resident memory, emu and QEMU at once (about 2.5 min): target/bench/idle.json
#   report     bench-report turns whatever of the above exists into the report
# Every --only part except `report` is followed by the report. --measurement-time sets
# criterion's seconds per benchmark (default 2; the throughput benches with the block cache
# off need about 3 to complete their 10 samples and take longer whatever it says).
set -euo pipefail
cd "$(dirname "$0")/.."
only=all
mt=2
while [ $# -gt 0 ]; do
    case $1 in
        --only) only=$2; shift 2 ;;
        --measurement-time) mt=$2; shift 2 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "bench-report: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $only in all | criterion | boot | guest | bochs | idle | report) ;; *)
    echo "bench-report: --only takes criterion, boot, guest, bochs, idle or report" >&2; exit 2 ;;
esac
part() { [ "$only" = all ] || [ "$only" = "$1" ]; }
bash scripts/setup.sh
crit=target/bench/criterion

if part criterion; then
    rm -rf "$crit"
    mkdir -p "$crit"
    for bench in cpu events; do
        CRITERION_HOME=$PWD/$crit cargo bench --bench "$bench" -- --noplot \
            --warm-up-time 1 --measurement-time "$mt"
    done
fi
if part boot; then
    bash scripts/bench-boot.sh 3
fi
if part guest; then
    if [ -f scripts/guest-bench.sh ]; then
        bash scripts/guest-bench.sh
    else
        echo "bench-report: no scripts/guest-bench.sh here; target/bench/guest.json is used if present" >&2
    fi
fi
if part bochs; then
    # Bochs failing (no apt, say) leaves the rest of the report to be written.
    bash scripts/bochs-bench.sh ||
        echo "bench-report: scripts/bochs-bench.sh failed; target/bench/bochs.json is used if present" >&2
fi
if part idle; then
    bash scripts/idle-cost.sh
fi
cargo run --release -q -p emu-bench-report -- --criterion "$crit"
echo "bench-report: wrote benches/REPORT.md and benches/ratios.svg"
