/* query_int.h - internals shared by the query engine's files (and its unit tests) */
#ifndef EMBER_QUERY_QUERY_INT_H
#define EMBER_QUERY_QUERY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"
#include "profile/selector.h"
#include "store/store.h"

struct buf;
struct ctree;
struct query_params;

/* The parsed scope of one side of a query: selector, its profile type, and the store query. */
struct qscope {
    struct selector sel;
    struct ptype pt; /* zeroed when the selector has no profile type */
    struct store_query sq;
    int have_sel;
};

/* Formats a message into err and returns code. */
int qerr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Parses query into sc and checks the range. With need_type, a selector
 * without a profile type is rejected. Returns 0 (release with
 * qscope_close()) or -EMBER_EINVAL_INPUT with a message for the client
 * (sc is then zeroed; qscope_close() on it is harmless).
 */
int qscope_open(struct qscope *sc, const struct query_params *q, const char *query, int64_t from_ns,
                int64_t until_ns, int need_type, char *err, size_t errlen);
void qscope_close(struct qscope *sc);
/* Turns a store error into the query's return code and message ("<what> failed: ..."). */
int qstore_err(int rc, const char *what, char *err, size_t errlen);

/*
 * The JSON writers behind the endpoints, over a finished tree (side 0, or
 * sides 0 and 1 for diff). They append to out; see docs/API.md for shapes.
 */
void query_flamegraph_json(const struct ctree *t, const char *ptype, const char *unit,
                           size_t max_nodes, size_t nprofiles, struct buf *out);
void query_top_json(const struct ctree *t, const char *unit, int by_total, size_t limit,
                    struct buf *out);
/* Fails with -EMBER_EINVAL_INPUT if function is empty or does not occur in t. */
int query_sandwich_json(const struct ctree *t, const char *function, const char *unit,
                        size_t max_nodes, struct buf *out, char *err, size_t errlen);
void query_diff_json(const struct ctree *t, const char *ptype, const char *unit, size_t max_nodes,
                     size_t limit, struct buf *out);

#endif
