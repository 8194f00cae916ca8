/* Unit tests for the maildir driver's peek_header (src/drivers/maildir-
 * read.c): the lines of the fields asked for with their continuation
 * lines, from the header only (a field in the body is not one), LF or
 * CRLF, cut at max, bounded by MAILDIR_PEEK_MAX, across read chunks; a
 * file renamed since the listing found by its base name; a file or UID
 * that is gone, a bad field name, a missing folder. */
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

#include "drivers/maildir.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static const char *const subj[] = { "Subject" };

/* len 0: strlen(data). */
static void put_file(const char *root, const char *name, const char *data, size_t len)
{
	char *path = xasprintf("%s/cur/%s", root, name);
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	if (len == 0)
		len = strlen(data);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	free(path);
}

static int count_one(void *ctx, const struct mbx_msg_info *info)
{
	(void)info;
	(*(size_t *)ctx)++;
	return 0;
}

static char *peek(struct mbx *m, uint32_t uid, const char *const *fields, size_t n, size_t max,
		  int want_rc)
{
	struct mf_error err = { 0 };
	char *out = NULL;
	size_t len = 0;
	int rc = m->drv->peek_header(m, "INBOX", uid, fields, n, max, &out, &len, &err);

	if (rc != want_rc)
		fail_msg("peek %u: rc %d (%s), wanted %d", uid, rc, err.msg, want_rc);
	if (rc != 0) {
		assert_null(out);
		return NULL;
	}
	assert_int_equal(strlen(out), len);
	return out;
}

static void expect(struct mbx *m, uint32_t uid, const char *const *fields, size_t n, size_t max,
		   const char *want)
{
	char *out = peek(m, uid, fields, n, max, 0);

	assert_string_equal(out, want);
	free(out);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static void test_peek_header(void **state)
{
	static const char *const two[] = { "Subject", "date" };
	static const char *const bad[] = { "Sub ject" };
	char tmpl[] = "/tmp/mf-maildir-peek-XXXXXX";
	struct mf_error err = { 0 };
	struct buf big = BUF_INIT;
	struct mbx *m;
	char *root, *from, *to, *out, *cur;
	struct timespec times[2];
	struct stat st;
	size_t listed = 0;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	root = xasprintf("%s/store", tmpl);
	assert_int_equal(maildir_open(root, &m, &err), 0);
	assert_non_null(m->drv->peek_header);
	/* UIDs follow the file names. */
	put_file(root, "1.M1.h:2,",
		 "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSUBJECT: big\r\n\tattachment\r\n"
		 "To: b@x\r\n  continued\r\nSubject: second\r\n\r\nSubject: in the body\r\n", 0);
	put_file(root, "2.M2.h:2,S", "From: a@x\nSubject : lf only\n\nbody\n", 0);
	put_file(root, "3.M3.h:2,", "From: a@x\r\n\r\nSubject: body\r\n", 0);
	/* A Subject across the 8 KiB reads, then one past MAILDIR_PEEK_MAX. */
	buf_puts(&big, "X-Pad: ");
	while (big.len < 8185)
		buf_putc(&big, 'p');
	buf_puts(&big, "\r\nSubject: across\r\n");
	while (big.len < 300 * 1024)
		buf_puts(&big, "X-Filler: 0123456789012345678901234567890123456789\r\n");
	buf_puts(&big, "Subject: too far\r\n\r\nbody\r\n");
	put_file(root, "4.M4.h:2,", big.data, big.len);
	put_file(root, "5.M5.h:2,", "Subject: renamed\r\n\r\n", 0);
	put_file(root, "6.M6.h:2,", "Subject: deleted\r\n\r\n", 0);
	assert_int_equal(m->drv->list_messages(m, "INBOX", 1, count_one, &listed, &err), 0);
	assert_int_equal(listed, 6);

	/* In file order, continuation lines kept, case ignored. */
	expect(m, 1, subj, 1, 4096, "SUBJECT: big\r\n\tattachment\r\nSubject: second\r\n");
	expect(m, 1, two, 2, 4096,
	       "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nSUBJECT: big\r\n\tattachment\r\n"
	       "Subject: second\r\n");
	expect(m, 1, subj, 1, 16, "SUBJECT: big\r\n\ta");
	expect(m, 2, subj, 1, 4096, "Subject : lf only\n");
	expect(m, 3, subj, 1, 4096, ""); /* only in the body */
	expect(m, 4, subj, 1, 4096, "Subject: across\r\n");

	/* Renamed since the listing (flags changed): found by base name. The
	 * directory's mtime is put back so that the listing stays cached. */
	cur = xasprintf("%s/cur", root);
	assert_int_equal(stat(cur, &st), 0);
	from = xasprintf("%s/cur/5.M5.h:2,", root);
	to = xasprintf("%s/cur/5.M5.h:2,FS", root);
	assert_int_equal(rename(from, to), 0);
	free(from);
	free(to);
	/* And gone since the listing. */
	from = xasprintf("%s/cur/6.M6.h:2,", root);
	assert_int_equal(unlink(from), 0);
	free(from);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, cur, times, 0), 0);
	free(cur);
	expect(m, 5, subj, 1, 4096, "Subject: renamed\r\n");
	out = peek(m, 6, subj, 1, 4096, MF_ENOTFOUND);

	/* Gone: a UID past the end, a folder. */
	out = peek(m, 7, subj, 1, 4096, MF_ENOTFOUND);
	assert_int_equal(m->drv->peek_header(m, "Nope", 1, subj, 1, 4096, &out, &listed, &err),
			 MF_ENOTFOUND);
	out = peek(m, 1, bad, 1, 4096, MF_EINVAL);
	out = peek(m, 1, subj, 0, 4096, MF_EINVAL);
	(void)out;

	m->drv->close(&m);
	buf_free(&big);
	free(root);
	nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peek_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
