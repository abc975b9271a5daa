/* cmd_exec.c - `ember exec`: runs a native program with libember.so preloaded and EMBER_* set */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "cli/cmds.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ember exec --service NAME [flags] -- CMD [ARGS...]\n\n"
            "Runs CMD with the Ember profiler library (libember.so, next to the ember binary)\n"
            "in LD_PRELOAD, so a C, C++ or Rust program is profiled without a code change.\n"
            "Profiles are sent to the server every interval and at exit; if the server is\n"
            "unreachable the program runs on.\n\n"
            "Flags:\n"
            "  --service NAME       service_name of the profiles (required)\n"
            "  --server URL         server address (default $EMBER_SERVER_ADDRESS, else\n"
            "                       " CLI_DEFAULT_SERVER ")\n"
            "  --profiles LIST      any of cpu,wall,alloc,lock (default cpu,alloc,lock; wall\n"
            "                       interrupts blocking calls with signals, see the docs)\n"
            "  --tags k=v,...       more labels (default none)\n"
            "  --sample-rate HZ     cpu/wall samples per second per thread (default 100)\n"
            "  --alloc-bytes N      mean bytes between allocation samples (default 524288)\n"
            "  --interval SEC       upload interval (default 10)\n"
            "  --lib PATH           the library to preload (default: libember.so beside ember)\n"
            "  -h, --help           show this help\n\n"
            "Example:\n"
            "  ember exec --service myapp --profiles cpu,alloc -- ./myapp --port 8080\n");
}

/* libember.so beside the running ember binary. 0, or -1 when it does not exist. */
static int find_lib(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0)
        return -1;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    if ((size_t)snprintf(out, n, "%s/libember.so", exe) >= n)
        return -1;
    return access(out, R_OK) == 0 ? 0 : -1;
}

static int check_profiles(const char *s)
{
    static const char *const known[] = {"cpu", "wall", "alloc", "lock"};
    while (*s) {
        size_t len = strcspn(s, ",");
        int ok = 0;
        for (size_t i = 0; i < 4; i++)
            ok |= strlen(known[i]) == len && !strncmp(s, known[i], len);
        if (!ok) {
            fprintf(stderr, "ember exec: --profiles: unknown profile '%.*s' (known: cpu,wall,alloc,lock)\n",
                    (int)len, s);
            return -1;
        }
        s += len;
        if (*s == ',')
            s++;
    }
    return 0;
}

int cmd_exec(int argc, char **argv)
{
    enum { O_SERVICE = 1, O_SERVER, O_PROFILES, O_TAGS, O_RATE, O_ALLOC, O_INTERVAL, O_LIB };
    static const struct option opts[] = {
        {"service", required_argument, NULL, O_SERVICE},
        {"server", required_argument, NULL, O_SERVER},
        {"profiles", required_argument, NULL, O_PROFILES},
        {"tags", required_argument, NULL, O_TAGS},
        {"sample-rate", required_argument, NULL, O_RATE},
        {"alloc-bytes", required_argument, NULL, O_ALLOC},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"lib", required_argument, NULL, O_LIB},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *service = NULL, *server = NULL, *profiles = NULL, *tags = NULL, *lib = NULL;
    long rate = 0, alloc = 0, interval = 0;
    int c;
    optind = 1;
    /* '+': stop at the first non-flag, so the program's own flags are left alone */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case O_SERVICE:
            service = optarg;
            break;
        case O_SERVER:
            server = optarg;
            break;
        case O_PROFILES:
            profiles = optarg;
            if (check_profiles(profiles))
                return CLI_USAGE;
            break;
        case O_TAGS:
            tags = optarg;
            break;
        case O_RATE:
            if (cli_parse_int(optarg, 1, 1000, &rate)) {
                fprintf(stderr, "ember exec: --sample-rate: want an integer 1..1000, got '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
            break;
        case O_ALLOC:
            if (cli_parse_int(optarg, 1, 1L << 40, &alloc)) {
                fprintf(stderr, "ember exec: --alloc-bytes: want a positive integer, got '%s'\n",
                        optarg);
                return CLI_USAGE;
            }
            break;
        case O_INTERVAL:
            if (cli_parse_int(optarg, 1, 3600, &interval)) {
                fprintf(stderr, "ember exec: --interval: want seconds 1..3600, got '%s'\n", optarg);
                return CLI_USAGE;
            }
            break;
        case O_LIB:
            lib = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_OK;
        default:
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!service || !*service) {
        fprintf(stderr, "ember exec: --service NAME is required\n");
        return CLI_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "ember exec: no command given (ember exec --service NAME -- CMD ARGS)\n");
        return CLI_USAGE;
    }
    char path[PATH_MAX];
    if (lib) {
        if (access(lib, R_OK) != 0) {
            fprintf(stderr, "ember exec: --lib %s: %s\n", lib, strerror(errno));
            return CLI_USAGE;
        }
        if (!realpath(lib, path)) {
            fprintf(stderr, "ember exec: --lib %s: %s\n", lib, strerror(errno));
            return CLI_USAGE;
        }
    } else if (find_lib(path, sizeof(path))) {
        fprintf(stderr, "ember exec: libember.so not found beside the ember binary (build it with "
                        "make, or pass --lib PATH)\n");
        return CLI_FAIL;
    }
    struct buf pre;
    buf_init(&pre);
    buf_puts(&pre, path);
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        buf_putc(&pre, ':');
        buf_puts(&pre, old);
    }
    setenv("LD_PRELOAD", pre.data, 1);
    buf_release(&pre);
    setenv("EMBER_APPLICATION_NAME", service, 1);
    setenv("EMBER_SERVER_ADDRESS", cli_server_url(server), 1);
    if (profiles)
        setenv("EMBER_PROFILES", profiles, 1);
    if (tags)
        setenv("EMBER_TAGS", tags, 1);
    char num[32];
    if (rate) {
        snprintf(num, sizeof(num), "%ld", rate);
        setenv("EMBER_SAMPLE_RATE", num, 1);
    }
    if (alloc) {
        snprintf(num, sizeof(num), "%ld", alloc);
        setenv("EMBER_ALLOC_SAMPLE_BYTES", num, 1);
    }
    if (interval) {
        snprintf(num, sizeof(num), "%ld", interval);
        setenv("EMBER_UPLOAD_INTERVAL", num, 1);
    }
    execvp(argv[optind], argv + optind);
    fprintf(stderr, "ember exec: cannot run %s: %s\n", argv[optind], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
