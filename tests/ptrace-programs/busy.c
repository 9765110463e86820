/* busy: three threads open a file 300 times each while the main thread starts /bin/true
 * five times with posix_spawn (a vfork: the parent waits for the child's exec) and waits for
 * each; then says how many opens and runs worked. */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void *opener(void *count) {
    for (int i = 0; i < 300; i++) {
        int fd = open("/etc/ld.so.cache", O_RDONLY);
        if (fd >= 0) {
            __atomic_fetch_add((int *)count, 1, __ATOMIC_RELAXED);
            close(fd);
        }
    }
    return NULL;
}

int main(void) {
    int opened = 0, ran = 0;
    pthread_t threads[3];
    for (int i = 0; i < 3; i++)
        if (pthread_create(&threads[i], NULL, opener, &opened)) return 2;
    for (int i = 0; i < 5; i++) {
        pid_t pid;
        char *argv[] = {"true", NULL};
        int status;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0 &&
            waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ran++;
    }
    for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);
    printf("opened %d ran %d\n", opened, ran);
    return 0;
}
