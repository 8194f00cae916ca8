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

static int sess_login(const struct imap_session_opts *o, struct imap_client *c,
		      struct mf_error *err)
{
	bool plain = (imap_client_caps(c) & IMAP_CAP_AUTH_PLAIN) != 0 && o->auth == IMAP_AUTH_PLAIN;
	char *login = NULL;
	int rc;

	if (sess_set(o->user) && o->password != NULL) {
		if (plain)
			return imap_client_authenticate_plain(c, NULL, o->user, o->password, err);
		return imap_client_login(c, o->user, o->password, err);
	}
	if (!sess_set(o->user) || !sess_set(o->admin_user) || o->admin_password == NULL)
		return mf_error_set(err, MF_EINVAL, "no credentials to log in with");
	if (o->impersonation == IMAP_IMP_SASL) {
		if (!(imap_client_caps(c) & IMAP_CAP_AUTH_PLAIN))
			return mf_error_set(err, MF_EUNSUPPORTED,
					    "impersonation through SASL needs AUTHENTICATE "
					    "PLAIN, which the server does not offer");
		return imap_client_authenticate_plain(c, o->user, o->admin_user,
						      o->admin_password, err);
	}
	login = xasprintf("%s%s%s", o->user,
			  sess_set(o->master_separator) ? o->master_separator : "*",
			  o->admin_user);
	if (plain)
		rc = imap_client_authenticate_plain(c, NULL, login, o->admin_password, err);
	else
		rc = imap_client_login(c, login, o->admin_password, err);
	free(login);
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
