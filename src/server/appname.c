/* appname.c - parsing Pyroscope's app.name[.suffix]{k=v} ingest names into an app, a type and
 * labels */
#include "appname.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/xalloc.h"
#include "profile/profile.h"

/*
 * Suffixes and the types they pick. Pyroscope's ingest adapter gives the
 * names and sample types; sample units and period types follow Go's pprof
 * conventions so the ids match what pprof uploads of the same data produce
 * (DESIGN.md support matrix).
 */
static const struct ingest_type types[] = {
    {"cpu", "process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds", 1},
    {"itimer", "process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds", 1},
    {"wall", "wall", "wall", "nanoseconds", "cpu", "nanoseconds", 1},
    {"seconds", "wall", "wall", "nanoseconds", "cpu", "nanoseconds", 1},
    {"milliseconds", "wall", "wall", "nanoseconds", "cpu", "nanoseconds", 1},
    {"microseconds", "wall", "wall", "nanoseconds", "cpu", "nanoseconds", 1},
    {"nanoseconds", "wall", "wall", "nanoseconds", "cpu", "nanoseconds", 1},
    {"inuse_objects", "memory", "inuse_objects", "count", "space", "bytes", 0},
    {"inuse_space", "memory", "inuse_space", "bytes", "space", "bytes", 0},
    {"alloc_objects", "memory", "alloc_objects", "count", "space", "bytes", 0},
    {"alloc_space", "memory", "alloc_space", "bytes", "space", "bytes", 0},
    {"alloc_in_new_tlab_objects", "memory", "alloc_in_new_tlab_objects", "count", "space", "bytes",
     0},
    {"alloc_in_new_tlab_bytes", "memory", "alloc_in_new_tlab_bytes", "bytes", "space", "bytes", 0},
    {"alloc_outside_tlab_objects", "memory", "alloc_outside_tlab_objects", "count", "space",
     "bytes", 0},
    {"alloc_outside_tlab_bytes", "memory", "alloc_outside_tlab_bytes", "bytes", "space", "bytes",
     0},
    {"live", "memory", "live", "count", "space", "bytes", 0},
    {"bytes", "memory", "samples", "bytes", "space", "bytes", 0},
    {"goroutines", "goroutine", "goroutines", "count", "goroutine", "count", 0},
    {"mutex_count", "mutex", "contentions", "count", "contentions", "count", 0},
    {"mutex_duration", "mutex", "delay", "nanoseconds", "contentions", "count", 0},
    {"block_count", "block", "contentions", "count", "contentions", "count", 0},
    {"block_duration", "block", "delay", "nanoseconds", "contentions", "count", 0},
    {"lock_count", "block", "contentions", "count", "contentions", "count", 0},
    {"lock_duration", "block", "delay", "nanoseconds", "contentions", "count", 0},
    {"exceptions", "exceptions", "samples", "count", "exceptions", "count", 0},
};

const struct ingest_type *appname_type(const char *suffix)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (!strcmp(types[i].suffix, suffix))
            return &types[i];
    }
    return NULL;
}

const struct ingest_type *appname_type_from_units(const char *units, const char *aggregation)
{
    int avg = aggregation && (!strcmp(aggregation, "average") || !strcmp(aggregation, "avg"));

    if (!units || !*units || !strcmp(units, "samples"))
        return NULL;
    if (!strcmp(units, "objects"))
        return appname_type(avg ? "inuse_objects" : "alloc_objects");
    if (!strcmp(units, "bytes"))
        return appname_type(avg ? "inuse_space" : "alloc_space");
    if (!strcmp(units, "goroutines"))
        return appname_type("goroutines");
    if (!strcmp(units, "lock_samples"))
        return appname_type("mutex_count");
    if (!strcmp(units, "lock_nanoseconds"))
        return appname_type("mutex_duration");
    return NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims [*b, *e) in place. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_space(**b))
        (*b)++;
    while (*e > *b && is_space((*e)[-1]))
        (*e)--;
}

static int valid_text(const char *b, const char *e)
{
    for (; b < e; b++) {
        if ((unsigned char)*b < 0x20 || *b == 0x7f)
            return 0;
    }
    return 1;
}

/* Parses the k=v list between '{' (at open) and the matching '}'. */
static int parse_labels(struct appname *a, const char *s, const char *open, char *err,
                        size_t errlen)
{
    const char *p = open + 1;
    const char *close = strchr(p, '}');

    if (!close) {
        snprintf(err, errlen, "name: missing '}' after '{' at offset %zu", (size_t)(open - s));
        return -EMBER_EINVAL_INPUT;
    }
    for (const char *t = close + 1; *t; t++) {
        if (!is_space(*t)) {
            snprintf(err, errlen, "name: unexpected text after '}' at offset %zu", (size_t)(t - s));
            return -EMBER_EINVAL_INPUT;
        }
    }
    while (p < close) {
        const char *item_end = memchr(p, ',', (size_t)(close - p));
        if (!item_end)
            item_end = close;
        const char *kb = p, *eq = memchr(p, '=', (size_t)(item_end - p));
        const char *ke, *vb, *ve;
        if (!eq) {
            const char *b = p, *e = item_end;
            trim(&b, &e);
            if (b != e) {
                snprintf(err, errlen, "name: label at offset %zu has no '=value'", (size_t)(p - s));
                return -EMBER_EINVAL_INPUT;
            }
            p = item_end + 1;
            continue;
        }
        ke = eq;
        vb = eq + 1;
        ve = item_end;
        trim(&kb, &ke);
        trim(&vb, &ve);
        if (!label_name_valid(kb, (size_t)(ke - kb))) {
            snprintf(err, errlen, "name: invalid label name '%.*s' at offset %zu",
                     (int)((ke - kb) > 64 ? 64 : (ke - kb)), kb, (size_t)(kb - s));
            return -EMBER_EINVAL_INPUT;
        }
        if (!valid_text(vb, ve)) {
            snprintf(err, errlen, "name: control character in the value of label '%.*s'",
                     (int)(ke - kb), kb);
            return -EMBER_EINVAL_INPUT;
        }
        /* Reserved names (__name__, __delta__, ...) are not the client's to set. */
        if (!(ke - kb >= 2 && kb[0] == '_' && kb[1] == '_'))
            labels_setn(&a->labels, kb, (size_t)(ke - kb), vb, (size_t)(ve - vb));
        p = item_end + 1;
    }
    return 0;
}

int appname_parse(struct appname *a, const char *s, char *err, size_t errlen)
{
    const char *open = strchr(s, '{');
    const char *b = s, *e = open ? open : s + strlen(s);
    const char *dot;
    int ret;

    memset(a, 0, sizeof(*a));
    labels_init(&a->labels);
    trim(&b, &e);
    if (b == e) {
        snprintf(err, errlen, "name: the application name is empty");
        return -EMBER_EINVAL_INPUT;
    }
    if (!valid_text(b, e)) {
        snprintf(err, errlen, "name: control character in the application name");
        return -EMBER_EINVAL_INPUT;
    }
    a->type = appname_type("cpu");
    a->app = xstrndup(b, (size_t)(e - b));
    dot = strrchr(a->app, '.');
    if (dot && dot != a->app) {
        const struct ingest_type *t = appname_type(dot + 1);
        if (t) {
            a->type = t;
            a->has_suffix = 1;
            a->app[dot - a->app] = 0;
        }
    }
    if (open) {
        ret = parse_labels(a, s, open, err, errlen);
        if (ret)
            return ret;
    }
    return 0;
}

void appname_release(struct appname *a)
{
    FREE_AND_NULL(a->app);
    labels_release(&a->labels);
}

void appname_series_labels(const struct appname *a, const struct ingest_type *t, const char *spy,
                           struct labels *out)
{
    char *id = ptype_id(t->name, t->sample_type, t->sample_unit, t->period_type, t->period_unit);

    labels_copy(out, &a->labels);
    labels_set(out, LABEL_NAME, t->name);
    labels_set(out, LABEL_PROFILE_TYPE, id);
    if (labels_get(out, LABEL_SERVICE_NAME)) {
        if (!labels_get(out, "app_name"))
            labels_set(out, "app_name", a->app);
    } else {
        labels_set(out, LABEL_SERVICE_NAME, a->app);
    }
    if (spy && *spy)
        labels_set(out, "pyroscope_spy", spy);
    free(id);
}
