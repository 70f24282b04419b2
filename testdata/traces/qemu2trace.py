#!/usr/bin/env python3
"""Convert a QEMU `-d cpu,exec,nochain,int` log into emu's compact reference-trace format.

usage:
    qemu2trace.py LOG OUT.trace.gz [--name NAME] [--meta KEY=VALUE ...] [--exit-pc 0xFFF02]
    qemu2trace.py --dump TRACE.trace.gz [--first N]
    qemu2trace.py --listing NASM.lst OUT.lst

With `-accel tcg,one-insn-per-tb=on` every translation block is one guest instruction, and with
`-d exec,nochain` QEMU logs a "Trace" line and (with `-d cpu`) the full register state *before*
each executed block. Record 0 is therefore the reset state and record k+1 the state after the
k-th instruction (or after the k-th instruction faulted and its exception was delivered).

The program ends by executing `out 0xF4, al` at linear address EXIT_PC (0xFFF02). QEMU's
isa-debug-exit device stops the VM a variable number of instructions later (sometimes none), so
the trace is cut at that instruction and a last record, the state after the OUT (EIP + 2,
nothing else changes), is added.

Binary format (gzip'd, all integers little-endian):
    b"EMUTRACE"                     magic
    u32 version                     1
    u32 n, n bytes                  UTF-8 header text, "key: value" lines
    u16 nfields, nfields x (u8 len, name bytes)
    u32 nrecords
    nrecords x record:
        LEB128 varint mask          bit i set: field i changed since the previous record
        u32 value for every set bit, in increasing bit order
Record 0 has every bit set. Field names are listed in FIELDS below; "event" is not CPU state:
it describes the interrupt or exception QEMU delivered while producing this record (0: none),
as 0x80000000 | software << 30 | vector << 16 | (error code & 0xFFFF). QEMU logs these only in
protected mode.
"""

import argparse
import gzip
import re
import struct
import sys

SEGS = ["es", "cs", "ss", "ds", "fs", "gs"]
FIELDS = (
    ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags"]
    + SEGS
    + [s + ".base" for s in SEGS]
    + [s + ".limit" for s in SEGS]
    + [s + ".attr" for s in SEGS]
    + ["cr0", "cr2", "cr3", "cr4", "cpl"]
    + ["gdtr.base", "gdtr.limit", "idtr.base", "idtr.limit", "ldtr", "tr"]
    + ["dr0", "dr1", "dr2", "dr3", "dr6", "dr7"]
    + ["event"]
)
INDEX = {n: i for i, n in enumerate(FIELDS)}
MAGIC = b"EMUTRACE"
VERSION = 1

RE_TRACE = re.compile(r"^Trace \d+: \S+ \[([0-9a-f]+)/([0-9a-f]+)/")
RE_KV = re.compile(r"([A-Z][A-Z0-9]*)\s*=\s*([0-9a-f]+)")
RE_SEG = re.compile(r"^(ES|CS|SS|DS|FS|GS|LDT|TR) ?=([0-9a-f]{4}) ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8})")
RE_DT = re.compile(r"^(GDT|IDT)=\s+([0-9a-f]{8}) ([0-9a-f]{8})")
RE_INT = re.compile(r"^\s*\d+: v=([0-9a-f]+) e=([0-9a-f]+) i=(\d)")


def parse_log(path):
    """Yields (state dict, linear pc, events list) per executed instruction."""
    records = []
    cur = None  # state being filled from a "Trace" dump
    in_trace_dump = False
    pending_events = []
    with open(path, "r", errors="replace") as f:
        for line in f:
            m = RE_TRACE.match(line)
            if m:
                if cur is not None:
                    records.append(cur)
                cur = {"_pc": int(m.group(2), 16), "_events": pending_events}
                pending_events = []
                in_trace_dump = True
                continue
            m = RE_INT.match(line)
            if m:
                # An interrupt is being delivered; QEMU dumps the registers again after this
                # line, which must not overwrite the "Trace" state.
                pending_events.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))))
                in_trace_dump = False
                continue
            if not in_trace_dump or cur is None:
                continue
            m = RE_SEG.match(line)
            if m:
                name, sel, base, limit, flags = m.groups()
                n = name.lower()
                if n in ("ldt", "tr"):
                    cur["ldtr" if n == "ldt" else "tr"] = int(sel, 16)
                else:
                    cur[n] = int(sel, 16)
                    cur[n + ".base"] = int(base, 16)
                    cur[n + ".limit"] = int(limit, 16)
                    # QEMU keeps descriptor bits 8..23 of the high dword; bits 0-7 of this value
                    # are the access byte, bits 12-15 AVL/L/D/G (emu's Seg::attr layout).
                    cur[n + ".attr"] = (int(flags, 16) >> 8) & 0xF0FF
                continue
            m = RE_DT.match(line)
            if m:
                n = m.group(1).lower() + "r"
                cur[n + ".base"] = int(m.group(2), 16)
                cur[n + ".limit"] = int(m.group(3), 16)
                continue
            if line.startswith(("EAX=", "ESI=", "EIP=", "CR0=", "DR0=", "DR6=")):
                for k, v in RE_KV.findall(line):
                    k = k.lower()
                    if k == "efl":
                        k = "eflags"
                    if k in INDEX:
                        cur[k] = int(v, 16)
                continue
    if cur is not None:
        records.append(cur)
    return records


def event_value(events):
    if not events:
        return 0
    v, e, sw = events[-1]
    return 0x80000000 | (sw << 30) | ((v & 0xFF) << 16) | (e & 0xFFFF)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode(records, header):
    out = bytearray(MAGIC)
    out += struct.pack("<I", VERSION)
    h = header.encode()
    out += struct.pack("<I", len(h)) + h
    out += struct.pack("<H", len(FIELDS))
    for n in FIELDS:
        out += struct.pack("<B", len(n)) + n.encode()
    out += struct.pack("<I", len(records))
    prev = None
    for r in records:
        vals = [r[n] & 0xFFFFFFFF for n in FIELDS]
        mask = 0
        for i, v in enumerate(vals):
            if prev is None or prev[i] != v:
                mask |= 1 << i
        out += varint(mask)
        for i, v in enumerate(vals):
            if mask >> i & 1:
                out += struct.pack("<I", v)
        prev = vals
    return bytes(out)


def decode(data):
    assert data[:8] == MAGIC, "not an emu trace"
    pos = 8
    (version,) = struct.unpack_from("<I", data, pos)
    pos += 4
    (hl,) = struct.unpack_from("<I", data, pos)
    pos += 4
    header = data[pos : pos + hl].decode()
    pos += hl
    (nf,) = struct.unpack_from("<H", data, pos)
    pos += 2
    names = []
    for _ in range(nf):
        ln = data[pos]
        names.append(data[pos + 1 : pos + 1 + ln].decode())
        pos += 1 + ln
    (nr,) = struct.unpack_from("<I", data, pos)
    pos += 4
    cur = [0] * nf
    recs = []
    for _ in range(nr):
        mask = 0
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            mask |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        for i in range(nf):
            if mask >> i & 1:
                (cur[i],) = struct.unpack_from("<I", data, pos)
                pos += 4
        recs.append(list(cur))
    return version, header, names, recs


def compact_listing(src, dst):
    """Keeps, from a nasm `-Le -l` listing, one line per emitted instruction or datum:
    "OFFSET source" (ROM offset in hex, the preprocessed source text). The test harness uses
    it to show the source of an instruction that diverges."""
    out = []
    with open(src, errors="replace") as f:
        for line in f:
            m = re.match(r"^\s*\d+ ([0-9A-F]{8}) ([0-9A-F()\[\]]+(?:<rep [0-9A-F]+h>)?-?)\s+(.*)$", line.rstrip("\n"))
            if not m:
                continue
            off, text = m.group(1), m.group(3).strip()
            text = re.sub(r"^<\d+>\s*", "", text)
            text = re.sub(r"^;;;\s*", "", text)
            text = re.sub(r"\s+", " ", text)
            out.append(f"{off} {text}\n")
    with open(dst, "w") as f:
        f.writelines(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--name", default="")
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--exit-pc", default="0xFFF02")
    ap.add_argument("--dump", action="store_true", help="print a trace file as text")
    ap.add_argument("--first", type=int, default=None)
    ap.add_argument("--listing", action="store_true", help="compact a nasm -Le listing")
    a = ap.parse_args()

    if a.listing:
        compact_listing(a.log, a.out)
        return

    if a.dump:
        version, header, names, recs = decode(gzip.open(a.log).read())
        print(header, end="")
        print(f"records: {len(recs)}")
        prev = None
        for k, r in enumerate(recs[: a.first]):
            ch = [f"{n}={v:x}" for i, (n, v) in enumerate(zip(names, r)) if prev is None or prev[i] != v]
            print(f"{k:6}: " + " ".join(ch))
            prev = r
        return

    recs = parse_log(a.log)
    if not recs:
        sys.exit("no Trace records in the log (was it made with -d cpu,exec,nochain?)")
    exit_pc = int(a.exit_pc, 0)
    end = next((i for i, r in enumerate(recs) if r["_pc"] == exit_pc), None)
    if end is None:
        sys.exit(f"the program never reached the exit at {exit_pc:#x} (triple fault or hang?)")
    # QEMU stops a variable number of instructions after the OUT (sometimes none), so the
    # state after it is made here: `out imm8, al` changes nothing but EIP (2 bytes).
    last = dict(recs[end])
    last["eip"] = (last["eip"] + 2) & 0xFFFFFFFF
    last["_pc"] = exit_pc + 2
    last["_events"] = []
    recs = recs[: end + 1] + [last]
    for r in recs:
        missing = [n for n in FIELDS if n != "event" and n not in r]
        if missing:
            sys.exit(f"record at pc {r['_pc']:#x} lacks {missing}")
        r["event"] = event_value(r["_events"])
    header = f"program: {a.name}\nrecords: {len(recs)}\n" + "".join(m.replace("=", ": ", 1) + "\n" for m in a.meta)
    data = encode(recs, header)
    # No file name and a zero time stamp in the gzip header: regenerating gives identical bytes.
    with open(a.out, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as g:
        g.write(data)
    print(f"{a.out}: {len(recs)} records, {len(data)} bytes raw")


if __name__ == "__main__":
    main()
