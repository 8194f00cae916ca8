/* imap-driver-status.c: the IMAP driver's folder_states (imap-driver.h):
 * the state of many folders in one round trip, STATUS pipelined, so that
 * an incremental pass over a mailbox where little changed does not
 * EXAMINE every folder one after the other.
 *
 * Implements RFC 9051 / 3501 STATUS (MESSAGES UIDNEXT UIDVALIDITY) and
 * RFC 7162 CONDSTORE (STATUS HIGHESTMODSEQ).
 */
#include "drivers/imap-driver-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

struct imd_status_ctx;

/* One STATUS command. */
struct imd_status_cmd {
	struct imd_status_ctx *sc;      /* foreign: the batch */
	struct imd_reply rep;           /* its tagged answer */
};

struct imd_status_ctx {
	char **raw;                     /* owned: the names asked for */
	struct mbx_folder_state *st;    /* foreign: the caller's */
	bool *seen;                     /* owned: a STATUS answer came */
	struct imd_status_cmd *cmd;     /* owned: one per folder */
	size_t n;
};

static bool imd_status_same(const char *a, const char *b)
{
	/* INBOX is case-insensitive (RFC 9051 section 5.1). */
	if (imd_is_inbox(a))
		return imd_is_inbox(b);
	return strcmp(a, b) == 0;
}

/* "* STATUS name (MESSAGES 3 UIDNEXT 9 ...)": to each folder of that
 * name (the responses of pipelined commands are told apart by name). */
static void imd_status_untagged(void *ctx, const struct imap_response *r)
{
	struct imd_status_ctx *sc = ((struct imd_status_cmd *)ctx)->sc;
	const struct imap_arg *l;
	const char *name;

	if (r->keyword == NULL || strcmp(r->keyword, "STATUS") != 0 || r->args_count < 2)
		return;
	name = imap_arg_text(&r->args[0]);
	l = &r->args[1];
	if (name == NULL || l->type != IMAP_ARG_LIST)
		return;
	for (size_t i = 0; i < sc->n; i++) {
		struct mbx_folder_state *st = &sc->st[i];

		if (!imd_status_same(sc->raw[i], name))
			continue;
		sc->seen[i] = true;
		for (size_t k = 0; k + 1 < l->list_count; k += 2) {
			const char *item = imap_arg_text(&l->list[k]);
			uint64_t v;

			if (item == NULL || !imap_arg_number(&l->list[k + 1], &v))
				continue;
			if (strcasecmp(item, "MESSAGES") == 0)
				st->count = (uint32_t)v;
			else if (strcasecmp(item, "UIDNEXT") == 0)
				st->uidnext = (uint32_t)v;
			else if (strcasecmp(item, "UIDVALIDITY") == 0)
				st->uidvalidity = (uint32_t)v;
			else if (strcasecmp(item, "HIGHESTMODSEQ") == 0)
				st->highestmodseq = v;
		}
	}
}

static void imd_status_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imd_reply *rep = &((struct imd_status_cmd *)ctx)->rep;

	(void)err;
	rep->done = true;
	if (r == NULL)
		return;
	rep->status = r->status;
	rep->text = xstrdup(r->text);
}

int imd_folder_states(struct mbx *mb, const char *const *folders, size_t n,
		      struct mbx_folder_state *st, bool *ok, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imd_status_ctx sc = { NULL, st, NULL, NULL, n };
	bool condstore = (imap_client_caps(m->c) & IMAP_CAP_CONDSTORE) != 0;
	char last_tag[16] = "";
	int rc;

	for (size_t i = 0; i < n; i++) {
		memset(&st[i], 0, sizeof(st[i]));
		ok[i] = false;
	}
	rc = imd_quiesce(m, err);
	if (rc == 0 && !m->listed)
		rc = imd_list(m, err);
	if (rc < 0 || n == 0)
		return rc;
	sc.raw = xcalloc(n, sizeof(*sc.raw));
	sc.seen = xcalloc(n, sizeof(*sc.seen));
	sc.cmd = xcalloc(n, sizeof(*sc.cmd));
	for (size_t i = 0; i < n; i++) {
		struct imap_cmd *cmd;
		struct mf_error e;

		/* A bad name is left to folder_state, which says so. */
		if (imd_name_to_raw(m, folders[i], &sc.raw[i], &e) < 0) {
			sc.raw[i] = NULL;
			continue;
		}
		sc.cmd[i].sc = &sc;
		cmd = imap_cmd_new("STATUS");
		imap_cmd_astring(cmd, sc.raw[i]);
		imap_cmd_atom(cmd, condstore ? "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
					     : "(MESSAGES UIDNEXT UIDVALIDITY)");
		snprintf(last_tag, sizeof(last_tag), "%s",
			 imap_client_submit(m->c, cmd, imd_status_untagged, imd_status_done,
					    &sc.cmd[i]));
	}
	/* Answers come in order: the last one ends the burst. */
	if (last_tag[0] != '\0') {
		rc = imap_client_run(m->c, last_tag, err);
		if (rc < 0)
			/* sc is about to go: nothing may still point at it. */
			imap_client_abort(m->c, rc, err != NULL ? err->msg : "command failed");
	}
	imd_states_clear(m);
	for (size_t i = 0; i < n; i++) {
		/* Only a full answer counts: anything less (a NO, an item
		 * missing) is asked again with EXAMINE by the caller. */
		ok[i] = rc == 0 && sc.raw[i] != NULL && sc.cmd[i].rep.done &&
			sc.cmd[i].rep.status == IMAP_STATUS_OK && sc.seen[i] &&
			st[i].uidvalidity != 0 && st[i].uidnext != 0;
		if (ok[i]) {
			m->states = xreallocarray(m->states, m->nstates + 1, sizeof(*m->states));
			m->states[m->nstates].raw = sc.raw[i];
			m->states[m->nstates].count = st[i].count;
			m->states[m->nstates++].uidvalidity = st[i].uidvalidity;
			sc.raw[i] = NULL;
		}
		free(sc.raw[i]);
		imd_reply_free(&sc.cmd[i].rep);
	}
	free(sc.raw);
	free(sc.seen);
	free(sc.cmd);
	return rc;
}
