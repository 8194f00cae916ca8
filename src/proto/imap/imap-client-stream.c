/* imap-client-stream.c: literals streamed in both directions, so that no
 * message is ever held whole in memory (imap-client.h, "streaming
 * literals").
 *
 * From the server: the parser offers every literal to the client
 * (stream_threshold), and the client asks the caller's handler, telling it
 * which response the literal belongs to. The parser reports nothing of a
 * response before it is complete, so the client keeps the first bytes of
 * the response being parsed ("* 5 FETCH (") itself: the bytes it feeds are
 * still in its read buffer, and a response's first line is always complete
 * before any of its literals starts.
 *
 * To the server: a command ending in imap_cmd_literal_stream() is rendered
 * up to the literal's header. Once the header is sent (and, for a
 * synchronizing literal, the "+" came), the socket belongs to that literal:
 * no other command is sent until imap_client_literal_end(). The caller's
 * bytes are written from its own buffer by the client's I/O loop, which
 * keeps reading responses while it writes (RFC 9051 section 5.5 allows the
 * server to answer earlier commands meanwhile; not reading could deadlock
 * both sides on full socket buffers). A MULTIAPPEND (RFC 3502) goes on
 * after a literal with the next message's arguments and literal header
 * (imap_client_literal_next), written like the literal's bytes.
 */
#include "proto/imap/imap-client-private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- from the server --------------------------------------------------------- */

void imap_client_set_literal_handler(struct imap_client *c, const struct imap_literal_handler *h,
				     void *ctx)
{
	if (h != NULL) {
		c->lit = *h;
		c->lit_ctx = ctx;
	} else {
		memset(&c->lit, 0, sizeof(c->lit));
		c->lit_ctx = NULL;
	}
}

/* Add the response's first bytes from data (the continuation of what is
 * already kept) until its first LF or IMAP_CLIENT_HEAD_MAX bytes. */
void imap_client_head_note(struct imap_client *c, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !c->head_done; i++) {
		if (data[i] == '\n' || data[i] == '\r' || c->head_len == sizeof(c->head) - 1) {
			c->head_done = true;
			break;
		}
		c->head[c->head_len++] = data[i];
	}
	c->head[c->head_len] = '\0';
}

/* "* 5 FETCH (": number 5, keyword "FETCH" (into kw). */
static void head_parse(const char *h, uint32_t *number, char *kw, size_t kwlen)
{
	uint64_t n = 0;
	size_t o = 0;

	*number = 0;
	kw[0] = '\0';
	if (h[0] != '*' || h[1] != ' ')
		return;
	h += 2;
	if (*h >= '0' && *h <= '9') {
		while (*h >= '0' && *h <= '9' && n <= UINT32_MAX)
			n = n * 10 + (uint64_t)(*h++ - '0');
		if (*h != ' ' || n > UINT32_MAX)
			return;
		*number = (uint32_t)n;
		h++;
	}
	while (*h != '\0' && *h != ' ' && *h != '(' && o + 1 < kwlen) {
		char ch = *h++;

		kw[o++] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
	}
	kw[o] = '\0';
}

static bool lit_begin(void *ctx, const char *keyword, uint64_t size)
{
	struct imap_client *c = ctx;
	struct imap_literal_start ls;
	char kw[IMAP_CLIENT_HEAD_MAX];

	if (c->lit.begin == NULL)
		return false;
	/* The response's first line has been consumed by now: its bytes
	 * are the rest of the head, at the start of the chunk being fed. */
	imap_client_head_note(c, c->chunk, c->chunk_len);
	head_parse(c->head, &ls.number, kw, sizeof(kw));
	ls.keyword = kw;
	ls.item = keyword;
	ls.size = size;
	return c->lit.begin(c->lit_ctx, &ls);
}

static int lit_data(void *ctx, const void *data, size_t len)
{
	struct imap_client *c = ctx;

	return c->lit.data != NULL ? c->lit.data(c->lit_ctx, data, len) : 0;
}

static void lit_end(void *ctx)
{
	struct imap_client *c = ctx;

	if (c->lit.end != NULL)
		c->lit.end(c->lit_ctx);
}

const struct imap_parser_callbacks imap_client_lit_callbacks = {
	.literal_begin = lit_begin,
	.literal_data = lit_data,
	.literal_end = lit_end,
};

/* ---- to the server --------------------------------------------------------------- */

void imap_client_stream_submitted(struct imap_client *c, struct imap_cmd *cmd)
{
	if (c->stream_open) {
		/* A caller bug: see imap_client_literal_write(). */
		fprintf(stderr, "imap_client: a streamed literal is already open\n");
		abort();
	}
	c->stream_cmd = cmd;
	c->stream_open = true;
	c->stream_busy = false;
	c->stream_drop = false;
	c->stream_left = cmd->stream_size;
	c->stream_src = NULL;
	c->stream_src_len = 0;
}

/* The server answered the open command. Before its data was allowed, the
 * bytes are dropped; after (a server answering mid-literal), they must
 * still be sent, or the server would read them as commands. */
void imap_client_stream_answered(struct imap_client *c)
{
	c->stream_cmd = NULL;
	if (!c->stream_busy)
		c->stream_drop = true;
}

int imap_client_stream_write(struct imap_client *c, struct mf_error *err)
{
	size_t n = c->stream_src_len;
	int rc;

	if (n > IMAP_CLIENT_STREAM_CHUNK)
		n = IMAP_CLIENT_STREAM_CHUNK;
	rc = net_write_all(c->conn, c->stream_src, n, c->io_timeout_ms, err);
	if (rc < 0)
		return rc;
	c->stream_src += n;
	c->stream_src_len -= n;
	return 0;
}

static bool stream_ready(const struct imap_client *c)
{
	return c->stream_busy || c->stream_drop;
}

static bool stream_written(const struct imap_client *c)
{
	return c->stream_src_len == 0;
}

bool imap_client_literal_open(const struct imap_client *c)
{
	return c->stream_open;
}

/* Send len bytes of the caller's (the literal's, or its final CRLF). */
static int stream_send(struct imap_client *c, const void *data, size_t len,
		       struct mf_error *err)
{
	int rc;

	rc = imap_client_loop_until(c, stream_ready, err);
	if (rc < 0)
		return rc;
	if (c->stream_drop || len == 0)
		return 0;
	c->stream_src = data;
	c->stream_src_len = len;
	rc = imap_client_loop_until(c, stream_written, err);
	c->stream_src = NULL;
	c->stream_src_len = 0;
	return rc;
}

int imap_client_literal_write(struct imap_client *c, const void *data, size_t len,
			      struct mf_error *err)
{
	int rc;

	if (c->dead)
		return imap_client_kill(c, c->dead, c->dead_err.msg, err);
	if (!c->stream_open)
		return mf_error_set(err, MF_EINVAL, "no streamed literal is open");
	if (len > c->stream_left)
		return mf_error_set(err, MF_EINVAL,
				    "literal data exceeds the announced size by %llu bytes",
				    (unsigned long long)(len - c->stream_left));
	rc = stream_send(c, data, len, err);
	if (rc < 0)
		return rc;
	c->stream_left -= len;
	return 0;
}

int imap_client_literal_end(struct imap_client *c, struct mf_error *err)
{
	int rc;

	if (c->dead) {
		c->stream_open = false;
		return imap_client_kill(c, c->dead, c->dead_err.msg, err);
	}
	if (!c->stream_open)
		return mf_error_set(err, MF_EINVAL, "no streamed literal is open");
	if (c->stream_left > 0)
		return mf_error_set(err, MF_EINVAL, "literal ended %llu bytes short of its size",
				    (unsigned long long)c->stream_left);
	rc = stream_send(c, "\r\n", 2, err);
	c->stream_open = false;
	c->stream_busy = false;
	c->stream_drop = false;
	c->stream_cmd = NULL;
	return rc;
}

/* Every command in flight is answered but the open streamed one. */
static bool stream_drained(const struct imap_client *c)
{
	const struct imap_cmd *cmd = c->inflight;

	return cmd == NULL || (cmd == c->stream_cmd && cmd->next == NULL);
}

int imap_client_drain(struct imap_client *c, int timeout_ms, struct mf_error *err)
{
	int saved = c->io_timeout_ms;
	int rc;

	if (c->dead)
		return imap_client_kill(c, c->dead, c->dead_err.msg, err);
	/* Nothing else is sent while a literal is open (client_promote), and
	 * the literal's own bytes have all been written by now. */
	if (timeout_ms > 0 && timeout_ms < saved)
		c->io_timeout_ms = timeout_ms;
	rc = imap_client_loop_until(c, stream_drained, err);
	c->io_timeout_ms = saved;
	return rc;
}

int imap_client_literal_next(struct imap_client *c, const char *args, uint64_t size,
			     struct mf_error *err)
{
	char hdr[48];
	struct buf line = BUF_INIT;
	int rc;

	if (c->dead)
		return imap_client_kill(c, c->dead, c->dead_err.msg, err);
	if (!c->stream_open)
		return mf_error_set(err, MF_EINVAL, "no streamed literal is open");
	if (c->stream_left > 0)
		return mf_error_set(err, MF_EINVAL, "literal still %llu bytes short of its size",
				    (unsigned long long)c->stream_left);
	if (!(c->caps & IMAP_CAP_LITERALPLUS))
		return mf_error_set(err, MF_EUNSUPPORTED,
				    "continuing a command with another literal needs LITERAL+");
	/* Have the command's own header on the wire first (a message of
	 * 0 bytes writes nothing before this). */
	rc = imap_client_loop_until(c, stream_ready, err);
	if (rc < 0)
		return rc;
	if (c->stream_cmd == NULL || c->stream_drop)
		return mf_error_set(err, MF_EBUSY, "the server answered the command already");
	snprintf(hdr, sizeof(hdr), "{%" PRIu64 "+}", size);
	if (args != NULL && args[0] != '\0') {
		buf_putc(&line, ' ');
		buf_puts(&line, args);
	}
	buf_putc(&line, ' ');
	buf_puts(&line, hdr);
	if (c->trace != NULL) {
		struct buf t = BUF_INIT;

		buf_append(&t, line.data + 1, line.len - 1);
		buf_printf(&t, "\n{%" PRIu64 " bytes}", size);
		imap_trace_print_lines(c->trace, c->trace_prefix, "C", t.data, t.len);
		buf_free(&t);
	}
	buf_puts(&line, "\r\n");
	rc = stream_send(c, line.data, line.len, err);
	buf_free(&line);
	if (rc < 0)
		return rc;
	c->stream_left = size;
	return 0;
}
