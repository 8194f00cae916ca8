/* Unit tests for src/cli: whole commands run in-process against a temporary
 * data directory, with stdout and stderr captured. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <jansson.h>

#include "store/store.h"
#include "test_cli_common.h"

#define PASSWORD "Sup3r-s3cret-pw"

static int setup(void **state)
{
	(void)state;
	return cli_tmp_setup("mf-test-cli");
}

static int teardown(void **state)
{
	(void)state;
	return cli_tmp_teardown();
}

static void test_endpoint_lifecycle(void **state)
{
	struct run r;
	json_t *j, *e;
	char *db;

	(void)state;
	r = run_cli(NULL, "endpoint", "list", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "No endpoints.\n");
	run_free(&r);
	r = run_cli(NULL, "endpoint", "list", "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "[]\n");
	run_free(&r);

	r = run_cli(PASSWORD "\n", "endpoint", "new", "src", "--type", "imap", "--server",
		    "mail.example.com", "--admin-user", "admin", "--password-stdin",
		    "--skip-verification", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "Name                          : src\n");
	assert_contains(r.out, "AdminPassword                 : ********\n");
	assert_contains(r.out, "Port                          : 993\n");
	assert_null(strstr(r.out, PASSWORD));
	assert_null(strstr(r.err, PASSWORD));
	run_free(&r);

	/* the name is taken */
	r = run_cli(PASSWORD "\n", "endpoint", "new", "src", "--type", "imap", "--server",
		    "other.example.com", "--skip-verification", NULL);
	assert_int_equal(r.rc, 4);
	assert_contains(r.err, "mailferry: an endpoint named 'src' already exists");
	run_free(&r);

	r = run_cli(NULL, "endpoint", "list", "--json", NULL);
	assert_int_equal(r.rc, 0);
	assert_null(strstr(r.out, PASSWORD));
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 1);
	e = json_array_get(j, 0);
	assert_string_equal(json_string_value(json_object_get(e, "Name")), "src");
	assert_string_equal(json_string_value(json_object_get(e, "AdminPassword")), "********");
	assert_int_equal(json_integer_value(json_object_get(e, "Port")), 993);
	assert_true(json_is_null(json_object_get(e, "LastTest")));
	assert_true(json_is_false(json_object_get(e, "AcceptUntrustedCertificates")));
	json_decref(j);
	run_free(&r);

	r = run_cli(NULL, "endpoint", "list", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "Name  Type  Server            Port  Security  LastTest\n");
	assert_contains(r.out, "src   imap  mail.example.com  993   tls       -\n");
	run_free(&r);

	/* set: only the given settings change; a new security moves a default port */
	r = run_cli(NULL, "endpoint", "set", "src", "--security", "starttls",
		    "--max-concurrent-incremental-syncs=4", "--skip-verification", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "Security                      : starttls\n");
	assert_contains(r.out, "Port                          : 143\n");
	assert_contains(r.out, "MaxConcurrentIncrementalSyncs : 4\n");
	assert_contains(r.out, "AdminUser                     : admin\n");
	assert_contains(r.out, "AdminPassword                 : ********\n");
	run_free(&r);

	r = run_cli(NULL, "endpoint", "set", "src", "--type", "imap", NULL);
	assert_int_equal(r.rc, 2);
	assert_contains(r.err, "the type of an endpoint cannot be changed");
	run_free(&r);

	/* a new administrator needs a password; stdin is a pipe, not a terminal */
	r = run_cli(NULL, "endpoint", "set", "src", "--admin-user", "root", "--skip-verification",
		    NULL);
	assert_int_equal(r.rc, 2);
	assert_contains(r.err, "a password is needed for --admin-user");
	run_free(&r);

	r = run_cli(NULL, "Get-MigrationEndpoint", "-Identity", "SRC", NULL);
	assert_int_equal(r.rc, 3);
	assert_contains(r.err, "no endpoint named 'SRC'");
	run_free(&r);

	r = run_cli(NULL, "get-migrationendpoint", "src", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "Server                        : mail.example.com\n");
	assert_contains(r.out, "LastTestResult                :\n");
	run_free(&r);

	/* the password is stored sealed, never in the clear */
	db = xasprintf("%s/state/mailferry.db", cli_dir);
	assert_false(file_contains(db, PASSWORD));
	free(db);

	r = run_cli(NULL, "endpoint", "remove", "src", NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "Removed endpoint 'src'.\n");
	run_free(&r);
	r = run_cli(NULL, "endpoint", "remove", "src", NULL);
	assert_int_equal(r.rc, 3);
	run_free(&r);
	r = run_cli(NULL, "endpoint", "show", "src", NULL);
	assert_int_equal(r.rc, 3);
	run_free(&r);
}

static void test_cmdlet_run(void **state)
{
	struct run r;
	json_t *j;

	(void)state;
	r = run_cli(NULL, "New-MigrationEndpoint", "-ExchangeRemoteMove", "-Name", "ex",
		    "-RemoteServer", "mail.contoso.com", "-Credentials", "CONTOSO\\admin",
		    "-SkipVerification", NULL);
	assert_int_equal(r.rc, 2); /* no password source, stdin not a terminal */
	assert_contains(r.err, "a password is needed for -Credentials: use -PasswordStdin");
	run_free(&r);

	r = run_cli(PASSWORD "\n", "New-MigrationEndpoint", "-ExchangeRemoteMove", "-Name", "ex",
		    "-RemoteServer", "mail.contoso.com", "-Credentials", "CONTOSO\\admin",
		    "-PasswordStdin", "-SkipVerification", "-Json", NULL);
	assert_int_equal(r.rc, 0);
	assert_null(strstr(r.out, PASSWORD));
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Type")), "exchange-remote");
	assert_string_equal(json_string_value(json_object_get(j, "MailboxPermission")), "admin");
	json_decref(j);
	run_free(&r);

	/* an Exchange test is not supported yet: exit 20, nothing changes */
	r = run_cli(NULL, "Set-MigrationEndpoint", "ex", "-MaxConcurrentMigrations", "30", NULL);
	assert_int_equal(r.rc, 20);
	assert_contains(r.err, "nothing was changed");
	run_free(&r);

	r = run_cli(NULL, "Remove-MigrationEndpoint", "ex", "-Confirm:$false", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
}

static void test_usage_and_state_errors(void **state)
{
	struct run r;
	char *file, *opt;
	FILE *f;

	(void)state;
	r = run_cli(NULL, "endpoint", "new", "x", "--type", "imap", "--bogus", NULL);
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.err, "mailferry: unknown option '--bogus'\n"
			    "(see 'mailferry endpoint new --help')\n");
	run_free(&r);

	r = run_cli(NULL, "endpoint", "new", "x", "--type", "imap", "--server", "h.example.com",
		    "--port", "0", NULL);
	assert_int_equal(r.rc, 2);
	run_free(&r);

	r = run_cli(NULL, "endpoint", "new", "bad name", "--type", "imap", "--server",
		    "h.example.com", "--skip-verification", NULL);
	assert_int_equal(r.rc, 2);
	run_free(&r);

	r = run_cli(NULL, "endpoint", "new", "--help", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "usage: mailferry endpoint new NAME");
	run_free(&r);

	r = run_cli(NULL, "help", "test-migrationserveravailability", NULL);
	assert_int_equal(r.rc, 0);
	assert_contains(r.out, "Test-MigrationServerAvailability -Endpoint N");
	run_free(&r);

	r = run_cli(NULL, "help", "nonsense", NULL);
	assert_int_equal(r.rc, 2);
	run_free(&r);

	/* a data directory that cannot be created: exit 5 */
	file = xasprintf("%s/plainfile", cli_dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	opt = xasprintf("--data-dir=%s/sub", file);
	r = run_cli(NULL, "endpoint", "list", opt, NULL);
	assert_int_equal(r.rc, 5);
	assert_contains(r.err, "mailferry: cannot open the state in");
	run_free(&r);
	free(opt);
	free(file);
}

/* remove refuses while a batch uses the endpoint, and names the batch */
static void test_remove_busy(void **state)
{
	struct mf_error err = { 0 };
	struct store *st = NULL;
	char *dir = xasprintf("%s/state", cli_dir);
	char *key = store_default_key_file(dir);
	int64_t id = 0;
	struct run r;

	(void)state;
	r = run_cli(NULL, "endpoint", "new", "busy", "--type", "imap", "--server",
		    "mail.example.com", "--skip-verification", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	assert_int_equal(store_open(dir, key, &st, &err), 0);
	assert_int_equal(store_batch_insert(st, "batch-one", "busy", NULL, &id, &err), 0);
	store_close(&st);

	r = run_cli(NULL, "endpoint", "remove", "busy", NULL);
	assert_int_equal(r.rc, 4);
	assert_contains(r.err, "batch-one");
	run_free(&r);
	r = run_cli(NULL, "endpoint", "show", "busy", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	free(key);
	free(dir);
}

/* An ad-hoc test of a port nobody listens on fails at connect (11). */
static void test_adhoc_connect_refused(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char port[16];
	struct run r;
	int fd;

	(void)state;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	snprintf(port, sizeof(port), "%u", ntohs(sin.sin_port));

	r = run_cli(NULL, "endpoint", "test", "--server", "127.0.0.1", "--port", port,
		    "--security", "none", "--timeout", "2", NULL);
	assert_int_equal(r.rc, 11);
	assert_contains(r.out, "Result       : Failed\n");
	assert_contains(r.err, "connection test failed at connect");
	run_free(&r);

	r = run_cli(NULL, "Test-MigrationServerAvailability", "-IMAP", "-RemoteServer",
		    "127.0.0.1", "-Port", port, "-Security", "None", "-Json", NULL);
	assert_int_equal(r.rc, 11);
	assert_contains(r.out, "\"FailedStage\": \"connect\"");
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_lifecycle),
		cmocka_unit_test(test_cmdlet_run),
		cmocka_unit_test(test_usage_and_state_errors),
		cmocka_unit_test(test_remove_busy),
		cmocka_unit_test(test_adhoc_connect_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
