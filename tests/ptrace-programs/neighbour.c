/* neighbour victim | attacker: two runs at once sharing their working directory.
 * The victim writes its pid to victim.pid and waits for the file attacked, then prints its
 * answer (1, unless someone changed it). The attacker reads the victim's pid and tries to
 * kill it, prlimit it, signal every process it may (kill -1), then creates attacked and
 * opens the victim's /proc/PID/mem to write the answer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static volatile int answer = 1;

static void nap(void) {
    struct timespec ts = {0, 2000000};
    nanosleep(&ts, NULL);
}

static void say(const char *what, long r) {
    if (r >= 0) printf("%s ok\n", what);
    else printf("%s errno %d\n", what, errno);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "victim")) {
        FILE *f = fopen("victim.tmp", "w");
        fprintf(f, "%d %p\n", getpid(), (void *)&answer);
        fclose(f);
        rename("victim.tmp", "victim.pid");
        while (access("attacked", F_OK) != 0) nap();
        printf("answer %d\n", answer);
        return 0;
    }
    int pid = 0;
    void *where = NULL;
    FILE *f;
    while ((f = fopen("victim.pid", "r")) == NULL) nap();
    if (fscanf(f, "%d %p", &pid, &where) != 2) return 2;
    fclose(f);
    say("kill", kill(pid, SIGKILL));
    struct rlimit one = {1, 1};
    say("prlimit", prlimit(pid, RLIMIT_CPU, &one, NULL));
    say("kill-all", kill(-1, SIGKILL));
    close(open("attacked", O_WRONLY | O_CREAT, 0644));
    char mem[64];
    snprintf(mem, sizeof mem, "/proc/%d/mem", pid);
    int fd = open(mem, O_RDWR);
    int changed = 42;
    say("mem", fd < 0 ? -1 : pwrite(fd, &changed, sizeof changed, (off_t)where));
    return 0;
}
