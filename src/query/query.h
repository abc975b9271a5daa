/* query.h - the query engine: what /api/v1 and the CLI ask of the store, as JSON */
#ifndef EMBER_QUERY_QUERY_H
#define EMBER_QUERY_QUERY_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct store;

/*
 * Parameters of one query, parsed from an HTTP request or the CLI. Strings
 * are borrowed. Times are already parsed (see timeparse.h).
 */
struct query_params {
    const char *tenant;
    const char *query; /* selector text */
    int64_t from_ns, until_ns;
    size_t max_nodes;     /* flamegraph/diff; 0 = default 8192 */
    int sort_by_total;    /* top: 0 = self, 1 = total */
    size_t limit;         /* top: 0 = all */
    const char *function; /* sandwich */
    int64_t step_ns;      /* timeline; 0 = auto (~1500 points, min 15 s... scaled to range) */
    const char *name;     /* label values: the label name */
    /* diff: the right side; the left side is query/from/until */
    const char *right_query;
    int64_t right_from_ns, right_until_ns;
    const char *format; /* export: "pprof" or "folded" */
};

/*
 * Each function writes its JSON (or, for export, pprof/folded bytes) into
 * out and returns 0; or returns -EMBER_EINVAL_INPUT with a message for the
 * client in err (a 400), or another negative code (a 500, message in err).
 * JSON shapes are documented in docs/API.md.
 */
int query_profile_types(struct store *s, const struct query_params *q, struct buf *out, char *err,
                        size_t errlen);
int query_labels(struct store *s, const struct query_params *q, struct buf *out, char *err,
                 size_t errlen);
int query_label_values(struct store *s, const struct query_params *q, struct buf *out, char *err,
                       size_t errlen);
int query_series(struct store *s, const struct query_params *q, struct buf *out, char *err,
                 size_t errlen);
int query_flamegraph(struct store *s, const struct query_params *q, struct buf *out, char *err,
                     size_t errlen);
int query_top(struct store *s, const struct query_params *q, struct buf *out, char *err,
              size_t errlen);
int query_sandwich(struct store *s, const struct query_params *q, struct buf *out, char *err,
                   size_t errlen);
int query_timeline(struct store *s, const struct query_params *q, struct buf *out, char *err,
                   size_t errlen);
int query_diff(struct store *s, const struct query_params *q, struct buf *out, char *err,
               size_t errlen);
/*
 * The timeline step for [from_ns, until_ns): step_ns if non-zero, else about
 * 1500 points over the range but at least 15 s, rounded up to the next of
 * 15/20/30 s, 1/2/5/10/15/20/30 min, 1/2/3/6/12 h, then whole days. Either
 * way the result is a whole number of seconds (at least 1 s) and is raised
 * so that the range has at most QUERY_MAX_POINTS points.
 */
#define QUERY_MAX_POINTS 10000
int64_t query_step(int64_t from_ns, int64_t until_ns, int64_t step_ns);

/* Export: out gets gzip-compressed pprof, or folded text; *content_type is set (static). */
int query_export(struct store *s, const struct query_params *q, struct buf *out,
                 const char **content_type, char *err, size_t errlen);

#endif
