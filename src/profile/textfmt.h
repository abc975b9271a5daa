/* textfmt.h - text and Pyroscope binary stack formats: folded, lines, trie, tree, perf script */
#ifndef EMBER_PROFILE_TEXTFMT_H
#define EMBER_PROFILE_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>

struct profile;
struct symtab;
struct ingest_limits;
struct buf;

/*
 * Each parser adds the samples of data[0..n) to prof, interning frames and
 * stacks in sym. Frames are function names only (file/line unknown).
 * On error returns a negative code and writes "line N: <problem>" (or "at
 * byte N: ...") into err; prof may then hold partial samples, which the
 * caller discards. Limits: max_samples distinct stacks, max_depth frames
 * (deeper stacks keep their root-most frames), max_symbol_len per name.
 */

/* "a;b;c 12" per line; split on the last space; blank lines ignored; lines without a count are errors. */
int folded_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                 const struct ingest_limits *lim, char *err, size_t errlen);
/* "a;b;c" per line, each line one sample of value 1. */
int lines_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                const struct ingest_limits *lim, char *err, size_t errlen);
/* Pyroscope's transport trie: pre-order nodes of (uvarint len, key fragment, uvarint value, uvarint children). */
int trie_parse(const void *data, size_t n, struct symtab *sym, struct profile *prof,
               const struct ingest_limits *lim, char *err, size_t errlen);
/* Pyroscope's tree: pre-order nodes, each name one frame, value = self; root name empty. */
int tree_parse(const void *data, size_t n, struct symtab *sym, struct profile *prof,
               const struct ingest_limits *lim, char *err, size_t errlen);
/*
 * `perf script` output, with or without -g call chains. Each event counts
 * 1 (or its period when perf printed one and use_period is set). Frames are
 * "symbol" with the module ("(/usr/lib/...)") kept as the frame module.
 * With comm_as_root, the command name becomes the root frame.
 */
int perfscript_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                     const struct ingest_limits *lim, int comm_as_root, char *err, size_t errlen);

/* Detected format of a profile file (for `ember push`). */
enum textfmt_kind { FMT_UNKNOWN, FMT_PPROF, FMT_PPROF_GZ, FMT_FOLDED, FMT_PERFSCRIPT };
enum textfmt_kind textfmt_detect(const void *data, size_t n);

/* Writes stacks of prof as folded text, root first, one line per stack. */
void folded_write(const struct symtab *sym, const struct profile *prof, struct buf *out);

#endif
