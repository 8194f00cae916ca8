/* engine-copy.c: copying one folder (see engine.h for the rules).
 *
 * What engine-scan.c left to copy goes in chunks of fetch_chunk UIDs. For
 * each chunk the intents are committed first (with the buffered
 * confirmations), then the source pushes each message to our sink, which
 * streams it into a target append while hashing it and keeping its header
 * (to name the Subject should the target refuse it). The target reports
 * each append through engine_append_done(), at once (maildir) or later
 * (IMAP, pipelined): a confirmation is buffered, a refusal becomes a
 * skipped item and forgets its intent, a lost connection leaves the intent
 * for engine_intents_settle(). UIDs of a chunk the source did not deliver
 * (expunged meanwhile) have their intents forgotten. The target's pipeline
 * is always flushed before a folder ends, however it ends, so every append
 * handed over is reported and recorded.
 *
 * A target that batches appends (IMAP MULTIAPPEND) reports each message of
 * a refused batch MF_ERETRY: not stored, nobody knows which one the target
 * minded. Their intents stay; once the folder's chunks are through, they
 * are fetched again from the source and appended one per command
 * (set_append_alone), so that a real refusal skips only the message it is
 * about. A lost connection meanwhile is handled as anywhere else (the
 * intents are settled and the folder listed again).
 *
 * Memory per message in flight: the hash state and at most
 * ENGINE_HEADER_MAX header bytes; message bodies pass through in the
 * source's chunks.
 */
#include "engine/engine-private.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/mftime.h"
#include "util/xmalloc.h"

struct engine_msg {
	struct engine_msg *next; /* in job->inflight */
	uint64_t token;
	size_t folder; /* plan index */
	uint32_t uid;
	uint64_t size;
	time_t date;
	char *flags;	 /* owned: "\Seen kw ..." */
	EVP_MD_CTX *sha; /* owned */
	char sha_hex[STORE_SHA256_HEX];
	struct buf hdr; /* the header, up to ENGINE_HEADER_MAX, until the end */
	bool hdr_done;
	char *subject; /* owned, from hdr once the message ended; NULL: none */
	struct mbx_append *ap; /* begun and not yet ended */
	int begin_rc;	       /* refused before the target got it */
	struct mf_error begin_err;
};

struct engine_fetch {
	struct engine_job *job;
	size_t fi;
	const uint32_t *uids; /* ascending */
	size_t n;
	char **names; /* reserved target names, per UID; NULL: none */
	bool *begun;
	struct engine_msg *cur; /* between sink begin and end */
	int rc;			/* our sink's own failure */
	struct mf_error err;
};

static bool engine_rc_refusal(int rc)
{
	return rc == MF_ENO || rc == MF_ELIMIT || rc == MF_EBAD;
}

/* ---- messages ---------------------------------------------------------- */

static char *engine_flags_string(const struct mbx_msg_info *info)
{
	return engine_flags_canonical(info->flags, info->keywords, info->keyword_count);
}

static struct engine_msg *engine_msg_new(struct engine_job *job, size_t fi,
					 const struct mbx_msg_info *info)
{
	struct engine_msg *m = xcalloc(1, sizeof(*m));

	m->token = ++job->next_token;
	m->folder = fi;
	m->uid = info->uid;
	m->size = info->size;
	m->date = info->internaldate;
	m->flags = engine_flags_string(info);
	m->sha = EVP_MD_CTX_new();
	if (m->sha == NULL || EVP_DigestInit_ex(m->sha, EVP_sha256(), NULL) != 1) {
		log_error("engine: OpenSSL cannot start a SHA-256");
		abort();
	}
	return m;
}

static void engine_msg_free(struct engine_msg *m)
{
	EVP_MD_CTX_free(m->sha);
	buf_free(&m->hdr);
	free(m->subject);
	free(m->flags);
	free(m);
}

static void engine_msg_finish_hash(struct engine_msg *m)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	static const char hex[] = "0123456789abcdef";

	EVP_DigestFinal_ex(m->sha, md, &len);
	for (unsigned int i = 0; i < len && 2 * i + 2 < sizeof(m->sha_hex); i++) {
		m->sha_hex[2 * i] = hex[md[i] >> 4];
		m->sha_hex[2 * i + 1] = hex[md[i] & 15];
	}
	m->sha_hex[sizeof(m->sha_hex) - 1] = '\0';
}

/* The message went through: what waits for the target's answer keeps only
 * its hash and Subject (a refusal is recorded with it), not the digest
 * state and header: with many appends unanswered, that is most of the
 * memory in flight. */
static void engine_msg_finish(struct engine_msg *m)
{
	engine_msg_finish_hash(m);
	EVP_MD_CTX_free(m->sha);
	m->sha = NULL;
	m->subject = engine_subject(m->hdr.data != NULL ? m->hdr.data : "", m->hdr.len);
	buf_free(&m->hdr);
}

/* Keep the header (up to its empty line, at most ENGINE_HEADER_MAX). */
static void engine_msg_header(struct engine_msg *m, const char *p, size_t len)
{
	size_t from, room;
	const char *end;

	if (m->hdr_done)
		return;
	room = ENGINE_HEADER_MAX - m->hdr.len;
	from = m->hdr.len > 3 ? m->hdr.len - 3 : 0;
	buf_append(&m->hdr, p, len < room ? len : room);
	end = NULL;
	for (size_t i = from; i + 1 < m->hdr.len && end == NULL; i++) {
		if (m->hdr.data[i] == '\n' && (m->hdr.data[i + 1] == '\n' ||
					       (m->hdr.data[i + 1] == '\r' && i + 2 < m->hdr.len &&
						m->hdr.data[i + 2] == '\n')))
			end = m->hdr.data + i + 1;
	}
	if (end != NULL)
		m->hdr.len = (size_t)(end - m->hdr.data);
	if (end != NULL || m->hdr.len >= ENGINE_HEADER_MAX)
		m->hdr_done = true;
}

/* ---- in flight ----------------------------------------------------------- */

static struct engine_msg *engine_inflight_take(struct engine_job *job, uint64_t token)
{
	for (struct engine_msg **pp = &job->inflight; *pp != NULL; pp = &(*pp)->next) {
		struct engine_msg *m = *pp;

		if (m->token == token) {
			*pp = m->next;
			m->next = NULL;
			return m;
		}
	}
	return NULL;
}

void engine_inflight_drop(struct engine_job *job)
{
	while (job->inflight != NULL) {
		struct engine_msg *m = job->inflight;

		job->inflight = m->next;
		engine_msg_free(m);
	}
}

static void engine_refused(struct engine_job *job, struct engine_msg *m, int rc,
			   const struct mf_error *err)
{
	struct store_skipped s = {0};
	/* Refused before its end (engine_msg_finish), it has its header still. */
	char *subject = m->sha != NULL ? engine_subject(m->hdr.data != NULL ? m->hdr.data : "",
							m->hdr.len)
				       : NULL;

	s.uid = m->uid;
	s.date = m->date;
	s.subject = m->sha != NULL ? subject : m->subject;
	s.size = (int64_t)m->size;
	s.reason =
	    (char *)(err != NULL && err->msg[0] != '\0' ? err->msg : "refused by the target");
	s.kind = rc == MF_ELIMIT ? STORE_SKIP_LARGE : STORE_SKIP_BAD;
	engine_skip(job, m->folder, &s, true);
	free(subject);
}

/* ---- target reports ------------------------------------------------------------ */

static void engine_confirmed(struct engine_job *job, struct engine_msg *m,
			     const struct mbx_appended *out)
{
	const struct engine_todo *t = &job->todo[m->folder];
	struct store_msgmap *c;

	job->confirms = xreallocarray(job->confirms, job->nconfirms + 1, sizeof(*c));
	c = &job->confirms[job->nconfirms++];
	memset(c, 0, sizeof(*c));
	c->folder_id = t->folder_id;
	c->uidvalidity = t->uidvalidity;
	c->uid = m->uid;
	c->state = STORE_MSGMAP_DONE;
	c->target_uidvalidity = out != NULL ? out->uidvalidity : 0;
	c->target_uid = out != NULL ? out->uid : 0;
	c->location = out != NULL && out->location != NULL ? xstrdup(out->location) : NULL;
	c->size = (int64_t)m->size;
	memcpy(c->sha256, m->sha_hex, sizeof(c->sha256));
	c->flags = m->flags;
	m->flags = NULL;
	engine_count(job, 1, 0);
	if (out != NULL && out->warning != NULL)
		engine_event(job, STORE_EVENT_WARNING, "%s, UID %u: %s",
			     job->plan.folders[m->folder].source, m->uid, out->warning);
	if (job->nconfirms >= ENGINE_CONFIRM_BATCH)
		engine_flush(job, false);
}

/* A message the target did not take: its intent goes (buffered). */
static void engine_forget_msg(struct engine_job *job, const struct engine_msg *m)
{
	const struct engine_todo *t = &job->todo[m->folder];
	struct store_msgmap *g;

	job->forgets = xreallocarray(job->forgets, job->nforgets + 1, sizeof(*g));
	g = &job->forgets[job->nforgets++];
	memset(g, 0, sizeof(*g));
	g->folder_id = t->folder_id;
	g->uidvalidity = t->uidvalidity;
	g->uid = m->uid;
}

/* A NO that is not about the message: the target is full (the user stops)
 * or asks us to slow down (retried later). The message did not land. */
static bool engine_refusal_fault(struct engine_job *job, struct engine_msg *m, int rc,
				 const struct mf_error *err)
{
	enum engine_fault fault = engine_fault_of(rc, err != NULL ? err->msg : NULL, NULL);
	struct mf_error e;

	if (fault != ENGINE_FAULT_QUOTA && fault != ENGINE_FAULT_THROTTLE)
		return false;
	engine_forget_msg(job, m);
	if (err != NULL)
		e = *err;
	else
		mf_error_set(&e, rc, "refused by the target");
	if (fault == ENGINE_FAULT_QUOTA) {
		engine_quota_error(&e);
		engine_fatal(job, rc, &e);
	} else if (job->conn_rc == 0) {
		job->conn_rc = rc;
		job->conn_err = e;
	}
	return true;
}

/* Not stored with its batch: the intent stays; appended again alone. */
static void engine_retry_later(struct engine_job *job, const struct engine_msg *m)
{
	job->retry = xreallocarray(job->retry, job->nretry + 1, sizeof(*job->retry));
	job->retry[job->nretry++] = m->uid;
}

static void engine_append_done(void *ctx, uint64_t token, int rc, const struct mbx_appended *out,
			       const struct mf_error *err)
{
	struct engine_job *job = ctx;
	struct engine_msg *m = engine_inflight_take(job, token);

	if (m == NULL)
		return; /* aborted, or not ours */
	/* Alone in its command, it cannot be a batch's fault. */
	if (rc == MF_ERETRY && job->retrying)
		rc = MF_ENO;
	if (rc == MF_ERETRY) {
		engine_retry_later(job, m);
	} else if (rc == 0) {
		engine_confirmed(job, m, out);
	} else if (engine_rc_refusal(rc)) {
		if (!engine_refusal_fault(job, m, rc, err))
			engine_refused(job, m, rc, err);
	} else if (job->conn_rc == 0) {
		/* Landed or not, nobody knows: the intent stays. */
		job->conn_rc = rc;
		if (err != NULL)
			job->conn_err = *err;
		else
			mf_error_set(&job->conn_err, rc, "the target failed");
	}
	engine_msg_free(m);
	engine_tick(job);
}

/* The target may store these appends from now on, even if we die at once
 * (driver.h, mbx_append_sealed_fn): their intents get their SHA-256,
 * which tells reconciliation that they may land after the process that
 * sent them is gone, and are worth waiting for (engine-reconcile.c). */
static int engine_append_sealed(void *ctx, const uint64_t *tokens, size_t n, struct mf_error *err)
{
	struct engine_job *job = ctx;
	int rc = store_begin(job->st, err);

	for (size_t k = 0; rc == 0 && k < n; k++) {
		const struct engine_msg *m = job->inflight;
		struct store_msgmap r = {0};

		while (m != NULL && m->token != tokens[k])
			m = m->next;
		if (m == NULL)
			continue; /* not ours */
		r.folder_id = job->todo[m->folder].folder_id;
		r.uidvalidity = job->todo[m->folder].uidvalidity;
		r.uid = m->uid;
		r.size = (int64_t)m->size;
		memcpy(r.sha256, m->sha_hex, sizeof(r.sha256));
		rc = store_msgmap_put_intent(job->st, &r, err);
		if (rc == MF_EEXIST)
			rc = 0;
	}
	rc = store_end(job->st, rc, err);
	return rc != 0 ? engine_fatal(job, rc, err) : 0;
}

void engine_target_attach(struct engine_job *job)
{
	job->tgt->drv->set_append_done(job->tgt, engine_append_done, job);
	if (job->tgt->drv->set_append_sealed != NULL)
		job->tgt->drv->set_append_sealed(job->tgt, engine_append_sealed, job);
}

/* ---- the sink ------------------------------------------------------------------------ */

static int engine_uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether the sink should stop the fetch now: stop, fatal, lost target. */
static int engine_sink_halt(struct engine_job *job, struct mf_error *err)
{
	if (atomic_load(&job->run->stop) || engine_lane_halted(job))
		job->stopping = true;
	if (job->stopping)
		return mf_error_set(err, MF_EBUSY, "the batch is stopping");
	if (job->fatal_rc != 0) {
		if (err != NULL)
			*err = job->fatal_err;
		return job->fatal_rc;
	}
	if (job->conn_rc != 0) {
		if (err != NULL)
			*err = job->conn_err;
		return job->conn_rc;
	}
	return 0;
}

static int engine_sink_fail(struct engine_fetch *f, int rc, const struct mf_error *e,
			    struct mf_error *err)
{
	f->rc = rc;
	f->err = *e;
	if (err != NULL)
		*err = *e;
	return rc;
}

static int engine_sink_begin(void *ctx, const struct mbx_msg_info *info, struct mf_error *err)
{
	struct engine_fetch *f = ctx;
	struct engine_job *job = f->job;
	const uint32_t *at;
	struct engine_msg *m;
	int64_t max = job->run->batch.opt.max_message_size;
	struct mf_error e = {0, ""};
	int rc;

	rc = engine_sink_halt(job, err);
	if (rc != 0)
		return rc;
	at = bsearch(&info->uid, f->uids, f->n, sizeof(*f->uids), engine_uid_cmp);
	if (at == NULL || f->begun[at - f->uids])
		return 0; /* not asked for: its bytes are dropped */
	f->begun[at - f->uids] = true;
	m = engine_msg_new(job, f->fi, info);
	if (max > 0 && info->size > (uint64_t)max) {
		m->begin_rc = mf_error_set(&m->begin_err, MF_ELIMIT,
					   "message of %llu bytes exceeds the maximum message size "
					   "of %lld bytes",
					   (unsigned long long)info->size, (long long)max);
	} else {
		const char *name = f->names != NULL ? f->names[at - f->uids] : NULL;

		if (name != NULL)
			rc = job->tgt->drv->append_begin_named(job->tgt,
							       job->plan.folders[f->fi].target,
							       info, name, m->token, &m->ap, &e);
		else
			rc = job->tgt->drv->append_begin(job->tgt, job->plan.folders[f->fi].target,
							 info, m->token, &m->ap, &e);
		if (rc != 0 && !engine_rc_refusal(rc)) {
			f->begun[at - f->uids] = false; /* nothing reached the target */
			engine_msg_free(m);
			return engine_sink_fail(f, rc, &e, err);
		}
		if (rc != 0) {
			m->ap = NULL;
			m->begin_rc = rc;
			m->begin_err = e;
		} else {
			m->next = job->inflight;
			job->inflight = m;
		}
	}
	f->cur = m;
	return 0;
}

static int engine_sink_data(void *ctx, const void *data, size_t len, struct mf_error *err)
{
	struct engine_fetch *f = ctx;
	struct engine_msg *m = f->cur;
	struct mf_error e = {0, ""};
	int rc;

	if (m == NULL || len == 0)
		return 0;
	EVP_DigestUpdate(m->sha, data, len);
	engine_msg_header(m, data, len);
	if (m->ap == NULL)
		return 0;
	rc = f->job->tgt->drv->append_data(m->ap, data, len, &e);
	if (rc != 0)
		return engine_sink_fail(f, rc, &e, err);
	engine_count(f->job, 0, (int64_t)len);
	engine_tick(f->job);
	return 0;
}

static int engine_sink_end(void *ctx, struct mf_error *err)
{
	struct engine_fetch *f = ctx;
	struct engine_job *job = f->job;
	struct engine_msg *m = f->cur;
	struct mbx_append *ap;
	struct mf_error e = {0, ""};
	int rc;

	if (m == NULL)
		return 0;
	f->cur = NULL;
	engine_msg_finish(m);
	if (m->begin_rc != 0) {
		engine_refused(job, m, m->begin_rc, &m->begin_err);
		engine_msg_free(m);
		return job->fatal_rc != 0 ? engine_sink_halt(job, err) : 0;
	}
	ap = m->ap;
	m->ap = NULL;
	/* m belongs to the in-flight list now; done may free it at once. */
	rc = job->tgt->drv->append_end(ap, &e);
	if (rc != 0 && !engine_rc_refusal(rc))
		return engine_sink_fail(f, rc, &e, err);
	return job->fatal_rc != 0 ? engine_sink_halt(job, err) : 0;
}

/* ---- one folder ------------------------------------------------------------------------- */

static void engine_names_free(char **names, size_t n)
{
	for (size_t k = 0; names != NULL && k < n; k++)
		free(names[k]);
	free(names);
}

/* The messages of a chunk the source did not deliver: their intents go. */
static void engine_forget_unbegun(struct engine_job *job, const struct engine_todo *t,
				  const struct engine_fetch *f)
{
	for (size_t k = 0; k < f->n; k++) {
		struct store_msgmap *g;

		if (f->begun[k])
			continue;
		job->forgets = xreallocarray(job->forgets, job->nforgets + 1, sizeof(*g));
		g = &job->forgets[job->nforgets++];
		memset(g, 0, sizeof(*g));
		g->folder_id = t->folder_id;
		g->uidvalidity = t->uidvalidity;
		g->uid = f->uids[k];
	}
}

/* Fetch uids (ascending, their intents recorded; names: reserved target
 * names or NULL, freed here) and append them. 0, or the failure that
 * ended it. */
static int engine_fetch_append(struct engine_job *job, size_t fi, const uint32_t *uids, size_t n,
			       char **names, struct mf_error *err)
{
	struct engine_todo *t = &job->todo[fi];
	struct mbx_sink sink = {engine_sink_begin, engine_sink_data, engine_sink_end, NULL};
	struct engine_fetch f = {0};
	int rc;

	f.names = names;
	f.job = job;
	f.fi = fi;
	f.uids = uids;
	f.n = n;
	f.begun = xcalloc(n, sizeof(bool));
	sink.ctx = &f;
	rc = job->src->drv->fetch(job->src, job->plan.folders[fi].source, f.uids, n, &sink, err);
	if (f.cur != NULL) {
		/* The fetch failed inside a message: its append is abandoned
		 * (never stored: a partial file is removed, an IMAP literal
		 * cannot complete), so its intent can go. */
		const uint32_t *at =
		    bsearch(&f.cur->uid, f.uids, n, sizeof(*f.uids), engine_uid_cmp);

		if (f.cur->ap != NULL) {
			engine_inflight_take(job, f.cur->token);
			job->tgt->drv->append_abort(f.cur->ap);
		}
		if (at != NULL)
			f.begun[at - f.uids] = false; /* known not to have landed */
		engine_msg_free(f.cur);
		f.cur = NULL;
	}
	engine_forget_unbegun(job, t, &f);
	free(f.begun);
	engine_names_free(f.names, n);
	if (rc != 0 && f.rc != 0 && err != NULL)
		*err = f.err;
	if (rc == 0 && job->conn_rc != 0) {
		rc = job->conn_rc;
		if (err != NULL)
			*err = job->conn_err;
	}
	return rc;
}

/* Fetch and append one chunk. 0, or the failure that ended it. */
static int engine_chunk(struct engine_job *job, size_t fi, size_t n, struct mf_error *err)
{
	struct engine_todo *t = &job->todo[fi];
	char **names = NULL;
	int rc;

	/* A target that names messages beforehand has the names recorded in
	 * the intents, to find them by name after a crash. */
	if (job->tgt->drv->reserve_name != NULL && job->tgt->drv->append_begin_named != NULL) {
		names = xcalloc(n, sizeof(*names));
		for (size_t k = 0; k < n; k++)
			names[k] = job->tgt->drv->reserve_name(job->tgt);
	}
	/* The chunk's intents are durable before any of its bytes move. */
	rc = engine_flush_intents(job, false, t, t->pos, n, names);
	if (rc != 0) {
		engine_names_free(names, n);
		if (err != NULL)
			*err = job->fatal_err;
		return rc;
	}
	t->started = true;
	rc = engine_fetch_append(job, fi, t->uids + t->pos, n, names, err);
	if (rc == 0)
		t->pos += n;
	return rc;
}

/* The messages of refused batches, again, one per command (their intents
 * are still there). 0, or the failure that ended it. */
static int engine_retry_alone(struct engine_job *job, size_t fi, struct mf_error *err)
{
	const struct mailbox_driver *drv = job->tgt->drv;
	uint32_t *uids = job->retry;
	size_t n = job->nretry;
	struct mf_error e = {0, ""};
	int rc, frc;

	job->retry = NULL;
	job->nretry = 0;
	qsort(uids, n, sizeof(*uids), engine_uid_cmp);
	engine_event(job, STORE_EVENT_INFO,
		     "%s: the target refused a batch of appends; %zu message%s again one by one",
		     job->plan.folders[fi].source, n, n == 1 ? "" : "s");
	if (drv->set_append_alone != NULL)
		drv->set_append_alone(job->tgt, true);
	job->retrying = true;
	rc = engine_fetch_append(job, fi, uids, n, NULL, err);
	frc = drv->append_flush(job->tgt, &e);
	job->retrying = false;
	if (drv->set_append_alone != NULL)
		drv->set_append_alone(job->tgt, false);
	if (rc == 0 && frc != 0) {
		rc = frc;
		if (err != NULL)
			*err = e;
	}
	free(uids);
	return rc;
}

int engine_folder_copy(struct engine_job *job, size_t fi, struct mf_error *err)
{
	struct engine_todo *t = &job->todo[fi];
	unsigned chunk = job->run->o.fetch_chunk;
	struct mf_error e = {0, ""};
	int rc = 0, frc;

	if (job->plan.folders[fi].noselect || t->done)
		return 0;
	/* After a reconnect the folder is listed again: what waited for a
	 * retry is listed with the rest (its intents were settled). */
	free(job->retry);
	job->retry = NULL;
	job->nretry = 0;
	while (rc == 0 && t->pos < t->count) {
		size_t n = t->count - t->pos < chunk ? t->count - t->pos : chunk;

		if (atomic_load(&job->run->stop) || engine_lane_halted(job))
			job->stopping = true;
		if (job->stopping || job->fatal_rc != 0)
			break;
		rc = engine_chunk(job, fi, n, err);
		engine_tick(job);
	}
	/* However the folder ended, every append handed over is reported. */
	frc = job->tgt->drv->append_flush(job->tgt, &e);
	if (rc == 0 && frc == 0 && job->conn_rc == 0 && job->nretry > 0 && !job->stopping &&
	    job->fatal_rc == 0)
		rc = engine_retry_alone(job, fi, err);
	engine_inflight_drop(job);
	engine_flush(job, true);
	if (job->stopping || job->fatal_rc != 0)
		return 0;
	if (rc == 0 && frc != 0) {
		rc = frc;
		if (err != NULL)
			*err = e;
	}
	if (rc == 0 && job->conn_rc != 0) {
		rc = job->conn_rc;
		if (err != NULL)
			*err = job->conn_err;
	}
	if (rc == 0)
		t->done = true;
	return rc;
}
