/* test_selector.c - selector parsing, errors with offsets, and matching */
#include "base/buf.h"
#include "base/err.h"
#include "profile/labels.h"
#include "profile/selector.h"
#include "test.h"

#define PT_CPU "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

static void parse_ok(struct selector *sel, const char *s)
{
    char err[256];
    int rc = selector_parse(sel, s, err, sizeof(err));
    if (rc)
        TEST_FAIL_("selector_parse(%s) failed: %s", s, err);
}

static void parse_err(const char *s, const char *want)
{
    struct selector sel;
    char err[256];
    ASSERT_EQ(selector_parse(&sel, s, err, sizeof(err)), -EMBER_EINVAL_INPUT);
    if (!strstr(err, want))
        TEST_FAIL_("error for %s was \"%s\", want \"%s\"", s, err, want);
    ASSERT_EQ(sel.n, 0);
    ASSERT(sel.profile_type == NULL);
}

TEST(selector_parses_full_form)
{
    struct selector sel;
    parse_ok(&sel, "  " PT_CPU " { service_name = \"flask-app\", env=~'prod|stage',pod!=``, "
                   "region !~ \"eu-.*\" , } ");
    ASSERT_STREQ(sel.profile_type, PT_CPU);
    ASSERT_EQ(sel.n, 5);
    ASSERT_STREQ(sel.m[0].name, "__profile_type__");
    ASSERT_STREQ(sel.m[0].value, PT_CPU);
    ASSERT_EQ(sel.m[0].op, MATCH_EQ);
    ASSERT_STREQ(sel.m[1].name, "service_name");
    ASSERT_STREQ(sel.m[1].value, "flask-app");
    ASSERT_EQ(sel.m[2].op, MATCH_RE);
    ASSERT_STREQ(sel.m[2].value, "prod|stage");
    ASSERT(sel.m[2].re != NULL);
    ASSERT_EQ(sel.m[3].op, MATCH_NE);
    ASSERT_STREQ(sel.m[3].value, "");
    ASSERT_EQ(sel.m[4].op, MATCH_NRE);
    ASSERT_STREQ(selector_eq_value(&sel, "service_name"), "flask-app");
    ASSERT(selector_eq_value(&sel, "env") == NULL);
    struct buf b = BUF_INIT;
    selector_format(&sel, &b);
    ASSERT_STREQ(b.data, "{__profile_type__=\"" PT_CPU "\",service_name=\"flask-app\","
                         "env=~\"prod|stage\",pod!=\"\",region!~\"eu-.*\"}");
    buf_release(&b);
    selector_release(&sel);
}

TEST(selector_parses_short_forms)
{
    struct selector sel;
    parse_ok(&sel, "");
    ASSERT_EQ(sel.n, 0);
    ASSERT(sel.profile_type == NULL);
    selector_release(&sel);
    parse_ok(&sel, " {} ");
    ASSERT_EQ(sel.n, 0);
    selector_release(&sel);
    parse_ok(&sel, PT_CPU);
    ASSERT_EQ(sel.n, 1);
    ASSERT_STREQ(sel.profile_type, PT_CPU);
    selector_release(&sel);
    parse_ok(&sel, "{__profile_type__=\"" PT_CPU "\"}");
    ASSERT_STREQ(sel.profile_type, PT_CPU);
    selector_release(&sel);
    parse_ok(&sel, "memory:alloc_in_new_tlab_bytes:bytes:space:bytes{}");
    ASSERT_STREQ(sel.profile_type, "memory:alloc_in_new_tlab_bytes:bytes:space:bytes");
    selector_release(&sel);
}

TEST(selector_escapes)
{
    struct selector sel;
    parse_ok(&sel, "{a=\"q\\\"\\\\\\n\\t\\x41\\101\\u00e9\\U0001F600\", b='it\\'s', c=`raw\\n`}");
    ASSERT_STREQ(sel.m[0].value, "q\"\\\n\tAA\xc3\xa9\xf0\x9f\x98\x80");
    ASSERT_STREQ(sel.m[1].value, "it's");
    ASSERT_STREQ(sel.m[2].value, "raw\\n");
    selector_release(&sel);
}

TEST(selector_errors_name_offsets)
{
    parse_err("{service_name=\"abc", "at offset 14: unterminated string");
    parse_err("{service_name=\"abc\", env=~\"(a\"}", "at offset 26: invalid regex for env: ");
    parse_err("{1abc=\"x\"}", "at offset 1: label name must match [a-zA-Z_][a-zA-Z0-9_]*");
    parse_err("{a==\"x\"}", "at offset 3: expected a quoted label value");
    parse_err("{a<\"x\"}", "at offset 2: expected '=', '!=', '=~' or '!~'");
    parse_err("{a=\"x\" b=\"y\"}", "at offset 7: expected ',' or '}'");
    parse_err("{a=\"x\"", "at offset 6: expected ',' or '}' before end of input");
    parse_err("{a=\"x\",", "expected '}' before end of input");
    parse_err("process_cpu{}", "at offset 0: profile type must have 5 colon-separated parts");
    parse_err("a:b::d:e", "at offset 4: empty part in profile type");
    parse_err("{a=\"x\"} junk", "at offset 8: unexpected text after selector");
    parse_err("{a=\"\\q\"}", "at offset 4: unknown escape sequence \\q");
    parse_err("{a=\"\\ud800\"}", "invalid code point");
    parse_err("{a=\"\\x00\"}", "NUL byte");
    parse_err("{a='x\"}", "at offset 3: unterminated string");
    parse_err("{a=\"x\ny\"}", "unterminated string");
    parse_err("{,}", "at offset 1: label name must match");
}

TEST(selector_rejects_too_many_matchers)
{
    struct buf b = BUF_INIT;
    buf_putc(&b, '{');
    for (int i = 0; i < 300; i++)
        buf_printf(&b, "l%d=\"v\",", i);
    buf_putc(&b, '}');
    parse_err(b.data, "too many matchers");
    buf_release(&b);
}

TEST(selector_matches_labels)
{
    struct selector sel;
    struct labels l;
    labels_init(&l);
    labels_set(&l, "__profile_type__", PT_CPU);
    labels_set(&l, "service_name", "flask-app");
    labels_set(&l, "env", "prod");
    parse_ok(&sel, PT_CPU "{service_name=\"flask-app\", env=~\"prod|stage\"}");
    ASSERT(selector_matches(&sel, &l));
    labels_set(&l, "env", "production"); /* anchored: "prod" must not match a prefix */
    ASSERT(!selector_matches(&sel, &l));
    labels_set(&l, "env", "stage");
    ASSERT(selector_matches(&sel, &l));
    selector_release(&sel);

    /* a missing label matches as "" */
    parse_ok(&sel, "{pod!=\"\"}");
    ASSERT(!selector_matches(&sel, &l));
    labels_set(&l, "pod", "p-1");
    ASSERT(selector_matches(&sel, &l));
    selector_release(&sel);
    parse_ok(&sel, "{zone=\"\"}");
    ASSERT(selector_matches(&sel, &l));
    selector_release(&sel);
    parse_ok(&sel, "{zone=~\".*\"}");
    ASSERT(selector_matches(&sel, &l));
    selector_release(&sel);

    /* the anchors cannot be escaped by the pattern itself */
    parse_err("{env=~\"x)|(st\"}", "unmatched closing parenthesis");
    parse_ok(&sel, "{env=~\"s|st\"}");
    ASSERT(!selector_matches(&sel, &l));
    selector_release(&sel);
    parse_ok(&sel, "{env!~\"st.*\"}");
    ASSERT(!selector_matches(&sel, &l));
    selector_release(&sel);
    parse_ok(&sel, "{env!~\"prod\", service_name!=\"other\"}");
    ASSERT(selector_matches(&sel, &l));
    selector_release(&sel);

    /* a different profile type does not match */
    parse_ok(&sel, "wall:wall:nanoseconds:cpu:nanoseconds");
    ASSERT(!selector_matches(&sel, &l));
    selector_release(&sel);
    labels_release(&l);
}

TEST(selector_regex_dot_matches_newline)
{
    struct selector sel;
    struct matcher *m;
    parse_ok(&sel, "{a=~\"x.y\"}");
    m = &sel.m[0];
    ASSERT(matcher_matches(m, "x\ny"));
    ASSERT(!matcher_matches(m, "x\ny\n"));
    ASSERT(!matcher_matches(m, NULL));
    selector_release(&sel);
    /* catastrophic backtracking gives up as "no match" instead of hanging */
    parse_ok(&sel, "{a=~\"(a+)+b\"}");
    ASSERT(!matcher_matches(&sel.m[0], "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac"));
    selector_release(&sel);
}
