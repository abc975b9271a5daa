/* perf_map.c - /tmp/perf-PID.map parsing and lookup (sorted ranges, last writer wins on overlap) */
#include "agent/perf_map.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

#define PERF_MAP_MAX (1u << 20)

struct pm_entry {
    uint64_t start, end;
    uint32_t name; /* offset in pool */
    uint32_t seq;  /* line order, to prefer later entries (code re-JITted at an address) */
};

struct perf_map {
    VEC(struct pm_entry) e;
    VEC(char) pool;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct pm_entry *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int perf_map_load(struct perf_map **out, const char *path)
{
    *out = NULL;
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    struct perf_map *m = xcalloc(1, sizeof(*m));
    char line[4096];
    uint32_t seq = 0;
    while (fgets(line, sizeof(line), f) && m->e.len < PERF_MAP_MAX) {
        char *p = line, *end;
        uint64_t start = strtoull(p, &end, 16);
        if (end == p || *end != ' ')
            continue;
        p = end + 1;
        uint64_t size = strtoull(p, &end, 16);
        if (end == p || *end != ' ' || size == 0)
            continue;
        p = end + 1;
        size_t nl = strcspn(p, "\n");
        struct pm_entry en = {start, start + size, (uint32_t)m->pool.len, seq++};
        VEC_RESERVE(m->pool, nl + 1);
        memcpy(m->pool.data + m->pool.len, p, nl);
        m->pool.data[m->pool.len + nl] = 0;
        m->pool.len += nl + 1;
        VEC_PUSH(m->e, en);
    }
    fclose(f);
    qsort(m->e.data, m->e.len, sizeof(struct pm_entry), cmp_entry);
    *out = m;
    return 0;
}

const char *perf_map_lookup(const struct perf_map *m, uint64_t pc)
{
    size_t lo = 0, hi = m->e.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->e.data[mid].start <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* the entries starting at or before pc, nearest first: the first that covers pc wins */
    for (size_t i = lo, steps = 0; i > 0 && steps < 64; i--, steps++) {
        const struct pm_entry *e = &m->e.data[i - 1];
        if (pc < e->end)
            return m->pool.data + e->name;
    }
    return NULL;
}

void perf_map_free(struct perf_map *m)
{
    if (!m)
        return;
    free(m->e.data);
    free(m->pool.data);
    free(m);
}
