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
 *   section table: BLOCK_NSEC x (u64 offset, u64 compressed len, u64 raw len,
 *                                u64 XXH3 of the compressed bytes)
 *   u32 nsections u32 check(low 32 bits of XXH3 of the table) "EMBEREND"
 *
 * RAW holds every profile; ROLLUP_1M / ROLLUP_1H hold per series one
 * profile per minute / hour bucket (time = bucket start) whose samples are
 * the sums per stack of the raw profiles in it.
 */
#define BLOCK_MAGIC     "EMBERBLK"
#define BLOCK_END_MAGIC "EMBEREND"
#define BLOCK_VERSION   1u
#define BLOCK_HDR       16u
#define BLOCK_TRAILER   16u
#define BLOCK_MAX_RAW   (1u << 30) /* largest section accepted when reading */

enum block_sec { SEC_META, SEC_SYMBOLS, SEC_SERIES, SEC_RAW, SEC_1M, SEC_1H, BLOCK_NSEC };
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
    uint64_t sec[BLOCK_NSEC][4]; /* offset, compressed len, raw len, hash */
    pthread_mutex_t mu;          /* view loading */
    struct head *view[BLOCK_NRES];
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

/* Frees the loaded views of a file block (cache eviction); returns the bytes freed. */
uint64_t block_drop_views(struct block *b);

/*
 * Merges heads src[0..n) into a new head (series by labels, stacks by
 * frames). Each src is read-locked in turn.
 */
struct head *block_merge_heads(struct head *const *src, size_t n, const char *tenant);

void block_meta_release(struct block_meta *m);

#endif
