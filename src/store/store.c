/* store.c: where the state lives, opening and closing the database, and the
 * SQL helpers the other files of the store share. */
#include "store/store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/xmalloc.h"

#define STORE_DB_NAME "mailferry.db"
#define STORE_KEY_NAME "secret.key"
#define STORE_ROOT_DATA_DIR "/var/lib/mailferry"

/* ---- paths ---------------------------------------------------------------- */

/* dir + "/" + name, without doubling a trailing slash of dir. */
static char *store_path_join(const char *dir, const char *name)
{
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	return xasprintf("%.*s/%s", (int)len, dir, name);
}

static char *store_home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (home != NULL && home[0] == '/')
		return xstrdup(home);
	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
	    res->pw_dir != NULL && res->pw_dir[0] == '/')
		return xstrdup(res->pw_dir);
	return NULL;
}

char *store_default_data_dir(const char *explicit_dir)
{
	const char *s;
	char *home, *dir;

	if (explicit_dir != NULL && explicit_dir[0] != '\0')
		return xstrdup(explicit_dir);
	s = getenv("MAILFERRY_DATA_DIR");
	if (s != NULL && s[0] != '\0')
		return xstrdup(s);
	/* The XDG base directory spec says relative values are invalid. */
	s = getenv("XDG_DATA_HOME");
	if (s != NULL && s[0] == '/')
		return store_path_join(s, "mailferry");
	if (geteuid() == 0)
		return xstrdup(STORE_ROOT_DATA_DIR);
	home = store_home_dir();
	if (home == NULL) {
		/* No home at all: the system path, which store_open() then
		 * reports as not writable, naming it. */
		return xstrdup(STORE_ROOT_DATA_DIR);
	}
	dir = store_path_join(home, ".local/share/mailferry");
	free(home);
	return dir;
}

char *store_default_key_file(const char *data_dir)
{
	const char *s = getenv("MAILFERRY_KEY_FILE");
	char *dir, *path;

	if (s != NULL && s[0] != '\0')
		return xstrdup(s);
	if (data_dir != NULL && data_dir[0] != '\0')
		return store_path_join(data_dir, STORE_KEY_NAME);
	dir = store_default_data_dir(NULL);
	path = store_path_join(dir, STORE_KEY_NAME);
	free(dir);
	return path;
}

static bool store_is_dir(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int store_mkdir_p(const char *dir, const char *what, struct mf_error *err)
{
	char *p;
	int rc = 0;

	if (dir == NULL || dir[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "%s: empty path", what);
	p = xstrdup(dir);
	for (char *c = p + 1;; c++) {
		char save = *c;

		if (save != '/' && save != '\0')
			continue;
		*c = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST && !store_is_dir(p)) {
			rc = mf_error_set(err, MF_EIO, "cannot create %s %s: %s", what, p,
					  strerror(errno));
			break;
		}
		*c = save;
		if (save == '\0')
			break;
	}
	if (rc == 0 && !store_is_dir(dir))
		rc = mf_error_set(err, MF_EIO, "%s %s is not a directory", what, dir);
	free(p);
	return rc;
}

/* ---- SQL helpers ------------------------------------------------------------ */

int store_sql_fail(struct store *st, int rc, const char *what, struct mf_error *err)
{
	int primary = rc & 0xff;

	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return mf_error_set(err, MF_EIO,
				    "cannot %s: database %s is locked by another process "
				    "(waited %d s)",
				    what, st->db_path, STORE_BUSY_TIMEOUT_MS / 1000);
	if (primary == SQLITE_CONSTRAINT)
		return mf_error_set(err, MF_EINVAL, "cannot %s: %s", what, sqlite3_errmsg(st->db));
	return mf_error_set(err, MF_EIO, "cannot %s: database %s: %s", what, st->db_path,
			    sqlite3_errmsg(st->db));
}

int store_sql_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt_r, const char *what,
		      struct mf_error *err)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt_r, NULL);

	if (rc != SQLITE_OK) {
		*stmt_r = NULL;
		return store_sql_fail(st, rc, what, err);
	}
	return 0;
}

int store_sql_bind_text(sqlite3_stmt *stmt, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(stmt, idx);
	return sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
}

char *store_sql_column_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *s = sqlite3_column_text(stmt, col);

	if (s == NULL)
		return NULL;
	return xstrndup((const char *)s, (size_t)sqlite3_column_bytes(stmt, col));
}

int store_sql_exec(struct store *st, const char *sql, const char *what, struct mf_error *err)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_sql_fail(st, rc, what, err);
	return 0;
}

int store_sql_bind_opt64(sqlite3_stmt *stmt, int idx, int64_t v)
{
	if (v == 0)
		return sqlite3_bind_null(stmt, idx);
	return sqlite3_bind_int64(stmt, idx, v);
}

int store_sql_cached(struct store *st, enum store_stmt id, const char *sql, sqlite3_stmt **stmt_r,
		     const char *what, struct mf_error *err)
{
	int rc;

	if (st->stmts[id] == NULL) {
		/* PERSISTENT: kept for the life of the handle. */
		rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[id],
					NULL);
		if (rc != SQLITE_OK) {
			st->stmts[id] = NULL;
			*stmt_r = NULL;
			return store_sql_fail(st, rc, what, err);
		}
	}
	*stmt_r = st->stmts[id];
	return 0;
}

void store_sql_release(sqlite3_stmt *stmt)
{
	if (stmt == NULL)
		return;
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

int store_sql_step_done(struct store *st, sqlite3_stmt *stmt, const char *what,
			struct mf_error *err)
{
	int rc = sqlite3_step(stmt);

	if (rc != SQLITE_DONE)
		return store_sql_fail(st, rc, what, err);
	return 0;
}

int store_sql_collect(struct store *st, sqlite3_stmt *stmt, size_t elem_size, store_row_fn row,
		      void (*clear)(void *elem), void **items_r, size_t *count_r, const char *what,
		      struct mf_error *err)
{
	char *items = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*items_r = NULL;
	*count_r = 0;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			items = xreallocarray(items, cap, elem_size);
		}
		rc = row(st, stmt, items + n * elem_size, err);
		if (rc != 0)
			break;
		n++;
	}
	if (rc == SQLITE_DONE) {
		*items_r = items;
		*count_r = n;
		return 0;
	}
	if (rc > 0) /* an SQLite code, not one of ours */
		rc = store_sql_fail(st, rc, what, err);
	for (size_t i = 0; i < n; i++)
		clear(items + i * elem_size);
	free(items);
	return rc;
}

/* Nesting: st->txn_depth counts open levels. SQLite may roll a transaction
 * back on its own (SQLITE_FULL, SQLITE_IOERR, ...); autocommit mode then
 * tells us every level is gone. */
static void store_txn_sync(struct store *st)
{
	if (st->txn_depth > 0 && sqlite3_get_autocommit(st->db))
		st->txn_depth = 0;
}

int store_sql_begin(struct store *st, struct mf_error *err)
{
	int rc;

	store_txn_sync(st);
	if (st->txn_depth == 0)
		rc = store_sql_exec(st, "BEGIN IMMEDIATE", "begin a transaction", err);
	else
		rc = store_sql_exec(st, "SAVEPOINT store_nested", "begin a transaction", err);
	if (rc == 0)
		st->txn_depth++;
	return rc;
}

int store_sql_commit(struct store *st, struct mf_error *err)
{
	int rc;

	store_txn_sync(st);
	if (st->txn_depth > 1) {
		rc = store_sql_exec(st, "RELEASE store_nested", "commit a transaction", err);
		if (rc != 0) {
			store_sql_rollback(st);
			return rc;
		}
		st->txn_depth--;
		return 0;
	}
	rc = store_sql_exec(st, "COMMIT", "commit a transaction", err);
	if (rc != 0) {
		store_sql_rollback(st);
		return rc;
	}
	st->txn_depth = 0;
	return 0;
}

void store_sql_rollback(struct store *st)
{
	store_txn_sync(st);
	if (st->txn_depth > 1) {
		sqlite3_exec(st->db, "ROLLBACK TO store_nested; RELEASE store_nested", NULL, NULL,
			     NULL);
		st->txn_depth--;
		return;
	}
	/* Fails harmlessly when SQLite already rolled back on its own. */
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->txn_depth = 0;
}

int store_begin(struct store *st, struct mf_error *err)
{
	return store_sql_begin(st, err);
}

int store_commit(struct store *st, struct mf_error *err)
{
	return store_sql_commit(st, err);
}

void store_rollback(struct store *st)
{
	store_sql_rollback(st);
}

int store_end(struct store *st, int rc, struct mf_error *err)
{
	if (rc == 0)
		return store_commit(st, err);
	store_rollback(st);
	return rc;
}

int store_sql_endpoint_id(struct store *st, const char *name, int64_t *id_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_prepare(st, "SELECT id FROM endpoints WHERE name = ?", &stmt,
			       "look up an endpoint", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, name);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*id_r = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = mf_error_set(err, MF_ENOTFOUND, "no endpoint named %s", name);
	} else {
		rc = store_sql_fail(st, rc, "look up an endpoint", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int64_t store_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- open and close ------------------------------------------------------------ */

static pthread_once_t store_sodium_once = PTHREAD_ONCE_INIT;
static int store_sodium_rc;

static void store_sodium_init(void)
{
	store_sodium_rc = sodium_init();
}

/* Create the database file with mode 0600 before SQLite does (it would use
 * 0644); SQLite gives the -wal and -shm files the same mode. */
static int store_db_precreate(struct store *st, struct mf_error *err)
{
	/* O_EXCL: never open (and close) a database file that exists.
	 * Closing any descriptor of a file drops every POSIX lock this
	 * process holds on it, including those of other store handles
	 * (worker threads, serve): SQLite would then lose its locks and a
	 * second process could checkpoint the WAL away under them. */
	int fd = open(st->db_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		return mf_error_set(err, MF_EIO, "cannot create database %s: %s", st->db_path,
				    strerror(errno));
	}
	close(fd);
	return 0;
}

static int store_db_configure(struct store *st, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	bool ok;
	int rc;

	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	rc = store_sql_prepare(st, "PRAGMA journal_mode=WAL", &stmt, "set the journal mode", err);
	if (rc != 0)
		return rc;
	rc = sqlite3_step(stmt);
	ok = rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != NULL &&
	     strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rc = store_sql_fail(st, rc, "set the journal mode", err);
	else if (!ok)
		rc = mf_error_set(err, MF_EIO, "database %s cannot use write-ahead logging",
				  st->db_path);
	else
		rc = 0;
	sqlite3_finalize(stmt);
	if (rc != 0)
		return rc;
	rc = store_sql_exec(st, "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL",
			    "configure the database", err);
	if (rc != 0)
		return rc;
	/* A build without foreign keys would silently drop ON DELETE RESTRICT. */
	rc = store_sql_prepare(st, "PRAGMA foreign_keys", &stmt, "configure the database", err);
	if (rc != 0)
		return rc;
	ok = sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1;
	sqlite3_finalize(stmt);
	if (!ok)
		return mf_error_set(err, MF_EIO, "SQLite library does not enforce foreign keys");
	return 0;
}

int store_open(const char *data_dir, const char *key_file, struct store **st_r,
	       struct mf_error *err)
{
	struct store *st = xcalloc(1, sizeof(*st));
	int rc;

	*st_r = NULL;
	st->data_dir = store_default_data_dir(data_dir);
	if (key_file != NULL && key_file[0] != '\0')
		st->key_file = xstrdup(key_file);
	else
		st->key_file = store_default_key_file(st->data_dir);
	st->db_path = store_path_join(st->data_dir, STORE_DB_NAME);

	pthread_once(&store_sodium_once, store_sodium_init);
	if (store_sodium_rc < 0) {
		rc = mf_error_set(err, MF_EIO, "cannot initialise libsodium");
		goto fail;
	}
	rc = store_mkdir_p(st->data_dir, "data directory", err);
	if (rc != 0)
		goto fail;
	rc = store_secret_key_load(st->key_file, &st->key, err);
	if (rc != 0)
		goto fail;
	rc = store_db_precreate(st, err);
	if (rc != 0)
		goto fail;
	rc = sqlite3_open_v2(st->db_path, &st->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		rc = mf_error_set(err, MF_EIO, "cannot open database %s: %s", st->db_path,
				  st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	rc = store_db_configure(st, err);
	if (rc != 0)
		goto fail;
	rc = store_schema_migrate(st, err);
	if (rc != 0)
		goto fail;
	*st_r = st;
	return 0;
fail:
	store_close(&st);
	return rc;
}

void store_close(struct store **stp)
{
	struct store *st = *stp;

	if (st == NULL)
		return;
	for (int i = 0; i < STORE_STMT_COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	if (st->db != NULL)
		sqlite3_close_v2(st->db); /* rolls back an open transaction */
	store_secret_key_free(&st->key);
	free(st->data_dir);
	free(st->db_path);
	free(st->key_file);
	free(st);
	*stp = NULL;
}

int store_schema_version(struct store *st)
{
	return st->version;
}
