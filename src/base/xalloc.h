/* xalloc.h - allocation wrappers that abort on OOM (server, store, query, cli) */
#ifndef EMBER_BASE_XALLOC_H
#define EMBER_BASE_XALLOC_H

#include <stddef.h>

/* Each returns new memory; on OOM it logs and aborts the process. Never NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows *p (of *cap elements of size elem) to hold at least need elements, doubling. */
void *xgrow(void *p, size_t elem, size_t need, size_t *cap);
char *xstrdup(const char *s);
/* Copies exactly n bytes of s (which may hold NULs; all n must be readable) and adds a NUL. */
char *xstrndup(const char *s, size_t n);
/* Returns a new string formatted like printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define FREE_AND_NULL(p)                                                                           \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

/* Ensures vector v (fields v.data, v.len, v.cap) has room for n more elements. */
#define VEC_RESERVE(v, n)                                                                          \
    do {                                                                                           \
        if ((v).len + (n) > (v).cap)                                                               \
            (v).data = xgrow((v).data, sizeof(*(v).data), (v).len + (n), &(v).cap);                \
    } while (0)
#define VEC_PUSH(v, x)                                                                             \
    do {                                                                                           \
        VEC_RESERVE(v, 1);                                                                         \
        (v).data[(v).len++] = (x);                                                                 \
    } while (0)
#define VEC(type)                                                                                  \
    struct {                                                                                       \
        type *data;                                                                                \
        size_t len, cap;                                                                           \
    }

#endif
