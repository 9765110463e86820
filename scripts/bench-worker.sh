#!/usr/bin/env bash
# `runbox worker` beside `runbox batch`, as root, side by side in one run: the same RUNS runs
# of /bin/true (default 5000) through `runbox batch --parallel 2`, and through two workers
# (two processes, as on two machines) sharing one local redis-server, with `--parallel 1`
# each (as many runs at once as the batch) and with `--parallel 2` each (the default on
# this 2-CPU machine); ROUNDS rounds (default 5), interleaved, each timed from the start of
# the runbox processes to the last result; medians printed.
# The requests are in the stream before the workers start (as a judge's queue would be);
# redis-server runs on a free loopback port in a temp dir, without persistence.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5000}
ROUNDS=${ROUNDS:-5}
scripts/setup.sh
cargo build --release --locked --bins
runbox=$PWD/target/release/runbox

work=$(mktemp -d /tmp/runbox-bench-worker.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
    --daemonize no --logfile "$work/redis.log" &
redis_pid=$!
cleanup() {
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cli() { redis-cli -p "$port" "$@"; }
until cli ping >/dev/null 2>&1; do sleep 0.05; done

# The requests: batch lines, and the same lines as XADDs in Redis's protocol.
python3 - "$RUNS" "$work" <<'PY'
import sys
runs, work = int(sys.argv[1]), sys.argv[2]
lines = ['{"id":"r%d","argv":["/bin/true"]}' % i for i in range(runs)]
with open(f"{work}/batch.jsonl", "w") as f:
    f.write("".join(line + "\n" for line in lines))
def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
with open(f"{work}/xadd.resp", "wb") as f:
    f.write(b"".join(resp("XADD", "runbox:requests", "*", "request", l) for l in lines))
PY

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One batch round: milliseconds for RUNS runs.
batch_round() {
    local start
    start=$(now_ms)
    "$runbox" batch --parallel 2 < "$work/batch.jsonl" > "$work/batch.out"
    local took=$(( $(now_ms) - start ))
    [ "$(wc -l < "$work/batch.out")" = "$RUNS" ] || { echo "batch: results missing" >&2; exit 1; }
    echo "$took"
}

# One worker round with the given worker shapes (the --parallel of each worker).
worker_round() {
    cli flushall >/dev/null
    cli --pipe < "$work/xadd.resp" >/dev/null
    local start pids=() n=0
    start=$(now_ms)
    for parallel in "$@"; do
        "$runbox" worker --redis "redis://127.0.0.1:$port" --consumer "w$n" \
            --parallel "$parallel" 2>>"$work/worker.log" &
        pids+=($!)
        n=$((n + 1))
    done
    # One process asking XLEN every 2 ms until the last result is in (redis-cli -r would
    # block-buffer its answers into a pipe).
    python3 - "$port" "$RUNS" <<'PY'
import socket, sys, time
port, runs = int(sys.argv[1]), int(sys.argv[2])
con = socket.create_connection(("127.0.0.1", port))
while True:
    con.sendall(b"XLEN runbox:results\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += con.recv(64)
    if int(reply[1:-2]) >= runs:
        break
    time.sleep(0.002)
PY
    local took=$(( $(now_ms) - start ))
    kill -TERM "${pids[@]}"
    wait "${pids[@]}"
    [ "$(cli xlen runbox:results)" = "$RUNS" ] || { echo "worker: results missing" >&2; exit 1; }
    echo "$took"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "runbox worker benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs, $RUNS runs of /bin/true, $ROUNDS rounds"
: > "$work/batch.ms"; : > "$work/two.ms"; : > "$work/four.ms"
for round in $(seq "$ROUNDS"); do
    b=$(batch_round); t=$(worker_round 1 1); f=$(worker_round 2 2)
    echo "$b" >> "$work/batch.ms"; echo "$t" >> "$work/two.ms"; echo "$f" >> "$work/four.ms"
    echo "round $round: batch --parallel 2 $b ms, two workers --parallel 1 $t ms, two workers --parallel 2 $f ms"
done
b=$(median < "$work/batch.ms"); t=$(median < "$work/two.ms"); f=$(median < "$work/four.ms")
rate() { awk -v ms="$1" -v n="$RUNS" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
echo "medians: batch --parallel 2 $b ms ($(rate "$b") runs/s); two workers --parallel 1 $t ms ($(rate "$t") runs/s, $(ratio "$t" "$b") x batch); two workers --parallel 2 $f ms ($(rate "$f") runs/s, $(ratio "$f" "$b") x batch)"
