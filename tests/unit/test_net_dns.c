/* Unit tests for src/net/dns.c: numeric hosts, /etc/hosts, and a scripted
 * DNS server on 127.0.0.1 (answering, NXDOMAIN, SERVFAIL, or silent). */
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
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "util/mftime.h"

enum dns_mode { DNS_ANSWER, DNS_NXDOMAIN, DNS_SERVFAIL };

struct dns_srv {
	int fd;
	uint16_t port;
	enum dns_mode mode;
	atomic_bool stop;
	pthread_t thread;
	char addr[32]; /* "127.0.0.1:port" */
};

static int udp_any(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Answer one query: A queries get 10.1.2.3 in DNS_ANSWER mode, AAAA queries
 * get an empty NOERROR answer. */
static void dns_srv_answer(struct dns_srv *s, unsigned char *q, size_t n,
			   struct sockaddr_storage *from, socklen_t fromlen)
{
	static const unsigned char rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60,
					    0, 4, 10, 1, 2, 3 };
	unsigned char r[600];
	size_t i = 12, qend;
	int qtype, an = 0;

	if (n < 12 + 5)
		return;
	while (i < n && q[i] != 0)
		i += (size_t)q[i] + 1;
	if (i + 5 > n)
		return;
	qend = i + 5;
	qtype = q[i + 1] << 8 | q[i + 2];
	memcpy(r, q, qend);
	r[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, opcode, RD */
	r[3] = 0x80;                                  /* RA */
	if (s->mode == DNS_NXDOMAIN)
		r[3] |= 3;
	else if (s->mode == DNS_SERVFAIL)
		r[3] |= 2;
	if (s->mode == DNS_ANSWER && qtype == 1) {
		memcpy(r + qend, rr, sizeof(rr));
		an = 1;
	}
	r[4] = 0, r[5] = 1;
	r[6] = 0, r[7] = (unsigned char)an;
	r[8] = r[9] = r[10] = r[11] = 0;
	(void)sendto(s->fd, r, qend + (an ? sizeof(rr) : 0), 0,
		     (struct sockaddr *)from, fromlen);
}

static void *dns_srv_main(void *arg)
{
	struct dns_srv *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		unsigned char q[512];
		ssize_t n;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
		if (n > 0)
			dns_srv_answer(s, q, (size_t)n, &from, fromlen);
	}
	return NULL;
}

static void dns_srv_start(struct dns_srv *s, enum dns_mode mode)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->fd = udp_any(&s->port);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", s->port);
	atomic_store(&s->stop, false);
	assert_int_equal(pthread_create(&s->thread, NULL, dns_srv_main, s), 0);
}

/* The same on [::1]; returns false when the host has no IPv6 loopback. */
static bool dns_srv_start6(struct dns_srv *s, enum dns_mode mode)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(sin6);

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return false;
	sin6.sin6_addr = in6addr_loopback;
	if (bind(s->fd, (struct sockaddr *)&sin6, sizeof(sin6)) != 0) {
		close(s->fd);
		return false;
	}
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin6, &len), 0);
	s->port = ntohs(sin6.sin6_port);
	snprintf(s->addr, sizeof(s->addr), "[::1]:%u", s->port);
	atomic_store(&s->stop, false);
	assert_int_equal(pthread_create(&s->thread, NULL, dns_srv_main, s), 0);
	return true;
}

static void dns_srv_stop(struct dns_srv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static bool addrs_have(const struct net_addrs *a, const char *text)
{
	for (size_t i = 0; i < a->count; i++) {
		if (strcmp(a->addr[i].text, text) == 0)
			return true;
	}
	return false;
}

/* Must run first: the environment is read only while net_set_dns_server()
 * has never been called. */
static void test_env_server(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;
	struct dns_srv s;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER);
	setenv("MAILFERRY_DNS_SERVER", s.addr, 1);
	assert_int_equal(net_resolve("mail.example.test", 993, 2000, &addrs, &err), 0);
	assert_int_equal(addrs.count, 1);
	assert_string_equal(addrs.addr[0].text, "10.1.2.3");
	assert_int_equal(ntohs(((struct sockaddr_in *)&addrs.addr[0].ss)->sin_port), 993);
	setenv("MAILFERRY_DNS_SERVER", "not an address", 1);
	assert_int_equal(net_resolve("mail.example.test", 993, 2000, &addrs, &err), MF_EINVAL);
	unsetenv("MAILFERRY_DNS_SERVER");
	dns_srv_stop(&s);
}

static void test_numeric(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;
	struct sockaddr_in6 *sin6;

	(void)state;
	assert_int_equal(net_resolve("127.0.0.1", 143, 1000, &addrs, &err), 0);
	assert_int_equal(addrs.count, 1);
	assert_string_equal(addrs.addr[0].text, "127.0.0.1");
	assert_int_equal(addrs.addr[0].ss.ss_family, AF_INET);
	assert_int_equal(addrs.addr[0].len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&addrs.addr[0].ss)->sin_port), 143);

	assert_int_equal(net_resolve("[::1]", 993, 1000, &addrs, &err), 0);
	assert_int_equal(addrs.count, 1);
	assert_string_equal(addrs.addr[0].text, "::1");
	sin6 = (struct sockaddr_in6 *)&addrs.addr[0].ss;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 993);
	assert_int_equal(net_resolve("2001:db8::5", 1, 1000, &addrs, &err), 0);
	assert_string_equal(addrs.addr[0].text, "2001:db8::5");

	assert_int_equal(net_resolve("", 1, 1000, &addrs, &err), MF_EINVAL);
}

static void test_localhost(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;

	(void)state;
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
	assert_int_equal(net_resolve("localhost", 143, 2000, &addrs, &err), 0);
	assert_true(addrs.count >= 1);
	assert_true(addrs_have(&addrs, "127.0.0.1") || addrs_have(&addrs, "::1"));
}

static void test_set_server_syntax(void **state)
{
	struct mf_error err;

	(void)state;
	assert_int_equal(net_set_dns_server("127.0.0.1", &err), 0);
	assert_int_equal(net_set_dns_server("127.0.0.1:5353", &err), 0);
	assert_int_equal(net_set_dns_server("::1", &err), 0);
	assert_int_equal(net_set_dns_server("[::1]:5353", &err), 0);
	assert_int_equal(net_set_dns_server("[::1]", &err), 0);
	assert_int_equal(net_set_dns_server("dns.example", &err), MF_EINVAL);
	assert_int_equal(net_set_dns_server("127.0.0.1:", &err), MF_EINVAL);
	assert_int_equal(net_set_dns_server("127.0.0.1:70000", &err), MF_EINVAL);
	assert_int_equal(net_set_dns_server("127.0.0.1:-1", &err), MF_EINVAL);
	assert_int_equal(net_set_dns_server("[::1", &err), MF_EINVAL);
	assert_int_equal(net_set_dns_server("[::1]x", &err), MF_EINVAL);
	assert_int_equal(net_set_dns_server("", &err), 0);
}

static void test_answer(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;
	struct dns_srv s;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER);
	assert_int_equal(net_set_dns_server(s.addr, &err), 0);
	assert_int_equal(net_resolve("imap.example.test", 143, 2000, &addrs, &err), 0);
	assert_int_equal(addrs.count, 1);
	assert_string_equal(addrs.addr[0].text, "10.1.2.3");
	/* /etc/hosts still wins for localhost */
	assert_int_equal(net_resolve("localhost", 143, 2000, &addrs, &err), 0);
	assert_false(addrs_have(&addrs, "10.1.2.3"));
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
	dns_srv_stop(&s);
}

static void test_answer_ipv6_server(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;
	struct dns_srv s;

	(void)state;
	if (!dns_srv_start6(&s, DNS_ANSWER)) {
		skip();
		return;
	}
	assert_int_equal(net_set_dns_server(s.addr, &err), 0);
	assert_int_equal(net_resolve("imap6.example.test", 143, 2000, &addrs, &err), 0);
	assert_string_equal(addrs.addr[0].text, "10.1.2.3");
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
	dns_srv_stop(&s);
}

static void test_nxdomain(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;
	struct dns_srv s;

	(void)state;
	dns_srv_start(&s, DNS_NXDOMAIN);
	assert_int_equal(net_set_dns_server(s.addr, &err), 0);
	assert_int_equal(net_resolve("nowhere.example.test", 143, 2000, &addrs, &err), MF_EDNS);
	assert_int_equal(addrs.count, 0);
	assert_string_equal(err.msg, "no such host: nowhere.example.test");
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
	dns_srv_stop(&s);
}

static void test_servfail(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;
	struct dns_srv s;

	(void)state;
	dns_srv_start(&s, DNS_SERVFAIL);
	assert_int_equal(net_set_dns_server(s.addr, &err), 0);
	assert_int_equal(net_resolve("broken.example.test", 143, 2000, &addrs, &err), MF_EDNS);
	assert_string_equal(err.msg, "DNS server failure for broken.example.test");
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
	dns_srv_stop(&s);
}

static void test_dead_server_times_out(void **state)
{
	struct net_addrs addrs;
	struct mf_error err;
	uint16_t port;
	int fd = udp_any(&port); /* bound, never answers */
	char server[32];
	int64_t t0, elapsed;

	(void)state;
	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	assert_int_equal(net_set_dns_server(server, &err), 0);
	t0 = mf_now_ms();
	assert_int_equal(net_resolve("slow.example.test", 143, 300, &addrs, &err), MF_ETIMEOUT);
	elapsed = mf_now_ms() - t0;
	assert_true(elapsed >= 250 && elapsed < 1000);
	assert_string_equal(err.msg, "no DNS answer for slow.example.test within 0.3 s");
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
	close(fd);
}

struct resolve_job {
	const char *server;
	int rc;
	char text[64];
};

static void *resolve_thread(void *arg)
{
	struct resolve_job *j = arg;
	struct net_addrs addrs;
	struct mf_error err;

	j->rc = net_resolve("many.example.test", 1, 2000, &addrs, &err);
	if (j->rc == 0)
		snprintf(j->text, sizeof(j->text), "%s", addrs.addr[0].text);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct resolve_job jobs[8];
	pthread_t t[8];
	struct mf_error err;
	struct dns_srv s;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER);
	assert_int_equal(net_set_dns_server(s.addr, &err), 0);
	for (int i = 0; i < 8; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		assert_int_equal(pthread_create(&t[i], NULL, resolve_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(jobs[i].rc, 0);
		assert_string_equal(jobs[i].text, "10.1.2.3");
	}
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
	dns_srv_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_server),
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_localhost),
		cmocka_unit_test(test_set_server_syntax),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_answer_ipv6_server),
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_servfail),
		cmocka_unit_test(test_dead_server_times_out),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
