"""Reading testdata/guests/emubench.c's output (a serial or console log whose lines start with
a host timestamp in seconds): shared by scripts/guest-bench.sh and scripts/bochs-bench.sh so
both name the rows and read the result lines alike."""
import math
import statistics
import sys

# Row keys in report order, with their names in the tables.
ROWS = [("getppid_int80", "getppid via int 0x80"),
        ("page_fault", "page fault (mmap/touch/munmap)"),
        ("pipe_roundtrip", "pipe round trip, two processes"),
        ("fork_exit_wait", "fork + exit + wait"),
        ("int_loop", "integer loop, guest MIPS"),
        ("crc32_loop", "CRC32 loop, guest MIPS"),
        ("x87_loop", "x87 loop, guest MIPS"),
        ("copy_1mib", "1 MiB copy, mov loop")]


def fields(words):
    """The key=value words of a line, as a dict."""
    return dict(x.split("=", 1) for x in words if "=" in x)


def parse(path):
    """(rows, errors, done, clocksource): rows maps a key to dict(unit, guest = the program's
    own figure, wall = the figure timed on the host from the row's EMUBENCH-MARK line to its
    result line, check, secs = the program's elapsed seconds, host_secs = the host's);
    errors are the EMUBENCH-ERROR lines; done says EMUBENCH-DONE came."""
    rows, errors, done, marks, clocksource = {}, [], False, {}, None
    for line in open(path, errors="replace"):
        ts, _, text = line.rstrip("\n").partition(" ")
        f = text.split()
        if not f:
            continue
        if f[0] == "EMUBENCH-INIT":
            clocksource = fields(f[1:]).get("clocksource")
        elif f[0] == "EMUBENCH-MARK" and len(f) > 1:
            marks[f[1]] = float(ts)
        elif f[0] == "EMUBENCH" and len(f) >= 4:
            kv = fields(f[4:])
            key, unit = f[1], f[2]
            wall = float(ts) - marks.get(key, float("nan"))
            n, insns = int(kv.get("n", 0)), int(kv.get("insns", 0))
            if unit == "MIPS":
                w = insns / wall / 1e6 if wall > 0 else math.nan
            else:
                w = wall * (1e9 if unit == "ns" else 1e6) / n if n else math.nan
            rows[key] = dict(unit=unit, guest=float(f[3]), wall=w, check=kv.get("check"),
                             secs=float(kv.get("secs", "nan")), host_secs=wall)
        elif f[0] == "EMUBENCH-ERROR":
            errors.append(text)
        elif f[0] == "EMUBENCH-DONE":
            done = True
    return rows, errors, done, clocksource


def median_rows(runs):
    """The rows of several runs of the same program (each as `parse` gives them), merged: every
    figure is the median over the runs that have the row, and the per-run figures the median came from are kept (`guest_runs`, `wall_runs`). Returns (rows,
    errors); a row whose check differs between runs is an error (the checks depend only on the
    program)."""
    rows, errors = {}, []
    keys = [k for k, _ in ROWS] + sorted({k for r in runs for k in r} - {k for k, _ in ROWS})
    for key in keys:
        have = [r[key] for r in runs if key in r]
        if not have:
            continue
        checks = {h["check"] for h in have}
        if len(checks) > 1:
            listed = ", ".join(sorted(map(str, checks)))
            errors.append(f"{key}: the runs disagree on check ({listed})")

        def med(name):
            v = [h[name] for h in have if math.isfinite(h[name])]
            return statistics.median(v) if v else math.nan

        rows[key] = dict(unit=have[0]["unit"], check=have[0]["check"], guest=med("guest"), wall=med("wall"), secs=med("secs"),
                         host_secs=med("host_secs"), guest_runs=[h["guest"] for h in have],
                         wall_runs=[h["wall"] for h in have])
    return rows, errors


def parse_runs(name, paths, also=""):
    """`parse` for each of one runner's logs (`name` labels its messages), then `median_rows`.
    Prints what went wrong on stderr; returns (rows, clocksource of the last run, ok). `also`
    names more files to look at when a run did not finish."""
    each, ok, clocksource = [], True, None
    for i, path in enumerate(paths, 1):
        rows, errors, done, clocksource = parse(path)
        each.append(rows)
        for e in errors:
            print(f"{name}, run {i}: {e}", file=sys.stderr)
        if errors or not done:
            ok = False
            if not done:
                print(f"{name}, run {i}: EMUBENCH-DONE missing; see {path}{also}",
                      file=sys.stderr)
    rows, errors = median_rows(each)
    for e in errors:
        print(f"{name}: {e}", file=sys.stderr)
        ok = False
    return rows, clocksource, ok
