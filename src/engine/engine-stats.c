/* engine-stats.c: a user's statistics and progress, the buffered
 * message-map writes, events and failures.
 *
 * Statistics go to the store every stats_interval_ms and at the end of
 * each folder, in the same short transaction as the buffered
 * confirmations; never per message.
 */
#include "engine/engine-private.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

/* ---- rate ----------------------------------------------------------------- */

void engine_rate_add(struct engine_rate *r, int64_t now_ms, int64_t bytes)
{
	size_t newest = (r->head + ENGINE_RATE_SLOTS - 1) % ENGINE_RATE_SLOTS;

	if (r->n > 0 && now_ms - r->ms[newest] < 1000)
		return;
	r->ms[r->head] = now_ms;
	r->bytes[r->head] = bytes;
	r->head = (r->head + 1) % ENGINE_RATE_SLOTS;
	if (r->n < ENGINE_RATE_SLOTS)
		r->n++;
}

double engine_rate_get(const struct engine_rate *r)
{
	size_t oldest = (r->head + ENGINE_RATE_SLOTS - r->n) % ENGINE_RATE_SLOTS;
	size_t newest = (r->head + ENGINE_RATE_SLOTS - 1) % ENGINE_RATE_SLOTS;
	int64_t ms;

	if (r->n < 2)
		return 0.0;
	ms = r->ms[newest] - r->ms[oldest];
	if (ms <= 0)
		return 0.0;
	return (double)(r->bytes[newest] - r->bytes[oldest]) * 1000.0 / (double)ms;
}

int engine_percent(const struct store_user_stats *s, enum store_user_status status)
{
	int64_t done = s->synced_items + s->skipped_items;

	if (s->total_items <= 0)
		return status == STORE_USER_SYNCED || status == STORE_USER_COMPLETED ? 100 : 0;
	if (done >= s->total_items)
		return 100;
	return (int)(done * 100 / s->total_items);
}

/* ---- failures and events ------------------------------------------------------ */

int engine_fatal(struct engine_job *job, int rc, const struct mf_error *err)
{
	struct engine_job *uj = engine_user_of(job);

	if (job->fatal_rc == 0) {
		job->fatal_rc = rc != 0 ? rc : MF_EIO;
		if (err != NULL && err->msg[0] != '\0')
			job->fatal_err = *err;
		else
			mf_error_set(&job->fatal_err, job->fatal_rc, "failed (%s)",
				     mf_errcode_name(job->fatal_rc));
	}
	/* A lane's failure is the user's, and stops the other lanes. */
	if (uj != job) {
		engine_user_lock(job);
		if (uj->fatal_rc == 0) {
			uj->fatal_rc = job->fatal_rc;
			uj->fatal_err = job->fatal_err;
		}
		engine_user_unlock(job);
		engine_lanes_halt(job);
	}
	return job->fatal_rc;
}

void engine_event(struct engine_job *job, enum store_event_level level, const char *fmt, ...)
{
	struct mf_error err = {0, ""};
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (level == STORE_EVENT_ERROR)
		log_error("batch %s, user %s: %s", job->run->batch.name, job->u.email_address, msg);
	else if (level == STORE_EVENT_WARNING)
		log_warn("batch %s, user %s: %s", job->run->batch.name, job->u.email_address, msg);
	else
		log_info("batch %s, user %s: %s", job->run->batch.name, job->u.email_address, msg);
	if (store_event_add(job->st, job->run->batch.id, job->u.id, level, msg, &err) != 0)
		log_warn("batch %s, user %s: cannot record an event: %s", job->run->batch.name,
			 job->u.email_address, err.msg);
	free(msg);
}

/* ---- buffered writes ---------------------------------------------------------------- */

static void engine_pending_clear(struct engine_job *job)
{
	for (size_t i = 0; i < job->nconfirms; i++)
		store_msgmap_clear(&job->confirms[i]);
	free(job->confirms);
	free(job->forgets);
	job->confirms = job->forgets = NULL;
	job->nconfirms = job->nforgets = 0;
}

/* The user's statistics, as they are now (a lane writes a copy taken
 * under the user's lock). */
static int engine_stats_write(struct engine_job *job, struct mf_error *err)
{
	struct engine_job *uj = engine_user_of(job);
	struct store_user_stats s;
	int rc;

	if (uj == job)
		return store_user_update_stats(job->st, job->u.id, &job->u.stats, err);
	engine_user_lock(job);
	s = uj->u.stats;
	s.current_folder = s.current_folder != NULL ? xstrdup(s.current_folder) : NULL;
	s.last_error = s.last_error != NULL ? xstrdup(s.last_error) : NULL;
	engine_user_unlock(job);
	rc = store_user_update_stats(job->st, job->u.id, &s, err);
	free(s.current_folder);
	free(s.last_error);
	return rc;
}

int engine_flush_intents(struct engine_job *job, bool stats, const struct engine_todo *t,
			 size_t pos, size_t n, char *const *names)
{
	struct mf_error err = {0, ""};
	int64_t now = mf_now_ms();
	int rc;

	if (job->nforgets == 0 && job->nconfirms == 0 && !stats && n == 0)
		return job->fatal_rc;
	rc = store_begin(job->st, &err);
	if (rc != 0) {
		engine_pending_clear(job);
		return engine_fatal(job, rc, &err);
	}
	for (size_t i = 0; rc == 0 && i < job->nforgets; i++) {
		const struct store_msgmap *g = &job->forgets[i];

		rc = store_msgmap_forget(job->st, g->folder_id, g->uidvalidity, g->uid, &err);
		if (rc == MF_ENOTFOUND)
			rc = 0;
	}
	for (size_t i = 0; rc == 0 && i < job->nconfirms; i++)
		rc = store_msgmap_confirm(job->st, &job->confirms[i], &err);
	for (size_t k = 0; rc == 0 && k < n; k++) {
		struct store_msgmap m = {0};

		m.folder_id = t->folder_id;
		m.uidvalidity = t->uidvalidity;
		m.uid = t->uids[pos + k];
		m.size = (int64_t)t->sizes[pos + k];
		m.location = names != NULL ? names[k] : NULL;
		rc = store_msgmap_put_intent(job->st, &m, &err);
	}
	if (rc == 0 && stats)
		rc = engine_stats_write(job, &err);
	rc = store_end(job->st, rc, &err);
	/* On failure the intents stay: the next run settles them. */
	engine_pending_clear(job);
	job->last_flush_ms = now;
	if (stats)
		job->last_stats_ms = now;
	if (rc != 0)
		return engine_fatal(job, rc, &err);
	return job->fatal_rc;
}

int engine_flush(struct engine_job *job, bool stats)
{
	return engine_flush_intents(job, stats, NULL, 0, 0, NULL);
}

/* ---- progress ------------------------------------------------------------------------ */

void engine_progress_fill(struct engine_job *job, struct engine_progress *p)
{
	struct engine_job *uj = engine_user_of(job);
	const struct store_user_stats *s = &uj->u.stats;

	memset(p, 0, sizeof(*p));
	p->batch_name = job->run->batch.name;
	p->email_address = job->u.email_address;
	p->user_id = job->u.id;
	p->total_items = s->total_items;
	p->synced_items = s->synced_items;
	p->skipped_items = s->skipped_items;
	p->total_bytes = s->total_bytes;
	p->bytes_transferred = s->bytes_transferred;
	p->percent = engine_percent(s, job->u.status);
	p->rate = engine_rate_get(&uj->rate);
	p->current_folder = s->current_folder;
}

void engine_progress_emit(struct engine_job *job, bool started)
{
	const struct engine_progress_cb *cb = job->run->o.progress;
	struct engine_progress p;

	job->last_progress_ms = mf_now_ms();
	if (cb == NULL || (started ? cb->user_started == NULL : cb->user_progress == NULL))
		return;
	/* Held through the callback: p points into the user's statistics,
	 * which another lane may change meanwhile. */
	engine_user_lock(job);
	engine_progress_fill(job, &p);
	if (started)
		cb->user_started(cb->ctx, &p);
	else
		cb->user_progress(cb->ctx, &p);
	engine_user_unlock(job);
}

void engine_tick(struct engine_job *job)
{
	const struct engine_opts *o = &job->run->o;
	struct engine_job *uj = engine_user_of(job);
	int64_t now = mf_now_ms();
	bool stats, progress;

	/* The times are the user's: lanes take turns, not N times as often. */
	engine_user_lock(job);
	engine_rate_add(&uj->rate, now, uj->u.stats.bytes_transferred);
	stats = now - uj->last_stats_ms >= o->stats_interval_ms;
	progress = o->progress != NULL && now - uj->last_progress_ms >= o->progress_interval_ms;
	if (uj != job && stats)
		uj->last_stats_ms = now;
	if (uj != job && progress)
		uj->last_progress_ms = now;
	engine_user_unlock(job);
	if (stats)
		engine_flush(job, true);
	else if (job->nconfirms > 0 && now - job->last_flush_ms >= ENGINE_CONFIRM_MS)
		engine_flush(job, false);
	if (progress)
		engine_progress_emit(job, false);
}

void engine_count(struct engine_job *job, int64_t synced, int64_t bytes)
{
	struct engine_job *uj = engine_user_of(job);

	engine_user_lock(job);
	uj->u.stats.synced_items += synced;
	uj->u.stats.bytes_transferred += bytes;
	engine_user_unlock(job);
}
