/* host_ksyms.c - /proc/kallsyms text symbols, sorted by address for binary search */
#include "agent/host_ksyms.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/xalloc.h"

struct ksym {
    uint64_t addr;
    uint32_t name, module; /* offsets into pool */
};

struct host_ksyms {
    VEC(struct ksym) syms;
    VEC(char) pool;
};

static uint32_t intern(struct host_ksyms *k, const char *s, size_t n)
{
    uint32_t off = (uint32_t)k->pool.len;
    VEC_RESERVE(k->pool, n + 1);
    memcpy(k->pool.data + k->pool.len, s, n);
    k->pool.data[k->pool.len + n] = 0;
    k->pool.len += n + 1;
    return off;
}

static int cmp_ksym(const void *a, const void *b)
{
    const struct ksym *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int host_ksyms_load(struct host_ksyms **out, const char *path)
{
    *out = NULL;
    FILE *f = fopen(path ? path : "/proc/kallsyms", "re");
    if (!f)
        return -errno;
    struct host_ksyms *k = xcalloc(1, sizeof(*k));
    intern(k, "", 0);
    char line[512];
    uint32_t last_mod = 0;
    char last_mod_name[128] = "";
    int nonzero = 0;
    while (fgets(line, sizeof(line), f)) {
        char *end;
        uint64_t addr = strtoull(line, &end, 16);
        if (end == line || end[0] != ' ' || !end[1] || end[2] != ' ')
            continue;
        char type = end[1];
        if (type != 'T' && type != 't' && type != 'W' && type != 'w')
            continue;
        char *name = end + 3;
        size_t nl = strcspn(name, " \t\n");
        char *mod = name + nl;
        uint32_t modoff = 0;
        while (*mod == ' ' || *mod == '\t')
            mod++;
        if (*mod == '[') {
            size_t ml = strcspn(mod + 1, "]");
            if (ml < sizeof(last_mod_name) &&
                (strncmp(last_mod_name, mod + 1, ml) || last_mod_name[ml])) {
                snprintf(last_mod_name, sizeof(last_mod_name), "%.*s", (int)ml, mod + 1);
                last_mod = intern(k, mod + 1, ml);
            }
            modoff = last_mod;
        }
        if (addr)
            nonzero = 1;
        struct ksym s = {addr, intern(k, name, nl), modoff};
        VEC_PUSH(k->syms, s);
    }
    fclose(f);
    if (!nonzero) {
        host_ksyms_free(k);
        return -EMBER_ENOTFOUND;
    }
    qsort(k->syms.data, k->syms.len, sizeof(struct ksym), cmp_ksym);
    *out = k;
    return 0;
}

const char *host_ksyms_lookup(const struct host_ksyms *k, uint64_t addr, const char **module)
{
    size_t lo = 0, hi = k->syms.len;
    while (lo < hi) { /* first symbol above addr */
        size_t mid = lo + (hi - lo) / 2;
        if (k->syms.data[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct ksym *s = &k->syms.data[lo - 1];
    if (module)
        *module = k->pool.data + s->module;
    return k->pool.data + s->name;
}

size_t host_ksyms_count(const struct host_ksyms *k)
{
    return k->syms.len;
}

void host_ksyms_free(struct host_ksyms *k)
{
    if (!k)
        return;
    free(k->syms.data);
    free(k->pool.data);
    free(k);
}
