/* imap-cmd-private.h: the inside of struct imap_cmd, shared by the builder
 * (imap-cmd.c) and the client's command queue (imap-client.c). Not for use
 * outside src/proto/imap.
 *
 * A command is built as a list of segments and rendered to wire bytes only
 * when the client starts sending it, because the literal form ({n} or {n+})
 * depends on the server's capabilities at that moment.
 *
 * The rendered wire is cut into parts at "stops": after a synchronizing
 * literal's "{n}\r\n" or before an AUTHENTICATE continuation line, the
 * client must wait for the server's "+" before sending the next part. The
 * trace text is cut at the same stops so each part is traced as it is sent.
 */
#ifndef MF_IMAP_CMD_PRIVATE_H
#define MF_IMAP_CMD_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/imap/imap-client.h"
#include "util/buf.h"

/* LITERAL- (RFC 7888) allows non-synchronizing literals up to this size. */
#define IMAP_LITERAL_MINUS_MAX 4096
/* Literal contents longer than this print as "{N bytes}" in a trace. */
#define IMAP_TRACE_LITERAL_MAX 60

enum imap_seg_type {
	IMAP_SEG_TEXT,    /* verbatim protocol text */
	IMAP_SEG_LITERAL, /* literal data; header added at render time */
	IMAP_SEG_CONT,    /* a line sent after the server's "+" (AUTHENTICATE) */
	IMAP_SEG_STREAM,  /* literal header only: the caller writes the bytes */
};

struct imap_seg {
	enum imap_seg_type type;
	bool secret;  /* trace prints <redacted>; wiped when freed */
	char *data;   /* owned */
	size_t len;
};

struct imap_cmd {
	char *name;                 /* owned, e.g. "UID FETCH" */
	struct imap_seg *segs;      /* owned array */
	size_t nsegs, segs_cap;
	bool has_secret;
	/* Ends with a streamed literal of stream_size bytes: the wire holds
	 * everything up to its header; the bytes and the final CRLF come
	 * from imap_client_literal_write() / imap_client_literal_end(). */
	bool stream;
	uint64_t stream_size;

	/* Set by imap_client_submit(). */
	uint32_t seq;
	char tag[16];
	imap_untagged_fn *untagged;
	imap_done_fn *done;
	void *ctx;
	struct imap_cmd *next;      /* queue link (pending or in flight) */

	/* Set by imap_cmd_render(). stops[i] are wire offsets where sending
	 * waits for "+"; tstops[i] the matching trace offsets. */
	struct buf wire;
	struct buf trace;           /* lines separated by '\n' */
	size_t *stops, *tstops;
	size_t nstops;
	size_t sent;                /* wire bytes handed to the socket */
	size_t next_stop;           /* index of the next stop not yet passed */
};

/* Append " text" verbatim, optionally secret (the SASL-IR initial response,
 * which must stay an atom whatever its length). */
void imap_cmd_raw(struct imap_cmd *cmd, const char *text, bool secret);

/* Append a line to be sent only after the server's continuation request
 * (the response of an AUTHENTICATE exchange). */
void imap_cmd_cont(struct imap_cmd *cmd, const void *data, size_t len, bool secret);

/* Render "tag name args\r\n" into cmd->wire / cmd->trace. literal_plus:
 * all literals non-synchronizing; literal_minus: those up to 4096 bytes. */
void imap_cmd_render(struct imap_cmd *cmd, bool literal_plus, bool literal_minus);

/* The end (wire offset) of the part that is being sent now. */
size_t imap_cmd_part_end(const struct imap_cmd *cmd);

/* Trace text of part idx (0 .. nstops), as [*start_r, *end_r) in cmd->trace. */
void imap_cmd_trace_part(const struct imap_cmd *cmd, size_t idx, size_t *start_r,
			 size_t *end_r);

#endif
