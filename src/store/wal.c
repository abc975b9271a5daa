/* wal.c - write-ahead log: segment files, replay with torn-tail repair, group commit */
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/timeutil.h"
#include "base/xalloc.h"
#include "io.h"
#include "store_int.h"

/* An appender waiting for its record to be synced; lives on the appender's stack. */
struct wal_waiter {
    uint64_t seq;
    int done, err;
    struct wal_waiter *next;
};

static char *seg_path(const struct wal *w, uint64_t no)
{
    return xasprintf("%s/%016" PRIx64 ".wal", w->dir, no);
}

static uint64_t rec_hash(const uint8_t *payload, uint32_t len)
{
    return XXH3_64bits_withSeed(payload, len, (uint64_t)len << 32 | WAL_REC_MAGIC);
}

/* Check word of a segment header: over its first 12 bytes. */
static uint32_t hdr_check(const uint8_t *hdr)
{
    return (uint32_t)XXH3_64bits(hdr, 12);
}

/* ---- replay ---- */

static int all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/*
 * Cuts the segment at path to len bytes (a torn or corrupt tail) and syncs
 * it; len 0 (nothing valid, not even the header) removes the file.
 */
static void cut_segment(const char *path, uint64_t len)
{
    int err;
    if (len == 0) {
        err = io_unlink(path);
    } else {
        int fd = io_open(path, O_RDWR, 0);
        err = fd < 0 ? fd : io_ftruncate(fd, (off_t)len);
        if (!err)
            err = io_fdatasync(fd);
        io_close(fd);
    }
    if (err)
        log_error("cannot cut wal segment '%s' to %" PRIu64 " bytes: %s (will retry at next start)",
                  path, len, ember_strerror(err));
}

/*
 * Replays one segment. Returns 0 (a torn/corrupt tail is logged and cut),
 * or a negative error for an unreadable file or an unsupported version.
 * *size receives the segment's valid size (0 if removed).
 */
static int replay_segment(struct wal *w, const char *path, wal_replay_cb cb, void *arg,
                          uint64_t *size)
{
    uint8_t *data = NULL;
    struct stat st;
    int err, fd = io_open(path, O_RDONLY, 0);
    *size = 0;
    if (fd < 0) {
        err = fd;
        log_error("cannot open wal segment '%s': %s", path, ember_strerror(err));
        goto out;
    }
    err = io_fstat(fd, &st);
    if (err) {
        log_error("cannot stat wal segment '%s': %s", path, ember_strerror(err));
        goto out;
    }
    uint64_t n = (uint64_t)st.st_size;
    data = xmalloc(n ? n : 1);
    err = io_pread_full(fd, data, n, 0);
    if (err) {
        log_error("cannot read wal segment '%s': %s", path, ember_strerror(err));
        goto out;
    }
    static const uint8_t zeros[WAL_SEG_HDR];
    if (n < WAL_SEG_HDR || !memcmp(data, zeros, WAL_SEG_HDR)) {
        /* a crash while creating the segment leaves it short (or zero-filled) */
        log_warn("wal segment '%s' has no header (%" PRIu64 " bytes); removing it", path, n);
        cut_segment(path, 0);
        goto out;
    }
    if (memcmp(data, WAL_SEG_MAGIC, 8) || get_le32(data + 12) != hdr_check(data)) {
        char *aside = xasprintf("%s.corrupt", path);
        log_error("wal segment '%s' has a corrupt header; moving it to '%s' (its %" PRIu64
                  " bytes are not replayed)",
                  path, aside, n);
        int e = io_rename(path, aside);
        if (e)
            log_error("cannot rename '%s': %s", path, ember_strerror(e));
        free(aside);
        goto out;
    }
    uint32_t version = get_le32(data + 8);
    if (version != WAL_VERSION) {
        log_error("wal segment '%s' has format version %u; this build reads version %u", path,
                  version, WAL_VERSION);
        err = -EMBER_EUNSUPPORTED;
        goto out;
    }
    uint64_t off = WAL_SEG_HDR;
    const char *why = NULL;
    while (off < n) {
        if (n - off < WAL_REC_HDR) {
            why = "truncated record header";
            break;
        }
        const uint8_t *h = data + off;
        uint32_t len = get_le32(h + 4);
        if (get_le32(h) == 0 && all_zero(h, n - off)) {
            /* the zero-filled room of a preallocated segment: the normal end */
            cut_segment(path, off);
            break;
        }
        if (get_le32(h) != WAL_REC_MAGIC) {
            why = "bad record magic";
            break;
        }
        if (len > WAL_MAX_RECORD || len > n - off - WAL_REC_HDR) {
            why = len > WAL_MAX_RECORD ? "record length too large" : "truncated record";
            break;
        }
        if (rec_hash(h + WAL_REC_HDR, len) != get_le64(h + 8)) {
            why = "record checksum mismatch";
            break;
        }
        int r = cb(h + WAL_REC_HDR, len, arg);
        if (r)
            log_error("wal '%s': skipping record at offset %" PRIu64 ": %s", path, off,
                      ember_strerror(r));
        w->nrecords++;
        off += WAL_REC_HDR + len;
    }
    if (why) {
        log_warn("wal '%s': %s at offset %" PRIu64 "; cutting %" PRIu64 " bytes of torn tail", path,
                 why, off, n - off);
        cut_segment(path, off);
    }
    *size = off;
out:
    io_close(fd);
    free(data);
    return err;
}

static int parse_seg_no(const char *name, uint64_t *no)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name, &end, 16);
    if (errno || end == name || strcmp(end, ".wal"))
        return -1;
    *no = v;
    return 0;
}

/* ---- segments ---- */

static const uint8_t zero_chunk[1u << 20];

/* Writes zeros over [from, to) of fd. Returns 0 or a negative error. */
static int zero_fill(int fd, uint64_t from, uint64_t to)
{
    while (from < to) {
        size_t n = to - from < sizeof(zero_chunk) ? (size_t)(to - from) : sizeof(zero_chunk);
        int err = io_pwrite_full(fd, zero_chunk, n, (off_t)from);
        if (err)
            return err;
        from += n;
    }
    return 0;
}

/*
 * Makes room for need bytes in the current segment: zero-fills prealloc
 * bytes past need (at most up to seg_max), so that the records written
 * there later overwrite allocated blocks and their fdatasync has no file
 * size or extent change to commit. Best effort (a failure only costs
 * speed); mu held.
 */
static void extend(struct wal *w, uint64_t need)
{
    if (!w->prealloc || need <= w->alloc)
        return;
    uint64_t to = need + w->prealloc;
    if (to > w->seg_max)
        to = need > w->seg_max ? need : w->seg_max;
    int err = zero_fill(w->fd, w->alloc, to);
    if (err) {
        log_debug("cannot preallocate wal segment %016" PRIx64 " to %" PRIu64 " bytes: %s",
                  w->seg_no, to, ember_strerror(err));
        return;
    }
    w->alloc = to;
}

/* Closes the current segment's descriptors, dropping its zero-filled room. mu held, no sync. */
static void close_segment(struct wal *w)
{
    if (w->fd >= 0 && w->alloc > w->size)
        io_ftruncate(w->fd, (off_t)w->size); /* a failure leaves zeros: replay skips them */
    io_close(w->fd);
    w->fd = -1;
    for (int i = 0; i < WAL_SYNC_FDS; i++) {
        io_close(w->sync_fd[i]);
        w->sync_fd[i] = -1;
    }
    w->alloc = 0;
}

/* Creates segment w->seg_no + 1 (or later if taken) and makes it current. Called with mu held. */
static int new_segment(struct wal *w)
{
    uint8_t hdr[WAL_SEG_HDR];
    char *path = NULL;
    int fd = -1, err = 0;
    memcpy(hdr, WAL_SEG_MAGIC, 8);
    put_le32(hdr + 8, WAL_VERSION);
    put_le32(hdr + 12, hdr_check(hdr));
    for (int tries = 0;; tries++) {
        free(path);
        path = seg_path(w, w->seg_no + 1);
        fd = io_open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd != -EEXIST || tries > 1000)
            break;
        w->seg_no++;
    }
    if (fd < 0) {
        err = fd;
        log_error("cannot create wal segment '%s': %s", path, ember_strerror(err));
        goto out;
    }
    int sync_fd[WAL_SYNC_FDS];
    uint64_t alloc = WAL_SEG_HDR;
    for (int i = 0; i < WAL_SYNC_FDS; i++)
        sync_fd[i] = -1;
    err = io_pwrite_full(fd, hdr, sizeof(hdr), 0);
    if (!err && w->do_sync && w->prealloc) {
        alloc = WAL_SEG_HDR + w->prealloc < w->seg_max ? WAL_SEG_HDR + w->prealloc : w->seg_max;
        err = zero_fill(fd, WAL_SEG_HDR, alloc);
    }
    if (!err && w->do_sync)
        err = io_fdatasync(fd);
    if (!err && w->do_sync)
        err = io_fsync_dir(w->dir);
    /*
     * One descriptor per concurrent sync, opened before any record is
     * written: Linux reports a write-back error once per open file, so two
     * syncs sharing one could see the error in one and success in the other.
     */
    for (int i = 0; i < WAL_SYNC_FDS && !err && w->do_sync; i++) {
        sync_fd[i] = io_open(path, O_WRONLY, 0);
        if (sync_fd[i] < 0)
            err = sync_fd[i];
    }
    if (err) {
        log_error("cannot initialise wal segment '%s': %s", path, ember_strerror(err));
        io_close(fd);
        for (int i = 0; i < WAL_SYNC_FDS; i++)
            io_close(sync_fd[i]);
        fd = -1;
        io_unlink(path);
        goto out;
    }
    w->seg_no++;
    w->fd = fd;
    memcpy(w->sync_fd, sync_fd, sizeof(sync_fd));
    w->alloc = alloc;
    w->size = w->synced_size = WAL_SEG_HDR;
    w->broken = 0;
out:
    free(path);
    return err;
}

int wal_open(struct wal *w, const char *dir, uint64_t seg_max, uint64_t prealloc, int do_sync,
             wal_replay_cb cb, void *arg)
{
    char **names = NULL;
    size_t nnames = 0;
    int err;
    memset(w, 0, sizeof(*w));
    w->dir = xstrdup(dir);
    w->seg_max = seg_max ? seg_max : WAL_SEG_DEFAULT;
    w->prealloc = prealloc;
    w->do_sync = do_sync;
    w->fd = -1;
    for (int i = 0; i < WAL_SYNC_FDS; i++)
        w->sync_fd[i] = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    err = io_mkdir_p(dir, 0755);
    if (err) {
        log_error("cannot create wal directory '%s': %s", dir, ember_strerror(err));
        goto out;
    }
    err = io_list(dir, ".wal", &names, &nnames);
    if (err) {
        log_error("cannot list wal directory '%s': %s", dir, ember_strerror(err));
        goto out;
    }
    for (size_t i = 0; i < nnames; i++) {
        uint64_t no, size;
        if (parse_seg_no(names[i], &no)) {
            log_warn("ignoring unexpected file '%s/%s' in the wal directory", dir, names[i]);
            continue;
        }
        char *path = seg_path(w, no);
        w->replay_seg = no;
        err = replay_segment(w, path, cb, arg, &size);
        if (!err && size == WAL_SEG_HDR && io_unlink(path) == 0)
            size = 0; /* no records: one less file to read at the next start */
        free(path);
        if (err)
            goto out;
        w->closed_bytes += size;
        if (size) {
            struct wal_seg_info si = {no, size};
            VEC_PUSH(w->closed, si);
        }
        if (no > w->seg_no)
            w->seg_no = no;
    }
    err = new_segment(w);
out:
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (err)
        wal_close(w);
    return err;
}

void wal_close(struct wal *w)
{
    if (!w->dir)
        return;
    pthread_mutex_lock(&w->mu);
    while (w->syncing || w->pending)
        pthread_cond_wait(&w->cond, &w->mu);
    close_segment(w);
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cond);
    FREE_AND_NULL(w->dir);
    FREE_AND_NULL(w->closed.data);
    w->closed.len = w->closed.cap = 0;
    w->fd = -1;
}

/* ---- group commit ---- */

/* Completes the pending waiters with seq <= upto (all if upto is UINT64_MAX). mu held. */
static void complete(struct wal *w, uint64_t upto, int err)
{
    while (w->pending && w->pending->seq <= upto) {
        struct wal_waiter *x = w->pending;
        w->pending = x->next;
        x->done = 1;
        x->err = err;
    }
    if (!w->pending)
        w->pending_tail = NULL;
}

#define ALL_SYNC_SLOTS ((1u << WAL_SYNC_FDS) - 1)

/*
 * Starts a sync of every record written so far on a free sync descriptor,
 * with mu released, then completes their waiters. Several run at once (a
 * record written while one runs gets its own at once instead of waiting
 * for it to end); completions may come out of order, so synced_size only
 * grows. On failure every record not yet durable fails (including those
 * written while the sync ran), the segment is cut back to its durable
 * size, the results of syncs still running are void (sync_gen), and the
 * segment is marked broken so the next append starts a new one with fresh
 * descriptors (the old ones could report the same error again). Called
 * with mu held and a free slot.
 */
static void run_sync(struct wal *w)
{
    int slot = 0;
    while (w->sync_busy & (1u << slot))
        slot++;
    uint64_t target_seq = w->written_seq, target_size = w->size, gen = w->sync_gen;
    int fd = w->sync_fd[slot];
    w->sync_busy |= 1u << slot;
    w->syncing++;
    if (target_seq > w->inflight_seq)
        w->inflight_seq = target_seq;
    pthread_mutex_unlock(&w->mu);
    int64_t t0 = time_mono_ns();
    int err = io_fdatasync(fd);
    uint64_t dt = (uint64_t)(time_mono_ns() - t0);
    pthread_mutex_lock(&w->mu);
    w->sync_busy &= ~(1u << slot);
    w->syncing--;
    w->nsyncs++;
    w->sync_ns_total += dt;
    if (dt > w->sync_ns_max)
        w->sync_ns_max = dt;
    if (gen != w->sync_gen) {
        /* a sync failed meanwhile: every record this one covered was rejected then */
    } else if (!err) {
        if (target_size > w->synced_size)
            w->synced_size = target_size;
        complete(w, target_seq, 0);
    } else {
        log_error("wal fsync of segment %016" PRIx64 " in '%s' failed: %s; rejecting the unsynced "
                  "appends and cutting it back to %" PRIu64 " bytes",
                  w->seg_no, w->dir, ember_strerror(err), w->synced_size);
        w->sync_gen++;
        w->inflight_seq = w->written_seq;
        complete(w, UINT64_MAX, err);
        int e2 = io_ftruncate(w->fd, (off_t)w->synced_size);
        if (!e2)
            e2 = io_fdatasync(w->fd);
        if (e2)
            log_error("cannot cut wal segment %016" PRIx64 " back: %s", w->seg_no,
                      ember_strerror(e2));
        w->size = w->alloc = w->synced_size;
        w->broken = 1;
    }
    pthread_cond_broadcast(&w->cond);
}

/* Whether the waiter with seq needs a sync started for it now (none running covers it). mu held. */
static int needs_sync(const struct wal *w, uint64_t seq)
{
    return w->inflight_seq < seq && w->sync_busy != ALL_SYNC_SLOTS;
}

/* Syncs everything pending, then closes the segment and starts the next one. mu held. */
static int rotate(struct wal *w)
{
    w->rotating = 1;
    while (w->syncing || w->pending) {
        if (w->pending && needs_sync(w, w->pending_tail->seq))
            run_sync(w);
        else
            pthread_cond_wait(&w->cond, &w->mu);
    }
    if (w->fd >= 0) {
        struct wal_seg_info si = {w->seg_no, w->size};
        VEC_PUSH(w->closed, si);
        w->closed_bytes += w->size;
    }
    close_segment(w);
    w->broken = 1; /* until new_segment() succeeds */
    int err = new_segment(w);
    w->rotating = 0;
    pthread_cond_broadcast(&w->cond);
    return err;
}

int wal_append(struct wal *w, uint8_t *rec, size_t rec_len)
{
    int err = 0;
    uint32_t len = (uint32_t)(rec_len - WAL_REC_HDR);
    if (rec_len < WAL_REC_HDR || rec_len - WAL_REC_HDR > WAL_MAX_RECORD)
        return -EMBER_ETOOBIG;
    put_le32(rec, WAL_REC_MAGIC);
    put_le32(rec + 4, len);
    put_le64(rec + 8, rec_hash(rec + WAL_REC_HDR, len));

    pthread_mutex_lock(&w->mu);
    while (w->rotating)
        pthread_cond_wait(&w->cond, &w->mu);
    if (w->broken || (w->size > WAL_SEG_HDR && w->size + rec_len > w->seg_max)) {
        err = rotate(w);
        if (err)
            goto out;
    }
    if (w->do_sync)
        extend(w, w->size + rec_len);
    err = io_pwrite_full(w->fd, rec, rec_len, (off_t)w->size);
    if (err) {
        log_error("cannot write %zu bytes to wal segment %016" PRIx64 " in '%s': %s", rec_len,
                  w->seg_no, w->dir, ember_strerror(err));
        /* remove the partial record so that later records follow a clean tail */
        if (io_ftruncate(w->fd, (off_t)w->size))
            w->broken = 1;
        w->alloc = w->size;
        goto out;
    }
    w->size += rec_len;
    if (w->size > w->alloc)
        w->alloc = w->size;
    w->nrecords++;
    struct wal_waiter me = {++w->written_seq, 0, 0, NULL};
    if (!w->do_sync) {
        w->synced_size = w->size;
        goto out;
    }
    if (w->pending_tail)
        w->pending_tail->next = &me;
    else
        w->pending = &me;
    w->pending_tail = &me;
    while (!me.done) {
        if (needs_sync(w, me.seq))
            run_sync(w);
        else
            pthread_cond_wait(&w->cond, &w->mu);
    }
    err = me.err;
out:
    pthread_mutex_unlock(&w->mu);
    return err;
}

int wal_cut(struct wal *w, uint64_t *seg)
{
    pthread_mutex_lock(&w->mu);
    while (w->rotating)
        pthread_cond_wait(&w->cond, &w->mu);
    int err = rotate(w);
    *seg = w->seg_no;
    pthread_mutex_unlock(&w->mu);
    return err;
}

int wal_drop_below(struct wal *w, uint64_t seg)
{
    int err = 0, dropped = 0;
    pthread_mutex_lock(&w->mu);
    size_t k = 0;
    for (size_t i = 0; i < w->closed.len; i++) {
        struct wal_seg_info si = w->closed.data[i];
        if (si.no < seg && !err) {
            char *path = seg_path(w, si.no);
            err = io_unlink(path);
            if (err == -ENOENT)
                err = 0;
            if (err)
                log_error("cannot delete checkpointed wal segment '%s': %s", path,
                          ember_strerror(err));
            free(path);
            if (!err) {
                w->closed_bytes -= si.size;
                dropped = 1;
                continue;
            }
        }
        w->closed.data[k++] = si;
    }
    w->closed.len = k;
    pthread_mutex_unlock(&w->mu);
    if (dropped && w->do_sync) {
        int e = io_fsync_dir(w->dir);
        if (e && !err) {
            log_error("cannot sync wal directory '%s': %s", w->dir, ember_strerror(e));
            err = e;
        }
    }
    return err;
}

void wal_get_stats(struct wal *w, struct wal_stats *st)
{
    pthread_mutex_lock(&w->mu);
    st->disk_bytes = w->closed_bytes + (w->fd >= 0 ? w->size : 0);
    st->records = w->nrecords;
    st->syncs = w->nsyncs;
    st->sync_ns_total = w->sync_ns_total;
    st->sync_ns_max = w->sync_ns_max;
    pthread_mutex_unlock(&w->mu);
}
