/* thread-exec: a second thread execs /bin/echo while the main thread waits (the exec kills
 * the main thread and takes its pid). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *exec_echo(void *unused) {
    (void)unused;
    char *argv[] = {"echo", "from the thread", NULL};
    execv("/bin/echo", argv);
    perror("execv");
    return NULL;
}

int main(void) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, exec_echo, NULL)) return 2;
    for (;;) pause();
}
