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
#include "store/block.h"
#include "store/head.h"
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

static int64_t test_prealloc; /* opts.wal_prealloc_bytes of open_store() */

static struct store *open_store(const char *dir, uint64_t seg_bytes)
{
    struct store_opts o;
    struct store *s;
    store_opts_default(&o);
    o.data_dir = dir;
    o.wal_segment_bytes = seg_bytes;
    o.wal_prealloc_bytes = test_prealloc;
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
    /* record boundaries from file sizes while the store is open: no zero-filled room */
    test_prealloc = -1;
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
    test_prealloc = 0;
}

/* Copies file from to to (a crash image of a file the store has open). */
static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *d = test_read_file(from, &n);
    ASSERT(d != NULL);
    FILE *fp = fopen(to, "wb");
    ASSERT(fp && fwrite(d, 1, n, fp) == n);
    fclose(fp);
    free(d);
}

TEST(store_wal_preallocated_tail)
{
    /* a crash leaves the segment with its zero-filled room: replay ends there quietly */
    test_prealloc = 64 << 10;
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store(dir, 0);
    ASSERT_OK(append1(s, "t", "api", T0, "a 1"));
    ASSERT_OK(append1(s, "t", "api", T0, "b 2"));
    char *wal = wal_file(dir, -1);
    ASSERT(file_size(wal) >= 64 << 10);
    char *image = xasprintf("%s.image", wal);
    copy_file(wal, image);
    /* a record much larger than the room: the segment grows past it */
    struct buf big = BUF_INIT;
    for (int i = 0; i < 6000; i++)
        buf_printf(&big, "%smain;fn%d 1", i ? "\n" : "", i);
    ASSERT_OK(append1(s, "t", "api", T0, big.data));
    buf_release(&big);
    store_close(s);
    off_t closed = file_size(wal);
    ASSERT(closed > 4096);
    s = open_store(dir, 0);
    int64_t total;
    free(merge(s, "t", NULL, 0, INT64_MAX, &total));
    ASSERT_EQ(total, 3 + 6000);
    store_close(s);

    /* the crash image: two records and zeros */
    char *wal2 = wal_file(dir, 0);
    ASSERT(rename(image, wal2) == 0);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "a 1\nb 2");
    off_t trimmed = file_size(wal2);
    ASSERT(trimmed > 16 && trimmed < 4096);
    /* a torn second record inside the zeroed room: cut at the first */
    store_close(s);
    int fd = open(wal2, O_RDWR);
    ASSERT(fd >= 0);
    ASSERT_EQ(ftruncate(fd, 64 << 10), 0);
    char c = 0;
    ASSERT_EQ(pwrite(fd, &c, 1, trimmed - 1), 1); /* payload byte of "b 2" zeroed */
    close(fd);
    s = open_store(dir, 0);
    ASSERT_MERGE(s, "t", NULL, "a 1");
    store_close(s);
    free(wal);
    free(wal2);
    free(image);
    free(dir);
    test_prealloc = 0;
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

struct fail_appender {
    struct store *s;
    int id;
    int ok[30];
};

static void *fail_append_thread(void *arg)
{
    struct fail_appender *a = arg;
    char f[64];
    for (int i = 0; i < 30; i++) {
        snprintf(f, sizeof(f), "main;t%d_%d 1", a->id, i);
        int r = append1(a->s, "t", "api", T0 + i * SEC, f);
        ASSERT(r == 0 || r == -EIO);
        a->ok[i] = r == 0;
    }
    return NULL;
}

TEST(store_concurrent_syncs_with_failure)
{
    /* several fdatasyncs run at once; one fails: exactly the acknowledged appends survive
     * (180 appends from 6 threads need at least 30 syncs, so the 19th is reached) */
    enum { NTHREADS = 6 };
    for (unsigned long nth = 3; nth <= 19; nth += 8) {
        char name[32];
        snprintf(name, sizeof(name), "data%lu", nth);
        char *dir = strdup(tmp_path(name));
        struct store *s = open_store(dir, 0);
        struct fail_appender a[NTHREADS];
        pthread_t th[NTHREADS];
        struct io_fault f = {IO_MASK(IO_FSYNC), nth, EIO, 0, 0};
        log_set_level(LOG_ERROR + 1);
        io_fault_set(&f);
        for (int i = 0; i < NTHREADS; i++) {
            a[i] = (struct fail_appender){.s = s, .id = i};
            ASSERT_OK(pthread_create(&th[i], NULL, fail_append_thread, &a[i]));
        }
        for (int i = 0; i < NTHREADS; i++)
            ASSERT_OK(pthread_join(th[i], NULL));
        ASSERT_EQ(io_fault_hits(), 1);
        io_fault_clear();
        log_set_level(LOG_INFO);
        for (int pass = 0; pass < 2; pass++) {
            int64_t total;
            char *got = merge(s, "t", NULL, 0, INT64_MAX, &total);
            int64_t want = 0, failed = 0;
            for (int i = 0; i < NTHREADS; i++)
                for (int k = 0; k < 30; k++) {
                    char line[64];
                    snprintf(line, sizeof(line), "main;t%d_%d 1\n", i, k);
                    struct buf g = BUF_INIT;
                    buf_printf(&g, "%s\n", got);
                    if ((strstr(g.data, line) != NULL) != a[i].ok[k])
                        fprintf(stderr, "nth %lu pass %d: %s ok=%d in:\n%s\n", nth, pass, line,
                                a[i].ok[k], g.data);
                    ASSERT_EQ(strstr(g.data, line) != NULL, a[i].ok[k]);
                    buf_release(&g);
                    want += a[i].ok[k];
                    failed += !a[i].ok[k];
                }
            ASSERT_EQ(total, want);
            ASSERT(failed >= 1);
            free(got);
            store_close(s);
            s = open_store(dir, 0);
        }
        store_close(s);
        free(dir);
    }
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
    ASSERT_OK(wal_open(&w, wdir, 0, WAL_PREALLOC_DEFAULT, 1, skip_payload, NULL));
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

/* ---- blocks, checkpoints, rollups, compaction, retention ---- */

static int64_t fake_now = T0;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}

/* A store without the maintenance thread, on the fake clock. */
static int64_t test_span_ns, test_retention_ns;

static struct store *open_store2(const char *dir, uint64_t head_max_bytes, uint64_t retention_bytes)
{
    struct store_opts o;
    struct store *s;
    store_opts_default(&o);
    o.data_dir = dir;
    o.background = 0;
    o.head_max_bytes = head_max_bytes;
    o.retention_bytes = retention_bytes;
    o.clock = fake_clock;
    o.head_max_span_ns = test_span_ns;
    if (test_retention_ns)
        o.retention_ns = test_retention_ns;
    ASSERT_OK(store_open(&s, &o));
    return s;
}

static size_t count_files(const char *dir, const char *sub, const char *suffix)
{
    char p[512];
    char **names;
    size_t n;
    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    ASSERT_OK(io_list(p, suffix, &names, &n));
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return n;
}

/* Totals of tenant t1 (every series) over [from, from + n*step) as text. */
static char *totals_text(struct store *s, int64_t from, int64_t step, size_t n)
{
    int64_t v[512] = {0};
    struct store_query q = {"t1", NULL, from, from + (int64_t)n * step};
    ASSERT(n <= 512);
    ASSERT_OK(store_totals(s, &q, step, v, n));
    struct buf b = BUF_INIT;
    buf_puts(&b, "");
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%lld,", (long long)v[i]);
    return buf_detach(&b, NULL);
}

TEST(store_block_cut_and_restart)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store2(dir, 0, 0);
    ASSERT_OK(append1(s, "t1", "api", T0, "main;a 1\nmain;b 2"));
    ASSERT_OK(append1(s, "t1", "api", T0 + 10 * SEC, "main;a 10"));
    ASSERT_OK(append1(s, "t2", "db", T0 + 5 * SEC, "main;q 7"));
    char *before = merge(s, "t1", NULL, 0, INT64_MAX, NULL);
    ASSERT_STREQ(before, "main;a 11\nmain;b 2");
    ASSERT_OK(store_flush(s));
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 2); /* one per tenant */
    struct store_stats st;
    store_get_stats(s, &st);
    ASSERT_EQ(st.blocks[1], 2);
    ASSERT_EQ(st.profiles, 3);
    ASSERT_MERGE(s, "t1", NULL, "main;a 11\nmain;b 2");
    ASSERT_MERGE(s, "t2", NULL, "main;q 7");
    /* the checkpoint removed the covered segments: only the new, empty one is left */
    ASSERT_EQ(count_files(dir, "wal", ".wal"), 1);
    ASSERT_OK(append1(s, "t1", "api", T0 + 20 * SEC, "main;b 5\nmain;c 1"));
    ASSERT_MERGE(s, "t1", NULL, "main;a 11\nmain;b 7\nmain;c 1");
    struct buf ser = BUF_INIT;
    struct store_query q = {"t1", NULL, 0, INT64_MAX};
    ASSERT_OK(store_series(s, &q, collect_series, &ser)); /* in block and head: listed once */
    ASSERT_EQ(strchr(ser.data, '\n') + 1, ser.data + ser.len);
    buf_release(&ser);
    store_close(s);

    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 11\nmain;b 7\nmain;c 1");
    ASSERT_MERGE(s, "t2", NULL, "main;q 7");
    int64_t total;
    char *got = merge(s, "t1", NULL, T0 + 5 * SEC, T0 + 15 * SEC, &total);
    ASSERT_STREQ(got, "main;a 10");
    free(got);
    struct strlist l = {0};
    ASSERT_OK(store_label_values(s, &q, "service_name", &l));
    ASSERT_EQ(l.n, 1);
    ASSERT_STREQ(l.v[0], "api");
    strlist_release(&l);
    store_close(s);
    free(before);
    free(dir);
}

/* The only block file in dir/blocks (path owned). */
static char *only_block(const char *dir)
{
    char p[512];
    char **names;
    size_t n;
    snprintf(p, sizeof(p), "%s/blocks", dir);
    ASSERT_OK(io_list(p, ".blk", &names, &n));
    ASSERT_EQ(n, 1);
    char *r = xasprintf("%s/%s", p, names[0]);
    free(names[0]);
    free(names);
    return r;
}

static int64_t view_total(struct head *h)
{
    struct stackset ss;
    stackset_init(&ss);
    ASSERT_OK(head_merge(h, NULL, INT64_MIN, INT64_MAX, &ss));
    int64_t t = ss.total;
    stackset_release(&ss);
    return t;
}

TEST(store_block_raw_parts_and_totals)
{
    /* raw samples in one section per hour; totals in a section without samples */
    char *dir = strdup(tmp_path("data"));
    test_span_ns = 24 * 3600 * SEC;
    struct store *s = open_store2(dir, 0, 0);
    char f[64];
    for (int h = 0; h < 5; h++) {
        snprintf(f, sizeof(f), "main;h%d %d", h, 1 << h);
        ASSERT_OK(append1(s, "t1", "api", T0 + h * 3600 * SEC + 100 * SEC, f));
        ASSERT_OK(append1(s, "t1", "api", T0 + h * 3600 * SEC + 200 * SEC, f));
    }
    ASSERT_OK(store_flush(s));
    char *path = only_block(dir);
    struct block *b;
    ASSERT_OK(block_open(&b, path, 1));
    ASSERT_EQ(b->version, BLOCK_VERSION);
    ASSERT_EQ(b->nparts, 5);
    for (uint32_t i = 0; i < 5; i++) {
        int64_t t = T0 + (int64_t)i * 3600 * SEC + 100 * SEC;
        ASSERT(b->part_t[i][0] <= t && t <= b->part_t[i][1]);
        ASSERT_EQ(b->part_t[i][1] - b->part_t[i][0], BLOCK_PART_NS - 1);
        struct head *v = block_view_part(b, i);
        ASSERT(v != NULL);
        struct head_stats hs;
        head_get_stats(v, &hs);
        ASSERT_EQ(hs.profiles, 2);
        ASSERT_EQ(view_total(v), 2 << i);
    }
    struct head *tv = block_view_totals(b);
    ASSERT(tv != NULL);
    struct head_stats hs;
    head_get_stats(tv, &hs);
    ASSERT_EQ(hs.profiles, 10);
    ASSERT_EQ(hs.samples, 0);
    int64_t v[5] = {0};
    ASSERT_OK(head_totals(tv, NULL, T0, T0 + 5 * 3600 * SEC, T0, 3600 * SEC, v, 5));
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(v[i], 2 << i);
    ASSERT_EQ(view_total(block_view(b, RES_RAW)), 62);
    block_unref(b);
    /* through the store: an edge inside hour 3 reads only part 3; totals at any step */
    store_close(s);
    s = open_store2(dir, 0, 0);
    int64_t total;
    free(merge(s, "t1", NULL, T0 + 3 * 3600 * SEC + 150 * SEC, T0 + 3 * 3600 * SEC + 250 * SEC,
               &total));
    ASSERT_EQ(total, 8);
    struct store_stats st;
    store_get_stats(s, &st);
    uint64_t one_part = st.cache_bytes;
    free(merge(s, "t1", NULL, T0 + 150 * SEC, T0 + 4 * 3600 * SEC + 150 * SEC, &total));
    ASSERT_EQ(total, 1 + 2 * (2 + 4 + 8) + 16);
    store_get_stats(s, &st);
    ASSERT(one_part > 0 && st.cache_bytes > one_part);
    char *t = totals_text(s, T0 + 7 * SEC, 3600 * SEC + 7 * SEC, 5);
    ASSERT_STREQ(t, "2,4,8,16,32,");
    free(t);
    store_close(s);
    test_span_ns = 0;
    free(path);
    free(dir);
}

/*
 * Two version 1 block files (six sections, one RAW section, no TOTALS), as
 * the store wrote them before raw parts: tenant "anonymous", service api,
 * main;v1fn0 1 at T0, main;v1fn1 2 at T0 + 1 h, main;v1fn2 4 at T0 + 2 h.
 */
static const unsigned char v1_block1[563] = {
    0x45, 0x4d, 0x42, 0x45, 0x52, 0x42, 0x4c, 0x4b, 0x01, 0x00, 0x00, 0x00, 0xfd, 0xc0, 0xe4, 0x1c,
    0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x22, 0x11, 0x01, 0x00, 0x01, 0x80, 0x80, 0xd0, 0xe2, 0xc6, 0xbf,
    0xce, 0x97, 0x2f, 0x80, 0x80, 0x95, 0xee, 0x8c, 0x91, 0xd0, 0x97, 0x2f, 0x02, 0x01, 0x02, 0x02,
    0x09, 0x61, 0x6e, 0x6f, 0x6e, 0x79, 0x6d, 0x6f, 0x75, 0x73, 0x00, 0x28, 0xb5, 0x2f, 0xfd, 0x20,
    0x30, 0x81, 0x01, 0x00, 0x04, 0x04, 0x6d, 0x61, 0x69, 0x6e, 0x06, 0x66, 0x69, 0x6c, 0x65, 0x2e,
    0x63, 0x05, 0x76, 0x31, 0x66, 0x6e, 0x30, 0x05, 0x76, 0x31, 0x66, 0x6e, 0x31, 0x03, 0x01, 0x02,
    0x00, 0x01, 0x00, 0x03, 0x02, 0x00, 0x01, 0x00, 0x04, 0x02, 0x00, 0x01, 0x00, 0x03, 0x00, 0x01,
    0x01, 0x02, 0x01, 0x03, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x79, 0xe5, 0x02, 0x00, 0x92, 0x85, 0x13,
    0x19, 0x90, 0x29, 0x6d, 0x00, 0xd6, 0x08, 0x85, 0xc8, 0xd6, 0x02, 0xdb, 0x9d, 0x8c, 0xdd, 0xa7,
    0x5e, 0x76, 0xbd, 0x90, 0xfe, 0x6b, 0x4d, 0x84, 0xb6, 0x0c, 0x65, 0x86, 0x29, 0xbb, 0x52, 0x66,
    0x75, 0x86, 0xb9, 0x62, 0x75, 0x86, 0xf8, 0x5c, 0x22, 0x52, 0xa4, 0x6c, 0x41, 0x17, 0x74, 0x31,
    0x7b, 0xf5, 0x28, 0x92, 0x30, 0x22, 0x84, 0x3f, 0x79, 0x91, 0x78, 0x1e, 0x90, 0x61, 0x13, 0xff,
    0x83, 0x84, 0xf1, 0xdd, 0x89, 0x9b, 0x38, 0xf0, 0x27, 0xe2, 0xe8, 0x0f, 0x38, 0x02, 0x03, 0x00,
    0x5b, 0x10, 0xb8, 0x99, 0x68, 0x01, 0x18, 0xaa, 0x0c, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x25, 0x29,
    0x01, 0x00, 0x02, 0x80, 0x80, 0xd0, 0xe2, 0xc6, 0xbf, 0xce, 0x97, 0x2f, 0x80, 0x90, 0xdf, 0xc0,
    0x4a, 0x02, 0x01, 0x01, 0x02, 0x02, 0x80, 0x80, 0xc5, 0x8b, 0xc6, 0xd1, 0x01, 0x80, 0x90, 0xdf,
    0xc0, 0x4a, 0x04, 0x01, 0x01, 0x03, 0x04, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x27, 0x39, 0x01, 0x00,
    0x02, 0x80, 0xe0, 0x91, 0xe1, 0xb1, 0xbe, 0xce, 0x97, 0x2f, 0x80, 0xe0, 0xba, 0x84, 0xbf, 0x03,
    0x02, 0x01, 0x01, 0x02, 0x02, 0x80, 0x80, 0xc5, 0x8b, 0xc6, 0xd1, 0x01, 0x80, 0xe0, 0xba, 0x84,
    0xbf, 0x03, 0x04, 0x01, 0x01, 0x03, 0x04, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x29, 0x1d, 0x01, 0x00,
    0xd8, 0x02, 0x80, 0x80, 0x96, 0xa7, 0xfe, 0x90, 0xce, 0x97, 0x2f, 0x80, 0x80, 0xc5, 0x8b, 0xc6,
    0xd1, 0x01, 0x02, 0x01, 0x01, 0x02, 0x02, 0x04, 0x01, 0x01, 0x03, 0x04, 0x02, 0x00, 0x2a, 0x19,
    0x78, 0x56, 0x9a, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x23, 0x37, 0xaa, 0x8b, 0x2c,
    0x1f, 0x23, 0x31, 0x3b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x39, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7c, 0xbb, 0x4f, 0x0f, 0x25,
    0x8d, 0x78, 0x9d, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x65, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x79, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfa, 0x45, 0x25, 0xf6, 0xc0,
    0x0c, 0xdd, 0x0c, 0xd9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x25, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0x7b, 0x90, 0xec, 0x34,
    0xe2, 0x7f, 0x84, 0x07, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x8a, 0xd8, 0x68, 0x86,
    0xb9, 0x59, 0x55, 0x37, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x29, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xbf, 0x85, 0xc7, 0xf2, 0xa0,
    0xea, 0xcd, 0x19, 0x06, 0x00, 0x00, 0x00, 0xf0, 0x44, 0x79, 0x02, 0x45, 0x4d, 0x42, 0x45, 0x52,
    0x45, 0x4e, 0x44,
};
static const unsigned char v1_block2[499] = {
    0x45, 0x4d, 0x42, 0x45, 0x52, 0x42, 0x4c, 0x4b, 0x01, 0x00, 0x00, 0x00, 0xfd, 0xc0, 0xe4, 0x1c,
    0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x22, 0xfd, 0x00, 0x00, 0xc8, 0x01, 0x80, 0x80, 0xda, 0xf9, 0xd2,
    0xe2, 0xd1, 0x97, 0x2f, 0x03, 0x01, 0x01, 0x01, 0x09, 0x61, 0x6e, 0x6f, 0x6e, 0x79, 0x6d, 0x6f,
    0x75, 0x73, 0x00, 0x01, 0x00, 0x2c, 0x0a, 0x12, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x23, 0x19, 0x01,
    0x00, 0x03, 0x04, 0x6d, 0x61, 0x69, 0x6e, 0x06, 0x66, 0x69, 0x6c, 0x65, 0x2e, 0x63, 0x05, 0x76,
    0x31, 0x66, 0x6e, 0x32, 0x02, 0x01, 0x02, 0x00, 0x01, 0x00, 0x03, 0x02, 0x00, 0x01, 0x00, 0x02,
    0x00, 0x01, 0x01, 0x02, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x79, 0xe5, 0x02, 0x00, 0x92, 0x85, 0x13,
    0x19, 0x90, 0x29, 0x6d, 0x00, 0xd6, 0x08, 0x85, 0xc8, 0xd6, 0x02, 0xdb, 0x9d, 0x8c, 0xdd, 0xa7,
    0x5e, 0x76, 0xbd, 0x90, 0xfe, 0x6b, 0x4d, 0x84, 0xb6, 0x0c, 0x65, 0x86, 0x29, 0xbb, 0x52, 0x66,
    0x75, 0x86, 0xb9, 0x62, 0x75, 0x86, 0xf8, 0x5c, 0x22, 0x52, 0xa4, 0x6c, 0x41, 0x17, 0x74, 0x31,
    0x7b, 0xf5, 0x28, 0x92, 0x30, 0x22, 0x84, 0x3f, 0x79, 0x91, 0x78, 0x1e, 0x90, 0x61, 0x13, 0xff,
    0x83, 0x84, 0xf1, 0xdd, 0x89, 0x9b, 0x38, 0xf0, 0x27, 0xe2, 0xe8, 0x0f, 0x38, 0x02, 0x03, 0x00,
    0x5b, 0x10, 0xb8, 0x99, 0x68, 0x01, 0x18, 0xaa, 0x0c, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x14, 0xa1,
    0x00, 0x00, 0x01, 0x80, 0x80, 0xda, 0xf9, 0xd2, 0xe2, 0xd1, 0x97, 0x2f, 0x80, 0x90, 0xdf, 0xc0,
    0x4a, 0x08, 0x01, 0x01, 0x02, 0x08, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x15, 0xa9, 0x00, 0x00, 0x01,
    0x80, 0xe0, 0x9b, 0xf8, 0xbd, 0xe1, 0xd1, 0x97, 0x2f, 0x80, 0xe0, 0xba, 0x84, 0xbf, 0x03, 0x08,
    0x01, 0x01, 0x02, 0x08, 0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x16, 0xb1, 0x00, 0x00, 0x01, 0x80, 0x80,
    0xa0, 0xbe, 0x8a, 0xb4, 0xd1, 0x97, 0x2f, 0x80, 0x80, 0xc5, 0x8b, 0xc6, 0xd1, 0x01, 0x08, 0x01,
    0x01, 0x02, 0x08, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x69, 0x18, 0xb1, 0x28,
    0xca, 0x6e, 0x90, 0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x23, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe7, 0x71, 0x7d, 0x04, 0x9e,
    0xfc, 0xfd, 0xb2, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x65, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x79, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfa, 0x45, 0x25, 0xf6, 0xc0,
    0x0c, 0xdd, 0x0c, 0xc9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1d, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28, 0x06, 0xcf, 0x02, 0x1e,
    0x17, 0x73, 0x9e, 0xe6, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x73, 0x1e, 0xef, 0x2a, 0xdf,
    0x05, 0xd2, 0xd7, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x44, 0x16, 0x18, 0x17, 0x32,
    0x96, 0x57, 0x92, 0x06, 0x00, 0x00, 0x00, 0x3f, 0x72, 0xfb, 0xd6, 0x45, 0x4d, 0x42, 0x45, 0x52,
    0x45, 0x4e, 0x44,
};

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ASSERT(fp && fwrite(p, 1, n, fp) == n);
    fclose(fp);
}

TEST(store_block_version1_is_read)
{
    char *dir = strdup(tmp_path("data"));
    char p[512];
    snprintf(p, sizeof(p), "%s/blocks", dir);
    ASSERT_OK(io_mkdir_p(p, 0755));
    snprintf(p, sizeof(p), "%s/blocks/0000000000000001.blk", dir);
    write_bytes(p, v1_block1, sizeof(v1_block1));
    snprintf(p, sizeof(p), "%s/blocks/0000000000000002.blk", dir);
    write_bytes(p, v1_block2, sizeof(v1_block2));
    struct block *b;
    ASSERT_OK(block_open(&b, p, 2));
    ASSERT_EQ(b->version, 1);
    ASSERT_EQ(b->nparts, 1);
    ASSERT(!block_has_totals(b));
    block_unref(b);
    struct store *s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "anonymous", NULL, "main;v1fn0 1\nmain;v1fn1 2\nmain;v1fn2 4");
    int64_t total;
    free(merge(s, "anonymous", NULL, T0 + 1, T0 + 2 * 3600 * SEC + 1, &total));
    ASSERT_EQ(total, 6);
    int64_t v[3] = {0};
    struct store_query q = {"anonymous", NULL, T0 + 7 * SEC, T0 + 7 * SEC + 3 * 3607 * SEC};
    ASSERT_OK(store_totals(s, &q, 3607 * SEC, v, 3));
    ASSERT(v[0] == 2 && v[1] == 4 && v[2] == 0);
    /* new data goes to version 2 blocks beside them */
    ASSERT_OK(append1(s, "anonymous", "api", T0 + 3 * 3600 * SEC, "main;v2 8"));
    ASSERT_OK(store_flush(s));
    store_close(s);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "anonymous", NULL, "main;v1fn0 1\nmain;v1fn1 2\nmain;v1fn2 4\nmain;v2 8");
    store_close(s);
    free(dir);
}

TEST(store_block_cut_by_size)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store2(dir, 1, 0); /* every append passes the size: cut each time */
    for (int i = 0; i < 5; i++)
        ASSERT_OK(append1(s, "t1", "api", T0 + i * SEC, "main;a 1"));
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 5);
    ASSERT_MERGE(s, "t1", NULL, "main;a 5");
    store_close(s);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 5");
    store_close(s);
    free(dir);
}

/* Flips one byte of the only block file at offset from its end (negative) or start. */
static void damage_block(const char *dir, long off)
{
    char p[512], **names;
    size_t n;
    snprintf(p, sizeof(p), "%s/blocks", dir);
    ASSERT_OK(io_list(p, ".blk", &names, &n));
    ASSERT_EQ(n, 1);
    snprintf(p, sizeof(p), "%s/blocks/%s", dir, names[0]);
    free(names[0]);
    free(names);
    int fd = open(p, O_RDWR);
    ASSERT(fd >= 0);
    off_t at = off < 0 ? file_size(p) + off : off;
    unsigned char c;
    ASSERT_EQ(pread(fd, &c, 1, at), 1);
    c ^= 0x5a;
    ASSERT_EQ(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

TEST(store_block_corrupt_is_skipped)
{
    /* a damaged section: the store opens, the block is skipped at query time */
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store2(dir, 0, 0);
    ASSERT_OK(append1(s, "t1", "api", T0, "main;a 1"));
    ASSERT_OK(store_flush(s));
    store_close(s);
    damage_block(dir, 40); /* inside the first sections */
    s = open_store2(dir, 0, 0);
    char *got = merge(s, "t1", NULL, 0, INT64_MAX, NULL);
    ASSERT_STREQ(got, "");
    free(got);
    ASSERT_OK(append1(s, "t1", "api", T0 + SEC, "main;b 2")); /* the store still works */
    ASSERT_MERGE(s, "t1", NULL, "main;b 2");
    store_close(s);
    free(dir);

    /* a damaged trailer: skipped at open */
    dir = strdup(tmp_path("data2"));
    s = open_store2(dir, 0, 0);
    ASSERT_OK(append1(s, "t1", "api", T0, "main;a 1"));
    ASSERT_OK(store_flush(s));
    store_close(s);
    damage_block(dir, -3);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "");
    store_close(s);
    free(dir);
}

TEST(store_block_write_failure_keeps_data)
{
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store2(dir, 0, 0);
    ASSERT_OK(append1(s, "t1", "api", T0, "main;a 1"));
    struct io_fault f = {IO_MASK(IO_PWRITE), 2, ENOSPC, 1, 0}; /* 1: wal header, 2: block */
    io_fault_set(&f);
    ASSERT(store_flush(s) < 0);
    io_fault_clear();
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 0);
    ASSERT_EQ(count_files(dir, "blocks", ".tmp"), 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 1"); /* still in memory */
    ASSERT_OK(append1(s, "t1", "api", T0 + SEC, "main;b 2"));
    store_close(s);
    s = open_store2(dir, 0, 0); /* and in the wal */
    ASSERT_MERGE(s, "t1", NULL, "main;a 1\nmain;b 2");
    ASSERT_OK(store_flush(s)); /* now it works */
    ASSERT_MERGE(s, "t1", NULL, "main;a 1\nmain;b 2");
    store_close(s);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 1\nmain;b 2");
    store_close(s);
    free(dir);
}

TEST(store_checkpoint_interrupted_no_duplicates)
{
    /* the block is durable but the wal segments could not be deleted (as after a crash) */
    char *dir = strdup(tmp_path("data"));
    struct store *s = open_store2(dir, 0, 0);
    ASSERT_OK(append1(s, "t1", "api", T0, "main;a 1"));
    ASSERT_OK(append1(s, "t2", "api", T0, "main;z 3"));
    struct io_fault f = {IO_MASK(IO_UNLINK), 1, EIO, 1, 0};
    io_fault_set(&f);
    ASSERT(store_flush(s) < 0);
    io_fault_clear();
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 2);
    ASSERT(count_files(dir, "wal", ".wal") >= 2);
    ASSERT_OK(append1(s, "t1", "api", T0 + SEC, "main;b 2"));
    store_close(s);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 1\nmain;b 2");
    ASSERT_MERGE(s, "t2", NULL, "main;z 3");
    ASSERT_OK(store_flush(s));
    store_close(s);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 1\nmain;b 2");
    ASSERT_EQ(count_files(dir, "wal", ".wal"), 1);
    store_close(s);
    free(dir);
}

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % n;
}

/* Random profiles over 3 days into a and b; b is flushed every 6 hours of data. */
static void fill_random(struct store *a, struct store *b)
{
    static const char *const stacks[] = {"main;a",     "main;a;x",    "main;b",
                                         "main;b;y;z", "main;c",      "main;a;x;q",
                                         "run;gc",     "run;gc;mark", "main;d"};
    int64_t t = T0 - 1800 * SEC, end = T0 + 3 * 86400 * SEC, next_flush = T0;
    while (t < end) {
        struct profile_batch batch;
        batch_init(&batch);
        for (int k = 0; k < 8; k++) {
            t += (int64_t)rnd(900) * SEC + (int64_t)rnd(1000);
            struct buf f = BUF_INIT;
            int ns = 1 + (int)rnd(4);
            for (int j = 0; j < ns; j++)
                buf_printf(&f, "%s%s %d", j ? "\n" : "", stacks[rnd(9)], 1 + (int)rnd(1000));
            int64_t pt = rnd(10) ? t : t - (int64_t)rnd(3600) * SEC; /* some late arrivals */
            add_prof(&batch, rnd(3) ? "api" : "db", rnd(4) ? PT_CPU : PT_WALL, pt, f.data);
            buf_release(&f);
        }
        ASSERT_OK(store_append(a, "t1", &batch));
        ASSERT_OK(store_append(b, "t1", &batch));
        batch_release(&batch);
        if (t >= next_flush) {
            ASSERT_OK(store_flush(b));
            next_flush += 6 * 3600 * SEC;
        }
    }
}

#define NQ 60

/* Runs NQ random merges and totals (seeded) and returns their answers as one text. */
static char *random_queries(struct store *s, uint64_t seed)
{
    uint64_t saved = rng_state;
    rng_state = seed;
    struct buf out = BUF_INIT;
    static const char *const sels[] = {NULL, "{service_name=\"api\"}", PT_CPU,
                                       PT_WALL "{service_name=\"db\"}"};
    static const int64_t steps[] = {60, 300, 3600, 7, 90, 86400, 1800};
    for (int i = 0; i < NQ; i++) {
        int64_t from = T0 - 3600 * SEC + (int64_t)rnd(4 * 86400) * SEC;
        if (rnd(2))
            from -= from % (3600 * SEC);
        else if (rnd(2))
            from -= from % (60 * SEC);
        int64_t until = from + (int64_t)rnd(3 * 86400) * SEC + (int64_t)rnd(1000);
        const char *sel = sels[rnd(4)];
        int64_t total;
        char *m = merge(s, "t1", sel, from, until, &total);
        buf_printf(&out, "merge %d [%lld,%lld) %s total %lld\n%s\n", i, (long long)from,
                   (long long)until, sel ? sel : "*", (long long)total, m);
        free(m);
        int64_t step = steps[rnd(7)] * SEC;
        char *tt = totals_text(s, from, step, 1 + rnd(200));
        buf_printf(&out, "totals step %lld: %s\n", (long long)step, tt);
        free(tt);
    }
    rng_state = saved;
    return buf_detach(&out, NULL);
}

TEST(store_rollups_equal_raw)
{
    char *da = strdup(tmp_path("raw")), *db = strdup(tmp_path("blocks"));
    fake_now = T0 + 10 * 86400 * SEC; /* every day has ended: compaction runs */
    test_span_ns = 365 * 86400 * SEC; /* a: everything stays in the head */
    struct store *a = open_store2(da, 1ull << 40, 0);
    test_span_ns = 0;
    struct store *b = open_store2(db, 1ull << 40, 0);
    fill_random(a, b);
    ASSERT_OK(store_flush(b));
    struct store_stats st;
    store_get_stats(b, &st);
    ASSERT(st.blocks[1] >= 10);
    char *want = random_queries(a, 12345);
    char *got = random_queries(b, 12345);
    ASSERT_STREQ(got, want); /* level-1 blocks, minute and hour rollups */
    free(got);
    ASSERT_OK(store_maintain(b));
    store_get_stats(b, &st);
    ASSERT_EQ(st.blocks[1], 0);
    ASSERT(st.blocks[2] >= 3 && st.blocks[2] <= 5);
    ASSERT_EQ(st.compactions, st.blocks[2]);
    got = random_queries(b, 12345);
    ASSERT_STREQ(got, want); /* level-2 blocks */
    free(got);
    store_close(b);
    b = open_store2(db, 1ull << 40, 0);
    got = random_queries(b, 12345);
    ASSERT_STREQ(got, want); /* after a restart */
    free(got);
    free(want);
    store_close(a);
    store_close(b);
    free(da);
    free(db);
    fake_now = T0;
}

struct query_loop {
    struct store *s;
    int stop;
    unsigned long n;
};

static void *query_loop(void *arg)
{
    struct query_loop *ql = arg;
    while (!__atomic_load_n(&ql->stop, __ATOMIC_RELAXED)) {
        struct stackset ss;
        stackset_init(&ss);
        struct store_query q = {"t1", NULL, 0, INT64_MAX};
        store_merge(ql->s, &q, &ss);
        stackset_release(&ss);
        int64_t v[4] = {0};
        store_totals(ql->s, &q, 86400 * SEC, v, 4);
        ql->n++;
    }
    return NULL;
}

#define DAY (86400 * SEC)

/* One level-1 block per day d in [0, days): a profile "main;d<d> 1" at T0 + d days + 10 s. */
static void fill_days(struct store *s, int days)
{
    for (int d = 0; d < days; d++) {
        char f[32];
        snprintf(f, sizeof(f), "main;d%d 1", d);
        ASSERT_OK(append1(s, "t1", "api", T0 + d * DAY + 10 * SEC, f));
        ASSERT_OK(store_flush(s));
    }
}

TEST(store_retention_by_age_with_queries_running)
{
    char *dir = strdup(tmp_path("data"));
    fake_now = T0;
    test_retention_ns = 2 * DAY;
    struct store *s = open_store2(dir, 0, 0);
    fill_days(s, 5);
    ASSERT_OK(store_maintain(s)); /* nothing old yet (and one block a day: nothing to compact) */
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 5);
    struct query_loop ql = {s, 0, 0};
    pthread_t th;
    ASSERT_OK(pthread_create(&th, NULL, query_loop, &ql));
    while (__atomic_load_n(&ql.n, __ATOMIC_RELAXED) < 3)
        usleep(1000);
    fake_now = T0 + 4 * DAY + 3600 * SEC; /* cutoff T0 + 2 days + 1 h: days 0, 1, 2 go */
    ASSERT_OK(store_maintain(s));
    unsigned long seen = __atomic_load_n(&ql.n, __ATOMIC_RELAXED);
    while (__atomic_load_n(&ql.n, __ATOMIC_RELAXED) < seen + 3)
        usleep(1000);
    __atomic_store_n(&ql.stop, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    ASSERT_MERGE(s, "t1", NULL, "main;d3 1\nmain;d4 1");
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 2);
    struct store_stats st;
    store_get_stats(s, &st);
    ASSERT_EQ(st.blocks_deleted, 3);
    store_close(s);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "main;d3 1\nmain;d4 1");
    store_close(s);
    test_retention_ns = 0;
    fake_now = T0;
    free(dir);
}

TEST(store_retention_by_size)
{
    char *dir = strdup(tmp_path("data"));
    fake_now = T0;
    struct store *s = open_store2(dir, 0, 0);
    fill_days(s, 5);
    struct store_stats st;
    store_get_stats(s, &st);
    store_close(s);
    uint64_t avg = st.block_bytes[1] / 5;
    s = open_store2(dir, 0, st.bytes_on_disk - avg * 5 / 2); /* room for 2.5 blocks less */
    ASSERT_OK(store_maintain(s));
    ASSERT_MERGE(s, "t1", NULL, "main;d3 1\nmain;d4 1"); /* the oldest went first */
    store_get_stats(s, &st);
    ASSERT_EQ(st.blocks[1], 2);
    store_close(s);
    free(dir);
}

TEST(store_compaction_interrupted_no_duplicates)
{
    /* the merged block is durable but its sources were not deleted (as after a crash) */
    char *dir = strdup(tmp_path("data"));
    fake_now = T0 + 10 * DAY;
    struct store *s = open_store2(dir, 0, 0);
    ASSERT_OK(append1(s, "t1", "api", T0 + 10 * SEC, "main;a 1"));
    ASSERT_OK(store_flush(s));
    ASSERT_OK(append1(s, "t1", "api", T0 + 600 * SEC, "main;a 2\nmain;b 1"));
    ASSERT_OK(store_flush(s));
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 2);
    struct io_fault f = {IO_MASK(IO_UNLINK), 1, EIO, 1, 0};
    io_fault_set(&f);
    ASSERT_OK(store_maintain(s));
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 3);
    io_fault_clear();
    struct store_stats st;
    store_get_stats(s, &st);
    ASSERT_EQ(st.blocks[2], 1);
    ASSERT_EQ(st.blocks[1], 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 3\nmain;b 1");
    store_close(s);
    s = open_store2(dir, 0, 0);
    ASSERT_MERGE(s, "t1", NULL, "main;a 3\nmain;b 1");
    ASSERT_EQ(count_files(dir, "blocks", ".blk"), 1);
    store_close(s);
    fake_now = T0;
    free(dir);
}
