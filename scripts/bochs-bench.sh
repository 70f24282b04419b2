#!/usr/bin/env bash
# Bochs 2.7 (Debian's `bochs`) measured on this machine next to emu and QEMU: the same guest,
# the same benchmark, so "emu at least 3x faster than Bochs" can be checked in one report run.
#
#   scripts/bochs-bench.sh [--only boot|bench] [--runs N] [--bench-runs N] [--scale S]
#                          [--rows key,key]
#
# boot   seconds from start to EMU-BOOT-OK on COM1, the Debian test disk (a copy, so
#        target/guest/disk.img is never written), as scripts/bench-boot.sh times emu and
#        QEMU (testdata/guests/boottime.py); --runs N runs (default 1: one takes over a minute)
# bench  testdata/guests/emubench.c in Bochs: the bench initrd of scripts/guest-bench.sh on
#        a syslinux disk of its own (Bochs has no -kernel), with the kernel command line
#        guest-bench.sh gives emu and QEMU; --scale multiplies the iteration counts (default
#        1, as for emu and QEMU: the rows take 5-10 s in all, the boot before them 1 min; the
#        rows are per event or MIPS, so the scale does not change what they mean);
#        --bench-runs N runs (default 3, as scripts/guest-bench.sh) and each row's median
# Both by default. Writes target/bench/bochs.json (a part not run keeps its earlier
# figures); scripts/bench-report.sh --only bochs runs this and puts the figures in the report.
# Installs bochs, bochsbios, vgabios, bochs-term, syslinux and mtools with apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

only=boot,bench
runs=1
bench_runs=3
scale=1
rows=
while [ $# -gt 0 ]; do
    case $1 in
        --only) only=${2:-}; shift 2 ;;
        --runs) runs=${2:-}; shift 2 ;;
        --bench-runs) bench_runs=${2:-}; shift 2 ;;
        --scale) scale=${2:-}; shift 2 ;;
        --rows) rows=${2:-}; shift 2 ;;
        -h | --help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bochs-bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
die() { echo "bochs-bench: $*" >&2; exit 1; }
case $only in boot | bench | boot,bench | bench,boot) ;; *)
    echo "bochs-bench: --only takes boot or bench" >&2; exit 2 ;;
esac
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "bochs-bench: --runs takes a positive integer" >&2; exit 2; }
[[ $bench_runs =~ ^[1-9][0-9]*$ ]] ||
    { echo "bochs-bench: --bench-runs takes a positive integer" >&2; exit 2; }
if ! [[ $scale =~ ^[0-9]*\.?[0-9]+$ ]] || ! awk "BEGIN { exit !($scale > 0) }"; then
    echo "bochs-bench: --scale takes a positive number" >&2
    exit 2
fi
wants() { case ",$only," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# ---- packages ----

# bochs-term is not used (the display is rfb, below) but satisfies bochs's dependency on a
# display package without pulling in wxWidgets (bochs-wx, apt's first choice).
pkgs=(bochs bochs-term bochsbios vgabios syslinux syslinux-common mtools dosfstools fdisk)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages ${missing[*]}; run as root or apt-get install them"
    echo "bochs-bench: installing ${missing[*]}" >&2
    # apt-get update only when the package lists do not know them yet (a fresh machine).
    if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
        apt-get update -qq >&2 || die "apt-get update failed"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
        die "apt-get install ${missing[*]} failed"
fi
bios=/usr/share/bochs/BIOS-bochs-latest
vgabios=/usr/share/vgabios/vgabios.bin
for f in "$bios" "$vgabios" /usr/lib/syslinux/mbr/mbr.bin; do
    [ -f "$f" ] || die "$f missing after installing ${pkgs[*]}"
done
command -v bochs >/dev/null || die "bochs not found after installing it"

# ---- the Bochs machine ----

dir=target/bench/bochs
mkdir -p "$dir"
limit=600 # seconds a boot or the whole bench run may take before it counts as failed
# Bochs 2.7 has no -kernel and its disks need a geometry: C*16*63 sectors exactly, so the disk
# copies are padded to whole cylinders.
cyl_bytes=$((16 * 63 * 512))
# Timing: `clock: sync=realtime`, ips 100M. Bochs has two clocks. Its PIT interrupts, RTC
# and ACPI PM timer follow the host's clock under sync=realtime; its TSC, local APIC timer
# and HPET count emulated instructions at `ips` per second whatever the sync. Linux under
# Bochs marks the TSC unstable and keeps time with the HPET (it rejects the PM timer, whose
# rate disagrees with the PIT's count), so the guest's CLOCK_MONOTONIC is instructions / ips:
# every MIPS row would print about ips / 1e6 however fast Bochs really is. So each benchmark
# figure here is the row's time on the host, from the arrival of its EMUBENCH-MARK line on
# COM1 to that of its result line, with the event or instruction count the program reports
# (as guest-bench.sh's host-timed column for emu); the guest's own figures are kept beside
# them (`bochs_guest_clock`). A row's host time also holds the console's latency: the same
# timing of QEMU, whose guest clock is wall time, came out 1-4 ms a row longer than the
# program's own figures, and Bochs's rows last 0.3 s or more at --scale 1. sync=realtime is chosen so timed waits on the PIT take wall time, as they do in
# emu (paced) and QEMU; a boot measured with sync=none took as long (64.7 s against 66.0 s,
# ips 50M): this boot hardly waits. sync=slowdown would hold Bochs to ips, below its full speed. ips
# 100M is about the rate Bochs runs this guest's kernel at on this machine (guest uptime
# 43 s at EMU-BOOT-OK, 39 s of wall time after `Linux version`), so the instruction clocks
# stay near wall time and the guest's timeouts last about as long as in emu and QEMU; with
# 50M guest time ran twice as fast as wall time.
ips=${BOCHS_IPS:-100000000}
sync=${BOCHS_SYNC:-realtime}
# The debugger Debian builds into Bochs stops at the first instruction: -rc feeds it `c`.
printf 'c\n' >"$dir/continue.rc"
bxrc() { # file disk cylinders com1-file log-file
    cat >"$1" <<EOF
# Written by scripts/bochs-bench.sh.
config_interface: textconfig
# Headless: Debian's Bochs has no nogui; rfb serves the screen to a VNC client nobody connects
# (timeout=0: it does not wait for one). The term display needs a terminal: without one it
# stalls writing to a pty nobody reads.
display_library: rfb, options="timeout=0"
megs: 128
# A Pentium II: family 6 model 3 like emu's CPU, no SSE.
cpu: model=p2_klamath, ips=$ips, reset_on_triple_fault=1
clock: sync=$sync, time0=local
romimage: file=$bios, options=fastboot
vgaromimage: file=$vgabios
ata0-master: type=disk, path="$2", mode=flat, cylinders=$3, heads=16, spt=63, translation=lba
boot: disk
com1: enabled=1, mode=file, dev="$4"
mouse: enabled=0
log: $5
panic: action=fatal
error: action=report
info: action=report
debug: action=ignore
EOF
}
bochs_cmd() { cmd=(bochs -q -unlock -f "$1" -rc "$dir/continue.rc"); }
# Pads a disk image to whole cylinders and prints the cylinder count.
cylinders() {
    local size
    size=$(stat -c %s "$1")
    local c=$(((size + cyl_bytes - 1) / cyl_bytes))
    truncate -s $((c * cyl_bytes)) "$1"
    echo "$c"
}

# ---- boot ----

disk=$(bash scripts/guest-image.sh)/disk.img
boot_cmd=()
if wants boot; then
    : >"$dir/boot-runs.jsonl"
    for i in $(seq "$runs"); do
        echo "bochs-bench: boot $i of $runs" >&2
        img=$dir/boot-disk.img
        rm -f "$img" "$img.lock"
        cp "$disk" "$img"
        bxrc "$dir/boot.bxrc" "$img" "$(cylinders "$img")" "$dir/boot-com1.txt" "$dir/boot-bochs.log"
        bochs_cmd "$dir/boot.bxrc"
        boot_cmd=("${cmd[@]}")
        python3 testdata/guests/boottime.py --marker EMU-BOOT-OK --limit "$limit" --tag bochs \
            --file "$dir/boot-com1.txt" --log "$dir/boot-com1.log" -- "${boot_cmd[@]}" |
            tee -a "$dir/boot-runs.jsonl"
    done
fi

# ---- bench ----

bench_cmd=()
if wants bench; then
    initrd=$(bash scripts/guest-bench.sh --build-only | tail -n 1)
    [ -f "$initrd" ] || die "scripts/guest-bench.sh --build-only gave no initrd"
    guest=${EMU_GUEST_DIR:-$(dirname "$disk")}
    append="console=ttyS0,115200 quiet panic=1 emubench.scale=$scale"
    [ -z "$rows" ] || append="$append emubench.rows=$rows"
    # The disk: as testdata/guests/make-linux-disk.sh builds disk.img (an MBR, one active FAT16
    # partition at sector 2048, syslinux), holding the kernel, the bench initrd and one label.
    img=$dir/bench-disk.img
    rm -f "$img" "$img.lock"
    start=2048
    cyls=40 # 20 MiB: the kernel and the bench initrd take 8
    truncate -s $((cyls * cyl_bytes)) "$img"
    printf 'label: dos\nstart=%s, type=6, bootable\n' "$start" | sfdisk -q "$img"
    mkfs.fat -F 16 -n EMUBENCH -h "$start" --offset "$start" "$img" \
        $(((cyls * 16 * 63 - start) / 2)) >/dev/null
    {
        echo "SERIAL 0 115200"
        echo "SAY EMU-SYSLINUX loading kernel"
        echo "DEFAULT bench"
        echo "PROMPT 0"
        echo "TIMEOUT 0"
        echo "LABEL bench"
        echo "  LINUX /vmlinuz"
        echo "  INITRD /initrd.gz"
        echo "  APPEND $append"
    } >"$dir/syslinux.cfg"
    export MTOOLS_SKIP_CHECK=1
    mcopy -o -i "$img@@$((start * 512))" "$guest/vmlinuz" ::/vmlinuz
    mcopy -o -i "$img@@$((start * 512))" "$initrd" ::/initrd.gz
    mcopy -o -i "$img@@$((start * 512))" "$dir/syslinux.cfg" ::/syslinux.cfg
    syslinux --install --offset $((start * 512)) "$img"
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$img" bs=440 count=1 conv=notrunc status=none
    bxrc "$dir/bench.bxrc" "$img" "$cyls" "$dir/bench-com1.txt" "$dir/bench-bochs.log"
    bochs_cmd "$dir/bench.bxrc"
    bench_cmd=("${cmd[@]}")
    echo "bochs: ${bench_cmd[*]} ($append)" >&2

    # Bochs writes COM1 to a file; each line goes into bench.log with the host time it
    # appeared, which times the rows (see "Timing" above). Bochs runs in its own process
    # group, killed as soon as the program has exited (or the kernel panicked: panic=1 would
    # reboot it) or at the limit.
    for i in $(seq "$bench_runs"); do
        echo "bochs-bench: benchmark run $i of $bench_runs" >&2
        com=$dir/bench-com1.txt
        log=$dir/bench.$i.log
        rm -f "$com"
        : >"$log"
        setsid timeout -s KILL "$limit" "${bench_cmd[@]}" </dev/null >"$dir/bench-bochs.out" 2>&1 &
        pid=$!
        disown "$pid" # Bash would report the kill below; tail --pid waits for the end instead
        while [ ! -e "$com" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        [ -e "$com" ] || die "Bochs ended before opening COM1; see $dir/bench-bochs.out"
        tail -F -n +1 --pid="$pid" "$com" 2>/dev/null | while IFS= read -r line; do
            line=${line%$'\r'}
            printf '%s %s\n' "$EPOCHREALTIME" "$line" >>"$log"
            case $line in
                EMUBENCH*) printf '  %s\n' "$line" >&2 ;;
            esac
            case $line in
                EMUBENCH-EXIT* | *"Kernel panic"*) kill -KILL -- "-$pid" 2>/dev/null || true ;;
            esac
        done || true
    done
    # The checks of a native run (they depend only on the program, not on the scale).
    native=$(dirname "$initrd")/emubench
    "$native" 0.001 >"$dir/native-checks.log" 2>/dev/null || : >"$dir/native-checks.log"
fi

# ---- bochs.json ----

SYNC=$sync BOOT_CMD=${boot_cmd[*]} BENCH_CMD=${bench_cmd[*]} SCALE=$scale IPS=$ips ONLY=$only \
    BENCH_RUNS=$bench_runs python3 - "$dir" <<'PY'
import json, math, os, statistics, sys

sys.path.insert(0, "testdata/guests")
from emubench_log import ROWS, fields, parse_runs  # noqa: E402

d = sys.argv[1]
path = "target/bench/bochs.json"
try:
    out = json.load(open(path))
except (OSError, ValueError):
    out = {}
only = os.environ["ONLY"].split(",")
bad = False
config = (f"clock: sync={os.environ['SYNC']}; cpu: model=p2_klamath, ips={os.environ['IPS']}; "
          "megs: 128; display_library: rfb")

if "boot" in only:
    runs = [json.loads(l) for l in open(f"{d}/boot-runs.jsonl") if l.strip()]
    ok = [r for r in runs if r["marker_s"] is not None]
    secs = [r["marker_s"] for r in ok]
    names = set.intersection(*(set(r["stages"]) for r in ok)) if ok else set()
    order = list(ok[0]["stages"]) if ok else []
    stages = sorted(([n, statistics.median(r["stages"][n] for r in ok)] for n in names),
                    key=lambda s: (s[1], order.index(s[0])))
    out["boot"] = {"cmd": os.environ["BOOT_CMD"], "runs_s": secs,
                   "median_s": statistics.median(secs) if secs else None, "stages_s": stages}
    if len(ok) < len(runs):
        print(f"bochs-bench: {len(runs) - len(ok)} of {len(runs)} boots never showed EMU-BOOT-OK"
              f" (see {d}/boot-com1.log and {d}/boot-bochs.log)", file=sys.stderr)
        bad = True
    print(f"bochs-bench: boot median {out['boot']['median_s']} s over {len(secs)} runs",
          file=sys.stderr)

if "bench" in only:
    # The same rows, names and reading of the result lines as scripts/guest-bench.sh.
    runs = int(os.environ["BENCH_RUNS"])
    rows, clocksource, ok = parse_runs(
        "bochs", [f"{d}/bench.{i}.log" for i in range(1, runs + 1)],
        f" (COM1) and {d}/bench-bochs.log")
    bad = bad or not ok
    # Each row's checks must agree with the native run's (when the host runs i386 programs).
    native = {}
    for line in open(f"{d}/native-checks.log", errors="replace"):
        f = line.split()
        if len(f) >= 4 and f[0] == "EMUBENCH":
            native[f[1]] = fields(f[4:]).get("check")
    result = []
    for key, name in ROWS:
        r = rows.get(key)
        if r is None:
            continue
        if native.get(key) is not None and r["check"] != native[key]:
            print(f"bochs: {key} check={r['check']} but natively check={native[key]}",
                  file=sys.stderr)
            bad = True
        # bochs: timed on the host (see the comment on timing above); bochs_guest_clock: what
        # the program measured with the guest's clock, which counts instructions at ips.
        row = {"key": key, "name": name, "unit": r["unit"]}
        if math.isfinite(r["wall"]) and r["wall"] > 0:
            row["bochs"] = round(r["wall"], 1)
            row["bochs_runs"] = [round(x, 1) for x in r["wall_runs"]]
        if math.isfinite(r["guest"]) and r["guest"] > 0:
            row["bochs_guest_clock"] = round(r["guest"], 1)
        row["host_s"] = round(r["host_secs"], 3)
        row["guest_s"] = r["secs"]
        result.append(row)
    out["bench"] = {"cmd": os.environ["BENCH_CMD"], "scale": float(os.environ["SCALE"]),
                    "runs": runs, "clocksource": clocksource, "rows": result}
    w = max([len(r["name"]) for r in result] + [5])
    print(f"{'event':<{w}}  unit  {'bochs':>11}  {'guest clock':>11}", file=sys.stderr)
    for r in result:
        print(f"{r['name']:<{w}}  {r['unit']:<4}  {r.get('bochs', math.nan):>11,.1f}  "
              f"{r.get('bochs_guest_clock', math.nan):>11,.1f}", file=sys.stderr)

out["config"] = config
with open(path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"bochs-bench: wrote {path}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
