/* cpu_split.c - known-truth CPU workload for libember.so: burn_60/burn_30/burn_10 use 60/30/10 % of
 * the CPU time, and (with "sleep") a second thread that burns half of its wall time and sleeps the other half */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile unsigned long sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Spins until the calling thread used ms milliseconds of CPU. */
/* Inlined, so the burning is self time of the burn_* function that asked for it. */
__attribute__((always_inline)) static inline void spin(double ms)
{
    double end = cpu_now() + ms / 1000.0;
    unsigned long x = sink;
    while (cpu_now() < end)
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ul + 1442695040888963407ul;
    sink = x;
}

/*
 * One round is 10 units of CPU. The unit is not a divisor of the sampling
 * period (which the kernel rounds to its tick), so samples fall on every
 * phase of the round instead of aliasing onto a few.
 */
#define UNIT_MS 0.7777
__attribute__((noinline)) void burn_60(void)
{
    spin(6 * UNIT_MS);
}
__attribute__((noinline)) void burn_30(void)
{
    spin(3 * UNIT_MS);
}
__attribute__((noinline)) void burn_10(void)
{
    spin(1 * UNIT_MS);
}

/* Sleeps ms of wall time, restarting after signals (wall sampling interrupts sleeps). */
__attribute__((noinline)) void half_sleep(double ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)(ms * 1e6);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

__attribute__((noinline)) void half_burn(double ms)
{
    double end = wall_now() + ms / 1000.0;
    unsigned long x = sink;
    while (wall_now() < end)
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ul + 1442695040888963407ul;
    sink = x;
}

static double g_seconds = 3;

static void *sleeper_thread(void *arg)
{
    (void)arg;
    double end = wall_now() + g_seconds;
    while (wall_now() < end) {
        half_burn(10);
        half_sleep(10);
    }
    return NULL;
}

__attribute__((noinline)) static void split_loop(void)
{
    double end = cpu_now() + g_seconds;
    while (cpu_now() < end) {
        burn_60();
        burn_30();
        burn_10();
    }
}

int main(int argc, char **argv)
{
    int sleep_mode = argc > 1 && !strcmp(argv[1], "sleep");
    if (argc > 2)
        g_seconds = atof(argv[2]);
    if (sleep_mode) {
        pthread_t t;
        if (pthread_create(&t, NULL, sleeper_thread, NULL)) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
        pthread_join(t, NULL);
    } else {
        split_loop();
    }
    printf("done\n");
    return 0;
}
