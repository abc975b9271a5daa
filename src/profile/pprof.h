/* pprof.h - pprof profile.proto decoding and encoding with full fidelity */
#ifndef EMBER_PROFILE_PPROF_H
#define EMBER_PROFILE_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "base/xalloc.h"

struct buf;

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
};

void pprof_init(struct pprof *p);
void pprof_release(struct pprof *p);

/*
 * Decodes an uncompressed profile.proto message. Validates what later code
 * relies on: string indexes in range, string_table[0] == "", non-zero ids,
 * value counts equal to sample_type count. On error returns a negative code
 * and writes "at byte N: <problem>" into err. max_samples (0 = none) caps the
 * number of samples (-EMBER_ETOOBIG).
 */
int pprof_decode(struct pprof *p, const void *data, size_t n, size_t max_samples, char *err,
                 size_t errlen);

/* Appends the encoded (uncompressed) message to out. */
void pprof_encode(const struct pprof *p, struct buf *out);

/* Interns s into p's string table (linear scan for small tables is avoided by a side index). */
int64_t pprof_add_string(struct pprof *p, const char *s);

/* Borrowed string i, or "" if out of range. */
const char *pprof_str(const struct pprof *p, int64_t i);

#endif
