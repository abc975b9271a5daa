/* server.c - the HTTP server: listening, libmicrohttpd glue, routing, replies, signals */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/selfprof.h"
#include "base/err.h"
#include "base/gz.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "server/delta.h"
#include "server/metrics.h"
#include "server/server_int.h"
#include "server/ui.h"
#include "store/store.h"

/* Bodies of GET and other small routes. */
#define SMALL_BODY_MAX (64u << 10)
/* Replies larger than this are gzip-compressed when the client accepts it. */
#define GZIP_MIN_BYTES 1024
/* Delta state is kept for at most this many series. */
#define DELTA_MAX_SERIES 65536

void server_opts_default(struct server_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->http_addr = "127.0.0.1:4040";
    o->data_dir = "./ember-data";
    o->retention_ns = 30LL * 24 * 3600 * 1000000000LL;
    o->retention_bytes = 0;
    o->self_profile = 1;
    o->self_profile_hz = 100;
    o->threads = 0;
    ingest_limits_default(&o->limits);
    o->max_push_bytes = 4 * o->limits.max_profile_bytes;
}

int tenant_valid(const char *t)
{
    size_t n = 0;

    for (const char *p = t; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= SERVER_TENANT_MAX && strcmp(t, ".") && strcmp(t, "..");
}

const char *req_arg(const struct http_req *rq, const char *name)
{
    if (!rq->conn)
        return NULL;
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_header(const struct http_req *rq, const char *name)
{
    if (!rq->conn)
        return NULL;
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

void resp_error(struct http_resp *rs, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rs->status = status;
    rs->content_type = "application/json";
    buf_reset(&rs->body);
    buf_puts(&rs->body, "{\"error\":");
    buf_json_str(&rs->body, msg, strlen(msg));
    buf_puts(&rs->body, "}\n");
}

void resp_json(struct http_resp *rs, const char *s)
{
    rs->status = 200;
    rs->content_type = "application/json";
    buf_reset(&rs->body);
    buf_puts(&rs->body, s);
}

static void resp_text(struct http_resp *rs, int status, const char *s)
{
    rs->status = status;
    rs->content_type = "text/plain; charset=utf-8";
    buf_reset(&rs->body);
    buf_puts(&rs->body, s);
}

/* ---- routing ---- */

static int route_of(const char *url)
{
    if (!strcmp(url, "/ingest") || !strcmp(url, "/pyroscope/ingest"))
        return ROUTE_INGEST;
    if (!strcmp(url, "/push.v1.PusherService/Push"))
        return ROUTE_PUSH;
    if (!strncmp(url, "/api/", 5))
        return api_route(url);
    if (!strcmp(url, "/healthz"))
        return ROUTE_HEALTHZ;
    if (!strcmp(url, "/ready"))
        return ROUTE_READY;
    if (!strcmp(url, "/metrics"))
        return ROUTE_METRICS;
    return ROUTE_UI;
}

static size_t body_limit(const struct srv *s, int route)
{
    if (route == ROUTE_INGEST)
        return s->opts.limits.max_profile_bytes + SERVER_MULTIPART_OVERHEAD;
    if (route == ROUTE_PUSH)
        return s->opts.max_push_bytes;
    return SMALL_BODY_MAX;
}

static int is_ready(const struct srv *s)
{
    return __atomic_load_n(&s->ready, __ATOMIC_ACQUIRE);
}

static void serve_ui(struct http_req *rq, struct http_resp *rs, const struct ui_asset **asset)
{
    const struct ui_asset *a;

    if (strcmp(rq->method, "GET") && strcmp(rq->method, "HEAD")) {
        resp_error(rs, 404, "no such route: %s %.128s", rq->method, rq->url);
        return;
    }
    if (!ui_count()) {
        resp_text(rs, 404,
                  "the web UI is not built into this binary (ui/ was empty at build time); "
                  "the HTTP API is under /api/v1\n");
        return;
    }
    a = ui_find(rq->url);
    if (!a) {
        resp_text(rs, 404, "not found\n");
        return;
    }
    *asset = a;
    rs->status = 200;
    rs->content_type = a->type;
    rs->no_cache = 1;
}

/* Fills rs for rq (body complete). *asset is set for static UI files (served from the table). */
static void dispatch(struct srv *s, struct http_req *rq, struct http_resp *rs,
                     const struct ui_asset **asset)
{
    int route = rq->route;
    int needs_tenant = route != ROUTE_HEALTHZ && route != ROUTE_READY && route != ROUTE_METRICS &&
                       route != ROUTE_UI;

    if (needs_tenant) {
        const char *t = req_header(rq, "X-Scope-OrgID");
        if (!t || !*t)
            t = "anonymous";
        if (!tenant_valid(t)) {
            resp_error(rs, 400,
                       "X-Scope-OrgID: invalid tenant id '%.64s' (want [A-Za-z0-9_.-]{1,150})", t);
            if (route == ROUTE_INGEST || route == ROUTE_PUSH)
                metrics_rejected(REJECT_INVALID);
            return;
        }
        snprintf(rq->tenant, sizeof(rq->tenant), "%s", t);
    }
    if (rq->too_big) {
        resp_error(rs, 413, "request body exceeds the limit of %zu bytes", rq->body_limit);
        if (route == ROUTE_INGEST || route == ROUTE_PUSH)
            metrics_rejected(REJECT_TOO_LARGE);
        return;
    }
    switch (route) {
    case ROUTE_HEALTHZ:
        resp_text(rs, 200, "ok\n");
        return;
    case ROUTE_READY:
        if (is_ready(s))
            resp_text(rs, 200, "ready\n");
        else
            resp_text(rs, 503, "not ready: the store is opening\n");
        return;
    case ROUTE_METRICS:
        rs->status = 200;
        rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
        metrics_write(&rs->body, is_ready(s) ? s->store : NULL);
        return;
    case ROUTE_UI:
        serve_ui(rq, rs, asset);
        return;
    default:
        break;
    }
    if (!is_ready(s)) {
        resp_error(rs, 503, "not ready: the store is opening");
        return;
    }
    if (route == ROUTE_INGEST)
        ingest_handle(s, rq, rs);
    else if (route == ROUTE_PUSH)
        push_handle(s, rq, rs);
    else
        api_handle(s, rq, rs);
}

/* ---- libmicrohttpd glue ---- */

static int accepts_gzip(const struct http_req *rq)
{
    const char *ae = req_header(rq, "Accept-Encoding");
    return ae && strcasestr(ae, "gzip") != NULL;
}

static int compressible(const char *type)
{
    return type && (!strncmp(type, "application/json", 16) || !strncmp(type, "text/", 5));
}

static enum MHD_Result send_reply(struct srv *s, struct http_req *rq, struct http_resp *rs,
                                  const struct ui_asset *asset)
{
    struct MHD_Response *r;
    struct buf gz = BUF_INIT;
    const char *encoding = NULL;
    enum MHD_Result ret;
    (void)s;

    if (!rs->status)
        resp_error(rs, 500, "internal error: no reply");
    if (asset) {
        r = MHD_create_response_from_buffer(asset->len, (void *)asset->data,
                                            MHD_RESPMEM_PERSISTENT);
    } else {
        if (rs->body.len >= GZIP_MIN_BYTES && compressible(rs->content_type) && accepts_gzip(rq) &&
            gz_deflate(rs->body.data, rs->body.len, &gz, 1) == 0) {
            buf_release(&rs->body);
            rs->body = gz;
            gz = (struct buf)BUF_INIT;
            encoding = "gzip";
        }
        size_t len = rs->body.len;
        char *data = buf_detach(&rs->body, &len);
        r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!r)
            free(data);
    }
    buf_release(&gz);
    if (!r)
        return MHD_NO;
    if (rs->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type);
    if (encoding)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
    if (compressible(rs->content_type))
        MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (rs->no_cache || rq->route != ROUTE_UI)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    if (rs->extra_header)
        MHD_add_response_header(r, rs->extra_header, rs->extra_value);
    ret = MHD_queue_response(rq->conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    rq->done = 1;
    metrics_request((enum route_id)rq->route, rs->status, time_mono_ns() - rq->start_ns);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct srv *s = cls;
    struct http_req *rq = *con_cls;
    (void)version;

    if (!rq) {
        rq = xcalloc(1, sizeof(*rq));
        rq->conn = conn;
        rq->method = method;
        rq->url = xstrdup(url);
        rq->start_ns = time_mono_ns();
        rq->route = route_of(rq->url);
        rq->body_limit = body_limit(s, rq->route);
        buf_init(&rq->body);
        *con_cls = rq;
        /* A declared length far past the limit is refused before reading it. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > (unsigned long long)rq->body_limit * 4) {
            struct http_resp rs = {0};
            resp_error(&rs, 413, "request body of %s bytes exceeds the limit of %zu bytes", cl,
                       rq->body_limit);
            if (rq->route == ROUTE_INGEST || rq->route == ROUTE_PUSH)
                metrics_rejected(REJECT_TOO_LARGE);
            enum MHD_Result r = send_reply(s, rq, &rs, NULL);
            buf_release(&rs.body);
            return r;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->done) {
            if (!rq->too_big && rq->body.len + *upload_data_size <= rq->body_limit)
                buf_append(&rq->body, upload_data, *upload_data_size);
            else
                rq->too_big = 1; /* keep reading and discarding, then answer 413 */
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->done)
        return MHD_YES;

    struct http_resp rs = {0};
    const struct ui_asset *asset = NULL;
    enum MHD_Result r;
    dispatch(s, rq, &rs, &asset);
    r = send_reply(s, rq, &rs, asset);
    buf_release(&rs.body);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_req *rq = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;

    if (!rq)
        return;
    buf_release(&rq->body);
    free(rq->url);
    free(rq);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    log_warn("http: %s", msg);
}

/* ---- listening ---- */

/* Splits "host:port", "[v6]:port" or ":port" into host (may be "") and port. */
static int split_addr(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon;
    size_t hn;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hn = (size_t)(close - addr - 1);
        colon = close + 1;
        addr++;
    } else {
        colon = strrchr(addr, ':');
        if (!colon)
            return -EINVAL;
        hn = (size_t)(colon - addr);
    }
    if (hn >= hostlen || strlen(colon + 1) >= portlen || !colon[1])
        return -EINVAL;
    memcpy(host, addr, hn);
    host[hn] = 0;
    strcpy(port, colon + 1);
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
    }
    return atoi(port) <= 65535 ? 0 : -EINVAL;
}

static int try_listen(const struct addrinfo *ai, int dual)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol), one = 1,
        zero = 0, err;

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (dual && ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 512) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* Opens the listening socket for addr. Returns the fd or a negative error (logged). */
static int open_listener(const char *addr, char *shown, size_t shownlen)
{
    char host[256], port[16];
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -EADDRNOTAVAIL, gai;

    if (split_addr(addr, host, sizeof(host), port, sizeof(port))) {
        log_error("invalid --http-addr '%s' (want host:port, :port or [v6]:port)", addr);
        return -EINVAL;
    }
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    hints.ai_family = AF_UNSPEC;
    gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai) {
        log_error("cannot resolve listen address '%s': %s", addr, gai_strerror(gai));
        return -EINVAL;
    }
    /* Empty host: one dual-stack IPv6 socket when possible, else IPv4. */
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (!host[0] && (pass == 0) != (ai->ai_family == AF_INET6))
                continue;
            if (host[0] && pass == 1)
                break;
            fd = try_listen(ai, !host[0]);
            if (fd >= 0 || fd == -EADDRINUSE)
                break;
        }
        if (fd == -EADDRINUSE)
            break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (fd == -EADDRINUSE)
            log_error("cannot listen on %s: the port is already in use (another ember server?)",
                      addr);
        else
            log_error("cannot listen on %s: %s", addr, ember_strerror(fd));
        return fd;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "0.0.0.0";
    int p = atoi(port);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
            p = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
            p = ntohs(in6->sin6_port);
        }
    }
    if (!host[0])
        snprintf(shown, shownlen, "http://0.0.0.0:%d", p);
    else if (strchr(ip, ':'))
        snprintf(shown, shownlen, "http://[%s]:%d", ip, p);
    else
        snprintf(shown, shownlen, "http://%s:%d", ip, p);
    return fd;
}

int server_run(const struct server_opts *o)
{
    struct srv s;
    struct store_opts so;
    struct MHD_Daemon *d = NULL;
    sigset_t sigs, old;
    char shown[300];
    int fd, err = 0, sig, started_prof = 0;
    unsigned flags;

    memset(&s, 0, sizeof(s));
    s.opts = *o;
    if (!s.opts.max_push_bytes)
        s.opts.max_push_bytes = 4 * s.opts.limits.max_profile_bytes;
    fd = open_listener(o->http_addr ? o->http_addr : "127.0.0.1:4040", shown, sizeof(shown));
    if (fd < 0)
        return fd;
    /* Every thread started from here on inherits the mask; only sigwait() below sees them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);
    s.delta = delta_new(DELTA_MAX_SERIES);

    /*
     * Thread per connection by default: handlers block on WAL fsync (group
     * commit) and on queries, and one slow request must not stall the others
     * on a shared polling thread. --threads N switches to a pool of N.
     */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    if (!o->threads)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL},
        {MHD_OPTION_CONNECTION_LIMIT, 2048, NULL},
        {MHD_OPTION_CONNECTION_MEMORY_LIMIT, 128 << 10, NULL},
        /* last: a pool size only with --threads (it ends the list otherwise) */
        {o->threads ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)o->threads, NULL},
        {MHD_OPTION_END, 0, NULL},
    };
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                         NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_ARRAY,
                         opts, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_END);
    if (!d) {
        log_error("cannot start the HTTP server on %s", o->http_addr);
        close(fd);
        err = -EIO;
        goto out;
    }
    store_opts_default(&so);
    so.data_dir = o->data_dir ? o->data_dir : "./ember-data";
    so.retention_ns = o->retention_ns;
    so.retention_bytes = o->retention_bytes;
    so.head_max_bytes = o->head_max_bytes;
    so.head_max_span_ns = o->head_max_span_ns;
    err = store_open(&s.store, &so);
    if (err)
        goto out; /* logged by the store */
    __atomic_store_n(&s.ready, 1, __ATOMIC_RELEASE);
    if (o->self_profile && selfprof_start(s.store, "anonymous", o->self_profile_hz, 10) == 0)
        started_prof = 1;
    log_info("ember server listening on %s (data dir %s)", shown, so.data_dir);
    for (;;) {
        if (sigwait(&sigs, &sig) == 0 && (sig == SIGINT || sig == SIGTERM))
            break;
    }
    log_info("ember server: %s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
out:
    if (d)
        MHD_stop_daemon(d); /* waits for running requests; closes the listening socket */
    if (started_prof)
        selfprof_stop();
    store_close(s.store);
    delta_free(s.delta);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}
