/* store.h: the state store. The only code that speaks SQL.
 *
 * SQLite in WAL mode with a busy timeout, in the data directory, with a
 * versioned schema (schema_version table; migrations applied in order on
 * open). SQL is kept portable (no SQLite-only syntax beyond what PostgreSQL
 * also accepts, except the PRAGMAs in store.c) so a second backend is an
 * addition.
 *
 * Secrets are sealed with libsodium (crypto_secretbox, a random nonce per
 * value) under a 32-byte key kept in a key file created with mode 0600 on
 * first use. Sealed values are stored as text "v1:" + base64(nonce||box).
 * Plaintext passwords exist only in memory and are wiped after use.
 *
 * Every function returns 0 or a negative MF_E* code with err set. Problems
 * with the data directory, database or key file (including a key file with
 * group/other permissions, a database locked past the 5 s busy timeout, or
 * a schema newer than this binary) are MF_EIO.
 *
 * A struct store is used by one thread at a time; threads and processes
 * open their own handles on the same data directory (WAL lets them read
 * while one writes; writers wait up to 5 s for each other).
 */
#ifndef MF_STORE_H
#define MF_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mf-error.h"

struct store;

/* The data directory: explicit, else $MAILFERRY_DATA_DIR, else
 * $XDG_DATA_HOME/mailferry, else ~/.local/share/mailferry, and for root
 * /var/lib/mailferry. Returns a malloc'd path. */
char *store_default_data_dir(const char *explicit_dir);
/* The key file: $MAILFERRY_KEY_FILE, else <data_dir>/secret.key. malloc'd. */
char *store_default_key_file(const char *data_dir);

/* Open (creating the directory with mode 0700, the database and the key
 * file as needed) and migrate the schema. data_dir and key_file may be NULL
 * for the defaults above. */
int store_open(const char *data_dir, const char *key_file, struct store **st_r,
	       struct mf_error *err);
void store_close(struct store **stp);

/* Current schema version (after migrations). */
int store_schema_version(struct store *st);

/* ---- secrets ------------------------------------------------------------ */

/* Seal a NUL-terminated plaintext into a malloc'd "v1:..." string. */
int store_secret_seal(struct store *st, const char *plain, char **sealed_r,
		      struct mf_error *err);
/* Open a sealed string into a malloc'd plaintext; free it with
 * mf_secret_free(). MF_EINVAL when it does not open (wrong key, damaged). */
int store_secret_open(struct store *st, const char *sealed, char **plain_r,
		      struct mf_error *err);

/* ---- endpoints ---------------------------------------------------------- */

/* Every string is owned by the record (malloc'd) and may be NULL when unset.
 * admin_secret holds the sealed password, never the plaintext. */
struct store_endpoint {
	int64_t id;
	char *name;
	char *type;                  /* "imap", "exchange-remote", "outlook-anywhere" */
	char *server;
	int port;                    /* 0 = unset */
	char *security;              /* "none", "starttls", "tls" */
	char *auth;                  /* "plain", "login" (IMAP); "basic", "ntlm" (Exchange) */
	char *admin_user;
	char *admin_secret;          /* sealed */
	char *impersonation;         /* "sasl", "master-user" */
	char *master_separator;      /* e.g. "*" */
	bool accept_untrusted;
	int max_concurrent_migrations;
	int max_concurrent_incremental_syncs;
	char *exchange_server;
	char *rpc_proxy_server;
	char *email_address;
	char *mailbox_permission;    /* "admin", "full-access" */
	char *last_test_result;      /* "Success", "Failed", NULL = never tested */
	char *last_test_json;        /* the full result document */
	int64_t last_test_at;        /* unix time, 0 = never */
	int64_t created_at;
	int64_t updated_at;
};

void store_endpoint_clear(struct store_endpoint *ep); /* free members, zero */

/* Insert ep (ep->id is set). MF_EEXIST when the name is taken. */
int store_endpoint_insert(struct store *st, struct store_endpoint *ep, struct mf_error *err);
/* Replace the settings of the endpoint with ep->id (the name and type are
 * not changed). MF_ENOTFOUND when it is gone. */
int store_endpoint_update(struct store *st, const struct store_endpoint *ep, struct mf_error *err);
/* Load by name (exact match). MF_ENOTFOUND when there is none. */
int store_endpoint_get(struct store *st, const char *name, struct store_endpoint *ep,
		       struct mf_error *err);
/* All endpoints ordered by name; free with store_endpoint_list_free(). */
int store_endpoint_list(struct store *st, struct store_endpoint **eps_r, size_t *count_r,
			struct mf_error *err);
void store_endpoint_list_free(struct store_endpoint **epsp, size_t count);
/* Record a connection test result. */
int store_endpoint_set_test(struct store *st, int64_t id, const char *result,
			    const char *json, int64_t at, struct mf_error *err);
/* Delete by name. MF_EBUSY (naming the batch in err) while a batch uses it;
 * MF_ENOTFOUND when there is none. */
int store_endpoint_delete(struct store *st, const char *name, struct mf_error *err);

/* ---- transactions ------------------------------------------------------ */

/* Group writes into one transaction (the engine's hot path: one per N
 * message-map rows). Functions of the store that need their own
 * transaction run inside it as a savepoint, so their failure undoes only
 * their own work. Every store_begin() is paired with store_commit() or
 * store_rollback(); a failed commit has rolled back. */
int store_begin(struct store *st, struct mf_error *err);
int store_commit(struct store *st, struct mf_error *err);
void store_rollback(struct store *st);
/* End a transaction by how its work went: commit when rc is 0 (returning
 * the commit's result), else roll back and return rc. */
int store_end(struct store *st, int rc, struct mf_error *err);

/* ---- batches ------------------------------------------------------------- */

/* The full batch API, with migration users, folder state, the message map,
 * skipped items and events, is in store/store-batch.h. These two stay here
 * for callers that only need a batch row to exist. */

/* Create a batch with default options using source (and optional target,
 * NULL for the local store) endpoint names. Returns the id in *id_r.
 * MF_ENOTFOUND for an unknown endpoint, MF_EEXIST when the name is taken. */
int store_batch_insert(struct store *st, const char *name, const char *source_endpoint,
		       const char *target_endpoint, int64_t *id_r, struct mf_error *err);
/* Delete a batch by name with everything that belongs to it. MF_ENOTFOUND
 * when there is none. */
int store_batch_delete(struct store *st, const char *name, struct mf_error *err);

#endif
