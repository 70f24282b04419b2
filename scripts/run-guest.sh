#!/usr/bin/env bash
# Boots the Debian test disk in emu on this terminal: the PC's screen and keyboard full-screen
# (C-a h helps, C-a x quits), or the serial console when this is not a terminal. Extra
# arguments go to `emu run`, e.g. --snapshot, -m 256 or --nographic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dir=$(bash scripts/guest-image.sh)
cargo build --release -q -p emu-frontend
exec target/release/emu run "$@" "$dir/disk.img"
