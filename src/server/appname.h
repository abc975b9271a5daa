/* appname.h - Pyroscope's ingest "name" parameter: app.name[.suffix]{k=v,...} and the profile type
 * it picks */
#ifndef EMBER_SERVER_APPNAME_H
#define EMBER_SERVER_APPNAME_H

#include <stddef.h>

#include "profile/labels.h"

/* The profile type a text-format upload gets (static table entries). */
struct ingest_type {
    const char *suffix; /* "cpu", "alloc_objects", ... */
    const char *name;   /* __name__: "process_cpu", "memory", ... */
    const char *sample_type, *sample_unit, *period_type, *period_unit;
    int scaled; /* 1: cpu/wall sample counts, scaled by 1e9/sampleRate into nanoseconds */
};

struct appname {
    char *app;                      /* service name with the type suffix removed (owned) */
    const struct ingest_type *type; /* never NULL after a successful parse */
    int has_suffix;                 /* the type came from a known suffix */
    struct labels labels;           /* the {k=v} labels, "__"-prefixed names dropped */
};

/*
 * Parses s like Pyroscope's labelset: the text before '{' (trimmed) is the
 * application name; "{k=v,k2=v2}" follows with comma-separated pairs,
 * unquoted values, spaces around names and values trimmed. A last ".suffix"
 * that names a known type (cpu, wall, alloc_objects, ...) picks the type and
 * is removed; otherwise the whole text is the application and the type is
 * cpu. Label names must match [a-zA-Z_][a-zA-Z0-9_]*; names starting with
 * "__" are reserved and dropped. Returns 0, or -EMBER_EINVAL_INPUT with a
 * message naming the problem and its offset in err. a is initialised by the
 * call; release it with appname_release() in both cases.
 */
int appname_parse(struct appname *a, const char *s, char *err, size_t errlen);
void appname_release(struct appname *a);

/* The type for a suffix ("alloc_space"), or NULL if unknown. */
const struct ingest_type *appname_type(const char *suffix);

/*
 * The type implied by the legacy units/aggregationType parameters when the
 * name has no suffix ("objects" + "average" = inuse_objects, "bytes" =
 * alloc_space, "lock_nanoseconds" = mutex delay, ...); NULL keeps cpu.
 */
const struct ingest_type *appname_type_from_units(const char *units, const char *aggregation);

/*
 * Builds the series labels of a text upload into out (initialised by the
 * call): user labels, __name__, service_name = app (or app_name = app when
 * the user already set service_name), pyroscope_spy = spy (when non-empty).
 */
void appname_series_labels(const struct appname *a, const struct ingest_type *t, const char *spy,
                           struct labels *out);

#endif
