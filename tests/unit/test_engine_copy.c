/* Unit tests for src/engine: copying mailboxes from an in-memory source
 * into the real local store (maildir) through engine_batch_run(): bytes,
 * flags, keywords, dates, folders and their mapping, the message map on a
 * second run, skipped items and the item limits, --received-after, folder
 * filters, statistics, and resuming after a connection cut mid-message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_engine_fake.h"

#define T2020 1580000000 /* 2020-01-26 */
#define T2023 1672531200 /* 2023-01-01 */
#define T2024 1710000000 /* 2024-03-09 */

static struct fake_msg inbox_msgs[] = {
    {1, "From: a@example.org\r\nSubject: one\r\n\r\nHello\r\n", 0, MBX_SEEN, {NULL}, T2020},
    {2,
     "Subject: two\r\nMessage-ID: <same@x>\r\n\r\nBody two\r\n",
     0,
     MBX_SEEN | MBX_FLAGGED,
     {"$Label1", "work", NULL},
     T2024},
    {5,
     "Subject: three\r\nMessage-ID: <same@x>\r\n\r\nSame Message-ID, other body\n",
     0,
     MBX_ANSWERED | MBX_DRAFT | MBX_DELETED,
     {NULL},
     T2024 + 60},
};

static struct fake_msg sent_msgs[] = {
    {3, "Subject: sent\r\n\r\nI wrote this\r\n", 0, MBX_SEEN, {NULL}, T2024},
};

static struct fake_msg archive_msgs[] = {
    {9, "Subject: old\r\n\r\nArchived\r\n", 0, 0, {NULL}, T2020},
};

static struct fake_msg refuse_msgs[] = {
    {1, "Subject: fine\r\n\r\nok\r\n", 0, 0, {NULL}, T2024},
    {2,
     "From: x@example.org\r\nSubject: =?utf-8?q?refuse?=\r\n me\r\n\r\nbad\r\n",
     0,
     0,
     {"$Refuse", NULL},
     T2024 + 1},
    {3, "Subject: also fine\r\n\r\nok too\r\n", 0, MBX_SEEN, {NULL}, T2024 + 2},
};

static struct fake_msg large_msgs[] = {
    {1, "Subject: small\r\n\r\nok\r\n", 0, 0, {NULL}, T2024},
    {2, NULL, 5000, 0, {NULL}, T2024},
};

/* INBOX, "Sent Messages" (Sent), Archive (noselect) / 2024, Empty,
 * Lonely (noselect, no children). */
static void mailbox_standard(struct fake_folder fo[6])
{
	memset(fo, 0, 6 * sizeof(*fo));
	fo[0] = (struct fake_folder){"INBOX", MBX_ROLE_INBOX, true, false, inbox_msgs, 3};
	fo[1] = (struct fake_folder){"Sent Messages", MBX_ROLE_SENT, true, false, sent_msgs, 1};
	fo[2] = (struct fake_folder){"Archive", MBX_ROLE_NONE, false, true, NULL, 0};
	fo[3] = (struct fake_folder){"Archive/2024", MBX_ROLE_NONE, false, false, archive_msgs, 1};
	fo[4] = (struct fake_folder){"Empty", MBX_ROLE_NONE, true, false, NULL, 0};
	fo[5] = (struct fake_folder){"Lonely", MBX_ROLE_NONE, false, true, NULL, 0};
}

static void check_msg(const struct got_folder *g, const struct fake_msg *m)
{
	const struct got_msg *got = got_find(g, m->body);
	struct buf kw = BUF_INIT;

	if (got == NULL)
		fail_msg("message %u not found", m->uid);
	assert_int_equal(got->flags, m->flags);
	assert_int_equal(got->date, m->date);
	for (size_t i = 0; i < 4 && m->kw[i] != NULL; i++)
		buf_printf(&kw, "%s%s", i > 0 ? " " : "", m->kw[i]);
	assert_string_equal(got->kw, buf_cstr(&kw));
	buf_free(&kw);
}

static void check_standard(struct fx *f, const char *login)
{
	struct got_folder g;
	bool sub = false;

	got_read(f, login, "INBOX", &g);
	assert_int_equal(g.count, 3);
	for (size_t i = 0; i < 3; i++)
		check_msg(&g, &inbox_msgs[i]);
	got_free(&g);
	/* "Sent Messages" lands in the target's own Sent folder. */
	got_read(f, login, "Sent", &g);
	assert_int_equal(g.count, 1);
	check_msg(&g, &sent_msgs[0]);
	got_free(&g);
	assert_false(got_folder(f, login, "Sent Messages", NULL));
	assert_true(got_folder(f, login, "Sent", &sub));
	assert_true(sub);
	got_read(f, login, "Archive/2024", &g);
	assert_int_equal(g.count, 1);
	check_msg(&g, &archive_msgs[0]);
	got_free(&g);
	/* A \Noselect source parent stays a container, not a real folder. */
	assert_false(got_folder(f, login, "Archive", NULL));
	sub = false;
	assert_true(got_folder(f, login, "Empty", &sub));
	assert_true(sub);
	assert_false(got_folder(f, login, "Lonely", NULL));
}

static int64_t standard_bytes(void)
{
	int64_t n = 0;

	for (size_t i = 0; i < 3; i++)
		n += (int64_t)strlen(inbox_msgs[i].body);
	return n + (int64_t)strlen(sent_msgs[0].body) + (int64_t)strlen(archive_msgs[0].body);
}

static void check_synced(struct fx *f, const char *login, int64_t total, int64_t skipped)
{
	struct store_user u;

	fx_user(f, login, &u);
	if (u.status != STORE_USER_SYNCED)
		fail_msg("%s is %s: %s", login, store_user_status_name(u.status),
			 u.stats.last_error ? u.stats.last_error : "");
	assert_int_equal(u.stats.total_items, total);
	assert_int_equal(u.stats.synced_items + u.stats.skipped_items, total);
	assert_int_equal(u.stats.skipped_items, skipped);
	assert_int_equal(engine_percent(&u.stats, u.status), 100);
	assert_true(u.stats.ended_at >= u.stats.started_at && u.stats.started_at > 0);
	assert_null(u.stats.last_error);
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_copy_all_and_rerun(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_folder fa[6], fb[6], fc[6];
	struct fake_account a = {.login = "alice", .folders = fa, .nfolders = 6};
	struct fake_account b = {.login = "bob", .folders = fb, .nfolders = 6};
	struct fake_account c = {.login = "carl", .folders = fc, .nfolders = 6};
	struct fake_account *accts[] = {&a, &b, &c, NULL};
	const char *logins[] = {"alice", "bob", "carl", NULL};
	struct store_user u;

	(void)state;
	mailbox_standard(fa);
	mailbox_standard(fb);
	mailbox_standard(fc);
	f->world.accounts = accts;
	fx_batch(f, "B1", NULL, logins);
	fx_run(f, "B1");
	assert_int_equal(fx_batch_status(f, "B1"), STORE_BATCH_SYNCED);
	for (size_t i = 0; i < 3; i++) {
		check_synced(f, logins[i], 5, 0);
		check_standard(f, logins[i]);
	}
	fx_user(f, "bob", &u);
	assert_int_equal(u.stats.bytes_transferred, standard_bytes());
	assert_int_equal(u.stats.total_bytes, standard_bytes());
	store_user_clear(&u);

	/* A second pass copies nothing: the message map knows. */
	f->o.resync = true;
	fx_run(f, "B1");
	assert_int_equal(fx_batch_status(f, "B1"), STORE_BATCH_SYNCED);
	for (size_t i = 0; i < 3; i++) {
		check_synced(f, logins[i], 5, 0);
		check_standard(f, logins[i]);
	}
	fx_user(f, "bob", &u);
	assert_int_equal(u.stats.bytes_transferred, standard_bytes());
	store_user_clear(&u);
	assert_int_equal(atomic_load(&a.delivered), 5);
	fx_free(f);
}

static void test_refused_is_skipped(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, refuse_msgs, 3}};
	struct fake_account a = {.login = "dora", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"dora", NULL};
	struct store_skipped *ss = NULL;
	struct mf_error err = {0};
	struct store_user u;
	struct got_folder g;
	size_t n = 0;

	(void)state;
	f->world.accounts = accts;
	f->world.refuse_keyword = "$Refuse";
	f->world.defer_done = true; /* as a pipelined IMAP target reports */
	fx_batch(f, "B", NULL, logins);
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED_WITH_ERRORS);
	check_synced(f, "dora", 3, 1);
	got_read(f, "dora", "INBOX", &g);
	assert_int_equal(g.count, 2);
	check_msg(&g, &refuse_msgs[0]);
	check_msg(&g, &refuse_msgs[2]);
	got_free(&g);
	fx_user(f, "dora", &u);
	assert_int_equal(store_skipped_list(f->st, u.id, &ss, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ss[0].folder, "INBOX");
	assert_int_equal(ss[0].uid, 2);
	assert_int_equal(ss[0].kind, STORE_SKIP_BAD);
	assert_string_equal(ss[0].subject, "=?utf-8?q?refuse?= me");
	assert_int_equal(ss[0].size, (int64_t)strlen(refuse_msgs[1].body));
	assert_int_equal(ss[0].date, T2024 + 1);
	assert_string_equal(ss[0].reason, "[CANNOT] The test target refuses this message");
	store_skipped_list_free(&ss, n);

	/* Again: the skipped item is neither retried nor recorded twice. */
	f->o.resync = true;
	fx_run(f, "B");
	check_synced(f, "dora", 3, 1);
	assert_int_equal(store_skipped_list(f->st, u.id, &ss, &n, &err), 0);
	assert_int_equal(n, 1);
	store_skipped_list_free(&ss, n);
	store_user_clear(&u);
	fx_free(f);
}

static void test_bad_item_limit(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, refuse_msgs, 3}};
	struct fake_account a = {.login = "dora", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"dora", NULL};
	struct store_batch_options opt = {0};
	struct store_user u;

	(void)state;
	f->world.accounts = accts;
	f->world.refuse_keyword = "$Refuse";
	opt.bad_item_limit = 0;
	opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	fx_user(f, "dora", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_string_equal(u.stats.last_error,
			    "BadItemLimit of 0 exceeded: 1 item skipped (see 'mailferry user show "
			    "dora@example.org --skipped-items')");
	assert_int_equal(u.stats.skipped_items, 1);
	assert_int_equal(fx_intents(f, u.id), 0);
	assert_true(u.stats.ended_at > 0);
	store_user_clear(&u);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_FAILED);
	fx_free(f);
}

static void test_large_items(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, large_msgs, 2}};
	struct fake_folder fo2[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, large_msgs, 2}};
	struct fake_account a = {.login = "ed", .folders = fo, .nfolders = 1};
	struct fake_account b = {.login = "flo", .folders = fo2, .nfolders = 1};
	struct fake_account *accts[] = {&a, &b, NULL};
	const char *l1[] = {"ed", NULL}, *l2[] = {"flo", NULL};
	struct store_batch_options opt = {0};
	struct store_skipped *ss = NULL;
	struct mf_error err = {0};
	struct store_user u;
	size_t n = 0;

	(void)state;
	f->world.accounts = accts;
	opt.bad_item_limit = 0;
	opt.large_item_limit = 1;
	opt.max_message_size = 1000;
	fx_batch(f, "Lenient", &opt, l1);
	opt.large_item_limit = 0;
	fx_batch(f, "Strict", &opt, l2);
	fx_run(f, "Lenient");
	check_synced(f, "ed", 2, 1);
	fx_user(f, "ed", &u);
	assert_int_equal(store_skipped_list(f->st, u.id, &ss, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ss[0].kind, STORE_SKIP_LARGE);
	assert_int_equal(ss[0].size, 5000);
	assert_string_equal(ss[0].subject, "generated"); /* peeked, not fetched */
	assert_string_equal(ss[0].reason,
			    "message of 5000 bytes exceeds the maximum message size of 1000 bytes");
	store_skipped_list_free(&ss, n);
	store_user_clear(&u);
	assert_int_equal(atomic_load(&a.delivered), 1); /* never fetched */

	fx_run(f, "Strict");
	fx_user(f, "flo", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_string_equal(u.stats.last_error,
			    "LargeItemLimit of 0 exceeded: 1 item skipped (see 'mailferry user "
			    "show flo@example.org --skipped-items')");
	store_user_clear(&u);
	fx_free(f);
}

static void test_received_after(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[6];
	struct fake_account a = {.login = "gus", .folders = fo, .nfolders = 6};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"gus", NULL};
	struct store_batch_options opt = {0};
	struct got_folder g;

	(void)state;
	mailbox_standard(fo);
	f->world.accounts = accts;
	opt.bad_item_limit = opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	opt.received_after = T2023;
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	/* Of the five, inbox 2 and 5 and the sent one are from 2024. */
	check_synced(f, "gus", 3, 0);
	got_read(f, "gus", "INBOX", &g);
	assert_int_equal(g.count, 2);
	check_msg(&g, &inbox_msgs[1]);
	check_msg(&g, &inbox_msgs[2]);
	got_free(&g);
	got_read(f, "gus", "Archive/2024", &g);
	assert_int_equal(g.count, 0);
	got_free(&g);
	fx_free(f);
}

static void test_folder_filters(void **state)
{
	static struct fake_msg m1[] = {{1, "Subject: a\r\n\r\na\r\n", 0, 0, {NULL}, T2024}};
	struct fx *f = fx_new(4);
	struct fake_folder fo[] = {
	    {"INBOX", MBX_ROLE_INBOX, true, false, m1, 1},
	    {"INBOX/Work", MBX_ROLE_NONE, true, false, m1, 1},
	    {"Sent Messages", MBX_ROLE_SENT, true, false, m1, 1},
	    {"Junk Mail", MBX_ROLE_JUNK, true, false, m1, 1},
	    {"Projects", MBX_ROLE_NONE, true, false, m1, 1},
	    {"Projects/New", MBX_ROLE_NONE, true, false, m1, 1},
	    {"Projects/Old", MBX_ROLE_NONE, true, false, m1, 1},
	    {"Projects-old", MBX_ROLE_NONE, true, false, m1, 1},
	};
	struct fake_account a = {.login = "hal", .folders = fo, .nfolders = 8};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"hal", NULL};
	struct store_batch_options opt = {0};

	(void)state;
	f->world.accounts = accts;
	opt.bad_item_limit = opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	opt.include_folders = "[\"#inbox#\", \"projects/\", \"#JunkEmail#\"]";
	opt.exclude_folders = "[\"Projects/Old\", \"#junkemail#\"]";
	fx_batch(f, "B", &opt, logins);
	fx_run(f, "B");
	check_synced(f, "hal", 4, 0);
	assert_true(got_folder(f, "hal", "INBOX", NULL));
	assert_true(got_folder(f, "hal", "INBOX/Work", NULL));
	assert_true(got_folder(f, "hal", "Projects", NULL));
	assert_true(got_folder(f, "hal", "Projects/New", NULL));
	assert_false(got_folder(f, "hal", "Projects/Old", NULL));
	assert_false(got_folder(f, "hal", "Projects-old", NULL));
	assert_false(got_folder(f, "hal", "Sent", NULL));
	assert_false(got_folder(f, "hal", "Junk", NULL));
	fx_free(f);
}

static void test_bad_filter_refused(void **state)
{
	struct fx *f = fx_new(4);
	const char *logins[] = {"ida", NULL};
	struct store_batch_options opt = {0};
	struct mf_error err = {0};

	(void)state;
	opt.include_folders = "[\"#Calendar#\"]";
	fx_batch(f, "B", &opt, logins);
	assert_int_equal(engine_batch_run(f->st, f->data_dir, "B", &f->o, &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "--include-folder"));
	assert_non_null(strstr(err.msg, "#Calendar#"));
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_CREATED);
	fx_free(f);
}

static void test_reconnect_resumes(void **state)
{
	static struct fake_msg msgs[20];
	static char bodies[20][64];
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 20}};
	struct fake_account a = {.login = "jo", .folders = fo, .nfolders = 1, .cut_after = 7};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"jo", NULL};
	struct got_folder g;
	struct store_user u;

	(void)state;
	for (int i = 0; i < 20; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "Subject: m%d\r\n\r\nbody %d\r\n", i, i);
		msgs[i] = (struct fake_msg){(uint32_t)(i + 1), bodies[i], 0, 0, {NULL}, T2024};
	}
	f->world.accounts = accts;
	f->world.defer_done = true;
	f->o.fetch_chunk = 5;
	fx_batch(f, "B", NULL, logins);
	fx_run(f, "B");
	check_synced(f, "jo", 20, 0);
	got_read(f, "jo", "INBOX", &g);
	assert_int_equal(g.count, 20); /* each once: no loss, no duplicate */
	for (int i = 0; i < 20; i++)
		check_msg(&g, &msgs[i]);
	got_free(&g);
	fx_user(f, "jo", &u);
	assert_int_equal(u.stats.transient_errors, 1);
	store_user_clear(&u);
	assert_int_equal(atomic_load(&a.opens), 2);
	fx_free(f);
}

/* The target loses its connection on the 9th append: the append's
 * outcome is unknown to the engine, which reconnects and resumes. */
static void test_target_connection_lost(void **state)
{
	static struct fake_msg msgs[20];
	static char bodies[20][64];
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 20}};
	struct fake_account a = {.login = "kim", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"kim", NULL};
	struct got_folder g;
	struct store_user u;

	(void)state;
	for (int i = 0; i < 20; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "Subject: t%d\r\n\r\nbody %d\r\n", i, i);
		msgs[i] =
		    (struct fake_msg){(uint32_t)(i + 1), bodies[i], 0, MBX_SEEN, {NULL}, T2024 + i};
	}
	f->world.accounts = accts;
	f->world.defer_done = true;
	f->world.target_fail_at = 9;
	f->o.fetch_chunk = 6;
	fx_batch(f, "B", NULL, logins);
	fx_run(f, "B");
	check_synced(f, "kim", 20, 0);
	got_read(f, "kim", "INBOX", &g);
	assert_int_equal(g.count, 20);
	for (int i = 0; i < 20; i++)
		check_msg(&g, &msgs[i]);
	got_free(&g);
	fx_user(f, "kim", &u);
	assert_int_equal(u.stats.transient_errors, 1);
	store_user_clear(&u);
	assert_int_equal(atomic_load(&f->world.target_opens), 2);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_copy_all_and_rerun),
	    cmocka_unit_test(test_refused_is_skipped),
	    cmocka_unit_test(test_bad_item_limit),
	    cmocka_unit_test(test_large_items),
	    cmocka_unit_test(test_received_after),
	    cmocka_unit_test(test_folder_filters),
	    cmocka_unit_test(test_bad_filter_refused),
	    cmocka_unit_test(test_reconnect_resumes),
	    cmocka_unit_test(test_target_connection_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
