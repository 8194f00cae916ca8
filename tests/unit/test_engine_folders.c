/* Unit tests for src/engine/engine-folders.c: folder patterns, Exchange's
 * well-known tokens, filters and the source -> target folder plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "drivers/driver.h"
#include "engine/engine-folders.h"
#include "util/mf-error.h"
#include "util/xmalloc.h"

static const char *roles_of(enum mbx_role r)
{
	switch (r) {
	case MBX_ROLE_INBOX:
		return "INBOX";
	case MBX_ROLE_SENT:
		return "Sent Items";
	case MBX_ROLE_TRASH:
		return "Deleted Items";
	default:
		return NULL;
	}
}

/* A target that knows Sent and Trash only. */
static const char *tgt_role_folder(struct mbx *m, enum mbx_role role)
{
	(void)m;
	return role == MBX_ROLE_INBOX ? NULL : roles_of(role);
}

static const struct mailbox_driver tgt_driver = {.name = "t", .role_folder = tgt_role_folder};

static void test_matches(void **state)
{
	const char *rolemap[MBX_ROLE_FLAGGED + 1] = {0};

	(void)state;
	rolemap[MBX_ROLE_INBOX] = "INBOX";
	rolemap[MBX_ROLE_SENT] = "Sent Messages";
	assert_true(engine_folder_matches("Projects", "Projects", rolemap));
	assert_true(engine_folder_matches("projects", "Projects/2024/Q1", rolemap));
	assert_false(engine_folder_matches("Projects", "Projects-old", rolemap));
	assert_false(engine_folder_matches("Projects/2024", "Projects", rolemap));
	assert_true(engine_folder_matches("#Inbox#", "INBOX", rolemap));
	assert_true(engine_folder_matches("#INBOX#", "INBOX/Work", rolemap));
	assert_true(engine_folder_matches("#SentItems#", "Sent Messages", rolemap));
	assert_true(engine_folder_matches("#sentitems#", "Sent Messages/2023", rolemap));
	assert_false(engine_folder_matches("#SentItems#", "Sent", rolemap));
	assert_false(engine_folder_matches("#Drafts#", "Drafts", rolemap)); /* no role: no match */
	assert_true(engine_folder_matches("#Inbox#/Work", "INBOX/work/deep", rolemap));
	assert_false(engine_folder_matches("#Inbox#/Work", "INBOX", rolemap));
	assert_false(engine_folder_matches("#Inbox#/Work", "INBOX/Workshop", rolemap));
	assert_true(engine_folder_matches("Entwürfe", "Entwürfe/alt", rolemap));
}

static void test_parse(void **state)
{
	struct engine_filter f;
	struct mf_error err = {0};

	(void)state;
	assert_int_equal(engine_filter_parse(NULL, "", &f, &err), 0);
	assert_int_equal(f.ninclude + f.nexclude, 0);
	engine_filter_clear(&f);
	assert_int_equal(
	    engine_filter_parse("[\"A/*\", \"B/\", \"#Drafts#\"]", "[\"C\"]", &f, &err), 0);
	assert_int_equal(f.ninclude, 3);
	assert_string_equal(f.include[0], "A");
	assert_string_equal(f.include[1], "B");
	assert_string_equal(f.include[2], "#Drafts#");
	assert_string_equal(f.exclude[0], "C");
	engine_filter_clear(&f);
	assert_int_equal(engine_filter_parse("[\"#Calendar#\"]", NULL, &f, &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "--include-folder"));
	assert_non_null(strstr(err.msg, "unknown folder token #Calendar#"));
	assert_non_null(strstr(err.msg, "#JunkEmail#"));
	assert_int_equal(engine_filter_parse(NULL, "{\"a\": 1}", &f, &err), MF_EINVAL);
	assert_non_null(strstr(err.msg, "--exclude-folder"));
	assert_int_equal(engine_filter_parse("[\"\"]", NULL, &f, &err), MF_EINVAL);
	assert_int_equal(engine_filter_parse("[1]", NULL, &f, &err), MF_EINVAL);
	assert_int_equal(engine_folder_pattern_check("#Archive#/2024", &err), 0);
	assert_int_equal(engine_folder_pattern_check("a#b#", &err), 0);
}

static const struct engine_folder_plan *plan_find(const struct engine_plan *p, const char *src)
{
	for (size_t i = 0; i < p->count; i++)
		if (strcmp(p->folders[i].source, src) == 0)
			return &p->folders[i];
	return NULL;
}

static void test_plan(void **state)
{
	struct mbx_folder fo[] = {
	    {"INBOX", MBX_ROLE_INBOX, true, false},
	    {"INBOX/Work", MBX_ROLE_NONE, true, false},
	    {"Sent Messages", MBX_ROLE_SENT, true, false},
	    {"Sent Messages/2023", MBX_ROLE_NONE, false, false},
	    {"Old Sent", MBX_ROLE_SENT, false, false},
	    {"Trash", MBX_ROLE_TRASH, false, false},
	    {"Junk", MBX_ROLE_JUNK, false, false},
	    {"Shared", MBX_ROLE_NONE, false, true},
	    {"Shared/Team", MBX_ROLE_NONE, true, false},
	    {"Container", MBX_ROLE_NONE, false, true},
	    {"Hidden", MBX_ROLE_NONE, false, true},
	    {"Hidden/Inside", MBX_ROLE_NONE, false, false},
	};
	struct mbx_folder_list src = {fo, sizeof(fo) / sizeof(fo[0])};
	struct mbx tgt = {&tgt_driver};
	struct engine_filter f;
	struct engine_plan p;
	struct mf_error err = {0};
	const struct engine_folder_plan *x;

	(void)state;
	assert_int_equal(engine_filter_parse(NULL, "[\"hidden/inside\"]", &f, &err), 0);
	engine_plan_build(&f, &src, &tgt, &p);
	x = plan_find(&p, "INBOX");
	assert_non_null(x);
	assert_string_equal(x->target, "INBOX");
	assert_int_equal(x->role, MBX_ROLE_INBOX);
	assert_string_equal(plan_find(&p, "INBOX/Work")->target, "INBOX/Work");
	x = plan_find(&p, "Sent Messages");
	assert_string_equal(x->target, "Sent Items");
	assert_int_equal(x->role, MBX_ROLE_SENT);
	assert_true(x->subscribed);
	assert_string_equal(plan_find(&p, "Sent Messages/2023")->target, "Sent Items/2023");
	/* Only the first folder of a role is mapped. */
	assert_string_equal(plan_find(&p, "Old Sent")->target, "Old Sent");
	assert_string_equal(plan_find(&p, "Trash")->target, "Deleted Items");
	assert_string_equal(plan_find(&p, "Junk")->target, "Junk"); /* target has none */
	x = plan_find(&p, "Shared");
	assert_non_null(x);
	assert_true(x->noselect);
	assert_null(plan_find(&p, "Container"));
	/* Its only child is excluded, so the container goes too. */
	assert_null(plan_find(&p, "Hidden"));
	assert_null(plan_find(&p, "Hidden/Inside"));
	/* Parents come before children. */
	assert_true(plan_find(&p, "Shared") < plan_find(&p, "Shared/Team"));
	engine_plan_clear(&p);
	engine_filter_clear(&f);

	assert_int_equal(
	    engine_filter_parse("[\"#SentItems#\"]", "[\"#SentItems#/2023\"]", &f, &err), 0);
	engine_plan_build(&f, &src, &tgt, &p);
	assert_int_equal(p.count, 1);
	assert_string_equal(p.folders[0].source, "Sent Messages");
	engine_plan_clear(&p);
	engine_filter_clear(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matches),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
