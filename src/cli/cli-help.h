/* cli-help.h: every help text of the CLI, kept in one table (cli-help.c). */
#ifndef MF_CLI_HELP_H
#define MF_CLI_HELP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Print the help for a topic: a command ("endpoint new"), a noun
 * ("endpoint"), a cmdlet name (any case), or "" for the overview.
 * Returns false (printing nothing) when the topic is unknown. */
bool cli_help_print(FILE *out, const char *topic);
/* The same, with the topic given as words ("endpoint", "new"). */
bool cli_help_print_words(FILE *out, char *const *words, size_t nwords);

#endif
