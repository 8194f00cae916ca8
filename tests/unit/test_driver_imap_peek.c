/* Unit tests for the IMAP driver's peek_header (src/drivers/imap-driver-
 * fetch.c): UID FETCH uid (UID BODY.PEEK[HEADER.FIELDS (...)]<0.max>)
 * after EXAMINE, the answer picked out among unsolicited FETCH responses,
 * the empty line that ends it dropped; a UID that is gone, NIL, NO, a
 * bad field name; against the scripted server of test_driver_imap_fake.h.
 */
#include "test_driver_imap_fake.h"

static void test_peek_header(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(""),
		"C:A2 EXAMINE INBOX",
		"S:* 5 EXISTS\r\nA2 OK [READ-ONLY] done",
		"C:A3 UID FETCH 7 (UID BODY.PEEK[HEADER.FIELDS (Subject)]<0.4096>)",
		/* A flag update first; the UID after the literal. */
		"S:* 2 FETCH (FLAGS (\\Seen))",
		"R:* 3 FETCH (BODY[HEADER.FIELDS (SUBJECT)]<0> {29}\r\n"
		"Subject: big\r\n attachment\r\n\r\n UID 7)\r\n",
		"S:A3 OK done",
		/* The same folder: no second EXAMINE. None of the fields. */
		"C:A4 UID FETCH 8 (UID BODY.PEEK[HEADER.FIELDS (Subject Date)]<0.100>)",
		"R:* 4 FETCH (UID 8 BODY[HEADER.FIELDS (SUBJECT DATE)]<0> {2}\r\n\r\n)\r\n",
		"S:A4 OK done",
		/* Cut at max bytes by the partial range. */
		"C:A5 UID FETCH 7 (UID BODY.PEEK[HEADER.FIELDS (Subject)]<0.10>)",
		"R:* 3 FETCH (UID 7 BODY[HEADER.FIELDS (SUBJECT)]<0> {10}\r\nSubject: b)\r\n",
		"S:A5 OK done",
		/* Gone: no answer for the UID (another one's is not taken). */
		"C:A6 UID FETCH 9 (UID BODY.PEEK[HEADER.FIELDS (Subject)]<0.4096>)",
		"R:* 3 FETCH (UID 7 BODY[HEADER.FIELDS (SUBJECT)]<0> {2}\r\n\r\n)\r\n",
		"S:A6 OK done",
		/* NIL: nothing. */
		"C:A7 UID FETCH 5 (UID BODY.PEEK[HEADER.FIELDS (Subject)]<0.4096>)",
		"S:* 1 FETCH (UID 5 BODY[HEADER.FIELDS (SUBJECT)]<0> NIL)",
		"S:A7 OK done",
		/* Another folder; a NO. */
		"C:A8 EXAMINE Work",
		"S:* 1 EXISTS\r\nA8 OK [READ-ONLY] done",
		"C:A9 UID FETCH 1 (UID BODY.PEEK[HEADER.FIELDS (Subject)]<0.4096>)",
		"S:A9 NO [UNAVAILABLE] try later",
		FAKE_LOGOUT("A10"),
		NULL,
	};
	static const char *const subj[] = { "Subject" };
	static const char *const two[] = { "Subject", "Date" };
	static const char *const bad[] = { "Sub)ject" };
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_non_null(m->drv->peek_header);
	assert_int_equal(m->drv->peek_header(m, "INBOX", 7, subj, 1, 4096, &out, &len, &err), 0);
	assert_string_equal(out, "Subject: big\r\n attachment\r\n");
	assert_int_equal(len, 27);
	free(out);
	assert_int_equal(m->drv->peek_header(m, "INBOX", 8, two, 2, 100, &out, &len, &err), 0);
	assert_string_equal(out, "");
	assert_int_equal(len, 0);
	free(out);
	assert_int_equal(m->drv->peek_header(m, "INBOX", 7, subj, 1, 10, &out, &len, &err), 0);
	assert_string_equal(out, "Subject: b");
	free(out);
	assert_int_equal(m->drv->peek_header(m, "INBOX", 9, subj, 1, 4096, &out, &len, &err),
			 MF_ENOTFOUND);
	assert_null(out);
	assert_int_equal(m->drv->peek_header(m, "INBOX", 5, subj, 1, 4096, &out, &len, &err), 0);
	assert_string_equal(out, "");
	free(out);
	/* Refused before anything is sent. */
	assert_int_equal(m->drv->peek_header(m, "INBOX", 5, bad, 1, 4096, &out, &len, &err),
			 MF_EINVAL);
	assert_int_equal(m->drv->peek_header(m, "Work", 1, subj, 1, 4096, &out, &len, &err),
			 MF_ENO);
	assert_non_null(strstr(err.msg, "[UNAVAILABLE] try later"));
	assert_null(out);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peek_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
