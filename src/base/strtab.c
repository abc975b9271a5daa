/* strtab.c - string interning with a chunked arena and an open-addressing index */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "xalloc.h"

#define CHUNK_MIN (64 * 1024)

void strtab_init(struct strtab *t)
{
    memset(t, 0, sizeof(*t));
    strtab_intern(t, "", 0);
}

void strtab_release(struct strtab *t)
{
    for (size_t i = 0; i < t->nchunks; i++)
        free(t->chunks[i]);
    free(t->chunks);
    free(t->ptrs);
    free(t->lens);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static char *store_bytes(struct strtab *t, const char *s, size_t n)
{
    if (t->chunk_used + n + 1 > t->chunk_cap) {
        size_t cap = n + 1 > CHUNK_MIN ? n + 1 : CHUNK_MIN;
        t->chunk = xmalloc(cap);
        t->chunk_cap = cap;
        t->chunk_used = 0;
        t->chunks = xgrow(t->chunks, sizeof(char *), t->nchunks + 1, &t->chunks_cap);
        t->chunks[t->nchunks++] = t->chunk;
    }
    char *p = t->chunk + t->chunk_used;
    if (n)
        memcpy(p, s, n);
    p[n] = 0;
    t->chunk_used += n + 1;
    t->bytes += n;
    return p;
}

static inline size_t slot_of(uint32_t tag, size_t mask)
{
    return ((uint64_t)tag * 0x9e3779b1u) & mask;
}

static void rehash(struct strtab *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 64;
    uint64_t *old = t->slots;
    size_t ocap = old ? t->mask + 1 : 0;
    t->slots = xcalloc(cap, sizeof(uint64_t));
    t->mask = cap - 1;
    for (size_t j = 0; j < ocap; j++) {
        uint64_t v = old[j];
        if (!v)
            continue;
        size_t i = slot_of((uint32_t)(v >> 32), t->mask);
        while (t->slots[i])
            i = (i + 1) & t->mask;
        t->slots[i] = v;
    }
    free(old);
}

uint32_t strtab_find(const struct strtab *t, const char *s, size_t n)
{
    if (!t->slots)
        return UINT32_MAX;
    uint32_t tag = (uint32_t)(hash_bytes(s, n) >> 32);
    size_t i = slot_of(tag, t->mask);
    for (;;) {
        uint64_t v = t->slots[i];
        if (!v)
            return UINT32_MAX;
        uint32_t id = (uint32_t)v - 1;
        if ((uint32_t)(v >> 32) == tag && t->lens[id] == n && !memcmp(t->ptrs[id], s, n))
            return id;
        i = (i + 1) & t->mask;
    }
}

uint32_t strtab_intern(struct strtab *t, const char *s, size_t n)
{
    if (!t->slots || (t->len + 1) * 4 > (t->mask + 1) * 3)
        rehash(t);
    uint32_t tag = (uint32_t)(hash_bytes(s, n) >> 32);
    size_t i = slot_of(tag, t->mask);
    for (;;) {
        uint64_t v = t->slots[i];
        if (!v)
            break;
        uint32_t vid = (uint32_t)v - 1;
        if ((uint32_t)(v >> 32) == tag && t->lens[vid] == n && !memcmp(t->ptrs[vid], s, n))
            return vid;
        i = (i + 1) & t->mask;
    }
    if (t->len == t->cap) {
        size_t c = t->cap;
        t->ptrs = xgrow(t->ptrs, sizeof(char *), t->len + 1, &c);
        t->lens = xrealloc(t->lens, c * sizeof(uint32_t));
        t->cap = c;
    }
    uint32_t id = (uint32_t)t->len++;
    t->ptrs[id] = store_bytes(t, s, n);
    t->lens[id] = (uint32_t)n;
    t->slots[i] = ((uint64_t)tag << 32) | (id + 1);
    return id;
}

uint32_t strtab_intern_cstr(struct strtab *t, const char *s)
{
    return strtab_intern(t, s, strlen(s));
}
