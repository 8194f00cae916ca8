/* engine-reconcile.c: settling the intents left by a crash or a lost
 * connection against the target (engine.h, "Crash safety", step 3).
 *
 * Intents are settled folder by folder. Each ends confirmed (done, with
 * where it landed) or forgotten (copied again), and each result is
 * committed at once, so that a target message claimed by one intent is
 * seen as claimed by the next (two identical messages in one folder are
 * two messages, and must find two copies). Going by UID is what makes
 * the right copy the one claimed: appends go in UID order, one connection
 * at a time, and the target stores them in the order it got them, so what
 * landed of a folder's intents is their first ones; while copies may still
 * land, an intent waits for its open twins of lower UID (same bytes).
 *
 * An intent the target sealed (its command complete: it has its SHA-256,
 * engine-copy.c) may land after its sender is gone: a server still works
 * through what a dead process wrote before it died, and the new run starts
 * within milliseconds. Such an intent that is not there yet is waited for,
 * watching the folder (its UIDNEXT and count), until it shows up, or the
 * folder stays still for ENGINE_SETTLE_QUIET_MS, or io_timeout_ms passed;
 * only then is it copied again (what a reset connection lost). An intent
 * that was never sealed cannot land (its command never ended): it is
 * never waited for, and settled after the sealed ones, taking only a copy
 * none of them claimed (it can only be an older version's intent).
 *
 * Costs: a crash leaves at most a few fetch chunks' intents (plus the
 * appends in flight): one EXAMINE and UID SEARCH per intent on an IMAP
 * target, and only for sizes that match (or sealed intents), one fetch of
 * the source messages and one of the candidates. A maildir target reads
 * two directories per intent.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/mftime.h"
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
	bool *open; /* not settled yet */
	int64_t landed, again, waited;
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

	s->open[i] = false;
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

/* Sealed by the target: may still land (see the top). */
static bool engine_sealed(const struct engine_settle *s, size_t i)
{
	return s->ms[i].sha256[0] != '\0';
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

/* The source's hash and Message-ID of the intents in need[] (the
 * sealed ones keep their recorded hash when the source cannot say). */
static int engine_settle_hash(struct engine_settle *s, const bool *need, struct mf_error *err)
{
	struct engine_job *job = s->job;
	struct mbx_folder_state fs = {0};
	uint32_t *uids = xcalloc(s->n + 1, sizeof(*uids));
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < s->n; i++)
		if (need[i] && !s->hashed[i])
			uids[k++] = (uint32_t)s->ms[i].uid;
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
	for (size_t i = 0; i < s->n; i++) {
		if (need[i] && !s->hashed[i] && engine_sealed(s, i)) {
			memcpy(s->sha[i], s->ms[i].sha256, STORE_SHA256_HEX);
			s->hashed[i] = true;
		}
	}
	return 0;
}

/* Whether an intent of which[] before i (lower UID) has i's content
 * (still open, when open_only). */
static bool engine_settle_twin(const struct engine_settle *s, const bool *which, size_t i,
			       bool open_only)
{
	for (size_t k = 0; k < i; k++)
		if (which[k] && s->hashed[k] && (s->open[k] || !open_only) &&
		    strcmp(s->sha[k], s->sha[i]) == 0)
			return true;
	return false;
}

/* How engine_settle_content goes. */
enum engine_search {
	ENGINE_SEARCH_ALL,   /* each one, once: found or not landed */
	ENGINE_SEARCH_EARLY, /* sealed, may land meanwhile: found or left open,
			      * an intent whose twin (same bytes, lower UID)
			      * is open waiting for it, as the copy found may
			      * be the twin's */
	ENGINE_SEARCH_LAST,  /* after EARLY, the last word: found or not
			      * landed, searched again only when a twin may
			      * have stood in the way (the others were searched
			      * after the folder last changed) */
};

/* By content, the intents of which[] still open, in UID order. */
static int engine_settle_content(struct engine_settle *s, const bool *which, enum engine_search how,
				 struct mf_error *err)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		struct mbx_query q = {(uint64_t)s->ms[i].size, s->sha[i], s->msgid[i], NULL};
		struct engine_pick p = {0};
		bool search = s->hashed[i];

		if (!which[i] || !s->open[i])
			continue;
		if (search && how == ENGINE_SEARCH_EARLY)
			search = !engine_settle_twin(s, which, i, true);
		else if (search && how == ENGINE_SEARCH_LAST)
			search = engine_settle_twin(s, which, i, false);
		if (search)
			rc = engine_settle_find(s, &q, &p, err);
		if (rc == 0 && (p.found || how != ENGINE_SEARCH_EARLY))
			rc = engine_settle_record(s, i, &p, err);
		free(p.location);
	}
	return rc;
}

/* The folder's look now (UIDNEXT and count; zeros when it is missing). */
static int engine_settle_look(struct engine_settle *s, struct mbx_folder_state *fs,
			      struct mf_error *err)
{
	struct mbx *tgt = s->job->tgt;
	int rc;

	memset(fs, 0, sizeof(*fs));
	if (tgt->drv->folder_state == NULL)
		return 0;
	rc = tgt->drv->folder_state(tgt, s->target, fs, err);
	if (rc == MF_ENO || rc == MF_ENOTFOUND) {
		memset(fs, 0, sizeof(*fs));
		rc = 0;
	}
	return rc != 0 ? mf_error_prefix(err, "target") : 0;
}

/* How many intents of wait[] are still open. */
static size_t engine_settle_left(const struct engine_settle *s, const bool *wait)
{
	size_t left = 0;

	for (size_t i = 0; i < s->n; i++)
		left += wait[i] && s->open[i];
	return left;
}

/* Wait for the sealed intents of wait[] that are not there yet (see the
 * top). Left open when the run stops meanwhile (settled next time). */
static int engine_settle_wait(struct engine_settle *s, const bool *wait, struct mf_error *err)
{
	struct engine_job *job = s->job;
	struct mbx_folder_state was, now;
	int64_t start = mf_now_ms(), still = start;
	int64_t cap = job->run->o.io_timeout_ms;
	size_t left = engine_settle_left(s, wait), first;
	int rc;

	if (left == 0)
		return 0;
	/* Look, search, then search again after each change. */
	rc = engine_settle_look(s, &was, err);
	if (rc == 0)
		rc = engine_settle_content(s, wait, ENGINE_SEARCH_EARLY, err);
	left = first = engine_settle_left(s, wait);
	while (rc == 0 && left > 0) {
		int64_t t = mf_now_ms();

		if (t - still >= ENGINE_SETTLE_QUIET_MS || t - start >= cap)
			break;
		engine_run_sleep(job->run, ENGINE_SETTLE_POLL_MS);
		if (atomic_load(&job->run->stop))
			return 0;
		rc = engine_settle_look(s, &now, err);
		/* Nothing new there: nothing to search (a target that cannot
		 * tell is searched every time). */
		if (rc != 0 || (job->tgt->drv->folder_state != NULL && now.uidnext == was.uidnext &&
				now.count == was.count))
			continue;
		was = now;
		still = mf_now_ms();
		rc = engine_settle_content(s, wait, ENGINE_SEARCH_EARLY, err);
		left = engine_settle_left(s, wait);
	}
	s->waited += (int64_t)(first - left);
	/* Not there after all: never stored (refused, or cut before its end). */
	if (rc == 0)
		rc = engine_settle_content(s, wait, ENGINE_SEARCH_LAST, err);
	return rc;
}

/* Settle the open intents that are sealed (or not). */
static int engine_settle_some(struct engine_settle *s, bool sealed, struct mf_error *err)
{
	bool *need = xcalloc(s->n + 1, sizeof(*need));
	bool *wait = xcalloc(s->n + 1, sizeof(*wait));
	int rc = 0;

	/* By name, or by size: nothing of that size there means not landed,
	 * without reading anything, unless it may still land (sealed: looked
	 * for by content, and waited for). */
	for (size_t i = 0; rc == 0 && i < s->n; i++) {
		struct mbx_query q = {(uint64_t)s->ms[i].size, NULL, NULL, NULL};
		struct engine_pick p;

		if (!s->open[i] || engine_sealed(s, i) != sealed)
			continue;
		q.name = s->ms[i].location;
		if (q.name == NULL && sealed) {
			need[i] = wait[i] = true;
			continue;
		}
		rc = engine_settle_find(s, &q, &p, err);
		if (rc == 0 && (q.name != NULL || !p.found))
			rc = engine_settle_record(s, i, &p, err);
		else if (rc == 0)
			need[i] = true;
		free(p.location);
	}
	if (rc == 0)
		rc = engine_settle_hash(s, need, err);
	/* By content: the source's bytes against the candidates'. Nothing
	 * lands meanwhile but sealed appends, settled before the others. */
	if (rc == 0 && sealed)
		rc = engine_settle_wait(s, wait, err);
	else if (rc == 0)
		rc = engine_settle_content(s, need, ENGINE_SEARCH_ALL, err);
	free(wait);
	free(need);
	return rc;
}

/* Settle the intents of one folder: the sealed ones first, as they are
 * what may have landed; the others (which cannot have, unless an older
 * version of us wrote them) only take a copy no sealed one claimed. */
static int engine_settle_folder(struct engine_settle *s, struct mf_error *err)
{
	int rc;

	s->sha = xcalloc(s->n + 1, sizeof(*s->sha));
	s->msgid = xcalloc(s->n + 1, sizeof(*s->msgid));
	s->hashed = xcalloc(s->n + 1, sizeof(*s->hashed));
	s->open = xcalloc(s->n + 1, sizeof(*s->open));
	for (size_t i = 0; i < s->n; i++)
		s->open[i] = true;
	rc = engine_settle_some(s, true, err);
	if (rc == 0 && !atomic_load(&s->job->run->stop))
		rc = engine_settle_some(s, false, err);
	for (size_t i = 0; i < s->n; i++)
		free(s->msgid[i]);
	free(s->msgid);
	free(s->sha);
	free(s->hashed);
	free(s->open);
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
	rc = store_end(job->st, rc, err);
	return rc != 0 ? engine_fatal(job, rc, err) : 0;
}

int engine_intents_settle(struct engine_job *job, struct mf_error *err)
{
	struct store_msgmap *ms = NULL;
	int64_t landed = 0, again = 0, waited = 0;
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
	while (rc == 0 && a < n && !atomic_load(&job->run->stop)) {
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
		waited += s.waited;
		store_folder_clear(&row);
		a = b;
	}
	if (landed + again > 0)
		engine_event(job, STORE_EVENT_INFO,
			     "%lld interrupted cop%s settled: %lld had landed on the target (%lld "
			     "of them after a wait), %lld will be copied again",
			     (long long)(landed + again), landed + again == 1 ? "y" : "ies",
			     (long long)landed, (long long)waited, (long long)again);
	store_msgmap_list_free(&ms, n);
	return rc;
}
