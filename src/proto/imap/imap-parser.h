/* imap-parser.h: a push parser for IMAP server responses
 * (RFC 9051, RFC 3501; literals of RFC 7888 LITERAL+/LITERAL- and the
 * literal8 "~{n}" of RFC 3516 BINARY).
 *
 * The caller feeds bytes as they arrive; the parser never reads a socket.
 * It is liberal in what it accepts: a bare LF ends a line like CRLF, NUL bytes
 * inside literals are data, unknown response codes are kept as atoms.
 *
 * Memory: every string and list of a response lives in the parser's arena,
 * valid until the next imap_parser_feed() call (or imap_parser_free()).
 *
 * Limits are set at creation: the bytes of a response outside literals
 * (max_line), one buffered literal (max_literal), list nesting (max_depth).
 * Exceeding one is an error (MF_ELIMIT), never an allocation storm.
 *
 * Large literals can be streamed instead of buffered: when a literal of at
 * least stream_threshold bytes starts, literal_begin is asked; if it accepts,
 * the literal's bytes go to literal_data in chunks as they are fed, and the
 * response holds an IMAP_ARG_LITERAL_STREAMED arg with only its size.
 */
#ifndef MF_IMAP_PARSER_H
#define MF_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/mf-error.h"

enum imap_arg_type {
	IMAP_ARG_ATOM,             /* includes flags (\Seen), numbers, and
				    * section atoms such as BODY[HEADER.FIELDS (DATE)]<0> */
	IMAP_ARG_STRING,           /* quoted string, unescaped */
	IMAP_ARG_LITERAL,          /* {n} or ~{n} literal, buffered */
	IMAP_ARG_LITERAL_STREAMED, /* literal delivered to literal_data */
	IMAP_ARG_NIL,
	IMAP_ARG_LIST,             /* ( ... ) */
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM, STRING, LITERAL: data[len] is NUL-terminated for convenience but
	 * may contain NULs (literals). */
	const char *data;
	size_t len;
	/* LITERAL and LITERAL_STREAMED: the announced size; binary for ~{n}. */
	uint64_t literal_size;
	bool binary;
	/* LIST */
	const struct imap_arg *list;
	size_t list_count;
};

enum imap_resp_kind {
	IMAP_RESP_UNTAGGED,     /* "* ..." */
	IMAP_RESP_TAGGED,       /* "A1 OK ..." */
	IMAP_RESP_CONTINUATION, /* "+ ..." */
};

enum imap_status {
	IMAP_STATUS_NONE = 0, /* not a status response (e.g. "* 3 EXISTS") */
	IMAP_STATUS_OK,
	IMAP_STATUS_NO,
	IMAP_STATUS_BAD,
	IMAP_STATUS_PREAUTH,
	IMAP_STATUS_BYE,
};

struct imap_response {
	enum imap_resp_kind kind;
	const char *tag;        /* TAGGED only */
	enum imap_status status;
	/* Status responses and continuations: the optional response code
	 * ("[UIDVALIDITY 3857529045]": code "UIDVALIDITY", code_args the rest,
	 * parsed as args) and the human-readable text after it. For a
	 * continuation, text is everything after "+ ". */
	const char *code;       /* NULL when there is none; upper-cased */
	const struct imap_arg *code_args;
	size_t code_args_count;
	const char *text;       /* never NULL */
	/* Untagged data that is not a status response: "* 3 EXISTS" gives
	 * number 3, has_number true, keyword "EXISTS", args empty;
	 * "* CAPABILITY IMAP4rev1 X" gives keyword "CAPABILITY", args X...;
	 * "* 5 FETCH (...)" gives number 5, keyword "FETCH", args [LIST]. */
	bool has_number;
	uint32_t number;
	const char *keyword;    /* upper-cased; NULL for status/continuation */
	const struct imap_arg *args;
	size_t args_count;
};

struct imap_parser_limits {
	size_t max_line;          /* default 1 MiB */
	uint64_t max_literal;     /* buffered literal, default 16 MiB */
	size_t max_depth;         /* default 64 */
	uint64_t stream_threshold;/* default 0 = never stream */
};

struct imap_parser_callbacks {
	/* A literal of size >= stream_threshold starts. keyword is the atom
	 * just before it in the current list (e.g. "BODY[]"), or NULL.
	 * Return true to stream it, false to buffer it (then max_literal
	 * applies). */
	bool (*literal_begin)(void *ctx, const char *keyword, uint64_t size);
	/* Bytes of a streamed literal, in order. Return 0, or a negative
	 * MF_E* code to abort the parse with that error. */
	int (*literal_data)(void *ctx, const void *data, size_t len);
	/* The streamed literal is complete. */
	void (*literal_end)(void *ctx);
};

enum imap_parse_result {
	IMAP_PARSE_ERROR = -1,
	IMAP_PARSE_NEED_MORE = 0,
	IMAP_PARSE_COMPLETE = 1,
};

struct imap_parser;

/* limits and cb may be NULL for defaults / no streaming. cb is copied. */
struct imap_parser *imap_parser_new(const struct imap_parser_limits *limits,
				    const struct imap_parser_callbacks *cb,
				    void *cb_ctx);
void imap_parser_free(struct imap_parser **pp);

/* Feed len bytes. Consumes bytes until one response is complete or the input
 * is exhausted; *consumed_r tells how many were used. Returns:
 *  IMAP_PARSE_COMPLETE  *resp_r is set; feed the remaining bytes next;
 *  IMAP_PARSE_NEED_MORE all bytes consumed, response not finished;
 *  IMAP_PARSE_ERROR     err says why (MF_EPROTO or MF_ELIMIT); the parser
 *                       is then unusable until imap_parser_reset().
 * The previous response is invalidated by this call. */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const void *data,
					size_t len, size_t *consumed_r,
					const struct imap_response **resp_r,
					struct mf_error *err);

/* Forget any partial response and errors. */
void imap_parser_reset(struct imap_parser *p);

/* Helpers for consumers. */
bool imap_arg_is_atom(const struct imap_arg *a, const char *upper);
/* Atom, string or literal as text (NULL for NIL/list). */
const char *imap_arg_text(const struct imap_arg *a);
bool imap_arg_number(const struct imap_arg *a, uint64_t *out);

#endif
