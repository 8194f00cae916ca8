/* maildir-name.c: folder names <-> Maildir++ directory names, and the
 * subscriptions file, both as Dovecot 2.3 writes them (seen on 2.3.19).
 *
 * A storage name is each hierarchy level in modified UTF-7 (RFC 3501
 * 5.1.3) with the characters Maildir++ cannot hold escaped the way
 * Dovecot's listescape plugin does (a backslash and two hex digits);
 * directories join the levels with '.', the subscriptions file with a tab.
 */
#include "drivers/maildir-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap/mutf7.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define MAILDIR_SUBS_MAX (16u * 1024 * 1024)
#define MAILDIR_SUBS_HEADER "V\t2\n\n"

void maildir_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool maildir_level_needs_escape(const char *level, size_t i)
{
	char c = level[i];

	return c == '.' || c == '\\' || (i == 0 && c == '~');
}

static int maildir_encode_level(struct buf *out, const char *level, size_t len,
				struct mf_error *err)
{
	char *utf8 = xstrndup(level, len);
	char *enc;

	if (len == 0) {
		free(utf8);
		return mf_error_set(err, MF_EINVAL, "folder name has an empty level");
	}
	enc = mutf7_encode(utf8, err);
	free(utf8);
	if (enc == NULL)
		return err != NULL ? err->code : MF_EINVAL;
	for (size_t i = 0; enc[i] != '\0'; i++) {
		if (maildir_level_needs_escape(enc, i))
			buf_printf(out, "\\%02x", (unsigned char)enc[i]);
		else
			buf_putc(out, enc[i]);
	}
	free(enc);
	return 0;
}

int maildir_name_encode(const char *folder, char sep, char **out, struct mf_error *err)
{
	struct buf b = BUF_INIT;
	const char *p = folder;
	int rc;

	if (strcasecmp(folder, "INBOX") == 0) {
		*out = xstrdup("INBOX");
		return 0;
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (p == folder && len == 5 && strncasecmp(p, "INBOX", 5) == 0) {
			buf_puts(&b, "INBOX");
			rc = 0;
		} else {
			rc = maildir_encode_level(&b, p, len, err);
		}
		if (rc != 0) {
			buf_free(&b);
			return mf_error_prefix(err, "folder \"%s\"", folder);
		}
		if (slash == NULL)
			break;
		buf_putc(&b, sep);
		p = slash + 1;
	}
	*out = buf_steal(&b);
	return 0;
}

static int maildir_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int maildir_decode_level(struct buf *out, const char *level, size_t len,
				struct mf_error *err)
{
	struct buf raw = BUF_INIT;
	char *dec;

	if (len == 0)
		return mf_error_set(err, MF_EINVAL, "storage name has an empty level");
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (level[i] == '\\' && i + 2 < len &&
		    (hi = maildir_hexval(level[i + 1])) >= 0 &&
		    (lo = maildir_hexval(level[i + 2])) >= 0 && hi * 16 + lo != 0) {
			buf_putc(&raw, (char)(hi * 16 + lo));
			i += 2;
		} else {
			buf_putc(&raw, level[i]);
		}
	}
	dec = mutf7_decode(buf_cstr(&raw), err);
	buf_free(&raw);
	if (dec == NULL)
		return err != NULL ? err->code : MF_EINVAL;
	buf_puts(out, dec);
	free(dec);
	return 0;
}

int maildir_name_decode(const char *stor, char sep, char **out, struct mf_error *err)
{
	struct buf b = BUF_INIT;
	const char *p = stor;

	for (;;) {
		const char *end = strchr(p, sep);
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if (maildir_decode_level(&b, p, len, err) != 0) {
			buf_free(&b);
			return mf_error_prefix(err, "storage name \"%s\"", stor);
		}
		if (end == NULL)
			break;
		buf_putc(&b, '/');
		p = end + 1;
	}
	*out = buf_steal(&b);
	return 0;
}

int maildir_folder_dir(const struct maildir *md, const char *folder, char **dir_r,
		       struct mf_error *err)
{
	char *stor;
	int rc;

	if (strcasecmp(folder, "INBOX") == 0) {
		*dir_r = xstrdup(md->root);
		return 0;
	}
	rc = maildir_name_encode(folder, '.', &stor, err);
	if (rc != 0)
		return rc;
	*dir_r = xasprintf("%s/.%s", md->root, stor);
	free(stor);
	return 0;
}

/* Calls fn for each name line of the file's text (after the header). */
static void maildir_subs_lines(const char *text, void (*fn)(void *ctx, const char *line),
			       void *ctx)
{
	const char *p = text;

	if (strncmp(p, "V\t", 2) == 0) {
		const char *nl = strchr(p, '\n');

		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (len > 0) {
			char *line = xstrndup(p, len);

			fn(ctx, line);
			free(line);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
}

struct maildir_subs_collect {
	char **names;
	size_t count;
};

static void maildir_subs_collect_fn(void *ctx, const char *line)
{
	struct maildir_subs_collect *c = ctx;
	char *name;

	/* A line we cannot decode names nothing we could list: skip it. */
	if (maildir_name_decode(line, '\t', &name, NULL) != 0)
		return;
	c->names = xreallocarray(c->names, c->count + 1, sizeof(*c->names));
	c->names[c->count++] = name;
}

int maildir_subs_read(const struct maildir *md, char ***names_r, size_t *count_r,
		      struct mf_error *err)
{
	struct maildir_subs_collect c = { NULL, 0 };
	struct buf text = BUF_INIT;
	char *path = xasprintf("%s/subscriptions", md->root);
	int rc = maildir_read_small(path, MAILDIR_SUBS_MAX, &text, err);

	free(path);
	if (rc != 0)
		return rc;
	maildir_subs_lines(buf_cstr(&text), maildir_subs_collect_fn, &c);
	buf_free(&text);
	*names_r = c.names;
	*count_r = c.count;
	return 0;
}

struct maildir_subs_find {
	const char *want;
	struct buf lines;       /* the existing name lines, re-emitted */
	bool found;
};

static void maildir_subs_find_fn(void *ctx, const char *line)
{
	struct maildir_subs_find *f = ctx;

	if (strcmp(line, f->want) == 0)
		f->found = true;
	buf_puts(&f->lines, line);
	buf_putc(&f->lines, '\n');
}

int maildir_subs_add(const struct maildir *md, const char *folder, struct mf_error *err)
{
	struct maildir_subs_find f = { NULL, BUF_INIT, false };
	struct buf text = BUF_INIT, out = BUF_INIT;
	char *path = NULL, *tmpdir = NULL, *stor = NULL;
	int rc;

	rc = maildir_name_encode(folder, '\t', &stor, err);
	if (rc != 0)
		return rc;
	path = xasprintf("%s/subscriptions", md->root);
	rc = maildir_read_small(path, MAILDIR_SUBS_MAX, &text, err);
	if (rc != 0)
		goto out;
	f.want = stor;
	maildir_subs_lines(buf_cstr(&text), maildir_subs_find_fn, &f);
	if (f.found)
		goto out;
	buf_puts(&out, MAILDIR_SUBS_HEADER);
	buf_append(&out, f.lines.data, f.lines.len);
	buf_puts(&out, stor);
	buf_putc(&out, '\n');
	tmpdir = xasprintf("%s/tmp", md->root);
	rc = maildir_write_atomic(md, tmpdir, path, out.data, out.len, err);
out:
	buf_free(&text);
	buf_free(&out);
	buf_free(&f.lines);
	free(stor);
	free(path);
	free(tmpdir);
	return rc;
}
