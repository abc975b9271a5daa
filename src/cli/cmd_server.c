/* cmd_server.c - `ember server`: flags and config file into struct server_opts, then server_run()
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/xalloc.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "query/timeparse.h"
#include "server/server.h"

/* The settings, by the names shared by flags and config keys. */
enum setting {
    SET_HTTP_ADDR,
    SET_DATA_DIR,
    SET_RETENTION,
    SET_RETENTION_SIZE,
    SET_SELF_PROFILE,
    SET_SELF_PROFILE_HZ,
    SET_THREADS,
    SET_HEAD_MAX_BYTES,
    SET_HEAD_MAX_SPAN,
    SET_MAX
};

static const char *const setting_names[SET_MAX] = {
    "http-addr",       "data-dir", "retention",      "retention-size", "self-profile",
    "self-profile-hz", "threads",  "head-max-bytes", "head-max-span",
};

struct settings {
    char *val[SET_MAX]; /* owned; NULL = not given */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ember server [flags]\n\n"
            "Runs the Ember server: Pyroscope-compatible ingest (/ingest, Push), the embedded\n"
            "store, the query API (/api/v1/*), the web UI and /metrics, until SIGINT/SIGTERM.\n"
            "By default it profiles itself (service_name \"ember-server\").\n\n"
            "Flags:\n"
            "  --http-addr ADDR        listen address host:port (default 127.0.0.1:4040;\n"
            "                          \":4040\" listens on every interface)\n"
            "  --data-dir DIR          data directory, created if missing (default ./ember-data)\n"
            "  --config FILE           read settings from FILE: \"key = value\" or \"key: value\"\n"
            "                          lines with the flag names as keys (http-addr, data-dir,\n"
            "                          retention, retention-size, self-profile, self-profile-hz,\n"
            "                          threads, head-max-bytes, head-max-span); flags override\n"
            "                          the file\n"
            "  --retention DURATION    delete data older than this, e.g. 30d, 12h (default 30d;\n"
            "                          0 keeps data forever)\n"
            "  --retention-size SIZE   delete the oldest data past this size, e.g. 10GB, 512MiB\n"
            "                          (units are powers of 1024; default 0 = no cap)\n"
            "  --no-self-profile       do not profile the server itself (default: profile it)\n"
            "  --self-profile-hz N     self-profiling sample rate per thread (default 100)\n"
            "  --threads N             HTTP worker pool size (default 0 = one thread per\n"
            "                          connection, so a WAL fsync never blocks other requests)\n"
            "  --head-max-bytes SIZE   write the in-memory head out as a block file once its\n"
            "                          samples take this much memory (default 64MiB); bounds\n"
            "                          the memory used per tenant under sustained ingest\n"
            "  --head-max-span DURATION  ... or once its data spans this much time (default 1h)\n"
            "  -h, --help              show this help\n\n"
            "Example:\n"
            "  ember server --http-addr :4040 --data-dir /var/lib/ember --retention 30d\n");
}

static void set(struct settings *s, enum setting k, const char *v)
{
    free(s->val[k]);
    s->val[k] = xstrdup(v);
}

static int find_setting(const char *key)
{
    char norm[64];
    snprintf(norm, sizeof(norm), "%s", key);
    for (char *p = norm; *p; p++)
        if (*p == '_')
            *p = '-';
    for (int i = 0; i < SET_MAX; i++)
        if (!strcmp(norm, setting_names[i]))
            return i;
    return -1;
}

/* Config file keys fill what the flags left unset. */
static int on_config(const char *key, const char *value, void *arg, char *err, size_t errlen)
{
    struct settings *s = arg;
    int k = find_setting(key);
    if (k < 0) {
        snprintf(err, errlen,
                 "unknown key '%s' (known: http-addr, data-dir, retention, "
                 "retention-size, self-profile, self-profile-hz, threads, head-max-bytes, "
                 "head-max-span)",
                 key);
        return -EMBER_EINVAL_INPUT;
    }
    if (!s->val[k])
        set(s, (enum setting)k, value);
    return 0;
}

/* Converts the settings into o; on a bad value prints what and where and returns -1. */
static int apply(const struct settings *s, struct server_opts *o)
{
    for (int k = 0; k < SET_MAX; k++) {
        const char *v = s->val[k];
        if (!v)
            continue;
        int64_t ns;
        uint64_t bytes;
        long n;
        int b;
        switch ((enum setting)k) {
        case SET_HTTP_ADDR:
            if (!*v || !strchr(v, ':'))
                goto bad;
            o->http_addr = v;
            break;
        case SET_DATA_DIR:
            if (!*v)
                goto bad;
            o->data_dir = v;
            break;
        case SET_RETENTION:
            if (duration_parse(v, &ns) || ns < 0)
                goto bad;
            o->retention_ns = ns;
            break;
        case SET_RETENTION_SIZE:
            if (cli_parse_size(v, &bytes))
                goto bad;
            o->retention_bytes = bytes;
            break;
        case SET_SELF_PROFILE:
            if (cli_parse_bool(v, &b))
                goto bad;
            o->self_profile = b;
            break;
        case SET_SELF_PROFILE_HZ:
            if (cli_parse_int(v, 1, 10000, &n))
                goto bad;
            o->self_profile_hz = (int)n;
            break;
        case SET_THREADS:
            if (cli_parse_int(v, 0, 1024, &n))
                goto bad;
            o->threads = (unsigned)n;
            break;
        case SET_HEAD_MAX_BYTES:
            if (cli_parse_size(v, &bytes) || bytes < (4u << 20))
                goto bad;
            o->head_max_bytes = bytes;
            break;
        case SET_HEAD_MAX_SPAN:
            if (duration_parse(v, &ns) || ns < 1000000000LL)
                goto bad;
            o->head_max_span_ns = ns;
            break;
        case SET_MAX:
            break;
        }
        continue;
    bad:
        fprintf(stderr, "ember server: invalid %s '%s'", setting_names[k], v);
        switch ((enum setting)k) {
        case SET_HTTP_ADDR:
            fprintf(stderr, " (expected host:port, e.g. 127.0.0.1:4040 or :4040)\n");
            break;
        case SET_RETENTION:
            fprintf(stderr, " (expected a duration like 30d, 12h, 90m)\n");
            break;
        case SET_RETENTION_SIZE:
            fprintf(stderr, " (expected a size like 10GB, 512MiB)\n");
            break;
        case SET_SELF_PROFILE:
            fprintf(stderr, " (expected true or false)\n");
            break;
        case SET_SELF_PROFILE_HZ:
            fprintf(stderr, " (expected 1..10000)\n");
            break;
        case SET_THREADS:
            fprintf(stderr, " (expected 0..1024)\n");
            break;
        case SET_HEAD_MAX_BYTES:
            fprintf(stderr,
                    " (expected a size of at least 4MiB: the head grows in 1 MiB chunks)\n");
            break;
        case SET_HEAD_MAX_SPAN:
            fprintf(stderr, " (expected a duration of at least 1s, e.g. 30m)\n");
            break;
        default:
            fprintf(stderr, "\n");
        }
        return -1;
    }
    return 0;
}

int cmd_server(int argc, char **argv)
{
    enum { OPT_CONFIG = 256, OPT_NO_SELF = 257 };
    static const struct option longopts[] = {
        {"http-addr", required_argument, NULL, SET_HTTP_ADDR + 1000},
        {"data-dir", required_argument, NULL, SET_DATA_DIR + 1000},
        {"retention", required_argument, NULL, SET_RETENTION + 1000},
        {"retention-size", required_argument, NULL, SET_RETENTION_SIZE + 1000},
        {"self-profile-hz", required_argument, NULL, SET_SELF_PROFILE_HZ + 1000},
        {"threads", required_argument, NULL, SET_THREADS + 1000},
        {"head-max-bytes", required_argument, NULL, SET_HEAD_MAX_BYTES + 1000},
        {"head-max-span", required_argument, NULL, SET_HEAD_MAX_SPAN + 1000},
        {"no-self-profile", no_argument, NULL, OPT_NO_SELF},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct settings s = {{NULL}};
    const char *config = NULL;
    int rc = CLI_OK;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            goto out;
        } else if (c == OPT_CONFIG) {
            config = optarg;
        } else if (c == OPT_NO_SELF) {
            set(&s, SET_SELF_PROFILE, "false");
        } else if (c >= 1000 && c < 1000 + SET_MAX) {
            set(&s, (enum setting)(c - 1000), optarg);
        } else {
            if (c == ':')
                fprintf(stderr, "ember server: option '%s' needs a value\n\n", argv[optind - 1]);
            else
                fprintf(stderr, "ember server: unknown option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            rc = CLI_USAGE;
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ember server: unexpected argument '%s'\n\n", argv[optind]);
        usage(stderr);
        rc = CLI_USAGE;
        goto out;
    }
    if (config) {
        char err[512];
        if (cli_config_load(config, on_config, &s, err, sizeof(err))) {
            fprintf(stderr, "ember server: %s\n", err);
            rc = CLI_USAGE;
            goto out;
        }
    }
    struct server_opts o;
    server_opts_default(&o);
    if (apply(&s, &o)) {
        rc = CLI_USAGE;
        goto out;
    }
    rc = server_run(&o) ? CLI_FAIL : CLI_OK;
out:
    for (int k = 0; k < SET_MAX; k++)
        free(s.val[k]);
    return rc;
}
