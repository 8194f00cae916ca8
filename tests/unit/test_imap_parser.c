/* Unit tests for src/proto/imap/imap-parser.c.
 *
 * Every input goes through run(): it is parsed all at once, one byte at a
 * time, two bytes at a time and in several random chunkings; each run is
 * rendered to text (responses, streamed literals, errors) and all renderings
 * must be identical. The tests then compare that text with what they expect.
 *
 * Rendering: one line per response.
 *   "* OK [CODE a b] text=..."  "A1 NO text=..."  "+ text=..."
 *   "* 3 EXISTS"  "* FETCH (UID 1 BODY[] {5}hello)"
 * Atoms are bare, strings quoted, literals {n}data or ~{n}data, streamed
 * literals {n*}, NIL as NIL, bytes outside 0x20-0x7e as \xHH.
 * A streamed literal adds "stream KEYWORD n: data" when it ends; an error
 * adds "ERR name: message"; input left in a partial response adds "PARTIAL".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap/imap-parser.h"
#include "util/buf.h"
#include "util/xmalloc.h"

/* ---- rendering ------------------------------------------------------------ */

static void dump_bytes(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf_putc(b, (char)ch);
		else if (ch == '\\')
			buf_puts(b, "\\\\");
		else
			buf_printf(b, "\\x%02X", ch);
	}
}

static void dump_arg(struct buf *b, const struct imap_arg *a)
{
	switch (a->type) {
	case IMAP_ARG_ATOM:
		dump_bytes(b, a->data, a->len);
		break;
	case IMAP_ARG_STRING:
		buf_putc(b, '"');
		dump_bytes(b, a->data, a->len);
		buf_putc(b, '"');
		break;
	case IMAP_ARG_LITERAL:
		assert_int_equal(a->len, a->literal_size);
		assert_int_equal(a->data[a->len], '\0');
		buf_printf(b, "%s{%llu}", a->binary ? "~" : "",
			   (unsigned long long)a->literal_size);
		dump_bytes(b, a->data, a->len);
		break;
	case IMAP_ARG_LITERAL_STREAMED:
		buf_printf(b, "%s{%llu*}", a->binary ? "~" : "",
			   (unsigned long long)a->literal_size);
		break;
	case IMAP_ARG_NIL:
		buf_puts(b, "NIL");
		break;
	case IMAP_ARG_LIST:
		buf_putc(b, '(');
		for (size_t i = 0; i < a->list_count; i++) {
			if (i > 0)
				buf_putc(b, ' ');
			dump_arg(b, &a->list[i]);
		}
		buf_putc(b, ')');
		break;
	}
}

static void dump_resp(struct buf *b, const struct imap_response *r)
{
	static const char *const status[] = {"", "OK", "NO", "BAD", "PREAUTH", "BYE"};

	assert_non_null(r->text);
	switch (r->kind) {
	case IMAP_RESP_UNTAGGED:
		buf_putc(b, '*');
		break;
	case IMAP_RESP_TAGGED:
		assert_non_null(r->tag);
		buf_puts(b, r->tag);
		break;
	case IMAP_RESP_CONTINUATION:
		buf_putc(b, '+');
		break;
	}
	if (r->status != IMAP_STATUS_NONE)
		buf_printf(b, " %s", status[r->status]);
	if (r->code != NULL) {
		buf_printf(b, " [%s", r->code);
		for (size_t i = 0; i < r->code_args_count; i++) {
			buf_putc(b, ' ');
			dump_arg(b, &r->code_args[i]);
		}
		buf_putc(b, ']');
	} else {
		assert_int_equal(r->code_args_count, 0);
	}
	if (r->status != IMAP_STATUS_NONE || r->kind == IMAP_RESP_CONTINUATION) {
		assert_null(r->keyword);
		buf_puts(b, " text=");
		dump_bytes(b, r->text, strlen(r->text));
	}
	if (r->has_number)
		buf_printf(b, " %u", r->number);
	if (r->keyword != NULL)
		buf_printf(b, " %s", r->keyword);
	for (size_t i = 0; i < r->args_count; i++) {
		buf_putc(b, ' ');
		dump_arg(b, &r->args[i]);
	}
	buf_putc(b, '\n');
}

/* ---- streaming callbacks ------------------------------------------------------ */

struct stream_ctx {
	struct buf *out; /* the rendering */
	struct buf data; /* the current streamed literal */
	char keyword[64];
	uint64_t size;
	bool active;
	bool accept;	 /* literal_begin's answer */
	size_t abort_at; /* abort once this many bytes arrived (0 = never) */
	size_t total;
};

static bool cb_begin(void *vctx, const char *keyword, uint64_t size)
{
	struct stream_ctx *ctx = vctx;

	assert_false(ctx->active);
	if (!ctx->accept)
		return false;
	snprintf(ctx->keyword, sizeof(ctx->keyword), "%s", keyword != NULL ? keyword : "-");
	ctx->size = size;
	ctx->active = true;
	buf_reset(&ctx->data);
	return true;
}

static int cb_data(void *vctx, const void *data, size_t len)
{
	struct stream_ctx *ctx = vctx;

	assert_true(ctx->active);
	assert_true(len > 0);
	buf_append(&ctx->data, data, len);
	ctx->total += len;
	if (ctx->abort_at != 0 && ctx->total >= ctx->abort_at)
		return MF_ECLOSED;
	return 0;
}

static void cb_end(void *vctx)
{
	struct stream_ctx *ctx = vctx;

	assert_true(ctx->active);
	assert_int_equal(ctx->data.len, ctx->size);
	ctx->active = false;
	buf_printf(ctx->out, "stream %s %llu: ", ctx->keyword, (unsigned long long)ctx->size);
	dump_bytes(ctx->out, ctx->data.data, ctx->data.len);
	buf_putc(ctx->out, '\n');
}

static const struct imap_parser_callbacks stream_cbs = {cb_begin, cb_data, cb_end};

/* ---- running ------------------------------------------------------------------ */

struct run_opts {
	struct imap_parser_limits lim;
	bool stream; /* install the callbacks */
	bool accept; /* literal_begin says yes */
	size_t abort_at;
};

enum { MODE_ALL, MODE_BYTE, MODE_TWO, MODE_RANDOM };

static uint32_t rng_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static char *run_mode(const char *in, size_t len, const struct run_opts *o, int mode, uint32_t seed)
{
	struct buf out = BUF_INIT;
	struct stream_ctx ctx = {.out = &out, .accept = o->accept, .abort_at = o->abort_at};
	struct imap_parser *p;
	size_t off = 0, pending = 0;
	bool failed = false;

	p = imap_parser_new(&o->lim, o->stream ? &stream_cbs : NULL, &ctx);
	while (off < len && !failed) {
		size_t n = len - off, pos = 0;

		if (mode == MODE_BYTE)
			n = 1;
		else if (mode == MODE_TWO)
			n = 2;
		else if (mode == MODE_RANDOM)
			n = rng_next(&seed) % 8 == 0 ? rng_next(&seed) % 300 + 1
						     : rng_next(&seed) % 13 + 1;
		if (n > len - off)
			n = len - off;
		while (pos < n) {
			const struct imap_response *r;
			struct mf_error err;
			size_t used;
			enum imap_parse_result res;

			res = imap_parser_feed(p, in + off + pos, n - pos, &used, &r, &err);
			assert_true(used <= n - pos);
			pos += used;
			pending += used;
			if (res == IMAP_PARSE_ERROR) {
				assert_true(err.code < 0);
				buf_printf(&out, "ERR %s: %s\n", mf_errcode_name(err.code),
					   err.msg);
				failed = true;
				break;
			}
			if (res == IMAP_PARSE_COMPLETE) {
				assert_non_null(r);
				dump_resp(&out, r);
				pending = 0;
			} else {
				assert_null(r);
				assert_int_equal(pos, n);
			}
		}
		off += n;
	}
	if (!failed && pending > 0)
		buf_puts(&out, "PARTIAL\n");
	imap_parser_free(&p);
	assert_null(p);
	buf_free(&ctx.data);
	return buf_steal(&out);
}

/* Parse in every mode; all renderings must agree. Returns the rendering. */
static char *run_opt(const char *in, size_t len, const struct run_opts *o)
{
	char *ref = run_mode(in, len, o, MODE_ALL, 0);
	static const int modes[] = {MODE_BYTE,	 MODE_TWO,    MODE_RANDOM, MODE_RANDOM,
				    MODE_RANDOM, MODE_RANDOM, MODE_RANDOM};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char *got = run_mode(in, len, o, modes[i], 0x9e3779b9u * (uint32_t)(i + 1));

		if (strcmp(ref, got) != 0)
			fail_msg("mode %zu differs:\nall at once:\n%s\nchunked:\n%s", i, ref, got);
		free(got);
	}
	return ref;
}

static const struct run_opts default_opts;

static void expect_opt(const char *in, size_t len, const struct run_opts *o, const char *want)
{
	char *got = run_opt(in, len, o);

	if (strcmp(got, want) != 0)
		fail_msg("input:\n%.*s\nwant:\n%s\ngot:\n%s", (int)len, in, want, got);
	free(got);
}

#define EXPECT(in, want) expect_opt((in), sizeof(in) - 1, &default_opts, (want))
#define EXPECT_OPT(in, o, want) expect_opt((in), sizeof(in) - 1, (o), (want))

/* The error line of a rendering must start with prefix. */
static void expect_err(const char *in, size_t len, const struct run_opts *o, const char *prefix)
{
	char *got = run_opt(in, len, o != NULL ? o : &default_opts);
	const char *e = strstr(got, "ERR ");

	if (e == NULL || strncmp(e, prefix, strlen(prefix)) != 0)
		fail_msg("input:\n%.*s\nwant error starting \"%s\", got:\n%s", (int)len, in, prefix,
			 got);
	free(got);
}

#define EXPECT_ERR(in, prefix) expect_err((in), sizeof(in) - 1, NULL, (prefix))

/* ---- tests ------------------------------------------------------------------- */

static void test_greetings(void **state)
{
	(void)state;
	EXPECT("* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
	       "LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n",
	       "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
	       "LITERAL+ AUTH=PLAIN] text=Dovecot ready.\n");
	EXPECT("* OK IMAP4rev1 Service Ready\r\n", "* OK text=IMAP4rev1 Service Ready\n");
	EXPECT("* PREAUTH IMAP4rev1 server logged in as Smith\r\n",
	       "* PREAUTH text=IMAP4rev1 server logged in as Smith\n");
	EXPECT("* BYE Autologout; idle for too long\r\n",
	       "* BYE text=Autologout; idle for too long\n");
	EXPECT("* ok lower case\r\n", "* OK text=lower case\n");
	EXPECT("* OK\r\n", "* OK text=\n");
	EXPECT("* OK \r\n", "* OK text=\n");
	EXPECT("* BYE\r\n", "* BYE text=\n");
}

static void test_tagged(void **state)
{
	(void)state;
	EXPECT("A1 OK LOGIN completed\r\n", "A1 OK text=LOGIN completed\n");
	EXPECT("a002 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
	       "a002 NO [AUTHENTICATIONFAILED] text=Authentication failed.\n");
	EXPECT("A3 BAD Command unknown\r\n", "A3 BAD text=Command unknown\n");
	EXPECT("A4 OK\r\n", "A4 OK text=\n");
	EXPECT("A5 bye now\r\n", "A5 BYE text=now\n");
	EXPECT("A6 PREAUTH x\r\n", "A6 PREAUTH text=x\n");
	/* Text may hold anything, including brackets, parens, quotes, braces. */
	EXPECT("A7 OK done [really] (sure) \"q {5}\r\n",
	       "A7 OK text=done [really] (sure) \"q {5}\n");
	EXPECT("* OK text with {12}\r\n", "* OK text=text with {12}\n");
	EXPECT("A8 OK 8bit \xc3\xa9t\xc3\xa9\r\n", "A8 OK text=8bit \\xC3\\xA9t\\xC3\\xA9\n");
	EXPECT("A9 OK[READ-WRITE] no space\r\n", "A9 OK [READ-WRITE] text=no space\n");
}

static void test_response_codes(void **state)
{
	(void)state;
	EXPECT("* OK [PERMANENTFLAGS (\\Seen \\Answered \\*)] Limited\r\n",
	       "* OK [PERMANENTFLAGS (\\\\Seen \\\\Answered \\\\*)] text=Limited\n");
	EXPECT("* OK [UIDVALIDITY 1] UIDs valid\r\n", "* OK [UIDVALIDITY 1] text=UIDs valid\n");
	EXPECT("* OK [UIDNEXT 4392] Predicted next UID\r\n",
	       "* OK [UIDNEXT 4392] text=Predicted next UID\n");
	EXPECT("A3 OK [APPENDUID 38505 3955] APPEND completed\r\n",
	       "A3 OK [APPENDUID 38505 3955] text=APPEND completed\n");
	EXPECT("A4 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
	       "A4 OK [COPYUID 38505 304,319:320 3956:3958] text=Done\n");
	EXPECT("A5 NO [BADCHARSET (UTF-8 \"US-ASCII\")] charset\r\n",
	       "A5 NO [BADCHARSET (UTF-8 \"US-ASCII\")] text=charset\n");
	EXPECT("* OK [ALERT] System shutdown in 10 minutes\r\n",
	       "* OK [ALERT] text=System shutdown in 10 minutes\n");
	EXPECT("* OK [ALERT]\r\n", "* OK [ALERT] text=\n");
	EXPECT("A6 OK [read-only] lower-case code\r\n", "A6 OK [READ-ONLY] text=lower-case code\n");
	EXPECT("* NO [X-UNKNOWN-CODE some thing NIL] x\r\n",
	       "* NO [X-UNKNOWN-CODE some thing NIL] text=x\n");
	EXPECT("* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
	       "* OK [HIGHESTMODSEQ 715194045007] text=Highest\n");
	EXPECT("* OK [CAPABILITY IMAP4rev1 LITERAL+]\r\n",
	       "* OK [CAPABILITY IMAP4rev1 LITERAL+] text=\n");
	EXPECT("A1 OK [ALERT]text right after\r\n", "A1 OK [ALERT] text=text right after\n");
	/* Malformed codes fall back to text. */
	EXPECT("* OK [UNBALANCED (x] text\r\n", "* OK text=[UNBALANCED (x] text\n");
	EXPECT("* OK [NOCLOSE text\r\n", "* OK text=[NOCLOSE text\n");
	EXPECT("* OK [] empty\r\n", "* OK text=[] empty\n");
	EXPECT("* OK [X \"unterminated] y\r\n", "* OK text=[X \"unterminated] y\n");
	EXPECT("* OK [X {5}]\r\n", "* OK text=[X {5}]\n");
	EXPECT("* OK [X (a))] y\r\n", "* OK text=[X (a))] y\n");
	EXPECT("* OK [FOO(bar)] y\r\n", "* OK text=[FOO(bar)] y\n");
}

static void test_continuation(void **state)
{
	(void)state;
	EXPECT("+ Ready for literal data\r\n", "+ text=Ready for literal data\n");
	EXPECT("+\r\n", "+ text=\n");
	EXPECT("+ \r\n", "+ text=\n");
	EXPECT("+\n", "+ text=\n");
	EXPECT("+ dXNlcm5hbWU6AA==\r\n", "+ text=dXNlcm5hbWU6AA==\n");
	EXPECT("+ [ALERT] go ahead\r\n", "+ [ALERT] text=[ALERT] go ahead\n");
	EXPECT("+go\r\n", "+ text=go\n");
}

static void test_untagged_data(void **state)
{
	(void)state;
	EXPECT("* 3 EXISTS\r\n", "* 3 EXISTS\n");
	EXPECT("* 0 RECENT\r\n", "* 0 RECENT\n");
	EXPECT("* 4294967295 EXPUNGE\r\n", "* 4294967295 EXPUNGE\n");
	EXPECT("* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n",
	       "* CAPABILITY IMAP4rev1 STARTTLS AUTH=GSSAPI LOGINDISABLED\n");
	EXPECT("* capability imap4rev1\r\n", "* CAPABILITY imap4rev1\n");
	EXPECT("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n",
	       "* FLAGS (\\\\Answered \\\\Flagged \\\\Deleted \\\\Seen \\\\Draft $Forwarded)\n");
	EXPECT("* SEARCH 2 84 882\r\n", "* SEARCH 2 84 882\n");
	EXPECT("* SEARCH\r\n", "* SEARCH\n");
	EXPECT("* ESEARCH (TAG \"A282\") UID MIN 2 COUNT 3\r\n",
	       "* ESEARCH (TAG \"A282\") UID MIN 2 COUNT 3\n");
	EXPECT("* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n",
	       "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\n");
	EXPECT("* NAMESPACE ((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\"))\r\n",
	       "* NAMESPACE ((\"\" \"/\")) NIL ((\"Public Folders/\" \"/\"))\n");
	EXPECT("* ID (\"name\" \"Dovecot\" \"version\" nil)\r\n",
	       "* ID (\"name\" \"Dovecot\" \"version\" NIL)\n");
	EXPECT("* ENABLED CONDSTORE QRESYNC\r\n", "* ENABLED CONDSTORE QRESYNC\n");
	EXPECT("* VANISHED (EARLIER) 41,43:116\r\n", "* VANISHED (EARLIER) 41,43:116\n");
	/* Liberal spacing. */
	EXPECT("* FLAGS(\\Seen)\r\n", "* FLAGS (\\\\Seen)\n");
	EXPECT("* X  a   b  \r\n", "* X a b\n");
	EXPECT("* X (a)(b)\"c\"d\r\n", "* X (a) (b) \"c\" d\n");
	EXPECT("* X ()\r\n", "* X ()\n");
	/* A number that is not followed by a keyword is the keyword. */
	EXPECT("* 3\r\n", "* 3\n");
}

static void test_list(void **state)
{
	(void)state;
	EXPECT("* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n",
	       "* LIST (\\\\Noselect) \"/\" ~/Mail/foo\n");
	EXPECT("* LIST (\\HasNoChildren) NIL INBOX\r\n", "* LIST (\\\\HasNoChildren) NIL INBOX\n");
	EXPECT("* LIST (\\HasNoChildren) nIl \"INBOX\"\r\n",
	       "* LIST (\\\\HasNoChildren) NIL \"INBOX\"\n");
	EXPECT("* LIST (\\HasChildren \\Trash) \".\" \"INBOX.Deleted Items\"\r\n",
	       "* LIST (\\\\HasChildren \\\\Trash) \".\" \"INBOX.Deleted Items\"\n");
	EXPECT("* LIST () \"/\" \"a \\\"quoted\\\" \\\\ name\"\r\n",
	       "* LIST () \"/\" \"a \"quoted\" \\\\ name\"\n");
	EXPECT("* LIST () \"\\\\\" Entw&APw-rfe\r\n", "* LIST () \"\\\\\" Entw&APw-rfe\n");
	EXPECT("* LIST () \"/\" {11}\r\nSent Items\xff\r\n",
	       "* LIST () \"/\" {11}Sent Items\\xFF\n");
	EXPECT("* LIST (\\Sent) \"/\" \"Gesendete Objekte\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n",
	       "* LIST (\\\\Sent) \"/\" \"Gesendete Objekte\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\n");
	/* Unknown escapes keep the backslash; 8-bit bytes are data. */
	EXPECT("* LIST () \"/\" \"a\\b \xc3\xa9\"\r\n", "* LIST () \"/\" \"a\\\\b \\xC3\\xA9\"\n");
	/* A "[" without "]" is an ordinary atom character. */
	EXPECT("* FLAGS (foo[bar \\Seen)\r\n", "* FLAGS (foo[bar \\\\Seen)\n");
	EXPECT("* X a]b\r\n", "* X a]b\n");
}

static void test_fetch(void **state)
{
	(void)state;
	EXPECT("* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
	       "RFC822.SIZE 4286 UID 1234 MODSEQ (12121231000))\r\n",
	       "* 12 FETCH (FLAGS (\\\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" "
	       "RFC822.SIZE 4286 UID 1234 MODSEQ (12121231000))\n");
	EXPECT(
	    "* 12 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7BIT\" 1152 23)(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
	    "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) "
	    "\"MIXED\"))\r\n",
	    "* 12 FETCH (BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL "
	    "\"7BIT\" 1152 23) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\" \"NAME\" \"cc.diff\") "
	    "\"<960723163407.20117h@cac.washington.edu>\" \"Compiler diff\" \"BASE64\" 4554 73) "
	    "\"MIXED\"))\n");
	EXPECT("* 1 FETCH (UID 7 BODY[HEADER.FIELDS (DATE FROM)]<0> {5}\r\nab\r\nc)\r\n",
	       "* 1 FETCH (UID 7 BODY[HEADER.FIELDS (DATE FROM)]<0> {5}ab\\x0D\\x0Ac)\n");
	EXPECT(
	    "* 1 FETCH (BODY[1.2.MIME] \"x\" BINARY[1] ~{3}\r\n\x00\x01\x02 BINARY.SIZE[1] 3)\r\n",
	    "* 1 FETCH (BODY[1.2.MIME] \"x\" BINARY[1] ~{3}\\x00\\x01\\x02 BINARY.SIZE[1] 3)\n");
	EXPECT("* 2 FETCH (BODY[] {0}\r\n UID 3)\r\n", "* 2 FETCH (BODY[] {0} UID 3)\n");
	EXPECT("* 2 FETCH (BODY[] {0}\r\n)\r\n", "* 2 FETCH (BODY[] {0})\n");
	EXPECT("* 2 FETCH (BODY[TEXT] {4+}\r\nabcd)\r\n", "* 2 FETCH (BODY[TEXT] {4}abcd)\n");
	/* Two literals, NULs and line ends inside, a literal right before ")". */
	EXPECT("* 3 FETCH (BODY[HEADER] {6}\r\nA\0\r\n\0\n BODY[TEXT] {2}\r\n\r\n)\r\n",
	       "* 3 FETCH (BODY[HEADER] {6}A\\x00\\x0D\\x0A\\x00\\x0A BODY[TEXT] {2}\\x0D\\x0A)\n");
	/* A literal as the last arg of a top-level. */
	EXPECT("* X {3}\r\nabc\r\n", "* X {3}abc\n");
	EXPECT("* X {3}\r\nabc {2}\r\nde\r\n", "* X {3}abc {2}de\n");
	EXPECT("* X ~{1}\r\n\xff\r\n", "* X ~{1}\\xFF\n");
	EXPECT(
	    "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
	    "\"IMAP4rev1 WG mtg summary\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "NIL NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\"))\r\n",
	    "* 1 FETCH (ENVELOPE (\"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\" "
	    "\"IMAP4rev1 WG mtg summary\" ((\"Terry Gray\" NIL \"gray\" \"cac.washington.edu\")) "
	    "NIL NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\"))\n");
}

static void test_bare_lf(void **state)
{
	(void)state;
	EXPECT("* OK hi\n", "* OK text=hi\n");
	EXPECT("* 1 FETCH (BODY[] {3}\nabc)\n", "* 1 FETCH (BODY[] {3}abc)\n");
	EXPECT("* OK a\r\r\n", "* OK text=a\\x0D\n");
	EXPECT("A1 OK x\nA2 NO y\r\n* 1 EXISTS\n", "A1 OK text=x\nA2 NO text=y\n* 1 EXISTS\n");
}

static void test_multiple_responses(void **state)
{
	static const char in[] = "* 1 EXISTS\r\n* OK [UIDNEXT 5] x\r\nA1 OK done\r\n* 2 EX";
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	const struct imap_response *r;
	struct mf_error err;
	size_t used, off = 0;

	(void)state;
	assert_int_equal(imap_parser_feed(p, in, sizeof(in) - 1, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(used, 12);
	assert_int_equal(r->number, 1);
	assert_string_equal(r->keyword, "EXISTS");
	off += used;
	assert_int_equal(imap_parser_feed(p, in + off, sizeof(in) - 1 - off, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(used, 20);
	assert_string_equal(r->code, "UIDNEXT");
	assert_int_equal(r->code_args_count, 1);
	assert_true(imap_arg_is_atom(&r->code_args[0], "5"));
	off += used;
	assert_int_equal(imap_parser_feed(p, in + off, sizeof(in) - 1 - off, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(r->kind, IMAP_RESP_TAGGED);
	assert_string_equal(r->tag, "A1");
	off += used;
	assert_int_equal(imap_parser_feed(p, in + off, sizeof(in) - 1 - off, &used, &r, &err),
			 IMAP_PARSE_NEED_MORE);
	assert_int_equal(used, 6);
	assert_null(r);
	assert_int_equal(imap_parser_feed(p, "ISTS\r\n", 6, &used, &r, &err), IMAP_PARSE_COMPLETE);
	assert_int_equal(r->number, 2);
	assert_string_equal(r->keyword, "EXISTS");
	/* Feeding nothing after a response is fine. */
	assert_int_equal(imap_parser_feed(p, "", 0, &used, &r, &err), IMAP_PARSE_NEED_MORE);
	assert_int_equal(used, 0);
	imap_parser_free(&p);
	imap_parser_free(&p);
}

static void test_limits(void **state)
{
	struct run_opts o = {0};
	char *big;

	(void)state;
	/* max_line counts every byte outside literals, CRLF included. */
	o.lim.max_line = 12;
	EXPECT_OPT("* OK 12345\r\n", &o, "* OK text=12345\n");
	EXPECT_OPT("* OK 123456\r\n", &o,
		   "ERR limit: IMAP response exceeds the line limit of 12 bytes\n");
	EXPECT_OPT("* OK 12345\r\n* OK 12345\r\n", &o, "* OK text=12345\n* OK text=12345\n");
	o.lim.max_line = 20;
	EXPECT_OPT("* X {30}\r\n123456789012345678901234567890 Y\r\n", &o,
		   "* X {30}123456789012345678901234567890 Y\n");
	EXPECT_OPT("* X {1}\r\n1 {1}\r\n2 {1}\r\n3\r\n", &o,
		   "ERR limit: IMAP response exceeds the line limit of 20 bytes\n");
	/* A line with no LF at all stops at the limit, not at the end of input. */
	big = xmalloc(4096);
	memset(big, 'a', 4096);
	memcpy(big, "* X ", 4);
	expect_opt(big, 4096, &o, "ERR limit: IMAP response exceeds the line limit of 20 bytes\n");
	free(big);

	o.lim.max_line = 0;
	o.lim.max_literal = 10;
	EXPECT_OPT("* X {10}\r\n0123456789\r\n", &o, "* X {10}0123456789\n");
	EXPECT_OPT("* X {11}\r\n0123456789a\r\n", &o,
		   "ERR limit: IMAP literal of 11 bytes exceeds the limit of 10\n");
	EXPECT_OPT(
	    "* X ~{18446744073709551615}\r\n", &o,
	    "ERR limit: IMAP literal of 18446744073709551615 bytes exceeds the limit of 10\n");

	o.lim.max_literal = 0;
	o.lim.max_depth = 3;
	EXPECT_OPT("* X (((a)))\r\n", &o, "* X (((a)))\n");
	EXPECT_OPT("* X ((((a))))\r\n", &o, "ERR limit: IMAP response nests lists deeper than 3\n");
	/* Too deep inside a response code: the code is text. */
	EXPECT_OPT("* OK [X ((((a))))] t\r\n", &o, "* OK text=[X ((((a))))] t\n");
}

static void test_default_depth(void **state)
{
	char in[300];
	size_t n = 0;

	(void)state;
	memcpy(in, "* X ", 4);
	n = 4;
	for (int i = 0; i < 65; i++)
		in[n++] = '(';
	for (int i = 0; i < 65; i++)
		in[n++] = ')';
	in[n++] = '\r';
	in[n++] = '\n';
	expect_err(in, n, NULL, "ERR limit:");
	/* 64 levels are fine. */
	memmove(in + 4, in + 5, n - 5);
	memmove(in + 4 + 64, in + 4 + 65, n - 5 - 65);
	n -= 2;
	{
		char *got = run_opt(in, n, &default_opts);

		assert_null(strstr(got, "ERR"));
		free(got);
	}
}

static void test_malformed(void **state)
{
	(void)state;
	EXPECT_ERR("* LIST () \"/ INBOX\r\n",
		   "ERR protocol: IMAP parse error: unterminated quoted string");
	EXPECT_ERR("* LIST () \"/\\\"\r\n",
		   "ERR protocol: IMAP parse error: unterminated quoted string");
	EXPECT_ERR("* X {abc}\r\n", "ERR protocol: IMAP parse error: bad literal size");
	EXPECT_ERR("* X {}\r\n", "ERR protocol: IMAP parse error: bad literal size");
	EXPECT_ERR("* X {5\r\n", "ERR protocol: IMAP parse error: bad literal size");
	EXPECT_ERR("* X {-5}\r\n", "ERR protocol: IMAP parse error: bad literal size");
	EXPECT_ERR("* X {5}x\r\n", "ERR protocol: IMAP parse error: data after literal size");
	EXPECT_ERR("* X {5} \r\n", "ERR protocol: IMAP parse error: data after literal size");
	EXPECT_ERR("* X {99999999999999999999999}\r\n",
		   "ERR protocol: IMAP parse error: literal size too large");
	EXPECT_ERR("* X {18446744073709551616}\r\n",
		   "ERR protocol: IMAP parse error: literal size too large");
	EXPECT_ERR("A1 FOO bar\r\n",
		   "ERR protocol: IMAP parse error: expected OK, NO or BAD after tag");
	EXPECT_ERR("A1 OKAY\r\n",
		   "ERR protocol: IMAP parse error: expected OK, NO or BAD after tag");
	EXPECT_ERR("A1\r\n", "ERR protocol: IMAP parse error: missing status after tag");
	EXPECT_ERR(" OK hello\r\n", "ERR protocol: IMAP parse error: missing tag");
	EXPECT_ERR("A(1 OK\r\n", "ERR protocol: IMAP parse error: invalid character in tag");
	EXPECT_ERR("\r\n", "ERR protocol: IMAP parse error: empty response line");
	EXPECT_ERR("*OK\r\n", "ERR protocol: IMAP parse error: expected space after \"*\"");
	EXPECT_ERR("*\r\n", "ERR protocol: IMAP parse error: expected space after \"*\"");
	EXPECT_ERR("* \r\n", "ERR protocol: IMAP parse error: missing response keyword");
	EXPECT_ERR("* 1 \r\n", "ERR protocol: IMAP parse error: missing response keyword");
	EXPECT_ERR("* 4294967296 EXISTS\r\n", "ERR protocol: IMAP parse error: number too large");
	EXPECT_ERR("* X a)\r\n", "ERR protocol: IMAP parse error: unexpected \")\"");
	EXPECT_ERR("* X (a\r\n", "ERR protocol: IMAP parse error: missing \")\"");
	EXPECT_ERR("* 1 FETCH (BODY[] {1}\r\nx\r\n",
		   "ERR protocol: IMAP parse error: missing \")\"");
	EXPECT_ERR("* X a\0b\r\n", "ERR protocol: IMAP parse error: NUL byte outside a literal");
	/* A good response before the bad one is still delivered. */
	EXPECT("* 1 EXISTS\r\nA1 XX\r\n",
	       "* 1 EXISTS\nERR protocol: IMAP parse error: expected OK, NO or BAD after tag "
	       "in \"A1 XX\"\n");
	/* Incomplete input is just incomplete. */
	EXPECT("* 1 FETCH (BODY[] {10}\r\nabc", "PARTIAL\n");
}

static void test_error_excerpt(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	const struct imap_response *r;
	struct mf_error err;
	struct buf in = BUF_INIT;
	const char *q1, *q2;
	size_t used;

	(void)state;
	buf_puts(&in, "* LIST () \"/\" ");
	for (int i = 0; i < 500; i++)
		buf_puts(&in, "\x01\xff"
			      "abc ");
	buf_puts(&in, "\"unterminated\r\n");
	assert_int_equal(imap_parser_feed(p, in.data, in.len, &used, &r, &err), IMAP_PARSE_ERROR);
	assert_int_equal(err.code, MF_EPROTO);
	q1 = strchr(err.msg, '"');
	q2 = strrchr(err.msg, '"');
	assert_non_null(q1);
	assert_true(q2 > q1);
	assert_true(q2 - q1 - 1 <= 80);
	assert_non_null(strstr(err.msg, "abc \"unterminated\""));
	assert_non_null(strstr(err.msg, "in \"..."));
	for (const char *c = err.msg; *c != '\0'; c++)
		assert_true(*c >= 0x20 && *c < 0x7f);
	assert_non_null(strstr(err.msg, "..abc .."));

	/* The parser stays in error until reset, then works again. */
	mf_error_clear(&err);
	assert_int_equal(imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &used, &r, &err),
			 IMAP_PARSE_ERROR);
	assert_int_equal(err.code, MF_EPROTO);
	assert_int_equal(used, 0);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, "* 1 EXISTS\r\n", 12, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(err.code, 0);
	assert_int_equal(used, 12);
	/* Reset in the middle of a response forgets it. */
	assert_int_equal(imap_parser_feed(p, "* 1 FETCH (BODY[] {100}\r\nabc", 28, &used, &r, &err),
			 IMAP_PARSE_NEED_MORE);
	imap_parser_reset(p);
	assert_int_equal(imap_parser_feed(p, "A1 OK x\r\n", 9, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	assert_string_equal(r->tag, "A1");
	buf_free(&in);
	imap_parser_free(&p);
}

static void test_streaming(void **state)
{
	struct run_opts o = {0};

	(void)state;
	o.stream = true;
	o.accept = true;
	o.lim.stream_threshold = 4;
	o.lim.max_literal = 5; /* streamed literals are not bound by it */
	EXPECT_OPT("* 1 FETCH (UID 9 BODY[] {10}\r\n01\r\n4\x00"
		   "6789 BODY[HEADER] {3}\r\nabc)\r\n"
		   "* 2 FETCH (BINARY[] ~{4}\r\n\xff\xfe\x00\x01)\r\n",
		   &o,
		   "stream BODY[] 10: 01\\x0D\\x0A4\\x006789\n"
		   "* 1 FETCH (UID 9 BODY[] {10*} BODY[HEADER] {3}abc)\n"
		   "stream BINARY[] 4: \\xFF\\xFE\\x00\\x01\n"
		   "* 2 FETCH (BINARY[] ~{4*})\n");
	/* The keyword is the atom just before the literal, or NULL. */
	EXPECT_OPT("* LIST () \"/\" {4}\r\nabcd\r\n", &o,
		   "stream - 4: abcd\n* LIST () \"/\" {4*}\n");
	/* Refused: buffered, and then max_literal applies. */
	o.accept = false;
	EXPECT_OPT("* 1 FETCH (BODY[] {5}\r\nabcde)\r\n", &o, "* 1 FETCH (BODY[] {5}abcde)\n");
	EXPECT_OPT("* 1 FETCH (BODY[] {6}\r\nabcdef)\r\n", &o,
		   "ERR limit: IMAP literal of 6 bytes exceeds the limit of 5\n");
	/* Abort from literal_data. */
	o.accept = true;
	o.abort_at = 5;
	EXPECT_OPT("* 1 FETCH (BODY[] {10}\r\n0123456789)\r\n", &o,
		   "ERR closed: IMAP literal consumer aborted (closed)\n");
}

/* A big literal in socket-sized chunks streams and buffers correctly. */
static void test_big_literal(void **state)
{
	const size_t size = 8 * 1024 * 1024, chunk = 65536;
	struct buf in = BUF_INIT;
	struct imap_parser *p;
	struct stream_ctx ctx = {0};
	struct buf out = BUF_INIT;
	struct imap_parser_limits lim = {.stream_threshold = 1024 * 1024};

	(void)state;
	ctx.out = &out;
	ctx.accept = true;
	buf_printf(&in, "* 7 FETCH (UID 70 BODY[] {%zu}\r\n", size);
	for (size_t i = 0; i < size; i++)
		buf_putc(&in, (char)(i * 7 + (i >> 11)));
	buf_puts(&in, " FLAGS (\\Seen))\r\n");

	for (int pass = 0; pass < 2; pass++) {
		size_t off = 0, used;
		const struct imap_response *r = NULL;
		struct mf_error err;
		enum imap_parse_result res = IMAP_PARSE_NEED_MORE;

		p = imap_parser_new(pass == 0 ? &lim : NULL, &stream_cbs, &ctx);
		while (off < in.len) {
			size_t n = in.len - off < chunk ? in.len - off : chunk;

			res = imap_parser_feed(p, in.data + off, n, &used, &r, &err);
			assert_int_not_equal(res, IMAP_PARSE_ERROR);
			off += used;
		}
		assert_int_equal(res, IMAP_PARSE_COMPLETE);
		assert_int_equal(r->args_count, 1);
		assert_int_equal(r->args[0].list_count, 6);
		assert_int_equal(r->args[0].list[3].literal_size, size);
		if (pass == 0) {
			assert_int_equal(r->args[0].list[3].type, IMAP_ARG_LITERAL_STREAMED);
			assert_int_equal(ctx.data.len, size);
			assert_memory_equal(ctx.data.data, strchr(in.data, '\n') + 1, size);
		} else {
			assert_int_equal(r->args[0].list[3].type, IMAP_ARG_LITERAL);
			assert_memory_equal(r->args[0].list[3].data, strchr(in.data, '\n') + 1,
					    size);
		}
		imap_parser_free(&p);
	}
	buf_free(&ctx.data);
	buf_free(&out);
	buf_free(&in);
}

/* Many responses through one parser: the arena is recycled. */
static void test_many_responses(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	struct buf in = BUF_INIT;
	size_t off = 0, used, count = 0;

	(void)state;
	for (int i = 1; i <= 20000; i++)
		buf_printf(
		    &in,
		    "* %d FETCH (UID %d FLAGS (\\Seen $Label%d) BODY[HEADER] {%d}\r\n%0*d)\r\n", i,
		    i + 100, i, i % 50 + 1, i % 50 + 1, 0);
	while (off < in.len) {
		const struct imap_response *r;
		struct mf_error err;

		assert_int_equal(imap_parser_feed(p, in.data + off, in.len - off, &used, &r, &err),
				 IMAP_PARSE_COMPLETE);
		off += used;
		count++;
		assert_int_equal(r->number, count);
		assert_int_equal(r->args[0].list[5].len, count % 50 + 1);
	}
	assert_int_equal(count, 20000);
	buf_free(&in);
	imap_parser_free(&p);
}

/* Pathological lines finish in linear time. */
static void test_pathological_lines(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	const struct imap_response *r;
	struct mf_error err;
	struct buf in = BUF_INIT;
	size_t used;

	(void)state;
	buf_puts(&in, "* X ");
	for (int i = 0; i < 400000; i++)
		buf_puts(&in, "[ ");
	buf_puts(&in, "\r\n");
	assert_int_equal(imap_parser_feed(p, in.data, in.len, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(r->args_count, 400000);
	buf_reset(&in);
	buf_puts(&in, "* X ");
	for (int i = 0; i < 100000; i++)
		buf_puts(&in, "a[b(c ");
	buf_puts(&in, "]\r\n");
	assert_int_equal(imap_parser_feed(p, in.data, in.len, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	assert_int_equal(r->args_count, 1);
	buf_free(&in);
	imap_parser_free(&p);
}

static void test_helpers(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL, NULL, NULL);
	static const char in[] =
	    "* 5 FETCH (uid 18446744073709551615 X 18446744073709551616 Y \"42\" "
	    "Z NIL L () B {2}\r\n12 E \"\" F 12a)\r\n";
	const struct imap_response *r;
	const struct imap_arg *l;
	struct mf_error err;
	uint64_t n = 0;
	size_t used;

	(void)state;
	assert_int_equal(imap_parser_feed(p, in, sizeof(in) - 1, &used, &r, &err),
			 IMAP_PARSE_COMPLETE);
	l = r->args[0].list;
	assert_int_equal(r->args[0].list_count, 16);
	assert_true(imap_arg_is_atom(&l[0], "UID"));
	assert_false(imap_arg_is_atom(&l[0], "UI"));
	assert_false(imap_arg_is_atom(&l[0], "UIDS"));
	assert_false(imap_arg_is_atom(&l[5], "42"));
	assert_false(imap_arg_is_atom(&l[7], "NIL"));
	assert_false(imap_arg_is_atom(NULL, "X"));
	assert_true(imap_arg_number(&l[1], &n));
	assert_true(n == UINT64_MAX);
	assert_false(imap_arg_number(&l[3], &n));
	assert_true(imap_arg_number(&l[5], &n));
	assert_true(n == 42);
	assert_false(imap_arg_number(&l[7], &n));
	assert_false(imap_arg_number(&l[13], &n));
	assert_false(imap_arg_number(&l[15], &n));
	assert_false(imap_arg_number(&l[0], &n));
	assert_string_equal(imap_arg_text(&l[0]), "uid");
	assert_string_equal(imap_arg_text(&l[5]), "42");
	assert_null(imap_arg_text(&l[7]));
	assert_null(imap_arg_text(&l[9]));
	assert_string_equal(imap_arg_text(&l[11]), "12");
	assert_string_equal(imap_arg_text(&l[13]), "");
	assert_int_equal(l[9].type, IMAP_ARG_LIST);
	assert_int_equal(l[9].list_count, 0);
	imap_parser_free(&p);
}

/* Lone and empty brackets in atoms. */
static void test_bracket_edge_cases(void **state)
{
	(void)state;
	EXPECT("* X [\r\n", "* X [\n");
	EXPECT("* X a[]\r\n", "* X a[]\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greetings),
	    cmocka_unit_test(test_tagged),
	    cmocka_unit_test(test_response_codes),
	    cmocka_unit_test(test_continuation),
	    cmocka_unit_test(test_untagged_data),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_fetch),
	    cmocka_unit_test(test_bare_lf),
	    cmocka_unit_test(test_multiple_responses),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_default_depth),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_error_excerpt),
	    cmocka_unit_test(test_streaming),
	    cmocka_unit_test(test_big_literal),
	    cmocka_unit_test(test_many_responses),
	    cmocka_unit_test(test_pathological_lines),
	    cmocka_unit_test(test_helpers),
	    cmocka_unit_test(test_bracket_edge_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
