/* shebang INTERPRETER: writes ./script, a script run by INTERPRETER, and executes it (the
 * kernel opens INTERPRETER itself); prints the errno if the exec fails. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    FILE *script = fopen("script", "w");
    if (!script) return 3;
    fprintf(script, "#!%s\n", argv[1]);
    fclose(script);
    chmod("script", 0755);
    char *args[] = {"script", NULL};
    execv("./script", args);
    printf("exec failed: errno %d\n", errno);
    return 1;
}
