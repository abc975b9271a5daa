/* test_sampler.c - a thread burning CPU in a known function shows up in most samples */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "agent/sampler.h"
#include "agent/symbolize.h"
#include "test.h"

static _Atomic int burn_stop;

__attribute__((noinline)) static uint64_t sampler_burn_cpu(uint64_t x)
{
    while (!atomic_load_explicit(&burn_stop, memory_order_relaxed)) {
        for (int i = 0; i < 1000; i++)
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    }
    return x;
}

static void *burn_thread(void *arg)
{
    uint64_t r = sampler_burn_cpu((uint64_t)(uintptr_t)arg);
    __asm__ volatile("" : "+r"(r)); /* not a tail call: keep this frame on the stack */
    return (void *)(uintptr_t)r;
}

#define MAX_KEPT 2048

/* Raw samples, symbolized only after sampling so the main thread stays nearly idle. */
struct kept {
    size_t n;
    int main_tid;
    size_t main_samples;
    uint32_t depth[MAX_KEPT];
    uint64_t pcs[MAX_KEPT][8];
};

static void on_sample(const uint64_t *pcs, size_t depth, int tid, void *arg)
{
    struct kept *k = arg;
    if (tid == k->main_tid)
        k->main_samples++;
    if (k->n >= MAX_KEPT)
        return;
    size_t d = depth < 8 ? depth : 8;
    memcpy(k->pcs[k->n], pcs, d * sizeof(*pcs));
    k->depth[k->n++] = (uint32_t)d;
}

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_burn(struct symbolizer *sym, uint64_t pc)
{
    struct sym_info si;
    /* gcc may clone it as sampler_burn_cpu.constprop.0 */
    return symbolizer_lookup(sym, pc, &si) == 0 && !strncmp(si.name, "sampler_burn_cpu", 16);
}

TEST(sampler_finds_busy_function)
{
    static struct kept k;
    k.main_tid = gettid();
    struct sampler_opts o;
    sampler_opts_default(&o);
    o.hz = 200;
    struct sampler *s = NULL;
    ASSERT_OK(sampler_start(&s, &o));
    /* a second sampler in the same process is refused */
    struct sampler *s2 = NULL;
    ASSERT_EQ(sampler_start(&s2, &o), -EBUSY);
    pthread_t th;
    ASSERT_OK(pthread_create(&th, NULL, burn_thread, &k));
    clockid_t burn_clock;
    ASSERT_OK(pthread_getcpuclockid(th, &burn_clock));
    /* ~1 s of the burner's CPU time (the machine may be shared: stop after 3.5 s of wall time) */
    double wall0 = clock_s(CLOCK_MONOTONIC);
    while (clock_s(burn_clock) < 1.0 && clock_s(CLOCK_MONOTONIC) - wall0 < 3.5) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
        ASSERT(sampler_scan_threads(s) >= 2); /* the new thread is covered by the next scan */
        sampler_drain(s, on_sample, &k);
    }
    double burned = clock_s(burn_clock);
    atomic_store(&burn_stop, 1);
    pthread_join(th, NULL);
    sampler_drain(s, on_sample, &k);
    struct sampler_stats st;
    sampler_get_stats(s, &st);
    sampler_stop(s);
    /* after stop a stray signal is harmless */
    raise(SIGPROF);

    struct symbolizer *sym = NULL;
    ASSERT_OK(symbolizer_new(&sym, 0));
    size_t in_burn = 0, with_caller = 0;
    for (size_t i = 0; i < k.n; i++) {
        for (size_t j = 0; j < k.depth[i]; j++) {
            if (!is_burn(sym, k.pcs[i][j]))
                continue;
            in_burn++;
            /* the frame-pointer walk from the signal context reaches the caller too */
            struct sym_info si;
            if (j + 1 < k.depth[i] && symbolizer_lookup(sym, k.pcs[i][j + 1], &si) == 0 &&
                !strcmp(si.name, "burn_thread"))
                with_caller++;
            break;
        }
    }
    printf("  burner CPU %.2f s; samples %zu (main thread %zu), in sampler_burn_cpu %zu "
           "(called by burn_thread %zu), dropped %llu\n",
           burned, k.n, k.main_samples, in_burn, with_caller, (unsigned long long)st.dropped);
    ASSERT(burned > 0.2);
    /* 200 Hz of CPU time: about burned * 200 samples of the burner */
    ASSERT(k.n >= (size_t)(burned * 200 * 0.6));
    ASSERT(k.n <= (size_t)(burned * 200 * 1.5) + 20);
    ASSERT(in_burn * 10 >= k.n * 8);
    ASSERT(with_caller * 10 >= in_burn * 8);
    ASSERT_EQ(st.samples, k.n);
    symbolizer_free(sym);
}

TEST(sampler_idle_process_gets_few_samples)
{
    struct sampler *s = NULL;
    struct sampler_opts o;
    sampler_opts_default(&o);
    o.hz = 1000;
    ASSERT_OK(sampler_start(&s, &o));
    struct timespec ts = {0, 300 * 1000000};
    nanosleep(&ts, NULL); /* sleeping uses no CPU, so CPU-time timers stay quiet */
    struct sampler_stats st;
    sampler_get_stats(s, &st);
    ASSERT_EQ(st.threads, 1);
    ASSERT(st.samples < 20);
    sampler_stop(s);
}
