/* The maildir driver's half of the Dovecot end-to-end test
 * (tests/e2e/test_maildir_dovecot.py): writes a store tree through the
 * driver, with folders whose names are non-ASCII or hold a '.', all flags,
 * keywords (26 and more), bare LF, NUL bytes and a 150 kB message.
 *
 * With MF_MAILDIR_EXPORT=DIR the tree goes to DIR, and a description of what
 * was given to the driver to $MF_MAILDIR_EXPORT_META (default DIR.meta):
 * manifest.tsv ("folder\tNAME\tSUBSCRIBED" and "msg\tFOLDER\tN.eml\tDATE\t
 * FLAGS\tKEYWORDS STORED\tFILE NAME" lines) and N.eml, the bytes of each
 * message. Without it, the tree goes to a temporary directory and is read
 * back through the driver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include "drivers/maildir.h"
#include "util/buf.h"
#include "util/xmalloc.h"

struct done_rec {
	int rc;
	char *location;
};

static void on_done(void *ctx, uint64_t token, int rc, const struct mbx_appended *out,
		    const struct mf_error *err)
{
	struct done_rec *d = ctx;

	(void)token;
	(void)err;
	d->rc = rc;
	free(d->location);
	d->location = out != NULL ? xstrdup(out->location) : NULL;
}

struct fixture {
	char *root;
	struct mbx *m;
	struct done_rec done;
};

static int append_msg(struct fixture *f, const char *folder, const char *data, size_t len,
		      uint32_t flags, char **kws, size_t nkw, time_t date, size_t chunk,
		      struct mf_error *err)
{
	const struct mailbox_driver *drv = f->m->drv;
	struct mbx_msg_info info = { 0 };
	struct mbx_append *ap;
	int rc;

	info.size = len;
	info.flags = flags;
	info.keywords = kws;
	info.keyword_count = nkw;
	info.internaldate = date;
	rc = drv->append_begin(f->m, folder, &info, 1, &ap, err);
	if (rc != 0)
		return rc;
	for (size_t off = 0; rc == 0 && off < len; off += chunk)
		rc = drv->append_data(ap, data + off, len - off < chunk ? len - off : chunk, err);
	if (rc != 0) {
		drv->append_abort(ap);
		return rc;
	}
	rc = drv->append_end(ap, err);
	return rc != 0 ? rc : drv->append_flush(f->m, err);
}

struct export_msg {
	const char *folder;
	uint32_t flags;
	const char *keywords; /* space-separated */
	time_t date;
	const char *body;     /* NULL: generated (large) */
	size_t len;
};

static const char *flag_names(uint32_t flags, struct buf *b)
{
	static const struct {
		uint32_t f;
		const char *n;
	} names[] = { { MBX_SEEN, "\\Seen" }, { MBX_ANSWERED, "\\Answered" },
		      { MBX_FLAGGED, "\\Flagged" }, { MBX_DELETED, "\\Deleted" },
		      { MBX_DRAFT, "\\Draft" } };

	buf_reset(b);
	for (size_t i = 0; i < 5; i++) {
		if (flags & names[i].f)
			buf_printf(b, "%s%s", b->len > 0 ? " " : "", names[i].n);
	}
	return buf_cstr(b);
}

#define M(s) s, sizeof(s) - 1

static void export_tree(const char *root, const char *meta)
{
	static const struct {
		const char *name;
		bool subscribe;
	} folders[] = {
		{ "INBOX", true }, { "Sent", true }, { "Archiv/2024/Entwürfe", true },
		{ "x.y", true }, { "Pär/Q.z", false }, { "日本語", false }, { "Q&A", true },
		{ "Viele", false },
	};
	static const struct export_msg msgs[] = {
		{ "INBOX", MBX_SEEN | MBX_FLAGGED, "$Forwarded Project", 1577865600,
		  M("From: a@example.test\r\nSubject: crlf\r\nX-Test-Id: 1\r\n\r\nHello\r\n") },
		{ "INBOX", 0, "", 1600000000,
		  M("From: a@example.test\nSubject: bare lf\r\nX-Test-Id: 2\r\n\nline\nline\r\nend\n") },
		{ "INBOX", MBX_ANSWERED | MBX_DRAFT | MBX_DELETED, "", 1234567890,
		  M("Subject: nul\r\nX-Test-Id: 3\r\n\r\na\0b\0\0c\r\n") },
		{ "Archiv/2024/Entwürfe", MBX_DRAFT, "urgent", 1700000000, NULL, 150000 },
		{ "x.y", MBX_SEEN, "", 1700000001, M("Subject: dot\r\nX-Test-Id: 5\r\n\r\n.\r\n") },
		{ "Sent", MBX_SEEN | MBX_ANSWERED, "$label1", 1700000002,
		  M("Subject: sent\r\nX-Test-Id: 6\r\n\r\nsent\r\n") },
		{ "Pär/Q.z", 0, "", 1700000003, M("Subject: q\r\nX-Test-Id: 7\r\n\r\nq\r\n") },
		{ "日本語", MBX_SEEN, "", 1700000004, M("Subject: j\r\nX-Test-Id: 8\r\n\r\nj\r\n") },
		{ "Q&A", MBX_FLAGGED, "", 1700000005, M("Subject: qa\r\nX-Test-Id: 9\r\n\r\nqa\r\n") },
		{ "Viele", MBX_SEEN, "*28", 1700000006,
		  M("Subject: many\r\nX-Test-Id: 10\r\n\r\nmany keywords\r\n") },
	};
	struct fixture f = { 0 };
	struct mf_error err = { 0, "" };
	struct buf manifest = BUF_INIT, fl = BUF_INIT;
	char *path;
	FILE *fp;

	f.root = xstrdup(root);
	assert_int_equal(mkdir(meta, 0755) == 0 || errno == EEXIST, 1);
	assert_int_equal(maildir_open(root, &f.m, &err), 0);
	f.m->drv->set_append_done(f.m, on_done, &f.done);
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		assert_int_equal(f.m->drv->create_folder(f.m, folders[i].name, MBX_ROLE_NONE,
							 folders[i].subscribe, &err), 0);
		buf_printf(&manifest, "folder\t%s\t%d\n", folders[i].name, folders[i].subscribe);
	}
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		const struct export_msg *e = &msgs[i];
		char *body, *kwcopy, *kws[32], *save = NULL;
		size_t nkw = 0, len = e->len;
		struct buf stored = BUF_INIT;

		if (e->body != NULL) {
			body = xmalloc(len + 1);
			memcpy(body, e->body, len);
		} else {
			struct buf b = BUF_INIT;

			buf_printf(&b, "Subject: big\r\nX-Test-Id: %zu\r\n\r\n", i + 1);
			for (size_t n = 0; b.len + 80 < len; n++)
				buf_printf(&b, "%06zu %s\r\n", n,
					   "The quick brown fox jumps over the lazy dog, "
					   "again and again and again.");
			len = b.len;
			body = buf_steal(&b);
		}
		if (strncmp(e->keywords, "*", 1) == 0) {
			kwcopy = NULL;
			nkw = (size_t)strtoul(e->keywords + 1, NULL, 10);
			for (size_t k = 0; k < nkw; k++)
				kws[k] = xasprintf("kw%02zu", k);
			/* Only 26 letters: the rest are reported, not stored. */
			for (size_t k = 0; k < 26 && k < nkw; k++)
				buf_printf(&stored, "%s%s", k > 0 ? " " : "", kws[k]);
		} else {
			kwcopy = xstrdup(e->keywords);
			for (char *t = strtok_r(kwcopy, " ", &save); t != NULL;
			     t = strtok_r(NULL, " ", &save))
				kws[nkw++] = t;
			buf_puts(&stored, e->keywords);
		}
		assert_int_equal(append_msg(&f, e->folder, body, len, e->flags, kws, nkw, e->date,
					    4096, &err), 0);
		assert_int_equal(f.done.rc, 0);
		path = xasprintf("%s/%zu.eml", meta, i + 1);
		fp = fopen(path, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(body, 1, len, fp), len);
		assert_int_equal(fclose(fp), 0);
		free(path);
		buf_printf(&manifest, "msg\t%s\t%zu.eml\t%lld\t%s\t%s\t%s\n", e->folder, i + 1,
			   (long long)e->date, flag_names(e->flags, &fl), buf_cstr(&stored),
			   f.done.location);
		if (kwcopy == NULL) {
			for (size_t k = 0; k < nkw; k++)
				free(kws[k]);
		}
		free(kwcopy);
		free(body);
		buf_free(&stored);
	}
	path = xasprintf("%s/manifest.tsv", meta);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(manifest.data, 1, manifest.len, fp), manifest.len);
	assert_int_equal(fclose(fp), 0);
	free(path);
	f.m->drv->close(&f.m);
	buf_free(&manifest);
	buf_free(&fl);
	free(f.done.location);
	free(f.root);
}


static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void test_export_env(void **state)
{
	const char *root = getenv("MF_MAILDIR_EXPORT");
	const char *meta = getenv("MF_MAILDIR_EXPORT_META");
	char *m = meta != NULL ? xstrdup(meta) : xasprintf("%s.meta", root);

	(void)state;
	export_tree(root, m);
	free(m);
}

struct count_ctx {
	int n;
};

static int count_cb(void *ctx, const struct mbx_msg_info *info)
{
	struct count_ctx *c = ctx;

	assert_int_equal(info->uid, (uint32_t)c->n + 1);
	c->n++;
	return 0;
}

/* Without a destination: export to a temporary directory, read it back. */
static void test_export_readback(void **state)
{
	char tmpl[] = "/tmp/mf-test-maildir-export-XXXXXX";
	struct mf_error err = { 0, "" };
	struct mbx_folder_list l = { 0 };
	struct mbx *m;
	char *root, *meta;
	int total = 0;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	root = xasprintf("%s/Maildir", tmpl);
	meta = xasprintf("%s/meta", tmpl);
	export_tree(root, meta);
	assert_int_equal(maildir_open(root, &m, &err), 0);
	assert_int_equal(m->drv->list_folders(m, &l, &err), 0);
	/* 8 folders, INBOX among them, and 3 implicit parents. */
	assert_int_equal(l.count, 8 + 3);
	for (size_t i = 0; i < l.count; i++) {
		struct count_ctx c = { 0 };

		if (!l.folders[i].noselect) {
			assert_int_equal(m->drv->list_messages(m, l.folders[i].name, 1, count_cb,
							       &c, &err), 0);
			total += c.n;
		}
		free(l.folders[i].name);
	}
	free(l.folders);
	assert_int_equal(total, 10);
	m->drv->close(&m);
	nftw(tmpl, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(root);
	free(meta);
}

int main(void)
{
	const struct CMUnitTest env_tests[] = {
		cmocka_unit_test(test_export_env),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_export_readback),
	};

	if (getenv("MF_MAILDIR_EXPORT") != NULL)
		return cmocka_run_group_tests(env_tests, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
