/* pyagent.h - internals shared by the files of Ember's CPython extension (not a public API) */
#ifndef EMBER_PYTHON_PYAGENT_H
#define EMBER_PYTHON_PYAGENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Sample kinds: what a raw stack record measures. */
enum pa_kind { PA_CPU = 0, PA_WALL = 1, PA_ALLOC = 2, PA_NKINDS = 3 };

/* Deepest Python stack recorded (deeper stacks keep their leaf-most frames). */
#define PA_MAX_DEPTH 128
/* Bytes of one raw stack record (frames are packed strings; the rest is cut). */
#define PA_REC_BYTES 4080

/*
 * A raw stack as captured in a signal handler or an allocator hook: frames
 * leaf first, each `int32 line, u8 namelen, u8 filelen, name, file`, with
 * filelen 255 meaning "same file as the previous frame".
 */
struct pa_rec {
    uint8_t kind;
    uint8_t truncated;
    uint16_t nframes;
    int32_t tag;     /* tag-set id of the thread (0 = none) */
    uint64_t weight; /* CPU/wall: number of periods */
    uint32_t len;    /* bytes used in data */
    char data[PA_REC_BYTES];
};

/* Settings given to pa_start(); strings are copied. */
struct pa_config {
    char *app_name;
    char *server;              /* base URL, e.g. http://127.0.0.1:4040 */
    char *tenant, *auth_token; /* NULL = none */
    char **global_tags;        /* k0, v0, k1, v1, ... (series labels) */
    size_t nglobal_tags;
    char **sys_path; /* prefixes stripped from file names to form module names */
    size_t nsys_path;
    int sample_rate;         /* Hz, 1..1000 */
    int cpu, wall, alloc;    /* profiles on/off */
    uint64_t alloc_interval; /* mean bytes between allocation samples */
    int upload_interval_ms;
    size_t max_pending_bytes; /* upload queue bound */
};

/* ---- capture.c: frame walking (async-signal-safe), signal sampler, native threads ---- */

/*
 * Walks the calling thread's own Python frame chain into r (kind, tag and
 * weight are left to the caller). Async-signal-safe: reads memory only.
 * Returns the number of frames (0 when the thread has no Python state).
 */
int pa_capture_self(struct pa_rec *r);
/* Thread-local tag-set id read by the handler; set from Python. */
int pa_thread_tag_get(void);
void pa_thread_tag_set(int id);

/* Starts timers/signal handler and the sampler thread. Returns 0 or -errno. */
int pa_sampler_start(const struct pa_config *c);
/*
 * Called by a new thread itself: creates its CPU timer now (short-lived
 * threads would otherwise finish before the next /proc scan) and hands it
 * to the sampler thread. Returns 1, 0 when not running, or -errno.
 */
int pa_register_self(void);
/* Stops the sampler thread, deletes timers; handlers in flight finish first. */
void pa_sampler_stop(void);
/* Counters for stats(). */
void pa_sampler_stats(uint64_t *samples, uint64_t *dropped, uint64_t *threads);
/*
 * The CPU sampling mechanism in use ("perf-task-clock", "perf-task-clock-user"
 * or "thread-cpu-timer"); *misdirected counts perf signals that reached a
 * thread other than the one sampled (ignored; expected to stay 0).
 */
const char *pa_sampler_cpu_mode(uint64_t *misdirected);
/* Pops ready records, calling cb for each. Returns how many were taken. */
size_t pa_ring_drain(void (*cb)(const struct pa_rec *r, void *arg), void *arg);
/* Marks the calling native thread as Ember's own (never sampled). */
void pa_own_thread_register(void);
/* Resets sampler state in a forked child (no threads exist there). */
void pa_sampler_after_fork(void);

/* ---- report.c: aggregation, pprof encoding, upload ---- */

/* Starts collector and uploader threads. Returns 0 or -errno / -ENOMEM. */
int pa_report_start(const struct pa_config *c);
/*
 * Stops both threads; the last interval is encoded and sent within
 * flush_ms milliseconds (0 = drop it).
 */
void pa_report_stop(int flush_ms);
/* Adds one allocation sample (GIL held) and remembers ptr as live. */
void pa_report_alloc(const struct pa_rec *r, void *ptr, size_t size, double objects, double bytes);
/* Forgets a sampled live pointer; cheap when ptr was not sampled. GIL held. */
void pa_report_free(void *ptr);
/* Interns a tag set (k0,v0,k1,v1,...). Returns its id (>= 1) or -ENOMEM. */
int pa_tags_intern(const char *const *kv, size_t n);
void pa_report_stats(uint64_t *uploads, uint64_t *failures, uint64_t *dropped_payloads,
                     uint64_t *pending_bytes, uint64_t *stacks);
/* pthread_atfork hooks: hold locks over fork; reset in the child. */
void pa_report_prefork(void);
void pa_report_postfork_parent(void);
void pa_report_postfork_child(void);

#endif
