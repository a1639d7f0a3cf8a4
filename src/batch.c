/*
 * batch.c: the OData $batch codec (batch.h): encoding, the multipart
 * parser and the mapping of answers to operations. Just over 1,000 lines
 * because the three share the part model and its limits; all of it is
 * pure and tested by tests/unit/test_batch.c.
 */
#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "batch.h"

#include "banned.h"

#define ID_MAX 40

static const char *const methods[] = {"GET", "POST", "PATCH", "PUT", "DELETE"};

void batch_init(struct batch *b)
{
	b->ops = NULL;
	b->n = 0;
	b->alloc = 0;
}

/* One block holds an operation's header list and strings: see batch_add(). */
static void op_release(struct batch_op *op)
{
	free(op->headers);
}

void batch_release(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		op_release(&b->ops[i]);
	free(b->ops);
	batch_init(b);
}

/* Printable ASCII without space: what may appear in a request line. */
static bool url_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "Name: value" with a token name and no CR, LF or other control. */
static bool header_ok(const char *s)
{
	const char *colon = strchr(s, ':');

	if (!colon || colon == s)
		return false;
	for (const char *p = s; p < colon; p++)
		if (!is_tchar((unsigned char)*p))
			return false;
	for (const char *p = colon + 1; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

static bool method_ok(const char *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (strcmp(m, methods[i]) == 0)
			return true;
	return false;
}

int batch_add(struct batch *b, const struct batch_req *req, struct err *e)
{
	struct batch_op *op;
	size_t nh = 0;

	if (b->n >= BATCH_MAX_OPS)
		return err_set(e, ERR_INTERNAL,
			       "a $batch holds at most %d operations",
			       BATCH_MAX_OPS);
	if (!req->method || !method_ok(req->method))
		return err_set(e, ERR_INTERNAL, "$batch: unknown method '%s'",
			       req->method ? req->method : "(null)");
	if (!req->url || req->url[0] == '/' || !url_ok(req->url))
		return err_set(e, ERR_INTERNAL, "$batch: bad URL '%s'",
			       req->url ? req->url : "(null)");
	if (req->headers) {
		for (; req->headers[nh]; nh++)
			if (!header_ok(req->headers[nh]))
				return err_set(e, ERR_INTERNAL,
					       "$batch: bad header line for "
					       "'%s'",
					       req->url);
		if (nh > BATCH_MAX_HEADERS)
			return err_set(e, ERR_INTERNAL,
				       "$batch: too many headers for '%s'",
				       req->url);
	}
	if (req->changeset) {
		/* docs/fidelity.md: GET is not allowed inside a change set */
		if (strcmp(req->method, "GET") == 0)
			return err_set(e, ERR_INTERNAL,
				       "$batch: GET '%s' in a change set",
				       req->url);
		if (b->n && b->ops[b->n - 1].changeset != req->changeset)
			for (size_t i = 0; i < b->n; i++)
				if (b->ops[i].changeset == req->changeset)
					return err_set(
					    e, ERR_INTERNAL,
					    "$batch: operations of change "
					    "set %u are not consecutive",
					    req->changeset);
	}

	if (b->n == b->alloc) {
		b->alloc = b->alloc ? b->alloc * 2 : 16;
		b->ops = xrealloc(b->ops, b->alloc * sizeof(*b->ops));
	}
	op = &b->ops[b->n++];
	{
		/* one allocation: the header list, then every string */
		size_t size = (nh + 1) * sizeof(*op->headers);
		size_t mlen = strlen(req->method) + 1;
		size_t ulen = strlen(req->url) + 1;
		size_t blen = req->body ? strlen(req->body) + 1 : 0;
		char *at;

		for (size_t i = 0; i < nh; i++)
			size += strlen(req->headers[i]) + 1;
		size += mlen + ulen + blen;
		op->headers = xmalloc(size);
		at = (char *)(op->headers + nh + 1);
		for (size_t i = 0; i < nh; i++) {
			size_t hl = strlen(req->headers[i]) + 1;

			op->headers[i] = memcpy(at, req->headers[i], hl);
			at += hl;
		}
		op->headers[nh] = NULL;
		op->method = memcpy(at, req->method, mlen);
		at += mlen;
		op->url = memcpy(at, req->url, ulen);
		at += ulen;
		op->body = blen ? memcpy(at, req->body, blen) : NULL;
	}
	op->changeset = req->changeset;
	op->data = req->data;
	return 0;
}

static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > ID_MAX)
		return false;
	for (; *id; id++)
		if (!isalnum((unsigned char)*id) && *id != '_' && *id != '-')
			return false;
	return true;
}

static bool has_header(const struct batch_op *op, const char *name)
{
	size_t n = strlen(name);

	for (char **h = op->headers; *h; h++)
		if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
			return true;
	return false;
}

/* The embedded HTTP request of one part, ending with its blank line. */
static int add_request(struct buf *out, const struct batch_op *op,
		       const char *prefix, bool slash)
{
	int rc = 0;

	/* no printf: this runs for every operation of every $batch */
	rc |= buf_addstr(out, op->method);
	rc |= buf_addch(out, ' ');
	rc |= buf_addstr(out, prefix);
	if (slash)
		rc |= buf_addch(out, '/');
	rc |= buf_addstr(out, op->url);
	rc |= buf_addstr(out, " HTTP/1.1\r\n");
	for (char **h = op->headers; *h; h++) {
		rc |= buf_addstr(out, *h);
		rc |= buf_addstr(out, "\r\n");
	}
	if (op->body && !has_header(op, "Content-Type"))
		rc |= buf_addstr(out, "Content-Type: application/json\r\n");
	rc |= buf_addstr(out, "\r\n");
	if (op->body) {
		rc |= buf_addstr(out, op->body);
		rc |= buf_addstr(out, "\r\n");
	}
	return rc ? -1 : 0;
}

/* The MIME headers of an application/http part, up to its blank line. */
static int part_headers(struct buf *out, unsigned long content_id)
{
	char num[24];
	size_t i = sizeof(num);
	int rc = 0;

	do {
		num[--i] = (char)('0' + content_id % 10);
		content_id /= 10;
	} while (content_id);
	rc |= buf_addstr(out, "Content-Type: application/http\r\n"
			      "Content-Transfer-Encoding: binary\r\n"
			      "Content-ID: ");
	rc |= buf_add(out, num + i, sizeof(num) - i);
	rc |= buf_addstr(out, "\r\n\r\n");
	return rc ? -1 : 0;
}

int batch_encode(const struct batch *b, const char *id, const char *prefix,
		 struct buf *body, struct buf *content_type, struct err *e)
{
	char bnd[8 + ID_MAX + 1], mark[10 + ID_MAX + 1],
	    cs_mark[12 + ID_MAX + 1];
	size_t plen;
	bool slash;
	unsigned nset = 0;
	int rc = 0;

	if (b->n == 0)
		return err_set(e, ERR_INTERNAL, "$batch without operations");
	if (!id_ok(id))
		return err_set(e, ERR_INTERNAL, "$batch: bad boundary id '%s'",
			       id);
	plen = strlen(prefix);
	if (!url_ok(prefix))
		return err_set(e, ERR_INTERNAL, "$batch: bad URL prefix '%s'",
			       prefix);
	slash = prefix[plen - 1] != '/';
	snprintf(bnd, sizeof(bnd), "batch_%s", id);
	snprintf(mark, sizeof(mark), "--%s", bnd);
	snprintf(cs_mark, sizeof(cs_mark), "--changeset_%s_", id);

	for (size_t i = 0; i < b->n; i++) {
		const char *bd = b->ops[i].body;

		/*
		 * RFC 2046 §5.1.1: the boundary must not occur in the
		 * content; ours cannot unless a body quotes it.
		 */
		if (bd && (strstr(bd, mark) || strstr(bd, cs_mark)))
			return err_set(e, ERR_INTERNAL,
				       "$batch: the body for '%s' contains "
				       "the boundary",
				       b->ops[i].url);
	}

	for (size_t i = 0; i < b->n;) {
		const struct batch_op *op = &b->ops[i];
		size_t j;

		rc |= buf_addstr(body, mark);
		rc |= buf_addstr(body, "\r\n");
		if (!op->changeset) {
			rc |= part_headers(body, batch_content_id(i));
			rc |= add_request(body, op, prefix, slash);
			i++;
			continue;
		}
		nset++;
		rc |= buf_addf(body,
			       "Content-Type: multipart/mixed; "
			       "boundary=changeset_%s_%u\r\n\r\n",
			       id, nset);
		for (j = i; j < b->n && b->ops[j].changeset == op->changeset;
		     j++) {
			rc |= buf_addf(body, "--changeset_%s_%u\r\n", id, nset);
			rc |= part_headers(body, batch_content_id(j));
			rc |= add_request(body, &b->ops[j], prefix, slash);
		}
		rc |= buf_addf(body, "--changeset_%s_%u--\r\n", id, nset);
		i = j;
	}
	rc |= buf_addf(body, "--%s--\r\n", bnd);
	if (rc)
		return err_set(e, ERR_INTERNAL,
			       "$batch of %zu operations: body too large",
			       b->n);
	if (buf_addf(content_type, "multipart/mixed; boundary=%s", bnd) < 0)
		return err_set(e, ERR_INTERNAL,
			       "$batch: Content-Type too long");
	return 0;
}

/*
 * Parsing. Everything below works on <ptr, len> views into the caller's
 * body and copies only what ends up in a struct batch_answer.
 */

struct view {
	const char *p;
	size_t len;
};

static void response_reset(struct batch_response *r)
{
	r->answers = NULL;
	r->n = 0;
}

/* One block holds an answer's headers array and strings: see add_answer(). */
static void answer_release(struct batch_answer *a)
{
	free(a->headers);
}

void batch_response_release(struct batch_response *r)
{
	for (size_t i = 0; i < r->n; i++)
		answer_release(&r->answers[i]);
	free(r->answers);
	response_reset(r);
}

const char *batch_answer_header(const struct batch_answer *a, const char *name)
{
	for (size_t i = 0; i < a->nheaders; i++)
		if (strcasecmp(a->headers[i].name, name) == 0)
			return a->headers[i].value;
	return NULL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static struct view trim(struct view v)
{
	while (v.len && is_blank(v.p[0])) {
		v.p++;
		v.len--;
	}
	while (v.len && (is_blank(v.p[v.len - 1]) || v.p[v.len - 1] == '\r'))
		v.len--;
	return v;
}

/*
 * Take the next line of 'v' into 'line' (without CRLF or LF) and advance
 * 'v' past it. False at the end of 'v'.
 */
static bool next_line(struct view *v, struct view *line)
{
	const char *nl;

	if (v->len == 0)
		return false;
	nl = memchr(v->p, '\n', v->len);
	line->p = v->p;
	if (nl) {
		line->len = (size_t)(nl - v->p);
		v->len -= line->len + 1;
		v->p = nl + 1;
	} else {
		line->len = v->len;
		v->p += v->len;
		v->len = 0;
	}
	if (line->len && line->p[line->len - 1] == '\r')
		line->len--;
	return true;
}

static bool view_ieq_prefix(struct view v, const char *s)
{
	size_t n = strlen(s);

	return v.len >= n && strncasecmp(v.p, s, n) == 0;
}

/*
 * Is 'line' a delimiter of 'bnd'? 1 for "--bnd", 2 for the close
 * delimiter "--bnd--", 0 otherwise. Transport padding (trailing blanks)
 * is allowed (RFC 2046 §5.1.1).
 */
static int delimiter_kind(struct view line, const char *bnd, size_t blen)
{
	struct view rest;

	if (line.len < blen + 2 || line.p[0] != '-' || line.p[1] != '-' ||
	    memcmp(line.p + 2, bnd, blen) != 0)
		return 0;
	rest.p = line.p + 2 + blen;
	rest.len = line.len - 2 - blen;
	rest = trim(rest);
	if (rest.len == 0)
		return 1;
	if (rest.len == 2 && rest.p[0] == '-' && rest.p[1] == '-')
		return 2;
	return 0;
}

/*
 * Split multipart 'body' at the delimiters of 'bnd' into 'parts' (at
 * most 'max'); the CRLF (or LF) before a delimiter belongs to it.
 * Returns the number of parts, or -1 with 'e' set.
 */
/*
 * The first line in [p, end) that starts with 'pat' ('p' begins a line);
 * NULL when none does.
 */
static const char *find_line_start(const char *p, const char *end,
				   const char *pat, size_t plen)
{
	while ((size_t)(end - p) >= plen) {
		const char *nl;

		if (!memcmp(p, pat, plen))
			return p;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return NULL;
		p = nl + 1;
	}
	return NULL;
}

static long split_parts(struct view body, const char *bnd, struct view *parts,
			size_t max, struct err *e)
{
	size_t blen = strlen(bnd), n = 0;
	const char *end = body.p + body.len, *p = body.p, *start = NULL;
	char dash[BATCH_MAX_BOUNDARY + 2];

	if (blen > BATCH_MAX_BOUNDARY)
		return err_set(e, ERR_PROTOCOL,
			       "$batch response: boundary too long");
	dash[0] = dash[1] = '-';
	memcpy(dash + 2, bnd, blen);
	/*
	 * Only lines starting "--boundary" are looked at closely; a hit
	 * counts when delimiter_kind() accepts the whole line. The preamble,
	 * up to the first delimiter, is ignored.
	 */
	for (;;) {
		const char *d = find_line_start(p, end, dash, blen + 2);
		struct view rest, line;
		int kind;

		if (!d) {
			if (!start)
				return err_set(e, ERR_PROTOCOL,
					       "$batch response: no delimiter "
					       "'--%s'",
					       bnd);
			return err_set(e, ERR_PROTOCOL,
				       "$batch response truncated: no closing "
				       "'--%s--'",
				       bnd);
		}
		rest.p = d;
		rest.len = (size_t)(end - d);
		next_line(&rest, &line);
		p = rest.p; /* the line after it */
		kind = delimiter_kind(line, bnd, blen);
		if (!kind)
			continue;
		if (start) {
			if (n >= max)
				return err_set(e, ERR_PROTOCOL,
					       "$batch response: more than %zu "
					       "parts",
					       max);
			parts[n].p = start;
			parts[n].len = (size_t)(d - start);
			/* the line break before the delimiter is part of it */
			if (parts[n].len &&
			    parts[n].p[parts[n].len - 1] == '\n')
				parts[n].len--;
			if (parts[n].len &&
			    parts[n].p[parts[n].len - 1] == '\r')
				parts[n].len--;
			n++;
		}
		if (kind == 2)
			return (long)n;
		start = rest.p;
	}
}

/*
 * The boundary parameter of a multipart/mixed Content-Type, quoted or
 * not, into 'out'. -1 with 'e' set when it is not multipart/mixed or has
 * no usable boundary.
 */
static int content_type_boundary(struct view ct,
				 char out[BATCH_MAX_BOUNDARY + 1],
				 struct err *e)
{
	const char *p, *end;

	ct = trim(ct);
	if (!view_ieq_prefix(ct, "multipart/mixed"))
		return err_set(e, ERR_PROTOCOL,
			       "$batch response is not multipart/mixed: '%.*s'",
			       (int)(ct.len > 100 ? 100 : ct.len), ct.p);
	p = ct.p + strlen("multipart/mixed");
	end = ct.p + ct.len;
	while (p < end) {
		const char *name, *semi;
		size_t nlen, olen = 0;

		while (p < end && (is_blank(*p) || *p == ';'))
			p++;
		name = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		nlen = (size_t)(p - name);
		while (nlen && is_blank(name[nlen - 1]))
			nlen--;
		if (p >= end || *p != '=')
			continue;
		p++;
		while (p < end && is_blank(*p))
			p++;
		if (nlen != 8 || strncasecmp(name, "boundary", 8) != 0) {
			semi = memchr(p, ';', (size_t)(end - p));
			p = semi ? semi : end;
			continue;
		}
		if (p < end && *p == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (olen >= BATCH_MAX_BOUNDARY)
					goto bad;
				out[olen++] = *p;
			}
			if (p >= end)
				goto bad;
		} else {
			for (; p < end && *p != ';' && !is_blank(*p); p++) {
				if (olen >= BATCH_MAX_BOUNDARY)
					goto bad;
				out[olen++] = *p;
			}
		}
		if (olen == 0)
			goto bad;
		out[olen] = '\0';
		return 0;
	}
bad:
	return err_set(e, ERR_PROTOCOL,
		       "$batch response: no usable boundary in '%.*s'",
		       (int)(ct.len > 100 ? 100 : ct.len), ct.p);
}

struct hdrs {
	struct view name[BATCH_MAX_HEADERS];
	struct view value[BATCH_MAX_HEADERS];
	size_t n;
};

/*
 * Read header lines from 'v' up to and including the blank line that
 * ends them, or to the end of 'v' when there is none ('*ended' tells).
 */
static int read_headers(struct view *v, struct hdrs *h, bool *ended,
			struct err *e)
{
	struct view line;

	h->n = 0;
	*ended = false;
	while (next_line(v, &line)) {
		const char *colon;

		if (line.len == 0) {
			*ended = true;
			return 0;
		}
		if (line.len > BATCH_MAX_LINE)
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: header line longer "
				       "than %d bytes",
				       BATCH_MAX_LINE);
		/* obsolete line folding is not used by OData services */
		if (is_blank(line.p[0]))
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: folded header line");
		colon = memchr(line.p, ':', line.len);
		if (!colon || colon == line.p)
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: malformed header "
				       "line '%.*s'",
				       (int)(line.len > 80 ? 80 : line.len),
				       line.p);
		if (h->n >= BATCH_MAX_HEADERS)
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: more than %d headers "
				       "in a part",
				       BATCH_MAX_HEADERS);
		h->name[h->n].p = line.p;
		h->name[h->n].len = (size_t)(colon - line.p);
		h->name[h->n] = trim(h->name[h->n]);
		h->value[h->n].p = colon + 1;
		h->value[h->n].len = (size_t)(line.p + line.len - colon - 1);
		h->n++;
	}
	return 0;
}

static struct view find_header(const struct hdrs *h, const char *name)
{
	struct view none = {NULL, 0};
	size_t n = strlen(name);

	for (size_t i = 0; i < h->n; i++)
		if (h->name[i].len == n &&
		    strncasecmp(h->name[i].p, name, n) == 0)
			return trim(h->value[i]);
	return none;
}

struct parser {
	struct batch_response *out;
	size_t alloc;
	unsigned nset;
	struct hdrs mime;  /* part headers */
	struct hdrs inner; /* embedded HTTP headers */
	struct view parts[BATCH_MAX_PARTS];
	struct view csparts[BATCH_MAX_PARTS];
};

/* Copy 'v' to '*at' with a NUL, advance '*at' past it. */
static char *view_put(char **at, struct view v)
{
	char *s = *at;

	if (v.len)
		memcpy(s, v.p, v.len);
	s[v.len] = '\0';
	*at += v.len + 1;
	return s;
}

/* An application/http part: status line, headers, body. */
static int add_answer(struct parser *ps, struct view msg, struct view cid,
		      unsigned changeset, struct err *e)
{
	struct batch_answer *a;
	struct view line, v = msg, body;
	const char *p;
	bool ended;
	int status = 0;

	if (!next_line(&v, &line))
		return err_set(e, ERR_PROTOCOL,
			       "$batch response: empty application/http part");
	/* HTTP/1.1 204 No Content */
	p = line.p;
	if (line.len < 12 || strncmp(p, "HTTP/", 5) != 0)
		goto bad_status;
	p = memchr(p, ' ', line.len);
	if (!p || (size_t)(p - line.p) + 4 > line.len)
		goto bad_status;
	p++;
	for (int i = 0; i < 3; i++) {
		if (!isdigit((unsigned char)p[i]))
			goto bad_status;
		status = status * 10 + (p[i] - '0');
	}
	if ((size_t)(p + 3 - line.p) < line.len && p[3] != ' ')
		goto bad_status;
	if (status < 100 || status > 599)
		goto bad_status;

	if (read_headers(&v, &ps->inner, &ended, e) < 0)
		return -1;
	body = v;
	if (!ended)
		body.len = 0;
	if (!cid.p)
		cid = find_header(&ps->inner, "Content-ID");

	if (ps->out->n >= BATCH_MAX_PARTS)
		return err_set(e, ERR_PROTOCOL,
			       "$batch response: more than %d answers",
			       BATCH_MAX_PARTS);
	if (ps->out->n == ps->alloc) {
		ps->alloc = ps->alloc ? ps->alloc * 2 : 16;
		ps->out->answers =
		    xrealloc(ps->out->answers, ps->alloc * sizeof(*a));
	}
	a = &ps->out->answers[ps->out->n++];
	memset(a, 0, sizeof(*a));
	a->status = status;
	a->changeset = changeset;
	a->nheaders = ps->inner.n;
	{
		/* one allocation: the headers array, then every string */
		size_t nh = a->nheaders ? a->nheaders : 1;
		size_t size = nh * sizeof(*a->headers) + body.len + 1;
		char *at;

		if (cid.p)
			size += cid.len + 1;
		for (size_t i = 0; i < ps->inner.n; i++) {
			ps->inner.value[i] = trim(ps->inner.value[i]);
			size += ps->inner.name[i].len + 1 +
				ps->inner.value[i].len + 1;
		}
		a->headers = xmalloc(size);
		memset(a->headers, 0, nh * sizeof(*a->headers));
		at = (char *)(a->headers + nh);
		a->content_id = cid.p ? view_put(&at, cid) : NULL;
		for (size_t i = 0; i < ps->inner.n; i++) {
			a->headers[i].name = view_put(&at, ps->inner.name[i]);
			a->headers[i].value = view_put(&at, ps->inner.value[i]);
		}
		a->body = view_put(&at, body);
		a->body_len = body.len;
	}
	return 0;
bad_status:
	return err_set(e, ERR_PROTOCOL,
		       "$batch response: bad status line '%.*s'",
		       (int)(line.len > 80 ? 80 : line.len), line.p);
}

/*
 * One part of the response, or of a change-set response when 'changeset'
 * is not 0.
 */
static int parse_part(struct parser *ps, struct view part, unsigned changeset,
		      struct err *e)
{
	struct view v = part, ct, cid;
	char bnd[BATCH_MAX_BOUNDARY + 1];
	bool ended;
	long n;

	if (read_headers(&v, &ps->mime, &ended, e) < 0)
		return -1;
	if (!ended)
		return err_set(e, ERR_PROTOCOL,
			       "$batch response: part without a body");
	ct = find_header(&ps->mime, "Content-Type");
	cid = find_header(&ps->mime, "Content-ID");
	if (ct.p && view_ieq_prefix(ct, "multipart/mixed")) {
		unsigned set;

		/* no nested batches; change sets are one level */
		if (changeset)
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: change set inside a "
				       "change set");
		if (content_type_boundary(ct, bnd, e) < 0)
			return -1;
		n = split_parts(v, bnd, ps->csparts, ARRAY_SIZE(ps->csparts),
				e);
		if (n < 0)
			return -1;
		set = ++ps->nset;
		for (long i = 0; i < n; i++)
			if (parse_part(ps, ps->csparts[i], set, e) < 0)
				return -1;
		return 0;
	}
	if (ct.p ? !view_ieq_prefix(ct, "application/http")
		 : !(v.len >= 5 && strncmp(v.p, "HTTP/", 5) == 0))
		return err_set(
		    e, ERR_PROTOCOL, "$batch response: part of type '%.*s'",
		    (int)(ct.len > 80 ? 80 : ct.len), ct.p ? ct.p : "");
	return add_answer(ps, v, cid, changeset, e);
}

int batch_parse(struct batch_response *out, const char *content_type,
		const char *body, size_t len, struct err *e)
{
	char bnd[BATCH_MAX_BOUNDARY + 1];
	struct view ct, all;
	struct parser *ps;
	long n;
	int rc = -1;

	response_reset(out);
	if (!content_type)
		return err_set(e, ERR_PROTOCOL,
			       "$batch response without a Content-Type");
	ct.p = content_type;
	ct.len = strlen(content_type);
	if (content_type_boundary(ct, bnd, e) < 0)
		return -1;
	all.p = body ? body : "";
	all.len = body ? len : 0;

	/* the part tables (32 KB) are filled as parts are found: not zeroed */
	ps = xmalloc(sizeof(*ps));
	memset(ps, 0, offsetof(struct parser, parts));
	ps->out = out;
	n = split_parts(all, bnd, ps->parts, ARRAY_SIZE(ps->parts), e);
	if (n < 0)
		goto out;
	for (long i = 0; i < n; i++)
		if (parse_part(ps, ps->parts[i], 0, e) < 0)
			goto out;
	rc = 0;
out:
	if (rc < 0)
		batch_response_release(out);
	free(ps);
	return rc;
}

const char *batch_fate_name(enum batch_fate fate)
{
	switch (fate) {
	case BATCH_ANSWERED:
		return "answered";
	case BATCH_ROLLED_BACK:
		return "rolled back";
	case BATCH_NOT_EXECUTED:
		return "not executed";
	case BATCH_UNANSWERED:
		return "unanswered";
	case BATCH_UNREPORTED_OK:
		return "succeeded unreported";
	case BATCH_UNATTRIBUTED:
		return "unattributed";
	}
	return "?";
}

/*
 * The operation index a Content-ID names ("<n>" or "n", n = index + 1),
 * or -1.
 */
static long cid_index(const char *cid)
{
	unsigned long v = 0;
	size_t len;

	if (!cid)
		return -1;
	len = strlen(cid);
	if (len >= 2 && cid[0] == '<' && cid[len - 1] == '>') {
		cid++;
		len -= 2;
	}
	if (len == 0 || len > 6)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)cid[i]))
			return -1;
		v = v * 10 + (unsigned long)(cid[i] - '0');
	}
	return v ? (long)v - 1 : -1;
}

static void set_result(struct batch_result *r, enum batch_fate fate,
		       const struct batch_answer *a)
{
	r->fate = fate;
	r->answer = a;
	r->status = a ? a->status : 0;
}

/* Change set ops[i .. j-1] failed with answer 'a'. */
static void failed_set(struct batch_result *out, size_t i, size_t j,
		       const struct batch_answer *a)
{
	long who = cid_index(a->content_id);

	for (size_t k = i; k < j; k++)
		set_result(&out[k], BATCH_ROLLED_BACK, a);
	if (who >= 0 && (size_t)who >= i && (size_t)who < j)
		set_result(&out[who], BATCH_ANSWERED, a);
}

/*
 * Change set ops[i .. j-1] answered by the change-set response
 * answers[k .. q-1].
 */
static int map_set(const struct batch_response *r, size_t k, size_t q, size_t i,
		   size_t j, struct batch_result *out, struct err *e)
{
	const struct batch_answer *fail = NULL;

	for (size_t t = k; t < q && !fail; t++)
		if (r->answers[t].status >= 400)
			fail = &r->answers[t];
	if (fail) {
		failed_set(out, i, j, fail);
		return 0;
	}
	if (q - k != j - i)
		return err_set(e, ERR_PROTOCOL,
			       "$batch response: %zu answers for a change set "
			       "of %zu operations",
			       q - k, j - i);
	for (size_t x = i; x < j; x++)
		out[x].fate = 0;
	for (size_t t = k; t < q; t++) {
		const struct batch_answer *a = &r->answers[t];
		long who = a->content_id ? cid_index(a->content_id)
					 : (long)(i + (t - k));

		if (who < 0 || (size_t)who < i || (size_t)who >= j ||
		    out[who].fate)
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: unknown or repeated "
				       "Content-ID '%s'",
				       a->content_id ? a->content_id : "");
		set_result(&out[who], BATCH_ANSWERED, a);
	}
	return 0;
}

/* The first operation of the unit (change set or single op) holding 'i'. */
static size_t unit_start(const struct batch *b, size_t i)
{
	unsigned cs = b->ops[i].changeset;

	while (cs && i > 0 && b->ops[i - 1].changeset == cs)
		i--;
	return i;
}

static size_t unit_end(const struct batch *b, size_t i)
{
	unsigned cs = b->ops[i].changeset;

	if (!cs)
		return i + 1;
	while (i < b->n && b->ops[i].changeset == cs)
		i++;
	return i;
}

/*
 * A lone failure that names no operation, answering a batch of more than
 * one unit: the answer of a stop-on-error batch holding only the failure
 * (docs/fidelity.md), from a server that sends no Content-ID. It may be
 * for any unit.
 */
static bool lone_anonymous_failure(const struct batch *b,
				   const struct batch_response *r)
{
	size_t units = 0;

	for (size_t i = 0; i < b->n; i = unit_end(b, i))
		units++;
	if (units < 2 || r->n == 0)
		return false;
	for (size_t k = 0; k < r->n; k++) {
		const struct batch_answer *a = &r->answers[k];

		if (a->content_id)
			return false;
		/* one top-level answer, or one change-set response */
		if (k &&
		    (!a->changeset || a->changeset != r->answers[0].changeset))
			return false;
	}
	for (size_t k = 0; k < r->n; k++)
		if (r->answers[k].status >= 400)
			return true;
	return false;
}

int batch_map(const struct batch *b, const struct batch_response *r,
	      struct batch_result *out, struct err *e)
{
	size_t cursor = 0, k = 0;
	bool last_failed = false;

	if (lone_anonymous_failure(b, r)) {
		for (size_t i = 0; i < b->n; i++)
			set_result(&out[i], BATCH_UNATTRIBUTED, NULL);
		return 0;
	}

	while (k < r->n) {
		const struct batch_answer *a = &r->answers[k];
		const char *cid = NULL;
		bool failed = false;
		size_t q = k + 1, i, j;

		/* a change-set response is one group of answers */
		if (a->changeset)
			while (q < r->n &&
			       r->answers[q].changeset == a->changeset)
				q++;
		for (size_t t = k; t < q; t++) {
			if (!cid)
				cid = r->answers[t].content_id;
			if (r->answers[t].status >= 400)
				failed = true;
		}
		if (cid) {
			long who = cid_index(cid);

			if (who < 0 || (size_t)who >= b->n)
				return err_set(e, ERR_PROTOCOL,
					       "$batch response: Content-ID "
					       "'%s' names no operation",
					       cid);
			i = unit_start(b, (size_t)who);
		} else {
			i = cursor;
		}
		if (i >= b->n)
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: %zu answers for %zu "
				       "operations",
				       r->n, b->n);
		if (i < cursor)
			return err_set(e, ERR_PROTOCOL,
				       "$batch response: answer %zu is out of "
				       "order or repeated",
				       k + 1);
		if (i > cursor) {
			/* a stop-on-error answer holds the failure only
			 */
			if (q != r->n || !failed)
				return err_set(e, ERR_PROTOCOL,
					       "$batch response: no answer for "
					       "operation %zu",
					       cursor + 1);
			for (; cursor < i; cursor++)
				set_result(&out[cursor], BATCH_UNREPORTED_OK,
					   NULL);
		}
		j = unit_end(b, i);
		if (!b->ops[i].changeset) {
			if (a->changeset)
				return err_set(e, ERR_PROTOCOL,
					       "$batch response: change-set "
					       "answer for operation %zu",
					       i + 1);
			set_result(&out[i], BATCH_ANSWERED, a);
		} else if (!a->changeset) {
			/* OData: a failed change set gets a single answer */
			if (!failed && j - i != 1)
				return err_set(e, ERR_PROTOCOL,
					       "$batch response: one success "
					       "for a change set of %zu "
					       "operations",
					       j - i);
			if (failed)
				failed_set(out, i, j, a);
			else
				set_result(&out[i], BATCH_ANSWERED, a);
		} else if (map_set(r, k, q, i, j, out, e) < 0) {
			return -1;
		}
		last_failed = failed;
		cursor = j;
		k = q;
	}
	for (; cursor < b->n; cursor++)
		set_result(&out[cursor],
			   last_failed ? BATCH_NOT_EXECUTED : BATCH_UNANSWERED,
			   NULL);
	return 0;
}
