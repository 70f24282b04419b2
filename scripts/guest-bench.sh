#!/usr/bin/env bash
# Guest benchmark: builds testdata/guests/emubench.c (static i386) and a bench initrd (the
# guest's initrd.gz + a cpio whose /init runs emubench and powers off), runs it natively, in
# emu and in QEMU (TCG), and writes target/bench/guest.json plus a table.
#
#   scripts/guest-bench.sh [--only native|emu|qemu[,...]] [--runs N] [--scale S]
#                          [--native-scale S] [--rows key,key] [--build-only]
#
# --runs N runs native, emu and QEMU N times each (default 3, in turn: native, emu, QEMU,
# then again) and reports each row's median: single runs of a row vary by 5-10% on a shared
# host. The figures of each run are kept in guest.json beside the medians.
#
# --scale multiplies the iteration counts in emu and QEMU (default 1: each row takes about
# 0.2-1 s there); --native-scale does it for the host (default 10, the host being 30-100x faster).
# Timing: every figure is the program's own CLOCK_MONOTONIC (in emu, paced, guest time
# follows wall time). As a cross-check, emu rows are also timed here on the host, from the
# arrival of the row's EMUBENCH-MARK line to its result line (the last column).
# --build-only prints the bench initrd's path and stops.
# Environment: EMU_GUEST_DIR (the guest, default: scripts/guest-image.sh), GBENCH_DIR (build
# dir, default target/gbench), EMU_BIN (an emu binary instead of building target/release/emu).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

only=native,emu,qemu
runs=3
scale=1
native_scale=10
rows=
build_only=0
while [ $# -gt 0 ]; do
    case $1 in
        --only) only=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --scale) scale=$2; shift 2 ;;
        --native-scale) native_scale=$2; shift 2 ;;
        --rows) rows=$2; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -h | --help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "guest-bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for r in ${only//,/ }; do
    case $r in native | emu | qemu) ;; *) echo "guest-bench: --only takes native, emu or qemu" >&2; exit 2 ;; esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "guest-bench: --runs takes a positive integer" >&2; exit 2; }
wants() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

out=${GBENCH_DIR:-$root/target/gbench}
mkdir -p "$out"
if [ -n "${EMU_GUEST_DIR:-}" ]; then guest=$EMU_GUEST_DIR; else guest=$(bash scripts/guest-image.sh); fi
src=testdata/guests/emubench.c
init=testdata/guests/emubench-init.sh

# ---- build ----

m32_links() {
    local d rc=0
    d=$(mktemp -d)
    echo 'int main(void) { return 0; }' >"$d/t.c"
    gcc -m32 -static -o "$d/t" "$d/t.c" >/dev/null 2>&1 || rc=1
    rm -rf "$d"
    return $rc
}

build() {
    if ! m32_links; then
        echo "guest-bench: gcc -m32 -static cannot link an i386 program; install gcc-multilib" \
            "(scripts/setup.sh does, as root)" >&2
        exit 1
    fi
    local bin=$out/emubench
    if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ]; then
        gcc -m32 -static -O2 -Wall -Wextra -s -o "$bin.tmp" "$src"
        mv "$bin.tmp" "$bin"
    fi
    initrd=$out/bench-initrd.gz
    if [ ! -f "$initrd" ] || [ "$bin" -nt "$initrd" ] || [ "$init" -nt "$initrd" ] ||
        [ "$guest/initrd.gz" -nt "$initrd" ]; then
        local r=$out/overlay
        rm -rf "$r"
        mkdir -p "$r/bin"
        cp "$init" "$r/init"
        cp "$bin" "$r/bin/emubench"
        chmod 755 "$r/init" "$r/bin/emubench"
        find "$r" -exec touch -h -d @0 {} +
        # Linux unpacks concatenated archives in order; a later file replaces an earlier one.
        (cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n >"$r.cpio.gz"
        cat "$guest/initrd.gz" "$r.cpio.gz" >"$initrd.tmp"
        mv "$initrd.tmp" "$initrd"
    fi
}
build
if [ $build_only = 1 ]; then
    echo "$initrd"
    exit 0
fi

# ---- run ----

# Copies the command's output to $1 with each line prefixed by the host time it arrived.
stamp() {
    local log=$1 line
    shift
    : >"$log"
    { "$@" </dev/null 2>&1 || echo "guest-bench: $1 exited with status $?"; } | while IFS= read -r line; do
        printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}" >>"$log"
        case $line in EMUBENCH* | guest-bench:*) printf '  %s\n' "${line%$'\r'}" >&2 ;; esac
    done
}

append="console=ttyS0,115200 quiet panic=1 emubench.scale=$scale"
[ -z "$rows" ] || append="$append emubench.rows=$rows"
# The runners this host has, and their commands.
ran=()
if wants native; then
    if "$out/emubench" 0.0001 int_loop >/dev/null 2>&1; then
        # shellcheck disable=SC2206 # rows is a word list
        native_cmd=("$out/emubench" "$native_scale" ${rows//,/ })
        echo "native: ${native_cmd[*]}" >&2
        ran+=(native)
    else
        echo "native: this host cannot run i386 programs (kernel without IA32 emulation?); skipped" >&2
    fi
fi
if wants emu; then
    emu=${EMU_BIN:-}
    if [ -z "$emu" ]; then
        cargo build --release -q -p emu-frontend
        emu=$root/target/release/emu
    fi
    # Paced (the default): guest time follows the host's clock, as for a user.
    emu_cmd=("$emu" run --display none --snapshot --no-reboot --kernel "$guest/vmlinuz"
        --initrd "$initrd" --append "$append" "$guest/disk.img")
    echo "emu: ${emu_cmd[*]}" >&2
    ran+=(emu)
fi
if wants qemu; then
    if ! command -v qemu-system-i386 >/dev/null && [ "$(id -u)" = 0 ]; then
        sh testdata/traces/setup.sh >&2 || true
    fi
    if command -v qemu-system-i386 >/dev/null; then
        qemu_cmd=(qemu-system-i386 -accel tcg -m 128 -kernel "$guest/vmlinuz" -initrd "$initrd"
            -append "$append" -nographic -no-reboot)
        echo "qemu: ${qemu_cmd[*]}" >&2
        ran+=(qemu)
    else
        echo "qemu: qemu-system-i386 not found (testdata/traces/setup.sh installs it); skipped" >&2
    fi
fi
# In turn, so a slow spell of the host touches every runner alike.
for i in $(seq "$runs"); do
    for r in "${ran[@]}"; do
        echo "guest-bench: $r, run $i of $runs" >&2
        case $r in
            native) stamp "$out/native.$i.log" "${native_cmd[@]}" ;;
            emu) stamp "$out/emu.$i.log" timeout -k 5 600 "${emu_cmd[@]}" ;;
            qemu) stamp "$out/qemu.$i.log" timeout -k 5 600 "${qemu_cmd[@]}" ;;
        esac
    done
done

mkdir -p target/bench
python3 - "$out" "$runs" "${ran[@]}" <<'PY'
import json, math, sys

sys.path.insert(0, "testdata/guests")
from emubench_log import ROWS, parse_runs  # noqa: E402

out, runs, runners = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

data, bad = {}, False
for r in runners:
    data[r], _, ok = parse_runs(r, [f"{out}/{r}.{i}.log" for i in range(1, runs + 1)])
    bad = bad or not ok

# Each runner's figure is the program's own clock; emu's host-timed figure is a cross-check.
pick = {"native": "guest", "qemu": "guest", "emu": "guest"}
result, keys = [], []
for key, name in ROWS:
    row = {"name": name}
    for r in runners:
        if key in data[r]:
            row["unit"] = data[r][key]["unit"]
    if "unit" not in row:
        continue
    for r in ("native", "emu", "qemu"):
        d = data.get(r, {}).get(key, {})
        v = d.get(pick[r])
        if v is not None and math.isfinite(v) and v > 0:
            row[r] = round(v, 1)
            # The single runs the median came from.
            row[f"{r}_runs"] = [round(x, 1) for x in d[f"{pick[r]}_runs"]]
    # The checks depend only on the program: a guest must agree with the host.
    ref = data.get("native", {}).get(key, {}).get("check")
    for r in ("emu", "qemu"):
        c = data.get(r, {}).get(key, {}).get("check")
        if ref is not None and c is not None and c != ref:
            print(f"{r}: {key} check={c} but natively check={ref}", file=sys.stderr)
            bad = True
    result.append(row)
    keys.append(key)

with open("target/bench/guest.json", "w") as f:
    json.dump({"runs": runs, "rows": result}, f, separators=(",", ":"))
    f.write("\n")

def cell(v):
    return f"{v:,.1f}" if isinstance(v, float) else "-"
print(f"medians of {runs} run(s):")
hdr = ["event", "unit", "native", "emu", "qemu", "emu, host-timed"]
lines = [hdr]
for key, row in zip(keys, result):
    g = data.get("emu", {}).get(key, {}).get("wall")
    lines.append([row["name"], row["unit"], cell(row.get("native")), cell(row.get("emu")),
                  cell(row.get("qemu")), cell(g)])
w = [max(len(l[i]) for l in lines) for i in range(len(hdr))]
for i, l in enumerate(lines):
    print("  ".join(c.ljust(w[j]) if j < 2 else c.rjust(w[j]) for j, c in enumerate(l)))
    if i == 0:
        print("  ".join("-" * x for x in w))
print("wrote target/bench/guest.json")
sys.exit(1 if bad else 0)
PY
