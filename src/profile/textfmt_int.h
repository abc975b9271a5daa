/* textfmt_int.h - internals shared by the stack format codecs (folded.c, trie.c, perfscript.c) */
#ifndef EMBER_PROFILE_TEXTFMT_INT_H
#define EMBER_PROFILE_TEXTFMT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/hmap.h"
#include "base/xalloc.h"
#include "profile.h"

/*
 * The state of one parse: where samples go, the limits, the error text, and
 * two caches that keep ingest fast: stack id -> index of its sample in
 * prof->samples (so duplicate stacks add up in place and max_samples counts
 * distinct stacks), and string id -> name-only frame id.
 */
struct tf_ctx {
    struct symtab *sym;
    struct profile *prof;
    size_t max_samples, max_depth, max_symbol_len; /* SIZE_MAX when the limit is 0 (off) */
    struct hmap stacks;
    VEC(uint32_t) name_frame; /* string id -> frame id, 0 = not cached yet */
    char *err;
    size_t errlen;
};

/* Prepares c; lim NULL means ingest_limits_default(). Clears err. */
void tf_init(struct tf_ctx *c, struct symtab *sym, struct profile *prof,
             const struct ingest_limits *lim, char *err, size_t errlen);
void tf_release(struct tf_ctx *c);

/* Formats the error message into c->err and returns code (negative). */
int tf_error(struct tf_ctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Length of s[0..n) clipped to max_symbol_len, backing off to a UTF-8 character boundary. */
size_t tf_clip(const struct tf_ctx *c, const char *s, size_t n);

/* Interns the name-only frame s[0..n) (clipped) and returns its id; equals symtab_frame_str(name).
 */
uint32_t tf_name_frame(struct tf_ctx *c, const char *s, size_t n);

/*
 * Adds value to stack. Returns 0; -EMBER_ETOOBIG when the stack is new and the
 * profile already holds max_samples stacks; -EMBER_EINVAL_INPUT when the sum
 * overflows int64. tf_add_strerror() words those for messages.
 */
int tf_add(struct tf_ctx *c, uint32_t stack, int64_t value);
const char *tf_add_strerror(const struct tf_ctx *c, int code);

/* a + b, saturated to the int64 range (writers merge values that parsers never checked). */
static inline int64_t tf_sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return a < 0 ? INT64_MIN : INT64_MAX;
    return r;
}

/* Copies at most max bytes of s into out (size outlen) for quoting in errors, '?' for control
 * bytes. */
const char *tf_quote(char *out, size_t outlen, const char *s, size_t n);

/*
 * A distinct stack rendered as frame names (root first) with its summed
 * value; used by the writers. names point into the symtab ("[unknown]" for
 * empty names). tf_collect returns them sorted by name sequence, merged.
 */
struct tf_stack {
    const char **names;
    size_t n;
    int64_t value;
};
struct tf_stacks {
    VEC(struct tf_stack) v;
    VEC(const char *) names; /* backing store of every names[] */
};
void tf_collect(const struct symtab *sym, const struct profile *prof, struct tf_stacks *out);
void tf_stacks_release(struct tf_stacks *s);

/*
 * The stacks of a profile as "a;b;c" keys (s points into text), sorted
 * bytewise, equal keys merged (saturating), zero sums dropped. With
 * for_folded, line breaks inside names become spaces (they would split the
 * line), so the order is that of the text written.
 */
struct tf_key {
    const char *s;
    size_t len;
    int64_t value;
};
struct tf_keys {
    struct buf text;
    VEC(struct tf_key) v;
};
void tf_keys_collect(const struct symtab *sym, const struct profile *prof, int for_folded,
                     struct tf_keys *out);
void tf_keys_release(struct tf_keys *k);

/* Whether line[0..len) looks like the event header of `perf script` (comm pid [cpu] time: ...). */
int perfscript_is_header(const char *line, size_t len);

#endif
