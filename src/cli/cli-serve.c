/* cli-serve.c: `mailferry serve [--once] [--tick DURATION]`: the scheduler
 * (engine_serve()) in the foreground. For now only the scheduler: the web
 * admin center and the REST API come later.
 *
 * It runs what `batch start` / `batch complete` without --wait queued,
 * Created batches with --auto-start or whose --start-after came, the
 * incremental syncs every --incremental-interval, --complete-after and
 * --auto-complete completions. One line per event on stderr (the format of
 * `batch start --wait` without a terminal, each user named with its batch);
 * nothing on stdout.
 *
 * SIGTERM / SIGINT: the handler only sets cli_sigwatch_flag (and wakes the
 * watcher thread, which logs); engine_serve() reads the flag every tick,
 * starts nothing new, lets the users in flight stop between messages and
 * puts them back for the next serve: exit 0. A second signal quits at once
 * (exit 130); the message map makes that safe to resume.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli-cmd.h"
#include "cli-progress.h"
#include "cli-signal.h"
#include "engine/engine.h"

/* In the watcher thread. */
static void serve_signal(void *ctx, int n)
{
	struct cli_progress *p = ctx;

	if (n > 1) {
		fputs("mailferry: serve: quitting at once; the next serve resumes what ran\n",
		      stderr);
		_exit(CLI_EXIT_INTERRUPTED);
	}
	cli_progress_line(p, "serve: stopping: nothing new starts, the users in flight finish "
			  "the messages they hold and are resumed by the next serve (signal "
			  "again to quit at once)");
}

int cli_serve(const struct cli_opts *o)
{
	char *dir = store_default_data_dir(o->data_dir);
	char *key = store_default_key_file(dir);
	struct engine_serve_opts so = { 0 };
	struct engine_progress_cb cb;
	struct mf_error err = { 0 };
	struct cli_sigwatch watch;
	struct cli_progress *p = cli_progress_new(stderr, false, 0, 0);
	char tick[32];
	int rc;

	cli_progress_set_batch_prefix(p, true);
	cb = cli_progress_callbacks(p);
	cli_engine_tuning(o, &so.run);
	so.run.key_file = key;
	so.run.trace = o->trace ? stderr : NULL;
	so.run.progress = &cb;
	so.tick_ms = o->b.tick_ms;
	so.once = o->b.once;
	if (o->b.tick_ms % 1000 != 0)
		snprintf(tick, sizeof(tick), "%dms", o->b.tick_ms);
	else
		cli_fmt_duration(o->b.tick_ms > 0 ? o->b.tick_ms / 1000 : 1, tick);

	cli_progress_line(p, "serve: scheduler started on %s (tick %s; %s); the web admin center "
			  "and REST API come later", dir, tick,
			  o->b.once ? "--once: until nothing runs and nothing is due"
				    : "SIGTERM or Ctrl-C stops it");
	cli_sigwatch_start(&watch, serve_signal, p);
	rc = engine_serve(dir, &so, &cli_sigwatch_flag, &err);
	cli_sigwatch_end(&watch);
	if (rc != 0) {
		cli_error("serve: %s", err.msg);
		rc = cli_exit_for(rc);
	} else {
		cli_progress_line(p, "serve: %s", o->b.once && !cli_sigwatch_flag
					  ? "nothing runs and nothing is due (--once): done"
					  : "stopped");
	}
	cli_progress_free(&p);
	free(key);
	free(dir);
	return rc;
}
