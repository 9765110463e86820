# Shared by run.sh and user.sh (sourced): counting, checks, the leaf, the measurements.
passed=0
failed=0

# A judge's process in a delegated cgroup moves into a leaf of it, so that runbox can
# enable controllers there (cgroup v2 allows none below a cgroup that holds processes).
into_leaf() {
    local cg
    cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)
    mkdir -p "$cg/harness" && echo $$ >"$cg/harness/cgroup.procs"
}

# TCG runs the tests' programs many times slower than a native CPU (a shell's start-up,
# page faults, syscalls): the test binaries give the runs whose time they do not check
# this many times their native CPU budget, and check timing against the bounds measured
# here (tests/support: slowdown, budget, tolerance). The limits under test stay as they are.
export RUNBOX_TEST_SLOWDOWN=10
# The pool's long test: 100 runs through one container here, 1000 on the host.
export RUNBOX_TEST_POOL_RUNS=100
# The fresh room's cache test: a file whose page cache the reading run leaves charged to its
# container (every filesystem of the guest but the share is a tmpfs, whose pages are not).
export RUNBOX_TEST_CACHE_FILE=/share/cache-file

# Seconds since the guest's boot.
uptime_s() {
    cut -d. -f1 /proc/uptime
}

# tests LABEL BINARY [ARGS...]: runs a cargo test binary and adds its counts. Each test's
# line carries the second (since boot) it ended at, for sizing the run.
tests() {
    local label=$1 out line p f
    shift
    out=$("$@" 2>&1 | while IFS= read -r l; do echo "$(uptime_s) $l"; done)
    echo "$out" | grep -E '^[0-9]+ test .* \.\.\. ' | sed "s/^/time: $label: /"
    out=$(echo "$out" | sed 's/^[0-9]* //')
    line=$(echo "$out" | grep '^test result:' | tail -1)
    p=$(echo "$line" | sed -n 's/.* \([0-9]*\) passed;.*/\1/p')
    f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed;.*/\1/p')
    if [ -z "$p" ] || [ -z "$f" ]; then
        failed=$((failed + 1))
        echo "FAIL $label: no test result"
        echo "$out" | tail -30 | sed 's/^/    /'
        return
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    echo "$label: $line"
    [ "$f" = 0 ] || echo "$out" | sed -n '/^failures:$/,$p' | head -80 | sed 's/^/    /'
}

# expect_exit CODE COMMAND...: runs it, fails (and says so) unless it exits CODE.
expect_exit() {
    local want=$1 code
    shift
    "$@"
    code=$?
    echo "exit $code"
    [ "$code" = "$want" ]
}

# check NAME PATTERN1 PATTERN2 COMMAND...: the command exits 0 and both patterns (an empty
# one matches anything) are found in what it prints.
check() {
    local name=$1 first=$2 second=$3 out code
    shift 3
    out=$("$@" 2>&1)
    code=$?
    if [ $code = 0 ] && echo "$out" | grep -q -- "$first" && echo "$out" | grep -q -- "$second"; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        echo "$out" | sed 's/^/    /'
    fi
}

# The figures of the report: CPU time reported against the program's own, and the peak of
# a small run after a big one in the same warm container (runbox batch). The probe is in
# /usr/local/bin (run.sh put it there), which the default root binds.
measure() {
    local who=$1 probe=/usr/local/bin/runbox-probe
    for _ in 1 2 3; do
        /share/runbox run --json --time 20s -- "$probe" spin 300 | tr '\n' ' ' |
            sed "s/^/measure: $who: spin 300 ms (own us, then the result): /"
        echo
    done
    /share/runbox run --json --time 20s -- "$probe" spin-each threads 2 300 | tr '\n' ' ' |
        sed "s/^/measure: $who: 2 threads of 300 ms (own us, then the result): /"
    echo
    local id mib
    for id in big:64 small:8 big2:32; do
        mib=${id#*:}
        printf '{"id":"%s","argv":["%s","touch","%s"],"time":"20s"}\n' "${id%:*}" "$probe" "$mib"
    done |
        /share/runbox batch --parallel 1 | sed "s/^/measure: $who: warm container, touch: /"
}
