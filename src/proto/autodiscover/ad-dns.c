/* ad-dns.c: the DNS sources of autodiscover.
 *
 * "srv": RFC 6186 section 3.2 and RFC 8314 section 5.1: _imaps._tcp.DOMAIN
 * (implicit TLS) before _imap._tcp.DOMAIN (STARTTLS is required of it
 * here), records in priority and weight order (src/net/dns-records.c);
 * a lone target "." says the service is not offered (RFC 2782). A target
 * outside the address's domain needs confirmation: DNS answers are not
 * authenticated.
 *
 * "mx": the lowest-preference MX host (RFC 5321 section 5.1) names the
 * provider that receives the domain's mail; its registrable domain is
 * looked up in a small table of large providers, else that domain's
 * autoconfig is asked. Servers found this way that lie outside the
 * address's domain need confirmation, like SRV targets.
 */
#include "proto/autodiscover/ad-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/dns-records.h"
#include "util/xmalloc.h"

static const struct ad_provider ad_providers[] = {
	{ "google.com", "Google", "imap.gmail.com", NULL },
	{ "googlemail.com", "Google", "imap.gmail.com", NULL },
	{ "outlook.com", "Microsoft 365", "outlook.office365.com",
	  "https://outlook.office365.com/EWS/Exchange.asmx" },
	{ "yahoodns.net", "Yahoo", "imap.mail.yahoo.com", NULL },
	{ "icloud.com", "iCloud", "imap.mail.me.com", NULL },
	{ "messagingengine.com", "Fastmail", "imap.fastmail.com", NULL },
	{ "zoho.com", "Zoho", "imap.zoho.com", NULL },
	{ "zoho.eu", "Zoho (EU)", "imap.zoho.eu", NULL },
};

const struct ad_provider *ad_provider_lookup(const char *mx_domain)
{
	if (mx_domain == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(ad_providers) / sizeof(ad_providers[0]); i++) {
		if (strcasecmp(ad_providers[i].mx_domain, mx_domain) == 0)
			return &ad_providers[i];
	}
	return NULL;
}

/* ---- srv ------------------------------------------------------------------------ */

/* One service; returns the number of candidates added, or -1 when it is
 * decidedly not offered. */
static int srv_service(struct ad_src *s, const char *svc, const char *security)
{
	struct ad_ctx *ctx = s->ctx;
	char *name = xasprintf("%s.%s", svc, ctx->domain);
	struct net_srv *recs = NULL;
	struct mf_error e = { 0 };
	bool not_offered = false;
	size_t n = 0;
	int added = 0, t = ad_timeout_ms(ctx), rc;

	if (t <= 0) {
		ad_note(s, AD_OUT_ERROR, "SRV %s -> overall deadline passed", name);
		free(name);
		return 0;
	}
	rc = net_query_srv(name, t, &recs, &n, &not_offered, &e);
	if (rc < 0) {
		ad_note(s, AD_OUT_ERROR, "SRV %s -> %s", name, e.msg);
		ad_trace(s, "SRV %s -> %s", name, e.msg);
		free(name);
		return 0;
	}
	if (not_offered) {
		ad_trace(s, "SRV %s -> not offered (target \".\")", name);
		net_srv_free(&recs, n);
		free(name);
		return -1;
	}
	if (n == 0)
		ad_trace(s, "SRV %s -> no records", name);
	for (size_t i = 0; i < n; i++) {
		struct ad_candidate *c;
		char *origin;

		ad_trace(s, "SRV %s -> %s:%u (priority %u, weight %u)", name, recs[i].target,
			 (unsigned)recs[i].port, (unsigned)recs[i].priority,
			 (unsigned)recs[i].weight);
		if (recs[i].port == 0 || !ad_host_syntax_ok(recs[i].target)) {
			ad_note(s, AD_OUT_ERROR, "SRV %s -> unusable record %s:%u", name,
				recs[i].target, (unsigned)recs[i].port);
			continue;
		}
		origin = xasprintf("SRV %s", name);
		c = ad_cand_add(s, origin, "imap", AD_TRUST_SRV);
		free(origin);
		c->server = ad_lower(recs[i].target);
		c->port = recs[i].port;
		c->security = xstrdup(security);
		if (!ad_host_in_domain(c->server, ctx->domain))
			ad_cand_confirm(c, AD_TXT_OUTSIDE, "SRV target", c->server, ctx->domain);
		ad_verify(s, c);
		added++;
	}
	net_srv_free(&recs, n);
	free(name);
	return added;
}

void ad_source_srv(struct ad_src *s)
{
	int imaps = srv_service(s, "_imaps._tcp", "tls");
	int imap = srv_service(s, "_imap._tcp", "starttls");

	if (imaps > 0 || imap > 0)
		return;
	if (imaps < 0 && imap < 0)
		ad_note(s, AD_OUT_NOTHING,
			"_imaps._tcp and _imap._tcp: not offered (target \".\")");
	else if (imaps < 0)
		ad_note(s, AD_OUT_NOTHING, "_imaps._tcp: not offered (target \".\"); no _imap._tcp "
					   "records");
	else if (imap < 0)
		ad_note(s, AD_OUT_NOTHING, "no _imaps._tcp records; _imap._tcp: not offered "
					   "(target \".\")");
	else if (s->notes.len == 0)
		ad_note(s, AD_OUT_NOTHING, "no _imaps._tcp or _imap._tcp records");
}

/* ---- mx ------------------------------------------------------------------------- */

static void mx_provider(struct ad_src *s, const struct ad_provider *p, const char *mx_host)
{
	struct ad_ctx *ctx = s->ctx;
	char *origin = xasprintf("MX %s -> %s (%s)", ctx->domain, mx_host, p->name);
	struct ad_candidate *c;

	ad_trace(s, "%s: provider table", origin);
	if (ctx->o->protocol != AD_PROTO_EXCHANGE) {
		c = ad_cand_add(s, origin, "imap", AD_TRUST_MX);
		c->server = xstrdup(p->imap_host);
		c->port = 993;
		c->security = xstrdup("tls");
		c->auth = xstrdup("plain");
		c->username_hint = xstrdup(ctx->email);
		if (!ad_host_in_domain(c->server, ctx->domain))
			ad_cand_confirm(c, AD_TXT_OUTSIDE, "MX-derived server", c->server,
					ctx->domain);
		ad_verify(s, c);
	}
	if (p->ews_url != NULL && ctx->o->protocol != AD_PROTO_IMAP) {
		c = ad_cand_add(s, origin, "exchange", AD_TRUST_MX);
		c->ews_url = xstrdup(p->ews_url);
		c->exchange_server = ad_url_host(p->ews_url);
		c->auth_package = xstrdup("basic");
		c->verify_detail = xstrdup("from the built-in provider table; not checked");
		if (!ad_host_in_domain(c->exchange_server, ctx->domain))
			ad_cand_confirm(c, AD_TXT_OUTSIDE, "MX-derived server", c->exchange_server,
					ctx->domain);
	}
	free(origin);
}

void ad_source_mx(struct ad_src *s)
{
	struct ad_ctx *ctx = s->ctx;
	struct net_mx *mx = NULL;
	struct mf_error e = { 0 };
	const struct ad_provider *p;
	char *reg;
	size_t n = 0;
	int t = ad_timeout_ms(ctx), rc;

	if (t <= 0) {
		ad_note(s, AD_OUT_ERROR, "MX %s -> overall deadline passed", ctx->domain);
		return;
	}
	rc = net_query_mx(ctx->domain, t, &mx, &n, &e);
	if (rc < 0) {
		ad_note(s, AD_OUT_ERROR, "MX %s -> %s", ctx->domain, e.msg);
		ad_trace(s, "MX %s -> %s", ctx->domain, e.msg);
		return;
	}
	if (n == 0) {
		ad_note(s, AD_OUT_NOTHING, "no MX records for %s", ctx->domain);
		ad_trace(s, "MX %s -> no records", ctx->domain);
		return;
	}
	for (size_t i = 0; i < n; i++)
		ad_trace(s, "MX %s -> %s (preference %u)", ctx->domain, mx[i].host,
			 (unsigned)mx[i].preference);
	reg = ad_registrable_domain(mx[0].host);
	p = ad_provider_lookup(reg);
	if (p != NULL) {
		mx_provider(s, p, mx[0].host);
	} else if (ad_host_in_domain(mx[0].host, ctx->domain) ||
		   ad_host_in_domain(ctx->domain, reg)) {
		ad_note(s, AD_OUT_NOTHING,
			"MX host %s is in %s itself: its autoconfig is the autoconfig source's",
			mx[0].host, ctx->domain);
	} else if (ctx->o->protocol == AD_PROTO_EXCHANGE) {
		ad_note(s, AD_OUT_NOTHING, "MX host %s (%s): not a known Exchange provider",
			mx[0].host, reg);
	} else if (ad_autoconfig_fetch(s, reg, AD_TRUST_MX, mx[0].host) == 0) {
		ad_note(s, AD_OUT_NOTHING, "MX host %s: %s is not in the provider table",
			mx[0].host, reg);
	}
	free(reg);
	net_mx_free(&mx, n);
}
