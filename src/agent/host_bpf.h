/* host_bpf.h - the eBPF collector: cpu-clock perf events on every CPU, off-CPU via sched_switch */
#ifndef EMBER_AGENT_HOST_BPF_H
#define EMBER_AGENT_HOST_BPF_H

#include <stddef.h>
#include <stdint.h>

#include "agent/host_sample.h"

struct host_bpf_opts {
    int hz;                 /* samples per second per CPU (perf_event frequency) */
    uint32_t pid;           /* 0 = every process */
    int offcpu;             /* attach tp_btf/sched_switch */
    uint64_t offcpu_min_ns; /* off-CPU intervals shorter than this are ignored */
    int dwarf;              /* copy user stacks for user-space DWARF unwinding */
};

/* Counters of the kernel side, summed over CPUs (see src/agent/bpf/host.h). */
struct host_bpf_stats {
    uint64_t samples, map_full, kstack_err, ustack_err, ringbuf_full, offcpu_events, offstart_full,
        dwarf_samples;
};

struct host_bpf;

/*
 * Loads and attaches the BPF programs. Returns 0 and sets *out, or a
 * negative error with a message saying what is missing and how to fix it
 * in err: -EPERM (not root / no CAP_BPF+CAP_PERFMON, or
 * kernel.perf_event_paranoid), -ENOSYS (built without BPF), -ENOENT (no
 * kernel BTF), or the -errno of the failing step.
 */
int host_bpf_open(struct host_bpf **out, const struct host_bpf_opts *o, char *err, size_t errlen);

/*
 * Switches the kernel to the other aggregation map and hands every entry
 * of the previous one to cb (the stacks come from bpf_get_stack: frame
 * pointers for user code). In DWARF mode, cb also gets the raw samples of
 * the ring buffer through raw_cb (may be NULL to skip them). Returns the
 * number of entries, or a negative error.
 */
struct host_dwarf_event;
typedef void (*host_raw_cb)(const struct host_dwarf_event *e, void *arg);
int host_bpf_drain(struct host_bpf *b, host_sample_cb cb, host_raw_cb raw_cb, void *arg);

/* Waits up to timeout_ms for ring buffer records and hands them to raw_cb. Returns records or <0.
 */
int host_bpf_poll(struct host_bpf *b, int timeout_ms, host_raw_cb raw_cb, void *arg);

void host_bpf_stats(struct host_bpf *b, struct host_bpf_stats *st);

/* Detaches and frees everything; accepts NULL. */
void host_bpf_close(struct host_bpf *b);

#endif
