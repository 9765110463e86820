#!/usr/bin/env bash
# Runs the unit tests of runbox-shared and of the controller library for aarch64 and armv7
# under qemu-user: the protocol, the mount plan, units, status, the seccomp compiler with
# the arm syscall tables native, configurations, the cgroup v2 fake tree. (Namespaces,
# seccomp and ptrace do not work under qemu-user: those are for an emulated kernel.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck source=scripts/cross-env.sh
source scripts/cross-env.sh
for target in aarch64-unknown-linux-musl armv7-unknown-linux-gnueabihf; do
    echo "== unit tests on $target (qemu-user)"
    cargo test --locked --target "$target" --package runbox-shared --package runbox --lib
done
