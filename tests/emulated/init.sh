#!/bin/busybox sh
# /init of the emulated arm run (scripts/emulated-arm.sh): runs the smoke suite as root in
# the guest and prints one "N passed, N failed" line, which the host script checks.
#
# The initramfs is the kernel's rootfs, which pivot_root cannot leave: the suite first
# moves itself onto a tmpfs with switch_root, as a real system's initramfs does.
B=/bin/busybox
if [ ! -e /.switched ]; then
    $B mkdir -p /newroot
    $B mount -t tmpfs -o size=256m,mode=755 newroot /newroot
    for entry in bin usr etc tmp init runbox secret; do
        $B cp -a "/$entry" /newroot/
    done
    $B touch /newroot/.switched
    exec $B switch_root /newroot /init
fi
$B --install -s /bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# What a system's init (systemd) does: delegate the controllers below the root.
echo "+cpu +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
echo "guest: $(uname -srm), $(nproc) CPUs"

passed=0
failed=0
# check NAME PATTERN1 PATTERN2 COMMAND...: both patterns (an empty one matches anything)
# must be found in what the command prints.
check() {
    name=$1
    first=$2
    second=$3
    shift 3
    out=$("$@" 2>&1)
    if echo "$out" | grep -q -- "$first" && echo "$out" | grep -q -- "$second"; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        echo "$out" | sed 's/^/    /'
    fi
}

R="/runbox run --json"
P=/usr/bin/probe
ok='"status":"ok"'
for mode in container namespace ptrace; do
    check "$mode: a program runs and says hello" '^hello$' "$ok" $R --mode $mode -- $P hello
    check "$mode: a CPU-time limit" '"status":"time_limit_exceeded"' '"detail":"cpu time"' \
        $R --mode $mode --time 300ms -- $P spin
    check "$mode: a memory limit" '"status":"memory_limit_exceeded"' '' \
        $R --mode $mode --memory 32M -- $P eat 100
    check "$mode: a disallowed syscall, named" '"status":"disallowed_syscall"' '"detail":"getppid"' \
        $R --mode $mode --profile strict -- $P getppid
done
check "container: host files are not there" '^errno 2$' "$ok" $R -- $P open /secret
check "namespace: host files are not there" '^errno 2$' "$ok" $R --mode namespace -- $P open /secret
check "ptrace: a host file outside the sets is denied" '"status":"file_access_denied"' \
    '"detail":"openat /secret (read)"' $R --mode ptrace -- $P open /secret
check "ptrace: an allowed file is read" '^ok$' "$ok" $R --mode ptrace --allow-read /secret -- $P open /secret
# The tracer skips a call with an errno through each arch's own means (NT_ARM_SYSTEM_CALL on
# arm64, PTRACE_SET_SYSCALL on arm): a soft ban, a missing file, a fork past the limit.
check "ptrace: a soft ban fails the call with EACCES" '^errno 13$' "$ok" \
    /runbox --config /etc/runbox.toml run --json --mode ptrace --profile soft -- $P open /secret
check "ptrace: a forbidden missing file fails with ENOENT" '^errno 2$' "$ok" \
    $R --mode ptrace -- $P open /no/such/file
check "ptrace: a fork past --processes fails with EAGAIN" '^forked 0 errno 11$' "$ok" \
    $R --mode ptrace -- $P fork 2
check "ptrace: forks within --processes are followed" '^forked 2 errno 0$' "$ok" \
    $R --mode ptrace --processes 2 -- $P fork 2
left=$(ls /sys/fs/cgroup/runbox 2>/dev/null | grep -c '^c-')
check "nothing left: no cgroup of a run" '^0$' '' echo "$left"

echo "$passed passed, $failed failed"
poweroff -f
