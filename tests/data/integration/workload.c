/* workload.c - a C program with a known CPU split for perf-based integration tests:
 * burn_a, burn_b and burn_c do 6:3:1 of the work (60/30/10 %), called from work().
 * Usage: workload SECONDS. Build: gcc -O1 -fno-omit-frame-pointer -fno-inline. */
#include <stdlib.h>
#include <time.h>

volatile unsigned long sink;

static void burn(unsigned long n)
{
    unsigned long x = sink;
    for (unsigned long i = 0; i < n; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    sink = x;
}

#define UNIT 200000UL
__attribute__((noinline)) void burn_a(void) { unsigned long x = sink; for (unsigned long i = 0; i < 6 * UNIT; i++) x = x * 6364136223846793005UL + 1442695040888963407UL; sink = x; }
__attribute__((noinline)) void burn_b(void) { unsigned long x = sink; for (unsigned long i = 0; i < 3 * UNIT; i++) x = x * 6364136223846793005UL + 1442695040888963407UL; sink = x; }
__attribute__((noinline)) void burn_c(void) { unsigned long x = sink; for (unsigned long i = 0; i < UNIT; i++) x = x * 6364136223846793005UL + 1442695040888963407UL; sink = x; }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void work(double seconds)
{
    double end = now() + seconds;
    while (now() < end) {
        burn_a();
        burn_b();
        burn_c();
    }
}

int main(int argc, char **argv)
{
    burn(1);
    work(argc > 1 ? atof(argv[1]) : 1.5);
    return 0;
}
