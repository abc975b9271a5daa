/* normalize.h - turning decoded pprof profiles into Ember's model (one profile per sample type) */
#ifndef EMBER_PROFILE_NORMALIZE_H
#define EMBER_PROFILE_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels.h"
#include "profile.h"

struct pprof;

struct normalize_opts {
    const struct labels *labels; /* series labels from the request: service_name, ... (borrowed) */
    const char *name;        /* __name__ to use; NULL = infer per sample type (Pyroscope's rules) */
    int64_t default_time_ns; /* used when time_nanos is 0 */
    const struct ingest_limits *limits;
    /* Optional sample-type filter and renaming from multipart sample_type_config; NULL = all. */
    bool (*keep_type)(const char *sample_type, void *arg);
    void *keep_arg;
};

/*
 * Appends to out one profile per sample type of p (and per distinct set of
 * per-sample string labels, which become series labels; span_id, trace_id,
 * profile_id and "__"-prefixed keys are not series labels and are dropped
 * here; numeric labels are dropped; invalid label-name characters become
 * '_'; values are cut to max_label_value_len). Each gets __name__ (o->name,
 * else normalize_infer_name()), __profile_type__
 * (name:type:unit:period_type:period_unit; an empty part becomes "unknown",
 * ':' becomes '_') and the request labels; a sample label overrides a
 * request label except service_name. Frames: location_id[0] is the leaf and
 * a location's line[0] its innermost inlined function, so stacks are built
 * from the last location and last line backwards (root first); a location
 * without lines is one frame named "0x<address>". Frame module = mapping
 * filename, file = function filename, addr = location address. Stacks
 * deeper than limits->max_depth keep their root-most frames; names longer
 * than max_symbol_len are cut (at a UTF-8 boundary). Zero values are
 * skipped, profiles left without samples are not appended, samples are
 * compacted. time_ns = time_nanos, or o->default_time_ns when 0.
 * o->limits may be NULL (Pyroscope defaults). Returns 0, or with a message
 * in err and nothing appended: -EMBER_ETOOBIG ("profile has N samples, more
 * than the limit of M", "series of T has N labels, more than the limit of
 * M ..."), -EMBER_EINVAL_INPUT (no sample types, bad ids, value count
 * mismatch in a hand-built pprof). Strings and frames may have been interned
 * into out->sym even on error.
 */
int normalize_pprof(const struct pprof *p, const struct normalize_opts *o,
                    struct profile_batch *out, char *err, size_t errlen);

/*
 * Pyroscope's metric name inference for a pprof sample type: wall -> wall;
 * a type containing "cpu" -> process_cpu; alloc_*, inuse_*, space, objects ->
 * memory; contentions, delay, mutex_*, block_*, lock_* -> block (Go's mutex
 * and block profiles both); goroutine(s) -> goroutine; exception* ->
 * exceptions; else by period type (cpu or "samples" -> process_cpu, wall,
 * space -> memory, contentions -> block), else "unknown". Returns a static
 * string.
 */
const char *normalize_infer_name(const char *sample_type, const char *period_type);

/*
 * Converts samples[0..n) (stacks in sym) back into pprof (for export): one
 * sample type and the period type from profile_type (a 5-part id), one
 * Location per distinct frame (with one Line), Functions shared by name and
 * file, Mappings by module; zero values are skipped. p must be initialised
 * and empty; free it with pprof_release(). Returns 0 or -EMBER_EINVAL_INPUT
 * if profile_type is not a valid id.
 */
int normalize_to_pprof(const struct symtab *sym, const struct sample *samples, size_t n,
                       const char *profile_type, int64_t time_ns, int64_t duration_ns,
                       int64_t period, struct pprof *p);

#endif
