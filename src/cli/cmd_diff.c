/* cmd_diff.c - `ember diff`: which functions' share of the profile changed most between two
 * selections */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "cli/render.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ember diff --left SEL --right SEL [flags]\n"
               "       ember diff --query SEL --left-from T --right-from T [flags]\n\n"
               "Compares two merged profiles - two selections, or one selection over two time\n"
               "ranges - and lists the functions whose share of self time changed most:\n"
               "Left%%, Right%% and the change in percentage points (Δ).\n\n"
               "Flags:\n"
               "  --left SEL, --right SEL    the two selectors (default: --query for both)\n"
               "  -q, --query SEL            selector for a side not given (default none)\n"
               "  --left-from T, --left-until T     left time range (default --from/--until)\n"
               "  --right-from T, --right-until T   right time range (default --from/--until)\n"
               "  --from T, --until T        range for a side not given (default now-1h and now)\n"
               "  --limit N                  rows shown (default 20; 0 = all)\n"
               "  --json                     print the server's JSON as is\n"
               "  --server URL               server address (default $EMBER_SERVER_ADDRESS, else\n"
               "                             " CLI_DEFAULT_SERVER ")\n"
               "  --tenant ID                tenant, sent as X-Scope-OrgID (default anonymous)\n"
               "  -h, --help                 show this help\n\n"
               "Examples:\n"
               "  ember diff --left '{service_name=\"app\", version=\"1\"}' "
               "--right '{service_name=\"app\", version=\"2\"}'\n"
               "  ember diff -q '{service_name=\"app\"}' --left-from now-2h --left-until now-1h "
               "--right-from now-1h\n");
}

int cmd_diff(int argc, char **argv)
{
    enum {
        O_LEFT = 256,
        O_RIGHT,
        O_LFROM,
        O_LUNTIL,
        O_RFROM,
        O_RUNTIL,
        O_FROM,
        O_UNTIL,
        O_LIMIT,
        O_SERVER,
        O_TENANT,
        O_JSON
    };
    static const struct option longopts[] = {
        {"left", required_argument, NULL, O_LEFT},
        {"right", required_argument, NULL, O_RIGHT},
        {"query", required_argument, NULL, 'q'},
        {"left-from", required_argument, NULL, O_LFROM},
        {"left-until", required_argument, NULL, O_LUNTIL},
        {"right-from", required_argument, NULL, O_RFROM},
        {"right-until", required_argument, NULL, O_RUNTIL},
        {"from", required_argument, NULL, O_FROM},
        {"until", required_argument, NULL, O_UNTIL},
        {"limit", required_argument, NULL, O_LIMIT},
        {"server", required_argument, NULL, O_SERVER},
        {"tenant", required_argument, NULL, O_TENANT},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *left = NULL, *right = NULL, *query = NULL, *lfrom = NULL, *luntil = NULL,
               *rfrom = NULL, *runtil = NULL, *from = NULL, *until = NULL, *server = NULL,
               *tenant = NULL;
    long limit = 20;
    int json = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return CLI_OK;
        case O_LEFT:
            left = optarg;
            break;
        case O_RIGHT:
            right = optarg;
            break;
        case 'q':
            query = optarg;
            break;
        case O_LFROM:
            lfrom = optarg;
            break;
        case O_LUNTIL:
            luntil = optarg;
            break;
        case O_RFROM:
            rfrom = optarg;
            break;
        case O_RUNTIL:
            runtil = optarg;
            break;
        case O_FROM:
            from = optarg;
            break;
        case O_UNTIL:
            until = optarg;
            break;
        case O_SERVER:
            server = optarg;
            break;
        case O_TENANT:
            tenant = optarg;
            break;
        case O_JSON:
            json = 1;
            break;
        case O_LIMIT:
            if (cli_parse_int(optarg, 0, 1000000, &limit)) {
                fprintf(stderr, "ember diff: invalid --limit '%s' (expected 0..1000000)\n", optarg);
                return CLI_USAGE;
            }
            break;
        default:
            if (c == ':')
                fprintf(stderr, "ember diff: option '%s' needs a value\n\n", argv[optind - 1]);
            else
                fprintf(stderr, "ember diff: unknown option '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ember diff: unexpected argument '%s'\n\n", argv[optind]);
        usage(stderr);
        return CLI_USAGE;
    }
    if (!left)
        left = query;
    if (!right)
        right = query;
    if (!left || !right) {
        fprintf(stderr, "ember diff: give --left and --right, or --query for both sides\n\n");
        usage(stderr);
        return CLI_USAGE;
    }
    if (!lfrom)
        lfrom = from;
    if (!luntil)
        luntil = until;
    if (!rfrom)
        rfrom = from;
    if (!runtil)
        runtil = until;
    if (!strcmp(left, right) && !lfrom && !luntil && !rfrom && !runtil) {
        fprintf(stderr, "ember diff: both sides are the same; give different selectors or time "
                        "ranges\n");
        return CLI_USAGE;
    }
    struct buf url = BUF_INIT, out = BUF_INIT;
    struct cli_http_resp resp = {0};
    char err[1024];
    int rc = CLI_OK;
    buf_puts(&url, cli_server_url(server));
    while (url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = 0;
    buf_puts(&url, "/api/v1/diff");
    cli_url_param(&url, "left_query", left);
    cli_url_param(&url, "right_query", right);
    cli_url_param(&url, "left_from", lfrom);
    cli_url_param(&url, "left_until", luntil);
    cli_url_param(&url, "right_from", rfrom);
    cli_url_param(&url, "right_until", runtil);
    int e = cli_http(url.data, tenant, NULL, 0, NULL, &resp, err, sizeof(err));
    if (e) {
        fprintf(stderr, "ember diff: %s\n", err);
        rc = e == -EMBER_ENOTFOUND ? CLI_UNAVAILABLE : CLI_FAIL;
        goto out;
    }
    if (resp.status != 200) {
        cli_http_error(&resp, err, sizeof(err));
        fprintf(stderr, "ember diff: %s\n", err);
        rc = CLI_FAIL;
        goto out;
    }
    if (json) {
        fwrite(resp.body.data, 1, resp.body.len, stdout);
        putchar('\n');
        goto out;
    }
    buf_printf(&out, "Left:  %s  [%s .. %s]\nRight: %s  [%s .. %s]\n", left,
               lfrom ? lfrom : "now-1h", luntil ? luntil : "now", right, rfrom ? rfrom : "now-1h",
               runtil ? runtil : "now");
    if (render_diff(resp.body.data, resp.body.len, (size_t)limit, &out, err, sizeof(err))) {
        fprintf(stderr, "ember diff: %s\n", err);
        rc = CLI_FAIL;
        goto out;
    }
    fwrite(out.data, 1, out.len, stdout);
out:
    cli_http_resp_release(&resp);
    buf_release(&url);
    buf_release(&out);
    return rc;
}
