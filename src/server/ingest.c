/* ingest.c - POST /ingest and /pyroscope/ingest: Pyroscope's legacy ingest in every body format */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/gz.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "profile/normalize.h"
#include "profile/pprof.h"
#include "profile/profile.h"
#include "profile/textfmt.h"
#include "query/timeparse.h"
#include "server/appname.h"
#include "server/delta.h"
#include "server/metrics.h"
#include "server/multipart.h"
#include "server/server_int.h"
#include "store/store.h"

int err_status(int err)
{
    switch (err) {
    case -EMBER_ETOOBIG:
    case -EMBER_EBOMB:
        return 413;
    case -EMBER_EUNSUPPORTED:
        return 415;
    case -EMBER_EINVAL_INPUT:
    case -EMBER_ECORRUPT:
    case -EMBER_ETRUNC:
        return 400;
    default:
        return err < -EMBER_EBASE && err > -EMBER_EMAX ? 400 : 500;
    }
}

static enum reject_reason reason_for(int status)
{
    return status == 413 ? REJECT_TOO_LARGE : status == 415 ? REJECT_UNSUPPORTED : REJECT_INVALID;
}

int load_pprof(const struct ingest_limits *lim, const void *data, size_t n, struct pprof *p,
               char *err, size_t errlen)
{
    struct buf raw = BUF_INIT;
    char perr[400];
    int ret;

    if (gz_is_gzip(data, n)) {
        ret = gz_inflate(data, n, &raw, lim->max_decompressed, lim->max_ratio);
        if (ret) {
            if (ret == -EMBER_ETOOBIG)
                snprintf(err, errlen, "pprof: gzip: decompressed size exceeds %zu bytes",
                         lim->max_decompressed);
            else if (ret == -EMBER_EBOMB)
                snprintf(err, errlen, "pprof: gzip: decompression ratio exceeds %u",
                         lim->max_ratio);
            else
                snprintf(err, errlen, "pprof: gzip: %s", ember_strerror(ret));
            goto out;
        }
        data = raw.data;
        n = raw.len;
    }
    perr[0] = 0;
    ret = pprof_decode(p, data, n, lim->max_samples, perr, sizeof(perr));
    if (ret)
        snprintf(err, errlen, "pprof: %s", perr[0] ? perr : ember_strerror(ret));
out:
    buf_release(&raw);
    return ret;
}

static int text_ok(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

int check_labels(const struct labels *l, const struct ingest_limits *lim, char *err, size_t errlen)
{
    if (l->n > lim->max_labels) {
        snprintf(err, errlen, "series has %zu labels, more than the limit of %zu", l->n,
                 lim->max_labels);
        return -EMBER_EINVAL_INPUT;
    }
    for (size_t i = 0; i < l->n; i++) {
        const char *n = l->v[i].name, *v = l->v[i].value;
        if (!label_name_valid(n, strlen(n))) {
            snprintf(err, errlen, "invalid label name '%.64s'", n);
            return -EMBER_EINVAL_INPUT;
        }
        if (strlen(v) > lim->max_label_value_len) {
            snprintf(err, errlen, "value of label '%s' is longer than %zu bytes", n,
                     lim->max_label_value_len);
            return -EMBER_EINVAL_INPUT;
        }
        if (!text_ok(v)) {
            snprintf(err, errlen, "value of label '%s' has a control character", n);
            return -EMBER_EINVAL_INPUT;
        }
    }
    if (!labels_get(l, LABEL_SERVICE_NAME) || !*labels_get(l, LABEL_SERVICE_NAME)) {
        snprintf(err, errlen, "series has no service_name label");
        return -EMBER_EINVAL_INPUT;
    }
    return 0;
}

/* Whether p is as profile_compact() leaves it: stacks strictly increasing, no zero value. */
static bool is_compact(const struct profile *p)
{
    for (size_t i = 0; i < p->samples.len; i++) {
        if (!p->samples.data[i].value ||
            (i && p->samples.data[i].stack <= p->samples.data[i - 1].stack))
            return false;
    }
    return true;
}

int store_batch(struct srv *s, struct http_req *rq, struct profile_batch *b, int *status, char *err,
                size_t errlen)
{
    size_t keep = 0, nsamples;
    int ret;

    for (size_t i = 0; i < b->profiles.len; i++) {
        struct profile *p = &b->profiles.data[i];
        if (!is_compact(p)) /* normalize_pprof() already compacts */
            profile_compact(p);
        if (!p->samples.len) {
            profile_release(p);
            continue;
        }
        b->profiles.data[keep++] = *p;
    }
    b->profiles.len = keep;
    for (size_t i = 0; i < b->profiles.len; i++) {
        ret = check_labels(&b->profiles.data[i].labels, &s->opts.limits, err, errlen);
        if (ret) {
            *status = 400;
            metrics_rejected(REJECT_INVALID);
            return ret;
        }
    }
    if (!b->profiles.len) {
        metrics_ingest(rq->body.len, 0, 0);
        return 0;
    }
    nsamples = batch_nsamples(b);
    ret = store_append(s->store, rq->tenant, b);
    if (ret) {
        *status = ret == -EMBER_ETOOBIG ? 413 : 500;
        snprintf(err, errlen, "cannot store the profiles: %s", ember_strerror(ret));
        log_error("cannot store %zu profiles for tenant '%s': %s", b->profiles.len, rq->tenant,
                  ember_strerror(ret));
        metrics_rejected(REJECT_STORE);
        return ret;
    }
    metrics_ingest(rq->body.len, b->profiles.len, nsamples);
    return 0;
}

/* What every /ingest body format needs to know. */
struct ingest_ctx {
    struct srv *s;
    struct http_req *rq;
    struct appname an;
    const struct ingest_type *type;
    const char *spy;
    int64_t from_ns, until_ns;
    int from_given; /* the request named its time: it wins over a pprof's time_nanos */
    int64_t sample_rate;
    struct profile_batch b;
    struct delta_txn txn; /* committed once the batch is stored */
    char err[512];
};

/* Turns err into "prefix: err" (truncating). */
static void prefix_err(char *err, size_t len, const char *prefix)
{
    size_t p = strlen(prefix) + 2, n = strlen(err);

    if (p >= len)
        return;
    if (n + p >= len)
        n = len - p - 1;
    memmove(err + p, err, n);
    err[p + n] = 0;
    memcpy(err, prefix, p - 2);
    err[p - 2] = ':';
    err[p - 1] = ' ';
}

enum text_kind { TEXT_FOLDED, TEXT_LINES, TEXT_TRIE, TEXT_TREE };

static int ingest_text(struct ingest_ctx *c, enum text_kind kind, int *status)
{
    const struct ingest_limits *lim = &c->s->opts.limits;
    const struct buf *body = &c->rq->body;
    struct profile *p = batch_add(&c->b);
    int ret;

    switch (kind) {
    case TEXT_FOLDED:
        ret = folded_parse(body->data, body->len, &c->b.sym, p, lim, c->err, sizeof(c->err));
        break;
    case TEXT_LINES:
        ret = lines_parse(body->data, body->len, &c->b.sym, p, lim, c->err, sizeof(c->err));
        break;
    case TEXT_TRIE:
        ret = trie_parse(body->data, body->len, &c->b.sym, p, lim, c->err, sizeof(c->err));
        break;
    default:
        ret = tree_parse(body->data, body->len, &c->b.sym, p, lim, c->err, sizeof(c->err));
        break;
    }
    if (ret) {
        static const char *const names[] = {"folded", "lines", "trie", "tree"};
        prefix_err(c->err, sizeof(c->err), names[kind]);
        *status = err_status(ret);
        return ret;
    }
    if (c->type->scaled) {
        int64_t period = 1000000000 / c->sample_rate;
        for (size_t i = 0; i < p->samples.len; i++) {
            int64_t v = p->samples.data[i].value;
            p->samples.data[i].value = v > INT64_MAX / period ? INT64_MAX : v * period;
        }
        p->period = period;
    }
    appname_series_labels(&c->an, c->type, c->spy, &p->labels);
    p->time_ns = c->from_ns;
    p->duration_ns = c->until_ns > c->from_ns ? c->until_ns - c->from_ns : 0;
    return 0;
}

/* sample_type_config: what the client says about each pprof sample type. */
struct stc_entry {
    char *type, *display_name;
    int cumulative;
};

struct stc {
    VEC(struct stc_entry) v;
};

static void stc_release(struct stc *c)
{
    for (size_t i = 0; i < c->v.len; i++) {
        free(c->v.data[i].type);
        free(c->v.data[i].display_name);
    }
    free(c->v.data);
    memset(c, 0, sizeof(*c));
}

static int stc_parse(struct stc *c, const void *data, size_t n, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(data, n, 0, &jerr), *v;
    const char *key;
    int ret = 0;

    if (!root) {
        snprintf(err, errlen, "sample_type_config: invalid JSON at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return -EMBER_EINVAL_INPUT;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "sample_type_config: not a JSON object");
        ret = -EMBER_EINVAL_INPUT;
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        struct stc_entry e = {0};
        json_t *dn = json_object_get(v, "display-name"), *cum = json_object_get(v, "cumulative");
        if (!json_is_object(v)) {
            snprintf(err, errlen, "sample_type_config: entry '%.64s' is not an object", key);
            ret = -EMBER_EINVAL_INPUT;
            goto out;
        }
        if (c->v.len >= 64) {
            snprintf(err, errlen, "sample_type_config: more than 64 entries");
            ret = -EMBER_ETOOBIG;
            goto out;
        }
        e.type = xstrdup(key);
        if (json_is_string(dn) && json_string_length(dn) > 0 && json_string_length(dn) < 256)
            e.display_name = xstrdup(json_string_value(dn));
        e.cumulative = json_is_true(cum);
        VEC_PUSH(c->v, e);
    }
out:
    json_decref(root);
    return ret;
}

static const struct stc_entry *stc_find(const struct stc *c, const char *type)
{
    for (size_t i = 0; i < c->v.len; i++) {
        if (!strcmp(c->v.data[i].type, type))
            return &c->v.data[i];
    }
    return NULL;
}

/* keep_type callback: with a config, only the types it names (after renaming) are kept. */
struct keep_arg {
    VEC(char *) names;
};

static bool keep_type_cb(const char *sample_type, void *arg)
{
    const struct keep_arg *k = arg;
    for (size_t i = 0; i < k->names.len; i++) {
        if (!strcmp(k->names.data[i], sample_type))
            return true;
    }
    return false;
}

static int ingest_pprof(struct ingest_ctx *c, const void *data, size_t n, const struct stc *cfg,
                        int *status)
{
    const struct ingest_limits *lim = &c->s->opts.limits;
    struct normalize_opts no = {0};
    struct keep_arg keep = {0};
    struct labels base;
    struct pprof p;
    VEC(char *) cumulative = {0};
    size_t first = c->b.profiles.len;
    int ret;

    labels_copy(&base, &c->an.labels);
    if (labels_get(&base, LABEL_SERVICE_NAME)) {
        if (!labels_get(&base, "app_name"))
            labels_set(&base, "app_name", c->an.app);
    } else {
        labels_set(&base, LABEL_SERVICE_NAME, c->an.app);
    }
    if (c->spy && *c->spy)
        labels_set(&base, "pyroscope_spy", c->spy);
    pprof_init(&p);
    if (n > lim->max_profile_bytes) {
        snprintf(c->err, sizeof(c->err),
                 "pprof: profile of %zu bytes exceeds the limit of %zu bytes", n,
                 lim->max_profile_bytes);
        ret = -EMBER_ETOOBIG;
        goto fail;
    }
    ret = load_pprof(lim, data, n, &p, c->err, sizeof(c->err));
    if (ret)
        goto fail;
    if (cfg && cfg->v.len) {
        for (size_t i = 0; i < p.sample_type.len; i++) {
            const char *st = pprof_str(&p, p.sample_type.data[i].type);
            const struct stc_entry *e = stc_find(cfg, st);
            if (!e)
                continue;
            if (e->display_name) {
                p.sample_type.data[i].type = pprof_add_string(&p, e->display_name);
                st = e->display_name;
            }
            VEC_PUSH(keep.names, xstrdup(st));
            if (e->cumulative)
                VEC_PUSH(cumulative, xstrdup(st));
        }
        no.keep_type = keep_type_cb;
        no.keep_arg = &keep;
    }
    no.labels = &base;
    no.name = NULL;
    no.default_time_ns = c->from_ns;
    no.limits = lim;
    ret = normalize_pprof(&p, &no, &c->b, c->err, sizeof(c->err));
    if (ret) {
        prefix_err(c->err, sizeof(c->err), "pprof");
        goto fail;
    }
    /*
     * Profiles without their own time get the request's range; an explicit from= wins over
     * time_nanos (the client says when it was taken, e.g. a re-upload of an old file).
     */
    for (size_t i = first; i < c->b.profiles.len; i++) {
        struct profile *prof = &c->b.profiles.data[i];
        if (c->from_given) {
            prof->time_ns = c->from_ns;
            if (c->until_ns > c->from_ns)
                prof->duration_ns = c->until_ns - c->from_ns;
        }
        if (!prof->duration_ns && c->until_ns > c->from_ns)
            prof->duration_ns = c->until_ns - c->from_ns;
    }
    ret = 0;
    goto out;
fail:
    *status = err_status(ret);
out:
    if (!ret && cumulative.len) {
        /* Cumulative types (per the client's config) are turned into deltas. */
        for (size_t i = first; i < c->b.profiles.len; i++) {
            struct profile *prof = &c->b.profiles.data[i];
            const char *pt = labels_get(&prof->labels, LABEL_PROFILE_TYPE);
            struct ptype t;
            if (!pt || ptype_parse(&t, pt))
                continue;
            for (size_t j = 0; j < cumulative.len; j++) {
                if (!strcmp(cumulative.data[j], t.sample_type)) {
                    delta_apply(c->s->delta, c->rq->tenant, &c->b, prof, &c->txn);
                    break;
                }
            }
            ptype_release(&t);
        }
        /* Committed only if the store accepts the batch: see ingest_handle(). */
    }
    for (size_t i = 0; i < keep.names.len; i++)
        free(keep.names.data[i]);
    free(keep.names.data);
    for (size_t i = 0; i < cumulative.len; i++)
        free(cumulative.data[i]);
    free(cumulative.data);
    pprof_release(&p);
    labels_release(&base);
    return ret;
}

static int ingest_multipart(struct ingest_ctx *c, const char *ct, int *status)
{
    struct multipart m;
    struct stc cfg = {0};
    char boundary[MULTIPART_BOUNDARY_MAX + 1];
    const struct multipart_part *prof, *prev, *conf;
    int ret;

    ret = multipart_boundary(ct, boundary, sizeof(boundary), c->err, sizeof(c->err));
    if (!ret)
        ret = multipart_parse(&m, c->rq->body.data, c->rq->body.len, boundary, c->err,
                              sizeof(c->err));
    if (ret) {
        *status = err_status(ret);
        return ret;
    }
    prev = multipart_get(&m, "prev_profile");
    if (prev && prev->len) {
        snprintf(
            c->err, sizeof(c->err),
            "multipart: field 'prev_profile' is set: unsupported client version (send delta profiles)");
        *status = 400;
        return -EMBER_EINVAL_INPUT;
    }
    prof = multipart_get(&m, "profile");
    if (!prof) {
        snprintf(c->err, sizeof(c->err), "multipart: required field 'profile' is missing");
        *status = 400;
        return -EMBER_EINVAL_INPUT;
    }
    conf = multipart_get(&m, "sample_type_config");
    if (conf) {
        ret = stc_parse(&cfg, conf->data, conf->len, c->err, sizeof(c->err));
        if (ret) {
            *status = err_status(ret);
            goto out;
        }
    }
    ret = ingest_pprof(c, prof->data, prof->len, &cfg, status);
out:
    stc_release(&cfg);
    return ret;
}

static int parse_time_arg(struct ingest_ctx *c, const char *name, int64_t now, int64_t *out)
{
    const char *v = req_arg(c->rq, name);

    *out = now;
    if (!v || !*v)
        return 0;
    if (time_parse(v, now, out)) {
        snprintf(c->err, sizeof(c->err), "%s: cannot parse time '%.64s'", name, v);
        return -EMBER_EINVAL_INPUT;
    }
    return 0;
}

static int64_t parse_rate(const char *v)
{
    char *end;
    long long r;

    if (!v || !*v)
        return 100;
    r = strtoll(v, &end, 10);
    if (*end || r <= 0 || r > 1000000000)
        return 100;
    return r;
}

static int has_word(const char *s, const char *w)
{
    return s && strcasestr(s, w) != NULL;
}

static int fmt_is(const char *f, const char *want)
{
    return f && !strcasecmp(f, want);
}

void ingest_handle(struct srv *s, struct http_req *rq, struct http_resp *rs)
{
    struct ingest_ctx c;
    const char *name = req_arg(rq, "name"), *fmt = req_arg(rq, "format");
    const char *ct = req_header(rq, "Content-Type");
    const char *agg = req_arg(rq, "aggregationType");
    int64_t now = time_now_ns();
    int status = 400, ret;

    memset(&c, 0, sizeof(c));
    c.s = s;
    c.rq = rq;
    batch_init(&c.b);
    delta_txn_init(&c.txn);
    if (strcmp(rq->method, "POST")) {
        resp_error(rs, 405, "use POST for %s", rq->url);
        goto out_noreject;
    }
    if (!name || !*name) {
        snprintf(c.err, sizeof(c.err), "name: required parameter is missing");
        goto fail;
    }
    ret = appname_parse(&c.an, name, c.err, sizeof(c.err));
    if (ret)
        goto fail;
    c.from_given = req_arg(rq, "from") && *req_arg(rq, "from");
    if (parse_time_arg(&c, "from", now, &c.from_ns) ||
        parse_time_arg(&c, "until", now, &c.until_ns))
        goto fail;
    if (agg && *agg && strcmp(agg, "sum") && strcmp(agg, "average") && strcmp(agg, "avg")) {
        snprintf(c.err, sizeof(c.err), "aggregationType: '%.32s' is not sum or average", agg);
        goto fail;
    }
    c.sample_rate = parse_rate(req_arg(rq, "sampleRate"));
    c.spy = req_arg(rq, "spyName");
    if (!c.spy || !*c.spy)
        c.spy = "unknown";
    c.type = c.an.type;
    if (!c.an.has_suffix) {
        const struct ingest_type *t = appname_type_from_units(req_arg(rq, "units"), agg);
        if (t)
            c.type = t;
    }

    /* Pyroscope's order, except that a multipart body is multipart whatever format says. */
    if (fmt_is(fmt, "trie") || has_word(ct, "binary/octet-stream+trie")) {
        ret = ingest_text(&c, TEXT_TRIE, &status);
    } else if (fmt_is(fmt, "tree") || has_word(ct, "binary/octet-stream+tree")) {
        ret = ingest_text(&c, TEXT_TREE, &status);
    } else if (fmt_is(fmt, "lines")) {
        ret = ingest_text(&c, TEXT_LINES, &status);
    } else if (fmt_is(fmt, "jfr")) {
        snprintf(c.err, sizeof(c.err), "format: jfr is not supported yet");
        status = 415;
        ret = -EMBER_EUNSUPPORTED;
    } else if (multipart_is_form(ct)) {
        ret = ingest_multipart(&c, ct, &status);
    } else if (fmt_is(fmt, "pprof")) {
        ret = ingest_pprof(&c, rq->body.data, rq->body.len, NULL, &status);
    } else if (fmt_is(fmt, "speedscope")) {
        snprintf(c.err, sizeof(c.err), "format: speedscope is not supported");
        status = 415;
        ret = -EMBER_EUNSUPPORTED;
    } else if (!fmt || !*fmt || fmt_is(fmt, "folded") || fmt_is(fmt, "groups")) {
        ret = ingest_text(&c, TEXT_FOLDED, &status);
    } else {
        snprintf(c.err, sizeof(c.err),
                 "format: unknown format '%.32s' (want folded, lines, trie, tree, pprof)", fmt);
        status = 400;
        ret = -EMBER_EINVAL_INPUT;
    }
    if (ret)
        goto fail;
    ret = store_batch(s, rq, &c.b, &status, c.err, sizeof(c.err));
    if (ret) {
        resp_error(rs, status, "%s", c.err);
        goto out_noreject;
    }
    delta_commit(s->delta, &c.txn);
    resp_json(rs, "{}");
    goto out_noreject;
fail:
    metrics_rejected(reason_for(status));
    resp_error(rs, status, "%s", c.err);
out_noreject:
    delta_txn_release(&c.txn);
    appname_release(&c.an);
    batch_release(&c.b);
}
