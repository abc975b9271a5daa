/* store_int.h - helpers shared by the local store's files: byte order, varints, corruption reports
 */
#ifndef EMBER_STORE_STORE_INT_H
#define EMBER_STORE_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"

/*
 * Reports corrupt on-disk data where it was found and returns
 * -EMBER_ECORRUPT (sqlite's SQLITE_CORRUPT_PAGE): the caller passes what
 * it was reading and at which byte offset.
 */
#define STORE_CORRUPT(path, off, why)                                                              \
    (log_error("%s:%d: corrupt data in '%s' at offset %llu: %s", __FILE__, __LINE__, (path),       \
               (unsigned long long)(off), (why)),                                                  \
     -EMBER_ECORRUPT)

static inline void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, (uint32_t)v);
    put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Writes v as a LEB128 varint at p (room for 10 bytes); returns the bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline void buf_varint(struct buf *b, uint64_t v)
{
    buf_grow(b, 10);
    b->len += varint_put((uint8_t *)b->data + b->len, v);
    b->data[b->len] = '\0';
}

/* A bounds-checked read cursor; err becomes non-zero (and stays) on the first overrun. */
struct rd {
    const uint8_t *p, *end, *base;
    int err;
};

static inline void rd_init(struct rd *r, const void *p, size_t n)
{
    r->p = r->base = p;
    r->end = r->p + n;
    r->err = 0;
}

static inline size_t rd_off(const struct rd *r)
{
    return (size_t)(r->p - r->base);
}

static inline uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->err = 1;
            return 0;
        }
        uint8_t c = *r->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->err = 1;
    return 0;
}

/* Trusted fast path: input produced by our own encoder (checked by the validator first). */
static inline uint64_t varint_get(const uint8_t **pp)
{
    const uint8_t *p = *pp;
    uint64_t v = *p & 0x7f;
    unsigned shift = 7;
    while (*p++ & 0x80) {
        v |= (uint64_t)(*p & 0x7f) << shift;
        shift += 7;
    }
    *pp = p;
    return v;
}

/* Borrowed pointer to the next n bytes, or NULL (and err set) if fewer remain. */
static inline const uint8_t *rd_bytes(struct rd *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

#endif
