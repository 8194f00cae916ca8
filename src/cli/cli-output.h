/* cli-output.h: what the commands print: Format-List blocks ("Key : value"),
 * tables, and JSON (jansson, two-space indent, keys in a fixed order).
 *
 * Nothing here ever prints a password: an endpoint's sealed password shows
 * as "********" (or empty / null when there is none).
 */
#ifndef MF_CLI_OUTPUT_H
#define MF_CLI_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "store/store-batch.h"
#include "store/store.h"

/* The endpoint as a JSON object with the keys of `endpoint show` in order,
 * plus "LastTest" (the stored test document, parsed, or null). New
 * reference; the caller decrefs. */
json_t *cli_endpoint_json(const struct store_endpoint *ep);

/* `endpoint show`: aligned "Key : value" lines. */
void cli_print_endpoint(FILE *out, const struct store_endpoint *ep);
/* `endpoint list`: a table, or "No endpoints." */
void cli_print_endpoint_table(FILE *out, const struct store_endpoint *eps, size_t n);
/* A connection test document (conntest.h): the stage table, then Result,
 * Message, Server, LoginAs, Greeting, ServerId, TLS, Capabilities, Warnings. */
void cli_print_test(FILE *out, const json_t *doc);
/* JSON followed by a newline. */
void cli_print_json(FILE *out, const json_t *j);

/* ---- building blocks ---------------------------------------------------- */

/* One "Key : value" line; value is owned (free with cli_kv_free()) and
 * may hold newlines: the lines after the first are indented under it. */
struct cli_kv {
	const char *key;
	char *value;
};

/* Aligned "Key : value" lines (Exchange Format-List). */
void cli_print_kv(FILE *out, const struct cli_kv *kv, size_t n);
void cli_kv_free(struct cli_kv *kv, size_t n);

#define CLI_TABLE_MAX_COLS 16

/* cells: nrows * ncol strings, row by row. Two spaces between columns, a
 * dashed line under the header, no padding after the last column. */
void cli_print_table(FILE *out, const char *const *hdr, size_t ncol, char *const *cells,
		     size_t nrows);

/* A JSON scalar as text: strings as they are, True / False, numbers;
 * null and anything else "". malloc'd. */
char *cli_json_text(const json_t *v);

/* ---- batches and migration users (cli-output-batch.c) ------------------ */

/* "1,234,567" into out. */
void cli_fmt_count(long long v, char out[32]);
/* "512 B", "12.3 KB", "1.9 MB", "2.0 GB" (powers of 1024) into out. */
void cli_fmt_bytes(long long v, char out[32]);

/* The batch as `batch show --json` prints it (without "Events"), with its
 * user counts. New reference. */
json_t *cli_batch_json(const struct store_batch *b, const int64_t counts[STORE_USER_NSTATUS]);
/* `batch show`: aligned lines of cli_batch_json(). */
void cli_print_batch(FILE *out, const json_t *batch);
/* `batch list`: Name, Status, Source, Target, Users, Synced, Failed,
 * Created; or "No batches." counts holds n * STORE_USER_NSTATUS. */
void cli_print_batch_table(FILE *out, const struct store_batch *bs, const int64_t *counts,
			   size_t n);

/* An event: {"Time", "Level", "EmailAddress", "Message"}. */
json_t *cli_event_json(const struct store_event *e);
/* A table of events: Time, Level, User, Message. */
void cli_print_events(FILE *out, const struct store_event *es, size_t n);

/* The user with Get-MigrationUserStatistics names (`user show --json`,
 * each element of `user list --json`). */
json_t *cli_user_json(const struct store_user *u);
/* `user show`: aligned lines, sizes also in words ("1.9 MB (1,992,294
 * bytes)"). */
void cli_print_user(FILE *out, const struct store_user *u);
/* `user list`: EmailAddress, Batch, Status, Items, Skipped, Bytes, %; or
 * "No migration users." */
void cli_print_user_table(FILE *out, const struct store_user *us, size_t n);

/* A skipped item: {"Folder", "Uid", "Date", "Subject", "Size", "Kind",
 * "Reason"}. */
json_t *cli_skipped_json(const struct store_skipped *s);
/* A table: Folder, Date, Subject, Size, Kind, Reason; or "No skipped
 * items." */
void cli_print_skipped_table(FILE *out, const struct store_skipped *ss, size_t n);

/* The report (docs/cli.md): {"Batch", "Status", "Users": [row...]}, a row
 * holding EmailAddress, Status, TotalItemsInSourceMailboxCount,
 * SyncedItemCount, SkippedItemCount, BytesTransferred, PercentageComplete,
 * StartTime, EndTime, LastError. New reference. */
json_t *cli_report_json(const struct store_batch *b, const struct store_user *us, size_t n);
/* The same rows as RFC 4180 CSV with a header line (CRLF line ends; a
 * field with a comma, quote, line break or edge space is quoted). */
void cli_print_report_csv(FILE *out, const struct store_user *us, size_t n);

#endif
