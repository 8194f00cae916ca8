/* store-folder.c: per-user folder state. */
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>

/* Column order shared by FOLDER_SELECT and store_folder_row(). */
#define FOLDER_SELECT                                                                              \
	"SELECT id, user_id, source_name, target_name, uidvalidity, uidnext,"                      \
	" highestmodseq, last_uid, message_count, updated_at FROM folder_state"

void store_folder_clear(struct store_folder *f)
{
	free(f->source_name);
	free(f->target_name);
	memset(f, 0, sizeof(*f));
}

static void store_folder_clear_elem(void *elem)
{
	store_folder_clear(elem);
}

static int store_folder_row(struct store *st, sqlite3_stmt *stmt, void *elem, struct mf_error *err)
{
	struct store_folder *f = elem;

	(void)st;
	(void)err;
	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(stmt, 0);
	f->user_id = sqlite3_column_int64(stmt, 1);
	f->source_name = store_sql_column_text(stmt, 2);
	f->target_name = store_sql_column_text(stmt, 3);
	f->uidvalidity = sqlite3_column_int64(stmt, 4);
	f->uidnext = sqlite3_column_int64(stmt, 5);
	f->highestmodseq = sqlite3_column_int64(stmt, 6);
	f->last_uid = sqlite3_column_int64(stmt, 7);
	f->message_count = sqlite3_column_int64(stmt, 8);
	f->updated_at = sqlite3_column_int64(stmt, 9);
	return 0;
}

int store_folder_get(struct store *st, int64_t user_id, const char *source_name,
		     struct store_folder *f, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(f, 0, sizeof(*f));
	if (source_name == NULL)
		return mf_error_set(err, MF_EINVAL, "no folder name given");
	rc = store_sql_prepare(st, FOLDER_SELECT " WHERE user_id = ? AND source_name = ?", &stmt,
			       "read a folder state", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, user_id);
	store_sql_bind_text(stmt, 2, source_name);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = store_folder_row(st, stmt, f, err);
	else if (rc == SQLITE_DONE)
		rc = mf_error_set(err, MF_ENOTFOUND, "no state for folder %s", source_name);
	else
		rc = store_sql_fail(st, rc, "read a folder state", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_folder_put(struct store *st, struct store_folder *f, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int64_t now = store_now();
	int rc;

	if (f->source_name == NULL)
		return mf_error_set(err, MF_EINVAL, "a folder state needs a source folder name");
	/* An upsert keeps the row, and so its id, across puts. */
	rc = store_sql_cached(st, STORE_STMT_FOLDER_PUT,
			      "INSERT INTO folder_state (user_id, source_name, target_name,"
			      " uidvalidity, uidnext, highestmodseq, last_uid, message_count,"
			      " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
			      " ON CONFLICT (user_id, source_name) DO UPDATE SET"
			      " target_name = excluded.target_name,"
			      " uidvalidity = excluded.uidvalidity, uidnext = excluded.uidnext,"
			      " highestmodseq = excluded.highestmodseq,"
			      " last_uid = excluded.last_uid,"
			      " message_count = excluded.message_count,"
			      " updated_at = excluded.updated_at"
			      " RETURNING id",
			      &stmt, "write a folder state", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, f->user_id);
	store_sql_bind_text(stmt, 2, f->source_name);
	store_sql_bind_text(stmt, 3, f->target_name);
	sqlite3_bind_int64(stmt, 4, f->uidvalidity);
	sqlite3_bind_int64(stmt, 5, f->uidnext);
	sqlite3_bind_int64(stmt, 6, f->highestmodseq);
	sqlite3_bind_int64(stmt, 7, f->last_uid);
	sqlite3_bind_int64(stmt, 8, f->message_count);
	sqlite3_bind_int64(stmt, 9, now);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		f->id = sqlite3_column_int64(stmt, 0);
		f->updated_at = now;
		rc = sqlite3_step(stmt);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = mf_error_set(err, MF_ENOTFOUND, "no migration user with id %lld",
				  (long long)f->user_id);
	else
		rc = store_sql_fail(st, rc, "write a folder state", err);
	store_sql_release(stmt);
	return rc;
}

int store_folder_list(struct store *st, int64_t user_id, struct store_folder **fs_r,
		      size_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	void *items;
	int rc;

	*fs_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st, FOLDER_SELECT " WHERE user_id = ? ORDER BY source_name", &stmt,
			       "list folder states", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, user_id);
	rc = store_sql_collect(st, stmt, sizeof(**fs_r), store_folder_row, store_folder_clear_elem,
			       &items, count_r, "list folder states", err);
	sqlite3_finalize(stmt);
	*fs_r = items;
	return rc;
}

void store_folder_list_free(struct store_folder **fsp, size_t count)
{
	if (*fsp == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		store_folder_clear(&(*fsp)[i]);
	free(*fsp);
	*fsp = NULL;
}

int store_folder_get_id(struct store *st, int64_t id, struct store_folder *f,
			struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(f, 0, sizeof(*f));
	rc = store_sql_prepare(st, FOLDER_SELECT " WHERE id = ?", &stmt, "read a folder state",
			       err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = store_folder_row(st, stmt, f, err);
	else if (rc == SQLITE_DONE)
		rc = mf_error_set(err, MF_ENOTFOUND, "no folder state with id %lld", (long long)id);
	else
		rc = store_sql_fail(st, rc, "read a folder state", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_folder_rename(struct store *st, int64_t id, const char *source_name,
			const char *target_name, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (source_name == NULL)
		return mf_error_set(err, MF_EINVAL, "a folder state needs a source folder name");
	rc = store_sql_prepare(st,
			       "UPDATE folder_state SET source_name = ?, target_name = ?,"
			       " updated_at = ? WHERE id = ?",
			       &stmt, "rename a folder state", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, source_name);
	store_sql_bind_text(stmt, 2, target_name);
	sqlite3_bind_int64(stmt, 3, store_now());
	sqlite3_bind_int64(stmt, 4, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE && sqlite3_changes(st->db) == 0)
		rc = mf_error_set(err, MF_ENOTFOUND, "no folder state with id %lld", (long long)id);
	else if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_UNIQUE)
		rc = mf_error_set(err, MF_EEXIST, "the user has a state for folder %s already",
				  source_name);
	else
		rc = store_sql_fail(st, rc, "rename a folder state", err);
	sqlite3_finalize(stmt);
	return rc;
}
