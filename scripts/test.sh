#!/usr/bin/env bash
# The whole test suite, as the README names it and .ci/run calls it. Needs root (the tests
# make real namespaces and mounts). Installs what it needs through scripts/setup.sh,
# scripts/cross-env.sh, scripts/emulated-arm.sh and scripts/emulated-x86.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "test: run as root: the suite creates real user, pid and mount namespaces" >&2
    exit 1
fi
scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lint: host crates"
cargo clippy --locked --all-targets -- -D warnings
step "lint: init (its own target, as build.rs builds it)"
CARGO_TARGET_DIR=target/init-lint cargo clippy --locked --release --package runbox-init \
    --target x86_64-unknown-linux-musl -- -D warnings

step "docs: rustdoc without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps --package runbox --package runbox-shared

step "unit and integration tests"
cargo test --locked

step "PyPI's go-judge client against runbox serve"
scripts/gojudge-py.sh

step "static cross builds"
scripts/cross-build.sh

step "unit tests on aarch64 and armv7 (qemu-user)"
scripts/qemu-user-tests.sh

step "the smoke suite on emulated arm64 and armhf kernels (qemu-system)"
scripts/emulated-arm.sh

step "the integration tests under pure cgroup v2 and systemd, as root and not (emulated x86_64 guest)"
scripts/emulated-x86.sh
