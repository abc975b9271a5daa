/* ui.c - lookup in the embedded UI table, with index.html for client-side routes */
#include "ui.h"

#include <string.h>

/* Generated at build time (tools/embed.py). */
extern const struct ui_asset ui_assets[];

static const struct ui_asset *exact(const char *path)
{
    for (const struct ui_asset *a = ui_assets; a->path; a++) {
        if (!strcmp(a->path, path))
            return a;
    }
    return NULL;
}

size_t ui_count(void)
{
    size_t n = 0;

    for (const struct ui_asset *a = ui_assets; a->path; a++)
        n++;
    return n;
}

const struct ui_asset *ui_find(const char *path)
{
    const struct ui_asset *a;
    const char *last;

    if (!strcmp(path, "/"))
        return exact("/index.html");
    a = exact(path);
    if (a)
        return a;
    last = strrchr(path, '/');
    if (last && strchr(last, '.'))
        return NULL; /* a missing file, not a route */
    return exact("/index.html");
}
