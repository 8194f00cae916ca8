/* engine-user.c: one migration user's run, from claimed (Syncing,
 * IncrementalSyncing, Completing) to its end (engine-pass.c says which).
 *
 * Steps, resumable after a lost connection: open the source and the
 * target; settle the intents left behind (engine-reconcile.c); list the
 * source folders and plan them (engine-folders.h), recovering renamed
 * folders; create the target folders; list every planned folder against
 * the message map (totals first, so the percentage means something from
 * the start; incrementally for a synced user); copy the folders
 * (engine-copy.c), over several connections when the batch allows
 * (engine-lanes.c). A failure to connect before anything was opened sends
 * the user back to its queue with a backoff (engine.h); a failure later is
 * retried by reconnecting (the folder is listed again and resumes from the
 * message map) within the reconnect or throttle budget (engine-retry.c).
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/mftime.h"
#include "util/xmalloc.h"

static void engine_close(struct engine_job *job)
{
	if (job->src != NULL)
		job->src->drv->close(&job->src);
	if (job->tgt != NULL)
		job->tgt->drv->close(&job->tgt);
	engine_inflight_drop(job);
}

void engine_set_folder(struct engine_job *job, const char *folder)
{
	struct engine_job *uj = engine_user_of(job);

	engine_user_lock(job);
	free(uj->u.stats.current_folder);
	uj->u.stats.current_folder = folder != NULL ? xstrdup(folder) : NULL;
	engine_user_unlock(job);
}

static int engine_side_fail(int rc, enum engine_side side, struct mf_error *err)
{
	mf_error_prefix(err, "%s", side == ENGINE_SOURCE ? "source" : "target");
	return rc;
}

static int engine_connect(struct engine_job *job, struct mf_error *err)
{
	int rc;

	if (job->src == NULL) {
		rc = engine_open_side(job, ENGINE_SOURCE, &job->src, err);
		if (rc != 0)
			return engine_side_fail(rc, ENGINE_SOURCE, err);
	}
	if (job->tgt == NULL) {
		rc = engine_open_side(job, ENGINE_TARGET, &job->tgt, err);
		if (rc != 0)
			return engine_side_fail(rc, ENGINE_TARGET, err);
		engine_target_attach(job);
	}
	job->opened_once = true;
	if (job->need_settle) {
		rc = engine_intents_settle(job, err);
		if (rc != 0)
			return job->fatal_rc != 0 ? job->fatal_rc : rc;
		job->need_settle = false;
	}
	return 0;
}

static int engine_plan(struct engine_job *job, struct mf_error *err)
{
	struct mbx_folder_list list = {NULL, 0};
	int rc;

	rc = job->src->drv->list_folders(job->src, &list, err);
	if (rc != 0)
		return engine_side_fail(rc, ENGINE_SOURCE, err);
	engine_plan_build(&job->run->filter, &list, job->tgt, &job->plan);
	/* The listings count these again from here on. */
	job->u.stats.total_items = job->u.stats.synced_items = job->u.stats.total_bytes = 0;
	mbx_folder_list_free(&list);
	job->todo = xcalloc(job->plan.count + 1, sizeof(*job->todo));
	job->planned = true;
	/* Before the target folders are created: a renamed one is renamed. */
	rc = engine_recover_renames(job, err);
	if (rc != 0 && job->fatal_rc == 0)
		rc = engine_side_fail(rc, ENGINE_SOURCE, err);
	return rc;
}

/* Folder i's creation failed with rc: the user fails when the target
 * refused it, else the target is retried. */
static int engine_create_failed(struct engine_job *job, size_t i, int rc, struct mf_error *err)
{
	if (rc == MF_ENO || rc == MF_EBAD || rc == MF_EINVAL) {
		mf_error_prefix(err, "cannot create folder %s on the target",
				job->plan.folders[i].target);
		return engine_fatal(job, rc, err);
	}
	return engine_side_fail(rc, ENGINE_TARGET, err);
}

static int engine_create_folders(struct engine_job *job, struct mf_error *err)
{
	struct mbx_create *reqs;
	size_t *idx, n = 0;
	int rc;

	reqs = xcalloc(job->plan.count + 1, sizeof(*reqs));
	idx = xcalloc(job->plan.count + 1, sizeof(*idx));
	for (size_t i = 0; i < job->plan.count; i++) {
		const struct engine_folder_plan *p = &job->plan.folders[i];

		if (job->todo[i].created)
			continue;
		/* A container only (\Noselect) at the source stays one: the
		 * target makes the hierarchy when a child is created, as
		 * the source has it, rather than an empty real folder. */
		if (p->noselect) {
			job->todo[i].created = true;
			continue;
		}
		reqs[n].folder = p->target;
		reqs[n].role = p->role;
		reqs[n].subscribe = p->subscribed;
		idx[n++] = i;
	}
	rc = 0;
	if (n > 0 && job->tgt->drv->create_folders != NULL) {
		/* All at once: on a slow link each folder would otherwise
		 * cost a round trip or two. */
		rc = job->tgt->drv->create_folders(job->tgt, reqs, n, err);
		if (rc != 0)
			rc = engine_side_fail(rc, ENGINE_TARGET, err);
		for (size_t k = 0; rc == 0 && k < n; k++) {
			if (reqs[k].rc != 0) {
				*err = reqs[k].err;
				rc = engine_create_failed(job, idx[k], reqs[k].rc, err);
			} else {
				job->todo[idx[k]].created = true;
			}
		}
	} else {
		for (size_t k = 0; rc == 0 && k < n; k++) {
			rc = job->tgt->drv->create_folder(job->tgt, reqs[k].folder, reqs[k].role,
							  reqs[k].subscribe, err);
			if (rc != 0)
				rc = engine_create_failed(job, idx[k], rc, err);
			else
				job->todo[idx[k]].created = true;
		}
	}
	free(reqs);
	free(idx);
	return rc;
}

/* After a folder is copied: its highest source UID handled and, after an
 * incremental listing, the state it was listed in (only now: a crash
 * before makes the next pass look at the same changes again). */
static void engine_folder_done(struct engine_job *job, size_t i)
{
	const struct engine_todo *t = &job->todo[i];
	struct store_folder row = {0};
	struct mf_error err = {0, ""};

	if (job->plan.folders[i].noselect)
		return;
	if (store_folder_get(job->st, job->u.id, job->plan.folders[i].source, &row, &err) == 0) {
		if (t->max_uid > row.last_uid || !t->incr)
			row.last_uid = t->max_uid;
		if (t->incr) {
			row.uidvalidity = t->uidvalidity;
			row.uidnext = t->uidnext;
			row.highestmodseq = (int64_t)t->highestmodseq;
			row.message_count = t->source_count;
		}
		if (store_folder_put(job->st, &row, &err) != 0)
			engine_fatal(job, err.code, &err);
	}
	store_folder_clear(&row);
}

static int engine_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Which of some UIDs (ascending) the source still has. */
struct engine_present {
	const uint32_t *uids;
	size_t n;
	size_t found;
};

static int engine_present_one(void *ctx, const struct mbx_msg_info *info)
{
	struct engine_present *p = ctx;

	if (bsearch(&info->uid, p->uids, p->n, sizeof(*p->uids), engine_uid_cmp) != NULL)
		p->found++;
	return 0;
}

/* A safety net, not a way of working: once folder i is copied, each
 * message its listing left to copy is done in the message map or skipped,
 * or else the source no longer has it (expunged meanwhile: the copy
 * forgets the intents of what the source did not deliver). Anything else
 * would be reported Synced while missing on the target, so the user fails
 * instead, before the folder's highest UID is recorded (an incremental
 * pass would not list them again). Asks the source only when something is
 * missing. 0, a failure of the source (the folder is listed and copied
 * again after the reconnect), or job->fatal_rc. */
static int engine_check_listed(struct engine_job *job, size_t i, struct mf_error *err)
{
	const struct engine_todo *t = &job->todo[i];
	const char *folder = job->plan.folders[i].source;
	struct engine_present p = {NULL, 0, 0};
	struct store_msgmap *done = NULL;
	size_t ndone = 0, d = 0;
	uint32_t *left = NULL;
	size_t n = 0;
	struct mf_error e = {0, ""};
	int rc;

	if (job->plan.folders[i].noselect || t->count == 0)
		return 0;
	/* One query, then a merge: both lists ascend by UID. */
	rc = store_msgmap_list_done(job->st, t->folder_id, t->uidvalidity, &done, &ndone, &e);
	if (rc != 0)
		return engine_fatal(job, rc, &e);
	for (size_t k = 0; k < t->count; k++) {
		while (d < ndone && done[d].uid < (int64_t)t->uids[k])
			d++;
		if (d < ndone && done[d].uid == (int64_t)t->uids[k])
			continue;
		if (engine_skipped_has(job, folder, t->uids[k]))
			continue;
		if (left == NULL)
			left = xcalloc(t->count, sizeof(*left));
		left[n++] = t->uids[k];
	}
	store_msgmap_list_free(&done, ndone);
	if (n == 0) {
		free(left);
		return 0;
	}
	p.uids = left;
	p.n = n;
	rc = job->src->drv->list_messages(job->src, folder, left[0], engine_present_one, &p, err);
	free(left);
	if (rc != 0) {
		job->todo[i].done = false; /* listed and copied again */
		return engine_side_fail(rc, ENGINE_SOURCE, err);
	}
	if (p.found == 0)
		return 0;
	mf_error_set(&e, MF_EINVAL, "internal error: %zu message%s neither copied nor skipped in %s",
		     p.found, p.found == 1 ? "" : "s", folder);
	return engine_fatal(job, MF_EINVAL, &e);
}

/* Which folders are to be listed. */
static bool engine_to_scan(const struct engine_job *job, size_t i)
{
	return !job->todo[i].scanned || job->todo[i].rescan;
}

/* The states of the folders to list, asked for all at once
 * (folder_states) rather than each before its listing, so that a mailbox
 * where little changed costs one round trip, not one per folder (and a
 * listing, which selects the folder, takes one more, not two). A state
 * can be older than the listing that follows: anything that came after
 * it has a higher UID or modification sequence, so it is looked at now
 * or next pass (the driver fails a listing whose UIDVALIDITY changed
 * meanwhile). states[i] / known[i] for plan folder i. 0, or a failure of
 * the source. */
static int engine_states(struct engine_job *job, struct mbx_folder_state *states, bool *known,
			 struct mf_error *err)
{
	const char **names = xcalloc(job->plan.count + 1, sizeof(*names));
	struct mbx_folder_state *st = xcalloc(job->plan.count + 1, sizeof(*st));
	bool *ok = xcalloc(job->plan.count + 1, sizeof(*ok));
	size_t *idx = xcalloc(job->plan.count + 1, sizeof(*idx));
	size_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < job->plan.count; i++) {
		if (engine_to_scan(job, i) && !job->plan.folders[i].noselect) {
			names[n] = job->plan.folders[i].source;
			idx[n++] = i;
		}
	}
	if (n > 1)
		rc = job->src->drv->folder_states(job->src, names, n, st, ok, err);
	for (size_t k = 0; rc == 0 && n > 1 && k < n; k++) {
		states[idx[k]] = st[k];
		known[idx[k]] = ok[k];
	}
	free(names);
	free(st);
	free(ok);
	free(idx);
	return rc;
}

/* Run the steps from wherever the job stands. 0 when every folder is
 * copied or the job stops or fails (job->stopping, job->fatal_rc). */
static int engine_step(struct engine_job *job, struct mf_error *err)
{
	struct mbx_folder_state *states = NULL;
	bool *known = NULL;
	int rc;

	rc = engine_connect(job, err);
	if (rc == 0 && !job->planned)
		rc = engine_plan(job, err);
	if (rc == 0)
		rc = engine_create_folders(job, err);
	if (rc == 0 && job->src->drv->folder_states != NULL) {
		states = xcalloc(job->plan.count + 1, sizeof(*states));
		known = xcalloc(job->plan.count + 1, sizeof(*known));
		rc = engine_states(job, states, known, err);
		if (rc != 0)
			rc = engine_side_fail(rc, ENGINE_SOURCE, err);
	}
	for (size_t i = 0; rc == 0 && i < job->plan.count && job->fatal_rc == 0; i++) {
		if (!engine_to_scan(job, i))
			continue;
		if (atomic_load(&job->run->stop)) {
			job->stopping = true;
			break;
		}
		engine_set_folder(job, job->plan.folders[i].source);
		rc = engine_folder_scan(job, i, known != NULL && known[i] ? &states[i] : NULL, err);
		if (rc != 0 && job->fatal_rc == 0)
			rc = engine_side_fail(rc, ENGINE_SOURCE, err);
		engine_tick(job);
	}
	free(states);
	free(known);
	if (job->stopping)
		return 0;
	if (rc != 0 || job->fatal_rc != 0)
		return job->fatal_rc != 0 ? 0 : rc;
	engine_progress_emit(job, false);
	return engine_copy_folders(job, err);
}

int engine_folder_run(struct engine_job *job, size_t i, struct mf_error *err)
{
	int rc;

	engine_set_folder(job, job->plan.folders[i].source);
	rc = engine_folder_copy(job, i, err);
	if (rc != 0 || job->stopping || job->fatal_rc != 0)
		return rc;
	rc = engine_check_listed(job, i, err);
	if (rc != 0 || job->fatal_rc != 0)
		return rc;
	engine_folder_done(job, i);
	engine_progress_emit(job, false);
	return 0;
}

/* Steps with reconnects. 0, or the failure that ends the run. */
static int engine_work(struct engine_job *job, struct mf_error *err)
{
	const struct engine_opts *o = &job->run->o;
	int rc;

	for (;;) {
		enum engine_fault fault;
		int64_t suggested, delay;
		int n, budget;

		rc = engine_step(job, err);
		if (rc == 0 || job->stopping || job->fatal_rc != 0)
			return rc;
		fault = engine_fault_of(rc, err->msg, &suggested);
		if (fault == ENGINE_FAULT_QUOTA) {
			engine_quota_error(err);
			return engine_fatal(job, rc, err);
		}
		/* Throttled at the greeting or the login: slowed down here like
		 * anywhere else (back to the queue once the budget is spent). */
		if (!job->opened_once && engine_rc_unreachable(rc) &&
		    fault != ENGINE_FAULT_THROTTLE)
			return rc; /* back to the queue */
		if (fault != ENGINE_FAULT_RETRY && fault != ENGINE_FAULT_THROTTLE)
			return rc;
		if (fault == ENGINE_FAULT_THROTTLE) {
			n = ++job->throttles;
			budget = o->throttle_budget;
		} else {
			n = ++job->reconnects;
			budget = o->reconnect_budget;
		}
		job->u.stats.transient_errors++;
		if (budget < 0 || n > budget) {
			if (budget > 0)
				mf_error_prefix(err, "gave up after %d %s%s", budget,
						fault == ENGINE_FAULT_THROTTLE ? "throttled attempt"
									       : "reconnect",
						budget == 1 ? "" : "s");
			return rc;
		}
		delay = engine_retry_delay_ms(job, fault, suggested);
		engine_event(job, STORE_EVENT_WARNING, "%s; %s in %lld ms (%d of %d)", err->msg,
			     fault == ENGINE_FAULT_THROTTLE ? "throttled: trying again"
							    : "reconnecting",
			     (long long)delay, n, budget);
		engine_close(job);
		engine_flush(job, true);
		engine_run_sleep(job->run, delay);
		if (atomic_load(&job->run->stop)) {
			job->stopping = true;
			return 0;
		}
		job->conn_rc = 0;
		job->need_settle = true;
		/* Folders are created again (cheap when they exist: one may have
		 * gone); those being copied are listed again. */
		for (size_t i = 0; i < job->plan.count; i++) {
			struct engine_todo *t = &job->todo[i];

			t->created = false;
			if (t->scanned && !t->done && (t->started || i == job->folder_i))
				t->rescan = true;
		}
	}
}

/* The user's end: status, statistics, event, callback. */
static void engine_finish(struct engine_job *job, int rc, struct mf_error *err)
{
	struct engine_run *run = job->run;
	struct store_user_stats *s = &job->u.stats;
	const struct engine_progress_cb *cb = run->o.progress;
	const struct engine_pass_def *pd = engine_pass_def(run->pass);
	enum store_user_status status;
	const char *msg = NULL;
	struct mf_error e = {0, ""};
	int64_t now = time(NULL);

	status = engine_pass_user_end(job, rc, err, &msg);
	job->u.status = status;
	engine_set_folder(job, NULL);
	{
		char *keep = msg != NULL ? xstrdup(msg) : NULL;

		free(s->last_error);
		s->last_error = keep;
		msg = keep;
	}
	/* The statistics and the status, whatever happened before. */
	job->fatal_rc = 0;
	engine_flush(job, true);
	if (store_user_set_status(job->st, job->u.id, status, msg, &e) != 0)
		engine_event(job, STORE_EVENT_ERROR, "cannot record the status %s: %s",
			     store_user_status_name(status), e.msg);
	if (status == pd->queue && msg != NULL && s->attempts > 0 && !job->stopping)
		engine_event(job, STORE_EVENT_WARNING, "%s; next attempt in %lld s", msg,
			     (long long)(s->next_attempt_at - now));
	else if (msg != NULL)
		engine_event(job, STORE_EVENT_ERROR, "%s: %s", store_user_status_name(status), msg);
	else if (run->pass != ENGINE_PASS_INITIAL && !job->stopping)
		engine_event(job, STORE_EVENT_INFO,
			     "%s: %lld items synced, %lld skipped; this pass changed the flags of "
			     "%lld and removed %lld on the target",
			     store_user_status_name(status), (long long)s->synced_items,
			     (long long)s->skipped_items, (long long)job->flag_changes,
			     (long long)job->deletions);
	else
		engine_event(job, STORE_EVENT_INFO, "%s: %lld items synced, %lld skipped",
			     store_user_status_name(status), (long long)s->synced_items,
			     (long long)s->skipped_items);
	if (cb != NULL && cb->user_finished != NULL) {
		struct engine_progress p;

		engine_progress_fill(job, &p);
		cb->user_finished(cb->ctx, &p, status, msg,
				  status == STORE_USER_QUEUED || status == pd->queue
				      ? s->next_attempt_at
				      : 0);
	}
}

void engine_user_run(struct engine_run *run, struct store *st, struct store_user *u)
{
	struct engine_job job;
	struct mf_error err = {0, ""};
	int64_t now_ms = mf_now_ms();
	int rc;

	static const char *const what[] = { "sync", "incremental sync", "final sync" };

	memset(&job, 0, sizeof(job));
	job.run = run;
	job.st = st;
	job.u = *u;
	memset(u, 0, sizeof(*u));
	job.u.status = engine_pass_def(run->pass)->active;
	/* A user that was synced has a map to compare with: only what changed
	 * is looked at (a resync of the initial pass lists everything). */
	job.incremental = run->pass != ENGINE_PASS_INITIAL;
	job.need_settle = true;
	job.u.stats.started_at = time(NULL);
	job.u.stats.ended_at = 0;
	job.last_stats_ms = job.last_flush_ms = now_ms;
	engine_event(&job, STORE_EVENT_INFO, "%s started%s", what[run->pass],
		     job.u.stats.attempts > 0 ? " (a new attempt)" : "");
	rc = engine_skipped_load(&job, &err);
	if (rc != 0)
		engine_fatal(&job, rc, &err);
	engine_progress_emit(&job, true);
	if (rc == 0)
		rc = engine_work(&job, &err);
	/* A user stopped early (quota, limit, stop) leaves no intent behind
	 * when both sides can still tell. */
	if (job.src != NULL && job.tgt != NULL && job.conn_rc == 0 && !job.need_settle) {
		struct mf_error e = {0, ""}, ferr = job.fatal_err;
		int frc = job.fatal_rc;

		job.fatal_rc = 0;
		if (engine_intents_settle(&job, &e) != 0)
			engine_event(&job, STORE_EVENT_WARNING,
				     "intents left for the next run: %s", e.msg);
		if (frc != 0) {
			job.fatal_rc = frc;
			job.fatal_err = ferr;
		}
	}
	engine_close(&job);
	engine_finish(&job, rc, &err);
	for (size_t i = 0; i < job.plan.count && job.todo != NULL; i++) {
		free(job.todo[i].uids);
		free(job.todo[i].sizes);
	}
	free(job.todo);
	free(job.retry);
	engine_plan_clear(&job.plan);
	for (size_t i = 0; i < job.nskipped; i++)
		free(job.skipped[i].folder);
	free(job.skipped);
	store_user_clear(&job.u);
}
