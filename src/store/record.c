/* record.c - encoding and validation of the WAL payload of one batch */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "profile/profile.h"
#include "store_int.h"
#include "wal.h"

static void put_bytes(struct buf *b, const char *s, size_t n)
{
    buf_varint(b, n);
    buf_append(b, s, n);
}

static void put_str(struct buf *b, const char *s)
{
    put_bytes(b, s, strlen(s));
}

int record_encode(struct buf *out, const char *tenant, const struct profile_batch *b)
{
    const struct symtab *sym = &b->sym;
    size_t tlen = strlen(tenant);
    if (tlen == 0 || tlen > RECORD_MAX_TENANT)
        return -EMBER_EINVAL_INPUT;
    for (size_t i = 0; i < b->profiles.len; i++) {
        const struct profile *p = &b->profiles.data[i];
        if (!labels_get(&p->labels, LABEL_PROFILE_TYPE) ||
            !labels_get(&p->labels, LABEL_SERVICE_NAME) || p->labels.n > RECORD_MAX_LABELS)
            return -EMBER_EINVAL_INPUT;
        for (size_t j = 0; j < p->samples.len; j++)
            if (p->samples.data[j].stack >= sym->nodes.len)
                return -EMBER_EINVAL_INPUT;
    }

    buf_grow(out, WAL_REC_HDR + 64 + sym->strings.bytes + sym->frames.len * 8 + sym->nodes.len * 4 +
                      batch_nsamples(b) * 6);
    memset(out->data + out->len, 0, WAL_REC_HDR);
    out->len += WAL_REC_HDR;
    buf_putc(out, (char)RECORD_BATCH);
    put_bytes(out, tenant, tlen);

    buf_varint(out, sym->strings.len - 1);
    for (uint32_t id = 1; id < sym->strings.len; id++)
        put_bytes(out, strtab_get(&sym->strings, id), strtab_strlen(&sym->strings, id));

    buf_varint(out, sym->frames.len - 1);
    for (uint32_t id = 1; id < sym->frames.len; id++) {
        const struct frame *f = symtab_get_frame(sym, id);
        buf_grow(out, 50);
        uint8_t *w = (uint8_t *)out->data + out->len;
        w += varint_put(w, f->name);
        w += varint_put(w, f->file);
        w += varint_put(w, f->module);
        w += varint_put(w, f->line);
        w += varint_put(w, f->addr);
        out->len = (size_t)((char *)w - out->data);
    }

    buf_varint(out, sym->nodes.len - 1);
    for (uint32_t id = 1; id < sym->nodes.len; id++) {
        const struct stack_node *nd = symtab_get_node(sym, id);
        buf_grow(out, 20);
        uint8_t *w = (uint8_t *)out->data + out->len;
        w += varint_put(w, nd->parent);
        w += varint_put(w, nd->frame);
        out->len = (size_t)((char *)w - out->data);
    }

    buf_varint(out, b->profiles.len);
    for (size_t i = 0; i < b->profiles.len; i++) {
        const struct profile *p = &b->profiles.data[i];
        buf_varint(out, p->labels.n);
        for (size_t j = 0; j < p->labels.n; j++) {
            put_str(out, p->labels.v[j].name);
            put_str(out, p->labels.v[j].value);
        }
        buf_varint(out, zigzag(p->time_ns));
        buf_varint(out, zigzag(p->duration_ns));
        buf_varint(out, zigzag(p->period));
        size_t nz = 0;
        for (size_t j = 0; j < p->samples.len; j++)
            nz += p->samples.data[j].value != 0;
        buf_varint(out, nz);
        buf_grow(out, nz * 15);
        uint8_t *w = (uint8_t *)out->data + out->len;
        for (size_t j = 0; j < p->samples.len; j++) {
            const struct sample *s = &p->samples.data[j];
            if (!s->value)
                continue;
            w += varint_put(w, s->stack);
            w += varint_put(w, zigzag(s->value));
        }
        out->len = (size_t)((char *)w - out->data);
    }
    out->data[out->len] = '\0';
    return 0;
}

__attribute__((format(printf, 4, 5))) static int bad(char *why, size_t whylen, size_t off,
                                                     const char *fmt, ...)
{
    int k = snprintf(why, whylen, "at payload offset %zu: ", off);
    if (k >= 0 && (size_t)k < whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why + k, whylen - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -EMBER_ECORRUPT;
}

/* Reads a length-prefixed string of at most max bytes with no NUL inside. */
static const uint8_t *rd_str(struct rd *r, uint64_t max, uint64_t *len)
{
    *len = rd_varint(r);
    if (r->err || *len > max) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *s = rd_bytes(r, *len);
    if (s && memchr(s, 0, *len)) {
        r->err = 1;
        return NULL;
    }
    return s;
}

int record_validate(const uint8_t *p, size_t n, const char **tenant, size_t *tenant_len, char *why,
                    size_t whylen)
{
    struct rd r;
    uint64_t len;
    rd_init(&r, p, n);
    if (n < 1 || p[0] != RECORD_BATCH)
        return bad(why, whylen, 0, "unknown record kind %u", n ? p[0] : 0);
    r.p++;
    const uint8_t *t = rd_str(&r, RECORD_MAX_TENANT, &len);
    if (r.err || len == 0)
        return bad(why, whylen, rd_off(&r), "bad tenant");
    *tenant = (const char *)t;
    *tenant_len = len;

    uint64_t nstr = rd_varint(&r);
    if (r.err || nstr >= UINT32_MAX || nstr > n)
        return bad(why, whylen, rd_off(&r), "bad string count");
    for (uint64_t i = 0; i < nstr; i++) {
        rd_str(&r, RECORD_MAX_STR_LEN, &len);
        if (r.err)
            return bad(why, whylen, rd_off(&r), "bad string %llu", (unsigned long long)i + 1);
    }
    uint64_t nfr = rd_varint(&r);
    if (r.err || nfr >= UINT32_MAX || nfr > n)
        return bad(why, whylen, rd_off(&r), "bad frame count");
    for (uint64_t i = 0; i < nfr; i++) {
        uint64_t name = rd_varint(&r), file = rd_varint(&r), mod = rd_varint(&r);
        uint64_t line = rd_varint(&r);
        rd_varint(&r);
        if (r.err || name > nstr || file > nstr || mod > nstr || line > UINT32_MAX)
            return bad(why, whylen, rd_off(&r), "bad frame %llu", (unsigned long long)i + 1);
    }
    uint64_t nnodes = rd_varint(&r);
    if (r.err || nnodes >= UINT32_MAX || nnodes > n)
        return bad(why, whylen, rd_off(&r), "bad stack node count");
    for (uint64_t i = 0; i < nnodes; i++) {
        uint64_t parent = rd_varint(&r), frame = rd_varint(&r);
        if (r.err || parent > i || frame > nfr)
            return bad(why, whylen, rd_off(&r), "bad stack node %llu", (unsigned long long)i + 1);
    }
    uint64_t nprof = rd_varint(&r);
    if (r.err || nprof > n)
        return bad(why, whylen, rd_off(&r), "bad profile count");
    for (uint64_t i = 0; i < nprof; i++) {
        uint64_t nl = rd_varint(&r);
        if (r.err || nl > RECORD_MAX_LABELS)
            return bad(why, whylen, rd_off(&r), "profile %llu: bad label count",
                       (unsigned long long)i);
        const uint8_t *prev = NULL;
        uint64_t prevlen = 0;
        int has_type = 0, has_service = 0;
        for (uint64_t j = 0; j < nl; j++) {
            uint64_t nlen, vlen;
            const uint8_t *name = rd_str(&r, RECORD_MAX_STR_LEN, &nlen);
            rd_str(&r, RECORD_MAX_STR_LEN, &vlen);
            if (r.err)
                return bad(why, whylen, rd_off(&r), "profile %llu: bad label %llu",
                           (unsigned long long)i, (unsigned long long)j);
            if (prev) {
                size_t m = prevlen < nlen ? prevlen : nlen;
                int c = memcmp(prev, name, m);
                if (c > 0 || (c == 0 && prevlen >= nlen))
                    return bad(why, whylen, rd_off(&r), "profile %llu: labels not sorted",
                               (unsigned long long)i);
            }
            prev = name;
            prevlen = nlen;
            has_type |=
                nlen == strlen(LABEL_PROFILE_TYPE) && !memcmp(name, LABEL_PROFILE_TYPE, nlen);
            has_service |=
                nlen == strlen(LABEL_SERVICE_NAME) && !memcmp(name, LABEL_SERVICE_NAME, nlen);
        }
        if (!has_type || !has_service)
            return bad(why, whylen, rd_off(&r), "profile %llu: missing %s or %s",
                       (unsigned long long)i, LABEL_PROFILE_TYPE, LABEL_SERVICE_NAME);
        rd_varint(&r);
        rd_varint(&r);
        rd_varint(&r);
        uint64_t ns = rd_varint(&r);
        if (r.err || ns > n)
            return bad(why, whylen, rd_off(&r), "profile %llu: bad sample count",
                       (unsigned long long)i);
        for (uint64_t j = 0; j < ns; j++) {
            uint64_t stack = rd_varint(&r);
            rd_varint(&r);
            if (r.err || stack > nnodes)
                return bad(why, whylen, rd_off(&r), "profile %llu: bad sample %llu",
                           (unsigned long long)i, (unsigned long long)j);
        }
    }
    if (r.p != r.end)
        return bad(why, whylen, rd_off(&r), "%zu trailing bytes", (size_t)(r.end - r.p));
    return 0;
}
