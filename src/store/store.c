/* store.c - the local store backend: WAL for durability, one in-memory head per tenant */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "block.h"
#include "head.h"
#include "io.h"
#include "record.h"
#include "wal.h"

#define DEFAULT_TENANT "anonymous"
#define DAY_NS         (86400LL * 1000000000LL)
#define MAINT_EVERY_NS (5LL * 1000000000LL)

/* A tenant: the live head receiving appends and the older parts, oldest first. */
struct tenant {
    char *name;
    struct block *live;        /* in-memory block (path NULL) */
    VEC(struct block *) parts; /* frozen heads being written (path NULL) and block files */
    uint64_t covered_seg;      /* at open: its wal records in segments below are in blocks */
};

struct store {
    struct store_opts opts;
    char *dir, *blocks_dir;
    int lock_fd; /* holds an flock on <dir>/LOCK while open */
    struct wal wal;
    /* appenders hold it for reading from wal_append to head_apply; a cut for writing */
    pthread_rwlock_t gate;
    /* the tenant array and each tenant's live block and parts */
    pthread_rwlock_t tenants_lock;
    struct tenant **tenants; /* few: a linear scan is fine */
    size_t ntenants, tenants_cap;
    pthread_mutex_t maint_mu; /* one cut / compaction / retention round at a time */
    uint64_t next_block_id;   /* under maint_mu */
    uint64_t replayed, replay_skipped, replay_covered;
    /* background maintenance */
    pthread_t thread;
    int thread_on, stop, kick;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cond;
    /* statistics (atomic) */
    uint64_t cuts, compactions, blocks_deleted, maint_errors;
};

void store_opts_default(struct store_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->data_dir = "./ember-data";
    o->retention_ns = 30LL * 24 * 3600 * 1000000000LL;
    o->fsync = 1;
    o->background = 1;
}

static int64_t store_now(struct store *s)
{
    return s->opts.clock ? s->opts.clock(s->opts.clock_arg) : time_now_ns();
}

static void stat_add(uint64_t *v, uint64_t n)
{
    __atomic_add_fetch(v, n, __ATOMIC_RELAXED);
}

static struct tenant *find_tenant(struct store *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->ntenants; i++)
        if (!strncmp(s->tenants[i]->name, name, len) && !s->tenants[i]->name[len])
            return s->tenants[i];
    return NULL;
}

/* Returns the tenant, creating it if new. Caller holds tenants_lock for writing. */
static struct tenant *add_tenant(struct store *s, const char *name, size_t len)
{
    struct tenant *t = find_tenant(s, name, len);
    if (t)
        return t;
    t = xcalloc(1, sizeof(*t));
    t->name = xstrndup(name, len);
    t->live = block_mem(head_new(name, len), t->name);
    s->tenants = xgrow(s->tenants, sizeof(*s->tenants), s->ntenants + 1, &s->tenants_cap);
    s->tenants[s->ntenants++] = t;
    return t;
}

/* The live head of tenant, creating the tenant if new. Valid while the gate is held. */
static struct head *live_head(struct store *s, const char *name, size_t len)
{
    pthread_rwlock_rdlock(&s->tenants_lock);
    struct tenant *t = find_tenant(s, name, len);
    struct head *h = t ? t->live->view[RES_RAW] : NULL;
    pthread_rwlock_unlock(&s->tenants_lock);
    if (h)
        return h;
    pthread_rwlock_wrlock(&s->tenants_lock);
    h = add_tenant(s, name, len)->live->view[RES_RAW];
    pthread_rwlock_unlock(&s->tenants_lock);
    return h;
}

/* The parts of a query's tenant, referenced (release with snap_release()). */
struct snap {
    struct block **v;
    size_t n;
};

static void snap_take(struct store *s, const struct store_query *q, struct snap *sn)
{
    const char *name = q->tenant ? q->tenant : DEFAULT_TENANT;
    memset(sn, 0, sizeof(*sn));
    pthread_rwlock_rdlock(&s->tenants_lock);
    struct tenant *t = find_tenant(s, name, strlen(name));
    if (t) {
        sn->v = xmalloc((t->parts.len + 1) * sizeof(*sn->v));
        for (size_t i = 0; i < t->parts.len; i++) {
            block_ref(t->parts.data[i]);
            sn->v[sn->n++] = t->parts.data[i];
        }
        block_ref(t->live);
        sn->v[sn->n++] = t->live;
    }
    pthread_rwlock_unlock(&s->tenants_lock);
}

static void trim_cache(struct store *s);

static void snap_release(struct store *s, struct snap *sn)
{
    for (size_t i = 0; i < sn->n; i++)
        block_unref(sn->v[i]);
    free(sn->v);
    trim_cache(s);
}

static int replay_record(const uint8_t *payload, size_t len, void *arg)
{
    struct store *s = arg;
    const char *tenant;
    size_t tlen;
    char why[160];
    int err = record_validate(payload, len, &tenant, &tlen, why, sizeof(why));
    if (err) {
        log_error("invalid wal record in '%s': %s", s->dir, why);
        s->replay_skipped++;
        return err;
    }
    struct tenant *t = add_tenant(s, tenant, tlen);
    if (s->wal.replay_seg < t->covered_seg) {
        s->replay_covered++; /* already in a block (crash before the checkpoint finished) */
        return 0;
    }
    head_apply(t->live->view[RES_RAW], payload, len);
    s->replayed++;
    return 0;
}

static int cmp_part(const void *a, const void *b)
{
    const struct block *x = *(struct block *const *)a, *y = *(struct block *const *)b;
    if (x->meta.min_t != y->meta.min_t)
        return x->meta.min_t < y->meta.min_t ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Files a block into its tenant's parts (kept sorted by start time). tenants_lock held (w). */
static void add_part(struct store *s, struct block *b)
{
    struct tenant *t = add_tenant(s, b->meta.tenant, strlen(b->meta.tenant));
    VEC_PUSH(t->parts, b);
    qsort(t->parts.data, t->parts.len, sizeof(b), cmp_part);
}

/* Removes b from its tenant's parts; returns the list's reference. tenants_lock held (w). */
static struct block *remove_part(struct store *s, struct block *b)
{
    struct tenant *t = find_tenant(s, b->meta.tenant, strlen(b->meta.tenant));
    for (size_t i = 0; t && i < t->parts.len; i++) {
        if (t->parts.data[i] == b) {
            memmove(&t->parts.data[i], &t->parts.data[i + 1], (t->parts.len - i - 1) * sizeof(b));
            t->parts.len--;
            return b;
        }
    }
    return NULL;
}

static int parse_block_name(const char *name, uint64_t *id)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name, &end, 16);
    if (errno || end == name || strcmp(end, ".blk"))
        return -1;
    *id = v;
    return 0;
}

/* Opens every block file; drops those merged into another (crash during compaction). */
static int load_blocks(struct store *s)
{
    char **names = NULL;
    size_t n = 0;
    VEC(struct block *) all = {0};
    int err = io_list(s->blocks_dir, ".tmp", &names, &n);
    for (size_t i = 0; !err && i < n; i++) {
        char *p = xasprintf("%s/%s", s->blocks_dir, names[i]);
        log_warn("removing unfinished block file '%s'", p);
        io_unlink(p);
        free(p);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    names = NULL;
    n = 0;
    if (!err)
        err = io_list(s->blocks_dir, ".blk", &names, &n);
    if (err) {
        log_error("cannot list block directory '%s': %s", s->blocks_dir, ember_strerror(err));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        if (parse_block_name(names[i], &id)) {
            log_warn("ignoring unexpected file '%s/%s'", s->blocks_dir, names[i]);
            continue;
        }
        if (id >= s->next_block_id)
            s->next_block_id = id + 1;
        char *p = xasprintf("%s/%s", s->blocks_dir, names[i]);
        struct block *b;
        int e = block_open(&b, p, id);
        if (e == -EMBER_EUNSUPPORTED) {
            err = e;
            free(p);
            goto out;
        }
        if (e)
            log_error("skipping unreadable block '%s': %s", p, ember_strerror(e));
        else
            VEC_PUSH(all, b);
        free(p);
    }
    for (size_t i = 0; i < all.len; i++) { /* first mark, then free: sources are read */
        struct block *b = all.data[i];
        for (size_t j = 0; j < all.len && !b->dead; j++)
            for (size_t k = 0; k < all.data[j]->meta.nsources && !b->dead; k++)
                b->dead = all.data[j]->meta.sources[k] == b->id &&
                          !strcmp(all.data[j]->meta.tenant, b->meta.tenant);
    }
    for (size_t i = 0; i < all.len; i++) {
        struct block *b = all.data[i];
        if (b->dead) {
            log_info("deleting block '%s': merged into another before a restart", b->path);
            block_unref(b);
            continue;
        }
        add_part(s, b);
        struct tenant *t = find_tenant(s, b->meta.tenant, strlen(b->meta.tenant));
        if (b->meta.wal_seg > t->covered_seg)
            t->covered_seg = b->meta.wal_seg;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(all.data);
    return err;
}

static void *bg_main(void *arg);

int store_open(struct store **out, const struct store_opts *o)
{
    struct store *s = xcalloc(1, sizeof(*s));
    char *path = NULL;
    int err;
    *out = NULL;
    s->opts = *o;
    if (!s->opts.head_max_bytes)
        s->opts.head_max_bytes = 64u << 20;
    if (!s->opts.head_max_span_ns)
        s->opts.head_max_span_ns = 3600LL * 1000000000LL;
    if (!s->opts.cache_bytes)
        s->opts.cache_bytes = 256u << 20;
    s->dir = xstrdup(o->data_dir ? o->data_dir : "./ember-data");
    s->opts.data_dir = s->dir;
    s->blocks_dir = xasprintf("%s/blocks", s->dir);
    s->lock_fd = -1;
    s->next_block_id = 1;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* a cut must not starve behind a stream of appenders */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->gate, &a);
    pthread_rwlockattr_destroy(&a);
    pthread_rwlock_init(&s->tenants_lock, NULL);
    pthread_mutex_init(&s->maint_mu, NULL);
    pthread_mutex_init(&s->bg_mu, NULL);
    pthread_cond_init(&s->bg_cond, NULL);

    err = io_mkdir_p(s->dir, 0755);
    if (err) {
        log_error("cannot create data directory '%s': %s", s->dir, ember_strerror(err));
        goto out;
    }
    path = xasprintf("%s/LOCK", s->dir);
    s->lock_fd = io_open(path, O_RDWR | O_CREAT, 0644);
    if (s->lock_fd < 0) {
        err = s->lock_fd;
        log_error("cannot open '%s': %s", path, ember_strerror(err));
        goto out;
    }
    err = io_lock(s->lock_fd);
    if (err) {
        log_error("cannot lock '%s': %s", path,
                  err == -EWOULDBLOCK ? "the data directory is in use by another process"
                                      : ember_strerror(err));
        goto out;
    }
    err = io_mkdir(s->blocks_dir, 0755);
    if (err) {
        log_error("cannot create block directory '%s': %s", s->blocks_dir, ember_strerror(err));
        goto out;
    }
    err = load_blocks(s);
    if (err)
        goto out;
    FREE_AND_NULL(path);
    path = xasprintf("%s/wal", s->dir);
    int64_t t0 = time_mono_ns();
    uint64_t prealloc = o->wal_prealloc_bytes < 0    ? 0
                        : o->wal_prealloc_bytes == 0 ? WAL_PREALLOC_DEFAULT
                                                     : (uint64_t)o->wal_prealloc_bytes;
    err = wal_open(&s->wal, path, o->wal_segment_bytes, prealloc, o->fsync, replay_record, s);
    if (err)
        goto out;
    /* make the wal and blocks directories' own entries durable (wal_open synced the segments) */
    err = o->fsync ? io_fsync_dir(s->dir) : 0;
    if (err) {
        log_error("cannot sync data directory '%s': %s", s->dir, ember_strerror(err));
        goto out;
    }
    if (s->replayed || s->replay_skipped || s->replay_covered)
        log_info("store '%s': replayed %llu wal records (%llu skipped, %llu already in blocks) "
                 "in %.1f ms",
                 s->dir, (unsigned long long)s->replayed, (unsigned long long)s->replay_skipped,
                 (unsigned long long)s->replay_covered, (double)(time_mono_ns() - t0) / 1e6);
    if (s->opts.background) {
        if (pthread_create(&s->thread, NULL, bg_main, s)) {
            err = -EAGAIN;
            log_error("cannot start the store's maintenance thread");
            goto out;
        }
        s->thread_on = 1;
    }
    *out = s;
    s = NULL;
out:
    free(path);
    if (s)
        store_close(s);
    return err;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->thread_on) {
        pthread_mutex_lock(&s->bg_mu);
        s->stop = 1;
        pthread_cond_signal(&s->bg_cond);
        pthread_mutex_unlock(&s->bg_mu);
        pthread_join(s->thread, NULL);
    }
    wal_close(&s->wal);
    for (size_t i = 0; i < s->ntenants; i++) {
        struct tenant *t = s->tenants[i];
        for (size_t k = 0; k < t->parts.len; k++)
            block_unref(t->parts.data[k]);
        free(t->parts.data);
        block_unref(t->live);
        free(t->name);
        free(t);
    }
    free(s->tenants);
    pthread_rwlock_destroy(&s->tenants_lock);
    pthread_rwlock_destroy(&s->gate);
    pthread_mutex_destroy(&s->maint_mu);
    pthread_mutex_destroy(&s->bg_mu);
    pthread_cond_destroy(&s->bg_cond);
    io_close(s->lock_fd); /* releases the flock */
    free(s->blocks_dir);
    free(s->dir);
    free(s);
}

/* ---- cutting, compaction, retention ---- */

/* Whether head h is due for a cut. */
static int head_due(struct store *s, struct head *h)
{
    pthread_rwlock_rdlock(&h->lock);
    int due = h->nprofiles && (h->arena_bytes >= s->opts.head_max_bytes ||
                               h->max_t - h->min_t >= s->opts.head_max_span_ns);
    pthread_rwlock_unlock(&h->lock);
    return due;
}

/*
 * Writes the frozen heads (parts without a file) as level-1 blocks, then
 * deletes the wal segments that nothing unwritten needs. maint_mu held.
 */
static int write_frozen(struct store *s, uint64_t cut_seg)
{
    int err = 0;
    uint64_t keep_from = cut_seg;
    VEC(struct block *) todo = {0};
    pthread_rwlock_rdlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants; i++)
        for (size_t k = 0; k < s->tenants[i]->parts.len; k++)
            if (!s->tenants[i]->parts.data[k]->path)
                VEC_PUSH(todo, s->tenants[i]->parts.data[k]);
    pthread_rwlock_unlock(&s->tenants_lock);
    for (size_t i = 0; i < todo.len; i++) {
        struct block *fz = todo.data[i], *nb;
        int e = block_write(s->blocks_dir, s->next_block_id, fz->view[RES_RAW],
                            &(struct block_meta){
                                .tenant = fz->meta.tenant, .level = 1, .wal_seg = fz->meta.wal_seg},
                            s->opts.fsync, &nb);
        if (e) {
            if (!err)
                err = e;
            if (fz->wal_first < keep_from)
                keep_from = fz->wal_first; /* its records must stay replayable */
            continue;
        }
        s->next_block_id++;
        pthread_rwlock_wrlock(&s->tenants_lock);
        remove_part(s, fz);
        add_part(s, nb);
        pthread_rwlock_unlock(&s->tenants_lock);
        block_unref(fz); /* queries still using the frozen head keep it until they finish */
    }
    free(todo.data);
    int e = wal_drop_below(&s->wal, keep_from);
    return err ? err : e;
}

/* Cuts the heads (all with data if force, else those due) into frozen parts, then writes them. */
static int cut(struct store *s, int force)
{
    uint64_t seg;
    int any = 0;
    pthread_rwlock_rdlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants && !any; i++) {
        struct head *h = s->tenants[i]->live->view[RES_RAW];
        any = force ? h->nprofiles != 0 : head_due(s, h);
    }
    for (size_t i = 0; i < s->ntenants && !any; i++)
        for (size_t k = 0; k < s->tenants[i]->parts.len && !any; k++)
            any = !s->tenants[i]->parts.data[k]->path; /* an earlier write failed: retry */
    pthread_rwlock_unlock(&s->tenants_lock);
    if (!any)
        return 0;
    pthread_rwlock_wrlock(&s->gate);
    int err = wal_cut(&s->wal, &seg);
    if (err) {
        pthread_rwlock_unlock(&s->gate);
        return err;
    }
    pthread_rwlock_wrlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants; i++) {
        struct tenant *t = s->tenants[i];
        struct head *h = t->live->view[RES_RAW];
        if (!h->nprofiles) {
            t->live->wal_first = seg;
            continue;
        }
        t->live->meta.wal_seg = seg;
        t->live->meta.min_t = h->min_t;
        t->live->meta.max_t = h->max_t;
        VEC_PUSH(t->parts, t->live);
        qsort(t->parts.data, t->parts.len, sizeof(t->live), cmp_part);
        t->live = block_mem(head_new(t->name, strlen(t->name)), t->name);
        t->live->wal_first = seg;
    }
    pthread_rwlock_unlock(&s->tenants_lock);
    pthread_rwlock_unlock(&s->gate);
    stat_add(&s->cuts, 1);
    return write_frozen(s, seg);
}

static int64_t day_of(int64_t t)
{
    return (t >= 0 ? t : t - DAY_NS + 1) / DAY_NS;
}

/* Merges the level-1 blocks of each ended day (with another block that day) into one. */
static int compact(struct store *s)
{
    int err = 0;
    int64_t now = store_now(s);
    VEC(struct block *) group = {0};
    VEC(struct head *) heads = {0};
    for (size_t ti = 0;; ti++) {
        char *tenant = NULL;
        pthread_rwlock_rdlock(&s->tenants_lock);
        int64_t day = INT64_MIN;
        if (ti < s->ntenants) {
            struct tenant *t = s->tenants[ti];
            tenant = xstrdup(t->name);
            /* the first ended day with a level-1 block and at least two blocks */
            for (size_t k = 0; k < t->parts.len && day == INT64_MIN; k++) {
                struct block *b = t->parts.data[k];
                int64_t d = day_of(b->meta.min_t);
                if (!b->path || b->corrupt || b->meta.level != 1 ||
                    (d + 1) * DAY_NS + s->opts.head_max_span_ns > now)
                    continue;
                size_t same = 0;
                for (size_t j = 0; j < t->parts.len; j++)
                    same += t->parts.data[j]->path && !t->parts.data[j]->corrupt &&
                            day_of(t->parts.data[j]->meta.min_t) == d;
                if (same >= 2)
                    day = d;
            }
            for (size_t k = 0; k < t->parts.len && day != INT64_MIN; k++) {
                struct block *b = t->parts.data[k];
                if (b->path && !b->corrupt && day_of(b->meta.min_t) == day) {
                    block_ref(b);
                    VEC_PUSH(group, b);
                }
            }
        }
        int last = ti >= s->ntenants;
        pthread_rwlock_unlock(&s->tenants_lock);
        if (last)
            break;
        if (day == INT64_MIN) {
            free(tenant);
            continue;
        }
        struct block_meta m = {.tenant = tenant, .level = 2};
        m.sources = xmalloc(group.len * sizeof(uint64_t));
        heads.len = 0;
        for (size_t k = 0; k < group.len; k++) {
            struct head *h = block_view(group.data[k], RES_RAW);
            if (!h)
                continue; /* corrupt: left alone, skipped by queries */
            VEC_PUSH(heads, h);
            m.sources[m.nsources++] = group.data[k]->id;
            if (group.data[k]->meta.wal_seg > m.wal_seg)
                m.wal_seg = group.data[k]->meta.wal_seg;
        }
        struct head *merged = block_merge_heads(heads.data, heads.len, tenant);
        struct block *nb = NULL;
        int e = m.nsources
                    ? block_write(s->blocks_dir, s->next_block_id, merged, &m, s->opts.fsync, &nb)
                    : 0;
        head_free(merged);
        if (!e && nb) {
            s->next_block_id++;
            pthread_rwlock_wrlock(&s->tenants_lock);
            for (size_t k = 0; k < group.len; k++) {
                struct block *b = group.data[k];
                for (size_t j = 0; j < m.nsources; j++) {
                    if (m.sources[j] == b->id && remove_part(s, b)) {
                        b->dead = 1; /* unlinked when the last query using it finishes */
                        block_unref(b);
                    }
                }
            }
            add_part(s, nb);
            pthread_rwlock_unlock(&s->tenants_lock);
            stat_add(&s->compactions, 1);
            ti--; /* the same tenant may have another day to compact */
        } else if (e && !err) {
            err = e;
        }
        for (size_t k = 0; k < group.len; k++)
            block_unref(group.data[k]);
        group.len = 0;
        free(m.sources);
        free(tenant);
        if (e)
            break;
    }
    free(group.data);
    free(heads.data);
    return err;
}

static int cmp_oldest(const void *a, const void *b)
{
    const struct block *x = *(struct block *const *)a, *y = *(struct block *const *)b;
    if (x->meta.max_t != y->meta.max_t)
        return x->meta.max_t < y->meta.max_t ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Deletes the blocks past retention_ns, then the oldest while the data exceeds retention_bytes. */
static void retention(struct store *s)
{
    int64_t cutoff = s->opts.retention_ns ? store_now(s) - s->opts.retention_ns : INT64_MIN;
    VEC(struct block *) all = {0};
    struct wal_stats ws;
    wal_get_stats(&s->wal, &ws);
    uint64_t total = ws.disk_bytes;
    pthread_rwlock_wrlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants; i++)
        for (size_t k = 0; k < s->tenants[i]->parts.len; k++)
            if (s->tenants[i]->parts.data[k]->path) {
                VEC_PUSH(all, s->tenants[i]->parts.data[k]);
                total += s->tenants[i]->parts.data[k]->file_bytes;
            }
    if (all.len)
        qsort(all.data, all.len, sizeof(all.data[0]), cmp_oldest);
    for (size_t i = 0; i < all.len; i++) {
        struct block *b = all.data[i];
        int old = b->meta.max_t < cutoff;
        int big = s->opts.retention_bytes && total > s->opts.retention_bytes;
        if (!old && !big)
            continue;
        log_info("retention: deleting block '%s' (%s, data up to %lld)", b->path,
                 old ? "older than the retention" : "over the size cap", (long long)b->meta.max_t);
        total -= b->file_bytes;
        remove_part(s, b);
        b->dead = 1; /* unlinked once the queries holding it finish */
        block_unref(b);
        stat_add(&s->blocks_deleted, 1);
    }
    pthread_rwlock_unlock(&s->tenants_lock);
    free(all.data);
}

static int cmp_lru(const void *a, const void *b)
{
    const struct block *x = *(struct block *const *)a, *y = *(struct block *const *)b;
    return x->last_used < y->last_used ? -1 : x->last_used > y->last_used;
}

/* Frees decoded views of unused blocks, least recently used first, down to cache_bytes. */
static void trim_cache(struct store *s)
{
    uint64_t total = 0;
    VEC(struct block *) cand = {0};
    pthread_rwlock_rdlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants; i++)
        for (size_t k = 0; k < s->tenants[i]->parts.len; k++)
            total += __atomic_load_n(&s->tenants[i]->parts.data[k]->view_bytes, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&s->tenants_lock);
    if (total <= s->opts.cache_bytes)
        return;
    /* for writing: no query can take a reference while we look at the counts */
    pthread_rwlock_wrlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants; i++)
        for (size_t k = 0; k < s->tenants[i]->parts.len; k++) {
            struct block *b = s->tenants[i]->parts.data[k];
            if (b->path && b->view_bytes && __atomic_load_n(&b->refs, __ATOMIC_ACQUIRE) == 1)
                VEC_PUSH(cand, b);
        }
    if (cand.len)
        qsort(cand.data, cand.len, sizeof(cand.data[0]), cmp_lru);
    for (size_t i = 0; i < cand.len && total > s->opts.cache_bytes; i++) {
        uint64_t f = block_drop_views(cand.data[i]);
        total = total > f ? total - f : 0;
    }
    pthread_rwlock_unlock(&s->tenants_lock);
    free(cand.data);
}

int store_flush(struct store *s)
{
    pthread_mutex_lock(&s->maint_mu);
    int err = cut(s, 1);
    pthread_mutex_unlock(&s->maint_mu);
    if (err)
        stat_add(&s->maint_errors, 1);
    return err;
}

int store_maintain(struct store *s)
{
    pthread_mutex_lock(&s->maint_mu);
    int err = cut(s, 0);
    int e = compact(s);
    if (!err)
        err = e;
    retention(s);
    pthread_mutex_unlock(&s->maint_mu);
    trim_cache(s);
    if (err)
        stat_add(&s->maint_errors, 1);
    return err;
}

static void *bg_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->bg_mu);
    while (!s->stop) {
        if (!s->kick) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += MAINT_EVERY_NS / 1000000000LL;
            pthread_cond_timedwait(&s->bg_cond, &s->bg_mu, &ts);
        }
        if (s->stop)
            break;
        s->kick = 0;
        pthread_mutex_unlock(&s->bg_mu);
        store_maintain(s);
        pthread_mutex_lock(&s->bg_mu);
    }
    pthread_mutex_unlock(&s->bg_mu);
    return NULL;
}

int store_append(struct store *s, const char *tenant, const struct profile_batch *b)
{
    struct buf rec = BUF_INIT;
    int err;
    if (!tenant)
        tenant = DEFAULT_TENANT;
    if (!b->profiles.len)
        return 0;
    err = record_encode(&rec, tenant, b);
    if (err)
        goto out;
    if (rec.len - WAL_REC_HDR > WAL_MAX_RECORD) {
        err = -EMBER_ETOOBIG;
        goto out;
    }
    /* durable first (no head lock held, so queries run during the fsync), then visible; the
     * gate keeps a cut from falling between the two */
    pthread_rwlock_rdlock(&s->gate);
    err = wal_append(&s->wal, (uint8_t *)rec.data, rec.len);
    struct head *h = NULL;
    if (!err) {
        h = live_head(s, tenant, strlen(tenant));
        head_apply(h, (const uint8_t *)rec.data + WAL_REC_HDR, rec.len - WAL_REC_HDR);
    }
    pthread_rwlock_unlock(&s->gate);
    if (h && head_due(s, h)) {
        if (s->thread_on) {
            pthread_mutex_lock(&s->bg_mu);
            s->kick = 1;
            pthread_cond_signal(&s->bg_cond);
            pthread_mutex_unlock(&s->bg_mu);
        } else if (!pthread_mutex_trylock(&s->maint_mu)) {
            if (cut(s, 0))
                stat_add(&s->maint_errors, 1);
            pthread_mutex_unlock(&s->maint_mu);
        }
    }
out:
    buf_release(&rec);
    return err;
}

void stackset_init(struct stackset *ss)
{
    memset(ss, 0, sizeof(*ss));
    symtab_init(&ss->sym);
}

void stackset_release(struct stackset *ss)
{
    symtab_release(&ss->sym);
    free(ss->samples.data);
    memset(ss, 0, sizeof(*ss));
}

void strlist_release(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- queries: head + blocks, the coarsest resolution that fits ---- */

/* One query operation on one head over [lo, hi). */
struct qop {
    void (*fn)(struct head *h, int64_t lo, int64_t hi, struct qop *op);
    const struct selector *sel;
    struct stackset *ss;
    int64_t origin, step;
    int64_t *values;
    size_t nsteps;
    const char *name;
    struct strtab *set;
    struct labels *lv;
    size_t ln, lcap;
    int light; /* needs no samples: a block's totals view serves it where raw would */
};

static int64_t floor_to(int64_t t, int64_t r)
{
    int64_t q = t / r;
    if (t % r && t < 0)
        q--;
    return q * r;
}

/*
 * Runs op over [lo, hi) of block b: buckets of resolution res that lie
 * fully inside come from that rollup, the edges from finer ones, down to
 * raw. A rollup bucket [t, t+R) holds exactly the raw profiles with time in
 * it, so the answer is the raw one.
 */
static void run_block(struct block *b, int64_t lo, int64_t hi, int res, struct qop *op)
{
    if (!b->path) { /* a head: raw only */
        op->fn(b->view[RES_RAW], lo, hi, op);
        return;
    }
    for (; res > RES_RAW; res--) {
        int64_t r = block_res_ns[res];
        /* no data outside [min_t, max_t]: widen to whole buckets where the range allows */
        int64_t l = lo, h = hi;
        if (floor_to(b->meta.min_t, r) > l)
            l = floor_to(b->meta.min_t, r);
        if (b->meta.max_t < INT64_MAX - r && floor_to(b->meta.max_t, r) + r < h)
            h = floor_to(b->meta.max_t, r) + r;
        if (l >= h)
            return;
        int64_t a = l % r ? floor_to(l, r) + r : l, z = floor_to(h, r);
        if (a < z) {
            struct head *v = block_view(b, res);
            if (!v)
                return;
            op->fn(v, a, z, op);
            if (l < a)
                run_block(b, l, a, res - 1, op);
            if (z < h)
                run_block(b, z, h, res - 1, op);
            return;
        }
    }
    if (lo > b->meta.max_t || hi <= b->meta.min_t)
        return;
    if (op->light && block_has_totals(b)) {
        struct head *v = block_view_totals(b);
        if (v)
            op->fn(v, lo, hi, op);
        return;
    }
    /* only the raw parts (hours) the range touches */
    for (size_t i = 0; i < b->nparts; i++) {
        if (b->part_t[i][1] < lo || b->part_t[i][0] >= hi)
            continue;
        struct head *v = block_view_part(b, i);
        if (v)
            op->fn(v, lo, hi, op);
    }
}

static void run_query(struct store *s, const struct store_query *q, int max_res, struct qop *op)
{
    struct snap sn;
    if (q->until_ns <= q->from_ns)
        return;
    snap_take(s, q, &sn);
    for (size_t i = 0; i < sn.n; i++)
        run_block(sn.v[i], q->from_ns, q->until_ns, max_res, op);
    snap_release(s, &sn);
}

static void op_merge(struct head *h, int64_t lo, int64_t hi, struct qop *op)
{
    head_merge(h, op->sel, lo, hi, op->ss);
}

int store_merge(struct store *s, const struct store_query *q, struct stackset *ss)
{
    struct qop op = {.fn = op_merge, .sel = q->sel, .ss = ss};
    run_query(s, q, BLOCK_NRES - 1, &op);
    return 0;
}

static void op_totals(struct head *h, int64_t lo, int64_t hi, struct qop *op)
{
    head_totals(h, op->sel, lo, hi, op->origin, op->step, op->values, op->nsteps);
}

int store_totals(struct store *s, const struct store_query *q, int64_t step_ns, int64_t *values,
                 size_t nsteps)
{
    if (step_ns <= 0)
        return -EMBER_EINVAL_INPUT;
    if (!nsteps)
        return 0;
    /* a rollup bucket must fall in one step: R divides the step and the steps start on R */
    int res = BLOCK_NRES - 1;
    while (res > RES_RAW &&
           (step_ns % block_res_ns[res] || floor_to(q->from_ns, block_res_ns[res]) != q->from_ns))
        res--;
    struct qop op = {.fn = op_totals,
                     .sel = q->sel,
                     .origin = q->from_ns,
                     .step = step_ns,
                     .values = values,
                     .nsteps = nsteps,
                     .light = 1};
    run_query(s, q, res, &op);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void op_strings(struct head *h, int64_t lo, int64_t hi, struct qop *op)
{
    head_label_strings(h, op->sel, lo, hi, op->name, op->set);
}

/* Label names (name NULL) or values of name, sorted and unique, appended to out. */
static int label_strings(struct store *s, const struct store_query *q, const char *name,
                         struct strlist *out)
{
    struct strtab set;
    strtab_init(&set);
    struct qop op = {.fn = op_strings, .sel = q->sel, .name = name, .set = &set, .light = 1};
    run_query(s, q, BLOCK_NRES - 1, &op);
    for (uint32_t id = 1; id < set.len; id++) {
        out->v = xgrow(out->v, sizeof(char *), out->n + 1, &out->cap);
        out->v[out->n++] = xstrndup(strtab_get(&set, id), strtab_strlen(&set, id));
    }
    strtab_release(&set);
    if (out->n)
        qsort(out->v, out->n, sizeof(char *), cmp_str);
    /* dedupe against strings the caller may have put in out before */
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (w && !strcmp(out->v[w - 1], out->v[i]))
            free(out->v[i]);
        else
            out->v[w++] = out->v[i];
    }
    out->n = w;
    return 0;
}

int store_label_names(struct store *s, const struct store_query *q, struct strlist *out)
{
    return label_strings(s, q, NULL, out);
}

int store_label_values(struct store *s, const struct store_query *q, const char *name,
                       struct strlist *out)
{
    return label_strings(s, q, name, out);
}

static int cmp_labels(const void *a, const void *b)
{
    return labels_cmp(a, b);
}

static void op_series(struct head *h, int64_t lo, int64_t hi, struct qop *op)
{
    head_series_labels(h, op->sel, lo, hi, &op->lv, &op->ln, &op->lcap);
}

int store_series(struct store *s, const struct store_query *q, store_series_cb cb, void *arg)
{
    struct qop op = {.fn = op_series, .sel = q->sel, .light = 1};
    int r = 0;
    /* copies, so cb runs without any lock (it may be slow, or call the store) */
    run_query(s, q, BLOCK_NRES - 1, &op);
    if (op.ln)
        qsort(op.lv, op.ln, sizeof(*op.lv), cmp_labels);
    for (size_t i = 0; i < op.ln && !r; i++)
        if (!i || labels_cmp(&op.lv[i - 1], &op.lv[i])) /* a series in several parts */
            r = cb(&op.lv[i], arg);
    for (size_t i = 0; i < op.ln; i++)
        labels_release(&op.lv[i]);
    free(op.lv);
    return r;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_rwlock_rdlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants; i++) {
        struct tenant *t = s->tenants[i];
        struct head_stats hs;
        head_get_stats(t->live->view[RES_RAW], &hs);
        st->series += hs.series;
        st->profiles += hs.profiles;
        st->samples += hs.samples;
        st->head_bytes += hs.bytes;
        for (size_t k = 0; k < t->parts.len; k++) {
            struct block *b = t->parts.data[k];
            if (!b->path) {
                head_get_stats(b->view[RES_RAW], &hs);
                st->profiles += hs.profiles;
                st->samples += hs.samples;
                st->head_bytes += hs.bytes;
                st->blocks[0]++;
                continue;
            }
            uint32_t lv = b->meta.level < STORE_LEVELS ? b->meta.level : STORE_LEVELS - 1;
            st->blocks[lv]++;
            st->block_bytes[lv] += b->file_bytes;
            st->profiles += b->meta.nprofiles;
            st->samples += b->meta.nsamples;
            st->cache_bytes += __atomic_load_n(&b->view_bytes, __ATOMIC_RELAXED);
        }
    }
    pthread_rwlock_unlock(&s->tenants_lock);
    struct wal_stats ws;
    wal_get_stats(&s->wal, &ws);
    st->wal_bytes = ws.disk_bytes;
    st->bytes_on_disk = ws.disk_bytes;
    for (int l = 0; l < STORE_LEVELS; l++)
        st->bytes_on_disk += st->block_bytes[l];
    st->wal_records = ws.records;
    st->wal_syncs = ws.syncs;
    st->wal_sync_ns_total = ws.sync_ns_total;
    st->wal_sync_ns_max = ws.sync_ns_max;
    st->cuts = __atomic_load_n(&s->cuts, __ATOMIC_RELAXED);
    st->compactions = __atomic_load_n(&s->compactions, __ATOMIC_RELAXED);
    st->blocks_deleted = __atomic_load_n(&s->blocks_deleted, __ATOMIC_RELAXED);
    st->maintenance_errors = __atomic_load_n(&s->maint_errors, __ATOMIC_RELAXED);
}
