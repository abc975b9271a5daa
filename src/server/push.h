/* push.h - decoding Connect PushRequest bodies (application/proto and application/json) */
#ifndef EMBER_SERVER_PUSH_H
#define EMBER_SERVER_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "base/xalloc.h"
#include "profile/labels.h"

struct push_sample {
    const uint8_t *data; /* raw pprof (gzip or not); borrowed from the body or owned below */
    size_t len;
    uint8_t *owned; /* non-NULL when decoded from base64 */
    char *id;       /* owned, may be NULL */
};

struct push_series {
    struct labels labels;
    VEC(struct push_sample) samples;
};

/* PushRequest{series=1 [RawProfileSeries{labels=1 [LabelPair{name=1,value=2}], samples=2
 * [RawSample{raw_profile=1, ID=2}]}]} */
struct push_request {
    VEC(struct push_series) series;
};

void push_request_init(struct push_request *r);
void push_request_release(struct push_request *r);

/*
 * Decodes a binary PushRequest. Raw profiles borrow from body, which must
 * outlive r. Label names and values are checked for length (max_value_len)
 * but not for syntax. Returns 0 or a negative error with "push: at byte N:
 * ..." in err. A label given twice keeps the last value.
 */
int push_decode_proto(struct push_request *r, const void *body, size_t n, size_t max_value_len,
                      char *err, size_t errlen);

/*
 * Decodes the JSON form (proto3 JSON mapping: series[].labels[].{name,value},
 * series[].samples[].{rawProfile (base64), ID}; the snake_case field names
 * are accepted too). Returns 0 or a negative error with a message in err.
 */
int push_decode_json(struct push_request *r, const void *body, size_t n, size_t max_value_len,
                     char *err, size_t errlen);

/*
 * Decodes standard or URL-safe base64 (padding optional, whitespace
 * ignored) into a new buffer *out of *outlen bytes. Returns 0 or
 * -EMBER_EINVAL_INPUT (then *out is NULL).
 */
int base64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen);

#endif
