/* buf.h: a growable byte buffer. Always NUL-terminated after its data so it
 * can be used as a string when it holds text; the data may contain NULs. */
#ifndef MF_BUF_H
#define MF_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;  /* owned; NULL until the first append */
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
/* Wipe the contents (for buffers that held a secret) and free. */
void buf_wipe(struct buf *b);
void buf_free(struct buf *b);
/* Take ownership of the data as a NUL-terminated string; b becomes empty. */
char *buf_steal(struct buf *b);
/* "" when empty, never NULL. */
const char *buf_cstr(const struct buf *b);

#endif
