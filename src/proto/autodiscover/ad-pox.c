/* ad-pox.c: Exchange POX Autodiscover (MS-OXDISCO, MS-OXDSCLI).
 *
 * For the address's domain, in the order of MS-OXDSCLI section 3.1.5 (the
 * Active Directory SCP step does not apply outside a Windows domain):
 *   1. POST https://DOMAIN/autodiscover/autodiscover.xml
 *   2. POST https://autodiscover.DOMAIN/autodiscover/autodiscover.xml
 *   3. GET  http://autodiscover.DOMAIN/autodiscover/autodiscover.xml without
 *      credentials; a 3xx to https is POSTed to (section 3.1.5.3)
 *   4. SRV _autodiscover._tcp.DOMAIN: POST https://TARGET[:PORT]/autodiscover/
 *      autodiscover.xml (section 3.1.5.4)
 * Steps 3 and 4 rest on unauthenticated answers (plain http, DNS): a target
 * outside the domain is contacted only with allow_untrusted, and what it
 * says needs confirmation. The first answer with settings ends the run.
 * Action redirectUrl posts again to an https URL; redirectAddr restarts at
 * step 1 with the new address (section 3.1.5.5); both count towards
 * AD_MAX_REDIRECTS, and a URL (for one address) or an address seen twice is
 * a loop.
 */
#include "proto/autodiscover/ad-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/dns-records.h"
#include "proto/xml/xml.h"
#include "util/xmalloc.h"

#define POX_REQUEST_NS \
	"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
#define POX_RESPONSE_NS \
	"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
#define POX_PATH "/autodiscover/autodiscover.xml"
#define POX_CONTENT_TYPE "text/xml; charset=utf-8"

char *ad_pox_request(const char *email)
{
	char *esc = ad_xml_escape(email);
	char *r = xasprintf("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n"
			    "<Autodiscover xmlns=\"" POX_REQUEST_NS "\">\r\n"
			    "  <Request>\r\n"
			    "    <EMailAddress>%s</EMailAddress>\r\n"
			    "    <AcceptableResponseSchema>" POX_RESPONSE_NS
			    "</AcceptableResponseSchema>\r\n"
			    "  </Request>\r\n"
			    "</Autodiscover>\r\n",
			    esc);

	free(esc);
	return r;
}

void ad_pox_answer_free(struct ad_pox_answer *a)
{
	free(a->redirect);
	free(a->error_code);
	free(a->error_message);
	free(a->ews_url);
	free(a->exchange_server);
	free(a->rpc_proxy_server);
	free(a->auth_package);
	free(a->owa_url);
	for (size_t i = 0; i < a->nimap; i++) {
		free(a->imap[i].server);
		free(a->imap[i].security);
		free(a->imap[i].login_name);
	}
	buf_free(&a->types);
	memset(a, 0, sizeof(*a));
}

/* Keep the first value seen for a field. */
static void pox_take(char **field, char *value)
{
	if (*field == NULL && value != NULL && value[0] != '\0') {
		*field = value;
		return;
	}
	free(value);
}

static int pox_port(const char *s)
{
	char *end;
	long v;

	if (s == NULL || s[0] == '\0')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -1;
	return (int)v;
}

static bool pox_on(const char *s)
{
	return s != NULL && (strcasecmp(s, "on") == 0 || strcasecmp(s, "true") == 0);
}

/* IMAP section: Server, Port, SSL on|off, Encryption SSL|TLS|None|Auto,
 * LoginName (MS-OXDSCLI 2.2.4.1.1.2.3). */
static void pox_imap(struct ad_pox_answer *a, xmlNodePtr proto)
{
	char *server = xml_child_text(proto, "Server");
	char *port_s = xml_child_text(proto, "Port");
	char *ssl = xml_child_text(proto, "SSL");
	char *enc = xml_child_text(proto, "Encryption");
	struct ad_pox_imap *im;
	const char *sec = NULL;
	int port = pox_port(port_s);

	if (server == NULL || port < 0 || a->nimap == AD_POX_MAX_IMAP) {
		free(server);
		goto out;
	}
	if (enc != NULL && strcasecmp(enc, "SSL") == 0)
		sec = "tls";
	else if (enc != NULL && strcasecmp(enc, "TLS") == 0)
		sec = "starttls";
	else if (enc != NULL && strcasecmp(enc, "None") == 0)
		sec = "none";
	else if (ssl != NULL && !pox_on(ssl))
		sec = "none";
	else
		sec = port == 143 ? "starttls" : "tls";
	im = &a->imap[a->nimap++];
	im->server = server;
	im->port = port != 0 ? port : (strcmp(sec, "tls") == 0 ? 993 : 143);
	im->security = xstrdup(sec);
	im->login_name = xml_child_text(proto, "LoginName");
out:
	free(port_s);
	free(ssl);
	free(enc);
}

static void pox_protocol(struct ad_pox_answer *a, xmlNodePtr proto)
{
	char *type = xml_child_text(proto, "Type");

	if (type == NULL) {
		/* newer responses: <Protocol Type="EXHTTP"> */
		xmlChar *attr = xmlGetProp(proto, (const xmlChar *)"Type");

		if (attr != NULL) {
			type = xstrdup((const char *)attr);
			xmlFree(attr);
		}
	}
	if (type == NULL)
		return;
	if (a->types.len > 0)
		buf_puts(&a->types, ", ");
	buf_puts(&a->types, type);
	if (strcasecmp(type, "EXCH") == 0) {
		pox_take(&a->exchange_server, xml_child_text(proto, "Server"));
		pox_take(&a->ews_url, xml_child_text(proto, "EwsUrl"));
		pox_take(&a->auth_package, xml_child_text(proto, "AuthPackage"));
	} else if (strcasecmp(type, "EXPR") == 0 || strcasecmp(type, "EXHTTP") == 0) {
		pox_take(&a->rpc_proxy_server, xml_child_text(proto, "Server"));
		pox_take(&a->ews_url, xml_child_text(proto, "EwsUrl"));
		pox_take(&a->auth_package, xml_child_text(proto, "AuthPackage"));
	} else if (strcasecmp(type, "WEB") == 0) {
		xmlNodePtr ext = xml_child(proto, "External");
		xmlNodePtr in = xml_child(proto, "Internal");

		if (ext != NULL)
			pox_take(&a->owa_url, xml_child_text(ext, "OWAUrl"));
		if (in != NULL)
			pox_take(&a->owa_url, xml_child_text(in, "OWAUrl"));
	} else if (strcasecmp(type, "IMAP") == 0) {
		pox_imap(a, proto);
	}
	free(type);
}

static int pox_error(struct ad_pox_answer *a, xmlNodePtr e)
{
	a->kind = AD_POX_ERROR;
	a->error_code = xml_child_text(e, "ErrorCode");
	a->error_message = xml_child_text(e, "Message");
	return 0;
}

int ad_pox_parse(const char *data, size_t len, struct ad_pox_answer *a, struct mf_error *err)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root, resp, acct, e;
	char *action = NULL;
	int rc;

	memset(a, 0, sizeof(*a));
	rc = xml_parse_safe(data, len, &doc, err);
	if (rc < 0)
		return rc;
	root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "Autodiscover") != 0) {
		rc = mf_error_set(err, MF_EPROTO, "not an Autodiscover response (root element %s)",
				  root != NULL ? (const char *)root->name : "none");
		goto out;
	}
	resp = xml_child(root, "Response");
	if (resp == NULL) {
		rc = mf_error_set(err, MF_EPROTO, "Autodiscover response without Response");
		goto out;
	}
	e = xml_child(resp, "Error");
	if (e != NULL) {
		rc = pox_error(a, e);
		goto out;
	}
	acct = xml_child(resp, "Account");
	if (acct == NULL) {
		rc = mf_error_set(err, MF_EPROTO, "Autodiscover response without Account or Error");
		goto out;
	}
	e = xml_child(acct, "Error");
	if (e != NULL) {
		rc = pox_error(a, e);
		goto out;
	}
	action = xml_child_text(acct, "Action");
	if (action != NULL && strcasecmp(action, "redirectAddr") == 0) {
		a->kind = AD_POX_REDIRECT_ADDR;
		a->redirect = xml_child_text(acct, "RedirectAddr");
		if (a->redirect == NULL)
			rc = mf_error_set(err, MF_EPROTO,
					  "Action redirectAddr without RedirectAddr");
		goto out;
	}
	if (action != NULL && strcasecmp(action, "redirectUrl") == 0) {
		a->kind = AD_POX_REDIRECT_URL;
		a->redirect = xml_child_text(acct, "RedirectUrl");
		if (a->redirect == NULL)
			rc = mf_error_set(err, MF_EPROTO, "Action redirectUrl without RedirectUrl");
		goto out;
	}
	if (action != NULL && strcasecmp(action, "settings") != 0) {
		rc = mf_error_set(err, MF_EPROTO, "unknown Autodiscover Action '%s'", action);
		goto out;
	}
	a->kind = AD_POX_SETTINGS;
	for (xmlNodePtr p = xml_child(acct, "Protocol"); p != NULL; p = xml_next(p, "Protocol"))
		pox_protocol(a, p);
	if (a->auth_package != NULL) {
		char *l = ad_lower(a->auth_package);

		free(a->auth_package);
		a->auth_package = l;
	}
out:
	free(action);
	xmlFreeDoc(doc);
	if (rc < 0)
		ad_pox_answer_free(a);
	return rc;
}

/* ---- the source ------------------------------------------------------------- */

enum pox_rc {
	POX_FAIL,       /* this entry point gave nothing; try the next */
	POX_FOUND,      /* settings found: done */
	POX_NEXT_ADDR,  /* redirectAddr: restart with run->email */
	POX_STOP,       /* a loop or too many redirects: give up */
};

struct pox_run {
	struct ad_src *s;
	struct ad_hop hop;
	struct ad_strset addrs;
	char *email;      /* owned: the address asked about now */
	char *domain;     /* owned */
};

static bool pox_exhausted(const struct pox_run *r)
{
	return r->hop.redirects > AD_MAX_REDIRECTS;
}

/* Candidates from a settings answer; warning set when the way here was
 * untrusted (the candidates need confirmation). */
static enum pox_rc pox_settings(struct pox_run *r, struct ad_pox_answer *a, const char *url,
				const char *warning)
{
	struct ad_src *s = r->s;
	enum ad_trust trust =
		s->ctx->password != NULL ? AD_TRUST_AUTH_HTTPS : AD_TRUST_DOMAIN_HTTPS;
	size_t added = 0;

	if (a->ews_url != NULL && !ad_url_is_https(a->ews_url)) {
		ad_note(s, AD_OUT_REFUSED, "%s -> " AD_TXT_EWS_HTTP, url, a->ews_url);
		free(a->ews_url);
		a->ews_url = NULL;
	}
	if (a->ews_url != NULL || a->exchange_server != NULL || a->rpc_proxy_server != NULL) {
		struct ad_candidate *c = ad_cand_add(s, url, "exchange", trust);

		c->ews_url = a->ews_url;
		c->exchange_server = a->exchange_server;
		c->rpc_proxy_server = a->rpc_proxy_server;
		c->auth_package = a->auth_package;
		c->owa_url = a->owa_url != NULL ? xstrdup(a->owa_url) : NULL;
		a->ews_url = a->exchange_server = a->rpc_proxy_server = a->auth_package = NULL;
		c->verified = true;
		c->verify_detail = xstrdup("answer over https with a verified certificate");
		if (warning != NULL)
			ad_cand_confirm(c, "%s", warning);
		added++;
	}
	for (size_t i = 0; i < a->nimap; i++) {
		struct ad_pox_imap *im = &a->imap[i];
		struct ad_candidate *c;

		if (!ad_host_syntax_ok(im->server)) {
			ad_note(s, AD_OUT_ERROR, "%s -> IMAP Server '%s' is not a host name", url,
				im->server);
			continue;
		}
		c = ad_cand_add(s, url, "imap", trust);
		c->server = ad_lower(im->server);
		c->port = im->port;
		c->security = xstrdup(im->security);
		c->username_hint = im->login_name;
		im->login_name = NULL;
		if (warning != NULL)
			ad_cand_confirm(c, "%s", warning);
		ad_verify(s, c);
		added++;
	}
	ad_trace(s, "%s -> settings (%s)", url, a->types.len > 0 ? a->types.data : "no sections");
	if (added == 0) {
		ad_note(s, AD_OUT_NOTHING, "%s -> settings without EXCH, EXPR, EXHTTP or IMAP",
			url);
		return POX_FAIL;
	}
	return POX_FOUND;
}

static enum pox_rc pox_redirect_addr(struct pox_run *r, const char *url, const char *addr)
{
	struct ad_src *s = r->s;
	char *local = NULL, *domain = NULL;
	struct mf_error e = { 0 };

	ad_trace(s, "%s -> redirectAddr %s", url, addr);
	if (ad_email_split(addr, &local, &domain, &e) < 0) {
		ad_note(s, AD_OUT_ERROR, "%s -> redirectAddr: %s", url, e.msg);
		return POX_FAIL;
	}
	free(local);
	if (!ad_strset_add(&r->addrs, addr)) {
		free(domain);
		ad_note(s, AD_OUT_REFUSED, "%s -> " AD_TXT_LOOP, url, addr);
		return POX_FAIL;
	}
	if (++r->hop.redirects > AD_MAX_REDIRECTS) {
		free(domain);
		ad_note(s, AD_OUT_REFUSED, "%s -> " AD_TXT_TOO_MANY, url);
		return POX_STOP;
	}
	free(r->email);
	free(r->domain);
	r->email = xstrdup(addr);
	r->domain = domain;
	return POX_NEXT_ADDR;
}

/* POST to url and follow the answers. */
static enum pox_rc pox_post(struct pox_run *r, const char *first_url, const char *warning)
{
	struct ad_src *s = r->s;
	char *url = xstrdup(first_url);
	enum pox_rc ret = POX_FAIL;

	for (;;) {
		char *body = ad_pox_request(r->email);
		struct ad_fetch f = {
			.url = url,
			.body = body,
			.content_type = POX_CONTENT_TYPE,
			.credentials = true,
			.visit_key = r->email,
		};
		struct http_response resp;
		struct ad_pox_answer a;
		struct mf_error e = { 0 };
		char *final = NULL;
		int rc;

		rc = ad_fetch(s, &r->hop, &f, &resp, &final);
		free(body);
		if (rc < 0) {
			ret = pox_exhausted(r) ? POX_STOP : POX_FAIL;
			break;
		}
		rc = ad_pox_parse(resp.body.data != NULL ? resp.body.data : "", resp.body.len, &a,
				  &e);
		http_response_free(&resp);
		if (rc < 0) {
			ad_note(s,
				rc == MF_ELIMIT || rc == MF_EPROTO ? AD_OUT_REFUSED : AD_OUT_ERROR,
				"%s -> %s", final, e.msg);
			ad_trace(s, "%s -> %s", final, e.msg);
			free(final);
			break;
		}
		if (a.kind == AD_POX_SETTINGS) {
			ret = pox_settings(r, &a, final, warning);
		} else if (a.kind == AD_POX_ERROR) {
			ad_note(s, AD_OUT_NOTHING, "%s -> Autodiscover error %s: %s", final,
				a.error_code != NULL ? a.error_code : "(no code)",
				a.error_message != NULL ? a.error_message : "(no message)");
			ad_trace(s, "%s -> Autodiscover error %s", final,
				 a.error_code != NULL ? a.error_code : "(no code)");
		} else if (a.kind == AD_POX_REDIRECT_ADDR) {
			ret = pox_redirect_addr(r, final, a.redirect);
		} else {
			ad_trace(s, "%s -> redirectUrl %s", final, a.redirect);
			if (ad_hop_check(s, &r->hop, final, a.redirect, r->email) == 0) {
				free(url);
				url = a.redirect;
				a.redirect = NULL;
				ad_pox_answer_free(&a);
				free(final);
				continue;
			}
			if (pox_exhausted(r))
				ret = POX_STOP;
		}
		ad_pox_answer_free(&a);
		free(final);
		break;
	}
	free(url);
	return ret;
}

/* A hop that rests on an unauthenticated answer (http, DNS) to target_url:
 * inside the domain it is followed; outside only with allow_untrusted, and
 * then what it yields needs confirmation. */
static enum pox_rc pox_untrusted_hop(struct pox_run *r, const char *what, const char *target_url)
{
	struct ad_src *s = r->s;
	char *host = ad_url_host(target_url);
	char *warning = NULL;
	enum pox_rc ret;

	if (host == NULL || !ad_host_in_domain(host, r->domain)) {
		if (!s->ctx->o->allow_untrusted) {
			ad_note(s, AD_OUT_REFUSED, AD_TXT_UNTRUSTED_HOP, what, r->domain);
			ad_trace(s, AD_TXT_UNTRUSTED_HOP, what, r->domain);
			free(host);
			return POX_FAIL;
		}
		warning = xasprintf("reached through %s, outside %s", what, r->domain);
	}
	free(host);
	ret = pox_post(r, target_url, warning);
	free(warning);
	return ret;
}

/* Step 3: the unauthenticated GET on http. */
static enum pox_rc pox_http_probe(struct pox_run *r)
{
	struct ad_src *s = r->s;
	char *url = xasprintf("http://autodiscover.%s" POX_PATH, r->domain);
	struct http_request req = {
		.method = "GET",
		.url = url,
		.timeout_ms = ad_timeout_ms(s->ctx),
	};
	struct http_response resp = { 0 };
	struct mf_error e = { 0 };
	enum pox_rc ret = POX_FAIL;
	char secs[24];
	int rc;

	if (req.timeout_ms <= 0) {
		ad_note(s, AD_OUT_ERROR, "%s -> overall deadline passed", url);
		free(url);
		return POX_FAIL;
	}
	rc = http_do(&req, &resp, &e);
	if (rc < 0) {
		if (rc == MF_ETIMEOUT)
			mf_error_set(&e, rc, "no answer within %s s",
				     mf_secs_text(req.timeout_ms, secs));
		ad_note(s, rc == MF_EDNS ? AD_OUT_NOTHING : AD_OUT_ERROR, "%s -> %s", url, e.msg);
		ad_trace(s, "GET %s -> %s", url, e.msg);
	} else if (resp.status >= 300 && resp.status < 400 && resp.location != NULL) {
		char *loc = xstrdup(resp.location);
		char *what = xasprintf("the http redirect to %s", loc);

		ad_trace(s, "GET %s -> %ld redirect to %s", url, resp.status, loc);
		if (ad_hop_check(s, &r->hop, url, loc, r->email) == 0)
			ret = pox_untrusted_hop(r, what, loc);
		else if (pox_exhausted(r))
			ret = POX_STOP;
		free(what);
		free(loc);
	} else {
		ad_note(s, AD_OUT_NOTHING, "%s -> HTTP %ld, no redirect", url, resp.status);
		ad_trace(s, "GET %s -> HTTP %ld, no redirect", url, resp.status);
	}
	http_response_free(&resp);
	free(url);
	return ret;
}

/* Step 4: SRV _autodiscover._tcp. */
static enum pox_rc pox_srv(struct pox_run *r)
{
	struct ad_src *s = r->s;
	char *name = xasprintf("_autodiscover._tcp.%s", r->domain);
	struct net_srv *recs = NULL;
	struct mf_error e = { 0 };
	bool not_offered = false;
	enum pox_rc ret = POX_FAIL;
	size_t n = 0;
	int t = ad_timeout_ms(s->ctx);
	int rc;

	if (t <= 0) {
		ad_note(s, AD_OUT_ERROR, "SRV %s -> overall deadline passed", name);
		free(name);
		return POX_FAIL;
	}
	rc = net_query_srv(name, t, &recs, &n, &not_offered, &e);
	if (rc < 0) {
		ad_note(s, AD_OUT_ERROR, "SRV %s -> %s", name, e.msg);
		ad_trace(s, "SRV %s -> %s", name, e.msg);
	} else if (n == 0) {
		ad_note(s, AD_OUT_NOTHING, "SRV %s -> %s", name,
			not_offered ? "not offered (target \".\")" : "no records");
		ad_trace(s, "SRV %s -> %s", name, not_offered ? "not offered" : "no records");
	} else {
		char *url = recs[0].port == 443
				    ? xasprintf("https://%s" POX_PATH, recs[0].target)
				    : xasprintf("https://%s:%u" POX_PATH, recs[0].target,
						(unsigned)recs[0].port);
		char *what = xasprintf("SRV %s target %s", name, recs[0].target);

		ad_trace(s, "SRV %s -> %s:%u", name, recs[0].target, (unsigned)recs[0].port);
		ret = pox_untrusted_hop(r, what, url);
		free(what);
		free(url);
	}
	net_srv_free(&recs, n);
	free(name);
	return ret;
}

static enum pox_rc pox_one_address(struct pox_run *r)
{
	enum pox_rc rc;
	char *url;

	ad_hop_chain(&r->hop);
	url = xasprintf("https://%s" POX_PATH, r->domain);
	rc = pox_post(r, url, NULL);
	free(url);
	if (rc != POX_FAIL)
		return rc;
	ad_hop_chain(&r->hop);
	url = xasprintf("https://autodiscover.%s" POX_PATH, r->domain);
	rc = pox_post(r, url, NULL);
	free(url);
	if (rc != POX_FAIL)
		return rc;
	ad_hop_chain(&r->hop);
	rc = pox_http_probe(r);
	if (rc != POX_FAIL)
		return rc;
	ad_hop_chain(&r->hop);
	return pox_srv(r);
}

void ad_source_pox(struct ad_src *s)
{
	struct pox_run r = { .s = s };
	enum pox_rc rc;

	r.email = xstrdup(s->ctx->email);
	r.domain = xstrdup(s->ctx->domain);
	ad_strset_add(&r.addrs, r.email);
	do {
		rc = pox_one_address(&r);
	} while (rc == POX_NEXT_ADDR);
	ad_hop_free(&r.hop);
	ad_strset_free(&r.addrs);
	free(r.email);
	free(r.domain);
}
