/*
 * rows.c: the input CSV, streamed a row at a time (rows.h).
 *
 * One file of about 1,700 lines on purpose: decoding (BOM, UTF-16,
 * iconv), delimiter and sep= detection, the libcsv callbacks, the fast
 * path for plain lines and the validation of every column share the
 * reader's state (struct rows) and its one store of fields; split apart
 * they would each need that state's insides.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <csv.h>

#include "buf.h"
#include "cell.h"
#include "results.h"
#include "rows.h"

#include "banned.h"

/* Bytes read at a time; rows are handed to libcsv one line at a time. */
#define CHUNK 65536
/* Bytes read at a time for decoding: a CHUNK holds what they decode to
 * (at most three bytes of UTF-8 per input byte). */
#define RAW_CHUNK (CHUNK / 4)

/* libcsv.c's parser states "between records" and "inside a field"; not
 * in csv.h. */
#define LIBCSV_ROW_NOT_BEGUN 0
#define LIBCSV_FIELD_BEGUN 2
#define LIBCSV_FIELD_MIGHT_HAVE_ENDED 3

/* Bytes per block of the pool holding the keys of the mailboxes seen. */
#define KEY_BLOCK 65536

static const char *const action_names[ROWS_NACTIONS] = {
    "set_profile",	"set_delivery", "fix_owner",
    "grant_privileges", "approve",	"test_enable",
};

enum col {
	COL_MAILBOX,
	COL_ACTIONS,
	COL_PROFILE,
	COL_INCOMING,
	COL_OUTGOING,
	COL_ACT,
	COL_OWNER,
	COL_ROLE,
	COL_PRIVILEGES,
	NCOLS
};

static const char *const col_names[NCOLS] = {
    "mailbox", "actions", "profile", "incoming",   "outgoing",
    "act",     "owner",	  "role",    "privileges",
};

/* A field of a record in the reader's store: 'len' bytes at rows.sb +
 * 'off', followed by a NUL. */
struct field {
	size_t off;
	size_t len;
};

/* Bytes that need not be followed by a NUL. */
struct slice {
	const char *s;
	size_t len;
};

/* A complete record: fields rows.fv[f0 .. f0 + n). */
struct record {
	size_t f0;
	size_t n;
	size_t line;
	bool unterminated;
	bool oversized; /* past ROWS_MAX_RECORD: fields cut, an invalid row */
};

struct seen {
	const char *key; /* in the key pool; NULL: empty slot */
	uint64_t hash;
	size_t row;
};

struct key_block {
	struct key_block *next;
	size_t len, cap;
	char s[];
};

/*
 * What rows_next() hands out: the row, then in the same allocation its
 * field pointers, the field bytes and its derived strings. The messages
 * of an invalid row are allocated apart.
 */
struct row_alloc {
	struct row row;
	char *error, *reason; /* NULL on a valid row */
};

struct rows {
	char *path;
	FILE *fp;
	struct csv_parser p;
	bool p_init;
	struct rows_defaults d;
	struct slice dprofile, drole, dprivileges; /* d's strings */
	bool dprivileges_ok; /* whether d.privileges is well-formed */

	char **header;
	size_t ncols;	/* without failed.csv's error columns */
	bool err_cols;	/* the header ends with failed.csv's error columns */
	int col[NCOLS]; /* field index of each known column, -1 absent */
	char delim;
	bool bom;
	bool sep_line; /* a first line "sep=X" chose the delimiter */

	/* decoding to UTF-8 (input_encoding, or a UTF-16 byte-order mark) */
	iconv_t cd;	/* (iconv_t)-1: the input is read as UTF-8 */
	char *encoding; /* what 'cd' decodes; NULL for UTF-8 */
	char *raw;	/* RAW_CHUNK bytes read, not decoded yet */
	size_t raw_len;
	bool raw_eof;
	size_t dec_lines; /* line ends decoded so far, for messages */

	/*
	 * The bytes and fields of the queued records and of the record being
	 * assembled (from field cur_f0 on). Offsets, not pointers: 'sb'
	 * moves as it grows. Emptied when the queue is.
	 */
	char *sb;
	size_t sb_len, sb_cap;
	struct field *fv;
	size_t fv_len, fv_cap;
	size_t cur_f0;
	size_t cur_bytes;
	size_t cur_nl;
	bool too_big;
	/* passing over the rest of an oversized record, see skip_bytes() */
	bool skipping, skip_quote, skip_pending;
	size_t skip_line;
	size_t rec_line; /* the line the record being parsed started on */

	/* complete records not handed out yet (a few at most) */
	struct record *q;
	size_t qhead, qlen, qcap;

	char *rb;
	size_t rb_len, rb_off;
	size_t line; /* file line of the bytes being fed, 1-based */
	bool eof, finished;

	size_t nrows, ninvalid;

	struct seen *set;
	size_t set_cap, set_len;
	struct key_block *keys;
};

const char *rows_action_name(enum rows_action a)
{
	if ((int)a < 0 || a >= ROWS_NACTIONS)
		return NULL;
	return action_names[a];
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim blanks; returns the start, '*len' the trimmed length. */
static const char *trim(const char *s, size_t *len)
{
	size_t n = *len;

	while (n && is_blank(*s)) {
		s++;
		n--;
	}
	while (n && is_blank(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* Eight bytes at a time (SWAR). */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero when a byte of 'w' is zero. */
static uint64_t zero_byte(uint64_t w)
{
	return (w - ONES) & ~w & HIGHS;
}

/* 'w' with its bytes 'A' to 'Z' lowered: tolower() in the C locale. */
static uint64_t ascii_lower(uint64_t w)
{
	uint64_t x = w & ~HIGHS;
	uint64_t ge_a = x + ONES * (0x80 - 'A'); /* high bit: byte >= 'A' */
	uint64_t gt_z = x + ONES * (0x7f - 'Z'); /* high bit: byte > 'Z' */

	return w | ((ge_a & ~gt_z & ~w & HIGHS) >> 2);
}

static bool eq_nocase(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && !strncasecmp(s, word, len);
}

/* rows_parse_actions() on the 'slen' bytes at 's' (no NUL among them). */
static int parse_actions(const char *s, size_t slen, unsigned *out, char *why,
			 size_t whylen)
{
	unsigned mask = 0;
	const char *p = s, *e = s + slen;

	while (p < e) {
		const char *end = memchr(p, ';', (size_t)(e - p));
		size_t len = end ? (size_t)(end - p) : (size_t)(e - p);
		const char *w = trim(p, &len);
		size_t i;

		if (len && eq_nocase(w, len, "apply_defaults")) {
			mask |= ROWS_ACT_APPLY_DEFAULTS |
				ROWS_ACT(ROWS_SET_PROFILE) |
				ROWS_ACT(ROWS_SET_DELIVERY);
		} else if (len) {
			for (i = 0; i < ROWS_NACTIONS; i++)
				if (eq_nocase(w, len, action_names[i]))
					break;
			if (i == ROWS_NACTIONS) {
				snprintf(
				    why, whylen,
				    "unknown action '%.*s' (expected "
				    "set_profile, set_delivery, fix_owner, "
				    "grant_privileges, approve, test_enable "
				    "or apply_defaults)",
				    (int)(len > 64 ? 64 : len), w);
				return -1;
			}
			mask |= ROWS_ACT(i);
		}
		if (!end)
			break;
		p = end + 1;
	}
	*out = mask;
	return 0;
}

int rows_parse_actions(const char *s, unsigned *out, char *why, size_t whylen)
{
	return parse_actions(s, strlen(s), out, why, whylen);
}

static const struct {
	const char *name;
	int v[ROWS_NDELIVERY];
} delivery_values[] = {
    /* incoming, outgoing, act: docs/fidelity.md */
    {"server-side-sync", {2, 2, 1}},
    {"outlook", {1, 1, 0}},
    {"forward", {3, ROWS_UNSET, ROWS_UNSET}},
    {"none", {0, 0, 2}},
};

/* rows_delivery_value() on the 'len' bytes at 'name'; 'col' in range. */
static int delivery_value(enum rows_delivery col, const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(delivery_values); i++)
		if (eq_nocase(name, len, delivery_values[i].name))
			return delivery_values[i].v[col];
	return ROWS_UNSET;
}

int rows_delivery_value(enum rows_delivery col, const char *name)
{
	if ((int)col < 0 || col >= ROWS_NDELIVERY)
		return ROWS_UNSET;
	return delivery_value(col, name, strlen(name));
}

const char *rows_delivery_name(enum rows_delivery col, int v)
{
	if ((int)col < 0 || col >= ROWS_NDELIVERY || v < 0)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(delivery_values); i++)
		if (delivery_values[i].v[col] == v)
			return delivery_values[i].name;
	return NULL;
}

static const char *const depth_names[] = {"Basic", "Local", "Deep", "Global"};

const char *rows_depth_name(enum rows_depth d)
{
	if ((int)d < 0 || (size_t)d >= ARRAY_SIZE(depth_names))
		return NULL;
	return depth_names[d];
}

bool rows_privileges_is_template(const char *s)
{
	return !strchr(s, ':') && !strchr(s, ';') && strncmp(s, "prv", 3);
}

void rows_privileges_free(struct rows_privilege *p, size_t n)
{
	if (!p)
		return;
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

/*
 * rows_parse_privileges(), or with 'out' NULL only the check: nothing is
 * allocated and '*n' gets the number of entries.
 */
static int scan_privileges(const char *s, struct rows_privilege **out,
			   size_t *n, char *why, size_t whylen)
{
	struct rows_privilege *v = NULL;
	size_t nv = 0, av = 0;
	const char *p = s;

	if (out)
		*out = NULL;
	*n = 0;
	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *w = trim(p, &len);
		const char *colon = memchr(w, ':', len);
		size_t nlen = colon ? (size_t)(colon - w) : len;
		enum rows_depth depth = ROWS_DEPTH_NONE;

		if (len) {
			size_t tl = nlen;
			const char *name = trim(w, &tl);
			bool ok = tl > 3 && !strncmp(name, "prv", 3);

			for (size_t i = 0; ok && i < tl; i++)
				ok = isalnum((unsigned char)name[i]) ||
				     name[i] == '_';
			if (!ok) {
				snprintf(why, whylen,
					 "malformed privilege '%.*s' (expected "
					 "prvName[:Basic|Local|Deep|Global])",
					 (int)(len > 64 ? 64 : len), w);
				goto fail;
			}
			if (colon) {
				size_t dl = len - nlen - 1;
				const char *d = trim(colon + 1, &dl);
				size_t i;

				for (i = 0; i < ARRAY_SIZE(depth_names); i++)
					if (eq_nocase(d, dl, depth_names[i]))
						break;
				if (i == ARRAY_SIZE(depth_names)) {
					snprintf(why, whylen,
						 "unknown depth '%.*s' for "
						 "'%.*s' (expected Basic, "
						 "Local, Deep or Global)",
						 (int)(dl > 32 ? 32 : dl), d,
						 (int)(tl > 64 ? 64 : tl),
						 name);
					goto fail;
				}
				depth = (enum rows_depth)i;
			}
			if (out) {
				if (nv == av) {
					av = av ? 2 * av : 8;
					v = xrealloc(v, av * sizeof(*v));
				}
				v[nv].name = xstrndup(name, tl);
				v[nv].depth = depth;
			}
			nv++;
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!nv) {
		snprintf(why, whylen, "empty privilege list");
		goto fail;
	}
	if (out)
		*out = v;
	*n = nv;
	return 0;
fail:
	rows_privileges_free(v, nv);
	return -1;
}

int rows_parse_privileges(const char *s, struct rows_privilege **out, size_t *n,
			  char *why, size_t whylen)
{
	return scan_privileges(s, out, n, why, whylen);
}

/* Whether 's' is a privilege template name or list; if not, 'why' says
 * why. */
static bool privileges_ok(const char *s, char *why, size_t whylen)
{
	size_t n;

	if (!rows_privileges_is_template(s))
		return !scan_privileges(s, NULL, &n, why, whylen);
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
			snprintf(why, whylen,
				 "'%.64s' is not a template name nor a list "
				 "of privileges",
				 s);
			return false;
		}
	return true;
}

bool rows_is_guid(const char *s)
{
	size_t len = strlen(s), off = 0;

	if (len == 38 && s[0] == '{' && s[37] == '}')
		off = 1;
	else if (len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = s[off + i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!isxdigit((unsigned char)c)) {
			return false;
		}
	}
	return true;
}

bool rows_is_utf8(const char *str, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n;

		if ((unsigned char)str[i] < 0x80) {
			i++;
			continue;
		}
		n = cell_utf8_seq(str + i, len - i);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

/*
 * A plausible email address: local@domain (one '@', something on both
 * sides, no '"' in the domain), at most 320 bytes, no controls, blanks
 * or separators.
 */
static bool is_email(const char *s)
{
	/* the bytes below '@' looked at: controls, blank, '"' and ",;<>" */
	static const uint64_t below = 0xffffffffull | 1ull << ' ' |
				      1ull << '"' | 1ull << ',' | 1ull << ';' |
				      1ull << '<' | 1ull << '>';
	const char *at = NULL, *p;

	for (p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c > '@' ? c != 0x7f : c < '@' && !((below >> c) & 1))
			continue;
		if (c == '@') {
			if (at)
				return false;
			at = p;
		} else if (c != '"' || at) {
			return false;
		}
	}
	return at && at != s && at[1] && p - s <= 320;
}

/* Copy of defaults; 'src' NULL gives empty defaults. */
static void defaults_copy(struct rows_defaults *dst,
			  const struct rows_defaults *src)
{
	dst->actions = src ? src->actions : 0;
	dst->profile = xstrdup(src && src->profile ? src->profile : "");
	dst->role = xstrdup(src && src->role ? src->role : "");
	dst->privileges = xstrdup(src && src->privileges ? src->privileges
							 : "server-side-sync");
	for (int i = 0; i < ROWS_NDELIVERY; i++)
		dst->delivery[i] = src ? src->delivery[i] : ROWS_UNSET;
}

static void defaults_release(struct rows_defaults *d)
{
	free(d->profile);
	free(d->role);
	free(d->privileges);
	d->profile = d->role = d->privileges = NULL;
}

/* --- the record store and the libcsv callbacks ----------------------- */

/* Room for 'n' more bytes at the end of the store; not yet counted. */
static char *store_room(struct rows *r, size_t n)
{
	if (r->sb_cap - r->sb_len < n) {
		size_t cap = r->sb_cap ? r->sb_cap : 4096;

		while (cap - r->sb_len < n)
			cap *= 2;
		r->sb = xrealloc(r->sb, cap);
		r->sb_cap = cap;
	}
	return r->sb + r->sb_len;
}

static void store_field(struct rows *r, size_t off, size_t len)
{
	if (r->fv_len == r->fv_cap) {
		r->fv_cap = r->fv_cap ? 2 * r->fv_cap : 64;
		r->fv = xrealloc(r->fv, r->fv_cap * sizeof(*r->fv));
	}
	r->fv[r->fv_len].off = off;
	r->fv[r->fv_len].len = len;
	r->fv_len++;
}

/*
 * Forget the records handed out; only the fields of the record being
 * assembled stay. Call only with the queue empty, once the last record
 * popped is no longer needed.
 */
static void store_compact(struct rows *r)
{
	size_t nf = r->fv_len - r->cur_f0, base;

	if (!nf) {
		r->sb_len = r->fv_len = r->cur_f0 = 0;
		return;
	}
	if (!r->cur_f0)
		return;
	base = r->fv[r->cur_f0].off;
	memmove(r->sb, r->sb + base, r->sb_len - base);
	r->sb_len -= base;
	for (size_t i = 0; i < nf; i++) {
		r->fv[i].off = r->fv[r->cur_f0 + i].off - base;
		r->fv[i].len = r->fv[r->cur_f0 + i].len;
	}
	r->fv_len = nf;
	r->cur_f0 = 0;
}

static void on_field(void *s, size_t len, void *data)
{
	struct rows *r = data;
	char *d;

	if (r->too_big)
		return;
	r->cur_bytes += len;
	if (r->cur_bytes > ROWS_MAX_RECORD) {
		r->too_big = true;
		return;
	}
	d = store_room(r, len + 1);
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	store_field(r, r->sb_len, len);
	r->sb_len += len + 1;
	for (const char *p = d, *end = d + len;
	     (p = memchr(p, '\n', (size_t)(end - p))); p++)
		r->cur_nl++;
}

/* Queue the fields stored since the last record as a record. */
static void end_record(struct rows *r)
{
	struct record *rec;

	if (r->qhead + r->qlen == r->qcap) {
		if (r->qhead) {
			memmove(r->q, r->q + r->qhead, r->qlen * sizeof(*r->q));
			r->qhead = 0;
		} else {
			r->qcap = r->qcap ? 2 * r->qcap : 4;
			r->q = xrealloc(r->q, r->qcap * sizeof(*r->q));
		}
	}
	rec = &r->q[r->qhead + r->qlen++];
	rec->f0 = r->cur_f0;
	rec->n = r->fv_len - r->cur_f0;
	/* the record ends on the current line; it started cur_nl lines up */
	rec->line = r->line > r->cur_nl ? r->line - r->cur_nl : 1;
	rec->unterminated = false;
	rec->oversized = false;
	r->cur_f0 = r->fv_len;
	r->cur_bytes = 0;
	r->cur_nl = 0;
}

static void on_record(int term, void *data)
{
	struct rows *r = data;

	(void)term;
	end_record(r);
	if (r->too_big) {
		/* the fields before the cap are kept, the row is invalid */
		r->q[r->qhead + r->qlen - 1].oversized = true;
		r->q[r->qhead + r->qlen - 1].line = r->rec_line;
		r->too_big = false;
	}
}

/*
 * The rest of a record past ROWS_MAX_RECORD is passed over here, not fed
 * to the parser (which would hold it all: a quote never closed would take
 * the rest of the file), up to the end of the record: a CR or LF outside
 * quotes, or the end of the input. The record becomes one invalid row and
 * the rows after it are read as usual.
 */
static int no_space(unsigned char c);

static void skip_end(struct rows *r)
{
	struct record *rec;

	csv_free(&r->p);
	if (csv_init(&r->p, CSV_APPEND_NULL) != 0)
		BUG("rows: cannot set up the CSV parser again");
	csv_set_space_func(&r->p, no_space);
	csv_set_delim(&r->p, (unsigned char)r->delim);
	end_record(r);
	rec = &r->q[r->qhead + r->qlen - 1];
	rec->oversized = true;
	rec->line = r->skip_line;
	r->too_big = false;
	r->skipping = false;
}

static void skip_bytes(struct rows *r)
{
	while (r->rb_off < r->rb_len) {
		char c = r->rb[r->rb_off++];

		if (c == '\n')
			r->line++;
		if (r->skip_quote) {
			if (!r->skip_pending) {
				r->skip_pending = c == '"';
				continue;
			}
			r->skip_pending = false;
			if (c == '"')
				continue; /* "" inside quotes */
			r->skip_quote = false;
		}
		if (c == '"') {
			r->skip_quote = true;
		} else if (c == '\n' || c == '\r') {
			skip_end(r);
			return;
		}
	}
}

/* Where b[i, len) first holds 'delim', CR or LF; 'len' if nowhere. */
static size_t next_split(const char *b, size_t i, size_t len, char delim)
{
	const uint64_t d = ONES * (unsigned char)delim;

	for (; i + 8 <= len; i += 8) {
		uint64_t w, t;

		memcpy(&w, b + i, 8);
		t = zero_byte(w ^ d) | zero_byte(w ^ (ONES * '\n')) |
		    zero_byte(w ^ (ONES * '\r'));
		if (!t)
			continue;
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* the lowest flag is a true one (borrows only run upwards) */
		return i + (size_t)__builtin_ctzll(t) / 8;
#else
		break;
#endif
	}
	for (; i < len; i++)
		if (b[i] == delim || b[i] == '\n' || b[i] == '\r')
			break;
	return i;
}

/*
 * What libcsv makes of a line that ends in LF and holds no quote, fed
 * between records (and set up as in rows_open(): no blank trimming): CR
 * and LF end a record, a record with nothing before its end is no record,
 * the delimiter separates fields. The common line is split here, without
 * the parser's callback per byte. Such a record is smaller than a CHUNK.
 */
static void split_line(struct rows *r, const char *seg, size_t len)
{
	char *b = store_room(r, len);
	size_t base = r->sb_len, start = 0;
	bool begun = false;
	char delim = r->delim;

	memcpy(b, seg, len);
	r->sb_len += len;
	for (size_t i = next_split(b, 0, len, delim); i < len;
	     i = next_split(b, i + 1, len, delim)) {
		char c = b[i];

		if (c == delim) {
			b[i] = '\0';
			store_field(r, base + start, i - start);
			start = i + 1;
			begun = true;
		} else if (c == '\n' || c == '\r') {
			if (begun || i > start) {
				b[i] = '\0';
				store_field(r, base + start, i - start);
				end_record(r);
			}
			start = i + 1;
			begun = false;
		}
	}
}

/*
 * Pick the delimiter from the header line: whichever of ',', ';', TAB and
 * '|' occurs most often outside quotes. On a tie TAB wins (it is hardly
 * ever part of a column name), then ',', then ';'.
 */
static char detect_delim(const char *s, size_t len)
{
	static const char cand[] = {'\t', ',', ';', '|'};
	size_t count[ARRAY_SIZE(cand)] = {0}, best = 0;
	bool quoted = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (s[i] == '\n' || s[i] == '\r')
			break;
		for (size_t k = 0; k < ARRAY_SIZE(cand); k++)
			if (s[i] == cand[k])
				count[k]++;
	}
	for (size_t k = 1; k < ARRAY_SIZE(cand); k++)
		if (count[k] > count[best])
			best = k;
	return count[best] ? cand[best] : ',';
}

/*
 * A first line "sep=X", which Excel reads as "the delimiter is X": its
 * length (line end included) with '*delim' set, or 0 when the text does
 * not start with one. A spreadsheet that saves such a file again may add
 * delimiters after it ("sep=;;;"): they are allowed.
 */
static size_t sep_line(const char *s, size_t len, char *delim)
{
	size_t i = 5;

	if (len < 5 || strncasecmp(s, "sep=", 4) || s[4] == '\r' ||
	    s[4] == '\n' || s[4] == '"' || !s[4])
		return 0;
	while (i < len && s[i] == s[4])
		i++;
	if (i < len && s[i] == '\r')
		i++;
	if (i < len && s[i] != '\n')
		return 0;
	*delim = s[4];
	return i < len ? i + 1 : i;
}

static int no_space(unsigned char c)
{
	(void)c;
	return 0; /* keep fields exactly as given */
}

/* Whether 'name' is UTF-8 under another name: no decoding then. */
static bool is_utf8_name(const char *name)
{
	return !strcasecmp(name, "UTF-8") || !strcasecmp(name, "UTF8");
}

/* Read what is left of RAW_CHUNK into r->raw after the undecoded bytes. */
static int raw_read(struct rows *r, struct err *e)
{
	size_t n = fread(r->raw + r->raw_len, 1, RAW_CHUNK - r->raw_len, r->fp);

	if (n < RAW_CHUNK - r->raw_len) {
		if (ferror(r->fp))
			return err_set_errno(e, ERR_INPUT, "cannot read '%s'",
					     r->path);
		r->raw_eof = true;
	}
	r->raw_len += n;
	return 0;
}

/* Fill r->rb with decoded text: at least one byte unless at the end. */
static int decode_fill(struct rows *r, struct err *e)
{
	char *out = r->rb;
	size_t outleft = CHUNK;

	while (out == r->rb) {
		char *in = r->raw;
		size_t inleft = r->raw_len, done;

		if (!r->raw_eof && r->raw_len < RAW_CHUNK && raw_read(r, e) < 0)
			return -1;
		inleft = r->raw_len;
		if (!inleft)
			break;
		if (iconv(r->cd, &in, &inleft, &out, &outleft) == (size_t)-1 &&
		    errno != E2BIG && (errno != EINVAL || r->raw_eof)) {
			size_t line = r->dec_lines + 1;

			for (const char *p = r->rb; p < out; p++)
				line += *p == '\n';
			return err_set(
			    e, ERR_INPUT,
			    "%s: line %zu: %s that %s cannot decode (byte "
			    "0x%02X); check input_encoding in the job file "
			    "(the encoding the file was saved in)",
			    r->path, line,
			    errno == EINVAL ? "the file ends in a character"
					    : "a character",
			    r->encoding, (unsigned char)*in);
		}
		done = r->raw_len - inleft;
		memmove(r->raw, r->raw + done, inleft);
		r->raw_len = inleft;
		if (r->raw_eof && !done && out == r->rb)
			break; /* nothing more will come */
	}
	r->rb_len = (size_t)(out - r->rb);
	for (const char *p = r->rb; p < out; p++)
		r->dec_lines += *p == '\n';
	r->eof = r->raw_eof && !r->raw_len;
	return 0;
}

static int fill(struct rows *r, struct err *e)
{
	size_t n;

	r->rb_off = 0;
	if (r->cd != (iconv_t)-1)
		return decode_fill(r, e);
	n = fread(r->rb, 1, CHUNK, r->fp);
	r->rb_len = n;
	if (n < CHUNK) {
		if (ferror(r->fp))
			return err_set_errno(e, ERR_INPUT, "cannot read '%s'",
					     r->path);
		r->eof = true;
	}
	return 0;
}

/*
 * Read the start of the input: a byte-order mark chooses UTF-8, UTF-16LE
 * or UTF-16BE (whatever 'encoding' says); without one, 'encoding' (NULL
 * or "" for UTF-8) does. Then the first text is decoded into r->rb, a
 * "sep=X" line skipped and the delimiter chosen.
 */
static int start_input(struct rows *r, const char *encoding, struct err *e)
{
	static const struct {
		const char *bytes;
		size_t len;
		const char *enc;
	} boms[] = {
	    {"\xef\xbb\xbf", 3, NULL},
	    {"\xff\xfe", 2, "UTF-16LE"},
	    {"\xfe\xff", 2, "UTF-16BE"},
	};
	const char *enc =
	    encoding && *encoding && !is_utf8_name(encoding) ? encoding : NULL;
	size_t skip = 0, n;

	r->raw = xmalloc(RAW_CHUNK);
	if (raw_read(r, e) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(boms); i++) {
		if (r->raw_len >= boms[i].len &&
		    !memcmp(r->raw, boms[i].bytes, boms[i].len)) {
			r->bom = true;
			skip = boms[i].len;
			enc = boms[i].enc;
			break;
		}
	}
	r->raw_len -= skip;
	memmove(r->raw, r->raw + skip, r->raw_len);
	if (enc) {
		r->cd = iconv_open("UTF-8", enc);
		if (r->cd == (iconv_t)-1)
			return err_set(e, ERR_INPUT,
				       "%s: input_encoding '%s' is not an "
				       "encoding this system knows (see "
				       "'iconv --list')",
				       r->path, enc);
		r->encoding = xstrdup(enc);
		if (decode_fill(r, e) < 0)
			return -1;
	} else {
		memcpy(r->rb, r->raw, r->raw_len);
		r->rb_len = r->raw_len;
		r->eof = r->raw_eof;
		free(r->raw);
		r->raw = NULL;
	}
	n = sep_line(r->rb, r->rb_len, &r->delim);
	if (n) {
		r->sep_line = true;
		r->rb_off = n;
		r->line = 2;
	} else {
		r->delim = detect_delim(r->rb, r->rb_len);
	}
	csv_set_delim(&r->p, (unsigned char)r->delim);
	return 0;
}

/* Feed input until at least one record is queued or the input ends. */
static int pump(struct rows *r, struct err *e)
{
	if (!r->qlen)
		store_compact(r);
	while (!r->qlen && !r->finished) {
		const char *seg, *nl;
		size_t len;

		if (r->rb_off == r->rb_len) {
			if (r->eof && r->skipping)
				skip_end(r);
			if (r->eof) {
				bool open_quote =
				    r->p.quoted &&
				    r->p.pstate == LIBCSV_FIELD_BEGUN;

				csv_fini(&r->p, on_field, on_record, r);
				r->finished = true;
				if (open_quote && r->qlen)
					r->q[r->qhead + r->qlen - 1]
					    .unterminated = true;
				break;
			}
			if (fill(r, e) < 0)
				return -1;
			continue;
		}
		if (r->skipping) {
			skip_bytes(r);
			continue;
		}
		seg = r->rb + r->rb_off;
		nl = memchr(seg, '\n', r->rb_len - r->rb_off);
		len = nl ? (size_t)(nl - seg) + 1 : r->rb_len - r->rb_off;
		if (r->p.pstate == LIBCSV_ROW_NOT_BEGUN)
			r->rec_line = r->line;
		if (nl && r->p.pstate == LIBCSV_ROW_NOT_BEGUN &&
		    !memchr(seg, '"', len))
			split_line(r, seg, len);
		else if (csv_parse(&r->p, seg, len, on_field, on_record, r) !=
			 len)
			return err_set(e, ERR_INPUT, "%s: line %zu: %s",
				       r->path, r->line,
				       csv_strerror(csv_error(&r->p)));
		r->rb_off += len;
		if (nl)
			r->line++;
		if (r->too_big || r->p.entry_pos > ROWS_MAX_RECORD) {
			/* the record goes on past the cap: pass over the rest
			 */
			r->skipping = true;
			r->too_big = true;
			r->skip_quote =
			    r->p.quoted &&
			    (r->p.pstate == LIBCSV_FIELD_BEGUN ||
			     r->p.pstate == LIBCSV_FIELD_MIGHT_HAVE_ENDED);
			r->skip_pending =
			    r->p.pstate == LIBCSV_FIELD_MIGHT_HAVE_ENDED;
			r->skip_line = r->rec_line;
		}
	}
	return 0;
}

static bool pop(struct rows *r, struct record *out)
{
	if (!r->qlen)
		return false;
	*out = r->q[r->qhead++];
	r->qlen--;
	if (!r->qlen)
		r->qhead = 0;
	return true;
}

/* Whether header field 'i' is named 'name' (blanks around ignored). */
static bool header_is(const struct rows *r, size_t i, const char *name)
{
	size_t len = strlen(r->header[i]);
	const char *h = trim(r->header[i], &len);

	return eq_nocase(h, len, name);
}

/* The header's names for a message: "'a', 'b', 'c'" (the first few). */
static void header_names(const struct rows *r, struct buf *b)
{
	for (size_t i = 0; i < r->ncols && i < 8; i++)
		buf_addf(b, "%s'%.40s'", i ? ", " : "", r->header[i]);
	if (r->ncols > 8)
		buf_addstr(b, ", ...");
}

static int read_header(struct rows *r, struct err *e)
{
	struct record rec;

	for (int i = 0; i < NCOLS; i++)
		r->col[i] = -1;
	if (pump(r, e) < 0)
		return -1;
	if (!pop(r, &rec))
		return err_set(e, ERR_INPUT, "%s: empty file: no header line",
			       r->path);
	r->ncols = rec.n;
	r->header = xcalloc(rec.n + 1, sizeof(*r->header));
	for (size_t i = 0; i < rec.n; i++) {
		const struct field *f = &r->fv[rec.f0 + i];
		const char *h = r->sb + f->off;
		size_t len = f->len;

		if (cell_marked(h, len))
			h++, len--;
		r->header[i] = xmalloc(len + 1);
		memcpy(r->header[i], h, len);
		r->header[i][len] = '\0';
	}
	for (size_t i = 0; i < rec.n; i++) {
		size_t len = r->fv[rec.f0 + i].len;
		const char *name = trim(r->sb + r->fv[rec.f0 + i].off, &len);

		if (memchr(name, '\0', len))
			return err_set(
			    e, ERR_INPUT,
			    "%s: line %zu: column %zu of the header holds NUL "
			    "bytes: a UTF-16 file without a byte-order mark? "
			    "Set input_encoding = \"UTF-16LE\" in the job "
			    "file, or save the file as \"CSV UTF-8\"",
			    r->path, rec.line, i + 1);
		if (!rows_is_utf8(name, len))
			return err_set(
			    e, ERR_INPUT,
			    "%s: line %zu: column %zu of the header is not "
			    "valid UTF-8: save the file as \"CSV UTF-8\" (in "
			    "Excel: Save As, \"CSV UTF-8 (Comma delimited)\"), "
			    "or set input_encoding in the job file to the "
			    "encoding it was saved in (e.g. \"windows-1252\")",
			    r->path, rec.line, i + 1);
	}
	/* failed.csv's error columns: dropped, so it runs again as it is */
	if (r->ncols >= 2 &&
	    header_is(r, r->ncols - 2, RESULTS_FAILED_CODE_COL) &&
	    header_is(r, r->ncols - 1, RESULTS_FAILED_MSG_COL)) {
		r->err_cols = true;
		r->ncols -= 2;
	}
	for (size_t i = 0; i < r->ncols; i++) {
		for (int c = 0; c < NCOLS; c++) {
			if (!header_is(r, i, col_names[c]))
				continue;
			if (r->col[c] >= 0)
				return err_set(e, ERR_INPUT,
					       "%s: line %zu: column '%s' "
					       "appears twice in the header",
					       r->path, rec.line, col_names[c]);
			r->col[c] = (int)i;
		}
	}
	if (r->col[COL_MAILBOX] < 0) {
		struct buf names = BUF_INIT(BUF_MAX_SMALL);
		char d[8];

		header_names(r, &names);
		snprintf(d, sizeof(d), r->delim == '\t' ? "TAB" : "'%c'",
			 r->delim);
		err_set(e, ERR_INPUT,
			"%s: required column 'mailbox' missing from the header "
			"(%s; delimiter %s%s); name a column 'mailbox', or, if "
			"the file uses another delimiter, make its first line "
			"sep=; (or sep=, or sep=|)",
			r->path, names.ptr, d,
			r->sep_line ? " from the sep= line" : " detected");
		buf_release(&names);
		return -1;
	}
	return 0;
}

int rows_open(struct rows **out, const char *path,
	      const struct rows_defaults *d, struct err *e)
{
	return rows_open_encoding(out, path, d, NULL, e);
}

int rows_open_encoding(struct rows **out, const char *path,
		       const struct rows_defaults *d, const char *encoding,
		       struct err *e)
{
	struct rows *r = xcalloc(1, sizeof(*r));
	char why[256];

	*out = NULL;
	r->path = xstrdup(path);
	defaults_copy(&r->d, d);
	r->dprofile = (struct slice){r->d.profile, strlen(r->d.profile)};
	r->drole = (struct slice){r->d.role, strlen(r->d.role)};
	r->dprivileges =
	    (struct slice){r->d.privileges, strlen(r->d.privileges)};
	r->dprivileges_ok = privileges_ok(r->d.privileges, why, sizeof(why));
	r->line = 1;
	r->cd = (iconv_t)-1;
	r->rb = xmalloc(CHUNK);
	r->fp = fopen(path, "rb");
	if (!r->fp) {
		err_set_errno(e, ERR_INPUT, "cannot open '%s'", path);
		goto fail;
	}
	if (csv_init(&r->p, CSV_APPEND_NULL) != 0) {
		err_set(e, ERR_INPUT, "%s: cannot set up the CSV parser", path);
		goto fail;
	}
	r->p_init = true;
	csv_set_space_func(&r->p, no_space);
	if (start_input(r, encoding, e) < 0 || read_header(r, e) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	rows_free(r);
	return -1;
}

/* --- the set of mailboxes seen --------------------------------------- */

static struct seen *seen_slot(struct seen *set, size_t cap, const char *key,
			      uint64_t h)
{
	size_t i = (size_t)h & (cap - 1);

	while (set[i].key && (set[i].hash != h || strcmp(set[i].key, key)))
		i = (i + 1) & (cap - 1);
	return &set[i];
}

/* A copy of the 'len' bytes of 'key' and a NUL, kept until rows_free(). */
static const char *key_keep(struct rows *r, const char *key, size_t len)
{
	struct key_block *b = r->keys;
	char *s;

	if (!b || b->cap - b->len < len + 1) {
		size_t cap = len + 1 > KEY_BLOCK ? len + 1 : KEY_BLOCK;

		b = xmalloc(sizeof(*b) + cap);
		b->next = r->keys;
		b->len = 0;
		b->cap = cap;
		r->keys = b;
	}
	s = b->s + b->len;
	memcpy(s, key, len + 1);
	b->len += len + 1;
	return s;
}

/*
 * Returns the row that first had 'mailbox' (compared case-insensitively),
 * or 0 after recording it.
 */
static size_t seen_check_add(struct rows *r, const char *mailbox, size_t row)
{
	char small[384], *key = small;
	size_t len = strlen(mailbox), i;
	uint64_t h = 1469598103934665603ull, w;
	struct seen *s;

	if (len >= sizeof(small))
		key = xmalloc(len + 1);
	/* lower-case and hash it eight bytes at a time */
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, mailbox + i, 8);
		w = ascii_lower(w);
		memcpy(key + i, &w, 8);
		h = (h ^ w) * 1099511628211ull;
	}
	if (i < len) {
		w = 0;
		memcpy(&w, mailbox + i, len - i);
		w = ascii_lower(w);
		memcpy(key + i, &w, len - i);
		h = (h ^ w) * 1099511628211ull;
	}
	key[len] = '\0';
	h ^= h >> 33; /* the slot comes from the low bits: mix the high in */
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	if (2 * (r->set_len + 1) > r->set_cap) {
		size_t ncap = r->set_cap ? 2 * r->set_cap : 1024;
		struct seen *nset = xcalloc(ncap, sizeof(*nset));

		for (size_t k = 0; k < r->set_cap; k++)
			if (r->set[k].key)
				*seen_slot(nset, ncap, r->set[k].key,
					   r->set[k].hash) = r->set[k];
		free(r->set);
		r->set = nset;
		r->set_cap = ncap;
	}
	s = seen_slot(r->set, r->set_cap, key, h);
	if (s->key) {
		row = s->row;
	} else {
		s->key = key_keep(r, key, len);
		s->hash = h;
		s->row = row;
		r->set_len++;
		row = 0;
	}
	if (key != small)
		free(key);
	return row;
}

/* --- rows ------------------------------------------------------------ */

struct problems {
	struct buf b;
};

ATTR_PRINTF(2, 3)
static void problem(struct problems *p, const char *fmt, ...)
{
	va_list ap;

	if (p->b.len)
		buf_addstr(&p->b, "; ");
	va_start(ap, fmt);
	buf_vaddf(&p->b, fmt, ap);
	va_end(ap);
}

/* The name of field 'i' for messages: the header name as given. */
static const char *colname(const struct rows *r, size_t i, char *tmp,
			   size_t tmplen)
{
	if (i < r->ncols && r->header[i][0])
		return r->header[i];
	snprintf(tmp, tmplen, "#%zu", i + 1);
	return tmp;
}

/*
 * The values of the known columns: the writer's mark removed (cell.h),
 * trimmed, and as a C string would read them: up to a NUL byte. "" for a
 * column the header or the record lacks.
 */
static void values(const struct rows *r, const struct record *rec,
		   struct slice v[NCOLS])
{
	for (int c = 0; c < NCOLS; c++) {
		const struct field *f;
		const char *s;
		size_t len;

		if (r->col[c] < 0 || (size_t)r->col[c] >= rec->n) {
			v[c].s = "";
			v[c].len = 0;
			continue;
		}
		f = &r->fv[rec->f0 + (size_t)r->col[c]];
		len = f->len;
		s = r->sb + f->off;
		if (cell_marked(s, len))
			s++, len--;
		s = trim(s, &len);
		v[c].s = s;
		v[c].len = strnlen(s, len);
	}
}

/* Copy 'v' and a NUL to '*p', advance '*p'; returns the copy. */
static char *put(char **p, struct slice v)
{
	char *s = *p;

	memcpy(s, v.s, v.len);
	s[v.len] = '\0';
	*p += v.len + 1;
	return s;
}

static void parse_delivery(const struct rows *r, const struct slice *v,
			   struct row *row, struct problems *pb)
{
	static const int cols[ROWS_NDELIVERY] = {COL_INCOMING, COL_OUTGOING,
						 COL_ACT};
	static const char *const expect[ROWS_NDELIVERY] = {
	    "server-side-sync, outlook, forward or none",
	    "server-side-sync, outlook or none",
	    "server-side-sync, outlook or none",
	};

	for (int i = 0; i < ROWS_NDELIVERY; i++) {
		struct slice d = v[cols[i]];

		if (!d.len) {
			row->delivery[i] = r->d.delivery[i];
		} else {
			row->delivery[i] =
			    delivery_value((enum rows_delivery)i, d.s, d.len);
			if (row->delivery[i] == ROWS_UNSET)
				problem(pb,
					"column '%s': unknown value '%.*s' "
					"(expected %s)",
					col_names[cols[i]],
					(int)(d.len > 64 ? 64 : d.len), d.s,
					expect[i]);
		}
	}
}

/*
 * Checks the row's strings (already in place) and parses the other values
 * 'v'; 'dprivileges': row->privileges is the job's default.
 */
static void parse_values(const struct rows *r, const struct slice *v,
			 struct row *row, bool dprivileges, struct problems *pb)
{
	char why[256];

	if (!*row->mailbox) {
		problem(pb, "column 'mailbox': empty");
	} else if (rows_is_guid(row->mailbox)) {
		char *id = row->mailbox;
		size_t off = id[0] == '{';

		memmove(id, id + off, 36);
		id[36] = '\0';
		for (char *p = id; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		row->mailbox_is_id = true;
	} else if (!is_email(row->mailbox)) {
		problem(pb,
			"column 'mailbox': '%.100s' is neither an email "
			"address nor a mailbox id",
			row->mailbox);
	}

	if (parse_actions(v[COL_ACTIONS].s, v[COL_ACTIONS].len, &row->actions,
			  why, sizeof(why)) < 0)
		problem(pb, "column 'actions': %s", why);
	else if (!row->actions && !(row->actions = r->d.actions))
		problem(pb, "column 'actions': no action (empty, and the job "
			    "has no default actions)");

	parse_delivery(r, v, row, pb);
	if (!(dprivileges && r->dprivileges_ok) &&
	    !privileges_ok(row->privileges, why, sizeof(why)))
		problem(pb, "column 'privileges': %s", why);

	if (row->actions & ROWS_ACT_APPLY_DEFAULTS)
		; /* the organisation's values, read once signed in */
	else if ((row->actions & ROWS_ACT(ROWS_SET_PROFILE)) && !*row->profile)
		problem(pb, "column 'profile': set_profile needs a profile "
			    "(empty, and the job has no default)");
	if ((row->actions & ROWS_ACT(ROWS_SET_DELIVERY)) &&
	    !(row->actions & ROWS_ACT_APPLY_DEFAULTS) &&
	    row->delivery[ROWS_INCOMING] == ROWS_UNSET &&
	    row->delivery[ROWS_OUTGOING] == ROWS_UNSET &&
	    row->delivery[ROWS_ACTDELIVERY] == ROWS_UNSET)
		problem(pb, "columns 'incoming', 'outgoing', 'act': "
			    "set_delivery needs at least one (all empty, and "
			    "the job has no default)");
	if ((row->actions & ROWS_ACT(ROWS_GRANT_PRIVILEGES)) && !*row->role)
		problem(pb, "column 'role': grant_privileges needs a role "
			    "(empty, and the job has no default)");
}

static bool all_empty(const struct rows *r, const struct record *rec)
{
	for (size_t i = 0; i < rec->n; i++)
		if (r->fv[rec->f0 + i].len)
			return false;
	return true;
}

/* Whether the 'len' bytes at 's' hold neither a NUL nor a non-ASCII byte. */
static bool plain_ascii(const char *s, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		if ((w & HIGHS) | zero_byte(w))
			return false;
	}
	for (; i < len; i++)
		if (!s[i] || (unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/*
 * How many fields of 'rec' make the row: failed.csv's two error cells
 * (they follow the row's own fields, rows.h) and empty fields beyond the
 * header's width are left out.
 */
static size_t row_width(const struct rows *r, const struct record *rec)
{
	size_t n = rec->n, width = r->ncols + (r->err_cols ? 2 : 0);

	while (n > width && !r->fv[rec->f0 + n - 1].len)
		n--;
	if (r->err_cols && n > r->ncols)
		n -= n - r->ncols < 2 ? n - r->ncols : 2;
	while (n > r->ncols && !r->fv[rec->f0 + n - 1].len)
		n--;
	return n;
}

/*
 * Copy field 'f' to 'p' without the writer's mark (cell.h) and without
 * NUL bytes, which no CSV file can carry: the row is invalid then, and
 * 'shown' gets the value with each NUL as \0 for the message. Returns
 * the bytes written before the terminating NUL.
 */
static size_t copy_field(const struct rows *r, const struct field *f, char *p,
			 struct buf *shown)
{
	const char *s = r->sb + f->off;
	size_t len = f->len, n = 0;

	if (cell_marked(s, len))
		s++, len--;
	if (!memchr(s, '\0', len)) {
		memcpy(p, s, len);
		p[len] = '\0';
		return len;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i]) {
			p[n++] = s[i];
			if (shown->len < 64)
				buf_addch(shown, s[i]);
		} else if (shown->len < 64) {
			buf_addstr(shown, "\\0");
		}
	}
	p[n] = '\0';
	return n;
}

/* The bad byte and its offset in a field of invalid UTF-8, for a message. */
static void utf8_problem(struct problems *pb, const char *col, const char *s,
			 size_t len)
{
	size_t i = 0, k;

	while (i < len && (k = cell_utf8_seq(s + i, len - i)))
		i += k;
	problem(pb,
		"column '%s': not valid UTF-8 (byte 0x%02X at byte %zu): the "
		"file is not UTF-8; save it as \"CSV UTF-8\", or set "
		"input_encoding in the job file to the encoding it was "
		"saved in (e.g. \"windows-1252\")",
		col, i < len ? (unsigned char)s[i] : 0, i + 1);
}

static struct row *make_row(struct rows *r, const struct record *whole)
{
	struct record width = *whole, *rec = &width;
	struct slice v[NCOLS], profile, role, privileges;
	bool dprivileges;
	const struct field *fv = r->fv + rec->f0;
	struct problems pb = {BUF_INIT(BUF_MAX_SMALL)};
	struct row_alloc *a;
	struct row *row;
	size_t size;
	char tmp[32], *p;

	width.n = row_width(r, whole);
	values(r, rec, v);
	profile = v[COL_PROFILE].len ? v[COL_PROFILE] : r->dprofile;
	role = v[COL_ROLE].len ? v[COL_ROLE] : r->drole;
	dprivileges = !v[COL_PRIVILEGES].len;
	privileges = dprivileges ? r->dprivileges : v[COL_PRIVILEGES];
	size = sizeof(struct row_alloc) + (rec->n + 1) * sizeof(char *) +
	       v[COL_MAILBOX].len + profile.len + v[COL_OWNER].len + role.len +
	       privileges.len + 6;
	for (size_t i = 0; i < rec->n; i++)
		size += fv[i].len + 1;
	a = xmalloc(size);
	memset(a, 0, sizeof(*a));
	row = &a->row;
	row->num = ++r->nrows;
	row->line = rec->line;
	row->nfields = rec->n;
	row->fields = (char **)(a + 1);
	p = (char *)(row->fields + rec->n + 1);
	for (size_t i = 0; i < rec->n; i++) {
		struct buf shown = BUF_INIT(BUF_MAX_SMALL);
		size_t n = copy_field(r, &fv[i], p, &shown);

		if (shown.len)
			problem(&pb, "column '%s': contains a NUL byte ('%s')",
				colname(r, i, tmp, sizeof(tmp)), shown.ptr);
		buf_release(&shown);
		if (!plain_ascii(p, n) && !rows_is_utf8(p, n))
			utf8_problem(&pb, colname(r, i, tmp, sizeof(tmp)), p,
				     n);
		row->fields[i] = p;
		p += n + 1;
	}
	row->fields[rec->n] = NULL;
	row->mailbox = put(&p, v[COL_MAILBOX]);
	row->profile = put(&p, profile);
	row->owner = put(&p, v[COL_OWNER]);
	row->role = put(&p, role);
	row->privileges = put(&p, privileges);
	*p = '\0';
	row->error = row->reason = p;

	if (rec->oversized)
		problem(&pb,
			"record larger than %zu bytes, not read (a quoted "
			"field not closed?)",
			(size_t)ROWS_MAX_RECORD);
	else if (rec->unterminated)
		problem(&pb,
			"column '%s': quoted field not closed before the "
			"end of the file",
			colname(r, rec->n ? rec->n - 1 : 0, tmp, sizeof(tmp)));
	if (rec->n > r->ncols && r->delim == ';')
		problem(&pb,
			"%zu fields, the header has %zu (in a ';'-separated "
			"file, a value holding ';' must be in quotes)",
			rec->n, r->ncols);
	else if (rec->n != r->ncols)
		problem(&pb, "%zu fields, the header has %zu", rec->n,
			r->ncols);
	parse_values(r, v, row, dprivileges, &pb);

	if (!pb.b.len) {
		size_t first = seen_check_add(r, row->mailbox, row->num);

		if (first)
			problem(&pb, "column 'mailbox': duplicate of row %zu",
				first);
	}

	row->valid = !pb.b.len;
	if (!row->valid) {
		struct buf full = BUF_INIT(BUF_MAX_SMALL);

		r->ninvalid++;
		buf_addf(&full, "%s: row %zu (line %zu): %s", r->path, row->num,
			 row->line, pb.b.ptr);
		row->error = a->error = buf_detach(&full, NULL);
		row->reason = a->reason = buf_detach(&pb.b, NULL);
	}
	buf_release(&pb.b);
	return row;
}

int rows_next(struct rows *r, struct row **out, struct err *e)
{
	struct record rec;

	*out = NULL;
	for (;;) {
		if (pump(r, e) < 0)
			return -1;
		if (!pop(r, &rec))
			return 0;
		if (all_empty(r, &rec) && !rec.unterminated && !rec.oversized)
			continue;
		*out = make_row(r, &rec);
		return 0;
	}
}

void rows_row_free(struct row *row)
{
	struct row_alloc *a = (struct row_alloc *)row;

	if (!row)
		return;
	free(a->error);
	free(a->reason);
	free(a);
}

const char *rows_path(const struct rows *r)
{
	return r->path;
}

const char *const *rows_header(const struct rows *r)
{
	return (const char *const *)r->header;
}

size_t rows_ncols(const struct rows *r)
{
	return r->ncols;
}

char rows_delim(const struct rows *r)
{
	return r->delim;
}

bool rows_has_bom(const struct rows *r)
{
	return r->bom;
}

const char *rows_encoding(const struct rows *r)
{
	return r->encoding;
}

size_t rows_count(const struct rows *r)
{
	return r->nrows;
}

size_t rows_invalid(const struct rows *r)
{
	return r->ninvalid;
}

void rows_free(struct rows *r)
{
	if (!r)
		return;
	if (r->fp)
		fclose(r->fp);
	if (r->p_init)
		csv_free(&r->p);
	free(r->q);
	free(r->sb);
	free(r->fv);
	if (r->header)
		for (char **h = r->header; *h; h++)
			free(*h); /* the error columns too */
	free(r->header);
	free(r->set);
	while (r->keys) {
		struct key_block *b = r->keys;

		r->keys = b->next;
		free(b);
	}
	defaults_release(&r->d);
	if (r->cd != (iconv_t)-1)
		iconv_close(r->cd);
	free(r->encoding);
	free(r->raw);
	free(r->rb);
	free(r->path);
	free(r);
}
