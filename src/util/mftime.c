#include "mftime.h"

#include <stdio.h>
#include <string.h>

int64_t mf_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mf_ms_left(int64_t deadline_ms)
{
	int64_t left;

	if (deadline_ms == 0)
		return -1;
	left = deadline_ms - mf_now_ms();
	if (left < 0)
		return 0;
	if (left > 0x7fffffff)
		return 0x7fffffff;
	return (int)left;
}

void mf_time_rfc3339(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *mf_secs_text(int ms, char out[24])
{
	size_t n;

	if (ms % 1000 == 0) {
		snprintf(out, 24, "%d", ms / 1000);
		return out;
	}
	snprintf(out, 24, "%d.%03d", ms / 1000, ms % 1000);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	return out;
}
