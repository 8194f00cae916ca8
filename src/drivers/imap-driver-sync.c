/* imap-driver-sync.c: what incremental sync and reconciliation need from
 * an IMAP server (driver.h, "incremental sync and reconciliation"):
 *   - list_flags (source): UID FETCH 1:* (UID FLAGS), with the
 *     (CHANGEDSINCE n) modifier (RFC 7162) for changes only;
 *   - find_message (target): EXAMINE, UID SEARCH by size (LARGER n-1
 *     SMALLER n+1) and Message-ID (HEADER), then, to compare contents,
 *     the candidates fetched (BODY.PEEK[], streamed) and hashed;
 *   - set_flags (target): SELECT, UID STORE uid FLAGS.SILENT (...);
 *   - expunge (target): SELECT, UID STORE set +FLAGS.SILENT (\Deleted),
 *     UID EXPUNGE set (RFC 4315; refused without UIDPLUS, as a plain
 *     EXPUNGE would also remove messages the user had marked);
 *   - rename_folder (target): RENAME (RFC 9051 section 6.3.6).
 * RFC 9051 sections 6.4.4 (SEARCH), 6.4.6 (STORE), 7.3.4 (SEARCH
 * response); RFC 5530 (ALREADYEXISTS, NONEXISTENT).
 */
#include "drivers/imap-driver-private.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/xmalloc.h"

/* SELECT the folder read-write unless it is already. */
static int imd_select_rw(struct imd *m, const char *folder, struct mf_error *err)
{
	struct imap_mailbox_state st;
	char *raw;
	int rc;

	rc = imd_name_to_raw(m, folder, &raw, err);
	if (rc < 0)
		return rc;
	if (m->sel_rw && m->sel_raw != NULL && strcmp(m->sel_raw, raw) == 0) {
		free(raw);
		return 0;
	}
	free(m->sel_raw);
	m->sel_raw = NULL;
	m->sel_rw = false;
	rc = imap_client_select(m->c, raw, false, &st, err);
	if (rc < 0) {
		free(raw);
		return rc;
	}
	m->sel_raw = raw;
	m->sel_exists = st.exists;
	m->sel_rw = true;
	return 0;
}

/* ---- list_flags --------------------------------------------------------------- */

struct imd_flagger {
	int (*fn)(void *ctx, const struct mbx_msg_info *info);
	void *ctx;
	int rc;
};

static void imd_flags_untagged(void *ctx, const struct imap_response *r)
{
	struct imd_flagger *fl = ctx;
	struct mbx_msg_info info = { 0 };
	struct imd_items it;

	if (fl->rc != 0 || r->keyword == NULL || strcmp(r->keyword, "FETCH") != 0 ||
	    r->args_count < 1 || r->args[0].type != IMAP_ARG_LIST)
		return;
	imd_fetch_items(r->args[0].list, r->args[0].list_count, &info, &it);
	if (it.has_uid && it.has_flags) {
		info.uid = it.uid;
		info.size = 0;
		info.internaldate = 0;
		fl->rc = fl->fn(fl->ctx, &info);
	}
	imd_info_clear(&info);
}

int imd_list_flags(struct mbx *mb, const char *folder, uint64_t changedsince,
		   int (*fn)(void *ctx, const struct mbx_msg_info *info), void *ctx,
		   struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imd_flagger fl = { fn, ctx, 0 };
	struct imd_reply rep;
	struct imap_cmd *cmd;
	int rc;

	if (changedsince > 0 && !(imap_client_caps(m->c) & IMAP_CAP_CONDSTORE))
		return mf_error_set(err, MF_EUNSUPPORTED, "the server has no CONDSTORE");
	rc = imd_quiesce(m, err);
	if (rc == 0)
		rc = imd_examine(m, folder, false, NULL, err);
	if (rc < 0)
		return rc;
	if (imap_client_mailbox(m->c)->exists == 0)
		return 0;
	cmd = imap_cmd_new("UID FETCH");
	if (changedsince > 0)
		imap_cmd_atomf(cmd, "1:* (UID FLAGS) (CHANGEDSINCE %llu)",
			       (unsigned long long)changedsince);
	else
		imap_cmd_atom(cmd, "1:* (UID FLAGS)");
	rc = imd_run(m, cmd, imd_flags_untagged, &fl, &rep, err);
	if (rc == 0 && rep.status != IMAP_STATUS_OK)
		rc = imd_reply_error(&rep, MF_ENO, "UID FETCH failed", err);
	imd_reply_free(&rep);
	if (rc == 0 && fl.rc != 0)
		rc = mf_error_set(err, fl.rc < 0 ? fl.rc : MF_EINVAL,
				  "flag listing stopped by the caller");
	return rc;
}

/* ---- find_message ----------------------------------------------------------------- */

struct imd_found {
	uint32_t *uids;
	size_t n;
};

static void imd_search_untagged(void *ctx, const struct imap_response *r)
{
	struct imd_found *fd = ctx;

	if (r->keyword == NULL || strcmp(r->keyword, "SEARCH") != 0)
		return;
	for (size_t i = 0; i < r->args_count; i++) {
		uint64_t v;

		if (!imap_arg_number(&r->args[i], &v) || v == 0 || v > UINT32_MAX)
			continue;
		fd->uids = xreallocarray(fd->uids, fd->n + 1, sizeof(*fd->uids));
		fd->uids[fd->n++] = (uint32_t)v;
	}
}

/* The hashing sink: which candidates have the wanted SHA-256. */
struct imd_hasher {
	const char *want;
	EVP_MD_CTX *sha;
	uint32_t uid;
	uint32_t *match;
	size_t nmatch;
};

static int imd_hash_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct imd_hasher *h = ctx;

	(void)err;
	h->uid = info->uid;
	EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL);
	return 0;
}

static int imd_hash_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct imd_hasher *h = ctx;

	(void)err;
	EVP_DigestUpdate(h->sha, data, len);
	return 0;
}

static int imd_hash_end(void *ctx, struct mf_error *err)
{
	static const char digits[] = "0123456789abcdef";
	struct imd_hasher *h = ctx;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[65];

	(void)err;
	EVP_DigestFinal_ex(h->sha, md, &len);
	for (unsigned int i = 0; i < len && i < 32; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
	if (strcmp(hex, h->want) == 0) {
		h->match = xreallocarray(h->match, h->nmatch + 1, sizeof(*h->match));
		h->match[h->nmatch++] = h->uid;
	}
	return 0;
}

/* Whether the listing shows the folder (raw name). */
static bool imd_listed(const struct imd *m, const char *raw)
{
	for (size_t i = 0; i < m->nfolders; i++) {
		if (strcmp(m->folders[i].raw, raw) == 0 ||
		    (imd_is_inbox(m->folders[i].raw) && imd_is_inbox(raw)))
			return !(m->folders[i].flags & IMAP_LIST_NOSELECT);
	}
	return false;
}

static int imd_search(struct imd *m, const struct mbx_query *q, struct imd_found *fd,
		      struct mf_error *err)
{
	struct imap_cmd *cmd = imap_cmd_new("UID SEARCH");
	struct imd_reply rep;
	int rc;

	if (q->size > 0)
		imap_cmd_atomf(cmd, "LARGER %llu", (unsigned long long)q->size - 1);
	imap_cmd_atomf(cmd, "SMALLER %llu", (unsigned long long)q->size + 1);
	if (q->message_id != NULL && q->message_id[0] != '\0') {
		imap_cmd_atom(cmd, "HEADER Message-ID");
		imap_cmd_astring(cmd, q->message_id);
	}
	rc = imd_run(m, cmd, imd_search_untagged, fd, &rep, err);
	if (rc == 0 && rep.status != IMAP_STATUS_OK)
		rc = imd_reply_error(&rep, MF_ENO, "UID SEARCH failed", err);
	imd_reply_free(&rep);
	return rc;
}

int imd_find_message(struct mbx *mb, const char *folder, const struct mbx_query *q,
		     int (*fn)(void *ctx, const struct mbx_ref *ref), void *ctx,
		     struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct imd_found fd = { NULL, 0 };
	struct imd_hasher h = { 0 };
	struct imap_mailbox_state st;
	const uint32_t *hits;
	size_t nhits;
	char *raw = NULL;
	int rc;

	rc = imd_quiesce(m, err);
	if (rc == 0 && !m->listed)
		rc = imd_list(m, err);
	if (rc == 0)
		rc = imd_name_to_raw(m, folder, &raw, err);
	if (rc < 0)
		return rc;
	if (!imd_listed(m, raw)) {
		free(raw);
		return 0; /* no folder, no message */
	}
	free(raw);
	/* A fresh look: messages appended since an earlier EXAMINE count. */
	rc = imd_examine(m, folder, true, &st, err);
	if (rc < 0 || st.exists == 0)
		return rc;
	rc = imd_search(m, q, &fd, err);
	hits = fd.uids;
	nhits = fd.n;
	if (rc == 0 && nhits > 0 && q->sha256 != NULL) {
		struct mbx_sink sink = { imd_hash_begin, imd_hash_data, imd_hash_end, &h };

		h.want = q->sha256;
		h.sha = EVP_MD_CTX_new();
		if (h.sha == NULL)
			abort(); /* OpenSSL cannot allocate: nothing sensible to do */
		rc = imd_fetch(mb, folder, fd.uids, fd.n, &sink, err);
		EVP_MD_CTX_free(h.sha);
		hits = h.match;
		nhits = h.nmatch;
	}
	for (size_t i = 0; rc == 0 && i < nhits; i++) {
		struct mbx_ref ref = { st.uidvalidity, hits[i], NULL };

		if (fn(ctx, &ref) != 0)
			break;
	}
	free(fd.uids);
	free(h.match);
	return rc;
}

/* ---- set_flags, expunge ----------------------------------------------------------------- */

int imd_set_flags(struct mbx *mb, const char *folder, const struct mbx_ref *ref, uint32_t flags,
		  char *const *keywords, size_t keyword_count, char **location_r,
		  struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	struct mbx_msg_info info = { 0 };
	struct imd_reply rep;
	struct imap_cmd *cmd;
	char *list, *warning = NULL;
	int rc;

	if (location_r != NULL)
		*location_r = NULL;
	if (ref->uid == 0)
		return mf_error_set(err, MF_EINVAL, "the message's UID on the target is unknown");
	rc = imd_quiesce(m, err);
	if (rc == 0)
		rc = imd_select_rw(m, folder, err);
	if (rc < 0)
		return rc;
	info.flags = flags;
	info.keywords = (char **)keywords;
	info.keyword_count = keyword_count;
	list = imd_flags_format(&info, &warning);
	free(warning); /* keywords that are not atoms stay off, as on append */
	cmd = imap_cmd_new("UID STORE");
	imap_cmd_atomf(cmd, "%u FLAGS.SILENT %s", ref->uid, list);
	free(list);
	rc = imd_run(m, cmd, NULL, NULL, &rep, err);
	if (rc == 0 && rep.status != IMAP_STATUS_OK)
		rc = imd_reply_error(&rep, MF_ENO, "UID STORE failed", err);
	imd_reply_free(&rep);
	return rc;
}

static int imd_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int imd_expunge_msgs(struct mbx *mb, const char *folder, const struct mbx_ref *refs, size_t n,
		struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	uint32_t *uids;
	size_t k = 0;
	char *set;
	int rc;

	if (!(imap_client_caps(m->c) & IMAP_CAP_UIDPLUS))
		return mf_error_set(err, MF_EUNSUPPORTED,
				    "the target has no UIDPLUS (UID EXPUNGE) to remove single "
				    "messages");
	uids = xcalloc(n + 1, sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		if (refs[i].uid != 0)
			uids[k++] = refs[i].uid;
	if (k == 0) {
		free(uids);
		return 0;
	}
	qsort(uids, k, sizeof(*uids), imd_uid_cmp);
	{
		size_t w = 1;

		for (size_t i = 1; i < k; i++)
			if (uids[i] != uids[w - 1])
				uids[w++] = uids[i];
		k = w;
	}
	set = imd_uid_set(uids, k);
	free(uids);
	rc = imd_quiesce(m, err);
	if (rc == 0)
		rc = imd_select_rw(m, folder, err);
	for (int step = 0; rc == 0 && step < 2; step++) {
		struct imap_cmd *cmd = imap_cmd_new(step == 0 ? "UID STORE" : "UID EXPUNGE");
		struct imd_reply rep;

		imap_cmd_atom(cmd, set);
		if (step == 0)
			imap_cmd_atom(cmd, "+FLAGS.SILENT (\\Deleted)");
		rc = imd_run(m, cmd, NULL, NULL, &rep, err);
		if (rc == 0 && rep.status != IMAP_STATUS_OK)
			rc = imd_reply_error(&rep, MF_ENO,
					     step == 0 ? "UID STORE failed" : "UID EXPUNGE failed",
					     err);
		imd_reply_free(&rep);
	}
	free(set);
	return rc;
}

/* ---- rename_folder ------------------------------------------------------------------------ */

int imd_rename_folder(struct mbx *mb, const char *from, const char *to, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	char *rfrom = NULL, *rto = NULL;
	struct imd_reply rep;
	struct imap_cmd *cmd;
	int rc;

	rc = imd_quiesce(m, err);
	if (rc == 0 && !m->listed)
		rc = imd_list(m, err);
	if (rc == 0)
		rc = imd_name_to_raw(m, from, &rfrom, err);
	if (rc == 0)
		rc = imd_name_to_raw(m, to, &rto, err);
	if (rc < 0) {
		free(rfrom);
		return rc;
	}
	cmd = imap_cmd_new("RENAME");
	imap_cmd_astring(cmd, rfrom);
	imap_cmd_astring(cmd, rto);
	rc = imd_run(m, cmd, NULL, NULL, &rep, err);
	if (rc == 0 && rep.status != IMAP_STATUS_OK) {
		int code = MF_ENO;

		if (rep.code != NULL && strcmp(rep.code, "ALREADYEXISTS") == 0)
			code = MF_EEXIST;
		else if (rep.code != NULL && strcmp(rep.code, "NONEXISTENT") == 0)
			code = MF_ENOTFOUND;
		rc = imd_reply_error(&rep, code, "RENAME failed", err);
	}
	imd_reply_free(&rep);
	if (rc == 0) {
		/* Names changed: list again when needed; nothing stays selected. */
		m->listed = false;
		free(m->sel_raw);
		m->sel_raw = NULL;
		m->sel_rw = false;
	}
	free(rfrom);
	free(rto);
	return rc;
}
