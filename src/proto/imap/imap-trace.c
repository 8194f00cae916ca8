/* imap-trace.c: trace lines of the IMAP client (see imap-trace.h). */
#include "proto/imap/imap-trace.h"

#include <string.h>

#include "proto/imap/imap-cmd-private.h"

/* A received line longer than this is cut in the trace ("..."). */
#define TRACE_LINE_MAX 4096

void imap_trace_escape(struct buf *out, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			buf_putc(out, (char)p[i]);
		else
			buf_printf(out, "\\x%02x", p[i]);
	}
}

void imap_trace_print(FILE *f, const char *prefix, const char *dir, const char *text,
		      size_t len)
{
	/* One line at a time: a user's connections trace from several
	 * threads into the same file. */
	flockfile(f);
	if (prefix != NULL && prefix[0] != '\0')
		fprintf(f, "[%s] ", prefix);
	fprintf(f, "%s: %.*s\n", dir, (int)len, text);
	fflush(f);
	funlockfile(f);
}

void imap_trace_print_lines(FILE *f, const char *prefix, const char *dir, const char *text,
			    size_t len)
{
	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - text) : len;

		imap_trace_print(f, prefix, dir, text, n);
		if (nl == NULL)
			break;
		text += n + 1;
		len -= n + 1;
	}
}

static void line_add(struct imap_trace_in *t, const void *data, size_t len)
{
	if (t->line.len >= TRACE_LINE_MAX)
		return;
	imap_trace_escape(&t->line, data, len);
	if (t->line.len >= TRACE_LINE_MAX)
		buf_puts(&t->line, "...");
}

static void tail_add(struct imap_trace_in *t, unsigned char ch)
{
	if (t->tail_len == sizeof(t->tail)) {
		memmove(t->tail, t->tail + 1, sizeof(t->tail) - 1);
		t->tail_len--;
	}
	t->tail[t->tail_len++] = (char)ch;
}

/* Does the raw line end with a literal announcement "{N}" / "{N+}"? */
static bool tail_literal(const struct imap_trace_in *t, uint64_t *size_r)
{
	size_t i = t->tail_len;
	uint64_t v = 0, mul = 1;

	if (i > 0 && t->tail[i - 1] == '\r')
		i--;
	if (i == 0 || t->tail[i - 1] != '}')
		return false;
	i--;
	if (i > 0 && t->tail[i - 1] == '+')
		i--;
	if (i == 0 || t->tail[i - 1] < '0' || t->tail[i - 1] > '9')
		return false;
	while (i > 0 && t->tail[i - 1] >= '0' && t->tail[i - 1] <= '9') {
		if (mul > UINT64_MAX / 10)
			return false;
		v += (uint64_t)(t->tail[i - 1] - '0') * mul;
		mul *= 10;
		i--;
	}
	if (i == 0 || t->tail[i - 1] != '{')
		return false;
	*size_r = v;
	return true;
}

static void line_end(struct imap_trace_in *t, FILE *f, const char *prefix)
{
	uint64_t size;

	imap_trace_print(f, prefix, "S", buf_cstr(&t->line), t->line.len);
	buf_reset(&t->line);
	if (tail_literal(t, &size) && size > 0) {
		t->in_literal = true;
		t->lit_size = t->lit_left = size;
	}
	t->tail_len = 0;
}

void imap_trace_in_feed(struct imap_trace_in *t, FILE *f, const char *prefix,
			const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0;

	while (i < len) {
		if (t->in_literal) {
			size_t n = len - i;

			if (n > t->lit_left)
				n = (size_t)t->lit_left;
			if (t->lit_size <= IMAP_TRACE_LITERAL_MAX)
				line_add(t, p + i, n);
			i += n;
			t->lit_left -= n;
			if (t->lit_left == 0) {
				t->in_literal = false;
				if (t->lit_size > IMAP_TRACE_LITERAL_MAX)
					buf_printf(&t->line, "{%llu bytes}",
						   (unsigned long long)t->lit_size);
			}
			continue;
		}
		if (p[i] == '\n') {
			t->cr = false;
			line_end(t, f, prefix);
		} else {
			if (t->cr)
				line_add(t, "\r", 1);
			t->cr = p[i] == '\r';
			if (!t->cr)
				line_add(t, p + i, 1);
			tail_add(t, p[i]);
		}
		i++;
	}
}

void imap_trace_in_reset(struct imap_trace_in *t)
{
	buf_reset(&t->line);
	t->tail_len = 0;
	t->cr = false;
	t->in_literal = false;
	t->lit_size = t->lit_left = 0;
}

void imap_trace_in_free(struct imap_trace_in *t)
{
	buf_free(&t->line);
}
