/* imap-session.c: connect and log in (imap-session.h).
 *
 * RFC 9051 / 3501 (greeting, CAPABILITY, LOGIN, STARTTLS), RFC 8314
 * (implicit TLS), RFC 4616 (PLAIN, with an authorization identity for
 * impersonation), RFC 4959 (SASL-IR).
 */
#include "proto/imap/imap-session.h"

#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "util/xmalloc.h"

#define IMAP_SESSION_DEFAULT_TIMEOUT_MS 30000

static bool sess_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static int sess_connect(const struct imap_session_opts *o, int timeout_ms,
			struct net_conn **conn_r, struct mf_error *err)
{
	struct net_addrs addrs;
	int rc;

	rc = net_resolve(o->host, o->port, timeout_ms, &addrs, err);
	if (rc < 0)
		return rc;
	if (addrs.count == 0)
		return mf_error_set(err, MF_EDNS, "no such host: %s", o->host);
	rc = net_connect(&addrs, timeout_ms, conn_r, err);
	if (rc < 0)
		return rc;
	if (o->security == IMAP_SEC_TLS) {
		struct net_tls_opts tls = { .verify = o->verify_tls, .host = o->host };

		rc = net_start_tls(*conn_r, &tls, timeout_ms, err);
		if (rc < 0)
			net_close(conn_r);
	}
	return rc;
}

static int sess_starttls(const struct imap_session_opts *o, struct imap_client *c,
			 bool preauth, int timeout_ms, struct mf_error *err)
{
	struct net_tls_opts tls = { .verify = o->verify_tls, .host = o->host };
	int rc;

	if (preauth)
		return mf_error_set(err, MF_EPROTO,
				    "the server greeted with PREAUTH, so STARTTLS cannot be used");
	rc = imap_client_capability(c, false, err);
	if (rc < 0)
		return rc;
	if (!(imap_client_caps(c) & IMAP_CAP_STARTTLS))
		return mf_error_set(err, MF_EUNSUPPORTED, "the server does not offer STARTTLS");
	rc = imap_client_starttls(c, &tls, timeout_ms, err);
	if (rc < 0)
		return rc;
	return imap_client_capability(c, false, err);
}

void imap_session_plan(const struct imap_session_opts *o, uint32_t caps,
		       struct imap_session_plan *p)
{
	bool has_plain = (caps & IMAP_CAP_AUTH_PLAIN) != 0;
	bool admin = sess_set(o->admin_user) && o->admin_password != NULL;

	memset(p, 0, sizeof(*p));
	if (sess_set(o->user) && o->password != NULL) {
		p->mode = IMAP_LOGIN_USER;
		p->authcid = o->user;
		p->password = o->password;
	} else if (sess_set(o->user) && admin) {
		p->password = o->admin_password;
		if (o->impersonation == IMAP_IMP_SASL) {
			p->mode = IMAP_LOGIN_SASL;
			p->authzid = o->user;
			p->authcid = o->admin_user;
		} else {
			p->mode = IMAP_LOGIN_MASTER;
			p->master_login = xasprintf("%s%s%s", o->user,
						    sess_set(o->master_separator) ?
						    o->master_separator : "*",
						    o->admin_user);
			p->authcid = p->master_login;
		}
	} else if (admin) {
		p->mode = IMAP_LOGIN_ADMIN;
		p->authcid = o->admin_user;
		p->password = o->admin_password;
	} else {
		return;
	}
	/* SASL impersonation needs PLAIN's authorization identity; the
	 * others use PLAIN when asked for and offered. */
	p->plain = p->mode == IMAP_LOGIN_SASL || (o->auth == IMAP_AUTH_PLAIN && has_plain);
	p->plain_missing = !p->plain && o->auth == IMAP_AUTH_PLAIN;
	if (p->mode == IMAP_LOGIN_SASL && !has_plain)
		p->refusal = IMAP_LOGIN_NEEDS_PLAIN;
	else if (!p->plain && (caps & IMAP_CAP_LOGINDISABLED))
		p->refusal = IMAP_LOGIN_DISABLED;
}

void imap_session_plan_free(struct imap_session_plan *p)
{
	free(p->master_login);
	p->master_login = NULL;
	p->authcid = NULL;
}

int imap_session_login(struct imap_client *c, const struct imap_session_plan *p,
		       struct mf_error *err)
{
	if (p->mode == IMAP_LOGIN_NONE)
		return mf_error_set(err, MF_EINVAL, "no credentials to log in with");
	switch (p->refusal) {
	case IMAP_LOGIN_NEEDS_PLAIN:
		return mf_error_set(err, MF_EUNSUPPORTED,
				    "impersonation through SASL needs AUTHENTICATE "
				    "PLAIN, which the server does not offer");
	case IMAP_LOGIN_DISABLED:
		/* The client's own words for it (imap_client_login()). */
		return mf_error_set(err, MF_EAUTH,
				    "server disables LOGIN (LOGINDISABLED) on this connection");
	case IMAP_LOGIN_SEND:
		break;
	}
	if (p->plain)
		return imap_client_authenticate_plain(c, p->authzid, p->authcid, p->password, err);
	return imap_client_login(c, p->authcid, p->password, err);
}

/* A mailbox session is always some user's: credentials that name only the
 * administrator are no credentials here (the connection test accepts them). */
static int sess_login(const struct imap_session_opts *o, struct imap_client *c,
		      struct mf_error *err)
{
	struct imap_session_plan plan;
	int rc;

	imap_session_plan(o, imap_client_caps(c), &plan);
	if (plan.mode == IMAP_LOGIN_ADMIN)
		plan.mode = IMAP_LOGIN_NONE;
	rc = imap_session_login(c, &plan, err);
	imap_session_plan_free(&plan);
	return rc;
}

int imap_session_open(const struct imap_session_opts *o, struct imap_client **c_r,
		      struct mf_error *err)
{
	int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : IMAP_SESSION_DEFAULT_TIMEOUT_MS;
	struct imap_client_opts co = o->client;
	struct net_conn *conn = NULL;
	struct imap_client *c;
	bool preauth = false;
	int rc;

	*c_r = NULL;
	if (!sess_set(o->host))
		return mf_error_set(err, MF_EINVAL, "no IMAP server given");
	rc = sess_connect(o, timeout_ms, &conn, err);
	if (rc < 0)
		return rc;
	if (co.io_timeout_ms <= 0)
		co.io_timeout_ms = timeout_ms;
	c = imap_client_new(conn, &co);
	rc = imap_client_greeting_read(c, &preauth, err);
	if (rc == 0 && o->security == IMAP_SEC_STARTTLS)
		rc = sess_starttls(o, c, preauth, timeout_ms, err);
	if (rc == 0)
		rc = imap_client_capability(c, false, err);
	if (rc == 0 && !preauth)
		rc = sess_login(o, c, err);
	/* Servers announce more after login; the client asks again unless
	 * the login's answer carried them. */
	if (rc == 0)
		rc = imap_client_capability(c, false, err);
	if (rc < 0) {
		imap_client_free(&c);
		return rc;
	}
	*c_r = c;
	return 0;
}
