/* conntest-private.h: the state of one connection test, shared by the
 * stages (conntest.c) and the result document (conntest-json.c). */
#ifndef MF_CONNTEST_PRIVATE_H
#define MF_CONNTEST_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "endpoint/conntest.h"
#include "net/net.h"
#include "proto/imap/imap-client.h"
#include "proto/imap/imap-session.h"

enum ct_status { CT_PENDING = 0, CT_OK, CT_FAILED, CT_SKIPPED };

struct ct_stage {
	enum ct_status status;
	double ms;
	char *detail; /* owned */
};

struct ct_run {
	const struct store_endpoint *ep;   /* foreign */
	const struct conntest_opts *opts;  /* foreign */
	const char *security;              /* "none", "starttls" or "tls" */
	int port;
	int timeout_ms;
	struct ct_stage stage[CONNTEST_STAGE_COUNT];
	int failed;                        /* failing stage, -1 while none */
	struct mf_error err;               /* cause of the failure */
	int64_t t0_ns;                     /* start of the running stage */
	struct net_addrs addrs;
	struct net_conn *conn;             /* owned until the client takes it */
	struct imap_client *client;        /* owned */
	char peer[80];
	char *tls_desc;                    /* owned; NULL without TLS */
	char *tls_cert;                    /* owned */
	bool tls;
	bool greeted;
	bool preauth;
	bool authenticated;
	/* The login plan (imap-session.h); mode IMAP_LOGIN_NONE until the
	 * capability stage passed. Passwords point into opts (never copied). */
	struct imap_session_plan plan;
	char *login_as;                    /* owned; LoginAs */
	char *login_detail;                /* owned */
	json_t *warnings;                  /* owned */
};

static inline bool ct_streq(const char *a, const char *b)
{
	return a != NULL && strcmp(a, b) == 0;
}

static inline bool ct_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* The result document of a finished run (conntest.h). Stages that never
 * ran are marked skipped in r. Returns a new reference. */
json_t *conntest_json_result(struct ct_run *r);

/* The result for an endpoint type whose test does not exist yet. */
json_t *conntest_json_unsupported(const struct store_endpoint *ep);

#endif
