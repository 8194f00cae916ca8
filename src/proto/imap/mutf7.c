/* mutf7.c: modified UTF-7 mailbox names (RFC 3501 section 5.1.3,
 * RFC 9051 section 5.1.3; RFC 2152 for the base UTF-7 scheme).
 *
 * Printable US-ASCII (0x20-0x7e) stands for itself, except "&" which is
 * written "&-". Everything else is UTF-16BE, base64-encoded with "," in place
 * of "/", without padding, between "&" and "-".
 */
#include "proto/imap/mutf7.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/buf.h"

static const char mutf7_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static bool mutf7_is_direct(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

static int mutf7_b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == ',')
		return 63;
	return -1;
}

/* Decode one UTF-8 sequence at s; returns its length (>0) and the code point,
 * or 0 when it is invalid (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t mutf7_utf8_next(const unsigned char *s, uint32_t *cp_r)
{
	uint32_t cp, min;
	size_t n;

	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		cp = s[0] & 0x1f;
		n = 2;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		cp = s[0] & 0x0f;
		n = 3;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		cp = s[0] & 0x07;
		n = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		/* A NUL terminator fails this test, so we never read past it. */
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return n;
}

static void mutf7_put_utf8(struct buf *b, uint32_t cp)
{
	char out[4];
	size_t n;

	if (cp < 0x80) {
		out[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		out[0] = (char)(0xf0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(b, out, n);
}

/* Base64 state while encoding one shifted run. */
struct mutf7_enc {
	uint32_t bits;
	unsigned nbits;
};

static void mutf7_enc_unit(struct buf *b, struct mutf7_enc *e, uint16_t unit)
{
	e->bits = (e->bits << 16) | unit;
	e->nbits += 16;
	while (e->nbits >= 6) {
		e->nbits -= 6;
		buf_putc(b, mutf7_b64[(e->bits >> e->nbits) & 0x3f]);
	}
	e->bits &= (1u << e->nbits) - 1;
}

char *mutf7_encode(const char *utf8, struct mf_error *err)
{
	const unsigned char *s = (const unsigned char *)utf8;
	struct buf b = BUF_INIT;
	struct mutf7_enc e = {0, 0};
	bool shifted = false;
	uint32_t cp;
	size_t i = 0, n;

	while (s[i] != '\0') {
		n = mutf7_utf8_next(s + i, &cp);
		if (n == 0) {
			buf_free(&b);
			mf_error_set(err, MF_EINVAL, "mailbox name is not valid UTF-8 (byte %zu)",
				     i);
			return NULL;
		}
		i += n;
		if (mutf7_is_direct(cp)) {
			if (shifted) {
				if (e.nbits > 0)
					buf_putc(&b, mutf7_b64[(e.bits << (6 - e.nbits)) & 0x3f]);
				buf_putc(&b, '-');
				shifted = false;
				e.bits = 0;
				e.nbits = 0;
			}
			if (cp == '&')
				buf_append(&b, "&-", 2);
			else
				buf_putc(&b, (char)cp);
			continue;
		}
		if (!shifted) {
			buf_putc(&b, '&');
			shifted = true;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			mutf7_enc_unit(&b, &e, (uint16_t)(0xd800 | (cp >> 10)));
			mutf7_enc_unit(&b, &e, (uint16_t)(0xdc00 | (cp & 0x3ff)));
		} else {
			mutf7_enc_unit(&b, &e, (uint16_t)cp);
		}
	}
	if (shifted) {
		if (e.nbits > 0)
			buf_putc(&b, mutf7_b64[(e.bits << (6 - e.nbits)) & 0x3f]);
		buf_putc(&b, '-');
	}
	return buf_steal(&b);
}

static char *mutf7_fail(struct buf *b, struct mf_error *err, size_t pos, const char *why)
{
	buf_free(b);
	mf_error_set(err, MF_EINVAL,
		     "malformed modified UTF-7 mailbox name: %s "
		     "(byte %zu)",
		     why, pos);
	return NULL;
}

char *mutf7_decode(const char *mutf7, struct mf_error *err)
{
	const unsigned char *s = (const unsigned char *)mutf7;
	struct buf b = BUF_INIT;
	size_t i = 0;

	while (s[i] != '\0') {
		uint32_t bits = 0, high = 0;
		unsigned nbits = 0;
		size_t start;
		int v;

		if (s[i] != '&') {
			if (!mutf7_is_direct(s[i]))
				return mutf7_fail(&b, err, i, "byte outside printable ASCII");
			buf_putc(&b, (char)s[i++]);
			continue;
		}
		start = i++;
		if (s[i] == '-') {
			buf_putc(&b, '&');
			i++;
			continue;
		}
		for (; s[i] != '-'; i++) {
			if (s[i] == '\0')
				return mutf7_fail(&b, err, start, "unterminated shift");
			v = mutf7_b64_value(s[i]);
			if (v < 0)
				return mutf7_fail(&b, err, i, "bad base64 character");
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			uint32_t unit = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			if (high != 0) {
				if (unit < 0xdc00 || unit > 0xdfff)
					return mutf7_fail(&b, err, i, "unpaired surrogate");
				mutf7_put_utf8(&b,
					       0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00));
				high = 0;
			} else if (unit >= 0xd800 && unit <= 0xdbff) {
				high = unit;
			} else if (unit >= 0xdc00 && unit <= 0xdfff) {
				return mutf7_fail(&b, err, i, "unpaired surrogate");
			} else if (mutf7_is_direct(unit) || unit == 0) {
				return mutf7_fail(&b, err, i, "encoded printable ASCII or NUL");
			} else {
				mutf7_put_utf8(&b, unit);
			}
		}
		/* At "-": at most 5 leftover bits, all zero; no half pair. */
		if (nbits >= 6 || bits != 0)
			return mutf7_fail(&b, err, i, "bad base64 padding");
		if (high != 0)
			return mutf7_fail(&b, err, i, "unpaired surrogate");
		i++;
	}
	return buf_steal(&b);
}
