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

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return sz * n;
}

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
    int ret = -1;
    CURL *c = curl_easy_init();
    if (!c)
        goto out;
    char *ename = curl_easy_escape(c, name.data, (int)name.len);
    if (!ename)
        goto out;
    buf_printf(&url, "%s/ingest?format=pprof&spyName=ember-preload&name=%s&from=%" PRIu64
                     "&until=%" PRIu64,
               pl_cfg.server, ename, (uint64_t)(from_ns / 1000000000u),
               (uint64_t)((until_ns + 999999999u) / 1000000000u));
    curl_free(ename);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/octet-stream");
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)UPLOAD_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 2L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    if (cr != CURLE_OK) {
        pl_log(g_fail_streak ? 2 : 1, "upload of %s profile to %s failed: %s", kind, pl_cfg.server,
               curl_easy_strerror(cr));
    } else if (status != 200) {
        pl_log(1, "upload of %s profile to %s: HTTP %ld", kind, pl_cfg.server, status);
    } else {
        ret = 0;
    }
out:
    if (c)
        curl_easy_cleanup(c);
    buf_release(&name);
    buf_release(&url);
    return ret;
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
    pl_log(2,
           "interval: samples cpu=%" PRIu64 " wall=%" PRIu64 " alloc=%" PRIu64 " lock=%" PRIu64
           ", stacks %" PRIu64 "/%" PRIu64 " (dropped %" PRIu64 "), live %" PRIu64 "/%" PRIu64
           ", threads %" PRIu64 ", profiler memory %" PRIu64 " KiB mapped, uploads %" PRIu64
           " (failed %" PRIu64 ")",
           st.samples[0], st.samples[1], st.samples[2], st.samples[3], st.stacks, st.stacks_max,
           st.dropped_stacks, st.live, st.live_max, pl_sample_threads(), st.mem_bytes / 1024,
           g_uploads, g_errors);
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
