/* maildir-keywords.c: the per-folder dovecot-keywords file ("N name" lines,
 * N = 0-25 standing for the letters a-z in message file names), as
 * Dovecot 2.3 writes it. Keywords are matched without regard to ASCII case
 * (RFC 9051 2.3.2: flags are case-insensitive). */
#include "drivers/maildir-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xmalloc.h"

#define MAILDIR_KW_FILE_MAX (1024 * 1024)

void maildir_kw_clear(struct maildir_keywords *kw)
{
	free(kw->dir);
	kw->dir = NULL;
	for (size_t i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		free(kw->names[i]);
		kw->names[i] = NULL;
	}
}

static void maildir_kw_parse(struct maildir_keywords *kw, const char *text)
{
	const char *p = text;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		size_t i = 0;
		unsigned n = 0;

		while (i < len && i < 3 && p[i] >= '0' && p[i] <= '9')
			n = n * 10 + (unsigned)(p[i++] - '0');
		if (i > 0 && i < len && p[i] == ' ' && i + 1 < len && n < MAILDIR_KEYWORDS_MAX) {
			free(kw->names[n]);
			kw->names[n] = xstrndup(p + i + 1, len - i - 1);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
}

int maildir_kw_load(struct maildir *md, const char *dir, bool reload, struct mf_error *err)
{
	struct buf text = BUF_INIT;
	char *path;
	int rc;

	if (!reload && md->kw.dir != NULL && strcmp(md->kw.dir, dir) == 0)
		return 0;
	maildir_kw_clear(&md->kw);
	path = xasprintf("%s/dovecot-keywords", dir);
	rc = maildir_read_small(path, MAILDIR_KW_FILE_MAX, &text, err);
	free(path);
	if (rc != 0)
		return rc;
	maildir_kw_parse(&md->kw, buf_cstr(&text));
	buf_free(&text);
	md->kw.dir = xstrdup(dir);
	return 0;
}

static int maildir_kw_find(const struct maildir_keywords *kw, const char *name)
{
	for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (kw->names[i] != NULL && strcasecmp(kw->names[i], name) == 0)
			return i;
	}
	return -1;
}

/* An IMAP flag-keyword is an atom (RFC 9051 section 9: ATOM-CHAR). */
static bool maildir_kw_valid(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p) != NULL)
			return false;
	}
	return true;
}

static int maildir_kw_save(struct maildir *md, const char *dir, struct mf_error *err)
{
	struct buf out = BUF_INIT;
	char *path = xasprintf("%s/dovecot-keywords", dir);
	char *tmpdir = xasprintf("%s/tmp", dir);
	int rc;

	for (int i = 0; i < MAILDIR_KEYWORDS_MAX; i++) {
		if (md->kw.names[i] != NULL)
			buf_printf(&out, "%d %s\n", i, md->kw.names[i]);
	}
	rc = maildir_write_atomic(md, tmpdir, path, out.data != NULL ? out.data : "", out.len,
				  err);
	buf_free(&out);
	free(path);
	free(tmpdir);
	return rc;
}

static void maildir_kw_note(struct buf *b, const char *name)
{
	if (b->len > 0)
		buf_putc(b, ' ');
	buf_puts(b, name);
}

int maildir_kw_letters(struct maildir *md, const char *dir, char *const *keywords, size_t n,
		       char letters[MAILDIR_KEYWORDS_MAX + 1], char **warning_r,
		       struct mf_error *err)
{
	struct buf invalid = BUF_INIT, full = BUF_INIT;
	uint32_t mask = 0;
	bool reloaded = false, changed = false;
	size_t nl = 0;
	int rc;

	*warning_r = NULL;
	letters[0] = '\0';
	rc = maildir_kw_load(md, dir, false, err);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		int slot;

		if (!maildir_kw_valid(keywords[i])) {
			maildir_kw_note(&invalid, keywords[i] != NULL ? keywords[i] : "(null)");
			continue;
		}
		slot = maildir_kw_find(&md->kw, keywords[i]);
		if (slot < 0 && !reloaded) {
			/* Someone else (Dovecot) may have added keywords since we
			 * read the file: never overwrite theirs. */
			reloaded = true;
			rc = maildir_kw_load(md, dir, true, err);
			if (rc != 0)
				goto out;
			slot = maildir_kw_find(&md->kw, keywords[i]);
		}
		if (slot < 0) {
			for (int s = 0; s < MAILDIR_KEYWORDS_MAX && slot < 0; s++) {
				if (md->kw.names[s] == NULL)
					slot = s;
			}
			if (slot < 0) {
				maildir_kw_note(&full, keywords[i]);
				continue;
			}
			md->kw.names[slot] = xstrdup(keywords[i]);
			changed = true;
		}
		mask |= 1u << slot;
	}
	if (changed) {
		rc = maildir_kw_save(md, dir, err);
		if (rc != 0) {
			/* The cache may now hold letters the file lacks. */
			maildir_kw_clear(&md->kw);
			goto out;
		}
	}
	for (int s = 0; s < MAILDIR_KEYWORDS_MAX; s++) {
		if (mask & (1u << s))
			letters[nl++] = (char)('a' + s);
	}
	letters[nl] = '\0';
	if (invalid.len > 0 || full.len > 0) {
		struct buf w = BUF_INIT;

		if (full.len > 0)
			buf_printf(&w, "keywords not stored (all %d keyword letters of the folder "
				   "are in use): %s", MAILDIR_KEYWORDS_MAX, full.data);
		if (invalid.len > 0)
			buf_printf(&w, "%sinvalid keywords not stored: %s",
				   w.len > 0 ? "; " : "", invalid.data);
		*warning_r = buf_steal(&w);
	}
out:
	buf_free(&invalid);
	buf_free(&full);
	return rc;
}
