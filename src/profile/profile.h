/* profile.h - Ember's profile model: symbols, deduplicated stacks, profiles and batches */
#ifndef EMBER_PROFILE_PROFILE_H
#define EMBER_PROFILE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/idtab.h"
#include "base/strtab.h"
#include "base/xalloc.h"
#include "labels.h"

/*
 * One symbolised frame: a function in a file at a line, in a module
 * (mapping file name), at an address. A pprof Location with inlined
 * functions becomes several frames. String fields are ids in the owning
 * symtab's strings (0 = unknown/empty). All fields are zeroed when unknown;
 * the struct has no padding so it can be deduplicated bytewise.
 */
struct frame {
    uint32_t name;
    uint32_t file;
    uint32_t module;
    uint32_t line;
    uint64_t addr;
};

/* A node of the stack prefix tree: (parent node, frame). Node 0 is the root (empty stack),
 * stored as {UINT32_MAX, UINT32_MAX}. */
struct stack_node {
    uint32_t parent;
    uint32_t frame;
};

/*
 * Symbols shared by the profiles of one batch (or one query result):
 * strings, frames and the stack prefix tree. A stack id is a node id; the
 * stack is the path from the root to that node (root first).
 */
struct symtab {
    struct strtab strings;
    struct idtab frames; /* struct frame; id 0 is the all-zero "unknown" frame */
    struct idtab nodes;  /* struct stack_node; id 0 is the root */
};

void symtab_init(struct symtab *s);
void symtab_release(struct symtab *s);
/* Interns a frame; returns its id. */
uint32_t symtab_frame(struct symtab *s, const struct frame *f);
/* Interns a frame given by strings (NULL = unknown). */
uint32_t symtab_frame_str(struct symtab *s, const char *name, const char *file, uint32_t line,
                          const char *module, uint64_t addr);
/* Returns the id of the child of node parent with the given frame (interning it). */
uint32_t symtab_child(struct symtab *s, uint32_t parent, uint32_t frame);
/* Interns the stack frames[0..n) (root first) and returns its id. n=0 gives 0. */
uint32_t symtab_stack(struct symtab *s, const uint32_t *frames, size_t n);
/* Depth of a stack (number of frames). */
size_t symtab_depth(const struct symtab *s, uint32_t stack);
/*
 * Writes the frame ids of stack leaf first into out[0..max) and returns the
 * full depth (which may exceed max; only max are written).
 */
size_t symtab_unwind(const struct symtab *s, uint32_t stack, uint32_t *out, size_t max);
static inline const struct frame *symtab_get_frame(const struct symtab *s, uint32_t id)
{
    return (const struct frame *)idtab_get(&s->frames, id);
}
static inline const struct stack_node *symtab_get_node(const struct symtab *s, uint32_t id)
{
    return (const struct stack_node *)idtab_get(&s->nodes, id);
}
static inline const char *symtab_str(const struct symtab *s, uint32_t id)
{
    return strtab_get(&s->strings, id);
}

struct sample {
    uint32_t stack; /* node id in the symtab */
    uint32_t pad;
    int64_t value;
};

/*
 * A profile type, Pyroscope's 5-part id name:sample_type:sample_unit:period_type:period_unit.
 */
struct ptype {
    char *name, *sample_type, *sample_unit, *period_type, *period_unit; /* owned */
};

/* Parses "a:b:c:d:e". Returns 0, or -EMBER_EINVAL_INPUT if it does not have 5 non-empty parts. */
int ptype_parse(struct ptype *t, const char *id);
void ptype_release(struct ptype *t);
/* Returns a new string "name:sample_type:sample_unit:period_type:period_unit". */
char *ptype_id(const char *name, const char *st, const char *su, const char *pt, const char *pu);

/*
 * One profile: one series (labels, sorted, including __name__,
 * __profile_type__ and service_name), a time range, and samples whose
 * stacks live in the batch's symtab. Samples are (stack, value) with
 * stacks unique within the profile after profile_compact().
 */
struct profile {
    struct labels labels;
    int64_t time_ns;
    int64_t duration_ns;
    int64_t period; /* in period_unit; 0 = unknown */
    VEC(struct sample) samples;
};

void profile_init(struct profile *p);
void profile_release(struct profile *p);
/* Adds value to stack (appends; duplicates merged by profile_compact). */
void profile_add(struct profile *p, uint32_t stack, int64_t value);
/* Merges samples with equal stacks and drops zero values; sorts by stack id. */
void profile_compact(struct profile *p);
/* Sum of sample values. */
int64_t profile_total(const struct profile *p);

/* A batch: profiles sharing one symtab; the unit of ingest and of store_append(). */
struct profile_batch {
    struct symtab sym;
    VEC(struct profile) profiles;
};

void batch_init(struct profile_batch *b);
void batch_release(struct profile_batch *b);
/* Appends an empty profile and returns it (borrowed; invalidated by the next add). */
struct profile *batch_add(struct profile_batch *b);
/* Total number of samples over all profiles. */
size_t batch_nsamples(const struct profile_batch *b);

/* Ingest limits (Pyroscope's defaults). Parsers fail with -EMBER_ETOOBIG past them. */
struct ingest_limits {
    size_t max_profile_bytes;    /* compressed body, default 4 MiB */
    size_t max_decompressed;     /* default 64 MiB */
    unsigned max_ratio;          /* decompression ratio cap, default 100 */
    size_t max_samples;          /* per profile, default 16000 */
    size_t max_depth;            /* stacks deeper are truncated (root kept), default 1000 */
    size_t max_labels;           /* per series, default 30 */
    size_t max_symbol_len;       /* longer names are truncated, default 65535 */
    size_t max_label_value_len;  /* default 2048 */
};

void ingest_limits_default(struct ingest_limits *l);

#endif
