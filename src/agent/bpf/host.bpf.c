// SPDX-License-Identifier: GPL-2.0
/* host.bpf.c - the host agent's kernel side: cpu-clock stack sampling and off-CPU time (CO-RE) */
/* vmlinux.h must come first: host.h and the libbpf headers rely on it */
// clang-format off
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "agent/bpf/host.h"
// clang-format on

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile __u32 targ_pid = 0;            /* 0 = every process */
const volatile __u32 self_pid = 0;            /* the agent itself, never sampled */
const volatile __u8 dwarf_mode = 0;           /* send user stacks for user-space unwinding */
const volatile __u8 offcpu_enabled = 0;       /* record off-CPU intervals */
const volatile __u64 offcpu_min_ns = 1000000; /* shorter off-CPU intervals are ignored */

/* Which of the two aggregation maps is being filled; user space flips it, then drains the other. */
volatile __u32 generation = 0;

struct counts_map {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, HOST_MAX_STACKS);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, struct host_stack_key);
    __type(value, __u64);
};
struct counts_map counts0 SEC(".maps");
struct counts_map counts1 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct host_offstart);
} scratch SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, HOST_CNT_MAX);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32); /* tid */
    __type(value, struct host_offstart);
} offstart SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, HOST_RINGBUF_BYTES);
} events SEC(".maps");

static __always_inline void count(__u32 idx)
{
    __u64 *c = bpf_map_lookup_elem(&counters, &idx);
    if (c)
        (*c)++;
}

static __always_inline int wanted(__u32 pid)
{
    if (pid == 0 || pid == self_pid)
        return 0;
    return targ_pid == 0 || pid == targ_pid;
}

/* Adds v to the entry of key in the current generation's map. */
static __always_inline void add(struct host_stack_key *key, __u64 v)
{
    void *map = generation & 1 ? (void *)&counts1 : (void *)&counts0;
    __u64 *cur = bpf_map_lookup_elem(map, key);
    if (cur) {
        __sync_fetch_and_add(cur, v);
        return;
    }
    __u64 init = v;
    if (bpf_map_update_elem(map, key, &init, BPF_NOEXIST)) {
        cur = bpf_map_lookup_elem(map, key); /* another CPU inserted it meanwhile */
        if (cur)
            __sync_fetch_and_add(cur, v);
        else
            count(HOST_CNT_MAP_FULL);
    }
}

/* Fills key's stacks from the current task (ctx: perf event or BTF tracepoint). */
static __always_inline void fill_stacks(void *ctx, struct host_stack_key *key, int user)
{
    if (bpf_get_stack(ctx, key->kstack, sizeof(key->kstack), 0) < 0) {
        key->kstack[0] = 0;
        count(HOST_CNT_KSTACK_ERR);
    }
    if (!user) {
        __builtin_memset(key->ustack, 0, sizeof(key->ustack));
        return;
    }
    if (bpf_get_stack(ctx, key->ustack, sizeof(key->ustack), BPF_F_USER_STACK) < 0)
        count(HOST_CNT_USTACK_ERR); /* bpf_get_stack zeroed the buffer */
}

/*
 * Copies the user stack in whole pages from sp's page up, stopping at the first unreadable page
 * (the top of the stack). Fixed offsets into e->stack keep the verifier's bounds simple.
 */
static __always_inline __u32 copy_stack(struct host_dwarf_event *e, __u64 base)
{
    __u32 n = 0;
#pragma unroll
    for (int i = 0; i < HOST_STACK_COPY / 4096; i++) {
        if (bpf_probe_read_user(e->stack + i * 4096, 4096, (void *)(base + i * 4096)))
            break;
        n += 4096;
    }
    return n;
}

/* DWARF mode: sends regs, kernel stack and a copy of the user stack. Returns 0 if sent. */
static __always_inline int send_dwarf(void *ctx, __u32 pid, __u32 tid, __u32 kind, __u64 weight)
{
    struct task_struct *task = bpf_get_current_task_btf();
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
    if (!regs)
        return -1;
    struct host_dwarf_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count(HOST_CNT_RINGBUF_FULL);
        return 0; /* counted: do not also aggregate, or the sample would count twice */
    }
    e->pid = pid;
    e->tid = tid;
    e->kind = kind;
    e->weight = weight;
    e->ip = BPF_CORE_READ(regs, ip);
    e->sp = BPF_CORE_READ(regs, sp);
    e->bp = BPF_CORE_READ(regs, bp);
    long kn = bpf_get_stack(ctx, e->kstack, sizeof(e->kstack), 0);
    e->nkernel = kn > 0 ? (__u32)((__u64)kn >> 3) : 0;
    e->pad = 0;
    e->stack_base = e->sp & ~4095ULL;
    e->stack_len = copy_stack(e, e->stack_base);
    bpf_ringbuf_submit(e, 0);
    count(HOST_CNT_DWARF_SAMPLES);
    return 0;
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 pid = id >> 32, tid = (__u32)id, zero = 0;
    if (!wanted(pid))
        return 0;
    count(HOST_CNT_SAMPLES);
    struct task_struct *task = bpf_get_current_task_btf();
    int user = task->mm != NULL;
    if (dwarf_mode && user && send_dwarf(ctx, pid, tid, HOST_KIND_CPU, 1) == 0)
        return 0;
    struct host_offstart *s = bpf_map_lookup_elem(&scratch, &zero);
    if (!s)
        return 0;
    s->key.pid = pid;
    s->key.kind = HOST_KIND_CPU;
    fill_stacks(ctx, &s->key, user);
    add(&s->key, 1);
    return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
    if (!offcpu_enabled)
        return 0;
    __u32 zero = 0;
    __u64 now = bpf_ktime_get_ns();
    /* prev is the current task: remember when and where it left the CPU */
    __u32 ppid = prev->tgid, ptid = prev->pid;
    if (wanted(ppid) && prev->mm) {
        struct host_offstart *s = bpf_map_lookup_elem(&scratch, &zero);
        if (s) {
            s->ts = now;
            s->key.pid = ppid;
            s->key.kind = HOST_KIND_OFFCPU;
            fill_stacks(ctx, &s->key, 1);
            if (bpf_map_update_elem(&offstart, &ptid, s, BPF_ANY))
                count(HOST_CNT_OFFSTART_FULL);
        }
    }
    /* next comes back: its off-CPU interval ends now */
    __u32 ntid = next->pid;
    struct host_offstart *o = bpf_map_lookup_elem(&offstart, &ntid);
    if (!o)
        return 0;
    __u64 delta = now - o->ts;
    if (delta >= offcpu_min_ns) {
        count(HOST_CNT_OFFCPU_EVENTS);
        add(&o->key, delta);
    }
    bpf_map_delete_elem(&offstart, &ntid);
    return 0;
}
