/* endpoint.h: the migration endpoint model and its validation.
 *
 * An endpoint is a stored struct store_endpoint. This module fills defaults
 * (port from security, concurrency limits), validates a complete endpoint
 * (messages name the option: "--port must be 1-65535"), and knows the
 * allowed values of every setting.
 */
#ifndef MF_ENDPOINT_H
#define MF_ENDPOINT_H

#include <stdbool.h>

#include "store/store.h"
#include "util/mf-error.h"

#define ENDPOINT_NAME_MAX 64
#define ENDPOINT_DEFAULT_MAX_MIGRATIONS 20
#define ENDPOINT_DEFAULT_MAX_INCREMENTAL 20

/* 1-64 characters from [A-Za-z0-9._-], starting with a letter or digit. */
int endpoint_validate_name(const char *name, struct mf_error *err);
bool endpoint_type_valid(const char *type);

/* Host name syntax: a DNS name of LDH labels (IDNA names in their ASCII
 * "xn--" form; an optional trailing dot), a dotted IPv4 address, or an IPv6
 * address without brackets. A name whose last label is all digits is
 * rejected (resolvers would read it as an address). */
bool endpoint_host_valid(const char *host);

/* Fill defaults for unset fields of ep (by type): security tls, port 993/143,
 * auth plain, impersonation sasl, separator "*", limits 20/20,
 * mailbox permission admin.
 * By type: imap gets security tls, port 993 with tls else 143, auth plain,
 * impersonation sasl, separator "*"; exchange-remote and outlook-anywhere
 * get port 443, auth basic, mailbox permission admin (security is left
 * unset). An unset incremental limit defaults to min(20, migrations).
 * String defaults are malloc'd (owned by ep); an empty string counts as
 * unset. Port 0 counts as unset, so a CLI range-checks --port as it
 * parses it (an explicit "--port 0" must not silently become 993). */
void endpoint_apply_defaults(struct store_endpoint *ep);

/* Check a complete endpoint: required settings for its type, allowed
 * values, port range, 1 <= incremental <= migrations <= 1000, host name
 * syntax, admin user form for Exchange (DOMAIN\user or user@domain).
 * Call after endpoint_apply_defaults(): unset values are rejected. The
 * first problem found is reported, naming the CLI option:
 * "--port must be between 1 and 65535",
 * "--server 'a b' is not a valid host name or address". Returns 0 or
 * MF_EINVAL. Outlook Anywhere needs --server or --rpc-proxy-server;
 * Exchange Remote needs --server. */
int endpoint_validate(const struct store_endpoint *ep, struct mf_error *err);

#endif
