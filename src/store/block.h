/* block.h - immutable block files: one tenant's profiles over a time range, with rollups */
#ifndef EMBER_STORE_BLOCK_H
#define EMBER_STORE_BLOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct head;

/*
 * A block file (little endian; see docs/internals/STORE.md):
 *
 *   "EMBERBLK" u32 version u32 check(low 32 bits of XXH3 of the first 12 bytes)
 *   sections, each compressed with zstd: META SYMBOLS SERIES RAW ROLLUP_1M ROLLUP_1H
 *     TOTALS, then the raw parts PART_0 .. PART_n-1
 *   section table: nsections x (u64 offset, u64 compressed len, u64 raw len,
 *                               u64 XXH3 of the compressed bytes)
 *   u32 nsections u32 check(low 32 bits of XXH3 of the table) "EMBEREND"
 *
 * Version 2: RAW is the index of the raw parts (n, then per part its first
 * and last possible profile time); part i holds the profiles of one UTC hour
 * (BLOCK_PART_NS), so a query edge decodes only the hours it touches.
 * TOTALS holds per series each profile's time, duration, total and count
 * (no samples), for totals and label queries. ROLLUP_1M / ROLLUP_1H hold
 * per series one profile per minute / hour bucket (time = bucket start)
 * whose samples are the sums per stack of the raw profiles in it.
 * Version 1 (still read): six sections, RAW holds every profile, no TOTALS.
 */
#define BLOCK_MAGIC     "EMBERBLK"
#define BLOCK_END_MAGIC "EMBEREND"
#define BLOCK_VERSION   2u
#define BLOCK_HDR       16u
#define BLOCK_TRAILER   16u
#define BLOCK_MAX_RAW   (1u << 30) /* largest section accepted when reading */

enum block_sec {
    SEC_META,
    SEC_SYMBOLS,
    SEC_SERIES,
    SEC_RAW,
    SEC_1M,
    SEC_1H,
    SEC_TOTALS,
    BLOCK_NSEC
};
#define BLOCK_NSEC_V1   6
#define BLOCK_PART_NS   (3600LL * 1000000000LL)
#define BLOCK_MAX_PARTS 100000
/* Resolutions of a block's views: raw profiles, minute and hour rollups. */
enum block_res { RES_RAW, RES_1M, RES_1H, BLOCK_NRES };
extern const int64_t block_res_ns[BLOCK_NRES]; /* 0, 60 s, 3600 s */

#define BLOCK_MAX_LEVEL 3

struct block_meta {
    char *tenant;
    uint32_t level;       /* 1 = cut from a head, 2 = a day compacted, ... */
    int64_t min_t, max_t; /* profile times, inclusive */
    uint64_t wal_seg;     /* this tenant's wal records in segments below this are in blocks */
    uint64_t nseries, nprofiles, nsamples;
    uint64_t *sources; /* ids of the blocks merged into this one (deleted after) */
    size_t nsources;
};

/*
 * A block in memory: a file on disk (path set) or a head not yet written
 * (path NULL: the live head, or a frozen one being written). Reference
 * counted; the list holding it owns one reference. A file block marked dead
 * is unlinked when its last reference goes (queries running on it finish
 * first).
 */
struct block {
    int refs;
    uint64_t id;
    char *path;
    struct block_meta meta;
    uint64_t file_bytes;
    uint32_t version, nsec;
    uint64_t (*sec)[4]; /* nsec x (offset, compressed len, raw len, hash) */
    uint32_t nparts;
    int64_t (*part_t)[2];          /* per raw part: first and last possible profile time */
    pthread_mutex_t mu;            /* view loading */
    struct head *view[BLOCK_NRES]; /* RES_RAW: every part in one head (compaction) */
    struct head **part_view;       /* nparts: one raw part each */
    struct head *totals_view;      /* profiles without samples (version 2) */
    uint64_t view_bytes;
    int64_t last_used;  /* monotonic ns, for cache eviction */
    uint64_t wal_first; /* in-memory block: its records are in wal segments from this one on */
    int dead, corrupt;
};

/*
 * Writes head h (read-locked here) as block id in dir: "<id %016x>.blk",
 * through a ".tmp" file that is synced, renamed and whose directory is
 * synced (when do_sync). meta gives tenant, level, wal_seg and sources; the
 * times and counts are taken from h. Returns 0 and the new block (one
 * reference, no view loaded) in *out, or a negative error (logged, the
 * temporary file removed).
 */
int block_write(const char *dir, uint64_t id, struct head *h, const struct block_meta *meta,
                int do_sync, struct block **out);

/*
 * Opens the block file at path: checks header, trailer, section table and
 * reads META. Returns 0 and *out (one reference), or -EMBER_ECORRUPT /
 * -errno (logged with the path and byte offset).
 */
int block_open(struct block **out, const char *path, uint64_t id);

/* Wraps an in-memory head (ownership passes to the block) as a block with no file. */
struct block *block_mem(struct head *h, const char *tenant);

void block_ref(struct block *b);
/* Drops a reference; the last frees it (and unlinks the file of a dead block). Accepts NULL. */
void block_unref(struct block *b);

/*
 * The head of resolution res (raw profiles, or a rollup), loaded on first
 * use; borrowed while the caller holds a reference. An in-memory block has
 * only RES_RAW. Returns NULL if the block cannot be read (logged with its
 * path; the block is marked corrupt and skipped from then on).
 */
struct head *block_view(struct block *b, int res);

/*
 * Raw part i of a file block (i < nparts), or the totals view (profiles with
 * time, duration, total and count but no samples; NULL for a version 1
 * block, see block_has_totals). Loaded on first use, like block_view.
 */
struct head *block_view_part(struct block *b, size_t i);
struct head *block_view_totals(struct block *b);
static inline int block_has_totals(const struct block *b)
{
    return b->path && b->version >= 2;
}

/* Frees the loaded views of a file block (cache eviction); returns the bytes freed. */
uint64_t block_drop_views(struct block *b);

/*
 * Merges heads src[0..n) into a new head (series by labels, stacks by
 * frames). Each src is read-locked in turn.
 */
struct head *block_merge_heads(struct head *const *src, size_t n, const char *tenant);

void block_meta_release(struct block_meta *m);

#endif
