/* store-batch.h: batches, migration users, folder state, the message map,
 * skipped items and events (schema version 2; version 3 adds indexes for
 * incremental sync and the functions of its section below).
 *
 * Conventions, as in store.h: every function returns 0 or a negative MF_E*
 * code with err set; records own their strings (malloc'd, NULL when unset)
 * and are released with the matching _clear / _list_free; input structs
 * are only read. Times are unix seconds and 0 means "unset" (stored as
 * NULL). Ids are the rows' INTEGER PRIMARY KEYs.
 *
 * Deleting a batch deletes its users and, through them, their folder
 * state, message map, skipped items and events. Whether a batch may be
 * deleted (not while Syncing, say) is the engine's decision, not ours.
 */
#ifndef MF_STORE_BATCH_H
#define MF_STORE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/mf-error.h"

/* ---- batches ------------------------------------------------------------ */

/* Exchange's names (store_batch_status_name()) are what the database
 * holds. The last four belong to incremental sync and completion. */
enum store_batch_status {
	STORE_BATCH_CREATED,
	STORE_BATCH_SYNCING,
	STORE_BATCH_SYNCED,
	STORE_BATCH_SYNCED_WITH_ERRORS,
	STORE_BATCH_STOPPING,
	STORE_BATCH_STOPPED,
	STORE_BATCH_FAILED,
	STORE_BATCH_REMOVING,
	STORE_BATCH_INCREMENTAL_SYNCING,
	STORE_BATCH_COMPLETING,
	STORE_BATCH_COMPLETED,
	STORE_BATCH_COMPLETED_WITH_ERRORS,
	STORE_BATCH_NSTATUS
};

/* "Created", "SyncedWithErrors", ...; "?" for a value out of range. */
const char *store_batch_status_name(enum store_batch_status s);
/* Parse a name, case-insensitively. 0, or MF_EINVAL (err not touched). */
int store_batch_status_parse(const char *name, enum store_batch_status *s_r);

#define STORE_LIMIT_UNLIMITED (-1)		   /* bad / large item limits */
#define STORE_DEFAULT_INCREMENTAL_INTERVAL 86400 /* seconds */

struct store_batch_options {
	char *exclude_folders;	      /* JSON array of strings (the engine's
				       * format; not parsed here), NULL = none */
	char *include_folders;	      /* same; NULL = every folder */
	int64_t bad_item_limit;	      /* >= 0, or STORE_LIMIT_UNLIMITED */
	int64_t large_item_limit;     /* >= 0, or STORE_LIMIT_UNLIMITED */
	int64_t max_message_size;     /* bytes, 0 = no limit */
	int64_t received_after;	      /* only mail received after; 0 = all */
	bool auto_start;
	bool auto_complete;
	bool sync_deletes;
	int64_t incremental_interval; /* seconds; 0 on create = the default */
	int64_t start_after;	      /* 0 = none */
	int64_t complete_after;	      /* 0 = none */
	int64_t connections_per_user; /* 1..16 per side; 0 = the engine's
				       * default */
};

struct store_batch {
	int64_t id;
	char *name;
	char *source_endpoint; /* endpoint name */
	char *target_endpoint; /* endpoint name; NULL = the local store */
	enum store_batch_status status;
	struct store_batch_options opt;
	char *last_error;
	int64_t created_at;
	int64_t started_at;
	int64_t completed_at;
	int64_t updated_at;
};

void store_batch_clear(struct store_batch *b); /* free members, zero */

/* Insert b (name, endpoints, status, opt, last_error and the times; a zero
 * created_at becomes now). Sets b->id, b->created_at, b->updated_at and a
 * defaulted opt.incremental_interval. MF_ENOTFOUND for an unknown endpoint,
 * MF_EEXIST when the name is taken, MF_EINVAL for bad options. */
int store_batch_create(struct store *st, struct store_batch *b, struct mf_error *err);
/* store_batch_insert() (in store.h) is this with default options. */
/* Load by exact name or by id. MF_ENOTFOUND when there is none. */
int store_batch_get(struct store *st, const char *name, struct store_batch *b,
		    struct mf_error *err);
int store_batch_get_id(struct store *st, int64_t id, struct store_batch *b,
		       struct mf_error *err);
/* All batches ordered by name; free with store_batch_list_free(). */
int store_batch_list(struct store *st, struct store_batch **bs_r, size_t *count_r,
		     struct mf_error *err);
void store_batch_list_free(struct store_batch **bsp, size_t count);
/* Write status, opt, last_error, started_at and completed_at of the batch
 * b->id (name and endpoints never change). MF_ENOTFOUND when it is gone. */
int store_batch_update(struct store *st, const struct store_batch *b, struct mf_error *err);
/* Set the status and last_error (NULL clears it). MF_ENOTFOUND. */
int store_batch_set_status(struct store *st, int64_t id, enum store_batch_status status,
			   const char *last_error, struct mf_error *err);
/* store_batch_delete() (in store.h) deletes a batch by name with its
 * users, folder state, message map, skipped items and events. */

/* ---- migration users ------------------------------------------------------ */

enum store_user_status {
	STORE_USER_QUEUED,
	STORE_USER_SYNCING,
	STORE_USER_SYNCED,
	STORE_USER_FAILED,
	STORE_USER_STOPPED,
	STORE_USER_INCREMENTAL_SYNCING,
	STORE_USER_INCREMENTAL_FAILED,
	STORE_USER_COMPLETING,
	STORE_USER_COMPLETED,
	STORE_USER_COMPLETION_FAILED,
	STORE_USER_NSTATUS
};

const char *store_user_status_name(enum store_user_status s);
int store_user_status_parse(const char *name, enum store_user_status *s_r);

/* A user to add. Pointers are borrowed for the call. Empty strings count as
 * unset (reach the mailbox by the endpoint's admin impersonation). The
 * passwords are plaintext here and sealed before they are stored. */
struct store_user_new {
	const char *email_address; /* required */
	const char *user_name;
	const char *password;
	const char *user_root;
	const char *target_user_name;
	const char *target_password;
};

/* Progress and scheduling, written as a whole by store_user_update_stats(). */
struct store_user_stats {
	int64_t total_items; /* TotalItemsInSourceMailboxCount */
	int64_t synced_items;
	int64_t skipped_items;
	int64_t bytes_transferred;
	int64_t total_bytes;
	int64_t transient_errors;
	int64_t started_at;
	int64_t ended_at;
	int64_t last_sync_at;
	char *last_error;
	char *current_folder;
	int64_t next_attempt_at; /* not claimed before this time (backoff) */
	int attempts;		 /* failed attempts since the last success */
};

struct store_user {
	int64_t id;
	int64_t batch_id;
	char *batch_name;
	char *email_address;
	char *user_name;
	char *password_sealed; /* open with store_secret_open() */
	char *user_root;
	char *target_user_name;
	char *target_password_sealed;
	enum store_user_status status;
	struct store_user_stats stats;
	int64_t created_at;
	int64_t updated_at;
};

void store_user_clear(struct store_user *u);

/* Add n users to batch_id, Queued, all or nothing (one transaction, so a
 * CSV import never half-happens). Addresses compare case-insensitively
 * (ASCII) and a mailbox may be in only one batch: MF_EEXIST names the
 * address and the batch that has it. MF_ENOTFOUND for an unknown batch,
 * MF_EINVAL for an empty address. */
int store_user_add_many(struct store *st, int64_t batch_id, const struct store_user_new *users,
			size_t n, struct mf_error *err);
/* Load by address (case-insensitive) or id. MF_ENOTFOUND. */
int store_user_get(struct store *st, const char *email_address, struct store_user *u,
		   struct mf_error *err);
int store_user_get_id(struct store *st, int64_t id, struct store_user *u, struct mf_error *err);
/* The users of batch_id (0: of every batch), ordered by batch name and
 * address. Free with store_user_list_free(). */
int store_user_list(struct store *st, int64_t batch_id, struct store_user **us_r, size_t *count_r,
		    struct mf_error *err);
void store_user_list_free(struct store_user **usp, size_t count);
/* Set the status and last_error (NULL clears it). MF_ENOTFOUND. */
int store_user_set_status(struct store *st, int64_t id, enum store_user_status status,
			  const char *last_error, struct mf_error *err);
/* Write every field of *s. MF_ENOTFOUND. Statement cached: cheap enough
 * to call after each folder or every few seconds. */
int store_user_update_stats(struct store *st, int64_t id, const struct store_user_stats *s,
			    struct mf_error *err);
/* Atomically move the next user of batch_id in status from whose
 * next_attempt_at <= now (oldest first, then by id) to status to, and load
 * it into *u. MF_ENOTFOUND when none is due. Two handles never claim the
 * same user. */
int store_user_claim(struct store *st, int64_t batch_id, enum store_user_status from,
		     enum store_user_status to, int64_t now, struct store_user *u,
		     struct mf_error *err);
/* counts[s] = number of users of batch_id in status s. */
int store_batch_user_counts(struct store *st, int64_t batch_id,
			    int64_t counts[STORE_USER_NSTATUS], struct mf_error *err);

/* ---- folder state ------------------------------------------------------------ */

struct store_folder {
	int64_t id;
	int64_t user_id;
	char *source_name; /* UTF-8; unique per user */
	char *target_name; /* UTF-8; NULL until known */
	int64_t uidvalidity;
	int64_t uidnext;
	int64_t highestmodseq; /* 0 without CONDSTORE */
	int64_t last_uid;      /* highest source UID copied */
	int64_t message_count;
	int64_t updated_at;
};

void store_folder_clear(struct store_folder *f);
/* Load the state of (user_id, source_name). MF_ENOTFOUND. */
int store_folder_get(struct store *st, int64_t user_id, const char *source_name,
		     struct store_folder *f, struct mf_error *err);
/* Insert or replace the state of (f->user_id, f->source_name); sets f->id
 * (stable across puts) and f->updated_at. MF_EINVAL without a name. */
int store_folder_put(struct store *st, struct store_folder *f, struct mf_error *err);
/* The folders of user_id ordered by source name. */
int store_folder_list(struct store *st, int64_t user_id, struct store_folder **fs_r,
		      size_t *count_r, struct mf_error *err);
void store_folder_list_free(struct store_folder **fsp, size_t count);

/* ---- message map ------------------------------------------------------------------ */

/* Each source message is keyed by (folder_id, uidvalidity, uid); the folder
 * row names the user. An intent is written before the append and confirmed
 * (done) after it; intents left by a crash are reconciled at start. Every
 * function here uses a cached statement: call them inside store_begin() /
 * store_commit() batches for microsecond writes. */
enum store_msgmap_state {
	STORE_MSGMAP_INTENT,
	STORE_MSGMAP_DONE,
};

#define STORE_SHA256_HEX 65 /* 64 hex digits and a NUL */

struct store_msgmap {
	int64_t folder_id;
	int64_t uidvalidity; /* source */
	int64_t uid;	     /* source */
	enum store_msgmap_state state;
	int64_t target_uidvalidity; /* 0 = unknown (no UIDPLUS) */
	int64_t target_uid;	    /* 0 = unknown */
	char *location;		    /* e.g. the Maildir file name; NULL */
	int64_t size;
	char sha256[STORE_SHA256_HEX]; /* lower-case hex, "" = unknown */
	char *flags;		       /* flags and keywords, space-separated */
	int64_t created_at;
};

void store_msgmap_clear(struct store_msgmap *m);
/* Is the key mapped? 0 and, when m is not NULL, the row in *m; MF_ENOTFOUND
 * when it is not. */
int store_msgmap_lookup(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
			struct store_msgmap *m, struct mf_error *err);
/* Record the intent to append m (state ignored; target fields, location,
 * size, sha256 and flags as known). Replaces an earlier intent for the same
 * key; MF_EEXIST when the key is already done. MF_EINVAL for a malformed
 * sha256 (must be "" or 64 hex digits). */
int store_msgmap_put_intent(struct store *st, const struct store_msgmap *m, struct mf_error *err);
/* Mark m done, writing its target fields, location, size, sha256 and flags;
 * those left unset (0, NULL, "") keep what the intent recorded. Without an
 * intent the row is created done (a message found on the target by
 * reconciliation). MF_EINVAL for a malformed sha256. */
int store_msgmap_confirm(struct store *st, const struct store_msgmap *m, struct mf_error *err);
/* Replace the flags of a mapped message (incremental flag sync). MF_ENOTFOUND. */
int store_msgmap_set_flags(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
			   const char *flags, struct mf_error *err);
/* Remove a key (an intent found not to have landed). MF_ENOTFOUND. */
int store_msgmap_forget(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
			struct mf_error *err);
/* The unconfirmed intents of user_id, by folder then UID. */
int store_msgmap_list_intents(struct store *st, int64_t user_id, struct store_msgmap **ms_r,
			      size_t *count_r, struct mf_error *err);
/* The done rows of (folder_id, uidvalidity) by UID (for flag comparison). */
int store_msgmap_list_done(struct store *st, int64_t folder_id, int64_t uidvalidity,
			   struct store_msgmap **ms_r, size_t *count_r, struct mf_error *err);
void store_msgmap_list_free(struct store_msgmap **msp, size_t count);
/* Number of done rows of folder_id with uidvalidity (0: any). */
int store_msgmap_count_done(struct store *st, int64_t folder_id, int64_t uidvalidity,
			    int64_t *count_r, struct mf_error *err);

/* ---- schema 3: incremental sync, reconciliation, recovery ------------------------ */

/* Load a folder state by id. MF_ENOTFOUND. */
int store_folder_get_id(struct store *st, int64_t id, struct store_folder *f,
			struct mf_error *err);
/* A folder renamed at the source: give the state id its new source and
 * target names (its message map stays). MF_ENOTFOUND; MF_EEXIST when the
 * user has a state for source_name already. */
int store_folder_rename(struct store *st, int64_t id, const char *source_name,
			const char *target_name, struct mf_error *err);
/* Move a mapped message to a new key (a UIDVALIDITY change or a rename at
 * the source), keeping where it landed. MF_ENOTFOUND when the old key is
 * not mapped, MF_EEXIST when the new one is. Cached statement. */
int store_msgmap_rekey(struct store *st, int64_t folder_id, int64_t uidvalidity, int64_t uid,
		       int64_t new_folder_id, int64_t new_uidvalidity, int64_t new_uid,
		       struct mf_error *err);
/* Set the flags (NULL: unknown) and, when location is not NULL, the
 * location of a mapped message (after the target changed its flags).
 * MF_ENOTFOUND. Cached statement. */
int store_msgmap_set_target(struct store *st, int64_t folder_id, int64_t uidvalidity,
			    int64_t uid, const char *flags, const char *location,
			    struct mf_error *err);
/* Whether a done row of folder_id already claims a target message: the
 * same target_uid (when > 0), or the same location (when not NULL;
 * compared by the part before the first ',' or ':', the maildir unique
 * name). Cached statement. */
int store_msgmap_target_used(struct store *st, int64_t folder_id, int64_t target_uid,
			     const char *location, bool *used_r, struct mf_error *err);
/* The earliest next_attempt_at of batch_id's users in status, and how many
 * there are; *at_r 0 and *count_r 0 when none. */
int store_user_next_due(struct store *st, int64_t batch_id, enum store_user_status status,
			int64_t *at_r, int64_t *count_r, struct mf_error *err);
/* Move every user of batch_id in status from to status to, with
 * next_attempt_at (and, when reset_attempts, attempts 0); *moved_r (may be
 * NULL) counts them. One statement. */
int store_user_move_all(struct store *st, int64_t batch_id, enum store_user_status from,
			enum store_user_status to, int64_t next_attempt_at, bool reset_attempts,
			int64_t *moved_r, struct mf_error *err);

/* ---- skipped items -------------------------------------------------------------------- */

enum store_skip_kind {
	STORE_SKIP_BAD,	  /* counts against BadItemLimit */
	STORE_SKIP_LARGE, /* counts against LargeItemLimit */
};

struct store_skipped {
	int64_t id;
	int64_t user_id;
	char *folder; /* source folder name */
	int64_t uid;
	int64_t date; /* the message's date, 0 = unknown */
	char *subject;
	int64_t size;
	char *reason;
	enum store_skip_kind kind;
	int64_t created_at;
};

void store_skipped_clear(struct store_skipped *s);
/* Record s (id and created_at are set). MF_EINVAL without folder or reason. */
int store_skipped_add(struct store *st, struct store_skipped *s, struct mf_error *err);
/* The skipped items of user_id in the order recorded. */
int store_skipped_list(struct store *st, int64_t user_id, struct store_skipped **ss_r,
		       size_t *count_r, struct mf_error *err);
void store_skipped_list_free(struct store_skipped **ssp, size_t count);
/* How many items of kind user_id has skipped. */
int store_skipped_count(struct store *st, int64_t user_id, enum store_skip_kind kind,
			int64_t *count_r, struct mf_error *err);

/* ---- events -------------------------------------------------------------------------------- */

enum store_event_level {
	STORE_EVENT_INFO,
	STORE_EVENT_WARNING,
	STORE_EVENT_ERROR,
};

const char *store_event_level_name(enum store_event_level l); /* "info", ... */

struct store_event {
	int64_t id;
	int64_t at;
	int64_t batch_id;    /* 0 = none */
	int64_t user_id;     /* 0 = none */
	char *email_address; /* the user's, NULL without a user */
	enum store_event_level level;
	char *message;
};

void store_event_clear(struct store_event *e);
/* Record an event now. batch_id and user_id may be 0. MF_EINVAL without a
 * message. */
int store_event_add(struct store *st, int64_t batch_id, int64_t user_id,
		    enum store_event_level level, const char *message, struct mf_error *err);
/* The events of user_id, or when it is 0 of batch_id (its own and its
 * users'), oldest first; with limit > 0 only the latest limit of them. */
int store_event_list(struct store *st, int64_t batch_id, int64_t user_id, size_t limit,
		     struct store_event **es_r, size_t *count_r, struct mf_error *err);
void store_event_list_free(struct store_event **esp, size_t count);

#endif
