/* Unit tests for src/proto/imap/mutf7.c (RFC 3501 section 5.1.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap/mutf7.h"

struct pair {
	const char *utf8;
	const char *mutf7;
};

static const struct pair pairs[] = {
    {"", ""},
    {"INBOX", "INBOX"},
    {"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "&ZeVnLIqe-"},
    {"&", "&-"},
    {"a&b&&", "a&-b&-&-"},
    {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
     "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
    {"\xf0\x9f\x93\xa7 Mail", "&2D3c5w- Mail"}, /* U+1F4E7 */
    {"a\xc3\xa9\xf0\x9f\x98\x80"
     "b",
     "a&AOnYPd4A-b"}, /* é + U+1F600 */
    {"Tab\there", "Tab&AAk-here"},
    {"\xc3\x9cn\xc3\xaf"
     "c\xc3\xb6"
     "d\xc3\xa9&Co",
     "&ANw-n&AO8-c&APY-d&AOk-&-Co"},
    {"\xc3\xbf", "&AP8-"},
    {"Sent Items/2024 [old]", "Sent Items/2024 [old]"},
};

static void test_mutf7_encode(void **state)
{
	struct mf_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *s = mutf7_encode(pairs[i].utf8, &err);

		assert_non_null(s);
		assert_string_equal(s, pairs[i].mutf7);
		free(s);
	}
}

static void test_mutf7_decode(void **state)
{
	struct mf_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char *s = mutf7_decode(pairs[i].mutf7, &err);

		assert_non_null(s);
		assert_string_equal(s, pairs[i].utf8);
		free(s);
	}
}

static void test_mutf7_adjacent_shifts(void **state)
{
	struct mf_error err;
	char *s;

	/* Two shifts back to back are not canonical but decode fine. */
	(void)state;
	s = mutf7_decode("&AOk-&AOk-", &err);
	assert_non_null(s);
	assert_string_equal(s, "\xc3\xa9\xc3\xa9");
	free(s);
}

static void test_mutf7_encode_invalid(void **state)
{
	static const char *const bad[] = {
	    "\xff",
	    "abc\x80",
	    "\xc0\x80",		/* overlong NUL */
	    "\xe0\x80\xaf",	/* overlong "/" */
	    "\xed\xa0\x80",	/* UTF-16 surrogate */
	    "\xf4\x90\x80\x80", /* beyond U+10FFFF */
	    "\xe6\x97",		/* truncated */
	    "x\xc3",		/* truncated at end */
	};
	struct mf_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mf_error_clear(&err);
		assert_null(mutf7_encode(bad[i], &err));
		assert_int_equal(err.code, MF_EINVAL);
		assert_non_null(strstr(err.msg, "UTF-8"));
	}
}

static void test_mutf7_decode_invalid(void **state)
{
	static const char *const bad[] = {
	    "&ZeVnLIqe",       /* unterminated shift */
	    "&",	       /* unterminated shift */
	    "&Jjo!-",	       /* bad base64 character */
	    "&ZeV/LIqe-",      /* "/" is not modified base64 */
	    "&AGE-",	       /* encoded "a" */
	    "&ACY-",	       /* encoded "&" */
	    "&AAA-",	       /* encoded NUL */
	    "&AP-",	       /* 12 leftover bits */
	    "&AP9-",	       /* non-zero pad bits */
	    "&2D0-",	       /* lone high surrogate */
	    "&2D3YPQ-",	       /* high surrogate followed by high */
	    "&3Oc-",	       /* lone low surrogate */
	    "Entw\xc3\xbcrfe", /* raw 8-bit */
	    "tab\there",       /* raw control character */
	};
	struct mf_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *s;

		mf_error_clear(&err);
		s = mutf7_decode(bad[i], &err);
		if (s != NULL)
			fail_msg("accepted \"%s\" as \"%s\"", bad[i], s);
		assert_int_equal(err.code, MF_EINVAL);
	}
}

/* Every BMP and a sample of astral code points survive a round trip. */
static void test_mutf7_roundtrip_all(void **state)
{
	struct mf_error err;

	(void)state;
	for (unsigned cp = 1; cp < 0x110000; cp += cp < 0x10000 ? 1 : 97) {
		char in[8];
		char *enc, *dec;
		size_t n;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		if (cp < 0x80) {
			in[0] = (char)cp;
			n = 1;
		} else if (cp < 0x800) {
			in[0] = (char)(0xc0 | (cp >> 6));
			in[1] = (char)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			in[0] = (char)(0xe0 | (cp >> 12));
			in[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			in[2] = (char)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			in[0] = (char)(0xf0 | (cp >> 18));
			in[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			in[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			in[3] = (char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		in[n++] = 'x';
		in[n] = '\0';
		enc = mutf7_encode(in, &err);
		assert_non_null(enc);
		for (const char *q = enc; *q != '\0'; q++)
			assert_true(*q >= 0x20 && *q <= 0x7e);
		dec = mutf7_decode(enc, &err);
		if (dec == NULL)
			fail_msg("U+%04X: %s -> %s", cp, enc, err.msg);
		assert_string_equal(dec, in);
		free(enc);
		free(dec);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mutf7_encode),
	    cmocka_unit_test(test_mutf7_decode),
	    cmocka_unit_test(test_mutf7_adjacent_shifts),
	    cmocka_unit_test(test_mutf7_encode_invalid),
	    cmocka_unit_test(test_mutf7_decode_invalid),
	    cmocka_unit_test(test_mutf7_roundtrip_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
