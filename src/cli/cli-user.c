/* cli-user.c: the migration user commands: `user list [--batch NAME]` and
 * `user show EMAIL [--skipped-items]` (Get-MigrationUser,
 * Get-MigrationUserStatistics). */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli-cmd.h"
#include "cli-output.h"
#include "store/store-batch.h"

int cli_user_list(const struct cli_opts *o)
{
	struct store_user *us = NULL;
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	size_t n = 0;
	int rc = cli_store_open(o, &st);

	if (rc != 0)
		return rc;
	if (o->b.batch != NULL) {
		rc = store_batch_get(st, o->b.batch, &b, &err);
		if (rc == MF_ENOTFOUND) {
			cli_error("no batch named '%s'", o->b.batch);
			rc = CLI_EXIT_NOTFOUND;
			goto out;
		}
	}
	if (rc == 0)
		rc = store_user_list(st, b.id, &us, &n, &err);
	if (rc != 0) {
		cli_error("%s", err.msg);
		rc = cli_exit_for(rc);
		goto out;
	}
	if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, cli_user_json(&us[i]));
		cli_print_json(stdout, arr);
		json_decref(arr);
	} else {
		cli_print_user_table(stdout, us, n);
	}
out:
	store_user_list_free(&us, n);
	store_batch_clear(&b);
	store_close(&st);
	return rc;
}

int cli_user_show(const struct cli_opts *o)
{
	struct store_skipped *ss = NULL;
	struct store_user u = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	size_t n = 0;
	int rc = cli_store_open(o, &st);

	if (rc != 0)
		return rc;
	rc = store_user_get(st, o->name, &u, &err);
	if (rc == MF_ENOTFOUND) {
		cli_error("no migration user '%s'", o->name);
		rc = CLI_EXIT_NOTFOUND;
		goto out;
	}
	if (rc == 0 && o->b.skipped_items)
		rc = store_skipped_list(st, u.id, &ss, &n, &err);
	if (rc != 0) {
		cli_error("%s", err.msg);
		rc = cli_exit_for(rc);
		goto out;
	}
	if (o->json) {
		json_t *j = cli_user_json(&u);

		if (o->b.skipped_items) {
			json_t *arr = json_array();

			for (size_t i = 0; i < n; i++)
				json_array_append_new(arr, cli_skipped_json(&ss[i]));
			json_object_set_new(j, "SkippedItems", arr);
		}
		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		cli_print_user(stdout, &u);
		if (o->b.skipped_items) {
			fputc('\n', stdout);
			cli_print_skipped_table(stdout, ss, n);
		}
	}
out:
	store_skipped_list_free(&ss, n);
	store_user_clear(&u);
	store_close(&st);
	return rc;
}
