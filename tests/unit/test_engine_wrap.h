/* test_engine_wrap.h: the engine tests' target, a wrapper around the real
 * maildir driver (see test_engine_fake.h, which includes it after the
 * world and the kill points; everything is static). */
#ifndef TEST_ENGINE_WRAP_H
#define TEST_ENGINE_WRAP_H

/* ---- the target wrapper ------------------------------------------------------ */

struct wrap_report {
	uint64_t token;
	int rc;
	char *location;
	struct mf_error err;
};

/* A message held in a batch (world.multi). */
struct wrap_held {
	uint64_t token;
	char *folder;
	struct mbx_msg_info info; /* keywords owned */
	struct buf bytes;
	bool refuse;
};

struct wrap_mbx {
	struct mbx base;
	struct mbx *inner;
	struct fake_world *w;
	mbx_append_done_fn *fn;
	void *ctx;
	struct wrap_report q[8];
	size_t nq;
	struct wrap_held *held; /* the open batch */
	size_t nheld;
	bool alone;
	mbx_append_sealed_fn *sealed_fn;
	void *sealed_ctx;
	int64_t opened_ms;
	unsigned limbo_seq;
};

/* Reports of appends a killed process sent: nobody's. */
#define WRAP_LIMBO_TOKEN UINT64_MAX

struct wrap_ap {
	struct wrap_mbx *wm;
	struct mbx_append *inner; /* NULL: refused */
	uint64_t token;
	struct wrap_held *held;   /* batched: bytes go there */
};

static void wrap_deliver(struct wrap_mbx *wm)
{
	for (size_t i = 0; i < wm->nq; i++) {
		struct wrap_report *r = &wm->q[i];
		struct mbx_appended out = {0, 0, r->location, NULL};

		wm->fn(wm->ctx, r->token, r->rc, r->rc == 0 ? &out : NULL,
		       r->rc == 0 ? NULL : &r->err);
		free(r->location);
		fake_instant(wm->w);
	}
	wm->nq = 0;
}

static void wrap_report(struct wrap_mbx *wm, uint64_t token, int rc, const char *location,
			const struct mf_error *err)
{
	struct wrap_report *r;

	if (!wm->w->defer_done) {
		struct mbx_appended out = {0, 0, (char *)location, NULL};

		wm->fn(wm->ctx, token, rc, rc == 0 ? &out : NULL, err);
		return;
	}
	if (wm->nq == sizeof(wm->q) / sizeof(wm->q[0]))
		wrap_deliver(wm);
	r = &wm->q[wm->nq++];
	r->token = token;
	r->rc = rc;
	r->location = location != NULL ? xstrdup(location) : NULL;
	if (err != NULL)
		r->err = *err;
}

static void wrap_inner_done(void *ctx, uint64_t token, int rc, const struct mbx_appended *out,
			    const struct mf_error *err)
{
	if (token != WRAP_LIMBO_TOKEN)
		wrap_report(ctx, token, rc, out != NULL ? out->location : NULL, err);
}

/* ---- limbo (world.late_ms) ------------------------------------------------------ */

/* One file per message: "folder\nflags date size\n" and the bytes. */
static void wrap_limbo_put(struct wrap_mbx *wm, const struct wrap_held *h, char **path_r)
{
	char *path = xasprintf("%s/%d-%06u", wm->w->limbo, (int)getpid(), ++wm->limbo_seq);
	FILE *fp = fopen(path, "wb");

	if (fp == NULL)
		fail_msg("wrap: cannot write %s", path);
	fprintf(fp, "%s\n%u %lld %zu\n", h->folder, h->info.flags, (long long)h->info.internaldate,
		h->bytes.len);
	if (h->bytes.len > 0)
		fwrite(h->bytes.data, 1, h->bytes.len, fp);
	if (fclose(fp) != 0)
		fail_msg("wrap: cannot write %s", path);
	*path_r = path;
}

static int wrap_limbo_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Store what a killed process left in limbo, in the order it was sent. */
static void wrap_limbo_land(struct wrap_mbx *wm)
{
	DIR *d = opendir(wm->w->limbo);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xasprintf("%s/%s", wm->w->limbo, de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), wrap_limbo_cmp);
	for (size_t i = 0; i < n; i++) {
		struct mbx_msg_info info = {0};
		struct mbx_append *ap = NULL;
		struct mf_error e = {0};
		char folder[256], *data;
		unsigned flags = 0;
		long long date = 0;
		size_t len = 0;
		FILE *fp = fopen(names[i], "rb");

		if (fp == NULL ||
		    fscanf(fp, "%255[^\n]\n%u %lld %zu\n", folder, &flags, &date, &len) != 4)
			fail_msg("wrap: bad limbo file %s", names[i]);
		data = xmalloc(len + 1);
		if (len > 0 && fread(data, 1, len, fp) != len)
			fail_msg("wrap: short limbo file %s", names[i]);
		fclose(fp);
		info.flags = flags;
		info.internaldate = (time_t)date;
		info.size = len;
		if (wm->w->limbo_lost)
			; /* never got there */
		else if (wm->inner->drv->append_begin(wm->inner, folder, &info, WRAP_LIMBO_TOKEN,
						      &ap, &e) != 0 ||
			 wm->inner->drv->append_data(ap, data, len, &e) != 0 ||
			 wm->inner->drv->append_end(ap, &e) != 0)
			fail_msg("wrap: landing %s: %s", names[i], e.msg);
		free(data);
		unlink(names[i]);
		free(names[i]);
	}
	free(names);
}

/* At each call: what a killed sender left is stored once its time came. */
static void wrap_limbo_due(struct mbx *m)
{
	struct wrap_mbx *wm = (struct wrap_mbx *)m;

	if (wm->w->late_ms > 0 && mf_now_ms() - wm->opened_ms >= wm->w->late_ms)
		wrap_limbo_land(wm);
}

static void wrap_set_append_sealed(struct mbx *m, mbx_append_sealed_fn *fn, void *ctx)
{
	struct wrap_mbx *wm = (struct wrap_mbx *)m;

	wm->sealed_fn = fn;
	wm->sealed_ctx = ctx;
}

#define WRAP_INNER(m) (((struct wrap_mbx *)(m))->inner)

static int wrap_list_folders(struct mbx *m, struct mbx_folder_list *out, struct mf_error *err)
{
	wrap_limbo_due(m);
	return WRAP_INNER(m)->drv->list_folders(WRAP_INNER(m), out, err);
}

static int wrap_folder_state(struct mbx *m, const char *f, struct mbx_folder_state *st,
			     struct mf_error *err)
{
	wrap_limbo_due(m);
	return WRAP_INNER(m)->drv->folder_state(WRAP_INNER(m), f, st, err);
}

static int wrap_create_folder(struct mbx *m, const char *f, enum mbx_role role, bool sub,
			      struct mf_error *err)
{
	return WRAP_INNER(m)->drv->create_folder(WRAP_INNER(m), f, role, sub, err);
}

static const char *wrap_role_folder(struct mbx *m, enum mbx_role role)
{
	return WRAP_INNER(m)->drv->role_folder(WRAP_INNER(m), role);
}

static void wrap_set_append_done(struct mbx *m, mbx_append_done_fn *fn, void *ctx)
{
	struct wrap_mbx *wm = (struct wrap_mbx *)m;

	wm->fn = fn;
	wm->ctx = ctx;
	wm->inner->drv->set_append_done(wm->inner, wrap_inner_done, wm);
}

static void wrap_held_clear(struct wrap_held *h)
{
	for (size_t k = 0; k < h->info.keyword_count; k++)
		free(h->info.keywords[k]);
	free(h->info.keywords);
	free(h->folder);
	buf_free(&h->bytes);
}

/* The batch ends: all of it is stored, or (a message refused) none. */
static void wrap_batch_end(struct wrap_mbx *wm)
{
	bool refuse = false;
	struct mf_error e;
	char **limbo = NULL;
	int kill_at = wm->w->kill_at;

	if (wm->nheld == 0)
		return;
	atomic_fetch_add(&wm->w->batches, 1);
	for (size_t i = 0; i < wm->nheld; i++)
		refuse = refuse || wm->held[i].refuse;
	if (refuse)
		atomic_fetch_add(&wm->w->batches_refused, 1);
	if (wm->sealed_fn != NULL && !refuse) {
		uint64_t *tokens = xcalloc(wm->nheld, sizeof(*tokens));

		for (size_t i = 0; i < wm->nheld; i++)
			tokens[i] = wm->held[i].token;
		if (wm->sealed_fn(wm->sealed_ctx, tokens, wm->nheld, &e) != 0)
			fail_msg("wrap: sealing failed: %s", e.msg);
		free(tokens);
	}
	if (wm->w->late_ms > 0 && !refuse) {
		/* Sent: a kill from here on leaves it to land late. */
		limbo = xcalloc(wm->nheld, sizeof(*limbo));
		for (size_t i = 0; i < wm->nheld; i++)
			wrap_limbo_put(wm, &wm->held[i], &limbo[i]);
		fake_instant(wm->w);
		/* Stored and out of limbo at once (no kill in between). */
		wm->w->kill_at = 0;
	}
	for (size_t i = 0; i < wm->nheld; i++) {
		struct wrap_held *h = &wm->held[i];
		struct mbx_append *ap = NULL;

		if (refuse && wm->nheld > 1) {
			mf_error_set(&e, MF_ERETRY, "not stored: the batch of %zu was refused",
				     wm->nheld);
			wrap_report(wm, h->token, MF_ERETRY, NULL, &e);
		} else if (refuse) {
			mf_error_set(&e, MF_ENO, "[CANNOT] The test target refuses this message");
			wrap_report(wm, h->token, MF_ENO, NULL, &e);
		} else if (wm->inner->drv->append_begin(wm->inner, h->folder, &h->info, h->token, &ap,
						       &e) != 0 ||
			   wm->inner->drv->append_data(ap, h->bytes.data, h->bytes.len, &e) != 0 ||
			   wm->inner->drv->append_end(ap, &e) != 0) {
			fail_msg("wrap: the inner target failed: %s", e.msg);
		}
		if (limbo != NULL) {
			unlink(limbo[i]);
			free(limbo[i]);
		}
		wrap_held_clear(h);
	}
	free(limbo);
	wm->w->kill_at = kill_at;
	free(wm->held);
	wm->held = NULL;
	wm->nheld = 0;
}

static void wrap_set_append_alone(struct mbx *m, bool alone)
{
	((struct wrap_mbx *)m)->alone = alone;
}

/* world.multi: hold the message in the open batch. */
static int wrap_hold(struct wrap_mbx *wm, const char *folder, const struct mbx_msg_info *info,
		     uint64_t token, bool refuse, struct mbx_append **ap_r)
{
	struct wrap_ap *ap = xcalloc(1, sizeof(*ap));
	struct wrap_held *h;

	if (wm->nheld > 0 && strcmp(wm->held[0].folder, folder) != 0)
		wrap_batch_end(wm);
	wm->held = xreallocarray(wm->held, wm->nheld + 1, sizeof(*wm->held));
	h = &wm->held[wm->nheld++];
	memset(h, 0, sizeof(*h));
	h->token = token;
	h->folder = xstrdup(folder);
	h->info = *info;
	h->info.keywords = xcalloc(info->keyword_count + 1, sizeof(char *));
	for (size_t k = 0; k < info->keyword_count; k++)
		h->info.keywords[k] = xstrdup(info->keywords[k]);
	h->refuse = refuse;
	ap->wm = wm;
	ap->token = token;
	ap->held = h;
	*ap_r = (struct mbx_append *)ap;
	return 0;
}

static int wrap_append_begin(struct mbx *m, const char *folder, const struct mbx_msg_info *info,
			     uint64_t token, struct mbx_append **ap_r, struct mf_error *err)
{
	struct wrap_mbx *wm = (struct wrap_mbx *)m;
	struct wrap_ap *ap;
	bool refuse = false;
	int rc = 0;

	wrap_limbo_due(m);
	for (size_t i = 0; wm->w->refuse_keyword != NULL && i < info->keyword_count; i++)
		refuse = refuse || strcmp(info->keywords[i], wm->w->refuse_keyword) == 0;
	if (wm->w->multi > 1 && wm->alone)
		wrap_batch_end(wm);
	if (wm->w->multi > 1 && !wm->alone)
		return wrap_hold(wm, folder, info, token, refuse, ap_r);
	if (wm->w->multi > 1)
		atomic_fetch_add(&wm->w->alone_appends, 1);
	refuse = false;
	ap = xcalloc(1, sizeof(*ap));
	if (wm->w->append_limit > 0 && info->size > wm->w->append_limit) {
		free(ap);
		return mf_error_set(err, MF_ELIMIT,
				    "message of %llu bytes exceeds the server's APPENDLIMIT of %llu",
				    (unsigned long long)info->size,
				    (unsigned long long)wm->w->append_limit);
	}
	for (size_t i = 0; wm->w->refuse_keyword != NULL && i < info->keyword_count; i++)
		refuse = refuse || strcmp(info->keywords[i], wm->w->refuse_keyword) == 0;
	ap->wm = wm;
	ap->token = token;
	if (!refuse)
		rc = wm->inner->drv->append_begin(wm->inner, folder, info, token, &ap->inner, err);
	if (rc != 0) {
		free(ap);
		return rc;
	}
	*ap_r = (struct mbx_append *)ap;
	return 0;
}

static int wrap_append_data(struct mbx_append *a, const void *data, size_t len,
			    struct mf_error *err)
{
	struct wrap_ap *ap = (struct wrap_ap *)a;
	struct fake_world *w = ap->wm->w;

	if (ap->held != NULL) {
		buf_append(&ap->held->bytes, data, len);
		return 0;
	}
	if (ap->inner == NULL)
		return 0;
	if (w->enospc_after > 0 && atomic_load(&w->target_appends) >= w->enospc_after)
		return mf_error_set(err, MF_EIO, "no space left on device while writing %s",
				    "tmp/1700000000.M1P1Q1.test");
	return ap->wm->inner->drv->append_data(ap->inner, data, len, err);
}

static int wrap_append_end(struct mbx_append *a, struct mf_error *err)
{
	struct wrap_ap *ap = (struct wrap_ap *)a;
	struct wrap_mbx *wm = ap->wm;
	int rc = 0;
	int nth;

	if (ap->held != NULL) {
		free(ap);
		if (wm->nheld >= (size_t)wm->w->multi)
			wrap_batch_end(wm);
		return 0;
	}
	nth = ap->inner != NULL ? atomic_fetch_add(&wm->w->target_appends, 1) + 1 : 0;

	if (ap->inner == NULL) {
		struct mf_error e;

		mf_error_set(&e, MF_ENO, "[CANNOT] The test target refuses this message");
		wrap_report(wm, ap->token, MF_ENO, NULL, &e);
	} else if ((wm->w->quota_after > 0 && nth > wm->w->quota_after) ||
		   (nth == wm->w->throttle_at && atomic_fetch_sub(&wm->w->throttle_times, 1) > 0)) {
		struct mf_error e;

		wm->inner->drv->append_abort(ap->inner);
		if (wm->w->quota_after > 0 && nth > wm->w->quota_after)
			mf_error_set(&e, MF_ENO,
				     "[OVERQUOTA] Quota exceeded (mailbox for user is full)");
		else
			mf_error_set(&e, MF_ENO, "[LIMIT] Too many appends, slow down");
		wrap_report(wm, ap->token, MF_ENO, NULL, &e);
	} else if (nth == wm->w->target_fail_at) {
		struct mf_error e;

		wm->inner->drv->append_abort(ap->inner);
		mf_error_set(&e, MF_ECLOSED, "fake target: connection closed");
		wrap_report(wm, ap->token, MF_ECLOSED, NULL, &e);
	} else {
		fake_instant(wm->w);
		rc = wm->inner->drv->append_end(ap->inner, err);
		fake_instant(wm->w); /* landed, maybe not reported yet */
	}
	free(ap);
	/* Deferred reports may be refusals: those are not our failures. */
	return rc == MF_ENO ? 0 : rc;
}

static void wrap_append_abort(struct mbx_append *a)
{
	struct wrap_ap *ap = (struct wrap_ap *)a;

	if (ap->held != NULL) {
		/* The last one held: dropped, not reported. */
		wrap_held_clear(&ap->wm->held[--ap->wm->nheld]);
		free(ap);
		return;
	}
	if (ap->inner != NULL)
		ap->wm->inner->drv->append_abort(ap->inner);
	free(ap);
}

static int wrap_append_flush(struct mbx *m, struct mf_error *err)
{
	struct wrap_mbx *wm = (struct wrap_mbx *)m;
	int rc;

	wrap_limbo_due(m);
	wrap_batch_end(wm);
	rc = wm->inner->drv->append_flush(wm->inner, err);
	wrap_deliver(wm);
	return rc;
}

static void wrap_close(struct mbx **mp)
{
	struct wrap_mbx *wm = (struct wrap_mbx *)*mp;

	if (wm->w->late_ms > 0)
		wrap_limbo_land(wm); /* late, at the latest now */
	for (size_t i = 0; i < wm->nq; i++)
		free(wm->q[i].location);
	for (size_t i = 0; i < wm->nheld; i++)
		wrap_held_clear(&wm->held[i]);
	free(wm->held);
	wm->inner->drv->close(&wm->inner);
	free(wm);
	*mp = NULL;
}

static int wrap_list_messages(struct mbx *m, const char *f, uint32_t from,
			      int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
			      struct mf_error *err)
{
	wrap_limbo_due(m);
	return WRAP_INNER(m)->drv->list_messages(WRAP_INNER(m), f, from, fn, ctx, err);
}

static char *wrap_reserve_name(struct mbx *m)
{
	return WRAP_INNER(m)->drv->reserve_name(WRAP_INNER(m));
}

static int wrap_append_begin_named(struct mbx *m, const char *folder,
				   const struct mbx_msg_info *info, const char *name,
				   uint64_t token, struct mbx_append **ap_r, struct mf_error *err)
{
	struct wrap_mbx *wm = (struct wrap_mbx *)m;
	struct wrap_ap *ap;
	int rc;

	if (wm->w->append_limit > 0 && info->size > wm->w->append_limit)
		return wrap_append_begin(m, folder, info, token, ap_r, err);
	for (size_t i = 0; wm->w->refuse_keyword != NULL && i < info->keyword_count; i++)
		if (strcmp(info->keywords[i], wm->w->refuse_keyword) == 0)
			return wrap_append_begin(m, folder, info, token, ap_r, err);
	ap = xcalloc(1, sizeof(*ap));
	ap->wm = wm;
	ap->token = token;
	rc = wm->inner->drv->append_begin_named(wm->inner, folder, info, name, token, &ap->inner,
						err);
	if (rc != 0) {
		free(ap);
		return rc;
	}
	*ap_r = (struct mbx_append *)ap;
	return 0;
}

static int wrap_find_message(struct mbx *m, const char *f, const struct mbx_query *q,
			     int (*fn)(void *ctx, const struct mbx_ref *ref), void *ctx,
			     struct mf_error *err)
{
	wrap_limbo_due(m);
	return WRAP_INNER(m)->drv->find_message(WRAP_INNER(m), f, q, fn, ctx, err);
}

static int wrap_set_flags(struct mbx *m, const char *f, const struct mbx_ref *ref, uint32_t flags,
			  char *const *kw, size_t n, char **loc_r, struct mf_error *err)
{
	return WRAP_INNER(m)->drv->set_flags(WRAP_INNER(m), f, ref, flags, kw, n, loc_r, err);
}

static int wrap_expunge(struct mbx *m, const char *f, const struct mbx_ref *refs, size_t n,
			struct mf_error *err)
{
	return WRAP_INNER(m)->drv->expunge(WRAP_INNER(m), f, refs, n, err);
}

static int wrap_rename_folder(struct mbx *m, const char *from, const char *to,
			      struct mf_error *err)
{
	return WRAP_INNER(m)->drv->rename_folder(WRAP_INNER(m), from, to, err);
}

#define WRAP_MEMBERS                                                                               \
	.list_folders = wrap_list_folders, .folder_state = wrap_folder_state,                      \
	.list_messages = wrap_list_messages, .create_folder = wrap_create_folder,                  \
	.role_folder = wrap_role_folder, .set_append_done = wrap_set_append_done,                  \
	.append_begin = wrap_append_begin, .append_data = wrap_append_data,                        \
	.append_end = wrap_append_end, .append_abort = wrap_append_abort,                          \
	.append_flush = wrap_append_flush, .close = wrap_close,                                    \
	.set_append_alone = wrap_set_append_alone, .set_append_sealed = wrap_set_append_sealed,    \
	.find_message = wrap_find_message, .set_flags = wrap_set_flags, .expunge = wrap_expunge,   \
	.rename_folder = wrap_rename_folder

/* As an IMAP target: no names before the message exists. */
static const struct mailbox_driver wrap_driver_nonames = {
    .name = "wrap",
    WRAP_MEMBERS,
};

static const struct mailbox_driver wrap_driver = {
    .name = "wrap",
    .list_folders = wrap_list_folders,
    .folder_state = wrap_folder_state,
    .create_folder = wrap_create_folder,
    .role_folder = wrap_role_folder,
    .set_append_done = wrap_set_append_done,
    .append_begin = wrap_append_begin,
    .append_data = wrap_append_data,
    .append_end = wrap_append_end,
    .append_abort = wrap_append_abort,
    .append_flush = wrap_append_flush,
    .close = wrap_close,
    .list_messages = wrap_list_messages,
    .reserve_name = wrap_reserve_name,
    .append_begin_named = wrap_append_begin_named,
    .find_message = wrap_find_message,
    .set_flags = wrap_set_flags,
    .expunge = wrap_expunge,
    .rename_folder = wrap_rename_folder,
};

#endif
