/* batch-csv.h: the batch CSV (New-MigrationBatch -CSVData, `batch new --csv`).
 *
 * Format: RFC 4180. Fields are separated by commas; a field may be quoted
 * with '"', and then holds commas, line breaks and doubled quotes ("")
 * verbatim. Lines end in CRLF, LF or a lone CR. UTF-8, with or without a
 * byte-order mark; UTF-16 is refused with a hint.
 *
 * Two leniencies for hand-written files: unquoted fields lose surrounding
 * spaces and tabs (quote a password that starts or ends with a space), and
 * blank lines, or lines of nothing but commas (as spreadsheets export empty
 * rows), are skipped.
 *
 * The first line is the header: EmailAddress, UserName, Password, and
 * optionally UserRoot, TargetUserName, TargetPassword, in any order, case
 * insensitive, surrounding spaces ignored. With BATCH_CSV_ADMIN_CREDENTIALS
 * (the source endpoint holds admin credentials and impersonates) UserName
 * and Password may be missing or empty; otherwise both are required on
 * every row. Target* are optional per row: the caller checks them against
 * the target endpoint.
 *
 * The file is refused as a whole, with each problem's line (that of the
 * row's first line), for: an empty file or one without rows; invalid
 * UTF-8 or a NUL byte; unknown, duplicated or missing columns; a row whose
 * field count differs from the header's; a quoted field never closed or
 * text after a closing quote; an empty or malformed EmailAddress
 * (batch_csv_address_ok()); the same address twice, compared in ASCII
 * lower case; an empty UserName or Password where not allowed; a field over
 * BATCH_CSV_MAX_FIELD bytes; more than BATCH_CSV_MAX_ROWS rows.
 */
#ifndef MF_ENGINE_BATCH_CSV_H
#define MF_ENGINE_BATCH_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "util/mf-error.h"

#define BATCH_CSV_MAX_ROWS 50000
#define BATCH_CSV_MAX_PROBLEMS 20	     /* kept and reported; more are counted */
#define BATCH_CSV_MAX_FIELD 4096	     /* bytes */
#define BATCH_CSV_MAX_BYTES (64 << 20) /* batch_csv_load() file size limit */

enum batch_csv_flags {
	/* The source endpoint has admin credentials: users are reached by
	 * impersonation, UserName and Password may be empty or absent. */
	BATCH_CSV_ADMIN_CREDENTIALS = 1 << 0,
};

/* One user. Strings are owned; optional ones are NULL when empty or their
 * column is absent. The passwords are wiped when freed. */
struct batch_csv_row {
	unsigned line; /* where the row starts, 1-based (the header is line 1) */
	char *email_address;
	char *user_name;
	char *password;
	char *user_root;
	char *target_user_name;
	char *target_password;
};

struct batch_csv_problem {
	unsigned line; /* 0 = the file as a whole */
	char *message; /* one line, no secret; without the line number */
};

struct batch_csv {
	struct batch_csv_row *rows; /* in file order; none when refused */
	size_t nrows;
	struct batch_csv_problem *problems; /* by line, at most BATCH_CSV_MAX_PROBLEMS */
	size_t nproblems;
	size_t total_problems; /* all found (>= nproblems) */
};

/* Parse len bytes of data (need not be NUL-terminated). Always sets *csv_r
 * (free it with batch_csv_free()). Returns 0 with the rows, or MF_EINVAL
 * with no rows, the problems in (*csv_r)->problems and err naming the first:
 * "line 4: duplicate address a@example.org (first on line 2)", or with
 * several "CSV refused with 3 problems, the first: line 4: ...". */
int batch_csv_parse(const char *data, size_t len, unsigned flags, struct batch_csv **csv_r,
		    struct mf_error *err);
/* batch_csv_parse() on the contents of path, which is then wiped from
 * memory. MF_EIO when it cannot be read, MF_ELIMIT when it is larger than
 * BATCH_CSV_MAX_BYTES; *csv_r is NULL for those. */
int batch_csv_load(const char *path, unsigned flags, struct batch_csv **csv_r,
		   struct mf_error *err);
void batch_csv_free(struct batch_csv **csvp);

/* The address check: local@domain with exactly one '@'; at most 254 bytes;
 * no spaces or control characters. The local part has 1-64 bytes of
 * printable ASCII other than ()<>[]:;,\" or UTF-8, with no leading, trailing
 * or doubled dot. The domain is dot-separated labels of 1-63 letters,
 * digits, hyphens (not first or last) or UTF-8; one label alone
 * ("localhost", a lab's single-label domain) is allowed; no address
 * literals ([192.0.2.1]). */
bool batch_csv_address_ok(const char *addr);

#endif
