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
# Every CPU, memory and process verdict, on the user manager's delegation (memory and
# pids, no cpu controller). Not the wall, output and stack limits: those are no cgroup's
# (a timer, RLIMIT_FSIZE, RLIMIT_STACK) and run as root above; skipping them keeps the
# guest within the suite's time (they take about a minute here).
tests "user: limits" "$S/deps/limits" --skip ::namespace --skip blocked_programs_meet_the_wall_limit \
    --skip floods_stop_at_the_output_limit --skip a_small_stack_overflows_as_a_signal
# Not the fresh room (tests/fresh_room.rs): without root each container serves one run and
# has its room built in (README, Without root), and its tests are of a warm container's
# rooms, run after run in one container: that the next run sees nothing of the last, that
# PID 1 refuses a program's prlimit and setpriority (init is the program's own uid here),
# and a mount of the test's own on the host, a take-over of a pool's container's mount
# namespace and a moved sandbox id range, which need root.
measure user
echo "counts $passed $failed"
