/* xmalloc.h: allocation that never returns NULL.
 *
 * Out of memory aborts the process in one place (with a message on stderr),
 * so callers never check for NULL. */
#ifndef MF_XMALLOC_H
#define MF_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grow an array of nmemb elements of size bytes, checking for overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* Overwrite n bytes so the compiler cannot elide it (sodium_memzero). */
void mf_memzero(void *p, size_t n);
/* Wipe and free a NUL-terminated secret; sets *sp to NULL. */
void mf_secret_free(char **sp);

#endif
