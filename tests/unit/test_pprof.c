/* test_pprof.c - pprof decoding/encoding against real Go profiles, hand-built messages and junk */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/gz.h"
#include "profile/pbwire.h"
#include "profile/pprof.h"
#include "test.h"

/* Reads tests/data/<path> and gunzips it into raw. */
static void read_gz(const char *path, struct buf *raw)
{
    size_t n = 0;
    char *z = test_read_file(path, &n);
    if (!z)
        TEST_FAIL_("cannot read tests/data/%s", path);
    ASSERT(gz_is_gzip(z, n));
    ASSERT_OK(gz_inflate(z, n, raw, 64u << 20, 1000));
    free(z);
}

static void load(const char *path, struct pprof *p)
{
    struct buf raw = BUF_INIT;
    char err[256];
    read_gz(path, &raw);
    pprof_init(p);
    int rc = pprof_decode(p, raw.data, raw.len, 0, err, sizeof(err));
    if (rc)
        TEST_FAIL_("decode %s: %s", path, err);
    buf_release(&raw);
}

static const struct pprof_function *find_fn(const struct pprof *p, uint64_t id)
{
    for (size_t i = 0; i < p->function.len; i++)
        if (p->function.data[i].id == id)
            return &p->function.data[i];
    return NULL;
}

static const struct pprof_location *find_loc(const struct pprof *p, uint64_t id)
{
    for (size_t i = 0; i < p->location.len; i++)
        if (p->location.data[i].id == id)
            return &p->location.data[i];
    return NULL;
}

/* True if the sample's stack contains a function named name (any inlined line). */
static int stack_has(const struct pprof *p, const struct pprof_sample *s, const char *name)
{
    for (size_t i = 0; i < s->nlocation; i++) {
        const struct pprof_location *l = find_loc(p, s->location_id[i]);
        for (size_t j = 0; l && j < l->nline; j++) {
            const struct pprof_function *f = find_fn(p, l->line[j].function_id);
            if (f && !strcmp(pprof_str(p, f->name), name))
                return 1;
        }
    }
    return 0;
}

/* Share in percent of value index vi over samples whose stack contains name. */
static double share(const struct pprof *p, size_t vi, const char *name)
{
    double tot = 0, hit = 0;
    for (size_t i = 0; i < p->sample.len; i++) {
        const struct pprof_sample *s = &p->sample.data[i];
        tot += (double)s->value[vi];
        if (stack_has(p, s, name))
            hit += (double)s->value[vi];
    }
    return tot > 0 ? 100.0 * hit / tot : 0;
}

static void assert_type(const struct pprof *p, size_t i, const char *type, const char *unit)
{
    ASSERT(i < p->sample_type.len);
    ASSERT_STREQ(pprof_str(p, p->sample_type.data[i].type), type);
    ASSERT_STREQ(pprof_str(p, p->sample_type.data[i].unit), unit);
}

/* Deep equality of two decoded profiles, field by field. */
static void assert_same(const struct pprof *a, const struct pprof *b)
{
    ASSERT_EQ(a->sample_type.len, b->sample_type.len);
    for (size_t i = 0; i < a->sample_type.len; i++) {
        ASSERT_EQ(a->sample_type.data[i].type, b->sample_type.data[i].type);
        ASSERT_EQ(a->sample_type.data[i].unit, b->sample_type.data[i].unit);
    }
    ASSERT_EQ(a->sample.len, b->sample.len);
    for (size_t i = 0; i < a->sample.len; i++) {
        const struct pprof_sample *x = &a->sample.data[i], *y = &b->sample.data[i];
        ASSERT_EQ(x->nlocation, y->nlocation);
        ASSERT_EQ(x->nvalue, y->nvalue);
        ASSERT_EQ(x->nlabel, y->nlabel);
        for (size_t j = 0; j < x->nlocation; j++)
            ASSERT_EQ(x->location_id[j], y->location_id[j]);
        for (size_t j = 0; j < x->nvalue; j++)
            ASSERT_EQ(x->value[j], y->value[j]);
        for (size_t j = 0; j < x->nlabel; j++)
            ASSERT(!memcmp(&x->label[j], &y->label[j], sizeof(struct pprof_label)));
    }
    ASSERT_EQ(a->mapping.len, b->mapping.len);
    for (size_t i = 0; i < a->mapping.len; i++)
        ASSERT(!memcmp(&a->mapping.data[i], &b->mapping.data[i], sizeof(struct pprof_mapping)));
    ASSERT_EQ(a->location.len, b->location.len);
    for (size_t i = 0; i < a->location.len; i++) {
        const struct pprof_location *x = &a->location.data[i], *y = &b->location.data[i];
        ASSERT_EQ(x->id, y->id);
        ASSERT_EQ(x->mapping_id, y->mapping_id);
        ASSERT_EQ(x->address, y->address);
        ASSERT_EQ(x->is_folded, y->is_folded);
        ASSERT_EQ(x->nline, y->nline);
        for (size_t j = 0; j < x->nline; j++)
            ASSERT(!memcmp(&x->line[j], &y->line[j], sizeof(struct pprof_line)));
    }
    ASSERT_EQ(a->function.len, b->function.len);
    for (size_t i = 0; i < a->function.len; i++)
        ASSERT(!memcmp(&a->function.data[i], &b->function.data[i], sizeof(struct pprof_function)));
    ASSERT_EQ(a->string_table.len, b->string_table.len);
    for (size_t i = 0; i < a->string_table.len; i++) {
        ASSERT_EQ(pprof_strlen(a, (int64_t)i), pprof_strlen(b, (int64_t)i));
        ASSERT(!memcmp(pprof_str(a, (int64_t)i), pprof_str(b, (int64_t)i),
                       pprof_strlen(a, (int64_t)i)));
    }
    ASSERT_EQ(a->drop_frames, b->drop_frames);
    ASSERT_EQ(a->keep_frames, b->keep_frames);
    ASSERT_EQ(a->time_nanos, b->time_nanos);
    ASSERT_EQ(a->duration_nanos, b->duration_nanos);
    ASSERT_EQ(a->period_type.type, b->period_type.type);
    ASSERT_EQ(a->period_type.unit, b->period_type.unit);
    ASSERT_EQ(a->period, b->period);
    ASSERT_EQ(a->comment.len, b->comment.len);
    for (size_t i = 0; i < a->comment.len; i++)
        ASSERT_EQ(a->comment.data[i], b->comment.data[i]);
    ASSERT_EQ(a->default_sample_type, b->default_sample_type);
    ASSERT_EQ(a->doc_url, b->doc_url);
}

/* encode -> decode gives the same struct, and encoding that gives the same bytes. */
static void roundtrip(const struct pprof *p)
{
    struct buf b1 = BUF_INIT, b2 = BUF_INIT;
    struct pprof q;
    char err[256];
    pprof_encode(p, &b1);
    pprof_init(&q);
    int rc = pprof_decode(&q, b1.data, b1.len, 0, err, sizeof(err));
    if (rc)
        TEST_FAIL_("re-decode: %s", err);
    assert_same(p, &q);
    pprof_encode(&q, &b2);
    ASSERT_EQ(b1.len, b2.len);
    ASSERT(!memcmp(b1.data, b2.data, b1.len));
    pprof_release(&q);
    buf_release(&b1);
    buf_release(&b2);
}

TEST(pprof_go_cpu_split)
{
    struct pprof p;
    load("go/cpu.pb.gz", &p);
    ASSERT_EQ(p.sample_type.len, 2);
    assert_type(&p, 0, "samples", "count");
    assert_type(&p, 1, "cpu", "nanoseconds");
    ASSERT_STREQ(pprof_str(&p, p.period_type.type), "cpu");
    ASSERT_STREQ(pprof_str(&p, p.period_type.unit), "nanoseconds");
    ASSERT_EQ(p.period, 1000000); /* 1000 Hz */
    ASSERT(p.time_nanos > 1600000000LL * 1000000000LL);
    ASSERT(p.duration_nanos > 2900000000LL && p.duration_nanos < 5000000000LL);
    ASSERT(p.sample.len > 5);
    /* the generator burns 60/30/10 percent in burnA/burnB/burnC */
    ASSERT_NEAR(share(&p, 1, "main.burnA"), 60, 3);
    ASSERT_NEAR(share(&p, 1, "main.burnB"), 30, 3);
    ASSERT_NEAR(share(&p, 1, "main.burnC"), 10, 3);
    ASSERT_NEAR(share(&p, 0, "main.burnA"), 60, 3);
    ASSERT_NEAR(share(&p, 1, "main.main"), 100, 1);
    /* values: cpu = samples * period */
    for (size_t i = 0; i < p.sample.len; i++)
        ASSERT_EQ(p.sample.data[i].value[1], p.sample.data[i].value[0] * p.period);
    /* main.mix is inlined: a location whose line[0] is mix and whose last line is a burn* caller */
    int inlined = 0;
    for (size_t i = 0; i < p.location.len; i++) {
        const struct pprof_location *l = &p.location.data[i];
        if (l->nline < 2)
            continue;
        const struct pprof_function *in = find_fn(&p, l->line[0].function_id);
        const struct pprof_function *out = find_fn(&p, l->line[l->nline - 1].function_id);
        ASSERT(in && out);
        if (!strcmp(pprof_str(&p, in->name), "main.mix") &&
            !strncmp(pprof_str(&p, out->name), "main.burn", 9))
            inlined++;
        ASSERT(l->line[0].line > 0);
    }
    ASSERT(inlined > 0);
    ASSERT_EQ(p.mapping.len >= 1, 1);
    ASSERT(p.mapping.data[0].has_functions);
    ASSERT_STREQ(pprof_str(&p, p.string_table.len ? 0 : 1), "");
    pprof_release(&p);
}

TEST(pprof_go_heap)
{
    struct pprof p;
    load("go/heap.pb.gz", &p);
    ASSERT_EQ(p.sample_type.len, 4);
    assert_type(&p, 0, "alloc_objects", "count");
    assert_type(&p, 1, "alloc_space", "bytes");
    assert_type(&p, 2, "inuse_objects", "count");
    assert_type(&p, 3, "inuse_space", "bytes");
    ASSERT_STREQ(pprof_str(&p, p.period_type.type), "space");
    ASSERT_EQ(p.period, 4096);
    /* allocRetained keeps 8 MiB live; allocTransient allocates 32 MiB of garbage */
    ASSERT(share(&p, 3, "main.allocRetained") > 90);
    ASSERT(share(&p, 1, "main.allocTransient") > 70);
    /* heap samples carry a numeric "bytes" label */
    int numeric = 0;
    for (size_t i = 0; i < p.sample.len; i++)
        for (size_t j = 0; j < p.sample.data[i].nlabel; j++) {
            const struct pprof_label *l = &p.sample.data[i].label[j];
            if (!strcmp(pprof_str(&p, l->key), "bytes") && l->num > 0 && l->str == 0)
                numeric++;
        }
    ASSERT(numeric > 0);
    pprof_release(&p);
}

TEST(pprof_go_mutex_block)
{
    const char *files[] = {"go/mutex.pb.gz", "go/block.pb.gz"};
    const char *fn[] = {"main.lockHolder", "main.waitChan"};
    for (int k = 0; k < 2; k++) {
        struct pprof p;
        load(files[k], &p);
        ASSERT_EQ(p.sample_type.len, 2);
        assert_type(&p, 0, "contentions", "count");
        assert_type(&p, 1, "delay", "nanoseconds");
        ASSERT_STREQ(pprof_str(&p, p.period_type.type), "contentions");
        ASSERT_STREQ(pprof_str(&p, p.period_type.unit), "count");
        ASSERT(share(&p, 1, fn[k]) > 50);
        pprof_release(&p);
    }
}

TEST(pprof_go_labels)
{
    struct pprof p;
    load("go/labels.pb.gz", &p);
    int slow = 0, fast = 0;
    for (size_t i = 0; i < p.sample.len; i++) {
        const struct pprof_sample *s = &p.sample.data[i];
        const char *ep = NULL, *span = NULL;
        for (size_t j = 0; j < s->nlabel; j++) {
            if (!strcmp(pprof_str(&p, s->label[j].key), "endpoint"))
                ep = pprof_str(&p, s->label[j].str);
            if (!strcmp(pprof_str(&p, s->label[j].key), "span_id"))
                span = pprof_str(&p, s->label[j].str);
        }
        if (ep && !strcmp(ep, "/slow")) {
            slow++;
            ASSERT(stack_has(&p, s, "main.burnA"));
            ASSERT_STREQ(span, "0123456789abcdef");
        } else if (ep && !strcmp(ep, "/fast")) {
            fast++;
            ASSERT(stack_has(&p, s, "main.burnC"));
        }
    }
    ASSERT(slow > 0 && fast > 0);
    pprof_release(&p);
}

TEST(pprof_roundtrip_real_files)
{
    const char *files[] = {"go/cpu.pb.gz", "go/heap.pb.gz", "go/mutex.pb.gz", "go/block.pb.gz",
                           "go/labels.pb.gz"};
    for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
        struct pprof p;
        load(files[k], &p);
        roundtrip(&p);
        pprof_release(&p);
    }
}

/* A profile using every field, built through the public struct. */
static void build_full(struct pprof *p)
{
    pprof_init(p);
    int64_t s_cpu = pprof_add_string(p, "cpu"), s_ns = pprof_add_string(p, "nanoseconds");
    struct pprof_value_type vt = {pprof_add_string(p, "samples"), pprof_add_string(p, "count")};
    VEC_PUSH(p->sample_type, vt);
    struct pprof_value_type vt2 = {s_cpu, s_ns};
    VEC_PUSH(p->sample_type, vt2);
    p->period_type.type = s_cpu;
    p->period_type.unit = s_ns;
    p->period = 10000000;
    p->time_nanos = 1700000000123456789LL;
    p->duration_nanos = 10000000000LL;
    p->drop_frames = pprof_add_string(p, "runtime\\..*");
    p->keep_frames = pprof_add_string(p, "main\\..*");
    p->default_sample_type = s_cpu;
    p->doc_url = pprof_add_string(p, "https://example.com/doc");
    VEC_PUSH(p->comment, pprof_add_string(p, "first comment"));
    VEC_PUSH(p->comment, pprof_add_string(p, "second"));

    struct pprof_mapping m = {7,
                              0x400000,
                              0x500000,
                              0x1000,
                              pprof_add_string(p, "/bin/app"),
                              pprof_add_string(p, "abcdef0123"),
                              1,
                              1,
                              1,
                              1};
    VEC_PUSH(p->mapping, m);
    const char *names[] = {"main", "work", "inlined_helper", "leaf"};
    for (int i = 0; i < 4; i++) {
        struct pprof_function f = {(uint64_t)(100 + i), pprof_add_string(p, names[i]),
                                   pprof_add_string(p, names[i]), pprof_add_string(p, "app.c"),
                                   10 * i};
        VEC_PUSH(p->function, f);
    }
    /* location 1: main; 2: work with helper inlined (helper innermost); 3: leaf; 4: no lines */
    for (int i = 1; i <= 4; i++) {
        struct pprof_location l;
        memset(&l, 0, sizeof(l));
        l.id = (uint64_t)i;
        l.mapping_id = 7;
        l.address = 0x401000 + 0x10 * (uint64_t)i;
        l.is_folded = i == 3;
        l.nline = i == 2 ? 2 : i == 4 ? 0 : 1;
        l.line = l.nline ? xcalloc(l.nline, sizeof(struct pprof_line)) : NULL;
        if (i == 1)
            l.line[0] = (struct pprof_line){100, 5, 3};
        if (i == 2) {
            l.line[0] = (struct pprof_line){102, 25, 7};
            l.line[1] = (struct pprof_line){101, 15, 2};
        }
        if (i == 3)
            l.line[0] = (struct pprof_line){103, 35, 0};
        VEC_PUSH(p->location, l);
    }
    uint64_t stacks[3][3] = {{3, 2, 1}, {2, 1, 0}, {4, 1, 0}};
    size_t depth[3] = {3, 2, 2};
    for (int i = 0; i < 3; i++) {
        struct pprof_sample s;
        memset(&s, 0, sizeof(s));
        s.nlocation = depth[i];
        s.location_id = xmalloc(depth[i] * sizeof(uint64_t));
        memcpy(s.location_id, stacks[i], depth[i] * sizeof(uint64_t));
        s.nvalue = 2;
        s.value = xmalloc(2 * sizeof(int64_t));
        s.value[0] = i + 1;
        s.value[1] = -(int64_t)(i + 1) * 10000000; /* negative values survive */
        s.nlabel = 2;
        s.label = xcalloc(2, sizeof(struct pprof_label));
        s.label[0] = (struct pprof_label){pprof_add_string(p, "endpoint"),
                                          pprof_add_string(p, i ? "/b" : "/a"), 0, 0};
        s.label[1] =
            (struct pprof_label){pprof_add_string(p, "bytes"), 0, 4096, pprof_add_string(p, "B")};
        VEC_PUSH(p->sample, s);
    }
}

TEST(pprof_roundtrip_every_field)
{
    struct pprof p;
    build_full(&p);
    roundtrip(&p);
    struct buf b = BUF_INIT;
    struct pprof q;
    char err[200];
    pprof_encode(&p, &b);
    pprof_init(&q);
    ASSERT_OK(pprof_decode(&q, b.data, b.len, 0, err, sizeof(err)));
    ASSERT_EQ(q.location.data[1].nline, 2);
    ASSERT_EQ(q.location.data[1].line[0].column, 7);
    ASSERT_EQ(q.location.data[2].is_folded, 1);
    ASSERT_EQ(q.mapping.data[0].has_inline_frames, 1);
    ASSERT_STREQ(pprof_str(&q, q.mapping.data[0].build_id), "abcdef0123");
    ASSERT_STREQ(pprof_str(&q, q.doc_url), "https://example.com/doc");
    ASSERT_STREQ(pprof_str(&q, q.comment.data[1]), "second");
    ASSERT_EQ(q.sample.data[2].value[1], -30000000);
    ASSERT_EQ(q.sample.data[0].label[1].num, 4096);
    ASSERT_STREQ(pprof_str(&q, q.sample.data[0].label[1].num_unit), "B");
    pprof_release(&q);
    pprof_release(&p);
    buf_release(&b);
}

/* Writes a sample with unpacked location ids and values (as some encoders do). */
TEST(pprof_decode_unpacked)
{
    struct buf b = BUF_INIT;
    size_t m = pb_begin(&b, 1);
    pb_put_int(&b, 1, 1);
    pb_put_int(&b, 2, 2);
    pb_end(&b, m);
    m = pb_begin(&b, 2);
    pb_put_bytes(&b, 1, "", 0); /* an empty packed run (found by fuzzing) */
    pb_put_uint(&b, 1, 2);      /* leaf */
    pb_put_uint(&b, 2, 5);      /* value interleaved */
    pb_put_uint(&b, 1, 1);      /* root */
    pb_end(&b, m);
    for (uint64_t id = 1; id <= 2; id++) {
        m = pb_begin(&b, 4);
        pb_put_uint(&b, 1, id);
        size_t lm = pb_begin(&b, 4);
        pb_put_uint(&b, 1, id);
        pb_put_uint(&b, 2, 40 + id);
        pb_end(&b, lm);
        pb_end(&b, m);
        m = pb_begin(&b, 5);
        pb_put_uint(&b, 1, id);
        pb_put_uint(&b, 2, 2 + id);
        pb_end(&b, m);
    }
    pb_put_str(&b, 6, "");
    pb_put_str(&b, 6, "samples");
    pb_put_str(&b, 6, "count");
    pb_put_str(&b, 6, "f1");
    pb_put_str(&b, 6, "f2");
    pb_put_uint(&b, 13, 3);         /* one unpacked comment */
    pb_put_uint(&b, 99, 12345);     /* unknown varint field: skipped */
    pb_put_str(&b, 100, "ignored"); /* unknown bytes field: skipped */
    struct pprof p;
    char err[200];
    pprof_init(&p);
    int rc = pprof_decode(&p, b.data, b.len, 0, err, sizeof(err));
    if (rc)
        TEST_FAIL_("%s", err);
    ASSERT_EQ(p.sample.len, 1);
    ASSERT_EQ(p.sample.data[0].nlocation, 2);
    ASSERT_EQ(p.sample.data[0].location_id[0], 2);
    ASSERT_EQ(p.sample.data[0].location_id[1], 1);
    ASSERT_EQ(p.sample.data[0].value[0], 5);
    ASSERT_EQ(p.comment.len, 1);
    ASSERT_STREQ(pprof_str(&p, p.function.data[1].name), "f2");
    ASSERT_EQ(p.location.data[1].line[0].line, 42);
    roundtrip(&p);
    pprof_release(&p);
    buf_release(&b);
}

/* Decodes bytes b and expects failure code with a message containing want. */
static void expect_error(const struct buf *b, size_t max_samples, int code, const char *want)
{
    struct pprof p;
    char err[300];
    pprof_init(&p);
    int rc = pprof_decode(&p, b->data, b->len, max_samples, err, sizeof(err));
    if (rc != code)
        TEST_FAIL_("decode returned %d (%s), expected %d; message: %s", rc, ember_strerror(rc),
                   code, err);
    if (!strstr(err, want) || strncmp(err, "at byte ", 8))
        TEST_FAIL_("message \"%s\" lacks \"%s\"", err, want);
    ASSERT_EQ(p.sample.len, 0); /* left empty */
    pprof_release(&p);
}

TEST(pprof_validation_errors)
{
    struct pprof p;
    struct buf b = BUF_INIT;

    /* a sample referencing a location that does not exist */
    build_full(&p);
    p.sample.data[1].location_id[0] = 99;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "sample 1 references unknown location 99");
    /* the offset points at sample 1: sample_type fields come first, then samples */
    {
        struct pprof q;
        char err[300];
        pprof_init(&q);
        pprof_decode(&q, b.data, b.len, 0, err, sizeof(err));
        size_t off = (size_t)strtoul(err + 8, NULL, 10);
        ASSERT(off > 0 && off < b.len);
        ASSERT_EQ((unsigned char)b.data[off], (2 << 3) | 2); /* the tag of a Sample field */
        pprof_release(&q);
    }
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    p.location.data[0].line[0].function_id = 555;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "references unknown function 555");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    p.location.data[3].mapping_id = 8;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "references unknown mapping 8");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    p.sample.data[2].nvalue = 1;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "sample 2 has 1 values but the profile has 2");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    p.function.data[2].name = 4000;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "function 2 name references string 4000");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    p.sample.data[0].label[0].str = -3;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "sample 0 label 0 value references string -3");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    p.location.data[2].id = 2;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "location 2 has duplicate id 2");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    p.function.data[0].id = 0;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "function 0 has invalid id 0");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    free(p.string_table.data[0]);
    p.string_table.data[0] = xstrdup("x");
    p.string_len.data[0] = 1;
    pprof_encode(&p, &b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "string_table[0] must be \"\", got \"x\"");
    pprof_release(&p);

    buf_reset(&b);
    build_full(&p);
    pprof_encode(&p, &b);
    expect_error(&b, 2, -EMBER_ETOOBIG, "more than 2 samples");
    pprof_release(&p);

    /* an empty message has no string table */
    buf_reset(&b);
    expect_error(&b, 0, -EMBER_EINVAL_INPUT, "string table is empty");

    /* a packed run whose last varint is cut (found by fuzzing) */
    buf_reset(&b);
    {
        size_t m = pb_begin(&b, 2);
        pb_put_bytes(&b, 1, "\x81\x82", 2);
        pb_end(&b, m);
    }
    expect_error(&b, 0, -EMBER_ECORRUPT, "packed varints run past its end");

    /* wrong wire type for a known field */
    buf_reset(&b);
    pb_put_uint(&b, 2, 7);
    expect_error(&b, 0, -EMBER_ECORRUPT, "wire type varint, expected length-delimited");
    buf_release(&b);
}

TEST(pprof_truncated_and_garbage)
{
    struct buf raw = BUF_INIT;
    read_gz("go/heap.pb.gz", &raw);
    /* every prefix either decodes or fails with an offset inside the input */
    size_t ok = 0;
    for (size_t n = 0; n < raw.len; n++) {
        struct pprof p;
        char err[300];
        err[0] = 0;
        pprof_init(&p);
        int rc = pprof_decode(&p, raw.data, n, 0, err, sizeof(err));
        if (!rc) {
            ok++;
        } else {
            ASSERT(rc < 0);
            ASSERT(!strncmp(err, "at byte ", 8));
            ASSERT(strtoul(err + 8, NULL, 10) <= n);
        }
        pprof_release(&p);
    }
    ASSERT(ok < raw.len / 2); /* most prefixes are broken */
    /* a cut in the middle of the last field says it is truncated */
    {
        struct pprof p;
        char err[300];
        pprof_init(&p);
        ASSERT_EQ(pprof_decode(&p, raw.data, raw.len - 1, 0, err, sizeof(err)), -EMBER_ETRUNC);
        ASSERT(strstr(err, "truncated"));
    }
    /* random flips and junk: errors or success, never a crash (run under ASan) */
    uint64_t x = 0x1234567;
    for (int round = 0; round < 2000; round++) {
        struct buf m = BUF_INIT;
        buf_append(&m, raw.data, raw.len);
        for (int k = 0; k < 4; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            m.data[(x >> 33) % m.len] ^= (char)(1u << ((x >> 20) & 7));
        }
        struct pprof p;
        char err[300];
        pprof_init(&p);
        if (pprof_decode(&p, m.data, m.len, 0, err, sizeof(err)))
            ASSERT(!strncmp(err, "at byte ", 8));
        pprof_release(&p);
        buf_release(&m);
    }
    buf_release(&raw);
}

TEST(pprof_add_string_index)
{
    struct pprof p;
    load("go/cpu.pb.gz", &p);
    size_t n0 = p.string_table.len;
    /* strings already in a decoded table are found, not duplicated */
    int64_t i = pprof_add_string(&p, "main.burnA");
    ASSERT(i > 0 && (size_t)i < n0);
    ASSERT_STREQ(pprof_str(&p, i), "main.burnA");
    ASSERT_EQ(pprof_add_string(&p, ""), 0);
    /* many new strings: dense indexes, found again */
    char s[32];
    for (int k = 0; k < 100000; k++) {
        snprintf(s, sizeof(s), "str%d", k);
        ASSERT_EQ(pprof_add_string(&p, s), (int64_t)(n0 + (size_t)k));
    }
    for (int k = 0; k < 100000; k += 997) {
        snprintf(s, sizeof(s), "str%d", k);
        ASSERT_EQ(pprof_add_string(&p, s), (int64_t)(n0 + (size_t)k));
    }
    /* strings pushed directly are picked up by the index */
    VEC_PUSH(p.string_table, xstrdup("pushed"));
    ASSERT_EQ(pprof_add_string(&p, "pushed"), (int64_t)p.string_table.len - 1);
    ASSERT_EQ(pprof_add_stringn(&p, "a\0b", 3), (int64_t)p.string_table.len - 1);
    ASSERT_EQ(pprof_strlen(&p, (int64_t)p.string_table.len - 1), 3);
    ASSERT_STREQ(pprof_str(&p, -1), "");
    ASSERT_STREQ(pprof_str(&p, 1 << 30), "");
    roundtrip(&p);
    pprof_release(&p);

    /* on an empty profile, "" comes first */
    pprof_init(&p);
    ASSERT_EQ(pprof_add_string(&p, "x"), 1);
    ASSERT_STREQ(pprof_str(&p, 0), "");
    pprof_release(&p);
}

TEST(pprof_idmap_sparse_ids)
{
    struct pprof p;
    build_full(&p);
    /* ids far apart use the hash map */
    p.location.data[0].id = 1ULL << 40;
    for (size_t i = 0; i < p.sample.len; i++)
        for (size_t j = 0; j < p.sample.data[i].nlocation; j++)
            if (p.sample.data[i].location_id[j] == 1)
                p.sample.data[i].location_id[j] = 1ULL << 40;
    struct pprof_idmap m;
    char err[100];
    ASSERT_OK(pprof_idmap_locations(&m, &p, err, sizeof(err)));
    ASSERT(m.dense == NULL);
    ASSERT_EQ(pprof_idmap_get(&m, 1ULL << 40), 0);
    ASSERT_EQ(pprof_idmap_get(&m, 3), 2);
    ASSERT_EQ(pprof_idmap_get(&m, 5), -1);
    pprof_idmap_release(&m);
    roundtrip(&p);
    pprof_release(&p);
}
