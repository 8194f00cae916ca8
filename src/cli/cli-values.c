/* cli-values.c: option values that are more than a plain number: item
 * limits, sizes with a suffix, dates, durations (see cli-args.h). */
#include "cli-args.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CLI_LIMIT_MAX 2147483647LL
#define CLI_SIZE_MAX (1LL << 40)

/* Whole decimal digits of s into *v (no sign, no spaces); the end in *end. */
static int digits(const char *s, unsigned long long *v, const char **end)
{
	char *e;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -1;
	*end = e;
	return 0;
}

int cli_parse_limit(const char *opt, const char *s, long long *out, struct mf_error *err)
{
	unsigned long long v;
	const char *end;

	if (strcasecmp(s, "unlimited") == 0) {
		*out = -1;
		return 0;
	}
	if (digits(s, &v, &end) < 0 || *end != '\0')
		return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a number (or unlimited)",
				    opt, s);
	if (v > (unsigned long long)CLI_LIMIT_MAX)
		return mf_error_set(err, MF_EINVAL, "%s must be 0-%lld or unlimited", opt,
				    CLI_LIMIT_MAX);
	*out = (long long)v;
	return 0;
}

int cli_parse_size(const char *opt, const char *s, long long *out, struct mf_error *err)
{
	unsigned long long v, mult = 1;
	const char *end;

	if (digits(s, &v, &end) < 0)
		return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a size (BYTES, or a number "
				    "with K, M or G)", opt, s);
	switch (toupper((unsigned char)end[0])) {
	case '\0': break;
	case 'K': mult = 1ULL << 10; end++; break;
	case 'M': mult = 1ULL << 20; end++; break;
	case 'G': mult = 1ULL << 30; end++; break;
	default: end = "?"; break;
	}
	if (*end != '\0')
		return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a size (BYTES, or a number "
				    "with K, M or G)", opt, s);
	if (v == 0 || v > (unsigned long long)CLI_SIZE_MAX / mult)
		return mf_error_set(err, MF_EINVAL, "%s must be 1 byte to 1024G", opt);
	*out = (long long)(v * mult);
	return 0;
}

/* Exactly n digits at s into *v. */
static bool fixed_digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* The time part after 'T': "HH:MM:SS[.frac]" and a zone. Sets *secs (of
 * the day, local to the zone) and *offset (seconds east of UTC). */
static bool parse_clock(const char *s, long *secs, long *offset)
{
	int h, m, sec, oh, om;

	if (!fixed_digits(s, 2, &h) || s[2] != ':' || !fixed_digits(s + 3, 2, &m) ||
	    s[5] != ':' || !fixed_digits(s + 6, 2, &sec))
		return false;
	if (h > 23 || m > 59 || sec > 60)
		return false;
	s += 8;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	*secs = h * 3600L + m * 60L + (sec == 60 ? 59 : sec);
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
		*offset = 0;
		return true;
	}
	if ((s[0] != '+' && s[0] != '-') || !fixed_digits(s + 1, 2, &oh) || s[3] != ':' ||
	    !fixed_digits(s + 4, 2, &om) || s[6] != '\0' || oh > 23 || om > 59)
		return false;
	*offset = (s[0] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
	return true;
}

int cli_parse_date(const char *opt, const char *s, long long *out, struct mf_error *err)
{
	struct tm tm;
	int y, mo, d;
	long secs = 0, offset = 0;
	time_t t;

	if (!fixed_digits(s, 4, &y) || s[4] != '-' || !fixed_digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !fixed_digits(s + 8, 2, &d))
		goto bad;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		goto bad;
	if (s[10] != '\0') {
		if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
			goto bad;
		if (!parse_clock(s + 11, &secs, &offset))
			goto bad;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	t = timegm(&tm);
	if (t == (time_t)-1)
		goto bad;
	*out = (long long)t + secs - offset;
	if (*out < 0)
		*out = 0;
	return 0;
bad:
	return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a date (YYYY-MM-DD, or RFC 3339 "
			    "such as 2024-01-31T08:00:00Z)", opt, s);
}

/* ---- durations and schedules ------------------------------------------------ */

struct duration_unit {
	const char *name;
	long long ms;
};

/* Longest names first: "ms" before "m". */
static const struct duration_unit duration_units[] = {
	{ "ms", 1 },	       { "s", 1000 },	       { "m", 60 * 1000LL },
	{ "h", 3600 * 1000LL }, { "d", 86400 * 1000LL }, { NULL, 0 },
};

static char *fmt_ms(long long ms, char out[32])
{
	if (ms % 1000 != 0)
		snprintf(out, 32, "%lldms", ms);
	else
		cli_fmt_duration(ms / 1000, out);
	return out;
}

int cli_parse_duration(const char *opt, const char *s, long long min_ms, long long max_ms,
		       long long *out_ms, struct mf_error *err)
{
	unsigned long long v;
	long long total = 0;
	const char *p = s, *end;
	char lo[32], hi[32];

	if (digits(p, &v, &end) == 0 && *end == '\0') {
		/* a plain number: seconds */
		if (v > (unsigned long long)max_ms / 1000)
			goto range;
		total = (long long)v * 1000;
		goto check;
	}
	if (*p == '\0')
		goto bad;
	while (*p != '\0') {
		const struct duration_unit *u;
		size_t len = 0;

		if (digits(p, &v, &end) < 0)
			goto bad;
		for (u = duration_units; u->name != NULL; u++) {
			len = strlen(u->name);
			if (strncasecmp(end, u->name, len) == 0)
				break;
		}
		if (u->name == NULL)
			goto bad;
		if (v > (unsigned long long)max_ms / (unsigned long long)u->ms ||
		    total > max_ms - (long long)v * u->ms)
			goto range;
		total += (long long)v * u->ms;
		p = end + len;
	}
check:
	if (total < min_ms || total > max_ms)
		goto range;
	*out_ms = total;
	return 0;
range:
	return mf_error_set(err, MF_EINVAL, "%s must be %s to %s", opt, fmt_ms(min_ms, lo),
			    fmt_ms(max_ms, hi));
bad:
	return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a duration (SECONDS, or numbers "
			    "with ms, s, m, h or d: 30m, 24h, 1d, 1h30m)", opt, s);
}

int cli_parse_when(const char *opt, const char *s, bool allow_none, long long *out,
		   struct mf_error *err)
{
	if (strcasecmp(s, "now") == 0) {
		*out = (long long)time(NULL);
		return 0;
	}
	if (allow_none && strcasecmp(s, "none") == 0) {
		*out = -1;
		return 0;
	}
	if (cli_parse_date(opt, s, out, err) == 0) {
		if (*out == 0)
			*out = 1; /* 0 means "unset" in the store */
		return 0;
	}
	return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a time (now, YYYY-MM-DD for "
			    "midnight UTC, or RFC 3339 such as 2024-01-31T08:00:00Z%s)", opt, s,
			    allow_none ? "; none removes it" : "");
}

void cli_fmt_duration(long long seconds, char out[32])
{
	static const struct { const char *name; long long secs; } parts[] = {
		{ "d", 86400 }, { "h", 3600 }, { "m", 60 }, { "s", 1 },
	};
	size_t len = 0;

	out[0] = '\0';
	if (seconds <= 0) {
		snprintf(out, 32, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && len < 32; i++) {
		if (seconds < parts[i].secs)
			continue;
		len += (size_t)snprintf(out + len, 32 - len, "%lld%s", seconds / parts[i].secs,
					parts[i].name);
		seconds %= parts[i].secs;
	}
}
