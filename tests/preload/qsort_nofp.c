/* qsort_nofp.c - built with -fomit-frame-pointer: sort_outer() -> sort_inner() -> qsort (libc, no
 * frame pointers) -> cmp_slow(), which burns the CPU; complete stacks need DWARF unwinding */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) int cmp_slow(const void *a, const void *b)
{
    unsigned long x = sink;
    for (int i = 0; i < 200; i++)
        x = x * 6364136223846793005ul + 1442695040888963407ul;
    sink = x;
    int u = *(const int *)a, v = *(const int *)b;
    return (u > v) - (u < v);
}

__attribute__((noinline)) void sort_inner(int *v, size_t n)
{
    qsort(v, n, sizeof(int), cmp_slow);
    sink += (unsigned long)v[0];
}

__attribute__((noinline)) void sort_outer(int *v, size_t n, double seconds)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        for (size_t i = 0; i < n; i++)
            v[i] = rand();
        sort_inner(v, n);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) * 1e-9 < seconds);
    sink += (unsigned long)v[1];
}

int main(int argc, char **argv)
{
    static int v[20000];
    sort_outer(v, 20000, argc > 1 ? atof(argv[1]) : 2);
    printf("done\n");
    return 0;
}
