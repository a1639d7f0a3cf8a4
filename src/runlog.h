/*
 * runlog.h: run.log, one JSON object per line (JSON Lines), for a person
 * reading it and for monitoring. The schema is documented in mbxfix(1),
 * "RUN LOG" (man/mbxfix.1): every line is
 *   {"run":RUN-ID,"time":"2026-11-20T23:15:00.123Z","level":L,"event":E,...}
 * with the members of event E after them; members without a value are
 * left out. Levels: "error", "warn", "info", "debug" (log.h's levels);
 * lines above the level set are not written.
 *
 * Lines made before run.log can be opened (sign-in and the probe come
 * before the run folder exists) are held in memory and written first
 * when runlog_open() is called; every line then gets the run's id. A
 * runlog that is never opened writes nothing. Writes are flushed line by
 * line; a write error is kept and reported by runlog_close().
 *
 * Never put a secret or a token in a line. Every function accepts a NULL
 * runlog and then does nothing.
 */
#ifndef MBXFIX_RUNLOG_H
#define MBXFIX_RUNLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "log.h"

struct runlog;

/* A new runlog writing lines up to 'level' (enum log_level). */
struct runlog *runlog_new(enum log_level level);

/* Append to 'path' from now on, after the held lines, each with 'run_id'.
 * Returns 0 or -1 with 'e' set (ERR_IO). */
int runlog_open(struct runlog *rl, const char *path, const char *run_id,
		struct err *e);

/* Close; -1 with 'e' set when a write failed on the way. Frees 'rl'. */
int runlog_close(struct runlog *rl, struct err *e);

/* Whether lines of 'level' are written. */
bool runlog_wants(const struct runlog *rl, enum log_level level);

/*
 * One line: runlog_begin(), then members, then runlog_end(). runlog_begin()
 * returns false (and the member calls do nothing) when 'level' is not
 * written. Strings are copied; NULL leaves the member out.
 */
struct runlog_line {
	struct runlog *rl;
	struct buf b;
	bool on;
	int depth; /* open objects (runlog_object()) */
};

bool runlog_begin(struct runlog *rl, struct runlog_line *l,
		  enum log_level level, const char *event);
void runlog_str(struct runlog_line *l, const char *key, const char *v);
void runlog_int(struct runlog_line *l, const char *key, long long v);
void runlog_num(struct runlog_line *l, const char *key, double v);
void runlog_bool(struct runlog_line *l, const char *key, bool v);
/* Open a nested object member 'key'; runlog_object_end() closes it. */
void runlog_object(struct runlog_line *l, const char *key);
void runlog_object_end(struct runlog_line *l);
void runlog_end(struct runlog_line *l);
/* The same, but before the lines held so far (the "start" event, made
 * once the run folder exists, after the sign-in's lines). */
void runlog_end_first(struct runlog_line *l);

/* "error", "warn", "info", "debug". */
const char *runlog_level_name(enum log_level level);

/* Append 's' to 'b' as a JSON string (quotes included); bytes of invalid
 * UTF-8 are escaped as \u00XX. */
void runlog_json_str(struct buf *b, const char *s);

#endif
