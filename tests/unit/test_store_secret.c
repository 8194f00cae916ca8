/* Unit tests for src/store/secret.c: the key file and sealed secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "util/mf-error.h"
#include "util/xmalloc.h"

#define PASSWORD "Tr0ub4dor&3-correct-horse"

struct fixture {
	char *dir;
	char *data_dir;
	char *key_file; /* <data_dir>/secret.key */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char tmpl[] = "/tmp/mf-secret-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	f->data_dir = xasprintf("%s/data", f->dir);
	f->key_file = xasprintf("%s/secret.key", f->data_dir);
	unsetenv("MAILFERRY_DATA_DIR");
	unsetenv("MAILFERRY_KEY_FILE");
	unsetenv("XDG_DATA_HOME");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f->dir);
	free(f->data_dir);
	free(f->key_file);
	free(f);
	return 0;
}

static struct store *open_ok(const char *data_dir, const char *key_file)
{
	struct mf_error err = {0};
	struct store *st = NULL;

	if (store_open(data_dir, key_file, &st, &err) != 0)
		fail_msg("store_open: %s", err.msg);
	return st;
}

static char *seal_ok(struct store *st, const char *plain)
{
	struct mf_error err = {0};
	char *sealed = NULL;

	if (store_secret_seal(st, plain, &sealed, &err) != 0)
		fail_msg("seal: %s", err.msg);
	return sealed;
}

static void assert_opens_to(struct store *st, const char *sealed, const char *want)
{
	struct mf_error err = {0};
	char *plain = NULL;

	if (store_secret_open(st, sealed, &plain, &err) != 0)
		fail_msg("open: %s", err.msg);
	assert_string_equal(plain, want);
	mf_secret_free(&plain);
	assert_null(plain);
}

static void assert_does_not_open(struct store *st, const char *sealed, const char *msg)
{
	struct mf_error err = {0};
	char *plain = (char *)"untouched";

	assert_int_equal(store_secret_open(st, sealed, &plain, &err), MF_EINVAL);
	assert_null(plain);
	if (msg != NULL)
		assert_string_equal(err.msg, msg);
	assert_null(strstr(err.msg, PASSWORD));
}

static size_t read_file(const char *path, unsigned char **data_r)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t len = 0, cap = 0, got;

	assert_non_null(fp);
	do {
		if (len == cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			data = xrealloc(data, cap);
		}
		got = fread(data + len, 1, cap - len, fp);
		len += got;
	} while (got > 0);
	fclose(fp);
	*data_r = data;
	return len;
}

/* ---- sealing ---------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir, NULL);
	char big[5000];
	char *a, *b, *c;

	a = seal_ok(st, PASSWORD);
	assert_memory_equal(a, "v1:", 3);
	assert_null(strstr(a, PASSWORD));
	assert_opens_to(st, a, PASSWORD);

	/* A fresh nonce each time: the same plaintext seals differently. */
	b = seal_ok(st, PASSWORD);
	assert_string_not_equal(a, b);
	assert_opens_to(st, b, PASSWORD);

	c = seal_ok(st, "");
	assert_opens_to(st, c, "");
	free(c);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c = seal_ok(st, big);
	assert_opens_to(st, c, big);
	free(c);
	c = seal_ok(st, "pässwörd \xf0\x9f\x94\x91");
	assert_opens_to(st, c, "pässwörd \xf0\x9f\x94\x91");
	free(c);

	free(a);
	free(b);
	store_close(&st);
}

static void test_tampered(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir, NULL);
	const char *msg = "stored secret cannot be opened (wrong key file?)";
	char *sealed = seal_ok(st, PASSWORD);
	size_t len = strlen(sealed);
	struct mf_error err = {0};
	char *copy;

	/* Flip one ciphertext byte: change a base64 digit in the middle
	 * (past the 24-byte nonce, 32 digits). */
	copy = xstrdup(sealed);
	copy[3 + 40] = copy[3 + 40] == 'A' ? 'B' : 'A';
	assert_does_not_open(st, copy, msg);
	free(copy);
	/* Change the nonce. */
	copy = xstrdup(sealed);
	copy[4] = copy[4] == 'A' ? 'B' : 'A';
	assert_does_not_open(st, copy, msg);
	free(copy);
	/* Truncated by one base64 group (4 digits, 3 bytes). */
	copy = xstrndup(sealed, len - 4);
	assert_does_not_open(st, copy, NULL);
	free(copy);

	/* Not sealed values at all. */
	assert_does_not_open(st, PASSWORD, NULL);
	assert_does_not_open(st, "v1:", NULL);
	assert_does_not_open(st, "v1:!!!notbase64!!!", NULL);
	assert_does_not_open(st, "v1:AAAA", NULL);
	assert_does_not_open(st, "v2:AAAA", NULL);
	assert_does_not_open(st, NULL, NULL);

	assert_int_equal(store_secret_seal(st, NULL, &copy, &err), MF_EINVAL);
	assert_null(copy);
	free(sealed);
	store_close(&st);
}

static void test_wrong_key_file(void **state)
{
	struct fixture *f = *state;
	char *other_key = xasprintf("%s/other/other.key", f->dir);
	struct store *st = open_ok(f->data_dir, NULL);
	char *sealed = seal_ok(st, PASSWORD);

	store_close(&st);
	/* Same database, another key. */
	st = open_ok(f->data_dir, other_key);
	assert_does_not_open(st, sealed, "stored secret cannot be opened (wrong key file?)");
	store_close(&st);
	/* The right key still opens it. */
	st = open_ok(f->data_dir, f->key_file);
	assert_opens_to(st, sealed, PASSWORD);
	store_close(&st);
	free(sealed);
	free(other_key);
}

/* ---- the key file ------------------------------------------------------------------ */

static void test_key_file_created(void **state)
{
	struct fixture *f = *state;
	char *key = xasprintf("%s/keys/deep/mf.key", f->dir);
	char *keydir = xasprintf("%s/keys/deep", f->dir);
	struct store *st = open_ok(f->data_dir, key);
	struct stat sb;

	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, 32);
	assert_int_equal(stat(keydir, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	/* No default key was made beside the database. */
	assert_int_not_equal(access(f->key_file, F_OK), 0);
	store_close(&st);
	free(key);
	free(keydir);
}

static void test_reopen_keeps_key_and_secrets(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir, NULL);
	struct store_endpoint ep = {0}, got;
	struct mf_error err = {0};
	unsigned char *key1, *key2;
	size_t len1, len2;

	ep.name = xstrdup("src");
	ep.admin_user = xstrdup("admin");
	ep.admin_secret = seal_ok(st, PASSWORD);
	assert_int_equal(store_endpoint_insert(st, &ep, &err), 0);
	store_endpoint_clear(&ep);
	store_close(&st);
	len1 = read_file(f->key_file, &key1);

	st = open_ok(f->data_dir, NULL);
	len2 = read_file(f->key_file, &key2);
	assert_int_equal(len1, 32);
	assert_int_equal(len2, 32);
	assert_memory_equal(key1, key2, 32);
	assert_int_equal(store_endpoint_get(st, "src", &got, &err), 0);
	assert_opens_to(st, got.admin_secret, PASSWORD);
	store_endpoint_clear(&got);
	store_close(&st);
	free(key1);
	free(key2);
}

static void test_key_file_mode_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir, NULL);
	struct mf_error err = {0};
	char *want;

	store_close(&st);
	assert_int_equal(chmod(f->key_file, 0644), 0);
	assert_int_equal(store_open(f->data_dir, NULL, &st, &err), MF_EIO);
	assert_null(st);
	want = xasprintf("key file %s is readable by others (mode 0644); run chmod 600 %s",
			 f->key_file, f->key_file);
	assert_string_equal(err.msg, want);
	free(want);

	/* Group bits alone are refused too. */
	assert_int_equal(chmod(f->key_file, 0640), 0);
	assert_int_equal(store_open(f->data_dir, NULL, &st, &err), MF_EIO);
	assert_non_null(strstr(err.msg, "(mode 0640)"));

	assert_int_equal(chmod(f->key_file, 0600), 0);
	st = open_ok(f->data_dir, NULL);
	store_close(&st);
}

static void test_key_file_damaged(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir, NULL);
	struct mf_error err = {0};

	store_close(&st);
	assert_int_equal(truncate(f->key_file, 16), 0);
	assert_int_equal(store_open(f->data_dir, NULL, &st, &err), MF_EIO);
	assert_non_null(strstr(err.msg, "is damaged"));
	assert_non_null(strstr(err.msg, f->key_file));
}

/* ---- nothing in plaintext on disk ------------------------------------------------------ */

/* Search every file under dir, byte-wise; returns how many were read. */
static int assert_not_in_files(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int files = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char *path;
		struct stat sb;
		unsigned char *data;
		size_t len;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		assert_int_equal(lstat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			files += assert_not_in_files(path, needle);
		} else if (S_ISREG(sb.st_mode)) {
			len = read_file(path, &data);
			if (memmem(data, len, needle, strlen(needle)) != NULL)
				fail_msg("plaintext found in %s", path);
			free(data);
			files++;
		}
		free(path);
	}
	closedir(d);
	return files;
}

static void test_plaintext_not_on_disk(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data_dir, NULL);
	char *wal = xasprintf("%s/mailferry.db-wal", f->data_dir);
	struct store_endpoint ep = {0};
	struct mf_error err = {0};
	struct stat sb;
	char *plain = NULL;

	ep.name = xstrdup("src");
	ep.admin_user = xstrdup("admin");
	ep.admin_secret = seal_ok(st, PASSWORD);
	assert_int_equal(store_endpoint_insert(st, &ep, &err), 0);
	/* Open it again too: the plaintext exists only in memory. */
	assert_int_equal(store_secret_open(st, ep.admin_secret, &plain, &err), 0);
	mf_secret_free(&plain);
	store_endpoint_clear(&ep);

	/* While open, the row is in the write-ahead log. */
	assert_int_equal(stat(wal, &sb), 0);
	assert_true(sb.st_size > 0);
	assert_true(assert_not_in_files(f->data_dir, PASSWORD) >= 3); /* db, wal, key */
	store_close(&st);
	/* After the checkpoint at close, in the database file. */
	assert_true(assert_not_in_files(f->data_dir, PASSWORD) >= 2);
	free(wal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_key_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_file_created, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_keeps_key_and_secrets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_file_mode_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_file_damaged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_plaintext_not_on_disk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
