/* upload.c - libember.so's pprof encoding (symbolized in-process) and upload to /ingest with libcurl */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/symbolize.h"
#include "base/buf.h"
#include "base/hmap.h"
#include "base/strtab.h"
#include "preload/preload.h"
#include "profile/pbwire.h"

/* Seconds a request may take; an unreachable server costs at most this per interval. */
#define UPLOAD_TIMEOUT_S 5
/* Consecutive failures after which only every 6th interval retries (backoff). */
#define BACKOFF_AFTER 3

static struct symbolizer *g_sym;
static char g_host[256];
static uint64_t g_uploads, g_errors;
static unsigned g_fail_streak, g_skip;

int pl_upload_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    if (gethostname(g_host, sizeof(g_host) - 1) < 0)
        snprintf(g_host, sizeof(g_host), "unknown");
    return 0;
}

void pl_upload_shutdown(void)
{
    symbolizer_free(g_sym);
    g_sym = NULL;
}

void pl_upload_atfork_child(int was_uploading)
{
    /* a symbolizer the parent's uploader was using may be half-updated: leak it, build anew */
    if (was_uploading)
        g_sym = NULL;
    g_fail_streak = 0;
    g_skip = 0;
}

/* One profile being built: samples go straight to the wire, locations and functions after. */
struct enc {
    struct buf samples; /* encoded Sample messages */
    struct strtab strs;
    struct hmap locs;  /* pc -> location id */
    struct hmap funcs; /* name string id << 32 | file string id -> function id */
    struct buf locmsgs, funcmsgs;
    uint64_t nloc, nfunc, nsamples;
    int nvalues;
    double scale[2]; /* value i = round(v[src[i]] * scale[i]) */
    int src[2];
};

static void enc_init(struct enc *e)
{
    memset(e, 0, sizeof(*e));
    buf_init(&e->samples);
    buf_init(&e->locmsgs);
    buf_init(&e->funcmsgs);
    strtab_init(&e->strs);
    hmap_init(&e->locs);
    hmap_init(&e->funcs);
}

static void enc_release(struct enc *e)
{
    buf_release(&e->samples);
    buf_release(&e->locmsgs);
    buf_release(&e->funcmsgs);
    strtab_release(&e->strs);
    hmap_release(&e->locs);
    hmap_release(&e->funcs);
}

static uint64_t str_id(struct enc *e, const char *s)
{
    return strtab_intern_cstr(&e->strs, s ? s : "");
}

static uint64_t func_id(struct enc *e, const char *name, const char *file)
{
    uint64_t n = str_id(e, name), f = str_id(e, file);
    int created;
    uint64_t *v = hmap_put(&e->funcs, n << 32 | f, &created);
    if (created) {
        *v = ++e->nfunc;
        size_t m = pb_begin(&e->funcmsgs, 5); /* Profile.function */
        pb_put_uint(&e->funcmsgs, 1, *v);
        pb_put_int(&e->funcmsgs, 2, (int64_t)n);
        pb_put_int(&e->funcmsgs, 3, (int64_t)n);
        pb_put_int(&e->funcmsgs, 4, (int64_t)f);
        pb_end(&e->funcmsgs, m);
    }
    return *v;
}

static uint64_t loc_id(struct enc *e, uint64_t pc)
{
    int created;
    uint64_t *v = hmap_put(&e->locs, pc, &created);
    if (!created)
        return *v;
    uint64_t id = ++e->nloc;
    *v = id;
    struct sym_info si;
    memset(&si, 0, sizeof(si));
    char fallback[320];
    static char demangled[1024];
    const char *name = NULL;
    if (g_sym && symbolizer_lookup(g_sym, pc, &si) == 0 && si.name) {
        name = pl_demangle(si.name, demangled, sizeof(demangled)) ? demangled : si.name;
    } else if (si.module) {
        const char *b = strrchr(si.module, '/');
        snprintf(fallback, sizeof(fallback), "%s+0x%" PRIx64, b ? b + 1 : si.module,
                 si.module_offset);
        name = fallback;
    } else {
        snprintf(fallback, sizeof(fallback), "0x%" PRIx64, pc);
        name = fallback;
    }
    unsigned line = si.line;
    uint64_t fid = func_id(e, name, si.file);
    size_t m = pb_begin(&e->locmsgs, 4); /* Profile.location */
    pb_put_uint(&e->locmsgs, 1, id);
    pb_put_uint(&e->locmsgs, 3, pc);
    size_t l = pb_begin(&e->locmsgs, 4); /* Location.line */
    pb_put_uint(&e->locmsgs, 1, fid);
    pb_put_int(&e->locmsgs, 2, (int64_t)line);
    pb_end(&e->locmsgs, l);
    pb_end(&e->locmsgs, m);
    return id;
}

static void on_stack(const uint64_t *pcs, size_t depth, const double v[4], void *arg)
{
    struct enc *e = arg;
    int64_t vals[2];
    int any = 0;
    for (int i = 0; i < e->nvalues; i++) {
        vals[i] = (int64_t)llround(v[e->src[i]] * e->scale[i]);
        any |= vals[i] != 0;
    }
    if (!any)
        return;
    uint64_t ids[PL_MAX_DEPTH];
    for (size_t i = 0; i < depth; i++)
        ids[i] = loc_id(e, pcs[i]);
    size_t m = pb_begin(&e->samples, 2); /* Profile.sample */
    pb_put_packed_u64(&e->samples, 1, ids, depth);
    pb_put_packed_i64(&e->samples, 2, vals, (size_t)e->nvalues);
    pb_end(&e->samples, m);
    e->nsamples++;
}

static void put_vt(struct buf *b, uint32_t field, struct enc *e, const char *type, const char *unit)
{
    size_t m = pb_begin(b, field);
    pb_put_int(b, 1, (int64_t)str_id(e, type));
    pb_put_int(b, 2, (int64_t)str_id(e, unit));
    pb_end(b, m);
}

/* A label value for the name= parameter: no braces, commas, '=' or quotes. */
static void put_label_value(struct buf *b, const char *v)
{
    for (; *v; v++)
        buf_putc(b, strchr("{},=\"& ", *v) ? '_' : *v);
}

/* The start of a response body (for error messages). */
struct resp {
    char text[256];
    size_t len;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t k = sz * n, room = sizeof(r->text) - 1 - r->len;
    memcpy(r->text + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->text[r->len] = 0;
    return sz * n;
}

/* The __name__ of a profile kind (as the server names the types it infers from pprof). */
static const char *metric_name(const char *kind)
{
    if (!strcmp(kind, "cpu"))
        return "process_cpu";
    if (!strcmp(kind, "wall"))
        return "wall";
    if (!strcmp(kind, "lock"))
        return "block";
    return "memory"; /* alloc, inuse */
}

static void put_label(struct buf *b, const char *name, size_t nlen, const char *value, size_t vlen)
{
    size_t m = pb_begin(b, 1); /* RawProfileSeries.labels */
    pb_put_bytes(b, 1, name, nlen);
    pb_put_bytes(b, 2, value, vlen);
    pb_end(b, m);
}

/*
 * A PushRequest of one series: __name__, service_name, pid, host_name, the
 * user's tags and __delta__="false" (every profile here is already a
 * per-interval delta, or the in-use gauge), holding the pprof body.
 */
static void push_request(struct buf *req, const char *kind, const struct buf *body)
{
    char pid[24];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    size_t series = pb_begin(req, 1); /* PushRequest.series */
    const char *nm = metric_name(kind);
    put_label(req, "__name__", 8, nm, strlen(nm));
    put_label(req, "service_name", 12, pl_cfg.service, strlen(pl_cfg.service));
    put_label(req, "pid", 3, pid, strlen(pid));
    put_label(req, "host_name", 9, g_host, strlen(g_host));
    put_label(req, "__delta__", 9, "false", 5);
    for (const char *t = pl_cfg.tags; *t;) {
        size_t len = strcspn(t, ",");
        const char *eq = memchr(t, '=', len);
        if (eq && eq > t)
            put_label(req, t, (size_t)(eq - t), eq + 1, len - (size_t)(eq + 1 - t));
        t += len;
        if (*t == ',')
            t++;
    }
    size_t smp = pb_begin(req, 2); /* RawProfileSeries.samples */
    pb_put_bytes(req, 1, body->data, body->len); /* RawSample.raw_profile */
    pb_end(req, smp);
    pb_end(req, series);
}

/* 1 once the server answered the push API with "not found": /ingest from then on. */
static int g_ingest_only;

/* POSTs body to url; 0 on HTTP 200, the HTTP status, or -1 when the request failed. */
static long post(const char *url, const char *ctype, const void *data, size_t len, struct resp *r,
                 const char **err)
{
    long status = -1;
    CURL *c = curl_easy_init();
    if (!c) {
        *err = "cannot create a request";
        return -1;
    }
    char hdrline[80];
    snprintf(hdrline, sizeof(hdrline), "Content-Type: %s", ctype);
    struct curl_slist *hdr = curl_slist_append(NULL, hdrline);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)UPLOAD_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 2L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ember-preload/0.1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    CURLcode cr = curl_easy_perform(c);
    if (cr != CURLE_OK) {
        *err = curl_easy_strerror(cr);
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200)
            status = 0;
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return status;
}

/* The legacy upload: /ingest?format=pprof with the labels in name=. */
static long post_ingest(const struct buf *body, uint64_t from_ns, uint64_t until_ns,
                        struct resp *r, const char **err)
{
    struct buf name, url;
    buf_init(&name);
    buf_init(&url);
    put_label_value(&name, pl_cfg.service);
    buf_printf(&name, "{pid=%d,host_name=", (int)getpid());
    put_label_value(&name, g_host);
    if (pl_cfg.tags[0]) {
        buf_putc(&name, ',');
        buf_puts(&name, pl_cfg.tags);
    }
    buf_putc(&name, '}');
    long st = -1;
    char *ename = curl_escape(name.data, (int)name.len);
    if (!ename) {
        *err = "cannot escape the name";
        goto out;
    }
    buf_printf(&url, "%s/ingest?format=pprof&spyName=ember-preload&name=%s&from=%" PRIu64
                     "&until=%" PRIu64,
               pl_cfg.server, ename, (uint64_t)(from_ns / 1000000000u),
               (uint64_t)((until_ns + 999999999u) / 1000000000u));
    curl_free(ename);
    st = post(url.data, "application/octet-stream", body->data, body->len, r, err);
out:
    buf_release(&name);
    buf_release(&url);
    return st;
}

/*
 * Sends one profile: through the push API (/push.v1.PusherService/Push,
 * application/proto), or /ingest when the server has no push API. Also
 * writes it to EMBER_DUMP_DIR when set. 0, or -1 when it was not accepted.
 */
static int send_profile(const char *kind, const struct buf *body, uint64_t from_ns,
                        uint64_t until_ns)
{
    if (pl_cfg.dump_dir[0]) {
        char path[700];
        static unsigned seq;
        snprintf(path, sizeof(path), "%s/%d-%s-%u.pb", pl_cfg.dump_dir, (int)getpid(), kind, seq++);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, body->data, body->len);
            (void)w;
            close(fd);
        }
    }
    if (!strcmp(pl_cfg.server, "off"))
        return 0;
    struct resp r = {{0}, 0};
    const char *err = NULL, *api = "push";
    long st;
    if (!g_ingest_only) {
        struct buf req, url;
        buf_init(&req);
        buf_init(&url);
        push_request(&req, kind, body);
        buf_printf(&url, "%s/push.v1.PusherService/Push", pl_cfg.server);
        st = post(url.data, "application/proto", req.data, req.len, &r, &err);
        buf_release(&req);
        buf_release(&url);
        if (st == 404) {
            pl_log(1, "%s has no push API (HTTP 404): uploading to /ingest", pl_cfg.server);
            g_ingest_only = 1;
        }
    }
    if (g_ingest_only) {
        api = "ingest";
        r.len = 0;
        r.text[0] = 0;
        st = post_ingest(body, from_ns, until_ns, &r, &err);
    }
    if (st < 0)
        pl_log(g_fail_streak ? 2 : 1, "upload of %s profile to %s failed: %s", kind, pl_cfg.server,
               err ? err : "unknown error");
    else if (st > 0)
        pl_log(1, "upload of %s profile to %s (%s): HTTP %ld: %.200s", kind, pl_cfg.server, api, st,
               r.text);
    return st == 0 ? 0 : -1;
}

static void build_and_send(enum pl_kind kind, uint64_t from_ns, uint64_t until_ns, int skip_send)
{
    struct enc e;
    enc_init(&e);
    str_id(&e, "");
    struct buf head;
    buf_init(&head);
    int64_t period = 0;
    const char *name = "";
    const char *pt = "", *pu = "";
    switch (kind) {
    case PL_CPU:
    case PL_WALL: {
        period = 1000000000LL / pl_cfg.hz;
        const char *t = kind == PL_CPU ? "cpu" : "wall";
        name = kind == PL_CPU ? "cpu" : "wall";
        put_vt(&head, 1, &e, "samples", "count");
        put_vt(&head, 1, &e, t, "nanoseconds");
        pt = t;
        pu = "nanoseconds";
        e.nvalues = 2;
        e.src[0] = e.src[1] = 0;
        e.scale[0] = 1;
        e.scale[1] = (double)period;
        break;
    }
    case PL_ALLOC:
        name = "alloc";
        put_vt(&head, 1, &e, "alloc_objects", "count");
        put_vt(&head, 1, &e, "alloc_space", "bytes");
        pt = "space";
        pu = "bytes";
        period = (int64_t)pl_cfg.alloc_mean;
        e.nvalues = 2;
        e.src[0] = 0;
        e.src[1] = 1;
        e.scale[0] = e.scale[1] = 1;
        break;
    case PL_LOCK:
        name = "lock";
        put_vt(&head, 1, &e, "contentions", "count");
        put_vt(&head, 1, &e, "delay", "nanoseconds");
        pt = "contentions";
        pu = "count";
        period = 1;
        e.nvalues = 2;
        e.src[0] = 0;
        e.src[1] = 1;
        e.scale[0] = e.scale[1] = 1;
        break;
    default:
        goto out;
    }
    str_id(&e, pt);
    str_id(&e, pu);
    pl_stack_flush(kind, on_stack, &e);
    if (skip_send || !e.nsamples)
        goto out;
    struct buf msg;
    buf_init(&msg);
    buf_append(&msg, head.data, head.len);
    buf_append(&msg, e.samples.data, e.samples.len);
    buf_append(&msg, e.locmsgs.data, e.locmsgs.len);
    buf_append(&msg, e.funcmsgs.data, e.funcmsgs.len);
    for (uint32_t i = 0; i < e.strs.len; i++)
        pb_put_bytes(&msg, 6, strtab_get(&e.strs, i), strtab_strlen(&e.strs, i));
    pb_put_int(&msg, 9, (int64_t)from_ns);
    pb_put_int(&msg, 10, (int64_t)(until_ns - from_ns));
    size_t m = pb_begin(&msg, 11); /* period_type */
    pb_put_int(&msg, 1, (int64_t)strtab_find(&e.strs, pt, strlen(pt)));
    pb_put_int(&msg, 2, (int64_t)strtab_find(&e.strs, pu, strlen(pu)));
    pb_end(&msg, m);
    pb_put_int(&msg, 12, period);
    int r = send_profile(name, &msg, from_ns, until_ns);
    buf_release(&msg);
    g_uploads++;
    if (r < 0)
        g_errors++;
    g_fail_streak = r < 0 ? g_fail_streak + 1 : 0;
out:
    buf_release(&head);
    enc_release(&e);
}

/* The in-use snapshot: the live sampled objects by stack (a gauge, not reset). */
static void send_inuse(uint64_t from_ns, uint64_t until_ns, int skip_send);

void pl_upload_once(uint64_t from_ns, uint64_t until_ns, int final)
{
    (void)final;
    if (!g_sym && symbolizer_new(&g_sym, 0) < 0)
        g_sym = NULL;
    /* While the server keeps failing, try only every 6th interval (data of skipped ones is dropped). */
    int skip = 0;
    if (g_fail_streak >= BACKOFF_AFTER && !final)
        skip = (g_skip++ % 6) != 0;
    for (int k = 0; k < PL_NKINDS; k++) {
        if (!pl_cfg.kinds[k])
            continue;
        if (k == PL_ALLOC)
            send_inuse(from_ns, until_ns, skip);
        build_and_send((enum pl_kind)k, from_ns, until_ns, skip);
    }
    struct pl_stats st;
    pl_stats_get(&st);
    uint64_t ring_dropped, timer_errors, misdirected;
    pl_sample_stats(&ring_dropped, &timer_errors);
    const char *sampler = pl_sample_cpu_mode(&misdirected);
    pl_log(2,
           "interval: samples cpu=%" PRIu64 " wall=%" PRIu64 " alloc=%" PRIu64 " lock=%" PRIu64
           " (cpu sampler %s, misdirected %" PRIu64 ", ring dropped %" PRIu64
           ", sampler errors %" PRIu64 "), stacks %" PRIu64 "/%" PRIu64 " (dropped %" PRIu64
           "), live %" PRIu64 "/%" PRIu64 ", threads %" PRIu64 ", profiler memory %" PRIu64
           " KiB mapped, uploads %" PRIu64 " (failed %" PRIu64 ")",
           st.samples[0], st.samples[1], st.samples[2], st.samples[3], sampler, misdirected,
           ring_dropped, timer_errors, st.stacks, st.stacks_max, st.dropped_stacks, st.live,
           st.live_max, pl_sample_threads(), st.mem_bytes / 1024, g_uploads, g_errors);
}

static void on_inuse(const uint64_t *pcs, size_t depth, const double v[4], void *arg)
{
    double w[4] = {v[2], v[3], 0, 0};
    on_stack(pcs, depth, w, arg);
}

static void send_inuse(uint64_t from_ns, uint64_t until_ns, int skip_send)
{
    struct enc e;
    enc_init(&e);
    str_id(&e, "");
    struct buf msg;
    buf_init(&msg);
    put_vt(&msg, 1, &e, "inuse_objects", "count");
    put_vt(&msg, 1, &e, "inuse_space", "bytes");
    e.nvalues = 2;
    e.src[0] = 0;
    e.src[1] = 1;
    e.scale[0] = e.scale[1] = 1;
    uint64_t sp = str_id(&e, "space"), by = str_id(&e, "bytes");
    pl_stack_peek(PL_ALLOC, on_inuse, &e);
    if (skip_send || !e.nsamples)
        goto out;
    buf_append(&msg, e.samples.data, e.samples.len);
    buf_append(&msg, e.locmsgs.data, e.locmsgs.len);
    buf_append(&msg, e.funcmsgs.data, e.funcmsgs.len);
    for (uint32_t i = 0; i < e.strs.len; i++)
        pb_put_bytes(&msg, 6, strtab_get(&e.strs, i), strtab_strlen(&e.strs, i));
    pb_put_int(&msg, 9, (int64_t)from_ns);
    pb_put_int(&msg, 10, (int64_t)(until_ns - from_ns));
    size_t m = pb_begin(&msg, 11);
    pb_put_int(&msg, 1, (int64_t)sp);
    pb_put_int(&msg, 2, (int64_t)by);
    pb_end(&msg, m);
    pb_put_int(&msg, 12, (int64_t)pl_cfg.alloc_mean);
    if (send_profile("inuse", &msg, from_ns, until_ns) < 0)
        g_errors++;
    g_uploads++;
out:
    buf_release(&msg);
    enc_release(&e);
}
