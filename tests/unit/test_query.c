/* test_query.c - call trees, flamebearer encoding, top, sandwich, diff and timeline steps */
#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
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
