#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "batch.h"
#include "variant.h"

#include "banned.h"

#define API_PREFIX "/api/data/v9.2/"

struct span {
	const char *p;
	size_t len;
};

static void set_err(char *errmsg, size_t errlen, const char *msg)
{
	if (errmsg && errlen)
		snprintf(errmsg, errlen, "%s", msg);
}

char *batch_boundary(const char *ct)
{
	const char *p = ct;

	if (!ct)
		return NULL;
	while (*p) {
		const char *semi = strchr(p, ';');

		p = semi ? semi + 1 : p + strlen(p);
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "boundary=", 9))
			continue;
		p += 9;
		if (*p == '"') {
			const char *q = strchr(p + 1, '"');

			if (!q || q == p + 1 || q - p - 1 > 70)
				return NULL;
			return xstrndup(p + 1, (size_t)(q - p - 1));
		} else {
			size_t n = strcspn(p, "; \t\r\n");

			if (!n || n > 70)
				return NULL;
			return xstrndup(p, n);
		}
	}
	return NULL;
}

const char *batch_resource_path(const char *url)
{
	size_t qpos = strcspn(url, "?");
	const char *p = strstr(url, API_PREFIX);

	if (!p || (size_t)(p - url) > qpos)
		return NULL;
	return p + strlen(API_PREFIX);
}

static bool is_multipart_mixed(const char *ct)
{
	return ct && !strncasecmp(ct, "multipart/mixed", 15) &&
	       (ct[15] == '\0' || ct[15] == ';' || ct[15] == ' ');
}

/* The next delimiter line "--boundary" at or after 'from', or NULL. */
static const char *next_delim(const char *begin, const char *from,
			      const char *end, const char *bnd, size_t blen)
{
	while (from < end) {
		const char *c = from, *after;

		while (c + 2 + blen <= end) {
			c = memchr(c, '-', (size_t)(end - c));
			if (!c || c + 2 + blen > end)
				return NULL;
			if (c[1] == '-' && !memcmp(c + 2, bnd, blen))
				break;
			c++;
		}
		if (c + 2 + blen > end)
			return NULL;
		after = c + 2 + blen;
		if ((c == begin || c[-1] == '\n') &&
		    (after == end || *after == '-' || *after == '\r' ||
		     *after == '\n' || *after == ' ' || *after == '\t'))
			return c;
		from = c + 1;
	}
	return NULL;
}

/* Split a multipart body into its parts' contents. */
static int split(const char *body, size_t len, const char *bnd,
		 struct span **parts, size_t *nparts, char *errmsg,
		 size_t errlen)
{
	const char *end = body + len, *d;
	size_t blen = strlen(bnd);

	*parts = NULL;
	*nparts = 0;
	d = next_delim(body, body, end, bnd, blen);
	if (!d) {
		set_err(errmsg, errlen, "the boundary delimiter was not found");
		return -1;
	}
	for (;;) {
		const char *q = d + 2 + blen, *nd, *ce;

		if (end - q >= 2 && q[0] == '-' && q[1] == '-')
			return 0;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && *q == '\r')
			q++;
		if (q >= end || *q != '\n') {
			set_err(errmsg, errlen,
				"a boundary delimiter is not followed by a "
				"line end");
			goto fail;
		}
		q++;
		nd = next_delim(body, q, end, bnd, blen);
		if (!nd) {
			set_err(errmsg, errlen,
				"the closing boundary delimiter is missing");
			goto fail;
		}
		ce = nd;
		if (ce > q && ce[-1] == '\n') {
			ce--;
			if (ce > q && ce[-1] == '\r')
				ce--;
		}
		if (*nparts >= 4 * BATCH_MAX_OPS) {
			set_err(errmsg, errlen, "too many parts");
			goto fail;
		}
		*parts = xrealloc(*parts, (*nparts + 1) * sizeof(**parts));
		(*parts)[*nparts].p = q;
		(*parts)[*nparts].len = (size_t)(ce - q);
		(*nparts)++;
		d = nd;
	}
fail:
	free(*parts);
	*parts = NULL;
	*nparts = 0;
	return -1;
}

/* One line from *p (without its CR LF); false at the end of the data. */
static bool get_line(const char **p, const char *end, struct span *line)
{
	const char *nl;

	if (*p >= end)
		return false;
	nl = memchr(*p, '\n', (size_t)(end - *p));
	line->p = *p;
	line->len = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*p = nl ? nl + 1 : end;
	if (line->len && line->p[line->len - 1] == '\r')
		line->len--;
	return true;
}

static void free_headers(struct dv_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)h[i].name);
		free((char *)h[i].value);
	}
	free(h);
}

/*
 * Header lines up to a blank line. 'need_blank': the blank line must be
 * there (MIME part headers); otherwise the end of the data will do.
 */
static int parse_headers(const char **p, const char *end, struct dv_header **h,
			 size_t *n, bool need_blank)
{
	struct span line;

	*h = NULL;
	*n = 0;
	while (get_line(p, end, &line)) {
		const char *colon, *v, *ve;

		if (!line.len)
			return 0;
		colon = memchr(line.p, ':', line.len);
		if (!colon || colon == line.p || *n >= 100)
			goto fail;
		for (const char *c = line.p; c < colon; c++)
			if (*c == ' ' || *c == '\t' || (unsigned char)*c < 33)
				goto fail;
		v = colon + 1;
		ve = line.p + line.len;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		*h = xrealloc(*h, (*n + 1) * sizeof(**h));
		(*h)[*n].name = xstrndup(line.p, (size_t)(colon - line.p));
		(*h)[*n].value = xstrndup(v, (size_t)(ve - v));
		(*n)++;
	}
	if (!need_blank)
		return 0;
fail:
	free_headers(*h, *n);
	*h = NULL;
	*n = 0;
	return -1;
}

static const char *hdr_get(const struct dv_header *h, size_t n,
			   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(h[i].name, name))
			return h[i].value;
	return NULL;
}

static void op_release(struct batch_op *op)
{
	free(op->method);
	free(op->url);
	free_headers(op->headers, op->nheaders);
	free(op->body);
	free(op->content_id);
}

void batch_release(struct batch *b)
{
	for (size_t i = 0; i < b->nops; i++)
		op_release(&b->ops[i]);
	free(b->ops);
	b->ops = NULL;
	b->nops = 0;
	b->nchangesets = 0;
}

/* The last space in [p, end), or NULL. */
static const char *last_space(const char *p, const char *end)
{
	while (end > p)
		if (*--end == ' ')
			return end;
	return NULL;
}

static enum batch_parse_result parse_request(struct batch *b, struct span s,
					     const struct dv_header *mh,
					     size_t nmh, int changeset,
					     char *errmsg, size_t errlen)
{
	const char *p = s.p, *end = s.p + s.len, *sp1, *sp2, *cid;
	struct batch_op op = {0};
	struct span line;

	/* tolerate blank lines before the request line */
	do {
		if (!get_line(&p, end, &line)) {
			set_err(errmsg, errlen, "a part holds no request line");
			return BATCH_PARSE_MALFORMED;
		}
	} while (!line.len);
	/*
	 * The URL is what lies between the first and the last space: the
	 * service's OData reader takes it so, as a URL may hold a space a
	 * client left unencoded ("$orderby=name desc").
	 */
	sp1 = memchr(line.p, ' ', line.len);
	sp2 = sp1 ? last_space(sp1 + 1, line.p + line.len) : NULL;
	if (!sp1 || !sp2 || sp1 == line.p || sp2 == sp1 + 1 ||
	    line.len - (size_t)(sp2 + 1 - line.p) < 5 ||
	    memcmp(sp2 + 1, "HTTP/", 5)) {
		set_err(errmsg, errlen,
			"a part's request line is not 'METHOD URL HTTP/1.1'");
		return BATCH_PARSE_MALFORMED;
	}
	for (const char *c = line.p; c < sp1; c++)
		if (!isupper((unsigned char)*c)) {
			set_err(errmsg, errlen, "a part's method is not valid");
			return BATCH_PARSE_MALFORMED;
		}
	if (parse_headers(&p, end, &op.headers, &op.nheaders, false) < 0) {
		set_err(errmsg, errlen,
			"a part's request headers are malformed");
		return BATCH_PARSE_MALFORMED;
	}
	op.method = xstrndup(line.p, (size_t)(sp1 - line.p));
	op.url = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	/* the body, without the line ends that precede the next delimiter */
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	/* a copy of every byte: bodies may hold NULs */
	op.body_len = (size_t)(end - p);
	op.body = xmalloc(op.body_len + 1);
	memcpy(op.body, p, op.body_len);
	op.body[op.body_len] = '\0';
	cid = hdr_get(mh, nmh, "Content-ID");
	if (!cid)
		cid = hdr_get(op.headers, op.nheaders, "Content-ID");
	op.content_id = cid ? xstrdup(cid) : NULL;
	op.changeset = changeset;
	if (b->nops >= BATCH_MAX_OPS) {
		op_release(&op);
		set_err(errmsg, errlen,
			"The number of requests in the batch exceeded the "
			"limit of 1000.");
		return BATCH_PARSE_TOO_MANY;
	}
	b->ops = xrealloc(b->ops, (b->nops + 1) * sizeof(*b->ops));
	b->ops[b->nops++] = op;
	return BATCH_PARSE_OK;
}

static enum batch_parse_result parse_parts(struct batch *b, const char *body,
					   size_t len, const char *bnd,
					   int changeset, char *errmsg,
					   size_t errlen)
{
	enum batch_parse_result r = BATCH_PARSE_OK;
	struct span *parts;
	size_t nparts;

	if (split(body, len, bnd, &parts, &nparts, errmsg, errlen) < 0)
		return BATCH_PARSE_MALFORMED;
	for (size_t i = 0; i < nparts && r == BATCH_PARSE_OK; i++) {
		const char *p = parts[i].p, *end = p + parts[i].len, *ct;
		struct dv_header *h;
		size_t nh;

		if (parse_headers(&p, end, &h, &nh, true) < 0) {
			set_err(errmsg, errlen,
				"a part's MIME headers are malformed");
			r = BATCH_PARSE_MALFORMED;
			break;
		}
		ct = hdr_get(h, nh, "Content-Type");
		if (is_multipart_mixed(ct)) {
			char *cb = batch_boundary(ct);

			if (changeset >= 0) {
				set_err(errmsg, errlen,
					"change sets cannot be nested");
				r = BATCH_PARSE_MALFORMED;
			} else if (!cb) {
				set_err(errmsg, errlen,
					"a change set has no boundary");
				r = BATCH_PARSE_MALFORMED;
			} else {
				r = parse_parts(b, p, (size_t)(end - p), cb,
						(int)b->nchangesets++, errmsg,
						errlen);
			}
			free(cb);
		} else if (!ct || strncasecmp(ct, "application/http", 16)) {
			set_err(
			    errmsg, errlen,
			    "a part's Content-Type is not application/http");
			r = BATCH_PARSE_MALFORMED;
		} else {
			r = parse_request(b,
					  (struct span){p, (size_t)(end - p)},
					  h, nh, changeset, errmsg, errlen);
		}
		free_headers(h, nh);
	}
	free(parts);
	return r;
}

enum batch_parse_result batch_parse(struct batch *b, const char *content_type,
				    const char *body, size_t len, char *errmsg,
				    size_t errlen)
{
	enum batch_parse_result r;
	char *bnd;

	memset(b, 0, sizeof(*b));
	if (!is_multipart_mixed(content_type)) {
		set_err(errmsg, errlen,
			"The Content-Type of a $batch request must be "
			"multipart/mixed with a boundary.");
		return BATCH_PARSE_MALFORMED;
	}
	bnd = batch_boundary(content_type);
	if (!bnd) {
		set_err(
		    errmsg, errlen,
		    "The Content-Type of a $batch request has no boundary.");
		return BATCH_PARSE_MALFORMED;
	}
	r = parse_parts(b, body, len, bnd, -1, errmsg, errlen);
	free(bnd);
	if (r == BATCH_PARSE_OK && !b->nops) {
		set_err(errmsg, errlen, "The $batch request holds no request.");
		r = BATCH_PARSE_MALFORMED;
	}
	if (r != BATCH_PARSE_OK)
		batch_release(b);
	return r;
}

/* Execution ---------------------------------------------------------- */

const char *batch_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	}
	return "Unknown";
}

static unsigned long long splitmix(unsigned long long *x)
{
	unsigned long long z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void make_guid(unsigned long long *state, char *out, size_t len)
{
	unsigned long long a = splitmix(state), b = splitmix(state);

	snprintf(out, len, "%08llx-%04llx-%04llx-%04llx-%012llx", a >> 32,
		 (a >> 16) & 0xffff, a & 0xffff, b >> 48,
		 b & 0xffffffffffffULL);
}

struct ref {
	const char *id;
	char *path; /* entity path, e.g. "accounts(<guid>)" */
};

struct run {
	const struct batch *b;
	const struct batch_opts *o;
	const struct batch_exec *x;
	struct batch_result *results;
	struct ref *refs;
	size_t nrefs;
};

static void clear_refs(struct run *r)
{
	for (size_t i = 0; i < r->nrefs; i++)
		free(r->refs[i].path);
	r->nrefs = 0;
}

static const struct ref *find_ref(const struct run *r, const char *id,
				  size_t len)
{
	for (size_t i = 0; i < r->nrefs; i++)
		if (strlen(r->refs[i].id) == len &&
		    !memcmp(r->refs[i].id, id, len))
			return &r->refs[i];
	return NULL;
}

/* "$1/rest" -> "<path of 1>/rest"; NULL when "$1" is unknown. */
static char *expand_ref(const struct run *r, const char *s, size_t *reflen)
{
	size_t n = strcspn(s + 1, "/?");
	const struct ref *ref = find_ref(r, s + 1, n);
	struct buf out = BUF_INIT(BUF_MAX_SMALL);

	*reflen = n + 1;
	if (!ref)
		return NULL;
	buf_addstr(&out, ref->path);
	buf_addstr(&out, s + 1 + n);
	return buf_detach(&out, NULL);
}

/* Replace "$n" references in @odata.bind / @odata.id values. */
static int expand_body_refs(const struct run *r, cJSON *node, char *bad,
			    size_t badlen, bool *changed)
{
	cJSON *it;

	cJSON_ArrayForEach(it, node)
	{
		const char *k = it->string;
		size_t klen = k ? strlen(k) : 0;

		if (cJSON_IsString(it) && k && it->valuestring[0] == '$' &&
		    ((klen >= 11 && !strcmp(k + klen - 11, "@odata.bind")) ||
		     !strcmp(k, "@odata.id"))) {
			size_t reflen;
			char *v = expand_ref(r, it->valuestring, &reflen),
			     *full;

			if (!v) {
				snprintf(bad, badlen, "%.*s", (int)reflen,
					 it->valuestring);
				return -1;
			}
			full = xmalloc(strlen(v) + 2);
			full[0] = '/';
			memcpy(full + 1, v, strlen(v) + 1);
			cJSON_SetValuestring(it, full);
			free(full);
			free(v);
			*changed = true;
		} else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
			if (expand_body_refs(r, it, bad, badlen, changed) < 0)
				return -1;
		}
	}
	return 0;
}

static void ref_error(struct dv_response *resp, const char *ref)
{
	dv_response_error(resp, 400, "0x80060888",
			  "Content-ID Reference: '%s' does not exist in the "
			  "batch context.",
			  ref);
}

/* The entity path a response names in OData-EntityId (or Location). */
static char *entity_path(const struct dv_response *resp)
{
	static const char *const names[] = {"OData-EntityId", "Location"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const char *p = resp->headers.ptr;
		size_t nlen = strlen(names[i]);

		while (*p) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);

			if (len > nlen + 1 && !strncasecmp(p, names[i], nlen) &&
			    p[nlen] == ':') {
				const char *v = p + nlen + 1, *path;
				char *val, *ret;

				while (*v == ' ')
					v++;
				val = xstrndup(v, len - (size_t)(v - p));
				val[strcspn(val, "\r")] = '\0';
				path = batch_resource_path(val);
				ret = xstrdup(path ? path : val);
				free(val);
				return ret;
			}
			p += len + (eol ? 1 : 0);
		}
	}
	return NULL;
}

/* Run one operation into 'resp'. */
static void run_op(struct run *r, size_t i, bool fail_it,
		   struct dv_response *resp)
{
	const struct batch_op *op = &r->b->ops[i];
	bool in_cs = op->changeset >= 0;
	char *url = NULL, *body = NULL;
	const char *path;
	struct dv_request req = {0};

	dv_response_reset(resp);
	if (in_cs && !strcmp(op->method, "GET")) {
		dv_response_error(resp, 400, "0x80060888",
				  "GET requests are not allowed in a change "
				  "set.");
		goto out;
	}
	if (op->url[0] == '$') {
		size_t reflen;

		url = expand_ref(r, op->url, &reflen);
		if (!url) {
			char ref[80];

			snprintf(ref, sizeof(ref), "%.*s", (int)reflen,
				 op->url);
			ref_error(resp, ref);
			goto out;
		}
	} else if ((path = batch_resource_path(op->url))) {
		url = xstrdup(path);
	} else if (op->url[0] != '/' && !strstr(op->url, "://")) {
		url = xstrdup(op->url);
	} else {
		dv_response_error(
		    resp, 404, "0x80060888",
		    "Resource not found for the segment '%.200s'.", op->url);
		goto out;
	}
	if (op->body_len && memchr(op->body, '$', op->body_len)) {
		cJSON *json = cJSON_ParseWithLength(op->body, op->body_len);
		bool changed = false;
		char bad[80];

		if (json &&
		    expand_body_refs(r, json, bad, sizeof(bad), &changed) < 0) {
			cJSON_Delete(json);
			ref_error(resp, bad);
			goto out;
		}
		if (changed) {
			char *t = cJSON_PrintUnformatted(json);

			body = t ? xstrdup(t) : NULL;
			cJSON_free(t);
		}
		cJSON_Delete(json);
	}
	if (fail_it) {
		dv_response_error(resp, 400, "0x80044331",
				  "A validation error occurred. The change set "
				  "was rolled back.");
		goto out;
	}
	req.method = op->method;
	req.url = url;
	req.headers = op->headers;
	req.nheaders = op->nheaders;
	req.body = body ? body : op->body;
	req.body_len = body ? strlen(body) : op->body_len;
	req.caller = r->o->caller;
	req.base_url = r->o->base_url;
	r->x->handle(r->x->ctx, &req, resp);
	if (!resp->status)
		dv_response_error(resp, 500, "0x80040216",
				  "An unexpected error occurred.");
out:
	r->results[i].status = resp->status;
	r->results[i].committed = resp->status < 400 && !in_cs;
	if (in_cs && op->content_id && resp->status < 400) {
		char *ep = entity_path(resp);

		if (ep) {
			r->refs = xrealloc(r->refs,
					   (r->nrefs + 1) * sizeof(*r->refs));
			r->refs[r->nrefs].id = op->content_id;
			r->refs[r->nrefs].path = ep;
			r->nrefs++;
		}
	}
	free(url);
	free(body);
}

static void add_part(struct buf *out, const char *bnd, const char *cid,
		     const struct dv_response *resp)
{
	buf_addf(out,
		 "--%s\r\nContent-Type: application/http\r\n"
		 "Content-Transfer-Encoding: binary\r\n",
		 bnd);
	/* no-content-id: answers carry none, only their order tells */
	if (cid && !dv_variant(DV_VAR_NO_CONTENT_ID))
		buf_addf(out, "Content-ID: %s\r\n", cid);
	buf_addf(out, "\r\nHTTP/1.1 %d %s\r\n", resp->status,
		 batch_reason(resp->status));
	buf_add(out, resp->headers.ptr, resp->headers.len);
	buf_addstr(out, "\r\n");
	buf_add(out, resp->body.ptr, resp->body.len);
	buf_addstr(out, "\r\n");
}

/*
 * Stop-on-error: the answer holds only the failing request's answer
 * (docs/fidelity.md); the batch-echo-ok variant keeps the answers of the
 * requests before it too.
 */
static void drop_earlier(struct buf *parts)
{
	if (!dv_variant(DV_VAR_BATCH_ECHO_OK))
		buf_reset(parts);
}

int batch_execute(const struct batch *b, const struct batch_opts *o,
		  const struct batch_exec *x, struct batch_result *results,
		  struct dv_response *out)
{
	struct run r = {.b = b, .o = o, .x = x, .results = results};
	unsigned long long st = o->nonce;
	char guid[40], bnd[64];
	struct dv_response resp;
	struct buf parts = BUF_INIT(BUF_MAX_BODY);
	bool failed = false;
	size_t i = 0;

	dv_response_init(&resp);
	make_guid(&st, guid, sizeof(guid));
	snprintf(bnd, sizeof(bnd), "batchresponse_%s", guid);
	memset(results, 0, b->nops * sizeof(*results));

	while (i < b->nops && !failed) {
		const struct batch_op *op = &b->ops[i];
		int cs = op->changeset;
		size_t j, fail_at = (size_t)-1;

		if (cs < 0) {
			run_op(&r, i, false, &resp);
			if (resp.status >= 400 && !o->continue_on_error) {
				failed = true;
				drop_earlier(&parts);
			}
			add_part(&parts, bnd, op->content_id, &resp);
			i++;
			continue;
		}

		/* a change set: all or nothing */
		for (j = i; j < b->nops && b->ops[j].changeset == cs; j++)
			;
		x->txn_begin(x->ctx);
		{
			struct buf cparts = BUF_INIT(BUF_MAX_BODY);
			char cbnd[64];

			make_guid(&st, guid, sizeof(guid));
			snprintf(cbnd, sizeof(cbnd), "changesetresponse_%s",
				 guid);
			for (size_t k = i; k < j; k++) {
				run_op(&r, k,
				       cs == o->fail_changeset && k == j - 1,
				       &resp);
				if (resp.status >= 400) {
					fail_at = k;
					break;
				}
				add_part(&cparts, cbnd, b->ops[k].content_id,
					 &resp);
			}
			if (fail_at != (size_t)-1) {
				x->txn_rollback(x->ctx);
				/*
				 * OData: a failed change set is answered by
				 * the single response of the failing request.
				 */
				if (!o->continue_on_error) {
					failed = true;
					drop_earlier(&parts);
				}
				add_part(&parts, bnd,
					 b->ops[fail_at].content_id, &resp);
			} else {
				x->txn_commit(x->ctx);
				for (size_t k = i; k < j; k++)
					results[k].committed = true;
				buf_addf(
				    &parts,
				    "--%s\r\nContent-Type: multipart/mixed; "
				    "boundary=%s\r\n\r\n",
				    bnd, cbnd);
				buf_add(&parts, cparts.ptr, cparts.len);
				buf_addf(&parts, "--%s--\r\n", cbnd);
			}
			buf_release(&cparts);
		}
		clear_refs(&r);
		i = j;
	}
	buf_addf(&parts, "--%s--\r\n", bnd);

	dv_response_reset(out);
	out->status = failed ? 400 : 200;
	buf_addf(&out->headers,
		 "Content-Type: multipart/mixed; boundary=%s\r\n"
		 "OData-Version: 4.0\r\n",
		 bnd);
	if (o->continue_on_error)
		buf_addstr(&out->headers,
			   "Preference-Applied: odata.continue-on-error\r\n");
	buf_add(&out->body, parts.ptr, parts.len);
	buf_release(&parts);
	clear_refs(&r);
	free(r.refs);
	dv_response_release(&resp);
	return out->status;
}
