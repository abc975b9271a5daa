/* metrics.h - the server's Prometheus metrics: request counts and latencies, ingest volume */
#ifndef EMBER_SERVER_METRICS_H
#define EMBER_SERVER_METRICS_H

#include <stdint.h>

struct buf;
struct store;

/* Routes as metric labels (route="..."). */
#define METRICS_ROUTES(X)                                                                          \
    X(INGEST, "ingest")                                                                            \
    X(PUSH, "push")                                                                                \
    X(PROFILE_TYPES, "profile_types")                                                              \
    X(LABELS, "labels")                                                                            \
    X(LABEL_VALUES, "label_values")                                                                \
    X(SERIES, "series")                                                                            \
    X(FLAMEGRAPH, "flamegraph")                                                                    \
    X(TOP, "top")                                                                                  \
    X(SANDWICH, "sandwich")                                                                        \
    X(TIMELINE, "timeline")                                                                        \
    X(DIFF, "diff")                                                                                \
    X(EXPORT, "export")                                                                            \
    X(HEALTHZ, "healthz")                                                                          \
    X(READY, "ready")                                                                              \
    X(METRICS, "metrics")                                                                          \
    X(UI, "ui")                                                                                    \
    X(OTHER, "other")

enum route_id {
#define X(id, name) ROUTE_##id,
    METRICS_ROUTES(X)
#undef X
        ROUTE_MAX
};

/* Why an ingest request was rejected (reason="..."). */
#define METRICS_REASONS(X)                                                                         \
    X(INVALID, "invalid")                                                                          \
    X(TOO_LARGE, "too_large")                                                                      \
    X(UNSUPPORTED, "unsupported")                                                                  \
    X(STORE, "store_error")

enum reject_reason {
#define X(id, name) REJECT_##id,
    METRICS_REASONS(X)
#undef X
        REJECT_MAX
};

/* Counts one finished request (thread-safe, lock-free). */
void metrics_request(enum route_id route, int status, int64_t duration_ns);
/* Counts accepted ingest: body bytes, profiles and samples stored. */
void metrics_ingest(uint64_t bytes, uint64_t profiles, uint64_t samples);
void metrics_rejected(enum reject_reason reason);
/* Appends the Prometheus text exposition to out; st (may be NULL) adds store statistics. */
void metrics_write(struct buf *out, struct store *st);

#endif
