/* textfmt.h - text and Pyroscope binary stack formats: folded, lines, trie, tree, perf script */
#ifndef EMBER_PROFILE_TEXTFMT_H
#define EMBER_PROFILE_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>

struct profile;
struct symtab;
struct ingest_limits;
struct buf;

#define TEXTFMT_MAX_NESTING 65536       /* trie/tree node nesting */
#define TEXTFMT_MAX_KEY     (16u << 20) /* trie key bytes */
#define TEXTFMT_TRIE_WORK   64 /* trie: frame name bytes interned per input byte (+64 MiB) */

/*
 * Each parser adds the samples of data[0..n) to prof, interning frames and
 * stacks in sym. Frames are function names only (file/line unknown; perf
 * script frames also carry their module).
 * On error returns a negative code and writes "line N: <problem>" (or "at
 * byte N: ...") into err; prof may then hold partial samples, which the
 * caller discards. Limits: max_samples distinct stacks, max_depth frames
 * (deeper stacks keep their root-most frames), max_symbol_len per name.
 * lim NULL means the defaults; a limit of 0 is no limit. Codes:
 * -EMBER_EINVAL_INPUT (malformed), -EMBER_ETOOBIG (past max_samples or a
 * format limit), -EMBER_ETRUNC (binary input ends inside a node). Samples of
 * equal stacks are added up in place; zero values are not added. Frame names
 * may not be empty nor hold a NUL byte.
 */

/*
 * "a;b;c 12" per line; split on the last space (or tab); blank lines ignored; lines without a count
 * are errors. CRLF and trailing blanks are tolerated; blanks before the count are not part of the
 * leaf. Counts are non-negative decimal int64.
 */
int folded_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                 const struct ingest_limits *lim, char *err, size_t errlen);
/* "a;b;c" per line, each line one sample of value 1. */
int lines_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                const struct ingest_limits *lim, char *err, size_t errlen);
/*
 * Pyroscope's transport trie: pre-order nodes of (uvarint len, key fragment, uvarint value,
 * uvarint children). Fragments concatenate into "a;b;c" keys; a node with value > 0 is a stack.
 * Several trees may follow each other; empty input is no samples. Nesting deeper than
 * TEXTFMT_MAX_NESTING, keys longer than TEXTFMT_MAX_KEY, or keys whose frame names add up to more
 * than TEXTFMT_TRIE_WORK * n + 64 MiB bytes (a malformed trie resolving one long prefix over and
 * over) fail with -EMBER_ETOOBIG.
 */
int trie_parse(const void *data, size_t n, struct symtab *sym, struct profile *prof,
               const struct ingest_limits *lim, char *err, size_t errlen);
/*
 * Pyroscope's tree: pre-order nodes, each name one frame, value = self; root name empty (a
 * non-empty root name is an error; the root's own value, an empty stack, is ignored). Several trees
 * may follow each other. Same nesting limit as trie_parse.
 */
int tree_parse(const void *data, size_t n, struct symtab *sym, struct profile *prof,
               const struct ingest_limits *lim, char *err, size_t errlen);
/*
 * `perf script` output, with or without -g call chains. Each event counts
 * 1 (perfscript_parse_flags() can weight by the printed period). Frames are
 * "symbol" with the module ("(/usr/lib/...)") kept as the frame module.
 * With comm_as_root, the command name becomes the root frame.
 * Same as perfscript_parse_flags() with PERFSCRIPT_COMM_ROOT when comm_as_root.
 */
int perfscript_parse(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                     const struct ingest_limits *lim, int comm_as_root, char *err, size_t errlen);

enum perfscript_flags {
    PERFSCRIPT_COMM_ROOT = 1 << 0,  /* the command name (comm) is the root frame */
    PERFSCRIPT_USE_PERIOD = 1 << 1, /* an event counts its printed period (1 when none) */
};
/*
 * `perf script` output (default fields, with or without -g; also -F field
 * subsets that keep the time stamp). Frames are the symbol
 * without its "+0x.." offset, module = the dso path; "[unknown]" symbols
 * become "[unknown] (dso basename)", or "0x<addr>" when the dso is unknown
 * too. Call chains are reversed to root first; an event without frames
 * counts as the single frame "[unknown]". Without PERFSCRIPT_USE_PERIOD each
 * event counts 1, and if prof->period is 0 it is set to the mean printed
 * period (for cpu-clock, nanoseconds per sample), so callers can scale.
 * Lines starting with '#' are comments. Fails with "line N: ..." on a line
 * that is neither an event header, a frame, nor blank.
 */
int perfscript_parse_flags(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                           const struct ingest_limits *lim, unsigned flags, char *err,
                           size_t errlen);

/*
 * Detected format of a profile file (for `ember push`): gzip magic 1f 8b is
 * FMT_PPROF_GZ; a first byte 0x0a followed by protobuf control bytes within
 * 64 bytes is FMT_PPROF; else the first line that is not blank nor a '#'
 * comment decides: a perf script event header ("comm pid [cpu] 1.234567:")
 * is FMT_PERFSCRIPT, "frames <digits>" is FMT_FOLDED. Never fails.
 */
enum textfmt_kind { FMT_UNKNOWN, FMT_PPROF, FMT_PPROF_GZ, FMT_FOLDED, FMT_PERFSCRIPT };
enum textfmt_kind textfmt_detect(const void *data, size_t n);

/*
 * Writes stacks of prof as folded text, root first, one line per stack.
 * Empty names print as "[unknown]" and line breaks inside names as spaces;
 * stacks that then read the same are merged into one line; lines are sorted
 * bytewise by stack (the order of `LC_ALL=C sort`); zero sums are skipped.
 * Appends to out.
 */
void folded_write(const struct symtab *sym, const struct profile *prof, struct buf *out);

/*
 * Writes the stacks of prof as Pyroscope's transport trie (the input of
 * trie_parse): a radix trie over the "a;b;c" keys, root fragment empty.
 * Values must be positive to survive (zero and negative samples are
 * skipped: the format holds unsigned values). Appends to out.
 */
void trie_write(const struct symtab *sym, const struct profile *prof, struct buf *out);
/* Writes the stacks of prof as a Pyroscope tree (the input of tree_parse), same value rules. */
void tree_write(const struct symtab *sym, const struct profile *prof, struct buf *out);

#endif
