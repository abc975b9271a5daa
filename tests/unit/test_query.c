/* test_query.c - call trees, flamebearer encoding, top, sandwich, diff and timeline steps */
#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/gz.h"
#include "profile/labels.h"
#include "profile/pprof.h"
#include "profile/profile.h"
#include "query/ctree.h"
#include "query/query.h"
#include "query/query_int.h"
#include "store/store.h"
#include "test.h"

#define S 1000000000LL

/* Adds "a;b;c" (root first; "name@file" sets a file) with value v to ss. */
static void ss_add(struct stackset *ss, const char *stack, int64_t v)
{
    uint32_t frames[64];
    size_t n = 0;
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", stack);
    for (char *save = NULL, *tok = strtok_r(tmp, ";", &save); tok;
         tok = strtok_r(NULL, ";", &save)) {
        char *at = strchr(tok, '@');
        if (at)
            *at++ = '\0';
        frames[n++] = symtab_frame_str(&ss->sym, tok, at, 0, NULL, 0);
    }
    struct sample s = {.stack = symtab_stack(&ss->sym, frames, n), .value = v};
    VEC_PUSH(ss->samples, s);
    ss->total += v;
}

/* Builds a finished single-sided tree from "stack value" pairs. */
static void tree_of(struct ctree *t, const char *const *stacks, const int64_t *vals, size_t n)
{
    struct stackset ss;
    stackset_init(&ss);
    for (size_t i = 0; i < n; i++)
        ss_add(&ss, stacks[i], vals[i]);
    ctree_init(t);
    ASSERT_EQ(ctree_add_stackset(t, &ss, 0), 0);
    ctree_finish(t);
    stackset_release(&ss);
}

static json_t *parse(const struct buf *b)
{
    json_error_t je;
    json_t *j = json_loadb(b->data, b->len, 0, &je);
    if (!j)
        TEST_FAIL_("bad JSON (%s at %d): %s", je.text, je.position, b->data);
    return j;
}

/* Compact JSON of j[key] (caller frees). */
static char *dump(json_t *j, const char *key)
{
    json_t *v = key ? json_object_get(j, key) : j;
    if (!v)
        TEST_FAIL_("missing key %s", key);
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

#define ASSERT_JSON(j, key, want)                                                                  \
    do {                                                                                           \
        char *d_ = dump(j, key);                                                                   \
        ASSERT_STREQ(d_, want);                                                                    \
        free(d_);                                                                                  \
    } while (0)

static const char *const STACKS[] = {"main@main.c;a@a.c", "main;b", "main", "main;a;c", "z"};
static const int64_t VALS[] = {30, 50, 20, 10, 5};

TEST(query_flamebearer_levels)
{
    struct ctree t;
    struct buf b = BUF_INIT;
    tree_of(&t, STACKS, VALS, 5);
    query_flamegraph_json(&t, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "nanoseconds", 0, 3,
                          &b);
    json_t *j = parse(&b);
    json_t *fb = json_object_get(j, "flamebearer");
    ASSERT_JSON(fb, "names", "[\"total\",\"main\",\"a\",\"c\",\"b\",\"z\"]");
    /* x offsets: a sits after main's self (20); c after a's self (20+30); z after main */
    ASSERT_JSON(fb, "levels",
                "[[0,115,0,0],[0,110,20,1,0,5,5,5],[20,40,30,2,0,50,50,4],[50,10,10,3]]");
    ASSERT_JSON(fb, "numTicks", "115");
    ASSERT_JSON(fb, "maxSelf", "50");
    ASSERT_JSON(j, "files", "[\"\",\"main.c\",\"a.c\",\"\",\"\",\"\"]");
    ASSERT_JSON(j, "metadata",
                "{\"format\":\"single\",\"units\":\"nanoseconds\",\"name\":"
                "\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\"}");
    ASSERT_JSON(j, "total", "115");
    ASSERT_JSON(j, "profiles", "3");
    ASSERT_JSON(j, "version", "1");
    json_decref(j);
    buf_release(&b);
    ctree_release(&t);
}

TEST(query_flamebearer_other)
{
    struct ctree t;
    struct buf b = BUF_INIT;
    tree_of(&t, STACKS, VALS, 5);
    /* totals 115,110,50,40,10,5: keeping 4 nodes cuts below 40, so c and z become "other" */
    ctree_flamebearer(&t, 1, 4, &b, NULL);
    json_t *j = parse(&b);
    ASSERT_JSON(j, "names", "[\"total\",\"main\",\"a\",\"other\",\"b\"]");
    ASSERT_JSON(j, "levels",
                "[[0,115,0,0],[0,110,20,1,0,5,5,3],[20,40,30,2,0,50,50,4],[50,10,10,3]]");
    json_decref(j);
    buf_reset(&b);
    ctree_flamebearer(&t, 1, 1, &b, NULL);
    j = parse(&b);
    ASSERT_JSON(j, "names", "[\"total\",\"other\"]");
    ASSERT_JSON(j, "levels", "[[0,115,0,0],[0,115,115,1]]");
    json_decref(j);
    buf_release(&b);
    ctree_release(&t);
}

TEST(query_top_recursion)
{
    static const char *const st[] = {"main;f;g;f", "main;f", "main;g"};
    static const int64_t v[] = {10, 5, 3};
    struct ctree t;
    struct buf b = BUF_INIT;
    tree_of(&t, st, v, 3);
    query_top_json(&t, "nanoseconds", 0, 0, &b);
    json_t *j = parse(&b);
    ASSERT_JSON(j, "functions",
                "[{\"name\":\"f\",\"file\":\"\",\"self\":15,\"total\":15},"
                "{\"name\":\"g\",\"file\":\"\",\"self\":3,\"total\":13},"
                "{\"name\":\"main\",\"file\":\"\",\"self\":0,\"total\":18}]");
    ASSERT_JSON(j, "total", "18");
    json_decref(j);
    buf_reset(&b);
    query_top_json(&t, "nanoseconds", 1, 2, &b);
    j = parse(&b);
    ASSERT_JSON(j, "functions",
                "[{\"name\":\"main\",\"file\":\"\",\"self\":0,\"total\":18},"
                "{\"name\":\"f\",\"file\":\"\",\"self\":15,\"total\":15}]");
    json_decref(j);
    buf_release(&b);
    ctree_release(&t);
}

TEST(query_sandwich_trees)
{
    static const char *const st[] = {"main;f;g;f", "main;f", "main;g"};
    static const int64_t v[] = {10, 5, 3};
    struct ctree t;
    struct buf b = BUF_INIT;
    char err[256];
    tree_of(&t, st, v, 3);

    ASSERT_OK(query_sandwich_json(&t, "f", "nanoseconds", 0, &b, err, sizeof(err)));
    json_t *j = parse(&b);
    ASSERT_JSON(j, "self", "15");
    ASSERT_JSON(j, "function_total", "15");
    ASSERT_JSON(j, "total", "18");
    json_t *ce = json_object_get(j, "callees"), *cr = json_object_get(j, "callers");
    ASSERT_JSON(ce, "names", "[\"f\",\"g\"]");
    ASSERT_JSON(ce, "levels", "[[0,15,5,0],[5,10,0,1],[5,10,10,0]]");
    ASSERT_JSON(ce, "numTicks", "15");
    ASSERT_JSON(cr, "names", "[\"f\",\"main\"]");
    ASSERT_JSON(cr, "levels", "[[0,15,0,0],[0,15,15,1]]");
    json_decref(j);

    buf_reset(&b);
    ASSERT_OK(query_sandwich_json(&t, "g", "nanoseconds", 0, &b, err, sizeof(err)));
    j = parse(&b);
    ASSERT_JSON(j, "self", "3");
    ASSERT_JSON(j, "function_total", "13");
    ce = json_object_get(j, "callees");
    cr = json_object_get(j, "callers");
    ASSERT_JSON(ce, "levels", "[[0,13,3,0],[3,10,10,1]]");
    ASSERT_JSON(cr, "names", "[\"g\",\"f\",\"main\"]");
    ASSERT_JSON(cr, "levels", "[[0,13,0,0],[0,10,0,1,0,3,3,2],[0,10,10,2]]");
    json_decref(j);

    buf_reset(&b);
    ASSERT_EQ(query_sandwich_json(&t, "nope", "nanoseconds", 0, &b, err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "'nope' does not occur") != NULL);
    ASSERT_EQ(query_sandwich_json(&t, "total", "nanoseconds", 0, &b, err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    ASSERT_EQ(query_sandwich_json(&t, "", "nanoseconds", 0, &b, err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    buf_release(&b);
    ctree_release(&t);
}

TEST(query_diff_shares)
{
    struct stackset l, r;
    struct ctree t;
    struct buf b = BUF_INIT;
    stackset_init(&l);
    stackset_init(&r);
    ss_add(&l, "main;a", 60);
    ss_add(&l, "main;b", 40);
    ss_add(&r, "main;a", 50);
    ss_add(&r, "main;b", 100);
    ss_add(&r, "main;c", 50);
    ctree_init(&t);
    ctree_add_stackset(&t, &l, 0);
    ctree_add_stackset(&t, &r, 1);
    ctree_finish(&t);
    query_diff_json(&t, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "nanoseconds", 0, 0, &b);
    json_t *j = parse(&b);
    json_t *fb = json_object_get(j, "flamebearer");
    ASSERT_JSON(fb, "names", "[\"total\",\"main\",\"a\",\"b\",\"c\"]");
    ASSERT_JSON(fb, "levels",
                "[[0,100,0,0,200,0,0],[0,100,0,0,200,0,1],"
                "[0,60,60,0,50,50,2,0,40,40,0,100,100,3,0,0,0,0,50,50,4]]");
    ASSERT_JSON(fb, "numTicks", "300");
    ASSERT_JSON(fb, "maxSelf", "100");
    ASSERT_JSON(j, "leftTicks", "100");
    ASSERT_JSON(j, "rightTicks", "200");
    json_t *fs = json_object_get(j, "functions");
    ASSERT_EQ(json_array_size(fs), 4);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(fs, 0), "name")), "a");
    ASSERT_NEAR(json_number_value(json_object_get(json_array_get(fs, 0), "diff")), -35.0, 1e-9);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(fs, 1), "name")), "c");
    ASSERT_NEAR(json_number_value(json_object_get(json_array_get(fs, 1), "diff")), 25.0, 1e-9);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(fs, 2), "name")), "b");
    ASSERT_NEAR(json_number_value(json_object_get(json_array_get(fs, 2), "diff")), 10.0, 1e-9);
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(fs, 2), "right_self")), 100);
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(fs, 2), "left_total")), 40);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(fs, 3), "name")), "main");
    json_decref(j);
    buf_release(&b);
    ctree_release(&t);
    stackset_release(&l);
    stackset_release(&r);
}

TEST(query_timeline_step)
{
    ASSERT_EQ(query_step(0, 3600 * S, 0), 15 * S);
    ASSERT_EQ(query_step(0, 60 * S, 0), 15 * S);
    ASSERT_EQ(query_step(0, 86400 * S, 0), 60 * S);
    ASSERT_EQ(query_step(0, 7 * 86400 * S, 0), 600 * S);
    ASSERT_EQ(query_step(0, 30 * 86400 * S, 0), 1800 * S);
    ASSERT_EQ(query_step(0, 365 * 86400 * S, 0), 21600 * S);
    ASSERT_EQ(query_step(0, 3650 * 86400 * S, 0), 3 * 86400 * S);
    /* an explicit step wins, whole seconds, but never more than 10000 points */
    ASSERT_EQ(query_step(0, 3600 * S, 10 * S), 10 * S);
    ASSERT_EQ(query_step(0, 3600 * S, S / 2), S);
    ASSERT_EQ(query_step(0, 86400 * S, S), 9 * S);
}

TEST(query_scope_requires_type)
{
    struct qscope sc;
    struct query_params q = {.query = "{service_name=\"app\"}", .from_ns = 0, .until_ns = S};
    char err[256];
    ASSERT_EQ(qscope_open(&sc, &q, q.query, 0, S, 1, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "query must start with a profile type") != NULL);
    ASSERT(strstr(err, "/api/v1/profile-types") != NULL);
    ASSERT_OK(qscope_open(&sc, &q, q.query, 0, S, 0, err, sizeof(err)));
    ASSERT_STREQ(sc.sq.tenant, "anonymous");
    qscope_close(&sc);
    ASSERT_EQ(qscope_open(&sc, &q, "{a=\"b", 0, S, 0, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(err, "invalid query: at offset 3: unterminated string");
    ASSERT_EQ(qscope_open(&sc, &q, "", S, S, 0, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "'from' must be before 'until'") != NULL);
    ASSERT_OK(
        qscope_open(&sc, &q, "memory:inuse_space:bytes:space:bytes{}", 0, S, 1, err, sizeof(err)));
    ASSERT_STREQ(sc.pt.sample_unit, "bytes");
    qscope_close(&sc);
}

/* Decodes levels and checks the flamebearer invariants: children inside parents, sums. */
static void check_levels(json_t *levels, int64_t total, size_t *nnodes)
{
    size_t rows = json_array_size(levels);
    *nnodes = 0;
    for (size_t d = 0; d < rows; d++) {
        json_t *row = json_array_get(levels, d);
        int64_t prev = 0, sum = 0;
        ASSERT_EQ(json_array_size(row) % 4, 0);
        for (size_t i = 0; i < json_array_size(row); i += 4) {
            int64_t x = json_integer_value(json_array_get(row, i)) + prev;
            int64_t tot = json_integer_value(json_array_get(row, i + 1));
            int64_t self = json_integer_value(json_array_get(row, i + 2));
            ASSERT(x >= prev);
            ASSERT(self <= tot);
            prev = x + tot;
            sum += tot;
            ASSERT(prev <= total);
            (*nnodes)++;
        }
        ASSERT(sum <= total);
    }
}

TEST(query_large_tree_prunes)
{
    struct stackset ss;
    struct ctree t;
    struct buf b = BUF_INIT;
    char name[32], st[256];
    stackset_init(&ss);
    /* 20000 distinct stacks of depth 3..5 with skewed values */
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(st, sizeof(st), "main;h%d", i % 7);
        snprintf(name, sizeof(name), ";m%d", i % 131);
        n += snprintf(st + n, sizeof(st) - (size_t)n, "%s", name);
        snprintf(st + n, sizeof(st) - (size_t)n, ";leaf%d", i);
        ss_add(&ss, st, 1 + (i % 97) * (i % 13));
    }
    ctree_init(&t);
    ctree_add_stackset(&t, &ss, 0);
    ctree_finish(&t);
    ASSERT_EQ(t.nodes.data[0].total[0], ss.total);
    size_t nodes;
    ctree_flamebearer(&t, 1, 1000, &b, NULL);
    json_t *j = parse(&b);
    check_levels(json_object_get(j, "levels"), ss.total, &nodes);
    /* at most max_nodes real nodes plus one "other" per kept parent */
    ASSERT(nodes <= 1000 + 1 + 7 + 7 * 131);
    ASSERT(nodes >= 1000);
    ASSERT_EQ(json_integer_value(json_object_get(j, "numTicks")), ss.total);
    json_decref(j);
    buf_release(&b);
    ctree_release(&t);
    stackset_release(&ss);
}

#define PT "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

/* Appends one profile of service svc at time t (seconds) with the given stacks. */
static void add_profile(struct profile_batch *b, const char *svc, int64_t t,
                        const char *const *stacks, const int64_t *vals, size_t n)
{
    struct profile *p = batch_add(b);
    labels_set(&p->labels, LABEL_NAME, "process_cpu");
    labels_set(&p->labels, LABEL_PROFILE_TYPE, PT);
    labels_set(&p->labels, LABEL_SERVICE_NAME, svc);
    labels_set(&p->labels, "env", "prod");
    p->time_ns = t * S;
    p->duration_ns = 10 * S;
    for (size_t i = 0; i < n; i++) {
        uint32_t frames[16];
        size_t nf = 0;
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", stacks[i]);
        for (char *save = NULL, *tok = strtok_r(tmp, ";", &save); tok;
             tok = strtok_r(NULL, ";", &save))
            frames[nf++] = symtab_frame_str(&b->sym, tok, "app.c", 1, NULL, 0);
        profile_add(p, symtab_stack(&b->sym, frames, nf), vals[i]);
    }
    profile_compact(p);
}

static json_t *run(int (*fn)(struct store *, const struct query_params *, struct buf *, char *,
                             size_t),
                   struct store *s, const struct query_params *q)
{
    struct buf b = BUF_INIT;
    char err[256] = "";
    int rc = fn(s, q, &b, err, sizeof(err));
    if (rc)
        TEST_FAIL_("query failed (%d): %s", rc, err);
    json_t *j = parse(&b);
    buf_release(&b);
    return j;
}

TEST(query_endpoints_over_store)
{
    struct store_opts o;
    struct store *s;
    struct profile_batch b;
    static const char *const st1[] = {"main;work;calc3", "main;work", "main;idle"};
    static const int64_t v1[] = {200, 50, 50};
    static const char *const st2[] = {"main;work;calc3", "main;io"};
    static const int64_t v2[] = {100, 300};
    const int64_t t0 = 1700000000;
    store_opts_default(&o);
    o.data_dir = tmp_path("data");
    o.fsync = 0;
    ASSERT_OK(store_open(&s, &o));
    batch_init(&b);
    add_profile(&b, "app", t0 + 10, st1, v1, 3);
    add_profile(&b, "app", t0 + 610, st2, v2, 2);
    add_profile(&b, "other", t0 + 20, st1, v1, 1);
    ASSERT_OK(store_append(s, "anonymous", &b));
    batch_release(&b);

    struct query_params q = {
        .query = PT "{service_name=\"app\"}", .from_ns = t0 * S, .until_ns = (t0 + 3600) * S};
    json_t *j = run(query_flamegraph, s, &q);
    ASSERT_JSON(j, "total", "700");
    ASSERT_JSON(j, "profiles", "2");
    ASSERT_JSON(json_object_get(j, "flamebearer"), "names",
                "[\"total\",\"main\",\"idle\",\"io\",\"work\",\"calc3\"]");
    json_decref(j);

    q.limit = 1;
    j = run(query_top, s, &q);
    /* calc3 and io tie at 300: the name breaks the tie */
    ASSERT_JSON(j, "functions",
                "[{\"name\":\"calc3\",\"file\":\"app.c\",\"self\":300,\"total\":300}]");
    json_decref(j);
    q.limit = 0;

    q.function = "work";
    j = run(query_sandwich, s, &q);
    ASSERT_JSON(j, "function_total", "350");
    ASSERT_JSON(j, "self", "50");
    json_decref(j);

    q.step_ns = 300 * S;
    q.until_ns = (t0 + 900) * S;
    j = run(query_timeline, s, &q);
    ASSERT_JSON(j, "step", "300");
    ASSERT_EQ(json_integer_value(json_object_get(j, "start")), t0 - t0 % 300);
    json_t *vals = json_object_get(j, "values");
    int64_t sum = 0;
    for (size_t i = 0; i < json_array_size(vals); i++)
        sum += json_integer_value(json_array_get(vals, i));
    ASSERT_EQ(sum, 700);
    ASSERT_EQ(json_array_size(vals), 4); /* 1699999800 .. 1700000700 covers t0+900 */
    json_decref(j);

    /* diff: first 5 minutes against the next 15 */
    q.until_ns = (t0 + 300) * S;
    q.right_from_ns = (t0 + 300) * S;
    q.right_until_ns = (t0 + 1200) * S;
    j = run(query_diff, s, &q);
    ASSERT_JSON(j, "leftTicks", "300");
    ASSERT_JSON(j, "rightTicks", "400");
    json_t *f0 = json_array_get(json_object_get(j, "functions"), 0);
    ASSERT_STREQ(json_string_value(json_object_get(f0, "name")), "io");
    ASSERT_NEAR(json_number_value(json_object_get(f0, "diff")), 75.0, 1e-9);
    json_decref(j);
    q.right_query = "wall:wall:nanoseconds:cpu:nanoseconds{}";
    struct buf out = BUF_INIT;
    char err[256];
    ASSERT_EQ(query_diff(s, &q, &out, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "same profile type") != NULL);
    q.right_query = NULL;

    q.query = "{}";
    q.until_ns = (t0 + 3600) * S;
    ASSERT_EQ(query_flamegraph(s, &q, &out, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    j = run(query_labels, s, &q);
    ASSERT_JSON(j, "names", "[\"__name__\",\"__profile_type__\",\"env\",\"service_name\"]");
    json_decref(j);
    q.name = "service_name";
    j = run(query_label_values, s, &q);
    ASSERT_JSON(j, "values", "[\"app\",\"other\"]");
    json_decref(j);
    q.name = "bad-name";
    ASSERT_EQ(query_label_values(s, &q, &out, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    j = run(query_profile_types, s, &q);
    ASSERT_JSON(j, "types",
                "[{\"id\":\"" PT "\",\"name\":\"process_cpu\",\"sample_type\":\"cpu\","
                "\"sample_unit\":\"nanoseconds\",\"period_type\":\"cpu\","
                "\"period_unit\":\"nanoseconds\"}]");
    json_decref(j);
    q.query = "{service_name=~\"oth.*\"}";
    j = run(query_series, s, &q);
    json_t *ser = json_object_get(j, "series");
    ASSERT_EQ(json_array_size(ser), 1);
    ASSERT_JSON(json_object_get(json_array_get(ser, 0), "labels"), "service_name", "\"other\"");
    json_decref(j);

    /* export */
    const char *ct = NULL;
    q.query = PT "{service_name=\"app\"}";
    q.format = "folded";
    buf_reset(&out);
    ASSERT_OK(query_export(s, &q, &out, &ct, err, sizeof(err)));
    ASSERT_STREQ(ct, "text/plain; charset=utf-8");
    ASSERT(strstr(out.data, "main;work;calc3 300\n") != NULL);
    ASSERT(strstr(out.data, "main;io 300\n") != NULL);
    q.format = "pprof";
    buf_reset(&out);
    ASSERT_OK(query_export(s, &q, &out, &ct, err, sizeof(err)));
    ASSERT_STREQ(ct, "application/octet-stream");
    ASSERT(gz_is_gzip(out.data, out.len));
    struct buf raw = BUF_INIT;
    ASSERT_OK(gz_inflate(out.data, out.len, &raw, 1 << 24, 0));
    struct pprof p;
    pprof_init(&p);
    ASSERT_OK(pprof_decode(&p, raw.data, raw.len, 100000, err, sizeof(err)));
    int64_t ptotal = 0;
    for (size_t i = 0; i < p.sample.len; i++)
        ptotal += p.sample.data[i].value[0];
    ASSERT_EQ(ptotal, 700);
    pprof_release(&p);
    buf_release(&raw);
    q.format = "svg";
    ASSERT_EQ(query_export(s, &q, &out, &ct, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    buf_release(&out);
    store_close(s);
}

TEST(query_flamebearer_ties_respect_max_nodes)
{
    struct stackset ss;
    struct ctree t;
    struct buf b = BUF_INIT;
    char st[64];
    stackset_init(&ss);
    for (int i = 0; i < 5000; i++) {
        snprintf(st, sizeof(st), "main;f%04d", i);
        ss_add(&ss, st, 1);
    }
    ctree_init(&t);
    ctree_add_stackset(&t, &ss, 0);
    ctree_finish(&t);
    ctree_flamebearer(&t, 1, 100, &b, NULL);
    json_t *j = parse(&b);
    json_t *levels = json_object_get(j, "levels");
    ASSERT_EQ(json_array_size(levels), 3);
    /* total, main, then 98 one-sample leaves (first by name) and one "other" of the rest */
    json_t *row = json_array_get(levels, 2);
    ASSERT_EQ(json_array_size(row), 99 * 4);
    ASSERT_EQ(json_integer_value(json_array_get(row, 98 * 4 + 1)), 5000 - 98);
    json_t *names = json_object_get(j, "names");
    ASSERT_STREQ(json_string_value(json_array_get(names, 2)), "f0000");
    ASSERT_STREQ(json_string_value(json_array_get(names, 100)), "other");
    json_decref(j);
    buf_release(&b);
    ctree_release(&t);
    stackset_release(&ss);
}

TEST(query_tree_merges_frames_by_name)
{
    struct stackset ss;
    struct ctree t;
    stackset_init(&ss);
    /* the same function at two lines (two frames) under one parent becomes one node */
    uint32_t m = symtab_frame_str(&ss.sym, "main", "m.c", 1, NULL, 0);
    uint32_t f1 = symtab_frame_str(&ss.sym, "f", "f.c", 10, NULL, 0x10);
    uint32_t f2 = symtab_frame_str(&ss.sym, "f", "f.c", 20, NULL, 0x20);
    uint32_t u = symtab_frame_str(&ss.sym, NULL, NULL, 0, NULL, 0x30);
    ASSERT_NE(f1, f2);
    uint32_t s1[] = {m, f1}, s2[] = {m, f2}, s3[] = {m, u};
    struct sample a = {.stack = symtab_stack(&ss.sym, s1, 2), .value = 3};
    struct sample b = {.stack = symtab_stack(&ss.sym, s2, 2), .value = 4};
    struct sample c = {.stack = symtab_stack(&ss.sym, s3, 2), .value = 5};
    struct sample bad = {.stack = 999999, .value = 100};
    struct sample root = {.stack = 0, .value = 1};
    VEC_PUSH(ss.samples, a);
    VEC_PUSH(ss.samples, b);
    VEC_PUSH(ss.samples, c);
    VEC_PUSH(ss.samples, bad);
    VEC_PUSH(ss.samples, root);
    ctree_init(&t);
    ASSERT_EQ(ctree_add_stackset(&t, &ss, 0), 1); /* the bad stack id is skipped */
    ctree_finish(&t);
    ASSERT_EQ(t.nodes.len, 4); /* root, main, f, unknown */
    ASSERT_EQ(t.nodes.data[0].total[0], 13);
    ASSERT_EQ(t.nodes.data[0].self[0], 1);
    const struct cnode *mn = &t.nodes.data[t.child[t.nodes.data[0].first]];
    ASSERT_EQ(mn->nchild, 2);
    const struct cnode *fn = &t.nodes.data[t.child[mn->first]];
    ASSERT_STREQ(strtab_get(&t.names, fn->name), "f");
    ASSERT_EQ(fn->total[0], 7);
    ASSERT_STREQ(strtab_get(&t.names, t.name_file.data[fn->name]), "f.c");
    ASSERT_STREQ(ctree_node_name(&t, t.child[mn->first + 1]), "unknown");
    ctree_release(&t);
    stackset_release(&ss);
}
