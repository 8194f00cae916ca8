/* batch-csv.c: the batch CSV parser (RFC 4180 with the leniencies and
 * checks described in batch-csv.h).
 *
 * Three passes over the data: UTF-8 validation by line, the records (a
 * small state machine that counts physical lines, also inside quoted
 * fields), then a sort of the addresses for duplicates. Problems are
 * collected with their lines and sorted at the end, so the report lists
 * the first ones in the file whatever pass found them.
 *
 * Fields may hold passwords: the scratch buffers are wiped before reuse.
 */
#include "engine/batch-csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xmalloc.h"

enum csv_col {
	CSV_EMAIL,
	CSV_USER,
	CSV_PASSWORD,
	CSV_ROOT,
	CSV_TARGET_USER,
	CSV_TARGET_PASSWORD,
	CSV_NCOLS
};

static const char *const csv_col_names[CSV_NCOLS] = {
    "EmailAddress", "UserName", "Password", "UserRoot", "TargetUserName", "TargetPassword",
};

struct csv_field {
	char *text; /* owned, wiped on reset */
	size_t len;
	bool quoted;
};

struct csv_record {
	struct csv_field *fields;
	size_t n, cap;
	unsigned line; /* the record's first line */
	char *problem; /* quoting error: the record is refused; owned */
};

struct csv_reader {
	const char *p, *end;
	unsigned line;	 /* current physical line, 1-based */
	struct buf cur;	 /* the field being read */
	bool cur_quoted; /* cur was quoted */
};

struct csv_problem_entry {
	unsigned line;
	size_t seq; /* insertion order, for a stable sort */
	char *message;
};

struct csv_state {
	unsigned flags;
	int col[CSV_NCOLS]; /* header index of each column, -1 when absent */
	size_t ncols;	    /* header field count */
	struct csv_problem_entry *problems;
	size_t nproblems, cap_problems;
	struct batch_csv_row *rows;
	size_t nrows, cap_rows;
};

/* ---- problems -------------------------------------------------------------- */

static void csv_problem(struct csv_state *s, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void csv_problem(struct csv_state *s, unsigned line, const char *fmt, ...)
{
	va_list ap;

	if (s->nproblems == s->cap_problems) {
		s->cap_problems = s->cap_problems == 0 ? 16 : s->cap_problems * 2;
		s->problems = xreallocarray(s->problems, s->cap_problems, sizeof(*s->problems));
	}
	va_start(ap, fmt);
	s->problems[s->nproblems].message = xvasprintf(fmt, ap);
	va_end(ap);
	/* Messages quote addresses and column names from the file: keep them
	 * on one line. */
	for (char *c = s->problems[s->nproblems].message; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	s->problems[s->nproblems].line = line;
	s->problems[s->nproblems].seq = s->nproblems;
	s->nproblems++;
}

static int csv_problem_cmp(const void *a, const void *b)
{
	const struct csv_problem_entry *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- UTF-8 --------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t csv_utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* One problem per line holding invalid UTF-8 or a NUL byte. Lines are
 * counted as the reader counts them: LF, CRLF and a lone CR each end one. */
static void csv_check_utf8(struct csv_state *s, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len;
	unsigned line = 1, reported = 0;

	while (p < end) {
		size_t n = *p == 0 ? 0 : csv_utf8_len(p, end);

		if (n == 0) {
			if (reported != line)
				csv_problem(s, line, "%s",
					    *p == 0 ? "contains a NUL byte"
						    : "invalid UTF-8 (save the file as UTF-8)");
			reported = line;
			n = 1;
		} else if (*p == '\n' || (*p == '\r' && (p + 1 == end || p[1] != '\n'))) {
			line++;
		}
		p += n;
	}
}

/* ---- records -------------------------------------------------------------------- */

static void csv_wipe_buf(struct buf *b)
{
	if (b->data != NULL)
		mf_memzero(b->data, b->len);
	buf_reset(b);
}

static void csv_record_reset(struct csv_record *rec)
{
	for (size_t i = 0; i < rec->n; i++) {
		mf_memzero(rec->fields[i].text, rec->fields[i].len);
		free(rec->fields[i].text);
	}
	rec->n = 0;
	free(rec->problem);
	rec->problem = NULL;
}

static void csv_record_free(struct csv_record *rec)
{
	csv_record_reset(rec);
	free(rec->fields);
	rec->fields = NULL;
	rec->cap = 0;
}

static bool csv_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Move the current field into rec, trimmed unless it was quoted. */
static void csv_end_field(struct csv_reader *r, struct csv_record *rec)
{
	const char *d = buf_cstr(&r->cur);
	size_t start = 0, end = r->cur.len;
	struct csv_field *f;

	if (!r->cur_quoted) {
		while (start < end && csv_is_blank(d[start]))
			start++;
		while (end > start && csv_is_blank(d[end - 1]))
			end--;
	}
	if (rec->n == rec->cap) {
		rec->cap = rec->cap == 0 ? 8 : rec->cap * 2;
		rec->fields = xreallocarray(rec->fields, rec->cap, sizeof(*rec->fields));
	}
	f = &rec->fields[rec->n++];
	f->len = end - start;
	f->text = xmalloc(f->len + 1);
	memcpy(f->text, d + start, f->len);
	f->text[f->len] = '\0';
	f->quoted = r->cur_quoted;
	csv_wipe_buf(&r->cur);
	r->cur_quoted = false;
}

/* Consume a line break at r->p if there is one. */
static bool csv_newline(struct csv_reader *r)
{
	if (r->p < r->end && *r->p == '\n') {
		r->p++;
	} else if (r->p < r->end && *r->p == '\r') {
		r->p++;
		if (r->p < r->end && *r->p == '\n')
			r->p++;
	} else {
		return false;
	}
	r->line++;
	return true;
}

static bool csv_only_blanks(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (!csv_is_blank(b->data[i]))
			return false;
	return true;
}

/* Inside quotes at r->p (past the opening quote): read up to and past the
 * closing quote. false when the data ends first. */
static bool csv_read_quoted(struct csv_reader *r)
{
	while (r->p < r->end) {
		char c = *r->p;

		if (c == '"') {
			if (r->p + 1 < r->end && r->p[1] == '"') {
				buf_putc(&r->cur, '"');
				r->p += 2;
				continue;
			}
			r->p++;
			return true;
		}
		if (c == '\n' || (c == '\r' && (r->p + 1 == r->end || r->p[1] != '\n')))
			r->line++;
		buf_putc(&r->cur, c);
		r->p++;
	}
	return false;
}

/* Read the next record into rec. Returns false at the end of the data. */
static bool csv_read_record(struct csv_reader *r, struct csv_record *rec)
{
	unsigned field_line;

	csv_record_reset(rec);
	if (r->p >= r->end)
		return false;
	rec->line = r->line;
	while (r->p < r->end) {
		char c = *r->p;

		if (c == ',') {
			csv_end_field(r, rec);
			r->p++;
		} else if (csv_newline(r)) {
			break;
		} else if (c == '"' && !r->cur_quoted && csv_only_blanks(&r->cur)) {
			/* A quoted field (after optional blanks). */
			csv_wipe_buf(&r->cur);
			r->cur_quoted = true;
			field_line = r->line;
			r->p++;
			if (!csv_read_quoted(r) && rec->problem == NULL)
				rec->problem = xasprintf("a quoted field starting on line %u is "
							 "never closed",
							 field_line);
			while (r->p < r->end && csv_is_blank(*r->p))
				r->p++;
			if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r' &&
			    rec->problem == NULL)
				rec->problem = xstrdup("text after a closing quote (inside a "
						       "quoted field, write a quote as \"\")");
		} else {
			buf_putc(&r->cur, c);
			r->p++;
		}
	}
	csv_end_field(r, rec);
	return true;
}

/* Blank lines and lines of only commas carry no row. */
static bool csv_record_empty(const struct csv_record *rec)
{
	for (size_t i = 0; i < rec->n; i++)
		if (rec->fields[i].len > 0 || rec->fields[i].quoted)
			return false;
	return rec->problem == NULL;
}

/* ---- header ---------------------------------------------------------------------- */

static int csv_col_lookup(const char *name, size_t len)
{
	for (int c = 0; c < CSV_NCOLS; c++)
		if (strlen(csv_col_names[c]) == len &&
		    strncasecmp(name, csv_col_names[c], len) == 0)
			return c;
	return -1;
}

static void csv_header(struct csv_state *s, const struct csv_record *rec)
{
	bool optional_creds = (s->flags & BATCH_CSV_ADMIN_CREDENTIALS) != 0;

	for (int c = 0; c < CSV_NCOLS; c++)
		s->col[c] = -1;
	s->ncols = rec->n;
	if (rec->problem != NULL) {
		csv_problem(s, rec->line, "%s", rec->problem);
		return;
	}
	for (size_t i = 0; i < rec->n; i++) {
		const char *name = rec->fields[i].text;
		size_t len = rec->fields[i].len;
		int c;

		/* Header names are trimmed even when quoted. */
		while (len > 0 && csv_is_blank(*name))
			name++, len--;
		while (len > 0 && csv_is_blank(name[len - 1]))
			len--;
		c = csv_col_lookup(name, len);
		if (len == 0)
			csv_problem(s, rec->line, "column %zu of the header has no name", i + 1);
		else if (c < 0)
			csv_problem(s, rec->line,
				    "unknown column \"%.*s\"%s (known: EmailAddress, UserName, "
				    "Password, UserRoot, TargetUserName, TargetPassword)",
				    (int)(len > 80 ? 80 : len), name,
				    memchr(name, '@', len) != NULL ? "; the first line must be "
								     "the header"
								   : "");
		else if (s->col[c] >= 0)
			csv_problem(s, rec->line, "column %s appears twice", csv_col_names[c]);
		else
			s->col[c] = (int)i;
	}
	if (s->col[CSV_EMAIL] < 0)
		csv_problem(s, rec->line, "missing column EmailAddress");
	if (!optional_creds && s->col[CSV_USER] < 0)
		csv_problem(s, rec->line, "missing column UserName");
	if (!optional_creds && s->col[CSV_PASSWORD] < 0)
		csv_problem(s, rec->line, "missing column Password");
}

/* ---- rows ------------------------------------------------------------------------------ */

/* The field of column c, or NULL when the column is absent. */
static const struct csv_field *csv_get(const struct csv_state *s, const struct csv_record *rec,
				       enum csv_col c)
{
	return s->col[c] >= 0 ? &rec->fields[s->col[c]] : NULL;
}

static char *csv_opt_dup(const struct csv_field *f)
{
	return f != NULL && f->len > 0 ? xstrndup(f->text, f->len) : NULL;
}

static bool csv_row_fields_ok(struct csv_state *s, const struct csv_record *rec)
{
	if (rec->problem != NULL) {
		csv_problem(s, rec->line, "%s", rec->problem);
		return false;
	}
	if (rec->n != s->ncols) {
		csv_problem(s, rec->line, "%zu %s where the header has %zu", rec->n,
			    rec->n == 1 ? "field" : "fields", s->ncols);
		return false;
	}
	for (size_t i = 0; i < rec->n; i++) {
		if (rec->fields[i].len > BATCH_CSV_MAX_FIELD) {
			csv_problem(s, rec->line, "field %zu is longer than %d bytes", i + 1,
				    BATCH_CSV_MAX_FIELD);
			return false;
		}
	}
	return true;
}

/* The checks of the credentials; true when the row may be kept. */
static bool csv_row_creds_ok(struct csv_state *s, const struct csv_record *rec)
{
	static const enum csv_col need[] = {CSV_USER, CSV_PASSWORD};
	bool ok = true;

	if (s->flags & BATCH_CSV_ADMIN_CREDENTIALS)
		return true;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		const struct csv_field *f = csv_get(s, rec, need[i]);

		if (f != NULL && f->len == 0) {
			csv_problem(s, rec->line,
				    "%s is empty (allowed only when the source endpoint has "
				    "admin credentials)",
				    csv_col_names[need[i]]);
			ok = false;
		}
	}
	return ok;
}

static void csv_row(struct csv_state *s, const struct csv_record *rec)
{
	const struct csv_field *email;
	struct batch_csv_row *row;
	bool ok;

	if (!csv_row_fields_ok(s, rec))
		return;
	email = csv_get(s, rec, CSV_EMAIL);
	if (email == NULL)
		return; /* reported with the header */
	ok = csv_row_creds_ok(s, rec);
	if (email->len == 0) {
		csv_problem(s, rec->line, "EmailAddress is empty");
		return;
	}
	if (!batch_csv_address_ok(email->text)) {
		csv_problem(s, rec->line, "malformed address \"%.100s\"", email->text);
		return;
	}
	if (!ok)
		return;
	if (s->nrows == s->cap_rows) {
		s->cap_rows = s->cap_rows == 0 ? 64 : s->cap_rows * 2;
		s->rows = xreallocarray(s->rows, s->cap_rows, sizeof(*s->rows));
	}
	row = &s->rows[s->nrows++];
	row->line = rec->line;
	row->email_address = xstrndup(email->text, email->len);
	row->user_name = csv_opt_dup(csv_get(s, rec, CSV_USER));
	row->password = csv_opt_dup(csv_get(s, rec, CSV_PASSWORD));
	row->user_root = csv_opt_dup(csv_get(s, rec, CSV_ROOT));
	row->target_user_name = csv_opt_dup(csv_get(s, rec, CSV_TARGET_USER));
	row->target_password = csv_opt_dup(csv_get(s, rec, CSV_TARGET_PASSWORD));
}

/* ---- duplicates ------------------------------------------------------------------------- */

struct csv_key {
	char *key; /* ASCII lower case */
	unsigned line;
	const char *email;
};

static int csv_key_cmp(const void *a, const void *b)
{
	const struct csv_key *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void csv_check_duplicates(struct csv_state *s)
{
	struct csv_key *keys;
	size_t first = 0;

	if (s->nrows < 2)
		return;
	keys = xreallocarray(NULL, s->nrows, sizeof(*keys));
	for (size_t i = 0; i < s->nrows; i++) {
		keys[i].key = xstrdup(s->rows[i].email_address);
		for (char *p = keys[i].key; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		keys[i].line = s->rows[i].line;
		keys[i].email = s->rows[i].email_address;
	}
	qsort(keys, s->nrows, sizeof(*keys), csv_key_cmp);
	for (size_t i = 1; i < s->nrows; i++) {
		if (strcmp(keys[i].key, keys[first].key) != 0) {
			first = i;
			continue;
		}
		csv_problem(s, keys[i].line, "duplicate address %.100s (first on line %u)",
			    keys[i].email, keys[first].line);
	}
	for (size_t i = 0; i < s->nrows; i++)
		free(keys[i].key);
	free(keys);
}

/* ---- parse --------------------------------------------------------------------------------- */

static void csv_rows_free(struct batch_csv_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].email_address);
		free(rows[i].user_name);
		mf_secret_free(&rows[i].password);
		free(rows[i].user_root);
		free(rows[i].target_user_name);
		mf_secret_free(&rows[i].target_password);
	}
	free(rows);
}

/* Read the header and the rows. */
static void csv_read_all(struct csv_state *s, struct csv_reader *r)
{
	struct csv_record rec = {0};
	bool have_header = false;
	size_t count = 0;

	while (csv_read_record(r, &rec)) {
		if (csv_record_empty(&rec))
			continue;
		if (!have_header) {
			csv_header(s, &rec);
			have_header = true;
			continue;
		}
		if (++count > BATCH_CSV_MAX_ROWS) {
			csv_problem(s, rec.line,
				    "more than %d rows: split the users into several "
				    "batches",
				    BATCH_CSV_MAX_ROWS);
			break;
		}
		csv_row(s, &rec);
	}
	csv_record_free(&rec);
	if (!have_header)
		csv_problem(s, 0, "the file is empty");
	else if (count == 0)
		csv_problem(s, 0, "the file has a header but no users");
}

/* Move the state's results into csv: rows when there is no problem, else
 * the first problems by line. */
static int csv_finish(struct csv_state *s, struct batch_csv *csv, struct mf_error *err)
{
	size_t keep;

	if (s->nproblems == 0) {
		csv->rows = s->rows;
		csv->nrows = s->nrows;
		return 0;
	}
	csv_rows_free(s->rows, s->nrows);
	qsort(s->problems, s->nproblems, sizeof(*s->problems), csv_problem_cmp);
	keep = s->nproblems < BATCH_CSV_MAX_PROBLEMS ? s->nproblems : BATCH_CSV_MAX_PROBLEMS;
	csv->problems = xreallocarray(NULL, keep, sizeof(*csv->problems));
	for (size_t i = 0; i < s->nproblems; i++) {
		if (i < keep) {
			csv->problems[i].line = s->problems[i].line;
			csv->problems[i].message = s->problems[i].message;
		} else {
			free(s->problems[i].message);
		}
	}
	csv->nproblems = keep;
	csv->total_problems = s->nproblems;
	if (csv->problems[0].line > 0)
		mf_error_set(err, MF_EINVAL, "line %u: %s", csv->problems[0].line,
			     csv->problems[0].message);
	else
		mf_error_set(err, MF_EINVAL, "%s", csv->problems[0].message);
	if (s->nproblems > 1)
		mf_error_prefix(err, "CSV refused with %zu problems, the first", s->nproblems);
	return MF_EINVAL;
}

int batch_csv_parse(const char *data, size_t len, unsigned flags, struct batch_csv **csv_r,
		    struct mf_error *err)
{
	struct batch_csv *csv = xcalloc(1, sizeof(*csv));
	struct csv_state s = {0};
	struct csv_reader r = {0};
	int rc;

	*csv_r = csv;
	s.flags = flags;
	if (len >= 2 && (((unsigned char)data[0] == 0xff && (unsigned char)data[1] == 0xfe) ||
			 ((unsigned char)data[0] == 0xfe && (unsigned char)data[1] == 0xff))) {
		csv_problem(&s, 0, "the file is UTF-16; save it as UTF-8");
	} else {
		if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
			data += 3;
			len -= 3;
		}
		csv_check_utf8(&s, data, len);
		r.p = data;
		r.end = data + len;
		r.line = 1;
		csv_read_all(&s, &r);
		csv_check_duplicates(&s);
	}
	csv_wipe_buf(&r.cur);
	buf_free(&r.cur);
	rc = csv_finish(&s, csv, err);
	free(s.problems);
	return rc;
}

int batch_csv_load(const char *path, unsigned flags, struct batch_csv **csv_r, struct mf_error *err)
{
	struct stat sb;
	char *data;
	size_t len = 0;
	ssize_t n;
	int fd, rc = 0;

	*csv_r = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mf_error_set(err, MF_EIO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return mf_error_set(err, MF_EIO, "%s is not a regular file", path);
	}
	if (sb.st_size > BATCH_CSV_MAX_BYTES) {
		close(fd);
		return mf_error_set(err, MF_ELIMIT, "%s is larger than %d MB", path,
				    BATCH_CSV_MAX_BYTES >> 20);
	}
	data = xmalloc((size_t)sb.st_size + 1);
	while (len < (size_t)sb.st_size) {
		n = read(fd, data + len, (size_t)sb.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? errno : 0;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len < (size_t)sb.st_size) {
		mf_memzero(data, len);
		free(data);
		return mf_error_set(err, MF_EIO, "cannot read %s: %s", path,
				    rc != 0 ? strerror(rc) : "the file shrank while being read");
	}
	rc = batch_csv_parse(data, len, flags, csv_r, err);
	mf_memzero(data, len);
	free(data);
	return rc;
}

void batch_csv_free(struct batch_csv **csvp)
{
	struct batch_csv *csv = *csvp;

	if (csv == NULL)
		return;
	csv_rows_free(csv->rows, csv->nrows);
	for (size_t i = 0; i < csv->nproblems; i++)
		free(csv->problems[i].message);
	free(csv->problems);
	free(csv);
	*csvp = NULL;
}

/* ---- addresses ---------------------------------------------------------------------------------
 */

static bool csv_local_ok(const char *s, size_t len)
{
	if (len == 0 || len > 64 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x80)
			continue;
		if (c <= 0x20 || c == 0x7f || strchr("()<>[]:;,\\\"@", c) != NULL)
			return false;
		if (c == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

static bool csv_label_ok(const char *s, size_t len)
{
	if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

bool batch_csv_address_ok(const char *addr)
{
	const char *at, *domain, *dot;
	size_t len;

	if (addr == NULL)
		return false;
	len = strlen(addr);
	at = strchr(addr, '@');
	if (len > 254 || at == NULL || strchr(at + 1, '@') != NULL)
		return false;
	if (!csv_local_ok(addr, (size_t)(at - addr)))
		return false;
	domain = at + 1;
	if (*domain == '\0')
		return false;
	for (;;) {
		dot = strchr(domain, '.');
		if (!csv_label_ok(domain, dot != NULL ? (size_t)(dot - domain) : strlen(domain)))
			return false;
		if (dot == NULL)
			return true;
		domain = dot + 1;
	}
}
