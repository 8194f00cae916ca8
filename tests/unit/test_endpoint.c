/* Unit tests for src/endpoint/endpoint.c: names, defaults, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint/endpoint.h"
#include "util/xmalloc.h"

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = value != NULL ? xstrdup(value) : NULL;
}

/* A valid IMAP endpoint after defaults. */
static void make_imap(struct store_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	set_str(&ep->name, "src");
	set_str(&ep->type, "imap");
	set_str(&ep->server, "imap.example.com");
	endpoint_apply_defaults(ep);
}

static void make_exchange(struct store_endpoint *ep, const char *type)
{
	memset(ep, 0, sizeof(*ep));
	set_str(&ep->name, "exch");
	set_str(&ep->type, type);
	set_str(&ep->server, "mrs.example.com");
	set_str(&ep->admin_user, "CONTOSO\\admin");
	endpoint_apply_defaults(ep);
}

/* ep must fail validation with a message containing want; ep is cleared. */
static void expect_invalid(struct store_endpoint *ep, const char *want)
{
	struct mf_error err;

	mf_error_clear(&err);
	assert_int_equal(endpoint_validate(ep, &err), MF_EINVAL);
	assert_int_equal(err.code, MF_EINVAL);
	if (strstr(err.msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	store_endpoint_clear(ep);
}

static void expect_valid(struct store_endpoint *ep)
{
	struct mf_error err;

	mf_error_clear(&err);
	if (endpoint_validate(ep, &err) != 0)
		fail_msg("unexpected error: %s", err.msg);
	store_endpoint_clear(ep);
}

static void test_names(void **state)
{
	struct mf_error err;
	char long_name[ENDPOINT_NAME_MAX + 2];

	(void)state;
	assert_int_equal(endpoint_validate_name("src", &err), 0);
	assert_int_equal(endpoint_validate_name("0old-server_1.example", &err), 0);
	assert_int_equal(endpoint_validate_name("", &err), MF_EINVAL);
	assert_int_equal(endpoint_validate_name(NULL, &err), MF_EINVAL);
	assert_int_equal(endpoint_validate_name("-x", &err), MF_EINVAL);
	assert_int_equal(endpoint_validate_name(".x", &err), MF_EINVAL);
	assert_int_equal(endpoint_validate_name("a b", &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "'a b'"));
	assert_int_equal(endpoint_validate_name("caf\xc3\xa9", &err), MF_EINVAL);
	memset(long_name, 'a', sizeof(long_name));
	long_name[ENDPOINT_NAME_MAX] = '\0';
	assert_int_equal(endpoint_validate_name(long_name, &err), 0);
	long_name[ENDPOINT_NAME_MAX] = 'a';
	long_name[ENDPOINT_NAME_MAX + 1] = '\0';
	assert_int_equal(endpoint_validate_name(long_name, &err), MF_EINVAL);
}

static void test_types(void **state)
{
	(void)state;
	assert_true(endpoint_type_valid("imap"));
	assert_true(endpoint_type_valid("exchange-remote"));
	assert_true(endpoint_type_valid("outlook-anywhere"));
	assert_false(endpoint_type_valid("IMAP"));
	assert_false(endpoint_type_valid("pop3"));
	assert_false(endpoint_type_valid(NULL));
}

static void test_hosts(void **state)
{
	static const char *const good[] = {
		"imap.example.com", "localhost", "mail", "xn--bcher-kva.example",
		"imap.example.com.", "a-b.c-d.e", "127.0.0.1", "::1", "2001:db8::25",
		"::ffff:192.0.2.1", "1host.example", "example.123a",
	};
	static const char *const bad[] = {
		"", "a b", "-mail.example", "mail-.example", "mail..example", ".example",
		"[::1]", "1.2.3", "999.1.1.1", "10.1.300", ("b\xc3\xbc" "cher.example"),
		"mail_1.example", "host:143", "2001:db8::zz", "..",
	};
	char big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!endpoint_host_valid(good[i]))
			fail_msg("'%s' should be valid", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (endpoint_host_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
	}
	assert_true(endpoint_host_valid("a."));  /* fully qualified one-label name */
	assert_false(endpoint_host_valid(NULL));
	/* A label of 64 characters, and a name over 253. */
	memset(big, 'a', 64);
	big[64] = '\0';
	assert_false(endpoint_host_valid(big));
	big[63] = '\0';
	assert_true(endpoint_host_valid(big));
	for (size_t i = 0; i < 260; i++)
		big[i] = i % 2 == 0 ? 'a' : '.';
	big[259] = '\0';
	assert_false(endpoint_host_valid(big));
}

static void test_imap_defaults(void **state)
{
	struct store_endpoint ep;

	(void)state;
	make_imap(&ep);
	assert_string_equal(ep.security, "tls");
	assert_int_equal(ep.port, 993);
	assert_string_equal(ep.auth, "plain");
	assert_string_equal(ep.impersonation, "sasl");
	assert_string_equal(ep.master_separator, "*");
	assert_int_equal(ep.max_concurrent_migrations, 20);
	assert_int_equal(ep.max_concurrent_incremental_syncs, 20);
	assert_false(ep.accept_untrusted);
	expect_valid(&ep);

	memset(&ep, 0, sizeof(ep));
	set_str(&ep.name, "src");
	set_str(&ep.type, "imap");
	set_str(&ep.server, "10.0.0.1");
	set_str(&ep.security, "starttls");
	set_str(&ep.auth, "");
	ep.max_concurrent_migrations = 5;
	endpoint_apply_defaults(&ep);
	assert_int_equal(ep.port, 143);
	assert_string_equal(ep.auth, "plain");
	assert_int_equal(ep.max_concurrent_incremental_syncs, 5);
	expect_valid(&ep);

	memset(&ep, 0, sizeof(ep));
	set_str(&ep.name, "src");
	set_str(&ep.type, "imap");
	set_str(&ep.server, "::1");
	set_str(&ep.security, "none");
	ep.port = 10143;
	endpoint_apply_defaults(&ep);
	assert_int_equal(ep.port, 10143);
	expect_valid(&ep);
}

static void test_exchange_defaults(void **state)
{
	struct store_endpoint ep;

	(void)state;
	make_exchange(&ep, "exchange-remote");
	assert_int_equal(ep.port, 443);
	assert_string_equal(ep.auth, "basic");
	assert_string_equal(ep.mailbox_permission, "admin");
	assert_int_equal(ep.max_concurrent_migrations, 20);
	expect_valid(&ep);

	make_exchange(&ep, "outlook-anywhere");
	set_str(&ep.server, NULL);
	set_str(&ep.rpc_proxy_server, "rpc.example.com");
	set_str(&ep.admin_user, "admin@contoso.com");
	set_str(&ep.auth, "ntlm");
	set_str(&ep.mailbox_permission, "full-access");
	set_str(&ep.email_address, "alice@contoso.com");
	expect_valid(&ep);
}

static void test_imap_invalid(void **state)
{
	struct store_endpoint ep;

	(void)state;
	make_imap(&ep);
	ep.port = 0;
	expect_invalid(&ep, "--port must be between 1 and 65535");
	make_imap(&ep);
	ep.port = 65536;
	expect_invalid(&ep, "--port must be between 1 and 65535");

	make_imap(&ep);
	set_str(&ep.security, "ssl");
	expect_invalid(&ep, "--security must be none, starttls or tls");

	make_imap(&ep);
	set_str(&ep.auth, "ntlm");
	expect_invalid(&ep, "--auth must be plain or login");

	make_imap(&ep);
	set_str(&ep.server, NULL);
	expect_invalid(&ep, "--server is required for an imap endpoint");

	make_imap(&ep);
	set_str(&ep.server, "a b");
	expect_invalid(&ep, "--server 'a b' is not a valid host name or address");

	make_imap(&ep);
	set_str(&ep.server, "[::1]");
	expect_invalid(&ep, "without brackets");

	make_imap(&ep);
	set_str(&ep.server, "b\xc3\xbc" "cher.example");
	expect_invalid(&ep, "xn--");

	make_imap(&ep);
	set_str(&ep.impersonation, "proxy");
	expect_invalid(&ep, "--impersonation must be sasl or master-user");

	make_imap(&ep);
	set_str(&ep.master_separator, "**");
	expect_invalid(&ep, "--master-separator");
	make_imap(&ep);
	set_str(&ep.master_separator, " ");
	expect_invalid(&ep, "--master-separator");
	make_imap(&ep);
	set_str(&ep.master_separator, "\t");
	expect_invalid(&ep, "--master-separator");
	make_imap(&ep);
	set_str(&ep.master_separator, "%");
	expect_valid(&ep);

	make_imap(&ep);
	set_str(&ep.admin_user, "ad\nmin");
	expect_invalid(&ep, "--admin-user");

	make_imap(&ep);
	ep.max_concurrent_migrations = 20;
	ep.max_concurrent_incremental_syncs = 30;
	expect_invalid(&ep, "--max-concurrent-incremental-syncs (30) cannot exceed "
			    "--max-concurrent-migrations (20)");
	make_imap(&ep);
	ep.max_concurrent_migrations = 1001;
	expect_invalid(&ep, "--max-concurrent-migrations must be between 1 and 1000");
	make_imap(&ep);
	ep.max_concurrent_incremental_syncs = -1;
	expect_invalid(&ep, "--max-concurrent-incremental-syncs must be between 1 and 1000");

	make_imap(&ep);
	set_str(&ep.name, "bad name");
	expect_invalid(&ep, "endpoint name");

	make_imap(&ep);
	set_str(&ep.type, "pop3");
	expect_invalid(&ep, "--type must be imap, exchange-remote or outlook-anywhere");
}

static void test_exchange_invalid(void **state)
{
	struct store_endpoint ep;

	(void)state;
	make_exchange(&ep, "exchange-remote");
	set_str(&ep.admin_user, "admin");
	expect_invalid(&ep, "--admin-user must be DOMAIN\\user or user@domain");
	make_exchange(&ep, "exchange-remote");
	set_str(&ep.admin_user, "\\admin");
	expect_invalid(&ep, "--admin-user must be DOMAIN\\user or user@domain");
	make_exchange(&ep, "exchange-remote");
	set_str(&ep.admin_user, "admin@");
	expect_invalid(&ep, "--admin-user must be DOMAIN\\user or user@domain");

	make_exchange(&ep, "exchange-remote");
	set_str(&ep.auth, "plain");
	expect_invalid(&ep, "--auth must be basic or ntlm for an exchange-remote endpoint");

	make_exchange(&ep, "exchange-remote");
	set_str(&ep.mailbox_permission, "owner");
	expect_invalid(&ep, "--mailbox-permission must be admin or full-access");

	make_exchange(&ep, "exchange-remote");
	set_str(&ep.server, NULL);
	expect_invalid(&ep, "--server is required for an exchange-remote endpoint");

	make_exchange(&ep, "outlook-anywhere");
	set_str(&ep.server, NULL);
	expect_invalid(&ep, "--rpc-proxy-server is required for an outlook-anywhere endpoint");

	make_exchange(&ep, "outlook-anywhere");
	set_str(&ep.exchange_server, "exch ange");
	expect_invalid(&ep, "--exchange-server 'exch ange' is not a valid host name");

	make_exchange(&ep, "exchange-remote");
	set_str(&ep.email_address, "alice");
	expect_invalid(&ep, "--email-address 'alice'");

	make_exchange(&ep, "exchange-remote");
	ep.port = 70000;
	expect_invalid(&ep, "--port must be between 1 and 65535");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_hosts),
		cmocka_unit_test(test_imap_defaults),
		cmocka_unit_test(test_exchange_defaults),
		cmocka_unit_test(test_imap_invalid),
		cmocka_unit_test(test_exchange_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
