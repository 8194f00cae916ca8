/* Unit tests for src/proto/autodiscover/ad-result.c: ranking by protocol
 * preference and trust, which candidate is chosen (live check, confirmation,
 * --protocol), the exit code, the failure text and the JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/autodiscover/ad-private.h"
#include "util/xmalloc.h"

struct fixture {
	struct ad_result res;
};

static struct ad_candidate *add(struct ad_result *r, const char *source, const char *proto,
				enum ad_trust trust)
{
	struct ad_candidate *c;

	r->cands = xreallocarray(r->cands, r->ncands + 1, sizeof(*r->cands));
	c = &r->cands[r->ncands++];
	memset(c, 0, sizeof(*c));
	c->source = xstrdup(source);
	c->origin = xstrdup("test");
	c->protocol = xstrdup(proto);
	c->trust = trust;
	return c;
}

static struct ad_candidate *imap(struct ad_result *r, const char *source, enum ad_trust trust,
				 const char *server, int port, const char *sec, bool verified)
{
	struct ad_candidate *c = add(r, source, "imap", trust);

	c->server = xstrdup(server);
	c->port = port;
	c->security = xstrdup(sec);
	c->verified = verified;
	c->verify_detail = xstrdup(verified ? "greeting and CAPABILITY over TLS ok"
					    : "connect: connection refused");
	return c;
}

static struct ad_candidate *exch(struct ad_result *r, const char *source, enum ad_trust trust,
				 const char *ews)
{
	struct ad_candidate *c = add(r, source, "exchange", trust);

	c->ews_url = xstrdup(ews);
	c->verified = true;
	return c;
}

static void add_source(struct ad_result *r, const char *name, const char *outcome,
		       const char *reason)
{
	struct ad_source_report *s;

	r->sources = xreallocarray(r->sources, r->nsources + 1, sizeof(*r->sources));
	s = &r->sources[r->nsources++];
	s->source = xstrdup(name);
	s->outcome = xstrdup(outcome);
	s->reason = xstrdup(reason);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->res.chosen = -1;
	f->res.email = xstrdup("alice@example.test");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	autodiscover_result_free(&f->res);
	free(f);
	return 0;
}

static const char *chosen_server(const struct ad_result *r)
{
	const struct ad_candidate *c;

	if (r->chosen < 0)
		return NULL;
	c = &r->cands[r->chosen];
	return c->server != NULL ? c->server : c->ews_url;
}

static void test_trust_order(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;

	imap(r, "guess", AD_TRUST_GUESS, "imap.example.test", 993, "tls", true);
	imap(r, "srv", AD_TRUST_SRV, "srv.example.test", 143, "starttls", true);
	imap(r, "mx", AD_TRUST_MX, "mx.example.test", 993, "tls", true);
	imap(r, "autoconfig", AD_TRUST_DOMAIN_HTTPS, "ac.example.test", 143, "starttls", true);
	imap(r, "autoconfig", AD_TRUST_DOMAIN_HTTPS, "ac2.example.test", 993, "tls", true);
	ad_rank_and_choose(r, AD_PROTO_ANY, false, true);
	assert_int_equal(r->chosen, 0);
	/* same trust: tls before starttls; then srv, mx, guess */
	assert_string_equal(r->cands[0].server, "ac2.example.test");
	assert_string_equal(r->cands[1].server, "ac.example.test");
	assert_string_equal(r->cands[2].server, "srv.example.test");
	assert_string_equal(r->cands[3].server, "mx.example.test");
	assert_string_equal(r->cands[4].server, "imap.example.test");
	assert_int_equal(r->cands[0].rank, 110);
	assert_int_equal(r->cands[1].rank, 111);
	assert_int_equal(r->cands[4].rank, 140);
	assert_int_equal(autodiscover_exit_code(r), 0);
}

static void test_authenticated_pox_first_and_stable(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;

	imap(r, "autoconfig", AD_TRUST_DOMAIN_HTTPS, "first.example.test", 993, "tls", true);
	imap(r, "pox", AD_TRUST_AUTH_HTTPS, "pox.example.test", 993, "tls", true);
	imap(r, "autoconfig", AD_TRUST_DOMAIN_HTTPS, "second.example.test", 993, "tls", true);
	ad_rank_and_choose(r, AD_PROTO_IMAP, false, true);
	assert_string_equal(chosen_server(r), "pox.example.test");
	assert_string_equal(r->cands[1].server, "first.example.test");
	assert_string_equal(r->cands[2].server, "second.example.test");
}

static void test_unverified_never_chosen(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;

	imap(r, "pox", AD_TRUST_AUTH_HTTPS, "dead.example.test", 993, "tls", false);
	imap(r, "guess", AD_TRUST_GUESS, "imap.example.test", 993, "tls", true);
	ad_rank_and_choose(r, AD_PROTO_ANY, true, true);
	assert_string_equal(chosen_server(r), "imap.example.test");
	assert_true(r->cands[1].rank >= 10000);
}

static void test_only_unverified(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;

	imap(r, "srv", AD_TRUST_SRV, "dead.example.test", 993, "tls", false);
	ad_rank_and_choose(r, AD_PROTO_ANY, true, true);
	assert_int_equal(r->chosen, -1);
	assert_int_equal(autodiscover_exit_code(r), AD_EXIT_NOT_FOUND);
	/* with live checks off, the caller takes the risk */
	ad_rank_and_choose(r, AD_PROTO_ANY, false, false);
	assert_int_equal(r->chosen, 0);
}

static void test_confirmation(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;
	struct ad_candidate *c;

	c = imap(r, "srv", AD_TRUST_SRV, "imap.elsewhere.test", 993, "tls", true);
	ad_cand_confirm(c, AD_TXT_OUTSIDE, "SRV target", "imap.elsewhere.test", "example.test");
	c = imap(r, "mx", AD_TRUST_MX, "imap.gmail.com", 993, "tls", true);
	ad_cand_confirm(c, AD_TXT_OUTSIDE, "MX-derived server", "imap.gmail.com", "example.test");
	ad_rank_and_choose(r, AD_PROTO_ANY, false, true);
	assert_int_equal(r->chosen, -1);
	assert_int_equal(autodiscover_exit_code(r), AD_EXIT_NEEDS_CONFIRMATION);
	ad_rank_and_choose(r, AD_PROTO_ANY, true, true);
	assert_string_equal(chosen_server(r), "imap.elsewhere.test");
	assert_int_equal(autodiscover_exit_code(r), 0);

	/* a trusted guess beats any candidate that needs confirmation */
	imap(r, "guess", AD_TRUST_GUESS, "imap.example.test", 993, "tls", true);
	ad_rank_and_choose(r, AD_PROTO_ANY, true, true);
	assert_string_equal(chosen_server(r), "imap.example.test");
	assert_null(r->cands[0].warning);
}

static void test_protocol_preference(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;
	struct ad_candidate *c;

	imap(r, "pox", AD_TRUST_AUTH_HTTPS, "imap.example.test", 993, "tls", true);
	exch(r, "autodiscover-v2", AD_TRUST_DOMAIN_HTTPS, "https://mail.example.test/EWS/x.asmx");
	c = exch(r, "mx", AD_TRUST_MX, "https://outlook.office365.com/EWS/Exchange.asmx");
	ad_cand_confirm(c, "outside");

	/* any: exchange first, even from a less trusted source */
	ad_rank_and_choose(r, AD_PROTO_ANY, false, true);
	assert_string_equal(chosen_server(r), "https://mail.example.test/EWS/x.asmx");
	/* imap: only imap */
	ad_rank_and_choose(r, AD_PROTO_IMAP, false, true);
	assert_string_equal(chosen_server(r), "imap.example.test");
	assert_true(r->cands[1].rank >= 10000);
	/* exchange: only exchange */
	ad_rank_and_choose(r, AD_PROTO_EXCHANGE, false, true);
	assert_string_equal(chosen_server(r), "https://mail.example.test/EWS/x.asmx");
}

static void test_protocol_without_match(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;

	exch(r, "pox", AD_TRUST_DOMAIN_HTTPS, "https://mail.example.test/EWS/x.asmx");
	ad_rank_and_choose(r, AD_PROTO_IMAP, false, true);
	assert_int_equal(r->chosen, -1);
	assert_int_equal(autodiscover_exit_code(r), AD_EXIT_NOT_FOUND);
	/* any: confirmation needed beats a protocol preference */
	imap(r, "srv", AD_TRUST_SRV, "imap.example.test", 993, "tls", true);
	ad_cand_confirm(&r->cands[0], "x");
	ad_rank_and_choose(r, AD_PROTO_ANY, true, true);
	assert_string_equal(chosen_server(r), "imap.example.test");
}

static void test_failure_text(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;
	struct ad_candidate *c;
	char *t;

	add_source(r, "pox", "error",
		   "https://example.test/autodiscover/autodiscover.xml -> cannot connect to "
		   "example.test port 443: Connection refused");
	add_source(r, "autodiscover-v2", "skipped",
		   "--protocol imap: Autodiscover v2 only names EWS");
	add_source(r, "srv", "found", "found imap imap.elsewhere.test:993 tls");
	add_source(r, "guess", "nothing",
		   "imap.example.test:993 -> no such host: imap.example.test");
	c = imap(r, "srv", AD_TRUST_SRV, "imap.elsewhere.test", 993, "tls", true);
	ad_cand_confirm(c, AD_TXT_OUTSIDE, "SRV target", "imap.elsewhere.test", "example.test");
	imap(r, "autoconfig", AD_TRUST_DOMAIN_HTTPS, "store.example.test", 993, "tls", false);
	exch(r, "pox", AD_TRUST_DOMAIN_HTTPS, "https://mail.example.test/EWS/Exchange.asmx");
	ad_rank_and_choose(r, AD_PROTO_IMAP, false, true);
	t = autodiscover_failure_text(r);
	assert_string_equal(
		t,
		"The Autodiscover service couldn't be located for alice@example.test.\n"
		"pox: https://example.test/autodiscover/autodiscover.xml -> cannot connect to "
		"example.test port 443: Connection refused\n"
		"srv: found imap imap.elsewhere.test:993 tls\n"
		"guess: imap.example.test:993 -> no such host: imap.example.test\n"
		"Found but not used:\n"
		"  imap imap.elsewhere.test:993 tls (srv): needs confirmation: SRV target "
		"imap.elsewhere.test is outside example.test: use --allow-untrusted-candidates to "
		"accept it\n"
		"  imap store.example.test:993 tls (autoconfig): live check failed: connect: "
		"connection refused\n"
		"Only candidates that need confirmation were found: check them, and rerun with "
		"--allow-untrusted-candidates to use them.\n"
		"Enter the server by hand: mailferry endpoint new NAME --type imap --server HOST "
		"[--port PORT] [--security tls|starttls]");
	free(t);

	ad_rank_and_choose(r, AD_PROTO_EXCHANGE, false, true);
	assert_int_equal(r->chosen, 0);
	r->chosen = -1; /* pretend: to see the last line for Exchange */
	t = autodiscover_failure_text(r);
	assert_non_null(strstr(t, "Enter the server by hand: mailferry endpoint new NAME --type "
				  "exchange-remote --server HOST (or --type outlook-anywhere "
				  "--rpc-proxy-server HOST)"));
	free(t);
}

static void test_json(void **state)
{
	struct ad_result *r = &((struct fixture *)*state)->res;
	struct ad_candidate *c;
	json_t *j, *cand;

	add_source(r, "srv", "found", "found imap imap.example.test:993 tls");
	c = imap(r, "srv", AD_TRUST_SRV, "imap.example.test", 993, "tls", true);
	c->auth = xstrdup("plain");
	exch(r, "pox", AD_TRUST_DOMAIN_HTTPS, "https://mail.example.test/EWS/Exchange.asmx");
	ad_rank_and_choose(r, AD_PROTO_IMAP, false, true);
	j = autodiscover_result_json(r);
	assert_string_equal(json_string_value(json_object_get(j, "EmailAddress")),
			    "alice@example.test");
	assert_string_equal(json_string_value(json_object_get(j, "Result")), "Found");
	assert_int_equal(json_integer_value(json_object_get(j, "ExitCode")), 0);
	assert_true(json_is_null(json_object_get(j, "Message")));
	cand = json_object_get(j, "Chosen");
	assert_string_equal(json_string_value(json_object_get(cand, "Server")),
			    "imap.example.test");
	assert_int_equal(json_integer_value(json_object_get(cand, "Port")), 993);
	assert_string_equal(json_string_value(json_object_get(cand, "Trust")), "srv");
	assert_string_equal(json_string_value(json_object_get(cand, "Auth")), "plain");
	assert_true(json_is_true(json_object_get(cand, "Verified")));
	assert_true(json_is_true(json_object_get(cand, "Usable")));
	assert_true(json_is_true(json_object_get(cand, "Chosen")));
	assert_true(json_is_false(json_object_get(cand, "NeedsConfirmation")));
	assert_int_equal(json_array_size(json_object_get(j, "Candidates")), 2);
	cand = json_array_get(json_object_get(j, "Candidates"), 1);
	assert_true(json_is_null(json_object_get(cand, "Port")));
	assert_true(json_is_false(json_object_get(cand, "Usable")));
	assert_true(json_is_false(json_object_get(cand, "Chosen")));
	assert_string_equal(json_string_value(json_object_get(cand, "EwsUrl")),
			    "https://mail.example.test/EWS/Exchange.asmx");
	cand = json_array_get(json_object_get(j, "Sources"), 0);
	assert_string_equal(json_string_value(json_object_get(cand, "Outcome")), "found");
	json_decref(j);

	ad_rank_and_choose(r, AD_PROTO_IMAP, false, true);
	r->cands[0].verified = false;
	ad_rank_and_choose(r, AD_PROTO_IMAP, false, true);
	j = autodiscover_result_json(r);
	assert_string_equal(json_string_value(json_object_get(j, "Result")), "NotFound");
	assert_int_equal(json_integer_value(json_object_get(j, "ExitCode")), 30);
	assert_true(json_is_null(json_object_get(j, "Chosen")));
	assert_non_null(strstr(json_string_value(json_object_get(j, "Message")),
			       "The Autodiscover service couldn't be located"));
	json_decref(j);
}

static void test_trust_names(void **state)
{
	(void)state;
	assert_string_equal(ad_trust_name(AD_TRUST_AUTH_HTTPS), "authenticated-https");
	assert_string_equal(ad_trust_name(AD_TRUST_DOMAIN_HTTPS), "domain-https");
	assert_string_equal(ad_trust_name(AD_TRUST_SRV), "srv");
	assert_string_equal(ad_trust_name(AD_TRUST_MX), "mx");
	assert_string_equal(ad_trust_name(AD_TRUST_GUESS), "guess");
	assert_string_equal(ad_trust_name((enum ad_trust)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trust_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_authenticated_pox_first_and_stable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unverified_never_chosen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_unverified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirmation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_preference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_without_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test(test_trust_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
