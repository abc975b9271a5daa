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
    free(t->slots);
    t->slots = xcalloc(cap, sizeof(uint32_t));
    t->mask = cap - 1;
    for (size_t id = 0; id < t->len; id++) {
        size_t i = hash_bytes(t->recs + id * t->rec_size, t->rec_size) & t->mask;
        while (t->slots[i])
            i = (i + 1) & t->mask;
        t->slots[i] = (uint32_t)id + 1;
    }
}

uint32_t idtab_find(const struct idtab *t, const void *rec)
{
    if (!t->slots)
        return UINT32_MAX;
    size_t i = hash_bytes(rec, t->rec_size) & t->mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (!v)
            return UINT32_MAX;
        if (!memcmp(t->recs + (size_t)(v - 1) * t->rec_size, rec, t->rec_size))
            return v - 1;
        i = (i + 1) & t->mask;
    }
}

uint32_t idtab_intern(struct idtab *t, const void *rec)
{
    if (!t->slots || (t->len + 1) * 4 > (t->mask + 1) * 3)
        rehash(t);
    size_t i = hash_bytes(rec, t->rec_size) & t->mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (!v)
            break;
        if (!memcmp(t->recs + (size_t)(v - 1) * t->rec_size, rec, t->rec_size))
            return v - 1;
        i = (i + 1) & t->mask;
    }
    t->recs = xgrow(t->recs, t->rec_size, t->len + 1, &t->cap);
    uint32_t id = (uint32_t)t->len++;
    memcpy(t->recs + (size_t)id * t->rec_size, rec, t->rec_size);
    t->slots[i] = id + 1;
    return id;
}
