/* pprof.c - profile.proto decoder and encoder, hand-written on pbwire */
#include "pprof.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "pbwire.h"

/*
 * Speed notes. Decoding makes two passes over the top-level message: the
 * first only reads tags and lengths to count samples, locations, strings,
 * ... so those arrays are allocated once at their exact size, and all
 * string bytes go into one block. Inner arrays (a sample's location ids,
 * values and labels; a location's lines) are appended to four pools that
 * grow geometrically; their pointers are set once the pools stop moving
 * (each element's slice starts where the previous one ended). So a decode
 * costs a handful of allocations whatever the profile size. The blocks are
 * owned by p->priv, and pprof_release() frees individually only pointers
 * that lie outside them (arrays attached by callers building a profile).
 */

enum {
    F_SAMPLE_TYPE = 1,
    F_SAMPLE = 2,
    F_MAPPING = 3,
    F_LOCATION = 4,
    F_FUNCTION = 5,
    F_STRING = 6,
    F_DROP_FRAMES = 7,
    F_KEEP_FRAMES = 8,
    F_TIME = 9,
    F_DURATION = 10,
    F_PERIOD_TYPE = 11,
    F_PERIOD = 12,
    F_COMMENT = 13,
    F_DEFAULT_SAMPLE_TYPE = 14,
    F_DOC_URL = 15,
    F_MAX = 16
};

struct block {
    uintptr_t lo, hi;
    void *p;
};

struct pprof_priv {
    VEC(struct block) blocks;
    /* string index: open addressing over string_table positions + 1 (0 = empty) */
    uint32_t *slots;
    size_t mask;
    size_t indexed; /* string_table[0..indexed) are in slots */
};

struct u64vec {
    uint64_t *data;
    size_t len, cap;
};

static struct pprof_priv *priv_get(struct pprof *p)
{
    if (!p->priv)
        p->priv = xcalloc(1, sizeof(*p->priv));
    return p->priv;
}

/* Hands memory block m (size bytes) to p; it is freed by pprof_release(). */
static void adopt_block(struct pprof *p, void *m, size_t size)
{
    struct pprof_priv *pv = priv_get(p);
    if (!m)
        return;
    struct block b = {(uintptr_t)m, (uintptr_t)m + size, m};
    VEC_PUSH(pv->blocks, b);
}

static void free_owned(const struct pprof_priv *pv, void *m)
{
    if (!m)
        return;
    if (pv) {
        uintptr_t a = (uintptr_t)m;
        for (size_t i = 0; i < pv->blocks.len; i++)
            if (a >= pv->blocks.data[i].lo && a < pv->blocks.data[i].hi)
                return;
    }
    free(m);
}

void pprof_init(struct pprof *p)
{
    memset(p, 0, sizeof(*p));
}

void pprof_release(struct pprof *p)
{
    struct pprof_priv *pv = p->priv;
    for (size_t i = 0; i < p->sample.len; i++) {
        struct pprof_sample *s = &p->sample.data[i];
        free_owned(pv, s->location_id);
        free_owned(pv, s->value);
        free_owned(pv, s->label);
    }
    for (size_t i = 0; i < p->location.len; i++)
        free_owned(pv, p->location.data[i].line);
    for (size_t i = 0; i < p->string_table.len; i++)
        free_owned(pv, p->string_table.data[i]);
    free(p->sample_type.data);
    free(p->sample.data);
    free(p->mapping.data);
    free(p->location.data);
    free(p->function.data);
    free(p->string_table.data);
    free(p->string_len.data);
    free(p->comment.data);
    if (pv) {
        for (size_t i = 0; i < pv->blocks.len; i++)
            free(pv->blocks.data[i].p);
        free(pv->blocks.data);
        free(pv->slots);
        free(pv);
    }
    pprof_init(p);
}

const char *pprof_str(const struct pprof *p, int64_t i)
{
    if (i < 0 || (uint64_t)i >= p->string_table.len || !p->string_table.data[i])
        return "";
    return p->string_table.data[i];
}

size_t pprof_strlen(const struct pprof *p, int64_t i)
{
    if (i < 0 || (uint64_t)i >= p->string_table.len || !p->string_table.data[i])
        return 0;
    if ((uint64_t)i < p->string_len.len)
        return p->string_len.data[i];
    return strlen(p->string_table.data[i]);
}

/* ---- string index ---- */

static void sync_lens(struct pprof *p)
{
    while (p->string_len.len < p->string_table.len) {
        const char *s = p->string_table.data[p->string_len.len];
        VEC_PUSH(p->string_len, s ? strlen(s) : 0);
    }
}

static void index_grow(struct pprof_priv *pv, const struct pprof *p)
{
    size_t cap = pv->slots ? (pv->mask + 1) * 2 : 64;
    while (cap < p->string_table.len * 2)
        cap *= 2;
    free(pv->slots);
    pv->slots = xcalloc(cap, sizeof(uint32_t));
    pv->mask = cap - 1;
    size_t n = pv->indexed;
    pv->indexed = 0;
    for (size_t i = 0; i < n; i++) {
        size_t h = hash_bytes(p->string_table.data[i], p->string_len.data[i]) & pv->mask;
        while (pv->slots[h])
            h = (h + 1) & pv->mask;
        pv->slots[h] = (uint32_t)i + 1;
        pv->indexed++;
    }
}

/* Finds s in the index; returns the slot where it is or where it would go. */
static size_t index_probe(const struct pprof_priv *pv, const struct pprof *p, const char *s,
                          size_t n, int64_t *found)
{
    size_t h = hash_bytes(s, n) & pv->mask;
    *found = -1;
    for (;;) {
        uint32_t v = pv->slots[h];
        if (!v)
            return h;
        if (p->string_len.data[v - 1] == n && !memcmp(p->string_table.data[v - 1], s, n)) {
            *found = v - 1;
            return h;
        }
        h = (h + 1) & pv->mask;
    }
}

int64_t pprof_add_stringn(struct pprof *p, const char *s, size_t n)
{
    struct pprof_priv *pv = priv_get(p);
    if (!p->string_table.len) {
        VEC_PUSH(p->string_table, xstrdup(""));
    }
    sync_lens(p);
    if (!pv->slots || (p->string_table.len + 1) * 2 > pv->mask + 1)
        index_grow(pv, p);
    /* catch up with strings appended without the index (decode, direct pushes) */
    while (pv->indexed < p->string_table.len) {
        size_t i = pv->indexed++;
        int64_t found;
        size_t slot = index_probe(pv, p, p->string_table.data[i], p->string_len.data[i], &found);
        if (found < 0) /* the first of duplicate strings wins */
            pv->slots[slot] = (uint32_t)i + 1;
    }
    int64_t found;
    size_t slot = index_probe(pv, p, s, n, &found);
    if (found >= 0)
        return found;
    size_t id = p->string_table.len;
    VEC_PUSH(p->string_table, xstrndup(s, n));
    VEC_PUSH(p->string_len, n);
    pv->slots[slot] = (uint32_t)id + 1;
    pv->indexed++;
    return (int64_t)id;
}

int64_t pprof_add_string(struct pprof *p, const char *s)
{
    return pprof_add_stringn(p, s, strlen(s));
}

/* ---- id maps ---- */

void pprof_idmap_release(struct pprof_idmap *m)
{
    free(m->dense);
    hmap_release(&m->sparse);
    memset(m, 0, sizeof(*m));
}

/*
 * Builds m over n records of the given stride whose first field is a uint64
 * id. Returns 0, or 1 (zero id) / 2 (duplicate id) with *bad = position.
 */
static int idmap_build(struct pprof_idmap *m, const void *recs, size_t n, size_t stride,
                       size_t *bad)
{
    memset(m, 0, sizeof(*m));
    hmap_init(&m->sparse);
    uint64_t max = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        memcpy(&id, (const char *)recs + i * stride, sizeof(id));
        if (!id) {
            *bad = i;
            return 1;
        }
        if (id > max)
            max = id;
    }
    if (max < 2 * (uint64_t)n + 64) {
        m->ndense = (size_t)max + 1;
        m->dense = xcalloc(m->ndense, sizeof(uint32_t));
        for (size_t i = 0; i < n; i++) {
            uint64_t id;
            memcpy(&id, (const char *)recs + i * stride, sizeof(id));
            if (m->dense[id]) {
                *bad = i;
                return 2;
            }
            m->dense[id] = (uint32_t)i + 1;
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t id;
        int created;
        memcpy(&id, (const char *)recs + i * stride, sizeof(id));
        if (id == UINT64_MAX) { /* the hash map's empty marker; no real profile uses it */
            *bad = i;
            return 1;
        }
        uint64_t *v = hmap_put(&m->sparse, id, &created);
        if (!created) {
            *bad = i;
            return 2;
        }
        *v = i;
    }
    return 0;
}

static int idmap_public(struct pprof_idmap *m, const void *recs, size_t n, size_t stride,
                        const char *what, char *err, size_t errlen)
{
    size_t bad = 0;
    int r = idmap_build(m, recs, n, stride, &bad);
    if (!r)
        return 0;
    uint64_t id;
    memcpy(&id, (const char *)recs + bad * stride, sizeof(id));
    if (err && errlen)
        snprintf(err, errlen,
                 r == 1 ? "%s %zu has invalid id %llu" : "%s %zu has duplicate id %llu", what, bad,
                 (unsigned long long)id);
    pprof_idmap_release(m);
    return -EMBER_EINVAL_INPUT;
}

int pprof_idmap_locations(struct pprof_idmap *m, const struct pprof *p, char *err, size_t errlen)
{
    return idmap_public(m, p->location.data, p->location.len, sizeof(struct pprof_location),
                        "location", err, errlen);
}

int pprof_idmap_functions(struct pprof_idmap *m, const struct pprof *p, char *err, size_t errlen)
{
    return idmap_public(m, p->function.data, p->function.len, sizeof(struct pprof_function),
                        "function", err, errlen);
}

int pprof_idmap_mappings(struct pprof_idmap *m, const struct pprof *p, char *err, size_t errlen)
{
    return idmap_public(m, p->mapping.data, p->mapping.len, sizeof(struct pprof_mapping), "mapping",
                        err, errlen);
}

/* ---- decoding ---- */

struct dec {
    struct pprof *p;
    const uint8_t *data;
    size_t n;
    char *err;
    size_t errlen;
    struct u64vec locs, vals; /* pools of sample location ids and values */
    VEC(struct pprof_label) labels;
    VEC(struct pprof_line) lines;
    char *strbuf;
    size_t strused, strcap;
};

static int fail(struct dec *d, size_t off, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct dec *d, size_t off, int code, const char *fmt, ...)
{
    if (d->err && d->errlen) {
        int k = snprintf(d->err, d->errlen, "at byte %zu: ", off);
        if (k >= 0 && (size_t)k < d->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(d->err + k, d->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

static __attribute__((cold, noinline)) int fail_wire(struct dec *d, size_t off, int rc)
{
    if (rc == -EMBER_ETRUNC)
        return fail(d, off, rc, "truncated field (the message ends at byte %zu)", d->n);
    return fail(d, off, rc, "malformed field (bad tag, varint or wire type)");
}

static const char *wire_name(enum pb_wire w)
{
    switch (w) {
    case PB_VARINT:
        return "varint";
    case PB_I64:
        return "fixed64";
    case PB_LEN:
        return "length-delimited";
    case PB_I32:
        return "fixed32";
    }
    return "unknown";
}

static int want(struct dec *d, const struct pb_field *f, size_t off, enum pb_wire w,
                const char *msg)
{
    if (f->wire == w)
        return 0;
    return fail(d, off, -EMBER_ECORRUPT, "%s field %u has wire type %s, expected %s", msg, f->num,
                wire_name(f->wire), wire_name(w));
}

/* Decodes one varint; NULL if malformed or truncated. */
static inline const uint8_t *rd_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return NULL;
        uint8_t c = *p++;
        if (shift == 63 && c > 1)
            return NULL;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *v = x;
            return p;
        }
    }
    return NULL;
}

/* Appends the values of a repeated integer field (packed or not) to pool; adds to *count. */
static int unpack(struct dec *d, const struct pb_field *f, size_t off, struct u64vec *pool,
                  size_t *count, const char *msg)
{
    if (f->wire == PB_VARINT) {
        VEC_PUSH(*pool, f->u64);
        (*count)++;
        return 0;
    }
    if (f->wire != PB_LEN)
        return fail(d, off, -EMBER_ECORRUPT,
                    "%s field %u has wire type %s, expected varint or packed", msg, f->num,
                    wire_name(f->wire));
    if (!f->len)
        return 0;
    /* a varint ends at each byte below 0x80: count them to reserve once */
    size_t k = 0;
    for (size_t i = 0; i < f->len; i++)
        k += f->data[i] < 0x80;
    if (!k || f->data[f->len - 1] >= 0x80)
        return fail(d, off, -EMBER_ECORRUPT, "%s field %u: packed varints run past its end", msg,
                    f->num);
    VEC_RESERVE(*pool, k);
    const uint8_t *q = f->data, *end = f->data + f->len;
    uint64_t *out = pool->data + pool->len;
    size_t got = 0;
    while (q < end) {
        q = rd_varint(q, end, &out[got]);
        if (!q)
            return fail(d, off, -EMBER_ECORRUPT, "%s field %u: malformed packed varint", msg,
                        f->num);
        got++;
    }
    pool->len += got;
    *count += got;
    return 0;
}

/* One varint at *pp with pb_read_varint()'s rules: 0, -EMBER_ETRUNC or -EMBER_ECORRUPT. */
static inline int rd_var(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (p >= end)
            return -EMBER_ETRUNC;
        uint8_t c = *p++;
        if (shift == 63 && c > 1)
            return -EMBER_ECORRUPT;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *v = x;
            *pp = p;
            return 0;
        }
    }
    return -EMBER_ECORRUPT;
}

/*
 * Reads the next field of r: 1, 0 at the end, or a negative error already
 * reported. pb_next() inlined (same checks and errors): it runs once per
 * field of the whole message, so a call per field and per varint showed up
 * as a third of decoding.
 */
static inline __attribute__((always_inline)) int next(struct dec *d, struct pb_reader *r,
                                                      struct pb_field *f, size_t *off)
{
    const uint8_t *p = r->p, *end = r->end;
    uint64_t key;
    int rc;
    *off = (size_t)(p - r->base);
    if (p >= end)
        return 0;
    if (*p < 0x80)
        key = *p++;
    else if ((rc = rd_var(&p, end, &key)))
        return fail_wire(d, *off, rc);
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return fail_wire(d, *off, -EMBER_ECORRUPT);
    f->num = (uint32_t)(key >> 3);
    f->wire = (enum pb_wire)(key & 7);
    switch (f->wire) {
    case PB_VARINT:
        if (p < end && *p < 0x80)
            f->u64 = *p++;
        else if ((rc = rd_var(&p, end, &f->u64)))
            return fail_wire(d, *off, rc);
        break;
    case PB_I64:
        if (end - p < 8)
            return fail_wire(d, *off, -EMBER_ETRUNC);
        memcpy(&f->u64, p, 8);
        p += 8;
        break;
    case PB_I32: {
        uint32_t v;
        if (end - p < 4)
            return fail_wire(d, *off, -EMBER_ETRUNC);
        memcpy(&v, p, 4);
        f->u64 = v;
        p += 4;
        break;
    }
    case PB_LEN: {
        uint64_t len;
        if (p < end && *p < 0x80)
            len = *p++;
        else if ((rc = rd_var(&p, end, &len)))
            return fail_wire(d, *off, rc);
        if (len > (uint64_t)(end - p))
            return fail_wire(d, *off, -EMBER_ETRUNC);
        f->data = p;
        f->len = (size_t)len;
        p += len;
        break;
    }
    default:
        return fail_wire(d, *off, -EMBER_ECORRUPT);
    }
    r->p = p;
    return 1;
}

static int parse_value_type(struct dec *d, struct pb_reader *r, struct pprof_value_type *vt)
{
    struct pb_field f = {0};
    size_t off;
    int rc;
    for (;;) {
        rc = next(d, r, &f, &off);
        if (rc <= 0)
            break;
        if (f.num != 1 && f.num != 2)
            continue;
        rc = want(d, &f, off, PB_VARINT, "ValueType");
        if (rc)
            return rc;
        if (f.num == 1)
            vt->type = (int64_t)f.u64;
        else
            vt->unit = (int64_t)f.u64;
    }
    return rc;
}

static int parse_label(struct dec *d, struct pb_reader *r, struct pprof_label *l)
{
    struct pb_field f = {0};
    size_t off;
    int rc;
    for (;;) {
        rc = next(d, r, &f, &off);
        if (rc <= 0)
            break;
        if (f.num < 1 || f.num > 4)
            continue;
        rc = want(d, &f, off, PB_VARINT, "Label");
        if (rc)
            return rc;
        int64_t v = (int64_t)f.u64;
        switch (f.num) {
        case 1:
            l->key = v;
            break;
        case 2:
            l->str = v;
            break;
        case 3:
            l->num = v;
            break;
        default:
            l->num_unit = v;
            break;
        }
    }
    return rc;
}

static int parse_sample(struct dec *d, struct pb_reader *r)
{
    struct pprof_sample s;
    struct pb_field f = {0};
    size_t off;
    int rc;
    memset(&s, 0, sizeof(s));
    for (;;) {
        rc = next(d, r, &f, &off);
        if (rc <= 0)
            break;
        switch (f.num) {
        case 1:
            rc = unpack(d, &f, off, &d->locs, &s.nlocation, "Sample");
            break;
        case 2:
            rc = unpack(d, &f, off, &d->vals, &s.nvalue, "Sample");
            break;
        case 3: {
            rc = want(d, &f, off, PB_LEN, "Sample");
            if (rc)
                return rc;
            struct pb_reader sub;
            struct pprof_label l;
            memset(&l, 0, sizeof(l));
            pb_reader_sub(&sub, r, &f);
            rc = parse_label(d, &sub, &l);
            if (!rc) {
                VEC_PUSH(d->labels, l);
                s.nlabel++;
            }
            break;
        }
        default:
            rc = 0;
            break;
        }
        if (rc)
            return rc;
    }
    if (rc)
        return rc;
    VEC_PUSH(d->p->sample, s);
    return 0;
}

static int parse_mapping(struct dec *d, struct pb_reader *r)
{
    struct pprof_mapping m;
    struct pb_field f = {0};
    size_t off;
    int rc;
    memset(&m, 0, sizeof(m));
    for (;;) {
        rc = next(d, r, &f, &off);
        if (rc <= 0)
            break;
        if (f.num < 1 || f.num > 10)
            continue;
        rc = want(d, &f, off, PB_VARINT, "Mapping");
        if (rc)
            return rc;
        uint64_t v = f.u64;
        switch (f.num) {
        case 1:
            m.id = v;
            break;
        case 2:
            m.memory_start = v;
            break;
        case 3:
            m.memory_limit = v;
            break;
        case 4:
            m.file_offset = v;
            break;
        case 5:
            m.filename = (int64_t)v;
            break;
        case 6:
            m.build_id = (int64_t)v;
            break;
        case 7:
            m.has_functions = v != 0;
            break;
        case 8:
            m.has_filenames = v != 0;
            break;
        case 9:
            m.has_line_numbers = v != 0;
            break;
        default:
            m.has_inline_frames = v != 0;
            break;
        }
    }
    if (rc)
        return rc;
    VEC_PUSH(d->p->mapping, m);
    return 0;
}

static int parse_line(struct dec *d, struct pb_reader *r, struct pprof_line *ln)
{
    struct pb_field f = {0};
    size_t off;
    int rc;
    for (;;) {
        rc = next(d, r, &f, &off);
        if (rc <= 0)
            break;
        if (f.num < 1 || f.num > 3)
            continue;
        rc = want(d, &f, off, PB_VARINT, "Line");
        if (rc)
            return rc;
        if (f.num == 1)
            ln->function_id = f.u64;
        else if (f.num == 2)
            ln->line = (int64_t)f.u64;
        else
            ln->column = (int64_t)f.u64;
    }
    return rc;
}

static int parse_location(struct dec *d, struct pb_reader *r)
{
    struct pprof_location l;
    struct pb_field f = {0};
    size_t off;
    int rc;
    memset(&l, 0, sizeof(l));
    for (;;) {
        rc = next(d, r, &f, &off);
        if (rc <= 0)
            break;
        if (f.num < 1 || f.num > 5)
            continue;
        rc = want(d, &f, off, f.num == 4 ? PB_LEN : PB_VARINT, "Location");
        if (rc)
            return rc;
        switch (f.num) {
        case 1:
            l.id = f.u64;
            break;
        case 2:
            l.mapping_id = f.u64;
            break;
        case 3:
            l.address = f.u64;
            break;
        case 4: {
            struct pb_reader sub;
            struct pprof_line ln;
            memset(&ln, 0, sizeof(ln));
            pb_reader_sub(&sub, r, &f);
            rc = parse_line(d, &sub, &ln);
            if (rc)
                return rc;
            VEC_PUSH(d->lines, ln);
            l.nline++;
            break;
        }
        default:
            l.is_folded = f.u64 != 0;
            break;
        }
    }
    if (rc)
        return rc;
    VEC_PUSH(d->p->location, l);
    return 0;
}

static int parse_function(struct dec *d, struct pb_reader *r)
{
    struct pprof_function fn;
    struct pb_field f = {0};
    size_t off;
    int rc;
    memset(&fn, 0, sizeof(fn));
    for (;;) {
        rc = next(d, r, &f, &off);
        if (rc <= 0)
            break;
        if (f.num < 1 || f.num > 5)
            continue;
        rc = want(d, &f, off, PB_VARINT, "Function");
        if (rc)
            return rc;
        int64_t v = (int64_t)f.u64;
        switch (f.num) {
        case 1:
            fn.id = f.u64;
            break;
        case 2:
            fn.name = v;
            break;
        case 3:
            fn.system_name = v;
            break;
        case 4:
            fn.filename = v;
            break;
        default:
            fn.start_line = v;
            break;
        }
    }
    if (rc)
        return rc;
    VEC_PUSH(d->p->function, fn);
    return 0;
}

/* Pass 1: counts top-level fields by number (and string bytes) so arrays are sized once. */
static int count_fields(struct dec *d, size_t *cnt, size_t *strbytes, size_t max_samples)
{
    struct pb_reader r;
    struct pb_field f = {0};
    size_t off;
    int rc;
    pb_reader_init(&r, d->data, d->n);
    for (;;) {
        rc = next(d, &r, &f, &off);
        if (rc <= 0)
            break;
        if (f.num >= F_MAX)
            continue;
        cnt[f.num]++;
        if (f.num == F_STRING && f.wire == PB_LEN)
            *strbytes += f.len + 1;
        if (f.num == F_SAMPLE && max_samples && cnt[F_SAMPLE] > max_samples)
            return fail(d, off, -EMBER_ETOOBIG, "profile has more than %zu samples (the limit)",
                        max_samples);
    }
    return rc;
}

static int parse_top(struct dec *d)
{
    struct pprof *p = d->p;
    struct pb_reader r, sub;
    struct pb_field f = {0};
    size_t off;
    int rc;
    pb_reader_init(&r, d->data, d->n);
    for (;;) {
        rc = next(d, &r, &f, &off);
        if (rc <= 0)
            break;
        switch (f.num) {
        case F_SAMPLE_TYPE:
        case F_SAMPLE:
        case F_MAPPING:
        case F_LOCATION:
        case F_FUNCTION:
        case F_PERIOD_TYPE:
            rc = want(d, &f, off, PB_LEN, "Profile");
            if (rc)
                return rc;
            pb_reader_sub(&sub, &r, &f);
            if (f.num == F_SAMPLE_TYPE) {
                struct pprof_value_type vt = {0, 0};
                rc = parse_value_type(d, &sub, &vt);
                if (!rc)
                    VEC_PUSH(p->sample_type, vt);
            } else if (f.num == F_SAMPLE) {
                rc = parse_sample(d, &sub);
            } else if (f.num == F_MAPPING) {
                rc = parse_mapping(d, &sub);
            } else if (f.num == F_LOCATION) {
                rc = parse_location(d, &sub);
            } else if (f.num == F_FUNCTION) {
                rc = parse_function(d, &sub);
            } else {
                rc = parse_value_type(d, &sub, &p->period_type); /* repeated = merged */
            }
            break;
        case F_STRING: {
            rc = want(d, &f, off, PB_LEN, "Profile");
            if (rc)
                return rc;
            char *s = d->strbuf + d->strused;
            memcpy(s, f.data, f.len);
            s[f.len] = 0;
            d->strused += f.len + 1;
            VEC_PUSH(p->string_table, s);
            VEC_PUSH(p->string_len, f.len);
            break;
        }
        case F_COMMENT: {
            size_t dummy = 0;
            struct u64vec v = {(uint64_t *)p->comment.data, p->comment.len, p->comment.cap};
            rc = unpack(d, &f, off, &v, &dummy, "Profile");
            p->comment.data = (int64_t *)v.data;
            p->comment.len = v.len;
            p->comment.cap = v.cap;
            break;
        }
        case F_DROP_FRAMES:
        case F_KEEP_FRAMES:
        case F_TIME:
        case F_DURATION:
        case F_PERIOD:
        case F_DEFAULT_SAMPLE_TYPE:
        case F_DOC_URL: {
            rc = want(d, &f, off, PB_VARINT, "Profile");
            if (rc)
                return rc;
            int64_t v = (int64_t)f.u64;
            if (f.num == F_DROP_FRAMES)
                p->drop_frames = v;
            else if (f.num == F_KEEP_FRAMES)
                p->keep_frames = v;
            else if (f.num == F_TIME)
                p->time_nanos = v;
            else if (f.num == F_DURATION)
                p->duration_nanos = v;
            else if (f.num == F_PERIOD)
                p->period = v;
            else if (f.num == F_DEFAULT_SAMPLE_TYPE)
                p->default_sample_type = v;
            else
                p->doc_url = v;
            break;
        }
        default:
            rc = 0;
            break;
        }
        if (rc)
            return rc;
    }
    return rc;
}

/* Trims a pool to its length and hands it to p. */
static void *adopt_pool(struct pprof *p, void *data, size_t len, size_t elem)
{
    if (!data)
        return NULL;
    if (!len) {
        free(data);
        return NULL;
    }
    data = xrealloc(data, len * elem);
    adopt_block(p, data, len * elem);
    return data;
}

/* Points each sample and location at its slice of the pools (which no longer move). */
static void fixup(struct dec *d)
{
    struct pprof *p = d->p;
    uint64_t *locs = adopt_pool(p, d->locs.data, d->locs.len, sizeof(uint64_t));
    int64_t *vals = adopt_pool(p, d->vals.data, d->vals.len, sizeof(int64_t));
    struct pprof_label *labels = adopt_pool(p, d->labels.data, d->labels.len, sizeof(*labels));
    struct pprof_line *lines = adopt_pool(p, d->lines.data, d->lines.len, sizeof(*lines));
    memset(&d->locs, 0, sizeof(d->locs));
    memset(&d->vals, 0, sizeof(d->vals));
    memset(&d->labels, 0, sizeof(d->labels));
    memset(&d->lines, 0, sizeof(d->lines));
    size_t il = 0, iv = 0, ib = 0, in = 0;
    for (size_t i = 0; i < p->sample.len; i++) {
        struct pprof_sample *s = &p->sample.data[i];
        s->location_id = s->nlocation ? locs + il : NULL;
        s->value = s->nvalue ? vals + iv : NULL;
        s->label = s->nlabel ? labels + ib : NULL;
        il += s->nlocation;
        iv += s->nvalue;
        ib += s->nlabel;
    }
    for (size_t i = 0; i < p->location.len; i++) {
        struct pprof_location *l = &p->location.data[i];
        l->line = l->nline ? lines + in : NULL;
        in += l->nline;
    }
}

/* Byte offset of the k-th (0-based) top-level field number num; for error messages only. */
static size_t field_offset(const struct dec *d, uint32_t num, size_t k)
{
    struct pb_reader r;
    struct pb_field f = {0};
    pb_reader_init(&r, d->data, d->n);
    for (;;) {
        size_t off = pb_offset(&r);
        if (pb_next(&r, &f) <= 0)
            return 0;
        if (f.num == num && k-- == 0)
            return off;
    }
}

/* In validate(): on a bad string index, sets rc to the error and jumps to out. */
#define CHECK_STR(d, idx, num, k, what, ...)                                                       \
    do {                                                                                           \
        int64_t i_ = (idx);                                                                        \
        if (i_ < 0 || (uint64_t)i_ >= nstr) {                                                      \
            rc = fail((d), field_offset((d), (num), (k)), -EMBER_EINVAL_INPUT,                     \
                      what " references string %lld, outside the string table (%zu entries)",      \
                      ##__VA_ARGS__, (long long)i_, nstr);                                         \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int validate_ids(struct dec *d, struct pprof_idmap *mm, struct pprof_idmap *fm,
                        struct pprof_idmap *lm)
{
    const struct pprof *p = d->p;
    size_t bad = 0;
    int r;
    r = idmap_build(mm, p->mapping.data, p->mapping.len, sizeof(struct pprof_mapping), &bad);
    if (r)
        return fail(d, field_offset(d, F_MAPPING, bad), -EMBER_EINVAL_INPUT,
                    r == 1 ? "%s %zu has invalid id %llu" : "%s %zu has duplicate id %llu",
                    "mapping", bad, (unsigned long long)p->mapping.data[bad].id);
    r = idmap_build(fm, p->function.data, p->function.len, sizeof(struct pprof_function), &bad);
    if (r)
        return fail(d, field_offset(d, F_FUNCTION, bad), -EMBER_EINVAL_INPUT,
                    r == 1 ? "%s %zu has invalid id %llu" : "%s %zu has duplicate id %llu",
                    "function", bad, (unsigned long long)p->function.data[bad].id);
    r = idmap_build(lm, p->location.data, p->location.len, sizeof(struct pprof_location), &bad);
    if (r)
        return fail(d, field_offset(d, F_LOCATION, bad), -EMBER_EINVAL_INPUT,
                    r == 1 ? "%s %zu has invalid id %llu" : "%s %zu has duplicate id %llu",
                    "location", bad, (unsigned long long)p->location.data[bad].id);
    return 0;
}

static int validate(struct dec *d)
{
    const struct pprof *p = d->p;
    const size_t nstr = p->string_table.len;
    struct pprof_idmap mm, fm, lm;
    int rc;
    memset(&mm, 0, sizeof(mm));
    memset(&fm, 0, sizeof(fm));
    memset(&lm, 0, sizeof(lm));

    if (!nstr) {
        rc =
            fail(d, 0, -EMBER_EINVAL_INPUT, "string table is empty (string_table[0] must be \"\")");
        goto out;
    }
    if (p->string_len.data[0] != 0) {
        rc = fail(d, field_offset(d, F_STRING, 0), -EMBER_EINVAL_INPUT,
                  "string_table[0] must be \"\", got \"%.40s\"", p->string_table.data[0]);
        goto out;
    }
    for (size_t i = 0; i < p->sample_type.len; i++) {
        CHECK_STR(d, p->sample_type.data[i].type, F_SAMPLE_TYPE, i, "sample type %zu", i);
        CHECK_STR(d, p->sample_type.data[i].unit, F_SAMPLE_TYPE, i, "sample type %zu unit", i);
    }
    CHECK_STR(d, p->period_type.type, F_PERIOD_TYPE, 0, "period type");
    CHECK_STR(d, p->period_type.unit, F_PERIOD_TYPE, 0, "period unit");
    CHECK_STR(d, p->drop_frames, F_DROP_FRAMES, 0, "drop_frames");
    CHECK_STR(d, p->keep_frames, F_KEEP_FRAMES, 0, "keep_frames");
    CHECK_STR(d, p->default_sample_type, F_DEFAULT_SAMPLE_TYPE, 0, "default_sample_type");
    CHECK_STR(d, p->doc_url, F_DOC_URL, 0, "doc_url");
    for (size_t i = 0; i < p->comment.len; i++)
        CHECK_STR(d, p->comment.data[i], F_COMMENT, 0, "comment %zu", i);
    for (size_t i = 0; i < p->function.len; i++) {
        const struct pprof_function *fn = &p->function.data[i];
        CHECK_STR(d, fn->name, F_FUNCTION, i, "function %zu name", i);
        CHECK_STR(d, fn->system_name, F_FUNCTION, i, "function %zu system_name", i);
        CHECK_STR(d, fn->filename, F_FUNCTION, i, "function %zu filename", i);
    }
    for (size_t i = 0; i < p->mapping.len; i++) {
        CHECK_STR(d, p->mapping.data[i].filename, F_MAPPING, i, "mapping %zu filename", i);
        CHECK_STR(d, p->mapping.data[i].build_id, F_MAPPING, i, "mapping %zu build_id", i);
    }

    rc = validate_ids(d, &mm, &fm, &lm);
    if (rc)
        goto out;
    for (size_t i = 0; i < p->location.len; i++) {
        const struct pprof_location *l = &p->location.data[i];
        if (l->mapping_id && pprof_idmap_get(&mm, l->mapping_id) < 0) {
            rc = fail(d, field_offset(d, F_LOCATION, i), -EMBER_EINVAL_INPUT,
                      "location %zu (id %llu) references unknown mapping %llu", i,
                      (unsigned long long)l->id, (unsigned long long)l->mapping_id);
            goto out;
        }
        for (size_t j = 0; j < l->nline; j++) {
            uint64_t fid = l->line[j].function_id;
            if (fid && pprof_idmap_get(&fm, fid) < 0) {
                rc = fail(d, field_offset(d, F_LOCATION, i), -EMBER_EINVAL_INPUT,
                          "location %zu (id %llu) line %zu references unknown function %llu", i,
                          (unsigned long long)l->id, j, (unsigned long long)fid);
                goto out;
            }
        }
    }
    for (size_t i = 0; i < p->sample.len; i++) {
        const struct pprof_sample *s = &p->sample.data[i];
        if (s->nvalue != p->sample_type.len) {
            rc = fail(d, field_offset(d, F_SAMPLE, i), -EMBER_EINVAL_INPUT,
                      "sample %zu has %zu values but the profile has %zu sample types", i,
                      s->nvalue, p->sample_type.len);
            goto out;
        }
        for (size_t j = 0; j < s->nlocation; j++) {
            if (pprof_idmap_get(&lm, s->location_id[j]) < 0) {
                rc = fail(d, field_offset(d, F_SAMPLE, i), -EMBER_EINVAL_INPUT,
                          "sample %zu references unknown location %llu", i,
                          (unsigned long long)s->location_id[j]);
                goto out;
            }
        }
        for (size_t j = 0; j < s->nlabel; j++) {
            const struct pprof_label *l = &s->label[j];
            CHECK_STR(d, l->key, F_SAMPLE, i, "sample %zu label %zu key", i, j);
            CHECK_STR(d, l->str, F_SAMPLE, i, "sample %zu label %zu value", i, j);
            CHECK_STR(d, l->num_unit, F_SAMPLE, i, "sample %zu label %zu num_unit", i, j);
        }
    }
    rc = 0;
out:
    pprof_idmap_release(&mm);
    pprof_idmap_release(&fm);
    pprof_idmap_release(&lm);
    return rc;
}

int pprof_decode(struct pprof *p, const void *data, size_t n, size_t max_samples, char *err,
                 size_t errlen)
{
    struct dec d;
    size_t cnt[F_MAX] = {0}, strbytes = 0;
    int rc;
    memset(&d, 0, sizeof(d));
    d.p = p;
    d.data = data;
    d.n = n;
    d.err = err;
    d.errlen = errlen;
    if (err && errlen)
        err[0] = 0;

    rc = count_fields(&d, cnt, &strbytes, max_samples);
    if (rc)
        goto out;
    VEC_RESERVE(p->sample_type, cnt[F_SAMPLE_TYPE]);
    VEC_RESERVE(p->sample, cnt[F_SAMPLE]);
    VEC_RESERVE(p->mapping, cnt[F_MAPPING]);
    VEC_RESERVE(p->location, cnt[F_LOCATION]);
    VEC_RESERVE(p->function, cnt[F_FUNCTION]);
    VEC_RESERVE(p->string_table, cnt[F_STRING]);
    VEC_RESERVE(p->string_len, cnt[F_STRING]);
    if (strbytes) {
        d.strbuf = xmalloc(strbytes);
        d.strcap = strbytes;
        adopt_block(p, d.strbuf, strbytes);
    }
    /* first guess for the values pool; each value takes at least a byte of input */
    if (cnt[F_SAMPLE_TYPE] && cnt[F_SAMPLE] <= n / cnt[F_SAMPLE_TYPE])
        VEC_RESERVE(d.vals, cnt[F_SAMPLE] * cnt[F_SAMPLE_TYPE]);
    VEC_RESERVE(d.lines, cnt[F_LOCATION]);

    rc = parse_top(&d);
    if (rc)
        goto out;
    fixup(&d);
    rc = validate(&d);
out:
    free(d.locs.data);
    free(d.vals.data);
    free(d.labels.data);
    free(d.lines.data);
    if (rc) /* inner arrays are NULL before fixup() and inside adopted blocks after */
        pprof_release(p);
    return rc;
}

/* ---- encoding ---- */

static void put_value_type(struct buf *b, uint32_t num, const struct pprof_value_type *vt)
{
    size_t m = pb_begin(b, num);
    pb_put_int(b, 1, vt->type);
    pb_put_int(b, 2, vt->unit);
    pb_end(b, m);
}

void pprof_encode(const struct pprof *p, struct buf *out)
{
    for (size_t i = 0; i < p->sample_type.len; i++)
        put_value_type(out, F_SAMPLE_TYPE, &p->sample_type.data[i]);
    for (size_t i = 0; i < p->sample.len; i++) {
        const struct pprof_sample *s = &p->sample.data[i];
        size_t m = pb_begin(out, F_SAMPLE);
        pb_put_packed_u64(out, 1, s->location_id, s->nlocation);
        pb_put_packed_i64(out, 2, s->value, s->nvalue);
        for (size_t j = 0; j < s->nlabel; j++) {
            const struct pprof_label *l = &s->label[j];
            size_t lm = pb_begin(out, 3);
            pb_put_int(out, 1, l->key);
            pb_put_int(out, 2, l->str);
            pb_put_int(out, 3, l->num);
            pb_put_int(out, 4, l->num_unit);
            pb_end(out, lm);
        }
        pb_end(out, m);
    }
    for (size_t i = 0; i < p->mapping.len; i++) {
        const struct pprof_mapping *mp = &p->mapping.data[i];
        size_t m = pb_begin(out, F_MAPPING);
        pb_put_uint(out, 1, mp->id);
        pb_put_uint(out, 2, mp->memory_start);
        pb_put_uint(out, 3, mp->memory_limit);
        pb_put_uint(out, 4, mp->file_offset);
        pb_put_int(out, 5, mp->filename);
        pb_put_int(out, 6, mp->build_id);
        pb_put_uint(out, 7, mp->has_functions != 0);
        pb_put_uint(out, 8, mp->has_filenames != 0);
        pb_put_uint(out, 9, mp->has_line_numbers != 0);
        pb_put_uint(out, 10, mp->has_inline_frames != 0);
        pb_end(out, m);
    }
    for (size_t i = 0; i < p->location.len; i++) {
        const struct pprof_location *l = &p->location.data[i];
        size_t m = pb_begin(out, F_LOCATION);
        pb_put_uint(out, 1, l->id);
        pb_put_uint(out, 2, l->mapping_id);
        pb_put_uint(out, 3, l->address);
        for (size_t j = 0; j < l->nline; j++) {
            size_t lm = pb_begin(out, 4);
            pb_put_uint(out, 1, l->line[j].function_id);
            pb_put_int(out, 2, l->line[j].line);
            pb_put_int(out, 3, l->line[j].column);
            pb_end(out, lm);
        }
        pb_put_uint(out, 5, l->is_folded != 0);
        pb_end(out, m);
    }
    for (size_t i = 0; i < p->function.len; i++) {
        const struct pprof_function *fn = &p->function.data[i];
        size_t m = pb_begin(out, F_FUNCTION);
        pb_put_uint(out, 1, fn->id);
        pb_put_int(out, 2, fn->name);
        pb_put_int(out, 3, fn->system_name);
        pb_put_int(out, 4, fn->filename);
        pb_put_int(out, 5, fn->start_line);
        pb_end(out, m);
    }
    for (size_t i = 0; i < p->string_table.len; i++)
        pb_put_bytes(out, F_STRING, pprof_str(p, (int64_t)i), pprof_strlen(p, (int64_t)i));
    pb_put_int(out, F_DROP_FRAMES, p->drop_frames);
    pb_put_int(out, F_KEEP_FRAMES, p->keep_frames);
    pb_put_int(out, F_TIME, p->time_nanos);
    pb_put_int(out, F_DURATION, p->duration_nanos);
    if (p->period_type.type || p->period_type.unit)
        put_value_type(out, F_PERIOD_TYPE, &p->period_type);
    pb_put_int(out, F_PERIOD, p->period);
    pb_put_packed_i64(out, F_COMMENT, p->comment.data, p->comment.len);
    pb_put_int(out, F_DEFAULT_SAMPLE_TYPE, p->default_sample_type);
    pb_put_int(out, F_DOC_URL, p->doc_url);
}
