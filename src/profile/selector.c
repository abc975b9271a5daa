/* selector.c - parsing and matching Prometheus-style series selectors */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "selector.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "profile/labels.h"

/*
 * The grammar, with whitespace allowed between tokens:
 *
 *   selector := [ptype] ['{' [matcher (',' matcher)* [',']] '}']
 *   ptype    := part ':' part ':' part ':' part ':' part      (part: [A-Za-z0-9_.+-]+)
 *   matcher  := name op string
 *   op       := '=' | '!=' | '=~' | '!~'
 *   string   := "..." | '...' (Go escapes) | `...` (raw)
 *
 * Regexes are compiled with PCRE2_ANCHORED | PCRE2_ENDANCHORED rather than
 * by wrapping the source in "^(?:...)$": a wrapper can be escaped by a value
 * such as "a)|(b", the options cannot.
 */

/* Bounds on untrusted input: a selector arrives in a URL. */
#define SEL_MAX_MATCHERS 256
/* pcre2_match() gives up (as "no match") past this many backtracking steps. */
#define SEL_MATCH_LIMIT 1000000

struct parser {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct parser *p, size_t at, const char *fmt,
                                                      ...)
{
    if (p->err && p->errlen) {
        va_list ap;
        int n = snprintf(p->err, p->errlen, "at offset %zu: ", at);
        if (n >= 0 && (size_t)n < p->errlen) {
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -EMBER_EINVAL_INPUT;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int is_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static int is_ptype_char(char c)
{
    return is_name_char(c, 0) || c == '.' || c == '-' || c == '+';
}

/* Reads the profile type id at p->pos (up to '{', whitespace or the end). */
static int parse_ptype(struct parser *p, char **out)
{
    size_t start = p->pos, parts = 1, part_start = start;
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == '{' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
            break;
        if (c == ':') {
            if (p->pos == part_start)
                return fail(p, p->pos, "empty part in profile type");
            parts++;
            part_start = p->pos + 1;
        } else if (!is_ptype_char(c)) {
            return fail(p, p->pos, "unexpected character '%c' in profile type (expected '{')",
                        c >= 0x20 && c < 0x7f ? c : '?');
        }
        p->pos++;
    }
    if (p->pos == part_start)
        return fail(p, p->pos, "empty part in profile type");
    if (parts != 5)
        return fail(p, start,
                    "profile type must have 5 colon-separated parts "
                    "(name:sample_type:sample_unit:period_type:period_unit, e.g. "
                    "process_cpu:cpu:nanoseconds:cpu:nanoseconds), got %zu",
                    parts);
    *out = xstrndup(p->s + start, p->pos - start);
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void put_utf8(struct buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    buf_append(b, u, n);
}

/* Decodes one escape after the backslash at p->pos - 1; appends it to b. */
static int parse_escape(struct parser *p, char quote, struct buf *b)
{
    size_t at = p->pos - 1;
    if (p->pos >= p->len)
        return fail(p, at, "unterminated string");
    char c = p->s[p->pos++];
    switch (c) {
    case 'a':
        buf_putc(b, '\a');
        return 0;
    case 'b':
        buf_putc(b, '\b');
        return 0;
    case 'f':
        buf_putc(b, '\f');
        return 0;
    case 'n':
        buf_putc(b, '\n');
        return 0;
    case 'r':
        buf_putc(b, '\r');
        return 0;
    case 't':
        buf_putc(b, '\t');
        return 0;
    case 'v':
        buf_putc(b, '\v');
        return 0;
    case '\\':
        buf_putc(b, '\\');
        return 0;
    case '"':
    case '\'':
        if (c != quote)
            return fail(p, at, "invalid escape \\%c in %c-quoted string", c, quote);
        buf_putc(b, c);
        return 0;
    case 'x':
    case 'u':
    case 'U': {
        size_t nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        uint32_t v = 0;
        if (p->len - p->pos < nd)
            return fail(p, at, "truncated \\%c escape", c);
        for (size_t i = 0; i < nd; i++) {
            int h = hexval(p->s[p->pos + i]);
            if (h < 0)
                return fail(p, p->pos + i, "invalid hex digit in \\%c escape", c);
            v = v << 4 | (uint32_t)h;
        }
        p->pos += nd;
        if (c == 'x') {
            buf_putc(b, (char)v);
            return 0;
        }
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return fail(p, at, "invalid code point U+%04X in escape", (unsigned)v);
        put_utf8(b, v);
        return 0;
    }
    default:
        if (c >= '0' && c <= '7') {
            uint32_t v = (uint32_t)(c - '0');
            for (int i = 0; i < 2; i++) {
                if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '7')
                    return fail(p, at, "octal escape needs 3 digits");
                v = v * 8 + (uint32_t)(p->s[p->pos++] - '0');
            }
            if (v > 255)
                return fail(p, at, "octal escape value %u > 255", (unsigned)v);
            buf_putc(b, (char)v);
            return 0;
        }
        return fail(p, at, "unknown escape sequence \\%c", c >= 0x20 && c < 0x7f ? c : '?');
    }
}

/* Parses a quoted string at p->pos; on success *out is a new string. */
static int parse_string(struct parser *p, char **out)
{
    struct buf b = BUF_INIT;
    size_t start = p->pos;
    int err = 0;
    if (p->pos >= p->len) {
        err = fail(p, p->pos, "expected a quoted label value, got end of input");
        goto out;
    }
    char quote = p->s[p->pos];
    if (quote != '"' && quote != '\'' && quote != '`') {
        err = fail(p, p->pos, "expected a quoted label value (\"...\", '...' or `...`)");
        goto out;
    }
    p->pos++;
    buf_puts(&b, ""); /* a value is never NULL, even when empty */
    for (;;) {
        if (p->pos >= p->len) {
            err = fail(p, start, "unterminated string");
            goto out;
        }
        char c = p->s[p->pos++];
        if (c == quote)
            break;
        if (c == '\\' && quote != '`') {
            err = parse_escape(p, quote, &b);
            if (err)
                goto out;
            continue;
        }
        if (c == '\n' && quote != '`') {
            err = fail(p, start, "unterminated string (newline inside quotes)");
            goto out;
        }
        buf_putc(&b, c);
    }
    if (memchr(b.data, '\0', b.len)) {
        err = fail(p, start, "label value contains a NUL byte");
        goto out;
    }
    *out = buf_detach(&b, NULL);
out:
    buf_release(&b);
    return err;
}

static int compile_regex(struct parser *p, size_t at, struct matcher *m)
{
    int ec;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL | PCRE2_UTF |
                    PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)m->value, strlen(m->value), opts, &ec, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", ec);
        return fail(p, at, "invalid regex for %s: %s (at offset %zu of the regex)", m->name,
                    (const char *)msg, (size_t)eoff);
    }
    /* JIT is an optimisation: if unavailable, pcre2_match() interprets. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    m->re = re;
    return 0;
}

static void matcher_release(struct matcher *m)
{
    free(m->name);
    free(m->value);
    pcre2_code_free(m->re);
    memset(m, 0, sizeof(*m));
}

static int parse_matcher(struct parser *p, struct matcher *m)
{
    size_t start = p->pos;
    int err;
    while (p->pos < p->len && is_name_char(p->s[p->pos], p->pos == start))
        p->pos++;
    if (p->pos == start || !label_name_valid(p->s + start, p->pos - start))
        return fail(p, start, "label name must match [a-zA-Z_][a-zA-Z0-9_]* (at most 1024 bytes)");
    m->name = xstrndup(p->s + start, p->pos - start);
    skip_ws(p);
    size_t op_at = p->pos;
    const char *o = p->s + p->pos;
    size_t left = p->len - p->pos;
    if (left >= 2 && o[0] == '=' && o[1] == '~') {
        m->op = MATCH_RE;
        p->pos += 2;
    } else if (left >= 2 && o[0] == '!' && o[1] == '~') {
        m->op = MATCH_NRE;
        p->pos += 2;
    } else if (left >= 2 && o[0] == '!' && o[1] == '=') {
        m->op = MATCH_NE;
        p->pos += 2;
    } else if (left >= 1 && o[0] == '=') {
        m->op = MATCH_EQ;
        p->pos += 1;
    } else {
        return fail(p, op_at, "expected '=', '!=', '=~' or '!~' after label name %s", m->name);
    }
    skip_ws(p);
    size_t val_at = p->pos;
    err = parse_string(p, &m->value);
    if (err)
        return err;
    if (m->op == MATCH_RE || m->op == MATCH_NRE)
        return compile_regex(p, val_at, m);
    return 0;
}

static int parse_matchers(struct parser *p, struct selector *sel)
{
    size_t cap = 0;
    int err;
    p->pos++; /* '{' */
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->pos, "expected '}' before end of input");
        if (p->s[p->pos] == '}') {
            p->pos++;
            return 0;
        }
        if (sel->n >= SEL_MAX_MATCHERS)
            return fail(p, p->pos, "too many matchers (limit %d)", SEL_MAX_MATCHERS);
        sel->m = xgrow(sel->m, sizeof(*sel->m), sel->n + 1, &cap);
        struct matcher *m = &sel->m[sel->n++];
        memset(m, 0, sizeof(*m));
        err = parse_matcher(p, m);
        if (err)
            return err;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->pos, "expected ',' or '}' before end of input");
        if (p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->s[p->pos] != '}')
            return fail(p, p->pos, "expected ',' or '}' after matcher");
    }
}

static void add_type_matcher(struct selector *sel, const char *ptype)
{
    sel->m = xrealloc(sel->m, (sel->n + 1) * sizeof(*sel->m));
    memmove(sel->m + 1, sel->m, sel->n * sizeof(*sel->m));
    sel->m[0] = (struct matcher){
        .name = xstrdup(LABEL_PROFILE_TYPE), .value = xstrdup(ptype), .op = MATCH_EQ};
    sel->n++;
}

int selector_parse(struct selector *sel, const char *s, char *err, size_t errlen)
{
    struct parser p = {.s = s ? s : "", .len = s ? strlen(s) : 0, .err = err, .errlen = errlen};
    char *ptype = NULL;
    int rc;
    memset(sel, 0, sizeof(*sel));
    if (err && errlen)
        err[0] = '\0';
    skip_ws(&p);
    if (p.pos < p.len && p.s[p.pos] != '{') {
        rc = parse_ptype(&p, &ptype);
        if (rc)
            goto out;
        skip_ws(&p);
    }
    if (p.pos < p.len && p.s[p.pos] == '{') {
        rc = parse_matchers(&p, sel);
        if (rc)
            goto out;
        skip_ws(&p);
    }
    if (p.pos < p.len) {
        rc = fail(&p, p.pos, "unexpected text after selector");
        goto out;
    }
    if (ptype) {
        add_type_matcher(sel, ptype);
        sel->profile_type = ptype;
        ptype = NULL;
    } else {
        const char *t = selector_eq_value(sel, LABEL_PROFILE_TYPE);
        if (t)
            sel->profile_type = xstrdup(t);
    }
    rc = 0;
out:
    free(ptype);
    if (rc)
        selector_release(sel);
    return rc;
}

void selector_release(struct selector *sel)
{
    for (size_t i = 0; i < sel->n; i++)
        matcher_release(&sel->m[i]);
    free(sel->m);
    free(sel->profile_type);
    memset(sel, 0, sizeof(*sel));
}

/* One match context for every thread: pcre2_match() only reads it. */
static pcre2_match_context *match_ctx;
static pthread_once_t match_ctx_once = PTHREAD_ONCE_INIT;

static void match_ctx_init(void)
{
    match_ctx = pcre2_match_context_create(NULL);
    if (match_ctx)
        pcre2_set_match_limit(match_ctx, SEL_MATCH_LIMIT);
}

static bool regex_matches(const struct matcher *m, const char *v)
{
    pthread_once(&match_ctx_once, match_ctx_init);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md || !match_ctx) {
        /* Same policy as xalloc: OOM aborts the process. */
        log_error("out of memory matching regex for %s", m->name);
        abort();
    }
    int rc = pcre2_match(m->re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, match_ctx);
    pcre2_match_data_free(md);
    /* Errors (match limit, ...) count as "no match". */
    return rc >= 0;
}

bool matcher_matches(const struct matcher *m, const char *v)
{
    if (!v)
        v = "";
    switch (m->op) {
    case MATCH_EQ:
        return strcmp(v, m->value) == 0;
    case MATCH_NE:
        return strcmp(v, m->value) != 0;
    case MATCH_RE:
        return regex_matches(m, v);
    case MATCH_NRE:
        return !regex_matches(m, v);
    }
    return false;
}

bool selector_matches(const struct selector *sel, const struct labels *l)
{
    for (size_t i = 0; i < sel->n; i++) {
        if (!matcher_matches(&sel->m[i], labels_get(l, sel->m[i].name)))
            return false;
    }
    return true;
}

const char *selector_eq_value(const struct selector *sel, const char *name)
{
    for (size_t i = 0; i < sel->n; i++) {
        if (sel->m[i].op == MATCH_EQ && strcmp(sel->m[i].name, name) == 0)
            return sel->m[i].value;
    }
    return NULL;
}

void selector_format(const struct selector *sel, struct buf *out)
{
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    buf_putc(out, '{');
    for (size_t i = 0; i < sel->n; i++) {
        const struct matcher *m = &sel->m[i];
        if (i)
            buf_putc(out, ',');
        buf_puts(out, m->name);
        buf_puts(out, ops[m->op]);
        buf_putc(out, '"');
        for (const char *c = m->value; *c; c++) {
            if (*c == '"' || *c == '\\')
                buf_putc(out, '\\');
            if (*c == '\n') {
                buf_puts(out, "\\n");
                continue;
            }
            buf_putc(out, *c);
        }
        buf_putc(out, '"');
    }
    buf_putc(out, '}');
}
