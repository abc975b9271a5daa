/* runner.c - forks each registered test with a timeout; prints FAIL lines and "N passed, N failed" */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

struct test {
    const char *name;
    test_fn fn;
    const char *file;
    int line;
};

static struct test tests[1024];
static int ntests;
static char tmpdir[256];
static char pathbuf[512];

void test_register(const char *name, test_fn fn, const char *file, int line)
{
    if (ntests < (int)(sizeof(tests) / sizeof(tests[0])))
        tests[ntests++] = (struct test){name, fn, file, line};
}

const char *tmp_path(const char *name)
{
    snprintf(pathbuf, sizeof(pathbuf), "%s/%s", tmpdir, name);
    return pathbuf;
}

char *test_read_file(const char *path, size_t *len)
{
    char full[512];
    if (path[0] == '/')
        snprintf(full, sizeof(full), "%s", path);
    else
        snprintf(full, sizeof(full), "%s/%s", getenv("EMBER_TEST_DATA") ?: "tests/data", path);
    FILE *f = fopen(full, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    if (p)
        p[n] = 0;
    fclose(f);
    if (len)
        *len = (size_t)n;
    return p;
}

static int cmp_test(const void *a, const void *b)
{
    return strcmp(((const struct test *)a)->name, ((const struct test *)b)->name);
}

static int run_one(const struct test *t, int timeout_s)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ember-unit-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm((unsigned)timeout_s);
        t->fn();
        fflush(stdout);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return 1;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int timeout_s = 5, list = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-f") && i + 1 < argc)
            filter = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            timeout_s = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-l"))
            list = 1;
        else {
            fprintf(stderr, "usage: %s [-f GLOB] [-t TIMEOUT_S] [-l]\n", argv[0]);
            return 2;
        }
    }
    if (getenv("EMBER_TEST_TIMEOUT"))
        timeout_s = atoi(getenv("EMBER_TEST_TIMEOUT"));
    setvbuf(stdout, NULL, _IOLBF, 0);
    qsort(tests, (size_t)ntests, sizeof(tests[0]), cmp_test);
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (filter && fnmatch(filter, tests[i].name, 0))
            continue;
        if (list) {
            printf("%s\n", tests[i].name);
            continue;
        }
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int r = run_one(&tests[i], timeout_s);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        if (r) {
            printf("FAIL %s (%s:%d)\n", tests[i].name, tests[i].file, tests[i].line);
            failed++;
        } else {
            printf("ok   %s (%.0f ms)\n", tests[i].name, ms);
            passed++;
        }
    }
    if (!list)
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
