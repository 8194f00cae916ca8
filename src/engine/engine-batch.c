/* engine-batch.c: running a batch in the foreground (engine.h): its lock,
 * and the worker threads that claim its users one after another, for one
 * pass (engine-pass.c: initial, incremental, completion); stopping and
 * removing a batch, under the same lock.
 *
 * The calling thread starts the workers and then watches the store: a
 * batch status of Stopping (written by engine_batch_request_stop(), from
 * this or another process) raises run->stop, which the workers see between
 * messages and folders. When the last worker has ended, the batch's
 * status follows from its users' (docs/batch-states.md).
 */
#include "engine/engine-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint/endpoint.h"
#include "util/log.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

#define ENGINE_WATCH_MS 200 /* how often the batch status is read */
#define ENGINE_IDLE_MS 500  /* a worker waiting for a Queued user to be due */

/* ---- the run ------------------------------------------------------------- */

static void engine_opts_fill(struct engine_opts *o)
{
	if (o->backoff_base_ms <= 0)
		o->backoff_base_ms = 30000;
	if (o->backoff_max_ms <= 0)
		o->backoff_max_ms = 3600000;
	if (o->max_attempts <= 0)
		o->max_attempts = 6;
	if (o->reconnect_budget == 0)
		o->reconnect_budget = 5;
	if (o->reconnect_delay_ms <= 0)
		o->reconnect_delay_ms = 1000;
	if (o->fetch_chunk == 0)
		o->fetch_chunk = 400;
	if (o->stats_interval_ms <= 0)
		o->stats_interval_ms = 2000;
	if (o->progress_interval_ms <= 0)
		o->progress_interval_ms = 500;
	if (o->io_timeout_ms <= 0)
		o->io_timeout_ms = 30000;
	if (o->retry_max_ms <= 0)
		o->retry_max_ms = 60000;
	if (o->throttle_budget == 0)
		o->throttle_budget = 30;
	if (o->throttle_max_ms <= 0)
		o->throttle_max_ms = 600000;
	/* For benchmarks and tests, until the CLI has an option for it. */
	if (getenv("MAILFERRY_NO_MULTIAPPEND") != NULL &&
	    strcmp(getenv("MAILFERRY_NO_MULTIAPPEND"), "") != 0 &&
	    strcmp(getenv("MAILFERRY_NO_MULTIAPPEND"), "0") != 0)
		o->no_multiappend = true;
}

void engine_run_free(struct engine_run *run)
{
	free(run->data_dir);
	free(run->key_file);
	store_batch_clear(&run->batch);
	store_endpoint_clear(&run->src_ep);
	store_endpoint_clear(&run->tgt_ep);
	engine_filter_clear(&run->filter);
	pthread_mutex_destroy(&run->mu);
	pthread_cond_destroy(&run->cv);
	free(run);
}

struct engine_run *engine_run_new(const char *data_dir, const struct engine_opts *o)
{
	struct engine_run *run = xcalloc(1, sizeof(*run));
	pthread_condattr_t ca;

	if (o != NULL)
		run->o = *o;
	engine_opts_fill(&run->o);
	run->data_dir = store_default_data_dir(data_dir);
	run->key_file = run->o.key_file != NULL ? xstrdup(run->o.key_file) : NULL;
	run->o.key_file = run->key_file;
	atomic_init(&run->stop, false);
	atomic_init(&run->shutdown, false);
	pthread_mutex_init(&run->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&run->cv, &ca);
	pthread_condattr_destroy(&ca);
	return run;
}

static void engine_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void engine_run_sleep(struct engine_run *run, int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	engine_deadline(&ts, ms);
	pthread_mutex_lock(&run->mu);
	while (!atomic_load(&run->stop) &&
	       pthread_cond_timedwait(&run->cv, &run->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&run->mu);
}

void engine_run_stop(struct engine_run *run)
{
	pthread_mutex_lock(&run->mu);
	atomic_store(&run->stop, true);
	pthread_cond_broadcast(&run->cv);
	pthread_mutex_unlock(&run->mu);
}

/* ---- the lock --------------------------------------------------------------- */

int engine_lock(const char *data_dir, const struct store_batch *b, struct mf_error *err)
{
	char *dir = xasprintf("%s/run", data_dir);
	char *path = xasprintf("%s/batch-%lld.lock", dir, (long long)b->id);
	int fd = -1;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		mf_error_set(err, MF_EIO, "cannot create %s: %s", dir, strerror(errno));
	} else if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		mf_error_set(err, MF_EIO, "cannot open %s: %s", path, strerror(errno));
	} else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			mf_error_set(err, MF_EBUSY, "batch %s is being run by another process",
				     b->name);
		else
			mf_error_set(err, MF_EIO, "cannot lock %s: %s", path, strerror(errno));
		close(fd);
		fd = -1;
	}
	free(dir);
	free(path);
	return fd;
}

void engine_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* ---- workers ------------------------------------------------------------------------ */

static void *engine_worker(void *arg)
{
	struct engine_run *run = arg;
	const struct engine_pass_def *pd = engine_pass_def(run->pass);
	struct mf_error err = {0, ""};
	struct store *st = NULL;

	if (store_open(run->data_dir, run->key_file, &st, &err) != 0) {
		log_error("batch %s: a worker cannot open the store: %s", run->batch.name, err.msg);
		st = NULL;
	}
	mf_error_clear(&err);
	while (st != NULL && !atomic_load(&run->stop)) {
		int64_t counts[STORE_USER_NSTATUS];
		struct store_user u;
		int rc;

		rc = store_user_claim(st, run->batch.id, pd->queue, pd->active, time(NULL), &u,
				      &err);
		if (rc == 0) {
			engine_user_run(run, st, &u);
			store_user_clear(&u);
			continue;
		}
		if (rc != MF_ENOTFOUND) {
			log_error("batch %s: %s", run->batch.name, err.msg);
			break;
		}
		mf_error_clear(&err);
		/* Nobody due now. Wait for users retried later: every Queued
		 * one of an initial pass, every Synced one a completion owes;
		 * an incremental pass leaves them to their schedule. */
		if (run->o.no_wait || run->pass == ENGINE_PASS_INCREMENTAL)
			break;
		rc = store_batch_user_counts(st, run->batch.id, counts, &err);
		if (rc != 0 || counts[pd->queue] == 0)
			break;
		mf_error_clear(&err);
		engine_run_sleep(run, ENGINE_IDLE_MS);
	}
	store_close(&st);
	pthread_mutex_lock(&run->mu);
	if (err.code != 0 && run->worker_err.code == 0)
		run->worker_err = err;
	run->workers_live--;
	pthread_cond_broadcast(&run->cv);
	pthread_mutex_unlock(&run->mu);
	return NULL;
}

/* The endpoint's limit for the pass: MaxConcurrentMigrations for the
 * initial sync, MaxConcurrentIncrementalSyncs for the others. */
static int64_t engine_ep_limit(const struct store_endpoint *ep, enum engine_pass pass)
{
	if (pass == ENGINE_PASS_INITIAL)
		return ep->max_concurrent_migrations > 0 ? ep->max_concurrent_migrations
							 : ENDPOINT_DEFAULT_MAX_MIGRATIONS;
	return ep->max_concurrent_incremental_syncs > 0 ? ep->max_concurrent_incremental_syncs
							: ENDPOINT_DEFAULT_MAX_INCREMENTAL;
}

static int engine_worker_count(const struct engine_run *run, int64_t queued)
{
	int64_t n = engine_ep_limit(&run->src_ep, run->pass);

	if (run->has_tgt_ep && engine_ep_limit(&run->tgt_ep, run->pass) < n)
		n = engine_ep_limit(&run->tgt_ep, run->pass);
	if (run->o.max_workers > 0 && run->o.max_workers < n)
		n = run->o.max_workers;
	if (queued < n)
		n = queued;
	return (int)n;
}

/* Start the workers and watch the batch status until they have ended. */
static void engine_workers_run(struct engine_run *run, struct store *st, int n)
{
	pthread_t *th = xcalloc((size_t)n + 1, sizeof(*th));
	int started = 0;

	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&run->mu);
		run->workers_live++;
		pthread_mutex_unlock(&run->mu);
		if (pthread_create(&th[started], NULL, engine_worker, run) != 0) {
			pthread_mutex_lock(&run->mu);
			run->workers_live--;
			pthread_mutex_unlock(&run->mu);
			log_warn("batch %s: cannot start worker %d of %d", run->batch.name, i + 1,
				 n);
			continue;
		}
		started++;
	}
	for (;;) {
		struct store_batch b = {0};
		struct mf_error err = {0, ""};
		struct timespec ts;
		int live;

		engine_deadline(&ts, ENGINE_WATCH_MS);
		pthread_mutex_lock(&run->mu);
		while (run->workers_live > 0 &&
		       pthread_cond_timedwait(&run->cv, &run->mu, &ts) != ETIMEDOUT)
			;
		live = run->workers_live;
		pthread_mutex_unlock(&run->mu);
		if (live == 0)
			break;
		if (!atomic_load(&run->stop) && run->o.interrupt != NULL &&
		    *run->o.interrupt != 0) {
			if (store_batch_set_status(st, run->batch.id, STORE_BATCH_STOPPING, NULL,
						   &err) != 0)
				log_warn("batch %s: %s", run->batch.name, err.msg);
			engine_run_stop(run);
		}
		if (!atomic_load(&run->stop) &&
		    store_batch_get_id(st, run->batch.id, &b, &err) == 0 &&
		    b.status == STORE_BATCH_STOPPING)
			engine_run_stop(run);
		store_batch_clear(&b);
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
}

/* ---- the public functions ------------------------------------------------------------- */

/* Whether the batch's status allows the pass. */
static int engine_pass_allowed(struct engine_run *run, struct store *st, struct mf_error *err)
{
	const struct store_batch *b = &run->batch;
	enum store_batch_status s = b->status;
	int64_t counts[STORE_USER_NSTATUS];
	bool synced = s == STORE_BATCH_SYNCED || s == STORE_BATCH_SYNCED_WITH_ERRORS ||
		      s == STORE_BATCH_INCREMENTAL_SYNCING;
	int rc;

	if (s == STORE_BATCH_REMOVING)
		return mf_error_set(err, MF_EBUSY, "batch %s is being removed", b->name);
	switch (run->pass) {
	case ENGINE_PASS_INITIAL:
		if (s == STORE_BATCH_COMPLETING || s == STORE_BATCH_COMPLETED ||
		    s == STORE_BATCH_COMPLETED_WITH_ERRORS)
			return mf_error_set(err, MF_EINVAL, "batch %s is %s", b->name,
					    store_batch_status_name(s));
		return 0;
	case ENGINE_PASS_INCREMENTAL:
		if (!synced)
			return mf_error_set(err, MF_EINVAL,
					    "batch %s is %s: an incremental sync needs a synced "
					    "batch",
					    b->name, store_batch_status_name(s));
		return 0;
	case ENGINE_PASS_COMPLETE:
		if (!synced && s != STORE_BATCH_COMPLETING &&
		    s != STORE_BATCH_COMPLETED_WITH_ERRORS)
			return mf_error_set(err, MF_EINVAL,
					    "batch %s is %s: only a synced batch can be completed",
					    b->name, store_batch_status_name(s));
		rc = store_batch_user_counts(st, b->id, counts, err);
		if (rc == 0 && counts[STORE_USER_QUEUED] + counts[STORE_USER_SYNCING] > 0)
			rc = mf_error_set(err, MF_EINVAL,
					  "batch %s is not synced yet (%lld users Queued or "
					  "Syncing)",
					  b->name,
					  (long long)(counts[STORE_USER_QUEUED] +
						      counts[STORE_USER_SYNCING]));
		return rc;
	}
	return 0;
}

int engine_batch_load(struct engine_run *run, struct store *st, const char *name,
		      struct mf_error *err)
{
	const struct store_batch *b = &run->batch;
	int rc;

	rc = store_batch_get(st, name, &run->batch, err);
	if (rc == 0)
		rc = engine_pass_allowed(run, st, err);
	if (rc != 0)
		return rc;
	rc = engine_filter_parse(b->opt.include_folders, b->opt.exclude_folders, &run->filter, err);
	if (rc != 0)
		return mf_error_prefix(err, "batch %s", b->name);
	rc = store_endpoint_get(st, b->source_endpoint, &run->src_ep, err);
	if (rc == 0 && b->target_endpoint != NULL) {
		rc = store_endpoint_get(st, b->target_endpoint, &run->tgt_ep, err);
		run->has_tgt_ep = rc == 0;
	}
	if (rc != 0)
		return rc;
	if (run->o.open == NULL) {
		const struct store_endpoint *eps[2] = {&run->src_ep,
						       run->has_tgt_ep ? &run->tgt_ep : NULL};

		for (int i = 0; i < 2; i++)
			if (eps[i] != NULL &&
			    (eps[i]->type == NULL || strcmp(eps[i]->type, "imap") != 0))
				return mf_error_set(
				    err, MF_EUNSUPPORTED,
				    "endpoint %s: migrating with a %s endpoint is "
				    "not supported yet",
				    eps[i]->name, eps[i]->type != NULL ? eps[i]->type : "typeless");
	}
	return 0;
}

/* Run one pass of the batch under its lock (or, when !now, only queue its
 * users and set its status, for serve to run it). */
static int engine_batch_pass(struct store *st, const char *data_dir, const char *batch_name,
			     enum engine_pass pass, const struct engine_opts *o, bool now,
			     enum store_batch_status *status_r, struct mf_error *err)
{
	struct engine_run *run = engine_run_new(data_dir, o);
	struct store_batch *b = &run->batch;
	int64_t queued = 0, total = 0;
	int fd = -1, rc, n;

	run->pass = pass;
	rc = store_batch_get(st, batch_name, b, err);
	if (rc == 0) {
		fd = engine_lock(run->data_dir, b, err);
		if (fd < 0)
			rc = err->code;
	}
	store_batch_clear(b);
	if (rc == 0)
		rc = engine_batch_load(run, st, batch_name, err);
	if (rc == 0)
		rc = engine_pass_queue(run, st, &queued, &total, err);
	if (rc == 0 && total == 0)
		rc = mf_error_set(err, MF_EINVAL, "batch %s has no users", b->name);
	if (rc == 0) {
		b->status = engine_pass_def(pass)->batch;
		if (pass == ENGINE_PASS_INITIAL || b->started_at == 0)
			b->started_at = time(NULL);
		b->completed_at = 0;
		free(b->last_error);
		b->last_error = NULL;
		rc = store_batch_update(st, b, err);
	}
	if (rc == 0) {
		static const char *const what[] = { "started", "incremental sync started",
						    "completion started" };
		char *ev = xasprintf("batch %s: %lld of %lld users to sync", what[pass],
				     (long long)queued, (long long)total);
		struct mf_error e = {0, ""};

		store_event_add(st, b->id, 0, STORE_EVENT_INFO, ev, &e);
		free(ev);
		if (!now) {
			if (status_r != NULL)
				*status_r = b->status;
			engine_unlock(fd);
			engine_run_free(run);
			return 0;
		}
		n = engine_worker_count(run, queued);
		if (n > 0)
			engine_workers_run(run, st, n);
		rc = engine_pass_end(run, st, status_r, err);
		if (rc == 0 && run->worker_err.code != 0) {
			/* Users were left undone (Queued, the batch Syncing). */
			*err = run->worker_err;
			rc = err->code;
		}
	}
	engine_unlock(fd);
	engine_run_free(run);
	return rc;
}

/* What `batch start` does to the batch: the initial pass, or an
 * incremental sync for a synced batch with nobody left to copy. */
static int engine_start_pass(struct store *st, const char *batch_name,
			     const struct engine_opts *o, enum engine_pass *pass_r,
			     bool *auto_complete_r, struct mf_error *err)
{
	int64_t counts[STORE_USER_NSTATUS];
	struct store_batch b = {0};
	int rc;

	*pass_r = ENGINE_PASS_INITIAL;
	rc = store_batch_get(st, batch_name, &b, err);
	if (rc == 0)
		rc = store_batch_user_counts(st, b.id, counts, err);
	if (rc == 0 &&
	    (b.status == STORE_BATCH_SYNCED || b.status == STORE_BATCH_SYNCED_WITH_ERRORS ||
	     b.status == STORE_BATCH_INCREMENTAL_SYNCING) &&
	    (o == NULL || !o->resync) &&
	    counts[STORE_USER_QUEUED] + counts[STORE_USER_SYNCING] + counts[STORE_USER_FAILED] +
		    counts[STORE_USER_STOPPED] ==
		0)
		*pass_r = ENGINE_PASS_INCREMENTAL;
	*auto_complete_r = b.opt.auto_complete;
	store_batch_clear(&b);
	return rc;
}

int engine_batch_run(struct store *st, const char *data_dir, const char *batch_name,
		     const struct engine_opts *o, struct mf_error *err)
{
	enum store_batch_status status = STORE_BATCH_SYNCING;
	enum engine_pass pass;
	bool auto_complete;
	int rc;

	rc = engine_start_pass(st, batch_name, o, &pass, &auto_complete, err);
	if (rc == 0)
		rc = engine_batch_pass(st, data_dir, batch_name, pass, o, true, &status, err);
	if (rc == 0 && auto_complete &&
	    (status == STORE_BATCH_SYNCED || status == STORE_BATCH_SYNCED_WITH_ERRORS))
		rc = engine_batch_pass(st, data_dir, batch_name, ENGINE_PASS_COMPLETE, o, true,
				       NULL, err);
	return rc;
}

int engine_batch_incremental(struct store *st, const char *data_dir, const char *batch_name,
			     const struct engine_opts *o, struct mf_error *err)
{
	return engine_batch_pass(st, data_dir, batch_name, ENGINE_PASS_INCREMENTAL, o, true, NULL,
				 err);
}

int engine_batch_complete(struct store *st, const char *data_dir, const char *batch_name,
			  const struct engine_opts *o, struct mf_error *err)
{
	return engine_batch_pass(st, data_dir, batch_name, ENGINE_PASS_COMPLETE, o, true, NULL,
				 err);
}

int engine_batch_enqueue(struct store *st, const char *data_dir, const char *batch_name,
			 bool complete, const struct engine_opts *o, struct mf_error *err)
{
	enum engine_pass pass = ENGINE_PASS_COMPLETE;
	bool auto_complete;
	int rc = 0;

	if (!complete)
		rc = engine_start_pass(st, batch_name, o, &pass, &auto_complete, err);
	if (rc == 0)
		rc = engine_batch_pass(st, data_dir, batch_name, pass, o, false, NULL, err);
	return rc;
}

int engine_batch_request_stop(struct store *st, const char *data_dir, const char *batch_name,
			      struct mf_error *err)
{
	struct store_batch b = {0};
	char *dir = store_default_data_dir(data_dir);
	int fd, rc;

	rc = store_batch_get(st, batch_name, &b, err);
	if (rc != 0) {
		free(dir);
		return rc;
	}
	switch (b.status) {
	case STORE_BATCH_STOPPING:
	case STORE_BATCH_STOPPED:
		break;
	case STORE_BATCH_SYNCING:
	case STORE_BATCH_INCREMENTAL_SYNCING:
	case STORE_BATCH_COMPLETING:
		fd = engine_lock(dir, &b, err);
		if (fd < 0 && err->code != MF_EBUSY) {
			rc = err->code;
		} else if (fd < 0) {
			/* A run is going on: it sees Stopping and stops. */
			mf_error_clear(err);
			rc = store_batch_set_status(st, b.id, STORE_BATCH_STOPPING, NULL, err);
		} else {
			/* Nobody runs it: stop it here and now. */
			rc = engine_batch_stop_now(st, b.id, err);
			engine_unlock(fd);
		}
		break;
	default:
		rc = mf_error_set(err, MF_EINVAL, "batch %s is not running (%s)", b.name,
				  store_batch_status_name(b.status));
		break;
	}
	store_batch_clear(&b);
	free(dir);
	return rc;
}

int engine_batch_remove(struct store *st, const char *data_dir, const char *batch_name,
			struct mf_error *err)
{
	struct store_batch b = {0};
	char *dir = store_default_data_dir(data_dir);
	int fd = -1, rc;

	rc = store_batch_get(st, batch_name, &b, err);
	if (rc == 0) {
		/* Held while the batch is marked and deleted: a `batch start`
		 * (or serve) cannot take the batch meanwhile, and one that
		 * runs it now keeps us out. */
		fd = engine_lock(dir, &b, err);
		if (fd < 0 && err->code == MF_EBUSY)
			rc = mf_error_set(err, MF_EBUSY, "batch %s is running; stop it first",
					  b.name);
		else if (fd < 0)
			rc = err->code;
	}
	if (rc == 0) {
		/* Read again under the lock: a run may have ended meanwhile. */
		store_batch_clear(&b);
		rc = store_batch_get(st, batch_name, &b, err);
	}
	if (rc == 0 &&
	    (b.status == STORE_BATCH_SYNCING || b.status == STORE_BATCH_STOPPING ||
	     b.status == STORE_BATCH_INCREMENTAL_SYNCING || b.status == STORE_BATCH_COMPLETING))
		rc = mf_error_set(err, MF_EBUSY, "batch %s is running (%s); stop it first", b.name,
				  store_batch_status_name(b.status));
	if (rc == 0)
		rc = store_batch_set_status(st, b.id, STORE_BATCH_REMOVING, NULL, err);
	if (rc == 0)
		rc = store_batch_delete(st, b.name, err);
	engine_unlock(fd);
	store_batch_clear(&b);
	free(dir);
	return rc;
}
