/* cli-output-batch.c: what the batch and user commands print (see
 * cli-output.h). The JSON objects are the single source of the keys and
 * their order; the human forms are built from them. Nothing here sees a
 * password: users carry only sealed ones, which are never read. */
#include "cli-output.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cli-args.h"
#include "engine/engine.h"
#include "util/buf.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

/* ---- small formats ------------------------------------------------------- */

void cli_fmt_count(long long v, char out[32])
{
	char digits[32];
	int len, o = 0;
	bool neg = v < 0;

	snprintf(digits, sizeof(digits), "%llu", neg ? 0ULL - (unsigned long long)v
						     : (unsigned long long)v);
	len = (int)strlen(digits);
	if (neg)
		out[o++] = '-';
	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

void cli_fmt_bytes(long long v, char out[32])
{
	static const char *const units[] = { "KB", "MB", "GB", "TB" };
	double d = (double)v;
	size_t u = 0;

	if (v < 1024) {
		snprintf(out, 32, "%lld B", v);
		return;
	}
	d /= 1024.0;
	while (d >= 1023.95 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024.0;
		u++;
	}
	snprintf(out, 32, "%.1f %s", d, units[u]);
}

static json_t *str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *time_or_null(int64_t t)
{
	char when[32];

	if (t <= 0)
		return json_null();
	mf_time_rfc3339((time_t)t, when);
	return json_string(when);
}

static char *time_text(int64_t t)
{
	char when[32];

	if (t <= 0)
		return xstrdup("");
	mf_time_rfc3339((time_t)t, when);
	return xstrdup(when);
}

/* "1.9 MB (1,992,294 bytes)" */
static char *bytes_words(long long v)
{
	char b[32], c[32];

	cli_fmt_bytes(v, b);
	cli_fmt_count(v, c);
	return xasprintf("%s (%s bytes)", b, c);
}

static json_t *limit_json(int64_t v)
{
	return v < 0 ? json_string("Unlimited") : json_integer(v);
}

/* A stored folder list (a JSON array of strings) as an array; [] when
 * unset or unreadable. */
static json_t *folders_json(const char *stored)
{
	json_t *j = stored != NULL ? json_loads(stored, 0, NULL) : NULL;

	if (!json_is_array(j)) {
		json_decref(j);
		return json_array();
	}
	return j;
}

/* ---- batches ---------------------------------------------------------------- */

json_t *cli_batch_json(const struct store_batch *b, const int64_t counts[STORE_USER_NSTATUS])
{
	json_t *o = json_object();
	int64_t total = 0;

	for (int i = 0; i < STORE_USER_NSTATUS; i++)
		total += counts[i];
	json_object_set_new(o, "Name", str_or_null(b->name));
	json_object_set_new(o, "Status", json_string(store_batch_status_name(b->status)));
	json_object_set_new(o, "SourceEndpoint", str_or_null(b->source_endpoint));
	json_object_set_new(o, "TargetEndpoint",
			    json_string(b->target_endpoint != NULL ? b->target_endpoint : "local"));
	json_object_set_new(o, "TotalCount", json_integer(total));
	json_object_set_new(o, "QueuedCount", json_integer(counts[STORE_USER_QUEUED]));
	/* a worker holds them: the initial sync, an incremental one, the final one */
	json_object_set_new(o, "SyncingCount",
			    json_integer(counts[STORE_USER_SYNCING] +
					 counts[STORE_USER_INCREMENTAL_SYNCING] +
					 counts[STORE_USER_COMPLETING]));
	json_object_set_new(o, "SyncedCount", json_integer(counts[STORE_USER_SYNCED]));
	json_object_set_new(o, "CompletedCount", json_integer(counts[STORE_USER_COMPLETED]));
	json_object_set_new(o, "FailedCount", json_integer(counts[STORE_USER_FAILED]));
	json_object_set_new(o, "IncrementalFailedCount",
			    json_integer(counts[STORE_USER_INCREMENTAL_FAILED]));
	json_object_set_new(o, "CompletionFailedCount",
			    json_integer(counts[STORE_USER_COMPLETION_FAILED]));
	json_object_set_new(o, "StoppedCount", json_integer(counts[STORE_USER_STOPPED]));
	json_object_set_new(o, "ExcludeFolders", folders_json(b->opt.exclude_folders));
	json_object_set_new(o, "IncludeFolders", folders_json(b->opt.include_folders));
	json_object_set_new(o, "BadItemLimit", limit_json(b->opt.bad_item_limit));
	json_object_set_new(o, "LargeItemLimit", limit_json(b->opt.large_item_limit));
	json_object_set_new(o, "MaxMessageSize", b->opt.max_message_size > 0
				    ? json_integer(b->opt.max_message_size) : json_null());
	json_object_set_new(o, "ReceivedAfter", time_or_null(b->opt.received_after));
	json_object_set_new(o, "AutoStart", json_boolean(b->opt.auto_start));
	json_object_set_new(o, "AutoComplete", json_boolean(b->opt.auto_complete));
	json_object_set_new(o, "SyncDeletes", json_boolean(b->opt.sync_deletes));
	json_object_set_new(o, "ConnectionsPerUser",
			    json_integer(b->opt.connections_per_user > 0
					     ? b->opt.connections_per_user
					     : ENGINE_LANES_DEFAULT));
	json_object_set_new(o, "IncrementalSyncInterval",
			    json_integer(b->opt.incremental_interval > 0
					     ? b->opt.incremental_interval
					     : STORE_DEFAULT_INCREMENTAL_INTERVAL));
	json_object_set_new(o, "StartAfter", time_or_null(b->opt.start_after));
	json_object_set_new(o, "CompleteAfter", time_or_null(b->opt.complete_after));
	json_object_set_new(o, "LastError", str_or_null(b->last_error));
	json_object_set_new(o, "CreatedAt", time_or_null(b->created_at));
	json_object_set_new(o, "StartedAt", time_or_null(b->started_at));
	json_object_set_new(o, "CompletedAt", time_or_null(b->completed_at));
	return o;
}

/* "1d (86,400 s)" */
static char *interval_text(long long secs)
{
	char d[32], c[32];

	cli_fmt_duration(secs, d);
	cli_fmt_count(secs, c);
	return xasprintf("%s (%s s)", d, c);
}

static char *join_strings(const json_t *arr)
{
	struct buf b = BUF_INIT;
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) {
		if (i > 0)
			buf_puts(&b, ", ");
		buf_puts(&b, json_string_value(v) != NULL ? json_string_value(v) : "");
	}
	return buf_steal(&b);
}

void cli_print_batch(FILE *out, const json_t *batch)
{
	struct cli_kv kv[32];
	size_t n = 0;
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)batch, key, v) {
		if (strcmp(key, "Events") == 0 || n == sizeof(kv) / sizeof(kv[0]))
			continue;
		kv[n].key = key;
		if (json_is_array(v))
			kv[n].value = join_strings(v);
		else if (strcmp(key, "MaxMessageSize") == 0 && json_is_integer(v))
			kv[n].value = bytes_words((long long)json_integer_value(v));
		else if (strcmp(key, "IncrementalSyncInterval") == 0 && json_is_integer(v))
			kv[n].value = interval_text((long long)json_integer_value(v));
		else
			kv[n].value = cli_json_text(v);
		n++;
	}
	cli_print_kv(out, kv, n);
	cli_kv_free(kv, n);
}

static void free_cells(char **cells, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cells[i]);
	free(cells);
}

void cli_print_batch_table(FILE *out, const struct store_batch *bs, const int64_t *counts,
			   size_t n)
{
	static const char *const hdr[] = { "Name", "Status", "Source", "Target", "Users",
					   "Synced", "Completed", "Failed", "Created" };
	enum { NCOL = 9 };
	char **cells;

	if (n == 0) {
		fputs("No batches.\n", out);
		return;
	}
	cells = xcalloc(n * NCOL, sizeof(*cells));
	for (size_t r = 0; r < n; r++) {
		const struct store_batch *b = &bs[r];
		const int64_t *c = counts + r * STORE_USER_NSTATUS;
		char **row = cells + r * NCOL;
		int64_t total = 0;

		for (int i = 0; i < STORE_USER_NSTATUS; i++)
			total += c[i];
		row[0] = xstrdup(b->name);
		row[1] = xstrdup(store_batch_status_name(b->status));
		row[2] = xstrdup(b->source_endpoint != NULL ? b->source_endpoint : "");
		row[3] = xstrdup(b->target_endpoint != NULL ? b->target_endpoint : "local");
		row[4] = xasprintf("%lld", (long long)total);
		row[5] = xasprintf("%lld", (long long)c[STORE_USER_SYNCED]);
		row[6] = xasprintf("%lld", (long long)c[STORE_USER_COMPLETED]);
		/* the users whose last run failed, whichever it was */
		row[7] = xasprintf("%lld", (long long)(c[STORE_USER_FAILED] +
						       c[STORE_USER_INCREMENTAL_FAILED] +
						       c[STORE_USER_COMPLETION_FAILED]));
		row[8] = time_text(b->created_at);
	}
	cli_print_table(out, hdr, NCOL, cells, n);
	free_cells(cells, n * NCOL);
}

/* ---- events ----------------------------------------------------------------- */

json_t *cli_event_json(const struct store_event *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "Time", time_or_null(e->at));
	json_object_set_new(o, "Level", json_string(store_event_level_name(e->level)));
	json_object_set_new(o, "EmailAddress", str_or_null(e->email_address));
	json_object_set_new(o, "Message", str_or_null(e->message));
	return o;
}

void cli_print_events(FILE *out, const struct store_event *es, size_t n)
{
	static const char *const hdr[] = { "Time", "Level", "User", "Message" };
	char **cells = xcalloc(n * 4 + 1, sizeof(*cells));

	for (size_t r = 0; r < n; r++) {
		char **row = cells + r * 4;

		row[0] = time_text(es[r].at);
		row[1] = xstrdup(store_event_level_name(es[r].level));
		row[2] = xstrdup(es[r].email_address != NULL ? es[r].email_address : "-");
		row[3] = xstrdup(es[r].message != NULL ? es[r].message : "");
	}
	cli_print_table(out, hdr, 4, cells, n);
	free_cells(cells, n * 4);
}

/* ---- users -------------------------------------------------------------------- */

json_t *cli_user_json(const struct store_user *u)
{
	const struct store_user_stats *s = &u->stats;
	json_t *o = json_object();

	json_object_set_new(o, "Identity", str_or_null(u->email_address));
	json_object_set_new(o, "EmailAddress", str_or_null(u->email_address));
	json_object_set_new(o, "BatchId", str_or_null(u->batch_name));
	json_object_set_new(o, "Status", json_string(store_user_status_name(u->status)));
	json_object_set_new(o, "UserName", str_or_null(u->user_name));
	json_object_set_new(o, "TotalItemsInSourceMailboxCount", json_integer(s->total_items));
	json_object_set_new(o, "SyncedItemCount", json_integer(s->synced_items));
	json_object_set_new(o, "SkippedItemCount", json_integer(s->skipped_items));
	json_object_set_new(o, "BytesTransferred", json_integer(s->bytes_transferred));
	json_object_set_new(o, "EstimatedTotalTransferSize", json_integer(s->total_bytes));
	json_object_set_new(o, "PercentageComplete", json_integer(engine_percent(s, u->status)));
	json_object_set_new(o, "CurrentFolder", str_or_null(s->current_folder));
	json_object_set_new(o, "StartTime", time_or_null(s->started_at));
	json_object_set_new(o, "EndTime", time_or_null(s->ended_at));
	json_object_set_new(o, "LastSuccessfulSyncTimestamp", time_or_null(s->last_sync_at));
	/* a backoff while Queued; the next incremental sync while Synced or
	 * IncrementalFailed (when `mailferry serve` runs) */
	json_object_set_new(o, "NextAttemptTime",
			    u->status == STORE_USER_QUEUED || u->status == STORE_USER_SYNCED ||
				    u->status == STORE_USER_INCREMENTAL_FAILED
				? time_or_null(s->next_attempt_at) : json_null());
	json_object_set_new(o, "TransientErrorCount", json_integer(s->transient_errors));
	json_object_set_new(o, "Error", str_or_null(s->last_error));
	return o;
}

void cli_print_user(FILE *out, const struct store_user *u)
{
	json_t *o = cli_user_json(u);
	struct cli_kv kv[32];
	size_t n = 0;
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (strcmp(key, "EmailAddress") == 0 || n == sizeof(kv) / sizeof(kv[0]))
			continue;
		kv[n].key = key;
		if ((strcmp(key, "BytesTransferred") == 0 ||
		     strcmp(key, "EstimatedTotalTransferSize") == 0) && json_is_integer(v))
			kv[n].value = bytes_words((long long)json_integer_value(v));
		else
			kv[n].value = cli_json_text(v);
		n++;
	}
	cli_print_kv(out, kv, n);
	cli_kv_free(kv, n);
	json_decref(o);
}

void cli_print_user_table(FILE *out, const struct store_user *us, size_t n)
{
	static const char *const hdr[] = { "EmailAddress", "Batch", "Status", "Items",
					   "Skipped", "Bytes", "%" };
	enum { NCOL = 7 };
	char **cells;

	if (n == 0) {
		fputs("No migration users.\n", out);
		return;
	}
	cells = xcalloc(n * NCOL, sizeof(*cells));
	for (size_t r = 0; r < n; r++) {
		const struct store_user *u = &us[r];
		char **row = cells + r * NCOL;
		char synced[32], total[32], bytes[32];

		cli_fmt_count(u->stats.synced_items, synced);
		cli_fmt_count(u->stats.total_items, total);
		cli_fmt_bytes(u->stats.bytes_transferred, bytes);
		row[0] = xstrdup(u->email_address);
		row[1] = xstrdup(u->batch_name != NULL ? u->batch_name : "");
		row[2] = xstrdup(store_user_status_name(u->status));
		row[3] = xasprintf("%s/%s", synced, total);
		row[4] = xasprintf("%lld", (long long)u->stats.skipped_items);
		row[5] = xstrdup(bytes);
		row[6] = xasprintf("%d", engine_percent(&u->stats, u->status));
	}
	cli_print_table(out, hdr, NCOL, cells, n);
	free_cells(cells, n * NCOL);
}

/* ---- skipped items ------------------------------------------------------------- */

static const char *skip_kind_name(enum store_skip_kind k)
{
	return k == STORE_SKIP_LARGE ? "large" : "bad";
}

json_t *cli_skipped_json(const struct store_skipped *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "Folder", str_or_null(s->folder));
	json_object_set_new(o, "Uid", json_integer(s->uid));
	json_object_set_new(o, "Date", time_or_null(s->date));
	json_object_set_new(o, "Subject", str_or_null(s->subject));
	json_object_set_new(o, "Size", json_integer(s->size));
	json_object_set_new(o, "Kind", json_string(skip_kind_name(s->kind)));
	json_object_set_new(o, "Reason", str_or_null(s->reason));
	return o;
}

void cli_print_skipped_table(FILE *out, const struct store_skipped *ss, size_t n)
{
	static const char *const hdr[] = { "Folder", "Date", "Subject", "Size", "Kind",
					   "Reason" };
	enum { NCOL = 6 };
	char **cells;

	if (n == 0) {
		fputs("No skipped items.\n", out);
		return;
	}
	cells = xcalloc(n * NCOL, sizeof(*cells));
	for (size_t r = 0; r < n; r++) {
		const struct store_skipped *s = &ss[r];
		char **row = cells + r * NCOL;
		char size[32];

		cli_fmt_bytes(s->size, size);
		row[0] = xstrdup(s->folder != NULL ? s->folder : "");
		row[1] = time_text(s->date);
		row[2] = xstrdup(s->subject != NULL ? s->subject : "");
		row[3] = xstrdup(size);
		row[4] = xstrdup(skip_kind_name(s->kind));
		row[5] = xstrdup(s->reason != NULL ? s->reason : "");
	}
	cli_print_table(out, hdr, NCOL, cells, n);
	free_cells(cells, n * NCOL);
}

/* ---- the report ------------------------------------------------------------------ */

static json_t *report_row(const struct store_user *u)
{
	const struct store_user_stats *s = &u->stats;
	json_t *o = json_object();

	json_object_set_new(o, "EmailAddress", str_or_null(u->email_address));
	json_object_set_new(o, "Status", json_string(store_user_status_name(u->status)));
	json_object_set_new(o, "TotalItemsInSourceMailboxCount", json_integer(s->total_items));
	json_object_set_new(o, "SyncedItemCount", json_integer(s->synced_items));
	json_object_set_new(o, "SkippedItemCount", json_integer(s->skipped_items));
	json_object_set_new(o, "BytesTransferred", json_integer(s->bytes_transferred));
	json_object_set_new(o, "PercentageComplete", json_integer(engine_percent(s, u->status)));
	json_object_set_new(o, "StartTime", time_or_null(s->started_at));
	json_object_set_new(o, "EndTime", time_or_null(s->ended_at));
	json_object_set_new(o, "LastError", str_or_null(s->last_error));
	return o;
}

json_t *cli_report_json(const struct store_batch *b, const struct store_user *us, size_t n)
{
	json_t *o = json_object();
	json_t *rows = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(rows, report_row(&us[i]));
	json_object_set_new(o, "Batch", json_string(b->name));
	json_object_set_new(o, "Status", json_string(store_batch_status_name(b->status)));
	json_object_set_new(o, "Users", rows);
	return o;
}

static void csv_field(FILE *out, const char *s)
{
	size_t len = strlen(s);
	bool quote = strpbrk(s, ",\"\r\n") != NULL ||
		     (len > 0 && (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' ||
				  s[len - 1] == '\t'));

	if (!quote) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void cli_print_report_csv(FILE *out, const struct store_user *us, size_t n)
{
	static const char *const cols[] = { "EmailAddress", "Status",
					    "TotalItemsInSourceMailboxCount", "SyncedItemCount",
					    "SkippedItemCount", "BytesTransferred",
					    "PercentageComplete", "StartTime", "EndTime",
					    "LastError" };
	enum { NCOL = sizeof(cols) / sizeof(cols[0]) };

	for (size_t c = 0; c < NCOL; c++) {
		if (c > 0)
			fputc(',', out);
		csv_field(out, cols[c]);
	}
	fputs("\r\n", out);
	for (size_t r = 0; r < n; r++) {
		json_t *row = report_row(&us[r]);

		for (size_t c = 0; c < NCOL; c++) {
			char *text = cli_json_text(json_object_get(row, cols[c]));

			if (c > 0)
				fputc(',', out);
			csv_field(out, text);
			free(text);
		}
		fputs("\r\n", out);
		json_decref(row);
	}
}
