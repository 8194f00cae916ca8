/* imap-driver-private.h: shared between the IMAP driver's files
 * (imap-driver.c: open, close, commands, folders; imap-driver-create.c:
 * creating folders; imap-driver-status.c: many folders' states;
 * imap-driver-names.c:
 * name translation and roles; imap-driver-root.c: UserRoot; imap-driver-msg.c: flags and dates;
 * imap-driver-fetch.c: listing and fetching messages; imap-driver-append.c:
 * appends; imap-driver-sync.c: flags, searching, expunging, renaming).
 * Not for other modules. Internal names start with imd_.
 */
#ifndef MF_IMAP_DRIVER_PRIVATE_H
#define MF_IMAP_DRIVER_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "drivers/imap-driver.h"
#include "proto/imap/imap-client.h"

/* A folder as the server listed it. */
struct imd_folder {
	char *raw;          /* owned: the server's name (modified UTF-7) */
	char *name;         /* owned: UTF-8 '/' form; NULL when outside the
			     * personal namespace */
	uint32_t flags;     /* IMAP_LIST_* */
	enum mbx_role role;
};

struct imd_append;

/* append_abort waits this long at most for the answers of the commands
 * sent before the abandoned one. */
#define IMD_DRAIN_MS 10000

struct imd {
	struct mbx mbx;                 /* first: callers see a struct mbx */
	struct imap_client *c;          /* owned */
	size_t max_in_flight;

	/* The personal namespace (NAMESPACE or guessed from LIST). */
	bool ns_done;
	char *prefix;                   /* owned: "" or e.g. "INBOX." */
	char sep;                       /* hierarchy separator, '\0' when flat */
	char **others;                  /* owned: prefixes of other namespaces */
	char *other_seps;               /* owned: their separators ('\0': NIL) */
	size_t nothers;

	/* UserRoot (imap-driver.h, "Folders under a root"). */
	char *root;                     /* owned: as given, trimmed; NULL: none */
	char *root_raw;                 /* owned: the server's name for it, once
					 * known (imd_root_resolve) */
	char root_sep;                  /* its separator, '\0' when flat */

	/* The last listing (list_folders, or on first need on a target). */
	bool listed;
	bool subs_known;                /* its IMAP_LIST_SUBSCRIBED flags are
					 * the server's word (LIST-EXTENDED or
					 * LSUB answered) */
	struct imd_folder *folders;     /* owned */
	size_t nfolders;

	/* The UIDVALIDITY each folder had in the last folder_states: a later
	 * EXAMINE that finds another fails (MF_EIO, retried), as the caller
	 * works with the state it was given. */
	struct imd_state {
		char *raw;              /* owned */
		uint32_t uidvalidity;
		uint32_t count;         /* MESSAGES */
	} *states;                      /* owned */
	size_t nstates;

	/* The folder selected (EXAMINE) last. */
	char *sel_raw;                  /* owned; NULL when none */
	uint32_t sel_exists;
	bool sel_rw;                    /* SELECTed read-write (target only) */

	/* Appends. */
	mbx_append_done_fn *done_fn;
	void *done_ctx;
	mbx_append_sealed_fn *sealed_fn; /* before a command's final CRLF */
	void *sealed_ctx;
	size_t sealed_msgs;             /* sealed, not answered */
	struct imd_append *open_ap;     /* begun, not ended; foreign */
	struct imd_pending *pending;    /* sent, not answered: list */
	struct imd_pending *batch;      /* the open MULTIAPPEND that may take
					 * the next message; foreign (in
					 * pending); NULL when none */
	bool multi;                     /* MULTIAPPEND allowed (options) */
	bool alone;                     /* set_append_alone */
	size_t multi_max;               /* messages per MULTIAPPEND */
	uint64_t multi_bytes;           /* bytes per MULTIAPPEND */
};

/* ---- imap-driver.c ---- */

/* The tagged answer of a command, copied out. */
struct imd_reply {
	bool done;
	enum imap_status status;
	char *code;                     /* owned, NULL when none */
	char *text;                     /* owned, NULL when not answered */
};
void imd_reply_free(struct imd_reply *rep);
/* A done callback (imap_done_fn) whose ctx is a struct imd_reply. */
void imd_reply_done(void *ctx, const struct imap_response *r, const struct mf_error *err);
/* MF_EIO when folder_states last saw raw with another UIDVALIDITY. */
int imd_state_check(const struct imd *m, const char *raw, uint32_t uidvalidity,
		    struct mf_error *err);
/* The message count folder_states last saw for raw; UINT32_MAX when it
 * did not look. */
uint32_t imd_state_count(const struct imd *m, const char *raw);
void imd_states_clear(struct imd *m);
/* Run cmd (ownership passes) until answered; untagged (may be NULL) gets
 * its untagged responses. Returns 0 (rep filled, whatever the status) or a
 * connection error. */
int imd_run(struct imd *m, struct imap_cmd *cmd, imap_untagged_fn *untagged, void *uctx,
	    struct imd_reply *rep, struct mf_error *err);
/* err = "what: [CODE] text"; code MF_EBAD for BAD, else no_code. */
int imd_reply_error(const struct imd_reply *rep, int no_code, const char *what,
		    struct mf_error *err);
/* EXAMINE the folder (UTF-8 name) unless it is selected already. */
int imd_examine(struct imd *m, const char *folder, bool force, struct imap_mailbox_state *st,
		struct mf_error *err);
/* List the folders (NAMESPACE first, once) into m->folders. */
int imd_list(struct imd *m, struct mf_error *err);

/* ---- imap-driver-create.c ---- */

int imd_create_folder(struct mbx *m, const char *folder, enum mbx_role role, bool subscribe,
		      struct mf_error *err);
int imd_create_folders(struct mbx *m, struct mbx_create *reqs, size_t n, struct mf_error *err);

/* ---- imap-driver-status.c ---- */

int imd_folder_states(struct mbx *m, const char *const *folders, size_t n,
		      struct mbx_folder_state *st, bool *ok, struct mf_error *err);

/* ---- imap-driver-root.c: UserRoot ---- */

/* Keep the root as given (NULL or "": none); MF_EINVAL when it is only
 * separators or not UTF-8. */
int imd_root_set(struct imd *m, const char *user_root, struct mf_error *err);
/* Find the root's server name and separator (after NAMESPACE), make
 * m->prefix / m->sep those of the root, and list the root and what is
 * below it into out. */
int imd_root_list(struct imd *m, struct imap_list_result *out, struct mf_error *err);
/* After a listing: the root itself is INBOX unless it cannot be selected
 * or root<sep>INBOX was listed. */
void imd_root_names(struct imd *m);
/* The server's name of INBOX under the root (malloc'd). */
char *imd_root_inbox(const struct imd *m);

/* ---- imap-driver-names.c ---- */

/* The server's name -> UTF-8 '/' form (malloc'd), or NULL when the name is
 * outside the personal namespace. delim is the entry's separator. */
char *imd_name_from_raw(const struct imd *m, const char *raw, char delim);
/* UTF-8 '/' form -> the server's name for it (malloc'd): the listed name
 * when there is one, else translated (imap-driver.h). MF_EINVAL for an
 * empty level or invalid UTF-8. */
int imd_name_to_raw(const struct imd *m, const char *name, char **raw_r, struct mf_error *err);
/* Roles of the listed folders (special-use, then well-known names). */
void imd_assign_roles(struct imd *m);
/* The folder with this role, or NULL. */
const struct imd_folder *imd_role_lookup(const struct imd *m, enum mbx_role role);
/* "\Sent" for MBX_ROLE_SENT ...; NULL for none and INBOX. */
const char *imd_role_attr(enum mbx_role role);
/* IMAP_LIST_SENT for MBX_ROLE_SENT ...; 0 for none and INBOX. */
uint32_t imd_role_list_flag(enum mbx_role role);
bool imd_is_inbox(const char *name);

/* ---- imap-driver-msg.c ---- */

/* Parse a FETCH response's items into info (keywords malloc'd, see
 * imd_info_clear). Sets the have_* flags of what it found. */
struct imd_items {
	bool has_uid, has_size, has_flags, has_date;
	uint32_t uid;
	const struct imap_arg *body;    /* the BODY[] value, or NULL */
};
void imd_fetch_items(const struct imap_arg *list, size_t n, struct mbx_msg_info *info,
		     struct imd_items *it);
void imd_info_clear(struct mbx_msg_info *info);
/* "17-Jul-1996 02:44:25 -0700" -> UTC time and offset in minutes. */
bool imd_date_parse(const char *s, time_t *t_r, int *tz_min_r);
/* The reverse, into out[32] (with the quotes). */
void imd_date_format(time_t t, int tz_min, char out[40]);
/* "(\Seen kw)" for APPEND; keywords that are not atoms are left out and
 * named in *warning_r (malloc'd; NULL when none). */
char *imd_flags_format(const struct mbx_msg_info *info, char **warning_r);
/* "1,5,7:9" for sorted, distinct uids. */
char *imd_uid_set(const uint32_t *uids, size_t n);

/* ---- imap-driver-fetch.c ---- */

int imd_list_messages(struct mbx *m, const char *folder, uint32_t from_uid,
		      int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
		      struct mf_error *err);
int imd_fetch(struct mbx *m, const char *folder, const uint32_t *uids, size_t n,
	      const struct mbx_sink *sink, struct mf_error *err);
int imd_peek_header(struct mbx *m, const char *folder, uint32_t uid, const char *const *fields,
		    size_t nfields, size_t max, char **out_r, size_t *len_r, struct mf_error *err);

/* Let appends in flight finish first (their untagged responses would go
 * to our commands); MF_EINVAL while an append is open. */
int imd_quiesce(struct imd *m, struct mf_error *err);

/* ---- imap-driver-sync.c: incremental sync and reconciliation ---- */

int imd_list_flags(struct mbx *m, const char *folder, uint64_t changedsince,
		   int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
		   struct mf_error *err);
int imd_find_message(struct mbx *m, const char *folder, const struct mbx_query *q,
		     int (*fn)(void *ctx, const struct mbx_ref *ref), void *ctx,
		     struct mf_error *err);
int imd_set_flags(struct mbx *m, const char *folder, const struct mbx_ref *ref, uint32_t flags,
		  char *const *keywords, size_t keyword_count, char **location_r,
		  struct mf_error *err);
int imd_expunge_msgs(struct mbx *m, const char *folder, const struct mbx_ref *refs, size_t n,
		struct mf_error *err);
int imd_rename_folder(struct mbx *m, const char *from, const char *to, struct mf_error *err);

/* ---- imap-driver-append.c ---- */

void imd_set_append_done(struct mbx *m, mbx_append_done_fn *fn, void *ctx);
int imd_append_begin(struct mbx *m, const char *folder, const struct mbx_msg_info *info,
		     uint64_t token, struct mbx_append **ap_r, struct mf_error *err);
int imd_append_data(struct mbx_append *ap, const void *data, size_t len, struct mf_error *err);
int imd_append_end(struct mbx_append *ap, struct mf_error *err);
void imd_append_abort(struct mbx_append *ap);
int imd_append_flush(struct mbx *m, struct mf_error *err);
void imd_set_append_alone(struct mbx *m, bool alone);
void imd_set_append_sealed(struct mbx *m, mbx_append_sealed_fn *fn, void *ctx);
/* Before any other command: end the open MULTIAPPEND (its final CRLF;
 * the answer comes later). MF_EINVAL while an append is open. */
int imd_append_close(struct imd *m, struct mf_error *err);
/* At close: forget the pending appends without reporting them. */
void imd_append_forget(struct imd *m);

#endif
