/* cli.h: the command-line interface (noun-verb commands and Exchange cmdlet
 * names). Returns the process exit code (docs/exit-codes.md). */
#ifndef MF_CLI_H
#define MF_CLI_H

int cli_main(int argc, char **argv);

#endif
