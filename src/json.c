#include "compat.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"

#include "banned.h"

/* cJSON's print_string_ptr(): these escapes, other bytes as they are. */
static int add_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run;
	int rc = 0;

	rc |= buf_addch(b, '"');
	if (!s)
		s = "";
	for (run = s;; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7] = {'\\', 0};
		size_t elen = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc |= buf_add(b, run, (size_t)(s - run));
		if (!c)
			break;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
			break;
		}
		rc |= buf_add(b, esc, elen);
		run = s + 1;
	}
	rc |= buf_addch(b, '"');
	return rc ? -1 : 0;
}

static int add_int(struct buf *b, int v)
{
	char tmp[16];
	size_t i = sizeof(tmp);
	unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	return buf_add(b, tmp + i, sizeof(tmp) - i);
}

static int add_item(struct buf *b, const cJSON *it)
{
	const cJSON *c;
	int rc = 0;

	switch (it->type & 0xff) {
	case cJSON_False:
		return buf_addstr(b, "false");
	case cJSON_True:
		return buf_addstr(b, "true");
	case cJSON_NULL:
		return buf_addstr(b, "null");
	case cJSON_Number:
		/*
		 * cJSON prints "%1.15g": for an int that is its digits, as
		 * "%d" prints them; -0 keeps its sign, so cJSON prints it
		 */
		if (it->valuedouble != (double)it->valueint ||
		    (it->valueint == 0 && signbit(it->valuedouble)))
			return -1;
		return add_int(b, it->valueint);
	case cJSON_String:
		return add_string(b, it->valuestring);
	case cJSON_Array:
		rc |= buf_addch(b, '[');
		for (c = it->child; c && !rc; c = c->next) {
			if (c != it->child)
				rc |= buf_addch(b, ',');
			rc |= add_item(b, c);
		}
		rc |= buf_addch(b, ']');
		return rc ? -1 : 0;
	case cJSON_Object:
		rc |= buf_addch(b, '{');
		for (c = it->child; c && !rc; c = c->next) {
			if (c != it->child)
				rc |= buf_addch(b, ',');
			if (!c->string)
				return -1;
			rc |= add_string(b, c->string);
			rc |= buf_addch(b, ':');
			rc |= add_item(b, c);
		}
		rc |= buf_addch(b, '}');
		return rc ? -1 : 0;
	default:
		return -1; /* raw or invalid: left to cJSON */
	}
}

int json_print(struct buf *b, const cJSON *item)
{
	size_t len = b->len;

	if (item && add_item(b, item) == 0)
		return 0;
	buf_setlen(b, len);
	return -1;
}

/*
 * Parsing: the common case only, fast. Anything this parser does not take
 * (\u escapes, deep nesting, an error, text after the value) makes
 * json_parse() hand the whole text to cJSON_Parse(), so the result is
 * always what cJSON_Parse() gives.
 */
#define NEST_MAX 1000 /* cJSON's CJSON_NESTING_LIMIT */

struct parser {
	const char *p;
	int depth;
};

/* cJSON skips every byte up to and including space as white space. */
static void skip_ws(struct parser *ps)
{
	while (*ps->p && (unsigned char)*ps->p <= 32)
		ps->p++;
}

static cJSON *new_item(int type)
{
	cJSON *it = cJSON_malloc(sizeof(*it));

	if (it) {
		memset(it, 0, sizeof(*it));
		it->type = type;
	}
	return it;
}

/* A string at ps->p (on its opening quote), unescaped, to free with
 * cJSON_free(); NULL to give up. */
static char *parse_str(struct parser *ps)
{
	const char *start = ps->p + 1, *end = start;
	char *out, *o;
	bool esc = false;

	for (;;) {
		end += strcspn(end, "\"\\");
		if (!*end)
			return NULL;
		if (*end == '"')
			break;
		esc = true;
		if (!*++end)
			return NULL;
		end++;
	}
	out = cJSON_malloc((size_t)(end - start) + 1);
	if (!out)
		return NULL;
	if (!esc) {
		memcpy(out, start, (size_t)(end - start));
		out[end - start] = '\0';
		ps->p = end + 1;
		return out;
	}
	for (o = out; start < end; start++) {
		char c = *start;

		if (c == '\\') {
			switch (*++start) {
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
			case '"':
			case '\\':
			case '/':
				c = *start;
				break;
			default: /* \u and invalid escapes: left to cJSON */
				cJSON_free(out);
				return NULL;
			}
		}
		*o++ = c;
	}
	*o = '\0';
	ps->p = end + 1;
	return out;
}

/* As cJSON's parse_number(): the span of number characters, strtod(). */
static bool parse_num(struct parser *ps, cJSON *it)
{
	char tmp[64], *after;
	size_t n = 0;
	double d;

	while (n < sizeof(tmp) - 1 && ps->p[n] &&
	       strchr("0123456789+-eE.", ps->p[n]))
		n++;
	if (n == sizeof(tmp) - 1)
		return false;
	memcpy(tmp, ps->p, n);
	tmp[n] = '\0';
	d = strtod(tmp, &after);
	if (after != tmp + n) /* cJSON stops early; let it */
		return false;
	it->valuedouble = d;
	if (d >= INT_MAX)
		it->valueint = INT_MAX;
	else if (d <= (double)INT_MIN)
		it->valueint = INT_MIN;
	else
		it->valueint = (int)d;
	ps->p += n;
	return true;
}

static cJSON *parse_value(struct parser *ps);

/* Children of an array or object up to 'close'; false to give up. */
static bool parse_children(struct parser *ps, cJSON *parent, char close,
			   bool keys)
{
	cJSON *last = NULL;

	if (++ps->depth > NEST_MAX)
		return false;
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		ps->depth--;
		return true;
	}
	for (;;) {
		char *key = NULL;
		cJSON *it;

		skip_ws(ps);
		if (keys) {
			if (*ps->p != '"' || !(key = parse_str(ps)))
				return false;
			skip_ws(ps);
			if (*ps->p != ':') {
				cJSON_free(key);
				return false;
			}
			ps->p++;
			skip_ws(ps);
		}
		it = parse_value(ps);
		if (!it) {
			cJSON_free(key);
			return false;
		}
		it->string = key;
		if (last) {
			last->next = it;
			it->prev = last;
		} else {
			parent->child = it;
		}
		last = it;
		parent->child->prev =
		    last; /* as cJSON: the head knows the tail */
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p != close)
			return false;
		ps->p++;
		ps->depth--;
		return true;
	}
}

static cJSON *parse_value(struct parser *ps)
{
	const char *p = ps->p;
	cJSON *it = NULL;

	if (*p == '"') {
		char *s = parse_str(ps);

		if (!s || !(it = new_item(cJSON_String))) {
			cJSON_free(s);
			return NULL;
		}
		it->valuestring = s;
		return it;
	}
	if (*p == '-' || (*p >= '0' && *p <= '9')) {
		if (!(it = new_item(cJSON_Number)))
			return NULL;
		if (!parse_num(ps, it)) {
			cJSON_Delete(it);
			return NULL;
		}
		return it;
	}
	if (*p == '{' || *p == '[') {
		if (!(it = new_item(*p == '{' ? cJSON_Object : cJSON_Array)))
			return NULL;
		if (!parse_children(ps, it, *p == '{' ? '}' : ']', *p == '{')) {
			cJSON_Delete(it);
			return NULL;
		}
		return it;
	}
	if (!strncmp(p, "null", 4))
		it = new_item(cJSON_NULL);
	else if (!strncmp(p, "true", 4))
		it = new_item(cJSON_True);
	else if (!strncmp(p, "false", 5))
		it = new_item(cJSON_False);
	if (it) {
		ps->p += it->type == cJSON_False ? 5 : 4;
		it->valueint = it->type == cJSON_True;
	}
	return it;
}

cJSON *json_parse(const char *text)
{
	struct parser ps = {.p = text, .depth = 0};
	cJSON *it;

	if (!text)
		return NULL;
	skip_ws(&ps);
	it = parse_value(&ps);
	if (it) {
		skip_ws(&ps);
		if (!*ps.p)
			return it;
		cJSON_Delete(it);
	}
	return cJSON_Parse(text);
}
