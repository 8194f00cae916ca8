/* cli-args-private.h: what the two halves of the noun-verb parser share:
 * cli-args.c (words, commands, the parse) and cli-options.c (the table of
 * options and what each one does). Not for the commands. */
#ifndef MF_CLI_ARGS_PRIVATE_H
#define MF_CLI_ARGS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "cli-args.h"
#include "util/mf-error.h"

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
	O_INCREMENTAL_INTERVAL,
	O_CONNECTIONS,
	O_SYNC_DELETES,
	O_NO_SYNC_DELETES,
	O_AUTO_COMPLETE,
	O_NO_AUTO_COMPLETE,
	O_START_AFTER,
	O_COMPLETE_AFTER,
	O_ONCE,
	O_TICK,
	O_IO_TIMEOUT,
	O_RECONNECTS,
	O_RETRY_MAX,
	O_THROTTLE_BUDGET,
};

enum opt_arg { ARG_NONE, ARG_STR, ARG_NUM };

struct cli_option {
	const char *name;     /* without the leading "--" */
	char short_name;      /* 0 when none */
	enum opt_id id;
	enum opt_arg arg;
	bool setting;         /* an endpoint setting */
	unsigned cmds;        /* commands that accept it (bit per enum cli_cmd) */
	long min, max;        /* ARG_NUM range */
};

/* One option occurrence found by the tokenizer. */
struct seen_opt {
	const struct cli_option *opt;
	const char *word;   /* as typed, for messages */
	const char *value;  /* NULL for ARG_NONE */
};

/* "endpoint new", ... by enum cli_cmd (cli-args.c). */
extern const char *const cli_cmd_labels[CLI_CMD_COUNT];

/* The option called name (len bytes, without "--"), or by its one-letter
 * name; NULL when there is none. */
const struct cli_option *cli_option_by_long(const char *name, size_t len);
const struct cli_option *cli_option_by_short(char c);

/* Store one option, checked against o->cmd. 0 or MF_EINVAL with err. */
int cli_option_apply(struct cli_opts *o, const struct seen_opt *s, struct mf_error *err);

/* Checks that involve more than one option. 0 or MF_EINVAL with err. */
int cli_options_check(const struct cli_opts *o, struct mf_error *err);

#endif
