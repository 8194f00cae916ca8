/* imap-driver.c: the IMAP mailbox driver (imap-driver.h): open, close,
 * running commands, the namespace, folders (list, state, roles).
 * Creating folders is in imap-driver-create.c; messages are in
 * imap-driver-fetch.c and imap-driver-append.c.
 *
 * Implements, over our client (src/proto/imap): RFC 9051 / 3501 (LIST,
 * CREATE, SUBSCRIBE, EXAMINE), RFC 2342 NAMESPACE, RFC 6154 SPECIAL-USE and
 * CREATE-SPECIAL-USE, RFC 5258 LIST-EXTENDED, RFC 5530 response codes
 * (ALREADYEXISTS).
 */
#include "drivers/imap-driver-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

/* ---- commands ------------------------------------------------------------------ */

struct imd_cmdctx {
	struct imd_reply *rep;
	imap_untagged_fn *untagged;
	void *uctx;
};

static void imd_cmd_untagged(void *ctx, const struct imap_response *r)
{
	struct imd_cmdctx *cc = ctx;

	if (cc->untagged != NULL)
		cc->untagged(cc->uctx, r);
}

static void imd_cmd_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imd_cmdctx *cc = ctx;

	(void)err;
	cc->rep->done = true;
	if (r == NULL)
		return;
	cc->rep->status = r->status;
	cc->rep->code = r->code != NULL ? xstrdup(r->code) : NULL;
	cc->rep->text = xstrdup(r->text);
}

void imd_reply_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imd_reply *rep = ctx;

	(void)err;
	rep->done = true;
	if (r == NULL)
		return;
	rep->status = r->status;
	rep->code = r->code != NULL ? xstrdup(r->code) : NULL;
	rep->text = xstrdup(r->text);
}

int imd_state_check(const struct imd *m, const char *raw, uint32_t uidvalidity,
		    struct mf_error *err)
{
	for (size_t i = 0; i < m->nstates; i++) {
		if (strcmp(m->states[i].raw, raw) != 0 || m->states[i].uidvalidity == uidvalidity)
			continue;
		return mf_error_set(err, MF_EIO,
				    "UIDVALIDITY of %s changed from %u to %u while it was being "
				    "looked at",
				    raw, m->states[i].uidvalidity, uidvalidity);
	}
	return 0;
}

uint32_t imd_state_count(const struct imd *m, const char *raw)
{
	for (size_t i = 0; i < m->nstates; i++) {
		if (strcmp(m->states[i].raw, raw) == 0)
			return m->states[i].count;
	}
	return UINT32_MAX;
}

void imd_states_clear(struct imd *m)
{
	for (size_t i = 0; i < m->nstates; i++)
		free(m->states[i].raw);
	free(m->states);
	m->states = NULL;
	m->nstates = 0;
}

void imd_reply_free(struct imd_reply *rep)
{
	free(rep->code);
	free(rep->text);
	memset(rep, 0, sizeof(*rep));
}

int imd_run(struct imd *m, struct imap_cmd *cmd, imap_untagged_fn *untagged, void *uctx,
	    struct imd_reply *rep, struct mf_error *err)
{
	struct imd_cmdctx cc = { rep, untagged, uctx };
	const char *tag;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = imd_append_close(m, err);
	if (rc < 0) {
		imap_cmd_free(&cmd);
		return rc;
	}
	tag = imap_client_submit(m->c, cmd, imd_cmd_untagged, imd_cmd_done, &cc);
	rc = imap_client_run(m->c, tag, err);
	if (rc < 0) {
		/* cc is about to go: nothing may still point at it. */
		imap_client_abort(m->c, rc, err != NULL ? err->msg : "command failed");
		return rc;
	}
	if (!rep->done || rep->text == NULL)
		return mf_error_set(err, MF_EPROTO, "command did not complete");
	return 0;
}

int imd_reply_error(const struct imd_reply *rep, int no_code, const char *what,
		    struct mf_error *err)
{
	int code = rep->status == IMAP_STATUS_BAD ? MF_EBAD : no_code;

	if (rep->code != NULL)
		return mf_error_set(err, code, "%s: [%s] %s", what, rep->code,
				    rep->text != NULL ? rep->text : "");
	return mf_error_set(err, code, "%s: %s", what, rep->text != NULL ? rep->text : "");
}

/* ---- namespace ------------------------------------------------------------------ */

static void imd_ns_add_other(struct imd *m, const struct imap_arg *ns)
{
	if (ns->type != IMAP_ARG_LIST)
		return;
	for (size_t i = 0; i < ns->list_count; i++) {
		const struct imap_arg *e = &ns->list[i];
		const char *p, *d;

		if (e->type != IMAP_ARG_LIST || e->list_count < 1)
			continue;
		p = imap_arg_text(&e->list[0]);
		if (p == NULL || p[0] == '\0')
			continue;
		d = e->list_count >= 2 ? imap_arg_text(&e->list[1]) : NULL;
		m->others = xreallocarray(m->others, m->nothers + 1, sizeof(*m->others));
		m->other_seps = xreallocarray(m->other_seps, m->nothers + 1, 1);
		m->other_seps[m->nothers] = d != NULL ? d[0] : '\0';
		m->others[m->nothers++] = xstrdup(p);
	}
}

/* "* NAMESPACE ((prefix delim)...) other shared" */
static void imd_ns_untagged(void *ctx, const struct imap_response *r)
{
	struct imd *m = ctx;
	const struct imap_arg *a = r->args;

	if (r->keyword == NULL || strcmp(r->keyword, "NAMESPACE") != 0 || r->args_count < 1)
		return;
	if (a[0].type == IMAP_ARG_LIST && a[0].list_count > 0 &&
	    a[0].list[0].type == IMAP_ARG_LIST && a[0].list[0].list_count >= 2) {
		const struct imap_arg *e = a[0].list[0].list;
		const char *p = imap_arg_text(&e[0]);
		const char *d = imap_arg_text(&e[1]);

		if (p != NULL) {
			free(m->prefix);
			m->prefix = xstrdup(p);
		}
		m->sep = d != NULL ? d[0] : '\0';
		m->ns_done = true;
	}
	for (size_t i = 1; i < r->args_count && i < 3; i++)
		imd_ns_add_other(m, &a[i]);
}

/* Queue NAMESPACE (when it is still to be asked): its answer comes
 * before that of any command queued after it, so the LIST that follows
 * shares its round trip. rep gets its tagged answer (a refused NAMESPACE
 * leaves the guess from LIST). Returns whether it was queued. */
static bool imd_namespace_submit(struct imd *m, struct imd_cmdctx *cc)
{
	if (m->ns_done || !(imap_client_caps(m->c) & IMAP_CAP_NAMESPACE))
		return false;
	imap_client_submit(m->c, imap_cmd_new("NAMESPACE"), imd_cmd_untagged, imd_cmd_done, cc);
	return true;
}

/* ---- listing -------------------------------------------------------------------- */

static void imd_folders_clear(struct imd *m)
{
	for (size_t i = 0; i < m->nfolders; i++) {
		free(m->folders[i].raw);
		free(m->folders[i].name);
	}
	free(m->folders);
	m->folders = NULL;
	m->nfolders = 0;
	m->listed = false;
}

/* Without NAMESPACE: the separator most entries use. */
static void imd_guess_sep(struct imd *m, const struct imap_list_result *l)
{
	size_t best = 0;

	for (size_t i = 0; i < l->count; i++) {
		size_t n = 0;

		for (size_t j = 0; j < l->count; j++)
			n += l->entries[j].delimiter == l->entries[i].delimiter;
		if (l->entries[i].delimiter != '\0' && n > best) {
			best = n;
			m->sep = l->entries[i].delimiter;
		}
	}
}

int imd_list(struct imd *m, struct mf_error *err)
{
	struct imd_reply ns_rep = { 0 };
	struct imd_cmdctx ns = { &ns_rep, imd_ns_untagged, m };
	struct imap_list_result l;
	bool ns_sent = false;
	int rc;

	rc = imd_append_close(m, err);
	if (rc == 0)
		ns_sent = imd_namespace_submit(m, &ns);
	/* A root is looked up in the namespaces: NAMESPACE is answered
	 * first. Otherwise LIST goes right behind it (its pattern does not
	 * depend on it); both are answered before LIST returns, and a lost
	 * connection calls ns's done before it returns too. */
	if (rc == 0 && ns_sent && m->root != NULL) {
		rc = imap_client_run(m->c, NULL, err);
		if (rc == 0 && !ns_rep.done)
			rc = mf_error_set(err, MF_EPROTO, "command did not complete");
	}
	if (rc == 0 && m->root != NULL)
		rc = imd_root_list(m, &l, err);
	else if (rc == 0)
		rc = imap_client_list(m->c, &l, err);
	if (rc < 0 && ns_sent)
		/* ns is about to go: nothing may still point at it. */
		imap_client_abort(m->c, rc, err != NULL ? err->msg : "command failed");
	imd_reply_free(&ns_rep);
	if (rc < 0)
		return rc;
	if (!m->ns_done && m->root == NULL)
		imd_guess_sep(m, &l);
	imd_folders_clear(m);
	m->folders = xcalloc(l.count > 0 ? l.count : 1, sizeof(*m->folders));
	for (size_t i = 0; i < l.count; i++) {
		struct imd_folder *f = &m->folders[m->nfolders];

		/* A subscription without a mailbox (LIST-EXTENDED). */
		if (l.entries[i].flags & IMAP_LIST_NONEXISTENT)
			continue;
		f->raw = xstrdup(l.entries[i].name);
		f->flags = l.entries[i].flags;
		f->name = imd_name_from_raw(m, f->raw, l.entries[i].delimiter);
		m->nfolders++;
	}
	m->subs_known = l.subscriptions_known;
	imap_list_result_free(&l);
	if (m->root != NULL)
		imd_root_names(m);
	imd_assign_roles(m);
	m->listed = true;
	return 0;
}

static int imd_folder_cmp(const void *a, const void *b)
{
	const struct mbx_folder *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi || yi)
		return (int)yi - (int)xi;
	return strcmp(x->name, y->name);
}

static bool imd_out_has(const struct mbx_folder_list *out, const char *name)
{
	for (size_t i = 0; i < out->count; i++) {
		if (strcmp(out->folders[i].name, name) == 0)
			return true;
	}
	return false;
}

static void imd_out_add(struct mbx_folder_list *out, const char *name, enum mbx_role role,
			bool subscribed, bool noselect)
{
	struct mbx_folder *f;

	out->folders = xreallocarray(out->folders, out->count + 1, sizeof(*out->folders));
	f = &out->folders[out->count++];
	f->name = xstrdup(name);
	f->role = role;
	f->subscribed = subscribed;
	f->noselect = noselect;
}

static int imd_list_folders(struct mbx *mb, struct mbx_folder_list *out, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = imd_list(m, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < m->nfolders; i++) {
		const struct imd_folder *f = &m->folders[i];

		if (f->name == NULL || imd_out_has(out, f->name))
			continue;
		imd_out_add(out, f->name, f->role, (f->flags & IMAP_LIST_SUBSCRIBED) != 0,
			    (f->flags & IMAP_LIST_NOSELECT) != 0);
	}
	/* Parents the server did not list, as containers. */
	for (size_t i = 0; i < out->count; i++) {
		char *name = xstrdup(out->folders[i].name);

		for (char *s = strrchr(name, '/'); s != NULL; s = strrchr(name, '/')) {
			*s = '\0';
			if (name[0] != '\0' && !imd_out_has(out, name))
				imd_out_add(out, name, MBX_ROLE_NONE, false, true);
		}
		free(name);
	}
	if (out->count > 0)
		qsort(out->folders, out->count, sizeof(*out->folders), imd_folder_cmp);
	/* A root that is not there is a wrong UserRoot, not an empty
	 * mailbox (nor anything to retry). */
	if (m->root != NULL && out->count == 0)
		return mf_error_set(err, MF_EINVAL,
				    "UserRoot \"%s\": the server lists no folder there", m->root);
	return 0;
}

/* ---- state ---------------------------------------------------------------------- */

int imd_examine(struct imd *m, const char *folder, bool force, struct imap_mailbox_state *st,
		struct mf_error *err)
{
	struct imap_mailbox_state local;
	char *raw;
	int rc;

	rc = imd_name_to_raw(m, folder, &raw, err);
	if (rc < 0)
		return rc;
	if (!force && m->sel_raw != NULL && strcmp(m->sel_raw, raw) == 0) {
		free(raw);
		return 0;
	}
	free(m->sel_raw);
	m->sel_raw = NULL;
	m->sel_rw = false;
	rc = imd_append_close(m, err);
	if (rc == 0)
		rc = imap_client_select(m->c, raw, true, st != NULL ? st : &local, err);
	if (rc < 0) {
		free(raw);
		return rc;
	}
	m->sel_raw = raw;
	m->sel_exists = (st != NULL ? st : &local)->exists;
	return imd_state_check(m, raw, (st != NULL ? st : &local)->uidvalidity, err);
}

static int imd_folder_state(struct mbx *mb, const char *folder, struct mbx_folder_state *st,
			    struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imap_mailbox_state s;
	int rc;

	memset(st, 0, sizeof(*st));
	rc = imd_examine(m, folder, true, &s, err);
	if (rc < 0)
		return rc;
	st->uidvalidity = s.uidvalidity;
	st->uidnext = s.uidnext;
	st->count = s.exists;
	st->highestmodseq = s.highestmodseq;
	return 0;
}

/* ---- role_folder (create_folder: imap-driver-create.c) ------------------------------ */

static const char *imd_role_folder(struct mbx *mb, enum mbx_role role)
{
	struct imd *m = (struct imd *)mb;
	const struct imd_folder *f;
	struct mf_error err;

	if (role == MBX_ROLE_INBOX)
		return "INBOX";
	if (!m->listed && imd_list(m, &err) < 0)
		return NULL;
	f = imd_role_lookup(m, role);
	return f != NULL ? f->name : NULL;
}

/* ---- open / close ------------------------------------------------------------------ */

static void imd_close(struct mbx **mp)
{
	struct imd *m;
	struct mf_error err;

	if (mp == NULL || *mp == NULL)
		return;
	m = (struct imd *)*mp;
	*mp = NULL;
	/* Appends not yet answered are not reported any more: the caller
	 * is going away. */
	imd_append_forget(m);
	if (m->open_ap != NULL)
		imd_append_abort((struct mbx_append *)m->open_ap);
	/* An open MULTIAPPEND is given up, not ended: its messages were not
	 * sealed, so nobody waits for them (the single appends in flight, and
	 * the commands ended before, the server stores: whoever resumes finds
	 * them by content). */
	if (!imap_client_literal_open(m->c))
		(void)imap_client_logout(m->c, &err);
	/* Fails what is left, so every pending record is freed. */
	imap_client_abort(m->c, MF_ECLOSED, "mailbox closed");
	imap_client_free(&m->c);
	imd_folders_clear(m);
	imd_states_clear(m);
	for (size_t i = 0; i < m->nothers; i++)
		free(m->others[i]);
	free(m->others);
	free(m->other_seps);
	free(m->root);
	free(m->root_raw);
	free(m->prefix);
	free(m->sel_raw);
	free(m);
}

static const struct mailbox_driver imd_driver = {
	.name = "imap",
	.list_folders = imd_list_folders,
	.folder_state = imd_folder_state,
	.folder_states = imd_folder_states,
	.list_messages = imd_list_messages,
	.fetch = imd_fetch,
	.create_folder = imd_create_folder,
	.create_folders = imd_create_folders,
	.role_folder = imd_role_folder,
	.set_append_done = imd_set_append_done,
	.append_begin = imd_append_begin,
	.append_data = imd_append_data,
	.append_end = imd_append_end,
	.append_abort = imd_append_abort,
	.append_flush = imd_append_flush,
	.close = imd_close,
	.set_append_alone = imd_set_append_alone,
	.set_append_sealed = imd_set_append_sealed,
	.list_flags = imd_list_flags,
	.find_message = imd_find_message,
	.set_flags = imd_set_flags,
	.expunge = imd_expunge_msgs,
	.rename_folder = imd_rename_folder,
	.peek_header = imd_peek_header,
};

int imap_mbx_open(const struct imap_mbx_opts *o, struct mbx **m_r, struct mf_error *err)
{
	struct imap_session_opts so;
	struct imd *m;
	int rc;

	*m_r = NULL;
	memset(&so, 0, sizeof(so));
	so.host = o->host;
	so.port = o->port;
	so.security = o->security;
	so.verify_tls = o->verify_tls;
	so.auth = o->auth;
	so.user = o->user;
	so.password = o->password;
	so.admin_user = o->admin_user;
	so.admin_password = o->admin_password;
	so.impersonation = o->impersonation;
	so.master_separator = o->master_separator;
	so.timeout_ms = o->io_timeout_ms;
	so.client.trace = o->trace;
	so.client.trace_prefix = o->trace_prefix;
	so.client.max_in_flight = o->max_in_flight;
	/* Message bodies are streamed (imap-driver-fetch.c); what is
	 * buffered is names and the like. */
	so.client.limits.max_literal = 1024 * 1024;

	m = xcalloc(1, sizeof(*m));
	m->mbx.drv = &imd_driver;
	m->prefix = xstrdup("");
	m->max_in_flight = o->max_in_flight > 0 ? o->max_in_flight : 64;
	m->multi = !o->no_multiappend;
	m->multi_max = o->multiappend_max > 0 ? o->multiappend_max : IMAP_MBX_MULTI_MAX;
	m->multi_bytes = o->multiappend_max_bytes > 0 ? o->multiappend_max_bytes
						      : IMAP_MBX_MULTI_BYTES;
	rc = imd_root_set(m, o->user_root, err);
	if (rc < 0) {
		free(m->prefix);
		free(m);
		return rc;
	}
	rc = imap_session_open(&so, &m->c, err);
	if (rc < 0) {
		free(m->root);
		free(m->prefix);
		free(m);
		return rc;
	}
	*m_r = &m->mbx;
	return 0;
}
