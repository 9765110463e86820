#!/bin/bash
# The emulated x86_64 run's driver (scripts/emulated-x86.sh), as root in runbox-guest.service
# (Delegate=yes): the integration test binaries built on the host (container mode, every
# limit and verdict, the pool, the fresh room), a few checks of how runbox finds its cgroup
# under systemd, the measurements for the report, then the test binaries again (but the
# fresh room's) as the non-root user `judge` in a delegated user scope (user.sh). Prints
# one "N passed, N failed" line, which the host script checks, and powers off.
exec 2>&1
S=/share
# shellcheck source=tests/emulated/systemd/lib.sh
source $S/lib.sh
into_leaf
install -m 755 $S/runbox-probe /usr/local/bin/runbox-probe
echo "guest: $(uname -srm), $(nproc) CPUs, systemd $(systemctl --version | awk 'NR == 1 { print $2 }')"
echo "guest: root's tests run in $(cut -d: -f3 /proc/self/cgroup)"
echo "guest: clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
echo "guest: tests start at $(uptime_s) s since boot"

# Through `runbox run`, which these tests drive, namespace mode takes container mode's
# path (a container made for the run): the mode-by-mode cases run in container mode only
# here (the host runs both).
tests "root: container" "$S/deps/container" --skip ::namespace
tests "root: pool" "$S/deps/pool"
tests "root: limits" "$S/deps/limits" --skip ::namespace
# The fresh room: hostile runs through one warm container (python3 is in the rootfs).
tests "root: fresh room" "$S/deps/fresh_room"
tests "root: the next program forked ahead" "$S/deps/ahead"

R="$S/runbox run --json"
ok='"status":"ok"'
# A plain scope, not delegated, as a login session's: the documented error, exit 3.
check "root: a non-delegated scope gets the error naming both ways out" 'Delegate=yes' \
    'RUNBOX_CGROUP_PARENT' expect_exit 3 systemd-run --quiet --scope -p Delegate=no $R -- /bin/true
# A delegated scope of runbox alone: it moves itself into runbox/self.
check "root: runbox alone in a delegated scope moves into runbox/self" '^hi$' "$ok" \
    systemd-run --quiet --scope -p Delegate=yes $R -- /bin/echo hi
# From the same plain scope, with a parent named: works.
mkdir -p /sys/fs/cgroup/judge
check "root: RUNBOX_CGROUP_PARENT names a parent runbox may own" '^hi$' "$ok" \
    systemd-run --quiet --scope -p Delegate=no --setenv=RUNBOX_CGROUP_PARENT=/judge $R -- /bin/echo hi
left=$(find /sys/fs/cgroup -name 'c-*' -type d | wc -l)
check "root: no cgroup of a run left" '^0$' '' echo "$left"
measure root

echo "guest: the non-root set starts at $(uptime_s) s since boot"
# The non-root set: as `judge`, in a scope of the user manager with Delegate=yes. Its
# lines pass through as they come; its last one is "counts PASSED FAILED".
uid=$(id -u judge)
systemctl start "user@$uid.service"
runuser -u judge -- env XDG_RUNTIME_DIR=/run/user/$uid \
    systemd-run --user --quiet --scope -p Delegate=yes -- bash $S/user.sh | tee /run/user.out |
    grep -v '^counts '
counts=$(awk '/^counts / { print $2, $3 }' /run/user.out | tail -1)
if [ -n "$counts" ]; then
    passed=$((passed + ${counts% *}))
    failed=$((failed + ${counts#* }))
else
    failed=$((failed + 1))
    echo "FAIL user: no counts from user.sh"
fi

echo "guest: tests end at $(uptime_s) s since boot"
echo "$passed passed, $failed failed"
systemctl poweroff --no-block
