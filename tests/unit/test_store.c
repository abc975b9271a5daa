/* test_store.c - local store: append and queries, restart, torn WAL tails, I/O faults, tenants,
 * threads */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "profile/profile.h"
#include "profile/selector.h"
#include "store/io.h"
#include "store/store.h"
#include "store/wal.h"
#include "test.h"

#define PT_CPU  "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define PT_WALL "wall:wall:nanoseconds:cpu:nanoseconds"
#define SEC     1000000000LL
#define T0      (1700000000LL * SEC)

/* Adds a profile of service/type at t with samples given as folded text "a;b 10\na;c 5". */
static void add_prof(struct profile_batch *b, const char *service, const char *type, int64_t t,
                     const char *folded)
{
    struct profile *p = batch_add(b);
    labels_set(&p->labels, LABEL_SERVICE_NAME, service);
    labels_set(&p->labels, LABEL_PROFILE_TYPE, type);
    labels_setn(&p->labels, LABEL_NAME, strlen(LABEL_NAME), type, strcspn(type, ":"));
    p->time_ns = t;
    p->duration_ns = 10 * SEC;
    const char *s = folded;
    while (*s) {
        const char *eol = strchr(s, '\n');
        if (!eol)
            eol = s + strlen(s);
        const char *sp = eol;
        while (sp > s && sp[-1] != ' ')
            sp--;
        uint32_t frames[64];
        size_t n = 0;
        const char *f = s;
        while (f < sp - 1) {
            const char *e = memchr(f, ';', (size_t)(sp - 1 - f));
            if (!e)
                e = sp - 1;
            char name[128];
            snprintf(name, sizeof(name), "%.*s", (int)(e - f), f);
            frames[n++] = symtab_frame_str(&b->sym, name, "file.c", 1, NULL, 0);
            f = e + 1;
        }
        profile_add(p, symtab_stack(&b->sym, frames, n), strtoll(sp, NULL, 10));
        s = *eol ? eol + 1 : eol;
    }
    profile_compact(p);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Renders a stackset as sorted folded lines (frame names root first), for comparisons. */
static char *folded(const struct stackset *ss)
{
    char **lines = calloc(ss->samples.len + 1, sizeof(char *));
    struct buf out = BUF_INIT;
    buf_append(&out, "", 0); /* buf_detach() of an untouched buf is not NUL-terminated */
    for (size_t i = 0; i < ss->samples.len; i++) {
        uint32_t fr[64];
        size_t d = symtab_unwind(&ss->sym, ss->samples.data[i].stack, fr, 64);
        struct buf l = BUF_INIT;
        for (size_t j = d; j-- > 0;) {
            buf_puts(&l, symtab_str(&ss->sym, symtab_get_frame(&ss->sym, fr[j])->name));
            if (j)
                buf_putc(&l, ';');
        }
        buf_printf(&l, " %lld", (long long)ss->samples.data[i].value);
        lines[i] = buf_detach(&l, NULL);
    }
    qsort(lines, ss->samples.len, sizeof(char *), cmp_line);
    for (size_t i = 0; i < ss->samples.len; i++) {
        if (i)
            buf_putc(&out, '\n');
        buf_puts(&out, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return buf_detach(&out, NULL);
}

/* Merges tenant's series matching selector text sel over [from, until) into folded text. */
static char *merge(struct store *s, const char *tenant, const char *sel_text, int64_t from,
                   int64_t until, int64_t *total)
{
    struct selector sel;
    char err[128];
    struct store_query q = {tenant, NULL, from, until};
    if (sel_text) {
        if (selector_parse(&sel, sel_text, err, sizeof(err)))
            TEST_FAIL_("selector %s: %s", sel_text, err);
        q.sel = &sel;
    }
    struct stackset ss;
    stackset_init(&ss);
    ASSERT_OK(store_merge(s, &q, &ss));
    char *r = folded(&ss);
    if (total)
        *total = ss.total;
    stackset_release(&ss);
    if (sel_text)
        selector_release(&sel);
    return r;
}

static struct store *open_store(const char *dir, uint64_t seg_bytes)
{
    struct store_opts o;
    struct store *s;
    store_opts_default(&o);
    o.data_dir = dir;
    o.wal_segment_bytes = seg_bytes;
    ASSERT_OK(store_open(&s, &o));
    return s;
}

/* Appends one profile for service at t with the given folded samples. */
static int append1(struct store *s, const char *tenant, const char *service, int64_t t,
                   const char *f)
{
    struct profile_batch b;
    batch_init(&b);
    add_prof(&b, service, PT_CPU, t, f);
    int r = store_append(s, tenant, &b);
    batch_release(&b);
    return r;
}

#define ASSERT_MERGE(s, tenant, sel, want)                                                         \
    do {                                                                                           \
        char *got_ = merge(s, tenant, sel, 0, INT64_MAX, NULL);                                    \
        ASSERT_STREQ(got_, want);                                                                  \
        free(got_);                                                                                \
    } while (0)

static int collect_series(const struct labels *l, void *arg)
{
    struct buf *b = arg;
    labels_format(l, b);
    buf_putc(b, '\n');
    return 0;
}

static char *wal_file(const char *dir, int which)
{
    char wdir[512];
    snprintf(wdir, sizeof(wdir), "%s/wal", dir);
    char **names;
    size_t n;
    ASSERT_OK(io_list(wdir, ".wal", &names, &n));
    ASSERT(n > 0);
    size_t k = which < 0 ? n + (size_t)which : (size_t)which;
    char *r = xasprintf("%s/%s", wdir, names[k]);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return r;
}

static off_t file_size(const char *path)
{
    struct stat st;
    ASSERT_OK(stat(path, &st));
    return st.st_size;
}

TEST(store_append_and_query)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    struct profile_batch b;
    batch_init(&b);
    add_prof(&b, "api", PT_CPU, T0, "main;work;calc 30\nmain;idle 10");
    add_prof(&b, "api", PT_CPU, T0 + 10 * SEC, "main;work;calc 5\nmain;work 1");
    add_prof(&b, "db", PT_CPU, T0 + 5 * SEC, "main;query 7");
    add_prof(&b, "db", PT_WALL, T0 + 5 * SEC, "main;sleep 100");
    ASSERT_OK(store_append(s, "t1", &b));
    batch_release(&b);

    int64_t total;
    char *got = merge(s, "t1", PT_CPU "{service_name=\"api\"}", 0, INT64_MAX, &total);
    ASSERT_STREQ(got, "main;idle 10\nmain;work 1\nmain;work;calc 35");
    ASSERT_EQ(total, 46);
    free(got);
    ASSERT_MERGE(s, "t1", PT_CPU, "main;idle 10\nmain;query 7\nmain;work 1\nmain;work;calc 35");
    ASSERT_MERGE(s, "t1", "{service_name=~\"d.*\"}", "main;query 7\nmain;sleep 100");
    ASSERT_MERGE(s, "t1", "{service_name!=\"api\", __name__=\"wall\"}", "main;sleep 100");
    ASSERT_MERGE(s, "t1", "{service_name=\"nope\"}", "");
    /* time range is [from, until) on profile time */
    got = merge(s, "t1", PT_CPU, T0 + 5 * SEC, T0 + 10 * SEC, NULL);
    ASSERT_STREQ(got, "main;query 7");
    free(got);

    int64_t v[3] = {0};
    struct store_query q = {"t1", NULL, T0, T0 + 15 * SEC};
    ASSERT_OK(store_totals(s, &q, 5 * SEC, v, 3));
    ASSERT_EQ(v[0], 40);
    ASSERT_EQ(v[1], 107);
    ASSERT_EQ(v[2], 6);

    struct strlist l = {0};
    ASSERT_OK(store_label_names(s, &q, &l));
    ASSERT_EQ(l.n, 3);
    ASSERT_STREQ(l.v[0], "__name__");
    ASSERT_STREQ(l.v[1], "__profile_type__");
    ASSERT_STREQ(l.v[2], "service_name");
    strlist_release(&l);
    ASSERT_OK(store_label_values(s, &q, "service_name", &l));
    ASSERT_EQ(l.n, 2);
    ASSERT_STREQ(l.v[0], "api");
    ASSERT_STREQ(l.v[1], "db");
    strlist_release(&l);
    /* only series with data in the range count */
    struct store_query q2 = {"t1", NULL, T0 + 6 * SEC, T0 + 8 * SEC};
    ASSERT_OK(store_label_values(s, &q2, "service_name", &l));
    ASSERT_EQ(l.n, 0);
    strlist_release(&l);

    struct buf sb = BUF_INIT;
    ASSERT_OK(store_series(s, &q, collect_series, &sb));
    ASSERT_STREQ(sb.data,
                 "{__name__=\"process_cpu\",__profile_type__=\"" PT_CPU "\",service_name=\"api\"}\n"
                 "{__name__=\"process_cpu\",__profile_type__=\"" PT_CPU "\",service_name=\"db\"}\n"
                 "{__name__=\"wall\",__profile_type__=\"" PT_WALL "\",service_name=\"db\"}\n");
    buf_release(&sb);

    struct store_stats st;
    store_get_stats(s, &st);
    ASSERT_EQ(st.series, 3);
    ASSERT_EQ(st.profiles, 4);
    ASSERT_EQ(st.samples, 6);
    ASSERT(st.bytes_on_disk > WAL_SEG_HDR);
    ASSERT(st.head_bytes > 0);
    store_close(s);
    free(dir);
}

TEST(store_rejects_invalid_batches)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    struct profile_batch b;
    batch_init(&b);
    struct profile *p = batch_add(&b);
    labels_set(&p->labels, LABEL_SERVICE_NAME, "x"); /* no __profile_type__ */
    profile_add(p, 0, 1);
    ASSERT_EQ(store_append(s, "t", &b), -EMBER_EINVAL_INPUT);
    labels_set(&p->labels, LABEL_PROFILE_TYPE, PT_CPU);
    profile_add(p, 999, 1); /* no such stack */
    ASSERT_EQ(store_append(s, "t", &b), -EMBER_EINVAL_INPUT);
    batch_release(&b);
    struct store_stats st;
    store_get_stats(s, &st);
    ASSERT_EQ(st.profiles, 0);
    store_close(s);
    free(dir);
}

TEST(store_restart_keeps_data)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "main;a 1\nmain;b 2"));
    ASSERT_OK(append1(s, "t", "api", T0 + SEC, "main;a 10"));
    store_close(s);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "main;a 11\nmain;b 2");
    ASSERT_OK(append1(s, "t", "web", T0, "x 5"));
    store_close(s);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "main;a 11\nmain;b 2\nx 5");
    struct store_stats st;
    store_get_stats(s, &st);
    ASSERT_EQ(st.profiles, 3);
    ASSERT_EQ(st.series, 2);
    store_close(s);
    free(dir);
}

TEST(store_second_open_is_refused)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0), *s2 = NULL;
    struct store_opts o;
    store_opts_default(&o);
    o.data_dir = dir;
    ASSERT_EQ(store_open(&s2, &o), -EWOULDBLOCK);
    ASSERT(s2 == NULL);
    store_close(s);
    free(dir);
}

TEST(store_wal_rotates_segments)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 4096);
    char f[64];
    for (int i = 0; i < 200; i++) {
        snprintf(f, sizeof(f), "main;fn%d 1", i % 20);
        ASSERT_OK(append1(s, "t", "api", T0 + i * SEC, f));
    }
    store_close(s);
    char wdir[512];
    snprintf(wdir, sizeof(wdir), "%s/wal", dir);
    char **names;
    size_t n;
    ASSERT_OK(io_list(wdir, ".wal", &names, &n));
    ASSERT(n > 3);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    s = open_store(dir, 4096);
    int64_t total;
    free(merge(s, "t", NULL, 0, INT64_MAX, &total));
    ASSERT_EQ(total, 200);
    store_close(s);
    free(dir);
}

TEST(store_torn_tail_is_cut)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "a 1"));
    char *wal = wal_file(dir, -1);
    off_t good1 = file_size(wal);
    ASSERT_OK(append1(s, "t", "api", T0, "b 2"));
    off_t good2 = file_size(wal);
    ASSERT_OK(append1(s, "t", "api", T0, "c 4"));
    off_t end = file_size(wal);
    store_close(s);

    /* a crash mid-write: the last record is cut short */
    ASSERT_OK(truncate(wal, end - 3));
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "a 1\nb 2");
    ASSERT_EQ(file_size(wal), good2);
    store_close(s);

    /* a flipped byte in the second record's payload: replay stops at the last good record */
    int fd = open(wal, O_RDWR);
    ASSERT(fd >= 0);
    char c;
    ASSERT_EQ(pread(fd, &c, 1, good2 - 2), 1);
    c ^= 0x40;
    ASSERT_EQ(pwrite(fd, &c, 1, good2 - 2), 1);
    close(fd);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "a 1");
    ASSERT_EQ(file_size(wal), good1);
    /* the store keeps working after the repair, and survives another restart */
    ASSERT_OK(append1(s, "t", "api", T0, "d 8"));
    store_close(s);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "a 1\nd 8");
    store_close(s);

    /* garbage that is not even a header: the segment is dropped, the rest is kept */
    free(wal);
    wal = xasprintf("%s/wal/ffffffffffffff00.wal", dir);
    fd = open(wal, O_WRONLY | O_CREAT, 0644);
    ASSERT_EQ(write(fd, "EMB", 3), 3);
    close(fd);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "a 1\nd 8");
    ASSERT(access(wal, F_OK) != 0);
    store_close(s);
    free(wal);
    free(dir);
}

TEST(store_fsync_failure_stores_nothing)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "kept 1"));
    struct io_fault f = {IO_MASK(IO_FSYNC), 1, EIO, 0, 0};
    io_fault_set(&f);
    ASSERT_EQ(append1(s, "t", "api", T0, "lost 2"), -EIO);
    ASSERT_EQ(io_fault_hits(), 1);
    io_fault_clear();
    /* not visible now... */
    ASSERT_MERGE(s, "t", NULL, "kept 1");
    /* ...the store keeps accepting data... */
    ASSERT_OK(append1(s, "t", "api", T0, "after 4"));
    store_close(s);
    /* ...and the failed batch does not come back with the replay */
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "after 4\nkept 1");
    store_close(s);
    free(dir);
}

TEST(store_write_failures_store_nothing)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "kept 1"));
    /* a short write followed by ENOSPC: the half record is removed again */
    struct io_fault f = {IO_MASK(IO_PWRITE), 1, ENOSPC, 1, 1};
    io_fault_set(&f);
    ASSERT_EQ(append1(s, "t", "api", T0, "lost 2"), -ENOSPC);
    io_fault_clear();
    ASSERT_OK(append1(s, "t", "api", T0, "after 4"));
    /* a write failing and the clean-up failing too: the next append moves to a new segment */
    struct io_fault f2 = {IO_MASK(IO_PWRITE) | IO_MASK(IO_FTRUNCATE), 1, EIO, 1, 1};
    io_fault_set(&f2);
    ASSERT_EQ(append1(s, "t", "api", T0, "lost 8"), -EIO);
    io_fault_clear();
    ASSERT_OK(append1(s, "t", "api", T0, "new 16"));
    ASSERT_MERGE(s, "t", NULL, "after 4\nkept 1\nnew 16");
    store_close(s);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "after 4\nkept 1\nnew 16");
    store_close(s);
    free(dir);
}

TEST(store_every_io_failure_is_clean)
{
    /* fail each I/O call of an append in turn: the append fails or succeeds, never half */
    char *dir = strdup(tmp_path("data"));
    int64_t want = 1;
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "x 1"));
    for (unsigned long nth = 1; nth <= 6; nth++) {
        struct io_fault f = {IO_MASK_ALL, nth, EIO, 0, 0};
        io_fault_set(&f);
        int r = append1(s, "t", "api", T0, "x 2");
        unsigned long hits = io_fault_hits();
        io_fault_clear();
        ASSERT(r == 0 || r == -EIO);
        ASSERT(r == 0 || hits == 1);
        want += r == 0 ? 2 : 0;
        int64_t total;
        free(merge(s, "t", NULL, 0, INT64_MAX, &total));
        ASSERT_EQ(total, want);
    }
    store_close(s);
    s = open_store(dir, 0);
    int64_t total;
    free(merge(s, "t", NULL, 0, INT64_MAX, &total));
    ASSERT_EQ(total, want);
    store_close(s);
    free(dir);
}

TEST(store_tenants_isolated)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "alpha", "api", T0, "a 1"));
    ASSERT_OK(append1(s, "beta", "api", T0, "b 2"));
    ASSERT_OK(append1(s, NULL, "api", T0, "anon 3"));
    for (int pass = 0; pass < 2; pass++) {
        ASSERT_MERGE(s, "alpha", NULL, "a 1");
        ASSERT_MERGE(s, "beta", NULL, "b 2");
        ASSERT_MERGE(s, "anonymous", NULL, "anon 3");
        ASSERT_MERGE(s, "gamma", NULL, "");
        struct strlist l = {0};
        struct store_query q = {"gamma", NULL, 0, INT64_MAX};
        ASSERT_OK(store_label_names(s, &q, &l));
        ASSERT_EQ(l.n, 0);
        store_close(s);
        s = open_store(dir, 0);
    }
    store_close(s);
    free(dir);
}

struct appender {
    struct store *s;
    int id, n, failures;
};

static void *append_thread(void *arg)
{
    struct appender *a = arg;
    char f[64];
    for (int i = 0; i < a->n; i++) {
        snprintf(f, sizeof(f), "main;t%d 1\nmain;shared %d", a->id, i + 1);
        if (append1(a->s, "t", "api", T0 + i * SEC, f))
            a->failures++;
    }
    return NULL;
}

TEST(store_concurrent_appenders)
{
    enum { NTHREADS = 6, PER = 40 };
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    pthread_t th[NTHREADS];
    struct appender a[NTHREADS];
    unsigned long syncs0 = io_calls(IO_FSYNC);
    for (int i = 0; i < NTHREADS; i++) {
        a[i] = (struct appender){s, i, PER, 0};
        ASSERT_OK(pthread_create(&th[i], NULL, append_thread, &a[i]));
    }
    for (int i = 0; i < NTHREADS; i++) {
        ASSERT_OK(pthread_join(th[i], NULL));
        ASSERT_EQ(a[i].failures, 0);
    }
    unsigned long syncs = io_calls(IO_FSYNC) - syncs0;
    ASSERT(syncs <= NTHREADS * PER);
    fprintf(stderr, "  %d appends, %lu fsyncs\n", NTHREADS * PER, syncs);
    int64_t want_shared = NTHREADS * (PER * (PER + 1) / 2);
    char want[512];
    struct buf w = BUF_INIT;
    buf_printf(&w, "main;shared %lld", (long long)want_shared);
    for (int i = 0; i < NTHREADS; i++)
        buf_printf(&w, "\nmain;t%d %d", i, PER);
    snprintf(want, sizeof(want), "%s", w.data);
    buf_release(&w);
    ASSERT_MERGE(s, "t", NULL, want);
    store_close(s);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, want);
    struct store_stats st;
    store_get_stats(s, &st);
    ASSERT_EQ(st.profiles, NTHREADS * PER);
    ASSERT_EQ(st.wal_records, NTHREADS * PER);
    store_close(s);
    free(dir);
}

/* An fdatasync that takes 300 ms, to show that queries do not wait for it. */
static int slow_fdatasync(int fd)
{
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    return fdatasync(fd);
}

static void *slow_append(void *arg)
{
    struct appender *a = arg;
    a->failures = append1(a->s, "t", "api", T0, "slow 2") != 0;
    return NULL;
}

TEST(store_queries_do_not_wait_for_fsync)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "fast 1"));
    struct io_ops slow = *io_get_ops();
    slow.fdatasync = slow_fdatasync;
    io_set_ops(&slow);
    struct appender a = {s, 0, 1, 0};
    pthread_t th;
    int64_t t0 = time_mono_ns();
    ASSERT_OK(pthread_create(&th, NULL, slow_append, &a));
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL); /* the appender is now inside its fsync */
    ASSERT_MERGE(s, "t", NULL, "fast 1");
    int64_t dt = time_mono_ns() - t0;
    ASSERT_LT(dt, 250 * 1000000LL);
    ASSERT_OK(pthread_join(th, NULL));
    ASSERT_EQ(a.failures, 0);
    ASSERT(time_mono_ns() - t0 >= 300 * 1000000LL);
    io_set_ops(NULL);
    ASSERT_MERGE(s, "t", NULL, "fast 1\nslow 2");
    store_close(s);
    free(dir);
}

static int skip_payload(const uint8_t *p, size_t n, void *arg)
{
    (void)p;
    (void)n;
    (void)arg;
    return 0;
}

TEST(store_replay_skips_invalid_records)
{
    /* a record with a good checksum but a payload that is not a valid batch is skipped */
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "a 1"));
    store_close(s);
    char *wdir = xasprintf("%s/wal", dir);
    struct wal w;
    ASSERT_OK(wal_open(&w, wdir, 0, 1, skip_payload, NULL));
    uint8_t rec[WAL_REC_HDR + 4] = {0};
    memcpy(rec + WAL_REC_HDR, "\x01\x01t\x05", 4); /* a tenant, then 5 strings that are missing */
    ASSERT_OK(wal_append(&w, rec, sizeof(rec)));
    wal_close(&w);
    s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "b 2"));
    store_close(s);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "a 1\nb 2");
    store_close(s);
    free(wdir);
    free(dir);
}

TEST(store_survives_random_wal_damage)
{
    /* flip one byte anywhere in the log: opening never fails, and what remains is a prefix */
    char *dir = strdup(tmp_path("data"));
    struct store_opts o;
    store_opts_default(&o);
    o.data_dir = dir;
    o.fsync = 0;
    struct store *s;
    ASSERT_OK(store_open(&s, &o));
    for (int i = 0; i < 8; i++) {
        char f[32];
        snprintf(f, sizeof(f), "main;f%d %d", i, 1 << i);
        ASSERT_OK(append1(s, "t", i % 2 ? "api" : "db", T0 + i * SEC, f));
    }
    store_close(s);
    char *wal = wal_file(dir, 0);
    size_t n;
    char *orig = test_read_file(wal, &n);
    ASSERT(orig != NULL);
    srand(7);
    log_set_level(LOG_ERROR + 1);
    for (int iter = 0; iter < 60; iter++) {
        char *copy = malloc(n);
        memcpy(copy, orig, n);
        copy[(size_t)rand() % n] ^= (char)(1 + rand() % 255);
        FILE *fp = fopen(wal, "wb");
        ASSERT(fp && fwrite(copy, 1, n, fp) == n);
        fclose(fp);
        free(copy);
        ASSERT_OK(store_open(&s, &o));
        int64_t total;
        free(merge(s, "t", NULL, 0, INT64_MAX, &total));
        ASSERT((total & (total + 1)) == 0); /* 2^k - 1: the first k records */
        store_close(s);
    }
    log_set_level(LOG_INFO);
    free(orig);
    free(wal);
    free(dir);
}
