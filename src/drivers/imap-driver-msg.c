/* imap-driver-msg.c: message attributes between IMAP and struct
 * mbx_msg_info: FETCH items (UID, RFC822.SIZE, FLAGS, INTERNALDATE,
 * BODY[]), flag lists for APPEND, date-time strings, UID sets.
 *
 * RFC 9051 sections 2.3.2 (flags, keywords), 2.3.3 (INTERNALDATE),
 * 6.3.12 (APPEND's date-time), 7.5.2 (FETCH response), 9 (formal syntax:
 * atom, date-time, sequence-set).
 */
#include "drivers/imap-driver-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xmalloc.h"

static const char *const imd_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static const struct {
	const char *name;
	uint32_t bit;
} imd_sysflags[] = {
	{ "\\SEEN", MBX_SEEN },
	{ "\\ANSWERED", MBX_ANSWERED },
	{ "\\FLAGGED", MBX_FLAGGED },
	{ "\\DELETED", MBX_DELETED },
	{ "\\DRAFT", MBX_DRAFT },
};

void imd_info_clear(struct mbx_msg_info *info)
{
	for (size_t i = 0; i < info->keyword_count; i++)
		free(info->keywords[i]);
	free(info->keywords);
	memset(info, 0, sizeof(*info));
}

/* FLAGS (...): system flags to bits; \Recent and unknown system flags
 * dropped; the rest are keywords. */
static void imd_flags_parse(const struct imap_arg *l, struct mbx_msg_info *info)
{
	info->flags = 0;
	for (size_t i = 0; i < info->keyword_count; i++)
		free(info->keywords[i]);
	free(info->keywords);
	info->keywords = NULL;
	info->keyword_count = 0;
	for (size_t i = 0; i < l->list_count; i++) {
		const struct imap_arg *a = &l->list[i];
		bool sys = false;

		if (a->type != IMAP_ARG_ATOM || a->len == 0)
			continue;
		for (size_t j = 0; j < sizeof(imd_sysflags) / sizeof(imd_sysflags[0]); j++) {
			if (imap_arg_is_atom(a, imd_sysflags[j].name)) {
				info->flags |= imd_sysflags[j].bit;
				sys = true;
			}
		}
		if (sys || a->data[0] == '\\')
			continue;
		info->keywords = xreallocarray(info->keywords, info->keyword_count + 1,
					       sizeof(*info->keywords));
		info->keywords[info->keyword_count++] = xstrndup(a->data, a->len);
	}
}

void imd_fetch_items(const struct imap_arg *list, size_t n, struct mbx_msg_info *info,
		     struct imd_items *it)
{
	memset(it, 0, sizeof(*it));
	for (size_t i = 0; i + 1 < n; i += 2) {
		const struct imap_arg *k = &list[i], *v = &list[i + 1];
		uint64_t num;

		if (imap_arg_is_atom(k, "UID") && imap_arg_number(v, &num) && num <= UINT32_MAX) {
			it->has_uid = true;
			it->uid = (uint32_t)num;
			info->uid = (uint32_t)num;
		} else if (imap_arg_is_atom(k, "RFC822.SIZE") && imap_arg_number(v, &num)) {
			it->has_size = true;
			info->size = num;
		} else if (imap_arg_is_atom(k, "FLAGS") && v->type == IMAP_ARG_LIST) {
			it->has_flags = true;
			imd_flags_parse(v, info);
		} else if (imap_arg_is_atom(k, "INTERNALDATE") && imap_arg_text(v) != NULL) {
			it->has_date = imd_date_parse(imap_arg_text(v), &info->internaldate,
						      &info->tz_offset_min);
		} else if (imap_arg_is_atom(k, "BODY[]")) {
			it->body = v;
		}
	}
}

/* ---- dates ------------------------------------------------------------------ */

bool imd_date_parse(const char *s, time_t *t_r, int *tz_min_r)
{
	char mon[4], sign;
	int day, year, hh, mm, ss, zone, used = 0;
	int month = -1;
	struct tm tm;
	time_t t;

	/* "17-Jul-1996 02:44:25 -0700"; the day may be " 7" or "7". */
	if (sscanf(s, " %2d-%3[A-Za-z]-%4d %2d:%2d:%2d %c%4d%n", &day, mon, &year, &hh, &mm,
		   &ss, &sign, &zone, &used) != 8 ||
	    s[used] != '\0')
		return false;
	for (int i = 0; i < 12; i++) {
		if (strcasecmp(mon, imd_months[i]) == 0)
			month = i;
	}
	if (month < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 ||
	    (sign != '+' && sign != '-') || zone < 0 || zone > 2359 || zone % 100 > 59)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	t = timegm(&tm);
	*tz_min_r = (zone / 100 * 60 + zone % 100) * (sign == '-' ? -1 : 1);
	*t_r = t - (time_t)*tz_min_r * 60;
	return true;
}

void imd_date_format(time_t t, int tz_min, char out[40])
{
	time_t local = t + (time_t)tz_min * 60;
	int z = tz_min < 0 ? -tz_min : tz_min;
	struct tm tm;

	gmtime_r(&local, &tm);
	snprintf(out, 40, "\"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"", tm.tm_mday,
		 imd_months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 tz_min < 0 ? '-' : '+', z / 60, z % 60);
}

/* ---- APPEND flags ---------------------------------------------------------------- */

/* flag-keyword = atom: no atom-specials, no CTL, ASCII. */
static bool imd_is_atom(const char *s)
{
	if (s[0] == '\0' || s[0] == '\\')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
			return false;
	}
	return true;
}

char *imd_flags_format(const struct mbx_msg_info *info, char **warning_r)
{
	struct buf b = BUF_INIT, w = BUF_INIT;
	static const char *const names[] = {
		"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft",
	};

	*warning_r = NULL;
	buf_putc(&b, '(');
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (info->flags & imd_sysflags[i].bit) {
			if (b.len > 1)
				buf_putc(&b, ' ');
			buf_puts(&b, names[i]);
		}
	}
	for (size_t i = 0; i < info->keyword_count; i++) {
		if (!imd_is_atom(info->keywords[i])) {
			buf_printf(&w, "%s\"%s\"", w.len > 0 ? ", " : "", info->keywords[i]);
			continue;
		}
		if (b.len > 1)
			buf_putc(&b, ' ');
		buf_puts(&b, info->keywords[i]);
	}
	buf_putc(&b, ')');
	if (w.len > 0)
		*warning_r = xasprintf("keywords left out (not IMAP atoms): %s", buf_cstr(&w));
	buf_free(&w);
	return buf_steal(&b);
}

/* ---- UID sets ------------------------------------------------------------------- */

char *imd_uid_set(const uint32_t *uids, size_t n)
{
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (b.len > 0)
			buf_putc(&b, ',');
		if (j > i)
			buf_printf(&b, "%u:%u", uids[i], uids[j]);
		else
			buf_printf(&b, "%u", uids[i]);
		i = j + 1;
	}
	return buf_steal(&b);
}
