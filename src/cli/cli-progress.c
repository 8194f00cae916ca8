/* cli-progress.c: the progress display of `batch start --wait` (see
 * cli-progress.h). Each frame is built in a buffer and written at once, so
 * the terminal never shows half a redraw. */
#include "cli-progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-output.h"
#include "util/buf.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

#define CLI_BAR_WIDTH 10
#define CLI_EMAIL_MAX 32

/* One user being copied: its latest snapshot. */
struct prog_user {
	int64_t user_id;
	char *email; /* owned */
	int64_t total_items, synced_items, skipped_items;
	int64_t total_bytes, bytes;
	int percent;
	double rate;
	int64_t started_ms;
};

struct cli_progress {
	pthread_mutex_t mu;
	FILE *out; /* foreign */
	bool live;
	int width, height;
	int64_t (*now_ms)(void);

	struct prog_user *active;
	size_t nactive;
	int64_t users;	    /* in the batch */
	int64_t users_done; /* ended Synced, Failed or Stopped */
	int64_t done_items, done_total, done_bytes; /* of those users */
	bool stopping;
	bool batch_prefix; /* lines name the batch (serve) */

	int drawn;	  /* lines of the live block on the screen */
	int64_t last_draw; /* ms */
};

struct cli_progress *cli_progress_new(FILE *out, bool live, int width, int height)
{
	struct cli_progress *p = xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->mu, NULL);
	p->out = out;
	p->live = live;
	p->width = width > 20 ? width : 80;
	p->height = height > 4 ? height : 24;
	p->now_ms = mf_now_ms;
	return p;
}

void cli_progress_free(struct cli_progress **pp)
{
	struct cli_progress *p = *pp;

	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nactive; i++)
		free(p->active[i].email);
	free(p->active);
	pthread_mutex_destroy(&p->mu);
	free(p);
	*pp = NULL;
}

void cli_progress_set_clock(struct cli_progress *p, int64_t (*now_ms)(void))
{
	p->now_ms = now_ms;
}

void cli_progress_set_batch_prefix(struct cli_progress *p, bool on)
{
	p->batch_prefix = on;
}

/* "alice@x", or "b1: alice@x" when lines name the batch. malloc'd. */
static char *who(const struct cli_progress *p, const char *batch, const char *email)
{
	if (p->batch_prefix && batch != NULL)
		return xasprintf("%s: %s", batch, email != NULL ? email : "?");
	return xstrdup(email != NULL ? email : "?");
}

/* ---- formats ------------------------------------------------------------- */

static void stamp(char out[32])
{
	mf_time_rfc3339(time(NULL), out);
}

/* "0.4 s", "2.1 s", "3 min 12 s", "1 h 02 min" */
static void fmt_duration(int64_t ms, char out[32])
{
	int64_t s = ms / 1000;

	if (ms < 60000)
		snprintf(out, 32, "%.1f s", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(out, 32, "%lld min %02lld s", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(out, 32, "%lld h %02lld min", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
}

/* "0:42", "12:05", "1:02:03"; "-:--" when unknown. */
static void fmt_eta(double secs, char out[16])
{
	long long s;

	if (!(secs >= 0.0) || secs > 360000.0) {
		snprintf(out, 16, "-:--");
		return;
	}
	s = (long long)(secs + 0.5);
	if (s < 3600)
		snprintf(out, 16, "%lld:%02lld", s / 60, s % 60);
	else
		snprintf(out, 16, "%lld:%02lld:%02lld", s / 3600, s % 3600 / 60, s % 60);
}

/* Seconds left for the bytes not yet copied of items still to do; the
 * listed sizes give the bytes per item. Negative when unknown. */
static double eta_secs(int64_t total_items, int64_t done_items, int64_t total_bytes, double rate)
{
	double left;

	if (total_items <= 0 || rate <= 0.0)
		return -1.0;
	if (done_items >= total_items)
		return 0.0;
	left = (double)total_bytes * (double)(total_items - done_items) / (double)total_items;
	return left / rate;
}

static void bar(struct buf *b, int percent)
{
	int full = percent * CLI_BAR_WIDTH / 100;

	buf_putc(b, '[');
	for (int i = 0; i < CLI_BAR_WIDTH; i++)
		buf_putc(b, i < full ? '#' : '.');
	buf_putc(b, ']');
}

/* Append s cut to at most cols characters (UTF-8 aware), padded to pad. */
static void put_cut(struct buf *b, const char *s, size_t cols, size_t pad)
{
	size_t n = 0;
	const char *p = s;

	while (*p != '\0' && n < cols) {
		p++;
		while ((*p & 0xC0) == 0x80)
			p++;
		n++;
	}
	if (*p != '\0' && cols >= 3) {
		/* cut: end with "..." */
		size_t keep = 0;

		p = s;
		while (*p != '\0' && keep < cols - 3) {
			p++;
			while ((*p & 0xC0) == 0x80)
				p++;
			keep++;
		}
		buf_append(b, s, (size_t)(p - s));
		buf_puts(b, "...");
		n = cols;
	} else {
		buf_append(b, s, (size_t)(p - s));
	}
	for (; n < pad; n++)
		buf_putc(b, ' ');
}

static size_t utf8_cols(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += (*s & 0xC0) != 0x80;
	return n;
}

/* One live line: bar, percent, items, bytes, rate, ETA. */
static void put_stats(struct buf *b, int percent, int64_t synced, int64_t total, int64_t bytes,
		      double rate, double eta)
{
	char sy[32], to[32], by[32], ra[32], et[16];

	cli_fmt_count(synced, sy);
	cli_fmt_count(total, to);
	cli_fmt_bytes(bytes, by);
	cli_fmt_bytes((long long)rate, ra);
	fmt_eta(eta, et);
	buf_puts(b, "  ");
	bar(b, percent);
	buf_printf(b, "  %3d%%  %s/%s items  %s  %s/s  ETA %s", percent, sy, to, by, ra, et);
}

/* ---- the live block ---------------------------------------------------------- */

/* Append line (no newline) to frame, cut to the width. */
static void frame_line(struct cli_progress *p, struct buf *frame, const char *line)
{
	put_cut(frame, line, (size_t)p->width - 1, 0);
	buf_puts(frame, "\033[K\n");
}

static void erase(struct cli_progress *p, struct buf *frame)
{
	if (p->drawn > 0)
		buf_printf(frame, "\033[%dA\r\033[J", p->drawn);
	p->drawn = 0;
}

static void draw(struct cli_progress *p, struct buf *frame)
{
	size_t namew = 5, shown = p->nactive;
	int64_t synced = p->done_items, total = p->done_total, bytes = p->done_bytes;
	int64_t asynced = 0, atotal = 0, tbytes = 0, pct_sum = 0;
	double rate = 0.0, eta = -1.0;
	struct buf line = BUF_INIT;
	int percent;

	if ((int)shown > p->height - 3)
		shown = (size_t)(p->height - 3);
	for (size_t i = 0; i < p->nactive; i++) {
		size_t w = utf8_cols(p->active[i].email);

		if (i < shown && w > namew)
			namew = w < CLI_EMAIL_MAX ? w : CLI_EMAIL_MAX;
		asynced += p->active[i].synced_items + p->active[i].skipped_items;
		atotal += p->active[i].total_items;
		bytes += p->active[i].bytes;
		tbytes += p->active[i].total_bytes;
		rate += p->active[i].rate;
		pct_sum += p->active[i].percent;
	}
	for (size_t i = 0; i < shown; i++) {
		const struct prog_user *u = &p->active[i];

		buf_reset(&line);
		put_cut(&line, u->email, CLI_EMAIL_MAX, namew);
		put_stats(&line, u->percent, u->synced_items + u->skipped_items, u->total_items,
			  u->bytes, u->rate,
			  eta_secs(u->total_items, u->synced_items + u->skipped_items,
				   u->total_bytes, u->rate));
		frame_line(p, frame, buf_cstr(&line));
	}
	if (shown < p->nactive) {
		buf_reset(&line);
		buf_printf(&line, "... and %zu more", p->nactive - shown);
		frame_line(p, frame, buf_cstr(&line));
	}
	/* Users not yet started count 0%, users done 100%. */
	percent = p->users > 0 ? (int)((p->users_done * 100 + pct_sum) / p->users) : 0;
	if (percent > 100)
		percent = 100;
	if (p->users_done + (int64_t)p->nactive >= p->users)
		eta = eta_secs(atotal, asynced, tbytes, rate);
	synced += asynced;
	total += atotal;
	buf_reset(&line);
	buf_printf(&line, "%s  %lld/%lld done", p->stopping ? "Stopping" : "Total",
		   (long long)p->users_done, (long long)p->users);
	put_stats(&line, percent, synced, total, bytes, rate, eta);
	frame_line(p, frame, buf_cstr(&line));
	buf_free(&line);
	p->drawn = (int)shown + (shown < p->nactive) + 1;
	p->last_draw = p->now_ms();
}

static void flush_frame(struct cli_progress *p, struct buf *frame)
{
	if (frame->len > 0) {
		fwrite(frame->data, 1, frame->len, p->out);
		fflush(p->out);
	}
	buf_free(frame);
}

/* Print a line above the live block (or just the line). */
static void emit_line(struct cli_progress *p, const char *text)
{
	struct buf frame = BUF_INIT;

	if (p->live) {
		/* not cut: it stays above the block, which counts only itself */
		erase(p, &frame);
		buf_printf(&frame, "%s\033[K\n", text);
		draw(p, &frame);
	} else {
		buf_printf(&frame, "%s\n", text);
	}
	flush_frame(p, &frame);
}

static void redraw(struct cli_progress *p, bool force)
{
	struct buf frame = BUF_INIT;

	if (!p->live || (!force && p->now_ms() - p->last_draw < CLI_PROGRESS_REDRAW_MS))
		return;
	erase(p, &frame);
	draw(p, &frame);
	flush_frame(p, &frame);
}

/* ---- the callbacks --------------------------------------------------------------- */

static struct prog_user *find(struct cli_progress *p, int64_t user_id)
{
	for (size_t i = 0; i < p->nactive; i++) {
		if (p->active[i].user_id == user_id)
			return &p->active[i];
	}
	return NULL;
}

static void snapshot(struct prog_user *u, const struct engine_progress *e)
{
	u->total_items = e->total_items;
	u->synced_items = e->synced_items;
	u->skipped_items = e->skipped_items;
	u->total_bytes = e->total_bytes;
	u->bytes = e->bytes_transferred;
	u->percent = e->percent < 0 ? 0 : e->percent > 100 ? 100 : e->percent;
	u->rate = e->rate;
}

static void on_started(void *ctx, const struct engine_progress *e)
{
	struct cli_progress *p = ctx;
	struct prog_user *u;
	char when[32];
	char *text;

	pthread_mutex_lock(&p->mu);
	u = find(p, e->user_id);
	if (u == NULL) {
		p->active = xreallocarray(p->active, p->nactive + 1, sizeof(*p->active));
		u = &p->active[p->nactive++];
		memset(u, 0, sizeof(*u));
		u->user_id = e->user_id;
		u->email = xstrdup(e->email_address != NULL ? e->email_address : "?");
	}
	u->started_ms = p->now_ms();
	snapshot(u, e);
	if (p->live) {
		redraw(p, true);
	} else {
		char *name = who(p, e->batch_name, u->email);

		stamp(when);
		text = xasprintf("%s %s started", when, name);
		emit_line(p, text);
		free(text);
		free(name);
	}
	pthread_mutex_unlock(&p->mu);
}

static void on_progress(void *ctx, const struct engine_progress *e)
{
	struct cli_progress *p = ctx;
	struct prog_user *u;

	pthread_mutex_lock(&p->mu);
	u = find(p, e->user_id);
	if (u != NULL) {
		snapshot(u, e);
		redraw(p, false);
	}
	pthread_mutex_unlock(&p->mu);
}

/* A user that will be tried again at a time (backoff), rather than ended:
 * Queued, or (incremental sync, completion) Synced with a reason. A user
 * Queued without a time was put back by a serve going down. */
static bool retried(enum store_user_status status, const char *error, int64_t next_attempt_at)
{
	return next_attempt_at > 0 &&
	       (status == STORE_USER_QUEUED || (status == STORE_USER_SYNCED && error != NULL));
}

static char *final_line(struct cli_progress *p, const struct prog_user *u,
			const struct engine_progress *e, enum store_user_status status,
			const char *error, int64_t next_attempt_at)
{
	const char *name = store_user_status_name(status);
	char when[32], items[32], total[32], bytes[32], took[32], next[32];
	char *user = who(p, e->batch_name, e->email_address), *line;

	stamp(when);
	cli_fmt_count(e->synced_items, items);
	cli_fmt_count(e->total_items, total);
	cli_fmt_bytes(e->bytes_transferred, bytes);
	fmt_duration(u != NULL ? p->now_ms() - u->started_ms : 0, took);
	if (retried(status, error, next_attempt_at)) {
		mf_time_rfc3339((time_t)next_attempt_at, next);
		line = xasprintf("%s %s will be tried again at %s: %s", when, user, next,
				 error != NULL ? error : "");
	} else if (status == STORE_USER_SYNCED || status == STORE_USER_COMPLETED) {
		line = xasprintf("%s %s %s: %s items, %s, %lld skipped in %s", when, user, name,
				 items, bytes, (long long)e->skipped_items, took);
	} else if (status == STORE_USER_STOPPED || status == STORE_USER_QUEUED || error == NULL) {
		/* stopped, or put back by a serve that is going down */
		line = xasprintf("%s %s %s: %s/%s items, %s", when, user, name, items, total,
				 bytes);
	} else {
		line = xasprintf("%s %s %s: %s", when, user, name, error);
	}
	free(user);
	return line;
}

static void on_finished(void *ctx, const struct engine_progress *e,
			enum store_user_status status, const char *error, int64_t next_attempt_at)
{
	struct cli_progress *p = ctx;
	struct prog_user *u;
	char *text;

	pthread_mutex_lock(&p->mu);
	u = find(p, e->user_id);
	text = final_line(p, u, e, status, error, next_attempt_at);
	if (u != NULL) {
		free(u->email);
		*u = p->active[--p->nactive];
	}
	if (status != STORE_USER_QUEUED && !retried(status, error, next_attempt_at)) {
		p->users_done++;
		p->done_items += e->synced_items + e->skipped_items;
		p->done_total += e->total_items;
		p->done_bytes += e->bytes_transferred;
	}
	emit_line(p, text);
	free(text);
	pthread_mutex_unlock(&p->mu);
}

static void on_batch_finished(void *ctx, const char *batch, enum store_batch_status status,
			      const int64_t counts[STORE_USER_NSTATUS])
{
	struct cli_progress *p = ctx;
	struct buf line = BUF_INIT;
	char when[32];
	bool any = false;

	stamp(when);
	buf_printf(&line, "%s batch %s %s", when, batch, store_batch_status_name(status));
	for (int s = 0; s < STORE_USER_NSTATUS; s++) {
		if (counts[s] == 0)
			continue;
		buf_printf(&line, "%s%lld %s", any ? ", " : ": ", (long long)counts[s],
			   store_user_status_name((enum store_user_status)s));
		any = true;
	}
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->nactive; i++)
		free(p->active[i].email); /* what is left is over */
	p->nactive = 0;
	emit_line(p, buf_cstr(&line));
	pthread_mutex_unlock(&p->mu);
	buf_free(&line);
}

struct engine_progress_cb cli_progress_callbacks(struct cli_progress *p)
{
	struct engine_progress_cb cb = {
		.user_started = on_started,
		.user_progress = on_progress,
		.user_finished = on_finished,
		.batch_finished = on_batch_finished,
		.ctx = p,
	};

	return cb;
}

/* ---- the run ---------------------------------------------------------------------- */

void cli_progress_begin(struct cli_progress *p, const char *batch, int64_t users,
			int64_t all)
{
	cli_progress_begin_pass(p, batch, "started", users, all);
}

void cli_progress_begin_pass(struct cli_progress *p, const char *batch, const char *what,
			     int64_t users, int64_t all)
{
	char when[32];
	char *text;

	stamp(when);
	text = xasprintf("%s batch %s %s: %lld of %lld users to sync", when, batch, what,
			 (long long)users, (long long)all);
	pthread_mutex_lock(&p->mu);
	p->users = users;
	emit_line(p, text);
	pthread_mutex_unlock(&p->mu);
	free(text);
}

void cli_progress_note(struct cli_progress *p, const char *fmt, ...)
{
	struct buf frame = BUF_INIT;
	va_list ap;
	char *text;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&p->mu);
	if (p->live) {
		erase(p, &frame);
		flush_frame(p, &frame);
	}
	fprintf(stderr, "mailferry: %s\n", text);
	fflush(stderr);
	redraw(p, true);
	pthread_mutex_unlock(&p->mu);
	free(text);
}

void cli_progress_line(struct cli_progress *p, const char *fmt, ...)
{
	va_list ap;
	char when[32];
	char *text, *line;

	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);
	stamp(when);
	line = xasprintf("%s %s", when, text);
	pthread_mutex_lock(&p->mu);
	emit_line(p, line);
	pthread_mutex_unlock(&p->mu);
	free(line);
	free(text);
}

void cli_progress_stopping(struct cli_progress *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	redraw(p, true);
	pthread_mutex_unlock(&p->mu);
}

void cli_progress_end(struct cli_progress *p)
{
	struct buf frame = BUF_INIT;

	pthread_mutex_lock(&p->mu);
	if (p->live)
		erase(p, &frame);
	flush_frame(p, &frame);
	pthread_mutex_unlock(&p->mu);
}
