#include "compat.h"

#include <stdarg.h>
#include <string.h>

#include "buf.h"

#include "banned.h"

char buf_empty[1];

void buf_init(struct buf *b, size_t max)
{
	b->ptr = buf_empty;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int buf_grow(struct buf *b, size_t extra)
{
	size_t need, ncap;

	if (extra > b->max || b->len > b->max - extra)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap < SIZE_MAX / 2 ? ncap * 2 : need;
	if (b->cap == 0) {
		b->ptr = xmalloc(ncap);
		b->ptr[0] = '\0';
	} else {
		b->ptr = xrealloc(b->ptr, ncap);
	}
	b->cap = ncap;
	return 0;
}

int buf_add_grow(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (buf_grow(b, len) < 0)
		return -1;
	memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	/* one pass when the text fits in the room already allocated */
	va_copy(cp, ap);
	if (b->cap) {
		size_t room = b->cap - b->len;

		n = vsnprintf(b->ptr + b->len, room, fmt, cp);
		va_end(cp);
		if (n >= 0 && (size_t)n < room &&
		    (size_t)n <= b->max - b->len) {
			b->len += (size_t)n;
			return 0;
		}
		b->ptr[b->len] = '\0';
	} else {
		n = vsnprintf(NULL, 0, fmt, cp);
		va_end(cp);
	}
	if (n < 0)
		return -1;
	if (buf_grow(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int buf_addu(struct buf *b, unsigned long long v)
{
	char d[24];
	size_t n = sizeof(d);

	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return buf_add(b, d + n, sizeof(d) - n);
}

int buf_addi(struct buf *b, long long v)
{
	char d[24];
	size_t n = sizeof(d);
	unsigned long long u =
	    v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;

	do {
		d[--n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		d[--n] = '-';
	return buf_add(b, d + n, sizeof(d) - n);
}

void buf_setlen(struct buf *b, size_t len)
{
	if (len > b->len)
		BUG("buf_setlen past the end (%zu > %zu)", len, b->len);
	if (b->cap == 0)
		return;
	b->len = len;
	b->ptr[len] = '\0';
}

void buf_reset(struct buf *b)
{
	buf_setlen(b, 0);
}

void buf_release(struct buf *b)
{
	if (b->cap)
		free(b->ptr);
	b->ptr = buf_empty;
	b->len = 0;
	b->cap = 0;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p;

	if (len)
		*len = b->len;
	if (b->cap == 0)
		return xstrdup("");
	p = b->ptr;
	b->ptr = buf_empty;
	b->len = 0;
	b->cap = 0;
	return p;
}
