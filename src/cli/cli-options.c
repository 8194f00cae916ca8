/* cli-options.c: every option of the noun-verb commands, in one table, and
 * what each one does to struct cli_opts (cli-args-private.h); the checks
 * that involve more than one option. */
#include "cli-args-private.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#define CMD(c) (1u << (c))
#define CMDS_ALL 0xffffffffu
#define CMDS_SETTINGS (CMD(CLI_CMD_EP_NEW) | CMD(CLI_CMD_EP_SET) | CMD(CLI_CMD_EP_TEST))
/* Options the autodiscover command shares with the endpoint commands. */
#define CMDS_SETTINGS_AD (CMDS_SETTINGS | CMD(CLI_CMD_AUTODISCOVER))
#define CMDS_DISCOVER (CMD(CLI_CMD_EP_NEW) | CMD(CLI_CMD_AUTODISCOVER))
/* The options of a batch that `batch set` can change. */
#define CMDS_BATCH_OPT (CMD(CLI_CMD_BATCH_NEW) | CMD(CLI_CMD_BATCH_SET))
/* Commands that run batches here: the tuning of their runs. */
#define CMDS_RUN (CMD(CLI_CMD_BATCH_NEW) | CMD(CLI_CMD_BATCH_START) |                   \
		  CMD(CLI_CMD_BATCH_COMPLETE) | CMD(CLI_CMD_SERVE))

#define MS_SECOND 1000LL
#define MS_DAY (86400LL * MS_SECOND)

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
	{ "bad-item-limit", 0, O_BAD_ITEM_LIMIT, ARG_STR, false, CMDS_BATCH_OPT, 0, 0 },
	{ "large-item-limit", 0, O_LARGE_ITEM_LIMIT, ARG_STR, false, CMDS_BATCH_OPT, 0, 0 },
	{ "max-message-size", 0, O_MAX_MESSAGE_SIZE, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0,
	  0 },
	{ "received-after", 0, O_RECEIVED_AFTER, ARG_STR, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "auto-start", 0, O_AUTO_START, ARG_NONE, false, CMD(CLI_CMD_BATCH_NEW), 0, 0 },
	{ "wait", 0, O_WAIT, ARG_NONE, false,
	  CMD(CLI_CMD_BATCH_START) | CMD(CLI_CMD_BATCH_COMPLETE), 0, 0 },
	{ "format", 0, O_FORMAT, ARG_STR, false, CMD(CLI_CMD_BATCH_REPORT), 0, 0 },
	{ "output", 0, O_OUTPUT, ARG_STR, false, CMD(CLI_CMD_BATCH_REPORT), 0, 0 },
	{ "batch", 0, O_BATCH, ARG_STR, false, CMD(CLI_CMD_USER_LIST), 0, 0 },
	{ "skipped-items", 0, O_SKIPPED_ITEMS, ARG_NONE, false, CMD(CLI_CMD_USER_SHOW), 0, 0 },
	{ "autodiscover", 0, O_AUTODISCOVER, ARG_NONE, false, CMD(CLI_CMD_EP_NEW), 0, 0 },
	{ "protocol", 0, O_PROTOCOL, ARG_STR, false, CMDS_DISCOVER, 0, 0 },
	{ "allow-untrusted-candidates", 0, O_ALLOW_UNTRUSTED_CANDS, ARG_NONE, false, CMDS_DISCOVER,
	  0, 0 },
	{ "incremental-interval", 0, O_INCREMENTAL_INTERVAL, ARG_STR, false, CMDS_BATCH_OPT, 0,
	  0 },
	{ "connections-per-user", 0, O_CONNECTIONS, ARG_NUM, false, CMDS_BATCH_OPT, 1, 16 },
	{ "sync-deletes", 0, O_SYNC_DELETES, ARG_NONE, false, CMDS_BATCH_OPT, 0, 0 },
	{ "no-sync-deletes", 0, O_NO_SYNC_DELETES, ARG_NONE, false, CMDS_BATCH_OPT, 0, 0 },
	{ "auto-complete", 0, O_AUTO_COMPLETE, ARG_NONE, false, CMDS_BATCH_OPT, 0, 0 },
	{ "no-auto-complete", 0, O_NO_AUTO_COMPLETE, ARG_NONE, false, CMDS_BATCH_OPT, 0, 0 },
	{ "start-after", 0, O_START_AFTER, ARG_STR, false, CMDS_BATCH_OPT, 0, 0 },
	{ "complete-after", 0, O_COMPLETE_AFTER, ARG_STR, false, CMDS_BATCH_OPT, 0, 0 },
	{ "once", 0, O_ONCE, ARG_NONE, false, CMD(CLI_CMD_SERVE), 0, 0 },
	{ "tick", 0, O_TICK, ARG_STR, false, CMD(CLI_CMD_SERVE), 0, 0 },
	{ "io-timeout", 0, O_IO_TIMEOUT, ARG_STR, false, CMDS_RUN, 0, 0 },
	{ "reconnects", 0, O_RECONNECTS, ARG_NUM, false, CMDS_RUN, 0, 1000 },
	{ "retry-max", 0, O_RETRY_MAX, ARG_STR, false, CMDS_RUN, 0, 0 },
	{ "throttle-budget", 0, O_THROTTLE_BUDGET, ARG_NUM, false, CMDS_RUN, 0, 100000 },
};

#define N_OPTIONS (sizeof(cli_options) / sizeof(cli_options[0]))

const char cli_argv_password_msg[] =
	"passwords are not accepted on the command line (other users can read it there); "
	"use --password-stdin, --password-file FILE, or run on a terminal to be asked";

const struct cli_option *cli_option_by_long(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (strlen(cli_options[i].name) == len &&
		    strncmp(cli_options[i].name, name, len) == 0)
			return &cli_options[i];
	}
	return NULL;
}

const struct cli_option *cli_option_by_short(char c)
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
	opt = cli_option_by_long(word + 2, strlen(word + 2));
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

/* The options of issue 4: a batch's schedule, serve, the tuning of runs. */
static int apply_run_option(struct cli_opts *o, enum opt_id id, const char *label,
			    const char *value, int num, struct mf_error *err)
{
	struct cli_batch_args *b = &o->b;
	struct cli_tuning *t = &o->tune;
	long long ms = 0;
	int rc = 0;

	switch (id) {
	case O_INCREMENTAL_INTERVAL:
		rc = cli_parse_duration(label, value, MS_SECOND, 365 * MS_DAY, &ms, err);
		b->incremental_interval = ms / MS_SECOND;
		break;
	case O_CONNECTIONS: b->connections_per_user = num; break;
	case O_SYNC_DELETES: b->sync_deletes = CLI_TRI_ON; break;
	case O_NO_SYNC_DELETES: b->sync_deletes = CLI_TRI_OFF; break;
	case O_AUTO_COMPLETE: b->auto_complete = CLI_TRI_ON; break;
	case O_NO_AUTO_COMPLETE: b->auto_complete = CLI_TRI_OFF; break;
	case O_START_AFTER:
		rc = cli_parse_when(label, value, o->cmd == CLI_CMD_BATCH_SET, &b->start_after,
				    err);
		break;
	case O_COMPLETE_AFTER:
		rc = cli_parse_when(label, value, o->cmd == CLI_CMD_BATCH_SET,
				    &b->complete_after, err);
		break;
	case O_ONCE: b->once = true; return 0;
	case O_TICK:
		rc = cli_parse_duration(label, value, 10, 3600 * MS_SECOND, &ms, err);
		b->tick_ms = (int)ms;
		return rc;
	case O_IO_TIMEOUT:
		rc = cli_parse_duration(label, value, 100, 3600 * MS_SECOND, &ms, err);
		t->io_timeout_ms = (int)ms;
		t->any = true;
		return rc;
	case O_RETRY_MAX:
		rc = cli_parse_duration(label, value, 1, MS_DAY, &ms, err);
		t->retry_max_ms = (int)ms;
		t->any = true;
		return rc;
	case O_RECONNECTS:
		t->reconnects = num > 0 ? num : -1;
		t->any = true;
		return 0;
	case O_THROTTLE_BUDGET:
		t->throttle_budget = num > 0 ? num : -1;
		t->any = true;
		return 0;
	default:
		return 0;
	}
	b->any_batch_option = true;
	return rc;
}

/* Store one option, checked against the command. */
int cli_option_apply(struct cli_opts *o, const struct seen_opt *s, struct mf_error *err)
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
		b->any_batch_option = b->bad_item_limit_given = true;
		return cli_parse_limit(label, s->value, &b->bad_item_limit, err);
	case O_LARGE_ITEM_LIMIT:
		b->any_batch_option = b->large_item_limit_given = true;
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
	default: return apply_run_option(o, opt->id, label, s->value, num, err);
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

/* batch set needs something to change; the tuning of a run needs a run in
 * this process. */
static int check_run_options(const struct cli_opts *o, struct mf_error *err)
{
	bool cmdlet = o->cmdlet != NULL;

	if (o->cmd == CLI_CMD_BATCH_SET && !o->b.any_batch_option)
		return mf_error_set(err, MF_EINVAL, "batch set needs an option to change: "
				    "--incremental-interval, --[no-]sync-deletes, "
				    "--[no-]auto-complete, --start-after, --complete-after, "
				    "--bad-item-limit or --large-item-limit");
	if (!o->tune.any)
		return 0;
	if ((o->cmd == CLI_CMD_BATCH_START || o->cmd == CLI_CMD_BATCH_COMPLETE) && !o->b.wait)
		return mf_error_set(err, MF_EINVAL, "--io-timeout, --reconnects, --retry-max and "
				    "--throttle-budget tune a run in this process: add %s (a batch "
				    "queued for 'mailferry serve' runs with the options of serve)",
				    cmdlet ? "-Wait" : "--wait");
	if (o->cmd == CLI_CMD_BATCH_NEW && !o->b.auto_start)
		return mf_error_set(err, MF_EINVAL, "--io-timeout, --reconnects, --retry-max and "
				    "--throttle-budget tune a run in this process: use them with "
				    "%s", cmdlet ? "-AutoStart" : "--auto-start");
	return 0;
}

/* Checks that involve more than one option. */
int cli_options_check(const struct cli_opts *o, struct mf_error *err)
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
	return check_run_options(o, err);
}
