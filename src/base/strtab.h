/* strtab.h - string interning: each distinct string gets a dense uint32 id */
#ifndef EMBER_BASE_STRTAB_H
#define EMBER_BASE_STRTAB_H

#include <stddef.h>
#include <stdint.h>

/*
 * Id 0 is always the empty string. Strings are stored NUL-terminated in
 * chunked memory, so pointers returned by strtab_get() stay valid until
 * strtab_release(), even as more strings are interned.
 */
struct strtab {
    char **ptrs;     /* id -> string */
    uint32_t *lens;  /* id -> length */
    size_t len, cap; /* number of ids */
    uint64_t *slots; /* hash table of (hash tag << 32) | (id+1); 0 = empty */
    size_t mask;
    char *chunk; /* current allocation chunk */
    size_t chunk_used, chunk_cap;
    char **chunks;
    size_t nchunks, chunks_cap;
    size_t bytes; /* total string bytes held */
};

void strtab_init(struct strtab *t);
void strtab_release(struct strtab *t);
/* Returns the id of s (n bytes), interning a copy if new. */
uint32_t strtab_intern(struct strtab *t, const char *s, size_t n);
uint32_t strtab_intern_cstr(struct strtab *t, const char *s);
/* Returns the id of s if present, else UINT32_MAX. */
uint32_t strtab_find(const struct strtab *t, const char *s, size_t n);
/* Borrowed, NUL-terminated; valid until strtab_release(). id must be < t->len. */
static inline const char *strtab_get(const struct strtab *t, uint32_t id)
{
    return t->ptrs[id];
}
static inline uint32_t strtab_strlen(const struct strtab *t, uint32_t id)
{
    return t->lens[id];
}

#endif
