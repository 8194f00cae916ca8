/* Unit tests for src/engine: a user's UserRoot reaches the source's opener
 * (engine_account.user_root, then imap_mbx_opts.user_root), never the
 * target's; engine_opts.no_multiappend reaches both.
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

struct seen {
	struct fake_world *w;
	char *src_root, *tgt_root;
	int src_opens, tgt_opens;
	bool src_no_multi, tgt_no_multi;
};

static int seen_open(void *ctx, const struct engine_account *a, struct mbx **m_r,
		     struct mf_error *err)
{
	struct seen *s = ctx;

	if (a->side == ENGINE_SOURCE) {
		s->src_opens++;
		free(s->src_root);
		s->src_root = a->user_root != NULL ? xstrdup(a->user_root) : NULL;
		s->src_no_multi = a->no_multiappend;
	} else {
		s->tgt_opens++;
		free(s->tgt_root);
		s->tgt_root = a->user_root != NULL ? xstrdup(a->user_root) : NULL;
		s->tgt_no_multi = a->no_multiappend;
	}
	return fake_open(s->w, a, m_r, err);
}

static struct fake_msg msgs[] = {
    {1, "Subject: one\r\n\r\n1\r\n", 0, 0, {NULL}, 1710000000},
};

static void test_user_root_to_source(void **state)
{
	struct fx *f = fx_new(4);
	struct fake_folder fo[] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 1}};
	struct fake_account a = {.login = "jo", .folders = fo, .nfolders = 1};
	struct fake_account *accts[] = {&a, NULL};
	struct store_batch b = {0};
	struct store_user_new un = {0};
	struct mf_error err = {0};
	struct seen s = {0};

	(void)state;
	f->world.accounts = accts;
	s.w = &f->world;
	f->o.open = seen_open;
	f->o.open_ctx = &s;
	f->o.no_multiappend = true;
	b.name = xstrdup("B");
	b.source_endpoint = xstrdup("src");
	b.status = STORE_BATCH_CREATED;
	b.opt.bad_item_limit = b.opt.large_item_limit = STORE_LIMIT_UNLIMITED;
	if (store_batch_create(f->st, &b, &err) != 0)
		fail_msg("batch: %s", err.msg);
	un.email_address = "jo@example.org";
	un.user_name = "jo";
	un.password = "secret";
	un.user_root = "users/jo";
	if (store_user_add_many(f->st, b.id, &un, 1, &err) != 0)
		fail_msg("users: %s", err.msg);
	store_batch_clear(&b);
	fx_run(f, "B");
	assert_int_equal(s.src_opens, 1);
	assert_int_equal(s.tgt_opens, 1);
	assert_string_equal(s.src_root, "users/jo");
	assert_null(s.tgt_root);
	assert_true(s.src_no_multi);
	assert_true(s.tgt_no_multi);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_SYNCED);
	free(s.src_root);
	free(s.tgt_root);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_user_root_to_source),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
