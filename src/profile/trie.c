/* trie.c - Pyroscope's binary stack formats: transport trie and tree (parsers and writers) */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "textfmt.h"
#include "textfmt_int.h"

/*
 * Both formats are pre-order node lists, each node
 *   uvarint(len(name)) name uvarint(value) uvarint(childCount)
 * with Go's binary.PutUvarint (LEB128, at most 10 bytes). The parsers keep
 * an explicit stack of open nodes (children still to come), never recurse,
 * and read only inside data[0..n).
 */

struct reader {
    const unsigned char *p;
    size_t n, pos;
    size_t last; /* where the last varint started */
};

/* Reads a uvarint at r->pos. Returns 0, -EMBER_ETRUNC at the end of data, -EMBER_EINVAL_INPUT
 * when it overflows 64 bits. */
static int read_uvarint(struct reader *r, uint64_t *v)
{
    uint64_t x = 0;
    r->last = r->pos;
    for (unsigned shift = 0, i = 0;; shift += 7, i++) {
        if (r->pos >= r->n)
            return -EMBER_ETRUNC;
        unsigned char b = r->p[r->pos++];
        if (i == 9 && b > 1)
            return -EMBER_EINVAL_INPUT;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80)
            break;
    }
    *v = x;
    return 0;
}

static void put_uvarint(struct buf *b, uint64_t v)
{
    char tmp[10];
    size_t i = 0;
    while (v >= 0x80) {
        tmp[i++] = (char)(v | 0x80);
        v >>= 7;
    }
    tmp[i++] = (char)v;
    buf_append(b, tmp, i);
}

/* One node as read: name = r->p[name_off .. name_off + name_len). */
struct node {
    size_t at; /* byte offset of the node */
    size_t name_off, name_len;
    uint64_t value, children;
};

static int read_node(struct tf_ctx *c, struct reader *r, const char *what, struct node *nd)
{
    uint64_t len;
    int rc;
    nd->at = r->pos;
    rc = read_uvarint(r, &len);
    if (rc)
        goto bad;
    if (len > r->n - r->pos) {
        return tf_error(c, -EMBER_ETRUNC,
                        "at byte %zu: truncated %s node: name of %llu bytes, %zu left", nd->at,
                        what, (unsigned long long)len, r->n - r->pos);
    }
    nd->name_off = r->pos;
    nd->name_len = (size_t)len;
    r->pos += (size_t)len;
    rc = read_uvarint(r, &nd->value);
    if (rc)
        goto bad;
    rc = read_uvarint(r, &nd->children);
    if (rc)
        goto bad;
    if (nd->value > INT64_MAX)
        return tf_error(c, -EMBER_EINVAL_INPUT, "at byte %zu: %s node value %llu is too large",
                        nd->at, what, (unsigned long long)nd->value);
    if (memchr(r->p + nd->name_off, '\0', nd->name_len))
        return tf_error(c, -EMBER_EINVAL_INPUT, "at byte %zu: NUL byte in %s node name", nd->at,
                        what);
    return 0;
bad:
    if (rc == -EMBER_ETRUNC)
        return tf_error(c, rc, "at byte %zu: truncated %s node (input ends at byte %zu)", nd->at,
                        what, r->n);
    return tf_error(c, rc, "at byte %zu: varint overflows 64 bits in %s node", r->last, what);
}

/* An open node: children still to read, and what its children continue from. */
struct open_node {
    uint64_t left;
    size_t keylen; /* trie: key length at this node */
    uint32_t node; /* tree: stack node of this node */
    size_t depth;  /* tree: frames on the path */
};

/* ---- transport trie ---- */

/*
 * The key grows and shrinks as the walk goes down and up. Splitting a full
 * key into frames at every valued node would cost O(key) each time, and
 * O(n^2) on a chain of valued nodes, so the frames of the current key are
 * resolved incrementally: bounds[] holds, for each complete frame (followed
 * by ';') the offset after the ';' and the stack node so far; scanned is how
 * far the key is known to hold no further ';'. Only the last, open frame is
 * interned anew at each valued node (at most max_symbol_len bytes hashed).
 */
struct bound {
    size_t off;
    uint32_t node;
};

struct trie_state {
    VEC(char) key;
    VEC(struct bound) bounds;
    size_t scanned;
    size_t work, budget; /* name bytes interned so far, and the cap */
};

/*
 * A malformed trie can make the same long key prefix be resolved again and
 * again (a 60 KB fragment with 200k children ";x" costs 12 GB of hashing
 * from 1 MB of input). Legitimate tries intern a few times their size, so
 * the bytes of frame names interned are capped at TEXTFMT_TRIE_WORK times
 * the input plus 64 MiB.
 */
static uint32_t trie_frame(struct tf_ctx *c, struct trie_state *t, const char *s, size_t n)
{
    t->work += tf_clip(c, s, n);
    return tf_name_frame(c, s, n);
}

static int trie_over_budget(struct tf_ctx *c, const struct trie_state *t, size_t at)
{
    return tf_error(c, -EMBER_ETOOBIG,
                    "at byte %zu: trie keys need more than %zu bytes of frame names "
                    "(%d times the input plus 64 MiB)",
                    at, t->budget, TEXTFMT_TRIE_WORK);
}

static void trie_cut(struct trie_state *t, size_t keylen)
{
    t->key.len = keylen;
    while (t->bounds.len && t->bounds.data[t->bounds.len - 1].off > keylen)
        t->bounds.len--;
    if (t->scanned > keylen)
        t->scanned = keylen;
}

static int trie_empty_frame(struct tf_ctx *c, const struct trie_state *t, size_t at)
{
    char q[64];
    if (!t->key.len)
        return tf_error(c, -EMBER_EINVAL_INPUT, "at byte %zu: valued trie node with an empty key",
                        at);
    return tf_error(c, -EMBER_EINVAL_INPUT, "at byte %zu: empty frame in trie key '%s'", at,
                    tf_quote(q, sizeof(q), t->key.data, t->key.len));
}

/* Resolves the current key into a stack id. */
static int trie_stack(struct tf_ctx *c, struct trie_state *t, size_t at, uint32_t *stack)
{
    size_t nb = t->bounds.len;
    size_t start = nb ? t->bounds.data[nb - 1].off : 0;
    uint32_t node = nb ? t->bounds.data[nb - 1].node : 0;
    const char *k = t->key.data;
    size_t len = t->key.len;

    if (nb >= c->max_depth) {
        *stack = node;
        return 0;
    }
    size_t from = t->scanned > start ? t->scanned : start;
    while (from < len) {
        const char *semi = memchr(k + from, ';', len - from);
        if (!semi)
            break;
        size_t p = (size_t)(semi - k);
        if (p == start)
            return trie_empty_frame(c, t, at);
        node = symtab_child(c->sym, node, trie_frame(c, t, k + start, p - start));
        struct bound b = {p + 1, node};
        VEC_PUSH(t->bounds, b);
        start = from = p + 1;
        if (t->bounds.len >= c->max_depth) {
            t->scanned = start;
            *stack = node;
            return t->work > t->budget ? trie_over_budget(c, t, at) : 0;
        }
    }
    t->scanned = len;
    if (start == len)
        return trie_empty_frame(c, t, at);
    *stack = symtab_child(c->sym, node, trie_frame(c, t, k + start, len - start));
    return t->work > t->budget ? trie_over_budget(c, t, at) : 0;
}

int trie_parse(const void *data, size_t n, struct symtab *sym, struct profile *prof,
               const struct ingest_limits *lim, char *err, size_t errlen)
{
    struct tf_ctx c;
    struct reader r = {data, n, 0, 0};
    struct trie_state t;
    VEC(struct open_node) open = {NULL, 0, 0};
    int rc = 0;

    tf_init(&c, sym, prof, lim, err, errlen);
    memset(&t, 0, sizeof(t));
    t.budget = n > (SIZE_MAX - (64u << 20)) / TEXTFMT_TRIE_WORK
                   ? SIZE_MAX
                   : n * TEXTFMT_TRIE_WORK + (64u << 20);
    while (r.pos < r.n) {
        struct node nd;
        rc = read_node(&c, &r, "trie", &nd);
        if (rc)
            goto out;
        if (t.key.len + nd.name_len > TEXTFMT_MAX_KEY) {
            rc = tf_error(&c, -EMBER_ETOOBIG, "at byte %zu: trie key longer than %u bytes", nd.at,
                          TEXTFMT_MAX_KEY);
            goto out;
        }
        if (nd.name_len) {
            VEC_RESERVE(t.key, nd.name_len);
            memcpy(t.key.data + t.key.len, r.p + nd.name_off, nd.name_len);
            t.key.len += nd.name_len;
        }
        if (nd.value) {
            uint32_t stack = 0;
            rc = trie_stack(&c, &t, nd.at, &stack);
            if (rc)
                goto out;
            rc = tf_add(&c, stack, (int64_t)nd.value);
            if (rc) {
                rc = tf_error(&c, rc, "at byte %zu: %s", nd.at, tf_add_strerror(&c, rc));
                goto out;
            }
        }
        if (nd.children) {
            if (open.len >= TEXTFMT_MAX_NESTING) {
                rc = tf_error(&c, -EMBER_ETOOBIG, "at byte %zu: trie nested deeper than %d", nd.at,
                              TEXTFMT_MAX_NESTING);
                goto out;
            }
            struct open_node o = {nd.children, t.key.len, 0, 0};
            VEC_PUSH(open, o);
            continue;
        }
        /* A leaf: close every ancestor whose last child this was. */
        while (open.len && !--open.data[open.len - 1].left)
            open.len--;
        trie_cut(&t, open.len ? open.data[open.len - 1].keylen : 0);
    }
    if (open.len)
        rc = tf_error(&c, -EMBER_ETRUNC,
                      "at byte %zu: truncated trie: input ends with %zu nodes still open", r.n,
                      open.len);
out:
    free(open.data);
    free(t.key.data);
    free(t.bounds.data);
    tf_release(&c);
    return rc;
}

/* ---- tree ---- */

int tree_parse(const void *data, size_t n, struct symtab *sym, struct profile *prof,
               const struct ingest_limits *lim, char *err, size_t errlen)
{
    struct tf_ctx c;
    struct reader r = {data, n, 0, 0};
    VEC(struct open_node) open = {NULL, 0, 0};
    int rc = 0;

    tf_init(&c, sym, prof, lim, err, errlen);
    while (r.pos < r.n) {
        struct node nd;
        uint32_t node = 0;
        size_t depth = 0;
        rc = read_node(&c, &r, "tree", &nd);
        if (rc)
            goto out;
        if (!open.len) {
            /* a root: not a frame, and its own value (the empty stack) has nowhere to go */
            if (nd.name_len) {
                rc = tf_error(&c, -EMBER_EINVAL_INPUT,
                              "at byte %zu: tree root has a name (%zu bytes); it must be empty",
                              nd.at, nd.name_len);
                goto out;
            }
        } else {
            const struct open_node *parent = &open.data[open.len - 1];
            if (!nd.name_len) {
                rc = tf_error(&c, -EMBER_EINVAL_INPUT, "at byte %zu: tree node with an empty name",
                              nd.at);
                goto out;
            }
            depth = parent->depth + 1;
            node = parent->node;
            if (depth <= c.max_depth)
                node = symtab_child(
                    c.sym, node, tf_name_frame(&c, (const char *)r.p + nd.name_off, nd.name_len));
            if (nd.value) {
                rc = tf_add(&c, node, (int64_t)nd.value);
                if (rc) {
                    rc = tf_error(&c, rc, "at byte %zu: %s", nd.at, tf_add_strerror(&c, rc));
                    goto out;
                }
            }
        }
        if (nd.children) {
            if (open.len >= TEXTFMT_MAX_NESTING) {
                rc = tf_error(&c, -EMBER_ETOOBIG, "at byte %zu: tree nested deeper than %d", nd.at,
                              TEXTFMT_MAX_NESTING);
                goto out;
            }
            struct open_node o = {nd.children, 0, node, depth};
            VEC_PUSH(open, o);
            continue;
        }
        while (open.len && !--open.data[open.len - 1].left)
            open.len--;
    }
    if (open.len)
        rc = tf_error(&c, -EMBER_ETRUNC,
                      "at byte %zu: truncated tree: input ends with %zu nodes still open", r.n,
                      open.len);
out:
    free(open.data);
    tf_release(&c);
    return rc;
}

/* ---- writers ---- */

/* A node to write: items [lo, hi) share its path; depth = its path length (frames or bytes). */
struct task {
    size_t lo, hi, depth, fraglen;
};

static void put_node(struct buf *out, const char *name, size_t len, uint64_t value,
                     uint64_t children)
{
    put_uvarint(out, len);
    buf_append(out, name, len);
    put_uvarint(out, value);
    put_uvarint(out, children);
}

void tree_write(const struct symtab *sym, const struct profile *prof, struct buf *out)
{
    struct tf_stacks st;
    VEC(struct task) todo = {NULL, 0, 0};
    VEC(struct task) kids = {NULL, 0, 0};

    tf_collect(sym, prof, &st);
    /* keep positive values only (sorted order is kept) */
    size_t w = 0;
    for (size_t i = 0; i < st.v.len; i++)
        if (st.v.data[i].value > 0 && st.v.data[i].n)
            st.v.data[w++] = st.v.data[i];
    st.v.len = w;

    struct task root = {0, st.v.len, 0, 0};
    VEC_PUSH(todo, root);
    while (todo.len) {
        struct task tk = todo.data[--todo.len];
        const struct tf_stack *it = st.v.data;
        size_t i = tk.lo;
        uint64_t self = 0;
        /* equal name sequences are merged, and the shortest sorts first */
        if (i < tk.hi && it[i].n == tk.depth)
            self = (uint64_t)it[i++].value;
        kids.len = 0;
        while (i < tk.hi) {
            size_t j = i + 1;
            while (j < tk.hi && !strcmp(it[j].names[tk.depth], it[i].names[tk.depth]))
                j++;
            struct task k = {i, j, tk.depth + 1, 0};
            VEC_PUSH(kids, k);
            i = j;
        }
        const char *name = tk.depth ? it[tk.lo].names[tk.depth - 1] : "";
        put_node(out, name, strlen(name), self, kids.len);
        VEC_RESERVE(todo, kids.len);
        for (size_t k = kids.len; k-- > 0;)
            todo.data[todo.len++] = kids.data[k];
    }
    free(todo.data);
    free(kids.data);
    tf_stacks_release(&st);
}

void trie_write(const struct symtab *sym, const struct profile *prof, struct buf *out)
{
    struct tf_keys all;
    VEC(struct tf_key) keys = {NULL, 0, 0};
    VEC(struct task) todo = {NULL, 0, 0};
    VEC(struct task) kids = {NULL, 0, 0};

    tf_keys_collect(sym, prof, 0, &all);
    for (size_t i = 0; i < all.v.len; i++)
        if (all.v.data[i].value > 0)
            VEC_PUSH(keys, all.v.data[i]);

    struct task root = {0, keys.len, 0, 0};
    VEC_PUSH(todo, root);
    while (todo.len) {
        struct task tk = todo.data[--todo.len];
        const struct tf_key *ky = keys.data;
        size_t i = tk.lo;
        uint64_t value = 0;
        if (i < tk.hi && ky[i].len == tk.depth)
            value = (uint64_t)ky[i++].value;
        kids.len = 0;
        while (i < tk.hi) {
            size_t j = i + 1;
            while (j < tk.hi && ky[j].s[tk.depth] == ky[i].s[tk.depth])
                j++;
            /* sorted: the common prefix of the group is that of its first and last keys */
            size_t l = tk.depth + 1, m = ky[i].len < ky[j - 1].len ? ky[i].len : ky[j - 1].len;
            while (l < m && ky[i].s[l] == ky[j - 1].s[l])
                l++;
            struct task k = {i, j, l, l - tk.depth};
            VEC_PUSH(kids, k);
            i = j;
        }
        const char *frag = tk.depth ? ky[tk.lo].s + tk.depth - tk.fraglen : "";
        put_node(out, frag, tk.fraglen, value, kids.len);
        VEC_RESERVE(todo, kids.len);
        for (size_t k = kids.len; k-- > 0;)
            todo.data[todo.len++] = kids.data[k];
    }
    free(todo.data);
    free(kids.data);
    free(keys.data);
    tf_keys_release(&all);
}
