/* delta.h - turning cumulative profiles (Go alloc_*) into deltas against the previous upload */
#ifndef EMBER_SERVER_DELTA_H
#define EMBER_SERVER_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "base/xalloc.h"

struct profile;
struct profile_batch;
struct symtab;

/*
 * Per (tenant, series labels) the last cumulative value of each stack. The
 * stack key is a hash of the frames' strings, lines and addresses, so it is
 * stable across uploads whose symbol tables differ. Thread-safe.
 *
 * Policy: the first cumulative profile of a series only records the
 * baseline and stores nothing (as Pyroscope does: its values are everything
 * allocated since the process started). A value lower than the previous
 * one means the process restarted; the new value is taken as the delta.
 * At most max_series series are tracked; the least recently used is
 * forgotten past that (its next profile is a first profile again).
 */
struct delta;

/* Returns a new tracker; free with delta_free(). */
struct delta *delta_new(size_t max_series);
void delta_free(struct delta *d);

/* The stable key of stack in sym (never UINT64_MAX). memo (may be NULL) caches node hashes. */
uint64_t delta_stack_key(const struct symtab *sym, uint32_t stack, uint64_t *memo, size_t nmemo);

/* Pending state changes of one request, applied by delta_commit() once the data is stored. */
struct delta_txn {
    VEC(struct delta_update *) ups;
};

void delta_txn_init(struct delta_txn *t);
/* Drops uncommitted changes. */
void delta_txn_release(struct delta_txn *t);

/*
 * Rewrites the values of profile p (in batch b, for tenant) from cumulative
 * to deltas; zero deltas are dropped (profile_compact). The new baseline is
 * recorded in txn. Returns 1 if this was the series' first profile (then p
 * has no samples left), else 0.
 */
int delta_apply(struct delta *d, const char *tenant, struct profile_batch *b, struct profile *p,
                struct delta_txn *txn);

/* Makes txn's baselines current; txn is empty afterwards. */
void delta_commit(struct delta *d, struct delta_txn *txn);

/* Number of tracked series (for tests and metrics). */
size_t delta_nseries(struct delta *d);

#endif
