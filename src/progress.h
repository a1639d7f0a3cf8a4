/*
 * progress.h: the progress line on stderr.
 *
 * On a terminal: one line rewritten in place (rows done/total, failed,
 * retries, throttled waits, rate, ETA) at most every 200 ms. Off a
 * terminal: a plain line every PROGRESS_PLAIN_MS. Disabled: nothing.
 * The time is passed in (ms, monotonic).
 */
#ifndef MBXFIX_PROGRESS_H
#define MBXFIX_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROGRESS_TTY_MS 200
#define PROGRESS_PLAIN_MS 5000

struct progress_counts {
	size_t done, total; /* total 0 = unknown */
	size_t failed;	    /* failed and invalid rows */
	uint64_t retries;
	uint64_t throttled; /* throttled waits */
};

struct progress {
	FILE *fp;
	bool enabled, tty;
	int64_t start_ms, last_ms;
	size_t width; /* of the last live line, to blank it */
};

void progress_init(struct progress *p, FILE *fp, bool enabled, bool tty,
		   int64_t now_ms);

/* Show 'c' if it is time (always when 'final'; a live line then ends). */
void progress_update(struct progress *p, int64_t now_ms,
		     const struct progress_counts *c, bool final);

/* Format one progress line into 'out' (for tests and the plain mode). */
void progress_format(char *out, size_t len, const struct progress_counts *c,
		     int64_t elapsed_ms);

#endif
