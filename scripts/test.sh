#!/usr/bin/env bash
# Runs every test of the workspace: unit tests, the vendored hardware single-step suite,
# reference traces, property tests, the x87 host oracle. Optimized build with overflow
# checks (the `ci` profile), so the suites finish in minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
EMU_GUEST_DIR=$(bash scripts/guest-image.sh)
export EMU_GUEST_DIR
cargo fmt --all --check
cargo clippy --workspace --all-targets --profile ci -- -D warnings
cargo test --workspace --profile ci
