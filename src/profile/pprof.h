/* pprof.h - pprof profile.proto decoding and encoding with full fidelity */
#ifndef EMBER_PROFILE_PPROF_H
#define EMBER_PROFILE_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "base/hmap.h"
#include "base/xalloc.h"

struct buf;
struct pprof_priv;

/*
 * The decoded message, field for field (string fields are string_table
 * indexes, as on the wire). Arrays are owned by the struct; strings point
 * into strings[] which own their bytes.
 */
struct pprof_value_type {
    int64_t type, unit;
};
struct pprof_label {
    int64_t key, str, num, num_unit;
};
struct pprof_sample {
    uint64_t *location_id; /* [0] = leaf */
    size_t nlocation;
    int64_t *value;
    size_t nvalue;
    struct pprof_label *label;
    size_t nlabel;
};
struct pprof_mapping {
    uint64_t id, memory_start, memory_limit, file_offset;
    int64_t filename, build_id;
    int has_functions, has_filenames, has_line_numbers, has_inline_frames;
};
struct pprof_line {
    uint64_t function_id;
    int64_t line, column;
};
struct pprof_location {
    uint64_t id, mapping_id, address;
    struct pprof_line *line; /* [0] = innermost inlined, last = caller */
    size_t nline;
    int is_folded;
};
struct pprof_function {
    uint64_t id;
    int64_t name, system_name, filename, start_line;
};

struct pprof {
    VEC(struct pprof_value_type) sample_type;
    VEC(struct pprof_sample) sample;
    VEC(struct pprof_mapping) mapping;
    VEC(struct pprof_location) location;
    VEC(struct pprof_function) function;
    VEC(char *) string_table; /* owned strings, NUL-terminated */
    VEC(size_t) string_len;
    int64_t drop_frames, keep_frames;
    int64_t time_nanos, duration_nanos;
    struct pprof_value_type period_type;
    int64_t period;
    VEC(int64_t) comment;
    int64_t default_sample_type;
    int64_t doc_url;
    /*
     * Private (pprof.c): memory blocks that back decoded arrays and strings
     * (never free those pointers yourself; arrays you allocate with
     * xmalloc and attach are freed by pprof_release) and the side index of
     * string_table used by pprof_add_string. NULL after pprof_init().
     */
    struct pprof_priv *priv;
};

/*
 * Maps message ids (Location.id, Function.id, Mapping.id) to array
 * positions: a dense table when ids are compact (as Go writes them), else
 * a hash map.
 */
struct pprof_idmap {
    uint32_t *dense; /* id -> position + 1 (0 = absent), for id < ndense */
    size_t ndense;
    struct hmap sparse; /* id -> position, when ids are not compact */
};

void pprof_init(struct pprof *p);
/* Frees everything p owns; p is empty (as after pprof_init) afterwards. */
void pprof_release(struct pprof *p);

/*
 * Decodes an uncompressed profile.proto message into p (initialised and
 * empty). Every field of profile.proto is kept (unknown fields are
 * skipped); repeated integers may be packed or not. Validates what later
 * code relies on: string_table[0] == "", string indexes in range, non-zero
 * and unique ids, value counts equal to the sample_type count, and that
 * samples, locations and lines reference existing locations, mappings and
 * functions (function_id 0 in a line means "unknown" and is allowed).
 * Returns 0; or -EMBER_ETRUNC / -EMBER_ECORRUPT for malformed input,
 * -EMBER_EINVAL_INPUT for a well-formed message that breaks those rules,
 * -EMBER_ETOOBIG when there are more than max_samples samples (0 = no cap).
 * On error, err receives "at byte N: <problem>" (e.g. "at byte 1234:
 * sample 17 references unknown location 99") and p is left empty.
 */
int pprof_decode(struct pprof *p, const void *data, size_t n, size_t max_samples, char *err,
                 size_t errlen);

/*
 * Appends the encoded (uncompressed) message to out, fields in Go's order,
 * repeated integers packed. pprof_decode() of the result gives back p.
 */
void pprof_encode(const struct pprof *p, struct buf *out);

/*
 * Returns the index of s in p's string table, appending a copy if absent
 * (and "" first if the table is empty). O(1) amortised: a hash index of the
 * table is kept beside it and catches up with strings pushed directly.
 */
int64_t pprof_add_string(struct pprof *p, const char *s);
/* Same for s[0..n), which may contain NUL bytes. */
int64_t pprof_add_stringn(struct pprof *p, const char *s, size_t n);

/* Borrowed string i, or "" if out of range. */
const char *pprof_str(const struct pprof *p, int64_t i);
/* Length in bytes of string i (0 if out of range). */
size_t pprof_strlen(const struct pprof *p, int64_t i);

/*
 * Builds maps from ids to positions in p->location, p->function and
 * p->mapping. Returns 0, or -EMBER_EINVAL_INPUT for a zero or duplicated id
 * (message in err). Free with pprof_idmap_release().
 */
int pprof_idmap_locations(struct pprof_idmap *m, const struct pprof *p, char *err, size_t errlen);
int pprof_idmap_functions(struct pprof_idmap *m, const struct pprof *p, char *err, size_t errlen);
int pprof_idmap_mappings(struct pprof_idmap *m, const struct pprof *p, char *err, size_t errlen);
void pprof_idmap_release(struct pprof_idmap *m);
/* Position of id, or -1 if absent. */
static inline int64_t pprof_idmap_get(const struct pprof_idmap *m, uint64_t id)
{
    if (m->dense)
        return id < m->ndense ? (int64_t)m->dense[id] - 1 : -1;
    const uint64_t *v = id == UINT64_MAX ? NULL : hmap_get(&m->sparse, id);
    return v ? (int64_t)*v : -1;
}

#endif
