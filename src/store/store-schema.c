/* store-schema.c: the schema and its migrations.
 *
 * store_migrations[i] takes the schema from version i to i + 1. Each runs
 * in its own transaction together with the row that records it in
 * schema_version, so a crash leaves either the old or the new version.
 * Published migrations are never edited; a change is a new entry.
 *
 * Portability (a PostgreSQL backend comes later): plain TEXT, INTEGER and
 * BIGINT columns, booleans as INTEGER 0/1, timestamps as unix seconds,
 * INTEGER PRIMARY KEY ids (that backend declares them as identity columns),
 * ids read back with RETURNING.
 */
#include "store/store-private.h"

#include <stddef.h>

/* v1: endpoints and (minimal) batches. Later versions add migration users,
 * folder state, the message map, skipped items and events, each referring
 * to these tables by id. */
/* clang-format off */
static const char store_schema_v1[] =
	"CREATE TABLE endpoints ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" type TEXT,"
	" server TEXT,"
	" port INTEGER NOT NULL DEFAULT 0,"
	" security TEXT,"
	" auth TEXT,"
	" admin_user TEXT,"
	" admin_secret TEXT," /* sealed, never plaintext */
	" impersonation TEXT,"
	" master_separator TEXT,"
	" accept_untrusted INTEGER NOT NULL DEFAULT 0 CHECK (accept_untrusted IN (0, 1)),"
	" max_concurrent_migrations INTEGER NOT NULL DEFAULT 0,"
	" max_concurrent_incremental_syncs INTEGER NOT NULL DEFAULT 0,"
	" exchange_server TEXT,"
	" rpc_proxy_server TEXT,"
	" email_address TEXT,"
	" mailbox_permission TEXT,"
	" last_test_result TEXT,"
	" last_test_json TEXT,"
	" last_test_at BIGINT NOT NULL DEFAULT 0,"
	" created_at BIGINT NOT NULL,"
	" updated_at BIGINT NOT NULL"
	");"
	"CREATE TABLE batches ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" source_endpoint_id INTEGER NOT NULL"
	"  REFERENCES endpoints (id) ON DELETE RESTRICT,"
	" target_endpoint_id INTEGER"
	"  REFERENCES endpoints (id) ON DELETE RESTRICT,"
	" status TEXT NOT NULL DEFAULT 'Created',"
	" created_at BIGINT NOT NULL"
	");"
	"CREATE INDEX batches_source_endpoint ON batches (source_endpoint_id);"
	"CREATE INDEX batches_target_endpoint ON batches (target_endpoint_id);";

static const char *const store_migrations[] = {
	store_schema_v1,
};
/* clang-format on */

#define STORE_NMIGRATIONS ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

int store_schema_latest(void)
{
	return STORE_NMIGRATIONS;
}

/* The recorded version; 0 for a new database (no schema_version table). */
static int store_schema_read(struct store *st, int *version_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_prepare(st,
			       "SELECT count(*) FROM sqlite_master"
			       " WHERE type = 'table' AND name = 'schema_version'",
			       &stmt, "read the schema version", err);
	if (rc != 0)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		rc = store_sql_fail(st, rc, "read the schema version", err);
		sqlite3_finalize(stmt);
		return rc;
	}
	rc = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc == 0) {
		*version_r = 0;
		return 0;
	}
	rc = store_sql_prepare(st, "SELECT coalesce(max(version), 0) FROM schema_version", &stmt,
			       "read the schema version", err);
	if (rc != 0)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*version_r = sqlite3_column_int(stmt, 0);
		rc = 0;
	} else {
		rc = store_sql_fail(st, rc, "read the schema version", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

static int store_schema_check_newer(struct store *st, int version, struct mf_error *err)
{
	if (version <= STORE_NMIGRATIONS)
		return 0;
	return mf_error_set(err, MF_EIO,
			    "database %s has schema version %d, newer than this mailferry "
			    "supports (%d); upgrade mailferry",
			    st->db_path, version, STORE_NMIGRATIONS);
}

/* Apply the migration after the current version, in one transaction. The
 * version is read again under the write lock: another process may have
 * migrated in the meantime. */
static int store_schema_step(struct store *st, int *version_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int version, rc;

	rc = store_sql_begin(st, err);
	if (rc != 0)
		return rc;
	rc = store_sql_exec(st,
			    "CREATE TABLE IF NOT EXISTS schema_version ("
			    " version INTEGER PRIMARY KEY,"
			    " applied_at BIGINT NOT NULL)",
			    "create the schema_version table", err);
	if (rc == 0)
		rc = store_schema_read(st, &version, err);
	if (rc == 0)
		rc = store_schema_check_newer(st, version, err);
	if (rc != 0 || version == STORE_NMIGRATIONS)
		goto out;
	rc = store_sql_exec(st, store_migrations[version], "migrate the schema", err);
	if (rc != 0) {
		mf_error_prefix(err, "schema version %d", version + 1);
		goto out;
	}
	rc = store_sql_prepare(st, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
			       &stmt, "record the schema version", err);
	if (rc != 0)
		goto out;
	sqlite3_bind_int(stmt, 1, version + 1);
	sqlite3_bind_int64(stmt, 2, store_now());
	rc = sqlite3_step(stmt);
	rc = rc == SQLITE_DONE ? 0 : store_sql_fail(st, rc, "record the schema version", err);
	sqlite3_finalize(stmt);
	if (rc == 0)
		version++;
out:
	if (rc != 0) {
		store_sql_rollback(st);
		return rc;
	}
	rc = store_sql_commit(st, err);
	if (rc == 0)
		*version_r = version;
	return rc;
}

int store_schema_migrate(struct store *st, struct mf_error *err)
{
	int version, rc;

	/* The common case, an up-to-date database, takes no write lock. */
	rc = store_schema_read(st, &version, err);
	if (rc != 0)
		return rc;
	rc = store_schema_check_newer(st, version, err);
	if (rc != 0)
		return rc;
	while (version < STORE_NMIGRATIONS) {
		rc = store_schema_step(st, &version, err);
		if (rc != 0)
			return rc;
	}
	st->version = version;
	return 0;
}
