/* Unit tests for whole discovery runs of src/proto/autodiscover against a
 * scripted DNS server on 127.0.0.1 (SRV, MX, NXDOMAIN, silence): the
 * sources run concurrently, SRV and MX candidates with their confirmation
 * rules, "." targets, the provider table, POX's SRV step refusing a target
 * outside the domain, the overall deadline, and the failure text. Live
 * checks are off except where a test says so (tests/e2e has the HTTPS and
 * IMAP servers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "proto/autodiscover/ad-private.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

#define T_SRV 33
#define T_MX 15

struct rec {
	const char *name;
	int type;
	int prio;      /* SRV priority or MX preference */
	int weight;
	int port;
	const char *target;
};

static const struct rec recs[] = {
	{ "_imaps._tcp.srv.test", T_SRV, 0, 1, 993, "mail.srv.test" },
	{ "_imap._tcp.srv.test", T_SRV, 0, 1, 143, "mail.srv.test" },
	{ "_imaps._tcp.srvout.test", T_SRV, 0, 1, 993, "imap.elsewhere.test" },
	{ "_imaps._tcp.srvdot.test", T_SRV, 0, 0, 0, "." },
	{ "_imap._tcp.srvdot.test", T_SRV, 0, 0, 0, "." },
	{ "gmail.test", T_MX, 20, 0, 0, "alt2.aspmx.l.google.com" },
	{ "gmail.test", T_MX, 10, 0, 0, "aspmx.l.google.com" },
	{ "m365.test", T_MX, 0, 0, 0, "m365-test.mail.protection.outlook.com" },
	{ "ownmx.test", T_MX, 10, 0, 0, "mx.ownmx.test" },
	{ "_autodiscover._tcp.adsrvout.test", T_SRV, 0, 0, 443, "autodiscover.evil.test" },
};

struct dns_srv {
	int fd;
	atomic_bool stop;
	pthread_t thread;
	char addr[32];
};

static struct dns_srv dns;

/* The question's name, lower case, dotted; returns the offset after the
 * question (type and class included), or 0. */
static size_t q_name(const unsigned char *q, size_t n, char *out, size_t outlen)
{
	size_t i = 12, o = 0;

	while (i < n && q[i] != 0) {
		size_t l = q[i++];

		if (l > 63 || i + l > n || o + l + 2 > outlen)
			return 0;
		if (o > 0)
			out[o++] = '.';
		for (size_t k = 0; k < l; k++)
			out[o++] = (char)tolower(q[i + k]);
		i += l;
	}
	out[o] = '\0';
	if (i + 5 > n)
		return 0;
	return i + 5;
}

static size_t put_name(unsigned char *p, const char *name)
{
	size_t o = 0;

	if (strcmp(name, ".") == 0) {
		p[0] = 0;
		return 1;
	}
	while (*name != '\0') {
		size_t l = strcspn(name, ".");

		p[o++] = (unsigned char)l;
		memcpy(p + o, name, l);
		o += l;
		name += l;
		if (*name == '.')
			name++;
	}
	p[o++] = 0;
	return o;
}

static void put16(unsigned char *p, int v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void dns_answer(unsigned char *q, size_t n, struct sockaddr_storage *from,
		       socklen_t fromlen)
{
	unsigned char r[1500];
	char name[256];
	size_t qend = q_name(q, n, name, sizeof(name)), o;
	int qtype, an = 0;
	bool known = false;

	if (qend == 0)
		return;
	/* names under slow.test are never answered: the deadline test */
	size_t nl = strlen(name);

	if (nl >= 9 && strcmp(name + nl - 9, "slow.test") == 0)
		return;
	qtype = (q[qend - 4] << 8) | q[qend - 3];
	memcpy(r, q, qend);
	o = qend;
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		const struct rec *rc = &recs[i];
		size_t rdstart;

		if (strcmp(rc->name, name) != 0)
			continue;
		known = true;
		if (rc->type != qtype)
			continue;
		r[o++] = 0xc0;
		r[o++] = 0x0c;
		put16(r + o, rc->type);
		put16(r + o + 2, 1);
		memset(r + o + 4, 0, 4);
		r[o + 7] = 60;
		o += 10;
		rdstart = o;
		put16(r + o, rc->prio);
		o += 2;
		if (rc->type == T_SRV) {
			put16(r + o, rc->weight);
			put16(r + o + 2, rc->port);
			o += 4;
		}
		o += put_name(r + o, rc->target);
		put16(r + rdstart - 2, (int)(o - rdstart));
		an++;
	}
	r[2] = 0x84 | (q[2] & 0x01); /* QR, AA, RD as asked */
	r[3] = 0x80 | (known ? 0 : 3);
	put16(r + 4, 1);
	put16(r + 6, an);
	put16(r + 8, 0);
	put16(r + 10, 0);
	(void)sendto(dns.fd, r, o, 0, (struct sockaddr *)from, fromlen);
}

static void *dns_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&dns.stop)) {
		struct pollfd pfd = { .fd = dns.fd, .events = POLLIN };
		unsigned char q[1500];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recvfrom(dns.fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
		if (n > 0)
			dns_answer(q, (size_t)n, &from, fromlen);
	}
	return NULL;
}

static int group_setup(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct mf_error e = { 0 };

	(void)state;
	dns.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (dns.fd < 0 || bind(dns.fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(dns.fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	snprintf(dns.addr, sizeof(dns.addr), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
	if (net_set_dns_server(dns.addr, &e) < 0)
		return -1;
	return pthread_create(&dns.thread, NULL, dns_main, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	atomic_store(&dns.stop, true);
	pthread_join(dns.thread, NULL);
	close(dns.fd);
	return 0;
}

static void run(const char *email, enum ad_protocol p, bool allow, bool verify,
		struct ad_result *res)
{
	struct ad_opts o = {
		.email = email,
		.protocol = p,
		.allow_untrusted = allow,
		.verify = verify,
		.request_timeout_ms = 2000,
		.deadline_ms = 10000,
		.trace = getenv("AD_TEST_TRACE") != NULL ? stderr : NULL,
	};
	struct mf_error e = { 0 };

	assert_int_equal(autodiscover_run(&o, res, &e), 0);
}

static const struct ad_source_report *source(const struct ad_result *r, const char *name)
{
	for (size_t i = 0; i < r->nsources; i++) {
		if (strcmp(r->sources[i].source, name) == 0)
			return &r->sources[i];
	}
	fail_msg("no source %s", name);
	return NULL;
}

static void test_srv(void **state)
{
	struct ad_result r;
	const struct ad_candidate *c;

	(void)state;
	run("alice@SRV.test", AD_PROTO_ANY, false, false, &r);
	assert_string_equal(r.email, "alice@srv.test");
	assert_int_equal(r.nsources, AD_SRC_COUNT);
	assert_int_equal(r.ncands, 2);
	assert_int_equal(r.chosen, 0);
	c = &r.cands[0];
	assert_string_equal(c->source, "srv");
	assert_string_equal(c->origin, "SRV _imaps._tcp.srv.test");
	assert_string_equal(c->server, "mail.srv.test");
	assert_int_equal(c->port, 993);
	assert_string_equal(c->security, "tls");
	assert_int_equal(c->trust, AD_TRUST_SRV);
	assert_false(c->needs_confirmation);
	assert_false(c->verified);
	assert_string_equal(c->verify_detail, "not checked (live checks are off)");
	assert_string_equal(r.cands[1].security, "starttls");
	assert_int_equal(r.cands[1].port, 143);
	assert_string_equal(source(&r, "srv")->outcome, "found");
	assert_string_equal(source(&r, "srv")->reason,
			    "found imap mail.srv.test:993 tls, imap mail.srv.test:143 starttls");
	assert_string_equal(source(&r, "guess")->outcome, "skipped");
	assert_string_equal(source(&r, "pox")->outcome, "nothing");
	assert_non_null(strstr(source(&r, "pox")->reason,
			       "https://srv.test/autodiscover/autodiscover.xml -> "));
	assert_non_null(strstr(source(&r, "pox")->reason,
			       "SRV _autodiscover._tcp.srv.test -> no records"));
	assert_string_equal(source(&r, "mx")->reason, "no MX records for srv.test");
	assert_int_equal(autodiscover_exit_code(&r), 0);
	autodiscover_result_free(&r);
}

static void test_srv_outside_domain(void **state)
{
	struct ad_result r;

	(void)state;
	run("alice@srvout.test", AD_PROTO_IMAP, false, false, &r);
	assert_int_equal(r.ncands, 1);
	assert_int_equal(r.chosen, -1);
	assert_true(r.cands[0].needs_confirmation);
	assert_string_equal(r.cands[0].warning,
			    "SRV target imap.elsewhere.test is outside srvout.test: use "
			    "--allow-untrusted-candidates to accept it");
	assert_int_equal(autodiscover_exit_code(&r), AD_EXIT_NEEDS_CONFIRMATION);
	autodiscover_result_free(&r);

	run("alice@srvout.test", AD_PROTO_IMAP, true, false, &r);
	assert_int_equal(r.chosen, 0);
	assert_string_equal(r.cands[0].server, "imap.elsewhere.test");
	autodiscover_result_free(&r);
}

static void test_srv_not_offered(void **state)
{
	struct ad_result r;

	(void)state;
	run("alice@srvdot.test", AD_PROTO_IMAP, false, false, &r);
	assert_int_equal(r.ncands, 0);
	assert_string_equal(source(&r, "srv")->outcome, "nothing");
	assert_string_equal(source(&r, "srv")->reason,
			    "_imaps._tcp and _imap._tcp: not offered (target \".\")");
	assert_string_equal(source(&r, "autodiscover-v2")->outcome, "skipped");
	assert_int_equal(autodiscover_exit_code(&r), AD_EXIT_NOT_FOUND);
	autodiscover_result_free(&r);
}

static void test_mx_provider(void **state)
{
	struct ad_result r;
	const struct ad_candidate *c;

	(void)state;
	run("alice@gmail.test", AD_PROTO_ANY, false, false, &r);
	assert_int_equal(r.ncands, 1);
	c = &r.cands[0];
	assert_string_equal(c->source, "mx");
	assert_string_equal(c->origin, "MX gmail.test -> aspmx.l.google.com (Google)");
	assert_string_equal(c->server, "imap.gmail.com");
	assert_int_equal(c->port, 993);
	assert_string_equal(c->username_hint, "alice@gmail.test");
	assert_true(c->needs_confirmation);
	assert_string_equal(c->warning, "MX-derived server imap.gmail.com is outside gmail.test: "
					"use --allow-untrusted-candidates to accept it");
	assert_int_equal(r.chosen, -1);
	assert_int_equal(autodiscover_exit_code(&r), AD_EXIT_NEEDS_CONFIRMATION);
	autodiscover_result_free(&r);
}

static void test_mx_exchange(void **state)
{
	struct ad_result r;
	const struct ad_candidate *c;

	(void)state;
	run("alice@m365.test", AD_PROTO_EXCHANGE, true, false, &r);
	assert_int_equal(r.ncands, 1);
	c = &r.cands[0];
	assert_string_equal(c->protocol, "exchange");
	assert_string_equal(c->ews_url, "https://outlook.office365.com/EWS/Exchange.asmx");
	assert_string_equal(c->exchange_server, "outlook.office365.com");
	assert_true(c->needs_confirmation);
	assert_int_equal(r.chosen, 0);
	assert_string_equal(source(&r, "srv")->outcome, "skipped");
	assert_string_equal(source(&r, "srv")->reason,
			    "--protocol exchange: this source only finds IMAP servers");
	assert_string_equal(source(&r, "autoconfig")->outcome, "skipped");
	assert_string_equal(source(&r, "guess")->outcome, "skipped");
	autodiscover_result_free(&r);

	/* any: both the IMAP and the EWS settings of the provider */
	run("alice@m365.test", AD_PROTO_ANY, true, false, &r);
	assert_int_equal(r.ncands, 2);
	assert_string_equal(r.cands[r.chosen].protocol, "exchange");
	autodiscover_result_free(&r);
}

static void test_mx_own_domain(void **state)
{
	struct ad_result r;

	(void)state;
	run("alice@ownmx.test", AD_PROTO_IMAP, false, false, &r);
	assert_string_equal(source(&r, "mx")->reason,
			    "MX host mx.ownmx.test is in ownmx.test itself: its autoconfig is "
			    "the autoconfig source's");
	autodiscover_result_free(&r);
}

static void test_pox_srv_outside_refused(void **state)
{
	struct ad_result r;

	(void)state;
	run("alice@adsrvout.test", AD_PROTO_EXCHANGE, false, false, &r);
	assert_string_equal(source(&r, "pox")->outcome, "refused");
	assert_non_null(strstr(source(&r, "pox")->reason,
			       "SRV _autodiscover._tcp.adsrvout.test target autodiscover.evil.test "
			       "leads outside adsrvout.test: not followed without "
			       "--allow-untrusted-candidates"));
	autodiscover_result_free(&r);

	/* allowed: it is asked (and here does not resolve) */
	run("alice@adsrvout.test", AD_PROTO_EXCHANGE, true, false, &r);
	assert_string_equal(source(&r, "pox")->outcome, "nothing");
	assert_non_null(strstr(source(&r, "pox")->reason,
			       "https://autodiscover.evil.test/autodiscover/autodiscover.xml -> "));
	autodiscover_result_free(&r);
}

static void test_nothing(void **state)
{
	struct ad_result r;
	char *t;

	(void)state;
	/* live checks on: the guess runs (and finds no host) */
	run("alice@nothing.test", AD_PROTO_ANY, false, true, &r);
	assert_int_equal(r.ncands, 0);
	assert_int_equal(r.chosen, -1);
	for (size_t i = 0; i < r.nsources; i++)
		assert_string_equal(r.sources[i].outcome, "nothing");
	assert_non_null(strstr(source(&r, "guess")->reason, "imap.nothing.test:993 -> "));
	assert_null(strstr(source(&r, "guess")->reason, "imap.nothing.test:143"));
	assert_int_equal(autodiscover_exit_code(&r), AD_EXIT_NOT_FOUND);
	t = autodiscover_failure_text(&r);
	assert_ptr_equal(strstr(t, "The Autodiscover service couldn't be located for "
				   "alice@nothing.test.\npox: "),
			 t);
	assert_non_null(strstr(t, "\nautodiscover-v2: https://autodiscover.nothing.test/"));
	assert_non_null(strstr(t, "\nautoconfig: https://autoconfig.nothing.test/mail/"
				  "config-v1.1.xml?emailaddress=alice@nothing.test -> "));
	assert_non_null(strstr(t, "\nsrv: no _imaps._tcp or _imap._tcp records\n"));
	assert_non_null(strstr(t, "\nmx: no MX records for nothing.test\n"));
	assert_non_null(strstr(t, "\nguess: imap.nothing.test:993 -> "));
	assert_non_null(strstr(t, "\nEnter the server by hand: mailferry endpoint new NAME "));
	assert_null(strstr(t, "Found but not used"));
	free(t);
	autodiscover_result_free(&r);
}

static void test_deadline(void **state)
{
	struct ad_opts o = {
		.email = "alice@slow.test",
		.request_timeout_ms = 10000,
		.deadline_ms = 1500,
		.verify = true,
	};
	struct ad_result r;
	struct mf_error e = { 0 };
	int64_t t0 = mf_now_ms();

	(void)state;
	assert_int_equal(autodiscover_run(&o, &r, &e), 0);
	assert_true(mf_now_ms() - t0 < 4000);
	assert_int_equal(r.chosen, -1);
	assert_string_equal(source(&r, "srv")->outcome, "error");
	autodiscover_result_free(&r);
}

static void test_bad_address(void **state)
{
	struct ad_opts o = { .email = "not-an-address", .verify = true };
	struct ad_result r;
	struct mf_error e = { 0 };

	(void)state;
	assert_int_equal(autodiscover_run(&o, &r, &e), MF_EINVAL);
	assert_string_equal(e.msg,
			    "'not-an-address' is not an e-mail address (expected USER@DOMAIN)");
	assert_int_equal(r.ncands, 0);
	assert_int_equal(r.chosen, -1);
	autodiscover_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_srv),
		cmocka_unit_test(test_srv_outside_domain),
		cmocka_unit_test(test_srv_not_offered),
		cmocka_unit_test(test_mx_provider),
		cmocka_unit_test(test_mx_exchange),
		cmocka_unit_test(test_mx_own_domain),
		cmocka_unit_test(test_pox_srv_outside_refused),
		cmocka_unit_test(test_nothing),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_bad_address),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
