/* Unit tests for the IMAP driver's target side (src/drivers/imap-driver.h):
 * creating folders, roles, streamed and pipelined appends; against the
 * scripted server of test_driver_imap_fake.h.
 */
#include "test_driver_imap_fake.h"

#include "util/buf.h"

/* ---- create_folder, role_folder ------------------------------------------------------ */

static void test_create_folder(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("NAMESPACE CREATE-SPECIAL-USE SPECIAL-USE"),
		"C:A2 NAMESPACE",
		"S:* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\nA2 OK done",
		"C:A3 LIST \"\" \"*\"",
		"C:A4 LSUB \"\" \"*\"",
		"S:* LIST () \".\" INBOX\r\n* LIST () \".\" INBOX.Trash\r\n"
		"* LIST (\\Junk) \".\" INBOX.Spam\r\n* LIST () \".\" INBOX.Old",
		"S:A3 OK done\r\nA4 OK done",
		/* A role nobody has yet: CREATE with USE. */
		"C:A5 CREATE \"INBOX.Sent Items\" (USE (\\Sent))",
		"S:A5 OK done",
		"C:A6 SUBSCRIBE \"INBOX.Sent Items\"",
		"S:A6 NO not today",
		/* The Trash role is taken (by name): plain CREATE. '.' in a
		 * level becomes '_'; non-ASCII goes modified UTF-7. */
		"C:A7 CREATE INBOX.Archive.v1_2.Entw&APw-rfe",
		"S:A7 NO [ALREADYEXISTS] Mailbox exists",
		/* Refused with USE: again without. */
		"C:A8 CREATE INBOX.Drafts (USE (\\Drafts))",
		"S:A8 NO [USEATTR] cannot",
		"C:A9 CREATE INBOX.Drafts",
		"S:A9 OK done",
		/* NO, but LIST shows it: fine. */
		"C:A10 CREATE INBOX.x",
		"S:A10 NO [SERVERBUG] hmm",
		"C:A11 LIST \"\" INBOX.x",
		"S:* LIST () \".\" INBOX.x\r\nA11 OK done",
		/* NO and not there. */
		"C:A12 CREATE INBOX.y",
		"S:A12 NO [NOPERM] Permission denied",
		"C:A13 LIST \"\" INBOX.y",
		"S:A13 OK done",
		FAKE_LOGOUT("A14"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };

	(void)state;
	assert_string_equal(m->drv->role_folder(m, MBX_ROLE_TRASH), "Trash");
	assert_string_equal(m->drv->role_folder(m, MBX_ROLE_JUNK), "Spam");
	assert_string_equal(m->drv->role_folder(m, MBX_ROLE_INBOX), "INBOX");
	assert_null(m->drv->role_folder(m, MBX_ROLE_SENT));
	assert_int_equal(m->drv->create_folder(m, "Sent Items", MBX_ROLE_SENT, true, &err), 0);
	assert_string_equal(m->drv->role_folder(m, MBX_ROLE_SENT), "Sent Items");
	/* Listed already: nothing sent. */
	assert_int_equal(m->drv->create_folder(m, "Old", MBX_ROLE_NONE, false, &err), 0);
	assert_int_equal(m->drv->create_folder(m, "INBOX", MBX_ROLE_INBOX, false, &err), 0);
	assert_int_equal(m->drv->create_folder(m, "Archive/v1.2/Entw\xc3\xbcrfe", MBX_ROLE_TRASH,
					       false, &err), 0);
	assert_int_equal(m->drv->create_folder(m, "Drafts", MBX_ROLE_DRAFTS, false, &err), 0);
	assert_int_equal(m->drv->create_folder(m, "x", MBX_ROLE_NONE, false, &err), 0);
	assert_int_equal(m->drv->create_folder(m, "y", MBX_ROLE_NONE, false, &err), MF_ENO);
	assert_string_equal(err.msg, "CREATE y failed: [NOPERM] Permission denied");
	assert_int_equal(m->drv->create_folder(m, "a//b", MBX_ROLE_NONE, false, &err), MF_EINVAL);
	fake_finish(&f, &m);
}

/* ---- appends ---------------------------------------------------------------------------- */

static void test_append_literal_plus(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("LITERAL+ UIDPLUS"),
		FAKE_LIST_SLASH,
		/* Everything is sent before any answer. */
		"C:A4 APPEND INBOX (\\Seen \\Flagged $Label1) \"07-Jul-1996 02:44:25 -0700\" {12+}",
		"C:Hello World!",
		"C:A5 APPEND Work () \"07-Jul-1996 02:44:25 -0700\" {18+}",
		"C:Subject: x",
		"C:",
		"C:body",
		"C:A6 APPEND \"Work/Sub Dir\" () {3+}",
		"C:abc",
		"S:A4 OK [APPENDUID 38505 3955] APPEND completed",
		"S:A5 NO [OVERQUOTA] Quota exceeded",
		"S:A6 OK [APPENDUID 38505 3956] APPEND completed",
		FAKE_LOGOUT("A7"),
		NULL,
	};
	char *kw[] = { "$Label1", "bad word" };
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	time_t date = 836732665; /* 1996-07-07 09:44:25 UTC */

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(fake_append(m, "INBOX", MBX_SEEN | MBX_FLAGGED, kw, 2, date,
				     "Hello World!", 1, &err), 0);
	assert_int_equal(fake_append(m, "Work", 0, NULL, 0, date, "Subject: x\r\n\r\nbody", 2,
				     &err), 0);
	assert_int_equal(fake_append(m, "Work/Sub Dir", 0, NULL, 0, 0, "abc", 3, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.token[0], 1);
	assert_int_equal(o.rc[0], 0);
	assert_int_equal(o.uidvalidity[0], 38505);
	assert_int_equal(o.uid[0], 3955);
	assert_string_equal(o.msg[0], "keywords left out (not IMAP atoms): \"bad word\"");
	assert_int_equal(o.token[1], 2);
	assert_int_equal(o.rc[1], MF_ENO);
	assert_string_equal(o.msg[1], "[OVERQUOTA] Quota exceeded");
	assert_int_equal(o.rc[2], 0);
	assert_int_equal(o.uid[2], 3956);
	fake_finish(&f, &m);
}

static void test_append_sync_literal(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("UIDPLUS APPENDLIMIT=100"),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {12}",
		/* Not a byte of the literal before "+". */
		"Q:200",
		"S:+ go ahead",
		"C:Hello World!",
		/* Refused before "+": the bytes are not sent. */
		"C:A5 APPEND INBOX () {5}",
		"S:A5 NO [TOOBIG] Message too large",
		"C:A6 APPEND INBOX () {3}",
		"S:A4 OK APPEND completed",
		"S:+ go ahead",
		"C:abc",
		"S:A6 BAD [PARSE] what",
		FAKE_LOGOUT("A7"),
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	char big[200];

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(fake_append(m, "INBOX", 0, NULL, 0, 0, "Hello World!", 1, &err), 0);
	assert_int_equal(fake_append(m, "INBOX", 0, NULL, 0, 0, "12345", 2, &err), 0);
	assert_int_equal(fake_append(m, "INBOX", 0, NULL, 0, 0, "abc", 3, &err), 0);
	/* Beyond APPENDLIMIT: refused at once, nothing sent, no report. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(fake_append(m, "INBOX", 0, NULL, 0, 0, big, 4, &err), MF_ELIMIT);
	assert_string_equal(err.msg, "message of 199 bytes exceeds the server's APPENDLIMIT of 100");
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.token[0], 2);
	assert_int_equal(o.rc[0], MF_ELIMIT);
	assert_string_equal(o.msg[0], "[TOOBIG] Message too large");
	assert_int_equal(o.token[1], 1);
	assert_int_equal(o.rc[1], 0);
	assert_int_equal(o.uidvalidity[1], 0);
	assert_int_equal(o.token[2], 3);
	assert_int_equal(o.rc[2], MF_EBAD);
	fake_finish(&f, &m);
}

#define FILLER_LINES 200000      /* about 8 MB of untagged data */
#define LARGE_SIZE (16u << 20)

/* A 16 MB literal written while the server, before reading it, sends 8 MB
 * of answers: the client must read while it writes, or both sides stall on
 * full socket buffers. */
static void test_append_large(void **state)
{
	struct buf filler = BUF_INIT;
	char *hdr = xasprintf("C:A5 APPEND INBOX () {%u+}", LARGE_SIZE);
	char *drop = xasprintf("D:%u", LARGE_SIZE);
	char *fill;
	const char *script[] = {
		FAKE_LOGIN("LITERAL+"),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}", "C:abc",
		NULL, /* filler */
		"S:A4 OK done",
		NULL, NULL, "C:",
		"S:A5 OK done",
		FAKE_LOGOUT("A6"),
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mbx_msg_info info = { .size = LARGE_SIZE };
	struct mf_error err = { 0 };
	struct mbx_append *ap;
	char *chunk = xmalloc(65536);
	struct fake f;
	struct mbx *m;

	(void)state;
	buf_puts(&filler, "R:");
	for (int i = 0; i < FILLER_LINES; i++)
		buf_puts(&filler, "* OK [ALERT] the server is chatty today, very chatty\r\n");
	fill = buf_steal(&filler);
	for (size_t i = 0; i < sizeof(script) / sizeof(script[0]); i++) {
		if (script[i] == NULL && i > 0 && strcmp(script[i - 1], "C:abc") == 0)
			script[i] = fill;
		else if (script[i] == NULL && i > 0 && strcmp(script[i - 1], "S:A4 OK done") == 0)
			script[i] = hdr;
		else if (script[i] == NULL && i > 0 && script[i - 1] == hdr)
			script[i] = drop;
	}
	memset(chunk, 'x', 65536);
	m = fake_open(&f, script);
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(fake_append(m, "INBOX", 0, NULL, 0, 0, "abc", 1, &err), 0);
	assert_int_equal(m->drv->append_begin(m, "INBOX", &info, 2, &ap, &err), 0);
	for (uint32_t left = LARGE_SIZE; left > 0;) {
		uint32_t n = left < 65536 ? left : 65536;

		assert_int_equal(m->drv->append_data(ap, chunk, n, &err), 0);
		left -= n;
	}
	assert_int_equal(m->drv->append_end(ap, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.rc[0], 0);
	assert_int_equal(o.rc[1], 0);
	fake_finish(&f, &m);
	free(chunk);
	free(fill);
	free(hdr);
	free(drop);
}

static void test_append_abort(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("LITERAL+"),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}", "C:abc",
		"S:A4 OK done",
		"C:A5 APPEND INBOX () {5+}",
		"D:2",
		/* The connection is given up. */
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mbx_msg_info info = { .size = 5 };
	struct mf_error err = { 0 };
	struct mbx_append *ap;
	struct fake f;
	struct mbx *m = fake_open(&f, script);

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(fake_append(m, "INBOX", 0, NULL, 0, 0, "abc", 1, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(m->drv->append_begin(m, "INBOX", &info, 2, &ap, &err), 0);
	assert_int_equal(m->drv->append_data(ap, "ab", 2, &err), 0);
	m->drv->append_abort(ap);
	/* The aborted append is not reported; later ones fail (and, being
	 * aborted by the helper once their data fails, are not reported:
	 * a message is never reported while its append is open). */
	assert_int_equal(o.n, 1);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(fake_append(m, "INBOX", 0, NULL, 0, 0, "abc", 3, &err), MF_ECLOSED);
	assert_int_equal(o.n, 1);
	assert_int_equal(m->drv->append_begin(m, "INBOX", &info, 4, &ap, &err), 0);
	assert_int_equal(m->drv->append_end(ap, &err), MF_EPROTO);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.token[1], 4);
	assert_int_equal(o.rc[1], MF_ECLOSED);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_folder),
		cmocka_unit_test(test_append_literal_plus),
		cmocka_unit_test(test_append_sync_literal),
		cmocka_unit_test(test_append_large),
		cmocka_unit_test(test_append_abort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
