/* Unit tests for src/store (schema v2): the migration from v1, batches,
 * migration users, folder state, the message map, skipped items, events,
 * cascades, sealed user passwords and transactions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store-batch.h"
#include "store/store.h"
#include "util/mf-error.h"
#include "util/xmalloc.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

struct fixture {
	char *dir;
	char *data_dir;
	struct store *st;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct store *open_ok(const char *data_dir)
{
	struct mf_error err = {0};
	struct store *st = NULL;

	if (store_open(data_dir, NULL, &st, &err) != 0)
		fail_msg("store_open: %s", err.msg);
	return st;
}

static void endpoint_ok(struct store *st, const char *name)
{
	struct store_endpoint ep = {0};
	struct mf_error err = {0};

	ep.name = xstrdup(name);
	ep.type = xstrdup("imap");
	ep.server = xstrdup("imap.example.org");
	if (store_endpoint_insert(st, &ep, &err) != 0)
		fail_msg("endpoint %s: %s", name, err.msg);
	store_endpoint_clear(&ep);
}

static int64_t batch_ok(struct store *st, const char *name)
{
	struct mf_error err = {0};
	int64_t id = 0;

	if (store_batch_insert(st, name, "src", NULL, &id, &err) != 0)
		fail_msg("batch %s: %s", name, err.msg);
	return id;
}

static void users_ok(struct store *st, int64_t batch_id, const struct store_user_new *u, size_t n)
{
	struct mf_error err = {0};

	if (store_user_add_many(st, batch_id, u, n, &err) != 0)
		fail_msg("add users: %s", err.msg);
}

static int64_t user_id(struct store *st, const char *email)
{
	struct store_user u;
	struct mf_error err = {0};
	int64_t id;

	if (store_user_get(st, email, &u, &err) != 0)
		fail_msg("get %s: %s", email, err.msg);
	id = u.id;
	store_user_clear(&u);
	return id;
}

static int64_t folder_ok(struct store *st, int64_t uid, const char *name)
{
	struct store_folder f = {0};
	struct mf_error err = {0};

	f.user_id = uid;
	f.source_name = (char *)name;
	if (store_folder_put(st, &f, &err) != 0)
		fail_msg("folder %s: %s", name, err.msg);
	return f.id;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/mf-store-batch-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->data_dir = xasprintf("%s/data", f->dir);
	unsetenv("MAILFERRY_DATA_DIR");
	unsetenv("MAILFERRY_KEY_FILE");
	unsetenv("XDG_DATA_HOME");
	*state = f;
	return 0;
}

/* setup, then an open store with endpoints "src" and "dst". */
static int setup_open(void **state)
{
	struct fixture *f;

	setup(state);
	f = *state;
	f->st = open_ok(f->data_dir);
	endpoint_ok(f->st, "src");
	endpoint_ok(f->st, "dst");
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(&f->st);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f->data_dir);
	free(f);
	return 0;
}

/* A count(*) over the raw database (its own connection). */
static int64_t raw_count(const char *data_dir, const char *sql)
{
	char *db = xasprintf("%s/mailferry.db", data_dir);
	sqlite3 *raw;
	sqlite3_stmt *stmt;
	int64_t n;

	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	sqlite3_busy_timeout(raw, 5000);
	assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(raw);
	free(db);
	return n;
}

/* ---- migration from v1 ----------------------------------------------------------- */

/* Schema version 1 as published (frozen): endpoints and minimal batches. */
static const char v1_schema[] =
    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);"
    "CREATE TABLE endpoints (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT,"
    " server TEXT, port INTEGER NOT NULL DEFAULT 0, security TEXT, auth TEXT,"
    " admin_user TEXT, admin_secret TEXT, impersonation TEXT, master_separator TEXT,"
    " accept_untrusted INTEGER NOT NULL DEFAULT 0 CHECK (accept_untrusted IN (0, 1)),"
    " max_concurrent_migrations INTEGER NOT NULL DEFAULT 0,"
    " max_concurrent_incremental_syncs INTEGER NOT NULL DEFAULT 0, exchange_server TEXT,"
    " rpc_proxy_server TEXT, email_address TEXT, mailbox_permission TEXT,"
    " last_test_result TEXT, last_test_json TEXT, last_test_at BIGINT NOT NULL DEFAULT 0,"
    " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE TABLE batches (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " source_endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE RESTRICT,"
    " target_endpoint_id INTEGER REFERENCES endpoints (id) ON DELETE RESTRICT,"
    " status TEXT NOT NULL DEFAULT 'Created', created_at BIGINT NOT NULL);"
    "CREATE INDEX batches_source_endpoint ON batches (source_endpoint_id);"
    "CREATE INDEX batches_target_endpoint ON batches (target_endpoint_id);"
    "INSERT INTO schema_version VALUES (1, 100);"
    "INSERT INTO endpoints (name, type, server, port, admin_user, admin_secret,"
    " max_concurrent_migrations, created_at, updated_at)"
    " VALUES ('old', 'imap', 'imap.old.example', 143, 'admin', 'v1:sealed', 7, 100, 100);"
    "INSERT INTO batches (name, source_endpoint_id, created_at) VALUES ('OldBatch', 1, 200);";

static void test_migrate_from_v1(void **state)
{
	struct fixture *f = *state;
	char *db = xasprintf("%s/mailferry.db", f->data_dir);
	struct store_endpoint ep;
	struct store_batch b;
	struct mf_error err = {0};
	struct store *st;
	sqlite3 *raw;

	assert_int_equal(mkdir(f->data_dir, 0700), 0);
	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, v1_schema, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);

	st = open_ok(f->data_dir);
	assert_int_equal(store_schema_version(st), 4);
	assert_int_equal(store_endpoint_get(st, "old", &ep, &err), 0);
	assert_string_equal(ep.server, "imap.old.example");
	assert_int_equal(ep.port, 143);
	assert_string_equal(ep.admin_secret, "v1:sealed");
	assert_int_equal(ep.max_concurrent_migrations, 7);
	store_endpoint_clear(&ep);
	/* The old batch reads with the new columns' defaults. */
	assert_int_equal(store_batch_get(st, "OldBatch", &b, &err), 0);
	assert_string_equal(b.source_endpoint, "old");
	assert_null(b.target_endpoint);
	assert_int_equal(b.status, STORE_BATCH_CREATED);
	assert_int_equal(b.created_at, 200);
	assert_int_equal(b.opt.incremental_interval, STORE_DEFAULT_INCREMENTAL_INTERVAL);
	assert_int_equal(b.opt.bad_item_limit, 0);
	assert_null(b.opt.exclude_folders);
	assert_int_equal(b.started_at, 0);
	store_batch_clear(&b);
	/* Still protected, and still usable. */
	assert_int_equal(store_endpoint_delete(st, "old", &err), MF_EBUSY);
	store_close(&st);
	assert_int_equal(raw_count(f->data_dir, "SELECT max(version) FROM schema_version"), 4);
	st = open_ok(f->data_dir); /* reopening is a no-op */
	assert_int_equal(store_schema_version(st), 4);
	store_close(&st);
	free(db);
}

/* ---- status names ------------------------------------------------------------------ */

static void test_status_names(void **state)
{
	enum store_batch_status bs;
	enum store_user_status us;

	(void)state;
	for (int i = 0; i < STORE_BATCH_NSTATUS; i++) {
		assert_int_equal(store_batch_status_parse(store_batch_status_name(i), &bs), 0);
		assert_int_equal(bs, i);
	}
	for (int i = 0; i < STORE_USER_NSTATUS; i++) {
		assert_int_equal(store_user_status_parse(store_user_status_name(i), &us), 0);
		assert_int_equal(us, i);
	}
	assert_string_equal(store_batch_status_name(STORE_BATCH_SYNCED_WITH_ERRORS),
			    "SyncedWithErrors");
	assert_string_equal(store_user_status_name(STORE_USER_COMPLETION_FAILED),
			    "CompletionFailed");
	assert_int_equal(store_batch_status_parse("syncedwitherrors", &bs), 0);
	assert_int_equal(bs, STORE_BATCH_SYNCED_WITH_ERRORS);
	assert_int_equal(store_batch_status_parse("Nope", &bs), MF_EINVAL);
	assert_int_equal(store_user_status_parse(NULL, &us), MF_EINVAL);
	assert_string_equal(store_batch_status_name(STORE_BATCH_NSTATUS), "?");
	assert_string_equal(store_event_level_name(STORE_EVENT_WARNING), "warning");
}

/* ---- batches ---------------------------------------------------------------------------- */

static void test_batch_crud(void **state)
{
	struct fixture *f = *state;
	struct store_batch b = {0}, got, *list;
	struct mf_error err = {0};
	size_t n;

	b.name = xstrdup("Wave1");
	b.source_endpoint = xstrdup("src");
	b.target_endpoint = xstrdup("dst");
	b.opt.exclude_folders = xstrdup("[\"#JunkEmail#\",\"Old/Stuff\"]");
	b.opt.bad_item_limit = 10;
	b.opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	b.opt.max_message_size = 35 << 20;
	b.opt.received_after = 1600000000;
	b.opt.auto_start = true;
	b.opt.sync_deletes = true;
	b.opt.start_after = 1700000000;
	assert_int_equal(store_batch_create(f->st, &b, &err), 0);
	assert_true(b.id > 0);
	assert_true(b.created_at > 0);
	assert_int_equal(b.opt.incremental_interval, STORE_DEFAULT_INCREMENTAL_INTERVAL);

	assert_int_equal(store_batch_get(f->st, "Wave1", &got, &err), 0);
	assert_int_equal(got.id, b.id);
	assert_string_equal(got.source_endpoint, "src");
	assert_string_equal(got.target_endpoint, "dst");
	assert_int_equal(got.status, STORE_BATCH_CREATED);
	assert_string_equal(got.opt.exclude_folders, "[\"#JunkEmail#\",\"Old/Stuff\"]");
	assert_null(got.opt.include_folders);
	assert_int_equal(got.opt.bad_item_limit, 10);
	assert_int_equal(got.opt.large_item_limit, STORE_LIMIT_UNLIMITED);
	assert_int_equal(got.opt.max_message_size, 35 << 20);
	assert_int_equal(got.opt.received_after, 1600000000);
	assert_true(got.opt.auto_start);
	assert_false(got.opt.auto_complete);
	assert_true(got.opt.sync_deletes);
	assert_int_equal(got.opt.start_after, 1700000000);
	assert_int_equal(got.opt.complete_after, 0);
	assert_null(got.last_error);
	store_batch_clear(&got);

	/* update writes status, options, error and times */
	b.status = STORE_BATCH_SYNCING;
	b.started_at = 1234;
	b.opt.auto_complete = true;
	b.opt.incremental_interval = 3600;
	b.last_error = xstrdup("one user failed");
	assert_int_equal(store_batch_update(f->st, &b, &err), 0);
	assert_int_equal(store_batch_get_id(f->st, b.id, &got, &err), 0);
	assert_string_equal(got.name, "Wave1");
	assert_int_equal(got.status, STORE_BATCH_SYNCING);
	assert_int_equal(got.started_at, 1234);
	assert_true(got.opt.auto_complete);
	assert_int_equal(got.opt.incremental_interval, 3600);
	assert_string_equal(got.last_error, "one user failed");
	store_batch_clear(&got);

	assert_int_equal(
	    store_batch_set_status(f->st, b.id, STORE_BATCH_SYNCED_WITH_ERRORS, NULL, &err), 0);
	assert_int_equal(store_batch_get_id(f->st, b.id, &got, &err), 0);
	assert_int_equal(got.status, STORE_BATCH_SYNCED_WITH_ERRORS);
	assert_null(got.last_error);
	store_batch_clear(&got);

	batch_ok(f->st, "Alpha");
	assert_int_equal(store_batch_list(f->st, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "Alpha");
	assert_null(list[0].target_endpoint);
	assert_string_equal(list[1].name, "Wave1");
	store_batch_list_free(&list, n);
	assert_null(list);

	assert_int_equal(store_batch_delete(f->st, "Wave1", &err), 0);
	assert_int_equal(store_batch_get(f->st, "Wave1", &got, &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no batch named Wave1");
	assert_int_equal(store_batch_update(f->st, &b, &err), MF_ENOTFOUND);
	assert_int_equal(store_batch_set_status(f->st, b.id, STORE_BATCH_FAILED, NULL, &err),
			 MF_ENOTFOUND);
	store_batch_clear(&b);
}

static void test_batch_errors(void **state)
{
	struct fixture *f = *state;
	struct store_batch b = {0}, got;
	struct mf_error err = {0};

	b.name = (char *)"B";
	b.source_endpoint = (char *)"src";
	b.opt.bad_item_limit = -2;
	assert_int_equal(store_batch_create(f->st, &b, &err), MF_EINVAL);
	b.opt.bad_item_limit = 0;
	b.opt.max_message_size = -1;
	assert_int_equal(store_batch_create(f->st, &b, &err), MF_EINVAL);
	b.opt.max_message_size = 0;
	b.status = STORE_BATCH_NSTATUS;
	assert_int_equal(store_batch_create(f->st, &b, &err), MF_EINVAL);
	b.status = STORE_BATCH_CREATED;
	b.target_endpoint = (char *)"nowhere";
	assert_int_equal(store_batch_create(f->st, &b, &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no endpoint named nowhere");
	b.target_endpoint = NULL;
	assert_int_equal(store_batch_create(f->st, &b, &err), 0);
	assert_int_equal(store_batch_create(f->st, &b, &err), MF_EEXIST);
	assert_int_equal(store_batch_get(f->st, NULL, &got, &err), MF_EINVAL);
	assert_int_equal(store_batch_get_id(f->st, 999, &got, &err), MF_ENOTFOUND);
	assert_int_equal(store_batch_set_status(f->st, b.id, STORE_BATCH_NSTATUS, NULL, &err),
			 MF_EINVAL);
}

/* ---- users -------------------------------------------------------------------------------- */

static const struct store_user_new three_users[] = {
    {"Alice@Example.org", "alice", "alice-pw", NULL, NULL, NULL},
    {"bob@example.org", "bob", "bob-pw", "/home/bob", "bob.t", "bob-target-pw"},
    {"carol@example.org", "", "", NULL, NULL, NULL}, /* by impersonation */
};

static void test_user_add_get_list(void **state)
{
	struct fixture *f = *state;
	int64_t b1 = batch_ok(f->st, "B1"), b2 = batch_ok(f->st, "B2");
	struct store_user_new other = {"dave@example.org", "dave", "pw", NULL, NULL, NULL};
	struct store_user u, *list;
	struct mf_error err = {0};
	char *plain;
	int64_t id;
	size_t n;

	users_ok(f->st, b1, three_users, 3);
	users_ok(f->st, b2, &other, 1);

	/* by address, case-insensitively */
	assert_int_equal(store_user_get(f->st, "alice@EXAMPLE.ORG", &u, &err), 0);
	assert_string_equal(u.email_address, "Alice@Example.org");
	assert_int_equal(u.batch_id, b1);
	assert_string_equal(u.batch_name, "B1");
	assert_string_equal(u.user_name, "alice");
	assert_int_equal(u.status, STORE_USER_QUEUED);
	assert_non_null(u.password_sealed);
	assert_int_equal(strncmp(u.password_sealed, "v1:", 3), 0);
	assert_int_equal(store_secret_open(f->st, u.password_sealed, &plain, &err), 0);
	assert_string_equal(plain, "alice-pw");
	mf_secret_free(&plain);
	assert_null(u.target_password_sealed);
	assert_true(u.created_at > 0);
	store_user_clear(&u);

	assert_int_equal(store_user_get(f->st, "bob@example.org", &u, &err), 0);
	assert_string_equal(u.user_root, "/home/bob");
	assert_string_equal(u.target_user_name, "bob.t");
	assert_int_equal(store_secret_open(f->st, u.target_password_sealed, &plain, &err), 0);
	assert_string_equal(plain, "bob-target-pw");
	mf_secret_free(&plain);
	store_user_clear(&u);

	/* empty strings are unset */
	assert_int_equal(store_user_get(f->st, "carol@example.org", &u, &err), 0);
	assert_null(u.user_name);
	assert_null(u.password_sealed);
	id = u.id;
	store_user_clear(&u);
	assert_int_equal(store_user_get_id(f->st, id, &u, &err), 0);
	assert_string_equal(u.email_address, "carol@example.org");
	store_user_clear(&u);

	assert_int_equal(store_user_list(f->st, b1, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].email_address, "Alice@Example.org");
	assert_string_equal(list[2].email_address, "carol@example.org");
	store_user_list_free(&list, n);
	assert_int_equal(store_user_list(f->st, 0, &list, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(list[3].email_address, "dave@example.org");
	assert_string_equal(list[3].batch_name, "B2");
	store_user_list_free(&list, n);

	assert_int_equal(store_user_get(f->st, "nobody@example.org", &u, &err), MF_ENOTFOUND);
	assert_int_equal(store_user_get_id(f->st, 9999, &u, &err), MF_ENOTFOUND);
	assert_int_equal(store_user_get(f->st, NULL, &u, &err), MF_EINVAL);
}

static void test_user_add_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	int64_t b1 = batch_ok(f->st, "B1"), b2 = batch_ok(f->st, "B2");
	struct store_user_new dup[] = {
	    {"x@example.org", "x", "pw", NULL, NULL, NULL},
	    {"y@example.org", "y", "pw", NULL, NULL, NULL},
	    {"X@EXAMPLE.org", "x2", "pw", NULL, NULL, NULL},
	};
	struct store_user_new empty = {"", "e", "pw", NULL, NULL, NULL};
	struct store_user *list;
	struct mf_error err = {0};
	size_t n;

	/* A duplicate inside the set: nothing is stored. */
	assert_int_equal(store_user_add_many(f->st, b1, dup, 3, &err), MF_EEXIST);
	assert_string_equal(err.msg, "mailbox X@EXAMPLE.org is already in batch B1");
	assert_int_equal(store_user_list(f->st, 0, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	store_user_list_free(&list, n);

	/* A mailbox can be in only one batch. */
	users_ok(f->st, b1, dup, 2);
	assert_int_equal(store_user_add_many(f->st, b2, &dup[2], 1, &err), MF_EEXIST);
	assert_string_equal(err.msg, "mailbox X@EXAMPLE.org is already in batch B1");

	assert_int_equal(store_user_add_many(f->st, b2, &empty, 1, &err), MF_EINVAL);
	assert_int_equal(store_user_add_many(f->st, 999, dup, 1, &err), MF_ENOTFOUND);
	assert_int_equal(store_user_list(f->st, b2, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	store_user_list_free(&list, n);
}

static void test_user_status_and_stats(void **state)
{
	struct fixture *f = *state;
	int64_t b = batch_ok(f->st, "B"), id, counts[STORE_USER_NSTATUS];
	struct store_user_stats s = {0};
	struct store_user u;
	struct mf_error err = {0};

	users_ok(f->st, b, three_users, 3);
	id = user_id(f->st, "bob@example.org");
	assert_int_equal(store_user_set_status(f->st, id, STORE_USER_FAILED, "bad password", &err),
			 0);
	assert_int_equal(store_user_get_id(f->st, id, &u, &err), 0);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_string_equal(u.stats.last_error, "bad password");
	store_user_clear(&u);

	s.total_items = 1000;
	s.synced_items = 990;
	s.skipped_items = 3;
	s.bytes_transferred = 123456789012LL;
	s.total_bytes = 223456789012LL;
	s.transient_errors = 4;
	s.started_at = 100;
	s.ended_at = 200;
	s.last_sync_at = 150;
	s.last_error = (char *)"connection reset";
	s.current_folder = (char *)"Archive/2019";
	s.next_attempt_at = 300;
	s.attempts = 2;
	assert_int_equal(store_user_update_stats(f->st, id, &s, &err), 0);
	assert_int_equal(store_user_get_id(f->st, id, &u, &err), 0);
	assert_int_equal(u.stats.total_items, 1000);
	assert_int_equal(u.stats.synced_items, 990);
	assert_int_equal(u.stats.skipped_items, 3);
	assert_int_equal(u.stats.bytes_transferred, 123456789012LL);
	assert_int_equal(u.stats.total_bytes, 223456789012LL);
	assert_int_equal(u.stats.transient_errors, 4);
	assert_int_equal(u.stats.started_at, 100);
	assert_int_equal(u.stats.ended_at, 200);
	assert_int_equal(u.stats.last_sync_at, 150);
	assert_string_equal(u.stats.last_error, "connection reset");
	assert_string_equal(u.stats.current_folder, "Archive/2019");
	assert_int_equal(u.stats.next_attempt_at, 300);
	assert_int_equal(u.stats.attempts, 2);
	assert_int_equal(u.status, STORE_USER_FAILED); /* untouched */
	store_user_clear(&u);

	assert_int_equal(store_batch_user_counts(f->st, b, counts, &err), 0);
	assert_int_equal(counts[STORE_USER_QUEUED], 2);
	assert_int_equal(counts[STORE_USER_FAILED], 1);
	assert_int_equal(counts[STORE_USER_SYNCED], 0);

	assert_int_equal(store_user_update_stats(f->st, 9999, &s, &err), MF_ENOTFOUND);
	assert_int_equal(store_user_set_status(f->st, 9999, STORE_USER_SYNCED, NULL, &err),
			 MF_ENOTFOUND);
	assert_int_equal(store_user_set_status(f->st, id, STORE_USER_NSTATUS, NULL, &err),
			 MF_EINVAL);
}

static void test_user_claim(void **state)
{
	struct fixture *f = *state;
	int64_t b = batch_ok(f->st, "B"), other = batch_ok(f->st, "Other");
	struct store_user_new elsewhere = {"e@example.org", "e", "pw", NULL, NULL, NULL};
	struct store_user_stats s = {0};
	struct store *st2 = open_ok(f->data_dir);
	struct store_user u;
	struct mf_error err = {0};

	users_ok(f->st, b, three_users, 3);
	users_ok(f->st, other, &elsewhere, 1);
	/* alice backs off until t=500 */
	s.next_attempt_at = 500;
	assert_int_equal(
	    store_user_update_stats(f->st, user_id(f->st, "alice@example.org"), &s, &err), 0);

	assert_int_equal(
	    store_user_claim(f->st, b, STORE_USER_QUEUED, STORE_USER_SYNCING, 100, &u, &err), 0);
	assert_string_equal(u.email_address, "bob@example.org");
	assert_int_equal(u.status, STORE_USER_SYNCING);
	store_user_clear(&u);
	/* a second handle gets the next one, never the same */
	assert_int_equal(
	    store_user_claim(st2, b, STORE_USER_QUEUED, STORE_USER_SYNCING, 100, &u, &err), 0);
	assert_string_equal(u.email_address, "carol@example.org");
	store_user_clear(&u);
	assert_int_equal(
	    store_user_claim(f->st, b, STORE_USER_QUEUED, STORE_USER_SYNCING, 100, &u, &err),
	    MF_ENOTFOUND);
	/* once its backoff has passed */
	assert_int_equal(
	    store_user_claim(f->st, b, STORE_USER_QUEUED, STORE_USER_SYNCING, 500, &u, &err), 0);
	assert_string_equal(u.email_address, "Alice@Example.org");
	store_user_clear(&u);
	/* another status pair: Synced -> IncrementalSyncing */
	assert_int_equal(store_user_set_status(f->st, user_id(f->st, "bob@example.org"),
					       STORE_USER_SYNCED, NULL, &err),
			 0);
	assert_int_equal(store_user_claim(f->st, b, STORE_USER_SYNCED,
					  STORE_USER_INCREMENTAL_SYNCING, 600, &u, &err),
			 0);
	assert_string_equal(u.email_address, "bob@example.org");
	assert_int_equal(u.status, STORE_USER_INCREMENTAL_SYNCING);
	store_user_clear(&u);
	store_close(&st2);
}

/* ---- folder state -------------------------------------------------------------------------- */

static void test_folder_state(void **state)
{
	struct fixture *f = *state;
	struct store_folder fs = {0}, got, *list;
	struct mf_error err = {0};
	int64_t uid, id;
	size_t n;

	users_ok(f->st, batch_ok(f->st, "B"), three_users, 3);
	uid = user_id(f->st, "bob@example.org");
	fs.user_id = uid;
	fs.source_name = xstrdup("Entwürfe/Übersicht");
	fs.target_name = xstrdup("Drafts/Übersicht");
	fs.uidvalidity = 1234567890;
	fs.uidnext = 4000;
	fs.highestmodseq = 9000000000LL;
	fs.last_uid = 3999;
	fs.message_count = 3500;
	assert_int_equal(store_folder_put(f->st, &fs, &err), 0);
	id = fs.id;
	assert_true(id > 0);

	assert_int_equal(store_folder_get(f->st, uid, "Entwürfe/Übersicht", &got, &err), 0);
	assert_int_equal(got.id, id);
	assert_string_equal(got.target_name, "Drafts/Übersicht");
	assert_int_equal(got.uidvalidity, 1234567890);
	assert_int_equal(got.uidnext, 4000);
	assert_int_equal(got.highestmodseq, 9000000000LL);
	assert_int_equal(got.last_uid, 3999);
	assert_int_equal(got.message_count, 3500);
	store_folder_clear(&got);

	/* a second put replaces the state and keeps the id */
	fs.uidnext = 4100;
	fs.last_uid = 4099;
	assert_int_equal(store_folder_put(f->st, &fs, &err), 0);
	assert_int_equal(fs.id, id);
	assert_int_equal(store_folder_get(f->st, uid, "Entwürfe/Übersicht", &got, &err), 0);
	assert_int_equal(got.uidnext, 4100);
	assert_int_equal(got.last_uid, 4099);
	store_folder_clear(&got);

	folder_ok(f->st, uid, "INBOX");
	assert_int_equal(store_folder_list(f->st, uid, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].source_name, "Entwürfe/Übersicht");
	assert_string_equal(list[1].source_name, "INBOX");
	assert_null(list[1].target_name);
	store_folder_list_free(&list, n);

	assert_int_equal(store_folder_get(f->st, uid, "Nope", &got, &err), MF_ENOTFOUND);
	store_folder_clear(&fs);
	fs.user_id = 9999;
	fs.source_name = (char *)"INBOX";
	assert_int_equal(store_folder_put(f->st, &fs, &err), MF_ENOTFOUND);
	fs.source_name = NULL;
	assert_int_equal(store_folder_put(f->st, &fs, &err), MF_EINVAL);
}

/* ---- message map ---------------------------------------------------------------------------- */

static void test_msgmap_intent_confirm(void **state)
{
	struct fixture *f = *state;
	struct store_msgmap m = {0}, got, *list;
	struct mf_error err = {0};
	int64_t uid, inbox, sent, count;
	size_t n;

	users_ok(f->st, batch_ok(f->st, "B"), three_users, 3);
	uid = user_id(f->st, "bob@example.org");
	inbox = folder_ok(f->st, uid, "INBOX");
	sent = folder_ok(f->st, uid, "Sent");

	assert_int_equal(store_msgmap_lookup(f->st, inbox, 7, 1, NULL, &err), MF_ENOTFOUND);
	m.folder_id = inbox;
	m.uidvalidity = 7;
	m.uid = 1;
	m.size = 2048;
	m.flags = (char *)"\\Seen $Label1";
	m.location = (char *)"1700000000.M1P2.host";
	assert_int_equal(store_msgmap_put_intent(f->st, &m, &err), 0);
	m.uid = 2;
	assert_int_equal(store_msgmap_put_intent(f->st, &m, &err), 0);
	m.folder_id = sent;
	m.uid = 5;
	assert_int_equal(store_msgmap_put_intent(f->st, &m, &err), 0);
	assert_int_equal(store_msgmap_put_intent(f->st, &m, &err), 0); /* retry: replaced */

	assert_int_equal(store_msgmap_lookup(f->st, inbox, 7, 1, &got, &err), 0);
	assert_int_equal(got.state, STORE_MSGMAP_INTENT);
	assert_int_equal(got.size, 2048);
	assert_string_equal(got.flags, "\\Seen $Label1");
	assert_string_equal(got.sha256, "");
	assert_int_equal(got.target_uid, 0);
	store_msgmap_clear(&got);
	assert_int_equal(store_msgmap_lookup(f->st, inbox, 7, 1, NULL, &err), 0);

	assert_int_equal(store_msgmap_list_intents(f->st, uid, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(list[0].folder_id, inbox);
	assert_int_equal(list[0].uid, 1);
	assert_int_equal(list[1].uid, 2);
	assert_int_equal(list[2].folder_id, sent);
	store_msgmap_list_free(&list, n);

	/* confirm: unset fields keep the intent's values */
	memset(&m, 0, sizeof(m));
	m.folder_id = inbox;
	m.uidvalidity = 7;
	m.uid = 1;
	m.target_uidvalidity = 99;
	m.target_uid = 501;
	memcpy(m.sha256, SHA_A, sizeof(SHA_A));
	assert_int_equal(store_msgmap_confirm(f->st, &m, &err), 0);
	assert_int_equal(store_msgmap_lookup(f->st, inbox, 7, 1, &got, &err), 0);
	assert_int_equal(got.state, STORE_MSGMAP_DONE);
	assert_int_equal(got.target_uidvalidity, 99);
	assert_int_equal(got.target_uid, 501);
	assert_string_equal(got.sha256, SHA_A);
	assert_int_equal(got.size, 2048);
	assert_string_equal(got.flags, "\\Seen $Label1");
	assert_string_equal(got.location, "1700000000.M1P2.host");
	store_msgmap_clear(&got);

	/* a done key cannot go back to intent */
	m.size = 10;
	assert_int_equal(store_msgmap_put_intent(f->st, &m, &err), MF_EEXIST);
	/* confirm without an intent creates the row done */
	m.uid = 3;
	memcpy(m.sha256, SHA_B, sizeof(SHA_B));
	assert_int_equal(store_msgmap_confirm(f->st, &m, &err), 0);

	assert_int_equal(store_msgmap_list_intents(f->st, uid, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	store_msgmap_list_free(&list, n);
	assert_int_equal(store_msgmap_count_done(f->st, inbox, 7, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_int_equal(store_msgmap_count_done(f->st, inbox, 0, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_int_equal(store_msgmap_count_done(f->st, inbox, 8, &count, &err), 0);
	assert_int_equal(count, 0);
	assert_int_equal(store_msgmap_count_done(f->st, sent, 0, &count, &err), 0);
	assert_int_equal(count, 0);

	assert_int_equal(store_msgmap_list_done(f->st, inbox, 7, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].uid, 1);
	assert_int_equal(list[1].uid, 3);
	assert_string_equal(list[1].sha256, SHA_B);
	assert_int_equal(list[1].size, 10);
	store_msgmap_list_free(&list, n);

	/* flags and forget */
	assert_int_equal(store_msgmap_set_flags(f->st, inbox, 7, 1, "\\Seen \\Flagged", &err), 0);
	assert_int_equal(store_msgmap_lookup(f->st, inbox, 7, 1, &got, &err), 0);
	assert_string_equal(got.flags, "\\Seen \\Flagged");
	store_msgmap_clear(&got);
	assert_int_equal(store_msgmap_set_flags(f->st, inbox, 7, 42, "", &err), MF_ENOTFOUND);
	assert_int_equal(store_msgmap_forget(f->st, inbox, 7, 2, &err), 0);
	assert_int_equal(store_msgmap_forget(f->st, inbox, 7, 2, &err), MF_ENOTFOUND);
	assert_int_equal(store_msgmap_lookup(f->st, inbox, 7, 2, NULL, &err), MF_ENOTFOUND);

	/* bad hashes and unknown folders */
	memcpy(m.sha256, "ABCDEF", 7);
	assert_int_equal(store_msgmap_put_intent(f->st, &m, &err), MF_EINVAL);
	memcpy(m.sha256, SHA_A, sizeof(SHA_A));
	m.sha256[10] = 'A';
	assert_int_equal(store_msgmap_confirm(f->st, &m, &err), MF_EINVAL);
	m.sha256[0] = '\0';
	m.folder_id = 9999;
	assert_int_equal(store_msgmap_put_intent(f->st, &m, &err), MF_ENOTFOUND);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10,000 intents and confirmations in one transaction. No timing assertion:
 * the time is printed for the record. */
static void test_msgmap_10k(void **state)
{
	struct fixture *f = *state;
	struct store_msgmap m = {0};
	struct mf_error err = {0};
	int64_t uid, folder, count;
	double t0, t1;

	users_ok(f->st, batch_ok(f->st, "B"), three_users, 3);
	uid = user_id(f->st, "bob@example.org");
	folder = folder_ok(f->st, uid, "INBOX");
	m.folder_id = folder;
	m.uidvalidity = 1;
	m.flags = (char *)"\\Seen";
	t0 = now_seconds();
	assert_int_equal(store_begin(f->st, &err), 0);
	for (int i = 1; i <= 10000; i++) {
		m.uid = i;
		m.size = 1000 + i;
		m.sha256[0] = '\0';
		m.target_uid = 0;
		if (store_msgmap_put_intent(f->st, &m, &err) != 0)
			fail_msg("intent %d: %s", i, err.msg);
		m.target_uid = i;
		memcpy(m.sha256, SHA_A, sizeof(SHA_A));
		if (store_msgmap_confirm(f->st, &m, &err) != 0)
			fail_msg("confirm %d: %s", i, err.msg);
	}
	assert_int_equal(store_commit(f->st, &err), 0);
	t1 = now_seconds();
	printf("# 10000 message-map intents + confirmations in one transaction: %.3f s "
	       "(%.1f us per message)\n",
	       t1 - t0, (t1 - t0) * 1e6 / 10000);
	assert_int_equal(store_msgmap_count_done(f->st, folder, 1, &count, &err), 0);
	assert_int_equal(count, 10000);
}

/* ---- skipped items and events ------------------------------------------------------------------
 */

static void test_skipped_items(void **state)
{
	struct fixture *f = *state;
	struct store_skipped s = {0}, *list;
	struct mf_error err = {0};
	int64_t uid, count;
	size_t n;

	users_ok(f->st, batch_ok(f->st, "B"), three_users, 3);
	uid = user_id(f->st, "bob@example.org");
	s.user_id = uid;
	s.folder = (char *)"INBOX";
	s.uid = 17;
	s.date = 1500000000;
	s.subject = (char *)"Quarterly report – final";
	s.size = 80 << 20;
	s.reason = (char *)"larger than the target's APPENDLIMIT (50 MB)";
	s.kind = STORE_SKIP_LARGE;
	assert_int_equal(store_skipped_add(f->st, &s, &err), 0);
	assert_true(s.id > 0);
	s.uid = 18;
	s.subject = NULL;
	s.date = 0;
	s.reason = (char *)"NO [CANNOT] message refused";
	s.kind = STORE_SKIP_BAD;
	assert_int_equal(store_skipped_add(f->st, &s, &err), 0);

	assert_int_equal(store_skipped_list(f->st, uid, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].folder, "INBOX");
	assert_int_equal(list[0].uid, 17);
	assert_int_equal(list[0].date, 1500000000);
	assert_string_equal(list[0].subject, "Quarterly report – final");
	assert_int_equal(list[0].size, 80 << 20);
	assert_int_equal(list[0].kind, STORE_SKIP_LARGE);
	assert_true(list[0].created_at > 0);
	assert_null(list[1].subject);
	assert_int_equal(list[1].date, 0);
	assert_int_equal(list[1].kind, STORE_SKIP_BAD);
	store_skipped_list_free(&list, n);

	assert_int_equal(store_skipped_count(f->st, uid, STORE_SKIP_BAD, &count, &err), 0);
	assert_int_equal(count, 1);
	assert_int_equal(store_skipped_count(f->st, uid, STORE_SKIP_LARGE, &count, &err), 0);
	assert_int_equal(count, 1);

	s.reason = NULL;
	assert_int_equal(store_skipped_add(f->st, &s, &err), MF_EINVAL);
	s.reason = (char *)"x";
	s.user_id = 9999;
	assert_int_equal(store_skipped_add(f->st, &s, &err), MF_ENOTFOUND);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	int64_t b = batch_ok(f->st, "B"), uid;
	struct store_event *list;
	struct mf_error err = {0};
	size_t n;

	users_ok(f->st, b, three_users, 3);
	uid = user_id(f->st, "bob@example.org");
	assert_int_equal(store_event_add(f->st, b, 0, STORE_EVENT_INFO, "batch started", &err), 0);
	assert_int_equal(store_event_add(f->st, b, uid, STORE_EVENT_WARNING, "retrying", &err), 0);
	assert_int_equal(store_event_add(f->st, b, uid, STORE_EVENT_ERROR, "failed", &err), 0);
	assert_int_equal(store_event_add(f->st, 0, 0, STORE_EVENT_INFO, "unrelated", &err), 0);

	assert_int_equal(store_event_list(f->st, b, 0, 0, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].message, "batch started");
	assert_null(list[0].email_address);
	assert_int_equal(list[0].user_id, 0);
	assert_int_equal(list[1].level, STORE_EVENT_WARNING);
	assert_string_equal(list[1].email_address, "bob@example.org");
	assert_int_equal(list[2].level, STORE_EVENT_ERROR);
	assert_true(list[2].at > 0);
	store_event_list_free(&list, n);

	/* the latest two, oldest first */
	assert_int_equal(store_event_list(f->st, b, 0, 2, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].message, "retrying");
	assert_string_equal(list[1].message, "failed");
	store_event_list_free(&list, n);

	assert_int_equal(store_event_list(f->st, 0, uid, 0, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	store_event_list_free(&list, n);

	assert_int_equal(store_event_add(f->st, b, 0, STORE_EVENT_INFO, NULL, &err), MF_EINVAL);
	assert_int_equal(store_event_add(f->st, 9999, 0, STORE_EVENT_INFO, "x", &err),
			 MF_ENOTFOUND);
}

/* ---- cascade, endpoint protection, sealing ------------------------------------------------------
 */

static void test_cascade_delete(void **state)
{
	struct fixture *f = *state;
	int64_t b = batch_ok(f->st, "B"), keep = batch_ok(f->st, "Keep"), uid, folder;
	struct store_user_new kept = {"k@example.org", "k", "pw", NULL, NULL, NULL};
	struct store_skipped s = {0};
	struct store_msgmap m = {0};
	struct mf_error err = {0};
	const char *tables[] = {"migration_users", "folder_state", "message_map", "skipped_items",
				"events"};

	users_ok(f->st, b, three_users, 3);
	users_ok(f->st, keep, &kept, 1);
	uid = user_id(f->st, "bob@example.org");
	folder = folder_ok(f->st, uid, "INBOX");
	folder_ok(f->st, user_id(f->st, "k@example.org"), "INBOX");
	m.folder_id = folder;
	m.uidvalidity = 1;
	m.uid = 1;
	assert_int_equal(store_msgmap_confirm(f->st, &m, &err), 0);
	s.user_id = uid;
	s.folder = (char *)"INBOX";
	s.reason = (char *)"refused";
	assert_int_equal(store_skipped_add(f->st, &s, &err), 0);
	assert_int_equal(store_event_add(f->st, b, uid, STORE_EVENT_INFO, "x", &err), 0);
	assert_int_equal(store_event_add(f->st, b, 0, STORE_EVENT_INFO, "y", &err), 0);

	/* the endpoint stays protected while a batch uses it */
	assert_int_equal(store_endpoint_delete(f->st, "src", &err), MF_EBUSY);
	assert_string_equal(err.msg, "endpoint src is used by batches B, Keep");

	assert_int_equal(store_batch_delete(f->st, "B", &err), 0);
	assert_int_equal(raw_count(f->data_dir, "SELECT count(*) FROM migration_users"), 1);
	assert_int_equal(raw_count(f->data_dir, "SELECT count(*) FROM folder_state"), 1);
	for (size_t i = 2; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char *sql = xasprintf("SELECT count(*) FROM %s", tables[i]);

		assert_int_equal(raw_count(f->data_dir, sql), 0);
		free(sql);
	}
	assert_int_equal(store_batch_delete(f->st, "Keep", &err), 0);
	assert_int_equal(raw_count(f->data_dir, "SELECT count(*) FROM migration_users"), 0);
	assert_int_equal(store_endpoint_delete(f->st, "src", &err), 0);
}

/* true when needle occurs in the file (absent files hold nothing). */
static bool file_contains(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "rb");
	size_t nlen = strlen(needle), len = 0, cap = 0, r;
	char *data = NULL, chunk[65536];
	bool found = false;

	if (fp == NULL)
		return false;
	while ((r = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (len + r > cap) {
			cap = (len + r) * 2;
			data = xrealloc(data, cap);
		}
		memcpy(data + len, chunk, r);
		len += r;
	}
	fclose(fp);
	for (size_t i = 0; nlen <= len && i <= len - nlen && !found; i++)
		found = memcmp(data + i, needle, nlen) == 0;
	free(data);
	return found;
}

static void test_passwords_sealed(void **state)
{
	struct fixture *f = *state;
	struct store_user_new u = {
	    "p@example.org",	      "p-user", "Plaintext-Pa55word-1", NULL, "p-target",
	    "Plaintext-Target-Pa55-2"};
	char *db = xasprintf("%s/mailferry.db", f->data_dir);
	char *wal = xasprintf("%s/mailferry.db-wal", f->data_dir);

	users_ok(f->st, batch_ok(f->st, "B"), &u, 1);
	/* the user name is stored in the clear: the check itself works */
	assert_true(file_contains(db, "p-target") || file_contains(wal, "p-target"));
	assert_false(file_contains(db, "Plaintext-Pa55word-1"));
	assert_false(file_contains(wal, "Plaintext-Pa55word-1"));
	assert_false(file_contains(db, "Plaintext-Target-Pa55-2"));
	assert_false(file_contains(wal, "Plaintext-Target-Pa55-2"));
	store_close(&f->st);
	assert_false(file_contains(db, "Plaintext-Pa55word-1"));
	assert_false(file_contains(db, "Plaintext-Target-Pa55-2"));
	free(db);
	free(wal);
}

/* ---- transactions
 * ---------------------------------------------------------------------------------- */

static void test_transactions(void **state)
{
	struct fixture *f = *state;
	int64_t b = batch_ok(f->st, "B"), uid, folder, count;
	struct store_user_new dup = {"bob@example.org", "bob", "pw", NULL, NULL, NULL};
	struct store_msgmap m = {0};
	struct mf_error err = {0};
	struct store_batch got;

	users_ok(f->st, b, three_users, 3);
	uid = user_id(f->st, "bob@example.org");
	folder = folder_ok(f->st, uid, "INBOX");
	m.folder_id = folder;
	m.uidvalidity = 1;

	/* rollback undoes everything */
	assert_int_equal(store_begin(f->st, &err), 0);
	m.uid = 1;
	assert_int_equal(store_msgmap_confirm(f->st, &m, &err), 0);
	store_rollback(f->st);
	assert_int_equal(store_msgmap_count_done(f->st, folder, 1, &count, &err), 0);
	assert_int_equal(count, 0);

	/* a failing store call inside undoes only its own work */
	assert_int_equal(store_begin(f->st, &err), 0);
	assert_int_equal(store_msgmap_confirm(f->st, &m, &err), 0);
	assert_int_equal(store_user_add_many(f->st, b, &dup, 1, &err), MF_EEXIST);
	assert_int_equal(store_batch_insert(f->st, "B", "src", NULL, &count, &err), MF_EEXIST);
	assert_int_equal(store_batch_insert(f->st, "C", "src", NULL, &count, &err), 0);
	m.uid = 2;
	assert_int_equal(store_msgmap_confirm(f->st, &m, &err), 0);
	assert_int_equal(store_commit(f->st, &err), 0);
	assert_int_equal(store_msgmap_count_done(f->st, folder, 1, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_int_equal(store_batch_get(f->st, "C", &got, &err), 0);
	store_batch_clear(&got);

	/* and the handle works normally afterwards */
	assert_int_equal(store_commit(f->st, &err), MF_EIO); /* nothing open */
	assert_int_equal(store_batch_insert(f->st, "D", "src", NULL, &count, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test_setup_teardown(test_batch_crud, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_errors, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_user_add_get_list, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_user_add_all_or_nothing, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_user_status_and_stats, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_user_claim, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_folder_state, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_msgmap_intent_confirm, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_msgmap_10k, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_skipped_items, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_events, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_cascade_delete, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_passwords_sealed, setup_open, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, setup_open, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
