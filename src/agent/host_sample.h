/* host_sample.h - one stack sample as the host agent's collectors hand it over */
#ifndef EMBER_AGENT_HOST_SAMPLE_H
#define EMBER_AGENT_HOST_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

enum host_sample_kind {
    HOST_SAMPLE_CPU = 0,    /* weight = number of cpu-clock samples */
    HOST_SAMPLE_OFFCPU = 1, /* weight = nanoseconds off CPU */
};

/* Borrowed by the callback: copy what you keep. Stacks are leaf first, exact pcs of each frame. */
struct host_sample {
    uint32_t pid, tid;
    enum host_sample_kind kind;
    uint64_t weight;
    const uint64_t *kernel; /* kernel frames (leaf first), nkernel of them */
    size_t nkernel;
    const uint64_t *user; /* user frames (leaf first): [0] is the interrupted pc, later ones
                             return addresses as found on the stack (callers subtract 1) */
    size_t nuser;
    int user_truncated; /* the user stack did not reach its outermost frame */
};

typedef void (*host_sample_cb)(const struct host_sample *s, void *arg);

#endif
