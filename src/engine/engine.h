/* engine.h: running a migration batch.
 *
 * engine_batch_run() runs a batch in the calling thread until every user
 * has ended (Synced, Failed, Stopped) or a stop was requested. Work is one
 * job per migration user, run by worker threads (pthreads), at most the
 * source endpoint's MaxConcurrentMigrations (and the target endpoint's,
 * when it has one) and never more than the users to run. Each worker has
 * its own store handle on the same data directory (a struct store is
 * single-threaded) and claims Queued users with store_user_claim().
 *
 * The statuses and what moves them are in docs/batch-states.md. In short:
 *   batch Created|Stopped|Failed|Synced* -> Syncing -> Synced |
 *         SyncedWithErrors (a user Failed, or skipped items) | Failed (every
 *         user Failed) | Stopped (engine_batch_request_stop());
 *   user  Queued -> Syncing -> Synced | Failed | Stopped, or back to Queued
 *         with a next attempt time when the source (or an IMAP target) is
 *         unreachable.
 *
 * One user's job (engine-user.c, engine-scan.c, engine-copy.c):
 *   - Source: the source endpoint with the user's UserName/Password, or
 *     the endpoint's admin impersonating the user when the user has no
 *     password. Target: the local store, <data_dir>/mailstore/<address>
 *     (the address as stored), or an IMAP target endpoint with
 *     TargetUserName/TargetPassword, or its admin impersonating the user
 *     (TargetUserName, else the address). Plaintext passwords exist only
 *     while a connection is opened. UserRoot is not used yet (the IMAP
 *     driver has no folder root option).
 *   - Bad credentials (MF_EAUTH) and other permanent failures fail the user
 *     at once, with the server's words. An unreachable server (DNS,
 *     connect, timeout, closed, a NO greeting) sends the user back to
 *     Queued with next_attempt_at = now + backoff (base * 2^(attempts-1),
 *     capped, +-20% jitter); after max_attempts attempts it is Failed.
 *   - Folders: include/exclude lists (engine-folders.h), special-use
 *     folders mapped onto the target's own, target folders created with
 *     their subscription.
 *   - Messages: all folders are listed first (so the totals and percentage
 *     are right from the start); what the message map holds as done, what
 *     is recorded as skipped, and what INTERNALDATE puts before
 *     --received-after are left out. The rest is fetched in chunks and
 *     streamed into target appends, never held whole in memory.
 *   - A message the target refuses is a skipped item ("bad", or "large"
 *     for a size refusal or --max-message-size), recorded once; exceeding
 *     BadItemLimit / LargeItemLimit fails the user with
 *     "BadItemLimit of 0 exceeded: 1 item skipped (see 'mailferry user
 *     show X --skipped-items')".
 *   - A connection lost mid-folder is reopened and the folder resumed from
 *     the message map, up to reconnect_budget times per run; then Failed.
 *
 * Crash safety (message map): the intents of a whole fetch chunk are
 * committed in one short transaction before the chunk's fetch starts, so
 * every append's intent is durable before its first byte reaches the
 * target. Confirmations are buffered and committed every 200 messages or
 * second, at each chunk boundary and at the end. No transaction is held
 * open across network or disk I/O (writers of other workers would wait).
 * A crash leaves intents whose appends may or may not have landed; at the
 * start of a user's next run they are settled (engine-scan.c
 * engine_intents_settle(): today they are forgotten and the messages
 * copied again, which may duplicate a message whose append completed just
 * before the crash; reconciliation against the target replaces this in
 * the incremental-sync work).
 *
 * A batch is run by one process at a time: engine_batch_run() holds an
 * exclusive lock (flock) on <data_dir>/run/batch-<id>.lock, and refuses a
 * batch that another process runs (MF_EBUSY).
 */
#ifndef MF_ENGINE_H
#define MF_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "drivers/driver.h"
#include "store/store-batch.h"
#include "store/store.h"
#include "util/mf-error.h"

/* ---- progress --------------------------------------------------------- */

/* A snapshot of one user's progress; valid during the callback only. */
struct engine_progress {
	const char *batch_name;
	const char *email_address;
	int64_t user_id;
	int64_t total_items; /* TotalItemsInSourceMailboxCount (see below) */
	int64_t synced_items;
	int64_t skipped_items;
	int64_t total_bytes; /* of the messages to copy, once listed */
	int64_t bytes_transferred;
	int percent;		    /* PercentageComplete, engine_percent() */
	double rate;		    /* bytes per second over the last ~10 s */
	const char *current_folder; /* may be NULL */
};

/* Called from the worker threads, several at once: the callee locks what
 * it shares (the CLI's terminal). A callback must not call back into the
 * engine or use the caller's store handle. Any member may be NULL.
 *   user_started:  a user was claimed (Queued -> Syncing);
 *   user_progress: at most every progress_interval_ms per user, and after
 *                  each folder;
 *   user_finished: the user's run ended in status (Synced, Failed,
 *                  Stopped, or Queued when it will be retried at
 *                  next_attempt_at); error is NULL or one line;
 *   batch_finished: from the thread that called engine_batch_run(), once,
 *                  with the batch's final status and user counts. */
struct engine_progress_cb {
	void (*user_started)(void *ctx, const struct engine_progress *p);
	void (*user_progress)(void *ctx, const struct engine_progress *p);
	void (*user_finished)(void *ctx, const struct engine_progress *p,
			      enum store_user_status status, const char *error,
			      int64_t next_attempt_at);
	void (*batch_finished)(void *ctx, const char *batch_name, enum store_batch_status status,
			       const int64_t counts[STORE_USER_NSTATUS]);
	void *ctx;
};

/* ---- opening mailboxes ------------------------------------------------ */

enum engine_side {
	ENGINE_SOURCE,
	ENGINE_TARGET,
};

/* Everything needed to open one side of one user's migration. Strings are
 * valid during the open call only; passwords are plaintext, wiped after. */
struct engine_account {
	enum engine_side side;
	const struct store_endpoint *ep; /* NULL: the local store */
	const char *email_address;
	const char *login;	    /* who to log in as, or to impersonate */
	const char *password;	    /* NULL: impersonation with admin_password */
	const char *admin_password; /* NULL unless impersonating */
	const char *maildir_root;   /* local store: the user's Maildir++ root */
	int io_timeout_ms;
	FILE *trace;
};

/* Open a mailbox for a. Returns 0 and *m_r, or a negative MF_E* code; the
 * code decides what happens to the user (see above). */
typedef int engine_open_fn(void *ctx, const struct engine_account *a, struct mbx **m_r,
			   struct mf_error *err);

/* The real opener: maildir_open() for the local store, imap_mbx_open()
 * for an "imap" endpoint; MF_EUNSUPPORTED for other endpoint types. */
int engine_open_default(const struct engine_account *a, struct mbx **m_r, struct mf_error *err);

/* ---- running a batch -------------------------------------------------- */

/* Zero means "the default" for every number. */
struct engine_opts {
	const char *key_file;	  /* for the workers' store handles; NULL: default */
	int max_workers;	  /* cap on threads; 0: the endpoints' limits */
	bool no_wait;		  /* return when no user is due now, leaving
				   * users Queued for a later attempt (and the
				   * batch Syncing); default: wait for them */
	bool resync;		  /* also run users that are Synced (a pass
				   * that copies only what the map lacks) */
	int backoff_base_ms;	  /* unreachable: first delay, default 30000 */
	int backoff_max_ms;	  /* cap, default 3600000 */
	int max_attempts;	  /* unreachable attempts before Failed, default 6 */
	int reconnect_budget;	  /* reconnects per user run, default 5; <0: none */
	int reconnect_delay_ms;	  /* before reconnect n: n * this, default 1000 */
	unsigned fetch_chunk;	  /* UIDs per fetch, default 100 */
	int stats_interval_ms;	  /* statistics to the store, default 2000 */
	int progress_interval_ms; /* user_progress calls, default 500 */
	int io_timeout_ms;	  /* IMAP I/O timeout, default 30000 */
	FILE *trace;		  /* IMAP protocol trace (redacted), or NULL */
	const struct engine_progress_cb *progress; /* NULL: none */
	/* Set (non-zero) by a signal handler to stop the batch as
	 * engine_batch_request_stop() would; read every 0.2 s. NULL: none. */
	const volatile sig_atomic_t *interrupt;
	engine_open_fn *open; /* NULL: engine_open_default */
	void *open_ctx;
};

/* Run the batch batch_name (see the top of this file). st is the caller's
 * handle, used by this thread only; data_dir is the directory st was
 * opened on (NULL: store_default_data_dir()); o may be NULL.
 *
 * Users in Queued, Failed and Stopped (and, with o->resync, Synced) are
 * run; users found Syncing (left by a crashed run) are run again; users
 * whose attempts count was exhausted start counting again.
 *
 * Returns 0 when the batch ran (whatever its users' fate: see the batch's
 * status), or: MF_ENOTFOUND (no such batch or endpoint), MF_EBUSY (another
 * process runs it, or it is being removed), MF_EINVAL (bad folder lists in
 * the batch's options, no users), MF_EUNSUPPORTED (endpoint type), MF_EIO
 * (store). */
int engine_batch_run(struct store *st, const char *data_dir, const char *batch_name,
		     const struct engine_opts *o, struct mf_error *err);

/* Ask a running batch to stop. When a process runs it (its lock is held),
 * the status becomes Stopping: the workers end each user as Stopped after
 * their in-flight appends are reported and recorded, leave Queued users
 * Stopped, and set the batch Stopped. When no process runs it, its Queued
 * and Syncing users and the batch become Stopped at once. A batch already
 * Stopping or Stopped: 0. Created, Synced, Failed...: MF_EINVAL ("batch X
 * is not running (Synced)"). MF_ENOTFOUND, MF_EIO. data_dir as above. */
int engine_batch_request_stop(struct store *st, const char *data_dir, const char *batch_name,
			      struct mf_error *err);

/* ---- statistics ------------------------------------------------------- */

/* PercentageComplete: (synced + skipped) * 100 / total, 0-100; 100 when
 * total is 0 and the user is Synced (or Completed).
 *
 * The statistics (store_user_stats), kept by the engine:
 *   total_items   TotalItemsInSourceMailboxCount: the messages of the
 *                 included folders that pass --received-after, counted as
 *                 every folder is listed at the start of each run (before
 *                 any copying, so it is complete early);
 *   synced_items  of those, the ones the message map holds as copied;
 *   skipped_items every skipped item recorded for the user (bad + large);
 *   total_bytes   the listed sizes of the messages counted in total_items;
 *   bytes_transferred  bytes streamed into target appends, over all runs;
 *   transient_errors   reconnects, over all runs;
 *   started_at / ended_at  of the latest run; last_sync_at: its end when
 *                 Synced; last_error: why it Failed or was Queued again;
 *   current_folder while Syncing; attempts / next_attempt_at: backoff.
 * They are written every stats_interval_ms, after each folder and at the
 * end; rate (bytes/s over ~10 s) is only reported to the progress
 * callbacks. */
int engine_percent(const struct store_user_stats *s, enum store_user_status status);

#endif
