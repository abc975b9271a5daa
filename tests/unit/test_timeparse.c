/* test_timeparse.c - query times and durations */
#include "base/err.h"
#include "query/timeparse.h"
#include "test.h"

#define S   1000000000LL
#define NOW (1700000000LL * S + 123)

static int64_t t(const char *s)
{
    int64_t v = -42;
    int rc = time_parse(s, NOW, &v);
    if (rc)
        TEST_FAIL_("time_parse(%s) failed: %d", s, rc);
    return v;
}

static int64_t d(const char *s)
{
    int64_t v = -42;
    int rc = duration_parse(s, &v);
    if (rc)
        TEST_FAIL_("duration_parse(%s) failed: %d", s, rc);
    return v;
}

TEST(timeparse_relative)
{
    ASSERT_EQ(t("now"), NOW);
    ASSERT_EQ(t("now-15m"), NOW - 900 * S);
    ASSERT_EQ(t("now-1h30m"), NOW - 5400 * S);
    ASSERT_EQ(t("now-7d"), NOW - 7 * 86400 * S);
    ASSERT_EQ(t("now+1h"), NOW + 3600 * S);
    ASSERT_EQ(t("now-500ms"), NOW - 500000000LL);
}

TEST(timeparse_unix_by_magnitude)
{
    ASSERT_EQ(t("1700000000"), 1700000000LL * S);
    ASSERT_EQ(t("1700000000123"), 1700000000123LL * 1000000);
    ASSERT_EQ(t("1700000000123456"), 1700000000123456LL * 1000);
    ASSERT_EQ(t("1700000000123456789"), 1700000000123456789LL);
    ASSERT_EQ(t("1700000000.5"), 1700000000LL * S + S / 2);
    ASSERT_EQ(t("0"), 0);
}

TEST(timeparse_rfc3339)
{
    ASSERT_EQ(t("2023-11-14T22:13:20Z"), 1700000000LL * S);
    ASSERT_EQ(t("2023-11-14T22:13:20.25Z"), 1700000000LL * S + S / 4);
    ASSERT_EQ(t("2023-11-14T23:13:20+01:00"), 1700000000LL * S);
    ASSERT_EQ(t("2023-11-14T21:43:20-00:30"), 1700000000LL * S);
    ASSERT_EQ(t("2023-11-14t22:13:20.123456789z"), 1700000000123456789LL);
    ASSERT_EQ(t("1970-01-01T00:00:00Z"), 0);
    ASSERT_EQ(t("2024-02-29T00:00:00Z"), 1709164800LL * S);
    ASSERT_EQ(t("2023-11-14"), 1699920000LL * S);
}

TEST(timeparse_rejects_garbage)
{
    const char *bad[] = {"",
                         "later",
                         "now-",
                         "now-5",
                         "now-5x",
                         "now*5m",
                         "12abc",
                         "2023-13-01T00:00:00Z",
                         "2023-02-29T00:00:00Z",
                         "2023-11-14T22:13:20",
                         "2023-11-14T25:13:20Z",
                         "2023-11-14T22:13:20+0100",
                         "2023-11-14T22:13:20Zjunk",
                         "99999999999999999999999",
                         "1700000000123.5",
                         "now-9999999999999999d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        if (time_parse(bad[i], NOW, &v) != -EMBER_EINVAL_INPUT)
            TEST_FAIL_("time_parse(\"%s\") accepted", bad[i]);
    }
}

TEST(timeparse_durations)
{
    ASSERT_EQ(d("15s"), 15 * S);
    ASSERT_EQ(d("1m"), 60 * S);
    ASSERT_EQ(d("1h30m"), 5400 * S);
    ASSERT_EQ(d("7d"), 7 * 86400 * S);
    ASSERT_EQ(d("500ms"), 500000000LL);
    ASSERT_EQ(d("1.5h"), 5400 * S);
    ASSERT_EQ(d("10"), 10 * S);
    ASSERT_EQ(d("2w"), 14 * 86400 * S);
    ASSERT_EQ(d("250us"), 250000);
    const char *bad[] = {"", "s", "10x", "1h30", "-5s", ".s", "99999999999999999999s", "1e3s"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        if (duration_parse(bad[i], &v) != -EMBER_EINVAL_INPUT)
            TEST_FAIL_("duration_parse(\"%s\") accepted", bad[i]);
    }
}
