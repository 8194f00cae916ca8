/* engine-pass.c: the three passes a batch runs (engine.h): which users each
 * runs, what a user's run ends as, and the batch's status afterwards
 * (docs/batch-states.md).
 *
 * A pass claims users from its queue status (when next_attempt_at is due)
 * into its active status. The incremental and completion passes both
 * queue from Synced: a Synced user's next_attempt_at is when its next
 * incremental sync is due, so the same column drives the backoff of a
 * failed attempt and the incremental schedule.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/mftime.h"
#include "util/xmalloc.h"

static const struct engine_pass_def engine_passes[] = {
    [ENGINE_PASS_INITIAL] = {STORE_USER_QUEUED, STORE_USER_SYNCING, STORE_USER_SYNCED,
			     STORE_USER_FAILED, STORE_BATCH_SYNCING},
    [ENGINE_PASS_INCREMENTAL] = {STORE_USER_SYNCED, STORE_USER_INCREMENTAL_SYNCING,
				 STORE_USER_SYNCED, STORE_USER_INCREMENTAL_FAILED,
				 STORE_BATCH_INCREMENTAL_SYNCING},
    [ENGINE_PASS_COMPLETE] = {STORE_USER_SYNCED, STORE_USER_COMPLETING, STORE_USER_COMPLETED,
			      STORE_USER_COMPLETION_FAILED, STORE_BATCH_COMPLETING},
};

const struct engine_pass_def *engine_pass_def(enum engine_pass pass)
{
	return &engine_passes[pass];
}

/* ---- queueing -------------------------------------------------------------- */

int engine_users_release(struct store *st, int64_t batch_id, struct mf_error *err)
{
	int rc;

	/* Only a dead process leaves users active while we hold the lock. */
	rc = store_user_move_all(st, batch_id, STORE_USER_SYNCING, STORE_USER_QUEUED, 0, false,
				 NULL, err);
	if (rc == 0)
		rc = store_user_move_all(st, batch_id, STORE_USER_INCREMENTAL_SYNCING,
					 STORE_USER_SYNCED, 0, false, NULL, err);
	if (rc == 0)
		rc = store_user_move_all(st, batch_id, STORE_USER_COMPLETING, STORE_USER_SYNCED, 0,
					 false, NULL, err);
	return rc;
}

/* The initial pass: Failed and Stopped users (and, with resync, Synced
 * ones) are queued again with their attempts reset. */
static int engine_queue_initial(struct engine_run *run, struct store *st, int64_t *queued_r,
				struct mf_error *err)
{
	struct store_user *us = NULL;
	size_t n = 0;
	int rc;

	rc = store_user_list(st, run->batch.id, &us, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct store_user *u = &us[i];
		enum store_user_status s = u->status;

		if (s == STORE_USER_QUEUED) {
			(*queued_r)++;
			continue;
		}
		if (s != STORE_USER_FAILED && s != STORE_USER_STOPPED &&
		    !(s == STORE_USER_SYNCED && run->o.resync))
			continue;
		u->stats.attempts = 0;
		u->stats.next_attempt_at = 0;
		rc = store_user_update_stats(st, u->id, &u->stats, err);
		if (rc == 0)
			rc = store_user_set_status(st, u->id, STORE_USER_QUEUED,
						   u->stats.last_error, err);
		(*queued_r)++;
	}
	store_user_list_free(&us, n);
	return rc;
}

int engine_pass_queue(struct engine_run *run, struct store *st, int64_t *queued_r, int64_t *total_r,
		      struct mf_error *err)
{
	int64_t counts[STORE_USER_NSTATUS], total = 0, moved;
	int64_t id = run->batch.id;
	int rc;

	*queued_r = 0;
	rc = store_begin(st, err);
	if (rc != 0)
		return rc;
	rc = engine_users_release(st, id, err);
	if (rc == 0 && run->pass == ENGINE_PASS_INITIAL)
		rc = engine_queue_initial(run, st, queued_r, err);
	if (rc == 0 && run->pass != ENGINE_PASS_INITIAL) {
		/* Run now: every user the pass is for is due. */
		rc = store_user_move_all(st, id, STORE_USER_INCREMENTAL_FAILED, STORE_USER_SYNCED,
					 0, true, NULL, err);
		if (rc == 0 && run->pass == ENGINE_PASS_COMPLETE)
			rc = store_user_move_all(st, id, STORE_USER_COMPLETION_FAILED,
						 STORE_USER_SYNCED, 0, true, NULL, err);
		if (rc == 0)
			rc = store_user_move_all(st, id, STORE_USER_SYNCED, STORE_USER_SYNCED, 0,
						 true, &moved, err);
		if (rc == 0)
			*queued_r = moved;
	}
	if (rc == 0)
		rc = store_batch_user_counts(st, id, counts, err);
	if (rc != 0) {
		store_rollback(st);
		return rc;
	}
	for (int i = 0; i < STORE_USER_NSTATUS; i++)
		total += counts[i];
	*total_r = total;
	return store_commit(st, err);
}

/* ---- a user's end ---------------------------------------------------------------- */

/* "source: unreachable after 6 attempts: connection refused". */
static void engine_unreachable_msg(int rc, int attempts, struct mf_error *err)
{
	bool side = strncmp(err->msg, "source: ", 8) == 0 || strncmp(err->msg, "target: ", 8) == 0;
	char *words = xstrdup(err->msg);

	mf_error_set(err, rc, "%.*sunreachable after %d attempt%s: %s", side ? 8 : 0, words,
		     attempts, attempts == 1 ? "" : "s", words + (side ? 8 : 0));
	free(words);
}

enum store_user_status engine_pass_user_end(struct engine_job *job, int rc, struct mf_error *err,
					    const char **msg_r)
{
	struct engine_run *run = job->run;
	const struct engine_pass_def *pd = engine_pass_def(run->pass);
	struct store_user_stats *s = &job->u.stats;
	int64_t now = time(NULL), interval = run->batch.opt.incremental_interval;
	enum engine_fault fault = engine_fault_of(rc, err->msg, NULL);
	bool unreachable = !job->opened_once && rc != 0 &&
			   (engine_rc_unreachable(rc) || fault == ENGINE_FAULT_THROTTLE);
	enum store_user_status status;

	if (interval <= 0)
		interval = STORE_DEFAULT_INCREMENTAL_INTERVAL;
	*msg_r = NULL;
	if (job->fatal_rc != 0) {
		status = pd->fail;
		*msg_r = job->fatal_err.msg;
	} else if (job->stopping) {
		/* Stopped by the batch, or by serve going down (resumed). */
		status = run->pass == ENGINE_PASS_INITIAL && !atomic_load(&run->shutdown)
			     ? STORE_USER_STOPPED
			     : pd->queue;
		if (status == STORE_USER_SYNCED || status == STORE_USER_QUEUED)
			s->next_attempt_at = 0;
	} else if (rc == 0) {
		status = pd->done;
		s->last_sync_at = now;
		s->attempts = 0;
		s->next_attempt_at = status == STORE_USER_SYNCED ? now + interval : 0;
	} else if (unreachable && s->attempts + 1 < run->o.max_attempts) {
		uint64_t seed = (uint64_t)mf_now_ms() ^ ((uint64_t)job->u.id << 32);

		status = pd->queue;
		s->attempts++;
		s->next_attempt_at = now + engine_backoff_ms(s->attempts, run->o.backoff_base_ms,
							     run->o.backoff_max_ms, &seed) /
					       1000;
		*msg_r = err->msg;
	} else {
		status = pd->fail;
		if (unreachable) {
			s->attempts++;
			engine_unreachable_msg(rc, s->attempts, err);
		}
		*msg_r = err->msg;
	}
	if (status == STORE_USER_INCREMENTAL_FAILED)
		s->next_attempt_at = now + interval; /* tried again at the next interval */
	if (status != pd->queue || status == pd->done)
		s->ended_at = now;
	return status;
}

/* ---- the batch's end --------------------------------------------------------------- */

/* Stop users still queued or active when a stop leaves them. */
static int engine_users_stop_all(struct store *st, int64_t batch_id, struct mf_error *err)
{
	int rc = store_user_move_all(st, batch_id, STORE_USER_QUEUED, STORE_USER_STOPPED, 0, false,
				     NULL, err);

	if (rc == 0)
		rc = store_user_move_all(st, batch_id, STORE_USER_SYNCING, STORE_USER_STOPPED, 0,
					 false, NULL, err);
	if (rc == 0)
		rc = store_user_move_all(st, batch_id, STORE_USER_INCREMENTAL_SYNCING,
					 STORE_USER_SYNCED, 0, false, NULL, err);
	if (rc == 0)
		rc = store_user_move_all(st, batch_id, STORE_USER_COMPLETING, STORE_USER_SYNCED, 0,
					 false, NULL, err);
	return rc;
}

int engine_batch_stop_now(struct store *st, int64_t batch_id, struct mf_error *err)
{
	int rc = store_begin(st, err);

	if (rc != 0)
		return rc;
	rc = engine_users_stop_all(st, batch_id, err);
	if (rc == 0)
		rc = store_batch_set_status(st, batch_id, STORE_BATCH_STOPPED, NULL, err);
	if (rc != 0) {
		store_rollback(st);
		return rc;
	}
	return store_commit(st, err);
}

/* The status once no user runs; *msg_r (malloc'd) says why when not clean. */
static enum store_batch_status engine_pass_status(const struct engine_run *run,
						  const int64_t counts[STORE_USER_NSTATUS],
						  int64_t total, int64_t skipped, char **msg_r)
{
	int64_t failed = counts[STORE_USER_FAILED] + counts[STORE_USER_INCREMENTAL_FAILED] +
			 counts[STORE_USER_COMPLETION_FAILED];

	*msg_r = NULL;
	if (run->pass == ENGINE_PASS_INITIAL && failed == total && total > 0) {
		*msg_r = xasprintf("all %lld users failed", (long long)total);
		return STORE_BATCH_FAILED;
	}
	if (failed > 0 || skipped > 0)
		*msg_r = xasprintf("%lld of %lld users failed, %lld with skipped items",
				   (long long)failed, (long long)total, (long long)skipped);
	if (run->pass == ENGINE_PASS_COMPLETE)
		return *msg_r != NULL ? STORE_BATCH_COMPLETED_WITH_ERRORS : STORE_BATCH_COMPLETED;
	return *msg_r != NULL ? STORE_BATCH_SYNCED_WITH_ERRORS : STORE_BATCH_SYNCED;
}

int engine_pass_end(struct engine_run *run, struct store *st, enum store_batch_status *status_r,
		    struct mf_error *err)
{
	const struct engine_progress_cb *cb = run->o.progress;
	const struct engine_pass_def *pd = engine_pass_def(run->pass);
	int64_t counts[STORE_USER_NSTATUS], total = 0, skipped = 0;
	enum store_batch_status status;
	struct store_user *us = NULL;
	struct store_batch b = {0};
	char *msg = NULL;
	size_t n = 0;
	int rc;

	rc = store_batch_get_id(st, run->batch.id, &b, err);
	if (rc == 0 && b.status == STORE_BATCH_STOPPING)
		atomic_store(&run->stop, true);
	if (rc == 0 && b.status == STORE_BATCH_REMOVING)
		atomic_store(&run->shutdown, true); /* going away: leave it be */
	store_batch_clear(&b);
	if (rc != 0)
		return rc;
	if (atomic_load(&run->shutdown)) {
		/* serve going down: everything stays as it is, to be resumed. */
		if (status_r != NULL)
			*status_r = pd->batch;
		return 0;
	}
	if (atomic_load(&run->stop))
		rc = engine_users_stop_all(st, run->batch.id, err);
	if (rc == 0)
		rc = store_user_list(st, run->batch.id, &us, &n, err);
	if (rc != 0)
		return rc;
	memset(counts, 0, sizeof(counts));
	for (size_t i = 0; i < n; i++) {
		counts[us[i].status]++;
		skipped += us[i].stats.skipped_items > 0;
	}
	total = (int64_t)n;
	store_user_list_free(&us, n);
	if (atomic_load(&run->stop))
		status = STORE_BATCH_STOPPED;
	else if (counts[pd->active] > 0 ||
		 (run->pass == ENGINE_PASS_INITIAL && counts[STORE_USER_QUEUED] > 0) ||
		 (run->pass == ENGINE_PASS_COMPLETE && counts[STORE_USER_SYNCED] > 0))
		status = pd->batch; /* users wait for a later attempt */
	else
		status = engine_pass_status(run, counts, total, skipped, &msg);
	if (status == STORE_BATCH_COMPLETED || status == STORE_BATCH_COMPLETED_WITH_ERRORS) {
		rc = store_batch_get_id(st, run->batch.id, &b, err);
		if (rc == 0) {
			b.status = status;
			b.completed_at = time(NULL);
			free(b.last_error);
			b.last_error = msg != NULL ? xstrdup(msg) : NULL;
			rc = store_batch_update(st, &b, err);
		}
		store_batch_clear(&b);
	} else {
		rc = store_batch_set_status(st, run->batch.id, status, msg, err);
	}
	if (rc == 0) {
		char *ev = xasprintf("batch %s%s%s", store_batch_status_name(status),
				     msg != NULL ? ": " : "", msg != NULL ? msg : "");
		struct mf_error e = {0, ""};

		store_event_add(st, run->batch.id, 0,
				msg == NULL ? STORE_EVENT_INFO : STORE_EVENT_WARNING, ev, &e);
		free(ev);
	}
	free(msg);
	if (rc == 0 && status_r != NULL)
		*status_r = status;
	if (rc == 0 && cb != NULL && cb->batch_finished != NULL)
		cb->batch_finished(cb->ctx, run->batch.name, status, counts);
	return rc;
}
