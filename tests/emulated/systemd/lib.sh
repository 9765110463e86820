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

# Container tests that run under the default 1 s CPU limit work that TCG can stretch past
# it on a loaded host (10 MiB through cat took 1.1 s of CPU there): skipped in the guest,
# run on the host.
TCG_SKIPS=(--skip ten_mib_pass_from_stdin_to_stdout_unchanged
    --skip human_output_goes_to_stderr_and_the_program_s_to_stdout)

# tests LABEL BINARY [ARGS...]: runs a cargo test binary and adds its counts.
tests() {
    local label=$1 out line p f
    shift
    out=$("$@" 2>&1)
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

# informational LABEL BINARY: runs a cargo test binary and prints its result line only.
informational() {
    local label=$1
    shift
    echo "$label: $("$@" 2>&1 | grep '^test result:' | tail -1)"
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
    for _ in 1 2 3 4 5; do
        /share/runbox run --json --time 2s -- "$probe" spin 300 | tr '\n' ' ' |
            sed "s/^/measure: $who: spin 300 ms (own us, then the result): /"
        echo
    done
    printf '%s\n' "{\"id\":\"big\",\"argv\":[\"$probe\",\"touch\",\"64\"]}" \
        "{\"id\":\"small\",\"argv\":[\"$probe\",\"touch\",\"8\"]}" \
        "{\"id\":\"big2\",\"argv\":[\"$probe\",\"touch\",\"32\"]}" |
        /share/runbox batch --parallel 1 | sed "s/^/measure: $who: warm container, touch: /"
}

# Every limit and verdict once in each mode through the runbox binary, with CPU limits
# generous enough for TCG (where touching 64 MiB takes about a second of CPU): the
# integration tests' own bounds are for native speed (see scripts/emulated-x86.sh).
verdicts() {
    local who=$1 p=/usr/local/bin/runbox-probe mode
    local slow="--time 30s --wall 60s"
    for mode in container namespace; do
        local R="/share/runbox run --json --mode $mode"
        check "$who: $mode: a CPU-time limit" '"status":"time_limit_exceeded"' '"detail":"cpu time"' \
            $R --time 300ms --wall 20s -- $p spin-forever
        check "$who: $mode: a wall limit" '"status":"time_limit_exceeded"' '"detail":"wall time"' \
            $R --time 5s --wall 500ms -- $p sleep
        check "$who: $mode: a memory limit" '"status":"memory_limit_exceeded"' '' \
            $R $slow --memory 32M -- $p touch 100
        check "$who: $mode: memory within the limit, its peak reported" '^touched$' '"memory_kib":[1-9]' \
            $R $slow --memory 64M -- $p touch 16
        check "$who: $mode: an output limit" '"status":"output_limit_exceeded"' '' \
            $R $slow --output 1M -- $p flood-ignoring /w/flood
        check "$who: $mode: a process limit" '^[1-9]$' '"status":"ok"' \
            $R $slow --processes 10 -- $p fork-count
        check "$who: $mode: a fault is signaled" '"status":"signaled"' '"signal":11' \
            $R $slow -- $p segv
        check "$who: $mode: a nonzero exit" '"status":"nonzero_exit"' '"exit_code":1' \
            $R $slow -- /bin/false
    done
}
