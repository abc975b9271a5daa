/* err.h - error codes shared by every module (libuv-style X-macro table) */
#ifndef EMBER_BASE_ERR_H
#define EMBER_BASE_ERR_H

/*
 * Functions return 0 on success and a negative value on failure: either
 * -errno or one of the -EMBER_E* codes below. ember_strerror() names both.
 */
#define EMBER_ERRNO_MAP(X)                                                                         \
    X(EINVAL_INPUT, "invalid input")                                                               \
    X(ECORRUPT, "data is corrupt")                                                                 \
    X(ETOOBIG, "input exceeds a limit")                                                            \
    X(ETRUNC, "input is truncated")                                                                \
    X(EUNSUPPORTED, "unsupported format or feature")                                               \
    X(ENOTFOUND, "not found")                                                                      \
    X(EBOMB, "decompression ratio exceeds the limit")

enum ember_err {
    EMBER_EBASE = 10000,
#define X(name, msg) EMBER_##name,
    EMBER_ERRNO_MAP(X)
#undef X
        EMBER_EMAX
};

/* Returns a static description of err (negative errno or -EMBER_E*). Never NULL. */
const char *ember_strerror(int err);

#endif
