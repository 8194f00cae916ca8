/* imap-client.h: our IMAP client (RFC 9051, RFC 3501).
 *
 * A client owns one connection (struct net_conn) and one push parser. Commands
 * are built with the imap_cmd_* builder, queued with imap_client_submit(), and
 * sent as soon as the pipeline allows: up to max_in_flight commands are
 * outstanding at once; a synchronizing literal stops further sending until the
 * server's "+" continuation arrives (LITERAL+ and LITERAL- avoid the wait).
 * imap_client_run() drives the exchange until a given command completes.
 *
 * Untagged responses go to the callback of the command that is the oldest
 * in flight (or, when none is, to the client's default handler), after the
 * client itself has looked at them (CAPABILITY, [CAPABILITY ...], EXISTS,
 * UIDVALIDITY, BYE, ...).
 *
 * Literals can be streamed both ways (imap_client_set_literal_handler,
 * imap_cmd_literal_stream), so a message never has to sit whole in memory.
 *
 * Tracing: with a trace FILE set, every line sent ("C: ") and received
 * ("S: ") is printed; arguments marked secret print as <redacted>, and so do
 * the continuation lines of AUTHENTICATE. Literal bodies print as
 * "{N bytes}" beyond a short prefix.
 *
 * One thread at a time uses a client.
 */
#ifndef MF_IMAP_CLIENT_H
#define MF_IMAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "net/net.h"
#include "proto/imap/imap-parser.h"
#include "util/mf-error.h"

/* ---- capabilities ------------------------------------------------------ */

enum imap_cap {
	IMAP_CAP_IMAP4REV1 = 1u << 0,
	IMAP_CAP_IMAP4REV2 = 1u << 1,
	IMAP_CAP_STARTTLS = 1u << 2,
	IMAP_CAP_LOGINDISABLED = 1u << 3,
	IMAP_CAP_AUTH_PLAIN = 1u << 4,
	IMAP_CAP_AUTH_LOGIN = 1u << 5,
	IMAP_CAP_SASL_IR = 1u << 6,
	IMAP_CAP_LITERALPLUS = 1u << 7,  /* LITERAL+ */
	IMAP_CAP_LITERALMINUS = 1u << 8, /* LITERAL- */
	IMAP_CAP_ID = 1u << 9,
	IMAP_CAP_UIDPLUS = 1u << 10,
	IMAP_CAP_CONDSTORE = 1u << 11,
	IMAP_CAP_QRESYNC = 1u << 12,
	IMAP_CAP_SPECIAL_USE = 1u << 13,
	IMAP_CAP_MOVE = 1u << 14,
	IMAP_CAP_APPENDLIMIT = 1u << 15,
	IMAP_CAP_MULTIAPPEND = 1u << 16,
	IMAP_CAP_COMPRESS = 1u << 17,    /* COMPRESS=DEFLATE */
	IMAP_CAP_NAMESPACE = 1u << 18,
	IMAP_CAP_ENABLE = 1u << 19,
	IMAP_CAP_LIST_EXTENDED = 1u << 20,
	IMAP_CAP_LIST_STATUS = 1u << 21,
	IMAP_CAP_BINARY = 1u << 22,
	IMAP_CAP_UTF8_ACCEPT = 1u << 23,
	IMAP_CAP_ESEARCH = 1u << 24,
};

/* ---- command builder --------------------------------------------------- */

struct imap_cmd;

/* A new command; the tag is assigned at submit time. name is the command
 * word(s), e.g. "UID FETCH". */
struct imap_cmd *imap_cmd_new(const char *name);
/* Append " atom" verbatim (caller guarantees atom syntax, e.g. "1:*"). */
void imap_cmd_atom(struct imap_cmd *cmd, const char *atom);
/* Append " printf-output" verbatim. */
void imap_cmd_atomf(struct imap_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append an astring: atom when safe, quoted when possible, else a literal. */
void imap_cmd_astring(struct imap_cmd *cmd, const char *s);
/* Same, but the trace shows <redacted>; the copy is wiped when freed. */
void imap_cmd_secret(struct imap_cmd *cmd, const char *s);
/* Append a literal of len bytes (copied). */
void imap_cmd_literal(struct imap_cmd *cmd, const void *data, size_t len);
/* Append a literal of size bytes whose contents the caller writes after
 * submitting the command, with imap_client_literal_write() and
 * imap_client_literal_end() (imap-client-stream.c). It must be the
 * command's last argument; its form ({n}, {n+}) follows the capabilities as
 * for imap_cmd_literal(); the trace shows "{N bytes}". */
void imap_cmd_literal_stream(struct imap_cmd *cmd, uint64_t size);
/* Free a command that was never submitted. */
void imap_cmd_free(struct imap_cmd **cmdp);

/* ---- client ------------------------------------------------------------- */

struct imap_client;

typedef void imap_untagged_fn(void *ctx, const struct imap_response *r);
/* Called once when the command completes: r is the tagged response (NULL
 * when the command failed locally, e.g. connection lost; err says why). */
typedef void imap_done_fn(void *ctx, const struct imap_response *r,
			  const struct mf_error *err);

struct imap_client_opts {
	int io_timeout_ms;          /* no byte for this long: MF_ETIMEOUT; default 30000 */
	size_t max_in_flight;       /* default 64 */
	FILE *trace;                /* NULL: no trace */
	const char *trace_prefix;   /* e.g. "src" ; may be NULL */
	/* Zero fields: the parser's defaults; stream_threshold 0 offers every
	 * non-empty literal to the literal handler (which, when none is set,
	 * leaves it buffered as usual). */
	struct imap_parser_limits limits;
};

/* Take ownership of conn (already connected, TLS or not). */
struct imap_client *imap_client_new(struct net_conn *conn,
				    const struct imap_client_opts *opts);
/* Close the connection (without LOGOUT) and free; sets *cp to NULL. */
void imap_client_free(struct imap_client **cp);

/* The connection, e.g. to run net_start_tls() after STARTTLS. */
struct net_conn *imap_client_conn(struct imap_client *c);

/* Default handler for untagged responses when no command is in flight. */
void imap_client_set_untagged(struct imap_client *c, imap_untagged_fn *fn, void *ctx);

/* Queue a command (ownership passes to the client). Returns its tag. */
const char *imap_client_submit(struct imap_client *c, struct imap_cmd *cmd,
			       imap_untagged_fn *untagged, imap_done_fn *done,
			       void *ctx);

/* Send and receive until the command with this tag has completed (tag NULL:
 * until no command is pending or in flight). Returns 0, or a negative code
 * for a connection-level failure (then every outstanding command's done
 * callback has been called with err). A NO or BAD answer is not a failure
 * here: it is reported to the command's done callback. */
int imap_client_run(struct imap_client *c, const char *tag, struct mf_error *err);

/* Make the client unusable: every queued command's done callback gets code
 * and msg (as for a lost connection), later calls return them. Nothing more
 * is sent (used to abandon a streamed literal that cannot be completed). */
void imap_client_abort(struct imap_client *c, int code, const char *msg);

/* ---- streaming literals (imap-client-stream.c) ----------------------------- */

/* From the server: a literal of an untagged response can be passed to the
 * caller in chunks instead of being buffered, so a 200 MB BODY[] needs no
 * 200 MB buffer. The client tells which response a literal belongs to by
 * the response's start ("* 5 FETCH"), whatever items come before or after
 * the literal inside the response. */
struct imap_literal_start {
	uint32_t number;        /* "* 5 FETCH (...": 5; 0 when there is none */
	const char *keyword;    /* response keyword, upper-cased ("FETCH"), or "" */
	const char *item;       /* the atom before the literal ("BODY[]"), or NULL */
	uint64_t size;
};

struct imap_literal_handler {
	/* A literal of at least limits.stream_threshold bytes (default: any
	 * non-empty one) starts. Return true to receive it through data and
	 * end; false to have it buffered in the response as usual (the
	 * max_literal limit applies). */
	bool (*begin)(void *ctx, const struct imap_literal_start *ls);
	/* The literal's bytes in order, in chunks of any size. A negative
	 * return abandons the connection (the parser cannot skip the rest):
	 * return 0 and drop the bytes to keep it. */
	int (*data)(void *ctx, const void *data, size_t len);
	/* All bytes were passed. The response itself is dispatched as usual
	 * once complete, holding an IMAP_ARG_LITERAL_STREAMED arg. */
	void (*end)(void *ctx);
};

/* Set (h copied; NULL to remove) the handler for streamed literals. Set and
 * remove it between imap_client_run() calls only. */
void imap_client_set_literal_handler(struct imap_client *c, const struct imap_literal_handler *h,
				     void *ctx);

/* To the server: write the next bytes of the literal of the command
 * submitted with imap_cmd_literal_stream(). One such command may be open
 * (submitted, not yet ended) at a time; commands submitted after it are
 * sent after its literal ends. The first call runs the client until the
 * command is sent and, for a synchronizing literal, the server's "+" came;
 * every call writes the bytes straight to the socket (no copy), reading and
 * dispatching responses to earlier commands meanwhile (so neither side can
 * stall the other) and returns once all len bytes are written.
 * If the server answered the command before its data was allowed (a NO
 * instead of "+"), its done callback has that answer and the bytes are
 * dropped: 0 is returned. Returns 0, MF_EINVAL (no open literal, more bytes
 * than announced, called from a callback of this client) or the
 * connection's error. */
int imap_client_literal_write(struct imap_client *c, const void *data, size_t len,
			      struct mf_error *err);
/* End the literal (all size bytes written): sends the command's final CRLF
 * and returns without waiting for the answer, which reaches the command's
 * done callback during a later run. Fewer bytes than announced: MF_EINVAL
 * (abort the client: a literal cannot be cut short). */
int imap_client_literal_end(struct imap_client *c, struct mf_error *err);
/* True while a streamed literal is open (submitted, not yet ended). */
bool imap_client_literal_open(const struct imap_client *c);
/* Before giving up a streamed literal that cannot be completed: read the
 * answers of the commands sent before its command (the server answers
 * them whatever becomes of the open one), writing nothing more, waiting at
 * most timeout_ms (0: the I/O timeout) without a byte. 0 once only the
 * open command is unanswered; else the failure (the client is dead then,
 * every outstanding command failed with it). */
int imap_client_drain(struct imap_client *c, int timeout_ms, struct mf_error *err);
/* MULTIAPPEND (RFC 3502): instead of ending the open command after its
 * literal, continue it with another message: once every byte of the
 * current literal is written, sends " args {size+}" and CRLF, so that the
 * next size bytes go through imap_client_literal_write() and the command
 * ends as usual with imap_client_literal_end() (or is continued again).
 * args (NULL or "" for none) is protocol text such as
 * "(\Seen) \"07-Jul-1996 02:44:25 -0700\"". Needs LITERAL+ (the
 * literal that is open was sent as {n+} then): MF_EUNSUPPORTED without.
 * MF_EBUSY when the server has answered the command already (a NO
 * mid-command): nothing is sent; end it with imap_client_literal_end().
 * MF_EINVAL when no literal is open or bytes of it are still to come;
 * else 0 or the connection's error. */
int imap_client_literal_next(struct imap_client *c, const char *args, uint64_t size,
			     struct mf_error *err);

/* ---- state the client tracks --------------------------------------------- */

uint32_t imap_client_caps(const struct imap_client *c);
/* All capability atoms as one space-separated string ("" before any). */
const char *imap_client_caps_text(const struct imap_client *c);
bool imap_client_has_cap(const struct imap_client *c, const char *atom);
/* APPENDLIMIT=n value, 0 when none or unlimited. */
uint64_t imap_client_appendlimit(const struct imap_client *c);
/* Greeting text (after "* OK"), "" before the greeting. */
const char *imap_client_greeting(const struct imap_client *c);
/* ID response as "key=value; key=value", or "" when none. */
const char *imap_client_server_id(const struct imap_client *c);
bool imap_client_bye(const struct imap_client *c); /* BYE received */

/* ---- synchronous helpers (each runs the client until done) ---------------- */

/* Read the greeting. OK: 0; PREAUTH: 0 and *preauth_r true; BYE: MF_ENO
 * with the server's text; garbage: MF_EPROTO ("unexpected greeting: ...");
 * nothing: MF_ETIMEOUT. */
int imap_client_greeting_read(struct imap_client *c, bool *preauth_r, struct mf_error *err);
/* CAPABILITY (skipped when the greeting already gave [CAPABILITY ...] unless
 * force). */
int imap_client_capability(struct imap_client *c, bool force, struct mf_error *err);
/* STARTTLS and the TLS handshake; capabilities are forgotten afterwards. */
int imap_client_starttls(struct imap_client *c, const struct net_tls_opts *tls,
			 int timeout_ms, struct mf_error *err);
/* ID ("name" "mailferry" "version" ...); harmless when unsupported. */
int imap_client_id(struct imap_client *c, struct mf_error *err);
/* LOGIN user password. MF_EAUTH with "LOGIN rejected: [CODE] text". */
int imap_client_login(struct imap_client *c, const char *user, const char *password,
		      struct mf_error *err);
/* AUTHENTICATE PLAIN with an optional authorization identity (authzid may
 * be NULL or ""); uses SASL-IR when offered. MF_EAUTH as above. */
int imap_client_authenticate_plain(struct imap_client *c, const char *authzid,
				   const char *authcid, const char *password,
				   struct mf_error *err);

struct imap_list_entry {
	char *name;        /* raw (modified UTF-7) mailbox name */
	char delimiter;    /* '\0' for NIL */
	uint32_t flags;    /* IMAP_LIST_* */
};

enum imap_list_flag {
	IMAP_LIST_NOSELECT = 1u << 0,
	IMAP_LIST_NOINFERIORS = 1u << 1,
	IMAP_LIST_HASCHILDREN = 1u << 2,
	IMAP_LIST_HASNOCHILDREN = 1u << 3,
	IMAP_LIST_SUBSCRIBED = 1u << 4,
	IMAP_LIST_NONEXISTENT = 1u << 5,
	IMAP_LIST_ALL = 1u << 6,
	IMAP_LIST_ARCHIVE = 1u << 7,
	IMAP_LIST_DRAFTS = 1u << 8,
	IMAP_LIST_FLAGGED = 1u << 9,
	IMAP_LIST_JUNK = 1u << 10,
	IMAP_LIST_SENT = 1u << 11,
	IMAP_LIST_TRASH = 1u << 12,
};

struct imap_list_result {
	struct imap_list_entry *entries;
	size_t count;
	bool subscriptions_known; /* IMAP_LIST_SUBSCRIBED is the server's word
				   * (LIST-EXTENDED, or an LSUB that was
				   * answered OK); false: a missing flag
				   * says nothing */
};

/* LIST "" "*" (RETURN (SPECIAL-USE SUBSCRIBED) when the server has
 * SPECIAL-USE / LIST-EXTENDED). */
int imap_client_list(struct imap_client *c, struct imap_list_result *out,
		     struct mf_error *err);
/* The same for another mailbox pattern (raw, e.g. "users/alice/ *" without
 * the space); LSUB, when used, gets the same pattern. */
int imap_client_list_pattern(struct imap_client *c, const char *pattern,
			     struct imap_list_result *out, struct mf_error *err);
void imap_list_result_free(struct imap_list_result *r);

struct imap_mailbox_state {
	uint32_t exists;
	uint32_t uidvalidity;
	uint32_t uidnext;        /* 0 when the server did not say */
	uint64_t highestmodseq;  /* 0 when none */
	bool readonly;
};

/* SELECT or EXAMINE (readonly) a mailbox (raw modified UTF-7 name). */
int imap_client_select(struct imap_client *c, const char *mailbox, bool readonly,
		       struct imap_mailbox_state *st, struct mf_error *err);

/* SELECT or EXAMINE in two halves, so that commands can be pipelined
 * behind it: imap_client_select_submit queues it (the selected mailbox's
 * bookkeeping starts over) and returns its tag; op is filled when it
 * completes and must live until then. Once it has (imap_client_run, up
 * to it or a later command), imap_client_select_finish returns what
 * imap_client_select would have and frees what op holds. A command queued
 * behind a refused SELECT runs with no mailbox selected (RFC 9051 section
 * 6.3.2), so its answers are to be ignored unless op->ok. */
struct imap_select_op {
	bool done;
	bool ok;                 /* done, and answered OK */
	bool readonly;
	enum imap_status status;
	char *code, *text;       /* owned: the tagged answer */
	char *mailbox;           /* owned: the name, for the error */
};
const char *imap_client_select_submit(struct imap_client *c, const char *mailbox, bool readonly,
				      struct imap_select_op *op);
int imap_client_select_finish(struct imap_client *c, struct imap_select_op *op,
			      struct imap_mailbox_state *st, struct mf_error *err);

/* The selected mailbox as tracked since the last SELECT / EXAMINE: exists
 * follows later EXISTS responses. */
const struct imap_mailbox_state *imap_client_mailbox(const struct imap_client *c);

/* LOGOUT and wait (briefly) for the server's BYE and OK. */
int imap_client_logout(struct imap_client *c, struct mf_error *err);

#endif
