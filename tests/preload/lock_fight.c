/* lock_fight.c - known-truth lock contention for libember.so: holder_loop() holds a mutex for 2 ms at
 * a time while waiter_loop() keeps asking for it; each thread measures its own time blocked in
 * pthread_mutex_lock and prints "fn contentions wait_ns" */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop;
static int rounds = 300;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct result {
    long long wait_ns;
    long contended;
};

/* Locks mu, adding the time spent blocked to r when the lock was busy. */
static inline void timed_lock(struct result *r)
{
    if (pthread_mutex_trylock(&mu) == 0)
        return;
    long long t0 = now_ns();
    pthread_mutex_lock(&mu);
    r->wait_ns += now_ns() - t0;
    r->contended++;
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    while (nanosleep(&ts, &ts))
        ;
}

__attribute__((noinline)) static void *holder_loop(void *arg)
{
    struct result *r = arg;
    for (int i = 0; i < rounds; i++) {
        timed_lock(r);
        nap_us(2000);
        pthread_mutex_unlock(&mu);
        nap_us(200);
    }
    stop = 1;
    return NULL;
}

__attribute__((noinline)) static void *waiter_loop(void *arg)
{
    struct result *r = arg;
    while (!stop) {
        timed_lock(r);
        pthread_mutex_unlock(&mu);
        nap_us(100);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atoi(argv[1]);
    struct result rh = {0, 0}, rw = {0, 0};
    pthread_t h, w;
    if (pthread_create(&h, NULL, holder_loop, &rh) || pthread_create(&w, NULL, waiter_loop, &rw)) {
        fprintf(stderr, "pthread_create failed\n");
        return 1;
    }
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    printf("holder_loop %ld %lld\n", rh.contended, rh.wait_ns);
    printf("waiter_loop %ld %lld\n", rw.contended, rw.wait_ns);
    return 0;
}
