/* engine-lanes.c: a user's folders copied in parallel ("lanes").
 *
 * A lane is a source and a target connection of its own, with its own
 * store handle (SQLite handles are per thread), in-flight list and
 * buffered message-map writes. Each folder is copied by exactly one lane:
 * intents, the MULTIAPPEND order of a folder, the check that nothing
 * listed was left behind and reconciliation all assume one connection per
 * folder. Folders go largest first (bytes left to copy, from the listing)
 * to whichever lane is free, so the largest does not start last.
 *
 * Everything before the copy (settling intents, planning, creating
 * folders, listing) stays on the user's own connections, which become the
 * first lane; the other lanes connect while it already copies. A lane
 * that cannot connect (a server refusing more connections per user,
 * "[UNAVAILABLE]", a throttled login) takes no folder: the user goes on
 * with fewer lanes, and asks for no more than worked for the rest of its
 * run.
 *
 * A failure ends all lanes: the user's failure (engine_fatal) at once; a
 * lost connection or a throttled server once each lane has flushed its
 * appends (every append handed over is reported, as engine-copy.c does
 * for a folder). The user's job then reconnects, backs off and settles
 * every intent with no lane running (engine-user.c), exactly as with one
 * connection, and starts the lanes again for what is left.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

struct engine_lanes {
	struct engine_job *user; /* foreign: the user's job */
	pthread_mutex_t mu;	 /* recursive; guards the user's shared parts
				  * and what follows */
	atomic_bool halt;	 /* a lane failed: the others stop */
	size_t *queue;		 /* owned: plan indexes, largest first */
	size_t nqueue, next;
	int opened;		 /* lanes that connected */
	int retry_rc;		 /* the first connection-level failure */
	struct mf_error retry_err;
};

struct engine_lane {
	struct engine_job job;
	struct engine_lanes *l;
	int index;
	pthread_t th;
	bool started; /* th runs */
};

struct engine_job *engine_user_of(struct engine_job *job)
{
	return job->lanes != NULL ? job->lanes->user : job;
}

void engine_user_lock(struct engine_job *job)
{
	if (job->lanes != NULL)
		pthread_mutex_lock(&job->lanes->mu);
}

void engine_user_unlock(struct engine_job *job)
{
	if (job->lanes != NULL)
		pthread_mutex_unlock(&job->lanes->mu);
}

bool engine_lane_halted(const struct engine_job *job)
{
	return job->lanes != NULL && atomic_load(&job->lanes->halt);
}

void engine_lanes_halt(struct engine_job *job)
{
	if (job->lanes != NULL)
		atomic_store(&job->lanes->halt, true);
}

/* ---- one connection ---------------------------------------------------------- */

/* Folder after folder on the job's own connections. */
static int engine_copy_serial(struct engine_job *job, struct mf_error *err)
{
	for (; job->folder_i < job->plan.count; job->folder_i++) {
		size_t i = job->folder_i;
		int rc;

		if (atomic_load(&job->run->stop) && !job->todo[i].done)
			job->stopping = true;
		if (job->stopping)
			return 0;
		rc = engine_folder_run(job, i, err);
		if (rc != 0 || job->stopping || job->fatal_rc != 0)
			return rc;
	}
	return 0;
}

/* ---- the queue --------------------------------------------------------------------- */

static uint64_t engine_todo_bytes(const struct engine_todo *t)
{
	uint64_t b = 0;

	for (size_t k = t->pos; k < t->count; k++)
		b += t->sizes[k];
	return b;
}

struct engine_qent {
	size_t i;
	uint64_t bytes;
};

static int engine_qent_cmp(const void *a, const void *b)
{
	const struct engine_qent *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i; /* plan order among equals */
}

size_t *engine_queue_build(struct engine_job *job, size_t *n_r, size_t *with_work_r)
{
	struct engine_qent *q = xcalloc(job->plan.count + 1, sizeof(*q));
	size_t *out, n = 0, work = 0;

	for (size_t i = 0; i < job->plan.count; i++) {
		if (job->todo[i].done || job->plan.folders[i].noselect)
			continue;
		q[n].i = i;
		q[n].bytes = engine_todo_bytes(&job->todo[i]);
		if (job->todo[i].pos < job->todo[i].count)
			work++;
		n++;
	}
	qsort(q, n, sizeof(*q), engine_qent_cmp);
	out = xcalloc(n + 1, sizeof(*out));
	for (size_t k = 0; k < n; k++)
		out[k] = q[k].i;
	free(q);
	*n_r = n;
	*with_work_r = work;
	return out;
}

/* The next folder for a lane, or false when none is left or the lanes
 * stop. */
static bool engine_queue_take(struct engine_lanes *l, size_t *i_r)
{
	bool ok = false;

	pthread_mutex_lock(&l->mu);
	if (!atomic_load(&l->halt) && l->next < l->nqueue) {
		*i_r = l->queue[l->next++];
		ok = true;
	}
	pthread_mutex_unlock(&l->mu);
	return ok;
}

/* How many connections per side the user may use. */
static int engine_lanes_wanted(const struct engine_job *job)
{
	const struct engine_run *run = job->run;
	int n = run->o.connections_per_user;

	if (n <= 0)
		n = (int)run->batch.opt.connections_per_user;
	if (n <= 0)
		n = ENGINE_LANES_DEFAULT;
	if (n > ENGINE_LANES_MAX)
		n = ENGINE_LANES_MAX;
	if (job->lanes_max > 0 && n > job->lanes_max)
		n = job->lanes_max;
	return n;
}

/* ---- a lane ------------------------------------------------------------------------- */

static void engine_lane_fail(struct engine_lane *ln, int rc, const struct mf_error *err)
{
	struct engine_lanes *l = ln->l;

	pthread_mutex_lock(&l->mu);
	if (l->retry_rc == 0) {
		l->retry_rc = rc;
		l->retry_err = *err;
	}
	pthread_mutex_unlock(&l->mu);
	atomic_store(&l->halt, true);
}

/* A new connection learns the folders as the first one did: an IMAP
 * server's names (a UserRoot's prefix, the separator, modified UTF-7) come
 * from its listing, which the first connection made while planning. */
static int engine_lane_learn(struct mbx *m, struct mf_error *err)
{
	struct mbx_folder_list l = {0};
	int rc = m->drv->list_folders(m, &l, err);

	mbx_folder_list_free(&l);
	return rc;
}

/* Connect an extra lane: its store handle, source and target. false when
 * it cannot (the user goes on without it). */
static bool engine_lane_connect(struct engine_lane *ln)
{
	struct engine_job *job = &ln->job;
	struct engine_run *run = job->run;
	struct mf_error err = {0, ""};
	int rc;

	if (store_open(run->data_dir, run->key_file, &job->st, &err) != 0) {
		/* No handle for an event: the log says it. */
		job->st = NULL;
		log_warn("batch %s, user %s: connection %d: cannot open the store: %s",
			 run->batch.name, job->u.email_address, ln->index + 1, err.msg);
		return false;
	}
	rc = engine_open_side(job, ENGINE_SOURCE, &job->src, &err);
	if (rc == 0)
		rc = engine_lane_learn(job->src, &err);
	if (rc != 0) {
		mf_error_prefix(&err, "source");
	} else {
		rc = engine_open_side(job, ENGINE_TARGET, &job->tgt, &err);
		if (rc == 0)
			rc = engine_lane_learn(job->tgt, &err);
		if (rc != 0)
			mf_error_prefix(&err, "target");
	}
	if (rc != 0) {
		engine_event(job, STORE_EVENT_WARNING,
			     "connection %d refused (%s); going on with fewer connections",
			     ln->index + 1, err.msg);
		return false;
	}
	engine_target_attach(job);
	return true;
}

/* Copy folders off the queue until none is left or the lanes stop. */
static void engine_lane_work(struct engine_lane *ln)
{
	struct engine_job *job = &ln->job;
	size_t i;

	while (engine_queue_take(ln->l, &i)) {
		struct mf_error err = {0, ""};
		int rc;

		if (atomic_load(&job->run->stop))
			job->stopping = true;
		if (job->stopping || job->fatal_rc != 0)
			break;
		rc = engine_folder_run(job, i, &err);
		if (rc != 0 && job->fatal_rc == 0) {
			engine_lane_fail(ln, rc, &err);
			break;
		}
		if (job->stopping || job->fatal_rc != 0)
			break;
	}
}

static void engine_lane_close(struct engine_lane *ln)
{
	struct engine_job *job = &ln->job;

	if (job->src != NULL)
		job->src->drv->close(&job->src);
	if (job->tgt != NULL)
		job->tgt->drv->close(&job->tgt);
	engine_inflight_drop(job);
	if (job->st != NULL)
		store_close(&job->st);
}

static void *engine_lane_main(void *arg)
{
	struct engine_lane *ln = arg;
	bool ok = engine_lane_connect(ln);

	if (ok) {
		pthread_mutex_lock(&ln->l->mu);
		ln->l->opened++;
		pthread_mutex_unlock(&ln->l->mu);
		engine_lane_work(ln);
	}
	engine_flush(&ln->job, false);
	engine_lane_close(ln);
	return NULL;
}

/* A lane's job: the user's plan and folders (each touched by the lane
 * that took it), its own connections and buffers. */
static void engine_lane_init(struct engine_lane *ln, struct engine_lanes *l, int index)
{
	struct engine_job *user = l->user;
	struct engine_job *job = &ln->job;

	memset(ln, 0, sizeof(*ln));
	ln->l = l;
	ln->index = index;
	job->run = user->run;
	job->lanes = l;
	job->u = user->u; /* shallow: read-only names and credentials */
	job->u.stats.current_folder = NULL;
	job->u.stats.last_error = NULL;
	job->plan = user->plan; /* shallow, read-only */
	job->todo = user->todo;
	job->planned = true;
	job->opened_once = true;
	job->incremental = user->incremental;
	job->warned_flags = user->warned_flags;
	job->last_flush_ms = job->last_stats_ms = job->last_progress_ms = mf_now_ms();
}

/* ---- the lanes ------------------------------------------------------------------------ */

static int engine_copy_lanes(struct engine_job *user, size_t *queue, size_t nqueue, int n,
			     struct mf_error *err)
{
	struct engine_lanes l;
	struct engine_lane *lanes = xcalloc((size_t)n, sizeof(*lanes));
	pthread_mutexattr_t attr;
	int rc = 0;

	memset(&l, 0, sizeof(l));
	l.user = user;
	l.queue = queue;
	l.nqueue = nqueue;
	l.opened = 1;
	atomic_init(&l.halt, false);
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&l.mu, &attr);
	pthread_mutexattr_destroy(&attr);
	for (int k = 0; k < n; k++)
		engine_lane_init(&lanes[k], &l, k);
	/* The first lane goes on with the user's connections and store. */
	lanes[0].job.st = user->st;
	lanes[0].job.src = user->src;
	lanes[0].job.tgt = user->tgt;
	lanes[0].job.next_token = user->next_token;
	user->src = user->tgt = NULL;
	engine_target_attach(&lanes[0].job);
	for (int k = 1; k < n; k++)
		lanes[k].started =
		    pthread_create(&lanes[k].th, NULL, engine_lane_main, &lanes[k]) == 0;
	engine_lane_work(&lanes[0]);
	engine_flush(&lanes[0].job, false);
	for (int k = 1; k < n; k++) {
		if (lanes[k].started)
			pthread_join(lanes[k].th, NULL);
	}
	/* Back to one job: the user's connections return to it. */
	user->src = lanes[0].job.src;
	user->tgt = lanes[0].job.tgt;
	user->next_token = lanes[0].job.next_token;
	user->warned_flags = user->warned_flags || lanes[0].job.warned_flags;
	if (user->tgt != NULL)
		engine_target_attach(user);
	for (int k = 0; k < n; k++) {
		struct engine_job *job = &lanes[k].job;

		if (job->stopping && atomic_load(&user->run->stop))
			user->stopping = true;
		engine_inflight_drop(job);
		free(job->retry);
		free(job->confirms);
		free(job->forgets);
	}
	if (l.opened < n) {
		/* The server took fewer: no more are asked for this run. */
		user->lanes_max = l.opened;
	}
	if (user->fatal_rc == 0 && !user->stopping && l.retry_rc != 0) {
		rc = l.retry_rc;
		if (err != NULL)
			*err = l.retry_err;
	}
	if (rc == 0 && user->fatal_rc == 0 && !user->stopping) {
		/* Every folder was taken and finished (a lane stops early only
		 * when failing or stopping). */
		for (size_t k = 0; k < nqueue; k++) {
			if (!user->todo[queue[k]].done) {
				rc = mf_error_set(err, MF_EIO,
						  "internal error: folder %s not copied",
						  user->plan.folders[queue[k]].source);
				engine_fatal(user, rc, err);
				break;
			}
		}
	}
	pthread_mutex_destroy(&l.mu);
	free(lanes);
	return user->fatal_rc != 0 ? 0 : rc;
}

int engine_copy_folders(struct engine_job *job, struct mf_error *err)
{
	size_t nqueue = 0, work = 0;
	size_t *queue = engine_queue_build(job, &nqueue, &work);
	int n = engine_lanes_wanted(job);
	int rc;

	if ((size_t)n > work)
		n = (int)work;
	if (n <= 1 || atomic_load(&job->run->stop)) {
		free(queue);
		return engine_copy_serial(job, err);
	}
	rc = engine_copy_lanes(job, queue, nqueue, n, err);
	free(queue);
	if (rc == 0 && job->fatal_rc == 0 && !job->stopping)
		job->folder_i = job->plan.count;
	return rc;
}
