/* toctou thread|fork ALLOWED FORBIDDEN SECONDS: one side rewrites a path between ALLOWED and
 * FORBIDDEN (the same length) as fast as it can, the other opens the path and reads it, for
 * SECONDS; the flipper is a second thread, or a forked process sharing the page
 * (MAP_SHARED). Prints "opened N denied M leaked K": leaked counts reads that returned
 * FORBIDDEN's content (which starts with SECRET). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
    volatile int stop;
    char path[4096];
};
static struct shared *sh;
static const char *allowed, *forbidden;
static size_t len;

static void *flip(void *unused) {
    (void)unused;
    while (!sh->stop) {
        memcpy(sh->path, forbidden, len + 1);
        memcpy(sh->path, allowed, len + 1);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5 || strlen(argv[2]) != strlen(argv[3])) return 2;
    allowed = argv[2];
    forbidden = argv[3];
    len = strlen(allowed);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) return 3;
    memcpy(sh->path, allowed, len + 1);
    pthread_t thread;
    pid_t child = -1;
    if (!strcmp(argv[1], "thread")) {
        if (pthread_create(&thread, NULL, flip, NULL)) return 4;
    } else {
        child = fork();
        if (child < 0) return 4;
        if (child == 0) {
            flip(NULL);
            _exit(0);
        }
    }
    long opened = 0, denied = 0, leaked = 0, other = 0;
    double end = now() + atof(argv[4]);
    while (now() < end) {
        int fd = open(sh->path, O_RDONLY);
        if (fd < 0) {
            if (errno == EACCES) denied++;
            else other++;
            continue;
        }
        char buf[16] = {0};
        if (read(fd, buf, sizeof buf) >= 6 && !memcmp(buf, "SECRET", 6)) leaked++;
        close(fd);
        opened++;
    }
    sh->stop = 1;
    if (child > 0) waitpid(child, NULL, 0);
    else pthread_join(thread, NULL);
    printf("opened %ld denied %ld leaked %ld\n", opened, denied, leaked);
    return 0;
}
