/* cli-signal.h: SIGINT and SIGTERM for the commands that run for a while
 * (batch start --wait, batch complete --wait, serve).
 *
 * cli_sigwatch_start() blocks both signals in the calling thread, and so
 * in every thread it creates later (the engine's workers, which then never
 * see EINTR), and starts a watcher thread, the only one that takes them.
 * The handler is async-signal-safe: it sets cli_sigwatch_flag and writes
 * the signal number into a pipe (write(2)). The watcher reads the pipe and
 * calls fn(ctx, n) with n = 1 for the first signal, 2 for the second, ...
 * (a signal within a second of the one before does not count: a SIGTERM
 * sent to the process and then to its group is one request);
 * fn runs in the watcher thread, so it may lock, print, open a store.
 * One watcher per process at a time.
 */
#ifndef MF_CLI_SIGNAL_H
#define MF_CLI_SIGNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#define CLI_EXIT_INTERRUPTED 130 /* a second signal: quit at once */

typedef void cli_sigwatch_fn(void *ctx, int n);

struct cli_sigwatch {
	pthread_t thread;
	int pipe[2];
	bool running;
	cli_sigwatch_fn *fn;
	void *ctx; /* foreign */
	struct sigaction old_int, old_term;
	sigset_t old_mask;
};

/* Non-zero once SIGINT or SIGTERM came (cleared by cli_sigwatch_start());
 * for engine_serve()'s stop flag. */
extern volatile sig_atomic_t cli_sigwatch_flag;

/* Start watching. When the pipe or the thread cannot be made, nothing is
 * changed (w->running false) and the signals keep their default action. */
void cli_sigwatch_start(struct cli_sigwatch *w, cli_sigwatch_fn *fn, void *ctx);
/* Stop watching: the thread is joined (fn is not called after this), the
 * handlers and the signal mask are put back. */
void cli_sigwatch_end(struct cli_sigwatch *w);

#endif
