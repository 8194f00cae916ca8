/* store-batch.c: batch rows (minimal until the batches issue). */
#include "store/store-private.h"

int store_batch_insert(struct store *st, const char *name, const char *source_endpoint,
		       const char *target_endpoint, int64_t *id_r, struct mf_error *err)
{
	sqlite3_stmt *stmt = NULL;
	int64_t source_id, target_id = 0;
	int rc;

	if (name == NULL || name[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "a batch needs a name");
	if (source_endpoint == NULL)
		return mf_error_set(err, MF_EINVAL, "batch %s needs a source endpoint", name);
	/* One transaction, so neither endpoint can vanish between the look-up
	 * and the insert (the foreign keys would catch it, less clearly). */
	rc = store_sql_begin(st, err);
	if (rc != 0)
		return rc;
	rc = store_sql_endpoint_id(st, source_endpoint, &source_id, err);
	if (rc == 0 && target_endpoint != NULL)
		rc = store_sql_endpoint_id(st, target_endpoint, &target_id, err);
	if (rc == 0)
		rc = store_sql_prepare(st,
				       "INSERT INTO batches (name, source_endpoint_id,"
				       " target_endpoint_id, created_at)"
				       " VALUES (?, ?, ?, ?) RETURNING id",
				       &stmt, "add a batch", err);
	if (rc == 0) {
		store_sql_bind_text(stmt, 1, name);
		sqlite3_bind_int64(stmt, 2, source_id);
		if (target_endpoint != NULL)
			sqlite3_bind_int64(stmt, 3, target_id);
		else
			sqlite3_bind_null(stmt, 3);
		sqlite3_bind_int64(stmt, 4, store_now());
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			*id_r = sqlite3_column_int64(stmt, 0);
			rc = sqlite3_step(stmt);
		}
		if (rc == SQLITE_DONE)
			rc = 0;
		else if (rc == SQLITE_CONSTRAINT_UNIQUE)
			rc = mf_error_set(err, MF_EEXIST, "a batch named %s already exists", name);
		else
			rc = store_sql_fail(st, rc, "add a batch", err);
		sqlite3_finalize(stmt);
	}
	if (rc != 0) {
		store_sql_rollback(st);
		return rc;
	}
	return store_sql_commit(st, err);
}

int store_batch_delete(struct store *st, const char *name, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (name == NULL)
		return mf_error_set(err, MF_EINVAL, "no batch name given");
	rc = store_sql_prepare(st, "DELETE FROM batches WHERE name = ?", &stmt, "delete a batch",
			       err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, name);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		rc = store_sql_fail(st, rc, "delete a batch", err);
	else if (sqlite3_changes(st->db) == 0)
		rc = mf_error_set(err, MF_ENOTFOUND, "no batch named %s", name);
	else
		rc = 0;
	sqlite3_finalize(stmt);
	return rc;
}
