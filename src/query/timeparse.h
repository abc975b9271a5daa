/* timeparse.h - parsing query times and durations */
#ifndef EMBER_QUERY_TIMEPARSE_H
#define EMBER_QUERY_TIMEPARSE_H

#include <stdint.h>

/*
 * Parses a time: "now", "now-15m", "now-1h30m", unix seconds, milliseconds
 * or nanoseconds (chosen by magnitude; microseconds too), or RFC 3339
 * ("2026-11-25T10:00:00Z", with fraction and offset). now_ns anchors "now".
 * Returns 0 and sets *out_ns, or -EMBER_EINVAL_INPUT.
 */
int time_parse(const char *s, int64_t now_ns, int64_t *out_ns);

/* Parses a duration like "15s", "1m", "1h30m", "7d", "500ms", or a bare number of seconds. */
int duration_parse(const char *s, int64_t *out_ns);

#endif
