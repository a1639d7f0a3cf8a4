/*
 * cell.h: what a spreadsheet would execute in a CSV cell, and the mark
 * that stops it.
 *
 * Excel, LibreOffice and Google Sheets take a cell that begins with '=',
 * '+', '-' or '@' for a formula when they open a CSV file, and some also
 * look past a leading TAB or CR. results.csv and failed.csv are opened in
 * those programs, so the writer (results.c) neutralises such a cell with a
 * leading single quote, which every spreadsheet shows as text. A number
 * is not neutralised: "-12.5", "+33 1 23 45 67 89", "1.5e-3" go as they
 * are, so sums work and no apostrophe shows.
 *
 * The mark, exactly, with t the cell without its leading quotes ('\''):
 *   - cell_dangerous(t): t begins with '=', '@', TAB or CR, or with '+'
 *     or '-' and is not a number (cell_is_number());
 *   - the writer adds one quote in front of a cell whose t is dangerous
 *     (cell_needs_mark());
 *   - the reader (rows.c) removes the first byte of a cell that begins
 *     with a quote and whose t is dangerous (cell_marked()).
 * Reading a written cell gives it back exactly, whatever it holds: "=1"
 * is written "'=1" and read "=1"; a cell that really is "'=1" is written
 * "''=1" and read "'=1". A cell whose t is not dangerous, "'abc", "''x"
 * or "'-12", is written and read as it is. And writing what was read
 * gives back the bytes of the file, except a dangerous cell that had no
 * mark ("=1" in an input file is written "'=1"): any number of failed.csv
 * rounds gives the same bytes.
 *
 * A file written by an older mbxfix, which also marked numbers ("'-12.5"),
 * is read with that quote kept: "-12.5" is not dangerous.
 */
#ifndef MBXFIX_CELL_H
#define MBXFIX_CELL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether the 'len' bytes at 's' are a number in a usual notation: an
 * optional sign, digits in groups separated by single ' ', ',', '.',
 * NO-BREAK SPACE or NARROW NO-BREAK SPACE (thousands separators, decimal
 * marks, a phone number "+33 1 23 45 67 89"), or a decimal part alone
 * (".5"), then an optional exponent (e or E, optional sign, digits) and
 * an optional '%'. Nothing in it can name a function, a cell or another
 * program.
 */
bool cell_is_number(const char *s, size_t len);

/* Whether a spreadsheet could execute the cell (see above). */
bool cell_dangerous(const char *s, size_t len);

/* Whether the writer puts a quote in front of the cell (see above). */
bool cell_needs_mark(const char *s, size_t len);

/* Whether the reader removes the first byte of the cell (see above). */
bool cell_marked(const char *s, size_t len);

/*
 * The length of the valid UTF-8 sequence that starts the 'len' (> 0)
 * bytes at 's', or 0 when they do not start with one (an overlong form,
 * a surrogate, past U+10FFFF, cut short or a stray byte). A NUL is a
 * valid sequence of one byte.
 */
size_t cell_utf8_seq(const char *s, size_t len);

#endif
