/* maildir-sync.c: what incremental sync and reconciliation need from the
 * local store (driver.h, "incremental sync and reconciliation"): reserved
 * names, finding a message, changing flags, expunging, renaming folders.
 *
 * A message file is identified by its unique base name, the part of its
 * name before the first ',' (",S=", ",W=") or ':' (":2,flags"); only the
 * part after ':' ever changes. Every change is made durable: renames and
 * unlinks are followed by an fsync of the directories involved.
 */
#include "drivers/maildir-private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util/buf.h"
#include "util/xmalloc.h"

char *maildir_reserve_name(struct mbx *m)
{
	return maildir_unique((struct maildir *)m);
}

int maildir_list_flags(struct mbx *m, const char *folder, uint64_t changedsince,
		       int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
		       struct mf_error *err)
{
	if (changedsince > 0)
		return mf_error_set(err, MF_EUNSUPPORTED, "a maildir keeps no modification sequences");
	return maildir_list_messages(m, folder, 1, fn, ctx, err);
}

/* ---- names ---------------------------------------------------------------- */

/* Length of the unique part of a file name. */
static size_t maildir_base_len(const char *name)
{
	return strcspn(name, ",:");
}

/* Whether name is the file of the unique base (of length blen). */
static bool maildir_is_base(const char *name, const char *base, size_t blen)
{
	return strncmp(name, base, blen) == 0 &&
	       (name[blen] == '\0' || name[blen] == ',' || name[blen] == ':');
}

/* The size a file name records (",S=<n>"), or -1. */
static int64_t maildir_name_size(const char *name)
{
	const char *p = strstr(name, ",S=");
	int64_t v = 0;

	if (p == NULL || strchr(name, ':') < p)
		return -1;
	for (p += 3; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	return v;
}

/* Find the file of a base name in cur/ or new/: 0 and *sub_r ("cur" or
 * "new") and *name_r (malloc'd); MF_ENOTFOUND when there is none. */
static int maildir_locate(const char *dir, const char *location, const char **sub_r,
			  char **name_r, struct mf_error *err)
{
	static const char *const subs[] = { "cur", "new" };
	size_t blen = maildir_base_len(location);

	*name_r = NULL;
	for (size_t i = 0; i < 2 && *name_r == NULL; i++) {
		char *path = xasprintf("%s/%s", dir, subs[i]);
		DIR *d = opendir(path);
		struct dirent *de;

		free(path);
		if (d == NULL)
			continue;
		while (*name_r == NULL && (de = readdir(d)) != NULL) {
			if (de->d_name[0] != '.' && maildir_is_base(de->d_name, location, blen)) {
				*name_r = xstrdup(de->d_name);
				*sub_r = subs[i];
			}
		}
		closedir(d);
	}
	if (*name_r == NULL)
		return mf_error_set(err, MF_ENOTFOUND, "message %.*s is not in the folder",
				    (int)blen, location);
	return 0;
}

/* ---- find_message ---------------------------------------------------------- */

static int maildir_hash_file(const char *path, char hex[65], struct mf_error *err)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	char *buf;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return maildir_io_error(err, errno, "opening", path);
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		abort(); /* OpenSSL without SHA-256: nothing sensible to do */
	buf = xmalloc(MAILDIR_CHUNK);
	for (;;) {
		ssize_t n = read(fd, buf, MAILDIR_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = maildir_io_error(err, errno, "reading", path);
			break;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (unsigned int i = 0; i < mdlen && i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return rc;
}

/* Report the files of dir/sub that match q; *stop_r when fn said so. */
static void maildir_find_in(const char *dir, const char *sub, const struct mbx_query *q,
			    int (*fn)(void *ctx, const struct mbx_ref *ref), void *ctx,
			    bool *stop_r)
{
	char *path = xasprintf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		free(path);
		return;
	}
	while (!*stop_r && (de = readdir(d)) != NULL) {
		struct mbx_ref ref = { 0, 0, de->d_name };
		char *file;
		int64_t size;

		if (de->d_name[0] == '.')
			continue;
		if (q->name != NULL) {
			if (maildir_is_base(de->d_name, q->name, strlen(q->name)))
				*stop_r = fn(ctx, &ref) != 0;
			continue;
		}
		file = xasprintf("%s/%s", path, de->d_name);
		size = maildir_name_size(de->d_name);
		if (size < 0) {
			struct stat st;

			size = stat(file, &st) == 0 ? (int64_t)st.st_size : -1;
		}
		if (size == (int64_t)q->size) {
			char hex[65];
			bool match = true;

			if (q->sha256 != NULL) {
				/* Renamed or removed meanwhile: not a match. */
				struct mf_error e = { 0, "" };

				match = maildir_hash_file(file, hex, &e) == 0 &&
					strcmp(hex, q->sha256) == 0;
			}
			if (match)
				*stop_r = fn(ctx, &ref) != 0;
		}
		free(file);
	}
	closedir(d);
	free(path);
}

int maildir_find_message(struct mbx *m, const char *folder, const struct mbx_query *q,
			 int (*fn)(void *ctx, const struct mbx_ref *ref), void *ctx,
			 struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	struct stat st;
	bool stop = false;
	char *dir, *p;
	int rc;

	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc != 0)
		return rc;
	p = xasprintf("%s/cur", dir);
	rc = stat(p, &st);
	free(p);
	if (rc != 0) {
		free(dir);
		return 0; /* no folder, no message */
	}
	if (q->name != NULL) {
		/* A file still in tmp/ never became a message: a partial one
		 * left by a crash, removed so that it cannot linger. */
		p = xasprintf("%s/tmp/%s", dir, q->name);
		if (unlink(p) != 0 && errno != ENOENT)
			rc = maildir_io_error(err, errno, "removing", p);
		free(p);
	}
	if (rc == 0)
		maildir_find_in(dir, "cur", q, fn, ctx, &stop);
	if (rc == 0 && !stop)
		maildir_find_in(dir, "new", q, fn, ctx, &stop);
	free(dir);
	return rc;
}

/* ---- set_flags -------------------------------------------------------------------- */

int maildir_set_flags(struct mbx *m, const char *folder, const struct mbx_ref *ref,
		      uint32_t flags, char *const *keywords, size_t keyword_count,
		      char **location_r, struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	char suffix[8 + MAILDIR_KEYWORDS_MAX], letters[MAILDIR_KEYWORDS_MAX + 1];
	char *dir = NULL, *name = NULL, *warning = NULL, *to = NULL, *from, *topath;
	const char *sub = NULL;
	int rc;

	if (location_r != NULL)
		*location_r = NULL;
	if (ref->location == NULL || ref->location[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "a maildir message is found by its file name");
	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc == 0)
		rc = maildir_locate(dir, ref->location, &sub, &name, err);
	if (rc == 0)
		rc = maildir_kw_letters(md, dir, keywords, keyword_count, letters, &warning, err);
	free(warning); /* keywords the folder cannot hold stay off, as on append */
	if (rc != 0) {
		free(dir);
		free(name);
		return rc;
	}
	maildir_flag_letters(flags, suffix);
	memcpy(suffix + strlen(suffix), letters, strlen(letters) + 1);
	to = xasprintf("%.*s:2,%s", (int)strcspn(name, ":"), name, suffix);
	if (strcmp(sub, "cur") != 0 || strcmp(to, name) != 0) {
		from = xasprintf("%s/%s/%s", dir, sub, name);
		topath = xasprintf("%s/cur/%s", dir, to);
		if (rename(from, topath) != 0) {
			rc = errno == ENOENT
				 ? mf_error_set(err, MF_ENOTFOUND, "message %s is gone", name)
				 : maildir_io_error(err, errno, "renaming", from);
		} else {
			char *cur = xasprintf("%s/cur", dir);

			rc = maildir_fsync_dir(cur, err);
			free(cur);
			if (rc == 0 && strcmp(sub, "cur") != 0) {
				char *nw = xasprintf("%s/new", dir);

				rc = maildir_fsync_dir(nw, err);
				free(nw);
			}
		}
		free(from);
		free(topath);
		if (md->listing.dir != NULL && strcmp(md->listing.dir, dir) == 0)
			maildir_listing_clear(&md->listing);
	}
	/* The caller's name may be older than the file's: say where it is. */
	if (rc == 0 && location_r != NULL &&
	    (strcmp(to, ref->location) != 0 || strcmp(to, name) != 0)) {
		*location_r = to;
		to = NULL;
	}
	free(to);
	free(name);
	free(dir);
	return rc;
}

/* ---- expunge ------------------------------------------------------------------------ */

int maildir_expunge(struct mbx *m, const char *folder, const struct mbx_ref *refs, size_t n,
		    struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	bool touched[2] = { false, false };
	char *dir;
	int rc;

	rc = maildir_folder_dir(md, folder, &dir, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const char *sub = NULL;
		char *name = NULL, *path;

		if (refs[i].location == NULL)
			continue;
		if (maildir_locate(dir, refs[i].location, &sub, &name, NULL) != 0)
			continue; /* gone already */
		path = xasprintf("%s/%s/%s", dir, sub, name);
		if (unlink(path) != 0 && errno != ENOENT)
			rc = maildir_io_error(err, errno, "removing", path);
		touched[strcmp(sub, "cur") == 0 ? 0 : 1] = true;
		free(path);
		free(name);
	}
	for (int k = 0; rc == 0 && k < 2; k++) {
		if (touched[k]) {
			char *p = xasprintf("%s/%s", dir, k == 0 ? "cur" : "new");

			rc = maildir_fsync_dir(p, err);
			free(p);
		}
	}
	if (rc == 0 && md->listing.dir != NULL && strcmp(md->listing.dir, dir) == 0)
		maildir_listing_clear(&md->listing);
	free(dir);
	return rc;
}

/* ---- rename_folder --------------------------------------------------------------------- */

/* Rename ROOT/<ofrom><rest> to ROOT/<oto><rest> for the folder and each
 * subfolder (Maildir++ keeps them side by side: ".A", ".A.B"). */
static int maildir_rename_dirs(struct maildir *md, const char *ofrom, const char *oto,
			       struct mf_error *err)
{
	size_t flen = strlen(ofrom);
	char **names = NULL;
	size_t n = 0;
	DIR *d = opendir(md->root);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return maildir_io_error(err, errno, "opening directory", md->root);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ofrom, flen) == 0 &&
		    (de->d_name[flen] == '\0' || de->d_name[flen] == '.')) {
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
	}
	closedir(d);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char *from = xasprintf("%s/%s", md->root, names[i]);
		char *to = xasprintf("%s/%s%s", md->root, oto, names[i] + flen);

		if (rename(from, to) != 0)
			rc = maildir_io_error(err, errno, "renaming", from);
		free(from);
		free(to);
	}
	maildir_strv_free(names, n);
	if (rc == 0)
		rc = maildir_fsync_dir(md->root, err);
	return rc;
}

/* Subscribe the renamed folders that were subscribed under their old
 * names (the old lines stay, as Dovecot leaves them on RENAME). */
static int maildir_rename_subs(struct maildir *md, const char *from, const char *to,
			       struct mf_error *err)
{
	size_t flen = strlen(from);
	char **subs = NULL;
	size_t n = 0;
	int rc;

	rc = maildir_subs_read(md, &subs, &n, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (strncmp(subs[i], from, flen) == 0 &&
		    (subs[i][flen] == '\0' || subs[i][flen] == '/')) {
			char *name = xasprintf("%s%s", to, subs[i] + flen);

			rc = maildir_subs_add(md, name, err);
			free(name);
		}
	}
	maildir_strv_free(subs, n);
	return rc;
}

int maildir_rename_folder(struct mbx *m, const char *from, const char *to,
			  struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	char *dfrom = NULL, *dto = NULL, *ofrom = NULL, *oto = NULL, *p;
	struct stat st;
	int rc;

	/* Appends waiting for their directory's fsync get it first. */
	rc = maildir_sync(md, err);
	if (rc == 0)
		rc = maildir_folder_dir(md, from, &dfrom, err);
	if (rc == 0)
		rc = maildir_folder_dir(md, to, &dto, err);
	if (rc == 0 && (strcmp(dfrom, md->root) == 0 || strcmp(dto, md->root) == 0))
		rc = mf_error_set(err, MF_EINVAL, "INBOX cannot be renamed here");
	if (rc == 0) {
		p = xasprintf("%s/cur", dfrom);
		if (stat(p, &st) != 0)
			rc = mf_error_set(err, MF_ENOTFOUND, "folder \"%s\" does not exist", from);
		free(p);
	}
	if (rc == 0 && stat(dto, &st) == 0)
		rc = mf_error_set(err, MF_EEXIST, "folder \"%s\" exists already", to);
	if (rc == 0) {
		/* The directory names below ROOT: ".A.B". */
		ofrom = xstrdup(dfrom + strlen(md->root) + 1);
		oto = xstrdup(dto + strlen(md->root) + 1);
		rc = maildir_rename_dirs(md, ofrom, oto, err);
	}
	if (rc == 0)
		rc = maildir_rename_subs(md, from, to, err);
	maildir_listing_clear(&md->listing);
	maildir_kw_clear(&md->kw);
	free(dfrom);
	free(dto);
	free(ofrom);
	free(oto);
	return rc;
}
