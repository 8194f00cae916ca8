/* engine-scan.c: listing a folder against the message map and the skipped
 * items (what is left to copy, and the totals), recording skipped items
 * with the item limits. A synced user's folders are listed incrementally
 * (engine-incr.c); a folder whose UIDVALIDITY changed is first matched by
 * content (engine-recover.c).
 *
 * A folder's listing is kept as two arrays (UIDs and sizes) of what
 * remains, a few bytes per message; the messages themselves are never
 * held.
 *
 * A message over --max-message-size is never fetched. It is noted during
 * the listing and recorded as a skipped item once the listing is over, in
 * listing order, with its Subject read from its header alone
 * (peek_header): the source's connection is busy while it lists.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* ---- skipped items ----------------------------------------------------------- */

static int engine_skipkey_cmp(const void *a, const void *b)
{
	const struct engine_skipkey *x = a, *y = b;
	int c = strcmp(x->folder, y->folder);

	if (c != 0)
		return c;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

bool engine_skipped_has(struct engine_job *job, const char *folder, uint32_t uid)
{
	struct engine_skipkey key = {(char *)folder, uid};
	struct engine_job *uj = engine_user_of(job);
	bool has;

	engine_user_lock(job);
	has = uj->nskipped > 0 &&
	      bsearch(&key, uj->skipped, uj->nskipped, sizeof(key), engine_skipkey_cmp) != NULL;
	engine_user_unlock(job);
	return has;
}

static void engine_skipped_insert(struct engine_job *job, const char *folder, uint32_t uid)
{
	job->skipped = xreallocarray(job->skipped, job->nskipped + 1, sizeof(*job->skipped));
	job->skipped[job->nskipped].folder = xstrdup(folder);
	job->skipped[job->nskipped].uid = uid;
	job->nskipped++;
	qsort(job->skipped, job->nskipped, sizeof(*job->skipped), engine_skipkey_cmp);
}

int engine_skipped_load(struct engine_job *job, struct mf_error *err)
{
	struct store_skipped *ss = NULL;
	size_t n = 0;
	int rc;

	rc = store_skipped_list(job->st, job->u.id, &ss, &n, err);
	if (rc != 0)
		return rc;
	job->skipped = xcalloc(n + 1, sizeof(*job->skipped));
	for (size_t i = 0; i < n; i++) {
		job->skipped[i].folder = xstrdup(ss[i].folder);
		job->skipped[i].uid = (uint32_t)ss[i].uid;
		if (ss[i].kind == STORE_SKIP_LARGE)
			job->nlarge++;
		else
			job->nbad++;
	}
	job->nskipped = n;
	qsort(job->skipped, n, sizeof(*job->skipped), engine_skipkey_cmp);
	store_skipped_list_free(&ss, n);
	job->u.stats.skipped_items = job->nbad + job->nlarge;
	return 0;
}

/* Under engine_user_lock(). */
static void engine_limit_check(struct engine_job *job, enum store_skip_kind kind)
{
	const struct store_batch_options *o = &job->run->batch.opt;
	const struct engine_job *uj = engine_user_of(job);
	int64_t limit = kind == STORE_SKIP_LARGE ? o->large_item_limit : o->bad_item_limit;
	int64_t n = kind == STORE_SKIP_LARGE ? uj->nlarge : uj->nbad;
	struct mf_error e;

	if (limit < 0 || n <= limit)
		return;
	mf_error_set(&e, MF_ELIMIT,
		     "%s of %lld exceeded: %lld item%s skipped (see 'mailferry user show %s "
		     "--skipped-items')",
		     kind == STORE_SKIP_LARGE ? "LargeItemLimit" : "BadItemLimit", (long long)limit,
		     (long long)n, n == 1 ? "" : "s", job->u.email_address);
	engine_fatal(job, MF_ELIMIT, &e);
}

/* Record a skipped item (forgetting its intent when it has one) and apply
 * the limits. */
void engine_skip(struct engine_job *job, size_t fi, const struct store_skipped *in, bool forget)
{
	struct engine_todo *t = &job->todo[fi];
	struct store_skipped s = *in;
	struct engine_job *uj;
	struct mf_error e = {0, ""};
	int rc;

	s.user_id = job->u.id;
	s.folder = job->plan.folders[fi].source;
	rc = store_begin(job->st, &e);
	if (rc == 0 && forget) {
		rc = store_msgmap_forget(job->st, t->folder_id, t->uidvalidity, s.uid, &e);
		if (rc == MF_ENOTFOUND)
			rc = 0;
	}
	if (rc == 0)
		rc = store_skipped_add(job->st, &s, &e);
	rc = store_end(job->st, rc, &e);
	if (rc != 0) {
		engine_fatal(job, rc, &e);
		return;
	}
	engine_event(job, STORE_EVENT_WARNING, "skipped a message in %s (UID %lld, %lld bytes): %s",
		     s.folder, (long long)s.uid, (long long)s.size, s.reason);
	/* The skipped items and the limits are the user's, whichever lane
	 * skipped it. */
	uj = engine_user_of(job);
	engine_user_lock(job);
	engine_skipped_insert(uj, s.folder, (uint32_t)s.uid);
	if (s.kind == STORE_SKIP_LARGE)
		uj->nlarge++;
	else
		uj->nbad++;
	uj->u.stats.skipped_items++;
	engine_limit_check(job, s.kind);
	engine_user_unlock(job);
}

/* ---- listing ----------------------------------------------------------------------------- */

/* A message too large to copy, to record once the listing is over. */
struct engine_big {
	uint32_t uid;
	time_t date;
	uint64_t size;
};

struct engine_scan {
	struct engine_job *job;
	size_t fi;
	bool first;
	size_t cap;
	uint32_t listed; /* every message the listing gave */
	int rc;
	struct mf_error err;
	struct engine_big *big; /* owned, in listing order */
	size_t nbig, bigcap;
};

static void engine_todo_add(struct engine_scan *s, struct engine_todo *t,
			    const struct mbx_msg_info *info)
{
	if (t->count == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		t->uids = xreallocarray(t->uids, s->cap, sizeof(*t->uids));
		t->sizes = xreallocarray(t->sizes, s->cap, sizeof(*t->sizes));
	}
	t->uids[t->count] = info->uid;
	t->sizes[t->count] = info->size;
	t->count++;
}

static int engine_scan_one(void *ctx, const struct mbx_msg_info *info)
{
	struct engine_scan *s = ctx;
	struct engine_job *job = s->job;
	struct engine_todo *t = &job->todo[s->fi];
	const struct store_batch_options *o = &job->run->batch.opt;
	const char *folder = job->plan.folders[s->fi].source;
	struct store_msgmap m = {0};
	int rc;

	s->listed++;
	if (info->uid > t->max_uid)
		t->max_uid = info->uid;
	if (o->received_after > 0 && (int64_t)info->internaldate < o->received_after)
		return 0;
	if (s->first) {
		job->u.stats.total_items++;
		job->u.stats.total_bytes += (int64_t)info->size;
	}
	if (engine_skipped_has(job, folder, info->uid))
		return 0;
	rc = store_msgmap_lookup(job->st, t->folder_id, t->uidvalidity, info->uid, &m, &s->err);
	if (rc == 0) {
		bool done = m.state == STORE_MSGMAP_DONE;

		store_msgmap_clear(&m);
		if (done) {
			if (s->first)
				job->u.stats.synced_items++;
			return 0;
		}
	} else if (rc != MF_ENOTFOUND) {
		return s->rc = rc;
	}
	if (o->max_message_size > 0 && info->size > (uint64_t)o->max_message_size) {
		if (s->nbig == s->bigcap) {
			s->bigcap = s->bigcap ? 2 * s->bigcap : 16;
			s->big = xreallocarray(s->big, s->bigcap, sizeof(*s->big));
		}
		s->big[s->nbig].uid = info->uid;
		s->big[s->nbig].date = info->internaldate;
		s->big[s->nbig].size = info->size;
		s->nbig++;
		return 0;
	}
	engine_todo_add(s, t, info);
	return 0;
}

/* Failures of one peek that concern that message only. */
static bool engine_peek_msg_level(int rc, const char *msg)
{
	if (engine_fault_of(rc, msg, NULL) == ENGINE_FAULT_THROTTLE)
		return false;
	return rc == MF_ENOTFOUND || rc == MF_ENO || rc == MF_EBAD || rc == MF_EINVAL ||
	       rc == MF_EUNSUPPORTED || rc == MF_ELIMIT;
}

/* *subject_r: the Subject of message uid of plan folder fi, read from its
 * header alone, or NULL (no Subject, no peek_header, or a failure about
 * that message only). 0, or a failure of the connection (err). */
static int engine_peek_subject(struct engine_job *job, size_t fi, uint32_t uid, char **subject_r,
			       struct mf_error *err)
{
	static const char *const fields[] = {"Subject"};
	const struct mailbox_driver *drv = job->src->drv;
	struct mf_error e = {0, ""};
	char *h = NULL;
	size_t len = 0;
	int rc;

	*subject_r = NULL;
	if (drv->peek_header == NULL)
		return 0;
	rc = drv->peek_header(job->src, job->plan.folders[fi].source, uid, fields, 1,
			      ENGINE_PEEK_MAX, &h, &len, &e);
	if (rc == 0) {
		*subject_r = engine_subject(h, len);
		free(h);
		return 0;
	}
	if (engine_peek_msg_level(rc, e.msg))
		return 0;
	if (err != NULL)
		*err = e;
	return rc;
}

/* Record the messages of s too large to copy as skipped items, in listing
 * order; stops at a failure: the item limit (job->fatal_rc) or the
 * connection (the folder is listed again after a reconnect, and what was
 * recorded is not listed twice). */
static int engine_scan_skip_big(struct engine_job *job, const struct engine_scan *s,
				struct mf_error *err)
{
	int64_t max = job->run->batch.opt.max_message_size;

	for (size_t k = 0; k < s->nbig; k++) {
		const struct engine_big *b = &s->big[k];
		struct store_skipped sk = {0};
		char *subject = NULL;
		int rc = engine_peek_subject(job, s->fi, b->uid, &subject, err);

		if (rc != 0)
			return rc;
		sk.uid = b->uid;
		sk.date = b->date;
		sk.subject = subject;
		sk.size = (int64_t)b->size;
		sk.reason = xasprintf("message of %llu bytes exceeds the maximum message size of "
				      "%lld bytes",
				      (unsigned long long)b->size, (long long)max);
		sk.kind = STORE_SKIP_LARGE;
		engine_skip(job, s->fi, &sk, false);
		free(sk.reason);
		free(subject);
		if (job->fatal_rc != 0) {
			if (err != NULL)
				*err = job->fatal_err;
			return job->fatal_rc;
		}
	}
	return 0;
}

/* Record the folder's state (after a UIDVALIDITY change, once the map is
 * matched by content); sets t->folder_id. *prev gets the state as it was
 * (zeroed for a new folder). A synced user's folder keeps its UIDNEXT,
 * HIGHESTMODSEQ and count until it is done (*incr_r). */
static int engine_folder_row(struct engine_job *job, size_t fi, const struct mbx_folder_state *fs,
			     struct store_folder *prev, bool *incr_r, struct mf_error *err)
{
	const struct engine_folder_plan *p = &job->plan.folders[fi];
	struct store_folder row = {0};
	int rc;

	*incr_r = false;
	memset(prev, 0, sizeof(*prev));
	rc = store_folder_get(job->st, job->u.id, p->source, &row, err);
	if (rc == MF_ENOTFOUND) {
		row.user_id = job->u.id;
		row.source_name = xstrdup(p->source);
	} else if (rc != 0) {
		return engine_fatal(job, rc, err);
	} else {
		*prev = row;
		prev->source_name = xstrdup(row.source_name);
		prev->target_name = row.target_name != NULL ? xstrdup(row.target_name) : NULL;
		job->todo[fi].folder_id = row.id;
	}
	if (rc == 0 && row.uidvalidity != 0 && row.uidvalidity != fs->uidvalidity) {
		engine_event(job, STORE_EVENT_WARNING,
			     "UIDVALIDITY of %s changed from %lld to %u: matching its messages "
			     "with what was copied",
			     p->source, (long long)row.uidvalidity, fs->uidvalidity);
		rc = engine_recover_uidvalidity(job, fi, row.uidvalidity, err);
		if (rc != 0) {
			store_folder_clear(&row);
			return rc;
		}
	} else if (rc == 0 && job->incremental) {
		*incr_r = true;
	}
	rc = 0;
	free(row.target_name);
	row.target_name = xstrdup(p->target);
	row.uidvalidity = fs->uidvalidity;
	if (!*incr_r) {
		row.uidnext = fs->uidnext;
		row.highestmodseq = (int64_t)fs->highestmodseq;
		row.message_count = fs->count;
	}
	rc = store_folder_put(job->st, &row, err);
	job->todo[fi].folder_id = row.id;
	store_folder_clear(&row);
	return rc != 0 ? engine_fatal(job, rc, err) : 0;
}

int engine_scan_list(struct engine_job *job, size_t fi, uint32_t from_uid, bool first,
		     uint32_t *listed_r, struct mf_error *err)
{
	const struct engine_folder_plan *p = &job->plan.folders[fi];
	struct engine_todo *t = &job->todo[fi];
	struct engine_scan s = {0};
	int64_t total0 = job->u.stats.total_items, bytes0 = job->u.stats.total_bytes;
	int64_t synced0 = job->u.stats.synced_items;
	int rc;

	s.job = job;
	s.fi = fi;
	s.first = first;
	rc = job->src->drv->list_messages(job->src, p->source, from_uid, engine_scan_one, &s, err);
	if (listed_r != NULL)
		*listed_r = s.listed;
	if (s.rc != 0) {
		rc = s.rc;
		if (job->fatal_rc == 0)
			rc = engine_fatal(job, rc, &s.err);
		else if (err != NULL)
			*err = job->fatal_err;
	}
	if (rc == 0)
		rc = engine_scan_skip_big(job, &s, err);
	free(s.big);
	if (rc != 0 && job->fatal_rc == 0 && first) {
		/* Listed again after the reconnect, and counted then. */
		job->u.stats.total_items = total0;
		job->u.stats.total_bytes = bytes0;
		job->u.stats.synced_items = synced0;
	}
	if (rc != 0)
		return rc;
	/* Listings come in UID order; make sure, as fetch looks UIDs up. */
	for (size_t k = 1; k < t->count; k++) {
		if (t->uids[k - 1] < t->uids[k])
			continue;
		for (size_t a = 1; a < t->count; a++) /* insertion sort, rare */
			for (size_t b = a; b > 0 && t->uids[b - 1] > t->uids[b]; b--) {
				uint32_t u = t->uids[b];
				uint64_t z = t->sizes[b];

				t->uids[b] = t->uids[b - 1];
				t->sizes[b] = t->sizes[b - 1];
				t->uids[b - 1] = u;
				t->sizes[b - 1] = z;
			}
		break;
	}
	return 0;
}

int engine_folder_scan(struct engine_job *job, size_t fi, const struct mbx_folder_state *known,
		       struct mf_error *err)
{
	const struct engine_folder_plan *p = &job->plan.folders[fi];
	struct engine_todo *t = &job->todo[fi];
	struct mbx_folder_state fs = {0};
	struct store_folder prev = {0};
	bool incr = false, first = !t->scanned;
	int rc;

	if (p->noselect) {
		t->scanned = true;
		t->done = true;
		return 0;
	}
	rc = 0;
	if (known != NULL)
		fs = *known;
	else
		rc = job->src->drv->folder_state(job->src, p->source, &fs, err);
	if (rc != 0)
		return rc;
	t->uidvalidity = fs.uidvalidity;
	t->uidnext = fs.uidnext;
	t->source_count = fs.count;
	t->highestmodseq = fs.highestmodseq;
	t->incr = false;
	rc = engine_folder_row(job, fi, &fs, &prev, &incr, err);
	if (rc != 0) {
		/* A store failure is fatal; a source failure is retried. */
		store_folder_clear(&prev);
		return job->fatal_rc != 0 ? job->fatal_rc : rc;
	}
	free(t->uids);
	free(t->sizes);
	t->uids = NULL;
	t->sizes = NULL;
	t->count = t->pos = 0;
	t->max_uid = 0;
	if (incr)
		rc = engine_folder_incremental(job, fi, &prev, err);
	else
		rc = engine_scan_list(job, fi, 1, first, NULL, err);
	store_folder_clear(&prev);
	if (rc != 0)
		return rc;
	t->scanned = true;
	t->rescan = false;
	return 0;
}
