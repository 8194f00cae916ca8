/* test_driver_imap_interleave.c: fetch when the server interleaves the
 * answers of a group's two pipelined commands (the info command and the
 * body command), as Dovecot does under load: a few info responses, then
 * bodies of messages whose info has not come yet, then the rest of the
 * info. Those bodies cannot be handed over (the sink needs flags and date
 * first) and used to be dropped without a word, so the engine took the
 * messages for expunged and a block of up to 50 UIDs was never copied
 * (the benchmark's "Synced: 9,950 items"). They must be fetched again.
 * Scripted server: test_driver_imap_fake.h.
 */
#include "test_driver_imap_fake.h"

#define INFO(seq, uid, size, flags)                                                         \
	"S:* " #seq " FETCH (UID " #uid " RFC822.SIZE " #size " FLAGS (" flags                   \
	") INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")"

struct got {
	size_t n;
	uint32_t uid[8];
	uint32_t flags[8];
	char data[8][16];
	size_t len[8];
	bool open;
};

static int sink_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct got *g = ctx;

	(void)err;
	assert_false(g->open);
	assert_true(g->n < 8);
	assert_true(info->size < sizeof(g->data[0]));
	g->open = true;
	g->uid[g->n] = info->uid;
	g->flags[g->n] = info->flags;
	g->len[g->n] = 0;
	return 0;
}

static int sink_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct got *g = ctx;

	(void)err;
	assert_true(g->open);
	assert_true(g->len[g->n] + len < sizeof(g->data[0]));
	memcpy(g->data[g->n] + g->len[g->n], data, len);
	g->len[g->n] += len;
	return 0;
}

static int sink_end(void *ctx, struct mf_error *err)
{
	struct got *g = ctx;

	(void)err;
	assert_true(g->open);
	g->open = false;
	g->n++;
	return 0;
}

static void test_fetch_body_before_info(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(""),
		"C:A2 EXAMINE INBOX",
		"S:* 4 EXISTS\r\nA2 OK [READ-ONLY] done",
		"C:A3 UID FETCH 1:4 (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"C:A4 UID FETCH 1:4 (UID BODY.PEEK[])",
		/* Dovecot runs both commands at once: the info of 1 and 2... */
		INFO(1, 1, 3, "\\Seen"),
		INFO(2, 2, 3, ""),
		/* ...every body... */
		"S:* 1 FETCH (UID 1 BODY[] {3}\r\none)",
		"S:* 2 FETCH (UID 2 BODY[] {3}\r\ntwo)",
		"S:* 3 FETCH (UID 3 BODY[] {5}\r\nthree)",
		"S:* 4 FETCH (UID 4 BODY[] \"four\")",
		/* ...then the info of 3 and 4, which nothing can wait for. */
		INFO(3, 3, 5, "\\Flagged"),
		INFO(4, 4, 4, "\\Answered"),
		"S:A3 OK Fetch completed",
		"S:A4 OK Fetch completed",
		/* 3 and 4 are not gone: their bodies are asked for again. */
		"C:A5 UID FETCH 3:4 (UID BODY.PEEK[])",
		"S:* 3 FETCH (UID 3 BODY[] {5}\r\nthree)",
		"S:* 4 FETCH (UID 4 BODY[] {4}\r\nfour)",
		"S:A5 OK Fetch completed",
		/* 1 is expunged by another session once its info is out: its
		 * body never comes, nor does it when asked again, and that is
		 * no failure. */
		"C:A6 UID FETCH 1:2 (UID RFC822.SIZE FLAGS INTERNALDATE)",
		"C:A7 UID FETCH 1:2 (UID BODY.PEEK[])",
		"S:* 2 FETCH (UID 2 BODY[] {3}\r\ntwo)",
		INFO(1, 1, 3, "\\Seen"),
		INFO(2, 2, 3, ""),
		"S:A6 OK Fetch completed",
		"S:A7 NO [EXPUNGEISSUED] Some messages were expunged",
		"C:A8 UID FETCH 1:2 (UID BODY.PEEK[])",
		"S:* 2 FETCH (UID 2 BODY[] {3}\r\ntwo)",
		"S:A8 NO [EXPUNGEISSUED] Some messages were expunged",
		FAKE_LOGOUT("A9"),
		NULL,
	};
	static const uint32_t uids[] = { 1, 2, 3, 4 };
	struct got g = { 0 };
	struct mbx_sink s = { sink_begin, sink_data, sink_end, &g };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m;

	(void)state;
	m = fake_open(&f, script);
	assert_int_equal(m->drv->fetch(m, "INBOX", uids, 4, &s, &err), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.uid[0], 1);
	assert_int_equal(g.flags[0], MBX_SEEN);
	assert_memory_equal(g.data[0], "one", 3);
	assert_int_equal(g.uid[1], 2);
	assert_memory_equal(g.data[1], "two", 3);
	/* The late ones, with the flags of their info. */
	assert_int_equal(g.uid[2], 3);
	assert_int_equal(g.flags[2], MBX_FLAGGED);
	assert_int_equal(g.len[2], 5);
	assert_memory_equal(g.data[2], "three", 5);
	assert_int_equal(g.uid[3], 4);
	assert_int_equal(g.flags[3], MBX_ANSWERED);
	assert_int_equal(g.len[3], 4);
	assert_memory_equal(g.data[3], "four", 4);

	memset(&g, 0, sizeof(g));
	assert_int_equal(m->drv->fetch(m, "INBOX", uids, 2, &s, &err), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.uid[0], 2);
	assert_memory_equal(g.data[0], "two", 3);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fetch_body_before_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
