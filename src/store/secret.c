/* secret.c: the key file and sealing of stored secrets.
 *
 * The only place (besides the connection that uses it) where a plaintext
 * password exists: sealing reads it, opening writes it to a buffer the
 * caller wipes with mf_secret_free(). Nothing here logs, and no error
 * message carries a secret or a sealed value.
 */
#include "store/store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/xmalloc.h"

#define SECRET_PREFIX "v1:"
#define SECRET_PREFIX_LEN 3
#define SECRET_B64 sodium_base64_VARIANT_ORIGINAL

/* ---- the key file ---------------------------------------------------------- */

static int secret_key_dir(const char *key_file, struct mf_error *err)
{
	char *copy = xstrdup(key_file);
	int rc = store_mkdir_p(dirname(copy), "key file directory", err);

	free(copy);
	return rc;
}

static void secret_fsync_dir(const char *key_file)
{
	char *copy = xstrdup(key_file);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

static int secret_write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 1 when created, 0 when it already existed, or an error. */
static int secret_key_create(const char *key_file, unsigned char *key, struct mf_error *err)
{
	int fd = open(key_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int saved;

	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0)
		return mf_error_set(err, MF_EIO, "cannot create key file %s: %s", key_file,
				    strerror(errno));
	randombytes_buf(key, STORE_KEY_BYTES);
	if (secret_write_all(fd, key, STORE_KEY_BYTES) != 0 || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		unlink(key_file);
		return mf_error_set(err, MF_EIO, "cannot write key file %s: %s", key_file,
				    strerror(saved));
	}
	if (close(fd) != 0) {
		saved = errno;
		unlink(key_file);
		return mf_error_set(err, MF_EIO, "cannot write key file %s: %s", key_file,
				    strerror(saved));
	}
	secret_fsync_dir(key_file);
	return 1;
}

/* Read an existing key file: a regular file of exactly 32 bytes with no
 * group or other permission bits. Returns 1 when it is still empty (another
 * process is creating it), 0 when read, or an error. */
static int secret_key_read(const char *key_file, unsigned char *key, struct mf_error *err)
{
	int fd = open(key_file, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	size_t got = 0;
	int rc = 0;

	if (fd < 0)
		return mf_error_set(err, MF_EIO, "cannot open key file %s: %s", key_file,
				    strerror(errno));
	if (fstat(fd, &sb) != 0) {
		rc = mf_error_set(err, MF_EIO, "cannot stat key file %s: %s", key_file,
				  strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = mf_error_set(err, MF_EIO, "key file %s is not a regular file", key_file);
		goto out;
	}
	if ((sb.st_mode & 077) != 0) {
		rc = mf_error_set(err, MF_EIO,
				  "key file %s is readable by others (mode %04o); run chmod 600 %s",
				  key_file, (unsigned)(sb.st_mode & 07777), key_file);
		goto out;
	}
	if (sb.st_size == 0) {
		rc = 1;
		goto out;
	}
	if (sb.st_size != STORE_KEY_BYTES) {
		rc = mf_error_set(err, MF_EIO, "key file %s is damaged (%lld bytes, expected %d)",
				  key_file, (long long)sb.st_size, STORE_KEY_BYTES);
		goto out;
	}
	while (got < STORE_KEY_BYTES) {
		ssize_t r = read(fd, key + got, STORE_KEY_BYTES - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = mf_error_set(err, MF_EIO, "cannot read key file %s: %s", key_file,
					  r < 0 ? strerror(errno) : "short file");
			goto out;
		}
		got += (size_t)r;
	}
out:
	close(fd);
	return rc;
}

int store_secret_key_load(const char *key_file, unsigned char **key_r, struct mf_error *err)
{
	const struct timespec pause = {0, 20 * 1000 * 1000};
	unsigned char *key;
	int rc;

	*key_r = NULL;
	rc = secret_key_dir(key_file, err);
	if (rc != 0)
		return rc;
	/* Guarded pages, locked into memory (sodium_malloc calls
	 * sodium_mlock and tolerates its failure), wiped by sodium_free. */
	key = sodium_malloc(STORE_KEY_BYTES);
	if (key == NULL)
		return mf_error_set(err, MF_EIO, "cannot allocate protected memory for the key");
	rc = secret_key_create(key_file, key, err);
	/* A concurrent first start may have created the file without having
	 * written it yet: wait up to a second for its 32 bytes. */
	for (int tries = 0; rc == 0; tries++) {
		rc = secret_key_read(key_file, key, err);
		if (rc != 1)
			break;
		if (tries == 50) {
			rc = mf_error_set(err, MF_EIO, "key file %s is empty", key_file);
			break;
		}
		rc = 0;
		nanosleep(&pause, NULL);
	}
	if (rc < 0) {
		sodium_free(key);
		return rc;
	}
	/* Read-only from now on. (Not no-access between uses: a store handle
	 * may move between threads, and toggling would race.) */
	sodium_mprotect_readonly(key);
	*key_r = key;
	return 0;
}

void store_secret_key_free(unsigned char **keyp)
{
	if (*keyp == NULL)
		return;
	sodium_free(*keyp); /* makes the pages writable, wipes, unlocks */
	*keyp = NULL;
}

/* ---- sealing ------------------------------------------------------------------ */

int store_secret_seal(struct store *st, const char *plain, char **sealed_r, struct mf_error *err)
{
	size_t plen, blen, b64len;
	unsigned char *box;
	char *out;

	*sealed_r = NULL;
	if (plain == NULL)
		return mf_error_set(err, MF_EINVAL, "no secret to seal");
	plen = strlen(plain);
	blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plen;
	box = xmalloc(blen);
	randombytes_buf(box, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const unsigned char *)plain, plen,
			      box, st->key);
	b64len = sodium_base64_encoded_len(blen, SECRET_B64);
	out = xmalloc(SECRET_PREFIX_LEN + b64len);
	memcpy(out, SECRET_PREFIX, SECRET_PREFIX_LEN);
	sodium_bin2base64(out + SECRET_PREFIX_LEN, b64len, box, blen, SECRET_B64);
	free(box);
	*sealed_r = out;
	return 0;
}

int store_secret_open(struct store *st, const char *sealed, char **plain_r, struct mf_error *err)
{
	const char *b64, *end = NULL;
	size_t b64len, blen = 0, plen;
	unsigned char *box;
	char *plain;

	*plain_r = NULL;
	if (sealed == NULL || strncmp(sealed, SECRET_PREFIX, SECRET_PREFIX_LEN) != 0)
		return mf_error_set(err, MF_EINVAL, "stored secret is not a sealed value");
	b64 = sealed + SECRET_PREFIX_LEN;
	b64len = strlen(b64);
	box = xmalloc(b64len + 1);
	if (sodium_base642bin(box, b64len + 1, b64, b64len, NULL, &blen, &end, SECRET_B64) != 0 ||
	    end != b64 + b64len || blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
		free(box);
		return mf_error_set(err, MF_EINVAL, "stored secret is damaged");
	}
	plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
	plain = xmalloc(plen + 1);
	if (crypto_secretbox_open_easy((unsigned char *)plain, box + crypto_secretbox_NONCEBYTES,
				       blen - crypto_secretbox_NONCEBYTES, box, st->key) != 0) {
		mf_memzero(plain, plen + 1);
		free(plain);
		free(box);
		return mf_error_set(err, MF_EINVAL,
				    "stored secret cannot be opened (wrong key file?)");
	}
	plain[plen] = '\0';
	free(box);
	/* Sealed from a C string, so no NUL inside; if one were, strlen-based
	 * wiping in mf_secret_free() would miss the tail. */
	if (memchr(plain, '\0', plen) != NULL) {
		mf_memzero(plain, plen + 1);
		free(plain);
		return mf_error_set(err, MF_EINVAL, "stored secret is damaged");
	}
	*plain_r = plain;
	return 0;
}
