/* cli-batch.c: the batch commands but `new` (cli-batch-new.c), `set`
 * (cli-batch-set.c) and the run itself (cli-batch-run.c): list, show,
 * start, complete, stop, remove, report. Without --wait, start and
 * complete queue the batch for `mailferry serve` (engine_batch_enqueue). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli-cmd.h"
#include "cli-output.h"
#include "engine/engine.h"
#include "store/store-batch.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define CLI_SHOW_EVENTS 10

/* Load the batch called name; prints why not. */
static int get_batch(struct store *st, const char *name, struct store_batch *b)
{
	struct mf_error err = { 0 };
	int rc = store_batch_get(st, name, b, &err);

	if (rc == MF_ENOTFOUND) {
		cli_error("no batch named '%s'", name);
		return CLI_EXIT_NOTFOUND;
	}
	if (rc < 0) {
		cli_error("%s", err.msg);
		return cli_exit_for(rc);
	}
	return 0;
}

static int failed(int rc, const struct mf_error *err)
{
	cli_error("%s", err->msg);
	return cli_exit_for(rc);
}

int cli_batch_list(const struct cli_opts *o)
{
	struct store_batch *bs = NULL;
	struct mf_error err = { 0 };
	struct store *st = NULL;
	int64_t *counts = NULL;
	size_t n = 0;
	int rc = cli_store_open(o, &st);

	if (rc != 0)
		return rc;
	rc = store_batch_list(st, &bs, &n, &err);
	if (rc == 0) {
		counts = xcalloc(n * STORE_USER_NSTATUS + 1, sizeof(*counts));
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = store_batch_user_counts(st, bs[i].id, counts + i * STORE_USER_NSTATUS,
						     &err);
	}
	if (rc != 0) {
		rc = failed(rc, &err);
	} else if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, cli_batch_json(&bs[i],
								  counts + i * STORE_USER_NSTATUS));
		cli_print_json(stdout, arr);
		json_decref(arr);
	} else {
		cli_print_batch_table(stdout, bs, counts, n);
	}
	free(counts);
	store_batch_list_free(&bs, n);
	store_close(&st);
	return rc;
}

int cli_batch_show(const struct cli_opts *o)
{
	int64_t counts[STORE_USER_NSTATUS] = { 0 };
	struct store_event *es = NULL;
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	size_t n = 0;
	json_t *j = NULL;
	int rc = cli_store_open(o, &st);

	if (rc == 0)
		rc = get_batch(st, o->name, &b);
	if (rc != 0)
		goto out;
	rc = store_batch_user_counts(st, b.id, counts, &err);
	if (rc == 0)
		rc = store_event_list(st, b.id, 0, CLI_SHOW_EVENTS, &es, &n, &err);
	if (rc != 0) {
		rc = failed(rc, &err);
		goto out;
	}
	j = cli_batch_json(&b, counts);
	if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, cli_event_json(&es[i]));
		json_object_set_new(j, "Events", arr);
		cli_print_json(stdout, j);
	} else {
		cli_print_batch(stdout, j);
		fputc('\n', stdout);
		if (n == 0) {
			fputs("No events.\n", stdout);
		} else {
			printf("Latest events:\n");
			cli_print_events(stdout, es, n);
		}
	}
out:
	json_decref(j);
	store_event_list_free(&es, n);
	store_batch_clear(&b);
	store_close(&st);
	return rc;
}

/* "2 Queued, 1 Synced" */
static char *counts_text(const int64_t counts[STORE_USER_NSTATUS])
{
	struct buf b = BUF_INIT;

	for (int i = 0; i < STORE_USER_NSTATUS; i++) {
		if (counts[i] > 0)
			buf_printf(&b, "%s%lld %s", b.len > 0 ? ", " : "", (long long)counts[i],
				   store_user_status_name((enum store_user_status)i));
	}
	if (b.len == 0)
		buf_puts(&b, "no users");
	return buf_steal(&b);
}

/* `batch start` / `batch complete` without --wait: queue the batch for
 * `mailferry serve` and say so. */
static int enqueue(const struct cli_opts *o, struct store *st, bool complete)
{
	int64_t counts[STORE_USER_NSTATUS] = { 0 };
	char *dir = store_default_data_dir(o->data_dir);
	char *key = store_default_key_file(dir);
	struct engine_opts eo = { 0 };
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	int rc;

	cli_engine_tuning(o, &eo);
	eo.key_file = key;
	rc = engine_batch_enqueue(st, dir, o->name, complete, &eo, &err);
	if (rc != 0) {
		rc = cli_run_refused(rc, &err);
		goto out;
	}
	rc = store_batch_get(st, o->name, &b, &err);
	if (rc == 0)
		rc = store_batch_user_counts(st, b.id, counts, &err);
	if (rc != 0) {
		rc = failed(rc, &err);
		goto out;
	}
	if (o->json) {
		json_t *j = cli_batch_json(&b, counts);

		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		char *users = counts_text(counts);

		printf("Batch '%s' is %s: queued for 'mailferry serve' (%s).\n", b.name,
		       store_batch_status_name(b.status), users);
		printf("'mailferry serve' must be running to carry it out; follow it with "
		       "'mailferry %s %s'.\n", o->cmdlet != NULL ? "Get-MigrationBatch" : "batch show",
		       b.name);
		free(users);
	}
out:
	store_batch_clear(&b);
	free(key);
	free(dir);
	return rc;
}

static int start_or_complete(const struct cli_opts *o, bool complete)
{
	struct store_batch b = { 0 };
	struct store *st = NULL;
	int rc = cli_store_open(o, &st);

	if (rc == 0)
		rc = get_batch(st, o->name, &b);
	if (rc == 0 && o->b.wait)
		rc = cli_batch_run_wait(o, st, o->name, complete);
	else if (rc == 0)
		rc = enqueue(o, st, complete);
	store_batch_clear(&b);
	store_close(&st);
	return rc;
}

int cli_batch_start(const struct cli_opts *o)
{
	return start_or_complete(o, false);
}

int cli_batch_complete(const struct cli_opts *o)
{
	return start_or_complete(o, true);
}

int cli_batch_stop(const struct cli_opts *o)
{
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	char *dir = store_default_data_dir(o->data_dir);
	int rc = cli_store_open(o, &st);

	if (rc == 0)
		rc = get_batch(st, o->name, &b);
	if (rc != 0)
		goto out;
	rc = engine_batch_request_stop(st, dir, o->name, &err);
	if (rc == MF_EINVAL) {
		/* "batch X is not running (Synced)" */
		cli_error("%s", err.msg);
		rc = CLI_EXIT_CONFLICT;
		goto out;
	}
	store_batch_clear(&b);
	if (rc == 0)
		rc = store_batch_get(st, o->name, &b, &err);
	if (rc != 0) {
		rc = failed(rc, &err);
		goto out;
	}
	if (o->json) {
		json_t *j = json_pack("{s:s, s:s}", "Name", b.name, "Status",
				      store_batch_status_name(b.status));

		cli_print_json(stdout, j);
		json_decref(j);
	} else if (b.status == STORE_BATCH_STOPPING) {
		printf("Stopping batch '%s': the process running it finishes the messages in "
		       "flight, then the batch is Stopped.\n", b.name);
	} else {
		printf("Stopped batch '%s'.\n", b.name);
	}
out:
	store_batch_clear(&b);
	store_close(&st);
	free(dir);
	return rc;
}

int cli_batch_remove(const struct cli_opts *o)
{
	int64_t counts[STORE_USER_NSTATUS] = { 0 }, users = 0;
	char *dir = store_default_data_dir(o->data_dir);
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	int rc = cli_store_open(o, &st);

	if (rc == 0)
		rc = get_batch(st, o->name, &b);
	if (rc != 0)
		goto out;
	rc = store_batch_user_counts(st, b.id, counts, &err);
	if (rc == 0)
		rc = engine_batch_remove(st, dir, b.name, &err);
	if (rc == MF_EBUSY) {
		/* "batch b1 is running (Syncing); stop it first" */
		cli_error("%s: mailferry %s %s", err.msg,
			  o->cmdlet != NULL ? "Stop-MigrationBatch" : "batch stop", b.name);
		rc = CLI_EXIT_CONFLICT;
		goto out;
	}
	if (rc != 0) {
		rc = failed(rc, &err);
		goto out;
	}
	for (int i = 0; i < STORE_USER_NSTATUS; i++)
		users += counts[i];
	if (o->json) {
		json_t *j = json_pack("{s:s, s:b}", "Name", b.name, "Removed", 1);

		cli_print_json(stdout, j);
		json_decref(j);
	} else if (b.target_endpoint == NULL) {
		printf("Removed batch '%s' and its %lld migration users. Mail already copied "
		       "stays in the local store (%s/mailstore).\n", b.name, (long long)users, dir);
	} else {
		printf("Removed batch '%s' and its %lld migration users. Mail already copied "
		       "stays on the target endpoint '%s'.\n", b.name, (long long)users,
		       b.target_endpoint);
	}
out:
	store_batch_clear(&b);
	store_close(&st);
	free(dir);
	return rc;
}

/* ---- report -------------------------------------------------------------------- */

static void write_report(const struct cli_opts *o, FILE *out, const struct store_batch *b,
			 const struct store_user *us, size_t n)
{
	const char *format = o->b.format != NULL ? o->b.format : o->json ? "json" : "csv";

	if (strcmp(format, "json") == 0) {
		json_t *j = cli_report_json(b, us, n);

		cli_print_json(out, j);
		json_decref(j);
	} else {
		cli_print_report_csv(out, us, n);
	}
}

int cli_batch_report(const struct cli_opts *o)
{
	struct store_batch b = { 0 };
	struct store_user *us = NULL;
	struct mf_error err = { 0 };
	struct store *st = NULL;
	size_t n = 0;
	FILE *out = stdout;
	bool to_file = o->b.output != NULL && strcmp(o->b.output, "-") != 0;
	int rc = cli_store_open(o, &st);

	if (rc == 0)
		rc = get_batch(st, o->name, &b);
	if (rc != 0)
		goto out;
	rc = store_user_list(st, b.id, &us, &n, &err);
	if (rc != 0) {
		rc = failed(rc, &err);
		goto out;
	}
	if (to_file && (out = fopen(o->b.output, "w")) == NULL) {
		cli_error("cannot write %s: %s", o->b.output, strerror(errno));
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	write_report(o, out, &b, us, n);
	if (to_file) {
		bool bad = ferror(out) != 0;

		if (fclose(out) != 0 || bad) {
			cli_error("cannot write %s: %s", o->b.output, strerror(errno));
			rc = CLI_EXIT_FAIL;
			goto out;
		}
		if (!o->json)
			printf("Wrote the report of batch '%s' (%zu users) to %s.\n", b.name, n,
			       o->b.output);
	}
out:
	store_user_list_free(&us, n);
	store_batch_clear(&b);
	store_close(&st);
	return rc;
}
