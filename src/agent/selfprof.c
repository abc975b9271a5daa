/* selfprof.c - the server's self-profiler: sampler -> stack aggregation -> symbolized process_cpu
 * profiles */
#include "agent/selfprof.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/sampler.h"
#include "agent/symbolize.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "profile/profile.h"
#include "store/store.h"

#define SELFPROF_PTYPE   "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define SELFPROF_SERVICE "ember-server"
/* Drain the ring this often (it holds 4096 samples: 40 s of one busy thread at 100 Hz). */
#define DRAIN_MS 100
/* Look for new threads this often. */
#define SCAN_MS 1000
/* Distinct stacks kept per interval; samples of further stacks are counted as dropped. */
#define MAX_STACKS 65536

/* One distinct stack of the current interval: pcs[off..off+depth) in the pool, leaf first. */
struct agg_stack {
    size_t off;
    uint32_t depth;
    uint64_t count;
};

struct selfprof {
    struct store *st;
    char *tenant;
    int hz, interval_s;
    struct sampler *sampler;
    struct symbolizer *sym;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop;          /* under mu */
    struct hmap index; /* hash of pcs -> index in stacks */
    VEC(struct agg_stack) stacks;
    VEC(uint64_t) pool;
    uint64_t dropped;
    int64_t window_start_ns;
    char host[256];
    char pid[32];
};

static struct selfprof *g_selfprof;

static uint64_t stack_key(const uint64_t *pcs, size_t depth, uint64_t salt)
{
    uint64_t h = hash_bytes(pcs, depth * sizeof(*pcs)) ^ hash_u64(salt);
    return h == UINT64_MAX ? 0 : h;
}

static void on_sample(const uint64_t *pcs, size_t depth, int tid, void *arg)
{
    struct selfprof *sp = arg;
    (void)tid;
    for (uint64_t salt = 0;; salt++) {
        uint64_t key = stack_key(pcs, depth, salt);
        int created = 0;
        if (sp->stacks.len >= MAX_STACKS && !hmap_get(&sp->index, key)) {
            sp->dropped++;
            return;
        }
        uint64_t *slot = hmap_put(&sp->index, key, &created);
        if (created) {
            *slot = sp->stacks.len;
            struct agg_stack a = {sp->pool.len, (uint32_t)depth, 1};
            VEC_RESERVE(sp->pool, depth);
            memcpy(sp->pool.data + sp->pool.len, pcs, depth * sizeof(*pcs));
            sp->pool.len += depth;
            VEC_PUSH(sp->stacks, a);
            return;
        }
        struct agg_stack *a = &sp->stacks.data[*slot];
        if (a->depth == depth && !memcmp(sp->pool.data + a->off, pcs, depth * sizeof(*pcs))) {
            a->count++;
            return;
        }
        /* a 64-bit hash collision: try the next salt */
    }
}

/* Interns the frame of pc into sym, caching pc -> frame id in cache. */
static uint32_t pc_frame(struct selfprof *sp, struct symtab *sym, struct hmap *cache, uint64_t pc)
{
    uint64_t key = pc == UINT64_MAX ? 0 : pc;
    int created = 0;
    uint64_t *slot = hmap_put(cache, key, &created);
    if (!created)
        return (uint32_t)*slot;
    struct sym_info si;
    int err = symbolizer_lookup(sp->sym, pc, &si);
    char name[64];
    const char *fn = si.name;
    if (err || !fn) {
        const char *mod = si.module ? strrchr(si.module, '/') : NULL;
        mod = mod ? mod + 1 : si.module;
        if (mod) /* no symbol: one frame per module, so its time adds up */
            snprintf(name, sizeof(name), "[%.60s]", mod);
        else
            snprintf(name, sizeof(name), "0x%" PRIx64, pc);
        fn = name;
    }
    uint32_t id = symtab_frame_str(sym, fn, si.file, si.line, si.module, 0);
    *slot = id;
    return id;
}

/* Appends the stacks of the current interval as one profile and starts a new interval. */
static void flush(struct selfprof *sp)
{
    int64_t now = time_now_ns();
    int64_t period = 1000000000LL / sp->hz;
    if (sp->stacks.len == 0)
        goto reset;
    struct profile_batch b;
    batch_init(&b);
    struct profile *p = batch_add(&b);
    labels_set(&p->labels, LABEL_NAME, "process_cpu");
    labels_set(&p->labels, LABEL_PROFILE_TYPE, SELFPROF_PTYPE);
    labels_set(&p->labels, LABEL_SERVICE_NAME, SELFPROF_SERVICE);
    labels_set(&p->labels, "host_name", sp->host);
    labels_set(&p->labels, "pid", sp->pid);
    p->time_ns = sp->window_start_ns;
    p->duration_ns = now - sp->window_start_ns;
    p->period = period;
    struct hmap cache;
    hmap_init(&cache);
    uint32_t frames[SAMPLER_MAX_DEPTH];
    for (size_t i = 0; i < sp->stacks.len; i++) {
        const struct agg_stack *a = &sp->stacks.data[i];
        const uint64_t *pcs = sp->pool.data + a->off;
        for (uint32_t j = 0; j < a->depth; j++) /* pcs are leaf first; frames root first */
            frames[a->depth - 1 - j] = pc_frame(sp, &b.sym, &cache, pcs[j]);
        uint32_t stack = symtab_stack(&b.sym, frames, a->depth);
        profile_add(p, stack, (int64_t)a->count * period);
    }
    hmap_release(&cache);
    profile_compact(p);
    int err = store_append(sp->st, sp->tenant, &b);
    if (err)
        log_warn("self-profiler: cannot store profile of %zu stacks: %s", sp->stacks.len,
                 ember_strerror(err));
    batch_release(&b);
reset:
    if (sp->dropped)
        log_debug("self-profiler: %" PRIu64 " samples of new stacks dropped (over %d stacks)",
                  sp->dropped, MAX_STACKS);
    sp->dropped = 0;
    sp->stacks.len = 0;
    sp->pool.len = 0;
    hmap_clear(&sp->index);
    sp->window_start_ns = now;
}

static void *collector_main(void *arg)
{
    struct selfprof *sp = arg;
    int64_t next_scan = time_mono_ns() + SCAN_MS * 1000000LL;
    int64_t next_flush = time_mono_ns() + sp->interval_s * 1000000000LL;
    pthread_mutex_lock(&sp->mu);
    while (!sp->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += DRAIN_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sp->cond, &sp->mu, &ts);
        if (sp->stop)
            break;
        pthread_mutex_unlock(&sp->mu);
        sampler_drain(sp->sampler, on_sample, sp);
        int64_t now = time_mono_ns();
        if (now >= next_scan) {
            int n = sampler_scan_threads(sp->sampler);
            if (n < 0)
                log_warn("self-profiler: cannot list threads: %s", ember_strerror(n));
            next_scan = now + SCAN_MS * 1000000LL;
        }
        if (now >= next_flush) {
            flush(sp);
            next_flush = now + sp->interval_s * 1000000000LL;
        }
        pthread_mutex_lock(&sp->mu);
    }
    pthread_mutex_unlock(&sp->mu);
    sampler_drain(sp->sampler, on_sample, sp);
    flush(sp);
    return NULL;
}

static void selfprof_free(struct selfprof *sp)
{
    if (!sp)
        return;
    sampler_stop(sp->sampler);
    symbolizer_free(sp->sym);
    hmap_release(&sp->index);
    free(sp->stacks.data);
    free(sp->pool.data);
    free(sp->tenant);
    pthread_mutex_destroy(&sp->mu);
    pthread_cond_destroy(&sp->cond);
    free(sp);
}

int selfprof_start(struct store *st, const char *tenant, int hz, int interval_s)
{
    if (g_selfprof)
        return -EBUSY;
    struct selfprof *sp = xcalloc(1, sizeof(*sp));
    sp->st = st;
    sp->tenant = xstrdup(tenant ? tenant : "anonymous");
    sp->hz = hz > 0 ? hz : 100;
    sp->interval_s = interval_s > 0 ? interval_s : 10;
    pthread_mutex_init(&sp->mu, NULL);
    pthread_cond_init(&sp->cond, NULL);
    hmap_init(&sp->index);
    if (gethostname(sp->host, sizeof(sp->host) - 1) < 0 || !sp->host[0])
        snprintf(sp->host, sizeof(sp->host), "unknown");
    snprintf(sp->pid, sizeof(sp->pid), "%d", (int)getpid());
    sp->window_start_ns = time_now_ns();
    int err = symbolizer_new(&sp->sym, 0);
    if (err) {
        log_error("self-profiler: cannot read this process's symbols: %s", ember_strerror(err));
        goto fail;
    }
    struct sampler_opts o;
    sampler_opts_default(&o);
    o.hz = sp->hz;
    err = sampler_start(&sp->sampler, &o);
    if (err) {
        log_error("self-profiler: cannot start sampling at %d Hz: %s", sp->hz, ember_strerror(err));
        goto fail;
    }
    err = -pthread_create(&sp->thread, NULL, collector_main, sp);
    if (err) {
        log_error("self-profiler: cannot start the collector thread: %s", ember_strerror(err));
        goto fail;
    }
    g_selfprof = sp;
    log_info("self-profiler: sampling CPU at %d Hz, a profile every %d s (service_name %s)", sp->hz,
             sp->interval_s, SELFPROF_SERVICE);
    return 0;
fail:
    selfprof_free(sp);
    return err;
}

void selfprof_stop(void)
{
    struct selfprof *sp = g_selfprof;
    if (!sp)
        return;
    pthread_mutex_lock(&sp->mu);
    sp->stop = 1;
    pthread_cond_signal(&sp->cond);
    pthread_mutex_unlock(&sp->mu);
    pthread_join(sp->thread, NULL);
    g_selfprof = NULL;
    selfprof_free(sp);
}
