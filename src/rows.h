/*
 * rows.h: the input CSV, streamed one row at a time.
 *
 * The reader sits on libcsv. It reads the file in small chunks and hands
 * out rows one by one (rows_next()), so memory does not grow with the
 * number of rows; the only per-row state it keeps is the set of mailboxes
 * already seen (for duplicate detection, below).
 *
 * What it accepts (what Excel, Google Sheets and LibreOffice export):
 *   - UTF-8 with or without a byte-order mark; UTF-16 LE or BE with one
 *     (Excel's "Unicode Text"); any encoding iconv knows when the job
 *     names it (rows_open_encoding(): input_encoding = "windows-1252",
 *     Excel's plain "CSV" on Windows). A byte-order mark wins over the
 *     setting. Decoded text is read as UTF-8;
 *   - ',', ';', TAB or '|' as delimiter, detected from the header line:
 *     the one that occurs most often outside quotes (on a tie TAB, then
 *     ',', then ';'); or a first line "sep=X", which Excel honours too
 *     (it is no row; line numbers still count it);
 *   - CRLF or LF line ends;
 *   - quoted fields holding delimiters, doubled quotes and newlines;
 *   - header names matched case-insensitively, ignoring surrounding
 *     blanks. Known columns: mailbox (required), actions, profile,
 *     incoming, outgoing, act, owner, role, privileges. Any other column
 *     is carried through untouched: every row keeps all its fields as
 *     given, in input order, for results.csv and failed.csv;
 *   - failed.csv as it was written: its two last header columns
 *     mbxfix_error_code and mbxfix_error (results.h) are dropped, and so
 *     are the two last fields of a row that has more fields than the
 *     other columns (fewer when it has only one more);
 *   - empty fields beyond the header's width (an export artifact) are
 *     ignored: the row has the header's width.
 *
 * Rows that are skipped: a record whose fields are all empty (a blank
 * line, or ";;;" that spreadsheets write for formatted empty rows). It
 * gets no row number and produces no result line.
 *
 * Job-level errors (rows_open()/rows_next() return -1, err kind
 * ERR_INPUT, exit 2): the file cannot be opened or read, no header line,
 * invalid UTF-8, NUL bytes (UTF-16 without a byte-order mark) or a
 * duplicate known column in the header, the required 'mailbox' column
 * missing, a record larger than ROWS_MAX_RECORD bytes, input_encoding
 * unknown or a byte it cannot decode. Messages name the file and say what
 * to do (save as "CSV UTF-8", set input_encoding, add a sep= line).
 *
 * Row-level problems make the row invalid (row->valid false, row->error
 * says why) and never stop the reader: invalid UTF-8 in a field (the
 * message names the byte and says to save as "CSV UTF-8" or set
 * input_encoding), a NUL byte (removed from the field, which keeps every
 * other byte; the message shows it as \0), too many or too few fields, an empty
 * or malformed mailbox, an unknown action, an unknown delivery value ('forward'
 * is allowed for incoming only), a malformed privilege list, an action that
 * lacks what it needs (set_profile without a profile, set_delivery without any
 * of incoming/outgoing/act, grant_privileges without a role), no action at all,
 * a quoted field not closed at end of file.
 *
 * Duplicates: the same mailbox (compared case-insensitively; an id with
 * or without braces) on two rows is not merged: the second and later
 * rows are invalid with "duplicate of row N". The first row is processed
 * normally.
 *
 * Spreadsheet neutralisation: results.csv and failed.csv put a single
 * quote in front of a cell a spreadsheet would execute (cell.h). So that
 * failed.csv runs again as it is, the reader removes exactly that quote,
 * in every field and in the header: "'-bob@contoso.com" is read as
 * "-bob@contoso.com", "''=1" as "'=1", "'abc" and "'-12" as they are.
 * row->fields hold the fields so read.
 *
 * Values of known columns are trimmed of surrounding blanks; raw fields
 * are not.
 */
#ifndef MBXFIX_ROWS_H
#define MBXFIX_ROWS_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* A single record (all its fields) may not be larger than this. */
#define ROWS_MAX_RECORD ((size_t)1024 * 1024)

/*
 * The actions, in the order of their columns in results.csv (the order
 * they run in is the engine's business: docs/design.md). A set of actions is
 * a bitmask of ROWS_ACT(a).
 */
enum rows_action {
	ROWS_SET_PROFILE = 0,
	ROWS_SET_DELIVERY,
	ROWS_FIX_OWNER,
	ROWS_GRANT_PRIVILEGES,
	ROWS_APPROVE,
	ROWS_TEST_ENABLE,
	ROWS_NACTIONS
};
#define ROWS_ACT(a) (1u << (a))
#define ROWS_ACT_ALL ((1u << ROWS_NACTIONS) - 1)
/*
 * "apply_defaults": set_profile and set_delivery with the organisation's
 * default profile and delivery methods (orgdefaults.h) rather than the
 * row's; it adds both actions' bits and this one, which has no column.
 */
#define ROWS_ACT_APPLY_DEFAULTS (1u << ROWS_NACTIONS)

/* "set_profile", ...; NULL for a value out of range. */
const char *rows_action_name(enum rows_action a);

/*
 * Parse a ';'-separated list of action names (case-insensitive, blanks
 * around names and empty items ignored) into '*out'. "" gives 0.
 * Returns 0, or -1 with '*out' untouched and 'why' (size 'whylen') set to
 * e.g. "unknown action 'foo'".
 */
int rows_parse_actions(const char *s, unsigned *out, char *why, size_t whylen);

/* The three delivery-method columns of the mailbox table. */
enum rows_delivery {
	ROWS_INCOMING = 0, /* incomingemaildeliverymethod */
	ROWS_OUTGOING,	   /* outgoingemaildeliverymethod */
	ROWS_ACTDELIVERY,  /* actdeliverymethod */
	ROWS_NDELIVERY
};

/* A delivery value that is not set (neither by the row nor the job). */
#define ROWS_UNSET (-1)

/*
 * Option value of 'name' for column 'col' (docs/fidelity.md), or ROWS_UNSET
 * when the name is not allowed there. Names are case-insensitive:
 *   server-side-sync  incoming 2, outgoing 2, act 1
 *   outlook           incoming 1, outgoing 1, act 0
 *   forward           incoming 3 (incoming only)
 *   none              incoming 0, outgoing 0, act 2
 * Note actdeliverymethod's different numbering.
 */
int rows_delivery_value(enum rows_delivery col, const char *name);

/* The name of option value 'v' in column 'col'; NULL when unknown. */
const char *rows_delivery_name(enum rows_delivery col, int v);

/* Privilege depths, numbered as the PrivilegeDepth enum (docs/fidelity.md). */
enum rows_depth {
	ROWS_DEPTH_NONE = -1, /* not given: the engine picks one */
	ROWS_DEPTH_BASIC = 0,
	ROWS_DEPTH_LOCAL = 1,
	ROWS_DEPTH_DEEP = 2,
	ROWS_DEPTH_GLOBAL = 3
};

/* "Basic", "Local", "Deep", "Global"; NULL for NONE or out of range. */
const char *rows_depth_name(enum rows_depth d);

struct rows_privilege {
	char *name;	       /* "prvReadMailbox" */
	enum rows_depth depth; /* ROWS_DEPTH_NONE when not given */
};

/*
 * True when 's' names a privilege template (templates/privileges/NAME.cfg)
 * rather than a list: no ':' or ';', and not starting with "prv".
 * Whether the template exists is not checked here.
 */
bool rows_privileges_is_template(const char *s);

/*
 * Parse a ';'-separated list "prvName[:depth];..." (depth Basic, Local,
 * Deep or Global, case-insensitive; names must start with "prv" and hold
 * only letters, digits and '_'). On success '*out' is a new array of '*n'
 * entries, freed with rows_privileges_free(), and 0 is returned. On
 * failure -1 with 'why' set, '*out' NULL and '*n' 0.
 */
int rows_parse_privileges(const char *s, struct rows_privilege **out, size_t *n,
			  char *why, size_t whylen);
void rows_privileges_free(struct rows_privilege *p, size_t n);

/*
 * Values a row falls back to when it leaves a column empty: the job's
 * 'defaults' group. Strings are never NULL ("" when unset). The reader
 * copies what it is given.
 */
struct rows_defaults {
	unsigned actions;	      /* ROWS_ACT() bitmask; 0 = none */
	char *profile;		      /* email server profile name or id */
	int delivery[ROWS_NDELIVERY]; /* option values or ROWS_UNSET */
	char *role;
	char *privileges; /* template name or list; "server-side-sync" */
};

/*
 * One data row. Every string is owned by the row and is never NULL ("" when
 * empty); free the whole row with rows_row_free(). For an invalid row the
 * parsed values are whatever could be understood and must not be acted on.
 *
 * A row from rows_next() is one block of memory holding the struct, the
 * field pointers and every string (the messages of an invalid row are
 * apart): the strings stay valid until rows_row_free(), also after
 * rows_free(), but none may be freed, replaced or lengthened on its own.
 * rows_row_free() takes only rows from rows_next().
 */
struct row {
	size_t num;	/* 1-based data row number (the header is not a row) */
	size_t line;	/* 1-based file line on which the row starts */
	size_t nfields; /* may differ from rows_ncols() on a ragged row */
	char **fields;	/* the raw fields, exactly as given, in input order */

	bool valid;
	char *error;  /* invalid: "FILE: row N (line L): column 'c': why" */
	char *reason; /* invalid: the same without "FILE: row N (line L): " */

	/* Effective values: the row's, or the job default where it is empty. */
	char *mailbox;	    /* email as given (trimmed), or lower-case id */
	bool mailbox_is_id; /* a GUID (braces removed) rather than an email */
	unsigned actions;   /* ROWS_ACT() bitmask, never 0 on a valid row */
	char *profile;
	int delivery[ROWS_NDELIVERY]; /* option values or ROWS_UNSET */
	char *owner;		      /* "" = the mailbox's own user */
	char *role;
	char *privileges; /* template name or list; see rows_parse_privileges */
};

struct rows;

/*
 * Open 'path' and read its header. 'd' (copied) supplies the defaults
 * for empty cells; NULL means none. On success '*out' is a reader to free
 * with rows_free() and 0 is returned; on failure -1, '*out' NULL, 'e' set
 * (ERR_INPUT).
 */
int rows_open(struct rows **out, const char *path,
	      const struct rows_defaults *d, struct err *e);

/*
 * rows_open() for a file in 'encoding' (the job's input_encoding: any
 * name iconv knows, "windows-1252", "ISO-8859-15"...; NULL, "" or "UTF-8"
 * for UTF-8). A byte-order mark wins over 'encoding'. The rows are
 * handed out in UTF-8 whatever the file's encoding.
 */
int rows_open_encoding(struct rows **out, const char *path,
		       const struct rows_defaults *d, const char *encoding,
		       struct err *e);

/*
 * The next row, in input order. On success returns 0 with '*out' a new
 * row (free with rows_row_free()), or NULL at the end of the input. On a
 * job-level error (read error, oversized record) returns -1 with 'e' set
 * and '*out' NULL; call rows_free() then.
 */
int rows_next(struct rows *r, struct row **out, struct err *e);

/* Free a row from rows_next(); NULL does nothing. */
void rows_row_free(struct row *row);

/* The path as given to rows_open(); borrowed. */
const char *rows_path(const struct rows *r);

/* The header fields exactly as given (BOM removed); borrowed, 'ncols'. */
const char *const *rows_header(const struct rows *r);
size_t rows_ncols(const struct rows *r);

/* The delimiter: ',', ';', TAB or '|' detected, or a sep= line's. */
char rows_delim(const struct rows *r);

/* Whether the file started with a byte-order mark (UTF-8 or UTF-16). */
bool rows_has_bom(const struct rows *r);

/* The encoding the file was decoded from; NULL when it was read as UTF-8. */
const char *rows_encoding(const struct rows *r);

/* Rows handed out so far, and how many of them were invalid. */
size_t rows_count(const struct rows *r);
size_t rows_invalid(const struct rows *r);

/* Close and free; NULL does nothing. Rows already handed out stay valid. */
void rows_free(struct rows *r);

/* Whether 's' is a GUID, 8-4-4-4-12 hex digits, optionally in braces. */
bool rows_is_guid(const char *s);

/*
 * Whether '[s, s+len)' is valid UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF). A NUL byte counts as valid here.
 */
bool rows_is_utf8(const char *s, size_t len);

#endif
