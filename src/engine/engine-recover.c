/* engine-recover.c: recognising at the source what was already copied
 * when its identity changed (engine.h, "UIDVALIDITY change"):
 *
 *   - A new UIDVALIDITY (the folder recreated, or the server's index
 *     rebuilt): UIDs mean nothing any more, contents still do. The map rows
 *     of the old UIDVALIDITY are matched against the folder's messages by
 *     size, then by SHA-256 of the candidates (fetched, streamed); a match
 *     is re-keyed (same target message), the rest is copied as new. Old
 *     rows nothing matched are messages gone from the source: they stay
 *     (or, with sync_deletes, are expunged from the target).
 *   - A folder renamed: the source lists a folder the map does not know
 *     and no longer lists one it knows. When they have the same
 *     UIDVALIDITY and most of the old folder's UIDs are there with the
 *     same sizes, the new name takes over the old state, and the target
 *     folder is renamed the same way; a UIDVALIDITY that changed too is
 *     then handled as above.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* ---- UIDVALIDITY ------------------------------------------------------------ */

struct engine_recover {
	struct engine_job *job;
	struct store_msgmap *old; /* done rows of the old UIDVALIDITY, by size */
	size_t nold;
	bool *claimed;
	struct store_msgmap *now; /* done rows of the new one, by UID */
	size_t nnow;
	uint32_t *cand; /* source UIDs whose size some old row has */
	size_t ncand, cap;
	uint32_t *from, *to; /* re-keys: old row index -> new UID */
	size_t nrekey;
};

static int engine_old_cmp(const void *a, const void *b)
{
	const struct store_msgmap *x = a, *y = b;

	return x->size < y->size ? -1 : x->size > y->size;
}

/* The first old row of this size, or nold. */
static size_t engine_old_find(const struct engine_recover *r, int64_t size)
{
	size_t lo = 0, hi = r->nold;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->old[mid].size < size)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nold && r->old[lo].size == size ? lo : r->nold;
}

static bool engine_now_has(const struct engine_recover *r, uint32_t uid)
{
	size_t lo = 0, hi = r->nnow;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->now[mid].uid == uid)
			return true;
		if (r->now[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int engine_recover_list(void *ctx, const struct mbx_msg_info *info)
{
	struct engine_recover *r = ctx;

	if (engine_old_find(r, (int64_t)info->size) == r->nold || engine_now_has(r, info->uid))
		return 0;
	if (r->ncand == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->cand = xreallocarray(r->cand, r->cap, sizeof(*r->cand));
	}
	r->cand[r->ncand++] = info->uid;
	return 0;
}

static void engine_recover_hashed(void *ctx, const struct engine_hashed *h)
{
	struct engine_recover *r = ctx;

	for (size_t i = engine_old_find(r, (int64_t)h->size);
	     i < r->nold && r->old[i].size == (int64_t)h->size; i++) {
		if (r->claimed[i] || strcmp(r->old[i].sha256, h->sha256) != 0)
			continue;
		r->claimed[i] = true;
		r->from = xreallocarray(r->from, r->nrekey + 1, sizeof(*r->from));
		r->to = xreallocarray(r->to, r->nrekey + 1, sizeof(*r->to));
		r->from[r->nrekey] = (uint32_t)i;
		r->to[r->nrekey] = h->uid;
		r->nrekey++;
		return;
	}
}

static void engine_recover_free(struct engine_recover *r)
{
	store_msgmap_list_free(&r->old, r->nold);
	store_msgmap_list_free(&r->now, r->nnow);
	free(r->claimed);
	free(r->cand);
	free(r->from);
	free(r->to);
}

int engine_recover_uidvalidity(struct engine_job *job, size_t fi, int64_t old_uv,
			       struct mf_error *err)
{
	struct engine_todo *t = &job->todo[fi];
	const char *source = job->plan.folders[fi].source;
	struct engine_recover r = {0};
	int rc;

	r.job = job;
	rc = store_msgmap_list_done(job->st, t->folder_id, old_uv, &r.old, &r.nold, err);
	if (rc == 0)
		rc = store_msgmap_list_done(job->st, t->folder_id, t->uidvalidity, &r.now, &r.nnow,
					    err);
	if (rc != 0) {
		engine_recover_free(&r);
		return engine_fatal(job, rc, err);
	}
	if (r.nold == 0) {
		engine_recover_free(&r);
		return 0;
	}
	qsort(r.old, r.nold, sizeof(*r.old), engine_old_cmp);
	r.claimed = xcalloc(r.nold, sizeof(*r.claimed));
	rc = job->src->drv->list_messages(job->src, source, 1, engine_recover_list, &r, err);
	if (rc == 0)
		rc = engine_hash_fetch(job->src, source, r.cand, r.ncand, engine_recover_hashed, &r,
				       err);
	if (rc != 0) {
		engine_recover_free(&r);
		return rc; /* the source failed: retried */
	}
	rc = store_begin(job->st, err);
	for (size_t k = 0; rc == 0 && k < r.nrekey; k++) {
		const struct store_msgmap *o = &r.old[r.from[k]];

		rc = store_msgmap_rekey(job->st, o->folder_id, o->uidvalidity, o->uid, t->folder_id,
					t->uidvalidity, r.to[k], err);
	}
	rc = store_end(job->st, rc, err);
	if (rc != 0) {
		engine_recover_free(&r);
		return engine_fatal(job, rc, err);
	}
	engine_event(job, STORE_EVENT_INFO,
		     "%s: %zu of %zu messages copied before the UIDVALIDITY change were found "
		     "again by content and are not copied again",
		     source, r.nrekey, r.nold);
	if (job->run->batch.opt.sync_deletes && job->tgt->drv->expunge != NULL &&
	    r.nrekey < r.nold) {
		/* What the source lost with its old UIDVALIDITY goes from the
		 * target too. */
		struct mbx_ref *refs = xcalloc(r.nold, sizeof(*refs));
		size_t n = 0;

		for (size_t i = 0; i < r.nold; i++) {
			if (r.claimed[i])
				continue;
			refs[n].uidvalidity = (uint32_t)r.old[i].target_uidvalidity;
			refs[n].uid = (uint32_t)r.old[i].target_uid;
			refs[n].location = r.old[i].location;
			n++;
		}
		rc = job->tgt->drv->expunge(job->tgt, job->plan.folders[fi].target, refs, n, err);
		free(refs);
		if (rc == 0) {
			rc = store_begin(job->st, err);
			for (size_t i = 0; rc == 0 && i < r.nold; i++)
				if (!r.claimed[i])
					rc = store_msgmap_forget(job->st, r.old[i].folder_id,
								 r.old[i].uidvalidity, r.old[i].uid,
								 err);
			rc = store_end(job->st, rc, err);
			if (rc != 0)
				engine_fatal(job, rc, err);
			else
				job->deletions += (int64_t)(r.nold - r.nrekey);
		} else if (rc == MF_EUNSUPPORTED) {
			rc = 0;
		}
	}
	engine_recover_free(&r);
	return rc;
}

/* ---- renames ------------------------------------------------------------------ */

struct engine_uidsize {
	const struct store_msgmap *rows; /* by UID */
	size_t n;
	size_t same; /* listed with the same UID and size */
};

static int engine_uidsize_one(void *ctx, const struct mbx_msg_info *info)
{
	struct engine_uidsize *u = ctx;
	size_t lo = 0, hi = u->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (u->rows[mid].uid == info->uid) {
			u->same += u->rows[mid].size == (int64_t)info->size;
			return 0;
		}
		if (u->rows[mid].uid < info->uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Whether source folder name is orphan o renamed: same UIDVALIDITY, and at
 * least half of o's messages there under the same UID with the same size. */
static int engine_is_renamed(struct engine_job *job, const char *name, const struct store_folder *o,
			     bool *yes_r, struct mf_error *err)
{
	struct mbx_folder_state fs = {0};
	struct engine_uidsize u = {0};
	struct store_msgmap *rows = NULL;
	size_t n = 0;
	int rc;

	*yes_r = false;
	rc = job->src->drv->folder_state(job->src, name, &fs, err);
	if (rc != 0 || (int64_t)fs.uidvalidity != o->uidvalidity)
		return rc;
	rc = store_msgmap_list_done(job->st, o->id, o->uidvalidity, &rows, &n, err);
	if (rc != 0)
		return engine_fatal(job, rc, err);
	u.rows = rows;
	u.n = n;
	if (n > 0)
		rc = job->src->drv->list_messages(job->src, name, 1, engine_uidsize_one, &u, err);
	*yes_r = rc == 0 && n > 0 && 2 * u.same >= n;
	store_msgmap_list_free(&rows, n);
	return rc;
}

/* The target folder of o goes where the new name maps; others beneath it
 * follow (a target renames subfolders with their parent). *ok_r false
 * when the target cannot (then the folder is copied anew). */
static int engine_rename_target(struct engine_job *job, struct store_folder *rows, size_t nrows,
				struct store_folder *o, const char *target, bool *ok_r,
				struct mf_error *err)
{
	const char *old = o->target_name;
	size_t olen;
	int rc;

	*ok_r = true;
	if (old == NULL || strcmp(old, target) == 0)
		return 0;
	*ok_r = false;
	if (job->tgt->drv->rename_folder == NULL)
		return 0;
	rc = job->tgt->drv->rename_folder(job->tgt, old, target, err);
	if (rc == MF_EEXIST || rc == MF_ENOTFOUND || rc == MF_ENO || rc == MF_EINVAL) {
		engine_event(job, STORE_EVENT_WARNING,
			     "cannot rename folder %s to %s on the target (%s): it is copied again",
			     old, target, err->msg);
		return 0;
	}
	if (rc != 0)
		return mf_error_prefix(err, "target");
	*ok_r = true;
	olen = strlen(old);
	for (size_t i = 0; i < nrows; i++) {
		char *t = rows[i].target_name;

		if (&rows[i] != o && t != NULL && strncmp(t, old, olen) == 0 && t[olen] == '/') {
			rows[i].target_name = xasprintf("%s%s", target, t + olen);
			free(t);
		}
	}
	return 0;
}

static bool engine_plan_has(const struct engine_plan *p, const char *source)
{
	for (size_t i = 0; i < p->count; i++)
		if (strcmp(p->folders[i].source, source) == 0)
			return true;
	return false;
}

int engine_recover_renames(struct engine_job *job, struct mf_error *err)
{
	struct store_folder *rows = NULL;
	bool *orphan;
	size_t n = 0, norphans = 0;
	int rc;

	rc = store_folder_list(job->st, job->u.id, &rows, &n, err);
	if (rc != 0)
		return engine_fatal(job, rc, err);
	orphan = xcalloc(n + 1, sizeof(*orphan));
	for (size_t i = 0; i < n; i++) {
		int64_t done = 0;

		if (engine_plan_has(&job->plan, rows[i].source_name))
			continue;
		rc = store_msgmap_count_done(job->st, rows[i].id, rows[i].uidvalidity, &done, err);
		if (rc != 0) {
			engine_fatal(job, rc, err);
			break;
		}
		orphan[i] = done > 0;
		norphans += orphan[i];
	}
	for (size_t f = 0; rc == 0 && norphans > 0 && f < job->plan.count; f++) {
		const struct engine_folder_plan *p = &job->plan.folders[f];
		bool known = false;

		if (p->noselect)
			continue;
		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(rows[i].source_name, p->source) == 0;
		for (size_t i = 0; rc == 0 && !known && i < n; i++) {
			bool yes = false, ok = false;

			if (!orphan[i])
				continue;
			rc = engine_is_renamed(job, p->source, &rows[i], &yes, err);
			if (rc != 0 || !yes)
				continue;
			rc = engine_rename_target(job, rows, n, &rows[i], p->target, &ok, err);
			if (rc != 0 || !ok)
				continue;
			rc = store_folder_rename(job->st, rows[i].id, p->source, p->target, err);
			if (rc != 0) {
				engine_fatal(job, rc, err);
				break;
			}
			engine_event(job, STORE_EVENT_INFO,
				     "folder %s was renamed to %s at the source: what was copied "
				     "stays, renamed on the target",
				     rows[i].source_name, p->source);
			orphan[i] = false;
			norphans--;
			known = true;
		}
	}
	free(orphan);
	store_folder_list_free(&rows, n);
	return rc;
}
