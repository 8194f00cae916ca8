/* Unit tests for the IMAP driver's MULTIAPPEND (RFC 3502; imap-driver.h,
 * "Target side"): consecutive appends to a folder share one command,
 * APPENDUID's UID set maps to the messages in order, a refused command
 * reports each of its messages MF_ERETRY, the command ends on a folder
 * change, when full, before any other command and at flush, an early NO
 * (Dovecot's) is reported at the message's append_end, and the option and
 * set_append_alone turn it off; against the scripted server of
 * test_driver_imap_fake.h.
 */
#include "test_driver_imap_fake.h"

/* An append without keywords. */
static int append(struct mbx *m, const char *folder, uint32_t flags, time_t date,
		  const char *data, uint64_t token, struct mf_error *err)
{
	return fake_append(m, folder, flags, NULL, 0, date, data, token, err);
}

/* Open with options changed by the test. */
static struct mbx *open_with(struct fake *f, const char *const *script, bool no_multi,
			     size_t max, uint64_t max_bytes)
{
	struct imap_mbx_opts o;

	fake_listen(f, script);
	fake_opts(f, &o);
	o.no_multiappend = no_multi;
	o.multiappend_max = max;
	o.multiappend_max_bytes = max_bytes;
	return fake_mbx_open(&o);
}

#define CAPS "LITERAL+ UIDPLUS MULTIAPPEND"
#define DATE "\"07-Jul-1996 02:44:25 -0700\""

static const time_t date = 836732665; /* 1996-07-07 09:44:25 UTC */

static void test_multi_appenduid(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		FAKE_LIST_SLASH,
		/* One command, each message streamed as it comes; ended by
		 * the flush. */
		"C:A4 APPEND INBOX () {3+}",
		"C:abc (\\Seen) {5+}",
		"C:hello () " DATE " {3+}",
		"C:xyz",
		"S:A4 OK [APPENDUID 38505 3955:3956,3960] APPEND completed",
		/* A set that does not fit: no UIDs. */
		"C:A5 APPEND Work () {1+}",
		"C:a () {1+}",
		"C:b",
		"S:A5 OK [APPENDUID 38505 17] APPEND completed",
		FAKE_LOGOUT("A6"),
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = fake_open(&f, script);

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(append(m, "INBOX", 0, 0, "abc", 1, &err), 0);
	assert_int_equal(append(m, "INBOX", MBX_SEEN, 0, "hello", 2, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, date, "xyz", 3, &err), 0);
	assert_int_equal(o.n, 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(o.token[i], i + 1);
		assert_int_equal(o.rc[i], 0);
		assert_int_equal(o.uidvalidity[i], 38505);
	}
	assert_int_equal(o.uid[0], 3955);
	assert_int_equal(o.uid[1], 3956);
	assert_int_equal(o.uid[2], 3960);
	assert_int_equal(append(m, "Work", 0, 0, "a", 4, &err), 0);
	assert_int_equal(append(m, "Work", 0, 0, "b", 5, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 5);
	assert_int_equal(o.rc[3], 0);
	assert_int_equal(o.uid[3], 0);
	assert_int_equal(o.uidvalidity[3], 0);
	assert_int_equal(o.uid[4], 0);
	fake_finish(&f, &m);
}

static void test_multi_refused(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		FAKE_LIST_SLASH,
		/* Full at two messages. */
		"C:A4 APPEND INBOX () {3+}",
		"C:abc () {3+}",
		"C:def",
		/* The folder changes after one: it goes alone. */
		"C:A5 APPEND INBOX () {3+}",
		"C:ghi",
		"C:A6 APPEND Work () {3+}",
		"C:jkl () {3+}",
		"C:mno () {3+}",
		"S:A4 NO [CANNOT] Message contains invalid header",
		"S:A5 NO [OVERQUOTA] Quota exceeded",
		"C:pqr",
		"S:A6 BAD [PARSE] what",
		FAKE_LOGOUT("A7"),
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_with(&f, script, false, 3, 0);

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	/* multiappend_max 3, but A4 is sent with two: test the count limit
	 * with a third folder-mate below. */
	assert_int_equal(append(m, "INBOX", 0, 0, "abc", 1, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "def", 2, &err), 0);
	m->drv->set_append_alone(m, true);
	assert_int_equal(append(m, "INBOX", 0, 0, "ghi", 3, &err), 0);
	m->drv->set_append_alone(m, false);
	assert_int_equal(append(m, "Work", 0, 0, "jkl", 4, &err), 0);
	assert_int_equal(append(m, "Work", 0, 0, "mno", 5, &err), 0);
	assert_int_equal(append(m, "Work", 0, 0, "pqr", 6, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 6);
	assert_int_equal(o.rc[0], MF_ERETRY);
	assert_int_equal(o.rc[1], MF_ERETRY);
	assert_string_equal(o.msg[0], "not stored: the target refused the MULTIAPPEND of 2 messages "
				      "it was in (NO [CANNOT] Message contains invalid header); "
				      "retry it alone");
	/* Alone in its command: the refusal is its own. */
	assert_int_equal(o.token[2], 3);
	assert_int_equal(o.rc[2], MF_ENO);
	assert_string_equal(o.msg[2], "[OVERQUOTA] Quota exceeded");
	for (size_t i = 3; i < 6; i++) {
		assert_int_equal(o.token[i], i + 1);
		assert_int_equal(o.rc[i], MF_ERETRY);
	}
	fake_finish(&f, &m);
}

/* The first append of test_multi_refused is sent full at two because the
 * third message of INBOX went alone; this one checks the count limit. */
static void test_multi_limits(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		FAKE_LIST_SLASH,
		/* At most 2 messages ... */
		"C:A4 APPEND INBOX () {1+}",
		"C:a () {1+}",
		"C:b",
		/* ... and 10 bytes: 3 + 5, and 3 more would pass it. */
		"C:A5 APPEND INBOX () {3+}",
		"C:abc () {5+}",
		"C:defgh",
		"C:A6 APPEND INBOX () {3+}",
		"C:ijk",
		/* Over the byte limit: alone. */
		"C:A7 APPEND INBOX () {12+}",
		"C:hello world!",
		"C:A8 APPEND INBOX () {1+}",
		"C:z",
		"S:A4 OK [APPENDUID 7 1:2] done",
		"S:A5 OK [APPENDUID 7 3:4] done",
		"S:A6 OK [APPENDUID 7 5] done",
		"S:A7 OK [APPENDUID 7 6] done",
		"S:A8 OK [APPENDUID 7 7] done",
		FAKE_LOGOUT("A9"),
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_with(&f, script, false, 2, 10);

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(append(m, "INBOX", 0, 0, "a", 1, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "b", 2, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "abc", 3, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "defgh", 4, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "ijk", 5, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "hello world!", 6, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "z", 7, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 7);
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(o.token[i], i + 1);
		assert_int_equal(o.rc[i], 0);
		assert_int_equal(o.uid[i], i + 1);
	}
	fake_finish(&f, &m);
}

/* Dovecot answers NO as soon as it reads a message it refuses, before the
 * command ends: the rest of that message is still sent, its report waits
 * for its append_end, and the next message starts a new command. */
static void test_multi_early_no(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"C:abc (kw) {5+}",
		"S:A4 NO [CANNOT] Keyword length too long",
		"C:hello",
		"C:A5 APPEND INBOX () {3+}",
		"C:xyz",
		"S:A5 OK [APPENDUID 9 12] done",
		FAKE_LOGOUT("A6"),
		NULL,
	};
	char *kw[] = { "kw" };
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct mbx_append *ap;
	struct timespec ts = { 0, 150 * 1000000L };
	struct fake f;
	struct mbx *m = fake_open(&f, script);

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(append(m, "INBOX", 0, 0, "abc", 1, &err), 0);
	assert_int_equal(fake_append_begin(m, "INBOX", 0, kw, 1, 0, 5, 2, &ap, &err), 0);
	nanosleep(&ts, NULL);
	assert_int_equal(m->drv->append_data(ap, "h", 1, &err), 0);
	assert_int_equal(m->drv->append_data(ap, "el", 2, &err), 0);
	assert_int_equal(m->drv->append_data(ap, "lo", 2, &err), 0);
	/* The first is reported; the one being written is not yet. */
	assert_int_equal(o.n, 1);
	assert_int_equal(o.token[0], 1);
	assert_int_equal(o.rc[0], MF_ERETRY);
	assert_int_equal(m->drv->append_end(ap, &err), 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.token[1], 2);
	assert_int_equal(o.rc[1], MF_ERETRY);
	assert_int_equal(append(m, "INBOX", 0, 0, "xyz", 3, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.rc[2], 0);
	assert_int_equal(o.uid[2], 12);
	fake_finish(&f, &m);
}

/* The NO arrives (read, not yet handled) before the next message joins:
 * it is handled while that message's header goes out. The first message
 * was alone when refused (MF_ENO); the second is skipped by the server
 * (its bytes still sent) and reported MF_ERETRY at its append_end.
 * The server answers the first message's header at once, and "bc" is
 * written once the NO is on its way ("M:"), so it is read by then. It
 * may have been read with "a" already (thread timing): then it is handled
 * while "bc" goes out, the first append_end reports the first message
 * and ends the command, and the second gets a command of its own. The
 * server takes either wire sequence. */
#define NO_WHILE_JOINING                                                  \
	FAKE_LOGIN(CAPS), FAKE_LIST_SLASH, "C:A4 APPEND INBOX (kw) {3+}", \
	"S:A4 NO [CANNOT] Keyword length too long", "M:"

static void test_multi_no_while_joining(void **state)
{
	static const char *const joined[] = {
		NO_WHILE_JOINING,
		"C:abc () {3+}",
		"C:def",
		FAKE_LOGOUT("A5"),
		NULL,
	};
	static const char *const ended[] = {
		NO_WHILE_JOINING,
		"C:abc",
		"C:A5 APPEND INBOX () {3+}",
		"C:def",
		"S:A5 OK [APPENDUID 9 12] done",
		FAKE_LOGOUT("A6"),
		NULL,
	};
	static const char *const *const scripts[] = { joined, ended, NULL };
	char *kw[] = { "kw" };
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct mbx_append *ap;
	struct timespec ts = { 0, 150 * 1000000L };
	struct fake f;
	struct mbx *m = fake_open_any(&f, scripts);
	bool early;

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(fake_append_begin(m, "INBOX", 0, kw, 1, 0, 3, 1, &ap, &err), 0);
	assert_int_equal(m->drv->append_data(ap, "a", 1, &err), 0);
	fake_wait_mark(&f, 1);
	nanosleep(&ts, NULL);
	/* Written, then the NO read (and left for later) ... */
	assert_int_equal(m->drv->append_data(ap, "bc", 2, &err), 0);
	assert_int_equal(m->drv->append_end(ap, &err), 0);
	/* ... unless it came with "a": then it is handled by now. */
	early = o.n == 1;
	if (!early)
		assert_int_equal(o.n, 0);
	assert_int_equal(fake_append_begin(m, "INBOX", 0, NULL, 0, 0, 3, 2, &ap, &err), 0);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.token[0], 1);
	assert_int_equal(o.rc[0], MF_ENO);
	assert_int_equal(m->drv->append_data(ap, "def", 3, &err), 0);
	assert_int_equal(m->drv->append_end(ap, &err), 0);
	if (early) {
		/* A5, answered at the flush. */
		assert_int_equal(o.n, 1);
		assert_int_equal(m->drv->append_flush(m, &err), 0);
		assert_int_equal(o.n, 2);
		assert_int_equal(o.token[1], 2);
		assert_int_equal(o.rc[1], 0);
		assert_int_equal(o.uid[1], 12);
	} else {
		assert_int_equal(o.n, 2);
		assert_int_equal(o.token[1], 2);
		assert_int_equal(o.rc[1], MF_ERETRY);
		assert_int_equal(m->drv->append_flush(m, &err), 0);
	}
	fake_finish(&f, &m);
	/* The server saw the sequence the reports tell of. */
	assert_int_equal(f.chosen, early ? 1 : 0);
}

/* Any other command ends the open MULTIAPPEND first. */
static void test_multi_other_command(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"C:abc",
		"C:A5 EXAMINE Work",
		"S:A4 OK [APPENDUID 3 9] done",
		"S:* 0 EXISTS\r\n* OK [UIDVALIDITY 5] x\r\nA5 OK done",
		"C:A6 APPEND INBOX () {3+}",
		"C:def () {3+}",
		"C:ghi",
		"C:A7 CREATE New",
		"S:A6 OK [APPENDUID 3 10:11] done\r\nA7 OK done",
		FAKE_LOGOUT("A8"),
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct mbx_folder_state st;
	struct fake f;
	struct mbx *m = fake_open(&f, script);

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(append(m, "INBOX", 0, 0, "abc", 1, &err), 0);
	assert_int_equal(m->drv->folder_state(m, "Work", &st, &err), 0);
	assert_int_equal(st.uidvalidity, 5);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.uid[0], 9);
	assert_int_equal(append(m, "INBOX", 0, 0, "def", 2, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "ghi", 3, &err), 0);
	assert_int_equal(m->drv->create_folder(m, "New", MBX_ROLE_NONE, false, &err), 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.uid[1], 10);
	assert_int_equal(o.uid[2], 11);
	fake_finish(&f, &m);
}

/* Off: by option, or without LITERAL+. */
static void test_multi_off(void **state)
{
	static const char *const script_opt[] = {
		FAKE_LOGIN(CAPS),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"C:abc",
		"C:A5 APPEND INBOX () {3+}",
		"C:def",
		"S:A4 OK done\r\nA5 OK done",
		FAKE_LOGOUT("A6"),
		NULL,
	};
	static const char *const script_sync[] = {
		FAKE_LOGIN("UIDPLUS MULTIAPPEND"),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {3}",
		"S:+ go",
		"C:abc",
		"C:A5 APPEND INBOX () {3}",
		"S:+ go",
		"C:def",
		"S:A4 OK done\r\nA5 OK done",
		FAKE_LOGOUT("A6"),
		NULL,
	};
	const char *const *scripts[] = { script_opt, script_sync };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct fake_outcome o = { 0 };
		struct mf_error err = { 0 };
		struct fake f;
		struct mbx *m = open_with(&f, scripts[k], k == 0, 0, 0);

		m->drv->set_append_done(m, fake_on_done, &o);
		assert_int_equal(append(m, "INBOX", 0, 0, "abc", 1, &err), 0);
		assert_int_equal(append(m, "INBOX", 0, 0, "def", 2, &err), 0);
		assert_int_equal(m->drv->append_flush(m, &err), 0);
		assert_int_equal(o.n, 2);
		assert_int_equal(o.rc[0], 0);
		assert_int_equal(o.rc[1], 0);
		fake_finish(&f, &m);
	}
}

/* A lost connection reports every message of the open command, the one
 * being written at its append_end. */
static void test_multi_lost(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		FAKE_LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"C:abc () {3+}",
		"C:def",
		/* The server goes away. */
		"X:",
		NULL,
	};
	struct fake_outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = fake_open(&f, script);

	(void)state;
	m->drv->set_append_done(m, fake_on_done, &o);
	assert_int_equal(append(m, "INBOX", 0, 0, "abc", 1, &err), 0);
	assert_int_equal(append(m, "INBOX", 0, 0, "def", 2, &err), 0);
	assert_int_not_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.rc[0], o.rc[1]);
	assert_true(o.rc[0] == MF_ECLOSED || o.rc[0] == MF_EIO);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multi_appenduid),
		cmocka_unit_test(test_multi_refused),
		cmocka_unit_test(test_multi_limits),
		cmocka_unit_test(test_multi_early_no),
		cmocka_unit_test(test_multi_no_while_joining),
		cmocka_unit_test(test_multi_other_command),
		cmocka_unit_test(test_multi_off),
		cmocka_unit_test(test_multi_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
