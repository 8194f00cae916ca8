/* ad-private.h: the pieces of autodiscover shared between its files and its
 * unit tests. Nothing outside src/proto/autodiscover and
 * tests/unit/test_autodiscover*.c includes this.
 *
 * One discovery run is a struct ad_ctx; each source runs in its own thread
 * with its own struct ad_src (notes and candidates of that source only, so
 * no lock is needed for them). Shared, and guarded by ctx->lock: the trace
 * stream and the cache of live IMAP checks.
 */
#ifndef MF_AD_PRIVATE_H
#define MF_AD_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/autodiscover/autodiscover.h"
#include "proto/http/http.h"
#include "util/buf.h"
#include "util/mftime.h"

enum ad_source_id {
	AD_SRC_POX = 0,
	AD_SRC_V2,
	AD_SRC_AUTOCONFIG,
	AD_SRC_SRV,
	AD_SRC_MX,
	AD_SRC_GUESS,
	AD_SRC_COUNT
};

/* How a source's attempt ended; a source reports its best class
 * (found > refused > error > nothing). */
enum ad_outcome {
	AD_OUT_NOTHING = 0,
	AD_OUT_ERROR,
	AD_OUT_REFUSED,
	AD_OUT_FOUND,
};

/* The refusal texts (docs/autodiscover.md quotes them). */
#define AD_TXT_HTTP_REDIRECT "redirect to http refused: %s"
#define AD_TXT_LOOP "redirect loop: %s was already visited"
#define AD_TXT_TOO_MANY "too many redirects (more than 10)"
#define AD_TXT_TOO_BIG "response larger than 1 MiB refused"
#define AD_TXT_UNTRUSTED_HOP \
	"%s leads outside %s: not followed without --allow-untrusted-candidates"
#define AD_TXT_OUTSIDE "%s %s is outside %s: use --allow-untrusted-candidates to accept it"
#define AD_TXT_EWS_HTTP "EWS URL over http refused: %s"
#define AD_TXT_NEED_CREDS \
	"401: credentials needed (give --admin-user with --password-stdin or --password-file)"
#define AD_TXT_BAD_CREDS "401: credentials rejected"
#define AD_TXT_NO_TLS "no TLS: the password would cross the network in clear"

struct ad_probe; /* ad-probe.c */

struct ad_ctx {
	const struct ad_opts *o;       /* foreign */
	char *email;                   /* owned; domain part lower-cased */
	char *local;                   /* owned */
	char *domain;                  /* owned, lower case */
	const char *user;              /* POX credentials: foreign, or NULL */
	const char *password;          /* foreign, or NULL */
	int request_timeout_ms;
	int64_t deadline_ms;           /* mf_now_ms() clock */
	pthread_mutex_t lock;          /* trace and probes */
	pthread_cond_t cond;           /* a probe finished */
	struct ad_probe *probes;       /* owned list */
};

struct ad_src {
	struct ad_ctx *ctx;            /* foreign */
	enum ad_source_id id;
	const char *name;              /* "pox", ... */
	struct buf notes;              /* "; "-separated reasons */
	enum ad_outcome best;
	bool skipped;
	char *skip_reason;             /* owned */
	struct ad_candidate *cands;    /* owned */
	size_t ncands;
};

/* ---- ad-util.c ------------------------------------------------------------ */

extern const char *const ad_source_names[AD_SRC_COUNT];

/* Split and check "local@domain". *local_r and *domain_r malloc'd, domain
 * lower-cased. MF_EINVAL "'x' is not an e-mail address (expected
 * USER@DOMAIN)". */
int ad_email_split(const char *email, char **local_r, char **domain_r, struct mf_error *err);
/* A DNS name of LDH labels with at least one dot (no trailing dot). */
bool ad_host_syntax_ok(const char *host);
/* host equals domain or ends in ".domain" (case-insensitive; a trailing
 * dot on host is ignored). */
bool ad_host_in_domain(const char *host, const char *domain);
/* The registrable domain of host: its last two labels, or three when the
 * last two are a public second-level suffix such as co.uk. malloc'd. */
char *ad_registrable_domain(const char *host);
/* The lower-cased host of an http(s) URL, malloc'd, or NULL. */
char *ad_url_host(const char *url);
bool ad_url_is_https(const char *url);
bool ad_url_is_http(const char *url);
/* Percent-encoding for a query value; XML text escaping. malloc'd. */
char *ad_pct_encode(const char *s);
char *ad_xml_escape(const char *s);
/* Replace %EMAILADDRESS%, %EMAILLOCALPART% and %EMAILDOMAIN%. malloc'd. */
char *ad_placeholders(const char *tmpl, const char *email);
/* Lower-case copy. */
char *ad_lower(const char *s);

/* Milliseconds left of the whole discovery; the timeout for the next
 * request (request timeout capped by what is left; <= 0: deadline passed). */
int ad_left_ms(const struct ad_ctx *ctx);
int ad_timeout_ms(const struct ad_ctx *ctx);
/* One trace line "SOURCE: text" (when tracing), whole under the lock. */
void ad_trace(struct ad_src *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add one reason to the source's notes and raise its outcome. */
void ad_note(struct ad_src *s, enum ad_outcome out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A new zeroed candidate at the end of s->cands, source and trust set. */
struct ad_candidate *ad_cand_add(struct ad_src *s, const char *origin, const char *protocol,
				 enum ad_trust trust);
void ad_cand_clear(struct ad_candidate *c);
/* Mark c as needing confirmation with warning text (replaces a warning). */
void ad_cand_confirm(struct ad_candidate *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A set of strings (visited URLs and addresses). */
struct ad_strset {
	char **v;
	size_t n;
};
/* Add s; false when it was already there. */
bool ad_strset_add(struct ad_strset *set, const char *s);
void ad_strset_free(struct ad_strset *set);

/* ---- ad-fetch.c: HTTP with our redirect rules ----------------------------- */

/* Redirect bookkeeping: the count is per source run; the visited set is
 * per chain (one entry point and the redirects that follow from it). */
struct ad_hop {
	int redirects;
	struct ad_strset visited;      /* URLs (with the address for POX) */
};

struct ad_fetch {
	const char *url;
	const char *body;              /* POST when set */
	const char *content_type;
	bool credentials;              /* send ctx's user and password */
	const char *visit_key;         /* extra part of the visited key, or NULL */
};

/* Request f->url (not followed: 3xx to http, more than AD_MAX_REDIRECTS,
 * loops), following 3xx to https with the same method, body and
 * credentials. Returns 0 with a 200 answer in *resp and its URL in
 * *final_url_r (malloc'd), or -1 after adding a note "URL -> reason" to s
 * (resp then empty). */
int ad_fetch(struct ad_src *s, struct ad_hop *hop, const struct ad_fetch *f,
	     struct http_response *resp, char **final_url_r);
/* Check and count one redirect to url (https only, not visited, at most
 * AD_MAX_REDIRECTS); adds a note and returns -1 when refused. */
int ad_hop_check(struct ad_src *s, struct ad_hop *hop, const char *from, const char *url,
		 const char *visit_key);
/* Start a new chain: forget the visited URLs, keep the count. */
void ad_hop_chain(struct ad_hop *hop);
void ad_hop_free(struct ad_hop *hop);

/* ---- ad-pox.c ---------------------------------------------------------------- */

enum ad_pox_kind {
	AD_POX_SETTINGS,
	AD_POX_REDIRECT_ADDR,
	AD_POX_REDIRECT_URL,
	AD_POX_ERROR,
};

struct ad_pox_imap {
	char *server;
	int port;
	char *security;                /* "tls", "starttls", "none" */
	char *login_name;
};

#define AD_POX_MAX_IMAP 4

struct ad_pox_answer {
	enum ad_pox_kind kind;
	char *redirect;                /* address or URL */
	char *error_code;
	char *error_message;
	char *ews_url;
	char *exchange_server;
	char *rpc_proxy_server;
	char *auth_package;            /* lower case */
	char *owa_url;
	struct ad_pox_imap imap[AD_POX_MAX_IMAP];
	size_t nimap;
	struct buf types;              /* "EXCH, EXPR, WEB, IMAP" as seen */
};

/* The request body for address (MS-OXDSCLI, response schema 2006a). */
char *ad_pox_request(const char *email);
/* Parse a POX response. MF_EPROTO: malformed XML, DTD, or not an
 * Autodiscover response ("not an Autodiscover response (root element X)",
 * "Action redirectAddr without RedirectAddr", ...). */
int ad_pox_parse(const char *data, size_t len, struct ad_pox_answer *a, struct mf_error *err);
void ad_pox_answer_free(struct ad_pox_answer *a);
void ad_source_pox(struct ad_src *s);

/* ---- ad-web.c: Autodiscover v2 and autoconfig --------------------------------- */

/* {"Protocol":"Ews","Url":"https://..."} -> *url_r. MF_ENOTFOUND for an
 * error answer ("InvalidProtocol: ..."), MF_EPROTO for other JSON. */
int ad_v2_parse(const char *data, size_t len, char **url_r, struct mf_error *err);

struct ad_ac_server {
	char *hostname;
	int port;
	char *security;                /* "tls", "starttls", "none" */
	char *auth;                    /* "plain", or NULL when only others */
	char *auth_offered;            /* the autoconfig's methods, ", " */
	char *username;                /* placeholders replaced, or NULL */
};

/* Every incomingServer type="imap" of a config-v1.1 document, in order,
 * placeholders replaced for email. Servers with a bad host name, port or
 * socketType are left out (and named in *skipped_r, malloc'd, or NULL).
 * Returns 0 (maybe with none: *n_r 0), or MF_EPROTO. */
int ad_autoconfig_parse(const char *data, size_t len, const char *email,
			struct ad_ac_server **srv_r, size_t *n_r, char **skipped_r,
			struct mf_error *err);
void ad_ac_servers_free(struct ad_ac_server *srv, size_t n);
/* Fetch cfg_domain's autoconfig (autoconfig.D, then D/.well-known) and add
 * an imap candidate per server. via: NULL for the address's own domain, or
 * the MX host (candidates outside the address's domain then need
 * confirmation). Returns the number of candidates added. */
size_t ad_autoconfig_fetch(struct ad_src *s, const char *cfg_domain, enum ad_trust trust,
			   const char *via);
void ad_source_v2(struct ad_src *s);
void ad_source_autoconfig(struct ad_src *s);

/* ---- ad-dns.c: SRV, MX, providers -------------------------------------------- */

struct ad_provider {
	const char *mx_domain;         /* registrable domain of the MX host */
	const char *name;
	const char *imap_host;         /* port 993, implicit TLS */
	const char *ews_url;           /* or NULL */
};

const struct ad_provider *ad_provider_lookup(const char *mx_domain);
void ad_source_srv(struct ad_src *s);
void ad_source_mx(struct ad_src *s);

/* ---- ad-probe.c: live IMAP checks and the guess ----------------------------- */

/* Check an IMAP server live: resolve, connect, TLS or STARTTLS (verified),
 * greeting, CAPABILITY; no login. One check per host, port and security in
 * a run (others wait for it). *detail_r malloc'd; *code_r (may be NULL)
 * the MF_E* code of a failure, 0 when it passed. */
bool ad_probe_imap(struct ad_src *s, const char *host, int port, const char *security,
		   char **detail_r, int *code_r);
/* Fill c->verified and c->verify_detail for an IMAP candidate (when live
 * checks are on); a candidate without TLS also needs confirmation. */
void ad_verify(struct ad_src *s, struct ad_candidate *c);
void ad_probes_free(struct ad_ctx *ctx);
void ad_source_guess(struct ad_src *s);

/* ---- ad-result.c --------------------------------------------------------------- */

/* Compute every candidate's rank, sort res->cands by it (stable) and set
 * res->chosen: the best candidate of the wanted protocol that is usable
 * (IMAP: verified, unless verify is false) and, unless allow_untrusted,
 * does not need confirmation. */
void ad_rank_and_choose(struct ad_result *res, enum ad_protocol p, bool allow_untrusted,
			bool verify);

#endif
