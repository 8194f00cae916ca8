/* Unit tests for src/store: paths, opening, schema, endpoints, batches,
 * two handles on one database. Secrets are in test_store_secret.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store-batch.h"
#include "util/mf-error.h"
#include "util/xmalloc.h"

struct fixture {
	char *dir;	/* temp dir, removed after the test */
	char *data_dir; /* <dir>/data/sub: parents do not exist yet */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/mf-store-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->data_dir = xasprintf("%s/data/sub", f->dir);
	unsetenv("MAILFERRY_DATA_DIR");
	unsetenv("MAILFERRY_KEY_FILE");
	unsetenv("XDG_DATA_HOME");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f->data_dir);
	free(f);
	return 0;
}

static mode_t mode_of(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static struct store *open_ok(const char *data_dir)
{
	struct mf_error err = {0};
	struct store *st = NULL;
	int rc = store_open(data_dir, NULL, &st, &err);

	if (rc != 0)
		fail_msg("store_open: %s", err.msg);
	assert_non_null(st);
	return st;
}

static void fill_endpoint(struct store_endpoint *ep, const char *name)
{
	memset(ep, 0, sizeof(*ep));
	ep->name = xstrdup(name);
	ep->type = xstrdup("imap");
	ep->server = xstrdup("imap.example.org");
	ep->port = 993;
	ep->security = xstrdup("tls");
	ep->auth = xstrdup("plain");
	ep->admin_user = xstrdup("admin");
	ep->admin_secret = xstrdup("v1:not-really-sealed");
	ep->impersonation = xstrdup("master-user");
	ep->master_separator = xstrdup("*");
	ep->accept_untrusted = true;
	ep->max_concurrent_migrations = 20;
	ep->max_concurrent_incremental_syncs = 10;
	ep->exchange_server = xstrdup("ex.example.org");
	ep->rpc_proxy_server = xstrdup("rpc.example.org");
	ep->email_address = xstrdup("admin@example.org");
	ep->mailbox_permission = xstrdup("full-access");
}

static void insert_ok(struct store *st, const char *name)
{
	struct store_endpoint ep;
	struct mf_error err = {0};

	fill_endpoint(&ep, name);
	if (store_endpoint_insert(st, &ep, &err) != 0)
		fail_msg("insert %s: %s", name, err.msg);
	store_endpoint_clear(&ep);
}

/* ---- opening -------------------------------------------------------------- */

static void test_open_creates_files(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	char *db = xasprintf("%s/mailferry.db", f->data_dir);
	char *key = xasprintf("%s/secret.key", f->data_dir);
	char *parent = xasprintf("%s/data", f->dir);
	struct stat sb;

	assert_int_equal(mode_of(f->data_dir), 0700);
	assert_int_equal(mode_of(parent), 0700);
	assert_int_equal(stat(db, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 077, 0);
	assert_int_equal(mode_of(key), 0600);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_size, 32);
	assert_int_equal(store_schema_version(st), 4);
	store_close(&st);
	assert_null(st);
	store_close(&st); /* harmless twice */
	free(db);
	free(key);
	free(parent);
}

static void test_open_refuses_file_as_dir(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/plain-file", f->dir);
	struct mf_error err = {0};
	struct store *st = NULL;
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(store_open(path, NULL, &st, &err), MF_EIO);
	assert_null(st);
	assert_non_null(strstr(err.msg, path));
	free(path);
}

static void test_schema_version(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	char *db = xasprintf("%s/mailferry.db", f->data_dir);
	struct mf_error err = {0};
	sqlite3 *raw;
	sqlite3_stmt *stmt;

	store_close(&st);
	/* Reopening an up-to-date database changes nothing. */
	st = open_ok(f->data_dir);
	assert_int_equal(store_schema_version(st), 4);
	store_close(&st);

	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw,
					    "SELECT count(*), max(version) FROM schema_version", -1,
					    &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 4);
	assert_int_equal(sqlite3_column_int(stmt, 1), 4);
	sqlite3_finalize(stmt);
	assert_int_equal(
	    sqlite3_exec(raw, "INSERT INTO schema_version (version, applied_at) VALUES (7, 0)",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(raw);

	assert_int_equal(store_open(f->data_dir, NULL, &st, &err), MF_EIO);
	assert_null(st);
	assert_non_null(strstr(err.msg, "schema version 7"));
	assert_non_null(strstr(err.msg, "newer than this mailferry"));
	assert_non_null(strstr(err.msg, db));
	free(db);
}

static void test_wal_mode(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	char *db = xasprintf("%s/mailferry.db", f->data_dir);
	sqlite3 *raw;
	sqlite3_stmt *stmt;

	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
	sqlite3_finalize(stmt);
	sqlite3_close(raw);
	store_close(&st);
	free(db);
}

/* ---- data directory resolution -------------------------------------------------------- */

static void test_data_dir_resolution(void **state)
{
	char *s;

	(void)state;
	setenv("MAILFERRY_DATA_DIR", "/srv/mf", 1);
	setenv("XDG_DATA_HOME", "/home/u/.data", 1);
	setenv("HOME", "/home/u", 1);

	s = store_default_data_dir("/explicit");
	assert_string_equal(s, "/explicit");
	free(s);
	s = store_default_data_dir(NULL);
	assert_string_equal(s, "/srv/mf");
	free(s);
	s = store_default_data_dir("");
	assert_string_equal(s, "/srv/mf");
	free(s);

	unsetenv("MAILFERRY_DATA_DIR");
	s = store_default_data_dir(NULL);
	assert_string_equal(s, "/home/u/.data/mailferry");
	free(s);
	setenv("XDG_DATA_HOME", "/home/u/.data/", 1);
	s = store_default_data_dir(NULL);
	assert_string_equal(s, "/home/u/.data/mailferry");
	free(s);
	setenv("MAILFERRY_DATA_DIR", "", 1); /* empty counts as unset */
	s = store_default_data_dir(NULL);
	assert_string_equal(s, "/home/u/.data/mailferry");
	free(s);

	/* A relative XDG_DATA_HOME is invalid and ignored. */
	setenv("XDG_DATA_HOME", "relative/data", 1);
	s = store_default_data_dir(NULL);
	if (geteuid() == 0)
		assert_string_equal(s, "/var/lib/mailferry");
	else
		assert_string_equal(s, "/home/u/.local/share/mailferry");
	free(s);
	unsetenv("XDG_DATA_HOME");
	s = store_default_data_dir(NULL);
	if (geteuid() == 0)
		assert_string_equal(s, "/var/lib/mailferry");
	else
		assert_string_equal(s, "/home/u/.local/share/mailferry");
	free(s);
	unsetenv("MAILFERRY_DATA_DIR");
}

static void test_key_file_resolution(void **state)
{
	char *s;

	(void)state;
	s = store_default_key_file("/d");
	assert_string_equal(s, "/d/secret.key");
	free(s);
	s = store_default_key_file("/d/");
	assert_string_equal(s, "/d/secret.key");
	free(s);
	setenv("MAILFERRY_DATA_DIR", "/env-dir", 1);
	s = store_default_key_file(NULL);
	assert_string_equal(s, "/env-dir/secret.key");
	free(s);
	setenv("MAILFERRY_KEY_FILE", "/etc/mf/key", 1);
	s = store_default_key_file("/d");
	assert_string_equal(s, "/etc/mf/key");
	free(s);
	unsetenv("MAILFERRY_KEY_FILE");
	unsetenv("MAILFERRY_DATA_DIR");
}

static void test_open_uses_environment(void **state)
{
	struct fixture *f = *state;
	char *xdg = xasprintf("%s/xdg", f->dir);
	char *db = xasprintf("%s/xdg/mailferry/mailferry.db", f->dir);
	char *key = xasprintf("%s/keys/k", f->dir);
	char *keydir = xasprintf("%s/keys", f->dir);
	struct store *st;

	setenv("XDG_DATA_HOME", xdg, 1);
	setenv("MAILFERRY_KEY_FILE", key, 1);
	st = open_ok(NULL);
	assert_int_equal(access(db, F_OK), 0);
	assert_int_equal(mode_of(key), 0600);
	assert_int_equal(mode_of(keydir), 0700);
	store_close(&st);

	setenv("MAILFERRY_DATA_DIR", f->data_dir, 1);
	st = open_ok(NULL);
	store_close(&st);
	free(db);
	db = xasprintf("%s/mailferry.db", f->data_dir);
	assert_int_equal(access(db, F_OK), 0);
	unsetenv("XDG_DATA_HOME");
	unsetenv("MAILFERRY_KEY_FILE");
	unsetenv("MAILFERRY_DATA_DIR");
	free(xdg);
	free(db);
	free(key);
	free(keydir);
}

/* ---- endpoints -------------------------------------------------------------------- */

static void test_endpoint_crud(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	struct store_endpoint ep, got, *list;
	struct mf_error err = {0};
	size_t n;

	fill_endpoint(&ep, "src");
	assert_int_equal(store_endpoint_insert(st, &ep, &err), 0);
	assert_true(ep.id > 0);
	assert_true(ep.created_at > 0);

	assert_int_equal(store_endpoint_get(st, "src", &got, &err), 0);
	assert_int_equal(got.id, ep.id);
	assert_string_equal(got.name, "src");
	assert_string_equal(got.type, "imap");
	assert_string_equal(got.server, "imap.example.org");
	assert_int_equal(got.port, 993);
	assert_string_equal(got.security, "tls");
	assert_string_equal(got.auth, "plain");
	assert_string_equal(got.admin_user, "admin");
	assert_string_equal(got.admin_secret, "v1:not-really-sealed");
	assert_string_equal(got.impersonation, "master-user");
	assert_string_equal(got.master_separator, "*");
	assert_true(got.accept_untrusted);
	assert_int_equal(got.max_concurrent_migrations, 20);
	assert_int_equal(got.max_concurrent_incremental_syncs, 10);
	assert_string_equal(got.exchange_server, "ex.example.org");
	assert_string_equal(got.rpc_proxy_server, "rpc.example.org");
	assert_string_equal(got.email_address, "admin@example.org");
	assert_string_equal(got.mailbox_permission, "full-access");
	assert_null(got.last_test_result);
	assert_null(got.last_test_json);
	assert_int_equal(got.last_test_at, 0);
	assert_int_equal(got.created_at, ep.created_at);
	assert_int_equal(got.updated_at, ep.updated_at);
	store_endpoint_clear(&got);
	assert_null(got.name);

	/* Exact, case-sensitive names. */
	assert_int_equal(store_endpoint_get(st, "SRC", &got, &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no endpoint named SRC");
	insert_ok(st, "SRC");

	/* Update: settings change, name and type do not. */
	free(ep.server);
	ep.server = xstrdup("mail.example.net");
	ep.port = 143;
	free(ep.security);
	ep.security = xstrdup("starttls");
	ep.accept_untrusted = false;
	free(ep.exchange_server);
	ep.exchange_server = NULL;
	free(ep.type);
	ep.type = xstrdup("exchange-remote");
	assert_int_equal(store_endpoint_update(st, &ep, &err), 0);
	assert_int_equal(store_endpoint_get(st, "src", &got, &err), 0);
	assert_string_equal(got.server, "mail.example.net");
	assert_int_equal(got.port, 143);
	assert_string_equal(got.security, "starttls");
	assert_false(got.accept_untrusted);
	assert_null(got.exchange_server);
	assert_string_equal(got.type, "imap");
	assert_true(got.updated_at >= got.created_at);
	store_endpoint_clear(&got);

	/* Test results. */
	assert_int_equal(
	    store_endpoint_set_test(st, ep.id, "Failed", "{\"stage\":\"tls\"}", 1700000000, &err),
	    0);
	assert_int_equal(store_endpoint_get(st, "src", &got, &err), 0);
	assert_string_equal(got.last_test_result, "Failed");
	assert_string_equal(got.last_test_json, "{\"stage\":\"tls\"}");
	assert_int_equal(got.last_test_at, 1700000000);
	store_endpoint_clear(&got);
	assert_int_equal(store_endpoint_set_test(st, 424242, "Success", NULL, 1, &err),
			 MF_ENOTFOUND);

	/* List ordered by name (byte order). */
	insert_ok(st, "b-target");
	insert_ok(st, "a-source");
	assert_int_equal(store_endpoint_list(st, &list, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(list[0].name, "SRC");
	assert_string_equal(list[1].name, "a-source");
	assert_string_equal(list[2].name, "b-target");
	assert_string_equal(list[3].name, "src");
	assert_string_equal(list[3].server, "mail.example.net");
	store_endpoint_list_free(&list, n);
	assert_null(list);

	/* Delete. */
	assert_int_equal(store_endpoint_delete(st, "src", &err), 0);
	assert_int_equal(store_endpoint_get(st, "src", &got, &err), MF_ENOTFOUND);
	assert_int_equal(store_endpoint_delete(st, "src", &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no endpoint named src");
	assert_int_equal(store_endpoint_update(st, &ep, &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no endpoint named src");
	assert_int_equal(store_endpoint_list(st, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	store_endpoint_list_free(&list, n);

	store_endpoint_clear(&ep);
	store_close(&st);
}

static void test_endpoint_empty_list_and_nulls(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	struct store_endpoint ep = {0}, got, *list;
	struct mf_error err = {0};
	size_t n;

	assert_int_equal(store_endpoint_list(st, &list, &n, &err), 0);
	assert_int_equal(n, 0);
	store_endpoint_list_free(&list, n);

	/* Only a name: every other string stays NULL. */
	ep.name = xstrdup("bare");
	assert_int_equal(store_endpoint_insert(st, &ep, &err), 0);
	assert_int_equal(store_endpoint_get(st, "bare", &got, &err), 0);
	assert_null(got.type);
	assert_null(got.server);
	assert_null(got.admin_secret);
	assert_int_equal(got.port, 0);
	assert_false(got.accept_untrusted);
	store_endpoint_clear(&got);
	store_endpoint_clear(&ep);

	assert_int_equal(store_endpoint_insert(st, &ep, &err), MF_EINVAL);
	store_close(&st);
}

static void test_endpoint_duplicate(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	struct store_endpoint ep;
	struct mf_error err = {0};

	insert_ok(st, "dup");
	fill_endpoint(&ep, "dup");
	assert_int_equal(store_endpoint_insert(st, &ep, &err), MF_EEXIST);
	assert_string_equal(err.msg, "an endpoint named dup already exists");
	store_endpoint_clear(&ep);
	store_close(&st);
}

/* ---- batches and delete protection ----------------------------------------------------- */

static void test_delete_refused_while_batch_uses(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	struct mf_error err = {0};
	int64_t id1 = 0, id2 = 0, id3 = 0;

	insert_ok(st, "src");
	insert_ok(st, "dst");
	insert_ok(st, "other");
	assert_int_equal(store_batch_insert(st, "Batch1", "src", "dst", &id1, &err), 0);
	assert_true(id1 > 0);

	assert_int_equal(store_endpoint_delete(st, "src", &err), MF_EBUSY);
	assert_string_equal(err.msg, "endpoint src is used by batch Batch1");
	assert_int_equal(store_endpoint_delete(st, "dst", &err), MF_EBUSY);
	assert_string_equal(err.msg, "endpoint dst is used by batch Batch1");

	/* Several: all named, comma-separated. */
	assert_int_equal(store_batch_insert(st, "Batch2", "other", "src", &id2, &err), 0);
	assert_int_equal(store_batch_insert(st, "Batch0", "src", NULL, &id3, &err), 0);
	assert_true(id1 != id2 && id2 != id3);
	assert_int_equal(store_endpoint_delete(st, "src", &err), MF_EBUSY);
	assert_string_equal(err.msg, "endpoint src is used by batches Batch0, Batch1, Batch2");

	/* Allowed once the batch rows are gone. */
	assert_int_equal(store_batch_delete(st, "Batch1", &err), 0);
	assert_int_equal(store_endpoint_delete(st, "dst", &err), 0);
	assert_int_equal(store_batch_delete(st, "Batch1", &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no batch named Batch1");
	assert_int_equal(store_batch_delete(st, "Batch0", &err), 0);
	assert_int_equal(store_batch_delete(st, "Batch2", &err), 0);
	assert_int_equal(store_endpoint_delete(st, "src", &err), 0);
	assert_int_equal(store_endpoint_delete(st, "other", &err), 0);
	store_close(&st);
}

static void test_batch_insert_errors(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	struct mf_error err = {0};
	int64_t id = 0;

	insert_ok(st, "src");
	assert_int_equal(store_batch_insert(st, "B", "nope", NULL, &id, &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no endpoint named nope");
	assert_int_equal(store_batch_insert(st, "B", "src", "gone", &id, &err), MF_ENOTFOUND);
	assert_string_equal(err.msg, "no endpoint named gone");
	assert_int_equal(store_batch_insert(st, "B", "src", NULL, &id, &err), 0);
	assert_int_equal(store_batch_insert(st, "B", "src", NULL, &id, &err), MF_EEXIST);
	assert_string_equal(err.msg, "a batch named B already exists");
	assert_int_equal(store_batch_insert(st, "", "src", NULL, &id, &err), MF_EINVAL);
	/* Nothing was left half-done: a new batch still goes in. */
	assert_int_equal(store_batch_insert(st, "b", "src", "src", &id, &err), 0);
	store_close(&st);
}

/* The foreign key itself refuses, even for SQL that skips the check. */
static void test_foreign_key_restrict(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir);
	struct mf_error err = {0};
	char *db = xasprintf("%s/mailferry.db", f->data_dir);
	int64_t id;
	sqlite3 *raw;

	insert_ok(st, "src");
	assert_int_equal(store_batch_insert(st, "B", "src", NULL, &id, &err), 0);
	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	sqlite3_busy_timeout(raw, 5000);
	assert_int_equal(sqlite3_exec(raw, "PRAGMA foreign_keys=ON", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(
	    sqlite3_exec(raw, "DELETE FROM endpoints WHERE name = 'src'", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(raw);
	store_close(&st);
	free(db);
}

/* ---- two handles ---------------------------------------------------------------- */

struct writer {
	struct store *st;
	const char *name;
	int rc;
	char msg[MF_ERROR_MSG_MAX];
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	struct store_endpoint ep;
	struct mf_error err = {0};

	fill_endpoint(&ep, w->name);
	w->rc = store_endpoint_insert(w->st, &ep, &err);
	memcpy(w->msg, err.msg, sizeof(w->msg));
	store_endpoint_clear(&ep);
	return NULL;
}

static void test_two_handles(void **state)
{
	struct fixture *f = *state;
	struct store *a = open_ok(f->data_dir);
	struct store *b = open_ok(f->data_dir);
	char *db = xasprintf("%s/mailferry.db", f->data_dir);
	const struct timespec pause = {0, 300 * 1000 * 1000};
	struct store_endpoint *list;
	struct mf_error err = {0};
	struct writer w = {0};
	pthread_t th;
	sqlite3 *raw;
	size_t n;

	insert_ok(a, "one");
	insert_ok(b, "two");
	assert_int_equal(store_endpoint_list(a, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	store_endpoint_list_free(&list, n);

	/* A third connection holds the write lock for a while; the writer
	 * waits (busy timeout) instead of failing. */
	assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	w.st = b;
	w.name = "three";
	assert_int_equal(pthread_create(&th, NULL, writer_run, &w), 0);
	nanosleep(&pause, NULL);
	/* Readers are not blocked by the writer (WAL). */
	assert_int_equal(store_endpoint_list(a, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	store_endpoint_list_free(&list, n);
	assert_int_equal(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	pthread_join(th, NULL);
	if (w.rc != 0)
		fail_msg("insert while locked: %s", w.msg);
	sqlite3_close(raw);

	assert_int_equal(store_endpoint_list(a, &list, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[1].name, "three");
	store_endpoint_list_free(&list, n);
	store_close(&a);
	store_close(&b);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_creates_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_refuses_file_as_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_dir_resolution, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_file_resolution, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_uses_environment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_crud, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_empty_list_and_nulls, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_endpoint_duplicate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_refused_while_batch_uses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_insert_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_key_restrict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
