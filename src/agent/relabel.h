/* relabel.h - the agent's config file: rules that rename (service_name) or drop processes */
#ifndef EMBER_AGENT_RELABEL_H
#define EMBER_AGENT_RELABEL_H

#include <stddef.h>

/*
 * Config file format, one rule per line ('#' starts a comment):
 *
 *   match exe=REGEX service_name=NAME
 *   match cgroup=REGEX drop
 *   match comm=REGEX service_name=batch-$1
 *
 * REGEX (PCRE2, unanchored, no spaces: use \s) is matched against the
 * executable path, the /proc/PID/cgroup text or the command name. The first
 * matching rule wins: "drop" discards the process's samples, service_name=
 * sets its service name ($1..$9 are the regex's capture groups).
 */
struct relabel_rules;

enum relabel_action { RELABEL_NONE = 0, RELABEL_KEEP, RELABEL_DROP };

/*
 * Parses config text (len bytes). Returns 0 and sets *out, -EINVAL with a
 * message naming the line and column in err, or -ENOMEM.
 */
int relabel_parse(const char *text, size_t len, struct relabel_rules **out, char *err,
                  size_t errlen);

/* Reads and parses a config file; as relabel_parse, or -ENOENT/-EIO ("path: reason" in err). */
int relabel_load(const char *path, struct relabel_rules **out, char *err, size_t errlen);

/* 1 when some rule looks at the cgroup (the caller then reads /proc/PID/cgroup). */
int relabel_uses_cgroup(const struct relabel_rules *r);

/*
 * Applies the rules to a process (exe, cgroup text and comm may be ""):
 * RELABEL_DROP, RELABEL_KEEP with service (size n) rewritten, or
 * RELABEL_NONE when no rule matched.
 */
enum relabel_action relabel_apply(const struct relabel_rules *r, const char *exe,
                                  const char *cgroup, const char *comm, char *service, size_t n);

void relabel_free(struct relabel_rules *r);

#endif
