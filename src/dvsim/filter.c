/*
 * filter.c: $filter parser (recursive descent) and evaluator. About 1,300
 * lines: the lexer, the parser, In()'s JSON values and the evaluator
 * share one syntax tree and its error texts.
 *
 * Errors carry the texts Microsoft.OData.Core produces for Dataverse
 * (syntax position, unknown property, incompatible operand types), all
 * sent with code 0x80060888 and status 400 by api.c.
 */
#include "compat.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "dvsim/filter.h"
#include "dvsim/org.h"

#include "banned.h"

#define MAX_DEPTH                                                              \
	100 /* nesting limit: no stack exhaustion on hostile input             \
	     */
#define MAX_IN_VALUES 5000

enum lkind { L_NULL, L_STR, L_NUM, L_BOOL, L_GUID, L_DATE };

struct lit {
	enum lkind k;
	char *s; /* L_STR, L_GUID (lower case), L_DATE */
	double n;
	bool b;
};

struct prop {
	const struct dv_attr *attr;  /* on the row's entity */
	const struct dv_nav *nav;    /* a navigation path "nav/attr" */
	const struct dv_attr *tattr; /* attribute of the nav's target */
};

struct operand {
	bool is_prop;
	struct prop p;
	struct lit l;
};

enum nkind { N_AND, N_OR, N_NOT, N_CMP, N_FUNC, N_IN, N_BOOLPROP, N_CONST };
enum op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE };
enum fn { FN_CONTAINS, FN_STARTSWITH, FN_ENDSWITH };

struct node {
	enum nkind k;
	int op; /* enum op or enum fn */
	struct node *a, *b;
	struct operand x, y;
	struct lit *list; /* N_IN */
	size_t nlist;
	const char **hint; /* N_IN: the values as strings, for the index */
	bool value;	   /* N_CONST */
};

struct dv_filter {
	struct node *root;
};

enum tok {
	T_EOF,
	T_LP,
	T_RP,
	T_COMMA,
	T_LB,
	T_RB,
	T_ASSIGN,
	T_SLASH,
	T_STR,
	T_NUM,
	T_GUID,
	T_DATE,
	T_IDENT,
	T_ALIAS,
};

struct parser {
	const struct dv_entity *ent;
	const char *s;
	size_t pos;   /* after the current token */
	size_t start; /* where the current token starts */
	enum tok t;
	char *text; /* T_STR (decoded), T_IDENT, T_ALIAS, T_DATE, T_GUID */
	double num;
	int depth;
	dv_filter_alias_fn alias;
	void *alias_ctx;
	char *msg;
	size_t msglen;
	bool failed;
};

static const char *const op_names[] = {"eq", "ne", "gt", "ge", "lt", "le"};
static const char *const op_kinds[] = {"Equal",	      "NotEqual",
				       "GreaterThan", "GreaterThanOrEqual",
				       "LessThan",    "LessThanOrEqual"};

static void fail(struct parser *p, const char *fmt, ...) ATTR_PRINTF(2, 3);
static void fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(p->msg, p->msglen, fmt, ap);
	va_end(ap);
}

static void syntax(struct parser *p)
{
	fail(p, "Syntax error at position %zu in '%s'.", p->start + 1, p->s);
}

static void lit_release(struct lit *l)
{
	free(l->s);
	l->s = NULL;
}

static void node_free(struct node *n)
{
	if (!n)
		return;
	node_free(n->a);
	node_free(n->b);
	lit_release(&n->x.l);
	lit_release(&n->y.l);
	for (size_t i = 0; i < n->nlist; i++)
		lit_release(&n->list[i]);
	free(n->list);
	free(n->hint);
	free(n);
}

/* ---- lexer ------------------------------------------------------------ */

static bool is_ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

static bool looks_guid(const char *s)
{
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return !is_ident(s[36]) && s[36] != '-';
}

static size_t date_len(const char *s)
{
	size_t i = 0;

	for (int k = 0; k < 10; k++)
		if ((k == 4 || k == 7) ? s[k] != '-'
				       : !isdigit((unsigned char)s[k]))
			return 0;
	i = 10;
	if (s[i] == 'T') {
		i++;
		while (isdigit((unsigned char)s[i]) || s[i] == ':' ||
		       s[i] == '.')
			i++;
		if (s[i] == 'Z') {
			i++;
		} else if ((s[i] == '+' || s[i] == '-') &&
			   isdigit((unsigned char)s[i + 1])) {
			i++;
			while (isdigit((unsigned char)s[i]) || s[i] == ':')
				i++;
		}
	}
	return i;
}

static void next(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->pos, n;

	free(p->text);
	p->text = NULL;
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')
		i++;
	p->start = i;
	switch (s[i]) {
	case '\0':
		p->t = T_EOF;
		p->pos = i;
		return;
	case '(':
		p->t = T_LP;
		p->pos = i + 1;
		return;
	case ')':
		p->t = T_RP;
		p->pos = i + 1;
		return;
	case ',':
		p->t = T_COMMA;
		p->pos = i + 1;
		return;
	case '[':
		p->t = T_LB;
		p->pos = i + 1;
		return;
	case ']':
		p->t = T_RB;
		p->pos = i + 1;
		return;
	case '=':
		p->t = T_ASSIGN;
		p->pos = i + 1;
		return;
	case '/':
		p->t = T_SLASH;
		p->pos = i + 1;
		return;
	case '\'': {
		struct buf b = BUF_INIT(BUF_MAX_SMALL);

		for (i++;; i++) {
			if (!s[i]) {
				buf_release(&b);
				fail(p,
				     "There is an unterminated string literal "
				     "at position %zu in '%s'.",
				     p->start + 1, s);
				p->t = T_EOF;
				p->pos = i;
				return;
			}
			if (s[i] == '\'') {
				if (s[i + 1] != '\'')
					break;
				i++;
			}
			if (buf_addch(&b, s[i]) < 0) {
				buf_release(&b);
				fail(p,
				     "The string literal at position %zu "
				     "is too long.",
				     p->start + 1);
				p->t = T_EOF;
				p->pos = i;
				return;
			}
		}
		p->text = buf_detach(&b, NULL);
		p->t = T_STR;
		p->pos = i + 1;
		return;
	}
	case '@':
		for (n = i + 1; is_ident(s[n]); n++)
			;
		p->t = T_ALIAS;
		p->text = xstrndup(s + i, n - i);
		p->pos = n;
		if (n == i + 1)
			syntax(p);
		return;
	default:
		break;
	}
	if (strlen(s + i) >= 36 && looks_guid(s + i)) {
		p->t = T_GUID;
		p->text = xstrndup(s + i, 36);
		dv_lower(p->text);
		p->pos = i + 36;
		return;
	}
	if ((n = date_len(s + i)) > 0) {
		p->t = T_DATE;
		p->text = xstrndup(s + i, n);
		p->pos = i + n;
		return;
	}
	if (isdigit((unsigned char)s[i]) ||
	    ((s[i] == '-' || s[i] == '+') &&
	     isdigit((unsigned char)s[i + 1]))) {
		char *end;

		p->num = strtod(s + i, &end);
		n = (size_t)(end - s);
		if (s[n] == 'L' || s[n] == 'l' || s[n] == 'M' || s[n] == 'm' ||
		    s[n] == 'D' || s[n] == 'd' || s[n] == 'F' || s[n] == 'f')
			n++;
		if (is_ident(s[n]) || !isfinite(p->num)) {
			syntax(p);
			p->t = T_EOF;
			p->pos = n;
			return;
		}
		p->t = T_NUM;
		p->pos = n;
		return;
	}
	if (is_ident_start(s[i])) {
		for (n = i; is_ident(s[n]); n++)
			;
		p->t = T_IDENT;
		p->text = xstrndup(s + i, n - i);
		p->pos = n;
		return;
	}
	syntax(p);
	p->t = T_EOF;
	p->pos = i;
}

static bool is_kw(const struct parser *p, const char *kw)
{
	return p->t == T_IDENT && !strcmp(p->text, kw);
}

static bool expect(struct parser *p, enum tok t)
{
	if (p->t != t) {
		syntax(p);
		return false;
	}
	next(p);
	return true;
}

/* ---- types --------------------------------------------------------------- */

static const char *edm_of_attr(const struct dv_attr *a)
{
	return dv_type_edm_name(a->type);
}

static const char *edm_of_lit(const struct lit *l)
{
	switch (l->k) {
	case L_NULL:
		return "null";
	case L_STR:
		return "Edm.String";
	case L_NUM:
		return floor(l->n) == l->n && fabs(l->n) < 2147483648.0
			   ? "Edm.Int32"
			   : "Edm.Decimal";
	case L_BOOL:
		return "Edm.Boolean";
	case L_GUID:
		return "Edm.Guid";
	case L_DATE:
		return "Edm.DateTimeOffset";
	}
	return "null";
}

static bool lit_fits(const struct dv_attr *a, const struct lit *l)
{
	if (l->k == L_NULL)
		return true;
	switch (a->type) {
	case DV_STR:
		return l->k == L_STR;
	case DV_INT:
	case DV_CHOICE:
	case DV_BIGINT:
		return l->k == L_NUM;
	case DV_BOOL:
		return l->k == L_BOOL;
	case DV_GUID:
	case DV_LOOKUP:
		return l->k == L_GUID;
	case DV_DATE:
		return l->k == L_DATE;
	}
	return false;
}

static const struct dv_attr *prop_attr(const struct prop *pr)
{
	return pr->nav ? pr->tattr : pr->attr;
}

/* ---- parser ------------------------------------------------------------ */

static struct node *parse_or(struct parser *p);

static struct node *node_new(enum nkind k)
{
	struct node *n = xcalloc(1, sizeof(*n));

	n->k = k;
	return n;
}

static bool resolve_prop(struct parser *p, const char *name, struct prop *out)
{
	const struct dv_entity *ent = p->ent;

	memset(out, 0, sizeof(*out));
	out->attr = dv_entity_attr(ent, name);
	if (out->attr)
		return true;
	fail(p,
	     "Could not find a property named '%s' on type "
	     "'Microsoft.Dynamics.CRM.%s'.",
	     name, ent->logical);
	return false;
}

/* An identifier in operand position: a property or a nav path. */
static bool parse_prop(struct parser *p, struct prop *out)
{
	char *name = p->text;
	const struct dv_nav *nav;

	p->text = NULL;
	next(p);
	if (p->t == T_SLASH && (nav = dv_entity_nav(p->ent, name)) != NULL) {
		const struct dv_entity *target = dv_entity_by_set(nav->target);

		next(p);
		if (p->t != T_IDENT) {
			free(name);
			syntax(p);
			return false;
		}
		memset(out, 0, sizeof(*out));
		out->nav = nav;
		out->attr = dv_entity_attr(p->ent, nav->attr);
		out->tattr = target ? dv_entity_attr(target, p->text) : NULL;
		if (!out->tattr) {
			fail(p,
			     "Could not find a property named '%s' on type "
			     "'Microsoft.Dynamics.CRM.%s'.",
			     p->text, target ? target->logical : "?");
			free(name);
			return false;
		}
		free(name);
		next(p);
		return true;
	}
	if (p->t == T_SLASH) {
		free(name);
		syntax(p);
		return false;
	}
	if (!resolve_prop(p, name, out)) {
		free(name);
		return false;
	}
	free(name);
	return true;
}

/* A literal token, consumed. */
static bool parse_lit(struct parser *p, struct lit *l)
{
	memset(l, 0, sizeof(*l));
	switch (p->t) {
	case T_STR:
		l->k = L_STR;
		break;
	case T_GUID:
		l->k = L_GUID;
		break;
	case T_DATE:
		l->k = L_DATE;
		break;
	case T_NUM:
		l->k = L_NUM;
		l->n = p->num;
		next(p);
		return true;
	case T_IDENT:
		if (!strcmp(p->text, "null")) {
			l->k = L_NULL;
		} else if (!strcmp(p->text, "true") ||
			   !strcmp(p->text, "false")) {
			l->k = L_BOOL;
			l->b = p->text[0] == 't';
		} else {
			syntax(p);
			return false;
		}
		next(p);
		return true;
	default:
		syntax(p);
		return false;
	}
	l->s = p->text;
	p->text = NULL;
	next(p);
	return true;
}

static bool parse_operand(struct parser *p, struct operand *o)
{
	memset(o, 0, sizeof(*o));
	if (p->t == T_IDENT && strcmp(p->text, "null") &&
	    strcmp(p->text, "true") && strcmp(p->text, "false")) {
		o->is_prop = true;
		return parse_prop(p, &o->p);
	}
	return parse_lit(p, &o->l);
}

static bool check_types(struct parser *p, struct node *n)
{
	const struct operand *x = &n->x, *y = &n->y;

	if (x->is_prop && !y->is_prop) {
		if (lit_fits(prop_attr(&x->p), &y->l))
			return true;
		fail(p,
		     "A binary operator with incompatible types was "
		     "detected. Found operand types '%s' and '%s' for "
		     "operator kind '%s'.",
		     edm_of_attr(prop_attr(&x->p)), edm_of_lit(&y->l),
		     op_kinds[n->op]);
		return false;
	}
	if (!x->is_prop && y->is_prop) {
		if (lit_fits(prop_attr(&y->p), &x->l))
			return true;
		fail(p,
		     "A binary operator with incompatible types was "
		     "detected. Found operand types '%s' and '%s' for "
		     "operator kind '%s'.",
		     edm_of_lit(&x->l), edm_of_attr(prop_attr(&y->p)),
		     op_kinds[n->op]);
		return false;
	}
	if (x->is_prop && y->is_prop) {
		const char *a = edm_of_attr(prop_attr(&x->p));
		const char *b = edm_of_attr(prop_attr(&y->p));

		if (!strcmp(a, b))
			return true;
		fail(p,
		     "A binary operator with incompatible types was "
		     "detected. Found operand types '%s' and '%s' for "
		     "operator kind '%s'.",
		     a, b, op_kinds[n->op]);
		return false;
	}
	return true;
}

/* Convert an In() value (always a string) to the property's type. */
static bool in_value(struct parser *p, const struct dv_attr *a,
		     const char *text, struct lit *out)
{
	char *end;

	memset(out, 0, sizeof(*out));
	switch (a->type) {
	case DV_STR:
		out->k = L_STR;
		out->s = xstrdup(text);
		return true;
	case DV_INT:
	case DV_CHOICE:
	case DV_BIGINT:
		out->k = L_NUM;
		out->n = strtod(text, &end);
		if (*text && !*end && isfinite(out->n))
			return true;
		break;
	case DV_BOOL:
		out->k = L_BOOL;
		if (!strcasecmp(text, "true") || !strcasecmp(text, "false")) {
			out->b = tolower((unsigned char)text[0]) == 't';
			return true;
		}
		break;
	case DV_GUID:
	case DV_LOOKUP: {
		char g[37];

		if (dv_parse_guid(text, strlen(text), g)) {
			out->k = L_GUID;
			out->s = xstrdup(g);
			return true;
		}
		break;
	}
	case DV_DATE:
		if (date_len(text) == strlen(text) && *text) {
			out->k = L_DATE;
			out->s = xstrdup(text);
			return true;
		}
		break;
	}
	out->k = L_NULL;
	fail(p,
	     "The value '%s' is not valid for the property '%s' of type "
	     "'%s'.",
	     text, a->name, edm_of_attr(a));
	return false;
}

static void in_add(struct node *n, struct lit *l)
{
	if (n->nlist % 16 == 0)
		n->list = xrealloc(n->list, (n->nlist + 16) * sizeof(*n->list));
	n->list[n->nlist++] = *l;
}

static const char *alias_text(struct parser *p)
{
	const char *v = p->alias ? p->alias(p->alias_ctx, p->text) : NULL;

	if (!v)
		fail(p,
		     "The parameter alias '%s' was not found in the "
		     "request.",
		     p->text);
	return v;
}

/*
 * The service reads PropertyValues as a JSON array (docs/fidelity.md): a
 * value in double quotes, with backslash escapes; single-quoted values
 * are still read (Microsoft's own examples use them), but a quote inside
 * one ends it, so the doubled form 'O''Brian' is refused with the
 * reader's "comma expected" message. Bare numbers, true, false and null
 * are JSON values too. Reads from the '[' at p->start and leaves p->pos
 * after the closing ']'.
 */
static bool json_value(struct parser *p, size_t *i, struct buf *b)
{
	const char *s = p->s;
	char q = s[*i];

	if (q != '"' && q != '\'') {
		size_t n = *i;

		while (s[n] && s[n] != ',' && s[n] != ']' && s[n] != ' ' &&
		       s[n] != '\t' && s[n] != '\r' && s[n] != '\n')
			n++;
		if (n == *i) {
			fail(p,
			     "Invalid JSON. Unexpected character '%c' in "
			     "scope 'Array'.",
			     s[n] ? s[n] : ' ');
			return false;
		}
		buf_add(b, s + *i, n - *i);
		*i = n;
		return true;
	}
	for ((*i)++; s[*i] != q; (*i)++) {
		char c = s[*i];

		if (!c) {
			fail(p, "Invalid JSON. Unterminated string in scope "
				"'Array'.");
			return false;
		}
		if (c == '\\') {
			c = s[++(*i)];
			switch (c) {
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u': {
				char hex[5] = {0};
				unsigned long cp;
				char *end;

				for (int k = 0; k < 4; k++)
					if (!isxdigit(
						(unsigned char)(hex[k] =
								    s[*i + 1 +
								      (size_t)
									  k])))
						goto bad_escape;
				cp = strtoul(hex, &end, 16);
				*i += 4;
				/* UTF-8; surrogate pairs are not needed here */
				if (cp < 0x80) {
					buf_addch(b, (char)cp);
				} else if (cp < 0x800) {
					buf_addch(b, (char)(0xC0 | (cp >> 6)));
					buf_addch(b, (char)(0x80 | (cp & 63)));
				} else {
					buf_addch(b, (char)(0xE0 | (cp >> 12)));
					buf_addch(
					    b, (char)(0x80 | ((cp >> 6) & 63)));
					buf_addch(b, (char)(0x80 | (cp & 63)));
				}
				continue;
			}
			case '"':
			case '\'':
			case '\\':
			case '/':
				break;
			default:
				goto bad_escape;
			}
		}
		if (buf_addch(b, c) < 0) {
			fail(p,
			     "The string literal at position %zu is too "
			     "long.",
			     *i + 1);
			return false;
		}
	}
	(*i)++;
	return true;
bad_escape:
	fail(p, "Invalid JSON. Bad JSON escape sequence in scope 'Array'.");
	return false;
}

static bool in_values_json(struct parser *p, const struct dv_attr *a,
			   struct node *n)
{
	const char *s = p->s;
	size_t i = p->start + 1;

	for (;;) {
		struct buf b = BUF_INIT(BUF_MAX_SMALL);
		struct lit l;
		bool ok;

		while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		       s[i] == '\n')
			i++;
		if (s[i] == ']' && n->nlist == 0)
			break;
		if (!s[i]) {
			p->start = i;
			syntax(p);
			return false;
		}
		if (n->nlist >= MAX_IN_VALUES) {
			fail(p, "Too many values in "
				"Microsoft.Dynamics.CRM.In.");
			return false;
		}
		if (!json_value(p, &i, &b)) {
			buf_release(&b);
			return false;
		}
		ok = in_value(p, a, b.ptr ? b.ptr : "", &l);
		buf_release(&b);
		if (!ok)
			return false;
		in_add(n, &l);
		while (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
		       s[i] == '\n')
			i++;
		if (s[i] == ']')
			break;
		if (!s[i]) {
			p->start = i;
			syntax(p);
			return false;
		}
		if (s[i] != ',') {
			fail(p, "Invalid JSON. A comma character ',' was "
				"expected in scope 'Array'. Every two elements "
				"in an array and properties of an object must "
				"be separated by commas.");
			return false;
		}
		i++;
	}
	p->pos = i + 1;
	return true;
}

/* Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a','b']) */
static struct node *parse_in(struct parser *p)
{
	struct node *n = node_new(N_IN);
	const struct dv_attr *a;
	char *name = NULL;

	next(p);
	if (!expect(p, T_LP) || !is_kw(p, "PropertyName"))
		goto bad;
	next(p);
	if (!expect(p, T_ASSIGN))
		goto bad;
	if (p->t == T_STR) {
		name = xstrdup(p->text);
	} else if (p->t == T_ALIAS) {
		const char *v = alias_text(p);
		size_t len;

		if (!v)
			goto err;
		len = strlen(v);
		if (len < 2 || v[0] != '\'' || v[len - 1] != '\'')
			goto bad;
		name = xstrndup(v + 1, len - 2);
	} else {
		goto bad;
	}
	next(p);
	if (!resolve_prop(p, name, &n->x.p))
		goto err;
	n->x.is_prop = true;
	a = n->x.p.attr;
	if (!expect(p, T_COMMA) || !is_kw(p, "PropertyValues"))
		goto bad;
	next(p);
	if (!expect(p, T_ASSIGN))
		goto bad;
	if (p->t == T_ALIAS) {
		const char *v = alias_text(p);
		cJSON *arr, *it;

		if (!v)
			goto err;
		arr = cJSON_Parse(v);
		if (!cJSON_IsArray(arr)) {
			cJSON_Delete(arr);
			fail(p,
			     "The parameter alias '%s' is not a valid "
			     "collection.",
			     p->text);
			goto err;
		}
		cJSON_ArrayForEach(it, arr)
		{
			struct lit l;
			char num[64];
			const char *text = it->valuestring;

			if (cJSON_IsNumber(it)) {
				snprintf(num, sizeof(num), "%.17g",
					 it->valuedouble);
				text = num;
			}
			if (!text || n->nlist >= MAX_IN_VALUES ||
			    !in_value(p, a, text, &l)) {
				cJSON_Delete(arr);
				if (!p->failed)
					fail(p,
					     "Invalid value in the "
					     "parameter alias '%s'.",
					     p->text);
				goto err;
			}
			in_add(n, &l);
		}
		cJSON_Delete(arr);
		next(p);
	} else {
		if (p->t != T_LB)
			goto bad;
		if (!in_values_json(p, a, n))
			goto err;
		next(p);
	}
	if (!expect(p, T_RP))
		goto bad;
	n->hint = xcalloc(n->nlist ? n->nlist : 1, sizeof(*n->hint));
	for (size_t i = 0; i < n->nlist; i++)
		n->hint[i] = n->list[i].s;
	free(name);
	return n;
bad:
	syntax(p);
err:
	free(name);
	node_free(n);
	return NULL;
}

static struct node *parse_func(struct parser *p, enum fn f)
{
	static const char *const names[] = {"contains", "startswith",
					    "endswith"};
	struct node *n = node_new(N_FUNC);

	n->op = f;
	next(p);
	if (!expect(p, T_LP))
		goto err;
	if (p->t != T_IDENT || !parse_operand(p, &n->x))
		goto bad;
	if (!expect(p, T_COMMA))
		goto err;
	if (!parse_operand(p, &n->y))
		goto err;
	if (!expect(p, T_RP))
		goto err;
	if (!n->x.is_prop || n->y.is_prop ||
	    prop_attr(&n->x.p)->type != DV_STR || n->y.l.k != L_STR) {
		fail(p,
		     "No function signature for the function with name "
		     "'%s' matches the specified arguments. The function "
		     "signatures considered are: %s(Edm.String Nullable=true, "
		     "Edm.String Nullable=true).",
		     names[f], names[f]);
		goto err;
	}
	return n;
bad:
	syntax(p);
err:
	node_free(n);
	return NULL;
}

static int cmp_op(const struct parser *p)
{
	if (p->t != T_IDENT)
		return -1;
	for (int i = 0; i < (int)ARRAY_SIZE(op_names); i++)
		if (!strcmp(p->text, op_names[i]))
			return i;
	return -1;
}

static struct node *parse_primary(struct parser *p)
{
	struct node *n;
	int op;

	if (p->failed)
		return NULL;
	if (p->t == T_LP) {
		next(p);
		n = parse_or(p);
		if (!n)
			return NULL;
		if (!expect(p, T_RP)) {
			node_free(n);
			return NULL;
		}
		return n;
	}
	if (p->t == T_IDENT) {
		if (!strcmp(p->text, "contains"))
			return parse_func(p, FN_CONTAINS);
		if (!strcmp(p->text, "startswith"))
			return parse_func(p, FN_STARTSWITH);
		if (!strcmp(p->text, "endswith"))
			return parse_func(p, FN_ENDSWITH);
		if (!strcmp(p->text, "Microsoft.Dynamics.CRM.In"))
			return parse_in(p);
		if (strchr(p->text, '.') || !strncmp(p->s + p->pos, "(", 1)) {
			fail(p,
			     "An unknown function with name '%s' was found. "
			     "This may also be a function import or a key "
			     "lookup on a navigation property, which is not "
			     "allowed.",
			     p->text);
			return NULL;
		}
	}
	n = node_new(N_CMP);
	if (!parse_operand(p, &n->x)) {
		node_free(n);
		return NULL;
	}
	op = cmp_op(p);
	if (op < 0) {
		/* a lone operand must be a boolean */
		if (n->x.is_prop && prop_attr(&n->x.p)->type == DV_BOOL) {
			n->k = N_BOOLPROP;
			return n;
		}
		if (!n->x.is_prop && n->x.l.k == L_BOOL) {
			n->k = N_CONST;
			n->value = n->x.l.b;
			return n;
		}
		if (p->t == T_EOF || p->t == T_RP || is_kw(p, "and") ||
		    is_kw(p, "or"))
			fail(p, "The $filter expression must evaluate to a "
				"single boolean value.");
		else
			syntax(p);
		node_free(n);
		return NULL;
	}
	n->op = op;
	next(p);
	if (!parse_operand(p, &n->y) || !check_types(p, n)) {
		node_free(n);
		return NULL;
	}
	return n;
}

static struct node *parse_unary(struct parser *p)
{
	struct node *n, *inner;

	if (++p->depth > MAX_DEPTH) {
		fail(p, "The $filter expression is nested too deeply.");
		return NULL;
	}
	if (is_kw(p, "not")) {
		next(p);
		inner = parse_unary(p);
		p->depth--;
		if (!inner)
			return NULL;
		n = node_new(N_NOT);
		n->a = inner;
		return n;
	}
	n = parse_primary(p);
	p->depth--;
	return n;
}

static struct node *binary(enum nkind k, struct node *a, struct node *b)
{
	struct node *n = node_new(k);

	n->a = a;
	n->b = b;
	return n;
}

static struct node *parse_and(struct parser *p)
{
	struct node *l = parse_unary(p);

	while (l && is_kw(p, "and")) {
		struct node *r;

		next(p);
		r = parse_unary(p);
		if (!r) {
			node_free(l);
			return NULL;
		}
		l = binary(N_AND, l, r);
	}
	return l;
}

static struct node *parse_or(struct parser *p)
{
	struct node *l;

	if (++p->depth > MAX_DEPTH) {
		fail(p, "The $filter expression is nested too deeply.");
		return NULL;
	}
	l = parse_and(p);
	while (l && is_kw(p, "or")) {
		struct node *r;

		next(p);
		r = parse_and(p);
		if (!r) {
			node_free(l);
			l = NULL;
			break;
		}
		l = binary(N_OR, l, r);
	}
	p->depth--;
	return l;
}

struct dv_filter *dv_filter_parse(const struct dv_entity *ent, const char *text,
				  dv_filter_alias_fn alias, void *alias_ctx,
				  char *msg, size_t msglen)
{
	struct parser p = {.ent = ent,
			   .s = text,
			   .alias = alias,
			   .alias_ctx = alias_ctx,
			   .msg = msg,
			   .msglen = msglen};
	struct node *root;
	struct dv_filter *f;

	if (msglen)
		msg[0] = '\0';
	next(&p);
	if (p.t == T_EOF && !p.failed) {
		fail(&p, "The $filter expression must evaluate to a single "
			 "boolean value.");
		free(p.text);
		return NULL;
	}
	root = parse_or(&p);
	if (root && p.t != T_EOF) {
		syntax(&p);
		node_free(root);
		root = NULL;
	}
	if (!root || p.failed) {
		if (!p.failed)
			syntax(&p);
		node_free(root);
		free(p.text);
		return NULL;
	}
	free(p.text);
	f = xmalloc(sizeof(*f));
	f->root = root;
	return f;
}

void dv_filter_free(struct dv_filter *f)
{
	if (!f)
		return;
	node_free(f->root);
	free(f);
}

/* ---- evaluation ----------------------------------------------------- */

struct val {
	enum lkind k;
	const char *s;
	double n;
	bool b;
};

static struct val from_json(const cJSON *v)
{
	struct val r = {.k = L_NULL};

	if (cJSON_IsString(v)) {
		r.k = L_STR;
		r.s = v->valuestring;
	} else if (cJSON_IsNumber(v)) {
		r.k = L_NUM;
		r.n = v->valuedouble;
	} else if (cJSON_IsBool(v)) {
		r.k = L_BOOL;
		r.b = cJSON_IsTrue(v);
	}
	return r;
}

static struct val from_lit(const struct lit *l)
{
	struct val r = {.k = l->k, .s = l->s, .n = l->n, .b = l->b};

	if (r.k == L_GUID || r.k == L_DATE)
		r.k = L_STR;
	return r;
}

static struct val eval_operand(const struct operand *o, struct dv_org *org,
			       const cJSON *row)
{
	const cJSON *v;

	if (!o->is_prop)
		return from_lit(&o->l);
	v = cJSON_GetObjectItemCaseSensitive(row, o->p.attr->name);
	if (o->p.nav) {
		struct dv_table *t;
		struct dv_row *target;
		char id[37];

		if (!org || !cJSON_IsString(v) ||
		    !dv_parse_guid(v->valuestring, strlen(v->valuestring), id))
			return from_json(NULL);
		t = dv_table_by_set(org, o->p.nav->target);
		target = t ? dv_row_get(t, id) : NULL;
		if (!target)
			return from_json(NULL);
		v = cJSON_GetObjectItemCaseSensitive(target->obj,
						     o->p.tattr->name);
	}
	return from_json(v);
}

static bool compare(const struct val *a, const struct val *b, int op)
{
	int c;

	if (a->k == L_NULL || b->k == L_NULL) {
		bool both = a->k == L_NULL && b->k == L_NULL;

		return op == OP_EQ ? both : op == OP_NE ? !both : false;
	}
	if (a->k != b->k)
		return op == OP_NE;
	switch (a->k) {
	case L_STR:
		c = strcasecmp(a->s, b->s);
		break;
	case L_NUM:
		c = a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
		break;
	case L_BOOL:
		c = (int)a->b - (int)b->b;
		break;
	default:
		c = 0;
		break;
	}
	switch (op) {
	case OP_EQ:
		return c == 0;
	case OP_NE:
		return c != 0;
	case OP_GT:
		return c > 0;
	case OP_GE:
		return c >= 0;
	case OP_LT:
		return c < 0;
	default:
		return c <= 0;
	}
}

static bool ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return n == 0;
}

static bool eval(const struct node *n, struct dv_org *org, const cJSON *row)
{
	struct val a, b;

	switch (n->k) {
	case N_AND:
		return eval(n->a, org, row) && eval(n->b, org, row);
	case N_OR:
		return eval(n->a, org, row) || eval(n->b, org, row);
	case N_NOT:
		return !eval(n->a, org, row);
	case N_CONST:
		return n->value;
	case N_BOOLPROP:
		a = eval_operand(&n->x, org, row);
		return a.k == L_BOOL && a.b;
	case N_CMP:
		a = eval_operand(&n->x, org, row);
		b = eval_operand(&n->y, org, row);
		return compare(&a, &b, n->op);
	case N_FUNC: {
		size_t la, lb;

		a = eval_operand(&n->x, org, row);
		b = eval_operand(&n->y, org, row);
		if (a.k != L_STR || b.k != L_STR)
			return false;
		la = strlen(a.s);
		lb = strlen(b.s);
		if (n->op == FN_CONTAINS)
			return ci_contains(a.s, b.s);
		if (lb > la)
			return false;
		if (n->op == FN_STARTSWITH)
			return !strncasecmp(a.s, b.s, lb);
		return !strcasecmp(a.s + la - lb, b.s);
	}
	case N_IN:
		a = eval_operand(&n->x, org, row);
		for (size_t i = 0; i < n->nlist; i++) {
			b = from_lit(&n->list[i]);
			if (compare(&a, &b, OP_EQ))
				return true;
		}
		return false;
	}
	return false;
}

bool dv_filter_match(const struct dv_filter *f, struct dv_org *org,
		     const cJSON *row)
{
	return eval(f->root, org, row);
}

static bool hint(const struct node *n, const char **col,
		 const char *const **vals, size_t *nvals)
{
	if (n->k == N_AND)
		return hint(n->a, col, vals, nvals) ||
		       hint(n->b, col, vals, nvals);
	if (n->k == N_IN && !n->x.p.nav) {
		for (size_t i = 0; i < n->nlist; i++)
			if (!n->list[i].s)
				return false;
		*col = n->x.p.attr->name;
		*vals = n->hint;
		*nvals = n->nlist;
		return true;
	}
	if (n->k == N_CMP && n->op == OP_EQ) {
		const struct operand *pr = n->x.is_prop ? &n->x : &n->y;
		const struct operand *l = n->x.is_prop ? &n->y : &n->x;

		if (!pr->is_prop || l->is_prop || pr->p.nav || !l->l.s)
			return false;
		*col = pr->p.attr->name;
		*vals = (const char *const *)&l->l.s;
		*nvals = 1;
		return true;
	}
	return false;
}

bool dv_filter_index_hint(const struct dv_filter *f, const char **col,
			  const char *const **vals, size_t *nvals)
{
	return hint(f->root, col, vals, nvals);
}
