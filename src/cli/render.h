/* render.h - terminal output of query results: value units, the top table, trees, diffs, lists */
#ifndef EMBER_CLI_RENDER_H
#define EMBER_CLI_RENDER_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * Formats v of the given unit for people: "nanoseconds" as ns/µs/ms/s/min/h
 * ("1.50 s", "12.3 ms", "800 ns"), "bytes" as B/KB/MB/GB/TB (powers of
 * 1024: "1.50 MB"), anything else (counts) as a plain number under 10000,
 * then k/M/G/T ("12.3k"). Writes into out (at least 32 bytes advised).
 */
void render_value(int64_t v, const char *unit, char *out, size_t n);

/*
 * Each renderer parses the JSON of one /api/v1 endpoint (docs/API.md) and
 * appends text to out. They return 0, or -EMBER_EINVAL_INPUT with a message
 * in err when the JSON is not of the expected shape.
 */

/* /api/v1/top: a header line, then columns Self, Self%, Total, Total%, Function (limit 0 = all). */
int render_top(const char *json, size_t len, size_t limit, struct buf *out, char *err,
               size_t errlen);

/*
 * /api/v1/flamegraph: an indented call tree, children by total descending,
 * each line "Total%  Total  Self  name"; nodes under min_pct percent of the
 * whole and levels deeper than max_depth (0 = no limit) are left out.
 */
int render_flamegraph_tree(const char *json, size_t len, double min_pct, size_t max_depth,
                           struct buf *out, char *err, size_t errlen);

/* /api/v1/diff: a header with both totals, then Function, Left%, Right%, Δ points (limit 0 = all).
 */
int render_diff(const char *json, size_t len, size_t limit, struct buf *out, char *err,
                size_t errlen);

/* /api/v1/series: one {name="value", ...} line per series. */
int render_series(const char *json, size_t len, struct buf *out, char *err, size_t errlen);

/* A JSON object's array of strings (key "names" of /labels, "values" of /label/X/values): one per
 * line. */
int render_strings(const char *json, size_t len, const char *key, struct buf *out, char *err,
                   size_t errlen);

/* /api/v1/profile-types: one profile type id per line. */
int render_types(const char *json, size_t len, struct buf *out, char *err, size_t errlen);

#endif
