/* imap-driver-root.c: UserRoot, a user's mailbox found below a path of the
 * server's hierarchy rather than in the personal namespace (imap-driver.h,
 * "Folders under a root"), as an administrator sees other users' mail:
 * Cyrus "user/alice" (the root is the inbox), Dovecot's shared namespace
 * "shared/alice/INBOX", Exchange's "/users/alice".
 *
 * The root becomes the listing's prefix: names from the server lose
 * "root<sep>" (imd_name_from_raw), names to the server gain it
 * (imd_translate), and INBOX is the root itself or root<sep>INBOX.
 *
 * RFC 9051 section 6.3.9 (LIST patterns), RFC 2342 (NAMESPACE: other
 * users' and shared namespaces).
 */
#include "drivers/imap-driver-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap/mutf7.h"
#include "util/xmalloc.h"

int imd_root_set(struct imd *m, const char *user_root, struct mf_error *err)
{
	size_t len;

	if (user_root == NULL || user_root[0] == '\0')
		return 0;
	/* One leading and one trailing '/' are no part of it; the server's
	 * own separator is trimmed once it is known. */
	if (user_root[0] == '/')
		user_root++;
	len = strlen(user_root);
	if (len > 0 && user_root[len - 1] == '/')
		len--;
	if (len == 0)
		return mf_error_set(err, MF_EINVAL, "UserRoot names no folder");
	m->root = xstrndup(user_root, len);
	return 0;
}

/* root with '/' read as sep (as written, when sep is '/' or none). */
static char *imd_root_native(const char *root, char sep)
{
	char *s = xstrdup(root);

	for (char *p = s; sep != '\0' && *p != '\0'; p++) {
		if (*p == '/')
			*p = sep;
	}
	return s;
}

static void imd_sep_untagged(void *ctx, const struct imap_response *r)
{
	char *sep = ctx;
	const struct imap_arg *a = r->args;

	if (r->keyword == NULL || strcmp(r->keyword, "LIST") != 0 || r->args_count < 2)
		return;
	if ((a[1].type == IMAP_ARG_STRING || a[1].type == IMAP_ARG_ATOM) && a[1].len == 1)
		*sep = a[1].data[0];
}

/* The root's separator: its namespace's (NAMESPACE), else the personal
 * one, else what LIST "" "" says. */
static int imd_root_sep(struct imd *m, char *sep_r, struct mf_error *err)
{
	struct imap_cmd *cmd;
	struct imd_reply rep;
	int rc;

	for (size_t i = 0; i < m->nothers; i++) {
		char *native = imd_root_native(m->root, m->other_seps[i]);
		const char *p = m->others[i];
		size_t n = strlen(p);
		bool match = strncmp(native, p, n) == 0 ||
			     (n > 0 && strlen(native) == n - 1 && strncmp(native, p, n - 1) == 0);

		free(native);
		if (match) {
			*sep_r = m->other_seps[i];
			return 0;
		}
	}
	if (m->ns_done || m->sep != '\0') {
		*sep_r = m->sep;
		return 0;
	}
	*sep_r = '\0';
	cmd = imap_cmd_new("LIST");
	imap_cmd_astring(cmd, "");
	imap_cmd_astring(cmd, "");
	rc = imd_run(m, cmd, imd_sep_untagged, sep_r, &rep, err);
	imd_reply_free(&rep);
	return rc;
}

static int imd_root_resolve(struct imd *m, struct mf_error *err)
{
	char *native, *raw;
	size_t len;
	char sep;
	int rc;

	if (m->root_raw != NULL)
		return 0;
	rc = imd_root_sep(m, &sep, err);
	if (rc < 0)
		return rc;
	native = imd_root_native(m->root, sep);
	len = strlen(native);
	if (sep != '\0' && len > 1 && native[len - 1] == sep)
		native[--len] = '\0';
	raw = mutf7_encode(native, err);
	free(native);
	if (raw == NULL)
		return err != NULL && err->code != 0 ? err->code : MF_EINVAL;
	m->root_raw = raw;
	m->root_sep = sep;
	m->sep = sep;
	free(m->prefix);
	m->prefix = sep != '\0' ? xasprintf("%s%c", raw, sep) : xstrdup(raw);
	return 0;
}

/* Move b's entries to the end of a. */
static void imd_list_merge(struct imap_list_result *a, struct imap_list_result *b)
{
	if (b->count > 0) {
		a->entries = xreallocarray(a->entries, a->count + b->count, sizeof(*a->entries));
		memcpy(a->entries + a->count, b->entries, b->count * sizeof(*b->entries));
		a->count += b->count;
	}
	a->subscriptions_known = a->subscriptions_known && b->subscriptions_known;
	free(b->entries);
	b->entries = NULL;
	b->count = 0;
}

int imd_root_list(struct imd *m, struct imap_list_result *out, struct mf_error *err)
{
	struct imap_list_result below;
	char *pattern;
	int rc;

	out->entries = NULL;
	out->count = 0;
	out->subscriptions_known = false;
	rc = imd_root_resolve(m, err);
	if (rc == 0)
		rc = imap_client_list_pattern(m->c, m->root_raw, out, err);
	if (rc < 0 || m->root_sep == '\0')
		return rc;
	pattern = xasprintf("%s%c*", m->root_raw, m->root_sep);
	rc = imap_client_list_pattern(m->c, pattern, &below, err);
	free(pattern);
	if (rc < 0) {
		imap_list_result_free(out);
		return rc;
	}
	imd_list_merge(out, &below);
	return 0;
}

void imd_root_names(struct imd *m)
{
	struct imd_folder *root = NULL;
	bool inbox_below = false;

	for (size_t i = 0; i < m->nfolders; i++) {
		struct imd_folder *f = &m->folders[i];

		if (strcmp(f->raw, m->root_raw) == 0)
			root = f;
		else if (f->name != NULL && strcmp(f->name, "INBOX") == 0)
			inbox_below = true;
	}
	if (root != NULL && (inbox_below || (root->flags & IMAP_LIST_NOSELECT))) {
		free(root->name);
		root->name = NULL;
	}
}

char *imd_root_inbox(const struct imd *m)
{
	for (size_t i = 0; i < m->nfolders; i++) {
		if (m->folders[i].name != NULL && strcmp(m->folders[i].name, "INBOX") == 0)
			return xstrdup(m->folders[i].raw);
	}
	return xstrdup(m->root_raw);
}
