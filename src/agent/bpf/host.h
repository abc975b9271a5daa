/* host.h - types shared by host.bpf.c and the agent's user space (stack keys, event layout,
 * counters) */
#ifndef EMBER_AGENT_BPF_HOST_H
#define EMBER_AGENT_BPF_HOST_H

#ifndef __VMLINUX_H__
#    include <linux/types.h>
#endif

/* Frames kept per stack and side (bpf_get_stack's limit is the sysctl perf_event_max_stack, 127).
 */
#define HOST_MAX_DEPTH 127
/* Bytes of user stack copied per sample in DWARF mode (from the stack pointer up). */
#define HOST_STACK_COPY 16384
/* Distinct (process, stack) entries per map generation; updates past it are counted as drops. */
#define HOST_MAX_STACKS 16384
/* Bytes of the ring buffer carrying DWARF-mode samples to user space. */
#define HOST_RINGBUF_BYTES (8u << 20)

enum host_kind {
    HOST_KIND_CPU = 0,    /* value = samples */
    HOST_KIND_OFFCPU = 1, /* value = nanoseconds off CPU */
};

/* Counters in the per-CPU "counters" array (index = enum host_counter). */
enum host_counter {
    HOST_CNT_SAMPLES = 0,   /* cpu samples seen for target processes */
    HOST_CNT_MAP_FULL,      /* stack map full: sample lost (never silently) */
    HOST_CNT_KSTACK_ERR,    /* bpf_get_stack(kernel) failed */
    HOST_CNT_USTACK_ERR,    /* bpf_get_stack(user) failed */
    HOST_CNT_RINGBUF_FULL,  /* DWARF-mode sample lost: ring buffer full */
    HOST_CNT_OFFCPU_EVENTS, /* off-CPU intervals over the threshold */
    HOST_CNT_OFFSTART_FULL, /* switch-out records lost: map full */
    HOST_CNT_DWARF_SAMPLES, /* samples sent with a stack copy */
    HOST_CNT_MAX
};

/*
 * Key of the aggregation maps: the whole stack, not a hash of it, so the
 * kernel's hash table compares full keys and two stacks never merge.
 * Unused frames are zero (bpf_get_stack zero-fills the rest of the buffer).
 */
struct host_stack_key {
    __u32 pid;  /* thread group id */
    __u32 kind; /* enum host_kind */
    __u64 kstack[HOST_MAX_DEPTH];
    __u64 ustack[HOST_MAX_DEPTH];
};

/* Per-thread record of a switch-out, for off-CPU time. */
struct host_offstart {
    __u64 ts;
    struct host_stack_key key;
};

/*
 * A DWARF-mode sample (ring buffer record): registers at the sample, the
 * kernel stack, and a copy of the user stack from sp; user space unwinds.
 */
struct host_dwarf_event {
    __u32 pid, tid;
    __u32 kind;    /* enum host_kind */
    __u32 nkernel; /* frames in kstack */
    __u64 weight;  /* 1 for cpu samples, ns for off-CPU */
    __u64 ip, sp, bp;
    __u64 stack_base; /* user address of stack[0]: sp rounded down to its page */
    __u32 stack_len;  /* bytes valid in stack */
    __u32 pad;
    __u64 kstack[HOST_MAX_DEPTH];
    __u8 stack[HOST_STACK_COPY];
};

#endif
