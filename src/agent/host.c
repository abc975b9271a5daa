/* host.c - the host agent's loop: collect stacks, symbolize per process, build and upload pprof */
#include "agent/host.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent/bpf/host.h"
#include "agent/dwarf_unwind.h"
#include "agent/host_bpf.h"
#include "agent/host_ksyms.h"
#include "agent/host_sample.h"
#include "agent/host_syms.h"
#include "agent/perf_map.h"
#include "agent/perf_sampler.h"
#include "agent/proc_info.h"
#include "agent/relabel.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "profile/labels.h"
#include "profile/pprof.h"

/* How often the collectors are read (processes that exit sooner than this may lose names). */
#define TICK_MS      200
#define BPF_DRAIN_MS 1000
#define MAX_FRAMES   256
/* Distinct stacks per process and interval; further new stacks are counted as dropped. */
#define MAX_SAMPLES 65536
/* Processes tracked at once; samples of further ones go to one "other" bucket by name. */
#define MAX_PROCS 4096

/* One process seen in this interval: its labels, symbolizer and the profile being built. */
struct hproc {
    uint32_t pid;
    struct proc_info info;
    int gone; /* /proc/PID was unreadable when first seen */
    int drop; /* a config rule drops its samples */
    struct hsym_proc *sym;
    struct perf_map *jit;
    int jit_tried;
    struct pprof prof;
    struct hmap locs;    /* pc -> location index + 1 */
    struct hmap funcs;   /* name string << 32 | file string -> function id */
    struct hmap samples; /* hash of location ids -> sample index */
    uint64_t nsamples;   /* values added this interval */
};

struct host_agent {
    const struct host_opts *o;
    int nvalues; /* 1 (cpu) or 2 (cpu, wall) */
    int64_t period_ns;
    struct hmap procs; /* pid -> index in procs_v */
    VEC(struct hproc *) procs_v;
    struct host_ksyms *ksyms;
    struct host_syms *syms; /* ELF files shared by every process */
    struct host_bpf *bpf;
    struct perf_sampler *perf;
    struct dwarf_unwinder *dwarf;
    uint64_t dwarf_total, dwarf_complete; /* samples unwound; those reaching the outermost frame */
    CURL *curl;
    char host_name[256];
    int64_t window_start_ns;
    uint64_t samples, dropped, relabel_dropped, uploads, upload_errors;
};

void host_opts_default(struct host_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->server = "http://127.0.0.1:4040";
    o->hz = 99;
    o->offcpu_min_ns = 1000000;
    o->upload_interval_s = 10;
}

static void hproc_reset_profile(struct host_agent *a, struct hproc *p)
{
    pprof_release(&p->prof);
    pprof_init(&p->prof);
    hmap_clear(&p->locs);
    hmap_clear(&p->funcs);
    hmap_clear(&p->samples);
    p->nsamples = 0;
    struct pprof *pp = &p->prof;
    pprof_add_string(pp, "");
    struct pprof_value_type cpu = {pprof_add_string(pp, "cpu"),
                                   pprof_add_string(pp, "nanoseconds")};
    VEC_PUSH(pp->sample_type, cpu);
    if (a->nvalues > 1) {
        struct pprof_value_type wall = {pprof_add_string(pp, "wall"),
                                        pprof_add_string(pp, "nanoseconds")};
        VEC_PUSH(pp->sample_type, wall);
    }
    pp->period_type = cpu;
    pp->period = a->period_ns;
}

/* Applies the --config rules to a process just read from /proc. */
static void apply_relabel(struct host_agent *a, struct hproc *p)
{
    char cgroup[4096] = "";
    if (relabel_uses_cgroup(a->o->relabel)) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%" PRIu32 "/cgroup", p->pid);
        FILE *f = fopen(path, "re");
        if (f) {
            size_t n = fread(cgroup, 1, sizeof(cgroup) - 1, f);
            cgroup[n] = 0;
            fclose(f);
        }
    }
    char service[sizeof(p->info.service)];
    enum relabel_action act =
        relabel_apply(a->o->relabel, p->info.exe, cgroup, p->info.comm, service, sizeof(service));
    if (act == RELABEL_DROP) {
        p->drop = 1;
    } else if (act == RELABEL_KEEP) {
        proc_sanitize(service);
        memcpy(p->info.service, service, sizeof(service));
    }
}

static struct hproc *hproc_get(struct host_agent *a, uint32_t pid)
{
    int created = 0;
    if (a->procs_v.len >= MAX_PROCS && !hmap_get(&a->procs, pid))
        return NULL;
    uint64_t *slot = hmap_put(&a->procs, pid, &created);
    if (!created)
        return a->procs_v.data[*slot];
    struct hproc *p = xcalloc(1, sizeof(*p));
    p->pid = pid;
    pprof_init(&p->prof);
    hmap_init(&p->locs);
    hmap_init(&p->funcs);
    hmap_init(&p->samples);
    hproc_reset_profile(a, p);
    if (proc_info_read(NULL, (pid_t)pid, &p->info)) {
        p->gone = 1;
        snprintf(p->info.service, sizeof(p->info.service), "unknown");
    } else {
        p->sym = hsym_proc_new(a->syms, (pid_t)pid);
        hsym_proc_load(a->syms, p->sym); /* now, while it surely runs */
        if (a->o->relabel)
            apply_relabel(a, p);
    }
    *slot = a->procs_v.len;
    VEC_PUSH(a->procs_v, p);
    return p;
}

static void hproc_free(struct host_agent *a, struct hproc *p)
{
    if (!p)
        return;
    hsym_proc_free(a->syms, p->sym);
    perf_map_free(p->jit);
    pprof_release(&p->prof);
    hmap_release(&p->locs);
    hmap_release(&p->funcs);
    hmap_release(&p->samples);
    free(p);
}

static uint64_t function_id(struct hproc *p, const char *name, const char *file)
{
    struct pprof *pp = &p->prof;
    int64_t n = pprof_add_string(pp, name), f = pprof_add_string(pp, file ? file : "");
    int created = 0;
    uint64_t *slot = hmap_put(&p->funcs, (uint64_t)n << 32 | (uint64_t)f, &created);
    if (created) {
        struct pprof_function fn = {pp->function.len + 1, n, n, f, 0};
        VEC_PUSH(pp->function, fn);
        *slot = fn.id;
    }
    return *slot;
}

static uint64_t add_location(struct hproc *p, uint64_t addr, const char *name, const char *file,
                             unsigned line)
{
    struct pprof *pp = &p->prof;
    struct pprof_line *ln = xmalloc(sizeof(*ln));
    ln->function_id = function_id(p, name, file);
    ln->line = line;
    ln->column = 0;
    struct pprof_location loc = {
        .id = pp->location.len + 1, .address = addr, .line = ln, .nline = 1};
    VEC_PUSH(pp->location, loc);
    return loc.id;
}

/* Location id of a user pc (exact instruction address) of process p. */
static uint64_t user_location(struct host_agent *a, struct hproc *p, uint64_t pc)
{
    int created = 0;
    uint64_t *slot = hmap_put(&p->locs, pc == UINT64_MAX ? 0 : pc, &created);
    if (!created)
        return *slot;
    struct hsym_info si = {0};
    char buf[80];
    const char *name = NULL;
    if (p->sym && hsym_lookup(a->syms, p->sym, pc, &si) == 0)
        name = si.name;
    if (!name && !si.module) { /* JIT code: a perf map written by the runtime */
        if (!p->jit_tried) {
            char path[64];
            snprintf(path, sizeof(path), "/tmp/perf-%" PRIu32 ".map", p->pid);
            p->jit_tried = 1;
            perf_map_load(&p->jit, path);
        }
        if (p->jit)
            name = perf_map_lookup(p->jit, pc);
    }
    if (!name) {
        const char *mod = si.module ? strrchr(si.module, '/') : NULL;
        mod = mod ? mod + 1 : si.module;
        if (mod)
            snprintf(buf, sizeof(buf), "[%.70s]", mod);
        else
            snprintf(buf, sizeof(buf), "0x%" PRIx64, pc);
        name = buf;
    }
    uint64_t id = add_location(p, pc, name, si.file, si.line);
    slot = hmap_get(&p->locs,
                    pc == UINT64_MAX ? 0 : pc); /* add_location may not rehash, but be safe */
    *slot = id;
    return id;
}

static uint64_t kernel_location(struct host_agent *a, struct hproc *p, uint64_t pc)
{
    int created = 0;
    uint64_t *slot = hmap_put(&p->locs, pc == UINT64_MAX ? 0 : pc, &created);
    if (!created)
        return *slot;
    const char *mod = NULL, *name = a->ksyms ? host_ksyms_lookup(a->ksyms, pc, &mod) : NULL;
    char buf[64];
    if (!name) {
        snprintf(buf, sizeof(buf), "[kernel] 0x%" PRIx64, pc);
        name = buf;
    }
    uint64_t id = add_location(p, pc, name, mod && *mod ? mod : "[kernel.kallsyms]", 0);
    *hmap_get(&p->locs, pc == UINT64_MAX ? 0 : pc) = id;
    return id;
}

static void add_sample(struct hproc *p, const uint64_t *locs, size_t n, const int64_t *vals,
                       int nvalues, uint64_t *dropped)
{
    struct pprof *pp = &p->prof;
    uint64_t h = hash_bytes(locs, n * sizeof(*locs));
    for (uint64_t salt = 0;; salt++) {
        uint64_t key = (h ^ hash_u64(salt)) == UINT64_MAX ? 0 : h ^ hash_u64(salt);
        int created = 0;
        if (pp->sample.len >= MAX_SAMPLES && !hmap_get(&p->samples, key)) {
            (*dropped)++;
            return;
        }
        uint64_t *slot = hmap_put(&p->samples, key, &created);
        if (created) {
            struct pprof_sample s = {0};
            s.location_id = xmalloc((n ? n : 1) * sizeof(uint64_t));
            memcpy(s.location_id, locs, n * sizeof(uint64_t));
            s.nlocation = n;
            s.value = xcalloc((size_t)nvalues, sizeof(int64_t));
            memcpy(s.value, vals, (size_t)nvalues * sizeof(int64_t));
            s.nvalue = (size_t)nvalues;
            *slot = pp->sample.len;
            VEC_PUSH(pp->sample, s);
            return;
        }
        struct pprof_sample *s = &pp->sample.data[*slot];
        if (s->nlocation == n && !memcmp(s->location_id, locs, n * sizeof(uint64_t))) {
            for (int i = 0; i < nvalues; i++)
                s->value[i] += vals[i];
            return;
        }
    }
}

/* host_sample_cb: one stack (with its weight) into its process's profile. */
static void on_sample(const struct host_sample *s, void *arg)
{
    struct host_agent *a = arg;
    struct hproc *p = hproc_get(a, s->pid);
    if (!p) {
        a->dropped += s->weight;
        return;
    }
    if (p->drop) {
        a->relabel_dropped += s->weight;
        return;
    }
    uint64_t locs[MAX_FRAMES];
    size_t n = 0;
    size_t k0 = 0;
    /* off-CPU stacks are taken inside the tracepoint: drop the BPF trampoline frames on top */
    for (size_t i = 0; a->ksyms && s->kind == HOST_SAMPLE_OFFCPU && i < s->nkernel && i < 4; i++) {
        const char *nm = host_ksyms_lookup(a->ksyms, s->kernel[i], NULL);
        if (nm && (!strncmp(nm, "bpf_trace_run", 13) || !strncmp(nm, "__bpf_trace_", 12)))
            k0 = i + 1;
    }
    for (size_t i = k0; i < s->nkernel && n < MAX_FRAMES; i++)
        locs[n++] = kernel_location(a, p, i ? s->kernel[i] - 1 : s->kernel[i]);
    for (size_t i = 0; i < s->nuser && n < MAX_FRAMES; i++)
        locs[n++] = user_location(a, p, i ? s->user[i] - 1 : s->user[i]);
    int64_t vals[2] = {0, 0};
    if (s->kind == HOST_SAMPLE_CPU) {
        vals[0] = (int64_t)s->weight * a->period_ns;
        vals[1] = vals[0];
        a->samples += s->weight;
    } else {
        if (a->nvalues < 2)
            return;
        vals[1] = (int64_t)s->weight;
    }
    add_sample(p, locs, n, vals, a->nvalues, &a->dropped);
    p->nsamples++;
}

/* host_raw_cb: a DWARF-mode sample (registers and stack copy), unwound here. */
static void on_raw(const struct host_dwarf_event *e, void *arg)
{
    struct host_agent *a = arg;
    uint64_t pcs[MAX_FRAMES];
    struct dwarf_regs regs = {e->ip, e->sp, e->bp, e->stack_base};
    int complete = 0;
    size_t len = e->stack_len <= HOST_STACK_COPY ? e->stack_len : HOST_STACK_COPY;
    struct hproc *p = hproc_get(a, e->pid);
    size_t n = 1;
    pcs[0] = e->ip;
    if (p && p->sym)
        n = dwarf_unwind(a->dwarf, a->syms, p->sym, &regs, e->stack, len, pcs, MAX_FRAMES,
                         &complete);
    a->dwarf_total++;
    a->dwarf_complete += complete ? 1 : 0;
    size_t nk = e->nkernel <= HOST_MAX_DEPTH ? e->nkernel : HOST_MAX_DEPTH;
    struct host_sample s = {
        .pid = e->pid,
        .tid = e->tid,
        .kind = e->kind == HOST_KIND_OFFCPU ? HOST_SAMPLE_OFFCPU : HOST_SAMPLE_CPU,
        .weight = e->weight,
        .kernel = (const uint64_t *)e->kstack,
        .nkernel = nk,
        .user = pcs,
        .nuser = n,
        .user_truncated = !complete,
    };
    on_sample(&s, a);
}

/* Appends "k=v" to a Pyroscope name query, skipping empty values. */
static void name_label(struct buf *b, int *first, const char *k, const char *v)
{
    if (!v || !*v)
        return;
    buf_printf(b, "%s%s=%s", *first ? "" : ",", k, v);
    *first = 0;
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    if (b->len < 512)
        buf_append(b, ptr, size * nmemb < 512 ? size * nmemb : 512);
    return size * nmemb;
}

/* Pushes the profile of p; returns 0 or -1 (logged). */
static int upload(struct host_agent *a, struct hproc *p, int64_t until_ns)
{
    struct buf body = BUF_INIT, name = BUF_INIT, url = BUF_INIT, resp = BUF_INIT;
    struct curl_slist *hdrs = NULL;
    char pidbuf[16];
    int rc = -1;
    p->prof.time_nanos = a->window_start_ns;
    p->prof.duration_nanos = until_ns - a->window_start_ns;
    pprof_encode(&p->prof, &body);

    int first = 1;
    snprintf(pidbuf, sizeof(pidbuf), "%" PRIu32, p->pid);
    buf_printf(&name, "%s{", p->info.service);
    name_label(&name, &first, "pid", pidbuf);
    name_label(&name, &first, "host_name", a->host_name);
    name_label(&name, &first, "container_id", p->info.container_id);
    for (size_t i = 0; a->o->labels && i < a->o->labels->n; i++)
        name_label(&name, &first, a->o->labels->v[i].name, a->o->labels->v[i].value);
    buf_putc(&name, '}');
    char *esc = curl_easy_escape(a->curl, name.data, (int)name.len);
    buf_printf(&url,
               "%s/ingest?name=%s&from=%" PRId64 "&until=%" PRId64
               "&format=pprof&spyName=ember-agent&sampleRate=%d",
               a->o->server, esc ? esc : "", a->window_start_ns / 1000000000, until_ns / 1000000000,
               a->o->hz);
    curl_free(esc);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
    if (a->o->tenant) {
        char h[300];
        snprintf(h, sizeof(h), "X-Scope-OrgID: %s", a->o->tenant);
        hdrs = curl_slist_append(hdrs, h);
    }
    curl_easy_setopt(a->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body.data ? body.data : "");
    curl_easy_setopt(a->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body.len);
    curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(a->curl);
    long status = 0;
    curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK) {
        log_warn("agent: cannot upload the profile of pid %" PRIu32 " (%s) to '%s': %s", p->pid,
                 p->info.service, a->o->server, curl_easy_strerror(cc));
    } else if (status < 200 || status >= 300) {
        log_warn("agent: server refused the profile of pid %" PRIu32 " (%s): HTTP %ld: %.*s",
                 p->pid, p->info.service, status, (int)resp.len, resp.data ? resp.data : "");
    } else {
        rc = 0;
    }
    curl_slist_free_all(hdrs);
    buf_release(&body);
    buf_release(&name);
    buf_release(&url);
    buf_release(&resp);
    return rc;
}

/* Uploads every process with samples, forgets processes that exited, starts a new window. */
static void flush(struct host_agent *a)
{
    int64_t now = time_now_ns();
    size_t keep = 0, sent = 0;
    for (size_t i = 0; i < a->procs_v.len; i++) {
        struct hproc *p = a->procs_v.data[i];
        if (p->prof.sample.len) {
            if (upload(a, p, now))
                a->upload_errors++;
            else
                sent++;
        }
        if (p->gone || !proc_alive((pid_t)p->pid)) {
            hproc_free(a, p);
            continue;
        }
        hproc_reset_profile(a, p);
        a->procs_v.data[keep++] = p;
    }
    a->procs_v.len = keep;
    hmap_clear(&a->procs);
    for (size_t i = 0; i < keep; i++) {
        int created;
        *hmap_put(&a->procs, a->procs_v.data[i]->pid, &created) = i;
    }
    a->uploads += sent;
    a->window_start_ns = now;
}

/* Logs the agent's own CPU and memory use and the collector's counters. */
static void log_stats(struct host_agent *a, int64_t *last_wall, int64_t *last_cpu)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t cpu = (int64_t)ru.ru_utime.tv_sec * 1000000000 + ru.ru_utime.tv_usec * 1000 +
                  (int64_t)ru.ru_stime.tv_sec * 1000000000 + ru.ru_stime.tv_usec * 1000;
    int64_t wall = time_mono_ns();
    double pct =
        wall > *last_wall ? 100.0 * (double)(cpu - *last_cpu) / (double)(wall - *last_wall) : 0;
    *last_wall = wall;
    *last_cpu = cpu;
    long rss_kb = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        long size, res;
        if (fscanf(f, "%ld %ld", &size, &res) == 2)
            rss_kb = res * (sysconf(_SC_PAGESIZE) / 1024);
        fclose(f);
    }
    char extra[512] = "";
    if (a->bpf) {
        struct host_bpf_stats st;
        host_bpf_stats(a->bpf, &st);
        snprintf(extra, sizeof(extra),
                 " bpf_samples=%" PRIu64 " map_full=%" PRIu64 " ustack_err=%" PRIu64
                 " ringbuf_full=%" PRIu64 " offcpu_events=%" PRIu64,
                 st.samples, st.map_full, st.ustack_err, st.ringbuf_full, st.offcpu_events);
    } else if (a->perf) {
        struct perf_sampler_stats st;
        perf_sampler_stats(a->perf, &st);
        snprintf(extra, sizeof(extra), " perf_lost=%" PRIu64, st.lost);
    }
    if (a->dwarf) {
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof(extra) - l, " dwarf_unwound=%" PRIu64 " dwarf_complete=%" PRIu64,
                 a->dwarf_total, a->dwarf_complete);
    }
    struct hsym_stats ss;
    host_syms_stats(a->syms, &ss);
    size_t l = strlen(extra);
    snprintf(extra + l, sizeof(extra) - l,
             " elf_files=%zu elf_opened=%zu elf_evicted=%zu cached_pcs=%zu", ss.files_open,
             ss.files_opened, ss.files_evicted, ss.cached_pcs);
    log_info("agent: stats cpu_percent=%.2f rss_kb=%ld samples=%" PRIu64 " dropped=%" PRIu64
             " relabel_dropped=%" PRIu64 " uploads=%" PRIu64 " upload_errors=%" PRIu64
             " processes=%zu%s",
             pct, rss_kb, a->samples, a->dropped, a->relabel_dropped, a->uploads, a->upload_errors,
             a->procs_v.len, extra);
}

static int start_collector(struct host_agent *a)
{
    const struct host_opts *o = a->o;
    char err[512] = "";
    int rc = -ENOSYS;
    if (o->backend != HOST_BACKEND_PERF) {
        struct host_bpf_opts bo = {o->hz, o->pid, o->offcpu, o->offcpu_min_ns, o->dwarf};
        rc = host_bpf_open(&a->bpf, &bo, err, sizeof(err));
        if (!rc) {
            if (o->dwarf)
                a->dwarf = dwarf_unwinder_new();
            log_info("agent: eBPF sampling at %d Hz on every CPU (%s%s%s)", o->hz,
                     o->pid ? "one process" : "every process", o->offcpu ? ", off-CPU" : "",
                     o->dwarf ? ", DWARF unwinding" : "");
            return 0;
        }
        if (o->backend == HOST_BACKEND_BPF) {
            log_error("agent: %s", err);
            return rc;
        }
        log_warn("agent: eBPF unavailable, falling back to perf_event call chains: %s", err);
        if (o->offcpu)
            log_warn("agent: off-CPU time needs eBPF; sending process_cpu only");
    }
    rc = perf_sampler_open(&a->perf, o->hz, o->pid, err, sizeof(err));
    if (rc) {
        log_error("agent: %s", err);
        return rc;
    }
    log_info("agent: perf_event call-chain sampling at %d Hz on every CPU", o->hz);
    return 0;
}

int host_agent_run(const struct host_opts *o, volatile sig_atomic_t *stop)
{
    struct host_agent a = {0};
    int rc = 0;
    a.o = o;
    a.period_ns = 1000000000LL / (o->hz > 0 ? o->hz : 99);
    hmap_init(&a.procs);
    if (gethostname(a.host_name, sizeof(a.host_name) - 1) < 0 || !a.host_name[0])
        snprintf(a.host_name, sizeof(a.host_name), "unknown");
    proc_sanitize(a.host_name);
    int err = host_ksyms_load(&a.ksyms, NULL);
    if (err)
        log_warn("agent: no kernel symbols from /proc/kallsyms (%s): kernel frames stay addresses",
                 ember_strerror(err));
    a.syms = host_syms_new(NULL, 0);
    if (!a.syms) {
        rc = -ENOMEM;
        goto out;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    a.curl = curl_easy_init();
    if (!a.curl) {
        log_error("agent: cannot initialise libcurl");
        rc = -ENOMEM;
        goto out;
    }
    rc = start_collector(&a);
    if (rc)
        goto out;
    a.nvalues = o->offcpu && a.bpf ? 2 : 1;
    if (o->pid) /* read its labels and symbols now, while it surely runs */
        hproc_get(&a, o->pid);
    a.window_start_ns = time_now_ns();
    int64_t start = time_mono_ns();
    int64_t next_drain = start + BPF_DRAIN_MS * 1000000LL;
    int64_t next_flush = start + (int64_t)o->upload_interval_s * 1000000000LL;
    int64_t last_wall = start, last_cpu = 0;
    while (!*stop) {
        struct timespec ts = {0, TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
        int64_t now = time_mono_ns();
        int done = o->duration_s > 0 && now - start >= (int64_t)o->duration_s * 1000000000LL;
        if (o->pid && !proc_alive((pid_t)o->pid)) {
            log_info("agent: process %" PRIu32 " exited; sending the last profiles", o->pid);
            done = 1;
        }
        if (a.perf)
            perf_sampler_drain(a.perf, on_sample, &a);
        if (a.dwarf) {
            int n = host_bpf_poll(a.bpf, 0, on_raw, &a);
            if (n < 0)
                log_warn("agent: cannot read the BPF ring buffer: %s", ember_strerror(n));
        }
        if (a.bpf && (now >= next_drain || done || *stop)) {
            int n = host_bpf_drain(a.bpf, on_sample, a.dwarf ? on_raw : NULL, &a);
            if (n < 0)
                log_warn("agent: cannot read the BPF stack maps: %s", ember_strerror(n));
            next_drain = now + BPF_DRAIN_MS * 1000000LL;
        }
        if (now >= next_flush || done || *stop) {
            flush(&a);
            log_stats(&a, &last_wall, &last_cpu);
            next_flush = now + (int64_t)o->upload_interval_s * 1000000000LL;
        }
        if (done)
            break;
    }
out:
    host_bpf_close(a.bpf);
    perf_sampler_close(a.perf);
    dwarf_unwinder_free(a.dwarf);
    for (size_t i = 0; i < a.procs_v.len; i++)
        hproc_free(&a, a.procs_v.data[i]);
    free(a.procs_v.data);
    hmap_release(&a.procs);
    host_ksyms_free(a.ksyms);
    host_syms_free(a.syms);
    if (a.curl)
        curl_easy_cleanup(a.curl);
    curl_global_cleanup();
    return rc;
}
