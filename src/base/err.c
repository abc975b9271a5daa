/* err.c - error code names */
#include "err.h"

#include <string.h>

const char *ember_strerror(int err)
{
    int e = err < 0 ? -err : err;
    switch (e) {
#define X(name, msg)                                                                               \
    case EMBER_##name:                                                                             \
        return msg;
        EMBER_ERRNO_MAP(X)
#undef X
    default:
        return strerror(e);
    }
}
