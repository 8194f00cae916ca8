/* Unit tests for the IMAP driver's sealed callback and abandoned appends
 * (imap-driver.h, "Target side"; driver.h, mbx_append_sealed_fn), against
 * the scripted server of test_driver_imap_fake.h:
 *   - a command's messages are sealed once, all together, right before its
 *     final CRLF, and never after it was answered;
 *   - a refused seal keeps the CRLF back and gives the connection up (the
 *     server sees the literal's bytes, then the end of the connection);
 *   - at most IMAP_MBX_SEALED_COMMANDS * multiappend_max sealed messages
 *     are unanswered: the CRLF of the next command waits for an answer;
 *   - append_abort reads the answers of the commands sent before the
 *     abandoned one, so that they are reported as the server decided;
 *   - close gives an open MULTIAPPEND up instead of ending it (its
 *     messages were not sealed).
 */
#include "test_driver_imap_fake.h"

struct outcome {
	size_t n;
	uint64_t token[16];
	int rc[16];
	uint32_t uid[16];
	/* seals: how many, and the tokens of each */
	size_t nseals;
	size_t seal_n[8];
	uint64_t seal_tok[8][8];
	size_t reports_at_seal[8]; /* reports made before each seal */
	int seal_rc;		   /* what the sealed callback returns */
};

static void on_done(void *ctx, uint64_t token, int rc, const struct mbx_appended *out,
		    const struct mf_error *err)
{
	struct outcome *o = ctx;
	size_t i = o->n++;

	(void)err;
	assert_true(i < sizeof(o->token) / sizeof(o->token[0]));
	o->token[i] = token;
	o->rc[i] = rc;
	o->uid[i] = rc == 0 && out != NULL ? out->uid : 0;
}

static int on_sealed(void *ctx, const uint64_t *tokens, size_t n, struct mf_error *err)
{
	struct outcome *o = ctx;
	size_t i = o->nseals++;

	assert_true(i < 8 && n <= 8);
	o->seal_n[i] = n;
	memcpy(o->seal_tok[i], tokens, n * sizeof(*tokens));
	o->reports_at_seal[i] = o->n;
	if (o->seal_rc != 0)
		return mf_error_set(err, o->seal_rc, "cannot record the intents");
	return 0;
}

static int begin(struct mbx *m, const char *folder, size_t size, uint64_t token,
		 struct mbx_append **ap, struct mf_error *err)
{
	struct mbx_msg_info info = { 0 };

	info.size = size;
	return m->drv->append_begin(m, folder, &info, token, ap, err);
}

static int append(struct mbx *m, const char *folder, const char *data, uint64_t token,
		  struct mf_error *err)
{
	struct mbx_append *ap;
	int rc = begin(m, folder, strlen(data), token, &ap, err);

	if (rc < 0)
		return rc;
	rc = m->drv->append_data(ap, data, strlen(data), err);
	if (rc == 0)
		return m->drv->append_end(ap, err);
	m->drv->append_abort(ap);
	return rc;
}

static struct mbx *open_with(struct fake *f, const char *const *script, bool no_multi,
			     size_t max, struct outcome *o)
{
	struct imap_mbx_opts opts;
	struct mf_error err = { 0 };
	struct mbx *m = NULL;

	fake_listen(f, script);
	fake_opts(f, &opts);
	opts.no_multiappend = no_multi;
	opts.multiappend_max = max;
	if (imap_mbx_open(&opts, &m, &err) != 0)
		fail_msg("imap_mbx_open: %s", err.msg);
	m->drv->set_append_done(m, on_done, o);
	assert_non_null(m->drv->set_append_sealed);
	m->drv->set_append_sealed(m, on_sealed, o);
	return m;
}

#define CAPS "LITERAL+ UIDPLUS MULTIAPPEND"
#define LIST_SLASH                                                    \
	"C:A2 LIST \"\" \"*\"", "C:A3 LSUB \"\" \"*\"",               \
	"S:* LIST () \"/\" INBOX\r\nA2 OK done", "S:A3 OK done"

static void test_seal_before_the_end(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"C:abc () {3+}",
		"C:def () {3+}",
		"C:ghi",
		"S:A4 OK [APPENDUID 9 1:3] done",
		FAKE_LOGOUT("A5"),
		NULL,
	};
	struct outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_with(&f, script, false, 10, &o);

	(void)state;
	assert_int_equal(append(m, "INBOX", "abc", 1, &err), 0);
	assert_int_equal(append(m, "INBOX", "def", 2, &err), 0);
	assert_int_equal(append(m, "INBOX", "ghi", 3, &err), 0);
	/* Still open: nothing sealed yet. */
	assert_int_equal(o.nseals, 0);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.nseals, 1);
	assert_int_equal(o.seal_n[0], 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(o.seal_tok[0][i], i + 1);
	assert_int_equal(o.reports_at_seal[0], 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.uid[2], 3);
	fake_finish(&f, &m);
}

/* The seal cannot be recorded: the server gets the literal, not its end. */
static void test_seal_refused_keeps_the_end_back(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"D:3",
		NULL,
	};
	struct outcome o = { .seal_rc = MF_EIO };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_with(&f, script, true, 10, &o);

	(void)state;
	assert_int_equal(append(m, "INBOX", "abc", 1, &err), MF_EIO);
	assert_int_equal(o.nseals, 1);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.rc[0], MF_EIO);
	fake_finish(&f, &m);
}

/* multiappend_max 2: IMAP_MBX_SEALED_COMMANDS (4) commands of 2 sealed
 * and unanswered, the fifth command's end waits for the first's answer
 * (the server hears nothing for 300 ms), then goes. */
static void test_seal_limit(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"C:m01 () {3+}",
		"C:m02",
		"C:A5 APPEND INBOX () {3+}",
		"C:m03 () {3+}",
		"C:m04",
		"C:A6 APPEND INBOX () {3+}",
		"C:m05 () {3+}",
		"C:m06",
		"C:A7 APPEND INBOX () {3+}",
		"C:m07 () {3+}",
		"C:m08",
		"C:A8 APPEND INBOX () {3+}",
		"C:m09 () {3+}",
		"D:3",
		"Q:300",
		"S:A4 OK [APPENDUID 9 1:2] done",
		"C:",
		"S:A5 OK [APPENDUID 9 3:4] done",
		"S:A6 OK [APPENDUID 9 5:6] done",
		"S:A7 OK [APPENDUID 9 7:8] done",
		"S:A8 OK [APPENDUID 9 9:10] done",
		FAKE_LOGOUT("A9"),
		NULL,
	};
	static const char *const bodies[] = { "m01", "m02", "m03", "m04", "m05",
					      "m06", "m07", "m08", "m09", "m10" };
	struct outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_with(&f, script, false, 2, &o);

	(void)state;
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(append(m, "INBOX", bodies[i], i + 1, &err), 0);
	assert_int_equal(o.nseals, 5);
	/* Four commands sealed without waiting; the first was answered
	 * before the fifth was sealed. */
	assert_int_equal(o.reports_at_seal[3], 0);
	assert_int_equal(o.reports_at_seal[4], 2);
	assert_int_equal(m->drv->append_flush(m, &err), 0);
	assert_int_equal(o.n, 10);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(o.rc[i], 0);
		assert_int_equal(o.uid[i], i + 1);
	}
	fake_finish(&f, &m);
}

/* Abandoned mid-message: the command sent before is answered (OK) and
 * reported so; the abandoned one never ends. */
static void test_abort_reads_earlier_answers(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"C:abc",
		"C:A5 APPEND INBOX () {5+}",
		"D:2",
		"W:200",
		"S:A4 OK [APPENDUID 9 1] done",
		NULL,
	};
	struct outcome o = { 0 };
	struct mf_error err = { 0 };
	struct mbx_append *ap;
	struct fake f;
	struct mbx *m = open_with(&f, script, true, 10, &o);

	(void)state;
	assert_int_equal(append(m, "INBOX", "abc", 1, &err), 0);
	assert_int_equal(begin(m, "INBOX", 5, 2, &ap, &err), 0);
	assert_int_equal(m->drv->append_data(ap, "he", 2, &err), 0);
	assert_int_equal(o.n, 0);
	m->drv->append_abort(ap);
	assert_int_equal(o.n, 1);
	assert_int_equal(o.token[0], 1);
	assert_int_equal(o.rc[0], 0);
	assert_int_equal(o.uid[0], 1);
	assert_int_equal(o.nseals, 1);
	fake_finish(&f, &m);
}

/* Closed with a MULTIAPPEND open: given up, not ended. */
static void test_close_gives_an_open_batch_up(void **state)
{
	static const char *const script[] = {
		FAKE_LOGIN(CAPS),
		LIST_SLASH,
		"C:A4 APPEND INBOX () {3+}",
		"D:3",
		NULL,
	};
	struct outcome o = { 0 };
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_with(&f, script, false, 10, &o);

	(void)state;
	assert_int_equal(append(m, "INBOX", "abc", 1, &err), 0);
	m->drv->close(&m);
	assert_int_equal(o.nseals, 0);
	assert_int_equal(o.n, 0);
	fake_finish(&f, &m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_before_the_end),
		cmocka_unit_test(test_seal_refused_keeps_the_end_back),
		cmocka_unit_test(test_seal_limit),
		cmocka_unit_test(test_abort_reads_earlier_answers),
		cmocka_unit_test(test_close_gives_an_open_batch_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
