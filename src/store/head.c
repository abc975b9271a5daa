/* head.c - in-memory head of one tenant: applies WAL payloads, answers aggregations */
#include "head.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "profile/selector.h"
#include "record.h"
#include "store.h"
#include "store_int.h"

#define CHUNK_SIZE (1u << 20)

/* A block of the sample arena; profiles' sample bytes are bump-allocated from the newest. */
struct head_chunk {
    struct head_chunk *next;
    size_t cap;
    uint8_t data[];
};

struct head *head_new(const char *tenant, size_t tenant_len)
{
    struct head *h = xcalloc(1, sizeof(*h));
    h->tenant = xstrndup(tenant, tenant_len);
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* appliers hold the lock briefly; do not let a stream of queries starve them */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->lock, &a);
    pthread_rwlockattr_destroy(&a);
    symtab_init(&h->sym);
    strtab_init(&h->lstr);
    hmap_init(&h->by_hash);
    hmap_init(&h->postings_idx);
    h->min_t = INT64_MAX;
    h->max_t = INT64_MIN;
    return h;
}

void head_free(struct head *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->series.len; i++) {
        struct hseries *s = h->series.data[i];
        free(s->pairs);
        free(s->view.v);
        free(s->profiles.data);
        free(s);
    }
    free(h->series.data);
    for (size_t i = 0; i < h->postings.len; i++)
        free(h->postings.data[i].data);
    free(h->postings.data);
    while (h->chunks) {
        struct head_chunk *c = h->chunks;
        h->chunks = c->next;
        free(c);
    }
    hmap_release(&h->by_hash);
    hmap_release(&h->postings_idx);
    strtab_release(&h->lstr);
    symtab_release(&h->sym);
    pthread_rwlock_destroy(&h->lock);
    free(h->tenant);
    free(h);
}

/* ---- apply ---- */

/* Returns room for at least need bytes at the arena's end (not yet taken). */
uint8_t *head_arena_reserve(struct head *h, size_t need)
{
    if (!h->chunks || h->chunk_cap - h->chunk_used < need) {
        size_t cap = need > CHUNK_SIZE ? need : CHUNK_SIZE;
        struct head_chunk *c = xmalloc(sizeof(*c) + cap);
        c->cap = cap;
        c->next = h->chunks;
        h->chunks = c;
        h->chunk_used = 0;
        h->chunk_cap = cap;
        h->arena_bytes += cap;
    }
    return h->chunks->data + h->chunk_used;
}

static uint32_t find_series(struct head *h, const uint32_t *pairs, size_t n, uint64_t hash)
{
    uint64_t *first = hmap_get(&h->by_hash, hash);
    for (uint32_t id = first ? (uint32_t)*first : UINT32_MAX; id != UINT32_MAX;) {
        const struct hseries *s = h->series.data[id];
        if (s->view.n == n && !memcmp(s->pairs, pairs, n * 2 * sizeof(uint32_t)))
            return id;
        id = s->next_same;
    }
    return UINT32_MAX;
}

static uint32_t add_series(struct head *h, const uint32_t *pairs, size_t n, uint64_t hash,
                           int postings)
{
    struct hseries *s = xcalloc(1, sizeof(*s));
    uint32_t id = (uint32_t)h->series.len;
    s->pairs = xmalloc(n * 2 * sizeof(uint32_t) + 1);
    memcpy(s->pairs, pairs, n * 2 * sizeof(uint32_t));
    s->view.v = xmalloc(n * sizeof(struct label) + 1);
    s->view.n = s->view.cap = n;
    for (size_t i = 0; i < n; i++) {
        s->view.v[i].name = (char *)strtab_get(&h->lstr, pairs[2 * i]);
        s->view.v[i].value = (char *)strtab_get(&h->lstr, pairs[2 * i + 1]);
    }
    s->hash = hash;
    int created;
    uint64_t *first = hmap_put(&h->by_hash, hash, &created);
    s->next_same = created ? UINT32_MAX : (uint32_t)*first;
    *first = id;
    VEC_PUSH(h->series, s);
    for (size_t i = 0; postings && i < n; i++) {
        uint64_t key = (uint64_t)pairs[2 * i] << 32 | pairs[2 * i + 1];
        uint64_t *idx = hmap_put(&h->postings_idx, key, &created);
        if (created) {
            VEC_RESERVE(h->postings, 1);
            memset(&h->postings.data[h->postings.len], 0, sizeof(h->postings.data[0]));
            *idx = h->postings.len++;
        }
        VEC_PUSH(h->postings.data[*idx], id);
    }
    return id;
}

/* Index of the first profile of s with time >= t. */
static size_t lower_bound(const struct hseries *s, int64_t t)
{
    size_t lo = 0, hi = s->profiles.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->profiles.data[mid].time_ns < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void add_profile(struct hseries *s, const struct hprofile *p)
{
    VEC_RESERVE(s->profiles, 1);
    size_t at = s->profiles.len;
    if (at && s->profiles.data[at - 1].time_ns > p->time_ns) {
        /* out of order (late arrival): keep the list sorted; equal times stay in arrival order */
        at = lower_bound(s, p->time_ns + 1); /* no overflow: a later time exists */
        memmove(&s->profiles.data[at + 1], &s->profiles.data[at],
                (s->profiles.len - at) * sizeof(*p));
    }
    s->profiles.data[at] = *p;
    s->profiles.len++;
}

uint32_t head_series_get(struct head *h, const uint32_t *pairs, size_t n, int postings)
{
    uint64_t hash = hash_bytes(pairs, n * 2 * sizeof(uint32_t));
    uint32_t sid = find_series(h, pairs, n, hash);
    return sid != UINT32_MAX ? sid : add_series(h, pairs, n, hash, postings);
}

void head_add_profile(struct head *h, uint32_t sid, const struct hprofile *hp)
{
    h->chunk_used += hp->len;
    add_profile(h->series.data[sid], hp);
    h->nprofiles++;
    h->nsamples += hp->nsamples;
    if (hp->time_ns < h->min_t)
        h->min_t = hp->time_ns;
    if (hp->time_ns > h->max_t)
        h->max_t = hp->time_ns;
}

/* Re-maps the batch's local symbol ids to the head's and adds its profiles. Write lock held. */
static void apply_locked(struct head *h, const uint8_t *p)
{
    uint32_t *smap = NULL, *fmap = NULL, *nmap = NULL, *pairs = NULL;
    size_t pairs_cap = 0;
    p++; /* kind */
    uint64_t tlen = varint_get(&p);
    p += tlen;

    uint64_t n = varint_get(&p);
    smap = xmalloc((n + 1) * sizeof(uint32_t));
    smap[0] = 0;
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t len = varint_get(&p);
        smap[i] = strtab_intern(&h->sym.strings, (const char *)p, len);
        p += len;
    }
    n = varint_get(&p);
    fmap = xmalloc((n + 1) * sizeof(uint32_t));
    fmap[0] = 0;
    for (uint64_t i = 1; i <= n; i++) {
        struct frame f;
        memset(&f, 0, sizeof(f));
        f.name = smap[varint_get(&p)];
        f.file = smap[varint_get(&p)];
        f.module = smap[varint_get(&p)];
        f.line = (uint32_t)varint_get(&p);
        f.addr = varint_get(&p);
        fmap[i] = symtab_frame(&h->sym, &f);
    }
    n = varint_get(&p);
    nmap = xmalloc((n + 1) * sizeof(uint32_t));
    nmap[0] = 0;
    for (uint64_t i = 1; i <= n; i++) {
        uint32_t parent = nmap[varint_get(&p)];
        nmap[i] = symtab_child(&h->sym, parent, fmap[varint_get(&p)]);
    }

    uint64_t nprof = varint_get(&p);
    for (uint64_t i = 0; i < nprof; i++) {
        uint64_t nl = varint_get(&p);
        if (nl * 2 > pairs_cap)
            pairs = xgrow(pairs, sizeof(uint32_t), nl * 2, &pairs_cap);
        for (uint64_t j = 0; j < nl * 2; j++) {
            uint64_t len = varint_get(&p);
            pairs[j] = strtab_intern(&h->lstr, (const char *)p, len);
            p += len;
        }
        uint64_t hash = hash_bytes(pairs, nl * 2 * sizeof(uint32_t));
        uint32_t sid = find_series(h, pairs, nl, hash);
        if (sid == UINT32_MAX)
            sid = add_series(h, pairs, nl, hash, 1);

        struct hprofile hp;
        hp.time_ns = unzigzag(varint_get(&p));
        hp.duration_ns = unzigzag(varint_get(&p));
        varint_get(&p); /* period: not kept in the head yet */
        uint64_t ns = varint_get(&p);
        uint8_t *w = head_arena_reserve(h, ns * 15), *w0 = w;
        int64_t total = 0;
        for (uint64_t j = 0; j < ns; j++) {
            uint32_t stack = nmap[varint_get(&p)];
            uint64_t zv = varint_get(&p);
            total += unzigzag(zv);
            w += varint_put(w, stack);
            w += varint_put(w, zv);
        }
        hp.total = total;
        hp.data = w0;
        hp.len = (uint32_t)(w - w0);
        hp.nsamples = (uint32_t)ns;
        hp.count = 1;
        head_add_profile(h, sid, &hp);
    }
    free(smap);
    free(fmap);
    free(nmap);
    free(pairs);
}

void head_apply(struct head *h, const uint8_t *payload, size_t len)
{
    (void)len;
    pthread_rwlock_wrlock(&h->lock);
    apply_locked(h, payload);
    pthread_rwlock_unlock(&h->lock);
}

/* ---- queries ---- */

typedef VEC(uint32_t) idvec;

static int has_data(const struct hseries *s, int64_t from, int64_t until)
{
    size_t i = lower_bound(s, from);
    return i < s->profiles.len && s->profiles.data[i].time_ns < until;
}

/*
 * Collects the ids of the series matching sel with data in [from, until).
 * Equality matchers narrow the candidates through the postings (the
 * shortest list wins); selector_matches() decides on the rest. Read lock held.
 */
static void select_series(struct head *h, const struct selector *sel, int64_t from, int64_t until,
                          idvec *out)
{
    const uint32_t *cand = NULL;
    size_t ncand = h->series.len;
    if (sel) {
        for (size_t i = 0; i < sel->n; i++) {
            const struct matcher *m = &sel->m[i];
            if (m->op != MATCH_EQ || !m->value[0])
                continue;
            uint32_t nid = strtab_find(&h->lstr, m->name, strlen(m->name));
            uint32_t vid = strtab_find(&h->lstr, m->value, strlen(m->value));
            uint64_t *idx = NULL;
            if (nid != UINT32_MAX && vid != UINT32_MAX)
                idx = hmap_get(&h->postings_idx, (uint64_t)nid << 32 | vid);
            if (!idx)
                return; /* no series has this label value */
            if (!cand || h->postings.data[*idx].len < ncand) {
                cand = h->postings.data[*idx].data;
                ncand = h->postings.data[*idx].len;
            }
        }
    }
    for (size_t i = 0; i < ncand; i++) {
        uint32_t id = cand ? cand[i] : (uint32_t)i;
        const struct hseries *s = h->series.data[id];
        if (sel && !selector_matches(sel, &s->view))
            continue;
        if (has_data(s, from, until))
            VEC_PUSH(*out, id);
    }
}

/* Copies head frame gf (and its strings) into dst; frame_map caches head -> dst ids. */
static uint32_t copy_frame(const struct head *h, struct symtab *dst, struct hmap *frame_map,
                           uint32_t gf)
{
    if (gf == 0)
        return 0;
    int created;
    uint64_t *v = hmap_put(frame_map, gf, &created);
    if (!created)
        return (uint32_t)*v;
    const struct frame *f = symtab_get_frame(&h->sym, gf);
    const struct strtab *hs = &h->sym.strings;
    struct frame c;
    memset(&c, 0, sizeof(c));
    c.name = strtab_intern(&dst->strings, strtab_get(hs, f->name), strtab_strlen(hs, f->name));
    c.file = strtab_intern(&dst->strings, strtab_get(hs, f->file), strtab_strlen(hs, f->file));
    c.module =
        strtab_intern(&dst->strings, strtab_get(hs, f->module), strtab_strlen(hs, f->module));
    c.line = f->line;
    c.addr = f->addr;
    uint32_t id = symtab_frame(dst, &c);
    *v = id; /* still valid: only dst was inserted into */
    return id;
}

/* Copies the stack gs (a head node) into dst, reusing the nodes copied before. */
static uint32_t copy_stack(const struct head *h, struct symtab *dst, struct hmap *node_map,
                           struct hmap *frame_map, idvec *path, uint32_t gs)
{
    path->len = 0;
    uint32_t base = 0;
    while (gs) {
        uint64_t *v = hmap_get(node_map, gs);
        if (v) {
            base = (uint32_t)*v;
            break;
        }
        VEC_PUSH(*path, gs);
        gs = symtab_get_node(&h->sym, gs)->parent;
    }
    while (path->len) {
        uint32_t g = path->data[--path->len];
        uint32_t f = copy_frame(h, dst, frame_map, symtab_get_node(&h->sym, g)->frame);
        base = symtab_child(dst, base, f);
        *hmap_put(node_map, g, NULL) = base;
    }
    return base;
}

int head_merge(struct head *h, const struct selector *sel, int64_t from, int64_t until,
               struct stackset *ss)
{
    idvec ids = {0}, path = {0};
    struct hmap acc, node_map, frame_map, have;
    hmap_init(&acc);
    hmap_init(&node_map);
    hmap_init(&frame_map);
    hmap_init(&have);
    pthread_rwlock_rdlock(&h->lock);
    select_series(h, sel, from, until, &ids);
    for (size_t i = 0; i < ids.len; i++) {
        const struct hseries *s = h->series.data[ids.data[i]];
        for (size_t k = lower_bound(s, from); k < s->profiles.len; k++) {
            const struct hprofile *hp = &s->profiles.data[k];
            if (hp->time_ns >= until)
                break;
            const uint8_t *p = hp->data;
            for (uint32_t j = 0; j < hp->nsamples; j++) {
                uint64_t stack = varint_get(&p);
                int64_t v = unzigzag(varint_get(&p));
                *hmap_put(&acc, stack, NULL) += (uint64_t)v;
            }
            ss->total += hp->total;
            ss->nprofiles += hp->count;
        }
    }
    /* stacks already in ss (a caller merging several queries into one set) stay unique */
    for (size_t i = 0; i < ss->samples.len; i++)
        *hmap_put(&have, ss->samples.data[i].stack, NULL) = i;
    for (size_t slot = 0; acc.keys && slot <= acc.mask; slot++) {
        if (acc.keys[slot] == UINT64_MAX)
            continue;
        int64_t v = (int64_t)acc.vals[slot];
        if (!v)
            continue;
        uint32_t local =
            copy_stack(h, &ss->sym, &node_map, &frame_map, &path, (uint32_t)acc.keys[slot]);
        int created;
        uint64_t *at = hmap_put(&have, local, &created);
        if (created) {
            struct sample smp = {local, 0, v};
            *at = ss->samples.len;
            VEC_PUSH(ss->samples, smp);
        } else {
            ss->samples.data[*at].value += v;
        }
    }
    pthread_rwlock_unlock(&h->lock);
    hmap_release(&acc);
    hmap_release(&node_map);
    hmap_release(&frame_map);
    hmap_release(&have);
    free(ids.data);
    free(path.data);
    return 0;
}

int head_totals(struct head *h, const struct selector *sel, int64_t from, int64_t until,
                int64_t origin, int64_t step, int64_t *values, size_t nsteps)
{
    idvec ids = {0};
    pthread_rwlock_rdlock(&h->lock);
    select_series(h, sel, from, until, &ids);
    for (size_t i = 0; i < ids.len; i++) {
        const struct hseries *s = h->series.data[ids.data[i]];
        for (size_t k = lower_bound(s, from); k < s->profiles.len; k++) {
            const struct hprofile *hp = &s->profiles.data[k];
            if (hp->time_ns >= until)
                break;
            uint64_t slot = (uint64_t)(hp->time_ns - origin) / (uint64_t)step;
            if (slot < nsteps)
                values[slot] += hp->total;
        }
    }
    pthread_rwlock_unlock(&h->lock);
    free(ids.data);
    return 0;
}

void head_label_strings(struct head *h, const struct selector *sel, int64_t from, int64_t until,
                        const char *name, struct strtab *set)
{
    idvec ids = {0};
    pthread_rwlock_rdlock(&h->lock);
    uint32_t nid = name ? strtab_find(&h->lstr, name, strlen(name)) : 0;
    if (nid == UINT32_MAX)
        goto out;
    select_series(h, sel, from, until, &ids);
    for (size_t i = 0; i < ids.len; i++) {
        const struct hseries *s = h->series.data[ids.data[i]];
        for (size_t j = 0; j < s->view.n; j++) {
            uint32_t id = name ? s->pairs[2 * j + 1] : s->pairs[2 * j];
            if (name && s->pairs[2 * j] != nid)
                continue;
            if (id) /* skip "" */
                strtab_intern(set, strtab_get(&h->lstr, id), strtab_strlen(&h->lstr, id));
        }
    }
out:
    pthread_rwlock_unlock(&h->lock);
    free(ids.data);
}

void head_series_labels(struct head *h, const struct selector *sel, int64_t from, int64_t until,
                        struct labels **out, size_t *n, size_t *cap)
{
    idvec ids = {0};
    pthread_rwlock_rdlock(&h->lock);
    select_series(h, sel, from, until, &ids);
    for (size_t i = 0; i < ids.len; i++) {
        *out = xgrow(*out, sizeof(struct labels), *n + 1, cap);
        labels_copy(&(*out)[(*n)++], &h->series.data[ids.data[i]]->view);
    }
    pthread_rwlock_unlock(&h->lock);
    free(ids.data);
}

void head_get_stats(struct head *h, struct head_stats *st)
{
    pthread_rwlock_rdlock(&h->lock);
    st->series = h->series.len;
    st->profiles = h->nprofiles;
    st->samples = h->nsamples;
    uint64_t b = h->arena_bytes + h->sym.strings.bytes + h->lstr.bytes;
    b += h->sym.strings.cap * (sizeof(char *) + sizeof(uint32_t)) + (h->sym.strings.mask + 1) * 4;
    b += h->sym.frames.cap * sizeof(struct frame) + (h->sym.frames.mask + 1) * 4;
    b += h->sym.nodes.cap * sizeof(struct stack_node) + (h->sym.nodes.mask + 1) * 4;
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        b += sizeof(*s) + s->view.n * (8 + sizeof(struct label)) +
             s->profiles.cap * sizeof(struct hprofile);
    }
    for (size_t i = 0; i < h->postings.len; i++)
        b += h->postings.data[i].cap * sizeof(uint32_t);
    b += (h->by_hash.mask + 1 + h->postings_idx.mask + 1) * 16;
    st->bytes = b;
    pthread_rwlock_unlock(&h->lock);
}
