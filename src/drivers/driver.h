/* driver.h: the mailbox driver interface, the central seam of the copy
 * pipeline. Both sides of a migration are drivers: "imap" (any IMAP server,
 * source or target) and "maildir" (the local Dovecot-compatible store,
 * target). The engine only sees this table.
 *
 * Folder names crossing this interface are UTF-8 with '/' as the hierarchy
 * separator ("Archive/2024/Entwürfe"); each driver translates to its native
 * form (modified UTF-7 and the server's separator; Maildir++ ".A.B").
 *
 * Message bytes never sit whole in memory: a source pushes each message's
 * bytes in chunks to a sink (struct mbx_sink), and a target's append takes
 * the bytes in chunks between append_begin and append_end.
 *
 * Return values: 0, or a negative MF_E* code with err set. The code tells how
 * far a failure reaches:
 *   MF_ENO / MF_ELIMIT on append_end: this message only (skip it);
 *   MF_ERETRY in an append's report: not stored, as the command it shared
 *     with other messages was refused as a whole (IMAP MULTIAPPEND is
 *     atomic): append it again alone (set_append_alone) to learn whether
 *     the target takes it;
 *   MF_ECLOSED / MF_ETIMEOUT / MF_EIO: the connection or store (retry);
 *   MF_EAUTH: the user (fail at once).
 */
#ifndef MF_DRIVER_H
#define MF_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/mf-error.h"

/* System flags. */
enum mbx_flag {
	MBX_SEEN = 1u << 0,
	MBX_ANSWERED = 1u << 1,
	MBX_FLAGGED = 1u << 2,
	MBX_DELETED = 1u << 3,
	MBX_DRAFT = 1u << 4,
};

/* Special-use roles (RFC 6154). */
enum mbx_role {
	MBX_ROLE_NONE = 0,
	MBX_ROLE_INBOX,
	MBX_ROLE_SENT,
	MBX_ROLE_DRAFTS,
	MBX_ROLE_TRASH,
	MBX_ROLE_JUNK,
	MBX_ROLE_ARCHIVE,
	MBX_ROLE_ALL,
	MBX_ROLE_FLAGGED,
};

struct mbx_folder {
	char *name;          /* UTF-8, '/'-separated; "INBOX" for the inbox */
	enum mbx_role role;
	bool subscribed;
	bool noselect;       /* a container only: no messages */
};

struct mbx_folder_list {
	struct mbx_folder *folders;
	size_t count;
};
void mbx_folder_list_free(struct mbx_folder_list *l);

struct mbx_folder_state {
	uint32_t uidvalidity;
	uint32_t uidnext;       /* 0 when unknown */
	uint32_t count;
	uint64_t highestmodseq; /* 0 when none */
};

struct mbx_msg_info {
	uint32_t uid;
	uint64_t size;          /* RFC822.SIZE */
	uint32_t flags;         /* enum mbx_flag */
	char **keywords;        /* owned by whoever filled it */
	size_t keyword_count;
	time_t internaldate;    /* UTC instant */
	int tz_offset_min;      /* offset the server showed, for APPEND */
};

/* Where a message's bytes go. begin is called once per message with its
 * info (size exact), then data zero or more times, then end. A negative
 * return from any of them aborts the fetch with that code. */
struct mbx_sink {
	int (*begin)(void *ctx, const struct mbx_msg_info *info, struct mf_error *err);
	int (*data)(void *ctx, const void *data, size_t len, struct mf_error *err);
	int (*end)(void *ctx, struct mf_error *err);
	void *ctx;
};

/* Where an appended message landed. */
struct mbx_appended {
	uint32_t uidvalidity;   /* 0 when the target did not say (no UIDPLUS) */
	uint32_t uid;
	char *location;         /* maildir: file name; may be NULL */
	char *warning;          /* stored, but not all of it (e.g. maildir:
				 * keywords beyond the folder's 26 letters);
				 * one line for the user's report; NULL when none */
};

/* What to look for on a target (find_message). */
struct mbx_query {
	uint64_t size;          /* the message's exact size in bytes */
	const char *sha256;     /* 64 lower-case hex digits of its bytes' SHA-256;
				 * NULL: any content of that size */
	const char *message_id; /* its Message-ID ("<a@b>"), narrowing an IMAP
				 * search; NULL when unknown or none */
	const char *name;       /* the name reserved for its append
				 * (reserve_name); NULL when none */
};

/* Where a message is on a target. */
struct mbx_ref {
	uint32_t uidvalidity;   /* IMAP; 0 when unknown */
	uint32_t uid;           /* IMAP: its UID; 0 when unknown */
	const char *location;   /* maildir: its file name (the part before
				 * ':' identifies it); NULL for IMAP */
};

/* One folder of create_folders: the arguments of create_folder, and its
 * outcome. */
struct mbx_create {
	const char *folder;     /* foreign; lives for the call */
	enum mbx_role role;
	bool subscribe;
	int rc;                 /* out: what create_folder would return */
	struct mf_error err;    /* out: set when rc != 0 */
};

struct mbx;                 /* an open mailbox (one user's account) */
struct mbx_append;          /* one message being appended */

/* Outcome of one append: rc 0 and *out on success; MF_ENO / MF_ELIMIT when
 * the target refused this message (err has the server's words); MF_ERETRY
 * when it was not stored because its whole batch was refused (append it
 * again alone); other codes when the connection or store failed. out and
 * err are valid during the call only. */
typedef void mbx_append_done_fn(void *ctx, uint64_t token, int rc,
				const struct mbx_appended *out, const struct mf_error *err);

/* The appends tokens[0..n) are about to be handed over for good: once the
 * bytes that follow this call are out (IMAP: the CRLF that ends their
 * APPEND command), the target may store them even if this process dies at
 * once, and before this call it cannot (the command is incomplete). The
 * caller makes that durable before it returns; a non-zero return keeps
 * the bytes back and gives the connection up (the appends are then
 * reported failed). tokens is valid during the call only. */
typedef int mbx_append_sealed_fn(void *ctx, const uint64_t *tokens, size_t n,
				 struct mf_error *err);

struct mailbox_driver {
	const char *name;
	/* All folders, INBOX first, parents before children. */
	int (*list_folders)(struct mbx *m, struct mbx_folder_list *out, struct mf_error *err);
	int (*folder_state)(struct mbx *m, const char *folder, struct mbx_folder_state *st,
			    struct mf_error *err);
	/* Optional (NULL: folder_state for each): the states of
	 * folders[0..n) at once (IMAP: STATUS pipelined). ok[i] tells
	 * whether st[i] was learned; a folder that was not (refused, gone,
	 * a bad name) is for folder_state, which says why. The state is the
	 * one folder_state would give at that moment. Returns 0, or the
	 * failure of the connection (every ok[i] false). */
	int (*folder_states)(struct mbx *m, const char *const *folders, size_t n,
			     struct mbx_folder_state *st, bool *ok, struct mf_error *err);
	/* Call fn for each message with UID >= from_uid (info valid during the
	 * call only). */
	int (*list_messages)(struct mbx *m, const char *folder, uint32_t from_uid,
			     int (*fn)(void *ctx, const struct mbx_msg_info *info),
			     void *ctx, struct mf_error *err);
	/* Push the messages with these UIDs to sink, pipelined; order follows
	 * the server's answers. A UID that vanished is skipped silently. */
	int (*fetch)(struct mbx *m, const char *folder, const uint32_t *uids, size_t n,
		     const struct mbx_sink *sink, struct mf_error *err);
	/* Create a folder (and its parents) unless it exists; subscribe when
	 * asked. role is a hint for special-use targets. */
	int (*create_folder)(struct mbx *m, const char *folder, enum mbx_role role,
			     bool subscribe, struct mf_error *err);
	/* Optional (NULL: create_folder for each, in order): create_folder
	 * for reqs[0..n) at once (IMAP: the commands pipelined), each
	 * request getting in rc and err the outcome create_folder would give
	 * it, as if they were created one after the other in that order;
	 * unlike create_folder, one that fails does not keep the later ones
	 * from being created. Returns 0 when every request has its outcome,
	 * else the failure of the connection or store (outcomes unknown). */
	int (*create_folders)(struct mbx *m, struct mbx_create *reqs, size_t n,
			      struct mf_error *err);
	/* The target's own folder for a role (e.g. "Sent Items"), or NULL. */
	const char *(*role_folder)(struct mbx *m, enum mbx_role role);
	/* Appending is pipelined: append_begin .. append_data* .. append_end
	 * hand one message to the driver, which reports its outcome later
	 * through the done callback set with set_append_done (the maildir
	 * driver once one fsync of the folder's cur/ covers it: when its
	 * batch is full, another folder is written, on append_flush or
	 * close; the IMAP driver when the server's tagged answer arrives;
	 * either may be during a later call).
	 * append_flush waits until every message handed over has been
	 * reported. A message is durable (file fsynced, server said OK) when
	 * reported with rc 0. token is the caller's, passed back unchanged.
	 * info->size bytes must follow through append_data. */
	void (*set_append_done)(struct mbx *m, mbx_append_done_fn *fn, void *ctx);
	int (*append_begin)(struct mbx *m, const char *folder, const struct mbx_msg_info *info,
			    uint64_t token, struct mbx_append **ap_r, struct mf_error *err);
	int (*append_data)(struct mbx_append *ap, const void *data, size_t len,
			   struct mf_error *err);
	int (*append_end)(struct mbx_append *ap, struct mf_error *err);
	/* Abandon an append begun but not ended (a partial file is removed;
	 * an IMAP connection is closed, as a literal cannot be cut short). */
	void (*append_abort)(struct mbx_append *ap);
	int (*append_flush)(struct mbx *m, struct mf_error *err);
	void (*close)(struct mbx **mp);
	/* While alone is true, every message goes in a command of its own
	 * (from the next append_begin on), so that a refusal names it alone.
	 * NULL for a driver that never batches (and never reports
	 * MF_ERETRY). */
	void (*set_append_alone)(struct mbx *m, bool alone);
	/* The sealed callback (mbx_append_sealed_fn). NULL for a driver whose
	 * appends are settled by name (maildir: reserve_name). */
	void (*set_append_sealed)(struct mbx *m, mbx_append_sealed_fn *fn, void *ctx);

	/* ---- incremental sync and reconciliation ----
	 * Optional: a driver that lacks one leaves it NULL, and the engine
	 * does without (engine.h says how). */

	/* Source: call fn for each message of folder with its UID, flags and
	 * keywords (size and date 0; info valid during the call only): all of
	 * them when changedsince is 0, else only those whose flags changed
	 * after that modification sequence (CONDSTORE; MF_EUNSUPPORTED when
	 * the server has none). fn returning non-zero stops the listing with
	 * that code. */
	int (*list_flags)(struct mbx *m, const char *folder, uint64_t changedsince,
			  int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
			  struct mf_error *err);
	/* Target: a name for a message not appended yet (maildir: the unique
	 * base name of its file), malloc'd, so that an intent can record it
	 * before the first byte is written; append_begin_named then appends
	 * under that name. NULL members when the target names messages
	 * itself (IMAP). */
	char *(*reserve_name)(struct mbx *m);
	int (*append_begin_named)(struct mbx *m, const char *folder,
				  const struct mbx_msg_info *info, const char *name, uint64_t token,
				  struct mbx_append **ap_r, struct mf_error *err);
	/* Target: call fn for each message of folder that matches q (ref valid
	 * during the call only; fn returning non-zero stops the search, which
	 * then returns 0). With q->name, the message appended under that name
	 * (in cur/ or new/); a partial file of that name left in tmp/ is
	 * removed. Otherwise messages of exactly q->size bytes (and, with
	 * q->message_id, that Message-ID), and with q->sha256 only those whose
	 * bytes have that SHA-256 (each candidate is read, streamed). A folder
	 * that does not exist holds nothing: 0. */
	int (*find_message)(struct mbx *m, const char *folder, const struct mbx_query *q,
			    int (*fn)(void *ctx, const struct mbx_ref *ref), void *ctx,
			    struct mf_error *err);
	/* Target: set the flags and keywords of the message at ref to exactly
	 * these (IMAP: UID STORE FLAGS.SILENT; maildir: the file renamed).
	 * *location_r (may be NULL) gets the message's new location when it
	 * changed (malloc'd), else NULL. MF_ENOTFOUND when it is gone. */
	int (*set_flags)(struct mbx *m, const char *folder, const struct mbx_ref *ref,
			 uint32_t flags, char *const *keywords, size_t keyword_count,
			 char **location_r, struct mf_error *err);
	/* Target: remove these messages for good (IMAP: \Deleted and UID
	 * EXPUNGE, MF_EUNSUPPORTED without UIDPLUS; maildir: the files
	 * unlinked). Messages already gone are no error. */
	int (*expunge)(struct mbx *m, const char *folder, const struct mbx_ref *refs, size_t n,
		       struct mf_error *err);
	/* Target: rename a folder with its subfolders. MF_ENOTFOUND when from
	 * does not exist, MF_EEXIST when to does. */
	int (*rename_folder)(struct mbx *m, const char *from, const char *to,
			     struct mf_error *err);

	/* ---- header peeking ----
	 * Optional (NULL: the engine does without). */

	/* Source: the header lines of message uid of folder whose field names
	 * are among fields (nfields names such as "Subject", matched without
	 * regard to ASCII case; letters, digits and '-' only), as stored:
	 * continuation lines kept, each line with its CRLF or LF; at most max
	 * bytes of them (cut there). Only the header is read, never the body
	 * (IMAP: UID FETCH uid (BODY.PEEK[HEADER.FIELDS (...)]<0.max>);
	 * maildir: at most the file's first MAILDIR_PEEK_MAX bytes). *out_r
	 * gets them, malloc'd and NUL-ended, *len_r bytes ("" when the
	 * message has none of these fields). MF_ENOTFOUND when the message
	 * is gone, MF_EINVAL for a bad field name; other codes as fetch.
	 * On IMAP, appends in flight are waited for first. */
	int (*peek_header)(struct mbx *m, const char *folder, uint32_t uid,
			   const char *const *fields, size_t nfields, size_t max, char **out_r,
			   size_t *len_r, struct mf_error *err);
};

struct mbx {
	const struct mailbox_driver *drv;
};

/* Whether name can be asked of peek_header: 1 to 76 letters, digits and
 * '-' (every registered header field name is). */
bool mbx_field_name_ok(const char *name);

#endif
