/* cli-signal.c: the signal watcher (cli-signal.h). */
#include "cli-signal.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Signals this close to the one before count as one: timeout(1) and some
 * service managers send SIGTERM to the process and then to its group,
 * which is not an admin pressing Ctrl-C twice. */
#define SIGWATCH_DEBOUNCE_MS 1000

volatile sig_atomic_t cli_sigwatch_flag;

/* The write end of the watcher's pipe, for the handler. */
static volatile sig_atomic_t sigwatch_fd = -1;

static void sigwatch_handler(int sig)
{
	int saved = errno;
	unsigned char c = (unsigned char)sig;

	cli_sigwatch_flag = 1;
	if (sigwatch_fd >= 0)
		(void)!write(sigwatch_fd, &c, 1);
	errno = saved;
}

static int64_t sigwatch_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *sigwatch_main(void *arg)
{
	struct cli_sigwatch *w = arg;
	int64_t last = 0;
	sigset_t set;
	int n = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		unsigned char c;
		ssize_t got = read(w->pipe[0], &c, 1);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || c == 0)
			break; /* cli_sigwatch_end() */
		if (n > 0 && sigwatch_now_ms() - last < SIGWATCH_DEBOUNCE_MS)
			continue;
		last = sigwatch_now_ms();
		w->fn(w->ctx, ++n);
	}
	/* No signal is taken here after this point. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return NULL;
}

void cli_sigwatch_start(struct cli_sigwatch *w, cli_sigwatch_fn *fn, void *ctx)
{
	struct sigaction sa;
	sigset_t set;

	w->fn = fn;
	w->ctx = ctx;
	w->running = false;
	cli_sigwatch_flag = 0;
	if (pipe(w->pipe) != 0)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, &w->old_mask);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigwatch_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigwatch_fd = w->pipe[1];
	sigaction(SIGINT, &sa, &w->old_int);
	sigaction(SIGTERM, &sa, &w->old_term);
	w->running = pthread_create(&w->thread, NULL, sigwatch_main, w) == 0;
	if (!w->running) {
		sigaction(SIGINT, &w->old_int, NULL);
		sigaction(SIGTERM, &w->old_term, NULL);
		pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
		sigwatch_fd = -1;
		close(w->pipe[0]);
		close(w->pipe[1]);
	}
}

void cli_sigwatch_end(struct cli_sigwatch *w)
{
	unsigned char quit = 0;

	if (!w->running)
		return;
	while (write(w->pipe[1], &quit, 1) < 0 && errno == EINTR)
		;
	pthread_join(w->thread, NULL);
	sigwatch_fd = -1;
	sigaction(SIGINT, &w->old_int, NULL);
	sigaction(SIGTERM, &w->old_term, NULL);
	pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
	close(w->pipe[0]);
	close(w->pipe[1]);
	w->running = false;
}
