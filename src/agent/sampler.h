/* sampler.h - CPU sampling of this process's threads by per-thread CPU-time timers and a signal */
#ifndef EMBER_AGENT_SAMPLER_H
#define EMBER_AGENT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

/* The deepest stack a sample keeps (leaf-most frames). */
#define SAMPLER_MAX_DEPTH 128

struct sampler_opts {
    int hz;            /* samples per second of CPU time per thread; default 100 */
    int signo;         /* signal used; default SIGPROF */
    size_t ring_slots; /* samples buffered between drains; default 4096 */
};

void sampler_opts_default(struct sampler_opts *o);

struct sampler_stats {
    uint64_t samples; /* samples written to the ring */
    uint64_t dropped; /* samples lost because the ring was full */
    uint64_t threads; /* threads with a timer now */
    uint64_t
        timer_errors; /* timer_create/timer_settime failures (e.g. a thread exited meanwhile) */
};

/*
 * Starts sampling: installs the signal handler (SA_RESTART, so interrupted
 * system calls restart) and arms one CPU-time timer per thread of the
 * process, so each thread is sampled in proportion to the CPU it uses.
 * Threads created later are covered by sampler_scan_threads(). One sampler
 * per process. Never aborts: returns 0 and sets *out, -ENOMEM, -EBUSY if a
 * sampler is already running, or the -errno of the failing call.
 */
struct sampler;
int sampler_start(struct sampler **out, const struct sampler_opts *o);

/*
 * Re-reads /proc/self/task: arms timers for new threads and deletes those
 * of threads that exited. Call every second or so. Returns the number of
 * threads covered, or a negative error.
 */
int sampler_scan_threads(struct sampler *s);

/* Called by sampler_drain() for each sample: pcs leaf first (see unwind_fp()); borrowed. */
typedef void (*sampler_sample_cb)(const uint64_t *pcs, size_t depth, int tid, void *arg);

/*
 * Hands every complete sample in the ring to cb and frees its slot. Only
 * one thread may drain at a time. Returns the number of samples.
 */
size_t sampler_drain(struct sampler *s, sampler_sample_cb cb, void *arg);

void sampler_get_stats(const struct sampler *s, struct sampler_stats *st);

/*
 * Deletes the timers, waits for handlers in flight, and frees s (accepts
 * NULL). Samples not drained are lost. The signal handler stays installed
 * as a no-op (or the previous handler is restored when there was one), so
 * a signal still pending cannot kill the process.
 */
void sampler_stop(struct sampler *s);

#endif
