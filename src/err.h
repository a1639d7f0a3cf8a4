/*
 * err.h: run failures, filled once at the point of failure and passed up.
 *
 * The first error wins: err_set() on an already-set error does nothing, so
 * callers never re-word what a callee reported. err_set() returns -1 so a
 * function can end with 'return err_set(e, ...)'.
 */
#ifndef MBXFIX_ERR_H
#define MBXFIX_ERR_H

enum err_kind {
	ERR_NONE = 0,
	ERR_USAGE,   /* bad command line: exit 2 */
	ERR_CONFIG,  /* job file or input problems found before any request: 2 */
	ERR_INPUT,   /* input CSV unreadable: exit 2 */
	ERR_AUTH,    /* sign-in refused: exit 3 */
	ERR_NETWORK, /* endpoint unreachable: exit 3 */
	ERR_IO,      /* output not writable, file vanished: exit 3 */
	ERR_PROTOCOL, /* the server answered something we cannot use: exit 3 */
	ERR_INTERNAL, /* anything else that stops the run: exit 3 */
};

struct err {
	enum err_kind kind;
	char msg[512];
};

#define ERR_INIT {.kind = ERR_NONE, .msg = ""}

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like err_set() with ": strerror(errno)" appended. */
int err_set_errno(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

void err_clear(struct err *e);

static inline int err_is_set(const struct err *e)
{
	return e->kind != ERR_NONE;
}

/* The exit status docs/design.md gives for a run that stopped with 'e'. */
int err_exit_code(const struct err *e);

#endif
