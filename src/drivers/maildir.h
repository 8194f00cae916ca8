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
 */
#ifndef MF_MAILDIR_H
#define MF_MAILDIR_H

#include "drivers/driver.h"

/* Open (creating ROOT and INBOX as needed, mode 0700). */
int maildir_open(const char *root, struct mbx **m_r, struct mf_error *err);

#endif
