/* head.h - one tenant's in-memory head: global symbols, series index with postings, profiles */
#ifndef EMBER_STORE_HEAD_H
#define EMBER_STORE_HEAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/hmap.h"
#include "base/strtab.h"
#include "base/xalloc.h"
#include "profile/labels.h"
#include "profile/profile.h"

struct selector;
struct stackset;
struct strlist;

/*
 * One stored profile. Its samples are nsamples pairs (varint global stack
 * id, zigzag varint value) in the head's arena: about 5-7 bytes a sample.
 */
struct hprofile {
    int64_t time_ns;
    int64_t duration_ns;
    int64_t total; /* sum of values, for totals without decoding */
    const uint8_t *data;
    uint32_t len;
    uint32_t nsamples;
    uint32_t count; /* raw profiles summed into this one: 1, or more in a rollup bucket */
};

struct hseries {
    uint32_t *pairs;               /* n x (name id, value id) in the head's lstr, sorted by name */
    struct labels view;            /* borrowed pointers into lstr: never labels_release() it */
    uint64_t hash;                 /* of pairs */
    uint32_t next_same;            /* next series with the same hash, UINT32_MAX = none */
    VEC(struct hprofile) profiles; /* sorted by time_ns */
};

struct head_chunk;

/*
 * A tenant's head. Appliers take lock for writing, queries for reading;
 * everything below is protected by it.
 */
struct head {
    char *tenant;
    pthread_rwlock_t lock;
    struct symtab sym;  /* strings, frames, stack tree; global ids */
    struct strtab lstr; /* label names and values */
    VEC(struct hseries *) series;
    struct hmap by_hash;         /* series hash -> first series id */
    struct hmap postings_idx;    /* name id << 32 | value id -> index into postings */
    VEC(VEC(uint32_t)) postings; /* ascending series ids */
    struct head_chunk *chunks;   /* sample arena */
    size_t chunk_used, chunk_cap;
    uint64_t nprofiles, nsamples, arena_bytes;
    int64_t min_t, max_t; /* of the profiles' times; INT64_MAX, INT64_MIN when empty */
};

/* Returns a new, empty head for tenant (copied). */
struct head *head_new(const char *tenant, size_t tenant_len);
/* Accepts NULL. */
void head_free(struct head *h);

/*
 * Adds the profiles of a record payload (see record.h) that was produced by
 * record_encode() or passed record_validate(): ids are trusted. Takes the
 * write lock itself.
 */
void head_apply(struct head *h, const uint8_t *payload, size_t len);

/*
 * Building blocks for block.c (loading a block into a head, merging heads);
 * the caller holds the write lock or owns h alone.
 * head_series_get(): id of the series with these (name id, value id) pairs
 * in h->lstr (sorted by name), added if new; with postings 0 the caller
 * fills h->postings itself.
 * head_arena_reserve(): room for need bytes; head_add_profile() takes
 * hp->len bytes of it (hp->data must point there) and files the profile.
 */
uint32_t head_series_get(struct head *h, const uint32_t *pairs, size_t n, int postings);
uint8_t *head_arena_reserve(struct head *h, size_t need);
void head_add_profile(struct head *h, uint32_t sid, const struct hprofile *hp);

/*
 * Queries: each takes the read lock. sel may be NULL (every series); only
 * series with a profile in [from, until) take part.
 */
int head_merge(struct head *h, const struct selector *sel, int64_t from, int64_t until,
               struct stackset *ss);
/* Adds each profile's total with time in [from, until) to values[(time - origin) / step]. */
int head_totals(struct head *h, const struct selector *sel, int64_t from, int64_t until,
                int64_t origin, int64_t step, int64_t *values, size_t nsteps);
/* Adds the label names (name NULL) or the values of label name to set (string ids in set_tab). */
void head_label_strings(struct head *h, const struct selector *sel, int64_t from, int64_t until,
                        const char *name, struct strtab *set);
/* Appends deep copies of the matching series' labels to out (which grows; n updated). */
void head_series_labels(struct head *h, const struct selector *sel, int64_t from, int64_t until,
                        struct labels **out, size_t *n, size_t *cap);

struct head_stats {
    uint64_t series, profiles, samples, bytes;
};
void head_get_stats(struct head *h, struct head_stats *st);

#endif
