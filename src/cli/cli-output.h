/* cli-output.h: what the commands print: Format-List blocks ("Key : value"),
 * tables, and JSON (jansson, two-space indent, keys in a fixed order).
 *
 * Nothing here ever prints a password: an endpoint's sealed password shows
 * as "********" (or empty / null when there is none).
 */
#ifndef MF_CLI_OUTPUT_H
#define MF_CLI_OUTPUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "store/store.h"

/* The endpoint as a JSON object with the keys of `endpoint show` in order,
 * plus "LastTest" (the stored test document, parsed, or null). New
 * reference; the caller decrefs. */
json_t *cli_endpoint_json(const struct store_endpoint *ep);

/* `endpoint show`: aligned "Key : value" lines. */
void cli_print_endpoint(FILE *out, const struct store_endpoint *ep);
/* `endpoint list`: a table, or "No endpoints." */
void cli_print_endpoint_table(FILE *out, const struct store_endpoint *eps, size_t n);
/* A connection test document (conntest.h): the stage table, then Result,
 * Message, Server, LoginAs, Greeting, ServerId, TLS, Capabilities, Warnings. */
void cli_print_test(FILE *out, const json_t *doc);
/* JSON followed by a newline. */
void cli_print_json(FILE *out, const json_t *j);

#endif
