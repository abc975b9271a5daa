/* cli.c - value parsing, config files and HTTP requests for the CLI commands */
#include "cli/cli.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "base/xalloc.h"
#include "profile/labels.h"

#define CONFIG_MAX_BYTES (1u << 20)

int cli_parse_size(const char *s, uint64_t *out)
{
    static const struct {
        const char *name;
        int shift;
    } units[] = {
        {"", 0},    {"b", 0},    {"k", 10}, {"kb", 10}, {"kib", 10}, {"m", 20},
        {"mb", 20}, {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},
        {"tb", 40}, {"tib", 40}, {"p", 50}, {"pb", 50}, {"pib", 50},
    };
    if (!s)
        return -EMBER_EINVAL_INPUT;
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s) && *s != '.')
        return -EMBER_EINVAL_INPUT;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0)
        return -EMBER_EINVAL_INPUT;
    while (isspace((unsigned char)*end))
        end++;
    size_t ulen = strlen(end);
    while (ulen && isspace((unsigned char)end[ulen - 1]))
        ulen--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) != ulen || strncasecmp(end, units[i].name, ulen))
            continue;
        double bytes = ldexp(v, units[i].shift);
        if (bytes >= 9223372036854775807.0)
            return -EMBER_ETOOBIG;
        *out = (uint64_t)(bytes + 0.5);
        return 0;
    }
    return -EMBER_EINVAL_INPUT;
}

int cli_parse_bool(const char *s, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -EMBER_EINVAL_INPUT;
}

int cli_parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max)
        return -EMBER_EINVAL_INPUT;
    *out = v;
    return 0;
}

static void skip_spaces(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\t')
        (*i)++;
}

int cli_parse_labels(const char *s, struct labels *l, char *err, size_t errlen)
{
    struct buf val = BUF_INIT;
    int rc = 0;
    size_t i = 0;
    skip_spaces(s, &i);
    if (!s[i])
        goto out; /* empty: no labels */
    for (;;) {
        skip_spaces(s, &i);
        size_t name_at = i;
        while (s[i] && s[i] != '=' && s[i] != ',' && s[i] != ' ' && s[i] != '\t')
            i++;
        size_t name_len = i - name_at;
        skip_spaces(s, &i);
        if (name_len == 0) {
            snprintf(err, errlen, "at offset %zu: expected a label name", name_at);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
        if (!label_name_valid(s + name_at, name_len)) {
            snprintf(err, errlen, "at offset %zu: invalid label name '%.*s'", name_at,
                     (int)name_len, s + name_at);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
        if (s[i] != '=') {
            snprintf(err, errlen, "at offset %zu: expected '=' after '%.*s'", i, (int)name_len,
                     s + name_at);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
        i++;
        skip_spaces(s, &i);
        buf_reset(&val);
        if (s[i] == '"') {
            size_t quote_at = i++;
            while (s[i] && s[i] != '"') {
                if (s[i] == '\\' && s[i + 1])
                    i++;
                buf_putc(&val, s[i++]);
            }
            if (s[i] != '"') {
                snprintf(err, errlen, "at offset %zu: unterminated quoted value", quote_at);
                rc = -EMBER_EINVAL_INPUT;
                goto out;
            }
            i++;
        } else {
            size_t at = i;
            while (s[i] && s[i] != ',')
                i++;
            size_t end = i;
            while (end > at && (s[end - 1] == ' ' || s[end - 1] == '\t'))
                end--;
            buf_append(&val, s + at, end - at);
        }
        labels_setn(l, s + name_at, name_len, val.data ? val.data : "", val.len);
        skip_spaces(s, &i);
        if (!s[i])
            break;
        if (s[i] != ',') {
            snprintf(err, errlen, "at offset %zu: expected ',' or the end", i);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
        i++;
    }
out:
    buf_release(&val);
    return rc;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

int cli_config_load(const char *path, cli_config_cb cb, void *arg, char *err, size_t errlen)
{
    struct buf data = BUF_INIT;
    int rc = cli_read_file(path, &data, CONFIG_MAX_BYTES);
    if (rc) {
        snprintf(err, errlen, "cannot read config file '%s': %s", path, ember_strerror(rc));
        goto out;
    }
    if (memchr(data.data, 0, data.len)) {
        snprintf(err, errlen, "%s: not a text file (NUL byte)", path);
        rc = -EMBER_EINVAL_INPUT;
        goto out;
    }
    char *p = data.data;
    for (unsigned lineno = 1; p && *p; lineno++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        char *line = p;
        p = nl ? nl + 1 : NULL;
        /* a '#' outside quotes starts a comment */
        char q = 0;
        for (char *c = line; *c; c++) {
            if (q) {
                if (*c == q)
                    q = 0;
            } else if (*c == '"' || *c == '\'') {
                q = *c;
            } else if (*c == '#') {
                *c = 0;
                break;
            }
        }
        line = trim(line);
        if (!*line)
            continue;
        size_t k = strcspn(line, "=:");
        if (!line[k]) {
            snprintf(err, errlen, "%s:%u: expected 'key = value' or 'key: value'", path, lineno);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
        line[k] = 0;
        char *key = trim(line), *value = trim(line + k + 1);
        size_t vn = strlen(value);
        if (vn >= 2 && (value[0] == '"' || value[0] == '\'') && value[vn - 1] == value[0]) {
            value[vn - 1] = 0;
            value++;
        }
        if (!*key) {
            snprintf(err, errlen, "%s:%u: missing key before the separator", path, lineno);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
        char msg[256] = "";
        rc = cb(key, value, arg, msg, sizeof(msg));
        if (rc) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
            rc = -EMBER_EINVAL_INPUT;
            goto out;
        }
    }
out:
    buf_release(&data);
    return rc;
}

int cli_read_file(const char *path, struct buf *out, size_t max)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return -errno;
    int rc = 0;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (out->len + n > max) {
            rc = -EMBER_ETOOBIG;
            goto out;
        }
        buf_append(out, chunk, n);
    }
    if (ferror(f))
        rc = errno ? -errno : -EIO;
out:
    if (f != stdin)
        fclose(f);
    if (!out->data)
        buf_puts(out, ""); /* an empty file still gives a NUL-terminated buffer */
    return rc;
}

const char *cli_server_url(const char *url)
{
    if (url && *url)
        return url;
    const char *env = getenv("EMBER_SERVER_ADDRESS");
    return env && *env ? env : CLI_DEFAULT_SERVER;
}

void cli_url_escape(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hex[c >> 4]);
            buf_putc(out, hex[c & 15]);
        }
    }
}

void cli_url_param(struct buf *out, const char *name, const char *value)
{
    if (!value)
        return;
    buf_putc(out, out->data && strchr(out->data, '?') ? '&' : '?');
    buf_puts(out, name);
    buf_putc(out, '=');
    cli_url_escape(out, value);
}

void cli_http_resp_release(struct cli_http_resp *r)
{
    buf_release(&r->body);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    buf_append(b, p, size * nmemb);
    return size * nmemb;
}

int cli_http(const char *url, const char *tenant, const void *body, size_t n,
             const char *content_type, struct cli_http_resp *r, char *err, size_t errlen)
{
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    memset(r, 0, sizeof(*r));
    int rc = 0;
    struct curl_slist *hdrs = NULL;
    char *h = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -ENOMEM;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ember-cli/" EMBER_VERSION);
    if (tenant && *tenant) {
        h = xasprintf("X-Scope-OrgID: %s", tenant);
        hdrs = curl_slist_append(hdrs, h);
    }
    if (body) {
        free(h);
        h = xasprintf("Content-Type: %s", content_type ? content_type : "application/octet-stream");
        hdrs = curl_slist_append(hdrs, h);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
        hdrs = curl_slist_append(hdrs, "Expect:");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cc));
        rc = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                     cc == CURLE_OPERATION_TIMEDOUT
                 ? -EMBER_ENOTFOUND
                 : -EIO;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct)
        snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
    if (!r->body.data)
        buf_puts(&r->body, "");
out:
    free(h);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

void cli_http_error(const struct cli_http_resp *r, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = r->body.len ? json_loadb(r->body.data, r->body.len, 0, &je) : NULL;
    const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
    if (msg) {
        snprintf(err, errlen, "server said %ld: %s", r->status, msg);
    } else if (r->body.len) {
        size_t line = strcspn(r->body.data, "\r\n");
        snprintf(err, errlen, "server said %ld: %.*s", r->status, (int)(line > 300 ? 300 : line),
                 r->body.data);
    } else {
        snprintf(err, errlen, "server said %ld", r->status);
    }
    json_decref(j);
}
