/*
 * compat.h: included first by every .c file of mbxfix and dvsim.
 *
 * Feature macros, attributes, ARRAY_SIZE and BUG(), the way git's
 * git-compat-util.h gathers them in one place.
 */
#ifndef MBXFIX_COMPAT_H
#define MBXFIX_COMPAT_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE 1
#endif

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__) || defined(__clang__)
#define ATTR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_NORETURN __attribute__((noreturn))
#define ATTR_UNUSED __attribute__((unused))
#else
#define ATTR_PRINTF(fmt, args)
#define ATTR_NORETURN
#define ATTR_UNUSED
#endif

/* A broken invariant: print where and abort. Not for bad input. */
#define BUG(...) bug_fl(__FILE__, __LINE__, __VA_ARGS__)
ATTR_NORETURN ATTR_PRINTF(3, 4) void bug_fl(const char *file, int line,
					    const char *fmt, ...);

/* Allocation that cannot fail: on out-of-memory print and abort. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
