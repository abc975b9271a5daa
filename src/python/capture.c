/* capture.c - Python stack capture from signal handlers: per-thread CPU sampling (perf task-clock,
 * or thread CPU timers as a fallback), wall ticks, sample ring */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal/pycore_frame.h"
#include "pyagent.h"

#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030C0000
#    error "ember's frame walker reads CPython 3.11 frames (_PyInterpreterFrame); port it first"
#endif

/* Ring slots: records that handlers wrote and the collector has not taken yet. */
#define RING_SLOTS    512
#define SLOT_PROBES   8
#define MAX_THREADS   4096
#define MAX_OWN       8
#define SCAN_EVERY_MS 100
#define SIGVAL_CPU    0x454d4231 /* "EMB1": marks our timers' signals */
/* perf fds at or above this number are not used (the handler's fd table is this long) */
#define MAX_PERF_FD 16384

/*
 * CPU sampling mechanisms. A thread CPU timer (timer_create on the thread's
 * CPU clock) is checked by the kernel only on its scheduler tick (4 ms at
 * 250 Hz): a period that ends just before the thread blocks is delivered when
 * it next runs, in whatever code runs then, which biases the profile towards
 * the code that runs first after a wait. perf's task-clock software event
 * samples from an hrtimer that runs only while the thread is on a CPU, so the
 * signal lands within microseconds of the period's end, in the code that
 * spent it. The timer is the fallback where perf_event_open is refused
 * (perf_event_paranoid 3, seccomp in containers).
 */
enum cpu_mode { CPU_PERF = 0, CPU_PERF_USER = 1, CPU_TIMER = 2 };
static const char *const cpu_mode_names[] = {"perf-task-clock", "perf-task-clock-user",
                                             "thread-cpu-timer"};

enum slot_state { SLOT_FREE, SLOT_WRITING, SLOT_FULL };

struct slot {
    _Atomic uint32_t state;
    struct pa_rec rec;
};

struct thread_timer {
    pid_t tid;
    int seen;
    int has_timer;
    timer_t timer;
    int fd; /* perf task-clock event, -1 = none */
};

/* Set once, never freed: a handler may still be running when the sampler stops. */
static struct slot *g_ring;
static _Atomic size_t g_next;
static _Atomic int g_on;       /* handlers record only while set */
static _Atomic int g_inflight; /* handlers running now */
static _Atomic uint64_t g_samples, g_dropped, g_misdirected;
/* perf fd -> tid it samples (0 = not ours); bit 31 set until its random first period has passed */
static _Atomic uint32_t g_perf_fd_tid[MAX_PERF_FD];
#define FD_FIRST 0x80000000u
static _Atomic pid_t g_own[MAX_OWN];
static int g_handler_installed;

static struct sampler_state {
    pthread_t thread;
    int running;
    _Atomic int stop;
    int rate, cpu, wall;
    _Atomic int cpu_mode; /* enum cpu_mode */
    struct thread_timer *threads;
    size_t nthreads;
} g_s;

/* Threads that registered themselves, waiting for the sampler thread to adopt them. */
#define PENDING_SLOTS 256
enum pending_state { PEND_FREE, PEND_WRITING, PEND_READY };
static struct pending_thread {
    _Atomic int state;
    pid_t tid;
    int has_timer;
    timer_t timer;
    int fd;
} g_pending[PENDING_SLOTS];

static __thread int t_tag __attribute__((tls_model("initial-exec")));

int pa_thread_tag_get(void)
{
    return t_tag;
}

void pa_thread_tag_set(int id)
{
    t_tag = id;
}

static pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

void pa_own_thread_register(void)
{
    pid_t tid = my_tid();
    for (int i = 0; i < MAX_OWN; i++) {
        pid_t expect = 0;
        if (atomic_compare_exchange_strong(&g_own[i], &expect, tid))
            return;
    }
}

static int is_own(pid_t tid)
{
    for (int i = 0; i < MAX_OWN; i++)
        if (atomic_load_explicit(&g_own[i], memory_order_relaxed) == tid)
            return 1;
    return 0;
}

/*
 * Copies the UTF-8 text of a str object into dst (at most max bytes) and
 * returns its length. Plain memory reads: compact ASCII strings hold their
 * bytes right after the header; other compact strings may have a cached
 * UTF-8 copy; anything else becomes "?".
 */

/*
 * Fault-free reads. The handler walks frames that the interrupted code may be
 * tearing down at that very instruction (a popped data-stack chunk is unmapped
 * before current_frame moves on; a frame slot can hold stale words), so every
 * pointer is checked before it is dereferenced. rt_sigprocmask with an invalid
 * "how" copies the 8-byte set first: EFAULT means the page is unreadable,
 * EINVAL that it is readable; it never faults and is allowed by seccomp
 * profiles that forbid process_vm_readv. Pages found readable during one
 * capture are remembered for the rest of it.
 */
#define PA_PAGE       4096u
#define PA_PAGE_CACHE 64
struct page_cache {
    uintptr_t page[PA_PAGE_CACHE];
    unsigned n, next;
};

static int page_readable(struct page_cache *pc, uintptr_t page)
{
    for (unsigned i = 0; i < pc->n; i++)
        if (pc->page[i] == page)
            return 1;
    if (page < PA_PAGE)
        return 0;
    long r = syscall(SYS_rt_sigprocmask, ~0, (void *)page, (void *)0, (size_t)8);
    if (!(r < 0 && errno == EINVAL))
        return 0;
    pc->page[pc->next] = page;
    pc->next = (pc->next + 1) % PA_PAGE_CACHE;
    if (pc->n < PA_PAGE_CACHE)
        pc->n++;
    return 1;
}

/* True if [p, p+n) is readable (n <= 1 MiB). */
static int readable(struct page_cache *pc, const void *p, size_t n)
{
    uintptr_t a = (uintptr_t)p;
    if (!a || n > (1u << 20) || a + n < a)
        return 0;
    for (uintptr_t pg = a & ~(uintptr_t)(PA_PAGE - 1); pg < a + (n ? n : 1); pg += PA_PAGE)
        if (!page_readable(pc, pg))
            return 0;
    return 1;
}

static size_t copy_str(struct page_cache *pc, PyObject *o, char *dst, size_t max)
{
    const char *src = NULL;
    size_t n = 0;

    if (!o || !readable(pc, o, sizeof(PyCompactUnicodeObject)) || Py_TYPE(o) != &PyUnicode_Type)
        goto unknown;
    PyASCIIObject *a = (PyASCIIObject *)o;
    if (!a->state.compact || !a->state.ready)
        goto unknown;
    if (a->state.ascii) {
        src = (const char *)(a + 1);
        n = (size_t)a->length;
    } else {
        PyCompactUnicodeObject *c = (PyCompactUnicodeObject *)o;
        if (c->utf8) {
            src = c->utf8;
            n = (size_t)c->utf8_length;
        } else if (a->state.kind == PyUnicode_1BYTE_KIND) {
            const unsigned char *l1 = (const unsigned char *)(c + 1);
            n = (size_t)a->length < max ? (size_t)a->length : max;
            if (!readable(pc, l1, n))
                goto unknown;
            for (size_t i = 0; i < n; i++)
                dst[i] = l1[i] < 128 ? (char)l1[i] : '?';
            return n;
        } else {
            goto unknown;
        }
    }
    if (n > max)
        n = max;
    if (!readable(pc, src, n))
        goto unknown;
    memcpy(dst, src, n);
    return n;
unknown:
    if (max)
        dst[0] = '?';
    return max ? 1 : 0;
}

/* True if what PyCode_Addr2Line() reads of co (line array or line table) is readable. */
static int line_table_readable(struct page_cache *pc, PyCodeObject *co)
{
    if (co->_co_linearray)
        return readable(pc, co->_co_linearray,
                        (size_t)Py_SIZE(co) * (size_t)co->_co_linearray_entry_size);
    PyObject *lt = co->co_linetable;
    if (!lt || !readable(pc, lt, sizeof(PyBytesObject)) || Py_TYPE(lt) != &PyBytes_Type)
        return 0;
    return readable(pc, PyBytes_AS_STRING(lt), (size_t)PyBytes_GET_SIZE(lt));
}

int pa_capture_self(struct pa_rec *r)
{
    r->nframes = 0;
    r->len = 0;
    r->truncated = 0;
    PyThreadState *ts = PyGILState_GetThisThreadState();
    if (!ts || !ts->cframe)
        return 0;
    _PyInterpreterFrame *f = ts->cframe->current_frame;
    char *p = r->data, *end = r->data + PA_REC_BYTES;
    PyObject *prev_file = NULL;
    int n = 0, guard = 0;
    struct page_cache pc;
    pc.n = pc.next = 0;

    while (f && n < PA_MAX_DEPTH && guard++ < 4 * PA_MAX_DEPTH) {
        if (!readable(&pc, f, sizeof(*f)))
            break;
        PyCodeObject *co = f->f_code;
        if (!co || !readable(&pc, co, sizeof(PyCodeObject)) || Py_TYPE(co) != &PyCode_Type)
            break;
        _Py_CODEUNIT *first = _PyCode_CODE(co);
        if (!line_table_readable(&pc, co))
            break;
        if (f->owner != FRAME_OWNED_BY_GENERATOR &&
            f->prev_instr < first + co->_co_firsttraceable) {
            f = f->previous; /* a frame being set up: no line yet */
            continue;
        }
        int line = PyCode_Addr2Line(co, (int)((f->prev_instr - first) * sizeof(_Py_CODEUNIT)));
        /* room for the header and at least a one-byte name */
        if (end - p < 8) {
            r->truncated = 1;
            break;
        }
        char *h = p;
        p += 6;
        size_t room = (size_t)(end - p);
        size_t nl = copy_str(&pc, co->co_qualname, p, room < 200 ? room : 200);
        p += nl;
        size_t fl;
        if (co->co_filename == prev_file) {
            fl = 255;
        } else {
            room = (size_t)(end - p);
            fl = copy_str(&pc, co->co_filename, p, room < 254 ? room : 254);
            p += fl;
            prev_file = co->co_filename;
        }
        memcpy(h, &line, 4);
        h[4] = (char)nl;
        h[5] = (char)(unsigned char)fl;
        n++;
        f = f->previous;
    }
    if (f && n >= PA_MAX_DEPTH)
        r->truncated = 1;
    r->nframes = (uint16_t)n;
    r->len = (uint32_t)(p - r->data);
    return n;
}

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)uctx;
    int saved_errno = errno;
    int kind;
    uint64_t weight = 1;

    atomic_fetch_add(&g_inflight, 1);
    if (!atomic_load(&g_on) || !g_ring)
        goto out;
    if (si->si_code == SI_TIMER && si->si_value.sival_int == SIGVAL_CPU) {
        kind = PA_CPU;
        if (si->si_overrun > 0)
            weight += (uint64_t)si->si_overrun;
    } else if ((si->si_code == POLL_IN || si->si_code == POLL_HUP) && si->si_fd >= 0 &&
               si->si_fd < MAX_PERF_FD) {
        uint32_t owner = atomic_load_explicit(&g_perf_fd_tid[si->si_fd], memory_order_relaxed);
        if (!owner)
            goto out; /* not one of our perf events */
        if ((pid_t)(owner & ~FD_FIRST) != my_tid()) {
            atomic_fetch_add_explicit(&g_misdirected, 1, memory_order_relaxed);
            goto out;
        }
        if (owner & FD_FIRST) {
            /* the random first period has passed: every later one is the full period */
            uint64_t period = 1000000000ULL / (uint64_t)g_s.rate;
            ioctl(si->si_fd, PERF_EVENT_IOC_PERIOD, &period);
            atomic_store_explicit(&g_perf_fd_tid[si->si_fd], owner & ~FD_FIRST,
                                  memory_order_relaxed);
        }
        kind = PA_CPU;
    } else if (si->si_code == SI_TKILL && si->si_pid == getpid()) {
        kind = PA_WALL;
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
        atomic_fetch_add_explicit(&g_dropped, 1, memory_order_relaxed);
        goto out;
    }
    if (pa_capture_self(&slot->rec) == 0) {
        atomic_store_explicit(&slot->state, SLOT_FREE, memory_order_release);
        goto out; /* not a Python thread, or no Python frames */
    }
    slot->rec.kind = (uint8_t)kind;
    slot->rec.tag = t_tag;
    slot->rec.weight = weight;
    atomic_store_explicit(&slot->state, SLOT_FULL, memory_order_release);
    atomic_fetch_add_explicit(&g_samples, 1, memory_order_relaxed);
out:
    atomic_fetch_sub(&g_inflight, 1);
    errno = saved_errno;
}

size_t pa_ring_drain(void (*cb)(const struct pa_rec *r, void *arg), void *arg)
{
    size_t taken = 0;
    if (!g_ring)
        return 0;
    for (size_t i = 0; i < RING_SLOTS; i++) {
        struct slot *s = &g_ring[i];
        if (atomic_load_explicit(&s->state, memory_order_acquire) != SLOT_FULL)
            continue;
        cb(&s->rec, arg);
        atomic_store_explicit(&s->state, SLOT_FREE, memory_order_release);
        taken++;
    }
    return taken;
}

/* The kernel's CPU clock id of one thread (MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)). */
static clockid_t thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6);
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
                 0x9E3779B97F4A7C15ULL;
    x ^= x >> 31;
    return 1 + (long)(x % (uint64_t)period);
}

/*
 * Opens a task-clock sampling event on thread tid whose overflow sends
 * SIGPROF (si_fd = the event) to that thread itself. Returns the fd or
 * -errno (-ESRCH when the thread is gone).
 */
static int perf_open_for(pid_t tid, int user_only)
{
    long period = 1000000000L / g_s.rate;
    long first = first_period(tid, period);
    if (first < 10000)
        first = 10000; /* the kernel's shortest hrtimer period */
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.sample_period = (uint64_t)first;
    a.disabled = 1;
    a.exclude_kernel = user_only ? 1 : 0;
    a.exclude_hv = 1;
    int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = 0;
    struct f_owner_ex owner = {.type = F_OWNER_TID, .pid = tid};
    if (fd >= MAX_PERF_FD) {
        err = -EMFILE;
        goto fail;
    }
    atomic_store(&g_perf_fd_tid[fd], (uint32_t)tid | FD_FIRST);
    if (fcntl(fd, F_SETOWN_EX, &owner) < 0 || fcntl(fd, F_SETSIG, SIGPROF) < 0 ||
        fcntl(fd, F_SETFL, O_ASYNC) < 0 || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) {
        err = -errno;
        atomic_store(&g_perf_fd_tid[fd], 0);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return err;
}

/* Stops and closes a perf event (its signals already in flight are ignored). */
static void perf_close(int fd)
{
    if (fd < 0)
        return;
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    atomic_store(&g_perf_fd_tid[fd], 0);
    close(fd);
}

static int timer_for(struct thread_timer *t);

/*
 * Starts CPU sampling of thread t with the current mechanism, stepping down
 * to the next one (and saying so on stderr, once) when the kernel refuses.
 * Returns 0 or -errno (-ESRCH / -EINVAL when the thread is gone).
 */
static int cpu_sampler_for(struct thread_timer *t)
{
    t->fd = -1;
    t->has_timer = 0;
    for (;;) {
        int mode = atomic_load(&g_s.cpu_mode);
        if (mode == CPU_TIMER)
            return timer_for(t);
        int fd = perf_open_for(t->tid, mode == CPU_PERF_USER);
        if (fd >= 0) {
            t->fd = fd;
            return 0;
        }
        if (fd == -ESRCH)
            return fd;
        if (fd == -EMFILE || fd == -ENFILE)
            return timer_for(t); /* this thread only */
        /*
         * Not to user-only perf on EACCES (perf_event_paranoid 2 without
         * CAP_PERFMON): it drops the periods that end in system calls, so a
         * profile misses system time; the timers keep the totals right and
         * shift some periods by a tick. EMBER_CPU_SAMPLER=perf-user asks for it.
         */
        int next = CPU_TIMER;
        if (atomic_compare_exchange_strong(&g_s.cpu_mode, &mode, next))
            fprintf(stderr,
                    "ember: perf_event_open(task-clock%s) on thread %d failed: %s; CPU "
                    "sampling uses %s%s\n",
                    mode == CPU_PERF_USER ? ", user only" : "", (int)t->tid, strerror(-fd),
                    cpu_mode_names[next],
                    next == CPU_TIMER ? " (a period can be charged up to one scheduler tick late)"
                                      : " (time in system calls is not sampled)");
    }
}

static int timer_for(struct thread_timer *t)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_int = SIGVAL_CPU;
#ifdef sigev_notify_thread_id
    sev.sigev_notify_thread_id = t->tid;
#else
    sev._sigev_un._tid = t->tid;
#endif
    if (timer_create(thread_cpu_clock(t->tid), &sev, &t->timer) < 0)
        return -errno;
    long period = 1000000000L / g_s.rate;
    long first = first_period(t->tid, period);
    struct itimerspec its = {{0, period}, {0, first}};
    if (timer_settime(t->timer, 0, &its, NULL) < 0) {
        int err = -errno;
        timer_delete(t->timer);
        return err;
    }
    t->has_timer = 1;
    return 0;
}

/* Adopts self-registered threads into the table (sampler thread only). */
static void adopt_pending(void)
{
    for (size_t k = 0; k < PENDING_SLOTS; k++) {
        struct pending_thread *p = &g_pending[k];
        if (atomic_load_explicit(&p->state, memory_order_acquire) != PEND_READY)
            continue;
        size_t i;
        for (i = 0; i < g_s.nthreads; i++)
            if (g_s.threads[i].tid == p->tid)
                break;
        if (i < g_s.nthreads || g_s.nthreads >= MAX_THREADS) {
            if (p->has_timer)
                timer_delete(p->timer); /* the scan found it first */
            perf_close(p->fd);
        } else {
            struct thread_timer *t = &g_s.threads[g_s.nthreads++];
            t->tid = p->tid;
            t->seen = 1;
            t->has_timer = p->has_timer;
            t->timer = p->timer;
            t->fd = p->fd;
        }
        atomic_store_explicit(&p->state, PEND_FREE, memory_order_release);
    }
}

int pa_register_self(void)
{
    if (!atomic_load(&g_on) || !g_s.running)
        return 0;
    pid_t tid = my_tid();
    if (is_own(tid))
        return 0;
    for (size_t k = 0; k < PENDING_SLOTS; k++) {
        struct pending_thread *p = &g_pending[k];
        int expect = PEND_FREE;
        if (!atomic_compare_exchange_strong(&p->state, &expect, PEND_WRITING))
            continue;
        struct thread_timer t = {.tid = tid, .fd = -1};
        int err = g_s.cpu ? cpu_sampler_for(&t) : 0;
        if (err) {
            atomic_store(&p->state, PEND_FREE);
            return err;
        }
        p->tid = tid;
        p->has_timer = t.has_timer;
        p->timer = t.timer;
        p->fd = t.fd;
        atomic_store_explicit(&p->state, PEND_READY, memory_order_release);
        return 1;
    }
    return 0; /* queue full: the next scan adopts the thread */
}

/* Brings the thread table in line with /proc/self/task: timers for new threads, none for gone ones.
 */
static void scan_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    for (size_t i = 0; i < g_s.nthreads; i++)
        g_s.threads[i].seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (is_own(tid))
            continue;
        size_t i;
        for (i = 0; i < g_s.nthreads; i++)
            if (g_s.threads[i].tid == tid)
                break;
        if (i < g_s.nthreads) {
            g_s.threads[i].seen = 1;
            continue;
        }
        if (g_s.nthreads >= MAX_THREADS)
            continue;
        struct thread_timer *t = &g_s.threads[g_s.nthreads];
        memset(t, 0, sizeof *t);
        t->tid = tid;
        t->seen = 1;
        t->fd = -1;
        if (g_s.cpu && cpu_sampler_for(t) < 0)
            continue; /* the thread exited meanwhile */
        g_s.nthreads++;
    }
    closedir(d);
    for (size_t i = 0; i < g_s.nthreads;) {
        if (g_s.threads[i].seen) {
            i++;
            continue;
        }
        if (g_s.threads[i].has_timer)
            timer_delete(g_s.threads[i].timer);
        perf_close(g_s.threads[i].fd);
        g_s.threads[i] = g_s.threads[--g_s.nthreads];
    }
}

static void ts_add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

/* The sampler thread: wall ticks at the sample rate and a thread scan every 100 ms. */
static void *sampler_main(void *arg)
{
    (void)arg;
    pa_own_thread_register();
    pthread_setname_np(pthread_self(), "ember-sampler");
    long period = 1000000000L / g_s.rate;
    long scan_ticks = SCAN_EVERY_MS * 1000000L / period;
    if (scan_ticks < 1)
        scan_ticks = 1;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pid_t pid = getpid();
    for (long tick = 0; !atomic_load(&g_s.stop); tick++) {
        adopt_pending();
        if (tick % scan_ticks == 0)
            scan_threads();
        if (g_s.wall)
            for (size_t i = 0; i < g_s.nthreads; i++)
                syscall(SYS_tgkill, pid, g_s.threads[i].tid, SIGPROF);
        ts_add_ns(&next, period);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec + 1)
            next = now; /* we were stopped (SIGSTOP, suspend): do not burst */
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    return NULL;
}

int pa_sampler_start(const struct pa_config *c)
{
    int err;
    if (g_s.running)
        return -EALREADY;
    if (!g_ring) {
        g_ring = calloc(RING_SLOTS, sizeof *g_ring);
        if (!g_ring)
            return -ENOMEM;
    }
    if (!g_s.threads) {
        g_s.threads = calloc(MAX_THREADS, sizeof *g_s.threads);
        if (!g_s.threads)
            return -ENOMEM;
    }
    g_s.nthreads = 0;
    g_s.rate = c->sample_rate;
    g_s.cpu = c->cpu;
    g_s.wall = c->wall;
    atomic_store(&g_s.stop, 0);
    const char *force = getenv("EMBER_CPU_SAMPLER");
    int forced = force && !strcmp(force, "timer") && c->cpu;
    int user = force && !strcmp(force, "perf-user");
    atomic_store(&g_s.cpu_mode, forced ? CPU_TIMER : user ? CPU_PERF_USER : CPU_PERF);
    if (forced)
        fprintf(stderr,
                "ember: EMBER_CPU_SAMPLER=timer: CPU sampling uses %s (a period can be "
                "charged up to one scheduler tick late)\n",
                cpu_mode_names[CPU_TIMER]);
    if (!c->cpu && !c->wall)
        return 0;
    if (!g_handler_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_signal;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGPROF, &sa, NULL) < 0)
            return -errno;
        /* kept for the life of the process: a late signal must never meet SIG_DFL (terminate) */
        g_handler_installed = 1;
    }
    atomic_store(&g_on, 1);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = -pthread_create(&g_s.thread, NULL, sampler_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        atomic_store(&g_on, 0);
        return err;
    }
    g_s.running = 1;
    return 0;
}

void pa_sampler_stop(void)
{
    if (!g_s.running)
        return;
    atomic_store(&g_s.stop, 1);
    pthread_join(g_s.thread, NULL);
    g_s.running = 0;
    adopt_pending();
    for (size_t i = 0; i < g_s.nthreads; i++) {
        if (g_s.threads[i].has_timer)
            timer_delete(g_s.threads[i].timer);
        if (g_s.threads[i].fd >= 0)
            ioctl(g_s.threads[i].fd, PERF_EVENT_IOC_DISABLE, 0);
    }
    atomic_store(&g_on, 0);
    while (atomic_load(&g_inflight) > 0)
        sched_yield();
    /* closed only now: a handler that saw g_on set may still have used its fd */
    for (size_t i = 0; i < g_s.nthreads; i++)
        perf_close(g_s.threads[i].fd);
    g_s.nthreads = 0;
}

void pa_sampler_after_fork(void)
{
    /* timers and threads are not inherited; the parent's table is stale, its perf fds are copies */
    for (size_t i = 0; i < g_s.nthreads; i++)
        if (g_s.threads[i].fd >= 0) {
            atomic_store(&g_perf_fd_tid[g_s.threads[i].fd], 0);
            close(g_s.threads[i].fd); /* not perf_close: the event is the parent's too */
        }
    g_s.running = 0;
    g_s.nthreads = 0;
    atomic_store(&g_on, 0);
    atomic_store(&g_inflight, 0);
    for (int i = 0; i < MAX_OWN; i++)
        atomic_store(&g_own[i], 0);
    for (size_t k = 0; k < PENDING_SLOTS; k++)
        atomic_store(&g_pending[k].state, PEND_FREE);
    if (g_ring)
        for (size_t i = 0; i < RING_SLOTS; i++)
            atomic_store(&g_ring[i].state, SLOT_FREE);
}

void pa_sampler_stats(uint64_t *samples, uint64_t *dropped, uint64_t *threads)
{
    *samples = atomic_load(&g_samples);
    *dropped = atomic_load(&g_dropped);
    *threads = g_s.nthreads;
}

const char *pa_sampler_cpu_mode(uint64_t *misdirected)
{
    *misdirected = atomic_load(&g_misdirected);
    return cpu_mode_names[atomic_load(&g_s.cpu_mode)];
}
