/* perf_sampler.h - fallback collector: cpu-clock perf events with kernel call chains (no BPF) */
#ifndef EMBER_AGENT_PERF_SAMPLER_H
#define EMBER_AGENT_PERF_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/host_sample.h"

struct perf_sampler;

struct perf_sampler_stats {
    uint64_t samples, lost; /* records read; records the kernel lost (ring full) */
};

/*
 * Opens one cpu-clock event per CPU at hz with PERF_SAMPLE_CALLCHAIN (user
 * stacks by frame pointers, as the kernel walks them) and maps its ring.
 * pid 0 = every process (else others are skipped when read). Returns 0 and
 * sets *out, or -errno with a message in err (-EPERM/-EACCES: what to
 * change, e.g. kernel.perf_event_paranoid).
 */
int perf_sampler_open(struct perf_sampler **out, int hz, uint32_t pid, char *err, size_t errlen);

/* Reads every ring and hands each sample to cb (weight 1). Returns samples read. */
int perf_sampler_drain(struct perf_sampler *p, host_sample_cb cb, void *arg);

void perf_sampler_stats(const struct perf_sampler *p, struct perf_sampler_stats *st);

/* Closes the events and frees p; accepts NULL. */
void perf_sampler_close(struct perf_sampler *p);

#endif
