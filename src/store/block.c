/* block.c - immutable block files: writing a head out, reading it back as heads, merging heads */
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include "base/hmap.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "head.h"
#include "io.h"
#include "store_int.h"

const int64_t block_res_ns[BLOCK_NRES] = {0, 60LL * 1000000000LL, 3600LL * 1000000000LL};

#define ZSTD_LEVEL 3

static const char *const sec_names[BLOCK_NSEC] = {"meta",      "symbols",   "series", "raw",
                                                  "rollup-1m", "rollup-1h", "totals"};

static const char *sec_name(int sec)
{
    return sec < BLOCK_NSEC ? sec_names[sec] : "raw part";
}

/* The section holding raw part i. */
static int part_sec(const struct block *b, size_t i)
{
    return b->version == 1 ? SEC_RAW : BLOCK_NSEC + (int)i;
}

static uint32_t check32(const void *p, size_t n)
{
    return (uint32_t)XXH3_64bits(p, n);
}

static void buf_bytes(struct buf *b, const void *p, size_t n)
{
    buf_varint(b, n);
    buf_append(b, p, n);
}

void block_meta_release(struct block_meta *m)
{
    free(m->tenant);
    free(m->sources);
    memset(m, 0, sizeof(*m));
}

/* ---- writing ---- */

/* Dense renumbering of the symbols a head's profiles use (old id -> new id, 0 = unused). */
struct symmap {
    uint32_t *node, *frame, *str;
    uint32_t nnode, nframe, nstr; /* new counts, excluding id 0 */
};

static void mark_symbols(const struct head *h, struct symmap *m)
{
    const struct symtab *sym = &h->sym;
    size_t nn = sym->nodes.len, nf = sym->frames.len, ns = sym->strings.len;
    m->node = xcalloc(nn + 1, sizeof(uint32_t));
    m->frame = xcalloc(nf + 1, sizeof(uint32_t));
    m->str = xcalloc(ns + 1, sizeof(uint32_t));
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        for (size_t k = 0; k < s->profiles.len; k++) {
            const uint8_t *p = s->profiles.data[k].data;
            for (uint32_t j = 0; j < s->profiles.data[k].nsamples; j++) {
                uint64_t st = varint_get(&p);
                varint_get(&p);
                m->node[st] = 1;
            }
        }
    }
    /* a parent has a lower id than its children: one downward pass marks the ancestors */
    for (size_t id = nn; id-- > 1;) {
        if (!m->node[id])
            continue;
        const struct stack_node *n = symtab_get_node(sym, (uint32_t)id);
        m->node[n->parent] = 1;
        m->frame[n->frame] = 1;
    }
    for (size_t id = 1; id < nf; id++) {
        if (!m->frame[id])
            continue;
        const struct frame *f = symtab_get_frame(sym, (uint32_t)id);
        m->str[f->name] = m->str[f->file] = m->str[f->module] = 1;
    }
    m->nnode = m->nframe = m->nstr = 0;
    m->node[0] = m->frame[0] = m->str[0] = 0;
    for (size_t id = 1; id < nn; id++)
        m->node[id] = m->node[id] ? ++m->nnode : 0;
    for (size_t id = 1; id < nf; id++)
        m->frame[id] = m->frame[id] ? ++m->nframe : 0;
    for (size_t id = 1; id < ns; id++)
        m->str[id] = m->str[id] ? ++m->nstr : 0;
}

static void put_symbols(struct buf *b, const struct head *h, const struct symmap *m)
{
    const struct symtab *sym = &h->sym;
    buf_varint(b, m->nstr);
    for (size_t id = 1; id < sym->strings.len; id++)
        if (m->str[id])
            buf_bytes(b, strtab_get(&sym->strings, (uint32_t)id),
                      strtab_strlen(&sym->strings, (uint32_t)id));
    buf_varint(b, m->nframe);
    for (size_t id = 1; id < sym->frames.len; id++) {
        if (!m->frame[id])
            continue;
        const struct frame *f = symtab_get_frame(sym, (uint32_t)id);
        buf_varint(b, m->str[f->name]);
        buf_varint(b, m->str[f->file]);
        buf_varint(b, m->str[f->module]);
        buf_varint(b, f->line);
        buf_varint(b, f->addr);
    }
    buf_varint(b, m->nnode);
    for (size_t id = 1; id < sym->nodes.len; id++) {
        if (!m->node[id])
            continue;
        const struct stack_node *n = symtab_get_node(sym, (uint32_t)id);
        buf_varint(b, m->node[n->parent]);
        buf_varint(b, m->frame[n->frame]);
    }
}

typedef VEC(uint32_t) u32vec;

/* Label strings, series (label pairs) and postings: name=value -> ascending series ids. */
static void put_series(struct buf *b, const struct head *h)
{
    uint32_t *lmap = xcalloc(h->lstr.len + 1, sizeof(uint32_t));
    uint32_t nl = 0;
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        for (size_t j = 0; j < s->view.n * 2; j++)
            lmap[s->pairs[j]] = 1;
    }
    for (size_t id = 0; id < h->lstr.len; id++)
        lmap[id] = lmap[id] ? nl++ : UINT32_MAX;
    buf_varint(b, nl);
    for (size_t id = 0; id < h->lstr.len; id++)
        if (lmap[id] != UINT32_MAX)
            buf_bytes(b, strtab_get(&h->lstr, (uint32_t)id), strtab_strlen(&h->lstr, (uint32_t)id));
    struct hmap idx;
    VEC(u32vec) lists = {0};
    u32vec keys_n = {0}, keys_v = {0};
    hmap_init(&idx);
    buf_varint(b, h->series.len);
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        buf_varint(b, s->view.n);
        for (size_t j = 0; j < s->view.n; j++) {
            uint32_t n = lmap[s->pairs[2 * j]], v = lmap[s->pairs[2 * j + 1]];
            buf_varint(b, n);
            buf_varint(b, v);
            int created;
            uint64_t *at = hmap_put(&idx, (uint64_t)n << 32 | v, &created);
            if (created) {
                u32vec empty = {0};
                *at = lists.len;
                VEC_PUSH(lists, empty);
                VEC_PUSH(keys_n, n);
                VEC_PUSH(keys_v, v);
            }
            VEC_PUSH(lists.data[*at], (uint32_t)i);
        }
    }
    buf_varint(b, lists.len);
    for (size_t k = 0; k < lists.len; k++) {
        buf_varint(b, keys_n.data[k]);
        buf_varint(b, keys_v.data[k]);
        buf_varint(b, lists.data[k].len);
        uint32_t prev = 0;
        for (size_t j = 0; j < lists.data[k].len; j++) {
            buf_varint(b, lists.data[k].data[j] - prev);
            prev = lists.data[k].data[j];
        }
        free(lists.data[k].data);
    }
    free(lists.data);
    free(keys_n.data);
    free(keys_v.data);
    hmap_release(&idx);
    free(lmap);
}

/*
 * Writes the profiles with time below until of every series, from pos[i]
 * on (advanced): one raw part.
 */
static void put_raw(struct buf *b, const struct head *h, const struct symmap *m, size_t *pos,
                    int64_t until)
{
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        size_t k0 = pos[i], k1 = k0;
        while (k1 < s->profiles.len && s->profiles.data[k1].time_ns < until)
            k1++;
        pos[i] = k1;
        buf_varint(b, k1 - k0);
        int64_t prev = 0;
        for (size_t k = k0; k < k1; k++) {
            const struct hprofile *hp = &s->profiles.data[k];
            buf_varint(b, zigzag(hp->time_ns - prev));
            prev = hp->time_ns;
            buf_varint(b, zigzag(hp->duration_ns));
            buf_varint(b, zigzag(hp->total));
            buf_varint(b, hp->count);
            buf_varint(b, hp->nsamples);
            const uint8_t *p = hp->data;
            for (uint32_t j = 0; j < hp->nsamples; j++) {
                buf_varint(b, m->node[varint_get(&p)]);
                buf_varint(b, varint_get(&p));
            }
        }
    }
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Per series: profile count, then (time delta, duration, total, count) per profile. */
static void put_totals(struct buf *b, const struct head *h)
{
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        buf_varint(b, s->profiles.len);
        int64_t prev = 0;
        for (size_t k = 0; k < s->profiles.len; k++) {
            const struct hprofile *hp = &s->profiles.data[k];
            buf_varint(b, zigzag(hp->time_ns - prev));
            prev = hp->time_ns;
            buf_varint(b, zigzag(hp->duration_ns));
            buf_varint(b, zigzag(hp->total));
            buf_varint(b, hp->count);
        }
    }
}

typedef VEC(int64_t) i64vec;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The UTC hours (BLOCK_PART_NS buckets) holding h's profiles, ascending. */
static void part_hours(const struct head *h, i64vec *out)
{
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        int64_t last = INT64_MIN;
        for (size_t k = 0; k < s->profiles.len; k++) {
            int64_t t = floor_div(s->profiles.data[k].time_ns, BLOCK_PART_NS) * BLOCK_PART_NS;
            if (t != last)
                VEC_PUSH(*out, t);
            last = t;
        }
    }
    if (out->len)
        qsort(out->data, out->len, sizeof(int64_t), cmp_i64);
    size_t w = 0;
    for (size_t i = 0; i < out->len; i++)
        if (!w || out->data[w - 1] != out->data[i])
            out->data[w++] = out->data[i];
    out->len = w;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One profile per series per bucket of width res: sums per (new) stack, stacks ascending. */
static void put_rollup(struct buf *b, const struct head *h, const struct symmap *m, int64_t res)
{
    struct hmap acc;
    VEC(uint64_t) keys = {0};
    struct buf body = BUF_INIT;
    hmap_init(&acc);
    for (size_t i = 0; i < h->series.len; i++) {
        const struct hseries *s = h->series.data[i];
        size_t nbuckets = 0;
        int64_t prev = 0;
        buf_reset(&body);
        for (size_t k = 0; k < s->profiles.len;) {
            int64_t bucket = floor_div(s->profiles.data[k].time_ns, res) * res;
            int64_t total = 0;
            uint32_t count = 0;
            hmap_clear(&acc);
            for (; k < s->profiles.len && s->profiles.data[k].time_ns < bucket + res; k++) {
                const struct hprofile *hp = &s->profiles.data[k];
                const uint8_t *p = hp->data;
                for (uint32_t j = 0; j < hp->nsamples; j++) {
                    uint64_t st = m->node[varint_get(&p)];
                    *hmap_put(&acc, st, NULL) += (uint64_t)unzigzag(varint_get(&p));
                }
                total += hp->total;
                count += hp->count;
            }
            keys.len = 0;
            for (size_t slot = 0; acc.keys && slot <= acc.mask; slot++)
                if (acc.keys[slot] != UINT64_MAX && acc.vals[slot])
                    VEC_PUSH(keys, acc.keys[slot]);
            if (keys.len)
                qsort(keys.data, keys.len, sizeof(uint64_t), cmp_u64);
            buf_varint(&body, zigzag(bucket - prev));
            prev = bucket;
            buf_varint(&body, zigzag(res));
            buf_varint(&body, zigzag(total));
            buf_varint(&body, count);
            buf_varint(&body, keys.len);
            for (size_t j = 0; j < keys.len; j++) {
                buf_varint(&body, keys.data[j]);
                buf_varint(&body, zigzag((int64_t)*hmap_get(&acc, keys.data[j])));
            }
            nbuckets++;
        }
        buf_varint(b, nbuckets);
        buf_append(b, body.data, body.len);
    }
    buf_release(&body);
    free(keys.data);
    hmap_release(&acc);
}

static void put_meta(struct buf *b, const struct block_meta *m)
{
    buf_varint(b, m->level);
    buf_varint(b, zigzag(m->min_t));
    buf_varint(b, zigzag(m->max_t));
    buf_varint(b, m->wal_seg);
    buf_varint(b, m->nseries);
    buf_varint(b, m->nprofiles);
    buf_varint(b, m->nsamples);
    buf_bytes(b, m->tenant, strlen(m->tenant));
    buf_varint(b, m->nsources);
    for (size_t i = 0; i < m->nsources; i++)
        buf_varint(b, m->sources[i]);
}

/* Compresses section raw into file at its end and records it in the table. */
static int add_section(struct buf *file, struct block *blk, int sec, const struct buf *raw)
{
    size_t bound = ZSTD_compressBound(raw->len);
    buf_grow(file, bound);
    size_t n = ZSTD_compress(file->data + file->len, bound, raw->data, raw->len, ZSTD_LEVEL);
    if (ZSTD_isError(n)) {
        log_error("zstd cannot compress block section %s: %s", sec_name(sec), ZSTD_getErrorName(n));
        return -ENOMEM;
    }
    blk->sec[sec][0] = file->len;
    blk->sec[sec][1] = n;
    blk->sec[sec][2] = raw->len;
    blk->sec[sec][3] = XXH3_64bits(file->data + file->len, n);
    file->len += n;
    return 0;
}

static struct block *block_alloc(uint64_t id)
{
    struct block *b = xcalloc(1, sizeof(*b));
    b->refs = 1;
    b->id = id;
    pthread_mutex_init(&b->mu, NULL);
    return b;
}

int block_write(const char *dir, uint64_t id, struct head *h, const struct block_meta *meta,
                int do_sync, struct block **out)
{
    struct block *blk = block_alloc(id);
    struct buf file = BUF_INIT, sec = BUF_INIT;
    struct symmap m = {0};
    i64vec hours = {0};
    size_t *pos = NULL;
    char *tmp = NULL;
    int fd = -1, err = 0;
    *out = NULL;
    blk->path = xasprintf("%s/%016" PRIx64 ".blk", dir, id);
    tmp = xasprintf("%s.tmp", blk->path);
    blk->meta = *meta;
    blk->meta.tenant = xstrdup(meta->tenant);
    blk->meta.sources = xmalloc(meta->nsources * sizeof(uint64_t) + 1);
    if (meta->nsources)
        memcpy(blk->meta.sources, meta->sources, meta->nsources * sizeof(uint64_t));

    pthread_rwlock_rdlock(&h->lock);
    blk->meta.min_t = h->min_t;
    blk->meta.max_t = h->max_t;
    blk->meta.nseries = h->series.len;
    blk->meta.nprofiles = h->nprofiles;
    blk->meta.nsamples = h->nsamples;
    part_hours(h, &hours);
    blk->version = BLOCK_VERSION;
    blk->nsec = BLOCK_NSEC + (uint32_t)hours.len;
    blk->sec = xcalloc(blk->nsec, sizeof(*blk->sec));
    pos = xcalloc(h->series.len + 1, sizeof(size_t));
    buf_grow(&file, BLOCK_HDR);
    memcpy(file.data, BLOCK_MAGIC, 8);
    put_le32((uint8_t *)file.data + 8, BLOCK_VERSION);
    put_le32((uint8_t *)file.data + 12, check32(file.data, 12));
    file.len = BLOCK_HDR;
    mark_symbols(h, &m);
    for (int s = 0; s < (int)blk->nsec && !err; s++) {
        buf_reset(&sec);
        if (s >= BLOCK_NSEC) {
            put_raw(&sec, h, &m, pos, hours.data[s - BLOCK_NSEC] + BLOCK_PART_NS);
            err = add_section(&file, blk, s, &sec);
            continue;
        }
        switch (s) {
        case SEC_META:
            put_meta(&sec, &blk->meta);
            break;
        case SEC_SYMBOLS:
            put_symbols(&sec, h, &m);
            break;
        case SEC_SERIES:
            put_series(&sec, h);
            break;
        case SEC_RAW: /* the index of the parts */
            buf_varint(&sec, hours.len);
            for (size_t i = 0; i < hours.len; i++) {
                buf_varint(&sec, zigzag(hours.data[i]));
                buf_varint(&sec, zigzag(hours.data[i] + BLOCK_PART_NS - 1));
            }
            break;
        case SEC_TOTALS:
            put_totals(&sec, h);
            break;
        case SEC_1M:
            put_rollup(&sec, h, &m, block_res_ns[RES_1M]);
            break;
        case SEC_1H:
            put_rollup(&sec, h, &m, block_res_ns[RES_1H]);
            break;
        }
        err = add_section(&file, blk, s, &sec);
    }
    pthread_rwlock_unlock(&h->lock);
    if (err)
        goto out;
    size_t tab = file.len, tabn = (size_t)blk->nsec * 32;
    buf_grow(&file, tabn + BLOCK_TRAILER);
    for (uint32_t s = 0; s < blk->nsec; s++)
        for (int k = 0; k < 4; k++)
            put_le64((uint8_t *)file.data + tab + s * 32 + k * 8, blk->sec[s][k]);
    file.len += tabn;
    put_le32((uint8_t *)file.data + file.len, blk->nsec);
    put_le32((uint8_t *)file.data + file.len + 4, check32(file.data + tab, tabn));
    memcpy(file.data + file.len + 8, BLOCK_END_MAGIC, 8);
    file.len += BLOCK_TRAILER;
    blk->file_bytes = file.len;

    fd = io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        err = fd;
        log_error("cannot create block file '%s': %s", tmp, ember_strerror(err));
        goto out;
    }
    err = io_pwrite_full(fd, file.data, file.len, 0);
    if (!err && do_sync)
        err = io_fsync(fd);
    if (err) {
        log_error("cannot write block file '%s' (%zu bytes): %s", tmp, file.len,
                  ember_strerror(err));
        goto out;
    }
    err = io_close(fd);
    fd = -1;
    if (!err)
        err = io_rename(tmp, blk->path);
    if (!err && do_sync)
        err = io_fsync_dir(dir);
    if (err) {
        log_error("cannot install block file '%s': %s", blk->path, ember_strerror(err));
        io_unlink(blk->path); /* may be there after a failed directory sync */
        goto out;
    }
    blk->nparts = (uint32_t)hours.len;
    blk->part_t = xmalloc((hours.len + 1) * sizeof(*blk->part_t));
    blk->part_view = xcalloc(hours.len + 1, sizeof(struct head *));
    for (size_t i = 0; i < hours.len; i++) {
        blk->part_t[i][0] = hours.data[i];
        blk->part_t[i][1] = hours.data[i] + BLOCK_PART_NS - 1;
    }
    *out = blk;
    blk = NULL;
out:
    if (fd >= 0)
        io_close(fd);
    if (err)
        io_unlink(tmp);
    free(hours.data);
    free(pos);
    free(tmp);
    free(m.node);
    free(m.frame);
    free(m.str);
    buf_release(&file);
    buf_release(&sec);
    block_unref(blk);
    return err;
}

/* ---- reading ---- */

/* Reads and decompresses section sec into *out (owned) after checking its hash. */
static int read_section(struct block *b, int sec, uint8_t **out, size_t *len)
{
    uint64_t off = b->sec[sec][0], clen = b->sec[sec][1], rlen = b->sec[sec][2];
    uint8_t *c = NULL, *r = NULL;
    int err, fd = io_open(b->path, O_RDONLY, 0);
    *out = NULL;
    if (fd < 0) {
        err = fd;
        log_error("cannot open block '%s': %s", b->path, ember_strerror(err));
        goto out;
    }
    c = xmalloc(clen + 1);
    err = io_pread_full(fd, c, clen, (off_t)off);
    if (err) {
        log_error("cannot read section %s of block '%s' at offset %" PRIu64 ": %s", sec_name(sec),
                  b->path, off, ember_strerror(err));
        goto out;
    }
    if (XXH3_64bits(c, clen) != b->sec[sec][3]) {
        err = STORE_CORRUPT(b->path, off, "section checksum mismatch");
        goto out;
    }
    r = xmalloc(rlen + 1);
    size_t n = ZSTD_decompress(r, rlen, c, clen);
    if (ZSTD_isError(n) || n != rlen) {
        err = STORE_CORRUPT(b->path, off,
                            ZSTD_isError(n) ? ZSTD_getErrorName(n)
                                            : "section size differs from its table");
        goto out;
    }
    *out = r;
    *len = rlen;
    r = NULL;
out:
    io_close(fd);
    free(c);
    free(r);
    return err;
}

static int parse_meta(struct block *b, const uint8_t *p, size_t n)
{
    struct rd r;
    struct block_meta *m = &b->meta;
    rd_init(&r, p, n);
    m->level = (uint32_t)rd_varint(&r);
    m->min_t = unzigzag(rd_varint(&r));
    m->max_t = unzigzag(rd_varint(&r));
    m->wal_seg = rd_varint(&r);
    m->nseries = rd_varint(&r);
    m->nprofiles = rd_varint(&r);
    m->nsamples = rd_varint(&r);
    uint64_t tl = rd_varint(&r);
    const uint8_t *t = tl <= 1024 ? rd_bytes(&r, tl) : NULL;
    uint64_t ns = rd_varint(&r);
    if (r.err || !t || !tl || ns > n || m->level < 1 || m->level > BLOCK_MAX_LEVEL)
        return STORE_CORRUPT(b->path, b->sec[SEC_META][0], "bad meta section");
    m->tenant = xstrndup((const char *)t, tl);
    m->sources = xmalloc(ns * sizeof(uint64_t) + 1);
    m->nsources = ns;
    for (uint64_t i = 0; i < ns; i++)
        m->sources[i] = rd_varint(&r);
    if (r.err || r.p != r.end)
        return STORE_CORRUPT(b->path, b->sec[SEC_META][0], "bad meta section");
    return 0;
}

/* Reads the raw part index (version 2) or makes the one part of a version 1 block. */
static int parse_parts(struct block *b)
{
    uint8_t *data = NULL;
    size_t n;
    struct rd r;
    if (b->version == 1) {
        b->nparts = 1;
        b->part_t = xmalloc(sizeof(*b->part_t));
        b->part_t[0][0] = b->meta.min_t;
        b->part_t[0][1] = b->meta.max_t;
        b->part_view = xcalloc(1, sizeof(struct head *));
        return 0;
    }
    int err = read_section(b, SEC_RAW, &data, &n);
    if (err)
        return err;
    rd_init(&r, data, n);
    uint64_t np = rd_varint(&r);
    if (r.err || np != b->nsec - BLOCK_NSEC)
        goto bad;
    b->part_t = xmalloc((np + 1) * sizeof(*b->part_t));
    b->part_view = xcalloc(np + 1, sizeof(struct head *));
    for (uint64_t i = 0; i < np; i++) {
        b->part_t[i][0] = unzigzag(rd_varint(&r));
        b->part_t[i][1] = unzigzag(rd_varint(&r));
        if (r.err || b->part_t[i][1] < b->part_t[i][0] ||
            (i && b->part_t[i][0] <= b->part_t[i - 1][1]))
            goto bad;
    }
    if (r.p != r.end)
        goto bad;
    b->nparts = (uint32_t)np;
    free(data);
    return 0;
bad:
    free(data);
    return STORE_CORRUPT(b->path, b->sec[SEC_RAW][0], "bad raw part index");
}

int block_open(struct block **out, const char *path, uint64_t id)
{
    struct block *b = block_alloc(id);
    uint8_t hdr[BLOCK_HDR], tr[BLOCK_TRAILER], *tab = NULL, *meta = NULL;
    struct stat st;
    size_t mlen;
    int err, fd;
    *out = NULL;
    b->path = xstrdup(path);
    fd = io_open(path, O_RDONLY, 0);
    if (fd < 0) {
        err = fd;
        log_error("cannot open block '%s': %s", path, ember_strerror(err));
        goto out;
    }
    err = io_fstat(fd, &st);
    if (err)
        goto out;
    uint64_t size = (uint64_t)st.st_size;
    b->file_bytes = size;
    if (size < BLOCK_HDR + BLOCK_NSEC_V1 * 32 + BLOCK_TRAILER) {
        err = STORE_CORRUPT(path, 0, "file too short for a block");
        goto out;
    }
    err = io_pread_full(fd, hdr, sizeof(hdr), 0);
    if (!err)
        err = io_pread_full(fd, tr, sizeof(tr), (off_t)(size - BLOCK_TRAILER));
    if (err) {
        log_error("cannot read block '%s': %s", path, ember_strerror(err));
        goto out;
    }
    if (memcmp(hdr, BLOCK_MAGIC, 8) || get_le32(hdr + 12) != check32(hdr, 12)) {
        err = STORE_CORRUPT(path, 0, "bad block header");
        goto out;
    }
    b->version = get_le32(hdr + 8);
    if (b->version < 1 || b->version > BLOCK_VERSION) {
        log_error("block '%s' has format version %u; this build reads versions 1 to %u", path,
                  b->version, BLOCK_VERSION);
        err = -EMBER_EUNSUPPORTED;
        goto out;
    }
    b->nsec = get_le32(tr);
    uint64_t tabn = (uint64_t)b->nsec * 32;
    if (memcmp(tr + 8, BLOCK_END_MAGIC, 8) ||
        (b->version == 1 ? b->nsec != BLOCK_NSEC_V1
                         : b->nsec < BLOCK_NSEC || b->nsec > BLOCK_NSEC + BLOCK_MAX_PARTS) ||
        tabn > size - BLOCK_HDR - BLOCK_TRAILER) {
        err = STORE_CORRUPT(path, size - BLOCK_TRAILER, "bad block trailer");
        goto out;
    }
    uint64_t data_end = size - BLOCK_TRAILER - tabn;
    tab = xmalloc(tabn);
    err = io_pread_full(fd, tab, tabn, (off_t)data_end);
    if (err) {
        log_error("cannot read block '%s': %s", path, ember_strerror(err));
        goto out;
    }
    if (get_le32(tr + 4) != check32(tab, tabn)) {
        err = STORE_CORRUPT(path, data_end, "bad block section table");
        goto out;
    }
    b->sec = xcalloc(b->nsec, sizeof(*b->sec));
    for (uint32_t s = 0; s < b->nsec; s++) {
        for (int k = 0; k < 4; k++)
            b->sec[s][k] = get_le64(tab + s * 32 + k * 8);
        if (b->sec[s][0] < BLOCK_HDR || b->sec[s][0] > data_end ||
            b->sec[s][1] > data_end - b->sec[s][0] || b->sec[s][2] > BLOCK_MAX_RAW) {
            err = STORE_CORRUPT(path, data_end + (uint64_t)s * 32, "section out of bounds");
            goto out;
        }
    }
    io_close(fd);
    fd = -1;
    err = read_section(b, SEC_META, &meta, &mlen);
    if (!err)
        err = parse_meta(b, meta, mlen);
    if (!err)
        err = parse_parts(b);
    if (err)
        goto out;
    *out = b;
    b = NULL;
out:
    io_close(fd);
    free(tab);
    free(meta);
    block_unref(b);
    return err;
}

struct block *block_mem(struct head *h, const char *tenant)
{
    struct block *b = block_alloc(0);
    b->view[RES_RAW] = h;
    b->meta.tenant = xstrdup(tenant);
    return b;
}

void block_ref(struct block *b)
{
    __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
}

void block_unref(struct block *b)
{
    if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL))
        return;
    if (b->dead && b->path) {
        int err = io_unlink(b->path);
        if (err && err != -ENOENT)
            log_error("cannot delete block '%s': %s", b->path, ember_strerror(err));
    }
    for (int r = 0; r < BLOCK_NRES; r++)
        head_free(b->view[r]);
    for (uint32_t i = 0; i < b->nparts; i++)
        head_free(b->part_view[i]);
    head_free(b->totals_view);
    pthread_mutex_destroy(&b->mu);
    block_meta_release(&b->meta);
    free(b->sec);
    free(b->part_t);
    free(b->part_view);
    free(b->path);
    free(b);
}

/* Symbol id maps of a loaded block: block id -> head id. */
struct loadmap {
    uint32_t *str, *frame, *node, *lstr;
    uint64_t nstr, nframe, nnode, nlstr;
};

static int load_symbols(struct block *b, struct head *h, struct loadmap *lm)
{
    uint8_t *data;
    size_t n;
    struct rd r;
    int err = read_section(b, SEC_SYMBOLS, &data, &n);
    if (err)
        return err;
    rd_init(&r, data, n);
    lm->nstr = rd_varint(&r);
    if (lm->nstr > n)
        goto bad;
    lm->str = xmalloc((lm->nstr + 1) * sizeof(uint32_t));
    lm->str[0] = 0;
    for (uint64_t i = 1; i <= lm->nstr && !r.err; i++) {
        uint64_t len = rd_varint(&r);
        const uint8_t *s = len <= n ? rd_bytes(&r, len) : NULL;
        if (!s)
            goto bad;
        lm->str[i] = strtab_intern(&h->sym.strings, (const char *)s, len);
    }
    lm->nframe = rd_varint(&r);
    if (r.err || lm->nframe > n)
        goto bad;
    lm->frame = xmalloc((lm->nframe + 1) * sizeof(uint32_t));
    lm->frame[0] = 0;
    for (uint64_t i = 1; i <= lm->nframe && !r.err; i++) {
        struct frame f;
        memset(&f, 0, sizeof(f));
        uint64_t a = rd_varint(&r), bb = rd_varint(&r), c = rd_varint(&r);
        f.line = (uint32_t)rd_varint(&r);
        f.addr = rd_varint(&r);
        if (a > lm->nstr || bb > lm->nstr || c > lm->nstr)
            goto bad;
        f.name = lm->str[a];
        f.file = lm->str[bb];
        f.module = lm->str[c];
        lm->frame[i] = symtab_frame(&h->sym, &f);
    }
    lm->nnode = rd_varint(&r);
    if (r.err || lm->nnode > n)
        goto bad;
    lm->node = xmalloc((lm->nnode + 1) * sizeof(uint32_t));
    lm->node[0] = 0;
    for (uint64_t i = 1; i <= lm->nnode && !r.err; i++) {
        uint64_t parent = rd_varint(&r), fr = rd_varint(&r);
        if (parent >= i || fr > lm->nframe)
            goto bad;
        lm->node[i] = symtab_child(&h->sym, lm->node[parent], lm->frame[fr]);
    }
    if (r.err || r.p != r.end)
        goto bad;
    free(data);
    return 0;
bad:
    err = STORE_CORRUPT(b->path, b->sec[SEC_SYMBOLS][0], "bad symbols section");
    free(data);
    return err;
}

static int load_series(struct block *b, struct head *h, struct loadmap *lm)
{
    uint8_t *data;
    size_t n;
    struct rd r;
    uint32_t *pairs = NULL;
    int err = read_section(b, SEC_SERIES, &data, &n);
    if (err)
        return err;
    rd_init(&r, data, n);
    lm->nlstr = rd_varint(&r);
    if (lm->nlstr > n)
        goto bad;
    lm->lstr = xmalloc((lm->nlstr + 1) * sizeof(uint32_t));
    for (uint64_t i = 0; i < lm->nlstr && !r.err; i++) {
        uint64_t len = rd_varint(&r);
        const uint8_t *s = len <= n ? rd_bytes(&r, len) : NULL;
        if (!s)
            goto bad;
        lm->lstr[i] = strtab_intern(&h->lstr, (const char *)s, len);
    }
    uint64_t ns = rd_varint(&r);
    if (r.err || ns > n || ns != b->meta.nseries)
        goto bad;
    for (uint64_t i = 0; i < ns; i++) {
        uint64_t nl = rd_varint(&r);
        if (r.err || nl > 1024)
            goto bad;
        pairs = xrealloc(pairs, (nl * 2 + 1) * sizeof(uint32_t));
        for (uint64_t j = 0; j < nl * 2; j++) {
            uint64_t id = rd_varint(&r);
            if (id >= lm->nlstr)
                goto bad;
            pairs[j] = lm->lstr[id];
        }
        if (r.err || head_series_get(h, pairs, nl, 0) != i)
            goto bad; /* duplicate series */
    }
    uint64_t np = rd_varint(&r);
    for (uint64_t k = 0; k < np && !r.err; k++) {
        uint64_t nn = rd_varint(&r), vv = rd_varint(&r), cnt = rd_varint(&r);
        if (nn >= lm->nlstr || vv >= lm->nlstr || cnt > ns)
            goto bad;
        int created;
        uint64_t *idx =
            hmap_put(&h->postings_idx, (uint64_t)lm->lstr[nn] << 32 | lm->lstr[vv], &created);
        if (!created)
            goto bad;
        VEC_RESERVE(h->postings, 1);
        memset(&h->postings.data[h->postings.len], 0, sizeof(h->postings.data[0]));
        *idx = h->postings.len++;
        uint64_t id = 0;
        for (uint64_t j = 0; j < cnt; j++) {
            uint64_t d = rd_varint(&r);
            if ((j && !d) || d >= ns || id + d >= ns)
                goto bad;
            id += d;
            VEC_PUSH(h->postings.data[*idx], (uint32_t)id);
        }
    }
    if (r.err || r.p != r.end)
        goto bad;
    free(pairs);
    free(data);
    return 0;
bad:
    err = STORE_CORRUPT(b->path, b->sec[SEC_SERIES][0], "bad series section");
    free(pairs);
    free(data);
    return err;
}

/* Loads the TOTALS section: profiles without samples. */
static int load_totals(struct block *b, struct head *h)
{
    uint8_t *data;
    size_t n;
    struct rd r;
    int err = read_section(b, SEC_TOTALS, &data, &n);
    if (err)
        return err;
    rd_init(&r, data, n);
    for (size_t i = 0; i < h->series.len; i++) {
        uint64_t np = rd_varint(&r);
        int64_t t = 0;
        if (r.err || np > n)
            goto bad;
        for (uint64_t k = 0; k < np; k++) {
            struct hprofile hp;
            memset(&hp, 0, sizeof(hp));
            t += unzigzag(rd_varint(&r));
            hp.time_ns = t;
            hp.duration_ns = unzigzag(rd_varint(&r));
            hp.total = unzigzag(rd_varint(&r));
            hp.count = (uint32_t)rd_varint(&r);
            if (r.err)
                goto bad;
            head_add_profile(h, (uint32_t)i, &hp);
        }
    }
    if (r.err || r.p != r.end)
        goto bad;
    free(data);
    return 0;
bad:
    err = STORE_CORRUPT(b->path, b->sec[SEC_TOTALS][0], "bad totals section");
    free(data);
    return err;
}

static int load_profiles(struct block *b, struct head *h, const struct loadmap *lm, int sec)
{
    uint8_t *data;
    size_t n;
    struct rd r;
    int err = read_section(b, sec, &data, &n);
    if (err)
        return err;
    rd_init(&r, data, n);
    for (size_t i = 0; i < h->series.len; i++) {
        uint64_t np = rd_varint(&r);
        int64_t t = 0;
        if (r.err || np > n)
            goto bad;
        for (uint64_t k = 0; k < np; k++) {
            struct hprofile hp;
            t += unzigzag(rd_varint(&r));
            hp.time_ns = t;
            hp.duration_ns = unzigzag(rd_varint(&r));
            hp.total = unzigzag(rd_varint(&r));
            hp.count = (uint32_t)rd_varint(&r);
            uint64_t ns = rd_varint(&r);
            if (r.err || ns > (size_t)(r.end - r.p) / 2)
                goto bad;
            uint8_t *w = head_arena_reserve(h, ns * 15), *w0 = w;
            for (uint64_t j = 0; j < ns; j++) {
                uint64_t st = rd_varint(&r), zv = rd_varint(&r);
                if (st > lm->nnode)
                    goto bad;
                w += varint_put(w, lm->node[st]);
                w += varint_put(w, zv);
            }
            if (r.err)
                goto bad;
            hp.data = w0;
            hp.len = (uint32_t)(w - w0);
            hp.nsamples = (uint32_t)ns;
            head_add_profile(h, (uint32_t)i, &hp);
        }
    }
    if (r.err || r.p != r.end)
        goto bad;
    free(data);
    return 0;
bad:
    err = STORE_CORRUPT(b->path, b->sec[sec][0], "bad profiles section");
    free(data);
    return err;
}

static uint64_t head_bytes(struct head *h)
{
    struct head_stats st;
    head_get_stats(h, &st);
    return st.bytes;
}

enum { VIEW_RES, VIEW_PART, VIEW_TOTALS };

/*
 * The view *slot of b, loaded on first use under b->mu: symbols (not for
 * totals), series, then the profiles: rollup res, raw part i, every raw part
 * (VIEW_RES with RES_RAW), or the totals. NULL if the block cannot be read
 * (it is marked corrupt).
 */
static struct head *view_get(struct block *b, struct head **slot, int kind, size_t i)
{
    struct head *h = NULL;
    struct loadmap lm = {0};
    pthread_mutex_lock(&b->mu);
    b->last_used = time_mono_ns();
    if (*slot || !b->path || b->corrupt)
        goto out;
    h = head_new(b->meta.tenant, strlen(b->meta.tenant));
    int err = kind == VIEW_TOTALS ? 0 : load_symbols(b, h, &lm);
    if (!err)
        err = load_series(b, h, &lm);
    if (!err && kind == VIEW_TOTALS)
        err = load_totals(b, h);
    else if (!err && kind == VIEW_PART)
        err = load_profiles(b, h, &lm, part_sec(b, i));
    else if (!err && i != RES_RAW)
        err = load_profiles(b, h, &lm, SEC_RAW + (int)i);
    for (size_t k = 0; !err && kind == VIEW_RES && i == RES_RAW && k < b->nparts; k++)
        err = load_profiles(b, h, &lm, part_sec(b, k));
    if (err) {
        log_error("skipping block '%s' in queries from now on: %s", b->path, ember_strerror(err));
        b->corrupt = 1;
        head_free(h);
        goto out;
    }
    *slot = h;
    b->view_bytes += head_bytes(h);
out:
    h = b->corrupt ? NULL : *slot;
    pthread_mutex_unlock(&b->mu);
    free(lm.str);
    free(lm.frame);
    free(lm.node);
    free(lm.lstr);
    return h;
}

struct head *block_view(struct block *b, int res)
{
    return view_get(b, &b->view[res], VIEW_RES, (size_t)res);
}

struct head *block_view_part(struct block *b, size_t i)
{
    return i < b->nparts ? view_get(b, &b->part_view[i], VIEW_PART, i) : NULL;
}

struct head *block_view_totals(struct block *b)
{
    return block_has_totals(b) ? view_get(b, &b->totals_view, VIEW_TOTALS, 0) : NULL;
}

uint64_t block_drop_views(struct block *b)
{
    uint64_t freed = 0;
    if (!b->path)
        return 0;
    pthread_mutex_lock(&b->mu);
    for (int r = 0; r < BLOCK_NRES; r++) {
        head_free(b->view[r]);
        b->view[r] = NULL;
    }
    for (uint32_t i = 0; i < b->nparts; i++) {
        head_free(b->part_view[i]);
        b->part_view[i] = NULL;
    }
    head_free(b->totals_view);
    b->totals_view = NULL;
    freed = b->view_bytes;
    b->view_bytes = 0;
    pthread_mutex_unlock(&b->mu);
    return freed;
}

/* ---- merging ---- */

static void absorb(struct head *dst, struct head *src)
{
    const struct symtab *ss = &src->sym;
    size_t nn = ss->nodes.len, nf = ss->frames.len;
    uint32_t *fmap = xmalloc((nf + 1) * sizeof(uint32_t));
    uint32_t *nmap = xmalloc((nn + 1) * sizeof(uint32_t));
    uint32_t *pairs = NULL;
    fmap[0] = nmap[0] = 0;
    for (size_t id = 1; id < nf; id++) {
        const struct frame *f = symtab_get_frame(ss, (uint32_t)id);
        struct frame c;
        memset(&c, 0, sizeof(c));
        c.name = strtab_intern(&dst->sym.strings, strtab_get(&ss->strings, f->name),
                               strtab_strlen(&ss->strings, f->name));
        c.file = strtab_intern(&dst->sym.strings, strtab_get(&ss->strings, f->file),
                               strtab_strlen(&ss->strings, f->file));
        c.module = strtab_intern(&dst->sym.strings, strtab_get(&ss->strings, f->module),
                                 strtab_strlen(&ss->strings, f->module));
        c.line = f->line;
        c.addr = f->addr;
        fmap[id] = symtab_frame(&dst->sym, &c);
    }
    for (size_t id = 1; id < nn; id++) {
        const struct stack_node *n = symtab_get_node(ss, (uint32_t)id);
        nmap[id] = symtab_child(&dst->sym, nmap[n->parent], fmap[n->frame]);
    }
    for (size_t i = 0; i < src->series.len; i++) {
        const struct hseries *s = src->series.data[i];
        pairs = xrealloc(pairs, (s->view.n * 2 + 1) * sizeof(uint32_t));
        for (size_t j = 0; j < s->view.n * 2; j++)
            pairs[j] = strtab_intern(&dst->lstr, strtab_get(&src->lstr, s->pairs[j]),
                                     strtab_strlen(&src->lstr, s->pairs[j]));
        uint32_t sid = head_series_get(dst, pairs, s->view.n, 1);
        for (size_t k = 0; k < s->profiles.len; k++) {
            struct hprofile hp = s->profiles.data[k];
            const uint8_t *p = hp.data;
            uint8_t *w = head_arena_reserve(dst, (size_t)hp.nsamples * 15), *w0 = w;
            for (uint32_t j = 0; j < hp.nsamples; j++) {
                w += varint_put(w, nmap[varint_get(&p)]);
                w += varint_put(w, varint_get(&p));
            }
            hp.data = w0;
            hp.len = (uint32_t)(w - w0);
            head_add_profile(dst, sid, &hp);
        }
    }
    free(pairs);
    free(fmap);
    free(nmap);
}

struct head *block_merge_heads(struct head *const *src, size_t n, const char *tenant)
{
    struct head *dst = head_new(tenant, strlen(tenant));
    for (size_t i = 0; i < n; i++) {
        pthread_rwlock_rdlock(&src[i]->lock);
        absorb(dst, src[i]);
        pthread_rwlock_unlock(&src[i]->lock);
    }
    return dst;
}
