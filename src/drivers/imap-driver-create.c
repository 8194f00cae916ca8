/* imap-driver-create.c: the IMAP driver's create_folder and
 * create_folders (imap-driver.h): the CREATE and SUBSCRIBE commands of
 * every folder asked for are pipelined, so a target of many folders costs
 * one round trip rather than two per folder on a slow link; the rare
 * second tries (CREATE without USE, LIST after a NO) go one by one.
 *
 * Implements RFC 9051 / 3501 (CREATE, SUBSCRIBE, LIST), RFC 6154
 * CREATE-SPECIAL-USE, RFC 5530 response codes (ALREADYEXISTS).
 */
#include "drivers/imap-driver-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

static const struct imd_folder *imd_find_raw(const struct imd *m, const char *raw)
{
	for (size_t i = 0; i < m->nfolders; i++) {
		const char *r = m->folders[i].raw;

		if (strcmp(r, raw) == 0 || (imd_is_inbox(r) && imd_is_inbox(raw)))
			return &m->folders[i];
	}
	return NULL;
}

static void imd_list_one_untagged(void *ctx, const struct imap_response *r)
{
	bool *found = ctx;

	if (r->keyword != NULL && strcmp(r->keyword, "LIST") == 0)
		*found = true;
}

/* Does LIST show raw (after a CREATE said NO)? */
static int imd_exists(struct imd *m, const char *raw, bool *found, struct mf_error *err)
{
	struct imap_cmd *cmd = imap_cmd_new("LIST");
	struct imd_reply rep;
	int rc;

	*found = false;
	imap_cmd_astring(cmd, "");
	imap_cmd_astring(cmd, raw);
	rc = imd_run(m, cmd, imd_list_one_untagged, found, &rep, err);
	imd_reply_free(&rep);
	return rc;
}

static struct imap_cmd *imd_create_cmd(const char *raw, const char *use)
{
	struct imap_cmd *cmd = imap_cmd_new("CREATE");

	imap_cmd_astring(cmd, raw);
	if (use != NULL)
		imap_cmd_atomf(cmd, "(USE (%s))", use);
	return cmd;
}

/* SUBSCRIBE or UNSUBSCRIBE raw. */
static struct imap_cmd *imd_subscribe_cmd(const char *raw, bool on)
{
	struct imap_cmd *cmd = imap_cmd_new(on ? "SUBSCRIBE" : "UNSUBSCRIBE");

	imap_cmd_astring(cmd, raw);
	return cmd;
}

/* A folder about to be created: into the listing, with the role it is
 * created with (CREATE ... USE) or, by its name, one nobody has yet, so
 * that the next folder of the same batch sees it as today's one by one
 * creation would. */
static void imd_cache_add(struct imd *m, const char *raw, enum mbx_role use_role)
{
	struct imd_folder *f;

	m->folders = xreallocarray(m->folders, m->nfolders + 1, sizeof(*m->folders));
	f = &m->folders[m->nfolders++];
	f->raw = xstrdup(raw);
	f->name = imd_name_from_raw(m, raw, m->sep);
	f->flags = imd_role_list_flag(use_role);
	f->role = MBX_ROLE_NONE;
	imd_assign_roles(m);
}

/* Take a folder added by imd_cache_add out again (its creation failed, or
 * it is added back with another role). */
static void imd_cache_drop(struct imd *m, const char *raw)
{
	for (size_t i = m->nfolders; i-- > 0;) {
		if (strcmp(m->folders[i].raw, raw) != 0)
			continue;
		free(m->folders[i].raw);
		free(m->folders[i].name);
		memmove(&m->folders[i], &m->folders[i + 1],
			(m->nfolders - i - 1) * sizeof(*m->folders));
		m->nfolders--;
		break;
	}
	imd_assign_roles(m);
}

/* One request of a batch while it is in flight. */
struct imd_create_op {
	struct mbx_create *req;         /* foreign: the caller's */
	char *raw;                      /* owned; NULL when the name is bad */
	const char *use;                /* static: the USE attribute sent */
	bool create;                    /* CREATE sent */
	bool subscribe;                 /* SUBSCRIBE sent */
	struct imd_reply crep, srep;    /* their answers */
};

static bool imd_create_ok(const struct imd_reply *rep)
{
	return rep->status == IMAP_STATUS_OK ||
	       (rep->code != NULL && strcmp(rep->code, "ALREADYEXISTS") == 0);
}

/* Plan op and queue its commands (not sent yet). */
static void imd_create_plan(struct imd *m, struct imd_create_op *op, char last_tag[16])
{
	struct mbx_create *q = op->req;
	const struct imd_folder *f;

	q->rc = imd_name_to_raw(m, q->folder, &op->raw, &q->err);
	if (q->rc < 0) {
		op->raw = NULL;
		return;
	}
	f = imd_find_raw(m, op->raw);
	if (f == NULL) {
		if (imap_client_has_cap(m->c, "CREATE-SPECIAL-USE") &&
		    imd_role_attr(q->role) != NULL && imd_role_lookup(m, q->role) == NULL)
			op->use = imd_role_attr(q->role);
		op->create = true;
		imd_cache_add(m, op->raw, op->use != NULL ? q->role : MBX_ROLE_NONE);
		snprintf(last_tag, 16, "%s",
			 imap_client_submit(m->c, imd_create_cmd(op->raw, op->use), NULL,
					    imd_reply_done, &op->crep));
	}
	/* The target's own listing says whether it is subscribed already
	 * (when the listing could tell). */
	if (q->subscribe && (f == NULL || !m->subs_known || !(f->flags & IMAP_LIST_SUBSCRIBED))) {
		op->subscribe = true;
		snprintf(last_tag, 16, "%s",
			 imap_client_submit(m->c, imd_subscribe_cmd(op->raw, true), NULL, imd_reply_done,
					    &op->srep));
	}
}

/* After the burst: op's outcome, with the second tries today's one by one
 * creation made (CREATE without USE after a refusal with it; LIST after
 * another NO). 0, or a connection failure. */
static int imd_create_settle(struct imd *m, struct imd_create_op *op, struct mf_error *err)
{
	struct mbx_create *q = op->req;
	struct imd_reply rep;
	bool retried = false, found = false;
	char what[600];
	int rc;

	if (op->raw == NULL || !op->create)
		return 0;
	if (!imd_create_ok(&op->crep) && op->use != NULL) {
		/* e.g. [USEATTR]: create it without the role. */
		imd_cache_drop(m, op->raw);
		imd_cache_add(m, op->raw, MBX_ROLE_NONE);
		imd_reply_free(&op->crep);
		rc = imd_run(m, imd_create_cmd(op->raw, NULL), NULL, NULL, &op->crep, err);
		if (rc < 0)
			return rc;
		retried = true;
	}
	if (!imd_create_ok(&op->crep)) {
		rc = imd_exists(m, op->raw, &found, err);
		if (rc < 0)
			return rc;
		if (!found) {
			snprintf(what, sizeof(what), "CREATE %s failed", q->folder);
			q->rc = imd_reply_error(&op->crep, MF_ENO, what, &q->err);
			imd_cache_drop(m, op->raw);
			/* Its SUBSCRIBE went in the same burst: a server that
			 * took it would list a folder that is not there. */
			if (op->subscribe && op->srep.status == IMAP_STATUS_OK) {
				rc = imd_run(m, imd_subscribe_cmd(op->raw, false), NULL,
					     NULL, &rep, err);
				imd_reply_free(&rep);
				if (rc < 0)
					return rc;
			}
			return 0;
		}
		retried = true;
	}
	/* A SUBSCRIBE that went before its folder existed, and was refused
	 * for that: again, now that it does. */
	if (retried && op->subscribe && op->srep.status != IMAP_STATUS_OK) {
		rc = imd_run(m, imd_subscribe_cmd(op->raw, true), NULL, NULL, &rep, err);
		imd_reply_free(&rep);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int imd_create_folders(struct mbx *mb, struct mbx_create *reqs, size_t n, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imd_create_op *ops;
	char last_tag[16] = "";
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		reqs[i].rc = 0;
		reqs[i].err.code = 0;
		reqs[i].err.msg[0] = '\0';
	}
	rc = imd_append_close(m, err);
	if (rc == 0 && !m->listed)
		rc = imd_list(m, err);
	if (rc < 0)
		return rc;
	ops = xcalloc(n + 1, sizeof(*ops));
	for (size_t i = 0; i < n; i++) {
		ops[i].req = &reqs[i];
		imd_create_plan(m, &ops[i], last_tag);
	}
	/* Answers come in order: the last one ends the burst. */
	if (last_tag[0] != '\0') {
		rc = imap_client_run(m->c, last_tag, err);
		if (rc < 0)
			/* ops is about to go: nothing may still point at it. */
			imap_client_abort(m->c, rc, err != NULL ? err->msg : "command failed");
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if ((ops[i].create && !ops[i].crep.done) ||
		    (ops[i].subscribe && !ops[i].srep.done))
			rc = mf_error_set(err, MF_EPROTO, "command did not complete");
	}
	/* A refused subscription loses nothing of the mail: only CREATE
	 * decides. */
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = imd_create_settle(m, &ops[i], err);
	for (size_t i = 0; i < n; i++) {
		free(ops[i].raw);
		imd_reply_free(&ops[i].crep);
		imd_reply_free(&ops[i].srep);
	}
	free(ops);
	return rc;
}

int imd_create_folder(struct mbx *mb, const char *folder, enum mbx_role role, bool subscribe,
		      struct mf_error *err)
{
	struct mbx_create q = { .folder = folder, .role = role, .subscribe = subscribe };
	int rc;

	rc = imd_create_folders(mb, &q, 1, err);
	if (rc == 0 && q.rc != 0) {
		if (err != NULL)
			*err = q.err;
		rc = q.rc;
	}
	return rc;
}
