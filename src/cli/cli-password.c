/* cli-password.c: password sources (see cli-password.h). */
#include "cli-password.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "util/log.h"
#include "util/xmalloc.h"

int cli_password_read_fd(int fd, const char *what, char **pw_r, struct mf_error *err)
{
	char *pw = xmalloc(CLI_PASSWORD_MAX + 2);
	size_t len = 0;
	bool got_any = false;

	/* One byte at a time: whatever follows the first line stays unread
	 * for the next reader of the descriptor. */
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			mf_memzero(pw, CLI_PASSWORD_MAX + 2);
			free(pw);
			return mf_error_set(err, MF_EIO, "cannot read the password from %s: %s",
					    what, strerror(e));
		}
		if (n == 0)
			break;
		got_any = true;
		if (c == '\n')
			break;
		if (len > CLI_PASSWORD_MAX) {
			mf_memzero(pw, CLI_PASSWORD_MAX + 2);
			free(pw);
			return mf_error_set(err, MF_EINVAL, "the password on %s is longer than "
					    "%d bytes", what, CLI_PASSWORD_MAX);
		}
		pw[len++] = c;
	}
	if (len > 0 && pw[len - 1] == '\r')
		len--;
	pw[len] = '\0';
	if (len == 0) {
		mf_memzero(pw, CLI_PASSWORD_MAX + 2);
		free(pw);
		if (!got_any)
			return mf_error_set(err, MF_EINVAL, "no password on %s", what);
		return mf_error_set(err, MF_EINVAL, "the password on %s is empty", what);
	}
	*pw_r = pw;
	return 0;
}

int cli_password_read_file(const char *path, char **pw_r, struct mf_error *err)
{
	struct stat stbuf;
	char what[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return mf_error_set(err, MF_EINVAL, "cannot read --password-file %s: %s", path,
				    strerror(errno));
	if (fstat(fd, &stbuf) == 0 && S_ISREG(stbuf.st_mode) && (stbuf.st_mode & 077) != 0)
		log_warn("%s can be read by other users; chmod 600 it", path);
	snprintf(what, sizeof(what), "%s", path);
	rc = cli_password_read_fd(fd, what, pw_r, err);
	close(fd);
	return rc;
}

static struct termios prompt_saved;
static volatile sig_atomic_t prompt_fd = -1;

static void prompt_on_signal(int sig)
{
	if (prompt_fd >= 0)
		tcsetattr(prompt_fd, TCSAFLUSH, &prompt_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

int cli_password_prompt(const char *prompt, char **pw_r, struct mf_error *err)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa, old[4];
	struct termios noecho;
	int rc;

	if (tcgetattr(STDIN_FILENO, &prompt_saved) < 0)
		return mf_error_set(err, MF_EIO, "cannot turn off echo: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = prompt_on_signal;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &sa, &old[i]);
	noecho = prompt_saved;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	prompt_fd = STDIN_FILENO;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) < 0) {
		rc = mf_error_set(err, MF_EIO, "cannot turn off echo: %s", strerror(errno));
	} else {
		rc = cli_password_read_fd(STDIN_FILENO, "the terminal", pw_r, err);
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &prompt_saved);
	}
	prompt_fd = -1;
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], &old[i], NULL);
	return rc;
}

bool cli_password_given(const struct cli_opts *o)
{
	return o->password_stdin || o->password_file != NULL;
}

int cli_password_get(const struct cli_opts *o, const char *who, const char *user,
		     bool required, char **pw_r, struct mf_error *err)
{
	*pw_r = NULL;
	if (o->password_stdin)
		return cli_password_read_fd(STDIN_FILENO, "standard input", pw_r, err);
	if (o->password_file != NULL)
		return cli_password_read_file(o->password_file, pw_r, err);
	if (!required)
		return 0;
	if (isatty(STDIN_FILENO)) {
		char prompt[320];

		snprintf(prompt, sizeof(prompt), "Password for %s: ", user);
		return cli_password_prompt(prompt, pw_r, err);
	}
	if (o->cmdlet != NULL)
		return mf_error_set(err, MF_EINVAL, "a password is needed for %s: use "
				    "-PasswordStdin or -PasswordFile", who);
	return mf_error_set(err, MF_EINVAL, "a password is needed for %s: use "
			    "--password-stdin or --password-file", who);
}
