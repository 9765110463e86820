/* open-loop [THREADS]: THREADS threads (default 2) open and close /dev/null for ever, each
 * open a checked call that holds the others still, until runbox's time limit kills them. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *loop(void *unused) {
    (void)unused;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    for (int i = 1; i < threads; i++) {
        pthread_t other;
        pthread_create(&other, NULL, loop, NULL);
    }
    loop(NULL);
    return 0;
}
