/* store-batch.c: batch rows. */
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

static const char *const store_batch_status_names[STORE_BATCH_NSTATUS] = {
    [STORE_BATCH_CREATED] = "Created",
    [STORE_BATCH_SYNCING] = "Syncing",
    [STORE_BATCH_SYNCED] = "Synced",
    [STORE_BATCH_SYNCED_WITH_ERRORS] = "SyncedWithErrors",
    [STORE_BATCH_STOPPING] = "Stopping",
    [STORE_BATCH_STOPPED] = "Stopped",
    [STORE_BATCH_FAILED] = "Failed",
    [STORE_BATCH_REMOVING] = "Removing",
    [STORE_BATCH_INCREMENTAL_SYNCING] = "IncrementalSyncing",
    [STORE_BATCH_COMPLETING] = "Completing",
    [STORE_BATCH_COMPLETED] = "Completed",
    [STORE_BATCH_COMPLETED_WITH_ERRORS] = "CompletedWithErrors",
};

const char *store_batch_status_name(enum store_batch_status s)
{
	if ((unsigned)s >= STORE_BATCH_NSTATUS)
		return "?";
	return store_batch_status_names[s];
}

int store_batch_status_parse(const char *name, enum store_batch_status *s_r)
{
	for (int i = 0; name != NULL && i < STORE_BATCH_NSTATUS; i++) {
		if (strcasecmp(name, store_batch_status_names[i]) == 0) {
			*s_r = (enum store_batch_status)i;
			return 0;
		}
	}
	return MF_EINVAL;
}

/* Column order shared by BATCH_SELECT and store_batch_row(). */
#define BATCH_SELECT                                                                               \
	"SELECT b.id, b.name, s.name, t.name, b.status, b.exclude_folders,"                        \
	" b.include_folders, b.bad_item_limit, b.large_item_limit, b.max_message_size,"            \
	" b.received_after, b.auto_start, b.auto_complete, b.sync_deletes,"                        \
	" b.incremental_interval, b.start_after, b.complete_after, b.last_error,"                  \
	" b.created_at, b.started_at, b.completed_at, b.updated_at, b.connections_per_user"        \
	" FROM batches b JOIN endpoints s ON s.id = b.source_endpoint_id"                          \
	" LEFT JOIN endpoints t ON t.id = b.target_endpoint_id"

void store_batch_clear(struct store_batch *b)
{
	free(b->name);
	free(b->source_endpoint);
	free(b->target_endpoint);
	free(b->opt.exclude_folders);
	free(b->opt.include_folders);
	free(b->last_error);
	memset(b, 0, sizeof(*b));
}

static void store_batch_clear_elem(void *elem)
{
	store_batch_clear(elem);
}

static int store_batch_row(struct store *st, sqlite3_stmt *stmt, void *elem, struct mf_error *err)
{
	struct store_batch *b = elem;
	const char *status = (const char *)sqlite3_column_text(stmt, 4);

	(void)st;
	memset(b, 0, sizeof(*b));
	b->id = sqlite3_column_int64(stmt, 0);
	if (store_batch_status_parse(status, &b->status) != 0)
		return mf_error_set(err, MF_EIO, "batch %lld has an unknown status %s",
				    (long long)b->id, status != NULL ? status : "(null)");
	b->name = store_sql_column_text(stmt, 1);
	b->source_endpoint = store_sql_column_text(stmt, 2);
	b->target_endpoint = store_sql_column_text(stmt, 3);
	b->opt.exclude_folders = store_sql_column_text(stmt, 5);
	b->opt.include_folders = store_sql_column_text(stmt, 6);
	b->opt.bad_item_limit = sqlite3_column_int64(stmt, 7);
	b->opt.large_item_limit = sqlite3_column_int64(stmt, 8);
	b->opt.max_message_size = sqlite3_column_int64(stmt, 9);
	b->opt.received_after = sqlite3_column_int64(stmt, 10);
	b->opt.auto_start = sqlite3_column_int(stmt, 11) != 0;
	b->opt.auto_complete = sqlite3_column_int(stmt, 12) != 0;
	b->opt.sync_deletes = sqlite3_column_int(stmt, 13) != 0;
	b->opt.incremental_interval = sqlite3_column_int64(stmt, 14);
	b->opt.start_after = sqlite3_column_int64(stmt, 15);
	b->opt.complete_after = sqlite3_column_int64(stmt, 16);
	b->last_error = store_sql_column_text(stmt, 17);
	b->created_at = sqlite3_column_int64(stmt, 18);
	b->started_at = sqlite3_column_int64(stmt, 19);
	b->completed_at = sqlite3_column_int64(stmt, 20);
	b->updated_at = sqlite3_column_int64(stmt, 21);
	b->opt.connections_per_user = sqlite3_column_int64(stmt, 22);
	return 0;
}

static int store_batch_check(const struct store_batch *b, struct mf_error *err)
{
	const struct store_batch_options *o = &b->opt;

	if ((unsigned)b->status >= STORE_BATCH_NSTATUS)
		return mf_error_set(err, MF_EINVAL, "invalid batch status %d", (int)b->status);
	if (o->bad_item_limit < STORE_LIMIT_UNLIMITED ||
	    o->large_item_limit < STORE_LIMIT_UNLIMITED)
		return mf_error_set(err, MF_EINVAL,
				    "an item limit must be 0 or more, or unlimited");
	if (o->connections_per_user < 0 || o->connections_per_user > 16)
		return mf_error_set(err, MF_EINVAL,
				    "connections per user must be from 1 to 16");
	if (o->max_message_size < 0 || o->incremental_interval < 0)
		return mf_error_set(err, MF_EINVAL,
				    "the message size limit and the incremental interval "
				    "cannot be negative");
	return 0;
}

/* Bind status, options, last_error, started_at, completed_at and
 * connections_per_user to the 17 parameters from first on (the order of the INSERT and UPDATE below). */
static void store_batch_bind(sqlite3_stmt *stmt, int first, const struct store_batch *b)
{
	const struct store_batch_options *o = &b->opt;
	int i = first;

	store_sql_bind_text(stmt, i++, store_batch_status_name(b->status));
	store_sql_bind_text(stmt, i++, o->exclude_folders);
	store_sql_bind_text(stmt, i++, o->include_folders);
	sqlite3_bind_int64(stmt, i++, o->bad_item_limit);
	sqlite3_bind_int64(stmt, i++, o->large_item_limit);
	sqlite3_bind_int64(stmt, i++, o->max_message_size);
	store_sql_bind_opt64(stmt, i++, o->received_after);
	sqlite3_bind_int(stmt, i++, o->auto_start ? 1 : 0);
	sqlite3_bind_int(stmt, i++, o->auto_complete ? 1 : 0);
	sqlite3_bind_int(stmt, i++, o->sync_deletes ? 1 : 0);
	sqlite3_bind_int64(stmt, i++, o->incremental_interval);
	store_sql_bind_opt64(stmt, i++, o->start_after);
	store_sql_bind_opt64(stmt, i++, o->complete_after);
	store_sql_bind_text(stmt, i++, b->last_error);
	store_sql_bind_opt64(stmt, i++, b->started_at);
	store_sql_bind_opt64(stmt, i++, b->completed_at);
	sqlite3_bind_int64(stmt, i++, o->connections_per_user);
}

static int store_batch_insert_row(struct store *st, struct store_batch *b, int64_t source_id,
				  int64_t target_id, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc =
	    store_sql_prepare(st,
			      "INSERT INTO batches (name, source_endpoint_id, target_endpoint_id,"
			      " created_at, updated_at, status, exclude_folders,"
			      " include_folders, bad_item_limit, large_item_limit,"
			      " max_message_size, received_after, auto_start, auto_complete,"
			      " sync_deletes, incremental_interval, start_after,"
			      " complete_after, last_error, started_at, completed_at,"
			      " connections_per_user)"
			      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			      " ?, ?) RETURNING id",
			      &stmt, "add a batch", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, b->name);
	sqlite3_bind_int64(stmt, 2, source_id);
	store_sql_bind_opt64(stmt, 3, target_id);
	sqlite3_bind_int64(stmt, 4, b->created_at);
	sqlite3_bind_int64(stmt, 5, b->updated_at);
	store_batch_bind(stmt, 6, b);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		b->id = sqlite3_column_int64(stmt, 0);
		rc = sqlite3_step(stmt);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_UNIQUE)
		rc = mf_error_set(err, MF_EEXIST, "a batch named %s already exists", b->name);
	else
		rc = store_sql_fail(st, rc, "add a batch", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_batch_create(struct store *st, struct store_batch *b, struct mf_error *err)
{
	int64_t source_id, target_id = 0;
	int rc;

	if (b->name == NULL || b->name[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "a batch needs a name");
	if (b->source_endpoint == NULL)
		return mf_error_set(err, MF_EINVAL, "batch %s needs a source endpoint", b->name);
	rc = store_batch_check(b, err);
	if (rc != 0)
		return rc;
	if (b->opt.incremental_interval == 0)
		b->opt.incremental_interval = STORE_DEFAULT_INCREMENTAL_INTERVAL;
	if (b->created_at == 0)
		b->created_at = store_now();
	b->updated_at = b->created_at;
	/* One transaction, so neither endpoint can vanish between the look-up
	 * and the insert (the foreign keys would catch it, less clearly). */
	rc = store_sql_begin(st, err);
	if (rc != 0)
		return rc;
	rc = store_sql_endpoint_id(st, b->source_endpoint, &source_id, err);
	if (rc == 0 && b->target_endpoint != NULL)
		rc = store_sql_endpoint_id(st, b->target_endpoint, &target_id, err);
	if (rc == 0)
		rc = store_batch_insert_row(st, b, source_id, target_id, err);
	if (rc != 0) {
		store_sql_rollback(st);
		return rc;
	}
	return store_sql_commit(st, err);
}

int store_batch_insert(struct store *st, const char *name, const char *source_endpoint,
		       const char *target_endpoint, int64_t *id_r, struct mf_error *err)
{
	struct store_batch b = {0};
	int rc;

	/* Borrowed for the call; the record is not cleared. */
	b.name = (char *)name;
	b.source_endpoint = (char *)source_endpoint;
	b.target_endpoint = (char *)target_endpoint;
	rc = store_batch_create(st, &b, err);
	if (rc == 0)
		*id_r = b.id;
	return rc;
}

/* Run BATCH_SELECT + where, binding key as text (name) or an id. */
static int store_batch_get_by(struct store *st, const char *where, const char *name, int64_t id,
			      struct store_batch *b, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	char *sql = xasprintf("%s %s", BATCH_SELECT, where);
	int rc;

	memset(b, 0, sizeof(*b));
	rc = store_sql_prepare(st, sql, &stmt, "read a batch", err);
	free(sql);
	if (rc != 0)
		return rc;
	if (name != NULL)
		store_sql_bind_text(stmt, 1, name);
	else
		sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		rc = store_batch_row(st, stmt, b, err);
		if (rc != 0)
			store_batch_clear(b);
	} else if (rc == SQLITE_DONE) {
		rc = name != NULL
			 ? mf_error_set(err, MF_ENOTFOUND, "no batch named %s", name)
			 : mf_error_set(err, MF_ENOTFOUND, "no batch with id %lld", (long long)id);
	} else {
		rc = store_sql_fail(st, rc, "read a batch", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int store_batch_get(struct store *st, const char *name, struct store_batch *b, struct mf_error *err)
{
	if (name == NULL) {
		memset(b, 0, sizeof(*b));
		return mf_error_set(err, MF_EINVAL, "no batch name given");
	}
	return store_batch_get_by(st, "WHERE b.name = ?", name, 0, b, err);
}

int store_batch_get_id(struct store *st, int64_t id, struct store_batch *b, struct mf_error *err)
{
	return store_batch_get_by(st, "WHERE b.id = ?", NULL, id, b, err);
}

int store_batch_list(struct store *st, struct store_batch **bs_r, size_t *count_r,
		     struct mf_error *err)
{
	sqlite3_stmt *stmt;
	void *items;
	int rc;

	*bs_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st, BATCH_SELECT " ORDER BY b.name", &stmt, "list batches", err);
	if (rc != 0)
		return rc;
	rc = store_sql_collect(st, stmt, sizeof(**bs_r), store_batch_row, store_batch_clear_elem,
			       &items, count_r, "list batches", err);
	sqlite3_finalize(stmt);
	*bs_r = items;
	return rc;
}

void store_batch_list_free(struct store_batch **bsp, size_t count)
{
	if (*bsp == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		store_batch_clear(&(*bsp)[i]);
	free(*bsp);
	*bsp = NULL;
}

/* Finish an UPDATE/DELETE of one batch row: MF_ENOTFOUND when none changed. */
static int store_batch_changed(struct store *st, sqlite3_stmt *stmt, const char *what,
			       const char *name, int64_t id, struct mf_error *err)
{
	int rc = store_sql_step_done(st, stmt, what, err);

	if (rc == 0 && sqlite3_changes(st->db) == 0)
		rc = name != NULL
			 ? mf_error_set(err, MF_ENOTFOUND, "no batch named %s", name)
			 : mf_error_set(err, MF_ENOTFOUND, "no batch with id %lld", (long long)id);
	sqlite3_finalize(stmt);
	return rc;
}

int store_batch_update(struct store *st, const struct store_batch *b, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_batch_check(b, err);
	if (rc != 0)
		return rc;
	rc = store_sql_prepare(st,
			       "UPDATE batches SET status = ?, exclude_folders = ?,"
			       " include_folders = ?, bad_item_limit = ?, large_item_limit = ?,"
			       " max_message_size = ?, received_after = ?, auto_start = ?,"
			       " auto_complete = ?, sync_deletes = ?, incremental_interval = ?,"
			       " start_after = ?, complete_after = ?, last_error = ?,"
			       " started_at = ?, completed_at = ?, connections_per_user = ?,"
			       " updated_at = ? WHERE id = ?",
			       &stmt, "update a batch", err);
	if (rc != 0)
		return rc;
	store_batch_bind(stmt, 1, b);
	sqlite3_bind_int64(stmt, 18, store_now());
	sqlite3_bind_int64(stmt, 19, b->id);
	return store_batch_changed(st, stmt, "update a batch", b->name, b->id, err);
}

int store_batch_set_status(struct store *st, int64_t id, enum store_batch_status status,
			   const char *last_error, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if ((unsigned)status >= STORE_BATCH_NSTATUS)
		return mf_error_set(err, MF_EINVAL, "invalid batch status %d", (int)status);
	rc = store_sql_prepare(st,
			       "UPDATE batches SET status = ?, last_error = ?, updated_at = ?"
			       " WHERE id = ?",
			       &stmt, "update a batch", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, store_batch_status_name(status));
	store_sql_bind_text(stmt, 2, last_error);
	sqlite3_bind_int64(stmt, 3, store_now());
	sqlite3_bind_int64(stmt, 4, id);
	return store_batch_changed(st, stmt, "update a batch", NULL, id, err);
}

int store_batch_delete(struct store *st, const char *name, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	if (name == NULL)
		return mf_error_set(err, MF_EINVAL, "no batch name given");
	/* ON DELETE CASCADE removes the users and all that hangs off them. */
	rc = store_sql_prepare(st, "DELETE FROM batches WHERE name = ?", &stmt, "delete a batch",
			       err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, name);
	return store_batch_changed(st, stmt, "delete a batch", name, 0, err);
}
