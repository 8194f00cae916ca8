/* dns-records.h: SRV (RFC 2782) and MX (RFC 5321 section 5) lookups through
 * c-ares, using the resolver chosen with net_set_dns_server() (or
 * MAILFERRY_DNS_SERVER, or the system's).
 *
 * Results are sorted: SRV by priority, then by the RFC 2782 weighted random
 * order within a priority; MX by preference. A single SRV record whose
 * target is "." means the service is decidedly not offered: the lookup
 * returns 0 with *not_offered_r true and no records (a "." among other
 * records is dropped). An RFC 7505 null MX (".") is dropped likewise, so a
 * domain that takes no mail has 0 MX records.
 *
 * The names are queried as given (fully qualified; no search domains) and
 * /etc/hosts is not consulted. Each call uses its own c-ares channel, so
 * calls on different threads share nothing.
 */
#ifndef MF_DNS_RECORDS_H
#define MF_DNS_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mf-error.h"

struct net_srv {
	char *target;      /* host name without the trailing dot */
	uint16_t port;
	uint16_t priority;
	uint16_t weight;
};

struct net_mx {
	char *host;        /* without the trailing dot */
	uint16_t preference;
};

/* name: e.g. "_imaps._tcp.example.test". Returns 0 with *n_r records (0 when
 * the name has none: NXDOMAIN or NODATA are not errors here), or MF_EDNS
 * (server failure, malformed answer) / MF_ETIMEOUT. */
int net_query_srv(const char *name, int timeout_ms, struct net_srv **srv_r, size_t *n_r,
		  bool *not_offered_r, struct mf_error *err);
void net_srv_free(struct net_srv **srvp, size_t n);

int net_query_mx(const char *domain, int timeout_ms, struct net_mx **mx_r, size_t *n_r,
		 struct mf_error *err);
void net_mx_free(struct net_mx **mxp, size_t n);

#endif
