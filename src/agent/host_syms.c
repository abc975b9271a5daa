/* host_syms.c - whole-host symbolization: ELF files shared across processes, lazy, bounded */
#include "agent/host_syms.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/strtab.h"
#include "base/timeutil.h"
#include "base/xalloc.h"

/* Cached pcs per file before its cache is emptied. */
#define FILE_PCS_MAX 32768
/* Executable mappings kept per process (more are ignored: their pcs stay unnamed). */
#define PROC_MAPS_MAX 4096
#define MAX_LOADS     16
/* A pc outside every mapping re-reads the maps at most this often (a garbage frame
 * pointer would otherwise cost a read of /proc/PID/maps per sample). */
#define MAPS_REREAD_NS (5 * 1000000000LL)

/* One function symbol; name points into the ELF data held by the file's Dwfl. */
struct hsym_sym {
    uint64_t addr, size;
    const char *name;
    int rank; /* 0 global, 1 weak, 2 local: the first of equal addresses wins */
};

struct hsym_ent {
    uint32_t name, file; /* strtab ids; 0 = unknown */
    uint32_t line;
};

/* One ELF file, shared by every process mapping it. */
struct hsym_file {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    char *path;
    Dwfl *dwfl;
    Dwfl_Module *mod; /* NULL when the file is not ELF */
    struct {
        uint64_t off, vaddr, filesz;
    } load[MAX_LOADS];
    int nload;
    struct hsym_sym *syms; /* sorted by address, then rank; built on the first lookup */
    size_t nsyms;
    int syms_built;
    Dwarf_CFI *cfi; /* .eh_frame, else .debug_frame; looked up once */
    Dwarf_Addr cfi_bias;
    int cfi_tried;
    struct hmap pcs; /* file vaddr -> index in ents */
    VEC(struct hsym_ent) ents;
    struct strtab strs;
    unsigned refs;     /* mappings of tracked processes pointing here */
    uint64_t last_use; /* host_syms.clock when last looked up or released */
};

struct hsym_map {
    uint64_t start, end, offset;
    char *path;             /* NULL for anonymous memory */
    struct hsym_file *file; /* resolved on first lookup */
    int tried;
};

struct hsym_proc {
    pid_t pid;
    VEC(struct hsym_map) maps; /* sorted by start */
    int loaded;
    int64_t last_read_ns;
};

struct host_syms {
    Dwfl_Callbacks cb;
    char *dipath;
    VEC(struct hsym_file *) files;
    size_t max_idle;
    uint64_t clock;
    size_t opened, evicted;
    /* __cxa_demangle from libstdc++, loaded on the first mangled name (NULL if absent) */
    char *(*demangle)(const char *, char *, size_t *, int *);
    void *libstdcxx;
    int demangle_tried;
    int vdso_fd; /* memfd holding this host's vDSO image (the same in every process), or -1 */
    int vdso_tried;
};

struct host_syms *host_syms_new(const char *debuginfo_path, size_t max_idle_files)
{
    struct host_syms *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    if (!debuginfo_path)
        debuginfo_path = getenv("EMBER_DEBUGINFO_PATH");
    if (debuginfo_path && *debuginfo_path) {
        h->dipath = strdup(debuginfo_path);
        if (!h->dipath) {
            free(h);
            return NULL;
        }
    }
    h->cb.find_elf = dwfl_build_id_find_elf;
    h->cb.find_debuginfo = dwfl_standard_find_debuginfo;
    h->cb.section_address = dwfl_offline_section_address;
    h->cb.debuginfo_path = &h->dipath;
    h->max_idle = max_idle_files ? max_idle_files : 64;
    h->vdso_fd = -1;
    return h;
}

static void file_free(struct hsym_file *f)
{
    if (!f)
        return;
    if (f->dwfl)
        dwfl_end(f->dwfl);
    hmap_release(&f->pcs);
    free(f->syms);
    free(f->ents.data);
    strtab_release(&f->strs);
    free(f->path);
    free(f);
}

void host_syms_free(struct host_syms *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->files.len; i++)
        file_free(h->files.data[i]);
    free(h->files.data);
    free(h->dipath);
    if (h->vdso_fd >= 0)
        close(h->vdso_fd);
    if (h->libstdcxx)
        dlclose(h->libstdcxx);
    free(h);
}

struct hsym_proc *hsym_proc_new(struct host_syms *h, pid_t pid)
{
    (void)h;
    struct hsym_proc *p = xcalloc(1, sizeof(*p));
    p->pid = pid;
    return p;
}

/* Closes idle files beyond the bound, least recently used first. */
static void evict_idle(struct host_syms *h)
{
    for (;;) {
        size_t idle = 0, victim = SIZE_MAX;
        for (size_t i = 0; i < h->files.len; i++) {
            struct hsym_file *f = h->files.data[i];
            if (f->refs)
                continue;
            idle++;
            if (victim == SIZE_MAX || f->last_use < h->files.data[victim]->last_use)
                victim = i;
        }
        if (idle <= h->max_idle)
            return;
        file_free(h->files.data[victim]);
        h->files.data[victim] = h->files.data[--h->files.len];
        h->evicted++;
    }
}

static void maps_clear(struct host_syms *h, struct hsym_proc *p)
{
    for (size_t i = 0; i < p->maps.len; i++) {
        struct hsym_map *m = &p->maps.data[i];
        if (m->file) {
            m->file->refs--;
            m->file->last_use = h->clock;
        }
        free(m->path);
    }
    p->maps.len = 0;
}

void hsym_proc_free(struct host_syms *h, struct hsym_proc *p)
{
    if (!p)
        return;
    maps_clear(h, p);
    free(p->maps.data);
    free(p);
    evict_idle(h);
}

/* Reads the executable mappings of p from /proc/PID/maps. 0 or -EMBER_ENOTFOUND. */
static int read_maps(struct host_syms *h, struct hsym_proc *p)
{
    char path[64], line[4352];
    p->last_read_ns = time_mono_ns();
    p->loaded = 1;
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)p->pid);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return -EMBER_ENOTFOUND;
    /* keep resolved files of mappings that are still there */
    VEC(struct hsym_map) old = {0};
    old.data = p->maps.data;
    old.len = p->maps.len;
    old.cap = p->maps.cap;
    memset(&p->maps, 0, sizeof(p->maps));
    size_t j = 0;
    while (fgets(line, sizeof(line), fp) && p->maps.len < PROC_MAPS_MAX) {
        /* "start-end perms offset dev inode   path": only executable mappings matter */
        char *q = line, *e;
        uint64_t start = strtoull(q, &e, 16), end, off;
        if (*e != '-')
            continue;
        end = strtoull(e + 1, &q, 16);
        if (*q != ' ' || strlen(q) < 6 || q[3] != 'x')
            continue;
        off = strtoull(q + 5, &e, 16);
        if (*e != ' ')
            continue;
        for (int field = 0; field < 2; field++) { /* dev, inode */
            e += strspn(e, " ");
            e += strcspn(e, " \n");
        }
        char *name = e + strspn(e, " ");
        name[strcspn(name, "\n")] = 0;
        struct hsym_map m = {start, end, off, NULL, NULL, 0};
        if (*name)
            m.path = xstrdup(name);
        while (j < old.len && old.data[j].start < start)
            j++;
        if (j < old.len && old.data[j].start == start && old.data[j].end == end &&
            old.data[j].offset == off && old.data[j].path && m.path &&
            !strcmp(old.data[j].path, m.path)) {
            m.file = old.data[j].file;
            m.tried = old.data[j].tried;
            old.data[j].file = NULL; /* reference moves over */
        }
        VEC_PUSH(p->maps, m);
    }
    fclose(fp);
    for (size_t i = 0; i < old.len; i++) {
        if (old.data[i].file) {
            old.data[i].file->refs--;
            old.data[i].file->last_use = h->clock;
        }
        free(old.data[i].path);
    }
    free(old.data);
    return 0;
}

static struct hsym_map *find_map(struct hsym_proc *p, uint64_t pc)
{
    size_t lo = 0, hi = p->maps.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->maps.data[mid].end <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < p->maps.len && p->maps.data[lo].start <= pc)
        return &p->maps.data[lo];
    return NULL;
}

/* Opens the ELF file behind fd (consumed) as a libdwfl module of its own. */
static void file_open_elf(struct host_syms *h, struct hsym_file *f, const char *fname, int fd)
{
    f->dwfl = dwfl_begin(&h->cb);
    if (!f->dwfl) {
        close(fd);
        return;
    }
    dwfl_report_begin(f->dwfl);
    f->mod = dwfl_report_elf(f->dwfl, f->path, fname, fd, 0, true);
    dwfl_report_end(f->dwfl, NULL, NULL);
    if (!f->mod) {
        close(fd);
        return;
    }
    Dwarf_Addr bias = 0;
    Elf *elf = dwfl_module_getelf(f->mod, &bias);
    size_t nph = 0;
    if (!elf || elf_getphdrnum(elf, &nph))
        return;
    for (size_t i = 0; i < nph && f->nload < MAX_LOADS; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
            f->load[f->nload].off = ph.p_offset;
            f->load[f->nload].vaddr = ph.p_vaddr + bias;
            f->load[f->nload].filesz = ph.p_filesz;
            f->nload++;
        }
    }
}

/* A new fd on a copy of the vDSO: it is the kernel's, the same image in every process. */
static int vdso_open(struct host_syms *h)
{
    if (!h->vdso_tried) {
        h->vdso_tried = 1;
        FILE *fp = fopen("/proc/self/maps", "re");
        char line[512];
        uint64_t start = 0, end = 0;
        while (fp && fgets(line, sizeof(line), fp))
            if (strstr(line, "[vdso]") && sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) == 2)
                break;
        if (fp)
            fclose(fp);
        if (end > start && end - start <= (64u << 10)) {
            int fd = memfd_create("ember-vdso", MFD_CLOEXEC);
            if (fd >= 0 &&
                write(fd, (const void *)(uintptr_t)start, end - start) == (ssize_t)(end - start))
                h->vdso_fd = fd;
            else if (fd >= 0)
                close(fd);
        }
    }
    return h->vdso_fd >= 0 ? fcntl(h->vdso_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

/* The shared file of mapping m of process p, opening it if no process had it yet. */
static struct hsym_file *map_file(struct host_syms *h, struct hsym_proc *p, struct hsym_map *m)
{
    if (m->tried)
        return m->file;
    m->tried = 1;
    if (!m->path || (m->path[0] != '/' && strcmp(m->path, "[vdso]")))
        return NULL;
    char fname[4400];
    int vdso = m->path[0] == '[';
    snprintf(fname, sizeof(fname), "/proc/%d/root%s", (int)p->pid, m->path);
    int fd = vdso ? vdso_open(h) : open(fname, O_RDONLY | O_CLOEXEC);
    if (vdso)
        snprintf(fname, sizeof(fname), "[vdso]");
    if (fd < 0 && !vdso) { /* deleted or replaced since: the mapping itself still has it */
        snprintf(fname, sizeof(fname), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)p->pid,
                 m->start, m->end);
        fd = open(fname, O_RDONLY | O_CLOEXEC);
    }
    struct stat st;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    struct hsym_file *f = NULL;
    for (size_t i = 0; i < h->files.len && !f; i++) {
        struct hsym_file *c = h->files.data[i];
        if (c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
            c->mtime_ns == mtime)
            f = c;
    }
    if (f) {
        close(fd);
    } else {
        f = xcalloc(1, sizeof(*f));
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->size = st.st_size;
        f->mtime_ns = mtime;
        f->path = xstrdup(m->path);
        hmap_init(&f->pcs);
        strtab_init(&f->strs);
        file_open_elf(h, f, fname, fd);
        VEC_PUSH(h->files, f);
        h->opened++;
    }
    f->refs++;
    m->file = f;
    return f;
}

/* File vaddr of pc in mapping m of file f. */
static uint64_t file_vaddr(const struct hsym_file *f, const struct hsym_map *m, uint64_t pc)
{
    uint64_t off = pc - m->start + m->offset;
    for (int i = 0; i < f->nload; i++)
        if (off >= f->load[i].off && off < f->load[i].off + f->load[i].filesz)
            return off - f->load[i].off + f->load[i].vaddr;
    return f->nload ? off - f->load[0].off + f->load[0].vaddr : off;
}

static int sym_cmp(const void *x, const void *y)
{
    const struct hsym_sym *a = x, *b = y;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    return a->rank - b->rank;
}

/*
 * Start of the function after the one starting at pc, from the sorted table
 * of .eh_frame_hdr (the common encoding: datarel sdata4 pairs); 0 when pc
 * starts no FDE there or the table is in another encoding.
 */
static uint64_t eh_frame_hdr_next(Elf *elf, const unsigned char *raw, size_t rawsize, uint64_t bias,
                                  uint64_t pc)
{
    size_t nph = 0;
    if (elf_getphdrnum(elf, &nph))
        return 0;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_GNU_EH_FRAME)
            continue;
        if (ph.p_offset + ph.p_filesz > rawsize || ph.p_filesz < 12)
            return 0;
        const unsigned char *h = raw + ph.p_offset;
        if (h[0] != 1 || h[2] != 0x03 || h[3] != 0x3b) /* version, udata4 count, datarel sdata4 */
            return 0;
        uint32_t count;
        memcpy(&count, h + 8, 4); /* after the 4-byte eh_frame_ptr (0x1b: pcrel sdata4) */
        if (h[1] != 0x1b || 12 + (uint64_t)count * 8 > ph.p_filesz)
            return 0;
        uint64_t base = ph.p_vaddr + bias, rel = pc - base;
        for (uint32_t k = 0; k < count; k++) {
            int32_t v;
            memcpy(&v, h + 12 + (size_t)k * 8, 4);
            if ((uint64_t)(int64_t)v != rel)
                continue;
            if (k + 1 >= count)
                return 0;
            memcpy(&v, h + 12 + (size_t)(k + 1) * 8, 4);
            return base + (uint64_t)(int64_t)v;
        }
        return 0;
    }
    return 0;
}

/*
 * Executables without .symtab (Debian strips them) still pass main to
 * __libc_start_main from _start: on x86-64 as "lea main(%rip),%rdi" or
 * "mov $main,%rdi" within its first bytes. main ends where the next function
 * of .eh_frame_hdr starts, so only pcs inside main get the name. Adds the symbol
 * to f->syms (room for one more is reserved by the caller).
 */
static void add_entry_main(struct hsym_file *f)
{
#if defined(__x86_64__)
    for (size_t i = 0; i < f->nsyms; i++)
        if (!strcmp(f->syms[i].name, "main"))
            return;
    Dwarf_Addr bias = 0;
    Elf *elf = dwfl_module_getelf(f->mod, &bias);
    GElf_Ehdr eh;
    size_t rawsize = 0;
    const unsigned char *raw = elf ? (const unsigned char *)elf_rawfile(elf, &rawsize) : NULL;
    if (!raw || !gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64 || !eh.e_entry)
        return;
    uint64_t entry = eh.e_entry + bias, off = UINT64_MAX;
    for (int i = 0; i < f->nload; i++)
        if (entry >= f->load[i].vaddr && entry < f->load[i].vaddr + f->load[i].filesz)
            off = entry - f->load[i].vaddr + f->load[i].off;
    if (off == UINT64_MAX || off + 64 > rawsize)
        return;
    const unsigned char *b = raw + off;
    uint64_t target = 0;
    for (int i = 0; i + 7 <= 64 && !target; i++) {
        int32_t v;
        memcpy(&v, b + i + 3, sizeof(v));
        if (b[i] == 0x48 && b[i + 1] == 0x8d && b[i + 2] == 0x3d) /* lea rel32(%rip),%rdi */
            target = entry + (uint64_t)i + 7 + (uint64_t)(int64_t)v;
        else if (b[i] == 0x48 && b[i + 1] == 0xc7 && b[i + 2] == 0xc7) /* mov $imm32,%rdi */
            target = (uint64_t)(int64_t)v + bias;
    }
    if (!target)
        return;
    uint64_t end = eh_frame_hdr_next(elf, raw, rawsize, bias, target);
    if (!end)
        return;
    struct hsym_sym *e = &f->syms[f->nsyms++];
    e->addr = target;
    e->size = end - target;
    e->name = "main";
    e->rank = 0;
#else
    (void)f;
#endif
}

/*
 * Sorts the module's function symbols once (.symtab, else .dynsym, from the
 * separate debug file when there is one), so that each lookup is a binary
 * search: dwfl_module_addrinfo() scans every symbol on every call.
 */
static void build_symtab(struct hsym_file *f)
{
    f->syms_built = 1;
    int n = dwfl_module_getsymtab(f->mod);
    if (n <= 0)
        return;
    f->syms = xmalloc((size_t)n * sizeof(*f->syms));
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr = 0;
        const char *nm = dwfl_module_getsym_info(f->mod, i, &sym, &addr, NULL, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
        if (!nm || !*nm || sym.st_shndx == SHN_UNDEF ||
            (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_NOTYPE))
            continue;
        struct hsym_sym *e = &f->syms[f->nsyms++];
        e->addr = addr;
        e->size = sym.st_size;
        e->name = nm;
        e->rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
        if (type == STT_NOTYPE) /* labels in assembly: only when nothing better */
            e->rank += 3;
    }
    if (f->nsyms < (size_t)n)
        add_entry_main(f);
    qsort(f->syms, f->nsyms, sizeof(*f->syms), sym_cmp);
}

/* The function symbol containing vaddr, else the nearest size-less one before it, else NULL. */
static const struct hsym_sym *sym_find(const struct hsym_file *f, uint64_t vaddr)
{
    size_t lo = 0, hi = f->nsyms;
    while (lo < hi) { /* first symbol above vaddr */
        size_t mid = lo + (hi - lo) / 2;
        if (f->syms[mid].addr <= vaddr)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct hsym_sym *sizeless = NULL;
    for (size_t i = lo, steps = 0; i-- > 0 && steps < 64; steps++) {
        const struct hsym_sym *c = &f->syms[i];
        while (i > 0 && f->syms[i - 1].addr == c->addr) /* best-ranked of this address */
            c = &f->syms[--i];
        for (const struct hsym_sym *d = c; d < f->syms + f->nsyms && d->addr == c->addr; d++)
            if (d->size && vaddr < d->addr + d->size)
                return d;
        if (!c->size && !sizeless)
            sizeless = c;
        if (sizeless)
            break;
    }
    return sizeless;
}

/*
 * Interns the readable form of symbol nm (n bytes): C++ and Rust legacy
 * ("_ZN...17h<16 hex>E") names demangled with libstdc++'s __cxa_demangle,
 * Rust's hash suffix dropped; other names as they are.
 */
static uint32_t intern_name(struct host_syms *h, struct hsym_file *f, const char *nm, size_t n)
{
    if (n < 3 || nm[0] != '_' || nm[1] != 'Z' || n > 4096)
        return strtab_intern(&f->strs, nm, n);
    if (!h->demangle_tried) {
        h->demangle_tried = 1;
        h->libstdcxx = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (h->libstdcxx)
            *(void **)&h->demangle = dlsym(h->libstdcxx, "__cxa_demangle");
    }
    char tmp[4097];
    memcpy(tmp, nm, n);
    tmp[n] = 0;
    int status = -1;
    char *d = h->demangle ? h->demangle(tmp, NULL, NULL, &status) : NULL;
    if (!d || status != 0) {
        free(d);
        return strtab_intern(&f->strs, nm, n);
    }
    size_t dl = strlen(d);
    /* Rust legacy: "crate::module::function::h0123456789abcdef" */
    if (dl > 19 && !memcmp(d + dl - 19, "::h", 3) && strspn(d + dl - 16, "0123456789abcdef") == 16)
        dl -= 19;
    uint32_t id = strtab_intern(&f->strs, d, dl);
    free(d);
    return id;
}

static const struct hsym_ent *file_lookup(struct host_syms *h, struct hsym_file *f, uint64_t vaddr)
{
    uint64_t key = vaddr == UINT64_MAX ? 0 : vaddr;
    uint64_t *slot = hmap_get(&f->pcs, key);
    if (slot)
        return &f->ents.data[*slot];
    if (f->ents.len >= FILE_PCS_MAX) { /* bounded: start over */
        hmap_clear(&f->pcs);
        f->ents.len = 0;
        strtab_release(&f->strs);
        strtab_init(&f->strs);
    }
    struct hsym_ent e = {0, 0, 0};
    if (f->mod) {
        if (!f->syms_built)
            build_symtab(f);
        const struct hsym_sym *sy = sym_find(f, vaddr);
        const char *nm = sy ? sy->name : NULL;
        if (nm) {
            /* "memcpy@@GLIBC_2.14" -> "memcpy": the symbol version only splits a function */
            const char *at = strchr(nm, '@');
            e.name = intern_name(h, f, nm, at && at > nm ? (size_t)(at - nm) : strlen(nm));
        }
        Dwfl_Line *ln = dwfl_module_getsrc(f->mod, (Dwarf_Addr)vaddr);
        int lineno = 0;
        const char *src = ln ? dwfl_lineinfo(ln, NULL, &lineno, NULL, NULL, NULL) : NULL;
        if (src && lineno > 0) {
            e.file = strtab_intern_cstr(&f->strs, src);
            e.line = (uint32_t)lineno;
        }
    }
    int created = 0;
    *hmap_put(&f->pcs, key, &created) = f->ents.len;
    VEC_PUSH(f->ents, e);
    return &f->ents.data[f->ents.len - 1];
}

int hsym_proc_load(struct host_syms *h, struct hsym_proc *p)
{
    int err = read_maps(h, p);
    for (size_t i = 0; !err && i < p->maps.len; i++)
        map_file(h, p, &p->maps.data[i]);
    return err;
}

int hsym_lookup(struct host_syms *h, struct hsym_proc *p, uint64_t pc, struct hsym_info *info)
{
    memset(info, 0, sizeof(*info));
    h->clock++;
    if (!p->loaded)
        read_maps(h, p);
    struct hsym_map *m = find_map(p, pc);
    if (!m && time_mono_ns() - p->last_read_ns > MAPS_REREAD_NS) {
        read_maps(h, p); /* a library loaded since? */
        m = find_map(p, pc);
    }
    if (!m)
        return -EMBER_ENOTFOUND;
    info->module = m->path;
    struct hsym_file *f = map_file(h, p, m);
    if (!f)
        return -EMBER_ENOTFOUND;
    f->last_use = h->clock;
    const struct hsym_ent *e = file_lookup(h, f, file_vaddr(f, m, pc));
    info->name = e->name ? strtab_get(&f->strs, e->name) : NULL;
    info->file = e->file ? strtab_get(&f->strs, e->file) : NULL;
    info->line = e->line;
    return info->name ? 0 : -EMBER_ENOTFOUND;
}

int hsym_cfi(struct host_syms *h, struct hsym_proc *p, uint64_t pc, Dwarf_CFI **cfi,
             uint64_t *delta)
{
    if (!p->loaded)
        read_maps(h, p);
    struct hsym_map *m = find_map(p, pc);
    if (!m && time_mono_ns() - p->last_read_ns > MAPS_REREAD_NS) {
        read_maps(h, p);
        m = find_map(p, pc);
    }
    struct hsym_file *f = m ? map_file(h, p, m) : NULL;
    if (!f || !f->mod)
        return -EMBER_ENOTFOUND;
    if (!f->cfi_tried) {
        f->cfi_tried = 1;
        f->cfi = dwfl_module_eh_cfi(f->mod, &f->cfi_bias);
        if (!f->cfi)
            f->cfi = dwfl_module_dwarf_cfi(f->mod, &f->cfi_bias);
    }
    if (!f->cfi)
        return -EMBER_ENOTFOUND;
    *cfi = f->cfi;
    *delta = pc - (file_vaddr(f, m, pc) - f->cfi_bias);
    return 0;
}

void host_syms_stats(const struct host_syms *h, struct hsym_stats *st)
{
    memset(st, 0, sizeof(*st));
    st->files_open = h->files.len;
    st->files_opened = h->opened;
    st->files_evicted = h->evicted;
    for (size_t i = 0; i < h->files.len; i++)
        st->cached_pcs += h->files.data[i]->ents.len;
}
