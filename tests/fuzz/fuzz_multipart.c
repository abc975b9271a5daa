/* fuzz_multipart.c - libFuzzer target: multipart/form-data splitting, boundaries, ingest names */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "server/appname.h"
#include "server/multipart.h"

/* The fuzz library holds base/profile/query/store only; the server parsers come in here. */
#include "../../src/server/appname.c"
#include "../../src/server/multipart.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parts(const struct multipart *m, const uint8_t *body, size_t n)
{
    if (m->nparts > MULTIPART_MAX_PARTS)
        abort();
    for (size_t i = 0; i < m->nparts; i++) {
        const struct multipart_part *p = &m->parts[i];
        if (!p->name || !p->name[0])
            abort();
        if (p->data < body || p->data + p->len > body + n)
            abort(); /* parts borrow from the body */
        if (multipart_get(m, p->name) == NULL)
            abort();
    }
}

/*
 * Input: byte 0 picks the mode. Mode 0: the rest is "boundary\n" + body.
 * Mode 1: the rest is a Content-Type value. Mode 2: an ingest name.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512], boundary[MULTIPART_BOUNDARY_MAX + 1];
    char *s;

    if (size < 1)
        return 0;
    s = malloc(size);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    switch (data[0] % 3) {
    case 0: {
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        if (!nl || nl == data + 1 || (size_t)(nl - data - 1) > MULTIPART_BOUNDARY_MAX)
            break;
        memcpy(boundary, data + 1, (size_t)(nl - data - 1));
        boundary[nl - data - 1] = 0;
        if (strlen(boundary) == 0)
            break;
        struct multipart m;
        const uint8_t *body = nl + 1;
        size_t n = size - (size_t)(body - data);
        err[0] = 0;
        int rc = multipart_parse(&m, body, n, boundary, err, sizeof(err));
        if (rc == 0)
            check_parts(&m, body, n);
        else if (strncmp(err, "multipart: ", 11))
            abort();
        break;
    }
    case 1:
        err[0] = 0;
        if (multipart_boundary(s, boundary, sizeof(boundary), err, sizeof(err)) == 0) {
            if (!boundary[0] || strlen(boundary) > MULTIPART_BOUNDARY_MAX)
                abort();
        } else if (strncmp(err, "multipart: ", 11)) {
            abort();
        }
        break;
    default: {
        struct appname a;
        err[0] = 0;
        if (appname_parse(&a, s, err, sizeof(err)) == 0) {
            if (!a.app || !a.type)
                abort();
        } else if (strncmp(err, "name: ", 6)) {
            abort();
        }
        appname_release(&a);
        break;
    }
    }
    free(s);
    return 0;
}
