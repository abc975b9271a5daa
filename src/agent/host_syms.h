/* host_syms.h - whole-host symbolization: ELF files shared across processes, lazy, bounded */
#ifndef EMBER_AGENT_HOST_SYMS_H
#define EMBER_AGENT_HOST_SYMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The agent sees thousands of processes that map the same few hundred
 * files. Each mapped ELF file is opened once (keyed by device, inode, size
 * and mtime), its symbols and DWARF lines are read only for the addresses
 * that were sampled, and the results are cached per file; the per-process
 * part is just the memory map. Separate debug info is found by build id
 * (<dir>/.build-id/xx/yyyy.debug) and .gnu_debuglink in the directories of
 * a libdwfl debuginfo path (default ":.debug:/usr/lib/debug"). Idle files
 * are closed least-recently-used first, so memory stays bounded.
 */
struct host_syms;
struct hsym_proc;

/* What is known of one pc; strings are borrowed until the next call on the same host_syms. */
struct hsym_info {
    const char *name;   /* function, or NULL */
    const char *file;   /* source file, or NULL */
    unsigned line;      /* 0 when unknown */
    const char *module; /* path of the mapped file, "[vdso]", or NULL (anonymous memory: JIT) */
};

struct hsym_stats {
    size_t files_open; /* ELF files held */
    size_t files_opened, files_evicted, cached_pcs;
};

/*
 * Creates the shared state. debuginfo_path is a libdwfl path list (NULL =
 * EMBER_DEBUGINFO_PATH from the environment, else libdwfl's default);
 * max_idle_files bounds the files kept open that no tracked process maps.
 * Returns NULL on allocation failure.
 */
struct host_syms *host_syms_new(const char *debuginfo_path, size_t max_idle_files);
void host_syms_free(struct host_syms *h);

/* A process's view (its memory map, read on first lookup). Never NULL (aborts on OOM). */
struct hsym_proc *hsym_proc_new(struct host_syms *h, pid_t pid);
/*
 * Reads p's memory map and opens the files it maps now (each at most once
 * for the whole host), so that a process exiting soon after is still
 * symbolized. Returns 0 or -EMBER_ENOTFOUND when the process is gone.
 */
int hsym_proc_load(struct host_syms *h, struct hsym_proc *p);
/* Releases the process's references (its files become idle); accepts NULL. */
void hsym_proc_free(struct host_syms *h, struct hsym_proc *p);

/*
 * Describes pc (an exact instruction address) in process p. Reads the
 * memory map on the first call and again (at most every 5 s) when pc
 * lies in no mapping. Returns 0 when the name is known, else
 * -EMBER_ENOTFOUND (info->module may still be set).
 */
int hsym_lookup(struct host_syms *h, struct hsym_proc *p, uint64_t pc, struct hsym_info *info);

struct Dwarf_CFI_s;

/*
 * Call frame information for pc in process p (the [vdso] too): the file's
 * .eh_frame, else its .debug_frame. Sets *cfi (owned by h; valid until
 * hsym_proc_free() of the last process mapping the file) and *delta, with
 * CFI address = pc - *delta. Returns 0 or -EMBER_ENOTFOUND.
 */
int hsym_cfi(struct host_syms *h, struct hsym_proc *p, uint64_t pc, struct Dwarf_CFI_s **cfi,
             uint64_t *delta);

void host_syms_stats(const struct host_syms *h, struct hsym_stats *st);

#endif
