/* cli.h - helpers shared by the CLI commands: value parsing, config files, HTTP to the server */
#ifndef EMBER_CLI_CLI_H
#define EMBER_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct labels;

/* The server used when --server is not given: $EMBER_SERVER_ADDRESS, else this. */
#define CLI_DEFAULT_SERVER "http://127.0.0.1:4040"

/*
 * Parses a byte size: a number (fraction allowed) with an optional unit
 * B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P/PB/PiB (case-insensitive;
 * every unit is a power of 1024, as Prometheus's retention size). "0" is 0.
 * Returns 0 and sets *out, or -EMBER_EINVAL_INPUT (bad form, negative,
 * unknown unit) or -EMBER_ETOOBIG (over 2^63).
 */
int cli_parse_size(const char *s, uint64_t *out);

/*
 * Parses "k=v,k2=v2" (values optionally double-quoted, `\` escapes inside
 * quotes; spaces around names and values ignored) into l, which must be
 * initialised; existing names are replaced. On error returns
 * -EMBER_EINVAL_INPUT and writes "at offset N: <problem>" into err
 * (invalid label name, missing '=', unterminated quote, empty pair).
 */
int cli_parse_labels(const char *s, struct labels *l, char *err, size_t errlen);

/* Parses a boolean: true/false, yes/no, on/off, 1/0. Returns 0, or -EMBER_EINVAL_INPUT. */
int cli_parse_bool(const char *s, int *out);

/* Parses a decimal integer in [min, max]. Returns 0, or -EMBER_EINVAL_INPUT. */
int cli_parse_int(const char *s, long min, long max, long *out);

/*
 * Called for each "key = value" or "key: value" of a config file, with the
 * value unquoted. Return 0 to go on, or a negative error and a message in
 * err to stop (the line number is prepended by cli_config_load()).
 */
typedef int (*cli_config_cb)(const char *key, const char *value, void *arg, char *err,
                             size_t errlen);

/*
 * Reads a config file of "key = value" / "key: value" lines; '#' starts a
 * comment, blank lines are ignored, values may be single- or double-quoted.
 * Returns 0; -errno if the file cannot be read; -EMBER_EINVAL_INPUT with
 * "PATH:LINE: <problem>" in err for a malformed line or a callback error.
 * Files over 1 MiB are refused (-EMBER_ETOOBIG).
 */
int cli_config_load(const char *path, cli_config_cb cb, void *arg, char *err, size_t errlen);

/* Reads a whole file ("-" = stdin) into out, failing with -EMBER_ETOOBIG past max bytes, or -errno.
 */
int cli_read_file(const char *path, struct buf *out, size_t max);

/* Returns the server URL to use: url if set, else $EMBER_SERVER_ADDRESS, else CLI_DEFAULT_SERVER.
 */
const char *cli_server_url(const char *url);

/* Appends s to out percent-encoded for a URL query component. */
void cli_url_escape(struct buf *out, const char *s);

/* Appends "&name=value" (or "?name=value" when out holds no '?') with value escaped; skips NULL. */
void cli_url_param(struct buf *out, const char *name, const char *value);

/* An HTTP response: the status code and the body. */
struct cli_http_resp {
    long status;
    struct buf body;
    char content_type[128];
};

void cli_http_resp_release(struct cli_http_resp *r);

/*
 * Sends one request with libcurl: GET when body is NULL, else POST of body
 * with content_type. tenant (may be NULL) goes in X-Scope-OrgID. Timeout
 * 60 s. Returns 0 when a response arrived (any status; see r->status), or
 * -EMBER_ENOTFOUND when the server could not be reached (message in err),
 * or another negative error with a message in err.
 */
int cli_http(const char *url, const char *tenant, const void *body, size_t n,
             const char *content_type, struct cli_http_resp *r, char *err, size_t errlen);

/*
 * Writes a message for a failed request to err: the "error" field of a
 * JSON body if there is one, else the body's first line, with the status.
 */
void cli_http_error(const struct cli_http_resp *r, char *err, size_t errlen);

#endif
