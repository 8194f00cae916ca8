/* Unit tests for src/engine: messages skipped for their size. A message
 * over --max-message-size is never fetched, yet its skipped item records
 * folder, date, Subject (peeked from its header after the listing), size
 * and reason, in listing order, with LargeItemLimit applied; a source
 * without peek_header records it without a Subject; a connection lost
 * while peeking is retried like a lost listing. A target that refuses a
 * message for its size (APPENDLIMIT) records the Subject too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_engine_fake.h"

#define T2024 1710000000 /* 2024-03-09 */

#define FILL "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"

static struct fake_msg big_msgs[] = {
    {1, "Subject: small\r\n\r\nok\r\n", 0, 0, {NULL}, T2024},
    {2,
     "From: x@example.org\r\nsubject:   big\r\n\tone  \r\nTo: y@example.org\r\n\r\n" FILL FILL,
     0,
     0,
     {NULL},
     T2024 + 1},
    {3, NULL, 5000, 0, {NULL}, T2024 + 2}, /* "Subject: generated" */
    {4, "From: x@example.org\r\n\r\nno subject here\r\n" FILL FILL, 0, 0, {NULL}, T2024 + 3},
    {5, "Subject: also small\r\n\r\nok\r\n", 0, MBX_SEEN, {NULL}, T2024 + 4},
};

#define NBIG (sizeof(big_msgs) / sizeof(big_msgs[0]))

static struct store_batch_options big_opt(int64_t large_limit)
{
	struct store_batch_options opt = {0};

	opt.bad_item_limit = 0;
	opt.large_item_limit = large_limit;
	opt.max_message_size = 100;
	return opt;
}

static void skipped(struct fx *f, const char *login, struct store_skipped **ss, size_t *n)
{
	struct store_user u;
	struct mf_error err = {0};

	fx_user(f, login, &u);
	if (store_skipped_list(f->st, u.id, ss, n, &err) != 0)
		fail_msg("skipped: %s", err.msg);
	store_user_clear(&u);
}

static void check_item(const struct store_skipped *s, uint32_t uid, const char *subject)
{
	const struct fake_msg *m = &big_msgs[uid - 1];
	char *reason = xasprintf("message of %llu bytes exceeds the maximum message size of 100 "
				 "bytes",
				 (unsigned long long)fake_size(m));

	assert_string_equal(s->folder, "INBOX");
	assert_int_equal(s->uid, uid);
	assert_int_equal(s->date, m->date);
	assert_int_equal(s->size, (int64_t)fake_size(m));
	assert_int_equal(s->kind, STORE_SKIP_LARGE);
	assert_string_equal(s->reason, reason);
	if (subject == NULL)
		assert_null(s->subject);
	else
		assert_string_equal(s->subject, subject);
	free(reason);
}

static void test_size_skip_records_subject(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, big_msgs, NBIG}};
	struct fake_account a = {.login = "gus", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"gus", NULL};
	struct store_batch_options opt = big_opt(STORE_LIMIT_UNLIMITED);
	struct store_skipped *ss = NULL;
	struct store_user u;
	size_t n = 0;

	(void)state;
	f->world.accounts = accts;
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED_WITH_ERRORS);
	fx_user(f, "gus", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.total_items, 5);
	assert_int_equal(u.stats.synced_items, 2);
	assert_int_equal(u.stats.skipped_items, 3);
	store_user_clear(&u);
	skipped(f, "gus", &ss, &n);
	assert_int_equal(n, 3);
	check_item(&ss[0], 2, "big one"); /* unfolded, trimmed */
	check_item(&ss[1], 3, "generated");
	check_item(&ss[2], 4, NULL); /* it has none */
	store_skipped_list_free(&ss, n);
	assert_int_equal(atomic_load(&a.delivered), 2); /* the big ones never fetched */
	assert_int_equal(atomic_load(&a.peeks), 3);	/* only the big ones peeked */

	/* Again: recorded items are neither peeked nor recorded twice. */
	f->o.resync = true;
	fx_run(f, "B");
	skipped(f, "gus", &ss, &n);
	assert_int_equal(n, 3);
	store_skipped_list_free(&ss, n);
	assert_int_equal(atomic_load(&a.peeks), 3);
	fx_free(f);
}

static void test_size_skip_limit(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, big_msgs, NBIG}};
	struct fake_account a = {.login = "hal", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"hal", NULL};
	struct store_batch_options opt = big_opt(1);
	struct store_skipped *ss = NULL;
	struct store_user u;
	size_t n = 0;

	(void)state;
	f->world.accounts = accts;
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_FAILED);
	fx_user(f, "hal", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_string_equal(u.stats.last_error,
			    "LargeItemLimit of 1 exceeded: 2 items skipped (see 'mailferry user "
			    "show hal@example.org --skipped-items')");
	store_user_clear(&u);
	/* Recorded in listing order up to the one that broke the limit. */
	skipped(f, "hal", &ss, &n);
	assert_int_equal(n, 2);
	check_item(&ss[0], 2, "big one");
	check_item(&ss[1], 3, "generated");
	store_skipped_list_free(&ss, n);
	assert_int_equal(atomic_load(&a.peeks), 2);
	assert_int_equal(atomic_load(&a.delivered), 0); /* failed before copying */
	fx_free(f);
}

static void test_size_skip_without_peek(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, big_msgs, NBIG}};
	struct fake_folder fo2[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, big_msgs, NBIG}};
	struct fake_account a = {.login = "ida", .folders = fo, .nfolders = 1, .no_peek = true};
	/* A peek that fails for that message only: recorded without it. */
	struct fake_account b = {.login = "jan",
				 .folders = fo2,
				 .nfolders = 1,
				 .peek_code = MF_ENO,
				 .peek_fail_times = 1};
	struct fake_account *accts[] = {&a, &b, NULL};
	const char *logins[] = {"ida", "jan", NULL};
	struct store_batch_options opt = big_opt(STORE_LIMIT_UNLIMITED);
	struct store_skipped *ss = NULL;
	size_t n = 0;

	(void)state;
	f->world.accounts = accts;
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	skipped(f, "ida", &ss, &n);
	assert_int_equal(n, 3);
	check_item(&ss[0], 2, NULL);
	check_item(&ss[1], 3, NULL);
	check_item(&ss[2], 4, NULL);
	store_skipped_list_free(&ss, n);
	skipped(f, "jan", &ss, &n);
	assert_int_equal(n, 3);
	check_item(&ss[0], 2, NULL);
	check_item(&ss[1], 3, "generated");
	check_item(&ss[2], 4, NULL);
	store_skipped_list_free(&ss, n);
	assert_int_equal(atomic_load(&a.peeks), 0);
	assert_int_equal(atomic_load(&b.peeks), 3);
	fx_free(f);
}

static void test_size_skip_peek_cut(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, big_msgs, NBIG}};
	struct fake_account a = {.login = "kai",
				 .folders = fo,
				 .nfolders = 1,
				 .peek_code = MF_ECLOSED,
				 .peek_fail_times = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"kai", NULL};
	struct store_batch_options opt = big_opt(STORE_LIMIT_UNLIMITED);
	struct store_skipped *ss = NULL;
	struct store_user u;
	size_t n = 0;

	(void)state;
	f->world.accounts = accts;
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	fx_user(f, "kai", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.transient_errors, 1); /* reconnected once */
	assert_int_equal(u.stats.total_items, 5);
	assert_int_equal(u.stats.skipped_items, 3);
	store_user_clear(&u);
	skipped(f, "kai", &ss, &n);
	assert_int_equal(n, 3);
	check_item(&ss[0], 2, "big one");
	check_item(&ss[1], 3, "generated");
	check_item(&ss[2], 4, NULL);
	store_skipped_list_free(&ss, n);
	assert_int_equal(atomic_load(&a.opens), 2);
	fx_free(f);
}

static void test_appendlimit_records_subject(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, big_msgs, NBIG}};
	struct fake_account a = {.login = "lea", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"lea", NULL};
	struct store_batch_options opt = big_opt(STORE_LIMIT_UNLIMITED);
	struct store_skipped *ss = NULL;
	size_t n = 0;

	(void)state;
	f->world.accounts = accts;
	f->world.append_limit = 100;
	opt.max_message_size = 0;
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED_WITH_ERRORS);
	skipped(f, "lea", &ss, &n);
	assert_int_equal(n, 3);
	assert_int_equal(ss[0].uid, 2);
	assert_string_equal(ss[0].subject, "big one");
	assert_int_equal(ss[0].kind, STORE_SKIP_LARGE);
	assert_int_equal(ss[0].date, T2024 + 1);
	assert_string_equal(ss[1].subject, "generated");
	assert_string_equal(ss[1].reason,
			    "message of 5000 bytes exceeds the server's APPENDLIMIT of 100");
	assert_null(ss[2].subject);
	store_skipped_list_free(&ss, n);
	/* The refusal comes when the message is fetched: no peek needed. */
	assert_int_equal(atomic_load(&a.peeks), 0);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_skip_records_subject),
	    cmocka_unit_test(test_size_skip_limit),
	    cmocka_unit_test(test_size_skip_without_peek),
	    cmocka_unit_test(test_size_skip_peek_cut),
	    cmocka_unit_test(test_appendlimit_records_subject),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
