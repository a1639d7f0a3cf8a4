/*
 * progress.h: the progress line on stderr.
 *
 * On a terminal: one line rewritten in place at most every
 * PROGRESS_TTY_MS: elapsed time, the phase, rows done/total, failed rows,
 * rate, ETA, retries and throttled waits. It never gets wider than the
 * terminal (asked at every update, so a resized window is followed): the
 * least useful fields are dropped or shortened first, and what still does
 * not fit is cut, so the line never wraps. Off a terminal: the full line,
 * plainly, every PROGRESS_PLAIN_MS. Disabled: nothing. The time is passed
 * in (ms, monotonic).
 */
#ifndef MBXFIX_PROGRESS_H
#define MBXFIX_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_TTY_MS 200
#define PROGRESS_PLAIN_MS 5000
#define PROGRESS_COLS 80 /* when the terminal does not say */

/* What the engine is mostly doing now. */
enum progress_phase {
	PROGRESS_STARTING = 0,
	PROGRESS_RESOLVING, /* finding the mailboxes of the rows */
	PROGRESS_WRITING,   /* reading and writing the actions */
	PROGRESS_TESTING,   /* waiting for Test & Enable of 'testing' rows */
	PROGRESS_WAITING,   /* held by Retry-After for 'wait_s' seconds */
	PROGRESS_FINISHING, /* every row read, the last answers coming */
};

struct progress_counts {
	size_t done, total; /* total 0 = unknown */
	size_t failed;	    /* failed and invalid rows */
	uint64_t retries;
	uint64_t throttled; /* throttled waits */
	enum progress_phase phase;
	size_t testing; /* PROGRESS_TESTING: mailboxes under test */
	long wait_s;	/* PROGRESS_WAITING: seconds left */
};

struct progress {
	FILE *fp;
	bool enabled, tty;
	int64_t start_ms, last_ms;
	int cols; /* 0: ask the terminal of 'fp' at every update */
};

void progress_init(struct progress *p, FILE *fp, bool enabled, bool tty,
		   int64_t now_ms);

/* Whether progress_update() would show a line now ('c' costs to make). */
bool progress_due(const struct progress *p, int64_t now_ms);

/* Show 'c' if it is time (always when 'final'; a live line then ends). */
void progress_update(struct progress *p, int64_t now_ms,
		     const struct progress_counts *c, bool final);

/*
 * Format one progress line into 'out' (at most len - 1 bytes), no wider
 * than 'cols' columns when 'cols' > 0 (the line is ASCII: a byte is a
 * column). For tests and both modes.
 */
void progress_format(char *out, size_t len, const struct progress_counts *c,
		     int64_t elapsed_ms, int cols);

/* The phase as words: "resolving", "testing 12 mailboxes", ... */
const char *progress_phase_name(enum progress_phase p);

#endif
