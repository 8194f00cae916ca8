/* imap-trace.h: protocol trace lines for the IMAP client (private to
 * src/proto/imap).
 *
 * Lines are printed as "[prefix] C: ..." / "[prefix] S: ..." with CR/LF
 * stripped and non-printable bytes as \xNN. The caller redacts secrets
 * before text gets here; server literals longer than
 * IMAP_TRACE_LITERAL_MAX bytes print as "{N bytes}".
 */
#ifndef MF_IMAP_TRACE_H
#define MF_IMAP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/buf.h"

/* Append data to out with non-printable bytes escaped as \xNN. */
void imap_trace_escape(struct buf *out, const void *data, size_t len);

/* Print one line: "[prefix] dir: text" (prefix may be NULL). */
void imap_trace_print(FILE *f, const char *prefix, const char *dir, const char *text,
		      size_t len);

/* Print every '\n'-separated line of text (an empty last piece is skipped). */
void imap_trace_print_lines(FILE *f, const char *prefix, const char *dir, const char *text,
			    size_t len);

/* Splits the bytes received from the server into trace lines. */
struct imap_trace_in {
	struct buf line;      /* escaped display text of the current line */
	char tail[24];        /* last raw bytes outside literals */
	size_t tail_len;
	bool cr;              /* a CR is held back (CRLF is stripped) */
	bool in_literal;
	uint64_t lit_size, lit_left;
};

void imap_trace_in_feed(struct imap_trace_in *t, FILE *f, const char *prefix,
			const void *data, size_t len);
/* Forget a partial line (after STARTTLS). */
void imap_trace_in_reset(struct imap_trace_in *t);
void imap_trace_in_free(struct imap_trace_in *t);

#endif
