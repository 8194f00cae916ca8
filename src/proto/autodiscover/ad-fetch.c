/* ad-fetch.c: HTTP requests of autodiscover with its redirect rules
 * (ad-private.h): 3xx followed to https only, at most AD_MAX_REDIRECTS per
 * source, loops detected by the set of URLs visited; each outcome becomes
 * one trace line and, on failure, one note "URL -> reason".
 *
 * src/proto/http never follows redirects and refuses credentials on
 * anything but https, verifying every certificate; this file decides which
 * redirects to take.
 */
#include "proto/autodiscover/ad-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* The visited key: the URL, and for POX the address it was asked about. */
static char *ad_visit_key(const char *url, const char *extra)
{
	if (extra == NULL)
		return xstrdup(url);
	return xasprintf("%s %s", url, extra);
}

int ad_hop_check(struct ad_src *s, struct ad_hop *hop, const char *from, const char *url,
		 const char *visit_key)
{
	char *key;
	bool fresh;

	if (!ad_url_is_https(url)) {
		ad_note(s, AD_OUT_REFUSED, "%s -> " AD_TXT_HTTP_REDIRECT, from, url);
		ad_trace(s, "%s -> " AD_TXT_HTTP_REDIRECT, from, url);
		return -1;
	}
	key = ad_visit_key(url, visit_key);
	fresh = ad_strset_add(&hop->visited, key);
	free(key);
	if (!fresh) {
		ad_note(s, AD_OUT_REFUSED, "%s -> " AD_TXT_LOOP, from, url);
		ad_trace(s, "%s -> " AD_TXT_LOOP, from, url);
		return -1;
	}
	if (++hop->redirects > AD_MAX_REDIRECTS) {
		ad_note(s, AD_OUT_REFUSED, "%s -> " AD_TXT_TOO_MANY, from);
		ad_trace(s, "%s -> " AD_TXT_TOO_MANY, from);
		return -1;
	}
	return 0;
}

void ad_hop_chain(struct ad_hop *hop)
{
	ad_strset_free(&hop->visited);
}

void ad_hop_free(struct ad_hop *hop)
{
	ad_strset_free(&hop->visited);
	hop->redirects = 0;
}

/* Words for a failed request; the class it belongs to. */
static enum ad_outcome ad_http_failure(struct ad_src *s, int rc, const struct mf_error *e,
				       int timeout_ms, char **text_r)
{
	char secs[24];

	switch (rc) {
	case MF_ETIMEOUT:
		*text_r = xasprintf("no answer within %s s", mf_secs_text(timeout_ms, secs));
		return AD_OUT_ERROR;
	case MF_ELIMIT:
		*text_r = xstrdup(AD_TXT_TOO_BIG);
		return AD_OUT_REFUSED;
	case MF_ETLS:
		*text_r = xstrdup(e->msg);
		return AD_OUT_REFUSED;
	case MF_EDNS:
		*text_r = xstrdup(e->msg[0] != '\0' ? e->msg : "no such host");
		return AD_OUT_NOTHING;
	default:
		(void)s;
		*text_r = xstrdup(e->msg[0] != '\0' ? e->msg : mf_errcode_name(rc));
		return AD_OUT_ERROR;
	}
}

/* A non-200 final status: words and class. */
static enum ad_outcome ad_status_failure(struct ad_src *s, const struct http_request *req,
					 const struct http_response *resp, char **text_r)
{
	const char *offer = resp->www_authenticate;

	if (resp->status == 401) {
		if (req->auth == HTTP_AUTH_NONE)
			*text_r = xstrdup(AD_TXT_NEED_CREDS);
		else if (offer != NULL && offer[0] != '\0')
			*text_r = xasprintf(AD_TXT_BAD_CREDS " (the server offers %s)", offer);
		else
			*text_r = xstrdup(AD_TXT_BAD_CREDS);
		return AD_OUT_ERROR;
	}
	(void)s;
	*text_r = xasprintf("HTTP %ld", resp->status);
	return resp->status == 404 ? AD_OUT_NOTHING : AD_OUT_ERROR;
}

int ad_fetch(struct ad_src *s, struct ad_hop *hop, const struct ad_fetch *f,
	     struct http_response *resp, char **final_url_r)
{
	struct ad_ctx *ctx = s->ctx;
	char *url = xstrdup(f->url);
	char *key = ad_visit_key(url, f->visit_key);
	const char *method = f->body != NULL ? "POST" : "GET";

	memset(resp, 0, sizeof(*resp));
	*final_url_r = NULL;
	/* The first URL counts as visited: a redirect back to it is a loop. */
	ad_strset_add(&hop->visited, key);
	free(key);
	for (;;) {
		struct http_request req = {
			.method = method,
			.url = url,
			.content_type = f->content_type,
			.body = f->body,
			.body_len = f->body != NULL ? strlen(f->body) : 0,
			.auth = HTTP_AUTH_NONE,
			.timeout_ms = ad_timeout_ms(ctx),
			/* no .trace: the line below says more */
		};
		struct mf_error e = { 0 };
		enum ad_outcome out;
		char *text = NULL;
		int rc;

		if (req.timeout_ms <= 0) {
			ad_note(s, AD_OUT_ERROR, "%s -> overall deadline passed", url);
			ad_trace(s, "%s %s -> overall deadline passed", method, url);
			break;
		}
		if (f->credentials && ctx->password != NULL && ad_url_is_https(url)) {
			req.auth = HTTP_AUTH_ANY;
			req.user = ctx->user;
			req.password = ctx->password;
		}
		rc = http_do(&req, resp, &e);
		if (rc < 0) {
			out = ad_http_failure(s, rc, &e, req.timeout_ms, &text);
			ad_note(s, out, "%s -> %s", url, text);
			ad_trace(s, "%s %s%s -> %s", method, url,
				 req.auth != HTTP_AUTH_NONE ? " (with credentials)" : "", text);
			free(text);
			http_response_free(resp);
			memset(resp, 0, sizeof(*resp));
			break;
		}
		if (resp->status >= 300 && resp->status < 400 && resp->status != 304) {
			char *loc = resp->location != NULL ? xstrdup(resp->location) : NULL;
			long status = resp->status;

			ad_trace(s, "%s %s%s -> %ld redirect to %s", method, url,
				 req.auth != HTTP_AUTH_NONE ? " (with credentials)" : "",
				 status, loc != NULL ? loc : "(no Location)");
			http_response_free(resp);
			memset(resp, 0, sizeof(*resp));
			if (loc == NULL) {
				ad_note(s, AD_OUT_ERROR, "%s -> HTTP %ld without Location", url,
					status);
				break;
			}
			if (ad_hop_check(s, hop, url, loc, f->visit_key) < 0) {
				free(loc);
				break;
			}
			free(url);
			url = loc;
			continue;
		}
		if (resp->status != 200) {
			out = ad_status_failure(s, &req, resp, &text);
			ad_note(s, out, "%s -> %s", url, text);
			ad_trace(s, "%s %s%s -> %s", method, url,
				 req.auth != HTTP_AUTH_NONE ? " (with credentials)" : "", text);
			free(text);
			http_response_free(resp);
			memset(resp, 0, sizeof(*resp));
			break;
		}
		ad_trace(s, "%s %s%s -> 200 (%zu bytes)", method, url,
			 req.auth != HTTP_AUTH_NONE ? " (with credentials)" : "", resp->body.len);
		*final_url_r = url;
		return 0;
	}
	free(url);
	return -1;
}
