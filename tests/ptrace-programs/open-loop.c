/* open-loop: two threads open and close /dev/null for ever (each open a checked call that
 * holds the other thread still), until runbox's time limit kills them. */
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

static void *loop(void *unused) {
    (void)unused;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) close(fd);
    }
    return NULL;
}

int main(void) {
    pthread_t other;
    pthread_create(&other, NULL, loop, NULL);
    loop(NULL);
    return 0;
}
