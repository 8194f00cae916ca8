/* imap-driver-names.c: folder names between the driver interface (UTF-8,
 * '/') and a server (modified UTF-7, its separator, its personal namespace
 * prefix), and special-use roles. The rules are in imap-driver.h.
 *
 * RFC 9051 section 5.1 (INBOX, hierarchy), 5.1.3 (modified UTF-7);
 * RFC 2342 (NAMESPACE); RFC 6154 (special-use attributes).
 */
#include "drivers/imap-driver-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap/mutf7.h"
#include "util/buf.h"
#include "util/xmalloc.h"

bool imd_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* Does raw start with prefix? "INBOX" is matched in any case. */
static bool imd_has_prefix(const char *raw, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n >= 5 && strncasecmp(prefix, "INBOX", 5) == 0)
		return strncasecmp(raw, prefix, 5) == 0 && strncmp(raw + 5, prefix + 5, n - 5) == 0;
	return strncmp(raw, prefix, n) == 0;
}

char *imd_name_from_raw(const struct imd *m, const char *raw, char delim)
{
	const char *s = raw;
	char *name, *dec;
	struct mf_error err;

	if (imd_is_inbox(raw) || (m->root_raw != NULL && strcmp(raw, m->root_raw) == 0))
		return xstrdup("INBOX");
	if (m->prefix[0] != '\0') {
		/* Only the personal namespace is the user's mail. */
		if (!imd_has_prefix(raw, m->prefix))
			return NULL;
		s = raw + strlen(m->prefix);
		if (s[0] == '\0')
			return NULL;
	} else {
		for (size_t i = 0; i < m->nothers; i++) {
			if (imd_has_prefix(raw, m->others[i]))
				return NULL;
		}
	}
	dec = mutf7_decode(s, &err);
	/* Not modified UTF-7 (some servers allow a raw "&"): as sent. */
	name = dec != NULL ? dec : xstrdup(s);
	if (delim != '\0' && delim != '/') {
		for (char *p = name; *p != '\0'; p++) {
			if (*p == delim)
				*p = '/';
		}
	}
	/* "inbox/x" is a child of the inbox: one spelling for it. */
	if (strncasecmp(name, "INBOX/", 6) == 0)
		memcpy(name, "INBOX", 5);
	return name;
}

/* The translated form of a '/'-name (imap-driver.h). */
static int imd_translate(const struct imd *m, const char *name, char **raw_r,
			 struct mf_error *err)
{
	struct buf b = BUF_INIT;
	const char *p = name;
	char *enc;

	if (m->root_raw != NULL) {
		/* Under a UserRoot, everything is below the root, whose
		 * prefix is the server's name already (added below). */
	} else if (strncasecmp(name, "INBOX/", 6) == 0 && strncasecmp(m->prefix, "INBOX", 5) == 0 &&
		   m->prefix[5] != '\0') {
		/* A child of INBOX where INBOX is the prefix: "INBOX.x". */
		buf_append(&b, m->prefix, strlen(m->prefix));
		p = name + 6;
	} else if (strncasecmp(name, "INBOX/", 6) == 0) {
		buf_puts(&b, "INBOX");
		buf_putc(&b, m->sep != '\0' ? m->sep : '/');
		p = name + 6;
	} else {
		buf_puts(&b, m->prefix);
	}
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p);

		if (len == 0) {
			buf_free(&b);
			return mf_error_set(err, MF_EINVAL, "empty level in folder name \"%s\"", name);
		}
		for (size_t i = 0; i < len; i++) {
			char ch = p[i];

			if (m->sep != '\0' && m->sep != '/' && ch == m->sep)
				ch = '_';
			buf_putc(&b, ch);
		}
		if (slash == NULL)
			break;
		buf_putc(&b, m->sep != '\0' ? m->sep : '/');
		p = slash + 1;
	}
	enc = mutf7_encode(buf_cstr(&b), err);
	buf_free(&b);
	if (enc == NULL)
		return err != NULL ? err->code : MF_EINVAL;
	if (m->root_raw != NULL) {
		*raw_r = xasprintf("%s%s", m->prefix, enc);
		free(enc);
		return 0;
	}
	*raw_r = enc;
	return 0;
}

int imd_name_to_raw(const struct imd *m, const char *name, char **raw_r, struct mf_error *err)
{
	*raw_r = NULL;
	if (name == NULL || name[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "empty folder name");
	if (imd_is_inbox(name)) {
		*raw_r = m->root_raw != NULL ? imd_root_inbox(m) : xstrdup("INBOX");
		return 0;
	}
	/* A listed folder keeps the server's own spelling. */
	for (size_t i = 0; i < m->nfolders; i++) {
		if (m->folders[i].name != NULL && strcmp(m->folders[i].name, name) == 0) {
			*raw_r = xstrdup(m->folders[i].raw);
			return 0;
		}
	}
	return imd_translate(m, name, raw_r, err);
}

/* ---- roles ------------------------------------------------------------------------ */

static const struct {
	enum mbx_role role;
	uint32_t flag;
	const char *attr;
} imd_role_flags[] = {
	{ MBX_ROLE_SENT, IMAP_LIST_SENT, "\\Sent" },
	{ MBX_ROLE_DRAFTS, IMAP_LIST_DRAFTS, "\\Drafts" },
	{ MBX_ROLE_TRASH, IMAP_LIST_TRASH, "\\Trash" },
	{ MBX_ROLE_JUNK, IMAP_LIST_JUNK, "\\Junk" },
	{ MBX_ROLE_ARCHIVE, IMAP_LIST_ARCHIVE, "\\Archive" },
	{ MBX_ROLE_ALL, IMAP_LIST_ALL, "\\All" },
	{ MBX_ROLE_FLAGGED, IMAP_LIST_FLAGGED, "\\Flagged" },
};

/* Well-known names, for servers (or folders) without special-use. */
static const struct {
	enum mbx_role role;
	const char *name;
} imd_role_names[] = {
	{ MBX_ROLE_SENT, "Sent" },
	{ MBX_ROLE_SENT, "Sent Items" },
	{ MBX_ROLE_SENT, "Sent Messages" },
	{ MBX_ROLE_DRAFTS, "Drafts" },
	{ MBX_ROLE_TRASH, "Trash" },
	{ MBX_ROLE_TRASH, "Deleted Items" },
	{ MBX_ROLE_TRASH, "Deleted Messages" },
	{ MBX_ROLE_JUNK, "Junk" },
	{ MBX_ROLE_JUNK, "Spam" },
	{ MBX_ROLE_JUNK, "Junk E-mail" },
	{ MBX_ROLE_ARCHIVE, "Archive" },
};

#define IMD_NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *imd_role_attr(enum mbx_role role)
{
	for (size_t i = 0; i < IMD_NELEM(imd_role_flags); i++) {
		if (imd_role_flags[i].role == role)
			return imd_role_flags[i].attr;
	}
	return NULL;
}

uint32_t imd_role_list_flag(enum mbx_role role)
{
	for (size_t i = 0; i < IMD_NELEM(imd_role_flags); i++) {
		if (imd_role_flags[i].role == role)
			return imd_role_flags[i].flag;
	}
	return 0;
}

const struct imd_folder *imd_role_lookup(const struct imd *m, enum mbx_role role)
{
	if (role == MBX_ROLE_NONE)
		return NULL;
	for (size_t i = 0; i < m->nfolders; i++) {
		if (m->folders[i].name != NULL && m->folders[i].role == role)
			return &m->folders[i];
	}
	return NULL;
}

void imd_assign_roles(struct imd *m)
{
	for (size_t i = 0; i < m->nfolders; i++) {
		struct imd_folder *f = &m->folders[i];

		f->role = MBX_ROLE_NONE;
		if (f->name == NULL)
			continue;
		if (strcmp(f->name, "INBOX") == 0) {
			f->role = MBX_ROLE_INBOX;
			continue;
		}
		for (size_t j = 0; j < IMD_NELEM(imd_role_flags); j++) {
			if (f->flags & imd_role_flags[j].flag) {
				f->role = imd_role_flags[j].role;
				break;
			}
		}
	}
	/* Names, in table order, for roles no folder carries. */
	for (size_t j = 0; j < IMD_NELEM(imd_role_names); j++) {
		if (imd_role_lookup(m, imd_role_names[j].role) != NULL)
			continue;
		for (size_t i = 0; i < m->nfolders; i++) {
			struct imd_folder *f = &m->folders[i];

			if (f->name != NULL && f->role == MBX_ROLE_NONE &&
			    !(f->flags & IMAP_LIST_NOSELECT) &&
			    strcasecmp(f->name, imd_role_names[j].name) == 0) {
				f->role = imd_role_names[j].role;
				break;
			}
		}
	}
}
