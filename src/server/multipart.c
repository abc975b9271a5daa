/* multipart.c - multipart/form-data splitting: boundaries, part headers, Content-Disposition */
#include "multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

#define HEADER_BLOCK_MAX (8u << 10)

static int is_ws(char c)
{
    return c == ' ' || c == '\t';
}

int multipart_is_form(const char *ct)
{
    if (!ct)
        return 0;
    while (is_ws(*ct))
        ct++;
    return !strncasecmp(ct, "multipart/form-data", 19) &&
           (ct[19] == 0 || ct[19] == ';' || is_ws(ct[19]));
}

/*
 * Reads the parameter named key from a header value of the form
 * "token; k1=v1; k2="v2"" into out. Returns 1 if found, 0 if not, -1 if
 * the value does not fit.
 */
static int header_param(const char *v, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = strchr(v, ';');

    while (p) {
        p++;
        while (is_ws(*p))
            p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ';')
            p++;
        const char *name_end = p;
        while (name_end > name && is_ws(name_end[-1]))
            name_end--;
        int match = (size_t)(name_end - name) == klen && !strncasecmp(name, key, klen);
        if (*p != '=') {
            p = *p ? p : NULL;
            continue;
        }
        p++;
        while (is_ws(*p))
            p++;
        size_t o = 0;
        int overflow = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                if (o + 1 < outlen)
                    out[o++] = *p;
                else
                    overflow = 1;
                p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ';' && !is_ws(*p)) {
                if (o + 1 < outlen)
                    out[o++] = *p;
                else
                    overflow = 1;
                p++;
            }
        }
        if (match) {
            out[o] = 0;
            return overflow ? -1 : 1;
        }
        p = strchr(p, ';');
    }
    return 0;
}

int multipart_boundary(const char *ct, char *out, size_t outlen, char *err, size_t errlen)
{
    char b[MULTIPART_BOUNDARY_MAX + 2];
    int r;

    if (!multipart_is_form(ct)) {
        snprintf(err, errlen, "multipart: Content-Type is not multipart/form-data");
        return -EMBER_EINVAL_INPUT;
    }
    r = header_param(ct, "boundary", b, sizeof(b));
    if (r == 0 || (r == 1 && !b[0])) {
        snprintf(err, errlen, "multipart: Content-Type has no boundary parameter");
        return -EMBER_EINVAL_INPUT;
    }
    if (r < 0 || strlen(b) > MULTIPART_BOUNDARY_MAX || strlen(b) + 1 > outlen) {
        snprintf(err, errlen, "multipart: boundary is longer than %d characters",
                 MULTIPART_BOUNDARY_MAX);
        return -EMBER_EINVAL_INPUT;
    }
    memcpy(out, b, strlen(b) + 1);
    return 0;
}

/* Finds "--boundary" at p, at the start of the body or after a line break. */
static const unsigned char *find_delim(const unsigned char *start, const unsigned char *p,
                                       const unsigned char *end, const char *delim, size_t dlen)
{
    while (p < end) {
        const unsigned char *q = memmem(p, (size_t)(end - p), delim, dlen);
        if (!q)
            return NULL;
        if (q == start || q[-1] == '\n')
            return q;
        p = q + 1;
    }
    return NULL;
}

/* Copies the header line value [b, e) (trimmed) into out, NUL-terminated and truncated. */
static void copy_value(const char *b, const char *e, char *out, size_t outlen)
{
    size_t n;

    while (b < e && is_ws(*b))
        b++;
    while (e > b && (is_ws(e[-1]) || e[-1] == '\r'))
        e--;
    n = (size_t)(e - b);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, b, n);
    out[n] = 0;
}

/* Parses the header block [p, end) of one part (lines ending in CRLF or LF). */
static int parse_headers(struct multipart_part *part, const unsigned char *base,
                         const unsigned char *p, const unsigned char *end, char *err, size_t errlen)
{
    char disp[1024];
    int have_disp = 0;

    disp[0] = 0;
    while (p < end) {
        const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *le = eol ? eol : end;
        const unsigned char *colon = memchr(p, ':', (size_t)(le - p));
        if (le > p && !(le - p == 1 && *p == '\r')) {
            if (!colon) {
                snprintf(err, errlen, "multipart: at byte %zu: part header line without ':'",
                         (size_t)(p - base));
                return -EMBER_EINVAL_INPUT;
            }
            size_t nlen = (size_t)(colon - p);
            if (nlen == 19 && !strncasecmp((const char *)p, "Content-Disposition", 19)) {
                copy_value((const char *)colon + 1, (const char *)le, disp, sizeof(disp));
                have_disp = 1;
            } else if (nlen == 12 && !strncasecmp((const char *)p, "Content-Type", 12)) {
                copy_value((const char *)colon + 1, (const char *)le, part->content_type,
                           sizeof(part->content_type));
            }
        }
        p = eol ? eol + 1 : end;
    }
    if (!have_disp || strncasecmp(disp, "form-data", 9)) {
        snprintf(err, errlen, "multipart: at byte %zu: part has no Content-Disposition: form-data",
                 (size_t)(end - base));
        return -EMBER_EINVAL_INPUT;
    }
    if (header_param(disp, "name", part->name_buf, sizeof(part->name_buf)) != 1 ||
        !part->name_buf[0]) {
        snprintf(err, errlen, "multipart: at byte %zu: part has no usable field name",
                 (size_t)(end - base));
        return -EMBER_EINVAL_INPUT;
    }
    part->name = part->name_buf;
    if (header_param(disp, "filename", part->filename, sizeof(part->filename)) <= 0)
        part->filename[0] = 0;
    return 0;
}

int multipart_parse(struct multipart *m, const void *body, size_t n, const char *boundary,
                    char *err, size_t errlen)
{
    const unsigned char *base = body, *end = base + n, *p;
    char delim[MULTIPART_BOUNDARY_MAX + 5];
    size_t dlen;
    int ret;

    memset(m, 0, sizeof(*m));
    dlen = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
    if (!boundary[0] || dlen >= sizeof(delim)) {
        snprintf(err, errlen, "multipart: invalid boundary");
        return -EMBER_EINVAL_INPUT;
    }
    p = find_delim(base, base, end, delim, dlen);
    if (!p) {
        snprintf(err, errlen, "multipart: at byte 0: no boundary '%s' found in the body", delim);
        return -EMBER_EINVAL_INPUT;
    }
    for (;;) {
        p += dlen;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* closing delimiter; the epilogue is ignored */
        while (p < end && is_ws((char)*p))
            p++;
        if (p < end && *p == '\r')
            p++;
        if (p >= end || *p != '\n') {
            snprintf(err, errlen,
                     "multipart: at byte %zu: expected a line break after the boundary",
                     (size_t)(p - base));
            return p >= end ? -EMBER_ETRUNC : -EMBER_EINVAL_INPUT;
        }
        p++;
        /* Header block ends at an empty line. */
        const unsigned char *hdr = p, *hend = NULL, *data;
        size_t limit = (size_t)(end - p) < HEADER_BLOCK_MAX ? (size_t)(end - p) : HEADER_BLOCK_MAX;
        for (const unsigned char *q = p; q < p + limit; q++) {
            if (*q != '\n')
                continue;
            if (q == p || (q == p + 1 && *p == '\r')) {
                hend = p; /* no headers at all */
                data = q + 1;
                break;
            }
            if (q + 1 < end && q[1] == '\n') {
                hend = q + 1;
                data = q + 2;
                break;
            }
            if (q + 2 < end && q[1] == '\r' && q[2] == '\n') {
                hend = q + 1;
                data = q + 3;
                break;
            }
        }
        if (!hend) {
            snprintf(err, errlen, "multipart: at byte %zu: part headers are not terminated%s",
                     (size_t)(p - base), limit == HEADER_BLOCK_MAX ? " within 8 KiB" : "");
            return limit == HEADER_BLOCK_MAX ? -EMBER_ETOOBIG : -EMBER_ETRUNC;
        }
        if (m->nparts == MULTIPART_MAX_PARTS) {
            snprintf(err, errlen, "multipart: at byte %zu: more than %d parts", (size_t)(p - base),
                     MULTIPART_MAX_PARTS);
            return -EMBER_ETOOBIG;
        }
        struct multipart_part *part = &m->parts[m->nparts];
        ret = parse_headers(part, base, hdr, hend, err, errlen);
        if (ret)
            return ret;
        const unsigned char *next = find_delim(base, data, end, delim, dlen);
        if (!next) {
            snprintf(err, errlen, "multipart: at byte %zu: part '%s' has no closing boundary",
                     (size_t)(data - base), part->name);
            return -EMBER_ETRUNC;
        }
        /* The line break before the delimiter belongs to it. */
        const unsigned char *dend = next;
        if (dend > data && dend[-1] == '\n')
            dend--;
        if (dend > data && dend[-1] == '\r')
            dend--;
        part->data = data;
        part->len = (size_t)(dend - data);
        m->nparts++;
        p = next;
    }
}

const struct multipart_part *multipart_get(const struct multipart *m, const char *name)
{
    for (size_t i = 0; i < m->nparts; i++) {
        if (!strcmp(m->parts[i].name, name))
            return &m->parts[i];
    }
    return NULL;
}
