/* ctree.c - call trees by function name: building, per-function sums, sandwich, flamebearer */
#include "ctree.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "store/store.h"

/*
 * Nodes live in one array and are found through an open-addressing index
 * keyed by (parent, name) whose slots hold the key beside the id (one cache
 * line per probe), so building costs one lookup per distinct stack prefix
 * and no allocation per node. A child is always created after its parent, so
 * parent id < child id: totals are summed in one reverse pass and every
 * traversal can rely on that order.
 */

struct ctree_slot {
    uint32_t parent, name, id; /* id UINT32_MAX = empty */
};

static size_t slot_of(uint32_t parent, uint32_t name, size_t mask)
{
    return (size_t)hash_u64((uint64_t)parent << 32 | name) & mask;
}

/* Makes room for at least want nodes at a load factor of at most 1/2. */
static void index_reserve(struct ctree *t, size_t want)
{
    size_t cap = t->slots ? t->mask + 1 : 0, ncap = cap ? cap : 64;
    while (ncap < want * 2)
        ncap *= 2;
    if (ncap == cap)
        return;
    struct ctree_slot *old = t->slots;
    t->slots = xmalloc(ncap * sizeof(*t->slots));
    memset(t->slots, 0xff, ncap * sizeof(*t->slots));
    t->mask = ncap - 1;
    for (size_t i = 0; i < cap; i++) {
        if (old[i].id == UINT32_MAX)
            continue;
        size_t j = slot_of(old[i].parent, old[i].name, t->mask);
        while (t->slots[j].id != UINT32_MAX)
            j = (j + 1) & t->mask;
        t->slots[j] = old[i];
    }
    free(old);
}

void ctree_init(struct ctree *t)
{
    memset(t, 0, sizeof(*t));
    strtab_init(&t->names);
    index_reserve(t, 64);
    ctree_name(t, "", 0);
    ctree_name(t, "total", 5);
    ctree_name(t, "other", 5);
    ctree_name(t, "unknown", 7);
    struct cnode root = {.parent = UINT32_MAX, .name = CTREE_NAME_TOTAL};
    VEC_PUSH(t->nodes, root);
}

void ctree_release(struct ctree *t)
{
    strtab_release(&t->names);
    free(t->slots);
    free(t->nodes.data);
    free(t->name_file.data);
    free(t->child);
    memset(t, 0, sizeof(*t));
}

uint32_t ctree_name(struct ctree *t, const char *s, size_t n)
{
    uint32_t id = strtab_intern(&t->names, s, n);
    while (t->name_file.len <= id)
        VEC_PUSH(t->name_file, 0);
    return id;
}

uint32_t ctree_child(struct ctree *t, uint32_t parent, uint32_t name)
{
    if ((t->nodes.len + 1) * 2 > t->mask + 1)
        index_reserve(t, t->nodes.len + 1);
    size_t j = slot_of(parent, name, t->mask);
    for (;;) {
        struct ctree_slot *sl = &t->slots[j];
        if (sl->id == UINT32_MAX)
            break;
        if (sl->parent == parent && sl->name == name)
            return sl->id;
        j = (j + 1) & t->mask;
    }
    uint32_t id = (uint32_t)t->nodes.len;
    t->slots[j] = (struct ctree_slot){parent, name, id};
    struct cnode n = {.parent = parent, .name = name};
    VEC_PUSH(t->nodes, n);
    return id;
}

/* The ctree name id of frame fid of sym, cached in fname[] (UINT32_MAX = not yet). */
static uint32_t frame_name(struct ctree *t, const struct symtab *sym, uint32_t fid, uint32_t *fname)
{
    if (fname[fid] != UINT32_MAX)
        return fname[fid];
    const struct frame *f = symtab_get_frame(sym, fid);
    uint32_t id = CTREE_NAME_UNKNOWN;
    if (f->name && strtab_strlen(&sym->strings, f->name))
        id = ctree_name(t, symtab_str(sym, f->name), strtab_strlen(&sym->strings, f->name));
    if (f->file && !t->name_file.data[id] && id != CTREE_NAME_UNKNOWN) {
        uint32_t file =
            ctree_name(t, symtab_str(sym, f->file), strtab_strlen(&sym->strings, f->file));
        t->name_file.data[id] = file;
    }
    fname[fid] = id;
    return id;
}

size_t ctree_add_stackset(struct ctree *t, const struct stackset *ss, int side)
{
    const struct symtab *sym = &ss->sym;
    size_t nnodes = sym->nodes.len, nframes = sym->frames.len, skipped = 0;
    uint32_t *map = xmalloc(nnodes * sizeof(*map)); /* symtab node -> ctree node */
    uint32_t *fname = xmalloc(nframes * sizeof(*fname));
    VEC(uint32_t) path = {0};
    memset(map, 0xff, nnodes * sizeof(*map));
    memset(fname, 0xff, nframes * sizeof(*fname));
    index_reserve(t, t->nodes.len + nnodes);
    VEC_RESERVE(t->nodes, nnodes);
    map[0] = 0;
    for (size_t i = 0; i < ss->samples.len; i++) {
        uint32_t s = ss->samples.data[i].stack, cur = s;
        int bad = 0;
        if (s >= nnodes) {
            skipped++;
            continue;
        }
        path.len = 0;
        /* Climb to the nearest node already mapped; every mapped chain ends at the root. */
        while (map[cur] == UINT32_MAX) {
            const struct stack_node *sn = symtab_get_node(sym, cur);
            if (sn->parent >= nnodes || sn->frame >= nframes || path.len >= nnodes) {
                bad = 1;
                break;
            }
            VEC_PUSH(path, cur);
            cur = sn->parent;
        }
        if (bad) {
            skipped++;
            continue;
        }
        while (path.len) {
            uint32_t n = path.data[--path.len];
            const struct stack_node *sn = symtab_get_node(sym, n);
            map[n] = ctree_child(t, map[sn->parent], frame_name(t, sym, sn->frame, fname));
        }
        t->nodes.data[map[s]].self[side] += ss->samples.data[i].value;
    }
    free(path.data);
    free(fname);
    free(map);
    return skipped;
}

static int cmp_child(const void *a, const void *b, void *arg)
{
    const struct ctree *t = arg;
    return strcmp(ctree_node_name(t, *(const uint32_t *)a),
                  ctree_node_name(t, *(const uint32_t *)b));
}

void ctree_finish(struct ctree *t)
{
    size_t n = t->nodes.len;
    struct cnode *v = t->nodes.data;
    for (size_t i = 0; i < n; i++) {
        v[i].total[0] = v[i].self[0];
        v[i].total[1] = v[i].self[1];
        v[i].nchild = 0;
    }
    for (size_t i = n; i-- > 1;) {
        v[v[i].parent].total[0] += v[i].total[0];
        v[v[i].parent].total[1] += v[i].total[1];
        v[v[i].parent].nchild++;
    }
    uint32_t off = 0;
    for (size_t i = 0; i < n; i++) {
        v[i].first = off;
        off += v[i].nchild;
        v[i].nchild = 0;
    }
    free(t->child);
    t->child = xmalloc((n ? n : 1) * sizeof(*t->child));
    for (size_t i = 1; i < n; i++) {
        struct cnode *p = &v[v[i].parent];
        t->child[p->first + p->nchild++] = (uint32_t)i;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].nchild > 1)
            qsort_r(t->child + v[i].first, v[i].nchild, sizeof(uint32_t), cmp_child, t);
    }
}

/* An explicit depth-first walk: each entry is a node and the index of its next child. */
struct walk_ent {
    uint32_t node, next;
};
struct walk {
    VEC(struct walk_ent) st;
};

static void walk_push(struct walk *w, uint32_t node)
{
    struct walk_ent e = {node, 0};
    VEC_PUSH(w->st, e);
}

/* Returns the next child to visit below the top entry, or UINT32_MAX when it is done. */
static uint32_t walk_next_child(struct walk *w, const struct ctree *t)
{
    struct walk_ent *e = &w->st.data[w->st.len - 1];
    const struct cnode *n = &t->nodes.data[e->node];
    if (e->next >= n->nchild)
        return UINT32_MAX;
    return t->child[n->first + e->next++];
}

void ctree_functions(const struct ctree *t, struct cfunc **out, size_t *nout)
{
    size_t nn = t->names.len;
    struct cfunc *f = xcalloc(nn ? nn : 1, sizeof(*f));
    uint32_t *onpath = xcalloc(nn ? nn : 1, sizeof(*onpath));
    unsigned char *seen = xcalloc(nn ? nn : 1, 1);
    struct walk w = {0};
    size_t k = 0;
    walk_push(&w, 0);
    while (w.st.len) {
        uint32_t c = walk_next_child(&w, t);
        if (c == UINT32_MAX) {
            uint32_t done = w.st.data[--w.st.len].node;
            if (done)
                onpath[t->nodes.data[done].name]--;
            continue;
        }
        const struct cnode *n = &t->nodes.data[c];
        struct cfunc *e = &f[n->name];
        for (int s = 0; s < 2; s++) {
            e->self[s] += n->self[s];
            if (!onpath[n->name])
                e->total[s] += n->total[s];
        }
        seen[n->name] = 1;
        onpath[n->name]++;
        walk_push(&w, c);
    }
    for (size_t i = 0; i < nn; i++) {
        if (seen[i]) {
            f[k] = f[i];
            f[k].name = (uint32_t)i;
            k++;
        }
    }
    free(w.st.data);
    free(onpath);
    free(seen);
    *out = f;
    *nout = k;
}

/* Maps a name id of src into dst, interning it (and its file) on first use. */
static uint32_t map_name(struct ctree *dst, const struct ctree *src, uint32_t *map, uint32_t id)
{
    if (map[id] != UINT32_MAX)
        return map[id];
    uint32_t d = ctree_name(dst, strtab_get(&src->names, id), strtab_strlen(&src->names, id));
    uint32_t file = src->name_file.data[id];
    if (file && !dst->name_file.data[d]) {
        uint32_t fd =
            ctree_name(dst, strtab_get(&src->names, file), strtab_strlen(&src->names, file));
        dst->name_file.data[d] = fd;
    }
    map[id] = d;
    return d;
}

/* Adds the subtree of src node top under callees' root (top itself becomes the root). */
static void merge_subtree(struct ctree *callees, const struct ctree *src, uint32_t top,
                          uint32_t *map, struct walk *w, uint32_t **dstmap, size_t *dstcap)
{
    /* dst node of each walk entry, kept in step with w->st */
    size_t base = w->st.len;
    if (*dstcap < 1)
        *dstmap = xgrow(*dstmap, sizeof(**dstmap), 1, dstcap);
    for (int s = 0; s < 2; s++)
        callees->nodes.data[0].self[s] += src->nodes.data[top].self[s];
    walk_push(w, top);
    (*dstmap)[0] = 0;
    while (w->st.len > base) {
        uint32_t c = walk_next_child(w, src);
        if (c == UINT32_MAX) {
            w->st.len--;
            continue;
        }
        size_t depth = w->st.len - base;
        const struct cnode *n = &src->nodes.data[c];
        uint32_t d =
            ctree_child(callees, (*dstmap)[depth - 1], map_name(callees, src, map, n->name));
        for (int s = 0; s < 2; s++)
            callees->nodes.data[d].self[s] += n->self[s];
        if (*dstcap < depth + 1)
            *dstmap = xgrow(*dstmap, sizeof(**dstmap), depth + 1, dstcap);
        (*dstmap)[depth] = d;
        walk_push(w, c);
    }
}

void ctree_sandwich(const struct ctree *src, uint32_t fn, struct ctree *callers,
                    struct ctree *callees)
{
    size_t nn = src->names.len;
    uint32_t *map_er = xmalloc(nn * sizeof(*map_er)), *map_ee = xmalloc(nn * sizeof(*map_ee));
    uint32_t *dstmap = NULL;
    size_t dstcap = 0;
    struct walk w = {0}, sub = {0};
    memset(map_er, 0xff, nn * sizeof(*map_er));
    memset(map_ee, 0xff, nn * sizeof(*map_ee));
    ctree_init(callers);
    ctree_init(callees);
    callers->nodes.data[0].name = map_name(callers, src, map_er, fn);
    callees->nodes.data[0].name = map_name(callees, src, map_ee, fn);
    walk_push(&w, 0);
    while (w.st.len) {
        uint32_t c = walk_next_child(&w, src);
        if (c == UINT32_MAX) {
            w.st.len--;
            continue;
        }
        const struct cnode *n = &src->nodes.data[c];
        if (n->name != fn) {
            walk_push(&w, c);
            continue;
        }
        /* A topmost occurrence: nothing below it is topmost, so do not descend. */
        merge_subtree(callees, src, c, map_ee, &sub, &dstmap, &dstcap);
        uint32_t d = 0;
        for (uint32_t p = n->parent; p != 0; p = src->nodes.data[p].parent)
            d = ctree_child(callers, d, map_name(callers, src, map_er, src->nodes.data[p].name));
        for (int s = 0; s < 2; s++)
            callers->nodes.data[d].self[s] += n->total[s];
    }
    ctree_finish(callers);
    ctree_finish(callees);
    free(w.st.data);
    free(sub.st.data);
    free(dstmap);
    free(map_er);
    free(map_ee);
}

/* The k-th largest (k >= 1) of a[0..n), reordering a (3-way quickselect). */
static double kth_largest(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n, idx = k - 1;
    while (hi - lo > 1) {
        double x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1], pivot;
        if ((x >= y) == (y >= z))
            pivot = y;
        else if ((y >= x) == (x >= z))
            pivot = x;
        else
            pivot = z;
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            double tmp;
            if (a[i] > pivot) {
                tmp = a[lt];
                a[lt++] = a[i];
                a[i++] = tmp;
            } else if (a[i] < pivot) {
                tmp = a[--gt];
                a[gt] = a[i];
                a[i] = tmp;
            } else {
                i++;
            }
        }
        if (idx < lt)
            hi = lt;
        else if (idx >= gt)
            lo = gt;
        else
            return pivot;
    }
    return a[lo];
}

/* A node to emit: a tree node, or (node == UINT32_MAX) the "other" of its parent. */
struct emit_item {
    uint32_t node, depth;
    int64_t x[2];
    int64_t other[2];
};

struct fb_writer {
    const struct ctree *t;
    int nsides;
    VEC(struct buf) rows;
    VEC(int64_t) prev; /* per row and side: where the previous run ended */
    uint32_t *out_idx; /* name id -> index in names, UINT32_MAX if not yet */
    VEC(uint32_t) names;
    int64_t max_self;
};

static void fb_emit(struct fb_writer *w, uint32_t depth, uint32_t name, const int64_t *x,
                    const int64_t *total, const int64_t *self)
{
    while (w->rows.len <= depth) {
        struct buf b = BUF_INIT;
        VEC_PUSH(w->rows, b);
        VEC_PUSH(w->prev, 0);
        VEC_PUSH(w->prev, 0);
    }
    struct buf *row = &w->rows.data[depth];
    if (w->out_idx[name] == UINT32_MAX) {
        w->out_idx[name] = (uint32_t)w->names.len;
        VEC_PUSH(w->names, name);
    }
    for (int s = 0; s < w->nsides; s++) {
        int64_t *prev = &w->prev.data[depth * 2 + (size_t)s];
        if (row->len)
            buf_putc(row, ',');
        buf_put_i64(row, x[s] - *prev);
        buf_putc(row, ',');
        buf_put_i64(row, total[s]);
        buf_putc(row, ',');
        buf_put_i64(row, self[s]);
        *prev = x[s] + total[s];
        if (self[s] > w->max_self)
            w->max_self = self[s];
    }
    buf_putc(row, ',');
    buf_put_u64(row, w->out_idx[name]);
}

static double node_key(const struct ctree *t, int nsides, uint32_t i)
{
    const struct cnode *r = &t->nodes.data[0], *n = &t->nodes.data[i];
    if (nsides == 1)
        return (double)n->total[0];
    double l = r->total[0] ? (double)n->total[0] / (double)r->total[0] : 0;
    double rr = r->total[1] ? (double)n->total[1] / (double)r->total[1] : 0;
    return l > rr ? l : rr;
}

void ctree_flamebearer(const struct ctree *t, int nsides, size_t max_nodes, struct buf *out,
                       struct buf *files)
{
    size_t n = t->nodes.len;
    struct fb_writer w = {.t = t, .nsides = nsides};
    VEC(struct emit_item) st = {0};
    VEC(struct emit_item) kids = {0};
    double min_key = -1;
    size_t eq_budget = SIZE_MAX; /* how many nodes with key == min_key may still be kept */
    if (max_nodes && n > max_nodes) {
        double *keys = xmalloc(n * sizeof(*keys));
        size_t above = 0;
        for (size_t i = 0; i < n; i++)
            keys[i] = node_key(t, nsides, (uint32_t)i);
        min_key = kth_largest(keys, n, max_nodes);
        for (size_t i = 0; i < n; i++)
            above += keys[i] > min_key;
        /* Ties at the cut (common: many one-sample leaves) are kept first come, first served
         * in emission order, so that at most max_nodes real nodes are emitted. */
        eq_budget = max_nodes - above;
        if (node_key(t, nsides, 0) == min_key)
            eq_budget--;
        free(keys);
    }
    w.out_idx = xmalloc(t->names.len * sizeof(*w.out_idx));
    memset(w.out_idx, 0xff, t->names.len * sizeof(*w.out_idx));

    struct emit_item root = {.node = 0};
    VEC_PUSH(st, root);
    while (st.len) {
        struct emit_item it = st.data[--st.len];
        if (it.node == UINT32_MAX) {
            fb_emit(&w, it.depth, CTREE_NAME_OTHER, it.x, it.other, it.other);
            continue;
        }
        const struct cnode *nd = &t->nodes.data[it.node];
        fb_emit(&w, it.depth, nd->name, it.x, nd->total, nd->self);
        struct emit_item other = {.node = UINT32_MAX, .depth = it.depth + 1};
        int64_t cx[2] = {it.x[0] + nd->self[0], it.x[1] + nd->self[1]};
        kids.len = 0;
        for (uint32_t k = 0; k < nd->nchild; k++) {
            uint32_t c = t->child[nd->first + k];
            const struct cnode *cn = &t->nodes.data[c];
            double key = node_key(t, nsides, c);
            int keep = key > min_key || (key == min_key && eq_budget > 0);
            if (keep && key == min_key && eq_budget != SIZE_MAX)
                eq_budget--;
            if (!keep) {
                other.other[0] += cn->total[0];
                other.other[1] += cn->total[1];
                continue;
            }
            struct emit_item ci = {.node = c, .depth = it.depth + 1, .x = {cx[0], cx[1]}};
            VEC_PUSH(kids, ci);
            cx[0] += cn->total[0];
            cx[1] += cn->total[1];
        }
        if (other.other[0] || other.other[1]) {
            other.x[0] = cx[0];
            other.x[1] = cx[1];
            VEC_PUSH(st, other);
        }
        for (size_t k = kids.len; k-- > 0;)
            VEC_PUSH(st, kids.data[k]);
    }

    buf_puts(out, "{\"names\":[");
    for (size_t i = 0; i < w.names.len; i++) {
        if (i)
            buf_putc(out, ',');
        uint32_t id = w.names.data[i];
        buf_json_str(out, strtab_get(&t->names, id), strtab_strlen(&t->names, id));
    }
    buf_puts(out, "],\"levels\":[");
    for (size_t i = 0; i < w.rows.len; i++) {
        if (i)
            buf_putc(out, ',');
        buf_putc(out, '[');
        buf_append(out, w.rows.data[i].data, w.rows.data[i].len);
        buf_putc(out, ']');
        buf_release(&w.rows.data[i]);
    }
    buf_puts(out, "],\"numTicks\":");
    buf_put_i64(out, nsides == 1 ? t->nodes.data[0].total[0]
                                 : t->nodes.data[0].total[0] + t->nodes.data[0].total[1]);
    buf_puts(out, ",\"maxSelf\":");
    buf_put_i64(out, w.max_self);
    buf_putc(out, '}');
    if (files) {
        buf_putc(files, '[');
        for (size_t i = 0; i < w.names.len; i++) {
            uint32_t f = t->name_file.data[w.names.data[i]];
            if (i)
                buf_putc(files, ',');
            buf_json_str(files, strtab_get(&t->names, f), strtab_strlen(&t->names, f));
        }
        buf_putc(files, ']');
    }
    free(w.rows.data);
    free(w.prev.data);
    free(w.names.data);
    free(w.out_idx);
    free(st.data);
    free(kids.data);
}
