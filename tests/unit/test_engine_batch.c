/* Unit tests for src/engine: the batch and user state machines around the
 * copy: bad credentials, an unreachable source (queued with backoff, then
 * failed), stop requests (running and not), the lock, progress callbacks,
 * and the backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pthread.h>

#include "engine/engine-private.h"
#include "test_engine_fake.h"

#define T2024 1710000000

static struct fake_msg one_msg[] = {
    {1, "Subject: hi\r\n\r\nhello\r\n", 0, MBX_SEEN, {NULL}, T2024},
};

static bool has_event(struct fx *f, int64_t user_id, const char *text)
{
	struct store_event *es = NULL;
	struct mf_error err = {0};
	size_t n = 0;
	bool found = false;

	if (store_event_list(f->st, 0, user_id, 0, &es, &n, &err) != 0)
		fail_msg("events: %s", err.msg);
	for (size_t i = 0; i < n && !found; i++)
		found = strstr(es[i].message, text) != NULL;
	store_event_list_free(&es, n);
	return found;
}

static void test_auth_failure(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, one_msg, 1}};
	struct fake_account a = {.login = "ann", .folders = fo, .nfolders = 1};
	struct fake_account b = {.login = "ben",
				 .open_rc = MF_EAUTH,
				 .open_msg = "LOGIN rejected: [AUTHENTICATIONFAILED] "
					     "Authentication failed."};
	struct fake_account *accts[] = {&a, &b, NULL};
	const char *logins[] = {"ann", "ben", NULL};
	struct store_user u;

	(void)state;
	f->world.accounts = accts;
	fx_batch(f, "B", NULL, logins);
	fx_run(f, "B");
	fx_user(f, "ben", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_string_equal(
	    u.stats.last_error,
	    "source: LOGIN rejected: [AUTHENTICATIONFAILED] Authentication failed.");
	assert_true(has_event(f, u.id, "AUTHENTICATIONFAILED"));
	store_user_clear(&u);
	assert_int_equal(atomic_load(&b.opens), 1); /* at once, no retry */
	fx_user(f, "ann", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	store_user_clear(&u);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED_WITH_ERRORS);
	fx_free(f);
}

static void test_unreachable_queued_then_stop(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_account a = {.login = "cy",
				 .open_rc = MF_ECONNECT,
				 .open_msg = "connection refused by 192.0.2.1:993"};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"cy", NULL};
	struct mf_error err = {0};
	struct store_user u;
	int64_t now = time(NULL);

	(void)state;
	f->world.accounts = accts;
	f->o.no_wait = true;
	fx_batch(f, "B", NULL, logins);
	fx_run(f, "B");
	fx_user(f, "cy", &u);
	assert_int_equal(u.status, STORE_USER_QUEUED);
	assert_int_equal(u.stats.attempts, 1);
	/* 30 s +-20% */
	assert_true(u.stats.next_attempt_at >= now + 23 && u.stats.next_attempt_at <= now + 37);
	assert_non_null(strstr(u.stats.last_error, "connection refused by 192.0.2.1:993"));
	assert_true(has_event(f, u.id, "next attempt in"));
	store_user_clear(&u);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCING);

	/* Not due yet: another run leaves it alone. */
	fx_run(f, "B");
	assert_int_equal(atomic_load(&a.opens), 1);

	/* Nobody runs the batch: stopping is immediate. */
	assert_int_equal(engine_batch_request_stop(f->st, f->data_dir, "B", &err), 0);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_STOPPED);
	fx_user(f, "cy", &u);
	assert_int_equal(u.status, STORE_USER_STOPPED);
	store_user_clear(&u);
	assert_int_equal(engine_batch_request_stop(f->st, f->data_dir, "B", &err), 0);
	fx_free(f);
}

static void test_unreachable_fails_after_attempts(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_account a = {.login = "cy",
				 .open_rc = MF_ETIMEOUT,
				 .open_msg = "no answer from 192.0.2.1:993 within 30 s"};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"cy", NULL};
	struct store_user u;

	(void)state;
	f->world.accounts = accts;
	f->o.backoff_base_ms = 1;
	f->o.max_attempts = 3;
	fx_batch(f, "B", NULL, logins);
	fx_run(f, "B");
	fx_user(f, "cy", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_int_equal(u.stats.attempts, 3);
	assert_string_equal(u.stats.last_error, "source: unreachable after 3 attempts: no answer "
						"from 192.0.2.1:993 within 30 s");
	store_user_clear(&u);
	assert_int_equal(atomic_load(&a.opens), 3);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_FAILED);
	fx_free(f);
}

struct runner {
	struct fx *f;
	const char *batch;
	int rc;
	struct mf_error err;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	struct store *st = NULL;

	r->rc = store_open(r->f->data_dir, NULL, &st, &r->err);
	if (r->rc == 0)
		r->rc = engine_batch_run(st, r->f->data_dir, r->batch, &r->f->o, &r->err);
	store_close(&st);
	return NULL;
}

static void test_stop_running(void **state)
{
	static struct fake_msg msgs[60];
	static char bodies[60][48];
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 60}};
	struct fake_account a = {.login = "di", .folders = fo, .nfolders = 1, .slow_ms = 20};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"di", NULL};
	struct runner r = {f, "B", 0, {0}};
	struct mf_error err = {0};
	struct got_folder g;
	struct store_user u;
	pthread_t th;

	(void)state;
	for (int i = 0; i < 60; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "Subject: %d\r\n\r\n%d\r\n", i, i);
		msgs[i] = (struct fake_msg){(uint32_t)(i + 1), bodies[i], 0, 0, {NULL}, T2024};
	}
	f->world.accounts = accts;
	f->world.defer_done = true;
	f->o.fetch_chunk = 7;
	fx_batch(f, "B", NULL, logins);
	assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
	for (int waited = 0; atomic_load(&a.delivered) < 5 && waited < 10000; waited++)
		usleep(1000);
	/* A second run of the same batch is refused while this one runs. */
	assert_int_equal(engine_batch_run(f->st, f->data_dir, "B", &f->o, &err), MF_EBUSY);
	assert_int_equal(engine_batch_request_stop(f->st, f->data_dir, "B", &err), 0);
	pthread_join(th, NULL);
	if (r.rc != 0)
		fail_msg("run: %s", r.err.msg);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_STOPPED);
	fx_user(f, "di", &u);
	assert_int_equal(u.status, STORE_USER_STOPPED);
	assert_true(u.stats.synced_items >= 5 && u.stats.synced_items < 60);
	assert_int_equal(fx_intents(f, u.id), 0);
	got_read(f, "di", "INBOX", &g);
	assert_int_equal((int64_t)g.count, u.stats.synced_items);
	got_free(&g);
	store_user_clear(&u);

	/* Started again, it finishes the rest. */
	f->o.fetch_chunk = 0;
	a.slow_ms = 0;
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED);
	got_read(f, "di", "INBOX", &g);
	assert_int_equal(g.count, 60);
	got_free(&g);
	fx_free(f);
}

static volatile sig_atomic_t interrupted;

static void test_stop_by_interrupt(void **state)
{
	static struct fake_msg msgs[40];
	static char bodies[40][48];
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 40}};
	struct fake_account a = {.login = "eve", .folders = fo, .nfolders = 1, .slow_ms = 20};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"eve", NULL};
	struct runner r = {f, "B", 0, {0}};
	struct store_user u;
	pthread_t th;
	int waited = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "Subject: %d\r\n\r\n%d\r\n", i, i);
		msgs[i] = (struct fake_msg){(uint32_t)(i + 1), bodies[i], 0, 0, {NULL}, T2024};
	}
	f->world.accounts = accts;
	f->o.interrupt = &interrupted;
	fx_batch(f, "B", NULL, logins);
	assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
	while (atomic_load(&a.delivered) < 3 && waited++ < 10000)
		usleep(1000);
	interrupted = 1;
	pthread_join(th, NULL);
	if (r.rc != 0)
		fail_msg("run: %s", r.err.msg);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_STOPPED);
	fx_user(f, "eve", &u);
	assert_int_equal(u.status, STORE_USER_STOPPED);
	assert_true(u.stats.synced_items >= 3 && u.stats.synced_items < 40);
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
	fx_free(f);
}

struct seen {
	pthread_mutex_t mu;
	int started, finished, batch_done;
	int64_t last_synced;
	enum store_batch_status status;
};

static void seen_started(void *ctx, const struct engine_progress *p)
{
	struct seen *s = ctx;

	(void)p;
	pthread_mutex_lock(&s->mu);
	s->started++;
	pthread_mutex_unlock(&s->mu);
}

static void seen_finished(void *ctx, const struct engine_progress *p, enum store_user_status st,
			  const char *error, int64_t next)
{
	struct seen *s = ctx;

	(void)error, (void)next;
	pthread_mutex_lock(&s->mu);
	assert_int_equal(st, STORE_USER_SYNCED);
	assert_int_equal(p->percent, 100);
	s->finished++;
	s->last_synced = p->synced_items;
	pthread_mutex_unlock(&s->mu);
}

static void seen_batch(void *ctx, const char *name, enum store_batch_status st,
		       const int64_t counts[STORE_USER_NSTATUS])
{
	struct seen *s = ctx;

	assert_string_equal(name, "B");
	assert_int_equal(counts[STORE_USER_SYNCED], 3);
	s->batch_done++;
	s->status = st;
}

static void test_progress_callbacks(void **state)
{
	struct fx *f = fx_new(2);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, one_msg, 1}};
	struct fake_account a = {.login = "a", .folders = fo, .nfolders = 1};
	struct fake_account b = {.login = "b", .folders = fo, .nfolders = 1};
	struct fake_account c = {.login = "c", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, &b, &c, NULL};
	const char *logins[] = {"a", "b", "c", NULL};
	struct seen s = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0};
	struct engine_progress_cb cb = {seen_started, NULL, seen_finished, seen_batch, &s};

	(void)state;
	f->world.accounts = accts;
	f->o.progress = &cb;
	fx_batch(f, "B", NULL, logins);
	fx_run(f, "B");
	assert_int_equal(s.started, 3);
	assert_int_equal(s.finished, 3);
	assert_int_equal(s.batch_done, 1);
	assert_int_equal(s.last_synced, 1);
	assert_int_equal(s.status, STORE_BATCH_SYNCED);
	fx_free(f);
}

static void test_backoff(void **state)
{
	uint64_t seed = 42;

	(void)state;
	for (int i = 0; i < 50; i++) {
		int64_t d1 = engine_backoff_ms(1, 30000, 3600000, &seed);
		int64_t d2 = engine_backoff_ms(2, 30000, 3600000, &seed);
		int64_t d9 = engine_backoff_ms(9, 30000, 3600000, &seed);
		int64_t d30 = engine_backoff_ms(30, 30000, 3600000, &seed);

		assert_true(d1 >= 24000 && d1 <= 36000);
		assert_true(d2 >= 48000 && d2 <= 72000);
		assert_true(d9 >= 2880000 && d9 <= 3600000 * 12 / 10);
		assert_true(d30 >= 2880000 && d30 <= 4320000);
	}
}

static void test_percent(void **state)
{
	struct store_user_stats s = {0};

	(void)state;
	assert_int_equal(engine_percent(&s, STORE_USER_SYNCING), 0);
	assert_int_equal(engine_percent(&s, STORE_USER_SYNCED), 100);
	s.total_items = 8;
	s.synced_items = 3;
	s.skipped_items = 1;
	assert_int_equal(engine_percent(&s, STORE_USER_SYNCING), 50);
	s.synced_items = 9;
	assert_int_equal(engine_percent(&s, STORE_USER_SYNCING), 100);
}

static void test_no_users_and_unknown(void **state)
{
	struct fx *f = fx_new(2);
	const char *none[] = {NULL};
	struct mf_error err = {0};

	(void)state;
	assert_int_equal(engine_batch_run(f->st, f->data_dir, "nope", &f->o, &err), MF_ENOTFOUND);
	fx_batch(f, "Empty", NULL, none);
	assert_int_equal(engine_batch_run(f->st, f->data_dir, "Empty", &f->o, &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "no users"));
	assert_int_equal(engine_batch_request_stop(f->st, f->data_dir, "Empty", &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "not running"));
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_failure),
	    cmocka_unit_test(test_unreachable_queued_then_stop),
	    cmocka_unit_test(test_unreachable_fails_after_attempts),
	    cmocka_unit_test(test_stop_running),
	    cmocka_unit_test(test_stop_by_interrupt),
	    cmocka_unit_test(test_progress_callbacks),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_percent),
	    cmocka_unit_test(test_no_users_and_unknown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
