/* Unit tests for engine_batch_remove(): refused while another process
 * holds the batch's run lock or the batch is in a running status, done
 * under the lock otherwise (the batch, its users and skipped items gone),
 * finishing a removal left half done (Removing), and racing a running
 * batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>

#include "test_engine_fake.h"

#define T2024 1710000000

static int64_t batch_id(struct fx *f, const char *name)
{
	struct store_batch b = {0};
	struct mf_error err = {0};
	int64_t id;

	if (store_batch_get(f->st, name, &b, &err) != 0)
		fail_msg("batch get: %s", err.msg);
	id = b.id;
	store_batch_clear(&b);
	return id;
}

static bool batch_exists(struct fx *f, const char *name)
{
	struct store_batch b = {0};
	struct mf_error err = {0};
	int rc = store_batch_get(f->st, name, &b, &err);

	store_batch_clear(&b);
	if (rc != 0 && rc != MF_ENOTFOUND)
		fail_msg("batch get: %s", err.msg);
	return rc == 0;
}

/* Take the batch's run lock through a descriptor of our own, as another
 * process running it would. */
static int lock_as_other(struct fx *f, int64_t id)
{
	char *dir = xasprintf("%s/run", f->data_dir);
	char *path = xasprintf("%s/batch-%lld.lock", dir, (long long)id);
	int fd;

	mkdir(dir, 0700);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	free(dir);
	free(path);
	return fd;
}

static void test_remove_lock_held(void **state)
{
	struct fx *f = fx_new(4);
	const char *logins[] = {"al", "bo", NULL};
	struct mf_error err = {0};
	struct store_user u;
	int64_t id;
	int fd;

	(void)state;
	fx_batch(f, "B", NULL, logins);
	id = batch_id(f, "B");
	fd = lock_as_other(f, id);
	assert_int_equal(engine_batch_remove(f->st, f->data_dir, "B", &err), MF_EBUSY);
	assert_string_equal(err.msg, "batch B is running; stop it first");
	/* Untouched: neither removed nor marked Removing. */
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_CREATED);

	close(fd);
	mf_error_clear(&err);
	assert_int_equal(engine_batch_remove(f->st, f->data_dir, "B", &err), 0);
	assert_false(batch_exists(f, "B"));
	assert_int_equal(store_user_get(f->st, "al@example.org", &u, &err), MF_ENOTFOUND);
	/* Gone for a start as well; and removing again finds nothing. */
	assert_int_equal(engine_batch_run(f->st, f->data_dir, "B", &f->o, &err), MF_ENOTFOUND);
	assert_int_equal(engine_batch_remove(f->st, f->data_dir, "B", &err), MF_ENOTFOUND);
	fx_free(f);
}

static void test_remove_running_status(void **state)
{
	static const enum store_batch_status running[] = {
	    STORE_BATCH_SYNCING,
	    STORE_BATCH_STOPPING,
	    STORE_BATCH_INCREMENTAL_SYNCING,
	    STORE_BATCH_COMPLETING,
	};
	struct fx *f = fx_new(4);
	const char *logins[] = {"cy", NULL};
	struct mf_error err = {0};
	int64_t id;

	(void)state;
	fx_batch(f, "B", NULL, logins);
	id = batch_id(f, "B");
	/* As `batch start` without --wait leaves it for serve: no lock held. */
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		char *want = xasprintf("batch B is running (%s); stop it first",
				       store_batch_status_name(running[i]));

		assert_int_equal(store_batch_set_status(f->st, id, running[i], NULL, &err), 0);
		assert_int_equal(engine_batch_remove(f->st, f->data_dir, "B", &err), MF_EBUSY);
		assert_string_equal(err.msg, want);
		assert_int_equal(fx_batch_status(f, "B"), running[i]);
		free(want);
	}
	/* A removal that died half way (Removing) is finished. */
	assert_int_equal(store_batch_set_status(f->st, id, STORE_BATCH_REMOVING, NULL, &err), 0);
	assert_int_equal(engine_batch_remove(f->st, f->data_dir, "B", &err), 0);
	assert_false(batch_exists(f, "B"));
	fx_free(f);
}

struct runner {
	struct fx *f;
	int rc;
	struct mf_error err;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	struct store *st = NULL;

	r->rc = store_open(r->f->data_dir, NULL, &st, &r->err);
	if (r->rc == 0)
		r->rc = engine_batch_run(st, r->f->data_dir, "B", &r->f->o, &r->err);
	store_close(&st);
	return NULL;
}

static void test_remove_races_run(void **state)
{
	static struct fake_msg msgs[40];
	static char bodies[40][48];
	struct fx *f = fx_new(4);
	struct fake_folder fo[1] = {{"INBOX", MBX_ROLE_INBOX, true, false, msgs, 40}};
	struct fake_account a = {.login = "di", .folders = fo, .nfolders = 1, .slow_ms = 10};
	struct fake_account *accts[] = {&a, NULL};
	const char *logins[] = {"di", NULL};
	struct runner r = {f, 0, {0}};
	struct mf_error err = {0};
	pthread_t th;

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(bodies[i], sizeof(bodies[i]), "Subject: %d\r\n\r\n%d\r\n", i, i);
		msgs[i] = (struct fake_msg){(uint32_t)(i + 1), bodies[i], 0, 0, {NULL}, T2024};
	}
	f->world.accounts = accts;
	fx_batch(f, "B", NULL, logins);
	assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
	for (int waited = 0; atomic_load(&a.delivered) < 3 && waited < 10000; waited++)
		usleep(1000);
	assert_int_equal(engine_batch_remove(f->st, f->data_dir, "B", &err), MF_EBUSY);
	assert_true(batch_exists(f, "B"));
	assert_int_equal(engine_batch_request_stop(f->st, f->data_dir, "B", &err), 0);
	pthread_join(th, NULL);
	if (r.rc != 0)
		fail_msg("run: %s", r.err.msg);
	assert_int_equal(fx_batch_status(f, "B"), STORE_BATCH_STOPPED);
	/* Stopped, it goes. */
	assert_int_equal(engine_batch_remove(f->st, f->data_dir, "B", &err), 0);
	assert_false(batch_exists(f, "B"));
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_remove_lock_held),
	    cmocka_unit_test(test_remove_running_status),
	    cmocka_unit_test(test_remove_races_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
