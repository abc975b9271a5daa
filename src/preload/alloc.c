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

static void *(*r_malloc)(size_t);
static void *(*r_calloc)(size_t, size_t);
static void *(*r_realloc)(void *, size_t);
static void (*r_free)(void *);
static int (*r_posix_memalign)(void **, size_t, size_t);
static void *(*r_aligned_alloc)(size_t, size_t);
static void *(*r_memalign)(size_t, size_t);
static void *(*r_valloc)(size_t);
static void *(*r_pvalloc)(size_t);
static int g_resolving;
static int g_alloc_on;

struct tls_state {
    int64_t left; /* bytes until the next sample */
    uint64_t rng;
    int init;
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
    if (r_malloc || g_resolving)
        return;
    g_resolving = 1;
    r_calloc = dlsym(RTLD_NEXT, "calloc");
    r_realloc = dlsym(RTLD_NEXT, "realloc");
    r_free = dlsym(RTLD_NEXT, "free");
    r_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    r_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    r_memalign = dlsym(RTLD_NEXT, "memalign");
    r_valloc = dlsym(RTLD_NEXT, "valloc");
    r_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    void *m = dlsym(RTLD_NEXT, "malloc");
    if (!m || !r_calloc || !r_realloc || !r_free) {
        static const char msg[] = "ember: cannot find the real malloc; aborting\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    __atomic_store_n(&r_malloc, m, __ATOMIC_RELEASE);
    g_resolving = 0;
}

void *pl_real_malloc(size_t n)
{
    resolve();
    return r_malloc ? r_malloc(n) : boot_alloc(n, 16);
}

void pl_real_free(void *p)
{
    if (!p || is_boot(p))
        return;
    resolve();
    r_free(p);
}

void pl_alloc_init(void)
{
    resolve();
    g_alloc_on = pl_cfg.kinds[PL_ALLOC];
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

__attribute__((noinline)) static void sample_slow(void *p, size_t n)
{
    struct tls_state *st = &t_st;
    if (!st->init) {
        st->init = 1;
        st->rng = (uint64_t)(uintptr_t)&t_st ^ pl_now_ns() ^ 0x9e3779b97f4a7c15ull;
        if (!st->rng)
            st->rng = 1;
        st->left = next_gap(st) - (int64_t)n;
        if (st->left > 0)
            return;
    }
    st->left = next_gap(st);
    pl_guard = 1;
    /* P(sampled) = 1 - exp(-n/mean); each sample stands for 1/P objects and n/P bytes */
    double prob = -expm1(-(double)n / (double)pl_cfg.alloc_mean);
    double objs = prob > 0 ? 1.0 / prob : 1.0, bytes = (double)n * objs;
    uint64_t pcs[PL_MAX_DEPTH];
    size_t depth = pl_unwind_here(pcs, PL_MAX_DEPTH, 3); /* ours: unwinder, this, the hook */
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

static inline void maybe_sample(void *p, size_t n)
{
    if (__builtin_expect(!g_alloc_on || !p || pl_guard || !pl_ready, 1))
        return;
    struct tls_state *st = &t_st;
    st->left -= (int64_t)n;
    if (__builtin_expect(st->left > 0 && st->init, 1))
        return;
    sample_slow(p, n);
}

/* Forgets p if it is a sampled live object (before the real free, so the address is not reused). */
static inline void forget(void *p)
{
    if (__builtin_expect(!g_alloc_on || !p || !pl_live_maybe((uintptr_t)p), 1))
        return;
    int32_t id;
    double objs, bytes;
    pl_lock();
    if (pl_live_take((uintptr_t)p, &id, &objs, &bytes) && id >= 0) {
        const double d[4] = {0, 0, -objs, -bytes};
        pl_stack_add_id(id, d);
    }
    pl_unlock();
}

EXPORT void *malloc(size_t n)
{
    if (__builtin_expect(!r_malloc, 0)) {
        resolve();
        if (!r_malloc)
            return boot_alloc(n, 16);
    }
    void *p = r_malloc(n);
    maybe_sample(p, n);
    return p;
}

EXPORT void *calloc(size_t k, size_t n)
{
    if (__builtin_expect(!r_malloc, 0)) {
        resolve();
        if (!r_malloc) {
            size_t t;
            if (__builtin_mul_overflow(k, n, &t))
                return NULL;
            return boot_alloc(t, 16); /* static memory: already zero */
        }
    }
    void *p = r_calloc(k, n);
    if (p)
        maybe_sample(p, k * n);
    return p;
}

EXPORT void free(void *p)
{
    if (!p || is_boot(p))
        return;
    if (__builtin_expect(!r_free, 0))
        resolve();
    forget(p);
    r_free(p);
}

EXPORT void *realloc(void *p, size_t n)
{
    if (__builtin_expect(!r_malloc, 0)) {
        resolve();
        if (!r_malloc) {
            void *q = boot_alloc(n, 16);
            if (q && p)
                memcpy(q, p, n); /* only boot memory can exist this early; it is large enough */
            return q;
        }
    }
    if (p && is_boot(p)) {
        void *q = r_malloc(n);
        if (q)
            memcpy(q, p, (size_t)(g_boot + BOOT_SIZE - (char *)p) < n
                             ? (size_t)(g_boot + BOOT_SIZE - (char *)p)
                             : n);
        return q;
    }
    forget(p);
    void *q = r_realloc(p, n);
    if (n)
        maybe_sample(q, n);
    return q;
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
        maybe_sample(*out, n);
    return r;
}

EXPORT void *aligned_alloc(size_t align, size_t n)
{
    resolve();
    if (!r_aligned_alloc)
        return boot_alloc(n, align);
    void *p = r_aligned_alloc(align, n);
    maybe_sample(p, n);
    return p;
}

EXPORT void *memalign(size_t align, size_t n)
{
    resolve();
    if (!r_memalign)
        return boot_alloc(n, align);
    void *p = r_memalign(align, n);
    maybe_sample(p, n);
    return p;
}

EXPORT void *valloc(size_t n)
{
    resolve();
    if (!r_valloc)
        return boot_alloc(n, 4096);
    void *p = r_valloc(n);
    maybe_sample(p, n);
    return p;
}

EXPORT void *pvalloc(size_t n)
{
    resolve();
    if (!r_pvalloc)
        return boot_alloc(n, 4096);
    void *p = r_pvalloc(n);
    maybe_sample(p, n);
    return p;
}
