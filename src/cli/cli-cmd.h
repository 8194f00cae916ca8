/* cli-cmd.h: the commands, and the helpers they share (cli.c).
 *
 * Each command takes the parsed line and returns the process exit code
 * (docs/exit-codes.md). Results go to stdout; errors go to stderr as one
 * line "mailferry: ...", usage errors followed by "(see '... --help')".
 */
#ifndef MF_CLI_CMD_H
#define MF_CLI_CMD_H

#include <jansson.h>

#include "cli-args.h"
#include "engine/engine.h"
#include "store/store-batch.h"
#include "store/store.h"
#include "util/mf-error.h"

int cli_endpoint_new(const struct cli_opts *o);
int cli_endpoint_list(const struct cli_opts *o);
int cli_endpoint_show(const struct cli_opts *o);
int cli_endpoint_set(const struct cli_opts *o);
int cli_endpoint_remove(const struct cli_opts *o);
int cli_endpoint_test(const struct cli_opts *o);

int cli_batch_new(const struct cli_opts *o);     /* cli-batch-new.c */
int cli_batch_list(const struct cli_opts *o);    /* cli-batch.c ... */
int cli_batch_show(const struct cli_opts *o);
int cli_batch_stop(const struct cli_opts *o);
int cli_batch_remove(const struct cli_opts *o);
int cli_batch_report(const struct cli_opts *o);
int cli_batch_start(const struct cli_opts *o);
int cli_batch_complete(const struct cli_opts *o);
int cli_batch_set(const struct cli_opts *o);     /* cli-batch-set.c */
int cli_serve(const struct cli_opts *o);         /* cli-serve.c */
int cli_user_list(const struct cli_opts *o);     /* cli-user.c */
int cli_user_show(const struct cli_opts *o);

/* `autodiscover EMAIL` (cli-autodiscover.c): exit 0 when settings were
 * chosen, 30 when nothing usable was found, 31 when only candidates that
 * need --allow-untrusted-candidates were; 2 for a malformed address. */
int cli_autodiscover(const struct cli_opts *o);

/* The discovery step of `endpoint new --autodiscover`: discover the
 * settings of o->set.email_address and fill the unset fields of ep (what
 * the line gave wins). admin_pw (may be NULL) goes to POX with
 * ep->admin_user. Prints what was discovered (not with --json). Returns 0
 * with *doc_r set to the discovery document (the caller decrefs), or the
 * exit code after saying why on stderr: 2 (malformed address), 30 or 31
 * (nothing chosen: the failure text, and the document on stdout with
 * --json), 1. */
int cli_autodiscover_endpoint(const struct cli_opts *o, struct store_endpoint *ep,
			      const char *admin_pw, json_t **doc_r);

/* Run the batch name in the foreground (cli-batch-run.c): engine_batch_run
 * (`batch start --wait`: the initial sync, or an incremental sync of a
 * synced batch), or with complete engine_batch_complete (`batch complete
 * --wait`). Progress on stdout (none with --json, which prints the report
 * at the end), Ctrl-C stops it cleanly. Returns 0 when the batch ends
 * Synced (not with complete) or Completed, 1 when it ends otherwise
 * (SyncedWithErrors, Failed, Stopped, CompletedWithErrors...), or the code
 * of a refusal (cli_run_refused()). */
int cli_batch_run_wait(const struct cli_opts *o, struct store *st, const char *name,
		       bool complete);

/* Print the engine's refusal of a run and return its exit code: 3 unknown,
 * 4 run by another process or a status that does not allow it, 20
 * endpoint type, 5 state, else 1. */
int cli_run_refused(int rc, const struct mf_error *err);

/* The tuning options of the line (--io-timeout, --reconnects, --retry-max,
 * --throttle-budget) and the test opener, into eo. */
void cli_engine_tuning(const struct cli_opts *o, struct engine_opts *eo);

/* The schedule options of `batch new` and `batch set` (--incremental-
 * interval, --[no-]sync-deletes, --[no-]auto-complete, --start-after,
 * --complete-after, the item limits) that the line gives, into opt
 * (cli-batch-set.c). */
void cli_batch_apply_options(const struct cli_opts *o, struct store_batch_options *opt);

/* For tests: the opener the engine uses for runs started by this process
 * (NULL: the real drivers). */
void cli_batch_set_test_opener(engine_open_fn *open, void *ctx);

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
