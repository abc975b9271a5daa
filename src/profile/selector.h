/* selector.h - Prometheus-style series selectors: TYPE{name="v", env=~"a|b", pod!=""} */
#ifndef EMBER_PROFILE_SELECTOR_H
#define EMBER_PROFILE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct labels;

enum match_op { MATCH_EQ, MATCH_NE, MATCH_RE, MATCH_NRE };

struct matcher {
    char *name;  /* owned */
    char *value; /* owned; the regex source for MATCH_RE/NRE */
    enum match_op op;
    void *re; /* compiled, fully anchored regex (pcre2_code *) for RE/NRE */
};

/*
 * A parsed selector. A leading profile type id (before '{') becomes a
 * matcher __profile_type__="<id>" and is also kept in profile_type.
 */
struct selector {
    char *profile_type; /* owned, NULL if none given */
    struct matcher *m;
    size_t n;
};

/*
 * Parses s into sel (initialised by this call; release with
 * selector_release() on success, nothing to release on error). Accepts "", "{}", "TYPE", "{...}",
 * "TYPE{...}". Values are double-quoted (or single- or back-quoted) with Go-style escapes. On error
 * returns -EMBER_EINVAL_INPUT and writes a message naming the offset and the
 * problem into err (e.g. "at offset 12: expected '=', '!=', '=~' or '!~'").
 * A profile type given only as a matcher __profile_type__="<id>" also sets
 * profile_type. Limits: at most 256 matchers.
 */
int selector_parse(struct selector *sel, const char *s, char *err, size_t errlen);
void selector_release(struct selector *sel);
/* True if every matcher matches l (a missing label matches as ""). */
bool selector_matches(const struct selector *sel, const struct labels *l);
/* True if m matches value v (NULL, a missing label, matches as ""). */
bool matcher_matches(const struct matcher *m, const char *v);
/* Value of the first equality matcher on name, or NULL (borrowed). */
const char *selector_eq_value(const struct selector *sel, const char *name);

/* Appends sel's matchers as {a="x",b=~"y"} (the type included as __profile_type__). */
void selector_format(const struct selector *sel, struct buf *out);

#endif
