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

/* v2: batch options and times; migration users, folder state, the message
 * map, skipped items and events. Users belong to a batch, everything else
 * to a user (or, for events, a batch); all of it goes with its batch. A
 * mailbox is in one batch only: email_key, the address in ASCII lower
 * case, is unique across batches. Unset times and ids are NULL. */
static const char store_schema_v2[] =
	"ALTER TABLE batches ADD COLUMN exclude_folders TEXT;" /* JSON array */
	"ALTER TABLE batches ADD COLUMN include_folders TEXT;"
	"ALTER TABLE batches ADD COLUMN bad_item_limit BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE batches ADD COLUMN large_item_limit BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE batches ADD COLUMN max_message_size BIGINT NOT NULL DEFAULT 0;"
	"ALTER TABLE batches ADD COLUMN received_after BIGINT;"
	"ALTER TABLE batches ADD COLUMN auto_start INTEGER NOT NULL DEFAULT 0"
	" CHECK (auto_start IN (0, 1));"
	"ALTER TABLE batches ADD COLUMN auto_complete INTEGER NOT NULL DEFAULT 0"
	" CHECK (auto_complete IN (0, 1));"
	"ALTER TABLE batches ADD COLUMN sync_deletes INTEGER NOT NULL DEFAULT 0"
	" CHECK (sync_deletes IN (0, 1));"
	"ALTER TABLE batches ADD COLUMN incremental_interval BIGINT NOT NULL DEFAULT 86400;"
	"ALTER TABLE batches ADD COLUMN start_after BIGINT;"
	"ALTER TABLE batches ADD COLUMN complete_after BIGINT;"
	"ALTER TABLE batches ADD COLUMN last_error TEXT;"
	"ALTER TABLE batches ADD COLUMN started_at BIGINT;"
	"ALTER TABLE batches ADD COLUMN completed_at BIGINT;"
	"ALTER TABLE batches ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;"
	"CREATE TABLE migration_users ("
	" id INTEGER PRIMARY KEY,"
	" batch_id INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,"
	" email_address TEXT NOT NULL,"
	" email_key TEXT NOT NULL UNIQUE,"
	" user_name TEXT,"
	" password_secret TEXT," /* sealed, never plaintext */
	" user_root TEXT,"
	" target_user_name TEXT,"
	" target_password_secret TEXT," /* sealed */
	" status TEXT NOT NULL DEFAULT 'Queued',"
	" total_items BIGINT NOT NULL DEFAULT 0,"
	" synced_items BIGINT NOT NULL DEFAULT 0,"
	" skipped_items BIGINT NOT NULL DEFAULT 0,"
	" bytes_transferred BIGINT NOT NULL DEFAULT 0,"
	" total_bytes BIGINT NOT NULL DEFAULT 0,"
	" transient_errors BIGINT NOT NULL DEFAULT 0,"
	" started_at BIGINT,"
	" ended_at BIGINT,"
	" last_sync_at BIGINT,"
	" last_error TEXT,"
	" current_folder TEXT,"
	" next_attempt_at BIGINT NOT NULL DEFAULT 0,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" created_at BIGINT NOT NULL,"
	" updated_at BIGINT NOT NULL"
	");"
	"CREATE INDEX migration_users_claim"
	" ON migration_users (batch_id, status, next_attempt_at);"
	"CREATE TABLE folder_state ("
	" id INTEGER PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES migration_users (id) ON DELETE CASCADE,"
	" source_name TEXT NOT NULL,"
	" target_name TEXT,"
	" uidvalidity BIGINT NOT NULL DEFAULT 0,"
	" uidnext BIGINT NOT NULL DEFAULT 0,"
	" highestmodseq BIGINT NOT NULL DEFAULT 0,"
	" last_uid BIGINT NOT NULL DEFAULT 0,"
	" message_count BIGINT NOT NULL DEFAULT 0,"
	" updated_at BIGINT NOT NULL,"
	" UNIQUE (user_id, source_name)"
	");"
	"CREATE TABLE message_map ("
	" folder_id INTEGER NOT NULL REFERENCES folder_state (id) ON DELETE CASCADE,"
	" uidvalidity BIGINT NOT NULL,"
	" uid BIGINT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('intent', 'done')),"
	" target_uidvalidity BIGINT,"
	" target_uid BIGINT,"
	" location TEXT,"
	" size BIGINT NOT NULL DEFAULT 0,"
	" sha256 TEXT," /* lower-case hex */
	" flags TEXT,"
	" created_at BIGINT NOT NULL,"
	" PRIMARY KEY (folder_id, uidvalidity, uid)"
	");"
	/* Reconciliation reads intents only; confirmed rows leave this index. */
	"CREATE INDEX message_map_intents ON message_map (folder_id) WHERE state = 'intent';"
	"CREATE TABLE skipped_items ("
	" id INTEGER PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES migration_users (id) ON DELETE CASCADE,"
	" folder TEXT NOT NULL,"
	" uid BIGINT NOT NULL DEFAULT 0,"
	" message_date BIGINT,"
	" subject TEXT,"
	" size BIGINT NOT NULL DEFAULT 0,"
	" reason TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('bad', 'large')),"
	" created_at BIGINT NOT NULL"
	");"
	"CREATE INDEX skipped_items_user ON skipped_items (user_id, kind);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" at BIGINT NOT NULL,"
	" batch_id INTEGER REFERENCES batches (id) ON DELETE CASCADE,"
	" user_id INTEGER REFERENCES migration_users (id) ON DELETE CASCADE,"
	" level TEXT NOT NULL CHECK (level IN ('info', 'warning', 'error')),"
	" message TEXT NOT NULL"
	");"
	"CREATE INDEX events_batch ON events (batch_id, id);"
	"CREATE INDEX events_user ON events (user_id, id);";

/* v3: incremental sync and reconciliation. Matching a message by its
 * content (after a UIDVALIDITY change or a rename at the source) looks rows
 * up by hash within a folder; reconciliation asks whether a target message
 * is already claimed by a row. */
static const char store_schema_v3[] =
	"CREATE INDEX message_map_sha256 ON message_map (folder_id, sha256)"
	" WHERE sha256 IS NOT NULL;"
	"CREATE INDEX message_map_target ON message_map (folder_id, target_uid)"
	" WHERE target_uid IS NOT NULL;"
	"CREATE INDEX migration_users_due ON migration_users (status, next_attempt_at);";

/* v4: a user's folders copied over several connections per side; 0 is the
 * engine's default. */
static const char store_schema_v4[] =
	"ALTER TABLE batches ADD COLUMN connections_per_user INTEGER NOT NULL DEFAULT 0"
	" CHECK (connections_per_user BETWEEN 0 AND 16);";

static const char *const store_migrations[] = {
	store_schema_v1,
	store_schema_v2,
	store_schema_v3,
	store_schema_v4,
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
