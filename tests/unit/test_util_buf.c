/* Unit tests for src/util: buffers, errors, allocation helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/mf-error.h"
#include "util/xmalloc.h"

static void test_buf_append_and_consume(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_string_equal(buf_cstr(&b), "");
	buf_puts(&b, "hello ");
	buf_printf(&b, "%s %d", "world", 42);
	assert_string_equal(buf_cstr(&b), "hello world 42");
	buf_consume(&b, 6);
	assert_string_equal(buf_cstr(&b), "world 42");
	buf_append(&b, "\0x", 2);
	assert_int_equal(b.len, 10);
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void test_buf_growth(void **state)
{
	struct buf b = BUF_INIT;
	char *s;

	(void)state;
	for (int i = 0; i < 10000; i++)
		buf_putc(&b, (char)('a' + i % 26));
	assert_int_equal(b.len, 10000);
	assert_int_equal(b.data[9999], 'a' + 9999 % 26);
	s = buf_steal(&b);
	assert_null(b.data);
	assert_int_equal(strlen(s), 10000);
	free(s);
}

static void test_error_one_line(void **state)
{
	struct mf_error err;
	int rc;

	(void)state;
	rc = mf_error_set(&err, MF_EPROTO, "bad\r\nline %d", 7);
	assert_int_equal(rc, MF_EPROTO);
	assert_string_equal(err.msg, "bad  line 7");
	mf_error_prefix(&err, "greeting");
	assert_string_equal(err.msg, "greeting: bad  line 7");
	assert_string_equal(mf_errcode_name(MF_ETIMEOUT), "timeout");
	assert_int_equal(mf_error_set(NULL, MF_EIO, "x"), MF_EIO);
}

static void test_secret_free(void **state)
{
	char *s = xstrdup("hunter2");

	(void)state;
	mf_secret_free(&s);
	assert_null(s);
	mf_secret_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_append_and_consume),
		cmocka_unit_test(test_buf_growth),
		cmocka_unit_test(test_error_one_line),
		cmocka_unit_test(test_secret_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
