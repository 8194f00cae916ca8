/* tls.c: TLS client handshakes (OpenSSL 3) with verification, and the TLS
 * halves of net_read() / net_write_all().
 *
 * Two SSL_CTX per process, created on first use: one that verifies the chain
 * and host name, one that does not. They are created lazily (pthread_once)
 * because SSL_CTX_set_default_verify_paths() reads SSL_CERT_FILE and
 * SSL_CERT_DIR when it runs; tests point those at a private CA first.
 *
 * SIGPIPE: OpenSSL writes to the socket with write(), which raises SIGPIPE
 * when the peer has gone. On first TLS use we set SIGPIPE to SIG_IGN if it
 * is still SIG_DFL (an application's own handler is left alone); writes then
 * fail with EPIPE, reported as MF_ECLOSED. Plain sockets use MSG_NOSIGNAL.
 */
#include "net/net-private.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static pthread_once_t tls_verify_once = PTHREAD_ONCE_INIT;
static pthread_once_t tls_noverify_once = PTHREAD_ONCE_INIT;
static SSL_CTX *tls_ctx_verify;   /* owned for the process lifetime */
static SSL_CTX *tls_ctx_noverify; /* owned for the process lifetime */

static void tls_ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
	    !(sa.sa_flags & SA_SIGINFO)) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(SIGPIPE, &sa, NULL);
	}
}

static SSL_CTX *tls_ctx_new(bool verify)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		fprintf(stderr, "mailferry: cannot create a TLS context\n");
		abort();
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (verify) {
		/* A missing or unreadable trust store shows up later as
		 * "unable to get local issuer certificate". */
		(void)SSL_CTX_set_default_verify_paths(ctx);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	ERR_clear_error();
	return ctx;
}

static void tls_init_verify(void)
{
	tls_ignore_sigpipe();
	tls_ctx_verify = tls_ctx_new(true);
}

static void tls_init_noverify(void)
{
	tls_ignore_sigpipe();
	tls_ctx_noverify = tls_ctx_new(false);
}

static SSL_CTX *tls_ctx(bool verify)
{
	if (verify) {
		pthread_once(&tls_verify_once, tls_init_verify);
		return tls_ctx_verify;
	}
	pthread_once(&tls_noverify_once, tls_init_noverify);
	return tls_ctx_noverify;
}

/* "2027-01-01" from an ASN1_TIME, or "?" */
static void tls_date(const ASN1_TIME *t, char out[16])
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(out, 16, "%Y-%m-%d", &tm) == 0)
		snprintf(out, 16, "?");
}

/* One-line X509 name, "C=DE, O=Example, CN=mail.example.com", into out. */
static void tls_name(const X509_NAME *name, char *out, size_t size)
{
	unsigned long flags = (XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ &
			       ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT;
	BIO *bio = BIO_new(BIO_s_mem());
	int n = 0;

	out[0] = '\0';
	if (bio == NULL)
		return;
	if (X509_NAME_print_ex(bio, name, 0, flags) >= 0)
		n = BIO_read(bio, out, (int)size - 1);
	out[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
}

/* The DNS names and IP addresses a certificate is for, "a, b, 1.2.3.4". */
static void tls_cert_names(X509 *cert, char *out, size_t size)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name,
					       NULL, NULL);
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[64] = "";
		const char *s = NULL;
		int len = 0;

		if (g->type == GEN_DNS) {
			s = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
		} else if (g->type == GEN_IPADD) {
			int alen = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *a = ASN1_STRING_get0_data(g->d.iPAddress);

			if (alen == 4)
				inet_ntop(AF_INET, a, ip, sizeof(ip));
			else if (alen == 16)
				inet_ntop(AF_INET6, a, ip, sizeof(ip));
			s = ip;
			len = (int)strlen(ip);
		}
		if (s == NULL || len <= 0 || used + (size_t)len + 3 >= size)
			continue;
		used += (size_t)snprintf(out + used, size - used, "%s%.*s",
					 used > 0 ? ", " : "", len, s);
	}
	GENERAL_NAMES_free(gens);
	if (used == 0) {
		/* No SAN: fall back to the subject's common name */
		tls_name(X509_get_subject_name(cert), out, size);
	}
}

/* Verification failure in words, from SSL_get_verify_result(). */
static int tls_verify_error(SSL *ssl, long v, const char *host,
			    struct mf_error *err)
{
	/* After a failed verification the session has no peer certificate
	 * yet, but the received chain (leaf first on a client) is kept. */
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *cert = chain != NULL && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0)
							     : NULL;
	char date[16], names[256];

	switch (v) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		if (cert == NULL)
			return mf_error_set(err, MF_ETLS, "certificate has expired");
		tls_date(X509_get0_notAfter(cert), date);
		return mf_error_set(err, MF_ETLS, "certificate has expired (on %s)", date);
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return mf_error_set(err, MF_ETLS, "certificate is not yet valid");
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return mf_error_set(err, MF_ETLS, "self-signed certificate");
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return mf_error_set(err, MF_ETLS,
				    "self-signed certificate in the chain (untrusted root)");
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
		return mf_error_set(err, MF_ETLS, "unable to get local issuer certificate%s",
				    " (the issuing CA is not trusted)");
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		if (cert == NULL)
			return mf_error_set(err, MF_ETLS,
					    "certificate is not valid for host %s", host);
		tls_cert_names(cert, names, sizeof(names));
		return mf_error_set(err, MF_ETLS,
				    "certificate is not valid for host %s (it is for %s)",
				    host, names[0] != '\0' ? names : "no host");
	default:
		return mf_error_set(err, MF_ETLS, "certificate verification failed: %s",
				    X509_verify_cert_error_string(v));
	}
}

/* Describe the failure of a handshake step that returned ret. */
static int tls_handshake_error(struct net_conn *c, int ret, bool verify,
			       const char *host, int sys_errno,
			       struct mf_error *err)
{
	int e = SSL_get_error(c->ssl, ret);
	unsigned long code = ERR_peek_last_error();
	long v = SSL_get_verify_result(c->ssl);

	c->tls_broken = true;
	if (verify && v != X509_V_OK)
		return tls_verify_error(c->ssl, v, host != NULL ? host : "?", err);
	if (e == SSL_ERROR_ZERO_RETURN ||
	    (e == SSL_ERROR_SYSCALL && code == 0 && sys_errno == 0) ||
	    (e == SSL_ERROR_SSL && ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		return mf_error_set(err, MF_ETLS,
				    "server closed the connection during the TLS handshake");
	if (e == SSL_ERROR_SYSCALL && code == 0) {
		if (sys_errno == ECONNRESET || sys_errno == EPIPE)
			return mf_error_set(err, MF_ETLS, "%s (reset)",
					    "server closed the connection during the TLS handshake");
		return mf_error_set(err, MF_ETLS, "TLS handshake failed: %s",
				    strerror(sys_errno));
	}
	if (code != 0) {
		const char *reason = ERR_reason_error_string(code);
		int r = ERR_GET_REASON(code);

		if (r == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
		    r == SSL_R_UNSUPPORTED_PROTOCOL || r == SSL_R_WRONG_VERSION_NUMBER)
			return mf_error_set(err, MF_ETLS, "TLS handshake failed: %s (%s)",
					    reason != NULL ? reason : "protocol version",
					    "the server offers no TLS 1.2 or newer");
		return mf_error_set(err, MF_ETLS, "TLS handshake failed: %s",
				    reason != NULL ? reason : "unknown error");
	}
	return mf_error_set(err, MF_ETLS, "TLS handshake failed");
}

static void tls_fill_info(struct net_conn *c)
{
	X509 *cert = SSL_get0_peer_certificate(c->ssl);
	char subject[200], issuer[200], date[16];

	snprintf(c->tls_desc, sizeof(c->tls_desc), "%s %s",
		 SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
	c->tls_peer[0] = '\0';
	if (cert == NULL)
		return;
	tls_name(X509_get_subject_name(cert), subject, sizeof(subject));
	tls_name(X509_get_issuer_name(cert), issuer, sizeof(issuer));
	tls_date(X509_get0_notAfter(cert), date);
	snprintf(c->tls_peer, sizeof(c->tls_peer), "subject %s, issuer %s, expires %s",
		 subject, issuer, date);
}

/* Set up host checks and SNI. Returns 0 or MF_EINVAL. */
static int tls_set_host(SSL *ssl, const char *host, bool verify,
			struct mf_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char ip[INET6_ADDRSTRLEN];

	if (host == NULL || host[0] == '\0') {
		if (verify)
			return mf_error_set(err, MF_EINVAL,
					    "TLS verification needs the server's host name");
		return 0;
	}
	if (net_parse_numeric(host, &ss, &len)) {
		/* An address: check the IP SAN, and send no SNI (RFC 6066 3) */
		if (!verify)
			return 0;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip,
				  sizeof(ip));
		if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip))
			return mf_error_set(err, MF_EINVAL, "bad IP address for TLS: %s", host);
		return 0;
	}
	if (!SSL_set_tlsext_host_name(ssl, host))
		return mf_error_set(err, MF_EINVAL, "bad TLS server name: %s", host);
	if (verify) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (!SSL_set1_host(ssl, host))
			return mf_error_set(err, MF_EINVAL, "bad TLS host name: %s", host);
	}
	return 0;
}

int net_start_tls(struct net_conn *c, const struct net_tls_opts *opts,
		  int timeout_ms, struct mf_error *err)
{
	int64_t deadline = net_deadline(timeout_ms);
	bool verify = opts == NULL || opts->verify;
	const char *host = opts != NULL ? opts->host : NULL;
	char secs[24];
	int rc;

	if (c->ssl != NULL)
		return mf_error_set(err, MF_EINVAL, "TLS is already active");
	ERR_clear_error();
	c->ssl = SSL_new(tls_ctx(verify));
	if (c->ssl == NULL)
		return mf_error_set(err, MF_ETLS, "cannot create a TLS session");
	c->tls_broken = false;
	rc = tls_set_host(c->ssl, host, verify, err);
	if (rc == 0 && !SSL_set_fd(c->ssl, c->fd))
		rc = mf_error_set(err, MF_ETLS, "cannot attach TLS to the socket");
	while (rc == 0) {
		int ret, e, w;

		ERR_clear_error();
		errno = 0;
		ret = SSL_connect(c->ssl);
		if (ret == 1)
			break;
		e = SSL_get_error(c->ssl, ret);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			rc = tls_handshake_error(c, ret, verify, host, errno, err);
			break;
		}
		w = net_wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
				deadline);
		if (w == 0)
			rc = mf_error_set(err, MF_ETIMEOUT,
					  "TLS handshake did not finish within %s s",
					  net_secs_text(timeout_ms, secs));
		else if (w < 0)
			rc = mf_error_set(err, MF_EIO, "poll error: %s", strerror(-w));
	}
	if (rc != 0) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		c->tls_broken = false;
		ERR_clear_error();
		return rc;
	}
	tls_fill_info(c);
	return 0;
}

const char *net_tls_description(const struct net_conn *c)
{
	return c->ssl != NULL ? c->tls_desc : "";
}

const char *net_tls_peer_summary(const struct net_conn *c)
{
	return c->ssl != NULL ? c->tls_peer : "";
}

/* Map a failed SSL_read/SSL_write; 0 means wait for *events_r. */
static ssize_t tls_io_error(struct net_conn *c, int ret, int sys_errno,
			    short *events_r, struct mf_error *err)
{
	int e = SSL_get_error(c->ssl, ret);
	unsigned long code = ERR_peek_last_error();
	const char *reason;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*events_r = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*events_r = POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		/* Orderly close_notify; answering it is net_close()'s job */
		return mf_error_set(err, MF_ECLOSED, "connection closed by server");
	case SSL_ERROR_SYSCALL:
		c->tls_broken = true;
		if (code == 0 && sys_errno == 0)
			return mf_error_set(err, MF_ECLOSED, "connection closed by server");
		if (sys_errno == ECONNRESET || sys_errno == EPIPE)
			return mf_error_set(err, MF_ECLOSED, "connection reset by server");
		if (sys_errno != 0)
			return mf_error_set(err, MF_EIO, "TLS I/O error: %s", strerror(sys_errno));
		break;
	default:
		c->tls_broken = true;
		if (ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			return mf_error_set(err, MF_ECLOSED, "connection closed by server");
		break;
	}
	reason = ERR_reason_error_string(code);
	return mf_error_set(err, MF_ETLS, "TLS error: %s",
			    reason != NULL ? reason : "unknown error");
}

ssize_t net_tls_read_step(struct net_conn *c, void *buf, size_t len,
			  short *events_r, struct mf_error *err)
{
	size_t n = 0;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_read_ex(c->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return tls_io_error(c, ret, errno, events_r, err);
}

ssize_t net_tls_write_step(struct net_conn *c, const void *buf, size_t len,
			   short *events_r, struct mf_error *err)
{
	size_t n = 0;
	int ret;

	ERR_clear_error();
	errno = 0;
	ret = SSL_write_ex(c->ssl, buf, len, &n);
	if (ret == 1)
		return (ssize_t)n;
	return tls_io_error(c, ret, errno, events_r, err);
}

void net_tls_shutdown(struct net_conn *c)
{
	if (!c->tls_broken) {
		/* One non-blocking attempt: sends close_notify if the socket
		 * takes it; the peer's answer is not awaited. */
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
}
