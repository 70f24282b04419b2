#!/usr/bin/env bash
# Guest benchmark: builds testdata/guests/emubench.c (static i386) and a bench initrd (the
# guest's initrd.gz + a cpio whose /init runs emubench and powers off), runs it natively, in
# emu and in QEMU (TCG), and writes target/bench/guest.json plus a table.
#
#   scripts/guest-bench.sh [--only native|emu|qemu[,...]] [--scale S] [--native-scale S]
#                          [--rows key,key] [--build-only]
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
scale=1
native_scale=10
rows=
build_only=0
while [ $# -gt 0 ]; do
    case $1 in
        --only) only=$2; shift 2 ;;
        --scale) scale=$2; shift 2 ;;
        --native-scale) native_scale=$2; shift 2 ;;
        --rows) rows=$2; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -h | --help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "guest-bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for r in ${only//,/ }; do
    case $r in native | emu | qemu) ;; *) echo "guest-bench: --only takes native, emu or qemu" >&2; exit 2 ;; esac
done
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
ran=()
if wants native; then
    if "$out/emubench" 0.0001 int_loop >/dev/null 2>&1; then
        echo "native: $out/emubench $native_scale ${rows//,/ }" >&2
        # shellcheck disable=SC2086 # rows is a word list
        stamp "$out/native.log" "$out/emubench" "$native_scale" ${rows//,/ }
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
    cmd=("$emu" run --display none --snapshot --no-reboot --kernel "$guest/vmlinuz"
        --initrd "$initrd" --append "$append" "$guest/disk.img")
    echo "emu: ${cmd[*]}" >&2
    stamp "$out/emu.log" timeout -k 5 600 "${cmd[@]}"
    ran+=(emu)
fi
if wants qemu; then
    if ! command -v qemu-system-i386 >/dev/null && [ "$(id -u)" = 0 ]; then
        sh testdata/traces/setup.sh >&2 || true
    fi
    if command -v qemu-system-i386 >/dev/null; then
        cmd=(qemu-system-i386 -accel tcg -m 128 -kernel "$guest/vmlinuz" -initrd "$initrd"
            -append "$append" -nographic -no-reboot)
        echo "qemu: ${cmd[*]}" >&2
        stamp "$out/qemu.log" timeout -k 5 600 "${cmd[@]}"
        ran+=(qemu)
    else
        echo "qemu: qemu-system-i386 not found (testdata/traces/setup.sh installs it); skipped" >&2
    fi
fi

mkdir -p target/bench
python3 - "$out" "${ran[@]}" <<'PY'
import json, math, sys

sys.path.insert(0, "testdata/guests")
from emubench_log import ROWS, parse  # noqa: E402

out, runners = sys.argv[1], sys.argv[2:]

data, bad = {}, False
for r in runners:
    rows, errors, done, _ = parse(f"{out}/{r}.log")
    data[r] = rows
    for e in errors:
        print(f"{r}: {e}", file=sys.stderr)
    if errors or not done:
        bad = True
        if not done:
            print(f"{r}: EMUBENCH-DONE missing; see {out}/{r}.log", file=sys.stderr)

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
        v = data.get(r, {}).get(key, {}).get(pick[r])
        if v is not None and math.isfinite(v) and v > 0:
            row[r] = round(v, 1)
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
    json.dump({"rows": result}, f, separators=(",", ":"))
    f.write("\n")

def cell(v):
    return f"{v:,.1f}" if isinstance(v, float) else "-"
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
