/* normalize.c - decoded pprof -> Ember profiles (one per sample type and label set), and back */
#include "normalize.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hash.h"
#include "base/hmap.h"
#include "base/xalloc.h"
#include "pprof.h"

/*
 * How a pprof maps onto the model:
 * - each kept sample type gives one profile type; samples are further split
 *   by their set of string labels (minus span_id, trace_id, profile_id and
 *   reserved "__" names), which become series labels; numeric labels are
 *   dropped. Request labels come first; sample labels override them except
 *   service_name and the reserved ones.
 * - a sample's stack is its location ids read backwards (location_id[0] is
 *   the leaf), each location contributing its lines backwards (line[0] is the
 *   innermost inlined function), so stacks come out root first.
 * - a location's frames are interned once (lazily, only if referenced) and
 *   a sample's stack is interned once, then shared by every sample type.
 */

struct nctx {
    const struct pprof *p;
    const struct ingest_limits *lim;
    struct symtab *sym;
    struct pprof_idmap locs, fns, maps;
    /* per location position: frames (root first) at frames.data[loc_off[i]..+loc_n[i]] */
    uint32_t *loc_off, *loc_n;
    VEC(uint32_t) frames;
    struct hmap memo; /* (parent node << 32 | location position) -> node */
    /* pprof string index -> id in sym->strings (cut to max_symbol_len), SID_UNSET until used */
    uint32_t *sid;
    char *err;
    size_t errlen;
};

#define LOC_UNSET UINT32_MAX
#define SID_UNSET UINT32_MAX

static int nfail(struct nctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int nfail(struct nctx *c, int code, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Length of s cut to at most max bytes (0 = no cap) without splitting a UTF-8 sequence. */
static size_t cut_len(const char *s, size_t n, size_t max)
{
    if (!max || n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

const char *normalize_infer_name(const char *st, const char *pt)
{
    if (!st)
        st = "";
    if (!pt)
        pt = "";
    if (!strcmp(st, "wall"))
        return "wall";
    if (strstr(st, "cpu"))
        return "process_cpu";
    if (!strncmp(st, "alloc_", 6) || !strncmp(st, "inuse_", 6) || !strcmp(st, "space") ||
        !strcmp(st, "objects"))
        return "memory";
    if (!strcmp(st, "contentions") || !strcmp(st, "delay") || !strncmp(st, "mutex_", 6) ||
        !strncmp(st, "block_", 6) || !strncmp(st, "lock_", 5))
        return "block";
    if (!strcmp(st, "goroutine") || !strcmp(st, "goroutines"))
        return "goroutine";
    if (!strncmp(st, "exception", 9))
        return "exceptions";
    /* then by the period type ("samples/count" of a Go CPU profile has period cpu) */
    if (!strcmp(pt, "wall"))
        return "wall";
    if (strstr(pt, "cpu") || !strcmp(st, "samples"))
        return "process_cpu";
    if (!strcmp(pt, "space") || !strcmp(pt, "objects"))
        return "memory";
    if (!strcmp(pt, "contentions") || !strcmp(pt, "delay"))
        return "block";
    if (!strcmp(pt, "goroutine") || !strcmp(pt, "goroutines"))
        return "goroutine";
    return "unknown";
}

/* A part of a profile type id: ':' would break the id, and an empty part cannot be selected. */
static char *ptype_part(const char *s)
{
    if (!*s)
        return xstrdup("unknown");
    char *r = xstrdup(s);
    for (char *q = r; *q; q++)
        if (*q == ':' || *q == '{' || *q == '}')
            *q = '_';
    return r;
}

/* Interns s[0..n) cut to the symbol limit into the batch's strings. */
static uint32_t intern_sym(struct nctx *c, const char *s, size_t n)
{
    return strtab_intern(&c->sym->strings, s, cut_len(s, n, c->lim->max_symbol_len));
}

/*
 * Id in the batch's strings of pprof string i (cut to the symbol limit).
 * Each pprof string is hashed once per profile however many functions,
 * lines and mappings name it.
 */
static uint32_t str_id(struct nctx *c, int64_t i)
{
    if (i <= 0 || (uint64_t)i >= c->p->string_table.len)
        return 0;
    uint32_t *v = &c->sid[i];
    if (*v == SID_UNSET)
        *v = intern_sym(c, pprof_str(c->p, i), pprof_strlen(c->p, i));
    return *v;
}

/* Writes "0x<hex>" (no leading zeros) into out (at least 19 bytes); returns its length. */
static size_t hex_name(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++)
        out[2 + i] = tmp[n - 1 - i];
    out[2 + n] = 0;
    return 2 + n;
}

/* Interns the frame (name, file, module: ids in the batch's strings). */
static uint32_t intern_frame(struct nctx *c, uint32_t name, uint32_t file, int64_t line,
                             uint32_t module, uint64_t addr)
{
    struct frame f;
    memset(&f, 0, sizeof(f));
    f.name = name;
    f.file = file;
    f.module = module;
    f.line = line > 0 && line <= (int64_t)UINT32_MAX ? (uint32_t)line : 0;
    f.addr = addr;
    return symtab_frame(c->sym, &f);
}

/* Fills in the frames of location at position pos (root first), once. */
static void location_frames(struct nctx *c, size_t pos)
{
    const struct pprof *p = c->p;
    const struct pprof_location *l = &p->location.data[pos];
    uint32_t module = 0, addr_id = SID_UNSET;
    char addrname[24];

    if (l->mapping_id) {
        int64_t m = pprof_idmap_get(&c->maps, l->mapping_id);
        if (m >= 0)
            module = str_id(c, p->mapping.data[m].filename);
    }
    c->loc_off[pos] = (uint32_t)c->frames.len;
    VEC_RESERVE(c->frames, l->nline ? l->nline : 1);
    if (!l->nline) {
        addr_id = intern_sym(c, addrname, hex_name(addrname, l->address));
        c->frames.data[c->frames.len++] = intern_frame(c, addr_id, 0, 0, module, l->address);
        c->loc_n[pos] = 1;
        return;
    }
    for (size_t j = l->nline; j-- > 0;) {
        const struct pprof_line *ln = &l->line[j];
        const struct pprof_function *fn = NULL;
        if (ln->function_id) {
            int64_t k = pprof_idmap_get(&c->fns, ln->function_id);
            if (k >= 0)
                fn = &p->function.data[k];
        }
        uint32_t name = 0, file = 0;
        bool named = false;
        if (fn) {
            if (pprof_strlen(p, fn->name)) {
                name = str_id(c, fn->name);
                named = true;
            } else if (pprof_strlen(p, fn->system_name)) {
                name = str_id(c, fn->system_name);
                named = true;
            }
            file = str_id(c, fn->filename);
        }
        if (!named) {
            if (addr_id == SID_UNSET)
                addr_id = intern_sym(c, addrname, hex_name(addrname, l->address));
            name = addr_id;
        }
        c->frames.data[c->frames.len++] = intern_frame(c, name, file, ln->line, module, l->address);
    }
    c->loc_n[pos] = (uint32_t)l->nline;
}

/*
 * Interns the stack of sample s (root first, cut to max_depth root-most
 * frames). Samples share prefixes, so (parent node, location) -> node is
 * memoised: a hit costs one probe of an inline-key map instead of one
 * symtab_child() per frame. Below a node created just now nothing can be
 * memoised yet, so lookups stop there; a pair is memoised on its second
 * visit, so the unique tails of stacks cost no map inserts.
 */
static uint32_t sample_stack(struct nctx *c, const struct pprof_sample *s)
{
    size_t max = c->lim->max_depth, depth = 0;
    uint32_t node = 0;
    bool fresh = false;
    for (size_t i = s->nlocation; i-- > 0;) {
        int64_t pos = pprof_idmap_get(&c->locs, s->location_id[i]);
        if (pos < 0) /* pprof_decode() rejects these; a hand-built pprof may not */
            continue;
        if (c->loc_n[pos] == LOC_UNSET)
            location_frames(c, (size_t)pos);
        uint32_t n = c->loc_n[pos];
        bool whole = !max || depth + n <= max;
        uint64_t key = (uint64_t)node << 32 | (uint64_t)pos;
        if (whole && !fresh) {
            const uint64_t *hit = hmap_get(&c->memo, key);
            if (hit) {
                node = (uint32_t)*hit;
                depth += n;
                continue;
            }
        }
        size_t before = c->sym->nodes.len;
        const uint32_t *fr = c->frames.data + c->loc_off[pos];
        for (uint32_t j = 0; j < n; j++) {
            if (max && depth == max)
                return node;
            node = symtab_child(c->sym, node, fr[j]);
            depth++;
        }
        fresh = c->sym->nodes.len > before;
        if (whole && !fresh) /* seen twice: likely shared by more samples */
            *hmap_put(&c->memo, key, NULL) = node;
    }
    return node;
}

/* ---- per-sample label sets ---- */

struct kv {
    const char *k, *v;
    size_t klen, vlen;
};

struct group {
    uint64_t hash;
    size_t off, n; /* pairs in the groups' kv pool */
};

static bool dropped_label(const char *k, size_t n)
{
    if (n >= 2 && k[0] == '_' && k[1] == '_')
        return true;
    return (n == 7 && !memcmp(k, "span_id", 7)) || (n == 8 && !memcmp(k, "trace_id", 8)) ||
           (n == 10 && !memcmp(k, "profile_id", 10));
}

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int r = memcmp(x->k, y->k, n);
    if (r)
        return r;
    return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static uint64_t kv_hash(const struct kv *v, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++) {
        h = hash_u64(h ^ hash_bytes(v[i].k, v[i].klen));
        h = hash_u64(h ^ hash_bytes(v[i].v, v[i].vlen));
    }
    return h;
}

static bool kv_equal(const struct kv *a, const struct kv *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].klen != b[i].klen || a[i].vlen != b[i].vlen || memcmp(a[i].k, b[i].k, a[i].klen) ||
            memcmp(a[i].v, b[i].v, a[i].vlen))
            return false;
    return true;
}

struct groups {
    VEC(struct group) v;
    VEC(struct kv) pool;
    struct hmap by_hash; /* hash -> first group index with that hash */
};

/*
 * Assigns each sample a label-set group; group[i] receives sample i's
 * group. Returns the number of groups (at least 1).
 */
static size_t group_samples(const struct pprof *p, struct groups *g, uint32_t *group)
{
    VEC(struct kv) tmp = {0};
    struct group none = {0, 0, 0};
    VEC_PUSH(g->v, none); /* group 0: no labels */
    for (size_t i = 0; i < p->sample.len; i++) {
        const struct pprof_sample *s = &p->sample.data[i];
        tmp.len = 0;
        for (size_t j = 0; j < s->nlabel; j++) {
            const struct pprof_label *l = &s->label[j];
            struct kv e = {pprof_str(p, l->key), pprof_str(p, l->str), pprof_strlen(p, l->key),
                           pprof_strlen(p, l->str)};
            if (!e.vlen || !e.klen || dropped_label(e.k, e.klen))
                continue;
            VEC_PUSH(tmp, e);
        }
        group[i] = 0;
        if (!tmp.len)
            continue;
        qsort(tmp.data, tmp.len, sizeof(struct kv), kv_cmp);
        size_t w = 0; /* a key given twice: the last value wins */
        for (size_t r = 0; r < tmp.len; r++) {
            if (w && !kv_cmp(&tmp.data[w - 1], &tmp.data[r]))
                tmp.data[w - 1] = tmp.data[r];
            else
                tmp.data[w++] = tmp.data[r];
        }
        tmp.len = w;
        uint64_t h = kv_hash(tmp.data, tmp.len);
        /* open addressing over hash values: h, h+1, ... until the set or a free key */
        for (uint64_t key = h;; key++) {
            if (key == UINT64_MAX)
                key = 0;
            int created;
            uint64_t *gi = hmap_put(&g->by_hash, key, &created);
            if (created) {
                struct group ng = {h, g->pool.len, tmp.len};
                VEC_RESERVE(g->pool, tmp.len);
                memcpy(g->pool.data + g->pool.len, tmp.data, tmp.len * sizeof(struct kv));
                g->pool.len += tmp.len;
                *gi = g->v.len;
                group[i] = (uint32_t)g->v.len;
                VEC_PUSH(g->v, ng);
                break;
            }
            const struct group *og = &g->v.data[*gi];
            if (og->hash == h && og->n == tmp.len &&
                kv_equal(g->pool.data + og->off, tmp.data, tmp.len)) {
                group[i] = (uint32_t)*gi;
                break;
            }
        }
    }
    free(tmp.data);
    return g->v.len;
}

/* Writes name as a valid label name ([a-zA-Z_][a-zA-Z0-9_]*) into out. */
static void sanitize_name(const char *k, size_t n, char *out, size_t outsz)
{
    size_t w = 0;
    if (n && k[0] >= '0' && k[0] <= '9' && w + 1 < outsz)
        out[w++] = '_';
    for (size_t i = 0; i < n && w + 1 < outsz; i++) {
        char ch = k[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '_';
        out[w++] = ok ? ch : '_';
    }
    out[w] = 0;
}

struct ktype {
    size_t index; /* in p->sample_type */
    char *id;     /* profile type id, owned */
    const char *name;
};

static int make_labels(struct nctx *c, const struct normalize_opts *o, const struct groups *g,
                       size_t gi, const struct ktype *t, struct labels *out)
{
    const struct group *grp = &g->v.data[gi];
    if (o->labels)
        labels_copy(out, o->labels);
    else
        labels_init(out);
    for (size_t i = 0; i < grp->n; i++) {
        const struct kv *e = &g->pool.data[grp->off + i];
        char name[256];
        sanitize_name(e->k, e->klen, name, sizeof(name));
        if (!strcmp(name, LABEL_SERVICE_NAME) && labels_get(out, LABEL_SERVICE_NAME))
            continue;
        if (name[0] == '_' && name[1] == '_')
            continue;
        labels_setn(out, name, strlen(name), e->v,
                    cut_len(e->v, e->vlen, c->lim->max_label_value_len));
    }
    labels_set(out, LABEL_NAME, t->name);
    labels_set(out, LABEL_PROFILE_TYPE, t->id);
    if (c->lim->max_labels && out->n > c->lim->max_labels)
        return nfail(c, -EMBER_ETOOBIG,
                     "series of %s has %zu labels, more than the limit of %zu (first: %s)", t->id,
                     out->n, c->lim->max_labels, out->v[0].name);
    return 0;
}

/*
 * Label sets that differed in the pprof can become equal once names are
 * sanitised and values cut: merge such profiles of one type into the first.
 */
static void merge_equal_series(struct profile *profs, size_t ntypes, size_t ngroups)
{
    struct hmap seen;
    if (ngroups < 2)
        return;
    hmap_init(&seen);
    for (size_t t = 0; t < ntypes; t++) {
        struct profile *row = profs + t * ngroups;
        hmap_clear(&seen);
        for (size_t gi = 0; gi < ngroups; gi++) {
            uint64_t h = labels_hash(&row[gi].labels);
            for (uint64_t key = h;; key++) {
                if (key == UINT64_MAX)
                    key = 0;
                int created;
                uint64_t *first = hmap_put(&seen, key, &created);
                if (created) {
                    *first = gi;
                    break;
                }
                struct profile *dst = &row[*first];
                if (labels_cmp(&dst->labels, &row[gi].labels))
                    continue;
                for (size_t i = 0; i < row[gi].samples.len; i++)
                    VEC_PUSH(dst->samples, row[gi].samples.data[i]);
                row[gi].samples.len = 0;
                break;
            }
        }
    }
    hmap_release(&seen);
}

/*
 * profile_compact() without qsort: an LSD radix sort by stack id (8 bits a
 * pass, passes whose byte is the same everywhere skipped, so ids below 65536
 * cost two passes), then equal stacks merged and zero values dropped. The
 * result is what profile_compact() gives; tmp is scratch that may grow.
 */
static void compact_samples(struct profile *p, struct sample **tmp, size_t *tmpcap)
{
    size_t n = p->samples.len;
    struct sample *a = p->samples.data;
    if (!n)
        return;
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            struct sample x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1].stack > x.stack) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
    } else {
        if (*tmpcap < n) {
            free(*tmp);
            *tmp = xmalloc(n * sizeof(struct sample));
            *tmpcap = n;
        }
        struct sample *src = a, *dst = *tmp;
        uint32_t all_or = 0, all_and = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
            all_or |= a[i].stack;
            all_and &= a[i].stack;
        }
        for (unsigned shift = 0; shift < 32; shift += 8) {
            if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
                continue; /* every id has the same byte here */
            size_t cnt[256] = {0};
            for (size_t i = 0; i < n; i++)
                cnt[(src[i].stack >> shift) & 0xff]++;
            size_t sum = 0;
            for (size_t b = 0; b < 256; b++) {
                size_t k = cnt[b];
                cnt[b] = sum;
                sum += k;
            }
            for (size_t i = 0; i < n; i++)
                dst[cnt[(src[i].stack >> shift) & 0xff]++] = src[i];
            struct sample *t = src;
            src = dst;
            dst = t;
        }
        if (src != a)
            memcpy(a, src, n * sizeof(struct sample));
    }
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (w && a[w - 1].stack == a[r].stack)
            a[w - 1].value = (int64_t)((uint64_t)a[w - 1].value + (uint64_t)a[r].value);
        else
            a[w++] = a[r];
    }
    size_t k = 0;
    for (size_t r = 0; r < w; r++)
        if (a[r].value != 0)
            a[k++] = a[r];
    p->samples.len = k;
}

static void ctx_release(struct nctx *c)
{
    pprof_idmap_release(&c->locs);
    pprof_idmap_release(&c->fns);
    pprof_idmap_release(&c->maps);
    free(c->loc_off);
    free(c->loc_n);
    free(c->frames.data);
    free(c->sid);
    hmap_release(&c->memo);
}

int normalize_pprof(const struct pprof *p, const struct normalize_opts *o,
                    struct profile_batch *out, char *err, size_t errlen)
{
    struct ingest_limits deflim;
    struct nctx c;
    struct groups g;
    VEC(struct ktype) types = {0};
    struct profile *profs = NULL;
    uint32_t *group = NULL;
    struct sample *sort_tmp = NULL;
    size_t ngroups = 0, nprofs = 0, sort_cap = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    hmap_init(&c.memo);
    memset(&g, 0, sizeof(g));
    hmap_init(&g.by_hash);
    if (!o->limits)
        ingest_limits_default(&deflim);
    c.p = p;
    c.lim = o->limits ? o->limits : &deflim;
    c.sym = &out->sym;
    c.err = err;
    c.errlen = errlen;
    if (err && errlen)
        err[0] = 0;

    if (c.lim->max_samples && p->sample.len > c.lim->max_samples) {
        rc = nfail(&c, -EMBER_ETOOBIG, "profile has %zu samples, more than the limit of %zu",
                   p->sample.len, c.lim->max_samples);
        goto out;
    }
    if (!p->sample_type.len) {
        rc = nfail(&c, -EMBER_EINVAL_INPUT, "profile has no sample types");
        goto out;
    }
    rc = pprof_idmap_locations(&c.locs, p, err, errlen);
    if (!rc)
        rc = pprof_idmap_functions(&c.fns, p, err, errlen);
    if (!rc)
        rc = pprof_idmap_mappings(&c.maps, p, err, errlen);
    if (rc)
        goto out;
    for (size_t i = 0; i < p->sample.len; i++) {
        if (p->sample.data[i].nvalue != p->sample_type.len) {
            rc = nfail(&c, -EMBER_EINVAL_INPUT,
                       "sample %zu has %zu values but the profile has %zu sample types", i,
                       p->sample.data[i].nvalue, p->sample_type.len);
            goto out;
        }
    }

    /* the kept sample types and their ids */
    const char *pt = pprof_str(p, p->period_type.type);
    for (size_t i = 0; i < p->sample_type.len; i++) {
        const char *st = pprof_str(p, p->sample_type.data[i].type);
        if (o->keep_type && !o->keep_type(st, o->keep_arg))
            continue;
        struct ktype t;
        t.index = i;
        t.name = o->name ? o->name : normalize_infer_name(st, pt);
        char *a = ptype_part(t.name), *b = ptype_part(st),
             *cc = ptype_part(pprof_str(p, p->sample_type.data[i].unit)), *d = ptype_part(pt),
             *e = ptype_part(pprof_str(p, p->period_type.unit));
        t.id = ptype_id(a, b, cc, d, e);
        free(a);
        free(b);
        free(cc);
        free(d);
        free(e);
        VEC_PUSH(types, t);
    }
    if (!types.len)
        goto out; /* every type filtered out: nothing to store */

    group = xmalloc((p->sample.len ? p->sample.len : 1) * sizeof(uint32_t));
    ngroups = group_samples(p, &g, group);
    nprofs = types.len * ngroups;
    profs = xcalloc(nprofs, sizeof(struct profile));
    for (size_t ti = 0; ti < types.len; ti++) {
        for (size_t gi = 0; gi < ngroups; gi++) {
            struct profile *pr = &profs[ti * ngroups + gi];
            profile_init(pr);
            rc = make_labels(&c, o, &g, gi, &types.data[ti], &pr->labels);
            if (rc)
                goto out;
            pr->time_ns = p->time_nanos ? p->time_nanos : o->default_time_ns;
            pr->duration_ns = p->duration_nanos;
            pr->period = p->period;
        }
    }

    c.loc_off = xmalloc((p->location.len ? p->location.len : 1) * sizeof(uint32_t));
    c.loc_n = xmalloc((p->location.len ? p->location.len : 1) * sizeof(uint32_t));
    for (size_t i = 0; i < p->location.len; i++)
        c.loc_n[i] = LOC_UNSET;
    c.sid = xmalloc((p->string_table.len ? p->string_table.len : 1) * sizeof(uint32_t));
    memset(c.sid, 0xff, (p->string_table.len ? p->string_table.len : 1) * sizeof(uint32_t));
    for (size_t i = 0; i < p->sample.len; i++) {
        const struct pprof_sample *s = &p->sample.data[i];
        bool any = false;
        for (size_t ti = 0; ti < types.len && !any; ti++)
            any = s->value[types.data[ti].index] != 0;
        if (!any)
            continue;
        uint32_t stack = sample_stack(&c, s);
        for (size_t ti = 0; ti < types.len; ti++) {
            int64_t v = s->value[types.data[ti].index];
            if (v)
                profile_add(&profs[ti * ngroups + group[i]], stack, v);
        }
    }

    merge_equal_series(profs, types.len, ngroups);
    /* move the non-empty profiles into the batch, in type then label-set order */
    for (size_t i = 0; i < nprofs; i++) {
        compact_samples(&profs[i], &sort_tmp, &sort_cap);
        if (!profs[i].samples.len) {
            profile_release(&profs[i]);
            continue;
        }
        struct profile *dst = batch_add(out);
        profile_release(dst);
        *dst = profs[i]; /* dst owns the labels and samples now */
        profile_init(&profs[i]);
    }
    rc = 0;
out:
    if (profs) {
        for (size_t i = 0; i < nprofs; i++)
            profile_release(&profs[i]);
        free(profs);
    }
    for (size_t i = 0; i < types.len; i++)
        free(types.data[i].id);
    free(types.data);
    free(group);
    free(sort_tmp);
    free(g.v.data);
    free(g.pool.data);
    hmap_release(&g.by_hash);
    ctx_release(&c);
    return rc;
}

/* ---- back to pprof ---- */

int normalize_to_pprof(const struct symtab *sym, const struct sample *samples, size_t n,
                       const char *profile_type, int64_t time_ns, int64_t duration_ns,
                       int64_t period, struct pprof *p)
{
    struct ptype t;
    struct hmap fnmap, locmap, mapmap;
    VEC(uint32_t) fr = {0};
    int rc = ptype_parse(&t, profile_type);
    if (rc)
        return rc;
    hmap_init(&fnmap);
    hmap_init(&locmap);
    hmap_init(&mapmap);

    pprof_add_string(p, "");
    struct pprof_value_type st = {pprof_add_string(p, t.sample_type),
                                  pprof_add_string(p, t.sample_unit)};
    VEC_PUSH(p->sample_type, st);
    p->period_type.type = pprof_add_string(p, t.period_type);
    p->period_type.unit = pprof_add_string(p, t.period_unit);
    p->period = period;
    p->time_nanos = time_ns;
    p->duration_nanos = duration_ns;

    for (size_t i = 0; i < n; i++) {
        if (!samples[i].value)
            continue;
        size_t depth = symtab_depth(sym, samples[i].stack);
        VEC_RESERVE(fr, depth);
        symtab_unwind(sym, samples[i].stack, fr.data, depth); /* leaf first, as pprof wants */
        struct pprof_sample s;
        memset(&s, 0, sizeof(s));
        s.location_id = xmalloc((depth ? depth : 1) * sizeof(uint64_t));
        s.nlocation = depth;
        s.value = xmalloc(sizeof(int64_t));
        s.value[0] = samples[i].value;
        s.nvalue = 1;
        for (size_t j = 0; j < depth; j++) {
            int created;
            uint64_t *loc = hmap_put(&locmap, fr.data[j], &created);
            if (created) {
                const struct frame *f = symtab_get_frame(sym, fr.data[j]);
                struct pprof_location l;
                memset(&l, 0, sizeof(l));
                l.id = p->location.len + 1;
                l.address = f->addr;
                if (f->module) {
                    uint64_t *m = hmap_put(&mapmap, f->module, &created);
                    if (created) {
                        struct pprof_mapping mp;
                        memset(&mp, 0, sizeof(mp));
                        mp.id = p->mapping.len + 1;
                        mp.filename = pprof_add_string(p, symtab_str(sym, f->module));
                        mp.has_functions = 1;
                        VEC_PUSH(p->mapping, mp);
                        *m = mp.id;
                    }
                    l.mapping_id = *m;
                }
                /* functions are shared by name and file */
                uint64_t *fid = hmap_put(&fnmap, (uint64_t)f->name << 32 | f->file, &created);
                if (created) {
                    struct pprof_function fn;
                    memset(&fn, 0, sizeof(fn));
                    fn.id = p->function.len + 1;
                    fn.name = pprof_add_string(p, symtab_str(sym, f->name));
                    fn.system_name = fn.name;
                    fn.filename = pprof_add_string(p, symtab_str(sym, f->file));
                    VEC_PUSH(p->function, fn);
                    *fid = fn.id;
                }
                l.line = xmalloc(sizeof(struct pprof_line));
                l.line[0].function_id = *fid;
                l.line[0].line = f->line;
                l.line[0].column = 0;
                l.nline = 1;
                VEC_PUSH(p->location, l);
                *loc = l.id;
            }
            s.location_id[j] = *loc;
        }
        VEC_PUSH(p->sample, s);
    }
    free(fr.data);
    hmap_release(&fnmap);
    hmap_release(&locmap);
    hmap_release(&mapmap);
    ptype_release(&t);
    return 0;
}
