/* own-filter WHAT [ARG]: tries to install a seccomp filter of its own that returns
 * SECCOMP_RET_TRACE with data 0 for openat, newfstatat, clone and socket (by seccomp(), then
 * by prctl()), says what each attempt returned, then does WHAT:
 *   read PATH    reads PATH, says how many bytes it got
 *   write PATH   creates PATH and writes to it
 *   fork N       forks N times (each child waits to be killed), says how many forks worked
 *   socket       makes an AF_INET socket
 *   untraced     clone(CLONE_UNTRACED), which the tracer would not follow
 *   clone3       clone3(), whose flags are in memory */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct sock_filter insns[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 4, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_newfstatat, 3, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 2, 0),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 0),
};

static void say(const char *what, long r) {
    if (r >= 0) printf("%s ok\n", what);
    else printf("%s errno %d\n", what, errno);
    fflush(stdout);
}

int main(int argc, char **argv) {
    struct sock_fprog prog = {sizeof insns / sizeof insns[0], insns};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    say("seccomp", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
    say("prctl", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "read")) {
        char buf[64];
        int fd = open(argv[2], O_RDONLY);
        say("read", fd < 0 ? -1 : read(fd, buf, sizeof buf));
    } else if (!strcmp(argv[1], "write")) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        say("write", fd < 0 ? -1 : write(fd, "x", 1));
    } else if (!strcmp(argv[1], "fork")) {
        int made = 0;
        for (int i = 0; i < atoi(argv[2]); i++) {
            pid_t pid = fork();
            if (pid == 0) {
                for (;;) pause();
            }
            made += pid > 0;
        }
        printf("forks %d\n", made);
    } else if (!strcmp(argv[1], "socket")) {
        say("socket", socket(AF_INET, SOCK_STREAM, 0));
    } else if (!strcmp(argv[1], "untraced")) {
        long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        say("clone", pid);
    } else if (!strcmp(argv[1], "clone3")) {
        struct clone_args args = {.exit_signal = SIGCHLD};
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) _exit(0);
        say("clone3", pid);
    }
    return 0;
}
