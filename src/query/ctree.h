/* ctree.h - call trees keyed by function name, with one or two value sides (diff) */
#ifndef EMBER_QUERY_CTREE_H
#define EMBER_QUERY_CTREE_H

#include <stddef.h>
#include <stdint.h>

#include "base/strtab.h"
#include "base/xalloc.h"

struct stackset;
struct ctree_slot;

/*
 * A node: one function name under one parent. Frames of the same name under
 * the same parent are merged (as Pyroscope does), whatever their file, line
 * or address. Side 0 is the only side of an ordinary tree; diff trees use
 * side 0 for the left (baseline) and side 1 for the right (comparison).
 */
struct cnode {
    uint32_t parent; /* UINT32_MAX for the root */
    uint32_t name;   /* id in ctree.names */
    uint32_t first;  /* after ctree_finish(): children are child[first .. first + nchild) */
    uint32_t nchild;
    int64_t self[2];
    int64_t total[2]; /* computed by ctree_finish() */
};

/* Fixed name ids of every ctree. */
enum { CTREE_NAME_EMPTY = 0, CTREE_NAME_TOTAL = 1, CTREE_NAME_OTHER = 2, CTREE_NAME_UNKNOWN = 3 };

struct ctree {
    struct strtab names;      /* function and file names */
    VEC(struct cnode) nodes;  /* node 0 is the root, named "total" */
    VEC(uint32_t) name_file;  /* per name id: a representative file (name id), 0 if unknown */
    uint32_t *child;          /* children, grouped per parent and sorted by name (ctree_finish) */
    struct ctree_slot *slots; /* open-addressing index (parent, name) -> node id */
    size_t mask;              /* slots has mask + 1 entries (a power of two) */
};

void ctree_init(struct ctree *t);
void ctree_release(struct ctree *t);
/* Interns a name (or file) string; returns its id. */
uint32_t ctree_name(struct ctree *t, const char *s, size_t n);
/* Returns the child of parent named name, creating it (with zero values) if needed. */
uint32_t ctree_child(struct ctree *t, uint32_t parent, uint32_t name);
/*
 * Adds the self value of every sample of ss to side (0 or 1), creating the
 * nodes of its stacks. Stack ids outside ss's symtab are skipped (and
 * counted in the return value, which is otherwise 0).
 */
size_t ctree_add_stackset(struct ctree *t, const struct stackset *ss, int side);
/*
 * Computes totals from selves and builds the sorted child lists. Call once,
 * after the last node is added and before anything reads totals or children.
 */
void ctree_finish(struct ctree *t);
/* The name string of node id (borrowed). */
static inline const char *ctree_node_name(const struct ctree *t, uint32_t id)
{
    return strtab_get(&t->names, t->nodes.data[id].name);
}

/* Per function name: self and total, where total counts a stack once even when recursive. */
struct cfunc {
    uint32_t name;
    int64_t self[2], total[2];
};
/*
 * Fills out (initialised by this call, release with free(out->data)) with
 * one entry per name that occurs in the finished tree t, in name-id order.
 */
void ctree_functions(const struct ctree *t, struct cfunc **out, size_t *n);

/*
 * Sandwich trees for function name fn of the finished tree src, written into
 * callers and callees (both initialised by this call and finished). Only the
 * topmost occurrence on each stack counts, so recursion is counted once.
 * callees: root fn, below it the merged subtrees of every occurrence.
 * callers: root fn, its children the direct callers, then theirs, up to the
 * root-level frames (whose self is the value of the stacks they start).
 */
void ctree_sandwich(const struct ctree *src, uint32_t fn, struct ctree *callers,
                    struct ctree *callees);

/*
 * Writes the finished tree as a flamebearer object {"names", "levels",
 * "numTicks", "maxSelf"} into out: Pyroscope's level encoding with 4-int
 * runs [x_delta, total, self, name] (nsides 1) or 7-int runs [lx, ltotal,
 * lself, rx, rtotal, rself, name] (nsides 2). Nodes smaller than the
 * max_nodes-th largest (0 = no limit) are merged into one "other" node per
 * parent; diff trees rank nodes by the larger of their two shares. names[0]
 * is the root's name. If files is not NULL, it receives the JSON array of
 * the representative file of each name (same order as names).
 */
struct buf;
void ctree_flamebearer(const struct ctree *t, int nsides, size_t max_nodes, struct buf *out,
                       struct buf *files);

#endif
