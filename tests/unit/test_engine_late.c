/* Unit tests for src/engine crash safety against a target that stores what
 * a killed process sent only after the next process has started (engine.h,
 * "Crash safety", step 3; engine-reconcile.c): the IMAP case of a server
 * still working through the commands of a dead client while the new run
 * settles its intents.
 *
 * The target batches appends as MULTIAPPEND does and tells the engine when
 * a batch is sealed (test_engine_wrap.h); a sealed batch goes through
 * limbo, and when the process is killed there, the next process's target
 * stores it only 300 ms after it opened (at its first call from then on).
 * A child runs the batch and is killed at chosen instants (a message
 * begun, its bytes, its end; a batch sealed and in limbo), up to three
 * times in a row; then the batch runs to its end, and every source message
 * must be on the target exactly once. Before settling waited for sealed
 * appends, each kill in limbo left its batch to be copied twice. The
 * source holds identical messages twice (which must land twice). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_engine_fake.h"

#define LATE_MSGS 30
#define LATE_MS 300

static struct fake_msg lmsgs[LATE_MSGS];
static char lbodies[LATE_MSGS][200];

static void late_mailbox(void)
{
	for (int i = 0; i < LATE_MSGS; i++) {
		/* Messages 8/9 and 20/21 are byte for byte the same. */
		int id = (i == 9 || i == 21) ? i - 1 : i;

		snprintf(lbodies[i], sizeof(lbodies[i]),
			 "Subject: l%d\r\nMessage-ID: <l%d@x>\r\n\r\nbody %d %.*s\r\n", id, id, id,
			 (id % 4) * 10, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
		lmsgs[i] = (struct fake_msg){(uint32_t)(i + 1), lbodies[i], 0,
					     i % 2 == 0 ? MBX_SEEN : 0, {NULL}, 1700000000 + i};
	}
}

/* Every source message exactly once on the target, nothing in limbo. */
static void late_verify(struct fx *f, int point)
{
	struct got_folder g;
	struct store_user u;
	char *cmd;

	fx_user(f, "lou", &u);
	if (u.status != STORE_USER_SYNCED)
		fail_msg("point %d: lou is %s: %s", point, store_user_status_name(u.status),
			 u.stats.last_error ? u.stats.last_error : "");
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
	cmd = xasprintf("test -z \"$(ls -A '%s')\"", f->world.limbo);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	got_read(f, "lou", "INBOX", &g);
	for (int i = 0; i < LATE_MSGS; i++) {
		size_t want = 0, have = 0;

		for (int k = 0; k < LATE_MSGS; k++)
			want += strcmp(lbodies[k], lbodies[i]) == 0;
		for (size_t k = 0; k < g.count; k++)
			have += g.msgs[k].bytes.len == strlen(lbodies[i]) &&
				memcmp(g.msgs[k].bytes.data, lbodies[i], strlen(lbodies[i])) == 0;
		if (have != want)
			fail_msg("point %d: message %d is on the target %zu times, not %zu", point,
				 i + 1, have, want);
	}
	if (g.count != LATE_MSGS)
		fail_msg("point %d: %zu messages on the target, %d at the source", point, g.count,
			 LATE_MSGS);
	got_free(&g);
}

/* Kill at instants from..to (step), up to rounds times in a row each. */
static void late_run(int from, int to, int step, int rounds, bool lost)
{
	int killed = 0, points = 0;

	late_mailbox();
	for (int at = from; at < to; at += step) {
		struct fx *f = fx_new(1);
		struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, lmsgs, LATE_MSGS}};
		struct fake_account a = {.login = "lou", .folders = fo, .nfolders = 1};
		struct fake_account *accts[] = {&a, NULL};
		const char *logins[] = {"lou", NULL};
		char *limbo = xasprintf("%s/limbo", f->dir);

		assert_int_equal(mkdir(limbo, 0700), 0);
		f->world.accounts = accts;
		f->world.no_names = true;
		f->world.defer_done = true;
		f->world.multi = 4;
		f->world.late_ms = LATE_MS;
		f->world.limbo = limbo;
		f->world.limbo_lost = lost;
		f->o.fetch_chunk = 6;
		fx_batch(f, "L", NULL, logins);
		for (int round = 0; round < rounds; round++) {
			if (!fx_run_child(f, "L", at + round * 7))
				break;
			killed++;
		}
		points++;
		f->world.kill_at = 0;
		fx_run(f, "L");
		late_verify(f, at);
		free(limbo);
		fx_free(f);
	}
	print_message("%s: %d kill points, %d kills, %d messages verified each time: "
		      "0 lost, 0 duplicated\n",
		      lost ? "sealed, never landed" : "late landings", points, killed, LATE_MSGS);
	assert_true(killed >= points);
}

static void test_late_landing(void **state)
{
	(void)state;
	/* A run is about 4 instants per message and one per batch. */
	late_run(3, 4 * LATE_MSGS, 11, 3, false);
}

/* A sealed batch that never lands (a reset lost it): waited for until the
 * folder stays still (ENGINE_SETTLE_QUIET_MS), then copied again. */
static void test_sealed_never_landed(void **state)
{
	(void)state;
	late_run(25, 26, 1, 1, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_late_landing),
	    cmocka_unit_test(test_sealed_never_landed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
