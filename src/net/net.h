/* net.h: name resolution (c-ares), TCP connections with deadlines, and TLS
 * (OpenSSL) with verification on by default.
 *
 * Every call that can block takes a timeout in milliseconds and fails with
 * MF_ETIMEOUT when it passes. Errors are reported as negative MF_E* codes
 * with a one-line cause in *err ("connection refused", "certificate has
 * expired", "no answer within 10 s").
 *
 * A struct net_conn is used by one thread at a time.
 */
#ifndef MF_NET_H
#define MF_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "util/mf-error.h"

/* ---- DNS ---------------------------------------------------------------- */

#define NET_MAX_ADDRS 16

struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64];  /* numeric form, e.g. "127.0.0.1" or "::1" */
};

struct net_addrs {
	size_t count;
	struct net_addr addr[NET_MAX_ADDRS];
};

/* Set the DNS server used by all later lookups ("127.0.0.1:5353", or
 * "127.0.0.1" for port 53); NULL or "" restores the system resolver
 * (/etc/resolv.conf). Not thread-safe: call once at start-up.
 * Returns 0 or MF_EINVAL. */
int net_set_dns_server(const char *server, struct mf_error *err);

/* Resolve host (a name or a numeric address) to IPv4 and IPv6 addresses with
 * c-ares, port filled in. Numeric hosts do not touch DNS. "localhost" is
 * answered from /etc/hosts as the system does.
 * Returns 0, MF_EDNS ("no such host: x", "DNS server failure"), or
 * MF_ETIMEOUT. */
int net_resolve(const char *host, uint16_t port, int timeout_ms,
		struct net_addrs *out, struct mf_error *err);

/* ---- TCP and TLS --------------------------------------------------------- */

struct net_conn;

struct net_tls_opts {
	/* Verify the certificate chain against the system trust store (which
	 * honours SSL_CERT_FILE and SSL_CERT_DIR) and the host name. */
	bool verify;
	/* Name for SNI and host-name verification; when it is a numeric IP
	 * address the certificate's IP SAN is checked and no SNI is sent. */
	const char *host;
};

/* Connect to the first address that answers within timeout_ms (total).
 * Returns 0 and *conn_r, or MF_ECONNECT ("connection refused",
 * "network unreachable") or MF_ETIMEOUT ("no answer within 10 s"). */
int net_connect(const struct net_addrs *addrs, int timeout_ms,
		struct net_conn **conn_r, struct mf_error *err);

/* Run a TLS client handshake on the connection (implicit TLS, or after
 * STARTTLS). TLS 1.2 or newer only. Returns 0, MF_ETLS with the verification
 * error in words ("certificate has expired", "self-signed certificate",
 * "certificate is for mail.example.com, not 127.0.0.1"), MF_ECLOSED or
 * MF_ETIMEOUT. */
int net_start_tls(struct net_conn *c, const struct net_tls_opts *opts,
		  int timeout_ms, struct mf_error *err);

bool net_is_tls(const struct net_conn *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" after a handshake, else "". */
const char *net_tls_description(const struct net_conn *c);
/* Subject, issuer and expiry of the peer certificate, one line, or "". */
const char *net_tls_peer_summary(const struct net_conn *c);
/* The address connected to, numeric. */
const char *net_peer_text(const struct net_conn *c);

/* Read up to len bytes. Returns the number read (> 0), or MF_ECLOSED when the
 * peer closed, MF_ETIMEOUT when nothing arrived within timeout_ms, MF_EIO or
 * MF_ETLS. */
ssize_t net_read(struct net_conn *c, void *buf, size_t len, int timeout_ms,
		 struct mf_error *err);

/* Write all len bytes; timeout_ms bounds each wait for the socket to become
 * writable (an I/O deadline, not a total). Returns 0 or a negative code. */
int net_write_all(struct net_conn *c, const void *buf, size_t len,
		  int timeout_ms, struct mf_error *err);

/* True if bytes are already buffered (in OpenSSL) and net_read would not
 * block. */
bool net_pending(const struct net_conn *c);

/* The socket, for poll() by an event loop. */
int net_fd(const struct net_conn *c);

/* Wrap an already-connected socket (tests use a socketpair). Takes
 * ownership of fd. */
struct net_conn *net_conn_from_fd(int fd);

/* Close (TLS close_notify best-effort) and free; sets *cp to NULL. */
void net_close(struct net_conn **cp);

#endif
