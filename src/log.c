#include "compat.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

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

/* Remembered secrets: a ring, the oldest replaced first. */
static struct {
	char *s;
	size_t len;
} secrets[LOG_SECRET_SLOTS];
static size_t next_secret;

static void wipe_free(char *s, size_t len)
{
	volatile char *p = s;

	for (size_t i = 0; s && i < len; i++)
		p[i] = 0;
	free(s);
}

static void remember(const char *s, size_t len)
{
	char *copy;

	if (len < LOG_SECRET_MIN)
		return;
	for (size_t i = 0; i < LOG_SECRET_SLOTS; i++)
		if (secrets[i].len == len && !memcmp(secrets[i].s, s, len))
			return;
	copy = malloc(len + 1);
	if (!copy)
		return;
	memcpy(copy, s, len);
	copy[len] = '\0';
	wipe_free(secrets[next_secret].s, secrets[next_secret].len);
	secrets[next_secret].s = copy;
	secrets[next_secret].len = len;
	next_secret = (next_secret + 1) % LOG_SECRET_SLOTS;
}

/*
 * 's' percent-encoded: 'keep' lists the characters besides letters and
 * digits left as they are (a form encoder may or may not encode '~').
 */
static void remember_encoded(const char *s, size_t len, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	char *e = malloc(len * 3 + 1);
	size_t n = 0;

	if (!e)
		return;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || (c && strchr(keep, c))) {
			e[n++] = (char)c;
		} else {
			e[n++] = '%';
			e[n++] = hex[c >> 4];
			e[n++] = hex[c & 15];
		}
	}
	if (n != len)
		remember(e, n);
	wipe_free(e, len * 3 + 1);
}

void log_secret_add(const char *s, size_t len)
{
	if (!s || len < LOG_SECRET_MIN)
		return;
	remember(s, len);
	remember_encoded(s, len, "-._~");
	remember_encoded(s, len, "-._");
	remember_encoded(s, len, "");
}

void log_secret_clear(void)
{
	for (size_t i = 0; i < LOG_SECRET_SLOTS; i++) {
		wipe_free(secrets[i].s, secrets[i].len);
		secrets[i].s = NULL;
		secrets[i].len = 0;
	}
	next_secret = 0;
}

/* How many bytes at 'p' (of 'avail') are a secret or a piece of one. */
static size_t secret_at(const char *p, size_t avail)
{
	size_t best = 0;

	for (size_t i = 0; i < LOG_SECRET_SLOTS; i++) {
		const char *s = secrets[i].s;
		size_t n = 0, max = secrets[i].len;

		if (!s || *s != *p)
			continue;
		if (max > avail)
			max = avail;
		while (n < max && s[n] == p[n])
			n++;
		if ((n == secrets[i].len || n >= LOG_SECRET_PART) && n > best)
			best = n;
	}
	return best;
}

void log_scrub(char *text)
{
	static const size_t mlen = sizeof(LOG_SECRET_MASK) - 1;
	size_t len, r = 0, w = 0;

	if (!text || !secrets[0].s)
		return;
	len = strlen(text);
	while (r < len) {
		size_t n = secret_at(text + r, len - r);

		if (n >= mlen) {
			memcpy(text + w, LOG_SECRET_MASK, mlen);
			w += mlen;
			r += n;
		} else {
			text[w++] = text[r++];
		}
	}
	text[w] = '\0';
}

static void vlog(enum log_level level, const char *tag, const char *fmt,
		 va_list ap)
{
	char line[4096];

	if (level > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	log_scrub(line);
	fprintf(stderr, "%s: %s%s\n", log_prog, tag, line);
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
