/* Unit tests for src/engine with a target that batches appends as IMAP
 * MULTIAPPEND does (test_engine_wrap.h, world.multi): the messages of a
 * refused batch are reported MF_ERETRY, kept as intents, and appended
 * again one by one at the end of the folder, so that only the message the
 * target minds becomes a skipped item; everything else lands once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_engine_fake.h"

#define T2024 1710000000

static struct fake_msg inbox[] = {
    {1, "Subject: one\r\n\r\n1\r\n", 0, MBX_SEEN, {NULL}, T2024},
    {2, "Subject: two\r\n\r\n2\r\n", 0, 0, {"$Work", NULL}, T2024 + 1},
    {3, "Subject: the bad one\r\n\r\n3\r\n", 0, 0, {"$Refuse", NULL}, T2024 + 2},
    {4, "Subject: four\r\n\r\n4\r\n", 0, 0, {NULL}, T2024 + 3},
    {5, "Subject: five\r\n\r\n5\r\n", 0, 0, {NULL}, T2024 + 4},
    {6, "Subject: six\r\n\r\n6\r\n", 0, 0, {NULL}, T2024 + 5},
    {7, "Subject: seven\r\n\r\n7\r\n", 0, MBX_FLAGGED, {NULL}, T2024 + 6},
};

static struct fake_msg work[] = {
    {10, "Subject: w1\r\n\r\nw1\r\n", 0, 0, {NULL}, T2024},
    {11, "Subject: w2\r\n\r\nw2\r\n", 0, 0, {"$Refuse", NULL}, T2024 + 1},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_refused_batch_retried_alone(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[] = {
	    {"INBOX", MBX_ROLE_INBOX, true, false, inbox, N(inbox)},
	    {"Work", MBX_ROLE_NONE, true, false, work, N(work)},
	};
	struct fake_account a = {.login = "hal", .folders = fo, .nfolders = 2};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"hal", NULL};
	struct store_batch_options opt = {0};
	struct store_skipped *ss = NULL;
	struct got_folder g;
	struct store_user u;
	size_t n = 0;
	struct mf_error err = {0};

	(void)state;
	opt.bad_item_limit = 5;
	opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	f->world.accounts = accts;
	f->world.multi = 3;
	f->world.no_names = true;
	f->world.refuse_keyword = "$Refuse";
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED_WITH_ERRORS);
	fx_user(f, "hal", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.total_items, 9);
	assert_int_equal(u.stats.synced_items, 7);
	assert_int_equal(u.stats.skipped_items, 2);
	assert_int_equal(fx_intents(f, u.id), 0);
	/* INBOX: [1 2 3] refused, [4 5 6] and [7] stored; then 1, 2, 3
	 * alone. Work: [10 11] refused; then 10 and 11 alone. */
	assert_int_equal(atomic_load(&f->world.batches), 4);
	assert_int_equal(atomic_load(&f->world.batches_refused), 2);
	assert_int_equal(atomic_load(&f->world.alone_appends), 5);
	/* Each refused message was fetched twice. */
	assert_int_equal(atomic_load(&a.delivered), 9 + 5);
	if (store_skipped_list(f->st, u.id, &ss, &n, &err) != 0)
		fail_msg("skipped: %s", err.msg);
	assert_int_equal(n, 2);
	/* The folders are copied in parallel: either may be skipped first. */
	if (strcmp(ss[0].folder, "INBOX") != 0) {
		struct store_skipped t = ss[0];

		ss[0] = ss[1];
		ss[1] = t;
	}
	assert_string_equal(ss[0].folder, "INBOX");
	assert_int_equal(ss[0].uid, 3);
	assert_string_equal(ss[0].subject, "the bad one");
	assert_string_equal(ss[0].reason, "[CANNOT] The test target refuses this message");
	assert_int_equal(ss[0].kind, STORE_SKIP_BAD);
	assert_string_equal(ss[1].folder, "Work");
	assert_int_equal(ss[1].uid, 11);
	store_skipped_list_free(&ss, n);
	store_user_clear(&u);

	/* Everything else landed once, flags and keywords kept. */
	got_read(f, "hal", "INBOX", &g);
	assert_int_equal(g.count, 6);
	for (size_t i = 0; i < N(inbox); i++) {
		const struct got_msg *gm = got_find(&g, inbox[i].body);

		if (inbox[i].uid == 3) {
			assert_null(gm);
			continue;
		}
		assert_non_null(gm);
		assert_int_equal(gm->flags, inbox[i].flags);
		assert_int_equal(gm->date, inbox[i].date);
	}
	assert_string_equal(got_find(&g, inbox[1].body)->kw, "$Work");
	got_free(&g);
	got_read(f, "hal", "Work", &g);
	assert_int_equal(g.count, 1);
	assert_non_null(got_find(&g, work[0].body));
	got_free(&g);

	/* Again: nothing is copied twice, the skipped items stay skipped. */
	f->o.resync = true;
	fx_run(f, "B");
	got_read(f, "hal", "INBOX", &g);
	assert_int_equal(g.count, 6);
	got_free(&g);
	fx_user(f, "hal", &u);
	assert_int_equal(u.stats.synced_items, 7);
	assert_int_equal(u.stats.skipped_items, 2);
	store_user_clear(&u);
	fx_free(f);
}

/* The retried messages count against BadItemLimit only when refused
 * alone: a limit of 0 fails the user on the one bad message, with the
 * others of its batch copied. */
static void test_refused_batch_limit(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[] = {
	    {"INBOX", MBX_ROLE_INBOX, true, false, inbox, N(inbox)},
	};
	struct fake_account a = {.login = "ida", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"ida", NULL};
	struct store_batch_options opt = {0};
	struct store_user u;

	(void)state;
	opt.bad_item_limit = 0;
	opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	f->world.accounts = accts;
	f->world.multi = 100;
	f->world.no_names = true;
	f->world.refuse_keyword = "$Refuse";
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	fx_user(f, "ida", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_non_null(strstr(u.stats.last_error, "BadItemLimit of 0 exceeded"));
	assert_int_equal(u.stats.skipped_items, 1);
	assert_int_equal(u.stats.synced_items, 2); /* 1 and 2, alone before 3 */
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_batch_retried_alone),
	    cmocka_unit_test(test_refused_batch_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
