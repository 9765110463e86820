#!/usr/bin/env bash
# PyPI's go-judge client (go-judge 0.1.0, its RemoteSandbox, unmodified) against `runbox serve`:
# installs the client into a virtualenv under target/, starts the server on a free loopback
# port, runs tests/gojudge-py with pytest (which prints "N passed"), stops the server.
# As root, under the shared test lock: flock /work/test.lock scripts/gojudge-py.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runbox=${RUNBOX_BIN:-target/debug/runbox}
[ -x "$runbox" ] || cargo build --locked --bin runbox
venv=target/gojudge-py
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c 'import go_judge' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'go-judge==0.1.0'
fi
log=$(mktemp)
"$runbox" serve --http-addr 127.0.0.1:0 --parallel 2 2>"$log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
addr=
for _ in $(seq 600); do
    addr=$(sed -n 's/.*listening addr=\([0-9.:]*\).*/\1/p' "$log" | head -1)
    [ -n "$addr" ] && break
    kill -0 $server 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { echo "gojudge-py: runbox serve did not start" >&2; cat "$log" >&2; exit 1; }
RUNBOX_SERVE_URL="http://$addr" "$venv/bin/pytest" -q -p no:cacheprovider tests/gojudge-py
