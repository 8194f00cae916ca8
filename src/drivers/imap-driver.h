/* imap-driver.h: any IMAP server as a mailbox (driver.h), source or target
 * of a migration, over one pipelined connection.
 *
 * Folder names (driver.h: UTF-8, '/'-separated):
 *   - The personal namespace (NAMESPACE, RFC 2342) gives the prefix and
 *     separator; without NAMESPACE the separator comes from LIST and the
 *     prefix is "". A prefix such as "INBOX." (Courier, Cyrus) is stripped
 *     when listing and added when creating: "INBOX.Sent" <-> "Sent".
 *     Folders of other namespaces (shared, other users) are not listed.
 *   - Names are modified UTF-7 on the wire (a name that is not valid
 *     modified UTF-7 is shown as the server sent it); INBOX, in any case,
 *     is "INBOX"; a NIL separator means a flat server (one level).
 *   - Source: a '/' inside a level on a server whose separator is not '/'
 *     is kept, so it reads as a hierarchy level from then on ("a/b" on a
 *     '.' server is copied as folder b inside a). Names are never lost,
 *     but "a/b" and "a.b" on such a server land in the same folder.
 *   - Target: a level that holds the target's separator (not '/') has it
 *     replaced by '_' ("v1.2" -> "v1_2" on a '.' server), as the server
 *     could only read it as a hierarchy.
 *   - Roles: special-use attributes (RFC 6154); for a role no folder
 *     carries, the first top-level folder with a well-known name (Sent,
 *     Sent Items, Sent Messages, Drafts, Trash, Deleted Items, Deleted
 *     Messages, Junk, Spam, Junk E-mail, Archive; any case).
 *   - Parents missing from the listing are added as noselect.
 *
 * Folders under a root (user_root, Exchange's UserRoot): the user's
 * folders are those below that path, and nothing else is listed:
 *   - The root is written with the server's separator or '/' (one leading
 *     and trailing separator ignored), UTF-8; its separator is that of the
 *     namespace whose prefix it starts with (NAMESPACE: other users',
 *     shared, personal), else the personal one, else LIST "" "".
 *   - Listing: LIST "" root and LIST "" root<sep>* (with SPECIAL-USE and
 *     SUBSCRIBED as for the personal namespace). The root itself, when it
 *     is selectable, is INBOX ("users/alice" -> INBOX, Cyrus style); so is
 *     root<sep>INBOX (Dovecot's shared namespaces: "shared/alice/INBOX"),
 *     which wins when both are listed. Every other name has root<sep>
 *     stripped ("users/alice/Sent" -> "Sent") and is translated as above.
 *   - Names are turned back the same way (INBOX -> the listed root or
 *     root<sep>INBOX; others under root<sep>).
 *   - list_folders fails with MF_EINVAL ("UserRoot \"x\": the server
 *     lists no folder there") when nothing is listed: a wrong root, or
 *     one the login may not see.
 *
 * Source side (never changes the source: EXAMINE, BODY.PEEK):
 *   - folder_state: EXAMINE; uidnext 0 when the server does not say.
 *   - folder_states: STATUS folder (MESSAGES UIDNEXT UIDVALIDITY, and
 *     HIGHESTMODSEQ with CONDSTORE) for every folder, pipelined; a folder
 *     is known when its STATUS was answered OK with UIDVALIDITY and
 *     UIDNEXT. The UIDVALIDITY learned is kept: a later EXAMINE of that
 *     folder (listing, fetch ...) that finds another fails with MF_EIO
 *     ("UIDVALIDITY of X changed from A to B while it was being looked
 *     at"), as the caller works with the state it was given.
 *   - list_messages: UID FETCH from:* (UID RFC822.SIZE FLAGS INTERNALDATE),
 *     each answer passed on as it arrives; "n:*" also returns the last
 *     message when its UID is below n, which is filtered out. \Recent and
 *     other unknown system flags are dropped. A folder not selected yet,
 *     unless folder_states found it empty, is EXAMINEd with the UID FETCH
 *     right behind it (one round trip); the
 *     answers count only when the EXAMINE was answered OK, and those of
 *     an empty folder not at all (some servers answer BAD to "1:*"
 *     there).
 *   - fetch: the UIDs (in any order, duplicates ignored) go in groups of
 *     IMAP_MBX_FETCH_GROUP as UID sets; for each group two commands are
 *     pipelined: UID FETCH set (UID RFC822.SIZE FLAGS INTERNALDATE), which
 *     maps each message's sequence number to its UID and info, then
 *     UID FETCH set (UID BODY.PEEK[]), whose BODY[] literal is streamed to
 *     the sink as it arrives; the literal is tied to its message by the
 *     FETCH response's sequence number (kept in step with EXPUNGE), so the
 *     order of the items inside a response does not matter. The UID in the
 *     response is checked before sink->end: a mismatch fails the fetch
 *     (MF_EPROTO) without end. Several groups are in flight at once.
 *     Unsolicited FETCH responses update the flags of messages not yet
 *     delivered and are otherwise ignored. A UID that is gone is not
 *     delivered (a NO [EXPUNGEISSUED] is not an error; another NO is,
 *     after the rest was delivered). sink->begin gets the literal's size.
 *     When the sink fails, the rest of the answers is read and dropped
 *     (the connection stays usable) and fetch returns the sink's error.
 *   - peek_header: UID FETCH uid (UID BODY.PEEK[HEADER.FIELDS (F ...)]<0.max>)
 *     after EXAMINE; the literal (or NIL) of the answer for that UID, the
 *     empty line that ends it dropped. No answer for the UID: MF_ENOTFOUND;
 *     NO: MF_ENO, BAD: MF_EBAD with the server's words.
 *
 * Target side:
 *   - create_folder: the name translated as above; CREATE (USE (\Role))
 *     when the server offers CREATE-SPECIAL-USE and no folder has that role
 *     yet (plain CREATE if that is refused); "already exists" is success
 *     ([ALREADYEXISTS], or a NO for a name that LIST then shows). Parents
 *     are left to the server (RFC 9051 section 6.3.4). SUBSCRIBE when
 *     asked, unless the listing (LIST-EXTENDED, or an LSUB answered OK)
 *     shows the folder subscribed already; its refusal is ignored.
 *   - create_folders: the same for many folders, the CREATE and SUBSCRIBE
 *     commands of all of them sent at once (a SUBSCRIBE goes right behind
 *     its CREATE, so a folder whose CREATE is refused may be left
 *     subscribed); the second tries (CREATE without USE, LIST after a NO,
 *     SUBSCRIBE again after a CREATE that needed one) then go one by one.
 *     A role taken by an earlier folder of the batch counts as taken.
 *   - role_folder: from the target's last listing (listed on first use).
 *   - Appends: append_begin queues APPEND "box" (flags) "date" {size}
 *     (LITERAL+ / LITERAL- when offered, else it waits for "+" at the first
 *     append_data); append_data writes the bytes straight to the socket;
 *     append_end sends the final CRLF and returns: the server's answer comes
 *     later through the done callback (during any later call that reads
 *     from the server, at the latest append_flush; never before the
 *     message's append_end, even when the server answers early). Many
 *     appends are in flight at once (max_in_flight). done gets rc 0 and
 *     APPENDUID (RFC 4315) when the server has UIDPLUS (else uidvalidity =
 *     uid = 0); for NO: MF_ELIMIT when the code is [TOOBIG] (RFC 4469),
 *     MF_ENO otherwise; the message is "[CODE] text" as the server said it
 *     (e.g. "[OVERQUOTA] Quota exceeded"); BAD: MF_EBAD; a lost connection:
 *     its code (every append not yet answered).
 *   - MULTIAPPEND (RFC 3502), when the server offers it and LITERAL+ (and
 *     not no_multiappend): consecutive appends to the same folder share
 *     one command, "APPEND box (f) d {n1+} <bytes> (f) d {n2+} <bytes>",
 *     each message still streamed as it comes (the command stays open
 *     between append_end and the next append_begin); it is ended (CRLF)
 *     when it holds multiappend_max messages or multiappend_max_bytes
 *     bytes, when the next message is for another folder or would pass the
 *     byte limit, and at append_flush or any other command (list, select,
 *     fetch ...). A message over multiappend_max_bytes goes alone. Several
 *     such commands are in flight at once. The answer covers all of its
 *     messages: OK with APPENDUID's UID set ("3955:3962", "3955,3957:3962")
 *     gives each message its UID in order (none when the count differs);
 *     a NO or BAD stores none of them (RFC 3502 is atomic), so each gets
 *     MF_ERETRY ("not stored ...; retry it alone" with the server's words)
 *     unless it was alone in its command (then as above).
 *     set_append_alone(true) sends one message per command until it is
 *     set back. A server may answer NO before the command ends (Dovecot
 *     does, at the message it refuses): the rest of the message being
 *     written is still sent, and the next message starts a new command.
 *   - append_begin refuses a message larger than the server's APPENDLIMIT
 *     (RFC 7889) at once: MF_ELIMIT "message of N bytes exceeds the
 *     server's APPENDLIMIT of M", done is not called, nothing is sent.
 *     Keywords that are not IMAP atoms are left out (out->warning).
 *     INTERNALDATE 0 sends no date (the server uses "now").
 *   - The sealed callback (set_append_sealed) gets the tokens of a
 *     command's messages right before its final CRLF is written (all of
 *     their bytes are in the socket by then): the point after which the
 *     server may store them even if we die, and before which it cannot.
 *     A command answered before it ended is not sealed. At most
 *     IMAP_MBX_SEALED_COMMANDS * multiappend_max sealed messages are
 *     unanswered at a time: the next command's CRLF waits for answers.
 *   - One append at a time is open (begun, not ended). append_abort closes
 *     the connection (a literal cannot be cut short), after reading the
 *     answers of the commands sent before (for at most IMD_DRAIN_MS), so
 *     that those are reported as the server decided: the aborted append is
 *     not reported, the rest of its command and whatever is still
 *     unanswered get MF_ECLOSED, later calls fail.
 *
 * One thread at a time per open mailbox.
 */
#ifndef MF_IMAP_DRIVER_H
#define MF_IMAP_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "drivers/driver.h"
#include "proto/imap/imap-session.h"

#define IMAP_MBX_FETCH_GROUP 50   /* UIDs per UID FETCH command */
#define IMAP_MBX_MULTI_MAX 100    /* messages per MULTIAPPEND command */
#define IMAP_MBX_MULTI_BYTES (16u * 1024 * 1024) /* bytes per MULTIAPPEND */
/* Sealed (complete) commands' messages left unanswered at most, in
 * MULTIAPPEND commands: on a long round trip fewer would make each command
 * wait for the answer of the one before. */
#define IMAP_MBX_SEALED_COMMANDS 4

struct imap_mbx_opts {
	const char *host;
	uint16_t port;
	enum imap_security security;     /* none, starttls, tls */
	bool verify_tls;
	enum imap_auth auth;             /* plain (when offered) or login */
	const char *user;
	const char *password;            /* NULL: impersonation, below */
	const char *admin_user;
	const char *admin_password;
	enum imap_impersonation impersonation; /* sasl or master-user */
	const char *master_separator;    /* NULL or "": "*" */
	int io_timeout_ms;               /* connect, TLS and each I/O wait;
					  * default 30000 */
	FILE *trace;                     /* protocol trace, NULL for none */
	const char *trace_prefix;
	size_t max_in_flight;            /* commands; default 64 */
	/* UserRoot: where the user's mailbox is in the server's hierarchy
	 * ("users/alice", "Other Users/alice", "shared.alice"), for an admin
	 * login that sees other users' mail; NULL or "": the personal
	 * namespace ("Folders under a root" above). */
	const char *user_root;
	/* Appends: MULTIAPPEND is used when the server offers it with
	 * LITERAL+, unless no_multiappend; at most multiappend_max messages
	 * (default IMAP_MBX_MULTI_MAX) and multiappend_max_bytes bytes
	 * (default IMAP_MBX_MULTI_BYTES) per command. */
	bool no_multiappend;
	size_t multiappend_max;
	uint64_t multiappend_max_bytes;
};

/* Connect and log in (imap-session.h). Strings are read during the call
 * only. Returns 0 and *m_r, or: MF_EAUTH (the server's words),
 * MF_ECONNECT, MF_ETIMEOUT, MF_EDNS, MF_ETLS, MF_ECLOSED, MF_EUNSUPPORTED,
 * MF_EINVAL, MF_EPROTO. */
int imap_mbx_open(const struct imap_mbx_opts *o, struct mbx **m_r, struct mf_error *err);

#endif
