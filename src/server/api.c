/* api.c - the /api/v1 query routes: URL parameters in, query engine JSON out */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "query/query.h"
#include "query/timeparse.h"
#include "server/metrics.h"
#include "server/server_int.h"

typedef int (*query_fn)(struct store *s, const struct query_params *q, struct buf *out, char *err,
                        size_t errlen);

static const struct api_route {
    const char *path;
    enum route_id route;
    query_fn fn;
} routes[] = {
    {"/api/v1/profile-types", ROUTE_PROFILE_TYPES, query_profile_types},
    {"/api/v1/labels", ROUTE_LABELS, query_labels},
    {"/api/v1/series", ROUTE_SERIES, query_series},
    {"/api/v1/flamegraph", ROUTE_FLAMEGRAPH, query_flamegraph},
    {"/api/v1/top", ROUTE_TOP, query_top},
    {"/api/v1/sandwich", ROUTE_SANDWICH, query_sandwich},
    {"/api/v1/timeline", ROUTE_TIMELINE, query_timeline},
    {"/api/v1/diff", ROUTE_DIFF, query_diff},
    {"/api/v1/export", ROUTE_EXPORT, NULL},
};

int api_route(const char *url)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!strcmp(url, routes[i].path))
            return (int)routes[i].route;
    }
    if (!strncmp(url, "/api/v1/label/", 14))
        return ROUTE_LABEL_VALUES;
    return ROUTE_OTHER;
}

/* Parses a time parameter (first of names[] present), else def. */
static int time_arg(struct http_req *rq, const char *a, const char *b, const char *def, int64_t now,
                    int64_t *out, struct http_resp *rs)
{
    const char *v = req_arg(rq, a), *used = a;

    if ((!v || !*v) && b) {
        v = req_arg(rq, b);
        used = b;
    }
    if (!v || !*v) {
        v = def;
        used = a;
    }
    if (time_parse(v, now, out)) {
        resp_error(
            rs, 400,
            "%s: cannot parse time '%.64s' (want unix seconds/ms/ns, RFC 3339, now or now-1h)",
            used, v);
        return -EMBER_EINVAL_INPUT;
    }
    return 0;
}

static int size_arg(struct http_req *rq, const char *name, size_t *out, struct http_resp *rs)
{
    const char *v = req_arg(rq, name);
    char *end;
    unsigned long long n;

    *out = 0;
    if (!v || !*v)
        return 0;
    n = strtoull(v, &end, 10);
    if (*end || *v == '-' || n > (1ull << 30)) {
        resp_error(rs, 400, "%s: '%.32s' is not a non-negative integer", name, v);
        return -EMBER_EINVAL_INPUT;
    }
    *out = (size_t)n;
    return 0;
}

static const char *arg_or(struct http_req *rq, const char *a, const char *b)
{
    const char *v = req_arg(rq, a);
    return v && *v ? v : req_arg(rq, b);
}

static int parse_params(struct http_req *rq, int route, struct query_params *q, char **label_name,
                        struct http_resp *rs)
{
    int64_t now = time_now_ns();
    const char *v;

    memset(q, 0, sizeof(*q));
    q->tenant = rq->tenant;
    q->query = req_arg(rq, "query");
    if (route == ROUTE_DIFF) {
        q->query = arg_or(rq, "left_query", "query");
        q->right_query = arg_or(rq, "right_query", "query");
        if (time_arg(rq, "left_from", "from", "now-1h", now, &q->from_ns, rs) ||
            time_arg(rq, "left_until", "until", "now", now, &q->until_ns, rs) ||
            time_arg(rq, "right_from", "from", "now-1h", now, &q->right_from_ns, rs) ||
            time_arg(rq, "right_until", "until", "now", now, &q->right_until_ns, rs))
            return -EMBER_EINVAL_INPUT;
    } else {
        if (time_arg(rq, "from", NULL, "now-1h", now, &q->from_ns, rs) ||
            time_arg(rq, "until", NULL, "now", now, &q->until_ns, rs))
            return -EMBER_EINVAL_INPUT;
    }
    if (q->from_ns > q->until_ns) {
        resp_error(rs, 400, "from is after until");
        return -EMBER_EINVAL_INPUT;
    }
    if (size_arg(rq, "max_nodes", &q->max_nodes, rs) || size_arg(rq, "limit", &q->limit, rs))
        return -EMBER_EINVAL_INPUT;
    if (!q->max_nodes) {
        size_t alt;
        if (size_arg(rq, "maxNodes", &alt, rs))
            return -EMBER_EINVAL_INPUT;
        q->max_nodes = alt;
    }
    v = req_arg(rq, "sort");
    if (v && *v) {
        if (!strcmp(v, "total")) {
            q->sort_by_total = 1;
        } else if (strcmp(v, "self")) {
            resp_error(rs, 400, "sort: '%.32s' is not self or total", v);
            return -EMBER_EINVAL_INPUT;
        }
    }
    q->function = req_arg(rq, "function");
    if (route == ROUTE_SANDWICH && (!q->function || !*q->function)) {
        resp_error(rs, 400, "function: required parameter is missing");
        return -EMBER_EINVAL_INPUT;
    }
    v = req_arg(rq, "step");
    if (v && *v && duration_parse(v, &q->step_ns)) {
        resp_error(rs, 400, "step: cannot parse duration '%.32s' (want 15s, 1m, ...)", v);
        return -EMBER_EINVAL_INPUT;
    }
    q->format = req_arg(rq, "format");
    if (route == ROUTE_EXPORT) {
        if (!q->format || !*q->format)
            q->format = "pprof";
        if (strcmp(q->format, "pprof") && strcmp(q->format, "folded")) {
            resp_error(rs, 400, "format: '%.32s' is not pprof or folded", q->format);
            return -EMBER_EINVAL_INPUT;
        }
    }
    if (route == ROUTE_LABEL_VALUES) {
        const char *p = rq->url + 14, *slash = strchr(p, '/');
        if (!slash || strcmp(slash, "/values") || slash == p) {
            resp_error(rs, 404, "no such route %.128s (want /api/v1/label/NAME/values)", rq->url);
            return -EMBER_ENOTFOUND;
        }
        *label_name = xstrndup(p, (size_t)(slash - p));
        q->name = *label_name;
    }
    return 0;
}

void api_handle(struct srv *s, struct http_req *rq, struct http_resp *rs)
{
    struct query_params q;
    char *label_name = NULL;
    char err[512];
    const char *ctype = "application/json";
    int route = rq->route, ret;

    if (route == ROUTE_OTHER) {
        resp_error(rs, 404, "no such API route: %.128s", rq->url);
        return;
    }
    if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD")) {
        resp_error(rs, 405, "use GET for %.128s", rq->url);
        return;
    }
    if (parse_params(rq, route, &q, &label_name, rs))
        goto out;
    err[0] = 0;
    buf_reset(&rs->body);
    if (route == ROUTE_EXPORT) {
        ret = query_export(s->store, &q, &rs->body, &ctype, err, sizeof(err));
    } else if (route == ROUTE_LABEL_VALUES) {
        ret = query_label_values(s->store, &q, &rs->body, err, sizeof(err));
    } else {
        query_fn fn = NULL;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
            if ((int)routes[i].route == route)
                fn = routes[i].fn;
        }
        ret = fn(s->store, &q, &rs->body, err, sizeof(err));
    }
    if (ret) {
        int status = ret == -EMBER_EINVAL_INPUT ? 400 : ret == -EMBER_ENOTFOUND ? 404 : 500;
        if (status == 500)
            log_error("query %s failed: %s", rq->url, err[0] ? err : ember_strerror(ret));
        resp_error(rs, status, "%s", err[0] ? err : ember_strerror(ret));
        goto out;
    }
    rs->status = 200;
    rs->content_type = ctype;
    if (route == ROUTE_EXPORT && !strcmp(q.format, "pprof")) {
        rs->extra_header = "Content-Disposition";
        rs->extra_value = "attachment; filename=\"profile.pb.gz\"";
    }
out:
    free(label_name);
}
