/* test_server_delta.c - cumulative-to-delta conversion per series and stack */
#include "profile/profile.h"
#include "server/delta.h"
#include "test.h"

/* Adds a profile for service svc with samples {a;b: ab, a;c: ac} built in a fresh symtab. */
static struct profile *make(struct profile_batch *b, const char *svc, int64_t ab, int64_t ac,
                            int reverse_interning)
{
    struct profile *p;
    uint32_t fa, fb, fc, st[2];

    if (reverse_interning) {
        /* other ids for the same frames: keys must not depend on ids */
        fc = symtab_frame_str(&b->sym, "c", NULL, 0, NULL, 0);
        fb = symtab_frame_str(&b->sym, "b", NULL, 0, NULL, 0);
        fa = symtab_frame_str(&b->sym, "a", NULL, 0, NULL, 0);
    } else {
        fa = symtab_frame_str(&b->sym, "a", NULL, 0, NULL, 0);
        fb = symtab_frame_str(&b->sym, "b", NULL, 0, NULL, 0);
        fc = symtab_frame_str(&b->sym, "c", NULL, 0, NULL, 0);
    }
    p = batch_add(b);
    labels_set(&p->labels, "service_name", svc);
    labels_set(&p->labels, "__name__", "memory");
    st[0] = fa;
    st[1] = fb;
    profile_add(p, symtab_stack(&b->sym, st, 2), ab);
    st[1] = fc;
    profile_add(p, symtab_stack(&b->sym, st, 2), ac);
    return p;
}

static int64_t value_of(const struct profile_batch *b, const struct profile *p, const char *leaf)
{
    for (size_t i = 0; i < p->samples.len; i++) {
        uint32_t f[4];
        symtab_unwind(&b->sym, p->samples.data[i].stack, f, 4);
        if (!strcmp(symtab_str(&b->sym, symtab_get_frame(&b->sym, f[0])->name), leaf))
            return p->samples.data[i].value;
    }
    return -1;
}

TEST(server_delta_sequence)
{
    struct delta *d = delta_new(16);
    struct profile_batch b;
    struct delta_txn txn;
    struct profile *p;

    /* first profile: baseline only */
    batch_init(&b);
    delta_txn_init(&txn);
    p = make(&b, "svc", 100, 50, 0);
    ASSERT_EQ(delta_apply(d, "t", &b, p, &txn), 1);
    ASSERT_EQ(p->samples.len, 0);
    delta_commit(d, &txn);
    batch_release(&b);
    ASSERT_EQ(delta_nseries(d), 1);

    /* second: differences; unchanged stacks drop out */
    batch_init(&b);
    p = make(&b, "svc", 130, 50, 1);
    ASSERT_EQ(delta_apply(d, "t", &b, p, &txn), 0);
    ASSERT_EQ(p->samples.len, 1);
    ASSERT_EQ(value_of(&b, p, "b"), 30);
    delta_commit(d, &txn);
    batch_release(&b);

    /* a drop (process restart) takes the new value as the delta */
    batch_init(&b);
    p = make(&b, "svc", 10, 70, 0);
    delta_apply(d, "t", &b, p, &txn);
    ASSERT_EQ(value_of(&b, p, "b"), 10);
    ASSERT_EQ(value_of(&b, p, "c"), 20);
    /* not committed: the baseline stays at (130, 50) */
    delta_txn_release(&txn);
    batch_release(&b);

    batch_init(&b);
    p = make(&b, "svc", 140, 50, 0);
    delta_apply(d, "t", &b, p, &txn);
    ASSERT_EQ(value_of(&b, p, "b"), 10);
    ASSERT_EQ(value_of(&b, p, "c"), -1);
    delta_txn_release(&txn);
    batch_release(&b);

    /* another tenant or series starts from scratch */
    batch_init(&b);
    p = make(&b, "svc", 140, 50, 0);
    ASSERT_EQ(delta_apply(d, "other", &b, p, &txn), 1);
    p = make(&b, "svc2", 140, 50, 0);
    ASSERT_EQ(delta_apply(d, "t", &b, p, &txn), 1);
    delta_txn_release(&txn);
    batch_release(&b);
    delta_free(d);
}

TEST(server_delta_eviction)
{
    struct delta *d = delta_new(2);
    struct profile_batch b;
    struct delta_txn txn;
    const char *svcs[] = {"s1", "s2", "s3"};

    delta_txn_init(&txn);
    for (int i = 0; i < 3; i++) {
        batch_init(&b);
        delta_apply(d, "t", &b, make(&b, svcs[i], 1, 1, 0), &txn);
        delta_commit(d, &txn);
        batch_release(&b);
    }
    ASSERT_EQ(delta_nseries(d), 2);
    /* s1 was least recently used: it starts over */
    batch_init(&b);
    ASSERT_EQ(delta_apply(d, "t", &b, make(&b, "s1", 5, 5, 0), &txn), 1);
    ASSERT_EQ(delta_apply(d, "t", &b, make(&b, "s3", 5, 5, 0), &txn), 0);
    delta_txn_release(&txn);
    batch_release(&b);
    delta_free(d);
}

TEST(server_delta_stack_key_stable)
{
    struct symtab a, b;
    uint32_t f[2], sa, sb;

    symtab_init(&a);
    symtab_init(&b);
    symtab_frame_str(&b, "zzz", NULL, 0, NULL, 0);
    f[0] = symtab_frame_str(&a, "main", "m.c", 3, NULL, 0);
    f[1] = symtab_frame_str(&a, "leaf", NULL, 0, "libx.so", 0x10);
    sa = symtab_stack(&a, f, 2);
    f[1] = symtab_frame_str(&b, "leaf", NULL, 0, "libx.so", 0x10);
    f[0] = symtab_frame_str(&b, "main", "m.c", 3, NULL, 0);
    sb = symtab_stack(&b, f, 2);
    ASSERT_EQ(delta_stack_key(&a, sa, NULL, 0), delta_stack_key(&b, sb, NULL, 0));
    f[0] = symtab_frame_str(&b, "main", "m.c", 4, NULL, 0);
    ASSERT_NE(delta_stack_key(&a, sa, NULL, 0),
              delta_stack_key(&b, symtab_stack(&b, f, 2), NULL, 0));
    symtab_release(&a);
    symtab_release(&b);
}
