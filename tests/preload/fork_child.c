/* fork_child.c - a program that forks without exec: the child burns CPU in child_burn, the parent in
 * parent_burn; prints "parent PID 0" and "child PID STATUS" so the test can look profiles up by pid */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((always_inline)) static inline void spin(double s)
{
    double end = cpu_now() + s;
    unsigned long x = sink;
    while (cpu_now() < end)
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ul + 1442695040888963407ul;
    sink = x;
}

__attribute__((noinline)) void child_burn(double s)
{
    spin(s);
    /* allocations of the child are profiled too */
    for (int i = 0; i < 2000; i++)
        free(malloc(4096));
}

__attribute__((noinline)) void parent_burn(double s)
{
    spin(s);
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 1.0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        child_burn(s);
        return 0; /* exit runs the destructors: the child's last profile is sent */
    }
    parent_burn(s / 2);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) {
        perror("waitpid");
        return 1;
    }
    printf("parent %d 0\nchild %d %d\n", (int)getpid(), (int)pid, st);
    return 0;
}
