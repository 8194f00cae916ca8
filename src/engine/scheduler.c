/* scheduler.c: engine_serve(), the scheduler of `mailferry serve` (engine.h).
 *
 * One thread (the caller's) looks at the store every tick: it decides
 * which batch needs which pass (engine-pass.c), holds the lock of each
 * batch it runs a pass of, and claims due users into job threads while
 * the endpoints' pools allow. Each job thread owns a store handle opened
 * for it and runs engine_user_run(), as a foreground worker would. The
 * pools are per endpoint and per kind: initial syncs count against
 * MaxConcurrentMigrations, incremental syncs and completions against
 * MaxConcurrentIncrementalSyncs, across every batch using the endpoint.
 *
 * Shutdown (*stop): runs are marked shutdown and stopped; the job threads
 * end their users between messages (appends answered, intents settled)
 * and put them back in their queue status; the batches keep their status
 * and their locks are released, for the next serve to resume.
 */
#include "engine/engine-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "endpoint/endpoint.h"
#include "util/log.h"
#include "util/xmalloc.h"

enum sched_kind {
	SCHED_MIGRATION,
	SCHED_INCREMENTAL,
};

struct sched_pool {
	int64_t ep_id;
	int used[2]; /* by enum sched_kind */
};

/* A batch this serve runs a pass of. */
struct sched_batch {
	int64_t id;
	struct engine_run *run; /* owned */
	int lock_fd;
	int inflight;
	bool seen; /* still in the store this tick */
};

struct sched_job {
	struct sched_job *next;
	struct sched *s;
	struct sched_batch *b; /* foreign */
	struct store *st;      /* owned by the thread while it runs */
	struct store_user u;
	pthread_t th;
	atomic_bool done;
};

struct sched {
	char *data_dir; /* owned */
	struct engine_serve_opts o;
	struct store *st;
	struct sched_batch **batches; /* owned */
	size_t nbatches;
	struct sched_pool *pools;
	size_t npools;
	struct sched_job *jobs;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* a job ended */
};

/* ---- pools ------------------------------------------------------------------ */

static struct sched_pool *sched_pool(struct sched *s, int64_t ep_id)
{
	for (size_t i = 0; i < s->npools; i++)
		if (s->pools[i].ep_id == ep_id)
			return &s->pools[i];
	s->pools = xreallocarray(s->pools, s->npools + 1, sizeof(*s->pools));
	memset(&s->pools[s->npools], 0, sizeof(s->pools[0]));
	s->pools[s->npools].ep_id = ep_id;
	return &s->pools[s->npools++];
}

static int sched_limit(const struct store_endpoint *ep, enum sched_kind k)
{
	if (k == SCHED_MIGRATION)
		return ep->max_concurrent_migrations > 0 ? ep->max_concurrent_migrations
							 : ENDPOINT_DEFAULT_MAX_MIGRATIONS;
	return ep->max_concurrent_incremental_syncs > 0 ? ep->max_concurrent_incremental_syncs
							: ENDPOINT_DEFAULT_MAX_INCREMENTAL;
}

static enum sched_kind sched_kind_of(const struct engine_run *run)
{
	return run->pass == ENGINE_PASS_INITIAL ? SCHED_MIGRATION : SCHED_INCREMENTAL;
}

/* Take a slot on the run's endpoints; false when one is full. */
static bool sched_take(struct sched *s, const struct engine_run *run)
{
	enum sched_kind k = sched_kind_of(run);
	struct sched_pool *src = sched_pool(s, run->src_ep.id);
	struct sched_pool *tgt = run->has_tgt_ep ? sched_pool(s, run->tgt_ep.id) : NULL;

	if (src->used[k] >= sched_limit(&run->src_ep, k) ||
	    (tgt != NULL && tgt->used[k] >= sched_limit(&run->tgt_ep, k)))
		return false;
	src->used[k]++;
	if (tgt != NULL)
		tgt->used[k]++;
	return true;
}

static void sched_give(struct sched *s, const struct engine_run *run)
{
	enum sched_kind k = sched_kind_of(run);

	sched_pool(s, run->src_ep.id)->used[k]--;
	if (run->has_tgt_ep)
		sched_pool(s, run->tgt_ep.id)->used[k]--;
}

/* ---- jobs --------------------------------------------------------------------- */

static void *sched_job_main(void *arg)
{
	struct sched_job *j = arg;
	struct sched *s = j->s;

	engine_user_run(j->b->run, j->st, &j->u);
	store_close(&j->st);
	pthread_mutex_lock(&s->mu);
	atomic_store(&j->done, true);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Start a job for the claimed user u (moved). */
static void sched_spawn(struct sched *s, struct sched_batch *b, struct store_user *u)
{
	const struct engine_pass_def *pd = engine_pass_def(b->run->pass);
	struct sched_job *j = xcalloc(1, sizeof(*j));
	struct mf_error err = {0, ""};

	j->s = s;
	j->b = b;
	j->u = *u;
	memset(u, 0, sizeof(*u));
	atomic_init(&j->done, false);
	if (store_open(s->data_dir, s->o.run.key_file, &j->st, &err) != 0 ||
	    pthread_create(&j->th, NULL, sched_job_main, j) != 0) {
		log_error("serve: cannot start a job for %s: %s", j->u.email_address,
			  err.msg[0] != '\0' ? err.msg : "no thread");
		store_close(&j->st);
		/* Back in the queue, for a later tick. */
		store_user_set_status(s->st, j->u.id, pd->queue, j->u.stats.last_error, &err);
		sched_give(s, b->run);
		store_user_clear(&j->u);
		free(j);
		return;
	}
	b->inflight++;
	j->next = s->jobs;
	s->jobs = j;
}

/* Join the jobs that ended. */
static void sched_reap(struct sched *s, bool all)
{
	struct sched_job **pp = &s->jobs;

	while (*pp != NULL) {
		struct sched_job *j = *pp;

		if (!all && !atomic_load(&j->done)) {
			pp = &j->next;
			continue;
		}
		pthread_join(j->th, NULL);
		sched_give(s, j->b->run);
		j->b->inflight--;
		store_user_clear(&j->u);
		*pp = j->next;
		free(j);
	}
}

/* ---- passes ------------------------------------------------------------------------ */

static struct sched_batch *sched_batch(struct sched *s, int64_t id)
{
	struct sched_batch *b;

	for (size_t i = 0; i < s->nbatches; i++)
		if (s->batches[i]->id == id)
			return s->batches[i];
	b = xcalloc(1, sizeof(*b));
	b->id = id;
	b->lock_fd = -1;
	s->batches = xreallocarray(s->batches, s->nbatches + 1, sizeof(*s->batches));
	s->batches[s->nbatches++] = b;
	return b;
}

static void sched_release(struct sched_batch *b)
{
	engine_run_free(b->run);
	b->run = NULL;
	engine_unlock(b->lock_fd);
	b->lock_fd = -1;
}

/* Which pass a batch not being run needs now, if any (false: none). */
static bool sched_due_pass(struct sched *s, const struct store_batch *b, int64_t now,
			   enum engine_pass *pass_r, bool *resume_r)
{
	int64_t at = 0, n = 0, at2 = 0, n2 = 0;
	struct mf_error err = {0, ""};

	*resume_r = false;
	switch (b->status) {
	case STORE_BATCH_CREATED:
		*pass_r = ENGINE_PASS_INITIAL;
		return b->opt.auto_start || (b->opt.start_after > 0 && now >= b->opt.start_after);
	case STORE_BATCH_SYNCING:
		*pass_r = ENGINE_PASS_INITIAL;
		*resume_r = true;
		return true;
	case STORE_BATCH_INCREMENTAL_SYNCING:
		*pass_r = ENGINE_PASS_INCREMENTAL;
		*resume_r = true;
		return true;
	case STORE_BATCH_COMPLETING:
		*pass_r = ENGINE_PASS_COMPLETE;
		*resume_r = true;
		return true;
	case STORE_BATCH_SYNCED:
	case STORE_BATCH_SYNCED_WITH_ERRORS:
		*pass_r = ENGINE_PASS_COMPLETE;
		if (b->opt.auto_complete ||
		    (b->opt.complete_after > 0 && now >= b->opt.complete_after))
			return true;
		*pass_r = ENGINE_PASS_INCREMENTAL;
		if (store_user_next_due(s->st, b->id, STORE_USER_SYNCED, &at, &n, &err) != 0 ||
		    store_user_next_due(s->st, b->id, STORE_USER_INCREMENTAL_FAILED, &at2, &n2,
					&err) != 0) {
			log_warn("serve: batch %s: %s", b->name, err.msg);
			return false;
		}
		return (n > 0 && at <= now) || (n2 > 0 && at2 <= now);
	default:
		return false;
	}
}

/* Lock the batch and set its pass up; false when it cannot run now. */
static bool sched_start(struct sched *s, struct sched_batch *sb, const struct store_batch *b,
			enum engine_pass pass, bool resume)
{
	struct mf_error err = {0, ""};
	int64_t queued = 0, total = 0;
	struct engine_run *run;
	int rc;

	sb->lock_fd = engine_lock(s->data_dir, b, &err);
	if (sb->lock_fd < 0) {
		if (err.code != MF_EBUSY)
			log_warn("serve: batch %s: %s", b->name, err.msg);
		return false; /* another process runs it */
	}
	run = engine_run_new(s->data_dir, &s->o.run);
	run->pass = pass;
	sb->run = run;
	rc = engine_batch_load(run, s->st, b->name, &err);
	if (rc == 0 && resume) {
		rc = engine_users_release(s->st, b->id, &err);
	} else if (rc == 0 && pass == ENGINE_PASS_INCREMENTAL) {
		/* Scheduled: due users only; the claims pick them. */
		rc = engine_users_release(s->st, b->id, &err);
	} else if (rc == 0) {
		rc = engine_pass_queue(run, s->st, &queued, &total, &err);
		if (rc == 0 && total == 0)
			rc = mf_error_set(&err, MF_EINVAL, "batch %s has no users", b->name);
	}
	if (rc == 0 && !resume) {
		run->batch.status = engine_pass_def(pass)->batch;
		if (pass == ENGINE_PASS_INITIAL || run->batch.started_at == 0)
			run->batch.started_at = time(NULL);
		run->batch.completed_at = 0;
		free(run->batch.last_error);
		run->batch.last_error = NULL;
		rc = store_batch_update(s->st, &run->batch, &err);
	}
	if (rc != 0) {
		log_warn("serve: batch %s: %s", b->name, err.msg);
		sched_release(sb);
		return false;
	}
	log_info("serve: batch %s: %s %s", b->name, resume ? "resuming" : "starting",
		 pass == ENGINE_PASS_INITIAL	   ? "the initial sync"
		 : pass == ENGINE_PASS_INCREMENTAL ? "an incremental sync"
						   : "completion");
	return true;
}

/* Claim due users while the pools allow. */
static void sched_claim(struct sched *s, struct sched_batch *sb, int64_t now)
{
	struct engine_run *run = sb->run;
	const struct engine_pass_def *pd = engine_pass_def(run->pass);

	while (!atomic_load(&run->stop) && sched_take(s, run)) {
		struct mf_error err = {0, ""};
		struct store_user u;
		int rc;

		rc = store_user_claim(s->st, sb->id, pd->queue, pd->active, now, &u, &err);
		if (rc == MF_ENOTFOUND && run->pass == ENGINE_PASS_INCREMENTAL)
			rc = store_user_claim(s->st, sb->id, STORE_USER_INCREMENTAL_FAILED,
					      pd->active, now, &u, &err);
		if (rc != 0) {
			if (rc != MF_ENOTFOUND)
				log_warn("serve: batch %s: %s", run->batch.name, err.msg);
			sched_give(s, run);
			return;
		}
		sched_spawn(s, sb, &u);
	}
}

/* Whether the pass has nothing left to run (once no job is in flight). */
static bool sched_pass_over(struct sched *s, const struct sched_batch *sb, int64_t now)
{
	const struct engine_run *run = sb->run;
	const struct engine_pass_def *pd = engine_pass_def(run->pass);
	struct mf_error err = {0, ""};
	int64_t at = 0, n = 0;

	if (atomic_load(&run->stop))
		return true;
	if (store_user_next_due(s->st, sb->id, pd->queue, &at, &n, &err) != 0)
		return false;
	if (run->pass == ENGINE_PASS_INCREMENTAL)
		return n == 0 || at > now; /* the rest is due later */
	return n == 0;
}

/* One look at every batch. */
static void sched_tick(struct sched *s)
{
	struct store_batch *bs = NULL;
	struct mf_error err = {0, ""};
	int64_t now = time(NULL);
	size_t n = 0;

	if (store_batch_list(s->st, &bs, &n, &err) != 0) {
		log_warn("serve: %s", err.msg);
		return;
	}
	for (size_t i = 0; i < s->nbatches; i++)
		s->batches[i]->seen = false;
	for (size_t i = 0; i < n; i++) {
		struct sched_batch *sb = sched_batch(s, bs[i].id);
		enum engine_pass pass;
		bool resume;

		sb->seen = true;
		if (sb->run == NULL && bs[i].status == STORE_BATCH_STOPPING) {
			/* Nobody runs it (or another process does: then the lock
			 * is taken and that process stops it). */
			int fd = engine_lock(s->data_dir, &bs[i], &err);

			if (fd >= 0 && engine_batch_stop_now(s->st, bs[i].id, &err) != 0)
				log_warn("serve: batch %s: %s", bs[i].name, err.msg);
			engine_unlock(fd);
			continue;
		}
		if (sb->run == NULL) {
			if (!sched_due_pass(s, &bs[i], now, &pass, &resume) ||
			    !sched_start(s, sb, &bs[i], pass, resume))
				continue;
		}
		if (bs[i].status == STORE_BATCH_STOPPING || bs[i].status == STORE_BATCH_REMOVING)
			engine_run_stop(sb->run);
		sched_claim(s, sb, now);
		if (sb->inflight == 0 && sched_pass_over(s, sb, now)) {
			if (engine_pass_end(sb->run, s->st, NULL, &err) != 0)
				log_warn("serve: batch %s: %s", bs[i].name, err.msg);
			sched_release(sb);
		}
	}
	store_batch_list_free(&bs, n);
	/* A batch removed meanwhile: nothing of it may run any more. */
	for (size_t i = 0; i < s->nbatches; i++) {
		struct sched_batch *sb = s->batches[i];

		if (!sb->seen && sb->run != NULL)
			engine_run_stop(sb->run);
		if (!sb->seen && sb->run != NULL && sb->inflight == 0)
			sched_release(sb);
	}
}

static bool sched_idle(const struct sched *s)
{
	for (size_t i = 0; i < s->nbatches; i++)
		if (s->batches[i]->run != NULL)
			return false;
	return true;
}

static void sched_wait(struct sched *s, int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	for (bool ended = false; !ended;) {
		for (struct sched_job *j = s->jobs; j != NULL && !ended; j = j->next)
			ended = atomic_load(&j->done);
		if (!ended && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- serve ---------------------------------------------------------------------------- */

int engine_serve(const char *data_dir, const struct engine_serve_opts *o,
		 volatile sig_atomic_t *stop, struct mf_error *err)
{
	struct sched s;
	pthread_condattr_t ca;
	int rc;

	memset(&s, 0, sizeof(s));
	if (o != NULL)
		s.o = *o;
	if (s.o.tick_ms <= 0)
		s.o.tick_ms = 1000;
	s.o.run.interrupt = NULL;
	s.o.run.no_wait = true;
	s.data_dir = store_default_data_dir(data_dir);
	rc = store_open(s.data_dir, s.o.run.key_file, &s.st, err);
	if (rc != 0) {
		free(s.data_dir);
		return rc;
	}
	pthread_mutex_init(&s.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s.cv, &ca);
	pthread_condattr_destroy(&ca);
	log_info("serve: scheduler started on %s", s.data_dir);
	while (stop == NULL || *stop == 0) {
		sched_reap(&s, false);
		sched_tick(&s);
		if (s.o.once && s.jobs == NULL && sched_idle(&s))
			break;
		sched_wait(&s, s.o.tick_ms);
	}
	/* Going down: what runs stops and is resumed by the next serve. */
	for (size_t i = 0; i < s.nbatches; i++) {
		if (s.batches[i]->run != NULL) {
			atomic_store(&s.batches[i]->run->shutdown, true);
			engine_run_stop(s.batches[i]->run);
		}
	}
	sched_reap(&s, true);
	for (size_t i = 0; i < s.nbatches; i++) {
		struct sched_batch *sb = s.batches[i];

		if (sb->run != NULL) {
			struct mf_error e = {0, ""};

			engine_pass_end(sb->run, s.st, NULL, &e);
			sched_release(sb);
		}
		free(sb);
	}
	free(s.batches);
	free(s.pools);
	store_close(&s.st);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	log_info("serve: scheduler stopped");
	free(s.data_dir);
	return 0;
}
