/* test.h - a small unit test framework: TEST(name) registers itself; the runner forks each test */
#ifndef EMBER_TESTS_TEST_H
#define EMBER_TESTS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn, const char *file, int line);
/* A fresh temporary directory for this test (removed after the run); name appended. */
const char *tmp_path(const char *name);
/* Reads a file under tests/data/ (or an absolute path); returns malloc'd bytes, NULL if missing. */
char *test_read_file(const char *path, size_t *len);

#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void reg_##name(void)                                      \
    {                                                                                              \
        test_register(#name, test_##name, __FILE__, __LINE__);                                     \
    }                                                                                              \
    static void test_##name(void)

#define TEST_FAIL_(fmt, ...)                                                                       \
    do {                                                                                           \
        fprintf(stderr, "  assertion failed at %s:%d: " fmt "\n", __FILE__, __LINE__,              \
                __VA_ARGS__);                                                                      \
        exit(1);                                                                                   \
    } while (0)

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c))                                                                                  \
            TEST_FAIL_("%s", #c);                                                                  \
    } while (0)
#define ASSERT_OK(e)                                                                               \
    do {                                                                                           \
        long long r_ = (long long)(e);                                                             \
        if (r_ != 0)                                                                               \
            TEST_FAIL_("%s returned %lld", #e, r_);                                                \
    } while (0)
#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            TEST_FAIL_("%s == %s (%lld != %lld)", #a, #b, a_, b_);                                 \
    } while (0)
#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ == b_)                                                                              \
            TEST_FAIL_("%s != %s (both %lld)", #a, #b, a_);                                        \
    } while (0)
#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_))                                                          \
            TEST_FAIL_("%s == %s (\"%s\" != \"%s\")", #a, #b, a_ ? a_ : "(null)",                  \
                       b_ ? b_ : "(null)");                                                        \
    } while (0)
#define ASSERT_LT(a, b)                                                                            \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(a_ < b_))                                                                            \
            TEST_FAIL_("%s < %s (%g >= %g)", #a, #b, a_, b_);                                      \
    } while (0)
#define ASSERT_NEAR(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (a_ - b_ > (eps) || b_ - a_ > (eps))                                                    \
            TEST_FAIL_("%s ~ %s (%g vs %g, eps %g)", #a, #b, a_, b_, (double)(eps));               \
    } while (0)

#endif
