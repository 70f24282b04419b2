#!/bin/sh
# Installs the tools that regenerate the reference traces (run as root; idempotent):
#   nasm                      Debian bookworm
#   qemu-system-x86 (10.x)    bookworm-backports (the machine carries qemu-utils 10 from there;
#                             bookworm's own QEMU 7.2 would conflict with it)
# apt reads a private sources list and keeps its indexes in a private directory, so the
# host's apt configuration is not changed. `apt-get update` runs once, only when something is
# missing. CI does not run this: the ROM images and traces are committed.
set -eu

have_qemu() {
    command -v qemu-system-i386 >/dev/null 2>&1 &&
        qemu-system-i386 --version | grep -q 'version 1[0-9]\.'
}
if command -v nasm >/dev/null 2>&1 && have_qemu; then
    exit 0
fi

P=${APT_PRIVATE_DIR:-/var/tmp/emu-traces-apt}
mkdir -p "$P/lists/partial"
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$P/sources.list" <<LIST
deb [signed-by=$KEY] http://deb.debian.org/debian bookworm main
deb [signed-by=$KEY] http://deb.debian.org/debian bookworm-updates main
deb [signed-by=$KEY] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$KEY] http://deb.debian.org/debian bookworm-backports main
LIST
o="-o Dir::Etc::SourceList=$P/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$P/lists"

# shellcheck disable=SC2086
apt-get $o update
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get $o install -y --no-install-recommends nasm
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get $o install -y --no-install-recommends \
    -t bookworm-backports qemu-system-x86

nasm -v
qemu-system-i386 --version | head -1
have_qemu || { echo "setup.sh: qemu-system-i386 10.x was not installed" >&2; exit 1; }
