/* perfscript.c - parser of `perf script` text (Linux perf), with and without -g call chains */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "textfmt.h"
#include "textfmt_int.h"

/*
 * What perf script prints (tools/perf/builtin-script.c), by default:
 *
 *   with -g:     "work load 11041 [001]   731.041290:    1001001 cpu-clock: \n"
 *                "\t            1267 work60+0x37 (/tmp/ember-perf/workload)\n"
 *                ...                                   (leaf first)
 *                "\n"
 *   without -g:  "       work load 11045   732.357324:    1001001 cpu-clock:      555fee672267 "
 *                "work60+0x37 (/tmp/ember-perf/workload)\n"
 *
 * The comm may hold spaces and is padded; "[cpu]" appears with -a or per-cpu
 * recording; the pid may be "pid/tid"; the period and the event name come
 * and go with -F. The anchor is the time stamp token "<digits>.<digits>:":
 * what precedes it is comm, pid and cpu (read from the right), what follows
 * is period, event and, without -g, the sampled frame. The time stamp is
 * required (perf prints it unless -F drops it): without it a header cannot
 * be told from a frame line whose address is all digits.
 * Frame lines start with a tab (or blanks, inside an event).
 */

struct span {
    size_t s, e; /* [s, e) within the line */
};

static int is_sp(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The token starting at or after from; returns 0 when there is none. */
static int next_tok(const char *l, size_t len, size_t from, struct span *t)
{
    while (from < len && is_sp(l[from]))
        from++;
    if (from >= len)
        return 0;
    t->s = from;
    while (from < len && !is_sp(l[from]))
        from++;
    t->e = from;
    return 1;
}

/* The token ending at or before before; returns 0 when there is none. */
static int prev_tok(const char *l, size_t before, struct span *t)
{
    while (before > 0 && is_sp(l[before - 1]))
        before--;
    if (!before)
        return 0;
    t->e = before;
    while (before > 0 && !is_sp(l[before - 1]))
        before--;
    t->s = before;
    return 1;
}

static int all(const char *l, struct span t, int (*pred)(char))
{
    if (t.s >= t.e)
        return 0;
    for (size_t i = t.s; i < t.e; i++)
        if (!pred(l[i]))
            return 0;
    return 1;
}

/* "12.345678:" */
static int is_time(const char *l, struct span t)
{
    size_t i = t.s, d0;
    if (t.e - t.s < 4 || l[t.e - 1] != ':')
        return 0;
    for (d0 = i; i < t.e && is_digit(l[i]); i++)
        ;
    if (i == d0 || i >= t.e || l[i] != '.')
        return 0;
    for (d0 = ++i; i < t.e - 1 && is_digit(l[i]); i++)
        ;
    return i > d0 && i == t.e - 1;
}

/* "123" or "123/456" */
static int is_pid(const char *l, struct span t)
{
    size_t i = t.s, d0;
    for (d0 = i; i < t.e && is_digit(l[i]); i++)
        ;
    if (i == d0)
        return 0;
    if (i == t.e)
        return 1;
    if (l[i] != '/')
        return 0;
    for (d0 = ++i; i < t.e && is_digit(l[i]); i++)
        ;
    return i > d0 && i == t.e;
}

/* "[001]" */
static int is_cpu(const char *l, struct span t)
{
    if (t.e - t.s < 3 || l[t.s] != '[' || l[t.e - 1] != ']')
        return 0;
    struct span in = {t.s + 1, t.e - 1};
    return all(l, in, is_digit);
}

struct header {
    struct span comm; /* empty when absent */
    int has_period;
    uint64_t period;
    int period_overflow;
    size_t rest; /* where the sampled frame (no -g) or the event payload starts */
};

/* Parses an event header: comm, pid and cpu left of the time stamp; period, event, rest right. */
static int parse_header(const char *l, size_t len, struct header *h)
{
    struct span t, time, pid = {0, 0}, x;
    size_t from = 0;

    memset(h, 0, sizeof(*h));
    for (;;) {
        if (!next_tok(l, len, from, &t))
            return 0; /* no time stamp */
        if (is_time(l, t))
            break;
        from = t.e;
    }
    time = t;
    size_t left = time.s;
    if (prev_tok(l, left, &x) && is_cpu(l, x))
        left = x.s;
    if (prev_tok(l, left, &x) && is_pid(l, x)) {
        pid = x;
        left = x.s;
    }
    struct span first;
    if (next_tok(l, left, 0, &first)) {
        h->comm.s = first.s;
        prev_tok(l, left, &x);
        h->comm.e = x.e;
    } else if (pid.e == 0) {
        return 0; /* nothing before the time stamp */
    }
    from = time.e;
    /* period: digits before the event name, the end, or an address */
    if (next_tok(l, len, from, &t) && all(l, t, is_digit)) {
        struct span nx;
        int more = next_tok(l, len, t.e, &nx);
        if (!more || l[nx.e - 1] == ':' || all(l, nx, is_hex)) {
            h->has_period = 1;
            for (size_t i = t.s; i < t.e; i++) {
                unsigned d = (unsigned)(l[i] - '0');
                if (h->period > ((uint64_t)INT64_MAX - d) / 10) {
                    h->period_overflow = 1;
                    break;
                }
                h->period = h->period * 10 + d;
            }
            from = t.e;
        }
    }
    /* event name: "cpu-clock:", "cpu-clock:ppp:", "sched:sched_switch:" */
    if (next_tok(l, len, from, &t) && l[t.e - 1] == ':' && !all(l, t, is_hex))
        from = t.e;
    while (from < len && is_sp(l[from]))
        from++;
    h->rest = from;
    return 1;
}

int perfscript_is_header(const char *line, size_t len)
{
    struct header h;
    struct span t;
    size_t from = 0;
    /* detection wants the time stamp: a folded line could pass the pid-only form */
    while (next_tok(line, len, from, &t)) {
        if (is_time(line, t))
            return t.s > 0 && parse_header(line, len, &h);
        from = t.e;
    }
    return 0;
}

struct perf_state {
    struct tf_ctx c;
    unsigned flags;
    struct hmap frames;         /* (name id << 32 | module id) -> frame id */
    VEC(uint32_t) leaf_first;   /* frames of the current event */
    int in_event, inline_frame; /* inline_frame: the header carried the (only) frame */
    struct span comm;
    const char *comm_line;
    int has_period;
    uint64_t period;
    uint64_t period_sum, period_n;
    struct buf name;
};

static uint32_t intern_frame(struct perf_state *ps, const char *name, size_t nlen, const char *mod,
                             size_t mlen)
{
    struct tf_ctx *c = &ps->c;
    uint32_t nid = strtab_intern(&c->sym->strings, name, tf_clip(c, name, nlen));
    uint32_t mid = mlen ? strtab_intern(&c->sym->strings, mod, tf_clip(c, mod, mlen)) : 0;
    int created;
    uint64_t *slot = hmap_put(&ps->frames, (uint64_t)nid << 32 | mid, &created);
    if (created) {
        struct frame f;
        memset(&f, 0, sizeof(f));
        f.name = nid;
        f.module = mid;
        *slot = symtab_frame(c->sym, &f);
    }
    return (uint32_t)*slot;
}

/* Parses the frame "addr sym+0x1f (dso)" in l[from, len) and pushes it. */
static void parse_frame(struct perf_state *ps, const char *l, size_t len, size_t from)
{
    struct span addr = {0, 0}, t, sym, dso = {0, 0};
    if (next_tok(l, len, from, &t) && all(l, t, is_hex)) {
        addr = t;
        from = t.e;
    }
    while (from < len && is_sp(l[from]))
        from++;
    sym.s = from;
    sym.e = len;
    /* the dso is the last "(...)" group, after a blank */
    if (len > from && l[len - 1] == ')') {
        for (size_t i = len - 1; i-- > from;) {
            if (l[i] == '(' && (i == from || is_sp(l[i - 1]))) {
                dso.s = i + 1;
                dso.e = len - 1;
                sym.e = i;
                break;
            }
        }
    }
    while (sym.e > sym.s && is_sp(l[sym.e - 1]))
        sym.e--;
    /* drop "+0x1f" */
    size_t i = sym.e;
    while (i > sym.s && is_hex(l[i - 1]))
        i--;
    if (i < sym.e && i - sym.s >= 3 && l[i - 1] == 'x' && l[i - 2] == '0' && l[i - 3] == '+')
        sym.e = i - 3;

    int dso_known = dso.e > dso.s && !(dso.e - dso.s == 9 && !memcmp(l + dso.s, "[unknown]", 9));
    const char *mod = dso_known ? l + dso.s : NULL;
    size_t mlen = dso_known ? dso.e - dso.s : 0;
    const char *name = l + sym.s;
    size_t nlen = sym.e - sym.s;
    if (!nlen || (nlen == 9 && !memcmp(name, "[unknown]", 9))) {
        buf_reset(&ps->name);
        if (dso_known) {
            const char *base = mod + mlen;
            while (base > mod && base[-1] != '/')
                base--;
            buf_puts(&ps->name, "[unknown] (");
            buf_append(&ps->name, base, (size_t)(mod + mlen - base));
            buf_putc(&ps->name, ')');
        } else if (addr.e > addr.s) {
            size_t a = addr.s;
            while (a + 1 < addr.e && l[a] == '0')
                a++;
            buf_puts(&ps->name, "0x");
            buf_append(&ps->name, l + a, addr.e - a);
        } else {
            buf_puts(&ps->name, "[unknown]");
        }
        name = ps->name.data;
        nlen = ps->name.len;
    }
    VEC_PUSH(ps->leaf_first, intern_frame(ps, name, nlen, mod, mlen));
}

/* Adds the current event's stack. */
static int finish_event(struct perf_state *ps, size_t lineno)
{
    struct tf_ctx *c = &ps->c;
    int rc = 0;
    if (!ps->in_event)
        return 0;
    ps->in_event = 0;
    int64_t value = 1;
    if (ps->has_period) {
        if (__builtin_add_overflow(ps->period_sum, ps->period, &ps->period_sum))
            ps->period_sum = UINT64_MAX;
        ps->period_n++;
        if (ps->flags & PERFSCRIPT_USE_PERIOD)
            value = (int64_t)ps->period;
    }
    if (!ps->leaf_first.len)
        VEC_PUSH(ps->leaf_first, intern_frame(ps, "[unknown]", 9, NULL, 0));
    uint32_t node = 0;
    size_t room = c->max_depth;
    if ((ps->flags & PERFSCRIPT_COMM_ROOT) && ps->comm.e > ps->comm.s) {
        node = symtab_child(
            c->sym, node,
            intern_frame(ps, ps->comm_line + ps->comm.s, ps->comm.e - ps->comm.s, NULL, 0));
        room--;
    }
    size_t nf = ps->leaf_first.len, keep = nf < room ? nf : room;
    for (size_t i = nf; i-- > nf - keep;)
        node = symtab_child(c->sym, node, ps->leaf_first.data[i]);
    ps->leaf_first.len = 0;
    if (value) {
        rc = tf_add(c, node, value);
        if (rc)
            rc = tf_error(c, rc, "line %zu: %s", lineno, tf_add_strerror(c, rc));
    }
    return rc;
}

int perfscript_parse_flags(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                           const struct ingest_limits *lim, unsigned flags, char *err,
                           size_t errlen)
{
    struct perf_state ps;
    const char *p = data, *end = data + n;
    size_t lineno = 0, event_line = 0;
    int rc = 0;

    memset(&ps, 0, sizeof(ps));
    tf_init(&ps.c, sym, prof, lim, err, errlen);
    ps.flags = flags;
    hmap_init(&ps.frames);
    buf_init(&ps.name);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *l = p;
        size_t len = (size_t)((nl ? nl : end) - l);
        p = nl ? nl + 1 : end;
        lineno++;
        while (len && (is_sp(l[len - 1]) || l[len - 1] == '\r'))
            len--;
        size_t first = 0;
        while (first < len && is_sp(l[first]))
            first++;
        if (first == len) {
            rc = finish_event(&ps, event_line);
            if (rc)
                goto out;
            continue;
        }
        if (memchr(l, '\0', len)) {
            rc = tf_error(&ps.c, -EMBER_EINVAL_INPUT, "line %zu: NUL byte", lineno);
            goto out;
        }
        struct header h;
        if (l[0] != '\t' && parse_header(l, len, &h)) {
            rc = finish_event(&ps, event_line);
            if (rc)
                goto out;
            if (h.period_overflow) {
                rc = tf_error(&ps.c, -EMBER_EINVAL_INPUT, "line %zu: period is too large", lineno);
                goto out;
            }
            ps.in_event = 1;
            event_line = lineno;
            ps.comm = h.comm;
            ps.comm_line = l;
            ps.has_period = h.has_period;
            ps.period = h.period;
            ps.inline_frame = 0;
            if (h.rest < len) {
                struct span t;
                if (next_tok(l, len, h.rest, &t) && all(l, t, is_hex)) {
                    parse_frame(&ps, l, len, h.rest);
                    ps.inline_frame = 1;
                }
            }
            continue;
        }
        if (l[0] == '#')
            continue;
        if (is_sp(l[0]) && ps.in_event) {
            if (ps.inline_frame) {
                /* a call chain follows: it starts with the sampled frame again */
                ps.leaf_first.len = 0;
                ps.inline_frame = 0;
            }
            parse_frame(&ps, l, len, first);
            continue;
        }
        char q[48];
        if (is_sp(l[0]))
            rc = tf_error(&ps.c, -EMBER_EINVAL_INPUT,
                          "line %zu: call-chain line outside an event: '%s'", lineno,
                          tf_quote(q, sizeof(q), l + first, len - first));
        else
            rc = tf_error(&ps.c, -EMBER_EINVAL_INPUT,
                          "line %zu: not a perf script event header (comm pid [cpu] time: ...): "
                          "'%s'",
                          lineno, tf_quote(q, sizeof(q), l, len));
        goto out;
    }
    rc = finish_event(&ps, event_line);
    if (!rc && !(flags & PERFSCRIPT_USE_PERIOD) && !prof->period && ps.period_n)
        prof->period = (int64_t)((ps.period_sum + ps.period_n / 2) / ps.period_n);
out:
    buf_release(&ps.name);
    hmap_release(&ps.frames);
    free(ps.leaf_first.data);
    tf_release(&ps.c);
    return rc;
}

int perfscript_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                     const struct ingest_limits *lim, int comm_as_root, char *err, size_t errlen)
{
    return perfscript_parse_flags(data, n, sym, prof, lim, comm_as_root ? PERFSCRIPT_COMM_ROOT : 0,
                                  err, errlen);
}
