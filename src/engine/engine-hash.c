/* engine-hash.c: a source message's identity by content, for settling
 * intents and recovering from a UIDVALIDITY change: its SHA-256 (the same
 * digest engine-copy.c computes while copying) and its Message-ID, read
 * from a fetch streamed through a hashing sink. Memory: the hash state and
 * at most ENGINE_HEADER_MAX bytes of header per message. Also the Subject
 * of a header, as skipped items record it (engine-copy.c, engine-scan.c).
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "util/buf.h"
#include "util/xmalloc.h"

void engine_sha_hex(const unsigned char *md, unsigned int len, char out[STORE_SHA256_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (unsigned int i = 0; i < len && 2 * i + 2 < STORE_SHA256_HEX; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[STORE_SHA256_HEX - 1] = '\0';
}

char *engine_header_field(const char *hdr, size_t len, const char *name)
{
	size_t nlen = strlen(name), i = 0;
	struct buf b = BUF_INIT;

	while (i < len) {
		bool bol = i == 0 || hdr[i - 1] == '\n';

		if (bol && len - i > nlen && strncasecmp(hdr + i, name, nlen) == 0 &&
		    hdr[i + nlen] == ':')
			break;
		if (bol && (hdr[i] == '\r' || hdr[i] == '\n'))
			return NULL; /* the header's end */
		i++;
	}
	if (i >= len)
		return NULL;
	for (i += nlen + 1; i < len; i++) {
		char c = hdr[i];

		if (c == '\r' || c == '\n') {
			/* A folded line goes on with a space or tab. */
			size_t j = i + (c == '\r' && i + 1 < len && hdr[i + 1] == '\n' ? 2 : 1);

			if (j >= len || (hdr[j] != ' ' && hdr[j] != '\t'))
				break;
			i = j - 1;
			continue;
		}
		if (c == ' ' || c == '\t') {
			if (b.len > 0)
				buf_putc(&b, ' ');
			continue;
		}
		buf_putc(&b, c);
	}
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

struct engine_hasher {
	EVP_MD_CTX *sha;
	struct buf hdr;
	bool hdr_done;
	struct mbx_msg_info info;
	bool in_msg;
	void (*fn)(void *ctx, const struct engine_hashed *h);
	void *ctx;
};

static int engine_hasher_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct engine_hasher *h = ctx;

	(void)err;
	if (EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL) != 1)
		abort(); /* OpenSSL without SHA-256: nothing sensible to do */
	buf_reset(&h->hdr);
	h->hdr_done = false;
	h->info = *info;
	h->info.keywords = NULL; /* valid during begin only */
	h->info.keyword_count = 0;
	h->in_msg = true;
	return 0;
}

static int engine_hasher_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct engine_hasher *h = ctx;

	(void)err;
	EVP_DigestUpdate(h->sha, data, len);
	if (!h->hdr_done) {
		size_t room = ENGINE_HEADER_MAX - h->hdr.len;

		buf_append(&h->hdr, data, len < room ? len : room);
		if (h->hdr.len >= ENGINE_HEADER_MAX || memmem(h->hdr.data, h->hdr.len, "\n\n", 2) ||
		    memmem(h->hdr.data, h->hdr.len, "\n\r\n", 3))
			h->hdr_done = true;
	}
	return 0;
}

static int engine_hasher_end(void *ctx, struct mf_error *err)
{
	struct engine_hasher *h = ctx;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[STORE_SHA256_HEX];
	struct engine_hashed out;
	char *mid;

	(void)err;
	if (!h->in_msg)
		return 0;
	h->in_msg = false;
	EVP_DigestFinal_ex(h->sha, md, &len);
	engine_sha_hex(md, len, hex);
	mid = engine_header_field(h->hdr.data != NULL ? h->hdr.data : "", h->hdr.len, "Message-ID");
	out.uid = h->info.uid;
	out.size = h->info.size;
	out.sha256 = hex;
	out.message_id = mid;
	out.info = &h->info;
	h->fn(h->ctx, &out);
	free(mid);
	return 0;
}

int engine_hash_fetch(struct mbx *m, const char *folder, const uint32_t *uids, size_t n,
		      void (*fn)(void *ctx, const struct engine_hashed *h), void *ctx,
		      struct mf_error *err)
{
	struct engine_hasher h = {0};
	struct mbx_sink sink = {engine_hasher_begin, engine_hasher_data, engine_hasher_end, &h};
	int rc;

	if (n == 0)
		return 0;
	h.sha = EVP_MD_CTX_new();
	if (h.sha == NULL)
		abort(); /* OpenSSL cannot allocate: nothing sensible to do */
	h.fn = fn;
	h.ctx = ctx;
	rc = m->drv->fetch(m, folder, uids, n, &sink, err);
	EVP_MD_CTX_free(h.sha);
	buf_free(&h.hdr);
	return rc;
}

/* ---- Subject ---------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none. */
static size_t engine_utf8_len(const unsigned char *p, size_t n)
{
	size_t len = p[0] < 0x80		   ? 1
		     : p[0] >= 0xc2 && p[0] < 0xe0 ? 2
		     : p[0] >= 0xe0 && p[0] < 0xf0 ? 3
		     : p[0] >= 0xf0 && p[0] < 0xf5 ? 4
						   : 0;

	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

char *engine_subject(const char *h, size_t len)
{
	struct buf b = BUF_INIT;
	size_t i = 0;

	while (i < len) {
		bool bol = i == 0 || h[i - 1] == '\n';

		if (bol && len - i >= 8 && strncasecmp(h + i, "Subject:", 8) == 0)
			break;
		i++;
	}
	if (i >= len)
		return NULL;
	for (i += 8; i < len && b.len < ENGINE_SUBJECT_MAX;) {
		const unsigned char *p = (const unsigned char *)h + i;
		size_t n;

		if (*p == '\r' || *p == '\n') {
			/* A folded line goes on with a space or tab. */
			size_t j = i + (*p == '\r' && i + 1 < len && p[1] == '\n' ? 2 : 1);

			if (j >= len || (h[j] != ' ' && h[j] != '\t'))
				break;
			i = j;
			continue;
		}
		n = engine_utf8_len(p, len - i);
		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			buf_putc(&b, *p == '\t' ? ' ' : '?');
			i++;
		} else {
			buf_append(&b, p, n);
			i += n;
		}
	}
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		b.data[--b.len] = '\0';
	{
		size_t lead = 0;

		while (lead < b.len && b.data[lead] == ' ')
			lead++;
		buf_consume(&b, lead);
	}
	return buf_steal(&b);
}
