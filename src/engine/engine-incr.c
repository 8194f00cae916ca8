/* engine-incr.c: one folder of a synced user, incrementally (engine.h,
 * "Incremental sync"): the messages above the highest UID handled are
 * listed like in the first sync (engine-scan.c), then flag changes and,
 * with sync_deletes, deletions are carried to the target.
 *
 * How the flags are compared:
 *   - CONDSTORE on the source and a HIGHESTMODSEQ from the last sync: when
 *     it has not moved, nothing changed; else only the messages changed
 *     since (CHANGEDSINCE) are looked up in the map, one by one;
 *   - otherwise every message's flags (one UID FETCH 1:* (UID FLAGS)) are
 *     compared with the folder's map, loaded in one query, both in UID
 *     order. This full listing also tells which messages went (deletions);
 *     with CONDSTORE it is made for that only when the message count says
 *     something went.
 * Flags are compared in their canonical form (engine_flags_canonical): the
 * map holds that form since schema 3's engine, and an older or unknown
 * form (NULL after a reconciliation) simply counts as a change.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/xmalloc.h"

/* ---- canonical flags ---------------------------------------------------------- */

static const struct {
	uint32_t flag;
	const char *name;
} engine_sysflags[] = {
    {MBX_SEEN, "\\Seen"},	{MBX_ANSWERED, "\\Answered"}, {MBX_FLAGGED, "\\Flagged"},
    {MBX_DELETED, "\\Deleted"}, {MBX_DRAFT, "\\Draft"},
};

#define ENGINE_NSYSFLAGS (sizeof(engine_sysflags) / sizeof(engine_sysflags[0]))

static int engine_kw_cmp(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

char *engine_flags_canonical(uint32_t flags, char *const *keywords, size_t n)
{
	struct buf b = BUF_INIT;
	char **kw = xcalloc(n + 1, sizeof(*kw));

	for (size_t i = 0; i < ENGINE_NSYSFLAGS; i++)
		if (flags & engine_sysflags[i].flag)
			buf_printf(&b, "%s%s", b.len > 0 ? " " : "", engine_sysflags[i].name);
	for (size_t i = 0; i < n; i++)
		kw[i] = keywords[i];
	qsort(kw, n, sizeof(*kw), engine_kw_cmp);
	for (size_t i = 0; i < n; i++) {
		/* A keyword given twice (in any case) is one keyword. */
		if (i > 0 && strcasecmp(kw[i], kw[i - 1]) == 0)
			continue;
		buf_printf(&b, "%s%s", b.len > 0 ? " " : "", kw[i]);
	}
	free(kw);
	return buf_steal(&b);
}

/* Split a flags string into system flags and keywords (pointers into
 * *copy_r, which the caller frees with *kw_r). */
static void engine_flags_split(const char *s, uint32_t *flags_r, char **copy_r, char ***kw_r,
			       size_t *n_r)
{
	char *copy = xstrdup(s != NULL ? s : ""), *save = NULL;

	*flags_r = 0;
	*kw_r = NULL;
	*n_r = 0;
	for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		bool sys = false;

		for (size_t i = 0; i < ENGINE_NSYSFLAGS; i++) {
			if (strcasecmp(w, engine_sysflags[i].name) == 0) {
				*flags_r |= engine_sysflags[i].flag;
				sys = true;
			}
		}
		if (sys || w[0] == '\\')
			continue;
		*kw_r = xreallocarray(*kw_r, *n_r + 1, sizeof(**kw_r));
		(*kw_r)[(*n_r)++] = w;
	}
	*copy_r = copy;
}

char *engine_flags_canon_str(const char *s)
{
	uint32_t flags;
	char *copy, **kw, *out;
	size_t n;

	if (s == NULL)
		return NULL;
	engine_flags_split(s, &flags, &copy, &kw, &n);
	out = engine_flags_canonical(flags, kw, n);
	free(kw);
	free(copy);
	return out;
}

/* ---- the source's flags ------------------------------------------------------------- */

struct engine_srcflags {
	uint32_t uid;
	char *flags; /* canonical */
};

struct engine_flagscan {
	struct engine_srcflags *v;
	size_t n, cap;
};

static int engine_flags_one(void *ctx, const struct mbx_msg_info *info)
{
	struct engine_flagscan *fs = ctx;

	if (fs->n == fs->cap) {
		fs->cap = fs->cap ? 2 * fs->cap : 256;
		fs->v = xreallocarray(fs->v, fs->cap, sizeof(*fs->v));
	}
	fs->v[fs->n].uid = info->uid;
	fs->v[fs->n].flags =
	    engine_flags_canonical(info->flags, info->keywords, info->keyword_count);
	fs->n++;
	return 0;
}

static int engine_srcflags_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct engine_srcflags *)a)->uid;
	uint32_t y = ((const struct engine_srcflags *)b)->uid;

	return x < y ? -1 : x > y;
}

static void engine_flagscan_free(struct engine_flagscan *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->v[i].flags);
	free(fs->v);
	memset(fs, 0, sizeof(*fs));
}

/* ---- changes to the target ------------------------------------------------------------ */

/* Buffered map updates, committed together. */
struct engine_updates {
	struct store_msgmap *v; /* key, flags, location */
	size_t n;
};

static int engine_updates_flush(struct engine_job *job, struct engine_updates *up,
				struct mf_error *err)
{
	int rc = 0;

	if (up->n > 0)
		rc = store_begin(job->st, err);
	for (size_t i = 0; rc == 0 && i < up->n; i++) {
		const struct store_msgmap *m = &up->v[i];

		rc = store_msgmap_set_target(job->st, m->folder_id, m->uidvalidity, m->uid,
					     m->flags, m->location, err);
		if (rc == MF_ENOTFOUND)
			rc = 0; /* forgotten meanwhile */
	}
	if (up->n > 0 && rc == 0)
		rc = store_commit(job->st, err);
	else if (up->n > 0)
		store_rollback(job->st);
	for (size_t i = 0; i < up->n; i++)
		store_msgmap_clear(&up->v[i]);
	free(up->v);
	memset(up, 0, sizeof(*up));
	if (rc != 0)
		return engine_fatal(job, rc, err);
	return 0;
}

static bool engine_can_set_flags(struct engine_job *job, const struct store_msgmap *row)
{
	const char *why = NULL;

	if (job->tgt->drv->set_flags == NULL)
		why = "the target cannot change flags";
	else if (row->target_uid <= 0 && row->location == NULL)
		why = "the target did not say where messages landed (no UIDPLUS)";
	if (why == NULL)
		return true;
	if (!job->warned_flags)
		engine_event(job, STORE_EVENT_WARNING,
			     "flag changes at the source are not copied: %s", why);
	job->warned_flags = true;
	return false;
}

/* Change one message's flags on the target to flags (canonical). */
static int engine_apply_flags(struct engine_job *job, size_t fi, const struct store_msgmap *row,
			      const char *flags, struct engine_updates *up, struct mf_error *err)
{
	struct mbx_ref ref = {(uint32_t)row->target_uidvalidity, (uint32_t)row->target_uid,
			      row->location};
	char *copy, **kw, *loc = NULL;
	struct store_msgmap *u;
	uint32_t bits;
	size_t n;
	int rc;

	if (!engine_can_set_flags(job, row))
		return 0;
	engine_flags_split(flags, &bits, &copy, &kw, &n);
	rc = job->tgt->drv->set_flags(job->tgt, job->plan.folders[fi].target, &ref, bits, kw, n,
				      &loc, err);
	free(kw);
	free(copy);
	if (rc == MF_ENOTFOUND)
		return 0; /* gone from the target: nothing to change */
	if (rc != 0)
		return mf_error_prefix(err, "target");
	job->flag_changes++;
	up->v = xreallocarray(up->v, up->n + 1, sizeof(*up->v));
	u = &up->v[up->n++];
	memset(u, 0, sizeof(*u));
	u->folder_id = row->folder_id;
	u->uidvalidity = row->uidvalidity;
	u->uid = row->uid;
	u->flags = xstrdup(flags);
	u->location = loc;
	if (up->n >= ENGINE_CONFIRM_BATCH)
		return engine_updates_flush(job, up, err);
	return 0;
}

/* Whether a map row's flags differ from the source's (canonical). */
static bool engine_flags_differ(const char *map, const char *src)
{
	char *canon = engine_flags_canon_str(map);
	bool differ = canon == NULL || strcmp(canon, src) != 0;

	free(canon);
	return differ;
}

/* CHANGEDSINCE: the changed messages, looked up one by one. */
static int engine_flags_changed(struct engine_job *job, size_t fi, const struct store_folder *row,
				struct engine_updates *up, struct mf_error *err)
{
	const struct engine_todo *t = &job->todo[fi];
	struct engine_flagscan fs = {0};
	int rc;

	rc = job->src->drv->list_flags(job->src, job->plan.folders[fi].source,
				       (uint64_t)row->highestmodseq, engine_flags_one, &fs, err);
	if (rc != 0)
		rc = mf_error_prefix(err, "source");
	for (size_t i = 0; rc == 0 && i < fs.n && job->fatal_rc == 0; i++) {
		struct store_msgmap m = {0};
		struct mf_error e = {0, ""};

		if (store_msgmap_lookup(job->st, t->folder_id, t->uidvalidity, fs.v[i].uid, &m,
					&e) == 0 &&
		    m.state == STORE_MSGMAP_DONE && engine_flags_differ(m.flags, fs.v[i].flags))
			rc = engine_apply_flags(job, fi, &m, fs.v[i].flags, up, err);
		store_msgmap_clear(&m);
	}
	engine_flagscan_free(&fs);
	return rc;
}

/* sync_deletes: expunge what the source no longer has, forget it. */
static int engine_deletions(struct engine_job *job, size_t fi, struct store_msgmap **gone, size_t n,
			    struct mf_error *err)
{
	struct mbx_ref *refs;
	int rc = 0;

	if (n == 0)
		return 0;
	if (job->tgt->drv->expunge == NULL) {
		engine_event(job, STORE_EVENT_WARNING,
			     "%zu message%s deleted at the source stay on the target: it cannot "
			     "remove messages",
			     n, n == 1 ? "" : "s");
		return 0;
	}
	refs = xcalloc(n, sizeof(*refs));
	for (size_t i = 0; i < n; i++) {
		refs[i].uidvalidity = (uint32_t)gone[i]->target_uidvalidity;
		refs[i].uid = (uint32_t)gone[i]->target_uid;
		refs[i].location = gone[i]->location;
	}
	rc = job->tgt->drv->expunge(job->tgt, job->plan.folders[fi].target, refs, n, err);
	free(refs);
	if (rc == MF_EUNSUPPORTED) {
		engine_event(job, STORE_EVENT_WARNING,
			     "deletions at the source stay on the target: %s", err->msg);
		return 0;
	}
	if (rc != 0)
		return mf_error_prefix(err, "target");
	rc = store_begin(job->st, err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = store_msgmap_forget(job->st, gone[i]->folder_id, gone[i]->uidvalidity,
					 gone[i]->uid, err);
		if (rc == MF_ENOTFOUND)
			rc = 0;
	}
	rc = store_end(job->st, rc, err);
	if (rc != 0)
		return engine_fatal(job, rc, err);
	job->deletions += (int64_t)n;
	return 0;
}

/* The full comparison: every source message's flags against the map;
 * map rows the source no longer lists are deletions. */
static int engine_flags_full(struct engine_job *job, size_t fi, struct engine_updates *up,
			     bool flags, bool deletes, struct mf_error *err)
{
	const struct engine_todo *t = &job->todo[fi];
	struct engine_flagscan fs = {0};
	struct store_msgmap *map = NULL, **gone = NULL;
	size_t nmap = 0, ngone = 0, k = 0;
	int rc;

	rc = job->src->drv->list_flags(job->src, job->plan.folders[fi].source, 0, engine_flags_one,
				       &fs, err);
	if (rc != 0)
		return mf_error_prefix(err, "source");
	if (fs.n > 1)
		qsort(fs.v, fs.n, sizeof(*fs.v), engine_srcflags_cmp);
	rc = store_msgmap_list_done(job->st, t->folder_id, t->uidvalidity, &map, &nmap, err);
	if (rc != 0) {
		engine_flagscan_free(&fs);
		return engine_fatal(job, rc, err);
	}
	/* A listing shorter than the count EXAMINE gave means messages went
	 * in between: deletions wait for the next pass rather than guess. */
	if (fs.n < t->source_count)
		deletes = false;
	for (size_t i = 0; rc == 0 && i < nmap && job->fatal_rc == 0; i++) {
		while (k < fs.n && fs.v[k].uid < map[i].uid)
			k++;
		if (k < fs.n && fs.v[k].uid == map[i].uid) {
			if (flags && engine_flags_differ(map[i].flags, fs.v[k].flags))
				rc = engine_apply_flags(job, fi, &map[i], fs.v[k].flags, up, err);
		} else if (deletes && map[i].uid <= (int64_t)t->max_uid) {
			gone = xreallocarray(gone, ngone + 1, sizeof(*gone));
			gone[ngone++] = &map[i];
		}
	}
	if (rc == 0 && job->fatal_rc == 0)
		rc = engine_updates_flush(job, up, err);
	if (rc == 0 && job->fatal_rc == 0)
		rc = engine_deletions(job, fi, gone, ngone, err);
	free(gone);
	store_msgmap_list_free(&map, nmap);
	engine_flagscan_free(&fs);
	return rc;
}

/* ---- the folder ------------------------------------------------------------------------- */

/* Totals on the first listing: what the map holds (new_done of it was
 * counted by the listing already), and the skipped items below the new
 * messages. */
static int engine_incr_totals(struct engine_job *job, size_t fi, const struct store_folder *row,
			      int64_t new_done, struct mf_error *err)
{
	const struct engine_todo *t = &job->todo[fi];
	const char *folder = job->plan.folders[fi].source;
	int64_t done = 0;
	int rc;

	rc = store_msgmap_count_done(job->st, t->folder_id, t->uidvalidity, &done, err);
	if (rc != 0)
		return engine_fatal(job, rc, err);
	job->u.stats.total_items += done - new_done;
	job->u.stats.synced_items += done - new_done;
	for (size_t i = 0; i < job->nskipped; i++) {
		if (strcmp(job->skipped[i].folder, folder) == 0 &&
		    job->skipped[i].uid <= (uint32_t)row->last_uid)
			job->u.stats.total_items++;
	}
	return 0;
}

int engine_folder_incremental(struct engine_job *job, size_t fi, const struct store_folder *row,
			      struct mf_error *err)
{
	struct engine_todo *t = &job->todo[fi];
	const struct mailbox_driver *sd = job->src->drv;
	bool first = !t->scanned, deletes = job->run->batch.opt.sync_deletes;
	bool condstore = t->highestmodseq > 0 && row->highestmodseq > 0 && sd->list_flags != NULL;
	struct engine_updates up = {NULL, 0};
	uint32_t listed = 0;
	int64_t synced_before = job->u.stats.synced_items;
	int rc = 0;

	t->incr = true;
	t->max_uid = (uint32_t)row->last_uid;
	/* New messages: only when UIDNEXT moved past what was handled. */
	if (t->uidnext == 0 || t->uidnext > (uint32_t)row->last_uid + 1) {
		rc = engine_scan_list(job, fi, (uint32_t)row->last_uid + 1, first, &listed, err);
		if (rc != 0)
			return rc;
	}
	if (first) {
		/* The listing counted the new ones it found in the map (a pass
		 * cut short): they are in the map's count as well. */
		rc = engine_incr_totals(job, fi, row, job->u.stats.synced_items - synced_before,
					err);
		if (rc != 0)
			return rc;
	}
	if (sd->list_flags == NULL)
		return 0;
	if (!condstore ||
	    (deletes && (int64_t)t->source_count != row->message_count + (int64_t)listed)) {
		rc = engine_flags_full(job, fi, &up, true, deletes, err);
	} else if ((int64_t)t->highestmodseq != row->highestmodseq) {
		rc = engine_flags_changed(job, fi, row, &up, err);
		if (rc == 0 && job->fatal_rc == 0)
			rc = engine_updates_flush(job, &up, err);
	}
	if (up.n > 0) {
		/* Changes made on the target before a failure are recorded. */
		struct mf_error e = {0, ""};

		engine_updates_flush(job, &up, &e);
	}
	if (job->fatal_rc != 0 && err != NULL && rc == 0)
		*err = job->fatal_err;
	return job->fatal_rc != 0 ? job->fatal_rc : rc;
}
