/* workload.c - known CPU split for the agent tests: func_a 60%, func_b 30%, func_c 10% of CPU time
 *
 * usage: workload SECONDS [spin|qsort|sleep]
 *   spin   each function burns its share in its own loop (self time in func_X)
 *   qsort  each function sorts arrays with Debian libc's qsort and a callback of its own, so
 *          stacks pass through libc code built without frame pointers
 *   sleep  func_a burns 10 ms of CPU, then func_sleep sleeps 30 ms (off-CPU: wall, not cpu)
 * Shares are of this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so other load on the host
 * does not change them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 512

static volatile unsigned long sink;
static int arr[N];
static int use_qsort;

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_a(const void *x, const void *y)
{
    return *(const int *)x - *(const int *)y;
}
static int cmp_b(const void *x, const void *y)
{
    return *(const int *)y - *(const int *)x;
}
static int cmp_c(const void *x, const void *y)
{
    return (*(const int *)x & 0xff) - (*(const int *)y & 0xff);
}

static void shuffle(void)
{
    for (int i = 0; i < N; i++)
        arr[i] = rand();
}

#define BURN(cmp)                                                                                  \
    do {                                                                                           \
        double end = cpu_now() + sec;                                                              \
        while (cpu_now() < end) {                                                                  \
            if (use_qsort) {                                                                       \
                shuffle();                                                                         \
                qsort(arr, N, sizeof(int), cmp);                                                   \
            } else {                                                                               \
                for (int i = 0; i < 400000; i++)                                                   \
                    sink += (unsigned long)i * 7;                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

__attribute__((noinline)) void func_a(double sec)
{
    BURN(cmp_a);
}
__attribute__((noinline)) void func_b(double sec)
{
    BURN(cmp_b);
}
__attribute__((noinline)) void func_c(double sec)
{
    BURN(cmp_c);
}

__attribute__((noinline)) void func_sleep(void)
{
    struct timespec ts = {0, 30000000};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 10;
    use_qsort = argc > 2 && !strcmp(argv[2], "qsort");
    double start = cpu_now();
    if (argc > 2 && !strcmp(argv[2], "sleep")) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do {
            func_a(0.01);
            func_sleep();
            clock_gettime(CLOCK_MONOTONIC, &t1);
        } while ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 < secs);
        printf("%lu\n", sink);
        return 0;
    }
    while (cpu_now() - start < secs) {
        func_a(0.012);
        func_b(0.006);
        func_c(0.002);
    }
    printf("%lu\n", sink);
    return 0;
}
