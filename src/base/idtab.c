/* idtab.c - deduplicating fixed-size record table */
#include "idtab.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "xalloc.h"

void idtab_init(struct idtab *t, size_t rec_size)
{
    memset(t, 0, sizeof(*t));
    t->rec_size = rec_size;
}

void idtab_release(struct idtab *t)
{
    free(t->recs);
    free(t->slots);
    size_t rs = t->rec_size;
    memset(t, 0, sizeof(*t));
    t->rec_size = rs;
}

static void rehash(struct idtab *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 64;
    uint64_t *old = t->slots;
    size_t ocap = old ? t->mask + 1 : 0;
    t->slots = xcalloc(cap, sizeof(uint64_t));
    t->mask = cap - 1;
    /* The tag is the hash's high 32 bits, so rehashing needs no record access. */
    for (size_t j = 0; j < ocap; j++) {
        uint64_t v = old[j];
        if (!v)
            continue;
        size_t i = ((v >> 32) * 0x9e3779b1u) & t->mask;
        while (t->slots[i])
            i = (i + 1) & t->mask;
        t->slots[i] = v;
    }
    free(old);
}

/*
 * Hash and equality of a record. The common sizes (8: stack nodes, 24:
 * frames) get constant-size copies, so XXH3 and memcmp are inlined instead
 * of being called with a run-time length for every record interned.
 */
static inline uint64_t rec_hash(const void *rec, size_t n)
{
    switch (n) {
    case 8:
        return hash_bytes(rec, 8);
    case 24:
        return hash_bytes(rec, 24);
    default:
        return hash_bytes(rec, n);
    }
}

static inline int rec_eq(const void *a, const void *b, size_t n)
{
    switch (n) {
    case 8:
        return !memcmp(a, b, 8);
    case 24:
        return !memcmp(a, b, 24);
    default:
        return !memcmp(a, b, n);
    }
}

static inline uint32_t tag_of(uint64_t h)
{
    return (uint32_t)(h >> 32);
}

static inline size_t slot_of(uint32_t tag, size_t mask)
{
    return ((uint64_t)tag * 0x9e3779b1u) & mask;
}

uint32_t idtab_find(const struct idtab *t, const void *rec)
{
    if (!t->slots)
        return UINT32_MAX;
    uint32_t tag = tag_of(rec_hash(rec, t->rec_size));
    size_t i = slot_of(tag, t->mask);
    for (;;) {
        uint64_t v = t->slots[i];
        if (!v)
            return UINT32_MAX;
        uint32_t id = (uint32_t)v - 1;
        if ((uint32_t)(v >> 32) == tag && rec_eq(t->recs + (size_t)id * t->rec_size, rec, t->rec_size))
            return id;
        i = (i + 1) & t->mask;
    }
}

uint32_t idtab_intern(struct idtab *t, const void *rec)
{
    if (!t->slots || (t->len + 1) * 4 > (t->mask + 1) * 3)
        rehash(t);
    uint32_t tag = tag_of(rec_hash(rec, t->rec_size));
    size_t i = slot_of(tag, t->mask);
    for (;;) {
        uint64_t v = t->slots[i];
        if (!v)
            break;
        uint32_t id = (uint32_t)v - 1;
        if ((uint32_t)(v >> 32) == tag && rec_eq(t->recs + (size_t)id * t->rec_size, rec, t->rec_size))
            return id;
        i = (i + 1) & t->mask;
    }
    t->recs = xgrow(t->recs, t->rec_size, t->len + 1, &t->cap);
    uint32_t id = (uint32_t)t->len++;
    memcpy(t->recs + (size_t)id * t->rec_size, rec, t->rec_size);
    t->slots[i] = ((uint64_t)tag << 32) | (id + 1);
    return id;
}
