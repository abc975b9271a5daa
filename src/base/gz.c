/* gz.c - zlib wrappers with output caps */
#include "gz.h"

#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"

int gz_is_gzip(const void *p, size_t n)
{
    const unsigned char *c = p;
    return n >= 2 && c[0] == 0x1f && c[1] == 0x8b;
}

int gz_inflate(const void *p, size_t n, struct buf *out, size_t max_out, unsigned max_ratio)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 32: auto-detect gzip or zlib header */
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return -EMBER_ECORRUPT;
    size_t limit = max_out;
    if (max_ratio && n * (size_t)max_ratio < limit)
        limit = n * (size_t)max_ratio;
    int err = 0, ret;
    size_t produced = 0;
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    do {
        size_t chunk = n * 4 < 65536 ? 65536 : n * 4;
        if (chunk > limit - produced + 1)
            chunk = limit - produced + 1;
        buf_grow(out, chunk);
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)chunk;
        ret = inflate(&zs, Z_NO_FLUSH);
        size_t got = chunk - zs.avail_out;
        out->len += got;
        out->data[out->len] = 0;
        produced += got;
        if (produced > limit) {
            err = (limit < max_out) ? -EMBER_EBOMB : -EMBER_ETOOBIG;
            goto out;
        }
        if (ret == Z_STREAM_END) {
            /* concatenated gzip members */
            if (zs.avail_in > 0 && gz_is_gzip(zs.next_in, zs.avail_in)) {
                inflateReset(&zs);
                ret = Z_OK;
                continue;
            }
            break;
        }
        if (ret == Z_BUF_ERROR && zs.avail_in == 0) {
            err = -EMBER_ETRUNC;
            goto out;
        }
        if (ret != Z_OK) {
            err = -EMBER_ECORRUPT;
            goto out;
        }
    } while (1);
out:
    inflateEnd(&zs);
    return err;
}

int gz_deflate(const void *p, size_t n, struct buf *out, int level)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -EMBER_ECORRUPT;
    size_t bound = deflateBound(&zs, (uLong)n) + 32;
    buf_grow(out, bound);
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)bound;
    int ret = deflate(&zs, Z_FINISH);
    out->len += bound - zs.avail_out;
    out->data[out->len] = 0;
    deflateEnd(&zs);
    return ret == Z_STREAM_END ? 0 : -EMBER_ECORRUPT;
}
