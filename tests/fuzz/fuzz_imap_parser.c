/* libFuzzer target for the IMAP response parser (and mUTF-7 on the way).
 *
 * Input: byte 0 picks the chunking, byte 1 the limits and streaming
 * behaviour, the rest is server output. The input is parsed twice, once in
 * chunks and once all at once; every response is rendered (touching every
 * arg) and the two renderings must be identical. Strings that decode as
 * modified UTF-7 must survive encode + decode.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/imap/imap-parser.h"
#include "proto/imap/mutf7.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ctx {
	struct buf *out;
	bool accept;
	bool in_literal;
	size_t abort_at;
	size_t total;
	uint64_t size, got;
	uint32_t hash;
};

static void fuzz_hash(uint32_t *h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		*h = (*h ^ p[i]) * 16777619u;
}

static bool fuzz_begin(void *vctx, const char *keyword, uint64_t size)
{
	struct fuzz_ctx *c = vctx;

	if (c->in_literal)
		abort();
	buf_printf(c->out, "begin %s %llu\n", keyword != NULL ? keyword : "-",
		   (unsigned long long)size);
	if (!c->accept)
		return false;
	c->in_literal = true;
	c->size = size;
	c->got = 0;
	c->hash = 2166136261u;
	return true;
}

static int fuzz_data(void *vctx, const void *data, size_t len)
{
	struct fuzz_ctx *c = vctx;

	if (!c->in_literal || len == 0 || c->got + len > c->size)
		abort();
	fuzz_hash(&c->hash, data, len);
	c->got += len;
	c->total += len;
	if (c->abort_at != 0 && c->total >= c->abort_at)
		return MF_EIO;
	return 0;
}

static void fuzz_end(void *vctx)
{
	struct fuzz_ctx *c = vctx;

	if (!c->in_literal || c->got != c->size)
		abort();
	c->in_literal = false;
	buf_printf(c->out, "end %08x\n", c->hash);
}

static void fuzz_mutf7(const char *s)
{
	struct mf_error err;
	char *dec, *enc, *again;

	dec = mutf7_decode(s, &err);
	if (dec == NULL)
		return;
	enc = mutf7_encode(dec, &err);
	if (enc == NULL)
		abort();
	again = mutf7_decode(enc, &err);
	if (again == NULL || strcmp(again, dec) != 0)
		abort();
	free(again);
	free(enc);
	free(dec);
}

static void fuzz_arg(struct buf *b, const struct imap_arg *a)
{
	uint64_t n;

	buf_printf(b, " %d:", (int)a->type);
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_STRING:
	case IMAP_ARG_LITERAL:
		if (a->data[a->len] != '\0' || imap_arg_text(a) != a->data)
			abort();
		buf_printf(b, "%zu:", a->len);
		buf_append(b, a->data, a->len);
		if (a->type == IMAP_ARG_LITERAL && (a->literal_size != a->len))
			abort();
		if (imap_arg_number(a, &n))
			buf_printf(b, "#%llu", (unsigned long long)n);
		if (imap_arg_is_atom(a, "BODY[]"))
			buf_puts(b, "!");
		if (a->len < 200 && strlen(a->data) == a->len)
			fuzz_mutf7(a->data);
		break;
	case IMAP_ARG_LITERAL_STREAMED:
		buf_printf(b, "%llu%s", (unsigned long long)a->literal_size, a->binary ? "b" : "");
		break;
	case IMAP_ARG_NIL:
		if (imap_arg_text(a) != NULL)
			abort();
		break;
	case IMAP_ARG_LIST:
		if (imap_arg_text(a) != NULL)
			abort();
		buf_printf(b, "(%zu", a->list_count);
		for (size_t i = 0; i < a->list_count; i++)
			fuzz_arg(b, &a->list[i]);
		buf_putc(b, ')');
		break;
	default:
		abort();
	}
	if (a->type == IMAP_ARG_LITERAL && a->binary)
		buf_putc(b, 'b');
}

static void fuzz_resp(struct buf *b, const struct imap_response *r)
{
	if (r->text == NULL)
		abort();
	buf_printf(b, "resp %d %s %d ", (int)r->kind, r->tag != NULL ? r->tag : "-",
		   (int)r->status);
	if (r->code != NULL) {
		buf_printf(b, "[%s", r->code);
		for (size_t i = 0; i < r->code_args_count; i++)
			fuzz_arg(b, &r->code_args[i]);
		buf_puts(b, "] ");
	}
	buf_printf(b, "{%s} %d %u %s", r->text, r->has_number, r->number,
		   r->keyword != NULL ? r->keyword : "-");
	for (size_t i = 0; i < r->args_count; i++)
		fuzz_arg(b, &r->args[i]);
	buf_putc(b, '\n');
}

/* Parse in chunks chosen by mode, or all at once; renders into *out. */
static void fuzz_run(struct buf *out, const uint8_t *in, size_t len, uint8_t mode, uint8_t cfg,
		     bool all_at_once)
{
	static const size_t line_limits[] = {0, 16, 64, 300};
	static const uint64_t lit_limits[] = {0, 0, 4, 100};
	static const size_t depth_limits[] = {0, 2, 5, 1};
	static const uint64_t thresholds[] = {0, 1, 3, 50};
	struct imap_parser_limits lim = {
	    .max_line = line_limits[cfg & 3],
	    .max_literal = lit_limits[(cfg >> 2) & 3],
	    .max_depth = depth_limits[(cfg >> 4) & 3],
	    .stream_threshold = thresholds[(cfg >> 6) & 3],
	};
	struct imap_parser_callbacks cbs = {fuzz_begin, fuzz_data, fuzz_end};
	struct fuzz_ctx ctx = {
	    .out = out,
	    .accept = (mode & 0x80) == 0,
	    .abort_at = (mode & 0x40) != 0 ? (size_t)(mode & 0x0f) + 1 : 0,
	};
	struct imap_parser *p = imap_parser_new(&lim, &cbs, &ctx);
	uint32_t seed = mode * 2654435761u + 1;
	size_t off = 0;

	while (off < len) {
		size_t n = len - off, pos = 0;

		if (!all_at_once) {
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			n = (mode & 0x30) == 0 ? 1 : seed % ((size_t)(mode & 0x3f) + 1) + 1;
			if (n > len - off)
				n = len - off;
		}
		while (pos < n) {
			const struct imap_response *r;
			struct mf_error err;
			size_t used;
			enum imap_parse_result res;

			res = imap_parser_feed(p, in + off + pos, n - pos, &used, &r, &err);
			if (used > n - pos)
				abort();
			pos += used;
			if (res == IMAP_PARSE_ERROR) {
				if (err.code >= 0 || strlen(err.msg) > 300)
					abort();
				buf_printf(out, "error %d %s\n", err.code, err.msg);
				imap_parser_free(&p);
				return;
			}
			if (res == IMAP_PARSE_COMPLETE)
				fuzz_resp(out, r);
			else if (pos != n || r != NULL)
				abort();
		}
		off += n;
	}
	imap_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	if (size < 2)
		return 0;
	fuzz_run(&a, data + 2, size - 2, data[0], data[1], false);
	fuzz_run(&b, data + 2, size - 2, data[0], data[1], true);
	if (a.len != b.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0)) {
		fprintf(stderr, "chunked:\n%s\nall at once:\n%s\n", buf_cstr(&a), buf_cstr(&b));
		abort();
	}
	buf_free(&a);
	buf_free(&b);
	return 0;
}
