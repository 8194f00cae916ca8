/* cli-cmd.h: the commands, and the helpers they share (cli.c).
 *
 * Each command takes the parsed line and returns the process exit code
 * (docs/exit-codes.md). Results go to stdout; errors go to stderr as one
 * line "mailferry: ...", usage errors followed by "(see '... --help')".
 */
#ifndef MF_CLI_CMD_H
#define MF_CLI_CMD_H

#include "cli-args.h"
#include "store/store.h"
#include "util/mf-error.h"

int cli_endpoint_new(const struct cli_opts *o);
int cli_endpoint_list(const struct cli_opts *o);
int cli_endpoint_show(const struct cli_opts *o);
int cli_endpoint_set(const struct cli_opts *o);
int cli_endpoint_remove(const struct cli_opts *o);
int cli_endpoint_test(const struct cli_opts *o);

/* "mailferry: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same plus the hint line; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The exit code for an MF_E* code from the store: not found 3, exists or
 * busy 4, I/O 5, anything else 1. */
int cli_exit_for(int code);

/* Open the store in the data directory of the line. On failure prints the
 * reason and returns CLI_EXIT_STATE. */
int cli_store_open(const struct cli_opts *o, struct store **st_r);

/* The spelling of an option for messages: the noun-verb name, or the
 * cmdlet parameter when the line was a cmdlet. */
const char *cli_opt_name(const struct cli_opts *o, const char *option, const char *param);

#endif
