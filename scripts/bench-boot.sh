#!/usr/bin/env bash
# Boot time, emu against QEMU (TCG): seconds from start to EMU-BOOT-OK on the serial console
# of the Debian test disk, RUNS runs each (default 3), alternating emu and QEMU so that load
# from other work on the machine falls on both alike. Writes target/bench/boot.json (the runs
# and their medians, also of each boot stage boottime.py recognises), which
# scripts/bench-report.sh puts into benches/REPORT.md.
#
#   scripts/bench-boot.sh [RUNS]
#
# emu runs as `emu run` does by default (paced to wall time, as QEMU is), built with the
# release profile as scripts/run-guest.sh builds it: the ci profile keeps overflow checks and
# debug assertions and runs the guest about 1.6x slower. EMU_BIN names another emu binary.
# QEMU is installed first when missing and this runs as root (testdata/traces/setup.sh, as
# scripts/guest-bench.sh does); otherwise the QEMU rows are skipped, with a note in the JSON.
#
# Then one more boot each with the kernel's messages on the console (the disk's kernel and
# initrd loaded directly, `console=ttyS0,115200`, not quiet): the seconds between chosen kernel
# log lines, by the kernel's own timestamps, go into the JSON's "breakdown" (where the boot's
# time goes; DESIGN.md, "Where the boot's time goes", names the code behind each stage).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
limit=300
disk=$(realpath -s --relative-to=. "$(bash scripts/guest-image.sh)/disk.img")
emu=${EMU_BIN:-}
if [ -z "$emu" ]; then
    cargo build --release -q -p emu-frontend
    emu=target/release/emu
fi
emu_cmd=("$emu" run --nographic --snapshot "$disk")
qemu_cmd=(qemu-system-i386 -accel tcg -m 128 -drive "file=$disk,format=raw,snapshot=on" -nographic)
if ! command -v qemu-system-i386 >/dev/null && [ "$(id -u)" = 0 ]; then
    sh testdata/traces/setup.sh >&2 || true
fi
have_qemu=1
command -v qemu-system-i386 >/dev/null || have_qemu=0

out=target/bench
mkdir -p "$out"
: >"$out/boot-runs.jsonl"
boot() { # tag cmd...: one boot, its boottime.py line appended to boot-runs.jsonl
    local tag=$1
    shift
    python3 testdata/guests/boottime.py --marker EMU-BOOT-OK --limit "$limit" --tag "$tag" \
        --log "$out/boot-$tag.log" -- "$@" | tee -a "$out/boot-runs.jsonl"
}
for i in $(seq "$runs"); do
    echo "bench-boot: run $i of $runs" >&2
    boot emu "${emu_cmd[@]}"
    if [ "$have_qemu" = 1 ]; then
        boot qemu "${qemu_cmd[@]}"
    fi
done

gdir=$(dirname "$disk")
append="console=ttyS0,115200"
kemu_cmd=("$emu" run --nographic --snapshot --kernel "$gdir/vmlinuz" --initrd "$gdir/initrd.gz"
    --append "$append" "$disk")
kqemu_cmd=(qemu-system-i386 -accel tcg -m 128 -kernel "$gdir/vmlinuz" -initrd "$gdir/initrd.gz"
    -append "$append" -drive "file=$disk,format=raw,snapshot=on" -nographic)
echo "bench-boot: one boot each with the kernel's messages on the console" >&2
: >"$out/boot-breakdown.jsonl"
python3 testdata/guests/boottime.py --marker EMU-BOOT-OK --limit "$limit" --tag emu \
    --log "$out/boot-kmsg-emu.log" -- "${kemu_cmd[@]}" >>"$out/boot-breakdown.jsonl"
if [ "$have_qemu" = 1 ]; then
    python3 testdata/guests/boottime.py --marker EMU-BOOT-OK --limit "$limit" --tag qemu \
        --log "$out/boot-kmsg-qemu.log" -- "${kqemu_cmd[@]}" >>"$out/boot-breakdown.jsonl"
fi

KEMU_CMD="${kemu_cmd[*]}" KQEMU_CMD="${kqemu_cmd[*]}" \
EMU_CMD="${emu_cmd[*]}" QEMU_CMD="${qemu_cmd[*]}" HAVE_QEMU=$have_qemu python3 - "$out" <<'PY'
import json, os, re, statistics, sys
out = sys.argv[1]
runs = [json.loads(l) for l in open(f"{out}/boot-runs.jsonl") if l.strip()]
def side(tag, cmd):
    ok = [r for r in runs if r["tag"] == tag and r["marker_s"] is not None]
    secs = [r["marker_s"] for r in ok]
    # Median time of each boot stage boottime.py saw in every successful run, in boot order.
    names = set.intersection(*(set(r["stages"]) for r in ok)) if ok else set()
    order = list(ok[0]["stages"]) if ok else []  # the order the first run saw them in
    stages = sorted(([n, statistics.median(r["stages"][n] for r in ok)] for n in names),
                    key=lambda s: (s[1], order.index(s[0])))
    return {"cmd": cmd, "runs_s": secs, "median_s": statistics.median(secs) if secs else None,
            "stages_s": stages}
notes = []
qemu = None
if os.environ["HAVE_QEMU"] == "1":
    qemu = side("qemu", os.environ["QEMU_CMD"])
else:
    notes.append("QEMU rows skipped: qemu-system-i386 not found (testdata/traces/setup.sh installs it)")
emu = side("emu", os.environ["EMU_CMD"])
failed = [r["tag"] for r in runs if r["marker_s"] is None]
if failed:
    notes.append(f"runs that never reached the marker (left out): {', '.join(failed)}")

# Kernel log lines bounding each stage, in boot order; a stage runs from the line before it
# (the kernel's first line, at time 0, for the first) to its own line.
KMSG = ["Loading compiled-in X.509 certificates", "Loaded X.509 cert", "evm: HMAC attrs",
        "clk: Disabling unused clocks", "Run /init"]
def kstamps(log):
    """Kernel timestamp of the first console line holding each KMSG entry."""
    seen = {}
    try:
        text = open(log, "rb").read().decode("utf-8", "replace")
    except OSError:
        return seen
    for line in text.splitlines():
        m = re.match(r"\s*\[\s*(\d+\.\d+)\]", line)
        if not m:
            continue
        for k in KMSG:
            if k in line and k not in seen:
                seen[k] = float(m.group(1))
    return seen
bruns = {}
for l in open(f"{out}/boot-breakdown.jsonl"):
    if l.strip():
        r = json.loads(l)
        bruns[r["tag"]] = (r, kstamps(f"{out}/boot-kmsg-{r['tag']}.log"))
def bside(tag):
    r, st = bruns.get(tag, (None, {}))
    if r is None:
        return None
    t = {"`Linux version`": r["stages"].get("Linux version")}
    prev = ("`Linux version`", 0.0)
    for k in KMSG:
        if k in st and prev[1] is not None:
            t[f"`{k}`"] = round(st[k] - prev[1], 3)
        prev = (k, st.get(k))
    t["EMU-BOOT-OK"] = r["marker_s"]
    return t
be, bq = bside("emu"), bside("qemu")
names = ["`Linux version`"] + [f"`{k}`" for k in KMSG] + ["EMU-BOOT-OK"]
breakdown = {"append": os.environ["KEMU_CMD"].split("--append ")[1].split(" ")[0],
             "emu_cmd": os.environ["KEMU_CMD"],
             "qemu_cmd": os.environ["KQEMU_CMD"] if bq is not None else None,
             "rows": [[n, be and be.get(n), bq and bq.get(n)] for n in names]}
boot = {"marker": "EMU-BOOT-OK", "emu": emu, "qemu": qemu, "note": "; ".join(notes) or None,
        "breakdown": breakdown}
json.dump(boot, open(f"{out}/boot.json", "w"), indent=1)
print(f"bench-boot: emu median {emu['median_s']} s, QEMU median {qemu and qemu['median_s']} s -> {out}/boot.json")
PY
