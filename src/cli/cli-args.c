/* cli-args.c: the noun-verb parser.
 *
 * One table lists every option of every command. The line is read in two
 * steps: the words are split into options (with their values) and
 * positionals, which name the command; then each option is checked against
 * the command and stored. That order lets global options stand anywhere and
 * lets an error name the command in its hint.
 */
#include "cli-args.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

enum opt_id {
	O_DATA_DIR,
	O_JSON,
	O_TRACE,
	O_VERBOSE,
	O_HELP,
	O_DNS_SERVER,
	O_VERSION,
	O_TYPE,
	O_SERVER,
	O_PORT,
	O_SECURITY,
	O_AUTH,
	O_ADMIN_USER,
	O_IMPERSONATION,
	O_MASTER_SEP,
	O_ACCEPT_UNTRUSTED,
	O_NO_ACCEPT_UNTRUSTED,
	O_MAX_MIG,
	O_MAX_INC,
	O_EXCHANGE_SERVER,
	O_RPC_PROXY,
	O_EMAIL,
	O_MAILBOX_PERM,
	O_SKIP_VERIFY,
	O_TEST_MAILBOX,
	O_TIMEOUT,
	O_PASSWORD_STDIN,
	O_PASSWORD_FILE,
	O_SOURCE,
	O_TARGET,
	O_CSV,
	O_EXCLUDE_FOLDER,
	O_INCLUDE_FOLDER,
	O_BAD_ITEM_LIMIT,
	O_LARGE_ITEM_LIMIT,
	O_MAX_MESSAGE_SIZE,
	O_RECEIVED_AFTER,
	O_AUTO_START,
	O_WAIT,
	O_FORMAT,
	O_OUTPUT,
	O_BATCH,
	O_SKIPPED_ITEMS,
	O_AUTODISCOVER,
	O_PROTOCOL,
	O_ALLOW_UNTRUSTED_CANDS,
};

enum opt_arg { ARG_NONE, ARG_STR, ARG_NUM };

#define CMD(c) (1u << (c))
#define CMDS_ALL 0xffffffffu
#define CMDS_SETTINGS (CMD(CLI_CMD_EP_NEW) | CMD(CLI_CMD_EP_SET) | CMD(CLI_CMD_EP_TEST))
/* Options the autodiscover command shares with the endpoint commands. */
#define CMDS_SETTINGS_AD (CMDS_SETTINGS | CMD(CLI_CMD_AUTODISCOVER))
#define CMDS_DISCOVER (CMD(CLI_CMD_EP_NEW) | CMD(CLI_CMD_AUTODISCOVER))

struct cli_option {
	const char *name;     /* without the leading "--" */
	char short_name;      /* 0 when none */
	enum opt_id id;
	enum opt_arg arg;
	bool setting;         /* an endpoint setting */
	unsigned cmds;        /* commands that accept it */
	long min, max;        /* ARG_NUM range */
};

static const struct cli_option cli_options[] = {
	{ "data-dir", 0, O_DATA_DIR, ARG_STR, false, CMDS_ALL, 0, 0 },
	{ "json", 0, O_JSON, ARG_NONE, false, CMDS_ALL, 0, 0 },
	{ "trace", 0, O_TRACE, ARG_NONE, false, CMDS_ALL, 0, 0 },
	{ "verbose", 'v', O_VERBOSE, ARG_NONE, false, CMDS_ALL, 0, 0 },
	{ "help", 'h', O_HELP, ARG_NONE, false, CMDS_ALL, 0, 0 },
	{ "dns-server", 0, O_DNS_SERVER, ARG_STR, false, CMDS_ALL, 0, 0 },
	{ "version", 0, O_VERSION, ARG_NONE, false, CMDS_ALL, 0, 0 },
	{ "type", 0, O_TYPE, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "server", 0, O_SERVER, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "port", 0, O_PORT, ARG_NUM, true, CMDS_SETTINGS, 1, 65535 },
	{ "security", 0, O_SECURITY, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "auth", 0, O_AUTH, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "admin-user", 0, O_ADMIN_USER, ARG_STR, true, CMDS_SETTINGS_AD, 0, 0 },
	{ "impersonation", 0, O_IMPERSONATION, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "master-separator", 0, O_MASTER_SEP, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "accept-untrusted-certificates", 0, O_ACCEPT_UNTRUSTED, ARG_NONE, true,
	  CMDS_SETTINGS, 0, 0 },
	{ "no-accept-untrusted-certificates", 0, O_NO_ACCEPT_UNTRUSTED, ARG_NONE, true,
	  CMDS_SETTINGS, 0, 0 },
	{ "max-concurrent-migrations", 0, O_MAX_MIG, ARG_NUM, true, CMDS_SETTINGS, 1, 1000 },
	{ "max-concurrent-incremental-syncs", 0, O_MAX_INC, ARG_NUM, true, CMDS_SETTINGS, 1,
	  1000 },
	{ "exchange-server", 0, O_EXCHANGE_SERVER, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "rpc-proxy-server", 0, O_RPC_PROXY, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "email-address", 0, O_EMAIL, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "mailbox-permission", 0, O_MAILBOX_PERM, ARG_STR, true, CMDS_SETTINGS, 0, 0 },
	{ "skip-verification", 0, O_SKIP_VERIFY, ARG_NONE, false,
	  CMD(CLI_CMD_EP_NEW) | CMD(CLI_CMD_EP_SET), 0, 0 },
	{ "test-mailbox", 0, O_TEST_MAILBOX, ARG_STR, false, CMDS_SETTINGS, 0, 0 },
	{ "timeout", 0, O_TIMEOUT, ARG_NUM, false, CMDS_SETTINGS_AD, 1, 3600 },
	{ "password-stdin", 0, O_PASSWORD_STDIN, ARG_NONE, false, CMDS_SETTINGS_AD, 0, 0 },
	{ "password-file", 0, O_PASSWORD_FILE, ARG_STR, false, CMDS_SETTINGS_AD, 0, 0 },
	{ "source", 0, O_SOURCE, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "target", 0, O_TARGET, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "csv", 0, O_CSV, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "exclude-folder", 0, O_EXCLUDE_FOLDER, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "include-folder", 0, O_INCLUDE_FOLDER, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "bad-item-limit", 0, O_BAD_ITEM_LIMIT, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "large-item-limit", 0, O_LARGE_ITEM_LIMIT, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0,
	  0 },
	{ "max-message-size", 0, O_MAX_MESSAGE_SIZE, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0,
	  0 },
	{ "received-after", 0, O_RECEIVED_AFTER, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "auto-start", 0, O_AUTO_START, ARG_NONE, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "wait", 0, O_WAIT, ARG_NONE, false, CMD(CLI_CMD_BATCH_START), 0, 0 },
	{ "format", 0, O_FORMAT, ARG_STR, false, CMD(CLI_CMD_BATCH_REPORT), 0, 0 },
	{ "output", 0, O_OUTPUT, ARG_STR, false, CMD(CLI_CMD_BATCH_REPORT), 0, 0 },
	{ "batch", 0, O_BATCH, ARG_STR, false, CMD(CLI_CMD_USER_LIST), 0, 0 },
	{ "skipped-items", 0, O_SKIPPED_ITEMS, ARG_NONE, false, CMD(CLI_CMD_USER_SHOW), 0, 0 },
	{ "autodiscover", 0, O_AUTODISCOVER, ARG_NONE, false, CMD(CLI_CMD_EP_NEW), 0, 0 },
	{ "protocol", 0, O_PROTOCOL, ARG_STR, false, CMDS_DISCOVER, 0, 0 },
	{ "allow-untrusted-candidates", 0, O_ALLOW_UNTRUSTED_CANDS, ARG_NONE, false, CMDS_DISCOVER,
	  0, 0 },
};

#define N_OPTIONS (sizeof(cli_options) / sizeof(cli_options[0]))

const char cli_argv_password_msg[] =
	"passwords are not accepted on the command line (other users can read it there); "
	"use --password-stdin, --password-file FILE, or run on a terminal to be asked";

struct cmd_word {
	const char *verb;
	enum cli_cmd cmd;
	size_t min_args, max_args;
	const char *arg_name;
};

static const struct cmd_word cli_endpoint_verbs[] = {
	{ "new", CLI_CMD_EP_NEW, 1, 1, "a NAME" },
	{ "list", CLI_CMD_EP_LIST, 0, 0, NULL },
	{ "show", CLI_CMD_EP_SHOW, 1, 1, "a NAME" },
	{ "set", CLI_CMD_EP_SET, 1, 1, "a NAME" },
	{ "remove", CLI_CMD_EP_REMOVE, 1, 1, "a NAME" },
	{ "test", CLI_CMD_EP_TEST, 0, 1, "a NAME" },
	{ NULL, CLI_CMD_NONE, 0, 0, NULL },
};

static const struct cmd_word cli_batch_verbs[] = {
	{ "new", CLI_CMD_BATCH_NEW, 1, 1, "a NAME" },
	{ "list", CLI_CMD_BATCH_LIST, 0, 0, NULL },
	{ "show", CLI_CMD_BATCH_SHOW, 1, 1, "a NAME" },
	{ "start", CLI_CMD_BATCH_START, 1, 1, "a NAME" },
	{ "stop", CLI_CMD_BATCH_STOP, 1, 1, "a NAME" },
	{ "remove", CLI_CMD_BATCH_REMOVE, 1, 1, "a NAME" },
	{ "report", CLI_CMD_BATCH_REPORT, 1, 1, "a NAME" },
	{ NULL, CLI_CMD_NONE, 0, 0, NULL },
};

static const struct cmd_word cli_user_verbs[] = {
	{ "list", CLI_CMD_USER_LIST, 0, 0, NULL },
	{ "show", CLI_CMD_USER_SHOW, 1, 1, "an EMAIL" },
	{ NULL, CLI_CMD_NONE, 0, 0, NULL },
};

struct cmd_noun {
	const char *noun;
	const struct cmd_word *verbs; /* ends with a NULL verb */
	const char *verb_list;        /* for "needs a verb" */
};

static const struct cmd_noun cli_nouns[] = {
	{ "endpoint", cli_endpoint_verbs, "new, list, show, set, remove or test" },
	{ "batch", cli_batch_verbs, "new, list, show, start, stop, remove or report" },
	{ "user", cli_user_verbs, "list or show" },
};

#define N_NOUNS (sizeof(cli_nouns) / sizeof(cli_nouns[0]))

static const struct cmd_noun *noun_by_name(const char *word)
{
	for (size_t i = 0; i < N_NOUNS; i++) {
		if (strcmp(word, cli_nouns[i].noun) == 0)
			return &cli_nouns[i];
	}
	return NULL;
}

static const struct cmd_word *verb_of_cmd(enum cli_cmd cmd)
{
	for (size_t i = 0; i < N_NOUNS; i++) {
		for (const struct cmd_word *w = cli_nouns[i].verbs; w->verb != NULL; w++) {
			if (w->cmd == cmd)
				return w;
		}
	}
	return NULL;
}

static const char *const cli_cmd_labels[CLI_CMD_COUNT] = {
	[CLI_CMD_NONE] = "",
	[CLI_CMD_HELP] = "help",
	[CLI_CMD_VERSION] = "version",
	[CLI_CMD_EP_NEW] = "endpoint new",
	[CLI_CMD_EP_LIST] = "endpoint list",
	[CLI_CMD_EP_SHOW] = "endpoint show",
	[CLI_CMD_EP_SET] = "endpoint set",
	[CLI_CMD_EP_REMOVE] = "endpoint remove",
	[CLI_CMD_EP_TEST] = "endpoint test",
	[CLI_CMD_BATCH_NEW] = "batch new",
	[CLI_CMD_BATCH_LIST] = "batch list",
	[CLI_CMD_BATCH_SHOW] = "batch show",
	[CLI_CMD_BATCH_START] = "batch start",
	[CLI_CMD_BATCH_STOP] = "batch stop",
	[CLI_CMD_BATCH_REMOVE] = "batch remove",
	[CLI_CMD_BATCH_REPORT] = "batch report",
	[CLI_CMD_USER_LIST] = "user list",
	[CLI_CMD_USER_SHOW] = "user show",
	[CLI_CMD_AUTODISCOVER] = "autodiscover",
};

/* One option occurrence found in the first step. */
struct seen_opt {
	const struct cli_option *opt;
	const char *word;   /* as typed, for messages */
	const char *value;  /* NULL for ARG_NONE */
};

static const struct cli_option *option_by_long(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (strlen(cli_options[i].name) == len &&
		    strncmp(cli_options[i].name, name, len) == 0)
			return &cli_options[i];
	}
	return NULL;
}

static const struct cli_option *option_by_short(char c)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (cli_options[i].short_name == c)
			return &cli_options[i];
	}
	return NULL;
}

bool cli_option_takes_value(const char *word)
{
	const struct cli_option *opt;

	if (strncmp(word, "--", 2) != 0 || strchr(word, '=') != NULL)
		return false;
	opt = option_by_long(word + 2, strlen(word + 2));
	return opt != NULL && opt->arg != ARG_NONE;
}

int cli_parse_int(const char *opt, const char *s, long min, long max, int *out,
		  struct mf_error *err)
{
	const char *digits = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
	char *end;
	long v;

	if (!isdigit((unsigned char)digits[0]))
		return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a number", opt, s);
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0')
		return mf_error_set(err, MF_EINVAL, "%s: '%s' is not a number", opt, s);
	if (errno == ERANGE || v < min || v > max)
		return mf_error_set(err, MF_EINVAL, "%s must be %ld-%ld", opt, min, max);
	*out = (int)v;
	return 0;
}

const char *cli_cmd_label(const struct cli_opts *o)
{
	if (o->cmdlet != NULL)
		return o->cmdlet;
	return cli_cmd_labels[o->cmd];
}

void cli_usage_hint(const struct cli_opts *o, char *out, size_t outlen)
{
	if (o->cmdlet != NULL)
		snprintf(out, outlen, "see 'mailferry %s -Help'", o->cmdlet);
	else if (o->cmd == CLI_CMD_NONE || o->cmd == CLI_CMD_HELP)
		snprintf(out, outlen, "see 'mailferry help'");
	else
		snprintf(out, outlen, "see 'mailferry %s --help'", cli_cmd_labels[o->cmd]);
}

void cli_opts_free(struct cli_opts *o)
{
	free(o->topic);
	free(o->b.exclude);
	free(o->b.include);
	cli_argv_free(o->xargv, o->xargc);
	memset(o, 0, sizeof(*o));
}

static bool is_argv_password(const char *word)
{
	/* --password, --password=x, -Password, -password:x (any case) */
	while (*word == '-')
		word++;
	if (strncasecmp(word, "password", 8) != 0)
		return false;
	return word[8] == '\0' || word[8] == '=' || word[8] == ':';
}

/* Keep the first error only: it is the one nearest the start of the line. */
static void first_error(struct mf_error *err, const char *fmt, const char *arg)
{
	if (err->code == 0)
		mf_error_set(err, MF_EINVAL, fmt, arg);
}

/* Step one: split words into options and positionals. Errors are kept in
 * tokerr so that the command can still be named. */
static void tokenize(int argc, char **argv, struct seen_opt *seen, size_t *nseen,
		     char **pos, size_t *npos, struct mf_error *tokerr)
{
	bool only_pos = false;

	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		const struct cli_option *opt;

		if (only_pos || w[0] != '-' || w[1] == '\0') {
			pos[(*npos)++] = argv[i];
			continue;
		}
		if (strcmp(w, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (is_argv_password(w)) {
			first_error(tokerr, "%s", cli_argv_password_msg);
			continue;
		}
		if (w[1] != '-') {
			/* -v, -vv, -h */
			bool ok = true;

			for (const char *c = w + 1; *c != '\0'; c++) {
				opt = option_by_short(*c);
				if (opt == NULL || opt->arg != ARG_NONE) {
					ok = false;
					break;
				}
			}
			if (!ok) {
				first_error(tokerr, "unknown option '%s'", w);
				continue;
			}
			for (const char *c = w + 1; *c != '\0'; c++)
				seen[(*nseen)++] = (struct seen_opt){ option_by_short(*c), w, NULL };
			continue;
		}

		const char *eq = strchr(w + 2, '=');
		size_t len = eq != NULL ? (size_t)(eq - (w + 2)) : strlen(w + 2);

		opt = option_by_long(w + 2, len);
		if (opt == NULL) {
			first_error(tokerr, "unknown option '%s'", w);
			continue;
		}
		if (opt->arg == ARG_NONE) {
			if (eq != NULL)
				first_error(tokerr, "option '--%s' does not take a value",
					    opt->name);
			else
				seen[(*nseen)++] = (struct seen_opt){ opt, w, NULL };
			continue;
		}
		if (eq != NULL) {
			seen[(*nseen)++] = (struct seen_opt){ opt, w, eq + 1 };
			continue;
		}
		if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && argv[i + 1][2] != '\0')) {
			first_error(tokerr, "option '%s' needs a value", w);
			continue;
		}
		seen[(*nseen)++] = (struct seen_opt){ opt, w, argv[i + 1] };
		i++;
	}
}

/* Name the command from the positionals; the rest become its arguments. */
static int resolve_command(struct cli_opts *o, char **pos, size_t npos, size_t *args_at,
			   struct mf_error *err)
{
	const struct cmd_noun *noun;

	if (npos == 0) {
		o->cmd = CLI_CMD_NONE;
		*args_at = 0;
		return 0;
	}
	if (strcmp(pos[0], "help") == 0) {
		o->cmd = CLI_CMD_HELP;
		*args_at = 1;
		return 0;
	}
	if (strcmp(pos[0], "version") == 0) {
		o->cmd = CLI_CMD_VERSION;
		*args_at = 1;
		return 0;
	}
	if (strcmp(pos[0], "autodiscover") == 0) {
		o->cmd = CLI_CMD_AUTODISCOVER;
		*args_at = 1;
		return 0;
	}
	noun = noun_by_name(pos[0]);
	if (noun == NULL)
		return mf_error_set(err, MF_EINVAL, "unknown command '%s'", pos[0]);
	*args_at = 2;
	if (npos < 2)
		return mf_error_set(err, MF_EINVAL, "'%s' needs a verb: %s", noun->noun,
				    noun->verb_list);
	for (const struct cmd_word *w = noun->verbs; w->verb != NULL; w++) {
		if (strcmp(pos[1], w->verb) == 0) {
			o->cmd = w->cmd;
			return 0;
		}
	}
	return mf_error_set(err, MF_EINVAL, "unknown command '%s %s'", noun->noun, pos[1]);
}

static int check_positionals(struct cli_opts *o, char **args, size_t nargs,
			     struct mf_error *err)
{
	const struct cmd_word *w;

	if (o->cmd == CLI_CMD_VERSION) {
		if (nargs > 0)
			return mf_error_set(err, MF_EINVAL, "unexpected argument '%s'", args[0]);
		return 0;
	}
	if (o->cmd == CLI_CMD_AUTODISCOVER) {
		if (nargs == 0)
			return mf_error_set(err, MF_EINVAL, "autodiscover needs an EMAIL address");
		if (nargs > 1)
			return mf_error_set(err, MF_EINVAL, "unexpected argument '%s'", args[1]);
		o->name = args[0];
		return 0;
	}
	w = verb_of_cmd(o->cmd);
	if (w == NULL)
		return 0;
	if (nargs < w->min_args)
		return mf_error_set(err, MF_EINVAL, "%s needs %s", cli_cmd_labels[o->cmd],
				    w->arg_name);
	if (nargs > w->max_args)
		return mf_error_set(err, MF_EINVAL, "unexpected argument '%s'",
				    args[w->max_args]);
	if (nargs == 1)
		o->name = args[0];
	return 0;
}

/* Step two: store one option, checked against the command. */
static int apply_option(struct cli_opts *o, const struct seen_opt *s, struct mf_error *err)
{
	const struct cli_option *opt = s->opt;
	struct cli_settings *st = &o->set;
	struct cli_batch_args *b = &o->b;
	char label[64];
	int num = 0;

	if (opt->id == O_TYPE && o->cmd == CLI_CMD_EP_SET)
		return mf_error_set(err, MF_EINVAL, "the type of an endpoint cannot be changed; "
				    "remove it and create a new one");
	if (!(opt->cmds & CMD(o->cmd))) {
		if (o->cmd == CLI_CMD_NONE || o->cmd == CLI_CMD_HELP)
			return mf_error_set(err, MF_EINVAL, "option '--%s' needs a command",
					    opt->name);
		return mf_error_set(err, MF_EINVAL, "option '--%s' is not used by '%s'",
				    opt->name, cli_cmd_labels[o->cmd]);
	}
	snprintf(label, sizeof(label), "--%s", opt->name);
	if (opt->arg == ARG_NUM &&
	    cli_parse_int(label, s->value, opt->min, opt->max, &num, err) < 0)
		return MF_EINVAL;
	if (opt->setting)
		o->any_setting = true;

	switch (opt->id) {
	case O_DATA_DIR: o->data_dir = s->value; break;
	case O_JSON: o->json = true; break;
	case O_TRACE: o->trace = true; break;
	case O_VERBOSE: o->verbose++; break;
	case O_HELP: o->help = true; break;
	case O_DNS_SERVER: o->dns_server = s->value; break;
	case O_VERSION: break; /* handled before */
	case O_TYPE: st->type = s->value; break;
	case O_SERVER: st->server = s->value; break;
	case O_PORT: st->port = num; break;
	case O_SECURITY: st->security = s->value; break;
	case O_AUTH: st->auth = s->value; break;
	case O_ADMIN_USER: st->admin_user = s->value; break;
	case O_IMPERSONATION: st->impersonation = s->value; break;
	case O_MASTER_SEP: st->master_separator = s->value; break;
	case O_ACCEPT_UNTRUSTED: st->accept_untrusted = 1; break;
	case O_NO_ACCEPT_UNTRUSTED: st->accept_untrusted = 0; break;
	case O_MAX_MIG: st->max_migrations = num; break;
	case O_MAX_INC: st->max_incremental = num; break;
	case O_EXCHANGE_SERVER: st->exchange_server = s->value; break;
	case O_RPC_PROXY: st->rpc_proxy_server = s->value; break;
	case O_EMAIL: st->email_address = s->value; break;
	case O_MAILBOX_PERM: st->mailbox_permission = s->value; break;
	case O_SKIP_VERIFY: o->skip_verification = true; break;
	case O_TEST_MAILBOX: o->test_mailbox = s->value; break;
	case O_TIMEOUT: o->timeout_s = num; break;
	case O_PASSWORD_STDIN: o->password_stdin = true; break;
	case O_PASSWORD_FILE: o->password_file = s->value; break;
	case O_SOURCE: b->source = s->value; break;
	case O_TARGET: b->target = s->value; break;
	case O_CSV: b->csv = s->value; break;
	case O_EXCLUDE_FOLDER:
		b->exclude = xreallocarray(b->exclude, b->nexclude + 1, sizeof(*b->exclude));
		b->exclude[b->nexclude++] = s->value;
		break;
	case O_INCLUDE_FOLDER:
		b->include = xreallocarray(b->include, b->ninclude + 1, sizeof(*b->include));
		b->include[b->ninclude++] = s->value;
		break;
	case O_BAD_ITEM_LIMIT:
		return cli_parse_limit(label, s->value, &b->bad_item_limit, err);
	case O_LARGE_ITEM_LIMIT:
		return cli_parse_limit(label, s->value, &b->large_item_limit, err);
	case O_MAX_MESSAGE_SIZE:
		return cli_parse_size(label, s->value, &b->max_message_size, err);
	case O_RECEIVED_AFTER:
		return cli_parse_date(label, s->value, &b->received_after, err);
	case O_AUTO_START: b->auto_start = true; break;
	case O_WAIT: b->wait = true; break;
	case O_FORMAT:
		if (strcmp(s->value, "csv") != 0 && strcmp(s->value, "json") != 0)
			return mf_error_set(err, MF_EINVAL, "--format must be csv or json");
		b->format = s->value;
		break;
	case O_OUTPUT: b->output = s->value; break;
	case O_BATCH: b->batch = s->value; break;
	case O_SKIPPED_ITEMS: b->skipped_items = true; break;
	case O_AUTODISCOVER: o->autodiscover = true; break;
	case O_PROTOCOL:
		if (strcmp(s->value, "imap") != 0 && strcmp(s->value, "exchange") != 0 &&
		    strcmp(s->value, "any") != 0)
			return mf_error_set(err, MF_EINVAL, "--protocol must be imap, exchange or "
					    "any");
		o->protocol = s->value;
		break;
	case O_ALLOW_UNTRUSTED_CANDS: o->allow_untrusted_cands = true; break;
	}
	return 0;
}

/* The protocol --type asks for: "imap", "exchange", or NULL (unknown). */
static const char *type_protocol(const char *type)
{
	if (type == NULL)
		return NULL;
	if (strcmp(type, "imap") == 0)
		return "imap";
	if (strcmp(type, "exchange-remote") == 0 || strcmp(type, "outlook-anywhere") == 0)
		return "exchange";
	return NULL;
}

/* endpoint new: --autodiscover needs an address; --protocol and
 * --allow-untrusted-candidates need --autodiscover; --protocol fits --type. */
static int check_autodiscover(const struct cli_opts *o, struct mf_error *err)
{
	const char *tp = type_protocol(o->set.type);
	bool cmdlet = o->cmdlet != NULL;

	if (!o->autodiscover) {
		if (o->protocol != NULL)
			return mf_error_set(err, MF_EINVAL, "--protocol is used only with %s",
					    cmdlet ? "-Autodiscover" : "--autodiscover");
		if (o->allow_untrusted_cands)
			return mf_error_set(err, MF_EINVAL, "--allow-untrusted-candidates is used "
					    "only with %s", cmdlet ? "-Autodiscover" : "--autodiscover");
		return 0;
	}
	if (o->set.email_address == NULL || o->set.email_address[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "%s needs %s (the address to discover the "
				    "server settings for)",
				    cmdlet ? "-Autodiscover" : "--autodiscover",
				    cmdlet ? "-EmailAddress ADDRESS" : "--email-address EMAIL");
	if (o->protocol != NULL && tp != NULL && strcmp(o->protocol, "any") != 0 &&
	    strcmp(o->protocol, tp) != 0)
		return mf_error_set(err, MF_EINVAL, "--protocol %s does not fit --type %s",
				    o->protocol, o->set.type);
	return 0;
}

/* Checks that involve more than one option. */
static int check_combinations(const struct cli_opts *o, struct mf_error *err)
{
	if (o->password_stdin && o->password_file != NULL)
		return mf_error_set(err, MF_EINVAL,
				    "use only one of --password-stdin and --password-file");
	if (o->password_file != NULL && o->password_file[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "--password-file needs a file name");
	if (o->cmd == CLI_CMD_EP_NEW && o->set.type == NULL && !o->autodiscover)
		return mf_error_set(err, MF_EINVAL, "endpoint new needs --type (imap, "
				    "exchange-remote or outlook-anywhere)");
	if (o->cmd == CLI_CMD_EP_NEW && check_autodiscover(o, err) < 0)
		return MF_EINVAL;
	if (o->cmd == CLI_CMD_EP_TEST && o->name != NULL && o->any_setting)
		return mf_error_set(err, MF_EINVAL, "settings cannot be combined with an endpoint "
				    "name: test the stored settings, or change them with "
				    "'endpoint set'");
	if (o->cmd == CLI_CMD_EP_TEST && o->name == NULL && o->set.server == NULL)
		return mf_error_set(err, MF_EINVAL, "endpoint test needs an endpoint NAME, or "
				    "--server for a test without storing");
	if (o->cmd == CLI_CMD_BATCH_NEW && o->b.source == NULL)
		return mf_error_set(err, MF_EINVAL, "batch new needs --source EP (the source "
				    "endpoint)");
	if (o->cmd == CLI_CMD_BATCH_NEW && (o->b.csv == NULL || o->b.csv[0] == '\0'))
		return mf_error_set(err, MF_EINVAL, "batch new needs --csv FILE (the users)");
	if (o->cmd == CLI_CMD_BATCH_NEW && o->b.target != NULL && o->b.target[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "--target needs an endpoint name, or local");
	if (o->b.output != NULL && o->b.output[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "--output needs a file name");
	return 0;
}

/* The first word that is not an option (or an option's value). */
static int first_command_word(int argc, char **argv)
{
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1 < argc ? i + 1 : -1;
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			return i;
		if (cli_option_takes_value(argv[i]))
			i++;
	}
	return -1;
}

static int parse_nounverb(int argc, char **argv, struct cli_opts *o, struct mf_error *err)
{
	struct seen_opt *seen = xcalloc((size_t)argc + 1, sizeof(*seen));
	char **pos = xcalloc((size_t)argc + 1, sizeof(*pos));
	size_t nseen = 0, npos = 0, args_at = 0;
	struct mf_error tokerr = { 0 };
	bool version = false;
	int rc = 0;

	tokenize(argc, argv, seen, &nseen, pos, &npos, &tokerr);
	o->topic = pos; /* owned from here on */
	for (size_t i = 0; i < nseen; i++) {
		if (seen[i].opt->id == O_HELP)
			o->help = true;
		if (seen[i].opt->id == O_VERSION)
			version = true;
	}

	if (o->help && npos == 1 && noun_by_name(pos[0]) != NULL) {
		/* `endpoint --help`: the noun's help */
		o->cmd = CLI_CMD_NONE;
		o->topic_count = 1;
		goto out;
	}
	if (resolve_command(o, pos, npos, &args_at, err) < 0) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	o->topic_count = npos;
	if (o->cmd == CLI_CMD_HELP) {
		/* `help endpoint new`: the words after "help" */
		memmove(pos, pos + 1, (npos - 1) * sizeof(*pos));
		o->topic_count = npos - 1;
	}
	if (o->help)
		goto out; /* help wins over every other problem on the line */
	if (version && o->cmd == CLI_CMD_NONE)
		o->cmd = CLI_CMD_VERSION;
	if (tokerr.code != 0) {
		*err = tokerr;
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (o->cmd == CLI_CMD_NONE) {
		mf_error_set(err, MF_EINVAL, "no command given");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (o->cmd != CLI_CMD_HELP &&
	    check_positionals(o, pos + args_at, npos - args_at, err) < 0) {
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	o->set.accept_untrusted = -1;
	for (size_t i = 0; i < nseen; i++) {
		if (apply_option(o, &seen[i], err) < 0) {
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	if (check_combinations(o, err) < 0)
		rc = CLI_EXIT_USAGE;
out:
	if (o->help || rc != 0) {
		/* the globals still count for output (and --help's topic) */
		for (size_t i = 0; i < nseen; i++) {
			if (seen[i].opt->id == O_JSON)
				o->json = true;
		}
	}
	free(seen);
	return rc;
}

int cli_parse(int argc, char **argv, struct cli_opts *o, struct mf_error *err)
{
	int at;
	int rc;

	memset(o, 0, sizeof(*o));
	o->set.accept_untrusted = -1;
	mf_error_clear(err);
	at = first_command_word(argc, argv);
	if (at >= 0 && cli_cmdlet_lookup(argv[at]) != NULL) {
		o->cmdlet = cli_cmdlet_lookup(argv[at]);
		rc = cli_cmdlet_translate(argc, argv, at, &o->xargv, &o->xargc, err);
		if (rc != 0)
			return rc;
		return parse_nounverb(o->xargc, o->xargv, o, err);
	}
	return parse_nounverb(argc, argv, o, err);
}
