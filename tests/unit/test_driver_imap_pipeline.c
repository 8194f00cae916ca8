/* Unit tests for the IMAP driver's pipelined folder work
 * (src/drivers/imap-driver.h): create_folders (CREATE and SUBSCRIBE of
 * many folders in one burst, SUBSCRIBE left out where the listing says
 * subscribed), folder_states (STATUS of many folders in one burst) and a
 * listing whose EXAMINE goes with its UID FETCH; against the scripted
 * server of test_driver_imap_fake.h, whose script expects every command
 * of a burst before it answers any.
 */
#include "test_driver_imap_fake.h"

/* ---- create_folders -------------------------------------------------------------- */

static void test_create_folders(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("NAMESPACE CREATE-SPECIAL-USE SPECIAL-USE LIST-EXTENDED"),
		/* NAMESPACE and LIST go together. */
		"C:A2 NAMESPACE",
		"C:A3 LIST \"\" \"*\" RETURN (SPECIAL-USE SUBSCRIBED)",
		"S:* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nA2 OK done",
		"S:* LIST (\\Subscribed) \"/\" INBOX\r\n* LIST () \"/\" Old\r\n"
		"* LIST (\\Subscribed) \"/\" Keep\r\nA3 OK done",
		/* One burst: INBOX and Keep are subscribed already; Old only
		 * needs SUBSCRIBE. */
		"C:A4 SUBSCRIBE Old",
		"C:A5 CREATE Sent (USE (\\Sent))",
		"C:A6 SUBSCRIBE Sent",
		"C:A7 CREATE Bad",
		"C:A8 CREATE Drafts (USE (\\Drafts))",
		"C:A9 SUBSCRIBE Drafts",
		"C:A10 CREATE Dup",
		"S:A4 OK done\r\nA5 OK done\r\nA6 OK done\r\nA7 NO [NOPERM] Permission denied",
		"S:A8 NO [USEATTR] cannot\r\nA9 NO [NONEXISTENT] no such\r\n"
		"A10 NO [ALREADYEXISTS] Mailbox exists",
		/* The second tries, one by one as before: Bad is not there. */
		"C:A11 LIST \"\" Bad",
		"S:A11 OK done",
		/* Drafts without the role, then its SUBSCRIBE again. */
		"C:A12 CREATE Drafts",
		"S:A12 OK done",
		"C:A13 SUBSCRIBE Drafts",
		"S:A13 OK done",
		FAKE_LOGOUT("A14"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };
	struct mbx_create q[] = {
		{ .folder = "INBOX", .role = MBX_ROLE_INBOX, .subscribe = true },
		{ .folder = "Old", .subscribe = true },
		{ .folder = "Keep", .subscribe = true },
		{ .folder = "Sent", .role = MBX_ROLE_SENT, .subscribe = true },
		{ .folder = "Bad", .subscribe = false },
		{ .folder = "Drafts", .role = MBX_ROLE_DRAFTS, .subscribe = true },
		{ .folder = "Dup", .subscribe = false },
	};

	(void)state;
	assert_non_null(m->drv->create_folders);
	assert_int_equal(m->drv->create_folders(m, q, sizeof(q) / sizeof(q[0]), &err), 0);
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		assert_int_equal(q[i].rc, i == 4 ? MF_ENO : 0);
	assert_string_equal(q[4].err.msg, "CREATE Bad failed: [NOPERM] Permission denied");
	assert_string_equal(m->drv->role_folder(m, MBX_ROLE_SENT), "Sent");
	assert_string_equal(m->drv->role_folder(m, MBX_ROLE_DRAFTS), "Drafts");
	/* Created and subscribed: nothing more is sent. */
	assert_int_equal(m->drv->create_folder(m, "Keep", MBX_ROLE_NONE, true, &err), 0);
	assert_int_equal(m->drv->create_folder(m, "Dup", MBX_ROLE_NONE, false, &err), 0);
	fake_finish(&f, &m);
}

/* Without LIST-EXTENDED and with LSUB refused, the listing cannot tell
 * who is subscribed: SUBSCRIBE is sent. */
static void test_create_subscriptions_unknown(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(""),
		"C:A2 LIST \"\" \"*\"",
		"C:A3 LSUB \"\" \"*\"",
		"S:* LIST () \"/\" INBOX\r\n* LIST () \"/\" Old\r\nA2 OK done",
		"S:A3 BAD no LSUB here",
		"C:A4 SUBSCRIBE Old",
		"S:A4 OK done",
		FAKE_LOGOUT("A5"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };

	(void)state;
	assert_int_equal(m->drv->create_folder(m, "Old", MBX_ROLE_NONE, true, &err), 0);
	fake_finish(&f, &m);
}

/* A refused CREATE whose SUBSCRIBE (same burst) went through: the
 * subscription is taken back, the folder not being there. */
static void test_create_refused_unsubscribes(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(""),
		"C:A2 LIST \"\" \"*\"",
		"C:A3 LSUB \"\" \"*\"",
		"S:* LIST () \"/\" INBOX\r\nA2 OK done",
		"S:A3 OK done",
		"C:A4 CREATE Gone",
		"C:A5 SUBSCRIBE Gone",
		"S:A4 NO [NOPERM] Permission denied\r\nA5 OK done",
		"C:A6 LIST \"\" Gone",
		"S:A6 OK done",
		"C:A7 UNSUBSCRIBE Gone",
		"S:A7 OK done",
		FAKE_LOGOUT("A8"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };

	(void)state;
	assert_int_equal(m->drv->create_folder(m, "Gone", MBX_ROLE_NONE, true, &err), MF_ENO);
	assert_string_equal(err.msg, "CREATE Gone failed: [NOPERM] Permission denied");
	fake_finish(&f, &m);
}

/* ---- folder_states, listing --------------------------------------------------------- */

struct counted {
	size_t n;
	uint32_t last_uid;
};

static int on_counted(void *ctx, const struct mbx_msg_info *info)
{
	struct counted *c = ctx;

	c->n++;
	c->last_uid = info->uid;
	return 0;
}

static void test_folder_states(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("CONDSTORE"),
		FAKE_LIST_SLASH,
		"C:A4 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)",
		"C:A5 STATUS Work (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)",
		"C:A6 STATUS Gone (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)",
		"S:* STATUS INBOX (MESSAGES 3 UIDNEXT 9 UIDVALIDITY 7 HIGHESTMODSEQ 20)\r\nA4 OK done",
		"S:* STATUS \"Work\" (UIDVALIDITY 8 UIDNEXT 2 MESSAGES 1 HIGHESTMODSEQ 5)\r\nA5 OK done",
		"S:A6 NO [NONEXISTENT] no such",
		/* EXAMINE and UID FETCH in one burst. */
		"C:A7 EXAMINE INBOX (CONDSTORE)",
		"C:A8 UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"S:* 1 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\nA7 OK [READ-ONLY] done",
		"S:* 1 FETCH (UID 4 RFC822.SIZE 10 FLAGS () INTERNALDATE "
		"\"01-Jan-2024 00:00:00 +0000\")\r\nA8 OK done",
		/* Work was recreated since STATUS: the listing fails. */
		"C:A9 EXAMINE Work (CONDSTORE)",
		"C:A10 UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"S:* 1 EXISTS\r\n* OK [UIDVALIDITY 99] x\r\nA9 OK [READ-ONLY] done",
		"S:* 1 FETCH (UID 1 RFC822.SIZE 10 FLAGS () INTERNALDATE "
		"\"01-Jan-2024 00:00:00 +0000\")\r\nA10 OK done",
		/* A refused EXAMINE: what comes behind it is not the folder's. */
		"C:A11 EXAMINE Gone (CONDSTORE)",
		"C:A12 UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"S:A11 NO [NONEXISTENT] no such",
		"S:* 1 FETCH (UID 1 RFC822.SIZE 10 FLAGS () INTERNALDATE "
		"\"01-Jan-2024 00:00:00 +0000\")\r\nA12 BAD no mailbox selected",
		/* An empty folder: the BAD to "1:*" is no error. */
		"C:A13 EXAMINE INBOX (CONDSTORE)",
		"C:A14 UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"S:* 0 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\nA13 OK [READ-ONLY] done",
		"S:A14 BAD invalid",
		FAKE_LOGOUT("A15"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };
	const char *const names[] = { "INBOX", "Work", "Gone" };
	struct mbx_folder_state st[3];
	bool ok[3];
	struct counted c = { 0 };

	(void)state;
	assert_non_null(m->drv->folder_states);
	assert_int_equal(m->drv->folder_states(m, names, 3, st, ok, &err), 0);
	assert_true(ok[0]);
	assert_int_equal(st[0].count, 3);
	assert_int_equal(st[0].uidnext, 9);
	assert_int_equal(st[0].uidvalidity, 7);
	assert_int_equal(st[0].highestmodseq, 20);
	assert_true(ok[1]);
	assert_int_equal(st[1].count, 1);
	assert_int_equal(st[1].uidnext, 2);
	assert_int_equal(st[1].uidvalidity, 8);
	assert_int_equal(st[1].highestmodseq, 5);
	assert_false(ok[2]);
	assert_int_equal(m->drv->list_messages(m, "INBOX", 1, on_counted, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.last_uid, 4);
	assert_int_equal(m->drv->list_messages(m, "Work", 1, on_counted, &c, &err), MF_EIO);
	assert_string_equal(err.msg,
			    "UIDVALIDITY of Work changed from 8 to 99 while it was being looked at");
	c.n = 0;
	assert_int_equal(m->drv->list_messages(m, "Gone", 1, on_counted, &c, &err), MF_ENO);
	assert_string_equal(err.msg, "EXAMINE Gone failed: [NONEXISTENT] no such");
	assert_int_equal(c.n, 0);
	/* Not selected any more (the refused EXAMINE closed INBOX). */
	assert_int_equal(m->drv->list_messages(m, "INBOX", 1, on_counted, &c, &err), 0);
	assert_int_equal(c.n, 0);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_folders),
		cmocka_unit_test(test_create_subscriptions_unknown),
		cmocka_unit_test(test_create_refused_unsubscribes),
		cmocka_unit_test(test_folder_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
