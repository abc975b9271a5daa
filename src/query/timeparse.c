/* timeparse.c - query times ("now-1h", unix s/ms/us/ns, RFC 3339) and durations ("1h30m") */
#include "timeparse.h"

#include <limits.h>
#include <string.h>

#include "base/err.h"

#define NS_PER_S   1000000000LL
#define NS_PER_MIN (60 * NS_PER_S)
#define NS_PER_H   (60 * NS_PER_MIN)
#define NS_PER_D   (24 * NS_PER_H)
#define NS_PER_W   (7 * NS_PER_D)

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Adds a*b to *acc, failing on overflow. */
static int add_mul(int64_t *acc, int64_t a, int64_t b)
{
    int64_t p;
    if (__builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(*acc, p, acc))
        return -EMBER_EINVAL_INPUT;
    return 0;
}

/*
 * Parses a Go/Prometheus-style duration from s[0..n): one or more
 * number+unit pairs ("1h30m", "1.5h", "500ms"), units ns us µs ms s m h d w.
 */
static int parse_units(const char *s, size_t n, int64_t *out)
{
    static const struct {
        const char *u;
        int64_t ns;
    } units[] = {
        {"ns", 1},         {"us", 1000},    {"\xc2\xb5s", 1000}, {"ms", 1000000}, {"s", NS_PER_S},
        {"m", NS_PER_MIN}, {"h", NS_PER_H}, {"d", NS_PER_D},     {"w", NS_PER_W},
    };
    int64_t total = 0;
    size_t i = 0;
    if (n == 0)
        return -EMBER_EINVAL_INPUT;
    while (i < n) {
        int64_t whole = 0, frac = 0, frac_div = 1;
        size_t start = i;
        while (i < n && is_digit(s[i])) {
            if (__builtin_mul_overflow(whole, 10, &whole) ||
                __builtin_add_overflow(whole, s[i] - '0', &whole))
                return -EMBER_EINVAL_INPUT;
            i++;
        }
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && is_digit(s[i])) {
                if (frac_div < 1000000000000LL) {
                    frac = frac * 10 + (s[i] - '0');
                    frac_div *= 10;
                }
                i++;
            }
        }
        if (i == start || (i == start + 1 && s[start] == '.'))
            return -EMBER_EINVAL_INPUT;
        size_t ustart = i;
        while (i < n && !is_digit(s[i]) && s[i] != '.')
            i++;
        size_t ulen = i - ustart;
        int64_t mult = -1;
        for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            if (strlen(units[k].u) == ulen && memcmp(units[k].u, s + ustart, ulen) == 0)
                mult = units[k].ns;
        }
        if (mult < 0)
            return -EMBER_EINVAL_INPUT;
        if (add_mul(&total, whole, mult))
            return -EMBER_EINVAL_INPUT;
        /* frac/frac_div * mult without overflow: frac < frac_div <= 1e12, mult <= 6e14 */
        total += (int64_t)((double)frac * (double)mult / (double)frac_div);
    }
    *out = total;
    return 0;
}

int duration_parse(const char *s, int64_t *out_ns)
{
    size_t n = s ? strlen(s) : 0;
    int64_t v = 0;
    size_t i;
    if (n == 0 || n > 64)
        return -EMBER_EINVAL_INPUT;
    for (i = 0; i < n && is_digit(s[i]); i++)
        ;
    if (i == n) { /* bare seconds */
        for (i = 0; i < n; i++) {
            if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s[i] - '0', &v))
                return -EMBER_EINVAL_INPUT;
        }
        if (__builtin_mul_overflow(v, NS_PER_S, &v))
            return -EMBER_EINVAL_INPUT;
        *out_ns = v;
        return 0;
    }
    if (parse_units(s, n, &v))
        return -EMBER_EINVAL_INPUT;
    *out_ns = v;
    return 0;
}

/* Reads exactly n digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return -1;
        x = x * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* RFC 3339: YYYY-MM-DD[Tt ]hh:mm:ss[.frac](Z|z|±hh:mm). Also accepts a bare date (UTC). */
static int parse_rfc3339(const char *s, int64_t *out)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t frac_ns = 0, off_s = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -EMBER_EINVAL_INPUT;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -EMBER_EINVAL_INPUT;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -EMBER_EINVAL_INPUT;
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
            digits(&p, 2, &sec))
            return -EMBER_EINVAL_INPUT;
        if (h > 23 || mi > 59 || sec > 60) /* 60: a leap second, folded into the next */
            return -EMBER_EINVAL_INPUT;
        if (*p == '.' || *p == ',') {
            int64_t scale = 100000000;
            p++;
            if (!is_digit(*p))
                return -EMBER_EINVAL_INPUT;
            while (is_digit(*p)) {
                frac_ns += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om, sign = *p == '-' ? -1 : 1;
            p++;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return -EMBER_EINVAL_INPUT;
            off_s = sign * (oh * 3600 + om * 60);
        } else {
            return -EMBER_EINVAL_INPUT;
        }
        if (*p)
            return -EMBER_EINVAL_INPUT;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_s;
    /* int64 nanoseconds reach years 1677..2262 */
    if (secs < -9223372035LL || secs > 9223372035LL)
        return -EMBER_EINVAL_INPUT;
    *out = secs * NS_PER_S + frac_ns;
    return 0;
}

/* A unix timestamp; the unit is chosen by magnitude (s < 1e11 <= ms < 1e14 <= us < 1e17 <= ns). */
static int parse_unix(const char *s, int64_t *out)
{
    const char *p = s;
    int neg = 0;
    int64_t v = 0, frac_ns = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(*p))
        return -EMBER_EINVAL_INPUT;
    while (is_digit(*p)) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
            return -EMBER_EINVAL_INPUT;
        p++;
    }
    int has_frac = 0;
    if (*p == '.') { /* fractional seconds, as some clients send */
        int64_t scale = 100000000;
        p++;
        has_frac = 1;
        if (!is_digit(*p))
            return -EMBER_EINVAL_INPUT;
        while (is_digit(*p)) {
            frac_ns += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    if (*p)
        return -EMBER_EINVAL_INPUT;
    int64_t mult;
    if (has_frac || v < 100000000000LL)
        mult = NS_PER_S;
    else if (v < 100000000000000LL)
        mult = 1000000;
    else if (v < 100000000000000000LL)
        mult = 1000;
    else
        mult = 1;
    if (has_frac && v >= 100000000000LL)
        return -EMBER_EINVAL_INPUT;
    if (__builtin_mul_overflow(v, mult, &v) || __builtin_add_overflow(v, frac_ns, &v))
        return -EMBER_EINVAL_INPUT;
    *out = neg ? -v : v;
    return 0;
}

int time_parse(const char *s, int64_t now_ns, int64_t *out_ns)
{
    size_t n;
    if (!s)
        return -EMBER_EINVAL_INPUT;
    n = strlen(s);
    if (n == 0 || n > 64)
        return -EMBER_EINVAL_INPUT;
    if (strncmp(s, "now", 3) == 0) {
        int64_t d = 0, t = now_ns;
        if (n == 3) {
            *out_ns = now_ns;
            return 0;
        }
        if ((s[3] != '-' && s[3] != '+') || parse_units(s + 4, n - 4, &d))
            return -EMBER_EINVAL_INPUT;
        if (s[3] == '-' ? __builtin_sub_overflow(t, d, &t) : __builtin_add_overflow(t, d, &t))
            return -EMBER_EINVAL_INPUT;
        *out_ns = t;
        return 0;
    }
    if (n >= 10 && is_digit(s[0]) && s[4] == '-')
        return parse_rfc3339(s, out_ns);
    return parse_unix(s, out_ns);
}
