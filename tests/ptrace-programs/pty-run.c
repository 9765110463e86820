/* pty-run ARGV...: runs ARGV in a new session whose controlling terminal (and stdin) is a
 * fresh pseudo-terminal, "{tty}" in ARGV replaced by its path, beside a bystander process
 * in the same process group; then prints ARGV's exit code, how many bytes were typed into
 * the terminal (its input queue), and whether the bystander survived. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int master, slave;
    char name[128];
    if (argc < 2 || openpty(&master, &slave, name, NULL, NULL) != 0) return 99;
    struct termios raw;
    tcgetattr(slave, &raw);
    cfmakeraw(&raw);
    tcsetattr(slave, TCSANOW, &raw);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int report[2];
    if (pipe(report)) return 99;
    pid_t runner = fork();
    if (runner == 0) {
        setsid();
        ioctl(slave, TIOCSCTTY, 0);
        dup2(slave, 0);
        close(master);
        pid_t bystander = fork();
        if (bystander == 0) {
            /* The hang-up when the session's leader (ARGV) exits is not what is tested. */
            signal(SIGHUP, SIG_IGN);
            for (;;) pause();
        }
        write(report[1], &bystander, sizeof bystander);
        for (int i = 1; i < argc; i++)
            if (!strcmp(argv[i], "{tty}")) argv[i] = name;
        execvp(argv[1], argv + 1);
        _exit(127);
    }
    close(report[1]);
    pid_t bystander = 0;
    if (read(report[0], &bystander, sizeof bystander) != sizeof bystander) return 99;
    int status;
    waitpid(runner, &status, 0);
    fcntl(slave, F_SETFL, O_NONBLOCK);
    char typed[256];
    ssize_t n = read(slave, typed, sizeof typed);
    int gone;
    int alive = waitpid(bystander, &gone, WNOHANG) == 0;
    if (alive) {
        kill(bystander, SIGKILL);
        waitpid(bystander, &gone, 0);
    }
    fflush(stdout);
    printf("runbox %d\ntyped %zd\nbystander %s\n",
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), n > 0 ? n : 0,
           alive ? "alive" : "killed");
    return 0;
}
