/* stacks.c - libember.so's bounded stack table and live-allocation set (mmap memory, one spin lock) */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "preload/preload.h"

/* Distinct stacks kept (all kinds together); further new stacks are dropped and counted. */
#define STACKS_MAX (1u << 15)
#define STACKS_CAP (STACKS_MAX * 2) /* open addressing: at most half full */
/* Frames kept in the pool of one table generation. */
#define POOL_MAX (STACKS_MAX * 24u)
/* Live sampled allocations tracked (at 512 KiB mean, 64K samples stand for ~32 GiB). */
#define LIVE_MAX    (1u << 16)
#define LIVE_BUCKETS (1u << 16)
#define FILTER_SIZE (1u << PL_LIVE_BITS_LOG)

struct stack_ent {
    uint64_t hash; /* 0 = empty */
    uint32_t off;  /* first frame in the pool */
    uint16_t depth;
    uint8_t kind;
    uint8_t pad;
    double v[4];
};

struct table {
    struct stack_ent *ent; /* STACKS_CAP */
    uint64_t *pool;        /* POOL_MAX */
    uint32_t pool_len, len;
};

struct live {
    uintptr_t ptr;
    int32_t stack;
    uint32_t next; /* index + 1 in the chain / free list, 0 = end */
    double objs, bytes;
};

static atomic_flag g_lock = ATOMIC_FLAG_INIT;
static struct table g_tab[2];
static int g_cur;
static struct live *g_live;     /* LIVE_MAX */
static uint32_t *g_buckets;     /* LIVE_BUCKETS, index + 1 */
static uint32_t g_live_free;    /* free-list head, index + 1 */
static uint32_t g_live_used;    /* slots ever handed out */
static uint32_t g_live_len;
static uint32_t *g_filter; /* FILTER_SIZE counts of live pointers per bit of pl_live_bits */
uint64_t pl_live_bits[FILTER_SIZE / 64];
static int g_init_failed;
static uint64_t g_mem, g_dropped_stacks, g_dropped_live;
uint64_t pl_stat_samples[PL_NKINDS];

void *pl_mmap(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    __atomic_add_fetch(&g_mem, n, __ATOMIC_RELAXED);
    return p;
}

/* Maps everything on first use (under the lock). 0, or -ENOMEM (then nothing is recorded). */
static int ensure_init(void)
{
    if (g_live)
        return 0;
    if (g_init_failed)
        return -ENOMEM;
    for (int i = 0; i < 2; i++) {
        g_tab[i].ent = pl_mmap(STACKS_CAP * sizeof(struct stack_ent));
        g_tab[i].pool = pl_mmap(POOL_MAX * sizeof(uint64_t));
        if (!g_tab[i].ent || !g_tab[i].pool)
            goto fail;
    }
    g_buckets = pl_mmap(LIVE_BUCKETS * sizeof(uint32_t));
    g_filter = pl_mmap(FILTER_SIZE * sizeof(uint32_t));
    g_live = pl_mmap(LIVE_MAX * sizeof(struct live));
    if (!g_buckets || !g_filter || !g_live)
        goto fail;
    return 0;
fail:
    g_live = NULL;
    g_init_failed = 1;
    pl_log(1, "cannot map profiler memory: allocation and lock profiles are off");
    return -ENOMEM;
}

void pl_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&g_lock, memory_order_acquire)) {
        for (int i = 0; i < 64; i++)
            __builtin_ia32_pause();
        if (atomic_flag_test_and_set_explicit(&g_lock, memory_order_acquire))
            sched_yield();
        else
            return;
    }
}

void pl_unlock(void)
{
    atomic_flag_clear_explicit(&g_lock, memory_order_release);
}

static uint64_t hash_stack(enum pl_kind kind, const uint64_t *pcs, size_t depth)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)kind ^ ((uint64_t)depth << 8);
    for (size_t i = 0; i < depth; i++) {
        h ^= pcs[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h ? h : 1;
}

static int32_t table_insert(struct table *t, uint64_t h, enum pl_kind kind, const uint64_t *pcs,
                            size_t depth)
{
    uint32_t mask = STACKS_CAP - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        struct stack_ent *e = &t->ent[i];
        if (!e->hash) {
            if (t->len >= STACKS_MAX || t->pool_len + depth > POOL_MAX)
                return -1;
            e->hash = h;
            e->kind = (uint8_t)kind;
            e->depth = (uint16_t)depth;
            e->off = t->pool_len;
            memcpy(t->pool + t->pool_len, pcs, depth * sizeof(uint64_t));
            t->pool_len += (uint32_t)depth;
            t->len++;
            return (int32_t)i;
        }
        if (e->hash == h && e->kind == kind && e->depth == depth &&
            !memcmp(t->pool + e->off, pcs, depth * sizeof(uint64_t)))
            return (int32_t)i;
    }
}

int32_t pl_stack_add(enum pl_kind kind, const uint64_t *pcs, size_t depth, const double d[4])
{
    if (ensure_init())
        return -1;
    if (depth > PL_MAX_DEPTH)
        depth = PL_MAX_DEPTH;
    struct table *t = &g_tab[g_cur];
    int32_t id = table_insert(t, hash_stack(kind, pcs, depth), kind, pcs, depth);
    if (id < 0) {
        g_dropped_stacks++;
        return -1;
    }
    pl_stack_add_id(id, d);
    return id;
}

void pl_stack_add_id(int32_t id, const double d[4])
{
    struct stack_ent *e = &g_tab[g_cur].ent[id];
    for (int i = 0; i < 4; i++)
        e->v[i] += d[i];
}

static void walk(enum pl_kind kind, pl_stack_cb cb, void *arg, int reset)
{
    /* Copy out in chunks so the lock is never held while cb runs (cb allocates). */
    static uint64_t pcs[256][PL_MAX_DEPTH];
    static double vals[256][4];
    static size_t depths[256];
    uint32_t pos = 0;
    for (;;) {
        size_t n = 0;
        pl_lock();
        if (ensure_init()) {
            pl_unlock();
            return;
        }
        struct table *t = &g_tab[g_cur];
        for (; pos < STACKS_CAP && n < 256; pos++) {
            struct stack_ent *e = &t->ent[pos];
            if (!e->hash || e->kind != kind)
                continue;
            int any = e->v[0] != 0 || e->v[1] != 0 || e->v[2] != 0 || e->v[3] != 0;
            if (!any)
                continue;
            memcpy(pcs[n], t->pool + e->off, e->depth * sizeof(uint64_t));
            depths[n] = e->depth;
            memcpy(vals[n], e->v, sizeof(e->v));
            if (reset) {
                e->v[0] = e->v[1] = 0;
                if (kind != PL_ALLOC)
                    e->v[2] = e->v[3] = 0;
            }
            n++;
        }
        pl_unlock();
        for (size_t i = 0; i < n; i++)
            cb(pcs[i], depths[i], vals[i], arg);
        if (pos >= STACKS_CAP)
            break;
    }
}

void pl_stack_flush(enum pl_kind kind, pl_stack_cb cb, void *arg)
{
    walk(kind, cb, arg, 1);
}

void pl_stack_peek(enum pl_kind kind, pl_stack_cb cb, void *arg)
{
    walk(kind, cb, arg, 0);
}

void pl_stack_reset_interval(void)
{
    pl_lock();
    if (!ensure_init()) {
        struct table *t = &g_tab[g_cur];
        for (uint32_t i = 0; i < STACKS_CAP; i++) {
            struct stack_ent *e = &t->ent[i];
            if (!e->hash)
                continue;
            e->v[0] = e->v[1] = 0;
            if (e->kind != PL_ALLOC)
                e->v[2] = e->v[3] = 0;
        }
    }
    pl_unlock();
}

void pl_stack_compact(void)
{
    static int32_t map[STACKS_CAP];
    pl_lock();
    if (ensure_init() || g_tab[g_cur].len < STACKS_MAX * 3 / 4) {
        pl_unlock();
        return;
    }
    struct table *from = &g_tab[g_cur], *to = &g_tab[!g_cur];
    memset(to->ent, 0, STACKS_CAP * sizeof(struct stack_ent));
    to->len = to->pool_len = 0;
    for (uint32_t i = 0; i < STACKS_CAP; i++) {
        struct stack_ent *e = &from->ent[i];
        map[i] = -1;
        if (!e->hash || (e->v[0] == 0 && e->v[1] == 0 && e->v[2] == 0 && e->v[3] == 0))
            continue;
        int32_t id = table_insert(to, e->hash, e->kind, from->pool + e->off, e->depth);
        if (id >= 0)
            memcpy(to->ent[id].v, e->v, sizeof(e->v));
        map[i] = id;
    }
    g_cur = !g_cur;
    pl_live_remap(map, STACKS_CAP);
    /* give the old generation's pages back; they are touched again on the next compaction */
    madvise(from->ent, STACKS_CAP * sizeof(struct stack_ent), MADV_DONTNEED);
    madvise(from->pool, POOL_MAX * sizeof(uint64_t), MADV_DONTNEED);
    from->len = from->pool_len = 0;
    pl_unlock();
}

static uint32_t ptr_hash(uintptr_t p)
{
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 40);
}


int pl_live_add(uintptr_t ptr, int32_t stack, double objs, double bytes)
{
    if (ensure_init())
        return -ENOMEM;
    uint32_t idx;
    if (g_live_free) {
        idx = g_live_free - 1;
        g_live_free = g_live[idx].next;
    } else if (g_live_used < LIVE_MAX) {
        idx = g_live_used++;
    } else {
        g_dropped_live++;
        return -ENOSPC;
    }
    uint32_t h = ptr_hash(ptr);
    uint32_t b = h & (LIVE_BUCKETS - 1);
    g_live[idx] = (struct live){ptr, stack, g_buckets[b], objs, bytes};
    g_buckets[b] = idx + 1;
    g_live_len++;
    uint32_t fb = pl_live_bit(ptr);
    if (g_filter[fb]++ == 0)
        __atomic_fetch_or(&pl_live_bits[fb >> 6], 1ull << (fb & 63), __ATOMIC_RELAXED);
    return 0;
}

int pl_live_take(uintptr_t ptr, int32_t *stack, double *objs, double *bytes)
{
    if (!g_live)
        return 0;
    uint32_t h = ptr_hash(ptr);
    uint32_t *link = &g_buckets[h & (LIVE_BUCKETS - 1)];
    while (*link) {
        struct live *l = &g_live[*link - 1];
        if (l->ptr == ptr) {
            uint32_t idx = *link - 1;
            *stack = l->stack;
            *objs = l->objs;
            *bytes = l->bytes;
            *link = l->next;
            l->next = g_live_free;
            g_live_free = idx + 1;
            g_live_len--;
            uint32_t fb = pl_live_bit(ptr);
            if (g_filter[fb] && --g_filter[fb] == 0)
                __atomic_fetch_and(&pl_live_bits[fb >> 6], ~(1ull << (fb & 63)), __ATOMIC_RELAXED);
            return 1;
        }
        link = &l->next;
    }
    return 0;
}

void pl_live_remap(const int32_t *map, size_t n)
{
    for (uint32_t b = 0; b < LIVE_BUCKETS; b++)
        for (uint32_t i = g_buckets[b]; i; i = g_live[i - 1].next) {
            struct live *l = &g_live[i - 1];
            l->stack = l->stack >= 0 && (size_t)l->stack < n ? map[l->stack] : -1;
        }
}

void pl_stats_get(struct pl_stats *st)
{
    memset(st, 0, sizeof(*st));
    pl_lock();
    st->stacks = g_tab[g_cur].len;
    st->stacks_max = STACKS_MAX;
    st->live = g_live_len;
    st->live_max = LIVE_MAX;
    st->dropped_stacks = g_dropped_stacks;
    st->dropped_live = g_dropped_live;
    pl_unlock();
    for (int k = 0; k < PL_NKINDS; k++)
        st->samples[k] = __atomic_load_n(&pl_stat_samples[k], __ATOMIC_RELAXED);
    st->mem_bytes = __atomic_load_n(&g_mem, __ATOMIC_RELAXED);
}
