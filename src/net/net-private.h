/* net-private.h: what conn.c, tls.c and dns.c share; not for other layers.
 *
 * struct net_conn is defined here so that tls.c can attach an SSL object to a
 * connection made by conn.c and conn.c can route reads and writes through it.
 */
#ifndef MF_NET_PRIVATE_H
#define MF_NET_PRIVATE_H

#include <openssl/ssl.h>

#include <stdint.h>

#include "net/net.h"

struct net_conn {
	int fd;              /* owned; non-blocking */
	SSL *ssl;            /* owned; NULL before net_start_tls() succeeds */
	bool tls_broken;     /* a fatal TLS error happened: no close_notify */
	char peer[80];       /* "127.0.0.1:143", "[::1]:993" or "local" */
	char tls_desc[96];   /* net_tls_description() */
	char tls_peer[512];  /* net_tls_peer_summary() */
};

/* Format a duration in milliseconds as seconds for messages: 10000 -> "10",
 * 200 -> "0.2", 1500 -> "1.5". Returns out. */
const char *net_secs_text(int ms, char out[24]);

/* Deadline timeout_ms from now, for mf_ms_left(); a negative timeout means
 * no deadline (0). */
int64_t net_deadline(int timeout_ms);

/* Wait until fd is ready for events (POLLIN / POLLOUT) or the deadline
 * passes; retries on EINTR. Returns 1 when ready (including error or hang-up
 * conditions, which the next I/O call reports), 0 on timeout, or -errno. */
int net_wait_fd(int fd, short events, int64_t deadline_ms);

/* If host is a numeric IPv4 or IPv6 address (IPv6 optionally in brackets),
 * store it in *ss (port 0) and return true. */
bool net_parse_numeric(const char *host, struct sockaddr_storage *ss,
		       socklen_t *len_r);

/* ---- c-ares channels (dns.c), shared with dns-records.c ---- */

struct ares_channeldata; /* ares_channel is a pointer to it */

/* A c-ares channel for one lookup, using the server of net_set_dns_server()
 * (or MAILFERRY_DNS_SERVER, or the system's), with retry timeouts that fit
 * within timeout_ms (< 0: c-ares defaults). Returns 0 and *ch_r (the caller
 * frees it with ares_destroy), MF_EINVAL (bad server setting) or MF_EDNS. */
int net_dns_channel(int timeout_ms, struct ares_channeldata **ch_r, struct mf_error *err);

/* Drive ch until *done turns true (the query callback sets it) or the
 * deadline (net_deadline(); 0 = none) passes; the caller checks *done. */
void net_dns_run(struct ares_channeldata *ch, const bool *done, int64_t deadline);

/* One TLS read or write attempt, used by net_read() / net_write_all()
 * (tls.c). Returns the bytes moved (> 0), a negative code with *err set, or 0
 * when the socket must first become ready for *events_r (POLLIN / POLLOUT). */
ssize_t net_tls_read_step(struct net_conn *c, void *buf, size_t len,
			  short *events_r, struct mf_error *err);
ssize_t net_tls_write_step(struct net_conn *c, const void *buf, size_t len,
			   short *events_r, struct mf_error *err);
/* Send close_notify without waiting for the answer; frees c->ssl. */
void net_tls_shutdown(struct net_conn *c);

#endif
