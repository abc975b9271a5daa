/* store_bench.c - benchmark of the embedded store on real Go pprof files: ingest vs zlib inflate,
 * head bytes per sample, query latency over 1 h / 1 day / 7 days, bytes on disk vs gzip.
 *
 *   store_bench DIR DAYS FILE.pb.gz...
 *
 * 1. Ingest: each file's full path (gzip inflate, pprof decode, normalize, store_append with the
 *    WAL and fsync on) in a loop for ~3 s; anchor: inflate-only of the same bytes.
 * 2. Data: DAYS days of 10-second profiles of one service made from the files (round robin,
 *    shifted times, values varied per sample), appended with fsync off; the heads are cut every
 *    hour of data (level-1 blocks) and the ended days compacted into level-2 blocks.
 * 3. Queries: store_merge (what top and flamegraph run on) and store_totals over the last hour,
 *    day and DAYS days; cold (first run, blocks decoded) and warm (median of 5).
 * Prints one "name value unit" line per figure. Links libcore.a (see bench/run.sh).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/gz.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "base/xalloc.h"
#include "profile/normalize.h"
#include "profile/pprof.h"
#include "profile/profile.h"
#include "profile/selector.h"
#include "store/store.h"

#define SEC 1000000000LL

struct file {
    char *gz;
    size_t gzlen;
    struct profile_batch b; /* normalized once, for the data phase */
};

static int64_t fake_now;

static int64_t bench_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    struct buf b = BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    return buf_detach(&b, len);
}

/* inflate + decode + normalize f into out (cleared first). */
static int parse(const struct file *f, struct profile_batch *out, const struct labels *l,
                 int64_t t)
{
    struct buf raw = BUF_INIT;
    struct pprof p;
    char err[256];
    int r = gz_inflate(f->gz, f->gzlen, &raw, 256u << 20, 1000);
    pprof_init(&p);
    if (!r)
        r = pprof_decode(&p, raw.data, raw.len, 0, err, sizeof(err));
    struct normalize_opts o = {.labels = l, .default_time_ns = t};
    if (!r)
        r = normalize_pprof(&p, &o, out, err, sizeof(err));
    pprof_release(&p);
    buf_release(&raw);
    return r;
}

static uint64_t dir_bytes(const char *path)
{
    uint64_t n = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1400];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
        if (!stat(p, &st) && S_ISREG(st.st_mode))
            n += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return n;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: store_bench DIR DAYS FILE.pb.gz...\n");
        return 2;
    }
    const char *dir = argv[1];
    int days = atoi(argv[2]);
    size_t nf = (size_t)argc - 3;
    struct file *files = xcalloc(nf, sizeof(*files));
    struct labels l;
    labels_init(&l);
    labels_set(&l, LABEL_SERVICE_NAME, "bench");
    log_set_level(LOG_WARN);
    for (size_t i = 0; i < nf; i++) {
        files[i].gz = read_file(argv[3 + i], &files[i].gzlen);
        batch_init(&files[i].b);
        if (parse(&files[i], &files[i].b, &l, SEC)) {
            fprintf(stderr, "cannot parse %s\n", argv[3 + i]);
            return 1;
        }
    }

    /* 1. ingest vs inflate-only */
    char path[1024];
    struct store_opts o;
    struct store *s;
    uint64_t infl = 0, inbytes = 0;
    int64_t t0 = time_mono_ns();
    while (time_mono_ns() - t0 < 2 * SEC) {
        struct buf raw = BUF_INIT;
        gz_inflate(files[infl % nf].gz, files[infl % nf].gzlen, &raw, 256u << 20, 1000);
        inbytes += files[infl % nf].gzlen;
        buf_release(&raw);
        infl++;
    }
    double dti = (double)(time_mono_ns() - t0) / 1e9;
    printf("inflate_only_gzip_mb_per_s %.1f MB/s (anchor)\n", inbytes / dti / 1e6);
    for (int sync = 1; sync >= 0; sync--) {
        snprintf(path, sizeof(path), "%s/ingest%d", dir, sync);
        store_opts_default(&o);
        o.data_dir = path;
        o.background = 0;
        o.fsync = sync;
        if (store_open(&s, &o))
            return 1;
        uint64_t nreq = 0, nprof = 0, nsamp = 0, gzbytes = 0;
        t0 = time_mono_ns();
        while (time_mono_ns() - t0 < 3 * SEC) {
            const struct file *f = &files[nreq % nf];
            struct profile_batch b;
            batch_init(&b);
            if (parse(f, &b, &l, (1700000000LL + (int64_t)nreq) * SEC) ||
                store_append(s, NULL, &b))
                return 1;
            nprof += b.profiles.len;
            for (size_t k = 0; k < b.profiles.len; k++)
                nsamp += b.profiles.data[k].samples.len;
            gzbytes += f->gzlen;
            batch_release(&b);
            nreq++;
        }
        double dt = (double)(time_mono_ns() - t0) / 1e9;
        store_close(s);
        const char *m = sync ? "fsync each request, one thread" : "fsync off: the CPU path";
        printf("ingest (%s): %.0f req/s, %.0f profiles/s, %.0f samples/s, %.1f gzip MB/s, "
               "%.2f x inflate (target >= 0.5)\n",
               m, (double)nreq / dt, (double)nprof / dt, (double)nsamp / dt, gzbytes / dt / 1e6,
               (gzbytes / dt) / (inbytes / dti));
    }

    /* 2. DAYS days of 10 s profiles */
    snprintf(path, sizeof(path), "%s/data", dir);
    store_opts_default(&o);
    o.data_dir = path;
    o.background = 0;
    o.fsync = 0;
    o.retention_ns = 0;
    o.clock = bench_clock;
    int64_t start = 1700000000LL * SEC - (1700000000LL * SEC) % (86400 * SEC); /* a midnight */
    fake_now = start;
    if (store_open(&s, &o))
        return 1;
    int64_t n10 = (int64_t)days * 8640;
    uint64_t gz_total = 0, samples_total = 0, head_peak = 0;
    double head_per_sample = 0;
    t0 = time_mono_ns();
    for (int64_t i = 0; i < n10; i++) {
        struct file *f = &files[i % (int64_t)nf];
        int64_t t = start + i * 10 * SEC + (int64_t)(rnd() % 1000) * 1000000;
        for (size_t k = 0; k < f->b.profiles.len; k++) {
            struct profile *p = &f->b.profiles.data[k];
            p->time_ns = t;
            p->duration_ns = 10 * SEC;
            for (size_t j = 0; j < p->samples.len; j++) {
                int64_t v = p->samples.data[j].value;
                v = v + (int64_t)(rnd() % 5) - 2;
                p->samples.data[j].value = v > 0 ? v : 1;
                samples_total++;
            }
        }
        gz_total += f->gzlen;
        fake_now = t;
        if (store_append(s, NULL, &f->b))
            return 1;
        if (i == 355) { /* the head just before its first cut (1 h of data) */
            struct store_stats st;
            store_get_stats(s, &st);
            head_per_sample = (double)st.head_bytes / (double)st.samples;
            head_peak = st.head_bytes;
        }
    }
    double dtl = (double)(time_mono_ns() - t0) / 1e9;
    store_flush(s);
    fake_now = start + (int64_t)(days + 1) * 86400 * SEC + 7200 * SEC;
    t0 = time_mono_ns();
    store_maintain(s);
    double dtc = (double)(time_mono_ns() - t0) / 1e9;
    struct store_stats st;
    store_get_stats(s, &st);
    snprintf(path, sizeof(path), "%s/data/blocks", dir);
    uint64_t disk = dir_bytes(path);
    printf("data_profiles %llu profiles, %llu samples, loaded in %.1f s (fsync off)\n",
           (unsigned long long)st.profiles, (unsigned long long)samples_total, dtl);
    printf("head_bytes_per_sample %.1f bytes (target <= 20; head %.1f MiB at 1 h)\n",
           head_per_sample, head_peak / 1048576.0);
    printf("compaction_seconds %.1f s (%llu level-2 blocks, %llu level-1 left)\n", dtc,
           (unsigned long long)st.blocks[2], (unsigned long long)st.blocks[1]);
    printf("disk_bytes %llu bytes; gzip pprof bytes ingested %llu\n", (unsigned long long)disk,
           (unsigned long long)gz_total);
    printf("disk_vs_gzip %.3f (target <= 0.10)\n", (double)disk / (double)gz_total);
    store_close(s);

    /* 3. queries, after a restart (cold: nothing decoded yet) */
    snprintf(path, sizeof(path), "%s/data", dir);
    if (store_open(&s, &o))
        return 1;
    struct selector sel;
    char err[128];
    if (selector_parse(&sel, "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"bench\"}",
                       err, sizeof(err)))
        return 1;
    int64_t end = start + n10 * 10 * SEC - 3 * SEC; /* not on a minute: raw edges */
    const int64_t ranges[] = {3600 * SEC, 86400 * SEC, (int64_t)days * 86400 * SEC};
    const char *names[] = {"1h", "1d", "all"};
    for (int r = 0; r < 3; r++) {
        struct store_query q = {NULL, &sel, end - ranges[r], end};
        int64_t lat[6];
        size_t nstacks = 0;
        int64_t total = 0;
        for (int k = 0; k < 6; k++) {
            struct stackset ss;
            stackset_init(&ss);
            int64_t a = time_mono_ns();
            store_merge(s, &q, &ss);
            lat[k] = time_mono_ns() - a;
            nstacks = ss.samples.len;
            total = ss.total;
            stackset_release(&ss);
        }
        qsort(lat + 1, 5, sizeof(int64_t), cmp_i64);
        int64_t tv[1200] = {0};
        int64_t step = ranges[r] / 1000;
        int64_t a = time_mono_ns();
        store_totals(s, &q, step, tv, 1000);
        int64_t lt = time_mono_ns() - a;
        printf("merge_%s cold %.1f ms, warm %.1f ms (%zu stacks, total %lld)\n", names[r],
               lat[0] / 1e6, lat[3] / 1e6, nstacks, (long long)total);
        printf("totals_%s %.1f ms (1000 steps)\n", names[r], lt / 1e6);
    }
    selector_release(&sel);
    store_close(s);
    labels_release(&l);
    for (size_t i = 0; i < nf; i++) {
        free(files[i].gz);
        batch_release(&files[i].b);
    }
    free(files);
    return 0;
}
