/* store.c - the local store backend: WAL for durability, one in-memory head per tenant */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "head.h"
#include "io.h"
#include "record.h"
#include "wal.h"

#define DEFAULT_TENANT "anonymous"

struct store {
    struct store_opts opts;
    char *dir;
    int lock_fd; /* holds an flock on <dir>/LOCK while open */
    struct wal wal;
    pthread_rwlock_t tenants_lock;
    struct head **tenants; /* few: a linear scan is fine */
    size_t ntenants, tenants_cap;
    uint64_t replayed, replay_skipped;
};

void store_opts_default(struct store_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->data_dir = "./ember-data";
    o->retention_ns = 30LL * 24 * 3600 * 1000000000LL; /* enforced by the block layer (next) */
    o->fsync = 1;
}

static struct head *find_head(struct store *s, const char *tenant, size_t len)
{
    for (size_t i = 0; i < s->ntenants; i++)
        if (!strncmp(s->tenants[i]->tenant, tenant, len) && !s->tenants[i]->tenant[len])
            return s->tenants[i];
    return NULL;
}

/* Returns the head of tenant, creating it if new. */
static struct head *get_head(struct store *s, const char *tenant, size_t len)
{
    pthread_rwlock_rdlock(&s->tenants_lock);
    struct head *h = find_head(s, tenant, len);
    pthread_rwlock_unlock(&s->tenants_lock);
    if (h)
        return h;
    pthread_rwlock_wrlock(&s->tenants_lock);
    h = find_head(s, tenant, len);
    if (!h) {
        h = head_new(tenant, len);
        s->tenants = xgrow(s->tenants, sizeof(*s->tenants), s->ntenants + 1, &s->tenants_cap);
        s->tenants[s->ntenants++] = h;
    }
    pthread_rwlock_unlock(&s->tenants_lock);
    return h;
}

/* Borrowed head of a query's tenant, or NULL if it has no data. Heads live until store_close(). */
static struct head *query_head(struct store *s, const struct store_query *q)
{
    const char *t = q->tenant ? q->tenant : DEFAULT_TENANT;
    pthread_rwlock_rdlock(&s->tenants_lock);
    struct head *h = find_head(s, t, strlen(t));
    pthread_rwlock_unlock(&s->tenants_lock);
    return h;
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
    head_apply(get_head(s, tenant, tlen), payload, len);
    s->replayed++;
    return 0;
}

int store_open(struct store **out, const struct store_opts *o)
{
    struct store *s = xcalloc(1, sizeof(*s));
    char *path = NULL;
    int err;
    *out = NULL;
    s->opts = *o;
    s->dir = xstrdup(o->data_dir ? o->data_dir : "./ember-data");
    s->opts.data_dir = s->dir;
    s->lock_fd = -1;
    pthread_rwlock_init(&s->tenants_lock, NULL);

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
    FREE_AND_NULL(path);
    path = xasprintf("%s/wal", s->dir);
    int64_t t0 = time_mono_ns();
    err = wal_open(&s->wal, path, o->wal_segment_bytes, o->fsync, replay_record, s);
    if (err)
        goto out;
    /* make the wal directory's own entry durable (its segments were synced by wal_open) */
    err = o->fsync ? io_fsync_dir(s->dir) : 0;
    if (err) {
        log_error("cannot sync data directory '%s': %s", s->dir, ember_strerror(err));
        goto out;
    }
    if (s->replayed || s->replay_skipped)
        log_info("store '%s': replayed %llu wal records (%llu skipped) in %.1f ms", s->dir,
                 (unsigned long long)s->replayed, (unsigned long long)s->replay_skipped,
                 (double)(time_mono_ns() - t0) / 1e6);
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
    wal_close(&s->wal);
    for (size_t i = 0; i < s->ntenants; i++)
        head_free(s->tenants[i]);
    free(s->tenants);
    pthread_rwlock_destroy(&s->tenants_lock);
    io_close(s->lock_fd); /* releases the flock */
    free(s->dir);
    free(s);
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
    /* durable first (no head lock held, so queries run during the fsync), then visible */
    err = wal_append(&s->wal, (uint8_t *)rec.data, rec.len);
    if (err)
        goto out;
    head_apply(get_head(s, tenant, strlen(tenant)), (const uint8_t *)rec.data + WAL_REC_HDR,
               rec.len - WAL_REC_HDR);
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

int store_merge(struct store *s, const struct store_query *q, struct stackset *ss)
{
    struct head *h = query_head(s, q);
    if (!h || q->until_ns <= q->from_ns)
        return 0;
    return head_merge(h, q->sel, q->from_ns, q->until_ns, ss);
}

int store_totals(struct store *s, const struct store_query *q, int64_t step_ns, int64_t *values,
                 size_t nsteps)
{
    if (step_ns <= 0)
        return -EMBER_EINVAL_INPUT;
    struct head *h = query_head(s, q);
    if (!h || q->until_ns <= q->from_ns || !nsteps)
        return 0;
    return head_totals(h, q->sel, q->from_ns, q->until_ns, step_ns, values, nsteps);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Label names (name NULL) or values of name, sorted and unique, appended to out. */
static int label_strings(struct store *s, const struct store_query *q, const char *name,
                         struct strlist *out)
{
    struct head *h = query_head(s, q);
    if (!h || q->until_ns <= q->from_ns)
        return 0;
    struct strtab set;
    strtab_init(&set);
    head_label_strings(h, q->sel, q->from_ns, q->until_ns, name, &set);
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

int store_series(struct store *s, const struct store_query *q, store_series_cb cb, void *arg)
{
    struct head *h = query_head(s, q);
    struct labels *v = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    if (!h || q->until_ns <= q->from_ns)
        return 0;
    /* copies, so cb runs without the head lock (it may be slow, or call the store) */
    head_series_labels(h, q->sel, q->from_ns, q->until_ns, &v, &n, &cap);
    if (n)
        qsort(v, n, sizeof(*v), cmp_labels);
    for (size_t i = 0; i < n && !r; i++)
        r = cb(&v[i], arg);
    for (size_t i = 0; i < n; i++)
        labels_release(&v[i]);
    free(v);
    return r;
}

void store_get_stats(struct store *s, struct store_stats *st)
{
    memset(st, 0, sizeof(*st));
    pthread_rwlock_rdlock(&s->tenants_lock);
    for (size_t i = 0; i < s->ntenants; i++) {
        struct head_stats hs;
        head_get_stats(s->tenants[i], &hs);
        st->series += hs.series;
        st->profiles += hs.profiles;
        st->samples += hs.samples;
        st->head_bytes += hs.bytes;
    }
    pthread_rwlock_unlock(&s->tenants_lock);
    struct wal_stats ws;
    wal_get_stats(&s->wal, &ws);
    st->bytes_on_disk = ws.disk_bytes;
    st->wal_records = ws.records;
    st->wal_syncs = ws.syncs;
    st->wal_sync_ns_total = ws.sync_ns_total;
    st->wal_sync_ns_max = ws.sync_ns_max;
}
