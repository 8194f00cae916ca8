/* engine-retry.c: what a failure means for a user's run (engine.h,
 * "Faults and throttling"), read from its code and the server's words,
 * and how long to wait before trying again.
 *
 * Servers say "slow down" in several ways: RFC 5530 response codes
 * [UNAVAILABLE], [LIMIT] and [INUSE] (on any NO: LOGIN, SELECT, FETCH,
 * APPEND), a BYE whose text speaks of a limit or of too many connections,
 * and Exchange's "Suggested Backoff Time: N milliseconds". "Out of space"
 * is [OVERQUOTA] (RFC 5530, also on APPEND's NO) or ENOSPC / EDQUOT from
 * the local store ("no space left on device", maildir-fs.c).
 */
#include "engine/engine-private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mftime.h"

static bool engine_has(const char *msg, const char *word)
{
	return msg != NULL && strcasestr(msg, word) != NULL;
}

/* "Suggested Backoff Time: 1500 milliseconds" -> 1500; -1 when absent. */
static int64_t engine_suggested_ms(const char *msg)
{
	const char *p = msg != NULL ? strcasestr(msg, "Suggested Backoff Time") : NULL;
	int64_t v = 0;
	bool digits = false;

	if (p == NULL)
		return -1;
	p += strlen("Suggested Backoff Time");
	while (*p == ':' || *p == ' ' || *p == '=')
		p++;
	for (; isdigit((unsigned char)*p) && v < 86400000; p++) {
		v = v * 10 + (*p - '0');
		digits = true;
	}
	if (!digits)
		return -1;
	while (*p == ' ')
		p++;
	/* Milliseconds as Exchange says; "s" / "seconds" if a server says so. */
	if ((*p == 's' || *p == 'S') && strncasecmp(p, "ms", 2) != 0)
		v *= 1000;
	return v;
}

/* A BYE that speaks of a limit rather than of an error. */
static bool engine_bye_throttles(const char *msg)
{
	static const char *const words[] = {
	    "limit", "too many", "throttl", "rate", "busy", "overload", "try again later",
	    "maximum number of connections",
	};

	if (!engine_has(msg, "BYE"))
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (engine_has(msg, words[i]))
			return true;
	return false;
}

enum engine_fault engine_fault_of(int rc, const char *msg, int64_t *suggested_ms)
{
	int64_t ms = engine_suggested_ms(msg);

	if (suggested_ms != NULL)
		*suggested_ms = ms;
	if (rc == 0)
		return ENGINE_FAULT_NONE;
	if (engine_has(msg, "[OVERQUOTA]") || engine_has(msg, "no space left on device") ||
	    engine_has(msg, "disk quota exceeded"))
		return ENGINE_FAULT_QUOTA;
	if (ms >= 0 || engine_has(msg, "[UNAVAILABLE]") || engine_has(msg, "[LIMIT]") ||
	    engine_has(msg, "[INUSE]") || (rc == MF_ECLOSED && engine_bye_throttles(msg)) ||
	    (rc == MF_ENO && engine_bye_throttles(msg)))
		return ENGINE_FAULT_THROTTLE;
	if (engine_rc_retry(rc))
		return ENGINE_FAULT_RETRY;
	return ENGINE_FAULT_PERMANENT;
}

int64_t engine_retry_delay_ms(struct engine_job *job, enum engine_fault fault, int64_t suggested_ms)
{
	const struct engine_opts *o = &job->run->o;
	uint64_t seed = (uint64_t)job->u.id * 0x9e3779b97f4a7c15ull ^ (uint64_t)mf_now_ms();
	int n = fault == ENGINE_FAULT_THROTTLE ? job->throttles : job->reconnects;

	if (fault == ENGINE_FAULT_THROTTLE && suggested_ms >= 0)
		return suggested_ms < o->throttle_max_ms ? suggested_ms : o->throttle_max_ms;
	return engine_backoff_ms(n > 0 ? n : 1, o->reconnect_delay_ms, o->retry_max_ms, &seed);
}

void engine_quota_error(struct mf_error *err)
{
	char words[MF_ERROR_MSG_MAX];

	if (strncmp(err->msg, "target mailbox is over quota: ", 30) == 0)
		return;
	memcpy(words, err->msg, sizeof(words));
	/* "target: APPEND ...": the side is said once, in front. */
	mf_error_set(err, err->code != 0 ? err->code : MF_ELIMIT,
		     "target mailbox is over quota: %s",
		     strncmp(words, "target: ", 8) == 0 ? words + 8 : words);
}
