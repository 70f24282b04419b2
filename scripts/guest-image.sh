#!/usr/bin/env bash
# Builds the Debian i386 test disks (once) into target/guest/: disk.img boots to a shell
# (label `linux`), test.img runs the disk check and powers off (label `test`). Needs root
# the first time (apt, for syslinux/mtools and the i386 packages). Prints the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/target/guest"
mkdir -p "$out"
if [ ! -f "$out/disk.img" ] || [ ! -f "$out/test.img" ] || [ ! -f "$out/vmlinuz" ]; then
    W="$out" IMG_NAME=disk.img DEFAULT_LABEL=linux sh testdata/guests/make-linux-disk.sh >"$out/build.log" 2>&1 \
        || { tail -20 "$out/build.log" >&2; echo "guest-image: building disk.img failed" >&2; exit 1; }
    W="$out" IMG_NAME=test.img DEFAULT_LABEL=test SKIP_APT_INSTALL=1 sh testdata/guests/make-linux-disk.sh >>"$out/build.log" 2>&1 \
        || { tail -20 "$out/build.log" >&2; echo "guest-image: building test.img failed" >&2; exit 1; }
fi
echo "$out"
