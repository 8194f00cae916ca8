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
 *   "X:"      close the connection now (the script ends there)
 * then expects EOF. Failures are recorded and asserted by fake_finish().
 * Set MF_TEST_TRACE=1 to see the protocol trace on stderr.
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
	const char *const *script;
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
		} else if (strncmp(s, "D:", 2) == 0) {
			ok = fake_drop(f, strtoul(s + 2, NULL, 10));
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

static void fake_listen(struct fake *f, const char *const *script)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->script = script;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
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

/* Start the server and open the mailbox (the script begins with LOGIN). */
static __attribute__((unused)) struct mbx *fake_open(struct fake *f, const char *const *script)
{
	struct imap_mbx_opts o;
	struct mf_error err = { 0 };
	struct mbx *m = NULL;

	fake_listen(f, script);
	fake_opts(f, &o);
	if (imap_mbx_open(&o, &m, &err) != 0)
		fail_msg("imap_mbx_open: %s", err.msg);
	return m;
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

#endif
