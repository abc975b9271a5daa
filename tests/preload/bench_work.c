/* bench_work.c - workloads for bench/preload_bench.sh: "malloc" (2 threads, small malloc/free churn)
 * and "mutex" (2 threads sharing one mutex); prints the elapsed wall seconds */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long counter;
static long iters = 4000000;

static void *malloc_worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *slot[256] = {0};
    for (long i = 0; i < iters; i++) {
        unsigned k = rand_r(&seed) & 255;
        free(slot[k]);
        slot[k] = malloc(16 + (rand_r(&seed) & 1023));
        if (!slot[k])
            abort();
        *(char *)slot[k] = 1;
    }
    for (int k = 0; k < 256; k++)
        free(slot[k]);
    return NULL;
}

static void *mutex_worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < iters; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_work malloc|mutex [iterations]\n");
        return 2;
    }
    if (argc > 2)
        iters = atol(argv[2]);
    void *(*fn)(void *) = !strcmp(argv[1], "mutex") ? mutex_worker : malloc_worker;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.4f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9);
    return 0;
}
