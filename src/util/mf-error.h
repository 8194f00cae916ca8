/* mf-error.h: error values passed through out-parameters.
 *
 * Functions return int: 0 on success, a negative MF_E* code on failure, and
 * fill a caller-owned struct mf_error with a one-line, human-readable cause.
 * There is no global "last error": many jobs run at once.
 *
 * Messages must never contain a secret. Code that formats a message from
 * server text passes it through mf_error_set(), which keeps it on one line.
 */
#ifndef MF_ERROR_H
#define MF_ERROR_H

#include <stddef.h>

enum mf_errcode {
	MF_OK = 0,
	MF_EINVAL = -1,    /* bad argument or input */
	MF_ENOMEM = -2,    /* never returned: allocation failure aborts */
	MF_EIO = -3,       /* local I/O failure (file, database) */
	MF_ENOTFOUND = -4, /* no such object */
	MF_EEXIST = -5,    /* object already exists */
	MF_ETIMEOUT = -6,  /* deadline passed */
	MF_ECLOSED = -7,   /* peer closed the connection */
	MF_EDNS = -8,      /* name resolution failed */
	MF_ECONNECT = -9,  /* TCP connect failed */
	MF_ETLS = -10,     /* TLS handshake or verification failed */
	MF_EPROTO = -11,   /* peer broke the protocol */
	MF_ENO = -12,      /* server answered NO */
	MF_EBAD = -13,     /* server answered BAD */
	MF_EAUTH = -14,    /* authentication rejected */
	MF_EBUSY = -15,    /* object in use */
	MF_ELIMIT = -16,   /* a configured size limit was exceeded */
	MF_EUNSUPPORTED = -17, /* capability not (yet) supported */
	MF_ERETRY = -18,   /* not done, through no fault of its own (e.g. a
			    * message of a refused MULTIAPPEND): do it again
			    * alone */
};

#define MF_ERROR_MSG_MAX 512

struct mf_error {
	int code;                    /* enum mf_errcode, 0 when no error */
	char msg[MF_ERROR_MSG_MAX];  /* one line, no trailing newline */
};

/* Set *err (if not NULL) to code and a printf-formatted message; control
 * characters are replaced by spaces so the message stays one line.
 * Returns code, so callers can write `return mf_error_set(err, ...)`. */
int mf_error_set(struct mf_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix an existing message: "prefix: old message". Returns err->code. */
int mf_error_prefix(struct mf_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void mf_error_clear(struct mf_error *err);

/* A short name for a code ("timeout", "tls", ...), for JSON output. */
const char *mf_errcode_name(int code);

#endif
