/* Unit tests for src/net/conn.c: TCP connect, reads and writes with
 * deadlines, against real listeners on 127.0.0.1 run in threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "util/mftime.h"

/* A listening socket on 127.0.0.1 with a kernel-chosen port. */
static int listen_any(uint16_t *port, int backlog)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A port on which nothing listens (bound, then closed). */
static uint16_t dead_port(void)
{
	uint16_t port;
	int fd = listen_any(&port, 1);

	close(fd);
	return port;
}

static void addrs_for(uint16_t port, struct net_addrs *addrs)
{
	struct mf_error err;

	assert_int_equal(net_resolve("127.0.0.1", port, 1000, addrs, &err), 0);
	assert_int_equal(addrs->count, 1);
}

enum srv_mode { SRV_ECHO, SRV_CLOSE, SRV_HOLD };

struct srv {
	int lfd;
	enum srv_mode mode;
	int release[2]; /* SRV_HOLD: keep the connection until this pipe closes */
	pthread_t thread;
};

/* Block until srv_stop() closes the write end of the release pipe. */
static void wait_release(struct srv *s)
{
	char c;

	while (read(s->release[0], &c, 1) > 0)
		;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	char buf[4096];
	ssize_t n;
	int fd = accept(s->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	switch (s->mode) {
	case SRV_ECHO:
		if (write(fd, "* OK hi\r\n", 9) != 9)
			break;
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			if (write(fd, buf, (size_t)n) != n)
				break;
		}
		break;
	case SRV_CLOSE:
		break;
	case SRV_HOLD:
		wait_release(s);
		break;
	}
	close(fd);
	return NULL;
}

static void srv_start(struct srv *s, enum srv_mode mode, uint16_t *port)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->lfd = listen_any(port, 8);
	assert_int_equal(pipe(s->release), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(struct srv *s)
{
	close(s->release[1]);
	pthread_join(s->thread, NULL);
	close(s->release[0]);
	close(s->lfd);
}

static void test_connect_and_echo(void **state)
{
	struct net_addrs addrs;
	struct net_conn *c = NULL;
	struct mf_error err;
	struct srv s;
	char buf[64], want[64];
	uint16_t port;
	size_t got = 0;

	(void)state;
	srv_start(&s, SRV_ECHO, &port);
	addrs_for(port, &addrs);
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), 0);
	assert_non_null(c);
	assert_false(net_is_tls(c));
	assert_false(net_pending(c));
	assert_string_equal(net_tls_description(c), "");
	assert_true(net_fd(c) >= 0);
	snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	assert_string_equal(net_peer_text(c), want);
	while (got < 9) {
		ssize_t n = net_read(c, buf + got, sizeof(buf) - got, 1000, &err);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, "* OK hi\r\n", 9);
	assert_int_equal(net_write_all(c, "a1 NOOP\r\n", 9, 1000, &err), 0);
	for (got = 0; got < 9;) {
		ssize_t n = net_read(c, buf + got, sizeof(buf) - got, 1000, &err);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, "a1 NOOP\r\n", 9);
	net_close(&c);
	assert_null(c);
	net_close(&c); /* no-op */
	srv_stop(&s);
}

static void test_connect_refused(void **state)
{
	struct net_addrs addrs;
	struct net_conn *c = NULL;
	struct mf_error err;
	uint16_t port = dead_port();
	char want[80];

	(void)state;
	addrs_for(port, &addrs);
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), MF_ECONNECT);
	assert_null(c);
	snprintf(want, sizeof(want), "connection refused by 127.0.0.1:%u", port);
	assert_string_equal(err.msg, want);
}

static void test_connect_tries_next_address(void **state)
{
	struct net_addrs addrs, good;
	struct net_conn *c = NULL;
	struct mf_error err;
	struct srv s;
	uint16_t port;
	char buf[16];

	(void)state;
	srv_start(&s, SRV_ECHO, &port);
	addrs_for(dead_port(), &addrs);
	addrs_for(port, &good);
	addrs.addr[1] = good.addr[0];
	addrs.count = 2;
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), 0);
	assert_true(net_read(c, buf, sizeof(buf), 1000, &err) > 0);
	net_close(&c);
	srv_stop(&s);
}

static void test_connect_no_address(void **state)
{
	struct net_addrs addrs = { .count = 0 };
	struct net_conn *c = NULL;
	struct mf_error err;

	(void)state;
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), MF_EINVAL);
	assert_null(c);
}

/* A listener whose accept queue is full drops new SYNs, so connect() hangs:
 * the one way to provoke a connect timeout on loopback. Skipped where the
 * kernel (or a sandbox) answers anyway. */
static void test_connect_timeout(void **state)
{
	struct net_addrs addrs;
	struct net_conn *fill[4] = { NULL };
	struct mf_error err;
	uint16_t port;
	int lfd = listen_any(&port, 0);
	int64_t t0 = 0, elapsed = 0;
	int rc = 0;
	size_t i;
	char want[80];

	(void)state;
	addrs_for(port, &addrs);
	for (i = 0; i < 4 && rc == 0; i++) {
		t0 = mf_now_ms();
		rc = net_connect(&addrs, 200, &fill[i], &err);
		elapsed = mf_now_ms() - t0;
	}
	for (i = 0; i < 4; i++)
		net_close(&fill[i]);
	close(lfd);
	if (rc == 0) {
		skip();
		return;
	}
	assert_int_equal(rc, MF_ETIMEOUT);
	assert_true(elapsed >= 190 && elapsed < 1000);
	snprintf(want, sizeof(want), "no answer from 127.0.0.1:%u within 0.2 s", port);
	assert_string_equal(err.msg, want);
}

static void test_read_timeout(void **state)
{
	struct net_addrs addrs;
	struct net_conn *c = NULL;
	struct mf_error err;
	uint16_t port;
	int lfd = listen_any(&port, 4); /* the kernel completes the connect */
	int64_t t0;
	char buf[16];

	(void)state;
	addrs_for(port, &addrs);
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), 0);
	t0 = mf_now_ms();
	assert_int_equal(net_read(c, buf, sizeof(buf), 200, &err), MF_ETIMEOUT);
	assert_true(mf_now_ms() - t0 >= 190);
	assert_true(mf_now_ms() - t0 < 1000);
	assert_string_equal(err.msg, "no data from server within 0.2 s");
	net_close(&c);
	close(lfd);
}

static void test_peer_close(void **state)
{
	struct net_addrs addrs;
	struct net_conn *c = NULL;
	struct mf_error err;
	struct srv s;
	uint16_t port;
	char buf[16];

	(void)state;
	srv_start(&s, SRV_CLOSE, &port);
	addrs_for(port, &addrs);
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), 0);
	assert_int_equal(net_read(c, buf, sizeof(buf), 1000, &err), MF_ECLOSED);
	assert_string_equal(err.msg, "connection closed by server");
	net_close(&c);
	srv_stop(&s);
}

/* Writing to a peer that has gone must fail with MF_ECLOSED, not kill the
 * process with SIGPIPE. */
static void test_write_after_peer_close(void **state)
{
	static char chunk[65536];
	struct net_addrs addrs;
	struct net_conn *c = NULL;
	struct mf_error err;
	struct srv s;
	uint16_t port;
	char buf[16];
	int rc = 0;

	(void)state;
	srv_start(&s, SRV_CLOSE, &port);
	addrs_for(port, &addrs);
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), 0);
	assert_int_equal(net_read(c, buf, sizeof(buf), 1000, &err), MF_ECLOSED);
	for (int i = 0; i < 100 && rc == 0; i++)
		rc = net_write_all(c, chunk, sizeof(chunk), 1000, &err);
	assert_int_equal(rc, MF_ECLOSED);
	net_close(&c);
	srv_stop(&s);
}

static void test_write_timeout(void **state)
{
	static char chunk[1 << 20];
	struct net_addrs addrs;
	struct net_conn *c = NULL;
	struct mf_error err;
	struct srv s;
	uint16_t port;
	int rc = 0;

	(void)state;
	srv_start(&s, SRV_HOLD, &port);
	addrs_for(port, &addrs);
	assert_int_equal(net_connect(&addrs, 1000, &c, &err), 0);
	for (int i = 0; i < 512 && rc == 0; i++)
		rc = net_write_all(c, chunk, sizeof(chunk), 200, &err);
	assert_int_equal(rc, MF_ETIMEOUT);
	assert_string_equal(err.msg, "server accepted no data within 0.2 s");
	net_close(&c);
	srv_stop(&s);
}

static void test_from_fd(void **state)
{
	struct net_conn *a, *b;
	struct mf_error err;
	char buf[16];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	a = net_conn_from_fd(sv[0]);
	b = net_conn_from_fd(sv[1]);
	assert_int_equal(net_fd(a), sv[0]);
	assert_string_equal(net_peer_text(a), "local");
	assert_int_equal(net_write_all(a, "ping", 4, 1000, &err), 0);
	assert_int_equal(net_read(b, buf, sizeof(buf), 1000, &err), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(net_read(b, buf, sizeof(buf), 50, &err), MF_ETIMEOUT);
	net_close(&a);
	assert_int_equal(net_read(b, buf, sizeof(buf), 1000, &err), MF_ECLOSED);
	net_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_and_echo),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_connect_tries_next_address),
		cmocka_unit_test(test_connect_no_address),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_read_timeout),
		cmocka_unit_test(test_peer_close),
		cmocka_unit_test(test_write_after_peer_close),
		cmocka_unit_test(test_write_timeout),
		cmocka_unit_test(test_from_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
