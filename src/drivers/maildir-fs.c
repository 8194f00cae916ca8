/* maildir-fs.c: unique names and durable file operations for the maildir
 * driver (the Maildir delivery protocol, https://cr.yp.to/proto/maildir.html,
 * plus the fsyncs a crash-safe writer needs on Linux). */
#include "drivers/maildir-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xmalloc.h"

/* Process-wide, so that two stores open on one tree never collide. */
static atomic_ulong maildir_counter;

char *maildir_unique(const struct maildir *md)
{
	struct timespec ts;
	unsigned long n = atomic_fetch_add(&maildir_counter, 1) + 1;

	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%lld.M%06ldP%ldQ%lu.%s", (long long)ts.tv_sec, ts.tv_nsec / 1000,
			 (long)getpid(), n, md->host);
}

int maildir_io_error(struct mf_error *err, int errnum, const char *what, const char *path)
{
	if (errnum == ENOSPC)
		return mf_error_set(err, MF_EIO, "no space left on device while %s %s", what, path);
	if (errnum == EDQUOT)
		return mf_error_set(err, MF_EIO,
				    "no space left on device while %s %s (disk quota exceeded)",
				    what, path);
	return mf_error_set(err, MF_EIO, "%s %s: %s", what, path, strerror(errnum));
}

int maildir_fsync_dir(const char *dir, struct mf_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e;

	if (fd < 0)
		return maildir_io_error(err, errno, "opening directory", dir);
	if (fsync(fd) != 0) {
		e = errno;
		close(fd);
		return maildir_io_error(err, e, "syncing directory", dir);
	}
	close(fd);
	return 0;
}

int maildir_mkdir(const char *path, struct mf_error *err)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return maildir_io_error(err, errno, "creating directory", path);
}

int maildir_make(const char *dir, bool folder, struct mf_error *err)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	int rc = maildir_mkdir(dir, err);

	for (size_t i = 0; rc == 0 && i < 3; i++) {
		char *p = xasprintf("%s/%s", dir, subs[i]);

		rc = maildir_mkdir(p, err);
		free(p);
	}
	if (rc == 0 && folder) {
		char *p = xasprintf("%s/maildirfolder", dir);
		int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0)
			rc = maildir_io_error(err, errno, "creating", p);
		else
			close(fd);
		free(p);
	}
	if (rc == 0)
		rc = maildir_fsync_dir(dir, err);
	return rc;
}

static int maildir_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int maildir_write_atomic(const struct maildir *md, const char *tmpdir, const char *path,
			 const void *data, size_t len, struct mf_error *err)
{
	const char *base = strrchr(path, '/');
	char *unique = maildir_unique(md);
	char *tmp = xasprintf("%s/%s.%s", tmpdir, base != NULL ? base + 1 : path, unique);
	char *dir = xstrndup(path, base != NULL ? (size_t)(base - path) : 0);
	int fd, rc = 0;

	free(unique);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = maildir_io_error(err, errno, "creating", tmp);
		goto out;
	}
	if (maildir_write_all(fd, data, len) != 0)
		rc = maildir_io_error(err, errno, "writing", tmp);
	else if (fsync(fd) != 0)
		rc = maildir_io_error(err, errno, "syncing", tmp);
	if (close(fd) != 0 && rc == 0)
		rc = maildir_io_error(err, errno, "closing", tmp);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = maildir_io_error(err, errno, "renaming into place", path);
	if (rc != 0)
		unlink(tmp);
	else
		rc = maildir_fsync_dir(dir[0] != '\0' ? dir : ".", err);
out:
	free(tmp);
	free(dir);
	return rc;
}

int maildir_read_small(const char *path, size_t max, struct buf *out, struct mf_error *err)
{
	char chunk[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf_reset(out);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return maildir_io_error(err, errno, "opening", path);
	}
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return maildir_io_error(err, e, "reading", path);
		}
		if (n == 0)
			break;
		if (out->len + (size_t)n > max) {
			close(fd);
			return mf_error_set(err, MF_ELIMIT, "%s is larger than %zu bytes", path, max);
		}
		buf_append(out, chunk, (size_t)n);
	}
	close(fd);
	return 0;
}
