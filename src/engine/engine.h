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
 *     while a connection is opened. A user's UserRoot goes to the source
 *     (imap_mbx_opts.user_root): the user's folders are those below it,
 *     the root itself (or root/INBOX) is INBOX.
 *   - IMAP targets get consecutive messages of a folder in MULTIAPPEND
 *     commands when they offer it (unless no_multiappend); the messages
 *     of a refused one are appended again one by one at the end of the
 *     folder, so that only the one the target minds is skipped.
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
 *     for a size refusal or --max-message-size), recorded once with its
 *     folder, date, Subject (raw, unfolded; a message over
 *     --max-message-size is never fetched: its Subject is read from its
 *     header alone, peek_header), size and reason; exceeding
 *     BadItemLimit / LargeItemLimit fails the user with
 *     "BadItemLimit of 0 exceeded: 1 item skipped (see 'mailferry user
 *     show X --skipped-items')".
 *   - A connection lost mid-folder is reopened and the folder resumed from
 *     the message map, up to reconnect_budget times per run; then Failed.
 *     A source lost in the middle of a message gives the IMAP target's
 *     connection up too (a literal cannot be cut short), after reading
 *     the answers to what was sent before it, so that only the appends of
 *     the abandoned command are left to settle and copy again.
 *
 * Crash safety (message map; docs/batch-states.md tells it for users):
 *   1. Intent before the first byte: the intents of a whole fetch chunk
 *      are committed in one short transaction before the chunk's fetch
 *      starts. A target that names messages itself before they exist
 *      (maildir: reserve_name) has each intent record that name as its
 *      location, and the append uses it (append_begin_named).
 *      An IMAP target tells when an append is sealed: right before the
 *      final CRLF of its APPEND command, after which the server may store
 *      it even if we die, and before which it cannot (driver.h,
 *      mbx_append_sealed_fn). The intents of a sealed command get their
 *      SHA-256 (committed before the CRLF goes). At most a few commands'
 *      sealed messages are unanswered at a time per connection
 *      (IMAP_MBX_SEALED_COMMANDS of multiappend_max: the next command's
 *      CRLF waits for answers), so a crash leaves no more than that to
 *      land after it.
 *   2. Confirmation after the target said so: an append reported rc 0 (the
 *      file fsynced and renamed into cur/, the directory fsynced; the IMAP
 *      server's tagged OK) is confirmed with where it landed (APPENDUID,
 *      file name), its size, SHA-256 and flags. Confirmations are buffered
 *      and committed every 200 messages or second, at each chunk boundary
 *      and at the end; a refusal forgets its intent with the skipped item.
 *      No transaction is held open across network or disk I/O.
 *   3. Settling, at the start of each user's run and after each reconnect
 *      (engine_intents_settle), once both sides are open: every intent left
 *      becomes confirmed (landed) or forgotten (not landed; copied again):
 *        - with a reserved name (maildir): landed when cur/ or new/ holds a
 *          file of that name; a partial file in tmp/ is removed;
 *        - otherwise (IMAP): sealed intents first, in UID order. The
 *          source message is fetched again (streamed, hashed; its
 *          Message-ID kept; the sealed hash serves when the source lost
 *          it), and the target's candidates of that size (narrowed by
 *          Message-ID) are fetched and hashed: one with the same SHA-256
 *          that no other map row claims is the landed copy (confirmed with
 *          its UID); an intent whose twin (same bytes, lower UID) is still
 *          open waits for it. A sealed intent not found may still land: a
 *          server works through what a dead process sent after the new
 *          run has started (Dovecot: ~0.1 s for a MULTIAPPEND of 100). It
 *          is waited for, the folder watched (EXAMINE: UIDNEXT, count)
 *          every 0.1 s and searched again after each change, until it is
 *          there or the folder stays still for 3 s (io_timeout_ms at
 *          most); then forgotten (a reset connection lost it). Then the
 *          intents never sealed, which cannot have landed unless an
 *          older version wrote them: a size search (UID SEARCH
 *          LARGER/SMALLER), none there: forgotten; else by content as
 *          above, taking only what no sealed intent claimed. A source
 *          message that is gone: forgotten. A target without
 *          find_message: forgotten (the old behaviour; may duplicate).
 *      So a kill -9 at any instant yields neither a loss (an intent is
 *      never dropped without looking) nor a duplicate (a landed message is
 *      found by name or content, a sealed one waited for). Limits: a
 *      target that rewrites messages (line endings) defeats the hash; such
 *      a message is copied again. A server that stores a sealed command
 *      more than 3 s after everything else it was sent would get it
 *      twice.
 *
 * Incremental sync (a user whose last run ended Synced; engine-incr.c):
 * per folder, EXAMINE gives UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, count.
 *   - New messages: when UIDNEXT moved past the highest UID handled, the
 *     messages above it are listed and copied like in the first sync.
 *   - Flags: with CONDSTORE, nothing when HIGHESTMODSEQ did not move, else
 *     UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE n); without it, one
 *     UID FETCH 1:* (UID FLAGS) compared in memory with the folder's map
 *     (loaded in one query). A message whose flags differ from the map's is
 *     changed on the target (set_flags) and in the map. A target without
 *     set_flags, or a message whose target UID is unknown (no UIDPLUS),
 *     keeps its flags (one warning event per run).
 *   - Deletions at the source stay on the target, unless the batch has
 *     sync_deletes: then messages of the map that the source no longer
 *     lists are expunged on the target (expunge) and forgotten. With
 *     CONDSTORE the full listing is only read when the message count says
 *     something went.
 *   A no-op pass of a 10,000-message folder costs an EXAMINE (CONDSTORE),
 *   or an EXAMINE and one UID FETCH (UID FLAGS) and one map query.
 * UIDVALIDITY change at the source (engine-recover.c): the map rows of the
 * old UIDVALIDITY are matched against the folder's messages by size, then
 * SHA-256 (the candidates fetched, streamed): matches are re-keyed, the
 * rest copied. A folder renamed at the source (a new name the map does
 * not know, an old name the source no longer lists, the same UIDVALIDITY
 * and most UIDs with the same sizes) takes over the old state; its target
 * folder is renamed too (rename_folder) when the target has the old name
 * and not the new one, else it is copied again.
 *
 * Faults and throttling (engine-retry.c): after the run began, a lost
 * connection, a stall (no byte for io_timeout_ms) or a BYE is retried:
 * both sides are reopened after base * 2^(n-1) ms (reconnect_delay_ms,
 * capped at retry_max_ms, +-20% jitter), intents settled, the folder
 * listed again and resumed from the map; reconnect_budget times per run,
 * then Failed ("gave up after 5 reconnects: <reason>"). Throttling answers
 * ([UNAVAILABLE], [LIMIT], [INUSE], a BYE speaking of a limit or too many
 * connections, "Suggested Backoff Time: N milliseconds") wait what the
 * server suggests (capped at throttle_max_ms) or the backoff, and are
 * allowed throttle_budget times per run; a throttled APPEND is not a
 * skipped item. Throttling at the greeting or the LOGIN ("* BYE
 * [UNAVAILABLE] Maximum number of connections ...", "NO [UNAVAILABLE]
 * ... Suggested Backoff Time: 200 milliseconds") is retried the same
 * way, within the run; only once the budget is spent does the user go
 * back to the queue (the unreachable backoff). Each retry counts in
 * TransientErrorCount. A full target
 * ([OVERQUOTA], ENOSPC, EDQUOT) stops the user at once: Failed (or
 * IncrementalFailed / CompletionFailed) with "target mailbox is over
 * quota: <words>", after the appends in flight are answered and the
 * intents settled.
 *
 * A batch is run by one process at a time: engine_batch_run() holds an
 * exclusive lock (flock) on <data_dir>/run/batch-<id>.lock, and refuses a
 * batch that another process runs (MF_EBUSY). engine_serve() holds the
 * lock of each batch while it runs a pass of it; engine_batch_remove()
 * holds it while it deletes the batch.
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
	const char *user_root;	    /* source: the user's UserRoot, or NULL */
	bool no_multiappend;	    /* engine_opts.no_multiappend */
};

/* Open a mailbox for a. Returns 0 and *m_r, or a negative MF_E* code; the
 * code decides what happens to the user (see above). */
typedef int engine_open_fn(void *ctx, const struct engine_account *a, struct mbx **m_r,
			   struct mf_error *err);

/* The real opener: maildir_open() for the local store, imap_mbx_open()
 * for an "imap" endpoint; MF_EUNSUPPORTED for other endpoint types. */
int engine_open_default(const struct engine_account *a, struct mbx **m_r, struct mf_error *err);

/* ---- running a batch -------------------------------------------------- */

/* A user's folders are copied over this many source and as many target
 * connections at once (engine_opts.connections_per_user, the batch's
 * connections_per_user); each folder by one connection at a time. The
 * default stays 1 until tests/e2e/test_killnine.py's IMAP-target scenario
 * passes with more: its kill points are placed by literal counts of one
 * stream, and with 4 lanes its "points spread over the migration" check
 * fails (no loss was shown; see docs/performance.md). */
#define ENGINE_LANES_DEFAULT 4
#define ENGINE_LANES_MAX 16

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
	int reconnect_delay_ms;	  /* before reconnect n: this * 2^(n-1) (capped,
				   * jittered), default 1000 */
	unsigned fetch_chunk;	  /* UIDs per fetch, default 400 */
	int connections_per_user; /* source and target connections per user
				   * (folders copied in parallel); 0: the
				   * batch's, or ENGINE_LANES_DEFAULT; at most
				   * ENGINE_LANES_MAX */
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
	int retry_max_ms;     /* cap of the reconnect backoff, default 60000 */
	int throttle_budget;  /* throttling answers per user run, default 30;
			       * <0: none (the first one fails the user) */
	int throttle_max_ms;  /* cap of a suggested backoff, default 600000 */
	bool no_multiappend;  /* IMAP targets: one message per APPEND even
			       * when the server offers MULTIAPPEND (also set
			       * by a non-empty MAILFERRY_NO_MULTIAPPEND other
			       * than "0" in the environment) */
};

/* Run the batch batch_name (see the top of this file). st is the caller's
 * handle, used by this thread only; data_dir is the directory st was
 * opened on (NULL: store_default_data_dir()); o may be NULL.
 *
 * This is `batch start`. Users in Queued, Failed and Stopped (and, with
 * o->resync, Synced) are run; users found Syncing (left by a crashed run)
 * are run again; users whose attempts count was exhausted start counting
 * again. A Synced, SyncedWithErrors or IncrementalSyncing batch with none
 * of those users (and no resync) gets an incremental sync instead
 * (engine_batch_incremental).
 *
 * Returns 0 when the batch ran (whatever its users' fate: see the batch's
 * status), or: MF_ENOTFOUND (no such batch or endpoint), MF_EBUSY (another
 * process runs it, or it is being removed), MF_EINVAL (bad folder lists in
 * the batch's options, no users), MF_EUNSUPPORTED (endpoint type), MF_EIO
 * (store). */
int engine_batch_run(struct store *st, const char *data_dir, const char *batch_name,
		     const struct engine_opts *o, struct mf_error *err);

/* After the run, a batch that ended Synced or SyncedWithErrors with the
 * auto_complete option is completed at once (engine_batch_complete).
 * A Synced user is due for its next incremental sync at next_attempt_at
 * (its last sync + the batch's incremental_interval).
 *
 * engine_batch_incremental: an incremental sync of the batch now: its
 * Synced and IncrementalFailed users (and users a dead process left
 * IncrementalSyncing) are made due and run (Synced -> IncrementalSyncing
 * -> Synced, or IncrementalFailed with the reason); the batch is
 * IncrementalSyncing meanwhile, then Synced or SyncedWithErrors (a user
 * Failed or IncrementalFailed, or skipped items). Users that are Queued,
 * Failed or Stopped are not touched (engine_batch_run is for them). An
 * unreachable source keeps the user Synced with a backoff; after
 * max_attempts it is IncrementalFailed. Allowed for a batch that is
 * Synced, SyncedWithErrors or IncrementalSyncing (left by a crash);
 * otherwise MF_EINVAL ("batch X is Syncing"). Other returns as
 * engine_batch_run.
 *
 * engine_batch_complete (`batch complete`, Complete-MigrationBatch): a
 * final incremental sync of every Synced, IncrementalFailed and
 * CompletionFailed user (Completing -> Completed, or CompletionFailed),
 * the batch Completing meanwhile, then Completed, or CompletedWithErrors
 * when a user Failed or CompletionFailed or has skipped items. Unreachable
 * users wait (Synced, backoff) unless o->no_wait; then the batch stays
 * Completing and a later call (or serve) finishes it. Allowed for Synced,
 * SyncedWithErrors, IncrementalSyncing (not running), Completing (resumed)
 * and CompletedWithErrors (retrying CompletionFailed users); a batch with
 * users still Queued or Syncing, or Created / Stopped / Failed:
 * MF_EINVAL ("batch X is not synced yet (2 users Queued)"). */
int engine_batch_incremental(struct store *st, const char *data_dir, const char *batch_name,
			     const struct engine_opts *o, struct mf_error *err);
int engine_batch_complete(struct store *st, const char *data_dir, const char *batch_name,
			  const struct engine_opts *o, struct mf_error *err);

/* `batch start` / `batch complete` without --wait, for `mailferry serve` to
 * carry out: the same checks and the same queueing as engine_batch_run
 * (complete false) or engine_batch_complete (complete true), and the batch
 * is set Syncing, IncrementalSyncing or Completing; then it returns. serve
 * resumes a batch in those statuses. Returns as those functions. */
int engine_batch_enqueue(struct store *st, const char *data_dir, const char *batch_name,
			 bool complete, const struct engine_opts *o, struct mf_error *err);

/* Ask a running batch to stop. When a process runs it (its lock is held),
 * the status becomes Stopping: the workers end each user as Stopped after
 * their in-flight appends are reported and recorded, leave Queued users
 * Stopped, and set the batch Stopped. When no process runs it, its Queued
 * and Syncing users and the batch become Stopped at once. A batch already
 * Stopping or Stopped: 0. Created, Synced, Failed...: MF_EINVAL ("batch X
 * is not running (Synced)"). MF_ENOTFOUND, MF_EIO. data_dir as above. */
int engine_batch_request_stop(struct store *st, const char *data_dir, const char *batch_name,
			      struct mf_error *err);

/* `batch remove`: delete the batch with its users, folder state, message
 * map, skipped items and events (store_batch_delete), under the batch's
 * run lock, so that no `batch start` or serve pass can begin meanwhile.
 * The status becomes Removing first (a run that finds it so refuses the
 * batch; a failed delete leaves it Removing, and removing again finishes
 * it). Mail already copied stays where it landed. Returns 0, or:
 * MF_EBUSY when another process runs it ("batch X is running; stop it
 * first") or it is Syncing, Stopping, IncrementalSyncing or Completing
 * ("batch X is running (Syncing); stop it first"; a batch started without
 * --wait waits for serve in Syncing); MF_ENOTFOUND, MF_EIO. data_dir as
 * above. */
int engine_batch_remove(struct store *st, const char *data_dir, const char *batch_name,
			struct mf_error *err);

/* ---- mailferry serve ------------------------------------------------ */

/* Zero means "the default". */
struct engine_serve_opts {
	struct engine_opts run; /* for every pass (interrupt, no_wait and
				 * max_workers are ignored) */
	int tick_ms;		/* how often the store is looked at, default
				 * 1000 */
	bool once;		/* return as soon as nothing runs and nothing
				 * is due (tests, cron) */
};

/* The scheduler of `mailferry serve`: until *stop becomes non-zero (a
 * SIGTERM / SIGINT handler sets it; read every tick), over all batches:
 *   - a Created batch with auto_start, or whose start_after has come, is
 *     started (initial pass); a batch Syncing (started by `batch start`
 *     without --wait, or left by a crash) has its due Queued users run;
 *   - a Synced / SyncedWithErrors batch whose complete_after has come, or
 *     that has auto_complete, is completed (Completing); otherwise its
 *     Synced users whose next incremental sync is due (next_attempt_at,
 *     set to last sync + incremental_interval) run an incremental pass
 *     (the batch IncrementalSyncing meanwhile); IncrementalFailed users
 *     are retried at the same interval;
 *   - a Stopping batch stops (its users end Stopped).
 * Users run in two pools per endpoint, as Exchange does: initial syncs
 * count against the source (and IMAP target) endpoint's
 * MaxConcurrentMigrations, incremental syncs and completions against its
 * MaxConcurrentIncrementalSyncs (defaults 20 each), across all batches.
 * A batch being run by another process (its lock held) is left alone.
 * On stop, no new user starts; users in flight stop between messages
 * after their appends are answered and recorded and their intents
 * settled, and go back to their queue status (Queued, or Synced and due)
 * with the batch's status left as it was, so the next serve resumes them.
 * Returns 0 after a stop (or, with once, when idle); MF_EIO when the store
 * cannot be opened. */
int engine_serve(const char *data_dir, const struct engine_serve_opts *o,
		 volatile sig_atomic_t *stop, struct mf_error *err);

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
