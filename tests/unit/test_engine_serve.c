/* Unit tests for src/engine/scheduler.c (engine_serve): auto-start and the
 * incremental schedule, the two concurrency pools per endpoint,
 * complete_after, stop (SIGTERM) in the middle of a sync with resume by the
 * next serve, and a batch that another process runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/engine-private.h"
#include "test_engine_fake.h"

#define T0 1700000000
#define NMSG 40

static struct fake_msg smsgs[NMSG];
static char sbodies[NMSG][64];

static void serve_mailbox(void)
{
	for (int i = 0; i < NMSG; i++) {
		snprintf(sbodies[i], sizeof(sbodies[i]), "Subject: s%d\r\n\r\nbody %d\r\n", i, i);
		smsgs[i] = (struct fake_msg){(uint32_t)(i + 1), sbodies[i], 0, 0, {NULL}, T0 + i};
	}
}

static void serve_once(struct fx *f)
{
	struct engine_serve_opts so = {0};
	struct mf_error err = {0};

	so.run = f->o;
	so.tick_ms = 20;
	so.once = true;
	if (engine_serve(f->data_dir, &so, NULL, &err) != 0)
		fail_msg("engine_serve: %s", err.msg);
}

static struct store_batch_options serve_opts(void)
{
	struct store_batch_options opt = {0};

	opt.bad_item_limit = opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	opt.auto_start = true;
	return opt;
}

static void user_status(struct fx *f, const char *login, enum store_user_status want)
{
	struct store_user u;

	fx_user(f, login, &u);
	if (u.status != want)
		fail_msg("%s is %s, not %s: %s", login, store_user_status_name(u.status),
			 store_user_status_name(want), u.stats.last_error ? u.stats.last_error : "");
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
}

/* Make every Synced user of the batch due for its incremental sync. */
static void make_due(struct fx *f, const char *batch)
{
	struct store_batch b = {0};
	struct mf_error err = {0};

	assert_int_equal(store_batch_get(f->st, batch, &b, &err), 0);
	assert_int_equal(store_user_move_all(f->st, b.id, STORE_USER_SYNCED, STORE_USER_SYNCED, 1,
					     true, NULL, &err),
			 0);
	store_batch_clear(&b);
}

static void set_incremental_limit(struct fx *f, int n)
{
	struct store_endpoint ep = {0};
	struct mf_error err = {0};

	assert_int_equal(store_endpoint_get(f->st, "src", &ep, &err), 0);
	ep.max_concurrent_incremental_syncs = n;
	assert_int_equal(store_endpoint_update(f->st, &ep, &err), 0);
	store_endpoint_clear(&ep);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_serve_start_and_incremental(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_folder fo[4];
	struct fake_account a[4] = {{.login = "sa"}, {.login = "sb"}, {.login = "sc"},
				    {.login = "sd"}};
	struct fake_account *accts[] = {&a[0], &a[1], &a[2], &a[3], NULL};
	const char *logins[] = {"sa", "sb", "sc", "sd", NULL};
	struct store_batch_options opt = serve_opts();
	struct got_folder g;

	(void)state;
	serve_mailbox();
	for (int i = 0; i < 4; i++) {
		fo[i] = (struct fake_folder){"INBOX", MBX_ROLE_INBOX, true, false, smsgs, 10};
		a[i].folders = &fo[i];
		a[i].nfolders = 1;
		a[i].slow_ms = 5;
	}
	f->world.accounts = accts;
	fx_batch(f, "S", &opt, logins);
	/* Created with auto_start: the initial sync, at most 2 at a time
	 * (MaxConcurrentMigrations of the source). */
	serve_once(f);
	assert_int_equal(fx_batch_status(f, "S"), STORE_BATCH_SYNCED);
	for (int i = 0; i < 4; i++)
		user_status(f, logins[i], STORE_USER_SYNCED);
	assert_true(atomic_load(&f->world.max_live) <= 2);
	assert_true(atomic_load(&f->world.max_live) >= 1);

	/* Nothing is due for a day: serve does nothing. */
	atomic_store(&a[0].fetches, 0);
	serve_once(f);
	assert_int_equal(atomic_load(&a[0].fetches), 0);

	/* Due, with new mail; the incremental pool is 1 wide. */
	for (int i = 0; i < 4; i++)
		fo[i].count = 12;
	set_incremental_limit(f, 1);
	atomic_store(&f->world.max_live, 0);
	make_due(f, "S");
	serve_once(f);
	assert_int_equal(atomic_load(&f->world.max_live), 1);
	assert_int_equal(fx_batch_status(f, "S"), STORE_BATCH_SYNCED);
	for (int i = 0; i < 4; i++) {
		user_status(f, logins[i], STORE_USER_SYNCED);
		got_read(f, logins[i], "INBOX", &g);
		assert_int_equal(g.count, 12);
		got_free(&g);
	}
	fx_free(f);
}

static void test_serve_complete_after(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, NULL, 0}};
	struct fake_account a = {.login = "ca", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"ca", NULL};
	struct store_batch_options opt = serve_opts();

	(void)state;
	serve_mailbox();
	fo[0].msgs = smsgs;
	fo[0].count = 5;
	opt.auto_start = false;
	opt.start_after = time(NULL) - 10;
	opt.complete_after = time(NULL) + 3600;
	f->world.accounts = accts;
	fx_batch(f, "CA", &opt, logins);
	serve_once(f); /* started by start_after; not complete yet */
	assert_int_equal(fx_batch_status(f, "CA"), STORE_BATCH_SYNCED);
	{
		struct store_batch b = {0};
		struct mf_error err = {0};

		assert_int_equal(store_batch_get(f->st, "CA", &b, &err), 0);
		b.opt.complete_after = time(NULL) - 1;
		assert_int_equal(store_batch_update(f->st, &b, &err), 0);
		store_batch_clear(&b);
	}
	fo[0].count = 7;
	serve_once(f);
	assert_int_equal(fx_batch_status(f, "CA"), STORE_BATCH_COMPLETED);
	user_status(f, "ca", STORE_USER_COMPLETED);
	{
		struct got_folder g;

		got_read(f, "ca", "INBOX", &g);
		assert_int_equal(g.count, 7);
		got_free(&g);
	}
	fx_free(f);
}

struct stopper {
	volatile sig_atomic_t stop;
	struct fake_account *a;
};

static void *serve_stopper(void *arg)
{
	struct stopper *s = arg;

	/* "SIGTERM" once a few messages went. */
	while (atomic_load(&s->a->delivered) < 8)
		usleep(2000);
	s->stop = 1;
	return NULL;
}

static void test_serve_stop_and_resume(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, NULL, 0}};
	struct fake_account a = {.login = "st", .folders = fo, .nfolders = 1, .slow_ms = 10};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"st", NULL};
	struct store_batch_options opt = serve_opts();
	struct engine_serve_opts so = {0};
	struct stopper sp = {0, &a};
	struct mf_error err = {0};
	struct got_folder g;
	pthread_t th;

	(void)state;
	serve_mailbox();
	fo[0].msgs = smsgs;
	fo[0].count = NMSG;
	f->world.accounts = accts;
	f->world.defer_done = true;
	f->o.fetch_chunk = 5;
	fx_batch(f, "ST", &opt, logins);
	so.run = f->o;
	so.tick_ms = 20;
	assert_int_equal(pthread_create(&th, NULL, serve_stopper, &sp), 0);
	assert_int_equal(engine_serve(f->data_dir, &so, &sp.stop, &err), 0);
	pthread_join(th, NULL);
	/* Left to be resumed: the user queued again, the batch as it was. */
	user_status(f, "st", STORE_USER_QUEUED);
	assert_int_equal(fx_batch_status(f, "ST"), STORE_BATCH_SYNCING);
	got_read(f, "st", "INBOX", &g);
	assert_true(g.count >= 8 && g.count < NMSG);
	got_free(&g);
	a.slow_ms = 0;
	serve_once(f);
	user_status(f, "st", STORE_USER_SYNCED);
	got_read(f, "st", "INBOX", &g);
	assert_int_equal(g.count, NMSG);
	for (int i = 0; i < NMSG; i++)
		assert_non_null(got_find(&g, sbodies[i]));
	got_free(&g);
	fx_free(f);
}

static void test_serve_skips_locked_batch(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, NULL, 0}};
	struct fake_account a = {.login = "lk", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"lk", NULL};
	struct store_batch_options opt = serve_opts();
	struct store_batch b = {0};
	struct mf_error err = {0};
	int fd;

	(void)state;
	serve_mailbox();
	fo[0].msgs = smsgs;
	fo[0].count = 3;
	f->world.accounts = accts;
	fx_batch(f, "LK", &opt, logins);
	assert_int_equal(store_batch_get(f->st, "LK", &b, &err), 0);
	/* Held elsewhere (another process's `batch start --wait`). */
	fd = engine_lock(f->data_dir, &b, &err);
	assert_true(fd >= 0);
	serve_once(f);
	assert_int_equal(fx_batch_status(f, "LK"), STORE_BATCH_CREATED);
	engine_unlock(fd);
	serve_once(f);
	assert_int_equal(fx_batch_status(f, "LK"), STORE_BATCH_SYNCED);
	store_batch_clear(&b);
	fx_free(f);
}

/* `batch start` and `batch complete` without --wait: serve does them. */
static void test_serve_enqueued(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, NULL, 0}};
	struct fake_account a = {.login = "eq", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"eq", NULL};
	struct mf_error err = {0};
	struct got_folder g;

	(void)state;
	serve_mailbox();
	fo[0].msgs = smsgs;
	fo[0].count = 4;
	f->world.accounts = accts;
	fx_batch(f, "EQ", NULL, logins);
	serve_once(f); /* Created without auto_start: left alone */
	assert_int_equal(fx_batch_status(f, "EQ"), STORE_BATCH_CREATED);
	assert_int_equal(engine_batch_enqueue(f->st, f->data_dir, "EQ", false, &f->o, &err), 0);
	assert_int_equal(fx_batch_status(f, "EQ"), STORE_BATCH_SYNCING);
	user_status(f, "eq", STORE_USER_QUEUED);
	serve_once(f);
	assert_int_equal(fx_batch_status(f, "EQ"), STORE_BATCH_SYNCED);
	fo[0].count = 6;
	assert_int_equal(engine_batch_enqueue(f->st, f->data_dir, "EQ", true, &f->o, &err), 0);
	assert_int_equal(fx_batch_status(f, "EQ"), STORE_BATCH_COMPLETING);
	serve_once(f);
	assert_int_equal(fx_batch_status(f, "EQ"), STORE_BATCH_COMPLETED);
	user_status(f, "eq", STORE_USER_COMPLETED);
	got_read(f, "eq", "INBOX", &g);
	assert_int_equal(g.count, 6);
	got_free(&g);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_serve_start_and_incremental),
	    cmocka_unit_test(test_serve_complete_after),
	    cmocka_unit_test(test_serve_stop_and_resume),
	    cmocka_unit_test(test_serve_skips_locked_batch),
	    cmocka_unit_test(test_serve_enqueued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
