/* maildir-append.c: delivering one message into a Maildir++ folder.
 *
 * tmp/<unique> is written as the bytes arrive (size and CRLF size counted on
 * the way), given INTERNALDATE as its mtime, fsynced, renamed to
 * cur/<unique>,S=<size>,W=<crlf size>:2,<flags><keyword letters>, and cur/ is
 * fsynced: once done() reports rc 0 the message survives a crash. One
 * fsync of cur/ serves up to MAILDIR_SYNC_BATCH renames: their reports wait
 * for it (until the batch is full, another folder is written, a flush or
 * the close). A process that dies meanwhile leaves the files in cur/, where
 * settling by name finds them.
 */
#include "drivers/maildir-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/xmalloc.h"

struct maildir_append {
	struct maildir *md;                     /* foreign */
	struct maildir_append *prev, *next;     /* in md->appends */
	uint64_t token;
	char *dir;                              /* owned: the folder's directory */
	char *base;                             /* owned: unique base name */
	char *tmp_path;                         /* owned */
	char *warning;                          /* owned; NULL when none */
	char suffix[8 + MAILDIR_KEYWORDS_MAX];  /* flags and keyword letters */
	int fd;                                 /* -1 once closed */
	uint64_t expect, written, vsize;
	bool last_cr;
	time_t internaldate;
	int rc;                                 /* sticky failure */
	struct mf_error failure;
};

static struct maildir_append *maildir_ap(struct mbx_append *ap)
{
	return (struct maildir_append *)ap;
}

void maildir_set_append_done(struct mbx *m, mbx_append_done_fn *fn, void *ctx)
{
	struct maildir *md = (struct maildir *)m;

	md->done_fn = fn;
	md->done_ctx = ctx;
}

void maildir_flag_letters(uint32_t flags, char *out)
{
	size_t n = 0;

	if (flags & MBX_DRAFT)
		out[n++] = 'D';
	if (flags & MBX_FLAGGED)
		out[n++] = 'F';
	if (flags & MBX_ANSWERED)
		out[n++] = 'R';
	if (flags & MBX_SEEN)
		out[n++] = 'S';
	if (flags & MBX_DELETED)
		out[n++] = 'T';
	out[n] = '\0';
}

static void maildir_ap_free(struct maildir_append *ap)
{
	struct maildir *md = ap->md;

	if (ap->fd >= 0)
		close(ap->fd);
	if (ap->tmp_path != NULL)
		unlink(ap->tmp_path);
	if (ap->prev != NULL)
		ap->prev->next = ap->next;
	else
		md->appends = ap->next;
	if (ap->next != NULL)
		ap->next->prev = ap->prev;
	free(ap->dir);
	free(ap->base);
	free(ap->tmp_path);
	free(ap->warning);
	free(ap);
}

/* Record a failure: the partial file goes at once; later calls see rc. */
static int maildir_ap_fail(struct maildir_append *ap, struct mf_error *err)
{
	ap->rc = err != NULL && err->code != 0 ? err->code : MF_EIO;
	if (err != NULL)
		ap->failure = *err;
	else
		mf_error_set(&ap->failure, ap->rc, "append failed");
	if (ap->fd >= 0) {
		close(ap->fd);
		ap->fd = -1;
	}
	unlink(ap->tmp_path);
	return ap->rc;
}

/* A reserved name must be one plain directory entry without the parts
 * that follow it (",S=", ":2,"). */
static bool maildir_name_ok(const char *name)
{
	return name[0] != '\0' && name[0] != '.' && strpbrk(name, "/:,") == NULL;
}

/* append_begin, under name when it is not NULL (reserve_name). */
static int maildir_append_open(struct mbx *m, const char *folder, const struct mbx_msg_info *info,
			       const char *name, uint64_t token, struct mbx_append **ap_r,
			       struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	struct maildir_append *ap;
	char letters[MAILDIR_KEYWORDS_MAX + 1];
	char *dir, *cur, *warning = NULL;
	struct stat st;
	int rc;

	*ap_r = NULL;
	if (name != NULL && !maildir_name_ok(name))
		return mf_error_set(err, MF_EINVAL, "\"%s\" cannot name a message file", name);
	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc != 0)
		return rc;
	cur = xasprintf("%s/cur", dir);
	rc = stat(cur, &st);
	free(cur);
	if (rc != 0) {
		free(dir);
		return mf_error_set(err, MF_ENOTFOUND, "folder \"%s\" does not exist", folder);
	}
	rc = maildir_kw_letters(md, dir, info->keywords, info->keyword_count, letters,
				&warning, err);
	if (rc != 0) {
		free(dir);
		return rc;
	}
	ap = xcalloc(1, sizeof(*ap));
	ap->md = md;
	ap->token = token;
	ap->dir = dir;
	ap->warning = warning;
	ap->expect = info->size;
	ap->internaldate = info->internaldate != 0 ? info->internaldate : time(NULL);
	maildir_flag_letters(info->flags, ap->suffix);
	memcpy(ap->suffix + strlen(ap->suffix), letters, strlen(letters) + 1);
	ap->fd = -1;
	ap->next = md->appends;
	if (md->appends != NULL)
		md->appends->prev = ap;
	md->appends = ap;
	for (int tries = 0; ap->fd < 0; tries++) {
		free(ap->base);
		free(ap->tmp_path);
		ap->base = name != NULL ? xstrdup(name) : maildir_unique(md);
		ap->tmp_path = xasprintf("%s/tmp/%s", dir, ap->base);
		ap->fd = open(ap->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (ap->fd < 0 && (errno != EEXIST || tries >= 5 || name != NULL)) {
			int e = errno;

			if (e == EEXIST)
				rc = mf_error_set(err, MF_EEXIST, "%s exists already", ap->tmp_path);
			else
				rc = maildir_io_error(err, e, "creating", ap->tmp_path);
			free(ap->tmp_path);
			ap->tmp_path = NULL;    /* not ours: do not unlink */
			maildir_ap_free(ap);
			return rc;
		}
	}
	*ap_r = (struct mbx_append *)ap;
	return 0;
}

int maildir_append_begin(struct mbx *m, const char *folder, const struct mbx_msg_info *info,
			 uint64_t token, struct mbx_append **ap_r, struct mf_error *err)
{
	return maildir_append_open(m, folder, info, NULL, token, ap_r, err);
}

int maildir_append_begin_named(struct mbx *m, const char *folder,
			       const struct mbx_msg_info *info, const char *name, uint64_t token,
			       struct mbx_append **ap_r, struct mf_error *err)
{
	return maildir_append_open(m, folder, info, name, token, ap_r, err);
}

/* Bytes the message has with every bare LF counted as CRLF. */
static uint64_t maildir_crlf_extra(struct maildir_append *ap, const char *p, size_t len)
{
	uint64_t extra = 0;
	const char *end = p + len, *s = p;

	while (s < end) {
		const char *lf = memchr(s, '\n', (size_t)(end - s));
		bool cr;

		if (lf == NULL)
			break;
		cr = lf > p ? lf[-1] == '\r' : ap->last_cr;
		if (!cr)
			extra++;
		s = lf + 1;
	}
	ap->last_cr = p[len - 1] == '\r';
	return extra;
}

int maildir_append_data(struct mbx_append *a, const void *data, size_t len,
			struct mf_error *err)
{
	struct maildir_append *ap = maildir_ap(a);
	const char *p = data;

	if (ap->rc != 0) {
		if (err != NULL)
			*err = ap->failure;
		return ap->rc;
	}
	if (len == 0)
		return 0;
	if (len > ap->expect - ap->written) {
		mf_error_set(err, MF_EPROTO,
			     "message is larger than its announced size of %llu bytes",
			     (unsigned long long)ap->expect);
		return maildir_ap_fail(ap, err);
	}
	ap->vsize += len + maildir_crlf_extra(ap, p, len);
	ap->written += len;
	while (len > 0) {
		ssize_t n = write(ap->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			maildir_io_error(err, errno, "writing", ap->tmp_path);
			return maildir_ap_fail(ap, err);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int maildir_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL || errno == ENOSYS)
		return rename(from, to);
	return -1;
}

/* Put the file, fsynced, into cur/ (the directory's fsync is maildir_sync's);
 * returns 0 with *name_r (malloc'd). */
static int maildir_ap_commit(struct maildir_append *ap, char **name_r, struct mf_error *err)
{
	struct timespec times[2] = { { ap->internaldate, 0 }, { ap->internaldate, 0 } };
	char *name, *path;
	int fd = ap->fd, rc = 0;

	ap->fd = -1;
	if (futimens(fd, times) != 0)
		rc = maildir_io_error(err, errno, "setting the date of", ap->tmp_path);
	else if (fsync(fd) != 0)
		rc = maildir_io_error(err, errno, "syncing", ap->tmp_path);
	if (close(fd) != 0 && rc == 0)
		rc = maildir_io_error(err, errno, "closing", ap->tmp_path);
	if (rc != 0)
		return rc;
	name = xasprintf("%s,S=%llu,W=%llu:2,%s", ap->base, (unsigned long long)ap->written,
			 (unsigned long long)ap->vsize, ap->suffix);
	path = xasprintf("%s/cur/%s", ap->dir, name);
	if (maildir_rename_noreplace(ap->tmp_path, path) != 0) {
		rc = maildir_io_error(err, errno, "renaming into place", path);
		free(name);
	} else {
		free(ap->tmp_path);
		ap->tmp_path = NULL;
		*name_r = name;
	}
	free(path);
	return rc;
}

/* fsync the cur/ the unsynced appends went to, then report them: rc 0, or
 * each one's failure (its file taken back rather than risk a duplicate: it
 * is not durable, and the caller copies it again). */
int maildir_sync(struct maildir *md, struct mf_error *err)
{
	struct mf_error e = { 0, "" };
	int rc;

	if (md->nunsynced == 0)
		return 0;
	rc = maildir_fsync_dir(md->unsynced_dir, &e);
	for (size_t i = 0; i < md->nunsynced; i++) {
		struct maildir_unsynced *u = &md->unsynced[i];

		if (rc != 0) {
			char *path = xasprintf("%s/%s", md->unsynced_dir, u->name);

			unlink(path);
			free(path);
		}
		if (md->done_fn != NULL) {
			struct mbx_appended out = { 0, 0, u->name, u->warning };

			md->done_fn(md->done_ctx, u->token, rc, rc == 0 ? &out : NULL,
				    rc == 0 ? NULL : &e);
		}
		free(u->name);
		free(u->warning);
	}
	md->nunsynced = 0;
	free(md->unsynced_dir);
	md->unsynced_dir = NULL;
	if (rc != 0 && err != NULL)
		*err = e;
	return rc;
}

/* A renamed append, reported with the others of its cur/ at the next sync. */
static int maildir_unsynced_add(struct maildir_append *ap, char *name, struct mf_error *err)
{
	struct maildir *md = ap->md;
	char *cur = xasprintf("%s/cur", ap->dir);
	struct maildir_unsynced *u;
	int rc = 0;

	if (md->unsynced_dir != NULL && strcmp(md->unsynced_dir, cur) != 0)
		rc = maildir_sync(md, err);
	if (md->unsynced_dir == NULL)
		md->unsynced_dir = cur;
	else
		free(cur);
	if (md->unsynced == NULL)
		md->unsynced = xcalloc(MAILDIR_SYNC_BATCH, sizeof(*md->unsynced));
	u = &md->unsynced[md->nunsynced++];
	u->token = ap->token;
	u->name = name;
	u->warning = ap->warning != NULL ? xstrdup(ap->warning) : NULL;
	if (md->nunsynced == MAILDIR_SYNC_BATCH) {
		int src = maildir_sync(md, err);

		if (rc == 0)
			rc = src;
	}
	return rc;
}

int maildir_append_end(struct mbx_append *a, struct mf_error *err)
{
	struct maildir_append *ap = maildir_ap(a);
	struct maildir *md = ap->md;
	struct mf_error local = { 0, "" };
	char *name = NULL;
	int rc = ap->rc;

	if (rc != 0) {
		local = ap->failure;
	} else if (ap->written != ap->expect) {
		rc = mf_error_set(&local, MF_EPROTO,
				  "message ended after %llu bytes, short of its announced "
				  "size of %llu bytes",
				  (unsigned long long)ap->written, (unsigned long long)ap->expect);
	} else {
		rc = maildir_ap_commit(ap, &name, &local);
	}
	if (md->listing.dir != NULL && strcmp(md->listing.dir, ap->dir) == 0)
		maildir_listing_clear(&md->listing);
	if (rc == 0) {
		/* Reported once cur/ is synced; a failure of that sync (this
		 * one's or earlier ones') was reported with them. */
		(void)maildir_unsynced_add(ap, name, &local);
		name = NULL;
	} else if (md->done_fn != NULL) {
		md->done_fn(md->done_ctx, ap->token, rc, NULL, &local);
	}
	if (rc != 0 && err != NULL)
		*err = local;
	free(name);
	maildir_ap_free(ap);
	return rc;
}

void maildir_append_abort(struct mbx_append *a)
{
	if (a != NULL)
		maildir_ap_free(maildir_ap(a));
}

int maildir_append_flush(struct mbx *m, struct mf_error *err)
{
	return maildir_sync((struct maildir *)m, err);
}
