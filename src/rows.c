#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include <csv.h>

#include "buf.h"
#include "rows.h"

#include "banned.h"

/* Bytes read at a time; rows are handed to libcsv one line at a time. */
#define CHUNK 65536

/* libcsv.c's parser state for "inside a field"; not in csv.h. */
#define LIBCSV_FIELD_BEGUN 2

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

struct field {
	char *s;
	size_t len;
};

struct record {
	struct field *f;
	size_t n;
	size_t line;
	bool unterminated;
};

struct seen {
	char *key; /* NULL: empty slot */
	size_t row;
};

struct rows {
	char *path;
	FILE *fp;
	struct csv_parser p;
	bool p_init;
	struct rows_defaults d;

	char **header;
	size_t ncols;
	int col[NCOLS]; /* field index of each known column, -1 absent */
	char delim;
	bool bom;

	/* the record being assembled by the libcsv callbacks */
	struct field *cur;
	size_t ncur, acur;
	size_t cur_bytes;
	size_t cur_nl;
	bool too_big;

	/* complete records not handed out yet (a few at most) */
	struct record *q;
	size_t qhead, qlen, qcap;

	char *rb;
	size_t rb_len, rb_off;
	size_t line; /* file line of the bytes being fed, 1-based */
	bool eof, finished, at_start;

	size_t nrows, ninvalid;

	struct seen *set;
	size_t set_cap, set_len;
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

static bool eq_nocase(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && !strncasecmp(s, word, len);
}

int rows_parse_actions(const char *s, unsigned *out, char *why, size_t whylen)
{
	unsigned mask = 0;
	const char *p = s;

	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *w = trim(p, &len);
		size_t i;

		if (len) {
			for (i = 0; i < ROWS_NACTIONS; i++)
				if (eq_nocase(w, len, action_names[i]))
					break;
			if (i == ROWS_NACTIONS) {
				snprintf(
				    why, whylen,
				    "unknown action '%.*s' (expected "
				    "set_profile, set_delivery, fix_owner, "
				    "grant_privileges, approve or "
				    "test_enable)",
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

static const struct {
	const char *name;
	int v[ROWS_NDELIVERY];
} delivery_values[] = {
    /* incoming, outgoing, act: reference §1.1 */
    {"server-side-sync", {2, 2, 1}},
    {"outlook", {1, 1, 0}},
    {"forward", {3, ROWS_UNSET, ROWS_UNSET}},
    {"none", {0, 0, 2}},
};

int rows_delivery_value(enum rows_delivery col, const char *name)
{
	if ((int)col < 0 || col >= ROWS_NDELIVERY)
		return ROWS_UNSET;
	for (size_t i = 0; i < ARRAY_SIZE(delivery_values); i++)
		if (!strcasecmp(name, delivery_values[i].name))
			return delivery_values[i].v[col];
	return ROWS_UNSET;
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

int rows_parse_privileges(const char *s, struct rows_privilege **out, size_t *n,
			  char *why, size_t whylen)
{
	struct rows_privilege *v = NULL;
	size_t nv = 0, av = 0;
	const char *p = s;

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
			if (nv == av) {
				av = av ? 2 * av : 8;
				v = xrealloc(v, av * sizeof(*v));
			}
			v[nv].name = xstrndup(name, tl);
			v[nv].depth = depth;
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
	*out = v;
	*n = nv;
	return 0;
fail:
	rows_privileges_free(v, nv);
	return -1;
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
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* A plausible email address: local@domain, no blanks or separators. */
static bool is_email(const char *s)
{
	const char *at = strchr(s, '@');
	size_t len = strlen(s);

	if (!at || at == s || !at[1] || strchr(at + 1, '@') || len > 320)
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c == 0x7f || c == ',' || c == ';' || c == '<' ||
		    c == '>')
			return false;
	}
	return !strchr(at + 1, '"');
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

/* --- libcsv callbacks ------------------------------------------------ */

static void on_field(void *s, size_t len, void *data)
{
	struct rows *r = data;
	struct field *f;

	if (r->too_big)
		return;
	r->cur_bytes += len;
	if (r->cur_bytes > ROWS_MAX_RECORD) {
		r->too_big = true;
		return;
	}
	if (r->ncur == r->acur) {
		r->acur = r->acur ? 2 * r->acur : 16;
		r->cur = xrealloc(r->cur, r->acur * sizeof(*r->cur));
	}
	f = &r->cur[r->ncur++];
	f->s = xmalloc(len + 1);
	if (len)
		memcpy(f->s, s, len);
	f->s[len] = '\0';
	f->len = len;
	for (size_t i = 0; i < len; i++)
		if (f->s[i] == '\n')
			r->cur_nl++;
}

static void on_record(int term, void *data)
{
	struct rows *r = data;
	struct record *rec;

	(void)term;
	if (r->too_big)
		return;
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
	rec->f = r->cur;
	rec->n = r->ncur;
	/* the record ends on the current line; it started cur_nl lines up */
	rec->line = r->line > r->cur_nl ? r->line - r->cur_nl : 1;
	rec->unterminated = false;
	r->cur = NULL;
	r->ncur = r->acur = 0;
	r->cur_bytes = 0;
	r->cur_nl = 0;
}

static void record_release(struct record *rec)
{
	for (size_t i = 0; i < rec->n; i++)
		free(rec->f[i].s);
	free(rec->f);
	rec->f = NULL;
	rec->n = 0;
}

/* Pick ',' or ';' from the header line: whichever is more frequent
 * outside quotes (comma on a tie). */
static char detect_delim(const char *s, size_t len)
{
	size_t commas = 0, semis = 0;
	bool quoted = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			quoted = !quoted;
		else if (quoted)
			continue;
		else if (s[i] == '\n' || s[i] == '\r')
			break;
		else if (s[i] == ',')
			commas++;
		else if (s[i] == ';')
			semis++;
	}
	return semis > commas ? ';' : ',';
}

static int no_space(unsigned char c)
{
	(void)c;
	return 0; /* keep fields exactly as given */
}

static int fill(struct rows *r, struct err *e)
{
	size_t n;

	r->rb_off = 0;
	n = fread(r->rb, 1, CHUNK, r->fp);
	r->rb_len = n;
	if (n < CHUNK) {
		if (ferror(r->fp))
			return err_set_errno(e, ERR_INPUT, "cannot read '%s'",
					     r->path);
		r->eof = true;
	}
	if (r->at_start) {
		r->at_start = false;
		if (n >= 3 && !memcmp(r->rb, "\xef\xbb\xbf", 3)) {
			r->bom = true;
			r->rb_off = 3;
		}
		r->delim = detect_delim(r->rb + r->rb_off, n - r->rb_off);
		csv_set_delim(&r->p, (unsigned char)r->delim);
	}
	return 0;
}

/* Feed input until at least one record is queued or the input ends. */
static int pump(struct rows *r, struct err *e)
{
	while (!r->qlen && !r->finished) {
		const char *seg, *nl;
		size_t len;

		if (r->rb_off == r->rb_len) {
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
		seg = r->rb + r->rb_off;
		nl = memchr(seg, '\n', r->rb_len - r->rb_off);
		len = nl ? (size_t)(nl - seg) + 1 : r->rb_len - r->rb_off;
		if (csv_parse(&r->p, seg, len, on_field, on_record, r) != len)
			return err_set(e, ERR_INPUT, "%s: line %zu: %s",
				       r->path, r->line,
				       csv_strerror(csv_error(&r->p)));
		r->rb_off += len;
		if (r->too_big || r->p.entry_pos > ROWS_MAX_RECORD)
			return err_set(e, ERR_INPUT,
				       "%s: line %zu: record larger than %zu "
				       "bytes (a quoted field not closed?)",
				       r->path, r->line - r->cur_nl,
				       (size_t)ROWS_MAX_RECORD);
		if (nl)
			r->line++;
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
		r->header[i] = rec.f[i].s;
		rec.f[i].s = NULL;
	}
	for (size_t i = 0; i < rec.n; i++) {
		size_t len = rec.f[i].len;
		const char *name = trim(r->header[i], &len);

		if (!rows_is_utf8(name, len) || memchr(name, '\0', len)) {
			record_release(&rec);
			return err_set(e, ERR_INPUT,
				       "%s: line %zu: column %zu of the header "
				       "is not valid UTF-8",
				       r->path, rec.line, i + 1);
		}
		for (int c = 0; c < NCOLS; c++) {
			if (!eq_nocase(name, len, col_names[c]))
				continue;
			if (r->col[c] >= 0) {
				record_release(&rec);
				return err_set(e, ERR_INPUT,
					       "%s: line %zu: column '%s' "
					       "appears twice in the header",
					       r->path, rec.line, col_names[c]);
			}
			r->col[c] = (int)i;
		}
	}
	record_release(&rec);
	if (r->col[COL_MAILBOX] < 0)
		return err_set(e, ERR_INPUT,
			       "%s: required column 'mailbox' missing from "
			       "the header (delimiter '%c')",
			       r->path, r->delim);
	return 0;
}

int rows_open(struct rows **out, const char *path,
	      const struct rows_defaults *d, struct err *e)
{
	struct rows *r = xcalloc(1, sizeof(*r));

	*out = NULL;
	r->path = xstrdup(path);
	defaults_copy(&r->d, d);
	r->line = 1;
	r->at_start = true;
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
	if (read_header(r, e) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	rows_free(r);
	return -1;
}

/* --- the set of mailboxes seen --------------------------------------- */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

static struct seen *seen_slot(struct seen *set, size_t cap, const char *key)
{
	size_t i = (size_t)hash(key) & (cap - 1);

	while (set[i].key && strcmp(set[i].key, key))
		i = (i + 1) & (cap - 1);
	return &set[i];
}

/* Returns the row that first had 'key', or 0 after recording it. */
static size_t seen_check_add(struct rows *r, const char *key, size_t row)
{
	struct seen *s;

	if (2 * (r->set_len + 1) > r->set_cap) {
		size_t ncap = r->set_cap ? 2 * r->set_cap : 1024;
		struct seen *nset = xcalloc(ncap, sizeof(*nset));

		for (size_t i = 0; i < r->set_cap; i++)
			if (r->set[i].key)
				*seen_slot(nset, ncap, r->set[i].key) =
				    r->set[i];
		free(r->set);
		r->set = nset;
		r->set_cap = ncap;
	}
	s = seen_slot(r->set, r->set_cap, key);
	if (s->key)
		return s->row;
	s->key = xstrdup(key);
	s->row = row;
	r->set_len++;
	return 0;
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

/* The value of known column 'c': trimmed, a neutralising quote removed. */
static char *value(const struct rows *r, const struct record *rec, int c)
{
	const char *s;
	size_t len;

	if (r->col[c] < 0 || (size_t)r->col[c] >= rec->n)
		return xstrdup("");
	s = rec->f[r->col[c]].s;
	len = rec->f[r->col[c]].len;
	s = trim(s, &len);
	if (len >= 2 && s[0] == '\'' && strchr("=+-@\t\r", s[1]))
		s++, len--;
	return xstrndup(s, len);
}

static void parse_delivery(struct rows *r, const struct record *rec,
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
		char *v = value(r, rec, cols[i]);

		if (!*v) {
			row->delivery[i] = r->d.delivery[i];
		} else {
			row->delivery[i] =
			    rows_delivery_value((enum rows_delivery)i, v);
			if (row->delivery[i] == ROWS_UNSET)
				problem(pb,
					"column '%s': unknown value '%.64s' "
					"(expected %s)",
					col_names[cols[i]], v, expect[i]);
		}
		free(v);
	}
}

static void parse_values(struct rows *r, const struct record *rec,
			 struct row *row, struct problems *pb)
{
	char why[256];
	char *v;

	row->mailbox = value(r, rec, COL_MAILBOX);
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

	v = value(r, rec, COL_ACTIONS);
	if (rows_parse_actions(v, &row->actions, why, sizeof(why)) < 0)
		problem(pb, "column 'actions': %s", why);
	else if (!row->actions && !(row->actions = r->d.actions))
		problem(pb, "column 'actions': no action (empty, and the job "
			    "has no default actions)");
	free(v);

	row->profile = value(r, rec, COL_PROFILE);
	if (!*row->profile) {
		free(row->profile);
		row->profile = xstrdup(r->d.profile);
	}
	parse_delivery(r, rec, row, pb);
	row->owner = value(r, rec, COL_OWNER);
	row->role = value(r, rec, COL_ROLE);
	if (!*row->role) {
		free(row->role);
		row->role = xstrdup(r->d.role);
	}
	row->privileges = value(r, rec, COL_PRIVILEGES);
	if (!*row->privileges) {
		free(row->privileges);
		row->privileges = xstrdup(r->d.privileges);
	}
	if (rows_privileges_is_template(row->privileges)) {
		for (const char *p = row->privileges; *p; p++)
			if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
				problem(pb,
					"column 'privileges': '%.64s' is not "
					"a template name nor a list of "
					"privileges",
					row->privileges);
				break;
			}
	} else {
		struct rows_privilege *pv;
		size_t n;

		if (rows_parse_privileges(row->privileges, &pv, &n, why,
					  sizeof(why)) < 0)
			problem(pb, "column 'privileges': %s", why);
		rows_privileges_free(pv, n);
	}

	if ((row->actions & ROWS_ACT(ROWS_SET_PROFILE)) && !*row->profile)
		problem(pb, "column 'profile': set_profile needs a profile "
			    "(empty, and the job has no default)");
	if ((row->actions & ROWS_ACT(ROWS_SET_DELIVERY)) &&
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

static bool all_empty(const struct record *rec)
{
	for (size_t i = 0; i < rec->n; i++)
		if (rec->f[i].len)
			return false;
	return true;
}

static struct row *make_row(struct rows *r, struct record *rec)
{
	struct row *row = xcalloc(1, sizeof(*row));
	struct problems pb = {BUF_INIT(BUF_MAX_SMALL)};
	char tmp[32];

	row->num = ++r->nrows;
	row->line = rec->line;
	row->nfields = rec->n;
	row->fields = xcalloc(rec->n + 1, sizeof(*row->fields));
	/* the row takes the strings over when it is built (below) */
	for (size_t i = 0; i < rec->n; i++)
		row->fields[i] = rec->f[i].s;

	for (size_t i = 0; i < rec->n; i++) {
		if (memchr(row->fields[i], '\0', rec->f[i].len))
			problem(&pb, "column '%s': contains a NUL byte",
				colname(r, i, tmp, sizeof(tmp)));
		else if (!rows_is_utf8(row->fields[i], rec->f[i].len))
			problem(&pb, "column '%s': invalid UTF-8",
				colname(r, i, tmp, sizeof(tmp)));
	}
	if (rec->unterminated)
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
	parse_values(r, rec, row, &pb);

	if (!pb.b.len) {
		char *key = xstrdup(row->mailbox);
		size_t first;

		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		first = seen_check_add(r, key, row->num);
		free(key);
		if (first)
			problem(&pb, "column 'mailbox': duplicate of row %zu",
				first);
	}

	row->valid = !pb.b.len;
	if (row->valid) {
		row->error = xstrdup("");
		row->reason = xstrdup("");
	} else {
		struct buf full = BUF_INIT(BUF_MAX_SMALL);

		r->ninvalid++;
		buf_addf(&full, "%s: row %zu (line %zu): %s", r->path, row->num,
			 row->line, pb.b.ptr);
		row->error = buf_detach(&full, NULL);
		row->reason = buf_detach(&pb.b, NULL);
	}
	buf_release(&pb.b);
	for (size_t i = 0; i < rec->n; i++)
		rec->f[i].s = NULL;
	record_release(rec);
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
		if (all_empty(&rec) && !rec.unterminated) {
			record_release(&rec);
			continue;
		}
		*out = make_row(r, &rec);
		return 0;
	}
}

void rows_row_free(struct row *row)
{
	if (!row)
		return;
	for (size_t i = 0; i < row->nfields; i++)
		free(row->fields[i]);
	free(row->fields);
	free(row->error);
	free(row->reason);
	free(row->mailbox);
	free(row->profile);
	free(row->owner);
	free(row->role);
	free(row->privileges);
	free(row);
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
	for (size_t i = 0; i < r->qlen; i++)
		record_release(&r->q[r->qhead + i]);
	free(r->q);
	for (size_t i = 0; i < r->ncur; i++)
		free(r->cur[i].s);
	free(r->cur);
	if (r->header)
		for (size_t i = 0; i < r->ncols; i++)
			free(r->header[i]);
	free(r->header);
	for (size_t i = 0; i < r->set_cap; i++)
		free(r->set[i].key);
	free(r->set);
	defaults_release(&r->d);
	free(r->rb);
	free(r->path);
	free(r);
}
