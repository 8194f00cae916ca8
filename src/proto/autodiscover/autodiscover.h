/* autodiscover.h: from an e-mail address to verified server settings.
 *
 * Sources, tried concurrently (one thread each) within an overall deadline:
 *   "pox"        Exchange POX Autodiscover (MS-OXDISCO, MS-OXDSCLI):
 *                https://DOMAIN/autodiscover/autodiscover.xml,
 *                https://autodiscover.DOMAIN/autodiscover/autodiscover.xml,
 *                the unauthenticated GET redirect probe on
 *                http://autodiscover.DOMAIN/autodiscover/autodiscover.xml
 *                (followed to https only), and SRV _autodiscover._tcp.DOMAIN;
 *                POST of the outlook request schema asking for response
 *                schema 2006a, Basic or NTLM credentials when given;
 *                Action redirectAddr / redirectUrl (at most 10, loops
 *                detected); EXCH/EXHTTP (EwsUrl, Server), EXPR (Outlook
 *                Anywhere: Server, SSL, AuthPackage), WEB and IMAP sections.
 *   "autodiscover-v2"  GET /autodiscover/autodiscover.json?Email=..&Protocol=Ews
 *   "autoconfig" https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=..
 *                then https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml
 *                (%EMAILADDRESS%, %EMAILLOCALPART%, %EMAILDOMAIN% replaced)
 *   "srv"        RFC 6186 / RFC 8314: _imaps._tcp, _imap._tcp (priority,
 *                weight; target "." = not offered)
 *   "mx"         the lowest-preference MX host's provider domain: its
 *                autoconfig and a built-in table of large providers
 *   "guess"      imap.DOMAIN, mail.DOMAIN, DOMAIN on 993, then 143 with
 *                STARTTLS
 * Every IMAP candidate is checked with a live connection (TLS verified,
 * greeting, CAPABILITY) before it is offered as working.
 *
 * Security: credentials go only over https to hosts whose certificates
 * verify (src/proto/http enforces it); plain http only for the
 * unauthenticated redirect probe, followed only to https; a redirect to
 * http, a redirect loop, and an SRV/MX target outside the address's domain
 * are reported, and such a candidate needs allow_untrusted to be used;
 * XML parsed without DTDs or entities; responses over 1 MiB refused.
 */
#ifndef MF_AUTODISCOVER_H
#define MF_AUTODISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "util/mf-error.h"

enum ad_protocol {
	AD_PROTO_ANY = 0,
	AD_PROTO_IMAP,
	AD_PROTO_EXCHANGE,
};

struct ad_opts {
	const char *email;
	enum ad_protocol protocol;
	const char *user;           /* credentials for POX (optional) */
	const char *password;       /* plaintext, not kept */
	int request_timeout_ms;     /* per request, default 10000 */
	int deadline_ms;            /* whole discovery, default 60000 */
	bool allow_untrusted;       /* use candidates that need confirmation */
	bool verify;                /* live-check IMAP candidates (default on:
				     * callers set it true) */
	FILE *trace;                /* every DNS query and URL with outcome */
};

struct ad_candidate {
	char *source;               /* "pox", "autoconfig", "srv", ... */
	char *origin;               /* URL or DNS record it came from */
	char *protocol;             /* "imap" or "exchange" */
	/* imap */
	char *server;
	int port;
	char *security;             /* "tls", "starttls", "none" */
	char *auth;                 /* "plain", "login", or NULL */
	char *username_hint;        /* e.g. "%EMAILADDRESS%" resolved, or NULL */
	/* exchange */
	char *ews_url;
	char *exchange_server;
	char *rpc_proxy_server;
	char *auth_package;         /* "basic", "ntlm", ... */
	/* judgement */
	bool verified;              /* live check passed (imap) or answer from a
				     * verified https endpoint (exchange) */
	char *verify_detail;        /* "greeting and CAPABILITY over TLS ok" or
				     * the failure */
	bool needs_confirmation;    /* outside the domain, via http, ... */
	char *warning;              /* why it needs confirmation, or NULL */
	int rank;                   /* lower is better */
};

struct ad_source_report {
	char *source;
	char *outcome;              /* "found", "nothing", "refused", "error" */
	char *reason;               /* one line */
};

struct ad_result {
	char *email;
	struct ad_candidate *cands; /* sorted by rank */
	size_t ncands;
	struct ad_source_report *sources;
	size_t nsources;
	int chosen;                 /* index into cands, or -1 */
};

/* Run the discovery. Returns 0 when it ran (res->chosen may be -1: nothing
 * found; res->sources say why), or MF_EINVAL for a malformed address. */
int autodiscover_run(const struct ad_opts *o, struct ad_result *res, struct mf_error *err);
void autodiscover_result_free(struct ad_result *res);

/* The documented JSON form (docs/autodiscover.md). */
json_t *autodiscover_result_json(const struct ad_result *res);

/* When nothing was chosen: a message in the spirit of Exchange's, with the
 * reason from each source, ending with how to enter the server by hand
 * (--server). malloc'd. */
char *autodiscover_failure_text(const struct ad_result *res);

#endif
