/* fuzz_pprof.c - libFuzzer target: pprof decode (gzip or not), normalise, round trip, export */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/gz.h"
#include "profile/labels.h"
#include "profile/normalize.h"
#include "profile/pprof.h"
#include "profile/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *err)
{
    fprintf(stderr, "fuzz_pprof: %s: %s\n", what, err);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ingest_limits lim;
    struct buf raw = BUF_INIT, enc = BUF_INIT, enc2 = BUF_INIT;
    struct pprof p, q;
    struct profile_batch b;
    struct labels l;
    char err[512];

    ingest_limits_default(&lim);
    lim.max_decompressed = 8u << 20;
    pprof_init(&p);
    pprof_init(&q);
    batch_init(&b);
    labels_init(&l);
    if (gz_is_gzip(data, size)) {
        if (gz_inflate(data, size, &raw, lim.max_decompressed, lim.max_ratio))
            goto out;
        data = (const uint8_t *)raw.data;
        size = raw.len;
    }
    if (pprof_decode(&p, data, size, lim.max_samples, err, sizeof(err))) {
        if (strncmp(err, "at byte ", 8))
            die("decode error without an offset", err);
        goto out;
    }
    /* whatever decodes must normalise without crashing and re-encode losslessly */
    struct normalize_opts o = {0};
    labels_set(&l, LABEL_SERVICE_NAME, "fuzz");
    o.labels = &l;
    o.limits = &lim;
    lim.max_depth = 64;
    lim.max_symbol_len = 32;
    normalize_pprof(&p, &o, &b, err, sizeof(err));
    pprof_encode(&p, &enc);
    if (pprof_decode(&q, enc.data, enc.len, 0, err, sizeof(err)))
        die("re-decode of an encoded profile failed", err);
    pprof_encode(&q, &enc2);
    if (enc.len != enc2.len || memcmp(enc.data, enc2.data, enc.len))
        die("round trip", "encode(decode(encode(p))) differs from encode(p)");
    /* export of the first normalised profile must give a decodable pprof */
    if (b.profiles.len) {
        struct pprof x;
        const struct profile *pr = &b.profiles.data[0];
        const char *t = labels_get(&pr->labels, LABEL_PROFILE_TYPE);
        pprof_init(&x);
        if (normalize_to_pprof(&b.sym, pr->samples.data, pr->samples.len, t, pr->time_ns,
                               pr->duration_ns, pr->period, &x))
            die("export", t);
        buf_reset(&enc);
        pprof_encode(&x, &enc);
        pprof_release(&x);
        pprof_init(&x);
        if (pprof_decode(&x, enc.data, enc.len, 0, err, sizeof(err)))
            die("exported profile does not decode", err);
        pprof_release(&x);
    }
out:
    labels_release(&l);
    batch_release(&b);
    pprof_release(&q);
    pprof_release(&p);
    buf_release(&raw);
    buf_release(&enc);
    buf_release(&enc2);
    return 0;
}
