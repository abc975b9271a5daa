/* preload.h - internals shared by the files of libember.so (not an installed interface) */
#ifndef EMBER_PRELOAD_PRELOAD_H
#define EMBER_PRELOAD_PRELOAD_H

#include <stddef.h>
#include <stdint.h>

#define PL_MAX_DEPTH 64

/* What a stack-table entry counts; the values v[] of an entry mean: */
enum pl_kind {
    PL_CPU = 0,   /* v[0] samples */
    PL_WALL = 1,  /* v[0] samples */
    PL_ALLOC = 2, /* v[0] alloc objects, v[1] alloc bytes, v[2] inuse objects, v[3] inuse bytes */
    PL_LOCK = 3,  /* v[0] contentions, v[1] delay in nanoseconds */
    PL_NKINDS = 4,
};

/* Settings from the environment (read once by the constructor). */
struct pl_config {
    char server[512];  /* EMBER_SERVER_ADDRESS, default http://127.0.0.1:4040 */
    char service[256]; /* EMBER_APPLICATION_NAME / EMBER_SERVICE_NAME / OTEL_SERVICE_NAME / exe */
    char tags[1024];   /* EMBER_TAGS "k=v,k=v" (validated) */
    int kinds[PL_NKINDS];
    int hz;                /* EMBER_SAMPLE_RATE, default 100 */
    uint64_t alloc_mean;   /* EMBER_ALLOC_SAMPLE_BYTES, default 512 KiB */
    int upload_interval_s; /* EMBER_UPLOAD_INTERVAL, default 10 */
    int log_level;         /* EMBER_LOG_LEVEL: 0 quiet, 1 info (default), 2 debug */
    char dump_dir[512];    /* EMBER_DUMP_DIR: also write each pprof there (tests, offline) */
};

extern struct pl_config pl_cfg;
/* 1 once the constructor has configured everything (hooks record only then). */
extern volatile int pl_ready;

/* The per-thread "inside the profiler" guard: hooks pass straight through while it is set. */
extern __thread int pl_guard __attribute__((tls_model("initial-exec")));

/* Logs "ember: ..." to stderr with write(2) (no stdio, no allocation). */
void pl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic clock in nanoseconds. */
uint64_t pl_now_ns(void);

/* ---- stack table (stacks.c): bounded, one spin lock, memory from mmap ---- */

/* Global lock of the table and the live-object set; never held across a call into the host. */
void pl_lock(void);
void pl_unlock(void);

/*
 * Adds d[0..3] to the entry of (kind, pcs[0..depth)) and returns its id, or
 * -1 when the table is full (the sample is counted as dropped). Caller holds
 * pl_lock().
 */
int32_t pl_stack_add(enum pl_kind kind, const uint64_t *pcs, size_t depth, const double d[4]);
/* Adds d to the values of entry id. Caller holds pl_lock(). */
void pl_stack_add_id(int32_t id, const double d[4]);

/* Called by pl_stack_each for each entry of a kind with non-zero values. */
typedef void (*pl_stack_cb)(const uint64_t *pcs, size_t depth, const double v[4], void *arg);
/*
 * Copies the entries of kind into a snapshot handed to cb (without the lock
 * held), then clears the per-interval values: all of CPU/WALL/LOCK, and
 * v[0..1] of ALLOC (v[2..3], the live set, carry over). Entries left with
 * nothing are forgotten when the table is compacted.
 */
void pl_stack_flush(enum pl_kind kind, pl_stack_cb cb, void *arg);
/* Same walk without clearing anything (the in-use snapshot). */
void pl_stack_peek(enum pl_kind kind, pl_stack_cb cb, void *arg);
/* Zeroes the per-interval values of every entry (a forked child: the parent sends those). */
void pl_stack_reset_interval(void);
/* Drops entries with all values zero when the table is over 3/4 full (live ids are remapped). */
void pl_stack_compact(void);

/* Live sampled allocations (alloc.c uses them under pl_lock()). */
int pl_live_add(uintptr_t ptr, int32_t stack, double objs, double bytes);
/* Removes ptr if it is a live sample; fills its stack and weights. 1 if found. */
int pl_live_take(uintptr_t ptr, int32_t *stack, double *objs, double *bytes);
/*
 * The free() pre-check: one bit per hash of (address >> 4), set while a live
 * sample hashes there (8 KiB, stays in L1/L2). Bits change under pl_lock();
 * a sampled pointer's bit is set before malloc returns it, so the thread
 * that frees it sees the bit. 0 means ptr is certainly not a live sample.
 */
#define PL_LIVE_BITS_LOG 16
extern uint64_t pl_live_bits[(1u << PL_LIVE_BITS_LOG) / 64];
static inline uint32_t pl_live_bit(uintptr_t ptr)
{
    return (uint32_t)(((uint64_t)(ptr >> 4) * 0x9e3779b97f4a7c15ull) >> (64 - PL_LIVE_BITS_LOG));
}
static inline int pl_live_maybe(uintptr_t ptr)
{
    uint32_t b = pl_live_bit(ptr);
    return (int)((__atomic_load_n(&pl_live_bits[b >> 6], __ATOMIC_RELAXED) >> (b & 63)) & 1);
}
/* Remaps stack ids of live objects (compaction); map[old] = new or -1. */
void pl_live_remap(const int32_t *map, size_t n);

struct pl_stats {
    uint64_t stacks, stacks_max, live, live_max, dropped_stacks, dropped_live;
    uint64_t samples[PL_NKINDS], ring_dropped, threads, timer_errors, uploads, upload_errors;
    uint64_t mem_bytes; /* memory the profiler mapped for itself */
};
void pl_stats_get(struct pl_stats *st);
extern uint64_t pl_stat_samples[PL_NKINDS];

/* Memory of the profiler itself: zeroed anonymous pages, never freed. NULL on failure. */
void *pl_mmap(size_t n);

/* ---- sampling (sample.c) ---- */
int pl_sample_start(void);         /* signal handler + timers of the calling thread */
void pl_sample_thread_start(void); /* arms the calling thread's timers */
void pl_sample_thread_stop(void);  /* deletes them (thread exit) */
void pl_sample_drain(void);        /* ring -> stack table */
void pl_sample_stop(void);
void pl_sample_atfork_child(void);
uint64_t pl_sample_threads(void);
void pl_sample_stats(uint64_t *ring_dropped, uint64_t *timer_errors);
/* The CPU sampler in use ("perf task-clock" or "thread CPU timers"); *misdirected = perf signals
 * that reached another thread than the one sampled (ignored). */
const char *pl_sample_cpu_mode(uint64_t *misdirected);
/*
 * Before an exec by the calling thread: closes its perf event, whose signal
 * would otherwise survive into the new image (exec flushes only timer
 * signals) and kill it before any handler is installed. Returns 1 when
 * pl_sample_exec_failed() should re-arm it if the exec fails.
 */
int pl_sample_before_exec(void);
void pl_sample_exec_failed(void);

/* EMBER_UNWIND: 0 fp, 1 auto, 2 dwarf (sample.c); set up by pl_unwind_init(). */
extern int pl_dwarf_mode;
void pl_unwind_init(void);

/* Unwinds the calling thread from its caller's frame (skip frames of ours). */
size_t pl_unwind_here(uint64_t *pcs, size_t max, int skip);

/* ---- hooks ---- */
void pl_alloc_init(void);
void pl_lock_init(void);
/* Real functions (resolved by the first hook or the constructor). */
void *pl_real_malloc(size_t n);
void pl_real_free(void *p);

/*
 * Demangles a C++ or Rust (legacy) symbol into out[0..cap): Rust legacy by
 * hand, C++ with the program's __cxa_demangle when it has libstdc++ loaded,
 * else only the qualified name of a plain nested name. 1 when out holds the
 * demangled name (truncated to fit), 0 when sym is not one we can demangle.
 */
int pl_demangle(const char *sym, char *out, size_t cap);

/* ---- upload (upload.c) ---- */
int pl_upload_init(void);
/* Encodes and sends the profiles of [from_ns, until_ns). */
void pl_upload_once(uint64_t from_ns, uint64_t until_ns, int final);
void pl_upload_shutdown(void);
/* In a forked child: forgets state the parent's upload thread may have been changing. */
void pl_upload_atfork_child(int was_uploading);

#endif
