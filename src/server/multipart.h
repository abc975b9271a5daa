/* multipart.h - a small multipart/form-data parser (RFC 7578) over a complete body in memory */
#ifndef EMBER_SERVER_MULTIPART_H
#define EMBER_SERVER_MULTIPART_H

#include <stddef.h>

#define MULTIPART_MAX_PARTS    16
#define MULTIPART_BOUNDARY_MAX 70

/* One part; every pointer borrows from the body given to multipart_parse(). */
struct multipart_part {
    const char *name; /* form field name (NUL-terminated copy in the part's own storage) */
    char name_buf[64];
    char filename[128];     /* "" when absent (truncated when longer) */
    char content_type[128]; /* "" when absent */
    const unsigned char *data;
    size_t len;
};

struct multipart {
    struct multipart_part parts[MULTIPART_MAX_PARTS];
    size_t nparts;
};

/*
 * Extracts the boundary parameter of a Content-Type value like
 * `multipart/form-data; boundary="abc"` into out (NUL-terminated). Returns
 * 0, or -EMBER_EINVAL_INPUT if the type is not multipart/form-data or the
 * boundary is missing, empty or longer than 70 characters (message in err).
 */
int multipart_boundary(const char *content_type, char *out, size_t outlen, char *err,
                       size_t errlen);

/* True if the Content-Type value says multipart/form-data (case-insensitive). */
int multipart_is_form(const char *content_type);

/*
 * Splits body[0..n) into parts. A preamble before the first boundary is
 * skipped; the closing "--boundary--" is required. Part headers are limited
 * to 8 KiB; at most MULTIPART_MAX_PARTS parts. Returns 0, or
 * -EMBER_EINVAL_INPUT / -EMBER_ETRUNC / -EMBER_ETOOBIG with "multipart: at
 * byte N: ..." in err.
 */
int multipart_parse(struct multipart *m, const void *body, size_t n, const char *boundary,
                    char *err, size_t errlen);

/* The first part named name, or NULL. */
const struct multipart_part *multipart_get(const struct multipart *m, const char *name);

#endif
