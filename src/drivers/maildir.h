/* maildir.h: the local store, one Dovecot-compatible Maildir++ tree per
 * user (<data-dir>/mailstore/<EmailAddress>/). A target driver; it can also
 * list what it holds (folders, messages) for incremental syncs and checks.
 *
 * Layout (what a stock Dovecot with mail_location = maildir:ROOT serves):
 *   ROOT/{cur,new,tmp}                  INBOX
 *   ROOT/.A.B/{cur,new,tmp}             folder A/B (Maildir++, '.' separator,
 *                                       names in modified UTF-7)
 *   ROOT/.A.B/maildirfolder             marker file
 *   ROOT/.X/dovecot-keywords            "N keyword" lines; letters a-z in
 *                                       file names map to N = 0-25
 *   ROOT/subscriptions                  subscribed folders
 *   messages: cur/<unique>,S=<size>,W=<crlf size>:2,<flags><keyword letters>
 *   with mtime = INTERNALDATE; written to tmp/, fsynced, renamed, the
 *   directory fsynced.
 *
 * Serving the tree (checked against Dovecot 2.3.19,
 * tests/e2e/test_maildir_dovecot.py):
 *   mail_location = maildir:ROOT (or maildir:~/Maildir), the inbox namespace
 *   with separator = /, and mail_plugins = $mail_plugins listescape.
 *
 * Decisions:
 *   - Names: each level is modified UTF-7, then '.', '\' and a '~' that
 *     starts a level are written "\2e", "\5c", "\7e": what Dovecot's
 *     listescape plugin (shipped with Dovecot 2.3) reads and writes, since
 *     stock Maildir++ refuses '.' in a name. Without the plugin those
 *     folders are still served, under the escaped name ("x\2ey"); all other
 *     names look the same either way. "INBOX" in any case is the inbox.
 *   - Parents are not created: create_folder("A/B") makes .A.B only, as
 *     Dovecot's own CREATE does; list_folders (and Dovecot) show "A" as
 *     noselect. Creating "A" itself makes it a real folder.
 *   - subscriptions: "V\t2\n\n" then one line per folder, its levels in
 *     storage form joined by a tab ("A\tB", "INBOX"), as Dovecot 2.3
 *     writes it; rewritten atomically (tmp/, fsync, rename, fsync).
 *   - Keywords: letters are per folder; a keyword is matched regardless of
 *     ASCII case. Beyond 26 distinct keywords in one folder, and for a
 *     keyword that is not an IMAP atom, the message is stored without it,
 *     reported with rc 0 and out->warning naming what was left out.
 *     The driver takes no lock on dovecot-keywords or subscriptions
 *     against a Dovecot writing them at the same instant; dovecot-keywords
 *     is re-read before a keyword is added, so no letter is reassigned.
 *   - Bytes are stored as given. Dovecot serves a CRLF message byte for
 *     byte; a bare LF comes back as CRLF (W= is that size, which Dovecot
 *     reports as RFC822.SIZE); a NUL comes back as 0x80 in BODY[] and as
 *     NUL in BINARY[].
 *   - INTERNALDATE 0 means "now". The time zone offset is not kept (mtime).
 *
 * Driver semantics beyond driver.h:
 *   - append_end always ends the append (ap is freed), calls done exactly
 *     once before returning, and returns the same code. done gets out (err
 *     NULL) on success, err (out NULL) on failure. out->location is the
 *     file name in cur/; uidvalidity and uid are 0.
 *   - A failed append_data (too many bytes: MF_EPROTO; a write error:
 *     MF_EIO, "no space left on device while writing PATH" for ENOSPC and
 *     EDQUOT) removes the partial file at once; later calls return the same
 *     error; append_end reports it. Fewer bytes than info->size at
 *     append_end: MF_EPROTO. A missing folder: MF_ENOTFOUND at append_begin.
 *   - append_abort removes the partial file and reports nothing; close
 *     aborts appends still open. append_flush has nothing to wait for.
 *   - list_messages and fetch number the files of cur/ and new/ 1..n in
 *     file-name order (pseudo-UIDs, valid while the folder is unchanged;
 *     folder_state gives uidvalidity = uidnext = 0). size is the file's
 *     size, i.e. the bytes fetch delivers (= RFC822.SIZE for CRLF mail);
 *     INTERNALDATE is its mtime; fetch reads 64 KiB at a time and finds a
 *     file renamed since the listing (flags changed) by its base name.
 *   - peek_header reads the header of the file a pseudo-UID names (found
 *     again by base name if renamed), up to its empty line and at most
 *     MAILDIR_PEEK_MAX (256 KiB) bytes, and returns the lines of the
 *     fields asked for with their continuation lines, in file order.
 *   - One thread at a time per open store; separate stores (users) are
 *     independent. Unique names: <sec>.M<usec>P<pid>Q<counter>.<host>,
 *     the counter process-wide.
 */
#ifndef MF_MAILDIR_H
#define MF_MAILDIR_H

#include "drivers/driver.h"

/* Open (creating ROOT and INBOX as needed, mode 0700). */
int maildir_open(const char *root, struct mbx **m_r, struct mf_error *err);

#endif
