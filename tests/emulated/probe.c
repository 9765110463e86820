/* The emulated arm run's test program (static): one misbehaviour or report per command.
 *
 *   hello          prints "hello"
 *   spin           burns CPU forever
 *   eat MIB        allocates and touches MIB MiB, prints "ate"
 *   getppid        calls getppid (forbidden by the strict profile), prints "called"
 *   open PATH      opens PATH for reading, prints "ok" or "errno N"
 *   fork N         forks N children that exit at once, prints "forked K" (K made) and
 *                  the errno of the first failure, if any
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 64;
    if (!strcmp(argv[1], "hello")) {
        puts("hello");
    } else if (!strcmp(argv[1], "spin")) {
        volatile unsigned long x = 0;
        for (;;) x++;
    } else if (!strcmp(argv[1], "eat") && argc > 2) {
        size_t bytes = (size_t)atol(argv[2]) << 20;
        char *p = malloc(bytes);
        if (!p) return 3;
        for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
        puts("ate");
    } else if (!strcmp(argv[1], "getppid")) {
        printf("called %d\n", getppid() > 0);
    } else if (!strcmp(argv[1], "open") && argc > 2) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) printf("errno %d\n", errno); else puts("ok");
    } else if (!strcmp(argv[1], "fork") && argc > 2) {
        int made = 0, failure = 0;
        for (int i = 0; i < atoi(argv[2]); i++) {
            pid_t pid = fork();
            if (pid == 0) _exit(0);
            if (pid < 0) { failure = errno; break; }
            made++;
            waitpid(pid, NULL, 0);
        }
        printf("forked %d errno %d\n", made, failure);
    } else {
        return 64;
    }
    return 0;
}
