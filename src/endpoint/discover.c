/* discover.c: endpoint settings from autodiscover (discover.h). */
#include "endpoint/discover.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

static bool disc_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static bool disc_is(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

/* Set *field to value when it is unset (value may be NULL). */
static void disc_fill(char **field, const char *value)
{
	if (disc_set(*field) || !disc_set(value))
		return;
	free(*field);
	*field = xstrdup(value);
}

/* The host of an https URL, malloc'd, or NULL. */
static char *disc_url_host(const char *url)
{
	const char *p, *end;

	if (url == NULL || strncasecmp(url, "https://", 8) != 0)
		return NULL;
	p = url + 8;
	end = p + strcspn(p, ":/?#");
	if (end == p)
		return NULL;
	return xstrndup(p, (size_t)(end - p));
}

void endpoint_from_candidate(struct store_endpoint *ep, const struct ad_candidate *c,
			     const char *email)
{
	if (disc_is(c->protocol, "imap")) {
		disc_fill(&ep->type, "imap");
		disc_fill(&ep->server, c->server);
		if (ep->port == 0)
			ep->port = c->port;
		disc_fill(&ep->security, c->security);
		disc_fill(&ep->auth, c->auth);
	} else {
		char *ews_host = disc_url_host(c->ews_url);

		if (ews_host != NULL)
			disc_fill(&ep->type, "exchange-remote");
		else if (disc_set(c->rpc_proxy_server))
			disc_fill(&ep->type, "outlook-anywhere");
		else
			disc_fill(&ep->type, "exchange-remote");
		if (disc_is(ep->type, "outlook-anywhere")) {
			disc_fill(&ep->rpc_proxy_server,
				  disc_set(c->rpc_proxy_server) ? c->rpc_proxy_server : ews_host);
			disc_fill(&ep->server, ep->rpc_proxy_server);
		} else {
			disc_fill(&ep->server, ews_host != NULL ? ews_host
					       : disc_set(c->exchange_server)
						   ? c->exchange_server
						   : c->rpc_proxy_server);
			disc_fill(&ep->rpc_proxy_server, c->rpc_proxy_server);
		}
		disc_fill(&ep->exchange_server, c->exchange_server);
		if (disc_is(c->auth_package, "basic") || disc_is(c->auth_package, "ntlm"))
			disc_fill(&ep->auth, c->auth_package);
		free(ews_host);
	}
	disc_fill(&ep->email_address, email);
}

static enum ad_protocol disc_type_proto(const char *type)
{
	if (disc_is(type, "imap"))
		return AD_PROTO_IMAP;
	if (disc_is(type, "exchange-remote") || disc_is(type, "outlook-anywhere"))
		return AD_PROTO_EXCHANGE;
	return AD_PROTO_ANY;
}

int endpoint_discover(const char *email, enum ad_protocol proto, const char *user,
		      const char *password, bool allow_untrusted, FILE *trace,
		      struct store_endpoint *ep_out, json_t **result_r, struct mf_error *err)
{
	struct ad_opts o = {
		.email = email,
		.protocol = proto,
		.user = user,
		.password = password,
		.allow_untrusted = allow_untrusted,
		.verify = true,
		.trace = trace,
	};
	struct ad_result res;
	int rc;

	if (result_r != NULL)
		*result_r = NULL;
	if (disc_set(ep_out->type)) {
		enum ad_protocol tp = disc_type_proto(ep_out->type);

		if (proto == AD_PROTO_ANY)
			o.protocol = tp;
		else if (tp != AD_PROTO_ANY && tp != proto)
			return mf_error_set(err, MF_EINVAL,
					    "--protocol %s does not fit --type %s",
					    proto == AD_PROTO_IMAP ? "imap" : "exchange",
					    ep_out->type);
	}
	rc = autodiscover_run(&o, &res, err);
	if (rc < 0)
		return rc;
	if (result_r != NULL)
		*result_r = autodiscover_result_json(&res);
	if (res.chosen < 0) {
		if (autodiscover_exit_code(&res) == AD_EXIT_NEEDS_CONFIRMATION)
			rc = mf_error_set(err, MF_ENOTFOUND,
					  "no usable server settings found for %s: only candidates "
					  "that need --allow-untrusted-candidates",
					  res.email);
		else
			rc = mf_error_set(err, MF_ENOTFOUND,
					  "no usable server settings found for %s", res.email);
	} else {
		endpoint_from_candidate(ep_out, &res.cands[res.chosen], res.email);
	}
	autodiscover_result_free(&res);
	return rc;
}
