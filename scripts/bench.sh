#!/usr/bin/env bash
# The benchmark suite, as root: medians and p90 in microseconds, measured side by side on
# this machine. Builds what it runs: the release binaries, the probe program, and a static
# `true` (C, glibc static) for the headline comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --bins
mkdir -p target/bench
printf 'int main(void) { return 0; }\n' > target/bench/true.c
cc -static -O2 -o target/bench/true-static target/bench/true.c
echo "runbox benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs"
cargo bench --locked --bench container
echo
cargo bench --locked --bench limits
