/* cmds.h - the subcommands of `ember` (one cmd_<name>.c each) and the one exit-code enum */
#ifndef EMBER_CLI_CMDS_H
#define EMBER_CLI_CMDS_H

/* Exit codes of every command. */
enum cli_exit {
    CLI_OK = 0,          /* done */
    CLI_FAIL = 1,        /* the operation failed (server error, bad file, store error) */
    CLI_USAGE = 2,       /* bad command line: unknown command or flag, bad value */
    CLI_UNAVAILABLE = 3, /* the server could not be reached */
};

/*
 * Each command parses its own flags (argv[0] is the command name), owns
 * -h/--help (usage on stdout, exit 0) and returns an enum cli_exit.
 */
int cmd_server(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_exec(int argc, char **argv);

#endif
