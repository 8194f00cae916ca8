/* test_cli_common.h: what the CLI's unit tests share (included by each
 * test_cli_*.c program; everything is static, and not built alone):
 *
 *   - ARGV/ARGC/PARSE: cli_parse() on a literal argument list;
 *   - run_cli(stdin_text, words..., NULL): `mailferry --data-dir=DIR
 *     [cli_extra_opt] words...` run in-process through cli_main(), with
 *     stdin_text (NULL: nothing) on standard input and standard output and
 *     error captured (struct run; run_free() it); run_cli_words takes
 *     the words as a NULL-terminated array;
 *   - the data directory the runs use: a temporary one of their own
 *     (cli_tmp_setup/cli_tmp_teardown, as group setup and teardown), or
 *     given (cli_use_data_dir); with CLI_TEST_FAKE_WORLD defined before
 *     the include, that of the engine's fixture F (test_engine_fake.h),
 *     whose fake world stands in for the servers of the batch commands
 *     (cli_fx_setup/cli_fx_teardown);
 *   - checks of a run's output (assert_contains, EXPECT_RC) and of a file.
 */
#ifndef TEST_CLI_COMMON_H
#define TEST_CLI_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli-args.h"
#include "cli/cli.h"
#include "util/xmalloc.h"

#define CLI_FN static __attribute__((unused))

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })
#define ARGC(...) ((int)(sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *)))
#define PARSE(o, err, ...) cli_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (o), (err))

/* ---- the data directory ---------------------------------------------------- */

/* "--data-dir=DIR", the first option of every run. */
static char cli_data_opt[256];
/* A global option every run passes after it (NULL: none). */
static const char *cli_extra_opt;
/* cli_tmp_setup's directory (the data directory is its "state"). */
static char cli_dir[64];

CLI_FN void cli_use_data_dir(const char *dir)
{
	snprintf(cli_data_opt, sizeof(cli_data_opt), "--data-dir=%s", dir);
}

/* A new directory /tmp/PREFIX-XXXXXX, runs on its "state", and nothing
 * from the environment that would change them. 0, or -1. */
CLI_FN int cli_tmp_setup(const char *prefix)
{
	char *state;

	snprintf(cli_dir, sizeof(cli_dir), "/tmp/%s-XXXXXX", prefix);
	if (mkdtemp(cli_dir) == NULL)
		return -1;
	state = xasprintf("%s/state", cli_dir);
	cli_use_data_dir(state);
	free(state);
	unsetenv("MAILFERRY_KEY_FILE");
	unsetenv("MAILFERRY_DNS_SERVER");
	return 0;
}

/* Remove cli_tmp_setup's directory. 0, or -1. */
CLI_FN int cli_tmp_teardown(void)
{
	char *cmd = xasprintf("rm -rf '%s'", cli_dir);
	int rc;

	rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

/* ---- running the CLI in-process ------------------------------------------- */

struct run {
	int rc;
	char *out;
	char *err;
};

/* All of f (a tmpfile written so far), NUL-terminated (the caller frees). */
CLI_FN char *slurp(FILE *f)
{
	long len;
	char *s;

	fflush(f);
	len = ftell(f);
	rewind(f);
	s = xcalloc((size_t)len + 1, 1);
	if (len > 0)
		assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
	return s;
}

/* Replace fd 0 with a pipe holding text; returns the saved fd 0. */
CLI_FN int stdin_from(const char *text)
{
	int p[2];
	int saved = dup(0);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], text, strlen(text)), (ssize_t)strlen(text));
	close(p[1]);
	dup2(p[0], 0);
	close(p[0]);
	return saved;
}

CLI_FN void stdin_restore(int saved)
{
	dup2(saved, 0);
	close(saved);
}

/* Run `mailferry --data-dir=DIR [cli_extra_opt] words...` (words: a
 * NULL-terminated list) with stdin_text (or nothing) on standard input. */
CLI_FN struct run run_cli_words(const char *stdin_text, char *const *words)
{
	char *argv[64];
	int argc = 0;
	FILE *out = tmpfile(), *err = tmpfile();
	int saved_out, saved_err, saved_in;
	struct run r;

	argv[argc++] = "mailferry";
	argv[argc++] = cli_data_opt;
	if (cli_extra_opt != NULL)
		argv[argc++] = (char *)cli_extra_opt;
	for (size_t i = 0; words[i] != NULL; i++)
		argv[argc++] = words[i];
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(fileno(out), 1);
	dup2(fileno(err), 2);
	saved_in = stdin_from(stdin_text != NULL ? stdin_text : "");

	r.rc = cli_main(argc, argv);

	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	stdin_restore(saved_in);
	close(saved_out);
	close(saved_err);
	r.out = slurp(out);
	r.err = slurp(err);
	fclose(out);
	fclose(err);
	return r;
}

/* The same with the words as arguments, NULL after the last. */
CLI_FN struct run run_cli(const char *stdin_text, ...)
{
	char *words[60];
	size_t n = 0;
	va_list ap;

	va_start(ap, stdin_text);
	for (char *a; (a = va_arg(ap, char *)) != NULL;)
		words[n++] = a;
	va_end(ap);
	words[n] = NULL;
	return run_cli_words(stdin_text, words);
}

CLI_FN void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* ---- checks ----------------------------------------------------------------- */

CLI_FN void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' not found in:\n%s", needle, hay);
}

/* The run's exit code is code and its stderr holds part (NULL: anything). */
#define EXPECT_RC(r, code, part)                                                           \
	do {                                                                               \
		if ((r).rc != (code))                                                      \
			fail_msg("exit %d, expected %d; stdout:\n%s\nstderr:\n%s", (r).rc,  \
				 (code), (r).out, (r).err);                                \
		if ((part) != NULL)                                                        \
			assert_contains((r).err, (part));                                  \
	} while (0)

/* Whether the file at path holds needle (false when it cannot be read). */
CLI_FN bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long len;
	bool found;

	if (f == NULL)
		return false;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	data = xmalloc((size_t)len + 1);
	len = (long)fread(data, 1, (size_t)len, f);
	fclose(f);
	found = memmem(data, (size_t)len, needle, strlen(needle)) != NULL;
	free(data);
	return found;
}

/* ---- the engine's fake world as the servers -------------------------------- */

#ifdef CLI_TEST_FAKE_WORLD
#include "cli/cli-cmd.h"
#include "test_engine_fake.h"

static struct fx *F;

/* A new fixture F (its "src" endpoint stored), the runs on its data
 * directory, and its fake world opened by the batch commands. */
CLI_FN void cli_fx_setup(void)
{
	F = fx_new(4);
	cli_use_data_dir(F->data_dir);
	cli_batch_set_test_opener(fake_open, &F->world);
}

CLI_FN int cli_fx_teardown(void **state)
{
	(void)state;
	cli_batch_set_test_opener(NULL, NULL);
	fx_free(F);
	F = NULL;
	return 0;
}
#endif

#endif
