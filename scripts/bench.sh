#!/usr/bin/env bash
# The benchmark suite, as root: medians and p90 in microseconds, measured side by side on
# this machine. Builds what it runs: the release binaries, the probe program, and a static
# `true` and an open-many program (C, glibc static) for the headline and ptrace comparisons.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --bins
mkdir -p target/bench
printf 'int main(void) { return 0; }\n' > target/bench/true.c
cc -static -O2 -o target/bench/true-static target/bench/true.c
cat > target/bench/open-many.c <<'C'
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
/* open-many PATH N [thread]: opens and closes PATH N times; with "thread", a second thread
 * waits meanwhile (blocked in pause). Exits 1 if an open fails. */
static void *wait_forever(void *unused) {
    (void)unused;
    for (;;) pause();
    return NULL;
}
int main(int argc, char **argv) {
    long n = argc > 2 ? atol(argv[2]) : 1;
    pthread_t thread;
    if (argc > 3 && pthread_create(&thread, NULL, wait_forever, NULL)) return 2;
    for (long i = 0; i < n; i++) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0) return 1;
        close(fd);
    }
    return 0;
}
C
cc -static -O2 -pthread -o target/bench/open-many target/bench/open-many.c
echo "runbox benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs"
cargo bench --locked --bench container
echo
cargo bench --locked --bench limits
echo
cargo bench --locked --bench ptrace
echo
cargo build --release --locked -p runbox-tests --bin runbox-load
python3 scripts/bench-serve.py target/release/runbox
