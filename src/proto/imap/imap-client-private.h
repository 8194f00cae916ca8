/* imap-client-private.h: the inside of struct imap_client, shared by the
 * queue and I/O loop (imap-client.c) and the synchronous helpers
 * (imap-client-sync.c), the response bookkeeping (imap-client-state.c) and
 * streamed literals (imap-client-stream.c). Not for use outside src/proto/imap.
 */
#ifndef MF_IMAP_CLIENT_PRIVATE_H
#define MF_IMAP_CLIENT_PRIVATE_H

#include "proto/imap/imap-client.h"
#include "proto/imap/imap-cmd-private.h"
#include "proto/imap/imap-trace.h"
#include "util/buf.h"

#define IMAP_CLIENT_RBUF 65536
#define IMAP_CLIENT_WBUF 16384
#define IMAP_CLIENT_HEAD_MAX 48         /* "* 4294967295 KEYWORD (" fits */
#define IMAP_CLIENT_STREAM_CHUNK 65536  /* literal bytes per write */

struct imap_client {
	struct net_conn *conn;          /* owned */
	struct imap_parser *parser;     /* owned */
	int io_timeout_ms;
	size_t max_in_flight;
	FILE *trace;                    /* foreign */
	char *trace_prefix;             /* owned, may be NULL */
	struct imap_trace_in trace_in;

	/* Command queue: pending commands have not been sent at all; in-flight
	 * ones have been rendered and (partly) sent. sending is the in-flight
	 * command whose bytes are still being written; waiting is the one that
	 * waits for a "+" continuation (at most one). */
	struct imap_cmd *pending, *pending_tail;
	struct imap_cmd *inflight, *inflight_tail;
	size_t n_inflight;
	struct imap_cmd *sending, *waiting;
	uint32_t tag_seq;
	bool running;                   /* inside imap_client_run() */

	/* Bytes read but not yet fed to the parser. */
	char rbuf[IMAP_CLIENT_RBUF];
	size_t rpos, rlen;
	bool parser_partial;            /* parser holds part of a response */
	char wbuf[IMAP_CLIENT_WBUF];

	imap_untagged_fn *untagged_fn;
	void *untagged_ctx;

	/* Greeting. */
	bool greeting_seen, preauth;
	struct buf first_line;          /* raw start of the first line */
	bool first_line_done;
	char *greeting;                 /* owned */

	/* Capabilities. caps_gen counts updates, so a helper can tell whether
	 * a command brought new ones; caps_stale: known to be out of date
	 * (after a login that did not send them). */
	uint32_t caps;
	struct buf caps_text;
	uint64_t appendlimit;
	bool caps_known, caps_stale;
	unsigned caps_gen;

	char *server_id;                /* owned, "" when none */
	bool bye;
	char *bye_text;                 /* owned, NULL until BYE */
	struct imap_mailbox_state mbox; /* from the latest SELECT / EXAMINE */

	/* Once the connection failed: the error every later call returns. */
	int dead;
	struct mf_error dead_err;

	/* Streamed literals from the server (imap-client-stream.c): the
	 * handler, and the start of the response being parsed ("* 5 FETCH"),
	 * taken from the bytes fed to the parser (chunk) so a literal can be
	 * tied to its response before the response is complete. */
	struct imap_literal_handler lit;
	void *lit_ctx;
	char head[IMAP_CLIENT_HEAD_MAX];
	size_t head_len;
	bool head_done;                 /* the head is complete (LF or full) */
	const char *chunk;              /* bytes being fed to the parser now */
	size_t chunk_len;

	/* A literal the caller streams to the server. stream_cmd is the open
	 * command (NULL once answered); stream_busy: its header is on the
	 * wire (and "+" came), so the socket belongs to the literal's bytes
	 * until it ends; stream_drop: answered before that, bytes dropped. */
	struct imap_cmd *stream_cmd;
	bool stream_open, stream_busy, stream_drop;
	uint64_t stream_left;           /* bytes still to come from the caller */
	const char *stream_src;         /* caller's bytes being written */
	size_t stream_src_len;
};

/* ---- between imap-client.c and imap-client-stream.c ---- */

/* The parser callbacks (ctx: the client). */
extern const struct imap_parser_callbacks imap_client_lit_callbacks;

/* Note bytes fed to the parser that left a response incomplete. */
void imap_client_head_note(struct imap_client *c, const char *data, size_t len);

/* A command with a streamed literal was submitted / answered. */
void imap_client_stream_submitted(struct imap_client *c, struct imap_cmd *cmd);
void imap_client_stream_answered(struct imap_client *c);

/* Write the next chunk of the caller's literal bytes (socket writable). */
int imap_client_stream_write(struct imap_client *c, struct mf_error *err);

/* Whether there are bytes to write now. */
bool imap_client_want_write(const struct imap_client *c);

/* Run the I/O loop until done(c) is true (or the connection fails). */
int imap_client_loop_until(struct imap_client *c, bool (*done)(const struct imap_client *c),
			   struct mf_error *err);

/* Make the client dead with code and message (unless it already is), fail
 * every queued command, copy the error to err. Returns the dead code. */
int imap_client_kill(struct imap_client *c, int code, const char *msg, struct mf_error *err);

/* Learn from a status response's code / from an untagged response
 * (imap-client-state.c). */
void imap_client_note_code(struct imap_client *c, const struct imap_response *r);
void imap_client_note_untagged(struct imap_client *c, const struct imap_response *r);

/* Forget capabilities (after STARTTLS). */
void imap_client_caps_reset(struct imap_client *c);

/* After the TLS handshake: forget parser state and partial trace lines. */
void imap_client_reset_stream(struct imap_client *c);

#endif
