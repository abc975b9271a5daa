/* store.h - the storage interface: durable append, and aggregations answered by the backend */
#ifndef EMBER_STORE_STORE_H
#define EMBER_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "profile/labels.h"
#include "profile/profile.h"

struct selector;
struct store;

struct store_opts {
    const char *data_dir;       /* created if missing */
    int64_t retention_ns;       /* 0 = keep forever */
    uint64_t retention_bytes;   /* 0 = no size cap */
    int fsync;                  /* 1 (default): acknowledge only after fsync */
    uint64_t wal_segment_bytes; /* WAL segments rotate past this size; 0 = 64 MiB */
    int64_t
        wal_prealloc_bytes; /* zero-filled room kept ahead of WAL writes; 0 = 4 MiB, <0 = none */
    /* blocks (see docs/internals/STORE.md); zeros = defaults */
    uint64_t head_max_bytes;  /* cut the heads into block files past this sample arena; 64 MiB */
    int64_t head_max_span_ns; /* ... or when a head's data spans this much time; 1 h */
    uint64_t cache_bytes;     /* decoded block data kept for queries; 256 MiB */
    int background;           /* 1 (default): a thread cuts, compacts and applies retention */
    /* the wall clock for retention and compaction (tests); NULL = time_now_ns() */
    int64_t (*clock)(void *arg);
    void *clock_arg;
};

void store_opts_default(struct store_opts *o);

/*
 * Opens (creating if needed) the store in o->data_dir and recovers what was
 * acknowledged before. Returns 0 and sets *out, or a negative error (the
 * cause is logged with the path).
 */
int store_open(struct store **out, const struct store_opts *o);
/* Flushes and closes; accepts NULL. No other call on s may be running or start. */
void store_close(struct store *s);

/*
 * Appends every profile of b for tenant. Each profile's labels must hold
 * __profile_type__ and service_name. Durable on return (0). On failure
 * nothing of b is visible to queries and a negative error is returned.
 * Safe to call from several threads at once.
 */
int store_append(struct store *s, const char *tenant, const struct profile_batch *b);

/*
 * A query scope: tenant, series selector, and time range [from_ns, until_ns).
 * A tenant without data (or tenant NULL = "anonymous" with none) gives empty results.
 */
struct store_query {
    const char *tenant;
    const struct selector *sel; /* NULL = every series */
    int64_t from_ns, until_ns;
};

/* The result of store_merge(): sum of values per stack, with its own symbols. */
struct stackset {
    struct symtab sym;
    VEC(struct sample) samples; /* stacks unique */
    int64_t total;
    size_t nprofiles; /* profiles that contributed */
};

void stackset_init(struct stackset *ss);
void stackset_release(struct stackset *ss);

/*
 * Sums values per stack over every profile of the matching series whose
 * time falls in the range. ss must be initialised; it receives symbols and
 * samples. Returns 0 or a negative error.
 */
int store_merge(struct store *s, const struct store_query *q, struct stackset *ss);

/*
 * Totals per step: values[i] = sum of all values of matching profiles with
 * time in [from + i*step, from + (i+1)*step). values has nsteps entries,
 * zeroed by the caller.
 */
int store_totals(struct store *s, const struct store_query *q, int64_t step_ns, int64_t *values,
                 size_t nsteps);

/* A list of owned strings (sorted, unique). */
struct strlist {
    char **v;
    size_t n, cap;
};
void strlist_release(struct strlist *l);

/* Label names of matching series with data in the range. */
int store_label_names(struct store *s, const struct store_query *q, struct strlist *out);
/* Values of label name in matching series with data in the range. */
int store_label_values(struct store *s, const struct store_query *q, const char *name,
                       struct strlist *out);

/* Callback for store_series(): labels borrowed for the call. Non-zero stops (and is returned). */
typedef int (*store_series_cb)(const struct labels *l, void *arg);
/* Calls cb for each matching series with data in the range, in label order. */
int store_series(struct store *s, const struct store_query *q, store_series_cb cb, void *arg);

/*
 * Maintenance, normally run by the store's own thread (opts.background):
 * store_flush() cuts every tenant's head into level-1 block files now and
 * deletes the WAL segments they cover; store_maintain() cuts the heads that
 * are due (size or time span), compacts the level-1 blocks of each ended
 * day into one level-2 block, applies retention and trims the block cache.
 * Both return 0 or the first error (logged; nothing acknowledged is lost:
 * what could not be written stays in memory and in the WAL).
 */
int store_flush(struct store *s);
int store_maintain(struct store *s);

#define STORE_LEVELS 3 /* block levels 1.. (index 0 unused) */

/* Statistics for /metrics. */
struct store_stats {
    uint64_t series, profiles, samples; /* series: of the heads; profiles, samples: everywhere */
    uint64_t bytes_on_disk;             /* wal + blocks */
    uint64_t head_bytes;
    /* write-ahead log: records appended or replayed, fsyncs and their latency */
    uint64_t wal_records, wal_syncs, wal_sync_ns_total, wal_sync_ns_max;
    uint64_t wal_bytes;
    uint64_t blocks[STORE_LEVELS], block_bytes[STORE_LEVELS]; /* per level; [0]: being written */
    uint64_t cache_bytes;                                     /* decoded blocks in memory */
    uint64_t cuts, compactions, blocks_deleted, maintenance_errors;
};
void store_get_stats(struct store *s, struct store_stats *st);

#endif
