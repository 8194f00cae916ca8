/* http.h: HTTP(S) requests through libcurl, with the safety rules of
 * autodiscovery built in.
 *
 * - Host names are resolved by our own resolver (net_resolve, c-ares) and
 *   handed to curl with CURLOPT_RESOLVE, so tests can use their own DNS.
 * - TLS is always verified (system trust store; SSL_CERT_FILE honoured).
 * - Credentials are sent only on https URLs (http_do refuses otherwise,
 *   MF_EINVAL), never to a host whose certificate does not verify (curl
 *   fails the handshake first), and redirects are never followed by curl:
 *   the caller sees 3xx with the Location and decides.
 * - The response body is capped (max_response, default 1 MiB; larger:
 *   MF_ELIMIT "response larger than 1 MiB refused"), and the request has a
 *   total timeout (MF_ETIMEOUT "no answer from URL within 10 s").
 * - With trace set, one line per request and outcome, never a credential:
 *   "GET https://host/path -> 200 (1234 bytes)" or "... -> tls: <why>".
 * - No proxy is used (proxy environment variables are ignored: a proxy
 *   would resolve names itself), only HTTP/1.1 is spoken (NTLM needs it),
 *   and a URL with a user name or password in it is refused (MF_EINVAL).
 */
#ifndef MF_HTTP_H
#define MF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/buf.h"
#include "util/mf-error.h"

enum http_auth {
	HTTP_AUTH_NONE = 0,
	HTTP_AUTH_BASIC,
	HTTP_AUTH_NTLM,
	HTTP_AUTH_ANY,      /* Basic or NTLM, whichever the server asks for */
};

struct http_request {
	const char *method;        /* "GET" (default) or "POST" */
	const char *url;
	const char *content_type;  /* for POST */
	const void *body;
	size_t body_len;
	enum http_auth auth;
	const char *user;          /* with auth != NONE; https only */
	const char *password;
	int timeout_ms;            /* default 10000 */
	size_t max_response;       /* default 1 MiB */
	FILE *trace;
};

struct http_response {
	long status;               /* 0 when no HTTP answer */
	char *location;            /* Location header of a 3xx, or NULL; made
				    * absolute against the request URL */
	char *content_type;        /* or NULL */
	char *www_authenticate;    /* schemes offered with a 401, e.g. "Basic, NTLM"
				    * (every WWW-Authenticate header, in order,
				    * without parameters or duplicates) */
	struct buf body;
};

/* Perform one request (no redirects followed). Returns 0 with *resp filled
 * for any HTTP status (the caller judges it), or: MF_EINVAL (credentials on
 * a non-https URL, malformed URL), MF_EDNS, MF_ECONNECT, MF_ETLS (with the
 * verification error), MF_ETIMEOUT, MF_ELIMIT (too large), MF_EIO.
 * On error *resp is left empty (status 0; freeing it is harmless).
 * method other than GET or POST: MF_EINVAL. timeout_ms bounds name
 * resolution and the transfer together. Headers and body are those of the
 * final response when curl answered an auth challenge itself (auth ANY:
 * first without credentials, then with the scheme offered; BASIC and NTLM
 * send at once). Thread-safe: each call has its own curl handle. */
int http_do(const struct http_request *req, struct http_response *resp, struct mf_error *err);
void http_response_free(struct http_response *resp);

/* Call once at start-up (curl_global_init); thread-safe afterwards.
 * http_do() calls it too (pthread_once), so calling it is optional. */
void http_global_init(void);

#endif
