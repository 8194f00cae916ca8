/* Unit tests for src/net/dns-records.c: SRV and MX lookups against a
 * scripted DNS server on 127.0.0.1 (answers built by hand), and once against
 * a real dnsmasq started by the test (skipped when dnsmasq is missing). */
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
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/dns-records.h"
#include "net/net.h"
#include "util/mftime.h"

/* ---- the scripted server ---------------------------------------------------- */

enum dns_mode {
	DNS_ANSWER, /* the scripted records for SRV and MX, nothing else */
	DNS_NXDOMAIN,
	DNS_SERVFAIL,
	DNS_SILENT,    /* never answers */
	DNS_MALFORMED, /* an SRV answer whose RDATA is cut short */
};

struct rec {
	uint16_t type; /* 33 SRV, 15 MX */
	uint16_t prio, weight, port;
	const char *target; /* "." for the root */
};

struct dns_srv {
	int fd;
	enum dns_mode mode;
	const struct rec *recs;
	size_t nrecs;
	atomic_int queries;
	atomic_bool stop;
	pthread_t thread;
	char addr[32];
};

static void put16(unsigned char *p, size_t *at, unsigned v)
{
	p[(*at)++] = (unsigned char)(v >> 8);
	p[(*at)++] = (unsigned char)v;
}

/* A name in wire format, no compression. */
static void put_name(unsigned char *p, size_t *at, const char *name)
{
	while (*name != '\0' && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t n = dot != NULL ? (size_t)(dot - name) : strlen(name);

		p[(*at)++] = (unsigned char)n;
		memcpy(p + *at, name, n);
		*at += n;
		name += n;
		if (*name == '.')
			name++;
	}
	p[(*at)++] = 0;
}

static void dns_srv_answer(struct dns_srv *s, const unsigned char *q, size_t n,
			   struct sockaddr_storage *from, socklen_t fromlen)
{
	unsigned char r[1500];
	size_t i = 12, qend, at;
	unsigned qtype, an = 0;

	if (n < 12 + 5)
		return;
	while (i < n && q[i] != 0)
		i += (size_t)q[i] + 1;
	if (i + 5 > n)
		return;
	qend = i + 5;
	qtype = (unsigned)(q[i + 1] << 8 | q[i + 2]);
	memcpy(r, q, qend);
	r[2] = (unsigned char)(0x80 | (q[2] & 0x79)); /* QR, opcode, RD */
	r[3] = 0x80;				      /* RA */
	if (s->mode == DNS_NXDOMAIN)
		r[3] |= 3;
	else if (s->mode == DNS_SERVFAIL)
		r[3] |= 2;
	at = qend;
	for (size_t k = 0; s->mode == DNS_ANSWER && k < s->nrecs; k++) {
		const struct rec *rr = &s->recs[k];
		size_t rdlen_at;

		if (rr->type != qtype)
			continue;
		put16(r, &at, 0xc00c); /* the question's name */
		put16(r, &at, rr->type);
		put16(r, &at, 1);
		put16(r, &at, 0);
		put16(r, &at, 60);
		rdlen_at = at;
		at += 2;
		put16(r, &at, rr->prio);
		if (rr->type == 33) {
			put16(r, &at, rr->weight);
			put16(r, &at, rr->port);
		}
		put_name(r, &at, rr->target);
		r[rdlen_at] = (unsigned char)((at - rdlen_at - 2) >> 8);
		r[rdlen_at + 1] = (unsigned char)(at - rdlen_at - 2);
		an++;
	}
	if (s->mode == DNS_MALFORMED && qtype == 33) {
		put16(r, &at, 0xc00c);
		put16(r, &at, 33);
		put16(r, &at, 1);
		put16(r, &at, 0);
		put16(r, &at, 60);
		put16(r, &at, 3); /* RDLENGTH 3: too short for an SRV */
		put16(r, &at, 0);
		r[at++] = 0;
		an = 1;
	}
	r[4] = 0, r[5] = 1;
	r[6] = (unsigned char)(an >> 8), r[7] = (unsigned char)an;
	r[8] = r[9] = r[10] = r[11] = 0;
	(void)sendto(s->fd, r, at, 0, (struct sockaddr *)from, fromlen);
}

static void *dns_srv_main(void *arg)
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
		if (n <= 0)
			continue;
		atomic_fetch_add(&s->queries, 1);
		if (s->mode != DNS_SILENT)
			dns_srv_answer(s, q, (size_t)n, &from, fromlen);
	}
	return NULL;
}

static int udp_any(uint16_t *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Start a server and point the library at it. */
static void dns_srv_start(struct dns_srv *s, enum dns_mode mode, const struct rec *recs,
			  size_t nrecs)
{
	struct mf_error err;
	uint16_t port;

	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->recs = recs;
	s->nrecs = nrecs;
	s->fd = udp_any(&port);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", port);
	atomic_store(&s->stop, false);
	atomic_store(&s->queries, 0);
	assert_int_equal(pthread_create(&s->thread, NULL, dns_srv_main, s), 0);
	assert_int_equal(net_set_dns_server(s->addr, &err), 0);
}

static void dns_srv_stop(struct dns_srv *s)
{
	struct mf_error err;

	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
}

/* ---- SRV ------------------------------------------------------------------ */

static void test_srv_sorted(void **state)
{
	static const struct rec recs[] = {
	    {33, 20, 0, 993, "backup.example.test."},
	    {33, 0, 5, 993, "a.example.test."},
	    {33, 10, 1, 1993, "mid.example.test."},
	    {33, 0, 5, 994, "b.example.test."},
	};
	struct net_srv *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	size_t n = 99;
	bool no = true;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER, recs, 4);
	assert_int_equal(net_query_srv("_imaps._tcp.example.test", 2000, &v, &n, &no, &err), 0);
	assert_false(no);
	assert_int_equal(n, 4);
	assert_int_equal(v[0].priority, 0);
	assert_int_equal(v[1].priority, 0);
	assert_true(strcmp(v[0].target, "a.example.test") == 0 ||
		    strcmp(v[0].target, "b.example.test") == 0);
	assert_int_equal(v[0].port, strcmp(v[0].target, "a.example.test") == 0 ? 993 : 994);
	assert_string_not_equal(v[0].target, v[1].target);
	assert_int_equal(v[2].priority, 10);
	assert_string_equal(v[2].target, "mid.example.test");
	assert_int_equal(v[2].port, 1993);
	assert_int_equal(v[2].weight, 1);
	assert_int_equal(v[3].priority, 20);
	assert_string_equal(v[3].target, "backup.example.test");
	net_srv_free(&v, n);
	assert_null(v);
	dns_srv_stop(&s);
}

/* RFC 2782: within a priority, a record with weight 90 comes first about
 * 91 times in 101 against one with weight 10. */
static void test_srv_weighted(void **state)
{
	static const struct rec recs[] = {
	    {33, 1, 10, 993, "light.example.test"},
	    {33, 1, 90, 993, "heavy.example.test"},
	};
	struct mf_error err;
	struct dns_srv s;
	int heavy_first = 0;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER, recs, 2);
	for (int i = 0; i < 200; i++) {
		struct net_srv *v = NULL;
		size_t n = 0;
		bool no;

		assert_int_equal(net_query_srv("_imap._tcp.example.test", 2000, &v, &n, &no, &err),
				 0);
		assert_int_equal(n, 2);
		if (strcmp(v[0].target, "heavy.example.test") == 0)
			heavy_first++;
		net_srv_free(&v, n);
	}
	/* expected about 180; the light one must also lead sometimes */
	assert_true(heavy_first >= 150);
	assert_true(heavy_first <= 199);
	dns_srv_stop(&s);
}

static void test_srv_not_offered(void **state)
{
	static const struct rec dot[] = {{33, 0, 0, 0, "."}};
	static const struct rec mixed[] = {
	    {33, 0, 0, 0, "."},
	    {33, 5, 0, 143, "imap.example.test"},
	};
	struct net_srv *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	size_t n = 99;
	bool no = false;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER, dot, 1);
	assert_int_equal(net_query_srv("_imap._tcp.example.test", 2000, &v, &n, &no, &err), 0);
	assert_true(no);
	assert_int_equal(n, 0);
	assert_null(v);
	dns_srv_stop(&s);

	dns_srv_start(&s, DNS_ANSWER, mixed, 2);
	assert_int_equal(net_query_srv("_imap._tcp.example.test", 2000, &v, &n, &no, &err), 0);
	assert_false(no);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].target, "imap.example.test");
	net_srv_free(&v, n);
	dns_srv_stop(&s);
}

static void test_srv_none(void **state)
{
	static const struct rec mx_only[] = {{15, 10, 0, 0, "mx.example.test"}};
	struct net_srv *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	size_t n = 99;
	bool no = true;

	(void)state;
	dns_srv_start(&s, DNS_NXDOMAIN, NULL, 0);
	assert_int_equal(net_query_srv("_imaps._tcp.nowhere.test", 2000, &v, &n, &no, &err), 0);
	assert_int_equal(n, 0);
	assert_false(no);
	assert_null(v);
	dns_srv_stop(&s);

	/* NODATA: the name exists, with no SRV record */
	dns_srv_start(&s, DNS_ANSWER, mx_only, 1);
	n = 99;
	no = true;
	assert_int_equal(net_query_srv("_imaps._tcp.example.test", 2000, &v, &n, &no, &err), 0);
	assert_int_equal(n, 0);
	assert_false(no);
	dns_srv_stop(&s);
}

static void test_srv_servfail(void **state)
{
	struct net_srv *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	size_t n;
	bool no;

	(void)state;
	dns_srv_start(&s, DNS_SERVFAIL, NULL, 0);
	assert_int_equal(net_query_srv("_imaps._tcp.broken.test", 2000, &v, &n, &no, &err),
			 MF_EDNS);
	assert_string_equal(err.msg, "DNS server failure for SRV _imaps._tcp.broken.test");
	assert_int_equal(n, 0);
	dns_srv_stop(&s);
}

static void test_srv_malformed(void **state)
{
	struct net_srv *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	size_t n;
	bool no;

	(void)state;
	dns_srv_start(&s, DNS_MALFORMED, NULL, 0);
	assert_int_equal(net_query_srv("_imaps._tcp.odd.test", 2000, &v, &n, &no, &err), MF_EDNS);
	assert_null(v);
	dns_srv_stop(&s);
}

static void test_srv_timeout(void **state)
{
	struct net_srv *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	int64_t t0, elapsed;
	size_t n;
	bool no;

	(void)state;
	dns_srv_start(&s, DNS_SILENT, NULL, 0);
	t0 = mf_now_ms();
	assert_int_equal(net_query_srv("_imaps._tcp.slow.test", 300, &v, &n, &no, &err),
			 MF_ETIMEOUT);
	elapsed = mf_now_ms() - t0;
	assert_true(elapsed >= 250 && elapsed < 1000);
	assert_string_equal(err.msg, "no DNS answer for SRV _imaps._tcp.slow.test within 0.3 s");
	/* c-ares retried within the deadline */
	assert_true(atomic_load(&s.queries) >= 2);
	dns_srv_stop(&s);
}

/* ---- MX ------------------------------------------------------------------- */

static void test_mx_sorted(void **state)
{
	static const struct rec recs[] = {
	    {15, 20, 0, 0, "backup.mx.example.test."}, {15, 10, 0, 0, "one.mx.example.test"},
	    {15, 10, 0, 0, "two.mx.example.test"},     {15, 5, 0, 0, "first.mx.example.test"},
	    {33, 0, 0, 993, "srv.example.test"},
	};
	struct net_mx *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	size_t n = 0;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER, recs, 5);
	assert_int_equal(net_query_mx("example.test", 2000, &v, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].host, "first.mx.example.test");
	assert_int_equal(v[0].preference, 5);
	assert_string_equal(v[1].host, "one.mx.example.test");
	assert_string_equal(v[2].host, "two.mx.example.test");
	assert_int_equal(v[2].preference, 10);
	assert_string_equal(v[3].host, "backup.mx.example.test");
	assert_int_equal(v[3].preference, 20);
	net_mx_free(&v, n);
	assert_null(v);
	dns_srv_stop(&s);
}

static void test_mx_none(void **state)
{
	static const struct rec null_mx[] = {{15, 0, 0, 0, "."}};
	struct net_mx *v = NULL;
	struct mf_error err;
	struct dns_srv s;
	size_t n = 99;

	(void)state;
	dns_srv_start(&s, DNS_ANSWER, null_mx, 1);
	assert_int_equal(net_query_mx("nomail.test", 2000, &v, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	dns_srv_stop(&s);

	dns_srv_start(&s, DNS_NXDOMAIN, NULL, 0);
	n = 99;
	assert_int_equal(net_query_mx("nowhere.test", 2000, &v, &n, &err), 0);
	assert_int_equal(n, 0);
	dns_srv_stop(&s);

	dns_srv_start(&s, DNS_SERVFAIL, NULL, 0);
	assert_int_equal(net_query_mx("broken.test", 2000, &v, &n, &err), MF_EDNS);
	assert_string_equal(err.msg, "DNS server failure for MX broken.test");
	dns_srv_stop(&s);

	dns_srv_start(&s, DNS_SILENT, NULL, 0);
	assert_int_equal(net_query_mx("slow.test", 200, &v, &n, &err), MF_ETIMEOUT);
	dns_srv_stop(&s);
}

/* ---- a real dnsmasq ------------------------------------------------------- */

static const char *find_dnsmasq(void)
{
	static const char *const paths[] = {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq",
					    "/sbin/dnsmasq"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	}
	return NULL;
}

static void test_dnsmasq(void **state)
{
	const char *bin = find_dnsmasq();
	char port_arg[32], server[32];
	struct net_srv *v = NULL;
	struct net_mx *mx = NULL;
	struct mf_error err;
	size_t n = 0;
	bool no = true;
	uint16_t port;
	pid_t pid;
	int fd, rc = -1, status;

	(void)state;
	if (bin == NULL) {
		print_message("dnsmasq not installed: skipping the real-server check\n");
		skip();
		return;
	}
	/* a free UDP port (dnsmasq binds it again a moment later) */
	fd = udp_any(&port);
	close(fd);
	snprintf(port_arg, sizeof(port_arg), "--port=%u", port);
	snprintf(server, sizeof(server), "127.0.0.1:%u", port);
	{
		char *const argv[] = {
		    (char *)bin,
		    "--keep-in-foreground",
		    port_arg,
		    "--listen-address=127.0.0.1",
		    "--bind-interfaces",
		    "--no-resolv",
		    "--no-hosts",
		    "--conf-file=/dev/null",
		    "--pid-file=",
		    "--log-facility=/dev/null",
		    "--local=/test/",
		    "--srv-host=_imaps._tcp.example.test,imap.example.test,993,0,1",
		    "--mx-host=example.test,mx.example.test,10",
		    NULL};

		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* never outlive a test that failed half-way */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			execv(bin, argv);
			_exit(127);
		}
	}
	assert_int_equal(net_set_dns_server(server, &err), 0);
	/* wait for it to listen */
	for (int i = 0; i < 50; i++) {
		rc = net_query_srv("_imaps._tcp.example.test", 200, &v, &n, &no, &err);
		if (rc == 0)
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(rc, 0);
	assert_false(no);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].target, "imap.example.test");
	assert_int_equal(v[0].port, 993);
	assert_int_equal(v[0].priority, 0);
	assert_int_equal(v[0].weight, 1);
	net_srv_free(&v, n);

	assert_int_equal(net_query_mx("example.test", 2000, &mx, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(mx[0].host, "mx.example.test");
	assert_int_equal(mx[0].preference, 10);
	net_mx_free(&mx, n);

	/* a service that is not there: 0 records, not an error */
	assert_int_equal(net_query_srv("_imap._tcp.example.test", 2000, &v, &n, &no, &err), 0);
	assert_int_equal(n, 0);
	assert_false(no);
	assert_int_equal(net_query_mx("other.test", 2000, &mx, &n, &err), 0);
	assert_int_equal(n, 0);

	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(net_set_dns_server(NULL, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_srv_sorted),	    cmocka_unit_test(test_srv_weighted),
	    cmocka_unit_test(test_srv_not_offered), cmocka_unit_test(test_srv_none),
	    cmocka_unit_test(test_srv_servfail),    cmocka_unit_test(test_srv_malformed),
	    cmocka_unit_test(test_srv_timeout),	    cmocka_unit_test(test_mx_sorted),
	    cmocka_unit_test(test_mx_none),	    cmocka_unit_test(test_dnsmasq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
