/* timeutil.h - clocks */
#ifndef EMBER_BASE_TIMEUTIL_H
#define EMBER_BASE_TIMEUTIL_H

#include <stdint.h>

/* Wall-clock time in nanoseconds since the epoch (CLOCK_REALTIME). */
int64_t time_now_ns(void);
/* Monotonic time in nanoseconds (CLOCK_MONOTONIC). */
int64_t time_mono_ns(void);

#endif
