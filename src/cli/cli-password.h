/* cli-password.h: where the CLI takes passwords from.
 *
 * Never from the command line. Sources, in order: --password-stdin (the
 * first line of standard input), --password-file FILE (its first line), or
 * a prompt without echo when standard input is a terminal. A trailing CR
 * and LF are stripped; an empty password is refused.
 *
 * Every password returned is malloc'd and must be released with
 * mf_secret_free(), which wipes it.
 */
#ifndef MF_CLI_PASSWORD_H
#define MF_CLI_PASSWORD_H

#include <stdbool.h>

#include "cli-args.h"
#include "util/mf-error.h"

#define CLI_PASSWORD_MAX 1024

/* Read the first line of fd without reading past its LF (so the rest of
 * standard input stays unread). what names the source in messages
 * ("standard input"). Returns 0, or MF_EINVAL: nothing to read, empty, or
 * longer than CLI_PASSWORD_MAX bytes; MF_EIO on a read error. */
int cli_password_read_fd(int fd, const char *what, char **pw_r, struct mf_error *err);

/* The first line of path. Warns (log_warn) when others may read the file.
 * MF_EINVAL when it cannot be opened or holds no password. */
int cli_password_read_file(const char *path, char **pw_r, struct mf_error *err);

/* Ask on standard error, read from standard input (a terminal) with echo
 * off; echo is restored on return and on SIGINT/SIGTERM/SIGHUP/SIGQUIT. */
int cli_password_prompt(const char *prompt, char **pw_r, struct mf_error *err);

/* The password from the source named on the line (o->password_stdin,
 * o->password_file), else a prompt for user when standard input is a
 * terminal and required is true. who names the option that needs it in
 * the message ("--admin-user"). Returns 0 with *pw_r set, 0 with *pw_r NULL
 * when there is no source and !required, or MF_EINVAL ("a password is
 * needed for --admin-user: use --password-stdin or --password-file"). */
int cli_password_get(const struct cli_opts *o, const char *who, const char *user,
		     bool required, char **pw_r, struct mf_error *err);

/* True when a password source is named on the line. */
bool cli_password_given(const struct cli_opts *o);

#endif
