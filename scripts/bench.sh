#!/usr/bin/env bash
# The benchmark suite, as root: medians and p90 in microseconds, measured side by side on
# this machine. Builds what it runs (release binaries, the probe program).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --bins
cargo bench --locked --bench limits
