/* exit-while-held: six threads open and close /dev/null in a loop (each open a checked
 * call that holds the others still); one of them ends the process (exit_group(0)) after a
 * random 0-3 ms, most likely while some thread is held. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *loop(void *arg) {
    long i = (long)arg;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) close(fd);
        if (i == 3) {
            usleep(rand() % 3000);
            syscall(SYS_exit_group, 0);
        }
    }
    return NULL;
}

int main(void) {
    srand(getpid());
    pthread_t threads[6];
    for (long i = 0; i < 6; i++) pthread_create(&threads[i], NULL, loop, (void *)i);
    sleep(1);
    return 0;
}
