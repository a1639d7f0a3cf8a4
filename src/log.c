#include "compat.h"

#include <stdarg.h>

#include "log.h"

#include "banned.h"

static const char *log_prog = "mbxfix";
static enum log_level log_level = LOG_WARN;

void log_init(const char *prog, enum log_level level)
{
	log_prog = prog;
	log_level = level;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

static void vlog(enum log_level level, const char *tag, const char *fmt,
		 va_list ap)
{
	if (level > log_level)
		return;
	fprintf(stderr, "%s: %s", log_prog, tag);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

#define LOG_FN(name, level, tag)                                               \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(level, tag, fmt, ap);                                     \
		va_end(ap);                                                    \
	}

LOG_FN(log_error, LOG_ERROR, "")
LOG_FN(log_warn, LOG_WARN, "warning: ")
LOG_FN(log_info, LOG_INFO, "")
LOG_FN(log_debug, LOG_DEBUG, "debug: ")
