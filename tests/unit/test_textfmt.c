/* test_textfmt.c - folded, lines, trie, tree and perf script codecs; format detection */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "profile/profile.h"
#include "profile/textfmt.h"
#include "test.h"

/* A symtab and a profile, and the last error message. */
struct fx {
    struct symtab sym;
    struct profile prof;
    struct ingest_limits lim;
    char err[256];
    struct buf out;
};

static void fx_init(struct fx *f)
{
    symtab_init(&f->sym);
    profile_init(&f->prof);
    ingest_limits_default(&f->lim);
    f->err[0] = '\0';
    buf_init(&f->out);
}

static void fx_release(struct fx *f)
{
    profile_release(&f->prof);
    symtab_release(&f->sym);
    buf_release(&f->out);
}

static int folded(struct fx *f, const char *text)
{
    return folded_parse(text, strlen(text), &f->sym, &f->prof, &f->lim, f->err, sizeof(f->err));
}

/* The profile as folded text (borrowed until the next call). */
static const char *as_folded(struct fx *f)
{
    buf_reset(&f->out);
    folded_write(&f->sym, &f->prof, &f->out);
    return f->out.data ? f->out.data : "";
}

/* Parses text as folded and expects it to fail with code and message. */
static void expect_folded_error(const char *text, int code, const char *msg)
{
    struct fx f;
    fx_init(&f);
    ASSERT_EQ(folded(&f, text), code);
    ASSERT_STREQ(f.err, msg);
    fx_release(&f);
}

TEST(folded_parse_sums_duplicates_crlf_blank_lines)
{
    struct fx f;
    fx_init(&f);
    ASSERT_OK(folded(&f, "a;b;c 3\r\na;b 2\n\n   \r\na;b;c 4\r\n"));
    ASSERT_EQ(f.prof.samples.len, 2);
    ASSERT_EQ(profile_total(&f.prof), 9);
    ASSERT_STREQ(as_folded(&f), "a;b 2\na;b;c 7\n");
    /* frames are name-only frames, as symtab_frame_str(name) makes them */
    uint32_t want[3] = {symtab_frame_str(&f.sym, "a", NULL, 0, NULL, 0),
                        symtab_frame_str(&f.sym, "b", NULL, 0, NULL, 0),
                        symtab_frame_str(&f.sym, "c", NULL, 0, NULL, 0)};
    uint32_t abc = symtab_stack(&f.sym, want, 3);
    int found = 0;
    for (size_t i = 0; i < f.prof.samples.len; i++)
        if (f.prof.samples.data[i].stack == abc && f.prof.samples.data[i].value == 7)
            found = 1;
    ASSERT(found);
    fx_release(&f);
}

TEST(folded_parse_splits_on_last_space)
{
    struct fx f;
    fx_init(&f);
    ASSERT_OK(folded(&f, "main;std::vector<int>::push_back(int const&) 5\n"
                         "main;operator new(unsigned long)  2  \n"
                         "x;y\t3\n"
                         "no last line end 1"));
    ASSERT_STREQ(as_folded(&f), "main;operator new(unsigned long) 2\n"
                                "main;std::vector<int>::push_back(int const&) 5\n"
                                "no last line end 1\n"
                                "x;y 3\n");
    fx_release(&f);
}

TEST(folded_parse_errors_name_the_line)
{
    expect_folded_error("a;b 1\n\n\n\n\n\n\n\n\n\n\nmain;work\n", -EMBER_EINVAL_INPUT,
                        "line 12: no sample count after the last space");
    expect_folded_error("a;b -3\n", -EMBER_EINVAL_INPUT, "line 1: negative sample count '-3'");
    expect_folded_error("a 1\na;b x12\n", -EMBER_EINVAL_INPUT,
                        "line 2: sample count 'x12' after the last space is not a number");
    expect_folded_error("a;b 1.5\n", -EMBER_EINVAL_INPUT,
                        "line 1: sample count '1.5' after the last space is not a number");
    expect_folded_error("a;b 9223372036854775808\n", -EMBER_EINVAL_INPUT,
                        "line 1: sample count '9223372036854775808' is too large");
    expect_folded_error("a;;b 1\n", -EMBER_EINVAL_INPUT,
                        "line 1: empty frame at column 3 (';;' or a ';' at an end)");
    expect_folded_error(";a 1\n", -EMBER_EINVAL_INPUT,
                        "line 1: empty frame at column 1 (';;' or a ';' at an end)");
    expect_folded_error("a; 1\n", -EMBER_EINVAL_INPUT,
                        "line 1: empty frame at column 3 (';;' or a ';' at an end)");
    expect_folded_error("   7\n", -EMBER_EINVAL_INPUT, "line 1: empty stack before the count");
    expect_folded_error("a 9223372036854775807\na 1\n", -EMBER_EINVAL_INPUT,
                        "line 2: sample values of one stack add up past the int64 range");
    const char nul[] = "a;b 1\na\0b 2\n";
    struct fx f;
    fx_init(&f);
    ASSERT_EQ(folded_parse(nul, sizeof(nul) - 1, &f.sym, &f.prof, NULL, f.err, sizeof(f.err)),
              -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "line 2: NUL byte at column 2");
    fx_release(&f);
}

TEST(folded_parse_zero_counts_and_empty_input)
{
    struct fx f;
    fx_init(&f);
    ASSERT_OK(folded(&f, ""));
    ASSERT_OK(folded(&f, "\n\r\n"));
    ASSERT_OK(folded(&f, "a;b 0\n"));
    ASSERT_EQ(f.prof.samples.len, 0);
    fx_release(&f);
}

TEST(folded_parse_limits)
{
    struct fx f;
    fx_init(&f);
    f.lim.max_depth = 2;
    ASSERT_OK(folded(&f, "a;b;c;d 1\na;b 2\na;x;y 3\n"));
    ASSERT_STREQ(as_folded(&f), "a;b 3\na;x 3\n");
    fx_release(&f);

    fx_init(&f);
    f.lim.max_symbol_len = 3;
    /* "a\xc3\xa9" is 'a' and e-acute: cutting at 2 bytes would split the character */
    ASSERT_OK(folded(&f, "abcdef;abcxyz 1\nxa\xc3\xa9z 1\n"));
    ASSERT_STREQ(as_folded(&f), "abc;abc 1\nxa 1\n");
    fx_release(&f);

    fx_init(&f);
    f.lim.max_samples = 2;
    ASSERT_EQ(folded(&f, "a 1\nb 1\na 5\nb 1\nc 1\n"), -EMBER_ETOOBIG);
    ASSERT_STREQ(f.err, "line 5: more than 2 distinct stacks (the max_samples limit)");
    fx_release(&f);
}

TEST(folded_parse_shared_prefixes_are_exact)
{
    /* the previous-line cache must not confuse frames that share bytes but not boundaries */
    struct fx f;
    fx_init(&f);
    ASSERT_OK(folded(&f, "ab;c 1\na;bc 2\na;b;c 4\na;b;cd 8\na;bx 16\nab;c 32\nab;c 64\n"
                         "a;b;c;d 128\na;b 256\nab 512\nab;c;d 1024\na;b 1\na;b;c 1\n"
                         "a;b;c;d 1\na;b;c;dd 1\na;b;c 1\n"));
    ASSERT_STREQ(as_folded(&f), "a;b 257\na;b;c 6\na;b;c;d 129\na;b;c;dd 1\na;b;cd 8\na;bc 2\n"
                                "a;bx 16\nab 512\nab;c 97\nab;c;d 1024\n");
    ASSERT_EQ(f.prof.samples.len, 10);
    fx_release(&f);
}

TEST(lines_parse_counts_each_line_once)
{
    struct fx f;
    fx_init(&f);
    const char *t = "a;b\r\na;b\n\nc\na;b;c \n";
    ASSERT_OK(lines_parse(t, strlen(t), &f.sym, &f.prof, &f.lim, f.err, sizeof(f.err)));
    ASSERT_STREQ(as_folded(&f), "a;b 2\na;b;c 1\nc 1\n");
    t = "a\nb;;c\n";
    ASSERT_EQ(lines_parse(t, strlen(t), &f.sym, &f.prof, &f.lim, f.err, sizeof(f.err)),
              -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "line 2: empty frame at column 3 (';;' or a ';' at an end)");
    fx_release(&f);
}

TEST(folded_write_escapes_and_skips)
{
    struct fx f;
    fx_init(&f);
    uint32_t fr[3] = {symtab_frame_str(&f.sym, "main", NULL, 0, NULL, 0),
                      symtab_frame_str(&f.sym, "two\nlines", NULL, 0, NULL, 0), 0};
    profile_add(&f.prof, symtab_stack(&f.sym, fr, 2), 3);
    profile_add(&f.prof, symtab_stack(&f.sym, fr, 1), 0);
    profile_add(&f.prof, symtab_stack(&f.sym, (uint32_t[]){fr[0], fr[2]}, 2), -4);
    /* same names, different modules: one line */
    uint32_t m1 = symtab_frame_str(&f.sym, "f", NULL, 0, "/lib/a.so", 0);
    uint32_t m2 = symtab_frame_str(&f.sym, "f", NULL, 0, "/lib/b.so", 0);
    profile_add(&f.prof, symtab_stack(&f.sym, &m1, 1), 1);
    profile_add(&f.prof, symtab_stack(&f.sym, &m2, 1), 2);
    ASSERT_STREQ(as_folded(&f), "f 3\nmain;[unknown] -4\nmain;two lines 3\n");
    fx_release(&f);
}

/* ---- trie and tree ---- */

static int trie(struct fx *f, const void *p, size_t n)
{
    return trie_parse(p, n, &f->sym, &f->prof, &f->lim, f->err, sizeof(f->err));
}

static int tree(struct fx *f, const void *p, size_t n)
{
    return tree_parse(p, n, &f->sym, &f->prof, &f->lim, f->err, sizeof(f->err));
}

/*
 * Stacks "a;b" = 1 and "a;c" = 2 as a transport trie, by hand from the spec:
 * root: len 0, value 0, 1 child; "a;": len 2, value 0, 2 children;
 * "b": len 1, value 1, no children; "c": len 1, value 2, no children.
 */
static const unsigned char trie_ab_ac[] = {0x00, 0x00, 0x01, 0x02, 'a',  ';', 0x00, 0x02,
                                           0x01, 'b',  0x01, 0x00, 0x01, 'c', 0x02, 0x00};

TEST(trie_parse_hand_bytes)
{
    struct fx f;
    fx_init(&f);
    ASSERT_OK(trie(&f, trie_ab_ac, sizeof(trie_ab_ac)));
    ASSERT_STREQ(as_folded(&f), "a;b 1\na;c 2\n");
    fx_release(&f);
}

TEST(trie_write_hand_bytes)
{
    struct fx f;
    fx_init(&f);
    ASSERT_OK(folded(&f, "a;c 2\na;b 1\n"));
    struct buf b = BUF_INIT;
    trie_write(&f.sym, &f.prof, &b);
    ASSERT_EQ(b.len, sizeof(trie_ab_ac));
    ASSERT(!memcmp(b.data, trie_ab_ac, sizeof(trie_ab_ac)));
    buf_release(&b);
    fx_release(&f);
}

TEST(trie_parse_fragments_split_anywhere_and_multibyte_varints)
{
    /* root -> "ma" (value 0) -> "in;x" (value 300, a 2-byte varint) and "in" (value 5) ->
     * ";y" (value 1); so keys "main;x" = 300, "main" = 5, "main;y" = 1. Then a second tree. */
    const unsigned char t[] = {0x00, 0x00, 0x01,                               /* root */
                               0x02, 'm',  'a',  0x00, 0x02,                   /* "ma" */
                               0x04, 'i',  'n',  ';',  'x',  0xac, 0x02, 0x00, /* "in;x" */
                               0x02, 'i',  'n',  0x05, 0x01,                   /* "in" */
                               0x02, ';',  'y',  0x01, 0x00,                   /* ";y" */
                               0x00, 0x00, 0x01, 0x01, 'z',  0x07, 0x00};      /* tree 2 */
    struct fx f;
    fx_init(&f);
    ASSERT_OK(trie(&f, t, sizeof(t)));
    ASSERT_STREQ(as_folded(&f), "main 5\nmain;x 300\nmain;y 1\nz 7\n");
    fx_release(&f);
}

TEST(trie_parse_errors)
{
    struct fx f;
    /* every strict prefix that is not a whole tree fails as truncated */
    for (size_t n = 1; n < sizeof(trie_ab_ac); n++) {
        fx_init(&f);
        ASSERT_EQ(trie(&f, trie_ab_ac, n), -EMBER_ETRUNC);
        ASSERT(strstr(f.err, "truncated"));
        ASSERT(!strncmp(f.err, "at byte ", 8));
        fx_release(&f);
    }
    fx_init(&f);
    ASSERT_EQ(trie(&f, trie_ab_ac, 5), -EMBER_ETRUNC);
    ASSERT_STREQ(f.err, "at byte 3: truncated trie node: name of 2 bytes, 1 left");
    fx_release(&f);

    const unsigned char empty_frame[] = {0x00, 0x00, 0x01, 0x04, 'a', ';', ';', 'b', 0x01, 0x00};
    fx_init(&f);
    ASSERT_EQ(trie(&f, empty_frame, sizeof(empty_frame)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "at byte 3: empty frame in trie key 'a;;b'");
    fx_release(&f);

    const unsigned char overflow[] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0x02, 0x00};
    fx_init(&f);
    ASSERT_EQ(trie(&f, overflow, sizeof(overflow)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "at byte 1: varint overflows 64 bits in trie node");
    fx_release(&f);

    const unsigned char too_big[] = {0x01, 'a',  0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0x01, 0x00};
    fx_init(&f);
    ASSERT_EQ(trie(&f, too_big, sizeof(too_big)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "at byte 0: trie node value 18446744073709551615 is too large");
    fx_release(&f);

    const unsigned char huge_name[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
    fx_init(&f);
    ASSERT_EQ(trie(&f, huge_name, sizeof(huge_name)), -EMBER_ETRUNC);
    ASSERT_STREQ(f.err, "at byte 0: truncated trie node: name of 4294967295 bytes, 1 left");
    fx_release(&f);

    /* a chain of nodes with one child each, deeper than the nesting limit */
    size_t depth = TEXTFMT_MAX_NESTING + 10;
    unsigned char *deep = malloc(depth * 3);
    for (size_t i = 0; i < depth; i++) {
        deep[3 * i] = 0x00;
        deep[3 * i + 1] = 0x00;
        deep[3 * i + 2] = 0x01;
    }
    fx_init(&f);
    ASSERT_EQ(trie(&f, deep, depth * 3), -EMBER_ETOOBIG);
    ASSERT(strstr(f.err, "trie nested deeper than 65536"));
    fx_release(&f);
    free(deep);
    /* the same for a tree, whose nodes need names */
    deep = malloc(3 + depth * 4);
    memcpy(deep, "\0\0\1", 3);
    for (size_t i = 0; i < depth; i++)
        memcpy(deep + 3 + 4 * i, "\1a\0\1", 4);
    fx_init(&f);
    ASSERT_EQ(tree(&f, deep, 3 + depth * 4), -EMBER_ETOOBIG);
    ASSERT(strstr(f.err, "tree nested deeper than 65536"));
    fx_release(&f);
    free(deep);
}

TEST(trie_parse_limits)
{
    struct fx f;
    fx_init(&f);
    f.lim.max_depth = 2;
    f.lim.max_symbol_len = 2;
    /* key "aaa;bbb;ccc" = 4 and "aaa;bbbb" = 1 */
    const unsigned char t[] = {0x00, 0x00, 0x01, 0x07, 'a', 'a', 'a',  ';',  'b',  'b', 'b',  0x00,
                               0x02, 0x04, ';',  'c',  'c', 'c', 0x04, 0x00, 0x01, 'b', 0x01, 0x00};
    ASSERT_OK(trie(&f, t, sizeof(t)));
    ASSERT_STREQ(as_folded(&f), "aa;bb 5\n");
    fx_release(&f);

    fx_init(&f);
    f.lim.max_samples = 1;
    ASSERT_EQ(trie(&f, trie_ab_ac, sizeof(trie_ab_ac)), -EMBER_ETOOBIG);
    ASSERT_STREQ(f.err, "at byte 12: more than 1 distinct stacks (the max_samples limit)");
    fx_release(&f);
}

/*
 * Stacks a = 1, a;b = 2, a;c = 3 as a tree, by hand: root "" self 0 with 1 child;
 * "a" self 1 with 2 children; "b" self 2; "c" self 3.
 */
static const unsigned char tree_abc[] = {0x00, 0x00, 0x01, 0x01, 'a', 0x01, 0x02, 0x01,
                                         'b',  0x02, 0x00, 0x01, 'c', 0x03, 0x00};

TEST(tree_parse_and_write_hand_bytes)
{
    struct fx f;
    fx_init(&f);
    ASSERT_OK(tree(&f, tree_abc, sizeof(tree_abc)));
    ASSERT_STREQ(as_folded(&f), "a 1\na;b 2\na;c 3\n");
    struct buf b = BUF_INIT;
    tree_write(&f.sym, &f.prof, &b);
    ASSERT_EQ(b.len, sizeof(tree_abc));
    ASSERT(!memcmp(b.data, tree_abc, sizeof(tree_abc)));
    buf_release(&b);
    fx_release(&f);
}

TEST(tree_parse_frames_are_whole_names_and_errors)
{
    struct fx f;
    /* a node name holding ';' stays one frame */
    const unsigned char semi[] = {0x00, 0x00, 0x01, 0x03, 'a', ';', 'b', 0x02, 0x00};
    fx_init(&f);
    ASSERT_OK(tree(&f, semi, sizeof(semi)));
    ASSERT_EQ(f.prof.samples.len, 1);
    ASSERT_EQ(symtab_depth(&f.sym, f.prof.samples.data[0].stack), 1);
    fx_release(&f);

    const unsigned char named_root[] = {0x01, 'r', 0x00, 0x00};
    fx_init(&f);
    ASSERT_EQ(tree(&f, named_root, sizeof(named_root)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "at byte 0: tree root has a name (1 bytes); it must be empty");
    fx_release(&f);

    const unsigned char empty_name[] = {0x00, 0x00, 0x01, 0x00, 0x01, 0x00};
    fx_init(&f);
    ASSERT_EQ(tree(&f, empty_name, sizeof(empty_name)), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "at byte 3: tree node with an empty name");
    fx_release(&f);

    for (size_t n = 1; n < sizeof(tree_abc); n++) {
        fx_init(&f);
        ASSERT_EQ(tree(&f, tree_abc, n), -EMBER_ETRUNC);
        fx_release(&f);
    }

    fx_init(&f);
    f.lim.max_depth = 1;
    ASSERT_OK(tree(&f, tree_abc, sizeof(tree_abc)));
    ASSERT_STREQ(as_folded(&f), "a 6\n");
    fx_release(&f);
}

/* folded text -> trie/tree -> parse -> folded text is the identity (for positive values) */
static void roundtrip(const char *text)
{
    struct fx a, b, c;
    struct buf tb = BUF_INIT, rb = BUF_INIT;
    fx_init(&a);
    fx_init(&b);
    fx_init(&c);
    ASSERT_OK(folded(&a, text));
    trie_write(&a.sym, &a.prof, &tb);
    tree_write(&a.sym, &a.prof, &rb);
    ASSERT_OK(trie(&b, tb.data, tb.len));
    ASSERT_OK(tree(&c, rb.data, rb.len));
    const char *want = as_folded(&a);
    ASSERT_STREQ(as_folded(&b), want);
    ASSERT_STREQ(as_folded(&c), want);
    buf_release(&tb);
    buf_release(&rb);
    fx_release(&a);
    fx_release(&b);
    fx_release(&c);
}

TEST(trie_tree_roundtrip)
{
    roundtrip("a;b 1\n");
    roundtrip("main 3\nmain;a 1\nmain;ab 2\nmain;ab;c 4\nmain;a;b 8\nmaim 16\nx y;z 32\n");
    /* a generated profile with shared prefixes at all depths */
    struct buf t = BUF_INIT;
    unsigned x = 12345;
    for (int i = 0; i < 500; i++) {
        int depth = 1 + (int)((x >> 8) % 12);
        for (int d = 0; d < depth; d++) {
            x = x * 1103515245u + 12345u;
            buf_printf(&t, "%sfn%u", d ? ";" : "", (x >> 16) % 4);
        }
        buf_printf(&t, " %u\n", 1 + (x >> 20) % 100);
    }
    roundtrip(t.data);
    buf_release(&t);
}

TEST(trie_tree_write_skip_non_positive)
{
    struct fx f;
    fx_init(&f);
    uint32_t a = symtab_frame_str(&f.sym, "a", NULL, 0, NULL, 0);
    profile_add(&f.prof, symtab_stack(&f.sym, &a, 1), -5);
    struct buf b = BUF_INIT;
    trie_write(&f.sym, &f.prof, &b);
    ASSERT_EQ(b.len, 3); /* just the empty root */
    buf_reset(&b);
    tree_write(&f.sym, &f.prof, &b);
    ASSERT_EQ(b.len, 3);
    buf_release(&b);
    fx_release(&f);
}

/* ---- perf script ---- */

static int perf(struct fx *f, const char *t, unsigned flags)
{
    return perfscript_parse_flags(t, strlen(t), &f->sym, &f->prof, &f->lim, flags, f->err,
                                  sizeof(f->err));
}

/* Self value of frames named name (sum over stacks whose leaf has that name). */
static int64_t leaf_value(struct fx *f, const char *name)
{
    int64_t v = 0;
    for (size_t i = 0; i < f->prof.samples.len; i++) {
        uint32_t leaf;
        symtab_unwind(&f->sym, f->prof.samples.data[i].stack, &leaf, 1);
        if (!strcmp(symtab_str(&f->sym, symtab_get_frame(&f->sym, leaf)->name), name))
            v += f->prof.samples.data[i].value;
    }
    return v;
}

/* Counts event headers in real perf script output (lines not starting with a tab). */
static int64_t count_events(const char *t)
{
    int64_t n = 0;
    for (const char *l = t; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        if (*l != '\t' && *l != '\n')
            n++;
    return n;
}

static void check_shares(struct fx *f)
{
    double w60 = (double)leaf_value(f, "work60"), w30 = (double)leaf_value(f, "work30"),
           w10 = (double)leaf_value(f, "work10");
    double sum = w60 + w30 + w10, total = (double)profile_total(&f->prof);
    ASSERT(total > 300);
    ASSERT(sum / total > 0.95); /* the burners are nearly all the profile */
    ASSERT_NEAR(100 * w60 / sum, 60, 3);
    ASSERT_NEAR(100 * w30 / sum, 30, 3);
    ASSERT_NEAR(100 * w10 / sum, 10, 3);
}

TEST(perfscript_parse_real_callchains)
{
    size_t n;
    char *t = test_read_file("perf/workload.perf.txt", &n);
    ASSERT(t);
    struct fx f;
    fx_init(&f);
    ASSERT_OK(perfscript_parse(t, n, &f.sym, &f.prof, &f.lim, 0, f.err, sizeof(f.err)));
    ASSERT_EQ(profile_total(&f.prof), count_events(t));
    check_shares(&f);
    ASSERT_EQ(f.prof.period, 1001001); /* cpu-clock at 999 Hz, in ns */
    /* root first: libc's __libc_start_call_main, then main, run_round, work60 */
    const char *want[] = {"__libc_start_call_main", "main", "run_round", "work60"};
    int seen = 0;
    for (size_t i = 0; i < f.prof.samples.len; i++) {
        uint32_t fr[8];
        size_t d = symtab_unwind(&f.sym, f.prof.samples.data[i].stack, fr, 8);
        if (d != 4)
            continue;
        const struct frame *leaf = symtab_get_frame(&f.sym, fr[0]);
        if (strcmp(symtab_str(&f.sym, leaf->name), "work60"))
            continue;
        for (size_t k = 0; k < 4; k++)
            ASSERT_STREQ(symtab_str(&f.sym, symtab_get_frame(&f.sym, fr[3 - k])->name), want[k]);
        ASSERT_STREQ(symtab_str(&f.sym, leaf->module), "/tmp/ember-perf/workload");
        ASSERT_STREQ(symtab_str(&f.sym, symtab_get_frame(&f.sym, fr[3])->module),
                     "/usr/lib/x86_64-linux-gnu/libc.so.6");
        seen = 1;
    }
    ASSERT(seen);
    fx_release(&f);

    /* comm as root, and values weighted by period */
    fx_init(&f);
    ASSERT_OK(perfscript_parse_flags(t, n, &f.sym, &f.prof, &f.lim,
                                     PERFSCRIPT_COMM_ROOT | PERFSCRIPT_USE_PERIOD, f.err,
                                     sizeof(f.err)));
    ASSERT_EQ(profile_total(&f.prof), count_events(t) * 1001001);
    ASSERT_EQ(f.prof.period, 0);
    check_shares(&f);
    for (size_t i = 0; i < f.prof.samples.len; i++) {
        uint32_t fr[16];
        size_t d = symtab_unwind(&f.sym, f.prof.samples.data[i].stack, fr, 16);
        ASSERT(d >= 2 && d <= 16);
        ASSERT_STREQ(symtab_str(&f.sym, symtab_get_frame(&f.sym, fr[d - 1])->name), "work load");
    }
    fx_release(&f);
    free(t);
}

TEST(perfscript_parse_real_without_callchains)
{
    size_t n;
    char *t = test_read_file("perf/workload.nog.perf.txt", &n);
    ASSERT(t);
    struct fx f;
    fx_init(&f);
    ASSERT_OK(perfscript_parse(t, n, &f.sym, &f.prof, &f.lim, 0, f.err, sizeof(f.err)));
    ASSERT_EQ(profile_total(&f.prof), count_events(t));
    check_shares(&f);
    for (size_t i = 0; i < f.prof.samples.len; i++)
        ASSERT_EQ(symtab_depth(&f.sym, f.prof.samples.data[i].stack), 1);
    fx_release(&f);
    free(t);
}

TEST(perfscript_parse_header_variants)
{
    const char *t =
        "# ========\n"
        "# captured on: today\n"
        "swapper     0 [001] 12345.678901:   10101010 cpu-clock:ppp: \n"
        "\tffffffff81a2b3c4 native_safe_halt+0xe ([kernel.kallsyms])\n"
        "\tffffffff81000000 default_idle ([kernel.kallsyms])\n"
        "\n"
        "my prog 2 12/13 [000]   100.5: \n"
        "\t    55d0c8a0b1c2 std::vector<int>::push_back(int const&)+0x12 (/opt/x y/bin)\n"
        "\t    7f0000001000 [unknown] (/usr/lib/libfoo.so.1)\n"
        "\t           401000 [unknown] ([unknown])\n"
        "my prog 2 12/13 [000]   100.6: sched:sched_switch: prev_comm=a prev_pid=1\n"
        "\t    55d0c8a0b1c2 calc3+0x12 (/opt/x y/bin)\n"
        "\n"
        "lonely 7 100.7: 5 cycles: \n"
        "\n"
        "inline 8 100.8: 55d0c8a0b1c2 calc3+0x1 (/opt/x y/bin)\n"
        "  inline 8 100.9: 3 cpu-clock: 401136 main (/opt/x y/bin)\n";
    struct fx f;
    fx_init(&f);
    ASSERT_OK(perf(&f, t, PERFSCRIPT_COMM_ROOT));
    ASSERT_STREQ(as_folded(&f),
                 "inline;calc3 1\n"
                 "inline;main 1\n"
                 "lonely;[unknown] 1\n"
                 "my prog 2;0x401000;[unknown] (libfoo.so.1);std::vector<int>::push_back(int "
                 "const&) 1\n"
                 "my prog 2;calc3 1\n"
                 "swapper;default_idle;native_safe_halt 1\n");
    /* the mean printed period: (10101010 + 5 + 3) / 3 */
    ASSERT_EQ(f.prof.period, 3367006);
    fx_release(&f);

    fx_init(&f);
    ASSERT_OK(perf(&f, t, PERFSCRIPT_USE_PERIOD));
    ASSERT_EQ(leaf_value(&f, "native_safe_halt"), 10101010);
    ASSERT_EQ(leaf_value(&f, "calc3"), 2);
    ASSERT_EQ(leaf_value(&f, "main"), 3);
    fx_release(&f);

    fx_init(&f);
    f.lim.max_depth = 2;
    ASSERT_OK(perf(&f, t, PERFSCRIPT_COMM_ROOT));
    ASSERT(strstr(as_folded(&f), "my prog 2;0x401000 1\n"));
    fx_release(&f);
}

TEST(perfscript_parse_errors)
{
    struct fx f;
    fx_init(&f);
    ASSERT_EQ(perf(&f, "a 1 1.0: \n\tffff x (y)\nhello world\n", 0), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "line 3: not a perf script event header (comm pid [cpu] time: ...): "
                        "'hello world'");
    fx_release(&f);
    fx_init(&f);
    ASSERT_EQ(perf(&f, "\tffff x (y)\n", 0), -EMBER_EINVAL_INPUT);
    ASSERT_STREQ(f.err, "line 1: call-chain line outside an event: 'ffff x (y)'");
    fx_release(&f);
    fx_init(&f);
    f.lim.max_samples = 1;
    ASSERT_EQ(perf(&f, "a 1 1.0: \n\tffff x (y)\n\na 1 1.1: \n\tffff z (y)\n", 0), -EMBER_ETOOBIG);
    ASSERT_STREQ(f.err, "line 4: more than 1 distinct stacks (the max_samples limit)");
    fx_release(&f);
}

/* ---- detection ---- */

TEST(textfmt_detect_kinds)
{
    const unsigned char gz[] = {0x1f, 0x8b, 0x08, 0x00};
    const unsigned char pprof[] = {0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x00};
    ASSERT_EQ(textfmt_detect(gz, sizeof(gz)), FMT_PPROF_GZ);
    ASSERT_EQ(textfmt_detect(pprof, sizeof(pprof)), FMT_PPROF);
    ASSERT_EQ(textfmt_detect("a;b;c 12\n", 9), FMT_FOLDED);
    ASSERT_EQ(textfmt_detect("\n\nmain 3\n", 9), FMT_FOLDED);
    ASSERT_EQ(textfmt_detect("hello\n", 6), FMT_UNKNOWN);
    ASSERT_EQ(textfmt_detect("", 0), FMT_UNKNOWN);
    const char *p = "# header\nprog 12345 [001] 12345.678901:   10101010 cpu-clock:ppp: \n";
    ASSERT_EQ(textfmt_detect(p, strlen(p)), FMT_PERFSCRIPT);
    const char *files[] = {"perf/workload.perf.txt", "perf/workload.nog.perf.txt"};
    for (int i = 0; i < 2; i++) {
        size_t n;
        char *t = test_read_file(files[i], &n);
        ASSERT(t);
        ASSERT_EQ(textfmt_detect(t, n), FMT_PERFSCRIPT);
        free(t);
    }
}

TEST(perfscript_folded_matches_awk)
{
    /* tests/data/folded/workload.folded was folded from the same perf text by awk (gen.sh) */
    size_t n, fn;
    char *t = test_read_file("perf/workload.perf.txt", &n);
    char *want = test_read_file("folded/workload.folded", &fn);
    ASSERT(t && want);
    struct fx f;
    fx_init(&f);
    ASSERT_OK(perfscript_parse(t, n, &f.sym, &f.prof, &f.lim, 0, f.err, sizeof(f.err)));
    ASSERT_STREQ(as_folded(&f), want);
    fx_release(&f);
    fx_init(&f);
    ASSERT_OK(folded(&f, want));
    ASSERT_STREQ(as_folded(&f), want);
    fx_release(&f);
    free(t);
    free(want);
}

TEST(trie_parse_caps_repeated_prefix_work)
{
    /* one 60000-byte frame prefix with 3000 children ";x": each child re-interns the prefix */
    struct buf b = BUF_INIT;
    buf_append(&b, "\0\0\1\xe0\xd4\x03", 6); /* root; uvarint 60000 */
    for (int i = 0; i < 60000; i++)
        buf_putc(&b, 'a');
    buf_append(&b, "\0\xb8\x17", 3); /* value 0, 3000 children */
    for (int i = 0; i < 3000; i++)
        buf_append(&b, "\2;x\1\0", 5);
    struct fx f;
    fx_init(&f);
    ASSERT_EQ(trie(&f, b.data, b.len), -EMBER_ETOOBIG);
    ASSERT(strstr(f.err, "bytes of frame names (64 times the input plus 64 MiB)"));
    fx_release(&f);
    /* the same with 100 children is fine */
    b.len = 60008;
    b.data[60007] = 100; /* one-byte uvarint */
    for (int i = 0; i < 100; i++)
        buf_append(&b, "\2;x\1\0", 5);
    fx_init(&f);
    ASSERT_OK(trie(&f, b.data, b.len));
    ASSERT_EQ(profile_total(&f.prof), 100);
    fx_release(&f);
    buf_release(&b);
}
