/* ad-result.c: ranking and choice, the JSON form, the failure text and the
 * exit code of a discovery (autodiscover.h, docs/autodiscover.md).
 *
 * rank = 10000 if the candidate cannot be chosen at all (another protocol
 *              than asked for; an IMAP server whose live check failed)
 *      + 1000  if it needs confirmation
 *      + 100 * protocol preference (with --protocol any: exchange 0, imap 1)
 *      + 10 * trust (enum ad_trust, best 0)
 *      + security (tls 0, starttls 1, none 2)
 * Lower is better; ties keep the source order (pox, autodiscover-v2,
 * autoconfig, srv, mx, guess) and the order within a source.
 */
#include "proto/autodiscover/ad-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#define AD_RANK_UNUSABLE 10000
#define AD_RANK_CONFIRM 1000

static const char *const ad_trust_names[] = {
	"authenticated-https", "domain-https", "srv", "mx", "guess",
};

const char *ad_trust_name(enum ad_trust t)
{
	if ((int)t < 0 || (size_t)t >= sizeof(ad_trust_names) / sizeof(ad_trust_names[0]))
		return "unknown";
	return ad_trust_names[t];
}

static bool ad_is(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

static bool ad_wanted(const struct ad_candidate *c, enum ad_protocol p)
{
	if (p == AD_PROTO_IMAP)
		return ad_is(c->protocol, "imap");
	if (p == AD_PROTO_EXCHANGE)
		return ad_is(c->protocol, "exchange");
	return true;
}

static int ad_rank_of(const struct ad_candidate *c, enum ad_protocol p, bool verify)
{
	bool imap = ad_is(c->protocol, "imap");
	int rank = 0;

	if (!ad_wanted(c, p) || (imap && verify && !c->verified))
		rank += AD_RANK_UNUSABLE;
	if (c->needs_confirmation)
		rank += AD_RANK_CONFIRM;
	if (p == AD_PROTO_ANY && imap)
		rank += 100;
	rank += 10 * (int)c->trust;
	if (ad_is(c->security, "starttls"))
		rank += 1;
	else if (ad_is(c->security, "none"))
		rank += 2;
	return rank;
}

void ad_rank_and_choose(struct ad_result *res, enum ad_protocol p, bool allow_untrusted,
			bool verify)
{
	res->protocol = p;
	res->allow_untrusted = allow_untrusted;
	for (size_t i = 0; i < res->ncands; i++)
		res->cands[i].rank = ad_rank_of(&res->cands[i], p, verify);
	/* insertion sort: stable, and the lists are short */
	for (size_t i = 1; i < res->ncands; i++) {
		struct ad_candidate c = res->cands[i];
		size_t j = i;

		while (j > 0 && res->cands[j - 1].rank > c.rank) {
			res->cands[j] = res->cands[j - 1];
			j--;
		}
		res->cands[j] = c;
	}
	res->chosen = -1;
	for (size_t i = 0; i < res->ncands; i++) {
		const struct ad_candidate *c = &res->cands[i];

		if (c->rank >= AD_RANK_UNUSABLE)
			break;
		if (!c->needs_confirmation || allow_untrusted) {
			res->chosen = (int)i;
			break;
		}
	}
}

int autodiscover_exit_code(const struct ad_result *res)
{
	if (res->chosen >= 0)
		return 0;
	for (size_t i = 0; i < res->ncands; i++) {
		if (res->cands[i].rank < AD_RANK_UNUSABLE && res->cands[i].needs_confirmation)
			return AD_EXIT_NEEDS_CONFIRMATION;
	}
	return AD_EXIT_NOT_FOUND;
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_t *ad_jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *ad_cand_json(const struct ad_candidate *c, bool chosen)
{
	json_t *o = json_object();

	json_object_set_new(o, "Source", ad_jstr(c->source));
	json_object_set_new(o, "Origin", ad_jstr(c->origin));
	json_object_set_new(o, "Protocol", ad_jstr(c->protocol));
	json_object_set_new(o, "Trust", json_string(ad_trust_name(c->trust)));
	json_object_set_new(o, "Server", ad_jstr(c->server));
	json_object_set_new(o, "Port", c->port > 0 ? json_integer(c->port) : json_null());
	json_object_set_new(o, "Security", ad_jstr(c->security));
	json_object_set_new(o, "Auth", ad_jstr(c->auth));
	json_object_set_new(o, "UserName", ad_jstr(c->username_hint));
	json_object_set_new(o, "EwsUrl", ad_jstr(c->ews_url));
	json_object_set_new(o, "ExchangeServer", ad_jstr(c->exchange_server));
	json_object_set_new(o, "RpcProxyServer", ad_jstr(c->rpc_proxy_server));
	json_object_set_new(o, "AuthPackage", ad_jstr(c->auth_package));
	json_object_set_new(o, "OwaUrl", ad_jstr(c->owa_url));
	json_object_set_new(o, "Verified", json_boolean(c->verified));
	json_object_set_new(o, "VerifyDetail", ad_jstr(c->verify_detail));
	json_object_set_new(o, "NeedsConfirmation", json_boolean(c->needs_confirmation));
	json_object_set_new(o, "Warning", ad_jstr(c->warning));
	json_object_set_new(o, "Usable", json_boolean(c->rank < AD_RANK_UNUSABLE));
	json_object_set_new(o, "Rank", json_integer(c->rank));
	json_object_set_new(o, "Chosen", json_boolean(chosen));
	return o;
}

json_t *autodiscover_result_json(const struct ad_result *res)
{
	json_t *o = json_object();
	json_t *cands = json_array();
	json_t *srcs = json_array();
	int code = autodiscover_exit_code(res);

	json_object_set_new(o, "EmailAddress", ad_jstr(res->email));
	json_object_set_new(o, "Result", json_string(res->chosen >= 0 ? "Found" : "NotFound"));
	json_object_set_new(o, "ExitCode", json_integer(code));
	json_object_set_new(o, "Chosen",
			    res->chosen >= 0 ? ad_cand_json(&res->cands[res->chosen], true)
					     : json_null());
	for (size_t i = 0; i < res->ncands; i++)
		json_array_append_new(cands, ad_cand_json(&res->cands[i], (int)i == res->chosen));
	json_object_set_new(o, "Candidates", cands);
	for (size_t i = 0; i < res->nsources; i++) {
		json_t *s = json_object();

		json_object_set_new(s, "Source", ad_jstr(res->sources[i].source));
		json_object_set_new(s, "Outcome", ad_jstr(res->sources[i].outcome));
		json_object_set_new(s, "Reason", ad_jstr(res->sources[i].reason));
		json_array_append_new(srcs, s);
	}
	json_object_set_new(o, "Sources", srcs);
	if (res->chosen >= 0) {
		json_object_set_new(o, "Message", json_null());
	} else {
		char *text = autodiscover_failure_text(res);

		json_object_set_new(o, "Message", json_string(text));
		free(text);
	}
	return o;
}

/* ---- the failure text --------------------------------------------------------- */

static void ad_cand_line(struct buf *b, const struct ad_candidate *c)
{
	if (ad_is(c->protocol, "imap"))
		buf_printf(b, "  imap %s:%d %s (%s): ", c->server, c->port,
			   c->security != NULL ? c->security : "?", c->source);
	else
		buf_printf(b, "  exchange %s (%s): ",
			   c->ews_url != NULL		  ? c->ews_url
			   : c->rpc_proxy_server != NULL ? c->rpc_proxy_server
							 : c->exchange_server,
			   c->source);
	if (c->rank >= AD_RANK_UNUSABLE)
		buf_printf(b, "live check failed: %s\n",
			   c->verify_detail != NULL ? c->verify_detail : "not checked");
	else
		buf_printf(b, "needs confirmation: %s\n",
			   c->warning != NULL ? c->warning : "untrusted origin");
}

char *autodiscover_failure_text(const struct ad_result *res)
{
	struct buf b = BUF_INIT;
	bool listed = false;
	int code = autodiscover_exit_code(res);

	buf_printf(&b, "The Autodiscover service couldn't be located for %s.\n",
		   res->email != NULL ? res->email : "this address");
	for (size_t i = 0; i < res->nsources; i++) {
		const struct ad_source_report *s = &res->sources[i];

		if (ad_is(s->outcome, "skipped"))
			continue;
		buf_printf(&b, "%s: %s\n", s->source, s->reason != NULL ? s->reason : s->outcome);
	}
	for (size_t i = 0; i < res->ncands; i++) {
		const struct ad_candidate *c = &res->cands[i];

		if (!ad_wanted(c, res->protocol))
			continue;
		if (!listed)
			buf_puts(&b, "Found but not used:\n");
		listed = true;
		ad_cand_line(&b, c);
	}
	if (code == AD_EXIT_NEEDS_CONFIRMATION && !res->allow_untrusted)
		buf_puts(&b, "Only candidates that need confirmation were found: check them, and "
			     "rerun with --allow-untrusted-candidates to use them.\n");
	if (res->protocol == AD_PROTO_EXCHANGE)
		buf_puts(&b, "Enter the server by hand: mailferry endpoint new NAME --type "
			     "exchange-remote --server HOST (or --type outlook-anywhere "
			     "--rpc-proxy-server HOST)");
	else if (res->protocol == AD_PROTO_IMAP)
		buf_puts(&b, "Enter the server by hand: mailferry endpoint new NAME --type imap "
			     "--server HOST [--port PORT] [--security tls|starttls]");
	else
		buf_puts(&b, "Enter the server by hand: mailferry endpoint new NAME --type imap "
			     "--server HOST [--port PORT] [--security tls|starttls], or for "
			     "Exchange --type exchange-remote --server HOST");
	return buf_steal(&b);
}
