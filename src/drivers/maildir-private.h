/* maildir-private.h: shared between the maildir driver's files
 * (maildir.c: open, close, folders; maildir-name.c: folder names and the
 * subscriptions file; maildir-fs.c: durable file helpers;
 * maildir-keywords.c: dovecot-keywords; maildir-append.c: appends;
 * maildir-read.c: listing and fetching messages; maildir-sync.c: what
 * incremental sync and reconciliation need). Not for other modules.
 */
#ifndef MF_MAILDIR_PRIVATE_H
#define MF_MAILDIR_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "drivers/driver.h"

#define MAILDIR_KEYWORDS_MAX 26     /* letters a-z */
#define MAILDIR_CHUNK (64 * 1024)   /* fetch read size */
#define MAILDIR_PEEK_MAX (256 * 1024) /* header bytes peek_header reads */

/* One folder's dovecot-keywords, cached for the folder used last. */
struct maildir_keywords {
	char *dir;                              /* owned; NULL: nothing cached */
	char *names[MAILDIR_KEYWORDS_MAX];      /* owned; NULL = free slot */
};

/* The message files of one folder in pseudo-UID order (UID = index + 1). */
struct maildir_listing {
	char *dir;                      /* owned; NULL: nothing cached */
	char **files;                   /* owned; "cur/<name>" or "new/<name>" */
	size_t count;
	struct timespec cur_mtime, new_mtime;
};

struct maildir_append;

struct maildir {
	struct mbx mbx;                 /* first: callers see a struct mbx */
	char *root;                     /* owned, absolute or as given */
	char *host;                     /* owned; hostname made safe for names */
	mbx_append_done_fn *done_fn;
	void *done_ctx;
	struct maildir_keywords kw;
	struct maildir_listing listing;
	struct maildir_append *appends; /* open appends (foreign to callers) */
	/* Appends renamed into cur/ whose report waits for one fsync of that
	 * directory for them all (maildir_sync). */
	char *unsynced_dir;             /* owned: that cur/; NULL when none */
	struct maildir_unsynced *unsynced; /* owned */
	size_t nunsynced;
};

/* Renamed appends reported at once, after one fsync of their cur/. */
#define MAILDIR_SYNC_BATCH 64
struct maildir_unsynced {
	uint64_t token;
	char *name;    /* owned: the file's name in cur/ */
	char *warning; /* owned; NULL when none */
};

/* ---- maildir-name.c ---- */

/* UTF-8 folder name ('/'-separated) -> storage name: each level modified
 * UTF-7, then '.', '\' and a leading '~' written as "\2e", "\5c", "\7e"
 * (Dovecot's listescape plugin), levels joined with sep ('.' for directory
 * names, '\t' for the subscriptions file). "INBOX" (any case) stays
 * "INBOX". Returns 0 and a malloc'd *out, or MF_EINVAL (empty level,
 * invalid UTF-8). */
int maildir_name_encode(const char *folder, char sep, char **out, struct mf_error *err);
/* The reverse; returns 0 and a malloc'd *out, or MF_EINVAL. */
int maildir_name_decode(const char *stor, char sep, char **out, struct mf_error *err);
/* Absolute directory of a folder (ROOT for INBOX). Same returns. */
int maildir_folder_dir(const struct maildir *md, const char *folder, char **dir_r,
		       struct mf_error *err);
/* Subscribed folders (decoded UTF-8 names) from ROOT/subscriptions; a
 * missing file is an empty list. *names_r is malloc'd, each name too. */
int maildir_subs_read(const struct maildir *md, char ***names_r, size_t *count_r,
		      struct mf_error *err);
/* Add folder to ROOT/subscriptions unless there (written atomically). */
int maildir_subs_add(const struct maildir *md, const char *folder, struct mf_error *err);
void maildir_strv_free(char **v, size_t n);

/* ---- maildir-fs.c ---- */

/* A new unique base name "<sec>.M<usec>P<pid>Q<n>.<host>" (malloc'd). */
char *maildir_unique(const struct maildir *md);
/* Map a failed write/fsync/close errno to an error: MF_EIO with "no space
 * left on device while <what> <path>" for ENOSPC and EDQUOT. */
int maildir_io_error(struct mf_error *err, int errnum, const char *what, const char *path);
int maildir_fsync_dir(const char *dir, struct mf_error *err);
/* mkdir that accepts an existing directory. */
int maildir_mkdir(const char *path, struct mf_error *err);
/* Make dir a maildir: dir, cur, new, tmp (and maildirfolder when folder). */
int maildir_make(const char *dir, bool folder, struct mf_error *err);
/* Replace path with data durably: written to tmpdir, fsynced, renamed over
 * path, the directory of path fsynced. */
int maildir_write_atomic(const struct maildir *md, const char *tmpdir, const char *path,
			 const void *data, size_t len, struct mf_error *err);
/* Read a small file whole (at most max bytes). A missing file gives 0 and
 * an empty *out; out is a struct buf. */
struct buf;
int maildir_read_small(const char *path, size_t max, struct buf *out, struct mf_error *err);

/* ---- maildir-keywords.c ---- */

/* Load dir's dovecot-keywords into md->kw (kept while dir stays the same
 * unless reload). */
int maildir_kw_load(struct maildir *md, const char *dir, bool reload, struct mf_error *err);
/* Letters for keywords in dir, assigning new ones (the file rewritten
 * durably before returning). letters gets the sorted letters, NUL-ended
 * (room for 27). Keywords that cannot be stored (invalid, or no free
 * letter) are listed in *warning_r (malloc'd; NULL when none). */
int maildir_kw_letters(struct maildir *md, const char *dir, char *const *keywords, size_t n,
		       char letters[MAILDIR_KEYWORDS_MAX + 1], char **warning_r,
		       struct mf_error *err);
void maildir_kw_clear(struct maildir_keywords *kw);

/* ---- maildir-append.c ---- */

void maildir_set_append_done(struct mbx *m, mbx_append_done_fn *fn, void *ctx);
int maildir_append_begin(struct mbx *m, const char *folder, const struct mbx_msg_info *info,
			 uint64_t token, struct mbx_append **ap_r, struct mf_error *err);
int maildir_append_data(struct mbx_append *ap, const void *data, size_t len,
			struct mf_error *err);
int maildir_append_end(struct mbx_append *ap, struct mf_error *err);
void maildir_append_abort(struct mbx_append *ap);
int maildir_append_flush(struct mbx *m, struct mf_error *err);
/* Sync and report the appends waiting for their cur/ (maildir-append.c). */
int maildir_sync(struct maildir *md, struct mf_error *err);
int maildir_append_begin_named(struct mbx *m, const char *folder,
			       const struct mbx_msg_info *info, const char *name, uint64_t token,
			       struct mbx_append **ap_r, struct mf_error *err);
/* Flag letters in ASCII order, as the Maildir spec asks (out: room for 6). */
void maildir_flag_letters(uint32_t flags, char *out);

/* ---- maildir-sync.c: incremental sync and reconciliation ---- */

char *maildir_reserve_name(struct mbx *m);
int maildir_list_flags(struct mbx *m, const char *folder, uint64_t changedsince,
		       int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
		       struct mf_error *err);
int maildir_find_message(struct mbx *m, const char *folder, const struct mbx_query *q,
			 int (*fn)(void *ctx, const struct mbx_ref *ref), void *ctx,
			 struct mf_error *err);
int maildir_set_flags(struct mbx *m, const char *folder, const struct mbx_ref *ref,
		      uint32_t flags, char *const *keywords, size_t keyword_count,
		      char **location_r, struct mf_error *err);
int maildir_expunge(struct mbx *m, const char *folder, const struct mbx_ref *refs, size_t n,
		    struct mf_error *err);
int maildir_rename_folder(struct mbx *m, const char *from, const char *to,
			  struct mf_error *err);

/* ---- maildir-read.c ---- */

int maildir_folder_state(struct mbx *m, const char *folder, struct mbx_folder_state *st,
			 struct mf_error *err);
int maildir_list_messages(struct mbx *m, const char *folder, uint32_t from_uid,
			  int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
			  struct mf_error *err);
int maildir_fetch(struct mbx *m, const char *folder, const uint32_t *uids, size_t n,
		  const struct mbx_sink *sink, struct mf_error *err);
int maildir_peek_header(struct mbx *m, const char *folder, uint32_t uid,
			const char *const *fields, size_t nfields, size_t max, char **out_r,
			size_t *len_r, struct mf_error *err);
void maildir_listing_clear(struct maildir_listing *l);

#endif
