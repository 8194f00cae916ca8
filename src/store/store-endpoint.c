/* store-endpoint.c: endpoint rows. */
#include "store/store-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* Column order shared by SELECT (ENDPOINT_COLUMNS) and store_endpoint_row(). */
#define ENDPOINT_COLUMNS                                                                           \
	"id, name, type, server, port, security, auth, admin_user, admin_secret,"                  \
	" impersonation, master_separator, accept_untrusted, max_concurrent_migrations,"           \
	" max_concurrent_incremental_syncs, exchange_server, rpc_proxy_server,"                    \
	" email_address, mailbox_permission, last_test_result, last_test_json,"                    \
	" last_test_at, created_at, updated_at"

void store_endpoint_clear(struct store_endpoint *ep)
{
	free(ep->name);
	free(ep->type);
	free(ep->server);
	free(ep->security);
	free(ep->auth);
	free(ep->admin_user);
	free(ep->admin_secret);
	free(ep->impersonation);
	free(ep->master_separator);
	free(ep->exchange_server);
	free(ep->rpc_proxy_server);
	free(ep->email_address);
	free(ep->mailbox_permission);
	free(ep->last_test_result);
	free(ep->last_test_json);
	memset(ep, 0, sizeof(*ep));
}

static void store_endpoint_row(sqlite3_stmt *stmt, struct store_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->id = sqlite3_column_int64(stmt, 0);
	ep->name = store_sql_column_text(stmt, 1);
	ep->type = store_sql_column_text(stmt, 2);
	ep->server = store_sql_column_text(stmt, 3);
	ep->port = sqlite3_column_int(stmt, 4);
	ep->security = store_sql_column_text(stmt, 5);
	ep->auth = store_sql_column_text(stmt, 6);
	ep->admin_user = store_sql_column_text(stmt, 7);
	ep->admin_secret = store_sql_column_text(stmt, 8);
	ep->impersonation = store_sql_column_text(stmt, 9);
	ep->master_separator = store_sql_column_text(stmt, 10);
	ep->accept_untrusted = sqlite3_column_int(stmt, 11) != 0;
	ep->max_concurrent_migrations = sqlite3_column_int(stmt, 12);
	ep->max_concurrent_incremental_syncs = sqlite3_column_int(stmt, 13);
	ep->exchange_server = store_sql_column_text(stmt, 14);
	ep->rpc_proxy_server = store_sql_column_text(stmt, 15);
	ep->email_address = store_sql_column_text(stmt, 16);
	ep->mailbox_permission = store_sql_column_text(stmt, 17);
	ep->last_test_result = store_sql_column_text(stmt, 18);
	ep->last_test_json = store_sql_column_text(stmt, 19);
	ep->last_test_at = sqlite3_column_int64(stmt, 20);
	ep->created_at = sqlite3_column_int64(stmt, 21);
	ep->updated_at = sqlite3_column_int64(stmt, 22);
}

/* Bind the settings (everything but id, name, type, test result and
 * timestamps) to parameters first .. first + 14. */
static void store_endpoint_bind_settings(sqlite3_stmt *stmt, int first,
					 const struct store_endpoint *ep)
{
	int i = first;

	store_sql_bind_text(stmt, i++, ep->server);
	sqlite3_bind_int(stmt, i++, ep->port);
	store_sql_bind_text(stmt, i++, ep->security);
	store_sql_bind_text(stmt, i++, ep->auth);
	store_sql_bind_text(stmt, i++, ep->admin_user);
	store_sql_bind_text(stmt, i++, ep->admin_secret);
	store_sql_bind_text(stmt, i++, ep->impersonation);
	store_sql_bind_text(stmt, i++, ep->master_separator);
	sqlite3_bind_int(stmt, i++, ep->accept_untrusted ? 1 : 0);
	sqlite3_bind_int(stmt, i++, ep->max_concurrent_migrations);
	sqlite3_bind_int(stmt, i++, ep->max_concurrent_incremental_syncs);
	store_sql_bind_text(stmt, i++, ep->exchange_server);
	store_sql_bind_text(stmt, i++, ep->rpc_proxy_server);
	store_sql_bind_text(stmt, i++, ep->email_address);
	store_sql_bind_text(stmt, i++, ep->mailbox_permission);
}

int store_endpoint_insert(struct store *st, struct store_endpoint *ep, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int64_t created, updated;
	int rc;

	if (ep->name == NULL || ep->name[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "an endpoint needs a name");
	created = ep->created_at != 0 ? ep->created_at : store_now();
	updated = ep->updated_at != 0 ? ep->updated_at : created;
	rc = store_sql_prepare(st,
			       "INSERT INTO endpoints (name, type, server, port, security, auth,"
			       " admin_user, admin_secret, impersonation, master_separator,"
			       " accept_untrusted, max_concurrent_migrations,"
			       " max_concurrent_incremental_syncs, exchange_server,"
			       " rpc_proxy_server, email_address, mailbox_permission,"
			       " last_test_result, last_test_json, last_test_at,"
			       " created_at, updated_at)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
			       " ?, ?, ?)"
			       " RETURNING id",
			       &stmt, "add an endpoint", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, ep->name);
	store_sql_bind_text(stmt, 2, ep->type);
	store_endpoint_bind_settings(stmt, 3, ep);
	store_sql_bind_text(stmt, 18, ep->last_test_result);
	store_sql_bind_text(stmt, 19, ep->last_test_json);
	sqlite3_bind_int64(stmt, 20, ep->last_test_at);
	sqlite3_bind_int64(stmt, 21, created);
	sqlite3_bind_int64(stmt, 22, updated);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		ep->id = sqlite3_column_int64(stmt, 0);
		ep->created_at = created;
		ep->updated_at = updated;
		/* Finish the statement so the row is written (autocommit). */
		rc = sqlite3_step(stmt);
	}
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (rc == SQLITE_CONSTRAINT_UNIQUE)
		rc = mf_error_set(err, MF_EEXIST, "an endpoint named %s already exists", ep->name);
	else
		rc = store_sql_fail(st, rc, "add an endpoint", err);
	sqlite3_finalize(stmt);
	return rc;
}

int store_endpoint_update(struct store *st, const struct store_endpoint *ep, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_prepare(st,
			       "UPDATE endpoints SET server = ?, port = ?, security = ?, auth = ?,"
			       " admin_user = ?, admin_secret = ?, impersonation = ?,"
			       " master_separator = ?, accept_untrusted = ?,"
			       " max_concurrent_migrations = ?,"
			       " max_concurrent_incremental_syncs = ?, exchange_server = ?,"
			       " rpc_proxy_server = ?, email_address = ?, mailbox_permission = ?,"
			       " updated_at = ?"
			       " WHERE id = ?",
			       &stmt, "update an endpoint", err);
	if (rc != 0)
		return rc;
	store_endpoint_bind_settings(stmt, 1, ep);
	sqlite3_bind_int64(stmt, 16, store_now());
	sqlite3_bind_int64(stmt, 17, ep->id);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		rc = store_sql_fail(st, rc, "update an endpoint", err);
	else if (sqlite3_changes(st->db) == 0)
		rc = ep->name != NULL
			 ? mf_error_set(err, MF_ENOTFOUND, "no endpoint named %s", ep->name)
			 : mf_error_set(err, MF_ENOTFOUND, "no endpoint with id %lld",
					(long long)ep->id);
	else
		rc = 0;
	sqlite3_finalize(stmt);
	return rc;
}

int store_endpoint_get(struct store *st, const char *name, struct store_endpoint *ep,
		       struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	memset(ep, 0, sizeof(*ep));
	if (name == NULL)
		return mf_error_set(err, MF_EINVAL, "no endpoint name given");
	rc = store_sql_prepare(st, "SELECT " ENDPOINT_COLUMNS " FROM endpoints WHERE name = ?",
			       &stmt, "read an endpoint", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, name);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_endpoint_row(stmt, ep);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = mf_error_set(err, MF_ENOTFOUND, "no endpoint named %s", name);
	} else {
		rc = store_sql_fail(st, rc, "read an endpoint", err);
	}
	sqlite3_finalize(stmt);
	return rc;
}

int store_endpoint_list(struct store *st, struct store_endpoint **eps_r, size_t *count_r,
			struct mf_error *err)
{
	struct store_endpoint *eps = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *stmt;
	int rc;

	*eps_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st, "SELECT " ENDPOINT_COLUMNS " FROM endpoints ORDER BY name",
			       &stmt, "list endpoints", err);
	if (rc != 0)
		return rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			eps = xreallocarray(eps, cap, sizeof(*eps));
		}
		store_endpoint_row(stmt, &eps[n++]);
	}
	if (rc != SQLITE_DONE) {
		rc = store_sql_fail(st, rc, "list endpoints", err);
		sqlite3_finalize(stmt);
		store_endpoint_list_free(&eps, n);
		return rc;
	}
	sqlite3_finalize(stmt);
	*eps_r = eps;
	*count_r = n;
	return 0;
}

void store_endpoint_list_free(struct store_endpoint **epsp, size_t count)
{
	if (*epsp == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		store_endpoint_clear(&(*epsp)[i]);
	free(*epsp);
	*epsp = NULL;
}

int store_endpoint_set_test(struct store *st, int64_t id, const char *result, const char *json,
			    int64_t at, struct mf_error *err)
{
	sqlite3_stmt *stmt;
	int rc;

	rc = store_sql_prepare(st,
			       "UPDATE endpoints SET last_test_result = ?, last_test_json = ?,"
			       " last_test_at = ? WHERE id = ?",
			       &stmt, "record a connection test", err);
	if (rc != 0)
		return rc;
	store_sql_bind_text(stmt, 1, result);
	store_sql_bind_text(stmt, 2, json);
	sqlite3_bind_int64(stmt, 3, at);
	sqlite3_bind_int64(stmt, 4, id);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		rc = store_sql_fail(st, rc, "record a connection test", err);
	else if (sqlite3_changes(st->db) == 0)
		rc = mf_error_set(err, MF_ENOTFOUND, "no endpoint with id %lld", (long long)id);
	else
		rc = 0;
	sqlite3_finalize(stmt);
	return rc;
}

/* The names of the batches using endpoint id, comma-separated, or NULL. */
static int store_endpoint_users(struct store *st, int64_t id, char **names_r, size_t *count_r,
				struct mf_error *err)
{
	sqlite3_stmt *stmt;
	char *names = NULL, *next;
	size_t n = 0;
	int rc;

	*names_r = NULL;
	*count_r = 0;
	rc = store_sql_prepare(st,
			       "SELECT name FROM batches"
			       " WHERE source_endpoint_id = ? OR target_endpoint_id = ?"
			       " ORDER BY name",
			       &stmt, "delete an endpoint", err);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, id);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);

		next = names == NULL ? xstrdup(name) : xasprintf("%s, %s", names, name);
		free(names);
		names = next;
		n++;
	}
	if (rc != SQLITE_DONE) {
		rc = store_sql_fail(st, rc, "delete an endpoint", err);
		free(names);
	} else {
		rc = 0;
		*names_r = names;
		*count_r = n;
	}
	sqlite3_finalize(stmt);
	return rc;
}

int store_endpoint_delete(struct store *st, const char *name, struct mf_error *err)
{
	sqlite3_stmt *stmt = NULL;
	char *users = NULL;
	size_t nusers;
	int64_t id;
	int rc;

	if (name == NULL)
		return mf_error_set(err, MF_EINVAL, "no endpoint name given");
	rc = store_sql_begin(st, err);
	if (rc != 0)
		return rc;
	rc = store_sql_endpoint_id(st, name, &id, err);
	if (rc == 0)
		rc = store_endpoint_users(st, id, &users, &nusers, err);
	if (rc == 0 && nusers > 0)
		rc = mf_error_set(err, MF_EBUSY, "endpoint %s is used by %s %s", name,
				  nusers == 1 ? "batch" : "batches", users);
	if (rc == 0)
		rc = store_sql_prepare(st, "DELETE FROM endpoints WHERE id = ?", &stmt,
				       "delete an endpoint", err);
	if (rc == 0) {
		sqlite3_bind_int64(stmt, 1, id);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			rc = 0;
		else if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) /* a later table refers to it */
			rc = mf_error_set(err, MF_EBUSY, "endpoint %s is in use", name);
		else
			rc = store_sql_fail(st, rc, "delete an endpoint", err);
		sqlite3_finalize(stmt);
	}
	free(users);
	if (rc != 0) {
		store_sql_rollback(st);
		return rc;
	}
	return store_sql_commit(st, err);
}
