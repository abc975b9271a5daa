/* push.c - POST /push.v1.PusherService/Push: Connect unary PushRequest, proto or JSON */
#include "push.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/gz.h"
#include "base/timeutil.h"
#include "profile/normalize.h"
#include "profile/pbwire.h"
#include "profile/pprof.h"
#include "server/delta.h"
#include "server/metrics.h"
#include "server/server_int.h"

void push_request_init(struct push_request *r)
{
    memset(r, 0, sizeof(*r));
}

void push_request_release(struct push_request *r)
{
    for (size_t i = 0; i < r->series.len; i++) {
        struct push_series *s = &r->series.data[i];
        for (size_t j = 0; j < s->samples.len; j++) {
            free(s->samples.data[j].owned);
            free(s->samples.data[j].id);
        }
        free(s->samples.data);
        labels_release(&s->labels);
    }
    free(r->series.data);
    push_request_init(r);
}

static struct push_series *add_series(struct push_request *r)
{
    VEC_RESERVE(r->series, 1);
    struct push_series *s = &r->series.data[r->series.len++];
    memset(s, 0, sizeof(*s));
    labels_init(&s->labels);
    return s;
}

static int pb_fail(int ret, const struct pb_reader *rd, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "push: at byte %zu: %s: %s", pb_offset(rd), what,
             ret == -EMBER_ETRUNC ? "truncated field" : "malformed field");
    return ret;
}

static int decode_label(struct push_series *s, const struct pb_reader *parent,
                        const struct pb_field *f, size_t max_value_len, char *err, size_t errlen)
{
    struct pb_reader rd;
    struct pb_field lf;
    const uint8_t *name = NULL, *value = NULL;
    size_t nlen = 0, vlen = 0;
    int ret;

    pb_reader_sub(&rd, parent, f);
    while ((ret = pb_next(&rd, &lf)) == 1) {
        if (lf.num == 1 && lf.wire == PB_LEN) {
            name = lf.data;
            nlen = lf.len;
        } else if (lf.num == 2 && lf.wire == PB_LEN) {
            value = lf.data;
            vlen = lf.len;
        }
    }
    if (ret < 0)
        return pb_fail(ret, &rd, "label", err, errlen);
    if (nlen > 1024 || vlen > max_value_len) {
        snprintf(err, errlen, "push: at byte %zu: label %s is too long", pb_offset(&rd),
                 nlen > 1024 ? "name" : "value");
        return -EMBER_ETOOBIG;
    }
    if (memchr(name ? (const char *)name : "", 0, nlen) ||
        memchr(value ? (const char *)value : "", 0, vlen)) {
        snprintf(err, errlen, "push: at byte %zu: NUL byte in a label", pb_offset(&rd));
        return -EMBER_EINVAL_INPUT;
    }
    labels_setn(&s->labels, name ? (const char *)name : "", nlen, value ? (const char *)value : "",
                vlen);
    return 0;
}

static int decode_sample(struct push_series *s, const struct pb_reader *parent,
                         const struct pb_field *f, char *err, size_t errlen)
{
    struct pb_reader rd;
    struct pb_field sf;
    struct push_sample smp = {0};
    int ret;

    pb_reader_sub(&rd, parent, f);
    while ((ret = pb_next(&rd, &sf)) == 1) {
        if (sf.num == 1 && sf.wire == PB_LEN) {
            smp.data = sf.data;
            smp.len = sf.len;
        } else if (sf.num == 2 && sf.wire == PB_LEN) {
            free(smp.id);
            smp.id = xstrndup((const char *)sf.data, sf.len > 128 ? 128 : sf.len);
        }
    }
    if (ret < 0) {
        free(smp.id);
        return pb_fail(ret, &rd, "sample", err, errlen);
    }
    VEC_PUSH(s->samples, smp);
    return 0;
}

int push_decode_proto(struct push_request *r, const void *body, size_t n, size_t max_value_len,
                      char *err, size_t errlen)
{
    struct pb_reader rd, srd;
    struct pb_field f, sf;
    int ret;

    pb_reader_init(&rd, body, n);
    while ((ret = pb_next(&rd, &f)) == 1) {
        if (f.num != 1 || f.wire != PB_LEN)
            continue;
        struct push_series *s = add_series(r);
        pb_reader_sub(&srd, &rd, &f);
        while ((ret = pb_next(&srd, &sf)) == 1) {
            if (sf.wire != PB_LEN)
                continue;
            if (sf.num == 1)
                ret = decode_label(s, &srd, &sf, max_value_len, err, errlen);
            else if (sf.num == 2)
                ret = decode_sample(s, &srd, &sf, err, errlen);
            if (ret < 0)
                return ret;
        }
        if (ret < 0)
            return pb_fail(ret, &srd, "series", err, errlen);
    }
    if (ret < 0)
        return pb_fail(ret, &rd, "request", err, errlen);
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
    uint8_t *o = xmalloc(n / 4 * 3 + 3);
    size_t len = 0, nchars = 0, npad = 0;
    uint32_t acc = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            npad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || npad)
            goto bad;
        acc = acc << 6 | (uint32_t)v;
        if (++nchars % 4 == 0) {
            o[len++] = (uint8_t)(acc >> 16);
            o[len++] = (uint8_t)(acc >> 8);
            o[len++] = (uint8_t)acc;
            acc = 0;
        }
    }
    switch (nchars % 4) {
    case 1:
        goto bad;
    case 2:
        o[len++] = (uint8_t)(acc >> 4);
        break;
    case 3:
        o[len++] = (uint8_t)(acc >> 10);
        o[len++] = (uint8_t)(acc >> 2);
        break;
    }
    if (npad > 2)
        goto bad;
    *out = o;
    *outlen = len;
    return 0;
bad:
    free(o);
    *out = NULL;
    *outlen = 0;
    return -EMBER_EINVAL_INPUT;
}

/* obj[a] or obj[b]. */
static json_t *get2(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);
    return v ? v : json_object_get(obj, b);
}

static int json_series(struct push_request *r, json_t *js, size_t si, size_t max_value_len,
                       char *err, size_t errlen)
{
    json_t *labels = json_object_get(js, "labels");
    json_t *samples = json_object_get(js, "samples");
    struct push_series *s = add_series(r);
    size_t i;
    json_t *v;

    if (!json_is_object(js)) {
        snprintf(err, errlen, "push: series[%zu] is not an object", si);
        return -EMBER_EINVAL_INPUT;
    }
    if (labels && !json_is_array(labels)) {
        snprintf(err, errlen, "push: series[%zu].labels is not an array", si);
        return -EMBER_EINVAL_INPUT;
    }
    json_array_foreach(labels, i, v)
    {
        json_t *name = json_object_get(v, "name"), *value = json_object_get(v, "value");
        if (!json_is_string(name) || (value && !json_is_string(value))) {
            snprintf(err, errlen, "push: series[%zu].labels[%zu] needs string name and value", si,
                     i);
            return -EMBER_EINVAL_INPUT;
        }
        size_t nlen = json_string_length(name), vlen = value ? json_string_length(value) : 0;
        if (nlen > 1024 || vlen > max_value_len) {
            snprintf(err, errlen, "push: series[%zu].labels[%zu] is too long", si, i);
            return -EMBER_ETOOBIG;
        }
        labels_setn(&s->labels, json_string_value(name), nlen,
                    value ? json_string_value(value) : "", vlen);
    }
    if (samples && !json_is_array(samples)) {
        snprintf(err, errlen, "push: series[%zu].samples is not an array", si);
        return -EMBER_EINVAL_INPUT;
    }
    json_array_foreach(samples, i, v)
    {
        json_t *raw = get2(v, "rawProfile", "raw_profile"), *id = get2(v, "ID", "id");
        struct push_sample smp = {0};
        if (!json_is_object(v) || (raw && !json_is_string(raw))) {
            snprintf(err, errlen, "push: series[%zu].samples[%zu].rawProfile is not a string", si,
                     i);
            return -EMBER_EINVAL_INPUT;
        }
        if (raw &&
            base64_decode(json_string_value(raw), json_string_length(raw), &smp.owned, &smp.len)) {
            snprintf(err, errlen, "push: series[%zu].samples[%zu].rawProfile is not valid base64",
                     si, i);
            return -EMBER_EINVAL_INPUT;
        }
        smp.data = smp.owned;
        if (json_is_string(id))
            smp.id = xstrndup(json_string_value(id),
                              json_string_length(id) > 128 ? 128 : json_string_length(id));
        VEC_PUSH(s->samples, smp);
    }
    return 0;
}

int push_decode_json(struct push_request *r, const void *body, size_t n, size_t max_value_len,
                     char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr), *series, *v;
    size_t i;
    int ret = 0;

    if (!root) {
        snprintf(err, errlen, "push: invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                 jerr.text);
        return -EMBER_EINVAL_INPUT;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "push: the request is not a JSON object");
        ret = -EMBER_EINVAL_INPUT;
        goto out;
    }
    series = json_object_get(root, "series");
    if (series && !json_is_array(series)) {
        snprintf(err, errlen, "push: series is not an array");
        ret = -EMBER_EINVAL_INPUT;
        goto out;
    }
    json_array_foreach(series, i, v)
    {
        ret = json_series(r, v, i, max_value_len, err, errlen);
        if (ret)
            goto out;
    }
out:
    json_decref(root);
    return ret;
}

/* Connect error: status, code name, and our own "error" key for Ember clients. */
static void connect_error(struct http_resp *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void connect_error(struct http_resp *rs, int status, const char *fmt, ...)
{
    char msg[1024];
    const char *code = status == 413   ? "resource_exhausted"
                       : status == 415 ? "unimplemented"
                       : status >= 500 ? "internal"
                                       : "invalid_argument";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rs->status = status;
    rs->content_type = "application/json";
    buf_reset(&rs->body);
    buf_printf(&rs->body, "{\"code\":\"%s\",\"message\":", code);
    buf_json_str(&rs->body, msg, strlen(msg));
    buf_puts(&rs->body, ",\"error\":");
    buf_json_str(&rs->body, msg, strlen(msg));
    buf_putc(&rs->body, '}');
}

/* Go's cumulative allocation profiles: memory alloc_objects / alloc_space. */
static int is_cumulative(const struct profile *p)
{
    const char *name = labels_get(&p->labels, LABEL_NAME);
    const char *pt = labels_get(&p->labels, LABEL_PROFILE_TYPE);

    if (!name || !pt || strcmp(name, "memory"))
        return 0;
    const char *st = strchr(pt, ':');
    if (!st)
        return 0;
    st++;
    return !strncmp(st, "alloc_objects:", 14) || !strncmp(st, "alloc_space:", 12);
}

static int content_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && !strncasecmp(ct, want, n) && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

/* Normalises each raw profile of series into b; cumulative ones become deltas. */
static int push_series_into(struct srv *s, struct http_req *rq, struct push_series *ps, size_t si,
                            struct profile_batch *b, struct delta_txn *txn, struct http_resp *rs)
{
    const struct ingest_limits *lim = &s->opts.limits;
    const char *name = labels_get(&ps->labels, LABEL_NAME);
    const char *delta_flag = labels_get(&ps->labels, LABEL_DELTA);
    int delta = !(delta_flag && !strcmp(delta_flag, "false"));
    char err[512];
    int ret = 0;

    if (!name || !*name) {
        connect_error(rs, 400, "series[%zu]: required label __name__ is missing", si);
        return -EMBER_EINVAL_INPUT;
    }
    if (!labels_get(&ps->labels, LABEL_SERVICE_NAME) ||
        !*labels_get(&ps->labels, LABEL_SERVICE_NAME)) {
        connect_error(rs, 400, "series[%zu]: required label service_name is missing", si);
        return -EMBER_EINVAL_INPUT;
    }
    labels_del(&ps->labels, LABEL_DELTA);
    for (size_t i = 0; i < ps->labels.n; i++) {
        const char *ln = ps->labels.v[i].name;
        if (!label_name_valid(ln, strlen(ln))) {
            connect_error(rs, 400, "series[%zu]: invalid label name '%.64s'", si, ln);
            return -EMBER_EINVAL_INPUT;
        }
    }
    for (size_t j = 0; j < ps->samples.len; j++) {
        struct push_sample *smp = &ps->samples.data[j];
        struct pprof pp;
        size_t first = b->profiles.len;
        if (smp->len > lim->max_profile_bytes) {
            connect_error(
                rs, 413,
                "series[%zu].samples[%zu]: profile of %zu bytes exceeds the limit of %zu bytes", si,
                j, smp->len, lim->max_profile_bytes);
            return -EMBER_ETOOBIG;
        }
        pprof_init(&pp);
        ret = load_pprof(lim, smp->data, smp->len, &pp, err, sizeof(err));
        if (!ret) {
            struct normalize_opts no = {0};
            no.labels = &ps->labels;
            no.name = name;
            no.default_time_ns = time_now_ns();
            no.limits = lim;
            ret = normalize_pprof(&pp, &no, b, err, sizeof(err));
        }
        pprof_release(&pp);
        if (ret) {
            connect_error(rs, err_status(ret), "series[%zu].samples[%zu]: %s", si, j, err);
            return ret;
        }
        if (!delta)
            continue;
        for (size_t k = first; k < b->profiles.len; k++) {
            if (is_cumulative(&b->profiles.data[k]))
                delta_apply(s->delta, rq->tenant, b, &b->profiles.data[k], txn);
        }
    }
    return 0;
}

void push_handle(struct srv *s, struct http_req *rq, struct http_resp *rs)
{
    const char *ct = req_header(rq, "Content-Type");
    const char *ce = req_header(rq, "Content-Encoding");
    const struct ingest_limits *lim = &s->opts.limits;
    struct push_request pr;
    struct profile_batch b;
    struct delta_txn txn;
    struct buf inflated = BUF_INIT;
    const void *body = rq->body.data;
    size_t n = rq->body.len;
    char err[512];
    int ret, json;

    push_request_init(&pr);
    batch_init(&b);
    delta_txn_init(&txn);
    if (strcmp(rq->method, "POST")) {
        connect_error(rs, 405, "use POST");
        goto out;
    }
    json = content_type_is(ct, "application/json");
    if (!json && !content_type_is(ct, "application/proto") &&
        !content_type_is(ct, "application/x-protobuf") &&
        !content_type_is(ct, "application/protobuf")) {
        metrics_rejected(REJECT_UNSUPPORTED);
        connect_error(rs, 415,
                      "unsupported Content-Type '%s' (want application/proto or application/json)",
                      ct ? ct : "");
        goto out;
    }
    if (ce && !strcasecmp(ce, "gzip")) {
        ret = gz_inflate(body, n, &inflated, lim->max_decompressed, lim->max_ratio);
        if (ret) {
            metrics_rejected(ret == -EMBER_ETOOBIG || ret == -EMBER_EBOMB ? REJECT_TOO_LARGE
                                                                          : REJECT_INVALID);
            connect_error(rs, err_status(ret), "push: gzip body: %s", ember_strerror(ret));
            goto out;
        }
        body = inflated.data;
        n = inflated.len;
    } else if (ce && strcasecmp(ce, "identity")) {
        metrics_rejected(REJECT_UNSUPPORTED);
        connect_error(rs, 415, "unsupported Content-Encoding '%s'", ce);
        goto out;
    }
    ret = json ? push_decode_json(&pr, body, n, lim->max_label_value_len, err, sizeof(err))
               : push_decode_proto(&pr, body, n, lim->max_label_value_len, err, sizeof(err));
    if (ret) {
        metrics_rejected(err_status(ret) == 413 ? REJECT_TOO_LARGE : REJECT_INVALID);
        connect_error(rs, err_status(ret), "%s", err);
        goto out;
    }
    for (size_t i = 0; i < pr.series.len; i++) {
        ret = push_series_into(s, rq, &pr.series.data[i], i, &b, &txn, rs);
        if (ret) {
            metrics_rejected(rs->status == 413 ? REJECT_TOO_LARGE : REJECT_INVALID);
            goto out;
        }
    }
    int status = 0;
    ret = store_batch(s, rq, &b, &status, err, sizeof(err));
    if (ret) {
        connect_error(rs, status, "%s", err);
        goto out;
    }
    delta_commit(s->delta, &txn);
    resp_json(rs, "{}");
out:
    delta_txn_release(&txn);
    batch_release(&b);
    push_request_release(&pr);
    buf_release(&inflated);
}
