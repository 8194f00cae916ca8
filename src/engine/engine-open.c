/* engine-open.c: opening a user's source and target mailboxes, and the
 * classification of failures (retry later, reconnect, or fail).
 *
 * Passwords are opened from their sealed form just before the open and
 * wiped right after it; a reconnect opens them again.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "drivers/imap-driver.h"
#include "drivers/maildir.h"
#include "util/xmalloc.h"

static bool engine_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* ---- the default opener ---------------------------------------------------- */

static int engine_open_imap(const struct engine_account *a, struct mbx **m_r, struct mf_error *err)
{
	const struct store_endpoint *ep = a->ep;
	struct imap_mbx_opts o;

	memset(&o, 0, sizeof(o));
	o.host = ep->server;
	o.port = (uint16_t)ep->port;
	if (engine_set(ep->security) && strcasecmp(ep->security, "none") == 0)
		o.security = IMAP_SEC_NONE;
	else if (engine_set(ep->security) && strcasecmp(ep->security, "starttls") == 0)
		o.security = IMAP_SEC_STARTTLS;
	else
		o.security = IMAP_SEC_TLS;
	if (o.port == 0)
		o.port = o.security == IMAP_SEC_TLS ? 993 : 143;
	o.verify_tls = !ep->accept_untrusted;
	o.auth = engine_set(ep->auth) && strcasecmp(ep->auth, "login") == 0 ? IMAP_AUTH_LOGIN
									    : IMAP_AUTH_PLAIN;
	o.user = a->login;
	o.password = a->password;
	if (a->password == NULL) {
		o.admin_user = ep->admin_user;
		o.admin_password = a->admin_password;
	}
	o.impersonation =
	    engine_set(ep->impersonation) && strcasecmp(ep->impersonation, "master-user") == 0
		? IMAP_IMP_MASTER_USER
		: IMAP_IMP_SASL;
	o.master_separator = ep->master_separator;
	o.io_timeout_ms = a->io_timeout_ms;
	o.trace = a->trace;
	o.trace_prefix = a->side == ENGINE_SOURCE ? "source" : "target";
	o.user_root = a->side == ENGINE_SOURCE ? a->user_root : NULL;
	o.no_multiappend = a->no_multiappend;
	return imap_mbx_open(&o, m_r, err);
}

int engine_open_default(const struct engine_account *a, struct mbx **m_r, struct mf_error *err)
{
	if (a->ep == NULL)
		return maildir_open(a->maildir_root, m_r, err);
	if (a->ep->type == NULL || strcasecmp(a->ep->type, "imap") != 0)
		return mf_error_set(err, MF_EUNSUPPORTED,
				    "endpoint %s: migrating from or to a %s endpoint is not "
				    "supported yet",
				    a->ep->name, a->ep->type != NULL ? a->ep->type : "(typeless)");
	return engine_open_imap(a, m_r, err);
}

/* ---- one side of a user ---------------------------------------------------------- */

/* The user's local store root, refusing an address that is not one path
 * component. malloc'd, or NULL with err. */
static char *engine_maildir_root(struct engine_job *job, struct mf_error *err)
{
	const char *addr = job->u.email_address;

	if (!engine_set(addr) || strchr(addr, '/') != NULL || addr[0] == '.') {
		mf_error_set(err, MF_EINVAL,
			     "address %s cannot name a directory in the local store",
			     addr != NULL ? addr : "(none)");
		return NULL;
	}
	return xasprintf("%s/mailstore/%s", job->run->data_dir, addr);
}

int engine_open_side(struct engine_job *job, enum engine_side side, struct mbx **m_r,
		     struct mf_error *err)
{
	struct engine_run *run = job->run;
	const struct store_user *u = &job->u;
	const struct store_endpoint *ep = NULL;
	struct engine_account a;
	char *password = NULL, *admin_password = NULL, *root = NULL;
	const char *sealed;
	int rc = 0;

	memset(&a, 0, sizeof(a));
	a.side = side;
	a.email_address = u->email_address;
	a.io_timeout_ms = run->o.io_timeout_ms;
	a.trace = run->o.trace;
	a.no_multiappend = run->o.no_multiappend;
	if (side == ENGINE_SOURCE) {
		ep = &run->src_ep;
		a.user_root = engine_set(u->user_root) ? u->user_root : NULL;
		a.login = engine_set(u->user_name) ? u->user_name : u->email_address;
		sealed = u->password_sealed;
	} else if (run->has_tgt_ep) {
		ep = &run->tgt_ep;
		a.login = engine_set(u->target_user_name) ? u->target_user_name : u->email_address;
		sealed = u->target_password_sealed;
	} else {
		root = engine_maildir_root(job, err);
		if (root == NULL)
			return MF_EINVAL;
		a.maildir_root = root;
		sealed = NULL;
	}
	a.ep = ep;
	if (ep != NULL && engine_set(sealed)) {
		rc = store_secret_open(job->st, sealed, &password, err);
		a.password = password;
	} else if (ep != NULL && engine_set(ep->admin_user) && engine_set(ep->admin_secret)) {
		rc = store_secret_open(job->st, ep->admin_secret, &admin_password, err);
		a.admin_password = admin_password;
	} else if (ep != NULL) {
		rc = mf_error_set(err, MF_EINVAL,
				  "no %s password for %s, and endpoint %s has no admin credentials "
				  "to impersonate it",
				  side == ENGINE_SOURCE ? "source" : "target", a.login, ep->name);
	}
	if (rc == 0) {
		if (run->o.open != NULL)
			rc = run->o.open(run->o.open_ctx, &a, m_r, err);
		else
			rc = engine_open_default(&a, m_r, err);
	}
	mf_secret_free(&password);
	mf_secret_free(&admin_password);
	free(root);
	return rc;
}

/* ---- failures ---------------------------------------------------------------------- */

bool engine_rc_unreachable(int rc)
{
	/* MF_ENO: a BYE or NO greeting, usually "too many connections". */
	return rc == MF_EDNS || rc == MF_ECONNECT || rc == MF_ETIMEOUT || rc == MF_ECLOSED ||
	       rc == MF_ENO;
}

bool engine_rc_retry(int rc)
{
	return rc != MF_EAUTH && rc != MF_EINVAL && rc != MF_EUNSUPPORTED && rc != MF_ETLS &&
	       rc != 0;
}

int64_t engine_backoff_ms(int attempt, int base_ms, int max_ms, uint64_t *seed)
{
	int64_t d = base_ms > 0 ? base_ms : 1;
	uint64_t x;

	for (int i = 1; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	/* xorshift64*: jitter, not security. */
	x = *seed != 0 ? *seed : 0x9e3779b97f4a7c15ull;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*seed = x;
	x *= 0x2545f4914f6cdd1dull;
	/* +-20% */
	return d * 8 / 10 + (int64_t)((x >> 11) % (uint64_t)(d * 4 / 10 + 1));
}
