#!/usr/bin/env bash
# Builds static release binaries of runbox (init embedded) for x86_64, aarch64 and armv7,
# and checks that each is a static executable of the right machine.
#
#   scripts/cross-build.sh [OUT_DIR]      (default: target/dist)
#
# Routes (see ../shared/TOOLCHAIN.md): x86_64 and aarch64 are musl-static, linked by the
# default cc and by rust-lld; armv7 has no musl std on stable, so the controller links glibc
# statically with Debian's arm-linux-gnueabihf-gcc, and its init links no libc at all.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/dist}
scripts/setup.sh

# shellcheck source=scripts/cross-env.sh
source scripts/cross-env.sh

mkdir -p "$out"
status=0
for spec in x86_64-unknown-linux-musl:x86-64 aarch64-unknown-linux-musl:aarch64 armv7-unknown-linux-gnueabihf:ARM; do
    target=${spec%%:*}
    machine=${spec#*:}
    cargo build --release --locked --package runbox --bin runbox --target "$target"
    bin="$out/runbox-$target"
    cp "target/$target/release/runbox" "$bin"
    description=$(file -b "$bin")
    size=$(stat -c %s "$bin")
    if [[ $description == *"statically linked"* || $description == *"static-pie linked"* ]] && [[ $description == *"$machine"* ]]; then
        printf '%-34s %9d bytes  %s\n' "$target" "$size" "$description"
    else
        echo "cross-build: $bin is not a static $machine executable: $description" >&2
        status=1
    fi
done
exit $status
