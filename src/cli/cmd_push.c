/* cmd_push.c - `ember push`: upload pprof, folded and perf script files to a server's /ingest */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "profile/labels.h"
#include "profile/profile.h"
#include "profile/textfmt.h"
#include "query/timeparse.h"

/* Largest file pushed (the server's own limits apply after). */
#define PUSH_MAX_FILE (256u << 20)

struct push_opts {
    const char *service, *type, *server, *tenant, *from, *until;
    long sample_rate;
    struct labels labels;
};

static void usage(FILE *f)
{
    fprintf(
        f, "usage: ember push [flags] FILE...\n\n"
           "Uploads profile files to an Ember (or Pyroscope) server. The format of each file is\n"
           "detected: pprof (gzip or not) is sent as is; folded stacks (\"a;b;c 12\" lines) are\n"
           "sent as folded; `perf script` output is parsed here and sent as folded. FILE \"-\"\n"
           "reads standard input.\n\n"
           "Flags:\n"
           "  --service NAME       service_name of the profiles (default: the file name\n"
           "                       without directory and extension)\n"
           "  --labels k=v,...     more labels, e.g. env=prod,version=1.2 (default none)\n"
           "  --type TYPE          profile type of folded and perf script data: cpu, wall,\n"
           "                       alloc_objects, alloc_space, inuse_objects, inuse_space,\n"
           "                       lock_count, lock_duration, ... (default cpu; pprof files carry\n"
           "                       their own types)\n"
           "  --sample-rate HZ     sampling rate of folded/perf counts; cpu and wall counts\n"
           "                       become nanoseconds as count * 1e9/HZ (default 100)\n"
           "  --from T             start time of the profile: unix seconds/ms/ns, RFC 3339,\n"
           "                       now-1h, ... (default: the server's time of arrival)\n"
           "  --until T            end time (default: --from, or arrival)\n"
           "  --server URL         server address (default $EMBER_SERVER_ADDRESS, else\n"
           "                       " CLI_DEFAULT_SERVER ")\n"
           "  --tenant ID          tenant, sent as X-Scope-OrgID (default none = anonymous)\n"
           "  -h, --help           show this help\n\n"
           "Example:\n"
           "  ember push --service checkout --labels env=prod cpu.pb.gz perf.txt\n");
}

static const char *kind_name(enum textfmt_kind k)
{
    switch (k) {
    case FMT_PPROF:
        return "pprof";
    case FMT_PPROF_GZ:
        return "pprof, gzip";
    case FMT_FOLDED:
        return "folded";
    case FMT_PERFSCRIPT:
        return "perf script";
    default:
        return "unknown";
    }
}

/* The default service name: the file name without directory and extensions. */
static char *service_from_path(const char *path)
{
    if (!strcmp(path, "-"))
        return xstrdup("stdin");
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    return n ? xstrndup(base, n) : xstrdup(base);
}

/* Time flag into unix seconds as a string; 0 or -1 after printing the problem. */
static int time_param(const char *flag, const char *v, char *out, size_t n)
{
    int64_t ns;
    if (time_parse(v, time_now_ns(), &ns)) {
        fprintf(stderr,
                "ember push: invalid %s '%s' (expected unix time, RFC 3339 or now-15m style)\n",
                flag, v);
        return -1;
    }
    snprintf(out, n, "%" PRId64, ns / 1000000000);
    return 0;
}

/* Builds "SERVICE[.TYPE]{k=v,...}", Pyroscope's name parameter. */
static void build_name(const struct push_opts *po, const char *service, const char *type,
                       struct buf *out)
{
    buf_puts(out, service);
    if (type) {
        buf_putc(out, '.');
        buf_puts(out, type);
    }
    if (po->labels.n == 0)
        return;
    buf_putc(out, '{');
    for (size_t i = 0; i < po->labels.n; i++)
        buf_printf(out, "%s%s=%s", i ? "," : "", po->labels.v[i].name, po->labels.v[i].value);
    buf_putc(out, '}');
}

/* Pushes one file; returns an enum cli_exit. */
static int push_file(const struct push_opts *po, const char *path, const char *from,
                     const char *until)
{
    struct buf data = BUF_INIT, url = BUF_INIT, name = BUF_INIT, folded = BUF_INIT;
    struct cli_http_resp resp = {0};
    struct symtab sym;
    struct profile prof;
    char *service = NULL;
    char err[1024];
    int rc = CLI_OK;
    symtab_init(&sym);
    profile_init(&prof);
    int e = cli_read_file(path, &data, PUSH_MAX_FILE);
    if (e) {
        fprintf(stderr, "ember push: cannot read '%s': %s\n", path,
                e == -EMBER_ETOOBIG ? "larger than 256 MiB" : ember_strerror(e));
        rc = CLI_FAIL;
        goto out;
    }
    enum textfmt_kind kind = textfmt_detect(data.data, data.len);
    if (kind == FMT_UNKNOWN) {
        fprintf(stderr,
                "ember push: '%s': unknown format (expected pprof, folded stacks or perf "
                "script output)\n",
                path);
        rc = CLI_FAIL;
        goto out;
    }
    service = po->service ? xstrdup(po->service) : service_from_path(path);
    const char *body = data.data;
    size_t body_len = data.len;
    const char *format = "pprof", *ctype = "application/octet-stream";
    int text = kind == FMT_FOLDED || kind == FMT_PERFSCRIPT;
    if (kind == FMT_PERFSCRIPT) {
        struct ingest_limits lim;
        ingest_limits_default(&lim);
        lim.max_samples = 1u << 20;
        e = perfscript_parse(data.data, data.len, &sym, &prof, &lim, 0, err, sizeof(err));
        if (e) {
            fprintf(stderr, "ember push: '%s': %s\n", path, err);
            rc = CLI_FAIL;
            goto out;
        }
        profile_compact(&prof);
        folded_write(&sym, &prof, &folded);
        body = folded.data ? folded.data : "";
        body_len = folded.len;
    }
    if (text) {
        format = "folded";
        ctype = "text/plain";
    }
    build_name(po, service, text ? (po->type ? po->type : "cpu") : NULL, &name);
    buf_puts(&url, cli_server_url(po->server));
    while (url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = 0;
    buf_puts(&url, "/ingest");
    cli_url_param(&url, "name", name.data);
    cli_url_param(&url, "format", format);
    cli_url_param(&url, "spyName", "ember-cli");
    cli_url_param(&url, "from", from);
    cli_url_param(&url, "until", until);
    if (text) {
        char hz[32];
        snprintf(hz, sizeof(hz), "%ld", po->sample_rate);
        cli_url_param(&url, "sampleRate", hz);
    }
    e = cli_http(url.data, po->tenant, body, body_len, ctype, &resp, err, sizeof(err));
    if (e) {
        fprintf(stderr, "ember push: cannot push '%s': %s\n", path, err);
        rc = e == -EMBER_ENOTFOUND ? CLI_UNAVAILABLE : CLI_FAIL;
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        cli_http_error(&resp, err, sizeof(err));
        fprintf(stderr, "ember push: '%s' rejected: %s\n", path, err);
        rc = CLI_FAIL;
        goto out;
    }
    printf("pushed %s (%zu bytes, %s)\n", path, data.len, kind_name(kind));
out:
    free(service);
    cli_http_resp_release(&resp);
    profile_release(&prof);
    symtab_release(&sym);
    buf_release(&data);
    buf_release(&url);
    buf_release(&name);
    buf_release(&folded);
    return rc;
}

int cmd_push(int argc, char **argv)
{
    enum { O_SERVICE = 256, O_LABELS, O_TYPE, O_SERVER, O_RATE, O_FROM, O_UNTIL, O_TENANT };
    static const struct option longopts[] = {
        {"service", required_argument, NULL, O_SERVICE},
        {"labels", required_argument, NULL, O_LABELS},
        {"type", required_argument, NULL, O_TYPE},
        {"server", required_argument, NULL, O_SERVER},
        {"sample-rate", required_argument, NULL, O_RATE},
        {"from", required_argument, NULL, O_FROM},
        {"until", required_argument, NULL, O_UNTIL},
        {"tenant", required_argument, NULL, O_TENANT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct push_opts po = {0};
    po.sample_rate = 100;
    labels_init(&po.labels);
    char err[512];
    int rc = CLI_OK, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            goto out;
        case O_SERVICE:
            po.service = optarg;
            break;
        case O_LABELS:
            if (cli_parse_labels(optarg, &po.labels, err, sizeof(err))) {
                fprintf(stderr, "ember push: invalid --labels '%s': %s\n", optarg, err);
                rc = CLI_USAGE;
                goto out;
            }
            break;
        case O_TYPE:
            po.type = optarg;
            break;
        case O_SERVER:
            po.server = optarg;
            break;
        case O_RATE:
            if (cli_parse_int(optarg, 1, 1000000, &po.sample_rate)) {
                fprintf(stderr, "ember push: invalid --sample-rate '%s' (expected 1..1000000)\n",
                        optarg);
                rc = CLI_USAGE;
                goto out;
            }
            break;
        case O_FROM:
            po.from = optarg;
            break;
        case O_UNTIL:
            po.until = optarg;
            break;
        case O_TENANT:
            po.tenant = optarg;
            break;
        default:
            if (c == ':')
                fprintf(stderr, "ember push: option '%s' needs a value\n\n", argv[optind - 1]);
            else
                fprintf(stderr, "ember push: unknown option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            rc = CLI_USAGE;
            goto out;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "ember push: no FILE given\n\n");
        usage(stderr);
        rc = CLI_USAGE;
        goto out;
    }
    /* the name parameter carries labels unquoted: refuse what it cannot carry */
    for (size_t i = 0; i < po.labels.n; i++) {
        if (strpbrk(po.labels.v[i].value, ",{}=")) {
            fprintf(stderr, "ember push: label %s: values cannot contain ',', '{', '}' or '='\n",
                    po.labels.v[i].name);
            rc = CLI_USAGE;
            goto out;
        }
    }
    if (po.service && (!*po.service || strpbrk(po.service, "{}"))) {
        fprintf(stderr, "ember push: invalid --service '%s'\n", po.service);
        rc = CLI_USAGE;
        goto out;
    }
    if (po.type && (!*po.type || strpbrk(po.type, "{}.,= "))) {
        fprintf(stderr, "ember push: invalid --type '%s'\n", po.type);
        rc = CLI_USAGE;
        goto out;
    }
    char from[32], until[32];
    const char *fromp = NULL, *untilp = NULL;
    if (po.from) {
        if (time_param("--from", po.from, from, sizeof(from))) {
            rc = CLI_USAGE;
            goto out;
        }
        fromp = from;
    }
    if (po.until) {
        if (time_param("--until", po.until, until, sizeof(until))) {
            rc = CLI_USAGE;
            goto out;
        }
        untilp = until;
    }
    for (int i = optind; i < argc; i++) {
        int r = push_file(&po, argv[i], fromp, untilp);
        if (r != CLI_OK && (rc == CLI_OK || r == CLI_UNAVAILABLE))
            rc = r;
        if (r == CLI_UNAVAILABLE)
            break; /* the next files would fail the same way */
    }
out:
    labels_release(&po.labels);
    return rc;
}
