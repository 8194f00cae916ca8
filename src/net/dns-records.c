/* dns-records.c: SRV (RFC 2782) and MX (RFC 5321 section 5.1, RFC 7505)
 * lookups with c-ares, on a channel configured like net_resolve()'s.
 *
 * ares_query() is used, not ares_search(): the names asked for are fully
 * qualified, and appending the system's search domains after an NXDOMAIN
 * could turn "no such service" into a stranger's record.
 */
#include "net/dns-records.h"

#include <ares.h>
#include <ares_nameser.h>

#include <stdlib.h>
#include <string.h>

#include "net/net-private.h"
#include "util/xmalloc.h"

struct rec_query {
	bool done;
	int status;
	unsigned char *answer; /* owned copy of the DNS answer */
	int alen;
};

static void rec_callback(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct rec_query *q = arg;

	(void)timeouts;
	q->done = true;
	q->status = status;
	if (status == ARES_SUCCESS && abuf != NULL && alen > 0) {
		q->answer = xmalloc((size_t)alen);
		memcpy(q->answer, abuf, (size_t)alen);
		q->alen = alen;
	}
}

static int rec_status_error(int status, const char *what, const char *name, int timeout_ms,
			    struct mf_error *err)
{
	char secs[24];

	switch (status) {
	case ARES_ETIMEOUT:
		return mf_error_set(err, MF_ETIMEOUT, "no DNS answer for %s %.200s within %s s",
				    what, name, net_secs_text(timeout_ms, secs));
	case ARES_EBADNAME:
		return mf_error_set(err, MF_EDNS, "invalid DNS name: %.200s", name);
	case ARES_EBADRESP:
	case ARES_EFORMERR:
		return mf_error_set(err, MF_EDNS, "malformed DNS answer for %s %.200s", what, name);
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
	case ARES_ENOTIMP:
	case ARES_ECONNREFUSED:
		/* c-ares 1.18 also says ECONNREFUSED after SERVFAIL answers */
		return mf_error_set(err, MF_EDNS, "DNS server failure for %s %.200s", what, name);
	default:
		return mf_error_set(err, MF_EDNS, "DNS %s query for %.200s failed: %s", what, name,
				    ares_strerror(status));
	}
}

/* Ask for type of name. Returns 0 with *q holding the answer (q->answer NULL
 * when the name or the record type does not exist), or a negative code. */
static int rec_query_run(const char *name, int type, const char *what, int timeout_ms,
			 struct rec_query *q, struct mf_error *err)
{
	int64_t deadline = net_deadline(timeout_ms);
	ares_channel ch;
	int rc;

	memset(q, 0, sizeof(*q));
	if (name == NULL || name[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "no DNS name given");
	rc = net_dns_channel(timeout_ms, &ch, err);
	if (rc != 0)
		return rc;
	ares_query(ch, name, C_IN, type, rec_callback, q);
	net_dns_run(ch, &q->done, deadline);
	if (!q->done) {
		ares_destroy(ch); /* runs the callback with ARES_EDESTRUCTION */
		free(q->answer);
		q->answer = NULL;
		return rec_status_error(ARES_ETIMEOUT, what, name, timeout_ms, err);
	}
	ares_destroy(ch);
	if (q->status == ARES_ENOTFOUND || q->status == ARES_ENODATA)
		return 0; /* NXDOMAIN, NODATA */
	if (q->status != ARES_SUCCESS)
		return rec_status_error(q->status, what, name, timeout_ms, err);
	return 0;
}

/* A copy of a name from c-ares without a trailing dot ("" for the root). */
static char *rec_name(const char *host)
{
	size_t n = host != NULL ? strlen(host) : 0;

	while (n > 0 && host[n - 1] == '.')
		n--;
	return xstrndup(n > 0 ? host : "", n);
}

/* ---- SRV ------------------------------------------------------------------ */

/* Draw a number in [0, bound] (bound < 2^17). arc4random is thread-safe. */
static uint32_t rec_random(uint32_t bound)
{
	return arc4random_uniform(bound + 1);
}

static int srv_cmp_priority(const void *a, const void *b)
{
	const struct net_srv *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	/* zero weights first within a priority, as RFC 2782 asks */
	if ((x->weight == 0) != (y->weight == 0))
		return x->weight == 0 ? -1 : 1;
	return 0;
}

/* RFC 2782 weighted order of v[0..n), all of one priority, zero weights
 * first: repeatedly draw r in [0, sum of weights] and take the first record
 * whose running sum reaches r. */
static void srv_weighted_order(struct net_srv *v, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		uint32_t sum = 0, run = 0, r;
		size_t pick = i;

		for (size_t j = i; j < n; j++)
			sum += v[j].weight;
		r = rec_random(sum);
		for (size_t j = i; j < n; j++) {
			run += v[j].weight;
			if (run >= r) {
				pick = j;
				break;
			}
		}
		if (pick != i) {
			struct net_srv t = v[pick];

			/* keep the rest in order: zero weights stay in front */
			memmove(&v[i + 1], &v[i], (pick - i) * sizeof(*v));
			v[i] = t;
		}
	}
}

int net_query_srv(const char *name, int timeout_ms, struct net_srv **srv_r, size_t *n_r,
		  bool *not_offered_r, struct mf_error *err)
{
	struct ares_srv_reply *list = NULL;
	struct rec_query q;
	struct net_srv *v = NULL;
	size_t n = 0, total = 0;
	int rc;

	*srv_r = NULL;
	*n_r = 0;
	*not_offered_r = false;
	rc = rec_query_run(name, T_SRV, "SRV", timeout_ms, &q, err);
	if (rc != 0 || q.answer == NULL)
		return rc;
	rc = ares_parse_srv_reply(q.answer, q.alen, &list);
	free(q.answer);
	if (rc == ARES_ENODATA)
		return 0;
	if (rc != ARES_SUCCESS)
		return rec_status_error(rc, "SRV", name, timeout_ms, err);

	for (struct ares_srv_reply *r = list; r != NULL; r = r->next)
		total++;
	v = xcalloc(total, sizeof(*v));
	for (struct ares_srv_reply *r = list; r != NULL; r = r->next) {
		char *target = rec_name(r->host);

		if (target[0] == '\0') {
			/* "." : not offered (meaningful alone; ignored among others) */
			free(target);
			continue;
		}
		v[n].target = target;
		v[n].port = r->port;
		v[n].priority = r->priority;
		v[n].weight = r->weight;
		n++;
	}
	ares_free_data(list);
	if (n == 0) {
		free(v);
		*not_offered_r = true;
		return 0;
	}
	qsort(v, n, sizeof(*v), srv_cmp_priority);
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && v[j].priority == v[i].priority)
			j++;
		srv_weighted_order(&v[i], j - i);
		i = j;
	}
	*srv_r = v;
	*n_r = n;
	return 0;
}

void net_srv_free(struct net_srv **srvp, size_t n)
{
	if (*srvp == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*srvp)[i].target);
	free(*srvp);
	*srvp = NULL;
}

/* ---- MX ------------------------------------------------------------------- */

int net_query_mx(const char *domain, int timeout_ms, struct net_mx **mx_r, size_t *n_r,
		 struct mf_error *err)
{
	struct ares_mx_reply *list = NULL;
	struct rec_query q;
	struct net_mx *v;
	size_t n = 0, total = 0;
	int rc;

	*mx_r = NULL;
	*n_r = 0;
	rc = rec_query_run(domain, T_MX, "MX", timeout_ms, &q, err);
	if (rc != 0 || q.answer == NULL)
		return rc;
	rc = ares_parse_mx_reply(q.answer, q.alen, &list);
	free(q.answer);
	if (rc == ARES_ENODATA)
		return 0;
	if (rc != ARES_SUCCESS)
		return rec_status_error(rc, "MX", domain, timeout_ms, err);

	for (struct ares_mx_reply *r = list; r != NULL; r = r->next)
		total++;
	v = xcalloc(total, sizeof(*v));
	for (struct ares_mx_reply *r = list; r != NULL; r = r->next) {
		char *host = rec_name(r->host);
		size_t at = n;

		if (host[0] == '\0') {
			free(host); /* RFC 7505 null MX: the domain takes no mail */
			continue;
		}
		/* insertion sort by preference, stable for equal ones */
		while (at > 0 && v[at - 1].preference > r->priority) {
			v[at] = v[at - 1];
			at--;
		}
		v[at].host = host;
		v[at].preference = r->priority;
		n++;
	}
	ares_free_data(list);
	if (n == 0) {
		free(v);
		return 0;
	}
	*mx_r = v;
	*n_r = n;
	return 0;
}

void net_mx_free(struct net_mx **mxp, size_t n)
{
	if (*mxp == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*mxp)[i].host);
	free(*mxp);
	*mxp = NULL;
}
