/* fuzz_trie.c - libFuzzer target: Pyroscope trie and tree parsing, and write/re-parse round trips
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "profile/profile.h"
#include "profile/textfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef int (*bin_parse_fn)(const void *data, size_t n, struct symtab *sym, struct profile *prof,
                            const struct ingest_limits *lim, char *err, size_t errlen);
typedef void (*write_fn)(const struct symtab *sym, const struct profile *prof, struct buf *out);

/*
 * Checks, for any input and both formats: parsing succeeds or fails with an
 * "at byte N: ..." message and a known code; a parsed profile written back
 * in the same format parses to the same stacks and values.
 */
static void one(const uint8_t *data, size_t size, bin_parse_fn parse, write_fn write)
{
    struct symtab sym, s2;
    struct profile prof, p2;
    struct ingest_limits lim;
    struct buf enc = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
    char err[256];

    ingest_limits_default(&lim);
    lim.max_symbol_len = 0; /* truncation would make round trips lossy */
    symtab_init(&sym);
    profile_init(&prof);
    symtab_init(&s2);
    profile_init(&p2);
    int rc = parse(data, size, &sym, &prof, &lim, err, sizeof(err));
    if (rc) {
        if (rc != -EMBER_EINVAL_INPUT && rc != -EMBER_ETOOBIG && rc != -EMBER_ETRUNC)
            abort();
        if (strncmp(err, "at byte ", 8))
            abort();
        goto out;
    }
    folded_write(&sym, &prof, &a);
    write(&sym, &prof, &enc);
    if (parse(enc.data, enc.len, &s2, &p2, &lim, err, sizeof(err)))
        abort();
    folded_write(&s2, &p2, &b);
    if (strcmp(a.data ? a.data : "", b.data ? b.data : ""))
        abort();
out:
    buf_release(&enc);
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
    one(data, size, trie_parse, trie_write);
    one(data, size, tree_parse, tree_write);
    return 0;
}
