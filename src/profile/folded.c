/* folded.c - folded ("a;b;c 12") and lines ("a;b;c") stack text: parser and writer */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "textfmt.h"
#include "textfmt_int.h"

/*
 * Speed: folded text from tools is usually sorted, so a line shares its
 * first frames with the line before. The parser remembers the previous
 * stack (a pointer into data) with the end offset and stack node of each of
 * its frames, and re-interns only the frames after the common prefix. What
 * remains per frame is one string lookup, one frame lookup (cached by string
 * id) and one stack node lookup; per line, one lookup of the sample.
 */
struct prev_stack {
    const char *s;
    size_t len;
    uint32_t stack;      /* stack id of the whole previous stack */
    VEC(size_t) ends;    /* end offset of each kept frame */
    VEC(uint32_t) nodes; /* stack node after each kept frame */
};

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Interns the stack s[0..len) ("a;b;c", root first) into *stack. Returns 0, or
 * an error (message written) for an empty frame.
 */
static int parse_stack(struct tf_ctx *c, struct prev_stack *pv, size_t lineno, const char *s,
                       size_t len, uint32_t *stack)
{
    size_t common = 0, lim = len < pv->len ? len : pv->len;
    while (common < lim && s[common] == pv->s[common])
        common++;
    if (pv->s && common == len && len == pv->len) {
        *stack = pv->stack;
        return 0;
    }
    /* Frames of the previous stack followed by a ';' inside the common prefix are shared, and
     * so is its last frame when this stack goes on past it ("a;b" then "a;b;c"). */
    size_t k = 0;
    while (k < pv->ends.len && pv->ends.data[k] < common)
        k++;
    if (k < pv->ends.len && pv->ends.data[k] == common && common == pv->len && common < len &&
        s[common] == ';')
        k++;
    pv->ends.len = k;
    pv->nodes.len = k;
    size_t pos = k ? pv->ends.data[k - 1] + 1 : 0;
    uint32_t node = k ? pv->nodes.data[k - 1] : 0;
    size_t depth = k;
    for (;;) {
        const char *semi = memchr(s + pos, ';', len - pos);
        size_t end = semi ? (size_t)(semi - s) : len;
        if (end == pos)
            return tf_error(c, -EMBER_EINVAL_INPUT,
                            "line %zu: empty frame at column %zu (';;' or a ';' at an end)", lineno,
                            pos + 1);
        if (depth < c->max_depth) {
            node = symtab_child(c->sym, node, tf_name_frame(c, s + pos, end - pos));
            VEC_PUSH(pv->ends, end);
            VEC_PUSH(pv->nodes, node);
            depth++;
        }
        if (!semi)
            break;
        pos = end + 1;
    }
    pv->s = s;
    pv->len = len;
    pv->stack = node;
    *stack = node;
    return 0;
}

/* Parses the count s[0..n) (non-empty) into *v; on error writes the message. */
static int parse_count(struct tf_ctx *c, size_t lineno, const char *s, size_t n, int64_t *v)
{
    char q[40];
    uint64_t x = 0;
    if (s[0] == '-')
        return tf_error(c, -EMBER_EINVAL_INPUT, "line %zu: negative sample count '%s'", lineno,
                        tf_quote(q, sizeof(q), s, n));
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return tf_error(c, -EMBER_EINVAL_INPUT,
                            "line %zu: sample count '%s' after the last space is not a number",
                            lineno, tf_quote(q, sizeof(q), s, n));
        if (x > ((uint64_t)INT64_MAX - d) / 10)
            return tf_error(c, -EMBER_EINVAL_INPUT, "line %zu: sample count '%s' is too large",
                            lineno, tf_quote(q, sizeof(q), s, n));
        x = x * 10 + d;
    }
    *v = (int64_t)x;
    return 0;
}

static int parse_text(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                      const struct ingest_limits *lim, int with_count, char *err, size_t errlen)
{
    struct tf_ctx c;
    struct prev_stack pv;
    const char *p = data, *end = data + n;
    size_t lineno = 0;
    int rc = 0;

    tf_init(&c, sym, prof, lim, err, errlen);
    memset(&pv, 0, sizeof(pv));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *line = p;
        p = nl ? nl + 1 : end;
        lineno++;
        while (le > line && is_blank(le[-1]))
            le--;
        size_t len = (size_t)(le - line);
        if (!len)
            continue;
        const char *nul = memchr(line, '\0', len);
        if (nul) {
            rc = tf_error(&c, -EMBER_EINVAL_INPUT, "line %zu: NUL byte at column %zu", lineno,
                          (size_t)(nul - line) + 1);
            goto out;
        }
        int64_t value = 1;
        if (with_count) {
            size_t sp = len;
            while (sp > 0 && line[sp - 1] != ' ' && line[sp - 1] != '\t')
                sp--;
            if (!sp) {
                rc = tf_error(&c, -EMBER_EINVAL_INPUT,
                              "line %zu: no sample count after the last space", lineno);
                goto out;
            }
            rc = parse_count(&c, lineno, line + sp, len - sp, &value);
            if (rc)
                goto out;
            len = sp - 1;
            while (len > 0 && is_blank(line[len - 1]))
                len--;
            if (!len) {
                rc = tf_error(&c, -EMBER_EINVAL_INPUT, "line %zu: empty stack before the count",
                              lineno);
                goto out;
            }
        }
        uint32_t stack = 0;
        rc = parse_stack(&c, &pv, lineno, line, len, &stack);
        if (rc)
            goto out;
        if (!value)
            continue;
        rc = tf_add(&c, stack, value);
        if (rc) {
            rc = tf_error(&c, rc, "line %zu: %s", lineno, tf_add_strerror(&c, rc));
            goto out;
        }
    }
out:
    free(pv.ends.data);
    free(pv.nodes.data);
    tf_release(&c);
    return rc;
}

int folded_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                 const struct ingest_limits *lim, char *err, size_t errlen)
{
    return parse_text(data, n, sym, prof, lim, 1, err, errlen);
}

int lines_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                const struct ingest_limits *lim, char *err, size_t errlen)
{
    return parse_text(data, n, sym, prof, lim, 0, err, errlen);
}

void folded_write(const struct symtab *sym, const struct profile *prof, struct buf *out)
{
    struct tf_keys keys;
    tf_keys_collect(sym, prof, 1, &keys);
    for (size_t i = 0; i < keys.v.len; i++) {
        const struct tf_key *k = &keys.v.data[i];
        buf_append(out, k->s, k->len);
        buf_putc(out, ' ');
        buf_put_i64(out, k->value);
        buf_putc(out, '\n');
    }
    tf_keys_release(&keys);
}
