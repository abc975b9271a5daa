/* metrics.c - lock-free counters and histograms, rendered in the Prometheus text format */
#include "metrics.h"

#include <stdio.h>
#include <unistd.h>

#include "base/buf.h"
#include "store/store.h"

static const char *const route_names[ROUTE_MAX] = {
#define X(id, name) name,
    METRICS_ROUTES(X)
#undef X
};

static const char *const reason_names[REJECT_MAX] = {
#define X(id, name) name,
    METRICS_REASONS(X)
#undef X
};

/* Status codes with their own series; anything else is counted under its class ("5xx"). */
static const int codes[] = {200, 204, 400, 404, 405, 408, 413, 415, 422, 429, 500, 503};
#define NCODES      (sizeof(codes) / sizeof(codes[0]))
#define NCODE_SLOTS (NCODES + 5) /* + 1xx..5xx classes */

/* Histogram bucket upper bounds in seconds. */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25,  0.5,    1,     2.5,  5,     10};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static struct {
    uint64_t requests[ROUTE_MAX][NCODE_SLOTS];
    uint64_t buckets[ROUTE_MAX][NBOUNDS + 1]; /* not cumulative; last = +Inf only */
    uint64_t dur_sum_ns[ROUTE_MAX];
    uint64_t ingest_bytes, ingest_profiles, ingest_samples;
    uint64_t rejected[REJECT_MAX];
} m;

static void add(uint64_t *c, uint64_t v)
{
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static size_t code_slot(int status)
{
    for (size_t i = 0; i < NCODES; i++) {
        if (codes[i] == status)
            return i;
    }
    int cls = status / 100;
    if (cls < 1 || cls > 5)
        cls = 5;
    return NCODES + (size_t)cls - 1;
}

void metrics_request(enum route_id route, int status, int64_t duration_ns)
{
    size_t b = 0;
    double s;

    if ((unsigned)route >= ROUTE_MAX)
        route = ROUTE_OTHER;
    if (duration_ns < 0)
        duration_ns = 0;
    s = (double)duration_ns / 1e9;
    while (b < NBOUNDS && s > bounds[b])
        b++;
    add(&m.requests[route][code_slot(status)], 1);
    add(&m.buckets[route][b], 1);
    add(&m.dur_sum_ns[route], (uint64_t)duration_ns);
}

void metrics_ingest(uint64_t bytes, uint64_t profiles, uint64_t samples)
{
    add(&m.ingest_bytes, bytes);
    add(&m.ingest_profiles, profiles);
    add(&m.ingest_samples, samples);
}

void metrics_rejected(enum reject_reason reason)
{
    if ((unsigned)reason < REJECT_MAX)
        add(&m.rejected[reason], 1);
}

static void header(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint64_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void write_requests(struct buf *out)
{
    header(out, "ember_http_requests_total", "counter", "HTTP requests by route and status code.");
    for (size_t r = 0; r < ROUTE_MAX; r++) {
        for (size_t c = 0; c < NCODE_SLOTS; c++) {
            uint64_t v = load(&m.requests[r][c]);
            if (!v)
                continue;
            if (c < NCODES)
                buf_printf(out, "ember_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                           route_names[r], codes[c], (unsigned long long)v);
            else
                buf_printf(out, "ember_http_requests_total{route=\"%s\",code=\"%zuxx\"} %llu\n",
                           route_names[r], c - NCODES + 1, (unsigned long long)v);
        }
    }
    header(out, "ember_http_request_duration_seconds", "histogram",
           "Time from the first byte of a request to its response, by route.");
    for (size_t r = 0; r < ROUTE_MAX; r++) {
        uint64_t cum = 0;
        for (size_t b = 0; b <= NBOUNDS; b++)
            cum += load(&m.buckets[r][b]);
        if (!cum)
            continue;
        cum = 0;
        for (size_t b = 0; b < NBOUNDS; b++) {
            cum += load(&m.buckets[r][b]);
            buf_printf(out,
                       "ember_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                       route_names[r], bounds[b], (unsigned long long)cum);
        }
        cum += load(&m.buckets[r][NBOUNDS]);
        buf_printf(out,
                   "ember_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                   route_names[r], (unsigned long long)cum);
        buf_printf(out, "ember_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n",
                   route_names[r], (double)load(&m.dur_sum_ns[r]) / 1e9);
        buf_printf(out, "ember_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                   route_names[r], (unsigned long long)cum);
    }
}

void metrics_write(struct buf *out, struct store *st)
{
    write_requests(out);
    header(out, "ember_ingest_bytes_total", "counter",
           "Request body bytes of accepted ingest requests.");
    buf_printf(out, "ember_ingest_bytes_total %llu\n", (unsigned long long)load(&m.ingest_bytes));
    header(out, "ember_ingest_profiles_total", "counter", "Profiles stored.");
    buf_printf(out, "ember_ingest_profiles_total %llu\n",
               (unsigned long long)load(&m.ingest_profiles));
    header(out, "ember_ingest_samples_total", "counter", "Samples stored.");
    buf_printf(out, "ember_ingest_samples_total %llu\n",
               (unsigned long long)load(&m.ingest_samples));
    header(out, "ember_ingest_rejected_total", "counter", "Rejected ingest requests by reason.");
    for (size_t i = 0; i < REJECT_MAX; i++)
        buf_printf(out, "ember_ingest_rejected_total{reason=\"%s\"} %llu\n", reason_names[i],
                   (unsigned long long)load(&m.rejected[i]));
    if (st) {
        struct store_stats ss = {0};
        store_get_stats(st, &ss);
        header(out, "ember_store_series", "gauge", "Series in the store.");
        buf_printf(out, "ember_store_series %llu\n", (unsigned long long)ss.series);
        header(out, "ember_store_profiles", "gauge", "Profiles in the store.");
        buf_printf(out, "ember_store_profiles %llu\n", (unsigned long long)ss.profiles);
        header(out, "ember_store_samples", "gauge", "Samples in the store.");
        buf_printf(out, "ember_store_samples %llu\n", (unsigned long long)ss.samples);
        header(out, "ember_store_bytes_on_disk", "gauge", "Bytes of the data directory.");
        buf_printf(out, "ember_store_bytes_on_disk %llu\n", (unsigned long long)ss.bytes_on_disk);
        header(out, "ember_store_head_bytes", "gauge", "Bytes held by the in-memory head.");
        buf_printf(out, "ember_store_head_bytes %llu\n", (unsigned long long)ss.head_bytes);
        header(out, "ember_store_blocks", "gauge",
               "Block files by level (0: heads being written).");
        for (int l = 0; l < STORE_LEVELS; l++)
            buf_printf(out, "ember_store_blocks{level=\"%d\"} %llu\n", l,
                       (unsigned long long)ss.blocks[l]);
        header(out, "ember_store_block_bytes", "gauge", "Bytes of block files by level.");
        for (int l = 1; l < STORE_LEVELS; l++)
            buf_printf(out, "ember_store_block_bytes{level=\"%d\"} %llu\n", l,
                       (unsigned long long)ss.block_bytes[l]);
        header(out, "ember_store_wal_bytes", "gauge", "Bytes of write-ahead log segments.");
        buf_printf(out, "ember_store_wal_bytes %llu\n", (unsigned long long)ss.wal_bytes);
        header(out, "ember_store_wal_fsyncs_total", "counter", "WAL fsyncs (group commits).");
        buf_printf(out, "ember_store_wal_fsyncs_total %llu\n", (unsigned long long)ss.wal_syncs);
        header(out, "ember_store_wal_fsync_seconds_total", "counter", "Time spent in WAL fsyncs.");
        buf_printf(out, "ember_store_wal_fsync_seconds_total %.6f\n",
                   (double)ss.wal_sync_ns_total / 1e9);
        header(out, "ember_store_wal_fsync_seconds_max", "gauge", "Slowest WAL fsync.");
        buf_printf(out, "ember_store_wal_fsync_seconds_max %.6f\n",
                   (double)ss.wal_sync_ns_max / 1e9);
        header(out, "ember_store_block_cache_bytes", "gauge",
               "Decoded block data held for queries.");
        buf_printf(out, "ember_store_block_cache_bytes %llu\n", (unsigned long long)ss.cache_bytes);
        header(out, "ember_store_maintenance_total", "counter",
               "Head cuts, compactions, blocks deleted by retention, maintenance errors.");
        buf_printf(out, "ember_store_maintenance_total{op=\"cut\"} %llu\n",
                   (unsigned long long)ss.cuts);
        buf_printf(out, "ember_store_maintenance_total{op=\"compaction\"} %llu\n",
                   (unsigned long long)ss.compactions);
        buf_printf(out, "ember_store_maintenance_total{op=\"retention_delete\"} %llu\n",
                   (unsigned long long)ss.blocks_deleted);
        buf_printf(out, "ember_store_maintenance_total{op=\"error\"} %llu\n",
                   (unsigned long long)ss.maintenance_errors);
    }
    header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    buf_printf(out, "process_resident_memory_bytes %llu\n", (unsigned long long)rss_bytes());
}
