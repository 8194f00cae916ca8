/* ad-util.c: addresses, domains, URLs, escaping, deadlines, trace and notes
 * for autodiscover (ad-private.h). */
#include "proto/autodiscover/ad-private.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mftime.h"
#include "util/xmalloc.h"

const char *const ad_source_names[AD_SRC_COUNT] = {
	"pox", "autodiscover-v2", "autoconfig", "srv", "mx", "guess",
};

/* Public suffixes of two labels under which registrations sit one level
 * deeper. Not the whole Public Suffix List: enough for the MX hosts of
 * mail providers, which is all the MX source asks. */
static const char *const ad_two_label_suffixes[] = {
	"co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk",
	"com.au", "net.au", "org.au", "edu.au", "gov.au",
	"co.nz", "net.nz", "org.nz",
	"co.jp", "ne.jp", "or.jp", "ac.jp",
	"co.za", "co.in", "co.kr", "co.il", "co.id", "co.th",
	"com.br", "com.cn", "com.mx", "com.tr", "com.tw", "com.sg", "com.hk", "com.ar",
	"com.my", "com.ua", "com.pl",
};

char *ad_lower(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	return r;
}

static bool ad_label_ok(const char *p, size_t n)
{
	if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (!isalnum(ch) && ch != '-' && ch != '_')
			return false;
	}
	return true;
}

bool ad_host_syntax_ok(const char *host)
{
	const char *p = host, *dot;
	size_t labels = 0, total;
	bool last_digits = true;

	if (host == NULL || (total = strlen(host)) == 0 || total > 253)
		return false;
	for (;;) {
		dot = strchr(p, '.');
		size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);

		if (!ad_label_ok(p, n))
			return false;
		labels++;
		if (dot == NULL) {
			last_digits = strspn(p, "0123456789") == n;
			break;
		}
		p = dot + 1;
	}
	return labels >= 2 && !last_digits;
}

int ad_email_split(const char *email, char **local_r, char **domain_r, struct mf_error *err)
{
	const char *at;

	*local_r = NULL;
	*domain_r = NULL;
	if (email == NULL || email[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "no e-mail address given");
	at = strrchr(email, '@');
	if (at == NULL || at == email || strlen(email) > 254 || strchr(email, '@') != at)
		goto bad;
	for (const char *p = email; p < at; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= ' ' || ch == 0x7f || strchr("\"(),:;<>[\\]", ch) != NULL)
			goto bad;
	}
	if (!ad_host_syntax_ok(at + 1))
		goto bad;
	*local_r = xstrndup(email, (size_t)(at - email));
	*domain_r = ad_lower(at + 1);
	return 0;
bad:
	return mf_error_set(err, MF_EINVAL, "'%s' is not an e-mail address (expected USER@DOMAIN)",
			    email);
}

bool ad_host_in_domain(const char *host, const char *domain)
{
	size_t hn, dn;

	if (host == NULL || domain == NULL)
		return false;
	hn = strlen(host);
	if (hn > 0 && host[hn - 1] == '.')
		hn--;
	dn = strlen(domain);
	if (dn == 0 || hn < dn)
		return false;
	if (strncasecmp(host + hn - dn, domain, dn) != 0)
		return false;
	return hn == dn || host[hn - dn - 1] == '.';
}

char *ad_registrable_domain(const char *host)
{
	char *h = ad_lower(host);
	size_t n = strlen(h);
	const char *p, *last2 = NULL, *last3 = NULL;

	if (n > 0 && h[n - 1] == '.')
		h[--n] = '\0';
	/* Walk back over the labels: last2 starts the last two, last3 the last
	 * three. */
	int dots = 0;

	for (p = h + n; p > h; p--) {
		if (p[-1] != '.')
			continue;
		dots++;
		if (dots == 2)
			last2 = p;
		else if (dots == 3) {
			last3 = p;
			break;
		}
	}
	if (last2 == NULL) {
		/* one or two labels: the host is its own registrable domain */
		return h;
	}
	for (size_t i = 0; i < sizeof(ad_two_label_suffixes) / sizeof(ad_two_label_suffixes[0]);
	     i++) {
		if (strcmp(last2, ad_two_label_suffixes[i]) == 0) {
			char *r = xstrdup(last3 != NULL ? last3 : h);

			free(h);
			return r;
		}
	}
	char *r = xstrdup(last2);

	free(h);
	return r;
}

static bool ad_prefix(const char *s, const char *prefix)
{
	return s != NULL && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

bool ad_url_is_https(const char *url)
{
	return ad_prefix(url, "https://");
}

bool ad_url_is_http(const char *url)
{
	return ad_prefix(url, "http://");
}

char *ad_url_host(const char *url)
{
	const char *p, *end;

	if (ad_url_is_https(url))
		p = url + 8;
	else if (ad_url_is_http(url))
		p = url + 7;
	else
		return NULL;
	/* userinfo is not part of any URL we accept */
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return NULL;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (close == NULL)
			return NULL;
		char *r = xstrndup(p + 1, (size_t)(close - p - 1));

		return r;
	}
	const char *colon = memchr(p, ':', (size_t)(end - p));

	if (colon != NULL)
		end = colon;
	if (end == p)
		return NULL;
	char *raw = xstrndup(p, (size_t)(end - p));
	char *r = ad_lower(raw);

	free(raw);
	return r;
}

char *ad_pct_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	struct buf b = BUF_INIT;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || strchr("-._~@", *p) != NULL) {
			buf_putc(&b, (char)*p);
		} else {
			buf_putc(&b, '%');
			buf_putc(&b, hex[*p >> 4]);
			buf_putc(&b, hex[*p & 15]);
		}
	}
	buf_puts(&b, "");
	return buf_steal(&b);
}

char *ad_xml_escape(const char *s)
{
	struct buf b = BUF_INIT;

	for (const char *p = s; *p != '\0'; p++) {
		switch (*p) {
		case '&':
			buf_puts(&b, "&amp;");
			break;
		case '<':
			buf_puts(&b, "&lt;");
			break;
		case '>':
			buf_puts(&b, "&gt;");
			break;
		case '"':
			buf_puts(&b, "&quot;");
			break;
		case '\'':
			buf_puts(&b, "&apos;");
			break;
		default:
			buf_putc(&b, *p);
		}
	}
	buf_puts(&b, "");
	return buf_steal(&b);
}

char *ad_placeholders(const char *tmpl, const char *email)
{
	const char *at = strrchr(email, '@');
	size_t local_len = at != NULL ? (size_t)(at - email) : strlen(email);
	const char *domain = at != NULL ? at + 1 : "";
	struct buf b = BUF_INIT;

	for (const char *p = tmpl; *p != '\0';) {
		if (strncmp(p, "%EMAILADDRESS%", 14) == 0) {
			buf_puts(&b, email);
			p += 14;
		} else if (strncmp(p, "%EMAILLOCALPART%", 16) == 0) {
			buf_append(&b, email, local_len);
			p += 16;
		} else if (strncmp(p, "%EMAILDOMAIN%", 13) == 0) {
			buf_puts(&b, domain);
			p += 13;
		} else {
			buf_putc(&b, *p++);
		}
	}
	buf_puts(&b, "");
	return buf_steal(&b);
}

int ad_left_ms(const struct ad_ctx *ctx)
{
	int64_t left = ctx->deadline_ms - mf_now_ms();

	if (left <= 0)
		return 0;
	return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

int ad_timeout_ms(const struct ad_ctx *ctx)
{
	int left = ad_left_ms(ctx);

	return left < ctx->request_timeout_ms ? left : ctx->request_timeout_ms;
}

void ad_trace(struct ad_src *s, const char *fmt, ...)
{
	FILE *f = s->ctx->o->trace;
	va_list ap;
	char *line;

	if (f == NULL)
		return;
	va_start(ap, fmt);
	line = xvasprintf(fmt, ap);
	va_end(ap);
	for (char *p = line; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ')
			*p = ' ';
	}
	pthread_mutex_lock(&s->ctx->lock);
	fprintf(f, "autodiscover %s: %s\n", s->name, line);
	fflush(f);
	pthread_mutex_unlock(&s->ctx->lock);
	free(line);
}

void ad_note(struct ad_src *s, enum ad_outcome out, const char *fmt, ...)
{
	va_list ap;
	size_t start;

	if (s->notes.len > 0)
		buf_puts(&s->notes, "; ");
	start = s->notes.len;
	va_start(ap, fmt);
	buf_vprintf(&s->notes, fmt, ap);
	va_end(ap);
	for (size_t i = start; i < s->notes.len; i++) {
		if ((unsigned char)s->notes.data[i] < ' ')
			s->notes.data[i] = ' ';
	}
	if (out > s->best)
		s->best = out;
}

struct ad_candidate *ad_cand_add(struct ad_src *s, const char *origin, const char *protocol,
				 enum ad_trust trust)
{
	struct ad_candidate *c;

	s->cands = xreallocarray(s->cands, s->ncands + 1, sizeof(*s->cands));
	c = &s->cands[s->ncands++];
	memset(c, 0, sizeof(*c));
	c->source = xstrdup(s->name);
	c->origin = xstrdup(origin);
	c->protocol = xstrdup(protocol);
	c->trust = trust;
	if (s->best < AD_OUT_FOUND)
		s->best = AD_OUT_FOUND;
	return c;
}

void ad_cand_clear(struct ad_candidate *c)
{
	free(c->source);
	free(c->origin);
	free(c->protocol);
	free(c->server);
	free(c->security);
	free(c->auth);
	free(c->username_hint);
	free(c->ews_url);
	free(c->exchange_server);
	free(c->rpc_proxy_server);
	free(c->auth_package);
	free(c->owa_url);
	free(c->verify_detail);
	free(c->warning);
	memset(c, 0, sizeof(*c));
}

void ad_cand_confirm(struct ad_candidate *c, const char *fmt, ...)
{
	va_list ap;

	c->needs_confirmation = true;
	free(c->warning);
	va_start(ap, fmt);
	c->warning = xvasprintf(fmt, ap);
	va_end(ap);
}

bool ad_strset_add(struct ad_strset *set, const char *s)
{
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->v[i], s) == 0)
			return false;
	}
	set->v = xreallocarray(set->v, set->n + 1, sizeof(*set->v));
	set->v[set->n++] = xstrdup(s);
	return true;
}

void ad_strset_free(struct ad_strset *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i]);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}
