/* test_cli_util.c - CLI helpers: sizes, labels, booleans, config files, value units, tables */
#include <stdio.h>

#include "base/buf.h"
#include "base/err.h"
#include "cli/cli.h"
#include "cli/render.h"
#include "profile/labels.h"
#include "test.h"

TEST(cli_parse_size_units)
{
    uint64_t v = 1;
    ASSERT_OK(cli_parse_size("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(cli_parse_size("10GB", &v));
    ASSERT_EQ(v, 10ULL << 30);
    ASSERT_OK(cli_parse_size("512MiB", &v));
    ASSERT_EQ(v, 512ULL << 20);
    ASSERT_OK(cli_parse_size("1.5k", &v));
    ASSERT_EQ(v, 1536);
    ASSERT_OK(cli_parse_size("2 tb", &v));
    ASSERT_EQ(v, 2ULL << 40);
    ASSERT_OK(cli_parse_size("123", &v));
    ASSERT_EQ(v, 123);
    ASSERT_OK(cli_parse_size("7B", &v));
    ASSERT_EQ(v, 7);
    ASSERT_EQ(cli_parse_size("", &v), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(cli_parse_size("GB", &v), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(cli_parse_size("-1GB", &v), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(cli_parse_size("10XB", &v), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(cli_parse_size("10 G B", &v), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(cli_parse_size("9000PB", &v), -EMBER_ETOOBIG);
}

TEST(cli_parse_labels_pairs_and_errors)
{
    struct labels l;
    labels_init(&l);
    char err[128];
    ASSERT_OK(cli_parse_labels(" env = prod ,region=us-east-1,msg=\"a,b \\\"q\\\"\"", &l, err,
                               sizeof(err)));
    ASSERT_EQ(l.n, 3);
    ASSERT_STREQ(labels_get(&l, "env"), "prod");
    ASSERT_STREQ(labels_get(&l, "region"), "us-east-1");
    ASSERT_STREQ(labels_get(&l, "msg"), "a,b \"q\"");
    ASSERT_OK(cli_parse_labels("env=stage", &l, err, sizeof(err)));
    ASSERT_STREQ(labels_get(&l, "env"), "stage"); /* replaced */
    ASSERT_OK(cli_parse_labels("", &l, err, sizeof(err)));
    ASSERT_EQ(l.n, 3);
    ASSERT_EQ(cli_parse_labels("1bad=x", &l, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(err, "at offset 0: invalid label name '1bad'");
    ASSERT_EQ(cli_parse_labels("a=1,b", &l, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(err, "at offset 5: expected '=' after 'b'");
    ASSERT_EQ(cli_parse_labels("a=\"open", &l, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(err, "at offset 2: unterminated quoted value");
    ASSERT_EQ(cli_parse_labels("a=1,,b=2", &l, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(err, "at offset 4: expected a label name");
    labels_release(&l);
}

TEST(cli_parse_bool_and_int)
{
    int b = -1;
    long n = -1;
    ASSERT_OK(cli_parse_bool("Yes", &b));
    ASSERT_EQ(b, 1);
    ASSERT_OK(cli_parse_bool("off", &b));
    ASSERT_EQ(b, 0);
    ASSERT_EQ(cli_parse_bool("maybe", &b), -EMBER_EINVAL_INPUT);
    ASSERT_OK(cli_parse_int("42", 1, 100, &n));
    ASSERT_EQ(n, 42);
    ASSERT_EQ(cli_parse_int("101", 1, 100, &n), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(cli_parse_int("4x", 1, 100, &n), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(cli_parse_int("", 1, 100, &n), -EMBER_EINVAL_INPUT);
}

struct kv_log {
    struct buf b;
};

static int on_kv(const char *key, const char *value, void *arg, char *err, size_t errlen)
{
    struct kv_log *log = arg;
    if (!strcmp(key, "reject")) {
        snprintf(err, errlen, "rejected '%s'", value);
        return -EMBER_EINVAL_INPUT;
    }
    buf_printf(&log->b, "%s=[%s];", key, value);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
}

TEST(cli_config_file)
{
    struct kv_log log = {BUF_INIT};
    char err[256];
    char path[512];
    snprintf(path, sizeof(path), "%s", tmp_path("ember.conf"));
    write_file(path, "# Ember\n"
                     "http-addr = 127.0.0.1:4040\n"
                     "\n"
                     "data-dir: \"/var/lib/ember # not a comment\"  # a comment\n"
                     "  retention=30d\n"
                     "self-profile: 'false'\n");
    ASSERT_OK(cli_config_load(path, on_kv, &log, err, sizeof(err)));
    ASSERT_STREQ(log.b.data, "http-addr=[127.0.0.1:4040];data-dir=[/var/lib/ember # not a "
                             "comment];retention=[30d];self-profile=[false];");
    buf_reset(&log.b);
    write_file(path, "a = 1\njust words\n");
    ASSERT_EQ(cli_config_load(path, on_kv, &log, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "ember.conf:2: expected 'key = value' or 'key: value'") != NULL);
    write_file(path, "a = 1\n\nreject = x\n");
    ASSERT_EQ(cli_config_load(path, on_kv, &log, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "ember.conf:3: rejected 'x'") != NULL);
    ASSERT(cli_config_load(tmp_path("missing.conf"), on_kv, &log, err, sizeof(err)) < 0);
    ASSERT(strstr(err, "cannot read config file") != NULL);
    buf_release(&log.b);
}

TEST(cli_url_params_escape)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "http://h:1/ingest");
    cli_url_param(&b, "name", "app.cpu{env=prod}");
    cli_url_param(&b, "skip", NULL);
    cli_url_param(&b, "q", "a b&c");
    ASSERT_STREQ(b.data, "http://h:1/ingest?name=app.cpu%7Benv%3Dprod%7D&q=a%20b%26c");
    buf_release(&b);
    unsetenv("EMBER_SERVER_ADDRESS");
    ASSERT_STREQ(cli_server_url(NULL), CLI_DEFAULT_SERVER);
    setenv("EMBER_SERVER_ADDRESS", "http://x:1", 1);
    ASSERT_STREQ(cli_server_url(NULL), "http://x:1");
    ASSERT_STREQ(cli_server_url("http://y:2"), "http://y:2");
}

TEST(render_value_units)
{
    char s[32];
    render_value(800, "nanoseconds", s, sizeof(s));
    ASSERT_STREQ(s, "800 ns");
    render_value(12345678, "nanoseconds", s, sizeof(s));
    ASSERT_STREQ(s, "12.35 ms");
    render_value(1500000000, "nanoseconds", s, sizeof(s));
    ASSERT_STREQ(s, "1.50 s");
    render_value(3600LL * 1000000000 * 20, "nanoseconds", s, sizeof(s));
    ASSERT_STREQ(s, "20.00 h");
    render_value(1000, "bytes", s, sizeof(s));
    ASSERT_STREQ(s, "1000 B");
    render_value(1536 * 1024, "bytes", s, sizeof(s));
    ASSERT_STREQ(s, "1.50 MB");
    render_value(5LL << 30, "bytes", s, sizeof(s));
    ASSERT_STREQ(s, "5.00 GB");
    render_value(9999, "count", s, sizeof(s));
    ASSERT_STREQ(s, "9999");
    render_value(12345, "count", s, sizeof(s));
    ASSERT_STREQ(s, "12.3k");
    render_value(4500000000LL, NULL, s, sizeof(s));
    ASSERT_STREQ(s, "4.5G");
}

TEST(render_top_table)
{
    const char *json = "{\"unit\":\"nanoseconds\",\"total\":2000000000,\"functions\":["
                       "{\"name\":\"calc\",\"self\":1500000000,\"total\":1500000000},"
                       "{\"name\":\"main\",\"self\":0,\"total\":2000000000},"
                       "{\"name\":\"idle\",\"self\":1,\"total\":1}]}";
    struct buf out = BUF_INIT;
    char err[128];
    ASSERT_OK(render_top(json, strlen(json), 2, &out, err, sizeof(err)));
    ASSERT_STREQ(out.data, "Total: 2.00 s (nanoseconds), 3 functions (top shown)\n"
                           "  Self    Self%   Total   Total%  Function\n"
                           "1.50 s   75.00%  1.50 s   75.00%  calc\n"
                           "  0 ns    0.00%  2.00 s  100.00%  main\n");
    buf_reset(&out);
    ASSERT_EQ(render_top("{\"unit\":1}", 10, 0, &out, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(err, "top: the response has no \"functions\" array");
    ASSERT_EQ(render_top("{oops", 5, 0, &out, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "bad JSON at line 1") != NULL);
    buf_release(&out);
}

TEST(render_flamegraph_tree_rebuilds_levels)
{
    /* total(300) -> main(300) -> {a(200, self 200), b(100, self 50) -> c(50)} */
    const char *json = "{\"unit\":\"count\",\"flamebearer\":{"
                       "\"names\":[\"total\",\"main\",\"b\",\"a\",\"c\"],"
                       "\"levels\":[[0,300,0,0],[0,300,0,1],[0,100,50,2,0,200,200,3],[0,50,50,4]],"
                       "\"numTicks\":300,\"maxSelf\":200}}";
    struct buf out = BUF_INIT;
    char err[128];
    ASSERT_OK(render_flamegraph_tree(json, strlen(json), 0, 0, &out, err, sizeof(err)));
    ASSERT_STREQ(out.data, " Total%       Total        Self  Function\n"
                           "100.00%         300           0  total\n"
                           "100.00%         300           0    main\n"
                           " 66.67%         200         200      a\n"
                           " 33.33%         100          50      b\n"
                           " 16.67%          50          50        c\n");
    buf_reset(&out);
    /* pruned by share and by depth */
    ASSERT_OK(render_flamegraph_tree(json, strlen(json), 20, 3, &out, err, sizeof(err)));
    ASSERT(strstr(out.data, "  c\n") == NULL);
    ASSERT(strstr(out.data, "  b\n") != NULL);
    buf_reset(&out);
    const char *orphan = "{\"flamebearer\":{\"names\":[\"x\",\"y\"],\"levels\":[[0,10,10,0],"
                         "[20,5,5,1]]}}";
    ASSERT_EQ(render_flamegraph_tree(orphan, strlen(orphan), 0, 0, &out, err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(err, "flamegraph: node 0 of level 1 has no parent");
    buf_release(&out);
}

TEST(render_diff_and_lists)
{
    const char *json = "{\"leftTicks\":200,\"rightTicks\":100,\"metadata\":{\"units\":\"count\"},"
                       "\"functions\":[{\"name\":\"f\",\"left_self\":50,\"right_self\":75,"
                       "\"diff\":50.0},{\"name\":\"g\",\"left_self\":150,\"right_self\":25}]}";
    struct buf out = BUF_INIT;
    char err[128];
    ASSERT_OK(render_diff(json, strlen(json), 0, &out, err, sizeof(err)));
    ASSERT_STREQ(out.data, "Left total: 200   Right total: 100   (self share of each side's "
                           "total)\n"
                           "  Left%   Right%         Δ  Function\n"
                           " 25.00%   75.00%    +50.00  f\n"
                           " 75.00%   25.00%    -50.00  g\n");
    buf_reset(&out);
    const char *series =
        "{\"series\":[{\"labels\":{\"service_name\":\"app\",\"env\":\"a\\\"b\"}}]}";
    ASSERT_OK(render_series(series, strlen(series), &out, err, sizeof(err)));
    ASSERT_STREQ(out.data, "{service_name=\"app\", env=\"a\\\"b\"}\n");
    buf_reset(&out);
    const char *names = "{\"names\":[\"__name__\",\"env\"]}";
    ASSERT_OK(render_strings(names, strlen(names), "names", &out, err, sizeof(err)));
    ASSERT_STREQ(out.data, "__name__\nenv\n");
    buf_reset(&out);
    const char *types = "{\"types\":[{\"id\":\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\"}]}";
    ASSERT_OK(render_types(types, strlen(types), &out, err, sizeof(err)));
    ASSERT_STREQ(out.data, "process_cpu:cpu:nanoseconds:cpu:nanoseconds\n");
    buf_release(&out);
}
