#include "mf-error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void one_line(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
	}
}

int mf_error_set(struct mf_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	one_line(err->msg);
	return code;
}

int mf_error_prefix(struct mf_error *err, const char *fmt, ...)
{
	char prefix[MF_ERROR_MSG_MAX];
	char old[MF_ERROR_MSG_MAX];
	va_list ap;

	if (err == NULL)
		return MF_EINVAL;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	one_line(err->msg);
	return err->code;
}

void mf_error_clear(struct mf_error *err)
{
	if (err == NULL)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

const char *mf_errcode_name(int code)
{
	switch (code) {
	case MF_OK: return "ok";
	case MF_EINVAL: return "invalid";
	case MF_ENOMEM: return "nomem";
	case MF_EIO: return "io";
	case MF_ENOTFOUND: return "notfound";
	case MF_EEXIST: return "exists";
	case MF_ETIMEOUT: return "timeout";
	case MF_ECLOSED: return "closed";
	case MF_EDNS: return "dns";
	case MF_ECONNECT: return "connect";
	case MF_ETLS: return "tls";
	case MF_EPROTO: return "protocol";
	case MF_ENO: return "no";
	case MF_EBAD: return "bad";
	case MF_EAUTH: return "auth";
	case MF_EBUSY: return "busy";
	case MF_ELIMIT: return "limit";
	case MF_EUNSUPPORTED: return "unsupported";
	case MF_ERETRY: return "retry";
	}
	return "error";
}
