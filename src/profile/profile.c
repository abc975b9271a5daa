/* profile.c - profile model: symtab, profiles, batches */
#include "profile.h"

#include <stdlib.h>
#include <string.h>

#include "base/err.h"

void symtab_init(struct symtab *s)
{
    strtab_init(&s->strings);
    idtab_init(&s->frames, sizeof(struct frame));
    idtab_init(&s->nodes, sizeof(struct stack_node));
    struct frame f0;
    memset(&f0, 0, sizeof(f0));
    idtab_intern(&s->frames, &f0);
    /* The root node {UINT32_MAX, UINT32_MAX} can never equal a real child. */
    struct stack_node root = {UINT32_MAX, UINT32_MAX};
    idtab_intern(&s->nodes, &root);
}

void symtab_release(struct symtab *s)
{
    strtab_release(&s->strings);
    idtab_release(&s->frames);
    idtab_release(&s->nodes);
}

uint32_t symtab_frame(struct symtab *s, const struct frame *f)
{
    return idtab_intern(&s->frames, f);
}

uint32_t symtab_frame_str(struct symtab *s, const char *name, const char *file, uint32_t line,
                          const char *module, uint64_t addr)
{
    struct frame f;
    memset(&f, 0, sizeof(f));
    f.name = name ? strtab_intern_cstr(&s->strings, name) : 0;
    f.file = file ? strtab_intern_cstr(&s->strings, file) : 0;
    f.module = module ? strtab_intern_cstr(&s->strings, module) : 0;
    f.line = line;
    f.addr = addr;
    return idtab_intern(&s->frames, &f);
}

uint32_t symtab_child(struct symtab *s, uint32_t parent, uint32_t frame)
{
    struct stack_node n = {parent, frame};
    return idtab_intern(&s->nodes, &n);
}

uint32_t symtab_stack(struct symtab *s, const uint32_t *frames, size_t n)
{
    uint32_t node = 0;
    for (size_t i = 0; i < n; i++)
        node = symtab_child(s, node, frames[i]);
    return node;
}

size_t symtab_depth(const struct symtab *s, uint32_t stack)
{
    size_t d = 0;
    while (stack) {
        stack = symtab_get_node(s, stack)->parent;
        d++;
    }
    return d;
}

size_t symtab_unwind(const struct symtab *s, uint32_t stack, uint32_t *out, size_t max)
{
    size_t d = 0;
    while (stack) {
        const struct stack_node *n = symtab_get_node(s, stack);
        if (d < max)
            out[d] = n->frame;
        d++;
        stack = n->parent;
    }
    return d;
}

int ptype_parse(struct ptype *t, const char *id)
{
    memset(t, 0, sizeof(*t));
    char **parts[5] = {&t->name, &t->sample_type, &t->sample_unit, &t->period_type,
                       &t->period_unit};
    const char *p = id;
    for (int i = 0; i < 5; i++) {
        const char *e = i < 4 ? strchr(p, ':') : p + strlen(p);
        if (!e || e == p || (i == 4 && strchr(p, ':'))) {
            ptype_release(t);
            return -EMBER_EINVAL_INPUT;
        }
        *parts[i] = xstrndup(p, (size_t)(e - p));
        p = e + 1;
    }
    return 0;
}

void ptype_release(struct ptype *t)
{
    free(t->name);
    free(t->sample_type);
    free(t->sample_unit);
    free(t->period_type);
    free(t->period_unit);
    memset(t, 0, sizeof(*t));
}

char *ptype_id(const char *name, const char *st, const char *su, const char *pt, const char *pu)
{
    return xasprintf("%s:%s:%s:%s:%s", name, st, su, pt, pu);
}

void profile_init(struct profile *p)
{
    memset(p, 0, sizeof(*p));
    labels_init(&p->labels);
}

void profile_release(struct profile *p)
{
    labels_release(&p->labels);
    free(p->samples.data);
    memset(p, 0, sizeof(*p));
}

void profile_add(struct profile *p, uint32_t stack, int64_t value)
{
    struct sample s = {stack, 0, value};
    VEC_PUSH(p->samples, s);
}

static int cmp_sample(const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    return x->stack < y->stack ? -1 : x->stack > y->stack;
}

void profile_compact(struct profile *p)
{
    if (!p->samples.len)
        return;
    qsort(p->samples.data, p->samples.len, sizeof(struct sample), cmp_sample);
    size_t w = 0;
    for (size_t r = 0; r < p->samples.len; r++) {
        if (w && p->samples.data[w - 1].stack == p->samples.data[r].stack)
            p->samples.data[w - 1].value += p->samples.data[r].value;
        else
            p->samples.data[w++] = p->samples.data[r];
    }
    size_t k = 0;
    for (size_t r = 0; r < w; r++)
        if (p->samples.data[r].value != 0)
            p->samples.data[k++] = p->samples.data[r];
    p->samples.len = k;
}

int64_t profile_total(const struct profile *p)
{
    int64_t t = 0;
    for (size_t i = 0; i < p->samples.len; i++)
        t += p->samples.data[i].value;
    return t;
}

void batch_init(struct profile_batch *b)
{
    memset(b, 0, sizeof(*b));
    symtab_init(&b->sym);
}

void batch_release(struct profile_batch *b)
{
    for (size_t i = 0; i < b->profiles.len; i++)
        profile_release(&b->profiles.data[i]);
    free(b->profiles.data);
    symtab_release(&b->sym);
    memset(b, 0, sizeof(*b));
}

struct profile *batch_add(struct profile_batch *b)
{
    VEC_RESERVE(b->profiles, 1);
    struct profile *p = &b->profiles.data[b->profiles.len++];
    profile_init(p);
    return p;
}

size_t batch_nsamples(const struct profile_batch *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->profiles.len; i++)
        n += b->profiles.data[i].samples.len;
    return n;
}

void ingest_limits_default(struct ingest_limits *l)
{
    l->max_profile_bytes = 4u << 20;
    l->max_decompressed = 64u << 20;
    l->max_ratio = 100;
    l->max_samples = 16000;
    l->max_depth = 1000;
    l->max_labels = 30;
    l->max_symbol_len = 65535;
    l->max_label_value_len = 2048;
}
