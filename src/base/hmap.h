/* hmap.h - open-addressing hash map from uint64 keys to uint64 values */
#ifndef EMBER_BASE_HMAP_H
#define EMBER_BASE_HMAP_H

#include <stddef.h>
#include <stdint.h>

/* Key UINT64_MAX is reserved (the empty marker). Zero-initialise or hmap_init(). */
struct hmap {
    uint64_t *keys;
    uint64_t *vals;
    size_t len, mask; /* mask+1 = capacity (power of two) or 0 when empty */
};

void hmap_init(struct hmap *m);
void hmap_release(struct hmap *m);
void hmap_clear(struct hmap *m);
/* Returns a pointer to the value of key, or NULL. Borrowed until the next insert. */
uint64_t *hmap_get(const struct hmap *m, uint64_t key);
/* Returns a pointer to key's value, inserting it with value 0 if absent (*created set). */
uint64_t *hmap_put(struct hmap *m, uint64_t key, int *created);

#endif
