/* conntest.h: the staged connection test of an IMAP endpoint.
 *
 * Stages, in order: dns, connect, tls (implicit TLS only), greeting,
 * starttls (STARTTLS only), capability, login (when credentials are known),
 * select (SELECT INBOX read-only, when logged in). Each stage is timed; the
 * first failure stops the test and is named with its exact cause.
 *
 * The result is a JSON document (jansson) so the CLI, the REST API and the
 * store share one representation:
 * {
 *   "Result": "Success" | "Failed",
 *   "Message": "one line",
 *   "FailedStage": null | "dns" | ... ,
 *   "Server": "...", "Port": 993, "Security": "tls",
 *   "LoginAs": null | "alice" | "alice (as admin)",
 *   "Stages": [ {"Stage": "dns", "Status": "ok"|"failed"|"skipped",
 *                "ElapsedMs": 1.25, "Detail": "..."} ... ],
 *   "Greeting": "...", "ServerId": "name=Dovecot; ..." | null,
 *   "TLS": "TLSv1.3 ..." | null, "Certificate": "..." | null,
 *   "Capabilities": ["IMAP4rev1", ...],
 *   "MigrationCapabilities": {"UIDPLUS": true, "CONDSTORE": false, ...},
 *   "CapabilitiesAfterLogin": true | false,
 *   "Warnings": ["..."],
 *   "TestedAt": "2026-11-26T20:34:18Z"
 * }
 */
#ifndef MF_CONNTEST_H
#define MF_CONNTEST_H

#include <stdio.h>

#include <jansson.h>

#include "store/store.h"
#include "util/mf-error.h"

enum conntest_stage {
	CONNTEST_DNS = 0,
	CONNTEST_CONNECT,
	CONNTEST_TLS,
	CONNTEST_GREETING,
	CONNTEST_STARTTLS,
	CONNTEST_CAPABILITY,
	CONNTEST_LOGIN,
	CONNTEST_SELECT,
	CONNTEST_STAGE_COUNT
};

/* Process exit code for a failure at each stage (documented in
 * docs/exit-codes.md): 10 + stage. */
#define CONNTEST_EXIT_BASE 10

const char *conntest_stage_name(enum conntest_stage s);

struct conntest_opts {
	/* Who to log in as. When user is set and password is set, log in as
	 * user. When user is set and password is NULL, impersonate user with
	 * the endpoint's admin credentials. When user is NULL, log in as the
	 * admin if the endpoint has one; otherwise no login stage. */
	const char *user;
	const char *password;        /* plaintext, not kept */
	const char *admin_password;  /* plaintext, opened by the caller */
	int stage_timeout_ms;        /* default 10000 */
	FILE *trace;                 /* protocol trace, redacted; may be NULL */
};

/* *failed_stage_r for an endpoint type whose test is not implemented yet
 * (exchange-remote, outlook-anywhere): the result is "Failed" with
 * FailedStage null, empty Stages, and a Message that points to
 * --skip-verification. The CLI maps it to exit code 20. */
#define CONNTEST_UNSUPPORTED (-2)

/* Flags for json_dumps() of a result: ElapsedMs values are rounded to two
 * decimals, and jansson's default precision (17 digits) would print 0.07
 * as 0.070000000000000007. */
#define CONNTEST_JSON_FLAGS JSON_REAL_PRECISION(15)

/* Run the test. Returns a new JSON object (caller decrefs) and sets
 * *failed_stage_r to the failing stage (enum conntest_stage), -1 on success,
 * or CONNTEST_UNSUPPORTED. opts may be NULL (no login, default timeout).
 * Stages that did not run are listed as "skipped" with ElapsedMs 0, so
 * Stages always has all 8 entries (except for CONNTEST_UNSUPPORTED).
 * LoginAs is the login tried: "alice", or "alice (as admin)" when the
 * administrator "admin" impersonates alice (SASL authorization or master user).
 * "AppendLimit" is the APPENDLIMIT=n value or null. Message never holds a
 * secret; on success it reads "Connected to 127.0.0.1:143 (STARTTLS),
 * logged in as alice and opened INBOX.", on failure it is the failing
 * stage's cause ("connection refused by 127.0.0.1:1"). */
json_t *conntest_run(const struct store_endpoint *ep, const struct conntest_opts *opts,
		     int *failed_stage_r);

#endif
