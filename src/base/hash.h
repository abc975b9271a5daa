/* hash.h - hash functions (xxHash3) */
#ifndef EMBER_BASE_HASH_H
#define EMBER_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t hash_bytes(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

/* A fast 64-bit integer mixer (splitmix64 finaliser). */
static inline uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif
