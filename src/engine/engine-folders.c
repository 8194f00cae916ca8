/* engine-folders.c: folder filters and the source -> target folder plan
 * (see engine-folders.h). */
#include "engine/engine-folders.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "util/buf.h"
#include "util/xmalloc.h"

#define ENGINE_NROLES (MBX_ROLE_FLAGGED + 1)

static const struct {
	const char *token;
	enum mbx_role role;
} engine_tokens[] = {
    {"#Inbox#", MBX_ROLE_INBOX},	{"#SentItems#", MBX_ROLE_SENT},
    {"#DeletedItems#", MBX_ROLE_TRASH}, {"#JunkEmail#", MBX_ROLE_JUNK},
    {"#Drafts#", MBX_ROLE_DRAFTS},	{"#Archive#", MBX_ROLE_ARCHIVE},
};

#define ENGINE_NTOKENS (sizeof(engine_tokens) / sizeof(engine_tokens[0]))

/* The length of a leading "#...#" token (0 when the pattern has none). */
static size_t engine_token_len(const char *p)
{
	const char *end;

	if (p[0] != '#')
		return 0;
	end = strchr(p + 1, '#');
	if (end == NULL || end == p + 1)
		return 0;
	if (end[1] != '\0' && end[1] != '/')
		return 0;
	return (size_t)(end - p) + 1;
}

/* The role of the token of length len at p, or MBX_ROLE_NONE. */
static enum mbx_role engine_token_role(const char *p, size_t len)
{
	for (size_t i = 0; i < ENGINE_NTOKENS; i++) {
		if (strlen(engine_tokens[i].token) == len &&
		    strncasecmp(engine_tokens[i].token, p, len) == 0)
			return engine_tokens[i].role;
	}
	return MBX_ROLE_NONE;
}

int engine_folder_pattern_check(const char *pattern, struct mf_error *err)
{
	size_t tl;

	if (pattern == NULL || pattern[0] == '\0' || strcmp(pattern, "/") == 0 ||
	    strcmp(pattern, "/*") == 0)
		return mf_error_set(err, MF_EINVAL, "empty folder name");
	tl = engine_token_len(pattern);
	if (tl > 0 && engine_token_role(pattern, tl) == MBX_ROLE_NONE) {
		struct buf b = BUF_INIT;

		for (size_t i = 0; i < ENGINE_NTOKENS; i++)
			buf_printf(&b, "%s%s", i > 0 ? ", " : "", engine_tokens[i].token);
		mf_error_set(err, MF_EINVAL, "unknown folder token %.*s (known: %s)", (int)tl,
			     pattern, buf_cstr(&b));
		buf_free(&b);
		return MF_EINVAL;
	}
	return 0;
}

/* Drop a trailing "/" with or without a "*" (a path names its
 * subfolders anyway). */
static char *engine_pattern_normalise(const char *p)
{
	size_t len = strlen(p);

	if (len >= 2 && p[len - 2] == '/' && p[len - 1] == '*')
		len -= 2;
	while (len > 1 && p[len - 1] == '/')
		len--;
	return xstrndup(p, len);
}

static int engine_list_parse(const char *json, const char *option, char ***v_r, size_t *n_r,
			     struct mf_error *err)
{
	json_error_t jerr;
	json_t *root;
	size_t i;
	int rc = 0;

	*v_r = NULL;
	*n_r = 0;
	if (json == NULL || json[0] == '\0')
		return 0;
	root = json_loads(json, 0, &jerr);
	if (root == NULL || !json_is_array(root)) {
		json_decref(root);
		return mf_error_set(err, MF_EINVAL, "%s: not a JSON array of folder names", option);
	}
	*v_r = xcalloc(json_array_size(root) + 1, sizeof(char *));
	for (i = 0; i < json_array_size(root) && rc == 0; i++) {
		const char *s = json_string_value(json_array_get(root, i));

		if (s == NULL)
			rc = mf_error_set(err, MF_EINVAL, "%s: not a JSON array of folder names",
					  option);
		else if ((rc = engine_folder_pattern_check(s, err)) != 0)
			mf_error_prefix(err, "%s", option);
		else
			(*v_r)[(*n_r)++] = engine_pattern_normalise(s);
	}
	json_decref(root);
	return rc;
}

void engine_filter_clear(struct engine_filter *f)
{
	for (size_t i = 0; i < f->ninclude; i++)
		free(f->include[i]);
	for (size_t i = 0; i < f->nexclude; i++)
		free(f->exclude[i]);
	free(f->include);
	free(f->exclude);
	memset(f, 0, sizeof(*f));
}

int engine_filter_parse(const char *include_json, const char *exclude_json, struct engine_filter *f,
			struct mf_error *err)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = engine_list_parse(include_json, "--include-folder", &f->include, &f->ninclude, err);
	if (rc == 0)
		rc = engine_list_parse(exclude_json, "--exclude-folder", &f->exclude, &f->nexclude,
				       err);
	if (rc != 0)
		engine_filter_clear(f);
	return rc;
}

/* folder is path or beneath it (ASCII case ignored). */
static bool engine_path_under(const char *folder, const char *path, size_t len)
{
	if (strncasecmp(folder, path, len) != 0)
		return false;
	return folder[len] == '\0' || folder[len] == '/';
}

bool engine_folder_matches(const char *pattern, const char *folder,
			   const char *const rolemap[ENGINE_NROLES])
{
	size_t tl = engine_token_len(pattern);
	enum mbx_role role;
	const char *base;
	size_t blen;

	if (tl == 0)
		return engine_path_under(folder, pattern, strlen(pattern));
	role = engine_token_role(pattern, tl);
	base = role != MBX_ROLE_NONE ? rolemap[role] : NULL;
	if (base == NULL)
		return false;
	blen = strlen(base);
	if (!engine_path_under(folder, base, blen))
		return false;
	if (pattern[tl] == '\0')
		return true;
	/* "#Inbox#/Work": the rest must follow the role folder's name. */
	return folder[blen] == '/' &&
	       engine_path_under(folder + blen + 1, pattern + tl + 1, strlen(pattern + tl + 1));
}

static bool engine_filter_keeps(const struct engine_filter *f, const char *folder,
				const char *const rolemap[ENGINE_NROLES])
{
	bool keep = f->ninclude == 0;

	for (size_t i = 0; i < f->ninclude && !keep; i++)
		keep = engine_folder_matches(f->include[i], folder, rolemap);
	for (size_t i = 0; i < f->nexclude && keep; i++)
		keep = !engine_folder_matches(f->exclude[i], folder, rolemap);
	return keep;
}

static bool engine_is_inbox(const struct mbx_folder *fo)
{
	return fo->role == MBX_ROLE_INBOX || strcasecmp(fo->name, "INBOX") == 0;
}

/* Each role's source folder: the first carrying it (INBOX by name). */
static void engine_rolemap(const struct mbx_folder_list *src, const char *rolemap[ENGINE_NROLES])
{
	for (int r = 0; r < ENGINE_NROLES; r++)
		rolemap[r] = NULL;
	for (size_t i = 0; i < src->count; i++) {
		const struct mbx_folder *fo = &src->folders[i];
		enum mbx_role r = engine_is_inbox(fo) ? MBX_ROLE_INBOX : fo->role;

		if ((unsigned)r < ENGINE_NROLES && r != MBX_ROLE_NONE && rolemap[r] == NULL)
			rolemap[r] = fo->name;
	}
}

/* The target name of source folder name: beneath a mapped role folder
 * (the deepest one, should role folders nest) it moves with it; otherwise
 * it stays. */
static char *engine_target_name(const char *name, const char *const rolemap[ENGINE_NROLES],
				struct mbx *tgt)
{
	const char *own = NULL;
	size_t best = 0;

	for (int r = MBX_ROLE_INBOX; r < ENGINE_NROLES; r++) {
		const char *base = rolemap[r], *o;
		size_t blen;

		if (base == NULL)
			continue;
		blen = strlen(base);
		if (blen <= best || strncmp(name, base, blen) != 0 ||
		    (name[blen] != '\0' && name[blen] != '/'))
			continue;
		o = r == MBX_ROLE_INBOX ? "INBOX" : tgt->drv->role_folder(tgt, (enum mbx_role)r);
		if (o != NULL) {
			own = o;
			best = blen;
		}
	}
	if (own == NULL)
		return xstrdup(name);
	return xasprintf("%s%s", own, name + best);
}

/* Whether a kept, selectable folder lies beneath folder i. */
static bool engine_has_kept_child(const struct mbx_folder_list *src, const bool *kept, size_t i)
{
	const char *name = src->folders[i].name;
	size_t len = strlen(name);

	for (size_t j = 0; j < src->count; j++) {
		const char *c = src->folders[j].name;

		if (kept[j] && !src->folders[j].noselect && strncmp(c, name, len) == 0 &&
		    c[len] == '/')
			return true;
	}
	return false;
}

void engine_plan_build(const struct engine_filter *f, const struct mbx_folder_list *src,
		       struct mbx *tgt, struct engine_plan *out)
{
	const char *rolemap[ENGINE_NROLES];
	bool *kept = xcalloc(src->count + 1, sizeof(bool));

	memset(out, 0, sizeof(*out));
	engine_rolemap(src, rolemap);
	for (size_t i = 0; i < src->count; i++)
		kept[i] = engine_filter_keeps(f, src->folders[i].name, rolemap);
	out->folders = xcalloc(src->count + 1, sizeof(*out->folders));
	for (size_t i = 0; i < src->count; i++) {
		const struct mbx_folder *fo = &src->folders[i];
		struct engine_folder_plan *p;

		if (!kept[i] || (fo->noselect && !engine_has_kept_child(src, kept, i)))
			continue;
		p = &out->folders[out->count++];
		p->source = xstrdup(fo->name);
		p->target = engine_target_name(fo->name, rolemap, tgt);
		p->role = engine_is_inbox(fo) ? MBX_ROLE_INBOX : fo->role;
		p->subscribed = fo->subscribed;
		p->noselect = fo->noselect;
	}
	free(kept);
}

void engine_plan_clear(struct engine_plan *p)
{
	for (size_t i = 0; i < p->count; i++) {
		free(p->folders[i].source);
		free(p->folders[i].target);
	}
	free(p->folders);
	memset(p, 0, sizeof(*p));
}
