/* imap-driver-append.c: appending messages, streamed and pipelined
 * (imap-driver.h, "Target side").
 *
 * Each append is one message of an APPEND command whose literal the
 * caller's bytes fill as they come (imap_cmd_literal_stream): nothing of
 * the message is buffered here. With MULTIAPPEND a command holds several
 * messages: it stays open after a message's append_end, and the next
 * append_begin to the same folder continues it (imap_client_literal_next)
 * until it is full or something else must be sent; then its final CRLF
 * goes out (imd_append_close). The tagged answer of a command reaches
 * imd_append_done during whatever later call reads from the server, which
 * reports each of its messages through the caller's done callback. Every
 * message handed over is reported exactly once (a lost connection reports
 * each one still in flight with the connection's error), except an aborted
 * one; a message whose command is answered while its bytes are still being
 * written is reported at its append_end, so the caller never sees the
 * report of a message it is still writing.
 *
 * RFC 9051 section 6.3.12 (APPEND), RFC 3502 (MULTIAPPEND), RFC 7888
 * (LITERAL+ / LITERAL-), RFC 4315 (UIDPLUS: APPENDUID, uid-set), RFC 7889
 * (APPENDLIMIT), RFC 4469 and RFC 5530 (TOOBIG, OVERQUOTA, ...).
 */
#include "drivers/imap-driver-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* One message of an APPEND command. */
struct imd_amsg {
	uint64_t token;
	char *warning;                     /* owned; NULL when none */
	bool aborted;                      /* report nothing */
};

/* An APPEND command sent (or being sent) and not yet answered: one
 * message, or several (MULTIAPPEND). */
struct imd_pending {
	struct imd_pending *prev, *next;   /* in m->pending */
	struct imd *m;                     /* foreign */
	struct imd_append *ap;             /* foreign: its message being
					    * written; NULL when none */
	struct imd_amsg *msgs;             /* owned, in command order */
	size_t n, cap;
	uint64_t bytes;                    /* message bytes announced */
	char *raw;                         /* owned: the folder, server's name */
	char tag[16];                      /* the command's */
	size_t sealed;                     /* messages sealed (imd_seal) */
};

struct imd_append {
	struct imd *m;                     /* foreign */
	struct imd_pending *p;             /* foreign; NULL once answered */
	size_t idx;                        /* its message in p->msgs */
	uint64_t left;                     /* bytes still to come */
	int rc;                            /* sticky failure */
	struct mf_error failure;
	/* Answered while still being written: the report, made at
	 * append_end (warning owned). */
	bool answered, ans_aborted;
	uint64_t token;
	int ans_rc;
	struct mf_error ans_err;
	struct mbx_appended ans_out;
};

void imd_set_append_done(struct mbx *mb, mbx_append_done_fn *fn, void *ctx)
{
	struct imd *m = (struct imd *)mb;

	m->done_fn = fn;
	m->done_ctx = ctx;
}

void imd_set_append_alone(struct mbx *mb, bool alone)
{
	struct imd *m = (struct imd *)mb;

	m->alone = alone;
}

void imd_set_append_sealed(struct mbx *mb, mbx_append_sealed_fn *fn, void *ctx)
{
	struct imd *m = (struct imd *)mb;

	m->sealed_fn = fn;
	m->sealed_ctx = ctx;
}

static void imd_pending_unlink(struct imd_pending *p)
{
	p->m->sealed_msgs -= p->sealed;
	p->sealed = 0;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		p->m->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	if (p->ap != NULL)
		p->ap->p = NULL;
	if (p->m->batch == p)
		p->m->batch = NULL;
}

static void imd_pending_free(struct imd_pending *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->msgs[i].warning);
	free(p->msgs);
	free(p->raw);
	free(p);
}

/* Before sealing n more messages: at most IMAP_MBX_SEALED_COMMANDS times
 * multi_max sealed and unanswered
 * (a crash leaves no more than that to land after it), so wait for the
 * answers of the oldest sealed commands. Their reports may come during
 * this call, and so may the answer of the command being ended. */
static int imd_wait_sealed(struct imd *m, size_t n, struct mf_error *err)
{
	while (m->sealed_msgs > 0 && m->sealed_msgs + n > IMAP_MBX_SEALED_COMMANDS * m->multi_max) {
		const struct imd_pending *oldest = NULL;
		char tag[sizeof(oldest->tag)];
		int rc;

		for (const struct imd_pending *p = m->pending; p != NULL; p = p->next)
			if (p->sealed > 0)
				oldest = p;
		if (oldest == NULL)
			break;
		memcpy(tag, oldest->tag, sizeof(tag));
		rc = imap_client_run(m->c, tag, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Right before the final CRLF of p: from here on the server may store its
 * messages whatever becomes of us (driver.h, mbx_append_sealed_fn). A
 * failure gives the connection up, so that the CRLF never goes. */
static int imd_seal(struct imd *m, struct imd_pending *p, struct mf_error *err)
{
	uint64_t *tokens;
	size_t n = 0;
	int rc = 0;

	if (m->sealed_fn == NULL || p == NULL || p->n == 0)
		return 0;
	tokens = xcalloc(p->n, sizeof(*tokens));
	for (size_t i = 0; i < p->n; i++)
		if (!p->msgs[i].aborted)
			tokens[n++] = p->msgs[i].token;
	if (n > 0)
		rc = m->sealed_fn(m->sealed_ctx, tokens, n, err);
	free(tokens);
	if (rc != 0) {
		if (rc > 0)
			rc = MF_EIO;
		imap_client_abort(m->c, rc, err != NULL ? err->msg : "the appends cannot be recorded");
		return rc;
	}
	p->sealed = p->n;
	m->sealed_msgs += p->n;
	return 0;
}

/* End the command whose literal is open: the batch's (*pp, re-read after
 * waiting, as an answer unlinks it), sealed first. */
static int imd_append_finish(struct imd *m, struct imd_pending **pp, struct mf_error *err)
{
	int rc = imd_wait_sealed(m, *pp != NULL ? (*pp)->n : 1, err);

	if (rc == 0)
		rc = imd_seal(m, *pp, err);
	if (rc == 0)
		rc = imap_client_literal_end(m->c, err);
	return rc;
}

/* NO / BAD: the code the engine acts on, and the server's words. */
static int imd_refusal(const struct imap_response *r, struct mf_error *e)
{
	int code = MF_ENO;

	if (r->status == IMAP_STATUS_BAD)
		code = MF_EBAD;
	else if (r->code != NULL && strcmp(r->code, "TOOBIG") == 0)
		code = MF_ELIMIT;
	if (r->code != NULL)
		return mf_error_set(e, code, "[%s] %s", r->code, r->text);
	return mf_error_set(e, code, "%s", r->text);
}

/* A refused MULTIAPPEND: none of its n messages was stored. */
static int imd_refusal_multi(const struct imap_response *r, size_t n, struct mf_error *e)
{
	const char *what = r->status == IMAP_STATUS_BAD ? "BAD" : "NO";

	if (r->code != NULL)
		return mf_error_set(e, MF_ERETRY,
				    "not stored: the target refused the MULTIAPPEND of %zu messages "
				    "it was in (%s [%s] %s); retry it alone",
				    n, what, r->code, r->text);
	return mf_error_set(e, MF_ERETRY,
			    "not stored: the target refused the MULTIAPPEND of %zu messages it "
			    "was in (%s %s); retry it alone",
			    n, what, r->text);
}

/* "3955", "3955:3962", "3955,3957:3962" -> exactly n UIDs in order into
 * out; false when the set is malformed or holds another count. */
static bool imd_uidset_expand(const char *s, uint32_t *out, size_t n)
{
	size_t k = 0;

	while (*s != '\0') {
		uint64_t a = 0, b;
		char *end;

		if (*s < '0' || *s > '9')
			return false;
		a = strtoull(s, &end, 10);
		b = a;
		s = end;
		if (*s == ':') {
			if (s[1] < '0' || s[1] > '9')
				return false;
			b = strtoull(s + 1, &end, 10);
			s = end;
		}
		if (a == 0 || b == 0 || a > UINT32_MAX || b > UINT32_MAX)
			return false;
		if (a > b) {
			uint64_t t = a;

			a = b;
			b = t;
		}
		if (b - a >= n - k)
			return false;
		for (uint64_t u = a; u <= b; u++)
			out[k++] = (uint32_t)u;
		if (*s == ',')
			s++;
		else if (*s != '\0')
			return false;
	}
	return k == n;
}

/* APPENDUID uidvalidity uid-set: the UIDs of the command's n messages. */
static uint32_t imd_appenduid(const struct imap_response *r, uint32_t *uids, size_t n)
{
	const char *set;
	uint64_t v;

	memset(uids, 0, n * sizeof(*uids));
	if (r->code == NULL || strcmp(r->code, "APPENDUID") != 0 || r->code_args_count < 2 ||
	    !imap_arg_number(&r->code_args[0], &v) || v == 0 || v > UINT32_MAX)
		return 0;
	set = imap_arg_text(&r->code_args[1]);
	if (set == NULL || !imd_uidset_expand(set, uids, n)) {
		memset(uids, 0, n * sizeof(*uids));
		return 0;
	}
	return (uint32_t)v;
}

static void imd_report(struct imd *m, const struct imd_amsg *a, int rc,
		       const struct mbx_appended *out, const struct mf_error *e)
{
	if (!a->aborted && m->done_fn != NULL)
		m->done_fn(m->done_ctx, a->token, rc, rc == 0 ? out : NULL, rc == 0 ? NULL : e);
}

/* Keep the outcome of the message still being written for its append_end. */
static void imd_defer(struct imd_append *ap, struct imd_amsg *a, int rc,
		      const struct mbx_appended *out, const struct mf_error *e)
{
	ap->answered = true;
	ap->ans_aborted = a->aborted;
	ap->token = a->token;
	ap->ans_rc = rc;
	if (rc == 0) {
		ap->ans_out = *out;
		ap->ans_out.warning = a->warning;
		a->warning = NULL;
	} else {
		ap->ans_err = *e;
	}
}

static void imd_append_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imd_pending *p = ctx;
	struct imd *m = p->m;
	struct imd_append *ap = p->ap;
	struct mbx_appended out;
	struct mf_error e;
	uint32_t *uids = xcalloc(p->n > 0 ? p->n : 1, sizeof(*uids));
	uint32_t uidvalidity = 0;
	int rc;

	imd_pending_unlink(p);
	if (r == NULL) {
		rc = err->code;
		e = *err;
	} else if (r->status == IMAP_STATUS_OK) {
		rc = 0;
		uidvalidity = imd_appenduid(r, uids, p->n);
	} else if (p->n > 1) {
		rc = imd_refusal_multi(r, p->n, &e);
	} else {
		rc = imd_refusal(r, &e);
	}
	for (size_t i = 0; i < p->n; i++) {
		memset(&out, 0, sizeof(out));
		if (rc == 0 && uidvalidity != 0) {
			out.uidvalidity = uidvalidity;
			out.uid = uids[i];
		}
		out.warning = p->msgs[i].warning;
		if (ap != NULL && i == ap->idx)
			imd_defer(ap, &p->msgs[i], rc, &out, &e);
		else
			imd_report(m, &p->msgs[i], rc, &out, &e);
	}
	free(uids);
	imd_pending_free(p);
}

/* Whether the open MULTIAPPEND p can take a message of size bytes for raw. */
static bool imd_batch_takes(const struct imd *m, const struct imd_pending *p, const char *raw,
			    uint64_t size)
{
	return !m->alone && p->n < m->multi_max && size <= m->multi_bytes &&
	       p->bytes + size <= m->multi_bytes && strcmp(p->raw, raw) == 0;
}

/* Whether a new command for a message of size bytes may become one. */
static bool imd_batch_ok(const struct imd *m, uint64_t size)
{
	uint32_t caps = imap_client_caps(m->c);

	return m->multi && !m->alone && (caps & IMAP_CAP_MULTIAPPEND) &&
	       (caps & IMAP_CAP_LITERALPLUS) && size < m->multi_bytes && m->multi_max > 1;
}

int imd_append_close(struct imd *m, struct mf_error *err)
{
	int rc;

	if (m->open_ap != NULL)
		return mf_error_set(err, MF_EINVAL, "an append is still open on this connection");
	if (!imap_client_literal_open(m->c)) {
		m->batch = NULL;
		return 0;
	}
	/* The open literal is the batch's, unless it was answered (then
	 * nothing of it can land any more: m->batch is NULL). */
	rc = imd_append_finish(m, &m->batch, err);
	m->batch = NULL;
	return rc;
}

/* A new APPEND command for the first message. */
static struct imd_pending *imd_append_cmd(struct imd *m, char *raw, const char *args,
					  uint64_t size)
{
	struct imap_cmd *cmd = imap_cmd_new("APPEND");
	struct imd_pending *p;

	imap_cmd_astring(cmd, raw);
	imap_cmd_atom(cmd, args);
	imap_cmd_literal_stream(cmd, size);
	p = xcalloc(1, sizeof(*p));
	p->m = m;
	p->raw = raw;
	p->next = m->pending;
	if (p->next != NULL)
		p->next->prev = p;
	m->pending = p;
	if (imd_batch_ok(m, size))
		m->batch = p;
	snprintf(p->tag, sizeof(p->tag), "%s",
		 imap_client_submit(m->c, cmd, NULL, imd_append_done, p));
	return p;
}

/* A message whose command was refused before it joined: written, then
 * reported MF_ERETRY at its append_end. */
static int imd_append_orphan(struct imd *m, uint64_t token, uint64_t size,
			     struct mbx_append **ap_r)
{
	struct imd_append *ap = xcalloc(1, sizeof(*ap));

	ap->m = m;
	ap->left = size;
	ap->answered = true;
	ap->token = token;
	ap->ans_rc = mf_error_set(&ap->ans_err, MF_ERETRY,
				  "not stored: the target refused the MULTIAPPEND it was in; "
				  "retry it alone");
	m->open_ap = ap;
	*ap_r = (struct mbx_append *)ap;
	return 0;
}

int imd_append_begin(struct mbx *mb, const char *folder, const struct mbx_msg_info *info,
		     uint64_t token, struct mbx_append **ap_r, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	uint64_t limit = imap_client_appendlimit(m->c);
	struct imd_pending *p = NULL;
	struct imd_append *ap;
	struct imd_amsg *a;
	char *raw, *flags, *warning, *args;
	char date[40];
	int rc;

	*ap_r = NULL;
	if (m->open_ap != NULL)
		return mf_error_set(err, MF_EINVAL, "another append is still open");
	if (limit > 0 && info->size > limit)
		return mf_error_set(err, MF_ELIMIT,
				    "message of %llu bytes exceeds the server's APPENDLIMIT of %llu",
				    (unsigned long long)info->size, (unsigned long long)limit);
	/* The listing is a command of its own: the open batch ends first. */
	rc = m->listed ? 0 : imd_list(m, err);
	if (rc == 0)
		rc = imd_name_to_raw(m, folder, &raw, err);
	if (rc < 0)
		return rc;
	flags = imd_flags_format(info, &warning);
	if (info->internaldate != 0) {
		imd_date_format(info->internaldate, info->tz_offset_min, date);
		args = xasprintf("%s %s", flags, date);
	} else {
		args = xstrdup(flags);
	}
	free(flags);
	if (m->batch != NULL && imd_batch_takes(m, m->batch, raw, info->size)) {
		rc = imap_client_literal_next(m->c, args, info->size, err);
		if (rc == 0 && m->batch == NULL) {
			/* Refused while this message's header went out: the
			 * server skips its bytes, which must still follow. */
			free(raw);
			free(args);
			free(warning);
			return imd_append_orphan(m, token, info->size, ap_r);
		} else if (rc == 0) {
			p = m->batch;
			free(raw);
		} else if (rc != MF_EBUSY) {
			free(raw);
			free(args);
			free(warning);
			return rc;
		}
	}
	if (p == NULL) {
		/* Not for the open command (or it was answered meanwhile):
		 * end it, and begin a new one. */
		rc = imd_append_close(m, err);
		if (rc < 0) {
			free(raw);
			free(args);
			free(warning);
			return rc;
		}
		p = imd_append_cmd(m, raw, args, info->size);
	}
	free(args);
	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 4 : 2 * p->cap;
		p->msgs = xreallocarray(p->msgs, p->cap, sizeof(*p->msgs));
	}
	a = &p->msgs[p->n++];
	memset(a, 0, sizeof(*a));
	a->token = token;
	a->warning = warning;
	p->bytes += info->size;
	ap = xcalloc(1, sizeof(*ap));
	ap->m = m;
	ap->p = p;
	ap->idx = p->n - 1;
	ap->left = info->size;
	p->ap = ap;
	m->open_ap = ap;
	*ap_r = (struct mbx_append *)ap;
	return 0;
}

/* The literal cannot be completed correctly: give up the connection. */
static int imd_append_break(struct imd_append *ap, struct mf_error *err)
{
	imap_client_abort(ap->m->c, ap->rc, ap->failure.msg);
	if (err != NULL)
		*err = ap->failure;
	return ap->rc;
}

int imd_append_data(struct mbx_append *map, const void *data, size_t len, struct mf_error *err)
{
	struct imd_append *ap = (struct imd_append *)map;
	int rc;

	if (ap->rc < 0) {
		if (err != NULL)
			*err = ap->failure;
		return ap->rc;
	}
	if (len > ap->left) {
		ap->rc = mf_error_set(&ap->failure, MF_EPROTO,
				      "message is longer than the size announced");
		return imd_append_break(ap, err);
	}
	rc = imap_client_literal_write(ap->m->c, data, len, &ap->failure);
	if (rc < 0) {
		ap->rc = rc;
		if (err != NULL)
			*err = ap->failure;
		return rc;
	}
	ap->left -= len;
	return 0;
}

static void imd_append_free(struct imd_append *ap)
{
	if (ap->p != NULL)
		ap->p->ap = NULL;
	if (ap->m->open_ap == ap)
		ap->m->open_ap = NULL;
	free(ap->ans_out.warning);
	free(ap);
}

int imd_append_end(struct mbx_append *map, struct mf_error *err)
{
	struct imd_append *ap = (struct imd_append *)map;
	struct imd *m = ap->m;
	struct imd_pending *p = ap->p;
	int rc = ap->rc;

	if (rc == 0 && ap->left > 0) {
		ap->rc = mf_error_set(&ap->failure, MF_EPROTO,
				      "message ended %llu bytes short of its size",
				      (unsigned long long)ap->left);
		rc = imd_append_break(ap, err);
	} else if (rc == 0 && p != NULL && p == m->batch && p->n < m->multi_max &&
		   p->bytes < m->multi_bytes) {
		/* The command stays open for the next message. */
		p->ap = NULL;
		ap->p = NULL;
	} else if (rc == 0) {
		if (m->batch == p)
			m->batch = NULL;
		/* ap->p: NULL once answered (also while waiting). */
		rc = imd_append_finish(m, &ap->p, err);
	} else if (err != NULL) {
		*err = ap->failure;
	}
	if (m->open_ap == ap)
		m->open_ap = NULL;
	if (ap->answered) {
		struct imd_amsg a = { ap->token, NULL, ap->ans_aborted };

		imd_report(m, &a, ap->ans_rc, &ap->ans_out, &ap->ans_err);
	}
	imd_append_free(ap);
	return rc;
}

void imd_append_abort(struct mbx_append *map)
{
	struct imd_append *ap = (struct imd_append *)map;
	struct imd *m = ap->m;

	if (ap->p != NULL)
		ap->p->msgs[ap->idx].aborted = true;
	m->batch = NULL;
	/* The commands sent before this one are answered all the same: their
	 * outcome is worth reading (a report the caller can record now is an
	 * append it need not reconcile). Their reports may come during this
	 * call; this append's is dropped. */
	(void)imap_client_drain(m->c, IMD_DRAIN_MS, NULL);
	imap_client_abort(m->c, MF_ECLOSED,
			  "connection given up: an append was abandoned mid-message");
	imd_append_free(ap);
}

int imd_append_flush(struct mbx *mb, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	int rc;

	if (m->open_ap != NULL)
		return mf_error_set(err, MF_EINVAL, "append_flush with an append still open");
	rc = imd_append_close(m, err);
	if (rc < 0 || m->pending == NULL)
		return rc;
	return imap_client_run(m->c, NULL, err);
}

void imd_append_forget(struct imd *m)
{
	for (struct imd_pending *p = m->pending; p != NULL; p = p->next) {
		for (size_t i = 0; i < p->n; i++)
			p->msgs[i].aborted = true;
	}
	if (m->open_ap != NULL)
		m->open_ap->ans_aborted = true;
}
