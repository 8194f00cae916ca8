/* cli-progress.h: what `batch start --wait` shows while a batch runs.
 *
 * Fed by the engine's progress callbacks (engine.h struct
 * engine_progress_cb), which come from the worker threads, several at once:
 * every entry point locks the display's mutex.
 *
 * Two forms:
 *   - live (a terminal): a block of lines redrawn in place (ANSI: cursor up,
 *     clear to the end of the screen) at most every CLI_PROGRESS_REDRAW_MS:
 *     one line per active user
 *       alice@x  [#####.....]  52%  1,234/2,345 items  12.3 MB  4.5 MB/s  ETA 0:42
 *     and a total line; a user that ends prints its final line above the
 *     block. Lines are cut to the terminal's width, and the block to its
 *     height ("... and N more").
 *   - lines (anything else): one line per user event, with the time:
 *       2026-11-26T21:00:00Z alice@x started
 *       2026-11-26T21:00:02Z alice@x Synced: 313 items, 1.9 MB, 0 skipped in 2.1 s
 *       2026-11-26T21:00:02Z bob@x Failed: LOGIN rejected: ...
 *     and, at the end, the batch's status. With the batch prefix (serve,
 *     several batches at once) the user is named "b1: alice@x".
 * A user that the engine puts back for a later attempt (Queued, or Synced
 * with a reason during an incremental sync or a completion) prints
 *       ... alice@x will be tried again at TIME: REASON
 */
#ifndef MF_CLI_PROGRESS_H
#define MF_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"

#define CLI_PROGRESS_REDRAW_MS 200

struct cli_progress;

/* out (foreign; outlives the display) receives everything but notes. live:
 * redraw in place; width and height: the terminal's size (0: 80 x 24). */
struct cli_progress *cli_progress_new(FILE *out, bool live, int width, int height);
void cli_progress_free(struct cli_progress **pp);

/* Callbacks that feed p (ctx = p). */
struct engine_progress_cb cli_progress_callbacks(struct cli_progress *p);

/* "TIME batch NAME started: N of M users to sync" (N sizes the total
 * line). */
void cli_progress_begin(struct cli_progress *p, const char *batch, int64_t users,
			int64_t all);
/* The same with another pass: "TIME batch NAME <what>: N of M users to
 * sync" ("incremental sync started", "completion started"). */
void cli_progress_begin_pass(struct cli_progress *p, const char *batch, const char *what,
			     int64_t users, int64_t all);
/* "TIME <text>" on the display's output (above the live block). */
void cli_progress_line(struct cli_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Name the batch in each user's line (serve). */
void cli_progress_set_batch_prefix(struct cli_progress *p, bool on);
/* One line on stderr, above the live block (which is then redrawn). */
void cli_progress_note(struct cli_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The run is stopping: the total line says so. */
void cli_progress_stopping(struct cli_progress *p);
/* Erase the live block (the final lines stay). Call once the run is over. */
void cli_progress_end(struct cli_progress *p);

/* For tests: the milliseconds clock (default mf_now_ms). */
void cli_progress_set_clock(struct cli_progress *p, int64_t (*now_ms)(void));

#endif
