/* server_int.h - internals shared by the HTTP server's modules: server state, requests, replies */
#ifndef EMBER_SERVER_SERVER_INT_H
#define EMBER_SERVER_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "server/server.h"

struct MHD_Connection;
struct store;
struct delta;

/* Longest tenant id accepted in X-Scope-OrgID. */
#define SERVER_TENANT_MAX 150
/* Room allowed on top of max_profile_bytes for multipart framing and sample_type_config. */
#define SERVER_MULTIPART_OVERHEAD (64u << 10)

/* The running server: shared by every request (handlers read it, never free it). */
struct srv {
    struct server_opts opts;
    struct store *store; /* NULL until open */
    int ready;           /* 1 once the store is open (read with __atomic_load_n) */
    struct delta *delta; /* cumulative -> delta state for push */
};

/* One HTTP exchange. Owned by the connection; freed when MHD reports completion. */
struct http_req {
    struct MHD_Connection *conn; /* NULL in unit tests */
    const char *method;          /* borrowed from MHD */
    char *url;                   /* owned copy of the path */
    char tenant[SERVER_TENANT_MAX + 1];
    struct buf body;
    size_t body_limit; /* body bytes accepted */
    int too_big;       /* set once body_limit was passed; the rest is discarded */
    int route;         /* enum route_id for metrics */
    int64_t start_ns;  /* monotonic */
    int done;          /* a response was queued */
};

/* A reply under construction. */
struct http_resp {
    int status;
    const char *content_type; /* static */
    struct buf body;
    const char *extra_header, *extra_value; /* one optional static header */
    int no_cache;
};

/* Query-string argument or request header value (borrowed from MHD), NULL if absent. */
const char *req_arg(const struct http_req *rq, const char *name);
const char *req_header(const struct http_req *rq, const char *name);

/* Sets a JSON error {"error": msg} reply with the given status. */
void resp_error(struct http_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets a 200 JSON reply whose body is s. */
void resp_json(struct http_resp *rs, const char *s);

struct pprof;
struct labels;
struct ingest_limits;
struct profile_batch;

/* HTTP status for a negative parse error: 413 (too big, bomb), 415 (unsupported), 400 (else). */
int err_status(int err);

/*
 * Inflates data (when gzip, within limits) and decodes it as pprof into p
 * (initialised by the caller). Returns 0 or a negative error with a
 * message prefixed by "pprof: " in err.
 */
int load_pprof(const struct ingest_limits *lim, const void *data, size_t n, struct pprof *p,
               char *err, size_t errlen);

/*
 * Checks a series' labels before storing: names valid, values within the
 * length limit and without control characters, at most max_labels.
 * Returns 0 or -EMBER_EINVAL_INPUT with a message in err.
 */
int check_labels(const struct labels *l, const struct ingest_limits *lim, char *err, size_t errlen);

/*
 * Checks every profile's labels, drops empty profiles, stores b for the
 * request's tenant and records metrics. Returns 0, or a negative error with
 * the HTTP status in *status (400 bad labels, 500 store failure) and a
 * message in err; nothing is stored then.
 */
int store_batch(struct srv *s, struct http_req *rq, struct profile_batch *b, int *status, char *err,
                size_t errlen);

/* Route handlers (rq->body holds the complete body). */
void ingest_handle(struct srv *s, struct http_req *rq, struct http_resp *rs);
void push_handle(struct srv *s, struct http_req *rq, struct http_resp *rs);
/* The metrics route of an /api/v1 path (ROUTE_OTHER if unknown). */
int api_route(const char *url);
/* Answers an /api/v1 route (404 JSON for unknown ones). */
void api_handle(struct srv *s, struct http_req *rq, struct http_resp *rs);

/* True if t is a valid tenant id: [A-Za-z0-9_.-]{1,150}, not "." or "..". */
int tenant_valid(const char *t);

#endif
