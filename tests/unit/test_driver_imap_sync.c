/* Unit tests for the IMAP driver's incremental-sync members
 * (src/drivers/imap-driver-sync.c): find_message (UID SEARCH by size and
 * Message-ID, candidates hashed), set_flags (SELECT, UID STORE
 * FLAGS.SILENT), expunge (UID STORE +FLAGS.SILENT (\Deleted), UID
 * EXPUNGE; refused without UIDPLUS), list_flags (all, CHANGEDSINCE),
 * rename_folder; against the scripted server of test_driver_imap_fake.h.
 */
#include "test_driver_imap_fake.h"

#include <openssl/evp.h>

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

struct hits {
	size_t n;
	uint32_t uid[8], uidvalidity[8];
};

static int on_hit(void *ctx, const struct mbx_ref *ref)
{
	struct hits *h = ctx;

	h->uid[h->n] = ref->uid;
	h->uidvalidity[h->n] = ref->uidvalidity;
	h->n++;
	return 0;
}

static void test_find_message(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("UIDPLUS"),
		"C:A2 LIST \"\" \"*\"",
		"C:A3 LSUB \"\" \"*\"",
		"S:* LIST () \"/\" INBOX\r\n* LIST () \"/\" Work\r\nA2 OK done\r\nA3 OK done",
		/* By size and Message-ID; two candidates, hashed. */
		"C:A4 EXAMINE Work",
		"S:* 3 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\nA4 OK [READ-ONLY] done",
		"C:A5 UID SEARCH LARGER 9 SMALLER 11 HEADER Message-ID <m@x>",
		"S:* SEARCH 2 3\r\nA5 OK done",
		"C:A6 UID FETCH 2:3 (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"C:A7 UID FETCH 2:3 (UID BODY.PEEK[])",
		"S:* 1 FETCH (UID 2 RFC822.SIZE 10 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 "
		"+0000\")",
		"S:* 2 FETCH (UID 3 RFC822.SIZE 10 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 "
		"+0000\")",
		"S:A6 OK done",
		"R:* 1 FETCH (UID 2 BODY[] {10}\r\n0123456789)\r\n",
		"R:* 2 FETCH (UID 3 BODY[] {10}\r\nabcdefghij)\r\n",
		"S:A7 OK done",
		/* By size only: every candidate is reported. */
		"C:A8 EXAMINE Work",
		"S:* 3 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\nA8 OK [READ-ONLY] done",
		"C:A9 UID SEARCH SMALLER 1",
		"S:* SEARCH\r\nA9 OK done",
		/* A folder the server does not list holds nothing: no command. */
		FAKE_LOGOUT("A10"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };
	struct hits h = { 0 };
	char sha[65];
	struct mbx_query q = { 10, sha, "<m@x>", NULL };

	(void)state;
	sha_hex("abcdefghij", sha);
	assert_int_equal(m->drv->find_message(m, "Work", &q, on_hit, &h, &err), 0);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.uid[0], 3);
	assert_int_equal(h.uidvalidity[0], 42);
	h.n = 0;
	q.size = 0;
	q.sha256 = NULL;
	q.message_id = NULL;
	assert_int_equal(m->drv->find_message(m, "Work", &q, on_hit, &h, &err), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(m->drv->find_message(m, "Gone", &q, on_hit, &h, &err), 0);
	assert_int_equal(h.n, 0);
	fake_finish(&f, &m);
}

static int on_flags(void *ctx, const struct mbx_msg_info *info)
{
	char *out = ctx;
	size_t used = strlen(out);

	snprintf(out + used, 200 - used, "%u:%u:%zu ", info->uid, info->flags, info->keyword_count);
	return 0;
}

static void test_flags_expunge_rename(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN("UIDPLUS CONDSTORE"),
		/* set_flags: SELECT read-write once. */
		"C:A2 SELECT INBOX (CONDSTORE)",
		"S:* 3 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\n* OK [HIGHESTMODSEQ 9] x",
		"S:A2 OK [READ-WRITE] done",
		"C:A3 UID STORE 3 FLAGS.SILENT (\\Seen \\Flagged work)",
		"S:A3 OK done",
		"C:A4 UID STORE 2 FLAGS.SILENT ()",
		"S:* 2 FETCH (UID 2 MODSEQ (12))\r\nA4 OK done",
		/* expunge: distinct UIDs in a set. */
		"C:A5 UID STORE 2:3,5 +FLAGS.SILENT (\\Deleted)",
		"S:A5 OK done",
		"C:A6 UID EXPUNGE 2:3,5",
		"S:* 2 EXPUNGE\r\n* 2 EXPUNGE\r\nA6 OK done",
		/* list_flags: the read-write selection serves. */
		"C:A7 UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE 5)",
		"S:* 1 FETCH (UID 1 FLAGS (\\Seen kw) MODSEQ (11))\r\nA7 OK done",
		"C:A8 UID FETCH 1:* (UID FLAGS)",
		"S:* 1 FETCH (UID 1 FLAGS (\\Seen kw))\r\n* 2 FETCH (FLAGS () UID 4)",
		"S:A8 OK done",
		/* rename_folder */
		"C:A9 LIST \"\" \"*\"",
		"C:A10 LSUB \"\" \"*\"",
		"S:* LIST () \"/\" INBOX\r\n* LIST () \"/\" Old\r\nA9 OK done\r\nA10 OK done",
		"C:A11 RENAME Old New",
		"S:A11 OK done",
		"C:A12 LIST \"\" \"*\"",
		"C:A13 LSUB \"\" \"*\"",
		"S:* LIST () \"/\" INBOX\r\n* LIST () \"/\" New\r\nA12 OK done\r\nA13 OK done",
		"C:A14 RENAME New INBOX",
		"S:A14 NO [ALREADYEXISTS] exists",
		FAKE_LOGOUT("A15"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };
	char *kw[] = { "work" };
	struct mbx_ref r3 = { 7, 3, NULL }, r2 = { 7, 2, NULL };
	struct mbx_ref refs[4] = { { 7, 5, NULL }, { 7, 3, NULL }, { 7, 2, NULL }, { 7, 3, NULL } };
	char *loc = (char *)"x";
	char out[200] = "";

	(void)state;
	assert_int_equal(m->drv->set_flags(m, "INBOX", &r3, MBX_SEEN | MBX_FLAGGED, kw, 1, &loc,
					   &err), 0);
	assert_null(loc);
	assert_int_equal(m->drv->set_flags(m, "INBOX", &r2, 0, NULL, 0, NULL, &err), 0);
	assert_int_equal(m->drv->expunge(m, "INBOX", refs, 4, &err), 0);
	assert_int_equal(m->drv->list_flags(m, "INBOX", 5, on_flags, out, &err), 0);
	assert_string_equal(out, "1:1:1 ");
	out[0] = '\0';
	assert_int_equal(m->drv->list_flags(m, "INBOX", 0, on_flags, out, &err), 0);
	assert_string_equal(out, "1:1:1 4:0:0 ");
	assert_int_equal(m->drv->rename_folder(m, "Old", "New", &err), 0);
	assert_int_equal(m->drv->rename_folder(m, "New", "INBOX", &err), MF_EEXIST);
	assert_string_equal(err.msg, "RENAME failed: [ALREADYEXISTS] exists");
	fake_finish(&f, &m);
}

static void test_no_uidplus_no_condstore(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(""),
		FAKE_LOGOUT("A2"),
		NULL,
	};
	struct fake f;
	struct mbx *m = fake_open(&f, script);
	struct mf_error err = { 0 };
	struct mbx_ref r = { 7, 3, NULL }, nouid = { 0, 0, NULL };
	char out[200] = "";

	(void)state;
	assert_int_equal(m->drv->expunge(m, "INBOX", &r, 1, &err), MF_EUNSUPPORTED);
	assert_int_equal(m->drv->list_flags(m, "INBOX", 5, on_flags, out, &err), MF_EUNSUPPORTED);
	assert_int_equal(m->drv->set_flags(m, "INBOX", &nouid, 0, NULL, 0, NULL, &err), MF_EINVAL);
	assert_null(m->drv->reserve_name);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_message),
		cmocka_unit_test(test_flags_expunge_rename),
		cmocka_unit_test(test_no_uidplus_no_condstore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
