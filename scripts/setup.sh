#!/usr/bin/env bash
# Installs what building and testing need on a fresh machine of this project's kind
# (Debian with a Rust toolchain). Idempotent; quiet when everything is present.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v tmux >/dev/null || need+=(tmux)   # tests/display_tty.rs drives emu's display in a tmux pane
# The guest benchmark (testdata/guests/emubench.c) is a static i386 program: gcc -m32 needs
# the 32-bit crt files, libc and libgcc that gcc-multilib brings.
m32_links() {
    local d
    d=$(mktemp -d)
    echo 'int main(void) { return 0; }' >"$d/t.c"
    gcc -m32 -static -o "$d/t" "$d/t.c" >/dev/null 2>&1
    local rc=$?
    rm -rf "$d"
    return $rc
}
command -v gcc >/dev/null && ! m32_links && need+=(gcc-multilib)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "${need[@]}"
    else
        echo "setup: missing ${need[*]}; install them (apt-get install ${need[*]})" >&2
        exit 1
    fi
fi
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt 2>/dev/null || true
