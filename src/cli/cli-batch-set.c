/* cli-batch-set.c: `batch set NAME [OPTIONS]` (Set-MigrationBatch): change
 * the schedule options and item limits of an existing batch; and the
 * mapping of those options onto a batch's stored options, which `batch
 * new` shares.
 *
 * The read and the write are one transaction (BEGIN IMMEDIATE), so a run
 * that changes the batch's status meanwhile is never overwritten with a
 * stale one. A new --incremental-interval also moves the next incremental
 * sync of the Synced and IncrementalFailed users to now + the interval
 * (their next_attempt_at was computed with the old one); users a worker
 * holds are not touched (they are in another status) and get the new
 * interval when they end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli-cmd.h"
#include "cli-output.h"
#include "store/store-batch.h"
#include "util/buf.h"
#include "util/mftime.h"

void cli_batch_apply_options(const struct cli_opts *o, struct store_batch_options *opt)
{
	const struct cli_batch_args *a = &o->b;

	if (a->bad_item_limit_given)
		opt->bad_item_limit = a->bad_item_limit < 0 ? STORE_LIMIT_UNLIMITED
							    : a->bad_item_limit;
	if (a->large_item_limit_given)
		opt->large_item_limit = a->large_item_limit < 0 ? STORE_LIMIT_UNLIMITED
								: a->large_item_limit;
	if (a->incremental_interval > 0)
		opt->incremental_interval = a->incremental_interval;
	if (a->connections_per_user > 0)
		opt->connections_per_user = a->connections_per_user;
	if (a->sync_deletes != CLI_TRI_UNSET)
		opt->sync_deletes = a->sync_deletes == CLI_TRI_ON;
	if (a->auto_complete != CLI_TRI_UNSET)
		opt->auto_complete = a->auto_complete == CLI_TRI_ON;
	if (a->start_after != 0)
		opt->start_after = a->start_after < 0 ? 0 : a->start_after;
	if (a->complete_after != 0)
		opt->complete_after = a->complete_after < 0 ? 0 : a->complete_after;
}

static void put_time(struct buf *b, const char *what, long long t)
{
	char when[32];

	if (t < 0) {
		buf_printf(b, ", %s none", what);
		return;
	}
	mf_time_rfc3339((time_t)t, when);
	buf_printf(b, ", %s %s", what, when);
}

static void put_limit(struct buf *b, const char *what, long long v)
{
	if (v < 0)
		buf_printf(b, ", %s unlimited", what);
	else
		buf_printf(b, ", %s %lld", what, v);
}

/* The event: what the line changed, in the option names. */
static char *describe(const struct cli_batch_args *a)
{
	struct buf b = BUF_INIT;
	char d[32];

	buf_puts(&b, "batch set");
	if (a->incremental_interval > 0) {
		cli_fmt_duration(a->incremental_interval, d);
		buf_printf(&b, ", --incremental-interval %s", d);
	}
	if (a->connections_per_user > 0)
		buf_printf(&b, ", --connections-per-user %d", a->connections_per_user);
	if (a->sync_deletes != CLI_TRI_UNSET)
		buf_puts(&b, a->sync_deletes == CLI_TRI_ON ? ", --sync-deletes"
							    : ", --no-sync-deletes");
	if (a->auto_complete != CLI_TRI_UNSET)
		buf_puts(&b, a->auto_complete == CLI_TRI_ON ? ", --auto-complete"
							     : ", --no-auto-complete");
	if (a->start_after != 0)
		put_time(&b, "--start-after", a->start_after);
	if (a->complete_after != 0)
		put_time(&b, "--complete-after", a->complete_after);
	if (a->bad_item_limit_given)
		put_limit(&b, "--bad-item-limit", a->bad_item_limit);
	if (a->large_item_limit_given)
		put_limit(&b, "--large-item-limit", a->large_item_limit);
	return buf_steal(&b);
}

/* Inside the transaction: read, change, write, reschedule. */
static int change(const struct cli_opts *o, struct store *st, struct store_batch *b,
		  struct mf_error *err)
{
	int64_t next = (int64_t)time(NULL) + o->b.incremental_interval;
	char *ev;
	int rc;

	rc = store_batch_get(st, o->name, b, err);
	if (rc != 0)
		return rc;
	if (b->status == STORE_BATCH_REMOVING)
		return mf_error_set(err, MF_EBUSY, "batch %s is being removed", b->name);
	cli_batch_apply_options(o, &b->opt);
	rc = store_batch_update(st, b, err);
	if (rc == 0 && o->b.incremental_interval > 0)
		rc = store_user_move_all(st, b->id, STORE_USER_SYNCED, STORE_USER_SYNCED, next,
					 false, NULL, err);
	if (rc == 0 && o->b.incremental_interval > 0)
		rc = store_user_move_all(st, b->id, STORE_USER_INCREMENTAL_FAILED,
					 STORE_USER_INCREMENTAL_FAILED, next, false, NULL, err);
	if (rc != 0)
		return rc;
	ev = describe(&o->b);
	rc = store_event_add(st, b->id, 0, STORE_EVENT_INFO, ev, err);
	free(ev);
	return rc;
}

int cli_batch_set(const struct cli_opts *o)
{
	int64_t counts[STORE_USER_NSTATUS] = { 0 };
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	json_t *j;
	int rc = cli_store_open(o, &st);

	if (rc != 0)
		return rc;
	rc = store_begin(st, &err);
	if (rc == 0) {
		rc = change(o, st, &b, &err);
		if (rc == 0)
			rc = store_commit(st, &err); /* a failed commit has rolled back */
		else
			store_rollback(st);
	}
	if (rc == 0)
		rc = store_batch_user_counts(st, b.id, counts, &err);
	if (rc == MF_ENOTFOUND) {
		cli_error("no batch named '%s'", o->name);
		rc = CLI_EXIT_NOTFOUND;
	} else if (rc != 0) {
		cli_error("%s%s", err.msg, rc == MF_EBUSY ? "; nothing was changed" : "");
		rc = cli_exit_for(rc);
	} else {
		j = cli_batch_json(&b, counts);
		if (o->json)
			cli_print_json(stdout, j);
		else
			cli_print_batch(stdout, j);
		json_decref(j);
	}
	store_batch_clear(&b);
	store_close(&st);
	return rc;
}
