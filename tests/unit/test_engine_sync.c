/* Unit tests for src/engine incremental sync and completion (engine.h):
 * new messages and flag changes after the first sync (with and without
 * CONDSTORE), deletions with and without sync_deletes, a UIDVALIDITY
 * change and a folder rename at the source recovered by content, batch
 * complete and auto-complete, and the cost of a no-op pass over 10,000
 * messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_engine_fake.h"
#include "util/mftime.h"

#define T0 1700000000

static void fx_incr(struct fx *f, const char *batch)
{
	struct mf_error err = {0};

	if (engine_batch_incremental(f->st, f->data_dir, batch, &f->o, &err) != 0)
		fail_msg("engine_batch_incremental: %s", err.msg);
}

static void fx_complete(struct fx *f, const char *batch)
{
	struct mf_error err = {0};

	if (engine_batch_complete(f->st, f->data_dir, batch, &f->o, &err) != 0)
		fail_msg("engine_batch_complete: %s", err.msg);
}

static void check_user(struct fx *f, const char *login, enum store_user_status want)
{
	struct store_user u;

	fx_user(f, login, &u);
	if (u.status != want)
		fail_msg("%s is %s, not %s: %s", login, store_user_status_name(u.status),
			 store_user_status_name(want), u.stats.last_error ? u.stats.last_error : "");
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
}

static size_t got_count(struct fx *f, const char *login, const char *folder, const char *body)
{
	struct got_folder g;
	size_t n = 0;

	got_read(f, login, folder, &g);
	for (size_t i = 0; i < g.count; i++)
		n += body == NULL || (g.msgs[i].bytes.len == strlen(body) &&
				      memcmp(g.msgs[i].bytes.data, body, strlen(body)) == 0);
	got_free(&g);
	return n;
}

/* ---- new messages and flags ------------------------------------------------------ */

static struct fake_msg imsgs[6] = {
    {1, "Subject: a\r\n\r\none\r\n", 0, 0, {NULL}, T0},
    {2, "Subject: b\r\n\r\ntwo\r\n", 0, MBX_SEEN, {"work", NULL}, T0 + 1},
    {3, "Subject: c\r\n\r\nthree\r\n", 0, MBX_FLAGGED, {NULL}, T0 + 2},
    {4, "Subject: d\r\n\r\nfour\r\n", 0, 0, {NULL}, T0 + 3},
    {7, "Subject: e\r\n\r\nnew one\r\n", 0, MBX_SEEN, {NULL}, T0 + 4},
    {9, "Subject: f\r\n\r\nnew two\r\n", 0, 0, {"$Label1", NULL}, T0 + 5},
};

static void incremental_case(bool condstore)
{
	struct fx *f = fx_new(2);
	struct fake_msg msgs[6];
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 4}};
	struct fake_account a = {.login = "ina", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"ina", NULL};
	static const uint32_t changed[] = {1, 2};
	const struct got_msg *gm;
	struct got_folder g;
	struct store_user u;

	memcpy(msgs, imsgs, sizeof(msgs));
	a.modseq = condstore ? 10 : 0;
	f->world.accounts = accts;
	fx_batch(f, "I", NULL, logins);
	fx_run(f, "I");
	check_user(f, "ina", STORE_USER_SYNCED);
	assert_int_equal(got_count(f, "ina", "INBOX", NULL), 4);

	/* Nothing changed: no message is fetched, no flag listed (with
	 * CONDSTORE), or one flag listing (without). */
	atomic_store(&a.fetches, 0);
	fx_incr(f, "I");
	check_user(f, "ina", STORE_USER_SYNCED);
	assert_int_equal(fx_batch_status(f, "I"), STORE_BATCH_SYNCED);
	assert_int_equal(atomic_load(&a.fetches), 0);
	assert_int_equal(atomic_load(&a.flag_lists), condstore ? 0 : 1);
	assert_int_equal(atomic_load(&a.changed_lists), 0);

	/* Two new messages, flags changed on two old ones. */
	fo[0].count = 6;
	msgs[0].flags = MBX_SEEN | MBX_ANSWERED;
	msgs[1].flags = 0;
	msgs[1].kw[0] = "home";
	a.modseq = condstore ? 12 : 0;
	a.changed = changed;
	a.nchanged = 2;
	fx_incr(f, "I");
	check_user(f, "ina", STORE_USER_SYNCED);
	assert_int_equal(atomic_load(&a.changed_lists), condstore ? 1 : 0);
	assert_int_equal(atomic_load(&a.flag_lists), condstore ? 0 : 2);
	got_read(f, "ina", "INBOX", &g);
	assert_int_equal(g.count, 6);
	gm = got_find(&g, msgs[0].body);
	assert_int_equal(gm->flags, MBX_SEEN | MBX_ANSWERED);
	gm = got_find(&g, msgs[1].body);
	assert_int_equal(gm->flags, 0);
	assert_string_equal(gm->kw, "home");
	gm = got_find(&g, msgs[5].body);
	assert_string_equal(gm->kw, "$Label1");
	gm = got_find(&g, msgs[2].body);
	assert_int_equal(gm->flags, MBX_FLAGGED);
	got_free(&g);
	fx_user(f, "ina", &u);
	assert_int_equal(u.stats.synced_items, 6);
	assert_int_equal(u.stats.total_items, 6);
	assert_int_equal(engine_percent(&u.stats, u.status), 100);
	assert_true(u.stats.next_attempt_at > time(NULL) + 3600);
	store_user_clear(&u);

	/* `batch start` on a synced batch is an incremental sync too. */
	fx_run(f, "I");
	check_user(f, "ina", STORE_USER_SYNCED);
	assert_int_equal(got_count(f, "ina", "INBOX", NULL), 6);
	fx_free(f);
}

static void test_incremental_plain(void **state)
{
	(void)state;
	incremental_case(false);
}

static void test_incremental_condstore(void **state)
{
	(void)state;
	incremental_case(true);
}

/* ---- deletions --------------------------------------------------------------------- */

static void deletes_case(bool sync_deletes)
{
	struct fx *f = fx_new(2);
	struct fake_msg msgs[4];
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 4}};
	struct fake_account a = {.login = "del", .folders = fo, .nfolders = 1, .modseq = 5};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"del", NULL};
	struct store_batch_options opt = {0};

	memcpy(msgs, imsgs, sizeof(msgs));
	opt.bad_item_limit = opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	opt.sync_deletes = sync_deletes;
	f->world.accounts = accts;
	fx_batch(f, "D", &opt, logins);
	fx_run(f, "D");
	check_user(f, "del", STORE_USER_SYNCED);
	/* UID 2 goes at the source. */
	msgs[1] = msgs[2];
	msgs[2] = msgs[3];
	fo[0].count = 3;
	fx_incr(f, "D");
	check_user(f, "del", STORE_USER_SYNCED);
	assert_int_equal(got_count(f, "del", "INBOX", NULL), sync_deletes ? 3 : 4);
	assert_int_equal(got_count(f, "del", "INBOX", imsgs[1].body), sync_deletes ? 0 : 1);
	/* A second pass finds nothing more to do. */
	fx_incr(f, "D");
	assert_int_equal(got_count(f, "del", "INBOX", NULL), sync_deletes ? 3 : 4);
	fx_free(f);
}

static void test_deletes_kept(void **state)
{
	(void)state;
	deletes_case(false);
}

static void test_deletes_synced(void **state)
{
	(void)state;
	deletes_case(true);
}

/* ---- UIDVALIDITY and renames ------------------------------------------------------------ */

static void test_uidvalidity_change(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_msg msgs[6];
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 4}};
	struct fake_account a = {.login = "uvi", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"uvi", NULL};
	struct store_folder row = {0};
	struct mf_error err = {0};
	struct store_user u;
	int64_t done = 0;

	(void)state;
	memcpy(msgs, imsgs, sizeof(msgs));
	f->world.accounts = accts;
	fx_batch(f, "U", NULL, logins);
	fx_run(f, "U");
	check_user(f, "uvi", STORE_USER_SYNCED);
	/* The folder is recreated: new UIDVALIDITY, new UIDs, one more. */
	a.uidvalidity_bump = 77;
	for (int i = 0; i < 5; i++)
		msgs[i].uid = (uint32_t)(101 + i);
	fo[0].count = 5;
	fx_incr(f, "U");
	check_user(f, "uvi", STORE_USER_SYNCED);
	assert_int_equal(got_count(f, "uvi", "INBOX", NULL), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(got_count(f, "uvi", "INBOX", msgs[i].body), 1);
	fx_user(f, "uvi", &u);
	assert_int_equal(store_folder_get(f->st, u.id, "INBOX", &row, &err), 0);
	assert_int_equal(row.uidvalidity, 1005 + 77);
	assert_int_equal(store_msgmap_count_done(f->st, row.id, row.uidvalidity, &done, &err), 0);
	assert_int_equal(done, 5);
	assert_int_equal(store_msgmap_lookup(f->st, row.id, row.uidvalidity, 103, NULL, &err), 0);
	assert_int_equal(u.stats.synced_items, 5);
	store_folder_clear(&row);
	store_user_clear(&u);
	fx_free(f);
}

static void test_folder_renamed(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_msg msgs[3];
	/* Same length, so the fake gives the same UIDVALIDITY. */
	struct fake_folder fo[2] = {{"INBOX", MBX_ROLE_INBOX, true, false, NULL, 0},
				    {"Alpha", MBX_ROLE_NONE, true, false, msgs, 3}};
	struct fake_account a = {.login = "ren", .folders = fo, .nfolders = 2};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"ren", NULL};

	(void)state;
	memcpy(msgs, imsgs, sizeof(msgs));
	f->world.accounts = accts;
	fx_batch(f, "R", NULL, logins);
	fx_run(f, "R");
	check_user(f, "ren", STORE_USER_SYNCED);
	assert_true(got_folder(f, "ren", "Alpha", NULL));
	fo[1].name = "Gamma";
	atomic_store(&a.fetches, 0);
	fx_incr(f, "R");
	check_user(f, "ren", STORE_USER_SYNCED);
	assert_false(got_folder(f, "ren", "Alpha", NULL));
	assert_true(got_folder(f, "ren", "Gamma", NULL));
	assert_int_equal(got_count(f, "ren", "Gamma", NULL), 3);
	assert_int_equal(atomic_load(&a.fetches), 0); /* nothing copied again */
	fx_free(f);
}

/* ---- completion ---------------------------------------------------------------------------- */

static void test_complete(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_msg msgs[6];
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 4}};
	struct fake_account a = {.login = "cat", .folders = fo, .nfolders = 1};
	struct fake_account b = {.login = "cid", .open_rc = MF_EAUTH, .open_msg = "no"};
	struct fake_account *accts[] = {&a, &b, NULL};
	const char *logins[] = {"cat", "cid", NULL};
	struct mf_error err = {0};
	struct store_batch bt = {0};

	(void)state;
	memcpy(msgs, imsgs, sizeof(msgs));
	f->world.accounts = accts;
	fx_batch(f, "C", NULL, logins);
	/* Not synced yet: refused. */
	assert_int_equal(engine_batch_complete(f->st, f->data_dir, "C", &f->o, &err), MF_EINVAL);
	fx_run(f, "C");
	assert_int_equal(fx_batch_status(f, "C"), STORE_BATCH_SYNCED_WITH_ERRORS);
	fo[0].count = 5; /* arrives before the cut-over */
	fx_complete(f, "C");
	check_user(f, "cat", STORE_USER_COMPLETED);
	check_user(f, "cid", STORE_USER_FAILED);
	assert_int_equal(fx_batch_status(f, "C"), STORE_BATCH_COMPLETED_WITH_ERRORS);
	assert_int_equal(got_count(f, "cat", "INBOX", NULL), 5);
	assert_int_equal(store_batch_get(f->st, "C", &bt, &err), 0);
	assert_true(bt.completed_at > 0);
	store_batch_clear(&bt);
	/* A completed batch is not started again. */
	assert_int_equal(engine_batch_run(f->st, f->data_dir, "C", &f->o, &err), MF_EINVAL);
	fx_free(f);
}

static void test_auto_complete(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_msg msgs[6];
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 4}};
	struct fake_account a = {.login = "aut", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"aut", NULL};
	struct store_batch_options opt = {0};

	(void)state;
	memcpy(msgs, imsgs, sizeof(msgs));
	opt.bad_item_limit = opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	opt.auto_complete = true;
	f->world.accounts = accts;
	fx_batch(f, "A", &opt, logins);
	fx_run(f, "A");
	check_user(f, "aut", STORE_USER_COMPLETED);
	assert_int_equal(fx_batch_status(f, "A"), STORE_BATCH_COMPLETED);
	assert_int_equal(got_count(f, "aut", "INBOX", NULL), 4);
	fx_free(f);
}

/* ---- a no-op pass over 10,000 messages ------------------------------------------------------- */

#define BIG 10000

/* A user synced before: its map holds BIG messages, its state says so. */
static void big_synced(struct fx *f, const char *login, uint64_t modseq)
{
	struct store_folder row = {0};
	struct mf_error err = {0};
	struct store_user u;

	fx_user(f, login, &u);
	row.user_id = u.id;
	row.source_name = xstrdup("INBOX");
	row.target_name = xstrdup("INBOX");
	row.uidvalidity = 1005;
	row.uidnext = BIG + 1;
	row.highestmodseq = (int64_t)modseq;
	row.last_uid = BIG;
	row.message_count = BIG;
	assert_int_equal(store_folder_put(f->st, &row, &err), 0);
	assert_int_equal(store_begin(f->st, &err), 0);
	for (int i = 0; i < BIG; i++) {
		struct store_msgmap m = {0};
		char loc[64];

		snprintf(loc, sizeof(loc), "big%d,S=100:2,S", i);
		m.folder_id = row.id;
		m.uidvalidity = 1005;
		m.uid = i + 1;
		m.location = loc;
		m.size = 100;
		m.flags = (char *)"\\Seen";
		assert_int_equal(store_msgmap_confirm(f->st, &m, &err), 0);
	}
	assert_int_equal(store_commit(f->st, &err), 0);
	assert_int_equal(store_user_set_status(f->st, u.id, STORE_USER_SYNCED, NULL, &err), 0);
	assert_int_equal(store_batch_set_status(f->st, u.batch_id, STORE_BATCH_SYNCED, NULL, &err),
			 0);
	store_folder_clear(&row);
	store_user_clear(&u);
}

static void noop_case(bool condstore)
{
	static struct fake_msg big[BIG];
	struct fx *f = fx_new(2);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, big, BIG}};
	struct fake_account a = {.login = "big", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"big", NULL};
	int64_t t0, ms;

	for (int i = 0; i < BIG; i++)
		big[i] = (struct fake_msg){(uint32_t)(i + 1), NULL, 100, MBX_SEEN, {NULL}, T0};
	a.modseq = condstore ? 99 : 0;
	f->world.accounts = accts;
	fx_batch(f, "N", NULL, logins);
	big_synced(f, "big", a.modseq);
	t0 = mf_now_ms();
	fx_incr(f, "N");
	ms = mf_now_ms() - t0;
	check_user(f, "big", STORE_USER_SYNCED);
	print_message("no-op incremental sync of %d messages (%s): %lld ms\n", BIG,
		      condstore ? "CONDSTORE" : "UID FETCH 1:* FLAGS", (long long)ms);
	assert_int_equal(atomic_load(&a.fetches), 0);
	assert_int_equal(atomic_load(&a.flag_lists), condstore ? 0 : 1);
	assert_true(ms < 1000);
	fx_free(f);
}

static void test_noop_big_plain(void **state)
{
	(void)state;
	noop_case(false);
}

static void test_noop_big_condstore(void **state)
{
	(void)state;
	noop_case(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_incremental_plain),
	    cmocka_unit_test(test_incremental_condstore),
	    cmocka_unit_test(test_deletes_kept),
	    cmocka_unit_test(test_deletes_synced),
	    cmocka_unit_test(test_uidvalidity_change),
	    cmocka_unit_test(test_folder_renamed),
	    cmocka_unit_test(test_complete),
	    cmocka_unit_test(test_auto_complete),
	    cmocka_unit_test(test_noop_big_plain),
	    cmocka_unit_test(test_noop_big_condstore),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
