#!/usr/bin/env bash
# The benchmark suite, as root: medians and p90 in microseconds, measured side by side on
# this machine. Builds what it runs: the release binaries, the probe program, and a static
# `true` and an open-many program (C, glibc static) for the headline and ptrace comparisons,
# and a static ping and pong for the interactive group's.
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
# A static program that writes 4 KiB to ./out, padded to 1 MiB (an ELF runs with bytes
# after its end): the binary of the files benchmark.
cat > target/bench/write4k.c <<'C'
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    static char buf[4096];
    int fd = open("out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    return fd < 0 || write(fd, buf, sizeof buf) != sizeof buf;
}
C
cc -static -O2 -o target/bench/write4k-1m target/bench/write4k.c
truncate -s 1M target/bench/write4k-1m
# ping N: writes one byte and reads one back, N times; pong: echoes each byte until EOF.
cat > target/bench/ping.c <<'C'
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1;
    char c = 'x';
    for (long i = 0; i < n; i++)
        if (write(1, &c, 1) != 1 || read(0, &c, 1) != 1) return 1;
    return 0;
}
C
cat > target/bench/pong.c <<'C'
#include <unistd.h>
int main(void) {
    char c;
    while (read(0, &c, 1) == 1)
        if (write(1, &c, 1) != 1) return 1;
    return 0;
}
C
cc -static -O2 -o target/bench/ping target/bench/ping.c
cc -static -O2 -o target/bench/pong target/bench/pong.c
echo "runbox benchmarks: $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs"
cargo bench --locked --bench container
echo
cargo bench --locked --bench limits
echo
cargo bench --locked --bench ptrace
echo
cargo build --release --locked -p runbox-tests --bin runbox-load
python3 scripts/bench-serve.py target/release/runbox
cargo bench --locked --bench files
cargo bench --locked --bench groups
