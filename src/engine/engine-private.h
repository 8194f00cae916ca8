/* engine-private.h: shared between the engine's files. Not for other
 * modules (tests may use it).
 *
 *   engine-batch.c   engine_batch_run / _request_stop: the batch status,
 *                    the lock, the worker threads that claim users;
 *   engine-user.c    one user's run: open, plan, scan, copy, reconnect,
 *                    retry with backoff, the user's final status;
 *   engine-scan.c    one folder's listing against the message map and
 *                    the skipped items; recording skipped items and the
 *                    item limits; settling leftover intents;
 *   engine-copy.c    one folder's copy: intents, the fetch -> append
 *                    stream, the target's reports;
 *   engine-open.c    credentials and the default opener, backoff;
 *   engine-stats.c   statistics, rate, progress, buffered store writes;
 *   engine-folders.c filters and the folder plan.
 */
#ifndef MF_ENGINE_PRIVATE_H
#define MF_ENGINE_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/engine-folders.h"
#include "engine/engine.h"
#include "store/store-batch.h"
#include "store/store.h"

#define ENGINE_CONFIRM_BATCH 200 /* confirmations per store transaction */
#define ENGINE_CONFIRM_MS 1000	 /* ... or per second */
#define ENGINE_HEADER_MAX 16384	 /* header bytes kept to find Subject */
#define ENGINE_SUBJECT_MAX 400	 /* bytes of Subject kept */
#define ENGINE_RATE_SLOTS 10	 /* one-second samples for the rate */

/* ---- the batch run (shared by its workers; read-only once started) ---- */

struct engine_run {
	struct engine_opts o;	  /* defaults filled in */
	char *data_dir;		  /* owned */
	char *key_file;		  /* owned; NULL: the default */
	struct store_batch batch; /* as loaded at start */
	struct store_endpoint src_ep;
	struct store_endpoint tgt_ep;
	bool has_tgt_ep; /* false: the local store */
	struct engine_filter filter;
	atomic_bool stop;   /* a stop was requested */
	pthread_mutex_t mu; /* guards workers_live; cv signals it */
	pthread_cond_t cv;  /* and wakes sleepers on stop */
	int workers_live;
	struct mf_error worker_err; /* a worker that could not work; under mu */
};

/* Sleep up to ms, waking early when the run is stopping. */
void engine_run_sleep(struct engine_run *run, int64_t ms);

/* ---- one user's job --------------------------------------------------- */

/* One folder's messages still to copy, from its last listing. */
struct engine_todo {
	int64_t folder_id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t source_count;
	uint32_t max_uid; /* highest UID listed */
	uint32_t *uids;	  /* owned, ascending */
	uint64_t *sizes;  /* owned, listing sizes */
	size_t count;
	size_t pos;   /* next to fetch */
	bool scanned; /* listed (totals counted) */
	bool rescan;  /* list again before going on (after a reconnect) */
	bool created; /* created on the target */
	bool done;
};

/* A skipped item, to skip it again and count it once. */
struct engine_skipkey {
	char *folder; /* owned: source folder */
	uint32_t uid;
};

struct engine_msg; /* a message handed to the target (engine-copy.c) */

struct engine_rate {
	int64_t ms[ENGINE_RATE_SLOTS];
	int64_t bytes[ENGINE_RATE_SLOTS];
	size_t n, head;
};

struct engine_job {
	struct engine_run *run; /* foreign */
	struct store *st;	/* foreign: the worker's handle */
	struct store_user u;	/* owned copy; u.stats is kept current */
	struct mbx *src, *tgt;	/* owned; NULL when closed */
	struct engine_plan plan;
	struct engine_todo *todo; /* one per plan folder */
	bool planned;
	bool opened_once;		/* both sides opened at least once */
	size_t folder_i;		/* folder being copied */
	struct engine_skipkey *skipped; /* sorted by (folder, uid) */
	size_t nskipped;
	int64_t nbad, nlarge;
	/* buffered message-map writes */
	struct store_msgmap *confirms;
	size_t nconfirms;
	struct store_msgmap *forgets; /* keys only */
	size_t nforgets;
	int64_t last_flush_ms;
	/* messages handed to the target, not yet reported */
	struct engine_msg *inflight;
	uint64_t next_token;
	/* the first connection-level failure seen by a done callback */
	int conn_rc;
	struct mf_error conn_err;
	/* a failure that ends the user (limit exceeded, store error) */
	int fatal_rc;
	struct mf_error fatal_err;
	bool stopping;
	int reconnects;
	struct engine_rate rate;
	int64_t last_progress_ms, last_stats_ms;
};

/* engine-user.c: run the claimed user u (moved into the job) to its end. */
void engine_user_run(struct engine_run *run, struct store *st, struct store_user *u);

/* engine-scan.c */
/* Forget (for now) the intents left by an earlier run or a lost
 * connection, so their messages are copied again. */
int engine_intents_settle(struct engine_job *job, struct mf_error *err);
/* Load the user's skipped items into job->skipped. */
int engine_skipped_load(struct engine_job *job, struct mf_error *err);
/* List plan folder i into job->todo[i], counting totals on the first
 * listing. 0, or a driver / store code with err. */
int engine_folder_scan(struct engine_job *job, size_t i, struct mf_error *err);
/* Whether (source folder, uid) is a recorded skipped item. */
bool engine_skipped_has(const struct engine_job *job, const char *folder, uint32_t uid);
/* Record a skipped item of plan folder fi (in: uid, date, subject, size,
 * reason, kind; forgetting its intent when forget), count it and apply
 * BadItemLimit / LargeItemLimit (job->fatal_rc when exceeded). */
void engine_skip(struct engine_job *job, size_t fi, const struct store_skipped *in, bool forget);

/* engine-copy.c */
/* Copy what job->todo[i] holds. 0; or a code with err (connection-level:
 * retry; job->fatal_rc / job->stopping say when the user ends). */
int engine_folder_copy(struct engine_job *job, size_t i, struct mf_error *err);
/* Drop messages still in flight (after a lost connection). */
void engine_inflight_drop(struct engine_job *job);
/* Route the target's append reports to the job (after each open). */
void engine_target_attach(struct engine_job *job);

/* engine-open.c */
int engine_open_side(struct engine_job *job, enum engine_side side, struct mbx **m_r,
		     struct mf_error *err);
/* Whether a failure to open is worth another attempt later. */
bool engine_rc_unreachable(int rc);
/* Whether a failure mid-run is worth a reconnect. */
bool engine_rc_retry(int rc);
/* Delay before attempt+1: base * 2^(attempt-1) capped at max, +-20%. */
int64_t engine_backoff_ms(int attempt, int base_ms, int max_ms, uint64_t *seed);

/* engine-stats.c */
void engine_rate_add(struct engine_rate *r, int64_t now_ms, int64_t bytes);
double engine_rate_get(const struct engine_rate *r);
/* Write buffered forgets and confirms (and the statistics when stats) in
 * one transaction. On failure the job is failed (fatal_rc). */
int engine_flush(struct engine_job *job, bool stats);
/* The same, with the intents of t's items [pos, pos + n) in the same
 * transaction (before a chunk is fetched). */
int engine_flush_intents(struct engine_job *job, bool stats, const struct engine_todo *t,
			 size_t pos, size_t n);
/* Periodic work: progress callback, statistics, confirmations due by
 * time. Cheap when nothing is due. */
void engine_tick(struct engine_job *job);
/* Call a progress callback (user_started / user_progress) now. */
void engine_progress_emit(struct engine_job *job, bool started);
/* Fill p from the job. */
void engine_progress_fill(struct engine_job *job, struct engine_progress *p);
/* Record an event for the user, ignoring failures (logged). */
void engine_event(struct engine_job *job, enum store_event_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fail the user (first failure wins). Returns rc. */
int engine_fatal(struct engine_job *job, int rc, const struct mf_error *err);

#endif
