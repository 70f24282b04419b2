#!/usr/bin/env bash
# Idle cost and memory, emu against QEMU (TCG): the share of one host core an idle guest at
# its shell prompt costs, and the peak resident memory. Boots the Debian test disk with the
# full-screen display in a detached tmux pane (100x30, a private tmux server), emu and QEMU at
# the same time so that load from other work on the machine falls on both alike; waits for
# `EMU-BOOT-OK` on the screen (180 s at most), then 5 s more for the shell, then reads each
# process's CPU time (utime + stime, all threads, /proc/PID/stat) at the start and end of a
# window of SECONDS (default 60), and its peak resident memory (VmHWM, /proc/PID/status) at
# the end. Writes target/bench/idle.json, which scripts/bench-report.sh puts into
# benches/REPORT.md, and each screen as the window ended (target/bench/idle-emu.screen, ...).
#
#   scripts/idle-cost.sh [--seconds N]
#
# emu runs as `emu run --snapshot` does by default (display on, paced to wall time), built
# with the release profile; EMU_BIN names another emu binary. QEMU gets the same guest RAM
# (128 MiB) and its curses display, which shows the same VGA text screen (-nographic, noted
# in the JSON, when this QEMU has no curses). QEMU is installed first when missing and this
# runs as root (testdata/traces/setup.sh); otherwise it is left out, with a note in the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=$2; shift 2 ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "idle-cost: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $seconds in '' | *[!0-9]* | 0) echo "idle-cost: --seconds takes a whole number > 0" >&2; exit 2 ;; esac
boot_limit=180
settle=5
ram_mib=128
command -v tmux >/dev/null || { echo "idle-cost: needs tmux (scripts/setup.sh installs it)" >&2; exit 1; }
disk=$(realpath -s --relative-to=. "$(bash scripts/guest-image.sh)/disk.img")
emu=${EMU_BIN:-}
if [ -z "$emu" ]; then
    cargo build --release -q -p emu-frontend
    emu=target/release/emu
fi
emu_cmd=("$emu" run --memory "$ram_mib" --snapshot "$disk")
notes=()
have_qemu=1
qemu_cmd=()
if ! command -v qemu-system-i386 >/dev/null && [ "$(id -u)" = 0 ]; then
    sh testdata/traces/setup.sh >&2 || true
fi
if command -v qemu-system-i386 >/dev/null; then
    display=(-display curses)
    if ! qemu-system-i386 -display help 2>/dev/null | grep -qx curses; then
        display=(-nographic)
        notes+=("this qemu-system-i386 has no curses display: QEMU ran with -nographic (serial console, no VGA screen)")
    fi
    qemu_cmd=(qemu-system-i386 -accel tcg -m "$ram_mib" -drive "file=$disk,format=raw,snapshot=on" "${display[@]}")
else
    have_qemu=0
    notes+=("QEMU left out: qemu-system-i386 not found (testdata/traces/setup.sh installs it)")
fi

# A tmux server of our own, so that nothing else's sessions are touched; gone on exit.
# Targets are exact (`=NAME:`): a bare `-t NAME` also matches window names by prefix.
sock=emu-idle-$$
tm() { tmux -L "$sock" "$@"; }
cleanup() {
    local path
    path=$(tm display -p '#{socket_path}' 2>/dev/null) || true
    tm kill-server 2>/dev/null || true
    [ -z "$path" ] || rm -f "$path"
}
trap cleanup EXIT

sides=(emu)
[ "$have_qemu" = 1 ] && sides+=(qemu)
start() { # session cmd...: the command in a detached 100x30 pane that stays when it exits
    local name=$1
    shift
    tm new-session -d -s "$name" -x 100 -y 30 "$(printf '%q ' "$@")" \; \
        set-option -t "=$name:" remain-on-exit on
}
start emu "${emu_cmd[@]}"
[ "$have_qemu" = 1 ] && start qemu "${qemu_cmd[@]}"
echo "idle-cost: booting ${sides[*]} (up to ${boot_limit} s to EMU-BOOT-OK)" >&2

# Polls every pane until each has shown the marker; a pane whose program ended, or the time
# limit, fails the run with the pane's last screen.
fail() { # side message
    echo "idle-cost: $1: $2; its screen:" >&2
    tm capture-pane -p -t "=$1:" 2>/dev/null | sed 's/^/  | /' >&2 || true
    exit 1
}
declare -A booted=()
t0=$SECONDS
while [ ${#booted[@]} -lt ${#sides[@]} ]; do
    for s in "${sides[@]}"; do
        [ -z "${booted[$s]:-}" ] || continue
        if [ "$(tm display -p -t "=$s:" '#{pane_dead}')" = 1 ]; then
            fail "$s" "exited with status $(tm display -p -t "=$s:" '#{pane_dead_status}') before EMU-BOOT-OK"
        fi
        if tm capture-pane -p -t "=$s:" | grep -q EMU-BOOT-OK; then
            booted[$s]=$((SECONDS - t0))
            echo "idle-cost: $s showed EMU-BOOT-OK after ${booted[$s]} s" >&2
        fi
    done
    if [ ${#booted[@]} -lt ${#sides[@]} ] && [ $((SECONDS - t0)) -ge "$boot_limit" ]; then
        for s in "${sides[@]}"; do
            [ -n "${booted[$s]:-}" ] || fail "$s" "no EMU-BOOT-OK on the screen within ${boot_limit} s"
        done
    fi
    sleep 0.5
done
sleep "$settle"

# The emulator's own process: the pane's process when the shell exec'd it, else the
# descendant running the emulator's executable.
find_pid() { # session executable
    local want queue p
    want=$(realpath "$(command -v "$2")")
    queue=("$(tm display -p -t "=$1:" '#{pane_pid}')")
    while [ ${#queue[@]} -gt 0 ]; do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        if [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$want" ]; then
            echo "$p"
            return
        fi
        # shellcheck disable=SC2207
        queue+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
    done
    echo "idle-cost: $1: no process running $want under the tmux pane" >&2
    exit 1
}
pids=()
for s in "${sides[@]}"; do
    if [ "$s" = emu ]; then exe=$emu; else exe=qemu-system-i386; fi
    pids+=("$(find_pid "$s" "$exe")")
done
echo "idle-cost: measuring ${sides[*]} (pids ${pids[*]}) for $seconds s" >&2

mkdir -p target/bench
NOTES=$(printf '%s\n' "${notes[@]+"${notes[@]}"}") EMU_CMD="${emu_cmd[*]}" \
    QEMU_CMD="${qemu_cmd[*]+"${qemu_cmd[*]}"}" CLK_TCK=$(getconf CLK_TCK) \
    python3 - "$seconds" "$ram_mib" target/bench/idle.json "${sides[@]}" -- "${pids[@]}" <<'PY'
import json, os, sys, time
seconds, ram_mib, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rest = sys.argv[4:]
sides, pids = rest[:rest.index("--")], [int(p) for p in rest[rest.index("--") + 1:]]
tck = int(os.environ["CLK_TCK"])
def stat(pid):
    # Fields after the command name (which may hold spaces): state is field 3, so utime
    # (14), stime (15) and starttime (22) are at 11, 12 and 19.
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12]), f[19]
def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])  # kB
start = [stat(p) for p in pids]
t0 = time.monotonic()
time.sleep(seconds)
end = [stat(p) for p in pids]
wall = time.monotonic() - t0
result = {"seconds": seconds, "emu": None, "qemu": None, "guest_ram_mib": ram_mib}
for side, pid, (c0, st0), (c1, st1) in zip(sides, pids, start, end):
    if st0 != st1:
        sys.exit(f"idle-cost: {side} (pid {pid}) ended during the window")
    result[side] = {"cmd": os.environ[side.upper() + "_CMD"],
                    "cpu_percent": round((c1 - c0) / tck / wall * 100, 2),
                    "vmhwm_kib": status(pid, "VmHWM"), "vmrss_kib": status(pid, "VmRSS")}
notes = [n for n in os.environ["NOTES"].split("\n") if n]
result["note"] = "; ".join(notes) or None
json.dump(result, open(out, "w"), indent=1)
for side in sides:
    r = result[side]
    print(f"idle-cost: {side}: {r['cpu_percent']}% of one core, VmHWM {r['vmhwm_kib'] / 1024:.1f} MiB")
print(f"idle-cost: -> {out}")
PY
for s in "${sides[@]}"; do
    tm capture-pane -p -t "=$s:" >"target/bench/idle-$s.screen"
done
