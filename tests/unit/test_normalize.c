/* test_normalize.c - pprof -> Ember profiles (types, label splitting, stacks, limits) and back */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/gz.h"
#include "profile/labels.h"
#include "profile/normalize.h"
#include "profile/pprof.h"
#include "profile/profile.h"
#include "test.h"

static void load(const char *path, struct pprof *p)
{
    size_t n = 0;
    char *z = test_read_file(path, &n), err[256];
    struct buf raw = BUF_INIT;
    if (!z)
        TEST_FAIL_("cannot read tests/data/%s", path);
    ASSERT_OK(gz_inflate(z, n, &raw, 64u << 20, 1000));
    pprof_init(p);
    if (pprof_decode(p, raw.data, raw.len, 0, err, sizeof(err)))
        TEST_FAIL_("decode %s: %s", path, err);
    buf_release(&raw);
    free(z);
}

static int run(const struct pprof *p, struct normalize_opts *o, struct profile_batch *b, char *err)
{
    struct labels l;
    labels_init(&l);
    labels_set(&l, LABEL_SERVICE_NAME, "app");
    labels_set(&l, "env", "test");
    if (!o->labels)
        o->labels = &l;
    int rc = normalize_pprof(p, o, b, err, 300);
    if (o->labels == &l)
        o->labels = NULL;
    labels_release(&l);
    return rc;
}

static const struct profile *find_prof(const struct profile_batch *b, const char *type,
                                       const char *lname, const char *lvalue)
{
    for (size_t i = 0; i < b->profiles.len; i++) {
        const struct profile *p = &b->profiles.data[i];
        const char *t = labels_get(&p->labels, LABEL_PROFILE_TYPE);
        if (!t || strcmp(t, type))
            continue;
        if (lname &&
            (!labels_get(&p->labels, lname) || strcmp(labels_get(&p->labels, lname), lvalue)))
            continue;
        return p;
    }
    return NULL;
}

/* The stack of s as "root;...;leaf" (frame names) into out. */
static void folded(const struct symtab *sym, uint32_t stack, struct buf *out)
{
    uint32_t fr[2048];
    size_t d = symtab_unwind(sym, stack, fr, 2048);
    ASSERT(d <= 2048);
    for (size_t i = d; i-- > 0;) {
        buf_puts(out, symtab_str(sym, symtab_get_frame(sym, fr[i])->name));
        if (i)
            buf_putc(out, ';');
    }
}

static int has_frame(const struct symtab *sym, uint32_t stack, const char *name)
{
    while (stack) {
        const struct stack_node *n = symtab_get_node(sym, stack);
        if (!strcmp(symtab_str(sym, symtab_get_frame(sym, n->frame)->name), name))
            return 1;
        stack = n->parent;
    }
    return 0;
}

static double share(const struct profile_batch *b, const struct profile *p, const char *name)
{
    double hit = 0, tot = 0;
    for (size_t i = 0; i < p->samples.len; i++) {
        tot += (double)p->samples.data[i].value;
        if (has_frame(&b->sym, p->samples.data[i].stack, name))
            hit += (double)p->samples.data[i].value;
    }
    return tot > 0 ? 100 * hit / tot : 0;
}

TEST(normalize_go_cpu)
{
    struct pprof p;
    struct profile_batch b;
    struct normalize_opts o = {0};
    char err[300];
    load("go/cpu.pb.gz", &p);
    batch_init(&b);
    o.default_time_ns = 42;
    ASSERT_OK(run(&p, &o, &b, err));
    ASSERT_EQ(b.profiles.len, 2);
    const struct profile *cpu = find_prof(&b, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", 0, 0);
    const struct profile *smp = find_prof(&b, "process_cpu:samples:count:cpu:nanoseconds", 0, 0);
    ASSERT(cpu && smp);
    ASSERT_STREQ(labels_get(&cpu->labels, LABEL_NAME), "process_cpu");
    ASSERT_STREQ(labels_get(&cpu->labels, LABEL_SERVICE_NAME), "app");
    ASSERT_STREQ(labels_get(&cpu->labels, "env"), "test");
    ASSERT_EQ(cpu->labels.n, 4);
    ASSERT_EQ(cpu->time_ns, p.time_nanos);
    ASSERT_EQ(cpu->duration_ns, p.duration_nanos);
    ASSERT_EQ(cpu->period, 1000000);
    int64_t raw = 0;
    for (size_t i = 0; i < p.sample.len; i++)
        raw += p.sample.data[i].value[1];
    ASSERT_EQ(profile_total(cpu), raw);
    ASSERT_EQ(profile_total(cpu), profile_total(smp) * 1000000);
    ASSERT_NEAR(share(&b, cpu, "main.burnA"), 60, 3);
    ASSERT_NEAR(share(&b, cpu, "main.burnB"), 30, 3);
    ASSERT_NEAR(share(&b, cpu, "main.burnC"), 10, 3);
    /* root first: every stack starts at runtime.main; the inlined mix is the leaf under burn* */
    int inl = 0;
    for (size_t i = 0; i < cpu->samples.len; i++) {
        uint32_t fr[64];
        size_t d = symtab_unwind(&b.sym, cpu->samples.data[i].stack, fr, 64);
        ASSERT(d >= 2 && d <= 64);
        ASSERT_STREQ(symtab_str(&b.sym, symtab_get_frame(&b.sym, fr[d - 1])->name), "runtime.main");
        const struct frame *leaf = symtab_get_frame(&b.sym, fr[0]);
        if (!strcmp(symtab_str(&b.sym, leaf->name), "main.mix")) {
            const struct frame *caller = symtab_get_frame(&b.sym, fr[1]);
            ASSERT(!strncmp(symtab_str(&b.sym, caller->name), "main.burn", 9));
            ASSERT_EQ(leaf->addr, caller->addr); /* same location */
            ASSERT(strstr(symtab_str(&b.sym, leaf->file), "gen.go"));
            ASSERT(leaf->line > 0 && leaf->line != caller->line);
            ASSERT(symtab_str(&b.sym, leaf->module)[0] == '/');
            inl++;
        }
    }
    ASSERT(inl > 0);
    /* samples are compacted: stacks unique and sorted */
    for (size_t i = 1; i < cpu->samples.len; i++)
        ASSERT(cpu->samples.data[i - 1].stack < cpu->samples.data[i].stack);
    batch_release(&b);
    pprof_release(&p);
}

TEST(normalize_go_heap_mutex_block)
{
    struct {
        const char *file;
        const char *types[4];
    } cases[] = {
        {"go/heap.pb.gz",
         {"memory:alloc_objects:count:space:bytes", "memory:alloc_space:bytes:space:bytes",
          "memory:inuse_objects:count:space:bytes", "memory:inuse_space:bytes:space:bytes"}},
        {"go/mutex.pb.gz",
         {"block:contentions:count:contentions:count",
          "block:delay:nanoseconds:contentions:count"}},
        {"go/block.pb.gz",
         {"block:contentions:count:contentions:count",
          "block:delay:nanoseconds:contentions:count"}},
    };
    for (size_t k = 0; k < 3; k++) {
        struct pprof p;
        struct profile_batch b;
        struct normalize_opts o = {0};
        char err[300];
        load(cases[k].file, &p);
        batch_init(&b);
        ASSERT_OK(run(&p, &o, &b, err));
        size_t nt = k == 0 ? 4 : 2;
        ASSERT_EQ(b.profiles.len, nt);
        for (size_t t = 0; t < nt; t++) {
            const struct profile *pr = find_prof(&b, cases[k].types[t], 0, 0);
            if (!pr)
                TEST_FAIL_("%s: no profile %s", cases[k].file, cases[k].types[t]);
            /* the numeric "bytes" label of heap samples is not a series label */
            ASSERT(!labels_get(&pr->labels, "bytes"));
            ASSERT_EQ(pr->labels.n, 4);
        }
        if (k == 0) {
            const struct profile *in = find_prof(&b, cases[0].types[3], 0, 0);
            ASSERT(share(&b, in, "main.allocRetained") > 90);
        }
        batch_release(&b);
        pprof_release(&p);
    }
}

TEST(normalize_label_split)
{
    struct pprof p;
    struct profile_batch b;
    struct normalize_opts o = {0};
    char err[300];
    load("go/labels.pb.gz", &p);
    batch_init(&b);
    ASSERT_OK(run(&p, &o, &b, err));
    const char *t = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    const struct profile *slow = find_prof(&b, t, "endpoint", "/slow");
    const struct profile *fast = find_prof(&b, t, "endpoint", "/fast");
    ASSERT(slow && fast && slow != fast);
    ASSERT_STREQ(labels_get(&slow->labels, "region"), "eu");
    ASSERT_STREQ(labels_get(&slow->labels, LABEL_SERVICE_NAME), "app");
    ASSERT(share(&b, slow, "main.burnA") > 90);
    ASSERT(share(&b, fast, "main.burnC") > 90);
    /* span ids link samples to traces; they are never series labels */
    for (size_t i = 0; i < b.profiles.len; i++)
        ASSERT(!labels_get(&b.profiles.data[i].labels, "span_id"));
    /* per type: one profile per label set; the totals add up to the raw data */
    int64_t raw = 0, sum = 0;
    for (size_t i = 0; i < p.sample.len; i++)
        raw += p.sample.data[i].value[1];
    for (size_t i = 0; i < b.profiles.len; i++)
        if (!strcmp(labels_get(&b.profiles.data[i].labels, LABEL_PROFILE_TYPE), t))
            sum += profile_total(&b.profiles.data[i]);
    ASSERT_EQ(sum, raw);
    batch_release(&b);
    pprof_release(&p);
}

/* A small profile: stacks main;work;helper;leaf (helper inlined into work) and main;0x401040. */
static void build_small(struct pprof *p)
{
    pprof_init(p);
    struct pprof_value_type vt = {pprof_add_string(p, "samples"), pprof_add_string(p, "count")};
    VEC_PUSH(p->sample_type, vt);
    struct pprof_value_type vt2 = {pprof_add_string(p, "cpu"), pprof_add_string(p, "nanoseconds")};
    VEC_PUSH(p->sample_type, vt2);
    p->period_type = vt2;
    p->period = 10000000;
    struct pprof_mapping m = {7, 0x400000, 0x500000, 0, pprof_add_string(p, "/bin/app"),
                              0, 1,        1,        1, 1};
    VEC_PUSH(p->mapping, m);
    const char *names[] = {"main", "work", "helper", "leaf"};
    for (int i = 0; i < 4; i++) {
        struct pprof_function f = {(uint64_t)(10 + i), pprof_add_string(p, names[i]), 0,
                                   pprof_add_string(p, "app.c"), 0};
        VEC_PUSH(p->function, f);
    }
    for (int i = 1; i <= 4; i++) {
        struct pprof_location l;
        memset(&l, 0, sizeof(l));
        l.id = (uint64_t)i;
        l.mapping_id = 7;
        l.address = 0x401000 + 0x10 * (uint64_t)i;
        l.nline = i == 2 ? 2 : i == 4 ? 0 : 1;
        l.line = l.nline ? xcalloc(l.nline, sizeof(struct pprof_line)) : NULL;
        if (i == 1)
            l.line[0] = (struct pprof_line){10, 5, 0};
        if (i == 2) {
            l.line[0] = (struct pprof_line){12, 25, 0}; /* innermost: helper */
            l.line[1] = (struct pprof_line){11, 15, 0}; /* its caller: work */
        }
        if (i == 3)
            l.line[0] = (struct pprof_line){13, 35, 0};
        VEC_PUSH(p->location, l);
    }
    uint64_t stacks[3][3] = {{3, 2, 1}, {4, 1, 0}, {3, 2, 1}};
    size_t depth[3] = {3, 2, 3};
    int64_t vals[3][2] = {{3, 30}, {0, 10}, {1, 0}};
    const char *ep[3] = {"/a", "/b", "/a"};
    for (int i = 0; i < 3; i++) {
        struct pprof_sample s;
        memset(&s, 0, sizeof(s));
        s.nlocation = depth[i];
        s.location_id = xmalloc(depth[i] * sizeof(uint64_t));
        memcpy(s.location_id, stacks[i], depth[i] * sizeof(uint64_t));
        s.nvalue = 2;
        s.value = xmalloc(2 * sizeof(int64_t));
        memcpy(s.value, vals[i], sizeof(vals[i]));
        s.nlabel = 3;
        s.label = xcalloc(3, sizeof(struct pprof_label));
        s.label[0] =
            (struct pprof_label){pprof_add_string(p, "endpoint"), pprof_add_string(p, ep[i]), 0, 0};
        s.label[1] = (struct pprof_label){pprof_add_string(p, "trace_id"),
                                          pprof_add_string(p, i ? "t2" : "t1"), 0, 0};
        s.label[2] = (struct pprof_label){pprof_add_string(p, "size"), 0, 64, 0};
        VEC_PUSH(p->sample, s);
    }
}

TEST(normalize_inlined_order_and_unsymbolised)
{
    struct pprof p;
    struct profile_batch b;
    struct normalize_opts o = {0};
    struct buf f = BUF_INIT;
    char err[300];
    build_small(&p);
    batch_init(&b);
    ASSERT_OK(run(&p, &o, &b, err));
    /* samples/count for /a, cpu for /a and /b (zero values make no series); trace ids split nothing
     */
    ASSERT_EQ(b.profiles.len, 3);
    const struct profile *a =
        find_prof(&b, "process_cpu:samples:count:cpu:nanoseconds", "endpoint", "/a");
    ASSERT(a);
    ASSERT_EQ(a->samples.len, 1);
    ASSERT_EQ(a->samples.data[0].value, 4); /* two samples, same stack, merged */
    folded(&b.sym, a->samples.data[0].stack, &f);
    ASSERT_STREQ(f.data, "main;work;helper;leaf");
    uint32_t fr[8];
    ASSERT_EQ(symtab_unwind(&b.sym, a->samples.data[0].stack, fr, 8), 4);
    const struct frame *helper = symtab_get_frame(&b.sym, fr[1]);
    ASSERT_EQ(helper->line, 25);
    ASSERT_EQ(helper->addr, 0x401020);
    ASSERT_STREQ(symtab_str(&b.sym, helper->file), "app.c");
    ASSERT_STREQ(symtab_str(&b.sym, helper->module), "/bin/app");
    /* zero values are skipped: /b has no samples/count profile */
    ASSERT(!find_prof(&b, "process_cpu:samples:count:cpu:nanoseconds", "endpoint", "/b"));
    const struct profile *bcpu =
        find_prof(&b, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "endpoint", "/b");
    ASSERT(bcpu);
    buf_reset(&f);
    folded(&b.sym, bcpu->samples.data[0].stack, &f);
    ASSERT_STREQ(f.data, "main;0x401040"); /* no lines: named by address */
    ASSERT_EQ(symtab_unwind(&b.sym, bcpu->samples.data[0].stack, fr, 8), 2);
    ASSERT_STREQ(symtab_str(&b.sym, symtab_get_frame(&b.sym, fr[0])->module), "/bin/app");
    ASSERT(!labels_get(&bcpu->labels, "trace_id"));
    ASSERT(!labels_get(&bcpu->labels, "size"));
    /* the /a cpu profile has value 30 */
    ASSERT_EQ(profile_total(
                  find_prof(&b, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "endpoint", "/a")),
              30);
    buf_release(&f);
    batch_release(&b);
    pprof_release(&p);
}

TEST(normalize_limits)
{
    struct pprof p;
    struct profile_batch b;
    struct normalize_opts o = {0};
    struct ingest_limits lim;
    struct buf f = BUF_INIT;
    char err[300];
    build_small(&p);

    /* depth: the root-most frames are kept */
    ingest_limits_default(&lim);
    lim.max_depth = 2;
    o.limits = &lim;
    batch_init(&b);
    ASSERT_OK(run(&p, &o, &b, err));
    for (size_t i = 0; i < b.profiles.len; i++)
        for (size_t j = 0; j < b.profiles.data[i].samples.len; j++)
            ASSERT(symtab_depth(&b.sym, b.profiles.data[i].samples.data[j].stack) <= 2);
    const struct profile *a =
        find_prof(&b, "process_cpu:samples:count:cpu:nanoseconds", "endpoint", "/a");
    folded(&b.sym, a->samples.data[0].stack, &f);
    ASSERT_STREQ(f.data, "main;work");
    batch_release(&b);

    /* symbol length: names are cut */
    ingest_limits_default(&lim);
    lim.max_symbol_len = 3;
    batch_init(&b);
    ASSERT_OK(run(&p, &o, &b, err));
    a = find_prof(&b, "process_cpu:samples:count:cpu:nanoseconds", "endpoint", "/a");
    buf_reset(&f);
    folded(&b.sym, a->samples.data[0].stack, &f);
    ASSERT_STREQ(f.data, "mai;wor;hel;lea");
    batch_release(&b);

    /* samples and labels: errors that say what and how many */
    ingest_limits_default(&lim);
    lim.max_samples = 2;
    batch_init(&b);
    ASSERT_EQ(run(&p, &o, &b, err), -EMBER_ETOOBIG);
    ASSERT(strstr(err, "3 samples, more than the limit of 2"));
    ASSERT_EQ(b.profiles.len, 0);
    batch_release(&b);

    ingest_limits_default(&lim);
    lim.max_labels = 4; /* service_name, env, endpoint, __name__, __profile_type__ = 5 */
    batch_init(&b);
    ASSERT_EQ(run(&p, &o, &b, err), -EMBER_ETOOBIG);
    ASSERT(strstr(err, "5 labels, more than the limit of 4"));
    ASSERT_EQ(b.profiles.len, 0);
    batch_release(&b);

    ingest_limits_default(&lim);
    lim.max_label_value_len = 1;
    batch_init(&b);
    ASSERT_OK(run(&p, &o, &b, err));
    /* "/a" and "/b" both became "/": one series */
    ASSERT_EQ(b.profiles.len, 2);
    const struct profile *cut =
        find_prof(&b, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", "endpoint", "/");
    ASSERT(cut);
    ASSERT_EQ(profile_total(cut), 40);
    batch_release(&b);
    buf_release(&f);
    pprof_release(&p);
}

static bool only_cpu(const char *st, void *arg)
{
    (void)arg;
    return !strcmp(st, "cpu");
}

TEST(normalize_name_filter_and_time)
{
    struct pprof p;
    struct profile_batch b;
    struct normalize_opts o = {0};
    char err[300];
    build_small(&p);
    batch_init(&b);
    o.name = "wall";
    o.keep_type = only_cpu;
    o.default_time_ns = 1700000000000000000LL;
    ASSERT_OK(run(&p, &o, &b, err));
    ASSERT_EQ(b.profiles.len, 2); /* cpu for /a and /b */
    for (size_t i = 0; i < b.profiles.len; i++) {
        ASSERT_STREQ(labels_get(&b.profiles.data[i].labels, LABEL_PROFILE_TYPE),
                     "wall:cpu:nanoseconds:cpu:nanoseconds");
        ASSERT_STREQ(labels_get(&b.profiles.data[i].labels, LABEL_NAME), "wall");
        ASSERT_EQ(b.profiles.data[i].time_ns, 1700000000000000000LL); /* time_nanos is 0 */
        ASSERT_EQ(b.profiles.data[i].period, 10000000);
    }
    batch_release(&b);
    /* a sample label cannot replace service_name or a reserved label */
    int64_t k = pprof_add_string(&p, "service_name"), v = pprof_add_string(&p, "evil");
    p.sample.data[0].label[2] = (struct pprof_label){k, v, 0, 0};
    p.sample.data[1].label[2] = (struct pprof_label){pprof_add_string(&p, "__name__"), v, 0, 0};
    batch_init(&b);
    o.name = NULL;
    o.keep_type = NULL;
    ASSERT_OK(run(&p, &o, &b, err));
    for (size_t i = 0; i < b.profiles.len; i++) {
        ASSERT_STREQ(labels_get(&b.profiles.data[i].labels, LABEL_SERVICE_NAME), "app");
        ASSERT_STREQ(labels_get(&b.profiles.data[i].labels, LABEL_NAME), "process_cpu");
    }
    batch_release(&b);
    pprof_release(&p);
}

TEST(normalize_infer_names)
{
    struct {
        const char *st, *pt, *want;
    } c[] = {
        {"wall", "wall", "wall"},
        {"cpu", "cpu", "process_cpu"},
        {"samples", "cpu", "process_cpu"},
        {"alloc_objects", "space", "memory"},
        {"inuse_space", "space", "memory"},
        {"alloc_in_new_tlab_bytes", "space", "memory"},
        {"contentions", "contentions", "block"},
        {"delay", "contentions", "block"},
        {"goroutine", "goroutine", "goroutine"},
        {"goroutines", "", "goroutine"},
        {"lock_count", "", "block"},
        {"exceptions", "", "exceptions"},
        {"weird", "space", "memory"},
        {"weird", "", "unknown"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        ASSERT_STREQ(normalize_infer_name(c[i].st, c[i].pt), c[i].want);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted "stack value" lines of a profile, for comparing two batches. */
static char *dump(const struct profile_batch *b, const struct profile *p)
{
    struct buf out = BUF_INIT, line = BUF_INIT;
    char **lines = xcalloc(p->samples.len + 1, sizeof(char *));
    for (size_t i = 0; i < p->samples.len; i++) {
        buf_reset(&line);
        folded(&b->sym, p->samples.data[i].stack, &line);
        buf_printf(&line, " %lld", (long long)p->samples.data[i].value);
        lines[i] = xstrdup(line.data);
    }
    qsort(lines, p->samples.len, sizeof(char *), cmp_str);
    for (size_t i = 0; i < p->samples.len; i++) {
        buf_puts(&out, lines[i]);
        buf_putc(&out, '\n');
        free(lines[i]);
    }
    free(lines);
    buf_release(&line);
    return buf_detach(&out, NULL);
}

TEST(normalize_to_pprof_roundtrip)
{
    struct pprof p, q, r;
    struct profile_batch b, b2;
    struct normalize_opts o = {0};
    struct buf enc = BUF_INIT;
    char err[300];
    load("go/cpu.pb.gz", &p);
    batch_init(&b);
    ASSERT_OK(run(&p, &o, &b, err));
    const char *t = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    const struct profile *cpu = find_prof(&b, t, 0, 0);
    pprof_init(&q);
    ASSERT_OK(normalize_to_pprof(&b.sym, cpu->samples.data, cpu->samples.len, t, cpu->time_ns,
                                 cpu->duration_ns, cpu->period, &q));
    ASSERT_EQ(q.sample_type.len, 1);
    ASSERT_STREQ(pprof_str(&q, q.sample_type.data[0].type), "cpu");
    ASSERT_STREQ(pprof_str(&q, q.period_type.unit), "nanoseconds");
    ASSERT_EQ(q.period, 1000000);
    /* one function per distinct name+file (inlined mix appears under three callers) */
    for (size_t i = 0; i < q.function.len; i++)
        for (size_t j = i + 1; j < q.function.len; j++)
            ASSERT(q.function.data[i].name != q.function.data[j].name ||
                   q.function.data[i].filename != q.function.data[j].filename);
    pprof_encode(&q, &enc);
    pprof_init(&r);
    if (pprof_decode(&r, enc.data, enc.len, 0, err, sizeof(err)))
        TEST_FAIL_("exported pprof does not decode: %s", err);
    batch_init(&b2);
    ASSERT_OK(run(&r, &o, &b2, err));
    ASSERT_EQ(b2.profiles.len, 1);
    char *d1 = dump(&b, cpu), *d2 = dump(&b2, &b2.profiles.data[0]);
    ASSERT_STREQ(d1, d2);
    ASSERT_EQ(b2.profiles.data[0].time_ns, cpu->time_ns);
    free(d1);
    free(d2);
    batch_release(&b2);
    pprof_release(&r);
    pprof_release(&q);
    buf_release(&enc);
    batch_release(&b);
    pprof_release(&p);

    /* a bad type id is refused */
    pprof_init(&q);
    ASSERT_EQ(normalize_to_pprof(NULL, NULL, 0, "cpu:nanoseconds", 0, 0, 0, &q),
              -EMBER_EINVAL_INPUT);
    pprof_release(&q);
}
