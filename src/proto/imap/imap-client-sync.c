/* imap-client-sync.c: the IMAP client's synchronous helpers (CAPABILITY,
 * STARTTLS, ID, LOGIN, AUTHENTICATE PLAIN, LIST, SELECT, LOGOUT); each
 * queues its command(s) and runs the client until they complete.
 * RFCs: see imap-client.c.
 */
#include "proto/imap/imap-client-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "util/xmalloc.h"

#ifndef MF_VERSION
#define MF_VERSION "0"
#endif

/* How long LOGOUT waits for the server's answer. */
#define IMAP_LOGOUT_TIMEOUT_MS 2000

/* The tagged answer of one command, copied out of the parser's arena. The
 * helpers' own contexts start with this struct, because the untagged and
 * done callbacks share one ctx pointer. */
struct sync_resp {
	bool done;
	enum imap_status status;
	char *code;  /* owned, NULL when none */
	char *text;  /* owned */
};

static void sync_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct sync_resp *sr = ctx;

	(void)err;
	sr->done = true;
	if (r == NULL)
		return;
	sr->status = r->status;
	sr->code = r->code != NULL ? xstrdup(r->code) : NULL;
	sr->text = xstrdup(r->text);
}

static void sync_resp_free(struct sync_resp *sr)
{
	free(sr->code);
	free(sr->text);
	sr->code = sr->text = NULL;
}

/* Submit cmd with ctx (which starts with a struct sync_resp) and run until
 * it completes. Returns 0 (then the sync_resp is filled) or the client's
 * connection-level error. */
static int sync_run(struct imap_client *c, struct imap_cmd *cmd, imap_untagged_fn *untagged,
		    struct sync_resp *sr, struct mf_error *err)
{
	const char *tag = imap_client_submit(c, cmd, untagged, sync_done, sr);
	int rc = imap_client_run(c, tag, err);

	if (rc < 0)
		return rc;
	if (!sr->done)
		return mf_error_set(err, MF_EPROTO, "command did not complete");
	return 0;
}

/* Fail with code and "what: [CODE] text" (a NO or BAD answer). */
static int sync_reject(const struct sync_resp *sr, int code, const char *what,
		       struct mf_error *err)
{
	if (sr->code != NULL)
		return mf_error_set(err, code, "%s: [%s] %s", what, sr->code,
				    sr->text != NULL ? sr->text : "");
	return mf_error_set(err, code, "%s: %s", what, sr->text != NULL ? sr->text : "");
}

static int status_code(const struct sync_resp *sr)
{
	return sr->status == IMAP_STATUS_BAD ? MF_EBAD : MF_ENO;
}

/* ---- CAPABILITY, STARTTLS, ID ------------------------------------------------- */

int imap_client_capability(struct imap_client *c, bool force, struct mf_error *err)
{
	struct sync_resp sr = { 0 };
	int rc;

	if (!force && c->caps_known && !c->caps_stale && !c->dead)
		return 0;
	rc = sync_run(c, imap_cmd_new("CAPABILITY"), NULL, &sr, err);
	if (rc == 0 && sr.status != IMAP_STATUS_OK)
		rc = sync_reject(&sr, status_code(&sr), "CAPABILITY failed", err);
	sync_resp_free(&sr);
	return rc;
}

/* Did the server send anything after the STARTTLS OK? Such bytes were
 * written before the handshake and would be read as if they came over TLS
 * (the STARTTLS command injection of CVE-2011-0411 and its kin). */
static bool starttls_injected(const struct imap_client *c)
{
	char b;

	if (c->rpos < c->rlen || c->parser_partial)
		return true;
	return recv(net_fd(c->conn), &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

int imap_client_starttls(struct imap_client *c, const struct net_tls_opts *tls, int timeout_ms,
			 struct mf_error *err)
{
	struct sync_resp sr = { 0 };
	struct mf_error e = { 0 };
	int rc;

	if (!c->dead && net_is_tls(c->conn))
		return mf_error_set(err, MF_EINVAL, "STARTTLS on a TLS connection");
	if (!c->dead && (c->pending != NULL || c->inflight != NULL))
		return mf_error_set(err, MF_EINVAL, "STARTTLS with other commands outstanding");
	rc = sync_run(c, imap_cmd_new("STARTTLS"), NULL, &sr, err);
	if (rc == 0 && sr.status != IMAP_STATUS_OK)
		rc = sync_reject(&sr, status_code(&sr), "STARTTLS rejected", err);
	sync_resp_free(&sr);
	if (rc < 0)
		return rc;
	if (starttls_injected(c))
		return imap_client_kill(c, MF_EPROTO,
					"server sent data after the STARTTLS OK (possible STARTTLS "
					"injection); refusing to continue",
					err);
	rc = net_start_tls(c->conn, tls, timeout_ms, &e);
	if (rc < 0)
		return imap_client_kill(c, rc, e.msg, err);
	imap_client_reset_stream(c);
	imap_client_caps_reset(c);
	return 0;
}

int imap_client_id(struct imap_client *c, struct mf_error *err)
{
	struct sync_resp sr = { 0 };
	struct imap_cmd *cmd;
	int rc;

	if ((c->caps & IMAP_CAP_ID) == 0 && !c->dead)
		return 0;
	cmd = imap_cmd_new("ID");
	imap_cmd_atom(cmd, "(\"name\" \"mailferry\" \"version\" \"" MF_VERSION "\")");
	rc = sync_run(c, cmd, NULL, &sr, err);
	/* A NO or BAD to ID changes nothing for us. */
	sync_resp_free(&sr);
	return rc;
}

/* ---- LOGIN, AUTHENTICATE PLAIN ------------------------------------------------- */

/* After a successful login the capabilities change; unless the server sent
 * them (in the tagged OK or untagged), the old ones are stale. */
static void login_caps(struct imap_client *c, unsigned gen_before)
{
	if (c->caps_gen == gen_before)
		c->caps_stale = true;
}

int imap_client_login(struct imap_client *c, const char *user, const char *password,
		      struct mf_error *err)
{
	struct sync_resp sr = { 0 };
	struct imap_cmd *cmd;
	unsigned gen;
	int rc;

	if ((c->caps & IMAP_CAP_LOGINDISABLED) != 0 && !c->dead)
		return mf_error_set(err, MF_EAUTH,
				    "server disables LOGIN (LOGINDISABLED) on this connection");
	cmd = imap_cmd_new("LOGIN");
	imap_cmd_astring(cmd, user);
	imap_cmd_secret(cmd, password);
	gen = c->caps_gen;
	rc = sync_run(c, cmd, NULL, &sr, err);
	if (rc == 0 && sr.status == IMAP_STATUS_OK)
		login_caps(c, gen);
	else if (rc == 0)
		rc = sync_reject(&sr, sr.status == IMAP_STATUS_BAD ? MF_EBAD : MF_EAUTH,
				 "LOGIN rejected", err);
	sync_resp_free(&sr);
	return rc;
}

int imap_client_authenticate_plain(struct imap_client *c, const char *authzid,
				   const char *authcid, const char *password,
				   struct mf_error *err)
{
	struct sync_resp sr = { 0 };
	size_t zlen = authzid != NULL ? strlen(authzid) : 0;
	size_t clen = strlen(authcid), plen = strlen(password);
	size_t mlen = zlen + 1 + clen + 1 + plen;
	size_t blen = 4 * ((mlen + 2) / 3) + 1;
	unsigned char *msg = xmalloc(mlen);
	unsigned char *b64 = xmalloc(blen);
	struct imap_cmd *cmd;
	unsigned gen;
	int rc, n;

	/* RFC 4616: message = [authzid] NUL authcid NUL passwd */
	if (zlen > 0)
		memcpy(msg, authzid, zlen);
	msg[zlen] = '\0';
	memcpy(msg + zlen + 1, authcid, clen);
	msg[zlen + 1 + clen] = '\0';
	memcpy(msg + zlen + 2 + clen, password, plen);
	n = EVP_EncodeBlock(b64, msg, (int)mlen);
	b64[n] = '\0';
	mf_memzero(msg, mlen);
	free(msg);

	cmd = imap_cmd_new("AUTHENTICATE");
	imap_cmd_atom(cmd, "PLAIN");
	if (c->caps & IMAP_CAP_SASL_IR)
		imap_cmd_raw(cmd, (const char *)b64, true);
	else
		imap_cmd_cont(cmd, b64, (size_t)n, true);
	mf_memzero(b64, blen);
	free(b64);

	gen = c->caps_gen;
	rc = sync_run(c, cmd, NULL, &sr, err);
	if (rc == 0 && sr.status == IMAP_STATUS_OK)
		login_caps(c, gen);
	else if (rc == 0)
		rc = sync_reject(&sr, sr.status == IMAP_STATUS_BAD ? MF_EBAD : MF_EAUTH,
				 "AUTHENTICATE PLAIN rejected", err);
	sync_resp_free(&sr);
	return rc;
}

/* ---- LIST ------------------------------------------------------------------------- */

struct list_ctx {
	struct sync_resp sr;    /* first: see struct sync_resp */
	struct imap_list_result *out;
	size_t cap;
};

struct lsub_ctx {
	struct sync_resp sr;    /* first */
	char **names;
	size_t count, cap;
};

static const struct {
	const char *name;
	uint32_t bit;
} list_flags[] = {
	{ "\\NOSELECT", IMAP_LIST_NOSELECT },
	{ "\\NOINFERIORS", IMAP_LIST_NOINFERIORS },
	{ "\\HASCHILDREN", IMAP_LIST_HASCHILDREN },
	{ "\\HASNOCHILDREN", IMAP_LIST_HASNOCHILDREN },
	{ "\\SUBSCRIBED", IMAP_LIST_SUBSCRIBED },
	{ "\\NONEXISTENT", IMAP_LIST_NONEXISTENT },
	{ "\\ALL", IMAP_LIST_ALL },
	{ "\\ARCHIVE", IMAP_LIST_ARCHIVE },
	{ "\\DRAFTS", IMAP_LIST_DRAFTS },
	{ "\\FLAGGED", IMAP_LIST_FLAGGED },
	{ "\\JUNK", IMAP_LIST_JUNK },
	{ "\\SENT", IMAP_LIST_SENT },
	{ "\\TRASH", IMAP_LIST_TRASH },
};

static uint32_t list_flags_parse(const struct imap_arg *l)
{
	uint32_t flags = 0;

	for (size_t i = 0; i < l->list_count; i++) {
		for (size_t j = 0; j < sizeof(list_flags) / sizeof(list_flags[0]); j++) {
			if (imap_arg_is_atom(&l->list[i], list_flags[j].name))
				flags |= list_flags[j].bit;
		}
	}
	return flags;
}

/* "* LIST (flags) delimiter name [extended]": the name, or NULL when the
 * response is malformed (then it is skipped). */
static const struct imap_arg *list_parse(const struct imap_response *r, uint32_t *flags_r,
					 char *delim_r)
{
	const struct imap_arg *a = r->args;

	if (r->args_count < 3 || a[0].type != IMAP_ARG_LIST)
		return NULL;
	if (a[1].type == IMAP_ARG_NIL)
		*delim_r = '\0';
	else if ((a[1].type == IMAP_ARG_STRING || a[1].type == IMAP_ARG_ATOM) && a[1].len == 1)
		*delim_r = a[1].data[0];
	else
		return NULL;
	if (a[2].type != IMAP_ARG_ATOM && a[2].type != IMAP_ARG_STRING &&
	    a[2].type != IMAP_ARG_LITERAL)
		return NULL;
	*flags_r = list_flags_parse(&a[0]);
	return &a[2];
}

static void list_untagged(void *ctx, const struct imap_response *r)
{
	struct list_ctx *lc = ctx;
	struct imap_list_entry *e;
	const struct imap_arg *name;
	uint32_t flags;
	char delim;

	if (r->keyword == NULL || strcmp(r->keyword, "LIST") != 0)
		return;
	name = list_parse(r, &flags, &delim);
	if (name == NULL)
		return;
	if (lc->out->count == lc->cap) {
		lc->cap = lc->cap == 0 ? 16 : lc->cap * 2;
		lc->out->entries = xreallocarray(lc->out->entries, lc->cap, sizeof(*e));
	}
	e = &lc->out->entries[lc->out->count++];
	e->name = xstrndup(name->data, name->len);
	e->delimiter = delim;
	e->flags = flags;
}

static void lsub_untagged(void *ctx, const struct imap_response *r)
{
	struct lsub_ctx *lc = ctx;
	const struct imap_arg *name;
	uint32_t flags;
	char delim;

	if (r->keyword == NULL || strcmp(r->keyword, "LSUB") != 0)
		return;
	name = list_parse(r, &flags, &delim);
	if (name == NULL)
		return;
	if (lc->count == lc->cap) {
		lc->cap = lc->cap == 0 ? 16 : lc->cap * 2;
		lc->names = xreallocarray(lc->names, lc->cap, sizeof(*lc->names));
	}
	lc->names[lc->count++] = xstrndup(name->data, name->len);
}

static bool same_mailbox(const char *a, const char *b)
{
	/* INBOX is case-insensitive (RFC 9051 section 5.1). */
	if (strcasecmp(a, "INBOX") == 0)
		return strcasecmp(b, "INBOX") == 0;
	return strcmp(a, b) == 0;
}

static void lsub_apply(struct imap_list_result *out, const struct lsub_ctx *lc)
{
	for (size_t i = 0; i < out->count; i++) {
		for (size_t j = 0; j < lc->count; j++) {
			if (same_mailbox(out->entries[i].name, lc->names[j])) {
				out->entries[i].flags |= IMAP_LIST_SUBSCRIBED;
				break;
			}
		}
	}
}

void imap_list_result_free(struct imap_list_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->count; i++)
		free(r->entries[i].name);
	free(r->entries);
	r->entries = NULL;
	r->count = 0;
}

/* With LIST-EXTENDED and SPECIAL-USE one LIST answers everything; otherwise
 * LSUB is pipelined behind a plain LIST for the subscriptions (plain LIST
 * still carries special-use attributes on SPECIAL-USE servers). A failing
 * LSUB (IMAP4rev2 servers may drop it) leaves subscriptions unknown rather
 * than failing the listing. */
int imap_client_list(struct imap_client *c, struct imap_list_result *out, struct mf_error *err)
{
	return imap_client_list_pattern(c, "*", out, err);
}

int imap_client_list_pattern(struct imap_client *c, const char *pattern,
			     struct imap_list_result *out, struct mf_error *err)
{
	struct list_ctx lc = { .out = out };
	struct lsub_ctx sc = { 0 };
	bool ext = (c->caps & IMAP_CAP_LIST_EXTENDED) && (c->caps & IMAP_CAP_SPECIAL_USE);
	char list_tag[16], lsub_tag[16] = "";
	struct imap_cmd *cmd;
	int rc;

	out->entries = NULL;
	out->count = 0;
	out->subscriptions_known = false;
	cmd = imap_cmd_new("LIST");
	imap_cmd_astring(cmd, "");
	imap_cmd_astring(cmd, pattern);
	if (ext)
		imap_cmd_atom(cmd, "RETURN (SPECIAL-USE SUBSCRIBED)");
	snprintf(list_tag, sizeof(list_tag), "%s",
		 imap_client_submit(c, cmd, list_untagged, sync_done, &lc));
	if (!ext) {
		cmd = imap_cmd_new("LSUB");
		imap_cmd_astring(cmd, "");
		imap_cmd_astring(cmd, pattern);
		snprintf(lsub_tag, sizeof(lsub_tag), "%s",
			 imap_client_submit(c, cmd, lsub_untagged, sync_done, &sc));
	}
	rc = imap_client_run(c, list_tag, err);
	if (rc == 0 && !ext)
		rc = imap_client_run(c, lsub_tag, err);
	if (rc == 0 && (!lc.sr.done || (!ext && !sc.sr.done)))
		rc = mf_error_set(err, MF_EPROTO, "command did not complete");
	if (rc == 0 && lc.sr.status != IMAP_STATUS_OK)
		rc = sync_reject(&lc.sr, status_code(&lc.sr), "LIST failed", err);
	if (rc == 0 && !ext && sc.sr.status == IMAP_STATUS_OK)
		lsub_apply(out, &sc);
	if (rc == 0)
		out->subscriptions_known = ext || sc.sr.status == IMAP_STATUS_OK;
	for (size_t i = 0; i < sc.count; i++)
		free(sc.names[i]);
	free(sc.names);
	sync_resp_free(&lc.sr);
	sync_resp_free(&sc.sr);
	if (rc < 0)
		imap_list_result_free(out);
	return rc;
}

/* ---- SELECT / EXAMINE, LOGOUT -------------------------------------------------------- */

static void select_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imap_select_op *op = ctx;

	(void)err;
	op->done = true;
	if (r == NULL)
		return;
	op->status = r->status;
	op->ok = r->status == IMAP_STATUS_OK;
	op->code = r->code != NULL ? xstrdup(r->code) : NULL;
	op->text = xstrdup(r->text);
}

const char *imap_client_select_submit(struct imap_client *c, const char *mailbox, bool readonly,
				      struct imap_select_op *op)
{
	struct imap_cmd *cmd;

	memset(op, 0, sizeof(*op));
	op->readonly = readonly;
	op->mailbox = xstrdup(mailbox);
	/* Filled by the client's own bookkeeping from EXISTS and the codes. */
	memset(&c->mbox, 0, sizeof(c->mbox));
	cmd = imap_cmd_new(readonly ? "EXAMINE" : "SELECT");
	imap_cmd_astring(cmd, mailbox);
	/* RFC 7162: enables CONDSTORE so the server reports HIGHESTMODSEQ. */
	if (c->caps & IMAP_CAP_CONDSTORE)
		imap_cmd_atom(cmd, "(CONDSTORE)");
	return imap_client_submit(c, cmd, NULL, select_done, op);
}

int imap_client_select_finish(struct imap_client *c, struct imap_select_op *op,
			      struct imap_mailbox_state *st, struct mf_error *err)
{
	const char *verb = op->readonly ? "EXAMINE" : "SELECT";
	struct sync_resp sr = { op->done, op->status, op->code, op->text };
	int rc = 0;

	memset(st, 0, sizeof(*st));
	if (!op->done)
		rc = mf_error_set(err, MF_EPROTO, "command did not complete");
	if (rc == 0 && op->status != IMAP_STATUS_OK) {
		char what[300];

		snprintf(what, sizeof(what), "%s %s failed", verb, op->mailbox);
		rc = sync_reject(&sr, status_code(&sr), what, err);
	}
	if (rc == 0) {
		*st = c->mbox;
		if (op->readonly)
			st->readonly = true;
	}
	free(op->code);
	free(op->text);
	free(op->mailbox);
	op->code = op->text = op->mailbox = NULL;
	return rc;
}

int imap_client_select(struct imap_client *c, const char *mailbox, bool readonly,
		       struct imap_mailbox_state *st, struct mf_error *err)
{
	struct imap_select_op op;
	const char *tag = imap_client_select_submit(c, mailbox, readonly, &op);
	int rc = imap_client_run(c, tag, err);

	if (rc < 0) {
		free(op.code);
		free(op.text);
		free(op.mailbox);
		memset(st, 0, sizeof(*st));
		return rc;
	}
	return imap_client_select_finish(c, &op, st, err);
}

const struct imap_mailbox_state *imap_client_mailbox(const struct imap_client *c)
{
	return &c->mbox;
}

int imap_client_logout(struct imap_client *c, struct mf_error *err)
{
	struct sync_resp sr = { 0 };
	int saved = c->io_timeout_ms;
	int rc;

	if (c->io_timeout_ms > IMAP_LOGOUT_TIMEOUT_MS)
		c->io_timeout_ms = IMAP_LOGOUT_TIMEOUT_MS;
	rc = sync_run(c, imap_cmd_new("LOGOUT"), NULL, &sr, err);
	c->io_timeout_ms = saved;
	/* The server may close right after its BYE, before the tagged OK. */
	if (rc < 0 && c->bye) {
		mf_error_clear(err);
		rc = 0;
	} else if (rc == 0 && sr.status != IMAP_STATUS_OK) {
		rc = sync_reject(&sr, status_code(&sr), "LOGOUT failed", err);
	}
	sync_resp_free(&sr);
	return rc;
}
