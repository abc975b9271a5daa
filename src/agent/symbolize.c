/* symbolize.c - pc to symbol via libdwfl (ELF .symtab/.dynsym, DWARF lines) with a bounded cache */
#include "agent/symbolize.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"

/* Cached pcs before the cache is emptied (each entry owns two short strings). */
#define SYM_CACHE_MAX (1u << 18)
/* Distinct module paths remembered (they are shared by cache entries). */
#define SYM_MODULES_MAX 8192

struct sym_entry {
    uint64_t pc; /* 0 = empty slot */
    char *name;
    char *file;
    const char *module; /* owned by symbolizer.modules */
    uint64_t module_offset, sym_start;
    unsigned line;
};

struct symbolizer {
    pid_t pid; /* the process described (never 0) */
    int self;
    Dwfl *dwfl;
    struct sym_entry *tab; /* open addressing; capacity mask+1 */
    size_t mask, len;
    char **modules;
    size_t nmodules;
    int64_t last_refresh_ns;
};

static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int report_maps(struct symbolizer *s)
{
    s->last_refresh_ns = mono_ns();
    if (!s->dwfl) {
        s->dwfl = dwfl_begin(&proc_callbacks);
        if (!s->dwfl)
            return -ENOMEM;
    }
    dwfl_report_begin(s->dwfl);
    int r = dwfl_linux_proc_report(s->dwfl, s->pid);
    dwfl_report_end(s->dwfl, NULL, NULL);
    if (r != 0)
        return -EMBER_ENOTFOUND;
    return 0;
}

static void cache_clear(struct symbolizer *s)
{
    for (size_t i = 0; s->tab && i <= s->mask; i++) {
        free(s->tab[i].name);
        free(s->tab[i].file);
    }
    if (s->tab)
        memset(s->tab, 0, (s->mask + 1) * sizeof(*s->tab));
    s->len = 0;
}

int symbolizer_new(struct symbolizer **out, pid_t pid)
{
    struct symbolizer *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->self = pid == 0 || pid == getpid();
    s->pid = pid ? pid : getpid();
    int err = report_maps(s);
    if (err) {
        symbolizer_free(s);
        return err;
    }
    *out = s;
    return 0;
}

int symbolizer_refresh(struct symbolizer *s)
{
    cache_clear(s);
    return report_maps(s);
}

size_t symbolizer_cache_size(const struct symbolizer *s)
{
    return s->len;
}

void symbolizer_free(struct symbolizer *s)
{
    if (!s)
        return;
    cache_clear(s);
    free(s->tab);
    for (size_t i = 0; i < s->nmodules; i++)
        free(s->modules[i]);
    free(s->modules);
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Returns the slot for pc: its entry if cached, else the empty slot where it would go. */
static struct sym_entry *slot_for(struct symbolizer *s, uint64_t pc)
{
    for (size_t i = mix(pc) & s->mask;; i = (i + 1) & s->mask) {
        if (s->tab[i].pc == pc || s->tab[i].pc == 0)
            return &s->tab[i];
    }
}

/* Makes room for one more entry (growing or, at the cap, emptying). 0 or -ENOMEM. */
static int cache_reserve(struct symbolizer *s)
{
    if (s->tab && (s->len + 1) * 4 <= (s->mask + 1) * 3)
        return 0;
    if (s->len >= SYM_CACHE_MAX) {
        cache_clear(s);
        return 0;
    }
    size_t cap = s->tab ? (s->mask + 1) * 2 : 1024;
    struct sym_entry *old = s->tab;
    size_t oldcap = old ? s->mask + 1 : 0;
    struct sym_entry *tab = calloc(cap, sizeof(*tab));
    if (!tab)
        return -ENOMEM;
    s->tab = tab;
    s->mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].pc)
            *slot_for(s, old[i].pc) = old[i];
    free(old);
    return 0;
}

/* Returns the symbolizer's copy of a module path (NULL if name is NULL or on OOM). */
static const char *intern_module(struct symbolizer *s, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = s->nmodules; i-- > 0;)
        if (!strcmp(s->modules[i], name))
            return s->modules[i];
    if (s->nmodules >= SYM_MODULES_MAX)
        return NULL;
    char **m = realloc(s->modules, (s->nmodules + 1) * sizeof(*m));
    if (!m)
        return NULL;
    s->modules = m;
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    s->modules[s->nmodules++] = copy;
    return copy;
}

static void fill_info(const struct sym_entry *e, struct sym_info *info)
{
    info->name = e->name;
    info->file = e->file;
    info->line = e->line;
    info->module = e->module;
    info->module_offset = e->module_offset;
    info->sym_start = e->sym_start;
}

/* Resolves pc without the cache into e (strings malloc'd). 0, or -ENOMEM. */
static int resolve(struct symbolizer *s, uint64_t pc, struct sym_entry *e)
{
    Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, (Dwarf_Addr)pc);
    if (!mod && mono_ns() - s->last_refresh_ns > 1000000000LL) {
        report_maps(s); /* a library loaded since the last read of the maps? */
        mod = dwfl_addrmodule(s->dwfl, (Dwarf_Addr)pc);
    }
    const char *symname = NULL;
    if (mod) {
        Dwarf_Addr start = 0;
        const char *modname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
        e->module = intern_module(s, modname);
        e->module_offset = pc - start;
        GElf_Sym sym;
        GElf_Off off = 0;
        symname = dwfl_module_addrinfo(mod, (GElf_Addr)pc, &off, &sym, NULL, NULL, NULL);
        if (symname)
            e->sym_start = pc - off;
        Dwfl_Line *ln = dwfl_module_getsrc(mod, (Dwarf_Addr)pc);
        if (ln) {
            int lineno = 0;
            const char *file = dwfl_lineinfo(ln, NULL, &lineno, NULL, NULL, NULL);
            if (file && lineno > 0) {
                e->file = strdup(file);
                if (!e->file)
                    return -ENOMEM;
                e->line = (unsigned)lineno;
            }
        }
    }
    Dl_info dli;
    if (!symname && s->self && dladdr((void *)(uintptr_t)pc, &dli) && dli.dli_sname) {
        symname = dli.dli_sname;
        e->sym_start = (uint64_t)(uintptr_t)dli.dli_saddr;
        if (!e->module && dli.dli_fname) {
            e->module = intern_module(s, dli.dli_fname);
            e->module_offset = pc - (uint64_t)(uintptr_t)dli.dli_fbase;
        }
    }
    if (symname) {
        /* "memcpy@@GLIBC_2.14" -> "memcpy": the symbol version only splits a function */
        const char *at = strchr(symname, '@');
        e->name = at && at > symname ? strndup(symname, (size_t)(at - symname)) : strdup(symname);
        if (!e->name)
            return -ENOMEM;
    }
    return 0;
}

int symbolizer_lookup(struct symbolizer *s, uint64_t pc, struct sym_info *info)
{
    memset(info, 0, sizeof(*info));
    if (pc == 0)
        return -EMBER_ENOTFOUND;
    if (s->tab) {
        struct sym_entry *e = slot_for(s, pc);
        if (e->pc == pc) {
            fill_info(e, info);
            return e->name ? 0 : -EMBER_ENOTFOUND;
        }
    }
    struct sym_entry ne;
    memset(&ne, 0, sizeof(ne));
    ne.pc = pc;
    int err = resolve(s, pc, &ne);
    if (!err)
        err = cache_reserve(s);
    if (err) {
        free(ne.name);
        free(ne.file);
        return err;
    }
    struct sym_entry *e = slot_for(s, pc);
    *e = ne;
    s->len++;
    fill_info(e, info);
    return e->name ? 0 : -EMBER_ENOTFOUND;
}
