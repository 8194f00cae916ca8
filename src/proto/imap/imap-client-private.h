/* imap-client-private.h: the inside of struct imap_client, shared by the
 * queue and I/O loop (imap-client.c) and the synchronous helpers
 * (imap-client-sync.c). Not for use outside src/proto/imap.
 */
#ifndef MF_IMAP_CLIENT_PRIVATE_H
#define MF_IMAP_CLIENT_PRIVATE_H

#include "proto/imap/imap-client.h"
#include "proto/imap/imap-cmd-private.h"
#include "proto/imap/imap-trace.h"
#include "util/buf.h"

#define IMAP_CLIENT_RBUF 16384
#define IMAP_CLIENT_WBUF 16384

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
};

/* Make the client dead with code and message (unless it already is), fail
 * every queued command, copy the error to err. Returns the dead code. */
int imap_client_kill(struct imap_client *c, int code, const char *msg, struct mf_error *err);

/* Forget capabilities (after STARTTLS). */
void imap_client_caps_reset(struct imap_client *c);

/* After the TLS handshake: forget parser state and partial trace lines. */
void imap_client_reset_stream(struct imap_client *c);

#endif
