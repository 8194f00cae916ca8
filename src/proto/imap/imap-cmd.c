/* imap-cmd.c: the IMAP command builder (RFC 9051 section 4: atoms, quoted
 * strings, literals; RFC 7888 LITERAL+ / LITERAL-).
 *
 * User data only ever enters a command through imap_cmd_astring(),
 * imap_cmd_secret() or imap_cmd_literal(), which choose a form that cannot
 * be misread as protocol syntax.
 */
#include "proto/imap/imap-cmd-private.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap/imap-trace.h"
#include "util/xmalloc.h"

/* Longer strings go as literals even when they could be quoted: servers
 * limit line lengths, not literal sizes. */
#define IMAP_QUOTED_MAX 1024

struct imap_cmd *imap_cmd_new(const char *name)
{
	struct imap_cmd *cmd = xcalloc(1, sizeof(*cmd));

	cmd->name = xstrdup(name);
	return cmd;
}

static void cmd_add(struct imap_cmd *cmd, enum imap_seg_type type, const void *data,
		    size_t len, bool secret)
{
	struct imap_seg *seg;

	if (cmd->stream) {
		/* A caller bug: the streamed literal must come last. */
		fprintf(stderr, "imap_cmd: argument after a streamed literal\n");
		abort();
	}

	if (cmd->nsegs == cmd->segs_cap) {
		cmd->segs_cap = cmd->segs_cap == 0 ? 8 : cmd->segs_cap * 2;
		cmd->segs = xreallocarray(cmd->segs, cmd->segs_cap, sizeof(*cmd->segs));
	}
	seg = &cmd->segs[cmd->nsegs++];
	seg->type = type;
	seg->secret = secret;
	seg->data = xmalloc(len + 1);
	if (len > 0)
		memcpy(seg->data, data, len);
	seg->data[len] = '\0';
	seg->len = len;
	if (secret)
		cmd->has_secret = true;
}

void imap_cmd_atom(struct imap_cmd *cmd, const char *atom)
{
	cmd_add(cmd, IMAP_SEG_TEXT, " ", 1, false);
	cmd_add(cmd, IMAP_SEG_TEXT, atom, strlen(atom), false);
}

void imap_cmd_atomf(struct imap_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	imap_cmd_atom(cmd, s);
	free(s);
}

/* A conservative subset of ATOM-CHAR: no atom-specials, no "[" (section
 * syntax), nothing a server could read as a wildcard. */
static bool is_safe_atom_char(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch != '\0' && strchr("!#$&'+,-./:;<=>?@^_`|~", ch) != NULL;
}

static bool is_safe_atom(const char *s, size_t len)
{
	if (len == 0 || len > IMAP_QUOTED_MAX || strcasecmp(s, "NIL") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_safe_atom_char((unsigned char)s[i]))
			return false;
	}
	return true;
}

static bool is_quotable(const char *s, size_t len)
{
	if (len > IMAP_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\0' || ch == '\r' || ch == '\n' || ch >= 0x80)
			return false;
	}
	return true;
}

static void cmd_add_astring(struct imap_cmd *cmd, const char *s, bool secret)
{
	size_t len = strlen(s);
	struct buf q;

	cmd_add(cmd, IMAP_SEG_TEXT, " ", 1, false);
	if (is_safe_atom(s, len)) {
		cmd_add(cmd, IMAP_SEG_TEXT, s, len, secret);
		return;
	}
	if (!is_quotable(s, len)) {
		cmd_add(cmd, IMAP_SEG_LITERAL, s, len, secret);
		return;
	}
	/* Sized up front: a realloc would leave copies of a secret behind. */
	q.cap = 2 * len + 3;
	q.data = xmalloc(q.cap);
	q.len = 0;
	buf_putc(&q, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(&q, '\\');
		buf_putc(&q, s[i]);
	}
	buf_putc(&q, '"');
	cmd_add(cmd, IMAP_SEG_TEXT, q.data, q.len, secret);
	buf_wipe(&q);
}

void imap_cmd_astring(struct imap_cmd *cmd, const char *s)
{
	cmd_add_astring(cmd, s, false);
}

void imap_cmd_secret(struct imap_cmd *cmd, const char *s)
{
	cmd_add_astring(cmd, s, true);
}

void imap_cmd_literal(struct imap_cmd *cmd, const void *data, size_t len)
{
	cmd_add(cmd, IMAP_SEG_TEXT, " ", 1, false);
	cmd_add(cmd, IMAP_SEG_LITERAL, data, len, false);
}

void imap_cmd_literal_stream(struct imap_cmd *cmd, uint64_t size)
{
	cmd_add(cmd, IMAP_SEG_TEXT, " ", 1, false);
	cmd_add(cmd, IMAP_SEG_STREAM, "", 0, false);
	cmd->stream = true;
	cmd->stream_size = size;
}

void imap_cmd_raw(struct imap_cmd *cmd, const char *text, bool secret)
{
	cmd_add(cmd, IMAP_SEG_TEXT, " ", 1, false);
	cmd_add(cmd, IMAP_SEG_TEXT, text, strlen(text), secret);
}

void imap_cmd_cont(struct imap_cmd *cmd, const void *data, size_t len, bool secret)
{
	cmd_add(cmd, IMAP_SEG_CONT, data, len, secret);
}

void imap_cmd_free(struct imap_cmd **cmdp)
{
	struct imap_cmd *cmd = *cmdp;

	if (cmd == NULL)
		return;
	*cmdp = NULL;
	for (size_t i = 0; i < cmd->nsegs; i++) {
		if (cmd->segs[i].secret)
			mf_memzero(cmd->segs[i].data, cmd->segs[i].len);
		free(cmd->segs[i].data);
	}
	free(cmd->segs);
	if (cmd->has_secret)
		buf_wipe(&cmd->wire);
	else
		buf_free(&cmd->wire);
	buf_free(&cmd->trace);
	free(cmd->stops);
	free(cmd->tstops);
	free(cmd->name);
	free(cmd);
}

static void cmd_add_stop(struct imap_cmd *cmd)
{
	cmd->stops = xreallocarray(cmd->stops, cmd->nstops + 1, sizeof(*cmd->stops));
	cmd->tstops = xreallocarray(cmd->tstops, cmd->nstops + 1, sizeof(*cmd->tstops));
	cmd->stops[cmd->nstops] = cmd->wire.len;
	cmd->tstops[cmd->nstops] = cmd->trace.len;
	cmd->nstops++;
}

static void render_literal(struct imap_cmd *cmd, const struct imap_seg *seg, bool nonsync)
{
	char hdr[32];

	snprintf(hdr, sizeof(hdr), "{%zu%s}", seg->len, nonsync ? "+" : "");
	buf_puts(&cmd->wire, hdr);
	buf_puts(&cmd->wire, "\r\n");
	buf_puts(&cmd->trace, hdr);
	buf_putc(&cmd->trace, '\n');
	if (!nonsync)
		cmd_add_stop(cmd);
	buf_append(&cmd->wire, seg->data, seg->len);
	if (seg->secret)
		buf_puts(&cmd->trace, "<redacted>");
	else if (seg->len > IMAP_TRACE_LITERAL_MAX)
		buf_printf(&cmd->trace, "{%zu bytes}", seg->len);
	else
		imap_trace_escape(&cmd->trace, seg->data, seg->len);
}

/* Only the header: the bytes are the caller's (imap-client-stream.c). */
static void render_stream(struct imap_cmd *cmd, bool nonsync)
{
	char hdr[40];

	snprintf(hdr, sizeof(hdr), "{%" PRIu64 "%s}", cmd->stream_size, nonsync ? "+" : "");
	buf_puts(&cmd->wire, hdr);
	buf_puts(&cmd->wire, "\r\n");
	buf_puts(&cmd->trace, hdr);
	buf_putc(&cmd->trace, '\n');
	if (!nonsync)
		cmd_add_stop(cmd);
	buf_printf(&cmd->trace, "{%" PRIu64 " bytes}", cmd->stream_size);
}

void imap_cmd_render(struct imap_cmd *cmd, bool literal_plus, bool literal_minus)
{
	size_t need = strlen(cmd->tag) + strlen(cmd->name) + 4;

	/* Size the wire buffer once: a realloc would leave copies of a secret
	 * behind in freed memory. */
	for (size_t i = 0; i < cmd->nsegs; i++)
		need += cmd->segs[i].len + 32;
	if (cmd->has_secret)
		buf_wipe(&cmd->wire);
	else
		buf_free(&cmd->wire);
	cmd->wire.data = xmalloc(need);
	cmd->wire.cap = need;
	cmd->wire.data[0] = '\0';
	buf_reset(&cmd->trace);
	cmd->nstops = 0;
	cmd->sent = 0;
	cmd->next_stop = 0;
	buf_printf(&cmd->wire, "%s %s", cmd->tag, cmd->name);
	buf_append(&cmd->trace, cmd->wire.data, cmd->wire.len);
	for (size_t i = 0; i < cmd->nsegs; i++) {
		const struct imap_seg *seg = &cmd->segs[i];

		switch (seg->type) {
		case IMAP_SEG_TEXT:
			buf_append(&cmd->wire, seg->data, seg->len);
			if (seg->secret)
				buf_puts(&cmd->trace, "<redacted>");
			else
				imap_trace_escape(&cmd->trace, seg->data, seg->len);
			break;
		case IMAP_SEG_LITERAL:
			render_literal(cmd, seg, literal_plus ||
				       (literal_minus && seg->len <= IMAP_LITERAL_MINUS_MAX));
			break;
		case IMAP_SEG_STREAM:
			render_stream(cmd, literal_plus ||
				      (literal_minus && cmd->stream_size <= IMAP_LITERAL_MINUS_MAX));
			break;
		case IMAP_SEG_CONT:
			buf_puts(&cmd->wire, "\r\n");
			buf_putc(&cmd->trace, '\n');
			cmd_add_stop(cmd);
			buf_append(&cmd->wire, seg->data, seg->len);
			if (seg->secret)
				buf_puts(&cmd->trace, "<redacted>");
			else
				imap_trace_escape(&cmd->trace, seg->data, seg->len);
			break;
		}
	}
	if (!cmd->stream)
		buf_puts(&cmd->wire, "\r\n");
}

size_t imap_cmd_part_end(const struct imap_cmd *cmd)
{
	if (cmd->next_stop < cmd->nstops)
		return cmd->stops[cmd->next_stop];
	return cmd->wire.len;
}

void imap_cmd_trace_part(const struct imap_cmd *cmd, size_t idx, size_t *start_r,
			 size_t *end_r)
{
	*start_r = idx == 0 ? 0 : cmd->tstops[idx - 1];
	*end_r = idx < cmd->nstops ? cmd->tstops[idx] : cmd->trace.len;
}
