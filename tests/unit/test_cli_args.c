/* Unit tests for src/cli: noun-verb parsing, cmdlet translation, password
 * sources. */
#include <fcntl.h>
#include <pthread.h>
#include <termios.h>
#include <time.h>

#include "cli/cli-password.h"
#include "test_cli_common.h"

/* ---- noun-verb ------------------------------------------------------------ */

static void test_both_option_forms(void **state)
{
	struct cli_opts o;
	struct mf_error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "endpoint", "new", "src", "--type", "imap",
			       "--server=mail.example.com", "--port", "1993", "--timeout=5",
			       "--accept-untrusted-certificates"), 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_NEW);
	assert_string_equal(o.name, "src");
	assert_string_equal(o.set.type, "imap");
	assert_string_equal(o.set.server, "mail.example.com");
	assert_int_equal(o.set.port, 1993);
	assert_int_equal(o.timeout_s, 5);
	assert_int_equal(o.set.accept_untrusted, 1);
	assert_null(o.set.security);
	assert_int_equal(o.set.max_migrations, 0);
	cli_opts_free(&o);
}

static void test_globals_anywhere(void **state)
{
	struct cli_opts o;
	struct mf_error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "--json", "endpoint", "--data-dir", "/d", "list",
			       "-vv", "--trace", "--dns-server=127.0.0.1:5353"), 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_LIST);
	assert_true(o.json);
	assert_true(o.trace);
	assert_string_equal(o.data_dir, "/d");
	assert_string_equal(o.dns_server, "127.0.0.1:5353");
	assert_int_equal(o.verbose, 2);
	cli_opts_free(&o);

	assert_int_equal(PARSE(&o, &err, "endpoint", "show", "x", "--verbose", "--data-dir=/e"),
			 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_SHOW);
	assert_string_equal(o.name, "x");
	assert_string_equal(o.data_dir, "/e");
	assert_int_equal(o.verbose, 1);
	cli_opts_free(&o);
}

static void expect_usage(struct cli_opts *o, struct mf_error *err, int rc, const char *msg_part,
			 const char *hint)
{
	char h[160];

	assert_int_equal(rc, CLI_EXIT_USAGE);
	if (strstr(err->msg, msg_part) == NULL)
		fail_msg("message '%s' lacks '%s'", err->msg, msg_part);
	if (hint != NULL) {
		cli_usage_hint(o, h, sizeof(h));
		assert_string_equal(h, hint);
	}
	cli_opts_free(o);
}

static void test_usage_errors(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap", "--frobnicate");
	expect_usage(&o, &err, rc, "unknown option '--frobnicate'",
		     "see 'mailferry endpoint new --help'");
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type");
	expect_usage(&o, &err, rc, "option '--type' needs a value", NULL);
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap", "--port", "12ab");
	expect_usage(&o, &err, rc, "--port: '12ab' is not a number", NULL);
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap", "--port", "70000");
	expect_usage(&o, &err, rc, "--port must be 1-65535", NULL);
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap", "--port", " 5");
	expect_usage(&o, &err, rc, "not a number", NULL);
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap",
		   "--max-concurrent-migrations", "99999999999999999999");
	expect_usage(&o, &err, rc, "must be 1-1000", NULL);
	rc = PARSE(&o, &err, "endpoint", "list", "--json=yes");
	expect_usage(&o, &err, rc, "does not take a value", NULL);
	rc = PARSE(&o, &err, "endpoint", "list", "--server", "h");
	expect_usage(&o, &err, rc, "'--server' is not used by 'endpoint list'",
		     "see 'mailferry endpoint list --help'");
	rc = PARSE(&o, &err, "endpoint", "frob");
	expect_usage(&o, &err, rc, "unknown command 'endpoint frob'", "see 'mailferry help'");
	rc = PARSE(&o, &err, "mailboxes");
	expect_usage(&o, &err, rc, "unknown command 'mailboxes'", NULL);
	rc = PARSE(&o, &err, "endpoint");
	expect_usage(&o, &err, rc, "needs a verb", NULL);
	rc = PARSE(&o, &err, "--json");
	expect_usage(&o, &err, rc, "no command given", NULL);
	rc = PARSE(&o, &err, "endpoint", "show");
	expect_usage(&o, &err, rc, "endpoint show needs a NAME", NULL);
	rc = PARSE(&o, &err, "endpoint", "show", "a", "b");
	expect_usage(&o, &err, rc, "unexpected argument 'b'", NULL);
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--server", "h");
	expect_usage(&o, &err, rc, "needs --type", NULL);
	rc = PARSE(&o, &err, "endpoint", "set", "x", "--type", "imap");
	expect_usage(&o, &err, rc, "the type of an endpoint cannot be changed; remove it and "
		     "create a new one", "see 'mailferry endpoint set --help'");
	rc = PARSE(&o, &err, "endpoint", "test", "x", "--server", "h");
	expect_usage(&o, &err, rc, "cannot be combined with an endpoint name", NULL);
	rc = PARSE(&o, &err, "endpoint", "test");
	expect_usage(&o, &err, rc, "needs an endpoint NAME, or --server", NULL);
	rc = PARSE(&o, &err, "endpoint", "set", "x", "--password-stdin", "--password-file", "f");
	expect_usage(&o, &err, rc, "only one of", NULL);
	rc = PARSE(&o, &err, "endpoint", "new", "x", "-x");
	expect_usage(&o, &err, rc, "unknown option '-x'", NULL);
}

static void test_argv_password_refused(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap", "--password", "hunter2");
	expect_usage(&o, &err, rc, "--password-stdin", "see 'mailferry endpoint new --help'");
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap", "--password=hunter2");
	expect_usage(&o, &err, rc, "not accepted on the command line", NULL);
	rc = PARSE(&o, &err, "New-MigrationEndpoint", "-IMAP", "-Name", "x", "-Password", "p");
	expect_usage(&o, &err, rc, "-PasswordStdin", NULL);
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-password:p");
	expect_usage(&o, &err, rc, "not accepted on the command line", NULL);
	/* the message never repeats the password */
	rc = PARSE(&o, &err, "endpoint", "new", "x", "--password=hunter2");
	assert_null(strstr(err.msg, "hunter2"));
	cli_opts_free(&o);
}

static void test_help_wins(void **state)
{
	struct cli_opts o;
	struct mf_error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "endpoint", "new", "--frob", "--help"), 0);
	assert_true(o.help);
	assert_int_equal(o.cmd, CLI_CMD_EP_NEW);
	assert_string_equal(cli_cmd_label(&o), "endpoint new");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "-h", "endpoint"), 0);
	assert_true(o.help);
	assert_int_equal(o.topic_count, 1);
	assert_string_equal(o.topic[0], "endpoint");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "help", "endpoint", "test"), 0);
	assert_int_equal(o.cmd, CLI_CMD_HELP);
	assert_int_equal(o.topic_count, 2);
	assert_string_equal(o.topic[1], "test");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "--version"), 0);
	assert_int_equal(o.cmd, CLI_CMD_VERSION);
	cli_opts_free(&o);
}

static void test_double_dash(void **state)
{
	struct cli_opts o;
	struct mf_error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "endpoint", "show", "--", "--odd"), 0);
	assert_string_equal(o.name, "--odd");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "endpoint", "set", "x", "--admin-user", ""), 0);
	assert_string_equal(o.set.admin_user, "");
	assert_true(o.any_setting);
	cli_opts_free(&o);
}

/* ---- cmdlets ---------------------------------------------------------------- */

static void assert_xargv(const struct cli_opts *o, const char *expect)
{
	char got[1024] = "";
	size_t len = 0;

	for (int i = 0; i < o->xargc; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", i ? " " : "",
					o->xargv[i]);
	assert_string_equal(got, expect);
}

static void test_cmdlet_new(void **state)
{
	struct cli_opts o;
	struct mf_error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "new-migrationENDPOINT", "-imap", "-NAME", "src",
			       "-remoteserver", "mail.example.com", "-Port:1993", "-security", "ssl",
			       "-authentication", "LOGIN", "-credentials", "admin",
			       "-PasswordStdin", "-AcceptUntrustedCertificates:$true",
			       "-SkipVerification:$false", "-impersonationmethod", "masteruser",
			       "-MaxConcurrentMigrations", "5"), 0);
	assert_xargv(&o, "endpoint new --type=imap --server=mail.example.com --port=1993 "
		     "--security=tls --auth=login --admin-user=admin --password-stdin "
		     "--accept-untrusted-certificates --impersonation=master-user "
		     "--max-concurrent-migrations=5 -- src");
	assert_int_equal(o.cmd, CLI_CMD_EP_NEW);
	assert_string_equal(o.cmdlet, "New-MigrationEndpoint");
	assert_string_equal(o.name, "src");
	assert_string_equal(o.set.type, "imap");
	assert_string_equal(o.set.security, "tls");
	assert_string_equal(o.set.auth, "login");
	assert_int_equal(o.set.port, 1993);
	assert_int_equal(o.set.accept_untrusted, 1);
	assert_false(o.skip_verification);
	assert_true(o.password_stdin);
	assert_int_equal(o.set.max_migrations, 5);
	cli_opts_free(&o);
}

static void test_cmdlet_security_mapping(void **state)
{
	static const char *const ps[] = { "None", "SSL", "tls" };
	static const char *const ours[] = { "none", "tls", "starttls" };
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	for (int i = 0; i < 3; i++) {
		char *sec = xstrdup(ps[i]);

		assert_int_equal(PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-Security", sec),
				 0);
		assert_string_equal(o.set.security, ours[i]);
		cli_opts_free(&o);
		free(sec);
	}
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-Security", "Starttls");
	expect_usage(&o, &err, rc, "Cannot validate argument on parameter 'Security'. The "
		     "argument \"Starttls\" does not belong to the set \"None,Ssl,Tls\".", NULL);
}

static void test_cmdlet_switches(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "Set-MigrationEndpoint", "-Identity", "x",
			       "-AcceptUntrustedCertificates:$false", "-SkipVerification"), 0);
	assert_int_equal(o.set.accept_untrusted, 0);
	assert_true(o.skip_verification);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Set-MigrationEndpoint", "x",
			       "-acceptuntrustedcertificates", "-skipverification:$FALSE"), 0);
	assert_int_equal(o.set.accept_untrusted, 1);
	assert_false(o.skip_verification);
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-SkipVerification:maybe");
	expect_usage(&o, &err, rc, "switch parameter 'SkipVerification'", NULL);
}

static void test_cmdlet_identity(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "Get-MigrationEndpoint"), 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_LIST);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "get-migrationendpoint", "src", "-json"), 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_SHOW);
	assert_string_equal(o.name, "src");
	assert_true(o.json);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "--data-dir", "/d", "Remove-MigrationEndpoint", "src",
			       "-Confirm:$false"), 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_REMOVE);
	assert_string_equal(o.name, "src");
	assert_string_equal(o.data_dir, "/d");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Test-MigrationServerAvailability", "-Endpoint", "src",
			       "-TestMailbox", "alice"), 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_TEST);
	assert_string_equal(o.name, "src");
	assert_string_equal(o.test_mailbox, "alice");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Test-MigrationServerAvailability", "-IMAP",
			       "-RemoteServer", "h", "-Port", "143", "-Security", "None"), 0);
	assert_int_equal(o.cmd, CLI_CMD_EP_TEST);
	assert_null(o.name);
	assert_string_equal(o.set.server, "h");
	assert_string_equal(o.set.security, "none");
	cli_opts_free(&o);
	rc = PARSE(&o, &err, "Remove-MigrationEndpoint", "a", "b");
	expect_usage(&o, &err, rc, "A positional parameter cannot be found that accepts "
		     "argument 'b'.", "see 'mailferry Remove-MigrationEndpoint -Help'");
}

static void test_cmdlet_errors(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	int rc;

	(void)state;
	rc = PARSE(&o, &err, "New-MigrationEndpoint", "-IMAP", "-Name", "x", "-Foo", "1");
	expect_usage(&o, &err, rc, "A parameter cannot be found that matches parameter name "
		     "'Foo'.", "see 'mailferry New-MigrationEndpoint -Help'");
	rc = PARSE(&o, &err, "Get-MigrationEndpoint", "-RemoteServer", "h");
	expect_usage(&o, &err, rc, "parameter name 'RemoteServer'", NULL);
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-Port");
	expect_usage(&o, &err, rc, "Missing an argument for parameter 'Port'.", NULL);
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-Port", "-SkipVerification");
	expect_usage(&o, &err, rc, "Missing an argument for parameter 'Port'.", NULL);
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-Max", "3");
	expect_usage(&o, &err, rc, "ambiguous", NULL);
	/* the noun-verb parser still checks numbers; the hint names the cmdlet */
	rc = PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-Port", "abc");
	expect_usage(&o, &err, rc, "'abc' is not a number",
		     "see 'mailferry Set-MigrationEndpoint -Help'");
	/* a unique prefix is enough */
	assert_int_equal(PARSE(&o, &err, "Set-MigrationEndpoint", "x", "-Remote", "h",
			       "-MaxConcurrentM", "4"), 0);
	assert_string_equal(o.set.server, "h");
	assert_int_equal(o.set.max_migrations, 4);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "New-MigrationEndpoint", "-?"), 0);
	assert_true(o.help);
	assert_string_equal(cli_cmd_label(&o), "New-MigrationEndpoint");
	cli_opts_free(&o);
}

/* ---- passwords -------------------------------------------------------------- */

static char *write_temp(const char *content)
{
	char *path = xstrdup("/tmp/mf-test-pw-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static void test_password_file(void **state)
{
	struct mf_error err;
	char *pw = NULL;
	char *path;

	(void)state;
	path = write_temp("s3cret\r\nsecond line\n");
	assert_int_equal(cli_password_read_file(path, &pw, &err), 0);
	assert_string_equal(pw, "s3cret");
	mf_secret_free(&pw);
	assert_null(pw);
	unlink(path);
	free(path);

	path = write_temp("no-newline");
	assert_int_equal(cli_password_read_file(path, &pw, &err), 0);
	assert_string_equal(pw, "no-newline");
	mf_secret_free(&pw);
	unlink(path);
	free(path);

	path = write_temp("\n");
	assert_int_equal(cli_password_read_file(path, &pw, &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "empty"));
	unlink(path);
	free(path);

	assert_int_equal(cli_password_read_file("/nonexistent/pw", &pw, &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "cannot read --password-file"));
}

static void test_password_stdin(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	char *pw = NULL;
	char rest[16] = "";
	int saved;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap",
			       "--password-stdin"), 0);
	saved = stdin_from("pw from stdin\r\nrest");
	assert_int_equal(cli_password_get(&o, "--admin-user", "admin", true, &pw, &err), 0);
	assert_string_equal(pw, "pw from stdin");
	mf_secret_free(&pw);
	/* nothing after the first line was read */
	assert_int_equal(read(0, rest, sizeof(rest) - 1), 4);
	assert_string_equal(rest, "rest");
	stdin_restore(saved);

	saved = stdin_from("");
	assert_int_equal(cli_password_get(&o, "--admin-user", "admin", true, &pw, &err),
			 MF_EINVAL);
	assert_string_equal(err.msg, "no password on standard input");
	stdin_restore(saved);
	cli_opts_free(&o);

	/* no source, not a terminal */
	assert_int_equal(PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap"), 0);
	saved = stdin_from("ignored\n");
	assert_int_equal(cli_password_get(&o, "--admin-user", "admin", true, &pw, &err),
			 MF_EINVAL);
	assert_string_equal(err.msg, "a password is needed for --admin-user: use "
			    "--password-stdin or --password-file");
	assert_null(pw);
	/* not required: no password, no error */
	assert_int_equal(cli_password_get(&o, "--test-mailbox", "alice", false, &pw, &err), 0);
	assert_null(pw);
	stdin_restore(saved);
	cli_opts_free(&o);
}

struct typist {
	int master, slave;
};

/* Type the password once echo is off (the prompt flushes type-ahead). */
static void *typist_run(void *arg)
{
	struct typist *t = arg;
	struct termios tio;

	for (int i = 0; i < 5000; i++) {
		if (tcgetattr(t->slave, &tio) == 0 && (tio.c_lflag & ECHO) == 0)
			break;
		usleep(1000);
	}
	if (write(t->master, "typed pw\n", 9) != 9)
		return NULL;
	return NULL;
}

/* On a terminal without a source, the password is asked for with echo off,
 * and echo is back on afterwards. */
static void test_password_prompt(void **state)
{
	struct cli_opts o;
	struct mf_error err;
	struct termios t;
	char *pw = NULL;
	int master, slave, saved_in, saved_err, devnull;
	struct typist typist;
	pthread_t th;

	(void)state;
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		skip();
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	typist.master = master;
	typist.slave = slave;
	assert_int_equal(pthread_create(&th, NULL, typist_run, &typist), 0);

	assert_int_equal(PARSE(&o, &err, "endpoint", "new", "x", "--type", "imap"), 0);
	saved_in = dup(0);
	saved_err = dup(2);
	devnull = open("/dev/null", O_WRONLY);
	dup2(slave, 0);
	dup2(devnull, 2); /* the prompt */
	assert_int_equal(cli_password_get(&o, "--admin-user", "admin", true, &pw, &err), 0);
	assert_int_equal(tcgetattr(0, &t), 0);
	pthread_join(th, NULL);
	dup2(saved_in, 0);
	dup2(saved_err, 2);
	close(saved_in);
	close(saved_err);
	close(devnull);
	assert_string_equal(pw, "typed pw");
	assert_true((t.c_lflag & ECHO) != 0);
	mf_secret_free(&pw);
	cli_opts_free(&o);
	close(slave);
	close(master);
}

/* ---- durations and schedule times (issue 4) ------------------------------------------ */

static void test_durations_and_times(void **state)
{
	static const struct {
		const char *text;
		long long ms;
	} good[] = {
		{ "86400", 86400000LL }, { "86400s", 86400000LL }, { "30m", 1800000LL },
		{ "24h", 86400000LL },	 { "1d", 86400000LL },	   { "1h30m", 5400000LL },
		{ "2S", 2000 },		 { "500ms", 500 },	   { "1m1s", 61000 },
	};
	static const char *const bad[] = { "", "x", "5x", "-1", "1.5h", "h", "1h-", "1 h",
					   "30mm" };
	struct mf_error err;
	long long v;
	char d[32];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (cli_parse_duration("--d", good[i].text, 1, 365 * 86400000LL, &v, &err) != 0)
			fail_msg("%s: %s", good[i].text, err.msg);
		assert_int_equal(v, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cli_parse_duration("--d", bad[i], 1, 86400000LL, &v, &err),
				 MF_EINVAL);
		assert_non_null(strstr(err.msg, "is not a duration"));
	}
	assert_int_equal(cli_parse_duration("--incremental-interval", "0", 1000, 86400000LL * 365,
					    &v, &err), MF_EINVAL);
	assert_string_equal(err.msg, "--incremental-interval must be 1s to 365d");
	assert_int_equal(cli_parse_duration("--d", "366d", 1000, 86400000LL * 365, &v, &err),
			 MF_EINVAL);
	assert_int_equal(cli_parse_duration("--d", "99999999999999999999d", 1, 1000, &v, &err),
			 MF_EINVAL);
	assert_int_equal(cli_parse_duration("--tick", "5ms", 10, 1000, &v, &err), MF_EINVAL);
	assert_string_equal(err.msg, "--tick must be 10ms to 1s");

	assert_int_equal(cli_parse_when("--t", "now", false, &v, &err), 0);
	assert_true(llabs(v - (long long)time(NULL)) <= 1);
	assert_int_equal(cli_parse_when("--t", "2024-07-01", false, &v, &err), 0);
	assert_int_equal(v, 1719792000);
	assert_int_equal(cli_parse_when("--t", "2024-07-01T19:00:00+02:00", false, &v, &err), 0);
	assert_int_equal(v, 1719792000 + 17 * 3600);
	assert_int_equal(cli_parse_when("--t", "none", true, &v, &err), 0);
	assert_int_equal(v, -1);
	assert_int_equal(cli_parse_when("--t", "none", false, &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_when("--t", "tomorrow", true, &v, &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "is not a time"));

	cli_fmt_duration(86400, d);
	assert_string_equal(d, "1d");
	cli_fmt_duration(5400, d);
	assert_string_equal(d, "1h30m");
	cli_fmt_duration(90061, d);
	assert_string_equal(d, "1d1h1m1s");
	cli_fmt_duration(0, d);
	assert_string_equal(d, "0s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_option_forms),
		cmocka_unit_test(test_globals_anywhere),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_argv_password_refused),
		cmocka_unit_test(test_help_wins),
		cmocka_unit_test(test_double_dash),
		cmocka_unit_test(test_cmdlet_new),
		cmocka_unit_test(test_cmdlet_security_mapping),
		cmocka_unit_test(test_cmdlet_switches),
		cmocka_unit_test(test_cmdlet_identity),
		cmocka_unit_test(test_cmdlet_errors),
		cmocka_unit_test(test_password_file),
		cmocka_unit_test(test_password_stdin),
		cmocka_unit_test(test_password_prompt),
		cmocka_unit_test(test_durations_and_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
