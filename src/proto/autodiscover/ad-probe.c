/* ad-probe.c: the live check of IMAP candidates, and the "guess" source.
 *
 * A check is what a client does before it logs in: resolve, connect,
 * implicit TLS (RFC 8314) or greeting + STARTTLS (RFC 9051 section 6.2.1),
 * both with the certificate verified against the host name, then the
 * greeting and CAPABILITY, and LOGOUT. No credentials are sent. The same
 * host, port and security are checked once per run: sources that find the
 * same server wait for the first check and share its result.
 */
#include "proto/autodiscover/ad-private.h"

#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "proto/imap/imap-client.h"
#include "util/xmalloc.h"

struct ad_probe {
	struct ad_probe *next;
	char *key;            /* "host:port/security" */
	bool done;
	bool ok;
	int code;             /* MF_E* of the failure, 0 when ok */
	char *detail;
};

void ad_probes_free(struct ad_ctx *ctx)
{
	while (ctx->probes != NULL) {
		struct ad_probe *p = ctx->probes;

		ctx->probes = p->next;
		free(p->key);
		free(p->detail);
		free(p);
	}
}

/* Words for a failure at a step: timeouts and closed connections name it. */
static char *probe_fail(const char *step, const struct mf_error *e, int timeout_ms)
{
	char secs[24];

	if (e->code == MF_ETIMEOUT)
		return xasprintf("%s: no answer within %s s", step, mf_secs_text(timeout_ms, secs));
	if (e->code == MF_ECLOSED)
		return xasprintf("%s: the server closed the connection", step);
	return xasprintf("%s: %s", step, e->msg[0] != '\0' ? e->msg : mf_errcode_name(e->code));
}

static bool probe_run(struct ad_src *s, const char *host, int port, const char *security,
		      char **detail_r, int *code_r)
{
	bool tls = strcmp(security, "tls") == 0;
	bool starttls = strcmp(security, "starttls") == 0;
	struct net_tls_opts tlso = { .verify = true, .host = host };
	struct imap_client_opts co = { 0 };
	struct imap_client *c = NULL;
	struct net_conn *conn = NULL;
	struct net_addrs addrs;
	struct mf_error e = { 0 };
	bool preauth = false, ok = false;
	int t = ad_timeout_ms(s->ctx);
	char *detail = NULL;

	*code_r = 0;
	if (t <= 0) {
		*detail_r = xstrdup("overall deadline passed");
		*code_r = MF_ETIMEOUT;
		return false;
	}
	if (net_resolve(host, (uint16_t)port, t, &addrs, &e) < 0 || addrs.count == 0) {
		if (e.code == 0)
			mf_error_set(&e, MF_EDNS, "no such host: %s", host);
		ad_trace(s, "A/AAAA %s -> %s", host, e.msg);
		*detail_r = e.code == MF_ETIMEOUT ? probe_fail("dns", &e, t) : xstrdup(e.msg);
		*code_r = e.code;
		return false;
	}
	ad_trace(s, "A/AAAA %s -> %s%s", host, addrs.addr[0].text,
		 addrs.count > 1 ? " ..." : "");
	if (net_connect(&addrs, ad_timeout_ms(s->ctx), &conn, &e) < 0) {
		detail = probe_fail("connect", &e, t);
		goto out;
	}
	if (tls && net_start_tls(conn, &tlso, ad_timeout_ms(s->ctx), &e) < 0) {
		detail = probe_fail("TLS", &e, t);
		net_close(&conn);
		goto out;
	}
	co.io_timeout_ms = ad_timeout_ms(s->ctx);
	if (co.io_timeout_ms <= 0)
		co.io_timeout_ms = 1;
	c = imap_client_new(conn, &co);
	if (imap_client_greeting_read(c, &preauth, &e) < 0) {
		detail = probe_fail("greeting", &e, t);
		goto out;
	}
	if (starttls) {
		if (preauth) {
			detail = xstrdup("starttls: the server greeted with PREAUTH, so STARTTLS "
					 "cannot be used");
			goto out;
		}
		if (imap_client_capability(c, false, &e) < 0) {
			detail = probe_fail("capability", &e, t);
			goto out;
		}
		if (!(imap_client_caps(c) & IMAP_CAP_STARTTLS)) {
			detail = xstrdup("starttls: the server does not offer STARTTLS");
			goto out;
		}
		if (imap_client_starttls(c, &tlso, ad_timeout_ms(s->ctx), &e) < 0) {
			detail = probe_fail("starttls", &e, t);
			goto out;
		}
	}
	if (imap_client_capability(c, starttls, &e) < 0) {
		detail = probe_fail("capability", &e, t);
		goto out;
	}
	if (!imap_client_has_cap(c, "IMAP4rev1") && !imap_client_has_cap(c, "IMAP4rev2")) {
		detail = xstrdup("capability: neither IMAP4rev1 nor IMAP4rev2 announced");
		goto out;
	}
	ok = true;
	if (tls || starttls)
		detail = xasprintf("greeting and CAPABILITY over %s ok (%s)",
				   tls ? "TLS" : "STARTTLS",
				   net_tls_description(imap_client_conn(c)));
	else
		detail = xstrdup("greeting and CAPABILITY ok, without TLS");
	(void)imap_client_logout(c, &e);
out:
	imap_client_free(&c);
	*detail_r = detail;
	if (!ok)
		*code_r = e.code != 0 ? e.code : MF_EPROTO;
	return ok;
}

bool ad_probe_imap(struct ad_src *s, const char *host, int port, const char *security,
		   char **detail_r, int *code_r)
{
	struct ad_ctx *ctx = s->ctx;
	char *key = xasprintf("%s:%d/%s", host, port, security);
	struct ad_probe *p;
	bool ok;

	pthread_mutex_lock(&ctx->lock);
	for (p = ctx->probes; p != NULL; p = p->next) {
		if (strcmp(p->key, key) == 0)
			break;
	}
	if (p != NULL) {
		while (!p->done)
			pthread_cond_wait(&ctx->cond, &ctx->lock);
		ok = p->ok;
		*detail_r = xstrdup(p->detail);
		if (code_r != NULL)
			*code_r = p->code;
		pthread_mutex_unlock(&ctx->lock);
		free(key);
		return ok;
	}
	p = xcalloc(1, sizeof(*p));
	p->key = key;
	p->next = ctx->probes;
	ctx->probes = p;
	pthread_mutex_unlock(&ctx->lock);

	char *detail = NULL;
	int code = 0;

	ok = probe_run(s, host, port, security, &detail, &code);
	ad_trace(s, "IMAP %s:%d %s -> %s", host, port, security, detail);
	pthread_mutex_lock(&ctx->lock);
	p->ok = ok;
	p->detail = detail;
	p->code = code;
	p->done = true;
	if (code_r != NULL)
		*code_r = code;
	*detail_r = xstrdup(detail);
	pthread_cond_broadcast(&ctx->cond);
	pthread_mutex_unlock(&ctx->lock);
	return ok;
}

void ad_verify(struct ad_src *s, struct ad_candidate *c)
{
	if (c->protocol == NULL || strcmp(c->protocol, "imap") != 0)
		return;
	if (c->security != NULL && strcmp(c->security, "none") == 0 && !c->needs_confirmation)
		ad_cand_confirm(c, AD_TXT_NO_TLS);
	if (!s->ctx->o->verify) {
		free(c->verify_detail);
		c->verify_detail = xstrdup("not checked (live checks are off)");
		return;
	}
	free(c->verify_detail);
	c->verify_detail = NULL;
	c->verified = ad_probe_imap(s, c->server, c->port, c->security, &c->verify_detail, NULL);
}

/* ---- guess ---------------------------------------------------------------------- */

struct guess_job {
	struct ad_src src;     /* a private source: candidates and notes */
	char *host;
	pthread_t thread;
	bool started;
};

static void *guess_host(void *arg)
{
	struct guess_job *j = arg;
	static const struct {
		int port;
		const char *security;
	} tries[] = { { 993, "tls" }, { 143, "starttls" } };

	for (size_t i = 0; i < 2; i++) {
		char *detail = NULL;
		int code = 0;
		bool ok = ad_probe_imap(&j->src, j->host, tries[i].port, tries[i].security, &detail,
					&code);

		if (ok) {
			char *origin = xasprintf("guess %s:%d", j->host, tries[i].port);
			struct ad_candidate *c =
				ad_cand_add(&j->src, origin, "imap", AD_TRUST_GUESS);

			free(origin);
			c->server = xstrdup(j->host);
			c->port = tries[i].port;
			c->security = xstrdup(tries[i].security);
			c->verified = true;
			c->verify_detail = detail;
			return NULL;
		}
		ad_note(&j->src, AD_OUT_NOTHING, "%s:%d -> %s", j->host, tries[i].port, detail);
		free(detail);
		/* a name that does not resolve has no other port */
		if (code == MF_EDNS)
			break;
	}
	return NULL;
}

void ad_source_guess(struct ad_src *s)
{
	struct ad_ctx *ctx = s->ctx;
	struct guess_job jobs[3];

	memset(jobs, 0, sizeof(jobs));
	jobs[0].host = xasprintf("imap.%s", ctx->domain);
	jobs[1].host = xasprintf("mail.%s", ctx->domain);
	jobs[2].host = xstrdup(ctx->domain);
	for (size_t i = 0; i < 3; i++) {
		jobs[i].src.ctx = ctx;
		jobs[i].src.id = s->id;
		jobs[i].src.name = s->name;
		jobs[i].started = pthread_create(&jobs[i].thread, NULL, guess_host, &jobs[i]) == 0;
		if (!jobs[i].started)
			guess_host(&jobs[i]);
	}
	for (size_t i = 0; i < 3; i++) {
		struct ad_src *js = &jobs[i].src;

		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
		if (js->notes.len > 0)
			ad_note(s, js->best, "%s", js->notes.data);
		for (size_t k = 0; k < js->ncands; k++) {
			s->cands = xreallocarray(s->cands, s->ncands + 1, sizeof(*s->cands));
			s->cands[s->ncands++] = js->cands[k];
		}
		if (js->ncands > 0 && s->best < AD_OUT_FOUND)
			s->best = AD_OUT_FOUND;
		free(js->cands);
		buf_free(&js->notes);
		free(jobs[i].host);
	}
}
