/* Unit tests for the maildir store driver (src/drivers/maildir*.c); the
 * tree it writes is checked against a real Dovecot through
 * test_maildir_export.c and tests/e2e/test_maildir_dovecot.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/maildir-private.h"
#include "drivers/maildir.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* ---- helpers ---- */

struct done_rec {
	int calls;
	int rc;
	uint64_t token;
	char *location;
	char *warning;
	char errmsg[MF_ERROR_MSG_MAX];
};

static void on_done(void *ctx, uint64_t token, int rc, const struct mbx_appended *out,
		    const struct mf_error *err)
{
	struct done_rec *d = ctx;

	d->calls++;
	d->rc = rc;
	d->token = token;
	free(d->location);
	free(d->warning);
	d->location = out != NULL && out->location != NULL ? xstrdup(out->location) : NULL;
	d->warning = out != NULL && out->warning != NULL ? xstrdup(out->warning) : NULL;
	snprintf(d->errmsg, sizeof(d->errmsg), "%s", err != NULL ? err->msg : "");
}

static void done_reset(struct done_rec *d)
{
	free(d->location);
	free(d->warning);
	memset(d, 0, sizeof(*d));
}

struct fixture {
	char *root;
	struct mbx *m;
	struct done_rec done;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/mf-test-maildir-XXXXXX";
	struct mf_error err = { 0, "" };

	assert_non_null(mkdtemp(tmpl));
	/* A root below a directory that does not exist yet: open creates it. */
	f->root = xasprintf("%s/mailstore/alice@example.test", tmpl);
	assert_int_equal(maildir_open(f->root, &f->m, &err), 0);
	f->m->drv->set_append_done(f->m, on_done, &f->done);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *top = xstrndup(f->root, strstr(f->root, "/mailstore") - f->root);

	f->m->drv->close(&f->m);
	assert_null(f->m);
	rm_tree(top);
	free(top);
	free(f->root);
	done_reset(&f->done);
	free(f);
	return 0;
}

static int append_msg(struct fixture *f, const char *folder, const void *data, size_t len,
		      uint32_t flags, char **kws, size_t nkw, time_t date, size_t chunk,
		      struct mf_error *err)
{
	const struct mailbox_driver *drv = f->m->drv;
	struct mbx_msg_info info = { 0 };
	struct mbx_append *ap;
	const char *p = data;
	int rc;

	info.size = len;
	info.flags = flags;
	info.keywords = kws;
	info.keyword_count = nkw;
	info.internaldate = date;
	rc = drv->append_begin(f->m, folder, &info, 42, &ap, err);
	if (rc != 0)
		return rc;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		rc = drv->append_data(ap, p + off, n, err);
		if (rc != 0)
			break;
	}
	if (rc != 0) {
		drv->append_abort(ap);
		return rc;
	}
	rc = drv->append_end(ap, err);
	/* Reported once its cur/ is synced (at the latest on append_flush). */
	return rc != 0 ? rc : drv->append_flush(f->m, err);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

static char *read_file(const char *path)
{
	struct buf b = BUF_INIT;
	struct mf_error err = { 0, "" };

	assert_int_equal(maildir_read_small(path, 1 << 24, &b, &err), 0);
	return buf_steal(&b);
}

static bool path_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

static void free_folders(struct mbx_folder_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->folders[i].name);
	free(l->folders);
	l->folders = NULL;
	l->count = 0;
}

static const struct mbx_folder *find_folder(const struct mbx_folder_list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->folders[i].name, name) == 0)
			return &l->folders[i];
	}
	return NULL;
}

/* ---- appends ---- */

static const char MSG1[] = "From: a@example.test\r\nSubject: one\r\n\r\nHello\r\n";

static void test_append_flags_keywords(void **state)
{
	struct fixture *f = *state;
	struct mf_error err = { 0, "" };
	char *kws1[] = { "$Forwarded", "Project", "urgent" };
	char *kws2[] = { "urgent", "new", "PROJECT", "new" };
	char *path, *text, *want;
	struct stat st;
	size_t len = sizeof(MSG1) - 1;
	const time_t date = 1577865600; /* 2020-01-01 08:00:00 UTC */

	assert_int_equal(f->m->drv->create_folder(f->m, "Work", MBX_ROLE_NONE, false, &err), 0);
	assert_int_equal(append_msg(f, "Work", MSG1, len,
				    MBX_SEEN | MBX_ANSWERED | MBX_FLAGGED | MBX_DELETED | MBX_DRAFT,
				    kws1, 3, date, 7, &err), 0);
	assert_int_equal(f->done.calls, 1);
	assert_int_equal(f->done.rc, 0);
	assert_int_equal(f->done.token, 42);
	assert_null(f->done.warning);
	assert_non_null(f->done.location);
	want = xasprintf(",S=%zu,W=%zu:2,DFRSTabc", len, len);
	assert_non_null(strstr(f->done.location, want));
	assert_string_equal(strstr(f->done.location, want), want);
	free(want);
	/* <sec>.M<usec>P<pid>Q<n>.<host> */
	assert_non_null(strstr(f->done.location, ".M"));
	assert_non_null(strstr(f->done.location, "Q"));

	path = xasprintf("%s/.Work/cur/%s", f->root, f->done.location);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)len);
	assert_int_equal(st.st_mtime, date);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(path);
	text = xasprintf("%s/.Work/tmp", f->root);
	assert_int_equal(count_files(text), 0);
	free(text);

	path = xasprintf("%s/.Work/dovecot-keywords", f->root);
	text = read_file(path);
	assert_string_equal(text, "0 $Forwarded\n1 Project\n2 urgent\n");
	free(text);

	/* Known keywords match regardless of case; new ones take new letters;
	 * a repeated keyword is one letter; no flags gives ":2,". */
	assert_int_equal(append_msg(f, "Work", MSG1, len, 0, kws2, 4, date, len, &err), 0);
	assert_string_equal(strstr(f->done.location, ":2,"), ":2,bcd");
	text = read_file(path);
	assert_string_equal(text, "0 $Forwarded\n1 Project\n2 urgent\n3 new\n");
	free(text);
	free(path);

	assert_int_equal(append_msg(f, "INBOX", MSG1, len, MBX_SEEN, NULL, 0, date, len, &err), 0);
	assert_string_equal(strstr(f->done.location, ":2,"), ":2,S");
	path = xasprintf("%s/cur/%s", f->root, f->done.location);
	assert_true(path_exists(path));
	free(path);
}

static void test_append_crlf_size(void **state)
{
	struct fixture *f = *state;
	struct mf_error err = { 0, "" };
	/* 3 bare LFs (one split from nothing), 2 CRLFs, one CRLF split across
	 * chunks when written one byte at a time. */
	static const char msg[] = "A: b\nC: d\r\n\r\nline\nline\r\nend\n";
	size_t len = sizeof(msg) - 1;
	char *want;

	assert_int_equal(append_msg(f, "INBOX", msg, len, 0, NULL, 0, 1000000000, 1, &err), 0);
	want = xasprintf(",S=%zu,W=%zu:2,", len, len + 3);
	assert_non_null(strstr(f->done.location, want));
	free(want);
	assert_int_equal(append_msg(f, "INBOX", msg, len, 0, NULL, 0, 1000000000, 3, &err), 0);
	want = xasprintf(",S=%zu,W=%zu:2,", len, len + 3);
	assert_non_null(strstr(f->done.location, want));
	free(want);
	/* A message starting with LF. */
	assert_int_equal(append_msg(f, "INBOX", "\nx", 2, 0, NULL, 0, 1000000000, 1, &err), 0);
	assert_non_null(strstr(f->done.location, ",S=2,W=3:2,"));
}

static void test_append_many_keywords(void **state)
{
	struct fixture *f = *state;
	struct mf_error err = { 0, "" };
	char *kws[30], *path, *text;
	char *more[] = { "kw05", "extra", "bad keyword", "\\Seen" };
	size_t len = sizeof(MSG1) - 1;
	struct buf want = BUF_INIT;

	for (int i = 0; i < 30; i++)
		kws[i] = xasprintf("kw%02d", i);
	assert_int_equal(f->m->drv->create_folder(f->m, "Tags", MBX_ROLE_NONE, false, &err), 0);
	assert_int_equal(append_msg(f, "Tags", MSG1, len, MBX_SEEN, kws, 30, 1, len, &err), 0);
	assert_int_equal(f->done.rc, 0);
	assert_string_equal(strstr(f->done.location, ":2,"), ":2,Sabcdefghijklmnopqrstuvwxyz");
	assert_non_null(f->done.warning);
	assert_non_null(strstr(f->done.warning, "kw26 kw27 kw28 kw29"));
	assert_null(strstr(f->done.warning, "kw25"));
	path = xasprintf("%s/.Tags/dovecot-keywords", f->root);
	text = read_file(path);
	for (int i = 0; i < 26; i++)
		buf_printf(&want, "%d kw%02d\n", i, i);
	assert_string_equal(text, buf_cstr(&want));
	free(text);
	free(path);
	buf_free(&want);

	/* A full folder still takes known keywords; the rest are reported. */
	assert_int_equal(append_msg(f, "Tags", MSG1, len, 0, more, 4, 1, len, &err), 0);
	assert_string_equal(strstr(f->done.location, ":2,"), ":2,f");
	assert_non_null(strstr(f->done.warning, "in use): extra"));
	assert_non_null(strstr(f->done.warning, "invalid keywords not stored: bad keyword \\Seen"));

	/* Another folder has its own 26 letters. */
	assert_int_equal(append_msg(f, "INBOX", MSG1, len, 0, more, 2, 1, len, &err), 0);
	assert_string_equal(strstr(f->done.location, ":2,"), ":2,ab");
	for (int i = 0; i < 30; i++)
		free(kws[i]);
}

static void test_append_size_mismatch(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_driver *drv = f->m->drv;
	struct mf_error err = { 0, "" };
	struct mbx_msg_info info = { 0 };
	struct mbx_append *ap;
	char *tmp = xasprintf("%s/tmp", f->root), *cur = xasprintf("%s/cur", f->root);

	/* Longer than announced: refused at once, the tmp file gone. */
	info.size = 10;
	assert_int_equal(drv->append_begin(f->m, "INBOX", &info, 7, &ap, &err), 0);
	assert_int_equal(count_files(tmp), 1);
	assert_int_equal(drv->append_data(ap, "0123456", 7, &err), 0);
	assert_int_equal(drv->append_data(ap, "789ab", 5, &err), MF_EPROTO);
	assert_int_equal(count_files(tmp), 0);
	assert_int_equal(drv->append_data(ap, "x", 1, &err), MF_EPROTO);
	assert_int_equal(drv->append_end(ap, &err), MF_EPROTO);
	assert_int_equal(f->done.calls, 1);
	assert_int_equal(f->done.rc, MF_EPROTO);
	assert_int_equal(f->done.token, 7);
	assert_null(f->done.location);
	assert_non_null(strstr(f->done.errmsg, "larger than its announced size of 10"));

	/* Shorter than announced. */
	assert_int_equal(drv->append_begin(f->m, "INBOX", &info, 8, &ap, &err), 0);
	assert_int_equal(drv->append_data(ap, "01234", 5, &err), 0);
	assert_int_equal(drv->append_end(ap, &err), MF_EPROTO);
	assert_non_null(strstr(err.msg, "after 5 bytes"));
	assert_int_equal(f->done.calls, 2);
	assert_int_equal(f->done.rc, MF_EPROTO);
	assert_int_equal(count_files(tmp), 0);
	assert_int_equal(count_files(cur), 0);
	free(tmp);
	free(cur);
}

static void test_append_abort_and_close(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_driver *drv = f->m->drv;
	struct mf_error err = { 0, "" };
	struct mbx_msg_info info = { 0 };
	struct mbx_append *ap, *ap2;
	char *tmp = xasprintf("%s/tmp", f->root);

	info.size = 100;
	assert_int_equal(drv->append_begin(f->m, "INBOX", &info, 1, &ap, &err), 0);
	assert_int_equal(drv->append_data(ap, "partial", 7, &err), 0);
	assert_int_equal(count_files(tmp), 1);
	drv->append_abort(ap);
	assert_int_equal(count_files(tmp), 0);
	assert_int_equal(f->done.calls, 0);

	/* close abandons what is still open. */
	assert_int_equal(drv->append_begin(f->m, "INBOX", &info, 2, &ap, &err), 0);
	assert_int_equal(drv->append_begin(f->m, "INBOX", &info, 3, &ap2, &err), 0);
	assert_int_equal(drv->append_data(ap2, "partial", 7, &err), 0);
	assert_int_equal(count_files(tmp), 2);
	drv->close(&f->m);
	assert_int_equal(count_files(tmp), 0);
	assert_int_equal(maildir_open(f->root, &f->m, &err), 0);
	free(tmp);
}

static void test_append_errors(void **state)
{
	struct fixture *f = *state;
	struct mf_error err = { 0, "" };

	assert_int_equal(append_msg(f, "Nope", "x", 1, 0, NULL, 0, 1, 1, &err), MF_ENOTFOUND);
	assert_int_equal(f->done.calls, 0);
	assert_int_equal(append_msg(f, "A//B", "x", 1, 0, NULL, 0, 1, 1, &err), MF_EINVAL);
	assert_int_equal(append_msg(f, "bad\xff", "x", 1, 0, NULL, 0, 1, 1, &err), MF_EINVAL);
	/* The words the engine looks for to stop a user on a full disk. */
	assert_int_equal(maildir_io_error(&err, ENOSPC, "writing", "/x/tmp/y"), MF_EIO);
	assert_string_equal(err.msg, "no space left on device while writing /x/tmp/y");
	assert_int_equal(maildir_io_error(&err, EDQUOT, "syncing", "/x"), MF_EIO);
	assert_non_null(strstr(err.msg, "no space left on device while syncing /x"));
}

/* ---- folders ---- */

static void test_folders_names(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_driver *drv = f->m->drv;
	struct mf_error err = { 0, "" };
	struct mbx_folder_list l = { 0 };
	const struct mbx_folder *x;
	static const struct {
		const char *name, *dir;
	} cases[] = {
		{ "Archiv/2024/Entwürfe", ".Archiv.2024.Entw&APw-rfe" },
		{ "日本語", ".&ZeVnLIqe-" },
		{ "x.y", ".x\\2ey" },
		{ "Pär/Q.z", ".P&AOQ-r.Q\\2ez" },
		{ "a\\b", ".a\\5cb" },
		{ "~home/~x~", ".\\7ehome.\\7ex~" },
		{ "Q&A", ".Q&-A" },
		{ "Sent", ".Sent" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *dir = xasprintf("%s/%s", f->root, cases[i].dir);
		char *marker = xasprintf("%s/maildirfolder", dir);
		char *sub = xasprintf("%s/tmp", dir);

		assert_int_equal(drv->create_folder(f->m, cases[i].name, MBX_ROLE_NONE, false,
						    &err), 0);
		/* again: no error */
		assert_int_equal(drv->create_folder(f->m, cases[i].name, MBX_ROLE_NONE, false,
						    &err), 0);
		assert_true(path_exists(marker));
		assert_true(path_exists(sub));
		free(dir);
		free(marker);
		free(sub);
	}
	/* Parents stay implicit, as with Dovecot. */
	{
		char *parent = xasprintf("%s/.Archiv", f->root);

		assert_false(path_exists(parent));
		free(parent);
	}
	assert_int_equal(drv->create_folder(f->m, "inbox", MBX_ROLE_INBOX, false, &err), 0);

	assert_int_equal(drv->list_folders(f->m, &l, &err), 0);
	assert_string_equal(l.folders[0].name, "INBOX");
	assert_int_equal(l.folders[0].role, MBX_ROLE_INBOX);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		x = find_folder(&l, cases[i].name);
		assert_non_null(x);
		assert_false(x->noselect);
	}
	x = find_folder(&l, "Archiv");
	assert_non_null(x);
	assert_true(x->noselect);
	x = find_folder(&l, "Archiv/2024");
	assert_non_null(x);
	assert_true(x->noselect);
	assert_true(find_folder(&l, "Archiv") < find_folder(&l, "Archiv/2024"));
	assert_true(find_folder(&l, "Archiv/2024") < find_folder(&l, "Archiv/2024/Entwürfe"));
	assert_true(find_folder(&l, "Pär")->noselect);
	assert_true(find_folder(&l, "~home")->noselect);
	assert_int_equal(find_folder(&l, "Sent")->role, MBX_ROLE_SENT);
	assert_int_equal(l.count, 1 + 8 + 4);
	free_folders(&l);

	assert_string_equal(drv->role_folder(f->m, MBX_ROLE_SENT), "Sent");
	assert_string_equal(drv->role_folder(f->m, MBX_ROLE_DRAFTS), "Drafts");
	assert_string_equal(drv->role_folder(f->m, MBX_ROLE_TRASH), "Trash");
	assert_string_equal(drv->role_folder(f->m, MBX_ROLE_JUNK), "Junk");
	assert_string_equal(drv->role_folder(f->m, MBX_ROLE_ARCHIVE), "Archive");
	assert_string_equal(drv->role_folder(f->m, MBX_ROLE_INBOX), "INBOX");
	assert_null(drv->role_folder(f->m, MBX_ROLE_ALL));
}

static void test_subscriptions(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_driver *drv = f->m->drv;
	struct mf_error err = { 0, "" };
	struct mbx_folder_list l = { 0 };
	char *path = xasprintf("%s/subscriptions", f->root), *text;

	assert_int_equal(drv->create_folder(f->m, "A/B", MBX_ROLE_NONE, true, &err), 0);
	assert_int_equal(drv->create_folder(f->m, "INBOX", MBX_ROLE_INBOX, true, &err), 0);
	assert_int_equal(drv->create_folder(f->m, "Pär/Q.z", MBX_ROLE_NONE, true, &err), 0);
	assert_int_equal(drv->create_folder(f->m, "Plain", MBX_ROLE_NONE, false, &err), 0);
	assert_int_equal(drv->create_folder(f->m, "A/B", MBX_ROLE_NONE, true, &err), 0);
	text = read_file(path);
	/* What Dovecot 2.3.19 writes for the same subscriptions. */
	assert_string_equal(text, "V\t2\n\nA\tB\nINBOX\nP&AOQ-r\tQ\\2ez\n");
	free(text);
	free(path);
	path = xasprintf("%s/tmp", f->root);
	assert_int_equal(count_files(path), 0);

	assert_int_equal(drv->list_folders(f->m, &l, &err), 0);
	assert_true(find_folder(&l, "INBOX")->subscribed);
	assert_true(find_folder(&l, "A/B")->subscribed);
	assert_false(find_folder(&l, "A")->subscribed);
	assert_true(find_folder(&l, "Pär/Q.z")->subscribed);
	assert_false(find_folder(&l, "Plain")->subscribed);
	free_folders(&l);
	free(path);
}

/* ---- reading back ---- */

struct sink_rec {
	struct buf data[8];
	struct mbx_msg_info info[8];
	int n;
	size_t max_chunk;
	bool in_msg;
};

static int sink_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct sink_rec *s = ctx;

	(void)err;
	assert_false(s->in_msg);
	assert_true(s->n < 8);
	s->info[s->n] = *info;
	s->info[s->n].keywords = NULL;
	s->in_msg = true;
	return 0;
}

static int sink_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct sink_rec *s = ctx;

	(void)err;
	assert_true(s->in_msg);
	if (len > s->max_chunk)
		s->max_chunk = len;
	buf_append(&s->data[s->n], data, len);
	return 0;
}

static int sink_end(void *ctx, struct mf_error *err)
{
	struct sink_rec *s = ctx;

	(void)err;
	assert_true(s->in_msg);
	s->in_msg = false;
	s->n++;
	return 0;
}

struct list_rec {
	struct mbx_msg_info info[8];
	char kws[8][128];
	int n;
};

static int list_cb(void *ctx, const struct mbx_msg_info *info)
{
	struct list_rec *r = ctx;
	struct buf b = BUF_INIT;

	assert_true(r->n < 8);
	r->info[r->n] = *info;
	r->info[r->n].keywords = NULL;
	for (size_t i = 0; i < info->keyword_count; i++)
		buf_printf(&b, "%s%s", i > 0 ? " " : "", info->keywords[i]);
	snprintf(r->kws[r->n], sizeof(r->kws[0]), "%s", buf_cstr(&b));
	buf_free(&b);
	r->n++;
	return 0;
}

static void test_list_fetch_roundtrip(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_driver *drv = f->m->drv;
	struct mf_error err = { 0, "" };
	static const char nul_msg[] = "Subject: nul\r\n\r\na\0b\0\0c\r\n";
	static const char mixed[] = "Subject: mixed\n\r\nbare\nand crlf\r\n\nend";
	size_t big_len = 300 * 1000 + 17;
	char *big = xmalloc(big_len);
	char *kws[] = { "$Junk", "Work" };
	struct list_rec lr = { 0 };
	struct sink_rec sr = { 0 };
	struct mbx_sink sink = { sink_begin, sink_data, sink_end, &sr };
	struct mbx_folder_state st;
	uint32_t uids[] = { 3, 1, 99, 0, 2, 4 };

	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)((i * 7919u) >> 3);
	assert_int_equal(drv->create_folder(f->m, "R/ü", MBX_ROLE_NONE, false, &err), 0);
	assert_int_equal(append_msg(f, "R/ü", nul_msg, sizeof(nul_msg) - 1, MBX_SEEN, kws, 2,
				    1111111111, 5, &err), 0);
	assert_int_equal(append_msg(f, "R/ü", mixed, sizeof(mixed) - 1, MBX_FLAGGED | MBX_DRAFT,
				    NULL, 0, 1222222222, 4096, &err), 0);
	assert_int_equal(append_msg(f, "R/ü", big, big_len, MBX_ANSWERED | MBX_DELETED, kws + 1,
				    1, 1333333333, 65536 + 3, &err), 0);
	assert_int_equal(append_msg(f, "R/ü", "", 0, 0, NULL, 0, 1444444444, 1, &err), 0);

	assert_int_equal(drv->folder_state(f->m, "R/ü", &st, &err), 0);
	assert_int_equal(st.count, 4);
	assert_int_equal(st.uidvalidity, 0);
	assert_int_equal(drv->folder_state(f->m, "Nope", &st, &err), MF_ENOTFOUND);

	assert_int_equal(drv->list_messages(f->m, "R/ü", 1, list_cb, &lr, &err), 0);
	assert_int_equal(lr.n, 4);
	assert_int_equal(lr.info[0].uid, 1);
	assert_int_equal(lr.info[0].size, sizeof(nul_msg) - 1);
	assert_int_equal(lr.info[0].flags, MBX_SEEN);
	assert_string_equal(lr.kws[0], "$Junk Work");
	assert_int_equal(lr.info[0].internaldate, 1111111111);
	assert_int_equal(lr.info[1].uid, 2);
	assert_int_equal(lr.info[1].flags, MBX_FLAGGED | MBX_DRAFT);
	assert_string_equal(lr.kws[1], "");
	assert_int_equal(lr.info[2].size, big_len);
	assert_int_equal(lr.info[2].flags, MBX_ANSWERED | MBX_DELETED);
	assert_string_equal(lr.kws[2], "Work");
	assert_int_equal(lr.info[2].internaldate, 1333333333);
	assert_int_equal(lr.info[3].size, 0);
	memset(&lr, 0, sizeof(lr));
	assert_int_equal(drv->list_messages(f->m, "R/ü", 3, list_cb, &lr, &err), 0);
	assert_int_equal(lr.n, 2);
	assert_int_equal(lr.info[0].uid, 3);

	assert_int_equal(drv->fetch(f->m, "R/ü", uids, 6, &sink, &err), 0);
	assert_int_equal(sr.n, 4);
	assert_int_equal(sr.info[0].uid, 3);
	assert_int_equal(sr.data[0].len, big_len);
	assert_memory_equal(sr.data[0].data, big, big_len);
	assert_int_equal(sr.info[0].size, big_len);
	assert_int_equal(sr.info[1].uid, 1);
	assert_int_equal(sr.data[1].len, sizeof(nul_msg) - 1);
	assert_memory_equal(sr.data[1].data, nul_msg, sizeof(nul_msg) - 1);
	assert_int_equal(sr.info[1].flags, MBX_SEEN);
	assert_int_equal(sr.info[1].internaldate, 1111111111);
	assert_int_equal(sr.data[2].len, sizeof(mixed) - 1);
	assert_memory_equal(sr.data[2].data, mixed, sizeof(mixed) - 1);
	assert_int_equal(sr.info[3].uid, 4);
	assert_int_equal(sr.data[3].len, 0);
	assert_true(sr.max_chunk <= MAILDIR_CHUNK);
	for (int i = 0; i < 8; i++)
		buf_free(&sr.data[i]);

	/* After a message is removed and another renamed (flags changed),
	 * a fresh listing numbers what is left. */
	{
		char *dir = xasprintf("%s/.R.&APw-/cur", f->root);
		uint32_t two[] = { 2, 4 };
		DIR *d = opendir(dir);
		struct dirent *de;

		assert_non_null(d);
		while ((de = readdir(d)) != NULL) {
			char *from = xasprintf("%s/%s", dir, de->d_name);

			if (strstr(de->d_name, ",S=0,") != NULL) {
				assert_int_equal(unlink(from), 0);
			} else if (strstr(de->d_name, ":2,DF") != NULL) {
				char *to = xstrdup(from);

				memcpy(strstr(to, ":2,") + 3, "DS", 2);
				assert_int_equal(rename(from, to), 0);
				free(to);
			}
			free(from);
		}
		closedir(d);
		free(dir);
		memset(&sr, 0, sizeof(sr));
		f->m->drv->close(&f->m);
		assert_int_equal(maildir_open(f->root, &f->m, &err), 0);
		assert_int_equal(f->m->drv->fetch(f->m, "R/ü", two, 2, &sink, &err), 0);
	}
	assert_int_equal(sr.n, 1);
	assert_int_equal(sr.info[0].flags, MBX_DRAFT | MBX_SEEN);
	assert_memory_equal(sr.data[0].data, mixed, sizeof(mixed) - 1);
	for (int i = 0; i < 8; i++)
		buf_free(&sr.data[i]);
	free(big);
}

static void test_fetch_renamed_cached(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_driver *drv = f->m->drv;
	struct mf_error err = { 0, "" };
	struct sink_rec sr = { 0 };
	struct mbx_sink sink = { sink_begin, sink_data, sink_end, &sr };
	struct mbx_folder_state st;
	struct stat cst;
	uint32_t one = 1;
	char *from, *to, *cur = xasprintf("%s/cur", f->root);

	assert_int_equal(append_msg(f, "INBOX", MSG1, sizeof(MSG1) - 1, 0, NULL, 0, 5, 9, &err), 0);
	assert_int_equal(drv->folder_state(f->m, "INBOX", &st, &err), 0);
	assert_int_equal(st.count, 1);
	/* Dovecot marks it seen: the file is renamed under the cached list
	 * (cur/'s mtime put back so that the cache is used). */
	assert_int_equal(stat(cur, &cst), 0);
	from = xasprintf("%s/cur/%s", f->root, f->done.location);
	to = xasprintf("%sS", from);
	assert_int_equal(rename(from, to), 0);
	{
		struct timespec t[2] = { cst.st_atim, cst.st_mtim };

		assert_int_equal(utimensat(AT_FDCWD, cur, t, 0), 0);
	}
	free(cur);
	assert_int_equal(drv->fetch(f->m, "INBOX", &one, 1, &sink, &err), 0);
	assert_int_equal(sr.n, 1);
	assert_int_equal(sr.info[0].flags, MBX_SEEN);
	assert_memory_equal(sr.data[0].data, MSG1, sizeof(MSG1) - 1);
	buf_free(&sr.data[0]);
	free(from);
	free(to);
}

/* One fsync of cur/ for many renames: reports wait for it, until the batch
 * is full, another folder is written, or a flush. */
static void test_reports_after_dir_sync(void **state)
{
	struct fixture *f = *state;
	const struct mailbox_driver *drv = f->m->drv;
	struct mf_error err = { 0 };
	const char body[] = "Subject: s\r\n\r\nb\r\n";

	assert_int_equal(drv->create_folder(f->m, "Other", MBX_ROLE_NONE, false, &err), 0);
	for (int i = 0; i < 3; i++) {
		struct mbx_msg_info info = { 0 };
		struct mbx_append *ap;

		info.size = sizeof(body) - 1;
		assert_int_equal(drv->append_begin(f->m, "INBOX", &info, 7, &ap, &err), 0);
		assert_int_equal(drv->append_data(ap, body, sizeof(body) - 1, &err), 0);
		assert_int_equal(drv->append_end(ap, &err), 0);
	}
	assert_int_equal(f->done.calls, 0);
	/* The three files are in cur/ already (settling by name finds them). */
	{
		char *cur = xasprintf("%s/cur", f->root);

		assert_int_equal(count_files(cur), 3);
		free(cur);
	}
	/* Another folder: INBOX's cur/ is synced and its appends reported. */
	assert_int_equal(append_msg(f, "Other", body, sizeof(body) - 1, 0, NULL, 0, 1700000000,
				    64, &err), 0);
	assert_int_equal(f->done.calls, 4);
	assert_int_equal(f->done.rc, 0);
	/* A full batch is reported without a flush. */
	for (int i = 0; i < MAILDIR_SYNC_BATCH; i++) {
		struct mbx_msg_info info = { 0 };
		struct mbx_append *ap;

		info.size = sizeof(body) - 1;
		assert_int_equal(drv->append_begin(f->m, "INBOX", &info, 8, &ap, &err), 0);
		assert_int_equal(drv->append_data(ap, body, sizeof(body) - 1, &err), 0);
		assert_int_equal(drv->append_end(ap, &err), 0);
	}
	assert_int_equal(f->done.calls, 4 + MAILDIR_SYNC_BATCH);
	assert_int_equal(drv->append_flush(f->m, &err), 0);
	assert_int_equal(f->done.calls, 4 + MAILDIR_SYNC_BATCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_flags_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reports_after_dir_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_crlf_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_many_keywords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_size_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_abort_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folders_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_fetch_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fetch_renamed_cached, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
