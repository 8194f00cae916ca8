/* imap-session.h: open an authenticated IMAP session: resolve, connect,
 * implicit TLS or STARTTLS, greeting, capabilities, login, capabilities
 * again. What a mailbox driver needs before its first command; the
 * staged connection test (src/endpoint/conntest.c) does the same steps one
 * by one with a report for each, and shares the login decision and the
 * login itself (imap_session_plan(), imap_session_login()).
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

/* ---- the login step (shared with the staged connection test) ---------- */

enum imap_login_mode {
	IMAP_LOGIN_NONE = 0, /* no credentials */
	IMAP_LOGIN_USER,     /* user with the user's password */
	IMAP_LOGIN_ADMIN,    /* no user: admin_user as itself */
	IMAP_LOGIN_SASL,     /* PLAIN, authzid user, authcid admin_user */
	IMAP_LOGIN_MASTER,   /* "user<sep>admin_user", admin_password */
};

/* Why the password must not be sent; decided before anything is sent. */
enum imap_login_refusal {
	IMAP_LOGIN_SEND = 0,
	IMAP_LOGIN_NEEDS_PLAIN,  /* SASL impersonation without AUTH=PLAIN */
	IMAP_LOGIN_DISABLED,     /* LOGIN would be used; LOGINDISABLED */
};

/* Who logs in and how (see the top of this file). */
struct imap_session_plan {
	enum imap_login_mode mode;
	const char *authzid;    /* foreign: the user (SASL) or NULL */
	const char *authcid;    /* foreign, or master_login; NULL: NONE */
	const char *password;   /* foreign: never copied */
	char *master_login;     /* owned: "user<sep>admin_user" (MASTER) */
	bool plain;             /* AUTHENTICATE PLAIN; false: LOGIN */
	bool plain_missing;     /* IMAP_AUTH_PLAIN, not offered: LOGIN instead */
	enum imap_login_refusal refusal;
};

/* Decide the login from o's credential fields (auth, user, password,
 * admin_user, admin_password, impersonation, master_separator) and the
 * server's capabilities caps (imap_client_caps() before login). The
 * plan points to o's strings (not to o), which must outlive it. Free with
 * imap_session_plan_free(). */
void imap_session_plan(const struct imap_session_opts *o, uint32_t caps,
		       struct imap_session_plan *p);
void imap_session_plan_free(struct imap_session_plan *p);

/* Carry out plan p on c (greeted, capabilities known, not logged in).
 * Nothing is sent when p->mode is IMAP_LOGIN_NONE (MF_EINVAL, "no
 * credentials to log in with") or p->refusal is set:
 *   IMAP_LOGIN_NEEDS_PLAIN: MF_EUNSUPPORTED, "impersonation through SASL
 *     needs AUTHENTICATE PLAIN, which the server does not offer";
 *   IMAP_LOGIN_DISABLED: MF_EAUTH, "server disables LOGIN (LOGINDISABLED)
 *     on this connection".
 * Otherwise one AUTHENTICATE PLAIN or LOGIN is sent: 0, or the client's
 * error (MF_EAUTH "LOGIN rejected: ...", MF_EBAD, MF_ETIMEOUT, ...).
 * Capabilities may be stale afterwards (imap_client_capability()). */
int imap_session_login(struct imap_client *c, const struct imap_session_plan *p,
		       struct mf_error *err);

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
