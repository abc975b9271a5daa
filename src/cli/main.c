/* main.c - the `ember` command: dispatches to one cmd_<name>() per subcommand */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "cli/cmds.h"

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct cmd commands[] = {
    {"server", cmd_server, "run the Ember server: ingest, storage, query API, web UI"},
    {"push", cmd_push, "upload profile files (pprof, folded, perf script) to a server"},
    {"query", cmd_query, "query a server: top functions, flame graph, exports, series, labels"},
    {"diff", cmd_diff, "compare two selections or time ranges: which functions changed most"},
    {"agent", cmd_agent, "profile every process of this host (eBPF, as root) and send to a server"},
    {"exec", cmd_exec, "run a native program with the profiler preloaded (cpu, alloc, locks)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: ember [--version] [--help] <command> [<args>]\n\n"
               "Ember is a continuous profiling platform.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-8s %s\n", "help", "show the help of a command ('ember help push')");
    fprintf(f, "\nRun 'ember <command> --help' for the flags of a command.\n"
               "Example: ember server --data-dir ./ember-data\n");
}

static const struct cmd *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static int run_help(const char *name)
{
    const struct cmd *c = find(name);
    if (!c) {
        fprintf(stderr, "ember: no such command '%s'\n\n", name);
        usage(stderr);
        return CLI_USAGE;
    }
    char *argv[] = {(char *)c->name, (char *)"--help", NULL};
    return c->fn(2, argv);
}

int main(int argc, char **argv)
{
    log_init_from_env();
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V") || !strcmp(name, "version")) {
        printf("ember %s (%s)\n", EMBER_VERSION, EMBER_GIT_REV);
        return CLI_OK;
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            usage(stdout);
            return CLI_OK;
        }
        return run_help(argv[2]);
    }
    if (name[0] == '-') {
        fprintf(stderr, "ember: unknown option '%s'\n\n", name);
        usage(stderr);
        return CLI_USAGE;
    }
    const struct cmd *c = find(name);
    if (!c) {
        fprintf(stderr, "ember: '%s' is not an ember command\n\n", name);
        usage(stderr);
        return CLI_USAGE;
    }
    return c->fn(argc - 1, argv + 1);
}
