/* jobs stop: stops itself (SIGSTOP), then says "continued".
 * jobs cont: a forked child stops itself; the parent waits until it sees it stopped,
 * continues it (SIGCONT) and waits for its exit: "stopped 19" then "exited 7". */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "stop")) {
        raise(SIGSTOP);
        puts("continued");
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(7);
    }
    int status;
    waitpid(pid, &status, WUNTRACED);
    if (WIFSTOPPED(status)) printf("stopped %d\n", WSTOPSIG(status));
    else printf("not stopped\n");
    kill(pid, SIGCONT);
    waitpid(pid, &status, 0);
    printf("exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
