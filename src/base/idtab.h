/* idtab.h - deduplicating table of fixed-size records, each with a dense uint32 id */
#ifndef EMBER_BASE_IDTAB_H
#define EMBER_BASE_IDTAB_H

#include <stddef.h>
#include <stdint.h>

/*
 * Records are compared bytewise, so callers must zero padding. Ids are dense
 * from 0 in insertion order. Record pointers are invalidated by inserts.
 */
struct idtab {
    size_t rec_size;
    char *recs;
    size_t len, cap;
    uint64_t *slots; /* (hash tag << 32) | (id+1); 0 = empty */
    size_t mask;
};

void idtab_init(struct idtab *t, size_t rec_size);
void idtab_release(struct idtab *t);
/* Returns the id of rec, inserting a copy if new. */
uint32_t idtab_intern(struct idtab *t, const void *rec);
/* Returns the id of rec if present, else UINT32_MAX. */
uint32_t idtab_find(const struct idtab *t, const void *rec);
/* Borrowed; valid until the next insert. */
static inline const void *idtab_get(const struct idtab *t, uint32_t id)
{
    return t->recs + (size_t)id * t->rec_size;
}

#endif
