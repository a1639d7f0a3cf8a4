/*
 * select.c: mailboxes chosen by query (select.h).
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "select.h"

#include "banned.h"

const char *const select_keys[] = {
    "profile", "status", "approval", "business_unit", "type", "view", NULL};

/* Copy of 's' without surrounding blanks. */
static char *trimmed(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return xstrndup(s, len);
}

static int parse_status(const char *v, unsigned *bits, char *why, size_t whylen)
{
	static const struct {
		const char *name;
		unsigned bits;
	} names[] = {
	    {"failure", SELECT_ST_FAILURE},
	    {"never-tested", SELECT_ST_NEVER},
	    {"not-enabled", SELECT_ST_NOT_ENABLED},
	    {"unhealthy",
	     SELECT_ST_FAILURE | SELECT_ST_NEVER | SELECT_ST_NOT_ENABLED},
	};

	*bits = 0;
	while (*v) {
		size_t len = strcspn(v, ",");
		char *one = trimmed(v, len);
		bool ok = false;

		ok = !*one; /* an empty item, as in "failure," */
		for (size_t i = 0; i < ARRAY_SIZE(names) && !ok; i++)
			if (!strcasecmp(one, names[i].name)) {
				*bits |= names[i].bits;
				ok = true;
			}
		if (!ok) {
			snprintf(why, whylen,
				 "unknown status '%s' (expected failure, "
				 "never-tested, not-enabled or unhealthy)",
				 one);
			free(one);
			return -1;
		}
		free(one);
		v += len + (v[len] == ',');
	}
	if (!*bits) {
		snprintf(why, whylen, "status: no value");
		return -1;
	}
	return 0;
}

int select_add(struct select_set *s, const char *text, const char *origin,
	       char *why, size_t whylen)
{
	const char *eq = strchr(text, '=');
	char *key, *value;
	struct select_term t = {0};
	long k = -1;

	if (!eq) {
		snprintf(why, whylen,
			 "'%s' is not key=value (e.g. status=failure)", text);
		return -1;
	}
	key = trimmed(text, (size_t)(eq - text));
	value = trimmed(eq + 1, strlen(eq + 1));
	if (!strcasecmp(key, "bu"))
		k = SELECT_BU;
	for (size_t i = 0; k < 0 && select_keys[i]; i++)
		if (!strcasecmp(key, select_keys[i]))
			k = (long)i;
	if (k < 0) {
		snprintf(why, whylen,
			 "unknown key '%s' (expected profile, status, "
			 "approval, business_unit, type or view)",
			 key);
		goto bad;
	}
	t.key = (enum select_key)k;
	if (!*value) {
		snprintf(why, whylen, "%s: empty value", select_keys[k]);
		goto bad;
	}
	switch (t.key) {
	case SELECT_STATUS:
		if (parse_status(value, &t.v, why, whylen) < 0)
			goto bad;
		break;
	case SELECT_APPROVAL:
		if (!strcasecmp(value, "not-approved"))
			t.v = SELECT_NOT_APPROVED;
		else if (!strcasecmp(value, "approved"))
			t.v = SELECT_APPROVED;
		else {
			snprintf(why, whylen,
				 "unknown approval '%s' (expected "
				 "not-approved or approved)",
				 value);
			goto bad;
		}
		break;
	case SELECT_TYPE:
		if (!strcasecmp(value, "user"))
			t.v = SELECT_USER;
		else if (!strcasecmp(value, "queue"))
			t.v = SELECT_QUEUE;
		else {
			snprintf(why, whylen,
				 "unknown type '%s' (expected user or queue)",
				 value);
			goto bad;
		}
		break;
	case SELECT_PROFILE:
	case SELECT_BU:
	case SELECT_VIEW:
	case SELECT_NKEYS:
		break;
	}
	free(key);
	t.value = value;
	t.origin = xstrdup(origin ? origin : "--where");
	s->t = xrealloc(s->t, (s->n + 1) * sizeof(*s->t));
	s->t[s->n++] = t;
	return 0;
bad:
	free(key);
	free(value);
	return -1;
}

void select_release(struct select_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->t[i].value);
		free(s->t[i].origin);
	}
	free(s->t);
	s->t = NULL;
	s->n = 0;
}

void select_describe(const struct select_set *s, struct buf *out)
{
	for (size_t i = 0; i < s->n; i++)
		buf_addf(out, "%s%s=%s", i ? ", " : "",
			 select_keys[s->t[i].key], s->t[i].value);
}

static void and (struct buf * out)
{
	if (out->len)
		buf_addstr(out, " and ");
}

void select_filter(const struct select_set *s, const char *const *ids,
		   struct buf *out)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct select_term *t = &s->t[i];
		bool first = true;

		switch (t->key) {
		case SELECT_PROFILE:
			and(out);
			buf_addf(out, "_emailserverprofile_value eq %s",
				 ids[i]);
			break;
		case SELECT_BU:
			and(out);
			buf_addf(out, "_owningbusinessunit_value eq %s",
				 ids[i]);
			break;
		case SELECT_APPROVAL:
			and(out);
			buf_addf(out, "emailrouteraccessapproval %s 1",
				 t->v == SELECT_APPROVED ? "eq" : "ne");
			break;
		case SELECT_STATUS:
			and(out);
			buf_addch(out, '(');
			if (t->v & SELECT_ST_FAILURE) {
				buf_addstr(out, "incomingemailstatus eq 2 or "
						"outgoingemailstatus eq 2 or "
						"actstatus eq 2");
				first = false;
			}
			if (t->v & SELECT_ST_NEVER) {
				buf_addf(out,
					 "%stestmailboxaccesscompletedon eq "
					 "null",
					 first ? "" : " or ");
				first = false;
			}
			if (t->v & SELECT_ST_NOT_ENABLED)
				buf_addf(out,
					 "%sincomingemailstatus ne 1 or "
					 "outgoingemailstatus ne 1",
					 first ? "" : " or ");
			buf_addch(out, ')');
			break;
		case SELECT_TYPE: /* by the queues' ids, after the query */
		case SELECT_VIEW: /* by the view's mailbox ids, likewise */
		case SELECT_NKEYS:
			break;
		}
	}
}

bool select_name_eq(const char *a, const char *b)
{
	size_t la, lb;

	while (isspace((unsigned char)*a))
		a++;
	while (isspace((unsigned char)*b))
		b++;
	la = strlen(a);
	lb = strlen(b);
	while (la && isspace((unsigned char)a[la - 1]))
		la--;
	while (lb && isspace((unsigned char)b[lb - 1]))
		lb--;
	return la == lb && !strncasecmp(a, b, la);
}

long select_match_name(const char *want, const char *const *names, size_t n)
{
	long found = -1;

	for (size_t i = 0; i < n; i++) {
		if (!names[i] || !select_name_eq(want, names[i]))
			continue;
		if (found >= 0)
			return -2;
		found = (long)i;
	}
	return found;
}

/*
 * FetchXML paging (pure).
 */
static void xml_escape(struct buf *out, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '<':
			buf_addstr(out, "&lt;");
			break;
		case '>':
			buf_addstr(out, "&gt;");
			break;
		case '&':
			buf_addstr(out, "&amp;");
			break;
		case '"':
			buf_addstr(out, "&quot;");
			break;
		default:
			buf_addch(out, *s);
		}
}

/* The name=value attributes of a tag from 'p' to its '>'; the end. */
struct xattr {
	const char *name, *val;
	size_t nlen, vlen;
};

static const char *tag_attrs(const char *p, struct xattr *a, size_t max,
			     size_t *n)
{
	*n = 0;
	for (;;) {
		const char *name, *q;
		char quote;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '>' || *p == '/')
			return *p ? p : NULL;
		name = p;
		while (*p && *p != '=' && !isspace((unsigned char)*p) &&
		       *p != '>')
			p++;
		if (*p != '=')
			return NULL;
		q = p + 1;
		quote = *q;
		if (quote != '"' && quote != '\'')
			return NULL;
		if (*n == max)
			return NULL;
		a[*n].name = name;
		a[*n].nlen = (size_t)(p - name);
		a[*n].val = q + 1;
		p = strchr(q + 1, quote);
		if (!p)
			return NULL;
		a[*n].vlen = (size_t)(p - a[*n].val);
		(*n)++;
		p++;
	}
}

static bool attr_is(const struct xattr *a, const char *name)
{
	return a->nlen == strlen(name) && !strncmp(a->name, name, a->nlen);
}

char *select_fetch_page(const char *xml, long page, long count,
			const char *cookie)
{
	const char *start = strstr(xml, "<fetch"), *end;
	struct xattr a[32];
	size_t n;
	struct buf out = BUF_INIT(BUF_MAX_BODY);

	if (!start || (start[6] != '>' && !isspace((unsigned char)start[6])))
		return NULL;
	end = tag_attrs(start + 6, a, ARRAY_SIZE(a), &n);
	if (!end || *end != '>')
		return NULL;
	buf_add(&out, xml, (size_t)(start - xml));
	buf_addstr(&out, "<fetch");
	for (size_t i = 0; i < n; i++) {
		if (attr_is(&a[i], "count")) {
			char num[24];

			snprintf(num, sizeof(num), "%.*s", (int)a[i].vlen,
				 a[i].val);
			count = strtol(num, NULL, 10) > 0
				    ? strtol(num, NULL, 10)
				    : count;
			continue;
		}
		if (attr_is(&a[i], "page") || attr_is(&a[i], "paging-cookie"))
			continue;
		buf_addf(&out, " %.*s=\"%.*s\"", (int)a[i].nlen, a[i].name,
			 (int)a[i].vlen, a[i].val);
	}
	buf_addf(&out, " count=\"%ld\" page=\"%ld\"", count, page);
	if (cookie) {
		buf_addstr(&out, " paging-cookie=\"");
		xml_escape(&out, cookie);
		buf_addch(&out, '"');
	}
	buf_addstr(&out, end);
	return buf_detach(&out, NULL);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *pct_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int select_fetch_next(const char *annotation, long *page, char **cookie)
{
	const char *p = strstr(annotation, "<cookie"), *end;
	struct xattr a[8];
	size_t n;
	char *once;

	*cookie = NULL;
	*page = 0;
	if (!p)
		return -1;
	end = tag_attrs(p + 7, a, ARRAY_SIZE(a), &n);
	if (!end)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (attr_is(&a[i], "pagenumber")) {
			char num[24];

			snprintf(num, sizeof(num), "%.*s", (int)a[i].vlen,
				 a[i].val);
			*page = strtol(num, NULL, 10);
		} else if (attr_is(&a[i], "pagingcookie") && !*cookie) {
			once = pct_decode(a[i].val, a[i].vlen);
			*cookie = pct_decode(once, strlen(once));
			free(once);
		}
	}
	if (*page < 2 || !*cookie) {
		free(*cookie);
		*cookie = NULL;
		return -1;
	}
	return 0;
}
