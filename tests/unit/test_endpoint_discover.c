/* Unit tests for src/endpoint/discover.c: how a chosen autodiscover
 * candidate fills an endpoint (only unset fields), and the protocol a type
 * implies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "endpoint/discover.h"
#include "util/xmalloc.h"

static void test_imap(void **state)
{
	struct ad_candidate c = {
		.protocol = "imap", .server = "store1.example.test", .port = 143,
		.security = "starttls", .auth = "plain",
	};
	struct store_endpoint ep = { 0 };

	(void)state;
	endpoint_from_candidate(&ep, &c, "alice@example.test");
	assert_string_equal(ep.type, "imap");
	assert_string_equal(ep.server, "store1.example.test");
	assert_int_equal(ep.port, 143);
	assert_string_equal(ep.security, "starttls");
	assert_string_equal(ep.auth, "plain");
	assert_string_equal(ep.email_address, "alice@example.test");
	store_endpoint_clear(&ep);

	/* explicit settings win */
	ep.type = xstrdup("imap");
	ep.port = 10993;
	ep.security = xstrdup("tls");
	endpoint_from_candidate(&ep, &c, "alice@example.test");
	assert_int_equal(ep.port, 10993);
	assert_string_equal(ep.security, "tls");
	assert_string_equal(ep.server, "store1.example.test");
	store_endpoint_clear(&ep);
}

static void test_exchange(void **state)
{
	struct ad_candidate c = {
		.protocol = "exchange",
		.ews_url = "https://mail.contoso.test/EWS/Exchange.asmx",
		.exchange_server = "exch01.contoso.test",
		.rpc_proxy_server = "oa.contoso.test",
		.auth_package = "ntlm",
	};
	struct store_endpoint ep = { 0 };

	(void)state;
	endpoint_from_candidate(&ep, &c, "alice@contoso.test");
	assert_string_equal(ep.type, "exchange-remote");
	assert_string_equal(ep.server, "mail.contoso.test");
	assert_string_equal(ep.exchange_server, "exch01.contoso.test");
	assert_string_equal(ep.rpc_proxy_server, "oa.contoso.test");
	assert_string_equal(ep.auth, "ntlm");
	assert_int_equal(ep.port, 0);
	assert_string_equal(ep.email_address, "alice@contoso.test");
	store_endpoint_clear(&ep);

	ep.type = xstrdup("outlook-anywhere");
	c.auth_package = "negotiate";
	endpoint_from_candidate(&ep, &c, "alice@contoso.test");
	assert_string_equal(ep.rpc_proxy_server, "oa.contoso.test");
	assert_string_equal(ep.server, "oa.contoso.test");
	assert_null(ep.auth);
	store_endpoint_clear(&ep);

	/* no EWS URL: Outlook Anywhere */
	c.ews_url = NULL;
	endpoint_from_candidate(&ep, &c, "alice@contoso.test");
	assert_string_equal(ep.type, "outlook-anywhere");
	assert_string_equal(ep.rpc_proxy_server, "oa.contoso.test");
	store_endpoint_clear(&ep);

	/* EWS only, Outlook Anywhere asked for */
	c.ews_url = "https://ews.contoso.test:8443/EWS/Exchange.asmx";
	c.rpc_proxy_server = NULL;
	ep.type = xstrdup("outlook-anywhere");
	endpoint_from_candidate(&ep, &c, "alice@contoso.test");
	assert_string_equal(ep.rpc_proxy_server, "ews.contoso.test");
	store_endpoint_clear(&ep);
}

static void test_protocol_conflict(void **state)
{
	struct store_endpoint ep = { 0 };
	struct mf_error e = { 0 };
	json_t *j = NULL;

	(void)state;
	ep.type = xstrdup("exchange-remote");
	assert_int_equal(endpoint_discover("alice@example.test", AD_PROTO_IMAP, NULL, NULL, false,
					   NULL, &ep, &j, &e),
			 MF_EINVAL);
	assert_string_equal(e.msg, "--protocol imap does not fit --type exchange-remote");
	assert_null(j);
	assert_int_equal(endpoint_discover("bad", AD_PROTO_ANY, NULL, NULL, false, NULL, &ep, &j,
					   &e),
			 MF_EINVAL);
	assert_null(j);
	store_endpoint_clear(&ep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_imap),
		cmocka_unit_test(test_exchange),
		cmocka_unit_test(test_protocol_conflict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
