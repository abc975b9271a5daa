/* labels.h - label sets: sorted (name, value) string pairs identifying a series */
#ifndef EMBER_PROFILE_LABELS_H
#define EMBER_PROFILE_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

struct label {
    char *name;  /* owned */
    char *value; /* owned */
};

/* A label set. Zero-initialise or labels_init(). Names are unique once sorted. */
struct labels {
    struct label *v;
    size_t n, cap;
};

#define LABEL_NAME         "__name__"
#define LABEL_PROFILE_TYPE "__profile_type__"
#define LABEL_SERVICE_NAME "service_name"
#define LABEL_DELTA        "__delta__"

void labels_init(struct labels *l);
void labels_release(struct labels *l);
/* Deep copy into dst (initialised by this call). */
void labels_copy(struct labels *dst, const struct labels *src);
/* Sets name=value (copies both), replacing an existing value for name. Keeps the set sorted. */
void labels_set(struct labels *l, const char *name, const char *value);
void labels_setn(struct labels *l, const char *name, size_t nlen, const char *value, size_t vlen);
/* Removes name if present. */
void labels_del(struct labels *l, const char *name);
/* Borrowed value of name, or NULL. */
const char *labels_get(const struct labels *l, const char *name);
/* Compares two sorted sets (like strcmp). */
int labels_cmp(const struct labels *a, const struct labels *b);
/* 64-bit hash of the sorted set. */
uint64_t labels_hash(const struct labels *l);
/* Appends {a="x",b="y"} (Prometheus text form, values escaped) to out. */
void labels_format(const struct labels *l, struct buf *out);
/* True if name matches [a-zA-Z_][a-zA-Z0-9_]* and is at most 1024 bytes. */
bool label_name_valid(const char *name, size_t n);

#endif
