/* imap-driver-fetch.c: listing and fetching messages, read-only (EXAMINE,
 * BODY.PEEK[]). The design is in imap-driver.h ("Source side").
 *
 * Why two commands per group: the sink's begin needs the message's UID,
 * flags and date when the BODY[] literal starts, but a server may put
 * those items after the literal inside the FETCH response, and the body
 * cannot wait (it is not buffered). So the first command learns, for each
 * message of the group, its sequence number and info; the second streams
 * the bodies, each tied to its message by the sequence number that starts
 * the response ("* 5 FETCH"), which the client reports when the literal
 * begins. EXPUNGE responses renumber what we know. The UID inside the
 * response, once it is complete, confirms the match before sink->end.
 * The server may run the two commands at once and interleave their
 * answers (Dovecot does): a body that comes before its info is dropped
 * and asked for again once the window is through (imd_fetch_late).
 *
 * peek_header asks for BODY.PEEK[HEADER.FIELDS (...)] with a partial range
 * (<0.max>), so that even a header written to be huge is not buffered
 * whole; that literal is small and comes buffered, not streamed.
 *
 * RFC 9051 sections 6.4.5 (FETCH, BODY[HEADER.FIELDS], partial <o.n>),
 * 6.4.9 (UID), 7.5.1 (EXPUNGE), 7.5.2 (FETCH response); RFC 5530
 * (EXPUNGEISSUED).
 */
#include "drivers/imap-driver-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xmalloc.h"

#define IMD_FETCH_WINDOW_MAX 8  /* groups in flight */

/* Appends still in flight would take the untagged responses of our
 * commands; let them finish first. */
int imd_quiesce(struct imd *m, struct mf_error *err)
{
	if (m->open_ap != NULL)
		return mf_error_set(err, MF_EINVAL, "an append is still open on this connection");
	if (m->pending == NULL)
		return 0;
	return imd_append_flush(&m->mbx, err);
}

/* ---- list_messages ------------------------------------------------------------ */

struct imd_lister {
	uint32_t from;
	int (*fn)(void *ctx, const struct mbx_msg_info *info);
	void *ctx;
	int rc;                 /* fn's failure */
	struct mbx_msg_info info;
	const struct imap_select_op *gate; /* the EXAMINE sent just before;
					    * NULL when none */
	struct imd_reply rep;   /* the listing's tagged answer (pipelined) */
};

static void imd_lister_untagged(void *ctx, const struct imap_response *r)
{
	struct imd_lister *l = ctx;
	struct imd_items it;

	if (r->keyword == NULL || strcmp(r->keyword, "FETCH") != 0 || r->args_count < 1 ||
	    r->args[0].type != IMAP_ARG_LIST)
		return;
	/* Behind a refused EXAMINE nothing is selected: whatever comes is
	 * not this folder's. */
	if (l->gate != NULL && !l->gate->ok)
		return;
	imd_info_clear(&l->info);
	imd_fetch_items(r->args[0].list, r->args[0].list_count, &l->info, &it);
	/* Flag updates come without size and date; "n:*" may bring a UID
	 * below n. */
	if (l->rc < 0 || !it.has_uid || !it.has_size || !it.has_date || it.uid < l->from)
		return;
	l->rc = l->fn(l->ctx, &l->info);
	if (l->rc > 0)
		l->rc = 0;
}

static void imd_lister_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imd_lister *l = ctx;

	imd_reply_done(&l->rep, r, err);
}

static struct imap_cmd *imd_lister_cmd(const struct imd_lister *l)
{
	struct imap_cmd *cmd = imap_cmd_new("UID FETCH");

	imap_cmd_atomf(cmd, "%u:* (UID RFC822.SIZE FLAGS INTERNALDATE)", l->from);
	return cmd;
}

/* The folder is not selected: EXAMINE and the listing go together (one
 * round trip, not two). The listing's answers count only when the
 * EXAMINE was answered OK (l->gate); an empty folder's listing is not
 * looked at (some servers answer BAD to "1:*" there). */
static int imd_list_pipelined(struct imd *m, char *raw, struct imd_lister *l,
			      struct mf_error *err)
{
	struct imap_select_op op;
	struct imap_mailbox_state st;
	struct imd_reply *rep = &l->rep;
	const char *tag;
	int rc;

	free(m->sel_raw);
	m->sel_raw = NULL;
	m->sel_rw = false;
	imap_client_select_submit(m->c, raw, true, &op);
	l->gate = &op;
	tag = imap_client_submit(m->c, imd_lister_cmd(l), imd_lister_untagged, imd_lister_done, l);
	rc = imap_client_run(m->c, tag, err);
	if (rc < 0) {
		/* op and rep are about to go: nothing may still point at them. */
		imap_client_abort(m->c, rc, err != NULL ? err->msg : "command failed");
		(void)imap_client_select_finish(m->c, &op, &st, NULL);
		imd_reply_free(rep);
		free(raw);
		return rc;
	}
	rc = imap_client_select_finish(m->c, &op, &st, err);
	if (rc == 0) {
		m->sel_raw = raw;
		m->sel_exists = st.exists;
		rc = imd_state_check(m, raw, st.uidvalidity, err);
	} else {
		free(raw);
	}
	if (rc == 0 && !rep->done)
		rc = mf_error_set(err, MF_EPROTO, "command did not complete");
	if (rc == 0 && st.exists > 0 && rep->status != IMAP_STATUS_OK)
		rc = imd_reply_error(rep, MF_ENO, "UID FETCH failed", err);
	imd_reply_free(rep);
	return rc;
}

int imd_list_messages(struct mbx *mb, const char *folder, uint32_t from_uid,
		      int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
		      struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imd_lister l = { .from = from_uid > 0 ? from_uid : 1, .fn = fn, .ctx = ctx };
	struct imd_reply rep;
	char *raw = NULL;
	int rc;

	rc = imd_quiesce(m, err);
	if (rc == 0)
		rc = imd_name_to_raw(m, folder, &raw, err);
	if (rc < 0)
		return rc;
	/* A folder folder_states found empty is EXAMINEd alone: no "1:*"
	 * for a folder that is most likely still empty. */
	if ((m->sel_raw == NULL || strcmp(m->sel_raw, raw) != 0) && imd_state_count(m, raw) != 0) {
		rc = imd_list_pipelined(m, raw, &l, err);
	} else {
		free(raw);
		rc = imd_examine(m, folder, false, NULL, err);
		if (rc < 0)
			return rc;
		/* Some servers answer BAD to "1:*" in an empty folder. */
		if (imap_client_mailbox(m->c)->exists == 0)
			return 0;
		rc = imd_run(m, imd_lister_cmd(&l), imd_lister_untagged, &l, &rep, err);
		if (rc == 0 && rep.status != IMAP_STATUS_OK)
			rc = imd_reply_error(&rep, MF_ENO, "UID FETCH failed", err);
		imd_reply_free(&rep);
	}
	imd_info_clear(&l.info);
	if (rc == 0 && l.rc < 0)
		rc = mf_error_set(err, l.rc, "listing stopped by the caller (%s)",
				  mf_errcode_name(l.rc));
	return rc;
}

/* ---- fetch ------------------------------------------------------------------------ */

struct imd_entry {
	uint32_t uid;
	uint32_t seq;           /* 0: unknown or expunged */
	bool have_meta;         /* info filled from the first command */
	bool delivered;         /* handed to the sink (begun) */
	struct mbx_msg_info info;
};

struct imd_fetcher;

/* One command: the info (body false) or body command of a group. */
struct imd_fcmd {
	struct imd_fetcher *f;
	size_t group;
	bool body;
	bool done;
	char tag[16];
};

struct imd_fetcher {
	struct imd *m;
	const struct mbx_sink *sink;
	struct imd_entry *e;    /* owned, by UID */
	size_t n;
	size_t ngroups;
	struct imd_fcmd *cmds;  /* owned: 2 per group */
	size_t oldest;          /* group whose body command is awaited */
	struct imd_entry *cur;  /* message being streamed */
	bool discard;           /* a streamed literal nobody gets */
	int rc;                 /* first failure: sink, server, protocol */
	struct mf_error err;
};

static void imd_fetch_fail(struct imd_fetcher *f, const struct mf_error *e)
{
	if (f->rc == 0) {
		f->rc = e->code < 0 ? e->code : MF_EPROTO;
		f->err = *e;
	}
}

static int imd_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static struct imd_entry *imd_by_uid(struct imd_fetcher *f, uint32_t uid)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->e[mid].uid == uid)
			return &f->e[mid];
		if (f->e[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The awaited group first: that is where a body normally belongs. */
static struct imd_entry *imd_by_seq(struct imd_fetcher *f, uint32_t seq)
{
	size_t lo = f->oldest * IMAP_MBX_FETCH_GROUP;
	size_t hi = lo + IMAP_MBX_FETCH_GROUP;

	if (seq == 0)
		return NULL;
	if (hi > f->n)
		hi = f->n;
	for (size_t i = lo; i < hi; i++) {
		if (f->e[i].seq == seq)
			return &f->e[i];
	}
	for (size_t i = 0; i < f->n; i++) {
		if (f->e[i].seq == seq)
			return &f->e[i];
	}
	return NULL;
}

static void imd_expunge(struct imd_fetcher *f, uint32_t seq)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->e[i].seq == seq)
			f->e[i].seq = 0;
		else if (f->e[i].seq > seq)
			f->e[i].seq--;
	}
}

static int imd_sink_begin(struct imd_fetcher *f, struct imd_entry *e, uint64_t size)
{
	struct mbx_msg_info info = e->info;
	struct mf_error err = { 0 };
	int rc;

	e->delivered = true;
	info.uid = e->uid;
	info.size = size;
	rc = f->sink->begin(f->sink->ctx, &info, &err);
	if (rc < 0) {
		err.code = rc;
		imd_fetch_fail(f, &err);
	}
	return rc;
}

static void imd_sink_end(struct imd_fetcher *f)
{
	struct mf_error err = { 0 };
	int rc = f->sink->end(f->sink->ctx, &err);

	if (rc < 0) {
		err.code = rc;
		imd_fetch_fail(f, &err);
	}
}

/* ---- the streamed BODY[] literal ---- */

static bool imd_lit_begin(void *ctx, const struct imap_literal_start *ls)
{
	struct imd_fetcher *f = ctx;
	struct imd_entry *e;

	if (strcmp(ls->keyword, "FETCH") != 0 || ls->item == NULL ||
	    strcasecmp(ls->item, "BODY[]") != 0)
		return false;
	f->cur = NULL;
	f->discard = true;
	e = imd_by_seq(f, ls->number);
	if (f->rc == 0 && e != NULL && e->have_meta && !e->delivered &&
	    imd_sink_begin(f, e, ls->size) == 0) {
		f->cur = e;
		f->discard = false;
	}
	return true;
}

static int imd_lit_data(void *ctx, const void *data, size_t len)
{
	struct imd_fetcher *f = ctx;
	struct mf_error err = { 0 };
	int rc;

	if (f->discard || f->cur == NULL)
		return 0;
	rc = f->sink->data(f->sink->ctx, data, len, &err);
	if (rc < 0) {
		/* Drop the rest: the connection stays usable. */
		err.code = rc;
		imd_fetch_fail(f, &err);
		f->discard = true;
	}
	return 0;
}

static void imd_lit_end(void *ctx)
{
	(void)ctx; /* sink->end waits for the response's UID */
}

static const struct imap_literal_handler imd_lit_handler = {
	.begin = imd_lit_begin,
	.data = imd_lit_data,
	.end = imd_lit_end,
};

/* The response that held the streamed literal is complete. */
static void imd_stream_done(struct imd_fetcher *f, const struct imd_items *it)
{
	struct imd_entry *e = f->cur;
	struct mf_error err;

	f->cur = NULL;
	if (f->discard || e == NULL) {
		f->discard = false;
		return;
	}
	if (it->has_uid && it->uid != e->uid) {
		mf_error_set(&err, MF_EPROTO,
			     "server sent the message with UID %u where UID %u was expected",
			     it->uid, e->uid);
		imd_fetch_fail(f, &err);
		return;
	}
	imd_sink_end(f);
}

/* A body small enough to come whole: {0} or a quoted string. */
static void imd_body_whole(struct imd_fetcher *f, struct imd_entry *e, const struct imap_arg *v)
{
	const char *data = imap_arg_text(v);
	size_t len = data != NULL ? v->len : 0;
	struct mf_error err = { 0 };
	int rc;

	if (f->rc < 0 || e == NULL || !e->have_meta || e->delivered)
		return;
	if (imd_sink_begin(f, e, len) < 0)
		return;
	if (len > 0) {
		rc = f->sink->data(f->sink->ctx, data, len, &err);
		if (rc < 0) {
			err.code = rc;
			imd_fetch_fail(f, &err);
			return;
		}
	}
	imd_sink_end(f);
}

static void imd_fetch_untagged(void *ctx, const struct imap_response *r)
{
	struct imd_fetcher *f = ((struct imd_fcmd *)ctx)->f;
	struct mbx_msg_info info = { 0 };
	struct imd_entry *e;
	struct imd_items it;

	if (r->keyword != NULL && strcmp(r->keyword, "EXPUNGE") == 0 && r->has_number) {
		imd_expunge(f, r->number);
		return;
	}
	if (r->keyword == NULL || strcmp(r->keyword, "FETCH") != 0 || !r->has_number ||
	    r->args_count < 1 || r->args[0].type != IMAP_ARG_LIST)
		return;
	imd_fetch_items(r->args[0].list, r->args[0].list_count, &info, &it);
	e = it.has_uid ? imd_by_uid(f, it.uid) : imd_by_seq(f, r->number);
	if (it.has_uid && e != NULL && e->seq != r->number) {
		struct imd_entry *stale = imd_by_seq(f, r->number);

		if (stale != NULL)
			stale->seq = 0;
		e->seq = r->number;
	}
	if (it.body != NULL && it.body->type == IMAP_ARG_LITERAL_STREAMED) {
		imd_stream_done(f, &it);
	} else if (it.body != NULL) {
		imd_body_whole(f, e, it.body);
	} else if (e != NULL && !e->delivered && it.has_uid && (it.has_size || it.has_date)) {
		/* The group's info command (or an answer just like it). */
		imd_info_clear(&e->info);
		e->info = info;
		e->info.uid = e->uid;
		e->have_meta = true;
		return;
	} else if (e != NULL && !e->delivered && it.has_flags) {
		/* A flag change before the body: keep the new flags. */
		struct mbx_msg_info old = e->info;

		e->info.flags = info.flags;
		e->info.keywords = info.keywords;
		e->info.keyword_count = info.keyword_count;
		info.keywords = old.keywords;
		info.keyword_count = old.keyword_count;
	}
	imd_info_clear(&info);
}

static void imd_fetch_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imd_fcmd *fc = ctx;
	struct imd_fetcher *f = fc->f;
	struct mf_error e;

	fc->done = true;
	if (r == NULL) {
		imd_fetch_fail(f, err);
		return;
	}
	if (r->status == IMAP_STATUS_OK)
		return;
	/* Messages expunged meanwhile are not delivered, and that is all. */
	if (r->status == IMAP_STATUS_NO && r->code != NULL && strcmp(r->code, "EXPUNGEISSUED") == 0)
		return;
	mf_error_set(&e, r->status == IMAP_STATUS_BAD ? MF_EBAD : MF_ENO,
		     "UID FETCH failed: %s%s%s%s", r->code != NULL ? "[" : "",
		     r->code != NULL ? r->code : "", r->code != NULL ? "] " : "", r->text);
	imd_fetch_fail(f, &e);
}

static void imd_fetch_submit(struct imd_fetcher *f, size_t g)
{
	size_t lo = g * IMAP_MBX_FETCH_GROUP, hi = lo + IMAP_MBX_FETCH_GROUP;
	uint32_t *uids;
	char *set;

	if (hi > f->n)
		hi = f->n;
	uids = xcalloc(hi - lo, sizeof(*uids));
	for (size_t i = lo; i < hi; i++)
		uids[i - lo] = f->e[i].uid;
	set = imd_uid_set(uids, hi - lo);
	free(uids);
	for (int body = 0; body < 2; body++) {
		struct imd_fcmd *fc = &f->cmds[2 * g + (size_t)body];
		struct imap_cmd *cmd = imap_cmd_new("UID FETCH");

		fc->f = f;
		fc->group = g;
		fc->body = body != 0;
		imap_cmd_atom(cmd, set);
		imap_cmd_atom(cmd, body ? "(UID BODY.PEEK[])"
					: "(UID RFC822.SIZE FLAGS INTERNALDATE)");
		snprintf(fc->tag, sizeof(fc->tag), "%s",
			 imap_client_submit(f->m->c, cmd, imd_fetch_untagged, imd_fetch_done, fc));
	}
	free(set);
}

/* Sorted, distinct, non-zero UIDs as entries. */
static void imd_fetch_entries(struct imd_fetcher *f, const uint32_t *uids, size_t n)
{
	uint32_t *s = xcalloc(n > 0 ? n : 1, sizeof(*s));

	if (n > 0)
		memcpy(s, uids, n * sizeof(*s));
	qsort(s, n, sizeof(*s), imd_uid_cmp);
	f->e = xcalloc(n > 0 ? n : 1, sizeof(*f->e));
	for (size_t i = 0; i < n; i++) {
		if (s[i] == 0 || (f->n > 0 && f->e[f->n - 1].uid == s[i]))
			continue;
		f->e[f->n++].uid = s[i];
	}
	free(s);
	f->ngroups = (f->n + IMAP_MBX_FETCH_GROUP - 1) / IMAP_MBX_FETCH_GROUP;
	f->cmds = xcalloc(f->ngroups > 0 ? 2 * f->ngroups : 1, sizeof(*f->cmds));
}

/* Keep up to window groups in flight; stop sending after a failure and
 * read what is outstanding. */
static int imd_fetch_run(struct imd_fetcher *f, struct mf_error *err)
{
	size_t window = f->m->max_in_flight / 2, next = 0;
	int rc = 0;

	if (window < 1)
		window = 1;
	if (window > IMD_FETCH_WINDOW_MAX)
		window = IMD_FETCH_WINDOW_MAX;
	for (f->oldest = 0; f->oldest < next || (f->rc == 0 && next < f->ngroups);) {
		while (f->rc == 0 && next < f->ngroups && next < f->oldest + window)
			imd_fetch_submit(f, next++);
		if (f->oldest >= next)
			break;
		rc = imap_client_run(f->m->c, f->cmds[2 * f->oldest + 1].tag, err);
		if (rc < 0) {
			/* f is about to go: nothing may still point at it. */
			imap_client_abort(f->m->c, rc, err != NULL ? err->msg : "fetch failed");
			return rc;
		}
		f->oldest++;
	}
	return 0;
}

/* The bodies imd_lit_begin had to drop because their message's info had
 * not come yet: the server may run a group's two commands at once and
 * interleave their answers (Dovecot does: a few info responses, the
 * group's bodies, then the rest of the info). Such a message is not gone
 * (its info came after all), so its body is asked for again, now that the
 * info is there. A message whose info never came was expunged meanwhile. */
static int imd_fetch_late(struct imd_fetcher *f, struct mf_error *err)
{
	struct imd_fcmd fc = { .f = f, .group = f->ngroups, .body = true };
	uint32_t *late = xcalloc(f->n > 0 ? f->n : 1, sizeof(*late));
	struct imap_cmd *cmd;
	size_t k = 0;
	char *set;
	int rc;

	for (size_t i = 0; i < f->n; i++) {
		if (f->e[i].have_meta && !f->e[i].delivered && f->e[i].seq != 0)
			late[k++] = f->e[i].uid;
	}
	if (k == 0) {
		free(late);
		return 0;
	}
	set = imd_uid_set(late, k);
	free(late);
	cmd = imap_cmd_new("UID FETCH");
	imap_cmd_atom(cmd, set);
	imap_cmd_atom(cmd, "(UID BODY.PEEK[])");
	free(set);
	snprintf(fc.tag, sizeof(fc.tag), "%s",
		 imap_client_submit(f->m->c, cmd, imd_fetch_untagged, imd_fetch_done, &fc));
	rc = imap_client_run(f->m->c, fc.tag, err);
	if (rc < 0)
		imap_client_abort(f->m->c, rc, err != NULL ? err->msg : "fetch failed");
	return rc;
}

int imd_fetch(struct mbx *mb, const char *folder, const uint32_t *uids, size_t n,
	      const struct mbx_sink *sink, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imd_fetcher f;
	int rc;

	memset(&f, 0, sizeof(f));
	f.m = m;
	f.sink = sink;
	rc = imd_quiesce(m, err);
	if (rc == 0)
		rc = imd_examine(m, folder, false, NULL, err);
	if (rc < 0)
		return rc;
	imd_fetch_entries(&f, uids, n);
	imap_client_set_literal_handler(m->c, &imd_lit_handler, &f);
	rc = imd_fetch_run(&f, err);
	if (rc == 0 && f.rc == 0)
		rc = imd_fetch_late(&f, err);
	imap_client_set_literal_handler(m->c, NULL, NULL);
	if (rc == 0 && f.rc < 0) {
		rc = f.rc;
		if (err != NULL)
			*err = f.err;
	}
	for (size_t i = 0; i < f.n; i++)
		imd_info_clear(&f.e[i].info);
	free(f.e);
	free(f.cmds);
	return rc;
}

/* ---- peek_header ------------------------------------------------------------------ */

struct imd_peek {
	uint32_t uid;
	size_t max;
	bool found;
	char *out; /* owned until handed to the caller */
	size_t len;
};

/* "* n FETCH (UID u BODY[HEADER.FIELDS (...)]<0> {k} ...)". Other FETCH
 * responses (flag updates) hold no such item and are ignored. */
static void imd_peek_untagged(void *ctx, const struct imap_response *r)
{
	struct imd_peek *p = ctx;
	const struct imap_arg *l, *body = NULL;
	uint64_t uid = 0;
	bool has_uid = false;
	const char *text;
	size_t len;

	if (p->found || r->keyword == NULL || strcmp(r->keyword, "FETCH") != 0 ||
	    r->args_count < 1 || r->args[0].type != IMAP_ARG_LIST)
		return;
	l = r->args[0].list;
	for (size_t i = 0; i + 1 < r->args[0].list_count; i += 2) {
		if (imap_arg_is_atom(&l[i], "UID"))
			has_uid = imap_arg_number(&l[i + 1], &uid);
		else if (l[i].type == IMAP_ARG_ATOM && l[i].len >= 18 &&
			 strncasecmp(l[i].data, "BODY[HEADER.FIELDS", 18) == 0)
			body = &l[i + 1];
	}
	if (body == NULL || (has_uid && uid != p->uid))
		return;
	p->found = true;
	text = imap_arg_text(body); /* NIL: nothing */
	len = text != NULL ? body->len : 0;
	if (len > p->max)
		len = p->max;
	/* HEADER.FIELDS ends with the empty line that ends a header. */
	if (len >= 2 && text[len - 2] == '\r' && text[len - 1] == '\n' &&
	    (len == 2 || text[len - 3] == '\n'))
		len -= 2;
	else if (len >= 1 && text[len - 1] == '\n' && (len == 1 || text[len - 2] == '\n'))
		len -= 1;
	p->out = xmalloc(len + 1);
	if (len > 0)
		memcpy(p->out, text, len);
	p->out[len] = '\0';
	p->len = len;
}

int imd_peek_header(struct mbx *mb, const char *folder, uint32_t uid, const char *const *fields,
		    size_t nfields, size_t max, char **out_r, size_t *len_r, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imd_peek p = { .uid = uid, .max = max };
	struct imd_reply rep;
	struct imap_cmd *cmd;
	struct buf names = BUF_INIT;
	int rc;

	*out_r = NULL;
	*len_r = 0;
	if (nfields == 0 || max == 0 || uid == 0)
		return mf_error_set(err, MF_EINVAL, "peek_header: nothing to ask for");
	for (size_t i = 0; i < nfields; i++) {
		if (!mbx_field_name_ok(fields[i])) {
			buf_free(&names);
			return mf_error_set(err, MF_EINVAL, "not a header field name: \"%s\"",
					    fields[i] != NULL ? fields[i] : "");
		}
		buf_printf(&names, "%s%s", i > 0 ? " " : "", fields[i]);
	}
	rc = imd_quiesce(m, err);
	if (rc == 0)
		rc = imd_examine(m, folder, false, NULL, err);
	if (rc < 0) {
		buf_free(&names);
		return rc;
	}
	/* The partial range keeps an absurd header from being buffered. */
	cmd = imap_cmd_new("UID FETCH");
	imap_cmd_atomf(cmd, "%u (UID BODY.PEEK[HEADER.FIELDS (%s)]<0.%zu>)", uid,
		       buf_cstr(&names), max);
	buf_free(&names);
	rc = imd_run(m, cmd, imd_peek_untagged, &p, &rep, err);
	if (rc == 0 && rep.status != IMAP_STATUS_OK)
		rc = imd_reply_error(&rep, MF_ENO, "UID FETCH failed", err);
	imd_reply_free(&rep);
	if (rc == 0 && !p.found)
		rc = mf_error_set(err, MF_ENOTFOUND, "no message with UID %u in %s", uid, folder);
	if (rc != 0) {
		free(p.out);
		return rc;
	}
	*out_r = p.out;
	*len_r = p.len;
	return 0;
}
