/* server.h - the Ember HTTP server: ingest, query API, UI, metrics */
#ifndef EMBER_SERVER_SERVER_H
#define EMBER_SERVER_SERVER_H

#include <stdint.h>

#include "profile/profile.h"

struct server_opts {
    const char *http_addr;    /* "127.0.0.1:4040" (host:port; ":4040" = all interfaces) */
    const char *data_dir;     /* "./ember-data" */
    int64_t retention_ns;     /* 0 = forever */
    uint64_t retention_bytes; /* 0 = no cap */
    uint64_t head_max_bytes;  /* cut the in-memory head into a block past this; 0 = store default */
    int64_t head_max_span_ns; /* ... or past this much profile time; 0 = store default (1 h) */
    int self_profile;         /* 1: profile the server itself (service_name ember-server) */
    int self_profile_hz;      /* default 100 */
    unsigned threads;         /* HTTP worker threads; 0 = one thread per connection */
    struct ingest_limits limits;
    size_t max_push_bytes; /* body of one Push request; default 4 * limits.max_profile_bytes */
};

void server_opts_default(struct server_opts *o);

/*
 * Opens the store, starts listening and serves until SIGINT/SIGTERM, then
 * shuts down cleanly. Returns 0 after a clean shutdown, or a negative error
 * if the store cannot be opened or the address cannot be bound (logged).
 */
int server_run(const struct server_opts *o);

#endif
