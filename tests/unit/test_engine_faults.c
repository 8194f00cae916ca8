/* Unit tests for src/engine faults and throttling (engine.h, "Faults and
 * throttling"): throttling answers from the source ([UNAVAILABLE] with a
 * suggested backoff, a BYE speaking of a limit) and from the target
 * ([LIMIT] on APPEND), also at the login or the greeting, slow the user
 * down (in the same run) and do not fail it nor skip a message; the
 * throttle budget; a target over quota ([OVERQUOTA], ENOSPC)
 * stops the user at once with a clear error and loses nothing; the fault
 * classification itself. */
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
#include "util/mftime.h"

#define T0 1700000000
#define NMSG 12

static struct fake_msg fmsgs[NMSG];
static char fbodies[NMSG][64];

static void faults_mailbox(void)
{
	for (int i = 0; i < NMSG; i++) {
		snprintf(fbodies[i], sizeof(fbodies[i]), "Subject: f%d\r\n\r\nbody %d\r\n", i, i);
		fmsgs[i] = (struct fake_msg){(uint32_t)(i + 1), fbodies[i], 0, 0, {NULL}, T0 + i};
	}
}

/* The user's status and counts: every message once, none skipped. */
static void check_all_once(struct fx *f, const char *login, int64_t transient)
{
	struct got_folder g;
	struct store_user u;

	fx_user(f, login, &u);
	if (u.status != STORE_USER_SYNCED)
		fail_msg("%s is %s: %s", login, store_user_status_name(u.status),
			 u.stats.last_error ? u.stats.last_error : "");
	assert_int_equal(u.stats.skipped_items, 0);
	assert_int_equal(u.stats.synced_items, NMSG);
	if (transient >= 0)
		assert_int_equal(u.stats.transient_errors, transient);
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
	got_read(f, login, "INBOX", &g);
	assert_int_equal(g.count, NMSG);
	for (int i = 0; i < NMSG; i++)
		assert_non_null(got_find(&g, fbodies[i]));
	got_free(&g);
}

static struct fx *faults_fx(struct fake_account *a, struct fake_folder *fo)
{
	static struct fake_account *accts[2];
	struct fx *f = fx_new(2);
	const char *logins[] = {a->login, NULL};

	faults_mailbox();
	*fo = (struct fake_folder){"INBOX", MBX_ROLE_INBOX, true, false, fmsgs, NMSG};
	a->folders = fo;
	a->nfolders = 1;
	accts[0] = a;
	accts[1] = NULL;
	f->world.accounts = accts;
	f->o.fetch_chunk = 4;
	fx_batch(f, "F", NULL, logins);
	return f;
}

/* ---- throttling ----------------------------------------------------------------- */

static void test_source_unavailable(void **state)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "thr"};
	struct fx *f = faults_fx(&a, &fo);
	int64_t t0 = mf_now_ms();

	(void)state;
	a.fail_code = MF_ENO;
	a.fail_msg = "UID FETCH failed: [UNAVAILABLE] Server busy. Suggested Backoff Time: 300 "
		     "milliseconds";
	a.fail_after = 5;
	atomic_store(&a.fail_times, 3);
	/* Throttling does not spend the reconnect budget. */
	f->o.reconnect_budget = -1;
	fx_run(f, "F");
	check_all_once(f, "thr", 3);
	/* It waited what the server suggested, three times. */
	assert_true(mf_now_ms() - t0 >= 900);
	fx_free(f);
}

static void test_bye_limit(void **state)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "bye"};
	struct fx *f = faults_fx(&a, &fo);

	(void)state;
	a.fail_code = MF_ECLOSED;
	a.fail_msg = "server closed the connection (BYE: Too many connections for this user, "
		     "limit reached)";
	a.fail_after = 2;
	atomic_store(&a.fail_times, 2);
	f->o.reconnect_budget = -1;
	fx_run(f, "F");
	check_all_once(f, "bye", 2);
	fx_free(f);
}

/* Throttled at the login: the suggested time, then again in the same run
 * (not the 30 s of an unreachable server), counted. */
static void test_login_throttled(void **state)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "thl"};
	struct fx *f = faults_fx(&a, &fo);
	int64_t t0 = mf_now_ms();

	(void)state;
	a.open_rc = MF_EAUTH;
	a.open_msg = "AUTHENTICATE failed: [UNAVAILABLE] Server Unavailable. Suggested Backoff "
		     "Time: 200 milliseconds";
	a.open_fails = 2;
	fx_run(f, "F");
	check_all_once(f, "thl", 2);
	assert_int_equal(atomic_load(&a.opens), 3);
	assert_true(mf_now_ms() - t0 >= 400);
	assert_true(mf_now_ms() - t0 < 5000);
	fx_free(f);
}

/* A BYE at the greeting that speaks of a connection limit: a short
 * backoff, in the same run. */
static void test_greeting_bye_limit(void **state)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "thg"};
	struct fx *f = faults_fx(&a, &fo);
	int64_t t0 = mf_now_ms();

	(void)state;
	a.open_rc = MF_ENO;
	a.open_msg = "server said BYE: [UNAVAILABLE] Maximum number of connections from "
		     "user+IP exceeded (mail_max_userip_connections=10)";
	a.open_fails = 1;
	fx_run(f, "F");
	check_all_once(f, "thg", 1);
	assert_true(mf_now_ms() - t0 < 5000);
	fx_free(f);
}

/* Throttled at every login: once the budget is spent, back to the queue
 * with the unreachable backoff (not Failed). */
static void test_login_throttled_budget(void **state)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "thb"};
	struct fx *f = faults_fx(&a, &fo);
	struct store_user u;
	int64_t now = time(NULL);

	(void)state;
	a.open_rc = MF_EAUTH;
	a.open_msg = "LOGIN failed: [UNAVAILABLE] Try again later";
	f->o.throttle_budget = 2;
	f->o.no_wait = true;
	fx_run(f, "F");
	fx_user(f, "thb", &u);
	assert_int_equal(u.status, STORE_USER_QUEUED);
	assert_int_equal(u.stats.attempts, 1);
	assert_int_equal(u.stats.transient_errors, 3);
	assert_true(u.stats.next_attempt_at >= now + 23);
	assert_non_null(strstr(u.stats.last_error, "gave up after 2 throttled attempts"));
	assert_int_equal(atomic_load(&a.opens), 3);
	store_user_clear(&u);
	fx_free(f);
}

static void test_append_limit(void **state)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "lim"};
	struct fx *f = faults_fx(&a, &fo);

	(void)state;
	f->world.defer_done = true;
	f->world.no_names = true;
	f->world.throttle_at = 6;
	atomic_store(&f->world.throttle_times, 1);
	fx_run(f, "F");
	check_all_once(f, "lim", 1);
	fx_free(f);
}

static void test_throttle_budget(void **state)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "tbu"};
	struct fx *f = faults_fx(&a, &fo);
	struct store_user u;

	(void)state;
	a.fail_code = MF_ENO;
	a.fail_msg = "UID FETCH failed: [LIMIT] slow down";
	a.fail_after = 3;
	atomic_store(&a.fail_times, 100);
	f->o.throttle_budget = 2;
	fx_run(f, "F");
	fx_user(f, "tbu", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_string_equal(u.stats.last_error,
			    "gave up after 2 throttled attempts: UID FETCH failed: [LIMIT] slow "
			    "down");
	assert_int_equal(u.stats.transient_errors, 3);
	assert_int_equal(u.stats.synced_items, 3);
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
	fx_free(f);
}

/* ---- quota ------------------------------------------------------------------------- */

static void quota_case(bool enospc)
{
	struct fake_folder fo;
	struct fake_account a = {.login = "quo"};
	struct fx *f = faults_fx(&a, &fo);
	struct got_folder g;
	struct store_user u;

	if (enospc) {
		f->world.enospc_after = 5;
	} else {
		f->world.quota_after = 5;
		f->world.defer_done = true;
		f->world.no_names = true;
	}
	fx_run(f, "F");
	fx_user(f, "quo", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	if (enospc)
		assert_string_equal(u.stats.last_error,
				    "target mailbox is over quota: no space left on device while "
				    "writing tmp/1700000000.M1P1Q1.test");
	else
		assert_string_equal(u.stats.last_error,
				    "target mailbox is over quota: [OVERQUOTA] Quota exceeded "
				    "(mailbox for user is full)");
	assert_int_equal(u.stats.transient_errors, 0);
	assert_int_equal(u.stats.skipped_items, 0);
	assert_int_equal(u.stats.synced_items, 5);
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
	got_read(f, "quo", "INBOX", &g);
	assert_int_equal(g.count, 5);
	got_free(&g);
	assert_int_equal(fx_batch_status(f, "F"), STORE_BATCH_FAILED);
	/* Room again: the rest is copied, nothing twice. */
	f->world.quota_after = 0;
	f->world.enospc_after = 0;
	fx_run(f, "F");
	check_all_once(f, "quo", -1);
	fx_free(f);
}

static void test_quota_imap(void **state)
{
	(void)state;
	quota_case(false);
}

static void test_quota_enospc(void **state)
{
	(void)state;
	quota_case(true);
}

/* ---- classification --------------------------------------------------------------------- */

static void test_fault_of(void **state)
{
	int64_t ms = 0;

	(void)state;
	assert_int_equal(engine_fault_of(0, "", &ms), ENGINE_FAULT_NONE);
	assert_int_equal(engine_fault_of(MF_ENO, "APPEND: [OVERQUOTA] full", &ms),
			 ENGINE_FAULT_QUOTA);
	assert_int_equal(engine_fault_of(MF_EIO, "no space left on device while writing x", &ms),
			 ENGINE_FAULT_QUOTA);
	assert_int_equal(engine_fault_of(MF_EAUTH, "LOGIN rejected: [UNAVAILABLE] try later", &ms),
			 ENGINE_FAULT_THROTTLE);
	assert_int_equal(ms, -1);
	assert_int_equal(engine_fault_of(MF_ENO, "x: [INUSE] mailbox locked", &ms),
			 ENGINE_FAULT_THROTTLE);
	assert_int_equal(engine_fault_of(MF_ENO, "NO Suggested Backoff Time: 1500 milliseconds",
					 &ms),
			 ENGINE_FAULT_THROTTLE);
	assert_int_equal(ms, 1500);
	assert_int_equal(engine_fault_of(MF_ECLOSED, "server closed the connection (BYE: "
							 "Connection rate limit exceeded)",
					 &ms),
			 ENGINE_FAULT_THROTTLE);
	assert_int_equal(engine_fault_of(MF_ECLOSED,
					 "server closed the connection (BYE: Server shutting down)",
					 &ms),
			 ENGINE_FAULT_RETRY);
	/* A BYE at the greeting (imap-client.c keeps its code). */
	assert_int_equal(engine_fault_of(MF_ENO, "server said BYE: Maximum number of connections "
						 "from user+IP exceeded",
					 &ms),
			 ENGINE_FAULT_THROTTLE);
	assert_int_equal(engine_fault_of(MF_ENO, "server said BYE: [UNAVAILABLE] Server down", &ms),
			 ENGINE_FAULT_THROTTLE);
	assert_int_equal(engine_fault_of(MF_ETIMEOUT, "no response from server within 30 s", &ms),
			 ENGINE_FAULT_RETRY);
	assert_int_equal(engine_fault_of(MF_EAUTH, "LOGIN rejected: [AUTHENTICATIONFAILED] no",
					 &ms),
			 ENGINE_FAULT_PERMANENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_source_unavailable),
	    cmocka_unit_test(test_bye_limit),
	    cmocka_unit_test(test_login_throttled),
	    cmocka_unit_test(test_greeting_bye_limit),
	    cmocka_unit_test(test_login_throttled_budget),
	    cmocka_unit_test(test_append_limit),
	    cmocka_unit_test(test_throttle_budget),
	    cmocka_unit_test(test_quota_imap),
	    cmocka_unit_test(test_quota_enospc),
	    cmocka_unit_test(test_fault_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
