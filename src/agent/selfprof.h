/* selfprof.h - the server profiling itself: CPU samples of its own threads, stored in-process */
#ifndef EMBER_AGENT_SELFPROF_H
#define EMBER_AGENT_SELFPROF_H

struct store;

/*
 * Starts sampling this process's CPU at hz (default 100 when 0), and every
 * interval_s seconds (default 10 when 0) appends a process_cpu profile
 * (service_name "ember-server", host_name, pid) for tenant to st. Returns 0
 * or a negative error (logged); the server runs on without self-profiling.
 */
int selfprof_start(struct store *st, const char *tenant, int hz, int interval_s);
/* Stops sampling, flushes the last profile, joins the thread. Safe if not started. */
void selfprof_stop(void);

#endif
