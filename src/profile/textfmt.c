/* textfmt.c - shared parse state of the stack format codecs, format detection, stack collection */
#include "textfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "textfmt_int.h"

void tf_init(struct tf_ctx *c, struct symtab *sym, struct profile *prof,
             const struct ingest_limits *lim, char *err, size_t errlen)
{
    struct ingest_limits def;
    memset(c, 0, sizeof(*c));
    if (!lim) {
        ingest_limits_default(&def);
        lim = &def;
    }
    c->sym = sym;
    c->prof = prof;
    c->max_samples = lim->max_samples ? lim->max_samples : SIZE_MAX;
    c->max_depth = lim->max_depth ? lim->max_depth : SIZE_MAX;
    c->max_symbol_len = lim->max_symbol_len ? lim->max_symbol_len : SIZE_MAX;
    hmap_init(&c->stacks);
    c->err = err;
    c->errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
}

void tf_release(struct tf_ctx *c)
{
    hmap_release(&c->stacks);
    free(c->name_frame.data);
    memset(c, 0, sizeof(*c));
}

int tf_error(struct tf_ctx *c, int code, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

size_t tf_clip(const struct tf_ctx *c, const char *s, size_t n)
{
    if (n <= c->max_symbol_len)
        return n;
    n = c->max_symbol_len;
    /* s[n] is the first byte cut off; if it continues a character, cut that character too. */
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

uint32_t tf_name_frame(struct tf_ctx *c, const char *s, size_t n)
{
    uint32_t id = strtab_intern(&c->sym->strings, s, tf_clip(c, s, n));
    if (id < c->name_frame.len && c->name_frame.data[id])
        return c->name_frame.data[id];
    if (id >= c->name_frame.len) {
        size_t old = c->name_frame.len;
        VEC_RESERVE(c->name_frame, (size_t)id + 1 - old);
        memset(c->name_frame.data + old, 0, ((size_t)id + 1 - old) * sizeof(uint32_t));
        c->name_frame.len = (size_t)id + 1;
    }
    struct frame f;
    memset(&f, 0, sizeof(f));
    f.name = id;
    uint32_t fid = symtab_frame(c->sym, &f);
    c->name_frame.data[id] = fid;
    return fid;
}

int tf_add(struct tf_ctx *c, uint32_t stack, int64_t value)
{
    int created = 0;
    uint64_t *slot = hmap_put(&c->stacks, stack, &created);
    struct profile *p = c->prof;
    if (!created && *slot == UINT64_MAX)
        return -EMBER_ETOOBIG;
    if (!created) {
        struct sample *s = &p->samples.data[*slot];
        if (__builtin_add_overflow(s->value, value, &s->value))
            return -EMBER_EINVAL_INPUT;
        return 0;
    }
    if (p->samples.len >= c->max_samples) {
        *slot = UINT64_MAX; /* remembered as rejected */
        return -EMBER_ETOOBIG;
    }
    *slot = p->samples.len;
    profile_add(p, stack, value);
    return 0;
}

const char *tf_add_strerror(const struct tf_ctx *c, int code)
{
    static __thread char msg[80];
    if (code == -EMBER_ETOOBIG) {
        snprintf(msg, sizeof(msg), "more than %zu distinct stacks (the max_samples limit)",
                 c->max_samples);
        return msg;
    }
    return "sample values of one stack add up past the int64 range";
}

const char *tf_quote(char *out, size_t outlen, const char *s, size_t n)
{
    size_t i, k = 0;
    if (!outlen)
        return out;
    for (i = 0; i < n && k + 4 < outlen; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (i < n && k + 3 < outlen) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

/* ---- collecting the stacks of a profile for the writers ---- */

static int cmp_stack(const void *a, const void *b)
{
    const struct tf_stack *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    for (size_t i = 0; i < n; i++) {
        if (x->names[i] != y->names[i]) {
            int r = strcmp(x->names[i], y->names[i]);
            if (r)
                return r;
        }
    }
    return x->n < y->n ? -1 : x->n > y->n;
}

void tf_collect(const struct symtab *sym, const struct profile *prof, struct tf_stacks *out)
{
    VEC(uint32_t) leaf_first = {NULL, 0, 0};
    VEC(size_t) offs = {NULL, 0, 0};
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < prof->samples.len; i++) {
        const struct sample *s = &prof->samples.data[i];
        if (!s->value)
            continue;
        size_t d = symtab_depth(sym, s->stack);
        VEC_RESERVE(leaf_first, d);
        symtab_unwind(sym, s->stack, leaf_first.data, d);
        VEC_RESERVE(out->names, d);
        VEC_PUSH(offs, out->names.len);
        for (size_t k = d; k-- > 0;) {
            const char *name = symtab_str(sym, symtab_get_frame(sym, leaf_first.data[k])->name);
            out->names.data[out->names.len++] = *name ? name : "[unknown]";
        }
        struct tf_stack st = {NULL, d, s->value};
        VEC_PUSH(out->v, st);
    }
    /* names may have moved while growing: point into it only now */
    for (size_t i = 0; i < out->v.len; i++)
        out->v.data[i].names = out->names.data + offs.data[i];
    free(leaf_first.data);
    free(offs.data);
    if (!out->v.len)
        return;
    qsort(out->v.data, out->v.len, sizeof(struct tf_stack), cmp_stack);
    size_t w = 0;
    for (size_t r = 0; r < out->v.len; r++) {
        if (w && !cmp_stack(&out->v.data[w - 1], &out->v.data[r]))
            out->v.data[w - 1].value = tf_sat_add(out->v.data[w - 1].value, out->v.data[r].value);
        else
            out->v.data[w++] = out->v.data[r];
    }
    out->v.len = w;
}

void tf_stacks_release(struct tf_stacks *s)
{
    free(s->v.data);
    free(s->names.data);
    memset(s, 0, sizeof(*s));
}

static int cmp_key(const void *a, const void *b)
{
    const struct tf_key *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = n ? memcmp(x->s, y->s, n) : 0;
    if (r)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

void tf_keys_collect(const struct symtab *sym, const struct profile *prof, int for_folded,
                     struct tf_keys *out)
{
    struct tf_stacks st;
    VEC(size_t) offs = {NULL, 0, 0};
    memset(out, 0, sizeof(*out));
    tf_collect(sym, prof, &st);
    for (size_t i = 0; i < st.v.len; i++) {
        const struct tf_stack *s = &st.v.data[i];
        if (!s->n)
            continue;
        size_t start = out->text.len;
        for (size_t k = 0; k < s->n; k++) {
            if (k)
                buf_putc(&out->text, ';');
            buf_puts(&out->text, s->names[k]);
        }
        if (for_folded)
            for (size_t j = start; j < out->text.len; j++)
                if (out->text.data[j] == '\n' || out->text.data[j] == '\r')
                    out->text.data[j] = ' ';
        struct tf_key k = {NULL, out->text.len - start, s->value};
        VEC_PUSH(out->v, k);
        VEC_PUSH(offs, start);
    }
    for (size_t i = 0; i < out->v.len; i++)
        out->v.data[i].s = out->text.data + offs.data[i];
    free(offs.data);
    tf_stacks_release(&st);
    if (!out->v.len)
        return;
    qsort(out->v.data, out->v.len, sizeof(struct tf_key), cmp_key);
    size_t w = 0;
    for (size_t r = 0; r < out->v.len; r++) {
        if (w && !cmp_key(&out->v.data[w - 1], &out->v.data[r]))
            out->v.data[w - 1].value = tf_sat_add(out->v.data[w - 1].value, out->v.data[r].value);
        else
            out->v.data[w++] = out->v.data[r];
    }
    size_t k = 0;
    for (size_t r = 0; r < w; r++)
        if (out->v.data[r].value)
            out->v.data[k++] = out->v.data[r];
    out->v.len = k;
}

void tf_keys_release(struct tf_keys *k)
{
    buf_release(&k->text);
    free(k->v.data);
    memset(k, 0, sizeof(*k));
}

/* ---- format detection ---- */

/* The first line of data that is neither blank nor a '#' comment, without its line end. */
static const char *first_line(const char *s, size_t n, size_t *len)
{
    const char *end = s + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *le = nl ? nl : end;
        const char *t = s;
        while (t < le && (*t == ' ' || *t == '\t' || *t == '\r'))
            t++;
        if (t < le && *t != '#') {
            while (le > s && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
                le--;
            *len = (size_t)(le - s);
            return s;
        }
        s = nl ? nl + 1 : end;
    }
    return NULL;
}

enum textfmt_kind textfmt_detect(const void *data, size_t n)
{
    const unsigned char *b = data;
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return FMT_PPROF_GZ;
    if (n >= 2 && b[0] == 0x0a) {
        /* A Profile starts with sample_type (field 1, bytes): a ValueType holds varint fields
         * 1 and 2, so the tag bytes 0x08 / 0x10 follow soon. Text starting with a blank line
         * has no such control bytes. */
        size_t lim = n < 64 ? n : 64;
        for (size_t i = 1; i < lim; i++)
            if (b[i] < 0x09 || (b[i] > 0x0d && b[i] < 0x20))
                return FMT_PPROF;
    }
    size_t len;
    const char *line = first_line(data, n < 65536 ? n : 65536, &len);
    if (!line)
        return FMT_UNKNOWN;
    if (perfscript_is_header(line, len))
        return FMT_PERFSCRIPT;
    /* folded: "...frames <digits>" */
    size_t i = len;
    while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
        i--;
    if (i < len && i >= 2 && line[i - 1] == ' ' && line[0] != ' ')
        return FMT_FOLDED;
    return FMT_UNKNOWN;
}
