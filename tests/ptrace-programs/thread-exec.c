/* thread-exec [PROGRAM]: a second thread execs PROGRAM (/bin/echo by default) while the
 * main thread waits (the exec kills the main thread and takes its pid). */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static char *program = "/bin/echo";

static void *exec_echo(void *unused) {
    (void)unused;
    char *argv[] = {program, "from the thread", NULL};
    execv(program, argv);
    perror("execv");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) program = argv[1];
    pthread_t thread;
    if (pthread_create(&thread, NULL, exec_echo, NULL)) return 2;
    for (;;) pause();
}
