/* test_server_multipart.c - multipart/form-data boundaries and parts */
#include "base/err.h"
#include "server/multipart.h"
#include "test.h"

TEST(server_multipart_boundary)
{
    char b[80], err[256];

    ASSERT_OK(
        multipart_boundary("multipart/form-data; boundary=abc123", b, sizeof(b), err, sizeof(err)));
    ASSERT_STREQ(b, "abc123");
    ASSERT_OK(multipart_boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b;c\"", b,
                                 sizeof(b), err, sizeof(err)));
    ASSERT_STREQ(b, "a b;c");
    ASSERT_EQ(multipart_boundary("multipart/form-data", b, sizeof(b), err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    ASSERT_EQ(multipart_boundary("text/plain; boundary=x", b, sizeof(b), err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    ASSERT_EQ(multipart_boundary("multipart/form-data; boundary=", b, sizeof(b), err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    ASSERT(multipart_is_form("multipart/form-data; boundary=x"));
    ASSERT(!multipart_is_form("multipart/form-datax"));
    ASSERT(!multipart_is_form(NULL));
}

/* What Go's mime/multipart writer produces. */
static const char body[] =
    "preamble\r\n"
    "--XYZ\r\n"
    "Content-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "\x1f\x8b\r\n--XY not a boundary\r\n"
    "\r\n--XYZ\r\n"
    "Content-Disposition: form-data; name=\"sample_type_config\"\r\n"
    "\r\n"
    "{\"cpu\":{}}\r\n"
    "--XYZ--\r\n"
    "epilogue";

TEST(server_multipart_parts)
{
    struct multipart m;
    char err[256];
    const struct multipart_part *p;

    ASSERT_OK(multipart_parse(&m, body, sizeof(body) - 1, "XYZ", err, sizeof(err)));
    ASSERT_EQ(m.nparts, 2);
    p = multipart_get(&m, "profile");
    ASSERT(p);
    ASSERT_STREQ(p->filename, "profile.pprof");
    ASSERT_STREQ(p->content_type, "application/octet-stream");
    ASSERT_EQ(p->len, 25);
    ASSERT(!memcmp(p->data, "\x1f\x8b\r\n--XY not a boundary\r\n", 25));
    p = multipart_get(&m, "sample_type_config");
    ASSERT(p);
    ASSERT_EQ(p->len, 10);
    ASSERT(!memcmp(p->data, "{\"cpu\":{}}", 10));
    ASSERT(multipart_get(&m, "prev_profile") == NULL);
}

TEST(server_multipart_lf_only_and_empty_part)
{
    static const char b2[] = "--b\nContent-Disposition: form-data; name=a\n\n\n--b--";
    struct multipart m;
    char err[256];

    ASSERT_OK(multipart_parse(&m, b2, sizeof(b2) - 1, "b", err, sizeof(err)));
    ASSERT_EQ(m.nparts, 1);
    ASSERT_STREQ(m.parts[0].name, "a");
    ASSERT_EQ(m.parts[0].len, 0);
}

TEST(server_multipart_errors)
{
    struct multipart m;
    char err[256];
    static const char noclose[] = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ndata";
    static const char nodisp[] = "--b\r\nContent-Type: x\r\n\r\ndata\r\n--b--";
    static const char nohdrend[] = "--b\r\nContent-Disposition: form-data; name=a\r\n";

    ASSERT_EQ(multipart_parse(&m, "hello", 5, "b", err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "no boundary"));
    ASSERT_EQ(multipart_parse(&m, noclose, sizeof(noclose) - 1, "b", err, sizeof(err)),
              -EMBER_ETRUNC);
    ASSERT(strstr(err, "part 'a' has no closing boundary"));
    ASSERT(strstr(err, "at byte 49"));
    ASSERT_EQ(multipart_parse(&m, nodisp, sizeof(nodisp) - 1, "b", err, sizeof(err)),
              -EMBER_EINVAL_INPUT);
    ASSERT_EQ(multipart_parse(&m, nohdrend, sizeof(nohdrend) - 1, "b", err, sizeof(err)),
              -EMBER_ETRUNC);
    ASSERT_EQ(multipart_parse(&m, "--b", 3, "b", err, sizeof(err)), -EMBER_ETRUNC);
}

TEST(server_multipart_too_many_parts)
{
    char big[4096];
    size_t n = 0;
    struct multipart m;
    char err[256];

    for (int i = 0; i < MULTIPART_MAX_PARTS + 1; i++)
        n +=
            (size_t)snprintf(big + n, sizeof(big) - n,
                             "--b\r\nContent-Disposition: form-data; name=\"f%d\"\r\n\r\nx\r\n", i);
    n += (size_t)snprintf(big + n, sizeof(big) - n, "--b--\r\n");
    ASSERT_EQ(multipart_parse(&m, big, n, "b", err, sizeof(err)), -EMBER_ETOOBIG);
}
