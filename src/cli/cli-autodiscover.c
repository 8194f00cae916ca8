/* cli-autodiscover.c: `mailferry autodiscover EMAIL` and the discovery step
 * of `endpoint new --autodiscover` (docs/autodiscover.md).
 *
 * Both print from the documented JSON document of the discovery
 * (autodiscover_result_json()), so the text and the JSON forms cannot
 * drift apart. When nothing is chosen, the library's failure text goes to
 * stderr (its last line says how to enter the server by hand) and the exit
 * code is 30 or 31. The password for POX lives only between reading it and
 * the end of the discovery (mf_secret_free()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli-args.h"
#include "cli-cmd.h"
#include "cli-output.h"
#include "cli-password.h"
#include "endpoint/discover.h"
#include "proto/autodiscover/autodiscover.h"
#include "proto/http/http.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* The whole discovery gets this long, or twice --timeout when longer. */
#define CLI_AD_DEADLINE_MS 60000

static enum ad_protocol cli_ad_protocol(const char *p)
{
	if (p != NULL && strcmp(p, "imap") == 0)
		return AD_PROTO_IMAP;
	if (p != NULL && strcmp(p, "exchange") == 0)
		return AD_PROTO_EXCHANGE;
	return AD_PROTO_ANY;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool jtrue(const json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

/* "imap HOST:PORT SECURITY" or "exchange URL-or-HOST". */
static void cand_headline(struct buf *b, const json_t *c)
{
	const char *proto = jstr(c, "Protocol");

	if (proto != NULL && strcmp(proto, "imap") == 0) {
		buf_printf(b, "imap %s:%lld %s", jstr(c, "Server") ? jstr(c, "Server") : "?",
			   (long long)json_integer_value(json_object_get(c, "Port")),
			   jstr(c, "Security") ? jstr(c, "Security") : "?");
		return;
	}
	buf_printf(b, "exchange %s",
		   jstr(c, "EwsUrl")	       ? jstr(c, "EwsUrl")
		   : jstr(c, "RpcProxyServer") ? jstr(c, "RpcProxyServer")
		   : jstr(c, "ExchangeServer") ? jstr(c, "ExchangeServer")
					       : "?");
}

/* The endpoint type that would store candidate c. */
static const char *cand_type(const json_t *c)
{
	const char *proto = jstr(c, "Protocol");

	if (proto != NULL && strcmp(proto, "imap") == 0)
		return "imap";
	if (jstr(c, "EwsUrl") == NULL && jstr(c, "RpcProxyServer") != NULL)
		return "outlook-anywhere";
	return "exchange-remote";
}

/* One "Key : value" line from obj's member key. */
static void kv_add(struct cli_kv *kv, size_t *n, const char *key, const json_t *obj)
{
	kv[(*n)++] = (struct cli_kv){ key, cli_json_text(json_object_get(obj, key)) };
}

/* Format-List of the chosen candidate: the fields of its protocol. */
static void print_chosen(FILE *out, const json_t *doc)
{
	static const char *const imap_keys[] = { "Server", "Port", "Security", "Auth",
						 "UserName", NULL };
	static const char *const exch_keys[] = { "EwsUrl", "ExchangeServer", "RpcProxyServer",
						 "AuthPackage", "OwaUrl", NULL };
	static const char *const tail_keys[] = { "Source", "Origin", "Trust", "Verified",
						 "VerifyDetail", "NeedsConfirmation", "Warning",
						 NULL };
	const json_t *c = json_object_get(doc, "Chosen");
	struct cli_kv kv[24];
	size_t n = 0;
	const char *const *keys;

	kv_add(kv, &n, "EmailAddress", doc);
	kv_add(kv, &n, "Result", doc);
	if (json_is_object(c)) {
		kv_add(kv, &n, "Protocol", c);
		keys = strcmp(cand_type(c), "imap") == 0 ? imap_keys : exch_keys;
		for (size_t i = 0; keys[i] != NULL; i++)
			kv_add(kv, &n, keys[i], c);
		for (size_t i = 0; tail_keys[i] != NULL; i++)
			kv_add(kv, &n, tail_keys[i], c);
	}
	cli_print_kv(out, kv, n);
	cli_kv_free(kv, n);
}

/* Every candidate, best first, with where it came from and its checks. */
static void print_candidates(FILE *out, const json_t *doc)
{
	const json_t *cands = json_object_get(doc, "Candidates");
	const json_t *c;
	size_t i;

	if (json_array_size(cands) == 0) {
		fputs("\nNo candidates.\n", out);
		return;
	}
	fputs("\nCandidates (best first):\n", out);
	json_array_foreach(cands, i, c) {
		struct buf b = BUF_INIT;
		const char *detail = jstr(c, "VerifyDetail");

		cand_headline(&b, c);
		if (jtrue(c, "Chosen"))
			buf_puts(&b, "  [chosen]");
		else if (!jtrue(c, "Usable"))
			buf_puts(&b, "  [not usable]");
		if (jtrue(c, "NeedsConfirmation"))
			buf_puts(&b, "  [needs confirmation]");
		fprintf(out, "  %zu. %s\n", i + 1, b.data);
		fprintf(out, "     from %s: %s; trust %s, rank %lld\n", jstr(c, "Source"),
			jstr(c, "Origin") ? jstr(c, "Origin") : "?",
			jstr(c, "Trust") ? jstr(c, "Trust") : "?",
			(long long)json_integer_value(json_object_get(c, "Rank")));
		if (jstr(c, "UserName") != NULL || jstr(c, "Auth") != NULL)
			fprintf(out, "     login name: %s, auth: %s\n",
				jstr(c, "UserName") ? jstr(c, "UserName") : "-",
				jstr(c, "Auth") ? jstr(c, "Auth") : "-");
		fprintf(out, "     %s: %s\n", jtrue(c, "Verified") ? "verified" : "not verified",
			detail != NULL ? detail : "-");
		if (jstr(c, "Warning") != NULL)
			fprintf(out, "     warning: %s\n", jstr(c, "Warning"));
		buf_free(&b);
	}
}

/* One row per source: Source, Outcome, Reason. */
static void print_sources(FILE *out, const json_t *doc)
{
	static const char *const hdr[] = { "Source", "Outcome", "Reason" };
	const json_t *srcs = json_object_get(doc, "Sources");
	size_t n = json_array_size(srcs);
	char **cells = xcalloc(n * 3 + 1, sizeof(*cells));
	const json_t *s;
	size_t i;

	json_array_foreach(srcs, i, s) {
		cells[i * 3] = cli_json_text(json_object_get(s, "Source"));
		cells[i * 3 + 1] = cli_json_text(json_object_get(s, "Outcome"));
		cells[i * 3 + 2] = cli_json_text(json_object_get(s, "Reason"));
	}
	fputs("\nSources:\n", out);
	cli_print_table(out, hdr, 3, cells, n);
	for (i = 0; i < n * 3; i++)
		free(cells[i]);
	free(cells);
}

/* The failure text (the document's Message) on stderr. */
static void print_failure(const json_t *doc)
{
	const char *msg = jstr(doc, "Message");

	fflush(stdout);
	if (msg == NULL)
		return;
	fputs(msg, stderr);
	if (msg[0] != '\0' && msg[strlen(msg) - 1] != '\n')
		fputc('\n', stderr);
}

/* The process exit code for a document: its ExitCode (0, 30, 31). */
static int doc_exit_code(const json_t *doc)
{
	json_int_t code = json_integer_value(json_object_get(doc, "ExitCode"));

	if (code == AD_EXIT_NOT_FOUND)
		return CLI_EXIT_NOT_DISCOVERED;
	if (code == AD_EXIT_NEEDS_CONFIRMATION)
		return CLI_EXIT_NEEDS_CONFIRMATION;
	return json_is_object(json_object_get(doc, "Chosen")) ? CLI_EXIT_OK
							      : CLI_EXIT_NOT_DISCOVERED;
}

static int password_failed(const struct cli_opts *o, const struct mf_error *err)
{
	if (err->code != MF_EINVAL) {
		cli_error("%s", err->msg);
		return CLI_EXIT_FAIL;
	}
	return cli_usage_error(o, "%s", err->msg);
}

/* The POX password: the administrator's, or the address's own when only a
 * password source is given. *pw_r stays NULL without either. */
static int read_pox_password(const struct cli_opts *o, char **pw_r)
{
	struct mf_error err = { 0 };
	int rc = 0;

	*pw_r = NULL;
	if (o->set.admin_user != NULL) {
		if (o->set.admin_user[0] == '\0')
			return cli_usage_error(o, "--admin-user needs a user name");
		rc = cli_password_get(o, "--admin-user", o->set.admin_user, true, pw_r, &err);
	} else if (cli_password_given(o)) {
		rc = cli_password_get(o, "the address", o->name, true, pw_r, &err);
	}
	return rc < 0 ? password_failed(o, &err) : 0;
}

int cli_autodiscover(const struct cli_opts *o)
{
	struct ad_opts ao = {
		.email = o->name,
		.protocol = cli_ad_protocol(o->protocol),
		.user = o->set.admin_user,
		.request_timeout_ms = o->timeout_s * 1000,
		.deadline_ms = o->timeout_s * 2000 > CLI_AD_DEADLINE_MS ? o->timeout_s * 2000
								       : CLI_AD_DEADLINE_MS,
		.allow_untrusted = o->allow_untrusted_cands,
		.verify = true,
		.trace = o->trace ? stderr : NULL,
	};
	struct mf_error err = { 0 };
	struct ad_result res;
	char *pw = NULL;
	json_t *doc;
	int rc;

	rc = read_pox_password(o, &pw);
	if (rc != 0)
		return rc;
	http_global_init();
	ao.password = pw;
	rc = autodiscover_run(&ao, &res, &err);
	mf_secret_free(&pw);
	if (rc == MF_EINVAL)
		return cli_usage_error(o, "%s", err.msg);
	if (rc < 0) {
		cli_error("autodiscover for %s failed: %s", o->name, err.msg);
		return CLI_EXIT_FAIL;
	}
	doc = autodiscover_result_json(&res);
	autodiscover_result_free(&res);
	rc = doc_exit_code(doc);

	if (o->json) {
		cli_print_json(stdout, doc);
	} else {
		print_chosen(stdout, doc);
		print_candidates(stdout, doc);
		if (rc == CLI_EXIT_OK) {
			const json_t *c = json_object_get(doc, "Chosen");

			print_sources(stdout, doc);
			printf("\nTo store these settings: mailferry endpoint new NAME --type %s "
			       "--autodiscover --email-address %s%s\n",
			       cand_type(c), jstr(doc, "EmailAddress"),
			       jtrue(c, "NeedsConfirmation") ? " --allow-untrusted-candidates"
							     : "");
		}
	}
	if (rc != CLI_EXIT_OK)
		print_failure(doc);
	json_decref(doc);
	return rc;
}

/* ---- endpoint new --autodiscover ----------------------------------------- */

/* The fields endpoint_discover() may fill, to tell what it filled. */
struct ep_snapshot {
	char *type, *server, *security, *auth, *exchange_server, *rpc_proxy_server;
	int port;
};

static char *dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

static void snapshot_take(struct ep_snapshot *s, const struct store_endpoint *ep)
{
	s->type = dup_or_null(ep->type);
	s->server = dup_or_null(ep->server);
	s->security = dup_or_null(ep->security);
	s->auth = dup_or_null(ep->auth);
	s->exchange_server = dup_or_null(ep->exchange_server);
	s->rpc_proxy_server = dup_or_null(ep->rpc_proxy_server);
	s->port = ep->port;
}

static void snapshot_free(struct ep_snapshot *s)
{
	free(s->type);
	free(s->server);
	free(s->security);
	free(s->auth);
	free(s->exchange_server);
	free(s->rpc_proxy_server);
}

static void filled_str(struct buf *b, const char *opt, const char *was, const char *now)
{
	if (was != NULL || now == NULL || now[0] == '\0')
		return;
	buf_printf(b, "%s%s %s", b->len > 0 ? ", " : "", opt, now);
}

/* "--type imap, --server h, --port 993, ..." for what the discovery set. */
static char *filled_list(const struct ep_snapshot *s, const struct store_endpoint *ep)
{
	struct buf b = BUF_INIT;

	filled_str(&b, "--type", s->type, ep->type);
	filled_str(&b, "--server", s->server, ep->server);
	if (s->port == 0 && ep->port != 0)
		buf_printf(&b, "%s--port %d", b.len > 0 ? ", " : "", ep->port);
	filled_str(&b, "--security", s->security, ep->security);
	filled_str(&b, "--auth", s->auth, ep->auth);
	filled_str(&b, "--exchange-server", s->exchange_server, ep->exchange_server);
	filled_str(&b, "--rpc-proxy-server", s->rpc_proxy_server, ep->rpc_proxy_server);
	if (b.len == 0)
		buf_puts(&b, "nothing (every setting was given)");
	return buf_steal(&b);
}

/* How the line named an endpoint type: "--type imap", or the cmdlet's
 * switch ("-IMAP"). */
static const char *type_words(const struct cli_opts *o, const char *type)
{
	if (o->cmdlet == NULL)
		return strcmp(type, "imap") == 0	       ? "--type imap"
		       : strcmp(type, "outlook-anywhere") == 0 ? "--type outlook-anywhere"
							       : "--type exchange-remote";
	return strcmp(type, "imap") == 0	       ? "-IMAP"
	       : strcmp(type, "outlook-anywhere") == 0 ? "-ExchangeOutlookAnywhere"
						       : "-ExchangeRemoteMove";
}

/* When nothing of the wanted protocol was found but something of the
 * other was: say so plainly (asked imap, found only Exchange). */
static void explain_mismatch(const struct cli_opts *o, const json_t *doc, const char *type)
{
	const json_t *cands = json_object_get(doc, "Candidates");
	const json_t *c, *other = NULL;
	const char *want;
	struct buf b = BUF_INIT;
	size_t i;

	if (type == NULL)
		return;
	want = strcmp(type, "imap") == 0 ? "imap" : "exchange";
	json_array_foreach(cands, i, c) {
		const char *p = jstr(c, "Protocol");

		if (p != NULL && strcmp(p, want) == 0)
			return;
		if (other == NULL)
			other = c;
	}
	if (other == NULL)
		return;
	cand_headline(&b, other);
	if (strcmp(want, "imap") == 0)
		cli_error("%s: the discovery found only Exchange settings (%s, from %s); for "
			  "those create the endpoint with %s (or %s)",
			  type_words(o, type), b.data, jstr(other, "Source"),
			  type_words(o, "exchange-remote"), type_words(o, "outlook-anywhere"));
	else
		cli_error("%s: the discovery found only IMAP settings (%s, from %s); for those "
			  "create the endpoint with %s",
			  type_words(o, type), b.data, jstr(other, "Source"),
			  type_words(o, "imap"));
	buf_free(&b);
}

/* What was discovered, before the endpoint itself is printed. */
static void print_discovered(const json_t *doc, const char *filled)
{
	const json_t *c = json_object_get(doc, "Chosen");
	struct buf b = BUF_INIT;

	cand_headline(&b, c);
	printf("Autodiscover for %s: %s, from %s (%s)\n", jstr(doc, "EmailAddress"), b.data,
	       jstr(c, "Source"), jstr(c, "Origin") ? jstr(c, "Origin") : "?");
	if (jstr(c, "VerifyDetail") != NULL)
		printf("  %s: %s\n", jtrue(c, "Verified") ? "verified" : "not verified",
		       jstr(c, "VerifyDetail"));
	if (jstr(c, "Warning") != NULL)
		printf("  warning: %s\n", jstr(c, "Warning"));
	printf("  filled: %s\n\n", filled);
	buf_free(&b);
}

int cli_autodiscover_endpoint(const struct cli_opts *o, struct store_endpoint *ep,
			      const char *admin_pw, json_t **doc_r)
{
	struct ep_snapshot before = { 0 };
	struct mf_error err = { 0 };
	json_t *doc = NULL;
	char *type = dup_or_null(ep->type);
	int rc;

	*doc_r = NULL;
	snapshot_take(&before, ep);
	http_global_init();
	rc = endpoint_discover(o->set.email_address, cli_ad_protocol(o->protocol),
			       admin_pw != NULL ? ep->admin_user : NULL, admin_pw,
			       o->allow_untrusted_cands, o->trace ? stderr : NULL, ep, &doc, &err);
	if (rc == 0) {
		const json_t *c = json_object_get(doc, "Chosen");
		char *filled;

		/* A --security given without --port: the discovered port belongs
		 * to the discovered security, so the default of the given one
		 * applies instead (as for `endpoint set --security`). */
		if (before.port == 0 && o->set.security != NULL && jstr(c, "Security") != NULL &&
		    strcmp(jstr(c, "Security"), o->set.security) != 0)
			ep->port = 0;
		filled = filled_list(&before, ep);
		if (!o->json)
			print_discovered(doc, filled);
		free(filled);
		*doc_r = doc;
		doc = NULL;
	} else if (rc == MF_EINVAL) {
		rc = cli_usage_error(o, "%s", err.msg);
	} else if (rc == MF_ENOTFOUND && doc != NULL) {
		if (o->json)
			cli_print_json(stdout, doc);
		cli_error("%s; nothing was stored", err.msg);
		explain_mismatch(o, doc, type);
		print_failure(doc);
		rc = doc_exit_code(doc);
	} else {
		cli_error("autodiscover for %s failed: %s", o->set.email_address, err.msg);
		rc = CLI_EXIT_FAIL;
	}
	json_decref(doc);
	snapshot_free(&before);
	free(type);
	return rc;
}
