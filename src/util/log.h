/* log.h: levelled logging to stderr, with context and secret redaction.
 *
 * Nothing logged may contain a secret. Protocol traces go through
 * log_trace_*(), which the IMAP client feeds with already-redacted lines. */
#ifndef MF_LOG_H
#define MF_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
