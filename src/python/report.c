/* report.c - aggregation of raw Python stacks, pprof encoding and upload for the ember extension */
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pyagent.h"

/* Caps that bound the agent's memory whatever the application does. */
#define MAX_STRS      (1u << 20)
#define MAX_FRAMES    (1u << 19)
#define MAX_STACKS    (1u << 18)
#define MAX_TAGSETS   4096
#define MAX_LIVE      (1u << 20)
#define MAX_PENDING_N 32
#define DRAIN_MS      20

/* ---- a growable byte buffer that records OOM instead of aborting ---- */

struct obuf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static void ob_reserve(struct obuf *b, size_t more)
{
    if (b->oom || b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void ob_put(struct obuf *b, const void *p, size_t n)
{
    ob_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void ob_varint(struct obuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    ob_put(b, tmp, n);
}

static void ob_uint(struct obuf *b, uint32_t field, uint64_t v)
{
    if (!v)
        return;
    ob_varint(b, (uint64_t)field << 3);
    ob_varint(b, v);
}

static void ob_bytes(struct obuf *b, uint32_t field, const void *p, size_t n)
{
    ob_varint(b, (uint64_t)field << 3 | 2);
    ob_varint(b, n);
    ob_put(b, p, n);
}

static void ob_sub(struct obuf *b, uint32_t field, struct obuf *sub)
{
    if (sub->oom)
        b->oom = 1;
    ob_bytes(b, field, sub->p, sub->len);
    sub->len = 0;
}

static void ob_free(struct obuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- interning tables (open addressing over ids; 0 = empty slot) ---- */

struct ix {
    uint32_t *slot; /* id + 1 */
    uint32_t *hash; /* the hash of the id in the same slot */
    size_t cap, n;
};

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ULL ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* Grows ix to hold one more id; returns -ENOMEM on failure (ix unchanged). */
static int ix_grow(struct ix *x)
{
    if ((x->n + 1) * 4 < x->cap * 3)
        return 0;
    size_t cap = x->cap ? x->cap * 2 : 1024;
    uint32_t *slot = calloc(cap, sizeof *slot), *hash = calloc(cap, sizeof *hash);
    if (!slot || !hash) {
        free(slot);
        free(hash);
        return -ENOMEM;
    }
    for (size_t i = 0; i < x->cap; i++) {
        if (!x->slot[i])
            continue;
        size_t j = x->hash[i] & (cap - 1);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = x->slot[i];
        hash[j] = x->hash[i];
    }
    free(x->slot);
    free(x->hash);
    x->slot = slot;
    x->hash = hash;
    x->cap = cap;
    return 0;
}

/* Strings: owned copies, interned. */
struct str {
    char *s;
    uint32_t len;
};

/* A frame: function name, file and line (string ids). */
struct frame {
    int32_t name, file, line;
};

/* A stack: frame ids leaf first, in the pool. */
struct stack {
    uint32_t off, n;
};

/* Values of one (stack, tag) in one interval, or the in-use snapshot. */
struct val {
    uint32_t stack;
    int32_t tag;
    int64_t v[4];
};

struct valtab {
    struct val *e;
    size_t cap, n; /* e[] is open-addressed; stack == UINT32_MAX marks empty */
};

struct tagset {
    uint32_t n; /* pairs */
    int32_t *kv;
};

struct live {
    uintptr_t ptr; /* 0 = empty */
    uint32_t stack;
    int32_t tag;
    double objs, bytes;
};

struct pending {
    struct pending *next;
    uint8_t *data;
    size_t len;
};

static struct report {
    pthread_mutex_t mu; /* everything below but the upload queue */
    struct str *strs;
    size_t nstrs, capstrs;
    struct ix strix;
    struct frame *frames;
    size_t nframes, capframes;
    struct ix frameix;
    uint32_t *pool;
    size_t npool, cappool;
    struct stack *stacks;
    size_t nstacks, capstacks;
    struct ix stackix;
    int32_t *file_module; /* file string id -> module string id (-1 unknown), by string id */
    size_t capfm;
    struct valtab vals[PA_NKINDS];
    struct tagset *tags;
    size_t ntags;
    struct live *live;
    size_t livecap, nlive;
    uint64_t lost; /* samples lost to OOM or caps */
    int64_t interval_start_ns;

    struct pa_config cfg;
    int32_t overflow_stack;

    pthread_t collector, uploader;
    int running;
    _Atomic int stop;
    int flush_ms;

    pthread_mutex_t qmu; /* the upload queue */
    pthread_cond_t qcond;
    struct pending *qhead, *qtail;
    size_t qbytes, qn;
    uint64_t uploads, failures, dropped_payloads;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER,
       .qmu = PTHREAD_MUTEX_INITIALIZER,
       .qcond = PTHREAD_COND_INITIALIZER};

static int64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns the id of s[0..n) (copying it on first sight), or -1 on OOM or a full table. */
static int32_t str_intern(const char *s, size_t n)
{
    uint32_t h = (uint32_t)hash_bytes(s, n, 0);
    if (R.strix.cap) {
        for (size_t j = h & (R.strix.cap - 1); R.strix.slot[j]; j = (j + 1) & (R.strix.cap - 1)) {
            struct str *e = &R.strs[R.strix.slot[j] - 1];
            if (R.strix.hash[j] == h && e->len == n && !memcmp(e->s, s, n))
                return (int32_t)(R.strix.slot[j] - 1);
        }
    }
    if (R.nstrs >= MAX_STRS || ix_grow(&R.strix) < 0)
        return -1;
    if (R.nstrs == R.capstrs) {
        size_t cap = R.capstrs ? R.capstrs * 2 : 1024;
        struct str *ns = realloc(R.strs, cap * sizeof *ns);
        if (!ns)
            return -1;
        R.strs = ns;
        R.capstrs = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, n);
    copy[n] = 0;
    R.strs[R.nstrs].s = copy;
    R.strs[R.nstrs].len = (uint32_t)n;
    size_t j = h & (R.strix.cap - 1);
    while (R.strix.slot[j])
        j = (j + 1) & (R.strix.cap - 1);
    R.strix.slot[j] = (uint32_t)R.nstrs + 1;
    R.strix.hash[j] = h;
    R.strix.n++;
    return (int32_t)R.nstrs++;
}

static int32_t str_intern0(const char *s)
{
    return str_intern(s, strlen(s));
}

/*
 * The module name of a source file: the path below the longest sys.path
 * entry, without ".py" and "/__init__", dots for slashes ("flask/app.py" ->
 * "flask.app"); "<frozen X>" gives X. Writes at most cap bytes.
 */
static size_t module_of(const char *file, size_t n, char *out, size_t cap)
{
    size_t best = 0, o = 0;
    if (n > 8 && !memcmp(file, "<frozen ", 8) && file[n - 1] == '>') {
        o = n - 9 < cap ? n - 9 : cap;
        memcpy(out, file + 8, o);
        return o;
    }
    if (n && file[0] == '<')
        return 0;
    for (size_t i = 0; i < R.cfg.nsys_path; i++) {
        const char *p = R.cfg.sys_path[i];
        size_t pl = strlen(p);
        while (pl > 1 && p[pl - 1] == '/')
            pl--;
        if (pl && pl < n && pl > best && !memcmp(file, p, pl) && file[pl] == '/')
            best = pl + 1;
    }
    if (!best) {
        const char *slash = memrchr(file, '/', n);
        best = slash ? (size_t)(slash - file) + 1 : 0;
    }
    const char *m = file + best;
    size_t ml = n - best;
    if (ml > 3 && !memcmp(m + ml - 3, ".py", 3))
        ml -= 3;
    if (ml >= 9 && !memcmp(m + ml - 9, "/__init__", 9))
        ml -= 9;
    for (size_t i = 0; i < ml && o < cap; i++)
        out[o++] = m[i] == '/' ? '.' : m[i];
    return o;
}

static int32_t module_for_file(int32_t file)
{
    if ((size_t)file >= R.capfm) {
        size_t cap = R.capfm ? R.capfm : 256;
        while (cap <= (size_t)file)
            cap *= 2;
        int32_t *fm = realloc(R.file_module, cap * sizeof *fm);
        if (!fm)
            return -1;
        for (size_t i = R.capfm; i < cap; i++)
            fm[i] = -2;
        R.file_module = fm;
        R.capfm = cap;
    }
    if (R.file_module[file] == -2) {
        char m[512];
        size_t ml = module_of(R.strs[file].s, R.strs[file].len, m, sizeof m);
        R.file_module[file] = ml ? str_intern(m, ml) : -1;
    }
    return R.file_module[file];
}

static int32_t frame_intern(const char *qual, size_t ql, int32_t file, int32_t line)
{
    char name[768];
    size_t nl = 0;
    int32_t mod = file >= 0 ? module_for_file(file) : -1;
    if (mod >= 0 && R.strs[mod].len + 1 + ql <= sizeof name) {
        memcpy(name, R.strs[mod].s, R.strs[mod].len);
        nl = R.strs[mod].len;
        name[nl++] = '.';
    }
    if (ql > sizeof name - nl)
        ql = sizeof name - nl;
    memcpy(name + nl, qual, ql);
    nl += ql;
    int32_t nid = str_intern(name, nl);
    if (nid < 0)
        return -1;
    struct frame key = {nid, file, line};
    uint32_t h = (uint32_t)hash_bytes(&key, sizeof key, 1);
    if (R.frameix.cap) {
        for (size_t j = h & (R.frameix.cap - 1); R.frameix.slot[j];
             j = (j + 1) & (R.frameix.cap - 1)) {
            struct frame *e = &R.frames[R.frameix.slot[j] - 1];
            if (R.frameix.hash[j] == h && !memcmp(e, &key, sizeof key))
                return (int32_t)(R.frameix.slot[j] - 1);
        }
    }
    if (R.nframes >= MAX_FRAMES || ix_grow(&R.frameix) < 0)
        return -1;
    if (R.nframes == R.capframes) {
        size_t cap = R.capframes ? R.capframes * 2 : 1024;
        struct frame *nf = realloc(R.frames, cap * sizeof *nf);
        if (!nf)
            return -1;
        R.frames = nf;
        R.capframes = cap;
    }
    R.frames[R.nframes] = key;
    size_t j = h & (R.frameix.cap - 1);
    while (R.frameix.slot[j])
        j = (j + 1) & (R.frameix.cap - 1);
    R.frameix.slot[j] = (uint32_t)R.nframes + 1;
    R.frameix.hash[j] = h;
    R.frameix.n++;
    return (int32_t)R.nframes++;
}

static int32_t stack_intern(const uint32_t *f, uint32_t n)
{
    uint32_t h = (uint32_t)hash_bytes(f, n * sizeof *f, 2);
    if (R.stackix.cap) {
        for (size_t j = h & (R.stackix.cap - 1); R.stackix.slot[j];
             j = (j + 1) & (R.stackix.cap - 1)) {
            struct stack *e = &R.stacks[R.stackix.slot[j] - 1];
            if (R.stackix.hash[j] == h && e->n == n && !memcmp(R.pool + e->off, f, n * sizeof *f))
                return (int32_t)(R.stackix.slot[j] - 1);
        }
    }
    if (R.nstacks >= MAX_STACKS || ix_grow(&R.stackix) < 0)
        return -1;
    if (R.nstacks == R.capstacks) {
        size_t cap = R.capstacks ? R.capstacks * 2 : 1024;
        struct stack *ns = realloc(R.stacks, cap * sizeof *ns);
        if (!ns)
            return -1;
        R.stacks = ns;
        R.capstacks = cap;
    }
    if (R.npool + n > R.cappool) {
        size_t cap = R.cappool ? R.cappool : 8192;
        while (cap < R.npool + n)
            cap *= 2;
        uint32_t *np = realloc(R.pool, cap * sizeof *np);
        if (!np)
            return -1;
        R.pool = np;
        R.cappool = cap;
    }
    memcpy(R.pool + R.npool, f, n * sizeof *f);
    R.stacks[R.nstacks].off = (uint32_t)R.npool;
    R.stacks[R.nstacks].n = n;
    R.npool += n;
    size_t j = h & (R.stackix.cap - 1);
    while (R.stackix.slot[j])
        j = (j + 1) & (R.stackix.cap - 1);
    R.stackix.slot[j] = (uint32_t)R.nstacks + 1;
    R.stackix.hash[j] = h;
    R.stackix.n++;
    return (int32_t)R.nstacks++;
}

/* The stack id of a raw record, interning its frames; a stand-in stack when tables are full. */
static int32_t rec_stack(const struct pa_rec *r)
{
    uint32_t ids[PA_MAX_DEPTH + 1];
    uint32_t n = 0;
    const char *p = r->data, *end = r->data + r->len;
    int32_t file = -1;
    for (uint32_t i = 0; i < r->nframes && end - p >= 6; i++) {
        int32_t line;
        memcpy(&line, p, 4);
        size_t nl = (uint8_t)p[4], fl = (uint8_t)p[5];
        p += 6;
        if ((size_t)(end - p) < nl)
            break;
        const char *q = p;
        p += nl;
        if (fl != 255) {
            if ((size_t)(end - p) < fl)
                break;
            file = str_intern(p, fl);
            p += fl;
        }
        int32_t f = frame_intern(q, nl, file, line);
        if (f < 0)
            goto full;
        ids[n++] = (uint32_t)f;
    }
    if (r->truncated) {
        int32_t f = frame_intern("[truncated]", 11, -1, 0);
        if (f < 0)
            goto full;
        ids[n++] = (uint32_t)f;
    }
    int32_t s = stack_intern(ids, n);
    if (s >= 0)
        return s;
full:
    R.lost++;
    return R.overflow_stack;
}

static struct val *val_get(struct valtab *t, uint32_t stack, int32_t tag)
{
    if ((t->n + 1) * 4 >= t->cap * 3) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct val *e = malloc(cap * sizeof *e);
        if (!e)
            return NULL;
        for (size_t i = 0; i < cap; i++)
            e[i].stack = UINT32_MAX;
        for (size_t i = 0; i < t->cap; i++) {
            if (t->e[i].stack == UINT32_MAX)
                continue;
            size_t j = (t->e[i].stack * 2654435761u ^ (uint32_t)t->e[i].tag * 40503u) & (cap - 1);
            while (e[j].stack != UINT32_MAX)
                j = (j + 1) & (cap - 1);
            e[j] = t->e[i];
        }
        free(t->e);
        t->e = e;
        t->cap = cap;
    }
    size_t j = (stack * 2654435761u ^ (uint32_t)tag * 40503u) & (t->cap - 1);
    for (; t->e[j].stack != UINT32_MAX; j = (j + 1) & (t->cap - 1))
        if (t->e[j].stack == stack && t->e[j].tag == tag)
            return &t->e[j];
    memset(&t->e[j], 0, sizeof t->e[j]);
    t->e[j].stack = stack;
    t->e[j].tag = tag;
    t->n++;
    return &t->e[j];
}

static void valtab_clear(struct valtab *t)
{
    free(t->e);
    memset(t, 0, sizeof *t);
}

/* Collector callback: one record from the signal ring. Called with R.mu held. */
static void take_rec(const struct pa_rec *r, void *arg)
{
    (void)arg;
    int32_t s = rec_stack(r);
    if (s < 0 || r->kind >= PA_NKINDS)
        return;
    struct val *v = val_get(&R.vals[r->kind], (uint32_t)s, r->tag);
    if (!v) {
        R.lost++;
        return;
    }
    v->v[0] += (int64_t)r->weight * (1000000000 / R.cfg.sample_rate);
}

/* ---- allocations (called from allocator hooks with the GIL held) ---- */

static size_t live_slot(uintptr_t p)
{
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & (R.livecap - 1);
}

static int live_grow(void)
{
    if ((R.nlive + 1) * 2 < R.livecap)
        return 0;
    if (R.nlive >= MAX_LIVE)
        return -ENOSPC;
    size_t oldcap = R.livecap;
    struct live *old = R.live;
    size_t cap = oldcap ? oldcap * 2 : 4096;
    struct live *e = calloc(cap, sizeof *e);
    if (!e)
        return -ENOMEM;
    R.live = e;
    R.livecap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].ptr)
            continue;
        size_t j = live_slot(old[i].ptr);
        while (e[j].ptr)
            j = (j + 1) & (cap - 1);
        e[j] = old[i];
    }
    free(old);
    return 0;
}

void pa_report_alloc(const struct pa_rec *r, void *ptr, size_t size, double objects, double bytes)
{
    (void)size;
    pthread_mutex_lock(&R.mu);
    int32_t s = rec_stack(r);
    if (s < 0)
        goto out;
    struct val *v = val_get(&R.vals[PA_ALLOC], (uint32_t)s, r->tag);
    if (!v) {
        R.lost++;
        goto out;
    }
    v->v[0] += (int64_t)(objects + 0.5);
    v->v[1] += (int64_t)(bytes + 0.5);
    if (ptr && live_grow() == 0) {
        size_t j = live_slot((uintptr_t)ptr);
        while (R.live[j].ptr && R.live[j].ptr != (uintptr_t)ptr)
            j = (j + 1) & (R.livecap - 1);
        if (!R.live[j].ptr)
            R.nlive++;
        R.live[j] = (struct live){(uintptr_t)ptr, (uint32_t)s, r->tag, objects, bytes};
    }
out:
    pthread_mutex_unlock(&R.mu);
}

void pa_report_free(void *ptr)
{
    /* lock-free lookup: only GIL holders change the table, and they are serialised by the GIL */
    if (!R.nlive || !ptr)
        return;
    size_t j = live_slot((uintptr_t)ptr);
    for (; R.live[j].ptr; j = (j + 1) & (R.livecap - 1))
        if (R.live[j].ptr == (uintptr_t)ptr)
            break;
    if (!R.live[j].ptr)
        return;
    pthread_mutex_lock(&R.mu);
    /* backward-shift deletion keeps probe chains intact */
    size_t i = j;
    for (;;) {
        R.live[i].ptr = 0;
        size_t k = i;
        for (;;) {
            k = (k + 1) & (R.livecap - 1);
            if (!R.live[k].ptr)
                goto done;
            size_t home = live_slot(R.live[k].ptr);
            /* move k back to i unless its home lies cyclically in (i, k] */
            if (i <= k ? (home <= i || home > k) : (home <= i && home > k))
                break;
        }
        R.live[i] = R.live[k];
        i = k;
    }
done:
    R.nlive--;
    pthread_mutex_unlock(&R.mu);
}

int pa_tags_intern(const char *const *kv, size_t n)
{
    int ret = -ENOMEM;
    int32_t ids[64];
    if (n > 64 || n % 2)
        return -EINVAL;
    pthread_mutex_lock(&R.mu);
    for (size_t i = 0; i < n; i++)
        if ((ids[i] = str_intern0(kv[i])) < 0)
            goto out;
    for (size_t t = 0; t < R.ntags; t++)
        if (R.tags[t].n * 2 == n && !memcmp(R.tags[t].kv, ids, n * sizeof *ids)) {
            ret = (int)t + 1;
            goto out;
        }
    if (R.ntags >= MAX_TAGSETS) {
        ret = -ENOSPC;
        goto out;
    }
    if (!R.tags && !(R.tags = calloc(MAX_TAGSETS, sizeof *R.tags)))
        goto out;
    int32_t *copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy)
        goto out;
    memcpy(copy, ids, n * sizeof *ids);
    R.tags[R.ntags].n = (uint32_t)(n / 2);
    R.tags[R.ntags].kv = copy;
    ret = (int)++R.ntags;
out:
    pthread_mutex_unlock(&R.mu);
    return ret;
}

/* ---- pprof encoding ---- */

struct enc {
    int32_t *smap; /* global string id -> pprof index + 1 */
    int32_t *order;
    size_t nstr;
    uint8_t *used; /* frames referenced */
};

static int64_t enc_str(struct enc *e, int32_t id)
{
    if (id < 0)
        return 0;
    if (!e->smap[id]) {
        e->order[e->nstr] = id;
        e->smap[id] = (int32_t)++e->nstr;
    }
    return e->smap[id] - 1;
}

struct ptype {
    const char *type, *unit;
};

/*
 * Encodes the entries of t (values v[0..ntypes)) as one pprof message into
 * out. Returns 0, or -ENOMEM.
 */
static int encode_pprof(struct obuf *out, const struct valtab *t, const struct ptype *types,
                        size_t ntypes, const struct ptype *period_type, int64_t period,
                        int64_t start_ns, int64_t dur_ns)
{
    struct enc e = {0};
    struct obuf sub = {0}, sub2 = {0}, pk = {0};
    int ret = -ENOMEM;
    int32_t tid[8][2], empty = str_intern0(""), pt = str_intern0(period_type->type),
                       pu = str_intern0(period_type->unit);
    /* every string is interned before smap is sized */
    for (size_t i = 0; i < ntypes && i < 8; i++) {
        tid[i][0] = str_intern0(types[i].type);
        tid[i][1] = str_intern0(types[i].unit);
        if (tid[i][0] < 0 || tid[i][1] < 0)
            return -ENOMEM;
    }
    if (empty < 0 || pt < 0 || pu < 0 || ntypes > 8)
        return -ENOMEM;
    e.smap = calloc(R.nstrs + 1, sizeof *e.smap);
    e.order = malloc((R.nstrs + 1) * sizeof *e.order);
    e.used = calloc(R.nframes + 1, 1);
    if (!e.smap || !e.order || !e.used)
        goto out;
    enc_str(&e, empty);
    for (size_t i = 0; i < ntypes; i++) {
        ob_uint(&sub, 1, (uint64_t)enc_str(&e, tid[i][0]));
        ob_uint(&sub, 2, (uint64_t)enc_str(&e, tid[i][1]));
        ob_sub(out, 1, &sub);
    }
    for (size_t i = 0; i < t->cap; i++) {
        const struct val *v = &t->e[i];
        if (v->stack == UINT32_MAX)
            continue;
        int nz = 0;
        for (size_t k = 0; k < ntypes; k++)
            nz |= v->v[k] != 0;
        if (!nz)
            continue;
        const struct stack *s = &R.stacks[v->stack];
        for (uint32_t k = 0; k < s->n; k++) {
            ob_varint(&pk, R.pool[s->off + k] + 1);
            e.used[R.pool[s->off + k]] = 1;
        }
        ob_sub(&sub, 1, &pk);
        for (size_t k = 0; k < ntypes; k++)
            ob_varint(&pk, (uint64_t)v->v[k]);
        ob_sub(&sub, 2, &pk);
        if (v->tag > 0 && (size_t)v->tag <= R.ntags) {
            const struct tagset *ts = &R.tags[v->tag - 1];
            for (uint32_t k = 0; k < ts->n; k++) {
                ob_uint(&sub2, 1, (uint64_t)enc_str(&e, ts->kv[2 * k]));
                ob_uint(&sub2, 2, (uint64_t)enc_str(&e, ts->kv[2 * k + 1]));
                ob_sub(&sub, 3, &sub2);
            }
        }
        ob_sub(out, 2, &sub);
    }
    for (size_t f = 0; f < R.nframes; f++) {
        if (!e.used[f])
            continue;
        ob_uint(&sub, 1, f + 1);
        ob_uint(&sub2, 1, f + 1);
        ob_uint(&sub2, 2, (uint64_t)(R.frames[f].line > 0 ? R.frames[f].line : 0));
        ob_sub(&sub, 4, &sub2);
        ob_sub(out, 4, &sub);
    }
    for (size_t f = 0; f < R.nframes; f++) {
        if (!e.used[f])
            continue;
        int64_t name = enc_str(&e, R.frames[f].name);
        ob_uint(&sub, 1, f + 1);
        ob_uint(&sub, 2, (uint64_t)name);
        ob_uint(&sub, 3, (uint64_t)name);
        ob_uint(&sub, 4, (uint64_t)enc_str(&e, R.frames[f].file));
        ob_sub(out, 5, &sub);
    }
    int64_t pti = enc_str(&e, pt), pui = enc_str(&e, pu);
    for (size_t i = 0; i < e.nstr; i++) {
        const struct str *s = &R.strs[e.order[i]];
        ob_bytes(out, 6, s->s, s->len);
    }
    ob_uint(out, 9, (uint64_t)start_ns);
    ob_uint(out, 10, (uint64_t)dur_ns);
    ob_uint(&sub, 1, (uint64_t)pti);
    ob_uint(&sub, 2, (uint64_t)pui);
    ob_sub(out, 11, &sub);
    ob_uint(out, 12, (uint64_t)period);
    ret = out->oom || sub.oom || sub2.oom || pk.oom ? -ENOMEM : 0;
out:
    free(e.smap);
    free(e.order);
    free(e.used);
    ob_free(&sub);
    ob_free(&sub2);
    ob_free(&pk);
    return ret;
}

static void put_label(struct obuf *series, const char *k, const char *v)
{
    struct obuf l = {0};
    ob_bytes(&l, 1, k, strlen(k));
    ob_bytes(&l, 2, v, strlen(v));
    ob_sub(series, 1, &l);
    ob_free(&l);
}

/* Appends one PushRequest.series holding profile to req. */
static void put_series(struct obuf *req, const char *name, struct obuf *profile, int no_delta)
{
    struct obuf s = {0}, smp = {0};
    put_label(&s, "__name__", name);
    put_label(&s, "service_name", R.cfg.app_name);
    for (size_t i = 0; i + 1 < R.cfg.nglobal_tags; i += 2)
        put_label(&s, R.cfg.global_tags[i], R.cfg.global_tags[i + 1]);
    if (no_delta)
        put_label(&s, "__delta__", "false");
    ob_sub(&smp, 1, profile);
    ob_sub(&s, 2, &smp);
    ob_sub(req, 1, &s);
    ob_free(&s);
    ob_free(&smp);
}

static void enqueue(uint8_t *data, size_t len);

/*
 * Ends the current interval: encodes CPU, wall and memory profiles into one
 * PushRequest, queues it and clears the interval's values. R.mu held.
 */
static void cut_interval(void)
{
    int64_t start = R.interval_start_ns, now = now_ns(CLOCK_REALTIME);
    int64_t period = 1000000000 / R.cfg.sample_rate;
    struct obuf req = {0}, prof = {0};
    static const struct ptype cpu[] = {{"cpu", "nanoseconds"}};
    static const struct ptype wall[] = {{"wall", "nanoseconds"}};
    static const struct ptype mem[] = {{"alloc_objects", "count"},
                                       {"alloc_space", "bytes"},
                                       {"inuse_objects", "count"},
                                       {"inuse_space", "bytes"}};
    static const struct ptype cpu_period = {"cpu", "nanoseconds"};
    static const struct ptype space = {"space", "bytes"};

    R.interval_start_ns = now;
    if (R.vals[PA_CPU].n &&
        !encode_pprof(&prof, &R.vals[PA_CPU], cpu, 1, &cpu_period, period, start, now - start))
        put_series(&req, "process_cpu", &prof, 0);
    prof.len = 0;
    if (R.vals[PA_WALL].n &&
        !encode_pprof(&prof, &R.vals[PA_WALL], wall, 1, &cpu_period, period, start, now - start))
        put_series(&req, "wall", &prof, 0);
    prof.len = 0;
    if (R.cfg.alloc) {
        /* in-use: a snapshot of the sampled objects still alive, merged beside this interval's
         * allocations */
        struct valtab *a = &R.vals[PA_ALLOC];
        int ok = 1;
        for (size_t i = 0; i < R.livecap && ok; i++) {
            if (!R.live[i].ptr)
                continue;
            struct val *v = val_get(a, R.live[i].stack, R.live[i].tag);
            if (!v) {
                ok = 0;
                break;
            }
            v->v[2] += (int64_t)(R.live[i].objs + 0.5);
            v->v[3] += (int64_t)(R.live[i].bytes + 0.5);
        }
        if (ok && a->n &&
            !encode_pprof(&prof, a, mem, 4, &space, (int64_t)R.cfg.alloc_interval, start,
                          now - start))
            put_series(&req, "memory", &prof, 1);
    }
    for (int k = 0; k < PA_NKINDS; k++)
        valtab_clear(&R.vals[k]);
    ob_free(&prof);
    if (req.oom || !req.len) {
        if (req.oom)
            R.lost++;
        ob_free(&req);
        return;
    }
    enqueue(req.p, req.len);
}

/* ---- upload queue and threads ---- */

static void enqueue(uint8_t *data, size_t len)
{
    struct pending *p = malloc(sizeof *p);
    if (!p) {
        free(data);
        return;
    }
    p->next = NULL;
    p->data = data;
    p->len = len;
    pthread_mutex_lock(&R.qmu);
    while (R.qhead && (R.qbytes + len > R.cfg.max_pending_bytes || R.qn >= MAX_PENDING_N)) {
        struct pending *old = R.qhead; /* the oldest goes first */
        R.qhead = old->next;
        if (!R.qhead)
            R.qtail = NULL;
        R.qbytes -= old->len;
        R.qn--;
        R.dropped_payloads++;
        free(old->data);
        free(old);
    }
    if (R.qtail)
        R.qtail->next = p;
    else
        R.qhead = p;
    R.qtail = p;
    R.qbytes += len;
    R.qn++;
    pthread_cond_signal(&R.qcond);
    pthread_mutex_unlock(&R.qmu);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void *collector_main(void *arg)
{
    (void)arg;
    pa_own_thread_register();
    pthread_setname_np(pthread_self(), "ember-collect");
    int64_t next_cut = now_ns(CLOCK_MONOTONIC) + (int64_t)R.cfg.upload_interval_ms * 1000000;
    while (!atomic_load(&R.stop)) {
        sleep_ms(DRAIN_MS);
        pthread_mutex_lock(&R.mu);
        pa_ring_drain(take_rec, NULL);
        if (now_ns(CLOCK_MONOTONIC) >= next_cut) {
            cut_interval();
            next_cut += (int64_t)R.cfg.upload_interval_ms * 1000000;
        }
        pthread_mutex_unlock(&R.mu);
    }
    return NULL;
}

static size_t discard_body(void *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

/* Sends one PushRequest. Returns 0 when the server accepted it (2xx), -1 otherwise. */
static int send_push(CURL *c, const struct pending *p, long timeout_ms)
{
    char url[1024], hdr[600];
    struct curl_slist *h = NULL;
    long code = 0;
    snprintf(url, sizeof url, "%s/push.v1.PusherService/Push", R.cfg.server);
    h = curl_slist_append(h, "Content-Type: application/proto");
    if (R.cfg.tenant) {
        snprintf(hdr, sizeof hdr, "X-Scope-OrgID: %s", R.cfg.tenant);
        h = curl_slist_append(h, hdr);
    }
    if (R.cfg.auth_token) {
        snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", R.cfg.auth_token);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 3000 ? timeout_ms : 3000);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_USERAGENT,
                     "ember-python/"
                     "0.1");
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    return rc == CURLE_OK && code >= 200 && code < 300 ? 0 : -1;
}

/* Pops the oldest payload (the caller owns it), or NULL. */
static struct pending *queue_pop(void)
{
    pthread_mutex_lock(&R.qmu);
    struct pending *p = R.qhead;
    if (p) {
        R.qhead = p->next;
        if (!R.qhead)
            R.qtail = NULL;
        R.qbytes -= p->len;
        R.qn--;
    }
    pthread_mutex_unlock(&R.qmu);
    return p;
}

/* Puts a payload that failed back in front, unless newer ones already fill the queue. */
static void queue_unpop(struct pending *p)
{
    pthread_mutex_lock(&R.qmu);
    R.failures++;
    if (R.qbytes + p->len > R.cfg.max_pending_bytes || R.qn >= MAX_PENDING_N) {
        R.dropped_payloads++;
        free(p->data);
        free(p);
    } else {
        p->next = R.qhead;
        R.qhead = p;
        if (!R.qtail)
            R.qtail = p;
        R.qbytes += p->len;
        R.qn++;
    }
    pthread_mutex_unlock(&R.qmu);
}

static void *uploader_main(void *arg)
{
    (void)arg;
    pa_own_thread_register();
    pthread_setname_np(pthread_self(), "ember-upload");
    CURL *c = curl_easy_init();
    int backoff_ms = 0;
    int64_t deadline = 0;
    for (;;) {
        pthread_mutex_lock(&R.qmu);
        while (!R.qhead && !atomic_load(&R.stop)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_nsec -= 1000000000L;
                ts.tv_sec++;
            }
            pthread_cond_timedwait(&R.qcond, &R.qmu, &ts);
        }
        pthread_mutex_unlock(&R.qmu);
        int stopping = atomic_load(&R.stop);
        if (stopping && !deadline) {
            /* the collector has queued the last interval before R.stop reaches us */
            deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)R.flush_ms * 1000000;
        }
        long left = stopping ? (long)((deadline - now_ns(CLOCK_MONOTONIC)) / 1000000) : 10000;
        if (left <= 0 || !c)
            break;
        struct pending *p = queue_pop();
        if (!p) {
            if (stopping)
                break;
            continue;
        }
        if (send_push(c, p, left < 10000 ? left : 10000) == 0) {
            backoff_ms = 0;
            free(p->data);
            free(p);
            pthread_mutex_lock(&R.qmu);
            R.uploads++;
            pthread_mutex_unlock(&R.qmu);
            continue;
        }
        queue_unpop(p);
        if (stopping)
            break;
        /* 1 s, 2 s, 4 s, ... up to a minute, or six upload intervals if shorter */
        int cap = R.cfg.upload_interval_ms * 6 < 60000 ? R.cfg.upload_interval_ms * 6 : 60000;
        backoff_ms = backoff_ms ? backoff_ms * 2 : 1000;
        if (backoff_ms > cap)
            backoff_ms = cap < 1000 ? 1000 : cap;
        for (int waited = 0; waited < backoff_ms && !atomic_load(&R.stop); waited += 100)
            sleep_ms(100);
    }
    if (c)
        curl_easy_cleanup(c);
    return NULL;
}

int pa_report_start(const struct pa_config *c)
{
    int err;
    sigset_t all, old;

    if (R.running)
        return -EALREADY;
    R.cfg = *c;
    pthread_mutex_lock(&R.mu);
    R.interval_start_ns = now_ns(CLOCK_REALTIME);
    for (int k = 0; k < PA_NKINDS; k++)
        valtab_clear(&R.vals[k]);
    if (R.overflow_stack <= 0) {
        int32_t f = frame_intern("[ember: stack table full]", 25, -1, 0);
        uint32_t id = (uint32_t)(f < 0 ? 0 : f);
        R.overflow_stack = f < 0 ? -1 : stack_intern(&id, 1);
    }
    pthread_mutex_unlock(&R.mu);
    atomic_store(&R.stop, 0);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = -pthread_create(&R.collector, NULL, collector_main, NULL);
    if (!err) {
        err = -pthread_create(&R.uploader, NULL, uploader_main, NULL);
        if (err) {
            atomic_store(&R.stop, 1);
            pthread_join(R.collector, NULL);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!err)
        R.running = 1;
    return err;
}

void pa_report_stop(int flush_ms)
{
    if (!R.running)
        return;
    R.flush_ms = flush_ms;
    /* the collector cuts the last interval first, then the uploader may stop */
    atomic_store(&R.stop, 1);
    pthread_join(R.collector, NULL);
    pthread_mutex_lock(&R.mu);
    pa_ring_drain(take_rec, NULL);
    if (flush_ms > 0)
        cut_interval();
    pthread_mutex_unlock(&R.mu);
    pthread_mutex_lock(&R.qmu);
    pthread_cond_broadcast(&R.qcond);
    pthread_mutex_unlock(&R.qmu);
    pthread_join(R.uploader, NULL);
    R.running = 0;
    pthread_mutex_lock(&R.mu);
    free(R.live); /* allocator hooks are off by now */
    R.live = NULL;
    R.livecap = R.nlive = 0;
    pthread_mutex_unlock(&R.mu);
    /* what was not sent is dropped: a later start() begins afresh */
    struct pending *p;
    while ((p = queue_pop())) {
        free(p->data);
        free(p);
    }
}

void pa_report_stats(uint64_t *uploads, uint64_t *failures, uint64_t *dropped_payloads,
                     uint64_t *pending_bytes, uint64_t *stacks)
{
    pthread_mutex_lock(&R.qmu);
    *uploads = R.uploads;
    *failures = R.failures;
    *dropped_payloads = R.dropped_payloads;
    *pending_bytes = R.qbytes;
    pthread_mutex_unlock(&R.qmu);
    pthread_mutex_lock(&R.mu);
    *stacks = R.nstacks;
    pthread_mutex_unlock(&R.mu);
}

void pa_report_prefork(void)
{
    pthread_mutex_lock(&R.mu);
    pthread_mutex_lock(&R.qmu);
}

void pa_report_postfork_parent(void)
{
    pthread_mutex_unlock(&R.qmu);
    pthread_mutex_unlock(&R.mu);
}

void pa_report_postfork_child(void)
{
    /* the parent's threads do not exist here; its queued payloads are the parent's to send */
    pthread_mutex_init(&R.mu, NULL);
    pthread_mutex_init(&R.qmu, NULL);
    pthread_cond_init(&R.qcond, NULL);
    R.running = 0;
    /*
     * The parent's queue and interval values are left allocated, not freed:
     * this also runs in children about to exec (subprocess), where less work
     * is better; a long-lived child leaks one interval's worth, once.
     */
    R.qhead = R.qtail = NULL;
    R.qbytes = 0;
    R.qn = 0;
    memset(R.vals, 0, sizeof R.vals);
    /* the parent's sampled live objects are inherited: keep tracking them */
    R.interval_start_ns = now_ns(CLOCK_REALTIME);
}
