/* relabel.c - the agent's config file: rules that rename (service_name) or drop processes */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "agent/relabel.h"

#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xalloc.h"

/* Limits on the untrusted config file. */
#define RELABEL_MAX_RULES 1024
#define RELABEL_MAX_FILE  (1u << 20)

enum relabel_field { FIELD_EXE, FIELD_CGROUP, FIELD_COMM };

struct relabel_rule {
    enum relabel_field field;
    pcre2_code *re;
    int drop;
    char *service; /* template with $1..$9, when !drop */
};

struct relabel_rules {
    VEC(struct relabel_rule) v;
    pcre2_match_data *md;
};

void relabel_free(struct relabel_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->v.len; i++) {
        pcre2_code_free(r->v.data[i].re);
        free(r->v.data[i].service);
    }
    free(r->v.data);
    pcre2_match_data_free(r->md);
    free(r);
}

/* Next whitespace-separated word of line at *p (NUL-terminated in place); NULL at the end. */
static char *word(char **p)
{
    char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return NULL;
    char *e = s + strcspn(s, " \t");
    if (*e)
        *e++ = 0;
    *p = e;
    return s;
}

static int parse_line(struct relabel_rules *r, char *line, unsigned lineno, char *err,
                      size_t errlen)
{
    char *start = line, *p = line;
    char *w = word(&p);
    if (!w || *w == '#')
        return 0;
    if (strcmp(w, "match")) {
        snprintf(err, errlen, "line %u, column %ld: unknown directive '%s' (want 'match')", lineno,
                 (long)(w - start) + 1, w);
        return -EINVAL;
    }
    struct relabel_rule rule = {0};
    char *m = word(&p), *act = word(&p), *extra = word(&p);
    if (!m || !act) {
        snprintf(err, errlen, "line %u: want 'match exe|cgroup|comm=REGEX service_name=NAME|drop'",
                 lineno);
        return -EINVAL;
    }
    if (extra && *extra != '#') {
        snprintf(err, errlen, "line %u, column %ld: unexpected '%s'", lineno,
                 (long)(extra - start) + 1, extra);
        return -EINVAL;
    }
    const char *re;
    if (!strncmp(m, "exe=", 4))
        rule.field = FIELD_EXE, re = m + 4;
    else if (!strncmp(m, "cgroup=", 7))
        rule.field = FIELD_CGROUP, re = m + 7;
    else if (!strncmp(m, "comm=", 5))
        rule.field = FIELD_COMM, re = m + 5;
    else {
        snprintf(err, errlen, "line %u, column %ld: want exe=, cgroup= or comm=, got '%s'", lineno,
                 (long)(m - start) + 1, m);
        return -EINVAL;
    }
    if (!strcmp(act, "drop")) {
        rule.drop = 1;
    } else if (!strncmp(act, "service_name=", 13) && act[13]) {
        rule.service = xstrdup(act + 13);
    } else {
        snprintf(err, errlen, "line %u, column %ld: want service_name=NAME or drop, got '%s'",
                 lineno, (long)(act - start) + 1, act);
        return -EINVAL;
    }
    int ec;
    PCRE2_SIZE eoff;
    rule.re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &ec, &eoff, NULL);
    if (!rule.re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        snprintf(err, errlen, "line %u, column %ld: bad regex: %s", lineno,
                 (long)(re - start) + 1 + (long)eoff, (const char *)msg);
        free(rule.service);
        return -EINVAL;
    }
    if (r->v.len >= RELABEL_MAX_RULES) {
        snprintf(err, errlen, "line %u: more than %d rules", lineno, RELABEL_MAX_RULES);
        pcre2_code_free(rule.re);
        free(rule.service);
        return -EINVAL;
    }
    VEC_PUSH(r->v, rule);
    return 0;
}

int relabel_parse(const char *text, size_t len, struct relabel_rules **out, char *err,
                  size_t errlen)
{
    struct relabel_rules *r = xcalloc(1, sizeof(*r));
    int rc = 0;
    unsigned lineno = 0;
    for (size_t i = 0; i < len && !rc;) {
        size_t n = 0;
        while (i + n < len && text[i + n] != '\n')
            n++;
        lineno++;
        if (memchr(text + i, 0, n)) {
            snprintf(err, errlen, "line %u: NUL byte", lineno);
            rc = -EINVAL;
            break;
        }
        char *line = xmalloc(n + 1);
        memcpy(line, text + i, n);
        line[n] = 0;
        if (n && line[n - 1] == '\r')
            line[n - 1] = 0;
        rc = parse_line(r, line, lineno, err, errlen);
        free(line);
        i += n + 1;
    }
    if (!rc) {
        r->md = pcre2_match_data_create(10, NULL);
        if (!r->md)
            rc = -ENOMEM;
    }
    if (rc) {
        relabel_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int relabel_load(const char *path, struct relabel_rules **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *buf = xmalloc(RELABEL_MAX_FILE + 1);
    size_t n = fread(buf, 1, RELABEL_MAX_FILE + 1, f);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (!rc && n > RELABEL_MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, RELABEL_MAX_FILE);
        rc = -EINVAL;
    } else if (rc) {
        snprintf(err, errlen, "%s: read error", path);
    } else {
        char msg[256];
        rc = relabel_parse(buf, n, out, msg, sizeof(msg));
        if (rc)
            snprintf(err, errlen, "%s: %s", path, msg);
    }
    free(buf);
    return rc;
}

int relabel_uses_cgroup(const struct relabel_rules *r)
{
    for (size_t i = 0; r && i < r->v.len; i++)
        if (r->v.data[i].field == FIELD_CGROUP)
            return 1;
    return 0;
}

/* Expands $1..$9 of tmpl with the groups of the last match of subject into out (size n). */
static void expand(const struct relabel_rules *r, const char *tmpl, const char *subject, char *out,
                   size_t n)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->md);
    uint32_t groups = pcre2_get_ovector_count(r->md);
    size_t o = 0;
    for (const char *t = tmpl; *t && o + 1 < n; t++) {
        if (t[0] == '$' && t[1] >= '1' && t[1] <= '9') {
            uint32_t g = (uint32_t)(t[1] - '0');
            t++;
            if (g < groups && ov[2 * g] != PCRE2_UNSET) {
                size_t len = ov[2 * g + 1] - ov[2 * g];
                if (len > n - 1 - o)
                    len = n - 1 - o;
                memcpy(out + o, subject + ov[2 * g], len);
                o += len;
            }
            continue;
        }
        out[o++] = *t;
    }
    out[o] = 0;
}

enum relabel_action relabel_apply(const struct relabel_rules *r, const char *exe,
                                  const char *cgroup, const char *comm, char *service, size_t n)
{
    for (size_t i = 0; r && i < r->v.len; i++) {
        const struct relabel_rule *rule = &r->v.data[i];
        const char *subj = rule->field == FIELD_EXE      ? exe
                           : rule->field == FIELD_CGROUP ? cgroup
                                                         : comm;
        if (!subj)
            subj = "";
        if (pcre2_match(rule->re, (PCRE2_SPTR)subj, strlen(subj), 0, 0, r->md, NULL) < 0)
            continue;
        if (rule->drop)
            return RELABEL_DROP;
        char tmp[256];
        expand(r, rule->service, subj, tmp, sizeof(tmp));
        snprintf(service, n, "%s", tmp);
        return RELABEL_KEEP;
    }
    return RELABEL_NONE;
}
