/* Unit tests for src/net/tls.c: verification outcomes, protocol floor,
 * timeouts and TLS reads/writes, against TLS servers run in threads on
 * 127.0.0.1 with certificates made in-process.
 *
 * The test CA reaches the library only through SSL_CERT_FILE, set before
 * the first net_start_tls(): a good certificate passing proves that the
 * lazily created verifying context honours the environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "util/mftime.h"

#define DAY (24L * 3600)

/* ---- certificates --------------------------------------------------------- */

struct cert {
	X509 *x509;
	EVP_PKEY *key;
};

static struct cert ca, other_ca, good, expired, wrong_host, self_signed, untrusted;
static char tmpdir[64] = "/tmp/mf-test-tls-XXXXXX";
static char ca_path[128];

static void cert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_true(X509_add_ext(x, ext, -1));
	X509_EXTENSION_free(ext);
}

/* A certificate for cn valid from now+from_s to now+to_s, with the given
 * subjectAltName (or NULL), signed by issuer (NULL: self-signed). */
static struct cert cert_make(const char *cn, const struct cert *issuer, long from_s,
			     long to_s, const char *san, bool is_ca)
{
	static long serial = 1;
	struct cert c = { .key = EVP_EC_gen("P-256"), .x509 = X509_new() };
	X509 *x = c.x509;
	X509 *ix = issuer != NULL ? issuer->x509 : x;
	X509_NAME *name = X509_NAME_new();

	assert_non_null(c.key);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
				   0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, X509_get_subject_name(ix));
	X509_NAME_free(name);
	X509_set_pubkey(x, c.key);
	if (is_ca) {
		cert_ext(x, ix, NID_basic_constraints, "critical,CA:TRUE");
		cert_ext(x, ix, NID_key_usage, "critical,keyCertSign,cRLSign");
		cert_ext(x, ix, NID_subject_key_identifier, "hash");
	} else {
		cert_ext(x, ix, NID_basic_constraints, "CA:FALSE");
		cert_ext(x, ix, NID_ext_key_usage, "serverAuth");
	}
	if (san != NULL)
		cert_ext(x, ix, NID_subject_alt_name, san);
	assert_true(X509_sign(x, issuer != NULL ? issuer->key : c.key, EVP_sha256()) > 0);
	return c;
}

static void cert_free(struct cert *c)
{
	X509_free(c->x509);
	EVP_PKEY_free(c->key);
}

static int setup(void **state)
{
	const char *san = "IP:127.0.0.1,DNS:localhost";
	FILE *f;

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	ca = cert_make("mailferry test CA", NULL, -DAY, 30 * DAY, NULL, true);
	other_ca = cert_make("other CA", NULL, -DAY, 30 * DAY, NULL, true);
	good = cert_make("mailferry test server", &ca, -DAY, 30 * DAY, san, false);
	expired = cert_make("expired server", &ca, -3 * DAY, -DAY, san, false);
	wrong_host = cert_make("mail.example.com", &ca, -DAY, 30 * DAY,
			       "DNS:mail.example.com", false);
	self_signed = cert_make("self-signed server", NULL, -DAY, 30 * DAY, san, false);
	untrusted = cert_make("untrusted server", &other_ca, -DAY, 30 * DAY, san, false);

	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
	f = fopen(ca_path, "w");
	if (f == NULL || !PEM_write_X509(f, ca.x509))
		return -1;
	fclose(f);
	/* Before any TLS use: the library's contexts are created lazily */
	setenv("SSL_CERT_FILE", ca_path, 1);
	setenv("SSL_CERT_DIR", tmpdir, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cert_free(&good);
	cert_free(&expired);
	cert_free(&wrong_host);
	cert_free(&self_signed);
	cert_free(&untrusted);
	cert_free(&other_ca);
	cert_free(&ca);
	unlink(ca_path);
	rmdir(tmpdir);
	return 0;
}

/* ---- servers ---------------------------------------------------------------- */

enum srv_mode {
	SRV_TLS,     /* handshake, then echo; "QUIT" -> close_notify, "DROP" -> plain close */
	SRV_SILENT,  /* accept, say nothing until released */
	SRV_CLOSE,   /* accept and close at once */
};

struct srv {
	enum srv_mode mode;
	SSL_CTX *ctx;
	int lfd;
	uint16_t port;
	int release[2];
	pthread_t thread;
	bool handshake_ok;
	char sni[256];
};

/* Block until srv_stop() closes the write end of the release pipe. */
static void wait_release(struct srv *s)
{
	char c;

	while (read(s->release[0], &c, 1) > 0)
		;
}

static void srv_echo(struct srv *s, SSL *ssl)
{
	char buf[4096];
	int n;

	while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) {
		if (n == 6 && memcmp(buf, "QUIT\r\n", 6) == 0) {
			SSL_write(ssl, "BYE\r\n", 5);
			SSL_shutdown(ssl);
			return;
		}
		if (n == 6 && memcmp(buf, "DROP\r\n", 6) == 0)
			return;
		if (n == 6 && memcmp(buf, "HOLD\r\n", 6) == 0) {
			wait_release(s);
			return;
		}
		if (SSL_write(ssl, buf, n) != n)
			return;
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (s->mode == SRV_SILENT)
		wait_release(s);
	if (s->mode == SRV_TLS) {
		SSL *ssl = SSL_new(s->ctx);
		const char *sni;

		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			s->handshake_ok = true;
			sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
			snprintf(s->sni, sizeof(s->sni), "%s", sni != NULL ? sni : "");
			srv_echo(s, ssl);
		}
		SSL_free(ssl);
		ERR_clear_error();
	}
	close(fd);
	return NULL;
}

/* Start a server; cert NULL for the non-TLS modes. max_version 0 = any. */
static void srv_start(struct srv *s, enum srv_mode mode, const struct cert *cert,
		      int max_version)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	if (cert != NULL) {
		s->ctx = SSL_CTX_new(TLS_server_method());
		assert_non_null(s->ctx);
		assert_true(SSL_CTX_use_certificate(s->ctx, cert->x509));
		assert_true(SSL_CTX_use_PrivateKey(s->ctx, cert->key));
		if (max_version != 0) {
			/* TLS 1.1 needs security level 0 in OpenSSL 3 */
			SSL_CTX_set_security_level(s->ctx, 0);
			SSL_CTX_set_cipher_list(s->ctx, "DEFAULT:@SECLEVEL=0");
			SSL_CTX_set_min_proto_version(s->ctx, 0);
			SSL_CTX_set_max_proto_version(s->ctx, max_version);
		}
	}
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pipe(s->release), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	close(s->release[1]);
	pthread_join(s->thread, NULL);
	close(s->release[0]);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

static struct net_conn *connect_to(const struct srv *s)
{
	struct net_addrs addrs;
	struct net_conn *c = NULL;
	struct mf_error err;

	assert_int_equal(net_resolve("127.0.0.1", s->port, 1000, &addrs, &err), 0);
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), 0);
	return c;
}

/* Handshake with a server using cert; returns net_start_tls()'s result. */
static int try_tls(const struct cert *cert, int max_version, bool verify, const char *host,
		   struct mf_error *err)
{
	struct net_tls_opts opts = { .verify = verify, .host = host };
	struct srv s;
	struct net_conn *c;
	int rc;

	srv_start(&s, SRV_TLS, cert, max_version);
	c = connect_to(&s);
	mf_error_clear(err);
	rc = net_start_tls(c, &opts, 2000, err);
	assert_int_equal(net_is_tls(c), rc == 0);
	net_close(&c);
	srv_stop(&s);
	return rc;
}

static void assert_tls_error(int rc, const struct mf_error *err, const char *words)
{
	assert_int_equal(rc, MF_ETLS);
	assert_int_equal(err->code, MF_ETLS);
	if (strstr(err->msg, words) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", err->msg, words);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_good_cert_by_ip(void **state)
{
	struct net_tls_opts opts = { .verify = true, .host = "127.0.0.1" };
	struct mf_error err;
	struct srv s;
	struct net_conn *c;

	(void)state;
	srv_start(&s, SRV_TLS, &good, 0);
	c = connect_to(&s);
	assert_int_equal(net_start_tls(c, &opts, 2000, &err), 0);
	assert_true(net_is_tls(c));
	assert_true(strncmp(net_tls_description(c), "TLSv1.3 TLS_", 12) == 0);
	assert_true(strncmp(net_tls_peer_summary(c),
			    "subject CN=mailferry test server, issuer CN=mailferry test CA, expires 2",
			    72) == 0);
	assert_int_equal(net_start_tls(c, &opts, 2000, &err), MF_EINVAL);
	net_close(&c);
	srv_stop(&s);
	assert_true(s.handshake_ok);
	assert_string_equal(s.sni, ""); /* no SNI for an address */
}

static void test_good_cert_by_name(void **state)
{
	struct net_tls_opts opts = { .verify = true, .host = "localhost" };
	struct mf_error err;
	struct srv s;
	struct net_conn *c;

	(void)state;
	srv_start(&s, SRV_TLS, &good, 0);
	c = connect_to(&s);
	assert_int_equal(net_start_tls(c, &opts, 2000, &err), 0);
	net_close(&c);
	srv_stop(&s);
	assert_string_equal(s.sni, "localhost");
}

static void test_expired(void **state)
{
	struct mf_error err;

	(void)state;
	assert_tls_error(try_tls(&expired, 0, true, "127.0.0.1", &err), &err,
			 "certificate has expired (on 2");
}

static void test_wrong_host(void **state)
{
	struct mf_error err;

	(void)state;
	assert_tls_error(try_tls(&wrong_host, 0, true, "127.0.0.1", &err), &err,
			 "certificate is not valid for host 127.0.0.1");
	assert_non_null(strstr(err.msg, "mail.example.com"));
	assert_tls_error(try_tls(&good, 0, true, "imap.example.com", &err), &err,
			 "certificate is not valid for host imap.example.com");
}

static void test_self_signed(void **state)
{
	struct mf_error err;

	(void)state;
	assert_tls_error(try_tls(&self_signed, 0, true, "127.0.0.1", &err), &err,
			 "self-signed certificate");
}

static void test_untrusted_issuer(void **state)
{
	struct mf_error err;

	(void)state;
	assert_tls_error(try_tls(&untrusted, 0, true, "127.0.0.1", &err), &err,
			 "unable to get local issuer certificate");
}

static void test_no_verify_accepts_all(void **state)
{
	const struct cert *certs[] = { &good, &expired, &wrong_host, &self_signed, &untrusted };
	struct mf_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
		assert_int_equal(try_tls(certs[i], 0, false, "127.0.0.1", &err), 0);
		assert_int_equal(try_tls(certs[i], 0, false, "localhost", &err), 0);
	}
	assert_int_equal(try_tls(&self_signed, 0, false, NULL, &err), 0);
}

static void test_verify_needs_host(void **state)
{
	struct mf_error err;

	(void)state;
	assert_int_equal(try_tls(&good, 0, true, NULL, &err), MF_EINVAL);
}

static void test_tls11_refused(void **state)
{
	struct mf_error err;

	(void)state;
	assert_tls_error(try_tls(&good, TLS1_1_VERSION, true, "127.0.0.1", &err), &err,
			 "TLS handshake failed: ");
	assert_tls_error(try_tls(&good, TLS1_1_VERSION, false, "127.0.0.1", &err), &err,
			 "TLS handshake failed: ");
	/* and TLS 1.2 is accepted */
	assert_int_equal(try_tls(&good, TLS1_2_VERSION, true, "127.0.0.1", &err), 0);
}

static void test_handshake_timeout(void **state)
{
	struct net_tls_opts opts = { .verify = true, .host = "127.0.0.1" };
	struct mf_error err;
	struct srv s;
	struct net_conn *c;
	int64_t t0;

	(void)state;
	srv_start(&s, SRV_SILENT, NULL, 0);
	c = connect_to(&s);
	t0 = mf_now_ms();
	assert_int_equal(net_start_tls(c, &opts, 200, &err), MF_ETIMEOUT);
	assert_true(mf_now_ms() - t0 < 1000);
	assert_string_equal(err.msg, "TLS handshake did not finish within 0.2 s");
	assert_false(net_is_tls(c));
	net_close(&c);
	srv_stop(&s);
}

static void test_handshake_peer_close(void **state)
{
	struct net_tls_opts opts = { .verify = true, .host = "127.0.0.1" };
	struct mf_error err;
	struct srv s;
	struct net_conn *c;

	(void)state;
	srv_start(&s, SRV_CLOSE, NULL, 0);
	c = connect_to(&s);
	assert_tls_error(net_start_tls(c, &opts, 2000, &err), &err,
			 "server closed the connection during the TLS handshake");
	net_close(&c);
	srv_stop(&s);
}

static struct net_conn *tls_echo_conn(struct srv *s)
{
	struct net_tls_opts opts = { .verify = true, .host = "localhost" };
	struct mf_error err;
	struct net_conn *c;

	srv_start(s, SRV_TLS, &good, 0);
	c = connect_to(s);
	assert_int_equal(net_start_tls(c, &opts, 2000, &err), 0);
	return c;
}

static void test_read_pending(void **state)
{
	const char *msg = "* 1 FETCH (FLAGS (\\Seen))\r\n";
	size_t len = strlen(msg), got = 0;
	struct mf_error err;
	struct srv s;
	struct net_conn *c;
	char buf[64];
	ssize_t n;

	(void)state;
	c = tls_echo_conn(&s);
	assert_false(net_pending(c));
	assert_int_equal(net_write_all(c, msg, len, 1000, &err), 0);
	/* The echo arrives as one record: after a short read the rest is
	 * buffered inside OpenSSL, where poll() cannot see it. */
	n = net_read(c, buf, 4, 1000, &err);
	assert_int_equal(n, 4);
	assert_true(net_pending(c));
	got = 4;
	while (net_pending(c)) {
		n = net_read(c, buf + got, sizeof(buf) - got, 0, &err);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(got, len);
	assert_memory_equal(buf, msg, len);
	assert_int_equal(net_read(c, buf, sizeof(buf), 100, &err), MF_ETIMEOUT);
	assert_string_equal(err.msg, "no data from server within 0.1 s");

	assert_int_equal(net_write_all(c, "QUIT\r\n", 6, 1000, &err), 0);
	n = net_read(c, buf, sizeof(buf), 1000, &err);
	assert_int_equal(n, 5);
	assert_int_equal(net_read(c, buf, sizeof(buf), 1000, &err), MF_ECLOSED);
	assert_string_equal(err.msg, "connection closed by server");
	net_close(&c);
	srv_stop(&s);
}

static void test_large_transfer(void **state)
{
	static char out[300000], in[sizeof(out)];
	struct mf_error err;
	struct srv s;
	struct net_conn *c;
	size_t got = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)('a' + i % 23);
	c = tls_echo_conn(&s);
	/* The server echoes while we write; the socket buffers hold the rest */
	assert_int_equal(net_write_all(c, out, sizeof(out), 1000, &err), 0);
	while (got < sizeof(in)) {
		ssize_t n = net_read(c, in + got, sizeof(in) - got, 1000, &err);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(in, out, sizeof(out));
	net_close(&c);
	srv_stop(&s);
}

static void test_unexpected_eof(void **state)
{
	struct mf_error err;
	struct srv s;
	struct net_conn *c;
	char buf[16];
	int rc = 0;

	(void)state;
	c = tls_echo_conn(&s);
	assert_int_equal(net_write_all(c, "DROP\r\n", 6, 1000, &err), 0);
	assert_int_equal(net_read(c, buf, sizeof(buf), 1000, &err), MF_ECLOSED);
	assert_string_equal(err.msg, "connection closed by server");
	/* writing to the dead peer fails, without SIGPIPE */
	for (int i = 0; i < 50 && rc == 0; i++)
		rc = net_write_all(c, "x", 1, 1000, &err);
	assert_true(rc == MF_ECLOSED || rc == MF_ETLS);
	net_close(&c);
	srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_cert_by_ip),
		cmocka_unit_test(test_good_cert_by_name),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_wrong_host),
		cmocka_unit_test(test_self_signed),
		cmocka_unit_test(test_untrusted_issuer),
		cmocka_unit_test(test_no_verify_accepts_all),
		cmocka_unit_test(test_verify_needs_host),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_handshake_peer_close),
		cmocka_unit_test(test_read_pending),
		cmocka_unit_test(test_large_transfer),
		cmocka_unit_test(test_unexpected_eof),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
