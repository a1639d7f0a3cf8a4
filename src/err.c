#include "compat.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "err.h"
#include "log.h"

#include "banned.h"

static int vset(struct err *e, enum err_kind kind, int errnum,
		const char *fmt, va_list ap)
{
	size_t n;

	if (!e || e->kind != ERR_NONE)
		return -1;
	e->kind = kind;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (errnum) {
		n = strlen(e->msg);
		snprintf(e->msg + n, sizeof(e->msg) - n, ": %s",
			 strerror(errnum));
	}
	log_scrub(e->msg); /* server text may quote a secret: log.h */
	return -1;
}

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(e, kind, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int err_set_errno(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;

	va_start(ap, fmt);
	vset(e, kind, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

void err_clear(struct err *e)
{
	e->kind = ERR_NONE;
	e->msg[0] = '\0';
}

int err_exit_code(const struct err *e)
{
	switch (e->kind) {
	case ERR_NONE:
		return 0;
	case ERR_USAGE:
	case ERR_CONFIG:
	case ERR_INPUT:
		return 2;
	default:
		return 3;
	}
}
