/* Unit tests for src/endpoint/conntest.c against a refused port, a dead DNS
 * server and scripted IMAP servers (one thread each, on 127.0.0.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "endpoint/conntest.h"
#include "net/net.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* ---- a scripted IMAP server ------------------------------------------------ */

struct step {
	const char *expect; /* prefix of the command after the tag (any case) */
	const char *reply;  /* sent back; "$T" is replaced by the command's tag */
	bool starttls;      /* run the TLS handshake after the reply */
};

struct server {
	int fd;
	int port;
	pthread_t thread;
	SSL_CTX *tls;              /* set: implicit TLS, or STARTTLS steps */
	bool implicit_tls;
	SSL *ssl;                  /* the session, once TLS runs */
	const char *greeting;      /* NULL: send nothing */
	const struct step *steps;
	size_t nsteps;
	struct buf received;       /* every line received */
	char problem[256];         /* "" when the client followed the script */
};

/* A self-signed certificate for 127.0.0.1 (IP SAN), made once. */
static SSL_CTX *tls_server_ctx(void)
{
	static SSL_CTX *ctx;
	X509_EXTENSION *ext;
	EVP_PKEY *key;
	X509 *crt;

	if (ctx != NULL)
		return ctx;
	key = EVP_EC_gen("P-256");
	assert_non_null(key);
	crt = X509_new();
	X509_set_version(crt, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
	X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
	X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(crt), "CN", MBSTRING_ASC,
				   (const unsigned char *)"mailferry test", -1, -1, 0);
	X509_set_issuer_name(crt, X509_get_subject_name(crt));
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "IP:127.0.0.1");
	assert_non_null(ext);
	X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	X509_set_pubkey(crt, key);
	assert_true(X509_sign(crt, key, EVP_sha256()) > 0);
	ctx = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(ctx, crt), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	X509_free(crt);
	EVP_PKEY_free(key);
	return ctx;
}

static bool server_handshake(struct server *s, int fd)
{
	s->ssl = SSL_new(s->tls);
	SSL_set_fd(s->ssl, fd);
	if (SSL_accept(s->ssl) != 1) {
		/* The client refused the certificate: expected in some tests. */
		SSL_free(s->ssl);
		s->ssl = NULL;
		return false;
	}
	return true;
}

static ssize_t server_read(struct server *s, int fd, void *b, size_t n)
{
	if (s->ssl != NULL)
		return SSL_read(s->ssl, b, (int)n);
	return read(fd, b, n);
}

static int listen_any(int type, int *port_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, type, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port_r = ntohs(sin.sin_port);
	return fd;
}

/* Read one line (without CRLF); false at EOF or after 5 s of silence
 * (SO_RCVTIMEO on the socket). */
static bool read_line(struct server *s, int fd, struct buf *line)
{
	char c;

	buf_reset(line);
	for (;;) {
		if (server_read(s, fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		if (c != '\r')
			buf_putc(line, c);
	}
	return true;
}

static void send_text(struct server *s, int fd, const char *text, const char *tag)
{
	struct buf out = BUF_INIT;

	for (const char *p = text; *p != '\0'; p++) {
		if (p[0] == '$' && p[1] == 'T') {
			buf_puts(&out, tag);
			p++;
		} else {
			buf_putc(&out, *p);
		}
	}
	if (out.len > 0 && s->ssl != NULL)
		SSL_write(s->ssl, out.data, (int)out.len);
	else if (out.len > 0 && write(fd, out.data, out.len) != (ssize_t)out.len)
		snprintf(s->problem, sizeof(s->problem), "short write");
	buf_free(&out);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	struct timeval tv = { .tv_sec = 5 };
	struct buf line = BUF_INIT;
	int c;

	if (poll(&pfd, 1, 10000) <= 0)
		return NULL;
	c = accept(s->fd, NULL, NULL);
	if (c < 0)
		return NULL;
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (s->implicit_tls && !server_handshake(s, c)) {
		close(c);
		return NULL;
	}
	if (s->greeting != NULL)
		send_text(s, c, s->greeting, "");
	for (size_t i = 0; i < s->nsteps; i++) {
		const char *sp, *cmd;
		char *tag;

		if (!read_line(s, c, &line)) {
			snprintf(s->problem, sizeof(s->problem), "no command for step %zu (%s)",
				 i, s->steps[i].expect);
			break;
		}
		buf_printf(&s->received, "%s\n", buf_cstr(&line));
		sp = strchr(buf_cstr(&line), ' ');
		cmd = sp != NULL ? sp + 1 : "";
		if (strncasecmp(cmd, s->steps[i].expect, strlen(s->steps[i].expect)) != 0) {
			snprintf(s->problem, sizeof(s->problem), "step %zu: expected %s, got '%s'",
				 i, s->steps[i].expect, buf_cstr(&line));
			break;
		}
		tag = xstrndup(buf_cstr(&line), sp != NULL ? (size_t)(sp - line.data) : 0);
		send_text(s, c, s->steps[i].reply, tag);
		free(tag);
		if (s->steps[i].starttls && !server_handshake(s, c)) {
			snprintf(s->problem, sizeof(s->problem), "STARTTLS handshake failed");
			break;
		}
	}
	/* Wait for the client to hang up (or for the greeting-timeout test to
	 * give up). */
	while (read_line(s, c, &line))
		buf_printf(&s->received, "%s\n", buf_cstr(&line));
	buf_free(&line);
	if (s->ssl != NULL) {
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	close(c);
	return NULL;
}

/* tls: 0 plain, 1 implicit TLS, 2 plain with STARTTLS steps. */
static void server_start_tls(struct server *s, int tls, const char *greeting,
			     const struct step *steps, size_t nsteps)
{
	memset(s, 0, sizeof(*s));
	if (tls != 0)
		s->tls = tls_server_ctx();
	s->implicit_tls = tls == 1;
	s->fd = listen_any(SOCK_STREAM, &s->port);
	s->greeting = greeting;
	s->steps = steps;
	s->nsteps = nsteps;
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_start(struct server *s, const char *greeting, const struct step *steps,
			 size_t nsteps)
{
	server_start_tls(s, 0, greeting, steps, nsteps);
}

static void server_stop(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->fd);
	if (s->problem[0] != '\0')
		fail_msg("script: %s\nreceived:\n%s", s->problem, buf_cstr(&s->received));
	buf_free(&s->received);
}

/* ---- helpers --------------------------------------------------------------- */

static void ep_init(struct store_endpoint *ep, const char *server, int port,
		    const char *security)
{
	memset(ep, 0, sizeof(*ep));
	ep->name = xstrdup("t");
	ep->type = xstrdup("imap");
	ep->server = xstrdup(server);
	ep->port = port;
	ep->security = xstrdup(security);
	ep->auth = xstrdup("plain");
	ep->impersonation = xstrdup("sasl");
	ep->master_separator = xstrdup("*");
	ep->max_concurrent_migrations = 20;
	ep->max_concurrent_incremental_syncs = 20;
}

static const char *jstr(json_t *doc, const char *key)
{
	return json_string_value(json_object_get(doc, key));
}

static const char *stage_status(json_t *doc, int i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(doc, "Stages"),
								 (size_t)i), "Status"));
}

static const char *stage_detail(json_t *doc, int i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(doc, "Stages"),
								 (size_t)i), "Detail"));
}

static bool has_warning(json_t *doc, const char *part)
{
	size_t i;
	json_t *w;

	json_array_foreach(json_object_get(doc, "Warnings"), i, w) {
		if (strstr(json_string_value(w), part) != NULL)
			return true;
	}
	return false;
}

/* Common checks of a failure at stage `at`. */
static void check_failed_at(json_t *doc, int failed, int at)
{
	json_t *stages = json_object_get(doc, "Stages");

	if (failed != at || getenv("MF_TEST_VERBOSE") != NULL)
		print_message("%s: %s\n", jstr(doc, "FailedStage"), jstr(doc, "Message"));
	assert_int_equal(failed, at);
	assert_string_equal(jstr(doc, "Result"), "Failed");
	assert_string_equal(jstr(doc, "FailedStage"), conntest_stage_name((enum conntest_stage)at));
	assert_int_equal(json_array_size(stages), CONNTEST_STAGE_COUNT);
	for (int i = 0; i < CONNTEST_STAGE_COUNT; i++) {
		json_t *st = json_array_get(stages, (size_t)i);

		assert_string_equal(json_string_value(json_object_get(st, "Stage")),
				    conntest_stage_name((enum conntest_stage)i));
		assert_true(json_is_number(json_object_get(st, "ElapsedMs")));
		if (i == at)
			assert_string_equal(stage_status(doc, i), "failed");
		else if (i > at)
			assert_string_equal(stage_status(doc, i), "skipped");
	}
	assert_string_equal(stage_detail(doc, at), jstr(doc, "Message"));
}

static void dump_on_failure(json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | CONNTEST_JSON_FLAGS);

	print_message("%s\n", text);
	free(text);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_stage_names(void **state)
{
	(void)state;
	assert_string_equal(conntest_stage_name(CONNTEST_DNS), "dns");
	assert_string_equal(conntest_stage_name(CONNTEST_SELECT), "select");
	assert_string_equal(conntest_stage_name(CONNTEST_STAGE_COUNT), "unknown");
}

static void test_refused(void **state)
{
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000 };
	char want[64];
	int port, fd, failed;
	json_t *doc;

	(void)state;
	fd = listen_any(SOCK_STREAM, &port);
	close(fd); /* nothing listens there now */
	ep_init(&ep, "127.0.0.1", port, "starttls");
	doc = conntest_run(&ep, &opts, &failed);
	check_failed_at(doc, failed, CONNTEST_CONNECT);
	assert_string_equal(stage_status(doc, CONNTEST_DNS), "ok");
	assert_string_equal(stage_detail(doc, CONNTEST_DNS), "127.0.0.1");
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	assert_non_null(strstr(jstr(doc, "Message"), "refused"));
	assert_non_null(strstr(jstr(doc, "Message"), want));
	assert_int_equal(json_integer_value(json_object_get(doc, "Port")), port);
	assert_string_equal(jstr(doc, "Security"), "starttls");
	assert_true(json_is_null(json_object_get(doc, "Greeting")));
	assert_true(json_is_null(json_object_get(doc, "LoginAs")));
	assert_int_equal(json_array_size(json_object_get(doc, "Capabilities")), 0);
	assert_false(json_is_true(json_object_get(json_object_get(doc, "MigrationCapabilities"),
						  "UIDPLUS")));
	assert_non_null(jstr(doc, "TestedAt"));
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_dns_failure(void **state)
{
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 500 };
	struct mf_error err;
	char dns[32];
	int port, fd, failed;
	json_t *doc;

	(void)state;
	fd = listen_any(SOCK_DGRAM, &port);
	close(fd); /* a UDP port that answers nothing (or ICMP unreachable) */
	snprintf(dns, sizeof(dns), "127.0.0.1:%d", port);
	assert_int_equal(net_set_dns_server(dns, &err), 0);
	ep_init(&ep, "nohost.invalid", 0, "tls");
	doc = conntest_run(&ep, &opts, &failed);
	net_set_dns_server(NULL, &err);
	check_failed_at(doc, failed, CONNTEST_DNS);
	assert_int_equal(json_integer_value(json_object_get(doc, "Port")), 993);
	assert_true(strlen(jstr(doc, "Message")) > 0);
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_garbage_greeting(void **state)
{
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000 };
	struct server srv;
	int failed;
	json_t *doc;

	(void)state;
	server_start(&srv, "HTTP/1.1 400 Bad Request\r\n\r\n", NULL, 0);
	ep_init(&ep, "127.0.0.1", srv.port, "none");
	doc = conntest_run(&ep, &opts, &failed);
	server_stop(&srv);
	check_failed_at(doc, failed, CONNTEST_GREETING);
	assert_string_equal(stage_status(doc, CONNTEST_TLS), "skipped");
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_greeting_timeout(void **state)
{
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 300 };
	struct server srv;
	int failed;
	json_t *doc;

	(void)state;
	server_start(&srv, NULL, NULL, 0);
	ep_init(&ep, "127.0.0.1", srv.port, "none");
	doc = conntest_run(&ep, &opts, &failed);
	check_failed_at(doc, failed, CONNTEST_GREETING);
	assert_string_equal(jstr(doc, "Message"), "no greeting within 0.3 s");
	json_decref(doc);
	store_endpoint_clear(&ep); /* closes nothing on the server: it sees EOF */
	server_stop(&srv);
}

static void test_login_rejected(void **state)
{
	static const struct step steps[] = {
		{ "CAPABILITY", "* CAPABILITY IMAP4rev1 UIDPLUS\r\n$T OK done\r\n", false },
		{ "LOGIN", "$T NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", false },
		{ "LOGOUT", "* BYE bye\r\n$T OK done\r\n", false },
	};
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000, .user = "alice",
				      .password = "s3cret-pw" };
	struct server srv;
	char *text;
	int failed;
	json_t *doc;

	(void)state;
	server_start(&srv, "* OK ready\r\n", steps, 3);
	ep_init(&ep, "127.0.0.1", srv.port, "none");
	doc = conntest_run(&ep, &opts, &failed);
	assert_non_null(strstr(buf_cstr(&srv.received), "LOGIN alice s3cret-pw"));
	server_stop(&srv);
	check_failed_at(doc, failed, CONNTEST_LOGIN);
	assert_non_null(strstr(jstr(doc, "Message"), "Authentication failed."));
	assert_string_equal(jstr(doc, "Greeting"), "ready");
	assert_string_equal(jstr(doc, "LoginAs"), "alice");
	assert_true(has_warning(doc, "LOGIN command was used instead"));
	assert_true(has_warning(doc, "password was sent over an unencrypted connection"));
	assert_string_equal(stage_status(doc, CONNTEST_CAPABILITY), "ok");
	text = json_dumps(doc, CONNTEST_JSON_FLAGS);
	assert_null(strstr(text, "s3cret-pw"));
	free(text);
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_success_plain(void **state)
{
	static const struct step steps[] = {
		{ "ID", "* ID (\"name\" \"Dovecot\")\r\n$T OK ID completed\r\n", false },
		/* base64("\0alice\0s3cret-pw") */
		{ "AUTHENTICATE PLAIN AGFsaWNlAHMzY3JldC1wdw==",
		  "$T OK [CAPABILITY IMAP4rev1 UIDPLUS CONDSTORE MOVE APPENDLIMIT=35651584 "
		  "LITERAL+ ID] Logged in\r\n", false },
		{ "EXAMINE INBOX", "* FLAGS (\\Seen)\r\n* 12 EXISTS\r\n* 0 RECENT\r\n"
				  "* OK [UIDVALIDITY 123] UIDs valid\r\n"
				  "* OK [UIDNEXT 13] Predicted next UID\r\n"
				  "$T OK [READ-ONLY] Examine completed\r\n", false },
		{ "LOGOUT", "* BYE Logging out\r\n$T OK Logout completed.\r\n", false },
	};
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000, .user = "alice",
				      .password = "s3cret-pw" };
	struct server srv;
	json_t *doc, *mcaps;
	char want[128], *text;
	int failed;

	(void)state;
	server_start(&srv, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID] Dovecot ready.\r\n",
		     steps, 4);
	ep_init(&ep, "127.0.0.1", srv.port, "none");
	doc = conntest_run(&ep, &opts, &failed);
	server_stop(&srv);
	if (failed != -1 || getenv("MF_TEST_VERBOSE") != NULL)
		dump_on_failure(doc);
	assert_int_equal(failed, -1);
	assert_string_equal(jstr(doc, "Result"), "Success");
	assert_true(json_is_null(json_object_get(doc, "FailedStage")));
	snprintf(want, sizeof(want),
		 "Connected to 127.0.0.1:%d (no TLS), logged in as alice and opened INBOX.",
		 srv.port);
	assert_string_equal(jstr(doc, "Message"), want);
	assert_string_equal(stage_status(doc, CONNTEST_TLS), "skipped");
	assert_string_equal(stage_status(doc, CONNTEST_STARTTLS), "skipped");
	for (int i = 0; i < CONNTEST_STAGE_COUNT; i++) {
		if (i != CONNTEST_TLS && i != CONNTEST_STARTTLS)
			assert_string_equal(stage_status(doc, i), "ok");
	}
	assert_string_equal(stage_detail(doc, CONNTEST_LOGIN), "as alice");
	assert_string_equal(stage_detail(doc, CONNTEST_SELECT),
			    "INBOX: 12 messages, UIDVALIDITY 123");
	assert_string_equal(jstr(doc, "Greeting"), "Dovecot ready.");
	assert_non_null(strstr(jstr(doc, "ServerId"), "Dovecot"));
	assert_true(json_is_null(json_object_get(doc, "TLS")));
	assert_true(has_warning(doc, "the server accepted a password over an unencrypted connection"));
	assert_false(has_warning(doc, "UIDPLUS"));
	mcaps = json_object_get(doc, "MigrationCapabilities");
	assert_true(json_is_true(json_object_get(mcaps, "UIDPLUS")));
	assert_true(json_is_true(json_object_get(mcaps, "CONDSTORE")));
	assert_true(json_is_true(json_object_get(mcaps, "LITERAL+")));
	assert_true(json_is_false(json_object_get(mcaps, "QRESYNC")));
	assert_true(json_is_false(json_object_get(mcaps, "COMPRESS")));
	assert_int_equal(json_object_size(mcaps), 9);
	assert_int_equal(json_integer_value(json_object_get(doc, "AppendLimit")), 35651584);
	assert_int_equal(json_array_size(json_object_get(doc, "Capabilities")), 7);
	text = json_dumps(doc, CONNTEST_JSON_FLAGS);
	assert_null(strstr(text, "s3cret-pw"));
	assert_null(strstr(text, "AGFsaWNlAHMzY3JldC1wdw"));
	free(text);
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_master_user_login(void **state)
{
	static const struct step steps[] = {
		{ "CAPABILITY", "* CAPABILITY IMAP4rev1\r\n$T OK done\r\n", false },
		{ "LOGIN \"alice*admin\" adm-pw", "$T OK Logged in\r\n", false },
		{ "CAPABILITY", "* CAPABILITY IMAP4rev1\r\n$T OK done\r\n", false },
		{ "EXAMINE INBOX", "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n$T OK done\r\n", false },
		{ "LOGOUT", "* BYE\r\n$T OK done\r\n", false },
	};
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000, .user = "alice",
				      .admin_password = "adm-pw" };
	struct server srv;
	int failed;
	json_t *doc;

	(void)state;
	server_start(&srv, "* OK hi\r\n", steps, 5);
	ep_init(&ep, "127.0.0.1", srv.port, "none");
	free(ep.auth);
	ep.auth = xstrdup("login");
	free(ep.impersonation);
	ep.impersonation = xstrdup("master-user");
	ep.admin_user = xstrdup("admin");
	doc = conntest_run(&ep, &opts, &failed);
	server_stop(&srv);
	if (failed != -1)
		dump_on_failure(doc);
	assert_int_equal(failed, -1);
	assert_string_equal(jstr(doc, "LoginAs"), "alice (as admin)");
	assert_string_equal(stage_detail(doc, CONNTEST_SELECT), "INBOX: 1 message, UIDVALIDITY 7");
	assert_true(has_warning(doc, "UIDPLUS"));
	assert_false(has_warning(doc, "LOGIN command was used instead"));
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_no_credentials(void **state)
{
	static const struct step steps[] = {
		{ "LOGOUT", "* BYE\r\n$T OK done\r\n", false },
	};
	struct store_endpoint ep;
	struct server srv;
	int failed;
	json_t *doc;

	(void)state;
	server_start(&srv, "* OK [CAPABILITY IMAP4rev2 UIDPLUS] hi\r\n", steps, 1);
	ep_init(&ep, "127.0.0.1", srv.port, "none");
	doc = conntest_run(&ep, NULL, &failed);
	server_stop(&srv);
	if (failed != -1)
		dump_on_failure(doc);
	assert_int_equal(failed, -1);
	assert_string_equal(jstr(doc, "Result"), "Success");
	assert_string_equal(stage_status(doc, CONNTEST_LOGIN), "skipped");
	assert_string_equal(stage_status(doc, CONNTEST_SELECT), "skipped");
	assert_non_null(strstr(jstr(doc, "Message"), "no credentials are known"));
	assert_true(has_warning(doc, "would accept a password over an unencrypted connection"));
	assert_true(json_is_null(json_object_get(doc, "LoginAs")));
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_starttls_not_offered(void **state)
{
	static const struct step steps[] = {
		{ "LOGOUT", "* BYE\r\n$T OK done\r\n", false },
	};
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000 };
	struct server srv;
	int failed;
	json_t *doc;

	(void)state;
	server_start(&srv, "* OK [CAPABILITY IMAP4rev1] hi\r\n", steps, 1);
	ep_init(&ep, "127.0.0.1", srv.port, "starttls");
	doc = conntest_run(&ep, &opts, &failed);
	server_stop(&srv);
	check_failed_at(doc, failed, CONNTEST_STARTTLS);
	assert_string_equal(jstr(doc, "Message"), "the server does not offer STARTTLS");
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_tls_untrusted_rejected(void **state)
{
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000 };
	struct server srv;
	int failed;
	json_t *doc;

	(void)state;
	server_start_tls(&srv, 1, "* OK hi\r\n", NULL, 0);
	ep_init(&ep, "127.0.0.1", srv.port, "tls");
	doc = conntest_run(&ep, &opts, &failed);
	server_stop(&srv);
	check_failed_at(doc, failed, CONNTEST_TLS);
	assert_non_null(strstr(jstr(doc, "Message"), "self-signed"));
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_tls_untrusted_accepted(void **state)
{
	static const struct step steps[] = {
		{ "LOGOUT", "* BYE\r\n$T OK done\r\n", false },
	};
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000 };
	struct server srv;
	char want[160];
	int failed;
	json_t *doc;

	(void)state;
	server_start_tls(&srv, 1, "* OK [CAPABILITY IMAP4rev1 UIDPLUS AUTH=PLAIN] hi\r\n",
			 steps, 1);
	ep_init(&ep, "127.0.0.1", srv.port, "tls");
	ep.accept_untrusted = true;
	doc = conntest_run(&ep, &opts, &failed);
	server_stop(&srv);
	if (failed != -1)
		dump_on_failure(doc);
	assert_int_equal(failed, -1);
	assert_string_equal(stage_status(doc, CONNTEST_TLS), "ok");
	assert_non_null(strstr(stage_detail(doc, CONNTEST_TLS), "TLSv1."));
	assert_string_equal(jstr(doc, "TLS"), stage_detail(doc, CONNTEST_TLS));
	assert_non_null(strstr(jstr(doc, "Certificate"), "mailferry test"));
	assert_true(has_warning(doc, "certificate verification is disabled"));
	assert_false(has_warning(doc, "unencrypted"));
	snprintf(want, sizeof(want), "Connected to 127.0.0.1:%d (TLS); the login was not tested",
		 srv.port);
	assert_non_null(strstr(jstr(doc, "Message"), want));
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_starttls_sasl_impersonation(void **state)
{
	static const struct step steps[] = {
		{ "STARTTLS", "$T OK Begin TLS negotiation now.\r\n", true },
		{ "CAPABILITY", "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN UIDPLUS\r\n"
				"$T OK done\r\n", false },
		/* base64("alice\0admin\0adm-pw") */
		{ "AUTHENTICATE PLAIN YWxpY2UAYWRtaW4AYWRtLXB3", "$T OK [CAPABILITY IMAP4rev1 "
		  "UIDPLUS QRESYNC] Logged in\r\n", false },
		{ "EXAMINE INBOX", "* 0 EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\n$T OK done\r\n",
		  false },
		{ "LOGOUT", "* BYE\r\n$T OK done\r\n", false },
	};
	struct store_endpoint ep;
	struct conntest_opts opts = { .stage_timeout_ms = 2000, .user = "alice",
				      .admin_password = "adm-pw" };
	struct server srv;
	char want[160];
	int failed;
	json_t *doc;

	(void)state;
	server_start_tls(&srv, 2, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n",
			 steps, 5);
	ep_init(&ep, "127.0.0.1", srv.port, "starttls");
	ep.accept_untrusted = true;
	ep.admin_user = xstrdup("admin");
	doc = conntest_run(&ep, &opts, &failed);
	server_stop(&srv);
	if (failed != -1)
		dump_on_failure(doc);
	assert_int_equal(failed, -1);
	assert_string_equal(stage_status(doc, CONNTEST_TLS), "skipped");
	assert_string_equal(stage_status(doc, CONNTEST_STARTTLS), "ok");
	assert_string_equal(jstr(doc, "LoginAs"), "alice (as admin)");
	snprintf(want, sizeof(want), "Connected to 127.0.0.1:%d (STARTTLS), logged in as "
		 "alice (as admin) and opened INBOX.", srv.port);
	assert_string_equal(jstr(doc, "Message"), want);
	assert_false(has_warning(doc, "unencrypted"));
	assert_true(json_is_true(json_object_get(json_object_get(doc, "MigrationCapabilities"),
						 "QRESYNC")));
	json_decref(doc);
	store_endpoint_clear(&ep);
}

static void test_exchange_unsupported(void **state)
{
	struct store_endpoint ep;
	int failed = 0;
	json_t *doc;

	(void)state;
	memset(&ep, 0, sizeof(ep));
	ep.name = xstrdup("ex");
	ep.type = xstrdup("exchange-remote");
	ep.server = xstrdup("mrs.example.com");
	doc = conntest_run(&ep, NULL, &failed);
	assert_int_equal(failed, CONNTEST_UNSUPPORTED);
	assert_string_equal(jstr(doc, "Result"), "Failed");
	assert_true(json_is_null(json_object_get(doc, "FailedStage")));
	assert_string_equal(jstr(doc, "Message"),
			    "the connection test of exchange-remote endpoints is not yet "
			    "supported; store the endpoint with --skip-verification");
	json_decref(doc);
	store_endpoint_clear(&ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage_names),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_dns_failure),
		cmocka_unit_test(test_garbage_greeting),
		cmocka_unit_test(test_greeting_timeout),
		cmocka_unit_test(test_login_rejected),
		cmocka_unit_test(test_success_plain),
		cmocka_unit_test(test_master_user_login),
		cmocka_unit_test(test_no_credentials),
		cmocka_unit_test(test_starttls_not_offered),
		cmocka_unit_test(test_tls_untrusted_rejected),
		cmocka_unit_test(test_tls_untrusted_accepted),
		cmocka_unit_test(test_starttls_sasl_impersonation),
		cmocka_unit_test(test_exchange_unsupported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
