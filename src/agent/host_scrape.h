/* host_scrape.h - pull mode: scrape Go net/http/pprof endpoints and push the profiles */
#ifndef EMBER_AGENT_HOST_SCRAPE_H
#define EMBER_AGENT_HOST_SCRAPE_H

#include <signal.h>

struct labels;

struct scrape_opts {
    const char *url;     /* e.g. http://127.0.0.1:6060/debug/pprof/ (a trailing '/' is added) */
    const char *service; /* service_name, or NULL for the URL's host:port */
    const char *server;  /* Ember server base URL */
    const char *tenant;  /* X-Scope-OrgID, or NULL */
    int interval_s;      /* length of each CPU profile and the scrape period (>= 1) */
    int duration_s;      /* stop after this long (0 = until *stop) */
    const struct labels *labels; /* extra labels (borrowed), or NULL */
};

/*
 * Every interval: fetches profile?seconds=INTERVAL (CPU), then heap, mutex,
 * block and goroutine from o->url and pushes each raw pprof body through
 * /push.v1.PusherService/Push with __name__ process_cpu, memory, mutex,
 * block and goroutines, service_name and o->labels. A failed scrape or push
 * is logged (URL, HTTP status, body excerpt) and retried next interval.
 * Returns 0 when stopped, or a negative error when o is unusable.
 */
int host_scrape_run(const struct scrape_opts *o, volatile sig_atomic_t *stop);

/* Writes the host:port part of an http(s) URL into out (size n); returns 0 or -EINVAL. */
int scrape_url_hostport(const char *url, char *out, size_t n);

#endif
