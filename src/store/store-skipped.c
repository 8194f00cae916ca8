/* store-skipped.c: skipped items (messages the target refused or that were
 * too large), kept for `user show --skipped-items` and the batch report. */
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>

static const char *store_skip_kind_name(enum store_skip_kind k)
{
	return k == STORE_SKIP_LARGE ? "large" : "bad";
}

void store_skipped_clear(struct store_skipped *s)
{
	free(s->folder);
	free(s->subject);
	free(s->reason);
	memset(s, 0, sizeof(*s));
}

static void store_skipped_clear_elem(void *elem)
{
	store_skipped_clear(elem);
}

static int store_skipped_row(struct store *st, sqlite3_stmt *stmt, void *elem, struct mf_error *err)
{
	struct store_skipped *s = elem;
	const char *kind = (const char *)sqlite3_column_text(stmt, 8);

	(void)st;
	(void)err;
	memset(s, 0, sizeof(*s));
	s->id = sqlite3_column_int64(stmt, 0);
	s->user_id = sqlite3_column_int64(stmt, 1);
	s->folder = store_sql_column_text(stmt, 2);
	s->uid = sqlite3_column_int64(stmt, 3);
	s->date = sqlite3_column_int64(stmt, 4);
	s->subject = store_sql_column_text(stmt, 5);
	s->size = sqlite3_column_int64(stmt, 6);
	s->reason = store_sql_column_text(stmt, 7);
	/* The CHECK constraint allows only 'bad' and 'large'. */
	s->kind = kind != NULL && strcmp(kind, "large") == 0 ? STORE_SKIP_LARGE : STORE_SKIP_BAD;
	s->created_at = sqlite3_column_int64(stmt, 9);
	return 0;
}

int store_skipped_add(struct store *st, struct store_skipped *s, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int64_t now = store_now();
	int rc;

	if (s->folder == NULL || s->reason == NULL)
		return mf_error_set(err, MF_EINVAL, "a skipped item needs a folder and a reason");
	rc = store_sql_cached(st, STORE_STMT_SKIPPED_ADD,
			      "INSERT INTO skipped_items (user_id, folder, uid, message_date,"
			      " subject, size, reason, kind, created_at)"
			      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
			      &stmt, "record a skipped item", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, s->user_id);
	store_sql_bind_text(stmt, 2, s->folder);
	sqlite3_bind_int64(stmt, 3, s->uid);
	store_sql_bind_opt64(stmt, 4, s->date);
	store_sql_bind_text(stmt, 5, s->subject);
	sqlite3_bind_int64(stmt, 6, s->size);
	store_sql_bind_text(stmt, 7, s->reason);
	store_sql_bind_text(stmt, 8, store_skip_kind_name(s->kind));
	sqlite3_bind_int64(stmt, 9, now);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		s->id = sqlite3_column_int64(stmt, 0);
		s->created_at = now;
		rc = sqlite3_step(stmt);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = mf_error_set(err, MF_ENOTFOUND, "no migration user with id %lld",
				  (long long)s->user_id);
	else
		rc = store_sql_fail(st, rc, "record a skipped item", err);
	store_sql_release(stmt);
	return rc;
}

int store_skipped_list(struct store *st, int64_t user_id, struct store_skipped **ss_r,
		       size_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	void *items;
	int rc;

	*ss_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st,
			       "SELECT id, user_id, folder, uid, message_date, subject, size,"
			       " reason, kind, created_at FROM skipped_items"
			       " WHERE user_id = ? ORDER BY id",
			       &stmt, "list skipped items", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, user_id);
	rc =
	    store_sql_collect(st, stmt, sizeof(**ss_r), store_skipped_row, store_skipped_clear_elem,
			      &items, count_r, "list skipped items", err);
	sqlite3_finalize(stmt);
	*ss_r = items;
	return rc;
}

void store_skipped_list_free(struct store_skipped **ssp, size_t count)
{
	if (*ssp == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		store_skipped_clear(&(*ssp)[i]);
	free(*ssp);
	*ssp = NULL;
}

int store_skipped_count(struct store *st, int64_t user_id, enum store_skip_kind kind,
			int64_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*count_r = 0;
	rc = store_sql_prepare(st,
			       "SELECT count(*) FROM skipped_items WHERE user_id = ? AND kind = ?",
			       &stmt, "count skipped items", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, user_id);
	store_sql_bind_text(stmt, 2, store_skip_kind_name(kind));
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*count_r = sqlite3_column_int64(stmt, 0);
		rc = 0;
	} else {
		rc = store_sql_fail(st, rc, "count skipped items", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}
