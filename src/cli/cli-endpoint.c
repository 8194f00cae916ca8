/* cli-endpoint.c: the endpoint commands (new, list, show, set, remove,
 * test). Cmdlet lines reach these too, translated by cli-cmdlet.c.
 *
 * Plaintext passwords live only in local variables between the moment they
 * are read (or opened from the store) and the moment they are sealed or
 * the test has used them; they are released with mf_secret_free().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli-args.h"
#include "cli-cmd.h"
#include "cli-output.h"
#include "cli-password.h"
#include "endpoint/conntest.h"
#include "endpoint/endpoint.h"
#include "store/store.h"
#include "util/log.h"
#include "util/xmalloc.h"

/* Name given to the endpoint of an ad-hoc test (never stored). */
#define CLI_ADHOC_NAME "ad-hoc"

/* Stands in for the server --autodiscover is to find while the settings
 * on the line are checked (RFC 6761: .invalid never resolves). */
#define CLI_DISCOVER_PLACEHOLDER "autodiscover.invalid"

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL ? xstrdup(v) : NULL;
}

/* The port endpoint_apply_defaults() would choose for type and security. */
static int default_port(const char *type, const char *security)
{
	struct store_endpoint tmp = { 0 };
	int port;

	set_str(&tmp.type, type);
	set_str(&tmp.security, security);
	endpoint_apply_defaults(&tmp);
	port = tmp.port;
	store_endpoint_clear(&tmp);
	return port;
}

/* Copy the settings given on the line into ep. A port that only followed
 * the old security (its default) follows the new one. An empty admin user
 * removes the administrator and its password. */
static void apply_settings(struct store_endpoint *ep, const struct cli_settings *s)
{
	if (s->type != NULL)
		set_str(&ep->type, s->type);
	if (s->server != NULL)
		set_str(&ep->server, s->server);
	if (s->security != NULL) {
		if (s->port == 0 && ep->port != 0 &&
		    ep->port == default_port(ep->type, ep->security))
			ep->port = 0;
		set_str(&ep->security, s->security);
	}
	if (s->port != 0)
		ep->port = s->port;
	if (s->auth != NULL)
		set_str(&ep->auth, s->auth);
	if (s->admin_user != NULL && s->admin_user[0] == '\0') {
		set_str(&ep->admin_user, NULL);
		set_str(&ep->admin_secret, NULL);
	} else if (s->admin_user != NULL) {
		set_str(&ep->admin_user, s->admin_user);
	}
	if (s->impersonation != NULL)
		set_str(&ep->impersonation, s->impersonation);
	if (s->master_separator != NULL)
		set_str(&ep->master_separator, s->master_separator);
	if (s->accept_untrusted >= 0)
		ep->accept_untrusted = s->accept_untrusted != 0;
	if (s->max_migrations != 0)
		ep->max_concurrent_migrations = s->max_migrations;
	if (s->max_incremental != 0)
		ep->max_concurrent_incremental_syncs = s->max_incremental;
	if (s->exchange_server != NULL)
		set_str(&ep->exchange_server, s->exchange_server);
	if (s->rpc_proxy_server != NULL)
		set_str(&ep->rpc_proxy_server, s->rpc_proxy_server);
	if (s->email_address != NULL)
		set_str(&ep->email_address, s->email_address);
	if (s->mailbox_permission != NULL)
		set_str(&ep->mailbox_permission, s->mailbox_permission);
}

/* Defaults, then validation; a bad setting is a usage error. */
static int complete_endpoint(const struct cli_opts *o, struct store_endpoint *ep)
{
	struct mf_error err = { 0 };

	endpoint_apply_defaults(ep);
	if (endpoint_validate(ep, &err) < 0)
		return cli_usage_error(o, "%s", err.msg);
	return 0;
}

/* endpoint new --autodiscover: check what the line gives before the
 * discovery runs, with a stand-in for the server it is to find, so that a
 * bad setting is a usage error before anything goes on the network. The
 * real check follows the discovery. Without --type (the discovery chooses
 * it) only the name is checked here. */
static int precheck_discovery(const struct cli_opts *o)
{
	struct store_endpoint tmp = { 0 };
	int rc;

	set_str(&tmp.name, o->name);
	apply_settings(&tmp, &o->set);
	if (tmp.type == NULL) {
		struct mf_error err = { 0 };

		rc = endpoint_validate_name(tmp.name, &err) < 0 ? cli_usage_error(o, "%s", err.msg)
								 : 0;
		store_endpoint_clear(&tmp);
		return rc;
	}
	if (tmp.server == NULL && tmp.rpc_proxy_server == NULL)
		set_str(&tmp.server, CLI_DISCOVER_PLACEHOLDER);
	rc = complete_endpoint(o, &tmp);
	store_endpoint_clear(&tmp);
	return rc;
}

static int password_failed(const struct cli_opts *o, const struct mf_error *err)
{
	if (err->code != MF_EINVAL) {
		cli_error("%s", err->msg);
		return CLI_EXIT_FAIL;
	}
	return cli_usage_error(o, "%s", err->msg);
}

static int stray_password(const struct cli_opts *o)
{
	return cli_usage_error(o, "%s is used only with %s or %s",
			       o->password_stdin ? cli_opt_name(o, "--password-stdin",
								"-PasswordStdin")
						 : cli_opt_name(o, "--password-file",
								"-PasswordFile"),
			       cli_opt_name(o, "--admin-user", "-Credentials"),
			       cli_opt_name(o, "--test-mailbox", "-TestMailbox"));
}

/* Open the stored administrator password, if any, into *plain_r. */
static int open_admin_secret(struct store *st, const struct store_endpoint *ep, char **plain_r)
{
	struct mf_error err = { 0 };

	*plain_r = NULL;
	if (ep->admin_user == NULL || ep->admin_secret == NULL || ep->admin_secret[0] == '\0')
		return 0;
	if (store_secret_open(st, ep->admin_secret, plain_r, &err) < 0) {
		cli_error("cannot open the stored password of %s: %s", ep->name, err.msg);
		return CLI_EXIT_STATE;
	}
	return 0;
}

static int test_exit_code(int failed_stage)
{
	if (failed_stage == -1)
		return CLI_EXIT_OK;
	if (failed_stage == -2)
		return CLI_EXIT_UNSUPPORTED;
	if (failed_stage >= 0 && failed_stage < CONNTEST_STAGE_COUNT)
		return CONNTEST_EXIT_BASE + failed_stage;
	return CLI_EXIT_FAIL;
}

/* Run the connection test of ep. Returns the document (or NULL when the
 * test could not run) and the exit code for its outcome in *exit_r. */
static json_t *run_test(const struct cli_opts *o, const struct store_endpoint *ep,
			const char *admin_pw, const char *mailbox_pw, int *exit_r)
{
	struct conntest_opts co = {
		.user = o->test_mailbox,
		.password = mailbox_pw,
		.admin_password = admin_pw,
		.stage_timeout_ms = o->timeout_s > 0 ? o->timeout_s * 1000 : 10000,
		.trace = o->trace ? stderr : NULL,
	};
	int failed = -1;
	json_t *doc = conntest_run(ep, &co, &failed);

	if (doc == NULL) {
		cli_error("the connection test could not run");
		*exit_r = CLI_EXIT_FAIL;
		return NULL;
	}
	*exit_r = test_exit_code(failed);
	return doc;
}

/* Print a failed test (stdout) and say why on stderr. */
static void report_failed_test(const struct cli_opts *o, const json_t *doc, int code,
			       const char *nothing)
{
	const char *msg = json_string_value(json_object_get(doc, "Message"));
	const char *stage = json_string_value(json_object_get(doc, "FailedStage"));

	if (o->json)
		cli_print_json(stdout, doc);
	else
		cli_print_test(stdout, doc);
	if (msg == NULL)
		msg = "";
	if (code == CLI_EXIT_UNSUPPORTED)
		cli_error("%s", msg);
	else
		cli_error("connection test failed at %s: %s", stage != NULL ? stage : "?", msg);
	if (nothing != NULL)
		cli_error("%s (%s skips the test)", nothing,
			  cli_opt_name(o, "--skip-verification", "-SkipVerification"));
}

/* Store a test result with the endpoint. */
static int save_test(struct store *st, int64_t id, const json_t *doc)
{
	struct mf_error err = { 0 };
	const char *result = json_string_value(json_object_get(doc, "Result"));
	char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	int rc = store_endpoint_set_test(st, id, result != NULL ? result : "Failed", text,
					 (int64_t)time(NULL), &err);

	free(text);
	if (rc < 0)
		cli_error("cannot store the test result: %s", err.msg);
	return rc;
}

static int get_endpoint(struct store *st, const char *name, struct store_endpoint *ep)
{
	struct mf_error err = { 0 };
	int rc = store_endpoint_get(st, name, ep, &err);

	if (rc == MF_ENOTFOUND) {
		cli_error("no endpoint named '%s'", name);
		return CLI_EXIT_NOTFOUND;
	}
	if (rc < 0) {
		cli_error("%s", err.msg);
		return cli_exit_for(rc);
	}
	return 0;
}

/* Print the stored endpoint called name (after new / set), and the test.
 * disc: the discovery document of `endpoint new --autodiscover` (NULL
 * otherwise), added to the JSON as "Autodiscover". */
static int print_saved(const struct cli_opts *o, struct store *st, const char *name,
		       const json_t *doc, json_t *disc)
{
	struct store_endpoint ep = { 0 };
	int rc = get_endpoint(st, name, &ep);

	if (rc != 0)
		return rc;
	if (o->json) {
		json_t *j = cli_endpoint_json(&ep);

		if (disc != NULL)
			json_object_set(j, "Autodiscover", disc);
		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		cli_print_endpoint(stdout, &ep);
		if (doc != NULL) {
			fputc('\n', stdout);
			cli_print_test(stdout, doc);
		}
	}
	store_endpoint_clear(&ep);
	return CLI_EXIT_OK;
}

static int seal_into(struct store *st, char **plain, struct store_endpoint *ep)
{
	struct mf_error err = { 0 };
	char *sealed = NULL;
	int rc = store_secret_seal(st, *plain, &sealed, &err);

	mf_secret_free(plain);
	if (rc < 0) {
		cli_error("cannot seal the password: %s", err.msg);
		return CLI_EXIT_STATE;
	}
	free(ep->admin_secret);
	ep->admin_secret = sealed;
	return 0;
}

int cli_endpoint_new(const struct cli_opts *o)
{
	struct store_endpoint ep = { 0 }, other = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	char *admin_pw = NULL, *mailbox_pw = NULL;
	json_t *doc = NULL, *disc = NULL;
	int rc;

	set_str(&ep.name, o->name);
	apply_settings(&ep, &o->set);
	rc = o->autodiscover ? precheck_discovery(o) : complete_endpoint(o, &ep);
	if (rc == 0)
		rc = cli_store_open(o, &st);
	if (rc != 0)
		goto out;

	rc = store_endpoint_get(st, o->name, &other, &err);
	if (rc == 0) {
		cli_error("an endpoint named '%s' already exists", o->name);
		rc = CLI_EXIT_CONFLICT;
		goto out;
	} else if (rc != MF_ENOTFOUND) {
		cli_error("%s", err.msg);
		rc = cli_exit_for(rc);
		goto out;
	}

	rc = 0;
	if (ep.admin_user != NULL) {
		if (cli_password_get(o, cli_opt_name(o, "--admin-user", "-Credentials"),
				     ep.admin_user, true, &admin_pw, &err) < 0)
			rc = password_failed(o, &err);
	} else if (o->test_mailbox != NULL && !o->skip_verification) {
		if (cli_password_get(o, cli_opt_name(o, "--test-mailbox", "-TestMailbox"),
				     o->test_mailbox, true, &mailbox_pw, &err) < 0)
			rc = password_failed(o, &err);
	} else if (cli_password_given(o)) {
		rc = stray_password(o);
	}
	if (rc != 0)
		goto out;

	if (o->autodiscover) {
		/* the discovery fills what the line left unset; then the same
		 * path as without it */
		rc = cli_autodiscover_endpoint(o, &ep, admin_pw, &disc);
		if (rc == 0)
			rc = complete_endpoint(o, &ep);
		if (rc != 0)
			goto out;
	}

	if (!o->skip_verification) {
		doc = run_test(o, &ep, admin_pw, mailbox_pw, &rc);
		mf_secret_free(&mailbox_pw);
		if (doc == NULL)
			goto out;
		if (rc != 0) {
			report_failed_test(o, doc, rc, "nothing was stored");
			goto out;
		}
	} else if (o->test_mailbox != NULL) {
		log_warn("--test-mailbox is not used with --skip-verification");
	}

	if (admin_pw != NULL && (rc = seal_into(st, &admin_pw, &ep)) != 0)
		goto out;
	rc = store_endpoint_insert(st, &ep, &err);
	if (rc < 0) {
		if (rc == MF_EEXIST)
			cli_error("an endpoint named '%s' already exists", o->name);
		else
			cli_error("%s", err.msg);
		rc = cli_exit_for(rc);
		goto out;
	}
	if (doc != NULL && save_test(st, ep.id, doc) < 0) {
		rc = CLI_EXIT_STATE;
		goto out;
	}
	rc = print_saved(o, st, o->name, doc, disc);
out:
	mf_secret_free(&admin_pw);
	mf_secret_free(&mailbox_pw);
	json_decref(doc);
	json_decref(disc);
	store_endpoint_clear(&other);
	store_endpoint_clear(&ep);
	store_close(&st);
	return rc;
}

int cli_endpoint_set(const struct cli_opts *o)
{
	struct store_endpoint ep = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	char *admin_pw = NULL, *stored_pw = NULL, *mailbox_pw = NULL, *old_admin = NULL;
	const char *new_admin = o->set.admin_user;
	json_t *doc = NULL;
	int rc;

	rc = cli_store_open(o, &st);
	if (rc == 0)
		rc = get_endpoint(st, o->name, &ep);
	if (rc != 0)
		goto out;
	set_str(&old_admin, ep.admin_user);
	apply_settings(&ep, &o->set);
	rc = complete_endpoint(o, &ep);
	if (rc != 0)
		goto out;

	if (new_admin != NULL && new_admin[0] != '\0') {
		/* a new administrator needs its password; the same one may get
		 * a new password */
		bool changed = old_admin == NULL || strcmp(old_admin, new_admin) != 0;

		if (cli_password_get(o, cli_opt_name(o, "--admin-user", "-Credentials"),
				     new_admin, changed, &admin_pw, &err) < 0)
			rc = password_failed(o, &err);
	} else if (o->test_mailbox != NULL) {
		bool needed = ep.admin_user == NULL && !o->skip_verification;

		if (cli_password_get(o, cli_opt_name(o, "--test-mailbox", "-TestMailbox"),
				     o->test_mailbox, needed, &mailbox_pw, &err) < 0)
			rc = password_failed(o, &err);
	} else if (cli_password_given(o)) {
		if (ep.admin_user == NULL)
			rc = cli_usage_error(o, "%s: the endpoint has no administrator; give %s",
					     o->password_stdin
						     ? cli_opt_name(o, "--password-stdin",
								    "-PasswordStdin")
						     : cli_opt_name(o, "--password-file",
								    "-PasswordFile"),
					     cli_opt_name(o, "--admin-user", "-Credentials"));
		else if (cli_password_get(o, "--admin-user", ep.admin_user, false, &admin_pw,
					  &err) < 0)
			rc = password_failed(o, &err);
	}
	if (rc != 0)
		goto out;

	if (!o->skip_verification) {
		if (admin_pw == NULL && (rc = open_admin_secret(st, &ep, &stored_pw)) != 0)
			goto out;
		doc = run_test(o, &ep, admin_pw != NULL ? admin_pw : stored_pw, mailbox_pw, &rc);
		mf_secret_free(&stored_pw);
		mf_secret_free(&mailbox_pw);
		if (doc == NULL)
			goto out;
		if (rc != 0) {
			report_failed_test(o, doc, rc, "nothing was changed");
			goto out;
		}
	}

	if (admin_pw != NULL && (rc = seal_into(st, &admin_pw, &ep)) != 0)
		goto out;
	rc = store_endpoint_update(st, &ep, &err);
	if (rc < 0) {
		cli_error("%s", err.msg);
		rc = cli_exit_for(rc);
		goto out;
	}
	if (doc != NULL && save_test(st, ep.id, doc) < 0) {
		rc = CLI_EXIT_STATE;
		goto out;
	}
	rc = print_saved(o, st, o->name, doc, NULL);
out:
	mf_secret_free(&admin_pw);
	mf_secret_free(&stored_pw);
	mf_secret_free(&mailbox_pw);
	free(old_admin);
	json_decref(doc);
	store_endpoint_clear(&ep);
	store_close(&st);
	return rc;
}

int cli_endpoint_list(const struct cli_opts *o)
{
	struct store_endpoint *eps = NULL;
	struct mf_error err = { 0 };
	struct store *st = NULL;
	size_t n = 0;
	int rc = cli_store_open(o, &st);

	if (rc != 0)
		return rc;
	rc = store_endpoint_list(st, &eps, &n, &err);
	if (rc < 0) {
		cli_error("%s", err.msg);
		store_close(&st);
		return cli_exit_for(rc);
	}
	if (o->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, cli_endpoint_json(&eps[i]));
		cli_print_json(stdout, arr);
		json_decref(arr);
	} else {
		cli_print_endpoint_table(stdout, eps, n);
	}
	store_endpoint_list_free(&eps, n);
	store_close(&st);
	return CLI_EXIT_OK;
}

int cli_endpoint_show(const struct cli_opts *o)
{
	struct store *st = NULL;
	int rc = cli_store_open(o, &st);

	if (rc == 0)
		rc = print_saved(o, st, o->name, NULL, NULL);
	store_close(&st);
	return rc;
}

int cli_endpoint_remove(const struct cli_opts *o)
{
	struct mf_error err = { 0 };
	struct store *st = NULL;
	int rc = cli_store_open(o, &st);

	if (rc != 0)
		return rc;
	rc = store_endpoint_delete(st, o->name, &err);
	store_close(&st);
	if (rc == MF_ENOTFOUND) {
		cli_error("no endpoint named '%s'", o->name);
		return CLI_EXIT_NOTFOUND;
	}
	if (rc < 0) {
		cli_error("%s", err.msg);
		return cli_exit_for(rc);
	}
	if (o->json) {
		json_t *j = json_pack("{s:s, s:b}", "Name", o->name, "Removed", 1);

		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		printf("Removed endpoint '%s'.\n", o->name);
	}
	return CLI_EXIT_OK;
}

/* endpoint test NAME: the stored settings and administrator password. */
static int test_stored(const struct cli_opts *o)
{
	struct store_endpoint ep = { 0 };
	struct mf_error err = { 0 };
	struct store *st = NULL;
	char *admin_pw = NULL, *mailbox_pw = NULL;
	json_t *doc = NULL;
	int rc = cli_store_open(o, &st);

	if (rc == 0)
		rc = get_endpoint(st, o->name, &ep);
	if (rc != 0)
		goto out;
	if (o->test_mailbox != NULL) {
		/* optional: without it the administrator impersonates */
		if (cli_password_get(o, cli_opt_name(o, "--test-mailbox", "-TestMailbox"),
				     o->test_mailbox, ep.admin_user == NULL, &mailbox_pw, &err) < 0) {
			rc = password_failed(o, &err);
			goto out;
		}
	} else if (cli_password_given(o)) {
		rc = cli_usage_error(o, "%s is used only with %s",
				     o->password_stdin ? cli_opt_name(o, "--password-stdin",
								      "-PasswordStdin")
						       : cli_opt_name(o, "--password-file",
								      "-PasswordFile"),
				     cli_opt_name(o, "--test-mailbox", "-TestMailbox"));
		goto out;
	}
	if ((rc = open_admin_secret(st, &ep, &admin_pw)) != 0)
		goto out;
	doc = run_test(o, &ep, admin_pw, mailbox_pw, &rc);
	mf_secret_free(&admin_pw);
	mf_secret_free(&mailbox_pw);
	if (doc == NULL)
		goto out;
	save_test(st, ep.id, doc); /* a failure to store is reported, not fatal */
	if (rc != 0) {
		report_failed_test(o, doc, rc, NULL);
	} else if (o->json) {
		cli_print_json(stdout, doc);
	} else {
		cli_print_test(stdout, doc);
	}
out:
	mf_secret_free(&admin_pw);
	mf_secret_free(&mailbox_pw);
	json_decref(doc);
	store_endpoint_clear(&ep);
	store_close(&st);
	return rc;
}

/* endpoint test --server HOST ...: nothing is read from or written to the
 * store. */
static int test_adhoc(const struct cli_opts *o)
{
	struct store_endpoint ep = { 0 };
	struct mf_error err = { 0 };
	char *admin_pw = NULL, *mailbox_pw = NULL;
	json_t *doc = NULL;
	int rc;

	set_str(&ep.name, CLI_ADHOC_NAME);
	set_str(&ep.type, "imap");
	apply_settings(&ep, &o->set);
	rc = complete_endpoint(o, &ep);
	if (rc != 0)
		goto out;
	if (ep.admin_user != NULL) {
		if (cli_password_get(o, cli_opt_name(o, "--admin-user", "-Credentials"),
				     ep.admin_user, true, &admin_pw, &err) < 0)
			rc = password_failed(o, &err);
	} else if (o->test_mailbox != NULL) {
		if (cli_password_get(o, cli_opt_name(o, "--test-mailbox", "-TestMailbox"),
				     o->test_mailbox, true, &mailbox_pw, &err) < 0)
			rc = password_failed(o, &err);
	} else if (cli_password_given(o)) {
		rc = stray_password(o);
	}
	if (rc != 0)
		goto out;
	doc = run_test(o, &ep, admin_pw, mailbox_pw, &rc);
	mf_secret_free(&admin_pw);
	mf_secret_free(&mailbox_pw);
	if (doc == NULL)
		goto out;
	if (rc != 0)
		report_failed_test(o, doc, rc, NULL);
	else if (o->json)
		cli_print_json(stdout, doc);
	else
		cli_print_test(stdout, doc);
out:
	mf_secret_free(&admin_pw);
	mf_secret_free(&mailbox_pw);
	json_decref(doc);
	store_endpoint_clear(&ep);
	return rc;
}

int cli_endpoint_test(const struct cli_opts *o)
{
	return o->name != NULL ? test_stored(o) : test_adhoc(o);
}
