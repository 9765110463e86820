#!/bin/bash
# The non-root part of the emulated x86_64 run (run.sh): as `judge`, in a user scope with
# Delegate=yes. Without root a container has one id and its room built in, and serves one
# run (README, Without root). The mode-by-mode cases run in container mode only, as in
# run.sh. Prints its results and a last line "counts PASSED FAILED".
exec 2>&1
S=/share
# shellcheck source=tests/emulated/systemd/lib.sh
source $S/lib.sh
into_leaf
echo "guest: judge (uid $(id -u)) runs in $(cut -d: -f3 /proc/self/cgroup)"
tests "user: container" "$S/deps/container" --skip ::namespace
tests "user: pool" "$S/deps/pool"
tests "user: limits" "$S/deps/limits" --skip ::namespace
measure user
echo "counts $passed $failed"
