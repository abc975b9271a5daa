/* gz.h - gzip/zlib compression helpers with limits against decompression bombs */
#ifndef EMBER_BASE_GZ_H
#define EMBER_BASE_GZ_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* True if p starts with the gzip magic 1f 8b. */
int gz_is_gzip(const void *p, size_t n);

/*
 * Inflates gzip (or zlib) data p[0..n) into out (appended). Fails with
 * -EMBER_ETOOBIG if the output would exceed max_out bytes, -EMBER_EBOMB if it
 * would exceed max_ratio * n bytes (max_ratio 0 = no ratio cap), and
 * -EMBER_ECORRUPT / -EMBER_ETRUNC on bad or truncated input. On failure out
 * may hold partial output.
 */
int gz_inflate(const void *p, size_t n, struct buf *out, size_t max_out, unsigned max_ratio);

/* Appends gzip-compressed p[0..n) to out at the given level (1-9). Returns 0 or -EMBER_E*. */
int gz_deflate(const void *p, size_t n, struct buf *out, int level);

#endif
