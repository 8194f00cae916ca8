/* mutf7.h: modified UTF-7 mailbox names (RFC 3501 section 5.1.3). */
#ifndef MF_MUTF7_H
#define MF_MUTF7_H

#include "util/mf-error.h"

/* UTF-8 -> modified UTF-7. Returns a malloc'd string, or NULL with err set
 * (MF_EINVAL) when the input is not valid UTF-8. */
char *mutf7_encode(const char *utf8, struct mf_error *err);
/* Modified UTF-7 -> UTF-8. Returns NULL with err set on a malformed name. */
char *mutf7_decode(const char *mutf7, struct mf_error *err);

#endif
