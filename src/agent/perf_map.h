/* perf_map.h - JIT symbol maps (/tmp/perf-PID.map) written by Node.js, the JVM's perf agents, ...
 */
#ifndef EMBER_AGENT_PERF_MAP_H
#define EMBER_AGENT_PERF_MAP_H

#include <stdint.h>
#include <sys/types.h>

struct perf_map;

/*
 * Loads path ("START SIZE name" lines, hex without 0x prefix or with it).
 * Lines that do not parse are skipped; at most 1 << 20 entries. Returns 0
 * and sets *out, or -errno when the file cannot be opened.
 */
int perf_map_load(struct perf_map **out, const char *path);

/* Name of the entry covering pc, or NULL. Borrowed until perf_map_free(). */
const char *perf_map_lookup(const struct perf_map *m, uint64_t pc);

void perf_map_free(struct perf_map *m);

#endif
