/* maildir-read.c: what a Maildir++ folder holds, for incremental syncs and
 * checks: message files in cur/ and new/ sorted by name get pseudo-UIDs
 * 1..n; flags and keywords come from the name (":2,<letters>"), the size
 * and INTERNALDATE from stat (st_size, st_mtime). peek_header reads a
 * file's header only (up to its empty line, at most MAILDIR_PEEK_MAX
 * bytes) and keeps the lines of the fields asked for (RFC 5322 section
 * 2.2: a line starting with a space or tab continues the field before). */
#include "drivers/maildir-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xmalloc.h"

/* "cur/" and "new/" have the same length. */
#define MAILDIR_SUB_LEN 4

void maildir_listing_clear(struct maildir_listing *l)
{
	free(l->dir);
	maildir_strv_free(l->files, l->count);
	memset(l, 0, sizeof(*l));
}

static int maildir_file_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int c = strcmp(x + MAILDIR_SUB_LEN, y + MAILDIR_SUB_LEN);

	return c != 0 ? c : strcmp(x, y);
}

static int maildir_scan_sub(const char *dir, const char *sub, char ***files, size_t *count,
			    struct mf_error *err)
{
	char *path = xasprintf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		int rc = maildir_io_error(err, errno, "opening directory", path);

		free(path);
		return rc;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		*files = xreallocarray(*files, *count + 1, sizeof(**files));
		(*files)[(*count)++] = xasprintf("%s/%s", sub, de->d_name);
	}
	if (errno != 0) {
		int rc = maildir_io_error(err, errno, "reading directory", path);

		closedir(d);
		free(path);
		return rc;
	}
	closedir(d);
	free(path);
	return 0;
}

/* Take the folder's listing out of md (rebuilt unless the cached one is
 * still current). The caller owns *l and gives it back with
 * maildir_listing_put, so that callbacks that append meanwhile cannot free
 * it under us. */
static int maildir_listing_take(struct maildir *md, const char *folder, const char *dir,
				struct maildir_listing *l, struct mf_error *err)
{
	struct stat cur, nw;
	char *p;
	int rc;

	memset(l, 0, sizeof(*l));
	p = xasprintf("%s/cur", dir);
	rc = stat(p, &cur);
	free(p);
	if (rc != 0)
		return mf_error_set(err, MF_ENOTFOUND, "folder \"%s\" does not exist", folder);
	p = xasprintf("%s/new", dir);
	rc = stat(p, &nw);
	free(p);
	if (rc != 0)
		memset(&nw, 0, sizeof(nw));
	if (md->listing.dir != NULL && strcmp(md->listing.dir, dir) == 0 &&
	    md->listing.cur_mtime.tv_sec == cur.st_mtim.tv_sec &&
	    md->listing.cur_mtime.tv_nsec == cur.st_mtim.tv_nsec &&
	    md->listing.new_mtime.tv_sec == nw.st_mtim.tv_sec &&
	    md->listing.new_mtime.tv_nsec == nw.st_mtim.tv_nsec) {
		*l = md->listing;
		memset(&md->listing, 0, sizeof(md->listing));
		return 0;
	}
	l->cur_mtime = cur.st_mtim;
	l->new_mtime = nw.st_mtim;
	rc = maildir_scan_sub(dir, "cur", &l->files, &l->count, err);
	if (rc == 0 && nw.st_mtim.tv_sec != 0)
		rc = maildir_scan_sub(dir, "new", &l->files, &l->count, err);
	if (rc != 0) {
		maildir_listing_clear(l);
		return rc;
	}
	if (l->count > 1)
		qsort(l->files, l->count, sizeof(*l->files), maildir_file_cmp);
	l->dir = xstrdup(dir);
	return 0;
}

static void maildir_listing_put(struct maildir *md, struct maildir_listing *l)
{
	if (md->listing.dir == NULL)
		md->listing = *l;
	else
		maildir_listing_clear(l);
}

/* Flags and keywords from a file name; kws must hold 26 pointers (into
 * md->kw, valid until it changes). */
static void maildir_parse_name(const struct maildir *md, const char *file,
			       struct mbx_msg_info *info, char **kws)
{
	const char *p = strstr(file, ":2,");

	info->flags = 0;
	info->keywords = kws;
	info->keyword_count = 0;
	if (p == NULL)
		return;
	for (p += 3; *p != '\0' && *p != ','; p++) {
		switch (*p) {
		case 'D':
			info->flags |= MBX_DRAFT;
			break;
		case 'F':
			info->flags |= MBX_FLAGGED;
			break;
		case 'R':
			info->flags |= MBX_ANSWERED;
			break;
		case 'S':
			info->flags |= MBX_SEEN;
			break;
		case 'T':
			info->flags |= MBX_DELETED;
			break;
		default:
			if (*p >= 'a' && *p <= 'z' && md->kw.names[*p - 'a'] != NULL &&
			    info->keyword_count < MAILDIR_KEYWORDS_MAX)
				kws[info->keyword_count++] = md->kw.names[*p - 'a'];
			break;
		}
	}
}

int maildir_folder_state(struct mbx *m, const char *folder, struct mbx_folder_state *st,
			 struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	struct maildir_listing l;
	char *dir;
	int rc;

	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc != 0)
		return rc;
	rc = maildir_listing_take(md, folder, dir, &l, err);
	free(dir);
	if (rc != 0)
		return rc;
	memset(st, 0, sizeof(*st));
	st->count = l.count > UINT32_MAX ? UINT32_MAX : (uint32_t)l.count;
	maildir_listing_put(md, &l);
	return 0;
}

/* Open the message file; if it was renamed (flags changed, moved from new/
 * to cur/), find it again by its base name. Returns an fd, or -1 when it
 * is gone. *file_r is the name found (malloc'd). */
static int maildir_open_msg(int dfd, const char *file, char **file_r)
{
	static const char *const subs[] = { "cur", "new" };
	const char *base = file + MAILDIR_SUB_LEN;
	size_t blen = strcspn(base, ":");
	int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);

	if (fd >= 0 || errno != ENOENT) {
		*file_r = xstrdup(file);
		return fd;
	}
	for (size_t i = 0; i < 2 && fd < 0; i++) {
		int sfd = openat(dfd, subs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;
		struct dirent *de;

		if (d == NULL) {
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		while (fd < 0 && (de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, base, blen) == 0 &&
			    (de->d_name[blen] == '\0' || de->d_name[blen] == ':')) {
				*file_r = xasprintf("%s/%s", subs[i], de->d_name);
				fd = openat(dfd, *file_r, O_RDONLY | O_CLOEXEC);
				if (fd < 0) {
					free(*file_r);
					*file_r = NULL;
				}
			}
		}
		closedir(d);
	}
	return fd;
}

int maildir_list_messages(struct mbx *m, const char *folder, uint32_t from_uid,
			  int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
			  struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	struct maildir_listing l;
	char *kws[MAILDIR_KEYWORDS_MAX];
	char *dir;
	int dfd, rc;

	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc != 0)
		return rc;
	rc = maildir_listing_take(md, folder, dir, &l, err);
	if (rc == 0)
		rc = maildir_kw_load(md, dir, true, err);
	if (rc != 0) {
		free(dir);
		maildir_listing_clear(&l);
		return rc;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		rc = maildir_io_error(err, errno, "opening directory", dir);
	for (size_t i = from_uid > 0 ? from_uid - 1 : 0; rc == 0 && i < l.count; i++) {
		struct mbx_msg_info info;
		struct stat st;

		if (fstatat(dfd, l.files[i], &st, 0) != 0)
			continue; /* renamed or expunged meanwhile */
		memset(&info, 0, sizeof(info));
		info.uid = (uint32_t)(i + 1);
		info.size = (uint64_t)st.st_size;
		info.internaldate = st.st_mtime;
		/* fn may have appended elsewhere, which swaps md->kw. */
		rc = maildir_kw_load(md, dir, false, err);
		if (rc != 0)
			break;
		maildir_parse_name(md, l.files[i], &info, kws);
		rc = fn(ctx, &info);
		if (rc != 0)
			mf_error_set(err, rc, "listing of \"%s\" stopped by the caller", folder);
	}
	if (dfd >= 0)
		close(dfd);
	free(dir);
	maildir_listing_put(md, &l);
	return rc;
}

/* Push one open file to the sink, buf being MAILDIR_CHUNK bytes. */
static int maildir_fetch_one(struct maildir *md, const char *dir, int fd, const char *path,
			     const char *file, uint32_t uid, char *buf,
			     const struct mbx_sink *sink, struct mf_error *err)
{
	char *kws[MAILDIR_KEYWORDS_MAX];
	struct mbx_msg_info info;
	struct stat st;
	uint64_t left;
	int rc;

	if (fstat(fd, &st) != 0)
		return maildir_io_error(err, errno, "reading", path);
	memset(&info, 0, sizeof(info));
	info.uid = uid;
	info.size = (uint64_t)st.st_size;
	info.internaldate = st.st_mtime;
	/* The sink may have appended elsewhere, which swaps md->kw. */
	rc = maildir_kw_load(md, dir, false, err);
	if (rc != 0)
		return rc;
	maildir_parse_name(md, file, &info, kws);
	rc = sink->begin(sink->ctx, &info, err);
	for (left = info.size; rc == 0 && left > 0;) {
		ssize_t n = read(fd, buf, left < MAILDIR_CHUNK ? (size_t)left : MAILDIR_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return maildir_io_error(err, errno, "reading", path);
		if (n == 0)
			return mf_error_set(err, MF_EIO, "%s shrank while being read", path);
		left -= (uint64_t)n;
		rc = sink->data(sink->ctx, buf, (size_t)n, err);
	}
	if (rc == 0)
		rc = sink->end(sink->ctx, err);
	return rc;
}

int maildir_fetch(struct mbx *m, const char *folder, const uint32_t *uids, size_t n,
		  const struct mbx_sink *sink, struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	struct maildir_listing l;
	char *dir, *buf;
	int dfd, rc;

	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc != 0)
		return rc;
	rc = maildir_listing_take(md, folder, dir, &l, err);
	if (rc == 0)
		rc = maildir_kw_load(md, dir, true, err);
	if (rc != 0) {
		free(dir);
		maildir_listing_clear(&l);
		return rc;
	}
	buf = xmalloc(MAILDIR_CHUNK);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		rc = maildir_io_error(err, errno, "opening directory", dir);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char *file = NULL, *path;
		int fd;

		if (uids[i] == 0 || uids[i] > l.count)
			continue;
		fd = maildir_open_msg(dfd, l.files[uids[i] - 1], &file);
		if (fd < 0) {
			int e = errno;

			if (file != NULL && e != ENOENT) {
				path = xasprintf("%s/%s", dir, file);
				rc = maildir_io_error(err, e, "opening", path);
				free(path);
			}
			free(file);
			continue;
		}
		path = xasprintf("%s/%s", dir, file);
		rc = maildir_fetch_one(md, dir, fd, path, file, uids[i], buf, sink, err);
		close(fd);
		free(path);
		free(file);
	}
	if (dfd >= 0)
		close(dfd);
	free(buf);
	free(dir);
	maildir_listing_put(md, &l);
	return rc;
}

/* ---- peek_header ------------------------------------------------------------------ */

/* The header of the open file: bytes up to (not including) the empty line
 * that ends it, or the first MAILDIR_PEEK_MAX bytes, or the whole file. */
static int maildir_read_header(int fd, const char *path, struct buf *h, struct mf_error *err)
{
	char chunk[8192];

	while (h->len < MAILDIR_PEEK_MAX) {
		size_t left = MAILDIR_PEEK_MAX - h->len;
		size_t want = left < sizeof(chunk) ? left : sizeof(chunk);
		size_t from = h->len > 0 ? h->len - 1 : 0;
		ssize_t n = read(fd, chunk, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return maildir_io_error(err, errno, "reading", path);
		if (n == 0)
			break;
		buf_append(h, chunk, (size_t)n);
		/* An empty line: "\n\n" or "\n\r\n" (or one at the very start). */
		for (size_t i = from; i < h->len; i++) {
			bool bol = i == 0 || h->data[i - 1] == '\n';

			if (bol && (h->data[i] == '\n' || (h->data[i] == '\r' && i + 1 < h->len &&
							   h->data[i + 1] == '\n'))) {
				h->len = i;
				h->data[i] = '\0';
				return 0;
			}
		}
	}
	return 0;
}

static bool maildir_field_wanted(const char *line, size_t len, const char *const *fields,
				 size_t nfields)
{
	const char *colon = memchr(line, ':', len);
	size_t n;

	if (colon == NULL)
		return false;
	for (n = (size_t)(colon - line); n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t');)
		n--; /* "Subject :" (obsolete syntax) */
	for (size_t i = 0; i < nfields; i++)
		if (strlen(fields[i]) == n && strncasecmp(line, fields[i], n) == 0)
			return true;
	return false;
}

int maildir_peek_header(struct mbx *m, const char *folder, uint32_t uid, const char *const *fields,
			size_t nfields, size_t max, char **out_r, size_t *len_r,
			struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	struct maildir_listing l;
	struct buf h = BUF_INIT, out = BUF_INIT;
	char *dir, *file = NULL, *path;
	bool keep = false;
	int dfd, fd, rc;

	*out_r = NULL;
	*len_r = 0;
	if (nfields == 0 || max == 0 || uid == 0)
		return mf_error_set(err, MF_EINVAL, "peek_header: nothing to ask for");
	for (size_t i = 0; i < nfields; i++)
		if (!mbx_field_name_ok(fields[i]))
			return mf_error_set(err, MF_EINVAL, "not a header field name: \"%s\"",
					    fields[i] != NULL ? fields[i] : "");
	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc != 0)
		return rc;
	rc = maildir_listing_take(md, folder, dir, &l, err);
	if (rc != 0) {
		free(dir);
		return rc;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		rc = maildir_io_error(err, errno, "opening directory", dir);
	else if (uid > l.count)
		rc = mf_error_set(err, MF_ENOTFOUND, "no message %u in \"%s\"", uid, folder);
	fd = rc == 0 ? maildir_open_msg(dfd, l.files[uid - 1], &file) : -1;
	if (rc == 0 && fd < 0) {
		int e = errno;

		path = xasprintf("%s/%s", dir, l.files[uid - 1]);
		rc = file == NULL || e == ENOENT
			 ? mf_error_set(err, MF_ENOTFOUND, "message %u of \"%s\" is gone", uid,
					folder)
			 : maildir_io_error(err, e, "opening", path);
		free(path);
	}
	if (fd >= 0) {
		path = xasprintf("%s/%s", dir, file);
		rc = maildir_read_header(fd, path, &h, err);
		free(path);
		close(fd);
	}
	/* Keep the lines of the wanted fields with their continuations. */
	for (size_t i = 0; rc == 0 && i < h.len && out.len < max;) {
		const char *line = h.data + i, *nl = memchr(line, '\n', h.len - i);
		size_t len = nl != NULL ? (size_t)(nl - line) + 1 : h.len - i;

		if (line[0] != ' ' && line[0] != '\t')
			keep = maildir_field_wanted(line, len, fields, nfields);
		if (keep)
			buf_append(&out, line, len < max - out.len ? len : max - out.len);
		i += len;
	}
	if (dfd >= 0)
		close(dfd);
	free(file);
	free(dir);
	buf_free(&h);
	maildir_listing_put(md, &l);
	if (rc != 0) {
		buf_free(&out);
		return rc;
	}
	*len_r = out.len;
	*out_r = out.data != NULL ? buf_steal(&out) : xstrdup("");
	return 0;
}
