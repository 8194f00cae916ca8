/* ad-web.c: the two https sources that are not POX.
 *
 * Autodiscover v2 (the JSON service of Exchange 2016 and later, and of
 * Microsoft 365): GET https://autodiscover.DOMAIN/autodiscover/
 * autodiscover.json?Email=ADDRESS&Protocol=Ews, then the same on DOMAIN;
 * the answer is {"Protocol": "Ews", "Url": "https://..."} or
 * {"ErrorCode": "...", "ErrorMessage": "..."}. No credentials are sent.
 *
 * Mozilla autoconfig (clientConfig version 1.1, as read by Thunderbird):
 * https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=ADDRESS, then
 * https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml. Only https is
 * asked (Thunderbird also tries http; we do not), with no credentials.
 * Every incomingServer of type "imap" becomes a candidate, in document
 * order; %EMAILADDRESS%, %EMAILLOCALPART% and %EMAILDOMAIN% are replaced in
 * hostname and username.
 */
#include "proto/autodiscover/ad-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "proto/xml/xml.h"
#include "util/xmalloc.h"

/* ---- Autodiscover v2 ---------------------------------------------------------- */

int ad_v2_parse(const char *data, size_t len, char **url_r, struct mf_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(data, len, 0, &jerr);
	const char *url, *proto, *code, *msg;
	int rc = 0;

	*url_r = NULL;
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		return mf_error_set(err, MF_EPROTO, "not Autodiscover v2 JSON: %s",
				    root == NULL ? jerr.text : "not an object");
	}
	code = json_string_value(json_object_get(root, "ErrorCode"));
	msg = json_string_value(json_object_get(root, "ErrorMessage"));
	url = json_string_value(json_object_get(root, "Url"));
	proto = json_string_value(json_object_get(root, "Protocol"));
	if (code != NULL)
		rc = mf_error_set(err, MF_ENOTFOUND, "%s: %s", code, msg != NULL ? msg : "");
	else if (url == NULL || url[0] == '\0')
		rc = mf_error_set(err, MF_EPROTO, "Autodiscover v2 answer without Url");
	else if (proto != NULL && strcasecmp(proto, "Ews") != 0)
		rc = mf_error_set(err, MF_EPROTO, "Autodiscover v2 answer for Protocol %s, not Ews",
				  proto);
	else
		*url_r = xstrdup(url);
	json_decref(root);
	return rc;
}

void ad_source_v2(struct ad_src *s)
{
	struct ad_ctx *ctx = s->ctx;
	char *email = ad_pct_encode(ctx->email);
	const char *hosts[2] = { "autodiscover.", "" };
	struct ad_hop hop = { 0 };

	for (size_t i = 0; i < 2; i++) {
		char *url = xasprintf("https://%s%s/autodiscover/autodiscover.json?Email=%s"
				      "&Protocol=Ews",
				      hosts[i], ctx->domain, email);
		struct ad_fetch f = { .url = url };
		struct http_response resp;
		struct mf_error e = { 0 };
		char *final = NULL, *ews = NULL;
		int rc;

		ad_hop_chain(&hop);
		rc = ad_fetch(s, &hop, &f, &resp, &final);
		free(url);
		if (rc < 0)
			continue;
		rc = ad_v2_parse(resp.body.data != NULL ? resp.body.data : "", resp.body.len, &ews,
				 &e);
		http_response_free(&resp);
		if (rc < 0) {
			ad_note(s, rc == MF_ENOTFOUND ? AD_OUT_NOTHING : AD_OUT_ERROR, "%s -> %s",
				final, e.msg);
			ad_trace(s, "%s -> %s", final, e.msg);
		} else if (!ad_url_is_https(ews)) {
			ad_note(s, AD_OUT_REFUSED, "%s -> " AD_TXT_EWS_HTTP, final, ews);
			ad_trace(s, "%s -> " AD_TXT_EWS_HTTP, final, ews);
		} else {
			struct ad_candidate *c =
				ad_cand_add(s, final, "exchange", AD_TRUST_DOMAIN_HTTPS);

			ad_trace(s, "%s -> EWS %s", final, ews);
			c->ews_url = ews;
			ews = NULL;
			c->verified = true;
			c->verify_detail = xstrdup("answer over https with a verified certificate");
			free(final);
			break;
		}
		free(ews);
		free(final);
	}
	ad_hop_free(&hop);
	free(email);
}

/* ---- autoconfig ----------------------------------------------------------------- */

void ad_ac_servers_free(struct ad_ac_server *srv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(srv[i].hostname);
		free(srv[i].security);
		free(srv[i].auth);
		free(srv[i].auth_offered);
		free(srv[i].username);
	}
	free(srv);
}

static const char *ac_security(const char *socket_type)
{
	if (socket_type == NULL || strcasecmp(socket_type, "SSL") == 0)
		return socket_type == NULL ? NULL : "tls";
	if (strcasecmp(socket_type, "STARTTLS") == 0)
		return "starttls";
	if (strcasecmp(socket_type, "plain") == 0)
		return "none";
	return NULL;
}

/* The authentication methods: "plain" when password-cleartext is among
 * them (or none is named); the list as text for a warning otherwise. */
static void ac_auth(xmlNodePtr srv, struct ad_ac_server *out)
{
	struct buf list = BUF_INIT;
	bool cleartext = false, any = false;

	for (xmlNodePtr a = xml_child(srv, "authentication"); a != NULL;
	     a = xml_next(a, "authentication")) {
		xmlChar *t = xmlNodeGetContent(a);
		char *v = t != NULL ? xstrdup((const char *)t) : xstrdup("");

		xmlFree(t);
		/* trim */
		char *p = v + strspn(v, " \t\r\n");
		size_t n = strlen(p);

		while (n > 0 && strchr(" \t\r\n", p[n - 1]) != NULL)
			p[--n] = '\0';
		if (n > 0) {
			any = true;
			if (strcasecmp(p, "password-cleartext") == 0)
				cleartext = true;
			if (list.len > 0)
				buf_puts(&list, ", ");
			buf_puts(&list, p);
		}
		free(v);
	}
	if (cleartext || !any)
		out->auth = xstrdup("plain");
	out->auth_offered = any ? buf_steal(&list) : NULL;
	buf_free(&list);
}

static void ac_skip(struct buf *skipped, const char *fmt, const char *what)
{
	if (skipped->len > 0)
		buf_puts(skipped, ", ");
	buf_printf(skipped, fmt, what);
}

int ad_autoconfig_parse(const char *data, size_t len, const char *email,
			struct ad_ac_server **srv_r, size_t *n_r, char **skipped_r,
			struct mf_error *err)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root, prov;
	struct ad_ac_server *srv = NULL;
	struct buf skipped = BUF_INIT;
	size_t n = 0;
	int rc;

	*srv_r = NULL;
	*n_r = 0;
	*skipped_r = NULL;
	rc = xml_parse_safe(data, len, &doc, err);
	if (rc < 0)
		return rc;
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "clientConfig") != 0) {
		rc = mf_error_set(err, MF_EPROTO, "not an autoconfig document (root element %s)",
				  root != NULL ? (const char *)root->name : "none");
		xmlFreeDoc(doc);
		return rc;
	}
	prov = xml_child(root, "emailProvider");
	for (xmlNodePtr is = prov != NULL ? xml_child(prov, "incomingServer") : NULL; is != NULL;
	     is = xml_next(is, "incomingServer")) {
		xmlChar *type = xmlGetProp(is, (const xmlChar *)"type");
		bool imap = type != NULL && strcasecmp((const char *)type, "imap") == 0;
		char *host_t, *port_t, *sock_t, *user_t, *host;
		const char *sec;
		long port = 0;

		xmlFree(type);
		if (!imap)
			continue;
		host_t = xml_child_text(is, "hostname");
		port_t = xml_child_text(is, "port");
		sock_t = xml_child_text(is, "socketType");
		user_t = xml_child_text(is, "username");
		host = host_t != NULL ? ad_placeholders(host_t, email) : NULL;
		sec = ac_security(sock_t);
		if (port_t != NULL) {
			char *end;

			errno = 0;
			port = strtol(port_t, &end, 10);
			if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
				port = -1;
		}
		if (host == NULL || !ad_host_syntax_ok(host)) {
			ac_skip(&skipped, "hostname '%s'", host != NULL ? host : "");
		} else if (port < 0) {
			ac_skip(&skipped, "port '%s'", port_t);
		} else if (sec == NULL) {
			ac_skip(&skipped, "socketType '%s'", sock_t != NULL ? sock_t : "(none)");
		} else {
			struct ad_ac_server *o;

			srv = xreallocarray(srv, n + 1, sizeof(*srv));
			o = &srv[n++];
			memset(o, 0, sizeof(*o));
			o->hostname = ad_lower(host);
			o->security = xstrdup(sec);
			o->port = port != 0 ? (int)port : (strcmp(sec, "tls") == 0 ? 993 : 143);
			o->username = user_t != NULL ? ad_placeholders(user_t, email) : NULL;
			ac_auth(is, o);
		}
		free(host);
		free(host_t);
		free(port_t);
		free(sock_t);
		free(user_t);
	}
	xmlFreeDoc(doc);
	*srv_r = srv;
	*n_r = n;
	*skipped_r = skipped.len > 0 ? buf_steal(&skipped) : NULL;
	buf_free(&skipped);
	return 0;
}

size_t ad_autoconfig_fetch(struct ad_src *s, const char *cfg_domain, enum ad_trust trust,
			   const char *via)
{
	struct ad_ctx *ctx = s->ctx;
	char *email = ad_pct_encode(ctx->email);
	struct ad_hop hop = { 0 };
	char *urls[2];
	size_t added = 0;

	urls[0] = xasprintf("https://autoconfig.%s/mail/config-v1.1.xml?emailaddress=%s",
			    cfg_domain, email);
	urls[1] = xasprintf("https://%s/.well-known/autoconfig/mail/config-v1.1.xml", cfg_domain);
	for (size_t i = 0; i < 2 && added == 0; i++) {
		struct ad_fetch f = { .url = urls[i] };
		struct http_response resp;
		struct ad_ac_server *srv = NULL;
		struct mf_error e = { 0 };
		char *final = NULL, *skipped = NULL;
		size_t n = 0;
		int rc;

		ad_hop_chain(&hop);
		if (ad_fetch(s, &hop, &f, &resp, &final) < 0)
			continue;
		rc = ad_autoconfig_parse(resp.body.data != NULL ? resp.body.data : "",
					 resp.body.len, ctx->email, &srv, &n, &skipped, &e);
		http_response_free(&resp);
		if (rc < 0) {
			ad_note(s,
				rc == MF_EPROTO || rc == MF_ELIMIT ? AD_OUT_REFUSED : AD_OUT_ERROR,
				"%s -> %s", final, e.msg);
			ad_trace(s, "%s -> %s", final, e.msg);
			free(final);
			continue;
		}
		if (skipped != NULL)
			ad_note(s, AD_OUT_ERROR, "%s -> IMAP servers left out: %s", final, skipped);
		ad_trace(s, "%s -> %zu IMAP server(s)%s%s", final, n,
			 skipped != NULL ? "; left out: " : "", skipped != NULL ? skipped : "");
		if (n == 0 && skipped == NULL)
			ad_note(s, AD_OUT_NOTHING, "%s -> no IMAP server in the configuration",
				final);
		for (size_t j = 0; j < n; j++) {
			struct ad_candidate *c = ad_cand_add(s, final, "imap", trust);

			c->server = srv[j].hostname;
			c->port = srv[j].port;
			c->security = srv[j].security;
			c->auth = srv[j].auth;
			c->username_hint = srv[j].username;
			srv[j].hostname = srv[j].security = srv[j].auth = srv[j].username = NULL;
			if (c->auth == NULL)
				c->warning = xasprintf("the configuration names only %s for this "
						       "server; mailferry logs in with a password",
						       srv[j].auth_offered);
			if (via != NULL && !ad_host_in_domain(c->server, ctx->domain))
				ad_cand_confirm(c, AD_TXT_OUTSIDE " (found through MX host %s)",
						"MX-derived server", c->server, ctx->domain, via);
			ad_verify(s, c);
			added++;
		}
		ad_ac_servers_free(srv, n);
		free(skipped);
		free(final);
	}
	free(urls[0]);
	free(urls[1]);
	ad_hop_free(&hop);
	free(email);
	return added;
}

void ad_source_autoconfig(struct ad_src *s)
{
	ad_autoconfig_fetch(s, s->ctx->domain, AD_TRUST_DOMAIN_HTTPS, NULL);
}
