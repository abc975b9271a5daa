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

static void rehash(struct strtab *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 64;
    free(t->slots);
    t->slots = xcalloc(cap, sizeof(uint32_t));
    t->mask = cap - 1;
    for (size_t id = 0; id < t->len; id++) {
        size_t i = hash_bytes(t->ptrs[id], t->lens[id]) & t->mask;
        while (t->slots[i])
            i = (i + 1) & t->mask;
        t->slots[i] = (uint32_t)id + 1;
    }
}

uint32_t strtab_find(const struct strtab *t, const char *s, size_t n)
{
    if (!t->slots)
        return UINT32_MAX;
    size_t i = hash_bytes(s, n) & t->mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (!v)
            return UINT32_MAX;
        if (t->lens[v - 1] == n && !memcmp(t->ptrs[v - 1], s, n))
            return v - 1;
        i = (i + 1) & t->mask;
    }
}

uint32_t strtab_intern(struct strtab *t, const char *s, size_t n)
{
    if (!t->slots || (t->len + 1) * 4 > (t->mask + 1) * 3)
        rehash(t);
    size_t i = hash_bytes(s, n) & t->mask;
    for (;;) {
        uint32_t v = t->slots[i];
        if (!v)
            break;
        if (t->lens[v - 1] == n && !memcmp(t->ptrs[v - 1], s, n))
            return v - 1;
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
    t->slots[i] = id + 1;
    return id;
}

uint32_t strtab_intern_cstr(struct strtab *t, const char *s)
{
    return strtab_intern(t, s, strlen(s));
}
