/* cli-batch-run.c: `batch start NAME --wait` (and `batch new --auto-start`):
 * the batch runs in this process, in the foreground, with a progress
 * display, until every user has ended or a stop was asked for.
 *
 * `batch complete NAME --wait` runs the final sync the same way.
 *
 * Ctrl-C: SIGINT and SIGTERM go to the signal watcher (cli-signal.h),
 * whose thread asks for the stop like `batch stop` from another shell
 * would (engine_batch_request_stop() on its own store handle): the engine
 * sees Stopping within 0.2 s and ends each user cleanly. A second signal
 * quits at once (exit 130); the message map makes that safe to resume.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "cli-cmd.h"
#include "cli-output.h"
#include "cli-progress.h"
#include "cli-signal.h"
#include "engine/engine.h"
#include "store/store-batch.h"
#include "util/xmalloc.h"

static engine_open_fn *cli_test_open;
static void *cli_test_open_ctx;

void cli_batch_set_test_opener(engine_open_fn *open, void *ctx)
{
	cli_test_open = open;
	cli_test_open_ctx = ctx;
}

/* ---- the stopper ------------------------------------------------------------ */

struct stopper {
	const char *data_dir; /* foreign */
	const char *key_file; /* foreign */
	const char *batch;    /* foreign */
	struct cli_progress *progress;
};

/* In the watcher thread: the first signal asks for the stop as `batch
 * stop` from another shell would; the second quits at once. */
static void stopper_signal(void *ctx, int n)
{
	struct stopper *s = ctx;
	struct mf_error err = { 0 };
	struct store *st = NULL;

	if (n > 1) {
		cli_progress_end(s->progress);
		fputs("mailferry: quitting at once; start the batch again to resume it\n", stderr);
		_exit(CLI_EXIT_INTERRUPTED);
	}
	cli_progress_stopping(s->progress);
	cli_progress_note(s->progress, "stopping batch %s: finishing the messages in flight "
			  "(press Ctrl-C again to quit at once)", s->batch);
	if (store_open(s->data_dir, s->key_file, &st, &err) == 0)
		engine_batch_request_stop(st, s->data_dir, s->batch, &err);
	store_close(&st);
	if (err.code != 0)
		cli_progress_note(s->progress, "cannot stop batch %s: %s", s->batch, err.msg);
}

/* ---- the run ------------------------------------------------------------------- */

int cli_run_refused(int rc, const struct mf_error *err)
{
	cli_error("%s", err->msg);
	switch (rc) {
	case MF_ENOTFOUND: return CLI_EXIT_NOTFOUND;
	case MF_EBUSY:
	case MF_EINVAL: return CLI_EXIT_CONFLICT; /* busy, or a status that refuses */
	case MF_EUNSUPPORTED: return CLI_EXIT_UNSUPPORTED;
	case MF_EIO: return CLI_EXIT_STATE;
	default: return CLI_EXIT_FAIL;
	}
}

/* The report of the batch as it is now (--json). */
static int print_report(struct store *st, const char *name)
{
	struct store_batch b = { 0 };
	struct store_user *us = NULL;
	struct mf_error err = { 0 };
	size_t n = 0;
	int rc = store_batch_get(st, name, &b, &err);

	if (rc == 0)
		rc = store_user_list(st, b.id, &us, &n, &err);
	if (rc == 0) {
		json_t *j = cli_report_json(&b, us, n);

		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		cli_error("%s", err.msg);
	}
	store_user_list_free(&us, n);
	store_batch_clear(&b);
	return rc == 0 ? 0 : cli_exit_for(rc);
}

static void term_size(int *w, int *h)
{
	struct winsize ws;

	*w = 80;
	*h = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		*w = ws.ws_col;
		*h = ws.ws_row;
	}
}

void cli_engine_tuning(const struct cli_opts *o, struct engine_opts *eo)
{
	eo->io_timeout_ms = o->tune.io_timeout_ms;
	eo->retry_max_ms = o->tune.retry_max_ms;
	eo->reconnect_budget = o->tune.reconnects;
	eo->throttle_budget = o->tune.throttle_budget;
	eo->open = cli_test_open;
	eo->open_ctx = cli_test_open_ctx;
}

/* The first line: which pass runs, for how many of the users (what the
 * engine will run: docs/batch-states.md). */
static void begin_line(struct cli_progress *p, struct store *st, const char *name,
		       bool complete)
{
	const int64_t *c;
	int64_t counts[STORE_USER_NSTATUS], all = 0, initial;
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	bool synced;

	if (store_batch_get(st, name, &b, &err) != 0 ||
	    store_batch_user_counts(st, b.id, counts, &err) != 0) {
		store_batch_clear(&b);
		return;
	}
	c = counts;
	for (int i = 0; i < STORE_USER_NSTATUS; i++)
		all += c[i];
	initial = c[STORE_USER_QUEUED] + c[STORE_USER_SYNCING] + c[STORE_USER_FAILED] +
		  c[STORE_USER_STOPPED];
	synced = b.status == STORE_BATCH_SYNCED || b.status == STORE_BATCH_SYNCED_WITH_ERRORS ||
		 b.status == STORE_BATCH_INCREMENTAL_SYNCING;
	if (complete)
		cli_progress_begin_pass(p, name, "completion started",
					c[STORE_USER_SYNCED] + c[STORE_USER_INCREMENTAL_FAILED] +
					c[STORE_USER_INCREMENTAL_SYNCING] +
					c[STORE_USER_COMPLETING] +
					c[STORE_USER_COMPLETION_FAILED], all);
	else if (synced && initial == 0)
		cli_progress_begin_pass(p, name, "incremental sync started",
					c[STORE_USER_SYNCED] + c[STORE_USER_INCREMENTAL_FAILED] +
					c[STORE_USER_INCREMENTAL_SYNCING], all);
	else
		cli_progress_begin(p, name, initial, all);
	store_batch_clear(&b);
}

int cli_batch_run_wait(const struct cli_opts *o, struct store *st, const char *name,
		       bool complete)
{
	char *dir = store_default_data_dir(o->data_dir);
	char *key = store_default_key_file(dir);
	struct engine_opts eo = { 0 };
	struct engine_progress_cb cb;
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	struct stopper stop = { 0 };
	struct cli_sigwatch watch;
	struct cli_progress *p;
	int w, h, rc;
	bool live = !o->json && isatty(STDOUT_FILENO);

	term_size(&w, &h);
	p = cli_progress_new(stdout, live, w, h);
	cb = cli_progress_callbacks(p);
	cli_engine_tuning(o, &eo);
	eo.key_file = key;
	eo.trace = o->trace ? stderr : NULL;
	eo.progress = o->json ? NULL : &cb;
	if (!o->json)
		begin_line(p, st, name, complete);

	stop.data_dir = dir;
	stop.key_file = key;
	stop.batch = name;
	stop.progress = p;
	cli_sigwatch_start(&watch, stopper_signal, &stop);
	if (complete)
		rc = engine_batch_complete(st, dir, name, &eo, &err);
	else
		rc = engine_batch_run(st, dir, name, &eo, &err);
	cli_sigwatch_end(&watch);
	cli_progress_end(p);
	cli_progress_free(&p);

	if (rc != 0) {
		/* refused (busy, status, unsupported...), or a worker could not work */
		rc = cli_run_refused(rc, &err);
		goto out;
	}
	if (store_batch_get(st, name, &b, &err) != 0) {
		rc = cli_run_refused(err.code, &err);
		goto out;
	}
	if (o->json && print_report(st, name) != 0) {
		rc = CLI_EXIT_STATE;
		goto out;
	}
	/* start: Synced, or Completed by --auto-complete; complete: Completed */
	rc = b.status == STORE_BATCH_COMPLETED || (!complete && b.status == STORE_BATCH_SYNCED)
		     ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	if (!o->json && rc != CLI_EXIT_OK) {
		if (o->cmdlet != NULL)
			printf("See 'mailferry Get-MigrationUser -BatchId %s' for each user.\n", name);
		else
			printf("See 'mailferry batch report %s' for each user.\n", name);
	}
out:
	store_batch_clear(&b);
	free(key);
	free(dir);
	return rc;
}
