/* Unit tests for src/engine/engine-lanes.c: a user's folders copied over
 * several source and target connections at once. The order folders are
 * taken in; everything landing exactly once with the user's statistics
 * and skipped items counted across lanes; one lane's failure (quota, the
 * BadItemLimit) stopping the others, a lost connection retried for all;
 * a server refusing extra connections leaving the user with fewer.
 */
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

#define T2024 1710000000
#define NFOLDERS 6
#define PER_FOLDER 12

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const names[NFOLDERS] = {"INBOX", "Sent", "Drafts",
					    "Archive", "Work", "Zeta"};

/* NFOLDERS folders of PER_FOLDER small messages each ("<folder> <uid>"
 * bodies); refuse: every 5th message carries $Refuse. */
struct lanes_src {
	struct fake_folder fo[NFOLDERS];
	struct fake_msg msgs[NFOLDERS][PER_FOLDER];
	char *bodies[NFOLDERS][PER_FOLDER];
	struct fake_account a;
	struct fake_account *accts[2];
};

static void lanes_src_init(struct lanes_src *s, const char *login, bool refuse)
{
	memset(s, 0, sizeof(*s));
	for (size_t f = 0; f < NFOLDERS; f++) {
		for (size_t k = 0; k < PER_FOLDER; k++) {
			struct fake_msg *m = &s->msgs[f][k];

			s->bodies[f][k] = xasprintf("Subject: %s %zu\r\n\r\n%s body %zu\r\n",
						    names[f], k, names[f], k);
			m->uid = (uint32_t)k + 1;
			m->body = s->bodies[f][k];
			m->date = T2024 + (time_t)k;
			m->flags = k % 2 == 0 ? MBX_SEEN : 0;
			if (refuse && k % 5 == 4)
				m->kw[0] = "$Refuse";
		}
		s->fo[f].name = names[f];
		s->fo[f].role = f == 0 ? MBX_ROLE_INBOX : MBX_ROLE_NONE;
		s->fo[f].subscribed = true;
		s->fo[f].msgs = s->msgs[f];
		s->fo[f].count = PER_FOLDER;
	}
	s->a.login = login;
	s->a.folders = s->fo;
	s->a.nfolders = NFOLDERS;
	s->accts[0] = &s->a;
	s->accts[1] = NULL;
}

static void lanes_src_free(struct lanes_src *s)
{
	for (size_t f = 0; f < NFOLDERS; f++)
		for (size_t k = 0; k < PER_FOLDER; k++)
			free(s->bodies[f][k]);
}

/* Every message of every folder is on the target exactly once, but those
 * carrying $Refuse (when refused); returns how many landed. */
static size_t lanes_check_landed(struct fx *f, const char *login, struct lanes_src *s,
				 bool refused)
{
	size_t total = 0;

	for (size_t fi = 0; fi < NFOLDERS; fi++) {
		struct got_folder g;
		size_t want = 0;

		got_read(f, login, names[fi], &g);
		for (size_t k = 0; k < PER_FOLDER; k++) {
			const struct fake_msg *m = &s->msgs[fi][k];
			const struct got_msg *gm = got_find(&g, m->body);

			if (refused && m->kw[0] != NULL) {
				assert_null(gm);
				continue;
			}
			assert_non_null(gm);
			assert_int_equal(gm->flags, m->flags);
			want++;
		}
		assert_int_equal(g.count, want);
		total += want;
		got_free(&g);
	}
	return total;
}

static int64_t lanes_batch(struct fx *f, const char *login, int64_t bad_limit, int conns)
{
	struct store_batch_options opt = {0};
	const char *logins[] = {login, NULL};

	opt.bad_item_limit = bad_limit;
	opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	opt.connections_per_user = conns;
	return fx_batch(f, "B", &opt, logins);
}

/* ---- the order ------------------------------------------------------------------ */

static void test_queue_largest_first(void **state)
{
	struct engine_folder_plan pf[5] = {0};
	struct engine_todo t[5] = {0};
	uint64_t sizes[5][3] = {{10, 10, 10}, {500, 0, 0}, {7, 0, 0}, {1000, 1000, 1}, {0}};
	uint32_t uids[3] = {1, 2, 3};
	size_t counts[5] = {3, 1, 1, 3, 0};
	struct engine_job job;
	size_t n = 0, work = 0, *q;

	(void)state;
	memset(&job, 0, sizeof(job));
	for (size_t i = 0; i < 5; i++) {
		t[i].uids = uids;
		t[i].sizes = sizes[i];
		t[i].count = counts[i];
	}
	pf[2].noselect = true; /* a container: never copied */
	t[3].pos = 1;	       /* 1001 bytes left of 2001 */
	job.plan.folders = pf;
	job.plan.count = 5;
	job.todo = t;
	q = engine_queue_build(&job, &n, &work);
	assert_int_equal(n, 4);
	assert_int_equal(work, 3);
	assert_int_equal(q[0], 3);
	assert_int_equal(q[1], 1);
	assert_int_equal(q[2], 0);
	assert_int_equal(q[3], 4); /* empty: still checked and recorded */
	free(q);

	t[3].done = true;
	q = engine_queue_build(&job, &n, &work);
	assert_int_equal(n, 3);
	assert_int_equal(q[0], 1);
	free(q);
}

/* ---- copying ----------------------------------------------------------------------- */

/* Several lanes: each message lands once, the statistics add up, no intent
 * is left, and no more source connections are open at once than asked. */
static void test_lanes_copy_all(void **state)
{
	struct fx *f = fx_new(4);
	struct lanes_src s;
	struct store_user u;

	(void)state;
	lanes_src_init(&s, "ann", false);
	s.a.slow_ms = 2; /* so that the lanes overlap */
	f->world.accounts = s.accts;
	f->world.multi = 4;
	f->world.no_names = true;
	lanes_batch(f, "ann", 0, 3);
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED);
	fx_user(f, "ann", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.total_items, NFOLDERS * PER_FOLDER);
	assert_int_equal(u.stats.synced_items, NFOLDERS * PER_FOLDER);
	assert_int_equal(u.stats.skipped_items, 0);
	assert_true(u.stats.bytes_transferred > 0);
	assert_int_equal(fx_intents(f, u.id), 0);
	assert_int_equal(lanes_check_landed(f, "ann", &s, false), NFOLDERS * PER_FOLDER);
	assert_true(atomic_load(&f->world.max_live) >= 2);
	assert_true(atomic_load(&f->world.max_live) <= 3);
	assert_int_equal(atomic_load(&f->world.live), 0);
	store_user_clear(&u);

	/* Again: nothing is copied twice. */
	f->o.resync = true;
	fx_run(f, "B");
	fx_user(f, "ann", &u);
	assert_int_equal(u.stats.synced_items, NFOLDERS * PER_FOLDER);
	assert_int_equal(lanes_check_landed(f, "ann", &s, false), NFOLDERS * PER_FOLDER);
	store_user_clear(&u);
	lanes_src_free(&s);
	fx_free(f);
}

/* One connection per side: the folders go one after another on it. */
static void test_lanes_one(void **state)
{
	struct fx *f = fx_new(4);
	struct lanes_src s;
	struct store_user u;

	(void)state;
	lanes_src_init(&s, "bob", false);
	f->world.accounts = s.accts;
	lanes_batch(f, "bob", 0, 1);
	fx_run(f, "B");
	fx_user(f, "bob", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.synced_items, NFOLDERS * PER_FOLDER);
	assert_int_equal(atomic_load(&f->world.max_live), 1);
	assert_int_equal(atomic_load(&s.a.opens), 1);
	assert_int_equal(lanes_check_landed(f, "bob", &s, false), NFOLDERS * PER_FOLDER);
	store_user_clear(&u);
	lanes_src_free(&s);
	fx_free(f);
}

/* Skipped items from all lanes count once each, against one limit. */
static void test_lanes_skipped_shared(void **state)
{
	struct fx *f = fx_new(4);
	struct lanes_src s;
	struct store_user u;
	struct store_skipped *ss = NULL;
	size_t n = 0;
	struct mf_error err = {0};
	const int64_t bad = NFOLDERS * (PER_FOLDER / 5);

	(void)state;
	lanes_src_init(&s, "cyd", true);
	s.a.slow_ms = 1;
	f->world.accounts = s.accts;
	f->world.refuse_keyword = "$Refuse";
	lanes_batch(f, "cyd", bad, 4);
	fx_run(f, "B");
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED_WITH_ERRORS);
	fx_user(f, "cyd", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.skipped_items, bad);
	assert_int_equal(u.stats.synced_items, NFOLDERS * PER_FOLDER - bad);
	assert_int_equal(fx_intents(f, u.id), 0);
	if (store_skipped_list(f->st, u.id, &ss, &n, &err) != 0)
		fail_msg("skipped: %s", err.msg);
	assert_int_equal(n, (size_t)bad);
	store_skipped_list_free(&ss, n);
	assert_int_equal(lanes_check_landed(f, "cyd", &s, true),
			 (size_t)(NFOLDERS * PER_FOLDER - bad));
	store_user_clear(&u);
	lanes_src_free(&s);
	fx_free(f);
}

/* One lane over the BadItemLimit fails the user, and every lane stops:
 * no intent is left behind and no message lands twice. */
static void test_lanes_limit_stops_all(void **state)
{
	struct fx *f = fx_new(4);
	struct lanes_src s;
	struct store_user u;

	(void)state;
	lanes_src_init(&s, "dan", true);
	s.a.slow_ms = 2;
	f->world.accounts = s.accts;
	f->world.refuse_keyword = "$Refuse";
	lanes_batch(f, "dan", 1, 4);
	fx_run(f, "B");
	fx_user(f, "dan", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_non_null(strstr(u.stats.last_error, "BadItemLimit of 1 exceeded"));
	assert_true(u.stats.skipped_items >= 2);
	/* The others stopped well before copying everything. */
	assert_true(u.stats.synced_items < NFOLDERS * PER_FOLDER - NFOLDERS * (PER_FOLDER / 5));
	assert_int_equal(fx_intents(f, u.id), 0);
	assert_int_equal(atomic_load(&f->world.live), 0);
	store_user_clear(&u);
	lanes_src_free(&s);
	fx_free(f);
}

/* A full target stops every lane at once. */
static void test_lanes_quota_stops_all(void **state)
{
	struct fx *f = fx_new(4);
	struct lanes_src s;
	struct store_user u;

	(void)state;
	lanes_src_init(&s, "eve", false);
	s.a.slow_ms = 2;
	f->world.accounts = s.accts;
	f->world.quota_after = 20;
	lanes_batch(f, "eve", 0, 4);
	fx_run(f, "B");
	fx_user(f, "eve", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_non_null(strstr(u.stats.last_error, "over quota"));
	assert_int_equal(u.stats.synced_items, 20);
	assert_int_equal(fx_intents(f, u.id), 0);
	/* A few lanes may each have had appends under way, no more. */
	assert_true(atomic_load(&f->world.target_appends) <= 20 + 4 * 2);
	store_user_clear(&u);
	lanes_src_free(&s);
	fx_free(f);
}

/* A lost target connection in one lane: every lane stops, the user
 * reconnects, settles and goes on; everything lands exactly once. */
static void test_lanes_reconnect(void **state)
{
	struct fx *f = fx_new(4);
	struct lanes_src s;
	struct store_user u;

	(void)state;
	lanes_src_init(&s, "fay", false);
	s.a.slow_ms = 1;
	f->world.accounts = s.accts;
	f->world.target_fail_at = 30;
	lanes_batch(f, "fay", 0, 3);
	fx_run(f, "B");
	fx_user(f, "fay", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.synced_items, NFOLDERS * PER_FOLDER);
	assert_int_equal(u.stats.transient_errors, 1);
	assert_int_equal(fx_intents(f, u.id), 0);
	assert_int_equal(lanes_check_landed(f, "fay", &s, false), NFOLDERS * PER_FOLDER);
	store_user_clear(&u);
	lanes_src_free(&s);
	fx_free(f);
}

/* A server that takes two connections per user: the user goes on with
 * two lanes instead of four, and is not failed for it. */
static void test_lanes_fewer_connections(void **state)
{
	struct fx *f = fx_new(4);
	struct lanes_src s;
	struct store_user u;

	(void)state;
	lanes_src_init(&s, "gus", false);
	s.a.slow_ms = 2;
	f->world.accounts = s.accts;
	f->world.live_limit = 2;
	lanes_batch(f, "gus", 0, 4);
	fx_run(f, "B");
	fx_user(f, "gus", &u);
	assert_int_equal(u.status, STORE_USER_SYNCED);
	assert_int_equal(u.stats.synced_items, NFOLDERS * PER_FOLDER);
	assert_int_equal(u.stats.transient_errors, 0);
	assert_int_equal(fx_intents(f, u.id), 0);
	assert_true(atomic_load(&f->world.live_refused) >= 1);
	assert_true(atomic_load(&f->world.max_live) <= 2);
	assert_int_equal(lanes_check_landed(f, "gus", &s, false), NFOLDERS * PER_FOLDER);
	store_user_clear(&u);
	lanes_src_free(&s);
	fx_free(f);
}

/* The batch option is stored and read back. */
static void test_lanes_option_stored(void **state)
{
	struct fx *f = fx_new(4);
	struct store_batch b = {0};
	struct mf_error err = {0};

	(void)state;
	lanes_batch(f, "hal", 0, 7);
	if (store_batch_get(f->st, "B", &b, &err) != 0)
		fail_msg("batch get: %s", err.msg);
	assert_int_equal(b.opt.connections_per_user, 7);
	b.opt.connections_per_user = 17;
	assert_int_equal(store_batch_update(f->st, &b, &err), MF_EINVAL);
	store_batch_clear(&b);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queue_largest_first),
	    cmocka_unit_test(test_lanes_copy_all),
	    cmocka_unit_test(test_lanes_one),
	    cmocka_unit_test(test_lanes_skipped_shared),
	    cmocka_unit_test(test_lanes_limit_stops_all),
	    cmocka_unit_test(test_lanes_quota_stops_all),
	    cmocka_unit_test(test_lanes_reconnect),
	    cmocka_unit_test(test_lanes_fewer_connections),
	    cmocka_unit_test(test_lanes_option_stored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
