/* cli-args.c: the noun-verb parser: the command words and the parse.
 *
 * One table (cli-options.c) lists every option of every command. The line
 * is read in two
 * steps: the words are split into options (with their values) and
 * positionals, which name the command; then each option is checked against
 * the command and stored. That order lets global options stand anywhere and
 * lets an error name the command in its hint.
 */
#include "cli-args-private.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xmalloc.h"

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
	{ "set", CLI_CMD_BATCH_SET, 1, 1, "a NAME" },
	{ "complete", CLI_CMD_BATCH_COMPLETE, 1, 1, "a NAME" },
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
	{ "batch", cli_batch_verbs, "new, list, show, set, start, complete, stop, remove or report" },
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

const char *const cli_cmd_labels[CLI_CMD_COUNT] = {
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
	[CLI_CMD_BATCH_SET] = "batch set",
	[CLI_CMD_BATCH_COMPLETE] = "batch complete",
	[CLI_CMD_SERVE] = "serve",
};
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
				opt = cli_option_by_short(*c);
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
				seen[(*nseen)++] = (struct seen_opt){ cli_option_by_short(*c), w, NULL };
			continue;
		}

		const char *eq = strchr(w + 2, '=');
		size_t len = eq != NULL ? (size_t)(eq - (w + 2)) : strlen(w + 2);

		opt = cli_option_by_long(w + 2, len);
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
	if (strcmp(pos[0], "serve") == 0) {
		o->cmd = CLI_CMD_SERVE;
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

	if (o->cmd == CLI_CMD_VERSION || o->cmd == CLI_CMD_SERVE) {
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
		if (cli_option_apply(o, &seen[i], err) < 0) {
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	if (cli_options_check(o, err) < 0)
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
