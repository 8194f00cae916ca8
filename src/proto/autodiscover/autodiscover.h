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

/* How far a candidate's origin can be trusted, best first (the ranking
 * uses it after protocol preference; docs/autodiscover.md). */
enum ad_trust {
	AD_TRUST_AUTH_HTTPS = 0,    /* POX answer to a request with credentials */
	AD_TRUST_DOMAIN_HTTPS,      /* the domain's own https: POX, v2, autoconfig */
	AD_TRUST_SRV,               /* RFC 6186 SRV records of the domain */
	AD_TRUST_MX,                /* MX provider: its autoconfig or the table */
	AD_TRUST_GUESS,             /* imap.DOMAIN, mail.DOMAIN, DOMAIN */
};

/* At most this many redirects (HTTP 3xx, redirectUrl, redirectAddr) per
 * source. */
#define AD_MAX_REDIRECTS 10

/* Process exit codes of `mailferry autodiscover` when nothing was chosen. */
#define AD_EXIT_NOT_FOUND 30            /* no usable candidate at all */
#define AD_EXIT_NEEDS_CONFIRMATION 31   /* only candidates that need
					 * --allow-untrusted-candidates */

struct ad_opts {
	const char *email;
	enum ad_protocol protocol;
	const char *user;           /* credentials for POX (optional; the
				     * address when only a password is given) */
	const char *password;       /* plaintext, not kept */
	int request_timeout_ms;     /* per request, default 10000 */
	int deadline_ms;            /* whole discovery, default 60000 */
	bool allow_untrusted;       /* use candidates that need confirmation */
	bool verify;                /* live-check IMAP candidates (default on:
				     * callers set it true). When false, IMAP
				     * candidates are not checked and may be
				     * chosen unverified, and "guess" is
				     * skipped (it is a live probe). */
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
	char *owa_url;              /* WEB section, or NULL */
	/* judgement */
	bool verified;              /* live check passed (imap) or answer from a
				     * verified https endpoint (exchange) */
	char *verify_detail;        /* "greeting and CAPABILITY over TLS ok" or
				     * the failure */
	bool needs_confirmation;    /* outside the domain, via http, ... */
	char *warning;              /* why it needs confirmation (or another
				     * note for the admin), or NULL */
	enum ad_trust trust;
	int rank;                   /* lower is better */
};

struct ad_source_report {
	char *source;
	char *outcome;              /* "found", "nothing", "refused", "error",
				     * "skipped" (not asked for this protocol,
				     * or guess without live checks) */
	char *reason;               /* one line */
};

struct ad_result {
	char *email;
	struct ad_candidate *cands; /* sorted by rank */
	size_t ncands;
	struct ad_source_report *sources;
	size_t nsources;
	int chosen;                 /* index into cands, or -1 */
	enum ad_protocol protocol;  /* as asked (for the texts) */
	bool allow_untrusted;       /* as asked */
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

/* 0 when a candidate was chosen, else AD_EXIT_NEEDS_CONFIRMATION when some
 * candidate would have been chosen with allow_untrusted, else
 * AD_EXIT_NOT_FOUND. */
int autodiscover_exit_code(const struct ad_result *res);

/* "authenticated-https", "domain-https", "srv", "mx", "guess". */
const char *ad_trust_name(enum ad_trust t);

#endif
