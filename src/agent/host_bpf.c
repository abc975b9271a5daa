/* host_bpf.c - loading, attaching and draining the host agent's BPF programs (libbpf skeleton) */
#include "agent/host_bpf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef EMBER_NO_BPF

int host_bpf_open(struct host_bpf **out, const struct host_bpf_opts *o, char *err, size_t errlen)
{
    (void)o;
    *out = NULL;
    snprintf(err, errlen,
             "this ember was built without BPF support (clang, bpftool, libbpf-dev or "
             "/sys/kernel/btf/vmlinux were missing at build time)");
    return -ENOSYS;
}
int host_bpf_drain(struct host_bpf *b, host_sample_cb cb, host_raw_cb raw_cb, void *arg)
{
    (void)b, (void)cb, (void)raw_cb, (void)arg;
    return -ENOSYS;
}
int host_bpf_poll(struct host_bpf *b, int timeout_ms, host_raw_cb raw_cb, void *arg)
{
    (void)b, (void)timeout_ms, (void)raw_cb, (void)arg;
    return -ENOSYS;
}
void host_bpf_stats(struct host_bpf *b, struct host_bpf_stats *st)
{
    (void)b;
    memset(st, 0, sizeof(*st));
}
void host_bpf_close(struct host_bpf *b)
{
    (void)b;
}

#else

#    include <bpf/bpf.h>
#    include <bpf/libbpf.h>
#    include <linux/perf_event.h>
#    include <stdarg.h>
#    include <stdlib.h>
#    include <sys/syscall.h>
#    include <unistd.h>

#    include "agent/bpf/host.h"
#    include "base/log.h"
#    include "base/xalloc.h"
#    include "host.skel.h"

/* Entries fetched per batch syscall when draining a map. */
#    define DRAIN_BATCH 256

struct host_bpf {
    struct host_skel *skel;
    int ncpu;
    int *pfd;                /* perf event fd per CPU (-1 = offline CPU) */
    struct bpf_link **links; /* per CPU */
    struct bpf_link *switch_link;
    struct ring_buffer *rb;
    host_raw_cb raw_cb; /* of the poll in progress */
    void *raw_arg;
    struct host_stack_key *keys; /* drain buffers, DRAIN_BATCH entries */
    uint64_t *vals;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    const char *lvl = getenv("EMBER_LOG_LEVEL");
    if (lvl && !strcmp(lvl, "debug")) { /* whole verifier logs: longer than a log line */
        vfprintf(stderr, fmt, ap);
        return 0;
    }
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = 0;
    log_debug("libbpf: %s", msg);
    return 0;
}

static long perf_event_open(struct perf_event_attr *a, pid_t pid, int cpu, int group,
                            unsigned long flags)
{
    return syscall(SYS_perf_event_open, a, pid, cpu, group, flags);
}

static void perm_hint(char *err, size_t errlen, const char *what, int e)
{
    snprintf(err, errlen,
             "%s: %s; the agent needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE) and "
             "kernel.unprivileged_bpf_disabled/perf_event_paranoid allowing it: run it with sudo, "
             "or in a container with --privileged (or --cap-add BPF,PERFMON,SYS_RESOURCE)",
             what, strerror(e));
}

static int on_ring(void *ctx, void *data, size_t size)
{
    struct host_bpf *b = ctx;
    if (size < sizeof(struct host_dwarf_event) || !b->raw_cb)
        return 0;
    b->raw_cb(data, b->raw_arg);
    return 0;
}

int host_bpf_open(struct host_bpf **out, const struct host_bpf_opts *o, char *err, size_t errlen)
{
    int rc = 0;
    *out = NULL;
    libbpf_set_print(libbpf_log);
    if (access("/sys/kernel/btf/vmlinux", R_OK)) {
        snprintf(err, errlen,
                 "the kernel has no BTF (/sys/kernel/btf/vmlinux): BPF CO-RE needs a kernel "
                 "built with CONFIG_DEBUG_INFO_BTF=y");
        return -ENOENT;
    }
    struct host_bpf *b = xcalloc(1, sizeof(*b));
    b->ncpu = libbpf_num_possible_cpus();
    if (b->ncpu <= 0) {
        snprintf(err, errlen, "cannot count CPUs: %s", strerror(-b->ncpu));
        rc = b->ncpu;
        goto fail;
    }
    b->pfd = xmalloc(b->ncpu * sizeof(int));
    for (int i = 0; i < b->ncpu; i++)
        b->pfd[i] = -1;
    b->links = xcalloc(b->ncpu, sizeof(*b->links));
    b->keys = xmalloc(DRAIN_BATCH * sizeof(*b->keys));
    b->vals = xmalloc(DRAIN_BATCH * sizeof(*b->vals));

    b->skel = host_skel__open();
    if (!b->skel) {
        rc = -errno;
        snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
        goto fail;
    }
    b->skel->rodata->targ_pid = o->pid;
    b->skel->rodata->self_pid = (uint32_t)getpid();
    b->skel->rodata->dwarf_mode = o->dwarf ? 1 : 0;
    b->skel->rodata->offcpu_enabled = o->offcpu ? 1 : 0;
    b->skel->rodata->offcpu_min_ns = o->offcpu_min_ns;
    if (!o->offcpu)
        bpf_program__set_autoload(b->skel->progs.on_switch, false);
    if (!o->dwarf)
        bpf_map__set_max_entries(b->skel->maps.events, 4096); /* unused: keep it small */
    rc = host_skel__load(b->skel);
    if (rc) {
        int e = -rc;
        if ((e == EPERM || e == EACCES) && geteuid() != 0)
            perm_hint(err, errlen, "cannot load the BPF programs", e);
        else if (e == EPERM || e == EACCES)
            snprintf(err, errlen,
                     "the kernel refused the BPF programs (%s): the verifier rejected them, or a "
                     "security module (lockdown, SELinux) forbids BPF; run with "
                     "EMBER_LOG_LEVEL=debug for the verifier's log",
                     strerror(e));
        else
            snprintf(err, errlen,
                     "cannot load the BPF programs: %s (run with EMBER_LOG_LEVEL=debug for the "
                     "verifier's log)",
                     strerror(e));
        goto fail;
    }

    struct perf_event_attr attr = {
        .type = PERF_TYPE_SOFTWARE,
        .config = PERF_COUNT_SW_CPU_CLOCK,
        .size = sizeof(attr),
        .freq = 1,
        .sample_freq = (uint64_t)o->hz,
    };
    int attached = 0;
    for (int cpu = 0; cpu < b->ncpu; cpu++) {
        int fd = (int)perf_event_open(&attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            if (errno == ENODEV || errno == EINVAL)
                continue; /* offline or absent CPU */
            rc = -errno;
            if (errno == EPERM || errno == EACCES)
                perm_hint(err, errlen, "cannot open cpu-clock perf events", errno);
            else
                snprintf(err, errlen, "cannot open the cpu-clock perf event on CPU %d: %s", cpu,
                         strerror(errno));
            goto fail;
        }
        b->pfd[cpu] = fd;
        b->links[cpu] = bpf_program__attach_perf_event(b->skel->progs.on_cpu_sample, fd);
        if (!b->links[cpu]) {
            rc = -errno;
            snprintf(err, errlen, "cannot attach the sampling program on CPU %d: %s", cpu,
                     strerror(errno));
            goto fail;
        }
        attached++;
    }
    if (!attached) {
        rc = -ENODEV;
        snprintf(err, errlen, "no CPU accepted a cpu-clock perf event");
        goto fail;
    }
    if (o->offcpu) {
        b->switch_link = bpf_program__attach(b->skel->progs.on_switch);
        if (!b->switch_link) {
            rc = -errno;
            snprintf(err, errlen, "cannot attach tp_btf/sched_switch for off-CPU time: %s",
                     strerror(errno));
            goto fail;
        }
    }
    if (o->dwarf) {
        b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_ring, b, NULL);
        if (!b->rb) {
            rc = -errno;
            snprintf(err, errlen, "cannot map the BPF ring buffer: %s", strerror(errno));
            goto fail;
        }
    }
    *out = b;
    return 0;
fail:
    host_bpf_close(b);
    return rc < 0 ? rc : -EINVAL;
}

/* Frames before the first zero (bpf_get_stack zero-fills the rest). */
static size_t depth(const uint64_t *pcs)
{
    size_t n = 0;
    while (n < HOST_MAX_DEPTH && pcs[n])
        n++;
    return n;
}

static void emit(const struct host_stack_key *k, uint64_t v, host_sample_cb cb, void *arg)
{
    struct host_sample s = {
        .pid = k->pid,
        .kind = k->kind == HOST_KIND_OFFCPU ? HOST_SAMPLE_OFFCPU : HOST_SAMPLE_CPU,
        .weight = v,
        .kernel = (const uint64_t *)k->kstack,
        .nkernel = depth((const uint64_t *)k->kstack),
        .user = (const uint64_t *)k->ustack,
        .nuser = depth((const uint64_t *)k->ustack),
    };
    s.user_truncated = s.nuser == HOST_MAX_DEPTH;
    cb(&s, arg);
}

/* Reads and deletes every entry of map fd (no longer written by the kernel). */
static int drain_map(struct host_bpf *b, int fd, host_sample_cb cb, void *arg)
{
    int total = 0;
    uint64_t in = 0, outb = 0;
    int first = 1;
    for (;;) {
        uint32_t count = DRAIN_BATCH;
        int r = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &outb, b->keys, b->vals,
                                                &count, NULL);
        int e = r ? errno : 0;
        if (r && e != ENOENT)
            goto fallback;
        for (uint32_t i = 0; i < count; i++)
            emit(&b->keys[i], b->vals[i], cb, arg);
        total += (int)count;
        if (e == ENOENT)
            return total;
        in = outb;
        first = 0;
    }
fallback:
    /* kernels without batch ops: walk the keys, then delete them */
    for (;;) {
        struct host_stack_key *k = &b->keys[0];
        if (bpf_map_get_next_key(fd, NULL, k))
            return total;
        uint64_t v = 0;
        if (!bpf_map_lookup_elem(fd, k, &v))
            emit(k, v, cb, arg);
        bpf_map_delete_elem(fd, k);
        total++;
    }
}

int host_bpf_drain(struct host_bpf *b, host_sample_cb cb, host_raw_cb raw_cb, void *arg)
{
    uint32_t gen = b->skel->bss->generation;
    __atomic_store_n(&b->skel->bss->generation, gen + 1, __ATOMIC_SEQ_CST);
    /* programs running now may still write the old map: let them finish */
    usleep(2000);
    struct bpf_map *m = gen & 1 ? b->skel->maps.counts1 : b->skel->maps.counts0;
    int n = drain_map(b, bpf_map__fd(m), cb, arg);
    if (b->rb && raw_cb) {
        int r = host_bpf_poll(b, 0, raw_cb, arg);
        if (r > 0)
            n += r;
    }
    return n;
}

int host_bpf_poll(struct host_bpf *b, int timeout_ms, host_raw_cb raw_cb, void *arg)
{
    if (!b->rb)
        return 0;
    b->raw_cb = raw_cb;
    b->raw_arg = arg;
    int r = ring_buffer__poll(b->rb, timeout_ms);
    b->raw_cb = NULL;
    return r == -EINTR ? 0 : r;
}

void host_bpf_stats(struct host_bpf *b, struct host_bpf_stats *st)
{
    memset(st, 0, sizeof(*st));
    int fd = bpf_map__fd(b->skel->maps.counters);
    uint64_t *per = xcalloc(b->ncpu, sizeof(uint64_t));
    uint64_t sum[HOST_CNT_MAX] = {0};
    for (uint32_t i = 0; i < HOST_CNT_MAX; i++) {
        if (bpf_map_lookup_elem(fd, &i, per))
            continue;
        for (int c = 0; c < b->ncpu; c++)
            sum[i] += per[c];
    }
    free(per);
    st->samples = sum[HOST_CNT_SAMPLES];
    st->map_full = sum[HOST_CNT_MAP_FULL];
    st->kstack_err = sum[HOST_CNT_KSTACK_ERR];
    st->ustack_err = sum[HOST_CNT_USTACK_ERR];
    st->ringbuf_full = sum[HOST_CNT_RINGBUF_FULL];
    st->offcpu_events = sum[HOST_CNT_OFFCPU_EVENTS];
    st->offstart_full = sum[HOST_CNT_OFFSTART_FULL];
    st->dwarf_samples = sum[HOST_CNT_DWARF_SAMPLES];
}

void host_bpf_close(struct host_bpf *b)
{
    if (!b)
        return;
    ring_buffer__free(b->rb);
    bpf_link__destroy(b->switch_link);
    for (int i = 0; b->links && i < b->ncpu; i++)
        bpf_link__destroy(b->links[i]);
    for (int i = 0; b->pfd && i < b->ncpu; i++)
        if (b->pfd[i] >= 0)
            close(b->pfd[i]);
    host_skel__destroy(b->skel);
    free(b->links);
    free(b->pfd);
    free(b->keys);
    free(b->vals);
    free(b);
}

#endif
