/* labels.c - sorted label sets */
#include "labels.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/xalloc.h"

void labels_init(struct labels *l)
{
    memset(l, 0, sizeof(*l));
}

void labels_release(struct labels *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    labels_init(l);
}

void labels_copy(struct labels *dst, const struct labels *src)
{
    labels_init(dst);
    if (!src->n)
        return;
    dst->v = xmalloc(src->n * sizeof(struct label));
    dst->n = dst->cap = src->n;
    for (size_t i = 0; i < src->n; i++) {
        dst->v[i].name = xstrdup(src->v[i].name);
        dst->v[i].value = xstrdup(src->v[i].value);
    }
}

static size_t lower_bound(const struct labels *l, const char *name, size_t nlen, int *found)
{
    size_t lo = 0, hi = l->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strncmp(l->v[mid].name, name, nlen);
        if (c == 0 && l->v[mid].name[nlen] != 0)
            c = 1;
        if (c < 0) {
            lo = mid + 1;
        } else {
            if (c == 0)
                *found = 1;
            hi = mid;
        }
    }
    return lo;
}

void labels_setn(struct labels *l, const char *name, size_t nlen, const char *value, size_t vlen)
{
    int found;
    size_t i = lower_bound(l, name, nlen, &found);
    if (found) {
        free(l->v[i].value);
        l->v[i].value = xstrndup(value, vlen);
        return;
    }
    l->v = xgrow(l->v, sizeof(struct label), l->n + 1, &l->cap);
    memmove(&l->v[i + 1], &l->v[i], (l->n - i) * sizeof(struct label));
    l->v[i].name = xstrndup(name, nlen);
    l->v[i].value = xstrndup(value, vlen);
    l->n++;
}

void labels_set(struct labels *l, const char *name, const char *value)
{
    labels_setn(l, name, strlen(name), value, strlen(value));
}

void labels_del(struct labels *l, const char *name)
{
    int found;
    size_t i = lower_bound(l, name, strlen(name), &found);
    if (!found)
        return;
    free(l->v[i].name);
    free(l->v[i].value);
    memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(struct label));
    l->n--;
}

const char *labels_get(const struct labels *l, const char *name)
{
    int found;
    size_t i = lower_bound(l, name, strlen(name), &found);
    return found ? l->v[i].value : NULL;
}

int labels_cmp(const struct labels *a, const struct labels *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++) {
        int c = strcmp(a->v[i].name, b->v[i].name);
        if (c)
            return c;
        c = strcmp(a->v[i].value, b->v[i].value);
        if (c)
            return c;
    }
    return a->n < b->n ? -1 : a->n > b->n;
}

uint64_t labels_hash(const struct labels *l)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < l->n; i++) {
        h = hash_u64(h ^ hash_bytes(l->v[i].name, strlen(l->v[i].name)));
        h = hash_u64(h ^ hash_bytes(l->v[i].value, strlen(l->v[i].value)));
    }
    return h;
}

void labels_format(const struct labels *l, struct buf *out)
{
    buf_putc(out, '{');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_putc(out, ',');
        buf_puts(out, l->v[i].name);
        buf_putc(out, '=');
        buf_json_str(out, l->v[i].value, strlen(l->v[i].value));
    }
    buf_putc(out, '}');
}

bool label_name_valid(const char *name, size_t n)
{
    if (n == 0 || n > 1024)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}
