/* ad-run.c: one discovery run (autodiscover.h): every source in its own
 * thread under one overall deadline, then the candidates collected in
 * source order, ranked, and one chosen (ad-result.c).
 *
 * Each source bounds every request by min(request timeout, time left), so
 * the threads end by the deadline and are simply joined.
 */
#include "proto/autodiscover/ad-private.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "util/mftime.h"
#include "util/xmalloc.h"

#define AD_DEFAULT_REQUEST_TIMEOUT_MS 10000
#define AD_DEFAULT_DEADLINE_MS 60000

static pthread_once_t ad_once = PTHREAD_ONCE_INIT;

static void ad_global_init(void)
{
	http_global_init();
	xmlInitParser();
}

/* Why a source does not run for these options, or NULL. */
static const char *ad_skip_reason(const struct ad_opts *o, enum ad_source_id id)
{
	if (o->protocol == AD_PROTO_IMAP && id == AD_SRC_V2)
		return "--protocol imap: Autodiscover v2 only names EWS";
	if (o->protocol == AD_PROTO_EXCHANGE &&
	    (id == AD_SRC_AUTOCONFIG || id == AD_SRC_SRV || id == AD_SRC_GUESS))
		return "--protocol exchange: this source only finds IMAP servers";
	if (id == AD_SRC_GUESS && !o->verify)
		return "live checks are off, and a guess is only a live check";
	return NULL;
}

static void *ad_source_main(void *arg)
{
	struct ad_src *s = arg;

	switch (s->id) {
	case AD_SRC_POX:
		ad_source_pox(s);
		break;
	case AD_SRC_V2:
		ad_source_v2(s);
		break;
	case AD_SRC_AUTOCONFIG:
		ad_source_autoconfig(s);
		break;
	case AD_SRC_SRV:
		ad_source_srv(s);
		break;
	case AD_SRC_MX:
		ad_source_mx(s);
		break;
	case AD_SRC_GUESS:
		ad_source_guess(s);
		break;
	case AD_SRC_COUNT:
		break;
	}
	return NULL;
}

static const char *const ad_outcome_names[] = { "nothing", "error", "refused", "found" };

/* "found imap store1.example.test:993 tls, exchange https://...; notes" */
static char *ad_found_reason(const struct ad_src *s)
{
	struct buf b = BUF_INIT;

	buf_puts(&b, "found ");
	for (size_t i = 0; i < s->ncands; i++) {
		const struct ad_candidate *c = &s->cands[i];

		if (i > 0)
			buf_puts(&b, ", ");
		if (strcmp(c->protocol, "imap") == 0)
			buf_printf(&b, "imap %s:%d %s", c->server, c->port, c->security);
		else
			buf_printf(&b, "exchange %s",
				   c->ews_url != NULL	       ? c->ews_url
				   : c->rpc_proxy_server != NULL ? c->rpc_proxy_server
								 : c->exchange_server);
	}
	if (s->notes.len > 0)
		buf_printf(&b, "; %s", s->notes.data);
	return buf_steal(&b);
}

static void ad_collect(struct ad_src *srcs, struct ad_result *res)
{
	res->sources = xcalloc(AD_SRC_COUNT, sizeof(*res->sources));
	res->nsources = AD_SRC_COUNT;
	for (size_t i = 0; i < AD_SRC_COUNT; i++) {
		struct ad_src *s = &srcs[i];
		struct ad_source_report *r = &res->sources[i];

		r->source = xstrdup(s->name);
		if (s->skipped) {
			r->outcome = xstrdup("skipped");
			r->reason = xstrdup(s->skip_reason);
		} else if (s->ncands > 0) {
			r->outcome = xstrdup(ad_outcome_names[AD_OUT_FOUND]);
			r->reason = ad_found_reason(s);
		} else {
			enum ad_outcome b = s->best == AD_OUT_FOUND ? AD_OUT_NOTHING : s->best;

			r->outcome = xstrdup(ad_outcome_names[b]);
			r->reason = xstrdup(s->notes.len > 0 ? s->notes.data : "nothing found");
		}
		if (s->ncands > 0) {
			res->cands = xreallocarray(res->cands, res->ncands + s->ncands,
						   sizeof(*res->cands));
			memcpy(res->cands + res->ncands, s->cands, s->ncands * sizeof(*s->cands));
			res->ncands += s->ncands;
		}
		free(s->cands);
		s->cands = NULL;
		s->ncands = 0;
		buf_free(&s->notes);
	}
}

int autodiscover_run(const struct ad_opts *o, struct ad_result *res, struct mf_error *err)
{
	struct ad_ctx ctx;
	struct ad_src srcs[AD_SRC_COUNT];
	pthread_t threads[AD_SRC_COUNT];
	bool started[AD_SRC_COUNT] = { false };
	int rc;

	memset(res, 0, sizeof(*res));
	res->chosen = -1;
	res->protocol = o->protocol;
	res->allow_untrusted = o->allow_untrusted;
	memset(&ctx, 0, sizeof(ctx));
	rc = ad_email_split(o->email, &ctx.local, &ctx.domain, err);
	if (rc < 0)
		return rc;
	pthread_once(&ad_once, ad_global_init);
	ctx.o = o;
	ctx.email = xasprintf("%s@%s", ctx.local, ctx.domain);
	if (o->password != NULL && o->password[0] != '\0') {
		ctx.password = o->password;
		ctx.user = o->user != NULL && o->user[0] != '\0' ? o->user : ctx.email;
	}
	ctx.request_timeout_ms =
		o->request_timeout_ms > 0 ? o->request_timeout_ms : AD_DEFAULT_REQUEST_TIMEOUT_MS;
	ctx.deadline_ms =
		mf_now_ms() + (o->deadline_ms > 0 ? o->deadline_ms : AD_DEFAULT_DEADLINE_MS);
	pthread_mutex_init(&ctx.lock, NULL);
	pthread_cond_init(&ctx.cond, NULL);

	memset(srcs, 0, sizeof(srcs));
	for (size_t i = 0; i < AD_SRC_COUNT; i++) {
		const char *skip = ad_skip_reason(o, (enum ad_source_id)i);

		srcs[i].ctx = &ctx;
		srcs[i].id = (enum ad_source_id)i;
		srcs[i].name = ad_source_names[i];
		if (skip != NULL) {
			srcs[i].skipped = true;
			srcs[i].skip_reason = xstrdup(skip);
			ad_trace(&srcs[i], "skipped: %s", skip);
			continue;
		}
		started[i] = pthread_create(&threads[i], NULL, ad_source_main, &srcs[i]) == 0;
		if (!started[i])
			ad_source_main(&srcs[i]);
	}
	for (size_t i = 0; i < AD_SRC_COUNT; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
	}

	res->email = xstrdup(ctx.email);
	ad_collect(srcs, res);
	ad_rank_and_choose(res, o->protocol, o->allow_untrusted, o->verify);
	if (o->trace != NULL) {
		struct ad_src summary = { .ctx = &ctx, .name = "result" };

		if (res->chosen >= 0) {
			const struct ad_candidate *c = &res->cands[res->chosen];

			if (strcmp(c->protocol, "imap") == 0)
				ad_trace(&summary, "chosen: imap %s:%d %s (from %s)", c->server,
					 c->port, c->security, c->source);
			else
				ad_trace(&summary, "chosen: exchange %s (from %s)",
					 c->ews_url != NULL ? c->ews_url : c->rpc_proxy_server,
					 c->source);
		} else {
			ad_trace(&summary, "nothing chosen (%zu candidates)", res->ncands);
		}
	}

	for (size_t i = 0; i < AD_SRC_COUNT; i++)
		free(srcs[i].skip_reason);
	ad_probes_free(&ctx);
	pthread_cond_destroy(&ctx.cond);
	pthread_mutex_destroy(&ctx.lock);
	free(ctx.email);
	free(ctx.local);
	free(ctx.domain);
	return 0;
}

void autodiscover_result_free(struct ad_result *res)
{
	for (size_t i = 0; i < res->ncands; i++)
		ad_cand_clear(&res->cands[i]);
	free(res->cands);
	for (size_t i = 0; i < res->nsources; i++) {
		free(res->sources[i].source);
		free(res->sources[i].outcome);
		free(res->sources[i].reason);
	}
	free(res->sources);
	free(res->email);
	memset(res, 0, sizeof(*res));
	res->chosen = -1;
}
