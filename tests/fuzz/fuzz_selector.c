/* fuzz_selector.c - libFuzzer target: selector parsing, formatting, re-parsing and matching */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "profile/labels.h"
#include "profile/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Checks, for any input: parsing either succeeds or fails with
 * -EMBER_EINVAL_INPUT and a message; a parsed selector formats to text that
 * parses again to the same matchers; matching never crashes.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct selector sel, again;
    struct labels l;
    struct buf b = BUF_INIT;
    char err[256];
    char *s;
    if (size > 4096)
        return 0;
    s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int rc = selector_parse(&sel, s, err, sizeof(err));
    if (rc) {
        if (rc != -EMBER_EINVAL_INPUT || !err[0])
            abort();
        goto out;
    }
    selector_format(&sel, &b);
    if (selector_parse(&again, b.data, err, sizeof(err)))
        abort(); /* formatted selectors must parse */
    if (again.n != sel.n)
        abort();
    for (size_t i = 0; i < sel.n; i++) {
        if (strcmp(again.m[i].name, sel.m[i].name) || strcmp(again.m[i].value, sel.m[i].value) ||
            again.m[i].op != sel.m[i].op)
            abort();
    }
    labels_init(&l);
    labels_set(&l, "service_name", "app");
    for (size_t i = 0; i < sel.n; i++)
        labels_set(&l, sel.m[i].name, sel.m[i].value);
    (void)selector_matches(&sel, &l);
    (void)selector_matches(&again, &l);
    labels_release(&l);
    selector_release(&again);
    selector_release(&sel);
out:
    buf_release(&b);
    free(s);
    return 0;
}
