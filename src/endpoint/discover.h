/* discover.h: endpoint settings from an e-mail address (the logic of
 * `mailferry autodiscover EMAIL` and `endpoint new NAME --autodiscover
 * --email-address EMAIL`; docs/autodiscover.md).
 */
#ifndef MF_DISCOVER_H
#define MF_DISCOVER_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "proto/autodiscover/autodiscover.h"
#include "store/store.h"
#include "util/mf-error.h"

/* Run the discovery for email and fill ep_out from the chosen candidate.
 *
 * proto: what to look for. AD_PROTO_ANY with ep_out->type set takes the
 * protocol from the type (imap -> IMAP; exchange-remote, outlook-anywhere
 * -> Exchange); a proto that contradicts the type is MF_EINVAL.
 * user, password: credentials for Exchange POX Autodiscover (sent only over
 * verified https); both may be NULL. Only read during the call.
 * allow_untrusted: candidates that need confirmation may be chosen.
 * trace: every DNS query, URL and live check with its outcome, or NULL.
 *
 * ep_out: on entry it may hold the caller's settings; the discovery fills
 * only fields that are unset (NULL, "" or 0), so settings given explicitly
 * win: type (imap, or exchange-remote when an EWS URL was found, else
 * outlook-anywhere), server, port, security, auth (imap: the autoconfig's
 * "plain"; Exchange: "basic" or "ntlm" from AuthPackage), exchange_server,
 * rpc_proxy_server, email_address. Defaults are not applied here
 * (endpoint_apply_defaults()).
 *
 * *result_r (may be NULL): the documented JSON form of the whole discovery
 * (autodiscover_result_json()), set whenever the discovery ran; its
 * "Message" holds the full failure text when nothing was chosen.
 *
 * Returns 0 when a candidate was chosen and ep_out filled; MF_ENOTFOUND when
 * none was (err: "no usable server settings found for EMAIL", or "... only
 * candidates that need --allow-untrusted-candidates"; the exit code is
 * autodiscover_exit_code(), 30 or 31); MF_EINVAL for a malformed address or
 * a proto that contradicts ep_out->type. */
int endpoint_discover(const char *email, enum ad_protocol proto, const char *user,
		      const char *password, bool allow_untrusted, FILE *trace,
		      struct store_endpoint *ep_out, json_t **result_r, struct mf_error *err);

/* Fill the unset fields of ep from a candidate (what endpoint_discover()
 * does with the chosen one). */
void endpoint_from_candidate(struct store_endpoint *ep, const struct ad_candidate *c,
			     const char *email);

#endif
