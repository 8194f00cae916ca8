/* Unit tests for src/engine/batch-csv.c: the batch CSV parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include "engine/batch-csv.h"
#include "util/buf.h"
#include "util/mf-error.h"
#include "util/xmalloc.h"

#define HEADER "EmailAddress,UserName,Password\n"

static struct batch_csv *parse_ok(const char *data, size_t len, unsigned flags)
{
	struct batch_csv *csv = NULL;
	struct mf_error err = {0};

	if (batch_csv_parse(data, len, flags, &csv, &err) != 0)
		fail_msg("refused: %s", err.msg);
	assert_non_null(csv);
	assert_int_equal(csv->nproblems, 0);
	return csv;
}

static struct batch_csv *parse_str(const char *data, unsigned flags)
{
	return parse_ok(data, strlen(data), flags);
}

/* Parse data expecting a refusal; the problems stay for inspection. */
static struct batch_csv *refuse(const char *data, size_t len, unsigned flags)
{
	struct batch_csv *csv = NULL;
	struct mf_error err = {0};

	assert_int_equal(batch_csv_parse(data, len, flags, &csv, &err), MF_EINVAL);
	assert_non_null(csv);
	assert_int_equal(csv->nrows, 0);
	assert_null(csv->rows);
	assert_true(csv->nproblems > 0);
	assert_int_equal(err.code, MF_EINVAL);
	return csv;
}

/* The file is refused with exactly one problem, on line, containing text. */
static void refuse_one(const char *data, size_t len, unsigned flags, unsigned line,
		       const char *text)
{
	struct batch_csv *csv = refuse(data, len, flags);

	if (csv->nproblems != 1 || csv->problems[0].line != line ||
	    strstr(csv->problems[0].message, text) == NULL)
		fail_msg("expected one problem on line %u with \"%s\"; got %zu, first line %u: %s",
			 line, text, csv->nproblems, csv->problems[0].line,
			 csv->problems[0].message);
	batch_csv_free(&csv);
}

static void refuse_str(const char *data, unsigned flags, unsigned line, const char *text)
{
	refuse_one(data, strlen(data), flags, line, text);
}

/* The file is refused with, among others, a problem on line containing text. */
static void refuse_with(const char *data, unsigned flags, unsigned line, const char *text)
{
	struct batch_csv *csv = refuse(data, strlen(data), flags);
	bool found = false;

	for (size_t i = 0; i < csv->nproblems; i++)
		found |=
		    csv->problems[i].line == line && strstr(csv->problems[i].message, text) != NULL;
	if (!found)
		fail_msg("no problem on line %u with \"%s\"", line, text);
	batch_csv_free(&csv);
}

/* ---- accepted files ---------------------------------------------------------------- */

static void test_basic(void **state)
{
	struct batch_csv *csv;

	(void)state;
	csv = parse_str(HEADER "alice@example.org,alice,pw1\n"
			       "bob@example.org,bob,pw2\n",
			0);
	assert_int_equal(csv->nrows, 2);
	assert_string_equal(csv->rows[0].email_address, "alice@example.org");
	assert_string_equal(csv->rows[0].user_name, "alice");
	assert_string_equal(csv->rows[0].password, "pw1");
	assert_null(csv->rows[0].user_root);
	assert_null(csv->rows[0].target_user_name);
	assert_null(csv->rows[0].target_password);
	assert_int_equal(csv->rows[0].line, 2);
	assert_int_equal(csv->rows[1].line, 3);
	batch_csv_free(&csv);
	assert_null(csv);
	batch_csv_free(&csv); /* harmless twice */

	/* no final line break */
	csv = parse_str(HEADER "alice@example.org,alice,pw1", 0);
	assert_int_equal(csv->nrows, 1);
	assert_string_equal(csv->rows[0].password, "pw1");
	batch_csv_free(&csv);
}

static void test_bom_crlf(void **state)
{
	static const char data[] = "\xef\xbb\xbf"
				   "EmailAddress,UserName,Password\r\n"
				   "j\xc3\xbcrgen@b\xc3\xbc"
				   "ro.example,j\xc3\xbcrgen,p\xc3\xa4ss\r\n"
				   "\r\n"
				   "x@example.org,x,y\r\n";
	struct batch_csv *csv;

	(void)state;
	csv = parse_ok(data, sizeof(data) - 1, 0);
	assert_int_equal(csv->nrows, 2);
	assert_string_equal(csv->rows[0].email_address, "j\xc3\xbcrgen@b\xc3\xbcro.example");
	assert_string_equal(csv->rows[0].password, "p\xc3\xa4ss");
	assert_int_equal(csv->rows[0].line, 2);
	assert_int_equal(csv->rows[1].line, 4);
	batch_csv_free(&csv);

	/* a lone CR ends a line too */
	csv = parse_str("EmailAddress,UserName,Password\ra@example.org,a,b\rc@example.org,c,d", 0);
	assert_int_equal(csv->nrows, 2);
	assert_int_equal(csv->rows[1].line, 3);
	assert_string_equal(csv->rows[1].password, "d");
	batch_csv_free(&csv);
}

static void test_header_forms(void **state)
{
	struct batch_csv *csv;

	(void)state;
	csv = parse_str(" password , TARGETPASSWORD,emailaddress,\"UserRoot\","
			"targetUserName , username\n"
			"pw,tpw,a@example.org,/home/a,ta,ua\n",
			0);
	assert_int_equal(csv->nrows, 1);
	assert_string_equal(csv->rows[0].email_address, "a@example.org");
	assert_string_equal(csv->rows[0].user_name, "ua");
	assert_string_equal(csv->rows[0].password, "pw");
	assert_string_equal(csv->rows[0].user_root, "/home/a");
	assert_string_equal(csv->rows[0].target_user_name, "ta");
	assert_string_equal(csv->rows[0].target_password, "tpw");
	batch_csv_free(&csv);
}

static void test_quotes(void **state)
{
	struct batch_csv *csv;

	(void)state;
	csv = parse_str(HEADER "\"a@example.org\",\"Smith, John\",\"say \"\"hi\"\"\"\n"
			       "b@example.org,  b  ,\"  spaced  \"\n"
			       "c@example.org,c,  \"q\"  \n"
			       "d@example.org,d\"x,p\"w\n"
			       "e@example.org,e,\"\"\n",
			BATCH_CSV_ADMIN_CREDENTIALS);
	assert_int_equal(csv->nrows, 5);
	assert_string_equal(csv->rows[0].user_name, "Smith, John");
	assert_string_equal(csv->rows[0].password, "say \"hi\"");
	/* unquoted fields are trimmed, quoted ones kept as they are */
	assert_string_equal(csv->rows[1].user_name, "b");
	assert_string_equal(csv->rows[1].password, "  spaced  ");
	assert_string_equal(csv->rows[2].password, "q");
	/* a quote inside an unquoted field is a character */
	assert_string_equal(csv->rows[3].user_name, "d\"x");
	assert_string_equal(csv->rows[3].password, "p\"w");
	assert_null(csv->rows[4].password);
	batch_csv_free(&csv);
}

static void test_embedded_newlines(void **state)
{
	struct batch_csv *csv;

	(void)state;
	csv = parse_str(HEADER "a@example.org,a,\"line1\nline2\r\nline3\"\n"
			       "b@example.org,b,pw\n",
			0);
	assert_int_equal(csv->nrows, 2);
	assert_string_equal(csv->rows[0].password, "line1\nline2\r\nline3");
	assert_int_equal(csv->rows[0].line, 2);
	assert_int_equal(csv->rows[1].line, 5);
	batch_csv_free(&csv);

	/* a problem after a multi-line field names the right line */
	refuse_str(HEADER "a@example.org,a,\"x\ny\nz\"\n"
			  "b@example.org,b\n",
		   0, 5, "2 fields where the header has 3");
}

static void test_blank_rows_skipped(void **state)
{
	struct batch_csv *csv;

	(void)state;
	csv = parse_str("\n" HEADER "\n,,\n  \na@example.org,a,b\n,,\n\n", 0);
	assert_int_equal(csv->nrows, 1);
	assert_int_equal(csv->rows[0].line, 6);
	batch_csv_free(&csv);
}

static void test_admin_credentials(void **state)
{
	struct batch_csv *csv;

	(void)state;
	/* columns present but empty */
	csv = parse_str(HEADER "a@example.org,,\n", BATCH_CSV_ADMIN_CREDENTIALS);
	assert_int_equal(csv->nrows, 1);
	assert_null(csv->rows[0].user_name);
	assert_null(csv->rows[0].password);
	batch_csv_free(&csv);
	/* columns absent */
	csv =
	    parse_str("EmailAddress\na@example.org\nb@example.org\n", BATCH_CSV_ADMIN_CREDENTIALS);
	assert_int_equal(csv->nrows, 2);
	batch_csv_free(&csv);

	refuse_str(HEADER "a@example.org,,pw\n", 0, 2, "UserName is empty");
	refuse_str(HEADER "a@example.org,a,\n", 0, 2, "Password is empty");
	refuse_with("EmailAddress\na@example.org\n", 0, 1, "missing column UserName");
	refuse_with("EmailAddress\na@example.org\n", 0, 1, "missing column Password");
}

/* ---- refusals ------------------------------------------------------------------------- */

static void test_refuse_columns(void **state)
{
	struct batch_csv *csv;

	(void)state;
	refuse_str("EmailAddress,UserName,Password,Mailbox\na@example.org,a,b,c\n", 0, 1,
		   "unknown column \"Mailbox\"");
	refuse_str("EmailAddress,UserName,Password,emailaddress\na@example.org,a,b,c\n", 0, 1,
		   "column EmailAddress appears twice");
	refuse_str("EmailAddress,Password\na@example.org,b\n", 0, 1, "missing column UserName");
	refuse_str("UserName,Password\na,b\n", 0, 1, "missing column EmailAddress");
	refuse_str("EmailAddress,UserName,Password,\na@example.org,a,b,\n", 0, 1,
		   "column 4 of the header has no name");
	refuse_with("a@example.org,a,b\nb@example.org,b,c\n", 0, 1,
		    "unknown column \"a@example.org\"; the first line must be the header");

	/* several header problems at once, all on line 1 */
	csv = refuse("Email,User,Password\n", 20, 0);
	assert_true(csv->nproblems >= 4);
	for (size_t i = 0; i < csv->nproblems; i++)
		assert_true(csv->problems[i].line == 1 || csv->problems[i].line == 0);
	batch_csv_free(&csv);
}

static void test_refuse_ragged(void **state)
{
	(void)state;
	refuse_str(HEADER "a@example.org,a,b\nb@example.org,b\n", 0, 3,
		   "2 fields where the header has 3");
	refuse_str(HEADER "a@example.org,a,b,extra\n", 0, 2, "4 fields where the header has 3");
	refuse_str(HEADER "a@example.org\n", 0, 2, "1 field where the header has 3");
}

static void test_refuse_duplicates(void **state)
{
	struct batch_csv *csv;
	struct mf_error err = {0};
	const char *data = HEADER "a@example.org,a,b\n"
				  "b@example.org,b,c\n"
				  "A@Example.ORG,a2,b\n"
				  "c@example.org,c,d\n"
				  "a@EXAMPLE.org,a3,b\n";

	(void)state;
	assert_int_equal(batch_csv_parse(data, strlen(data), 0, &csv, &err), MF_EINVAL);
	assert_int_equal(csv->nproblems, 2);
	assert_int_equal(csv->problems[0].line, 4);
	assert_string_equal(csv->problems[0].message,
			    "duplicate address A@Example.ORG (first on line 2)");
	assert_int_equal(csv->problems[1].line, 6);
	assert_string_equal(csv->problems[1].message,
			    "duplicate address a@EXAMPLE.org (first on line 2)");
	assert_string_equal(err.msg, "CSV refused with 2 problems, the first: line 4: duplicate "
				     "address A@Example.ORG (first on line 2)");
	batch_csv_free(&csv);
}

static void test_refuse_addresses(void **state)
{
	(void)state;
	refuse_str(HEADER "not-an-address,a,b\n", 0, 2, "malformed address \"not-an-address\"");
	refuse_str(HEADER "a@example.org,a,b\n\"a b@example.org\",a,b\n", 0, 3,
		   "malformed address");
	refuse_str(HEADER ",a,b\n", 0, 2, "EmailAddress is empty");
	refuse_str(HEADER "a@b@example.org,a,b\n", 0, 2, "malformed address");
}

static void test_address_rule(void **state)
{
	static const char *const good[] = {
	    "a@example.org",	   "first.last+tag@sub.example.co.uk",
	    "user@localhost",	   "o'brien@example.org",
	    "x_y-z=1@a-b.example", "j\xc3\xbcrgen@m\xc3\xbcller.example",
	    "123@456.789",
	};
	static const char *const bad[] = {
	    "",
	    "@example.org",
	    "a@",
	    "a",
	    "a@@example.org",
	    "a@b@example.org",
	    "a b@example.org",
	    "a@exa mple.org",
	    "a@example..org",
	    "a@.example.org",
	    "a@example.org.",
	    ".a@example.org",
	    "a.@example.org",
	    "a..b@example.org",
	    "a@-example.org",
	    "a@example-.org",
	    "a@exa_mple.org",
	    "a@[192.0.2.1]",
	    "\"quoted\"@example.org",
	    "a,b@example.org",
	    "a\t@example.org",
	    "<a@example.org>",
	};
	char buf[400];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!batch_csv_address_ok(good[i]))
			fail_msg("refused %s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (batch_csv_address_ok(bad[i]))
			fail_msg("accepted %s", bad[i]);
	assert_false(batch_csv_address_ok(NULL));
	/* local part over 64 bytes; a label over 63; the whole over 254 */
	memset(buf, 'a', 65);
	memcpy(buf + 65, "@example.org", 13);
	assert_false(batch_csv_address_ok(buf));
	memcpy(buf + 64, "@example.org", 13);
	assert_true(batch_csv_address_ok(buf));
	memcpy(buf, "a@", 2);
	memset(buf + 2, 'b', 64);
	memcpy(buf + 66, ".org", 5);
	assert_false(batch_csv_address_ok(buf));
	buf[0] = 'a';
	buf[1] = '@';
	for (int i = 0; i < 5; i++) {
		memset(buf + 2 + i * 50, 'c', 49);
		buf[2 + i * 50 + 49] = '.';
	}
	memcpy(buf + 252, "org", 4);
	assert_false(batch_csv_address_ok(buf)); /* 255 bytes */
}

static void test_refuse_utf8(void **state)
{
	static const char latin1[] = HEADER "a@example.org,a,b\n"
					    "b@example.org,b,p\xe4ss\n";
	static const char overlong[] = HEADER "a@example.org,a,\xc0\xaf\n";
	static const char surrogate[] = HEADER "a@example.org,a,\xed\xa0\x80\n";
	static const char truncated[] = HEADER "a@example.org,a,\xe2\x82\n";
	static const char nul[] = HEADER "a@example.org,a,b\0c\n";
	static const char utf16[] = "\xff\xfe"
				    "E\0m\0";

	(void)state;
	refuse_one(latin1, sizeof(latin1) - 1, 0, 3, "invalid UTF-8");
	refuse_one(overlong, sizeof(overlong) - 1, 0, 2, "invalid UTF-8");
	refuse_one(surrogate, sizeof(surrogate) - 1, 0, 2, "invalid UTF-8");
	refuse_one(truncated, sizeof(truncated) - 1, 0, 2, "invalid UTF-8");
	refuse_one(nul, sizeof(nul) - 1, 0, 2, "NUL byte");
	refuse_one(utf16, sizeof(utf16) - 1, 0, 0, "UTF-16");
	/* in a multi-line quoted field, the line of the bad byte */
	refuse_str(HEADER "a@example.org,a,\"x\n\xff\"\n", 0, 3, "invalid UTF-8");
}

static void test_refuse_empty(void **state)
{
	(void)state;
	refuse_one("", 0, 0, 0, "the file is empty");
	refuse_one("\xef\xbb\xbf", 3, 0, 0, "the file is empty");
	refuse_str("\n\r\n  \n", 0, 0, "the file is empty");
	refuse_str(HEADER, 0, 0, "a header but no users");
	refuse_str(HEADER "\n,,\n", 0, 0, "a header but no users");
}

static void test_refuse_quoting(void **state)
{
	(void)state;
	refuse_str(HEADER "a@example.org,a,b\nb@example.org,b,\"open\nc@example.org,c,d\n", 0, 3,
		   "a quoted field starting on line 3 is never closed");
	refuse_str(HEADER "a@example.org,\"a\"x,b\n", 0, 2, "text after a closing quote");
	refuse_str(HEADER "a@example.org,\"a\" \"b\",c\n", 0, 2, "text after a closing quote");
}

static void test_refuse_long_field(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_puts(&b, HEADER "a@example.org,a,");
	for (int i = 0; i < BATCH_CSV_MAX_FIELD + 1; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\n");
	refuse_one(b.data, b.len, 0, 2, "field 3 is longer than 4096 bytes");
	buf_free(&b);
}

static void build_rows(struct buf *b, int n)
{
	buf_puts(b, HEADER);
	for (int i = 0; i < n; i++)
		buf_printf(b, "user%d@example.org,user%d,pw%d\n", i, i, i);
}

static void test_row_limit(void **state)
{
	struct buf b = BUF_INIT;
	struct batch_csv *csv;

	(void)state;
	build_rows(&b, BATCH_CSV_MAX_ROWS);
	csv = parse_ok(b.data, b.len, 0);
	assert_int_equal(csv->nrows, BATCH_CSV_MAX_ROWS);
	assert_int_equal(csv->rows[BATCH_CSV_MAX_ROWS - 1].line, BATCH_CSV_MAX_ROWS + 1);
	assert_string_equal(csv->rows[BATCH_CSV_MAX_ROWS - 1].email_address,
			    "user49999@example.org");
	batch_csv_free(&csv);
	buf_reset(&b);

	build_rows(&b, BATCH_CSV_MAX_ROWS + 1);
	refuse_one(b.data, b.len, 0, BATCH_CSV_MAX_ROWS + 2, "more than 50000 rows");
	buf_free(&b);
}

static void test_problem_limit_and_order(void **state)
{
	struct buf b = BUF_INIT;
	struct batch_csv *csv;

	(void)state;
	buf_puts(&b, HEADER);
	/* rows 2..31: 15 duplicates of line 2 interleaved with malformed ones */
	for (int i = 0; i < 30; i++)
		buf_puts(&b, i % 2 == 0 ? "dup@example.org,a,b\n" : "bad,a,b\n");
	csv = refuse(b.data, b.len, 0);
	assert_int_equal(csv->total_problems, 29); /* 14 duplicates + 15 malformed */
	assert_int_equal(csv->nproblems, BATCH_CSV_MAX_PROBLEMS);
	assert_int_equal(csv->problems[0].line, 3);
	assert_non_null(strstr(csv->problems[0].message, "malformed"));
	assert_int_equal(csv->problems[1].line, 4);
	assert_non_null(strstr(csv->problems[1].message, "duplicate"));
	for (size_t i = 1; i < csv->nproblems; i++)
		assert_true(csv->problems[i].line > csv->problems[i - 1].line);
	batch_csv_free(&csv);
	buf_free(&b);
}

static void test_load(void **state)
{
	char path[] = "/tmp/mf-csv-XXXXXX";
	const char *data = HEADER "a@example.org,a,b\n";
	struct batch_csv *csv = NULL;
	struct mf_error err = {0};
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
	assert_int_equal(batch_csv_load(path, 0, &csv, &err), 0);
	assert_int_equal(csv->nrows, 1);
	assert_string_equal(csv->rows[0].email_address, "a@example.org");
	batch_csv_free(&csv);
	unlink(path);
	assert_int_equal(batch_csv_load(path, 0, &csv, &err), MF_EIO);
	assert_null(csv);
	assert_non_null(strstr(err.msg, path));
	assert_int_equal(batch_csv_load("/tmp", 0, &csv, &err), MF_EIO);
	assert_null(csv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_bom_crlf),
	    cmocka_unit_test(test_header_forms),
	    cmocka_unit_test(test_quotes),
	    cmocka_unit_test(test_embedded_newlines),
	    cmocka_unit_test(test_blank_rows_skipped),
	    cmocka_unit_test(test_admin_credentials),
	    cmocka_unit_test(test_refuse_columns),
	    cmocka_unit_test(test_refuse_ragged),
	    cmocka_unit_test(test_refuse_duplicates),
	    cmocka_unit_test(test_refuse_addresses),
	    cmocka_unit_test(test_address_rule),
	    cmocka_unit_test(test_refuse_utf8),
	    cmocka_unit_test(test_refuse_empty),
	    cmocka_unit_test(test_refuse_quoting),
	    cmocka_unit_test(test_refuse_long_field),
	    cmocka_unit_test(test_row_limit),
	    cmocka_unit_test(test_problem_limit_and_order),
	    cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
