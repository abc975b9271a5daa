/* cmd_agent.c - `ember agent`: the host agent (eBPF or perf_event sampling of every process) */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/host.h"
#include "agent/host_scrape.h"
#include "agent/relabel.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/cmds.h"
#include "profile/labels.h"

static volatile sig_atomic_t g_stop;
/* The scrape thread stops on a signal or when host sampling ends. */
static volatile sig_atomic_t g_scrape_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    g_scrape_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: ember agent [flags]\n\n"
        "Profiles the processes of this host with no code change (run as root) and sends\n"
        "one profile per process to the server every upload interval. Uses eBPF (cpu-clock\n"
        "perf events on every CPU, user and kernel stacks); falls back to perf_event call\n"
        "chains when BPF cannot load.\n\n"
        "Flags:\n"
        "  --server URL             server address (default $EMBER_SERVER_ADDRESS, else\n"
        "                           " CLI_DEFAULT_SERVER ")\n"
        "  --tenant ID              tenant, sent as X-Scope-OrgID (default none)\n"
        "  --sample-rate HZ         samples per second per CPU, 1..10000 (default 99)\n"
        "  --pid PID                profile one process only\n"
        "  --all                    profile every process (the default)\n"
        "  --labels k=v,...         labels added to every profile (default none)\n"
        "  --off-cpu                also record time off CPU (sleeping, blocked) and send\n"
        "                           wall profiles (on + off CPU) beside process_cpu\n"
        "  --off-cpu-threshold DUR  ignore off-CPU intervals shorter than this (default 1ms)\n"
        "  --dwarf                  unwind user stacks with .eh_frame CFI in user space, for\n"
        "                           code built without frame pointers (default: frame pointers)\n"
        "  --upload-interval DUR    how often profiles are sent: 10s, 1m, ... (default 10s)\n"
        "  --duration DUR           stop after this long (default: run until SIGINT/SIGTERM)\n"
        "  --backend auto|bpf|perf  collector: eBPF with perf fallback (default), eBPF only,\n"
        "                           or perf_event call chains only\n"
        "  --scrape URL             pull mode: every upload interval fetch Go net/http/pprof\n"
        "                           profiles (profile, heap, mutex, block, goroutine) from\n"
        "                           URL, e.g. http://127.0.0.1:6060/debug/pprof/, and push\n"
        "                           them; alone it only scrapes (add --all or --pid to also\n"
        "                           sample the host)\n"
        "  --config FILE            relabel rules, one a line: 'match exe=REGEX\n"
        "                           service_name=NAME', 'match cgroup=REGEX drop' (also comm=;\n"
        "                           first match wins; $1..$9 are capture groups)\n"
        "  --service NAME           service_name of scraped profiles (default: URL's host:port)\n"
        "  -h, --help               show this help\n\n"
        "Environment: EMBER_DEBUGINFO_PATH - where separate debug info is looked up by build\n"
        "id (DIR/.build-id/xx/yyyy.debug) and .gnu_debuglink (default :.debug:/usr/lib/debug)\n\n"
        "Example:\n"
        "  sudo ember agent --server http://127.0.0.1:4040 --labels env=prod --off-cpu\n");
}

/* Parses "10s", "250ms", "2m", "1h" or plain seconds into ns; -1 when invalid. */
static int64_t parse_dur(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mul = 1e9;
    if (!*end || !strcmp(end, "s"))
        mul = 1e9;
    else if (!strcmp(end, "ms"))
        mul = 1e6;
    else if (!strcmp(end, "us"))
        mul = 1e3;
    else if (!strcmp(end, "m"))
        mul = 60e9;
    else if (!strcmp(end, "h"))
        mul = 3600e9;
    else
        return -1;
    double ns = v * mul;
    return ns > 9e18 ? -1 : (int64_t)ns;
}

enum {
    OPT_SERVER = 256,
    OPT_TENANT,
    OPT_RATE,
    OPT_PID,
    OPT_ALL,
    OPT_LABELS,
    OPT_OFFCPU,
    OPT_OFFCPU_MIN,
    OPT_DWARF,
    OPT_INTERVAL,
    OPT_DURATION,
    OPT_BACKEND,
    OPT_SCRAPE,
    OPT_SERVICE,
    OPT_CONFIG,
};

static void *scrape_thread(void *arg)
{
    host_scrape_run(arg, &g_scrape_stop);
    return NULL;
}

int cmd_agent(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"tenant", required_argument, NULL, OPT_TENANT},
        {"sample-rate", required_argument, NULL, OPT_RATE},
        {"pid", required_argument, NULL, OPT_PID},
        {"all", no_argument, NULL, OPT_ALL},
        {"labels", required_argument, NULL, OPT_LABELS},
        {"off-cpu", no_argument, NULL, OPT_OFFCPU},
        {"off-cpu-threshold", required_argument, NULL, OPT_OFFCPU_MIN},
        {"dwarf", no_argument, NULL, OPT_DWARF},
        {"upload-interval", required_argument, NULL, OPT_INTERVAL},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"scrape", required_argument, NULL, OPT_SCRAPE},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct host_opts o;
    struct labels labels;
    const char *server = NULL;
    char err[512];
    long v;
    int64_t d;
    int rc = CLI_USAGE;
    int host = 0; /* --pid or --all given */
    struct scrape_opts so = {0};
    struct relabel_rules *rules = NULL;
    host_opts_default(&o);
    labels_init(&labels);
    optind = 0;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "h", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'h':
            usage(stdout);
            rc = CLI_OK;
            goto out;
        case OPT_SERVER:
            server = optarg;
            break;
        case OPT_TENANT:
            o.tenant = optarg;
            break;
        case OPT_RATE:
            if (cli_parse_int(optarg, 1, 10000, &v)) {
                fprintf(stderr, "ember agent: invalid --sample-rate '%s' (expected 1..10000)\n",
                        optarg);
                goto out;
            }
            o.hz = (int)v;
            break;
        case OPT_PID:
            if (cli_parse_int(optarg, 1, 0x7fffffff, &v)) {
                fprintf(stderr, "ember agent: invalid --pid '%s'\n", optarg);
                goto out;
            }
            o.pid = (uint32_t)v;
            host = 1;
            break;
        case OPT_ALL:
            o.pid = 0;
            host = 1;
            break;
        case OPT_SCRAPE:
            so.url = optarg;
            break;
        case OPT_SERVICE:
            so.service = optarg;
            break;
        case OPT_CONFIG:
            relabel_free(rules);
            rules = NULL;
            if (relabel_load(optarg, &rules, err, sizeof(err))) {
                fprintf(stderr, "ember agent: invalid --config: %s\n", err);
                goto out;
            }
            break;
        case OPT_LABELS:
            if (cli_parse_labels(optarg, &labels, err, sizeof(err))) {
                fprintf(stderr, "ember agent: invalid --labels '%s': %s\n", optarg, err);
                goto out;
            }
            break;
        case OPT_OFFCPU:
            o.offcpu = 1;
            break;
        case OPT_OFFCPU_MIN:
            d = parse_dur(optarg);
            if (d < 0) {
                fprintf(stderr, "ember agent: invalid --off-cpu-threshold '%s' (e.g. 1ms)\n",
                        optarg);
                goto out;
            }
            o.offcpu_min_ns = (uint64_t)d;
            break;
        case OPT_DWARF:
            o.dwarf = 1;
            break;
        case OPT_INTERVAL:
            d = parse_dur(optarg);
            if (d < 1000000000LL || d > 3600000000000LL) {
                fprintf(stderr, "ember agent: invalid --upload-interval '%s' (1s..1h, e.g. 10s)\n",
                        optarg);
                goto out;
            }
            o.upload_interval_s = (int)(d / 1000000000LL);
            break;
        case OPT_DURATION:
            d = parse_dur(optarg);
            if (d < 1000000000LL) {
                fprintf(stderr, "ember agent: invalid --duration '%s' (at least 1s, e.g. 30s)\n",
                        optarg);
                goto out;
            }
            o.duration_s = (int)(d / 1000000000LL);
            break;
        case OPT_BACKEND:
            if (!strcmp(optarg, "auto"))
                o.backend = HOST_BACKEND_AUTO;
            else if (!strcmp(optarg, "bpf"))
                o.backend = HOST_BACKEND_BPF;
            else if (!strcmp(optarg, "perf"))
                o.backend = HOST_BACKEND_PERF;
            else {
                fprintf(stderr, "ember agent: invalid --backend '%s' (auto, bpf or perf)\n",
                        optarg);
                goto out;
            }
            break;
        default:
            fprintf(stderr, "ember agent: unknown or incomplete flag '%s'\n\n", argv[optind - 1]);
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ember agent: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    o.server = cli_server_url(server);
    o.labels = labels.n ? &labels : NULL;
    o.relabel = rules;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (so.url) {
        so.server = o.server;
        so.tenant = o.tenant;
        so.interval_s = o.upload_interval_s;
        so.duration_s = o.duration_s;
        so.labels = o.labels;
        if (!host) {
            rc = host_scrape_run(&so, &g_scrape_stop) ? CLI_FAIL : CLI_OK;
            goto out;
        }
        pthread_t th;
        if (pthread_create(&th, NULL, scrape_thread, &so)) {
            fprintf(stderr, "ember agent: cannot start the scrape thread\n");
            rc = CLI_FAIL;
            goto out;
        }
        int e = host_agent_run(&o, &g_stop);
        g_scrape_stop = 1;
        pthread_join(th, NULL);
        rc = e ? CLI_FAIL : CLI_OK;
        goto out;
    }
    int e = host_agent_run(&o, &g_stop);
    rc = e ? CLI_FAIL : CLI_OK;
out:
    relabel_free(rules);
    labels_release(&labels);
    return rc;
}
