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

/* Fill defaults for unset fields of ep (by type): security tls, port 993/143,
 * auth plain, impersonation sasl, separator "*", limits 20/20,
 * mailbox permission admin. */
void endpoint_apply_defaults(struct store_endpoint *ep);

/* Check a complete endpoint: required settings for its type, allowed
 * values, port range, 1 <= incremental <= migrations <= 1000, host name
 * syntax, admin user form for Exchange (DOMAIN\user or user@domain). */
int endpoint_validate(const struct store_endpoint *ep, struct mf_error *err);

#endif
