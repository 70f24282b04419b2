#!/bin/sh
# Rebuilds the reference traces: assembles every src/*.asm into a 64 KiB ROM image (NAME.bin,
# with its nasm listing NAME.lst), runs it under QEMU one instruction per translation block with
# the CPU state logged before each instruction, and converts the log into NAME.trace.gz.
#
#   sh regen.sh            all programs
#   sh regen.sh b_pmode    only the named ones
#
# Needs root once (setup.sh installs nasm and QEMU 10). CI does not run this: the images,
# listings and traces are committed. Logs are kept in $LOGDIR (default /tmp/emu-traces).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
sh ./setup.sh

# The CPU model QEMU emulates: a Pentium III (family 6 model 7, 686-class: PSE, PAE, PGE, SEP,
# CX8, CMOV, MSR, VME). The programs use no SSE/MMX/x87 beyond what the README says.
QEMU_CPU=pentium3
LOGDIR=${LOGDIR:-/tmp/emu-traces}
mkdir -p "$LOGDIR"
QEMU_VERSION=$(qemu-system-i386 --version | head -1)
NASM_VERSION=$(nasm -v)

if [ $# -gt 0 ]; then
    progs="$*"
else
    progs=$(cd src && ls ./*.asm | sed 's|^\./||; s|\.asm$||')
fi

for p in $progs; do
    nasm -f bin -I src/ -o "$p.bin" -Le -l "$LOGDIR/$p.lst" "src/$p.asm"
    # A compact listing, "ROM-offset source" per emitted line, for the test's messages.
    python3 qemu2trace.py --listing "$LOGDIR/$p.lst" "$p.lst"
    size=$(wc -c < "$p.bin")
    [ "$size" -eq 65536 ] || { echo "$p.bin is $size bytes, not 64 KiB" >&2; exit 1; }
    log="$LOGDIR/$p.log"
    rm -f "$log"
    # isa-debug-exit: `out 0xF4, al` ends QEMU with status (al << 1) | 1.
    # -no-reboot: a triple fault ends QEMU instead of resetting (the converter then fails,
    # since the program never reached its exit).
    # A program that loops forever would fill the disk at about 1 KiB per instruction: cap the
    # log at 64 MiB (some 50000 instructions) and the run at 60 s.
    status=0
    ( ulimit -f 131072; exec timeout 60 qemu-system-i386 -M pc -m 16 -cpu "$QEMU_CPU" -bios "$p.bin" -nographic \
        -monitor none -serial none -parallel none -net none -vga none \
        -accel tcg,one-insn-per-tb=on -d cpu,exec,nochain,int -D "$log" \
        -device isa-debug-exit,iobase=0xf4,iosize=1 -no-reboot ) || status=$?
    if [ "$status" -ne 1 ]; then
        echo "$p: QEMU exited with status $status (expected 1: out 0xF4 with AL = 0)" >&2
        exit 1
    fi
    python3 qemu2trace.py "$log" "$p.trace.gz" --name "$p" \
        --meta "qemu=$QEMU_VERSION" --meta "cpu=$QEMU_CPU" --meta "nasm=$NASM_VERSION" \
        --meta "rom_sha256=$(sha256sum "$p.bin" | cut -d' ' -f1)"
done
