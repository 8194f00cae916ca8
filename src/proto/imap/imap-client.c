/* imap-client.c: the IMAP client's command queue, I/O loop and response
 * dispatch; the synchronous helpers are in imap-client-sync.c, what the
 * client learns from responses in imap-client-state.c, streamed literals
 * in imap-client-stream.c.
 *
 * Implements, with imap-cmd.c and imap-client-sync.c:
 *   RFC 9051  IMAP4rev2 (command pipelining, tags, literals, responses)
 *   RFC 3501  IMAP4rev1
 *   RFC 7888  LITERAL+ / LITERAL- (non-synchronizing literals)
 *   RFC 4959  SASL-IR (initial response to AUTHENTICATE)
 *   RFC 4616  the PLAIN SASL mechanism
 *   RFC 2971  ID
 *   RFC 6154  SPECIAL-USE mailbox attributes
 *   RFC 5258  LIST-EXTENDED (LIST ... RETURN (SPECIAL-USE SUBSCRIBED))
 *   RFC 7889  APPENDLIMIT
 *   RFC 2088  LITERAL+ (obsoleted by RFC 7888)
 *   RFC 3502  MULTIAPPEND (capability; commands are built by the caller)
 *   RFC 7162  CONDSTORE (HIGHESTMODSEQ on SELECT)
 *
 * Sending: commands move from pending to in flight in order, while fewer
 * than max_in_flight are outstanding, no command waits for a continuation
 * and the previous command has been handed to the socket completely. Bytes
 * are written in chunks of at most IMAP_CLIENT_WBUF after poll() says the
 * socket is writable, so a large command never stops us from reading the
 * server's answers (net.h has no partial write; a chunk that size does not
 * block on a writable socket in practice).
 *
 * Receiving: the loop stops feeding the parser as soon as the awaited
 * command completes, so bytes after it stay buffered; STARTTLS relies on
 * that to see injected data.
 */
#include "proto/imap/imap-client-private.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/mftime.h"
#include "util/xmalloc.h"

#define IMAP_DEFAULT_IO_TIMEOUT_MS 30000
#define IMAP_DEFAULT_MAX_IN_FLIGHT 64
#define IMAP_FIRST_LINE_MAX 200
#define IMAP_GREETING_SHOWN 60

struct imap_client *imap_client_new(struct net_conn *conn, const struct imap_client_opts *opts)
{
	struct imap_client *c = xcalloc(1, sizeof(*c));
	struct imap_parser_limits lim = { 0 };

	c->conn = conn;
	c->io_timeout_ms = IMAP_DEFAULT_IO_TIMEOUT_MS;
	c->max_in_flight = IMAP_DEFAULT_MAX_IN_FLIGHT;
	if (opts != NULL) {
		if (opts->io_timeout_ms > 0)
			c->io_timeout_ms = opts->io_timeout_ms;
		if (opts->max_in_flight > 0)
			c->max_in_flight = opts->max_in_flight;
		c->trace = opts->trace;
		if (opts->trace_prefix != NULL)
			c->trace_prefix = xstrdup(opts->trace_prefix);
		lim = opts->limits;
	}
	/* Zero fields mean the parser's defaults (see imap-parser.h). */
	if (lim.max_line == 0)
		lim.max_line = 1024 * 1024;
	if (lim.max_literal == 0)
		lim.max_literal = 16 * 1024 * 1024;
	if (lim.max_depth == 0)
		lim.max_depth = 64;
	/* Every literal is offered to the handler (imap-client-stream.c),
	 * which buffers it as before unless a literal handler takes it. */
	if (lim.stream_threshold == 0)
		lim.stream_threshold = 1;
	c->parser = imap_parser_new(&lim, &imap_client_lit_callbacks, c);
	c->server_id = xstrdup("");
	return c;
}

static void free_queue(struct imap_cmd *cmd)
{
	while (cmd != NULL) {
		struct imap_cmd *next = cmd->next;

		imap_cmd_free(&cmd);
		cmd = next;
	}
}

/* The done callbacks of queued commands are not called: their contexts may
 * already be gone when the owner frees the client. */
void imap_client_free(struct imap_client **cp)
{
	struct imap_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	free_queue(c->inflight);
	free_queue(c->pending);
	net_close(&c->conn);
	imap_parser_free(&c->parser);
	imap_trace_in_free(&c->trace_in);
	mf_memzero(c->wbuf, sizeof(c->wbuf));
	mf_memzero(c->rbuf, sizeof(c->rbuf));
	buf_free(&c->first_line);
	buf_free(&c->caps_text);
	free(c->greeting);
	free(c->server_id);
	free(c->bye_text);
	free(c->trace_prefix);
	free(c);
}

struct net_conn *imap_client_conn(struct imap_client *c)
{
	return c->conn;
}

void imap_client_set_untagged(struct imap_client *c, imap_untagged_fn *fn, void *ctx)
{
	c->untagged_fn = fn;
	c->untagged_ctx = ctx;
}

/* ---- queue ----------------------------------------------------------------- */

static void queue_push(struct imap_cmd **head, struct imap_cmd **tail, struct imap_cmd *cmd)
{
	cmd->next = NULL;
	if (*tail != NULL)
		(*tail)->next = cmd;
	else
		*head = cmd;
	*tail = cmd;
}

static struct imap_cmd *queue_pop(struct imap_cmd **head, struct imap_cmd **tail)
{
	struct imap_cmd *cmd = *head;

	if (cmd == NULL)
		return NULL;
	*head = cmd->next;
	if (*head == NULL)
		*tail = NULL;
	cmd->next = NULL;
	return cmd;
}

static void queue_unlink(struct imap_cmd **head, struct imap_cmd **tail, struct imap_cmd *cmd)
{
	struct imap_cmd *prev = NULL;

	for (struct imap_cmd *p = *head; p != NULL; prev = p, p = p->next) {
		if (p != cmd)
			continue;
		if (prev != NULL)
			prev->next = p->next;
		else
			*head = p->next;
		if (*tail == p)
			*tail = prev;
		p->next = NULL;
		return;
	}
}

const char *imap_client_submit(struct imap_client *c, struct imap_cmd *cmd,
			       imap_untagged_fn *untagged, imap_done_fn *done, void *ctx)
{
	cmd->seq = ++c->tag_seq;
	snprintf(cmd->tag, sizeof(cmd->tag), "A%" PRIu32, cmd->seq);
	cmd->untagged = untagged;
	cmd->done = done;
	cmd->ctx = ctx;
	queue_push(&c->pending, &c->pending_tail, cmd);
	if (cmd->stream)
		imap_client_stream_submitted(c, cmd);
	return cmd->tag;
}

static bool client_queued(const struct imap_client *c, const char *tag)
{
	for (const struct imap_cmd *p = c->inflight; p != NULL; p = p->next) {
		if (strcmp(p->tag, tag) == 0)
			return true;
	}
	for (const struct imap_cmd *p = c->pending; p != NULL; p = p->next) {
		if (strcmp(p->tag, tag) == 0)
			return true;
	}
	return false;
}

static void trace_part(struct imap_client *c, const struct imap_cmd *cmd, size_t idx)
{
	size_t start, end;

	if (c->trace == NULL)
		return;
	imap_cmd_trace_part(cmd, idx, &start, &end);
	imap_trace_print_lines(c->trace, c->trace_prefix, "C", cmd->trace.data + start,
			       end - start);
}

/* Start sending the next pending commands as far as the pipeline allows
 * (nothing while a streamed literal owns the socket). */
static void client_promote(struct imap_client *c)
{
	while (c->sending == NULL && c->waiting == NULL && !c->stream_busy &&
	       c->pending != NULL && c->n_inflight < c->max_in_flight) {
		struct imap_cmd *cmd = queue_pop(&c->pending, &c->pending_tail);

		imap_cmd_render(cmd, (c->caps & IMAP_CAP_LITERALPLUS) != 0,
				(c->caps & IMAP_CAP_LITERALMINUS) != 0);
		queue_push(&c->inflight, &c->inflight_tail, cmd);
		c->n_inflight++;
		c->sending = cmd;
		trace_part(c, cmd, 0);
	}
}

int imap_client_kill(struct imap_client *c, int code, const char *msg, struct mf_error *err)
{
	struct imap_cmd *cmd;

	if (!c->dead) {
		c->dead = code;
		mf_error_set(&c->dead_err, code, "%s", msg);
	}
	c->sending = NULL;
	c->waiting = NULL;
	c->stream_cmd = NULL;
	c->stream_open = c->stream_busy = false;
	c->stream_src_len = 0;
	/* A done callback may submit more; those fail too. */
	for (;;) {
		cmd = queue_pop(&c->inflight, &c->inflight_tail);
		if (cmd == NULL)
			cmd = queue_pop(&c->pending, &c->pending_tail);
		if (cmd == NULL)
			break;
		if (cmd->done != NULL)
			cmd->done(cmd->ctx, NULL, &c->dead_err);
		imap_cmd_free(&cmd);
	}
	c->n_inflight = 0;
	if (err != NULL)
		*err = c->dead_err;
	return c->dead;
}

static int client_fail(struct imap_client *c, const struct mf_error *e, struct mf_error *err)
{
	return imap_client_kill(c, e->code, e->msg, err);
}

void imap_client_abort(struct imap_client *c, int code, const char *msg)
{
	imap_client_kill(c, code, msg, NULL);
}

void imap_client_reset_stream(struct imap_client *c)
{
	imap_parser_reset(c->parser);
	imap_trace_in_reset(&c->trace_in);
	c->parser_partial = false;
	c->rpos = c->rlen = 0;
}

/* ---- dispatch --------------------------------------------------------------- */

static void first_line_text(const struct imap_client *c, struct buf *out)
{
	size_t n = c->first_line.len;

	if (n > IMAP_GREETING_SHOWN)
		n = IMAP_GREETING_SHOWN;
	imap_trace_escape(out, c->first_line.data, n);
}

static int unexpected_greeting(struct imap_client *c, struct mf_error *e)
{
	struct buf b = BUF_INIT;

	first_line_text(c, &b);
	mf_error_set(e, MF_EPROTO, "unexpected greeting: %s", buf_cstr(&b));
	buf_free(&b);
	return MF_EPROTO;
}

static int dispatch_greeting(struct imap_client *c, const struct imap_response *r,
			     struct mf_error *e)
{
	c->greeting_seen = true;
	if (r->kind != IMAP_RESP_UNTAGGED)
		return unexpected_greeting(c, e);
	switch (r->status) {
	case IMAP_STATUS_OK:
	case IMAP_STATUS_PREAUTH:
		c->preauth = r->status == IMAP_STATUS_PREAUTH;
		free(c->greeting);
		c->greeting = xstrdup(r->text);
		imap_client_note_code(c, r);
		return 0;
	case IMAP_STATUS_BYE:
		imap_client_note_untagged(c, r);
		/* The code tells why ([UNAVAILABLE]: come back later). */
		if (r->code != NULL)
			return mf_error_set(e, MF_ENO, "server said BYE: [%s] %s", r->code,
					    r->text);
		return mf_error_set(e, MF_ENO, "server said BYE: %s", r->text);
	default:
		return unexpected_greeting(c, e);
	}
}

static int dispatch_tagged(struct imap_client *c, const struct imap_response *r,
			   struct mf_error *e)
{
	struct imap_cmd *cmd;

	for (cmd = c->inflight; cmd != NULL; cmd = cmd->next) {
		if (strcmp(cmd->tag, r->tag) == 0)
			break;
	}
	if (cmd == NULL)
		return mf_error_set(e, MF_EPROTO, "server answered unknown tag %.40s", r->tag);
	imap_client_note_code(c, r);
	queue_unlink(&c->inflight, &c->inflight_tail, cmd);
	c->n_inflight--;
	if (cmd == c->stream_cmd)
		imap_client_stream_answered(c);
	/* A NO/BAD before "+" abandons the rest of the command. */
	if (c->waiting == cmd)
		c->waiting = NULL;
	if (c->sending == cmd)
		c->sending = NULL;
	if (cmd->done != NULL)
		cmd->done(cmd->ctx, r, NULL);
	imap_cmd_free(&cmd);
	return 0;
}

static int dispatch(struct imap_client *c, const struct imap_response *r, struct mf_error *e)
{
	struct imap_cmd *cmd;

	if (!c->greeting_seen)
		return dispatch_greeting(c, r, e);
	switch (r->kind) {
	case IMAP_RESP_TAGGED:
		return dispatch_tagged(c, r, e);
	case IMAP_RESP_CONTINUATION:
		cmd = c->waiting;
		if (cmd == NULL)
			return mf_error_set(e, MF_EPROTO,
					    "unexpected continuation request from server");
		c->waiting = NULL;
		cmd->next_stop++;
		trace_part(c, cmd, cmd->next_stop);
		if (cmd->stream && cmd->sent == cmd->wire.len) {
			/* The caller's literal bytes may go now. */
			c->sending = NULL;
			c->stream_busy = true;
		}
		return 0;
	case IMAP_RESP_UNTAGGED:
		imap_client_note_untagged(c, r);
		if (c->inflight != NULL && c->inflight->untagged != NULL)
			c->inflight->untagged(c->inflight->ctx, r);
		else if (c->untagged_fn != NULL)
			c->untagged_fn(c->untagged_ctx, r);
		return 0;
	}
	return 0;
}

/* ---- the loop ------------------------------------------------------------------ */

/* What the loop waits for: the greeting, a condition, one tag, or (tag
 * NULL) an empty queue. */
struct loop_goal {
	bool greeting;
	bool (*pred)(const struct imap_client *c);
	const char *tag;
};

static bool goal_reached(const struct imap_client *c, const struct loop_goal *g)
{
	if (g->greeting)
		return c->greeting_seen;
	if (g->pred != NULL)
		return g->pred(c);
	if (g->tag != NULL)
		return !client_queued(c, g->tag);
	return c->pending == NULL && c->inflight == NULL;
}

/* Feed buffered bytes to the parser and dispatch complete responses, until
 * the buffer is empty or the goal is reached. */
static int client_process(struct imap_client *c, const struct loop_goal *g, struct mf_error *e)
{
	while (c->rpos < c->rlen && !goal_reached(c, g)) {
		const struct imap_response *r = NULL;
		size_t used = 0;
		enum imap_parse_result res;
		int rc;

		/* For the literal handler: where this response starts. */
		if (!c->parser_partial) {
			c->head_len = 0;
			c->head_done = false;
		}
		c->chunk = c->rbuf + c->rpos;
		c->chunk_len = c->rlen - c->rpos;
		res = imap_parser_feed(c->parser, c->rbuf + c->rpos, c->rlen - c->rpos, &used,
				       &r, e);
		if (res == IMAP_PARSE_NEED_MORE)
			imap_client_head_note(c, c->rbuf + c->rpos, used);
		c->rpos += used;
		if (res == IMAP_PARSE_ERROR) {
			if (!c->greeting_seen)
				return unexpected_greeting(c, e);
			return mf_error_prefix(e, "bad response from server");
		}
		if (res == IMAP_PARSE_NEED_MORE) {
			c->parser_partial = true;
			c->rpos = c->rlen;
			break;
		}
		c->parser_partial = false;
		rc = dispatch(c, r, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void note_read(struct imap_client *c, size_t n)
{
	if (c->trace != NULL)
		imap_trace_in_feed(&c->trace_in, c->trace, c->trace_prefix, c->rbuf, n);
	if (!c->greeting_seen && !c->first_line_done) {
		for (size_t i = 0; i < n && !c->first_line_done; i++) {
			if (c->rbuf[i] == '\n' || c->first_line.len >= IMAP_FIRST_LINE_MAX)
				c->first_line_done = true;
			else if (c->rbuf[i] != '\r')
				buf_putc(&c->first_line, c->rbuf[i]);
		}
	}
}

static int read_failed(struct imap_client *c, struct mf_error *e)
{
	if (e->code == MF_ECLOSED) {
		if (!c->greeting_seen)
			return mf_error_set(e, MF_ECLOSED,
					    "server closed the connection before the greeting");
		if (c->bye)
			return mf_error_set(e, MF_ECLOSED, "server closed the connection (BYE: %s)",
					    c->bye_text);
	}
	return e->code;
}

static int timed_out(struct imap_client *c, struct mf_error *e)
{
	if (!c->greeting_seen)
		return mf_error_set(e, MF_ETIMEOUT, "no greeting within %g s",
				    c->io_timeout_ms / 1000.0);
	return mf_error_set(e, MF_ETIMEOUT, "no response from server within %g s",
			    c->io_timeout_ms / 1000.0);
}

/* Hand the next chunk of sendable bytes to the socket. */
static int client_write(struct imap_client *c, struct mf_error *e)
{
	size_t total = 0;
	bool secret = false;
	int rc;

	while (total < sizeof(c->wbuf) && c->sending != NULL && c->waiting == NULL) {
		struct imap_cmd *cmd = c->sending;
		size_t end = imap_cmd_part_end(cmd);
		size_t n = end - cmd->sent;

		if (n > sizeof(c->wbuf) - total)
			n = sizeof(c->wbuf) - total;
		memcpy(c->wbuf + total, cmd->wire.data + cmd->sent, n);
		cmd->sent += n;
		total += n;
		secret = secret || cmd->has_secret;
		if (cmd->sent < end)
			break;
		if (end < cmd->wire.len || (cmd->stream && cmd->next_stop < cmd->nstops)) {
			c->waiting = cmd;
		} else if (cmd->stream) {
			/* The header is out; the caller's bytes follow. */
			c->sending = NULL;
			c->stream_busy = true;
		} else {
			c->sending = NULL;
			client_promote(c);
		}
	}
	if (total > 0) {
		rc = net_write_all(c->conn, c->wbuf, total, c->io_timeout_ms, e);
		if (secret)
			mf_memzero(c->wbuf, total);
		if (rc < 0)
			return rc;
	}
	if (c->stream_busy && c->stream_src_len > 0)
		return imap_client_stream_write(c, e);
	return 0;
}

bool imap_client_want_write(const struct imap_client *c)
{
	if (c->sending != NULL && c->waiting == NULL)
		return true;
	return c->stream_busy && c->stream_src_len > 0;
}

static int client_loop(struct imap_client *c, const struct loop_goal *g, struct mf_error *err)
{
	int64_t last = mf_now_ms();
	struct mf_error e = { 0 };

	for (;;) {
		struct pollfd pfd = { .fd = net_fd(c->conn), .events = POLLIN };
		bool readable = false, writable = false;
		int64_t left;
		ssize_t n;
		int rc;

		if (c->dead)
			return imap_client_kill(c, c->dead, c->dead_err.msg, err);
		if (goal_reached(c, g))
			return 0;
		if (c->rpos < c->rlen) {
			if (client_process(c, g, &e) < 0)
				return client_fail(c, &e, err);
			continue;
		}
		client_promote(c);
		left = last + c->io_timeout_ms - mf_now_ms();
		if (net_pending(c->conn)) {
			readable = true;
		} else {
			if (left <= 0) {
				timed_out(c, &e);
				return client_fail(c, &e, err);
			}
			if (imap_client_want_write(c))
				pfd.events |= POLLOUT;
			rc = poll(&pfd, 1, (int)left);
			if (rc < 0 && errno != EINTR) {
				mf_error_set(&e, MF_EIO, "poll: %s", strerror(errno));
				return client_fail(c, &e, err);
			}
			if (rc <= 0)
				continue;
			readable = (pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
			writable = (pfd.revents & POLLOUT) != 0;
		}
		if (writable) {
			if (client_write(c, &e) < 0)
				return client_fail(c, &e, err);
			last = mf_now_ms();
		}
		if (readable) {
			n = net_read(c->conn, c->rbuf, sizeof(c->rbuf),
				     left > 0 ? (int)left : 1, &e);
			if (n < 0) {
				if (e.code == MF_ETIMEOUT)
					timed_out(c, &e);
				read_failed(c, &e);
				return client_fail(c, &e, err);
			}
			c->rpos = 0;
			c->rlen = (size_t)n;
			note_read(c, c->rlen);
			last = mf_now_ms();
		}
	}
}

int imap_client_run(struct imap_client *c, const char *tag, struct mf_error *err)
{
	char tagcopy[sizeof(((struct imap_cmd *)NULL)->tag)];
	struct loop_goal g = { false, NULL, NULL };
	int rc;

	if (c->running)
		return mf_error_set(err, MF_EINVAL, "imap_client_run called from a callback");
	if (tag != NULL) {
		/* The tag may point into the command, which is freed when it
		 * completes. */
		snprintf(tagcopy, sizeof(tagcopy), "%s", tag);
		g.tag = tagcopy;
	}
	c->running = true;
	rc = client_loop(c, &g, err);
	c->running = false;
	return rc;
}

int imap_client_loop_until(struct imap_client *c, bool (*done)(const struct imap_client *c),
			   struct mf_error *err)
{
	struct loop_goal g = { false, done, NULL };
	int rc;

	if (c->running)
		return mf_error_set(err, MF_EINVAL, "imap_client_run called from a callback");
	c->running = true;
	rc = client_loop(c, &g, err);
	c->running = false;
	return rc;
}

int imap_client_greeting_read(struct imap_client *c, bool *preauth_r, struct mf_error *err)
{
	struct loop_goal g = { true, NULL, NULL };
	int rc;

	if (preauth_r != NULL)
		*preauth_r = false;
	if (c->running)
		return mf_error_set(err, MF_EINVAL, "imap_client_run called from a callback");
	c->running = true;
	rc = client_loop(c, &g, err);
	c->running = false;
	if (rc < 0)
		return rc;
	if (preauth_r != NULL)
		*preauth_r = c->preauth;
	return 0;
}
