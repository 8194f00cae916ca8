/* Unit tests for the IMAP driver's source side (src/drivers/imap-driver.h):
 * opening, folder listing and names, message listing, streamed fetches;
 * against the scripted server of test_driver_imap_fake.h. The target side
 * is in test_driver_imap_append.c.
 */
#include "test_driver_imap_fake.h"

/* ---- open -------------------------------------------------------------------------- */

static void test_open_auth_failure(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready",
		"C:A1 AUTHENTICATE PLAIN AGFsaWNlAHB3",
		"S:A1 NO [AUTHENTICATIONFAILED] Authentication failed.",
		NULL,
	};
	struct imap_mbx_opts o;
	struct mf_error err = { 0 };
	struct mbx *m = NULL;
	struct fake f;

	(void)state;
	fake_listen(&f, script);
	fake_opts(&f, &o);
	o.auth = IMAP_AUTH_PLAIN;
	assert_int_equal(imap_mbx_open(&o, &m, &err), MF_EAUTH);
	assert_null(m);
	assert_string_equal(err.msg,
			    "AUTHENTICATE PLAIN rejected: [AUTHENTICATIONFAILED] Authentication failed.");
	fake_finish(&f, &m);

	/* Nobody listening. */
	o.port = f.port;
	assert_int_equal(imap_mbx_open(&o, &m, &err), MF_ECONNECT);
}

static void test_open_master_user(void **state)
{
	static const char *const script[] = {
		"S:* OK [CAPABILITY IMAP4rev1] ready",
		"C:A1 LOGIN \"alice*master\" masterpw",
		"S:A1 OK [CAPABILITY IMAP4rev1] Logged in",
		FAKE_LOGOUT("A2"),
		NULL,
	};
	struct imap_mbx_opts o;
	struct mf_error err = { 0 };
	struct mbx *m = NULL;
	struct fake f;

	(void)state;
	fake_listen(&f, script);
	fake_opts(&f, &o);
	o.password = NULL;
	o.admin_user = "master";
	o.admin_password = "masterpw";
	o.impersonation = IMAP_IMP_MASTER_USER;
	assert_int_equal(imap_mbx_open(&o, &m, &err), 0);
	fake_finish(&f, &m);
}

/* ---- folders ------------------------------------------------------------------------ */

static const struct mbx_folder *find_folder(const struct mbx_folder_list *l, const char *name)
{
	for (size_t i = 0; i < l->count; i++) {
		if (strcmp(l->folders[i].name, name) == 0)
			return &l->folders[i];
	}
	fail_msg("folder %s not listed", name);
	return NULL;
}

/* Courier / Cyrus style: "INBOX." prefix, '.' separator, no SPECIAL-USE. */
static void test_list_folders_prefix(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("NAMESPACE"),
		"C:A2 NAMESPACE",
		"S:* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"#shared.\" \".\"))",
		"S:A2 OK done",
		"C:A3 LIST \"\" \"*\"",
		"C:A4 LSUB \"\" \"*\"",
		"S:* LIST (\\HasChildren) \".\" INBOX",
		"S:* LIST (\\HasNoChildren) \".\" INBOX.Sent",
		"S:* LIST (\\HasNoChildren) \".\" \"INBOX.Deleted Items\"",
		"S:* LIST (\\HasNoChildren) \".\" INBOX.Entw&APw-rfe",
		"S:* LIST (\\HasNoChildren) \".\" INBOX.a/b",
		"S:* LIST (\\HasNoChildren) \".\" INBOX.Archive.2024",
		"S:* LIST (\\Noselect) \".\" user.bob",
		"S:* LIST () \".\" user.bob.Sent",
		"S:* LIST () \".\" #shared.news",
		"S:A3 OK done",
		"S:* LSUB () \".\" INBOX\r\n* LSUB () \".\" INBOX.Sent",
		"S:A4 OK done",
		FAKE_LOGOUT("A5"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mbx_folder_list l;
	struct mf_error err = { 0 };
	const struct mbx_folder *x;

	(void)state;
	assert_int_equal(m->drv->list_folders(m, &l, &err), 0);
	assert_int_equal(l.count, 8);
	assert_string_equal(l.folders[0].name, "INBOX");
	assert_int_equal(l.folders[0].role, MBX_ROLE_INBOX);
	assert_true(l.folders[0].subscribed);
	x = find_folder(&l, "Sent");
	assert_int_equal(x->role, MBX_ROLE_SENT);
	assert_true(x->subscribed);
	assert_int_equal(find_folder(&l, "Deleted Items")->role, MBX_ROLE_TRASH);
	x = find_folder(&l, "Entw\xc3\xbc" "rfe");
	assert_int_equal(x->role, MBX_ROLE_NONE);
	assert_false(x->subscribed);
	/* "a/b" on a '.' server: b inside a. */
	assert_false(find_folder(&l, "a/b")->noselect);
	assert_true(find_folder(&l, "a")->noselect);
	x = find_folder(&l, "Archive");
	assert_true(x->noselect);
	assert_int_equal(x->role, MBX_ROLE_NONE);
	assert_false(find_folder(&l, "Archive/2024")->noselect);
	/* Parents come before children. */
	for (size_t i = 1; i < l.count; i++)
		assert_true(strcmp(l.folders[i - 1].name, l.folders[i].name) < 0 || i == 1);
	mbx_folder_list_free(&l);
	/* Roles of the source are the target's too. */
	assert_string_equal(m->drv->role_folder(m, MBX_ROLE_TRASH), "Deleted Items");
	assert_null(m->drv->role_folder(m, MBX_ROLE_JUNK));
	fake_finish(&f, &m);
}

/* Flat server (NIL delimiter), SPECIAL-USE and LIST-EXTENDED, no NAMESPACE. */
static void test_list_folders_flat(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("SPECIAL-USE LIST-EXTENDED"),
		"C:A2 LIST \"\" \"*\" RETURN (SPECIAL-USE SUBSCRIBED)",
		"S:* LIST (\\Subscribed) NIL inbox",
		"S:* LIST (\\Sent) NIL Gesendet",
		"S:* LIST (\\Subscribed) NIL a.b",
		"S:* LIST () NIL Sent",
		"S:* LIST (\\NonExistent \\Subscribed) NIL Gone",
		"S:A2 OK done",
		FAKE_LOGOUT("A3"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mbx_folder_list l;
	struct mf_error err = { 0 };

	(void)state;
	assert_int_equal(m->drv->list_folders(m, &l, &err), 0);
	assert_int_equal(l.count, 4);
	assert_string_equal(l.folders[0].name, "INBOX");
	assert_true(l.folders[0].subscribed);
	/* The special-use folder wins over the well-known name. */
	assert_int_equal(find_folder(&l, "Gesendet")->role, MBX_ROLE_SENT);
	assert_int_equal(find_folder(&l, "Sent")->role, MBX_ROLE_NONE);
	assert_true(find_folder(&l, "a.b")->subscribed);
	mbx_folder_list_free(&l);
	fake_finish(&f, &m);
}

/* ---- list_messages --------------------------------------------------------------------- */

struct listed {
	size_t n;
	uint32_t uid[8];
	uint64_t size[8];
	uint32_t flags[8];
	char kw[8][64];
	time_t date[8];
	int tz[8];
};

static int on_msg(void *ctx, const struct mbx_msg_info *info)
{
	struct listed *l = ctx;
	size_t i = l->n++;

	l->uid[i] = info->uid;
	l->size[i] = info->size;
	l->flags[i] = info->flags;
	l->kw[i][0] = '\0';
	for (size_t k = 0; k < info->keyword_count; k++) {
		size_t used = strlen(l->kw[i]);

		snprintf(l->kw[i] + used, sizeof(l->kw[i]) - used, "%s ", info->keywords[k]);
	}
	l->date[i] = info->internaldate;
	l->tz[i] = info->tz_offset_min;
	return 0;
}

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return timegm(&tm);
}

static void test_list_messages(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("UIDPLUS"),
		"C:A2 EXAMINE Work",
		"S:* 4 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\n* OK [UIDNEXT 20] x",
		"S:A2 OK [READ-ONLY] done",
		"C:A3 UID FETCH 10:* (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"S:* 2 FETCH (UID 10 RFC822.SIZE 1234 FLAGS (\\Seen \\Recent $Label1 \\Flagged) "
		"INTERNALDATE \" 7-Jul-1996 02:44:25 -0700\")",
		"S:* 1 FETCH (FLAGS (\\Seen))",
		"S:* 3 FETCH (INTERNALDATE \"31-Dec-2023 23:59:59 +0530\" FLAGS () UID 15 "
		"RFC822.SIZE 7 MODSEQ (12))",
		"S:A3 OK done",
		/* "n:*" with nothing at or above n: the last message comes. */
		"C:A4 UID FETCH 16:* (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"S:* 3 FETCH (UID 15 RFC822.SIZE 7 FLAGS (\\Answered \\Draft \\Deleted) "
		"INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:A4 OK done",
		"C:A5 EXAMINE Work",
		"S:* 4 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\nA5 OK done",
		FAKE_LOGOUT("A6"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mbx_folder_state st;
	struct listed l = { 0 };
	struct mf_error err = { 0 };

	(void)state;
	assert_int_equal(m->drv->list_messages(m, "Work", 10, on_msg, &l, &err), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.uid[0], 10);
	assert_int_equal(l.size[0], 1234);
	assert_int_equal(l.flags[0], MBX_SEEN | MBX_FLAGGED);
	assert_string_equal(l.kw[0], "$Label1 ");
	assert_int_equal(l.date[0], utc(1996, 7, 7, 9, 44, 25));
	assert_int_equal(l.tz[0], -420);
	assert_int_equal(l.uid[1], 15);
	assert_int_equal(l.flags[1], 0);
	assert_string_equal(l.kw[1], "");
	assert_int_equal(l.date[1], utc(2023, 12, 31, 18, 29, 59));
	assert_int_equal(l.tz[1], 330);
	/* The folder stays selected: no second EXAMINE. */
	l.n = 0;
	assert_int_equal(m->drv->list_messages(m, "Work", 16, on_msg, &l, &err), 0);
	assert_int_equal(l.n, 0);
	/* folder_state always asks again. */
	assert_int_equal(m->drv->folder_state(m, "Work", &st, &err), 0);
	assert_int_equal(st.uidvalidity, 42);
	assert_int_equal(st.uidnext, 0);
	assert_int_equal(st.count, 4);
	fake_finish(&f, &m);
}

/* ---- fetch ----------------------------------------------------------------------------- */

struct got {
	size_t n;
	uint32_t uid[8];
	uint64_t size[8];
	uint32_t flags[8];
	size_t chunks[8];
	char *data[8];
	size_t len[8];
	bool open;
	int fail_at;            /* fail data of this message index (1-based), 0 never */
};

static int sink_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct got *g = ctx;

	(void)err;
	assert_false(g->open);
	g->open = true;
	g->uid[g->n] = info->uid;
	g->size[g->n] = info->size;
	g->flags[g->n] = info->flags;
	g->data[g->n] = xmalloc(info->size + 1);
	g->len[g->n] = 0;
	g->chunks[g->n] = 0;
	return 0;
}

static int sink_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct got *g = ctx;

	assert_true(g->open);
	if (g->fail_at == (int)g->n + 1)
		return mf_error_set(err, MF_EIO, "disk full");
	assert_true(g->len[g->n] + len <= g->size[g->n]);
	memcpy(g->data[g->n] + g->len[g->n], data, len);
	g->len[g->n] += len;
	g->chunks[g->n]++;
	return 0;
}

static int sink_end(void *ctx, struct mf_error *err)
{
	struct got *g = ctx;

	(void)err;
	assert_true(g->open);
	assert_int_equal(g->len[g->n], g->size[g->n]);
	g->open = false;
	g->n++;
	return 0;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < 8; i++)
		free(g->data[i]);
}

#define BIG_SIZE 100000

/* A body of BIG_SIZE bytes with CRLF lines, deterministic. */
static char *big_body(void)
{
	char *b = xmalloc(BIG_SIZE + 1);

	for (size_t i = 0; i < BIG_SIZE; i++)
		b[i] = i % 78 == 76 ? '\r' : i % 78 == 77 ? '\n' : (char)('a' + i % 26);
	b[BIG_SIZE] = '\0';
	return b;
}

static void test_fetch_any_order(void **state)
{
	char *big = big_body();
	char *lit1 = xasprintf("R:%.*s", 40000, big);
	char *lit2 = xasprintf("R:%.*s", 30000, big + 40000);
	char *lit3 = xasprintf("R:%s", big + 70000);
	const char *script[] = {
		FAKE_LOGIN(""),
		"C:A2 EXAMINE INBOX",
		"S:* 5 EXISTS\r\nA2 OK [READ-ONLY] done",
		"C:A3 UID FETCH 3,5,7,9:10 (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"C:A4 UID FETCH 3,5,7,9:10 (UID BODY.PEEK[])",
		"S:* 1 FETCH (UID 3 RFC822.SIZE 11 FLAGS (\\Seen) INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:* 2 FETCH (UID 5 RFC822.SIZE 0 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:* 3 FETCH (UID 7 RFC822.SIZE 100000 FLAGS (\\Answered) INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:* 4 FETCH (UID 9 RFC822.SIZE 5 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:A3 OK done",
		/* UID after BODY[]; unsolicited flag updates in between. */
		"S:* 2 FETCH (FLAGS (\\Deleted))",
		"S:* 1 FETCH (BODY[] {11}\r\nhello world UID 3)",
		"S:* 3 FETCH (FLAGS (\\Answered \\Flagged) UID 7)",
		"S:* 2 FETCH (UID 5 BODY[] {0}\r\n)",
		/* seq 1 goes away: 7 is now seq 2, 9 seq 3. */
		"S:* 1 EXPUNGE",
		"R:* 2 FETCH (BODY[] {100000}\r\n",
		lit1, "W:20", lit2, "W:20", lit3,
		"S:)\r\n* 3 FETCH (UID 9 BODY[] \"abcde\")",
		"S:A4 OK done",
		/* Asked twice for a UID set that is not contiguous. */
		"C:A5 UID FETCH 9 (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"C:A6 UID FETCH 9 (UID BODY.PEEK[])",
		"S:* 3 FETCH (UID 9 RFC822.SIZE 5 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:A5 OK done",
		"R:* 3 FET", "W:20", "R:CH (UID 9", "W:20",
		"S: BODY[] {5}\r\nHello)",
		"S:A6 NO [EXPUNGEISSUED] Some messages were expunged",
		FAKE_LOGOUT("A7"),
		NULL,
	};
	static const uint32_t uids[] = { 7, 3, 10, 5, 9, 3 };
	const struct mbx_sink sink = { sink_begin, sink_data, sink_end, NULL };
	struct mbx_sink s = sink;
	struct got g = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m;

	(void)state;
	m = fake_open(&f, script);
	s.ctx = &g;
	assert_int_equal(m->drv->fetch(m, "INBOX", uids, 6, &s, &err), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.uid[0], 3);
	assert_int_equal(g.flags[0], MBX_SEEN);
	assert_int_equal(g.len[0], 11);
	assert_memory_equal(g.data[0], "hello world", 11);
	assert_int_equal(g.uid[1], 5);
	assert_int_equal(g.size[1], 0);
	assert_int_equal(g.flags[1], MBX_DELETED);
	/* The flag change before its body was kept. */
	assert_int_equal(g.uid[2], 7);
	assert_int_equal(g.flags[2], MBX_ANSWERED | MBX_FLAGGED);
	assert_int_equal(g.len[2], BIG_SIZE);
	assert_memory_equal(g.data[2], big, BIG_SIZE);
	assert_true(g.chunks[2] >= 2);
	assert_int_equal(g.uid[3], 9);
	assert_memory_equal(g.data[3], "abcde", 5);
	got_free(&g);

	/* The response's start arrives in pieces; EXPUNGEISSUED is no
	 * failure. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(m->drv->fetch(m, "INBOX", &uids[4], 1, &s, &err), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.uid[0], 9);
	assert_memory_equal(g.data[0], "Hello", 5);
	got_free(&g);
	fake_finish(&f, &m);
	free(big);
	free(lit1);
	free(lit2);
	free(lit3);
}

static void test_fetch_sink_failure(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(""),
		"C:A2 EXAMINE INBOX",
		"S:* 2 EXISTS\r\nA2 OK [READ-ONLY] done",
		"C:A3 UID FETCH 1:2 (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"C:A4 UID FETCH 1:2 (UID BODY.PEEK[])",
		"S:* 1 FETCH (UID 1 RFC822.SIZE 3 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:* 2 FETCH (UID 2 RFC822.SIZE 3 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:A3 OK done",
		"S:* 1 FETCH (UID 1 BODY[] {3}\r\nabc)",
		"S:* 2 FETCH (UID 2 BODY[] {3}\r\ndef)",
		"S:A4 OK done",
		/* The connection is still usable. */
		"C:A5 EXAMINE INBOX",
		"S:* 2 EXISTS\r\n* OK [UIDVALIDITY 9] x\r\nA5 OK done",
		/* A wrong UID after the body. */
		"C:A6 UID FETCH 1 (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"C:A7 UID FETCH 1 (UID BODY.PEEK[])",
		"S:* 1 FETCH (UID 1 RFC822.SIZE 3 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")",
		"S:A6 OK done",
		"S:* 1 FETCH (BODY[] {3}\r\nabc UID 2)",
		"S:A7 OK done",
		FAKE_LOGOUT("A8"),
		NULL,
	};
	static const uint32_t uids[] = { 1, 2 };
	struct got g = { .fail_at = 1 };
	struct mbx_sink s = { sink_begin, sink_data, sink_end, &g };
	struct mbx_folder_state st;
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = fake_open(&f, script);

	(void)state;
	assert_int_equal(m->drv->fetch(m, "INBOX", uids, 2, &s, &err), MF_EIO);
	assert_string_equal(err.msg, "disk full");
	assert_int_equal(g.n, 0);
	got_free(&g);
	assert_int_equal(m->drv->folder_state(m, "INBOX", &st, &err), 0);
	assert_int_equal(st.uidvalidity, 9);
	memset(&g, 0, sizeof(g));
	assert_int_equal(m->drv->fetch(m, "INBOX", uids, 1, &s, &err), MF_EPROTO);
	assert_string_equal(err.msg, "server sent the message with UID 2 where UID 1 was expected");
	assert_int_equal(g.n, 0);
	got_free(&g);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_auth_failure),
		cmocka_unit_test(test_open_master_user),
		cmocka_unit_test(test_list_folders_prefix),
		cmocka_unit_test(test_list_folders_flat),
		cmocka_unit_test(test_list_messages),
		cmocka_unit_test(test_fetch_any_order),
		cmocka_unit_test(test_fetch_sink_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
