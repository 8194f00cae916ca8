/* imap-parser.c: push parser for IMAP server responses.
 *
 * RFC 9051 section 9 and RFC 3501 section 9 (response grammar), RFC 7888
 * ({n+} literals), RFC 3516 (~{n} literal8), RFC 5530 and others (response
 * codes, kept as generic atoms and lists).
 *
 * How it works: bytes outside literals are collected one line at a time
 * (up to LF; a CR before it is dropped). A line is tokenized only once it is
 * complete, so the result never depends on how the input was split. A line
 * that ends in a literal marker "{n}" switches to literal mode: the next n
 * bytes are copied into the arena (or passed to literal_data), then line
 * collection resumes and the tokenizer carries on where it stopped, with the
 * open lists kept on a stack of growable vectors. A list's elements are
 * copied into the arena once, when it closes.
 *
 * Zero fields of struct imap_parser_limits mean "the default" (except
 * stream_threshold, where 0 means "never stream").
 */
#include "proto/imap/imap-parser.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#define IMAP_PARSER_DEF_MAX_LINE (1024 * 1024)
#define IMAP_PARSER_DEF_MAX_LITERAL (16 * 1024 * 1024)
#define IMAP_PARSER_DEF_MAX_DEPTH 64

/* ---- arena --------------------------------------------------------------- */

#define ARENA_BLOCK 8192
#define ARENA_BIG (ARENA_BLOCK / 4) /* larger requests get their own block */
#define ARENA_KEEP 4		    /* blocks kept across responses */

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	alignas(max_align_t) unsigned char data[];
};

struct arena {
	struct arena_block *cur;   /* blocks in use, newest first */
	struct arena_block *big;   /* dedicated blocks, freed on reset */
	struct arena_block *spare; /* free standard blocks */
	size_t nspare;
};

static void arena_free_list(struct arena_block *b)
{
	while (b != NULL) {
		struct arena_block *next = b->next;

		free(b);
		b = next;
	}
}

static void arena_reset(struct arena *a)
{
	arena_free_list(a->big);
	a->big = NULL;
	while (a->cur != NULL) {
		struct arena_block *b = a->cur;

		a->cur = b->next;
		if (a->nspare < ARENA_KEEP) {
			b->used = 0;
			b->next = a->spare;
			a->spare = b;
			a->nspare++;
		} else {
			free(b);
		}
	}
}

static void arena_destroy(struct arena *a)
{
	arena_reset(a);
	arena_free_list(a->spare);
	a->spare = NULL;
	a->nspare = 0;
}

/* align is 1 (strings) or alignof(struct imap_arg). */
static void *arena_alloc(struct arena *a, size_t size, size_t align)
{
	struct arena_block *b;
	size_t off;

	if (size > ARENA_BIG) {
		if (size > SIZE_MAX - sizeof(*b))
			abort();
		b = xmalloc(sizeof(*b) + size);
		b->size = b->used = size;
		b->next = a->big;
		a->big = b;
		return b->data;
	}
	b = a->cur;
	if (b != NULL) {
		off = (b->used + align - 1) & ~(align - 1);
		if (off + size <= b->size) {
			b->used = off + size;
			return b->data + off;
		}
	}
	if (a->spare != NULL) {
		b = a->spare;
		a->spare = b->next;
		a->nspare--;
	} else {
		b = xmalloc(sizeof(*b) + ARENA_BLOCK);
		b->size = ARENA_BLOCK;
	}
	b->used = size;
	b->next = a->cur;
	a->cur = b;
	return b->data;
}

static char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *d = arena_alloc(a, len + 1, 1);

	if (len > 0)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static char *arena_strndup_upper(struct arena *a, const char *s, size_t len)
{
	char *d = arena_strndup(a, s, len);

	for (size_t i = 0; i < len; i++) {
		if (d[i] >= 'a' && d[i] <= 'z')
			d[i] = (char)(d[i] - 'a' + 'A');
	}
	return d;
}

/* ---- parser state ---------------------------------------------------------- */

struct arg_vec {
	struct imap_arg *v;
	size_t n, cap;
};

/* Keep at most this many entries of a vector's capacity across responses. */
#define ARG_VEC_KEEP 1024

enum parser_state {
	PS_LINE,    /* collecting a line */
	PS_LITERAL, /* inside a literal */
	PS_DONE,    /* a response was returned */
	PS_ERROR,
};

struct imap_parser {
	struct imap_parser_limits lim;
	struct imap_parser_callbacks cb;
	void *cb_ctx;

	struct arena arena;
	enum parser_state state;
	struct mf_error error; /* repeated while in PS_ERROR */

	/* The line being collected (owned, reused), and the bytes of this
	 * response outside literals so far. */
	char *line;
	size_t line_len, line_cap;
	size_t resp_bytes;

	struct imap_response resp;
	bool header_done;
	/* stack[0] holds the top-level args, stack[d] the list open at depth d. */
	struct arg_vec *stack;
	size_t stack_len;
	size_t depth;

	/* Literal in progress. */
	uint64_t lit_left;
	bool lit_stream;
	char *lit_buf;
	size_t lit_pos;
};

/* Outcomes of tokenizing a line, besides negative MF_E* codes. */
enum {
	SEG_END = 0,	  /* end of line reached */
	SEG_LITERAL = 1,  /* line ended with a literal marker; literal set up */
	SEG_CODE_END = 2, /* "]" closed a response code */
	SEG_DONE = 3,	  /* response complete (status, continuation) */
	SEG_ARGS = 4,	  /* header parsed, data args follow */
};

/* A complete line without its line ending. */
struct cursor {
	const char *s;
	size_t len;
	size_t pos;
	/* Set when a "[" found no "]" after it: no later "[" will either. */
	bool no_close;
};

/* ---- errors ------------------------------------------------------------------ */

#define EXCERPT_BYTES 60

/* A printable excerpt of the line around pos, at most ~70 bytes. */
static void excerpt(const struct cursor *c, size_t pos, char *out, size_t outlen)
{
	size_t start = pos > EXCERPT_BYTES / 2 ? pos - EXCERPT_BYTES / 2 : 0;
	size_t n, o = 0;

	if (start > c->len)
		start = c->len;
	n = c->len - start;
	if (n > EXCERPT_BYTES)
		n = EXCERPT_BYTES;
	if (start > 0 && o + 3 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)c->s[start + i];

		out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
	}
	if (start + n < c->len && o + 3 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* err may be NULL (speculative parsing of a response code). */
static int proto_err(const struct cursor *c, size_t pos, struct mf_error *err, const char *what)
{
	char ex[EXCERPT_BYTES + 8];

	if (err == NULL)
		return MF_EPROTO;
	excerpt(c, pos, ex, sizeof(ex));
	return mf_error_set(err, MF_EPROTO, "IMAP parse error: %s in \"%s\"", what, ex);
}

/* ---- arg stack ----------------------------------------------------------- */

static struct imap_arg *push_arg(struct imap_parser *p, enum imap_arg_type type)
{
	struct arg_vec *v = &p->stack[p->depth];
	struct imap_arg *a;

	if (v->n == v->cap) {
		v->cap = v->cap == 0 ? 16 : v->cap * 2;
		v->v = xreallocarray(v->v, v->cap, sizeof(*v->v));
	}
	a = &v->v[v->n++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

/* Copy a vector's elements into the arena; empty gives NULL. */
static const struct imap_arg *vec_to_arena(struct imap_parser *p, struct arg_vec *v,
					   size_t *count_r)
{
	struct imap_arg *out = NULL;

	*count_r = v->n;
	if (v->n > 0) {
		out = arena_alloc(&p->arena, v->n * sizeof(*out), alignof(struct imap_arg));
		memcpy(out, v->v, v->n * sizeof(*out));
	}
	v->n = 0;
	return out;
}

static int open_list(struct imap_parser *p, struct mf_error *err)
{
	if (p->depth >= p->lim.max_depth) {
		if (err == NULL)
			return MF_ELIMIT;
		return mf_error_set(err, MF_ELIMIT, "IMAP response nests lists deeper than %zu",
				    p->lim.max_depth);
	}
	p->depth++;
	if (p->depth >= p->stack_len) {
		size_t n = p->stack_len * 2;

		p->stack = xreallocarray(p->stack, n, sizeof(*p->stack));
		memset(p->stack + p->stack_len, 0, (n - p->stack_len) * sizeof(*p->stack));
		p->stack_len = n;
	}
	p->stack[p->depth].n = 0;
	return 0;
}

static void close_list(struct imap_parser *p)
{
	const struct imap_arg *list;
	struct imap_arg *a;
	size_t count;

	list = vec_to_arena(p, &p->stack[p->depth], &count);
	p->depth--;
	a = push_arg(p, IMAP_ARG_LIST);
	a->list = list;
	a->list_count = count;
}

static void clear_stack(struct imap_parser *p)
{
	for (size_t i = 0; i < p->stack_len; i++) {
		struct arg_vec *v = &p->stack[i];

		v->n = 0;
		if (v->cap > ARG_VEC_KEEP) {
			free(v->v);
			v->v = NULL;
			v->cap = 0;
		}
	}
	p->depth = 0;
}

/* ---- tokens -------------------------------------------------------------- */

/* Quoted string at c->pos (the opening quote). "\\" and "\"" are escapes;
 * a backslash before anything else is kept as data. */
static int parse_quoted(struct imap_parser *p, struct cursor *c, struct mf_error *err)
{
	const char *s = c->s;
	size_t i = c->pos + 1, n = 0, o = 0;
	struct imap_arg *a;
	char *d;

	for (;; i++) {
		if (i >= c->len)
			return proto_err(c, c->pos, err, "unterminated quoted string");
		if (s[i] == '"')
			break;
		if (s[i] == '\\' && i + 1 < c->len && (s[i + 1] == '"' || s[i + 1] == '\\'))
			i++;
		n++;
	}
	d = arena_alloc(&p->arena, n + 1, 1);
	for (size_t j = c->pos + 1; j < i; j++) {
		if (s[j] == '\\' && (s[j + 1] == '"' || s[j + 1] == '\\'))
			j++;
		d[o++] = s[j];
	}
	d[o] = '\0';
	a = push_arg(p, IMAP_ARG_STRING);
	a->data = d;
	a->len = n;
	c->pos = i + 1;
	return 0;
}

/* Atom at c->pos. Outside response codes, a "[" opens a section that runs to
 * the next "]" and may hold spaces and parens (BODY[HEADER.FIELDS (DATE)]);
 * a "[" without a "]" later in the line is an ordinary atom character.
 * Inside response codes, "]" ends the atom. */
static void parse_atom(struct imap_parser *p, struct cursor *c, bool code_mode)
{
	const char *s = c->s;
	size_t start = c->pos, i = c->pos;
	struct imap_arg *a;

	while (i < c->len) {
		char ch = s[i];

		if (ch == ' ' || ch == '(' || ch == ')')
			break;
		if (code_mode && ch == ']')
			break;
		if (!code_mode && ch == '[' && !c->no_close) {
			const char *close = memchr(s + i + 1, ']', c->len - i - 1);

			if (close != NULL) {
				i = (size_t)(close - s) + 1;
				continue;
			}
			c->no_close = true;
		}
		i++;
	}
	c->pos = i;
	if (i - start == 3 && (s[start] | 0x20) == 'n' && (s[start + 1] | 0x20) == 'i' &&
	    (s[start + 2] | 0x20) == 'l') {
		push_arg(p, IMAP_ARG_NIL);
		return;
	}
	a = push_arg(p, IMAP_ARG_ATOM);
	a->data = arena_strndup(&p->arena, s + start, i - start);
	a->len = i - start;
}

/* Literal marker at c->pos ("{" or "~{"); it must end the line. Sets up the
 * literal: streamed when the consumer wants it, else buffered. */
static int parse_literal(struct imap_parser *p, struct cursor *c, struct mf_error *err)
{
	const char *s = c->s;
	size_t i = c->pos;
	bool binary = false, stream = false;
	uint64_t size = 0;
	const char *keyword = NULL;
	struct arg_vec *v;
	struct imap_arg *a;

	if (s[i] == '~') {
		binary = true;
		i++;
	}
	i++; /* "{" */
	if (i >= c->len || s[i] < '0' || s[i] > '9')
		return proto_err(c, c->pos, err, "bad literal size");
	for (; i < c->len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (size > (UINT64_MAX - d) / 10)
			return proto_err(c, c->pos, err, "literal size too large");
		size = size * 10 + d;
	}
	if (i < c->len && s[i] == '+')
		i++;
	if (i >= c->len || s[i] != '}')
		return proto_err(c, c->pos, err, "bad literal size");
	if (i + 1 != c->len)
		return proto_err(c, i + 1, err, "data after literal size");
	c->pos = c->len;

	v = &p->stack[p->depth];
	if (v->n > 0 && v->v[v->n - 1].type == IMAP_ARG_ATOM)
		keyword = v->v[v->n - 1].data;
	if (p->cb.literal_begin != NULL && p->lim.stream_threshold != 0 &&
	    size >= p->lim.stream_threshold)
		stream = p->cb.literal_begin(p->cb_ctx, keyword, size);
	if (!stream && (size > p->lim.max_literal || size >= SIZE_MAX))
		return mf_error_set(
		    err, MF_ELIMIT, "IMAP literal of %llu bytes exceeds the limit of %llu",
		    (unsigned long long)size, (unsigned long long)p->lim.max_literal);

	a = push_arg(p, stream ? IMAP_ARG_LITERAL_STREAMED : IMAP_ARG_LITERAL);
	a->literal_size = size;
	a->binary = binary;
	p->lit_left = size;
	p->lit_stream = stream;
	p->lit_pos = 0;
	if (stream) {
		a->data = "";
		p->lit_buf = NULL;
	} else {
		p->lit_buf = arena_alloc(&p->arena, (size_t)size + 1, 1);
		p->lit_buf[size] = '\0';
		a->data = p->lit_buf;
		a->len = (size_t)size;
	}
	return SEG_LITERAL;
}

/* Tokenize args from c->pos. In code_mode (inside "[...]") literals are not
 * allowed, "]" at depth 0 ends the code, and err is NULL. Returns SEG_END,
 * SEG_LITERAL, SEG_CODE_END (c->pos after "]") or a negative code. */
static int parse_args(struct imap_parser *p, struct cursor *c, bool code_mode, struct mf_error *err)
{
	const char *s = c->s;
	int rc;

	for (;;) {
		while (c->pos < c->len && s[c->pos] == ' ')
			c->pos++;
		if (c->pos >= c->len) {
			if (code_mode)
				return MF_EPROTO;
			if (p->depth > 0)
				return proto_err(c, c->pos, err, "missing \")\"");
			return SEG_END;
		}
		switch (s[c->pos]) {
		case '(':
			rc = open_list(p, err);
			if (rc < 0)
				return rc;
			c->pos++;
			break;
		case ')':
			if (p->depth == 0)
				return proto_err(c, c->pos, err, "unexpected \")\"");
			close_list(p);
			c->pos++;
			break;
		case '"':
			rc = parse_quoted(p, c, err);
			if (rc < 0)
				return rc;
			break;
		case '{':
			if (code_mode)
				return MF_EPROTO;
			return parse_literal(p, c, err);
		case ']':
			if (code_mode) {
				if (p->depth > 0)
					return MF_EPROTO;
				c->pos++;
				return SEG_CODE_END;
			}
			parse_atom(p, c, code_mode);
			break;
		case '~':
			if (c->pos + 1 < c->len && s[c->pos + 1] == '{') {
				if (code_mode)
					return MF_EPROTO;
				return parse_literal(p, c, err);
			}
			parse_atom(p, c, code_mode);
			break;
		default:
			parse_atom(p, c, code_mode);
			break;
		}
	}
}

/* ---- response header ----------------------------------------------------- */

static enum imap_status status_lookup(const char *s, size_t len)
{
	static const struct {
		const char *word;
		enum imap_status status;
	} words[] = {
	    {"OK", IMAP_STATUS_OK},	      {"NO", IMAP_STATUS_NO},	{"BAD", IMAP_STATUS_BAD},
	    {"PREAUTH", IMAP_STATUS_PREAUTH}, {"BYE", IMAP_STATUS_BYE},
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		const char *w = words[i].word;
		size_t j;

		if (strlen(w) != len)
			continue;
		for (j = 0; j < len && (s[j] & ~0x20) == w[j]; j++)
			;
		if (j == len)
			return words[i].status;
	}
	return IMAP_STATUS_NONE;
}

/* "[CODE args]" at c->pos. On success sets resp code fields and moves c->pos
 * past "]"; on any failure leaves everything as it was (the caller then
 * treats the brackets as text). */
static bool parse_code(struct imap_parser *p, struct cursor *c)
{
	const char *s = c->s;
	size_t i = c->pos + 1, start = i;
	struct cursor sub;
	int rc;

	while (i < c->len && s[i] != ' ' && s[i] != ']' && s[i] != '(' && s[i] != ')' &&
	       s[i] != '[' && s[i] != '"' && s[i] != '{')
		i++;
	if (i == start || i >= c->len || (s[i] != ' ' && s[i] != ']'))
		return false;
	sub = *c;
	sub.pos = i;
	if (s[i] == ' ') {
		sub.pos++;
		rc = parse_args(p, &sub, true, NULL);
		if (rc != SEG_CODE_END) {
			clear_stack(p);
			return false;
		}
		p->resp.code_args = vec_to_arena(p, &p->stack[0], &p->resp.code_args_count);
	} else {
		sub.pos++;
	}
	p->resp.code = arena_strndup_upper(&p->arena, s + start, i - start);
	c->pos = sub.pos;
	return true;
}

/* resp-text from c->pos: optional code, then text to end of line. */
static void parse_resp_text(struct imap_parser *p, struct cursor *c)
{
	if (c->pos < c->len && c->s[c->pos] == '[' && parse_code(p, c)) {
		if (c->pos < c->len && c->s[c->pos] == ' ')
			c->pos++;
	}
	p->resp.text = arena_strndup(&p->arena, c->s + c->pos, c->len - c->pos);
}

static bool tag_char_ok(unsigned char ch)
{
	return ch > 0x20 && ch != 0x7f && ch != '(' && ch != ')' && ch != '{' && ch != '"' &&
	       ch != '\\' && ch != '%';
}

/* The first line's start: "+ ...", "* [n] KEYWORD ...", "tag STATUS ...".
 * Returns SEG_DONE (a status response or continuation, complete), SEG_ARGS
 * (untagged data: args follow at c->pos) or a negative code. */
static int parse_header(struct imap_parser *p, struct cursor *c, struct mf_error *err)
{
	struct imap_response *r = &p->resp;
	const char *s = c->s;
	size_t i, start;

	if (c->len == 0)
		return proto_err(c, 0, err, "empty response line");
	if (s[0] == '+') {
		/* Text is everything after "+ ", even when a code was parsed
		 * (an AUTHENTICATE challenge must reach the caller verbatim). */
		r->kind = IMAP_RESP_CONTINUATION;
		c->pos = c->len > 1 && s[1] == ' ' ? 2 : 1;
		r->text = arena_strndup(&p->arena, s + c->pos, c->len - c->pos);
		if (c->pos < c->len && s[c->pos] == '[')
			parse_code(p, c);
		return SEG_DONE;
	}
	if (s[0] == '*') {
		r->kind = IMAP_RESP_UNTAGGED;
		if (c->len < 2 || s[1] != ' ')
			return proto_err(c, 1, err, "expected space after \"*\"");
		i = 2;
		start = i;
		while (i < c->len && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i > start && i < c->len && s[i] == ' ') {
			uint64_t n = 0;

			for (size_t j = start; j < i; j++) {
				n = n * 10 + (uint64_t)(s[j] - '0');
				if (n > UINT32_MAX)
					return proto_err(c, start, err, "number too large");
			}
			r->has_number = true;
			r->number = (uint32_t)n;
			i++;
		} else {
			i = start;
		}
	} else {
		r->kind = IMAP_RESP_TAGGED;
		for (i = 0; i < c->len && s[i] != ' '; i++) {
			if (!tag_char_ok((unsigned char)s[i]))
				return proto_err(c, i, err, "invalid character in tag");
		}
		if (i == 0)
			return proto_err(c, 0, err, "missing tag");
		if (i >= c->len)
			return proto_err(c, i, err, "missing status after tag");
		r->tag = arena_strndup(&p->arena, s, i);
		i++;
	}

	start = i;
	while (i < c->len && s[i] != ' ' && s[i] != '(' && s[i] != ')' && s[i] != '[' &&
	       s[i] != '{' && s[i] != '"')
		i++;
	if (i == start)
		return proto_err(c, i, err, "missing response keyword");
	if (!r->has_number)
		r->status = status_lookup(s + start, i - start);
	if (r->kind == IMAP_RESP_TAGGED && r->status == IMAP_STATUS_NONE)
		return proto_err(c, start, err, "expected OK, NO or BAD after tag");
	if (r->status != IMAP_STATUS_NONE) {
		c->pos = i;
		if (c->pos < c->len && s[c->pos] == ' ')
			c->pos++;
		parse_resp_text(p, c);
		return SEG_DONE;
	}
	r->keyword = arena_strndup_upper(&p->arena, s + start, i - start);
	c->pos = i;
	return SEG_ARGS;
}

/* ---- lines ---------------------------------------------------------------- */

/* A complete line (ending in LF) is in p->line. Returns SEG_DONE,
 * SEG_LITERAL, SEG_END (a literal of size 0 ended the line: carry on with the
 * next) or a negative code. */
static int parse_line(struct imap_parser *p, struct mf_error *err)
{
	struct cursor c = {p->line, p->line_len - 1, 0, false};
	const char *nul;
	int rc;

	if (c.len > 0 && c.s[c.len - 1] == '\r')
		c.len--;
	nul = memchr(c.s, '\0', c.len);
	if (nul != NULL)
		return proto_err(&c, (size_t)(nul - c.s), err, "NUL byte outside a literal");
	if (!p->header_done) {
		rc = parse_header(p, &c, err);
		if (rc < 0 || rc == SEG_DONE)
			return rc;
		p->header_done = true;
	}
	rc = parse_args(p, &c, false, err);
	if (rc < 0)
		return rc;
	if (rc == SEG_LITERAL) {
		if (p->lit_left > 0)
			return SEG_LITERAL;
		return SEG_END; /* {0}: the next line continues the args */
	}
	p->resp.args = vec_to_arena(p, &p->stack[0], &p->resp.args_count);
	return SEG_DONE;
}

static void line_append(struct imap_parser *p, const char *data, size_t len)
{
	if (p->line_len + len > p->line_cap) {
		size_t cap = p->line_cap == 0 ? 256 : p->line_cap;

		while (cap < p->line_len + len)
			cap *= 2;
		p->line = xrealloc(p->line, cap);
		p->line_cap = cap;
	}
	memcpy(p->line + p->line_len, data, len);
	p->line_len += len;
}

static void reset_response(struct imap_parser *p)
{
	arena_reset(&p->arena);
	clear_stack(p);
	memset(&p->resp, 0, sizeof(p->resp));
	p->resp.text = "";
	p->header_done = false;
	p->line_len = 0;
	if (p->line_cap > 64 * 1024) {
		free(p->line);
		p->line = NULL;
		p->line_cap = 0;
	}
	p->resp_bytes = 0;
	p->lit_left = 0;
	p->lit_stream = false;
	p->lit_buf = NULL;
	p->lit_pos = 0;
	p->state = PS_LINE;
}

/* ---- public API ------------------------------------------------------------- */

struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits,
				    const struct imap_parser_callbacks *cb, void *cb_ctx)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	if (limits != NULL)
		p->lim = *limits;
	if (p->lim.max_line == 0)
		p->lim.max_line = IMAP_PARSER_DEF_MAX_LINE;
	if (p->lim.max_literal == 0)
		p->lim.max_literal = IMAP_PARSER_DEF_MAX_LITERAL;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = IMAP_PARSER_DEF_MAX_DEPTH;
	if (cb != NULL)
		p->cb = *cb;
	p->cb_ctx = cb_ctx;
	p->stack_len = 4;
	p->stack = xcalloc(p->stack_len, sizeof(*p->stack));
	reset_response(p);
	return p;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	arena_destroy(&p->arena);
	for (size_t i = 0; i < p->stack_len; i++)
		free(p->stack[i].v);
	free(p->stack);
	free(p->line);
	free(p);
}

void imap_parser_reset(struct imap_parser *p)
{
	reset_response(p);
	mf_error_clear(&p->error);
}

static enum imap_parse_result parser_fail(struct imap_parser *p, int rc, struct mf_error *err)
{
	if (err != NULL && err->code == rc)
		p->error = *err;
	else
		mf_error_set(&p->error, rc, "IMAP parse error (%s)", mf_errcode_name(rc));
	if (err != NULL)
		*err = p->error;
	p->state = PS_ERROR;
	return IMAP_PARSE_ERROR;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data, size_t len,
					size_t *consumed_r, const struct imap_response **resp_r,
					struct mf_error *err)
{
	const char *in = data;
	size_t used = 0;
	int rc;

	*consumed_r = 0;
	*resp_r = NULL;
	if (p->state == PS_ERROR) {
		if (err != NULL)
			*err = p->error;
		return IMAP_PARSE_ERROR;
	}
	if (p->state == PS_DONE)
		reset_response(p);
	if (err != NULL)
		mf_error_clear(err);

	while (used < len) {
		size_t avail = len - used, n;

		if (p->state == PS_LITERAL) {
			n = avail < p->lit_left ? avail : (size_t)p->lit_left;
			if (p->lit_stream) {
				if (p->cb.literal_data != NULL) {
					rc = p->cb.literal_data(p->cb_ctx, in + used, n);
					if (rc < 0) {
						*consumed_r = used;
						mf_error_set(err, rc,
							     "IMAP literal consumer "
							     "aborted (%s)",
							     mf_errcode_name(rc));
						return parser_fail(p, rc, err);
					}
				}
			} else {
				memcpy(p->lit_buf + p->lit_pos, in + used, n);
				p->lit_pos += n;
			}
			used += n;
			p->lit_left -= n;
			if (p->lit_left == 0) {
				if (p->lit_stream && p->cb.literal_end != NULL)
					p->cb.literal_end(p->cb_ctx);
				p->state = PS_LINE;
			}
			continue;
		}

		/* The line's LF must come within the bytes max_line still allows. */
		size_t room = p->lim.max_line - p->resp_bytes;
		const char *lf = memchr(in + used, '\n', avail < room ? avail : room);

		if (lf == NULL) {
			if (avail > room) {
				*consumed_r = used;
				mf_error_set(err, MF_ELIMIT,
					     "IMAP response exceeds the "
					     "line limit of %zu bytes",
					     p->lim.max_line);
				return parser_fail(p, MF_ELIMIT, err);
			}
			line_append(p, in + used, avail);
			p->resp_bytes += avail;
			used += avail;
			break;
		}
		n = (size_t)(lf - (in + used)) + 1;
		line_append(p, in + used, n);
		p->resp_bytes += n;
		used += n;
		rc = parse_line(p, err);
		p->line_len = 0;
		if (rc < 0) {
			*consumed_r = used;
			return parser_fail(p, rc, err);
		}
		if (rc == SEG_LITERAL)
			p->state = PS_LITERAL;
		else if (rc == SEG_DONE) {
			p->state = PS_DONE;
			*consumed_r = used;
			*resp_r = &p->resp;
			return IMAP_PARSE_COMPLETE;
		}
	}
	*consumed_r = used;
	return IMAP_PARSE_NEED_MORE;
}

/* ---- helpers -------------------------------------------------------------- */

bool imap_arg_is_atom(const struct imap_arg *a, const char *upper)
{
	size_t i;

	if (a == NULL || a->type != IMAP_ARG_ATOM)
		return false;
	for (i = 0; i < a->len && upper[i] != '\0'; i++) {
		char ch = a->data[i];

		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		if (ch != upper[i])
			return false;
	}
	return i == a->len && upper[i] == '\0';
}

const char *imap_arg_text(const struct imap_arg *a)
{
	if (a == NULL)
		return NULL;
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_STRING:
	case IMAP_ARG_LITERAL:
		return a->data;
	default:
		return NULL;
	}
}

bool imap_arg_number(const struct imap_arg *a, uint64_t *out)
{
	uint64_t n = 0;

	if (a == NULL || (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_STRING) || a->len == 0)
		return false;
	for (size_t i = 0; i < a->len; i++) {
		unsigned d = (unsigned char)a->data[i] - (unsigned)'0';

		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}
