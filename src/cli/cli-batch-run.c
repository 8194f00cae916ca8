/* cli-batch-run.c: `batch start NAME --wait` (and `batch new --auto-start`):
 * the batch runs in this process, in the foreground, with a progress
 * display, until every user has ended or a stop was asked for.
 *
 * Ctrl-C: SIGINT and SIGTERM are blocked in every thread but one, the
 * stopper, so the engine's workers never see EINTR. The stopper's handler
 * only writes the signal number into a pipe (write(2) is
 * async-signal-safe); the stopper thread reads it and asks for the stop
 * like `batch stop` from another shell would (engine_batch_request_stop()
 * on its own store handle): the engine sees Stopping within 0.2 s and ends
 * each user cleanly. A second signal quits at once (exit 130); the message
 * map makes that safe to resume.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "cli-cmd.h"
#include "cli-output.h"
#include "cli-progress.h"
#include "engine/engine.h"
#include "store/store-batch.h"
#include "util/xmalloc.h"

#define CLI_EXIT_INTERRUPTED 130

static engine_open_fn *cli_test_open;
static void *cli_test_open_ctx;

void cli_batch_set_test_opener(engine_open_fn *open, void *ctx)
{
	cli_test_open = open;
	cli_test_open_ctx = ctx;
}

/* ---- the stopper ------------------------------------------------------------ */

/* The write end of the stopper's pipe, for the handler. One run at a time
 * per process. */
static volatile sig_atomic_t stopper_fd = -1;

static void stopper_signal(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	if (stopper_fd >= 0)
		(void)!write(stopper_fd, &c, 1);
	errno = saved;
}

struct stopper {
	pthread_t thread;
	int pipe[2];
	bool running;
	const char *data_dir; /* foreign */
	const char *key_file; /* foreign */
	const char *batch;    /* foreign */
	const char *how;      /* the command that stops it from elsewhere */
	struct cli_progress *progress;
	struct sigaction old_int, old_term;
	sigset_t old_mask;
};

static void stopper_request(struct stopper *s)
{
	struct mf_error err = { 0 };
	struct store *st = NULL;

	cli_progress_stopping(s->progress);
	cli_progress_note(s->progress, "stopping batch %s: finishing the messages in flight "
			  "(press Ctrl-C again to quit at once)", s->batch);
	if (store_open(s->data_dir, s->key_file, &st, &err) == 0)
		engine_batch_request_stop(st, s->data_dir, s->batch, &err);
	store_close(&st);
	if (err.code != 0)
		cli_progress_note(s->progress, "cannot stop batch %s: %s", s->batch, err.msg);
}

static void *stopper_main(void *arg)
{
	struct stopper *s = arg;
	sigset_t set;
	int signals = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		unsigned char c;
		ssize_t n = read(s->pipe[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == 0)
			break;
		if (++signals == 1) {
			stopper_request(s);
		} else {
			cli_progress_end(s->progress);
			fputs("mailferry: quitting at once; start the batch again to resume it\n",
			      stderr);
			_exit(CLI_EXIT_INTERRUPTED);
		}
	}
	/* No signal is taken here after this point. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return NULL;
}

static void stopper_start(struct stopper *s)
{
	struct sigaction sa;
	sigset_t set;

	if (pipe(s->pipe) != 0) {
		s->running = false;
		return;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &s->old_mask);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stopper_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	stopper_fd = s->pipe[1];
	sigaction(SIGINT, &sa, &s->old_int);
	sigaction(SIGTERM, &sa, &s->old_term);
	s->running = pthread_create(&s->thread, NULL, stopper_main, s) == 0;
	if (!s->running) {
		sigaction(SIGINT, &s->old_int, NULL);
		sigaction(SIGTERM, &s->old_term, NULL);
		pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
		stopper_fd = -1;
		close(s->pipe[0]);
		close(s->pipe[1]);
	}
}

static void stopper_end(struct stopper *s)
{
	unsigned char quit = 0;

	if (!s->running)
		return;
	while (write(s->pipe[1], &quit, 1) < 0 && errno == EINTR)
		;
	pthread_join(s->thread, NULL);
	stopper_fd = -1;
	sigaction(SIGINT, &s->old_int, NULL);
	sigaction(SIGTERM, &s->old_term, NULL);
	pthread_sigmask(SIG_SETMASK, &s->old_mask, NULL);
	close(s->pipe[0]);
	close(s->pipe[1]);
}

/* ---- the run ------------------------------------------------------------------- */

static int run_failed(int rc, const struct mf_error *err)
{
	cli_error("%s", err->msg);
	switch (rc) {
	case MF_ENOTFOUND: return CLI_EXIT_NOTFOUND;
	case MF_EBUSY: return CLI_EXIT_CONFLICT;
	case MF_EUNSUPPORTED: return CLI_EXIT_UNSUPPORTED;
	case MF_EIO: return CLI_EXIT_STATE;
	default: return CLI_EXIT_FAIL;
	}
}

/* The report of the batch as it is now (--json). */
static int print_report(struct store *st, const char *name)
{
	struct store_batch b = { 0 };
	struct store_user *us = NULL;
	struct mf_error err = { 0 };
	size_t n = 0;
	int rc = store_batch_get(st, name, &b, &err);

	if (rc == 0)
		rc = store_user_list(st, b.id, &us, &n, &err);
	if (rc == 0) {
		json_t *j = cli_report_json(&b, us, n);

		cli_print_json(stdout, j);
		json_decref(j);
	} else {
		cli_error("%s", err.msg);
	}
	store_user_list_free(&us, n);
	store_batch_clear(&b);
	return rc == 0 ? 0 : cli_exit_for(rc);
}

static void term_size(int *w, int *h)
{
	struct winsize ws;

	*w = 80;
	*h = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
		*w = ws.ws_col;
		*h = ws.ws_row;
	}
}

int cli_batch_run_wait(const struct cli_opts *o, struct store *st, const char *name)
{
	char *dir = store_default_data_dir(o->data_dir);
	char *key = store_default_key_file(dir);
	struct engine_opts eo = { 0 };
	struct engine_progress_cb cb;
	struct store_batch b = { 0 };
	struct mf_error err = { 0 };
	struct stopper stop = { 0 };
	struct cli_progress *p;
	int64_t counts[STORE_USER_NSTATUS];
	int w, h, rc;
	bool live = !o->json && isatty(STDOUT_FILENO);

	term_size(&w, &h);
	p = cli_progress_new(stdout, live, w, h);
	cb = cli_progress_callbacks(p);
	eo.key_file = key;
	eo.trace = o->trace ? stderr : NULL;
	eo.progress = o->json ? NULL : &cb;
	eo.open = cli_test_open;
	eo.open_ctx = cli_test_open_ctx;

	if (!o->json && store_batch_get(st, name, &b, &err) == 0 &&
	    store_batch_user_counts(st, b.id, counts, &err) == 0) {
		int64_t all = 0;

		for (int i = 0; i < STORE_USER_NSTATUS; i++)
			all += counts[i];
		/* what engine_batch_run() runs: all but the Synced (docs/batch-states.md) */
		cli_progress_begin(p, name, counts[STORE_USER_QUEUED] + counts[STORE_USER_SYNCING] +
				   counts[STORE_USER_FAILED] + counts[STORE_USER_STOPPED], all);
	}
	store_batch_clear(&b);
	mf_error_clear(&err);

	stop.data_dir = dir;
	stop.key_file = key;
	stop.batch = name;
	stop.progress = p;
	stopper_start(&stop);
	rc = engine_batch_run(st, dir, name, &eo, &err);
	stopper_end(&stop);
	cli_progress_end(p);
	cli_progress_free(&p);

	if (rc != 0) {
		/* refused (busy, unsupported...), or a worker could not work */
		rc = run_failed(rc, &err);
		goto out;
	}
	if (store_batch_get(st, name, &b, &err) != 0) {
		rc = run_failed(err.code, &err);
		goto out;
	}
	if (o->json && print_report(st, name) != 0) {
		rc = CLI_EXIT_STATE;
		goto out;
	}
	rc = b.status == STORE_BATCH_SYNCED ? CLI_EXIT_OK : CLI_EXIT_FAIL;
	if (!o->json && rc != CLI_EXIT_OK) {
		if (o->cmdlet != NULL)
			printf("See 'mailferry Get-MigrationUser -BatchId %s' for each user.\n", name);
		else
			printf("See 'mailferry batch report %s' for each user.\n", name);
	}
out:
	store_batch_clear(&b);
	free(key);
	free(dir);
	return rc;
}
