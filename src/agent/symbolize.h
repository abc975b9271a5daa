/* symbolize.h - program counters to function, file:line and module, with a per-pc cache */
#ifndef EMBER_AGENT_SYMBOLIZE_H
#define EMBER_AGENT_SYMBOLIZE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * What is known of one pc. Strings are borrowed: valid until the next
 * symbolizer_lookup() or symbolizer_free() on the same symbolizer. A field
 * that is unknown is NULL (strings) or 0.
 */
struct sym_info {
    const char *name;       /* function, including static ones (from .symtab), else NULL */
    const char *file;       /* source file from DWARF line info, else NULL */
    unsigned line;          /* 0 when unknown */
    const char *module;     /* path of the mapped file holding pc (or "[vdso]"), else NULL */
    uint64_t module_offset; /* pc - module load address, when module is known */
    uint64_t sym_start;     /* address of the function's first instruction, when name is known */
};

struct symbolizer;

/*
 * Creates a symbolizer for process pid (0 = this process) from its memory
 * maps: ELF symbol tables (.symtab and .dynsym, so static functions are
 * named; dladdr() as a fallback in this process) and DWARF line info when
 * the module has debug info (libdw). Never aborts: returns 0 and sets *out,
 * -ENOMEM, or -EMBER_ENOTFOUND if the process's maps cannot be read.
 * Not thread-safe: use one symbolizer from one thread at a time.
 */
int symbolizer_new(struct symbolizer **out, pid_t pid);

/*
 * Describes pc (an exact instruction address: pass return addresses minus
 * one, as unwind_fp() does). Results are cached per pc (bounded; the cache
 * is emptied when full). When pc lies in no known module the maps are read
 * again (at most once a second), to pick up libraries loaded since.
 * Returns 0 when at least the name is known, -EMBER_ENOTFOUND when not
 * (info->module may still be set), or -ENOMEM.
 */
int symbolizer_lookup(struct symbolizer *s, uint64_t pc, struct sym_info *info);

/* Forgets the cache and re-reads the memory maps. Returns 0 or a negative error. */
int symbolizer_refresh(struct symbolizer *s);

/* Number of cached pcs (for tests and metrics). */
size_t symbolizer_cache_size(const struct symbolizer *s);

/* Frees s and everything it holds; accepts NULL. */
void symbolizer_free(struct symbolizer *s);

#endif
