/* mftime.h: clocks and deadlines. */
#ifndef MF_TIME_H
#define MF_TIME_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock. */
int64_t mf_now_ms(void);
/* Milliseconds left until deadline (>= 0); deadline 0 means none (-1). */
int mf_ms_left(int64_t deadline_ms);
/* Milliseconds as seconds for messages: "10", "0.5", "2.25". Returns out. */
const char *mf_secs_text(int ms, char out[24]);
/* Wall-clock time as RFC 3339 UTC ("2026-11-26T20:34:18Z") into out[32]. */
void mf_time_rfc3339(time_t t, char out[32]);

#endif
