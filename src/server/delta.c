/* delta.c - cumulative-to-delta conversion state: last values per series and stack */
#include "delta.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/hmap.h"
#include "profile/profile.h"

/* The baseline of one series: stack key -> last cumulative value. */
struct delta_update {
    uint64_t series;
    struct hmap values;
};

struct series_state {
    uint64_t key;
    struct hmap values;
    uint64_t last_used; /* tick of the last update */
};

struct delta {
    pthread_mutex_t lock;
    struct hmap index; /* series key -> position in series */
    VEC(struct series_state) series;
    size_t max_series;
    uint64_t tick;
};

struct delta *delta_new(size_t max_series)
{
    struct delta *d = xcalloc(1, sizeof(*d));

    pthread_mutex_init(&d->lock, NULL);
    hmap_init(&d->index);
    d->max_series = max_series ? max_series : 1;
    return d;
}

void delta_free(struct delta *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->series.len; i++)
        hmap_release(&d->series.data[i].values);
    free(d->series.data);
    hmap_release(&d->index);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

size_t delta_nseries(struct delta *d)
{
    size_t n;

    pthread_mutex_lock(&d->lock);
    n = d->series.len;
    pthread_mutex_unlock(&d->lock);
    return n;
}

static uint64_t hash_str(const struct symtab *sym, uint32_t id)
{
    const char *s = symtab_str(sym, id);
    return id && s ? hash_bytes(s, strlen(s)) : 0x9e3779b97f4a7c15ULL;
}

static uint64_t frame_key(const struct symtab *sym, uint32_t fid)
{
    const struct frame *f = symtab_get_frame(sym, fid);
    uint64_t h = hash_str(sym, f->name);

    h = hash_u64(h ^ hash_str(sym, f->file));
    h = hash_u64(h ^ hash_str(sym, f->module));
    h = hash_u64(h ^ f->line);
    return hash_u64(h ^ f->addr);
}

uint64_t delta_stack_key(const struct symtab *sym, uint32_t stack, uint64_t *memo, size_t nmemo)
{
    uint64_t h;

    if (stack == 0)
        return 0x51ed27054a3b1c9dULL;
    if (memo && stack < nmemo && memo[stack])
        return memo[stack];
    const struct stack_node *n = symtab_get_node(sym, stack);
    uint32_t parent = n->parent, frame = n->frame;
    h = hash_u64(delta_stack_key(sym, parent, memo, nmemo) * 31 + frame_key(sym, frame));
    if (h == UINT64_MAX || h == 0)
        h = 1;
    if (memo && stack < nmemo)
        memo[stack] = h;
    return h;
}

void delta_txn_init(struct delta_txn *t)
{
    memset(t, 0, sizeof(*t));
}

void delta_txn_release(struct delta_txn *t)
{
    for (size_t i = 0; i < t->ups.len; i++) {
        hmap_release(&t->ups.data[i]->values);
        free(t->ups.data[i]);
    }
    free(t->ups.data);
    delta_txn_init(t);
}

static uint64_t series_key(const char *tenant, const struct labels *l)
{
    uint64_t h = hash_u64(hash_bytes(tenant, strlen(tenant)) ^ labels_hash(l));
    return h == UINT64_MAX ? 1 : h;
}

int delta_apply(struct delta *d, const char *tenant, struct profile_batch *b, struct profile *p,
                struct delta_txn *txn)
{
    struct delta_update *up = xcalloc(1, sizeof(*up));
    size_t nmemo = b->sym.nodes.len;
    uint64_t *memo = xcalloc(nmemo ? nmemo : 1, sizeof(uint64_t));
    int first = 0;

    profile_compact(p);
    up->series = series_key(tenant, &p->labels);
    hmap_init(&up->values);
    pthread_mutex_lock(&d->lock);
    uint64_t *pos = hmap_get(&d->index, up->series);
    const struct hmap *prev = pos ? &d->series.data[*pos].values : NULL;
    first = prev == NULL;
    for (size_t i = 0; i < p->samples.len; i++) {
        struct sample *s = &p->samples.data[i];
        uint64_t k = delta_stack_key(&b->sym, s->stack, memo, nmemo);
        int created;
        *hmap_put(&up->values, k, &created) = (uint64_t)s->value;
        if (first) {
            s->value = 0;
            continue;
        }
        uint64_t *old = hmap_get(prev, k);
        if (old && (int64_t)*old <= s->value)
            s->value -= (int64_t)*old;
    }
    pthread_mutex_unlock(&d->lock);
    free(memo);
    profile_compact(p);
    VEC_PUSH(txn->ups, up);
    return first;
}

/* Forgets the least recently used series (lock held). */
static void evict_one(struct delta *d)
{
    size_t victim = 0;

    for (size_t i = 1; i < d->series.len; i++) {
        if (d->series.data[i].last_used < d->series.data[victim].last_used)
            victim = i;
    }
    struct series_state *v = &d->series.data[victim];
    hmap_release(&v->values);
    /* hmap has no delete: rebuild the index after the swap-remove (rare). */
    d->series.data[victim] = d->series.data[d->series.len - 1];
    d->series.len--;
    hmap_clear(&d->index);
    for (size_t i = 0; i < d->series.len; i++) {
        int created;
        *hmap_put(&d->index, d->series.data[i].key, &created) = i;
    }
}

void delta_commit(struct delta *d, struct delta_txn *txn)
{
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < txn->ups.len; i++) {
        struct delta_update *up = txn->ups.data[i];
        uint64_t *pos = hmap_get(&d->index, up->series);
        struct series_state *st;
        if (!pos) {
            if (d->series.len >= d->max_series)
                evict_one(d);
            VEC_RESERVE(d->series, 1);
            st = &d->series.data[d->series.len];
            memset(st, 0, sizeof(*st));
            st->key = up->series;
            int created;
            *hmap_put(&d->index, up->series, &created) = d->series.len;
            d->series.len++;
        } else {
            st = &d->series.data[*pos];
            hmap_release(&st->values);
        }
        st->values = up->values; /* steals the map */
        st->last_used = ++d->tick;
        free(up);
    }
    free(txn->ups.data);
    delta_txn_init(txn);
    pthread_mutex_unlock(&d->lock);
}
