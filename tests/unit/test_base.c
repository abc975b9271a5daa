/* test_base.c - base utilities: buffers, maps, interning, gzip */
#include "base/buf.h"
#include "base/err.h"
#include "base/gz.h"
#include "base/hmap.h"
#include "base/idtab.h"
#include "base/strtab.h"
#include "profile/labels.h"
#include "profile/pbwire.h"
#include "profile/profile.h"
#include "test.h"

TEST(buf_json_escapes)
{
    struct buf b = BUF_INIT;
    buf_json_str(&b, "a\"b\\c\n\x01\xff", 8);
    ASSERT_STREQ(b.data, "\"a\\\"b\\\\c\\n\\u0001\\ufffd\"");
    buf_reset(&b);
    buf_put_i64(&b, -1234567890123LL);
    ASSERT_STREQ(b.data, "-1234567890123");
    buf_release(&b);
}

TEST(hmap_grows_and_finds)
{
    struct hmap m;
    hmap_init(&m);
    for (uint64_t i = 0; i < 10000; i++)
        *hmap_put(&m, i * 7919, NULL) = i;
    ASSERT_EQ(m.len, 10000);
    for (uint64_t i = 0; i < 10000; i++)
        ASSERT_EQ(*hmap_get(&m, i * 7919), i);
    ASSERT(hmap_get(&m, 3) == NULL);
    hmap_release(&m);
}

TEST(strtab_interns)
{
    struct strtab t;
    strtab_init(&t);
    ASSERT_EQ(strtab_intern_cstr(&t, ""), 0);
    uint32_t a = strtab_intern_cstr(&t, "main");
    uint32_t b = strtab_intern_cstr(&t, "calc3");
    ASSERT_NE(a, b);
    ASSERT_EQ(strtab_intern_cstr(&t, "main"), a);
    ASSERT_STREQ(strtab_get(&t, b), "calc3");
    for (int i = 0; i < 5000; i++) {
        char s[32];
        snprintf(s, sizeof(s), "f%d", i);
        strtab_intern_cstr(&t, s);
    }
    ASSERT_STREQ(strtab_get(&t, a), "main");
    ASSERT_EQ(strtab_find(&t, "f4999", 5), strtab_intern_cstr(&t, "f4999"));
    strtab_release(&t);
}

TEST(symtab_stacks_dedup)
{
    struct symtab s;
    symtab_init(&s);
    uint32_t f[3];
    f[0] = symtab_frame_str(&s, "main", NULL, 0, NULL, 0);
    f[1] = symtab_frame_str(&s, "a", "a.c", 10, NULL, 0);
    f[2] = symtab_frame_str(&s, "b", NULL, 0, NULL, 0);
    uint32_t s1 = symtab_stack(&s, f, 3);
    uint32_t s2 = symtab_stack(&s, f, 2);
    ASSERT_EQ(symtab_stack(&s, f, 3), s1);
    ASSERT_EQ(symtab_depth(&s, s1), 3);
    ASSERT_EQ(symtab_get_node(&s, s1)->parent, s2);
    uint32_t out[8];
    ASSERT_EQ(symtab_unwind(&s, s1, out, 8), 3);
    ASSERT_EQ(out[0], f[2]);
    ASSERT_EQ(out[2], f[0]);
    /* a stack of one unknown frame differs from the empty stack */
    uint32_t z = 0;
    ASSERT_NE(symtab_stack(&s, &z, 1), 0);
    symtab_release(&s);
}

TEST(labels_sorted_set)
{
    struct labels l;
    labels_init(&l);
    labels_set(&l, "service_name", "app");
    labels_set(&l, "env", "prod");
    labels_set(&l, "__name__", "process_cpu");
    labels_set(&l, "env", "stage");
    ASSERT_EQ(l.n, 3);
    ASSERT_STREQ(l.v[0].name, "__name__");
    ASSERT_STREQ(labels_get(&l, "env"), "stage");
    struct buf b = BUF_INIT;
    labels_format(&l, &b);
    ASSERT_STREQ(b.data, "{__name__=\"process_cpu\",env=\"stage\",service_name=\"app\"}");
    labels_del(&l, "env");
    ASSERT(labels_get(&l, "env") == NULL);
    ASSERT(label_name_valid("a_1", 3));
    ASSERT(!label_name_valid("1a", 2));
    ASSERT(!label_name_valid("a-b", 3));
    buf_release(&b);
    labels_release(&l);
}

TEST(gzip_roundtrip_and_bomb)
{
    struct buf in = BUF_INIT, z = BUF_INIT, out = BUF_INIT;
    for (int i = 0; i < 100000; i++)
        buf_putc(&in, 'a');
    ASSERT_OK(gz_deflate(in.data, in.len, &z, 6));
    ASSERT(gz_is_gzip(z.data, z.len));
    ASSERT_OK(gz_inflate(z.data, z.len, &out, 1 << 20, 0));
    ASSERT_EQ(out.len, in.len);
    buf_reset(&out);
    /* 100000 zeros compress ~1000x: a ratio cap of 100 rejects it */
    ASSERT_EQ(gz_inflate(z.data, z.len, &out, 1 << 20, 100), -EMBER_EBOMB);
    buf_reset(&out);
    ASSERT_EQ(gz_inflate(z.data, z.len, &out, 1000, 0), -EMBER_ETOOBIG);
    buf_reset(&out);
    ASSERT_EQ(gz_inflate(z.data, z.len / 2, &out, 1 << 20, 0), -EMBER_ETRUNC);
    buf_release(&in);
    buf_release(&z);
    buf_release(&out);
}

TEST(pbwire_roundtrip)
{
    struct buf b = BUF_INIT;
    pb_put_uint(&b, 1, 300);
    size_t m = pb_begin(&b, 2);
    pb_put_str(&b, 1, "hello");
    uint64_t v[3] = {1, 128, 1ULL << 40};
    pb_put_packed_u64(&b, 2, v, 3);
    pb_end(&b, m);
    pb_put_int(&b, 3, -5);
    struct pb_reader r;
    struct pb_field f;
    pb_reader_init(&r, b.data, b.len);
    ASSERT_EQ(pb_next(&r, &f), 1);
    ASSERT_EQ(f.num, 1);
    ASSERT_EQ(f.u64, 300);
    ASSERT_EQ(pb_next(&r, &f), 1);
    ASSERT_EQ(f.wire, PB_LEN);
    struct pb_reader sub;
    pb_reader_sub(&sub, &r, &f);
    struct pb_field g;
    ASSERT_EQ(pb_next(&sub, &g), 1);
    ASSERT_EQ(g.len, 5);
    ASSERT_EQ(pb_next(&sub, &g), 1);
    ASSERT_EQ(g.num, 2);
    ASSERT_EQ(pb_next(&sub, &g), 0);
    ASSERT_EQ(pb_next(&r, &f), 1);
    ASSERT_EQ((int64_t)f.u64, -5);
    ASSERT_EQ(pb_next(&r, &f), 0);
    /* truncated input */
    pb_reader_init(&r, b.data, 5);
    ASSERT_EQ(pb_next(&r, &f), 1);
    ASSERT(pb_next(&r, &f) < 0);
    buf_release(&b);
}

TEST(ptype_parse_ok_and_bad)
{
    struct ptype t;
    ASSERT_OK(ptype_parse(&t, "process_cpu:cpu:nanoseconds:cpu:nanoseconds"));
    ASSERT_STREQ(t.sample_unit, "nanoseconds");
    ptype_release(&t);
    ASSERT_EQ(ptype_parse(&t, "a:b:c:d"), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(ptype_parse(&t, "a:b::d:e"), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(ptype_parse(&t, "a:b:c:d:e:f"), -EMBER_EINVAL_INPUT);
}
