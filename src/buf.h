/*
 * buf.h: growable, always NUL-terminated byte buffer with a size cap.
 *
 * git's strbuf plus curl's dynbuf limit: 'ptr' is never NULL ("" until
 * something is added) and buf_add*() fail with -1 instead of growing past
 * 'max', so a misbehaving peer cannot make us allocate without bound.
 */
#ifndef MBXFIX_BUF_H
#define MBXFIX_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

extern char buf_empty[];

struct buf {
	char *ptr;  /* never NULL; "" until something is added */
	size_t len; /* excluding the terminating NUL */
	size_t cap; /* allocated bytes, 0 while ptr is the shared "" */
	size_t max; /* buf_add*() fail with -1 rather than grow past this */
};

#define BUF_INIT(limit) {.ptr = buf_empty, .len = 0, .cap = 0, .max = (limit)}

/* Sizes used across the project. */
#define BUF_MAX_SMALL ((size_t)64 * 1024)
#define BUF_MAX_BODY ((size_t)64 * 1024 * 1024)

void buf_init(struct buf *b, size_t max);

/* Append; 0 on success, -1 (nothing appended) when 'max' would be passed. */
static inline int buf_add(struct buf *b, const void *data, size_t len);
static inline int buf_addstr(struct buf *b, const char *s);
static inline int buf_addch(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Append a number in decimal: buf_addf("%llu") without its cost. */
int buf_addu(struct buf *b, unsigned long long v);
int buf_addi(struct buf *b, long long v);

/* Make room for 'extra' more bytes; -1 when past 'max'. */
int buf_grow(struct buf *b, size_t extra);

/* Shorten to 'len' (which must be <= b->len). */
void buf_setlen(struct buf *b, size_t len);

/* len = 0, memory kept. */
void buf_reset(struct buf *b);

/* Free the memory; back to "". 'max' is kept. */
void buf_release(struct buf *b);

/*
 * Hand the contents to the caller, who free()s them; the buffer is back
 * to "". Always returns allocated memory (an empty string for an empty
 * buffer). '*len' receives the length when 'len' is not NULL.
 */
char *buf_detach(struct buf *b, size_t *len);

/* buf_add() when the bytes do not fit in the memory allocated yet. */
int buf_add_grow(struct buf *b, const void *data, size_t len);

/*
 * The appends run for every byte of every request and result line: the
 * case where the bytes fit is inline, the rest is buf_add_grow().
 */
static inline int buf_add(struct buf *b, const void *data, size_t len)
{
	/* room for the bytes and the NUL, within the cap */
	if (len && len < b->cap - b->len && len <= b->max - b->len) {
		memcpy(b->ptr + b->len, data, len);
		b->len += len;
		b->ptr[b->len] = '\0';
		return 0;
	}
	return buf_add_grow(b, data, len);
}

static inline int buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

static inline int buf_addch(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

#endif
