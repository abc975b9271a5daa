/* test_sampler.c - a thread burning CPU in a known function shows up in most samples */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

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

struct tally {
    struct symbolizer *sym;
    size_t samples, in_burn, with_caller, burn_tid_samples;
    int main_tid;
};

static void on_sample(const uint64_t *pcs, size_t depth, int tid, void *arg)
{
    struct tally *t = arg;
    t->samples++;
    if (t->samples == 1) { /* one stack, to show what the unwinder sees */
        for (size_t i = 0; i < depth; i++) {
            struct sym_info si;
            symbolizer_lookup(t->sym, pcs[i], &si);
            printf("  #%zu %s\n", i, si.name ? si.name : "?");
        }
    }
    for (size_t i = 0; i < depth; i++) {
        struct sym_info si;
        if (symbolizer_lookup(t->sym, pcs[i], &si) == 0 &&
            !strncmp(si.name, "sampler_burn_cpu", 16)) {
            t->in_burn++;
            /* the frame-pointer walk from the signal context reaches the caller too */
            if (i + 1 < depth && symbolizer_lookup(t->sym, pcs[i + 1], &si) == 0 &&
                !strcmp(si.name, "burn_thread"))
                t->with_caller++;
            break;
        }
    }
    if (tid != t->main_tid)
        t->burn_tid_samples++;
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(sampler_finds_busy_function)
{
    struct tally t = {0};
    t.main_tid = gettid();
    ASSERT_OK(symbolizer_new(&t.sym, 0));
    struct sampler_opts o;
    sampler_opts_default(&o);
    o.hz = 200;
    struct sampler *s = NULL;
    ASSERT_OK(sampler_start(&s, &o));
    /* a second sampler in the same process is refused */
    struct sampler *s2 = NULL;
    ASSERT_EQ(sampler_start(&s2, &o), -EBUSY);
    pthread_t th;
    ASSERT_OK(pthread_create(&th, NULL, burn_thread, &t));
    /* the new thread is covered by the next scan; the main thread mostly sleeps */
    double start = mono_now();
    while (mono_now() - start < 1.0) {
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
        ASSERT(sampler_scan_threads(s) >= 2);
        sampler_drain(s, on_sample, &t);
    }
    atomic_store(&burn_stop, 1);
    pthread_join(th, NULL);
    sampler_drain(s, on_sample, &t);
    struct sampler_stats st;
    sampler_get_stats(s, &st);
    sampler_stop(s);
    printf("  samples %zu, in sampler_burn_cpu %zu (called by burn_thread %zu), other threads %zu, "
           "dropped %llu\n",
           t.samples, t.in_burn, t.with_caller, t.burn_tid_samples, (unsigned long long)st.dropped);
    /* ~0.95 s of CPU at 200 Hz is ~190 samples; allow for a slow, shared machine */
    ASSERT(t.samples >= 60);
    ASSERT(t.in_burn * 10 >= t.samples * 8);
    ASSERT(t.with_caller * 10 >= t.samples * 8);
    ASSERT(t.burn_tid_samples * 10 >= t.samples * 8);
    ASSERT_EQ(st.samples, t.samples);
    /* after stop a stray signal is harmless */
    raise(SIGPROF);
    symbolizer_free(t.sym);
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
