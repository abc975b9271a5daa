/* alloc.c - libember.so's malloc family interposers: Poisson sampling by bytes, live-set tracking */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/preload.h"

#define EXPORT __attribute__((visibility("default")))

/* dlsym() may allocate before the real functions are known: served from here, never freed. */
#define BOOT_SIZE (64 * 1024)
static _Alignas(64) char g_boot[BOOT_SIZE];
static _Atomic size_t g_boot_used;

/*
 * The real functions. Until resolve() runs they point at boot_* stand-ins
 * that resolve first, so the hooks call through them without a check.
 */
static void *boot_malloc(size_t n);
static void *boot_calloc(size_t k, size_t n);
static void *boot_realloc(void *p, size_t n);
static void boot_free(void *p);
static void *(*r_malloc)(size_t) = boot_malloc;
static void *(*r_calloc)(size_t, size_t) = boot_calloc;
static void *(*r_realloc)(void *, size_t) = boot_realloc;
static void (*r_free)(void *) = boot_free;
static int (*r_posix_memalign)(void **, size_t, size_t);
static void *(*r_aligned_alloc)(size_t, size_t);
static void *(*r_memalign)(size_t, size_t);
static void *(*r_valloc)(size_t);
static void *(*r_pvalloc)(size_t);
static int g_resolving, g_resolved;
/* 0 until the constructor has run, then 1 (alloc profiling on) or 2 (off) */
static int g_alloc_state;

/*
 * Per thread: bytes left until the next sample. The hooks subtract the size
 * and take the slow path only when it drops to 0 or below (also the first
 * call of a thread, as it starts at 0).
 */
struct tls_state {
    int64_t left;
    uint64_t rng;
};
static __thread struct tls_state t_st __attribute__((tls_model("initial-exec")));

static void *boot_alloc(size_t n, size_t align)
{
    if (align < 16)
        align = 16;
    size_t cur = atomic_load(&g_boot_used);
    for (;;) {
        size_t start = (cur + align - 1) & ~(align - 1);
        if (start + n > BOOT_SIZE || start + n < start)
            return NULL;
        if (atomic_compare_exchange_weak(&g_boot_used, &cur, start + n))
            return g_boot + start;
    }
}

static int is_boot(const void *p)
{
    return (const char *)p >= g_boot && (const char *)p < g_boot + BOOT_SIZE;
}

static void resolve(void)
{
    if (__atomic_load_n(&g_resolved, __ATOMIC_ACQUIRE) || g_resolving)
        return;
    g_resolving = 1;
    void *c = dlsym(RTLD_NEXT, "calloc");
    void *r = dlsym(RTLD_NEXT, "realloc");
    void *f = dlsym(RTLD_NEXT, "free");
    r_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    r_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    r_memalign = dlsym(RTLD_NEXT, "memalign");
    r_valloc = dlsym(RTLD_NEXT, "valloc");
    r_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    void *m = dlsym(RTLD_NEXT, "malloc");
    if (!m || !c || !r || !f) {
        static const char msg[] = "ember: cannot find the real malloc; aborting\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    __atomic_store_n(&r_calloc, c, __ATOMIC_RELAXED);
    __atomic_store_n(&r_realloc, r, __ATOMIC_RELAXED);
    __atomic_store_n(&r_free, f, __ATOMIC_RELAXED);
    __atomic_store_n(&r_malloc, m, __ATOMIC_RELAXED);
    __atomic_store_n(&g_resolved, 1, __ATOMIC_RELEASE);
    g_resolving = 0;
}

static void *boot_malloc(size_t n)
{
    resolve();
    return g_resolved ? r_malloc(n) : boot_alloc(n, 16);
}

static void *boot_calloc(size_t k, size_t n)
{
    resolve();
    if (g_resolved)
        return r_calloc(k, n);
    size_t t;
    if (__builtin_mul_overflow(k, n, &t))
        return NULL;
    return boot_alloc(t, 16); /* static memory: already zero */
}

static void *boot_realloc(void *p, size_t n)
{
    resolve();
    if (g_resolved)
        return r_realloc(p, n);
    void *q = boot_alloc(n, 16);
    if (q && p)
        memcpy(q, p, n); /* only boot memory can exist this early; it is large enough */
    return q;
}

static void boot_free(void *p)
{
    resolve();
    if (g_resolved)
        r_free(p);
}

void *pl_real_malloc(size_t n)
{
    return r_malloc(n);
}

void pl_real_free(void *p)
{
    if (!p || is_boot(p))
        return;
    r_free(p);
}

void pl_alloc_init(void)
{
    resolve();
    __atomic_store_n(&g_alloc_state, pl_cfg.kinds[PL_ALLOC] ? 1 : 2, __ATOMIC_RELEASE);
}

/* xorshift64*: uniform in (0, 1). */
static double rand01(struct tls_state *st)
{
    uint64_t x = st->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    st->rng = x;
    return ((double)((x * 0x2545f4914f6cdd1dull) >> 11) + 0.5) / 9007199254740992.0;
}

/* An exponential draw with mean alloc_mean: the gap to the next sampled byte. */
static int64_t next_gap(struct tls_state *st)
{
    double g = -log(rand01(st)) * (double)pl_cfg.alloc_mean;
    if (g < 1)
        g = 1;
    if (g > 9e18)
        g = 9e18;
    return (int64_t)g;
}

/*
 * The slow path of every hook, when the countdown of bytes ran out: draws
 * the next gap and, when profiling, records the sample p of n bytes.
 */
__attribute__((noinline)) static void sample_slow(void *p, size_t n)
{
    struct tls_state *st = &t_st;
    int state = __atomic_load_n(&g_alloc_state, __ATOMIC_ACQUIRE);
    if (state != 1) {
        /* before the constructor: look again after 64 KiB; profiling off: never again */
        st->left = state == 0 ? 64 * 1024 : INT64_MAX / 2;
        return;
    }
    if (!st->rng) {
        /* the thread's first slow call: seed, and start with a gap of its own */
        st->rng = (uint64_t)(uintptr_t)&t_st ^ pl_now_ns() ^ 0x9e3779b97f4a7c15ull;
        if (!st->rng)
            st->rng = 1;
        st->left = next_gap(st) - (int64_t)n;
        if (st->left > 0)
            return;
    }
    st->left = next_gap(st);
    if (!p || pl_guard || !pl_ready)
        return;
    pl_guard = 1;
    /* P(sampled) = 1 - exp(-n/mean); each sample stands for 1/P objects and n/P bytes */
    double prob = -expm1(-(double)n / (double)pl_cfg.alloc_mean);
    double objs = prob > 0 ? 1.0 / prob : 1.0, bytes = (double)n * objs;
    uint64_t pcs[PL_MAX_DEPTH];
    size_t depth = pl_unwind_here(pcs, PL_MAX_DEPTH, 4); /* ours: unwinder, this, slow path, hook */
    const double d[4] = {objs, bytes, objs, bytes};
    pl_lock();
    int32_t id = pl_stack_add(PL_ALLOC, pcs, depth, d);
    if (id >= 0 && pl_live_add((uintptr_t)p, id, objs, bytes) < 0) {
        const double undo[4] = {0, 0, -objs, -bytes};
        pl_stack_add_id(id, undo);
    }
    pl_unlock();
    __atomic_add_fetch(&pl_stat_samples[PL_ALLOC], 1, __ATOMIC_RELAXED);
    pl_guard = 0;
}

/* Counts n bytes down; 1 when the slow path is due (rare: every ~alloc_mean bytes). */
static inline int countdown(size_t n)
{
    struct tls_state *st = &t_st;
    st->left = (int64_t)((uint64_t)st->left - (uint64_t)n);
    return __builtin_expect(st->left <= 0, 0);
}

/* Forgets p if it is a sampled live object (before the real free, so the address is not reused). */
__attribute__((noinline)) static void forget_slow(void *p)
{
    int32_t id;
    double objs, bytes;
    pl_lock();
    if (pl_live_take((uintptr_t)p, &id, &objs, &bytes) && id >= 0) {
        const double d[4] = {0, 0, -objs, -bytes};
        pl_stack_add_id(id, d);
    }
    pl_unlock();
}

static inline void forget(void *p)
{
    if (__builtin_expect(pl_live_maybe((uintptr_t)p), 0) && p)
        forget_slow(p);
}

/* The hooks: fast path = countdown + a tail call of the real function. */

__attribute__((noinline)) static void *malloc_slow(size_t n)
{
    void *p = r_malloc(n);
    sample_slow(p, n);
    return p;
}

EXPORT void *malloc(size_t n)
{
    if (countdown(n))
        return malloc_slow(n);
    return r_malloc(n);
}

__attribute__((noinline)) static void *calloc_slow(size_t k, size_t n)
{
    void *p = r_calloc(k, n);
    sample_slow(p, k * n);
    return p;
}

EXPORT void *calloc(size_t k, size_t n)
{
    /* an overflowing k * n fails in the real calloc; it only skews the countdown */
    if (countdown(k * n))
        return calloc_slow(k, n);
    return r_calloc(k, n);
}

EXPORT void free(void *p)
{
    if (__builtin_expect((uintptr_t)p - (uintptr_t)g_boot < BOOT_SIZE, 0))
        return;
    forget(p);
    r_free(p);
}

__attribute__((noinline)) static void *realloc_boot(void *p, size_t n)
{
    size_t have = (size_t)(g_boot + BOOT_SIZE - (char *)p);
    void *q = malloc(n);
    if (q)
        memcpy(q, p, have < n ? have : n);
    return q;
}

__attribute__((noinline)) static void *realloc_slow(void *p, size_t n)
{
    void *q = r_realloc(p, n);
    if (n)
        sample_slow(q, n);
    return q;
}

EXPORT void *realloc(void *p, size_t n)
{
    if (__builtin_expect((uintptr_t)p - (uintptr_t)g_boot < BOOT_SIZE, 0))
        return realloc_boot(p, n);
    forget(p);
    if (countdown(n))
        return realloc_slow(p, n);
    return r_realloc(p, n);
}

static void *memalign_slow(void *p, size_t n)
{
    if (countdown(n))
        sample_slow(p, n);
    return p;
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    resolve();
    if (!r_posix_memalign) {
        void *p = boot_alloc(n, align);
        if (!p)
            return ENOMEM;
        *out = p;
        return 0;
    }
    int r = r_posix_memalign(out, align, n);
    if (!r)
        memalign_slow(*out, n);
    return r;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    resolve();
    if (!r_aligned_alloc)
        return boot_alloc(n, align);
    return memalign_slow(r_aligned_alloc(align, n), n);
}

EXPORT void *memalign(size_t align, size_t n)
{
    resolve();
    if (!r_memalign)
        return boot_alloc(n, align);
    return memalign_slow(r_memalign(align, n), n);
}

EXPORT void *valloc(size_t n)
{
    resolve();
    if (!r_valloc)
        return boot_alloc(n, 4096);
    return memalign_slow(r_valloc(n), n);
}

EXPORT void *pvalloc(size_t n)
{
    resolve();
    if (!r_pvalloc)
        return boot_alloc(n, 4096);
    return memalign_slow(r_pvalloc(n), n);
}
