/* sampler.c - per-thread CPU-time timers, an async-signal-safe handler and a lock-free sample ring
 */
#include "agent/sampler.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/unwind.h"

/* Threads beyond this many are not sampled (bounds the timer table). */
#define SAMPLER_MAX_THREADS 8192

enum slot_state { SLOT_FREE, SLOT_WRITING, SLOT_FULL };

/* One ring slot; a producer owns it from FREE->WRITING until it publishes FULL. */
struct slot {
    _Atomic uint32_t state;
    uint32_t depth;
    int32_t tid;
    uint32_t pad;
    uint64_t pcs[SAMPLER_MAX_DEPTH];
};

struct thread_timer {
    pid_t tid;
    int seen; /* found by the current scan */
    timer_t timer;
};

struct sampler {
    struct sampler_opts opts;
    struct slot *slots;
    size_t nslots;
    _Atomic size_t next; /* where producers start looking for a free slot */
    _Atomic uint64_t samples, dropped;
    uint64_t timer_errors;
    struct thread_timer *threads;
    size_t nthreads, threads_cap;
    struct sigaction old_action;
};

/* The running sampler, seen by the signal handler; handlers in flight are counted. */
static struct sampler *_Atomic g_sampler;
static _Atomic int g_inflight;

void sampler_opts_default(struct sampler_opts *o)
{
    o->hz = 100;
    o->signo = SIGPROF;
    o->ring_slots = 4096;
}

/* How many free slots a producer tries before dropping the sample. */
#define SLOT_PROBES 8

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)si;
    int saved_errno = errno;
    /* seq_cst pairs with sampler_stop(): clear g_sampler, then wait for g_inflight == 0 */
    atomic_fetch_add(&g_inflight, 1);
    struct sampler *s = atomic_load(&g_sampler);
    if (!s)
        goto out;
    size_t start = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
    struct slot *slot = NULL;
    for (size_t i = 0; i < SLOT_PROBES; i++) {
        struct slot *c = &s->slots[(start + i) % s->nslots];
        uint32_t expect = SLOT_FREE;
        if (atomic_compare_exchange_strong_explicit(&c->state, &expect, SLOT_WRITING,
                                                    memory_order_acquire, memory_order_relaxed)) {
            slot = c;
            break;
        }
    }
    if (!slot) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        goto out;
    }
    struct unwind_regs regs;
    if (unwind_regs_from_ucontext(uctx, &regs) == 0)
        slot->depth = (uint32_t)unwind_fp(&regs, slot->pcs, SAMPLER_MAX_DEPTH);
    else
        slot->depth = 0;
    slot->tid = (int32_t)syscall(SYS_gettid);
    if (slot->depth == 0) {
        atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_release);
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        goto out;
    }
    atomic_store_explicit(&slot->state, SLOT_FULL, memory_order_release);
    atomic_fetch_add_explicit(&s->samples, 1, memory_order_relaxed);
out:
    atomic_fetch_sub(&g_inflight, 1);
    errno = saved_errno;
}

/* The CPU-time clock of thread tid (Linux: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)). */
static clockid_t thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid) << 3) | 6;
}

static int arm_thread(struct sampler *s, pid_t tid, timer_t *out)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = s->opts.signo;
    sev._sigev_un._tid = tid;
    timer_t t;
    if (timer_create(thread_cpu_clock(tid), &sev, &t) < 0)
        return -errno;
    long period_ns = 1000000000L / s->opts.hz;
    struct itimerspec its;
    its.it_interval.tv_sec = period_ns / 1000000000L;
    its.it_interval.tv_nsec = period_ns % 1000000000L;
    its.it_value = its.it_interval;
    if (timer_settime(t, 0, &its, NULL) < 0) {
        int err = -errno;
        timer_delete(t);
        return err;
    }
    *out = t;
    return 0;
}

static struct thread_timer *find_thread(struct sampler *s, pid_t tid)
{
    for (size_t i = 0; i < s->nthreads; i++)
        if (s->threads[i].tid == tid)
            return &s->threads[i];
    return NULL;
}

int sampler_scan_threads(struct sampler *s)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -errno;
    for (size_t i = 0; i < s->nthreads; i++)
        s->threads[i].seen = 0;
    int err = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long tid = strtol(de->d_name, &end, 10);
        if (*end || tid <= 0)
            continue;
        struct thread_timer *t = find_thread(s, (pid_t)tid);
        if (t) {
            t->seen = 1;
            continue;
        }
        if (s->nthreads >= SAMPLER_MAX_THREADS)
            continue;
        if (s->nthreads == s->threads_cap) {
            size_t cap = s->threads_cap ? s->threads_cap * 2 : 64;
            struct thread_timer *nt = realloc(s->threads, cap * sizeof(*nt));
            if (!nt) {
                err = -ENOMEM;
                break;
            }
            s->threads = nt;
            s->threads_cap = cap;
        }
        timer_t timer = 0;
        if (arm_thread(s, (pid_t)tid, &timer) < 0) {
            s->timer_errors++; /* most likely the thread exited since readdir */
            continue;
        }
        s->threads[s->nthreads++] = (struct thread_timer){(pid_t)tid, 1, timer};
    }
    closedir(d);
    /* Threads that exited: their timers can never fire again; delete them. */
    size_t w = 0;
    for (size_t i = 0; i < s->nthreads; i++) {
        if (s->threads[i].seen || err)
            s->threads[w++] = s->threads[i];
        else
            timer_delete(s->threads[i].timer);
    }
    s->nthreads = w;
    return err ? err : (int)s->nthreads;
}

int sampler_start(struct sampler **out, const struct sampler_opts *o)
{
    struct sampler_opts def;
    sampler_opts_default(&def);
    struct sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int err = 0;
    s->opts = o ? *o : def;
    if (s->opts.hz <= 0)
        s->opts.hz = def.hz;
    if (s->opts.hz > 10000)
        s->opts.hz = 10000;
    if (s->opts.signo <= 0)
        s->opts.signo = def.signo;
    if (s->opts.ring_slots == 0)
        s->opts.ring_slots = def.ring_slots;
    s->nslots = s->opts.ring_slots;
    s->slots = calloc(s->nslots, sizeof(*s->slots));
    if (!s->slots) {
        err = -ENOMEM;
        goto out;
    }
    struct sampler *expect = NULL;
    if (!atomic_compare_exchange_strong(&g_sampler, &expect, s)) {
        err = -EBUSY;
        goto out;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(s->opts.signo, &sa, &s->old_action) < 0) {
        err = -errno;
        atomic_store(&g_sampler, NULL);
        goto out;
    }
    int n = sampler_scan_threads(s);
    if (n < 0) {
        err = n;
        *out = s;
        sampler_stop(s);
        return err;
    }
    *out = s;
    return 0;
out:
    if (s)
        free(s->slots);
    free(s);
    return err;
}

size_t sampler_drain(struct sampler *s, sampler_sample_cb cb, void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nslots; i++) {
        struct slot *slot = &s->slots[i];
        if (atomic_load_explicit(&slot->state, memory_order_acquire) != SLOT_FULL)
            continue;
        cb(slot->pcs, slot->depth, slot->tid, arg);
        atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_release);
        n++;
    }
    return n;
}

void sampler_get_stats(const struct sampler *s, struct sampler_stats *st)
{
    st->samples = atomic_load_explicit(&((struct sampler *)s)->samples, memory_order_relaxed);
    st->dropped = atomic_load_explicit(&((struct sampler *)s)->dropped, memory_order_relaxed);
    st->threads = s->nthreads;
    st->timer_errors = s->timer_errors;
}

void sampler_stop(struct sampler *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nthreads; i++)
        timer_delete(s->threads[i].timer);
    s->nthreads = 0;
    struct sampler *expect = s;
    atomic_compare_exchange_strong(&g_sampler, &expect, NULL);
    /* Handlers that already loaded s finish within microseconds. */
    while (atomic_load(&g_inflight) > 0) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    if (s->old_action.sa_handler != SIG_DFL && s->old_action.sa_handler != SIG_IGN)
        sigaction(s->opts.signo, &s->old_action, NULL);
    /* else our handler stays: with no sampler it returns at once */
    free(s->threads);
    free(s->slots);
    free(s);
}
