#!/usr/bin/env python3
"""runbox serve beside runbox batch, measured side by side in one run (as root).

1. /bin/true with 2 requests kept in flight: `POST /run` (2 HTTP clients, keep-alive) and
   `runbox batch --parallel 2` (2 lines kept in flight on its stdin): runs per second and
   the median request latency, rounds interleaved, medians over the rounds.
2. A judge-like load over HTTP: a C++ compile (copyIn content, copyOutCached binary), then
   50 test runs from the cached binary, each with its stdin as content and its stdout
   collected: the per-test-run median beside the plain warm run of /bin/true.

Usage: scripts/bench-serve.py [RUNBOX_BINARY]  (default target/release/runbox; the load
client runbox-load beside it: cargo build --release -p runbox-tests --bin runbox-load)
The load of part 1 comes from a native client (tests/load), part 2 from this script;
loopback only; every loop is bounded.
"""

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

RUNBOX = sys.argv[1] if len(sys.argv) > 1 else "target/release/runbox"
ROUNDS = 5
PER_ROUND = 1000

LIMITS = {"cpuLimit": 1_000_000_000, "memoryLimit": 64 << 20, "procLimit": 16}
TRUE_BODY = json.dumps({"cmd": [dict(LIMITS, args=["/bin/true"], env=["PATH=/usr/bin:/bin"])]})


def start_server():
    server = subprocess.Popen(
        [RUNBOX, "serve", "--http-addr", "127.0.0.1:0", "--parallel", "2", "--log-level", "warn,runbox::serve=info,runbox::serve::http=warn"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        found = re.search(r"addr=(\S+)", line)
        if found:
            threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
            host, port = found.group(1).rsplit(":", 1)
            return server, host, int(port)
    server.kill()
    sys.exit("runbox serve did not start")


def post(conn, path, body):
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        sys.exit(f"{path}: HTTP {response.status}: {data[:200]!r}")
    return json.loads(data)


LOAD = os.path.join(os.path.dirname(RUNBOX), "runbox-load")
TRUE_LINE = json.dumps({"id": "t", "argv": ["/bin/true"], "time": "1s", "memory": "64M"})


def load(*args):
    """runs/s and median latency (s) from the native load client (tests/load)."""
    out = subprocess.run([LOAD, *map(str, args)], check=True, capture_output=True, text=True).stdout
    rate, latency_us = map(float, out.split())
    return rate, latency_us / 1e6


def judge_flow(host, port):
    conn = http.client.HTTPConnection(host, port)
    source = "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}\n"
    files = [{"content": ""}, {"name": "stdout", "max": 10240}, {"name": "stderr", "max": 10240}]
    compile_cmd = dict(LIMITS, args=["/usr/bin/g++", "-O2", "a.cc", "-o", "a"], env=["PATH=/usr/bin:/bin"],
                       files=files, cpuLimit=30_000_000_000, clockLimit=60_000_000_000,
                       memoryLimit=512 << 20, procLimit=50, copyIn={"a.cc": {"content": source}},
                       copyOut=["stdout", "stderr"], copyOutCached=["a"])
    started = time.perf_counter()
    compiled = post(conn, "/run", json.dumps({"cmd": [compile_cmd]}))[0]
    compile_s = time.perf_counter() - started
    if compiled["status"] != "Accepted":
        sys.exit(f"compile: {compiled}")
    binary = compiled["fileIds"]["a"]
    tests, plain = [], []
    for i in range(50):
        cmd = dict(LIMITS, args=["./a"], env=["PATH=/usr/bin:/bin"], copyIn={"a": {"fileId": binary}},
                   files=[{"content": f"{i} {i}\n"}, {"name": "stdout", "max": 10240},
                          {"name": "stderr", "max": 10240}])
        t0 = time.perf_counter()
        result = post(conn, "/run", json.dumps({"cmd": [cmd]}))[0]
        tests.append(time.perf_counter() - t0)
        if result["status"] != "Accepted" or result["files"]["stdout"] != f"{2 * i}\n":
            sys.exit(f"test {i}: {result}")
        t0 = time.perf_counter()
        post(conn, "/run", TRUE_BODY)
        plain.append(time.perf_counter() - t0)
    conn.request("DELETE", f"/file/{binary}")
    conn.getresponse().read()
    return compile_s, tests, plain


def ms(seconds):
    return f"{seconds * 1000:.3f} ms"


def main():
    if os.geteuid() != 0:
        sys.exit("run as root (runbox makes containers)")
    server, host, port = start_server()
    try:
        serve_rates, serve_lat, batch_rates, batch_lat = [], [], [], []
        url = f"http://{host}:{port}/run"
        load("serve", url, 50, TRUE_BODY)  # warm
        for _ in range(ROUNDS):
            rate, lat = load("batch", RUNBOX, PER_ROUND, TRUE_LINE)
            batch_rates.append(rate)
            batch_lat.append(lat)
            rate, lat = load("serve", url, PER_ROUND, TRUE_BODY)
            serve_rates.append(rate)
            serve_lat.append(lat)
        b_rate, s_rate = statistics.median(batch_rates), statistics.median(serve_rates)
        b_lat, s_lat = statistics.median(batch_lat), statistics.median(serve_lat)
        print(f"runbox serve vs batch: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"{os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs, "
              f"{ROUNDS} interleaved rounds of {PER_ROUND} runs of /bin/true, 2 in flight")
        print(f"{'':28} {'runs/s':>9} {'median latency':>15}")
        print(f"{'runbox batch --parallel 2':28} {b_rate:9.0f} {ms(b_lat):>15}")
        print(f"{'POST /run, 2 clients':28} {s_rate:9.0f} {ms(s_lat):>15}")
        print(f"serve/batch runs/s: {s_rate / b_rate:.2f} (target >= 0.85); "
              f"latency over batch: {ms(s_lat - b_lat)} (target <= 0.3 ms)")
        compile_s, tests, plain = judge_flow(host, port)
        print(f"judge-like flow over HTTP: g++ compile {ms(compile_s)}; per test run "
              f"(copyIn fileId + stdin content + stdout collected) median {ms(statistics.median(tests))}, "
              f"beside plain /bin/true {ms(statistics.median(plain))}")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
