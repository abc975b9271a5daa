/* query.c - the query endpoints: labels, series, flame graph, top, sandwich, timeline, diff */
#include "query.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/xalloc.h"
#include "profile/labels.h"
#include "profile/profile.h"
#include "profile/selector.h"
#include "query/ctree.h"
#include "query/query_int.h"
#include "store/store.h"

#define NS_PER_S            1000000000LL
#define DEFAULT_MAX_NODES   8192
#define MAX_MAX_NODES       1048576
#define TIMELINE_RESOLUTION 1500

__attribute__((format(printf, 4, 5))) int qerr(char *err, size_t errlen, int code, const char *fmt,
                                               ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int qscope_open(struct qscope *sc, const struct query_params *q, const char *query, int64_t from_ns,
                int64_t until_ns, int need_type, char *err, size_t errlen)
{
    char perr[256];
    int rc;
    memset(sc, 0, sizeof(*sc));
    rc = selector_parse(&sc->sel, query, perr, sizeof(perr));
    if (rc)
        return qerr(err, errlen, -EMBER_EINVAL_INPUT, "invalid query: %s", perr);
    sc->have_sel = 1;
    if (need_type && !sc->sel.profile_type) {
        qscope_close(sc);
        return qerr(err, errlen, -EMBER_EINVAL_INPUT,
                    "query must start with a profile type, e.g. "
                    "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"app\"}; "
                    "see /api/v1/profile-types");
    }
    if (sc->sel.profile_type && ptype_parse(&sc->pt, sc->sel.profile_type)) {
        qscope_close(sc);
        return qerr(err, errlen, -EMBER_EINVAL_INPUT, "invalid profile type in query");
    }
    if (from_ns >= until_ns) {
        qscope_close(sc);
        return qerr(err, errlen, -EMBER_EINVAL_INPUT, "'from' must be before 'until'");
    }
    sc->sq.tenant = q->tenant && q->tenant[0] ? q->tenant : "anonymous";
    sc->sq.sel = &sc->sel;
    sc->sq.from_ns = from_ns;
    sc->sq.until_ns = until_ns;
    return 0;
}

void qscope_close(struct qscope *sc)
{
    if (sc->have_sel)
        selector_release(&sc->sel);
    ptype_release(&sc->pt);
    memset(sc, 0, sizeof(*sc));
}

int qstore_err(int rc, const char *what, char *err, size_t errlen)
{
    if (rc == -EMBER_EINVAL_INPUT || rc == -EMBER_ETOOBIG)
        return qerr(err, errlen, -EMBER_EINVAL_INPUT, "%s: %s", what, ember_strerror(rc));
    return qerr(err, errlen, rc < 0 ? rc : -EMBER_ECORRUPT, "%s failed: %s", what,
                ember_strerror(rc));
}

static size_t max_nodes_of(const struct query_params *q)
{
    if (!q->max_nodes)
        return DEFAULT_MAX_NODES;
    return q->max_nodes > MAX_MAX_NODES ? MAX_MAX_NODES : q->max_nodes;
}

static void json_kv_str(struct buf *out, const char *k, const char *v)
{
    buf_json_str(out, k, strlen(k));
    buf_putc(out, ':');
    buf_json_str(out, v ? v : "", v ? strlen(v) : 0);
}

static void json_kv_i64(struct buf *out, const char *k, int64_t v)
{
    buf_json_str(out, k, strlen(k));
    buf_putc(out, ':');
    buf_put_i64(out, v);
}

/* Merges the scope's stacks into side of t (the stackset is released before returning). */
static int merge_into(struct store *s, struct qscope *sc, struct ctree *t, int side,
                      size_t *nprofiles, char *err, size_t errlen)
{
    struct stackset ss;
    memset(&ss, 0, sizeof(ss));
    stackset_init(&ss);
    int rc = store_merge(s, &sc->sq, &ss);
    if (rc) {
        rc = qstore_err(rc, "merging profiles", err, errlen);
        goto out;
    }
    ctree_add_stackset(t, &ss, side);
    if (nprofiles)
        *nprofiles = ss.nprofiles;
out:
    stackset_release(&ss);
    return rc;
}

/* Opens the scope of q's left side and builds its finished tree. */
static int build_tree(struct store *s, const struct query_params *q, struct qscope *sc,
                      struct ctree *t, size_t *nprofiles, char *err, size_t errlen)
{
    int rc = qscope_open(sc, q, q->query, q->from_ns, q->until_ns, 1, err, errlen);
    if (rc)
        return rc;
    ctree_init(t);
    rc = merge_into(s, sc, t, 0, nprofiles, err, errlen);
    ctree_finish(t);
    return rc;
}

void query_flamegraph_json(const struct ctree *t, const char *ptype, const char *unit,
                           size_t max_nodes, size_t nprofiles, struct buf *out)
{
    struct buf files = BUF_INIT;
    buf_puts(out, "{\"version\":1,\"flamebearer\":");
    ctree_flamebearer(t, 1, max_nodes, out, &files);
    buf_puts(out, ",\"files\":");
    buf_append(out, files.data, files.len);
    buf_puts(out, ",\"metadata\":{\"format\":\"single\",");
    json_kv_str(out, "units", unit);
    buf_putc(out, ',');
    json_kv_str(out, "name", ptype);
    buf_puts(out, "},");
    json_kv_i64(out, "total", t->nodes.data[0].total[0]);
    buf_putc(out, ',');
    json_kv_str(out, "unit", unit);
    buf_putc(out, ',');
    json_kv_i64(out, "profiles", (int64_t)nprofiles);
    buf_putc(out, '}');
    buf_release(&files);
}

int query_flamegraph(struct store *s, const struct query_params *q, struct buf *out, char *err,
                     size_t errlen)
{
    struct qscope sc;
    struct ctree t;
    size_t nprofiles = 0;
    int rc = build_tree(s, q, &sc, &t, &nprofiles, err, errlen);
    if (rc == 0)
        query_flamegraph_json(&t, sc.sel.profile_type, sc.pt.sample_unit, max_nodes_of(q),
                              nprofiles, out);
    if (sc.have_sel)
        ctree_release(&t);
    qscope_close(&sc);
    return rc;
}

struct sort_ctx {
    const struct ctree *t;
    int by_total;
};

static int cmp_top(const void *a, const void *b, void *arg)
{
    const struct sort_ctx *c = arg;
    const struct cfunc *x = a, *y = b;
    int64_t vx = c->by_total ? x->total[0] : x->self[0];
    int64_t vy = c->by_total ? y->total[0] : y->self[0];
    if (vx != vy)
        return vx > vy ? -1 : 1;
    vx = c->by_total ? x->self[0] : x->total[0];
    vy = c->by_total ? y->self[0] : y->total[0];
    if (vx != vy)
        return vx > vy ? -1 : 1;
    return strcmp(strtab_get(&c->t->names, x->name), strtab_get(&c->t->names, y->name));
}

static void put_name_file(struct buf *out, const struct ctree *t, uint32_t name)
{
    uint32_t file = t->name_file.data[name];
    buf_puts(out, "\"name\":");
    buf_json_str(out, strtab_get(&t->names, name), strtab_strlen(&t->names, name));
    buf_puts(out, ",\"file\":");
    buf_json_str(out, strtab_get(&t->names, file), strtab_strlen(&t->names, file));
}

void query_top_json(const struct ctree *t, const char *unit, int by_total, size_t limit,
                    struct buf *out)
{
    struct cfunc *f;
    size_t n;
    struct sort_ctx c = {t, by_total};
    ctree_functions(t, &f, &n);
    qsort_r(f, n, sizeof(*f), cmp_top, &c);
    if (limit && n > limit)
        n = limit;
    buf_putc(out, '{');
    json_kv_str(out, "unit", unit);
    buf_putc(out, ',');
    json_kv_i64(out, "total", t->nodes.data[0].total[0]);
    buf_puts(out, ",\"functions\":[");
    for (size_t i = 0; i < n; i++) {
        buf_puts(out, i ? ",{" : "{");
        put_name_file(out, t, f[i].name);
        buf_putc(out, ',');
        json_kv_i64(out, "self", f[i].self[0]);
        buf_putc(out, ',');
        json_kv_i64(out, "total", f[i].total[0]);
        buf_putc(out, '}');
    }
    buf_puts(out, "]}");
    free(f);
}

int query_top(struct store *s, const struct query_params *q, struct buf *out, char *err,
              size_t errlen)
{
    struct qscope sc;
    struct ctree t;
    int rc = build_tree(s, q, &sc, &t, NULL, err, errlen);
    if (rc == 0)
        query_top_json(&t, sc.pt.sample_unit, q->sort_by_total, q->limit, out);
    if (sc.have_sel)
        ctree_release(&t);
    qscope_close(&sc);
    return rc;
}

int query_sandwich_json(const struct ctree *t, const char *function, const char *unit,
                        size_t max_nodes, struct buf *out, char *err, size_t errlen)
{
    struct ctree callers, callees;
    struct buf files = BUF_INIT;
    struct cfunc *f = NULL;
    size_t n = 0, i;
    uint32_t fn;
    if (!function || !function[0])
        return qerr(err, errlen, -EMBER_EINVAL_INPUT, "missing 'function' parameter");
    fn = strtab_find(&t->names, function, strlen(function));
    ctree_functions(t, &f, &n);
    for (i = 0; i < n && fn != UINT32_MAX; i++) {
        if (f[i].name == fn)
            break;
    }
    if (fn == UINT32_MAX || i == n) {
        free(f);
        return qerr(err, errlen, -EMBER_EINVAL_INPUT,
                    "function '%s' does not occur in the selected profiles", function);
    }
    ctree_sandwich(t, fn, &callers, &callees);
    buf_putc(out, '{');
    json_kv_str(out, "function", function);
    buf_putc(out, ',');
    json_kv_str(out, "unit", unit);
    buf_putc(out, ',');
    json_kv_i64(out, "total", t->nodes.data[0].total[0]);
    buf_putc(out, ',');
    json_kv_i64(out, "self", f[i].self[0]);
    buf_putc(out, ',');
    json_kv_i64(out, "function_total", f[i].total[0]);
    buf_puts(out, ",\"callers\":");
    ctree_flamebearer(&callers, 1, max_nodes, out, &files);
    buf_puts(out, ",\"callers_files\":");
    buf_append(out, files.data, files.len);
    buf_reset(&files);
    buf_puts(out, ",\"callees\":");
    ctree_flamebearer(&callees, 1, max_nodes, out, &files);
    buf_puts(out, ",\"callees_files\":");
    buf_append(out, files.data, files.len);
    buf_putc(out, '}');
    buf_release(&files);
    ctree_release(&callers);
    ctree_release(&callees);
    free(f);
    return 0;
}

int query_sandwich(struct store *s, const struct query_params *q, struct buf *out, char *err,
                   size_t errlen)
{
    struct qscope sc;
    struct ctree t;
    int rc;
    if (!q->function || !q->function[0])
        return qerr(err, errlen, -EMBER_EINVAL_INPUT, "missing 'function' parameter");
    rc = build_tree(s, q, &sc, &t, NULL, err, errlen);
    if (rc == 0)
        rc = query_sandwich_json(&t, q->function, sc.pt.sample_unit, max_nodes_of(q), out, err,
                                 errlen);
    if (sc.have_sel)
        ctree_release(&t);
    qscope_close(&sc);
    return rc;
}

int64_t query_step(int64_t from_ns, int64_t until_ns, int64_t step_ns)
{
    static const int64_t nice[] = {15,   20,   30,   60,   120,   300,   600,   900,
                                   1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400};
    int64_t range = until_ns > from_ns ? until_ns - from_ns : 0, step_s;
    if (step_ns > 0) {
        step_s = (step_ns + NS_PER_S - 1) / NS_PER_S;
    } else {
        int64_t raw = range / TIMELINE_RESOLUTION;
        step_s = 0;
        for (size_t i = 0; i < sizeof(nice) / sizeof(nice[0]); i++) {
            if (nice[i] * NS_PER_S >= raw) {
                step_s = nice[i];
                break;
            }
        }
        if (!step_s) /* past a day: whole days */
            step_s = (raw + 86400 * NS_PER_S - 1) / (86400 * NS_PER_S) * 86400;
    }
    if (step_s < 1)
        step_s = 1;
    /* at most QUERY_MAX_POINTS steps: step >= range / QUERY_MAX_POINTS */
    int64_t min_s = (range / QUERY_MAX_POINTS + NS_PER_S - 1) / NS_PER_S;
    if (step_s < min_s)
        step_s = min_s;
    return step_s * NS_PER_S;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int query_timeline(struct store *s, const struct query_params *q, struct buf *out, char *err,
                   size_t errlen)
{
    struct qscope sc;
    int64_t *values = NULL;
    int rc = qscope_open(&sc, q, q->query, q->from_ns, q->until_ns, 1, err, errlen);
    if (rc)
        return rc;
    int64_t step = query_step(q->from_ns, q->until_ns, q->step_ns);
    /* Align buckets to multiples of step so that they do not move as "now" advances. */
    int64_t start = floor_div(q->from_ns, step) * step;
    size_t nsteps = (size_t)((q->until_ns - start + step - 1) / step);
    values = xcalloc(nsteps, sizeof(*values));
    sc.sq.from_ns = start;
    sc.sq.until_ns = start + (int64_t)nsteps * step;
    rc = store_totals(s, &sc.sq, step, values, nsteps);
    if (rc) {
        rc = qstore_err(rc, "computing the timeline", err, errlen);
        goto out;
    }
    buf_putc(out, '{');
    json_kv_i64(out, "start", start / NS_PER_S);
    buf_putc(out, ',');
    json_kv_i64(out, "step", step / NS_PER_S);
    buf_putc(out, ',');
    json_kv_str(out, "unit", sc.pt.sample_unit);
    buf_puts(out, ",\"values\":[");
    for (size_t i = 0; i < nsteps; i++) {
        if (i)
            buf_putc(out, ',');
        buf_put_i64(out, values[i]);
    }
    buf_puts(out, "]}");
out:
    free(values);
    qscope_close(&sc);
    return rc;
}

struct diff_row {
    uint32_t name;
    int64_t self[2], total[2];
    double diff;
};

static int cmp_diff(const void *a, const void *b, void *arg)
{
    const struct ctree *t = arg;
    const struct diff_row *x = a, *y = b;
    double dx = x->diff < 0 ? -x->diff : x->diff, dy = y->diff < 0 ? -y->diff : y->diff;
    if (dx != dy)
        return dx > dy ? -1 : 1;
    return strcmp(strtab_get(&t->names, x->name), strtab_get(&t->names, y->name));
}

void query_diff_json(const struct ctree *t, const char *ptype, const char *unit, size_t max_nodes,
                     size_t limit, struct buf *out)
{
    struct buf files = BUF_INIT;
    struct cfunc *f;
    size_t n;
    int64_t lt = t->nodes.data[0].total[0], rt = t->nodes.data[0].total[1];
    buf_puts(out, "{\"version\":1,\"flamebearer\":");
    ctree_flamebearer(t, 2, max_nodes, out, &files);
    buf_putc(out, ',');
    json_kv_i64(out, "leftTicks", lt);
    buf_putc(out, ',');
    json_kv_i64(out, "rightTicks", rt);
    buf_puts(out, ",\"files\":");
    buf_append(out, files.data, files.len);
    buf_puts(out, ",\"metadata\":{\"format\":\"double\",");
    json_kv_str(out, "units", unit);
    buf_putc(out, ',');
    json_kv_str(out, "name", ptype);
    buf_puts(out, "},");
    json_kv_str(out, "unit", unit);

    ctree_functions(t, &f, &n);
    struct diff_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        double ls = lt ? 100.0 * (double)f[i].self[0] / (double)lt : 0;
        double rs = rt ? 100.0 * (double)f[i].self[1] / (double)rt : 0;
        rows[i] = (struct diff_row){.name = f[i].name,
                                    .self = {f[i].self[0], f[i].self[1]},
                                    .total = {f[i].total[0], f[i].total[1]},
                                    .diff = rs - ls};
    }
    qsort_r(rows, n, sizeof(*rows), cmp_diff, (void *)t);
    if (limit && n > limit)
        n = limit;
    buf_puts(out, ",\"functions\":[");
    for (size_t i = 0; i < n; i++) {
        buf_puts(out, i ? ",{" : "{");
        put_name_file(out, t, rows[i].name);
        buf_putc(out, ',');
        json_kv_i64(out, "left_self", rows[i].self[0]);
        buf_putc(out, ',');
        json_kv_i64(out, "right_self", rows[i].self[1]);
        buf_putc(out, ',');
        json_kv_i64(out, "left_total", rows[i].total[0]);
        buf_putc(out, ',');
        json_kv_i64(out, "right_total", rows[i].total[1]);
        buf_puts(out, ",\"diff\":");
        buf_json_double(out, rows[i].diff);
        buf_putc(out, '}');
    }
    buf_puts(out, "]}");
    free(rows);
    free(f);
    buf_release(&files);
}

int query_diff(struct store *s, const struct query_params *q, struct buf *out, char *err,
               size_t errlen)
{
    struct qscope left, right;
    struct ctree t;
    const char *rq = q->right_query && q->right_query[0] ? q->right_query : q->query;
    int64_t rfrom = q->right_from_ns, runtil = q->right_until_ns;
    int rc;
    if (!rfrom && !runtil) {
        rfrom = q->from_ns;
        runtil = q->until_ns;
    }
    memset(&right, 0, sizeof(right));
    ctree_init(&t);
    rc = qscope_open(&left, q, q->query, q->from_ns, q->until_ns, 1, err, errlen);
    if (rc) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "left side: %s", err ? err : "");
        qerr(err, errlen, rc, "%s", tmp);
        goto out;
    }
    rc = qscope_open(&right, q, rq, rfrom, runtil, 1, err, errlen);
    if (rc) {
        char tmp[512];
        snprintf(tmp, sizeof(tmp), "right side: %s", err ? err : "");
        qerr(err, errlen, rc, "%s", tmp);
        goto out;
    }
    if (strcmp(left.sel.profile_type, right.sel.profile_type) != 0) {
        rc = qerr(err, errlen, -EMBER_EINVAL_INPUT,
                  "both sides of a diff must have the same profile type (left '%s', right '%s')",
                  left.sel.profile_type, right.sel.profile_type);
        goto out;
    }
    rc = merge_into(s, &left, &t, 0, NULL, err, errlen);
    if (rc)
        goto out;
    rc = merge_into(s, &right, &t, 1, NULL, err, errlen);
    if (rc)
        goto out;
    ctree_finish(&t);
    query_diff_json(&t, left.sel.profile_type, left.pt.sample_unit, max_nodes_of(q), q->limit, out);
out:
    ctree_release(&t);
    qscope_close(&left);
    qscope_close(&right);
    return rc;
}

static void put_strlist(struct buf *out, const struct strlist *l)
{
    buf_putc(out, '[');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_putc(out, ',');
        buf_json_str(out, l->v[i], strlen(l->v[i]));
    }
    buf_putc(out, ']');
}

int query_profile_types(struct store *s, const struct query_params *q, struct buf *out, char *err,
                        size_t errlen)
{
    struct qscope sc;
    struct strlist l;
    size_t k = 0;
    int rc = qscope_open(&sc, q, q->query, q->from_ns, q->until_ns, 0, err, errlen);
    if (rc)
        return rc;
    memset(&l, 0, sizeof(l));
    rc = store_label_values(s, &sc.sq, LABEL_PROFILE_TYPE, &l);
    if (rc) {
        rc = qstore_err(rc, "listing profile types", err, errlen);
        goto out;
    }
    buf_puts(out, "{\"types\":[");
    for (size_t i = 0; i < l.n; i++) {
        struct ptype pt;
        if (ptype_parse(&pt, l.v[i]))
            continue; /* not a profile type id: nothing a client could query */
        buf_puts(out, k++ ? ",{" : "{");
        json_kv_str(out, "id", l.v[i]);
        buf_putc(out, ',');
        json_kv_str(out, "name", pt.name);
        buf_putc(out, ',');
        json_kv_str(out, "sample_type", pt.sample_type);
        buf_putc(out, ',');
        json_kv_str(out, "sample_unit", pt.sample_unit);
        buf_putc(out, ',');
        json_kv_str(out, "period_type", pt.period_type);
        buf_putc(out, ',');
        json_kv_str(out, "period_unit", pt.period_unit);
        buf_putc(out, '}');
        ptype_release(&pt);
    }
    buf_puts(out, "]}");
out:
    strlist_release(&l);
    qscope_close(&sc);
    return rc;
}

int query_labels(struct store *s, const struct query_params *q, struct buf *out, char *err,
                 size_t errlen)
{
    struct qscope sc;
    struct strlist l;
    int rc = qscope_open(&sc, q, q->query, q->from_ns, q->until_ns, 0, err, errlen);
    if (rc)
        return rc;
    memset(&l, 0, sizeof(l));
    rc = store_label_names(s, &sc.sq, &l);
    if (rc) {
        rc = qstore_err(rc, "listing label names", err, errlen);
        goto out;
    }
    buf_puts(out, "{\"names\":");
    put_strlist(out, &l);
    buf_putc(out, '}');
out:
    strlist_release(&l);
    qscope_close(&sc);
    return rc;
}

int query_label_values(struct store *s, const struct query_params *q, struct buf *out, char *err,
                       size_t errlen)
{
    struct qscope sc;
    struct strlist l;
    int rc;
    if (!q->name || !label_name_valid(q->name, strlen(q->name)))
        return qerr(err, errlen, -EMBER_EINVAL_INPUT,
                    "label name '%s' must match [a-zA-Z_][a-zA-Z0-9_]*", q->name ? q->name : "");
    rc = qscope_open(&sc, q, q->query, q->from_ns, q->until_ns, 0, err, errlen);
    if (rc)
        return rc;
    memset(&l, 0, sizeof(l));
    rc = store_label_values(s, &sc.sq, q->name, &l);
    if (rc) {
        rc = qstore_err(rc, "listing label values", err, errlen);
        goto out;
    }
    buf_putc(out, '{');
    json_kv_str(out, "name", q->name);
    buf_puts(out, ",\"values\":");
    put_strlist(out, &l);
    buf_putc(out, '}');
out:
    strlist_release(&l);
    qscope_close(&sc);
    return rc;
}

struct series_arg {
    struct buf *out;
    size_t n, limit;
};

static int series_cb(const struct labels *l, void *arg)
{
    struct series_arg *a = arg;
    if (a->limit && a->n >= a->limit)
        return 1;
    buf_puts(a->out, a->n++ ? ",{\"labels\":{" : "{\"labels\":{");
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            buf_putc(a->out, ',');
        json_kv_str(a->out, l->v[i].name, l->v[i].value);
    }
    buf_puts(a->out, "}}");
    return 0;
}

int query_series(struct store *s, const struct query_params *q, struct buf *out, char *err,
                 size_t errlen)
{
    struct qscope sc;
    struct series_arg a = {.out = out, .limit = q->limit};
    int rc = qscope_open(&sc, q, q->query, q->from_ns, q->until_ns, 0, err, errlen);
    if (rc)
        return rc;
    buf_puts(out, "{\"series\":[");
    rc = store_series(s, &sc.sq, series_cb, &a);
    if (rc == 1)
        rc = 0; /* stopped at the limit */
    if (rc) {
        rc = qstore_err(rc, "listing series", err, errlen);
        goto out;
    }
    buf_puts(out, "]}");
out:
    qscope_close(&sc);
    return rc;
}
