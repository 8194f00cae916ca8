/* Unit tests for src/engine crash safety (engine.h, "Crash safety"): a
 * child process runs the batch and is killed with SIGKILL at a chosen
 * instant (test_engine_fake.h kill points: a source message begun, its
 * bytes, its end; a target append ended and durable; its late report),
 * up to three times in a row; then the batch is run to its end with a
 * fresh store handle, and every source message must be on the target
 * exactly once (no loss, no duplicate), with no intent left.
 *
 * Two targets: the local store with reserved names (settled by name), and
 * the same store seen as an IMAP target would be (no reserved names,
 * appends reported late: settled by size and content, the source fetched
 * again for the hash). The source holds identical messages twice, which
 * must land twice. */
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

#define KILL_MSGS 48
#define KILL_POINTS 24

static struct fake_msg kmsgs[KILL_MSGS];
static char kbodies[KILL_MSGS][200];

static void kill_mailbox(void)
{
	for (int i = 0; i < KILL_MSGS; i++) {
		/* Messages 10/11 and 20/21 are byte for byte the same. */
		int id = (i == 11 || i == 21) ? i - 1 : i;
		int pad = id % 5;

		snprintf(kbodies[i], sizeof(kbodies[i]),
			 "Subject: k%d\r\nMessage-ID: <k%d@x>\r\n\r\nbody %d %.*s\r\n", id, id, id,
			 pad * 10, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		kmsgs[i] = (struct fake_msg){(uint32_t)(i + 1), kbodies[i], 0,
					     i % 3 == 0 ? MBX_SEEN : 0, {NULL}, 1700000000 + i};
	}
}

/* Every source message exactly once on the target. */
static void kill_verify(struct fx *f, int point)
{
	struct got_folder g;
	struct store_user u;

	fx_user(f, "kay", &u);
	if (u.status != STORE_USER_SYNCED)
		fail_msg("point %d: kay is %s: %s", point, store_user_status_name(u.status),
			 u.stats.last_error ? u.stats.last_error : "");
	assert_int_equal(fx_intents(f, u.id), 0);
	assert_int_equal(u.stats.synced_items, KILL_MSGS);
	store_user_clear(&u);
	got_read(f, "kay", "INBOX", &g);
	if (g.count != KILL_MSGS)
		fail_msg("point %d: %zu messages on the target, %d at the source", point, g.count,
			 KILL_MSGS);
	for (int i = 0; i < KILL_MSGS; i++) {
		size_t want = 0, have = 0;

		for (int k = 0; k < KILL_MSGS; k++)
			want += strcmp(kbodies[k], kbodies[i]) == 0;
		for (size_t k = 0; k < g.count; k++)
			have += g.msgs[k].bytes.len == strlen(kbodies[i]) &&
				memcmp(g.msgs[k].bytes.data, kbodies[i], strlen(kbodies[i])) == 0;
		if (have != want)
			fail_msg("point %d: message %d is on the target %zu times, not %zu", point,
				 i + 1, have, want);
	}
	got_free(&g);
}

static void kill_run(bool imap_like)
{
	int killed = 0, points = 0;

	kill_mailbox();
	for (int p = 0; p < KILL_POINTS; p++) {
		struct fx *f = fx_new(1);
		struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, kmsgs, KILL_MSGS}};
		struct fake_account a = {.login = "kay", .folders = fo, .nfolders = 1};
		struct fake_account *accts[] = {&a, NULL};
		const char *logins[] = {"kay", NULL};
		/* Spread over a run of ~6 instants per message. */
		int at = 2 + p * 13 + (imap_like ? 5 : 0);

		f->world.accounts = accts;
		f->world.defer_done = imap_like;
		f->world.no_names = imap_like;
		f->o.fetch_chunk = 7;
		fx_batch(f, "K", NULL, logins);
		for (int round = 0; round < 3; round++) {
			if (!fx_run_child(f, "K", at + round * 29))
				break;
			killed++;
		}
		points++;
		f->world.kill_at = 0;
		fx_run(f, "K");
		kill_verify(f, at);
		fx_free(f);
	}
	print_message("%s: %d kill points, %d kills, %d messages verified each time: 0 lost, "
		      "0 duplicated\n",
		      imap_like ? "imap-like target" : "local store", points, killed, KILL_MSGS);
	assert_true(killed >= KILL_POINTS);
}

static void test_kill_local(void **state)
{
	(void)state;
	kill_run(false);
}

static void test_kill_imap_like(void **state)
{
	(void)state;
	kill_run(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_local),
	    cmocka_unit_test(test_kill_imap_like),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
