/* test_driver_imap_live: copy one IMAP account into another through the IMAP
 * driver on both sides (fetch sink -> append), against a real server. Run
 * by tests/e2e/test_driver_imap.py, which starts Dovecot, loads the source,
 * and compares both accounts with imaplib afterwards.
 *
 * Without MF_TEST_IMAP_PORT it prints "skipped: ..." and succeeds, so ctest
 * can run it like any unit test. Environment:
 *   MF_TEST_IMAP_HOST       default 127.0.0.1
 *   MF_TEST_IMAP_PORT       plain IMAP port (no TLS)
 *   MF_TEST_IMAP_SRC_USER, MF_TEST_IMAP_SRC_PASS   the source account
 *   MF_TEST_IMAP_DST_USER, MF_TEST_IMAP_DST_PASS   the target account; when
 *     DST_PASS is unset, MF_TEST_IMAP_ADMIN_USER / MF_TEST_IMAP_ADMIN_PASS
 *     impersonate DST_USER (MF_TEST_IMAP_IMPERSONATION sasl | master-user)
 *   MF_TEST_IMAP_TRACE      set: protocol trace on stderr
 * Prints one line per folder ("folder NAME messages N"), then
 * "copied N failed M bytes B" and "peak_rss_kb N" (getrusage). Exit 1 on
 * any failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "drivers/imap-driver.h"
#include "util/xmalloc.h"

struct uids {
	uint32_t *v;
	size_t n, cap;
};

struct copy {
	struct mbx *dst;
	const char *folder;          /* target folder of the current fetch */
	struct mbx_append *ap;
	uint64_t copied, failed, bytes;
};

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : def;
}

static int collect(void *ctx, const struct mbx_msg_info *info)
{
	struct uids *u = ctx;

	if (u->n == u->cap) {
		u->cap = u->cap == 0 ? 64 : 2 * u->cap;
		u->v = xreallocarray(u->v, u->cap, sizeof(*u->v));
	}
	u->v[u->n++] = info->uid;
	return 0;
}

static int sink_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct copy *c = ctx;

	c->bytes += info->size;
	return c->dst->drv->append_begin(c->dst, c->folder, info, info->uid, &c->ap, err);
}

static int sink_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct copy *c = ctx;

	return c->dst->drv->append_data(c->ap, data, len, err);
}

static int sink_end(void *ctx, struct mf_error *err)
{
	struct copy *c = ctx;
	int rc = c->dst->drv->append_end(c->ap, err);

	c->ap = NULL;
	return rc;
}

static void on_done(void *ctx, uint64_t token, int rc, const struct mbx_appended *out,
		    const struct mf_error *err)
{
	struct copy *c = ctx;

	(void)out;
	if (rc == 0) {
		c->copied++;
	} else {
		c->failed++;
		fprintf(stderr, "append of UID %llu failed: %s\n", (unsigned long long)token,
			err->msg);
	}
}

static int open_side(const char *user, const char *pass, struct mbx **m, const char *prefix)
{
	struct imap_mbx_opts o;
	struct mf_error err = { 0 };

	memset(&o, 0, sizeof(o));
	o.host = env("MF_TEST_IMAP_HOST", "127.0.0.1");
	o.port = (uint16_t)strtoul(env("MF_TEST_IMAP_PORT", "0"), NULL, 10);
	o.security = IMAP_SEC_NONE;
	o.auth = IMAP_AUTH_PLAIN;
	o.user = user;
	o.password = pass;
	if (pass == NULL) {
		o.admin_user = env("MF_TEST_IMAP_ADMIN_USER", "master");
		o.admin_password = env("MF_TEST_IMAP_ADMIN_PASS", "masterpw");
		o.impersonation = strcmp(env("MF_TEST_IMAP_IMPERSONATION", "sasl"), "sasl") == 0
					  ? IMAP_IMP_SASL
					  : IMAP_IMP_MASTER_USER;
	}
	o.io_timeout_ms = 30000;
	if (getenv("MF_TEST_IMAP_TRACE") != NULL) {
		o.trace = stderr;
		o.trace_prefix = prefix;
	}
	if (imap_mbx_open(&o, m, &err) != 0) {
		fprintf(stderr, "%s: open failed: %s\n", prefix, err.msg);
		return -1;
	}
	return 0;
}

static int copy_folder(struct mbx *src, struct copy *c, const struct mbx_folder *f)
{
	const char *target = f->name;
	struct mbx_sink sink = { sink_begin, sink_data, sink_end, c };
	struct uids u = { 0 };
	struct mf_error err = { 0 };
	int rc;

	if (f->role != MBX_ROLE_NONE && c->dst->drv->role_folder(c->dst, f->role) != NULL)
		target = c->dst->drv->role_folder(c->dst, f->role);
	rc = c->dst->drv->create_folder(c->dst, target, f->role, f->subscribed, &err);
	if (rc == 0)
		rc = src->drv->list_messages(src, f->name, 1, collect, &u, &err);
	c->folder = target;
	if (rc == 0)
		rc = src->drv->fetch(src, f->name, u.v, u.n, &sink, &err);
	if (rc == 0)
		rc = c->dst->drv->append_flush(c->dst, &err);
	if (rc != 0)
		fprintf(stderr, "folder %s: %s\n", f->name, err.msg);
	else
		printf("folder %s messages %zu\n", f->name, u.n);
	free(u.v);
	return rc;
}

int main(void)
{
	struct mbx *src = NULL, *dst = NULL;
	struct mbx_folder_list l = { 0 };
	struct copy c = { 0 };
	struct mf_error err = { 0 };
	struct rusage ru;
	int rc = 0;

	if (getenv("MF_TEST_IMAP_PORT") == NULL) {
		printf("skipped: set MF_TEST_IMAP_PORT (see tests/e2e/test_driver_imap.py)\n");
		return 0;
	}
	if (open_side(env("MF_TEST_IMAP_SRC_USER", "alice"), env("MF_TEST_IMAP_SRC_PASS", "alicepw"),
		      &src, "src") != 0)
		return 1;
	if (open_side(env("MF_TEST_IMAP_DST_USER", "bob"), getenv("MF_TEST_IMAP_DST_PASS"), &dst,
		      "dst") != 0) {
		src->drv->close(&src);
		return 1;
	}
	c.dst = dst;
	dst->drv->set_append_done(dst, on_done, &c);
	rc = src->drv->list_folders(src, &l, &err);
	if (rc != 0)
		fprintf(stderr, "list_folders: %s\n", err.msg);
	for (size_t i = 0; rc == 0 && i < l.count; i++) {
		if (!l.folders[i].noselect)
			rc = copy_folder(src, &c, &l.folders[i]);
	}
	mbx_folder_list_free(&l);
	src->drv->close(&src);
	dst->drv->close(&dst);
	getrusage(RUSAGE_SELF, &ru);
	printf("copied %llu failed %llu bytes %llu\n", (unsigned long long)c.copied,
	       (unsigned long long)c.failed, (unsigned long long)c.bytes);
	printf("peak_rss_kb %ld\n", ru.ru_maxrss);
	return rc == 0 && c.failed == 0 ? 0 : 1;
}
