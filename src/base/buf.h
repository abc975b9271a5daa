/* buf.h - growable byte buffers (always NUL-terminated) */
#ifndef EMBER_BASE_BUF_H
#define EMBER_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * A growable buffer. Zero-initialise (BUF_INIT) or buf_init(). data is
 * NUL-terminated after every operation (the NUL is not counted in len).
 * Growth aborts on OOM (xalloc).
 */
struct buf {
    char *data;
    size_t len, cap;
};

#define BUF_INIT {NULL, 0, 0}

void buf_init(struct buf *b);
/* Frees the memory; b is empty and reusable afterwards. Accepts a released buf. */
void buf_release(struct buf *b);
/* Empties b, keeping its memory. */
void buf_reset(struct buf *b);
/* Returns b's data (owned by the caller now) and leaves b empty. Never NULL. */
char *buf_detach(struct buf *b, size_t *len);
void buf_grow(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a decimal integer (faster than printf). */
void buf_put_i64(struct buf *b, int64_t v);
void buf_put_u64(struct buf *b, uint64_t v);
/* Appends s (n bytes) as a quoted JSON string with escapes; invalid UTF-8 becomes U+FFFD. */
void buf_json_str(struct buf *b, const char *s, size_t n);
/* Appends a double as JSON (finite; NaN/inf become 0). */
void buf_json_double(struct buf *b, double v);

#endif
