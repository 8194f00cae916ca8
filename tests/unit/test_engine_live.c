/* test_engine_live: run a migration batch with the real drivers against a
 * real IMAP server (engine_batch_run with the default opener), for the
 * end-to-end tests, which start the server, load the source and check the
 * result with an independent client.
 *
 * Without MF_TEST_IMAP_PORT it prints "skipped: ..." and succeeds, so ctest
 * can run it like any unit test. Environment:
 *   MF_TEST_IMAP_HOST        default 127.0.0.1
 *   MF_TEST_IMAP_PORT        plain IMAP port (security none)
 *   MF_TEST_IMAP_ADMIN_USER, MF_TEST_IMAP_ADMIN_PASS  the endpoint's admin
 *   MF_TEST_IMAP_IMPERSONATION  sasl (default) | master-user
 *   MF_TEST_ENGINE_USERS     "login:password[:target_login[:target_password]]"
 *                            separated by ','; an empty password means
 *                            impersonation; the address is login@example.test
 *   MF_TEST_ENGINE_TARGET    "local" (default) or "imap" (the same server,
 *                            as each user's target_login)
 *   MF_TEST_ENGINE_DATA_DIR  the data directory (kept); default: a temporary
 *                            one, removed (the local store is
 *                            <data_dir>/mailstore/<address>)
 *   MF_TEST_ENGINE_RUNS      how many times to run the batch (default 1; the
 *                            later runs resync)
 *   MF_TEST_IMAP_TRACE       set: protocol trace on stderr
 * Prints "user ADDRESS STATUS synced N skipped M total T bytes B error E"
 * per user, "batch STATUS", and "peak_rss_kb N". Exit 1 when the run
 * fails.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "engine/engine.h"
#include "store/store-batch.h"
#include "store/store.h"
#include "util/xmalloc.h"

#define LIVE_MAX_USERS 16

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static int endpoint_add(struct store *st, const char *name, struct mf_error *err)
{
	struct store_endpoint ep = {0};
	const char *admin = env("MF_TEST_IMAP_ADMIN_USER", NULL);
	int rc = 0;

	ep.name = xstrdup(name);
	ep.type = xstrdup("imap");
	ep.server = xstrdup(env("MF_TEST_IMAP_HOST", "127.0.0.1"));
	ep.port = (int)strtol(env("MF_TEST_IMAP_PORT", "0"), NULL, 10);
	ep.security = xstrdup("none");
	ep.auth = xstrdup("plain");
	ep.impersonation = xstrdup(env("MF_TEST_IMAP_IMPERSONATION", "sasl"));
	ep.master_separator = xstrdup("*");
	ep.max_concurrent_migrations = 4;
	ep.max_concurrent_incremental_syncs = 4;
	if (admin != NULL) {
		ep.admin_user = xstrdup(admin);
		rc = store_secret_seal(st, env("MF_TEST_IMAP_ADMIN_PASS", ""), &ep.admin_secret,
				       err);
	}
	if (rc == 0)
		rc = store_endpoint_insert(st, &ep, err);
	store_endpoint_clear(&ep);
	return rc;
}

int main(void)
{
	char *spec, *save = NULL, *tok, *data_dir, tmpl[] = "/tmp/mf-engine-live-XXXXXX";
	struct store_user_new us[LIVE_MAX_USERS];
	char *addrs[LIVE_MAX_USERS];
	struct engine_opts o = {0};
	struct store_batch b = {0};
	struct store_user *list = NULL;
	struct mf_error err = {0};
	struct store *st = NULL;
	struct rusage ru;
	bool imap_target = strcmp(env("MF_TEST_ENGINE_TARGET", "local"), "imap") == 0;
	size_t n = 0, count = 0;
	int runs = (int)strtol(env("MF_TEST_ENGINE_RUNS", "1"), NULL, 10), rc;

	if (env("MF_TEST_IMAP_PORT", NULL) == NULL) {
		printf("skipped: MF_TEST_IMAP_PORT is not set\n");
		return 0;
	}
	data_dir = env("MF_TEST_ENGINE_DATA_DIR", NULL) != NULL
		       ? xstrdup(env("MF_TEST_ENGINE_DATA_DIR", NULL))
		       : xstrdup(mkdtemp(tmpl));
	rc = store_open(data_dir, NULL, &st, &err);
	if (rc == 0)
		rc = endpoint_add(st, "live", &err);
	if (rc == 0) {
		b.name = xstrdup("Live");
		b.source_endpoint = xstrdup("live");
		b.target_endpoint = imap_target ? xstrdup("live") : NULL;
		b.opt.bad_item_limit = b.opt.large_item_limit = STORE_LIMIT_UNLIMITED;
		rc = store_batch_create(st, &b, &err);
	}
	memset(us, 0, sizeof(us));
	spec = xstrdup(env("MF_TEST_ENGINE_USERS", "alice:alicepw"));
	for (tok = strtok_r(spec, ",", &save); tok != NULL && n < LIVE_MAX_USERS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *f[4] = {tok, NULL, NULL, NULL};

		for (int i = 1; i < 4; i++) {
			char *c = f[i - 1] != NULL ? strchr(f[i - 1], ':') : NULL;

			if (c != NULL) {
				*c = '\0';
				f[i] = c + 1;
			}
		}
		addrs[n] = xasprintf("%s@example.test", f[0]);
		us[n].email_address = addrs[n];
		us[n].user_name = f[0];
		us[n].password = f[1];
		us[n].target_user_name = f[2];
		us[n].target_password = f[3];
		n++;
	}
	if (rc == 0)
		rc = store_user_add_many(st, b.id, us, n, &err);
	o.trace = env("MF_TEST_IMAP_TRACE", NULL) != NULL ? stderr : NULL;
	o.backoff_base_ms = 100;
	o.max_attempts = 2;
	o.reconnect_delay_ms = 100;
	for (int r = 0; rc == 0 && r < (runs > 0 ? runs : 1); r++) {
		o.resync = r > 0;
		rc = engine_batch_run(st, data_dir, "Live", &o, &err);
	}
	if (rc == 0)
		rc = store_user_list(st, b.id, &list, &count, &err);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		const struct store_user_stats *s = &list[i].stats;

		printf("user %s %s synced %lld skipped %lld total %lld bytes %lld error %s\n",
		       list[i].email_address, store_user_status_name(list[i].status),
		       (long long)s->synced_items, (long long)s->skipped_items,
		       (long long)s->total_items, (long long)s->bytes_transferred,
		       s->last_error != NULL ? s->last_error : "-");
	}
	store_user_list_free(&list, count);
	store_batch_clear(&b);
	if (rc == 0 && store_batch_get(st, "Live", &b, &err) == 0)
		printf("batch %s\n", store_batch_status_name(b.status));
	getrusage(RUSAGE_SELF, &ru);
	printf("peak_rss_kb %ld\n", ru.ru_maxrss);
	if (rc != 0)
		fprintf(stderr, "test_engine_live: %s\n", err.msg);
	store_batch_clear(&b);
	store_close(&st);
	for (size_t i = 0; i < n; i++)
		free(addrs[i]);
	free(spec);
	if (env("MF_TEST_ENGINE_DATA_DIR", NULL) == NULL)
		nftw(data_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(data_dir);
	return rc == 0 ? 0 : 1;
}
