/* cmd_query.c - `ember query`: top table, flame graph, exports, series, labels and types from a
 * server */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/render.h"

#define DEFAULT_QUERY "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

struct query_opts {
    const char *query, *from, *until, *server, *tenant, *output, *sort;
    long limit, max_depth;
    double min_pct;
    int json, tree;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ember query <what> [flags]\n\n"
        "Asks a server about stored profiles. <what> is one of:\n"
        "  top          the functions with the most self (or total) time, as a table\n"
        "  flamegraph   the merged call tree as JSON (flamebearer), or a text tree with --tree\n"
        "  folded       the merged profile as folded stacks (\"a;b;c 12\" lines)\n"
        "  pprof        the merged profile as gzip pprof (for go tool pprof); needs --output\n"
        "               when standard output is a terminal\n"
        "  series       the series (label sets) matching --query\n"
        "  labels [NAME]  label names, or the values of label NAME\n"
        "  types        the profile types present\n\n"
        "Flags:\n"
        "  -q, --query SEL      series selector, e.g. 'process_cpu:cpu:nanoseconds:cpu:nanoseconds\n"
        "                       {service_name=\"app\"}' (default " DEFAULT_QUERY "\n"
        "                       for top/flamegraph/folded/pprof; every series for the lists)\n"
        "  --from T             start: now-1h, unix s/ms/ns, RFC 3339 (default now-1h)\n"
        "  --until T            end (default now)\n"
        "  --limit N            top: rows shown (default 20; 0 = all)\n"
        "  --sort self|total    top: order (default self)\n"
        "  --tree               flamegraph: print an indented tree instead of JSON\n"
        "  --min-percent P      --tree: hide nodes under P%% of the total (default 1)\n"
        "  --max-depth N        --tree: levels shown (default 0 = all)\n"
        "  -o, --output FILE    write the result to FILE instead of standard output\n"
        "  --json               print the server's JSON as is (top, series, labels, types)\n"
        "  --server URL         server address (default $EMBER_SERVER_ADDRESS, else\n"
        "                       " CLI_DEFAULT_SERVER ")\n"
        "  --tenant ID          tenant, sent as X-Scope-OrgID (default anonymous)\n"
        "  -h, --help           show this help\n\n"
        "Examples:\n"
        "  ember query top -q 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"ember-server\"}' --from now-15m\n"
        "  ember query pprof -q 'process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"app\"}' "
        "-o app.pb.gz\n");
}

/* Writes data to --output or stdout. Returns an enum cli_exit. */
static int emit(const struct query_opts *qo, const char *data, size_t n)
{
    FILE *f = qo->output ? fopen(qo->output, "wb") : stdout;
    if (!f) {
        perror(qo->output);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (fwrite(data, 1, n, f) != n)
        rc = CLI_FAIL;
    if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
        rc = CLI_FAIL;
    if (rc != CLI_OK)
        fprintf(stderr, "ember query: cannot write %s\n", qo->output ? qo->output : "output");
    return rc;
}

static int run(const struct query_opts *qo, const char *what, const char *name)
{
    struct buf url = BUF_INIT, out = BUF_INIT;
    struct cli_http_resp resp = {0};
    char err[1024];
    int rc = CLI_OK;
    int merged = !strcmp(what, "top") || !strcmp(what, "flamegraph") || !strcmp(what, "folded") ||
                 !strcmp(what, "pprof");
    const char *query = qo->query ? qo->query : merged ? DEFAULT_QUERY : NULL;
    if (!strcmp(what, "pprof") && !qo->output && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "ember query: pprof is binary; use --output FILE or redirect stdout\n");
        return CLI_USAGE;
    }
    buf_puts(&url, cli_server_url(qo->server));
    while (url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = 0;
    if (!strcmp(what, "top")) {
        buf_puts(&url, "/api/v1/top");
        cli_url_param(&url, "sort", qo->sort ? qo->sort : "self");
    } else if (!strcmp(what, "flamegraph")) {
        buf_puts(&url, "/api/v1/flamegraph");
    } else if (!strcmp(what, "folded") || !strcmp(what, "pprof")) {
        buf_puts(&url, "/api/v1/export");
        cli_url_param(&url, "format", what);
    } else if (!strcmp(what, "series")) {
        buf_puts(&url, "/api/v1/series");
    } else if (!strcmp(what, "labels")) {
        if (name) {
            buf_puts(&url, "/api/v1/label/");
            cli_url_escape(&url, name);
            buf_puts(&url, "/values");
        } else {
            buf_puts(&url, "/api/v1/labels");
        }
    } else {
        buf_puts(&url, "/api/v1/profile-types");
    }
    cli_url_param(&url, "query", query);
    cli_url_param(&url, "from", qo->from);
    cli_url_param(&url, "until", qo->until);
    int e = cli_http(url.data, qo->tenant, NULL, 0, NULL, &resp, err, sizeof(err));
    if (e) {
        fprintf(stderr, "ember query: %s\n", err);
        rc = e == -EMBER_ENOTFOUND ? CLI_UNAVAILABLE : CLI_FAIL;
        goto out;
    }
    if (resp.status != 200) {
        cli_http_error(&resp, err, sizeof(err));
        fprintf(stderr, "ember query: %s\n", err);
        rc = CLI_FAIL;
        goto out;
    }
    const char *body = resp.body.data;
    size_t len = resp.body.len;
    if (qo->json || !strcmp(what, "folded") || !strcmp(what, "pprof") ||
        (!strcmp(what, "flamegraph") && !qo->tree)) {
        rc = emit(qo, body, len);
        if (rc == CLI_OK && !qo->output && len && body[len - 1] != '\n' && strcmp(what, "pprof"))
            fputc('\n', stdout);
        goto out;
    }
    if (!strcmp(what, "top"))
        e = render_top(body, len, (size_t)qo->limit, &out, err, sizeof(err));
    else if (!strcmp(what, "flamegraph"))
        e = render_flamegraph_tree(body, len, qo->min_pct, (size_t)qo->max_depth, &out, err,
                                   sizeof(err));
    else if (!strcmp(what, "series"))
        e = render_series(body, len, &out, err, sizeof(err));
    else if (!strcmp(what, "labels"))
        e = render_strings(body, len, name ? "values" : "names", &out, err, sizeof(err));
    else
        e = render_types(body, len, &out, err, sizeof(err));
    if (e) {
        fprintf(stderr, "ember query: %s\n", err);
        rc = CLI_FAIL;
        goto out;
    }
    rc = emit(qo, out.data ? out.data : "", out.len);
out:
    cli_http_resp_release(&resp);
    buf_release(&url);
    buf_release(&out);
    return rc;
}

int cmd_query(int argc, char **argv)
{
    enum {
        O_FROM = 256,
        O_UNTIL,
        O_SERVER,
        O_LIMIT,
        O_SORT,
        O_JSON,
        O_TREE,
        O_TENANT,
        O_MINPCT,
        O_MAXDEPTH
    };
    static const struct option longopts[] = {
        {"query", required_argument, NULL, 'q'},
        {"from", required_argument, NULL, O_FROM},
        {"until", required_argument, NULL, O_UNTIL},
        {"server", required_argument, NULL, O_SERVER},
        {"limit", required_argument, NULL, O_LIMIT},
        {"sort", required_argument, NULL, O_SORT},
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, O_JSON},
        {"tree", no_argument, NULL, O_TREE},
        {"min-percent", required_argument, NULL, O_MINPCT},
        {"max-depth", required_argument, NULL, O_MAXDEPTH},
        {"tenant", required_argument, NULL, O_TENANT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct query_opts qo = {0};
    qo.limit = 20;
    qo.min_pct = 1.0;
    int c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq:o:", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'h':
            usage(stdout);
            return CLI_OK;
        case 'q':
            qo.query = optarg;
            break;
        case 'o':
            qo.output = optarg;
            break;
        case O_FROM:
            qo.from = optarg;
            break;
        case O_UNTIL:
            qo.until = optarg;
            break;
        case O_SERVER:
            qo.server = optarg;
            break;
        case O_TENANT:
            qo.tenant = optarg;
            break;
        case O_JSON:
            qo.json = 1;
            break;
        case O_TREE:
            qo.tree = 1;
            break;
        case O_LIMIT:
            if (cli_parse_int(optarg, 0, 1000000, &qo.limit)) {
                fprintf(stderr, "ember query: invalid --limit '%s' (expected 0..1000000)\n",
                        optarg);
                return CLI_USAGE;
            }
            break;
        case O_MAXDEPTH:
            if (cli_parse_int(optarg, 0, 100000, &qo.max_depth)) {
                fprintf(stderr, "ember query: invalid --max-depth '%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case O_MINPCT:
            qo.min_pct = strtod(optarg, &end);
            if (end == optarg || *end || qo.min_pct < 0 || qo.min_pct > 100) {
                fprintf(stderr, "ember query: invalid --min-percent '%s' (expected 0..100)\n",
                        optarg);
                return CLI_USAGE;
            }
            break;
        case O_SORT:
            if (strcmp(optarg, "self") && strcmp(optarg, "total")) {
                fprintf(stderr, "ember query: invalid --sort '%s' (expected self or total)\n",
                        optarg);
                return CLI_USAGE;
            }
            qo.sort = optarg;
            break;
        default:
            if (c == ':')
                fprintf(stderr, "ember query: option '%s' needs a value\n\n", argv[optind - 1]);
            else
                fprintf(stderr, "ember query: unknown option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    static const char *whats[] = {"top",    "flamegraph", "folded", "pprof",
                                  "series", "labels",     "types"};
    const char *what = optind < argc ? argv[optind] : NULL;
    int known = 0;
    for (size_t i = 0; what && i < sizeof(whats) / sizeof(whats[0]); i++)
        known |= !strcmp(what, whats[i]);
    if (!known) {
        if (what)
            fprintf(stderr, "ember query: unknown query '%s'\n\n", what);
        else
            fprintf(stderr, "ember query: say what to query (top, flamegraph, ...)\n\n");
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = NULL;
    int max_args = !strcmp(what, "labels") ? 2 : 1;
    if (argc - optind > max_args) {
        fprintf(stderr, "ember query: unexpected argument '%s'\n\n", argv[optind + max_args]);
        usage(stderr);
        return CLI_USAGE;
    }
    if (max_args == 2 && optind + 1 < argc)
        name = argv[optind + 1];
    return run(&qo, what, name);
}
