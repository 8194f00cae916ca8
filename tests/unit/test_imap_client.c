/* Unit tests for the IMAP client (src/proto/imap/imap-client.h).
 *
 * Each test runs a scripted fake server in a thread on one end of a
 * socketpair; the client gets the other end. A script is a list of steps:
 *   "C:line"  expect this line from the client (CRLF stripped, CRLF required)
 *   "S:text"  send text + CRLF in one write (text may hold more CRLFs)
 *   "R:text"  send text as is (no CRLF)
 *   "Q:ms"    expect no byte from the client for ms milliseconds
 *   "W:ms"    sleep ms milliseconds
 *   "X"       close the connection and stop
 * After the last step the server expects EOF (the client being freed) and
 * no further bytes. Failures in the thread are recorded and asserted by the
 * test after joining it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "proto/imap/imap-client.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

#define FAKE_WAIT_MS 5000

struct fake {
	int fd;
	const char *const *script;
	pthread_t thread;
	char err[512];
	char in[65536];
	size_t inlen;
};

static void fake_fail(struct fake *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fake_fail(struct fake *f, const char *fmt, ...)
{
	va_list ap;

	if (f->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
}

/* Read more bytes into f->in; 1, 0 on EOF, -1 on timeout or error. */
static int fake_fill(struct fake *f, int timeout_ms)
{
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -1;
	if (f->inlen == sizeof(f->in))
		return -1;
	n = read(f->fd, f->in + f->inlen, sizeof(f->in) - f->inlen);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	f->inlen += (size_t)n;
	return 1;
}

static bool fake_expect_line(struct fake *f, const char *want)
{
	for (;;) {
		char *nl = memchr(f->in, '\n', f->inlen);

		if (nl != NULL) {
			size_t len = (size_t)(nl - f->in);
			bool ok = len > 0 && f->in[len - 1] == '\r' && len - 1 == strlen(want) &&
				  memcmp(f->in, want, len - 1) == 0;

			if (!ok)
				fake_fail(f, "expected \"%s\", got \"%.*s\"", want, (int)len, f->in);
			memmove(f->in, nl + 1, f->inlen - len - 1);
			f->inlen -= len + 1;
			return ok;
		}
		if (fake_fill(f, FAKE_WAIT_MS) <= 0) {
			fake_fail(f, "expected \"%s\", got EOF/timeout after \"%.*s\"", want,
				  (int)f->inlen, f->in);
			return false;
		}
	}
}

static bool fake_send(struct fake *f, const char *text, bool crlf)
{
	size_t len = strlen(text);
	char *b = xmalloc(len + 2);
	size_t off = 0;

	memcpy(b, text, len);
	memcpy(b + len, "\r\n", 2);
	if (crlf)
		len += 2;
	while (off < len) {
		ssize_t n = send(f->fd, b + off, len - off, MSG_NOSIGNAL);

		if (n <= 0) {
			fake_fail(f, "send failed: %s", strerror(errno));
			free(b);
			return false;
		}
		off += (size_t)n;
	}
	free(b);
	return true;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	bool ok = true;

	for (size_t i = 0; ok && f->script[i] != NULL; i++) {
		const char *s = f->script[i];

		if (strncmp(s, "C:", 2) == 0) {
			ok = fake_expect_line(f, s + 2);
		} else if (strncmp(s, "S:", 2) == 0) {
			ok = fake_send(f, s + 2, true);
		} else if (strncmp(s, "R:", 2) == 0) {
			ok = fake_send(f, s + 2, false);
		} else if (strncmp(s, "Q:", 2) == 0) {
			if (f->inlen > 0 || fake_fill(f, (int)strtol(s + 2, NULL, 10)) >= 0) {
				fake_fail(f, "client sent \"%.*s\" too early", (int)f->inlen, f->in);
				ok = false;
			}
		} else if (strncmp(s, "W:", 2) == 0) {
			struct timespec ts = { 0, strtol(s + 2, NULL, 10) * 1000000L };

			nanosleep(&ts, NULL);
		} else if (strcmp(s, "X") == 0) {
			close(f->fd);
			f->fd = -1;
			return NULL;
		} else {
			fake_fail(f, "bad script step %s", s);
			ok = false;
		}
	}
	/* Wait for the client to go away; nothing more may arrive. */
	while (ok) {
		int rc = fake_fill(f, FAKE_WAIT_MS);

		if (rc == 0)
			break;
		if (rc < 0 || f->inlen > 0) {
			fake_fail(f, "unexpected at end: \"%.*s\"", (int)f->inlen, f->in);
			break;
		}
	}
	close(f->fd);
	f->fd = -1;
	return NULL;
}

static struct imap_client *fake_start(struct fake *f, const char *const *script,
				      const struct imap_client_opts *opts)
{
	struct imap_client_opts def = { .io_timeout_ms = 3000 };
	int sv[2];

	memset(f, 0, sizeof(*f));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	f->fd = sv[1];
	f->script = script;
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return imap_client_new(net_conn_from_fd(sv[0]), opts != NULL ? opts : &def);
}

static void fake_finish(struct fake *f, struct imap_client **c)
{
	imap_client_free(c);
	pthread_join(f->thread, NULL);
	if (f->err[0] != '\0')
		fail_msg("fake server: %s", f->err);
}

/* Greeting plus an OK answer. */
static void greet(struct imap_client *c)
{
	struct mf_error err = { 0 };
	bool preauth = true;

	assert_int_equal(imap_client_greeting_read(c, &preauth, &err), 0);
	assert_false(preauth);
}

#define GREETING(caps) "S:* OK [CAPABILITY IMAP4rev1 " caps "] ready"

/* ---- greeting ------------------------------------------------------------------ */

static void test_greeting_ok_caps(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN auth=login APPENDLIMIT=35651584 "
		"ID SASL-IR COMPRESS=DEFLATE X-FOO] Dovecot ready.",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct mf_error err = { 0 };
	uint32_t want = IMAP_CAP_IMAP4REV1 | IMAP_CAP_LITERALPLUS | IMAP_CAP_AUTH_PLAIN |
			IMAP_CAP_AUTH_LOGIN | IMAP_CAP_APPENDLIMIT | IMAP_CAP_ID |
			IMAP_CAP_SASL_IR | IMAP_CAP_COMPRESS;

	(void)state;
	greet(c);
	assert_string_equal(imap_client_greeting(c), "Dovecot ready.");
	assert_int_equal(imap_client_caps(c), want);
	assert_int_equal(imap_client_appendlimit(c), 35651584);
	assert_true(imap_client_has_cap(c, "x-foo"));
	assert_true(imap_client_has_cap(c, "AUTH=LOGIN"));
	assert_false(imap_client_has_cap(c, "X-FO"));
	assert_string_equal(imap_client_caps_text(c),
			    "IMAP4rev1 LITERAL+ AUTH=PLAIN auth=login APPENDLIMIT=35651584 ID "
			    "SASL-IR COMPRESS=DEFLATE X-FOO");
	/* Known from the greeting: no CAPABILITY command. */
	assert_int_equal(imap_client_capability(c, false, &err), 0);
	fake_finish(&f, &c);
}

static void test_greeting_preauth(void **state)
{
	static const char *const script[] = {
		"S:* PREAUTH welcome back",
		"C:A1 CAPABILITY",
		"S:* CAPABILITY IMAP4rev2 MOVE",
		"S:A1 OK done",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct mf_error err = { 0 };
	bool preauth = false;

	(void)state;
	assert_string_equal(imap_client_greeting(c), "");
	assert_int_equal(imap_client_greeting_read(c, &preauth, &err), 0);
	assert_true(preauth);
	assert_string_equal(imap_client_greeting(c), "welcome back");
	assert_string_equal(imap_client_caps_text(c), "");
	assert_int_equal(imap_client_capability(c, false, &err), 0);
	assert_int_equal(imap_client_caps(c), IMAP_CAP_IMAP4REV2 | IMAP_CAP_MOVE);
	fake_finish(&f, &c);
}

static void test_greeting_bye(void **state)
{
	static const char *const script[] = { "S:* BYE Too many connections", "X", NULL };
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct mf_error err = { 0 };

	(void)state;
	assert_int_equal(imap_client_greeting_read(c, NULL, &err), MF_ENO);
	assert_non_null(strstr(err.msg, "Too many connections"));
	assert_true(imap_client_bye(c));
	/* The client is dead: later calls give the same error. */
	mf_error_clear(&err);
	assert_int_equal(imap_client_capability(c, true, &err), MF_ENO);
	assert_non_null(strstr(err.msg, "Too many connections"));
	fake_finish(&f, &c);
}

static void expect_greeting_error(const char *const *script, const struct imap_client_opts *o,
				  int code, const char *msg)
{
	struct fake f;
	struct imap_client *c = fake_start(&f, script, o);
	struct mf_error err = { 0 };

	assert_int_equal(imap_client_greeting_read(c, NULL, &err), code);
	assert_int_equal(err.code, code);
	assert_string_equal(err.msg, msg);
	fake_finish(&f, &c);
}

static void test_greeting_garbage(void **state)
{
	static const char *const ssh[] = { "S:SSH-2.0-OpenSSH_9.6p1 Debian-3", NULL };
	static const char *const tagged[] = { "S:A1 OK hello", NULL };
	static const char *const data[] = { "S:* 3 EXISTS", NULL };
	static const char *const longline[] = {
		"S:HTTP/1.1 400 Bad Request 0123456789012345678901234567890123456789012345678901",
		NULL,
	};

	(void)state;
	expect_greeting_error(ssh, NULL, MF_EPROTO,
			      "unexpected greeting: SSH-2.0-OpenSSH_9.6p1 Debian-3");
	expect_greeting_error(tagged, NULL, MF_EPROTO, "unexpected greeting: A1 OK hello");
	expect_greeting_error(data, NULL, MF_EPROTO, "unexpected greeting: * 3 EXISTS");
	expect_greeting_error(longline, NULL, MF_EPROTO,
			      "unexpected greeting: HTTP/1.1 400 Bad Request "
			      "01234567890123456789012345678901234");
}

static void test_greeting_close_and_timeout(void **state)
{
	static const char *const closed[] = { "X", NULL };
	static const char *const silent[] = { "W:600", NULL };
	struct imap_client_opts o = { .io_timeout_ms = 200 };

	(void)state;
	expect_greeting_error(closed, NULL, MF_ECLOSED,
			      "server closed the connection before the greeting");
	expect_greeting_error(silent, &o, MF_ETIMEOUT, "no greeting within 0.2 s");
}

/* ---- pipelining ------------------------------------------------------------------ */

#define NPIPE 50

struct slot {
	int index;
	int untagged_seen;   /* the number of the last "* SEARCH n" routed here */
	int untagged_count;
	bool done;
	enum imap_status status;
	int err_code;
	int *order;
	int *norder;
};

static void slot_untagged(void *ctx, const struct imap_response *r)
{
	struct slot *s = ctx;
	uint64_t v = 0;

	s->untagged_count++;
	if (r->keyword != NULL && strcmp(r->keyword, "SEARCH") == 0 && r->args_count == 1 &&
	    imap_arg_number(&r->args[0], &v))
		s->untagged_seen = (int)v;
}

static void slot_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct slot *s = ctx;

	s->done = true;
	s->status = r != NULL ? r->status : IMAP_STATUS_NONE;
	s->err_code = err != NULL ? err->code : 0;
	if (s->order != NULL)
		s->order[(*s->norder)++] = s->index;
}

static void default_untagged(void *ctx, const struct imap_response *r)
{
	int *n = ctx;

	if (r->keyword != NULL && strcmp(r->keyword, "EXISTS") == 0)
		(*n)++;
}

static void test_pipelining(void **state)
{
	const char *script[3 * NPIPE + 8];
	char *owned[3 * NPIPE];
	size_t ns = 0, no = 0;
	struct slot slots[NPIPE];
	int order[NPIPE + 1], norder = 0, dflt = 0;
	struct fake f;
	struct imap_client *c;
	struct mf_error err = { 0 };
	struct slot extra = { .index = 99 };

	(void)state;
	script[ns++] = GREETING("");
	for (int i = 0; i < NPIPE; i++)
		script[ns++] = owned[no++] = xasprintf("C:A%d NOOP", i + 1);
	/* All 50 arrived before any answer; untagged data interleaves. */
	for (int i = 0; i < NPIPE; i++) {
		script[ns++] = owned[no++] = xasprintf("S:* SEARCH %d", i + 1);
		script[ns++] = owned[no++] = xasprintf("S:A%d OK NOOP done", i + 1);
	}
	script[ns++] = "C:A51 NOOP";
	script[ns++] = "S:* 7 EXISTS\r\nA51 OK done";
	script[ns] = NULL;

	c = fake_start(&f, script, NULL);
	imap_client_set_untagged(c, default_untagged, &dflt);
	greet(c);
	for (int i = 0; i < NPIPE; i++) {
		slots[i] = (struct slot){ .index = i, .order = order, .norder = &norder };
		imap_client_submit(c, imap_cmd_new("NOOP"), slot_untagged, slot_done, &slots[i]);
	}
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	assert_int_equal(norder, NPIPE);
	for (int i = 0; i < NPIPE; i++) {
		assert_int_equal(order[i], i);
		assert_true(slots[i].done);
		assert_int_equal(slots[i].status, IMAP_STATUS_OK);
		assert_int_equal(slots[i].untagged_count, 1);
		assert_int_equal(slots[i].untagged_seen, i + 1);
	}
	/* No untagged callback: the default handler gets it. */
	imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &extra);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	assert_true(extra.done);
	assert_int_equal(dflt, 1);
	fake_finish(&f, &c);
	for (size_t i = 0; i < no; i++)
		free(owned[i]);
}

static void test_max_in_flight(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 NOOP", "C:A2 NOOP",
		"Q:200",
		"S:A1 OK",
		"C:A3 NOOP",
		"S:A2 OK\r\nA3 OK",
		NULL,
	};
	struct imap_client_opts o = { .io_timeout_ms = 3000, .max_in_flight = 2 };
	struct fake f;
	struct imap_client *c = fake_start(&f, script, &o);
	struct slot s[3] = { { .index = 0 }, { .index = 1 }, { .index = 2 } };
	struct mf_error err = { 0 };
	const char *tag;

	(void)state;
	greet(c);
	for (int i = 0; i < 3; i++)
		tag = imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &s[i]);
	assert_string_equal(tag, "A3");
	assert_int_equal(imap_client_run(c, "A1", &err), 0);
	assert_true(s[0].done);
	assert_false(s[2].done);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	assert_true(s[1].done && s[2].done);
	fake_finish(&f, &c);
}

/* ---- literals ----------------------------------------------------------------------- */

static void test_sync_literal_waits(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 APPEND INBOX (\\Seen) {11}",
		/* Neither the literal nor the next command before "+". */
		"Q:300",
		"S:+ Ready for literal data",
		"C:hello world",
		"C:A2 NOOP",
		"S:A1 OK [APPENDUID 1 2] done\r\nA2 OK",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct slot s[2] = { { .index = 0 }, { .index = 1 } };
	struct imap_cmd *cmd;
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_astring(cmd, "INBOX");
	imap_cmd_atom(cmd, "(\\Seen)");
	imap_cmd_literal(cmd, "hello world", 11);
	imap_client_submit(c, cmd, NULL, slot_done, &s[0]);
	imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &s[1]);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	assert_int_equal(s[0].status, IMAP_STATUS_OK);
	assert_int_equal(s[1].status, IMAP_STATUS_OK);
	fake_finish(&f, &c);
}

static void test_sync_literal_rejected(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 APPEND INBOX {11}",
		"S:A1 NO [TOOBIG] too big",
		"C:A2 NOOP",
		"S:A2 OK",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct slot s[2] = { { .index = 0 }, { .index = 1 } };
	struct imap_cmd *cmd;
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_atom(cmd, "INBOX");
	imap_cmd_literal(cmd, "hello world", 11);
	imap_client_submit(c, cmd, NULL, slot_done, &s[0]);
	imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &s[1]);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	assert_int_equal(s[0].status, IMAP_STATUS_NO);
	assert_int_equal(s[1].status, IMAP_STATUS_OK);
	fake_finish(&f, &c);
}

static void test_literal_plus_minus(void **state)
{
	static char big[5001];
	static char big_line[5010];
	const char *script[] = {
		GREETING("LITERAL-"),
		"C:A1 APPEND INBOX {11+}",
		"C:hello world",
		"C:A2 APPEND INBOX {5000}",
		"S:+ go",
		big_line,
		"S:A1 OK\r\nA2 OK",
		NULL,
	};
	static const char *const plus[] = {
		GREETING("LITERAL+"),
		"C:A1 APPEND INBOX {11+}",
		"C:hello world",
		"C:A2 NOOP",
		"S:A1 OK\r\nA2 OK",
		NULL,
	};
	struct fake f;
	struct imap_client *c;
	struct imap_cmd *cmd;
	struct mf_error err = { 0 };

	(void)state;
	memset(big, 'x', 5000);
	snprintf(big_line, sizeof(big_line), "C:%s", big);

	c = fake_start(&f, plus, NULL);
	greet(c);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_atom(cmd, "INBOX");
	imap_cmd_literal(cmd, "hello world", 11);
	imap_client_submit(c, cmd, NULL, NULL, NULL);
	imap_client_submit(c, imap_cmd_new("NOOP"), NULL, NULL, NULL);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	fake_finish(&f, &c);

	/* LITERAL-: non-synchronizing only up to 4096 bytes. */
	c = fake_start(&f, script, NULL);
	greet(c);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_atom(cmd, "INBOX");
	imap_cmd_literal(cmd, "hello world", 11);
	imap_client_submit(c, cmd, NULL, NULL, NULL);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_atom(cmd, "INBOX");
	imap_cmd_literal(cmd, big, 5000);
	imap_client_submit(c, cmd, NULL, NULL, NULL);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	fake_finish(&f, &c);
}

static void test_astring_forms(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 LIST \"\" \"NIL\"",
		"S:A1 OK",
		"C:A2 LIST user@example.com \"a b\" \"%\" \"x\\\"y\\\\z\" {3}",
		"S:+ ok",
		"C:\xc3\xa4" "b",
		"S:A2 OK",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct imap_cmd *cmd;
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	cmd = imap_cmd_new("LIST");
	imap_cmd_astring(cmd, "");
	imap_cmd_astring(cmd, "NIL");
	imap_client_submit(c, cmd, NULL, NULL, NULL);
	cmd = imap_cmd_new("LIST");
	imap_cmd_astring(cmd, "user@example.com");
	imap_cmd_astring(cmd, "a b");
	imap_cmd_astring(cmd, "%");
	imap_cmd_astring(cmd, "x\"y\\z");
	imap_cmd_astring(cmd, "\xc3\xa4" "b");
	imap_client_submit(c, cmd, NULL, NULL, NULL);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	fake_finish(&f, &c);
}

/* ---- login and authentication ---------------------------------------------------------- */

static void test_login_quoting(void **state)
{
	static const char *const script[] = {
		GREETING("AUTH=PLAIN"),
		"C:A1 LOGIN alice \"pa\\\"ss\\\\word\"",
		"S:A1 OK [CAPABILITY IMAP4rev1 MOVE] Logged in",
		"C:A2 LOGIN alice {8}",
		"S:+ OK",
		"C:p\xc3\xa4ss\\\"w",
		"S:A2 OK Logged in",
		"C:A3 CAPABILITY",
		"S:* CAPABILITY IMAP4rev1 UIDPLUS\r\nA3 OK",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	assert_int_equal(imap_client_login(c, "alice", "pa\"ss\\word", &err), 0);
	/* The tagged OK carried capabilities: no CAPABILITY command. */
	assert_int_equal(imap_client_caps(c), IMAP_CAP_IMAP4REV1 | IMAP_CAP_MOVE);
	assert_int_equal(imap_client_capability(c, false, &err), 0);
	assert_int_equal(imap_client_login(c, "alice", "p\xc3\xa4ss\\\"w", &err), 0);
	/* This one did not: the capabilities are stale and asked again. */
	assert_int_equal(imap_client_capability(c, false, &err), 0);
	assert_int_equal(imap_client_caps(c), IMAP_CAP_IMAP4REV1 | IMAP_CAP_UIDPLUS);
	fake_finish(&f, &c);
}

static void test_login_rejected(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 LOGIN alice secret",
		"S:A1 NO [AUTHENTICATIONFAILED] Authentication failed.",
		"C:A2 LOGIN alice secret",
		"S:A2 NO Go away",
		NULL,
	};
	static const char *const disabled[] = { GREETING("LOGINDISABLED STARTTLS"), NULL };
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	assert_int_equal(imap_client_login(c, "alice", "secret", &err), MF_EAUTH);
	assert_string_equal(err.msg, "LOGIN rejected: [AUTHENTICATIONFAILED] Authentication failed.");
	assert_int_equal(imap_client_login(c, "alice", "secret", &err), MF_EAUTH);
	assert_string_equal(err.msg, "LOGIN rejected: Go away");
	fake_finish(&f, &c);

	c = fake_start(&f, disabled, NULL);
	greet(c);
	assert_int_equal(imap_client_login(c, "alice", "secret", &err), MF_EAUTH);
	assert_string_equal(err.msg, "server disables LOGIN (LOGINDISABLED) on this connection");
	fake_finish(&f, &c);
}

static void test_authenticate_plain(void **state)
{
	static const char *const ir[] = {
		GREETING("AUTH=PLAIN SASL-IR"),
		"C:A1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
		"S:A1 OK done",
		NULL,
	};
	static const char *const noir[] = {
		GREETING("AUTH=PLAIN"),
		"C:A1 AUTHENTICATE PLAIN",
		"Q:150",
		"S:+ ",
		"C:YWRtaW4AYWxpY2UAc2VjcmV0",
		"S:A1 NO [AUTHORIZATIONFAILED] not a master",
		NULL,
	};
	struct fake f;
	struct imap_client *c;
	struct mf_error err = { 0 };

	(void)state;
	c = fake_start(&f, ir, NULL);
	greet(c);
	assert_int_equal(imap_client_authenticate_plain(c, NULL, "alice", "secret", &err), 0);
	fake_finish(&f, &c);

	c = fake_start(&f, noir, NULL);
	greet(c);
	assert_int_equal(imap_client_authenticate_plain(c, "admin", "alice", "secret", &err),
			 MF_EAUTH);
	assert_string_equal(err.msg,
			    "AUTHENTICATE PLAIN rejected: [AUTHORIZATIONFAILED] not a master");
	fake_finish(&f, &c);
}

static void test_trace_redaction(void **state)
{
	static const char *const script[] = {
		GREETING("AUTH=PLAIN"),
		"C:A1 LOGIN alice \"S3cr\\\"et!\"",
		"S:A1 NO bad",
		"C:A2 LOGIN alice {8}",
		"S:+ OK",
		"C:p\xc3\xa4ss\\\"w",
		"S:A2 NO bad",
		"C:A3 AUTHENTICATE PLAIN",
		"S:+ ",
		"C:AGFsaWNlAFMzY3IiZXQh",
		"S:A3 NO bad",
		"C:A4 CAPABILITY",
		"S:* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\nA4 OK",
		"C:A5 AUTHENTICATE PLAIN AGFsaWNlAHDDpHNzXCJ3",
		"S:A5 OK",
		NULL,
	};
	struct imap_client_opts o = { .io_timeout_ms = 3000, .trace_prefix = "src" };
	char *text = NULL;
	size_t size = 0;
	struct fake f;
	struct imap_client *c;
	struct mf_error err = { 0 };

	(void)state;
	o.trace = open_memstream(&text, &size);
	assert_non_null(o.trace);
	c = fake_start(&f, script, &o);
	greet(c);
	assert_int_equal(imap_client_login(c, "alice", "S3cr\"et!", &err), MF_EAUTH);
	assert_int_equal(imap_client_login(c, "alice", "p\xc3\xa4ss\\\"w", &err), MF_EAUTH);
	assert_int_equal(imap_client_authenticate_plain(c, NULL, "alice", "S3cr\"et!", &err),
			 MF_EAUTH);
	assert_int_equal(imap_client_capability(c, true, &err), 0);
	assert_int_equal(imap_client_authenticate_plain(c, "", "alice", "p\xc3\xa4ss\\\"w", &err),
			 0);
	fake_finish(&f, &c);
	fclose(o.trace);

	assert_non_null(strstr(text, "[src] S: * OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\n"));
	assert_non_null(strstr(text, "[src] C: A1 LOGIN alice <redacted>\n"));
	assert_non_null(strstr(text, "[src] C: A2 LOGIN alice {8}\n[src] S: + OK\n"
				     "[src] C: <redacted>\n"));
	assert_non_null(strstr(text, "[src] C: A3 AUTHENTICATE PLAIN\n[src] S: + \n"
				     "[src] C: <redacted>\n"));
	assert_non_null(strstr(text, "[src] C: A5 AUTHENTICATE PLAIN <redacted>\n"));
	assert_null(strstr(text, "S3cr"));
	assert_null(strstr(text, "p\xc3\xa4ss"));
	assert_null(strstr(text, "p\\xc3\\xa4ss"));
	assert_null(strstr(text, "AGFsaWNlAFMzY3IiZXQh"));
	assert_null(strstr(text, "AGFsaWNlAHDDpHNzXCJ3"));
	free(text);
}

static void test_trace_literals(void **state)
{
	static char body[101];
	static char body_line[110];
	static char resp[200];
	const char *script[] = {
		GREETING("LITERAL+"),
		"C:A1 APPEND INBOX {100+}",
		body_line,
		"C:A2 APPEND INBOX {4+}",
		"C:a\x01" "b\x7f",
		resp,
		NULL,
	};
	struct imap_client_opts o = { .io_timeout_ms = 3000 };
	char *text = NULL;
	size_t size = 0;
	struct fake f;
	struct imap_client *c;
	struct imap_cmd *cmd;
	struct mf_error err = { 0 };

	(void)state;
	memset(body, 'm', 100);
	snprintf(body_line, sizeof(body_line), "C:%s", body);
	snprintf(resp, sizeof(resp), "S:* 1 FETCH (BODY[] {100}\r\n%s UID 4)\r\nA1 OK\r\nA2 OK",
		 body);
	o.trace = open_memstream(&text, &size);
	c = fake_start(&f, script, &o);
	greet(c);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_atom(cmd, "INBOX");
	imap_cmd_literal(cmd, body, 100);
	imap_client_submit(c, cmd, NULL, NULL, NULL);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_atom(cmd, "INBOX");
	imap_cmd_literal(cmd, "a\x01" "b\x7f", 4);
	imap_client_submit(c, cmd, NULL, NULL, NULL);
	assert_int_equal(imap_client_run(c, NULL, &err), 0);
	fake_finish(&f, &c);
	fclose(o.trace);
	assert_non_null(strstr(text, "C: A1 APPEND INBOX {100+}\nC: {100 bytes}\n"));
	assert_non_null(strstr(text, "C: A2 APPEND INBOX {4+}\nC: a\\x01b\\x7f\n"));
	assert_non_null(strstr(text, "S: * 1 FETCH (BODY[] {100}\nS: {100 bytes} UID 4)\n"));
	assert_null(strstr(text, "mmmm"));
	free(text);
}

/* ---- failures ------------------------------------------------------------------------------ */

static void test_close_mid_response(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 NOOP", "C:A2 NOOP", "C:A3 NOOP",
		"R:* 1 FETCH (UID 5 BODY[] {100}\r\npartial",
		"X",
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct slot s[4] = { { .index = 0 }, { .index = 1 }, { .index = 2 }, { .index = 3 } };
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	for (int i = 0; i < 3; i++)
		imap_client_submit(c, imap_cmd_new("NOOP"), slot_untagged, slot_done, &s[i]);
	assert_int_equal(imap_client_run(c, NULL, &err), MF_ECLOSED);
	for (int i = 0; i < 3; i++) {
		assert_true(s[i].done);
		assert_int_equal(s[i].status, IMAP_STATUS_NONE);
		assert_int_equal(s[i].err_code, MF_ECLOSED);
		assert_int_equal(s[i].untagged_count, 0);
	}
	/* Dead: a new command fails at once with the same error. */
	imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &s[3]);
	assert_int_equal(imap_client_run(c, NULL, &err), MF_ECLOSED);
	assert_true(s[3].done);
	assert_int_equal(s[3].err_code, MF_ECLOSED);
	fake_finish(&f, &c);
}

static void test_bye_then_close(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 NOOP",
		"S:* BYE server shutting down",
		"X",
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct slot s = { 0 };
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &s);
	assert_int_equal(imap_client_run(c, NULL, &err), MF_ECLOSED);
	assert_string_equal(err.msg, "server closed the connection (BYE: server shutting down)");
	assert_true(imap_client_bye(c));
	assert_int_equal(s.err_code, MF_ECLOSED);
	fake_finish(&f, &c);
}

static void test_io_timeout(void **state)
{
	static const char *const script[] = { GREETING(""), "C:A1 NOOP", "W:700", NULL };
	struct imap_client_opts o = { .io_timeout_ms = 200 };
	struct fake f;
	struct imap_client *c = fake_start(&f, script, &o);
	struct slot s = { 0 };
	struct mf_error err = { 0 };
	int64_t t0;

	(void)state;
	greet(c);
	imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &s);
	t0 = mf_now_ms();
	assert_int_equal(imap_client_run(c, NULL, &err), MF_ETIMEOUT);
	assert_in_range(mf_now_ms() - t0, 150, 600);
	assert_string_equal(err.msg, "no response from server within 0.2 s");
	assert_int_equal(s.err_code, MF_ETIMEOUT);
	fake_finish(&f, &c);
}

static void test_protocol_violations(void **state)
{
	static const char *const unknown[] = { GREETING(""), "C:A1 NOOP", "S:A9 OK", NULL };
	static const char *const cont[] = { GREETING(""), "C:A1 NOOP", "S:+ more?", NULL };
	static const char *const junk[] = { GREETING(""), "C:A1 NOOP", "S:A1 WHAT", NULL };
	const char *const *scripts[] = { unknown, cont, junk };
	const char *msgs[] = { "server answered unknown tag A9",
			       "unexpected continuation request from server", NULL };

	(void)state;
	for (int i = 0; i < 3; i++) {
		struct fake f;
		struct imap_client *c = fake_start(&f, scripts[i], NULL);
		struct slot s = { 0 };
		struct mf_error err = { 0 };

		greet(c);
		imap_client_submit(c, imap_cmd_new("NOOP"), NULL, slot_done, &s);
		assert_int_equal(imap_client_run(c, NULL, &err), MF_EPROTO);
		if (msgs[i] != NULL)
			assert_string_equal(err.msg, msgs[i]);
		assert_int_equal(s.err_code, MF_EPROTO);
		fake_finish(&f, &c);
	}
}

/* ---- ID, LIST, SELECT, STARTTLS, LOGOUT --------------------------------------------------------- */

static void test_id(void **state)
{
	static const char *const script[] = {
		GREETING("ID"),
		"C:A1 ID (\"name\" \"mailferry\" \"version\" \"" MF_VERSION "\")",
		"S:* ID (\"name\" \"Dovecot\" \"version\" \"2.3.21\" \"os\" NIL)",
		"S:A1 OK ID completed",
		NULL,
	};
	static const char *const none[] = { GREETING(""), NULL };
	struct fake f;
	struct imap_client *c;
	struct mf_error err = { 0 };

	(void)state;
	c = fake_start(&f, script, NULL);
	greet(c);
	assert_string_equal(imap_client_server_id(c), "");
	assert_int_equal(imap_client_id(c, &err), 0);
	assert_string_equal(imap_client_server_id(c), "name=Dovecot; version=2.3.21");
	fake_finish(&f, &c);

	c = fake_start(&f, none, NULL);
	greet(c);
	assert_int_equal(imap_client_id(c, &err), 0);
	fake_finish(&f, &c);
}

static const struct imap_list_entry *find_entry(const struct imap_list_result *r,
						const char *name)
{
	for (size_t i = 0; i < r->count; i++) {
		if (strcmp(r->entries[i].name, name) == 0)
			return &r->entries[i];
	}
	fail_msg("no mailbox %s", name);
	return NULL;
}

static void test_list_extended(void **state)
{
	static const char *const script[] = {
		GREETING("LIST-EXTENDED SPECIAL-USE"),
		"C:A1 LIST \"\" \"*\" RETURN (SPECIAL-USE SUBSCRIBED)",
		"S:* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX",
		"S:* LIST (\\Sent \\HasNoChildren \\Subscribed) \"/\" \"Sent Items\"",
		"S:* LIST (\\Noselect \\HasChildren) NIL Flat",
		"S:* LIST (\\Trash \\Junk \\Drafts \\Archive \\All \\Flagged) \".\" {7}\r\nTr\"a\\sh",
		"S:* LIST (\\NonExistent \\NoInferiors) \"\\\\\" \"a\\\\b\" (\"CHILDINFO\" (\"SUBSCRIBED\"))",
		"S:A1 OK LIST done",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct imap_list_result r;
	const struct imap_list_entry *e;
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	assert_int_equal(imap_client_list(c, &r, &err), 0);
	assert_int_equal(r.count, 5);
	e = find_entry(&r, "INBOX");
	assert_int_equal(e->delimiter, '/');
	assert_int_equal(e->flags, IMAP_LIST_HASNOCHILDREN | IMAP_LIST_SUBSCRIBED);
	e = find_entry(&r, "Sent Items");
	assert_int_equal(e->flags,
			 IMAP_LIST_SENT | IMAP_LIST_HASNOCHILDREN | IMAP_LIST_SUBSCRIBED);
	e = find_entry(&r, "Flat");
	assert_int_equal(e->delimiter, '\0');
	assert_int_equal(e->flags, IMAP_LIST_NOSELECT | IMAP_LIST_HASCHILDREN);
	e = find_entry(&r, "Tr\"a\\sh");
	assert_int_equal(e->delimiter, '.');
	assert_int_equal(e->flags, IMAP_LIST_TRASH | IMAP_LIST_JUNK | IMAP_LIST_DRAFTS |
					   IMAP_LIST_ARCHIVE | IMAP_LIST_ALL | IMAP_LIST_FLAGGED);
	e = find_entry(&r, "a\\b");
	assert_int_equal(e->delimiter, '\\');
	assert_int_equal(e->flags, IMAP_LIST_NONEXISTENT | IMAP_LIST_NOINFERIORS);
	imap_list_result_free(&r);
	assert_int_equal(r.count, 0);
	fake_finish(&f, &c);
}

static void test_list_lsub(void **state)
{
	static const char *const script[] = {
		GREETING("SPECIAL-USE"),
		"C:A1 LIST \"\" \"*\"",
		"C:A2 LSUB \"\" \"*\"",
		"S:* LIST (\\HasNoChildren) \".\" Inbox",
		"S:* LIST (\\HasNoChildren \\Sent) \".\" Sent",
		"S:* LIST (\\HasNoChildren) \".\" Old",
		"S:A1 OK LIST done",
		"S:* LSUB () \".\" INBOX",
		"S:* LSUB () \".\" Sent",
		"S:* LSUB (\\Noselect) \".\" Gone",
		"S:A2 OK LSUB done",
		"C:A3 LIST \"\" \"*\"",
		"C:A4 LSUB \"\" \"*\"",
		"S:A3 NO [SERVERBUG] oops",
		"S:A4 OK",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct imap_list_result r;
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	assert_int_equal(imap_client_list(c, &r, &err), 0);
	assert_int_equal(r.count, 3);
	assert_int_equal(find_entry(&r, "Inbox")->flags,
			 IMAP_LIST_HASNOCHILDREN | IMAP_LIST_SUBSCRIBED);
	assert_int_equal(find_entry(&r, "Sent")->flags,
			 IMAP_LIST_HASNOCHILDREN | IMAP_LIST_SENT | IMAP_LIST_SUBSCRIBED);
	assert_int_equal(find_entry(&r, "Old")->flags, IMAP_LIST_HASNOCHILDREN);
	imap_list_result_free(&r);
	assert_int_equal(imap_client_list(c, &r, &err), MF_ENO);
	assert_string_equal(err.msg, "LIST failed: [SERVERBUG] oops");
	assert_int_equal(r.count, 0);
	assert_null(r.entries);
	fake_finish(&f, &c);
}

static void test_select(void **state)
{
	static const char *const script[] = {
		GREETING(""),
		"C:A1 SELECT INBOX",
		"S:* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
		"S:* 172 EXISTS",
		"S:* OK [UIDVALIDITY 3857529045] UIDs valid",
		"S:* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited",
		"S:A1 OK [READ-WRITE] SELECT completed",
		"C:A2 SELECT \"No such\"",
		"S:A2 NO [NONEXISTENT] Unknown Mailbox",
		NULL,
	};
	static const char *const cs[] = {
		GREETING("CONDSTORE"),
		"C:A1 EXAMINE Archive (CONDSTORE)",
		"S:* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [UIDNEXT 12] x",
		"S:* OK [HIGHESTMODSEQ 90060115205545359] x",
		"S:A1 OK [READ-ONLY] EXAMINE completed",
		NULL,
	};
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct imap_mailbox_state st;
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	assert_int_equal(imap_client_select(c, "INBOX", false, &st, &err), 0);
	assert_int_equal(st.exists, 172);
	assert_int_equal(st.uidvalidity, 3857529045u);
	assert_int_equal(st.uidnext, 0);
	assert_int_equal(st.highestmodseq, 0);
	assert_false(st.readonly);
	assert_int_equal(imap_client_select(c, "No such", false, &st, &err), MF_ENO);
	assert_string_equal(err.msg, "SELECT No such failed: [NONEXISTENT] Unknown Mailbox");
	fake_finish(&f, &c);

	c = fake_start(&f, cs, NULL);
	greet(c);
	assert_int_equal(imap_client_select(c, "Archive", true, &st, &err), 0);
	assert_int_equal(st.exists, 3);
	assert_int_equal(st.uidvalidity, 7);
	assert_int_equal(st.uidnext, 12);
	assert_int_equal(st.highestmodseq, 90060115205545359ull);
	assert_true(st.readonly);
	fake_finish(&f, &c);
}

static void test_starttls_injection(void **state)
{
	static const char *const script[] = {
		GREETING("STARTTLS LOGINDISABLED"),
		"C:A1 STARTTLS",
		"S:A1 OK Begin TLS\r\n* OK injected",
		NULL,
	};
	struct net_tls_opts tls = { .verify = true, .host = "localhost" };
	struct fake f;
	struct imap_client *c = fake_start(&f, script, NULL);
	struct mf_error err = { 0 };

	(void)state;
	greet(c);
	assert_int_equal(imap_client_starttls(c, &tls, 1000, &err), MF_EPROTO);
	assert_non_null(strstr(err.msg, "STARTTLS injection"));
	/* Dead: no login goes out in the clear. */
	assert_int_equal(imap_client_login(c, "alice", "secret", &err), MF_EPROTO);
	fake_finish(&f, &c);
}

/* A clean OK: the client starts the handshake (a TLS record arrives). */
struct hello_srv {
	int fd;
	unsigned char first;
	char err[128];
};

static void *hello_main(void *arg)
{
	struct hello_srv *h = arg;
	static const char greeting[] = "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n";
	static const char ok[] = "A1 OK Begin TLS\r\n";
	char line[64];
	size_t n = 0;

	if (write(h->fd, greeting, sizeof(greeting) - 1) < 0)
		snprintf(h->err, sizeof(h->err), "write failed");
	while (n < sizeof(line) && read(h->fd, line + n, 1) == 1 && line[n] != '\n')
		n++;
	if (n != 12 || memcmp(line, "A1 STARTTLS\r", 12) != 0)
		snprintf(h->err, sizeof(h->err), "got %.*s", (int)n, line);
	if (write(h->fd, ok, sizeof(ok) - 1) < 0)
		snprintf(h->err, sizeof(h->err), "write failed");
	if (read(h->fd, &h->first, 1) != 1)
		snprintf(h->err, sizeof(h->err), "no ClientHello");
	close(h->fd);
	return NULL;
}

static void test_starttls_handshake_starts(void **state)
{
	struct net_tls_opts tls = { .verify = true, .host = "localhost" };
	struct imap_client_opts o = { .io_timeout_ms = 3000 };
	struct hello_srv h = { 0 };
	struct imap_client *c;
	struct mf_error err = { 0 };
	pthread_t th;
	int sv[2];
	int rc;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	h.fd = sv[1];
	assert_int_equal(pthread_create(&th, NULL, hello_main, &h), 0);
	c = imap_client_new(net_conn_from_fd(sv[0]), &o);
	greet(c);
	assert_true(imap_client_caps(c) & IMAP_CAP_STARTTLS);
	rc = imap_client_starttls(c, &tls, 2000, &err);
	/* The fake server closes instead of answering the ClientHello. */
	assert_true(rc == MF_ETLS || rc == MF_ECLOSED);
	imap_client_free(&c);
	pthread_join(th, NULL);
	assert_string_equal(h.err, "");
	assert_int_equal(h.first, 0x16); /* TLS handshake record */
}

static void test_logout(void **state)
{
	static const char *const ok[] = {
		GREETING(""), "C:A1 LOGOUT", "S:* BYE bye\r\nA1 OK done", NULL,
	};
	static const char *const closed[] = {
		GREETING(""), "C:A1 LOGOUT", "S:* BYE bye", "X",
	};
	struct fake f;
	struct imap_client *c;
	struct mf_error err = { 0 };

	(void)state;
	c = fake_start(&f, ok, NULL);
	greet(c);
	assert_int_equal(imap_client_logout(c, &err), 0);
	fake_finish(&f, &c);

	c = fake_start(&f, closed, NULL);
	greet(c);
	assert_int_equal(imap_client_logout(c, &err), 0);
	assert_true(imap_client_bye(c));
	fake_finish(&f, &c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greeting_ok_caps),
		cmocka_unit_test(test_greeting_preauth),
		cmocka_unit_test(test_greeting_bye),
		cmocka_unit_test(test_greeting_garbage),
		cmocka_unit_test(test_greeting_close_and_timeout),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_max_in_flight),
		cmocka_unit_test(test_sync_literal_waits),
		cmocka_unit_test(test_sync_literal_rejected),
		cmocka_unit_test(test_literal_plus_minus),
		cmocka_unit_test(test_astring_forms),
		cmocka_unit_test(test_login_quoting),
		cmocka_unit_test(test_login_rejected),
		cmocka_unit_test(test_authenticate_plain),
		cmocka_unit_test(test_trace_redaction),
		cmocka_unit_test(test_trace_literals),
		cmocka_unit_test(test_close_mid_response),
		cmocka_unit_test(test_bye_then_close),
		cmocka_unit_test(test_io_timeout),
		cmocka_unit_test(test_protocol_violations),
		cmocka_unit_test(test_id),
		cmocka_unit_test(test_list_extended),
		cmocka_unit_test(test_list_lsub),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_starttls_handshake_starts),
		cmocka_unit_test(test_logout),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
