/* wal.h - the write-ahead log: checksummed records in size-rotated segments, group commit */
#ifndef EMBER_STORE_WAL_H
#define EMBER_STORE_WAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/xalloc.h"

/*
 * On disk (little endian; see docs/internals/STORE.md): a directory of
 * segments named %016llx.wal. A segment starts with the 16-byte header
 * "EMBERWAL" u32 version u32 check (low 32 bits of XXH3 of the first 12 bytes), then records:
 *
 *   u32 WAL_REC_MAGIC | u32 len | u64 xxh3(payload, seed = len) | payload[len]
 */
#define WAL_SEG_MAGIC        "EMBERWAL"
#define WAL_VERSION          1u
#define WAL_SEG_HDR          16u
#define WAL_REC_MAGIC        0x31435245u /* "ERC1" */
#define WAL_REC_HDR          16u
#define WAL_MAX_RECORD       (512u << 20)
#define WAL_SEG_DEFAULT      (64u << 20)
#define WAL_PREALLOC_DEFAULT (4u << 20)
/*
 * fdatasync calls that may run at once on the current segment, each on its
 * own descriptor (opened before any record is written, so each one reports
 * every write-back error that happens after it: see wal.c).
 */
#define WAL_SYNC_FDS 2

/*
 * Called once per valid record during replay, in log order; payload is
 * borrowed for the call. A non-zero return is logged with the record's
 * file and offset and the record is skipped (replay goes on).
 */
typedef int (*wal_replay_cb)(const uint8_t *payload, size_t len, void *arg);

struct wal_waiter;
struct wal_seg_info {
    uint64_t no, size;
};

struct wal {
    char *dir;
    uint64_t seg_max;  /* rotate when a record would take a segment past this */
    uint64_t prealloc; /* zero-fill the segment this far ahead of the writes; 0 = off */
    int do_sync;       /* 0: acknowledge after write(2) only */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* the segment being written; all under mu */
    int fd; /* -1 when broken and not yet rotated */
    uint64_t seg_no;
    uint64_t size;             /* bytes written to the current segment */
    uint64_t synced_size;      /* its prefix known durable */
    uint64_t alloc;            /* bytes of the segment file (records + zero-filled room) */
    uint64_t written_seq;      /* records written since open */
    int sync_fd[WAL_SYNC_FDS]; /* the segment opened again, one per concurrent sync */
    unsigned sync_busy;        /* bit i: a sync runs on sync_fd[i] (mu released) */
    int syncing;               /* syncs running */
    uint64_t inflight_seq;     /* highest seq a running sync covers */
    uint64_t sync_gen;         /* bumped by a failed sync: running syncs' results are void */
    int rotating;              /* a rotation is draining the pending records */
    int broken;                /* the segment's tail could not be cleaned: rotate before writing */
    struct wal_waiter *pending, *pending_tail;
    /* the closed segments still on disk: number and size, ascending; under mu */
    VEC(struct wal_seg_info) closed;
    uint64_t replay_seg; /* during wal_open: the segment whose records cb receives */
    /* statistics, under mu */
    uint64_t closed_bytes; /* bytes of the other segments */
    uint64_t nsyncs, sync_ns_total, sync_ns_max;
    uint64_t nrecords;
};

/*
 * Opens the log in dir (created if missing): replays every segment through
 * cb, cutting a torn or corrupt tail (logged with file and offset), then
 * starts a new segment. With do_sync, segments are zero-filled prealloc
 * bytes ahead of the writes (0 = off) so that most fdatasyncs flush data
 * only, not the file size. Returns 0, or a negative error if the directory or
 * a new segment cannot be created, or a segment has a newer format version
 * (-EMBER_EUNSUPPORTED). The cause is logged.
 */
int wal_open(struct wal *w, const char *dir, uint64_t seg_max, uint64_t prealloc, int do_sync,
             wal_replay_cb cb, void *arg);
/* Waits for a running sync and closes the segment. Accepts a zeroed or closed wal. */
void wal_close(struct wal *w);

/*
 * Appends one record and returns once it is durable (group commit: an
 * appender whose record no running fdatasync covers starts one at once, up
 * to WAL_SYNC_FDS at a time, so a record waits for about one sync).
 * rec holds WAL_REC_HDR bytes of room followed by the payload; rec_len
 * counts both; the header is filled in here. Returns 0, or a negative
 * error (-EIO, -ENOSPC, ...) if the write or the sync failed: the record
 * then is not acknowledged, and the segment is cut back to its last
 * durable size so a restart does not replay it (see STORE.md for the one
 * case where the cut itself fails). Thread-safe.
 */
int wal_append(struct wal *w, uint8_t *rec, size_t rec_len);

/*
 * Closes the current segment (after syncing what is pending) and starts a
 * new one; *seg receives its number: every record appended before the call
 * returned is in a segment numbered below it. The caller keeps appends out
 * while it matters which side of the cut they land on. Returns 0 or a
 * negative error (logged).
 */
int wal_cut(struct wal *w, uint64_t *seg);
/*
 * Deletes the closed segments numbered below seg (their records are in
 * block files: a checkpoint) and syncs the directory. Returns 0 or the
 * first error (logged; the remaining segments are kept and replayed).
 */
int wal_drop_below(struct wal *w, uint64_t seg);

struct wal_stats {
    uint64_t disk_bytes, records, syncs, sync_ns_total, sync_ns_max;
};
/* Bytes of every segment on disk, records written or replayed since open, fsync count and time. */
void wal_get_stats(struct wal *w, struct wal_stats *st);

#endif
