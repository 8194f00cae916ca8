/* maildir.c: the local Maildir++ store driver (see maildir.h for the
 * layout): open, close, folders. Appends are in maildir-append.c, reading in
 * maildir-read.c, names and subscriptions in maildir-name.c.
 *
 * Implements: Maildir (https://cr.yp.to/proto/maildir.html), Maildir++
 * folders (Courier), and what Dovecot 2.3 keeps beside them
 * (dovecot-keywords, subscriptions, maildirfolder; listescape escapes).
 */
#include "drivers/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/maildir-private.h"
#include "util/buf.h"
#include "util/xmalloc.h"

static const struct {
	enum mbx_role role;
	const char *name;
} maildir_roles[] = {
	{ MBX_ROLE_INBOX, "INBOX" },
	{ MBX_ROLE_SENT, "Sent" },
	{ MBX_ROLE_DRAFTS, "Drafts" },
	{ MBX_ROLE_TRASH, "Trash" },
	{ MBX_ROLE_JUNK, "Junk" },
	{ MBX_ROLE_ARCHIVE, "Archive" },
};

static const char *maildir_role_folder(struct mbx *m, enum mbx_role role)
{
	(void)m;
	for (size_t i = 0; i < sizeof(maildir_roles) / sizeof(maildir_roles[0]); i++) {
		if (maildir_roles[i].role == role)
			return maildir_roles[i].name;
	}
	return NULL;
}

static enum mbx_role maildir_role_of(const char *name)
{
	for (size_t i = 0; i < sizeof(maildir_roles) / sizeof(maildir_roles[0]); i++) {
		if (strcmp(maildir_roles[i].name, name) == 0)
			return maildir_roles[i].role;
	}
	return MBX_ROLE_NONE;
}

/* ---- list_folders ---- */

struct maildir_names {
	struct mbx_folder *v;
	size_t count;
};

static void maildir_names_add(struct maildir_names *n, char *name, bool noselect)
{
	n->v = xreallocarray(n->v, n->count + 1, sizeof(*n->v));
	memset(&n->v[n->count], 0, sizeof(n->v[0]));
	n->v[n->count].name = name;
	n->v[n->count].noselect = noselect;
	n->count++;
}

/* INBOX first; otherwise byte order, which puts a parent ("A") before its
 * children ("A/B"), a prefix sorting before its extensions. */
static int maildir_folder_cmp(const void *a, const void *b)
{
	const struct mbx_folder *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;

	if (xi || yi)
		return (int)yi - (int)xi;
	return strcmp(x->name, y->name);
}

/* Whether the first (sorted) count entries hold name. */
static bool maildir_names_has(const struct maildir_names *n, size_t count, const char *name)
{
	struct mbx_folder key = { 0 };

	key.name = (char *)name;
	return bsearch(&key, n->v, count, sizeof(*n->v), maildir_folder_cmp) != NULL;
}

/* Dovecot lists a missing parent of a folder as \Noselect: do the same. */
static void maildir_add_parents(struct maildir_names *n)
{
	size_t have = n->count;

	qsort(n->v, n->count, sizeof(*n->v), maildir_folder_cmp);
	for (size_t i = 0; i < have; i++) {
		const char *name = n->v[i].name;

		for (const char *s = strchr(name, '/'); s != NULL; s = strchr(s + 1, '/')) {
			char *parent = xstrndup(name, (size_t)(s - name));
			bool found = maildir_names_has(n, have, parent);

			for (size_t j = have; !found && j < n->count; j++)
				found = strcmp(n->v[j].name, parent) == 0;
			if (found)
				free(parent);
			else
				maildir_names_add(n, parent, true);
		}
	}
	qsort(n->v, n->count, sizeof(*n->v), maildir_folder_cmp);
}

static bool maildir_is_dir(const char *root, const struct dirent *de, const char *sub)
{
	struct stat st;
	char *p;
	int rc;

	if (sub == NULL && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
		return de->d_type == DT_DIR;
	p = sub != NULL ? xasprintf("%s/%s/%s", root, de->d_name, sub)
			: xasprintf("%s/%s", root, de->d_name);
	rc = stat(p, &st);
	free(p);
	return rc == 0 && S_ISDIR(st.st_mode);
}

static int maildir_list_folders(struct mbx *m, struct mbx_folder_list *out,
				struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	struct maildir_names n = { NULL, 0 };
	char **subs = NULL;
	size_t nsubs = 0;
	struct dirent *de;
	DIR *d;
	int rc;

	memset(out, 0, sizeof(*out));
	d = opendir(md->root);
	if (d == NULL)
		return maildir_io_error(err, errno, "opening directory", md->root);
	maildir_names_add(&n, xstrdup("INBOX"), false);
	while ((de = readdir(d)) != NULL) {
		char *name;

		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 || !maildir_is_dir(md->root, de, NULL))
			continue;
		/* A name we cannot decode is not one we wrote or Dovecot
		 * would list under that name: leave it alone. */
		if (maildir_name_decode(de->d_name + 1, '.', &name, NULL) != 0)
			continue;
		if (strcasecmp(name, "INBOX") == 0) {
			free(name);
			continue;
		}
		maildir_names_add(&n, name, !maildir_is_dir(md->root, de, "cur"));
	}
	closedir(d);
	maildir_add_parents(&n);
	rc = maildir_subs_read(md, &subs, &nsubs, err);
	if (rc != 0) {
		for (size_t i = 0; i < n.count; i++)
			free(n.v[i].name);
		free(n.v);
		return rc;
	}
	for (size_t i = 0; i < n.count; i++) {
		n.v[i].role = maildir_role_of(n.v[i].name);
		for (size_t j = 0; j < nsubs && !n.v[i].subscribed; j++)
			n.v[i].subscribed = strcmp(n.v[i].name, subs[j]) == 0;
	}
	maildir_strv_free(subs, nsubs);
	out->folders = n.v;
	out->count = n.count;
	return 0;
}

/* ---- create_folder ---- */

static int maildir_create_folder(struct mbx *m, const char *folder, enum mbx_role role,
				 bool subscribe, struct mf_error *err)
{
	struct maildir *md = (struct maildir *)m;
	char *dir;
	int rc;

	(void)role; /* Maildir keeps no special-use; roles go by name */
	rc = maildir_folder_dir(md, folder, &dir, err);
	if (rc != 0)
		return rc;
	if (strcmp(dir, md->root) == 0) {
		rc = maildir_make(dir, false, err);
	} else {
		/* Parents stay implicit, as when Dovecot creates "A/B". */
		rc = maildir_make(dir, true, err);
		if (rc == 0)
			rc = maildir_fsync_dir(md->root, err);
	}
	free(dir);
	if (rc == 0 && subscribe)
		rc = maildir_subs_add(md, folder, err);
	return rc;
}

/* ---- open / close ---- */

static void maildir_close(struct mbx **mp)
{
	struct maildir *md;

	if (mp == NULL || *mp == NULL)
		return;
	md = (struct maildir *)*mp;
	while (md->appends != NULL)
		maildir_append_abort((struct mbx_append *)md->appends);
	(void)maildir_sync(md, NULL);
	free(md->unsynced);
	maildir_kw_clear(&md->kw);
	maildir_listing_clear(&md->listing);
	free(md->root);
	free(md->host);
	free(md);
	*mp = NULL;
}

static const struct mailbox_driver maildir_driver = {
	.name = "maildir",
	.list_folders = maildir_list_folders,
	.folder_state = maildir_folder_state,
	.list_messages = maildir_list_messages,
	.fetch = maildir_fetch,
	.create_folder = maildir_create_folder,
	.role_folder = maildir_role_folder,
	.set_append_done = maildir_set_append_done,
	.append_begin = maildir_append_begin,
	.append_data = maildir_append_data,
	.append_end = maildir_append_end,
	.append_abort = maildir_append_abort,
	.append_flush = maildir_append_flush,
	.close = maildir_close,
	.list_flags = maildir_list_flags,
	.reserve_name = maildir_reserve_name,
	.append_begin_named = maildir_append_begin_named,
	.find_message = maildir_find_message,
	.set_flags = maildir_set_flags,
	.expunge = maildir_expunge,
	.rename_folder = maildir_rename_folder,
	.peek_header = maildir_peek_header,
};

/* The host part of unique names: '/', ':' and ',' would break the name's
 * structure, so they are written as octal escapes (the Maildir spec's
 * advice for '/' and ':'). */
static char *maildir_hostname(void)
{
	char host[256];
	struct buf b = BUF_INIT;

	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		return xstrdup("localhost");
	host[sizeof(host) - 1] = '\0';
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/' || *p == ':' || *p == ',')
			buf_printf(&b, "\\%03o", (unsigned char)*p);
		else
			buf_putc(&b, *p);
	}
	return buf_steal(&b);
}

/* mkdir -p, mode 0700 for what it creates. */
static int maildir_mkdir_parents(const char *path, struct mf_error *err)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = strchr(p + 1, '/'); rc == 0 && s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		rc = maildir_mkdir(p, err);
		*s = '/';
	}
	free(p);
	return rc;
}

int maildir_open(const char *root, struct mbx **m_r, struct mf_error *err)
{
	struct maildir *md;
	size_t len;
	int rc;

	if (root == NULL || root[0] == '\0')
		return mf_error_set(err, MF_EINVAL, "maildir: no store directory given");
	md = xcalloc(1, sizeof(*md));
	md->mbx.drv = &maildir_driver;
	md->root = xstrdup(root);
	len = strlen(md->root);
	while (len > 1 && md->root[len - 1] == '/')
		md->root[--len] = '\0';
	md->host = maildir_hostname();
	rc = maildir_mkdir_parents(md->root, err);
	if (rc == 0)
		rc = maildir_make(md->root, false, err);
	if (rc != 0) {
		struct mbx *m = &md->mbx;

		maildir_close(&m);
		return mf_error_prefix(err, "maildir store");
	}
	*m_r = &md->mbx;
	return 0;
}
