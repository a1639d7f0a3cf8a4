/*
 * log.h: diagnostics on stderr, filtered by verbosity.
 *
 * Primary output goes to stdout; these go to stderr, prefixed with the
 * program name set by log_init(). Never pass a secret or token to them.
 */
#ifndef MBXFIX_LOG_H
#define MBXFIX_LOG_H

enum log_level { LOG_QUIET = 0, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *prog, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
