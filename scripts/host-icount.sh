#!/usr/bin/env bash
# Host instructions per guest instruction for each `paged_ring3` program (benches/paged.rs),
# counted by callgrind: exact and repeatable where wall-clock benchmarks on a shared host are
# not. Compare two builds by running it on each (EMU_ICOUNT_BIN: a prebuilt
# target/release/examples/host_icount, for an older checkout).
#
#   scripts/host-icount.sh [PROGRAM...]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
    else
        echo "host-icount: valgrind is missing; install it (apt-get install valgrind)" >&2
        exit 1
    fi
fi
bin=${EMU_ICOUNT_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release -q --example host_icount
    bin=target/release/examples/host_icount
fi
if [ $# -eq 0 ]; then
    set -- $("$bin" | awk '{print $1}')
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%-14s %12s %14s %10s\n' program guest_insns host_insns per_insn
for p in "$@"; do
    n=$("$bin" "$p" | awk '{print $2}')
    valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*host_icount*measure*' \
        "$bin" "$p" >/dev/null 2>&1
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
    awk -v p="$p" -v n="$n" -v ir="$ir" 'BEGIN {printf "%-14s %12d %14d %10.2f\n", p, n, ir, ir / n}'
done
