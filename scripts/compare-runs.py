#!/usr/bin/env python3
"""Side-by-side timing of runbox commands: each command is run N times, interleaved (A, B,
A, B, ...), so that both see the same machine; prints the median and p90 of each, in ms,
and the ratio of medians to the first.

    scripts/compare-runs.py [-n 200] 'LABEL=COMMAND' 'LABEL=COMMAND' ...

e.g. two builds of runbox on the same run:
    scripts/compare-runs.py 'old=/tmp/runbox-old run --mode namespace -- /bin/true' \\
                            'new=target/release/runbox run --mode namespace -- /bin/true'
"""
import argparse, shlex, statistics, subprocess, sys, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("commands", nargs="+")
    args = ap.parse_args()
    runs = []
    for spec in args.commands:
        label, _, command = spec.partition("=")
        runs.append((label, shlex.split(command), []))
    for _ in range(args.n):
        for label, argv, times in runs:
            start = time.perf_counter()
            done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times.append((time.perf_counter() - start) * 1000)
            if done.returncode != 0:
                sys.exit(f"{label}: exit {done.returncode}")
    base = statistics.median(runs[0][2])
    for label, _, times in runs:
        times.sort()
        median = statistics.median(times)
        p90 = times[int(len(times) * 0.9) - 1]
        print(f"{label:<12} median {median:7.2f} ms  p90 {p90:7.2f} ms  ratio {median / base:5.2f}")

if __name__ == "__main__":
    main()
