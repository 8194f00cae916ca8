/* engine-user.c: one migration user's run, from claimed (Syncing) to its
 * end: Synced, Failed, Stopped, or Queued again for a later attempt.
 *
 * Steps, resumable after a lost connection: open the source and the
 * target; list the source folders and plan them (engine-folders.h);
 * create the target folders; list every planned folder against the
 * message map (totals first, so the percentage means something from the
 * start); copy folder after folder (engine-copy.c). A failure to connect
 * before anything was opened sends the user back to Queued with a backoff
 * (engine.h); a failure later is retried by reconnecting (the folder is
 * listed again and resumes from the message map) within the reconnect
 * budget.
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

static void engine_set_folder(struct engine_job *job, const char *folder)
{
	free(job->u.stats.current_folder);
	job->u.stats.current_folder = folder != NULL ? xstrdup(folder) : NULL;
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
	return 0;
}

static int engine_create_folders(struct engine_job *job, struct mf_error *err)
{
	for (size_t i = 0; i < job->plan.count; i++) {
		const struct engine_folder_plan *p = &job->plan.folders[i];
		int rc;

		if (job->todo[i].created)
			continue;
		rc = job->tgt->drv->create_folder(job->tgt, p->target, p->role, p->subscribed, err);
		if (rc == MF_ENO || rc == MF_EBAD || rc == MF_EINVAL) {
			mf_error_prefix(err, "cannot create folder %s on the target", p->target);
			return engine_fatal(job, rc, err);
		}
		if (rc != 0)
			return engine_side_fail(rc, ENGINE_TARGET, err);
		job->todo[i].created = true;
	}
	return 0;
}

/* After a folder is copied: its highest source UID handled. */
static void engine_folder_done(struct engine_job *job, size_t i)
{
	struct store_folder row = {0};
	struct mf_error err = {0, ""};

	if (job->plan.folders[i].noselect)
		return;
	if (store_folder_get(job->st, job->u.id, job->plan.folders[i].source, &row, &err) == 0) {
		row.last_uid = job->todo[i].max_uid;
		if (store_folder_put(job->st, &row, &err) != 0)
			engine_fatal(job, err.code, &err);
	}
	store_folder_clear(&row);
}

/* Run the steps from wherever the job stands. 0 when every folder is
 * copied or the job stops or fails (job->stopping, job->fatal_rc). */
static int engine_step(struct engine_job *job, struct mf_error *err)
{
	int rc;

	rc = engine_connect(job, err);
	if (rc == 0 && !job->planned)
		rc = engine_plan(job, err);
	if (rc == 0)
		rc = engine_create_folders(job, err);
	for (size_t i = 0; rc == 0 && i < job->plan.count && job->fatal_rc == 0; i++) {
		if (job->todo[i].scanned && !job->todo[i].rescan)
			continue;
		if (atomic_load(&job->run->stop)) {
			job->stopping = true;
			return 0;
		}
		engine_set_folder(job, job->plan.folders[i].source);
		rc = engine_folder_scan(job, i, err);
		if (rc != 0 && job->fatal_rc == 0)
			rc = engine_side_fail(rc, ENGINE_SOURCE, err);
		engine_tick(job);
	}
	if (rc != 0 || job->fatal_rc != 0)
		return job->fatal_rc != 0 ? 0 : rc;
	engine_progress_emit(job, false);
	for (; job->folder_i < job->plan.count; job->folder_i++) {
		size_t i = job->folder_i;

		if (atomic_load(&job->run->stop) && !job->todo[i].done)
			job->stopping = true;
		if (job->stopping)
			return 0;
		engine_set_folder(job, job->plan.folders[i].source);
		rc = engine_folder_copy(job, i, err);
		if (rc != 0 || job->stopping || job->fatal_rc != 0)
			return rc;
		engine_folder_done(job, i);
		engine_progress_emit(job, false);
	}
	return 0;
}

/* Steps with reconnects. 0, or the failure that ends the run. */
static int engine_work(struct engine_job *job, struct mf_error *err)
{
	const struct engine_opts *o = &job->run->o;
	int rc;

	for (;;) {
		rc = engine_step(job, err);
		if (rc == 0 || job->stopping || job->fatal_rc != 0)
			return rc;
		if (!job->opened_once && engine_rc_unreachable(rc))
			return rc; /* back to the queue */
		if (!engine_rc_retry(rc))
			return rc;
		job->reconnects++;
		job->u.stats.transient_errors++;
		if (o->reconnect_budget < 0 || job->reconnects > o->reconnect_budget) {
			if (o->reconnect_budget > 0)
				mf_error_prefix(err, "gave up after %d reconnect%s",
						o->reconnect_budget,
						o->reconnect_budget == 1 ? "" : "s");
			return rc;
		}
		engine_event(job, STORE_EVENT_WARNING, "%s; reconnecting (%d of %d)", err->msg,
			     job->reconnects, o->reconnect_budget);
		engine_close(job);
		engine_run_sleep(job->run, (int64_t)o->reconnect_delay_ms * job->reconnects);
		if (atomic_load(&job->run->stop)) {
			job->stopping = true;
			return 0;
		}
		job->conn_rc = 0;
		rc = engine_intents_settle(job, err);
		if (rc != 0)
			return engine_fatal(job, rc, err);
		/* Folders are created again (cheap when they exist: one may have
		 * gone); the folder being copied is listed again. */
		for (size_t i = 0; i < job->plan.count; i++)
			job->todo[i].created = false;
		if (job->folder_i < job->plan.count && job->todo[job->folder_i].scanned)
			job->todo[job->folder_i].rescan = true;
	}
}

/* The user's end: status, statistics, event, callback. */
static void engine_finish(struct engine_job *job, int rc, struct mf_error *err)
{
	struct engine_run *run = job->run;
	struct store_user_stats *s = &job->u.stats;
	const struct engine_progress_cb *cb = run->o.progress;
	enum store_user_status status;
	const char *msg = NULL;
	struct mf_error e = {0, ""};
	int64_t now = time(NULL);

	if (job->fatal_rc != 0) {
		status = STORE_USER_FAILED;
		msg = job->fatal_err.msg;
	} else if (job->stopping) {
		status = STORE_USER_STOPPED;
	} else if (rc == 0) {
		status = STORE_USER_SYNCED;
	} else if (!job->opened_once && engine_rc_unreachable(rc) &&
		   s->attempts + 1 < run->o.max_attempts) {
		uint64_t seed = (uint64_t)mf_now_ms() ^ ((uint64_t)job->u.id << 32);

		status = STORE_USER_QUEUED;
		s->attempts++;
		s->next_attempt_at = now + engine_backoff_ms(s->attempts, run->o.backoff_base_ms,
							     run->o.backoff_max_ms, &seed) /
					       1000;
		msg = err->msg;
	} else {
		status = STORE_USER_FAILED;
		if (!job->opened_once && engine_rc_unreachable(rc)) {
			/* "source: unreachable after 6 attempts: connection refused" */
			bool side = strncmp(err->msg, "source: ", 8) == 0 ||
				    strncmp(err->msg, "target: ", 8) == 0;
			char *words = xstrdup(err->msg);

			s->attempts++;
			mf_error_set(err, rc, "%.*sunreachable after %d attempt%s: %s",
				     side ? 8 : 0, words, s->attempts, s->attempts == 1 ? "" : "s",
				     words + (side ? 8 : 0));
			free(words);
		}
		msg = err->msg;
	}
	job->u.status = status;
	engine_set_folder(job, NULL);
	free(s->last_error);
	s->last_error = msg != NULL ? xstrdup(msg) : NULL;
	if (status != STORE_USER_QUEUED)
		s->ended_at = now;
	if (status == STORE_USER_SYNCED) {
		s->last_sync_at = now;
		s->attempts = 0;
		s->next_attempt_at = 0;
	}
	/* The statistics and the status, whatever happened before. */
	job->fatal_rc = 0;
	engine_flush(job, true);
	if (store_user_set_status(job->st, job->u.id, status, msg, &e) != 0)
		engine_event(job, STORE_EVENT_ERROR, "cannot record the status %s: %s",
			     store_user_status_name(status), e.msg);
	if (status == STORE_USER_QUEUED)
		engine_event(job, STORE_EVENT_WARNING, "%s; next attempt in %lld s", msg,
			     (long long)(s->next_attempt_at - now));
	else if (msg != NULL)
		engine_event(job, STORE_EVENT_ERROR, "%s: %s", store_user_status_name(status), msg);
	else
		engine_event(job, STORE_EVENT_INFO, "%s: %lld items synced, %lld skipped",
			     store_user_status_name(status), (long long)s->synced_items,
			     (long long)s->skipped_items);
	if (cb != NULL && cb->user_finished != NULL) {
		struct engine_progress p;

		engine_progress_fill(job, &p);
		cb->user_finished(cb->ctx, &p, status, msg, s->next_attempt_at);
	}
}

void engine_user_run(struct engine_run *run, struct store *st, struct store_user *u)
{
	struct engine_job job;
	struct mf_error err = {0, ""};
	int64_t now_ms = mf_now_ms();
	int rc;

	memset(&job, 0, sizeof(job));
	job.run = run;
	job.st = st;
	job.u = *u;
	memset(u, 0, sizeof(*u));
	job.u.status = STORE_USER_SYNCING;
	job.u.stats.started_at = time(NULL);
	job.u.stats.ended_at = 0;
	job.last_stats_ms = job.last_flush_ms = now_ms;
	engine_event(&job, STORE_EVENT_INFO, "sync started%s",
		     job.u.stats.attempts > 0 ? " (a new attempt)" : "");
	rc = engine_intents_settle(&job, &err);
	if (rc == 0)
		rc = engine_skipped_load(&job, &err);
	if (rc != 0)
		engine_fatal(&job, rc, &err);
	engine_progress_emit(&job, true);
	if (rc == 0)
		rc = engine_work(&job, &err);
	engine_close(&job);
	engine_finish(&job, rc, &err);
	for (size_t i = 0; i < job.plan.count && job.todo != NULL; i++) {
		free(job.todo[i].uids);
		free(job.todo[i].sizes);
	}
	free(job.todo);
	engine_plan_clear(&job.plan);
	for (size_t i = 0; i < job.nskipped; i++)
		free(job.skipped[i].folder);
	free(job.skipped);
	store_user_clear(&job.u);
}
