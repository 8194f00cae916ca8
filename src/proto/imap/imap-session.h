/* imap-session.h: open an authenticated IMAP session: resolve, connect,
 * implicit TLS or STARTTLS, greeting, capabilities, login, capabilities
 * again. What a mailbox driver needs before its first command; the
 * staged connection test (src/endpoint/conntest.c) does the same steps one
 * by one with a report for each.
 *
 * Who logs in:
 *   user + password                      user, directly;
 *   user + admin_user + admin_password   user, by impersonation:
 *       IMAP_IMP_SASL         AUTHENTICATE PLAIN with authzid = user,
 *                             authcid = admin_user (RFC 4616);
 *       IMAP_IMP_MASTER_USER  "user<sep>admin_user" with the admin's
 *                             password (Dovecot master users; sep "*"
 *                             unless master_separator says otherwise).
 * With IMAP_AUTH_PLAIN, AUTHENTICATE PLAIN is used when the server offers
 * it, LOGIN otherwise; with IMAP_AUTH_LOGIN, always LOGIN (except SASL
 * impersonation, which needs PLAIN). A PREAUTH greeting skips the login.
 */
#ifndef MF_IMAP_SESSION_H
#define MF_IMAP_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "proto/imap/imap-client.h"
#include "util/mf-error.h"

enum imap_security {
	IMAP_SEC_NONE,
	IMAP_SEC_STARTTLS,
	IMAP_SEC_TLS,
};

enum imap_auth {
	IMAP_AUTH_PLAIN,   /* AUTHENTICATE PLAIN when offered, else LOGIN */
	IMAP_AUTH_LOGIN,
};

enum imap_impersonation {
	IMAP_IMP_SASL,
	IMAP_IMP_MASTER_USER,
};

struct imap_session_opts {
	const char *host;
	uint16_t port;
	enum imap_security security;
	bool verify_tls;               /* certificate chain and host name */
	enum imap_auth auth;
	const char *user;
	const char *password;          /* NULL: impersonate user as admin_user */
	const char *admin_user;
	const char *admin_password;
	enum imap_impersonation impersonation;
	const char *master_separator;  /* NULL or "": "*" */
	int timeout_ms;                /* connect, TLS and I/O; default 30000 */
	struct imap_client_opts client; /* io_timeout_ms 0: timeout_ms */
};

/* Open a session. All strings are only read during the call; passwords
 * are not copied. Returns 0 and *c_r (logged in, capabilities known), or:
 *   MF_EDNS, MF_ECONNECT, MF_ETIMEOUT, MF_ETLS, MF_ECLOSED: unreachable;
 *   MF_EAUTH: credentials refused, with the server's words
 *     ("LOGIN rejected: [AUTHENTICATIONFAILED] Authentication failed.");
 *   MF_EUNSUPPORTED: STARTTLS asked for but not offered, SASL
 *     impersonation without AUTH=PLAIN;
 *   MF_EINVAL: no host, no credentials;
 *   MF_EPROTO, MF_ENO: a server that is not (or no longer) talking IMAP. */
int imap_session_open(const struct imap_session_opts *o, struct imap_client **c_r,
		      struct mf_error *err);

#endif
