/*
 * testhook.h: moments the end-to-end tests choose to kill the process at.
 *
 * Only a test build (-DMBXFIX_TEST_HOOKS, the mbxfix-test binary of the
 * Makefile) reads MBXFIX_TEST_KILL="WHERE:N": the N-th time the code
 * passes the point named WHERE, the process dies by SIGKILL. The points:
 *   journal   in the middle of writing a journal group (half written)
 *   results   after results.csv got line N, before failed.csv got the
 *             lines held with it
 *   row       after the N-th row record is in the journal, before
 *             results.csv has its line
 * In every other build these are constants the compiler removes.
 */
#ifndef MBXFIX_TESTHOOK_H
#define MBXFIX_TESTHOOK_H

#include <stdbool.h>

#ifdef MBXFIX_TEST_HOOKS
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each point is used in one file: the counter is that file's. */
static inline bool testhook_kill(const char *where)
{
	static unsigned long count;
	const char *v = getenv("MBXFIX_TEST_KILL");
	size_t n = strlen(where);

	if (!v || strncmp(v, where, n) || v[n] != ':')
		return false;
	return ++count == strtoul(v + n + 1, NULL, 10);
}

/* The N of MBXFIX_TEST_KILL when it names 'where', else 0. */
static inline unsigned long testhook_at(const char *where)
{
	const char *v = getenv("MBXFIX_TEST_KILL");
	size_t n = strlen(where);

	if (!v || strncmp(v, where, n) || v[n] != ':')
		return 0;
	return strtoul(v + n + 1, NULL, 10);
}

static inline void testhook_die(void)
{
	kill(getpid(), SIGKILL);
	pause();
}
#else
static inline bool testhook_kill(const char *where)
{
	(void)where;
	return false;
}

static inline unsigned long testhook_at(const char *where)
{
	(void)where;
	return 0;
}

static inline void testhook_die(void)
{
}
#endif

#endif
