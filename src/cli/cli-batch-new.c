/* cli-batch-new.c: `batch new NAME --source EP [--target EP|local] --csv
 * FILE [OPTIONS]` (New-MigrationBatch).
 *
 * Checks, in order (the first that fails decides the exit code): the
 * name and the options (2); the state directory (5); the name is free (4);
 * the endpoints exist (3) and are of a type a migration supports (20); the
 * CSV, whole, against the endpoints (2, every problem with its line); then
 * the batch and its users are stored in one transaction, so that a
 * mailbox already in another batch (4) stores nothing.
 *
 * The CSV's plaintext passwords live in the parsed rows only until
 * store_user_add_many() has sealed them; batch_csv_free() wipes them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli-cmd.h"
#include "cli-output.h"
#include "endpoint/endpoint.h"
#include "engine/batch-csv.h"
#include "engine/engine-folders.h"
#include "store/store-batch.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/xmalloc.h"

static bool set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static bool has_admin(const struct store_endpoint *ep)
{
	return set(ep->admin_user) && set(ep->admin_secret);
}

/* ---- options ------------------------------------------------------------- */

static int check_name(const struct cli_opts *o)
{
	struct mf_error err = { 0 };

	if (endpoint_validate_name(o->name, &err) == 0)
		return 0;
	return cli_usage_error(o, "invalid batch name '%s': use 1-64 characters A-Z a-z 0-9 . _ "
			       "-, starting with a letter or digit", o->name);
}

static int check_folders(const struct cli_opts *o, const char *const *v, size_t n,
			 const char *opt, const char *param)
{
	struct mf_error err = { 0 };

	for (size_t i = 0; i < n; i++) {
		if (engine_folder_pattern_check(v[i], &err) < 0)
			return cli_usage_error(o, "%s '%s': %s", cli_opt_name(o, opt, param), v[i],
					       err.msg);
	}
	return 0;
}

/* The stored form of a folder list: a JSON array, NULL when empty. */
static char *folders_json(const char *const *v, size_t n)
{
	json_t *arr;
	char *s;

	if (n == 0)
		return NULL;
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(v[i]));
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return s; /* jansson allocates with malloc() */
}

/* ---- endpoints --------------------------------------------------------------- */

/* Load the endpoint a side names, refusing what a migration cannot use
 * yet. */
static int get_side(const struct cli_opts *o, struct store *st, const char *name, bool source,
		    struct store_endpoint *ep)
{
	const char *opt = source ? cli_opt_name(o, "--source", "-SourceEndpoint")
				 : cli_opt_name(o, "--target", "-TargetEndpoint");
	struct mf_error err = { 0 };
	int rc = store_endpoint_get(st, name, ep, &err);

	if (rc == MF_ENOTFOUND) {
		cli_error("%s: no endpoint named '%s'", opt, name);
		return CLI_EXIT_NOTFOUND;
	}
	if (rc < 0) {
		cli_error("%s", err.msg);
		return cli_exit_for(rc);
	}
	if (ep->type == NULL || strcmp(ep->type, "imap") != 0) {
		cli_error("%s: endpoint '%s' is of type %s; migrating %s it is not yet supported "
			  "(only imap endpoints%s)", opt, name, ep->type != NULL ? ep->type : "?",
			  source ? "from" : "to", source ? "" : " and the local store");
		return CLI_EXIT_UNSUPPORTED;
	}
	return 0;
}

/* ---- the CSV ------------------------------------------------------------------- */

/* Read all of standard input (at most BATCH_CSV_MAX_BYTES) and parse it. */
static int parse_stdin(unsigned flags, struct batch_csv **csv_r, struct mf_error *err)
{
	struct buf b = BUF_INIT;
	char chunk[65536];
	ssize_t n;
	int rc;

	*csv_r = NULL;
	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n == 0)
			break;
		if (n < 0) {
			buf_wipe(&b);
			mf_memzero(chunk, sizeof(chunk));
			return mf_error_set(err, MF_EIO, "cannot read standard input");
		}
		buf_append(&b, chunk, (size_t)n);
		if (b.len > BATCH_CSV_MAX_BYTES) {
			buf_wipe(&b);
			mf_memzero(chunk, sizeof(chunk));
			return mf_error_set(err, MF_ELIMIT, "standard input is larger than %d MB",
					    BATCH_CSV_MAX_BYTES >> 20);
		}
	}
	rc = batch_csv_parse(b.data != NULL ? b.data : "", b.len, flags, csv_r, err);
	buf_wipe(&b);
	mf_memzero(chunk, sizeof(chunk));
	return rc;
}

struct problems {
	const char *file;
	size_t shown, total;
};

static void problem(struct problems *pr, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct problems *pr, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	pr->total++;
	if (pr->shown >= BATCH_CSV_MAX_PROBLEMS)
		return;
	pr->shown++;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		cli_error("%s: line %u: %s", pr->file, line, msg);
	else
		cli_error("%s: %s", pr->file, msg);
	free(msg);
}

/* What the parser cannot know: the target's needs. */
static void check_rows(const struct batch_csv *csv, const struct store_endpoint *tgt,
		       struct problems *pr)
{
	bool warned = false;

	for (size_t i = 0; i < csv->nrows; i++) {
		const struct batch_csv_row *r = &csv->rows[i];
		bool tuser = set(r->target_user_name), tpass = set(r->target_password);

		if (tgt == NULL) {
			const char *a = r->email_address;

			if (strchr(a, '/') != NULL || a[0] == '.')
				problem(pr, r->line, "address %.100s cannot name a directory in the "
					"local store", a);
			if ((tuser || tpass) && !warned) {
				log_warn("%s: TargetUserName and TargetPassword are not used with "
					 "the local store (line %u)", pr->file, r->line);
				warned = true;
			}
			continue;
		}
		if (tpass && !tuser)
			problem(pr, r->line, "TargetPassword without TargetUserName");
		else if (!has_admin(tgt) && (!tuser || !tpass))
			problem(pr, r->line, "TargetUserName and TargetPassword are needed: target "
				"endpoint '%s' has no admin credentials to reach the mailbox", tgt->name);
	}
}

/* Load and check the CSV. Prints every problem (up to the parser's cap)
 * and returns CLI_EXIT_USAGE when it is refused. */
static int load_csv(const struct cli_opts *o, const struct store_endpoint *src,
		    const struct store_endpoint *tgt, struct batch_csv **csv_r)
{
	unsigned flags = has_admin(src) ? BATCH_CSV_ADMIN_CREDENTIALS : 0;
	bool from_stdin = strcmp(o->b.csv, "-") == 0;
	struct problems pr = { from_stdin ? "standard input" : o->b.csv, 0, 0 };
	struct mf_error err = { 0 };
	struct batch_csv *csv = NULL;
	int rc;

	rc = from_stdin ? parse_stdin(flags, &csv, &err) : batch_csv_load(o->b.csv, flags, &csv,
									    &err);
	if (rc == MF_EIO || rc == MF_ELIMIT || csv == NULL) {
		cli_error("%s", err.msg);
		batch_csv_free(&csv);
		return CLI_EXIT_USAGE;
	}
	if (rc == 0)
		check_rows(csv, tgt, &pr);
	for (size_t i = 0; i < csv->nproblems; i++)
		problem(&pr, csv->problems[i].line, "%s", csv->problems[i].message);
	if (csv->total_problems > csv->nproblems)
		pr.total += csv->total_problems - csv->nproblems;
	if (pr.total > 0) {
		if (pr.total > pr.shown)
			cli_error("%s refused: %zu problems (the first %zu shown); nothing was stored",
				  pr.file, pr.total, pr.shown);
		else
			cli_error("%s refused: %zu problem%s; nothing was stored", pr.file, pr.total,
				  pr.total == 1 ? "" : "s");
		batch_csv_free(&csv);
		return CLI_EXIT_USAGE;
	}
	*csv_r = csv;
	return 0;
}

/* ---- storing --------------------------------------------------------------------- */

static int store_all(struct store *st, struct store_batch *b,
		     const struct batch_csv *csv)
{
	struct store_user_new *us = xcalloc(csv->nrows + 1, sizeof(*us));
	struct mf_error err = { 0 };
	int rc;

	for (size_t i = 0; i < csv->nrows; i++) {
		const struct batch_csv_row *r = &csv->rows[i];

		us[i].email_address = r->email_address;
		us[i].user_name = r->user_name;
		us[i].password = r->password;
		us[i].user_root = r->user_root;
		us[i].target_user_name = r->target_user_name;
		us[i].target_password = r->target_password;
	}
	rc = store_begin(st, &err);
	if (rc == 0) {
		rc = store_batch_create(st, b, &err);
		if (rc == 0)
			rc = store_user_add_many(st, b->id, us, csv->nrows, &err);
		if (rc == 0)
			rc = store_commit(st, &err); /* a failed commit has rolled back */
		else
			store_rollback(st);
	}
	mf_memzero(us, (csv->nrows + 1) * sizeof(*us));
	free(us);
	if (rc == 0)
		return 0;
	cli_error("%s; nothing was stored", err.msg);
	return cli_exit_for(rc);
}

static void print_batch(const struct cli_opts *o, struct store *st, const char *name)
{
	int64_t counts[STORE_USER_NSTATUS] = { 0 };
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	json_t *j;

	if (store_batch_get(st, name, &b, &err) != 0 ||
	    store_batch_user_counts(st, b.id, counts, &err) != 0) {
		cli_error("%s", err.msg);
		store_batch_clear(&b);
		return;
	}
	j = cli_batch_json(&b, counts);
	if (o->json)
		cli_print_json(stdout, j);
	else
		cli_print_batch(stdout, j);
	json_decref(j);
	store_batch_clear(&b);
}

int cli_batch_new(const struct cli_opts *o)
{
	const char *target = o->b.target;
	bool local = target == NULL || strcmp(target, "local") == 0;
	struct store_endpoint src = { 0 }, tgt = { 0 };
	struct store_batch b = { 0 }, other = { 0 };
	struct mf_error err = { 0 };
	struct batch_csv *csv = NULL;
	struct store *st = NULL;
	int rc;

	rc = check_name(o);
	if (rc == 0)
		rc = check_folders(o, o->b.exclude, o->b.nexclude, "--exclude-folder",
				   "-ExcludeFolders");
	if (rc == 0)
		rc = check_folders(o, o->b.include, o->b.ninclude, "--include-folder",
				   "-IncludeFolders");
	if (rc == 0)
		rc = cli_store_open(o, &st);
	if (rc != 0)
		goto out;
	rc = store_batch_get(st, o->name, &other, &err);
	if (rc == 0) {
		cli_error("a batch named '%s' already exists", o->name);
		rc = CLI_EXIT_CONFLICT;
		goto out;
	} else if (rc != MF_ENOTFOUND) {
		cli_error("%s", err.msg);
		rc = cli_exit_for(rc);
		goto out;
	}
	rc = get_side(o, st, o->b.source, true, &src);
	if (rc == 0 && !local)
		rc = get_side(o, st, target, false, &tgt);
	if (rc == 0)
		rc = load_csv(o, &src, local ? NULL : &tgt, &csv);
	if (rc != 0)
		goto out;

	b.name = xstrdup(o->name);
	b.source_endpoint = xstrdup(src.name);
	b.target_endpoint = local ? NULL : xstrdup(tgt.name);
	b.status = STORE_BATCH_CREATED;
	b.opt.exclude_folders = folders_json(o->b.exclude, o->b.nexclude);
	b.opt.include_folders = folders_json(o->b.include, o->b.ninclude);
	cli_batch_apply_options(o, &b.opt);
	b.opt.max_message_size = o->b.max_message_size;
	b.opt.received_after = o->b.received_after;
	b.opt.auto_start = o->b.auto_start;
	rc = store_all(st, &b, csv);
	batch_csv_free(&csv);
	if (rc != 0)
		goto out;

	if (!o->b.auto_start || !o->json)
		print_batch(o, st, o->name);
	if (o->b.auto_start) {
		if (!o->json)
			fputc('\n', stdout);
		fflush(stdout);
		rc = cli_batch_run_wait(o, st, o->name, false);
	}
out:
	batch_csv_free(&csv);
	store_batch_clear(&b);
	store_batch_clear(&other);
	store_endpoint_clear(&src);
	store_endpoint_clear(&tgt);
	store_close(&st);
	return rc;
}
