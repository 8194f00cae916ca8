/* store-user.c: migration users. */
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

static const char *const store_user_status_names[STORE_USER_NSTATUS] = {
    [STORE_USER_QUEUED] = "Queued",
    [STORE_USER_SYNCING] = "Syncing",
    [STORE_USER_SYNCED] = "Synced",
    [STORE_USER_FAILED] = "Failed",
    [STORE_USER_STOPPED] = "Stopped",
    [STORE_USER_INCREMENTAL_SYNCING] = "IncrementalSyncing",
    [STORE_USER_INCREMENTAL_FAILED] = "IncrementalFailed",
    [STORE_USER_COMPLETING] = "Completing",
    [STORE_USER_COMPLETED] = "Completed",
    [STORE_USER_COMPLETION_FAILED] = "CompletionFailed",
};

const char *store_user_status_name(enum store_user_status s)
{
	if ((unsigned)s >= STORE_USER_NSTATUS)
		return "?";
	return store_user_status_names[s];
}

int store_user_status_parse(const char *name, enum store_user_status *s_r)
{
	for (int i = 0; name != NULL && i < STORE_USER_NSTATUS; i++) {
		if (strcasecmp(name, store_user_status_names[i]) == 0) {
			*s_r = (enum store_user_status)i;
			return 0;
		}
	}
	return MF_EINVAL;
}

/* Column order shared by USER_SELECT and store_user_row(). */
#define USER_SELECT                                                                                \
	"SELECT u.id, u.batch_id, b.name, u.email_address, u.user_name,"                           \
	" u.password_secret, u.user_root, u.target_user_name, u.target_password_secret,"           \
	" u.status, u.total_items, u.synced_items, u.skipped_items, u.bytes_transferred,"          \
	" u.total_bytes, u.transient_errors, u.started_at, u.ended_at, u.last_sync_at,"            \
	" u.last_error, u.current_folder, u.next_attempt_at, u.attempts, u.created_at,"            \
	" u.updated_at"                                                                            \
	" FROM migration_users u JOIN batches b ON b.id = u.batch_id"

void store_user_clear(struct store_user *u)
{
	free(u->batch_name);
	free(u->email_address);
	free(u->user_name);
	free(u->password_sealed);
	free(u->user_root);
	free(u->target_user_name);
	free(u->target_password_sealed);
	free(u->stats.last_error);
	free(u->stats.current_folder);
	memset(u, 0, sizeof(*u));
}

static void store_user_clear_elem(void *elem)
{
	store_user_clear(elem);
}

static int store_user_row(struct store *st, sqlite3_stmt *stmt, void *elem, struct mf_error *err)
{
	struct store_user *u = elem;
	struct store_user_stats *s = &u->stats;
	const char *status = (const char *)sqlite3_column_text(stmt, 9);

	(void)st;
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(stmt, 0);
	if (store_user_status_parse(status, &u->status) != 0)
		return mf_error_set(err, MF_EIO, "migration user %lld has an unknown status %s",
				    (long long)u->id, status != NULL ? status : "(null)");
	u->batch_id = sqlite3_column_int64(stmt, 1);
	u->batch_name = store_sql_column_text(stmt, 2);
	u->email_address = store_sql_column_text(stmt, 3);
	u->user_name = store_sql_column_text(stmt, 4);
	u->password_sealed = store_sql_column_text(stmt, 5);
	u->user_root = store_sql_column_text(stmt, 6);
	u->target_user_name = store_sql_column_text(stmt, 7);
	u->target_password_sealed = store_sql_column_text(stmt, 8);
	s->total_items = sqlite3_column_int64(stmt, 10);
	s->synced_items = sqlite3_column_int64(stmt, 11);
	s->skipped_items = sqlite3_column_int64(stmt, 12);
	s->bytes_transferred = sqlite3_column_int64(stmt, 13);
	s->total_bytes = sqlite3_column_int64(stmt, 14);
	s->transient_errors = sqlite3_column_int64(stmt, 15);
	s->started_at = sqlite3_column_int64(stmt, 16);
	s->ended_at = sqlite3_column_int64(stmt, 17);
	s->last_sync_at = sqlite3_column_int64(stmt, 18);
	s->last_error = store_sql_column_text(stmt, 19);
	s->current_folder = store_sql_column_text(stmt, 20);
	s->next_attempt_at = sqlite3_column_int64(stmt, 21);
	s->attempts = sqlite3_column_int(stmt, 22);
	u->created_at = sqlite3_column_int64(stmt, 23);
	u->updated_at = sqlite3_column_int64(stmt, 24);
	return 0;
}

/* The uniqueness key of an address: ASCII lower case (domains are
 * case-insensitive, and so in practice are local parts). malloc'd. */
static char *store_user_key(const char *email)
{
	char *key = xstrdup(email);

	for (char *p = key; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return key;
}

static const char *store_user_opt(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* Seal s into *sealed_r, or leave it NULL when s is unset. */
static int store_user_seal(struct store *st, const char *s, char **sealed_r, struct mf_error *err)
{
	*sealed_r = NULL;
	if (store_user_opt(s) == NULL)
		return 0;
	return store_secret_seal(st, s, sealed_r, err);
}

/* MF_EEXIST naming the batch that already holds key. */
static int store_user_taken(struct store *st, const char *email, const char *key,
			    struct mf_error *err)
{
	sqlite3_stmt *stmt;
	char *batch = NULL;
	int rc;

	rc = store_sql_prepare(st,
			       "SELECT b.name FROM migration_users u"
			       " JOIN batches b ON b.id = u.batch_id WHERE u.email_key = ?",
			       &stmt, "add a migration user", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, key);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		batch = store_sql_column_text(stmt, 0);
	sqlite3_finalize(stmt);
	rc = mf_error_set(err, MF_EEXIST, "mailbox %s is already in batch %s", email,
			  batch != NULL ? batch : "(unknown)");
	free(batch);
	return rc;
}

static int store_user_insert(struct store *st, int64_t batch_id, const struct store_user_new *in,
			     int64_t now, struct mf_error *err)
{
	char *pw = NULL, *tpw = NULL, *key;
	sqlite3_stmt *stmt;
	int rc;

	if (in->email_address == NULL || in->email_address[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "a migration user needs an email address");
	rc = store_user_seal(st, in->password, &pw, err);
	if (rc == 0)
		rc = store_user_seal(st, in->target_password, &tpw, err);
	if (rc == 0)
		rc = store_sql_cached(st, STORE_STMT_USER_INSERT,
				      "INSERT INTO migration_users (batch_id, email_address,"
				      " email_key, user_name, password_secret, user_root,"
				      " target_user_name, target_password_secret, created_at,"
				      " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				      &stmt, "add a migration user", err);
	if (rc != 0) {
		free(pw);
		free(tpw);
		return rc;
	}
	key = store_user_key(in->email_address);
	sqlite3_bind_int64(stmt, 1, batch_id);
	store_sql_bind_text(stmt, 2, in->email_address);
	store_sql_bind_text(stmt, 3, key);
	store_sql_bind_text(stmt, 4, store_user_opt(in->user_name));
	store_sql_bind_text(stmt, 5, pw);
	store_sql_bind_text(stmt, 6, store_user_opt(in->user_root));
	store_sql_bind_text(stmt, 7, store_user_opt(in->target_user_name));
	store_sql_bind_text(stmt, 8, tpw);
	sqlite3_bind_int64(stmt, 9, now);
	sqlite3_bind_int64(stmt, 10, now);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_UNIQUE)
		rc = store_user_taken(st, in->email_address, key, err);
	else
		rc = store_sql_fail(st, rc, "add a migration user", err);
	store_sql_release(stmt);
	free(key);
	free(pw);
	free(tpw);
	return rc;
}

static int store_user_batch_exists(struct store *st, int64_t batch_id, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_prepare(st, "SELECT 1 FROM batches WHERE id = ?", &stmt,
			       "add migration users", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, batch_id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		rc = 0;
	else if (rc == SQLITE_DONE)
		rc = mf_error_set(err, MF_ENOTFOUND, "no batch with id %lld", (long long)batch_id);
	else
		rc = store_sql_fail(st, rc, "add migration users", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_user_add_many(struct store *st, int64_t batch_id, const struct store_user_new *users,
			size_t n, struct mf_error *err)
{
	int64_t now = store_now();
	int rc;

	rc = store_sql_begin(st, err);
	if (rc != 0)
		return rc;
	rc = store_user_batch_exists(st, batch_id, err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = store_user_insert(st, batch_id, &users[i], now, err);
	if (rc != 0) {
		store_sql_rollback(st);
		return rc;
	}
	return store_sql_commit(st, err);
}

/* USER_SELECT + where with one parameter: text key, else id. */
static int store_user_get_by(struct store *st, const char *where, const char *key, int64_t id,
			     struct store_user *u, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	char *sql = xasprintf("%s %s", USER_SELECT, where);
	int rc;

	memset(u, 0, sizeof(*u));
	rc = store_sql_prepare(st, sql, &stmt, "read a migration user", err);
	free(sql);
	if (rc != 0)
		return rc;
	if (key != NULL)
		store_sql_bind_text(stmt, 1, key);
	else
		sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		rc = store_user_row(st, stmt, u, err);
		if (rc != 0)
			store_user_clear(u);
	} else if (rc == SQLITE_DONE) {
		rc = key != NULL ? mf_error_set(err, MF_ENOTFOUND, "no migration user %s", key)
				 : mf_error_set(err, MF_ENOTFOUND, "no migration user with id %lld",
						(long long)id);
	} else {
		rc = store_sql_fail(st, rc, "read a migration user", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int store_user_get(struct store *st, const char *email_address, struct store_user *u,
		   struct mf_error *err)
{
	char *key;
	int rc;

	if (email_address == NULL) {
		memset(u, 0, sizeof(*u));
		return mf_error_set(err, MF_EINVAL, "no email address given");
	}
	key = store_user_key(email_address);
	rc = store_user_get_by(st, "WHERE u.email_key = ?", key, 0, u, err);
	free(key);
	return rc;
}

int store_user_get_id(struct store *st, int64_t id, struct store_user *u, struct mf_error *err)
{
	return store_user_get_by(st, "WHERE u.id = ?", NULL, id, u, err);
}

int store_user_list(struct store *st, int64_t batch_id, struct store_user **us_r, size_t *count_r,
		    struct mf_error *err)
{
	sqlite3_stmt *stmt;
	void *items;
	int rc;

	*us_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st,
			       USER_SELECT " WHERE ? = 0 OR u.batch_id = ?"
					   " ORDER BY b.name, u.email_key",
			       &stmt, "list migration users", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, batch_id);
	sqlite3_bind_int64(stmt, 2, batch_id);
	rc = store_sql_collect(st, stmt, sizeof(**us_r), store_user_row, store_user_clear_elem,
			       &items, count_r, "list migration users", err);
	sqlite3_finalize(stmt);
	*us_r = items;
	return rc;
}

void store_user_list_free(struct store_user **usp, size_t count)
{
	if (*usp == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		store_user_clear(&(*usp)[i]);
	free(*usp);
	*usp = NULL;
}

/* Step an UPDATE of user id: MF_ENOTFOUND when no row changed. */
static int store_user_changed(struct store *st, sqlite3_stmt *stmt, int64_t id, const char *what,
			      struct mf_error *err)
{
	int rc = store_sql_step_done(st, stmt, what, err);

	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = mf_error_set(err, MF_ENOTFOUND, "no migration user with id %lld",
				  (long long)id);
	return rc;
}

int store_user_set_status(struct store *st, int64_t id, enum store_user_status status,
			  const char *last_error, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((unsigned)status >= STORE_USER_NSTATUS)
		return mf_error_set(err, MF_EINVAL, "invalid user status %d", (int)status);
	rc = store_sql_prepare(st,
			       "UPDATE migration_users SET status = ?, last_error = ?,"
			       " updated_at = ? WHERE id = ?",
			       &stmt, "update a migration user", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, store_user_status_name(status));
	store_sql_bind_text(stmt, 2, last_error);
	sqlite3_bind_int64(stmt, 3, store_now());
	sqlite3_bind_int64(stmt, 4, id);
	rc = store_user_changed(st, stmt, id, "update a migration user", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_user_update_stats(struct store *st, int64_t id, const struct store_user_stats *s,
			    struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_cached(st, STORE_STMT_USER_STATS,
			      "UPDATE migration_users SET total_items = ?, synced_items = ?,"
			      " skipped_items = ?, bytes_transferred = ?, total_bytes = ?,"
			      " transient_errors = ?, started_at = ?, ended_at = ?,"
			      " last_sync_at = ?, last_error = ?, current_folder = ?,"
			      " next_attempt_at = ?, attempts = ?, updated_at = ? WHERE id = ?",
			      &stmt, "update user statistics", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, s->total_items);
	sqlite3_bind_int64(stmt, 2, s->synced_items);
	sqlite3_bind_int64(stmt, 3, s->skipped_items);
	sqlite3_bind_int64(stmt, 4, s->bytes_transferred);
	sqlite3_bind_int64(stmt, 5, s->total_bytes);
	sqlite3_bind_int64(stmt, 6, s->transient_errors);
	store_sql_bind_opt64(stmt, 7, s->started_at);
	store_sql_bind_opt64(stmt, 8, s->ended_at);
	store_sql_bind_opt64(stmt, 9, s->last_sync_at);
	store_sql_bind_text(stmt, 10, s->last_error);
	store_sql_bind_text(stmt, 11, s->current_folder);
	sqlite3_bind_int64(stmt, 12, s->next_attempt_at);
	sqlite3_bind_int(stmt, 13, s->attempts);
	sqlite3_bind_int64(stmt, 14, store_now());
	sqlite3_bind_int64(stmt, 15, id);
	rc = store_user_changed(st, stmt, id, "update user statistics", err);
	store_sql_release(stmt);
	return rc;
}

/* The claiming UPDATE; *id_r = 0 when no user is due. */
static int store_user_claim_row(struct store *st, int64_t batch_id, enum store_user_status from,
				enum store_user_status to, int64_t now, int64_t *id_r,
				struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*id_r = 0;
	/* One statement, so the choice and the change are atomic. */
	rc = store_sql_prepare(st,
			       "UPDATE migration_users SET status = ?, updated_at = ?"
			       " WHERE id = (SELECT id FROM migration_users"
			       "  WHERE batch_id = ? AND status = ? AND next_attempt_at <= ?"
			       "  ORDER BY next_attempt_at, id LIMIT 1)"
			       " RETURNING id",
			       &stmt, "claim a migration user", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, store_user_status_name(to));
	sqlite3_bind_int64(stmt, 2, now);
	sqlite3_bind_int64(stmt, 3, batch_id);
	store_sql_bind_text(stmt, 4, store_user_status_name(from));
	sqlite3_bind_int64(stmt, 5, now);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*id_r = sqlite3_column_int64(stmt, 0);
		rc = sqlite3_step(stmt);
	}
	rc = rc == SQLITE_DONE ? 0 : store_sql_fail(st, rc, "claim a migration user", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_user_claim(struct store *st, int64_t batch_id, enum store_user_status from,
		     enum store_user_status to, int64_t now, struct store_user *u,
		     struct mf_error *err)
{
	int64_t id;
	int rc;

	memset(u, 0, sizeof(*u));
	if ((unsigned)from >= STORE_USER_NSTATUS || (unsigned)to >= STORE_USER_NSTATUS)
		return mf_error_set(err, MF_EINVAL, "invalid user status");
	rc = store_sql_begin(st, err);
	if (rc != 0)
		return rc;
	rc = store_user_claim_row(st, batch_id, from, to, now, &id, err);
	if (rc == 0 && id == 0)
		rc = mf_error_set(err, MF_ENOTFOUND, "no %s user is due in batch %lld",
				  store_user_status_name(from), (long long)batch_id);
	if (rc == 0)
		rc = store_user_get_id(st, id, u, err);
	if (rc != 0) {
		store_sql_rollback(st);
		return rc;
	}
	rc = store_sql_commit(st, err);
	if (rc != 0)
		store_user_clear(u);
	return rc;
}

int store_batch_user_counts(struct store *st, int64_t batch_id, int64_t counts[STORE_USER_NSTATUS],
			    struct mf_error *err)
{
	enum store_user_status s;
	sqlite3_stmt *stmt;
	int rc;

	memset(counts, 0, STORE_USER_NSTATUS * sizeof(counts[0]));
	rc = store_sql_prepare(st,
			       "SELECT status, count(*) FROM migration_users"
			       " WHERE batch_id = ? GROUP BY status",
			       &stmt, "count migration users", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, batch_id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);

		if (store_user_status_parse(name, &s) != 0) {
			rc = mf_error_set(err, MF_EIO, "a migration user has an unknown status %s",
					  name != NULL ? name : "(null)");
			break;
		}
		counts[s] = sqlite3_column_int64(stmt, 1);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc > 0)
		rc = store_sql_fail(st, rc, "count migration users", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_user_next_due(struct store *st, int64_t batch_id, enum store_user_status status,
			int64_t *at_r, int64_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	*at_r = 0;
	*count_r = 0;
	rc = store_sql_prepare(st,
			       "SELECT coalesce(min(next_attempt_at), 0), count(*)"
			       " FROM migration_users WHERE batch_id = ? AND status = ?",
			       &stmt, "read the users due", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, batch_id);
	store_sql_bind_text(stmt, 2, store_user_status_name(status));
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*at_r = sqlite3_column_int64(stmt, 0);
		*count_r = sqlite3_column_int64(stmt, 1);
		rc = 0;
	} else {
		rc = store_sql_fail(st, rc, "read the users due", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int store_user_move_all(struct store *st, int64_t batch_id, enum store_user_status from,
			enum store_user_status to, int64_t next_attempt_at, bool reset_attempts,
			int64_t *moved_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (moved_r != NULL)
		*moved_r = 0;
	if ((unsigned)from >= STORE_USER_NSTATUS || (unsigned)to >= STORE_USER_NSTATUS)
		return mf_error_set(err, MF_EINVAL, "invalid user status");
	rc = store_sql_prepare(st,
			       "UPDATE migration_users SET status = ?, next_attempt_at = ?,"
			       " attempts = CASE WHEN ? THEN 0 ELSE attempts END, updated_at = ?"
			       " WHERE batch_id = ? AND status = ?",
			       &stmt, "move migration users", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, store_user_status_name(to));
	sqlite3_bind_int64(stmt, 2, next_attempt_at);
	sqlite3_bind_int(stmt, 3, reset_attempts ? 1 : 0);
	sqlite3_bind_int64(stmt, 4, store_now());
	sqlite3_bind_int64(stmt, 5, batch_id);
	store_sql_bind_text(stmt, 6, store_user_status_name(from));
	rc = store_sql_step_done(st, stmt, "move migration users", err);
	if (rc == 0 && moved_r != NULL)
		*moved_r = sqlite3_changes(st->db);
	sqlite3_finalize(stmt);
	return rc;
}
