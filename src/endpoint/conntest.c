/* conntest.c: the staged connection test of an IMAP endpoint (conntest.h).
 *
 * Each stage runs with the stage timeout, is timed on the monotonic clock
 * and leaves a short detail; the first failure stops the run and its
 * one-line cause becomes the result's Message. Passwords are only passed
 * through to the IMAP client (which marks them secret in traces); nothing
 * here copies or prints them.
 */
#include "endpoint/conntest.h"

#include <stdarg.h>
#include <time.h>

#include "endpoint/conntest-private.h"
#include "util/buf.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

#define CONNTEST_DEFAULT_TIMEOUT_MS 10000

static const char *const conntest_names[CONNTEST_STAGE_COUNT] = {
	"dns", "connect", "tls", "greeting", "starttls", "capability", "login", "select",
};

const char *conntest_stage_name(enum conntest_stage s)
{
	if ((int)s < 0 || s >= CONNTEST_STAGE_COUNT)
		return "unknown";
	return conntest_names[s];
}

static int64_t ct_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void ct_begin(struct ct_run *r)
{
	r->t0_ns = ct_now_ns();
}

static void ct_finish(struct ct_run *r, enum conntest_stage s, enum ct_status st,
		      const char *fmt, va_list ap)
{
	struct ct_stage *stage = &r->stage[s];

	stage->status = st;
	stage->ms = (double)(ct_now_ns() - r->t0_ns) / 1e6;
	free(stage->detail);
	stage->detail = xvasprintf(fmt, ap);
}

static void ct_ok(struct ct_run *r, enum conntest_stage s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void ct_ok(struct ct_run *r, enum conntest_stage s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ct_finish(r, s, CT_OK, fmt, ap);
	va_end(ap);
}

/* The stage failed with r->err; its message is the stage's detail. */
static int ct_fail(struct ct_run *r, enum conntest_stage s)
{
	r->stage[s].status = CT_FAILED;
	r->stage[s].ms = (double)(ct_now_ns() - r->t0_ns) / 1e6;
	free(r->stage[s].detail);
	r->stage[s].detail = xstrdup(r->err.msg);
	r->failed = (int)s;
	return r->err.code < 0 ? r->err.code : MF_EINVAL;
}

static void ct_skip(struct ct_run *r, enum conntest_stage s, const char *detail)
{
	r->stage[s].status = CT_SKIPPED;
	r->stage[s].ms = 0;
	free(r->stage[s].detail);
	r->stage[s].detail = xstrdup(detail);
}

static void ct_warn(struct ct_run *r, const char *text)
{
	size_t i;
	json_t *w;

	json_array_foreach(r->warnings, i, w) {
		if (ct_streq(json_string_value(w), text))
			return;
	}
	json_array_append_new(r->warnings, json_string(text));
}

/* Turn a timeout or a closed connection into words that name the stage;
 * other causes (TLS verification, NO/BAD text) are kept as reported. */
static void ct_reword(struct ct_run *r, const char *what)
{
	char secs[24];

	if (r->err.code == MF_ETIMEOUT)
		mf_error_set(&r->err, MF_ETIMEOUT, "no answer to %s within %s s", what,
			     mf_secs_text(r->timeout_ms, secs));
	else if (r->err.code == MF_ECLOSED)
		mf_error_set(&r->err, MF_ECLOSED, "the server closed the connection during %s",
			     what);
}

/* ---- the stages ---------------------------------------------------------- */

static int ct_dns(struct ct_run *r)
{
	const char *server = r->ep->server;
	char secs[24];
	struct buf list = BUF_INIT;
	int ret;

	ct_begin(r);
	if (!ct_set(server)) {
		mf_error_set(&r->err, MF_EINVAL, "--server is required for an imap endpoint");
		return ct_fail(r, CONNTEST_DNS);
	}
	if (r->port < 1 || r->port > 65535) {
		mf_error_set(&r->err, MF_EINVAL, "--port must be between 1 and 65535");
		return ct_fail(r, CONNTEST_DNS);
	}
	ret = net_resolve(server, (uint16_t)r->port, r->timeout_ms, &r->addrs, &r->err);
	if (ret < 0) {
		if (ret == MF_ETIMEOUT)
			mf_error_set(&r->err, ret, "no DNS answer for %s within %s s", server,
				     mf_secs_text(r->timeout_ms, secs));
		return ct_fail(r, CONNTEST_DNS);
	}
	if (r->addrs.count == 0) {
		mf_error_set(&r->err, MF_EDNS, "no such host: %s", server);
		return ct_fail(r, CONNTEST_DNS);
	}
	for (size_t i = 0; i < r->addrs.count; i++)
		buf_printf(&list, "%s%s", i > 0 ? ", " : "", r->addrs.addr[i].text);
	ct_ok(r, CONNTEST_DNS, "%s", buf_cstr(&list));
	buf_free(&list);
	return 0;
}

/* "127.0.0.1:143", "[::1]:993", or "host:port" when it has several
 * addresses. */
static void ct_target(const struct ct_run *r, char *out, size_t size)
{
	const char *host = r->addrs.count == 1 ? r->addrs.addr[0].text : r->ep->server;

	if (strchr(host, ':') != NULL)
		snprintf(out, size, "[%s]:%d", host, r->port);
	else
		snprintf(out, size, "%s:%d", host, r->port);
}

static bool ct_names_addr(const struct ct_run *r, const char *msg)
{
	for (size_t i = 0; i < r->addrs.count; i++) {
		if (strstr(msg, r->addrs.addr[i].text) != NULL)
			return true;
	}
	return false;
}

static int ct_connect(struct ct_run *r)
{
	char target[300], secs[24];
	int ret;

	ct_begin(r);
	ret = net_connect(&r->addrs, r->timeout_ms, &r->conn, &r->err);
	if (ret < 0) {
		/* The cause names the address (net.c does); add it if not. */
		ct_target(r, target, sizeof(target));
		if (!ct_names_addr(r, r->err.msg)) {
			if (ret == MF_ETIMEOUT)
				mf_error_set(&r->err, ret, "no answer from %s within %s s",
					     target, mf_secs_text(r->timeout_ms, secs));
			else
				mf_error_set(&r->err, ret, "%s by %s", r->err.msg, target);
		}
		return ct_fail(r, CONNTEST_CONNECT);
	}
	snprintf(r->peer, sizeof(r->peer), "%s", net_peer_text(r->conn));
	ct_ok(r, CONNTEST_CONNECT, "%s", r->peer);
	return 0;
}

static void ct_note_tls(struct ct_run *r, struct net_conn *conn)
{
	r->tls = true;
	free(r->tls_desc);
	free(r->tls_cert);
	r->tls_desc = xstrdup(net_tls_description(conn));
	r->tls_cert = xstrdup(net_tls_peer_summary(conn));
	if (r->ep->accept_untrusted)
		ct_warn(r, "certificate verification is disabled (--accept-untrusted-certificates): "
			   "the server's certificate was accepted without checking it");
}

static void ct_tls_opts(const struct ct_run *r, struct net_tls_opts *tls)
{
	tls->verify = !r->ep->accept_untrusted;
	tls->host = r->ep->server;
}

static int ct_tls(struct ct_run *r)
{
	struct net_tls_opts tls;
	char secs[24];
	int ret;

	if (!ct_streq(r->security, "tls")) {
		ct_skip(r, CONNTEST_TLS, "not used (no implicit TLS)");
		return 0;
	}
	ct_begin(r);
	ct_tls_opts(r, &tls);
	ret = net_start_tls(r->conn, &tls, r->timeout_ms, &r->err);
	if (ret < 0) {
		if (ret == MF_ETIMEOUT)
			mf_error_set(&r->err, ret, "no TLS handshake within %s s",
				     mf_secs_text(r->timeout_ms, secs));
		else if (ret == MF_ECLOSED)
			mf_error_set(&r->err, ret,
				     "the server closed the connection during the TLS handshake");
		return ct_fail(r, CONNTEST_TLS);
	}
	ct_note_tls(r, r->conn);
	ct_ok(r, CONNTEST_TLS, "%s", r->tls_desc);
	return 0;
}

static int ct_greeting(struct ct_run *r)
{
	struct imap_client_opts co;
	char secs[24];
	int ret;

	memset(&co, 0, sizeof(co));
	co.io_timeout_ms = r->timeout_ms;
	co.max_in_flight = 8;
	co.trace = r->opts->trace;
	co.trace_prefix = r->ep->name;
	co.limits.max_line = 1024 * 1024;
	co.limits.max_literal = 1024 * 1024;
	co.limits.max_depth = 64;
	r->client = imap_client_new(r->conn, &co);
	r->conn = NULL; /* the client owns it now */

	ct_begin(r);
	ret = imap_client_greeting_read(r->client, &r->preauth, &r->err);
	if (ret < 0) {
		if (ret == MF_ETIMEOUT)
			mf_error_set(&r->err, ret, "no greeting within %s s",
				     mf_secs_text(r->timeout_ms, secs));
		else if (ret == MF_ECLOSED)
			mf_error_set(&r->err, ret,
				     "the server closed the connection without a greeting");
		return ct_fail(r, CONNTEST_GREETING);
	}
	r->greeted = true;
	r->authenticated = r->preauth;
	ct_ok(r, CONNTEST_GREETING, "%s%s", r->preauth ? "PREAUTH " : "",
	      imap_client_greeting(r->client));
	return 0;
}

static int ct_starttls(struct ct_run *r)
{
	struct net_tls_opts tls;
	struct net_conn *conn;
	const char *caps;
	int ret;

	if (!ct_streq(r->security, "starttls")) {
		ct_skip(r, CONNTEST_STARTTLS, "not used (--security is not starttls)");
		return 0;
	}
	ct_begin(r);
	if (r->preauth) {
		mf_error_set(&r->err, MF_EPROTO,
			     "the server greeted with PREAUTH, so STARTTLS cannot be used");
		return ct_fail(r, CONNTEST_STARTTLS);
	}
	caps = imap_client_caps_text(r->client);
	if (caps[0] != '\0' && !(imap_client_caps(r->client) & IMAP_CAP_STARTTLS)) {
		mf_error_set(&r->err, MF_EUNSUPPORTED, "the server does not offer STARTTLS");
		return ct_fail(r, CONNTEST_STARTTLS);
	}
	ct_tls_opts(r, &tls);
	ret = imap_client_starttls(r->client, &tls, r->timeout_ms, &r->err);
	if (ret < 0) {
		ct_reword(r, "STARTTLS");
		if ((ret == MF_ENO || ret == MF_EBAD) &&
		    strncmp(r->err.msg, "STARTTLS", 8) != 0)
			mf_error_prefix(&r->err, "STARTTLS rejected");
		return ct_fail(r, CONNTEST_STARTTLS);
	}
	conn = imap_client_conn(r->client);
	ct_note_tls(r, conn);
	ct_ok(r, CONNTEST_STARTTLS, "%s", r->tls_desc);
	return 0;
}

static size_t ct_count_words(const char *s)
{
	size_t n = 0;
	bool in = false;

	for (; *s != '\0'; s++) {
		if (*s == ' ') {
			in = false;
		} else if (!in) {
			in = true;
			n++;
		}
	}
	return n;
}

static int ct_capability(struct ct_run *r)
{
	struct mf_error id_err;
	bool from_greeting;
	uint32_t caps;
	int ret;

	ct_begin(r);
	from_greeting = imap_client_caps_text(r->client)[0] != '\0';
	ret = imap_client_capability(r->client, false, &r->err);
	if (ret < 0) {
		ct_reword(r, "CAPABILITY");
		return ct_fail(r, CONNTEST_CAPABILITY);
	}
	caps = imap_client_caps(r->client);
	/* The server's ID is for the report only: its failure is not fatal. */
	mf_error_clear(&id_err);
	if (caps & IMAP_CAP_ID)
		(void)imap_client_id(r->client, &id_err);
	ct_ok(r, CONNTEST_CAPABILITY, "%zu capabilities%s",
	      ct_count_words(imap_client_caps_text(r->client)),
	      from_greeting ? " (from the greeting)" : "");

	if (!r->tls && (caps & IMAP_CAP_STARTTLS))
		ct_warn(r, "the server offers STARTTLS but the connection is not encrypted: "
			   "use --security starttls");
	return 0;
}

static void ct_caps_warnings(struct ct_run *r)
{
	uint32_t caps = imap_client_caps(r->client);

	if (!(caps & (IMAP_CAP_IMAP4REV1 | IMAP_CAP_IMAP4REV2)))
		ct_warn(r, "the server announces neither IMAP4rev1 nor IMAP4rev2");
	/* Servers announce more after login (Dovecot lists UIDPLUS only
	 * then): judge the migration capabilities on what a logged-in
	 * session sees, never on the pre-login list. */
	if (r->stage[CONNTEST_LOGIN].status != CT_OK)
		return;
	if (!(caps & IMAP_CAP_UIDPLUS))
		ct_warn(r, "the server lacks UIDPLUS (RFC 4315): a migration with it is slower "
			   "and cannot confirm where each message landed");
}

/* Decide who logs in and how (conntest.h, struct conntest_opts): the
 * drivers' decision (imap_session_plan()), described for the report. */
static void ct_plan_login(struct ct_run *r)
{
	const struct conntest_opts *o = r->opts;
	const struct store_endpoint *ep = r->ep;
	struct imap_session_opts so;

	memset(&so, 0, sizeof(so));
	so.auth = ct_streq(ep->auth, "login") ? IMAP_AUTH_LOGIN : IMAP_AUTH_PLAIN;
	so.user = o->user;
	so.password = o->password;
	so.admin_user = ep->admin_user;
	so.admin_password = o->admin_password;
	so.impersonation = ct_streq(ep->impersonation, "master-user") ? IMAP_IMP_MASTER_USER
								       : IMAP_IMP_SASL;
	so.master_separator = ep->master_separator;
	imap_session_plan(&so, imap_client_caps(r->client), &r->plan);

	switch (r->plan.mode) {
	case IMAP_LOGIN_USER:
	case IMAP_LOGIN_ADMIN:
		r->login_as = xstrdup(r->plan.authcid);
		r->login_detail = xasprintf("as %s", r->plan.authcid);
		break;
	case IMAP_LOGIN_MASTER:
		r->login_as = xasprintf("%s (as %s)", o->user, ep->admin_user);
		r->login_detail = xasprintf("as %s (master user %s)", o->user, ep->admin_user);
		break;
	case IMAP_LOGIN_SASL:
		r->login_as = xasprintf("%s (as %s)", o->user, ep->admin_user);
		r->login_detail = xasprintf("as %s (SASL authorization by %s)", o->user,
					    ep->admin_user);
		break;
	case IMAP_LOGIN_NONE:
		break;
	}
}

/* The plan's refusals, in the words of the command line. */
static void ct_refusal(struct ct_run *r)
{
	if (r->plan.refusal == IMAP_LOGIN_NEEDS_PLAIN)
		mf_error_set(&r->err, MF_EUNSUPPORTED,
			     "impersonation through SASL needs AUTHENTICATE PLAIN, which the "
			     "server does not offer (try --impersonation master-user)");
	else
		mf_error_set(&r->err, MF_EAUTH,
			     "the server refuses passwords on an unencrypted connection "
			     "(LOGINDISABLED): use --security starttls or tls");
}

static int ct_login(struct ct_run *r)
{
	uint32_t caps = imap_client_caps(r->client);
	struct mf_error cap_err;
	int ret;

	if (r->preauth) {
		ct_begin(r);
		ct_ok(r, CONNTEST_LOGIN, "pre-authenticated by the server (PREAUTH)");
		return 0;
	}
	if (r->plan.mode == IMAP_LOGIN_NONE) {
		ct_skip(r, CONNTEST_LOGIN, "not tested: no credentials are known");
		if (!r->tls && !(caps & IMAP_CAP_LOGINDISABLED))
			ct_warn(r, "the server would accept a password over an unencrypted "
				   "connection (it does not announce LOGINDISABLED)");
		return 0;
	}
	ct_begin(r);
	ret = imap_session_login(r->client, &r->plan, &r->err);
	if (r->plan.refusal != IMAP_LOGIN_SEND) {
		/* Refused before any password was sent. */
		ct_refusal(r);
		return ct_fail(r, CONNTEST_LOGIN);
	}
	if (r->plan.plain_missing)
		ct_warn(r, "the server does not offer AUTHENTICATE PLAIN: the LOGIN command "
			   "was used instead");
	if (!r->tls)
		ct_warn(r, ret == 0 ? "the server accepted a password over an unencrypted connection"
				    : "a password was sent over an unencrypted connection");
	if (ret < 0) {
		ct_reword(r, r->plan.plain ? "AUTHENTICATE PLAIN" : "LOGIN");
		return ct_fail(r, CONNTEST_LOGIN);
	}
	r->authenticated = true;
	ct_ok(r, CONNTEST_LOGIN, "%s", r->login_detail);

	/* Servers announce more after login, usually in the tagged OK; the
	 * client asks again when they did not. Not fatal: EXAMINE reports a
	 * dead connection. */
	(void)imap_client_capability(r->client, false, &cap_err);
	return 0;
}

static int ct_select(struct ct_run *r)
{
	struct imap_mailbox_state st;
	int ret;

	if (!r->authenticated) {
		ct_skip(r, CONNTEST_SELECT, "not tested: not logged in");
		return 0;
	}
	ct_begin(r);
	memset(&st, 0, sizeof(st));
	ret = imap_client_select(r->client, "INBOX", true, &st, &r->err);
	if (ret == MF_ENO && r->plan.mode == IMAP_LOGIN_ADMIN) {
		/* Administrators often have no mailbox of their own (Cyrus
		 * admins, service accounts): the login proved the
		 * credentials; a user's mailbox is tested with
		 * --test-mailbox. */
		ct_skip(r, CONNTEST_SELECT, "the administrator has no INBOX of its own");
		ct_warn(r, "the administrator has no INBOX of its own; test a user's mailbox "
			   "with --test-mailbox USER");
		mf_error_clear(&r->err);
		return 0;
	}
	if (ret < 0) {
		ct_reword(r, "EXAMINE INBOX");
		if ((ret == MF_ENO || ret == MF_EBAD) && strncmp(r->err.msg, "EXAMINE", 7) != 0)
			mf_error_prefix(&r->err, "EXAMINE INBOX failed");
		return ct_fail(r, CONNTEST_SELECT);
	}
	ct_ok(r, CONNTEST_SELECT, "INBOX: %u message%s, UIDVALIDITY %u", st.exists,
	      st.exists == 1 ? "" : "s", st.uidvalidity);
	return 0;
}

static int ct_stages(struct ct_run *r)
{
	int ret;

	if ((ret = ct_dns(r)) < 0 || (ret = ct_connect(r)) < 0 || (ret = ct_tls(r)) < 0 ||
	    (ret = ct_greeting(r)) < 0 || (ret = ct_starttls(r)) < 0 ||
	    (ret = ct_capability(r)) < 0)
		return ret;
	ct_plan_login(r);
	if ((ret = ct_login(r)) < 0 || (ret = ct_select(r)) < 0)
		return ret;
	return 0;
}

json_t *conntest_run(const struct store_endpoint *ep, const struct conntest_opts *opts,
		     int *failed_stage_r)
{
	struct conntest_opts no_opts;
	struct ct_run r;
	json_t *doc;

	if (opts == NULL) {
		memset(&no_opts, 0, sizeof(no_opts));
		opts = &no_opts;
	}
	if (ct_streq(ep->type, "exchange-remote") || ct_streq(ep->type, "outlook-anywhere")) {
		*failed_stage_r = CONNTEST_UNSUPPORTED;
		return conntest_json_unsupported(ep);
	}

	memset(&r, 0, sizeof(r));
	r.ep = ep;
	r.opts = opts;
	r.failed = -1;
	r.security = ct_streq(ep->security, "none") ? "none" :
		     ct_streq(ep->security, "starttls") ? "starttls" : "tls";
	r.port = ep->port > 0 ? ep->port : ct_streq(r.security, "tls") ? 993 : 143;
	r.timeout_ms = opts->stage_timeout_ms > 0 ? opts->stage_timeout_ms :
		       CONNTEST_DEFAULT_TIMEOUT_MS;
	r.warnings = json_array();
	mf_error_clear(&r.err);

	(void)ct_stages(&r);

	/* LOGOUT while the connection is sound (after a NO it still is). */
	if (r.client != NULL && r.greeted && !imap_client_bye(r.client) &&
	    (r.failed < 0 || r.err.code == MF_ENO || r.err.code == MF_EBAD ||
	     r.err.code == MF_EAUTH || r.err.code == MF_EUNSUPPORTED)) {
		struct mf_error logout_err;

		(void)imap_client_logout(r.client, &logout_err);
	}
	/* Judge the capabilities last: servers announce more after login. */
	if (r.stage[CONNTEST_CAPABILITY].status == CT_OK)
		ct_caps_warnings(&r);
	doc = conntest_json_result(&r);
	*failed_stage_r = r.failed;

	if (r.client != NULL)
		imap_client_free(&r.client);
	if (r.conn != NULL)
		net_close(&r.conn);
	for (int s = 0; s < CONNTEST_STAGE_COUNT; s++)
		free(r.stage[s].detail);
	free(r.tls_desc);
	free(r.tls_cert);
	imap_session_plan_free(&r.plan);
	free(r.login_as);
	free(r.login_detail);
	json_decref(r.warnings);
	return doc;
}
