/* perf_sampler.c - perf_event_open call-chain sampling on every CPU, read from mmap rings */
#include "agent/perf_sampler.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/xalloc.h"

/* Data pages per CPU ring (plus one metadata page); a power of two. */
#define RING_PAGES 64
#define MAX_FRAMES 127

struct ring {
    int fd;
    void *base; /* metadata page, then data */
    size_t data_size;
};

struct perf_sampler {
    struct ring *rings;
    int nrings;
    uint32_t pid;
    size_t page;
    uint64_t samples, lost;
};

static long perf_event_open(struct perf_event_attr *a, pid_t pid, int cpu, int group,
                            unsigned long flags)
{
    return syscall(SYS_perf_event_open, a, pid, cpu, group, flags);
}

int perf_sampler_open(struct perf_sampler **out, int hz, uint32_t pid, char *err, size_t errlen)
{
    int rc = 0;
    *out = NULL;
    struct perf_sampler *p = xcalloc(1, sizeof(*p));
    p->pid = pid;
    p->page = (size_t)sysconf(_SC_PAGESIZE);
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    if (ncpu <= 0)
        ncpu = 1;
    p->rings = xcalloc((size_t)ncpu, sizeof(*p->rings));
    struct perf_event_attr attr = {
        .type = PERF_TYPE_SOFTWARE,
        .config = PERF_COUNT_SW_CPU_CLOCK,
        .size = sizeof(attr),
        .freq = 1,
        .sample_freq = (uint64_t)hz,
        .sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_CALLCHAIN,
        .sample_max_stack = MAX_FRAMES,
        .wakeup_events = 1,
    };
    for (int cpu = 0; cpu < ncpu; cpu++) {
        int fd = (int)perf_event_open(&attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
        if (fd < 0) {
            if (errno == ENODEV)
                continue;
            rc = -errno;
            if (errno == EPERM || errno == EACCES)
                snprintf(err, errlen,
                         "cannot open cpu-clock perf events on CPU %d: %s; run as root (or with "
                         "CAP_PERFMON), or lower kernel.perf_event_paranoid (sysctl -w "
                         "kernel.perf_event_paranoid=-1)",
                         cpu, strerror(errno));
            else
                snprintf(err, errlen, "cannot open the cpu-clock perf event on CPU %d: %s", cpu,
                         strerror(errno));
            goto fail;
        }
        struct ring *r = &p->rings[p->nrings++];
        r->fd = fd;
        r->data_size = RING_PAGES * p->page;
        r->base = mmap(NULL, r->data_size + p->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (r->base == MAP_FAILED) {
            r->base = NULL;
            rc = -errno;
            snprintf(err, errlen, "cannot map the perf ring of CPU %d: %s", cpu, strerror(errno));
            goto fail;
        }
    }
    if (!p->nrings) {
        rc = -ENODEV;
        snprintf(err, errlen, "no CPU accepted a cpu-clock perf event");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    perf_sampler_close(p);
    return rc;
}

/* Copies n bytes at ring offset off (wrapping) into dst. */
static void ring_copy(const struct ring *r, const char *data, uint64_t off, void *dst, size_t n)
{
    size_t pos = off & (r->data_size - 1);
    size_t first = r->data_size - pos < n ? r->data_size - pos : n;
    memcpy(dst, data + pos, first);
    if (first < n)
        memcpy((char *)dst + first, data, n - first);
}

/* Splits a call chain at its context markers into kernel and user frames and calls cb. */
static void emit(struct perf_sampler *p, uint32_t pid, uint32_t tid, const uint64_t *ips,
                 uint64_t nr, host_sample_cb cb, void *arg)
{
    uint64_t k[MAX_FRAMES], u[MAX_FRAMES];
    size_t nk = 0, nu = 0;
    int ctx = 0; /* 1 kernel, 2 user */
    for (uint64_t i = 0; i < nr; i++) {
        uint64_t ip = ips[i];
        if (ip >= (uint64_t)PERF_CONTEXT_MAX) {
            ctx = ip == (uint64_t)PERF_CONTEXT_KERNEL ? 1
                  : ip == (uint64_t)PERF_CONTEXT_USER ? 2
                                                      : 0;
            continue;
        }
        if (ctx == 1 && nk < MAX_FRAMES)
            k[nk++] = ip;
        else if (ctx == 2 && nu < MAX_FRAMES)
            u[nu++] = ip;
    }
    struct host_sample s = {
        .pid = pid,
        .tid = tid,
        .kind = HOST_SAMPLE_CPU,
        .weight = 1,
        .kernel = k,
        .nkernel = nk,
        .user = u,
        .nuser = nu,
        .user_truncated = nu == MAX_FRAMES,
    };
    p->samples++;
    cb(&s, arg);
}

int perf_sampler_drain(struct perf_sampler *p, host_sample_cb cb, void *arg)
{
    int n = 0;
    uint64_t recbuf[3 + MAX_FRAMES + 8];
    char *rec = (char *)recbuf;
    for (int i = 0; i < p->nrings; i++) {
        struct ring *r = &p->rings[i];
        struct perf_event_mmap_page *meta = r->base;
        const char *data = (const char *)r->base + p->page;
        uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
        uint64_t tail = meta->data_tail;
        while (tail < head) {
            struct perf_event_header h;
            ring_copy(r, data, tail, &h, sizeof(h));
            if (h.size < sizeof(h))
                break; /* corrupt: drop the rest of this ring */
            if (h.type == PERF_RECORD_SAMPLE && h.size <= sizeof(recbuf)) {
                ring_copy(r, data, tail, rec, h.size);
                uint32_t pid, tid;
                uint64_t nr;
                memcpy(&pid, rec + 8, 4);
                memcpy(&tid, rec + 12, 4);
                memcpy(&nr, rec + 16, 8);
                if (24 + nr * 8 <= h.size && pid != 0 && (p->pid == 0 || pid == p->pid) &&
                    pid != (uint32_t)getpid()) {
                    emit(p, pid, tid, recbuf + 3, nr, cb, arg);
                    n++;
                }
            } else if (h.type == PERF_RECORD_LOST && h.size >= 24) {
                uint64_t lost;
                ring_copy(r, data, tail + 16, &lost, 8);
                p->lost += lost;
            }
            tail += h.size;
        }
        __atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
    }
    return n;
}

void perf_sampler_stats(const struct perf_sampler *p, struct perf_sampler_stats *st)
{
    st->samples = p->samples;
    st->lost = p->lost;
}

void perf_sampler_close(struct perf_sampler *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nrings; i++) {
        if (p->rings[i].base)
            munmap(p->rings[i].base, p->rings[i].data_size + p->page);
        close(p->rings[i].fd);
    }
    free(p->rings);
    free(p);
}
