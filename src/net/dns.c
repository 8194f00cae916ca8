/* dns.c: name resolution with c-ares, bounded by the caller's deadline.
 *
 * Each lookup runs on its own c-ares channel, so lookups on different
 * threads share nothing but the server setting (written once at start-up).
 * c-ares reads /etc/resolv.conf and /etc/hosts for every channel, which is
 * how "localhost" and the system's search domains keep working.
 * dns-records.c (SRV, MX) makes its channels with net_dns_channel() and
 * drives them with net_dns_run(), so both honour the same server setting.
 */
#include "net/net-private.h"

#include <ares.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mftime.h"

/* The server set by net_set_dns_server() as a c-ares CSV entry ("" for the
 * system resolver), and whether it was ever called (if not, the environment
 * variable MAILFERRY_DNS_SERVER is honoured). */
static char dns_server[INET6_ADDRSTRLEN + 10];
static bool dns_server_set;

static pthread_once_t dns_once = PTHREAD_ONCE_INIT;
static int dns_init_status = ARES_SUCCESS;

static void dns_init(void)
{
	dns_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]" or "[::1]:5353" into the
 * c-ares form "127.0.0.1:5353" / "[::1]:5353" (port 53 by default). */
static bool dns_parse_server(const char *in, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *port = NULL, *end;
	size_t hlen;
	unsigned long p = 53;
	bool v6;

	if (in[0] == '[') {
		end = strchr(in, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return false;
		hlen = (size_t)(end - in - 1);
		in++;
		if (end[1] == ':')
			port = end + 2;
		v6 = true;
	} else {
		const char *colon = strchr(in, ':');

		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			hlen = (size_t)(colon - in);
			port = colon + 1;
			v6 = false;
		} else {
			hlen = strlen(in);
			v6 = colon != NULL;
		}
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, in, hlen);
	host[hlen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, bin) != 1)
		return false;
	if (port != NULL) {
		char *ep;

		if (*port < '0' || *port > '9')
			return false;
		errno = 0;
		p = strtoul(port, &ep, 10);
		if (errno != 0 || *ep != '\0' || p == 0 || p > 65535)
			return false;
	}
	if (v6)
		snprintf(out, size, "[%s]:%lu", host, p);
	else
		snprintf(out, size, "%s:%lu", host, p);
	return true;
}

int net_set_dns_server(const char *server, struct mf_error *err)
{
	char csv[sizeof(dns_server)];

	if (server == NULL || server[0] == '\0') {
		dns_server[0] = '\0';
		dns_server_set = true;
		return 0;
	}
	if (!dns_parse_server(server, csv, sizeof(csv)))
		return mf_error_set(err, MF_EINVAL,
				    "invalid DNS server \"%.100s\" (expected an address[:port])",
				    server);
	memcpy(dns_server, csv, sizeof(dns_server));
	dns_server_set = true;
	return 0;
}

struct dns_lookup {
	bool done;
	int status;
	uint16_t port;
	struct net_addrs *out;
};

static bool dns_same_addr(const struct sockaddr_storage *a,
			  const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr,
			      sizeof(struct in_addr)) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr,
		      sizeof(struct in6_addr)) == 0;
}

static void dns_add(struct net_addrs *out, const struct sockaddr *sa,
		    size_t salen, uint16_t port)
{
	struct net_addr *a;

	if (out->count >= NET_MAX_ADDRS || salen > sizeof(a->ss))
		return;
	if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
		return;
	for (size_t i = 0; i < out->count; i++) {
		if (dns_same_addr(&out->addr[i].ss, sa))
			return;
	}
	a = &out->addr[out->count];
	memset(a, 0, sizeof(*a));
	memcpy(&a->ss, sa, salen);
	a->len = (socklen_t)salen;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

		sin->sin_port = htons(port);
		inet_ntop(AF_INET, &sin->sin_addr, a->text, sizeof(a->text));
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		sin6->sin6_port = htons(port);
		inet_ntop(AF_INET6, &sin6->sin6_addr, a->text, sizeof(a->text));
	}
	out->count++;
}

static void dns_callback(void *arg, int status, int timeouts,
			 struct ares_addrinfo *res)
{
	struct dns_lookup *l = arg;

	(void)timeouts;
	l->done = true;
	l->status = status;
	if (status == ARES_SUCCESS && res != NULL) {
		for (struct ares_addrinfo_node *n = res->nodes; n != NULL; n = n->ai_next)
			dns_add(l->out, n->ai_addr, n->ai_addrlen, l->port);
	}
	if (res != NULL)
		ares_freeaddrinfo(res);
}

void net_dns_run(ares_channel ch, const bool *done, int64_t deadline)
{
	while (!*done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd pfd[ARES_GETSOCK_MAXNUM];
		struct timeval maxtv, tv, *tvp;
		unsigned bits;
		int n = 0, left, wait_ms, rc;

		left = mf_ms_left(deadline);
		if (left == 0)
			return;
		/* The ARES_GETSOCK_* macros shift a signed 1 into the sign
		 * bit (undefined behaviour); test the bits unsigned. */
		bits = (unsigned)ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM);
		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			short ev = 0;

			if (bits & (1u << i))
				ev |= POLLIN;
			if (bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
				ev |= POLLOUT;
			if (ev == 0)
				continue;
			pfd[n].fd = socks[i];
			pfd[n].events = ev;
			pfd[n].revents = 0;
			n++;
		}
		maxtv.tv_sec = (left < 0 ? 1000 : left) / 1000;
		maxtv.tv_usec = ((left < 0 ? 1000 : left) % 1000) * 1000;
		tvp = ares_timeout(ch, &maxtv, &tv);
		wait_ms = (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000);
		rc = poll(pfd, (nfds_t)n, wait_ms);
		if (rc < 0 && errno != EINTR)
			return;
		if (rc <= 0) {
			/* nothing to read: let c-ares handle its own timeouts */
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			continue;
		}
		for (int i = 0; i < n && !*done; i++) {
			short re = pfd[i].revents;
			bool rd = (re & (POLLIN | POLLERR | POLLHUP)) != 0;

			if (re == 0)
				continue;
			ares_process_fd(ch, rd ? pfd[i].fd : ARES_SOCKET_BAD,
					(re & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD);
		}
	}
}

static int dns_status_error(int status, const char *host, int timeout_ms,
			    struct mf_error *err)
{
	char secs[24];

	switch (status) {
	case ARES_ENOTFOUND:
		return mf_error_set(err, MF_EDNS, "no such host: %.200s", host);
	case ARES_ENODATA:
		return mf_error_set(err, MF_EDNS, "no address records for %.200s", host);
	case ARES_ETIMEOUT:
		return mf_error_set(err, MF_ETIMEOUT, "no DNS answer for %.200s within %s s",
				    host, net_secs_text(timeout_ms, secs));
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
	case ARES_EFORMERR:
	case ARES_ENOTIMP:
	case ARES_EBADRESP:
	case ARES_ECONNREFUSED:
		/* c-ares 1.18 reports ECONNREFUSED both for an unreachable
		 * server and after every server answered SERVFAIL/REFUSED. */
		return mf_error_set(err, MF_EDNS, "DNS server failure for %.200s", host);
	case ARES_EBADNAME:
		return mf_error_set(err, MF_EDNS, "invalid host name: %.200s", host);
	default:
		return mf_error_set(err, MF_EDNS, "cannot resolve %.200s: %s", host,
				    ares_strerror(status));
	}
}

/* The server to use, in c-ares CSV form ("" = system), or MF_EINVAL. */
static int dns_pick_server(char *csv, size_t size, struct mf_error *err)
{
	const char *env;

	if (dns_server_set) {
		snprintf(csv, size, "%s", dns_server);
		return 0;
	}
	csv[0] = '\0';
	env = getenv("MAILFERRY_DNS_SERVER");
	if (env == NULL || env[0] == '\0')
		return 0;
	if (!dns_parse_server(env, csv, size))
		return mf_error_set(err, MF_EINVAL, "invalid MAILFERRY_DNS_SERVER \"%.100s\"",
				    env);
	return 0;
}

int net_dns_channel(int timeout_ms, ares_channel *ch_r, struct mf_error *err)
{
	struct ares_options opts;
	char csv[sizeof(dns_server)];
	ares_channel ch;
	int mask = 0, rc;

	rc = dns_pick_server(csv, sizeof(csv), err);
	if (rc != 0)
		return rc;
	pthread_once(&dns_once, dns_init);
	if (dns_init_status != ARES_SUCCESS)
		return mf_error_set(err, MF_EDNS, "cannot initialise c-ares: %s",
				    ares_strerror(dns_init_status));

	memset(&opts, 0, sizeof(opts));
	if (timeout_ms > 0) {
		/* Three tries whose timeouts double (t + 2t + 4t) fit the
		 * deadline, so a lost packet is retried in time. */
		opts.timeout = timeout_ms / 7 < 100 ? 100 : timeout_ms / 7;
		opts.tries = 3;
		mask |= ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
	}
	rc = ares_init_options(&ch, &opts, mask);
	if (rc != ARES_SUCCESS)
		return mf_error_set(err, MF_EDNS, "cannot initialise c-ares: %s",
				    ares_strerror(rc));
	if (csv[0] != '\0') {
		rc = ares_set_servers_ports_csv(ch, csv);
		if (rc != ARES_SUCCESS) {
			ares_destroy(ch);
			return mf_error_set(err, MF_EINVAL, "cannot use DNS server %s: %s", csv,
					    ares_strerror(rc));
		}
	}
	*ch_r = ch;
	return 0;
}

int net_resolve(const char *host, uint16_t port, int timeout_ms,
		struct net_addrs *out, struct mf_error *err)
{
	int64_t deadline = net_deadline(timeout_ms);
	struct dns_lookup l = { .port = port, .out = out };
	struct ares_addrinfo_hints hints;
	struct sockaddr_storage ss;
	ares_channel ch;
	socklen_t len;
	int rc;

	out->count = 0;
	if (host == NULL || host[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "no host name given");
	if (net_parse_numeric(host, &ss, &len)) {
		dns_add(out, (struct sockaddr *)&ss, len, port);
		return 0;
	}
	rc = net_dns_channel(timeout_ms, &ch, err);
	if (rc != 0)
		return rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	ares_getaddrinfo(ch, host, NULL, &hints, dns_callback, &l);
	net_dns_run(ch, &l.done, deadline);
	if (!l.done) {
		ares_destroy(ch); /* runs the callback with ARES_EDESTRUCTION */
		out->count = 0;
		return dns_status_error(ARES_ETIMEOUT, host, timeout_ms, err);
	}
	ares_destroy(ch);
	if (l.status != ARES_SUCCESS) {
		out->count = 0;
		return dns_status_error(l.status, host, timeout_ms, err);
	}
	if (out->count == 0)
		return mf_error_set(err, MF_EDNS, "no address records for %.200s", host);
	return 0;
}
