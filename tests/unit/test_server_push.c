/* test_server_push.c - PushRequest decoding (proto and JSON) and base64 */
#include "base/buf.h"
#include "base/err.h"
#include "profile/pbwire.h"
#include "server/push.h"
#include "test.h"

static void put_label(struct buf *b, const char *n, const char *v)
{
    size_t m = pb_begin(b, 1);
    pb_put_str(b, 1, n);
    pb_put_str(b, 2, v);
    pb_end(b, m);
}

TEST(server_push_proto)
{
    struct buf b = BUF_INIT;
    struct push_request r;
    char err[256];
    size_t s1 = pb_begin(&b, 1), smp;

    put_label(&b, "__name__", "process_cpu");
    put_label(&b, "service_name", "app");
    smp = pb_begin(&b, 2);
    pb_put_bytes(&b, 1, "PPROF", 5);
    pb_put_str(&b, 2, "id-1");
    pb_end(&b, smp);
    smp = pb_begin(&b, 2);
    pb_put_bytes(&b, 1, "XY", 2);
    pb_end(&b, smp);
    pb_put_uint(&b, 3, 7); /* annotations: ignored, even with the wrong wire type */
    pb_end(&b, s1);
    s1 = pb_begin(&b, 1);
    put_label(&b, "service_name", "other");
    pb_end(&b, s1);
    pb_put_uint(&b, 9, 1); /* unknown field */

    push_request_init(&r);
    ASSERT_OK(push_decode_proto(&r, b.data, b.len, 2048, err, sizeof(err)));
    ASSERT_EQ(r.series.len, 2);
    ASSERT_STREQ(labels_get(&r.series.data[0].labels, "__name__"), "process_cpu");
    ASSERT_STREQ(labels_get(&r.series.data[0].labels, "service_name"), "app");
    ASSERT_EQ(r.series.data[0].samples.len, 2);
    ASSERT_EQ(r.series.data[0].samples.data[0].len, 5);
    ASSERT(!memcmp(r.series.data[0].samples.data[0].data, "PPROF", 5));
    ASSERT_STREQ(r.series.data[0].samples.data[0].id, "id-1");
    ASSERT_EQ(r.series.data[0].samples.data[1].len, 2);
    ASSERT_EQ(r.series.data[1].samples.len, 0);
    push_request_release(&r);

    /* every truncation fails cleanly */
    for (size_t n = 1; n < b.len; n++) {
        push_request_init(&r);
        int ret = push_decode_proto(&r, b.data, n, 2048, err, sizeof(err));
        if (ret)
            ASSERT(strstr(err, "push: at byte"));
        push_request_release(&r);
    }
    buf_release(&b);
}

TEST(server_push_proto_limits)
{
    struct buf b = BUF_INIT;
    struct push_request r;
    char err[256], big[100];
    size_t s1 = pb_begin(&b, 1);

    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    put_label(&b, "k", big);
    pb_end(&b, s1);
    push_request_init(&r);
    ASSERT_EQ(push_decode_proto(&r, b.data, b.len, 50, err, sizeof(err)), -EMBER_ETOOBIG);
    ASSERT(strstr(err, "label value is too long"));
    push_request_release(&r);
    buf_release(&b);
}

TEST(server_push_json)
{
    static const char js[] =
        "{\"series\":[{\"labels\":[{\"name\":\"__name__\",\"value\":\"memory\"},"
        "{\"name\":\"service_name\",\"value\":\"svc\"}],"
        "\"samples\":[{\"rawProfile\":\"aGVsbG8=\",\"ID\":\"u-1\"},{\"raw_profile\":\"aGk\"}]}]}";
    struct push_request r;
    char err[256];

    push_request_init(&r);
    ASSERT_OK(push_decode_json(&r, js, sizeof(js) - 1, 2048, err, sizeof(err)));
    ASSERT_EQ(r.series.len, 1);
    ASSERT_STREQ(labels_get(&r.series.data[0].labels, "__name__"), "memory");
    ASSERT_EQ(r.series.data[0].samples.len, 2);
    ASSERT_EQ(r.series.data[0].samples.data[0].len, 5);
    ASSERT(!memcmp(r.series.data[0].samples.data[0].data, "hello", 5));
    ASSERT_STREQ(r.series.data[0].samples.data[0].id, "u-1");
    ASSERT_EQ(r.series.data[0].samples.data[1].len, 2);
    push_request_release(&r);
}

TEST(server_push_json_errors)
{
    struct push_request r;
    char err[256];
    static const char *bad[] = {
        "{",
        "[]",
        "{\"series\":{}}",
        "{\"series\":[{\"labels\":[{\"name\":1}]}]}",
        "{\"series\":[{\"samples\":[{\"rawProfile\":\"@@@\"}]}]}",
        "{\"series\":[{\"samples\":[{\"rawProfile\":7}]}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        push_request_init(&r);
        ASSERT_EQ(push_decode_json(&r, bad[i], strlen(bad[i]), 2048, err, sizeof(err)),
                  -EMBER_EINVAL_INPUT);
        ASSERT(strncmp(err, "push: ", 6) == 0);
        push_request_release(&r);
    }
}

TEST(server_push_base64)
{
    uint8_t *out;
    size_t n;

    ASSERT_OK(base64_decode("Zm9vYmFy", 8, &out, &n));
    ASSERT_EQ(n, 6);
    ASSERT(!memcmp(out, "foobar", 6));
    free(out);
    ASSERT_OK(base64_decode("Zm9vYg==", 8, &out, &n));
    ASSERT_EQ(n, 4);
    free(out);
    ASSERT_OK(base64_decode("_-8", 3, &out, &n)); /* URL-safe alphabet */
    ASSERT_EQ(n, 2);
    ASSERT_EQ(out[0], 0xff);
    ASSERT_EQ(out[1], 0xef);
    free(out);
    ASSERT_OK(base64_decode("", 0, &out, &n));
    ASSERT_EQ(n, 0);
    free(out);
    ASSERT_EQ(base64_decode("Z", 1, &out, &n), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(base64_decode("Zm=9", 4, &out, &n), -EMBER_EINVAL_INPUT);
    ASSERT_EQ(base64_decode("Zm9v!", 5, &out, &n), -EMBER_EINVAL_INPUT);
}
