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
    const char *name;            /* __name__ to use; NULL = infer per sample type (Pyroscope's rules) */
    int64_t default_time_ns;     /* used when time_nanos is 0 */
    const struct ingest_limits *limits;
    /* Optional sample-type filter and renaming from multipart sample_type_config; NULL = all. */
    bool (*keep_type)(const char *sample_type, void *arg);
    void *keep_arg;
};

/*
 * Appends to out one profile per sample type of p (and per distinct set of
 * per-sample string labels, which become series labels; span_id/trace_id
 * are not series labels and are dropped here). Each gets __name__,
 * __profile_type__ (name:type:unit:period_type:period_unit) and the request
 * labels. Stacks deeper than limits->max_depth keep their root-most frames.
 * Returns 0 or a negative error with a message in err.
 */
int normalize_pprof(const struct pprof *p, const struct normalize_opts *o,
                    struct profile_batch *out, char *err, size_t errlen);

/* Pyroscope's metric name inference for a pprof sample type ("cpu" -> process_cpu, ...). */
const char *normalize_infer_name(const char *sample_type, const char *period_type);

/*
 * Converts one profile of a batch back into pprof (for export): one sample
 * type (from the profile's __profile_type__), functions/locations/mappings
 * rebuilt from frames. p must be initialised and empty.
 */
int normalize_to_pprof(const struct symtab *sym, const struct sample *samples, size_t n,
                       const char *profile_type, int64_t time_ns, int64_t duration_ns,
                       int64_t period, struct pprof *p);

#endif
