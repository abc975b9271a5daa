/* sample.c - libember.so's CPU and wall sampling: per-thread perf task-clock events (or thread CPU
 * timers as a fallback), wall timers, SIGPROF handler, sample ring */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "agent/unwind.h"
#include "preload/preload.h"

#define RING_SLOTS  4096
#define SLOT_PROBES 8
/* Threads with timers at a time (more are not sampled, and counted). */
#define THREADS_MAX 4096

enum { SLOT_FREE, SLOT_WRITING, SLOT_FULL };

struct slot {
    _Atomic uint32_t state;
    uint16_t depth;
    uint8_t kind;
    uint8_t pad;
    uint32_t weight; /* 1 + timer overruns: expiries folded into this signal */
    uint64_t pcs[PL_MAX_DEPTH];
};

struct thr {
    _Atomic pid_t tid; /* 0 = free */
    timer_t cpu, wall;
    int has_cpu, has_wall;
    _Atomic int perf_fd1; /* the thread's perf task-clock event + 1 (0 = none); has_cpu is 0 then */
};

/*
 * CPU sampling mechanisms. A thread CPU timer (timer_create on the thread's
 * CPU clock) is checked by the kernel only on its scheduler tick (4 ms at
 * 250 Hz): a period that ends just before the thread blocks or is switched
 * out is delivered when it next runs, in whatever code runs then, which
 * biases the profile. perf's task-clock software event samples from an
 * hrtimer that runs only while the thread is on a CPU, so the signal lands
 * within microseconds of the period's end, in the code that spent it. The
 * timer is the fallback where perf_event_open is refused
 * (perf_event_paranoid 2 without CAP_PERFMON, seccomp in containers).
 * EMBER_CPU_SAMPLER=timer|perf forces one (perf: no fallback).
 */
enum cpu_mode { CPU_PERF = 0, CPU_TIMER = 1 };
static const char *const cpu_mode_names[] = {"perf task-clock", "thread CPU timers"};
static _Atomic int g_cpu_mode;
static int g_cpu_forced;          /* EMBER_CPU_SAMPLER named the mode: never step down */
static _Atomic int g_mode_logged; /* the sampler in use was said on stderr */

/* perf fds at or above this are not used (timers instead): the handler's fd table is this long */
#define PERF_FD_MAX 16384
/* perf fd -> tid it samples (0 = not ours); FD_FIRST set until its random first period passed */
static _Atomic uint32_t g_fd_tid[PERF_FD_MAX];
#define FD_FIRST 0x80000000u
static _Atomic int g_inflight; /* handlers running now */
static _Atomic uint64_t g_misdirected;

static struct slot *g_ring;
static _Atomic size_t g_next;
static _Atomic uint64_t g_ring_dropped, g_timer_errors;
static _Atomic uint64_t g_nthreads;
static struct thr *g_threads;
static _Atomic int g_on; /* handler records, new threads get timers */
static int g_installed;

/* The slot of the calling thread in g_threads (-1 = none). */
static __thread int t_slot __attribute__((tls_model("initial-exec"))) = -1;

#if defined(__GNUC__)
#    define NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize("undefined")))
#else
#    define NO_SANITIZE
#endif

/*
 * DWARF (.eh_frame) unwinding with libunwind from a signal context or from
 * here; used when it finds more frames than the frame-pointer walk, i.e.
 * when code built without frame pointers (libc, -fomit-frame-pointer) cut
 * the chain. libunwind's local unwinder keeps no global locks with the
 * per-thread cache and allocates from its own mmap pools.
 */
/* Set while this thread runs libunwind: its locks are not re-entrant, so a signal arriving then
 * must not unwind with it again (that sample keeps the frame-pointer stack). */
static __thread volatile int t_in_unwind __attribute__((tls_model("initial-exec")));
/* One thread at a time in libunwind: its internal mutex is then never contended, so a signal
 * handler can never block on it (a thread that finds it busy keeps the frame-pointer stack). */
static atomic_flag g_unw_busy = ATOMIC_FLAG_INIT;

static size_t dwarf_unwind(unw_context_t *uc, int from_signal, uint64_t *pcs, size_t max,
                           size_t skip)
{
    if (t_in_unwind)
        return 0;
    if (atomic_flag_test_and_set_explicit(&g_unw_busy, memory_order_acquire))
        return 0;
    t_in_unwind = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    size_t n = 0;
    unw_cursor_t cur;
    if (from_signal ? unw_init_local2(&cur, uc, UNW_INIT_SIGNAL_FRAME) < 0
                    : unw_init_local(&cur, uc) < 0)
        goto out;
    for (size_t i = 0; n < max; i++) {
        unw_word_t ip = 0;
        if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip < 4096)
            break;
        if (i >= skip) {
            /* caller frames hold a return address: step back into the call (as unwind_fp does) */
            uint64_t pc = (uint64_t)(i == 0 && from_signal ? ip : ip - 1);
            pcs[n++] = pc;
        }
        if (unw_step(&cur) <= 0)
            break;
    }
out:
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t_in_unwind = 0;
    atomic_flag_clear_explicit(&g_unw_busy, memory_order_release);
    return n;
}

/*
 * Auto mode runs libunwind only when the frame-pointer walk may be wrong.
 * A walk that skips frames (the caller of a function without a frame
 * pointer, like operator new or qsort) or stops early (start_thread and
 * __libc_start_main keep none) is told apart only by libunwind, so the
 * first time a walk is seen libunwind runs; when the walk turns out to be
 * a prefix of libunwind's stack, the walk (by a hash of all its pcs) is
 * remembered with the few outermost frames it missed, and later identical
 * walks take those from here without libunwind. A walk that is not a prefix
 * (frames skipped in the middle) is never remembered. Lock-free, bounded.
 */
#define KNOWN_SLOTS 4096
#define TAIL_MAX    6
struct tail_ent {
    _Atomic uint64_t key; /* hash of the walk; 0 free, 1 being written */
    uint32_t n;
    uint64_t tail[TAIL_MAX];
};
static struct tail_ent g_known[KNOWN_SLOTS];

/* The leaf pc counts by its 256-byte block, so samples all over a hot loop share one walk. */
static uint64_t walk_key(const uint64_t *pcs, size_t depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ depth;
    for (size_t i = 0; i < depth; i++) {
        h ^= i ? pcs[i] : pcs[i] >> 8;
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 29;
    }
    return h > 1 ? h : h + 2;
}

static const struct tail_ent *known_walk(uint64_t key)
{
    for (unsigned i = 0; i < 8; i++) {
        struct tail_ent *e = &g_known[(key + i) % KNOWN_SLOTS];
        uint64_t v = atomic_load_explicit(&e->key, memory_order_acquire);
        if (v == key)
            return e;
        if (!v)
            return NULL;
    }
    return NULL;
}

static void remember_walk(uint64_t key, const uint64_t *tail, size_t n)
{
    if (n > TAIL_MAX)
        return;
    for (unsigned i = 0; i < 8; i++) {
        uint64_t expect = 0;
        struct tail_ent *e = &g_known[(key + i) % KNOWN_SLOTS];
        if (atomic_compare_exchange_strong(&e->key, &expect, 1)) {
            e->n = (uint32_t)n;
            memcpy(e->tail, tail, n * sizeof(uint64_t));
            atomic_store_explicit(&e->key, key, memory_order_release);
            return;
        }
        if (expect == key)
            return;
    }
}

/* Appends the known tail of the walk pcs[0..depth); 1 if the walk is a known prefix. */
static int use_known(uint64_t *pcs, size_t *depth, size_t max)
{
    if (*depth < 2)
        return 0;
    const struct tail_ent *e = known_walk(walk_key(pcs, *depth));
    if (!e)
        return 0;
    for (uint32_t i = 0; i < e->n && *depth < max; i++)
        pcs[(*depth)++] = e->tail[i];
    return 1;
}

/* After libunwind found tmp[0..d) for the walk pcs[0..depth): remember the walk if it is a prefix.
 */
static void learn(const uint64_t *pcs, size_t depth, const uint64_t *tmp, size_t d)
{
    if (depth < 2 || d < depth || memcmp(pcs, tmp, depth * sizeof(uint64_t)))
        return;
    remember_walk(walk_key(pcs, depth), tmp + depth, d - depth);
}

/* Merges a DWARF unwind into pcs[0..depth) when it is deeper; returns the new depth. */
static size_t maybe_dwarf(unw_context_t *uc, int from_signal, uint64_t *pcs, size_t depth,
                          size_t max, size_t skip)
{
    if (!pl_dwarf_mode || depth >= max)
        return depth;
    if (pl_dwarf_mode == 1 && use_known(pcs, &depth, max))
        return depth;
    uint64_t tmp[PL_MAX_DEPTH];
    size_t d = dwarf_unwind(uc, from_signal, tmp, max < PL_MAX_DEPTH ? max : PL_MAX_DEPTH, skip);
    if (pl_dwarf_mode == 1)
        learn(pcs, depth, tmp, d);
    if (d > depth) {
        memcpy(pcs, tmp, d * sizeof(uint64_t));
        return d;
    }
    return depth;
}

int pl_dwarf_mode; /* 0 frame pointers only, 1 auto (the deeper of both), 2 DWARF only */

/* The executable segments of libember.so: leading frames there are ours (pl_unwind_here drops
 * them). */
#define SELF_SEGS 4
static uintptr_t g_self_lo[SELF_SEGS], g_self_hi[SELF_SEGS];
static int g_self_n;

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t me = (uintptr_t)arg;
    int n = 0, mine = 0;
    uintptr_t lo[SELF_SEGS], hi[SELF_SEGS];
    for (int i = 0; i < info->dlpi_phnum && n < SELF_SEGS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        lo[n] = info->dlpi_addr + ph->p_vaddr;
        hi[n] = lo[n] + ph->p_memsz;
        mine |= me >= lo[n] && me < hi[n];
        n++;
    }
    if (!mine)
        return 0;
    memcpy(g_self_lo, lo, sizeof(lo));
    memcpy(g_self_hi, hi, sizeof(hi));
    g_self_n = n;
    return 1;
}

static int is_self(uint64_t pc)
{
    for (int i = 0; i < g_self_n; i++)
        if (pc >= g_self_lo[i] && pc < g_self_hi[i])
            return 1;
    return 0;
}

void pl_unwind_init(void)
{
    const char *m = getenv("EMBER_UNWIND");
    pl_dwarf_mode = 1;
    if (m && !strcmp(m, "fp"))
        pl_dwarf_mode = 0;
    else if (m && !strcmp(m, "dwarf"))
        pl_dwarf_mode = 2;
    else if (m && *m && strcmp(m, "auto"))
        pl_log(1, "EMBER_UNWIND=%s: want fp, dwarf or auto; using auto", m);
    if (pl_dwarf_mode)
        unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    dl_iterate_phdr(find_self, (void *)(uintptr_t)&pl_unwind_init);
}

NO_SANITIZE static void on_sigprof(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    int saved = errno;
    /* whatever the handler calls (libunwind takes a mutex) must not reach our hooks */
    int guard = pl_guard;
    pl_guard = 1;
    atomic_fetch_add(&g_inflight, 1); /* before g_on is read: pl_sample_stop waits for it */
    if (!atomic_load(&g_on))
        goto out;
    int kind;
    uint32_t weight = 1;
    if (si->si_code == SI_TIMER) {
        kind = si->si_value.sival_int;
        if (kind != PL_CPU && kind != PL_WALL)
            goto out;
        /* CPU timers are checked at the scheduler tick: at rates above HZ several periods pass
         * per signal */
        if (si->si_overrun > 0)
            weight += (uint32_t)si->si_overrun;
    } else if ((si->si_code == POLL_IN || si->si_code == POLL_HUP) && si->si_fd >= 0 &&
               si->si_fd < PERF_FD_MAX) {
        uint32_t owner = atomic_load_explicit(&g_fd_tid[si->si_fd], memory_order_relaxed);
        if (!owner)
            goto out; /* not one of our perf events (or one closed since) */
        if ((pid_t)(owner & ~FD_FIRST) != (pid_t)syscall(SYS_gettid)) {
            atomic_fetch_add_explicit(&g_misdirected, 1, memory_order_relaxed);
            goto out;
        }
        if (owner & FD_FIRST) {
            /* the random first period has passed: every later one is the full period */
            uint64_t period = 1000000000ull / (uint64_t)pl_cfg.hz;
            ioctl(si->si_fd, PERF_EVENT_IOC_PERIOD, &period);
            atomic_store_explicit(&g_fd_tid[si->si_fd], owner & ~FD_FIRST, memory_order_relaxed);
        }
        kind = PL_CPU;
    } else {
        goto out; /* not ours */
    }
    size_t start = atomic_fetch_add_explicit(&g_next, 1, memory_order_relaxed);
    struct slot *slot = NULL;
    for (size_t i = 0; i < SLOT_PROBES; i++) {
        struct slot *c = &g_ring[(start + i) % RING_SLOTS];
        uint32_t expect = SLOT_FREE;
        if (atomic_compare_exchange_strong_explicit(&c->state, &expect, SLOT_WRITING,
                                                    memory_order_acquire, memory_order_relaxed)) {
            slot = c;
            break;
        }
    }
    if (!slot) {
        atomic_fetch_add_explicit(&g_ring_dropped, 1, memory_order_relaxed);
        goto out;
    }
    struct unwind_regs regs;
    size_t depth = 0;
    if (pl_dwarf_mode != 2 && unwind_regs_from_ucontext(uctx, &regs) == 0)
        depth = unwind_fp(&regs, slot->pcs, PL_MAX_DEPTH);
    depth = maybe_dwarf((unw_context_t *)uctx, 1, slot->pcs, depth, PL_MAX_DEPTH, 0);
    if (!depth) {
        atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_release);
        atomic_fetch_add_explicit(&g_ring_dropped, 1, memory_order_relaxed);
        goto out;
    }
    slot->depth = (uint16_t)depth;
    slot->kind = (uint8_t)kind;
    slot->weight = weight;
    atomic_store_explicit(&slot->state, SLOT_FULL, memory_order_release);
out:
    atomic_fetch_sub(&g_inflight, 1);
    pl_guard = guard;
    errno = saved;
}

/* Linux: MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED). */
static clockid_t thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid) << 3) | 6;
}

/*
 * A random first expiry in (0, period]: with a fixed one, a thread that
 * lives for less than a period is never sampled and every thread loses its
 * last partial period; a uniform phase makes the expected number of samples
 * exactly cpu_time / period, however short the thread.
 */
static long first_period(pid_t tid, long period)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t x = ((uint64_t)tid << 32 ^ (uint64_t)now.tv_nsec ^ (uint64_t)now.tv_sec << 20) *
                 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    return 1 + (long)(x % (uint64_t)period);
}

static int arm(pid_t tid, clockid_t clock, int kind, timer_t *out)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_int = kind;
    sev._sigev_un._tid = tid;
    timer_t t;
    if (timer_create(clock, &sev, &t) < 0)
        return -errno;
    long period = 1000000000L / pl_cfg.hz;
    struct itimerspec its;
    its.it_interval.tv_sec = period / 1000000000L;
    its.it_interval.tv_nsec = period % 1000000000L;
    its.it_value = its.it_interval;
    if (kind == PL_WALL) {
        /* spread the first expiry so threads started together are not all hit at once */
        its.it_value.tv_nsec = 1000 + (long)((unsigned)tid * 2654435761u % (unsigned)period);
        its.it_value.tv_sec = 0;
    } else {
        long first = first_period(tid, period);
        its.it_value.tv_sec = first / 1000000000L;
        its.it_value.tv_nsec = first % 1000000000L;
    }
    if (timer_settime(t, 0, &its, NULL) < 0) {
        int err = -errno;
        timer_delete(t);
        return err;
    }
    *out = t;
    return 0;
}

/*
 * Opens a task-clock sampling event on the calling thread tid whose
 * overflow sends SIGPROF (si_fd = the event) to that thread itself.
 * Returns the fd or -errno.
 */
static int perf_open_self(pid_t tid)
{
    long period = 1000000000L / pl_cfg.hz;
    long first = first_period(tid, period);
    if (first < 10000)
        first = 10000; /* the kernel's shortest hrtimer period */
    struct perf_event_attr a;
    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.sample_period = (uint64_t)first;
    a.disabled = 1;
    a.exclude_kernel = 0; /* periods that end in system calls count too */
    a.exclude_hv = 1;
    int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err;
    struct f_owner_ex owner = {.type = F_OWNER_TID, .pid = tid};
    if (fd >= PERF_FD_MAX) {
        err = -EMFILE;
        goto fail;
    }
    atomic_store(&g_fd_tid[fd], (uint32_t)tid | FD_FIRST);
    if (fcntl(fd, F_SETOWN_EX, &owner) < 0 || fcntl(fd, F_SETSIG, SIGPROF) < 0 ||
        fcntl(fd, F_SETFL, O_ASYNC) < 0 || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
        err = -errno;
        atomic_store(&g_fd_tid[fd], 0);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return err;
}

/* Stops and closes a perf event of this process (its signals still queued are ignored). */
static void perf_close(int fd)
{
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    atomic_store(&g_fd_tid[fd], 0);
    close(fd);
}

static void log_mode_once(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&g_mode_logged, &expect, 1))
        pl_log(2, "CPU sampling: %s%s", cpu_mode_names[atomic_load(&g_cpu_mode)],
               g_cpu_forced ? " (EMBER_CPU_SAMPLER)" : "");
}

/*
 * Starts CPU sampling of the calling thread t (tid) with the current
 * mechanism, stepping down to the timers (and saying so, once) when the
 * kernel refuses perf. Returns 0 or -errno.
 */
static int arm_cpu(struct thr *t, pid_t tid)
{
    for (;;) {
        int mode = atomic_load(&g_cpu_mode);
        if (mode == CPU_TIMER) {
            int err = arm(tid, thread_cpu_clock(tid), PL_CPU, &t->cpu);
            t->has_cpu = err == 0;
            return err;
        }
        int fd = perf_open_self(tid);
        if (fd >= 0) {
            atomic_store(&t->perf_fd1, fd + 1);
            return 0;
        }
        if (fd == -EMFILE || fd == -ENFILE) {
            /* out of descriptors (or past our table): this thread only */
            int err = arm(tid, thread_cpu_clock(tid), PL_CPU, &t->cpu);
            t->has_cpu = err == 0;
            return err;
        }
        if (g_cpu_forced) {
            int expect = 0;
            if (atomic_compare_exchange_strong(&g_mode_logged, &expect, 1))
                pl_log(1,
                       "perf_event_open(task-clock) on thread %d failed: %s; "
                       "EMBER_CPU_SAMPLER=perf: threads it refuses have no CPU samples",
                       (int)tid, strerror(-fd));
            return fd;
        }
        if (atomic_compare_exchange_strong(&g_cpu_mode, &mode, CPU_TIMER)) {
            atomic_store(&g_mode_logged, 1);
            pl_log(1,
                   "perf_event_open(task-clock) on thread %d failed: %s; CPU sampling uses %s "
                   "(a period can be charged up to one scheduler tick late)",
                   (int)tid, strerror(-fd), cpu_mode_names[CPU_TIMER]);
        }
    }
}

void pl_sample_thread_start(void)
{
    if (!atomic_load(&g_on) || t_slot >= 0)
        return;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    for (int i = 0; i < THREADS_MAX; i++) {
        pid_t expect = 0;
        if (!atomic_compare_exchange_strong(&g_threads[i].tid, &expect, tid))
            continue;
        struct thr *t = &g_threads[i];
        t->has_cpu = 0;
        int cpu_err = pl_cfg.kinds[PL_CPU] ? arm_cpu(t, tid) : 0;
        t->has_wall = pl_cfg.kinds[PL_WALL] && arm(tid, CLOCK_MONOTONIC, PL_WALL, &t->wall) == 0;
        if (cpu_err || (pl_cfg.kinds[PL_WALL] && !t->has_wall))
            atomic_fetch_add(&g_timer_errors, 1);
        t_slot = i;
        atomic_fetch_add(&g_nthreads, 1);
        return;
    }
    atomic_fetch_add(&g_timer_errors, 1);
}

void pl_sample_thread_stop(void)
{
    if (t_slot < 0 || !g_threads)
        return;
    struct thr *t = &g_threads[t_slot];
    if (t->has_cpu)
        timer_delete(t->cpu);
    if (t->has_wall)
        timer_delete(t->wall);
    t->has_cpu = t->has_wall = 0;
    int fd1 = atomic_exchange(&t->perf_fd1, 0); /* pl_sample_stop may be closing it too */
    if (fd1)
        perf_close(fd1 - 1);
    atomic_store(&t->tid, 0);
    atomic_fetch_sub(&g_nthreads, 1);
    t_slot = -1;
}

uint64_t pl_sample_threads(void)
{
    return atomic_load(&g_nthreads);
}

int pl_sample_start(void)
{
    if (!pl_cfg.kinds[PL_CPU] && !pl_cfg.kinds[PL_WALL])
        return 0;
    struct sigaction old;
    if (sigaction(SIGPROF, NULL, &old) == 0 &&
        (old.sa_flags & SA_SIGINFO ? (void *)old.sa_sigaction : (void *)old.sa_handler) !=
            (void *)SIG_DFL) {
        pl_log(1, "the program has its own SIGPROF handler: cpu and wall profiles are off");
        pl_cfg.kinds[PL_CPU] = pl_cfg.kinds[PL_WALL] = 0;
        return -EBUSY;
    }
    g_ring = pl_mmap(RING_SLOTS * sizeof(struct slot));
    g_threads = pl_mmap(THREADS_MAX * sizeof(struct thr));
    const char *force = getenv("EMBER_CPU_SAMPLER");
    atomic_store(&g_cpu_mode, CPU_PERF);
    if (force && !strcmp(force, "timer")) {
        atomic_store(&g_cpu_mode, CPU_TIMER);
        g_cpu_forced = 1;
    } else if (force && !strcmp(force, "perf")) {
        g_cpu_forced = 1;
    } else if (force && *force && strcmp(force, "auto")) {
        pl_log(1, "EMBER_CPU_SAMPLER=%s: want perf, timer or auto; using auto", force);
    }
    if (!g_ring || !g_threads) {
        pl_log(1, "cannot map the sample ring: cpu and wall profiles are off");
        pl_cfg.kinds[PL_CPU] = pl_cfg.kinds[PL_WALL] = 0;
        return -ENOMEM;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, NULL) < 0) {
        int err = -errno;
        pl_log(1, "sigaction(SIGPROF) failed: cpu and wall profiles are off");
        pl_cfg.kinds[PL_CPU] = pl_cfg.kinds[PL_WALL] = 0;
        return err;
    }
    g_installed = 1;
    atomic_store(&g_on, 1);
    pl_sample_thread_start();
    if (pl_cfg.kinds[PL_CPU])
        log_mode_once();
    return 0;
}

void pl_sample_drain(void)
{
    if (!g_ring)
        return;
    for (size_t i = 0; i < RING_SLOTS; i++) {
        struct slot *s = &g_ring[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_FULL)
            continue;
        const double w[4] = {(double)s->weight, 0, 0, 0};
        pl_lock();
        pl_stack_add((enum pl_kind)s->kind, s->pcs, s->depth, w);
        pl_unlock();
        __atomic_add_fetch(&pl_stat_samples[s->kind], 1, __ATOMIC_RELAXED);
        atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
    }
}

void pl_sample_stop(void)
{
    if (!g_threads) {
        atomic_store(&g_on, 0);
        return;
    }
    /* perf events are taken from their threads and disabled first, closed once no handler runs */
    static int fds[THREADS_MAX];
    int nfds = 0;
    for (int i = 0; i < THREADS_MAX; i++) {
        struct thr *t = &g_threads[i];
        int fd1 = atomic_exchange(&t->perf_fd1, 0);
        if (fd1) {
            ioctl(fd1 - 1, PERF_EVENT_IOC_DISABLE, 0);
            fds[nfds++] = fd1 - 1;
        }
        if (!atomic_load(&t->tid))
            continue;
        if (t->has_cpu)
            timer_delete(t->cpu);
        if (t->has_wall)
            timer_delete(t->wall);
        t->has_cpu = t->has_wall = 0;
    }
    atomic_store(&g_on, 0);
    /* a handler that saw g_on set may still use its fd (PERF_EVENT_IOC_PERIOD) */
    while (atomic_load(&g_inflight) > 0)
        sched_yield();
    for (int i = 0; i < nfds; i++)
        perf_close(fds[i]);
    /* the handler stays installed: with g_on == 0 a late signal is ignored */
}

void pl_sample_atfork_child(void)
{
    /* Timers are not inherited: the only thread of the child gets new ones. */
    int was_on = atomic_load(&g_on);
    atomic_store(&g_on, 0);
    t_slot = -1;
    if (g_threads) {
        /* the parent's perf fds are copies here: closed (not disabled, the events are the
         * parent's); a number that is no perf event (changed hands while forking) is left alone */
        for (int i = 0; i < THREADS_MAX; i++) {
            int fd1 = atomic_load(&g_threads[i].perf_fd1);
            uint64_t id;
            if (fd1 && ioctl(fd1 - 1, PERF_EVENT_IOC_ID, &id) == 0)
                close(fd1 - 1);
        }
        memset(g_threads, 0, THREADS_MAX * sizeof(struct thr));
    }
    for (int i = 0; i < PERF_FD_MAX; i++)
        atomic_store_explicit(&g_fd_tid[i], 0, memory_order_relaxed);
    atomic_store(&g_inflight, 0); /* handlers the parent's other threads were running */
    atomic_store(&g_nthreads, 0);
    /* the parent's samples are the parent's to send; a slot some other thread was writing is lost
     */
    if (g_ring)
        for (size_t i = 0; i < RING_SLOTS; i++)
            atomic_store_explicit(&g_ring[i].state, SLOT_FREE, memory_order_relaxed);
    atomic_flag_clear(&g_unw_busy);
    if (was_on) {
        atomic_store(&g_on, 1);
        pl_sample_thread_start();
    }
}

void pl_sample_stats(uint64_t *ring_dropped, uint64_t *timer_errors)
{
    *ring_dropped = atomic_load(&g_ring_dropped);
    *timer_errors = atomic_load(&g_timer_errors);
}

int pl_sample_before_exec(void)
{
    if (!g_threads || t_slot < 0)
        return 0;
    struct thr *t = &g_threads[t_slot];
    /* a vfork child runs on its parent's memory: the slot is the parent's (and it has no event) */
    if (atomic_load(&t->tid) != (pid_t)syscall(SYS_gettid))
        return 0;
    int fd1 = atomic_exchange(&t->perf_fd1, 0);
    if (!fd1)
        return 0;
    /* a signal the event raised before it stopped is delivered as the ioctl returns, to us */
    perf_close(fd1 - 1);
    return 1;
}

void pl_sample_exec_failed(void)
{
    if (!atomic_load(&g_on) || !g_threads || t_slot < 0)
        return;
    struct thr *t = &g_threads[t_slot];
    pid_t tid = (pid_t)syscall(SYS_gettid);
    if (atomic_load(&t->tid) == tid && arm_cpu(t, tid))
        atomic_fetch_add(&g_timer_errors, 1);
}

const char *pl_sample_cpu_mode(uint64_t *misdirected)
{
    *misdirected = atomic_load(&g_misdirected);
    return cpu_mode_names[atomic_load(&g_cpu_mode)];
}

/*
 * The frame-pointer walk of pl_unwind_here(): frame records are checked
 * like unwind_fp() does (aligned, increasing, within 8 MiB), and each page
 * is probed with unwind_readable() (a system call) only the first time:
 * the thread's stack pages found readable form the range [t_ok_lo, t_ok_hi),
 * and a thread's stack stays mapped while it runs. Not for signal handlers
 * (the range is updated without care for re-entry).
 */
#define FP_SPAN (8u << 20)
#define FP_PAGE 4096u
static __thread uintptr_t t_ok_lo __attribute__((tls_model("initial-exec")));
static __thread uintptr_t t_ok_hi __attribute__((tls_model("initial-exec")));

static int stack_page_ok(uintptr_t page)
{
    if (page >= t_ok_lo && page < t_ok_hi)
        return 1;
    if (!unwind_readable(page, FP_PAGE))
        return 0;
    if (page == t_ok_hi && t_ok_hi)
        t_ok_hi += FP_PAGE;
    else if (page + FP_PAGE == t_ok_lo)
        t_ok_lo = page;
    else {
        t_ok_lo = page;
        t_ok_hi = page + FP_PAGE;
    }
    return 1;
}

NO_SANITIZE static size_t fp_walk_self(uint64_t *pcs, size_t max)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0), sp = fp, prev = fp;
    size_t n = 0;
    while (n < max) {
        if (fp < prev || fp - sp >= FP_SPAN || (fp & 7))
            break;
        uintptr_t p0 = fp & ~(uintptr_t)(FP_PAGE - 1), p1 = (fp + 15) & ~(uintptr_t)(FP_PAGE - 1);
        if (!stack_page_ok(p0) || (p1 != p0 && !stack_page_ok(p1)))
            break;
        const uintptr_t *rec = (const uintptr_t *)fp;
        uintptr_t next = rec[0], ret = rec[1];
        if (ret < FP_PAGE)
            break;
        pcs[n++] = (uint64_t)(ret - 1);
        if (next <= fp)
            break;
        prev = fp + 16;
        fp = next;
    }
    return n;
}

NO_SANITIZE size_t pl_unwind_here(uint64_t *pcs, size_t max, int skip)
{
    (void)skip;
    uint64_t tmp[PL_MAX_DEPTH + 16];
    size_t n = pl_dwarf_mode == 2 ? 0 : fp_walk_self(tmp, PL_MAX_DEPTH + 16);
    size_t s = 0;
    while (s < n && is_self(tmp[s])) /* the unwinder, the hook and its helpers */
        s++;
    size_t m = n - s < max ? n - s : max;
    memcpy(pcs, tmp + s, m * sizeof(uint64_t));
    if (pl_dwarf_mode && m < max && !(pl_dwarf_mode == 1 && use_known(pcs, &m, max))) {
        unw_context_t uc;
        uint64_t d[PL_MAX_DEPTH + 16];
        if (unw_getcontext(&uc) == 0) {
            size_t dn = dwarf_unwind(&uc, 0, d, PL_MAX_DEPTH + 16, 0);
            size_t ds = 0;
            while (ds < dn && is_self(d[ds]))
                ds++;
            size_t dm = dn - ds < max ? dn - ds : max;
            if (pl_dwarf_mode == 1)
                learn(pcs, m, d + ds, dm);
            if (dm > m) {
                memcpy(pcs, d + ds, dm * sizeof(uint64_t));
                m = dm;
            }
        }
    }
    return m;
}
