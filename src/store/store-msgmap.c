/* store-msgmap.c: the message map, keyed by (folder, UIDVALIDITY, UID).
 *
 * The hot path of a migration: an intent and a confirmation per message.
 * Those statements are cached per handle and the engine wraps many of them
 * in one transaction, so each costs microseconds.
 */
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>

/* Column order shared by the SELECTs and store_msgmap_row(). */
#define MSGMAP_COLUMNS                                                                             \
	"m.folder_id, m.uidvalidity, m.uid, m.state, m.target_uidvalidity, m.target_uid,"          \
	" m.location, m.size, m.sha256, m.flags, m.created_at"

void store_msgmap_clear(struct store_msgmap *m)
{
	free(m->location);
	free(m->flags);
	memset(m, 0, sizeof(*m));
}

static void store_msgmap_clear_elem(void *elem)
{
	store_msgmap_clear(elem);
}

static int store_msgmap_row(struct store *st, sqlite3_stmt *stmt, void *elem, struct mf_error *err)
{
	struct store_msgmap *m = elem;
	const char *state = (const char *)sqlite3_column_text(stmt, 3);
	const char *sha = (const char *)sqlite3_column_text(stmt, 8);

	(void)st;
	(void)err;
	memset(m, 0, sizeof(*m));
	m->folder_id = sqlite3_column_int64(stmt, 0);
	m->uidvalidity = sqlite3_column_int64(stmt, 1);
	m->uid = sqlite3_column_int64(stmt, 2);
	/* The CHECK constraint allows only these two. */
	m->state =
	    state != NULL && strcmp(state, "done") == 0 ? STORE_MSGMAP_DONE : STORE_MSGMAP_INTENT;
	m->target_uidvalidity = sqlite3_column_int64(stmt, 4);
	m->target_uid = sqlite3_column_int64(stmt, 5);
	m->location = store_sql_column_text(stmt, 6);
	m->size = sqlite3_column_int64(stmt, 7);
	if (sha != NULL && strlen(sha) < sizeof(m->sha256))
		memcpy(m->sha256, sha, strlen(sha) + 1);
	m->flags = store_sql_column_text(stmt, 9);
	m->created_at = sqlite3_column_int64(stmt, 10);
	return 0;
}

/* "" or exactly 64 lower-case hex digits. */
static int store_msgmap_check_sha(const char *sha, struct mf_error *err)
{
	size_t i;

	for (i = 0; sha[i] != '\0' && i < STORE_SHA256_HEX - 1; i++)
		if (!((sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f')))
			break;
	if (sha[i] != '\0' || (i != 0 && i != STORE_SHA256_HEX - 1))
		return mf_error_set(err, MF_EINVAL, "a SHA-256 must be 64 lower-case hex digits");
	return 0;
}

/* Bind the key to 1..3 and the data fields to 4..10 (target_uidvalidity,
 * target_uid, location, size, sha256, flags, created_at). */
static void store_msgmap_bind(sqlite3_stmt *stmt, const struct store_msgmap *m, int64_t now)
{
	sqlite3_bind_int64(stmt, 1, m->folder_id);
	sqlite3_bind_int64(stmt, 2, m->uidvalidity);
	sqlite3_bind_int64(stmt, 3, m->uid);
	store_sql_bind_opt64(stmt, 4, m->target_uidvalidity);
	store_sql_bind_opt64(stmt, 5, m->target_uid);
	store_sql_bind_text(stmt, 6, m->location);
	sqlite3_bind_int64(stmt, 7, m->size);
	store_sql_bind_text(stmt, 8, m->sha256[0] != '\0' ? m->sha256 : NULL);
	store_sql_bind_text(stmt, 9, m->flags);
	sqlite3_bind_int64(stmt, 10, now);
}

static void store_msgmap_bind_key(sqlite3_stmt *stmt, int64_t folder_id, int64_t uidvalidity,
				  int64_t uid)
{
	sqlite3_bind_int64(stmt, 1, folder_id);
	sqlite3_bind_int64(stmt, 2, uidvalidity);
	sqlite3_bind_int64(stmt, 3, uid);
}

static int store_msgmap_missing(int64_t folder_id, int64_t uidvalidity, int64_t uid,
				struct mf_error *err)
{
	return mf_error_set(err, MF_ENOTFOUND, "no message map entry for folder %lld UID %lld/%lld",
			    (long long)folder_id, (long long)uidvalidity, (long long)uid);
}

int store_msgmap_lookup(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
			struct store_msgmap *m, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (m != NULL)
		memset(m, 0, sizeof(*m));
	rc = store_sql_cached(st, STORE_STMT_MSGMAP_LOOKUP,
			      "SELECT " MSGMAP_COLUMNS " FROM message_map m"
			      " WHERE m.folder_id = ? AND m.uidvalidity = ? AND m.uid = ?",
			      &stmt, "look up a message", err);
	if (rc != 0)
		return rc;
	store_msgmap_bind_key(stmt, folder_id, uidvalidity, uid);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if (m != NULL)
			store_msgmap_row(st, stmt, m, err);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = store_msgmap_missing(folder_id, uidvalidity, uid, err);
	} else {
		rc = store_sql_fail(st, rc, "look up a message", err);
	}
	store_sql_release(stmt);
	return rc;
}

/* Step a write of m; a foreign-key failure means the folder row is gone. */
static int store_msgmap_write(struct store *st, sqlite3_stmt *stmt, const struct store_msgmap *m,
			      const char *what, struct mf_error *err)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = mf_error_set(err, MF_ENOTFOUND, "no folder state with id %lld",
				  (long long)m->folder_id);
	else
		rc = store_sql_fail(st, rc, what, err);
	return rc;
}

int store_msgmap_put_intent(struct store *st, const struct store_msgmap *m, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_msgmap_check_sha(m->sha256, err);
	if (rc != 0)
		return rc;
	/* A repeated intent (a retried append) replaces the earlier one; the
	 * WHERE keeps a done row as it is, and changes() then reports 0. */
	rc = store_sql_cached(st, STORE_STMT_MSGMAP_INTENT,
			      "INSERT INTO message_map (folder_id, uidvalidity, uid, state,"
			      " target_uidvalidity, target_uid, location, size, sha256, flags,"
			      " created_at) VALUES (?, ?, ?, 'intent', ?, ?, ?, ?, ?, ?, ?)"
			      " ON CONFLICT (folder_id, uidvalidity, uid) DO UPDATE SET"
			      " target_uidvalidity = excluded.target_uidvalidity,"
			      " target_uid = excluded.target_uid, location = excluded.location,"
			      " size = excluded.size, sha256 = excluded.sha256,"
			      " flags = excluded.flags, created_at = excluded.created_at"
			      " WHERE message_map.state = 'intent'",
			      &stmt, "record a message intent", err);
	if (rc != 0)
		return rc;
	store_msgmap_bind(stmt, m, store_now());
	rc = store_msgmap_write(st, stmt, m, "record a message intent", err);
	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = mf_error_set(
		    err, MF_EEXIST, "message UID %lld/%lld of folder %lld is already copied",
		    (long long)m->uidvalidity, (long long)m->uid, (long long)m->folder_id);
	store_sql_release(stmt);
	return rc;
}

int store_msgmap_confirm(struct store *st, const struct store_msgmap *m, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_msgmap_check_sha(m->sha256, err);
	if (rc != 0)
		return rc;
	rc = store_sql_cached(st, STORE_STMT_MSGMAP_CONFIRM,
			      "INSERT INTO message_map (folder_id, uidvalidity, uid, state,"
			      " target_uidvalidity, target_uid, location, size, sha256, flags,"
			      " created_at) VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?)"
			      " ON CONFLICT (folder_id, uidvalidity, uid) DO UPDATE SET"
			      " state = 'done',"
			      " target_uidvalidity = coalesce(excluded.target_uidvalidity,"
			      "  message_map.target_uidvalidity),"
			      " target_uid = coalesce(excluded.target_uid, message_map.target_uid),"
			      " location = coalesce(excluded.location, message_map.location),"
			      " size = CASE WHEN excluded.size = 0 THEN message_map.size"
			      "  ELSE excluded.size END,"
			      " sha256 = coalesce(excluded.sha256, message_map.sha256),"
			      " flags = coalesce(excluded.flags, message_map.flags)",
			      &stmt, "confirm a message", err);
	if (rc != 0)
		return rc;
	store_msgmap_bind(stmt, m, store_now());
	rc = store_msgmap_write(st, stmt, m, "confirm a message", err);
	store_sql_release(stmt);
	return rc;
}

/* Step a cached keyed UPDATE/DELETE; MF_ENOTFOUND when no row changed. */
static int store_msgmap_keyed(struct store *st, sqlite3_stmt *stmt, int64_t folder_id,
			      int64_t uidvalidity, int64_t uid, const char *what,
			      struct mf_error *err)
{
	int rc = store_sql_step_done(st, stmt, what, err);

	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = store_msgmap_missing(folder_id, uidvalidity, uid, err);
	store_sql_release(stmt);
	return rc;
}

int store_msgmap_set_flags(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
			   const char *flags, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_cached(st, STORE_STMT_MSGMAP_FLAGS,
			      "UPDATE message_map SET flags = ?"
			      " WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
			      &stmt, "update message flags", err);
	if (rc != 0)
		return rc;
	/* The key goes to 2..4 here; bind the flags first. */
	store_sql_bind_text(stmt, 1, flags);
	sqlite3_bind_int64(stmt, 2, folder_id);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	sqlite3_bind_int64(stmt, 4, uid);
	return store_msgmap_keyed(st, stmt, folder_id, uidvalidity, uid, "update message flags",
				  err);
}

int store_msgmap_forget(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
			struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_cached(st, STORE_STMT_MSGMAP_FORGET,
			      "DELETE FROM message_map"
			      " WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
			      &stmt, "forget a message", err);
	if (rc != 0)
		return rc;
	store_msgmap_bind_key(stmt, folder_id, uidvalidity, uid);
	return store_msgmap_keyed(st, stmt, folder_id, uidvalidity, uid, "forget a message", err);
}

/* Collect the rows of a prepared SELECT of MSGMAP_COLUMNS, finalizing it. */
static int store_msgmap_collect(struct store *st, sqlite3_stmt *stmt, struct store_msgmap **ms_r,
				size_t *count_r, const char *what, struct mf_error *err)
{
	void *items;
	int rc;

	rc = store_sql_collect(st, stmt, sizeof(**ms_r), store_msgmap_row, store_msgmap_clear_elem,
			       &items, count_r, what, err);
	sqlite3_finalize(stmt);
	*ms_r = items;
	return rc;
}

int store_msgmap_list_intents(struct store *st, int64_t user_id, struct store_msgmap **ms_r,
			      size_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*ms_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st,
			       "SELECT " MSGMAP_COLUMNS " FROM message_map m"
			       " JOIN folder_state f ON f.id = m.folder_id"
			       " WHERE f.user_id = ? AND m.state = 'intent'"
			       " ORDER BY m.folder_id, m.uidvalidity, m.uid",
			       &stmt, "list message intents", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, user_id);
	return store_msgmap_collect(st, stmt, ms_r, count_r, "list message intents", err);
}

int store_msgmap_list_done(struct store *st, int64_t folder_id, int64_t uidvalidity,
			   struct store_msgmap **ms_r, size_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*ms_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st,
			       "SELECT " MSGMAP_COLUMNS " FROM message_map m"
			       " WHERE m.folder_id = ? AND m.uidvalidity = ? AND m.state = 'done'"
			       " ORDER BY m.uid",
			       &stmt, "list copied messages", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, folder_id);
	sqlite3_bind_int64(stmt, 2, uidvalidity);
	return store_msgmap_collect(st, stmt, ms_r, count_r, "list copied messages", err);
}

void store_msgmap_list_free(struct store_msgmap **msp, size_t count)
{
	if (*msp == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		store_msgmap_clear(&(*msp)[i]);
	free(*msp);
	*msp = NULL;
}

int store_msgmap_count_done(struct store *st, int64_t folder_id, int64_t uidvalidity,
			    int64_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*count_r = 0;
	rc = store_sql_prepare(st,
			       "SELECT count(*) FROM message_map WHERE folder_id = ?"
			       " AND (? = 0 OR uidvalidity = ?) AND state = 'done'",
			       &stmt, "count copied messages", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, folder_id);
	sqlite3_bind_int64(stmt, 2, uidvalidity);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*count_r = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else {
		rc = store_sql_fail(st, rc, "count copied messages", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* ---- schema 3: incremental sync, reconciliation, recovery ---------------- */

int store_msgmap_rekey(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
		       int64_t new_folder_id, int64_t new_uidvalidity, int64_t new_uid,
		       struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_cached(st, STORE_STMT_MSGMAP_REKEY,
			      "UPDATE message_map SET folder_id = ?, uidvalidity = ?, uid = ?"
			      " WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
			      &stmt, "re-key a message", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, new_folder_id);
	sqlite3_bind_int64(stmt, 2, new_uidvalidity);
	sqlite3_bind_int64(stmt, 3, new_uid);
	sqlite3_bind_int64(stmt, 4, folder_id);
	sqlite3_bind_int64(stmt, 5, uidvalidity);
	sqlite3_bind_int64(stmt, 6, uid);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE && sqlite3_changes(st->db) == 0)
		rc = store_msgmap_missing(folder_id, uidvalidity, uid, err);
	else if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
		rc = mf_error_set(err, MF_EEXIST, "message UID %lld/%lld of folder %lld is mapped",
				  (long long)new_uidvalidity, (long long)new_uid,
				  (long long)new_folder_id);
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = mf_error_set(err, MF_ENOTFOUND, "no folder state with id %lld",
				  (long long)new_folder_id);
	else
		rc = store_sql_fail(st, rc, "re-key a message", err);
	store_sql_release(stmt);
	return rc;
}

int store_msgmap_set_target(struct store *st, int64_t folder_id, int64_t uidvalidity,
			    int64_t uid, const char *flags, const char *location,
			    struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_cached(st, STORE_STMT_MSGMAP_TARGET,
			      "UPDATE message_map SET flags = ?,"
			      " location = coalesce(?, location)"
			      " WHERE folder_id = ? AND uidvalidity = ? AND uid = ?",
			      &stmt, "update a message's target", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, flags);
	store_sql_bind_text(stmt, 2, location);
	sqlite3_bind_int64(stmt, 3, folder_id);
	sqlite3_bind_int64(stmt, 4, uidvalidity);
	sqlite3_bind_int64(stmt, 5, uid);
	return store_msgmap_keyed(st, stmt, folder_id, uidvalidity, uid,
				  "update a message's target", err);
}

int store_msgmap_target_used(struct store *st, int64_t folder_id, int64_t target_uid,
			     const char *location, bool *used_r, struct mf_error *err)
{
	size_t blen = location != NULL ? strcspn(location, ",:") : 0;
	sqlite3_stmt *stmt;
	int rc;

	*used_r = false;
	if (target_uid <= 0 && blen == 0)
		return 0;
	/* The unique part of a maildir name is what identifies the file: its
	 * flags (after ':') change. */
	rc = store_sql_cached(st, STORE_STMT_MSGMAP_USED,
			      "SELECT 1 FROM message_map WHERE folder_id = ? AND state = 'done'"
			      " AND ((? > 0 AND target_uid = ?) OR (? > 0"
			      "  AND substr(location, 1, ?) = substr(?, 1, ?)"
			      "  AND (length(location) = ? OR substr(location, ? + 1, 1) IN (',', ':'))))"
			      " LIMIT 1",
			      &stmt, "look up a target message", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, folder_id);
	sqlite3_bind_int64(stmt, 2, target_uid);
	sqlite3_bind_int64(stmt, 3, target_uid);
	sqlite3_bind_int64(stmt, 4, (int64_t)blen);
	sqlite3_bind_int64(stmt, 5, (int64_t)blen);
	store_sql_bind_text(stmt, 6, location != NULL ? location : "");
	sqlite3_bind_int64(stmt, 7, (int64_t)blen);
	sqlite3_bind_int64(stmt, 8, (int64_t)blen);
	sqlite3_bind_int64(stmt, 9, (int64_t)blen);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*used_r = true;
	rc = rc == SQLITE_ROW || rc == SQLITE_DONE
		 ? 0
		 : store_sql_fail(st, rc, "look up a target message", err);
	store_sql_release(stmt);
	return rc;
}
