/* Unit tests for src/engine: the safety net at the end of a folder (every
 * message its listing left to copy is done in the message map, skipped, or
 * gone from the source). A source that silently does not deliver a message
 * it still has (the IMAP driver did, for bodies that came before their
 * info) must fail the user with "internal error: ..." rather than have it
 * reported Synced with the message missing; a message really expunged
 * meanwhile is no error. Source: the in-memory fake (test_engine_fake.h)
 * behind a fetch that leaves one UID out. */
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

/* The UID fetch leaves out (0: none), and whether the source expunges it
 * then (else it keeps it and just does not deliver it). */
static uint32_t drop_uid;
static bool drop_expunges;
static struct mailbox_driver lossy_driver;

static int lossy_fetch(struct mbx *m, const char *folder, const uint32_t *uids, size_t n,
		       const struct mbx_sink *sink, struct mf_error *err)
{
	uint32_t *keep = xcalloc(n + 1, sizeof(*keep));
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (uids[i] != drop_uid || strcmp(folder, "INBOX") != 0) {
			keep[k++] = uids[i];
			continue;
		}
		if (drop_expunges) {
			struct fake_folder *fo = fake_folder_find(((struct fake_mbx *)m)->acct, folder);

			for (size_t j = 0; j < fo->count; j++) {
				if (fo->msgs[j].uid != drop_uid)
					continue;
				memmove(&fo->msgs[j], &fo->msgs[j + 1],
					(fo->count - j - 1) * sizeof(*fo->msgs));
				fo->count--;
				break;
			}
		}
	}
	rc = fake_fetch(m, folder, keep, k, sink, err);
	free(keep);
	return rc;
}

static int lossy_open(void *ctx, const struct engine_account *a, struct mbx **m_r,
		      struct mf_error *err)
{
	int rc = fake_open(ctx, a, m_r, err);

	if (rc == 0 && a->side == ENGINE_SOURCE)
		(*m_r)->drv = &lossy_driver;
	return rc;
}

static void msgs_init(struct fake_msg *msgs, char bodies[][40], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(bodies[i], 40, "Subject: m%zu\r\n\r\nbody %zu\r\n", i + 1, i + 1);
		msgs[i] = (struct fake_msg){(uint32_t)(i + 1), bodies[i], 0, 0, {NULL}, T2024};
	}
}

static struct fx *listed_fx(struct fake_account *a, struct fake_folder *fo,
			    struct fake_msg *msgs, size_t n)
{
	static struct fake_account *accts[2];
	const char *logins[] = {a->login, NULL};
	struct fx *f = fx_new(1);

	lossy_driver = fake_driver;
	lossy_driver.fetch = lossy_fetch;
	*fo = (struct fake_folder){"INBOX", MBX_ROLE_INBOX, true, false, msgs, n};
	a->folders = fo;
	a->nfolders = 1;
	accts[0] = a;
	accts[1] = NULL;
	f->world.accounts = accts;
	f->o.open = lossy_open;
	fx_batch(f, "L", NULL, logins);
	return f;
}

/* login is Synced with items copied, no intent left, count in INBOX. */
static void expect_synced(struct fx *f, const char *login, int64_t items, size_t count)
{
	struct store_user u;
	struct got_folder g;

	fx_user(f, login, &u);
	if (u.status != STORE_USER_SYNCED)
		fail_msg("%s is %s: %s", login, store_user_status_name(u.status),
			 u.stats.last_error ? u.stats.last_error : "");
	assert_int_equal(u.stats.synced_items, items);
	assert_int_equal(fx_intents(f, u.id), 0);
	store_user_clear(&u);
	got_read(f, login, "INBOX", &g);
	assert_int_equal(g.count, count);
	got_free(&g);
}

static void test_undelivered_fails_user(void **state)
{
	struct fake_msg msgs[5];
	char bodies[5][40];
	struct fake_folder fo;
	struct fake_account a = {.login = "lou"};
	struct fx *f;
	struct store_user u;
	struct got_folder g;

	(void)state;
	msgs_init(msgs, bodies, 5);
	f = listed_fx(&a, &fo, msgs, 5);
	drop_uid = 3;
	drop_expunges = false;
	fx_run(f, "L");
	fx_user(f, "lou", &u);
	assert_int_equal(u.status, STORE_USER_FAILED);
	assert_string_equal(u.stats.last_error,
			    "internal error: 1 message neither copied nor skipped in INBOX");
	assert_int_equal(u.stats.synced_items, 4);
	store_user_clear(&u);
	got_read(f, "lou", "INBOX", &g);
	assert_int_equal(g.count, 4);
	got_free(&g);

	/* The folder's highest UID was not recorded: the next run copies it. */
	drop_uid = 0;
	fx_run(f, "L");
	expect_synced(f, "lou", 5, 5);
	fx_free(f);
}

static void test_expunged_meanwhile_is_fine(void **state)
{
	struct fake_msg msgs[5];
	char bodies[5][40];
	struct fake_folder fo;
	struct fake_account a = {.login = "eve"};
	struct fx *f;

	(void)state;
	msgs_init(msgs, bodies, 5);
	f = listed_fx(&a, &fo, msgs, 5);
	drop_uid = 3;
	drop_expunges = true;
	fx_run(f, "L");
	expect_synced(f, "eve", 4, 4);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_undelivered_fails_user),
	    cmocka_unit_test(test_expunged_meanwhile_is_fine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
