/* Unit tests for src/cli: the batch and user commands run in-process
 * against a temporary data directory (the engine's fake world from
 * test_engine_fake.h stands in for the servers of `batch start --wait`),
 * the cmdlet translation of the batch cmdlets, the option values, and the
 * live progress display. */
#include <signal.h>

#include <jansson.h>
#include <pthread.h>

#include "cli/cli-progress.h"
#define CLI_TEST_FAKE_WORLD
#include "test_cli_common.h"

#define CSV_PW "Csv-Pa55word-xyz"
#define ADMIN_PW "Adm1n-pw-abc"

static char *write_file(const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", F->dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static size_t batch_count(void)
{
	struct run r = run_cli(NULL, "batch", "list", "--json", NULL);
	json_t *j = json_loads(r.out, 0, NULL);
	size_t n;

	assert_int_equal(r.rc, 0);
	assert_non_null(j);
	n = json_array_size(j);
	json_decref(j);
	run_free(&r);
	return n;
}

static int setup(void **state)
{
	struct run r;

	(void)state;
	cli_fx_setup();
	/* "src" (no admin) exists; add one with an administrator, an
	 * Exchange one, and an IMAP target without an administrator. */
	r = run_cli(ADMIN_PW "\n", "endpoint", "new", "adm", "--type", "imap", "--server",
		    "imap.example.org", "--admin-user", "admin", "--password-stdin",
		    "--skip-verification", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	r = run_cli(NULL, "endpoint", "new", "ex", "--type", "exchange-remote", "--server",
		    "ex.example.org", "--skip-verification", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	r = run_cli(NULL, "endpoint", "new", "dst", "--type", "imap", "--server",
		    "dst.example.org", "--skip-verification", NULL);
	assert_int_equal(r.rc, 0);
	run_free(&r);
	return 0;
}

/* ---- batch new ------------------------------------------------------------- */

static void test_new_good(void **state)
{
	char *csv = write_file("u.csv", "\xEF\xBB\xBF" "EmailAddress,UserName,Password\r\n"
				       "ann@example.org,ann," CSV_PW "\r\n"
				       "ben@example.org,ben,\"" CSV_PW "\"\r\n");
	char *db = xasprintf("%s/mailferry.db", F->data_dir);
	char *wal = xasprintf("%s/mailferry.db-wal", F->data_dir);
	struct run r;
	json_t *j;

	(void)state;
	r = run_cli(NULL, "batch", "new", "b1", "--source", "src", "--csv", csv,
		    "--exclude-folder", "#JunkEmail#", "--exclude-folder", "Archive/2019",
		    "--bad-item-limit", "5", "--large-item-limit", "unlimited",
		    "--max-message-size", "25M", "--received-after", "2024-03-01", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Name                    : b1\n");
	assert_contains(r.out, "Status                  : Created\n");
	assert_contains(r.out, "TargetEndpoint          : local\n");
	assert_contains(r.out, "TotalCount              : 2\n");
	assert_contains(r.out, "ExcludeFolders          : #JunkEmail#, Archive/2019\n");
	assert_contains(r.out, "LargeItemLimit          : Unlimited\n");
	assert_contains(r.out, "MaxMessageSize          : 25.0 MB (26,214,400 bytes)\n");
	assert_contains(r.out, "ReceivedAfter           : 2024-03-01T00:00:00Z\n");
	assert_null(strstr(r.out, CSV_PW));
	assert_null(strstr(r.err, CSV_PW));
	run_free(&r);
	assert_false(file_contains(db, CSV_PW));
	assert_false(file_contains(wal, CSV_PW));

	r = run_cli(NULL, "batch", "show", "b1", "--json", NULL);
	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "BadItemLimit")), 5);
	assert_string_equal(json_string_value(json_object_get(j, "LargeItemLimit")), "Unlimited");
	assert_int_equal(json_integer_value(json_object_get(j, "MaxMessageSize")), 26214400);
	assert_int_equal(json_integer_value(json_object_get(j, "QueuedCount")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "ExcludeFolders"),
							     1)), "Archive/2019");
	assert_true(json_is_array(json_object_get(j, "Events")));
	json_decref(j);
	run_free(&r);

	/* a mailbox can be in one batch only: nothing of b2 is stored */
	r = run_cli(NULL, "batch", "new", "b2", "--source", "src", "--csv", csv, NULL);
	EXPECT_RC(r, 4, "mailbox ann@example.org is already in batch b1; nothing was stored");
	run_free(&r);
	assert_int_equal(batch_count(), 1);
	r = run_cli(NULL, "batch", "new", "b1", "--source", "src", "--csv", csv, NULL);
	EXPECT_RC(r, 4, "a batch named 'b1' already exists");
	run_free(&r);

	/* from standard input, impersonated through the administrator */
	r = run_cli("EmailAddress,UserName,Password\ncy@example.org,,\n", "New-MigrationBatch",
		    "-Name", "b3", "-SourceEndpoint", "adm", "-CSVData", "-", "-Json", NULL);
	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "SourceEndpoint")), "adm");
	assert_int_equal(json_integer_value(json_object_get(j, "TotalCount")), 1);
	json_decref(j);
	run_free(&r);
	free(csv);
	free(db);
	free(wal);
}

struct bad_csv {
	const char *text;
	const char *target; /* NULL: local */
	const char *source;
	const char *expect;
};

static void test_new_csv_refused(void **state)
{
	static const struct bad_csv cases[] = {
		{ "EmailAddress,UserName,Password\na@example.org,a,p\nnot-an-address,b,p\n", NULL,
		  "src", "line 3: malformed address" },
		{ "EmailAddress,UserName,Password\na@example.org,a,p\nA@example.org,b,p\n", NULL,
		  "src", "line 3: duplicate address A@example.org (first on line 2)" },
		{ "EmailAddress,UserName,Password\na@example.org,a\n", NULL, "src", "line 2:" },
		{ "EmailAddress,UserName,Password,Color\na@example.org,a,p,red\n", NULL, "src",
		  "line 1:" },
		{ "EmailAddress,UserName\na@example.org,a\n", NULL, "src",
		  "line 1: missing column Password" },
		{ "", NULL, "src", "the file is empty" },
		{ "EmailAddress,UserName,Password\na@example.org,,\n", NULL, "src",
		  "line 2: UserName is empty" },
		{ "EmailAddress,UserName,Password\na@example.org,a,p\nb@example.org,b,p\n", "dst",
		  "src", "line 3: TargetUserName and TargetPassword are needed: target endpoint "
		  "'dst'" },
		{ "EmailAddress,UserName,Password,TargetPassword\na@example.org,a,p,q\n", "dst",
		  "src", "line 2: TargetPassword without TargetUserName" },
		{ "EmailAddress,UserName,Password\na/b@example.org,a,p\n", NULL, "src",
		  "line 2: address a/b@example.org cannot name a directory" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *csv = write_file("bad.csv", cases[i].text);
		struct run r;

		if (cases[i].target != NULL)
			r = run_cli(NULL, "batch", "new", "bad", "--source", cases[i].source,
				    "--target", cases[i].target, "--csv", csv, NULL);
		else
			r = run_cli(NULL, "batch", "new", "bad", "--source", cases[i].source,
				    "--csv", csv, NULL);
		EXPECT_RC(r, 2, cases[i].expect);
		assert_contains(r.err, "nothing was stored");
		assert_null(strstr(r.out, "Name"));
		run_free(&r);
		free(csv);
		assert_int_equal(batch_count(), 0);
	}
	/* every problem is listed, not only the first */
	{
		char *csv = write_file("bad.csv", "EmailAddress,UserName,Password\nx,a,p\n"
						  "y,b,p\nz@example.org,c,p\n");
		struct run r = run_cli(NULL, "batch", "new", "bad", "--source", "src", "--csv",
				       csv, NULL);

		EXPECT_RC(r, 2, "bad.csv: line 2: malformed address \"x\"");
		assert_contains(r.err, "bad.csv: line 3: malformed address \"y\"");
		assert_contains(r.err, "refused: 2 problems; nothing was stored");
		run_free(&r);
		free(csv);
	}
}

static void test_new_refusals(void **state)
{
	char *csv = write_file("u.csv", "EmailAddress,UserName,Password\nd@example.org,d,p\n");
	struct run r;

	(void)state;
	r = run_cli(NULL, "batch", "new", "b", "--source", "nope", "--csv", csv, NULL);
	EXPECT_RC(r, 3, "--source: no endpoint named 'nope'");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "b", "--source", "src", "--target", "gone", "--csv", csv,
		    NULL);
	EXPECT_RC(r, 3, "--target: no endpoint named 'gone'");
	run_free(&r);
	r = run_cli(NULL, "New-MigrationBatch", "-Name", "b", "-SourceEndpoint", "ghost",
		    "-CSVData", csv, NULL);
	EXPECT_RC(r, 3, "-SourceEndpoint: no endpoint named 'ghost'");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "b", "--source", "ex", "--csv", csv, NULL);
	EXPECT_RC(r, 20, "not yet supported");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "bad name", "--source", "src", "--csv", csv, NULL);
	EXPECT_RC(r, 2, "invalid batch name 'bad name'");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "b", "--source", "src", "--csv", csv,
		    "--exclude-folder", "#Calendar#", NULL);
	EXPECT_RC(r, 2, "unknown folder token #Calendar#");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "b", "--source", "src", "--csv", csv,
		    "--received-after", "2024-02-30", NULL);
	EXPECT_RC(r, 2, "is not a date");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "b", "--csv", csv, NULL);
	EXPECT_RC(r, 2, "batch new needs --source");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "b", "--source", "src", "--csv", "/nonexistent.csv",
		    NULL);
	EXPECT_RC(r, 2, "/nonexistent.csv");
	run_free(&r);
	assert_int_equal(batch_count(), 0);
	free(csv);
}

/* ---- running --------------------------------------------------------------------- */

static struct fake_msg msgs[] = {
	{ 1, "Subject: one\r\n\r\nfirst\r\n", 0, MBX_SEEN, { NULL }, 1710000000 },
	{ 2, "Subject: two\r\n\r\nsecond\r\n", 0, 0, { NULL }, 1710000100 },
};

static void test_start_wait(void **state)
{
	struct fake_folder fo[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 2 } };
	struct fake_account ann = { .login = "ann", .folders = fo, .nfolders = 1 };
	struct fake_account ben = { .login = "ben",
				    .open_rc = MF_EAUTH,
				    .open_msg = "LOGIN rejected: [AUTHENTICATIONFAILED] nope" };
	struct fake_account *accts[] = { &ann, &ben, NULL };
	char *csv = write_file("u.csv", "EmailAddress,UserName,Password\n"
				       "ann@example.org,ann,secret\n");
	char *csv2 = write_file("u2.csv", "EmailAddress,UserName,Password\n"
					"ben@example.org,ben,secret\n");
	char *landed = xasprintf("%s/mailstore/ann@example.org/cur", F->data_dir);
	struct run r;
	json_t *j;

	(void)state;
	F->world.accounts = accts;
	r = run_cli(NULL, "batch", "new", "ok", "--source", "src", "--csv", csv, NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	/* without --wait: queued for `mailferry serve`, which runs it */
	r = run_cli(NULL, "batch", "start", "ok", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Batch 'ok' is Syncing: queued for 'mailferry serve' (1 Queued).");
	run_free(&r);
	assert_int_equal(fx_batch_status(F, "ok"), STORE_BATCH_SYNCING);

	r = run_cli(NULL, "batch", "start", "ok", "--wait", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "batch ok started: 1 of 1 users to sync\n");
	assert_contains(r.out, "Z ann@example.org started\n");
	assert_contains(r.out, "Z ann@example.org Synced: 2 items, ");
	assert_contains(r.out, ", 0 skipped in ");
	assert_contains(r.out, "Z batch ok Synced: 1 Synced\n");
	assert_null(strstr(r.out, "\033["));
	run_free(&r);
	assert_int_equal(access(landed, F_OK), 0);

	r = run_cli(NULL, "user", "show", "ann@example.org", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Status                         : Synced\n");
	assert_contains(r.out, "SyncedItemCount                : 2\n");
	assert_contains(r.out, "PercentageComplete             : 100\n");
	run_free(&r);

	/* a failed user: exit 1, its reason on its line; --json: the report */
	r = run_cli(NULL, "New-MigrationBatch", "-Name", "bad", "-SourceEndpoint", "src",
		    "-CSVData", csv2, "-AutoStart", NULL);
	EXPECT_RC(r, 1, NULL);
	assert_contains(r.out, "Z ben@example.org Failed: source: LOGIN rejected: "
		       "[AUTHENTICATIONFAILED] nope\n");
	assert_contains(r.out, "Z batch bad Failed: 1 Failed\n");
	run_free(&r);
	r = run_cli(NULL, "Start-MigrationBatch", "bad", "-Wait", "-Json", NULL);
	EXPECT_RC(r, 1, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "Status")), "Failed");
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "Users"), 0), "LastError")),
			    "source: LOGIN rejected: [AUTHENTICATIONFAILED] nope");
	json_decref(j);
	run_free(&r);

	/* stop and remove */
	r = run_cli(NULL, "batch", "stop", "ok", NULL);
	EXPECT_RC(r, 4, "batch ok is not running (Synced)");
	run_free(&r);
	r = run_cli(NULL, "batch", "remove", "ok", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Removed batch 'ok' and its 1 migration users. Mail already copied "
			       "stays in the local store");
	run_free(&r);
	assert_int_equal(access(landed, F_OK), 0);
	r = run_cli(NULL, "batch", "show", "ok", NULL);
	EXPECT_RC(r, 3, "no batch named 'ok'");
	run_free(&r);
	free(csv);
	free(csv2);
	free(landed);
}

static void *send_sigint(void *arg)
{
	(void)arg;
	usleep(400 * 1000);
	kill(getpid(), SIGINT);
	return NULL;
}

static void test_ctrl_c_stops(void **state)
{
	static struct fake_msg many[40];
	struct fake_folder fo[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, many, 40 } };
	struct fake_account ann = { .login = "ann", .folders = fo, .nfolders = 1, .slow_ms = 50 };
	struct fake_account *accts[] = { &ann, NULL };
	char *csv = write_file("u.csv", "EmailAddress,UserName,Password\n"
				       "ann@example.org,ann,secret\n");
	pthread_t th;
	struct run r;

	(void)state;
	for (int i = 0; i < 40; i++)
		many[i] = (struct fake_msg){ (uint32_t)i + 1, "Subject: s\r\n\r\nbody\r\n", 0, 0,
					     { NULL }, 1710000000 };
	F->world.accounts = accts;
	r = run_cli(NULL, "batch", "new", "slow", "--source", "src", "--csv", csv, NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	assert_int_equal(pthread_create(&th, NULL, send_sigint, NULL), 0);
	r = run_cli(NULL, "batch", "start", "slow", "--wait", NULL);
	pthread_join(th, NULL);
	EXPECT_RC(r, 1, "stopping batch slow: finishing the messages in flight");
	assert_contains(r.out, "Z ann@example.org Stopped: ");
	assert_contains(r.out, "Z batch slow Stopped: 1 Stopped\n");
	run_free(&r);
	assert_int_equal(fx_batch_status(F, "slow"), STORE_BATCH_STOPPED);
	assert_true(atomic_load(&ann.delivered) < 40);
	/* the remove check: a running batch is refused */
	{
		struct store_batch b = { 0 };
		struct mf_error err = { 0 };

		assert_int_equal(store_batch_get(F->st, "slow", &b, &err), 0);
		assert_int_equal(store_batch_set_status(F->st, b.id, STORE_BATCH_SYNCING, NULL,
							&err), 0);
		store_batch_clear(&b);
	}
	r = run_cli(NULL, "Remove-MigrationBatch", "slow", "-Confirm:$false", NULL);
	EXPECT_RC(r, 4, "batch slow is running (Syncing); stop it first");
	run_free(&r);
	free(csv);
}

/* ---- reading ---------------------------------------------------------------------- */

static void test_list_show_report(void **state)
{
	struct fake_folder fo[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 2 } };
	struct fake_account ann = { .login = "ann", .folders = fo, .nfolders = 1 };
	struct fake_account ben = { .login = "ben", .open_rc = MF_EAUTH,
				    .open_msg = "NO \"quoted\", with a comma" };
	struct fake_account *accts[] = { &ann, &ben, NULL };
	char *csv = write_file("u.csv", "EmailAddress,UserName,Password\n"
				       "ann@example.org,ann,secret\nben@example.org,ben,secret\n");
	char *out = xasprintf("%s/report.csv", F->dir);
	struct store_skipped sk = { 0 };
	struct store_user u;
	struct mf_error err = { 0 };
	struct run r;
	json_t *j;

	(void)state;
	F->world.accounts = accts;
	r = run_cli(NULL, "batch", "new", "rep", "--source", "src", "--csv", csv, "--auto-start",
		    NULL);
	EXPECT_RC(r, 1, NULL);
	run_free(&r);
	fx_user(F, "ann", &u);
	sk.user_id = u.id;
	sk.folder = "INBOX";
	sk.uid = 9;
	sk.date = 1710000000;
	sk.subject = "Too big";
	sk.size = 30 << 20;
	sk.reason = "larger than --max-message-size";
	sk.kind = STORE_SKIP_LARGE;
	assert_int_equal(store_skipped_add(F->st, &sk, &err), 0);
	store_user_clear(&u);

	r = run_cli(NULL, "batch", "list", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Name  Status            Source  Target  Users  Synced  Completed  "
			       "Failed  Created\n");
	assert_contains(r.out, "rep   SyncedWithErrors  src     local   2      1       0          "
			       "1       ");
	run_free(&r);
	r = run_cli(NULL, "Get-MigrationBatch", "rep", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "FailedCount             : 1\n");
	assert_contains(r.out, "Latest events:\n");
	assert_contains(r.out, "batch started: 2 of 2 users to sync");
	run_free(&r);

	r = run_cli(NULL, "batch", "report", "rep", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "EmailAddress,Status,TotalItemsInSourceMailboxCount,"
			       "SyncedItemCount,SkippedItemCount,BytesTransferred,"
			       "PercentageComplete,StartTime,EndTime,LastError\r\n");
	assert_contains(r.out, "ann@example.org,Synced,2,2,0,");
	assert_contains(r.out, ",\"source: NO \"\"quoted\"\", with a comma\"\r\n");
	run_free(&r);
	r = run_cli(NULL, "batch", "report", "rep", "--format", "json", "--output", out, NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Wrote the report of batch 'rep' (2 users) to ");
	run_free(&r);
	j = json_load_file(out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "Users")), 2);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(j, "Users"), 0),
				 "PercentageComplete")), 100);
	json_decref(j);

	r = run_cli(NULL, "user", "list", "--batch", "rep", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "EmailAddress     Batch  Status  Items  Skipped  Bytes  %\n");
	assert_contains(r.out, "ann@example.org  rep    Synced  2/2    0   ");
	assert_contains(r.out, "ben@example.org  rep    Failed  0/0    0        0 B    0\n");
	run_free(&r);
	r = run_cli(NULL, "Get-MigrationUser", "-BatchId", "nope", NULL);
	EXPECT_RC(r, 3, "no batch named 'nope'");
	run_free(&r);
	r = run_cli(NULL, "user", "list", "--json", NULL);
	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "Error")),
			    "source: NO \"quoted\", with a comma");
	json_decref(j);
	run_free(&r);

	r = run_cli(NULL, "Get-MigrationUserStatistics", "ANN@example.org",
		    "-IncludeSkippedItems", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Identity                       : ann@example.org\n");
	assert_contains(r.out, "BatchId                        : rep\n");
	assert_contains(r.out, "Folder  Date                  Subject  Size     Kind   Reason\n");
	assert_contains(r.out, "INBOX   2024-03-09T16:00:00Z  Too big  30.0 MB  large  larger "
			       "than --max-message-size\n");
	run_free(&r);
	r = run_cli(NULL, "user", "show", "ann@example.org", "--skipped-items", "--json", NULL);
	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(j, "SkippedItems"), 0), "Kind")),
			    "large");
	json_decref(j);
	run_free(&r);
	r = run_cli(NULL, "user", "show", "nobody@example.org", NULL);
	EXPECT_RC(r, 3, "no migration user 'nobody@example.org'");
	run_free(&r);
	free(csv);
	free(out);
}

/* ---- parsing ----------------------------------------------------------------------- */

static void test_cmdlet_translation(void **state)
{
	struct cli_opts o;
	struct mf_error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "new-migrationbatch", "-Name", "b", "-SourceEndpoint",
			       "src", "-TargetEndpoint", "dst", "-CSVData", "u.csv",
			       "-ExcludeFolders", "A, #Inbox#/Old,B", "-IncludeFolders", "X",
			       "-BadItemLimit", "3", "-LargeItemLimit:unlimited", "-AutoStart"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_NEW);
	assert_string_equal(o.name, "b");
	assert_string_equal(o.b.source, "src");
	assert_string_equal(o.b.target, "dst");
	assert_string_equal(o.b.csv, "u.csv");
	assert_int_equal(o.b.nexclude, 3);
	assert_string_equal(o.b.exclude[0], "A");
	assert_string_equal(o.b.exclude[1], "#Inbox#/Old");
	assert_string_equal(o.b.exclude[2], "B");
	assert_int_equal(o.b.ninclude, 1);
	assert_int_equal(o.b.bad_item_limit, 3);
	assert_int_equal(o.b.large_item_limit, -1);
	assert_true(o.b.auto_start);
	cli_opts_free(&o);

	assert_int_equal(PARSE(&o, &err, "Get-MigrationUser", "-BatchId", "b"), 0);
	assert_int_equal(o.cmd, CLI_CMD_USER_LIST);
	assert_string_equal(o.b.batch, "b");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "get-migrationuser", "a@x.org"), 0);
	assert_int_equal(o.cmd, CLI_CMD_USER_SHOW);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Start-MigrationBatch", "-Identity", "b", "-Wait"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_START);
	assert_true(o.b.wait);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Stop-MigrationBatch", "b"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_STOP);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Get-MigrationBatch"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_LIST);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Get-MigrationUserStatistics", "a@x.org",
			       "-IncludeSkippedItems"), 0);
	assert_int_equal(o.cmd, CLI_CMD_USER_SHOW);
	assert_true(o.b.skipped_items);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "New-MigrationBatch", "-Name", "b", "-Bogus", "1"),
			 CLI_EXIT_USAGE);
	assert_string_equal(err.msg, "A parameter cannot be found that matches parameter name "
				     "'Bogus'.");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "batch", "report", "b", "--format", "xml"),
			 CLI_EXIT_USAGE);
	assert_string_equal(err.msg, "--format must be csv or json");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "user", "show"), CLI_EXIT_USAGE);
	assert_string_equal(err.msg, "user show needs an EMAIL");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "batch", "list", "--wait"), CLI_EXIT_USAGE);
	cli_opts_free(&o);
}

static void test_values(void **state)
{
	struct mf_error err;
	long long v;

	(void)state;
	assert_int_equal(cli_parse_size("--s", "1024", &v, &err), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(cli_parse_size("--s", "10k", &v, &err), 0);
	assert_int_equal(v, 10240);
	assert_int_equal(cli_parse_size("--s", "2G", &v, &err), 0);
	assert_int_equal(v, 2LL << 30);
	assert_int_equal(cli_parse_size("--s", "0", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_size("--s", "5X", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_size("--s", "-5", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_size("--s", "99999999999G", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_limit("--l", "UNLIMITED", &v, &err), 0);
	assert_int_equal(v, -1);
	assert_int_equal(cli_parse_limit("--l", "-1", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_date("--d", "2024-01-31", &v, &err), 0);
	assert_int_equal(v, 1706659200);
	assert_int_equal(cli_parse_date("--d", "2024-01-31T08:00:00Z", &v, &err), 0);
	assert_int_equal(v, 1706659200 + 8 * 3600);
	assert_int_equal(cli_parse_date("--d", "2024-01-31T08:00:00.25+02:00", &v, &err), 0);
	assert_int_equal(v, 1706659200 + 6 * 3600);
	assert_int_equal(cli_parse_date("--d", "2023-02-29", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_date("--d", "2024-01-31T25:00:00Z", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_date("--d", "2024-01-31T08:00:00", &v, &err), MF_EINVAL);
	assert_int_equal(cli_parse_date("--d", "31.01.2024", &v, &err), MF_EINVAL);
}

/* ---- the live display ---------------------------------------------------------------- */

static int64_t fake_ms;

static int64_t fake_clock(void)
{
	return fake_ms;
}

static void test_progress_live(void **state)
{
	FILE *f = tmpfile();
	struct cli_progress *p = cli_progress_new(f, true, 100, 24);
	struct engine_progress_cb cb = cli_progress_callbacks(p);
	struct engine_progress e = { .batch_name = "b", .email_address = "alice@example.org",
				     .user_id = 7, .total_items = 2345, .synced_items = 1234,
				     .total_bytes = 20 << 20, .bytes_transferred = 12900000,
				     .percent = 52, .rate = 4.5 * 1048576 };
	int64_t counts[STORE_USER_NSTATUS] = { 0 };
	char *out;

	(void)state;
	cli_progress_set_clock(p, fake_clock);
	fake_ms = 1000;
	cli_progress_begin(p, "b", 2, 3);
	cb.user_started(cb.ctx, &e);
	fake_ms += 50;
	e.synced_items = 1300;
	cb.user_progress(cb.ctx, &e); /* too soon: not drawn */
	fake_ms += 450;
	cb.user_progress(cb.ctx, &e);
	e.synced_items = 2345;
	e.percent = 100;
	cb.user_finished(cb.ctx, &e, STORE_USER_SYNCED, NULL, 0);
	counts[STORE_USER_SYNCED] = 1;
	cb.batch_finished(cb.ctx, "b", STORE_BATCH_SYNCED, counts);
	cli_progress_end(p);
	cli_progress_free(&p);
	out = slurp(f);
	fclose(f);
	assert_contains(out, "alice@example.org  [#####.....]   52%  1,234/2,345 items  12.3 MB  "
			     "4.5 MB/s  ETA ");
	assert_contains(out, "alice@example.org  [#####.....]   52%  1,300/2,345 items");
	assert_contains(out, "Total  0/2 done  [##........]   26%");
	assert_contains(out, "\033[2A\r\033[J");
	assert_contains(out, " alice@example.org Synced: 2,345 items, 12.3 MB, 0 skipped in 0.5 s");
	assert_contains(out, "Total  1/2 done  [#####.....]   50%  2,345/2,345 items  12.3 MB");
	assert_contains(out, " batch b Synced: 1 Synced");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_good, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_new_csv_refused, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_new_refusals, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_start_wait, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_c_stops, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_list_show_report, setup, cli_fx_teardown),
		cmocka_unit_test(test_cmdlet_translation),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_progress_live),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
