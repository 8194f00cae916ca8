/* Unit tests for src/proto/xml/xml.c: an Exchange POX Autodiscover response
 * (MS-OXDSCLI), namespaces, and hostile input: malformed XML, XXE, billion
 * laughs, any DOCTYPE, oversize documents, and libxml2 staying silent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "proto/xml/xml.h"
#include "util/buf.h"
#include "util/mftime.h"

/* MS-OXDSCLI 2.2.4: response schema 2006a, with EXCH, EXPR and WEB. */
static const char pox_settings[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
    "<Autodiscover "
    "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\r\n"
    "  <Response "
    "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\r\n"
    "    <User>\r\n"
    "      <DisplayName>Test User</DisplayName>\r\n"
    "      <LegacyDN>/o=Example/ou=Exchange Administrative Group "
    "(FYDIBOHF23SPDLT)/cn=Recipients/cn=test</LegacyDN>\r\n"
    "      <AutoDiscoverSMTPAddress>test@example.test</AutoDiscoverSMTPAddress>\r\n"
    "      <DeploymentId>1c9e3a2d-1111-4d2f-9c55-0123456789ab</DeploymentId>\r\n"
    "    </User>\r\n"
    "    <Account>\r\n"
    "      <AccountType>email</AccountType>\r\n"
    "      <Action>settings</Action>\r\n"
    "      <MicrosoftOnline>False</MicrosoftOnline>\r\n"
    "      <Protocol>\r\n"
    "        <Type>EXCH</Type>\r\n"
    "        <Server>mbx01.example.test</Server>\r\n"
    "        <ServerDN>/o=Example/ou=Exchange Administrative "
    "Group/cn=Configuration/cn=Servers/cn=MBX01</ServerDN>\r\n"
    "        <ServerVersion>73C18880</ServerVersion>\r\n"
    "        <AuthPackage>Negotiate</AuthPackage>\r\n"
    "        <ASUrl>https://mail.example.test/EWS/Exchange.asmx</ASUrl>\r\n"
    "        <EwsUrl>\r\n          https://mail.example.test/EWS/Exchange.asmx  \r\n        "
    "</EwsUrl>\r\n"
    "        <OOFUrl>https://mail.example.test/EWS/Exchange.asmx</OOFUrl>\r\n"
    "        <!-- a comment between elements -->\r\n"
    "      </Protocol>\r\n"
    "      <Protocol>\r\n"
    "        <Type>EXPR</Type>\r\n"
    "        <Server>mail.example.test</Server>\r\n"
    "        <SSL>On</SSL>\r\n"
    "        <AuthPackage>Ntlm</AuthPackage>\r\n"
    "        <EwsUrl><![CDATA[https://mail.example.test/EWS/Exchange.asmx?a=1&b=2]]></EwsUrl>\r\n"
    "      </Protocol>\r\n"
    "      <Protocol>\r\n"
    "        <Type>WEB</Type>\r\n"
    "        <Internal>\r\n"
    "          <OWAUrl AuthenticationMethod=\"Basic, "
    "Fba\">https://mail.example.test/owa/</OWAUrl>\r\n"
    "        </Internal>\r\n"
    "      </Protocol>\r\n"
    "    </Account>\r\n"
    "  </Response>\r\n"
    "</Autodiscover>\r\n";

static const char pox_redirect[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<Autodiscover "
    "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">"
    "<Response "
    "xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">"
    "<Account><Action>redirectAddr</Action>"
    "<RedirectAddr>user@other.example.test</RedirectAddr></Account>"
    "</Response></Autodiscover>";

static xmlDocPtr parse_ok(const char *s)
{
	struct mf_error err;
	xmlDocPtr doc = NULL;

	mf_error_clear(&err);
	if (xml_parse_safe(s, strlen(s), &doc, &err) != 0)
		fail_msg("parse failed: %s", err.msg);
	assert_non_null(doc);
	return doc;
}

static void check_text(xmlNodePtr node, const char *name, const char *want)
{
	char *t = xml_child_text(node, name);

	assert_non_null(t);
	assert_string_equal(t, want);
	free(t);
}

static void test_pox_settings(void **state)
{
	xmlDocPtr doc = parse_ok(pox_settings);
	xmlNodePtr root = xmlDocGetRootElement(doc), resp, acct, p;
	const char *types[] = {"EXCH", "EXPR", "WEB"};
	int i = 0;

	(void)state;
	assert_string_equal((const char *)root->name, "Autodiscover");
	resp = xml_child(root, "Response");
	assert_non_null(resp);
	check_text(xml_child(resp, "User"), "AutoDiscoverSMTPAddress", "test@example.test");
	acct = xml_child(resp, "Account");
	assert_non_null(acct);
	check_text(acct, "Action", "settings");
	assert_null(xml_child_text(acct, "RedirectAddr"));
	for (p = xml_child(acct, "Protocol"); p != NULL; p = xml_next(p, "Protocol")) {
		assert_true(i < 3);
		check_text(p, "Type", types[i]);
		if (i == 0) {
			check_text(p, "EwsUrl", "https://mail.example.test/EWS/Exchange.asmx");
			check_text(p, "Server", "mbx01.example.test");
		} else if (i == 1) {
			check_text(p, "SSL", "On");
			check_text(p, "AuthPackage", "Ntlm");
			check_text(p, "EwsUrl",
				   "https://mail.example.test/EWS/Exchange.asmx?a=1&b=2");
		} else {
			check_text(xml_child(p, "Internal"), "OWAUrl",
				   "https://mail.example.test/owa/");
		}
		i++;
	}
	assert_int_equal(i, 3);
	/* NULL-safe */
	assert_null(xml_child(NULL, "x"));
	assert_null(xml_next(NULL, "x"));
	assert_null(xml_child_text(NULL, "x"));
	assert_null(xml_child(acct, "Nope"));
	xmlFreeDoc(doc);
}

static void test_pox_redirect(void **state)
{
	xmlDocPtr doc = parse_ok(pox_redirect);
	xmlNodePtr acct;

	(void)state;
	acct = xml_child(xml_child(xmlDocGetRootElement(doc), "Response"), "Account");
	check_text(acct, "Action", "redirectAddr");
	check_text(acct, "RedirectAddr", "user@other.example.test");
	xmlFreeDoc(doc);
}

/* Local names match whatever the prefix or namespace. */
static void test_namespaces(void **state)
{
	static const char s[] =
	    "<a:Autodiscover xmlns:a=\"urn:one\" xmlns:b=\"urn:two\">"
	    "<b:Response><Account xmlns=\"urn:three\"><b:Action>settings</b:Action>"
	    "<x:Protocol xmlns:x=\"urn:x\"><x:Type>IMAP</x:Type></x:Protocol>"
	    "<Other/><Protocol><Type>WEB</Type></Protocol>"
	    "</Account></b:Response></a:Autodiscover>";
	xmlDocPtr doc = parse_ok(s);
	xmlNodePtr root = xmlDocGetRootElement(doc), acct, p;

	(void)state;
	assert_string_equal((const char *)root->name, "Autodiscover");
	acct = xml_child(xml_child(root, "Response"), "Account");
	assert_non_null(acct);
	check_text(acct, "Action", "settings");
	p = xml_child(acct, "Protocol");
	check_text(p, "Type", "IMAP");
	p = xml_next(p, "Protocol");
	check_text(p, "Type", "WEB");
	assert_null(xml_next(p, "Protocol"));
	/* the document node works as a parent too */
	assert_ptr_equal(xml_child((xmlNodePtr)doc, "Autodiscover"), root);
	xmlFreeDoc(doc);
}

/* Parse with stderr captured; returns what libxml2 would have printed. */
static int parse_quietly(const char *s, size_t len, struct mf_error *err, struct buf *printed)
{
	char path[] = "/tmp/mf-test-xml-XXXXXX";
	int fd = mkstemp(path), saved, rc;
	xmlDocPtr doc = NULL;
	char chunk[512];
	ssize_t n;

	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	rc = xml_parse_safe(s, len, &doc, err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_append(printed, chunk, (size_t)n);
	close(fd);
	if (rc == 0)
		xmlFreeDoc(doc);
	else
		assert_null(doc);
	return rc;
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "<a><b></a>",	   "",
	    "not xml at all",	   "<a>&undeclared;</a>",
	    "<a x='1' x='2'/>",	   "<a></a><b></b>",
	    "<a:b xmlns:c='u'/>x",
	};
	struct buf printed = BUF_INIT;
	struct mf_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mf_error_clear(&err);
		assert_int_equal(parse_quietly(bad[i], strlen(bad[i]), &err, &printed), MF_EPROTO);
		assert_int_equal(strncmp(err.msg, "malformed XML", 13), 0);
	}
	mf_error_clear(&err);
	parse_quietly(bad[0], strlen(bad[0]), &err, &printed);
	assert_non_null(strstr(err.msg, "Opening and ending tag mismatch"));
	assert_non_null(strstr(err.msg, "(line 1)"));
	assert_null(strchr(err.msg, '\n'));
	/* nothing went to stderr */
	assert_int_equal(printed.len, 0);
	buf_free(&printed);
}

static void test_xxe_refused(void **state)
{
	static const char *const xxe[] = {
	    "<?xml version=\"1.0\"?>\n"
	    "<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
	    "<Autodiscover><Response><Account><Action>&xxe;</Action></Account></Response></"
	    "Autodiscover>",
	    "<!DOCTYPE foo SYSTEM \"file:///etc/passwd\"><foo/>",
	    "<!DOCTYPE foo [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><foo/>",
	    "<!DOCTYPE foo [<!ENTITY net SYSTEM \"http://127.0.0.1:9/x\">]><foo>&net;</foo>",
	};
	struct buf printed = BUF_INIT;
	struct mf_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(xxe) / sizeof(xxe[0]); i++) {
		assert_int_equal(parse_quietly(xxe[i], strlen(xxe[i]), &err, &printed), MF_EPROTO);
		assert_string_equal(err.msg, "XML with a DTD refused");
	}
	assert_null(strstr(buf_cstr(&printed), "root:"));
	assert_int_equal(printed.len, 0);
	/* an entity reference with no DTD is plain malformed */
	assert_int_equal(parse_quietly("<a>&xxe;</a>", 12, &err, &printed), MF_EPROTO);
	assert_null(strstr(err.msg, "root:"));
	buf_free(&printed);
}

static void test_billion_laughs(void **state)
{
	struct buf s = BUF_INIT, printed = BUF_INIT;
	struct mf_error err;
	int64_t t0;

	(void)state;
	buf_puts(&s, "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
	for (int i = 1; i <= 9; i++) {
		buf_printf(&s, " <!ENTITY lol%d \"", i);
		for (int j = 0; j < 10; j++)
			buf_printf(&s, "&lol%.0d;", i - 1);
		buf_puts(&s, "\">\n");
	}
	buf_puts(&s, "]>\n<lolz>&lol9;</lolz>\n");
	assert_non_null(strstr(buf_cstr(&s), "&lol;&lol;"));
	t0 = mf_now_ms();
	assert_int_equal(parse_quietly(s.data, s.len, &err, &printed), MF_EPROTO);
	assert_true(mf_now_ms() - t0 < 500);
	assert_string_equal(err.msg, "XML with a DTD refused");
	buf_free(&s);
	buf_free(&printed);
}

static void test_any_doctype_refused(void **state)
{
	/* the same in UTF-16LE with a byte-order mark */
	static const char ascii[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-16\"?><!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>";
	struct buf u16 = BUF_INIT;
	struct mf_error err;
	xmlDocPtr doc = NULL;

	(void)state;
	assert_int_equal(xml_parse_safe("<!DOCTYPE html><html/>", 22, &doc, &err), MF_EPROTO);
	assert_string_equal(err.msg, "XML with a DTD refused");
	assert_null(doc);
	assert_int_equal(
	    xml_parse_safe("<?xml version='1.0'?>\n<!DOCTYPE a>\n<a/>", 38, &doc, &err), MF_EPROTO);
	assert_string_equal(err.msg, "XML with a DTD refused");

	buf_append(&u16, "\xff\xfe", 2);
	for (size_t i = 0; ascii[i] != '\0'; i++) {
		buf_putc(&u16, ascii[i]);
		buf_putc(&u16, '\0');
	}
	assert_int_equal(xml_parse_safe(u16.data, u16.len, &doc, &err), MF_EPROTO);
	assert_string_equal(err.msg, "XML with a DTD refused");
	buf_free(&u16);
}

static void test_size_limit(void **state)
{
	const size_t max = 1024 * 1024;
	char *big = malloc(max + 1);
	struct mf_error err;
	xmlDocPtr doc = NULL;

	(void)state;
	assert_non_null(big);
	/* exactly 1 MiB is accepted */
	memcpy(big, "<a>", 3);
	memset(big + 3, 'x', max - 7);
	memcpy(big + max - 4, "</a>", 4);
	assert_int_equal(xml_parse_safe(big, max, &doc, &err), 0);
	assert_non_null(doc);
	xmlFreeDoc(doc);
	doc = NULL;
	/* one byte more is refused before parsing */
	memcpy(big + max - 4, "x</a", 4);
	big[max] = '>';
	assert_int_equal(xml_parse_safe(big, max + 1, &doc, &err), MF_ELIMIT);
	assert_string_equal(err.msg, "XML larger than 1 MiB refused");
	assert_null(doc);
	free(big);
}

/* Errors stay with their own call when threads parse at once. */
struct xml_job {
	int n;
	int bad;
	char msg[MF_ERROR_MSG_MAX];
};

static void *xml_thread(void *arg)
{
	struct xml_job *j = arg;
	char doc_text[64];
	struct mf_error err;

	for (int i = 0; i < 200; i++) {
		xmlDocPtr doc = NULL;

		snprintf(doc_text, sizeof(doc_text), "<t%d>\n<u></t%d>", j->n, j->n);
		if (xml_parse_safe(doc_text, strlen(doc_text), &doc, &err) != MF_EPROTO)
			j->bad++;
		else
			snprintf(j->msg, sizeof(j->msg), "%s", err.msg);
		if (strstr(err.msg, "(line 2)") == NULL)
			j->bad++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct xml_job jobs[4];
	pthread_t t[4];
	char want[32];

	(void)state;
	for (int i = 0; i < 4; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].n = i;
		assert_int_equal(pthread_create(&t[i], NULL, xml_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(jobs[i].bad, 0);
		snprintf(want, sizeof(want), "and t%d", i);
		assert_non_null(strstr(jobs[i].msg, want));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pox_settings),
	    cmocka_unit_test(test_pox_redirect),
	    cmocka_unit_test(test_namespaces),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_xxe_refused),
	    cmocka_unit_test(test_billion_laughs),
	    cmocka_unit_test(test_any_doctype_refused),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
