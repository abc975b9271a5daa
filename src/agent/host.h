/* host.h - `ember agent`: whole-host sampling, per-process pprof profiles, upload to the server */
#ifndef EMBER_AGENT_HOST_H
#define EMBER_AGENT_HOST_H

#include <signal.h>
#include <stdint.h>

struct labels;
struct relabel_rules;

enum host_backend {
    HOST_BACKEND_AUTO = 0, /* BPF, else perf_event call chains */
    HOST_BACKEND_BPF,      /* BPF only: fail if it cannot load */
    HOST_BACKEND_PERF,     /* perf_event_open call chains only */
};

struct host_opts {
    const char *server;     /* base URL, e.g. http://127.0.0.1:4040 */
    const char *tenant;     /* X-Scope-OrgID, or NULL */
    int hz;                 /* samples per second per CPU (default 99) */
    uint32_t pid;           /* 0 = every process */
    int offcpu;             /* also record off-CPU time and send wall profiles */
    uint64_t offcpu_min_ns; /* shorter off-CPU intervals are ignored (default 1 ms) */
    int dwarf;              /* DWARF unwinding of user stacks (BPF backend) */
    int upload_interval_s;  /* default 10 */
    int duration_s;         /* stop after this long (0 = until *stop) */
    enum host_backend backend;
    const struct labels *labels;         /* extra labels for every profile (borrowed), or NULL */
    const struct relabel_rules *relabel; /* --config rules (borrowed), or NULL */
};

void host_opts_default(struct host_opts *o);

/*
 * Runs the agent until *stop becomes non-zero (or duration_s passes):
 * samples, symbolizes while processes are alive, and every
 * upload_interval_s pushes one pprof per process to o->server's /ingest
 * (labels service_name, pid, host_name, container_id and o->labels).
 * Returns 0 after a clean stop, or a negative error when sampling could
 * not start (the reason is logged, with what to change).
 */
int host_agent_run(const struct host_opts *o, volatile sig_atomic_t *stop);

#endif
