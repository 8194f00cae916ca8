/* Unit tests for the autodiscover parts of src/cli: parsing of
 * `autodiscover EMAIL` and of `endpoint new --autodiscover` (also as
 * New-MigrationEndpoint -Autodiscover), and whole runs in-process against
 * a scripted DNS server on 127.0.0.1 that knows a few MX records and
 * answers NXDOMAIN for everything else (so every https URL fails at once,
 * and nothing leaves the host). tests/e2e has the HTTPS and IMAP servers. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <jansson.h>

#include "test_cli_common.h"

#define ENTER_BY_HAND "Enter the server by hand: mailferry endpoint new NAME --type "

/* ---- a scripted DNS server ------------------------------------------------- */

#define T_MX 15

struct mx_rec {
	const char *name;
	int pref;
	const char *target;
};

static const struct mx_rec mx_recs[] = {
	{ "m365.test", 0, "m365-test.mail.protection.outlook.com" },
};

static struct {
	int fd;
	atomic_bool stop;
	atomic_int queries;
	pthread_t thread;
	char addr[32];
} dns;

static char dns_opt[48];

/* The question's name, lower case; the offset after the question, or 0. */
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
	return i + 5 <= n ? i + 5 : 0;
}

static size_t put_name(unsigned char *p, const char *name)
{
	size_t o = 0;

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

static void dns_answer(const unsigned char *q, size_t n, struct sockaddr_storage *from,
		       socklen_t fromlen)
{
	unsigned char r[1500];
	char name[256];
	size_t qend = q_name(q, n, name, sizeof(name)), o;
	int qtype, an = 0;
	bool known = false;

	if (qend == 0)
		return;
	atomic_fetch_add(&dns.queries, 1);
	qtype = (q[qend - 4] << 8) | q[qend - 3];
	memcpy(r, q, qend);
	o = qend;
	for (size_t i = 0; i < sizeof(mx_recs) / sizeof(mx_recs[0]); i++) {
		size_t rdstart;

		if (strcmp(mx_recs[i].name, name) != 0)
			continue;
		known = true;
		if (qtype != T_MX)
			continue;
		r[o++] = 0xc0;
		r[o++] = 0x0c;
		put16(r + o, T_MX);
		put16(r + o + 2, 1);
		memset(r + o + 4, 0, 4);
		r[o + 7] = 60;
		o += 10;
		rdstart = o;
		put16(r + o, mx_recs[i].pref);
		o += 2;
		o += put_name(r + o, mx_recs[i].target);
		put16(r + rdstart - 2, (int)(o - rdstart));
		an++;
	}
	r[2] = 0x84 | (q[2] & 0x01);
	r[3] = 0x80 | (known ? 0 : 3); /* NOERROR or NXDOMAIN */
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

/* The last line of s (without its newline) starts with prefix. */
static void assert_last_line(const char *s, const char *prefix)
{
	size_t n = strlen(s);
	const char *line;

	while (n > 0 && s[n - 1] == '\n')
		n--;
	line = s + n;
	while (line > s && line[-1] != '\n')
		line--;
	if (strncmp(line, prefix, strlen(prefix)) != 0)
		fail_msg("last line does not start with '%s':\n%s", prefix, s);
}

static int group_setup(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	(void)state;
	if (cli_tmp_setup("mf-test-cliad") != 0)
		return -1;
	dns.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (dns.fd < 0 || bind(dns.fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(dns.fd, (struct sockaddr *)&sin, &len) != 0)
		return -1;
	snprintf(dns.addr, sizeof(dns.addr), "127.0.0.1:%u", (unsigned)ntohs(sin.sin_port));
	snprintf(dns_opt, sizeof(dns_opt), "--dns-server=%s", dns.addr);
	cli_extra_opt = dns_opt;
	return pthread_create(&dns.thread, NULL, dns_main, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	atomic_store(&dns.stop, true);
	pthread_join(dns.thread, NULL);
	close(dns.fd);
	return cli_tmp_teardown();
}

/* ---- parsing ---------------------------------------------------------------- */

static void expect_usage(int rc, const struct mf_error *err, const char *msg_part)
{
	assert_int_equal(rc, CLI_EXIT_USAGE);
	if (strstr(err->msg, msg_part) == NULL)
		fail_msg("message '%s' lacks '%s'", err->msg, msg_part);
}

static void test_parse_command(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "autodiscover", "alice@example.test", "--protocol", "imap",
			       "--admin-user", "admin", "--password-file", "/pw",
			       "--allow-untrusted-candidates", "--timeout=3", "--json", "--trace",
			       "--dns-server", "127.0.0.1:5353"),
			 0);
	assert_int_equal(o.cmd, CLI_CMD_AUTODISCOVER);
	assert_string_equal(o.name, "alice@example.test");
	assert_string_equal(o.protocol, "imap");
	assert_string_equal(o.set.admin_user, "admin");
	assert_string_equal(o.password_file, "/pw");
	assert_true(o.allow_untrusted_cands);
	assert_int_equal(o.timeout_s, 3);
	assert_true(o.json && o.trace);
	assert_string_equal(o.dns_server, "127.0.0.1:5353");
	assert_string_equal(cli_cmd_label(&o), "autodiscover");
	cli_opts_free(&o);

	rc = PARSE(&o, &err, "autodiscover");
	expect_usage(rc, &err, "autodiscover needs an EMAIL address");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "autodiscover", "a@b.test", "c@d.test");
	expect_usage(rc, &err, "unexpected argument 'c@d.test'");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "autodiscover", "a@b.test", "--protocol", "pop3");
	expect_usage(rc, &err, "--protocol must be imap, exchange or any");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "autodiscover", "a@b.test", "--server", "h");
	expect_usage(rc, &err, "option '--server' is not used by 'autodiscover'");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "autodiscover", "a@b.test", "--autodiscover");
	expect_usage(rc, &err, "option '--autodiscover' is not used by 'autodiscover'");
	cli_opts_free(&o);
	/* help wins */
	assert_int_equal(PARSE(&o, &err, "autodiscover", "--help"), 0);
	assert_true(o.help);
	assert_int_equal(o.cmd, CLI_CMD_AUTODISCOVER);
	cli_opts_free(&o);
}

static void test_parse_endpoint_option(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "endpoint", "new", "src", "--type", "imap",
			       "--autodiscover", "--email-address", "alice@example.test",
			       "--allow-untrusted-candidates", "--port", "143"),
			 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_NEW);
	assert_true(o.autodiscover);
	assert_true(o.allow_untrusted_cands);
	assert_string_equal(o.set.email_address, "alice@example.test");
	assert_int_equal(o.set.port, 143);
	assert_null(o.set.server);
	cli_opts_free(&o);

	/* without --type: the discovery chooses it */
	assert_int_equal(PARSE(&o, &err, "endpoint", "new", "src", "--autodiscover",
			       "--email-address=alice@example.test", "--protocol", "exchange"),
			 0);
	assert_null(o.set.type);
	assert_string_equal(o.protocol, "exchange");
	cli_opts_free(&o);

	rc = PARSE(&o, &err, "endpoint", "new", "src", "--type", "imap", "--autodiscover");
	expect_usage(rc, &err, "--autodiscover needs --email-address EMAIL");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "endpoint", "new", "src", "--autodiscover", "--email-address=");
	expect_usage(rc, &err, "--autodiscover needs --email-address EMAIL");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "endpoint", "new", "src", "--type", "exchange-remote",
		   "--autodiscover", "--email-address", "a@b.test", "--protocol", "imap");
	expect_usage(rc, &err, "--protocol imap does not fit --type exchange-remote");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "endpoint", "new", "src", "--type", "imap", "--server", "h",
		   "--protocol", "imap");
	expect_usage(rc, &err, "--protocol is used only with --autodiscover");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "endpoint", "new", "src", "--type", "imap", "--server", "h",
		   "--allow-untrusted-candidates");
	expect_usage(rc, &err, "--allow-untrusted-candidates is used only with --autodiscover");
	cli_opts_free(&o);
	/* --type is still needed without --autodiscover */
	rc = PARSE(&o, &err, "endpoint", "new", "src", "--server", "h");
	expect_usage(rc, &err, "endpoint new needs --type");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "endpoint", "set", "src", "--autodiscover");
	expect_usage(rc, &err, "option '--autodiscover' is not used by 'endpoint set'");
	cli_opts_free(&o);
}

static void test_parse_cmdlet(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "New-MigrationEndpoint", "-IMAP", "-Name", "src",
			       "-autodiscover", "-EmailAddress", "alice@example.test",
			       "--allow-untrusted-candidates", "-Credentials", "admin",
			       "-PasswordStdin"),
			 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_NEW);
	assert_string_equal(o.name, "src");
	assert_string_equal(o.set.type, "imap");
	assert_true(o.autodiscover);
	assert_true(o.allow_untrusted_cands);
	assert_string_equal(o.set.email_address, "alice@example.test");
	assert_string_equal(o.set.admin_user, "admin");
	assert_true(o.password_stdin);
	cli_opts_free(&o);

	assert_int_equal(PARSE(&o, &err, "New-MigrationEndpoint", "-ExchangeRemoteMove", "-Name",
			       "ex", "-Autodiscover:$true", "-EmailAddress:a@b.test"),
			 0);
	assert_true(o.autodiscover);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "New-MigrationEndpoint", "-IMAP", "-Name", "x",
			       "-RemoteServer", "h.example.test", "-Autodiscover:$false"),
			 0);
	assert_false(o.autodiscover);
	cli_opts_free(&o);

	rc = PARSE(&o, &err, "New-MigrationEndpoint", "-IMAP", "-Name", "src", "-Autodiscover");
	expect_usage(rc, &err, "-Autodiscover needs -EmailAddress ADDRESS");
	cli_opts_free(&o);
	/* "-Au" could be -Authentication or -Autodiscover */
	rc = PARSE(&o, &err, "New-MigrationEndpoint", "-IMAP", "-Name", "src", "-Au");
	expect_usage(rc, &err, "ambiguous");
	cli_opts_free(&o);
	/* only New- takes it */
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "src", "-Autodiscover");
	expect_usage(rc, &err,
		     "A parameter cannot be found that matches parameter name "
		     "'Autodiscover'.");
	cli_opts_free(&o);
}

/* ---- whole runs --------------------------------------------------------- */

static void test_run_nothing(void **state)
{
	struct run r;
	json_t *j;

	(void)state;
	r = run_cli(NULL, "autodiscover", "user@nothing.test", NULL);
	assert_int_equal(r.rc, 30);
	assert_contains(r.out, "EmailAddress : user@nothing.test\nResult       : NotFound\n");
	assert_contains(r.out, "No candidates.");
	assert_contains(r.err, "The Autodiscover service couldn't be located for "
			       "user@nothing.test.\n");
	assert_contains(r.err, "\nmx: no MX records for nothing.test\n");
	assert_last_line(r.err, ENTER_BY_HAND "imap --server HOST");
	assert_contains(r.err, "--server");
	run_free(&r);

	r = run_cli(NULL, "autodiscover", "user@nothing.test", "--json", "--protocol", "exchange",
		    "--timeout", "2", NULL);
	assert_int_equal(r.rc, 30);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Result")), "NotFound");
	assert_int_equal(json_integer_value(json_object_get(j, "ExitCode")), 30);
	assert_true(json_is_null(json_object_get(j, "Chosen")));
	assert_int_equal(json_array_size(json_object_get(j, "Sources")), 6);
	assert_non_null(strstr(json_string_value(json_object_get(j, "Message")),
			       ENTER_BY_HAND "exchange-remote --server HOST"));
	json_decref(j);
	assert_last_line(r.err, ENTER_BY_HAND "exchange-remote --server HOST");
	run_free(&r);

	/* endpoint new: exit 30, nothing stored; also as a cmdlet */
	r = run_cli(NULL, "endpoint", "new", "src", "--type", "imap", "--autodiscover",
		    "--email-address", "user@nothing.test", NULL);
	assert_int_equal(r.rc, 30);
	assert_contains(r.err, "mailferry: no usable server settings found for "
			       "user@nothing.test; nothing was stored\n");
	assert_last_line(r.err, ENTER_BY_HAND "imap --server HOST");
	run_free(&r);
	r = run_cli(NULL, "New-MigrationEndpoint", "-IMAP", "-Name", "src", "-Autodiscover",
		    "-EmailAddress", "user@nothing.test", "-Json", NULL);
	assert_int_equal(r.rc, 30);
	assert_contains(r.out, "\"Result\": \"NotFound\"");
	assert_last_line(r.err, ENTER_BY_HAND "imap --server HOST");
	run_free(&r);
	r = run_cli(NULL, "endpoint", "list", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "No endpoints.\n");
	run_free(&r);
}

static void test_run_usage(void **state)
{
	struct run r;
	int before;

	(void)state;
	r = run_cli(NULL, "autodiscover", "not-an-address", NULL);
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.err,
			    "mailferry: 'not-an-address' is not an e-mail address "
			    "(expected USER@DOMAIN)\n(see 'mailferry autodiscover --help')\n");
	run_free(&r);

	r = run_cli(NULL, "endpoint", "new", "src", "--type", "imap", "--autodiscover", NULL);
	assert_int_equal(r.rc, 2);
	assert_contains(r.err, "--autodiscover needs --email-address EMAIL");
	run_free(&r);

	/* a bad setting on the line is refused before any lookup */
	before = atomic_load(&dns.queries);
	r = run_cli(NULL, "endpoint", "new", "src", "--type", "imap", "--autodiscover",
		    "--email-address", "user@nothing.test", "--security", "bogus", NULL);
	assert_int_equal(r.rc, 2);
	assert_contains(r.err, "--security must be");
	run_free(&r);
	r = run_cli(NULL, "endpoint", "new", "bad name", "--autodiscover", "--email-address",
		    "user@nothing.test", NULL);
	assert_int_equal(r.rc, 2);
	run_free(&r);
	assert_int_equal(atomic_load(&dns.queries), before);

	r = run_cli(NULL, "endpoint", "new", "src", "--type", "imap", "--autodiscover",
		    "--email-address", "nobody", NULL);
	assert_int_equal(r.rc, 2);
	assert_contains(r.err, "'nobody' is not an e-mail address (expected USER@DOMAIN)");
	run_free(&r);
}

/* The provider table: m365.test's MX is Microsoft 365, outside the domain,
 * so its settings need confirmation (31) until the flag is given. */
static void test_run_found_needs_confirmation(void **state)
{
	struct run r;
	json_t *j;

	(void)state;
	r = run_cli(NULL, "autodiscover", "alice@m365.test", "--protocol", "exchange", NULL);
	assert_int_equal(r.rc, 31);
	assert_contains(r.out, "[needs confirmation]");
	assert_contains(r.err, "rerun with --allow-untrusted-candidates");
	assert_last_line(r.err, ENTER_BY_HAND "exchange-remote --server HOST");
	run_free(&r);

	r = run_cli(NULL, "autodiscover", "alice@m365.test", "--protocol", "exchange",
		    "--allow-untrusted-candidates", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "Result            : Found\n");
	assert_contains(r.out, "EwsUrl            : https://outlook.office365.com/EWS/"
			       "Exchange.asmx\n");
	assert_contains(r.out, "\nCandidates (best first):\n  1. exchange https://outlook."
			       "office365.com/EWS/Exchange.asmx  [chosen]  [needs confirmation]\n");
	assert_contains(r.out, "\nSources:\nSource ");
	assert_contains(r.out, "To store these settings: mailferry endpoint new NAME --type "
			       "exchange-remote --autodiscover --email-address alice@m365.test "
			       "--allow-untrusted-candidates\n");
	assert_string_equal(r.err, "");
	run_free(&r);

	r = run_cli(NULL, "endpoint", "new", "ex", "--type", "exchange-remote", "--autodiscover",
		    "--email-address", "alice@m365.test", "--skip-verification", NULL);
	assert_int_equal(r.rc, 31);
	assert_contains(r.err, "only candidates that need --allow-untrusted-candidates");
	run_free(&r);

	r = run_cli(NULL, "endpoint", "new", "ex", "--type", "exchange-remote", "--autodiscover",
		    "--email-address", "alice@m365.test", "--allow-untrusted-candidates", "--auth",
		    "ntlm", "--skip-verification", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "Autodiscover for alice@m365.test: exchange https://outlook."
			       "office365.com/EWS/Exchange.asmx, from mx (");
	assert_contains(r.out, "  filled: --server outlook.office365.com, --exchange-server "
			       "outlook.office365.com\n");
	assert_contains(r.out, "Server                        : outlook.office365.com\n");
	/* given on the line: it wins */
	assert_contains(r.out, "Authentication                : ntlm\n");
	run_free(&r);

	r = run_cli(NULL, "Get-MigrationEndpoint", "ex", "-Json", NULL);
	assert_int_equal(r.rc, 0);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Server")),
			    "outlook.office365.com");
	assert_string_equal(json_string_value(json_object_get(j, "EmailAddress")),
			    "alice@m365.test");
	json_decref(j);
	run_free(&r);

	/* without --type, and with --json: the discovery in the output */
	r = run_cli(NULL, "endpoint", "new", "ex2", "--autodiscover", "--email-address",
		    "alice@m365.test", "--protocol", "exchange", "--allow-untrusted-candidates",
		    "--skip-verification", "--json", NULL);
	assert_int_equal(r.rc, 0);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Type")), "exchange-remote");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "Autodiscover"), "Result")),
	    "Found");
	json_decref(j);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_command),
	    cmocka_unit_test(test_parse_endpoint_option),
	    cmocka_unit_test(test_parse_cmdlet),
	    cmocka_unit_test(test_run_nothing),
	    cmocka_unit_test(test_run_usage),
	    cmocka_unit_test(test_run_found_needs_confirmation),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
