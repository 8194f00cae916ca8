/* conn.c: TCP connections with deadlines, and plain or TLS reads and writes.
 *
 * Sockets are non-blocking from creation to close; every wait is a poll()
 * bounded by the caller's timeout, so no call blocks longer than it was told
 * to. A negative timeout_ms means "no deadline" (used by nothing in the
 * product, but handy in tests).
 */
#include "net/net-private.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/mftime.h"
#include "util/xmalloc.h"

const char *net_secs_text(int ms, char out[24])
{
	snprintf(out, 24, "%g", ms / 1000.0);
	return out;
}

int64_t net_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return 0;
	return mf_now_ms() + timeout_ms;
}

int net_wait_fd(int fd, short events, int64_t deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int rc;

	for (;;) {
		rc = poll(&pfd, 1, mf_ms_left(deadline_ms));
		if (rc > 0)
			return 1;
		if (rc == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

bool net_parse_numeric(const char *host, struct sockaddr_storage *ss,
		       socklen_t *len_r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(host);

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len_r = sizeof(*sin);
		return true;
	}
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(tmp))
			return false;
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		host = tmp;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len_r = sizeof(*sin6);
		return true;
	}
	return false;
}

/* "127.0.0.1:143" or "[::1]:993" into out. */
static void conn_addr_port_text(const struct sockaddr_storage *ss, char *out,
				size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, size, "%s:%u", host, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(out, size, "local");
	}
}

static void conn_set_options(int fd)
{
	int one = 1;

	/* Best effort: fails harmlessly on AF_UNIX sockets (net_conn_from_fd) */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

static struct net_conn *conn_new(int fd)
{
	struct net_conn *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	return c;
}

/* One connect attempt. Returns the connected fd, or a negative code with
 * *err set. */
static int conn_try(const struct net_addr *a, int attempt_ms,
		    struct mf_error *err)
{
	char where[80], secs[24];
	int64_t deadline = net_deadline(attempt_ms);
	socklen_t elen = sizeof(int);
	int fd, rc, e = 0;

	conn_addr_port_text(&a->ss, where, sizeof(where));
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return mf_error_set(err, MF_ECONNECT, "cannot create a socket for %s: %s",
				    where, strerror(errno));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return fd;
	e = errno;
	if (e == EINPROGRESS || e == EINTR) {
		rc = net_wait_fd(fd, POLLOUT, deadline);
		if (rc == 0) {
			close(fd);
			return mf_error_set(err, MF_ETIMEOUT, "no answer from %s within %s s",
					    where, net_secs_text(attempt_ms, secs));
		}
		if (rc < 0)
			e = -rc;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		if (e == 0)
			return fd;
	}
	close(fd);
	switch (e) {
	case ECONNREFUSED:
		return mf_error_set(err, MF_ECONNECT, "connection refused by %s", where);
	case ENETUNREACH:
		return mf_error_set(err, MF_ECONNECT, "network unreachable for %s", where);
	case EHOSTUNREACH:
		return mf_error_set(err, MF_ECONNECT, "no route to host %s", where);
	case ETIMEDOUT:
		return mf_error_set(err, MF_ETIMEOUT, "no answer from %s within %s s", where,
				    net_secs_text(attempt_ms, secs));
	default:
		return mf_error_set(err, MF_ECONNECT, "cannot connect to %s: %s", where,
				    strerror(e));
	}
}

int net_connect(const struct net_addrs *addrs, int timeout_ms,
		struct net_conn **conn_r, struct mf_error *err)
{
	int64_t deadline = net_deadline(timeout_ms);
	struct net_conn *c;
	int fd = MF_EINVAL;
	size_t i;

	*conn_r = NULL;
	if (addrs == NULL || addrs->count == 0)
		return mf_error_set(err, MF_EINVAL, "no address to connect to");
	for (i = 0; i < addrs->count && i < NET_MAX_ADDRS; i++) {
		size_t remaining = addrs->count - i;
		int left = mf_ms_left(deadline), attempt = left;

		if (left == 0 && i > 0)
			break;
		/* Leave time for the other addresses when one does not answer,
		 * but give each a fair chance (at least 2 s when available). */
		if (left > 0 && remaining > 1) {
			attempt = left / (int)remaining;
			if (attempt < 2000)
				attempt = left < 2000 ? left : 2000;
		}
		fd = conn_try(&addrs->addr[i], attempt, err);
		if (fd >= 0)
			break;
	}
	if (fd < 0)
		return fd;
	conn_set_options(fd);
	c = conn_new(fd);
	conn_addr_port_text(&addrs->addr[i].ss, c->peer, sizeof(c->peer));
	*conn_r = c;
	return 0;
}

struct net_conn *net_conn_from_fd(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct net_conn *c;
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0 && !(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	conn_set_options(fd);
	c = conn_new(fd);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		ss.ss_family = AF_UNSPEC;
	conn_addr_port_text(&ss, c->peer, sizeof(c->peer));
	return c;
}

static int conn_errno_error(int e, const char *what, struct mf_error *err)
{
	if (e == ECONNRESET || e == EPIPE)
		return mf_error_set(err, MF_ECLOSED, "connection reset by server");
	return mf_error_set(err, MF_EIO, "%s error: %s", what, strerror(e));
}

static ssize_t conn_plain_read(struct net_conn *c, void *buf, size_t len,
			       short *events_r, struct mf_error *err)
{
	ssize_t n = recv(c->fd, buf, len, 0);

	if (n > 0)
		return n;
	if (n == 0)
		return mf_error_set(err, MF_ECLOSED, "connection closed by server");
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		*events_r = POLLIN;
		return 0;
	}
	return conn_errno_error(errno, "read", err);
}

ssize_t net_read(struct net_conn *c, void *buf, size_t len, int timeout_ms,
		 struct mf_error *err)
{
	int64_t deadline = net_deadline(timeout_ms);
	char secs[24];

	if (len == 0)
		return mf_error_set(err, MF_EINVAL, "net_read: empty buffer");
	for (;;) {
		short events = POLLIN;
		ssize_t n;
		int rc;

		if (c->ssl != NULL)
			n = net_tls_read_step(c, buf, len, &events, err);
		else
			n = conn_plain_read(c, buf, len, &events, err);
		if (n != 0)
			return n;
		rc = net_wait_fd(c->fd, events, deadline);
		if (rc == 0)
			return mf_error_set(err, MF_ETIMEOUT, "no data from server within %s s",
					    net_secs_text(timeout_ms, secs));
		if (rc < 0)
			return conn_errno_error(-rc, "poll", err);
	}
}

static ssize_t conn_plain_write(struct net_conn *c, const void *buf,
				size_t len, short *events_r,
				struct mf_error *err)
{
	/* MSG_NOSIGNAL: a peer that went away gives EPIPE, not SIGPIPE */
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

	if (n > 0)
		return n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		*events_r = POLLOUT;
		return 0;
	}
	if (n == 0) {
		*events_r = POLLOUT;
		return 0;
	}
	return conn_errno_error(errno, "write", err);
}

int net_write_all(struct net_conn *c, const void *buf, size_t len,
		  int timeout_ms, struct mf_error *err)
{
	const char *p = buf;
	char secs[24];

	while (len > 0) {
		short events = POLLOUT;
		ssize_t n;
		int rc;

		if (c->ssl != NULL)
			n = net_tls_write_step(c, p, len, &events, err);
		else
			n = conn_plain_write(c, p, len, &events, err);
		if (n < 0)
			return (int)n;
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		rc = net_wait_fd(c->fd, events, net_deadline(timeout_ms));
		if (rc == 0)
			return mf_error_set(err, MF_ETIMEOUT,
					    "server accepted no data within %s s",
					    net_secs_text(timeout_ms, secs));
		if (rc < 0)
			return conn_errno_error(-rc, "poll", err);
	}
	return 0;
}

bool net_pending(const struct net_conn *c)
{
	return c->ssl != NULL && SSL_pending(c->ssl) > 0;
}

int net_fd(const struct net_conn *c)
{
	return c->fd;
}

bool net_is_tls(const struct net_conn *c)
{
	return c->ssl != NULL;
}

const char *net_peer_text(const struct net_conn *c)
{
	return c->peer;
}

void net_close(struct net_conn **cp)
{
	struct net_conn *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	if (c->ssl != NULL)
		net_tls_shutdown(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
