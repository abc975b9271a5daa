/* ui.h - the embedded web UI: files compiled into the binary by tools/embed.py */
#ifndef EMBER_SERVER_UI_H
#define EMBER_SERVER_UI_H

#include <stddef.h>

/* One embedded file; the generated table (build/gen/ui_assets.c) ends with a NULL path. */
struct ui_asset {
    const char *path; /* "/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

/*
 * The asset for a URL path: "/" is "/index.html"; an unknown path that does
 * not look like a file (no '.' in its last segment) gets index.html so
 * client-side routes work. NULL if there is nothing to serve (empty UI, or
 * an unknown file).
 */
const struct ui_asset *ui_find(const char *path);

/* Number of embedded files. */
size_t ui_count(void);

#endif
