/*
 * journal.h: the append-only journal of one run, RUN-DIR/journal.
 *
 * Every record is one header line of space-separated words, the last of
 * which is the length of the payload that follows, then the payload and a
 * newline:
 *
 *   TYPE WORD... LEN\n PAYLOAD(LEN bytes) \n
 *
 * A record cut short (the process died while writing it) is not a record:
 * journal_read() stops before it and a resumed run writes over it. See
 * docs/journal.md for the record types results.c and engine.c write.
 *
 * Records are added to a buffer and written together (one write(2) per
 * group): before a write request goes out (its intent must be on disk
 * first), before results.csv is given lines, when the buffer is large,
 * and at the end. A write(2) survives the death of the process; the space
 * for the next records is reserved ahead (fallocate) so the journal can
 * still take the outcome of the rows in flight when the disk fills.
 */
#ifndef MBXFIX_JOURNAL_H
#define MBXFIX_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* The first line of every journal. */
#define JOURNAL_MAGIC "mbxfix-journal 1"

struct journal;

/*
 * Open 'path' for appending: a new file (it must not exist) when
 * 'create', else an existing journal cut at 'keep' bytes (the end of its
 * last complete record, from journal_read()). Returns 0 or -1 with 'e'
 * set (ERR_IO).
 */
int journal_open(struct journal **out, const char *path, bool create,
		 off_t keep, struct err *e);

/*
 * Add a record: 'head' is the header line without its length and newline
 * ("row 12 0 100000 310"). Returns the file offset its payload will have.
 */
off_t journal_add(struct journal *j, const char *head, const void *payload,
		  size_t len);

/* journal_add() of the payload 'a', a newline and 'b', copied once. */
off_t journal_add2(struct journal *j, const char *head, const char *a,
		   size_t alen, const char *b, size_t blen);

/* Write the records added so far. Returns 0 or -1 with 'e' set (ERR_IO). */
int journal_flush(struct journal *j, struct err *e);

/* Bytes added but not yet written. */
size_t journal_buffered(const struct journal *j);

/*
 * Copy 'len' bytes of payload at file offset 'off' (from journal_add())
 * into 'dst', flushing first when they are still buffered.
 */
int journal_pread(struct journal *j, off_t off, void *dst, size_t len,
		  struct err *e);

/* Flush (best effort), close and free; NULL does nothing. */
void journal_free(struct journal *j);

/*
 * Called for each complete record: 'argv[0]' is its type, 'argv[1..argc-1]'
 * its words (the length left out), 'payload' its 'len' bytes (NUL after
 * them) at file offset 'off'. A non-zero return stops the reading and is
 * returned.
 */
typedef int (*journal_fn)(void *data, int argc, char **argv, off_t off,
			  const char *payload, size_t len);

/*
 * Read 'path' record by record. '*end' gets the offset just past the last
 * complete record. Returns 0, the callback's non-zero value, or -1 with
 * 'e' set (ERR_INPUT: missing or not a journal).
 */
int journal_read(const char *path, journal_fn fn, void *data, off_t *end,
		 struct err *e);

#endif
