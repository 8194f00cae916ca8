/* cli-args.h: the parsed command line, and the parsers that fill it.
 *
 * Both command forms end in one struct cli_opts: a noun-verb line is parsed
 * directly; an Exchange cmdlet line (New-MigrationEndpoint ...) is first
 * translated into the equivalent noun-verb argument vector
 * (cli_cmdlet_translate) and then parsed by the same parser, so the commands
 * have one code path.
 *
 * Every string in struct cli_opts is foreign: it points into the argument
 * vector given to cli_parse() (or into the translated vector, which the
 * struct owns) and lives until cli_opts_free().
 */
#ifndef MF_CLI_ARGS_H
#define MF_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/mf-error.h"

/* Process exit codes (docs/exit-codes.md). Connection test failures are
 * CONNTEST_EXIT_BASE + stage (10-17). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_NOTFOUND = 3,
	CLI_EXIT_CONFLICT = 4,
	CLI_EXIT_STATE = 5,
	CLI_EXIT_UNSUPPORTED = 20,
	CLI_EXIT_NOT_DISCOVERED = 30,       /* autodiscover: nothing usable */
	CLI_EXIT_NEEDS_CONFIRMATION = 31,   /* autodiscover: only candidates that
					     * need --allow-untrusted-candidates */
};

enum cli_cmd {
	CLI_CMD_NONE = 0,
	CLI_CMD_HELP,
	CLI_CMD_VERSION,
	CLI_CMD_EP_NEW,
	CLI_CMD_EP_LIST,
	CLI_CMD_EP_SHOW,
	CLI_CMD_EP_SET,
	CLI_CMD_EP_REMOVE,
	CLI_CMD_EP_TEST,
	CLI_CMD_BATCH_NEW,
	CLI_CMD_BATCH_LIST,
	CLI_CMD_BATCH_SHOW,
	CLI_CMD_BATCH_START,
	CLI_CMD_BATCH_STOP,
	CLI_CMD_BATCH_REMOVE,
	CLI_CMD_BATCH_REPORT,
	CLI_CMD_USER_LIST,
	CLI_CMD_USER_SHOW,
	CLI_CMD_AUTODISCOVER,
	CLI_CMD_BATCH_SET,
	CLI_CMD_BATCH_COMPLETE,
	CLI_CMD_SERVE,
	CLI_CMD_COUNT
};

/* Endpoint settings given on the line. NULL (strings), 0 (numbers) or -1
 * (accept_untrusted) mean "not given". An empty admin_user means "remove
 * the administrator" (endpoint set). */
struct cli_settings {
	const char *type;
	const char *server;
	int port;
	const char *security;
	const char *auth;
	const char *admin_user;
	const char *impersonation;
	const char *master_separator;
	int accept_untrusted;
	int max_migrations;
	int max_incremental;
	const char *exchange_server;
	const char *rpc_proxy_server;
	const char *email_address;
	const char *mailbox_permission;
};

/* A switch with a --no- form (batch set): not given, on, off. */
enum cli_tri {
	CLI_TRI_UNSET = 0,
	CLI_TRI_ON = 1,
	CLI_TRI_OFF = -1,
};

/* Options of the batch and user commands. Numbers are parsed (and
 * checked) by the parser; 0 means "not given" for each of them, which is
 * also the default of each. */
struct cli_batch_args {
	const char *source;           /* --source EP */
	const char *target;           /* --target EP|local; NULL = local */
	const char *csv;              /* --csv FILE ("-": standard input) */
	const char **exclude;         /* owned array of foreign strings */
	size_t nexclude;
	const char **include;         /* owned array of foreign strings */
	size_t ninclude;
	long long bad_item_limit;     /* >= 0, or -1 for "unlimited" */
	long long large_item_limit;   /* >= 0, or -1 for "unlimited" */
	bool bad_item_limit_given;    /* (batch set: 0 is a value too) */
	bool large_item_limit_given;
	long long max_message_size;   /* bytes, 0 = none */
	long long received_after;     /* unix time, 0 = none */
	bool auto_start;
	bool wait;                    /* batch start / complete --wait */
	long long incremental_interval; /* seconds, 0 = not given */
	int connections_per_user;     /* 1..16, 0 = not given */
	enum cli_tri sync_deletes;    /* --[no-]sync-deletes */
	enum cli_tri auto_complete;   /* --[no-]auto-complete */
	long long start_after;        /* unix time; 0 = not given, -1 = none */
	long long complete_after;     /* the same */
	bool any_batch_option;        /* batch set: something to change */
	const char *format;           /* batch report: "csv", "json"; NULL = csv
				       * (json with --json) */
	const char *output;           /* batch report --output FILE */
	const char *batch;            /* user list --batch NAME */
	bool skipped_items;           /* user show --skipped-items */
	bool once;                    /* serve --once */
	int tick_ms;                  /* serve --tick, 0 = default */
};

/* Tuning of a run (batch start / complete --wait, batch new --auto-start,
 * serve), mapped onto struct engine_opts; 0 means "the engine's
 * default". */
struct cli_tuning {
	int io_timeout_ms;           /* --io-timeout */
	int retry_max_ms;            /* --retry-max */
	int reconnects;              /* --reconnects: reconnect_budget, -1 = none */
	int throttle_budget;         /* --throttle-budget: -1 = none */
	bool any;                    /* at least one was given */
};

struct cli_opts {
	enum cli_cmd cmd;

	/* global options */
	const char *data_dir;
	const char *dns_server;
	bool json;
	bool trace;
	bool help;
	int verbose;                 /* number of -v */

	/* command arguments */
	const char *name;            /* endpoint or batch NAME, user EMAIL (or
				      * cmdlet Identity) */
	struct cli_settings set;
	bool any_setting;            /* at least one setting was given */
	bool skip_verification;
	const char *test_mailbox;
	int timeout_s;               /* 0 = default; seconds per test stage, or
				      * per autodiscover request */
	bool password_stdin;
	const char *password_file;
	struct cli_batch_args b;
	struct cli_tuning tune;

	/* autodiscover EMAIL (name holds EMAIL), endpoint new --autodiscover */
	bool autodiscover;           /* endpoint new --autodiscover */
	const char *protocol;        /* --protocol imap|exchange|any, or NULL */
	bool allow_untrusted_cands;  /* --allow-untrusted-candidates */

	/* `help WORDS...` / `--help`: the topic words (into the vector). */
	char **topic;
	size_t topic_count;

	/* The cmdlet the line was written as (canonical spelling), or NULL.
	 * Hints then name the cmdlet instead of the noun-verb command. */
	const char *cmdlet;

	/* owned: the translated vector of a cmdlet line (strings owned too) */
	char **xargv;
	int xargc;
};

/* Parse the arguments after the program name (argv[0] is the first word).
 * Returns 0 and fills *o, or CLI_EXIT_USAGE with the one-line reason in
 * err->msg (without the "mailferry: " prefix). With --help on the line the
 * parse succeeds (o->help) as long as the command words are known. Call
 * cli_opts_free() in both cases. */
int cli_parse(int argc, char **argv, struct cli_opts *o, struct mf_error *err);
void cli_opts_free(struct cli_opts *o);

/* The command as typed, for messages: "endpoint new", or the cmdlet name. */
const char *cli_cmd_label(const struct cli_opts *o);
/* The hint printed after a usage error, without parentheses:
 * "see 'mailferry endpoint new --help'" or "see 'mailferry help'". */
void cli_usage_hint(const struct cli_opts *o, char *out, size_t outlen);

/* True if the long option (with leading "--", optionally "=value") exists
 * and takes a value in the next word. */
bool cli_option_takes_value(const char *word);

/* Parse a whole decimal number in [min, max] for option opt. Returns 0 or
 * MF_EINVAL ("--port: 'x' is not a number", "--port must be 1-65535"). */
int cli_parse_int(const char *opt, const char *s, long min, long max, int *out,
		  struct mf_error *err);

/* ---- option values (cli-values.c) ------------------------------------- */

/* An item limit: a whole number 0-2147483647, or "unlimited" (any case)
 * which gives -1. MF_EINVAL naming opt. */
int cli_parse_limit(const char *opt, const char *s, long long *out, struct mf_error *err);
/* A size in bytes, 1 or more: digits with an optional suffix K, M or G
 * (any case; powers of 1024), at most 1 TiB. MF_EINVAL naming opt. */
int cli_parse_size(const char *opt, const char *s, long long *out, struct mf_error *err);
/* A date, "YYYY-MM-DD" (midnight UTC), or an RFC 3339 time
 * "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" ('t' or ' ' for 'T', 'z'
 * for 'Z'), as unix seconds; years 1970-9999. MF_EINVAL naming opt. */
int cli_parse_date(const char *opt, const char *s, long long *out, struct mf_error *err);
/* A duration: a whole number of seconds ("86400"), or numbers with units
 * ms, s, m, h, d (any case), which may follow each other ("30m", "24h",
 * "1d", "1h30m", "500ms"). *out_ms in [min_ms, max_ms], else MF_EINVAL
 * naming opt ("--x must be 1s to 365d"). */
int cli_parse_duration(const char *opt, const char *s, long long min_ms, long long max_ms,
		       long long *out_ms, struct mf_error *err);
/* A point in time for a schedule: "now", a date or an RFC 3339 time (as
 * cli_parse_date()), and with allow_none "none", which gives -1. */
int cli_parse_when(const char *opt, const char *s, bool allow_none, long long *out,
		   struct mf_error *err);
/* A duration as text, in its largest exact units: "1d", "2h30m", "45s",
 * "0s". */
void cli_fmt_duration(long long seconds, char out[32]);

/* ---- cmdlets (cli-cmdlet.c) ------------------------------------------- */

/* The canonical name of a cmdlet (case-insensitive match), or NULL. */
const char *cli_cmdlet_lookup(const char *word);

/* Translate a cmdlet line into a noun-verb vector. argv holds every word
 * after the program name; argv[cmdlet_at] is the cmdlet name. Words before
 * and after it that start with "--" (global options, with their values)
 * are copied through. On success returns 0 and a malloc'd vector of
 * malloc'd strings (*xargv_r, *xargc_r; free with cli_argv_free()).
 * Returns CLI_EXIT_USAGE with err set for an unknown parameter, a missing
 * argument, a value outside a parameter's set, or an argv password. */
int cli_cmdlet_translate(int argc, char **argv, int cmdlet_at, char ***xargv_r,
			 int *xargc_r, struct mf_error *err);
void cli_argv_free(char **argv, int argc);

/* The message for a password given on the command line (exit 2). */
extern const char cli_argv_password_msg[];

#endif
