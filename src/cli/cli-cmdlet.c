/* cli-cmdlet.c: Exchange cmdlet names, translated into noun-verb lines.
 *
 * PowerShell rules kept here: cmdlet and parameter names are
 * case-insensitive; a parameter may be shortened to a unique prefix;
 * switches are written -Name, -Name:$true or -Name:$false; a value may
 * follow as the next word or after a colon (-Port:993); every cmdlet
 * but New- and Test- takes the Identity by position; a list parameter
 * (-ExcludeFolders A,B) is split at its commas. The result is a vector
 * such as "endpoint new --type=imap --server=h -- NAME", parsed by
 * cli-args.c.
 */
#include "cli-args.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

enum cmdlet_id {
	CL_NEW,
	CL_GET,
	CL_SET,
	CL_REMOVE,
	CL_TEST,
	CL_BATCH_NEW,
	CL_BATCH_START,
	CL_BATCH_STOP,
	CL_BATCH_REMOVE,
	CL_BATCH_GET,
	CL_USER_GET,
	CL_USER_STATS,
	CL_BATCH_COMPLETE,
	CL_BATCH_SET,
	CL_COUNT
};

#define CL(x) (1u << (x))
#define CL_ALL ((1u << CL_COUNT) - 1)
#define CL_CFG (CL(CL_NEW) | CL(CL_SET) | CL(CL_TEST))
#define CL_IDENTITY (CL(CL_GET) | CL(CL_SET) | CL(CL_REMOVE) | CL(CL_BATCH_START) | \
		     CL(CL_BATCH_STOP) | CL(CL_BATCH_REMOVE) | CL(CL_BATCH_GET) |      \
		     CL(CL_USER_GET) | CL(CL_USER_STATS) | CL(CL_BATCH_COMPLETE) |        \
		     CL(CL_BATCH_SET))
/* New- and Set-MigrationBatch: the options of a batch. */
#define CL_BATCH_OPT (CL(CL_BATCH_NEW) | CL(CL_BATCH_SET))

/* What a cmdlet becomes: noun, verb, and the verb when no Identity is
 * given (Get-: list instead of show). */
struct cmdlet_def {
	const char *name;
	const char *noun;
	const char *verb;
	const char *verb_without_name; /* NULL: always verb */
};

static const struct cmdlet_def cmdlet_defs[CL_COUNT] = {
	[CL_NEW] = { "New-MigrationEndpoint", "endpoint", "new", NULL },
	[CL_GET] = { "Get-MigrationEndpoint", "endpoint", "show", "list" },
	[CL_SET] = { "Set-MigrationEndpoint", "endpoint", "set", NULL },
	[CL_REMOVE] = { "Remove-MigrationEndpoint", "endpoint", "remove", NULL },
	[CL_TEST] = { "Test-MigrationServerAvailability", "endpoint", "test", NULL },
	[CL_BATCH_NEW] = { "New-MigrationBatch", "batch", "new", NULL },
	[CL_BATCH_START] = { "Start-MigrationBatch", "batch", "start", NULL },
	[CL_BATCH_STOP] = { "Stop-MigrationBatch", "batch", "stop", NULL },
	[CL_BATCH_REMOVE] = { "Remove-MigrationBatch", "batch", "remove", NULL },
	[CL_BATCH_GET] = { "Get-MigrationBatch", "batch", "show", "list" },
	[CL_USER_GET] = { "Get-MigrationUser", "user", "show", "list" },
	[CL_USER_STATS] = { "Get-MigrationUserStatistics", "user", "show", NULL },
	[CL_BATCH_COMPLETE] = { "Complete-MigrationBatch", "batch", "complete", NULL },
	[CL_BATCH_SET] = { "Set-MigrationBatch", "batch", "set", NULL },
};

enum param_kind {
	P_NAME,     /* the endpoint, batch or user name */
	P_VALUE,    /* --opt=VALUE */
	P_LIST,     /* --opt=A --opt=B for "A,B" */
	P_ENUM,     /* --opt=mapped value */
	P_SWITCH,   /* opt when true, opt_false when false */
	P_IGNORED,  /* accepted, no effect (-Confirm) */
	P_PASSWORD, /* refused */
};

struct cmdlet_enum {
	const char *ps;     /* PowerShell spelling */
	const char *value;  /* our value */
};

struct cmdlet_param {
	const char *name;
	enum param_kind kind;
	const char *opt;
	const char *opt_false;
	const struct cmdlet_enum *values; /* P_ENUM, ends with { NULL, NULL } */
	unsigned cmdlets;
};

static const struct cmdlet_enum security_values[] = {
	{ "None", "none" }, { "Ssl", "tls" }, { "Tls", "starttls" }, { NULL, NULL }
};
static const struct cmdlet_enum auth_values[] = {
	{ "Basic", "basic" }, { "Plain", "plain" }, { "Login", "login" }, { "Ntlm", "ntlm" },
	{ NULL, NULL }
};
static const struct cmdlet_enum impersonation_values[] = {
	{ "Sasl", "sasl" }, { "MasterUser", "master-user" }, { NULL, NULL }
};
static const struct cmdlet_enum permission_values[] = {
	{ "Admin", "admin" }, { "FullAccess", "full-access" }, { NULL, NULL }
};

static const struct cmdlet_param cmdlet_params[] = {
	{ "Name", P_NAME, NULL, NULL, NULL, CL(CL_NEW) | CL(CL_BATCH_NEW) },
	{ "Identity", P_NAME, NULL, NULL, NULL, CL_IDENTITY },
	{ "Endpoint", P_NAME, NULL, NULL, NULL, CL(CL_TEST) },
	{ "IMAP", P_SWITCH, "--type=imap", NULL, NULL, CL(CL_NEW) | CL(CL_TEST) },
	{ "ExchangeRemoteMove", P_SWITCH, "--type=exchange-remote", NULL, NULL,
	  CL(CL_NEW) | CL(CL_TEST) },
	{ "ExchangeOutlookAnywhere", P_SWITCH, "--type=outlook-anywhere", NULL, NULL,
	  CL(CL_NEW) | CL(CL_TEST) },
	{ "RemoteServer", P_VALUE, "--server", NULL, NULL, CL_CFG },
	{ "Port", P_VALUE, "--port", NULL, NULL, CL_CFG },
	{ "Security", P_ENUM, "--security", NULL, security_values, CL_CFG },
	{ "Authentication", P_ENUM, "--auth", NULL, auth_values, CL_CFG },
	{ "AcceptUntrustedCertificates", P_SWITCH, "--accept-untrusted-certificates",
	  "--no-accept-untrusted-certificates", NULL, CL_CFG },
	{ "MaxConcurrentMigrations", P_VALUE, "--max-concurrent-migrations", NULL, NULL,
	  CL(CL_NEW) | CL(CL_SET) },
	{ "MaxConcurrentIncrementalSyncs", P_VALUE, "--max-concurrent-incremental-syncs", NULL,
	  NULL, CL(CL_NEW) | CL(CL_SET) },
	{ "SkipVerification", P_SWITCH, "--skip-verification", NULL, NULL,
	  CL(CL_NEW) | CL(CL_SET) },
	{ "Credentials", P_VALUE, "--admin-user", NULL, NULL, CL_CFG },
	{ "PasswordStdin", P_SWITCH, "--password-stdin", NULL, NULL, CL_CFG },
	{ "PasswordFile", P_VALUE, "--password-file", NULL, NULL, CL_CFG },
	{ "ImpersonationMethod", P_ENUM, "--impersonation", NULL, impersonation_values, CL_CFG },
	{ "MasterSeparator", P_VALUE, "--master-separator", NULL, NULL, CL_CFG },
	{ "ExchangeServer", P_VALUE, "--exchange-server", NULL, NULL, CL_CFG },
	{ "RpcProxyServer", P_VALUE, "--rpc-proxy-server", NULL, NULL, CL_CFG },
	{ "EmailAddress", P_VALUE, "--email-address", NULL, NULL, CL_CFG },
	{ "Autodiscover", P_SWITCH, "--autodiscover", NULL, NULL, CL(CL_NEW) },
	{ "MailboxPermission", P_ENUM, "--mailbox-permission", NULL, permission_values, CL_CFG },
	{ "TestMailbox", P_VALUE, "--test-mailbox", NULL, NULL, CL_CFG },
	{ "Timeout", P_VALUE, "--timeout", NULL, NULL, CL_CFG },
	{ "SourceEndpoint", P_VALUE, "--source", NULL, NULL, CL(CL_BATCH_NEW) },
	{ "TargetEndpoint", P_VALUE, "--target", NULL, NULL, CL(CL_BATCH_NEW) },
	{ "CSVData", P_VALUE, "--csv", NULL, NULL, CL(CL_BATCH_NEW) },
	{ "AutoStart", P_SWITCH, "--auto-start", NULL, NULL, CL(CL_BATCH_NEW) },
	{ "ExcludeFolders", P_LIST, "--exclude-folder", NULL, NULL, CL(CL_BATCH_NEW) },
	{ "IncludeFolders", P_LIST, "--include-folder", NULL, NULL, CL(CL_BATCH_NEW) },
	{ "BadItemLimit", P_VALUE, "--bad-item-limit", NULL, NULL, CL_BATCH_OPT },
	{ "LargeItemLimit", P_VALUE, "--large-item-limit", NULL, NULL, CL_BATCH_OPT },
	{ "ConnectionsPerUser", P_VALUE, "--connections-per-user", NULL, NULL, CL_BATCH_OPT },
	{ "AutoComplete", P_SWITCH, "--auto-complete", "--no-auto-complete", NULL, CL_BATCH_OPT },
	{ "StartAfter", P_VALUE, "--start-after", NULL, NULL, CL_BATCH_OPT },
	{ "CompleteAfter", P_VALUE, "--complete-after", NULL, NULL, CL_BATCH_OPT },
	{ "Wait", P_SWITCH, "--wait", NULL, NULL, CL(CL_BATCH_START) | CL(CL_BATCH_COMPLETE) },
	{ "BatchId", P_VALUE, "--batch", NULL, NULL, CL(CL_USER_GET) },
	{ "IncludeSkippedItems", P_SWITCH, "--skipped-items", NULL, NULL, CL(CL_USER_STATS) },
	{ "Json", P_SWITCH, "--json", NULL, NULL, CL_ALL },
	{ "Verbose", P_SWITCH, "--verbose", NULL, NULL, CL_ALL },
	{ "Help", P_SWITCH, "--help", NULL, NULL, CL_ALL },
	{ "Confirm", P_IGNORED, NULL, NULL, NULL, CL_ALL },
	{ "Password", P_PASSWORD, NULL, NULL, NULL, CL_ALL },
};

#define N_PARAMS (sizeof(cmdlet_params) / sizeof(cmdlet_params[0]))

static const char cmdlet_password_msg[] =
	"passwords are not accepted on the command line (other users can read it there); "
	"use -PasswordStdin, -PasswordFile FILE, or run on a terminal to be asked";

struct xvec {
	char **v;
	int n;
};

static void xvec_push(struct xvec *x, char *s)
{
	x->v = xreallocarray(x->v, (size_t)x->n + 2, sizeof(*x->v));
	x->v[x->n++] = s;
	x->v[x->n] = NULL;
}

const char *cli_cmdlet_lookup(const char *word)
{
	for (int i = 0; i < CL_COUNT; i++) {
		if (strcasecmp(word, cmdlet_defs[i].name) == 0)
			return cmdlet_defs[i].name;
	}
	return NULL;
}

static enum cmdlet_id cmdlet_id_of(const char *word)
{
	for (int i = 0; i < CL_COUNT; i++) {
		if (strcasecmp(word, cmdlet_defs[i].name) == 0)
			return (enum cmdlet_id)i;
	}
	return CL_COUNT;
}

/* "A, B,C" -> --opt=A --opt=B --opt=C (spaces around items dropped). */
static void push_list(struct xvec *out, const char *opt, const char *value)
{
	const char *p = value;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		xvec_push(out, xasprintf("%s=%.*s", opt, (int)len, p));
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

void cli_argv_free(char **argv, int argc)
{
	if (argv == NULL)
		return;
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

/* The parameter called name (len bytes): an exact match, else the only
 * parameter of this cmdlet that starts with it. */
static const struct cmdlet_param *find_param(enum cmdlet_id id, const char *name, size_t len,
					     struct mf_error *err)
{
	const struct cmdlet_param *found = NULL;
	int matches = 0;

	for (size_t i = 0; i < N_PARAMS; i++) {
		const struct cmdlet_param *p = &cmdlet_params[i];

		if (!(p->cmdlets & CL(id)) && p->kind != P_PASSWORD)
			continue;
		if (strncasecmp(p->name, name, len) != 0)
			continue;
		if (p->name[len] == '\0')
			return p;
		found = p;
		matches++;
	}
	if (matches == 1 && len > 0)
		return found;
	if (matches > 1 && len > 0) {
		mf_error_set(err, MF_EINVAL, "Parameter cannot be processed because the parameter "
			     "name '%.*s' is ambiguous.", (int)len, name);
		return NULL;
	}
	mf_error_set(err, MF_EINVAL, "A parameter cannot be found that matches parameter "
		     "name '%.*s'.", (int)len, name);
	return NULL;
}

/* A word that PowerShell would read as a parameter name, not a value. */
static bool looks_like_param(const char *w)
{
	return w[0] == '-' && (isalpha((unsigned char)w[1]) || w[1] == '?' || w[1] == '-');
}

static int switch_value(const struct cmdlet_param *p, const char *v, bool *on,
			struct mf_error *err)
{
	if (v == NULL || strcasecmp(v, "$true") == 0 || strcasecmp(v, "true") == 0) {
		*on = true;
		return 0;
	}
	if (strcasecmp(v, "$false") == 0 || strcasecmp(v, "false") == 0) {
		*on = false;
		return 0;
	}
	return mf_error_set(err, MF_EINVAL, "Cannot process argument '%s' of switch parameter "
			    "'%s': use -%s, -%s:$true or -%s:$false.", v, p->name, p->name,
			    p->name, p->name);
}

static int enum_value(const struct cmdlet_param *p, const char *v, const char **out,
		      struct mf_error *err)
{
	char set[128] = "";
	size_t len = 0;

	for (const struct cmdlet_enum *e = p->values; e->ps != NULL; e++) {
		if (strcasecmp(v, e->ps) == 0) {
			*out = e->value;
			return 0;
		}
	}
	for (const struct cmdlet_enum *e = p->values; e->ps != NULL && len < sizeof(set); e++)
		len += (size_t)snprintf(set + len, sizeof(set) - len, "%s%s",
					e == p->values ? "" : ",", e->ps);
	return mf_error_set(err, MF_EINVAL, "Cannot validate argument on parameter '%s'. The "
			    "argument \"%s\" does not belong to the set \"%s\".", p->name, v, set);
}

/* Translate one parameter at argv[*i]; advances *i past a value word. */
static int translate_param(enum cmdlet_id id, int argc, char **argv, int *i,
			   const char **name_r, struct xvec *out, struct mf_error *err)
{
	const char *w = argv[*i] + 1;
	const char *colon = strchr(w, ':');
	size_t len = colon != NULL ? (size_t)(colon - w) : strlen(w);
	const char *value = colon != NULL ? colon + 1 : NULL;
	const struct cmdlet_param *p;
	bool on;

	if (len == 1 && (w[0] == '?' || w[0] == 'h' || w[0] == 'H')) {
		xvec_push(out, xstrdup("--help"));
		return 0;
	}
	p = find_param(id, w, len, err);
	if (p == NULL)
		return CLI_EXIT_USAGE;
	switch (p->kind) {
	case P_PASSWORD:
		mf_error_set(err, MF_EINVAL, "%s", cmdlet_password_msg);
		return CLI_EXIT_USAGE;
	case P_IGNORED:
		return switch_value(p, value, &on, err) < 0 ? CLI_EXIT_USAGE : 0;
	case P_SWITCH:
		if (switch_value(p, value, &on, err) < 0)
			return CLI_EXIT_USAGE;
		if (on)
			xvec_push(out, xstrdup(p->opt));
		else if (p->opt_false != NULL)
			xvec_push(out, xstrdup(p->opt_false));
		return 0;
	case P_NAME:
	case P_VALUE:
	case P_LIST:
	case P_ENUM:
		break;
	}
	if (value == NULL) {
		if (*i + 1 >= argc || looks_like_param(argv[*i + 1])) {
			mf_error_set(err, MF_EINVAL, "Missing an argument for parameter '%s'.",
				     p->name);
			return CLI_EXIT_USAGE;
		}
		value = argv[++*i];
	}
	if (p->kind == P_NAME) {
		*name_r = value;
		return 0;
	}
	if (p->kind == P_LIST) {
		push_list(out, p->opt, value);
		return 0;
	}
	if (p->kind == P_ENUM && enum_value(p, value, &value, err) < 0)
		return CLI_EXIT_USAGE;
	xvec_push(out, xasprintf("%s=%s", p->opt, value));
	return 0;
}

int cli_cmdlet_translate(int argc, char **argv, int cmdlet_at, char ***xargv_r,
			 int *xargc_r, struct mf_error *err)
{
	enum cmdlet_id id = cmdlet_id_of(argv[cmdlet_at]);
	struct xvec opts = { NULL, 0 };
	struct xvec out = { NULL, 0 };
	const char *name = NULL;
	const char *verb;
	int rc = 0;

	for (int i = 0; i < argc && rc == 0; i++) {
		const char *w = argv[i];

		if (i == cmdlet_at)
			continue;
		if (strncmp(w, "--", 2) == 0 && w[2] != '\0') {
			/* a noun-verb option (global): copied through */
			xvec_push(&opts, xstrdup(w));
			if (cli_option_takes_value(w) && i + 1 < argc)
				xvec_push(&opts, xstrdup(argv[++i]));
			continue;
		}
		if (w[0] == '-' && w[1] != '\0') {
			rc = translate_param(id, argc, argv, &i, &name, &opts, err);
			continue;
		}
		if (name == NULL && (CL(id) & CL_IDENTITY)) {
			name = w; /* positional Identity */
			continue;
		}
		mf_error_set(err, MF_EINVAL, "A positional parameter cannot be found that accepts "
			     "argument '%s'.", w);
		rc = CLI_EXIT_USAGE;
	}
	if (rc != 0) {
		cli_argv_free(opts.v, opts.n);
		return rc;
	}

	verb = cmdlet_defs[id].verb;
	if (name == NULL && cmdlet_defs[id].verb_without_name != NULL)
		verb = cmdlet_defs[id].verb_without_name;
	xvec_push(&out, xstrdup(cmdlet_defs[id].noun));
	xvec_push(&out, xstrdup(verb));
	for (int i = 0; i < opts.n; i++)
		xvec_push(&out, opts.v[i]);
	free(opts.v);
	if (name != NULL) {
		xvec_push(&out, xstrdup("--"));
		xvec_push(&out, xstrdup(name));
	}
	*xargv_r = out.v;
	*xargc_r = out.n;
	return 0;
}
