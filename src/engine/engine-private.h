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
 *   engine-lanes.c   a user's folders copied in parallel over several
 *                    source and target connections ("lanes");
 *   engine-open.c    credentials and the default opener, backoff;
 *   engine-stats.c   statistics, rate, progress, buffered store writes;
 *   engine-folders.c filters and the folder plan;
 *   engine-pass.c    the three passes (initial, incremental, completion):
 *                    which users they run, the statuses they give;
 *   engine-incr.c    one folder's incremental listing: new messages, flag
 *                    changes, deletions;
 *   engine-reconcile.c  settling intents against the target;
 *   engine-recover.c UIDVALIDITY changes and renames at the source;
 *   engine-hash.c    hashing source messages (streamed); Subject and
 *                    other header fields;
 *   engine-retry.c   what a failure means: retry, throttle, quota;
 *   scheduler.c      engine_serve.
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
#define ENGINE_PEEK_MAX 4096	 /* header bytes peeked for a Subject */
#define ENGINE_RATE_SLOTS 10	 /* one-second samples for the rate */
#define ENGINE_SETTLE_QUIET_MS 3000 /* a sealed append not there: waited for
				      * until its folder is still this long */
#define ENGINE_SETTLE_POLL_MS 100    /* ... looking this often */

/* ---- the batch run (shared by its workers; read-only once started) ---- */

/* What a run does to its users (engine-pass.c). */
enum engine_pass {
	ENGINE_PASS_INITIAL,	 /* Queued -> Syncing -> Synced | Failed */
	ENGINE_PASS_INCREMENTAL, /* Synced -> IncrementalSyncing -> Synced |
				  * IncrementalFailed */
	ENGINE_PASS_COMPLETE,	 /* Synced -> Completing -> Completed |
				  * CompletionFailed */
};

struct engine_pass_def {
	enum store_user_status queue;  /* claimed from (when due) */
	enum store_user_status active; /* while a worker runs it */
	enum store_user_status done;
	enum store_user_status fail;
	enum store_batch_status batch; /* the batch's status during the pass */
};

const struct engine_pass_def *engine_pass_def(enum engine_pass pass);

struct engine_run {
	struct engine_opts o;	  /* defaults filled in */
	char *data_dir;		  /* owned */
	char *key_file;		  /* owned; NULL: the default */
	struct store_batch batch; /* as loaded at start */
	struct store_endpoint src_ep;
	struct store_endpoint tgt_ep;
	bool has_tgt_ep; /* false: the local store */
	struct engine_filter filter;
	enum engine_pass pass;
	atomic_bool stop;     /* a stop was requested */
	atomic_bool shutdown; /* serve is stopping: with stop, users go back
			       * to their queue status (resumed later) */
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
	uint64_t highestmodseq; /* as the source said before the listing */
	uint32_t max_uid;	/* highest UID listed */
	bool incr;		/* listed incrementally: the folder state is
				 * written once the folder is done */
	uint32_t *uids;	  /* owned, ascending */
	uint64_t *sizes;  /* owned, listing sizes */
	size_t count;
	size_t pos;   /* next to fetch */
	bool scanned; /* listed (totals counted) */
	bool rescan;  /* list again before going on (after a reconnect) */
	bool created; /* created on the target */
	bool started; /* intents written for some of it (listed again
		       * after a reconnect) */
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

struct engine_lanes; /* engine-lanes.c */

/* A user's job; while its folders are copied over several connections,
 * each lane is a job of its own (engine-lanes.c) whose `lanes` names the
 * user's job, which holds what the lanes share: the statistics, the
 * skipped items and their counts, the failure that ends the user, the
 * rate and the progress times. The functions below that touch those go
 * through engine_user_of() under engine_user_lock(). */
struct engine_job {
	struct engine_run *run; /* foreign */
	struct engine_lanes *lanes; /* foreign; NULL: not a lane */
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
	/* UIDs of the folder being copied that the target did not store
	 * because their batch was refused (MF_ERETRY): appended again one
	 * by one once the folder's chunks are done (engine-copy.c) */
	uint32_t *retry;
	size_t nretry;
	bool retrying; /* in that pass: MF_ERETRY is a refusal */
	/* the first connection-level failure seen by a done callback */
	int conn_rc;
	struct mf_error conn_err;
	/* a failure that ends the user (limit exceeded, store error) */
	int fatal_rc;
	struct mf_error fatal_err;
	bool stopping;
	bool incremental;  /* scan only what changed since the last sync */
	bool need_settle;  /* reconcile intents once both sides are open */
	bool warned_flags; /* "cannot change flags on this target" said */
	int reconnects;
	int throttles;
	int lanes_max; /* > 0: connections per side that worked (a server
			* refused more); no more are tried this run */
	int64_t flag_changes, deletions; /* applied to the target this run */
	struct engine_rate rate;
	int64_t last_progress_ms, last_stats_ms;
};

/* engine-user.c: run the claimed user u (moved into the job) to its end. */
void engine_user_run(struct engine_run *run, struct store *st, struct store_user *u);
/* Copy plan folder i, check that nothing listed was left behind and
 * record the folder as done. 0; or a connection code with err (retry);
 * job->fatal_rc / job->stopping say when the user ends. */
int engine_folder_run(struct engine_job *job, size_t i, struct mf_error *err);
/* Name the folder being copied in the statistics (NULL: none). */
void engine_set_folder(struct engine_job *job, const char *folder);

/* engine-lanes.c */
/* Copy every planned folder not done yet, over as many lanes as the batch
 * asks for (and the servers accept) when there are several folders to
 * copy; folder by folder on the job's own connections otherwise. 0 when
 * all are done or the job stops or fails (job->stopping, job->fatal_rc);
 * or the first connection-level failure of a lane, with err (the job's
 * connections are then closed or still open; every lane is over). */
int engine_copy_folders(struct engine_job *job, struct mf_error *err);
/* The plan folders not done yet (without containers), largest first by
 * the bytes their listing left to copy, then in plan order: the order
 * lanes take them in. *with_work_r counts those with messages to copy.
 * malloc'd. */
size_t *engine_queue_build(struct engine_job *job, size_t *n_r, size_t *with_work_r);
/* The user's job of a lane, or job itself. */
struct engine_job *engine_user_of(struct engine_job *job);
/* Lock what a user's lanes share (no-op outside lanes; recursive). */
void engine_user_lock(struct engine_job *job);
void engine_user_unlock(struct engine_job *job);
/* Whether the user's other lanes asked this one to stop (a failure). */
bool engine_lane_halted(const struct engine_job *job);
/* Ask every lane of job's user to stop (no-op outside lanes). */
void engine_lanes_halt(struct engine_job *job);
/* Add to the user's statistics. */
void engine_count(struct engine_job *job, int64_t synced, int64_t bytes);

/* engine-reconcile.c */
/* Settle the intents left by an earlier run or a lost connection against
 * the target (engine.h, "Crash safety"): each becomes done (it landed) or
 * is forgotten (copied again). Needs job->src and job->tgt open; without
 * a target that can search (find_message NULL) intents are forgotten. 0,
 * or a connection code (retry) or store code (job->fatal_rc) with err. */
int engine_intents_settle(struct engine_job *job, struct mf_error *err);

/* engine-hash.c */
/* One source message as hashed: valid during the callback. */
struct engine_hashed {
	uint32_t uid;
	uint64_t size;
	const char *sha256;	/* 64 hex digits */
	const char *message_id; /* "<...>" or NULL */
	const struct mbx_msg_info *info;
};
/* Fetch uids of folder from m, streaming each through SHA-256 (and
 * keeping its header's Message-ID); fn per message delivered. UIDs that
 * are gone are not reported. 0 or the fetch's code with err. */
int engine_hash_fetch(struct mbx *m, const char *folder, const uint32_t *uids, size_t n,
		      void (*fn)(void *ctx, const struct engine_hashed *h), void *ctx,
		      struct mf_error *err);
/* The value of header field name ("Message-ID") in hdr, trimmed, or NULL
 * (malloc'd). */
char *engine_header_field(const char *hdr, size_t len, const char *name);
/* The raw Subject of a header (h: len bytes, from the start of a header or
 * its Subject lines): unfolded, not MIME-decoded, trimmed, invalid UTF-8
 * and controls replaced by '?', about ENGINE_SUBJECT_MAX bytes; NULL
 * when there is none. malloc'd. */
char *engine_subject(const char *h, size_t len);
/* Lower-case hex of a finished SHA-256 context into out[65]. */
void engine_sha_hex(const unsigned char *md, unsigned int len, char out[STORE_SHA256_HEX]);

/* engine-recover.c */
/* Before folders are created: source folders that are new to the map but
 * are a folder the map knows under another name (renamed at the source)
 * take over its state, and their target folder is renamed to match. */
int engine_recover_renames(struct engine_job *job, struct mf_error *err);
/* Plan folder fi's UIDVALIDITY changed from old_uv to t->uidvalidity:
 * re-key the map rows of old_uv whose content the new folder holds
 * (size, then SHA-256), so that only the rest is copied. */
int engine_recover_uidvalidity(struct engine_job *job, size_t fi, int64_t old_uv,
			       struct mf_error *err);

/* engine-incr.c */
/* List plan folder fi incrementally (row: its state at the last sync):
 * new messages into job->todo[fi], flag changes and (with sync_deletes)
 * deletions applied to the target. 0, or a code with err. */
int engine_folder_incremental(struct engine_job *job, size_t fi, const struct store_folder *row,
			      struct mf_error *err);
/* Canonical flags string: system flags in a fixed order, then keywords
 * sorted (ASCII case-insensitively). malloc'd. */
char *engine_flags_canonical(uint32_t flags, char *const *keywords, size_t n);
/* The same from a stored string ("\Seen kw"); NULL stays NULL. */
char *engine_flags_canon_str(const char *s);

/* engine-retry.c */
enum engine_fault {
	ENGINE_FAULT_NONE,
	ENGINE_FAULT_PERMANENT, /* fail the user */
	ENGINE_FAULT_RETRY,	/* reconnect with backoff, within the budget */
	ENGINE_FAULT_THROTTLE,	/* the server asks us to slow down */
	ENGINE_FAULT_QUOTA,	/* the target is full: stop the user at once */
};
/* Classify a failure; *suggested_ms (may be NULL) gets the server's
 * suggested backoff, or -1. */
enum engine_fault engine_fault_of(int rc, const char *msg, int64_t *suggested_ms);
/* How long to wait before the next attempt after fault. */
int64_t engine_retry_delay_ms(struct engine_job *job, enum engine_fault fault,
			      int64_t suggested_ms);
/* Rewrite err as "target mailbox is over quota: <words>". */
void engine_quota_error(struct mf_error *err);

/* engine-scan.c */
/* Load the user's skipped items into job->skipped. */
int engine_skipped_load(struct engine_job *job, struct mf_error *err);
/* List plan folder i into job->todo[i], counting totals on the first
 * listing. known: the folder's state when already asked for
 * (folder_states), else NULL. 0, or a driver / store code with err. */
int engine_folder_scan(struct engine_job *job, size_t i, const struct mbx_folder_state *known,
		       struct mf_error *err);
/* List the source messages of plan folder fi from from_uid against the
 * map and the skipped items into job->todo[fi] (counting totals when
 * first); *listed_r (may be NULL) counts every message listed. */
int engine_scan_list(struct engine_job *job, size_t fi, uint32_t from_uid, bool first,
		     uint32_t *listed_r, struct mf_error *err);
/* Whether (source folder, uid) is a recorded skipped item. */
bool engine_skipped_has(struct engine_job *job, const char *folder, uint32_t uid);
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

/* engine-pass.c */
/* Move the users a pass runs into its queue status (and those a dead
 * process left active back); *queued_r counts them, *total_r all users. */
int engine_pass_queue(struct engine_run *run, struct store *st, int64_t *queued_r,
		      int64_t *total_r, struct mf_error *err);
/* The batch's status once no worker runs a user; *status_r (may be NULL)
 * gets it. Records it, with an event and the batch_finished callback. */
int engine_pass_end(struct engine_run *run, struct store *st, enum store_batch_status *status_r,
		    struct mf_error *err);
/* The user's status at the end of its job, with what goes with it
 * (attempts, next_attempt_at, last_sync_at) set in job->u.stats. */
enum store_user_status engine_pass_user_end(struct engine_job *job, int rc, struct mf_error *err,
					    const char **msg_r);
/* Stop a batch no process runs: its users (Queued, Syncing -> Stopped;
 * IncrementalSyncing, Completing -> Synced) and itself (Stopped). */
int engine_batch_stop_now(struct store *st, int64_t batch_id, struct mf_error *err);
/* Users in a pass's active status that no run holds back to the queue. */
int engine_users_release(struct store *st, int64_t batch_id, struct mf_error *err);

/* engine-batch.c */
/* Load the batch, its endpoints and filters into run (engine_batch_run's
 * checks). */
int engine_batch_load(struct engine_run *run, struct store *st, const char *name,
		      struct mf_error *err);
struct engine_run *engine_run_new(const char *data_dir, const struct engine_opts *o);
void engine_run_free(struct engine_run *run);
void engine_run_stop(struct engine_run *run);
/* <data_dir>/run/batch-<id>.lock: the fd, or -1 with err (MF_EBUSY while
 * another process runs the batch). */
int engine_lock(const char *data_dir, const struct store_batch *b, struct mf_error *err);
void engine_unlock(int fd);

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
 * transaction (before a chunk is fetched); names (may be NULL) are the
 * target names reserved for them (recorded as their location). */
int engine_flush_intents(struct engine_job *job, bool stats, const struct engine_todo *t,
			 size_t pos, size_t n, char *const *names);
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
