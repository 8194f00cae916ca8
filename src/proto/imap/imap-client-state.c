/* imap-client-state.c: what the IMAP client learns from responses by
 * itself, before the command's callbacks see them: capabilities
 * (CAPABILITY, [CAPABILITY ...], APPENDLIMIT=n), the ID response, the
 * selected mailbox's codes (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, READ-ONLY)
 * and EXISTS, BYE; and the accessors for all of it. RFCs: see
 * imap-client.c.
 */
#include "proto/imap/imap-client-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

static const struct {
	const char *name;
	uint32_t bit;
} cap_names[] = {
	{ "IMAP4REV1", IMAP_CAP_IMAP4REV1 },
	{ "IMAP4REV2", IMAP_CAP_IMAP4REV2 },
	{ "STARTTLS", IMAP_CAP_STARTTLS },
	{ "LOGINDISABLED", IMAP_CAP_LOGINDISABLED },
	{ "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
	{ "AUTH=LOGIN", IMAP_CAP_AUTH_LOGIN },
	{ "SASL-IR", IMAP_CAP_SASL_IR },
	{ "LITERAL+", IMAP_CAP_LITERALPLUS },
	{ "LITERAL-", IMAP_CAP_LITERALMINUS },
	{ "ID", IMAP_CAP_ID },
	{ "UIDPLUS", IMAP_CAP_UIDPLUS },
	{ "CONDSTORE", IMAP_CAP_CONDSTORE },
	{ "QRESYNC", IMAP_CAP_QRESYNC },
	{ "SPECIAL-USE", IMAP_CAP_SPECIAL_USE },
	{ "MOVE", IMAP_CAP_MOVE },
	{ "APPENDLIMIT", IMAP_CAP_APPENDLIMIT },
	{ "MULTIAPPEND", IMAP_CAP_MULTIAPPEND },
	{ "COMPRESS=DEFLATE", IMAP_CAP_COMPRESS },
	{ "NAMESPACE", IMAP_CAP_NAMESPACE },
	{ "ENABLE", IMAP_CAP_ENABLE },
	{ "LIST-EXTENDED", IMAP_CAP_LIST_EXTENDED },
	{ "LIST-STATUS", IMAP_CAP_LIST_STATUS },
	{ "BINARY", IMAP_CAP_BINARY },
	{ "UTF8=ACCEPT", IMAP_CAP_UTF8_ACCEPT },
	{ "UTF8=ONLY", IMAP_CAP_UTF8_ACCEPT },
	{ "ESEARCH", IMAP_CAP_ESEARCH },
};

static void cap_add(struct imap_client *c, const char *atom)
{
	if (strncasecmp(atom, "APPENDLIMIT=", 12) == 0) {
		char *end;
		unsigned long long v;

		c->caps |= IMAP_CAP_APPENDLIMIT;
		errno = 0;
		v = strtoull(atom + 12, &end, 10);
		if (errno == 0 && *end == '\0' && end != atom + 12)
			c->appendlimit = v;
		return;
	}
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		if (strcasecmp(atom, cap_names[i].name) == 0) {
			c->caps |= cap_names[i].bit;
			return;
		}
	}
}

static void caps_set(struct imap_client *c, const struct imap_arg *args, size_t n)
{
	c->caps = 0;
	c->appendlimit = 0;
	buf_reset(&c->caps_text);
	for (size_t i = 0; i < n; i++) {
		if (args[i].type != IMAP_ARG_ATOM)
			continue;
		if (c->caps_text.len > 0)
			buf_putc(&c->caps_text, ' ');
		imap_trace_escape(&c->caps_text, args[i].data, args[i].len);
		cap_add(c, args[i].data);
	}
	c->caps_known = true;
	c->caps_stale = false;
	c->caps_gen++;
}

void imap_client_caps_reset(struct imap_client *c)
{
	c->caps = 0;
	c->appendlimit = 0;
	buf_reset(&c->caps_text);
	c->caps_known = false;
	c->caps_stale = false;
	c->caps_gen++;
}


static bool code_number(const struct imap_response *r, uint64_t *v)
{
	return r->code_args_count >= 1 && imap_arg_number(&r->code_args[0], v);
}

/* Response codes of status responses, tagged or untagged. */
void imap_client_note_code(struct imap_client *c, const struct imap_response *r)
{
	uint64_t v;

	if (r->code == NULL)
		return;
	if (strcmp(r->code, "CAPABILITY") == 0)
		caps_set(c, r->code_args, r->code_args_count);
	else if (strcmp(r->code, "UIDVALIDITY") == 0 && code_number(r, &v))
		c->mbox.uidvalidity = (uint32_t)v;
	else if (strcmp(r->code, "UIDNEXT") == 0 && code_number(r, &v))
		c->mbox.uidnext = (uint32_t)v;
	else if (strcmp(r->code, "HIGHESTMODSEQ") == 0 && code_number(r, &v))
		c->mbox.highestmodseq = v;
	else if (strcmp(r->code, "NOMODSEQ") == 0)
		c->mbox.highestmodseq = 0;
	else if (strcmp(r->code, "READ-ONLY") == 0)
		c->mbox.readonly = true;
	else if (strcmp(r->code, "READ-WRITE") == 0)
		c->mbox.readonly = false;
}

/* "* ID ("name" "Dovecot" ...)" -> "name=Dovecot; ..." */
static void note_id(struct imap_client *c, const struct imap_response *r)
{
	struct buf b = BUF_INIT;
	const struct imap_arg *l;

	if (r->args_count >= 1 && r->args[0].type == IMAP_ARG_LIST) {
		l = r->args[0].list;
		for (size_t i = 0; i + 1 < r->args[0].list_count; i += 2) {
			const char *k = imap_arg_text(&l[i]);
			const char *v = imap_arg_text(&l[i + 1]);

			if (k == NULL || v == NULL)
				continue;
			if (b.len > 0)
				buf_puts(&b, "; ");
			imap_trace_escape(&b, k, strlen(k));
			buf_putc(&b, '=');
			imap_trace_escape(&b, v, strlen(v));
		}
	}
	free(c->server_id);
	c->server_id = b.len > 0 ? buf_steal(&b) : xstrdup("");
	buf_free(&b);
}

void imap_client_note_untagged(struct imap_client *c, const struct imap_response *r)
{
	if (r->status != IMAP_STATUS_NONE) {
		if (r->status == IMAP_STATUS_BYE) {
			c->bye = true;
			free(c->bye_text);
			c->bye_text = r->code != NULL ? xasprintf("[%s] %s", r->code, r->text)
						      : xstrdup(r->text);
		}
		imap_client_note_code(c, r);
		return;
	}
	if (r->keyword == NULL)
		return;
	if (strcmp(r->keyword, "CAPABILITY") == 0)
		caps_set(c, r->args, r->args_count);
	else if (strcmp(r->keyword, "ID") == 0)
		note_id(c, r);
	else if (strcmp(r->keyword, "EXISTS") == 0 && r->has_number)
		c->mbox.exists = r->number;
}

/* ---- accessors ------------------------------------------------------------------ */

uint32_t imap_client_caps(const struct imap_client *c)
{
	return c->caps;
}

const char *imap_client_caps_text(const struct imap_client *c)
{
	return buf_cstr(&c->caps_text);
}

bool imap_client_has_cap(const struct imap_client *c, const char *atom)
{
	const char *p = buf_cstr(&c->caps_text);
	size_t n = strlen(atom);

	while (*p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);

		if (len == n && strncasecmp(p, atom, n) == 0)
			return true;
		p += len;
		if (*p == ' ')
			p++;
	}
	return false;
}

uint64_t imap_client_appendlimit(const struct imap_client *c)
{
	return c->appendlimit;
}

const char *imap_client_greeting(const struct imap_client *c)
{
	return c->greeting != NULL ? c->greeting : "";
}

const char *imap_client_server_id(const struct imap_client *c)
{
	return c->server_id;
}

bool imap_client_bye(const struct imap_client *c)
{
	return c->bye;
}
