/* fuzz_folded.c - libFuzzer target: folded and lines parsing, and write/re-parse round trips */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "profile/profile.h"
#include "profile/textfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*text_parse_fn)(const char *data, size_t n, struct symtab *sym, struct profile *prof,
                             const struct ingest_limits *lim, char *err, size_t errlen);
typedef int (*bin_parse_fn)(const void *data, size_t n, struct symtab *sym, struct profile *prof,
                            const struct ingest_limits *lim, char *err, size_t errlen);
typedef void (*write_fn)(const struct symtab *sym, const struct profile *prof, struct buf *out);

/* A failed parse must say why, and where. */
static void check_error(int rc, const char *err, const char *where)
{
    if (rc != -EMBER_EINVAL_INPUT && rc != -EMBER_ETOOBIG && rc != -EMBER_ETRUNC)
        abort();
    if (strncmp(err, where, strlen(where)))
        abort();
}

/* Writes sym/prof with w, parses that with p, and checks the folded text is `want`. */
static void roundtrip_bin(const struct symtab *sym, const struct profile *prof, write_fn w,
                          bin_parse_fn p, const struct ingest_limits *lim, const char *want)
{
    struct symtab s2;
    struct profile p2;
    struct buf enc = BUF_INIT, txt = BUF_INIT;
    char err[256];
    symtab_init(&s2);
    profile_init(&p2);
    w(sym, prof, &enc);
    if (p(enc.data, enc.len, &s2, &p2, lim, err, sizeof(err)))
        abort(); /* our own encoding must parse */
    folded_write(&s2, &p2, &txt);
    if (strcmp(txt.data ? txt.data : "", want))
        abort();
    buf_release(&enc);
    buf_release(&txt);
    profile_release(&p2);
    symtab_release(&s2);
}

/*
 * The parser reuses the frames the previous line shares; parsing each line
 * on its own (no previous line) must give the same profile.
 */
static void check_line_by_line(const uint8_t *data, size_t size, text_parse_fn parse,
                               const char *want)
{
    struct symtab sym;
    struct profile prof;
    struct ingest_limits lim;
    struct buf out = BUF_INIT;
    char err[256];
    const char *p = (const char *)data, *end = p + size;

    ingest_limits_default(&lim);
    lim.max_symbol_len = 0;
    lim.max_samples = 0; /* each call counts its stacks anew */
    symtab_init(&sym);
    profile_init(&prof);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (parse(p, len, &sym, &prof, &lim, err, sizeof(err)))
            abort();
        p += len + (nl ? 1 : 0);
    }
    folded_write(&sym, &prof, &out);
    if (strcmp(out.data ? out.data : "", want))
        abort();
    buf_release(&out);
    profile_release(&prof);
    symtab_release(&sym);
}

/*
 * Checks, for any input: parsing succeeds or fails with a "line N: ..."
 * message; line by line parsing agrees; the folded text written from a
 * parsed profile parses again to the same text, and so do its trie and tree
 * encodings.
 */
static void one(const uint8_t *data, size_t size, text_parse_fn parse)
{
    struct symtab sym, s2;
    struct profile prof, p2;
    struct ingest_limits lim;
    struct buf a = BUF_INIT, b = BUF_INIT;
    char err[256];

    ingest_limits_default(&lim);
    lim.max_symbol_len = 0; /* truncation would make round trips lossy */
    symtab_init(&sym);
    profile_init(&prof);
    symtab_init(&s2);
    profile_init(&p2);
    int rc = parse((const char *)data, size, &sym, &prof, &lim, err, sizeof(err));
    if (rc) {
        check_error(rc, err, "line ");
        goto out;
    }
    folded_write(&sym, &prof, &a);
    const char *want = a.data ? a.data : "";
    if (folded_parse(want, a.len, &s2, &p2, &lim, err, sizeof(err)))
        abort();
    folded_write(&s2, &p2, &b);
    if (strcmp(b.data ? b.data : "", want))
        abort();
    check_line_by_line(data, size, parse, want);
    roundtrip_bin(&sym, &prof, trie_write, trie_parse, &lim, want);
    roundtrip_bin(&sym, &prof, tree_write, tree_parse, &lim, want);
out:
    buf_release(&a);
    buf_release(&b);
    profile_release(&prof);
    symtab_release(&sym);
    profile_release(&p2);
    symtab_release(&s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 16))
        return 0;
    one(data, size, folded_parse);
    one(data, size, lines_parse);
    textfmt_detect(data, size);
    return 0;
}
