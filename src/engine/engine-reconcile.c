/* engine-reconcile.c: settling the intents left by a crash or a lost
 * connection against the target (engine.h, "Crash safety", step 3).
 *
 * Intents are settled folder by folder. Each ends confirmed (done, with
 * where it landed) or forgotten (copied again), and each result is
 * committed at once, so that a target message claimed by one intent is
 * seen as claimed by the next (two identical messages in one folder are
 * two messages, and must find two copies).
 *
 * Costs: a crash leaves at most a fetch chunk's intents (plus the appends
 * in flight): one EXAMINE and UID SEARCH per intent on an IMAP target, and
 * only for sizes that match, one fetch of the source messages and one of
 * the candidates. A maildir target reads two directories per intent.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

struct engine_settle {
	struct engine_job *job;
	int64_t folder_id;
	const char *target; /* target folder */
	const char *source; /* source folder */
	struct store_msgmap *ms;
	size_t n;
	/* per intent */
	char (*sha)[STORE_SHA256_HEX];
	char **msgid;
	bool *hashed;
	int64_t landed, again;
};

/* find_message callback: the first match no done row claims. */
struct engine_pick {
	struct engine_job *job;
	int64_t folder_id;
	bool found;
	uint32_t uidvalidity, uid;
	char *location;
	int rc;
	struct mf_error err;
};

static int engine_pick_one(void *ctx, const struct mbx_ref *ref)
{
	struct engine_pick *p = ctx;
	bool used = false;

	p->rc = store_msgmap_target_used(p->job->st, p->folder_id, ref->uid, ref->location, &used,
					 &p->err);
	if (p->rc != 0)
		return 1;
	if (used)
		return 0;
	p->found = true;
	p->uidvalidity = ref->uidvalidity;
	p->uid = ref->uid;
	p->location = ref->location != NULL ? xstrdup(ref->location) : NULL;
	return 1;
}

/* Ask the target; *p says what was found. */
static int engine_settle_find(struct engine_settle *s, const struct mbx_query *q,
			      struct engine_pick *p, struct mf_error *err)
{
	struct mbx *tgt = s->job->tgt;
	int rc;

	memset(p, 0, sizeof(*p));
	p->job = s->job;
	p->folder_id = s->folder_id;
	rc = tgt->drv->find_message(tgt, s->target, q, engine_pick_one, p, err);
	if (rc != 0)
		return mf_error_prefix(err, "target");
	if (p->rc != 0) {
		if (err != NULL)
			*err = p->err;
		return engine_fatal(s->job, p->rc, err);
	}
	return 0;
}

/* Record one intent's outcome: landed (p found) or not. */
static int engine_settle_record(struct engine_settle *s, size_t i, const struct engine_pick *p,
				struct mf_error *err)
{
	const struct store_msgmap *m = &s->ms[i];
	int rc;

	if (p != NULL && p->found) {
		struct store_msgmap c = {0};

		c.folder_id = m->folder_id;
		c.uidvalidity = m->uidvalidity;
		c.uid = m->uid;
		c.target_uidvalidity = p->uidvalidity;
		c.target_uid = p->uid;
		c.location = p->location;
		c.size = m->size;
		if (s->hashed[i])
			memcpy(c.sha256, s->sha[i], sizeof(c.sha256));
		rc = store_msgmap_confirm(s->job->st, &c, err);
		s->landed++;
	} else {
		rc = store_msgmap_forget(s->job->st, m->folder_id, m->uidvalidity, m->uid, err);
		if (rc == MF_ENOTFOUND)
			rc = 0;
		s->again++;
	}
	if (rc != 0)
		return engine_fatal(s->job, rc, err);
	return 0;
}

static void engine_settle_hashed(void *ctx, const struct engine_hashed *h)
{
	struct engine_settle *s = ctx;

	for (size_t i = 0; i < s->n; i++) {
		if (s->ms[i].uid != h->uid || s->hashed[i])
			continue;
		memcpy(s->sha[i], h->sha256, STORE_SHA256_HEX);
		s->msgid[i] = h->message_id != NULL ? xstrdup(h->message_id) : NULL;
		s->hashed[i] = true;
		s->ms[i].size = (int64_t)h->size;
	}
}

/* The source's hashes of the intents still open (need[i]). */
static int engine_settle_hash(struct engine_settle *s, const bool *need, struct mf_error *err)
{
	struct engine_job *job = s->job;
	struct mbx_folder_state fs = {0};
	uint32_t *uids = xcalloc(s->n + 1, sizeof(*uids));
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < s->n; i++) {
		if (!need[i])
			continue;
		if (s->ms[i].sha256[0] != '\0') {
			memcpy(s->sha[i], s->ms[i].sha256, STORE_SHA256_HEX);
			s->hashed[i] = true;
		} else {
			uids[k++] = (uint32_t)s->ms[i].uid;
		}
	}
	rc = k > 0 ? job->src->drv->folder_state(job->src, s->source, &fs, err) : 0;
	if (rc == MF_ENO || rc == MF_ENOTFOUND) {
		rc = 0; /* the folder is gone: so are its messages */
		k = 0;
	}
	/* UIDs of another UIDVALIDITY name other messages now. */
	if (rc == 0 && k > 0 && s->ms[0].uidvalidity == (int64_t)fs.uidvalidity)
		rc = engine_hash_fetch(job->src, s->source, uids, k, engine_settle_hashed, s, err);
	free(uids);
	if (rc != 0)
		return mf_error_prefix(err, "source");
	return 0;
}

/* Settle the intents of one folder. */
static int engine_settle_folder(struct engine_settle *s, struct mf_error *err)
{
	bool *need = xcalloc(s->n + 1, sizeof(*need));
	int rc = 0;

	s->sha = xcalloc(s->n + 1, sizeof(*s->sha));
	s->msgid = xcalloc(s->n + 1, sizeof(*s->msgid));
	s->hashed = xcalloc(s->n + 1, sizeof(*s->hashed));
	/* By name, or by size: nothing of that size there means not landed,
	 * without reading anything. */
	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		struct mbx_query q = {(uint64_t)s->ms[i].size, NULL, NULL, NULL};
		struct engine_pick p;

		q.name = s->ms[i].location;
		rc = engine_settle_find(s, &q, &p, err);
		if (rc == 0 && (q.name != NULL || !p.found))
			rc = engine_settle_record(s, i, &p, err);
		else if (rc == 0)
			need[i] = true;
		free(p.location);
	}
	if (rc == 0)
		rc = engine_settle_hash(s, need, err);
	/* By content: the source's bytes against the candidates'. */
	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		struct mbx_query q = {(uint64_t)s->ms[i].size, s->sha[i], s->msgid[i], NULL};
		struct engine_pick p = {0};

		if (!need[i])
			continue;
		if (s->hashed[i])
			rc = engine_settle_find(s, &q, &p, err);
		if (rc == 0)
			rc = engine_settle_record(s, i, &p, err);
		free(p.location);
	}
	for (size_t i = 0; i < s->n; i++)
		free(s->msgid[i]);
	free(s->msgid);
	free(s->sha);
	free(s->hashed);
	free(need);
	return rc;
}

/* Forget intents without looking (no target that can search). */
static int engine_forget_all(struct engine_job *job, const struct store_msgmap *ms, size_t n,
			     struct mf_error *err)
{
	int rc = store_begin(job->st, err);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = store_msgmap_forget(job->st, ms[i].folder_id, ms[i].uidvalidity, ms[i].uid,
					 err);
		if (rc == MF_ENOTFOUND)
			rc = 0;
	}
	if (rc == 0)
		rc = store_commit(job->st, err);
	else
		store_rollback(job->st);
	return rc != 0 ? engine_fatal(job, rc, err) : 0;
}

int engine_intents_settle(struct engine_job *job, struct mf_error *err)
{
	struct store_msgmap *ms = NULL;
	int64_t landed = 0, again = 0;
	size_t n = 0, a = 0;
	int rc;

	rc = engine_flush(job, false);
	if (rc != 0) {
		if (err != NULL)
			*err = job->fatal_err;
		return rc;
	}
	rc = store_msgmap_list_intents(job->st, job->u.id, &ms, &n, err);
	if (rc != 0)
		return engine_fatal(job, rc, err);
	if (n == 0)
		return 0;
	if (job->tgt->drv->find_message == NULL) {
		rc = engine_forget_all(job, ms, n, err);
		again = (int64_t)n;
		a = n;
	}
	/* Intents come by folder, then UIDVALIDITY, then UID. */
	while (rc == 0 && a < n) {
		struct engine_settle s = {0};
		struct store_folder row = {0};
		size_t b = a;

		while (b < n && ms[b].folder_id == ms[a].folder_id &&
		       ms[b].uidvalidity == ms[a].uidvalidity)
			b++;
		rc = store_folder_get_id(job->st, ms[a].folder_id, &row, err);
		if (rc != 0) {
			engine_fatal(job, rc, err);
			break;
		}
		s.job = job;
		s.folder_id = row.id;
		s.source = row.source_name;
		s.target = row.target_name != NULL ? row.target_name : row.source_name;
		s.ms = ms + a;
		s.n = b - a;
		rc = engine_settle_folder(&s, err);
		landed += s.landed;
		again += s.again;
		store_folder_clear(&row);
		a = b;
	}
	if (landed + again > 0)
		engine_event(job, STORE_EVENT_INFO,
			     "%lld interrupted cop%s settled: %lld had landed on the target, %lld "
			     "will be copied again",
			     (long long)(landed + again), landed + again == 1 ? "y" : "ies",
			     (long long)landed, (long long)again);
	store_msgmap_list_free(&ms, n);
	return rc;
}
