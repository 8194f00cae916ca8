/* imap-client.c: the IMAP client's command queue, I/O loop and response
 * dispatch; the synchronous helpers are in imap-client-sync.c.
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
	c->parser = imap_parser_new(&lim, NULL, NULL);
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

/* Start sending the next pending commands as far as the pipeline allows. */
static void client_promote(struct imap_client *c)
{
	while (c->sending == NULL && c->waiting == NULL && c->pending != NULL &&
	       c->n_inflight < c->max_in_flight) {
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

/* ---- what the client tracks itself ------------------------------------------ */

static const struct {
	const char *name;
	uint32_t bit;
} cap_names[] = {
	{ "IMAP4REV1", IMAP_CAP_IMAP4REV1 },
	{ "IMAP4REV2", IMAP_CAP_IMAP4REV2 },
	{ "STARTTLS", IMAP_CAP_STARTTLS },
	{ "LOGINDISABLED", IMAP_CAP_LOGINDISABLED },
	{ "AUTH=PLAIN", IMAP_CAP_AUTH_PLAIN },
	{ "AUTH=LOGIN", IMAP_CAP_AUTH_LOGIN },
	{ "SASL-IR", IMAP_CAP_SASL_IR },
	{ "LITERAL+", IMAP_CAP_LITERALPLUS },
	{ "LITERAL-", IMAP_CAP_LITERALMINUS },
	{ "ID", IMAP_CAP_ID },
	{ "UIDPLUS", IMAP_CAP_UIDPLUS },
	{ "CONDSTORE", IMAP_CAP_CONDSTORE },
	{ "QRESYNC", IMAP_CAP_QRESYNC },
	{ "SPECIAL-USE", IMAP_CAP_SPECIAL_USE },
	{ "MOVE", IMAP_CAP_MOVE },
	{ "APPENDLIMIT", IMAP_CAP_APPENDLIMIT },
	{ "MULTIAPPEND", IMAP_CAP_MULTIAPPEND },
	{ "COMPRESS=DEFLATE", IMAP_CAP_COMPRESS },
	{ "NAMESPACE", IMAP_CAP_NAMESPACE },
	{ "ENABLE", IMAP_CAP_ENABLE },
	{ "LIST-EXTENDED", IMAP_CAP_LIST_EXTENDED },
	{ "LIST-STATUS", IMAP_CAP_LIST_STATUS },
	{ "BINARY", IMAP_CAP_BINARY },
	{ "UTF8=ACCEPT", IMAP_CAP_UTF8_ACCEPT },
	{ "UTF8=ONLY", IMAP_CAP_UTF8_ACCEPT },
	{ "ESEARCH", IMAP_CAP_ESEARCH },
};

static void cap_add(struct imap_client *c, const char *atom)
{
	if (strncasecmp(atom, "APPENDLIMIT=", 12) == 0) {
		char *end;
		unsigned long long v;

		c->caps |= IMAP_CAP_APPENDLIMIT;
		errno = 0;
		v = strtoull(atom + 12, &end, 10);
		if (errno == 0 && *end == '\0' && end != atom + 12)
			c->appendlimit = v;
		return;
	}
	for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		if (strcasecmp(atom, cap_names[i].name) == 0) {
			c->caps |= cap_names[i].bit;
			return;
		}
	}
}

static void caps_set(struct imap_client *c, const struct imap_arg *args, size_t n)
{
	c->caps = 0;
	c->appendlimit = 0;
	buf_reset(&c->caps_text);
	for (size_t i = 0; i < n; i++) {
		if (args[i].type != IMAP_ARG_ATOM)
			continue;
		if (c->caps_text.len > 0)
			buf_putc(&c->caps_text, ' ');
		imap_trace_escape(&c->caps_text, args[i].data, args[i].len);
		cap_add(c, args[i].data);
	}
	c->caps_known = true;
	c->caps_stale = false;
	c->caps_gen++;
}

void imap_client_caps_reset(struct imap_client *c)
{
	c->caps = 0;
	c->appendlimit = 0;
	buf_reset(&c->caps_text);
	c->caps_known = false;
	c->caps_stale = false;
	c->caps_gen++;
}

void imap_client_reset_stream(struct imap_client *c)
{
	imap_parser_reset(c->parser);
	imap_trace_in_reset(&c->trace_in);
	c->parser_partial = false;
	c->rpos = c->rlen = 0;
}

static bool code_number(const struct imap_response *r, uint64_t *v)
{
	return r->code_args_count >= 1 && imap_arg_number(&r->code_args[0], v);
}

/* Response codes of status responses, tagged or untagged. */
static void note_code(struct imap_client *c, const struct imap_response *r)
{
	uint64_t v;

	if (r->code == NULL)
		return;
	if (strcmp(r->code, "CAPABILITY") == 0)
		caps_set(c, r->code_args, r->code_args_count);
	else if (strcmp(r->code, "UIDVALIDITY") == 0 && code_number(r, &v))
		c->mbox.uidvalidity = (uint32_t)v;
	else if (strcmp(r->code, "UIDNEXT") == 0 && code_number(r, &v))
		c->mbox.uidnext = (uint32_t)v;
	else if (strcmp(r->code, "HIGHESTMODSEQ") == 0 && code_number(r, &v))
		c->mbox.highestmodseq = v;
	else if (strcmp(r->code, "NOMODSEQ") == 0)
		c->mbox.highestmodseq = 0;
	else if (strcmp(r->code, "READ-ONLY") == 0)
		c->mbox.readonly = true;
	else if (strcmp(r->code, "READ-WRITE") == 0)
		c->mbox.readonly = false;
}

/* "* ID ("name" "Dovecot" ...)" -> "name=Dovecot; ..." */
static void note_id(struct imap_client *c, const struct imap_response *r)
{
	struct buf b = BUF_INIT;
	const struct imap_arg *l;

	if (r->args_count >= 1 && r->args[0].type == IMAP_ARG_LIST) {
		l = r->args[0].list;
		for (size_t i = 0; i + 1 < r->args[0].list_count; i += 2) {
			const char *k = imap_arg_text(&l[i]);
			const char *v = imap_arg_text(&l[i + 1]);

			if (k == NULL || v == NULL)
				continue;
			if (b.len > 0)
				buf_puts(&b, "; ");
			imap_trace_escape(&b, k, strlen(k));
			buf_putc(&b, '=');
			imap_trace_escape(&b, v, strlen(v));
		}
	}
	free(c->server_id);
	c->server_id = b.len > 0 ? buf_steal(&b) : xstrdup("");
	buf_free(&b);
}

static void note_untagged(struct imap_client *c, const struct imap_response *r)
{
	if (r->status != IMAP_STATUS_NONE) {
		if (r->status == IMAP_STATUS_BYE) {
			c->bye = true;
			free(c->bye_text);
			c->bye_text = xstrdup(r->text);
		}
		note_code(c, r);
		return;
	}
	if (r->keyword == NULL)
		return;
	if (strcmp(r->keyword, "CAPABILITY") == 0)
		caps_set(c, r->args, r->args_count);
	else if (strcmp(r->keyword, "ID") == 0)
		note_id(c, r);
	else if (strcmp(r->keyword, "EXISTS") == 0 && r->has_number)
		c->mbox.exists = r->number;
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
		note_code(c, r);
		return 0;
	case IMAP_STATUS_BYE:
		note_untagged(c, r);
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
	note_code(c, r);
	queue_unlink(&c->inflight, &c->inflight_tail, cmd);
	c->n_inflight--;
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
		return 0;
	case IMAP_RESP_UNTAGGED:
		note_untagged(c, r);
		if (c->inflight != NULL && c->inflight->untagged != NULL)
			c->inflight->untagged(c->inflight->ctx, r);
		else if (c->untagged_fn != NULL)
			c->untagged_fn(c->untagged_ctx, r);
		return 0;
	}
	return 0;
}

/* ---- the loop ------------------------------------------------------------------ */

/* What the loop waits for: the greeting, one tag, or (tag NULL) an empty
 * queue. */
struct loop_goal {
	bool greeting;
	const char *tag;
};

static bool goal_reached(const struct imap_client *c, const struct loop_goal *g)
{
	if (g->greeting)
		return c->greeting_seen;
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

		res = imap_parser_feed(c->parser, c->rbuf + c->rpos, c->rlen - c->rpos, &used,
				       &r, e);
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
		if (end < cmd->wire.len) {
			c->waiting = cmd;
		} else {
			c->sending = NULL;
			client_promote(c);
		}
	}
	if (total == 0)
		return 0;
	rc = net_write_all(c->conn, c->wbuf, total, c->io_timeout_ms, e);
	if (secret)
		mf_memzero(c->wbuf, total);
	return rc;
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
			if (c->sending != NULL && c->waiting == NULL)
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
	struct loop_goal g = { false, NULL };
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

int imap_client_greeting_read(struct imap_client *c, bool *preauth_r, struct mf_error *err)
{
	struct loop_goal g = { true, NULL };
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

/* ---- accessors ------------------------------------------------------------------ */

uint32_t imap_client_caps(const struct imap_client *c)
{
	return c->caps;
}

const char *imap_client_caps_text(const struct imap_client *c)
{
	return buf_cstr(&c->caps_text);
}

bool imap_client_has_cap(const struct imap_client *c, const char *atom)
{
	const char *p = buf_cstr(&c->caps_text);
	size_t n = strlen(atom);

	while (*p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t len = sp != NULL ? (size_t)(sp - p) : strlen(p);

		if (len == n && strncasecmp(p, atom, n) == 0)
			return true;
		p += len;
		if (*p == ' ')
			p++;
	}
	return false;
}

uint64_t imap_client_appendlimit(const struct imap_client *c)
{
	return c->appendlimit;
}

const char *imap_client_greeting(const struct imap_client *c)
{
	return c->greeting != NULL ? c->greeting : "";
}

const char *imap_client_server_id(const struct imap_client *c)
{
	return c->server_id;
}

bool imap_client_bye(const struct imap_client *c)
{
	return c->bye;
}
