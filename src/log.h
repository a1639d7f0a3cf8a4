/*
 * log.h: diagnostics on stderr, filtered by verbosity.
 *
 * Primary output goes to stdout; these go to stderr, prefixed with the
 * program name set by log_init(). Never pass a secret or token to them;
 * as a second line of defence, every line is scrubbed (log_scrub()).
 */
#ifndef MBXFIX_LOG_H
#define MBXFIX_LOG_H

#include <stddef.h>

enum log_level { LOG_QUIET = 0, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *prog, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/*
 * Secrets that must never reach stderr, results.csv or run.log, whoever
 * echoes them (a hostile or careless server may quote a request's
 * Authorization header or form body in its error message): the client
 * secret, each bearer token, each client assertion. log_secret_add()
 * remembers 's' (and its percent-encoded forms, as a form body carries
 * it); strings shorter than LOG_SECRET_MIN are not taken. The last
 * LOG_SECRET_SLOTS are kept.
 *
 * log_scrub() replaces in 'text' (in place; it only shrinks) every
 * occurrence of a remembered secret, and every piece of one at least
 * LOG_SECRET_PART long (a secret cut short by a truncated message), with
 * LOG_SECRET_MASK. Every message of err_set(), every log_*() line and
 * every row error and hint go through it.
 */
#define LOG_SECRET_MIN 6
#define LOG_SECRET_PART 12
#define LOG_SECRET_SLOTS 32
#define LOG_SECRET_MASK "***"

void log_secret_add(const char *s, size_t len);
void log_scrub(char *text);
/* Forget every secret (wiping the copies); for tests. */
void log_secret_clear(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
