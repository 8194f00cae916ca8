/* store-private.h: what the files of src/store share. Not for other layers.
 *
 * Helpers return 0 or a negative MF_E* code with err set, like the public
 * API. A statement prepared here is finalized by the caller.
 */
#ifndef MF_STORE_PRIVATE_H
#define MF_STORE_PRIVATE_H

#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"
#include "store/store-batch.h"
#include "util/mf-error.h"

#define STORE_KEY_BYTES 32
#define STORE_BUSY_TIMEOUT_MS 5000

/* Statements prepared once per handle (the hot paths) and kept until
 * store_close(). Each id belongs to exactly one call site and its SQL. */
enum store_stmt {
	STORE_STMT_USER_INSERT,
	STORE_STMT_USER_STATS,
	STORE_STMT_FOLDER_PUT,
	STORE_STMT_MSGMAP_LOOKUP,
	STORE_STMT_MSGMAP_INTENT,
	STORE_STMT_MSGMAP_CONFIRM,
	STORE_STMT_MSGMAP_FLAGS,
	STORE_STMT_MSGMAP_FORGET,
	STORE_STMT_SKIPPED_ADD,
	STORE_STMT_EVENT_ADD,
	STORE_STMT_MSGMAP_REKEY,
	STORE_STMT_MSGMAP_TARGET,
	STORE_STMT_MSGMAP_USED,
	STORE_STMT_COUNT
};

struct store {
	sqlite3 *db;	    /* owned */
	char *data_dir;	    /* owned */
	char *db_path;	    /* owned */
	char *key_file;	    /* owned */
	unsigned char *key; /* owned, sodium_malloc'd, read-only pages */
	int version;	    /* schema version after migrations */
	int txn_depth;	    /* open store_sql_begin() levels; > 1 are savepoints */
	sqlite3_stmt *stmts[STORE_STMT_COUNT]; /* owned, prepared on first use */
};

/* ---- store.c: SQL helpers ---------------------------------------------- */

/* Map an SQLite result code to MF_EIO with a message "cannot <what>: ...".
 * SQLite's messages name tables and columns, never bound values. */
int store_sql_fail(struct store *st, int rc, const char *what, struct mf_error *err);
int store_sql_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt_r, const char *what,
		      struct mf_error *err);
/* Bind a string, or NULL when s is NULL. The string must outlive the step. */
int store_sql_bind_text(sqlite3_stmt *stmt, int idx, const char *s);
/* A malloc'd copy of a TEXT column, or NULL when the column is NULL. */
char *store_sql_column_text(sqlite3_stmt *stmt, int col);
/* Bind v, or NULL when v is 0 (optional times and ids: 0 means unset, and
 * a NULL column reads back as 0). */
int store_sql_bind_opt64(sqlite3_stmt *stmt, int idx, int64_t v);
/* The cached statement for id, preparing it with sql on first use. Hand it
 * back with store_sql_release() (never finalize it). */
int store_sql_cached(struct store *st, enum store_stmt id, const char *sql, sqlite3_stmt **stmt_r,
		     const char *what, struct mf_error *err);
/* Reset a statement and clear its bindings, ending its read. */
void store_sql_release(sqlite3_stmt *stmt);
/* Step a statement that returns no rows: 0 on SQLITE_DONE, else
 * store_sql_fail(). */
int store_sql_step_done(struct store *st, sqlite3_stmt *stmt, const char *what,
			struct mf_error *err);
/* Read one row of stmt into elem (zeroed first). Returns 0 or MF_E*. */
typedef int (*store_row_fn)(struct store *st, sqlite3_stmt *stmt, void *elem,
			    struct mf_error *err);
/* Step stmt to the end, reading each row with row into a malloc'd array of
 * elem_size elements. On failure the rows read so far are released with
 * clear and nothing is returned. The caller finalizes or releases stmt. */
int store_sql_collect(struct store *st, sqlite3_stmt *stmt, size_t elem_size, store_row_fn row,
		      void (*clear)(void *elem), void **items_r, size_t *count_r, const char *what,
		      struct mf_error *err);
/* Run static SQL (no values) with sqlite3_exec. */
int store_sql_exec(struct store *st, const char *sql, const char *what, struct mf_error *err);
/* Write transactions take the write lock at BEGIN (IMMEDIATE), so that the
 * busy timeout applies instead of a deadlock error on lock upgrade. They
 * nest: inside an open transaction (store_begin() by the engine) begin makes
 * a savepoint, commit releases it and rollback undoes only its own work. */
int store_sql_begin(struct store *st, struct mf_error *err);
int store_sql_commit(struct store *st, struct mf_error *err);
void store_sql_rollback(struct store *st);
/* Look up an endpoint id by exact name. MF_ENOTFOUND "no endpoint named X". */
int store_sql_endpoint_id(struct store *st, const char *name, int64_t *id_r, struct mf_error *err);
/* Wall-clock unix seconds. */
int64_t store_now(void);
/* Create dir and its missing parents with mode 0700. what names it in the
 * message ("data directory", "key file directory"). */
int store_mkdir_p(const char *dir, const char *what, struct mf_error *err);

/* ---- store-schema.c ----------------------------------------------------- */

/* Highest schema version this binary knows. */
int store_schema_latest(void);
/* Bring the schema up to date; refuse a database newer than this binary.
 * Sets st->version. */
int store_schema_migrate(struct store *st, struct mf_error *err);

/* ---- secret.c ------------------------------------------------------------ */

/* Create the key file (and its directory) on first use or load it, checking
 * its mode. *key_r is sodium_malloc'd; release with store_secret_key_free(). */
int store_secret_key_load(const char *key_file, unsigned char **key_r, struct mf_error *err);
void store_secret_key_free(unsigned char **keyp);

#endif
