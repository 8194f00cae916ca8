/* Unit tests for the maildir driver's incremental-sync members
 * (src/drivers/maildir-sync.c): reserved names and appends under them,
 * find_message by name (a partial file in tmp/ removed) and by size and
 * content, set_flags (the file renamed, its new name returned), expunge,
 * rename_folder with subfolders and subscriptions, list_flags. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "drivers/maildir.h"
#include "util/xmalloc.h"

struct fx {
	char *root;
	struct mbx *m;
	char location[256]; /* of the last append */
};

static void on_done(void *ctx, uint64_t token, int rc, const struct mbx_appended *out,
		    const struct mf_error *err)
{
	struct fx *f = ctx;

	(void)token;
	(void)err;
	if (rc == 0 && out->location != NULL)
		snprintf(f->location, sizeof(f->location), "%s", out->location);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/mf-mdsync-XXXXXX";
	struct mf_error err = { 0 };

	assert_non_null(mkdtemp(tmpl));
	f->root = xasprintf("%s/store", tmpl);
	assert_int_equal(maildir_open(f->root, &f->m, &err), 0);
	f->m->drv->set_append_done(f->m, on_done, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char *dir = xstrdup(f->root);

	f->m->drv->close(&f->m);
	*strrchr(dir, '/') = '\0';
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	free(f->root);
	free(f);
	return 0;
}

static void sha_hex(const char *s, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(s, strlen(s), md, &len, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < len; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

/* Append body to folder (under name when not NULL). */
static void put(struct fx *f, const char *folder, const char *body, uint32_t flags,
		const char *name)
{
	struct mbx_msg_info info = { 0 };
	struct mf_error err = { 0 };
	struct mbx_append *ap;

	info.size = strlen(body);
	info.flags = flags;
	info.internaldate = 1700000000;
	if (name != NULL)
		assert_int_equal(f->m->drv->append_begin_named(f->m, folder, &info, name, 1, &ap,
							       &err), 0);
	else
		assert_int_equal(f->m->drv->append_begin(f->m, folder, &info, 1, &ap, &err), 0);
	assert_int_equal(f->m->drv->append_data(ap, body, strlen(body), &err), 0);
	assert_int_equal(f->m->drv->append_end(ap, &err), 0);
	assert_int_equal(f->m->drv->append_flush(f->m, &err), 0);
}

struct found {
	size_t n;
	char loc[4][256];
};

static int on_found(void *ctx, const struct mbx_ref *ref)
{
	struct found *fd = ctx;

	snprintf(fd->loc[fd->n++], sizeof(fd->loc[0]), "%s", ref->location);
	return fd->n == 4;
}

static size_t find(struct fx *f, const char *folder, const struct mbx_query *q,
		   struct found *fd)
{
	struct mf_error err = { 0 };

	memset(fd, 0, sizeof(*fd));
	assert_int_equal(f->m->drv->find_message(f->m, folder, q, on_found, fd, &err), 0);
	return fd->n;
}

static bool exists(struct fx *f, const char *rel)
{
	char *p = xasprintf("%s/%s", f->root, rel);
	struct stat st;
	bool yes = stat(p, &st) == 0;

	free(p);
	return yes;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_names_and_find(void **state)
{
	struct fx *f = *state;
	char *name = f->m->drv->reserve_name(f->m);
	char *other = f->m->drv->reserve_name(f->m);
	struct mbx_query q = { 0, NULL, NULL, NULL };
	struct mf_error err = { 0 };
	struct found fd;
	char sha[65], *p;
	int fd_tmp;

	assert_string_not_equal(name, other);
	assert_null(strpbrk(name, "/:,"));
	put(f, "INBOX", "Subject: a\r\n\r\nsame size 1\r\n", MBX_SEEN, name);
	assert_int_equal(strncmp(f->location, name, strlen(name)), 0);
	assert_int_equal(f->location[strlen(name)], ',');
	put(f, "INBOX", "Subject: b\r\n\r\nsame size 2\r\n", 0, NULL);
	/* By name. */
	q.name = name;
	assert_int_equal(find(f, "INBOX", &q, &fd), 1);
	assert_string_equal(fd.loc[0], f->location[0] != '\0' ? fd.loc[0] : "");
	assert_int_equal(strncmp(fd.loc[0], name, strlen(name)), 0);
	/* A partial file left in tmp/ by a crash: not a message, removed. */
	p = xasprintf("%s/tmp/%s", f->root, other);
	fd_tmp = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd_tmp >= 0);
	assert_int_equal(write(fd_tmp, "Subj", 4), 4);
	close(fd_tmp);
	q.name = other;
	assert_int_equal(find(f, "INBOX", &q, &fd), 0);
	assert_false(exists(f, p + strlen(f->root) + 1));
	free(p);
	/* By size, then content. */
	q.name = NULL;
	q.size = strlen("Subject: a\r\n\r\nsame size 1\r\n");
	assert_int_equal(find(f, "INBOX", &q, &fd), 2);
	sha_hex("Subject: b\r\n\r\nsame size 2\r\n", sha);
	q.sha256 = sha;
	assert_int_equal(find(f, "INBOX", &q, &fd), 1);
	assert_null(strstr(fd.loc[0], name));
	q.size = 3;
	assert_int_equal(find(f, "INBOX", &q, &fd), 0);
	/* No such folder: nothing, no error. */
	assert_int_equal(find(f, "Nowhere", &q, &fd), 0);
	/* A name that cannot be a file's. */
	{
		struct mbx_msg_info info = { 0 };
		struct mbx_append *ap;

		info.size = 1;
		assert_int_equal(f->m->drv->append_begin_named(f->m, "INBOX", &info, "a/b", 1, &ap,
							       &err),
				 MF_EINVAL);
	}
	free(name);
	free(other);
}

static int on_info(void *ctx, const struct mbx_msg_info *info)
{
	char *out = ctx;
	size_t used = strlen(out);

	snprintf(out + used, 200 - used, "%u:%u:%zu ", info->uid, info->flags,
		 info->keyword_count);
	return 0;
}

static void test_set_flags_expunge(void **state)
{
	struct fx *f = *state;
	struct mf_error err = { 0 };
	char *kw[] = { "work", "$Label1" };
	char first[256], *loc = NULL, out[200] = "";
	struct mbx_ref ref = { 0, 0, NULL };

	put(f, "INBOX", "Subject: x\r\n\r\nx\r\n", MBX_SEEN, NULL);
	snprintf(first, sizeof(first), "%s", f->location);
	put(f, "INBOX", "Subject: y\r\n\r\ny\r\n", 0, NULL);
	ref.location = first;
	assert_int_equal(f->m->drv->set_flags(f->m, "INBOX", &ref, MBX_FLAGGED | MBX_ANSWERED, kw,
					      2, &loc, &err), 0);
	assert_non_null(loc);
	assert_non_null(strstr(loc, ":2,FR"));
	assert_int_equal(strncmp(loc, first, strcspn(first, ":")), 0);
	assert_int_equal(f->m->drv->list_flags(f->m, "INBOX", 0, on_info, out, &err), 0);
	assert_string_equal(out, "1:6:2 2:0:0 ");
	assert_int_equal(f->m->drv->list_flags(f->m, "INBOX", 3, on_info, out, &err),
			 MF_EUNSUPPORTED);
	/* The old name still finds the file (by its unique part). */
	free(loc);
	loc = NULL;
	assert_int_equal(f->m->drv->set_flags(f->m, "INBOX", &ref, MBX_SEEN, NULL, 0, &loc, &err),
			 0);
	assert_non_null(strstr(loc, ":2,S"));
	/* The same flags again: nothing changes. */
	ref.location = loc;
	{
		char *again = (char *)"unset";

		assert_int_equal(f->m->drv->set_flags(f->m, "INBOX", &ref, MBX_SEEN, NULL, 0,
						      &again, &err), 0);
		assert_null(again);
	}
	assert_int_equal(f->m->drv->expunge(f->m, "INBOX", &ref, 1, &err), 0);
	out[0] = '\0';
	assert_int_equal(f->m->drv->list_flags(f->m, "INBOX", 0, on_info, out, &err), 0);
	assert_string_equal(out, "1:0:0 ");
	/* Gone: set_flags says so; expunge again is no error. */
	assert_int_equal(f->m->drv->set_flags(f->m, "INBOX", &ref, 0, NULL, 0, NULL, &err),
			 MF_ENOTFOUND);
	assert_int_equal(f->m->drv->expunge(f->m, "INBOX", &ref, 1, &err), 0);
	free(loc);
}

static void test_rename_folder(void **state)
{
	struct fx *f = *state;
	struct mf_error err = { 0 };
	struct mbx_folder_list l = { 0 };
	char names[300] = "";

	assert_int_equal(f->m->drv->create_folder(f->m, "Proj", MBX_ROLE_NONE, true, &err), 0);
	assert_int_equal(f->m->drv->create_folder(f->m, "Proj/2024", MBX_ROLE_NONE, true, &err), 0);
	assert_int_equal(f->m->drv->create_folder(f->m, "Projects", MBX_ROLE_NONE, false, &err), 0);
	put(f, "Proj/2024", "Subject: p\r\n\r\np\r\n", 0, NULL);
	assert_int_equal(f->m->drv->rename_folder(f->m, "Proj", "Work", &err), 0);
	assert_int_equal(f->m->drv->list_folders(f->m, &l, &err), 0);
	for (size_t i = 0; i < l.count; i++) {
		size_t used = strlen(names);

		snprintf(names + used, sizeof(names) - used, "%s%s%s ", l.folders[i].name,
			 l.folders[i].subscribed ? "+" : "", l.folders[i].noselect ? "!" : "");
	}
	mbx_folder_list_free(&l);
	/* "Projects" is not a subfolder of "Proj". */
	assert_string_equal(names, "INBOX Projects Work+ Work/2024+ ");
	assert_true(exists(f, ".Work.2024/cur"));
	assert_int_equal(f->m->drv->rename_folder(f->m, "Gone", "X", &err), MF_ENOTFOUND);
	assert_int_equal(f->m->drv->rename_folder(f->m, "Work", "Projects", &err), MF_EEXIST);
	assert_int_equal(f->m->drv->rename_folder(f->m, "INBOX", "X", &err), MF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names_and_find, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_flags_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_folder, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
