/* host_ksyms.h - kernel addresses to function names from /proc/kallsyms */
#ifndef EMBER_AGENT_HOST_KSYMS_H
#define EMBER_AGENT_HOST_KSYMS_H

#include <stddef.h>
#include <stdint.h>

struct host_ksyms;

/*
 * Loads the text symbols of a kallsyms file (path NULL = /proc/kallsyms).
 * Returns 0 and sets *out, -errno if unreadable, or -EMBER_ENOTFOUND when
 * every address is 0 (kernel.kptr_restrict hides them from this user).
 */
int host_ksyms_load(struct host_ksyms **out, const char *path);

/*
 * Name of the function holding addr, and its module ("" for vmlinux) in
 * *module; NULL when addr is below the first symbol. Borrowed until free.
 */
const char *host_ksyms_lookup(const struct host_ksyms *k, uint64_t addr, const char **module);

size_t host_ksyms_count(const struct host_ksyms *k);

void host_ksyms_free(struct host_ksyms *k);

#endif
