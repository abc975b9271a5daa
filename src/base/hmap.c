/* hmap.c - open-addressing (linear probing) uint64 -> uint64 map */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "xalloc.h"

#define EMPTY UINT64_MAX

void hmap_init(struct hmap *m)
{
    memset(m, 0, sizeof(*m));
}

void hmap_release(struct hmap *m)
{
    free(m->keys);
    free(m->vals);
    hmap_init(m);
}

void hmap_clear(struct hmap *m)
{
    if (m->keys)
        memset(m->keys, 0xff, (m->mask + 1) * sizeof(uint64_t));
    m->len = 0;
}

uint64_t *hmap_get(const struct hmap *m, uint64_t key)
{
    if (!m->keys)
        return NULL;
    size_t i = hash_u64(key) & m->mask;
    for (;;) {
        if (m->keys[i] == key)
            return &m->vals[i];
        if (m->keys[i] == EMPTY)
            return NULL;
        i = (i + 1) & m->mask;
    }
}

static void rehash(struct hmap *m, size_t cap)
{
    uint64_t *ok = m->keys, *ov = m->vals;
    size_t ocap = m->keys ? m->mask + 1 : 0;
    m->keys = xmalloc(cap * sizeof(uint64_t));
    m->vals = xmalloc(cap * sizeof(uint64_t));
    memset(m->keys, 0xff, cap * sizeof(uint64_t));
    m->mask = cap - 1;
    for (size_t j = 0; j < ocap; j++) {
        if (ok[j] == EMPTY)
            continue;
        size_t i = hash_u64(ok[j]) & m->mask;
        while (m->keys[i] != EMPTY)
            i = (i + 1) & m->mask;
        m->keys[i] = ok[j];
        m->vals[i] = ov[j];
    }
    free(ok);
    free(ov);
}

uint64_t *hmap_put(struct hmap *m, uint64_t key, int *created)
{
    if (!m->keys || (m->len + 1) * 4 > (m->mask + 1) * 3)
        rehash(m, m->keys ? (m->mask + 1) * 2 : 16);
    size_t i = hash_u64(key) & m->mask;
    for (;;) {
        if (m->keys[i] == key) {
            if (created)
                *created = 0;
            return &m->vals[i];
        }
        if (m->keys[i] == EMPTY)
            break;
        i = (i + 1) & m->mask;
    }
    m->keys[i] = key;
    m->vals[i] = 0;
    m->len++;
    if (created)
        *created = 1;
    return &m->vals[i];
}
