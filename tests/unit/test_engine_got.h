/* test_engine_got.h: reading a user's local store back, for the engine
 * tests (included by test_engine_fake.h; everything is static). */
#ifndef TEST_ENGINE_GOT_H
#define TEST_ENGINE_GOT_H

/* ---- reading the local store back ----------------------------------------------------- */

struct got_msg {
	struct buf bytes;
	uint32_t flags;
	char *kw; /* keywords, space-separated */
	time_t date;
};

struct got_folder {
	struct got_msg *msgs;
	size_t count;
	struct mbx_msg_info cur;
};

static int got_list(void *ctx, const struct mbx_msg_info *info)
{
	struct got_folder *g = ctx;
	struct got_msg *m;
	struct buf kw = BUF_INIT;

	g->msgs = xreallocarray(g->msgs, g->count + 1, sizeof(*g->msgs));
	m = &g->msgs[g->count++];
	memset(m, 0, sizeof(*m));
	m->flags = info->flags;
	m->date = info->internaldate;
	for (size_t i = 0; i < info->keyword_count; i++)
		buf_printf(&kw, "%s%s", i > 0 ? " " : "", info->keywords[i]);
	m->kw = buf_steal(&kw);
	return 0;
}

static int got_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct got_folder *g = ctx;

	(void)err;
	g->cur = *info;
	return 0;
}

static int got_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct got_folder *g = ctx;

	(void)err;
	buf_append(&g->msgs[g->cur.uid - 1].bytes, data, len);
	return 0;
}

static int got_end(void *ctx, struct mf_error *err)
{
	(void)ctx, (void)err;
	return 0;
}

/* Read folder of login's local store (messages in pseudo-UID order). */
FAKE_FN void got_read(struct fx *f, const char *login, const char *folder, struct got_folder *g)
{
	char *root = xasprintf("%s/mailstore/%s@example.org", f->data_dir, login);
	struct mbx_sink sink = {got_begin, got_data, got_end, g};
	struct mf_error err = {0};
	struct mbx *m;
	uint32_t *uids;

	memset(g, 0, sizeof(*g));
	if (maildir_open(root, &m, &err) != 0)
		fail_msg("maildir_open: %s", err.msg);
	if (m->drv->list_messages(m, folder, 1, got_list, g, &err) != 0)
		fail_msg("list %s: %s", folder, err.msg);
	uids = xcalloc(g->count + 1, sizeof(*uids));
	for (size_t i = 0; i < g->count; i++)
		uids[i] = (uint32_t)i + 1;
	if (m->drv->fetch(m, folder, uids, g->count, &sink, &err) != 0)
		fail_msg("fetch %s: %s", folder, err.msg);
	free(uids);
	m->drv->close(&m);
	free(root);
}

FAKE_FN void got_free(struct got_folder *g)
{
	for (size_t i = 0; i < g->count; i++) {
		buf_free(&g->msgs[i].bytes);
		free(g->msgs[i].kw);
	}
	free(g->msgs);
	memset(g, 0, sizeof(*g));
}

/* The message of g with exactly these bytes, or NULL. */
FAKE_FN const struct got_msg *got_find(const struct got_folder *g, const char *body)
{
	for (size_t i = 0; i < g->count; i++)
		if (g->msgs[i].bytes.len == strlen(body) &&
		    memcmp(g->msgs[i].bytes.data, body, strlen(body)) == 0)
			return &g->msgs[i];
	return NULL;
}

/* Whether folder exists (selectable) in login's local store; *sub_r
 * tells whether it is subscribed. */
FAKE_FN bool got_folder(struct fx *f, const char *login, const char *folder, bool *sub_r)
{
	char *root = xasprintf("%s/mailstore/%s@example.org", f->data_dir, login);
	struct mbx_folder_list l = {0};
	struct mf_error err = {0};
	struct mbx *m;
	bool found = false;

	if (maildir_open(root, &m, &err) != 0 || m->drv->list_folders(m, &l, &err) != 0)
		fail_msg("maildir: %s", err.msg);
	for (size_t i = 0; i < l.count && !found; i++) {
		found = strcmp(l.folders[i].name, folder) == 0 && !l.folders[i].noselect;
		if (found && sub_r != NULL)
			*sub_r = l.folders[i].subscribed;
	}
	mbx_folder_list_free(&l);
	m->drv->close(&m);
	free(root);
	return found;
}

#endif
