/* endpoint.c: endpoint defaults and validation. Every message names the CLI
 * option the user has to change, so the CLI and the REST API can show it as
 * it is. */
#include "endpoint/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#define ENDPOINT_LIMIT_MAX 1000
#define ENDPOINT_HOST_MAX 253
#define ENDPOINT_LABEL_MAX 63

static bool endpoint_streq(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

static bool endpoint_is_imap(const struct store_endpoint *ep)
{
	return endpoint_streq(ep->type, "imap");
}

static bool endpoint_is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool endpoint_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool endpoint_has_ctl(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static bool endpoint_is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return false;
	}
	return true;
}

int endpoint_validate_name(const char *name, struct mf_error *err)
{
	size_t len;

	if (name == NULL || name[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "the endpoint name must not be empty");
	len = strlen(name);
	if (len > ENDPOINT_NAME_MAX)
		return mf_error_set(err, MF_EINVAL,
				    "the endpoint name is longer than %d characters",
				    ENDPOINT_NAME_MAX);
	if (!endpoint_is_alnum(name[0]))
		return mf_error_set(err, MF_EINVAL,
				    "the endpoint name '%s' must start with a letter or digit", name);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!endpoint_is_alnum(c) && c != '.' && c != '_' && c != '-')
			return mf_error_set(err, MF_EINVAL,
					    "the endpoint name '%s' may contain only letters, digits, '.', '_' and '-'",
					    name);
	}
	return 0;
}

bool endpoint_type_valid(const char *type)
{
	return endpoint_streq(type, "imap") || endpoint_streq(type, "exchange-remote") ||
	       endpoint_streq(type, "outlook-anywhere");
}

static void endpoint_default_str(char **field, const char *value)
{
	if (*field == NULL || (*field)[0] == '\0') {
		free(*field);
		*field = xstrdup(value);
	}
}

void endpoint_apply_defaults(struct store_endpoint *ep)
{
	if (endpoint_is_imap(ep)) {
		endpoint_default_str(&ep->security, "tls");
		if (ep->port == 0)
			ep->port = endpoint_streq(ep->security, "tls") ? 993 : 143;
		endpoint_default_str(&ep->auth, "plain");
		endpoint_default_str(&ep->impersonation, "sasl");
		endpoint_default_str(&ep->master_separator, "*");
	} else if (endpoint_type_valid(ep->type)) {
		if (ep->port == 0)
			ep->port = 443;
		endpoint_default_str(&ep->auth, "basic");
		endpoint_default_str(&ep->mailbox_permission, "admin");
	}
	if (ep->max_concurrent_migrations == 0)
		ep->max_concurrent_migrations = ENDPOINT_DEFAULT_MAX_MIGRATIONS;
	if (ep->max_concurrent_incremental_syncs == 0) {
		/* Never above the migrations limit, so that a lowered
		 * --max-concurrent-migrations alone stays valid. */
		ep->max_concurrent_incremental_syncs = ENDPOINT_DEFAULT_MAX_INCREMENTAL;
		if (ep->max_concurrent_incremental_syncs > ep->max_concurrent_migrations &&
		    ep->max_concurrent_migrations > 0)
			ep->max_concurrent_incremental_syncs = ep->max_concurrent_migrations;
	}
}

/* One DNS label: LDH, 1-63 characters, no hyphen at either end. IDNA
 * A-labels ("xn--...") are plain LDH labels. */
static bool endpoint_label_ok(const char *s, size_t len)
{
	if (len == 0 || len > ENDPOINT_LABEL_MAX)
		return false;
	if (s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!endpoint_is_alnum(s[i]) && s[i] != '-')
			return false;
	}
	return true;
}

bool endpoint_host_valid(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	size_t len, start, last_start = 0;
	bool last_numeric = true;

	if (host == NULL || host[0] == '\0')
		return false;
	if (strchr(host, ':') != NULL)
		return inet_pton(AF_INET6, host, &a6) == 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return true;
	len = strlen(host);
	if (host[len - 1] == '.')
		len--; /* a fully qualified name may end with a dot */
	if (len == 0 || len > ENDPOINT_HOST_MAX)
		return false;
	start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && host[i] != '.')
			continue;
		if (!endpoint_label_ok(host + start, i - start))
			return false;
		last_start = start;
		start = i + 1;
	}
	/* A name whose last label is all digits would be read as an IPv4
	 * address by resolvers ("10.1.300", "1.2.3.4.5"): not a host name. */
	for (size_t i = last_start; i < len; i++) {
		if (!endpoint_is_digit(host[i]))
			last_numeric = false;
	}
	return !last_numeric;
}

static int endpoint_check_host(const char *opt, const char *host, bool required,
			       const char *type, struct mf_error *err)
{
	if (host == NULL || host[0] == '\0') {
		if (required)
			return mf_error_set(err, MF_EINVAL, "%s is required for an %s endpoint",
					    opt, type);
		return 0;
	}
	if (endpoint_host_valid(host))
		return 0;
	if (!endpoint_is_ascii(host))
		return mf_error_set(err, MF_EINVAL,
				    "%s '%s' is not a valid host name or address "
				    "(write an international name in its ASCII form, xn--...)",
				    opt, host);
	if (host[0] == '[')
		return mf_error_set(err, MF_EINVAL,
				    "%s '%s' is not a valid host name or address "
				    "(write an IPv6 address without brackets)", opt, host);
	return mf_error_set(err, MF_EINVAL, "%s '%s' is not a valid host name or address",
			    opt, host);
}

/* Exchange administrators sign in as DOMAIN\user or user@domain. */
static bool endpoint_exchange_user_ok(const char *u)
{
	const char *sep;

	if (endpoint_has_ctl(u) || strchr(u, ' ') != NULL)
		return false;
	sep = strchr(u, '\\');
	if (sep != NULL)
		return sep != u && sep[1] != '\0' && strchr(sep + 1, '\\') == NULL &&
		       strchr(u, '@') == NULL;
	sep = strchr(u, '@');
	return sep != NULL && sep != u && sep[1] != '\0' && strchr(sep + 1, '@') == NULL;
}

static bool endpoint_email_ok(const char *s)
{
	const char *at = strrchr(s, '@');

	return at != NULL && at != s && at[1] != '\0' && !endpoint_has_ctl(s) &&
	       strchr(s, ' ') == NULL;
}

static int endpoint_check_limits(const struct store_endpoint *ep, struct mf_error *err)
{
	int mig = ep->max_concurrent_migrations;
	int inc = ep->max_concurrent_incremental_syncs;

	if (mig < 1 || mig > ENDPOINT_LIMIT_MAX)
		return mf_error_set(err, MF_EINVAL,
				    "--max-concurrent-migrations must be between 1 and %d",
				    ENDPOINT_LIMIT_MAX);
	if (inc < 1 || inc > ENDPOINT_LIMIT_MAX)
		return mf_error_set(err, MF_EINVAL,
				    "--max-concurrent-incremental-syncs must be between 1 and %d",
				    ENDPOINT_LIMIT_MAX);
	if (inc > mig)
		return mf_error_set(err, MF_EINVAL,
				    "--max-concurrent-incremental-syncs (%d) cannot exceed "
				    "--max-concurrent-migrations (%d)", inc, mig);
	return 0;
}

static int endpoint_validate_imap(const struct store_endpoint *ep, struct mf_error *err)
{
	const char *sep = ep->master_separator;
	int ret;

	ret = endpoint_check_host("--server", ep->server, true, "imap", err);
	if (ret < 0)
		return ret;
	if (!endpoint_streq(ep->security, "none") && !endpoint_streq(ep->security, "starttls") &&
	    !endpoint_streq(ep->security, "tls"))
		return mf_error_set(err, MF_EINVAL, "--security must be none, starttls or tls");
	if (!endpoint_streq(ep->auth, "plain") && !endpoint_streq(ep->auth, "login"))
		return mf_error_set(err, MF_EINVAL,
				    "--auth must be plain or login for an imap endpoint");
	if (ep->admin_user != NULL &&
	    (ep->admin_user[0] == '\0' || endpoint_has_ctl(ep->admin_user)))
		return mf_error_set(err, MF_EINVAL,
				    "--admin-user must be a non-empty user name without control characters");
	if (!endpoint_streq(ep->impersonation, "sasl") &&
	    !endpoint_streq(ep->impersonation, "master-user"))
		return mf_error_set(err, MF_EINVAL, "--impersonation must be sasl or master-user");
	if (sep == NULL || sep[0] == '\0' || sep[1] != '\0' ||
	    (unsigned char)sep[0] <= 0x20 || (unsigned char)sep[0] >= 0x7f)
		return mf_error_set(err, MF_EINVAL,
				    "--master-separator must be a single printable character other than a space");
	return 0;
}

static int endpoint_validate_exchange(const struct store_endpoint *ep, struct mf_error *err)
{
	bool oa = endpoint_streq(ep->type, "outlook-anywhere");
	int ret;

	/* Exchange Remote needs the MRS proxy host; Outlook Anywhere needs the
	 * RPC proxy, given as --rpc-proxy-server or --server. */
	ret = endpoint_check_host("--server", ep->server, !oa, ep->type, err);
	if (ret == 0)
		ret = endpoint_check_host("--exchange-server", ep->exchange_server, false,
					  ep->type, err);
	if (ret == 0)
		ret = endpoint_check_host("--rpc-proxy-server", ep->rpc_proxy_server,
					  oa && (ep->server == NULL || ep->server[0] == '\0'),
					  ep->type, err);
	if (ret < 0)
		return ret;
	if (ep->email_address != NULL && !endpoint_email_ok(ep->email_address))
		return mf_error_set(err, MF_EINVAL, "--email-address '%s' is not an e-mail address",
				    ep->email_address);
	if (!endpoint_streq(ep->auth, "basic") && !endpoint_streq(ep->auth, "ntlm"))
		return mf_error_set(err, MF_EINVAL, "--auth must be basic or ntlm for an %s endpoint",
				    ep->type);
	if (ep->admin_user != NULL && !endpoint_exchange_user_ok(ep->admin_user))
		return mf_error_set(err, MF_EINVAL,
				    "--admin-user must be DOMAIN\\user or user@domain for an %s endpoint",
				    ep->type);
	if (!endpoint_streq(ep->mailbox_permission, "admin") &&
	    !endpoint_streq(ep->mailbox_permission, "full-access"))
		return mf_error_set(err, MF_EINVAL, "--mailbox-permission must be admin or full-access");
	return 0;
}

int endpoint_validate(const struct store_endpoint *ep, struct mf_error *err)
{
	int ret;

	ret = endpoint_validate_name(ep->name, err);
	if (ret < 0)
		return ret;
	if (!endpoint_type_valid(ep->type))
		return mf_error_set(err, MF_EINVAL,
				    "--type must be imap, exchange-remote or outlook-anywhere");
	ret = endpoint_is_imap(ep) ? endpoint_validate_imap(ep, err)
				   : endpoint_validate_exchange(ep, err);
	if (ret < 0)
		return ret;
	if (ep->port < 1 || ep->port > 65535)
		return mf_error_set(err, MF_EINVAL, "--port must be between 1 and 65535");
	return endpoint_check_limits(ep, err);
}
