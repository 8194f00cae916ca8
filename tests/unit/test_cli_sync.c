/* Unit tests for the CLI of issue 4 (src/cli): `batch set`, `batch start`
 * without --wait (queued for serve), `batch complete [--wait]`, `mailferry
 * serve --once` and SIGTERM to `serve`, the tuning options, the new
 * statuses in the output, and the cmdlets Set-, Start- and
 * Complete-MigrationBatch. The commands run
 * in-process against a temporary data directory; the engine's fake world
 * (test_engine_fake.h) stands in for the servers. (The duration and time
 * values are tested in test_cli_args.c.) */
#include <signal.h>

#include <jansson.h>
#include <pthread.h>

#define CLI_TEST_FAKE_WORLD
#include "test_cli_common.h"

/* `batch show NAME --json`, parsed (the caller decrefs). */
static json_t *show(const char *name)
{
	struct run r = run_cli(NULL, "batch", "show", name, "--json", NULL);
	json_t *j;

	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	run_free(&r);
	return j;
}

static const char *jstr(const json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	if (s == NULL)
		fail_msg("no string %s", key);
	return s;
}

static long long jint(const json_t *j, const char *key)
{
	return (long long)json_integer_value(json_object_get(j, key));
}

static void expect_batch(const char *name, const char *status)
{
	json_t *j = show(name);

	if (strcmp(jstr(j, "Status"), status) != 0)
		fail_msg("batch %s is %s, not %s", name, jstr(j, "Status"), status);
	json_decref(j);
}

static void expect_user(const char *email, const char *status)
{
	struct run r = run_cli(NULL, "user", "show", email, "--json", NULL);
	json_t *j;

	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	if (strcmp(jstr(j, "Status"), status) != 0)
		fail_msg("%s is %s, not %s: %s", email, jstr(j, "Status"), status, r.out);
	json_decref(j);
	run_free(&r);
}

static char *csv_of(const char *name, const char *const *logins)
{
	char *path = xasprintf("%s/%s", F->dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("EmailAddress,UserName,Password\n", f);
	for (size_t i = 0; logins[i] != NULL; i++)
		fprintf(f, "%s@example.org,%s,secret\n", logins[i], logins[i]);
	fclose(f);
	return path;
}

static void new_batch(const char *name, const char *const *logins, ...)
{
	char *csv = csv_of("u.csv", logins);
	char *argv[16] = { "batch", "new", (char *)name, "--source", "src", "--csv", csv };
	int argc = 7;
	va_list ap;
	struct run r;

	va_start(ap, logins);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 15;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	r = run_cli_words(NULL, argv);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	free(csv);
}

#define NMSG 40
static struct fake_msg msgs[NMSG];
static char bodies[NMSG][64];

static void mailbox(void)
{
	for (int i = 0; i < NMSG; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "Subject: m%d\r\n\r\nbody %d\r\n", i, i);
		msgs[i] = (struct fake_msg){ (uint32_t)(i + 1), bodies[i], 0, 0, { NULL },
					     1710000000 + i };
	}
}

static int setup(void **state)
{
	(void)state;
	cli_fx_setup();
	mailbox();
	return 0;
}

/* ---- parsing ------------------------------------------------------------------------ */

static void test_parse_and_cmdlets(void **state)
{
	struct engine_opts eo = { 0 };
	struct cli_opts o;
	struct mf_error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "batch", "new", "b", "--source", "s", "--csv", "c",
			       "--incremental-interval", "2h", "--sync-deletes", "--auto-complete",
			       "--start-after", "2030-01-01", "--complete-after=now"), 0);
	assert_int_equal(o.b.incremental_interval, 7200);
	assert_int_equal(o.b.sync_deletes, CLI_TRI_ON);
	assert_int_equal(o.b.auto_complete, CLI_TRI_ON);
	assert_int_equal(o.b.start_after, 1893456000);
	assert_true(o.b.complete_after > 1700000000);
	cli_opts_free(&o);
	/* none only for set */
	assert_int_equal(PARSE(&o, &err, "batch", "new", "b", "--source", "s", "--csv", "c",
			       "--start-after", "none"), CLI_EXIT_USAGE);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "batch", "set", "b", "--no-sync-deletes",
			       "--complete-after", "none", "--bad-item-limit", "0"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_SET);
	assert_int_equal(o.b.sync_deletes, CLI_TRI_OFF);
	assert_int_equal(o.b.complete_after, -1);
	assert_true(o.b.bad_item_limit_given);
	assert_false(o.b.large_item_limit_given);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "batch", "set", "b"), CLI_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "batch set needs an option to change"));
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "batch", "set", "b", "--csv", "x"), CLI_EXIT_USAGE);
	assert_string_equal(err.msg, "option '--csv' is not used by 'batch set'");
	cli_opts_free(&o);

	assert_int_equal(PARSE(&o, &err, "batch", "complete", "b", "--wait", "--io-timeout",
			       "500ms", "--reconnects", "0", "--retry-max", "2s",
			       "--throttle-budget", "7"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_COMPLETE);
	assert_true(o.b.wait);
	cli_engine_tuning(&o, &eo);
	assert_int_equal(eo.io_timeout_ms, 500);
	assert_int_equal(eo.reconnect_budget, -1);
	assert_int_equal(eo.retry_max_ms, 2000);
	assert_int_equal(eo.throttle_budget, 7);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "batch", "start", "b", "--io-timeout", "5"),
			 CLI_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "add --wait"));
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "batch", "new", "b", "--source", "s", "--csv", "c",
			       "--reconnects", "3"), CLI_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "--auto-start"));
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "serve", "--once", "--tick", "50ms", "--reconnects",
			       "2"), 0);
	assert_int_equal(o.cmd, CLI_CMD_SERVE);
	assert_true(o.b.once);
	assert_int_equal(o.b.tick_ms, 50);
	assert_int_equal(o.tune.reconnects, 2);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "serve", "now"), CLI_EXIT_USAGE);
	assert_string_equal(err.msg, "unexpected argument 'now'");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "serve", "--wait"), CLI_EXIT_USAGE);
	cli_opts_free(&o);

	/* cmdlets */
	assert_int_equal(PARSE(&o, &err, "Start-MigrationBatch", "b"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_START);
	assert_false(o.b.wait);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "complete-migrationbatch", "-Identity", "b", "-Wait"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_COMPLETE);
	assert_string_equal(o.name, "b");
	assert_true(o.b.wait);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Set-MigrationBatch", "b", "-BadItemLimit", "3",
			       "-LargeItemLimit:Unlimited", "-CompleteAfter",
			       "2030-01-01T00:00:00Z", "-StartAfter", "none",
			       "-AutoComplete:$false", "--incremental-interval", "1d"), 0);
	assert_int_equal(o.cmd, CLI_CMD_BATCH_SET);
	assert_int_equal(o.b.bad_item_limit, 3);
	assert_int_equal(o.b.large_item_limit, -1);
	assert_int_equal(o.b.complete_after, 1893456000);
	assert_int_equal(o.b.start_after, -1);
	assert_int_equal(o.b.auto_complete, CLI_TRI_OFF);
	assert_int_equal(o.b.incremental_interval, 86400);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "New-MigrationBatch", "-Name", "b", "-SourceEndpoint",
			       "s", "-CSVData", "c", "-AutoComplete", "-CompleteAfter", "now"), 0);
	assert_int_equal(o.b.auto_complete, CLI_TRI_ON);
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Set-MigrationBatch", "b", "-SourceEndpoint", "x"),
			 CLI_EXIT_USAGE);
	assert_string_equal(err.msg, "A parameter cannot be found that matches parameter name "
				     "'SourceEndpoint'.");
	cli_opts_free(&o);
	assert_int_equal(PARSE(&o, &err, "Set-MigrationBatch", "b", "-CompleteAfter", "soon"),
			 CLI_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "--complete-after: 'soon' is not a time"));
	cli_opts_free(&o);
}

/* ---- batch set ------------------------------------------------------------------------ */

static void test_batch_set(void **state)
{
	static const char *const logins[] = { "ann", NULL };
	struct fake_folder fo[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 3 } };
	struct fake_account ann = { .login = "ann", .folders = fo, .nfolders = 1 };
	struct fake_account *accts[] = { &ann, NULL };
	struct store_user u;
	struct run r;
	json_t *j;

	(void)state;
	F->world.accounts = accts;
	new_batch("b1", logins, "--incremental-interval", "30m", "--sync-deletes", NULL);
	j = show("b1");
	assert_int_equal(jint(j, "IncrementalSyncInterval"), 1800);
	assert_true(json_is_true(json_object_get(j, "SyncDeletes")));
	assert_true(json_is_false(json_object_get(j, "AutoComplete")));
	assert_true(json_is_null(json_object_get(j, "CompleteAfter")));
	json_decref(j);

	r = run_cli(NULL, "batch", "set", "b1", "--no-sync-deletes", "--auto-complete",
		    "--complete-after", "2030-01-01", "--bad-item-limit", "unlimited",
		    "--large-item-limit", "4", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Name                    : b1\n");
	assert_contains(r.out, "IncrementalSyncInterval : 30m (1,800 s)\n");
	assert_contains(r.out, "CompleteAfter           : 2030-01-01T00:00:00Z\n");
	assert_contains(r.out, "BadItemLimit            : Unlimited\n");
	assert_contains(r.out, "SyncDeletes             : False\n");
	assert_contains(r.out, "AutoComplete            : True\n");
	run_free(&r);
	j = show("b1");
	assert_string_equal(jstr(j, "Status"), "Created");
	assert_int_equal(jint(j, "LargeItemLimit"), 4);
	assert_int_equal(jint(j, "IncrementalSyncInterval"), 1800); /* not given: kept */
	{
		char *events = json_dumps(json_object_get(j, "Events"), 0);

		assert_contains(events, "batch set, --no-sync-deletes, --auto-complete, "
					"--complete-after 2030-01-01T00:00:00Z");
		free(events);
	}
	json_decref(j);

	/* Set-MigrationBatch removes the schedule; the interval moves the next sync */
	r = run_cli(NULL, "batch", "start", "b1", "--wait", NULL);
	EXPECT_RC(r, 0, NULL); /* --auto-complete: Completed */
	run_free(&r);
	r = run_cli(NULL, "Set-MigrationBatch", "b1", "-CompleteAfter", "none",
		    "-AutoComplete:$false", "--incremental-interval", "2h", "-Json", NULL);
	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_true(json_is_null(json_object_get(j, "CompleteAfter")));
	assert_int_equal(jint(j, "IncrementalSyncInterval"), 7200);
	json_decref(j);
	run_free(&r);

	/* a Synced user gets its next incremental sync at now + the interval */
	new_batch("b2", (const char *const[]){ "bo", NULL }, NULL);
	{
		struct fake_account bo = { .login = "bo", .folders = fo, .nfolders = 1 };
		struct fake_account *two[] = { &bo, NULL };

		F->world.accounts = two;
		r = run_cli(NULL, "batch", "start", "b2", "--wait", NULL);
		EXPECT_RC(r, 0, NULL);
		run_free(&r);
		r = run_cli(NULL, "batch", "set", "b2", "--incremental-interval", "1h", NULL);
		EXPECT_RC(r, 0, NULL);
		run_free(&r);
		fx_user(F, "bo", &u);
		assert_int_equal(u.status, STORE_USER_SYNCED);
		assert_true(llabs(u.stats.next_attempt_at - (time(NULL) + 3600)) <= 2);
		store_user_clear(&u);
		r = run_cli(NULL, "user", "show", "bo@example.org", NULL);
		assert_contains(r.out, "NextAttemptTime                : 20");
		run_free(&r);
	}

	r = run_cli(NULL, "batch", "set", "nope", "--sync-deletes", NULL);
	EXPECT_RC(r, 3, "no batch named 'nope'");
	run_free(&r);
}

/* ---- start without --wait, serve --once ----------------------------------------------- */

static void test_start_queues_for_serve(void **state)
{
	static const char *const logins[] = { "ann", "ben", NULL };
	struct fake_folder fa[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 5 } };
	struct fake_folder fb[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 7 } };
	struct fake_account ann = { .login = "ann", .folders = fa, .nfolders = 1 };
	struct fake_account ben = { .login = "ben", .folders = fb, .nfolders = 1 };
	struct fake_account *accts[] = { &ann, &ben, NULL };
	struct got_folder g;
	struct run r;
	json_t *j;

	(void)state;
	F->world.accounts = accts;
	new_batch("q", logins, NULL);
	r = run_cli(NULL, "batch", "start", "q", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Batch 'q' is Syncing: queued for 'mailferry serve' (2 Queued).\n");
	assert_contains(r.out, "'mailferry serve' must be running");
	run_free(&r);
	j = show("q");
	assert_string_equal(jstr(j, "Status"), "Syncing");
	assert_int_equal(jint(j, "QueuedCount"), 2);
	json_decref(j);
	assert_int_equal(atomic_load(&ann.opens), 0); /* nothing ran */

	/* a queued batch cannot be completed yet */
	r = run_cli(NULL, "batch", "complete", "q", NULL);
	EXPECT_RC(r, 4, "batch q is Syncing");
	run_free(&r);

	r = run_cli(NULL, "serve", "--once", "--tick", "20ms", NULL);
	EXPECT_RC(r, 0, "serve: scheduler started on ");
	assert_contains(r.err, "the web admin center and REST API come later");
	assert_contains(r.err, "Z q: ann@example.org started\n");
	assert_contains(r.err, "Z q: ben@example.org Synced: 7 items, ");
	assert_contains(r.err, "Z batch q Synced: 2 Synced\n");
	assert_contains(r.err, "nothing runs and nothing is due (--once): done");
	assert_string_equal(r.out, "");
	run_free(&r);
	expect_batch("q", "Synced");
	got_read(F, "ben", "INBOX", &g);
	assert_int_equal(g.count, 7);
	got_free(&g);

	/* Start-MigrationBatch on a synced batch queues an incremental sync */
	fa[0].count = 9;
	r = run_cli(NULL, "Start-MigrationBatch", "q", "-Json", NULL);
	EXPECT_RC(r, 0, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_string_equal(jstr(j, "Status"), "IncrementalSyncing");
	json_decref(j);
	run_free(&r);
	r = run_cli(NULL, "serve", "--once", "--tick", "20ms", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	expect_batch("q", "Synced");
	got_read(F, "ann", "INBOX", &g);
	assert_int_equal(g.count, 9);
	got_free(&g);

	r = run_cli(NULL, "batch", "start", "none-such", NULL);
	EXPECT_RC(r, 3, "no batch named 'none-such'");
	run_free(&r);
}

/* ---- complete ------------------------------------------------------------------------------ */

static void test_complete(void **state)
{
	static const char *const logins[] = { "ann", "ben", NULL };
	struct fake_folder fa[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 5 } };
	struct fake_account ann = { .login = "ann", .folders = fa, .nfolders = 1 };
	struct fake_account ben = { .login = "ben", .open_rc = MF_EAUTH,
				    .open_msg = "LOGIN rejected: [AUTHENTICATIONFAILED] nope" };
	struct fake_account *accts[] = { &ann, &ben, NULL };
	struct got_folder g;
	struct run r;
	json_t *j;

	(void)state;
	F->world.accounts = accts;

	/* Created: not synced yet */
	new_batch("c1", (const char *const[]){ "ann", NULL }, NULL);
	r = run_cli(NULL, "batch", "complete", "c1", "--wait", NULL);
	EXPECT_RC(r, 4, "batch c1 is Created: only a synced batch can be completed");
	run_free(&r);

	r = run_cli(NULL, "batch", "start", "c1", "--wait", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	fa[0].count = 8; /* mail arrived before the cut-over */
	r = run_cli(NULL, "batch", "complete", "c1", "--wait", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Z batch c1 completion started: 1 of 1 users to sync\n");
	assert_contains(r.out, "Z ann@example.org Completed: 8 items, ");
	assert_contains(r.out, "Z batch c1 Completed: 1 Completed\n");
	run_free(&r);
	expect_batch("c1", "Completed");
	expect_user("ann@example.org", "Completed");
	got_read(F, "ann", "INBOX", &g);
	assert_int_equal(g.count, 8);
	got_free(&g);
	j = show("c1");
	assert_int_equal(jint(j, "CompletedCount"), 1);
	assert_false(json_is_null(json_object_get(j, "CompletedAt")));
	json_decref(j);
	r = run_cli(NULL, "batch", "list", NULL);
	assert_contains(r.out, "Name  Status     Source  Target  Users  Synced  Completed  Failed"
			       "  Created\n");
	assert_contains(r.out, "c1    Completed  src     local   1      0       1          0     ");
	run_free(&r);
	/* nothing more to complete; a completed batch does not start again */
	r = run_cli(NULL, "Complete-MigrationBatch", "c1", "-Wait", NULL);
	EXPECT_RC(r, 4, "batch c1 is Completed");
	run_free(&r);
	r = run_cli(NULL, "batch", "start", "c1", "--wait", NULL);
	EXPECT_RC(r, 4, "batch c1 is Completed");
	run_free(&r);
	r = run_cli(NULL, "batch", "remove", "c1", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);

	/* with a failed user: CompletedWithErrors, exit 1; --json: the report */
	new_batch("c2", logins, NULL);
	r = run_cli(NULL, "batch", "start", "c2", "--wait", NULL);
	EXPECT_RC(r, 1, NULL);
	run_free(&r);
	expect_batch("c2", "SyncedWithErrors");
	r = run_cli(NULL, "batch", "complete", "c2", "--wait", "--json", NULL);
	EXPECT_RC(r, 1, NULL);
	j = json_loads(r.out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(jstr(j, "Status"), "CompletedWithErrors");
	json_decref(j);
	run_free(&r);
	expect_user("ann@example.org", "Completed");
	expect_user("ben@example.org", "Failed");

	/* without --wait: queued (Completing), carried out by serve */
	r = run_cli(NULL, "batch", "remove", "c2", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	new_batch("c3", (const char *const[]){ "ann", NULL }, NULL);
	r = run_cli(NULL, "batch", "start", "c3", "--wait", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	r = run_cli(NULL, "Complete-MigrationBatch", "-Identity", "c3", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Batch 'c3' is Completing: queued for 'mailferry serve'");
	assert_contains(r.out, "follow it with 'mailferry Get-MigrationBatch c3'");
	run_free(&r);
	r = run_cli(NULL, "batch", "remove", "c3", NULL);
	EXPECT_RC(r, 4, "batch c3 is running (Completing); stop it first: mailferry batch stop c3");
	run_free(&r);
	r = run_cli(NULL, "serve", "--once", "--tick", "20ms", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.err, "Z c3: ann@example.org Completed: ");
	run_free(&r);
	expect_batch("c3", "Completed");
}

static void test_auto_complete(void **state)
{
	struct fake_folder fa[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 4 } };
	struct fake_account ann = { .login = "ann", .folders = fa, .nfolders = 1 };
	struct fake_account *accts[] = { &ann, NULL };
	char *csv = csv_of("a.csv", (const char *const[]){ "ann", NULL });
	struct run r;

	(void)state;
	F->world.accounts = accts;
	r = run_cli(NULL, "batch", "new", "ac", "--source", "src", "--csv", csv, "--auto-complete",
		    "--auto-start", "--reconnects", "2", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "AutoComplete            : True\n");
	assert_contains(r.out, "Z batch ac Completed: 1 Completed\n");
	run_free(&r);
	expect_batch("ac", "Completed");
	expect_user("ann@example.org", "Completed");
	free(csv);
}

/* A synced batch started again gets an incremental sync. */
static void test_start_wait_incremental(void **state)
{
	struct fake_folder fa[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, 4 } };
	struct fake_account ann = { .login = "ann", .folders = fa, .nfolders = 1 };
	struct fake_account *accts[] = { &ann, NULL };
	struct got_folder g;
	struct run r;

	(void)state;
	F->world.accounts = accts;
	new_batch("inc", (const char *const[]){ "ann", NULL }, NULL);
	r = run_cli(NULL, "batch", "start", "inc", "--wait", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	fa[0].count = 6;
	r = run_cli(NULL, "batch", "start", "inc", "--wait", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "Z batch inc incremental sync started: 1 of 1 users to sync\n");
	assert_contains(r.out, "Z ann@example.org Synced: 6 items, ");
	run_free(&r);
	got_read(F, "ann", "INBOX", &g);
	assert_int_equal(g.count, 6);
	got_free(&g);
}

/* ---- SIGTERM to serve ------------------------------------------------------------------- */

struct killer {
	struct fake_account *a;
	int after;
};

static void *sigterm_after(void *arg)
{
	struct killer *k = arg;

	while (atomic_load(&k->a->delivered) < k->after)
		usleep(2000);
	kill(getpid(), SIGTERM);
	return NULL;
}

static void test_serve_sigterm(void **state)
{
	struct fake_folder fa[1] = { { "INBOX", MBX_ROLE_INBOX, true, false, msgs, NMSG } };
	struct fake_account ann = { .login = "ann", .folders = fa, .nfolders = 1, .slow_ms = 20 };
	struct fake_account *accts[] = { &ann, NULL };
	struct killer k = { &ann, 6 };
	struct got_folder g;
	pthread_t th;
	struct run r;

	(void)state;
	F->world.accounts = accts;
	new_batch("st", (const char *const[]){ "ann", NULL }, NULL);
	r = run_cli(NULL, "batch", "start", "st", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	assert_int_equal(pthread_create(&th, NULL, sigterm_after, &k), 0);
	r = run_cli(NULL, "serve", "--tick", "50ms", NULL);
	pthread_join(th, NULL);
	EXPECT_RC(r, 0, "serve: stopping: nothing new starts");
	assert_contains(r.err, "serve: stopped\n");
	assert_contains(r.err, "Z st: ann@example.org Queued: "); /* put back, no time */
	assert_null(strstr(r.err, "1970"));
	run_free(&r);
	/* put back for the next serve; the batch as it was */
	expect_user("ann@example.org", "Queued");
	expect_batch("st", "Syncing");
	got_read(F, "ann", "INBOX", &g);
	assert_true(g.count >= 6 && g.count < NMSG);
	got_free(&g);

	ann.slow_ms = 0;
	r = run_cli(NULL, "serve", "--once", "--tick", "20ms", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	expect_user("ann@example.org", "Synced");
	got_read(F, "ann", "INBOX", &g);
	assert_int_equal(g.count, NMSG);
	for (int i = 0; i < NMSG; i++)
		assert_non_null(got_find(&g, bodies[i]));
	got_free(&g);
}

static void test_help(void **state)
{
	struct run r;

	(void)state;
	r = run_cli(NULL, "serve", "--help", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "usage: mailferry serve [--once]");
	assert_contains(r.out, "the web\nadmin center and the REST API come later");
	run_free(&r);
	r = run_cli(NULL, "batch", "complete", "--help", NULL);
	EXPECT_RC(r, 0, NULL);
	assert_contains(r.out, "--wait");
	run_free(&r);
	r = run_cli(NULL, "batch", "new", "--help", NULL);
	assert_contains(r.out, "--incremental-interval");
	assert_contains(r.out, "--sync-deletes");
	assert_contains(r.out, "--auto-complete");
	run_free(&r);
	r = run_cli(NULL, "help", "Set-MigrationBatch", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
	r = run_cli(NULL, "help", "Complete-MigrationBatch", NULL);
	EXPECT_RC(r, 0, NULL);
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_cmdlets),
		cmocka_unit_test_setup_teardown(test_batch_set, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_start_queues_for_serve, setup,
						cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_complete, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_auto_complete, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_start_wait_incremental, setup,
						cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_serve_sigterm, setup, cli_fx_teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, cli_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
