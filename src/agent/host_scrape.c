/* host_scrape.c - pull mode: scrape Go net/http/pprof endpoints and push the profiles */
#include "agent/host_scrape.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "profile/labels.h"
#include "profile/pbwire.h"

/* Largest profile body accepted from a scraped endpoint. */
#define SCRAPE_MAX_BODY (64u << 20)

struct scrape {
    const struct scrape_opts *o;
    volatile sig_atomic_t *stop;
    CURL *curl;
    char base[2048];
    char service[256];
    uint64_t scrapes, errors;
};

int scrape_url_hostport(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    if (!p || n == 0)
        return -EINVAL;
    p += 3;
    size_t len = strcspn(p, "/?#");
    const char *at = memchr(p, '@', len); /* user:password@ */
    if (at) {
        len -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (len == 0 || len >= n)
        return -EINVAL;
    memcpy(out, p, len);
    out[len] = 0;
    return 0;
}

struct body {
    struct buf b;
    int too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct body *bd = arg;
    size_t n = size * nmemb;
    if (bd->b.len + n > SCRAPE_MAX_BODY) {
        bd->too_big = 1;
        return 0;
    }
    buf_append(&bd->b, ptr, n);
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    struct scrape *s = arg;
    return *s->stop ? 1 : 0; /* aborts a long CPU profile on SIGINT */
}

/* GET url into body; 0, or -1 (logged with url, status and body excerpt). */
static int fetch(struct scrape *s, const char *url, long timeout_s, struct body *bd)
{
    curl_easy_reset(s->curl);
    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, bd);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);
    CURLcode cc = curl_easy_perform(s->curl);
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (*s->stop)
        return -1;
    if (bd->too_big) {
        log_warn("agent: scrape %s: body larger than %u bytes, skipped", url, SCRAPE_MAX_BODY);
        return -1;
    }
    if (cc != CURLE_OK) {
        log_warn("agent: scrape %s: %s", url, curl_easy_strerror(cc));
        return -1;
    }
    if (status != 200) {
        int n = bd->b.len > 200 ? 200 : (int)bd->b.len;
        log_warn("agent: scrape %s: HTTP %ld: %.*s", url, status, n, bd->b.data ? bd->b.data : "");
        return -1;
    }
    if (!bd->b.len) {
        log_warn("agent: scrape %s: empty body", url);
        return -1;
    }
    return 0;
}

static void put_label(struct buf *b, const char *name, const char *value)
{
    size_t m = pb_begin(b, 1);
    pb_put_str(b, 1, name);
    pb_put_str(b, 2, value);
    pb_end(b, m);
}

/* Pushes one raw pprof as profile __name__; 0 or -1 (logged). */
static int push(struct scrape *s, const char *name, const struct buf *prof)
{
    struct buf req = BUF_INIT, url = BUF_INIT;
    struct body resp = {BUF_INIT, 0};
    struct curl_slist *hdrs = NULL;
    int rc = -1;
    size_t series = pb_begin(&req, 1); /* PushRequest.series */
    put_label(&req, "__name__", name);
    put_label(&req, "service_name", s->service);
    for (size_t i = 0; s->o->labels && i < s->o->labels->n; i++)
        put_label(&req, s->o->labels->v[i].name, s->o->labels->v[i].value);
    size_t sample = pb_begin(&req, 2); /* RawProfileSeries.samples */
    pb_put_bytes(&req, 1, prof->data, prof->len);
    pb_end(&req, sample);
    pb_end(&req, series);

    buf_printf(&url, "%s/push.v1.PusherService/Push", s->o->server);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/proto");
    if (s->o->tenant) {
        char h[300];
        snprintf(h, sizeof(h), "X-Scope-OrgID: %s", s->o->tenant);
        hdrs = curl_slist_append(hdrs, h);
    }
    curl_easy_reset(s->curl);
    curl_easy_setopt(s->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, req.data);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.len);
    curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(s->curl);
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        log_warn("agent: cannot push the %s profile of %s to '%s': %s", name, s->service,
                 s->o->server, curl_easy_strerror(cc));
    } else if (status < 200 || status >= 300) {
        int n = resp.b.len > 300 ? 300 : (int)resp.b.len;
        log_warn("agent: server refused the %s profile of %s: HTTP %ld: %.*s", name, s->service,
                 status, n, resp.b.data ? resp.b.data : "");
    } else {
        rc = 0;
    }
    curl_slist_free_all(hdrs);
    buf_release(&req);
    buf_release(&url);
    buf_release(&resp.b);
    return rc;
}

/* Scrapes endpoint path (relative to the base URL) and pushes it as name. */
static void scrape_one(struct scrape *s, const char *path, const char *name, long timeout_s)
{
    char url[2200];
    struct body bd = {BUF_INIT, 0};
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    s->scrapes++;
    if (fetch(s, url, timeout_s, &bd) || push(s, name, &bd.b))
        s->errors++;
    buf_release(&bd.b);
}

int host_scrape_run(const struct scrape_opts *o, volatile sig_atomic_t *stop)
{
    struct scrape s = {.o = o, .stop = stop};
    int rc = 0;
    size_t ul = strlen(o->url);
    if (ul == 0 || ul + 2 > sizeof(s.base) ||
        (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8))) {
        log_error("agent: invalid --scrape URL '%s' (want http://HOST:PORT/debug/pprof/)", o->url);
        return -EINVAL;
    }
    snprintf(s.base, sizeof(s.base), "%s%s", o->url, o->url[ul - 1] == '/' ? "" : "/");
    if (o->service && *o->service)
        snprintf(s.service, sizeof(s.service), "%s", o->service);
    else if (scrape_url_hostport(o->url, s.service, sizeof(s.service))) {
        log_error("agent: no host:port in --scrape URL '%s'; give --service", o->url);
        return -EINVAL;
    }
    int interval = o->interval_s > 0 ? o->interval_s : 10;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    s.curl = curl_easy_init();
    if (!s.curl) {
        log_error("agent: cannot initialise libcurl");
        rc = -ENOMEM;
        goto out;
    }
    log_info("agent: scraping %s every %d s as service_name=%s", s.base, interval, s.service);
    int64_t start = time_mono_ns();
    while (!*stop) {
        int64_t cycle = time_mono_ns();
        int secs = interval;
        if (o->duration_s > 0) {
            int64_t left = (int64_t)o->duration_s - (cycle - start) / 1000000000LL;
            if (left < 1)
                break;
            if (left < secs)
                secs = (int)left;
        }
        char path[64];
        snprintf(path, sizeof(path), "profile?seconds=%d", secs);
        scrape_one(&s, path, "process_cpu", secs + 30L);
        static const char *const others[][2] = {{"heap", "memory"},
                                                {"mutex", "mutex"},
                                                {"block", "block"},
                                                {"goroutine", "goroutines"}};
        for (size_t i = 0; i < sizeof(others) / sizeof(others[0]) && !*stop; i++)
            scrape_one(&s, others[i][0], others[i][1], 30L);
        log_info("agent: scrape stats scrapes=%" PRIu64 " errors=%" PRIu64, s.scrapes, s.errors);
        /* a failed CPU profile returns at once: keep the period */
        while (!*stop && time_mono_ns() - cycle < (int64_t)secs * 1000000000LL) {
            struct timespec ts = {0, 100000000L};
            nanosleep(&ts, NULL);
        }
    }
out:
    if (s.curl)
        curl_easy_cleanup(s.curl);
    curl_global_cleanup();
    return rc;
}
