/* Unit tests for src/proto/http/http.c against HTTP and HTTPS servers run in
 * threads on 127.0.0.1 (certificates made in-process, trusted through
 * SSL_CERT_FILE) and a scripted DNS server, so curl only ever reaches
 * names through our resolver.
 *
 * The servers record every request they receive, so the tests can show
 * what was (and was not) sent: no credentials over http or to a host whose
 * certificate fails. */
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
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "proto/http/http.h"
#include "util/mftime.h"

#define DAY (24L * 3600)
#define MIB (1024 * 1024)

/* ---- certificates --------------------------------------------------------- */

struct cert {
	X509 *x509;
	EVP_PKEY *key;
};

static struct cert ca, other_ca, good, untrusted, wrong_host;
static char tmpdir[64] = "/tmp/mf-test-http-XXXXXX";
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

/* A CA (san NULL) or a server certificate for san, signed by issuer (NULL:
 * self-signed). */
static struct cert cert_make(const char *cn, const struct cert *issuer, const char *san)
{
	static long serial = 1;
	struct cert c = {.key = EVP_EC_gen("P-256"), .x509 = X509_new()};
	X509 *x = c.x509;
	X509 *ix = issuer != NULL ? issuer->x509 : x;
	X509_NAME *name = X509_NAME_new();

	assert_non_null(c.key);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -DAY);
	X509_gmtime_adj(X509_getm_notAfter(x), 30 * DAY);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, X509_get_subject_name(ix));
	X509_NAME_free(name);
	X509_set_pubkey(x, c.key);
	if (san == NULL) {
		cert_ext(x, ix, NID_basic_constraints, "critical,CA:TRUE");
		cert_ext(x, ix, NID_key_usage, "critical,keyCertSign,cRLSign");
		cert_ext(x, ix, NID_subject_key_identifier, "hash");
	} else {
		cert_ext(x, ix, NID_basic_constraints, "CA:FALSE");
		cert_ext(x, ix, NID_ext_key_usage, "serverAuth");
		cert_ext(x, ix, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, issuer != NULL ? issuer->key : c.key, EVP_sha256()) > 0);
	return c;
}

static void cert_free(struct cert *c)
{
	X509_free(c->x509);
	EVP_PKEY_free(c->key);
}

/* ---- DNS: A 127.0.0.1 for every name but missing.*, which is NXDOMAIN ------- */

struct dns_srv {
	int fd;
	atomic_bool stop;
	pthread_t thread;
	char addr[32];
};

static void dns_answer(int fd, const unsigned char *q, size_t n,
		       const struct sockaddr_storage *from, socklen_t fromlen)
{
	static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1};
	unsigned char r[600];
	size_t i = 12, qend;
	int qtype;
	bool missing;

	if (n < 12 + 5 || n > 400)
		return;
	missing = q[12] == 7 && memcmp(q + 13, "missing", 7) == 0;
	while (i < n && q[i] != 0)
		i += (size_t)q[i] + 1;
	if (i + 5 > n)
		return;
	qend = i + 5;
	qtype = q[i + 1] << 8 | q[i + 2];
	memcpy(r, q, qend);
	r[2] = (unsigned char)(0x80 | (q[2] & 0x79));
	r[3] = (unsigned char)(0x80 | (missing ? 3 : 0));
	r[4] = 0, r[5] = 1;
	r[6] = 0, r[7] = (!missing && qtype == 1) ? 1 : 0;
	r[8] = r[9] = r[10] = r[11] = 0;
	if (r[7] == 1)
		memcpy(r + qend, rr, sizeof(rr));
	(void)sendto(fd, r, qend + (r[7] ? sizeof(rr) : 0), 0, (const struct sockaddr *)from,
		     fromlen);
}

static void *dns_main(void *arg)
{
	struct dns_srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		unsigned char q[512];
		ssize_t n;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
		if (n > 0)
			dns_answer(s->fd, q, (size_t)n, &from, fromlen);
	}
	return NULL;
}

static void dns_start(struct dns_srv *s)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	struct mf_error err;

	memset(s, 0, sizeof(*s));
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(pthread_create(&s->thread, NULL, dns_main, s), 0);
	assert_int_equal(net_set_dns_server(s->addr, &err), 0);
}

static void dns_stop(struct dns_srv *s)
{
	struct mf_error err;

	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
}

/* ---- the HTTP(S) server ------------------------------------------------------ */

#define MAX_CONNS 32

struct hsrv {
	SSL_CTX *ctx; /* NULL: plain http */
	int lfd;
	uint16_t port;
	atomic_bool stop;
	pthread_t thread;
	pthread_t conn[MAX_CONNS];
	int nconn;
	pthread_mutex_t lock;
	struct buf log; /* every request, head and body */
	int requests;
};

struct hconn {
	struct hsrv *s;
	int fd;
	SSL *ssl;
};

/* Read some bytes; 0 at end, -1 on error or when the server stops. */
static ssize_t hc_read(struct hconn *c, char *p, size_t n)
{
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int r;

		if (atomic_load(&c->s->stop))
			return -1;
		if (c->ssl == NULL || SSL_pending(c->ssl) == 0) {
			r = poll(&pfd, 1, 20);
			if (r <= 0)
				continue;
		}
		if (c->ssl == NULL)
			return recv(c->fd, p, n, 0);
		r = SSL_read(c->ssl, p, (int)n);
		return r > 0 ? r : (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
	}
}

static bool hc_write(struct hconn *c, const void *p, size_t n)
{
	if (c->ssl != NULL)
		return SSL_write(c->ssl, p, (int)n) == (int)n;
	return send(c->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

static bool hc_respond(struct hconn *c, const char *status, const char *headers, const char *body)
{
	char head[1024];

	snprintf(head, sizeof(head), "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n", status,
		 headers, strlen(body));
	return hc_write(c, head, strlen(head)) && hc_write(c, body, strlen(body));
}

/* Stream n bytes of 'x'. */
static void hc_stream(struct hconn *c, size_t n)
{
	char chunk[16384];

	memset(chunk, 'x', sizeof(chunk));
	while (n > 0) {
		size_t k = n < sizeof(chunk) ? n : sizeof(chunk);

		if (!hc_write(c, chunk, k))
			return;
		n -= k;
	}
}

/* Answer one request; false to close the connection. */
static bool hc_answer(struct hconn *c, const char *path, const char *head, size_t body_len)
{
	char text[64];

	if (strcmp(path, "/ok") == 0)
		return hc_respond(c, "200 OK", "Content-Type: text/plain; charset=utf-8\r\n",
				  "hello");
	if (strcmp(path, "/post") == 0) {
		snprintf(text, sizeof(text), "got %zu", body_len);
		return hc_respond(c, "200 OK", "", text);
	}
	if (strcmp(path, "/redirect") == 0)
		return hc_respond(
		    c, "302 Found",
		    "Location: https://other.example.test/autodiscover/autodiscover.xml\r\n",
		    "moved");
	if (strcmp(path, "/relative") == 0)
		return hc_respond(c, "301 Moved Permanently", "Location: /elsewhere?x=1\r\n", "");
	if (strcmp(path, "/basic") == 0) {
		/* user:s3cret */
		if (strstr(head, "\r\nAuthorization: Basic dXNlcjpzM2NyZXQ=\r\n") != NULL)
			return hc_respond(c, "200 OK", "", "welcome");
		return hc_respond(c, "401 Unauthorized", "WWW-Authenticate: Basic realm=\"x\"\r\n",
				  "who are you?");
	}
	if (strcmp(path, "/multi") == 0)
		return hc_respond(
		    c, "401 Unauthorized",
		    "WWW-Authenticate: Negotiate\r\n"
		    "WWW-Authenticate: NTLM\r\n"
		    "WWW-Authenticate: Basic realm=\"a, b\", charset=\"UTF-8\", Bearer\r\n"
		    "WWW-Authenticate: basic realm=y\r\n",
		    "");
	if (strcmp(path, "/ntlm") == 0)
		return hc_respond(c, "401 Unauthorized", "WWW-Authenticate: NTLM\r\n", "");
	if (strcmp(path, "/huge") == 0) {
		snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
			 2 * MIB);
		if (hc_write(c, text, strlen(text)))
			hc_stream(c, 2 * MIB);
		return false;
	}
	if (strcmp(path, "/huge-close") == 0) {
		snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
		if (hc_write(c, text, strlen(text)))
			hc_stream(c, 2 * MIB);
		return false;
	}
	if (strcmp(path, "/exact") == 0) {
		snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", MIB);
		if (hc_write(c, text, strlen(text)))
			hc_stream(c, MIB);
		return true;
	}
	if (strcmp(path, "/silent") == 0) {
		char b;

		while (hc_read(c, &b, 1) > 0)
			;
		return false;
	}
	return hc_respond(c, "404 Not Found", "", "no such page");
}

static void *hc_main(void *arg)
{
	struct hconn *c = arg;
	struct hsrv *s = c->s;
	char req[65536];
	size_t have = 0;

	if (s->ctx != NULL) {
		c->ssl = SSL_new(s->ctx);
		SSL_set_fd(c->ssl, c->fd);
		if (SSL_accept(c->ssl) != 1)
			goto out;
	}
	for (;;) {
		char *end, *cl, path[256] = "";
		size_t head_len, body_len = 0;
		ssize_t n;

		while ((end = memmem(req, have, "\r\n\r\n", 4)) == NULL) {
			if (have == sizeof(req) - 1)
				goto out;
			n = hc_read(c, req + have, sizeof(req) - 1 - have);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		head_len = (size_t)(end - req) + 4;
		req[have] = '\0';
		cl = strcasestr(req, "\r\nContent-Length: ");
		if (cl != NULL && cl < end)
			body_len = strtoul(cl + 18, NULL, 10);
		if (body_len > sizeof(req) - 1 - head_len)
			goto out;
		while (have < head_len + body_len) {
			n = hc_read(c, req + have, sizeof(req) - 1 - have);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		req[have] = '\0';
		pthread_mutex_lock(&s->lock);
		buf_append(&s->log, req, head_len + body_len);
		buf_puts(&s->log, "\n----\n");
		s->requests++;
		pthread_mutex_unlock(&s->lock);
		(void)sscanf(req, "%*s %255s", path);
		/* keep the head NUL-terminated for hc_answer */
		req[head_len - 2] = '\0';
		if (!hc_answer(c, path, req, body_len))
			break;
		memmove(req, req + head_len + body_len, have - head_len - body_len);
		have -= head_len + body_len;
	}
out:
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	ERR_clear_error();
	close(c->fd);
	free(c);
	return NULL;
}

static void *hsrv_main(void *arg)
{
	struct hsrv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
		struct hconn *c;
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (s->nconn == MAX_CONNS) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		assert_non_null(c);
		c->s = s;
		c->fd = fd;
		pthread_create(&s->conn[s->nconn++], NULL, hc_main, c);
	}
	for (int i = 0; i < s->nconn; i++)
		pthread_join(s->conn[i], NULL);
	return NULL;
}

static void hsrv_start(struct hsrv *s, const struct cert *cert)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	if (cert != NULL) {
		s->ctx = SSL_CTX_new(TLS_server_method());
		assert_non_null(s->ctx);
		assert_true(SSL_CTX_use_certificate(s->ctx, cert->x509));
		assert_true(SSL_CTX_use_PrivateKey(s->ctx, cert->key));
	}
	pthread_mutex_init(&s->lock, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, hsrv_main, s), 0);
}

static void hsrv_stop(struct hsrv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	pthread_mutex_destroy(&s->lock);
	buf_free(&s->log);
}

/* What the server received so far (a copy to free). */
static char *hsrv_log(struct hsrv *s, int *requests)
{
	char *copy;

	pthread_mutex_lock(&s->lock);
	copy = strdup(buf_cstr(&s->log));
	if (requests != NULL)
		*requests = s->requests;
	pthread_mutex_unlock(&s->lock);
	assert_non_null(copy);
	return copy;
}

static char *url_of(const struct hsrv *s, const char *host, const char *path)
{
	static char url[8][256];
	static int next;
	char *u = url[next++ % 8];

	snprintf(u, sizeof(url[0]), "%s://%s:%u%s", s->ctx != NULL ? "https" : "http", host,
		 s->port, path);
	return u;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* ---- setup --------------------------------------------------------------------- */

static int setup(void **state)
{
	const char *san = "IP:127.0.0.1,DNS:localhost,DNS:autodiscover.example.test";
	FILE *f;

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* servers write to clients that gave up */
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	ca = cert_make("mailferry test CA", NULL, NULL);
	other_ca = cert_make("other CA", NULL, NULL);
	good = cert_make("mailferry test server", &ca, san);
	untrusted = cert_make("untrusted server", &other_ca, san);
	wrong_host = cert_make("mail.example.com", &ca, "DNS:mail.example.com");
	snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
	f = fopen(ca_path, "w");
	if (f == NULL || !PEM_write_X509(f, ca.x509))
		return -1;
	fclose(f);
	/* before the first request */
	setenv("SSL_CERT_FILE", ca_path, 1);
	setenv("SSL_CERT_DIR", tmpdir, 1);
	http_global_init();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cert_free(&good);
	cert_free(&untrusted);
	cert_free(&wrong_host);
	cert_free(&other_ca);
	cert_free(&ca);
	unlink(ca_path);
	rmdir(tmpdir);
	return 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_get(void **state)
{
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	char *trace = NULL, *log, want[128];
	size_t trace_len = 0;
	FILE *tf = open_memstream(&trace, &trace_len);
	struct http_request req = {.url = NULL, .trace = tf};

	(void)state;
	hsrv_start(&s, &good);
	req.url = url_of(&s, "127.0.0.1", "/ok");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 5);
	assert_string_equal(buf_cstr(&r.body), "hello");
	assert_string_equal(r.content_type, "text/plain; charset=utf-8");
	assert_null(r.location);
	assert_null(r.www_authenticate);
	http_response_free(&r);

	req.url = url_of(&s, "127.0.0.1", "/nothing");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 404);
	http_response_free(&r);
	fclose(tf);
	snprintf(want, sizeof(want),
		 "GET https://127.0.0.1:%u/ok -> 200 (5 bytes)\n"
		 "GET https://127.0.0.1:%u/nothing -> 404 (12 bytes)\n",
		 s.port, s.port);
	assert_string_equal(trace, want);
	free(trace);

	log = hsrv_log(&s, NULL);
	assert_contains(log, "GET /ok HTTP/1.1\r\n");
	assert_contains(log, "User-Agent: mailferry/");
	free(log);
	hsrv_stop(&s);
}

static void test_post(void **state)
{
	static const char body[] =
	    "<?xml version=\"1.0\"?><Autodiscover><Request>"
	    "<EMailAddress>user@example.test</EMailAddress></Request></Autodiscover>";
	struct http_request req = {
	    .method = "POST",
	    .content_type = "text/xml; charset=utf-8",
	    .body = body,
	    .body_len = sizeof(body) - 1,
	};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	char *log, want[32];

	(void)state;
	hsrv_start(&s, &good);
	req.url = url_of(&s, "127.0.0.1", "/post");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 200);
	snprintf(want, sizeof(want), "got %zu", sizeof(body) - 1);
	assert_string_equal(buf_cstr(&r.body), want);
	http_response_free(&r);
	log = hsrv_log(&s, NULL);
	assert_contains(log, "POST /post HTTP/1.1\r\n");
	assert_contains(log, "\r\nContent-Type: text/xml; charset=utf-8\r\n");
	assert_contains(log, body);
	assert_null(strcasestr(log, "Expect:"));
	free(log);

	req.method = "PUT";
	assert_int_equal(http_do(&req, &r, &err), MF_EINVAL);
	hsrv_stop(&s);
}

static void test_redirect_not_followed(void **state)
{
	struct http_request req = {0};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	char want[128];
	int requests;

	(void)state;
	hsrv_start(&s, &good);
	req.url = url_of(&s, "127.0.0.1", "/redirect");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 302);
	assert_string_equal(r.location, "https://other.example.test/autodiscover/autodiscover.xml");
	http_response_free(&r);
	assert_null(r.location);

	req.url = url_of(&s, "127.0.0.1", "/relative");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 301);
	snprintf(want, sizeof(want), "https://127.0.0.1:%u/elsewhere?x=1", s.port);
	assert_string_equal(r.location, want);
	http_response_free(&r);
	free(hsrv_log(&s, &requests));
	assert_int_equal(requests, 2);
	hsrv_stop(&s);
}

static void test_basic_auth(void **state)
{
	struct http_request req = {.user = "user", .password = "s3cret"};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	char *log, *trace = NULL;
	size_t trace_len = 0;
	int requests;

	(void)state;
	hsrv_start(&s, &good);
	req.trace = open_memstream(&trace, &trace_len);

	/* no credentials: the challenge comes back */
	req.url = url_of(&s, "127.0.0.1", "/basic");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www_authenticate, "Basic");
	http_response_free(&r);

	/* Basic: sent with the request */
	req.auth = HTTP_AUTH_BASIC;
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "welcome");
	assert_null(r.www_authenticate);
	http_response_free(&r);
	log = hsrv_log(&s, &requests);
	assert_int_equal(requests, 2);
	assert_contains(log, "\r\nAuthorization: Basic dXNlcjpzM2NyZXQ=\r\n");
	free(log);

	/* Any: asks without, then answers the Basic challenge */
	req.auth = HTTP_AUTH_ANY;
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(buf_cstr(&r.body), "welcome");
	http_response_free(&r);
	log = hsrv_log(&s, &requests);
	assert_int_equal(requests, 4);
	free(log);

	fclose(req.trace);
	assert_null(strstr(trace, "s3cret"));
	assert_null(strstr(trace, "dXNlcjpz"));
	assert_contains(trace, "/basic -> 200 (7 bytes)\n");
	free(trace);
	hsrv_stop(&s);
}

static void test_auth_schemes(void **state)
{
	struct http_request req = {.user = "user", .password = "s3cret"};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	char *log;

	(void)state;
	hsrv_start(&s, &good);
	req.url = url_of(&s, "127.0.0.1", "/multi");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www_authenticate, "Negotiate, NTLM, Basic, Bearer");
	http_response_free(&r);

	/* NTLM: curl opens with a type 1 message (MS-NLMP "NTLMSSP\0" 1) */
	req.url = url_of(&s, "127.0.0.1", "/ntlm");
	req.auth = HTTP_AUTH_NTLM;
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.www_authenticate, "NTLM");
	http_response_free(&r);
	log = hsrv_log(&s, NULL);
	assert_contains(log, "\r\nAuthorization: NTLM TlRMTVNTUAAB");
	assert_null(strstr(log, "s3cret"));
	free(log);
	hsrv_stop(&s);
}

static void test_no_credentials_over_http(void **state)
{
	struct http_request req = {.auth = HTTP_AUTH_BASIC, .user = "user", .password = "s3cret"};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	char want[128];
	int requests;

	(void)state;
	hsrv_start(&s, NULL);
	req.url = url_of(&s, "127.0.0.1", "/basic");
	assert_int_equal(http_do(&req, &r, &err), MF_EINVAL);
	snprintf(want, sizeof(want),
		 "refusing to send credentials over http: http://127.0.0.1:%u/basic", s.port);
	assert_string_equal(err.msg, want);
	assert_int_equal(r.status, 0);
	req.auth = HTTP_AUTH_ANY;
	assert_int_equal(http_do(&req, &r, &err), MF_EINVAL);
	req.auth = HTTP_AUTH_NTLM;
	assert_int_equal(http_do(&req, &r, &err), MF_EINVAL);

	/* without credentials plain http works (the redirect probe) */
	req.auth = HTTP_AUTH_NONE;
	req.url = url_of(&s, "127.0.0.1", "/redirect");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 302);
	http_response_free(&r);
	free(hsrv_log(&s, &requests));
	assert_int_equal(requests, 1);

	/* credentials inside a URL are refused without echoing them */
	req.url = "https://user:hunter2@127.0.0.1:1/ok";
	assert_int_equal(http_do(&req, &r, &err), MF_EINVAL);
	assert_null(strstr(err.msg, "hunter2"));
	req.url = "ftp://127.0.0.1/x";
	assert_int_equal(http_do(&req, &r, &err), MF_EINVAL);
	req.url = "not a URL";
	assert_int_equal(http_do(&req, &r, &err), MF_EINVAL);
	hsrv_stop(&s);
}

static void test_size_limit(void **state)
{
	struct http_request req = {0};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;

	(void)state;
	hsrv_start(&s, &good);
	req.url = url_of(&s, "127.0.0.1", "/huge");
	assert_int_equal(http_do(&req, &r, &err), MF_ELIMIT);
	assert_string_equal(err.msg, "response larger than 1 MiB refused");
	assert_int_equal(r.body.len, 0);
	assert_null(r.body.data);

	/* no Content-Length: stopped as it streams */
	req.url = url_of(&s, "127.0.0.1", "/huge-close");
	assert_int_equal(http_do(&req, &r, &err), MF_ELIMIT);
	assert_string_equal(err.msg, "response larger than 1 MiB refused");

	/* exactly the limit is fine */
	req.url = url_of(&s, "127.0.0.1", "/exact");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.body.len, MIB);
	http_response_free(&r);

	req.max_response = 3;
	req.url = url_of(&s, "127.0.0.1", "/ok");
	assert_int_equal(http_do(&req, &r, &err), MF_ELIMIT);
	assert_string_equal(err.msg, "response larger than 3 bytes refused");
	hsrv_stop(&s);
}

static void test_timeout(void **state)
{
	struct http_request req = {.timeout_ms = 500};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	int64_t t0, elapsed;
	char want[128];

	(void)state;
	hsrv_start(&s, &good);
	req.url = url_of(&s, "127.0.0.1", "/silent");
	t0 = mf_now_ms();
	assert_int_equal(http_do(&req, &r, &err), MF_ETIMEOUT);
	elapsed = mf_now_ms() - t0;
	assert_true(elapsed >= 450 && elapsed < 2000);
	snprintf(want, sizeof(want), "no answer from https://127.0.0.1:%u/silent within 0.5 s",
		 s.port);
	assert_string_equal(err.msg, want);
	hsrv_stop(&s);
}

static void test_untrusted_certificate(void **state)
{
	struct http_request req = {.auth = HTTP_AUTH_BASIC, .user = "user", .password = "s3cret"};
	struct http_response r;
	struct mf_error err;
	struct hsrv s;
	int requests;

	(void)state;
	hsrv_start(&s, &untrusted);
	req.url = url_of(&s, "127.0.0.1", "/basic");
	assert_int_equal(http_do(&req, &r, &err), MF_ETLS);
	assert_contains(err.msg, "TLS with 127.0.0.1 failed: ");
	assert_contains(err.msg, "certificate");
	free(hsrv_log(&s, &requests));
	assert_int_equal(requests, 0); /* not a byte of HTTP, so no credentials */
	hsrv_stop(&s);

	hsrv_start(&s, &wrong_host);
	req.url = url_of(&s, "localhost", "/basic");
	assert_int_equal(http_do(&req, &r, &err), MF_ETLS);
	assert_contains(err.msg, "localhost");
	free(hsrv_log(&s, &requests));
	assert_int_equal(requests, 0);
	hsrv_stop(&s);
}

static void test_names_through_our_resolver(void **state)
{
	struct http_request req = {0};
	struct http_response r;
	struct mf_error err;
	struct dns_srv d;
	struct hsrv s;
	int64_t t0;

	(void)state;
	hsrv_start(&s, &good);
	/* /etc/hosts */
	req.url = url_of(&s, "localhost", "/ok");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 200);
	http_response_free(&r);

	/* a name only our test DNS knows: curl cannot have resolved it */
	dns_start(&d);
	req.url = url_of(&s, "autodiscover.example.test", "/ok");
	assert_int_equal(http_do(&req, &r, &err), 0);
	assert_int_equal(r.status, 200);
	http_response_free(&r);
	req.url = url_of(&s, "missing.example.test", "/ok");
	assert_int_equal(http_do(&req, &r, &err), MF_EDNS);
	assert_string_equal(err.msg, "no such host: missing.example.test");
	dns_stop(&d);
	hsrv_stop(&s);

	/* nobody listening */
	req.url = url_of(&s, "127.0.0.1", "/ok");
	t0 = mf_now_ms();
	assert_int_equal(http_do(&req, &r, &err), MF_ECONNECT);
	assert_true(mf_now_ms() - t0 < 1000);
	assert_contains(err.msg, "cannot connect to 127.0.0.1 port ");
	assert_contains(err.msg, ": Connection refused");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get),
	    cmocka_unit_test(test_post),
	    cmocka_unit_test(test_redirect_not_followed),
	    cmocka_unit_test(test_basic_auth),
	    cmocka_unit_test(test_auth_schemes),
	    cmocka_unit_test(test_no_credentials_over_http),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_untrusted_certificate),
	    cmocka_unit_test(test_names_through_our_resolver),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
