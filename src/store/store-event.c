/* store-event.c: the event history of batches and users (`batch show`). */
#include "store/store-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const store_event_level_names[] = {
    [STORE_EVENT_INFO] = "info",
    [STORE_EVENT_WARNING] = "warning",
    [STORE_EVENT_ERROR] = "error",
};

#define STORE_EVENT_NLEVELS ((int)(sizeof(store_event_level_names) / sizeof(char *)))

const char *store_event_level_name(enum store_event_level l)
{
	if ((unsigned)l >= STORE_EVENT_NLEVELS)
		return "?";
	return store_event_level_names[l];
}

void store_event_clear(struct store_event *e)
{
	free(e->email_address);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

static void store_event_clear_elem(void *elem)
{
	store_event_clear(elem);
}

static int store_event_row(struct store *st, sqlite3_stmt *stmt, void *elem, struct mf_error *err)
{
	struct store_event *e = elem;
	const char *level = (const char *)sqlite3_column_text(stmt, 5);

	(void)st;
	(void)err;
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(stmt, 0);
	e->at = sqlite3_column_int64(stmt, 1);
	e->batch_id = sqlite3_column_int64(stmt, 2);
	e->user_id = sqlite3_column_int64(stmt, 3);
	e->email_address = store_sql_column_text(stmt, 4);
	/* The CHECK constraint allows only the three names. */
	e->level = STORE_EVENT_INFO;
	for (int i = 0; level != NULL && i < STORE_EVENT_NLEVELS; i++)
		if (strcmp(level, store_event_level_names[i]) == 0)
			e->level = (enum store_event_level)i;
	e->message = store_sql_column_text(stmt, 6);
	return 0;
}

int store_event_add(struct store *st, int64_t batch_id, int64_t user_id,
		    enum store_event_level level, const char *message, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (message == NULL)
		return mf_error_set(err, MF_EINVAL, "an event needs a message");
	if ((unsigned)level >= STORE_EVENT_NLEVELS)
		return mf_error_set(err, MF_EINVAL, "invalid event level %d", (int)level);
	rc = store_sql_cached(st, STORE_STMT_EVENT_ADD,
			      "INSERT INTO events (at, batch_id, user_id, level, message)"
			      " VALUES (?, ?, ?, ?, ?)",
			      &stmt, "record an event", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, store_now());
	store_sql_bind_opt64(stmt, 2, batch_id);
	store_sql_bind_opt64(stmt, 3, user_id);
	store_sql_bind_text(stmt, 4, store_event_level_name(level));
	store_sql_bind_text(stmt, 5, message);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = mf_error_set(err, MF_ENOTFOUND, "no batch %lld or user %lld for an event",
				  (long long)batch_id, (long long)user_id);
	else
		rc = store_sql_fail(st, rc, "record an event", err);
	store_sql_release(stmt);
	return rc;
}

int store_event_list(struct store *st, int64_t batch_id, int64_t user_id, size_t limit,
		     struct store_event **es_r, size_t *count_r, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	void *items;
	int rc;

	*es_r = NULL;
	*count_r = 0;
	/* The latest limit events (newest first inside), returned oldest first.
	 * One query per key, so each uses its index. */
	rc = store_sql_prepare(st,
			       user_id != 0
				   ? "SELECT * FROM (SELECT e.id, e.at, e.batch_id, e.user_id,"
				     " u.email_address, e.level, e.message FROM events e"
				     " LEFT JOIN migration_users u ON u.id = e.user_id"
				     " WHERE e.user_id = ? ORDER BY e.id DESC LIMIT ?) AS latest"
				     " ORDER BY id"
				   : "SELECT * FROM (SELECT e.id, e.at, e.batch_id, e.user_id,"
				     " u.email_address, e.level, e.message FROM events e"
				     " LEFT JOIN migration_users u ON u.id = e.user_id"
				     " WHERE e.batch_id = ? ORDER BY e.id DESC LIMIT ?) AS latest"
				     " ORDER BY id",
			       &stmt, "list events", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, user_id != 0 ? user_id : batch_id);
	sqlite3_bind_int64(stmt, 2, limit > 0 && limit < INT64_MAX ? (int64_t)limit : INT64_MAX);
	rc = store_sql_collect(st, stmt, sizeof(**es_r), store_event_row, store_event_clear_elem,
			       &items, count_r, "list events", err);
	sqlite3_finalize(stmt);
	*es_r = items;
	return rc;
}

void store_event_list_free(struct store_event **esp, size_t count)
{
	if (*esp == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		store_event_clear(&(*esp)[i]);
	free(*esp);
	*esp = NULL;
}
