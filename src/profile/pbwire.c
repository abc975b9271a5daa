/* pbwire.c - protobuf wire-format reader and writer */
#include "pbwire.h"

#include <string.h>

#include "base/buf.h"
#include "base/err.h"

void pb_reader_init(struct pb_reader *r, const void *p, size_t n)
{
    r->p = r->base = p;
    r->end = r->p + n;
}

void pb_reader_sub(struct pb_reader *sub, const struct pb_reader *parent, const struct pb_field *f)
{
    sub->p = f->data;
    sub->end = f->data + f->len;
    sub->base = parent->base;
}

size_t pb_offset(const struct pb_reader *r)
{
    return (size_t)(r->p - r->base);
}

int pb_read_varint(struct pb_reader *r, uint64_t *v)
{
    const uint8_t *p = r->p;
    /* fast path: one byte */
    if (p < r->end && *p < 0x80) {
        *v = *p;
        r->p = p + 1;
        return 0;
    }
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= r->end)
            return -EMBER_ETRUNC;
        uint8_t c = *p++;
        if (shift == 63 && c > 1)
            return -EMBER_ECORRUPT;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *v = x;
            r->p = p;
            return 0;
        }
    }
    return -EMBER_ECORRUPT;
}

int pb_next(struct pb_reader *r, struct pb_field *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    int err = pb_read_varint(r, &key);
    if (err)
        return err;
    if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
        return -EMBER_ECORRUPT;
    f->num = (uint32_t)(key >> 3);
    f->wire = (enum pb_wire)(key & 7);
    switch (f->wire) {
    case PB_VARINT:
        return pb_read_varint(r, &f->u64) ?: 1;
    case PB_I64:
        if (r->end - r->p < 8)
            return -EMBER_ETRUNC;
        memcpy(&f->u64, r->p, 8);
        r->p += 8;
        return 1;
    case PB_I32: {
        uint32_t v;
        if (r->end - r->p < 4)
            return -EMBER_ETRUNC;
        memcpy(&v, r->p, 4);
        f->u64 = v;
        r->p += 4;
        return 1;
    }
    case PB_LEN: {
        uint64_t len;
        err = pb_read_varint(r, &len);
        if (err)
            return err;
        if (len > (uint64_t)(r->end - r->p))
            return -EMBER_ETRUNC;
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return -EMBER_ECORRUPT;
    }
}

int pb_foreach_varint(const struct pb_field *f, int (*cb)(uint64_t v, void *arg), void *arg)
{
    if (f->wire == PB_VARINT)
        return cb(f->u64, arg);
    if (f->wire != PB_LEN)
        return -EMBER_ECORRUPT;
    struct pb_reader r;
    pb_reader_init(&r, f->data, f->len);
    while (r.p < r.end) {
        uint64_t v;
        int err = pb_read_varint(&r, &v);
        if (err)
            return err;
        err = cb(v, arg);
        if (err)
            return err;
    }
    return 0;
}

void pb_put_varint(struct buf *b, uint64_t v)
{
    buf_grow(b, 10);
    uint8_t *p = (uint8_t *)b->data + b->len;
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    b->len += n;
    b->data[b->len] = 0;
}

void pb_put_tag(struct buf *b, uint32_t num, enum pb_wire wire)
{
    pb_put_varint(b, ((uint64_t)num << 3) | wire);
}

void pb_put_uint(struct buf *b, uint32_t num, uint64_t v)
{
    if (!v)
        return;
    pb_put_tag(b, num, PB_VARINT);
    pb_put_varint(b, v);
}

void pb_put_int(struct buf *b, uint32_t num, int64_t v)
{
    pb_put_uint(b, num, (uint64_t)v);
}

void pb_put_bytes(struct buf *b, uint32_t num, const void *p, size_t n)
{
    pb_put_tag(b, num, PB_LEN);
    pb_put_varint(b, n);
    buf_append(b, p, n);
}

void pb_put_str(struct buf *b, uint32_t num, const char *s)
{
    pb_put_bytes(b, num, s, strlen(s));
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void pb_put_packed_u64(struct buf *b, uint32_t num, const uint64_t *v, size_t n)
{
    if (!n)
        return;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += varint_size(v[i]);
    pb_put_tag(b, num, PB_LEN);
    pb_put_varint(b, len);
    for (size_t i = 0; i < n; i++)
        pb_put_varint(b, v[i]);
}

void pb_put_packed_i64(struct buf *b, uint32_t num, const int64_t *v, size_t n)
{
    pb_put_packed_u64(b, num, (const uint64_t *)v, n);
}

/* Marks reserve 3 bytes of length prefix (bodies up to 2 MiB need no move). */
#define PB_RESERVE 3

size_t pb_begin(struct buf *b, uint32_t num)
{
    pb_put_tag(b, num, PB_LEN);
    size_t mark = b->len;
    buf_grow(b, PB_RESERVE);
    b->len += PB_RESERVE;
    return mark;
}

void pb_end(struct buf *b, size_t mark)
{
    size_t body = b->len - mark - PB_RESERVE;
    size_t need = varint_size(body);
    if (need != PB_RESERVE) {
        buf_grow(b, need);
        memmove(b->data + mark + need, b->data + mark + PB_RESERVE, body);
        b->len = mark + need + body;
        b->data[b->len] = 0;
    }
    uint8_t *p = (uint8_t *)b->data + mark;
    uint64_t v = body;
    for (size_t i = 0; i < need; i++) {
        p[i] = (uint8_t)((v & 0x7f) | (i + 1 < need ? 0x80 : 0));
        v >>= 7;
    }
}
