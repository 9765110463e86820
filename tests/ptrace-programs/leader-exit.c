/* leader-exit: the main thread ends (pthread_exit) while a second thread opens a file 100
 * times and then says how many opens worked. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *opener(void *path) {
    int opened = 0;
    for (int i = 0; i < 100; i++) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            opened++;
            close(fd);
        }
    }
    printf("opened %d\n", opened);
    fflush(stdout);
    return NULL;
}

int main(void) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, opener, "/etc/ld.so.cache")) return 2;
    pthread_exit(NULL);
}
