/* Unit tests for the IMAP driver's UserRoot (imap-driver.h, "Folders under
 * a root"): the root's separator from NAMESPACE (other users', shared) or
 * LIST "" "", the listing below it with the prefix stripped, the root (or
 * root/INBOX) as INBOX, and names turned back; against the scripted server
 * of test_driver_imap_fake.h.
 */
#include "test_driver_imap_fake.h"

static struct mbx *open_root(struct fake *f, const char *const *script, const char *root)
{
	struct imap_mbx_opts o;

	fake_listen(f, script);
	fake_opts(f, &o);
	o.user = "admin";
	o.user_root = root;
	return fake_mbx_open(&o);
}

#define ADMIN_LOGIN(caps)                                           \
	"S:* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready",           \
	"C:A1 LOGIN admin pw",                                       \
	"S:A1 OK [CAPABILITY IMAP4rev1 " caps "] Logged in"

static void check_folder(const struct mbx_folder_list *l, size_t i, const char *name,
			 enum mbx_role role, bool subscribed, bool noselect)
{
	assert_true(i < l->count);
	assert_string_equal(l->folders[i].name, name);
	assert_int_equal(l->folders[i].role, role);
	assert_int_equal(l->folders[i].subscribed, subscribed);
	assert_int_equal(l->folders[i].noselect, noselect);
}

/* Cyrus as its admin sees it: "user.alice" is alice's inbox. */
static void test_root_other_users(void **state)
{
	static const char *const script[] = {
		ADMIN_LOGIN("NAMESPACE"),
		"C:A2 NAMESPACE",
		"S:* NAMESPACE ((\"INBOX.\" \".\")) ((\"user.\" \".\")) ((\"\" \".\"))\r\nA2 OK done",
		"C:A3 LIST \"\" user.alice",
		"C:A4 LSUB \"\" user.alice",
		"S:* LIST (\\HasChildren) \".\" user.alice\r\nA3 OK done",
		"S:* LSUB () \".\" user.alice\r\nA4 OK done",
		"C:A5 LIST \"\" \"user.alice.*\"",
		"C:A6 LSUB \"\" \"user.alice.*\"",
		"S:* LIST (\\HasNoChildren) \".\" user.alice.Sent\r\n"
		"* LIST (\\HasNoChildren) \".\" user.alice.Archive.2024\r\n"
		"* LIST (\\HasNoChildren) \".\" user.alice.&AMQ-pfel\r\nA5 OK done",
		"S:* LSUB () \".\" user.alice.Sent\r\nA6 OK done",
		"C:A7 EXAMINE user.alice",
		"S:* 3 EXISTS\r\n* OK [UIDVALIDITY 42] x\r\nA7 OK done",
		"C:A8 EXAMINE user.alice.Archive.2024",
		"S:* 0 EXISTS\r\n* OK [UIDVALIDITY 43] x\r\nA8 OK done",
		/* Not listed: translated below the root. */
		"C:A9 CREATE user.alice.New.Sub",
		"S:A9 OK done",
		FAKE_LOGOUT("A10"),
		NULL,
	};
	struct mbx_folder_list l;
	struct mbx_folder_state st;
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_root(&f, script, "/user/alice/");

	(void)state;
	assert_int_equal(m->drv->list_folders(m, &l, &err), 0);
	assert_int_equal(l.count, 5);
	check_folder(&l, 0, "INBOX", MBX_ROLE_INBOX, true, false);
	check_folder(&l, 1, "Archive", MBX_ROLE_NONE, false, true);
	check_folder(&l, 2, "Archive/2024", MBX_ROLE_NONE, false, false);
	check_folder(&l, 3, "Sent", MBX_ROLE_SENT, true, false);
	check_folder(&l, 4, "\xc3\x84pfel", MBX_ROLE_NONE, false, false);
	mbx_folder_list_free(&l);
	assert_int_equal(m->drv->folder_state(m, "INBOX", &st, &err), 0);
	assert_int_equal(st.uidvalidity, 42);
	assert_int_equal(st.count, 3);
	assert_int_equal(m->drv->folder_state(m, "Archive/2024", &st, &err), 0);
	assert_int_equal(st.uidvalidity, 43);
	assert_int_equal(m->drv->create_folder(m, "New/Sub", MBX_ROLE_NONE, false, &err), 0);
	fake_finish(&f, &m);
}

/* Dovecot's shared namespace: the root is a container, INBOX below it. */
static void test_root_shared_inbox(void **state)
{
	static const char *const script[] = {
		ADMIN_LOGIN("NAMESPACE SPECIAL-USE LIST-EXTENDED"),
		"C:A2 NAMESPACE",
		"S:* NAMESPACE ((\"\" \"/\")) NIL ((\"shared/\" \"/\"))\r\nA2 OK done",
		"C:A3 LIST \"\" shared/alice RETURN (SPECIAL-USE SUBSCRIBED)",
		"S:* LIST (\\Noselect \\HasChildren) \"/\" shared/alice\r\nA3 OK done",
		"C:A4 LIST \"\" \"shared/alice/*\" RETURN (SPECIAL-USE SUBSCRIBED)",
		"S:* LIST (\\HasNoChildren) \"/\" shared/alice/INBOX\r\n"
		"* LIST (\\HasNoChildren \\Sent) \"/\" \"shared/alice/Sent Items\"\r\n"
		"* LIST (\\HasNoChildren \\Subscribed) \"/\" shared/alice/Trash\r\nA4 OK done",
		"C:A5 EXAMINE shared/alice/INBOX",
		"S:* 1 EXISTS\r\n* OK [UIDVALIDITY 7] x\r\nA5 OK done",
		"C:A6 EXAMINE \"shared/alice/Sent Items\"",
		"S:* 1 EXISTS\r\n* OK [UIDVALIDITY 8] x\r\nA6 OK done",
		FAKE_LOGOUT("A7"),
		NULL,
	};
	struct mbx_folder_list l;
	struct mbx_folder_state st;
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_root(&f, script, "shared/alice");

	(void)state;
	assert_int_equal(m->drv->list_folders(m, &l, &err), 0);
	assert_int_equal(l.count, 3);
	check_folder(&l, 0, "INBOX", MBX_ROLE_INBOX, false, false);
	check_folder(&l, 1, "Sent Items", MBX_ROLE_SENT, false, false);
	check_folder(&l, 2, "Trash", MBX_ROLE_TRASH, true, false);
	mbx_folder_list_free(&l);
	assert_int_equal(m->drv->folder_state(m, "INBOX", &st, &err), 0);
	assert_int_equal(st.uidvalidity, 7);
	assert_int_equal(m->drv->folder_state(m, "Sent Items", &st, &err), 0);
	assert_int_equal(st.uidvalidity, 8);
	fake_finish(&f, &m);
}

/* Without NAMESPACE: LIST "" "" tells the separator; '/' in the root
 * reads as the server's '.'. */
static void test_root_no_namespace(void **state)
{
	static const char *const script[] = {
		ADMIN_LOGIN(""),
		"C:A2 LIST \"\" \"\"",
		"S:* LIST (\\Noselect) \".\" \"\"\r\nA2 OK done",
		"C:A3 LIST \"\" users.bob",
		"C:A4 LSUB \"\" users.bob",
		"S:* LIST () \".\" users.bob\r\nA3 OK done",
		"S:A4 OK done",
		"C:A5 LIST \"\" \"users.bob.*\"",
		"C:A6 LSUB \"\" \"users.bob.*\"",
		"S:* LIST () \".\" users.bob.INBOX\r\n* LIST () \".\" users.bob.Drafts\r\nA5 OK done",
		"S:A6 OK done",
		FAKE_LOGOUT("A7"),
		NULL,
	};
	struct mbx_folder_list l;
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_root(&f, script, "users/bob");

	(void)state;
	assert_int_equal(m->drv->list_folders(m, &l, &err), 0);
	/* Both the root and root.INBOX are selectable: root.INBOX is INBOX
	 * (the root is not listed then). */
	assert_int_equal(l.count, 2);
	check_folder(&l, 0, "INBOX", MBX_ROLE_INBOX, false, false);
	check_folder(&l, 1, "Drafts", MBX_ROLE_DRAFTS, false, false);
	mbx_folder_list_free(&l);
	fake_finish(&f, &m);
}

/* Nothing at the root: a wrong UserRoot, not an empty mailbox. */
static void test_root_nothing_there(void **state)
{
	static const char *const script[] = {
		ADMIN_LOGIN("NAMESPACE"),
		"C:A2 NAMESPACE",
		"S:* NAMESPACE ((\"\" \"/\")) NIL ((\"shared/\" \"/\"))\r\nA2 OK done",
		"C:A3 LIST \"\" shared/zed",
		"C:A4 LSUB \"\" shared/zed",
		"S:A3 OK done\r\nA4 OK done",
		"C:A5 LIST \"\" \"shared/zed/*\"",
		"C:A6 LSUB \"\" \"shared/zed/*\"",
		"S:A5 OK done\r\nA6 OK done",
		FAKE_LOGOUT("A7"),
		NULL,
	};
	struct mbx_folder_list l;
	struct mf_error err = { 0 };
	struct fake f;
	struct mbx *m = open_root(&f, script, "shared/zed");

	(void)state;
	assert_int_equal(m->drv->list_folders(m, &l, &err), MF_EINVAL);
	assert_string_equal(err.msg, "UserRoot \"shared/zed\": the server lists no folder there");
	mbx_folder_list_free(&l);
	fake_finish(&f, &m);
}

static void test_root_invalid(void **state)
{
	struct imap_mbx_opts o;
	struct mf_error err = { 0 };
	struct mbx *m = NULL;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = 1;
	o.user_root = "/";
	assert_int_equal(imap_mbx_open(&o, &m, &err), MF_EINVAL);
	assert_null(m);
	assert_string_equal(err.msg, "UserRoot names no folder");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root_other_users),
		cmocka_unit_test(test_root_shared_inbox),
		cmocka_unit_test(test_root_no_namespace),
		cmocka_unit_test(test_root_nothing_there),
		cmocka_unit_test(test_root_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
