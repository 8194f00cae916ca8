/* test_driver_imap_fake.h: a scripted IMAP server on 127.0.0.1 for the IMAP
 * driver's unit tests (test_driver_imap*.c); included by each, not built
 * alone.
 *
 * The server listens on an ephemeral port, accepts one connection in a
 * thread and plays a script:
 *   "C:line"  expect this line from the client (CRLF required, stripped)
 *   "S:text"  send text + CRLF (text may hold more CRLFs)
 *   "R:text"  send text as is
 *   "Q:ms"    expect no byte from the client for ms milliseconds
 *   "W:ms"    sleep ms milliseconds
 *   "D:n"     read and drop n bytes from the client (a large literal)
 *   "M:"      count a mark (fake_wait_mark() waits for it)
 *   "X:"      close the connection now (the script ends there)
 * then expects EOF. Failures are recorded and asserted by fake_finish().
 * Where the client may correctly send either of two sequences (a race
 * with the server), fake_listen_any()/fake_open_any() take several
 * scripts: played as one while they agree, and from a client line where
 * they part on, the one that expects that line (f->chosen).
 * Set MF_TEST_TRACE=1 to see the protocol trace on stderr.
 *
 * For the append tests: fake_on_done() records the reports in a struct
 * fake_outcome; fake_append_begin() and fake_append() append a message.
 */
#ifndef TEST_DRIVER_IMAP_FAKE_H
#define TEST_DRIVER_IMAP_FAKE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "drivers/imap-driver.h"
#include "util/xmalloc.h"

#define FAKE_WAIT_MS 5000

struct fake {
	int lfd, fd;
	uint16_t port;
	const char *const *script;           /* the one being played */
	const char *const *const *scripts;   /* fake_listen_any's; else NULL */
	size_t chosen;                       /* the one played: its index there */
	atomic_int marks;                    /* "M:" steps played */
	pthread_t thread;
	char err[512];
	char in[1 << 16];
	size_t inlen;
};

static void fake_fail(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fake_fail(struct fake *f, const char *fmt, ...)
{
	va_list ap;

	if (f->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
}

static int fake_fill(struct fake *f, int timeout_ms)
{
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0 || f->inlen == sizeof(f->in))
		return -1;
	n = read(f->fd, f->in + f->inlen, sizeof(f->in) - f->inlen);
	if (n < 0)
		return -1;
	if (n == 0)
		return 0;
	f->inlen += (size_t)n;
	return 1;
}

static bool fake_is_line(const char *step, const char *line, size_t len)
{
	return strncmp(step, "C:", 2) == 0 && strlen(step + 2) == len &&
	       memcmp(step + 2, line, len) == 0;
}

/* Step i of the script played expects another line than the client's:
 * go on with a script of fake_listen_any's that agrees with it before i
 * and expects the line at i, if there is one. */
static bool fake_switch(struct fake *f, size_t i, const char *line, size_t len)
{
	for (size_t k = 0; f->scripts != NULL && f->scripts[k] != NULL; k++) {
		const char *const *s = f->scripts[k];
		size_t j = 0;

		while (j < i && s[j] != NULL && strcmp(s[j], f->script[j]) == 0)
			j++;
		if (j == i && s[i] != NULL && fake_is_line(s[i], line, len)) {
			f->script = s;
			f->chosen = k;
			return true;
		}
	}
	return false;
}

/* The client's next line is that of step i. */
static bool fake_expect_line(struct fake *f, size_t i)
{
	const char *want = f->script[i] + 2;

	for (;;) {
		char *nl = memchr(f->in, '\n', f->inlen);

		if (nl != NULL) {
			size_t len = (size_t)(nl - f->in);
			bool ok = len > 0 && f->in[len - 1] == '\r' &&
				  (fake_is_line(f->script[i], f->in, len - 1) ||
				   fake_switch(f, i, f->in, len - 1));

			if (!ok)
				fake_fail(f, "expected \"%s\", got \"%.*s\"", want, (int)len, f->in);
			memmove(f->in, nl + 1, f->inlen - len - 1);
			f->inlen -= len + 1;
			return ok;
		}
		if (fake_fill(f, FAKE_WAIT_MS) <= 0) {
			fake_fail(f, "expected \"%s\", got EOF/timeout after \"%.*s\"", want,
				  (int)(f->inlen > 200 ? 200 : f->inlen), f->in);
			return false;
		}
	}
}

static bool fake_send(struct fake *f, const char *text, bool crlf)
{
	size_t len = strlen(text), off = 0;

	while (off < len + (crlf ? 2 : 0)) {
		const char *p = off < len ? text + off : "\r\n" + (off - len);
		size_t n = off < len ? len - off : len + 2 - off;
		ssize_t w = send(f->fd, p, n, MSG_NOSIGNAL);

		if (w <= 0) {
			fake_fail(f, "send failed: %s", strerror(errno));
			return false;
		}
		off += (size_t)w;
	}
	return true;
}

static bool fake_drop(struct fake *f, size_t n)
{
	while (n > 0) {
		size_t k = f->inlen < n ? f->inlen : n;

		memmove(f->in, f->in + k, f->inlen - k);
		f->inlen -= k;
		n -= k;
		if (n > 0 && fake_fill(f, FAKE_WAIT_MS) <= 0) {
			fake_fail(f, "EOF/timeout with %zu bytes still to come", n);
			return false;
		}
	}
	return true;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	bool ok = true;

	f->fd = accept(f->lfd, NULL, NULL);
	if (f->fd < 0) {
		fake_fail(f, "accept: %s", strerror(errno));
		return NULL;
	}
	for (size_t i = 0; ok && f->script[i] != NULL; i++) {
		const char *s = f->script[i];

		if (strncmp(s, "C:", 2) == 0) {
			ok = fake_expect_line(f, i);
		} else if (strncmp(s, "S:", 2) == 0) {
			ok = fake_send(f, s + 2, true);
		} else if (strncmp(s, "R:", 2) == 0) {
			ok = fake_send(f, s + 2, false);
		} else if (strncmp(s, "Q:", 2) == 0) {
			if (f->inlen > 0 || fake_fill(f, (int)strtol(s + 2, NULL, 10)) >= 0) {
				fake_fail(f, "client sent \"%.*s\" too early", (int)f->inlen, f->in);
				ok = false;
			}
		} else if (strncmp(s, "D:", 2) == 0) {
			ok = fake_drop(f, strtoul(s + 2, NULL, 10));
		} else if (strncmp(s, "M:", 2) == 0) {
			atomic_fetch_add(&f->marks, 1);
		} else if (strncmp(s, "X:", 2) == 0) {
			close(f->fd);
			f->fd = -1;
			return NULL;
		} else if (strncmp(s, "W:", 2) == 0) {
			struct timespec ts = { 0, strtol(s + 2, NULL, 10) * 1000000L };

			nanosleep(&ts, NULL);
		} else {
			fake_fail(f, "bad script step %s", s);
			ok = false;
		}
	}
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

static void fake_start(struct fake *f, const char *const *script,
		       const char *const *const *scripts)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->script = script;
	f->scripts = scripts;
	atomic_init(&f->marks, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

/* Listen on 127.0.0.1 and play script to the first client, in a thread. */
static void fake_listen(struct fake *f, const char *const *script)
{
	fake_start(f, script, NULL);
}

/* The same with the client's choice of scripts (NULL-terminated): see the
 * top of this file. */
static __attribute__((unused)) void fake_listen_any(struct fake *f,
						    const char *const *const *scripts)
{
	fake_start(f, scripts[0], scripts);
}

static void fake_opts(const struct fake *f, struct imap_mbx_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = f->port;
	o->security = IMAP_SEC_NONE;
	o->auth = IMAP_AUTH_LOGIN;
	o->user = "alice";
	o->password = "pw";
	o->io_timeout_ms = 3000;
	if (getenv("MF_TEST_TRACE") != NULL) {
		o->trace = stderr;
		o->trace_prefix = "t";
	}
}

/* Open the mailbox with o (fake_opts', changed by the test). */
static __attribute__((unused)) struct mbx *fake_mbx_open(const struct imap_mbx_opts *o)
{
	struct mf_error err = { 0 };
	struct mbx *m = NULL;

	if (imap_mbx_open(o, &m, &err) != 0)
		fail_msg("imap_mbx_open: %s", err.msg);
	return m;
}

/* Start the server and open the mailbox (the script begins with LOGIN). */
static __attribute__((unused)) struct mbx *fake_open(struct fake *f, const char *const *script)
{
	struct imap_mbx_opts o;

	fake_listen(f, script);
	fake_opts(f, &o);
	return fake_mbx_open(&o);
}

/* The same with the client's choice of scripts (fake_listen_any). */
static __attribute__((unused)) struct mbx *fake_open_any(struct fake *f,
							 const char *const *const *scripts)
{
	struct imap_mbx_opts o;

	fake_listen_any(f, scripts);
	fake_opts(f, &o);
	return fake_mbx_open(&o);
}

/* Wait until the server has played n "M:" steps. */
static __attribute__((unused)) void fake_wait_mark(struct fake *f, int n)
{
	struct timespec ts = { 0, 1000000L };

	for (int ms = 0; atomic_load(&f->marks) < n; ms++) {
		if (ms == 2 * FAKE_WAIT_MS)
			fail_msg("the fake server did not reach mark %d", n);
		nanosleep(&ts, NULL);
	}
}

static void fake_finish(struct fake *f, struct mbx **m)
{
	if (*m != NULL)
		(*m)->drv->close(m);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	if (f->err[0] != '\0')
		fail_msg("fake server: %s", f->err);
}

#define FAKE_CAPS(caps) "IMAP4rev1 " caps
/* Greeting and LOGIN (tag A1); the OK carries the capabilities. */
#define FAKE_LOGIN(caps)                                            \
	"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready",           \
	"C:A1 LOGIN alice pw",                                       \
	"S:A1 OK [CAPABILITY " FAKE_CAPS(caps) "] Logged in"
#define FAKE_LOGOUT(tag) "C:" tag " LOGOUT", "S:* BYE bye\r\n" tag " OK done"
/* The listing before the first append (tags A2, A3): INBOX and Work, "/". */
#define FAKE_LIST_SLASH                                               \
	"C:A2 LIST \"\" \"*\"", "C:A3 LSUB \"\" \"*\"",               \
	"S:* LIST () \"/\" INBOX\r\n* LIST () \"/\" Work\r\nA2 OK done", \
	"S:A3 OK done"

/* ---- for the append tests ------------------------------------------------------- */

/* The appends' reports (fake_on_done), in order. */
struct fake_outcome {
	size_t n;
	uint64_t token[8];
	int rc[8];
	uint32_t uidvalidity[8], uid[8];
	char msg[8][200];                    /* the error, or the warning ("") */
};

static __attribute__((unused)) void fake_on_done(void *ctx, uint64_t token, int rc,
						 const struct mbx_appended *out,
						 const struct mf_error *err)
{
	struct fake_outcome *o = ctx;
	size_t i = o->n++;

	assert_true(i < 8);
	o->token[i] = token;
	o->rc[i] = rc;
	if (rc == 0) {
		assert_non_null(out);
		o->uidvalidity[i] = out->uidvalidity;
		o->uid[i] = out->uid;
		snprintf(o->msg[i], sizeof(o->msg[i]), "%s", out->warning ? out->warning : "");
	} else {
		assert_non_null(err);
		snprintf(o->msg[i], sizeof(o->msg[i]), "%s", err->msg);
	}
}

/* append_begin of a message of size bytes (its time zone: -0700). */
static __attribute__((unused)) int fake_append_begin(struct mbx *m, const char *folder,
						     uint32_t flags, char **kw, size_t nkw,
						     time_t date, size_t size, uint64_t token,
						     struct mbx_append **ap, struct mf_error *err)
{
	struct mbx_msg_info info = { 0 };

	info.size = size;
	info.flags = flags;
	info.keywords = kw;
	info.keyword_count = nkw;
	info.internaldate = date;
	info.tz_offset_min = -420;
	return m->drv->append_begin(m, folder, &info, token, ap, err);
}

/* Append data as one message (written in two pieces). */
static __attribute__((unused)) int fake_append(struct mbx *m, const char *folder, uint32_t flags,
					       char **kw, size_t nkw, time_t date,
					       const char *data, uint64_t token,
					       struct mf_error *err)
{
	struct mbx_append *ap;
	size_t len = strlen(data), half = len / 2;
	int rc;

	rc = fake_append_begin(m, folder, flags, kw, nkw, date, len, token, &ap, err);
	if (rc < 0)
		return rc;
	rc = m->drv->append_data(ap, data, half, err);
	if (rc == 0)
		rc = m->drv->append_data(ap, data + half, len - half, err);
	if (rc == 0)
		return m->drv->append_end(ap, err);
	m->drv->append_abort(ap);
	return rc;
}

#endif
