/* Unit tests for the parsers and helpers of src/proto/autodiscover: POX
 * responses (settings, redirects, errors, hostile XML), the POX request,
 * Autodiscover v2 JSON, Mozilla autoconfig with placeholders, addresses,
 * domains, URLs and the provider table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/autodiscover/ad-private.h"
#include "util/xmalloc.h"

#define NS_OUT "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
#define NS_A "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

static int pox(const char *xml, struct ad_pox_answer *a, struct mf_error *e)
{
	memset(e, 0, sizeof(*e));
	return ad_pox_parse(xml, strlen(xml), a, e);
}

static void test_pox_settings(void **state)
{
	static const char xml[] =
		"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
		"<Autodiscover xmlns=\"" NS_OUT "\">\n"
		" <Response xmlns=\"" NS_A "\">\n"
		"  <User><DisplayName>Alice</DisplayName></User>\n"
		"  <Account><AccountType>email</AccountType><Action>settings</Action>\n"
		"   <Protocol><Type>EXCH</Type><Server>exch01.contoso.test</Server>\n"
		"    <EwsUrl>https://mail.contoso.test/EWS/Exchange.asmx</EwsUrl></Protocol>\n"
		"   <Protocol><Type>EXPR</Type><Server>mail.contoso.test</Server><SSL>On</SSL>\n"
		"    <AuthPackage>Ntlm</AuthPackage>\n"
		"    <EwsUrl>https://other.contoso.test/EWS/Exchange.asmx</EwsUrl></Protocol>\n"
		"   <Protocol><Type>WEB</Type><Internal><OWAUrl AuthenticationMethod=\"Fba\">"
		"https://in.contoso.test/owa/</OWAUrl></Internal>\n"
		"    <External><OWAUrl AuthenticationMethod=\"Fba\">https://mail.contoso.test/owa/"
		"</OWAUrl></External></Protocol>\n"
		"   <Protocol><Type>IMAP</Type><Server>imap.contoso.test</Server><Port>993</Port>\n"
		"    <SSL>on</SSL><LoginName>alice@contoso.test</LoginName></Protocol>\n"
		"   <Protocol><Type>IMAP</Type><Server>imap2.contoso.test</Server>"
		"<Port>143</Port><SSL>on</SSL></Protocol>\n"
		"   <Protocol><Type>IMAP</Type><Server>imap3.contoso.test</Server>"
		"<Encryption>None</Encryption></Protocol>\n"
		"   <Protocol><Type>POP3</Type><Server>pop.contoso.test</Server></Protocol>\n"
		"  </Account>\n"
		" </Response>\n"
		"</Autodiscover>\n";
	struct ad_pox_answer a;
	struct mf_error e;

	(void)state;
	assert_int_equal(pox(xml, &a, &e), 0);
	assert_int_equal(a.kind, AD_POX_SETTINGS);
	assert_string_equal(a.exchange_server, "exch01.contoso.test");
	/* the first EwsUrl wins */
	assert_string_equal(a.ews_url, "https://mail.contoso.test/EWS/Exchange.asmx");
	assert_string_equal(a.rpc_proxy_server, "mail.contoso.test");
	assert_string_equal(a.auth_package, "ntlm");
	assert_string_equal(a.owa_url, "https://mail.contoso.test/owa/");
	assert_string_equal(a.types.data, "EXCH, EXPR, WEB, IMAP, IMAP, IMAP, POP3");
	assert_int_equal(a.nimap, 3);
	assert_string_equal(a.imap[0].server, "imap.contoso.test");
	assert_int_equal(a.imap[0].port, 993);
	assert_string_equal(a.imap[0].security, "tls");
	assert_string_equal(a.imap[0].login_name, "alice@contoso.test");
	assert_string_equal(a.imap[1].security, "starttls");
	assert_int_equal(a.imap[1].port, 143);
	assert_null(a.imap[1].login_name);
	assert_string_equal(a.imap[2].security, "none");
	assert_int_equal(a.imap[2].port, 143);
	ad_pox_answer_free(&a);
}

static void test_pox_type_attribute_and_ssl_off(void **state)
{
	static const char xml[] =
		"<Autodiscover xmlns=\"" NS_OUT "\"><Response xmlns=\"" NS_A "\">"
		"<Account><Action>settings</Action>"
		"<Protocol Type=\"EXHTTP\"><Server>oa.contoso.test</Server>"
		"<AuthPackage>Basic</AuthPackage></Protocol>"
		"<Protocol><Type>IMAP</Type><Server>IMAP.Contoso.Test</Server><Port>1143</Port>"
		"<SSL>off</SSL></Protocol>"
		"<Protocol><Type>IMAP</Type><Server>bad.test</Server><Port>99999</Port></Protocol>"
		"</Account></Response></Autodiscover>";
	struct ad_pox_answer a;
	struct mf_error e;

	(void)state;
	assert_int_equal(pox(xml, &a, &e), 0);
	assert_string_equal(a.rpc_proxy_server, "oa.contoso.test");
	assert_string_equal(a.auth_package, "basic");
	assert_null(a.ews_url);
	assert_int_equal(a.nimap, 1);
	assert_string_equal(a.imap[0].security, "none");
	assert_int_equal(a.imap[0].port, 1143);
	ad_pox_answer_free(&a);
}

static void test_pox_redirects(void **state)
{
	struct ad_pox_answer a;
	struct mf_error e;

	(void)state;
	assert_int_equal(pox("<Autodiscover xmlns=\"" NS_OUT "\"><Response xmlns=\"" NS_A "\">"
			     "<Account><Action>redirectAddr</Action>"
			     "<RedirectAddr>bob@fabrikam.test</RedirectAddr></Account>"
			     "</Response></Autodiscover>",
			     &a, &e),
			 0);
	assert_int_equal(a.kind, AD_POX_REDIRECT_ADDR);
	assert_string_equal(a.redirect, "bob@fabrikam.test");
	ad_pox_answer_free(&a);

	assert_int_equal(
	    pox("<Autodiscover><Response><Account><Action>redirectUrl</Action>"
		"<RedirectUrl> https://x.test/autodiscover/autodiscover.xml </RedirectUrl>"
		"</Account></Response></Autodiscover>",
		&a, &e),
	    0);
	assert_int_equal(a.kind, AD_POX_REDIRECT_URL);
	assert_string_equal(a.redirect, "https://x.test/autodiscover/autodiscover.xml");
	ad_pox_answer_free(&a);

	assert_int_equal(pox("<Autodiscover><Response><Account><Action>redirectUrl</Action>"
			     "</Account></Response></Autodiscover>",
			     &a, &e),
			 MF_EPROTO);
	assert_string_equal(e.msg, "Action redirectUrl without RedirectUrl");
	assert_int_equal(pox("<Autodiscover><Response><Account><Action>redirectAddr</Action>"
			     "</Account></Response></Autodiscover>",
			     &a, &e),
			 MF_EPROTO);
	assert_string_equal(e.msg, "Action redirectAddr without RedirectAddr");
	assert_int_equal(pox("<Autodiscover><Response><Account><Action>frobnicate</Action>"
			     "</Account></Response></Autodiscover>",
			     &a, &e),
			 MF_EPROTO);
	assert_string_equal(e.msg, "unknown Autodiscover Action 'frobnicate'");
}

static void test_pox_errors(void **state)
{
	struct ad_pox_answer a;
	struct mf_error e;

	(void)state;
	assert_int_equal(pox("<Autodiscover xmlns=\"" NS_OUT "\"><Response>"
			     "<Error Time=\"10:00:00\" Id=\"1\"><ErrorCode>500</ErrorCode>"
			     "<Message>The email address can't be found.</Message><DebugData/>"
			     "</Error></Response></Autodiscover>",
			     &a, &e),
			 0);
	assert_int_equal(a.kind, AD_POX_ERROR);
	assert_string_equal(a.error_code, "500");
	assert_string_equal(a.error_message, "The email address can't be found.");
	ad_pox_answer_free(&a);

	assert_int_equal(pox("<Autodiscover><Response><Account><Error><ErrorCode>603</ErrorCode>"
			     "</Error></Account></Response></Autodiscover>",
			     &a, &e),
			 0);
	assert_int_equal(a.kind, AD_POX_ERROR);
	assert_string_equal(a.error_code, "603");
	assert_null(a.error_message);
	ad_pox_answer_free(&a);

	assert_int_equal(pox("<html><body>It works</body></html>", &a, &e), MF_EPROTO);
	assert_string_equal(e.msg, "not an Autodiscover response (root element html)");
	assert_int_equal(pox("<Autodiscover/>", &a, &e), MF_EPROTO);
	assert_string_equal(e.msg, "Autodiscover response without Response");
	assert_int_equal(pox("<Autodiscover><Response/></Autodiscover>", &a, &e), MF_EPROTO);
	assert_string_equal(e.msg, "Autodiscover response without Account or Error");
}

static void test_pox_hostile(void **state)
{
	struct ad_pox_answer a;
	struct mf_error e;

	(void)state;
	assert_int_equal(pox("<Autodiscover><Response><Account></Response></Autodiscover>", &a,
			     &e),
			 MF_EPROTO);
	assert_non_null(strstr(e.msg, "malformed XML"));
	assert_int_equal(pox("<?xml version=\"1.0\"?>\n"
			     "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n"
			     "<Autodiscover><Response><Account><Action>redirectAddr</Action>"
			     "<RedirectAddr>&x;</RedirectAddr></Account></Response></Autodiscover>",
			     &a, &e),
			 MF_EPROTO);
	assert_string_equal(e.msg, "XML with a DTD refused");
	assert_int_equal(pox("", &a, &e), MF_EPROTO);
}

static void test_pox_request(void **state)
{
	char *r = ad_pox_request("a&b<c>@example.test");

	(void)state;
	assert_non_null(strstr(r, "<EMailAddress>a&amp;b&lt;c&gt;@example.test</EMailAddress>"));
	assert_non_null(strstr(r, "<AcceptableResponseSchema>" NS_A "</AcceptableResponseSchema>"));
	assert_non_null(strstr(
		r, "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/"
		   "requestschema/2006\""));
	free(r);
}

static void test_v2(void **state)
{
	struct mf_error e = { 0 };
	char *url = NULL;
	const char *good = "{\"Protocol\":\"Ews\",\"Url\":\"https://outlook.office365.com/EWS/"
			   "Exchange.asmx\"}";
	const char *err = "{\"ErrorCode\":\"InvalidProtocol\",\"ErrorMessage\":\"The given "
			  "protocol value 'Imap' is invalid.\"}";

	(void)state;
	assert_int_equal(ad_v2_parse(good, strlen(good), &url, &e), 0);
	assert_string_equal(url, "https://outlook.office365.com/EWS/Exchange.asmx");
	free(url);
	assert_int_equal(ad_v2_parse(err, strlen(err), &url, &e), MF_ENOTFOUND);
	assert_null(url);
	assert_string_equal(e.msg, "InvalidProtocol: The given protocol value 'Imap' is invalid.");
	assert_int_equal(ad_v2_parse("{\"Protocol\":\"Ews\"}", 18, &url, &e), MF_EPROTO);
	assert_string_equal(e.msg, "Autodiscover v2 answer without Url");
	assert_int_equal(
	    ad_v2_parse("{\"Protocol\":\"Rest\",\"Url\":\"https://x.test/\"}", 43, &url, &e),
	    MF_EPROTO);
	assert_string_equal(e.msg, "Autodiscover v2 answer for Protocol Rest, not Ews");
	assert_int_equal(ad_v2_parse("<html>", 6, &url, &e), MF_EPROTO);
	assert_non_null(strstr(e.msg, "not Autodiscover v2 JSON"));
	assert_int_equal(ad_v2_parse("[1]", 3, &url, &e), MF_EPROTO);
	assert_string_equal(e.msg, "not Autodiscover v2 JSON: not an object");
}

static void test_autoconfig(void **state)
{
	static const char xml[] =
		"<?xml version=\"1.0\"?>\n"
		"<clientConfig version=\"1.1\">\n"
		" <emailProvider id=\"example.test\">\n"
		"  <domain>example.test</domain>\n"
		"  <incomingServer type=\"pop3\"><hostname>pop.example.test</hostname>"
		"<port>995</port><socketType>SSL</socketType></incomingServer>\n"
		"  <incomingServer type=\"imap\">\n"
		"   <hostname>store1.%EMAILDOMAIN%</hostname><port>993</port>\n"
		"   <socketType>SSL</socketType><username>%EMAILLOCALPART%</username>\n"
		"   <authentication>OAuth2</authentication>\n"
		"   <authentication>password-cleartext</authentication>\n"
		"  </incomingServer>\n"
		"  <incomingServer type=\"imap\"><hostname>imap.example.test</hostname>"
		"<socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username>"
		"<authentication>OAuth2</authentication></incomingServer>\n"
		"  <incomingServer type=\"imap\"><hostname>plain.example.test</hostname>"
		"<port>143</port><socketType>plain</socketType></incomingServer>\n"
		"  <incomingServer type=\"imap\"><hostname>bad host</hostname>"
		"<socketType>SSL</socketType></incomingServer>\n"
		"  <incomingServer type=\"imap\"><hostname>x.example.test</hostname>"
		"<port>0</port><socketType>SSL</socketType></incomingServer>\n"
		"  <incomingServer type=\"imap\"><hostname>y.example.test</hostname>"
		"<socketType>QUIC</socketType></incomingServer>\n"
		" </emailProvider>\n"
		"</clientConfig>\n";
	struct ad_ac_server *s = NULL;
	struct mf_error e = { 0 };
	char *skipped = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(ad_autoconfig_parse(xml, strlen(xml), "alice@example.test", &s, &n,
					     &skipped, &e),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(s[0].hostname, "store1.example.test");
	assert_int_equal(s[0].port, 993);
	assert_string_equal(s[0].security, "tls");
	assert_string_equal(s[0].username, "alice");
	assert_string_equal(s[0].auth, "plain");
	assert_string_equal(s[0].auth_offered, "OAuth2, password-cleartext");
	assert_string_equal(s[1].hostname, "imap.example.test");
	assert_int_equal(s[1].port, 143);
	assert_string_equal(s[1].security, "starttls");
	assert_string_equal(s[1].username, "alice@example.test");
	assert_null(s[1].auth);
	assert_string_equal(s[1].auth_offered, "OAuth2");
	assert_string_equal(s[2].security, "none");
	assert_string_equal(s[2].auth, "plain");
	assert_null(s[2].username);
	assert_string_equal(skipped, "hostname 'bad host', port '0', socketType 'QUIC'");
	ad_ac_servers_free(s, n);
	free(skipped);
}

static void test_autoconfig_errors(void **state)
{
	struct ad_ac_server *s = NULL;
	struct mf_error e = { 0 };
	char *skipped = NULL;
	size_t n = 0;
	const char *no_imap = "<clientConfig><emailProvider><incomingServer type=\"pop3\">"
			      "<hostname>p.test</hostname></incomingServer></emailProvider>"
			      "</clientConfig>";
	const char *dtd = "<!DOCTYPE clientConfig SYSTEM \"http://evil.test/x.dtd\">"
			  "<clientConfig/>";

	(void)state;
	assert_int_equal(ad_autoconfig_parse(no_imap, strlen(no_imap), "a@b.test", &s, &n,
					     &skipped, &e),
			 0);
	assert_int_equal(n, 0);
	assert_null(skipped);
	assert_int_equal(ad_autoconfig_parse("<config/>", 9, "a@b.test", &s, &n, &skipped, &e),
			 MF_EPROTO);
	assert_string_equal(e.msg, "not an autoconfig document (root element config)");
	assert_int_equal(ad_autoconfig_parse(dtd, strlen(dtd), "a@b.test", &s, &n, &skipped, &e),
			 MF_EPROTO);
	assert_string_equal(e.msg, "XML with a DTD refused");
	assert_int_equal(ad_autoconfig_parse("<clientConfig>", 14, "a@b.test", &s, &n, &skipped,
					     &e),
			 MF_EPROTO);
	assert_non_null(strstr(e.msg, "malformed XML"));
}

static void test_placeholders(void **state)
{
	char *r;

	(void)state;
	r = ad_placeholders("%EMAILLOCALPART%+x@%EMAILDOMAIN% <%EMAILADDRESS%> %OTHER% %",
			    "bob@example.test");
	assert_string_equal(r, "bob+x@example.test <bob@example.test> %OTHER% %");
	free(r);
}

static void test_email_split(void **state)
{
	struct mf_error e = { 0 };
	char *l, *d;

	(void)state;
	assert_int_equal(ad_email_split("Alice.B@Example.TEST", &l, &d, &e), 0);
	assert_string_equal(l, "Alice.B");
	assert_string_equal(d, "example.test");
	free(l);
	free(d);
	assert_int_equal(ad_email_split("alice", &l, &d, &e), MF_EINVAL);
	assert_string_equal(e.msg, "'alice' is not an e-mail address (expected USER@DOMAIN)");
	assert_int_equal(ad_email_split("@example.test", &l, &d, &e), MF_EINVAL);
	assert_int_equal(ad_email_split("a@b@example.test", &l, &d, &e), MF_EINVAL);
	assert_int_equal(ad_email_split("a b@example.test", &l, &d, &e), MF_EINVAL);
	assert_int_equal(ad_email_split("a@localhost", &l, &d, &e), MF_EINVAL);
	assert_int_equal(ad_email_split("a@exa_mple..test", &l, &d, &e), MF_EINVAL);
	assert_int_equal(ad_email_split("a@1.2.3.4", &l, &d, &e), MF_EINVAL);
	assert_int_equal(ad_email_split("", &l, &d, &e), MF_EINVAL);
	assert_string_equal(e.msg, "no e-mail address given");
	assert_null(l);
	assert_null(d);
}

static void test_domains(void **state)
{
	char *r;

	(void)state;
	assert_true(ad_host_in_domain("example.test", "example.test"));
	assert_true(ad_host_in_domain("IMAP.Example.Test.", "example.test"));
	assert_false(ad_host_in_domain("badexample.test", "example.test"));
	assert_false(ad_host_in_domain("example.test.evil.test", "example.test"));
	assert_false(ad_host_in_domain("test", "example.test"));

	r = ad_registrable_domain("alt1.ASPMX.l.google.com.");
	assert_string_equal(r, "google.com");
	free(r);
	r = ad_registrable_domain("contoso-com.mail.protection.outlook.com");
	assert_string_equal(r, "outlook.com");
	free(r);
	r = ad_registrable_domain("mx1.mail.example.co.uk");
	assert_string_equal(r, "example.co.uk");
	free(r);
	r = ad_registrable_domain("mxhost.test");
	assert_string_equal(r, "mxhost.test");
	free(r);
	r = ad_registrable_domain("co.uk");
	assert_string_equal(r, "co.uk");
	free(r);
}

static void test_providers(void **state)
{
	const struct ad_provider *p;

	(void)state;
	p = ad_provider_lookup("google.com");
	assert_non_null(p);
	assert_string_equal(p->imap_host, "imap.gmail.com");
	assert_null(p->ews_url);
	assert_string_equal(ad_provider_lookup("googlemail.com")->imap_host, "imap.gmail.com");
	p = ad_provider_lookup("outlook.com");
	assert_string_equal(p->imap_host, "outlook.office365.com");
	assert_string_equal(p->ews_url, "https://outlook.office365.com/EWS/Exchange.asmx");
	assert_string_equal(ad_provider_lookup("yahoodns.net")->imap_host, "imap.mail.yahoo.com");
	assert_string_equal(ad_provider_lookup("icloud.com")->imap_host, "imap.mail.me.com");
	assert_string_equal(ad_provider_lookup("messagingengine.com")->imap_host,
			    "imap.fastmail.com");
	assert_string_equal(ad_provider_lookup("ZOHO.com")->imap_host, "imap.zoho.com");
	assert_string_equal(ad_provider_lookup("zoho.eu")->imap_host, "imap.zoho.eu");
	assert_null(ad_provider_lookup("example.test"));
	assert_null(ad_provider_lookup(NULL));
}

static void test_urls_and_escaping(void **state)
{
	char *r;

	(void)state;
	r = ad_url_host("https://Mail.Example.Test:8443/autodiscover?x=1");
	assert_string_equal(r, "mail.example.test");
	free(r);
	r = ad_url_host("http://[::1]:80/");
	assert_string_equal(r, "::1");
	free(r);
	assert_null(ad_url_host("https://user@evil.test/"));
	assert_null(ad_url_host("ftp://x.test/"));
	assert_null(ad_url_host("https:///path"));
	assert_true(ad_url_is_https("HTTPS://x.test/"));
	assert_false(ad_url_is_https("http://x.test/"));
	assert_true(ad_url_is_http("http://x.test/"));
	r = ad_pct_encode("a+b c&d@e.test");
	assert_string_equal(r, "a%2Bb%20c%26d@e.test");
	free(r);
	r = ad_xml_escape("<'\"&>");
	assert_string_equal(r, "&lt;&apos;&quot;&amp;&gt;");
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pox_settings),
		cmocka_unit_test(test_pox_type_attribute_and_ssl_off),
		cmocka_unit_test(test_pox_redirects),
		cmocka_unit_test(test_pox_errors),
		cmocka_unit_test(test_pox_hostile),
		cmocka_unit_test(test_pox_request),
		cmocka_unit_test(test_v2),
		cmocka_unit_test(test_autoconfig),
		cmocka_unit_test(test_autoconfig_errors),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_email_split),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_providers),
		cmocka_unit_test(test_urls_and_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
