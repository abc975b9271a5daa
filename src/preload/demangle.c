/* demangle.c - libember.so's symbol demangling: C++ through the program's own __cxa_demangle, Rust legacy names and plain nested C++ names by hand */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "preload/preload.h"

typedef char *(*cxa_demangle_fn)(const char *, char *, size_t *, int *);

/* Appends s[0..n) to out (capacity cap, length *len); 0, or -1 when it does not fit. */
static int put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + n + 1 > cap)
        return -1;
    memcpy(out + *len, s, n);
    *len += n;
    out[*len] = 0;
    return 0;
}

/* Reads a decimal length at *p (advancing it); 0 when there is none or it is absurd. */
static size_t read_len(const char **p)
{
    size_t n = 0;
    const char *s = *p;
    while (*s >= '0' && *s <= '9' && n < 100000)
        n = n * 10 + (size_t)(*s++ - '0');
    *p = s;
    return n;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* 1 if sym is a Rust legacy symbol: _ZN ... 17h<16 hex digits>E at the end. */
static int rust_legacy(const char *sym)
{
    size_t n = strlen(sym);
    if (n < 3 + 20 || strncmp(sym, "_ZN", 3) || sym[n - 1] != 'E')
        return 0;
    const char *h = sym + n - 1 - 19; /* "17h" + 16 hex */
    if (strncmp(h, "17h", 3))
        return 0;
    for (int i = 3; i < 19; i++)
        if (!is_hex(h[i]))
            return 0;
    return 1;
}

/* Decodes one Rust identifier (its $..$ escapes and ".." paths). 0, or -1 on a bad escape/overflow. */
static int rust_ident(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
    static const struct {
        const char *esc, *rep;
    } map[] = {{"$SP$", "@"}, {"$BP$", "*"}, {"$RF$", "&"}, {"$LT$", "<"}, {"$GT$", ">"},
               {"$LP$", "("}, {"$RP$", ")"}, {"$C$", ","}};
    size_t i = 0;
    if (n >= 2 && s[0] == '_' && s[1] == '$')
        i = 1;
    while (i < n) {
        if (s[i] == '$') {
            const char *end = memchr(s + i + 1, '$', n - i - 1);
            if (!end)
                return -1;
            size_t el = (size_t)(end - (s + i)) + 1;
            int done = 0;
            for (size_t k = 0; k < sizeof(map) / sizeof(map[0]) && !done; k++)
                if (strlen(map[k].esc) == el && !strncmp(s + i, map[k].esc, el)) {
                    if (put(out, cap, len, map[k].rep, 1))
                        return -1;
                    done = 1;
                }
            if (!done) {
                /* $uXX$: a character by its hex code */
                if (el < 4 || el > 6 || s[i + 1] != 'u')
                    return -1;
                unsigned c = 0;
                for (size_t k = i + 2; k < i + el - 1; k++) {
                    if (!is_hex(s[k]))
                        return -1;
                    c = c * 16 + (unsigned)(s[k] <= '9' ? s[k] - '0' : s[k] - 'a' + 10);
                }
                if (c < 0x20 || c > 0x7e)
                    return -1;
                char ch = (char)c;
                if (put(out, cap, len, &ch, 1))
                    return -1;
            }
            i += el;
        } else if (s[i] == '.' && i + 1 < n && s[i + 1] == '.') {
            if (put(out, cap, len, "::", 2))
                return -1;
            i += 2;
        } else {
            if (put(out, cap, len, s + i, 1))
                return -1;
            i++;
        }
    }
    return 0;
}

/*
 * The names of a nested name _ZN [rVK] <len><id>... E joined by "::"; for
 * Rust the last ("h" + hash) is dropped and identifiers are unescaped.
 * Returns 1 when demangled, 0 when sym has another form.
 */
static int nested(const char *sym, int rust, char *out, size_t cap)
{
    const char *p = sym + 3;
    while (*p == 'r' || *p == 'V' || *p == 'K')
        p++;
    size_t len = 0;
    out[0] = 0;
    int parts = 0;
    while (*p != 'E') {
        size_t n = read_len(&p);
        if (!n || strnlen(p, n) < n)
            return 0;
        if (rust && p[n] == 'E' && n == 17 && p[0] == 'h')
            break; /* the hash */
        if (parts && put(out, cap, &len, "::", 2))
            return 0;
        if (rust ? rust_ident(p, n, out, cap, &len) : put(out, cap, &len, p, n))
            return 0;
        p += n;
        parts++;
    }
    return parts > 0;
}

int pl_demangle(const char *sym, char *out, size_t cap)
{
    if (!sym || cap < 2 || strncmp(sym, "_Z", 2))
        return 0;
    if (rust_legacy(sym))
        return nested(sym, 1, out, cap);
    /* the program's C++ runtime, if it has one (never loaded by us) */
    cxa_demangle_fn fn = (cxa_demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
    if (fn) {
        int status = -1;
        char *d = fn(sym, NULL, NULL, &status);
        if (d && status == 0) {
            size_t n = strlen(d);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, d, n);
            out[n] = 0;
            free(d);
            return 1;
        }
        free(d);
        return 0;
    }
    /* without it: the qualified name of _ZN...E and _Z<len><name>, without the parameter types */
    if (sym[2] == 'N')
        return nested(sym, 0, out, cap);
    const char *p = sym + 2;
    size_t n = read_len(&p);
    if (!n || strnlen(p, n) < n || n >= cap)
        return 0;
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}
