/* render.c - query results as terminal text (tables with human units, indented trees) */
#include "cli/render.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/xalloc.h"

void render_value(int64_t v, const char *unit, char *out, size_t n)
{
    double a = (double)v, abs = a < 0 ? -a : a;
    if (unit && !strcmp(unit, "nanoseconds")) {
        if (abs < 1e3)
            snprintf(out, n, "%" PRId64 " ns", v);
        else if (abs < 1e6)
            snprintf(out, n, "%.2f µs", a / 1e3);
        else if (abs < 1e9)
            snprintf(out, n, "%.2f ms", a / 1e6);
        else if (abs < 600e9)
            snprintf(out, n, "%.2f s", a / 1e9);
        else if (abs < 3600e9 * 10)
            snprintf(out, n, "%.2f min", a / 60e9);
        else
            snprintf(out, n, "%.2f h", a / 3600e9);
        return;
    }
    if (unit && !strcmp(unit, "bytes")) {
        static const char *u[] = {"KB", "MB", "GB", "TB", "PB"};
        if (abs < 1024) {
            snprintf(out, n, "%" PRId64 " B", v);
            return;
        }
        int i = 0;
        a /= 1024;
        abs /= 1024;
        while (abs >= 1024 && i < 4) {
            a /= 1024;
            abs /= 1024;
            i++;
        }
        snprintf(out, n, "%.2f %s", a, u[i]);
        return;
    }
    static const char *u[] = {"k", "M", "G", "T"};
    if (abs < 10000) {
        snprintf(out, n, "%" PRId64, v);
        return;
    }
    int i = 0;
    a /= 1000;
    abs /= 1000;
    while (abs >= 1000 && i < 3) {
        a /= 1000;
        abs /= 1000;
        i++;
    }
    snprintf(out, n, "%.*f%s", abs < 100 ? 1 : 0, a, u[i]);
}

static json_t *load(const char *json, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(json, len, 0, &je);
    if (!j)
        snprintf(err, errlen, "server sent bad JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
    else if (!json_is_object(j)) {
        snprintf(err, errlen, "server sent JSON that is not an object");
        json_decref(j);
        j = NULL;
    }
    return j;
}

static double pct(int64_t part, int64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static int64_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? (int64_t)json_number_value(v) : 0;
}

static void pad(struct buf *out, const char *s, int width)
{
    /* width in characters: count UTF-8 lead bytes only */
    int chars = 0;
    for (const char *p = s; *p; p++)
        chars += ((unsigned char)*p & 0xc0) != 0x80;
    for (int i = chars; i < width; i++)
        buf_putc(out, ' ');
    buf_puts(out, s);
}

int render_top(const char *json, size_t len, size_t limit, struct buf *out, char *err,
               size_t errlen)
{
    json_t *j = load(json, len, err, errlen);
    if (!j)
        return -EMBER_EINVAL_INPUT;
    int rc = 0;
    const char *unit = json_string_value(json_object_get(j, "unit"));
    int64_t total = jint(j, "total");
    json_t *fns = json_object_get(j, "functions");
    if (!json_is_array(fns)) {
        snprintf(err, errlen, "top: the response has no \"functions\" array");
        rc = -EMBER_EINVAL_INPUT;
        goto out;
    }
    size_t n = json_array_size(fns);
    if (limit && n > limit)
        n = limit;
    char tot[32];
    render_value(total, unit, tot, sizeof(tot));
    buf_printf(out, "Total: %s (%s), %zu functions%s\n", tot, unit ? unit : "unknown unit",
               json_array_size(fns), n < json_array_size(fns) ? " (top shown)" : "");
    /* column widths from the values */
    char(*vals)[2][32] = xcalloc(n ? n : 1, sizeof(*vals));
    int ws = 4, wt = 5;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(fns, i);
        render_value(jint(f, "self"), unit, vals[i][0], 32);
        render_value(jint(f, "total"), unit, vals[i][1], 32);
        int a = (int)strlen(vals[i][0]), b = (int)strlen(vals[i][1]);
        ws = a > ws ? a : ws;
        wt = b > wt ? b : wt;
    }
    pad(out, "Self", ws);
    buf_puts(out, "    Self%");
    buf_puts(out, "  ");
    pad(out, "Total", wt);
    buf_puts(out, "   Total%  Function\n");
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(fns, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        pad(out, vals[i][0], ws);
        buf_printf(out, "  %6.2f%%  ", pct(jint(f, "self"), total));
        pad(out, vals[i][1], wt);
        buf_printf(out, "  %6.2f%%  %s\n", pct(jint(f, "total"), total), name ? name : "?");
    }
    free(vals);
out:
    json_decref(j);
    return rc;
}

/* A node of the flame graph tree rebuilt from the levels. */
struct fnode {
    int64_t x, total, self;
    size_t name;
    size_t parent; /* index in the node array; SIZE_MAX for roots */
    size_t depth;
};

static int cmp_by_total(const void *a, const void *b, void *arg)
{
    const struct fnode *nodes = arg;
    const struct fnode *x = &nodes[*(const size_t *)a], *y = &nodes[*(const size_t *)b];
    return x->total < y->total ? 1 : x->total > y->total ? -1 : 0;
}

static void print_tree(const struct fnode *nodes, size_t nn, size_t at, json_t *names,
                       int64_t whole, const char *unit, double min_pct, size_t max_depth,
                       struct buf *out)
{
    const struct fnode *n = &nodes[at];
    char tot[32], self[32];
    render_value(n->total, unit, tot, sizeof(tot));
    render_value(n->self, unit, self, sizeof(self));
    buf_printf(out, "%6.2f%%  ", pct(n->total, whole));
    pad(out, tot, 10);
    buf_puts(out, "  ");
    pad(out, self, 10);
    buf_puts(out, "  ");
    for (size_t i = 0; i < n->depth; i++)
        buf_puts(out, "  ");
    const char *name = json_string_value(json_array_get(names, n->name));
    buf_printf(out, "%s\n", name ? name : "?");
    if (max_depth && n->depth + 1 >= max_depth)
        return;
    size_t *kids = NULL, nk = 0, cap = 0;
    for (size_t i = at + 1; i < nn; i++) {
        if (nodes[i].parent == at && pct(nodes[i].total, whole) >= min_pct) {
            kids = xgrow(kids, sizeof(*kids), nk + 1, &cap);
            kids[nk++] = i;
        }
    }
    if (nk > 1)
        qsort_r(kids, nk, sizeof(*kids), cmp_by_total, (void *)nodes);
    for (size_t i = 0; i < nk; i++)
        print_tree(nodes, nn, kids[i], names, whole, unit, min_pct, max_depth, out);
    free(kids);
}

int render_flamegraph_tree(const char *json, size_t len, double min_pct, size_t max_depth,
                           struct buf *out, char *err, size_t errlen)
{
    json_t *j = load(json, len, err, errlen);
    if (!j)
        return -EMBER_EINVAL_INPUT;
    int rc = 0;
    struct fnode *nodes = NULL;
    size_t nn = 0, cap = 0;
    json_t *fb = json_object_get(j, "flamebearer");
    json_t *names = json_object_get(fb, "names");
    json_t *levels = json_object_get(fb, "levels");
    const char *unit = json_string_value(json_object_get(j, "unit"));
    if (!unit)
        unit = json_string_value(json_object_get(json_object_get(j, "metadata"), "units"));
    if (!json_is_array(names) || !json_is_array(levels)) {
        snprintf(err, errlen, "flamegraph: the response has no flamebearer names and levels");
        rc = -EMBER_EINVAL_INPUT;
        goto out;
    }
    /* nodes of level L-1 are nodes[prev_lo..prev_hi); a node's parent covers its x */
    size_t prev_lo = 0, prev_hi = 0;
    for (size_t l = 0; l < json_array_size(levels); l++) {
        json_t *lv = json_array_get(levels, l);
        size_t m = json_array_size(lv);
        if (!json_is_array(lv) || m % 4) {
            snprintf(err, errlen, "flamegraph: level %zu is not a list of 4-tuples", l);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
        size_t lo = nn, p = prev_lo;
        int64_t x = 0;
        for (size_t k = 0; k < m; k += 4) {
            struct fnode f;
            f.x = x + (int64_t)json_integer_value(json_array_get(lv, k));
            f.total = (int64_t)json_integer_value(json_array_get(lv, k + 1));
            f.self = (int64_t)json_integer_value(json_array_get(lv, k + 2));
            f.name = (size_t)json_integer_value(json_array_get(lv, k + 3));
            f.depth = l;
            f.parent = SIZE_MAX;
            x = f.x + f.total;
            while (p < prev_hi && nodes[p].x + nodes[p].total <= f.x)
                p++;
            if (l > 0) {
                if (p >= prev_hi || nodes[p].x > f.x) {
                    snprintf(err, errlen, "flamegraph: node %zu of level %zu has no parent", k / 4,
                             l);
                    rc = -EMBER_EINVAL_INPUT;
                    goto out;
                }
                f.parent = p;
            }
            nodes = xgrow(nodes, sizeof(*nodes), nn + 1, &cap);
            nodes[nn++] = f;
        }
        prev_lo = lo;
        prev_hi = nn;
    }
    int64_t whole = jint(fb, "numTicks");
    if (nn)
        buf_puts(out, " Total%       Total        Self  Function\n");
    for (size_t i = 0; i < nn && nodes[i].depth == 0; i++) {
        if (!whole)
            whole = nodes[i].total;
        print_tree(nodes, nn, i, names, whole, unit, min_pct, max_depth, out);
    }
out:
    free(nodes);
    json_decref(j);
    return rc;
}

int render_diff(const char *json, size_t len, size_t limit, struct buf *out, char *err,
                size_t errlen)
{
    json_t *j = load(json, len, err, errlen);
    if (!j)
        return -EMBER_EINVAL_INPUT;
    int rc = 0;
    json_t *fns = json_object_get(j, "functions");
    if (!json_is_array(fns)) {
        snprintf(err, errlen, "diff: the response has no \"functions\" array");
        rc = -EMBER_EINVAL_INPUT;
        goto out;
    }
    const char *unit = json_string_value(json_object_get(json_object_get(j, "metadata"), "units"));
    int64_t lt = jint(j, "leftTicks"), rt = jint(j, "rightTicks");
    char ls[32], rs[32];
    render_value(lt, unit, ls, sizeof(ls));
    render_value(rt, unit, rs, sizeof(rs));
    buf_printf(out, "Left total: %s   Right total: %s   (self share of each side's total)\n", ls,
               rs);
    size_t n = json_array_size(fns);
    if (limit && n > limit)
        n = limit;
    buf_puts(out, "  Left%   Right%         Δ  Function\n");
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(fns, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        double l = pct(jint(f, "left_self"), lt), r = pct(jint(f, "right_self"), rt);
        json_t *d = json_object_get(f, "diff");
        double delta = json_is_number(d) ? json_number_value(d) : r - l;
        buf_printf(out, "%6.2f%%  %6.2f%%  %+8.2f  %s\n", l, r, delta, name ? name : "?");
    }
    if (json_array_size(fns) == 0)
        buf_puts(out, "(no functions on either side)\n");
out:
    json_decref(j);
    return rc;
}

int render_series(const char *json, size_t len, struct buf *out, char *err, size_t errlen)
{
    json_t *j = load(json, len, err, errlen);
    if (!j)
        return -EMBER_EINVAL_INPUT;
    int rc = 0;
    json_t *series = json_object_get(j, "series");
    if (!json_is_array(series)) {
        snprintf(err, errlen, "series: the response has no \"series\" array");
        rc = -EMBER_EINVAL_INPUT;
        goto out;
    }
    size_t i;
    json_t *s;
    json_array_foreach(series, i, s)
    {
        json_t *labels = json_object_get(s, "labels");
        const char *k;
        json_t *v;
        int first = 1;
        buf_putc(out, '{');
        json_object_foreach(labels, k, v)
        {
            const char *sv = json_string_value(v);
            buf_printf(out, "%s%s=", first ? "" : ", ", k);
            buf_json_str(out, sv ? sv : "", sv ? strlen(sv) : 0);
            first = 0;
        }
        buf_puts(out, "}\n");
    }
out:
    json_decref(j);
    return rc;
}

int render_strings(const char *json, size_t len, const char *key, struct buf *out, char *err,
                   size_t errlen)
{
    json_t *j = load(json, len, err, errlen);
    if (!j)
        return -EMBER_EINVAL_INPUT;
    int rc = 0;
    json_t *arr = json_object_get(j, key);
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "the response has no \"%s\" array", key);
        rc = -EMBER_EINVAL_INPUT;
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s)
            buf_printf(out, "%s\n", s);
    }
out:
    json_decref(j);
    return rc;
}

int render_types(const char *json, size_t len, struct buf *out, char *err, size_t errlen)
{
    json_t *j = load(json, len, err, errlen);
    if (!j)
        return -EMBER_EINVAL_INPUT;
    int rc = 0;
    json_t *arr = json_object_get(j, "types");
    if (!json_is_array(arr)) {
        snprintf(err, errlen, "profile-types: the response has no \"types\" array");
        rc = -EMBER_EINVAL_INPUT;
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(json_object_get(v, "id"));
        if (!s)
            s = json_string_value(v);
        if (s)
            buf_printf(out, "%s\n", s);
    }
out:
    json_decref(j);
    return rc;
}
