/* query_export.c - /api/v1/export: merged profiles as gzip pprof or folded text */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/gz.h"
#include "profile/normalize.h"
#include "profile/pprof.h"
#include "profile/profile.h"
#include "profile/textfmt.h"
#include "query/query.h"
#include "query/query_int.h"
#include "store/store.h"

/*
 * Kept apart from query.c so that the endpoints which only build trees do
 * not pull the pprof and text encoders into every binary that links them.
 */

static int export_pprof(const struct stackset *ss, const struct qscope *sc, struct buf *out,
                        char *err, size_t errlen)
{
    struct pprof p;
    struct buf raw = BUF_INIT;
    int rc;
    pprof_init(&p);
    rc = normalize_to_pprof(&ss->sym, ss->samples.data, ss->samples.len, sc->sel.profile_type,
                            sc->sq.from_ns, sc->sq.until_ns - sc->sq.from_ns, 0, &p);
    if (rc) {
        rc = qerr(err, errlen, rc, "building pprof failed: %s", ember_strerror(rc));
        goto out;
    }
    pprof_encode(&p, &raw);
    rc = gz_deflate(raw.data, raw.len, out, 6);
    if (rc)
        rc = qerr(err, errlen, rc, "compressing pprof failed: %s", ember_strerror(rc));
out:
    buf_release(&raw);
    pprof_release(&p);
    return rc;
}

static void export_folded(const struct stackset *ss, struct buf *out)
{
    struct profile prof;
    profile_init(&prof);
    if (ss->samples.len) {
        VEC_RESERVE(prof.samples, ss->samples.len);
        memcpy(prof.samples.data, ss->samples.data, ss->samples.len * sizeof(*ss->samples.data));
        prof.samples.len = ss->samples.len;
    }
    folded_write(&ss->sym, &prof, out);
    profile_release(&prof);
}

int query_export(struct store *s, const struct query_params *q, struct buf *out,
                 const char **content_type, char *err, size_t errlen)
{
    struct qscope sc;
    struct stackset ss;
    const char *fmt = q->format && q->format[0] ? q->format : "pprof";
    int pprof = strcmp(fmt, "pprof") == 0, rc;
    if (!pprof && strcmp(fmt, "folded") != 0)
        return qerr(err, errlen, -EMBER_EINVAL_INPUT,
                    "unknown export format '%s' (expected pprof or folded)", fmt);
    rc = qscope_open(&sc, q, q->query, q->from_ns, q->until_ns, 1, err, errlen);
    if (rc)
        return rc;
    memset(&ss, 0, sizeof(ss));
    stackset_init(&ss);
    rc = store_merge(s, &sc.sq, &ss);
    if (rc) {
        rc = qstore_err(rc, "merging profiles", err, errlen);
        goto out;
    }
    if (pprof) {
        rc = export_pprof(&ss, &sc, out, err, errlen);
        if (rc == 0)
            *content_type = "application/octet-stream";
    } else {
        export_folded(&ss, out);
        *content_type = "text/plain; charset=utf-8";
    }
out:
    stackset_release(&ss);
    qscope_close(&sc);
    return rc;
}
