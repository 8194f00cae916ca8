/* conntest-json.c: the result document of a connection test (conntest.h).
 *
 * Built from the finished run (conntest-private.h); Message never holds a
 * secret, only the failing stage's cause or who logged in where.
 */
#include "endpoint/conntest-private.h"

#include <time.h>

#include "util/mftime.h"
#include "util/xmalloc.h"

static const struct {
	const char *name;
	uint32_t cap;
} ct_migration_caps[] = {
	{ "UIDPLUS", IMAP_CAP_UIDPLUS },
	{ "CONDSTORE", IMAP_CAP_CONDSTORE },
	{ "QRESYNC", IMAP_CAP_QRESYNC },
	{ "SPECIAL-USE", IMAP_CAP_SPECIAL_USE },
	{ "MOVE", IMAP_CAP_MOVE },
	{ "APPENDLIMIT", IMAP_CAP_APPENDLIMIT },
	{ "LITERAL+", IMAP_CAP_LITERALPLUS },
	{ "MULTIAPPEND", IMAP_CAP_MULTIAPPEND },
	{ "COMPRESS", IMAP_CAP_COMPRESS },
};

static json_t *ct_str_or_null(const char *s)
{
	return ct_set(s) ? json_string(s) : json_null();
}

static json_t *ct_caps_array(const char *text)
{
	json_t *arr = json_array();
	const char *p = text;

	while (*p != '\0') {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (n > 0) {
			char *word = xstrndup(p, n);

			json_array_append_new(arr, json_string(word));
			free(word);
		}
		p += n;
	}
	return arr;
}

static const char *ct_status_name(enum ct_status st)
{
	switch (st) {
	case CT_OK: return "ok";
	case CT_FAILED: return "failed";
	default: return "skipped";
	}
}

static json_t *ct_stages_json(struct ct_run *r)
{
	json_t *arr = json_array();

	for (int s = 0; s < CONNTEST_STAGE_COUNT; s++) {
		struct ct_stage *st = &r->stage[s];
		double ms = (double)(int64_t)(st->ms * 100 + 0.5) / 100;
		char *detail = NULL;

		if (st->status == CT_PENDING) {
			detail = xasprintf("not run: the %s stage failed",
					   conntest_stage_name((enum conntest_stage)r->failed));
			st->status = CT_SKIPPED;
			ms = 0;
		}
		json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:s}",
						     "Stage", conntest_stage_name((enum conntest_stage)s),
						     "Status", ct_status_name(st->status),
						     "ElapsedMs", ms,
						     "Detail", detail != NULL ? detail :
						     st->detail != NULL ? st->detail : ""));
		free(detail);
	}
	return arr;
}

static char *ct_message(const struct ct_run *r)
{
	const char *sec = ct_streq(r->security, "tls") ? "TLS" :
			  ct_streq(r->security, "starttls") ? "STARTTLS" : "no TLS";

	if (r->failed >= 0)
		return xstrdup(r->err.msg);
	if (r->preauth)
		return xasprintf("Connected to %s (%s), pre-authenticated by the server and "
				 "opened INBOX.", r->peer, sec);
	if (r->plan.mode == IMAP_LOGIN_NONE)
		return xasprintf("Connected to %s (%s); the login was not tested because no "
				 "credentials are known (set --admin-user, or give "
				 "--test-mailbox USER with a password).", r->peer, sec);
	if (r->stage[CONNTEST_SELECT].status != CT_OK)
		return xasprintf("Connected to %s (%s) and logged in as %s (no INBOX of its "
				 "own to open).", r->peer, sec, r->login_as);
	return xasprintf("Connected to %s (%s), logged in as %s and opened INBOX.", r->peer,
			 sec, r->login_as);
}

json_t *conntest_json_result(struct ct_run *r)
{
	const char *caps_text = r->client != NULL ? imap_client_caps_text(r->client) : "";
	uint32_t caps = r->client != NULL ? imap_client_caps(r->client) : 0;
	uint64_t limit = r->client != NULL ? imap_client_appendlimit(r->client) : 0;
	json_t *mcaps = json_object();
	char when[32];
	char *msg;
	json_t *doc;

	for (size_t i = 0; i < sizeof(ct_migration_caps) / sizeof(ct_migration_caps[0]); i++)
		json_object_set_new(mcaps, ct_migration_caps[i].name,
				    json_boolean(caps & ct_migration_caps[i].cap));
	mf_time_rfc3339(time(NULL), when);
	msg = ct_message(r);
	doc = json_object();
	json_object_set_new(doc, "Result", json_string(r->failed < 0 ? "Success" : "Failed"));
	json_object_set_new(doc, "Message", json_string(msg));
	json_object_set_new(doc, "FailedStage", r->failed < 0 ? json_null() :
			    json_string(conntest_stage_name((enum conntest_stage)r->failed)));
	json_object_set_new(doc, "Server", ct_str_or_null(r->ep->server));
	json_object_set_new(doc, "Port", json_integer(r->port));
	json_object_set_new(doc, "Security", json_string(r->security));
	json_object_set_new(doc, "LoginAs", ct_str_or_null(r->login_as));
	json_object_set_new(doc, "Stages", ct_stages_json(r));
	json_object_set_new(doc, "Greeting", r->greeted ?
			    json_string(imap_client_greeting(r->client)) : json_null());
	json_object_set_new(doc, "ServerId", r->client != NULL ?
			    ct_str_or_null(imap_client_server_id(r->client)) : json_null());
	json_object_set_new(doc, "TLS", ct_str_or_null(r->tls_desc));
	json_object_set_new(doc, "Certificate", ct_str_or_null(r->tls_cert));
	json_object_set_new(doc, "Capabilities", ct_caps_array(caps_text));
	json_object_set_new(doc, "MigrationCapabilities", mcaps);
	json_object_set_new(doc, "CapabilitiesAfterLogin",
			    json_boolean(r->stage[CONNTEST_LOGIN].status == CT_OK));
	json_object_set_new(doc, "AppendLimit", limit > 0 ? json_integer((json_int_t)limit) :
			    json_null());
	json_object_set_new(doc, "Warnings", json_incref(r->warnings));
	json_object_set_new(doc, "TestedAt", json_string(when));
	free(msg);
	return doc;
}

/* Exchange endpoints are stored now; their test (Autodiscover, EWS or MRS)
 * comes later. */
json_t *conntest_json_unsupported(const struct store_endpoint *ep)
{
	static const char *const nulls[] = {
		"FailedStage", "Security", "LoginAs", "Greeting", "ServerId", "TLS",
		"Certificate", "AppendLimit",
	};
	json_t *doc = json_object();
	char when[32];
	char *msg;

	msg = xasprintf("the connection test of %s endpoints is not yet supported; "
			"store the endpoint with --skip-verification", ep->type);
	mf_time_rfc3339(time(NULL), when);
	json_object_set_new(doc, "Result", json_string("Failed"));
	json_object_set_new(doc, "Message", json_string(msg));
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		json_object_set_new(doc, nulls[i], json_null());
	json_object_set_new(doc, "Server", ct_str_or_null(ep->server));
	json_object_set_new(doc, "Port", json_integer(ep->port > 0 ? ep->port : 443));
	json_object_set_new(doc, "Stages", json_array());
	json_object_set_new(doc, "Capabilities", json_array());
	json_object_set_new(doc, "MigrationCapabilities", json_object());
	json_object_set_new(doc, "Warnings", json_array());
	json_object_set_new(doc, "TestedAt", json_string(when));
	free(msg);
	return doc;
}

