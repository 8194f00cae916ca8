/* imap-driver-append.c: appending messages, streamed and pipelined
 * (imap-driver.h, "Target side").
 *
 * Each append is one APPEND command whose literal the caller's bytes fill
 * as they come (imap_cmd_literal_stream): nothing of the message is
 * buffered here. append_end leaves the command in flight; its tagged answer
 * reaches imd_append_done during whatever later call reads from the server,
 * which reports it through the caller's done callback. Every message handed
 * over is reported exactly once (a lost connection reports each one still
 * in flight with the connection's error), except an aborted one.
 *
 * RFC 9051 section 6.3.12 (APPEND), RFC 7888 (LITERAL+ / LITERAL-),
 * RFC 4315 (UIDPLUS: APPENDUID), RFC 7889 (APPENDLIMIT), RFC 4469 and
 * RFC 5530 (TOOBIG, OVERQUOTA, ...).
 */
#include "drivers/imap-driver-private.h"

#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

/* An APPEND sent (or being sent) and not yet answered. */
struct imd_pending {
	struct imd_pending *prev, *next;   /* in m->pending */
	struct imd *m;                     /* foreign */
	struct imd_append *ap;             /* foreign; NULL once ended */
	uint64_t token;
	char *warning;                     /* owned; NULL when none */
	bool aborted;                      /* report nothing */
};

struct imd_append {
	struct imd *m;                     /* foreign */
	struct imd_pending *p;             /* foreign; NULL once answered */
	uint64_t left;                     /* bytes still to come */
	int rc;                            /* sticky failure */
	struct mf_error failure;
};

void imd_set_append_done(struct mbx *mb, mbx_append_done_fn *fn, void *ctx)
{
	struct imd *m = (struct imd *)mb;

	m->done_fn = fn;
	m->done_ctx = ctx;
}

static void imd_pending_unlink(struct imd_pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		p->m->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	if (p->ap != NULL)
		p->ap->p = NULL;
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

static void imd_append_done(void *ctx, const struct imap_response *r, const struct mf_error *err)
{
	struct imd_pending *p = ctx;
	struct imd *m = p->m;
	struct mbx_appended out;
	struct mf_error e;
	uint64_t v1, v2;

	imd_pending_unlink(p);
	if (!p->aborted && m->done_fn != NULL) {
		if (r == NULL) {
			m->done_fn(m->done_ctx, p->token, err->code, NULL, err);
		} else if (r->status == IMAP_STATUS_OK) {
			memset(&out, 0, sizeof(out));
			if (r->code != NULL && strcmp(r->code, "APPENDUID") == 0 &&
			    r->code_args_count >= 2 && imap_arg_number(&r->code_args[0], &v1) &&
			    imap_arg_number(&r->code_args[1], &v2) && v1 <= UINT32_MAX &&
			    v2 <= UINT32_MAX) {
				out.uidvalidity = (uint32_t)v1;
				out.uid = (uint32_t)v2;
			}
			out.warning = p->warning;
			m->done_fn(m->done_ctx, p->token, 0, &out, NULL);
		} else {
			m->done_fn(m->done_ctx, p->token, imd_refusal(r, &e), NULL, &e);
		}
	}
	free(p->warning);
	free(p);
}

int imd_append_begin(struct mbx *mb, const char *folder, const struct mbx_msg_info *info,
		     uint64_t token, struct mbx_append **ap_r, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;
	uint64_t limit = imap_client_appendlimit(m->c);
	struct imd_pending *p;
	struct imd_append *ap;
	struct imap_cmd *cmd;
	char *raw, *flags, *warning;
	char date[40];
	int rc;

	*ap_r = NULL;
	if (m->open_ap != NULL)
		return mf_error_set(err, MF_EINVAL, "another append is still open");
	if (limit > 0 && info->size > limit)
		return mf_error_set(err, MF_ELIMIT,
				    "message of %llu bytes exceeds the server's APPENDLIMIT of %llu",
				    (unsigned long long)info->size, (unsigned long long)limit);
	rc = m->listed ? 0 : imd_list(m, err);
	if (rc == 0)
		rc = imd_name_to_raw(m, folder, &raw, err);
	if (rc < 0)
		return rc;
	flags = imd_flags_format(info, &warning);
	cmd = imap_cmd_new("APPEND");
	imap_cmd_astring(cmd, raw);
	imap_cmd_atom(cmd, flags);
	if (info->internaldate != 0) {
		imd_date_format(info->internaldate, info->tz_offset_min, date);
		imap_cmd_atom(cmd, date);
	}
	imap_cmd_literal_stream(cmd, info->size);
	free(raw);
	free(flags);

	p = xcalloc(1, sizeof(*p));
	p->m = m;
	p->token = token;
	p->warning = warning;
	p->next = m->pending;
	if (p->next != NULL)
		p->next->prev = p;
	m->pending = p;
	ap = xcalloc(1, sizeof(*ap));
	ap->m = m;
	ap->p = p;
	ap->left = info->size;
	p->ap = ap;
	m->open_ap = ap;
	imap_client_submit(m->c, cmd, NULL, imd_append_done, p);
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
	free(ap);
}

int imd_append_end(struct mbx_append *map, struct mf_error *err)
{
	struct imd_append *ap = (struct imd_append *)map;
	int rc = ap->rc;

	if (rc == 0 && ap->left > 0) {
		ap->rc = mf_error_set(&ap->failure, MF_EPROTO,
				      "message ended %llu bytes short of its size",
				      (unsigned long long)ap->left);
		rc = imd_append_break(ap, err);
	} else if (rc == 0) {
		rc = imap_client_literal_end(ap->m->c, err);
	} else if (err != NULL) {
		*err = ap->failure;
	}
	imd_append_free(ap);
	return rc;
}

void imd_append_abort(struct mbx_append *map)
{
	struct imd_append *ap = (struct imd_append *)map;

	if (ap->p != NULL)
		ap->p->aborted = true;
	imap_client_abort(ap->m->c, MF_ECLOSED,
			  "connection given up: an append was abandoned mid-message");
	imd_append_free(ap);
}

int imd_append_flush(struct mbx *mb, struct mf_error *err)
{
	struct imd *m = (struct imd *)mb;

	if (m->open_ap != NULL)
		return mf_error_set(err, MF_EINVAL, "append_flush with an append still open");
	if (m->pending == NULL)
		return 0;
	return imap_client_run(m->c, NULL, err);
}

void imd_append_forget(struct imd *m)
{
	for (struct imd_pending *p = m->pending; p != NULL; p = p->next)
		p->aborted = true;
}
