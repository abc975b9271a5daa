/* fuzz_perfscript.c - libFuzzer target: `perf script` text parsing and format detection */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "profile/profile.h"
#include "profile/textfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Checks, for any input and both flag sets: parsing succeeds or fails with
 * a "line N: ..." message and a known code; every sample of a parsed profile
 * has a stack no deeper than max_depth and a positive value; writing it as
 * folded text works.
 */
static void one(const uint8_t *data, size_t size, unsigned flags)
{
    struct symtab sym;
    struct profile prof;
    struct ingest_limits lim;
    struct buf out = BUF_INIT;
    char err[256];

    ingest_limits_default(&lim);
    lim.max_depth = 64;
    symtab_init(&sym);
    profile_init(&prof);
    int rc = perfscript_parse_flags((const char *)data, size, &sym, &prof, &lim, flags, err,
                                    sizeof(err));
    if (rc) {
        if (rc != -EMBER_EINVAL_INPUT && rc != -EMBER_ETOOBIG)
            abort();
        if (strncmp(err, "line ", 5))
            abort();
        goto out;
    }
    for (size_t i = 0; i < prof.samples.len; i++) {
        size_t d = symtab_depth(&sym, prof.samples.data[i].stack);
        if (d == 0 || d > lim.max_depth || prof.samples.data[i].value <= 0)
            abort();
    }
    folded_write(&sym, &prof, &out);
out:
    buf_release(&out);
    profile_release(&prof);
    symtab_release(&sym);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 16))
        return 0;
    one(data, size, 0);
    one(data, size, PERFSCRIPT_COMM_ROOT | PERFSCRIPT_USE_PERIOD);
    textfmt_detect(data, size);
    return 0;
}
