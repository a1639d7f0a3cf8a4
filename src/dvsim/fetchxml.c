/*
 * fetchxml.c: a FetchXML subset (fetchxml.h) with a small XML reader of
 * its own: elements, attributes in single or double quotes, self-closing
 * tags, text, the five predefined entities; comments and <?...?> skipped.
 */
#include "compat.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dvsim/fetchxml.h"
#include "dvsim/org.h"

#include "banned.h"

#define MAX_ATTRS 16

struct node {
	char *name;
	char *an[MAX_ATTRS], *av[MAX_ATTRS];
	size_t na;
	char *text;
	struct node **kids;
	size_t nkids;
};

enum op { OP_EQ, OP_NE, OP_NULL, OP_NOT_NULL, OP_IN, OP_NOT_IN };

struct cond {
	char *col;
	enum op op;
	char **vals;
	size_t nvals;
};

struct filt {
	bool any; /* type="or" */
	struct cond *conds;
	size_t nconds;
	struct filt *subs;
	size_t nsubs;
};

struct dv_fetch {
	long count, page;
	char **cols;
	size_t ncols;
	struct filt top;
};

struct rd {
	const char *p;
	char *msg;
	size_t msglen;
	bool bad;
};

ATTR_PRINTF(2, 3)
static void bad(struct rd *r, const char *fmt, ...)
{
	va_list ap;

	if (r->bad)
		return;
	r->bad = true;
	va_start(ap, fmt);
	vsnprintf(r->msg, r->msglen, fmt, ap);
	va_end(ap);
}

static void skip_ws(struct rd *r)
{
	while (isspace((unsigned char)*r->p))
		r->p++;
}

/* The text of [s, s+len) with the predefined entities replaced. */
static char *unescape(const char *s, size_t len)
{
	static const struct {
		const char *e;
		char c;
	} ents[] = {{"&lt;", '<'},
		    {"&gt;", '>'},
		    {"&amp;", '&'},
		    {"&quot;", '"'},
		    {"&apos;", '\''}};
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len;) {
		bool done = false;

		for (size_t k = 0; s[i] == '&' && k < ARRAY_SIZE(ents); k++) {
			size_t el = strlen(ents[k].e);

			if (i + el <= len && !strncmp(s + i, ents[k].e, el)) {
				*o++ = ents[k].c;
				i += el;
				done = true;
				break;
			}
		}
		if (!done)
			*o++ = s[i++];
	}
	*o = '\0';
	return out;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	free(n->name);
	for (size_t i = 0; i < n->na; i++) {
		free(n->an[i]);
		free(n->av[i]);
	}
	free(n->text);
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n);
}

/* Comments, <?...?> and blanks before the next tag or text. */
static void skip_misc(struct rd *r)
{
	for (;;) {
		skip_ws(r);
		if (!strncmp(r->p, "<!--", 4)) {
			const char *e = strstr(r->p, "-->");

			r->p = e ? e + 3 : r->p + strlen(r->p);
		} else if (!strncmp(r->p, "<?", 2)) {
			const char *e = strstr(r->p, "?>");

			r->p = e ? e + 2 : r->p + strlen(r->p);
		} else {
			return;
		}
	}
}

static size_t name_len(const char *p)
{
	size_t n = 0;

	while (isalnum((unsigned char)p[n]) || p[n] == '-' || p[n] == '_' ||
	       p[n] == ':' || p[n] == '.')
		n++;
	return n;
}

static struct node *element(struct rd *r, int depth)
{
	struct node *n;
	size_t len;

	skip_misc(r);
	if (*r->p != '<' || depth > 32) {
		bad(r, "Invalid XML.");
		return NULL;
	}
	r->p++;
	len = name_len(r->p);
	if (!len) {
		bad(r, "Invalid XML.");
		return NULL;
	}
	n = xcalloc(1, sizeof(*n));
	n->name = xstrndup(r->p, len);
	r->p += len;
	for (;;) {
		char q;
		const char *v;

		skip_ws(r);
		if (*r->p == '/' && r->p[1] == '>') {
			r->p += 2;
			return n;
		}
		if (*r->p == '>') {
			r->p++;
			break;
		}
		len = name_len(r->p);
		if (!len || n->na == MAX_ATTRS) {
			bad(r, "Invalid XML.");
			node_free(n);
			return NULL;
		}
		n->an[n->na] = xstrndup(r->p, len);
		r->p += len;
		skip_ws(r);
		if (*r->p != '=') {
			free(n->an[n->na]);
			bad(r, "Invalid XML.");
			node_free(n);
			return NULL;
		}
		r->p++;
		skip_ws(r);
		q = *r->p;
		if (q != '"' && q != '\'') {
			free(n->an[n->na]);
			bad(r, "Invalid XML.");
			node_free(n);
			return NULL;
		}
		v = strchr(r->p + 1, q);
		if (!v) {
			free(n->an[n->na]);
			bad(r, "Invalid XML.");
			node_free(n);
			return NULL;
		}
		n->av[n->na++] = unescape(r->p + 1, (size_t)(v - r->p - 1));
		r->p = v + 1;
	}
	/* content: text or child elements, then </name> */
	for (;;) {
		const char *t = r->p;

		while (*r->p && *r->p != '<')
			r->p++;
		if (r->p > t) {
			char *txt = unescape(t, (size_t)(r->p - t));

			if (!n->text)
				n->text = txt;
			else
				free(txt);
		}
		if (!*r->p) {
			bad(r, "Invalid XML: '%s' is not closed.", n->name);
			node_free(n);
			return NULL;
		}
		if (!strncmp(r->p, "<!--", 4) || !strncmp(r->p, "<?", 2)) {
			skip_misc(r);
			continue;
		}
		if (r->p[1] == '/') {
			r->p += 2;
			len = name_len(r->p);
			if (len != strlen(n->name) ||
			    strncmp(r->p, n->name, len)) {
				bad(r, "Invalid XML: '%s' is not closed.",
				    n->name);
				node_free(n);
				return NULL;
			}
			r->p += len;
			skip_ws(r);
			if (*r->p != '>') {
				bad(r, "Invalid XML.");
				node_free(n);
				return NULL;
			}
			r->p++;
			return n;
		}
		{
			struct node *k = element(r, depth + 1);

			if (!k) {
				node_free(n);
				return NULL;
			}
			n->kids = xrealloc(n->kids,
					   (n->nkids + 1) * sizeof(*n->kids));
			n->kids[n->nkids++] = k;
		}
	}
}

static const char *attr(const struct node *n, const char *name)
{
	for (size_t i = 0; i < n->na; i++)
		if (!strcmp(n->an[i], name))
			return n->av[i];
	return NULL;
}

/* The row column of a FetchXML attribute name, or NULL. */
static char *column(const struct dv_entity *ent, const char *name)
{
	char look[160];

	snprintf(look, sizeof(look), "_%s_value", name);
	if (dv_entity_attr(ent, look))
		return xstrdup(look);
	if (dv_entity_attr(ent, name))
		return xstrdup(name);
	return NULL;
}

static void filt_release(struct filt *f)
{
	for (size_t i = 0; i < f->nconds; i++) {
		free(f->conds[i].col);
		for (size_t j = 0; j < f->conds[i].nvals; j++)
			free(f->conds[i].vals[j]);
		free(f->conds[i].vals);
	}
	free(f->conds);
	for (size_t i = 0; i < f->nsubs; i++)
		filt_release(&f->subs[i]);
	free(f->subs);
}

static void add_val(struct cond *c, const char *v)
{
	c->vals = xrealloc(c->vals, (c->nvals + 1) * sizeof(*c->vals));
	c->vals[c->nvals++] = xstrdup(v ? v : "");
}

static int load_filter(struct rd *r, const struct dv_entity *ent,
		       const struct node *n, struct filt *f)
{
	static const struct {
		const char *name;
		enum op op;
	} ops[] = {{"eq", OP_EQ},
		   {"ne", OP_NE},
		   {"neq", OP_NE},
		   {"null", OP_NULL},
		   {"not-null", OP_NOT_NULL},
		   {"in", OP_IN},
		   {"not-in", OP_NOT_IN}};
	const char *type = attr(n, "type");

	f->any = type && !strcmp(type, "or");
	if (type && strcmp(type, "or") && strcmp(type, "and")) {
		bad(r, "Invalid filter type '%s'.", type);
		return -1;
	}
	for (size_t i = 0; i < n->nkids; i++) {
		const struct node *k = n->kids[i];

		if (!strcmp(k->name, "filter")) {
			f->subs = xrealloc(f->subs,
					   (f->nsubs + 1) * sizeof(*f->subs));
			memset(&f->subs[f->nsubs], 0, sizeof(*f->subs));
			if (load_filter(r, ent, k, &f->subs[f->nsubs++]) < 0)
				return -1;
		} else if (!strcmp(k->name, "condition")) {
			const char *a = attr(k, "attribute"),
				   *o = attr(k, "operator");
			struct cond c = {0};
			size_t j;

			if (!a || !o) {
				bad(r, "A condition needs attribute and "
				       "operator.");
				return -1;
			}
			for (j = 0; j < ARRAY_SIZE(ops); j++)
				if (!strcmp(o, ops[j].name))
					break;
			if (j == ARRAY_SIZE(ops)) {
				bad(r,
				    "dvsim does not play the FetchXML "
				    "operator '%s' (docs/fidelity.md).",
				    o);
				return -1;
			}
			c.op = ops[j].op;
			c.col = column(ent, a);
			if (!c.col) {
				bad(r,
				    "'%s' entity doesn't contain attribute "
				    "with Name = '%s'.",
				    ent->logical, a);
				return -1;
			}
			if (attr(k, "value"))
				add_val(&c, attr(k, "value"));
			for (j = 0; j < k->nkids; j++)
				if (!strcmp(k->kids[j]->name, "value"))
					add_val(&c, k->kids[j]->text);
			f->conds = xrealloc(f->conds, (f->nconds + 1) *
							  sizeof(*f->conds));
			f->conds[f->nconds++] = c;
			if ((c.op == OP_EQ || c.op == OP_NE) && c.nvals != 1) {
				bad(r,
				    "The condition on '%s' needs one "
				    "value.",
				    a);
				return -1;
			}
		} else {
			bad(r, "dvsim does not play '%s' in a filter.",
			    k->name);
			return -1;
		}
	}
	return 0;
}

static long num_attr(const struct node *n, const char *name, long def)
{
	const char *v = attr(n, name);
	char *end;
	long x;

	if (!v)
		return def;
	x = strtol(v, &end, 10);
	return *end || end == v || x < 1 ? -1 : x;
}

struct dv_fetch *dv_fetch_parse(const struct dv_entity *ent, const char *xml,
				char *msg, size_t msglen)
{
	struct rd r = {xml, msg, msglen, false};
	struct node *root = element(&r, 0), *en = NULL;
	struct dv_fetch *f = NULL;

	if (!root)
		return NULL;
	if (strcmp(root->name, "fetch")) {
		bad(&r, "The root element of FetchXml must be 'fetch'.");
		goto out;
	}
	for (size_t i = 0; i < root->nkids; i++)
		if (!strcmp(root->kids[i]->name, "entity"))
			en = root->kids[i];
	if (!en || !attr(en, "name")) {
		bad(&r, "FetchXml has no entity.");
		goto out;
	}
	if (strcmp(attr(en, "name"), ent->logical)) {
		bad(&r,
		    "The entity name specified in FetchXml '%s' does not "
		    "match the entity name in the EntitySetName '%s'.",
		    attr(en, "name"), ent->logical);
		goto out;
	}
	f = xcalloc(1, sizeof(*f));
	f->count = num_attr(root, "count", 5000);
	f->page = num_attr(root, "page", 1);
	if (f->count < 0 || f->count > 5000 || f->page < 0) {
		bad(&r, "Invalid count or page in FetchXml.");
		goto out;
	}
	for (size_t i = 0; i < en->nkids && !r.bad; i++) {
		const struct node *k = en->kids[i];

		if (!strcmp(k->name, "attribute")) {
			char *col = attr(k, "name")
					? column(ent, attr(k, "name"))
					: NULL;

			if (!col) {
				bad(&r,
				    "'%s' entity doesn't contain attribute "
				    "with Name = '%s'.",
				    ent->logical,
				    attr(k, "name") ? attr(k, "name") : "");
				break;
			}
			f->cols = xrealloc(f->cols,
					   (f->ncols + 1) * sizeof(*f->cols));
			f->cols[f->ncols++] = col;
		} else if (!strcmp(k->name, "filter")) {
			struct filt sub = {0};

			if (load_filter(&r, ent, k, &sub) < 0) {
				filt_release(&sub);
				break;
			}
			f->top.subs =
			    xrealloc(f->top.subs,
				     (f->top.nsubs + 1) * sizeof(*f->top.subs));
			f->top.subs[f->top.nsubs++] = sub;
		} else if (!strcmp(k->name, "all-attributes") ||
			   !strcmp(k->name, "order")) {
			continue;
		} else {
			bad(&r,
			    "dvsim does not play '%s' in FetchXml "
			    "(docs/fidelity.md).",
			    k->name);
		}
	}
out:
	node_free(root);
	if (r.bad) {
		dv_fetch_free(f);
		return NULL;
	}
	return f;
}

void dv_fetch_free(struct dv_fetch *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->ncols; i++)
		free(f->cols[i]);
	free(f->cols);
	filt_release(&f->top);
	free(f);
}

/* Whether row value 'v' equals FetchXML value text 's'. */
static bool val_eq(const cJSON *v, const char *s)
{
	if (cJSON_IsString(v)) {
		const char *a = v->valuestring, *b = s;
		size_t la, lb;

		/* GUIDs may come in braces */
		if (*b == '{') {
			b++;
			lb = strlen(b);
			if (lb && b[lb - 1] == '}')
				lb--;
		} else {
			lb = strlen(b);
		}
		la = strlen(a);
		return la == lb && !strncasecmp(a, b, la);
	}
	if (cJSON_IsBool(v))
		return (cJSON_IsTrue(v) ? 1 : 0) ==
		       (!strcasecmp(s, "true") || !strcmp(s, "1"));
	if (cJSON_IsNumber(v)) {
		char *end;
		double d = strtod(s, &end);

		return *s && !*end && d == v->valuedouble;
	}
	return false;
}

static bool cond_match(const struct cond *c, const cJSON *row)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, c->col);
	bool null = !v || cJSON_IsNull(v), any = false;

	switch (c->op) {
	case OP_NULL:
		return null;
	case OP_NOT_NULL:
		return !null;
	case OP_EQ:
		return !null && val_eq(v, c->vals[0]);
	case OP_NE: /* SQL: a null is neither equal nor unequal */
		return !null && !val_eq(v, c->vals[0]);
	case OP_IN:
	case OP_NOT_IN:
		for (size_t i = 0; !null && i < c->nvals && !any; i++)
			any = val_eq(v, c->vals[i]);
		return !null && (c->op == OP_IN ? any : !any);
	}
	return false;
}

static bool filt_match(const struct filt *f, const cJSON *row)
{
	size_t n = f->nconds + f->nsubs;

	if (!n)
		return true;
	for (size_t i = 0; i < f->nconds; i++) {
		bool m = cond_match(&f->conds[i], row);

		if (f->any && m)
			return true;
		if (!f->any && !m)
			return false;
	}
	for (size_t i = 0; i < f->nsubs; i++) {
		bool m = filt_match(&f->subs[i], row);

		if (f->any && m)
			return true;
		if (!f->any && !m)
			return false;
	}
	return !f->any;
}

bool dv_fetch_match(const struct dv_fetch *f, const cJSON *row)
{
	return filt_match(&f->top, row);
}

const char *const *dv_fetch_columns(const struct dv_fetch *f, size_t *n)
{
	*n = f->ncols;
	return (const char *const *)f->cols;
}

long dv_fetch_count(const struct dv_fetch *f)
{
	return f->count;
}

long dv_fetch_page(const struct dv_fetch *f)
{
	return f->page;
}
