/* tty [all]: types a command into its terminal (TIOCSTI on fds 0-2); then a forked child,
 * once its parent has tried to leave the process group (setpgid), kills its process group
 * (kill 0) and, with "all", runbox's process group (kill -PGID of its parent) and every
 * process it may signal (kill -1). */
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *command = "echo INJECTED\n";
    for (int fd = 0; fd < 3; fd++)
        for (const char *c = command; *c; c++) ioctl(fd, TIOCSTI, c);
    pid_t judge_group = getpgid(getppid());
    int go[2];
    if (pipe(go)) return 2;
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        if (read(go[0], &c, 1) != 1) _exit(2);
        if (argc > 1) {
            kill(-judge_group, SIGKILL);
            kill(-1, SIGKILL);
        }
        kill(0, SIGKILL);
        _exit(0);
    }
    /* The parent leaves the group its child stays in (outside a session of its own it
     * can), so that the kill spares the parent's run. */
    setpgid(0, 0);
    write(go[1], "g", 1);
    waitpid(pid, NULL, 0);
    return 0;
}
