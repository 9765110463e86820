#!/usr/bin/env bash
# Installs what building and running runbox on this host needs, and nothing by hand:
# the pinned toolchain with its components and static targets (rust-toolchain.toml).
# Idempotent and quick once done. Cross linkers are installed by scripts/cross-build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v rustup >/dev/null; then
    echo "setup: rustup is required (https://rustup.rs); Debian's rustc cannot add targets" >&2
    exit 1
fi
# With no argument, rustup installs the toolchain of rust-toolchain.toml with its
# components and targets (an already installed toolchain gets the missing targets).
installed=$(rustup target list --installed 2>/dev/null || true)
complete=yes
while read -r target; do
    grep -qx "$target" <<<"$installed" || complete=no
done < <(sed -n 's/^ *"\([a-z0-9_]*-[a-z0-9_-]*\)",\?$/\1/p' rust-toolchain.toml)
cargo fmt --version >/dev/null 2>&1 || complete=no
cargo clippy --version >/dev/null 2>&1 || complete=no
if [ $complete = no ]; then
    rustup toolchain install
fi

# redis-server for the `runbox worker` tests, which start their own server on a loopback
# port in a temp dir (the package's own service is not needed: it is stopped if it started).
if ! command -v redis-server >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    if command -v service >/dev/null; then
        service redis-server stop >/dev/null 2>&1 || true
    fi
fi
