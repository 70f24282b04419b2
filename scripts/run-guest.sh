#!/usr/bin/env bash
# Boots the Debian test disk in emu on this terminal (serial console: C-a x quits).
# Extra arguments go to `emu run`, e.g. --snapshot or -m 256.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=$(bash scripts/guest-image.sh)
cargo build --release -q -p emu-frontend
exec target/release/emu run --nographic "$@" "$dir/disk.img"
